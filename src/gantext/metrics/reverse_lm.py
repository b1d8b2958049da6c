"""LM score and reverse-LM score (Semeniuta et al., 2018, "On Accurate Evaluation of GANs for
Language Generation"; used by Caccia et al., 2020 and ScratchGAN): the field's second ruler.

- **LM score** (quality): an LM trained on the real training split scores a generator's
  samples; their NLL per token (lower = the samples look more like the data to a model of it).
- **Reverse-LM score** (diversity and coverage): an LM trained on a generator's samples scores
  the real reference split; its NLL per token (lower = the samples cover more of the data: a
  generator that drops modes leaves the reverse LM unable to predict them).

Both LMs are trained by the pretrain stage's own code (:func:`gantext.training.mle.train_mle`:
Adam, clipping, early stopping on a held-out part, the best epoch kept), with a small LSTM of
this section's settings, so every generator (and the real sample, the reference row) is read by
the same ruler whatever its own architecture. The real-data LM early-stops on the validation
split (the held-out training distribution; the last tenth of train when there is none); each
reverse LM on the last ``valid_fraction`` of its own samples (never on real data: the real
split it is scored on must not choose its epochs). Off by default (``evaluate.reverse_lm``): it
trains one LM per row plus the real-data LM.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch

from gantext.configfields import param
from gantext.text.vocab import Vocab, encode

Log = Callable[[str], None]


@dataclass(frozen=True)
class ReverseLMConfig:
    """LM / reverse-LM scores (``evaluate.reverse_lm``): the LMs' size and training."""

    enabled: bool = param(False, help="train the LMs and add lm_score / reverse_lm_score per row")
    embed_dim: int = param(64, ge=1)
    hidden_dim: int = param(128, ge=1, help="the scoring LMs' LSTM units")
    epochs: int = param(12, ge=1)
    batch_size: int = param(64, ge=1)
    lr: float = param(0.01, gt=0.0)
    lr_decay: float = param(0.8, gt=0.0, le=1.0)
    patience: int = param(3, ge=1)
    valid_fraction: float = param(0.1, gt=0.0, lt=1.0,
                                  help="share of a row's samples its reverse LM early-stops on")


def _rows(vocab: Vocab, sents: Sequence[Sequence[str]], max_len: int) -> torch.Tensor:
    return torch.from_numpy(encode(vocab, sents, max_len)[0].astype("int64"))


def train_lm(train: torch.Tensor, valid: torch.Tensor, vocab: Vocab, cfg: ReverseLMConfig,
             seed: int, device: torch.device | str, log: Log):
    """An LSTM LM on encoded rows by the pretrain code (early stopping on `valid`); eval mode."""
    from gantext.config import GeneratorConfig, PretrainConfig
    from gantext.data import Corpus
    from gantext.training.mle import train_mle

    gen = GeneratorConfig(arch="lstm", embed_dim=cfg.embed_dim, hidden_dim=cfg.hidden_dim,
                          num_layers=1, dropout=0.0)
    # no low-lr phase after early stopping: the ruler stays the same when pretrain's changes
    pre = PretrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                         lr_decay=cfg.lr_decay, patience=cfg.patience, device=str(device),
                         low_lr_epochs=0)
    corpus = Corpus(vocab, train, valid, train[:0])
    return train_mle(corpus, gen, pre, seed=seed, device=device, log=log).model


def _nll(model, rows: torch.Tensor, device: torch.device | str) -> float:
    from gantext.metrics.nll import nll_metrics

    return float(nll_metrics(model, rows, device=device)["nll"])


def lm_scores(samples: Mapping[str, Sequence[Sequence[str]]], train: Sequence[Sequence[str]],
              heldout: Sequence[Sequence[str]], reference: torch.Tensor, vocab: Vocab,
              max_len: int, cfg: ReverseLMConfig, seed: int, device: torch.device | str = "cpu",
              log: Log = lambda m: None) -> dict[str, dict[str, float]]:
    """``{row: {"lm_score", "reverse_lm_score", "reverse_lm_train"}}`` for each row's samples
    (token lists; include the real sample as a row for the reference figures): the NLL per token
    of the samples under the real-data LM, and of `reference` (encoded rows: the reference
    split) under an LM trained on the samples (``reverse_lm_train`` rows of them, the rest its
    early-stopping split). Deterministic given the inputs, `cfg` and `seed` on CPU."""
    from gantext.runtime import derive_seed  # (imports gantext.config, which imports this)

    quiet = lambda m: None  # noqa: E731 (train_mle's per-epoch lines: one summary line instead)
    t0 = time.perf_counter()
    real = _rows(vocab, train, max_len)
    if len(heldout) >= 2:
        real_valid = _rows(vocab, heldout, max_len)
    else:  # no validation split: the last tenth of train chooses the real LM's epochs
        cut = max(1, len(real) // 10)
        real, real_valid = real[:-cut], real[-cut:]
    lm = train_lm(real, real_valid, vocab, cfg, derive_seed(seed, "real"), device, quiet)
    log(f"reverse_lm: the real-data LM trained on {len(real)} sentences "
        f"({time.perf_counter() - t0:.1f} s)")
    out: dict[str, dict[str, float]] = {}
    for name, sents in samples.items():
        t1 = time.perf_counter()
        rows = _rows(vocab, sents, max_len)
        if len(rows) < 2:
            raise ValueError(f"reverse_lm: row {name!r} has {len(rows)} sample(s); needs >= 2")
        cut = min(len(rows) - 1, max(1, round(len(rows) * cfg.valid_fraction)))
        reverse = train_lm(rows[:-cut], rows[-cut:], vocab, cfg, derive_seed(seed, "reverse", name),
                           device, quiet)
        out[name] = {"lm_score": _nll(lm, rows, device),
                     "reverse_lm_score": _nll(reverse, reference, device),
                     "reverse_lm_train": len(rows) - cut}
        log(f"reverse_lm: {name}: LM score {out[name]['lm_score']:.4f}, reverse-LM score "
            f"{out[name]['reverse_lm_score']:.4f} ({time.perf_counter() - t1:.1f} s)")
    return out
