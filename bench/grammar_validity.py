"""What limits grammar validity on the built-in corpus: the bounds behind issue 15's grammar target.

The target asks for validity >= 0.90 at a self-BLEU-5 no higher than the real data's. Every
objective so far bought validity with shorter, less diverse sentences (docs/research/coco-results.md, "Where we are
behind"). This measures where the limit lies, on the pretrained MLE of --root:

1. **What D sees.** The discriminator the sampled-D objectives build (``model.discriminator``
   with reverse-kl's settings and its Adam/d_lr), trained as they train it: BCE, real train rows
   vs fresh MLE samples at T = 1. On held-out rows: AUC real vs fake, and AUC valid vs invalid
   *among the fakes* (can D tell the MLE's invalid sentences from its valid ones?). The same
   network trained on the oracle's labels (valid vs invalid MLE samples, same steps) says whether
   it *could* see validity. ``--d-temperature`` trains both on hotter samples (the objectives'
   ``d_temperature``), still read on T = 1 samples.
2. **A perfect reward.** The reverse-kl objective (the product's code) with the grammar oracle as
   its D: logit 0 for a valid row, -reward_clip for an invalid one (log p_data / p_G for a
   generator that matches the data on valid rows, clipped as the objective clips it), for
   ``adversarial.steps`` generator steps (``--reward-steps``). What a D that knew validity
   would give this G step. ``bayes_d``: the same G step with the *Bayes-optimal* D of the
   generator as it trains, logit log p_data(x) - log p_G(x) exact from the grammar (-clip for an
   invalid row): what a D trained to its optimum at every step would hand it, diversity included.
3. **A perfect resampling.** The MLE's samples restricted to the valid ones: where
   discriminator-guided resampling with a perfect D ends (validity 1 by construction); its
   self-BLEU-5 says whether the MLE's valid sentences alone are as diverse as the data.
   ``perfect_resampling_lm`` keeps them in the shares of the training sentences' length deciles
   (``evaluate.length_match``'s draw), so a diversity gap there is not a length effect.
   ``bayes_resampling``: the product's ``sir`` with the Bayes-optimal D's weights, exact:
   D/(1-D) = p_data(x) / q_T(x) on a pool of ``evaluate.d_resample.pool_factor`` x n samples at
   each temperature, with replacement (the default) and without (``_noreplace``): where
   ``evaluate.d_resample`` ends with a perfect D, coverage correction included.

Every row: validity, self-BLEU-5, BLEU-5 against the test split, mean length, n = --samples, at
each temperature of --temps; ``<row>_lm`` is the same generator drawn at the training sentences'
lengths (``evaluate.length_match``'s draw: a gain made of shorter sentences vanishes there). The
real row is the evaluate stage's real sample (same n). "At the data's self-BLEU-5" interpolates
validity linearly in self-BLEU-5 between the two temperatures that bracket the real row's (None
when none do).

    python bench/grammar_validity.py [--root .] [--d-steps 3000] [--temps 1.0 1.1 1.2 1.3]

Needs the built-in pipeline up to ``pretrain`` in --root (``dvc repro pretrain``). Writes
bench/grammar_validity.json (replaced whole) and prints the tables. ~3.5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from gantext.config import load_params
from gantext.corpus.grammar import default_grammar
from gantext.data import load_corpus
from gantext.errors import DataError
from gantext.evaluation import _REAL_TRAIN as REAL_STREAM  # the evaluate stage's real sample
from gantext.evaluation import OracleContext, draw_samples, load_eval_data, stream_seed
from gantext.io import write_json
from gantext.metrics.bleu import bleu, self_bleu
from gantext.metrics.length_match import length_matched, stratified_select
from gantext.metrics.reference import real_order
from gantext.metrics.resample import sir
from gantext.models.discriminator import build_discriminator
from gantext.objectives.base import eval_mode
from gantext.paths import repo_paths
from gantext.text.vocab import PAD_ID
from gantext.training.adversarial import discriminator_spec, objective_class
from gantext.training.checkpoint import load_generator

OUT = Path(__file__).resolve().parent / "grammar_validity.json"
LOSS = "reverse-kl"  # the sampled-D objective whose D settings and G step are measured


def is_valid(ctx: OracleContext, sents: Sequence[Sequence[str]]) -> np.ndarray:
    """The grammar's verdict per token list (bool array)."""
    return np.asarray(ctx.score_many(sents)[0], dtype=bool)


def decode_rows(vocab, rows: torch.Tensor) -> list[list[str]]:
    """Encoded rows as token lists (up to <eos>)."""
    return [vocab.tokens(r) for r in rows.tolist()]


def rows_valid(ctx: OracleContext, vocab, rows: torch.Tensor) -> np.ndarray:
    """The grammar's verdict per encoded row."""
    return is_valid(ctx, decode_rows(vocab, rows))


class OracleCritic(nn.Module):
    """The grammar oracle as a discriminator: logit 0 for a valid row, -clip for an invalid one."""

    def __init__(self, ctx: OracleContext, vocab, clip: float):
        super().__init__()
        self.ctx, self.vocab, self.clip = ctx, vocab, clip
        # the objective builds an Adam over D's parameters, which refuses an empty list
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        valid = torch.as_tensor(rows_valid(self.ctx, self.vocab, rows))
        return torch.where(valid, 0.0, -self.clip)


class BayesCritic(OracleCritic):
    """The Bayes-optimal discriminator of the generator being trained: logit log p_data(x) -
    log p_G(x), exact (the grammar's probability and G's own likelihood), -clip for an invalid
    row (where the true value is -inf). A D trained with BCE on real vs G's samples converges
    to this logit, so it bounds what any trained D can hand reverse-kl's G step."""

    def __init__(self, ctx: OracleContext, vocab, clip: float, gen):
        super().__init__(ctx, vocab, clip)
        self.gen = [gen]  # a list: G's parameters must not become D's (the G step trains them)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        valid, logp_data, _ = self.ctx.score_many(decode_rows(self.vocab, rows))
        with torch.no_grad():
            logp_g = -self.gen[0].token_nll(rows).sum(1)
        ratio = torch.as_tensor(np.where(valid, logp_data, 0.0), dtype=torch.float32) - logp_g
        return torch.where(torch.as_tensor(valid), ratio, -self.clip)


def figures(sents: list[list[str]], data, ctx: OracleContext) -> dict[str, float]:
    """validity, self-BLEU-5, BLEU-5 (test), mean length, n of token lists."""
    valid = is_valid(ctx, sents)
    return {"validity": float(valid.mean()), "sbleu5": self_bleu(sents, (5,))[5],
            "bleu5": bleu(sents, data.test, (5,))[5],
            "len": float(np.mean([len(s) for s in sents])), "n": len(sents)}


def at_real_diversity(curve: list[dict[str, float]], real_sbleu: float) -> float | None:
    """Validity interpolated at the real row's self-BLEU-5 between bracketing curve points."""
    for a, b in zip(curve, curve[1:]):
        lo, hi = sorted((a["sbleu5"], b["sbleu5"]))
        if lo <= real_sbleu <= hi and hi > lo:
            w = (real_sbleu - a["sbleu5"]) / (b["sbleu5"] - a["sbleu5"])
            return a["validity"] + w * (b["validity"] - a["validity"])
    return None


def curve(gen, data, ctx, temps: Sequence[float], n: int, seed: int) -> list[dict[str, float]]:
    """The figures at each temperature; the same noise for every generator (common numbers)."""
    return [{"temperature": t, **figures(draw_samples(gen, data.vocab, n, data.max_len, t, seed,
                                                       500), data, ctx)} for t in temps]


def valid_only(gen, data, ctx, temps: Sequence[float], n: int, seed: int, pool_factor: int = 4
               ) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """The valid samples of a pool of pool_factor * n at each temperature: the first n, and n
    drawn in the shares of the train split's length deciles (is a shortfall of diversity only
    length?)."""
    plain, at_lengths = [], []
    ref = [len(s) for s in data.train]
    for t in temps:
        pool = draw_samples(gen, data.vocab, pool_factor * n, data.max_len, t, seed, 500)
        valid = is_valid(ctx, pool)
        kept = [s for s, ok in zip(pool, valid) if ok]
        idx = stratified_select([len(s) for s in kept], ref, min(n, len(kept)),
                                np.random.default_rng(seed))
        head = {"temperature": t, "pool_validity": float(valid.mean())}
        plain.append({**head, **figures(kept[:n], data, ctx)})
        at_lengths.append({**head, **figures([kept[i] for i in idx], data, ctx)})
    return plain, at_lengths


@torch.no_grad()
def tempered_logprob(gen, rows: torch.Tensor, temperature: float) -> torch.Tensor:
    """log q_T(row): the row's log-probability under `gen` sampled at `temperature` (B,)."""
    logits = gen(gen.shift_right(rows))[0]
    logq = torch.log_softmax(gen.masked(logits.float()) / temperature, -1)
    return (logq.gather(-1, rows.unsqueeze(-1)).squeeze(-1) * (rows != PAD_ID)).sum(1)


def bayes_resampling(gen, data, ctx, temps: Sequence[float], n: int, seed: int, pool_factor: int
                     ) -> dict[str, list[dict[str, float]]]:
    """Discriminator-guided resampling (the product's ``sir``) with the Bayes-optimal D's
    weights D/(1-D) = p_data(x) / q_T(x), exact, on a pool of pool_factor * n samples at each
    temperature: with replacement (``evaluate.d_resample``'s default) and without (Gumbel
    top-k: no duplicates)."""
    out: dict[str, list[dict[str, float]]] = {"bayes_resampling": [],
                                              "bayes_resampling_noreplace": []}
    for t in temps:
        rows, _ = gen.sample(pool_factor * n, data.max_len, t,
                             torch.Generator().manual_seed(seed), 4096)
        sents = decode_rows(data.vocab, rows)
        valid, logp_data, _ = ctx.score_many(sents)
        logq = torch.cat([tempered_logprob(gen, rows[i:i + 4096], t)
                          for i in range(0, len(rows), 4096)]).numpy()
        logw = np.where(valid, logp_data - logq, -np.inf)
        for name, replace in (("bayes_resampling", True), ("bayes_resampling_noreplace", False)):
            idx = sir(logw, n, np.random.default_rng(seed), replace)
            out[name].append({"temperature": t, "unique": len(set(idx.tolist())) / n,
                              **figures([sents[i] for i in idx], data, ctx)})
    return out


def auc(scores_pos: np.ndarray, scores_neg: np.ndarray) -> float:
    y = np.r_[np.ones(len(scores_pos)), np.zeros(len(scores_neg))]
    return float(roc_auc_score(y, np.r_[scores_pos, scores_neg]))


def d_sight(gen, corpus, params, ctx, steps: int, seed: int, batch: int = 64,
            holdout: int = 10000, every: int = 500, d_temperature: float = 1.0,
            arch: str | None = None) -> dict[str, list[dict[str, float]]]:
    """Train the objective's D as the objective does (real vs MLE samples at `d_temperature`)
    and, separately, on the oracle's labels; AUC real/fake and valid/invalid among held-out
    fakes at T = 1 (what evaluation draws) along training. `arch` replaces
    ``model.discriminator.arch`` (its section's settings from params). A D that scores every
    prefix is also trained as scratchgan trains it (``real_vs_fake_prefixes``: the
    cross-entropy of every prefix of the real and fake rows, real -> 1, fake -> 0) and read at
    each row's last prefix (its <eos>)."""
    g = torch.Generator().manual_seed(seed)

    def draw(n: int, t: float) -> tuple[torch.Tensor, np.ndarray]:
        with torch.no_grad():
            rows, lens = gen.sample(n, corpus.max_len, t, g, 4096)
        return rows, rows_valid(ctx, corpus.vocab, rows)

    held, held_valid = draw(holdout, 1.0)
    fakes, valid = draw(steps * batch * 2, d_temperature)
    labels = torch.as_tensor(valid, dtype=torch.float32)
    cls = objective_class(LOSS)
    dcfg = params.model.discriminator
    if arch is not None:
        dcfg = dataclasses.replace(dcfg, arch=arch)
    spec = discriminator_spec(dcfg, len(corpus.vocab), cls)
    ocfg = getattr(params.adversarial, cls.section)
    out: dict[str, list[dict[str, float]]] = {}
    modes = ["real_vs_fake", "oracle_labels"]
    if build_discriminator(spec).scores_prefixes:
        modes.append("real_vs_fake_prefixes")
    for mode in modes:
        torch.manual_seed(seed)
        D = build_discriminator(spec)
        prefixes = mode == "real_vs_fake_prefixes"

        def score(x: torch.Tensor) -> torch.Tensor:
            if not prefixes:
                return D(x)
            last = (x != PAD_ID).sum(1) - 1  # the <eos> position: the whole sentence
            return D.prefix_scores(x)[torch.arange(len(x)), last]
        opt = torch.optim.Adam(D.parameters(), lr=ocfg.d_lr,
                               betas=(ocfg.adam_beta1, ocfg.adam_beta2))
        order = torch.randperm(len(corpus.train), generator=torch.Generator().manual_seed(seed))
        rows = []
        for step in range(1, steps + 1):
            lo = (step - 1) * 2 * batch
            if mode != "oracle_labels":  # the objective's D step: a real batch and a fake batch
                real = corpus.train[order[(step * batch + torch.arange(batch)) % len(order)]]
                x = torch.cat([real, fakes[lo:lo + batch]])
                y = torch.cat([torch.ones(batch), torch.zeros(batch)])
            else:  # supervised: the same number of rows, labelled by the grammar
                x, y = fakes[lo:lo + 2 * batch], labels[lo:lo + 2 * batch]
            if prefixes:  # every real position's prefix carries its row's label
                mask = (x != PAD_ID).float()
                per = nn.functional.binary_cross_entropy_with_logits(
                    D.prefix_scores(x), y[:, None].expand_as(mask), reduction="none")
                loss = (per * mask).sum() / mask.sum()
            else:
                loss = nn.functional.binary_cross_entropy_with_logits(D(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % every == 0 or step == steps:
                with torch.no_grad(), eval_mode(D):
                    s_real = torch.cat([score(corpus.valid[i:i + 1024])
                                        for i in range(0, len(corpus.valid), 1024)]).numpy()
                    s_fake = torch.cat([score(held[i:i + 1024])
                                        for i in range(0, holdout, 1024)]).numpy()
                rows.append({"step": step, "auc_real_fake": auc(s_real, s_fake),
                             "auc_valid_invalid": auc(s_fake[held_valid], s_fake[~held_valid])})
        out[mode] = rows
    return out


def oracle_reward(gen, corpus, params, ctx, seed: int, steps: int, bayes: bool = False):
    """G after `steps` reverse-kl generator steps with the oracle as D: the validity critic, or
    (``bayes``) the exact log-ratio of the generator as it trains."""
    cls = objective_class(LOSS)
    G = copy.deepcopy(gen).train()
    G.set_dropout(0.0)  # as the adversarial stage trains
    clip = getattr(params.adversarial, cls.section).reward_clip
    critic = (BayesCritic(ctx, corpus.vocab, clip, G) if bayes
              else OracleCritic(ctx, corpus.vocab, clip))
    obj = cls(G, critic, params.adversarial, corpus.max_len, torch.device("cpu"),
              torch.Generator().manual_seed(seed))
    for step in range(steps):
        obj.generator_step(corpus.train[:params.adversarial.batch_size], step)
    return G.eval()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=".", help="repository copy with the built-in pretrain outputs")
    ap.add_argument("--temps", nargs="+", type=float, default=[1.0, 1.1, 1.2, 1.3])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--d-steps", type=int, default=3000, help="0: skip the D-sight part")
    ap.add_argument("--d-temperature", type=float, default=1.0,
                    help="temperature of the fakes D trains on (read on T = 1 samples)")
    ap.add_argument("--reward-steps", type=int, default=0,
                    help="generator steps of the oracle-reward rows (0: adversarial.steps)")
    ap.add_argument("--d-archs", nargs="+", default=None,
                    help="D architectures whose sight is measured (default: model.discriminator.arch)")
    ap.add_argument("--sight-only", action="store_true",
                    help="only the D-sight part (no curves, rewards or resampling)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    paths = repo_paths(args.root)
    params = load_params(paths.params)
    if params.ingest.source != "builtin":
        raise DataError(f"{paths.params}: ingest.source is {params.ingest.source!r}; the grammar "
                        "oracle exists for the built-in corpus only (source: builtin)")
    if not paths.pretrain_generator.is_file():
        raise DataError(f"{paths.pretrain_generator}: not found; run `dvc repro pretrain` first")
    corpus, data = load_corpus(paths), load_eval_data(paths, "test")
    grammar = default_grammar()
    ctx = OracleContext(grammar, tuple(grammar.modes), data.level)
    mle = load_generator(paths.pretrain_generator, vocab_hash=corpus.vocab.hash, device="cpu")[0].eval()
    seed, n = params.seed, args.samples
    sample_seed = stream_seed(seed, 11)  # one noise stream for every curve

    real = figures(real_order(data.pool, stream_seed(seed, REAL_STREAM))[:n], data, ctx)
    curves, at_real, steps = {}, {}, 0
    if not args.sight_only:
        curves, at_real, steps = bounds(mle, corpus, data, params, ctx, real, args, sample_seed)
    archs = args.d_archs or [None]
    sights = {a or params.model.discriminator.arch: d_sight(
        mle, corpus, params, ctx, args.d_steps, seed, d_temperature=args.d_temperature, arch=a)
        for a in archs} if args.d_steps > 0 else {}
    for arch, sight in sights.items():
        for mode, rows in sight.items():
            print(f"D {arch} trained {mode}: " + "; ".join(
                f"step {r['step']} AUC real/fake {r['auc_real_fake']:.3f} valid/invalid "
                f"{r['auc_valid_invalid']:.3f}" for r in rows), flush=True)
    sight = sights.get(params.model.discriminator.arch, {})
    result = {"loss": LOSS, "seed": seed, "samples": n, "temperatures": args.temps,
              "steps": steps, "real": real, "curves": curves,
              "validity_at_real_sbleu5": at_real, "d_sight": sight, "d_sight_by_arch": sights,
              "d_temperature": args.d_temperature,
              "wall_s": round(time.perf_counter() - t0, 1)}
    write_json(args.out, result)
    print(f"wrote {args.out} ({result['wall_s']} s)")
    return result


def bounds(mle, corpus, data, params, ctx, real, args, sample_seed):
    """Parts 2 and 3 (and the MLE's curve): the perfect reward, the Bayes-optimal D, the perfect
    and Bayes resampling; returns (curves, validity at the data's self-BLEU-5, reward steps)."""
    seed, n = params.seed, args.samples
    curves = {"mle": curve(mle, data, ctx, args.temps, n, sample_seed)}
    print(f"real: validity {real['validity']:.3f} self-BLEU-5 {real['sbleu5']:.4f} "
          f"len {real['len']:.2f} (n {real['n']})", flush=True)
    steps = args.reward_steps or params.adversarial.steps
    gens = {"mle": mle, **{name: oracle_reward(mle, corpus, params, ctx, seed, steps, bayes)
                           for name, bayes in (("perfect_reward", False), ("bayes_d", True))}}
    # each generator drawn at the training sentences' lengths too (evaluate.length_match's draw):
    # a gain that is only shorter sentences vanishes there
    for name, g in length_matched(gens, data.train, params.evaluate.length_match).items():
        gens[name] = g
    for name, g in gens.items():
        if name != "mle":
            curves[name] = curve(g, data, ctx, args.temps, n, sample_seed)
    curves["perfect_resampling"], curves["perfect_resampling_lm"] = valid_only(
        mle, data, ctx, args.temps, n, sample_seed)
    curves.update(bayes_resampling(mle, data, ctx, args.temps, n, sample_seed,
                                   params.evaluate.d_resample.pool_factor))
    print(f"{'row':22s} {'T':>5s} {'validity':>9s} {'sBLEU-5':>8s} {'BLEU-5':>7s} {'len':>6s}")
    for name, pts in curves.items():
        for p in pts:
            print(f"{name:22s} {p['temperature']:5.2f} {p['validity']:9.3f} {p['sbleu5']:8.4f} "
                  f"{p['bleu5']:7.4f} {p['len']:6.2f}")
    at_real = {name: at_real_diversity(pts, real["sbleu5"]) for name, pts in curves.items()}
    print("validity at the data's self-BLEU-5: " + ", ".join(
        f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in at_real.items()), flush=True)
    return curves, at_real, steps


if __name__ == "__main__":
    main()
