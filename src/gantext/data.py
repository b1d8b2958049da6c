"""Loading the tokenize stage's outputs for training and evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from gantext.errors import DataError
from gantext.paths import Paths
from gantext.text.prepare import load_array
from gantext.text.vocab import BOS_ID, PAD_ID, Vocab


@dataclass(frozen=True)
class Corpus:
    """The vocabulary and the encoded splits (int64 tensors of shape (n, max_len + 1))."""

    vocab: Vocab
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    @property
    def max_len(self) -> int:
        """Tokens per sentence before <eos> (row width - 1)."""
        return int(self.train.shape[1]) - 1


def load_corpus(paths: Paths) -> Corpus:
    """Read vocab.json and the encoded .npy splits written by the tokenize stage."""
    if not paths.vocab.is_file():
        raise DataError(f"{paths.vocab}: not found; run `dvc repro tokenize` first")
    vocab = Vocab.load(paths.vocab)
    splits = {}
    for split in ("train", "valid", "test"):
        f = paths.encoded(split)
        if not f.is_file():
            raise DataError(f"{f}: not found; run `dvc repro tokenize` first")
        splits[split] = torch.from_numpy(load_array(f, len(vocab)).astype(np.int64))
    if len(splits["train"]) == 0:
        raise DataError(f"{paths.encoded('train')}: the train split is empty")
    return Corpus(vocab=vocab, **splits)


def iterate_batches(data: torch.Tensor, batch_size: int, generator: torch.Generator | None = None,
                    shuffle: bool = True, drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Mini-batches of rows; the order comes from `generator` so runs are reproducible."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - (n % batch_size) if drop_last else n
    for start in range(0, stop, batch_size):
        yield data[order[start:start + batch_size]]


#: target id the loss skips (torch's cross-entropy default ``ignore_index``)
IGNORE_TARGET = -100


@dataclass(frozen=True)
class TeacherForced:
    """One batch laid out for the teacher-forced loss, built on the CPU before any device work.

    ``inputs`` (B, w): <bos> + the rows shifted right, cut to the batch's longest row (w = its
    length incl. <eos>): an autoregressive model's output at a position never depends on later
    inputs, so the cut-off all-<pad> tail cannot change any scored position. ``targets`` (N,):
    the N real targets (tokens and <eos>) in row-major order; ``index`` (N,): their flat
    positions ``b * w + t`` in the (B, w) output, so the vocabulary head and the loss run on real
    positions only. Both may be padded past N (see :func:`teacher_forced`) with ``index`` 0 and
    the target :data:`IGNORE_TARGET`, which the loss skips. Everything is computed here from the
    host copy, so the device needs no synchronising ``.item()``/boolean-mask step; ``count`` is
    N as a Python int.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    index: torch.Tensor
    count: int

    def to(self, device: torch.device | str) -> "TeacherForced":
        """The same batch on `device` (asynchronous copies from pinned memory on CUDA)."""
        dev = torch.device(device)
        if dev.type == "cpu":
            return self
        move = (lambda t: t.pin_memory().to(dev, non_blocking=True)) if dev.type == "cuda" \
            else (lambda t: t.to(dev))
        return TeacherForced(move(self.inputs), move(self.targets), move(self.index), self.count)


def teacher_forced(rows: torch.Tensor, multiple: int = 1) -> TeacherForced:
    """Lay out encoded rows (B, max_len + 1) (CPU) for the loss; see :class:`TeacherForced`.

    ``targets``/``index`` are padded to a multiple of `multiple` entries: the head's matmul
    shapes then repeat from batch to batch, and oneDNN (bf16 on CPU) JIT-compiles a kernel per
    new shape (measured on COCO: 91 -> 65 ms per bf16 batch with 64). Relies on the encoding
    contract: real tokens and <eos> form a prefix of each row, <pad> after.
    """
    if rows.ndim != 2:
        raise ValueError(f"expected encoded rows (B, max_len + 1), got shape {tuple(rows.shape)}")
    real = rows != PAD_ID
    width = int(real.sum(dim=1).max()) if len(rows) else 0
    rows, real = rows[:, :width], real[:, :width]
    inputs = torch.cat([torch.full_like(rows[:, :1], BOS_ID), rows[:, :-1]], dim=1)
    index = real.reshape(-1).nonzero().squeeze(1)
    count = len(index)
    targets = rows.reshape(-1)[index]
    extra = -count % multiple
    if extra:
        index = torch.cat([index, index.new_zeros(extra)])
        targets = torch.cat([targets, targets.new_full((extra,), IGNORE_TARGET)])
    return TeacherForced(inputs=inputs, targets=targets, index=index, count=count)
