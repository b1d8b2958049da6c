"""The discriminator protocol: what every D architecture implements (``model.discriminator.arch``).

An architecture is one file with a :class:`TextDiscriminator` subclass registered in
:data:`gantext.models.discriminator.DISCRIMINATORS`. Every one of them

- embeds its input through a bare ``embedding`` parameter (V, D): ids (B, T) index it, (soft)
  one-hot rows (B, T, V) multiply it, so gradients flow back into a generator that emits
  Gumbel-softmax rows, and WGAN-GP's penalty can be taken in the embedding space
  (:meth:`score_embedded`, the critic as a function of :meth:`embed`'s output);
- returns raw scores (a logit for the BCE objectives, the critic value for WGAN-GP), never a
  probability: :meth:`forward` one per row;
- optionally scores every prefix (:attr:`scores_prefixes`; :meth:`prefix_scores` (B, T): the
  score of ``x[:, :t + 1]`` at t), for objectives with per-token rewards (scratchgan);
- has a frozen ``Spec`` dataclass (``vocab_size``, ``embed_dim``, ``dropout``,
  ``spectral_norm`` and its own keys) stored in checkpoints as a plain dict with ``arch``, and
  optionally ``config``, its ``model.discriminator.<arch>`` section.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


class TextDiscriminator(nn.Module):
    """Base class of every discriminator architecture (see the module docstring)."""

    #: registry key (``model.discriminator.arch``), stored in checkpoints
    arch: ClassVar[str] = ""
    #: the frozen dataclass that rebuilds the module
    Spec: ClassVar[type]
    #: the architecture's own params section under ``model.discriminator`` (None: shared keys)
    config: ClassVar[type | None] = None
    #: whether :meth:`prefix_scores` is available (a score for every prefix of a row)
    scores_prefixes: ClassVar[bool] = False

    def __init__(self, spec: Any):
        super().__init__()
        self.spec = spec
        # A bare parameter, not nn.Embedding: ids index it, soft one-hots multiply it.
        self.embedding = nn.Parameter(torch.randn(spec.vocab_size, spec.embed_dim) * 0.1)

    @classmethod
    def spec_from_config(cls, vocab_size: int, cfg: Any) -> Any:
        """The spec for a vocabulary and the ``model.discriminator`` config."""
        raise NotImplementedError

    def wrap(self, module: nn.Module) -> nn.Module:
        """`module` under spectral normalisation when the spec asks for it (its weight's
        largest singular value held at 1: D regularisation, Miyato et al. 2018)."""
        return _spectral_norm(module) if self.spec.spectral_norm else module

    @property
    def spec_dict(self) -> dict:
        d = {"arch": self.arch, **asdict(self.spec)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """ids (B, T) or one-hot distributions (B, T, V) -> embeddings (B, T, D)."""
        if x.dim() == 2:
            return F.embedding(x.long(), self.embedding)
        if x.dim() == 3 and x.shape[-1] == self.spec.vocab_size:
            return x.to(self.embedding.dtype) @ self.embedding
        raise ValueError(f"discriminator input must be ids (B, T) or one-hots (B, T, "
                         f"{self.spec.vocab_size}); got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score (B,) for each row: higher = more real. No sigmoid."""
        # One spectral-norm power iteration per forward, however often a weight is used in it.
        with parametrize.cached():
            return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._score(self.embed(x))

    def score_embedded(self, e: torch.Tensor) -> torch.Tensor:
        """Score (B,) of rows given as their embeddings (B, T, D), i.e. :meth:`embed`'s output:
        the critic as a function of the embedded point (WGAN-GP's penalty is taken there)."""
        with parametrize.cached():
            return self._score(e)

    def _score(self, e: torch.Tensor) -> torch.Tensor:
        return self._positions(e, last_only=True).squeeze(-1)

    def _positions(self, e: torch.Tensor, last_only: bool) -> torch.Tensor:
        """A prefix scorer's scores of embedded rows (B, T, D): (B, T), or (B, 1) for the whole
        rows only. A D that scores whole rows only overrides :meth:`_score` instead."""
        raise NotImplementedError

    def prefix_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (B, T): at t, the score of the prefix ``x[:, :t + 1]`` (it sees nothing after
        t). Only where :attr:`scores_prefixes`."""
        if not self.scores_prefixes:
            raise NotImplementedError(f"the {self.arch!r} discriminator scores whole rows only")
        with parametrize.cached():
            return self._positions(self.embed(x), last_only=False)


def pooled(h: torch.Tensor, last_only: bool) -> torch.Tensor:
    """Max over time of per-position features h (B, T, H), for every prefix (B, T, H: the
    running max up to t) or, with `last_only`, for the whole row (B, 1, H). The sequential Ds
    score the pooled features: a feature that fires anywhere in the row (a disagreeing verb)
    counts, where reading the last position alone had to carry it through the <pad> tail
    (measured: an LSTM D took 150 steps to separate ordered from random rows that way)."""
    return h.amax(dim=1, keepdim=True) if last_only else h.cummax(dim=1).values
