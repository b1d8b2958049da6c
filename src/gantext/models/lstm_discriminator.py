"""Recurrent discriminator (``model.discriminator.arch: lstm``), ScratchGAN-style.

Embedding -> LSTM (left to right) -> dropout -> linear score at every position. The score at
position t reads the prefix up to t (:meth:`prefix_scores`: ScratchGAN's per-prefix D); the
row's score is the one at its last column, after the LSTM has read the whole row (its <eos> and
the <pad> that follows, as real and generated rows both have them). Unlike the CNN's windows of
2-5 tokens, the state carries the whole prefix (agreement across a clause is within its sight).
``spectral_norm`` applies to the output layer (not the LSTM's weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gantext.configfields import param
from gantext.models.discriminator_base import TextDiscriminator, pooled


@dataclass(frozen=True)
class LSTMDiscriminatorConfig:
    """LSTM discriminator settings (``model.discriminator.lstm``)."""

    hidden_dim: int = param(128, ge=1, help="LSTM units per layer")
    num_layers: int = param(1, ge=1)


@dataclass(frozen=True)
class LSTMDiscriminatorSpec:
    """Everything needed to rebuild the module (stored in checkpoints as a plain dict)."""

    vocab_size: int
    embed_dim: int = 64
    hidden_dim: int = 128
    num_layers: int = 1
    dropout: float = 0.25
    spectral_norm: bool = False


class LSTMDiscriminator(TextDiscriminator):
    """Embedding -> LSTM -> dropout -> a score per position; the row's score is the last one."""

    arch = "lstm"
    Spec = LSTMDiscriminatorSpec
    config = LSTMDiscriminatorConfig
    scores_prefixes = True

    def __init__(self, spec: LSTMDiscriminatorSpec):
        super().__init__(spec)
        self.lstm = nn.LSTM(spec.embed_dim, spec.hidden_dim, spec.num_layers, batch_first=True,
                            dropout=spec.dropout if spec.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(spec.dropout)
        self.out = self.wrap(nn.Linear(spec.hidden_dim, 1))

    @classmethod
    def spec_from_config(cls, vocab_size: int, cfg: Any) -> LSTMDiscriminatorSpec:
        return LSTMDiscriminatorSpec(vocab_size=vocab_size, embed_dim=cfg.embed_dim,
                                     hidden_dim=cfg.lstm.hidden_dim, num_layers=cfg.lstm.num_layers,
                                     dropout=cfg.dropout, spectral_norm=cfg.spectral_norm)

    def _positions(self, e: torch.Tensor, last_only: bool) -> torch.Tensor:
        h, _ = self.lstm(self.drop(e))
        return self.out(self.drop(pooled(h, last_only))).squeeze(-1)

    def score_embedded(self, e: torch.Tensor) -> torch.Tensor:
        # WGAN-GP's penalty differentiates this score's gradient: cuDNN's LSTM has no double
        # backward, the native kernel does
        with torch.backends.cudnn.flags(enabled=False):
            return super().score_embedded(e)
