"""Loading the tokenize stage's outputs for training and evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from gantext.errors import DataError
from gantext.paths import Paths
from gantext.text.prepare import load_array
from gantext.text.vocab import Vocab


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
