"""WGAN-GP's gradient penalty in the critic's embedding space vs on the one-hot interpolates.

The paper's penalty differentiates the critic at x_hat = a one_hot(real) + (1 - a) fake, a
(B, T, V) tensor, and takes the norm of the (B, T, V) gradient. gantext's critic embeds a row
as x E, so it takes the same penalty at e_hat = x_hat E with the norm through the Gram matrix
E^T E (``objectives/wgan_gp.py``). This bench times both on the same critic, inputs and seed
(forward + backward of the penalty: what a critic step adds to a bce D step), prints both values,
and times one whole wgan-gp critic step and one bce D step for scale. The values differ in the
5th digit at V = 25,000: the one-hot path sums 25,000 fp32 products per embedded coordinate, and
in float64 the embedded value is the closer one (2.8273389 and 2.8271425 in fp32, 2.8273392 in
float64, on this bench's inputs). Random LSTM generator and
CNN critic of ``params.yaml``'s sizes, batch 64, one thread (as the stages run on CPU).

    python bench/relaxed_speed.py [--vocab 4660 25000] [--max-len 37] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from gantext.config import AdversarialConfig
from gantext.models.discriminator import Discriminator, DiscriminatorSpec
from gantext.models.generator import GeneratorSpec, build_generator
from gantext.objectives import OBJECTIVES
from gantext.objectives.wgan_gp import embedded_gradient_penalty, gradient_penalty, interpolate
from gantext.text.vocab import EOS_ID, PAD_ID


def real_rows(n: int, width: int, vocab: int, rng: torch.Generator) -> torch.Tensor:
    """Encoded rows of random words with lengths 5..width-2 (then <eos>, <pad>)."""
    rows = torch.full((n, width), PAD_ID, dtype=torch.long)
    for i in range(n):
        k = int(torch.randint(5, width - 1, (1,), generator=rng))
        rows[i, :k] = torch.randint(4, vocab, (k,), generator=rng)
        rows[i, k] = EOS_ID
    return rows


def best_of(fn, repeats: int) -> float:
    """Best wall seconds of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def penalty_timing(vocab: int, max_len: int, batch: int, repeats: int) -> dict[str, float]:
    """Seconds of both penalties (value + backward into the critic) and their difference."""
    torch.manual_seed(0)
    critic = Discriminator(DiscriminatorSpec(vocab_size=vocab, dropout=0.0))
    rng = torch.Generator().manual_seed(1)
    real = real_rows(batch, max_len + 1, vocab, rng)
    fake = torch.softmax(4 * torch.randn(batch, max_len + 1, vocab, generator=rng), -1)
    alpha = torch.rand(batch, generator=rng)
    values = {}

    def direct():
        critic.zero_grad(set_to_none=True)
        gp = gradient_penalty(critic, interpolate(F.one_hot(real, vocab).float(), fake, alpha))
        gp.backward()
        values["direct"] = float(gp.detach())

    def embedded():
        critic.zero_grad(set_to_none=True)
        gp = embedded_gradient_penalty(critic, real, fake, alpha)
        gp.backward()
        values["embedded"] = float(gp.detach())

    t_direct, t_embedded = best_of(direct, repeats), best_of(embedded, repeats)
    return {"direct_s": t_direct, "embedded_s": t_embedded, "speedup": t_direct / t_embedded,
            "value_direct": values["direct"], "value_embedded": values["embedded"]}


def step_timing(vocab: int, max_len: int, batch: int, repeats: int) -> dict[str, float]:
    """Seconds of one wgan-gp critic step and one bce D step (relaxed fakes drawn inside)."""
    torch.manual_seed(0)
    g = build_generator(GeneratorSpec(vocab_size=vocab, embed_dim=64, hidden_dim=128,
                                      max_len=max_len))
    real = real_rows(batch, max_len + 1, vocab, torch.Generator().manual_seed(1))
    out = {}
    for name, dropout in (("wgan-gp", 0.0), ("bce", 0.25)):
        d = Discriminator(DiscriminatorSpec(vocab_size=vocab, dropout=dropout))
        cfg = AdversarialConfig(loss=name, steps=300, device="cpu")
        obj = OBJECTIVES[name](copy.deepcopy(g), d, cfg, max_len, torch.device("cpu"),
                               torch.Generator().manual_seed(0))
        out[f"{name}_d_step_s"] = best_of(lambda: obj.discriminator_step(real, 150), repeats)
    out["critic_over_bce"] = out["wgan-gp_d_step_s"] / out["bce_d_step_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, nargs="+", default=[4660, 25000],
                    help="vocabulary sizes (4,660: COCO's; 25,000: a larger real corpus)")
    ap.add_argument("--max-len", type=int, default=37, help="tokens per row (COCO's recipe: 37)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| V | penalty on one-hots (s) | in embedding space (s) | speed-up | value one-hots / "
          "embedding | wgan-gp critic step (s) | bce D step (s) | critic / bce |")
    print("|---|---|---|---|---|---|---|---|")
    for vocab in args.vocab:
        p = penalty_timing(vocab, args.max_len, args.batch, args.repeats)
        s = step_timing(vocab, args.max_len, args.batch, args.repeats)
        print(f"| {vocab:,} | {p['direct_s']:.3f} | {p['embedded_s']:.3f} | {p['speedup']:.1f}x | "
              f"{p['value_direct']:.6f} / {p['value_embedded']:.6f} | "
              f"{s['wgan-gp_d_step_s']:.3f} | {s['bce_d_step_s']:.3f} | "
              f"{s['critic_over_bce']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
