"""Discriminator-guided resampling: what the trained discriminator knows, even when the generator
did not learn it.

A discriminator D trained to tell real rows from a generator's samples estimates the density
ratio p_data / p_G = D / (1 - D) = exp(logit) at its optimum. Reweighting a pool of the
generator's samples by that ratio moves them toward the data distribution without training G:

- ``sir`` (sampling-importance-resampling, Rubin 1987): draw a pool of ``pool_factor * n``
  samples, then ``n`` of them with probability proportional to w = exp(alpha * logit);
  ``replace: false`` draws them without replacement instead (Gumbel top-k on log w: no duplicate
  pool entries, a weaker correction);
- ``mh`` (independent Metropolis-Hastings, as MH-GAN, Turner et al. 2019): ``n`` chains of
  ``pool_factor`` proposals each; a chain moves from x to the proposal x' with probability
  min(1, w(x') / w(x)) and returns its last state. MH-GAN starts its chains from a real sample to
  skip burn-in; here a chain starts from its first proposal (no data enters the samples), and
  D is not recalibrated on held-out data (the paper's optional step).

``alpha`` (default 1: the exact ratio) sharpens (> 1) or flattens (< 1) the weights, like DRS's
(Azadi et al., 2019) shift of the acceptance threshold. The selection functions are pure
(numpy, seeded); :class:`DResampled` wraps a generator and D so that the evaluation protocol
samples it like any generator (its own row ``d_resample.*`` and its own quality-diversity curve,
at each sweep temperature the pool is drawn at that temperature). The resampled distribution has
no tractable likelihood: :attr:`DResampled.exact_likelihood` is False and its NLL is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from gantext.configfields import param
from gantext.models.discriminator_base import TextDiscriminator
from gantext.models.generator import Generator

__all__ = ["DResampleConfig", "DResampled", "PoolSelection", "log_weights", "select", "sir", "independent_mh"]

_SCORE_BATCH = 512


@dataclass(frozen=True)
class DResampleConfig:
    """``evaluate.d_resample``: the adversarial stage's D reweights the GAN generator's samples."""

    enabled: bool = param(False, help="add the d_resample row and curve to the evaluation")
    method: Literal["sir", "mh"] = param("sir", help="sir | mh (independent Metropolis-Hastings)")
    pool_factor: int = param(10, ge=1, help="pool size per output sample (mh: chain length)")
    alpha: float = param(1.0, ge=0.0, help="weights exp(alpha * logit); 1 = D / (1 - D)")
    replace: bool = param(True, help="sir: draw with replacement (false: Gumbel top-k)")


def log_weights(logits: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """log w = alpha * logit, w = (D / (1 - D)) ** alpha (float64)."""
    return alpha * np.asarray(logits, dtype=np.float64)


def sir(logw: np.ndarray, n: int, rng: np.random.Generator, replace: bool = True) -> np.ndarray:
    """Indices of `n` draws from the pool with probability proportional to exp(logw).

    With replacement: inverse-CDF draws; without: Gumbel top-k (the n largest logw + Gumbel noise;
    needs n <= pool size)."""
    logw = np.asarray(logw, dtype=np.float64)
    if not replace:
        if n > len(logw):
            raise ValueError(f"cannot draw {n} of {len(logw)} pool samples without replacement")
        keys = logw + rng.gumbel(size=len(logw))
        return np.argsort(-keys, kind="stable")[:n]
    p = np.exp(logw - logw.max())
    cdf = np.cumsum(p)
    return np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right").clip(max=len(logw) - 1)


def independent_mh(logw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """logw (chains, K): proposals of each chain in order. Returns each chain's final state as a
    flat index into ``logw.ravel()`` (chain c's proposals are ``c * K .. c * K + K - 1``)."""
    logw = np.asarray(logw, dtype=np.float64)
    chains, k = logw.shape
    state = np.zeros(chains, dtype=np.int64)
    u = rng.random((chains, k))
    rows = np.arange(chains)
    for j in range(1, k):
        accept = np.log(u[:, j]) < logw[:, j] - logw[rows, state]
        state = np.where(accept, j, state)
    return rows * k + state


def select(logits: np.ndarray, n: int, cfg: DResampleConfig, rng: np.random.Generator
           ) -> np.ndarray:
    """Indices of the `n` kept samples of a pool of ``n * cfg.pool_factor`` with D logits."""
    logw = log_weights(logits, cfg.alpha)
    if len(logw) != n * cfg.pool_factor:
        raise ValueError(f"pool of {len(logw)} for {n} samples x pool_factor {cfg.pool_factor}")
    if cfg.method == "mh":
        return independent_mh(logw.reshape(n, cfg.pool_factor), rng)
    return sir(logw, n, rng, cfg.replace)


class PoolSelection(nn.Module):
    """A generator whose samples are a selection from a pool of its own samples, sampled like a
    generator (``sample(n, max_len, temperature, generator, batch_size)`` -> (rows, lengths)).
    Subclasses say which rows to keep (:meth:`keep`); the pool size is ``n * pool_factor``."""

    #: no tractable likelihood (a selection of a pool): evaluation reports no NLL for this row
    exact_likelihood = False

    def __init__(self, generator: Generator, pool_factor: int):
        super().__init__()
        self.generator, self.pool_factor = generator, pool_factor

    @property
    def device(self) -> torch.device:
        return self.generator.device

    def keep(self, rows: torch.Tensor, lens: torch.Tensor, n: int, rng: np.random.Generator
             ) -> np.ndarray:
        """Indices of the `n` pool rows to keep."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None, batch_size: int = 1024
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` rows kept from a pool of ``n * pool_factor`` drawn at `temperature`; the
        selection's uniforms come from `generator` too, so one seed fixes the result."""
        was = self.generator.training
        self.generator.eval()
        try:
            rows, lens = self.generator.sample(n * self.pool_factor, max_len, temperature,
                                               generator, batch_size)
        finally:
            self.generator.train(was)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator,
                                 device=generator.device if generator is not None else "cpu"))
        idx = torch.as_tensor(self.keep(rows, lens, n, np.random.default_rng(seed)),
                              device=rows.device)
        return rows[idx], lens[idx]


class DResampled(PoolSelection):
    """A generator's samples resampled by a discriminator (module docstring)."""

    def __init__(self, generator: Generator, discriminator: TextDiscriminator, cfg: DResampleConfig):
        super().__init__(generator, cfg.pool_factor)
        self.discriminator, self.cfg = discriminator, cfg

    @torch.no_grad()
    def logits(self, rows: torch.Tensor) -> np.ndarray:
        """D's logits of encoded rows, in eval mode (no dropout)."""
        was = self.discriminator.training
        self.discriminator.eval()
        try:
            out = [self.discriminator(rows[i:i + _SCORE_BATCH]).float().cpu()
                   for i in range(0, len(rows), _SCORE_BATCH)]
        finally:
            self.discriminator.train(was)
        return torch.cat(out).numpy() if out else np.zeros(0)

    def keep(self, rows: torch.Tensor, lens: torch.Tensor, n: int, rng: np.random.Generator
             ) -> np.ndarray:
        return select(self.logits(rows), n, self.cfg, rng)
