"""FID against the validation captions: held-out sentences of *train.txt's* distribution.

COCO's test.txt describes other images than train.txt (README, "Where we are behind"), so FID
against test mixes two things: how close a generator is to the distribution it was trained on,
and how far that distribution is from test's. This reads the protocol's runs against the 1,000
validation captions instead (split off train.txt, never trained on; the real row is then a
sample of train, as `evaluate.split: valid` defines it): MLE, the GAN, and both drawn at the
training lengths (``evaluate.length_match``), every row at the same n with its bootstrap interval.

    python bench/coco/fid_train_distribution.py [--losses rsgan] [--seeds 0 1 2] [--jobs 2]

Writes fid_train_distribution.json beside this file (replaced whole) and prints one line per run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import length_matched  # noqa: E402  (puts src/ on the path too)

OUT = HERE / "fid_train_distribution.json"
KEEP = ("fid", "fid_lo", "fid_hi", "bleu5", "sbleu5", "len", "n_samples", "n_refs", "fid_floor")


def measure(name: str) -> tuple[str, dict[str, Any]]:
    """Rows mle, gan, mle_lm, gan_lm and real of experiment `name`, scored on the valid split."""
    from gantext.evaluation import evaluate, load_eval_data
    from gantext.metrics.fid import FeatureExtractor
    from gantext.metrics.length_match import LengthMatchConfig
    from gantext.metrics.length_match import length_matched as at_train_lengths

    with length_matched.experiment(name) as x:
        params, gens = x["params"], x["generators"]
        data = load_eval_data(x["paths"], "valid")
        gens = {**gens, **at_train_lengths(gens, data.train, LengthMatchConfig(enabled=True))}
        # the headline rows only: one sweep point of 2 samples (the sweep is not read here)
        cfg = dataclasses.replace(params.evaluate, sweep_temperatures=(1.0,), sweep_samples=2)
        res = evaluate(gens, data, cfg, params.seed, log=lambda _: None,
                       extractor=FeatureExtractor.load(x["paths"].fid_extractor))
    return name, {row: {k: res.metrics[row].get(k) for k in KEEP}
                  for row in ("mle", "gan", "mle_lm", "gan_lm", "real")}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--losses", nargs="+", default=["rsgan"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    names = [f"coco-s{seed}-{loss}" for loss in args.losses for seed in args.seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        out = dict(pool.map(measure, names))
    from gantext.io import write_text

    write_text(OUT, json.dumps(out, indent=1) + "\n")
    for name, rows in out.items():
        print(f"{name}: FID vs valid " + ", ".join(
            f"{r} {v['fid']:.4f} [{v['fid_lo']:.4f}, {v['fid_hi']:.4f}]"
            for r, v in rows.items() if r != "real")
            + f"; real floor {rows['real']['fid_floor']:.4f} (n = {rows['mle']['n_samples']})")


if __name__ == "__main__":
    main()
