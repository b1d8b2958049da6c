"""Adversarial objectives behind a registry: adding a loss = one file + one line here.

Everything else is derived from this dict: the ``adversarial.<section>`` params sections and their
validation (:mod:`gantext.config`), the lineage report's sections, the adversarial plot columns.
Each entry names ``module:Class`` under ``gantext.objectives``, so a new loss is exactly one line.
"""

from gantext.objectives.base import Objective
from gantext.registry import load_entries

_REGISTRY = {
    "bce": "bce:BCEObjective",
    "wgan-gp": "wgan_gp:WGANGPObjective",
    "seqgan": "seqgan:SeqGANObjective",
    "rsgan": "rsgan:RSGANObjective",
    "coldgan": "coldgan:ColdGANObjective",
    "reverse-kl": "reverse_kl:ReverseKLObjective",
    "scratchgan": "scratchgan:ScratchGANObjective",
    "mle-continued": "mle_continued:MLEContinuedObjective",
}

OBJECTIVES: dict[str, type[Objective]] = load_entries(__name__, _REGISTRY)

#: The control every adversarial result is compared with: the same generator updates with the
#: MLE loss and no D (``adversarial.control`` trains it beside the objective, as its own row).
CONTROL = "mle-continued"


def objective_sections() -> dict[str, type]:
    """``adversarial.<section>`` name -> its config dataclass, in registry order."""
    return {cls.section: cls.config for cls in OBJECTIVES.values()}


def log_columns() -> tuple[str, ...]:
    """Every key an objective logs, in a fixed order: the shared losses, each objective's own
    keys (registry order, first occurrence), the temperature and the gradient norms."""
    own = dict.fromkeys(k for cls in OBJECTIVES.values() for k in cls.log_keys)
    return ("d_loss", "g_loss", *own, "beta", "d_grad_norm", "g_grad_norm")
