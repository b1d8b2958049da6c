"""SeqGAN Monte-Carlo rollouts: batched (gantext) vs the nested-loop reference, same model and batch.

The reference is the classic SeqGAN / TextGAN-PyTorch scheme: ``for rollout in R: for prefix in T:``
re-run the prefix from <bos>, then sample the remainder to full length, batched over sentences
only. gantext's ``rollout_rewards`` does one teacher-forced pass, then completes all prefix x rollout
rows in one time loop (rows leave as they end), ``rollout_batch`` rows at a time.

Prints seconds per reward computation (best of --repeats), the speed ratio, and the peak memory
held by tensors (see peak_tensor_mib) for several rollout_batch caps, to show the cap bounds it. Uses models/pretrain/generator.pt when it exists (real sentence
lengths), else a random generator with an <eos> bias giving ~12-token sentences.

    python bench/rollout_speed.py [--batch 64] [--rollouts 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from gantext.models.discriminator import Discriminator, DiscriminatorSpec
from gantext.models.generator import Generator, GeneratorSpec, build_generator
from gantext.objectives.seqgan import rollout_rewards
from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID

ROOT = Path(__file__).resolve().parents[1]


def gumbel_like(logits: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Gumbel noise shaped like `logits` (the reference loop's Gumbel-max sampler)."""
    u = torch.rand(logits.shape, generator=rng).clamp_(torch.finfo(torch.float32).tiny, 1 - 1e-7)
    return -torch.log(-torch.log(u)).to(logits.device)


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
                lg = policy.masked(logits.float())
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
        g = build_generator(GeneratorSpec(vocab_size=200, embed_dim=64, hidden_dim=128))
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


def peak_tensor_mib(fn, device: str) -> float:
    """Peak memory held by tensors while `fn` runs, in MiB above what was live before.

    CUDA: the caching allocator's exact peak. CPU: replayed from the profiler's allocation/free
    records (each op's own allocations, each free) in time order; process RSS would mostly show
    allocator caching and one-off kernel setup rather than what the algorithm holds."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        fn()
    deltas = sorted((e.time_range.start, e.self_cpu_memory_usage)
                    for e in prof.events() if e.self_cpu_memory_usage)
    live = peak = 0
    for _, d in deltas:
        live += d
        peak = max(peak, live)
    return peak / 2**20


def seconds(fn, repeats: int, device: str) -> float:
    """Best wall time of `repeats` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rollouts", type=int, default=4, help="n_rollouts (params default: 4)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--caps", default="256,1024,8192", help="rollout_batch caps to compare")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of the batched version")
    args = ap.parse_args()
    g, d, samples = setup(args.device, args.batch)
    rng = torch.Generator().manual_seed(100)

    def nested() -> torch.Tensor:
        return nested_rollout_rewards(g, d, samples, args.rollouts, rng)

    ref_s = seconds(nested, 1, args.device)
    ref_mem = peak_tensor_mib(nested, args.device)
    print(f"nested-loop reference        : {ref_s:8.3f} s   peak tensors {ref_mem:7.1f} MiB   "
          f"mean reward {float(nested()[samples != PAD_ID].mean()):.4f}")
    for cap in (int(c) for c in args.caps.split(",")):
        def batched() -> torch.Tensor:
            return rollout_rewards(g, d, samples, args.rollouts, cap, rng)

        s = seconds(batched, args.repeats, args.device)
        mem = peak_tensor_mib(batched, args.device)
        print(f"batched, rollout_batch={cap:<7d}: {s:8.3f} s   peak tensors {mem:7.1f} MiB   "
              f"mean reward {float(batched()[samples != PAD_ID].mean()):.4f}   "
              f"speed-up {ref_s / s:5.1f}x")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
