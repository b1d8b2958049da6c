"""The protocol's report: ``report.md``, ``report.json``, ``quality_diversity.png``,
``quality_diversity.csv`` and a ``dvc.yaml`` whose ``plots:`` entry draws that CSV.

Every objective asked for is in every table, losers and missing runs included (a missing one
says so). The figures come from :func:`gantext.protocol.aggregate.aggregate`; this module only
lays them out. Files are written atomically (:mod:`gantext.io`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gantext.io import atomic_path, write_csv, write_json, write_text
from gantext.protocol.aggregate import COMPARISONS, aggregate
from gantext.protocol.collect import STAGES, RunRecord, collect
from gantext.protocol.recipe import Recipe
from gantext.protocol.run import Planned
from gantext.sweep import git
from gantext.summary import fmt

__all__ = ["markdown", "curve_rows", "plot", "write_report", "build_report", "PLOT_FILE",
           "DVC_PLOT"]

PLOT_FILE = "quality_diversity.csv"
#: the dvc.yaml written beside the CSV: `dvc plots show <out>/quality_diversity.csv` (and a plain
#: `dvc plots show`) draws it with the project's quality-diversity template (colour = curve)
DVC_PLOT = {"plots": [{PLOT_FILE: {
    "template": "quality_diversity", "x": "self_bleu5", "y": "bleu5",
    "title": "Protocol: quality vs diversity, seed-mean curves (MLE, each objective, its control)",
    "x_label": "self-BLEU-5 (lower = more diverse)",
    "y_label": "BLEU-5 against the references (higher = better)"}}]}
_NS = (2, 3, 4, 5)


def _g(v: float | None) -> str:
    """A gap: signed, 4 decimals."""
    return "n/a" if v is None else f"{v:+.4f}"


def _ci(s: Mapping[str, Any], gap: bool = False) -> str:
    """'mean [lo, hi]' of a t-interval summary (no interval with one seed)."""
    f = _g if gap else (lambda v: fmt(v, 4))
    if s.get("mean") is None:
        return "n/a"
    if s.get("lo") is None:
        return f"{f(s['mean'])} (1 seed)"
    return f"{f(s['mean'])} [{f(s['lo'])}, {f(s['hi'])}]"


def _sides(s: Mapping[str, Any]) -> str:
    n = s["seeds_above"] + s["seeds_below"] + s["seeds_inside"]
    return f"{s['seeds_above']}↑ {s['seeds_below']}↓ {s['seeds_inside']}~ of {n}"


def _cell(s: Mapping[str, Any] | None) -> str:
    """One verdict cell: the answer, the mean gap with its t-interval, the seeds by side."""
    if not s or s.get("n", 0) == 0:
        return "not comparable"
    word = s["word"] if s["word"] != "yes" else "**yes**"
    return f"{word} {_ci(s, gap=True)}, {_sides(s)}"


def _answer_line(loss: str, o: Mapping[str, Any], n_seeds: int) -> str:
    """The one line per objective: above MLE's curve and above the control's, each at equal
    diversity and at equal length (yes / no / inside noise, the mean gap, its t-interval and the
    seeds by side), and the FID criterion."""
    if not o["per_seed"]:
        return f"- **{loss}**: no finished run (see Missing)"
    parts = []
    for comp, (_, _, what) in COMPARISONS.items():
        s = o[comp]
        if comp.startswith("vs_control") and o["is_control"]:
            continue
        if s["n"] == 0:
            parts.append(f"{what}: not comparable")
            continue
        how = ("" if s["n"] == n_seeds and s["n"] >= 2 else f"; n = {s['n']}, df = {s['df']}"
               if s["n"] >= 2 else "; one seed: the run's own bootstrap interval")
        parts.append(f"{what}: **{s['word']}** ({_ci(s, gap=True)}; {_sides(s)}{how})")
    f = o["fid_train_vs_mle"]
    if f["n"]:
        parts.append(f"FID (train dist.) vs MLE: {f['word']} (higher in {f['seeds_above']}, "
                     f"lower in {f['seeds_below']} of {f['n']} seeds beyond noise)")
    head = f"- **{loss}**" + (" (the control itself)" if o["is_control"] else "")
    return head + ": " + "; ".join(parts) + "."


def _verdict_table(agg: Mapping[str, Any]) -> list[str]:
    lines = ["| objective | above MLE's curve | at equal length | above the control's curve | "
             "at equal length | FID (train dist.) vs MLE |", "|---|---|---|---|---|---|"]
    for loss, o in agg["objectives"].items():
        if not o["per_seed"]:
            lines.append(f"| {loss} | not run | | | | |")
            continue
        cells = [_cell(o[c]) if not (c.startswith("vs_control") and o["is_control"])
                 else "(is the control)" for c in COMPARISONS]
        f = o["fid_train_vs_mle"]
        fid = "not measured" if not f["n"] else f"{f['word']} {_ci(f)}, {_sides(f)}"
        lines.append(f"| {loss} | " + " | ".join(cells) + f" | {fid} |")
    return lines


def _per_seed_table(agg: Mapping[str, Any]) -> list[str]:
    lines = ["| objective | seed | vs MLE: mean gap [95% bootstrap] | at equal length | "
             "vs control | at equal length | FID (train) GAN - MLE | BLEU-5 | self-BLEU-5 | "
             "length | run |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def gap(c: Mapping[str, Any]) -> str:
        if c.get("gap_mean") is None:
            return "n/a"
        return (f"{_g(c['gap_mean'])} [{_g(c['gap_mean_lo'])}, {_g(c['gap_mean_hi'])}] "
                f"{ {1: '↑', -1: '↓', 0: '~'}.get(c['verdict'], '') }".rstrip())

    for loss, o in agg["objectives"].items():
        for s, e in o["per_seed"].items():
            f = e["fid_train_vs_mle"]
            fid = ("n/a" if f["delta"] is None else
                   f"{fmt(f['delta'], 3, True)} [{fmt(f['lo'], 3, True)}, {fmt(f['hi'], 3, True)}]")
            run = e["run"]
            what = ("rolled back to step " + str(run["kept_step"]) if run["rolled_back"]
                    else f"{run['steps']} steps") if run["steps"] is not None else ""
            if run["d_at_chance"]:
                what += "; D at chance"
            lines.append(f"| {loss} | {s} | " + " | ".join(gap(e[c]) for c in COMPARISONS)
                         + f" | {fid} | {fmt(e['gan']['bleu5'])} | {fmt(e['gan']['sbleu5'])} | "
                         f"{fmt(e['gan']['len'])} | {what} |")
    return lines


def _first_experiment(agg: Mapping[str, Any]) -> str:
    return next((e["experiment"] for o in agg["objectives"].values()
                 for e in o["per_seed"].values()), "<name>-s0-<loss>")


def _mle_section(agg: Mapping[str, Any], published: Mapping[str, Any]) -> list[str]:
    m = agg["mle"]
    if not m["per_seed"]:
        return []
    s = m["summary"]
    n = s["bleu5"]["n"]
    lines = [f"MLE at temperature 1 (mean [95% t-interval over {n} seed{'s' if n != 1 else ''}]"
             "; one row per seed below):", "",
             "| MLE | " + " | ".join(f"BLEU-{k}" for k in _NS) + " | "
             + " | ".join(f"self-BLEU-{k}" for k in _NS) + " | NLL (test) | FID (train dist.) |"
             " length |", "|---|" + "---|" * 11,
             "| ours | " + " | ".join(_ci(s[f"bleu{k}"]) for k in _NS) + " | "
             + " | ".join(_ci(s[f"sbleu{k}"]) for k in _NS)
             + f" | {_ci(s['nll'])} | {_ci(s['fid_train'])} | {_ci(s['len'])} |"]
    for seed, row in m["per_seed"].items():
        lines.append(f"| seed {seed} | " + " | ".join(fmt(row[f"bleu{k}"]) for k in _NS) + " | "
                     + " | ".join(fmt(row[f"sbleu{k}"]) for k in _NS)
                     + f" | {fmt(row['nll'])} | {fmt(row['fid_train'])} | {fmt(row['len'])} |")
    for label, p in (published.get("rows") or {}).items():
        sb = p.get("sbleu")
        lines.append(f"| published: {label} | " + " | ".join(f"{v:.3f}" for v in p["bleu"])
                     + " | " + " | ".join(f"{v:.3f}" if sb else "–" for v in (sb or _NS))
                     + f" | {p.get('nll', '–')} | | |")
    if s["valid_nll"]["n"]:
        lines += ["", f"MLE training (metrics/pretrain.json): valid NLL per token "
                  f"{_ci(s['valid_nll'])}; train NLL per token in the published anchor's units "
                  f"{_ci(s['train_nll_anchor'])} (compare the published `nll` column)."]
    pub = m.get("published_self_bleu5")
    if pub is not None:
        at = s.get("bleu5_at_published_sbleu5") or {}
        ref = next((p["bleu"][-1] for p in (published.get("rows") or {}).values()
                    if p.get("sbleu") and abs(p["sbleu"][-1] - pub) < 1e-9), None)
        lines += ["", f"Our MLE read at the published MLE's self-BLEU-5 ({pub:g}, on its own "
                  "quality-diversity curve, the verdict's interpolation): BLEU-5 "
                  + _ci(at) + (f" against the published {ref:.3f}" if ref is not None else "")
                  + ("" if at.get("n") == n else f" ({at.get('n', 0)} of {n} seeds' curves "
                     "reach that self-BLEU-5)") + "."]
    return lines


def _rows_table(agg: Mapping[str, Any]) -> list[str]:
    keys = (("bleu5", "BLEU-5 ↑"), ("sbleu5", "self-BLEU-5 ↓"), ("fid_train", "FID train ↓"),
            ("fid", "FID test ↓"), ("mauve", "MAUVE ↑"), ("nll", "NLL ↓"), ("len", "length ≈"))
    lines = ["| row (temperature 1) | " + " | ".join(lab for _, lab in keys) + " |",
             "|---|" + "---|" * len(keys)]
    rows = [("MLE", agg["mle"]["summary"])]
    for loss, o in agg["objectives"].items():
        if o["per_seed"]:
            rows.append((loss, o["gan"]))
            if o.get("control"):
                rows.append((f"{loss}: its control", o["control"]))
    for label, s in rows:
        lines.append(f"| {label} | " + " | ".join(_ci(s[k]) for k, _ in keys) + " |")
    return lines


def _walls_table(agg: Mapping[str, Any]) -> list[str]:
    rows = [(loss, o["walls"]) for loss, o in agg["objectives"].items() if o.get("walls")]
    if not rows or all(w[st]["n"] == 0 for _, w in rows for st in STAGES):
        return ["Stage wall times: unknown (no MLflow runs of these experiments in the store "
                "the stages logged to)."]
    lines = ["Wall time per stage, seconds (mean over seeds; from MLflow, the run that made each "
             "output, also when DVC's run-cache restored it; adversarial includes the control):",
             "", "| objective | " + " | ".join(STAGES) + " | pipeline |",
             "|---|" + "---|" * (len(STAGES) + 1)]
    for loss, w in rows:
        means = [w[st]["mean"] for st in STAGES]
        total = sum(means) if all(v is not None for v in means) else None
        lines.append(f"| {loss} | " + " | ".join("?" if v is None else f"{v:.1f}" for v in means)
                     + f" | {'?' if total is None else f'{total:.0f}'} |")
    return lines


def markdown(agg: Mapping[str, Any], title: str, context: Sequence[str] = (),
             published: Mapping[str, Any] | None = None) -> str:
    """report.md from the aggregate (:func:`gantext.protocol.aggregate.aggregate`)."""
    seeds = agg["seeds"]
    lines = [f"# Protocol report: {title}", "", *context, "",
             "## Verdict", "",
             f"Per objective over seeds {', '.join(map(str, seeds))}: BLEU-5 at matched "
             "self-BLEU-5 (each run's own curves, evaluate's verdict), the mean of the per-seed "
             + (f"mean gaps with its 95% t-interval over seeds (n = {len(seeds)}, df = "
                f"{len(seeds) - 1}, unless a line says otherwise)" if len(seeds) > 1 else
                "mean gap with the run's own 95% bootstrap interval (one seed: no interval over "
                "seeds)")
             + ", and how many seeds' own 95% "
             "paired-bootstrap intervals lie above 0 (↑), below (↓) or hold it (~). "
             "**yes** = that interval lies above 0, no = below, inside noise = it holds 0. "
             "The control is each run's own (`mle-continued`: the same generator updates, no "
             "discriminator, same seed). FID is read against held-out sentences of the training "
             "distribution.", "", *_verdict_table(agg), "",
             *(_answer_line(loss, o, len(seeds)) for loss, o in agg["objectives"].items()), "",
             "## Per seed", "", *_per_seed_table(agg), "",
             "(`gantext summary <experiment>`, e.g. `gantext summary "
             f"{_first_experiment(agg)}`, prints one run's whole verdict and table.)", "",
             "## MLE and every row", "", *_mle_section(agg, published or {}), "",
             *_rows_table(agg), ""]
    real = agg["real"]["summary"]["real_gap"]
    if real["n"]:
        lines += [f"Ceiling: held-out real sentences lie {_ci(real, gap=True)} BLEU-5 above MLE's "
                  "curve at their own self-BLEU-5: the largest gap a model that reproduces the "
                  "data would show at this sample size.", ""]
    lines += ["## Cost", "", *_walls_table(agg), ""]
    if agg["missing"] or agg["warnings"]:
        lines += ["## Missing and warnings", ""]
        lines += [f"- {loss}: no finished run for seed(s) {', '.join(map(str, s))}"
                  for loss, s in agg["missing"].items()]
        lines += [f"- {w}" for w in agg["warnings"]]
        lines.append("")
    lines += ["## Files", "",
              "`report.json` (every figure above, per seed), `quality_diversity.png` (thin lines: "
              "single seeds; thick: seed means), `quality_diversity.csv` (seed-mean curves; "
              f"`dvc plots show {{out}}/{PLOT_FILE}` draws it through the `dvc.yaml` beside it)."]
    return "\n".join(lines) + "\n"


def curve_rows(agg: Mapping[str, Any], records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """quality_diversity.csv: the seed-mean curves (``model`` = the curve: ``mle``, ``<loss>``,
    ``<loss> control``) and the seed-mean real point."""
    rows = []
    for curve, pts in agg["curves"].items():
        for p in pts:
            rows.append({"model": curve, "temperature": p["temperature"],
                         "self_bleu5": p["self_bleu5"], "bleu5": p["bleu5"],
                         "self_bleu5_lm": p["self_bleu5_lm"], "bleu5_lm": p["bleu5_lm"],
                         "mean_length": p["mean_length"], "seeds": p["seeds"]})
    real: dict[int, Mapping[str, Any]] = {}
    for r in records:
        for row in r.qd:
            if row.get("model") == "real":
                real.setdefault(r.seed, row)
    if real:
        def mean(k: str) -> float | None:
            vals = [row[k] for row in real.values() if row.get(k) is not None]
            return sum(vals) / len(vals) if vals else None
        rows.append({"model": "real", "temperature": "", "self_bleu5": mean("self_bleu5"),
                     "bleu5": mean("bleu5"), "self_bleu5_lm": mean("self_bleu5_lm"),
                     "bleu5_lm": mean("bleu5_lm"), "mean_length": mean("mean_length"),
                     "seeds": len(real)})
    return rows


def plot(records: Sequence[RunRecord], losses: Sequence[str], out: Path) -> None:
    """quality_diversity.png: one panel per objective, BLEU-5 against self-BLEU-5 over the
    sampling temperatures: MLE (black), the objective, its control (dashed), thin lines for
    single seeds and thick ones for their means, the real points (stars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def curve(r: RunRecord, model: str) -> list[tuple[float, float, float]]:
        return sorted((row["temperature"], row["self_bleu5"], row["bleu5"]) for row in r.qd
                      if row.get("model") == model and row.get("temperature") is not None)

    def draw(ax: Any, curves: Sequence[list], colour: str, label: str, dash: str = "-") -> None:
        curves = [c for c in curves if c]
        if not curves:
            return
        for c in curves:
            ax.plot([p[1] for p in c], [p[2] for p in c], dash, color=colour, alpha=0.3, lw=0.8)
        temps = sorted({p[0] for c in curves for p in c})
        mean = [(sum(p[1] for c in curves for p in c if p[0] == t) / k,
                 sum(p[2] for c in curves for p in c if p[0] == t) / k)
                for t in temps for k in [sum(1 for c in curves for p in c if p[0] == t)]]
        ax.plot([p[0] for p in mean], [p[1] for p in mean], dash, marker="o", ms=3,
                color=colour, lw=1.8, label=f"{label} (mean of {len(curves)})")

    panels = [loss for loss in losses if any(r.loss == loss for r in records)] or ["(no runs)"]
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows), dpi=110,
                             squeeze=False)
    for ax, loss in zip(axes.flat, panels):
        runs = [r for r in records if r.loss == loss]
        mle_by_seed = {r.seed: curve(r, "mle") for r in records}
        draw(ax, list(mle_by_seed.values()), "black", "MLE")
        draw(ax, [curve(r, "gan") for r in runs], "tab:red", loss)
        draw(ax, [curve(r, "control") for r in runs], "tab:blue", "control", "--")
        real = [(row["self_bleu5"], row["bleu5"]) for r in runs for row in r.qd
                if row.get("model") == "real"]
        if real:
            ax.scatter([p[0] for p in real], [p[1] for p in real], marker="*", s=70,
                       color="tab:green", label="real (held-out)", zorder=3)
        ax.set_title(loss, fontsize=10)
        ax.set_xlabel("self-BLEU-5 (lower = more diverse)", fontsize=8)
        ax.set_ylabel("BLEU-5 (higher = better)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="upper left")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_report(agg: Mapping[str, Any], records: Sequence[RunRecord], out: Path, title: str,
                 context: Sequence[str] = (), published: Mapping[str, Any] | None = None,
                 shown: str | None = None) -> list[Path]:
    """Every report file in `out` (created; `shown`: how the text names that folder);
    returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shown = shown or out.as_posix()
    md = markdown(agg, title, context, published).replace("{out}", shown)
    write_text(out / "report.md", md)
    write_json(out / "report.json", agg, sort_keys=False)
    write_csv(out / PLOT_FILE, curve_rows(agg, records))
    write_text(out / "dvc.yaml", "# written by `gantext protocol report`: `dvc plots show "
               f"{shown}/{PLOT_FILE}` draws the seed-mean curves\n"
               + yaml.safe_dump(DVC_PLOT, sort_keys=False))
    plot(records, agg["losses"], out / "quality_diversity.png")
    return [out / n for n in ("report.md", "report.json", "quality_diversity.png", PLOT_FILE,
                              "dvc.yaml")]


def _context(root: Path, recipe: Recipe, planned: Sequence[Planned], records: Sequence[RunRecord],
             extra: dict[str, Any]) -> list[str]:
    """The report's opening lines: what was run, on what, at which sample sizes."""
    head = git(root, "rev-parse", "--short", "HEAD")
    lines = [f"Corpus / recipe: `{recipe.source or recipe.name}`"
             + (f" (corpus folder `{recipe.corpus}`)" if recipe.corpus else "")
             + f"; commit {head}; {len(planned)} experiments (`{planned[0].name}`, ...)."
             if planned else f"Corpus / recipe: `{recipe.source}`; commit {head}."]
    proto = next((r.evaluate.get("protocol") for r in records if r.evaluate.get("protocol")), None)
    if proto:
        lines.append(f"Per run: {proto.get('num_samples')} samples at temperature 1; the "
                     f"quality-diversity curves {proto.get('sweep_samples')} samples per point at "
                     f"temperatures {proto.get('sweep_temperatures')}; intervals "
                     f"{proto.get('ci_level', 0.95):.0%}, {proto.get('ci_resamples')} bootstrap "
                     "resamples.")
    picks = {k: v for k, v in recipe.chosen.items() if v}
    if picks:
        lines.append("Hyperparameters (the recipe's picks): " + "; ".join(
            f"{k}: " + ", ".join(f"`{kk}={vv}`" for kk, vv in v.items())
            for k, v in picks.items()) + ".")
    if extra:
        lines.append("Extra overrides on every experiment: "
                     + ", ".join(f"`{k}={v}`" for k, v in extra.items()) + ".")
    return lines


def build_report(root: Path, recipe: Recipe, planned: Sequence[Planned], out: Path,
                 extra: dict[str, Any] | None = None, walls: bool = True
                 ) -> tuple[list[Path], list[str]]:
    """Collect the planned experiments of this commit, aggregate, write the report into `out`.
    Returns (files written, names of the experiments that are missing)."""
    records, missing = collect(root, planned, walls=walls)
    losses = list(dict.fromkeys(p.loss for p in planned))
    seeds = list(dict.fromkeys(p.seed for p in planned))
    agg = aggregate(records, losses, seeds, recipe.published)
    out = Path(out).resolve()
    shown = (out.relative_to(Path(root).resolve()).as_posix()
             if out.is_relative_to(Path(root).resolve()) else str(out))
    files = write_report(agg, records, out, recipe.name,
                         _context(root, recipe, planned, records, extra or {}), recipe.published,
                         shown)
    return files, missing
