"""Adversarial objectives behind a registry: adding a loss = one file + one line here.

Everything else is derived from this dict: the ``adversarial.<section>`` params sections and their
validation (:mod:`gantext.config`), the lineage report's sections, the adversarial plot columns.
"""

from gantext.objectives.base import Objective
from gantext.objectives.bce import BCEObjective
from gantext.objectives.seqgan import SeqGANObjective
from gantext.objectives.wgan_gp import WGANGPObjective

OBJECTIVES: dict[str, type[Objective]] = {
    "bce": BCEObjective,
    "wgan-gp": WGANGPObjective,
    "seqgan": SeqGANObjective,
}


def objective_sections() -> dict[str, type]:
    """``adversarial.<section>`` name -> its config dataclass, in registry order."""
    return {cls.section: cls.config for cls in OBJECTIVES.values()}


def section_of(loss: str) -> str:
    """The params section of the loss named `loss` (e.g. ``wgan-gp`` -> ``wgan_gp``)."""
    return OBJECTIVES[loss].section


def log_columns() -> tuple[str, ...]:
    """Every key an objective logs, in a fixed order: the shared losses, each objective's own
    keys (registry order, first occurrence), the temperature and the gradient norms."""
    own = dict.fromkeys(k for cls in OBJECTIVES.values() for k in cls.log_keys)
    return ("d_loss", "g_loss", *own, "beta", "d_grad_norm", "g_grad_norm")
