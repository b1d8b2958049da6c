"""MLE pretraining of the generator: Adam, gradient clipping, early stopping, exact resume.

Reproducibility and resume rest on one idea: nothing random carries over from one epoch to the
next. The initial weights come from ``(seed, "init")``; each epoch's batch order and dropout masks
come from ``(seed, epoch)``. So the complete training state after epoch ``k`` is the weights, the
optimizer, the early-stopping bookkeeping and the history, all saved (atomically, weights-only)
after every completed epoch; a run killed during epoch ``k + 1`` and started again replays epoch
``k + 1`` from exactly the same state and ends with bit-identical tensors and metrics on CPU.

The resume state is keyed by a fingerprint of everything that shapes the result (generator and
pretrain params, seed, device, vocabulary hash, data hashes): a state left by other params or
other data is ignored, never half-reused.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from gantext.config import GeneratorConfig, PretrainConfig, to_dict
from gantext.data import IGNORE_TARGET, Corpus, TeacherForced, iterate_batches, teacher_forced
from gantext.errors import DataError, TrainingError
from gantext.metrics.nll import NLL_BATCH_SIZE, count_tokens, nll_metrics
from gantext.models.generator import Generator, build_generator
from gantext.models.generator import generator_spec as spec_for
from gantext.models.lstm import LSTMGenerator
from gantext.models.transformer import TransformerGenerator
from gantext.runtime import autocast, derive_seed, trim_if_large
from gantext.text.vocab import PAD_ID
from gantext.training.checkpoint import load_resume, run_fingerprint, save_resume
from gantext.training.guard import DivergenceGuard, kept_checkpoint

#: batch size for validation/test NLL (memory only: the figures do not depend on it beyond
#: float summation order, and it is fixed here so they are repeatable)
EVAL_BATCH_SIZE = NLL_BATCH_SIZE

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class EpochReport:
    """What :func:`train_mle` tells its ``on_epoch_end`` callback after each completed epoch.

    ``row`` is the reproducible plot row; the timings vary from run to run and are kept apart.
    The callback runs *after* the resume state of this epoch is on disk.
    """

    row: dict
    improved: bool
    seconds: float
    train_tokens_per_s: float

    @property
    def epoch(self) -> int:
        return int(self.row["epoch"])


@dataclass
class MLEResult:
    """The best generator (eval mode) and everything the stage writes or logs."""

    model: Generator
    history: list[dict]          # one row per epoch: metrics/plots/pretrain.csv
    summary: dict                # metrics/pretrain.json (reproducible: no timings)
    start_epoch: int             # first epoch trained by this call (> 1 after a resume)
    timings: dict = field(default_factory=dict)  # wall_seconds, train_tokens_per_s (this call only)


def tensor_hash(t: torch.Tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes."""
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.numpy().tobytes())
    return h.hexdigest()


def resume_fingerprint(corpus: Corpus, gen_cfg: GeneratorConfig, cfg: PretrainConfig, seed: int,
                       device: torch.device | str, precision: str = "fp32") -> str:
    """Identity of a training run: a resume state is reused only when this matches exactly."""
    return run_fingerprint(
        "pretrain", device, generator=to_dict(gen_cfg), pretrain=to_dict(cfg), seed=seed,
        vocab=corpus.vocab.hash, eval_batch_size=EVAL_BATCH_SIZE, precision=precision,
        data={s: tensor_hash(getattr(corpus, s)) for s in ("train", "valid", "test")})


def generator_spec(corpus: Corpus, gen_cfg: GeneratorConfig) -> Any:
    """The spec of ``model.generator.arch`` for this corpus (vocabulary size, row width)."""
    return spec_for(len(corpus.vocab), corpus.max_len, gen_cfg)


def _cpu_copy(state_dict: dict) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in state_dict.items()}


def _resume_state(model: Generator, optimizer: torch.optim.Optimizer, epoch: int,
                  finished: bool, best: dict, history: list[dict],
                  low_from: int | None = None) -> dict:
    """Everything the next epoch depends on (see the module docstring); `low_from`: the last
    epoch before the low-lr phase, once it has begun."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
            "finished": finished, "best": best, "history": history, "low_from": low_from}


def epoch_lr(cfg: PretrainConfig, epoch: int, low_from: int | None = None) -> float:
    """The learning rate of `epoch` (1-based): ``lr * lr_decay^(epoch-1)``, or ``low_lr`` in the
    low-lr phase (the epochs after `low_from`). A function of the epoch: nothing to carry on
    resume."""
    if low_from is not None and epoch > low_from:
        return cfg.low_lr
    return cfg.lr * cfg.lr_decay ** (epoch - 1)



# ----------------------------------------------------------------------------- the training loss
def _lstm_features(model: Generator, inputs: torch.Tensor) -> torch.Tensor:
    """(B, w, H) LSTM outputs; ``Generator.forward`` applies ``drop`` and the head to them."""
    out, _ = model.lstm(model.drop(model.embedding(inputs)))
    return out


#: rows of the head's input padded to a multiple of this (see :func:`teacher_forced`)
HEAD_ROWS_MULTIPLE = 64
#: generator class -> the (B, w, H) outputs that feed (through ``drop``) its vocabulary ``head``
#: (an nn.Linear with bias) in teacher forcing; a class not listed trains through its own
#: ``nll`` (correct, only without this layout's savings)
HEAD_FEATURES: dict[type, Callable[[Generator, torch.Tensor], torch.Tensor]] = {
    LSTMGenerator: _lstm_features, TransformerGenerator: TransformerGenerator.features}


def batch_nll(model: Generator, batch: TeacherForced) -> torch.Tensor:
    """Summed NLL of a batch's real targets (the MLE training loss before dividing by count).

    Speed (measured on COCO sizes, one CPU thread; bench/pipeline_speed.py): the recurrent part
    runs over the padded batch cut to its longest row, one dense call, and only the N real
    positions are gathered (by a host-made index: no device sync) for the vocabulary head and
    the loss, which are ~80 % of the FLOPs. Packing (``Generator.nll``) does the same FLOPs but
    pays for sorting and per-step kernel launches; the head on every padded position costs it
    2-3x. Same distribution and loss as ``Generator.nll`` up to float summation order.
    """
    features = HEAD_FEATURES.get(type(model))
    if features is None:
        s, _ = model.nll(_rows_of(batch))
        return s
    if batch.count == 0:
        return torch.zeros((), device=batch.inputs.device)
    h = features(model, batch.inputs)
    # dropout after the gather: same distribution, half the mask draws (no masks for <pad>)
    h = model.drop(h.reshape(-1, h.shape[-1]).index_select(0, batch.index))
    # The <pad>/<bos> mask folded into the head's bias (the generator's own masked() on a (V,)
    # vector): those logits are -1e9 + O(1) = -1e9 after rounding and get probability exactly 0
    # either way, while two N x V passes forward and two backward disappear (bf16: 11 % faster
    # per COCO batch, bit-identical losses over 40 steps).
    logits = model.masked_head(h)
    return F.cross_entropy(logits, batch.targets, reduction="sum", ignore_index=IGNORE_TARGET)


def _rows_of(batch: TeacherForced) -> torch.Tensor:
    """The encoded rows of a :class:`TeacherForced` batch (for generators without a fast path)."""
    b, w = batch.inputs.shape
    rows = torch.full((b * w,), PAD_ID, dtype=batch.targets.dtype, device=batch.targets.device)
    n = batch.count  # entries past it are padding
    return rows.index_copy_(0, batch.index[:n], batch.targets[:n]).reshape(b, w)


def epoch_label(cfg: PretrainConfig, epoch: int, low_from: int | None) -> str:
    """'epoch 3/12', or in the low-lr phase 'epoch 9 (low-lr 1/4)' (not 'epoch 9/8')."""
    if low_from is None:
        return f"epoch {epoch}/{cfg.epochs}"
    return f"epoch {epoch} (low-lr {epoch - low_from}/{cfg.low_lr_epochs})"


def _train_epoch(model: Generator, optimizer: torch.optim.Optimizer, data: torch.Tensor,
                 cfg: PretrainConfig, epoch: int, seed: int, device: torch.device,
                 precision: str = "fp32", low_from: int | None = None) -> tuple[float, int]:
    """One pass over `data` in the (seed, epoch) order; returns (summed NLL, real tokens)."""
    from gantext.progress import progress

    # Dropout masks and batch order of this epoch depend on (seed, epoch) only: see module doc.
    torch.manual_seed(derive_seed(seed, "dropout", epoch))
    order = torch.Generator().manual_seed(derive_seed(seed, "batches", epoch))
    for group in optimizer.param_groups:  # a function of the epoch: nothing to carry on resume
        group["lr"] = epoch_lr(cfg, epoch, low_from)
    model.train()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    n_batches = math.ceil(len(data) / cfg.batch_size)
    bar = progress(iterate_batches(data, cfg.batch_size, generator=order), total=n_batches,
                   desc=f"pretrain {epoch_label(cfg, epoch, low_from)}", unit="batch", leave=False)
    for i, rows in enumerate(bar):
        # the layout is made on the host: no device syncs below
        batch = teacher_forced(rows, HEAD_ROWS_MULTIPLE).to(device)
        with autocast(precision, device):
            s = batch_nll(model, batch)
        k = batch.count
        loss = s / max(k, 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        trim_if_large()  # a large vocabulary's step-shaped holes (see there)
        total += s.detach().double()
        count += k
        if i % 50 == 0:
            bar.set_postfix(nll=f"{float(loss.detach()):.3f}")
    bar.close()
    train_sum = float(total)
    if not math.isfinite(train_sum):
        raise TrainingError(f"pretrain diverged in epoch {epoch} (train NLL is {train_sum}): "
                            "lower pretrain.lr or pretrain.grad_clip in params.yaml")
    return train_sum, count


def train_mle(corpus: Corpus, gen_cfg: GeneratorConfig, cfg: PretrainConfig, *, seed: int,
              device: torch.device | str = "cpu", resume_path: str | Path | None = None,
              on_epoch_end: Callable[[EpochReport], None] | None = None,
              log: Log = _stderr, precision: str = "fp32") -> MLEResult:
    """Pretrain a generator on ``corpus.train`` by MLE with early stopping on valid NLL.

    With `resume_path`, the state after every completed epoch is saved there and a matching state
    found there at the start is continued (see the module docstring); the caller deletes it with
    :func:`gantext.training.checkpoint.discard_resume` once its outputs are written. Returns
    the best-valid-NLL model, the per-epoch history and the summary (best epoch, valid/test NLL in both figures).
    `precision` (``runtime.precision``) is that of the training passes; the NLL figures are
    always computed in fp32.
    """
    if len(corpus.valid) == 0:
        raise DataError("pretrain needs a validation split for early stopping and the best "
                        "checkpoint, but it is empty: set ingest.valid_fraction > 0 in params.yaml")
    device = torch.device(device)
    resume_path = Path(resume_path) if resume_path is not None else None
    fingerprint = resume_fingerprint(corpus, gen_cfg, cfg, seed, device, precision)

    torch.manual_seed(derive_seed(seed, "init"))
    model = build_generator(generator_spec(corpus, gen_cfg)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    history: list[dict] = []
    best = {"state": _cpu_copy(model.state_dict()), "nll": math.inf, "epoch": 0, "bad": 0}
    epoch, finished = 0, False
    low_from: int | None = None  # the last epoch before the low-lr phase, once it has begun
    state = load_resume(resume_path, "pretrain", fingerprint, log)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        best = dict(state["best"])
        history = list(state["history"])
        epoch, finished = int(state["epoch"]), bool(state["finished"])
        low_from = state.get("low_from")
        log(f"pretrain: resuming at epoch {epoch + 1} (epochs 1..{epoch} restored from {resume_path})"
            if not finished else f"pretrain: training already finished in {resume_path}; "
            "evaluating the best epoch")
    start_epoch = epoch + 1

    t_start = time.perf_counter()
    trained_tokens, train_seconds = 0, 0.0
    guard = DivergenceGuard.for_run("pretrain", "pretrain.lr (or pretrain.grad_clip)",
                                    len(corpus.vocab))
    while not finished:
        epoch += 1
        t0 = time.perf_counter()
        train_sum, train_count = _train_epoch(model, optimizer, corpus.train, cfg, epoch, seed,
                                              device, precision, low_from)
        seconds = time.perf_counter() - t0
        trained_tokens += train_count
        train_seconds += seconds
        valid = nll_metrics(model, corpus.valid, EVAL_BATCH_SIZE, device)
        # before this epoch's state is saved: the last good one stays on disk
        guard.check({"train NLL": train_sum / max(train_count, 1), "valid NLL": valid["nll"]},
                    f"after epoch {epoch}",
                    kept_checkpoint(resume_path, f"epoch {epoch - 1}" if epoch > 1 else None))
        row = {"epoch": epoch, "train_nll": train_sum / max(train_count, 1),
               "valid_nll": valid["nll"], "valid_ppl": valid["ppl"],
               "valid_nll_anchor": valid["nll_anchor"]}
        history.append(row)
        improved = valid["nll"] < best["nll"]
        if improved:
            best = {"state": _cpu_copy(model.state_dict()), "nll": valid["nll"], "epoch": epoch,
                    "bad": 0}
        else:
            best["bad"] += 1
        phase = "" if low_from is None else f" (lr {cfg.low_lr:g})"
        log(f"pretrain: {epoch_label(cfg, epoch, low_from)} train_nll {row['train_nll']:.4f} "
            f"valid_nll {valid['nll']:.4f} (anchor {valid['nll_anchor']:.4f}, ppl {valid['ppl']:.2f})"
            f"{' *' if improved else ''}{phase}  {seconds:.1f}s")
        if low_from is None:
            finished = epoch >= cfg.epochs or best["bad"] >= cfg.patience
            if finished and cfg.low_lr_epochs > 0:
                # the low-lr phase: from the best epoch, fresh Adam moments at low_lr
                low_from, finished = epoch, False
                model.load_state_dict(best["state"])
                optimizer = torch.optim.Adam(model.parameters(), lr=cfg.low_lr)
                best["bad"] = 0
                log(f"pretrain: low-lr phase from epoch {best['epoch']} (valid NLL "
                    f"{best['nll']:.4f}): up to {cfg.low_lr_epochs} epochs at lr {cfg.low_lr:g}")
        else:  # kept while each epoch improves on the best
            finished = epoch - low_from >= cfg.low_lr_epochs or best["bad"] >= 1
        if resume_path is not None:
            save_resume(resume_path, "pretrain", fingerprint,
                        _resume_state(model, optimizer, epoch, finished, best, history, low_from))
        if on_epoch_end is not None:
            on_epoch_end(EpochReport(row=dict(row), improved=improved, seconds=seconds,
                                     train_tokens_per_s=train_count / max(seconds, 1e-9)))

    if best["epoch"] == 0:
        raise TrainingError("pretrain finished without a completed epoch (epochs must be >= 1)")
    model.load_state_dict(best["state"])
    model.eval()
    test = nll_metrics(model, corpus.test, EVAL_BATCH_SIZE, device) if len(corpus.test) else None
    # The best model on the train split in eval mode: Texygen/RelGAN compute their NLL_gen on the
    # training file, so train_nll_anchor is the figure that sits next to theirs.
    train = nll_metrics(model, corpus.train, EVAL_BATCH_SIZE, device)
    best_row = history[best["epoch"] - 1]
    summary = {
        "best_epoch": best["epoch"],
        "epochs_run": len(history),
        "stopped_early": (low_from if low_from is not None else len(history)) < cfg.epochs,
        "low_lr_epochs_run": 0 if low_from is None else len(history) - low_from,
        "num_params": sum(p.numel() for p in model.parameters()),
        "train_nll": train["nll"],
        "train_nll_anchor": train["nll_anchor"],
        "valid_nll": best_row["valid_nll"],
        "valid_nll_anchor": best_row["valid_nll_anchor"],
        "valid_ppl": best_row["valid_ppl"],
        "test_nll": test["nll"] if test else None,
        "test_nll_anchor": test["nll_anchor"] if test else None,
        "test_ppl": test["ppl"] if test else None,
        "train_tokens_per_epoch": count_tokens(corpus.train),
    }
    timings = {"wall_seconds": time.perf_counter() - t_start,
               "train_tokens_per_s": trained_tokens / train_seconds if train_seconds else 0.0}
    return MLEResult(model=model, history=history, summary=summary, start_epoch=start_epoch,
                     timings=timings)
