"""Generators behind a registry keyed by ``model.generator.arch``: adding one = one file + one line.

Each entry names ``module:Class`` under ``gantext.models``; the class implements the protocol of
:class:`gantext.models.base.Generator`. Checkpoints store ``arch`` with the spec, so
:func:`build_generator` rebuilds any saved model (specs written before ``arch`` existed are LSTMs).
"""

from __future__ import annotations

import dataclasses
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
           "build_generator", "generator_sections", "generator_spec", "spec_from_dict",
           "archs_of_weights"]


def generator_sections() -> dict[str, type]:
    """``model.generator.<section>`` name -> config dataclass, for archs that declare one."""
    return {name.replace("-", "_"): cls.config for name, cls in GENERATORS.items() if cls.config}


def generator_class(arch: str) -> type[Generator]:
    """The registered class of architecture `arch` (ValueError listing the valid ones)."""
    return lookup(GENERATORS, arch, "generator architecture")


def generator_spec(vocab_size: int, max_len: int, cfg: Any) -> Any:
    """The spec of architecture ``cfg.arch`` from the ``model.generator`` config."""
    return generator_class(cfg.arch).spec_from_config(vocab_size, max_len, cfg)


def spec_from_dict(stored: dict) -> Any:
    """A spec as stored in a checkpoint (plain dict with ``arch``; none = a pre-``arch`` LSTM)
    -> the architecture's Spec. ValueError naming an architecture this build does not register,
    or the fields it does not know or misses, with the fields it has (a checkpoint from another
    version of gantext)."""
    stored = dict(stored)
    arch = stored.pop("arch", "lstm")
    if not isinstance(arch, str):
        raise ValueError(f"its spec's arch is {arch!r}, not a name")
    cls = generator_class(arch)
    fields = {f.name: f for f in dataclasses.fields(cls.Spec)}
    unknown = sorted(str(k) for k in stored if k not in fields)
    missing = [n for n, f in fields.items() if n not in stored and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if unknown or missing:
        what = "; ".join(part for part in (
            f"fields this build does not know: {', '.join(unknown)}" if unknown else "",
            f"without the required {', '.join(missing)}" if missing else "") if part)
        raise ValueError(f"a {arch!r} spec with {what} (this build's {arch!r} spec has: "
                         f"{', '.join(fields)})")
    return cls.Spec(**stored)


def build_generator(spec: Any) -> Generator:
    """Generator from a spec or its plain-dict form (as stored in checkpoints, with ``arch``)."""
    if isinstance(spec, dict):  # the stored arch picks the class (two may share a Spec type)
        parsed = spec_from_dict(spec)
        return generator_class(spec.get("arch", "lstm"))(parsed)
    cls = next(c for c in GENERATORS.values() if isinstance(spec, c.Spec))
    return cls(spec)


def archs_of_weights(state_dict: dict) -> list[str]:
    """The registered architectures whose modules carry weights under the top-level names of
    `state_dict` (``embedding``, ``lstm``, ...): what a checkpoint's weights look like, told
    from a small default instance of each architecture, whatever its sizes."""
    from gantext.config import GeneratorConfig  # config imports this module

    names = {str(k).split(".")[0] for k in state_dict}
    return [arch for arch, cls in GENERATORS.items()
            if {k.split(".")[0] for k in cls(cls.spec_from_config(8, 4, GeneratorConfig()))
                .state_dict()} == names]
