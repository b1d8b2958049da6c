"""Transformer discriminator (``model.discriminator.arch: transformer``).

Embedding (projected to ``d_model`` when the widths differ) -> pre-norm causal self-attention
blocks (the generator's :class:`gantext.models.transformer.Block`) with rotary positions (no
position table, so no maximum length) -> final norm -> dropout -> a score per position. Position
t attends to every token up to t: its score is the one of the prefix up to t
(:meth:`prefix_scores`, for per-token rewards), and the row's score is the last column's, which
attends to the whole row; a verb's position attends back to its subject however far it is
(the CNN's windows span 2-5 tokens). ``spectral_norm`` applies to every linear layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gantext.configfields import param
from gantext.errors import ConfigError
from gantext.models.discriminator_base import TextDiscriminator, pooled
from gantext.models.transformer import Block, rotate


@dataclass(frozen=True)
class TransformerDiscriminatorConfig:
    """Transformer discriminator settings (``model.discriminator.transformer``)."""

    d_model: int = param(64, ge=1, help="residual width (= heads x head size)")
    num_layers: int = param(2, ge=1)
    num_heads: int = param(4, ge=1, help="d_model must be a multiple; the head size even")
    ff_dim: int = param(256, ge=1)

    def __post_init__(self) -> None:
        head = self.d_model // self.num_heads
        if self.d_model % self.num_heads or head % 2:
            raise ConfigError(f"params keys 'model.discriminator.transformer.d_model' "
                              f"({self.d_model}) and '.num_heads' ({self.num_heads}): d_model must "
                              "be a multiple of num_heads with an even head size (rotary positions)")


@dataclass(frozen=True)
class TransformerDiscriminatorSpec:
    """Everything needed to rebuild the module (stored in checkpoints as a plain dict)."""

    vocab_size: int
    embed_dim: int = 64
    d_model: int = 64
    num_layers: int = 2
    num_heads: int = 4
    ff_dim: int = 256
    dropout: float = 0.25
    spectral_norm: bool = False


class TransformerDiscriminator(TextDiscriminator):
    """Causal pre-norm transformer with a score per position; the row's score is the last."""

    arch = "transformer"
    Spec = TransformerDiscriminatorSpec
    config = TransformerDiscriminatorConfig
    scores_prefixes = True

    def __init__(self, spec: TransformerDiscriminatorSpec):
        super().__init__(spec)
        d = spec.d_model
        self.head_size = d // spec.num_heads
        if d % spec.num_heads or self.head_size % 2:
            raise ValueError(f"d_model ({d}) must be a multiple of num_heads ({spec.num_heads}) "
                             "with an even head size")
        self.input_proj = (self.wrap(nn.Linear(spec.embed_dim, d, bias=False))
                           if spec.embed_dim != d else nn.Identity())
        self.blocks = nn.ModuleList(Block(d, spec.ff_dim, spec.dropout)
                                    for _ in range(spec.num_layers))
        for blk in self.blocks:
            blk.qkv, blk.proj = self.wrap(blk.qkv), self.wrap(blk.proj)
            blk.ff[0], blk.ff[2] = self.wrap(blk.ff[0]), self.wrap(blk.ff[2])
        self.ln_f = nn.LayerNorm(d)
        self.drop = nn.Dropout(spec.dropout)
        self.out = self.wrap(nn.Linear(d, 1))
        half = self.head_size // 2
        self.register_buffer("_inv_freq", 1.0 / (10000.0 ** (torch.arange(half) / half)),
                             persistent=False)

    @classmethod
    def spec_from_config(cls, vocab_size: int, cfg: Any) -> TransformerDiscriminatorSpec:
        t = cfg.transformer
        return TransformerDiscriminatorSpec(
            vocab_size=vocab_size, embed_dim=cfg.embed_dim, d_model=t.d_model,
            num_layers=t.num_layers, num_heads=t.num_heads, ff_dim=t.ff_dim, dropout=cfg.dropout,
            spectral_norm=cfg.spectral_norm)

    def _positions(self, e: torch.Tensor, last_only: bool) -> torch.Tensor:
        b, t, _ = e.shape
        angles = torch.arange(t, device=e.device, dtype=torch.float32)[:, None] * self._inv_freq
        cos, sin = angles.cos().to(e.dtype), angles.sin().to(e.dtype)
        x = self.drop(self.input_proj(e))
        h, dh = self.spec.num_heads, self.head_size
        future = torch.ones(t, t, dtype=torch.bool, device=e.device).triu_(1)
        for blk in self.blocks:
            q, k, v = blk.qkv(blk.ln1(x)).view(b, t, 3, h, dh).permute(2, 0, 3, 1, 4)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            p = blk.attn_drop.p if self.training else 0.0
            # written out, not the fused kernel: WGAN-GP's penalty differentiates D's gradient
            # (the CPU flash-attention backward has no derivative of its own)
            scores = (q @ k.transpose(-1, -2)) * dh ** -0.5
            weights = F.dropout(torch.softmax(scores.masked_fill(future, -math.inf), -1), p,
                                self.training)
            o = weights @ v
            x = x + blk.resid_drop(blk.proj(o.transpose(1, 2).reshape(b, t, -1)))
            x = x + blk.resid_drop(blk.ff(blk.ln2(x)))
        return self.out(self.drop(pooled(self.ln_f(x), last_only))).squeeze(-1)
