"""Generator NLL on encoded data, reported as two figures so ours can sit next to published ones.

Let the data be ``n`` encoded rows of width ``W = max_len + 1`` (tokens, ``<eos>``, ``<pad>``...)
and ``S`` the summed negative log-likelihood (nats) of every *real* target: each token and the
``<eos>`` that ends the row (``N`` positions in all; ``<pad>`` is never a target).

``nll`` = S / N
    Per real token. The honest figure: it does not improve when sentences get shorter or the
    padding wider. ``ppl`` = exp(nll).

``nll_anchor`` = S / (n * max_len)
    The NLL_gen that Texygen and RelGAN publish (RelGAN's MLE baseline on COCO: 0.718). Their
    generator's pretraining loss is summed over all ``seq_len`` positions of a row and divided by
    ``seq_len * batch_size``, where ``seq_len`` is the longest sentence (37 on COCO) and a row is
    the tokens followed by pad tokens: the first pad plays our ``<eos>``, the later pads are
    pad-after-pad predictions that a trained model gets almost free (~0 nats). Our ``<pad>`` after
    ``<eos>`` is deterministic (0 nats) and our ``max_len`` is their ``seq_len``, so the figure
    matches theirs up to those near-zero pad terms (which makes ours a hair lower) and the
    ``<eos>`` of full-length rows (which they do not score; a hair higher). Tokenize with
    ``max_len`` equal to the corpus' longest sentence for the comparison to hold. Note that
    RelGAN's code (``real_train.py``: ``Nll(oracle_loader, ...)``) scores the *training* file, so
    their NLL_gen is a fit-to-train figure: compare it with our ``train_nll_anchor``, not with a
    held-out split.
"""

from __future__ import annotations

import math

import torch

from gantext.data import iterate_batches
from gantext.models.generator import Generator
from gantext.text.vocab import PAD_ID

#: Rows per NLL batch. The per-batch sums are float32, so the total depends (by ~1e-7) on how the
#: rows are cut into batches: every NLL of the project (pretrain's valid/test/train figures and
#: the evaluate stage's) is accumulated with this one batch size, so the same model on the same
#: split gives the same bits everywhere. training.mle uses it too.
NLL_BATCH_SIZE = 512


@torch.no_grad()
def nll_sum(model: Generator, data: torch.Tensor, batch_size: int = NLL_BATCH_SIZE,
            device: torch.device | str = "cpu") -> tuple[float, int]:
    """(S, N): summed NLL over real targets and their count, in eval mode, in a fixed order."""
    from gantext.runtime import release_freed_memory, trim_if_large  # (runtime imports config)

    trim_if_large()  # room for the passes below
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for batch in iterate_batches(data, batch_size, shuffle=False):
            s, k = model.nll(batch.to(device))
            total += float(s)  # accumulate in float64: the order is fixed, so the sum is exact-repeatable
            count += k
    finally:
        model.train(was_training)
        release_freed_memory()  # the passes' vocabulary-wide holes (see there)
    return total, count


def nll_metrics(model: Generator, data: torch.Tensor, batch_size: int = NLL_BATCH_SIZE,
                device: torch.device | str = "cpu") -> dict[str, float]:
    """``{"nll", "nll_anchor", "ppl", "tokens"}`` of `model` on encoded rows (see module docstring)."""
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"expected encoded rows (n, max_len + 1), got shape {tuple(data.shape)}")
    n, width = data.shape
    total, count = nll_sum(model, data, batch_size, device)
    if count == 0:
        raise ValueError("no real tokens to score (empty split?)")
    nll = total / count
    return {
        "nll": nll,
        "nll_anchor": total / (n * (width - 1)),
        "ppl": math.exp(nll) if nll < 700 else math.inf,
        "tokens": int(count),
    }


def count_tokens(data: torch.Tensor) -> int:
    """Real targets (tokens + <eos>) in encoded rows."""
    return int((data != PAD_ID).sum())
