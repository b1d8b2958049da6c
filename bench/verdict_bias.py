"""The verdict's estimator on a model against itself: its bias and its intervals' coverage.

    python bench/verdict_bias.py [--root DIR] [--n 4000] [--repeats 3]

Reads a finished workspace (models/pretrain/generator.pt, data/interim, data/processed; the
built-in pipeline's or an experiment's, e.g. COCO's) and compares the MLE generator with
*itself*, where the true gap is 0:

- ``same T, other seed``: MLE drawn at the sweep temperatures from other random streams;
- ``between T, other seed``: MLE drawn at temperatures between the sweep's (each midpoint), from
  other streams: a model whose points fall between the base's, where chords lie below a concave
  curve.

For each, the verdict's estimator (:func:`gantext.metrics.verdict.compare`: PCHIP curves read at
shared self-BLEU-5 levels, paired bootstrap) and the old reading (``bench/coco/report.py``
until this change: the model's own points against the base's straight chords, mean over the
points inside the base's range), both at equal diversity. ``--repeats`` draws that many
independent copies of the second curve, so the table shows the spread of the estimate next to
its interval. Printed: mean gap (interval), largest gap (interval), whether the mean gap's
interval holds 0, and the old reading.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gantext.evaluation import _SWEEP, draw_samples, load_eval_data, stream_seed  # noqa: E402
from gantext.metrics.quality_diversity import sweep  # noqa: E402
from gantext.metrics.verdict import Point, compare  # noqa: E402
from gantext.paths import repo_paths  # noqa: E402
from gantext.training.checkpoint import load_generator  # noqa: E402

TEMPS = (0.7, 0.85, 1.0, 1.2, 1.5)


def chords_gap(base: list[Point], model: list[Point]) -> float:
    """The old reading: mean over the model's points inside the base's self-BLEU-5 range of
    (its BLEU-5 - the base's straight chord there)."""
    bx, by = zip(*sorted(p.xy() for p in base))
    gaps = [y - np.interp(x, bx, by) for x, y in (p.xy() for p in model) if bx[0] <= x <= bx[-1]]
    return float(np.mean(gaps)) if gaps else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", default=str(ROOT), help="a workspace that ran the pipeline")
    ap.add_argument("--n", type=int, default=4000, help="samples per sweep point")
    ap.add_argument("--repeats", type=int, default=3, help="independent second curves per case")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    paths = repo_paths(args.root)
    data = load_eval_data(paths)
    model = load_generator(paths.pretrain_generator, vocab_hash=data.vocab.hash)[0]
    n = min(args.n, len(data.pool))
    t0 = time.perf_counter()

    def curve(temps: tuple[float, ...], stream: int) -> list[Point]:
        points: dict[str, list[Point]] = {}

        def sample(_: str, t: float, k: int) -> list[list[str]]:
            return draw_samples(model, data.vocab, k, data.max_len, t,
                                stream_seed(args.seed, _SWEEP, temps.index(t), stream), 500)

        sweep(["m"], temps, n, sample, data.test, points=points)
        return points["m"]

    base = curve(TEMPS, 0)
    mids = tuple(round((a + b) / 2, 4) for a, b in zip(TEMPS, TEMPS[1:]))
    print(f"MLE of {args.root} against itself; {n} samples per point; base temperatures {TEMPS}")
    print(f"{'case':<24}{'mean gap [95% interval]':<34}{'largest gap [95% interval]':<34}"
          f"{'0 in':<6}{'old reading'}")
    for label, temps in (("same T, other seed", TEMPS), ("between T, other seed", mids)):
        for r in range(1, args.repeats + 1):
            other = curve(temps, 100 * r + (1 if temps is mids else 0))
            g = compare(base, other, seed=args.seed)
            if g is None:
                print(f"{label:<24}no overlap")
                continue
            print(f"{label:<24}{g.mean:+.4f} [{g.mean_lo:+.4f}, {g.mean_hi:+.4f}]{'':<8}"
                  f"{g.max:+.4f} [{g.max_lo:+.4f}, {g.max_hi:+.4f}]{'':<8}"
                  f"{'yes' if g.mean_lo <= 0 <= g.mean_hi else 'NO':<6}{chords_gap(base, other):+.4f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
