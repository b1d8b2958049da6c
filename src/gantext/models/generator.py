"""LSTM language-model generator: teacher-forced NLL, batched sampling, Gumbel-softmax relaxation.

Rows follow the encoding contract of :mod:`gantext.text.vocab`: tokens, ``<eos>``, ``<pad>``...
in a fixed width ``max_len + 1``; ``<bos>`` is prepended here and never stored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID

State = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything needed to rebuild the module (stored in checkpoints as a plain dict)."""

    vocab_size: int
    embed_dim: int = 64
    hidden_dim: int = 128
    num_layers: int = 1
    dropout: float = 0.0


def gumbel_like(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard Gumbel noise shaped like `logits` (no grad), drawn from `generator` on the
    generator's own device (a CPU generator keeps CUDA runs seedable), moved to `logits`' device."""
    dev = generator.device if generator is not None else logits.device
    u = torch.rand(logits.shape, generator=generator, device=dev, dtype=torch.float32)
    # clamp keeps log(0) out: u in (tiny, 1).
    u = u.clamp_(torch.finfo(torch.float32).tiny, 1.0 - 1e-7)
    return (-torch.log(-torch.log(u))).to(device=logits.device, dtype=logits.dtype)


class Generator(nn.Module):
    """Embedding -> LSTM -> linear head over the vocabulary."""

    def __init__(self, spec: GeneratorSpec):
        super().__init__()
        self.spec = spec
        self.embedding = nn.Embedding(spec.vocab_size, spec.embed_dim)
        self.lstm = nn.LSTM(spec.embed_dim, spec.hidden_dim, spec.num_layers, batch_first=True,
                            dropout=spec.dropout if spec.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(spec.dropout)
        self.head = nn.Linear(spec.hidden_dim, spec.vocab_size)
        # <pad> and <bos> are never valid outputs: sampling masks them out.
        never = torch.zeros(spec.vocab_size)
        never[[PAD_ID, BOS_ID]] = float("-inf")
        self.register_buffer("_never", never, persistent=False)

    @property
    def spec_dict(self) -> dict:
        return asdict(self.spec)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, inputs: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """inputs: (B, T) ids -> logits (B, T, V) and the final LSTM state."""
        out, state = self.lstm(self.drop(self.embedding(inputs)), state)
        return self.head(self.drop(out)), state

    def shift_right(self, targets: torch.Tensor) -> torch.Tensor:
        """Model inputs for targets: <bos> followed by targets[:, :-1]."""
        bos = torch.full_like(targets[:, :1], BOS_ID)
        return torch.cat([bos, targets[:, :-1]], dim=1)

    def token_nll(self, targets: torch.Tensor) -> torch.Tensor:
        """Per-position NLL (B, W) of encoded rows; 0 at padding (the mask is ``targets != <pad>``)."""
        logits, _ = self(self.shift_right(targets))
        return F.cross_entropy(logits.transpose(1, 2), targets.long(), ignore_index=PAD_ID,
                               reduction="none")

    def nll(self, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(sum of NLL over real tokens incl. <eos>, number of those tokens)."""
        nll = self.token_nll(targets)
        return nll.sum(), int((targets != PAD_ID).sum())

    # ------------------------------------------------------------------ step-wise
    def step(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One time step: tokens (B,) -> logits (B, V), new state."""
        out, state = self.lstm(self.drop(self.embedding(tokens.unsqueeze(1))), state)
        return self.head(self.drop(out[:, 0])), state

    def _masked(self, logits: torch.Tensor) -> torch.Tensor:
        return logits + self._never

    @torch.no_grad()
    def sample(self, n: int, max_len: int, temperature: float = 1.0,
               generator: torch.Generator | None = None, batch_size: int = 1024
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral sampling of `n` rows (n, max_len + 1) in the encoding layout, and their lengths.

        Batched over sentences (one Python iteration per time step, none per sentence); the last
        position is always <eos>. Call ``eval()`` first to disable dropout. Noise comes from
        `generator` (a CPU generator is fine for any device).
        """
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        rows, lens = [], []
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            ids = self._sample_batch(b, max_len, temperature, generator)
            rows.append(ids)
            lens.append(torch.argmax((ids == EOS_ID).int(), dim=1))
        if not rows:
            w = max_len + 1
            return torch.zeros(0, w, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        return torch.cat(rows), torch.cat(lens)

    def _sample_batch(self, b: int, max_len: int, temperature: float,
                      generator: torch.Generator | None) -> torch.Tensor:
        dev = self.device
        out = torch.full((b, max_len + 1), PAD_ID, dtype=torch.long, device=dev)
        tok = torch.full((b,), BOS_ID, dtype=torch.long, device=dev)
        done = torch.zeros(b, dtype=torch.bool, device=dev)
        state = None
        for t in range(max_len + 1):
            if t == max_len:
                nxt = torch.full_like(tok, EOS_ID)
            else:
                logits, state = self.step(tok, state)
                logits = self._masked(logits.float() / temperature)
                noise = gumbel_like(logits, generator)
                nxt = torch.argmax(logits + noise, dim=-1)  # Gumbel-max == categorical sampling
            out[:, t] = torch.where(done, torch.full_like(nxt, PAD_ID), nxt)
            done = done | (nxt == EOS_ID)
            tok = nxt
            if bool(done.all()):
                break
        return out

    def sample_relaxed(self, n: int, max_len: int, beta: float,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gumbel-softmax sequences for the continuous GAN objectives (RelGAN).

        Returns (soft, hard): soft (n, max_len + 1, V) = softmax(beta * (logits + g)), which carries
        gradients into the generator; hard (n, max_len + 1) = argmax(logits + g), the discrete
        sequence fed back as the next input. Positions after <eos> are exact one-hot <pad>, the
        last position is a forced one-hot <eos> if the row has not ended, matching real rows.
        """
        dev = self.device
        V = self.spec.vocab_size
        tok = torch.full((n,), BOS_ID, dtype=torch.long, device=dev)
        done = torch.zeros(n, dtype=torch.bool, device=dev)
        state = None
        softs, hards = [], []
        pad_1h = F.one_hot(torch.tensor(PAD_ID, device=dev), V).float()
        eos_1h = F.one_hot(torch.tensor(EOS_ID, device=dev), V).float()
        for t in range(max_len + 1):
            if t == max_len:
                hard = torch.full_like(tok, EOS_ID)
                soft = eos_1h.expand(n, V)
            else:
                logits, state = self.step(tok, state)
                logits = self._masked(logits)
                noise = gumbel_like(logits, generator)
                y = logits + noise
                hard = torch.argmax(y.detach(), dim=-1)
                soft = torch.softmax(beta * y, dim=-1)
            hard = torch.where(done, torch.full_like(hard, PAD_ID), hard)
            soft = torch.where(done.unsqueeze(1), pad_1h.expand(n, V), soft)
            softs.append(soft)
            hards.append(hard)
            done = done | (hard == EOS_ID)
            tok = hard
        return torch.stack(softs, dim=1), torch.stack(hards, dim=1)


def build_generator(spec: GeneratorSpec | dict) -> Generator:
    """Generator from a spec or its plain-dict form (as stored in checkpoints)."""
    if isinstance(spec, dict):
        spec = GeneratorSpec(**spec)
    return Generator(spec)
