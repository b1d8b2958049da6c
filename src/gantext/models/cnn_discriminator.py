"""CNN text discriminator (SeqGAN / RelGAN style; ``model.discriminator.arch: cnn``, the default).

Convolutions of widths ``kernel_sizes`` (2-5 tokens by default) over the embedded row, max over
time, a highway layer, dropout, one score. It sees windows of a few tokens: agreement across a
clause is outside any single window. The protocol (ids or soft one-hots, raw scores,
``score_embedded``) is :class:`gantext.models.discriminator_base.TextDiscriminator`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from torch.nn.utils import parametrize

from gantext.models.discriminator_base import TextDiscriminator
from gantext.text.vocab import PAD_ID


@dataclass(frozen=True)
class DiscriminatorSpec:
    """Everything needed to rebuild the module (stored in checkpoints as a plain dict)."""

    vocab_size: int
    embed_dim: int = 64
    kernel_sizes: tuple[int, ...] = (2, 3, 4, 5)
    num_filters: int = 64
    dropout: float = 0.25
    spectral_norm: bool = False


class Highway(nn.Module):
    """One highway layer: gate * relu(W x) + (1 - gate) * x (Srivastava et al., 2015)."""

    def __init__(self, dim: int, wrap):
        super().__init__()
        self.transform = wrap(nn.Linear(dim, dim))
        self.gate = wrap(nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.gate(x))
        return g * F.relu(self.transform(x)) + (1.0 - g) * x


class Discriminator(TextDiscriminator):
    """Embedding -> convolutions of several widths -> max over time -> highway -> dropout -> score."""

    arch = "cnn"
    Spec = DiscriminatorSpec

    def __init__(self, spec: DiscriminatorSpec):
        if not spec.kernel_sizes:
            raise ValueError("the discriminator needs at least one kernel size")
        super().__init__(spec)
        self.convs = nn.ModuleList(
            self.wrap(nn.Conv1d(spec.embed_dim, spec.num_filters, k)) for k in spec.kernel_sizes)
        features = spec.num_filters * len(spec.kernel_sizes)
        self.highway = Highway(features, self.wrap)
        self.drop = nn.Dropout(spec.dropout)
        self.out = self.wrap(nn.Linear(features, 1))

    @classmethod
    def spec_from_config(cls, vocab_size: int, cfg: Any) -> DiscriminatorSpec:
        return DiscriminatorSpec(vocab_size=vocab_size, embed_dim=cfg.embed_dim,
                                 kernel_sizes=tuple(cfg.kernel_sizes), num_filters=cfg.num_filters,
                                 dropout=cfg.dropout, spectral_norm=cfg.spectral_norm)

    def score_embedded(self, e: torch.Tensor) -> torch.Tensor:
        with parametrize.cached():
            return self._score_cut(e, e.shape[1], e.shape[1])

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        width, kmax = x.shape[1], max(self.spec.kernel_sizes)
        last = width
        if x.dim() == 2 and width > kmax:
            # Rows are mostly <pad> after <eos>. Windows starting after the last column holding
            # a real token in any row are all-<pad>, hence identical: convolve only up to there
            # and add that window's (constant) feature to the max. Exact, and 2-3x less work.
            used = (x != PAD_ID).any(dim=0).nonzero()
            last = int(used.max()) if len(used) else -1
            x = x[:, :min(width, last + kmax)]
        return self._score_cut(self.embed(x), width, last)

    def _score_cut(self, e: torch.Tensor, width: int, last: int) -> torch.Tensor:
        """Score of embeddings (B, T', D) of rows `width` wide whose columns after `last` are
        all <pad> and were cut when T' < width (their windows' constant feature is added back)."""
        kmax = max(self.spec.kernel_sizes)
        e = e.transpose(1, 2)  # (B, D, T) for Conv1d
        short = kmax - e.shape[-1]
        if short > 0:  # sequences narrower than the widest kernel: pad on the right
            e = F.pad(e, (0, short))
        pooled = []
        for k, conv in zip(self.spec.kernel_sizes, self.convs):
            feat = F.relu(conv(e)).amax(dim=-1)  # max over time
            if e.shape[-1] < width and width - k >= last + 1:  # all-<pad> windows were cut
                pad_window = self.embedding[PAD_ID].view(1, -1, 1).expand(1, -1, k)
                feat = torch.maximum(feat, F.relu(conv(pad_window)).view(1, -1))
            pooled.append(feat)
        h = self.highway(torch.cat(pooled, dim=-1))
        return self.out(self.drop(h)).squeeze(-1)
