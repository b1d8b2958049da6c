"""Tiny encoded rows shared by the objective tests (no corpus needed)."""

import torch

from gantext.text.vocab import EOS_ID, PAD_ID


def toy_rows(n: int, max_len: int, vocab_size: int) -> torch.Tensor:
    """`n` encoded rows of width ``max_len + 1``: lengths 1..max_len cycling, word ids >= 4,
    then ``<eos>`` and ``<pad>`` (the encoding contract of gantext.text.vocab)."""
    rows = torch.full((n, max_len + 1), PAD_ID, dtype=torch.long)
    for i in range(n):
        k = 1 + i % max_len
        rows[i, :k] = 4 + (i + torch.arange(k)) % (vocab_size - 4)
        rows[i, k] = EOS_ID
    return rows
