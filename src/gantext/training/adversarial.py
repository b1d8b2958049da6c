"""The ONE adversarial loop, shared by every objective in :data:`gantext.objectives.OBJECTIVES`.

Per step: ``d_steps_per_g_step`` discriminator steps then one generator step (each on a fresh real
batch), values averaged over each ``log_every`` window and logged (plot rows, MLflow, progress
bar), decoded samples every ``sample_every`` steps, and a resume checkpoint every
``checkpoint_every`` steps. The resume file holds everything the rest of the run depends on
(weights, optimizer and objective state, every RNG stream, the data-order position, the history),
so a run killed and resumed ends bit-identical (on CPU) to one never interrupted. A NaN/inf loss
stops training with a :class:`TrainingError` naming the step; the last good checkpoint stays.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from gantext.config import AdversarialConfig, DiscriminatorConfig, Params, to_dict
from gantext.data import Corpus, iterate_batches
from gantext.errors import TrainingError
from gantext.io import md5_file, write_csv, write_json
from gantext.metrics.bleu import self_sentence_scores, sentence_scores
from gantext.metrics.verdict import Point, compare
from gantext.models.discriminator import (TextDiscriminator, build_discriminator,
                                          discriminator_class)
from gantext.models.generator import Generator
from gantext.objectives import OBJECTIVES, log_columns
from gantext.objectives.base import NonFiniteLoss, Objective
from gantext.paths import Paths
from gantext.progress import progress
from gantext.progress import write as progress_write
from gantext.registry import lookup
from gantext.runtime import (autocast, autocast_dtype, derive_seed, release_freed_memory,
                             resolve_device, seed_everything, trim_if_large)
from gantext.training.checkpoint import (load_module, load_resume, run_fingerprint, save_checkpoint,
                                         save_generator, save_resume)
from gantext.training.guard import DivergenceGuard, EndRollback, Figures, kept_checkpoint
from gantext.training.diagnostics import chance_message, chance_report

SAMPLES_SHOWN = 4  # decoded samples printed every `sample_every` steps


# ----------------------------------------------------------------------------- real data stream
class RealStream:
    """Endless seeded mini-batches of real rows (reshuffled each epoch) with a resumable position."""

    def __init__(self, data: torch.Tensor, batch_size: int, seed: int):
        if len(data) == 0:
            raise TrainingError("the train split is empty: nothing to train the discriminator on")
        self.data = data
        self.batch_size = min(batch_size, len(data))
        self.g = torch.Generator().manual_seed(seed)
        self._start_epoch()

    def _start_epoch(self) -> None:
        self.epoch_state = self.g.get_state()  # restoring this replays the epoch's order
        self.taken = 0
        self.it = iterate_batches(self.data, self.batch_size, generator=self.g, drop_last=True)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self

    def __next__(self) -> torch.Tensor:
        batch = next(self.it, None)
        if batch is None:
            self._start_epoch()
            batch = next(self.it)
        self.taken += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_state": self.epoch_state, "taken": self.taken}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.g.set_state(state["epoch_state"])
        self._start_epoch()
        for _ in range(int(state["taken"])):
            next(self.it)
        self.taken = int(state["taken"])


# ----------------------------------------------------------------------------- results
@dataclass
class AdversarialResult:
    """Trained models plus what the stage writes: summary metrics, plot rows, logged samples."""

    generator: Generator
    discriminator: TextDiscriminator
    metrics: dict[str, float]
    history: list[dict[str, float]]
    samples: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


def objective_class(name: str) -> type[Objective]:
    """The registry lookup (the only place a loss name turns into behaviour)."""
    return lookup(OBJECTIVES, name, "adversarial loss", TrainingError)


def discriminator_spec(cfg: DiscriminatorConfig, vocab_size: int,
                       objective: type[Objective] | None = None) -> Any:
    """D's spec from ``model.discriminator`` (its ``arch``, or the objective's
    ``prefix_discriminator`` when the objective needs a score per prefix and that arch has
    none), with the objective's own overrides applied (the WGAN-GP critic has no dropout)."""
    arch = cfg.arch
    fallback = objective.prefix_discriminator if objective is not None else None
    if fallback is not None and not discriminator_class(arch).scores_prefixes:
        arch = fallback
    spec = discriminator_class(arch).spec_from_config(vocab_size, cfg)
    return dataclasses.replace(spec, **objective.discriminator_settings) if objective else spec


def resume_fingerprint(params: Params, device: str | torch.device, *inputs: str | Path) -> str:
    """Identity of the adversarial run (its params sections, the device and the md5 of each
    input file): a resume state with another fingerprint is stale and ignored."""
    return run_fingerprint("adversarial", device, seed=params.seed, model=to_dict(params.model),
                           adversarial=to_dict(params.adversarial),
                           runtime=to_dict(params.runtime), inputs=[md5_file(f) for f in inputs])


# ----------------------------------------------------------------------------- the loop
def _rate_keys(objective: Objective) -> str:
    """The learning rates the objective has (mle-continued has no discriminator: no d_lr)."""
    return " / ".join(f"adversarial.{objective.section}.{k}" for k in ("g_lr", "d_lr")
                      if hasattr(objective.ocfg, k))


def _finite_or_raise(logs: dict[str, float]) -> None:
    for k, v in logs.items():
        if not math.isfinite(v):
            raise NonFiniteLoss(k, v)


def _mean_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Key-wise mean of log rows; 0-d tensors stay on the device (no host sync) and are summed
    in float64, in order, like the Python floats they replace (same logged figures)."""
    def f64(v: Any) -> Any:
        return v.detach().double() if isinstance(v, torch.Tensor) else v
    if not rows:
        return {}
    return {k: sum(f64(r[k]) for r in rows) / len(rows) for k in rows[0]}


def _to_floats(row: dict[str, Any]) -> dict[str, float]:
    """The one host sync of a log window: every value to a Python float."""
    keys = list(row)
    vals = [row[k] for k in keys]
    tensors = [i for i, v in enumerate(vals) if isinstance(v, torch.Tensor)]
    if tensors:
        stacked = torch.stack([vals[i].detach().double().reshape(()) for i in tensors]).cpu()
        for i, v in zip(tensors, stacked.tolist()):
            vals[i] = v
    return {k: float(v) for k, v in zip(keys, vals)}


def train_adversarial(generator: Generator, corpus: Corpus, cfg: AdversarialConfig,
                      dcfg: DiscriminatorConfig, seed: int, *, resume_file: Path | None = None,
                      fingerprint: str = "", tracker: Any = None,
                      on_step: Callable[[int], None] | None = None,
                      precision: str = "fp32") -> AdversarialResult:
    """Adversarially fine-tune `generator` (usually the MLE one) with objective ``cfg.loss``.

    `resume_file` (optional) is read at start when its fingerprint matches and rewritten every
    ``cfg.checkpoint_every`` steps; `tracker` has ``log_metrics(dict, step=)`` (a StageRun);
    `on_step(step)` is called after every completed step (tests use it to kill the process).
    `precision` (``runtime.precision``): D and G updates run under its autocast and decoding
    (samples, rollouts, relaxed sequences) uses its head dtype; the valid NLL figures are fp32.
    Everything around the algorithm below (the resume state, logging, samples, the divergence
    guard and the rollback) is :class:`AdversarialRun`'s.
    """
    t0 = time.perf_counter()
    # keep runtime.deterministic as the stage configured it (runtime.configure)
    seed_everything(seed, deterministic=torch.are_deterministic_algorithms_enabled())
    torch.manual_seed(derive_seed(seed, "adversarial", "dropout"))  # D's dropout masks
    run = AdversarialRun(generator, corpus, cfg, dcfg, seed, precision, tracker, resume_file,
                         fingerprint)
    run.begin()  # resume, or the objective's preparation (D pretraining)
    objective, stream = run.objective, run.state.stream
    bar = progress(range(run.state.step, cfg.steps), initial=run.state.step, total=cfg.steps,
                   desc=f"adversarial ({cfg.loss})", unit="step")
    for step in bar:
        done = step + 1
        try:
            with autocast(precision, run.device):
                d_logs = [objective.discriminator_step(next(stream), step)
                          for _ in range(objective.d_steps_per_g_step)]
                logs = {**_mean_rows(d_logs), **objective.generator_step(next(stream), step),
                        "beta": objective.temperature(step)}
            row = run.record(logs, done)  # a finished log window's row (NaN/inf checked)
        except NonFiniteLoss as exc:
            raise run.diverged(exc, done) from None
        run.publish(row, bar)
        trim_if_large()  # a large vocabulary's step-shaped holes (see there)
        run.show_samples(done)
        run.checkpoint(done)  # guard, rollback candidate, resume file
        if on_step is not None:
            on_step(done)
    bar.close()
    return run.finish(t0)


# ----------------------------------------------------------------------------- the run's state
class RunState:
    """Everything the rest of a run depends on, behind one object: G, D, the objective's state
    (optimizers, its own), the real data's position, every RNG stream (the objectives' noise,
    torch's global stream behind dropout, CUDA's), the step, the logged history and samples,
    the open log window, what the objective's preparation reported and the rollback's
    candidates. :meth:`state_dict` is the resume file's payload; a run killed and resumed from
    it ends bit-identical (on CPU) to one never interrupted."""

    def __init__(self, G: Generator, D: TextDiscriminator, objective: Objective,
                 stream: RealStream, rng: torch.Generator, rollback: EndRollback):
        self.G, self.D, self.objective, self.stream, self.rng = G, D, objective, stream, rng
        self.rollback = rollback
        self.device = G.device
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.samples: list[str] = []
        self.window: list[dict[str, Any]] = []
        self.prepared: dict[str, float] = {}

    def state_dict(self) -> dict[str, Any]:
        cuda = self.device.type == "cuda"
        return {
            "step": self.step, "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(), "objective": self.objective.state_dict(),
            "stream": self.stream.state_dict(), "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if cuda else None,
            "history": self.history, "samples": self.samples, "window": self.window,
            "prepared": self.prepared, "rollback": self.rollback.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """Restore a resume payload; True when it held the rollback's candidates (files written
        before they were saved do not)."""
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        self.objective.load_state_dict(state["objective"])
        self.stream.load_state_dict(state["stream"])
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.step = int(state["step"])
        self.history, self.samples = list(state["history"]), list(state["samples"])
        self.window, self.prepared = list(state["window"]), dict(state["prepared"])
        if "rollback" in state:
            self.rollback.load_state_dict(state["rollback"])
        return "rollback" in state


class AdversarialRun:
    """The bookkeeping around the adversarial algorithm: building G, D and the objective, the
    resume state (:class:`RunState`), log windows (plot rows, MLflow, progress bar), samples
    shown, the divergence guard, the rollback (:class:`EndRollback`, fed the
    :class:`FigureProbe`'s figures) and the summary metrics. Nothing here depends on the
    objective beyond its protocol: a loss with per-token rewards or its own D needs no change."""

    def __init__(self, generator: Generator, corpus: Corpus, cfg: AdversarialConfig,
                 dcfg: DiscriminatorConfig, seed: int, precision: str, tracker: Any,
                 resume_file: Path | None, fingerprint: str):
        self.corpus, self.cfg, self.seed, self.precision = corpus, cfg, seed, precision
        self.tracker, self.resume_file, self.fingerprint = tracker, resume_file, fingerprint
        self.device = device = resolve_device(cfg.device)
        # the objectives' noise stream (Gumbel, sampling, GP alphas), drawn on the model's device
        rng = torch.Generator(device=device).manual_seed(derive_seed(seed, "adversarial", "noise"))
        G = self.G = generator.to(device).train()
        self.nll_start = valid_nll(G, corpus.valid)
        # Train mode (cuDNN's LSTM backward needs it) but no dropout: the adversarial losses must
        # see the distribution that evaluation samples, and SeqGAN's samples, log-probs and
        # rollouts one policy (with dropout they were three different sub-networks: biased,
        # off-policy REINFORCE).
        G.set_dropout(0.0)
        G.set_decode_precision(autocast_dtype(precision))
        # the figures of "worse on every figure at once" (see EndRollback), of the MLE itself
        # here: measured before a resume file replaces its weights
        self.probe = FigureProbe(corpus, cfg.guard_samples, derive_seed(seed, "adversarial", "guard"),
                                 cfg.guard_temperatures) if cfg.rollback_if_worse_everywhere else None
        self.fig_start = self.figures(self.nll_start)
        cls = objective_class(cfg.loss)
        D = build_discriminator(discriminator_spec(dcfg, len(corpus.vocab), cls)).to(device).train()
        self.objective = cls(G, D, cfg, corpus.max_len, device, rng)
        self.guard = DivergenceGuard.for_run(f"adversarial training ({cfg.loss})",
                                             f"adversarial.{self.objective.section}.g_lr (or "
                                             "adversarial.grad_clip)", len(corpus.vocab),
                                             start=self.nll_start)
        # the real rows move to the device once (batches are then indexed there, not copied)
        stream = RealStream(corpus.train.to(device), cfg.batch_size,
                            derive_seed(seed, "adversarial", "batches"))
        # the latest acceptable state (valid NLL within max_valid_nll_rise of the start, not
        # worse on every figure): what the run hands out if its end is not (see EndRollback)
        rollback = EndRollback(cfg.max_valid_nll_rise, self.fig_start, self.probe is not None)
        self.state = RunState(G, D, self.objective, stream, rng, rollback)
        self.last_saved = 0

    def figures(self, nll: float) -> Figures:
        return self.probe(self.G, nll) if self.probe is not None else Figures(nll)

    def begin(self) -> None:
        """Continue a killed run from the resume file, or start: the objective's preparation
        (D pretraining); then the start is the rollback's first candidate."""
        st, restored = self.state, False
        payload = load_resume(self.resume_file, "adversarial", self.fingerprint, _stderr)
        if payload is not None:
            restored = st.load_state_dict(payload)
            print(f"adversarial: resuming from step {st.step} ({self.resume_file})", file=sys.stderr)
            if self.tracker is not None:  # re-log what the killed run logged: the MLflow run is whole
                for row in st.history:
                    self.tracker.log_metrics({k: v for k, v in row.items() if k != "step"},
                                             step=row["step"])
        else:
            with autocast(self.precision, self.device):
                st.prepared = self.objective.prepare(st.stream)
            if st.prepared and self.tracker is not None:
                self.tracker.log_metrics(st.prepared, step=0)
        if not restored:  # a fresh run, or a resume file from before the candidates were saved
            fig = self.fig_start if st.step == 0 else self.figures(valid_nll(self.G, self.corpus.valid))
            st.rollback.offer(st.step, fig, self.G, st.D)
        self.last_saved = st.step

    def record(self, logs: dict[str, Any], done: int) -> dict[str, float] | None:
        """Add a step's logs to the window; when the window closes, its mean row (one host
        sync), checked for NaN/inf (:class:`NonFiniteLoss`)."""
        self.state.window.append(logs)
        if done % self.cfg.log_every and done != self.cfg.steps:
            return None
        row = {"step": done, **_to_floats(_mean_rows(self.state.window))}
        _finite_or_raise(row)
        return row

    def publish(self, row: dict[str, float] | None, bar: Any) -> None:
        """A closed window's row to the history, MLflow and the progress bar."""
        if row is None:
            return
        self.state.window = []
        self.state.history.append(row)
        if self.tracker is not None:
            self.tracker.log_metrics({k: v for k, v in row.items() if k != "step"}, step=row["step"])
        bar.set_postfix({k: f"{row[k]:.3g}" for k in ("d_loss", "g_loss") if k in row})

    def show_samples(self, done: int) -> None:
        """Every ``sample_every`` steps (and at the end): decoded samples from their own stream."""
        if done % self.cfg.sample_every and done != self.cfg.steps:
            return
        shown = decode_samples(self.G, self.corpus, SAMPLES_SHOWN,
                               derive_seed(self.seed, "adversarial", "samples", done))
        self.state.samples.extend(f"step {done}: {s}" for s in shown)
        for s in shown:
            progress_write(f"  [{done}] {s}")

    def _kept(self) -> str:
        return kept_checkpoint(self.resume_file,
                               f"step {self.last_saved}" if self.last_saved else None)

    def checkpoint(self, done: int) -> None:
        """Every ``checkpoint_every`` steps before the end: the divergence guard, the state as a
        rollback candidate (with its figures), the resume file."""
        if done % self.cfg.checkpoint_every or done >= self.cfg.steps:
            return
        st = self.state
        nll = valid_nll(self.G, self.corpus.valid)
        self.guard.check({"valid NLL": nll}, f"at step {done}", self._kept())
        st.rollback.offer(done, self.figures(nll), self.G, st.D)
        st.window = [_to_floats(w) for w in st.window]  # the resume file holds plain floats
        st.step = done
        if self.resume_file is not None:
            save_resume(self.resume_file, "adversarial", self.fingerprint, st.state_dict())
        self.last_saved = done

    def diverged(self, exc: NonFiniteLoss, done: int) -> TrainingError:
        """The error a NaN/inf loss becomes: the step, the last good checkpoint, what to lower."""
        where = (f"the last good checkpoint (step {self.last_saved}) is kept in {self.resume_file}"
                 if self.resume_file is not None and self.last_saved > 0
                 else "no checkpoint was written yet")
        return TrainingError(
            f"adversarial training diverged at step {done} ({self.cfg.loss}): {exc}; {where}. "
            f"Lower {_rate_keys(self.objective)} or adversarial.grad_clip")

    def finish(self, t0: float) -> AdversarialResult:
        """The end: the guard, the rollback's verdict (the kept state), the summary metrics and
        their warnings."""
        cfg, st = self.cfg, self.state
        final = valid_nll(self.G, self.corpus.valid)
        self.guard.check({"valid NLL": final}, f"by step {cfg.steps}", self._kept())
        final = st.rollback.settle(self.figures(final), self.G, st.D)  # the kept G's NLL
        last = ({f"final_{k}": v for k, v in st.history[-1].items() if k != "step"}
                if st.history else {})
        metrics = {"steps": cfg.steps, **last, **st.prepared, "valid_nll_start": self.nll_start,
                   "valid_nll": final, **chance_report(st.history), **st.rollback.report()}
        section = self.objective.section
        if (warning := chance_message(metrics, cfg.loss, section)) is not None:
            _stderr(warning)
        if (warning := st.rollback.message(f"adversarial ({cfg.loss})", self.nll_start,
                                           f"adversarial.{section}.g_lr")) is not None:
            _stderr(warning)
        return AdversarialResult(self.G.eval(), st.D.eval(), metrics, st.history, st.samples,
                                 wall_seconds=time.perf_counter() - t0)


class FigureProbe:
    """What the rollback guard measures of a generator state (:class:`Figures`): BLEU-5 against
    the validation sentences and self-BLEU-5 of `n` samples at each of `temperatures` (T = 1
    always among them; its figures are the ``guard_*`` ones), from one fixed seed per
    temperature (every state gets the same random numbers, so two states differ by the model,
    not the draw), and the state's curve against the first state probed (the MLE):
    :func:`gantext.metrics.verdict.compare` with :data:`GUARD_RESAMPLES` paired resamples.
    Disabled (None figures) with fewer than 2 validation sentences."""

    def __init__(self, corpus: Corpus, n: int, seed: int, temperatures: tuple[float, ...] = (1.0,)):
        self.corpus, self.n, self.seed = corpus, n, seed
        self.temps = tuple(sorted({float(t) for t in temperatures} | {1.0}))
        self.refs = [corpus.vocab.tokens(r.tolist()) for r in corpus.valid.cpu()]
        self.base: list[Point] | None = None  # the MLE's curve: the first state probed

    def __call__(self, generator: Generator, nll: float) -> Figures:
        if len(self.refs) < 2:
            return Figures(nll)
        points = []
        for t in self.temps:
            # T = 1 keeps the stream it always had (the guard_* figures of earlier runs hold)
            seed = self.seed if t == 1.0 else derive_seed(self.seed, "temperature", t)
            rows = _seeded_rows(generator, self.n, self.corpus.max_len, seed, t)
            hyps = [self.corpus.vocab.tokens(r) for r in rows.tolist()]
            b = sentence_scores(hyps, self.refs, ns=(5,))[5]
            sb = self_sentence_scores(hyps, ns=(5,))[5]
            points.append(Point(t, b, sb, np.full(len(b), 1.0 / len(b))))
        t1 = points[self.temps.index(1.0)]
        gap = None
        if self.base is None:
            self.base = points
        else:
            gap = compare(self.base, points, self.seed, resamples=GUARD_RESAMPLES)
        curve = {} if gap is None else {"gap_mean": gap.mean, "gap_max": gap.max,
                                        "gap_max_lo": gap.max_lo, "gap_max_hi": gap.max_hi}
        return Figures(nll, float(t1.bleu.mean()), float(t1.sbleu.mean()), _se(t1.bleu),
                       _se(t1.sbleu), **curve)


#: paired bootstrap resamples behind the guard's curve reading (a decision rule, not a headline
#: figure: 200 put the interval's ends within ~0.001 of 1,000's on COCO-sized samples)
GUARD_RESAMPLES = 200


def _se(x: np.ndarray) -> float:
    """Standard error of the mean of `x`."""
    return float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0


def decode_samples(generator: Generator, corpus: Corpus, n: int, seed: int) -> list[str]:
    """`n` decoded samples from their own seeded stream (does not disturb training's RNG)."""
    rows = _seeded_rows(generator, n, corpus.max_len, seed)
    return [corpus.vocab.decode(r.tolist()) for r in rows]


def _seeded_rows(generator: Generator, n: int, max_len: int, seed: int,
                 temperature: float = 1.0) -> torch.Tensor:
    """`n` sampled rows at `temperature` (on the CPU) from a stream of their own, in eval mode;
    the generator's mode is restored after."""
    was = generator.training
    generator.eval()
    g = torch.Generator(device=generator.device).manual_seed(seed)
    rows, _ = generator.sample(n, max_len, temperature, g)
    generator.train(was)
    return rows.cpu()


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


# ----------------------------------------------------------------------------- outputs
def valid_nll(generator: Generator, data: torch.Tensor, batch_size: int = 500) -> float:
    """Generator NLL per token on `data` (MLE fit; GAN training usually trades some of it away)."""
    if len(data) == 0:
        return float("nan")
    trim_if_large()  # room for the passes below
    was = generator.training
    generator.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in iterate_batches(data, batch_size, shuffle=False):
            s, n = generator.nll(batch.to(generator.device))
            total, count = total + float(s), count + n
    generator.train(was)
    release_freed_memory()  # the NLL passes' vocabulary-wide holes (see there)
    return total / max(count, 1)


def plot_columns() -> tuple[str, ...]:
    """Columns of metrics/plots/adversarial.csv for every loss (nan where a loss has no such
    signal), derived from the registry's log keys: dvc.yaml's plots name them, and `dvc plots
    diff` compares experiments with different losses on one chart (a column missing in one
    revision would fail the whole plot)."""
    return ("step", *log_columns())


def write_outputs(result: AdversarialResult, paths: Paths, vocab_hash: str, loss: str) -> None:
    """models/adversarial/{generator,discriminator}.pt, metrics/adversarial.json, the plot CSV
    (each written atomically; no wall-clock numbers, so reruns are byte-identical)."""
    save_generator(paths.adversarial_generator, result.generator, vocab_hash,
                   metrics=result.metrics, extra={"stage": "adversarial", "loss": loss})
    save_checkpoint(paths.adversarial_discriminator, kind="discriminator",
                    state_dict=result.discriminator.state_dict(),
                    spec=result.discriminator.spec_dict, vocab_hash=vocab_hash,
                    metrics=result.metrics, extra={"loss": loss})
    write_json(paths.metrics_json("adversarial"), result.metrics)
    write_csv(paths.plot_csv("adversarial"),
              [{**{c: row.get(c, float("nan")) for c in plot_columns()}, **row}
               for row in result.history])


def load_discriminator(path: str | Path, vocab_hash: str | None = None,
                       device: str | torch.device = "cpu") -> TextDiscriminator:
    """Rebuild the adversarial stage's discriminator (eval mode) from its checkpoint."""
    return load_module(path, "discriminator", build_discriminator, vocab_hash, device)[0]
