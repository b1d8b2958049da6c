"""FID read at equal diversity: each model's FID at the temperature where its self-BLEU-5 equals
MLE's at temperature 1, beside MLE's FID at temperature 1 (same n, same references).

The COCO report's FID condition compares every row at temperature 1. A generator that became
colder (lower entropy) than MLE sits further along its quality-diversity curve at T = 1, and FID
punishes the missing diversity there, which the curve comparison already accounts for. This
script reads FID like with like: per experiment ``coco-s<seed>-<loss>``, it finds the
temperature T* where the GAN's sweep curve (metrics/plots/quality_diversity.csv: self-BLEU-5 by
temperature, interpolated linearly) reaches MLE's self-BLEU-5 at T = 1, draws ``-n`` samples from
the GAN at T* and from MLE at T = 1 (one seed for both: common random numbers), and scores both
with the experiment's own FID extractor (models/fid) against the test captions. It also reports
the self-BLEU-5 the T* samples actually reach (the interpolation is only an estimate).

    python bench/coco/fid_at_equal_diversity.py [--losses coldgan rsgan] [--seeds 0 1 2] [-n 5000]

Everything is read from the experiments' commits through DVC (the local cache); the workspace
is untouched. Writes fid_equal_diversity.json beside this file and prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = HERE / "fid_equal_diversity.json"
#: what one experiment's measurement needs from its commit (the data, both generators, the ruler)
FILES = ("data/interim", "data/processed", "models/pretrain", "models/adversarial",
         "models/fid", "metrics/plots/quality_diversity.csv")
SEED = 20261130  # the sample stream of this measurement (both models: common random numbers)


def exp_sha(name: str) -> str:
    """The commit of DVC experiment `name` (its ref under refs/exps)."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)",
                           "refs/exps"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.split("\n")
    hits = [line.split()[1] for line in refs if line.split() and
            line.split()[0].endswith(f"/{name}")]
    if not hits:
        sys.exit(f"no experiment named {name}: run `python bench/coco/protocol.py run` first")
    return hits[0]


def temperature_at(curve: Sequence[tuple[float, float]], target: float) -> float | None:
    """The temperature where a (temperature, self-BLEU-5) sweep curve reaches `target`,
    interpolated linearly between the two sweep points around it; None outside the sweep."""
    pts = sorted(curve)
    for (t0, s0), (t1, s1) in zip(pts, pts[1:]):
        lo, hi = min(s0, s1), max(s0, s1)
        if lo <= target <= hi:
            return t0 if s1 == s0 else t0 + (t1 - t0) * (target - s0) / (s1 - s0)
    return None


def mle_sbleu5_t1(rows: Sequence[Mapping[str, Any]]) -> float:
    """MLE's self-BLEU-5 at T = 1 in an experiment's quality_diversity.csv rows: the diversity
    every row's FID is read at."""
    return next(float(r["self_bleu5"]) for r in rows
                if r["model"] == "mle" and r["temperature"] and float(r["temperature"]) == 1.0)


def fid_at(model: Any, data: Any, extractor: Any, t: float, n: int) -> tuple[float, float]:
    """(FID against ``data.test``, self-BLEU-5) of `n` samples of `model` at temperature `t`,
    drawn from this measurement's fixed stream (SEED)."""
    from gantext.evaluation import draw_samples
    from gantext.metrics.bleu import self_bleu
    from gantext.metrics.fid import fid

    sents = draw_samples(model, data.vocab, n, data.max_len, t, SEED, 500)
    return fid(extractor, data.test, sents), self_bleu(sents, ns=(5,))[5]


def measure(name: str, n: int, split: str = "test") -> dict[str, Any]:
    """FID of the GAN at T* and of MLE at T = 1 for experiment `name` (see the module doc),
    against the `split` captions: ``test`` for the protocol's runs, ``valid`` for the sweep's
    (protocol.py's selection must not look at test)."""
    from dvc.api import DVCFileSystem

    from gantext.evaluation import load_eval_data
    from gantext.metrics.fid import FeatureExtractor
    from gantext.paths import repo_paths
    from gantext.runtime import autocast_dtype
    from gantext.training.checkpoint import load_generator

    sha = exp_sha(name)
    fs = DVCFileSystem(str(ROOT), rev=sha)
    with tempfile.TemporaryDirectory() as tmp:
        for f in FILES:
            fs.get(f, str(Path(tmp) / f), recursive=True)
        rows = list(csv.DictReader(io.StringIO(
            (Path(tmp) / FILES[-1]).read_text(encoding="utf-8"))))
        mle_s = mle_sbleu5_t1(rows)
        t_star = temperature_at([(float(r["temperature"]), float(r["self_bleu5"])) for r in rows
                                 if r["model"] == "gan" and r["temperature"]], mle_s)
        out: dict[str, Any] = {"experiment": name, "commit": sha, "n": n, "split": split,
                               "mle_sbleu5_sweep_t1": mle_s, "t_star": t_star}
        if t_star is None:
            return out
        paths = repo_paths(Path(tmp))
        data = load_eval_data(paths, split)
        extractor = FeatureExtractor.load(paths.fid_extractor)
        for key, ckpt, t in (("mle", paths.pretrain_generator, 1.0),
                             ("gan", paths.adversarial_generator, t_star)):
            # the evaluate stage's decoding (runtime.precision bf16: the sweep's sample stream)
            model = load_generator(ckpt, vocab_hash=data.vocab.hash)[0].set_decode_precision(
                autocast_dtype("bf16"))
            out[f"{key}_fid"], out[f"{key}_sbleu5"] = fid_at(model, data, extractor, t, n)
    return out


def _write(results: list[dict[str, Any]], summary: dict[str, Any] | None = None) -> None:
    """fid_equal_diversity.json, replaced whole (never half-written)."""
    tmp = OUT.with_name(f".{OUT.name}.tmp")
    tmp.write_text(json.dumps({"results": results, "summary": summary or {}}, indent=2) + "\n",
                   encoding="utf-8")
    tmp.replace(OUT)


def markdown(results: Sequence[dict[str, Any]]) -> str:
    lines = ["| experiment | T* | self-BLEU-5 at T* (MLE at T = 1) | FID at T* | MLE FID at T = 1 |",
             "|---|---|---|---|---|"]
    for r in results:
        if r.get("t_star") is None:
            lines.append(f"| {r['experiment']} | outside the sweep | | | |")
            continue
        lines.append(f"| {r['experiment']} | {r['t_star']:.3f} | {r['gan_sbleu5']:.3f} "
                     f"({r['mle_sbleu5']:.3f}) | {r['gan_fid']:.4f} | {r['mle_fid']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from gantext.objectives import OBJECTIVES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--losses", nargs="+", choices=list(OBJECTIVES), default=list(OBJECTIVES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("-n", type=int, default=5000, help="samples per model (the sweep's n)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # as the evaluate stage: core-count independent numbers
    # earlier measurements of other experiments are kept (a run per clone, or a resumed one)
    kept = json.loads(OUT.read_text(encoding="utf-8"))["results"] if OUT.is_file() else []
    names = {f"coco-s{seed}-{loss}" for loss in args.losses for seed in args.seeds}
    results = [r for r in kept if r["experiment"] not in names]
    for loss in args.losses:
        for seed in args.seeds:
            r = measure(f"coco-s{seed}-{loss}", args.n)
            results.append(r)
            print(json.dumps(r), flush=True)
            _write(results)
    order = {loss: i for i, loss in enumerate(OBJECTIVES)}
    results.sort(key=lambda r: (order.get(r["experiment"].split("-", 2)[2], len(order)),
                                r["experiment"]))
    summary = {}
    for loss in sorted({r["experiment"].split("-", 2)[2] for r in results},
                       key=lambda x: order.get(x, len(order))):
        rs = [r for r in results if r["experiment"].endswith(f"-{loss}") and r.get("t_star")]
        if rs:
            summary[loss] = {"gan_fid": statistics.fmean(r["gan_fid"] for r in rs),
                             "mle_fid": statistics.fmean(r["mle_fid"] for r in rs),
                             "seeds_not_above": sum(r["gan_fid"] <= r["mle_fid"] for r in rs),
                             "seeds": len(rs)}
    _write(results, summary)
    print(markdown(results), end="")
    for loss, s in summary.items():
        print(f"{loss}: FID at equal diversity {s['gan_fid']:.4f} vs MLE {s['mle_fid']:.4f} "
              f"(not above MLE's in {s['seeds_not_above']} of {s['seeds']} seeds)")


if __name__ == "__main__":
    main()
