"""Measure the adversarial targets on the built-in grammar corpus: objective x seed table.

For each seed, fine-tunes the pretrained MLE generator (models/pretrain/generator.pt of --root)
with ``adversarial.loss`` = --loss and the params of --root/params.yaml (plus --set overrides), then
samples both generators with the evaluate stage's sample stream for that seed (common random
numbers: the same noise for MLE and GAN) and prints validity, oracle NLL (nats per valid sentence,
and per token), mean length, BLEU-4 against the test split, self-BLEU-4, review-mode JS against
the test split and the training wall and CPU (process) time. The seed is the adversarial run's seed; every run
starts from the same MLE generator.

    python bench/adversarial_targets.py --root . --loss bce --seeds 0 1 2
    python bench/adversarial_targets.py --loss seqgan --set adversarial.steps=100 --samples 1000
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch
import yaml

from gantext.config import params_from_dict
from gantext.corpus.grammar import default_grammar
from gantext.data import load_corpus
from gantext.evaluation import OracleContext, draw_samples, load_eval_data, stream_seed
from gantext.metrics.bleu import bleu, self_bleu
from gantext.paths import repo_paths
from gantext.training.adversarial import train_adversarial
from gantext.training.checkpoint import load_generator

SAMPLES_STREAM = 1  # evaluation.py's _SAMPLES key: the same draw the evaluate stage makes


def with_overrides(raw: dict, sets: list[str]) -> dict:
    """params dict with dotted `key=value` overrides (values parsed as YAML)."""
    raw = copy.deepcopy(raw)
    for item in sets:
        key, _, value = item.partition("=")
        node = raw
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return raw


def sample_metrics(gen, data, ctx, n: int, seed: int) -> dict[str, float]:
    sents = draw_samples(gen, data.vocab, n, data.max_len, 1.0, stream_seed(seed, SAMPLES_STREAM), 500)
    om = ctx.metrics(sents)
    return {"validity": om["validity"], "oracle_nll": om["oracle_nll"],
            "oracle_nll_token": om["oracle_nll_token"], "mode_js": om["mode_js"],
            "len": sum(map(len, sents)) / len(sents),
            "bleu4": bleu(sents, data.test, (4,))[4], "sbleu4": self_bleu(sents, (4,))[4]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="repository copy holding data/ and models/pretrain/")
    ap.add_argument("--loss", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--set", action="append", default=[], help="params override key=value")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    paths = repo_paths(args.root)
    raw = yaml.safe_load(Path(paths.params).read_text())
    raw = with_overrides(raw, [f"adversarial.loss={args.loss}", *args.set])
    params = params_from_dict(raw)
    corpus = load_corpus(paths)
    data = load_eval_data(paths)
    grammar = default_grammar()
    ctx = OracleContext(grammar, tuple(grammar.modes), data.level)
    ctx.test_modes = ctx.counts(data.test)
    cols = ["validity", "oracle_nll", "oracle_nll_token", "len", "bleu4", "sbleu4", "mode_js"]
    print(f"# loss={args.loss} overrides={args.set} samples={args.samples}")
    print("loss     seed model " + " ".join(f"{c:>16s}" for c in cols) + "   wall_s  cpu_s")
    rows = []
    for seed in args.seeds:
        mle, _ = load_generator(paths.pretrain_generator, vocab_hash=corpus.vocab.hash)
        base = sample_metrics(mle, data, ctx, args.samples, seed)
        t0, c0 = time.perf_counter(), time.process_time()
        result = train_adversarial(copy.deepcopy(mle), corpus, params.adversarial,
                                   params.model.discriminator, seed)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        gan = sample_metrics(result.generator, data, ctx, args.samples, seed)
        for name, m in (("mle", base), ("gan", gan)):
            print(f"{args.loss:8s} {seed:4d} {name:5s} " + " ".join(f"{m[c]:16.4f}" for c in cols)
                  + (f"   {wall:6.1f} {cpu:6.1f}" if name == "gan" else ""), flush=True)
        rows.append({"seed": seed, "mle": base, "gan": gan, "wall_s": wall, "cpu_s": cpu,
                     "valid_nll": [result.metrics["valid_nll_start"], result.metrics["valid_nll"]]})
    if len(rows) > 1:
        med = {c: statistics.median(r["gan"][c] - r["mle"][c] for r in rows) for c in cols}
        print("median gan - mle: " + ", ".join(f"{c} {v:+.4f}" for c, v in med.items()))
    print("json " + json.dumps({"loss": args.loss, "set": args.set, "rows": rows}))


if __name__ == "__main__":
    main()
