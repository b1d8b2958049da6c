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

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from gantext.errors import TrainingError

__all__ = ["DIVERGENCE_FACTOR", "GAIN_Z", "DivergenceGuard", "EndRollback", "Figures",
           "kept_checkpoint"]

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


#: a BLEU-5 or self-BLEU-5 difference counts as a gain only beyond this many standard errors
#: of the difference (~95%): the issue's news-corpus run had BLEU "flat" and was worse everywhere
GAIN_Z = 2.0


@dataclass(frozen=True)
class Figures:
    """What the adversarial stage measures of a generator state on the validation split: NLL per
    token, and (when measured) the mean BLEU-5 of a fixed-seed sample at T = 1 against the
    validation sentences and its mean self-BLEU-5, each with the standard error of its mean
    (``*_se``; self-BLEU's scores share one pool, so its SE is approximate), and the state's
    quality-diversity curve against the MLE's (``gap_*``: BLEU-5 above MLE's curve at equal
    self-BLEU-5 over the guard temperatures, :func:`gantext.metrics.verdict.compare`; the
    largest gap with its paired-bootstrap interval). None: not measured."""

    nll: float
    bleu5: float | None = None
    sbleu5: float | None = None
    bleu5_se: float = 0.0
    sbleu5_se: float = 0.0
    gap_mean: float | None = None
    gap_max: float | None = None
    gap_max_lo: float | None = None
    gap_max_hi: float | None = None

    def below_curve(self) -> bool | None:
        """Whether the state's curve lies below the MLE's at every shared self-BLEU-5 level
        beyond sampling noise (the largest gap's interval is below 0); None: not measured, or the
        curves do not overlap."""
        return None if self.gap_max_hi is None else self.gap_max_hi < 0

    def worse_everywhere_than(self, other: "Figures") -> bool:
        """Higher NLL and no trade for it: the state's quality-diversity curve lies below the
        MLE's everywhere (:meth:`below_curve`; a lower self-BLEU-5 that MLE reaches at another
        temperature with a higher BLEU-5 is no gain). Without a curve reading, neither a higher
        BLEU-5 nor a lower self-BLEU-5 beyond sampling noise (:data:`GAIN_Z` standard errors of
        the difference). False when BLEU was not measured."""
        if self.nll <= other.nll:
            return False
        below = self.below_curve()
        if below is not None:
            return below
        if None in (self.bleu5, self.sbleu5, other.bleu5, other.sbleu5):
            return False

        def gain(diff: float, se_a: float, se_b: float) -> bool:
            return diff > GAIN_Z * math.hypot(se_a, se_b)

        return (not gain(self.bleu5 - other.bleu5, self.bleu5_se, other.bleu5_se)
                and not gain(other.sbleu5 - self.sbleu5, self.sbleu5_se, other.sbleu5_se))

    def line(self) -> str:
        out = f"valid NLL {self.nll:.4f}"
        if self.bleu5 is not None and self.sbleu5 is not None:
            out += (f", BLEU-5 {self.bleu5:.4f} ± {self.bleu5_se:.4f}, self-BLEU-5 "
                    f"{self.sbleu5:.4f} ± {self.sbleu5_se:.4f}")
        if self.gap_max is not None:
            out += (f", largest gap above MLE's curve {self.gap_max:+.4f} [{self.gap_max_lo:+.4f}, "
                    f"{self.gap_max_hi:+.4f}]")
        return out


class EndRollback:
    """Do not hand out a generator the adversarial run wrecked. The run's end is rejected, and
    the latest acceptable state (or the start) handed out instead, when

    - its validation NLL per token is more than ``max_rise`` above the starting (MLE)
      generator's (``adversarial.max_valid_nll_rise``), or
    - it is worse than the start on every figure at once (``worse_everywhere``,
      ``adversarial.rollback_if_worse_everywhere``): higher NLL, and no gain beyond sampling
      noise in BLEU-5 against the validation sentences or in self-BLEU-5, see :class:`Figures`.

    Measured on COCO: GAN objectives that work end with the validation NLL -0.015 to +0.06 from
    the MLE's (bce at its edge of stability: +0.17 and +0.26); bce's seed 1 ended at 3.36 ->
    4.51 and had made every figure worse at once (BLEU-2 0.72 -> 0.49, mean length 11.6 -> 5.2,
    FID 1.7x, self-BLEU up). The bound is 0.5 by default (a perplexity 1.65x the MLE's). bce with
    its default g_lr on COCO stayed within it (+0.195) and still made every figure worse (BLEU-5
    0.197 -> 0.166, self-BLEU-5 0.338 -> 0.350, FID 1.4x, length 11.4 -> 19.7): the second rule.
    Its step-150 state had BLEU-5 0.1981 against the MLE's 0.1980, NLL and self-BLEU-5 worse: a
    "gain" inside the noise is no trade, so gains count beyond :data:`GAIN_Z` standard errors.
    Only the end decides: bce's seed 0 went +0.51 at step 100 and came back to +0.26, a relaxed
    GAN's normal swing. The candidates are the states at the loop's resume checkpoints (every
    ``checkpoint_every`` steps, where the loop measures the figures anyway) and the start
    itself; :meth:`report` says what happened for ``metrics/adversarial.json``.
    """

    def __init__(self, max_rise: float, start: Figures, worse_everywhere: bool = False):
        self.start = start
        self.max_rise = max_rise
        self.limit = self.start.nll + max_rise
        self.worse_everywhere = worse_everywhere
        self.kept: dict | None = None
        self.end: Figures | None = None  # the run's own end (settle)
        self.rejected: Figures | None = None  # the run's own end, when it was not kept
        self.reason: str | None = None

    @property
    def enabled(self) -> bool:
        return math.isfinite(self.start.nll) and (self.max_rise > 0 or self.worse_everywhere)

    def why_not(self, fig: Figures) -> str | None:
        """Why a state must not be handed out (None: it may)."""
        if not self.enabled:
            return None
        if self.max_rise > 0 and not fig.nll <= self.limit:
            return "nll_rise"
        if self.worse_everywhere and fig.worse_everywhere_than(self.start):
            return "worse_everywhere"
        return None

    def offer(self, step: int, fig: Figures, *modules) -> None:
        """Keep a copy of `modules`' weights as the latest acceptable state, if it is."""
        if self.enabled and self.why_not(fig) is None:
            self.kept = {"step": step, "figures": fig,
                         "states": [{k: v.detach().clone() for k, v in m.state_dict().items()}
                                    for m in modules]}

    def state_dict(self) -> dict:
        """The kept state, in plain types (a resume file is loaded with weights_only)."""
        if self.kept is None:
            return {}
        return {"step": self.kept["step"], "figures": dataclasses.asdict(self.kept["figures"]),
                "states": self.kept["states"]}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved: a resumed run keeps the same candidates (the
        start among them) as an uninterrupted one."""
        self.kept = None if not state else {
            "step": int(state["step"]), "figures": Figures(**state["figures"]),
            "states": state["states"]}

    def settle(self, fig: Figures, *modules) -> float:
        """The end of the run: if it is not acceptable, restore `modules` to the kept state and
        return its NLL; else return the end's NLL (the run's own result stands)."""
        self.end = fig
        reason = self.why_not(fig)
        if reason is None or self.kept is None:
            return fig.nll
        for m, state in zip(modules, self.kept["states"]):
            m.load_state_dict(state)
        self.rejected, self.reason = fig, reason
        return self.kept["figures"].nll

    def report(self) -> dict:
        """``rolled_back`` always; the kept step, why, and the rejected end's NLL when it did;
        the start's and the end's BLEU-5 / self-BLEU-5 when they were measured."""
        figs = {}
        if self.start.bleu5 is not None and self.end is not None:  # what the rule compared
            figs = {f"guard_{k}_{when}": getattr(f, k) for when, f in (("start", self.start),
                                                                          ("end", self.end))
                    for k in ("bleu5", "bleu5_se", "sbleu5", "sbleu5_se")}
            if self.end.gap_max is not None:  # the end's curve against the MLE's
                figs.update({f"guard_{k}_end": getattr(self.end, k)
                             for k in ("gap_mean", "gap_max", "gap_max_lo", "gap_max_hi")})
        if self.rejected is None:
            return {"rolled_back": False, **figs}
        return {"rolled_back": True, "rollback_reason": self.reason, "kept_step": self.kept["step"],
                "valid_nll_end": self.rejected.nll, **figs}

    def message(self, what: str, start_nll: float, knobs: str) -> str | None:
        """The stage's warning line when the run was rolled back (None otherwise)."""
        if self.rejected is None:
            return None
        kept = self.kept["figures"]
        if self.reason == "nll_rise":
            return (f"{what}: WARNING the validation NLL ended at "
                    f"{self.rejected.nll:.4f} per token, up from the MLE's "
                    f"{start_nll:.4f}: more than adversarial.max_valid_nll_rise ({self.max_rise:g}). "
                    f"The run made the generator worse instead of trading quality for diversity, so "
                    f"the generator of step {self.kept['step']} (valid NLL {kept.nll:.4f}, the "
                    f"latest within the bound) is kept. Lower {knobs}, or raise max_valid_nll_rise")
        curve = (" its quality-diversity curve lies below the MLE's at every self-BLEU-5 they "
                 "share, beyond sampling noise, and" if self.rejected.below_curve() else "")
        return (f"{what}: WARNING the run ended worse than the MLE on every figure the stage "
                f"measures:{curve} its validation NLL is higher ({self.rejected.line()}; MLE: "
                f"{self.start.line()}), with no trade of one for another, so the generator of "
                f"step {self.kept['step']} ({kept.line()}, the latest that is not) is kept. "
                f"Lower {knobs} or try another adversarial.loss; "
                "adversarial.rollback_if_worse_everywhere: false keeps the end")
