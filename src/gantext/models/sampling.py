"""The one sampler and the one decoding loop, shared by evaluation, training and rollouts.

- :func:`categorical`: one sample per row of softmax(logits) by inverse CDF (softmax -> cumsum ->
  searchsorted of ONE uniform per row), instead of Gumbel-max's V uniforms and 2V logarithms.
- :func:`decode`: fills rows from a per-row position onward with any generator's ``step``; rows
  leave the batch as soon as they emit ``<eos>`` (the last position is a forced ``<eos>``). On CPU
  the batch is compacted every step (a host sync costs nothing there); on an accelerator every
  :data:`SYNC_EVERY` steps, finished rows idling in between, so there is no per-step host sync.
- :func:`sample` (ancestral sampling), :func:`sample_relaxed` (Gumbel-softmax, for the relaxed
  objectives) and SeqGAN's rollouts all run :func:`decode`. Each draws its noise for a batch at
  once, per row and position (one uniform; Gumbel: one per token), so a row's tokens do not
  depend on when the batch is compacted.

Random numbers are drawn from the caller's ``torch.Generator`` on that generator's device; pass
one on the model's device (``torch.Generator(device=model.device)``) to keep them there.

The sample stream changed once with this module (it replaced per-step Gumbel-max noise): the same
seed gives other samples than before, hence other evaluation metrics (documented in CHANGELOG.md).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from gantext.models.base import Generator, State
from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID

#: decoding steps between batch compactions on an accelerator (each compaction is a host sync)
SYNC_EVERY = 8

#: :func:`sample` decodes at most this many rows x vocabulary floats per batch (2^22: 16 MiB of
#: logits a step; 214 rows at V = 19.6k, 900 at COCO's 4,660, the builtin corpus keeps its
#: batch size). The batch shrinks every step as rows end, and in the heap the CPU stages keep
#: (runtime.retain_freed_memory) those ever-smaller tensors leave holes: 2,000 samples at
#: V = 19.6k grew it by 1.0 GB in batches of 1,024 rows, by 0.2 GB in batches of 256, in the
#: same time (26.5 s vs 28.1 s). The samples do not depend on the batch size (each row draws
#: its own uniforms, in order, from the one stream; tests/unit/test_generator.py).
SAMPLE_BATCH_ELEMENTS = 2 ** 22

#: pick(logits (A, V), alive rows (A,), positions (A,), finished (A,)) -> tokens (A,)
Pick = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def uniform(shape: tuple[int, ...], rng: torch.Generator | None, device: torch.device
            ) -> torch.Tensor:
    """Uniforms in [0, 1) drawn from `rng` on its own device (so seeded streams do not depend on
    where the model runs when `rng` is a CPU generator), then placed on `device`."""
    dev = rng.device if rng is not None else device
    return torch.rand(shape, generator=rng, device=dev).to(device)


#: rows per softmax/cumsum pass of :func:`categorical` on CPU: a block of 512 x V floats stays in
#: the core's caches between the passes, where one pass over all rows (tens of MB) streams
#: through memory each time. Measured at V = 4,660, 4,096 rows, one core: 86 ms -> 29 ms.
#: Every row is computed on its own either way, so the draws are bit-identical.
CPU_ROW_BLOCK = 512


def categorical(logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """One draw per row of softmax(logits / temperature) (N, V) by inverse CDF, given uniforms
    u (N,) in [0, 1). Logits of any float dtype; the probabilities are fp32. Tokens with
    probability exactly 0 (masked <pad>/<bos>) are never returned."""
    n = logits.shape[0]
    if logits.device.type == "cpu" and n > CPU_ROW_BLOCK:
        out = torch.empty(n, dtype=torch.long)
        for lo in range(0, n, CPU_ROW_BLOCK):
            out[lo:lo + CPU_ROW_BLOCK] = _categorical(logits[lo:lo + CPU_ROW_BLOCK],
                                                      u[lo:lo + CPU_ROW_BLOCK], temperature)
        return out
    return _categorical(logits, u, temperature)


def _categorical(logits: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
    if temperature == 1.0:  # bf16 logits straight into an fp32 softmax: no separate copy pass
        cdf = torch.softmax(logits, dim=-1, dtype=torch.float32)
    else:
        cdf = torch.softmax(logits.float() / temperature, dim=-1)
    cdf = cdf.cumsum_(dim=-1)
    target = (u.to(cdf.dtype) * cdf[:, -1]).unsqueeze(1)
    return torch.searchsorted(cdf, target, right=True).squeeze_(1).clamp_(max=logits.shape[-1] - 1)


@contextlib.contextmanager
def decoding(model: Generator) -> Iterator[None]:
    """The context of one decoding call. It runs outside autocast: under a training pass's bf16
    autocast the recurrent state would be rounded to bf16 at every step and the error would
    build up over a sentence. The head's precision is the generator's own choice
    (:meth:`Generator.set_decode_precision`), its cast made once per call
    (:meth:`Generator.decoding`)."""
    with torch.autocast(model.device.type, enabled=False), model.decoding():
        yield


def sync_every(device: torch.device) -> int:
    """Steps between batch compactions: every step on CPU (a host sync is free there)."""
    return 1 if device.type == "cpu" else SYNC_EVERY


def decode(model: Generator, out: torch.Tensor, pos: torch.Tensor, state: State,
           logits: torch.Tensor, pick: Pick) -> torch.Tensor:
    """Fill each row of `out` (N, W) from position `pos` (N,) onward, in place, and return it.

    `logits` (N, V) and `state` are the model's after the prefix ``out[:, :pos]``. Each step,
    `pick` chooses the tokens of the rows still alive; position W - 1 gets a forced <eos>. The
    caller sets positions >= `pos` to <pad> beforehand: rows keep <pad> after their <eos>."""
    n, width = out.shape
    if n == 0:
        return out
    alive = torch.arange(n, device=out.device)
    done = torch.zeros(n, dtype=torch.bool, device=out.device)
    every = sync_every(out.device)
    steps = width - int(pos.min())
    for i in range(steps):
        tok = pick(logits, alive, pos, done)
        tok = torch.where(pos >= width - 1, torch.full_like(tok, EOS_ID), tok)
        at = pos.clamp(max=width - 1)
        # rows that finished since the last compaction keep what they wrote
        out[alive, at] = torch.where(done, out[alive, at], tok)
        done = done | (tok == EOS_ID)
        if (i + 1) % every == 0:
            keep = (~done).nonzero().squeeze(1)
            if len(keep) == 0:
                break
            if len(keep) < len(alive):
                alive, pos, tok, done = alive[keep], pos[keep], tok[keep], done[keep]
                state = model.index_state(state, keep)
        if i + 1 == steps:
            break
        pos = pos + 1
        logits, state = model.step(tok, state)
    return out


def start(model: Generator, n: int) -> tuple[torch.Tensor, State]:
    """Logits and state after <bos> for `n` rows."""
    return model.step(torch.full((n,), BOS_ID, dtype=torch.long, device=model.device), None)


@torch.no_grad()
def sample(model: Generator, n: int, max_len: int, temperature: float = 1.0,
           rng: torch.Generator | None = None, batch_size: int = 1024
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ancestral sampling of `n` rows (n, max_len + 1) in the encoding layout, and their lengths
    (real tokens, without <eos>, as :func:`gantext.text.vocab.lengths` counts them)."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    width, dev = max_len + 1, model.device
    batch_size = max(1, min(batch_size, SAMPLE_BATCH_ELEMENTS // model.spec.vocab_size))
    rows, lens = [], []
    with decoding(model):
        for first in range(0, n, batch_size):
            b = min(batch_size, n - first)
            u = uniform((b, width), rng, dev)

            def pick(logits, alive, pos, done, u=u):
                return categorical(logits, u[alive, pos.clamp(max=width - 1)], temperature)

            logits, state = start(model, b)
            out = torch.full((b, width), PAD_ID, dtype=torch.long, device=dev)
            first_pos = torch.zeros(b, dtype=torch.long, device=dev)
            ids = decode(model, out, first_pos, state, logits, pick)
            rows.append(ids)
            lens.append(torch.argmax((ids == EOS_ID).int(), dim=1))
    if not rows:
        return torch.zeros(0, width, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(rows), torch.cat(lens)


def sample_relaxed(model: Generator, n: int, max_len: int, beta: float,
                   rng: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Gumbel-softmax sequences for the continuous GAN objectives (RelGAN).

    Returns (soft, hard): soft (n, max_len + 1, V) = softmax(beta * (logits + g)), which carries
    gradients into the generator; hard (n, max_len + 1) = argmax(logits + g), the discrete
    sequence fed back as the next input. Positions after <eos> are exact one-hot <pad>, the
    last position is a forced one-hot <eos> if the row has not ended, matching real rows.
    """
    width, dev, V = max_len + 1, model.device, model.spec.vocab_size
    flat, softs, writes = [], [], []
    # Gumbel noise per (row, position, token), drawn at once: a row's draws do not depend on
    # when the batch is compacted (rows that finish early leave theirs unused)
    u = uniform((n, width, V), rng, dev).clamp_(torch.finfo(torch.float32).tiny, 1.0 - 1e-7)
    gumbel = u.log_().neg_().log_().neg_()

    eos = F.one_hot(torch.tensor(EOS_ID, device=dev), V)
    sync_free = dev.type == "cpu"  # a host sync (reading a flag back) is free there: sync_every

    def pick(logits, alive, pos, done):
        y = logits + gumbel[alive, pos.clamp(max=width - 1)].to(logits.dtype)
        soft = torch.softmax(beta * y, dim=-1)
        last = pos >= width - 1
        # Only the last column is a forced <eos>: on CPU skip the V-wide select at every other
        # step (the same values; it was an eighth of a V = 25k batch's sampling time).
        if not sync_free or bool(last.any()):
            soft = torch.where(last.unsqueeze(1), eos.to(soft), soft)
        softs.append(soft)
        flat.append(alive * width + pos.clamp(max=width - 1))
        writes.append(~done)
        return torch.argmax(y.detach(), dim=-1)

    with decoding(model):
        logits, state = start(model, n)
        out = torch.full((n, width), PAD_ID, dtype=torch.long, device=dev)
        hard = decode(model, out, torch.zeros(n, dtype=torch.long, device=dev), state, logits,
                      pick)
    written, at, rows = torch.cat(writes), torch.cat(flat), torch.cat(softs).float()
    # On CPU the batch is compacted every step, so every picked row is written: skip the
    # (rows x V) gather (and its backward) that would copy them all once more.
    if not (sync_free and bool(written.all())):
        keep = written.nonzero().squeeze(1)
        at, rows = at[keep], rows[keep]
    base = F.one_hot(torch.tensor(PAD_ID, device=dev), V).float().expand(n * width, V)
    soft = base.index_copy(0, at, rows)
    return soft.view(n, width, V), hard
