"""Tables and the quality-diversity PNG of the COCO results (called by `protocol.py report`).

Input: {exp name: {"seed", "loss", "evaluate" (metrics/evaluate.json), "pretrain", "adversarial",
"tokenize", "params", "walls" {stage: s}, "qd" [rows of metrics/plots/quality_diversity.csv]}}.
Output: results.json (every figure per seed + mean/std), results.md (the README's tables) and
quality_diversity.png, all beside this file.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any, Mapping, Sequence

NS = (2, 3, 4, 5)
STAGES = ("ingest", "tokenize", "pretrain", "adversarial", "evaluate")
try:  # every registered objective can have rows (protocol.py --losses ...)
    from gantext.objectives import OBJECTIVES

    MODELS = ("mle", *OBJECTIVES)
except ImportError:  # read without the package on the path: the three published losses
    MODELS = ("mle", "bce", "wgan-gp", "seqgan")
# data/benchmarks/coco/README.md (RelGAN 2019 Table 2; self-BLEU from the Texygen README)
PUBLISHED = {
    "MLE": {"bleu": (.731, .497, .305, .189), "nll": .718, "sbleu": (.916, .769, .583, .408)},
    "SeqGAN": {"bleu": (.745, .498, .294, .180), "nll": 1.082, "sbleu": (.950, .840, .670, .489)},
    "RankGAN": {"bleu": (.743, .467, .264, .156), "nll": 1.344, "sbleu": None},
    "LeakGAN": {"bleu": (.746, .528, .355, .230), "nll": .679, "sbleu": (.966, .913, .848, .780)},
    "RelGAN(100)": {"bleu": (.849, .687, .502, .331), "nll": .756, "sbleu": None},
}
#: the objective that makes the same generator updates with the MLE loss and no D: every
#: adversarial row is also compared with it, seed by seed
CONTROL = "mle-continued"
METRIC_KEYS = (*(f"bleu{n}" for n in NS), *(f"sbleu{n}" for n in NS), "fid", "nll", "nll_anchor",
               "len", "unique", "novelty", "distinct_4")


def mean_std(values: Sequence[float | None]) -> dict[str, float | None]:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "n": len(vals)}


def qd_curve(qd: Sequence[Mapping[str, Any]], model: str) -> list[tuple[float, float, float]]:
    """(temperature, self-BLEU-5, BLEU-5) of one model's sweep, by temperature."""
    return sorted((float(r["temperature"]), float(r["self_bleu5"]), float(r["bleu5"]))
                  for r in qd if r["model"] == model and r["temperature"] != "")


def gap_points(qd: Sequence[Mapping[str, Any]], model: str = "gan", base: str = "mle"
               ) -> list[tuple[float, float, float]]:
    """(temperature, self-BLEU-5, gap) for each `model` sweep point inside `base`'s self-BLEU-5
    range, gap = its BLEU-5 minus `base`'s BLEU-5 interpolated (linearly, along the base curve
    sorted by self-BLEU-5) at the same self-BLEU-5. Positive = better quality at equal
    diversity."""
    curve = sorted((s, b) for _, s, b in qd_curve(qd, base))
    out = []
    for t, x, y in qd_curve(qd, model):
        base_y = curve_at(curve, x)
        if base_y is not None:
            out.append((t, x, y - base_y))
    return out


def curve_at(curve: Sequence[tuple[float, float]], x: float) -> float | None:
    """BLEU-5 of a (self-BLEU-5, BLEU-5) curve sorted by self-BLEU-5, interpolated linearly at
    self-BLEU-5 `x`; None outside the curve's range."""
    xs, ys = [c[0] for c in curve], [c[1] for c in curve]
    if not (xs and xs[0] <= x <= xs[-1]):
        return None
    i = max(j for j in range(len(xs)) if xs[j] <= x)
    if i == len(xs) - 1 or xs[i + 1] == xs[i]:
        return ys[i]
    return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])


def real_gap(qd: Sequence[Mapping[str, Any]], base: str = "mle") -> float | None:
    """The held-out real sample's BLEU-5 minus `base`'s curve at the real self-BLEU-5: how far
    above MLE's curve a model indistinguishable from the data would lie (the ceiling of the
    gap criterion at this sample size); None without a real row or outside the curve."""
    real = [r for r in qd if r["model"] == "real"]
    if not real:
        return None
    curve = sorted((s, b) for _, s, b in qd_curve(qd, base))
    at = curve_at(curve, float(real[0]["self_bleu5"]))
    return None if at is None else float(real[0]["bleu5"]) - at


def gaps_above(qd: Sequence[Mapping[str, Any]], model: str = "gan", base: str = "mle"
               ) -> list[float]:
    """The gaps of :func:`gap_points` alone."""
    return [g for _, _, g in gap_points(qd, model, base)]


def aggregate(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per model (mle + each loss): per-seed metrics and mean/std; walls; QD gains; real row."""
    by_seed: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in MODELS}
    walls: dict[str, dict[int, dict[str, float | None]]] = {m: {} for m in MODELS[1:]}
    gains: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in MODELS[1:]}
    mle_check: dict[int, list[str]] = {}
    real: dict[int, dict[str, Any]] = {}
    for name, r in sorted(results.items()):
        seed, loss, ev = r["seed"], r["loss"], r["evaluate"]
        by_seed[loss][seed] = {k: ev["gan"].get(k) for k in METRIC_KEYS}
        mle = {k: ev["mle"].get(k) for k in METRIC_KEYS}
        mle["train_nll_anchor"] = r["pretrain"].get("train_nll_anchor")
        mle["valid_nll"] = r["pretrain"].get("valid_nll")
        if seed in by_seed["mle"] and by_seed["mle"][seed] != mle:
            mle_check.setdefault(seed, []).append(name)  # same seed, different MLE: a bug
        by_seed["mle"].setdefault(seed, mle)
        walls[loss][seed] = {s: r["walls"].get(s) for s in STAGES}
        g = gaps_above(r["qd"])
        gains[loss][seed] = {"mean_gap": statistics.fmean(g) if g else None,
                             "max_gap": max(g) if g else None, "points_in_range": len(g)}
        real.setdefault(seed, {**ev["real"], "qd_gap": real_gap(r["qd"])})
    if mle_check:
        raise ValueError(f"the MLE metrics of one seed differ between experiments: {mle_check}")
    models = {}
    for m, seeds in by_seed.items():
        keys = sorted({k for v in seeds.values() for k in v})
        models[m] = {"per_seed": seeds,
                     "summary": {k: mean_std([v.get(k) for v in seeds.values()]) for k in keys}}
    totals = {m: {s: (sum(v for v in w.values() if v is not None)
                      if all(v is not None for v in w.values()) else None)
                  for s, w in ws.items()} for m, ws in walls.items()}
    return {"models": models, "walls": walls, "pipeline_wall": totals, "qd_gain": gains,
            "real": {"per_seed": real,
                     "summary": {k: mean_std([v.get(k) for v in real.values()])
                                 for k in sorted({k for v in real.values() for k in v})}}}


def _ms(s: Mapping[str, Any], digits: int = 3) -> str:
    if s["mean"] is None:
        return "n/a"
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def _real_label(R: Mapping[str, Any]) -> str:
    """The real row's label: since evaluate writes sizes (``real.n_samples``), the real row is a
    held-out real sample of the models' n (BLEU vs test, self-BLEU among themselves); before
    that, BLEU came from train and self-BLEU from the test split at another size."""
    if "n_samples" in R:
        n = R["n_samples"]["mean"]
        return (f"real data ({n:,.0f} held-out sentences, as many as the model samples: BLEU vs "
                "test; self-BLEU among themselves)")
    return "real data (BLEU: train split vs test; self-BLEU: test)"


def _fid_reference(R: Mapping[str, Any]) -> str:
    """The FID column header: the floor at the models' n (new evaluate.json) and the half-vs-half
    figure under its own name; older files had the half-vs-half "floor" and a train-vs-test
    FID."""
    if "fid_halves" in R:
        return ("floor = FID(test, held-out real sample of the models' n) " + _ms(R["fid_floor"], 4)
                + "; test half vs half " + _ms(R["fid_halves"], 5))
    return ("floor " + _ms(R["fid_floor"], 5) + ", train-vs-test "
            + _ms(R.get("fid_train", {"mean": None}), 4))


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def markdown(agg: Mapping[str, Any], chosen: Mapping[str, Any], seeds: Sequence[int],
             fid_equal: Mapping[str, Any] | None = None) -> str:
    """The results section (tables + target verdicts), computed from `agg` only, and from
    `fid_equal` (the summary of fid_at_equal_diversity.py: FID at MLE's self-BLEU) if given."""
    S, R = agg["models"], agg["real"]["summary"]
    present = [m for m in MODELS if S[m]["per_seed"]]
    n = len(seeds)
    lines = [f"Mean ± std over seeds {', '.join(map(str, seeds))} (n = {n}); 10,000 samples at "
             "temperature 1; BLEU against all 10,000 test captions; leave-one-out self-BLEU on "
             "all 10,000 samples. Published rows as reported (one run each).", "",
             "| model | BLEU-2 | BLEU-3 | BLEU-4 | BLEU-5 | self-BLEU-2 | self-BLEU-3 | "
             "self-BLEU-4 | self-BLEU-5 |", "|---|---|---|---|---|---|---|---|---|"]
    for m in present:
        s = S[m]["summary"]
        label = "**ours: MLE**" if m == "mle" else f"**ours: {m}**"
        lines.append(f"| {label} | " + " | ".join(_ms(s[f"bleu{k}"]) for k in NS) + " | "
                     + " | ".join(_ms(s[f"sbleu{k}"]) for k in NS) + " |")
    lines.append(f"| {_real_label(R)} | " + " | ".join(_ms(R[f"bleu{k}"]) for k in NS)
                 + " | " + " | ".join(_ms(R[f"sbleu{k}"]) for k in NS) + " |")
    for name, p in PUBLISHED.items():
        sb = p["sbleu"]
        lines.append(f"| published: {name} | " + " | ".join(f"{v:.3f}" for v in p["bleu"]) + " | "
                     + (" | ".join(f"{v:.3f}" for v in sb) if sb else " | ".join("–" * 1 for _ in NS))
                     + " |")
    lines += ["", "| model | FID (" + _fid_reference(R) + ") | NLL_gen per token (test) | "
              "NLL_gen anchor (test) | mean length | unique | novelty | distinct-4 |",
              "|---|---|---|---|---|---|---|---|"]
    for m in present:
        s = S[m]["summary"]
        lines.append(f"| {m} | {_ms(s['fid'], 4)} | {_ms(s['nll'])} | {_ms(s['nll_anchor'])} | "
                     f"{_ms(s['len'], 2)} | {_ms(s['unique'])} | {_ms(s['novelty'])} | "
                     f"{_ms(s['distinct_4'])} |")
    lines.append(f"| real ({'held-out, n as models' if 'n_samples' in R else 'test'}) | | | | "
                 f"{_ms(R['len'], 2)} | {_ms(R['unique'])} | "
                 f"{_ms(R['novelty'])} | {_ms(R['distinct_4'])} |")
    mle = S["mle"]["summary"]
    lines += ["", f"MLE NLL_gen on the *training* split, anchor-compatible (RelGAN's 0.718 is "
              f"measured on the training file): {_ms(mle['train_nll_anchor'])}; valid NLL per "
              f"token {_ms(mle['valid_nll'])}.", ""]

    # wall times
    lines += ["Wall time per stage, seconds (mean ± std over seeds; one CPU thread per stage, "
              "two experiments at a time on the 2-core machine):", "",
              "| objective | ingest | tokenize | pretrain | adversarial | evaluate | "
              "whole pipeline | slowest pipeline |", "|---|---|---|---|---|---|---|---|"]
    for m, ws in agg["walls"].items():
        if not ws:
            continue
        cells = [_ms(mean_std([w[s] for w in ws.values()]), 1) for s in STAGES]
        tot = [v for v in agg["pipeline_wall"][m].values() if v is not None]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {_ms(mean_std(tot), 0)} | "
                     + (f"{max(tot) / 60:.1f} min" if tot else "n/a") + " |")

    # targets
    pub = PUBLISHED["MLE"]["bleu"]
    ours = [mle[f"bleu{k}"]["mean"] for k in NS]
    ok = all(o is not None and o >= p for o, p in zip(ours, pub))
    lines += ["", "**Targets**", "",
              f"- MLE at temperature 1 vs published MLE BLEU-2..5 "
              f"({' / '.join(f'{v:.3f}' for v in pub)}): ours "
              f"{' / '.join(f'{v:.3f}' for v in ours)} (mean) -> "
              + ("**met**" if ok else "**not met**") + "; worst seed: "
              + " / ".join(f"{min(v[f'bleu{k}'] for v in S['mle']['per_seed'].values()):.3f}"
                           for k in NS) + "."]
    for m in present[1:]:
        g = agg["qd_gain"][m]
        med_max, med_mean = _median([v["max_gap"] for v in g.values()]), _median(
            [v["mean_gap"] for v in g.values()])
        s = S[m]["summary"]
        at_t1 = (s["bleu5"]["mean"] > mle["bleu5"]["mean"]
                 and s["sbleu5"]["mean"] <= mle["sbleu5"]["mean"])
        verdict = ("its curve lies above MLE's over part of the range" if med_max is not None
                   and med_max > 0 else "its curve never lies above MLE's")
        # issue 15's target: median over seeds of the largest gap > +0.005, mean gap (over
        # seeds) > 0, and FID not above MLE's
        means = [v["mean_gap"] for v in g.values() if v["mean_gap"] is not None]
        mean_gap = statistics.fmean(means) if means else None
        fid_ok = s["fid"]["mean"] is not None and s["fid"]["mean"] <= mle["fid"]["mean"]
        met = (med_max is not None and med_max > 0.005 and mean_gap is not None and mean_gap > 0
               and fid_ok)
        verdict += ("; above-MLE target (median largest gap > +0.005, mean gap > 0, FID <= "
                    f"MLE's): mean gap {'n/a' if mean_gap is None else f'{mean_gap:+.4f}'}, FID "
                    f"{s['fid']['mean']:.4f} vs {mle['fid']['mean']:.4f} -> "
                    + ("**met**" if met else "**not met**"))
        eq = (fid_equal or {}).get(m)
        if eq:  # like with like: FID where this row is as diverse as MLE at T = 1
            verdict += (f"; FID at MLE's self-BLEU-5 (fid_at_equal_diversity.py, n = 5,000): "
                        f"{eq['gan_fid']:.4f} vs MLE's {eq['mle_fid']:.4f}, not above it in "
                        f"{eq['seeds_not_above']} of {eq['seeds']} seeds")
        control = agg["qd_gain"].get(CONTROL) or {}
        paired = [v["mean_gap"] - control[seed]["mean_gap"] for seed, v in g.items()
                  if m != CONTROL and v["mean_gap"] is not None
                  and (control.get(seed) or {}).get("mean_gap") is not None]
        if paired:  # same seed = same MLE: the difference removes what the seed's MLE brings
            verdict += (f"; vs the control ({CONTROL}, same seeds): mean gap minus the "
                        f"control's {', '.join(f'{d:+.4f}' for d in paired)} (median "
                        f"{statistics.median(paired):+.4f})")
        lines.append(f"- {m}: at temperature 1 BLEU-5 {s['bleu5']['mean']:.3f} vs MLE "
                     f"{mle['bleu5']['mean']:.3f}, self-BLEU-5 {s['sbleu5']['mean']:.3f} vs "
                     f"{mle['sbleu5']['mean']:.3f} ("
                     + ("higher BLEU-5 at equal or lower self-BLEU-5" if at_t1
                                        else "not higher BLEU-5 at equal or lower self-BLEU-5") + "); over the "
                     "temperature sweep, median over seeds of the largest BLEU-5 gap above MLE's "
                     "curve at equal self-BLEU-5: "
                     + ("n/a" if med_max is None else f"{med_max:+.4f}") + ", of the mean gap: "
                     + ("n/a" if med_mean is None else f"{med_mean:+.4f}") + f" -> {verdict}.")
    ceiling = _median([v.get("qd_gap") for v in agg["real"]["per_seed"].values()])
    floor = agg["real"]["summary"].get("fid_floor", {}).get("mean")
    if ceiling is not None and floor is not None:
        lines.append(
            f"- Ceiling of these criteria (what a model indistinguishable from the data scores): "
            f"the held-out real sample lies {ceiling:+.4f} BLEU-5 above MLE's curve at its own "
            f"self-BLEU-5 (median over seeds, {len(agg['real']['per_seed'])} seeds), and its FID "
            f"against test (the floor) is {floor:.4f} vs MLE's {mle['fid']['mean']:.4f} -> such a "
            "model would " + ("pass" if floor <= mle["fid"]["mean"] else "**fail**")
            + " 'FID <= MLE's' as written (read it with the floor and the intervals).")
    tot = [v for ws in agg["pipeline_wall"].values() for v in ws.values() if v is not None]
    if tot:
        lines.append(f"- One full COCO pipeline (all five stages, one objective): "
                     f"{min(tot) / 60:.1f}–{max(tot) / 60:.1f} min over the "
                     f"{len(tot)} runs (target < 30 min) -> "
                     + ("**met**" if max(tot) < 1800 else "**not met**") + ".")
    if chosen:
        lines += ["", "Hyperparameters (chosen on the validation split, seed 0, by `protocol.py "
                  "sweep`; see bench/coco/chosen.yaml): "
                  + "; ".join(f"{k}: " + ", ".join(f"`{kk}={vv}`" for kk, vv in v.items())
                              for k, v in chosen.items()) + "."]
    return "\n".join(lines) + "\n"


def plot(results: Mapping[str, Mapping[str, Any]], agg: Mapping[str, Any], out: Path) -> None:
    """BLEU-5 vs self-BLEU-5 over temperature: MLE and each objective, seed-mean curves (thin
    lines: single seeds), the real-data point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cycle = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
    colours = {"mle": "black", **{m: cycle[i % len(cycle)] for i, m in enumerate(MODELS[1:])}}
    curves: dict[str, dict[int, list]] = {m: {} for m in MODELS}
    real_pts = []
    for r in results.values():
        curves[r["loss"]][r["seed"]] = qd_curve(r["qd"], "gan")
        curves["mle"].setdefault(r["seed"], qd_curve(r["qd"], "mle"))
        real_pts += [(float(x["self_bleu5"]), float(x["bleu5"])) for x in r["qd"]
                     if x["model"] == "real"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=120,
                                  gridspec_kw={"width_ratios": [1.25, 1]})
    for m, seeds in curves.items():
        if not seeds:
            continue
        for c in seeds.values():
            ax.plot([p[1] for p in c], [p[2] for p in c], color=colours[m], alpha=0.25, lw=0.8)
        temps = sorted({p[0] for c in seeds.values() for p in c})
        mean = [(t, statistics.fmean(p[1] for c in seeds.values() for p in c if p[0] == t),
                 statistics.fmean(p[2] for c in seeds.values() for p in c if p[0] == t))
                for t in temps]
        ax.plot([p[1] for p in mean], [p[2] for p in mean], "o-", color=colours[m], ms=3.5,
                lw=1.8, label=m.upper() if m == "mle" else m)
        for t, x, y in mean:
            if m == "mle" or t in (temps[0], 1.0, temps[-1]):
                ax.annotate(f"{t:g}", (x, y), textcoords="offset points", xytext=(4, -9),
                            fontsize=6.5, color=colours[m])
    if real_pts:
        ax.plot(statistics.fmean(p[0] for p in real_pts), statistics.fmean(p[1] for p in real_pts),
                "*", color="crimson", ms=13, label="real data (training captions)")
    ax.set_xlabel("self-BLEU-5 (lower = more diverse)")
    ax.set_ylabel("BLEU-5 against the 10,000 test captions (higher = better quality)")
    seeds_all = sorted({r["seed"] for r in results.values()})
    n_sweep = next(iter(results.values()))["params"].get("evaluate", {}).get("sweep_samples", "?")
    ax.set_title("Quality vs diversity over sampling temperature (labels = T)\n"
                 f"mean of seeds {seeds_all}; thin lines: single seeds; {n_sweep:,} samples per "
                 "point", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)

    # right: each objective's distance above (>0) or below MLE's curve at equal self-BLEU-5
    for r in results.values():
        pts = gap_points(r["qd"])
        ax2.plot([p[1] for p in pts], [p[2] for p in pts], "o-", color=colours[r["loss"]],
                 alpha=0.7, ms=3, lw=1,
                 label=r["loss"] if r["seed"] == min(seeds_all) else None)
    ax2.axhline(0.0, color="black", lw=1.2, label="MLE (same seed)")
    ax2.set_xlabel("self-BLEU-5 (lower = more diverse)")
    ax2.set_ylabel("BLEU-5 minus MLE's BLEU-5 at equal self-BLEU-5")
    ax2.set_title("Above the line = better quality than MLE at equal diversity\n"
                  "one line per seed and objective (the MLE of the same seed)", fontsize=9)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)


def _same_curve(lm_rows: Sequence[Mapping[str, Any]], qd: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a length-matched reading's plain points are the experiment's stored curve (the
    reading belongs to this run, not to an earlier run of the same name)."""
    def key(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, float], tuple[float, float]]:
        return {(r["model"], float(r["temperature"])): (float(r["bleu5"]), float(r["self_bleu5"]))
                for r in rows if r["model"] in ("mle", "gan") and r["temperature"] != ""}
    return bool(key(qd)) and key(lm_rows) == key(qd)


def length_matched_section(lm: Sequence[Mapping[str, Any]],
                           results: Mapping[str, Mapping[str, Any]]) -> str:
    """results.md's section on length (bench/coco/length_matched.py's tables), from the
    readings of the protocol's test runs in `results` whose curves they reproduce."""
    from length_matched import markdown as lm_table
    from length_matched import markdown_drawn

    current = [r for r in lm if r.get("split") == "test" and r["experiment"] in results
               and _same_curve(r["rows"], results[r["experiment"]]["qd"])]
    stale = sorted(set(results) - {r["experiment"] for r in current})
    if not current:
        return ("\nAt equal length: no reading of these runs (run `python bench/coco/"
                "length_matched.py`, then `--draw`, before `report`).\n")
    text = ("\n**At equal length** (`python bench/coco/length_matched.py`, then `--draw`): the "
            "same curves re-read with every sample weighted to the test captions' length "
            "deciles (`bleu5_lm`, `self_bleu5_lm`; every curve, MLE's and the real sample's "
            "too), the gaps of the target computed on them:\n\n" + lm_table(current))
    if any("drawn" in r for r in current):
        text += ("\nDrawn at the training captions' lengths (`evaluate.length_match`: a pool of "
                 "5 x n samples, n kept in the shares of train.txt's length deciles; no test "
                 "caption enters it), both generators, every figure of the protocol at the "
                 "same n and temperatures:\n\n" + markdown_drawn(current))
    if stale:
        text += (f"\nNot read at equal length (no reading, or one of an earlier run): "
                 f"{', '.join(stale)}.\n")
    return text


def write_report(results: Mapping[str, Mapping[str, Any]], chosen: Mapping[str, Any],
                 where: Path) -> list[Path]:
    """results.json, results.md and quality_diversity.png in `where` (each written atomically)."""
    agg = aggregate(results)
    seeds = sorted({r["seed"] for r in results.values()})
    eq_file = where / "fid_equal_diversity.json"  # bench/coco/fid_at_equal_diversity.py
    fid_equal = (json.loads(eq_file.read_text(encoding="utf-8")).get("summary")
                 if eq_file.is_file() else None)
    md = markdown(agg, chosen, seeds, fid_equal)
    lm_file = where / "length_matched.json"  # bench/coco/length_matched.py
    if lm_file.is_file():
        md += length_matched_section(json.loads(lm_file.read_text(encoding="utf-8"))["results"],
                                     results)
    files = []
    for name, text in (("results.json", json.dumps({"chosen": chosen, **agg}, indent=1,
                                                    sort_keys=True, default=str) + "\n"),
                       ("results.md", md)):
        f = where / name
        tmp = f.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(f)
        files.append(f)
    png = where / "quality_diversity.png"
    plot(results, agg, png)
    return files + [png]
