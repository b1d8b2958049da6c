"""CNN text discriminator (SeqGAN / RelGAN style) over token ids or (soft) one-hot sequences.

The same module serves every objective: it returns a raw score (a logit for the BCE objectives,
the critic value for WGAN-GP), never a probability. Feeding it one-hot rows ``(B, T, V)`` instead
of ids ``(B, T)`` computes the embedding as ``one_hot @ E``, so gradients flow from D back into
a generator that emits Gumbel-softmax relaxed one-hots.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

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


class Discriminator(nn.Module):
    """Embedding -> convolutions of several widths -> max over time -> highway -> dropout -> score."""

    def __init__(self, spec: DiscriminatorSpec):
        super().__init__()
        if not spec.kernel_sizes:
            raise ValueError("the discriminator needs at least one kernel size")
        self.spec = spec
        wrap = _spectral_norm if spec.spectral_norm else (lambda m: m)
        # A bare parameter, not nn.Embedding: ids index it, soft one-hots multiply it.
        self.embedding = nn.Parameter(torch.randn(spec.vocab_size, spec.embed_dim) * 0.1)
        self.convs = nn.ModuleList(
            wrap(nn.Conv1d(spec.embed_dim, spec.num_filters, k)) for k in spec.kernel_sizes)
        features = spec.num_filters * len(spec.kernel_sizes)
        self.highway = Highway(features, wrap)
        self.drop = nn.Dropout(spec.dropout)
        self.out = wrap(nn.Linear(features, 1))

    @property
    def spec_dict(self) -> dict:
        d = asdict(self.spec)
        d["kernel_sizes"] = list(d["kernel_sizes"])
        return d

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """ids (B, T) or one-hot distributions (B, T, V) -> embeddings (B, T, D)."""
        if x.dim() == 2:
            return F.embedding(x.long(), self.embedding)
        if x.dim() == 3 and x.shape[-1] == self.spec.vocab_size:
            return x.to(self.embedding.dtype) @ self.embedding
        raise ValueError(f"discriminator input must be ids (B, T) or one-hots (B, T, "
                         f"{self.spec.vocab_size}); got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score (B,) for each sequence: higher = more real. No sigmoid."""
        # One spectral-norm power iteration per forward, however often a weight is used in it.
        with parametrize.cached():
            return self._forward(x)

    def score_embedded(self, e: torch.Tensor) -> torch.Tensor:
        """Score (B,) of rows given as their embeddings (B, T, D), i.e. :meth:`embed`'s output:
        the critic as a function of the embedded point (WGAN-GP's penalty is taken there)."""
        with parametrize.cached():
            return self._score(e, e.shape[1], e.shape[1])

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
        return self._score(self.embed(x), width, last)

    def _score(self, e: torch.Tensor, width: int, last: int) -> torch.Tensor:
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


def build_discriminator(spec: DiscriminatorSpec | dict) -> Discriminator:
    """Discriminator from a spec or its plain-dict form (as stored in checkpoints)."""
    if isinstance(spec, dict):
        spec = DiscriminatorSpec(**{**spec, "kernel_sizes": tuple(spec.get("kernel_sizes", (2, 3, 4, 5)))})
    return Discriminator(spec)
