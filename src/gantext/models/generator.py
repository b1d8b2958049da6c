"""Generators behind a registry keyed by ``model.generator.arch``: adding one = one file + one line.

Each entry names ``module:Class`` under ``gantext.models``; the class implements the protocol of
:class:`gantext.models.base.Generator`. Checkpoints store ``arch`` with the spec, so
:func:`build_generator` rebuilds any saved model (specs written before ``arch`` existed are LSTMs).
"""

from __future__ import annotations

from typing import Any

from gantext.models.base import NEVER_LOGIT, Generator
from gantext.models.lstm import LSTMGenerator, LSTMSpec
from gantext.registry import load_entries, lookup

_REGISTRY = {
    "lstm": "lstm:LSTMGenerator",
    "relational-memory": "relational_memory:RelationalMemoryGenerator",
    "transformer": "transformer:TransformerGenerator",
}

GENERATORS: dict[str, type[Generator]] = load_entries("gantext.models", _REGISTRY)

#: the default architecture's spec and class, under their historic names
GeneratorSpec = LSTMSpec

__all__ = ["GENERATORS", "Generator", "GeneratorSpec", "LSTMGenerator", "NEVER_LOGIT",
           "build_generator", "generator_sections", "generator_spec"]


def generator_sections() -> dict[str, type]:
    """``model.generator.<section>`` name -> config dataclass, for archs that declare one."""
    return {name.replace("-", "_"): cls.config for name, cls in GENERATORS.items() if cls.config}


def generator_class(arch: str) -> type[Generator]:
    """The registered class of architecture `arch` (ValueError listing the valid ones)."""
    return lookup(GENERATORS, arch, "generator architecture")


def generator_spec(vocab_size: int, max_len: int, cfg: Any) -> Any:
    """The spec of architecture ``cfg.arch`` from the ``model.generator`` config."""
    return generator_class(cfg.arch).spec_from_config(vocab_size, max_len, cfg)


def build_generator(spec: Any) -> Generator:
    """Generator from a spec or its plain-dict form (as stored in checkpoints, with ``arch``)."""
    if isinstance(spec, dict):
        spec = dict(spec)
        cls = generator_class(spec.pop("arch", "lstm"))
        spec = cls.Spec(**spec)
    else:
        cls = next(c for c in GENERATORS.values() if isinstance(spec, c.Spec))
    return cls(spec)
