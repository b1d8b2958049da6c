"""Pipeline hot loops on a real corpus: ours vs a plain reference loop, measured in ONE run.

    python bench/pipeline_speed.py [--data data/benchmarks/coco] [--json out.json]

Per stage (MLE pretraining, sampling, SeqGAN rollouts) it prints CPU seconds (user and sys, from
getrusage), tokens/s, and the share of this machine's one-core matmul GFLOP/s (measured here, in
this run, with a torch matmul in fp32 and in bf16) that each loop reaches. Rows:

- MLE: the reference is the TextGAN-PyTorch-style step (LSTM over the full padded width, the
  vocabulary head and the loss on every position, <pad> ignored); "packed" is ``Generator.nll``
  (pretraining before the padded/real-positions layout); ours is ``gantext.training.mle``'s
  training step in each ``runtime.precision``. Same model, batches and Adam settings.
- sampling: the reference draws ``torch.multinomial`` for every row at every one of max_len
  steps (no early exit); ours is the project's sampler (through :class:`OurApi`), with the
  decoding head in fp32 and in bf16 (``runtime.precision``; the recurrent state stays fp32, so
  the bf16 row's share is of the bf16 rate: a lower bound).
- sampling, transformer: the transformer generator (``--t-*``; default: the size that matched
  the LSTM's COCO NLL at its parameter budget, docs/guide/transformer-and-discriminators.md)
  trained on the same batches as the LSTM (its own learning rate), sampled by the same sampler
  through its KV cache; tokens/s and the ratio to the LSTM's row of the same precision. Its
  FLOPs per step are counted like the LSTM's (matmuls of the blocks and the head, attention
  over the cached prefix).
- rollouts: the reference is SeqGAN's nested loops (for each rollout, for each prefix: replay
  the prefix from <bos>, sample to full length, score with D); ours is the project's batched
  rollouts (through :class:`OurApi`).

FLOPs are counted analytically as *useful* model FLOPs: matmuls of the LSTM (2*4H*(E+H) per layer
and token) and of the head (2*H*V) for the real tokens only (training: x3 for the backward).
Sampling/rollouts count the generator steps the work needs (one per generated real token; a
rollout row's steps after its prefix); D's convolutions are not counted, so those shares are lower
bounds. A loop far below the matmul rate is bound by what the share cannot show: per-step kernel
launches on (B x H) matrices, softmax/sampling over V, Python per time step.

The corpus is a folder with train.txt (one sentence a line; the COCO captions by default),
tokenized like the COCO recipe (lower-cased nltk words, max_len 37); the model is the recipe's
chosen MLE size. CPU only, one thread, not a test (nothing asserted). Timings share the machine
with whatever else runs: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gantext.data import iterate_batches, teacher_forced  # noqa: E402
from gantext.models.discriminator import Discriminator, DiscriminatorSpec  # noqa: E402
from gantext.models.generator import GeneratorSpec, build_generator  # noqa: E402
from gantext.runtime import autocast, bf16_lstm_supported, retain_freed_memory  # noqa: E402
from gantext.text.tokenizer import tokenize_lines  # noqa: E402
from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab, encode  # noqa: E402
from gantext.training.mle import HEAD_ROWS_MULTIPLE, batch_nll  # noqa: E402


class OurApi:
    """Where the bench calls the project's sampler and rollouts: repoint these two when the
    shared sampler's API changes; every reference loop below uses only ``model.step``."""

    @staticmethod
    def sample(model, n: int, max_len: int, rng: torch.Generator, batch_size: int
               ) -> torch.Tensor:
        """n encoded rows (n, max_len + 1) at temperature 1."""
        model.eval()
        ids, _ = model.sample(n, max_len, temperature=1.0, generator=rng, batch_size=batch_size)
        return ids

    @staticmethod
    def rollouts(policy, discriminator, samples: torch.Tensor, n_rollouts: int,
                 rng: torch.Generator) -> torch.Tensor:
        from gantext.objectives.seqgan import rollout_rewards

        return rollout_rewards(policy, discriminator, samples, n_rollouts, rng=rng)


# ----------------------------------------------------------------------------- measuring
@dataclass
class Timed:
    cpu_s: float
    user_s: float
    sys_s: float


def timed(fn: Callable[[], object]) -> Timed:
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
    fn()
    r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
    return Timed(t1 - t0, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime)


def matmul_gflops(dtype: torch.dtype, n: int = 1024, repeats: int = 8) -> float:
    """One core's matmul rate: best of `repeats` n x n x n products (2 n^3 FLOPs each)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = min(timed(lambda: a @ b).cpu_s for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def transformer_flops(spec, width: int) -> float:
    """Forward FLOPs of one transformer decoding step for one row: every block's projections
    (qkv, out, two MLP layers), attention over `width` cached slots, the head."""
    d = spec.d_model
    block = 2 * (3 * d * d + d * d + 2 * d * spec.ff_dim) + 2 * 2 * width * d
    return spec.num_layers * block + 2 * d * spec.vocab_size


def step_flops(spec: GeneratorSpec) -> float:
    """Forward matmul FLOPs of one generator step for one row (LSTM layers + vocabulary head)."""
    h, e = spec.hidden_dim, spec.embed_dim
    lstm = sum(2 * 4 * h * ((e if i == 0 else h) + h) for i in range(spec.num_layers))
    return lstm + 2 * h * spec.vocab_size


_MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear",
               "aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward", "aten::_convolution",
               "aten::mkldnn_convolution", "aten::convolution_backward")


def why(fn: Callable[[], object], top: int = 4) -> str:
    """Where a loop's CPU time goes (torch.profiler, self time): the matmul-class share and the
    biggest other ops, i.e. what keeps it below the matmul rate."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    ops = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in ops) or 1.0
    mm = sum(t for k, t in ops if k in _MATMUL_OPS)
    rest = sorted(((t, k) for k, t in ops if k not in _MATMUL_OPS), reverse=True)[:top]
    return (f"matmul-class ops {100 * mm / total:.0f}% of op time; others: "
            + ", ".join(f"{k.replace('aten::', '')} {100 * t / total:.0f}%" for t, k in rest))


class StepCounter:
    """Counts the rows a model's ``step`` processes (wraps the instance attribute)."""

    def __init__(self, model):
        self.rows, self.model, inner = 0, model, model.step

        def step(tokens, state):
            self.rows += int(tokens.shape[0])
            return inner(tokens, state)

        model.step = step

    def close(self) -> None:
        del self.model.step


# ----------------------------------------------------------------------------- data
def load_corpus(folder: Path, max_len: int) -> tuple[int, torch.Tensor]:
    """(vocabulary size, encoded rows) of folder/train.txt as the COCO recipe tokenizes it."""
    f = folder / "train.txt"
    if not f.is_file():
        sys.exit(f"error: {f} not found; pass --data DIR (a folder with train.txt)")
    lines = [ln.strip().lower() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
    tokens = tokenize_lines(lines, "word")
    vocab = Vocab.build(tokens)
    rows, _ = encode(vocab, tokens, max_len)
    return len(vocab), torch.from_numpy(rows.astype(np.int64))


# ----------------------------------------------------------------------------- reference loops
def reference_mle_loss(model, rows: torch.Tensor) -> tuple[torch.Tensor, int]:
    """TextGAN-style: LSTM over the full padded width, head and loss on every position."""
    logits, _ = model(model.shift_right(rows))
    return (F.cross_entropy(logits.transpose(1, 2), rows, ignore_index=PAD_ID, reduction="sum"),
            int((rows != PAD_ID).sum()))


@torch.no_grad()
def reference_sample(model, n: int, max_len: int, rng: torch.Generator, batch_size: int
                     ) -> torch.Tensor:
    """Every row sampled for all max_len steps (torch.multinomial), cut after <eos> at the end."""
    out = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        tok, state, cols = torch.full((b,), BOS_ID), None, []
        for _ in range(max_len):
            logits, state = model.step(tok, state)
            tok = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=rng).squeeze(1)
            cols.append(tok)
        out.append(_finish(torch.stack(cols + [torch.full((b,), EOS_ID)], 1)))
    return torch.cat(out)


def _finish(rows: torch.Tensor) -> torch.Tensor:
    """<pad> after the first <eos> of each row (the encoding layout)."""
    ended = (rows == EOS_ID).int().cumsum(1) - (rows == EOS_ID).int() > 0
    return rows.masked_fill(ended, PAD_ID)


@torch.no_grad()
def reference_rollouts(policy, discriminator, samples: torch.Tensor, n_rollouts: int,
                       rng: torch.Generator) -> torch.Tensor:
    """SeqGAN's nested loops: rollout x prefix, each replayed from <bos> and sampled to full
    width; batched over sentences only."""
    b, width = samples.shape
    rewards = torch.zeros(b, width)
    for _ in range(n_rollouts):
        for t in range(1, width):
            logits, state = policy.step(torch.full((b,), BOS_ID), None)
            for j in range(t):
                logits, state = policy.step(samples[:, j], state)
            cols = [samples[:, :t]]
            for _p in range(t, width - 1):
                tok = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=rng)
                cols.append(tok)
                logits, state = policy.step(tok.squeeze(1), state)
            rows = _finish(torch.cat(cols + [torch.full((b, 1), EOS_ID)], 1))
            rewards[:, t - 1] += torch.sigmoid(discriminator(rows)).float()
    return rewards / n_rollouts


# ----------------------------------------------------------------------------- stages
def mle_rows(spec, batches, args) -> tuple[list[dict], object]:
    """Train one model per variant on the same batches; returns the rows and our bf16 model."""
    variants = {
        "reference (padded, full width)": ("fp32", lambda m, r: reference_mle_loss(m, r)),
        "packed Generator.nll (before)": ("fp32", lambda m, r: m.nll(r)),
        "ours fp32": ("fp32", None),
        "ours bf16": ("bf16", None),
    }
    if not bf16_lstm_supported("cpu"):  # the stages fall back to fp32 there (gantext.runtime)
        print("mle: no bf16 row: this CPU has no bf16 LSTM kernel (oneDNN needs AVX-512)")
        del variants["ours bf16"]
    out, model = [], None
    per_token = 3 * step_flops(spec)  # forward + backward (2x) of the real tokens
    for name, (precision, loss_fn) in variants.items():
        torch.manual_seed(0)
        model = build_generator(spec).train()
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)

        def step(rows, model=model, opt=opt, loss_fn=loss_fn, precision=precision) -> int:
            if loss_fn is None:
                batch = teacher_forced(rows, HEAD_ROWS_MULTIPLE)
                with autocast(precision, "cpu"):
                    s, k = batch_nll(model, batch), batch.count
            else:
                s, k = loss_fn(model, rows)
            opt.zero_grad(set_to_none=True)
            (s / k).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            return k

        step(batches[0])  # warm-up
        tokens = 0

        def run(step=step):
            nonlocal tokens
            tokens = sum(step(b) for b in batches[1:])

        t = timed(run)
        out.append(_row("mle", name, t, tokens, tokens * per_token, precision, args))
    return out, model


def train_bf16(model, opt, batches) -> None:
    """Our MLE step in bf16 over `batches` (no timing; fp32 where the CPU has no bf16 LSTM)."""
    model.train()
    precision = "bf16" if bf16_lstm_supported("cpu") else "fp32"
    for b in batches:
        tf = teacher_forced(b, HEAD_ROWS_MULTIPLE)
        with autocast(precision, "cpu"):
            s = batch_nll(model, tf)
        opt.zero_grad(set_to_none=True)
        (s / tf.count).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()


def _row(stage: str, name: str, t: Timed, tokens: int, flops: float, precision: str, args
         ) -> dict:
    peak = args.peak[precision]
    gflops = flops / t.cpu_s / 1e9
    return {"stage": stage, "loop": name, "cpu_s": t.cpu_s, "user_s": t.user_s, "sys_s": t.sys_s,
            "tokens": tokens, "tokens_per_s": tokens / t.cpu_s, "gflops": gflops,
            "peak_share": gflops / peak, "precision": precision}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data/benchmarks/coco",
                    help="folder with train.txt (default: data/benchmarks/coco)")
    ap.add_argument("--max-len", type=int, default=37)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--mle-batches", type=int, default=40, help="timed MLE batches per variant")
    ap.add_argument("--warm-batches", type=int, default=150,
                    help="extra (untimed) bf16 MLE batches before sampling, for real lengths")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--sample-batch", type=int, default=500)
    ap.add_argument("--rollouts", type=int, default=4)
    ap.add_argument("--rollout-rows", type=int, default=32, help="sentences per rollout call")
    ap.add_argument("--t-embed", type=int, default=128, help="transformer token embedding")
    ap.add_argument("--t-d-model", type=int, default=128, help="transformer residual width")
    ap.add_argument("--t-layers", type=int, default=3)
    ap.add_argument("--t-heads", type=int, default=4)
    ap.add_argument("--t-ff", type=int, default=512)
    ap.add_argument("--t-positions", default="learned", choices=("learned", "rotary"))
    ap.add_argument("--t-lr", type=float, default=1e-3, help="transformer Adam learning rate")
    ap.add_argument("--skip-rollouts", action="store_true", help="stop after the sampling rows")
    ap.add_argument("--no-heap", action="store_true",
                    help="leave glibc's malloc as is (shows the sys time it costs)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.no_heap:
        retain_freed_memory()

    args.peak = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    vocab_size, data = load_corpus(args.data, args.max_len)
    spec = GeneratorSpec(vocab_size=vocab_size, embed_dim=args.embed, hidden_dim=args.hidden,
                         dropout=args.dropout, max_len=args.max_len)
    g = torch.Generator().manual_seed(0)
    batches = list(iterate_batches(data, args.batch, generator=g, drop_last=True))
    print(f"corpus {args.data}: {len(data)} rows, vocab {vocab_size}, width {data.shape[1]}; "
          f"model embed {args.embed} hidden {args.hidden}; batch {args.batch}; one thread")
    print(f"one-core matmul: {args.peak['fp32']:.1f} GFLOP/s fp32, "
          f"{args.peak['bf16']:.1f} GFLOP/s bf16", flush=True)

    rows, model = mle_rows(spec, batches[:args.mle_batches + 1], args)
    _print(rows)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    print(f"    why (ours {'bf16' if bf16_lstm_supported('cpu') else 'fp32'}):",
          why(lambda: train_bf16(model, opt, batches[1:6])))
    # a partly trained model, so sampled sentences have realistic lengths
    train_bf16(model, opt, (batches * 2)[args.mle_batches + 1:
                                         args.mle_batches + 1 + args.warm_batches])
    model.eval()

    per_step = step_flops(spec)
    sample_rows = []
    for name, fn, precision in (("reference (multinomial, full length)", reference_sample, "fp32"),
                                ("ours", OurApi.sample, "fp32"),
                                ("ours, bf16 head", OurApi.sample, "bf16")):
        model.set_decode_precision(torch.bfloat16 if precision == "bf16" else None)
        counter, out = StepCounter(model), {}
        t = timed(lambda fn=fn: out.setdefault("ids", fn(model, args.samples, args.max_len,
                                                         torch.Generator().manual_seed(1),
                                                         args.sample_batch)))
        counter.close()
        tokens = int((out["ids"] != PAD_ID).sum())
        # useful work: one step per real token (the last <eos> of full-length rows is forced)
        sample_rows.append(_row("sampling", name, t, tokens, tokens * per_step, precision, args)
                           | {"step_rows": counter.rows})
    model.set_decode_precision(torch.bfloat16)
    _print(sample_rows)
    sample_rows += transformer_sampling(vocab_size, batches, sample_rows, args)
    print("    why (ours, bf16 head):", why(lambda: OurApi.sample(model, args.sample_batch, args.max_len,
                                                    torch.Generator().manual_seed(1),
                                                    args.sample_batch)))

    if args.skip_rollouts:
        if args.json:
            args.json.write_text(json.dumps(rows + sample_rows, indent=1))
        return
    torch.manual_seed(0)
    disc = Discriminator(DiscriminatorSpec(vocab_size=vocab_size)).eval()
    samples = OurApi.sample(model, args.rollout_rows, args.max_len,
                            torch.Generator().manual_seed(2), args.rollout_rows)
    lengths = (samples != PAD_ID).sum(1)  # real tokens incl. <eos>
    # useful steps: for every prefix that ends before <eos> and every rollout, the steps that
    # complete it (rows leave at <eos>; the counter of ours gives the exact number, see below)
    roll_rows = []
    for name, fn, precision in (("reference (nested loops)", reference_rollouts, "fp32"),
                                ("ours", OurApi.rollouts, "fp32"),
                                ("ours, bf16 head", OurApi.rollouts, "bf16")):
        model.set_decode_precision(torch.bfloat16 if precision == "bf16" else None)
        counter = StepCounter(model)
        t = timed(lambda fn=fn: fn(model, disc, samples, args.rollouts,
                                   torch.Generator().manual_seed(3)))
        counter.close()
        roll_rows.append({"name": name, "t": t, "steps": counter.rows, "precision": precision})
    useful = min(r["steps"] for r in roll_rows)  # ours: prefix pass + completions only
    prefixes = int((lengths - 1).sum())
    rows_out = [_row("rollouts", r["name"], r["t"], prefixes * args.rollouts, useful * per_step,
                     r["precision"], args) | {"step_rows": r["steps"]} for r in roll_rows]
    print(f"rollouts: {args.rollout_rows} sentences (mean length {lengths.float().mean():.1f}), "
          f"{args.rollouts} rollouts; 'tokens' = prefixes x rollouts scored")
    _print(rows_out)
    print("    why (ours, bf16 head):", why(lambda: OurApi.rollouts(model, disc, samples[:8], args.rollouts,
                                                      torch.Generator().manual_seed(3))))
    all_rows = rows + sample_rows + rows_out
    if args.json:
        args.json.write_text(json.dumps(all_rows, indent=1))


def transformer_sampling(vocab_size: int, batches: list, lstm_rows: list[dict], args
                         ) -> list[dict]:
    """The transformer generator trained on the LSTM's batches (mle + warm-up), then sampled by
    the same sampler as the LSTM rows; each row's ratio to the LSTM's of its precision."""
    spec = dict(arch="transformer", vocab_size=vocab_size, embed_dim=args.t_embed,
                d_model=args.t_d_model, num_layers=args.t_layers, num_heads=args.t_heads,
                ff_dim=args.t_ff, positions=args.t_positions, dropout=0.0, max_len=args.max_len)
    torch.manual_seed(0)
    model = build_generator(spec).train()
    lstm_params = build_generator(GeneratorSpec(vocab_size=vocab_size, embed_dim=args.embed,
                                                hidden_dim=args.hidden)).parameters()
    print(f"transformer: embed {args.t_embed}, d_model {args.t_d_model}, {args.t_layers} layers, "
          f"{args.t_heads} heads, "
          f"ff {args.t_ff}, {args.t_positions} positions; "
          f"{sum(p.numel() for p in model.parameters())} parameters (the LSTM: "
          f"{sum(p.numel() for p in lstm_params)})")
    opt = torch.optim.Adam(model.parameters(), lr=args.t_lr)
    train_bf16(model, opt, (batches * 2)[:args.mle_batches + 1 + args.warm_batches])
    model.eval()
    out = []
    for name, precision in (("transformer, KV cache", "fp32"),
                            ("transformer, KV cache, bf16 head", "bf16")):
        model.set_decode_precision(torch.bfloat16 if precision == "bf16" else None)
        counter, res = StepCounter(model), {}
        t = timed(lambda: res.setdefault("ids", OurApi.sample(
            model, args.samples, args.max_len, torch.Generator().manual_seed(1),
            args.sample_batch)))
        counter.close()
        ids = res["ids"]
        tokens = int((ids != PAD_ID).sum())
        # attention reads the cached prefix: count each token at its mean position
        mean_width = float((ids != PAD_ID).sum(1).float().pow(2).sum() / 2 / max(tokens, 1))
        flops = tokens * transformer_flops(model.spec, mean_width)
        out.append(_row("sampling", name, t, tokens, flops, precision, args)
                    | {"step_rows": counter.rows})
    lstm = {r["precision"]: r for r in lstm_rows if r["loop"].startswith("ours")}
    _print([lstm_rows[0], *out])
    for r in out:
        ref = lstm[r["precision"]]
        print(f"    transformer / LSTM sampling tokens/s ({r['precision']}): "
              f"{r['tokens_per_s'] / ref['tokens_per_s']:.2f} "
              f"({r['tokens_per_s']:.0f} vs {ref['tokens_per_s']:.0f})")
    print("    why (transformer, bf16 head):", why(lambda: OurApi.sample(
        model, args.sample_batch, args.max_len, torch.Generator().manual_seed(1),
        args.sample_batch)))
    return out


def _print(rows: list[dict]) -> None:
    base = rows[0]
    for r in rows:
        print(f"  {r['stage']:9s} {r['loop']:36s} cpu {r['cpu_s']:7.2f}s (sys {r['sys_s']:5.2f}) "
              f"{r['tokens_per_s']:9.0f} tok/s  x{r['tokens_per_s'] / base['tokens_per_s']:5.2f}"
              f"  {r['gflops']:6.1f} GFLOP/s = {100 * r['peak_share']:4.1f}% of {r['precision']} "
              "matmul", flush=True)


if __name__ == "__main__":
    main()
