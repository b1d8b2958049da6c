"""LSTM language-model generator (the default ``model.generator.arch: lstm``).

Embedding -> LSTM -> linear head over the vocabulary; its settings are the historic shared keys
``model.generator.{embed_dim, hidden_dim, num_layers, dropout}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from gantext.models.base import Generator, State, release_after_passes, vocab_wide_rows
from gantext.text.vocab import PAD_ID


@dataclass(frozen=True)
class LSTMSpec:
    """Everything needed to rebuild the module (stored in checkpoints as a plain dict)."""

    vocab_size: int
    embed_dim: int = 64
    hidden_dim: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    #: tokens per sentence before <eos> the model was trained on (row width - 1); the default
    #: length for :meth:`Generator.sample`. None in specs written before it was recorded.
    max_len: int | None = None


class LSTMGenerator(Generator):
    """Embedding -> LSTM -> linear head; decoding state ``(h, c)``, batch along dim 1."""

    arch = "lstm"
    Spec = LSTMSpec
    state_batch_dim = 1

    def __init__(self, spec: LSTMSpec):
        super().__init__(spec)
        self.embedding = nn.Embedding(spec.vocab_size, spec.embed_dim)
        self.lstm = nn.LSTM(spec.embed_dim, spec.hidden_dim, spec.num_layers, batch_first=True,
                            dropout=spec.dropout if spec.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(spec.dropout)
        self.head = nn.Linear(spec.hidden_dim, spec.vocab_size)

    @classmethod
    def spec_from_config(cls, vocab_size: int, max_len: int, cfg: Any) -> LSTMSpec:
        return LSTMSpec(vocab_size=vocab_size, embed_dim=cfg.embed_dim, hidden_dim=cfg.hidden_dim,
                        num_layers=cfg.num_layers, dropout=cfg.dropout, max_len=max_len)

    def forward(self, inputs: torch.Tensor, state: State | None = None
                ) -> tuple[torch.Tensor, State]:
        out, state = self.lstm(self.drop(self.embedding(inputs)), state)
        return self.masked_(self.head(self.drop(out))), state

    def step(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        out, state = self.lstm(self.drop(self.embedding(tokens.unsqueeze(1))), state)
        return self.head_logits(self.drop(out[:, 0])), state

    def after_copy(self) -> None:
        self.lstm.flatten_parameters()

    def token_nll(self, targets: torch.Tensor) -> torch.Tensor:
        """Per-position NLL (B, W); 0 at padding. The LSTM runs up to the longest row and the
        vocabulary head (most of the FLOPs, forward and backward) only on the real positions:
        a batch of samples is mostly <pad> (SeqGAN's policy gradient: ~3x less head work on
        COCO). Same values as teacher forcing over the full width, up to float rounding."""
        b, width = targets.shape
        real = targets != PAD_ID
        w = int(real.any(dim=0).nonzero().max()) + 1 if bool(real.any()) else 1
        h, _ = self.lstm(self.drop(self.embedding(self.shift_right(targets[:, :w]))))
        idx = real[:, :w].reshape(-1).nonzero().squeeze(1)
        h = self.drop(h.reshape(-1, h.shape[-1]).index_select(0, idx))
        logits = self.masked_head(h)
        nll = F.cross_entropy(logits, targets[:, :w].reshape(-1)[idx].long(), reduction="none")
        out = torch.zeros(b * w, dtype=nll.dtype, device=targets.device).index_put((idx,), nll)
        return F.pad(out.view(b, w), (0, width - w))

    def nll(self, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(sum of NLL over real tokens incl. <eos>, number of those tokens).

        The training/evaluation path: rows are packed (``pack_padded_sequence``) so the LSTM and
        the vocabulary head only see real positions; most rows are far shorter than the fixed
        width, and <pad> positions carry no loss anyway. Relies on the encoding layout (real
        tokens form a prefix of each row); equals ``token_nll(targets).sum()`` up to float order.
        """
        lengths = (targets != PAD_ID).sum(dim=1)
        keep = lengths > 0
        if not bool(keep.all()):  # an all-<pad> row has nothing to score (and packing refuses it)
            targets, lengths = targets[keep], lengths[keep]
        count = int(lengths.sum())
        if count == 0:
            return torch.zeros((), device=targets.device), 0
        lengths = lengths.cpu()
        emb = self.drop(self.embedding(self.shift_right(targets)))
        out, _ = self.lstm(pack_padded_sequence(emb, lengths, batch_first=True,
                                                enforce_sorted=False))
        gold = pack_padded_sequence(targets, lengths, batch_first=True, enforce_sorted=False).data
        features = self.drop(out.data)
        # the head and the loss over at most VOCAB_WIDE_ELEMENTS logits at a time (one pass
        # below it: the figures made so far); the LSTM's features are only H wide
        rows = vocab_wide_rows(self.spec.vocab_size)
        total = sum(F.cross_entropy(self.masked_(self.head(features[lo:lo + rows])),
                                    gold[lo:lo + rows].long(), reduction="sum")
                    for lo in range(0, count, rows))
        if count > rows:
            release_after_passes()
        return total, count
