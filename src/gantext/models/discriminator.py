"""Discriminators behind a registry keyed by ``model.discriminator.arch``: one file + one line.

Each entry names ``module:Class`` under ``gantext.models``; the class implements the protocol of
:class:`gantext.models.discriminator_base.TextDiscriminator` (ids or soft one-hots in, raw
scores out, ``score_embedded`` for WGAN-GP's embedded penalty, optionally a score per prefix).
Checkpoints store ``arch`` with the spec; specs written before it existed are CNNs. The CNN
(the default) keeps its historic names :class:`Discriminator` and :class:`DiscriminatorSpec`.
"""

from __future__ import annotations

from typing import Any

from gantext.models.cnn_discriminator import Discriminator, DiscriminatorSpec, Highway
from gantext.models.discriminator_base import TextDiscriminator
from gantext.registry import load_entries, lookup

_REGISTRY = {
    "cnn": "cnn_discriminator:Discriminator",
    "lstm": "lstm_discriminator:LSTMDiscriminator",
    "transformer": "transformer_discriminator:TransformerDiscriminator",
}

DISCRIMINATORS: dict[str, type[TextDiscriminator]] = load_entries("gantext.models", _REGISTRY)

__all__ = ["DISCRIMINATORS", "Discriminator", "DiscriminatorSpec", "Highway", "TextDiscriminator",
           "build_discriminator", "discriminator_class", "discriminator_sections"]


def discriminator_sections() -> dict[str, type]:
    """``model.discriminator.<section>`` name -> config dataclass, for archs that declare one."""
    return {name.replace("-", "_"): cls.config for name, cls in DISCRIMINATORS.items()
            if cls.config}


def discriminator_class(arch: str) -> type[TextDiscriminator]:
    """The registered class of architecture `arch` (ValueError listing the valid ones)."""
    return lookup(DISCRIMINATORS, arch, "discriminator architecture")


def build_discriminator(spec: Any) -> TextDiscriminator:
    """Discriminator from a spec or its plain-dict form (as stored in checkpoints, with ``arch``)."""
    if isinstance(spec, dict):
        spec = dict(spec)
        cls = discriminator_class(spec.pop("arch", "cnn"))
        spec = cls.Spec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
    else:
        cls = next(c for c in DISCRIMINATORS.values() if isinstance(spec, c.Spec))
    return cls(spec)
