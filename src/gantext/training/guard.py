"""Divergence guard: stop a run whose NLL blew up, not only one whose loss became NaN/inf.

A learning rate far too high does not always overflow: gradient clipping keeps the numbers
finite while the model is wrecked (``pretrain.lr: 1e6`` ended with a test NLL of 2.5e7 per
token and exit code 0). The guard compares NLL per token (validation, and the mean training NLL
of a pretrain epoch) with a reference and raises :class:`TrainingError` naming the params to
lower when it is non-finite or more than :data:`DIVERGENCE_FACTOR` times the reference. The
training loops call it *before* they write a checkpoint, so the last good one is never replaced
by a diverged model, and the stage exits non-zero before writing any output.

The reference is the larger of the run's starting NLL (pretrain: none; adversarial: the
pretrained generator's validation NLL) and ``log V``, the NLL of the uniform distribution over
the vocabulary, i.e. of an untrained model. Ten times that is orders of magnitude of perplexity
beyond anything a working run reaches (a GAN that trades quality for diversity moves COCO's 3.3
to about 4.4; a model at 10 x log V gives the data a probability below V^-9 per token), so an
honest run is not stopped, and the blow-ups seen (NLL 1e6 and more) are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from gantext.errors import TrainingError

__all__ = ["DIVERGENCE_FACTOR", "DivergenceGuard", "NLLRiseRollback", "kept_checkpoint"]

DIVERGENCE_FACTOR = 10.0


def kept_checkpoint(path: str | Path | None, last_good: str | None) -> str:
    """What the error says about the last good checkpoint (`last_good`: 'epoch 3', 'step 50')."""
    if path is None or last_good is None:
        return "no checkpoint was written yet"
    return f"the last good checkpoint ({last_good}) is kept in {path}"


@dataclass(frozen=True)
class DivergenceGuard:
    """Raises when an NLL per token is non-finite or exceeds ``factor`` x ``reference``."""

    stage: str          # "pretrain", "adversarial training (bce)": starts the message
    knobs: str          # the params to lower, e.g. "pretrain.lr"
    reference: float    # NLL per token the run is compared with
    what: str           # what the reference is, for the message
    factor: float = DIVERGENCE_FACTOR
    enabled: bool = True  # False: nothing to measure (an empty validation split)

    @classmethod
    def for_run(cls, stage: str, knobs: str, vocab_size: int, start: float | None = None,
                factor: float = DIVERGENCE_FACTOR) -> "DivergenceGuard":
        """Reference = max(start, log V) (see the module docstring); `start` None: log V. A
        `start` of nan means no validation data (its NLL is nan): the guard is then disabled."""
        uniform = math.log(max(vocab_size, 2))
        if start is not None and math.isnan(start):
            return cls(stage, knobs, uniform, "nothing", factor, enabled=False)
        if start is not None and math.isfinite(start) and start > uniform:
            return cls(stage, knobs, start, "the NLL the run started at", factor)
        what = ("log of the vocabulary size: an untrained model's NLL" if start is None else
                f"log of the vocabulary size; the run started at {start:.4g}")
        return cls(stage, knobs, uniform, what, factor)

    @property
    def limit(self) -> float:
        return self.factor * self.reference

    def check(self, values: dict[str, float], where: str, kept: str) -> None:
        """Raise TrainingError if any of `values` ({'valid NLL': 3.4}) has diverged; `where`
        ('after epoch 2', 'at step 50') and `kept` (see :func:`kept_checkpoint`) go in the
        message."""
        if not self.enabled:
            return
        for name, value in values.items():
            value = float(value)
            if math.isfinite(value) and value <= self.limit:
                continue
            why = (f"{name} is {value}" if not math.isfinite(value) else
                   f"{name} is {value:.4g} per token, over {self.factor:g} x "
                   f"{self.reference:.4g} ({self.what})")
            raise TrainingError(f"{self.stage} diverged {where}: {why}; {kept}; no output was "
                                f"written. Lower {self.knobs} in params.yaml and run it again")


class NLLRiseRollback:
    """Do not hand out a generator the adversarial run wrecked: if the validation NLL per token
    at the end is more than ``max_rise`` above the starting (MLE) generator's, go back to the
    latest state whose NLL was within that bound.

    Measured on COCO: GAN objectives that work end with the validation NLL -0.015 to +0.06 from
    the MLE's (bce at its edge of stability: +0.17 and +0.26); bce's seed 1 ended at 3.36 ->
    4.51 and had made every figure worse at once (BLEU-2 0.72 -> 0.49, mean length 11.6 -> 5.2,
    FID 1.7x, self-BLEU up). The bound is ``adversarial.max_valid_nll_rise`` (0.5 by default: a
    perplexity 1.65x the MLE's). Only the end decides: bce's seed 0 went +0.51 at step 100 and
    came back to +0.26, a relaxed GAN's normal swing. The candidates are the states at the loop's
    resume checkpoints (every ``checkpoint_every`` steps, where the loop measures the NLL anyway)
    and the start itself; :meth:`report` says what happened for ``metrics/adversarial.json``.
    """

    def __init__(self, max_rise: float, start_nll: float):
        self.max_rise = max_rise
        self.limit = start_nll + max_rise
        self.kept: dict | None = None
        self.rejected_nll: float | None = None  # the run's own end, when it was not kept

    @property
    def enabled(self) -> bool:
        return self.max_rise > 0 and math.isfinite(self.limit)

    def offer(self, step: int, nll: float, *modules) -> None:
        """Keep a copy of `modules`' weights as the latest state within the bound, if it is."""
        if self.enabled and nll <= self.limit:
            self.kept = {"step": step, "nll": nll,
                         "states": [{k: v.detach().clone() for k, v in m.state_dict().items()}
                                    for m in modules]}

    def settle(self, nll: float, *modules) -> float:
        """The end of the run: if `nll` is over the bound, restore `modules` to the kept state
        and return its NLL; else return `nll` (the run's own result stands)."""
        if not self.enabled or nll <= self.limit or self.kept is None:
            return nll
        for m, state in zip(modules, self.kept["states"]):
            m.load_state_dict(state)
        self.rejected_nll = nll
        return self.kept["nll"]

    def report(self) -> dict:
        """``rolled_back`` always; the kept step and the rejected end's NLL when it did."""
        if self.rejected_nll is None:
            return {"rolled_back": False}
        return {"rolled_back": True, "kept_step": self.kept["step"],
                "valid_nll_end": self.rejected_nll}

    def message(self, what: str, start_nll: float, knobs: str) -> str | None:
        """The stage's warning line when the run was rolled back (None otherwise)."""
        if self.rejected_nll is None:
            return None
        return (f"{what}: WARNING the validation NLL ended at "
                f"{self.rejected_nll:.4f} per token, up from the MLE's "
                f"{start_nll:.4f}: more than adversarial.max_valid_nll_rise ({self.max_rise:g}). "
                f"The run made the generator worse instead of trading quality for diversity, so "
                f"the generator of step {self.kept['step']} (valid NLL {self.kept['nll']:.4f}, the "
                f"latest within the bound) is kept. Lower {knobs}, or raise max_valid_nll_rise")
