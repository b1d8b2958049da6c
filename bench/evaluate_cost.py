"""What the evaluate protocol costs now vs. at another git ref, measured in one run (a ratio).

Builds a corpus -- the built-in one at the default sizes (20,000 grammar sentences split
80/10/10), or COCO (``--corpus coco``: data/benchmarks/coco through the library's ingest and
tokenize with the recipe's settings) -- trains one LSTM generator briefly (so samples have
realistic lengths; COCO: the recipe's hidden 256), then times ``evaluate() + write_outputs()``
-- the evaluate stage's work without MLflow and lineage -- of this checkout and of ``--ref``
(default ``main``) in alternating subprocesses on the same data and generators, one thread
each. Each side runs *its own* protocol: this checkout the full protocol of ``auto`` sample
counts with the verdict and the control row (three generators: mle, gan, control), the ref its
own defaults with two (COCO: the old recipe's 10,000 samples and 6 x 5,000 sweep). Prints the
times and the ratio of the medians.

    python bench/evaluate_cost.py [--corpus builtin|coco] [--ref main] [--repeats 3]

Noise: the machine is shared, so only the ratio measured here, with alternating runs, means
anything; the CPU seconds of each run (process time, one thread) are printed beside the wall
seconds, since they move less when other work shares the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DRIVER = r"""
import json, sys, time
import torch
from gantext.config import EvaluateConfig, FIDConfig
from gantext.corpus.grammar import MODES, default_grammar
from gantext.evaluation import evaluate, load_eval_data, write_outputs
from gantext.models.generator import GeneratorSpec, build_generator
from gantext.paths import repo_paths

import dataclasses
root, ckpt, corpus = sys.argv[1], sys.argv[2], sys.argv[3]
torch.set_num_threads(1)
paths = repo_paths(root)
saved = torch.load(ckpt, weights_only=True)
cfg = EvaluateConfig(device="cpu")
new = hasattr(cfg, "resolved")  # this checkout: auto sample counts, the verdict, the control
if new:
    cfg = cfg.resolved("files" if corpus == "coco" else "builtin")
elif corpus == "coco":  # the COCO recipe before the verdict
    cfg = dataclasses.replace(cfg, num_samples=10000, sweep_samples=5000,
                              sweep_temperatures=(0.7, 0.85, 1.0, 1.15, 1.3, 1.5))
gens = {}
for name in ("mle", "gan", "control") if new else ("mle", "gan"):
    g = build_generator(GeneratorSpec(**saved["spec"]))
    g.load_state_dict(saved[name])
    gens[name] = g.eval()
start, cpu = time.perf_counter(), time.process_time()
data = load_eval_data(paths)
oracle = dict(oracle=default_grammar(), modes=MODES) if corpus == "builtin" else {}
res = evaluate(gens, data, cfg, seed=0, log=lambda m: None, **oracle)
write_outputs(res, paths)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "mle_bleu5": res.metrics["mle"]["bleu5"]}))
"""


def build_data(root: Path, corpus: str) -> None:
    """data/interim + data/processed of the built-in corpus at the default sizes, or of COCO
    with the recipe's ingest and tokenize settings."""
    from gantext.config import params_from_dict
    from gantext.corpus.grammar import default_grammar
    from gantext.corpus.ingest import ingest
    from gantext.corpus.ingest import write_outputs as write_ingest
    from gantext.io import write_lines
    from gantext.paths import repo_paths
    from gantext.text.prepare import read_splits, tokenize_splits, write_tokenized

    paths = repo_paths(root)
    if corpus == "builtin":
        sents = [" ".join(s) for s in default_grammar().sample(20000, seed=0)]
        splits = {"train": sents[:16000], "valid": sents[16000:18000], "test": sents[18000:]}
        for name, lines in splits.items():
            write_lines(paths.split_text(name), lines)
        write_tokenized(tokenize_splits(splits, params_from_dict({}).tokenize), paths)
        return
    coco = REPO / "data" / "benchmarks" / "coco"
    params = params_from_dict({
        "ingest": {"source": "files", "data_dir": str(coco), "paths": [str(coco / "train.txt")],
                   "test_paths": [str(coco / "test.txt")]},
        "tokenize": {"max_len": 37, "vocab_splits": ["train", "valid"]}})
    write_ingest(ingest(params.ingest, params.ingest.split_seed, REPO), paths)
    write_tokenized(tokenize_splits(read_splits(paths), params.tokenize), paths)


def train_generators(root: Path, out: Path, hidden: int) -> None:
    """One brief MLE epoch; the 'gan' and the 'control' are the same model after a few more
    steps."""
    import torch

    from gantext.data import iterate_batches, load_corpus
    from gantext.models.generator import GeneratorSpec, build_generator
    from gantext.paths import repo_paths

    corpus = load_corpus(repo_paths(root))
    spec = {"vocab_size": len(corpus.vocab), "embed_dim": 64, "hidden_dim": hidden,
            "max_len": corpus.max_len}
    torch.manual_seed(0)
    g = build_generator(GeneratorSpec(**spec))
    opt = torch.optim.Adam(g.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    saved: dict = {"spec": spec}
    for step, batch in enumerate(iterate_batches(corpus.train, 64, gen)):
        s, k = g.nll(batch)
        opt.zero_grad()
        (s / k).backward()
        opt.step()
        if step in (100, 115):
            saved["mle" if step == 100 else "control"] = {
                k: v.detach().clone() for k, v in g.state_dict().items()}
        if step == 130:
            break
    saved["gan"] = {k: v.detach().clone() for k, v in g.state_dict().items()}
    torch.save(saved, out)


def export_ref(ref: str, dest: Path) -> Path:
    """`git archive` of src/ at `ref` into dest; returns the src dir."""
    dest.mkdir(parents=True, exist_ok=True)
    tar = dest / "src.tar"
    with open(tar, "wb") as fh:
        subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], stdout=fh, check=True)
    with tarfile.open(tar) as tf:
        tf.extractall(dest, filter="data")
    return dest / "src"


def run_once(src: Path, root: Path, ckpt: Path, corpus: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", GANTEXT_PROGRESS="off")
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(root), str(ckpt), corpus], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="main", help="git ref to compare with (default: main)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--corpus", choices=("builtin", "coco"), default="builtin")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        build_data(tmp / "new", args.corpus)
        shutil.copytree(tmp / "new" / "data", tmp / "old" / "data")
        ckpt = tmp / "gens.pt"
        train_generators(tmp / "new", ckpt, 256 if args.corpus == "coco" else 128)
        print(f"data + generators: {time.perf_counter() - t0:.1f} s", flush=True)
        srcs = {"this checkout": REPO / "src", args.ref: export_ref(args.ref, tmp / "ref")}
        roots = {"this checkout": tmp / "new", args.ref: tmp / "old"}
        times: dict[str, list[float]] = {k: [] for k in srcs}
        cpus: dict[str, list[float]] = {k: [] for k in srcs}
        for i in range(args.repeats):
            for name in (srcs if i % 2 == 0 else reversed(list(srcs))):
                r = run_once(srcs[name], roots[name], ckpt, args.corpus)
                times[name].append(r["seconds"])
                cpus[name].append(r["cpu"])
                print(f"  {name}: {r['seconds']:.1f} s wall, {r['cpu']:.1f} s CPU (mle BLEU-5 "
                      f"{r['mle_bleu5']:.4f})", flush=True)
        for what, values in (("wall", times), ("CPU", cpus)):
            med = {k: statistics.median(v) for k, v in values.items()}
            print(f"median evaluate {what} time ({args.corpus}, one thread): this checkout "
                  f"{med['this checkout']:.1f} s, {args.ref} {med[args.ref]:.1f} s -> ratio "
                  f"{med['this checkout'] / med[args.ref]:.2f}")


if __name__ == "__main__":
    main()
