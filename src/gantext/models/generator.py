"""LSTM language-model generator: teacher-forced NLL, batched sampling, Gumbel-softmax relaxation.

Rows follow the encoding contract of :mod:`gantext.text.vocab`: tokens, ``<eos>``, ``<pad>``...
in a fixed width ``max_len + 1``; ``<bos>`` is prepended here and never stored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID

State = tuple[torch.Tensor, torch.Tensor]

# Logit given to <pad>/<bos>, which are never valid outputs. Finite on purpose: -inf would turn
# `probs * log_probs` style expressions (entropies, relaxed objectives) into NaN via 0 * -inf,
# while exp(-1e9) is exactly 0 in float32, so the masked distribution is exact.
_NEVER_LOGIT = -1e9


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything needed to rebuild the module (stored in checkpoints as a plain dict)."""

    vocab_size: int
    embed_dim: int = 64
    hidden_dim: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    #: tokens per sentence before <eos> the model was trained on (row width - 1); the default
    #: length for :meth:`Generator.sample`. None in specs written before it was recorded.
    max_len: int | None = None


def gumbel_like(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard Gumbel noise shaped like `logits` (no grad), drawn from `generator` on the
    generator's own device (a CPU generator keeps CUDA runs seedable), moved to `logits`' device."""
    dev = generator.device if generator is not None else logits.device
    u = torch.rand(logits.shape, generator=generator, device=dev, dtype=torch.float32)
    # clamp keeps log(0) out: u in (tiny, 1).
    u = u.clamp_(torch.finfo(torch.float32).tiny, 1.0 - 1e-7)
    return (-torch.log(-torch.log(u))).to(device=logits.device, dtype=logits.dtype)


class Generator(nn.Module):
    """Embedding -> LSTM -> linear head over the vocabulary.

    The head's logits for ``<pad>`` and ``<bos>`` are pinned to a huge negative value everywhere
    (training, NLL, sampling), so the distribution whose NLL we report is exactly the one we sample.
    """

    def __init__(self, spec: GeneratorSpec):
        super().__init__()
        self.spec = spec
        self.embedding = nn.Embedding(spec.vocab_size, spec.embed_dim)
        self.lstm = nn.LSTM(spec.embed_dim, spec.hidden_dim, spec.num_layers, batch_first=True,
                            dropout=spec.dropout if spec.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(spec.dropout)
        self.head = nn.Linear(spec.hidden_dim, spec.vocab_size)
        never = torch.zeros(spec.vocab_size, dtype=torch.bool)
        never[[PAD_ID, BOS_ID]] = True
        self.register_buffer("_never", never, persistent=False)

    @property
    def spec_dict(self) -> dict:
        return asdict(self.spec)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def set_dropout(self, p: float) -> None:
        """Set every dropout probability of the module (dropout layers and the LSTM's
        inter-layer dropout) to `p`, keeping train mode (cuDNN's LSTM backward needs it)."""
        for m in self.modules():
            if isinstance(m, nn.Dropout):
                m.p = p
            elif isinstance(m, nn.RNNBase):
                m.dropout = p if m.num_layers > 1 else 0.0

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, inputs: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """inputs: (B, T) ids -> logits (B, T, V) and the final LSTM state."""
        out, state = self.lstm(self.drop(self.embedding(inputs)), state)
        return self._masked(self.head(self.drop(out))), state

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
        logits = self._masked(self.head(self.drop(out.data)))
        gold = pack_padded_sequence(targets, lengths, batch_first=True, enforce_sorted=False).data
        return F.cross_entropy(logits, gold.long(), reduction="sum"), count

    # ------------------------------------------------------------------ step-wise
    def step(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One time step: tokens (B,) -> logits (B, V), new state."""
        out, state = self.lstm(self.drop(self.embedding(tokens.unsqueeze(1))), state)
        return self._masked(self.head(self.drop(out[:, 0]))), state

    def _masked(self, logits: torch.Tensor) -> torch.Tensor:
        """Pin <pad>/<bos> logits to a huge negative value (idempotent)."""
        return logits.masked_fill(self._never, _NEVER_LOGIT)

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None, batch_size: int = 1024
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral sampling of `n` rows (n, max_len + 1) in the encoding layout, and their lengths.

        Batched over sentences (one Python iteration per time step, none per sentence); the last
        position is always <eos>. Call ``eval()`` first to disable dropout. Noise comes from
        `generator` (a CPU generator is fine for any device). `max_len` defaults to the spec's.
        Lengths count real tokens (without <eos>), as :func:`gantext.text.vocab.lengths` does.
        """
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        max_len = self._max_len(max_len)
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
                logits = logits.float() / temperature
                noise = gumbel_like(logits, generator)
                nxt = torch.argmax(logits + noise, dim=-1)  # Gumbel-max == categorical sampling
            out[:, t] = torch.where(done, torch.full_like(nxt, PAD_ID), nxt)
            done = done | (nxt == EOS_ID)
            tok = nxt
            if bool(done.all()):
                break
        return out

    def _max_len(self, max_len: int | None) -> int:
        if max_len is None:
            max_len = self.spec.max_len
        if max_len is None or max_len < 1:
            raise ValueError("max_len must be given (>= 1): this generator's spec does not record it")
        return int(max_len)

    def sample_relaxed(self, n: int, max_len: int | None, beta: float,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gumbel-softmax sequences for the continuous GAN objectives (RelGAN).

        Returns (soft, hard): soft (n, max_len + 1, V) = softmax(beta * (logits + g)), which carries
        gradients into the generator; hard (n, max_len + 1) = argmax(logits + g), the discrete
        sequence fed back as the next input. Positions after <eos> are exact one-hot <pad>, the
        last position is a forced one-hot <eos> if the row has not ended, matching real rows.
        """
        max_len = self._max_len(max_len)
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
