"""Adversarial objectives behind a registry: adding a loss = one file + one line here."""

from gantext.objectives.bce import BCEObjective
from gantext.objectives.seqgan import SeqGANObjective
from gantext.objectives.wgan_gp import WGANGPObjective

OBJECTIVES = {
    "bce": BCEObjective,
    "wgan-gp": WGANGPObjective,
    "seqgan": SeqGANObjective,
}
