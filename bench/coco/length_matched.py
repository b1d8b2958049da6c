"""The COCO gaps read at equal length: each experiment's quality-diversity curve re-scored with the
length-matched columns (``bleu5_lm``, ``self_bleu5_lm``: the samples weighted to the test
captions' length distribution, see gantext.metrics.quality_diversity).

On COCO, WordNet and the built-in grammar the relaxed GANs wrote shorter sentences than MLE and
the data, and lay above MLE's curve. A short sentence has fewer 5-grams to get wrong, so part of
such a gap can be length alone. This script asks how much of each row's gap stays when every
curve (the model's, MLE's and the real sample's) is read at the data's length distribution.

Per experiment ``coco-s<seed>-<loss>`` it reads the experiment's data, both generators and
params.yaml from its commit (DVC's local cache; the workspace is untouched), re-draws the
evaluate stage's sweep with the stage's own sample streams (``gantext.evaluation.sweep_rows``),
checks that the plain BLEU-5 / self-BLEU-5 equal the experiment's stored
metrics/plots/quality_diversity.csv, and computes the largest and mean gap above MLE's curve
both ways (plain, and length-matched), and the real sample's gap (the ceiling).

    python bench/coco/length_matched.py [--losses rsgan mle-continued] [--seeds 0 1 2] [--jobs 2]

Writes length_matched.json beside this file (replaced whole; earlier experiments kept) and
prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))
from fid_at_equal_diversity import exp_sha, fid_at, mle_sbleu5_t1, temperature_at  # noqa: E402
from report import gaps_above, real_gap  # noqa: E402

OUT = HERE / "length_matched.json"
#: what one experiment's curves need from its commit (the data, the generators, the settings,
#: the FID ruler, the stored figures)
FILES = ("data/interim", "data/processed", "models/pretrain", "models/adversarial", "models/fid",
         "params.yaml", "metrics/evaluate.json", "metrics/plots/quality_diversity.csv")
#: the stored curve must be reproduced to this precision (bf16 decoding on CPU is deterministic)
MATCH_TOL = 1e-9
#: the figures of a drawn row kept in length_matched.json
KEEP = ("bleu5", "sbleu5", "fid", "fid_lo", "fid_hi", "len", "unique", "distinct_4", "n_samples")


def _label(name: str) -> str:
    """The row label of an experiment: the loss of a protocol run ``coco-s<seed>-<loss>``, else
    the name itself."""
    m = re.fullmatch(r"coco-s\d+-(.+)", name)
    return m.group(1) if m else name


def _commit(name: str) -> str:
    """The commit of DVC experiment `name`, or of the git revision `name` (a workspace run that
    was committed, e.g. `dvc repro` + `git commit`) when no experiment has that name."""
    rev = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
                         cwd=ROOT, capture_output=True, text=True)
    return rev.stdout.strip() if rev.returncode == 0 else exp_sha(name)


@contextmanager
def experiment(name: str, models: Sequence[str] = ("mle", "gan")) -> Iterator[dict[str, Any]]:
    """Experiment `name` read from its commit into a temporary folder: ``sha``, ``params``,
    ``paths``, ``data`` (its evaluation split), ``generators`` (`models`, decoding as the
    evaluate stage does) and ``stored`` (its quality_diversity.csv rows)."""
    import torch
    from dvc.api import DVCFileSystem

    from gantext.config import load_params
    from gantext.evaluation import load_eval_data
    from gantext.paths import repo_paths
    from gantext.runtime import autocast_dtype
    from gantext.training.checkpoint import load_generator

    torch.set_num_threads(1)  # as the evaluate stage: core-count independent numbers
    sha = _commit(name)
    fs = DVCFileSystem(str(ROOT), rev=sha)
    with tempfile.TemporaryDirectory() as tmp:
        for f in FILES:
            fs.get(f, str(Path(tmp) / f), recursive=True)
        params = load_params(Path(tmp) / "params.yaml")
        paths = repo_paths(Path(tmp))
        data = load_eval_data(paths, params.evaluate.split)
        ckpt = {"mle": paths.pretrain_generator, "gan": paths.adversarial_generator}
        yield {"sha": sha, "params": params, "paths": paths, "data": data,
               "mle_md5": hashlib.md5(ckpt["mle"].read_bytes()).hexdigest(),
               "generators": {m: load_generator(ckpt[m], vocab_hash=data.vocab.hash)[0]
                              .set_decode_precision(autocast_dtype(params.runtime.precision))
                              for m in models},
               "stored": list(csv.DictReader(io.StringIO(
                   (Path(tmp) / FILES[-1]).read_text(encoding="utf-8")))),
               "evaluate": json.loads((Path(tmp) / FILES[-2]).read_text(encoding="utf-8"))}


def curve(name: str, models: Sequence[str]) -> dict[str, Any]:
    """The sweep rows (with the length-matched columns) of `models` ("mle", "gan") of
    experiment `name`, and how far the plain figures are from its stored curve."""
    from gantext.evaluation import sweep_rows

    with experiment(name, models) as x:
        params = x["params"]
        rows = sweep_rows(x["generators"], x["data"], params.evaluate, params.seed,
                          log=lambda _: None)
    key = {(r["model"], str(r["temperature"])): r for r in x["stored"]}
    diff = max(abs(float(key[(r["model"], str(r["temperature"]))][c]) - r[c])
               for r in rows for c in ("bleu5", "self_bleu5"))
    return {"experiment": name, "commit": x["sha"], "seed": params.seed, "mle_md5": x["mle_md5"],
            "split": params.evaluate.split, "rows": rows, "max_diff_vs_stored": diff}


def drawn(name: str) -> dict[str, Any]:
    """Both generators of experiment `name` drawn at the training sentences' lengths
    (``evaluate.length_match`` with its defaults), through the evaluation protocol itself:
    headline figures (FID included) and curves of ``mle_lm`` and ``gan_lm``."""
    from gantext.evaluation import evaluate
    from gantext.metrics.fid import FeatureExtractor
    from gantext.metrics.length_match import LengthMatchConfig, length_matched

    with experiment(name) as x:
        params, data = x["params"], x["data"]
        wrapped = length_matched(x["generators"], data.train, LengthMatchConfig(enabled=True))
        extractor = FeatureExtractor.load(x["paths"].fid_extractor)
        res = evaluate(wrapped, data, params.evaluate, params.seed, log=lambda _: None,
                       extractor=extractor)
        # FID at equal diversity, as fid_at_equal_diversity.py reads it: gan_lm at the
        # temperature T* where its curve reaches MLE's self-BLEU-5 at T = 1, MLE at T = 1
        t_star = temperature_at([(r["temperature"], r["self_bleu5"]) for r in res.qd_rows
                                 if r["model"] == "gan_lm"], mle_sbleu5_t1(x["stored"]))
        eq: dict[str, Any] = {"t_star": t_star}
        if t_star is not None:
            for key, model, t in (("gan_lm", wrapped["gan_lm"], t_star),
                                  ("mle", x["generators"]["mle"], 1.0)):
                eq[f"{key}_fid"], eq[f"{key}_sbleu5"] = fid_at(
                    model, data, extractor, t, params.evaluate.sweep_samples)
    stored = {m: {k: x["evaluate"][m].get(k) for k in KEEP} for m in ("mle", "gan")}
    return {"metrics": {**stored, **{m: {k: res.metrics[m].get(k) for k in KEEP}
                                     for m in ("mle_lm", "gan_lm")}},
            "rows": [r for r in res.qd_rows if r["model"] != "real"], "fid_equal": eq}


def _lm(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the length-matched figures in the plain figures' place."""
    return [{**r, "bleu5": r["bleu5_lm"], "self_bleu5": r["self_bleu5_lm"]} for r in rows]


def _summary(rows: Sequence[dict[str, Any]], model: str, base: str) -> dict[str, Any]:
    """Largest / mean gap of `model`'s curve above `base`'s, and the real sample's gap."""
    g = gaps_above(rows, model, base)
    return {"max_gap": max(g) if g else None, "mean_gap": statistics.fmean(g) if g else None,
            "points_in_range": len(g), "real_gap": real_gap(rows, base)}


def gaps(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The GAN's gaps above MLE's curve, plain and length-matched, from one experiment's rows
    (its GAN rows + its seed's MLE and real rows)."""
    out: dict[str, Any] = {"plain": _summary(rows, "gan", "mle"),
                           "lm": _summary(_lm(rows), "gan", "mle")}
    out["mean_length_t1"] = {m: next(r["mean_length"] for r in rows
                                     if r["model"] == m and r["temperature"] == 1.0)
                             for m in ("gan", "mle")}
    out["min_coverage"] = min(r["lm_coverage"] for r in rows)
    return out


def drawn_gaps(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The drawn rows' gaps (plain figures of the drawn samples): gan_lm above MLE's curve (the
    issue's comparison), gan_lm above mle_lm's (both decoders given the same length fix), and
    mle_lm above MLE's (what the fix alone does to MLE)."""
    return {f"{m}-vs-{b}": _summary(rows, m, b)
            for m, b in (("gan_lm", "mle"), ("gan_lm", "mle_lm"), ("mle_lm", "mle"))}


def _median(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def _mean(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.fmean(vals) if vals else None


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4f}"


def markdown(results: Sequence[dict[str, Any]]) -> str:
    """Per loss: the target's two figures (median over seeds of the largest gap, mean over
    seeds of the mean gap), plain and length-matched; the real sample's gap is the ceiling."""
    lines = ["| loss | seeds | largest gap (median) | mean gap (mean) | largest gap, length-"
             "matched (median) | mean gap, length-matched (mean) | length at T = 1 (MLE's) |",
             "|---|---|---|---|---|---|---|"]
    for loss in dict.fromkeys(r["loss"] for r in results):
        rs = [r for r in results if r["loss"] == loss]
        cells = [_f(_median([r[t]["max_gap"] for r in rs])) + " | " +
                 _f(_mean([r[t]["mean_gap"] for r in rs])) for t in ("plain", "lm")]
        length = (f"{_mean([r['mean_length_t1']['gan'] for r in rs]):.2f} "
                  f"({_mean([r['mean_length_t1']['mle'] for r in rs]):.2f})")
        lines.append(f"| {loss} | {len(rs)} | {cells[0]} | {cells[1]} | {length} |")
    # one real row per (seed, split): the sweep's experiments read the validation split
    seeds = list({(r["seed"], r.get("split")): r for r in results}.values())
    lines.append(f"| real sample (the ceiling) | {len(seeds)} | "
                 f"{_f(_median([r['plain']['real_gap'] for r in seeds]))} | | "
                 f"{_f(_median([r['lm']['real_gap'] for r in seeds]))} | | |")
    return "\n".join(lines) + "\n"


def _write(results: list[dict[str, Any]]) -> None:
    """length_matched.json, replaced whole (never half-written)."""
    from gantext.io import write_text

    write_text(OUT, json.dumps({"results": results}, indent=2) + "\n")


def markdown_drawn(results: Sequence[dict[str, Any]]) -> str:
    """Per loss with drawn rows: gan_lm's gaps above MLE's and mle_lm's curves, and the FIDs."""
    lines = ["| loss | seeds | gan_lm above MLE: largest (median) / mean (mean) | gan_lm above "
             "mle_lm: largest / mean | mle_lm above MLE: largest / mean | FID gan_lm / gan / "
             "mle_lm / MLE (mean) | seeds with FID gan_lm <= MLE's | FID at MLE's self-BLEU-5: gan_lm "
             "/ MLE | length gan_lm / gan |", "|---|---|---|---|---|---|---|---|---|"]
    for loss in dict.fromkeys(r["loss"] for r in results if "drawn" in r):
        rs = [r["drawn"] for r in results if r["loss"] == loss and "drawn" in r]
        cells = [f"{_f(_median([d['gaps'][k]['max_gap'] for d in rs]))} / "
                 f"{_f(_mean([d['gaps'][k]['mean_gap'] for d in rs]))}"
                 for k in ("gan_lm-vs-mle", "gan_lm-vs-mle_lm", "mle_lm-vs-mle")]
        fid = " / ".join(f"{_mean([d['metrics'][m]['fid'] for d in rs]):.4f}"
                         for m in ("gan_lm", "gan", "mle_lm", "mle"))
        ok = sum(d["metrics"]["gan_lm"]["fid"] <= d["metrics"]["mle"]["fid"] for d in rs)
        eqs = [d.get("fid_equal", {}) for d in rs if d.get("fid_equal", {}).get("t_star")]
        eq = (f"{_mean([e['gan_lm_fid'] for e in eqs]):.4f} / "
              f"{_mean([e['mle_fid'] for e in eqs]):.4f} ({len(eqs)} seeds)" if eqs else "n/a")
        length = " / ".join(f"{_mean([d['metrics'][m]['len'] for d in rs]):.2f}"
                            for m in ("gan_lm", "gan"))
        lines.append(f"| {loss} | {len(rs)} | {' | '.join(cells)} | {fid} | {ok} of {len(rs)} "
                     f"| {eq} | {length} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    from gantext.objectives import OBJECTIVES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--losses", nargs="+", choices=list(OBJECTIVES), default=list(OBJECTIVES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1, help="experiments scored at once (1 thread each)")
    ap.add_argument("--draw", action="store_true",
                    help="also draw both generators at the training lengths (rows mle_lm, "
                         "gan_lm: FID and curves); reads the curves of an earlier run")
    ap.add_argument("--names", nargs="+", help="experiments by name instead (e.g. the sweep's, "
                    "read on the validation split their params name); each scores its own MLE")
    args = ap.parse_args(argv)
    names = args.names or [f"coco-s{seed}-{loss}" for seed in args.seeds for loss in args.losses]
    kept = json.loads(OUT.read_text(encoding="utf-8"))["results"] if OUT.is_file() else []
    order = {loss: i for i, loss in enumerate(OBJECTIVES)}
    if args.draw:
        by_name = {r["experiment"]: r for r in kept}
        missing = [n for n in names if n not in by_name]
        if missing:
            sys.exit(f"no curves of {', '.join(missing)} in {OUT.name}: run "
                     f"`python {Path(__file__).name}` for them first, then --draw")
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for name, d in zip(names, pool.map(drawn, names)):
                r = by_name[name]
                base = [row for row in r["rows"] if row["model"] in ("mle", "real")]
                r["drawn"] = {**d, "gaps": drawn_gaps(base + d["rows"])}
                print(f"{name}: drawn at the training lengths", flush=True)
        _write(kept)
        print(markdown_drawn(kept), end="")
        return
    # MLE's curve is the same in every experiment of a seed (one cached pretrain stage): one
    # experiment per seed scores it, every experiment scores its GAN
    mle_jobs = [] if args.names else [(f"coco-s{seed}-{args.losses[0]}", ("mle",))
                                      for seed in args.seeds]
    jobs = mle_jobs + [(name, ("gan",) if mle_jobs else ("mle", "gan")) for name in names]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        done = list(pool.map(curve, *zip(*jobs)))
    mle = {d["seed"]: d for d in done[:len(mle_jobs)]}
    results = [r for r in kept if r["experiment"] not in names]
    for d in done[len(mle_jobs):]:
        base = mle.get(d["seed"], d)
        if base["mle_md5"] != d["mle_md5"]:
            sys.exit(f"{d['experiment']}: its MLE is not the one of {base['experiment']}")
        rows = [r for r in base["rows"] if r["model"] != "gan"] + \
            [r for r in d["rows"] if r["model"] == "gan"]
        results.append({"experiment": d["experiment"], "commit": d["commit"], "seed": d["seed"],
                        "split": d["split"],
                        "loss": _label(d["experiment"]),
                        "max_diff_vs_stored": max(d["max_diff_vs_stored"],
                                                  base["max_diff_vs_stored"]),
                        **gaps(rows), "rows": rows})
        diff = results[-1]["max_diff_vs_stored"]
        print(f"{d['experiment']}: max |plain - stored| {diff:.2e}"
              + ("" if diff <= MATCH_TOL else " -- NOT the stored curve: the samples differ, "
                 "so its length-matched gaps are not the stored curve's"), flush=True)
    results.sort(key=lambda r: (order.get(r["loss"], len(order)), r["seed"]))
    _write(results)
    print(markdown(results), end="")


if __name__ == "__main__":
    main()
