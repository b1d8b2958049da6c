"""What the evaluate protocol costs now vs. at another git ref, measured in one run (a ratio).

Builds the built-in corpus at the default sizes (20,000 grammar sentences split 80/10/10), trains
one small LSTM generator briefly (so samples have realistic lengths), then times
``evaluate() + write_outputs()`` -- the evaluate stage's work without MLflow and lineage -- of
this checkout and of ``--ref`` (default ``main``) in alternating subprocesses on the same data,
generators and evaluate params (params.yaml defaults: 2,000 samples, a 5 x 1,000 sweep). Prints
the times and the ratio of the medians (the issue's budget: <= 1.5).

    python bench/evaluate_cost.py [--ref main] [--repeats 3]

Noise: the machine is shared, so only the ratio measured here, with alternating runs, means
anything.
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

root, ckpt = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)
paths = repo_paths(root)
saved = torch.load(ckpt, weights_only=True)
gens = {}
for name in ("mle", "gan"):
    g = build_generator(GeneratorSpec(**saved["spec"]))
    g.load_state_dict(saved[name])
    gens[name] = g.eval()
cfg = EvaluateConfig(device="cpu")
start = time.perf_counter()
data = load_eval_data(paths)
res = evaluate(gens, data, cfg, seed=0, oracle=default_grammar(), modes=MODES,
               log=lambda m: None)
write_outputs(res, paths)
print(json.dumps({"seconds": time.perf_counter() - start, "mle_bleu5": res.metrics["mle"]["bleu5"]}))
"""


def build_data(root: Path) -> None:
    """data/interim + data/processed of the built-in corpus at the default sizes."""
    from gantext.config import TokenizeConfig
    from gantext.corpus.grammar import default_grammar
    from gantext.io import write_lines
    from gantext.paths import repo_paths
    from gantext.text.prepare import tokenize_splits, write_tokenized

    paths = repo_paths(root)
    sents = [" ".join(s) for s in default_grammar().sample(20000, seed=0)]
    splits = {"train": sents[:16000], "valid": sents[16000:18000], "test": sents[18000:]}
    for name, lines in splits.items():
        write_lines(paths.split_text(name), lines)
    write_tokenized(tokenize_splits(splits, TokenizeConfig()), paths)


def train_generators(root: Path, out: Path) -> None:
    """One brief MLE epoch; the 'gan' is the same model after a few more steps."""
    import torch

    from gantext.data import iterate_batches, load_corpus
    from gantext.models.generator import GeneratorSpec, build_generator
    from gantext.paths import repo_paths

    corpus = load_corpus(repo_paths(root))
    spec = {"vocab_size": len(corpus.vocab), "embed_dim": 64, "hidden_dim": 128,
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
        if step == 100:
            saved["mle"] = {k: v.detach().clone() for k, v in g.state_dict().items()}
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


def run_once(src: Path, root: Path, ckpt: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(root), str(ckpt)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="main", help="git ref to compare with (default: main)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        build_data(tmp / "new")
        shutil.copytree(tmp / "new" / "data", tmp / "old" / "data")
        ckpt = tmp / "gens.pt"
        train_generators(tmp / "new", ckpt)
        print(f"data + generators: {time.perf_counter() - t0:.1f} s", flush=True)
        srcs = {"this checkout": REPO / "src", args.ref: export_ref(args.ref, tmp / "ref")}
        roots = {"this checkout": tmp / "new", args.ref: tmp / "old"}
        times: dict[str, list[float]] = {k: [] for k in srcs}
        for i in range(args.repeats):
            for name in (srcs if i % 2 == 0 else reversed(list(srcs))):
                r = run_once(srcs[name], roots[name], ckpt)
                times[name].append(r["seconds"])
                print(f"  {name}: {r['seconds']:.1f} s (mle BLEU-5 {r['mle_bleu5']:.4f})",
                      flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"median evaluate time: this checkout {med['this checkout']:.1f} s, {args.ref} "
              f"{med[args.ref]:.1f} s -> ratio {med['this checkout'] / med[args.ref]:.2f} "
              "(budget 1.5)")


if __name__ == "__main__":
    main()
