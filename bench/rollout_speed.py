"""SeqGAN Monte-Carlo rollouts: batched (gantext) vs the nested-loop reference, same model and batch.

The reference is the classic SeqGAN / TextGAN-PyTorch scheme: ``for rollout in R: for prefix in T:``
re-run the prefix from <bos>, then sample the remainder to full length, batched over sentences
only. gantext's ``rollout_rewards`` does one teacher-forced pass, then completes all prefix x rollout
rows in one time loop (rows leave as they end), ``rollout_batch`` rows at a time.

Prints seconds per reward computation, the speed ratio, and peak memory (resident-set growth of a
fresh process per variant, CPU; torch.cuda.max_memory_allocated on CUDA) for several rollout_batch
caps, to show the cap bounds memory. Uses models/pretrain/generator.pt when it exists (real sentence
lengths), else a random generator with an <eos> bias giving ~12-token sentences.

    python bench/rollout_speed.py [--batch 64] [--rollouts 8] [--device cpu]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import torch

from gantext.models.discriminator import Discriminator, DiscriminatorSpec
from gantext.models.generator import Generator, GeneratorSpec, gumbel_like
from gantext.objectives.seqgan import rollout_rewards
from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def nested_rollout_rewards(policy: Generator, discriminator: Discriminator, samples: torch.Tensor,
                           n_rollouts: int, rng: torch.Generator) -> torch.Tensor:
    """The reference: Python loops over rollouts and prefixes, batched over sentences only."""
    b, width = samples.shape
    dev = samples.device
    lengths = (samples != PAD_ID).sum(1) - 1
    rewards = torch.zeros(b, width, device=dev)
    for _ in range(n_rollouts):
        for t in range(width - 1):  # prefix samples[:, :t+1]
            logits, state = policy.step(torch.full((b,), BOS_ID, device=dev), None)
            for j in range(t + 1):
                logits, state = policy.step(samples[:, j], state)
            seq = samples.clone()
            seq[:, t + 1:] = PAD_ID
            done = (seq[:, :t + 1] == EOS_ID).any(1)
            for p in range(t + 1, width):
                lg = policy._masked(logits.float())
                tok = torch.argmax(lg + gumbel_like(lg, rng), -1)
                if p == width - 1:
                    tok = torch.full_like(tok, EOS_ID)
                seq[:, p] = torch.where(done, torch.full_like(tok, PAD_ID), tok)
                done = done | (tok == EOS_ID)
                logits, state = policy.step(tok, state)
            rewards[:, t] += torch.sigmoid(discriminator(seq))
    rewards /= n_rollouts
    rewards[torch.arange(b), lengths] = torch.sigmoid(discriminator(samples))
    positions = torch.arange(width, device=dev)
    return rewards.masked_fill(positions[None] > lengths[:, None], 0.0)


def setup(device: str, batch: int) -> tuple[Generator, Discriminator, torch.Tensor]:
    torch.manual_seed(0)
    ckpt = ROOT / "models" / "pretrain" / "generator.pt"
    if ckpt.is_file():
        from gantext.training.checkpoint import load_generator

        g, _ = load_generator(ckpt)
        max_len = 32
        source = f"pretrained generator {ckpt.relative_to(ROOT)}"
    else:
        g = Generator(GeneratorSpec(vocab_size=200, embed_dim=64, hidden_dim=128))
        with torch.no_grad():
            g.head.bias[EOS_ID] += 3.0  # ~12-token sentences, like the grammar corpus
        max_len = 32
        source = "random generator (V=200; no models/pretrain/generator.pt yet)"
    g = g.to(device).eval()
    d = Discriminator(DiscriminatorSpec(vocab_size=g.spec.vocab_size)).to(device).eval()
    samples, lens = g.sample(batch, max_len, 1.0, torch.Generator().manual_seed(1))
    print(f"# {source}; batch {batch}, width {samples.shape[1]}, mean length "
          f"{float(lens.float().mean()):.1f} tokens, vocab {g.spec.vocab_size}, device {device}")
    return g, d, samples


def _measure(kind: str, device: str, batch: int, rollouts: int, cap: int, repeats: int,
             queue: mp.Queue) -> None:
    """Run one variant in this (fresh) process; report seconds and peak memory growth."""
    torch.set_num_threads(1)
    g, d, samples = setup(device, batch) if kind == "setup" else _quiet_setup(device, batch)
    if kind == "setup":
        queue.put(None)
        return
    # warm-up on 4 sentences: one-off kernel/allocator initialisation is not rollout memory
    warm = torch.Generator().manual_seed(99)
    if kind == "nested":
        nested_rollout_rewards(g, d, samples[:4], 1, warm)
    else:
        rollout_rewards(g, d, samples[:4], 1, cap, warm)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for i in range(repeats):
        rng = torch.Generator().manual_seed(100 + i)
        t0 = time.perf_counter()
        if kind == "nested":
            r = nested_rollout_rewards(g, d, samples, rollouts, rng)
        else:
            r = rollout_rewards(g, d, samples, rollouts, cap, rng)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if device.startswith("cuda"):
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024  # KiB -> MiB
    queue.put((min(times), peak, float(r[samples != PAD_ID].mean())))


def _quiet_setup(device: str, batch: int):
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return setup(device, batch)


def run_variant(*args) -> tuple:
    ctx = mp.get_context("spawn")  # a fresh process per variant: clean peak-memory figures
    q = ctx.Queue()
    p = ctx.Process(target=_measure, args=(*args, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rollouts", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--caps", default="1024,8192,1000000", help="rollout_batch caps to compare")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of the batched version")
    args = ap.parse_args()
    run_variant("setup", args.device, args.batch, args.rollouts, 0, 0)

    ref_s, ref_mem, ref_mean = run_variant("nested", args.device, args.batch, args.rollouts, 0, 1)
    print(f"nested-loop reference      : {ref_s:8.3f} s   peak +{ref_mem:7.1f} MiB   "
          f"mean reward {ref_mean:.4f}")
    for cap in (int(c) for c in args.caps.split(",")):
        s, mem, mean = run_variant("batched", args.device, args.batch, args.rollouts, cap, args.repeats)
        print(f"batched, rollout_batch={cap:<7d}: {s:8.3f} s   peak +{mem:7.1f} MiB   "
              f"mean reward {mean:.4f}   speed-up {ref_s / s:6.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
