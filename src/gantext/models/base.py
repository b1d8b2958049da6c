"""The generator protocol: what every architecture implements and what they all share.

An architecture (``models/lstm.py``, ``models/relational_memory.py``, ...) is one file with a
:class:`Generator` subclass registered in :data:`gantext.models.generator.GENERATORS`. It provides

- ``Spec``: a frozen dataclass with ``vocab_size``, ``embed_dim``, ``dropout``, ``max_len`` and its
  own settings (stored in checkpoints as a plain dict plus ``arch``, so any saved model rebuilds);
- :meth:`Generator.spec_from_config` (and optionally ``config``, its own ``model.generator``
  params section);
- :meth:`Generator.forward` (teacher-forced logits) and :meth:`Generator.step` (one decoding step
  with an opaque state; ``None`` is the initial state);
- state indexing for rollouts: states are tuples of tensors whose batch dimension is
  :attr:`Generator.state_batch_dim` (override :meth:`index_state`/:meth:`cat_states` otherwise).

Everything else (NLL, the one sampler and decoding loop, the Gumbel-softmax relaxation, dropout
control) is shared here and in :mod:`gantext.models.sampling`. Rows follow the encoding contract
of :mod:`gantext.text.vocab`: tokens, ``<eos>``, ``<pad>``... in a fixed width ``max_len + 1``;
``<bos>`` is prepended here and never stored.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import Any, ClassVar, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from gantext.text.vocab import BOS_ID, PAD_ID

State = Any  # opaque to callers: a tuple of tensors, batch along ``state_batch_dim``

# Logit given to <pad>/<bos>, which are never valid outputs. Finite on purpose: -inf would turn
# `probs * log_probs` style expressions (entropies, relaxed objectives) into NaN via 0 * -inf,
# while exp(-1e9) is exactly 0 in float32, so the masked distribution is exact.
NEVER_LOGIT = -1e9

#: Floats one vocabulary-wide buffer (logits, their log-softmax) may hold when many rows are
#: scored or decoded at once: 2^26 = 256 MiB of fp32. The NLL of a batch and SeqGAN's rollout
#: passes are cut to it: on a 20k-word corpus of 45-token sentences the NLL of one 512-row batch
#: held 1.8 GB of logits and as much again of their log-softmax (pretrain peaked at 7.3 GB RSS).
#: COCO (4,660 words) and the built-in corpus stay under it (their figures are unchanged).
VOCAB_WIDE_ELEMENTS = 2 ** 26


def release_after_passes() -> None:
    """After work cut into :data:`VOCAB_WIDE_ELEMENTS` passes (a large vocabulary: seconds of
    work), hand the kept heap's free pages back (:func:`gantext.runtime.release_freed_memory`):
    passes of each batch's own size leave holes the next batch's do not fit, and the NLL of a
    20k-word split grew the kept heap by 0.6-1.5 GB where plain malloc needed 0.56 GB."""
    from gantext.runtime import release_freed_memory  # (runtime imports config, config this)

    release_freed_memory()


def vocab_wide_rows(vocab_size: int, per_row: int = 1) -> int:
    """Rows of `per_row` positions each whose V-wide floats fit :data:`VOCAB_WIDE_ELEMENTS`."""
    return max(1, VOCAB_WIDE_ELEMENTS // max(1, vocab_size * per_row))


class Generator(nn.Module):
    """Base class of every generator architecture (see the module docstring for the protocol).

    The head's logits for ``<pad>`` and ``<bos>`` are pinned to a huge negative value everywhere
    (training, NLL, sampling), so the distribution whose NLL we report is exactly the one we sample.
    """

    #: registry key (``model.generator.arch``), stored in checkpoints
    arch: ClassVar[str] = ""
    #: the frozen dataclass that rebuilds the module
    Spec: ClassVar[type]
    #: the architecture's own params section under ``model.generator`` (None: shared keys only)
    config: ClassVar[type | None] = None
    #: batch dimension of every tensor in a decoding state
    state_batch_dim: ClassVar[int] = 0

    def __init__(self, spec: Any):
        super().__init__()
        self.spec = spec
        never = torch.zeros(spec.vocab_size, dtype=torch.bool)
        never[[PAD_ID, BOS_ID]] = True
        self.register_buffer("_never", never, persistent=False)

    @classmethod
    def spec_from_config(cls, vocab_size: int, max_len: int, cfg: Any) -> Any:
        """The spec for a vocabulary, a row width and the ``model.generator`` config."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the protocol
    def forward(self, inputs: torch.Tensor, state: State | None = None
                ) -> tuple[torch.Tensor, State]:
        """Teacher forcing: inputs (B, T) ids -> logits (B, T, V) and the final state."""
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One decoding step: tokens (B,) -> logits (B, V) and the new state."""
        raise NotImplementedError

    def index_state(self, state: State, idx: torch.Tensor) -> State:
        """The state of the rows `idx` (a long index or boolean mask over the batch)."""
        if idx.dtype == torch.bool:
            idx = idx.nonzero().squeeze(1)
        return tuple(s.index_select(self.state_batch_dim, idx) for s in state)

    def cat_states(self, states: list[State]) -> State:
        """One state holding the rows of `states` one after the other."""
        return tuple(torch.cat(parts, dim=self.state_batch_dim) for parts in zip(*states))

    def after_copy(self) -> None:
        """Called on a deep copy (SeqGAN's rollout policy): re-pack weights a kernel needs
        contiguous (cuDNN's LSTM)."""

    # ------------------------------------------------------------------ shared
    @property
    def spec_dict(self) -> dict:
        return {"arch": self.arch, **asdict(self.spec)}

    @property
    def device(self) -> torch.device:
        return self._never.device

    def set_dropout(self, p: float) -> None:
        """Set every dropout probability of the module (dropout layers and a recurrent layer's
        inter-layer dropout) to `p`, keeping train mode (cuDNN's LSTM backward needs it)."""
        for m in self.modules():
            if isinstance(m, nn.Dropout):
                m.p = p
            elif isinstance(m, nn.RNNBase):
                m.dropout = p if m.num_layers > 1 else 0.0

    def masked(self, logits: torch.Tensor) -> torch.Tensor:
        """Pin <pad>/<bos> logits to a huge negative value (idempotent); a new tensor."""
        return logits.masked_fill(self._never, NEVER_LOGIT)

    #: dtype of the vocabulary head in :meth:`step` (decoding: sampling, rollouts, relaxed
    #: sequences); None = the weights' own (fp32). Set by :meth:`set_decode_precision` from
    #: ``runtime.precision``; never stored in checkpoints, never used by NLL/teacher forcing.
    decode_dtype: torch.dtype | None = None

    def set_decode_precision(self, dtype: torch.dtype | None) -> "Generator":
        """Run the decoding head (the V-wide matmul, most of a decoding step) in `dtype`.

        Only the head: the recurrent state stays in the weights' precision, so rounding does not
        accumulate over the steps of a sentence. The bf16 logits are rounded to 3 significant
        digits; :mod:`gantext.models.sampling` turns them into fp32 probabilities."""
        self.decode_dtype = dtype
        return self

    def masked_head(self, features: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits of features (N, H) in the weights' precision, the <pad>/<bos> mask
        folded into the bias (a (V,) op instead of a pass over N x V): -1e9 + O(1) rounds to
        -1e9, probability exactly 0 either way. Teacher forcing and fp32 decoding use it."""
        return F.linear(features, self.head.weight, self.masked(self.head.bias))

    def head_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Masked vocabulary logits of decoding features (B, H), at :attr:`decode_dtype`."""
        dt = self.decode_dtype
        if dt is None or dt == self.head.weight.dtype:
            return self.masked_head(features)
        with torch.autocast(features.device.type, enabled=False):  # the dtype is chosen here
            return F.linear(features.to(dt), *self._head_in(dt))

    def _head_in(self, dt: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The head's weight and masked bias in `dt`. Without autograd (sampling, rollouts) the
        cast is kept until the weights change (their in-place version counters move): recasting
        the V x H weight every step was a fifth of a bf16 decoding step at batch 500."""
        weight, bias = self.head.weight, self.head.bias
        if torch.is_grad_enabled() and (weight.requires_grad or bias.requires_grad):
            # differentiable: cast once per decoding call (:meth:`decoding`), else every step
            held = self.__dict__.get("_head_held")
            if held is not None and held[0] == dt:
                return held[1], held[2]
            return weight.to(dt), self.masked(bias).to(dt)
        key = (dt, weight.data_ptr(), weight._version, bias.data_ptr(), bias._version)
        cache = self.__dict__.get("_head_cache")
        if cache is None or cache[0] != key:
            cache = (key, weight.detach().to(dt), self.masked(bias.detach()).to(dt))
            self.__dict__["_head_cache"] = cache  # a plain attribute: not in state_dict
        return cache[1], cache[2]

    @contextlib.contextmanager
    def decoding(self) -> Iterator[None]:
        """One decoding call (the weights do not change inside it): the head's low-precision
        weights are cast once, with their gradient path, and reused by every step."""
        dt = self.decode_dtype
        if dt is None or dt == self.head.weight.dtype or not torch.is_grad_enabled():
            yield
            return
        self.__dict__["_head_held"] = (dt, *self._head_in(dt))
        try:
            yield
        finally:
            self.__dict__.pop("_head_held", None)

    def masked_(self, logits: torch.Tensor) -> torch.Tensor:
        """:meth:`masked` in place, for the head's fresh output: no copy of a tokens x V tensor
        per step (autograd allows it: a linear layer's backward does not read its output)."""
        return logits.masked_fill_(self._never, NEVER_LOGIT)

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
        """(sum of NLL over real tokens incl. <eos>, number of those tokens); columns past the
        longest row are not computed (real tokens form a prefix of each row)."""
        real = targets != PAD_ID
        count = int(real.sum())
        if count == 0:
            return torch.zeros((), device=targets.device), 0
        width = int(real.any(dim=0).nonzero().max()) + 1
        rows = vocab_wide_rows(self.spec.vocab_size, width)
        if rows >= len(targets):  # one pass (every figure committed so far was made this way)
            return self.token_nll(targets[:, :width]).sum(), count
        # (rows, width, V) logits per pass: their sum in float32, chunk by chunk
        total = sum(self.token_nll(targets[lo:lo + rows, :width]).sum()
                    for lo in range(0, len(targets), rows))
        release_after_passes()
        return total, count

    def max_len_or(self, max_len: int | None) -> int:
        """`max_len`, or the spec's when None (an error when neither is known)."""
        if max_len is None:
            max_len = self.spec.max_len
        if max_len is None or max_len < 1:
            raise ValueError("max_len must be given (>= 1): this generator's spec does not record it")
        return int(max_len)

    @torch.no_grad()
    def sample(self, n: int, max_len: int | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None, batch_size: int = 1024
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` rows (n, max_len + 1) in the encoding layout and their lengths: the shared
        sampler (:func:`gantext.models.sampling.sample`). Call ``eval()`` first for no dropout."""
        from gantext.models.sampling import sample

        return sample(self, n, self.max_len_or(max_len), temperature, generator, batch_size)

    def sample_relaxed(self, n: int, max_len: int | None, beta: float,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gumbel-softmax sequences (soft (n, W, V) with gradients, hard (n, W) ids) for the
        relaxed objectives: :func:`gantext.models.sampling.sample_relaxed`."""
        from gantext.models.sampling import sample_relaxed

        return sample_relaxed(self, n, self.max_len_or(max_len), beta, generator)
