"""Peak resident memory (RSS) of every pipeline stage, each run as the pipeline runs it.

    python bench/stage_memory.py coco      [--loss seqgan] [-S key=value ...] [--keep DIR]
    python bench/stage_memory.py synthetic [--sentences 8000] [--length 45] [--vocab 20000] ...

Each stage runs as ``python -m stages.<name>`` in a scratch copy of the workspace layout (its own
params.yaml, data/, models/, metrics/, an MLflow store beside it), one after the other; the peak
RSS is the child's own ``ru_maxrss`` (``os.wait4``), so a stage is measured alone. Printed per
stage: exit code, wall seconds, peak RSS in MB and whether it stays within ``--limit-gb``
(3 GB: issue 31's target).

Corpora:

- ``coco``: the COCO benchmark recipe (bench/coco/recipe.yaml ``data`` + the chosen MLE size +
  the loss's budget and chosen settings + the in-run control, as ``gantext protocol run
  --recipe coco`` builds them) on the shipped corpus (data/benchmarks/coco).
- ``synthetic``: ``--sentences`` sentences of ~``--length`` tokens (normal, sd 5, within
  [length - 15, length + 13]) over exactly ``--vocab`` word types drawn with Zipf weights
  (exponent 1; every type occurs at least once), lower-case pseudo-words, seeded: the
  shape of the news corpus that made SeqGAN peak at 6.4 GB (45 tokens, a ~20k-word
  vocabulary). ``tokenize.max_len: auto``.

``-S key=value`` (repeatable, YAML values) overrides params after the recipe, e.g.
``-S adversarial.steps=5`` to shorten a memory run (peak memory does not grow with steps:
every step does the same work) -- say so when quoting the figures. Not a test (nothing asserted
but the exit code); other processes on the machine do not change a child's own peak RSS.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "tokenize", "pretrain", "adversarial", "evaluate")


def set_dotted(params: dict, key: str, value: Any) -> None:
    """params[a][b][c] = value for key 'a.b.c' (sections created as needed)."""
    node = params
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def coco_overrides(loss: str) -> dict[str, Any]:
    """The COCO recipe's dotted overrides for one seqgan/bce/... experiment (seed 0, as
    ``gantext protocol run --recipe coco`` builds them), with the corpus paths made absolute
    (the stages run in a scratch folder)."""
    sys.path.insert(0, str(ROOT / "src"))
    from gantext.protocol.recipe import load_recipe, overrides  # noqa: E402

    ovr = overrides(load_recipe("coco", ROOT), seed=0, loss=loss)
    for key in ("ingest.paths", "ingest.test_paths"):
        ovr[key] = [str((ROOT / p).resolve()) for p in ovr[key]]
    ovr["ingest.data_dir"] = str((ROOT / ovr["ingest.data_dir"]).resolve())
    return ovr


def pseudo_word(i: int) -> str:
    """A distinct lower-case word for every i (base 26, at least 3 letters)."""
    out = ""
    i += 26 * 26
    while i:
        i, r = divmod(i, 26)
        out = chr(ord("a") + r) + out
    return out


def synthetic_corpus(folder: Path, sentences: int, length: int, vocab: int, seed: int = 0
                     ) -> dict[str, Any]:
    """Write ``folder/corpus.txt`` (see the module docstring); return its ingest overrides."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocab + 1)
    weights /= weights.sum()
    lens = np.clip(np.rint(rng.normal(length, 5, size=sentences)), length - 15, length + 13)
    ids = rng.choice(vocab, size=int(lens.sum()), p=weights)
    ids[rng.permutation(len(ids))[:vocab]] = np.arange(vocab)  # every type at least once
    words = [pseudo_word(i) for i in range(vocab)]
    bounds = np.concatenate([[0], np.cumsum(lens).astype(int)])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.txt"
    path.write_text("".join(" ".join(words[k] for k in ids[a:b]) + "\n"
                            for a, b in zip(bounds[:-1], bounds[1:])), encoding="utf-8")
    return {"ingest.source": "files", "ingest.paths": [str(path)], "ingest.data_dir": str(folder),
            "ingest.max_tokens": length + 15, "tokenize.max_len": "auto"}


def scratch_repo(where: Path, overrides: dict[str, Any]) -> Path:
    """A folder laid out like the repository root, with params.yaml = ours + `overrides`."""
    repo = where / "repo"
    repo.mkdir(parents=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = copy.deepcopy(params)
    for key, value in overrides.items():
        set_dotted(params, key, value)
    sys.path.insert(0, str(ROOT / "src"))
    from gantext.config import params_from_dict  # validated before any stage runs

    params_from_dict(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return repo


def run_stage(repo: Path, stage: str, log: Path) -> tuple[int, float, float]:
    """(exit code, wall s, peak RSS MB) of ``python -m stages.<stage>`` run in `repo`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
           "MLFLOW_TRACKING_URI": f"sqlite:///{(repo.parent / 'mlflow.db').as_posix()}",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "GANTEXT_PROGRESS": "lines"}
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen([sys.executable, "-m", f"stages.{stage}"], cwd=repo, env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t0, usage.ru_maxrss / 1024.0  # KiB -> MiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", choices=("coco", "synthetic"))
    ap.add_argument("--loss", default="seqgan", help="adversarial.loss (default seqgan)")
    ap.add_argument("--sentences", type=int, default=8000)
    ap.add_argument("--length", type=int, default=45)
    ap.add_argument("--vocab", type=int, default=20000)
    ap.add_argument("-S", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="params override after the recipe (YAML value); repeatable")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    ap.add_argument("--limit-gb", type=float, default=3.0)
    ap.add_argument("--keep", type=Path, help="work here and keep it (default: a temp folder)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: run --stages in the folder a previous run kept (its params "
                         "and outputs), e.g. to re-measure adversarial after a change")
    args = ap.parse_args()

    where = args.keep or Path(tempfile.mkdtemp(prefix="gantext-memory-"))
    if args.reuse:
        if args.keep is None or not (where / "repo" / "params.yaml").is_file():
            sys.exit("--reuse needs --keep DIR holding a previous run's repo/")
        run_stages(where, where / "repo", args)
        return
    if args.keep and where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True, exist_ok=True)
    if args.corpus == "coco":
        ovr = coco_overrides(args.loss)
    else:
        ovr = {**synthetic_corpus(where / "corpus", args.sentences, args.length, args.vocab),
               "adversarial.loss": args.loss}
    for item in args.sets:
        key, _, value = item.partition("=")
        ovr[key] = yaml.safe_load(value)
    repo = scratch_repo(where, ovr)
    print(f"{args.corpus} corpus, adversarial.loss {args.loss}; overrides: "
          + ", ".join(f"{k}={v}" for k, v in ovr.items() if not k.startswith("ingest.")))
    try:
        run_stages(where, repo, args)
    finally:
        if args.keep is None:
            shutil.rmtree(where, ignore_errors=True)


def run_stages(where: Path, repo: Path, args: argparse.Namespace) -> None:
    """Run `args.stages` in `repo` one by one, printing a row each (stops at a failure)."""
    print(f"{'stage':<12} {'exit':>4} {'wall s':>8} {'peak RSS MB':>12}  <= {args.limit_gb:g} GB")
    worst = 0.0
    for stage in args.stages:
        code, wall, rss = run_stage(repo, stage, where / f"{stage}.log")
        worst = max(worst, rss)
        print(f"{stage:<12} {code:>4} {wall:>8.1f} {rss:>12.0f}  "
              f"{'yes' if rss <= args.limit_gb * 1024 else 'NO'}", flush=True)
        if code != 0:
            tail = (where / f"{stage}.log").read_text(encoding="utf-8").splitlines()[-5:]
            print("\n".join(f"    {line}" for line in tail))
            break
        if stage == "tokenize":
            m = json.loads((repo / "metrics" / "tokenize.json").read_text(encoding="utf-8"))
            print(f"{'':<12} vocabulary {m['vocab_size']}, max_len {m['max_len']}, "
                  f"train {m['train']['sentences']} sentences")
        if stage == "adversarial":
            for line in (where / "adversarial.log").read_text(encoding="utf-8").splitlines():
                if "rollouts" in line and "estimate" in line:
                    print(f"{'':<12} {line.strip()}")
    print(f"peak over the stages: {worst:.0f} MB")


if __name__ == "__main__":
    main()
