"""The multi-seed verdict: per objective, the per-run verdicts of evaluate put together over seeds.

Per objective and seed the figures are the run's own (``metrics/evaluate.json``: the ``verdict``
block, the rows, the ``delta`` blocks); nothing per run is recomputed here. Across seeds:

- **gaps** (GAN minus MLE, and minus the run's own control, at equal diversity and at equal
  length; :data:`COMPARISONS`): the mean of the per-seed mean gaps with a 95% *t-interval over
  seeds* (n seeds, df = n - 1: the seeds are the replicates, so the interval holds training
  noise, which one run's bootstrap cannot see), the same for the largest gaps, and how many
  seeds' own (bootstrap) intervals lie above 0, below 0, or hold it. The across-seeds answer:
  ``yes`` when the t-interval of the mean gap lies above 0, ``no`` below, ``inside noise``
  otherwise; with one seed there is no t-interval: the interval and the answer are that run's
  own (``interval`` says which).
- **FID against the training distribution** (the FID criterion): GAN - MLE (and GAN - control)
  per seed with its bootstrap interval, the mean with a t-interval over seeds, the seeds higher
  / lower beyond noise.
- **MLE**: its BLEU-n / self-BLEU-n at temperature 1 (mean and t-interval over seeds) and, when
  the recipe publishes an MLE row, its BLEU-5 read off its own curve at the published MLE's
  self-BLEU-5 (the verdict's interpolation, :func:`gantext.metrics.verdict.curve_at`).
- **ceiling**: the real sample's height above MLE's curve (``verdict.real_gap``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from scipy import stats

from gantext.metrics.verdict import curve_at, sign_of, verdict_word
from gantext.objectives import CONTROL
from gantext.protocol.collect import STAGES, RunRecord

__all__ = ["COMPARISONS", "ROW_KEYS", "t_interval", "across", "aggregate", "answer_word"]

#: comparison -> (prefix of the per-run verdict's gap keys, its verdict key, what it says)
COMPARISONS: dict[str, tuple[str, str, str]] = {
    "vs_mle": ("", "vs_mle", "above MLE's curve"),
    "vs_mle_lm": ("lm_", "vs_mle_lm", "above MLE's curve at equal length"),
    "vs_control": ("control_", "vs_control", "above the control's curve"),
    "vs_control_lm": ("lm_control_", "vs_control_lm", "above the control's curve at equal length"),
}
#: the row figures carried per seed (and averaged) for every model row
ROW_KEYS = ("bleu2", "bleu3", "bleu4", "bleu5", "sbleu2", "sbleu3", "sbleu4", "sbleu5",
            "fid_train", "fid", "mauve", "nll", "len")
LEVEL = 0.95


def t_interval(values: Sequence[float], level: float = LEVEL) -> dict[str, Any]:
    """Mean of `values` with its Student-t interval (n, df = n - 1); lo/hi None for n < 2."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(vals)
    if n == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0, "df": None, "sd": None}
    mean = statistics.fmean(vals)
    if n < 2:
        return {"mean": mean, "lo": None, "hi": None, "n": 1, "df": 0, "sd": None}
    sd = statistics.stdev(vals)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": n, "df": n - 1, "sd": sd}


def answer_word(v: int | None) -> str:
    """The across-seeds answer in words ('yes' / 'no' / 'inside noise' / 'not comparable')."""
    return verdict_word(v)


def across(per_seed: Mapping[int, Mapping[str, Any]], key: str, lo_key: str, hi_key: str,
           verdict_key: str | None = None) -> dict[str, Any]:
    """`key` over seeds: t-interval of the mean, each seed's own interval counted by side, and
    the answer (1 / -1 / 0 from the t-interval; the single run's own with one seed; None when
    no seed has the figure)."""
    vals = {s: v for s, v in per_seed.items() if v.get(key) is not None}
    out = t_interval([v[key] for v in vals.values()])
    sides = [sign_of(v.get(lo_key), v.get(hi_key)) for v in vals.values()]
    out.update(seeds_above=sides.count(1), seeds_below=sides.count(-1),
               seeds_inside=sides.count(0), seeds=sorted(vals))
    out["interval"] = "t over seeds"
    if not vals:
        out["answer"] = None
    elif out["n"] >= 2:
        out["answer"] = sign_of(out["lo"], out["hi"])
    else:  # one seed: no spread to estimate; its own bootstrap interval and answer
        only = next(iter(vals.values()))
        out["lo"], out["hi"] = only.get(lo_key), only.get(hi_key)
        out["interval"] = "the run's own bootstrap"
        out["answer"] = (only.get(verdict_key) if verdict_key and only.get(verdict_key) is not None
                         else sides[0])
    out["word"] = answer_word(out["answer"])
    return out


def _row(block: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: (block or {}).get(k) for k in ROW_KEYS}


def _seed_entry(r: RunRecord) -> dict[str, Any]:
    """One objective's figures at one seed, all read from the run's files."""
    ev = r.evaluate
    v = ev.get("verdict") or {}
    e: dict[str, Any] = {"experiment": r.name, "commit": r.sha[:7], "line": v.get("line")}
    for comp, (prefix, vkey, _) in COMPARISONS.items():
        e[comp] = {"verdict": v.get(vkey), **{k: v.get(f"{prefix}{k}") for k in
                   ("gap_mean", "gap_mean_lo", "gap_mean_hi", "gap_max", "gap_max_lo",
                    "gap_max_hi")}}
    for ref, block in (("mle", "delta"), ("control", "delta_control")):
        d = ev.get(block) or {}
        e[f"fid_train_vs_{ref}"] = {"verdict": v.get(f"fid_train_vs_{ref}"),
                                    "delta": d.get("fid_train"), "lo": d.get("fid_train_lo"),
                                    "hi": d.get("fid_train_hi")}
    e["gan"] = _row(ev.get("gan"))
    e["control"] = _row(ev["control"]) if "control" in ev else None
    e["real_gap"] = v.get("real_gap")
    adv = r.adversarial or {}
    e["run"] = {"steps": adv.get("steps"), "rolled_back": adv.get("rolled_back"),
                "kept_step": adv.get("kept_step"), "rollback_reason": adv.get("rollback_reason"),
                "d_at_chance": adv.get("d_at_chance")}
    e["walls"] = dict(r.walls)
    return e


def _comparison(per_seed: Mapping[int, Mapping[str, Any]], comp: str) -> dict[str, Any]:
    entries = {s: e[comp] for s, e in per_seed.items()}
    out = across(entries, "gap_mean", "gap_mean_lo", "gap_mean_hi", "verdict")
    out["largest"] = across(entries, "gap_max", "gap_max_lo", "gap_max_hi")
    return out


def _fid(per_seed: Mapping[int, Mapping[str, Any]], ref: str) -> dict[str, Any]:
    entries = {s: e[f"fid_train_vs_{ref}"] for s, e in per_seed.items()}
    out = across(entries, "delta", "lo", "hi", "verdict")
    out["word"] = {1: "higher (worse)", -1: "lower (better)", 0: "inside noise"}.get(
        out["answer"], "not measured")
    return out


def _mle_at(qd: Sequence[Mapping[str, Any]], self_bleu5: float) -> float | None:
    """BLEU-5 of MLE's curve (this run's sweep) at `self_bleu5`; None outside its range."""
    pts = [(r["self_bleu5"], r["bleu5"]) for r in qd if r.get("model") == "mle"]
    if len(pts) < 2:
        return None
    at = float(curve_at([p[0] for p in pts], [p[1] for p in pts], self_bleu5)[0])
    return at if math.isfinite(at) else None


def _mean_curves(records: Sequence[RunRecord]) -> dict[str, list[dict[str, Any]]]:
    """Per curve (``mle``; ``<loss>``; ``<loss> control``) the seed-mean point at each
    temperature (BLEU-5, self-BLEU-5 and their equal-length readings), over the seeds that
    have it; MLE counted once per seed."""
    acc: dict[tuple[str, float], dict[int, Mapping[str, Any]]] = {}
    for r in records:
        for row in r.qd:
            model, t = row.get("model"), row.get("temperature")
            if t is None or model not in ("mle", "gan", "control"):
                continue
            curve = "mle" if model == "mle" else r.loss if model == "gan" else f"{r.loss} control"
            acc.setdefault((curve, t), {}).setdefault(r.seed, row)
    out: dict[str, list[dict[str, Any]]] = {}
    for (curve, t), by_seed in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        point = {"temperature": t, "seeds": len(by_seed)}
        for k in ("bleu5", "self_bleu5", "bleu5_lm", "self_bleu5_lm", "mean_length"):
            vals = [row[k] for row in by_seed.values() if row.get(k) is not None]
            point[k] = statistics.fmean(vals) if vals else None
        out.setdefault(curve, []).append(point)
    return out


def aggregate(records: Sequence[RunRecord], losses: Sequence[str], seeds: Sequence[int],
              published: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole multi-seed verdict as plain data (what report.json holds)."""
    warnings: list[str] = []
    by_loss: dict[str, dict[int, RunRecord]] = {loss: {} for loss in losses}
    for r in records:
        by_loss.setdefault(r.loss, {})[r.seed] = r
    objectives: dict[str, Any] = {}
    for loss, runs in by_loss.items():
        per_seed = {s: _seed_entry(r) for s, r in sorted(runs.items())}
        entry: dict[str, Any] = {"seeds": sorted(per_seed), "per_seed": per_seed,
                                 "is_control": loss == CONTROL}
        if per_seed:
            for comp in COMPARISONS:
                entry[comp] = _comparison(per_seed, comp)
            entry["fid_train_vs_mle"] = _fid(per_seed, "mle")
            entry["fid_train_vs_control"] = _fid(per_seed, "control")
            entry["gan"] = {k: t_interval([e["gan"][k] for e in per_seed.values()])
                            for k in ROW_KEYS}
            ctl = [e["control"] for e in per_seed.values() if e["control"]]
            entry["control"] = ({k: t_interval([c[k] for c in ctl]) for k in ROW_KEYS}
                                if ctl else None)
            entry["walls"] = {st: t_interval([e["walls"].get(st) for e in per_seed.values()])
                              for st in STAGES}
            entry["rolled_back"] = sum(bool(e["run"]["rolled_back"]) for e in per_seed.values())
            entry["d_at_chance"] = sum(bool(e["run"]["d_at_chance"]) for e in per_seed.values())
            if loss != CONTROL and not any(r.evaluate.get("control") for r in runs.values()):
                warnings.append(f"{loss}: no run has a control row (adversarial.control off?): "
                                "no answer against the control")
        objectives[loss] = entry

    # MLE: one row per seed (every objective of a seed starts from the same MLE)
    mle: dict[int, dict[str, Any]] = {}
    pub_sb = (published or {}).get("mle_self_bleu5")
    for r in sorted(records, key=lambda r: (r.seed, r.name)):
        row = _row(r.evaluate.get("mle"))
        if r.seed in mle:
            first = mle[r.seed]
            if any(first[k] != row[k] for k in ("bleu5", "sbleu5", "nll")):
                warnings.append(f"seed {r.seed}: the MLE row of {r.name} differs from "
                                f"{first['experiment']}'s (another MLE?): the table shows the "
                                "first")
            continue
        row["experiment"] = r.name
        # metrics/pretrain.json: the MLE's own training figures (train NLL in the published
        # anchor's units: RelGAN's MLE NLL is measured on the training file)
        row["valid_nll"] = (r.pretrain or {}).get("valid_nll")
        row["train_nll_anchor"] = (r.pretrain or {}).get("train_nll_anchor")
        if pub_sb is not None:
            row["bleu5_at_published_sbleu5"] = _mle_at(r.qd, float(pub_sb))
        mle[r.seed] = row
    mle_keys = [*ROW_KEYS, "valid_nll", "train_nll_anchor",
                *(["bleu5_at_published_sbleu5"] if pub_sb is not None else [])]
    real = {s: {"real_gap": e["real_gap"]} for loss, o in objectives.items()
            for s, e in o["per_seed"].items()}
    missing_seeds = {loss: sorted(set(seeds) - set(o["seeds"])) for loss, o in objectives.items()}
    return {
        "seeds": list(seeds), "losses": list(losses), "level": LEVEL,
        "objectives": objectives,
        "mle": {"per_seed": mle,
                "summary": {k: t_interval([m.get(k) for m in mle.values()]) for k in mle_keys},
                "published_self_bleu5": pub_sb},
        "real": {"per_seed": real,
                 "summary": {"real_gap": t_interval([v["real_gap"] for v in real.values()])}},
        "curves": _mean_curves(records),
        "missing": {k: v for k, v in missing_seeds.items() if v},
        "warnings": warnings,
    }
