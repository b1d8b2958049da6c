"""`gantext summary`: the verdict first, then the headline figures, each with its direction.

What a user reads after ``dvc repro`` (or of any experiment, ``gantext summary NAME``):

1. **The verdict** (``metrics/evaluate.json`` block ``verdict``, :mod:`gantext.metrics.verdict`):
   is the adversarial generator's quality-diversity curve above MLE's, at equal diversity and
   at equal length, and above the control's (``mle-continued``, the same generator updates
   without a discriminator) -- yes / no / inside noise, with the mean gap's 95% interval; the
   FID criterion (against held-out sentences of the training distribution); the ceiling (how
   far above MLE's curve held-out real sentences lie at this n).
2. **The run** (``metrics/adversarial.json``): whether the stage handed out its end or rolled
   back (``kept_step``, the reason), and whether the discriminator ever left chance.
3. **The table**: every headline figure of MLE, GAN, the control and the real data, with ``↑``
   (higher is better), ``↓`` (lower is better) or ``≈`` (closest to the real data's is best), the
   GAN - MLE delta and its bootstrap interval (``*`` when the interval excludes 0). Numbers are
   printed with 4 significant digits, so a small FID keeps its digits.

The rendering is pure (:func:`render`); :func:`load_run` reads the files of the workspace or of
a DVC experiment / git revision (``git show REV:metrics/...``).
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gantext.errors import DataError
from gantext.metrics.bootstrap import significant
from gantext.metrics.verdict import verdict_word

__all__ = ["DIRECTION", "Run", "load_run", "render", "fmt"]

#: the table's rows: key -> (label, direction). ↑ higher is better, ↓ lower is better, ≈ the
#: real data's value is best (length, distinctness), "" a count.
DIRECTION: dict[str, tuple[str, str]] = {
    "bleu2": ("BLEU-2", "↑"), "bleu3": ("BLEU-3", "↑"), "bleu4": ("BLEU-4", "↑"),
    "bleu5": ("BLEU-5", "↑"),
    "sbleu2": ("self-BLEU-2", "↓"), "sbleu3": ("self-BLEU-3", "↓"), "sbleu4": ("self-BLEU-4", "↓"),
    "sbleu5": ("self-BLEU-5", "↓"),
    "fid_train": ("FID (train dist.)", "↓"), "fid": ("FID (test)", "↓"),
    "mauve": ("MAUVE (train dist.)", "↑"), "mauve_test": ("MAUVE (test)", "↑"),
    "nll": ("NLL / token (test)", "↓"), "nll_anchor": ("NLL anchor", "↓"),
    "len": ("mean length", "≈"), "distinct_4": ("distinct-4", "≈"),
    "validity": ("validity", "↑"), "oracle_nll_gap": ("oracle NLL gap", "↓"),
    "mode_js": ("mode JS", "↓"), "oracle_invalid": ("oracle invalid", "↓"),
    "n_samples": ("n samples", ""), "n_refs": ("n references", ""),
}
#: the real row's counterpart of a model's figure (its FIDs are the floors at the models' n)
REAL_KEY = {"fid": "fid_floor", "fid_train": "fid_train_floor"}
#: model rows, in column order (the optional ones only when the file has them)
ROWS = ("mle", "gan", "control", "real", "mle_lm", "gan_lm", "d_resample")


def fmt(v: Any, digits: int = 4, sign: bool = False) -> str:
    """A number with `digits` significant digits (counts as integers), '-' for none."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return f"{int(v):+,d}" if sign else f"{int(v):,d}"
    if v == 0:
        return "+0" if sign else "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(v))), 0)
    return f"{v:+.{decimals}f}" if sign else f"{v:.{decimals}f}"


@dataclass
class Run:
    """What the summary reads of one run: its evaluate metrics, its adversarial metrics (None
    when absent), the objective's name and where it came from."""

    evaluate: dict
    adversarial: dict | None
    loss: str | None
    source: str


def _git_show(root: Path, rev: str, path: str) -> str | None:
    done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True,
                          text=True)
    return done.stdout if done.returncode == 0 else None


def _exp_ref(root: Path, name: str) -> str | None:
    """The git ref of DVC experiment `name` (refs/exps/.../<name>), or None."""
    done = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], cwd=root,
                          capture_output=True, text=True)
    refs = [r for r in done.stdout.split() if r.rsplit("/", 1)[-1] == name]
    return refs[0] if refs else None


def load_run(root: Path, name: str | None = None,
             metrics: Path | None = None) -> Run:
    """The workspace's run (``metrics/`` under `root`, or the file `metrics`), or experiment /
    revision `name` (a DVC experiment name, a branch, a tag or a commit)."""
    if name is None:
        path = metrics or root / "metrics" / "evaluate.json"
        if not path.is_file():
            raise DataError(f"{path}: not found; run the pipeline first (`dvc repro`)")
        adv = path.with_name("adversarial.json")
        params = root / "params.yaml"
        loss = None
        if params.is_file():
            loss = ((yaml.safe_load(params.read_text(encoding="utf-8")) or {})
                    .get("adversarial") or {}).get("loss")
        return Run(json.loads(path.read_text(encoding="utf-8")),
                   json.loads(adv.read_text(encoding="utf-8")) if adv.is_file() else None,
                   loss, str(path))
    rev = _exp_ref(root, name) or name
    text = _git_show(root, rev, "metrics/evaluate.json")
    if text is None:
        raise DataError(f"no metrics/evaluate.json in experiment or revision '{name}' (see `dvc "
                        "exp show` for the experiments' names)")
    adv = _git_show(root, rev, "metrics/adversarial.json")
    params = yaml.safe_load(_git_show(root, rev, "params.yaml") or "") or {}
    return Run(json.loads(text), json.loads(adv) if adv else None,
               (params.get("adversarial") or {}).get("loss"), f"{name} ({rev})")


def _gap(v: Mapping[str, Any], prefix: str) -> str:
    if f"{prefix}gap_mean" not in v:
        return "the curves do not overlap: widen evaluate.sweep_temperatures"
    return (f"mean gap {fmt(v[f'{prefix}gap_mean'], 3, True)} [{fmt(v[f'{prefix}gap_mean_lo'], 3, True)}, "
            f"{fmt(v[f'{prefix}gap_mean_hi'], 3, True)}], largest {fmt(v[f'{prefix}gap_max'], 3, True)}")


def _verdict_lines(m: Mapping[str, Any], loss: str | None) -> list[str]:
    v = m.get("verdict")
    if not isinstance(v, dict):
        return ["Verdict: none in this file (an evaluate.json from before the verdict; run "
                "`dvc repro evaluate`)"]
    proto = m.get("protocol") or {}
    head = (f"Verdict: {loss or 'the GAN'} vs MLE, BLEU-5 at matched self-BLEU-5 (95% paired-"
            f"bootstrap intervals;\n  {fmt(v.get('n_sweep'))} samples per point at temperatures "
            f"{proto.get('sweep_temperatures', '?')})")
    rows = [("above MLE's curve", verdict_word(v.get("vs_mle")), _gap(v, "")),
            ("  ... at equal length", verdict_word(v.get("vs_mle_lm")), _gap(v, "lm_"))]
    if "vs_control" in v:
        rows += [("above the control's curve", verdict_word(v.get("vs_control")),
                  _gap(v, "control_")),
                 ("  ... at equal length", verdict_word(v.get("vs_control_lm")),
                  _gap(v, "lm_control_"))]
    d = m.get("delta") or {}
    if "fid_train_vs_mle" in v and "fid_train" in d:
        word = {1: "higher (worse)", -1: "lower (better)", 0: "inside noise"}[v["fid_train_vs_mle"]]
        rows.append(("FID vs training dist.", word,
                     f"GAN - MLE {fmt(d['fid_train'], 3, True)} [{fmt(d['fid_train_lo'], 3, True)}, "
                     f"{fmt(d['fid_train_hi'], 3, True)}]"))
    width = max(len(r[0]) for r in rows)
    lines = [head] + [f"  {label:<{width}}  {answer:<15}{detail}" for label, answer, detail in rows]
    if v.get("real_gap") is not None:
        lines.append(f"  ceiling: held-out real sentences lie {fmt(v['real_gap'], 3, True)} BLEU-5 "
                     "above MLE's curve at their own self-BLEU-5")
    if "vs_control" not in v:
        lines.append("  no control in this run (adversarial.control: false, or the loss is the "
                     "control itself)")
    return lines


def _run_line(adv: Mapping[str, Any] | None) -> list[str]:
    if not adv:
        return []
    steps = adv.get("steps")
    if adv.get("rolled_back"):
        why = {"nll_rise": "its validation NLL rose more than adversarial.max_valid_nll_rise",
               "worse_everywhere": "the end was worse than MLE on every figure"}.get(adv.get("rollback_reason"),
                                                              str(adv.get("rollback_reason")))
        out = [f"Run: {steps} generator steps; ROLLED BACK to step {adv.get('kept_step')}: {why}"]
    else:
        out = [f"Run: {steps} generator steps; the end was handed out (no rollback)"]
    if "d_acc_mean" in adv:
        chance = ("the discriminator never left chance: the generator only drifted"
                  if adv.get("d_at_chance") else "the discriminator left chance")
        out.append(f"     D accuracy mean {fmt(adv['d_acc_mean'], 2)}: {chance}")
    return out


def render(run: Run) -> str:
    """The whole summary of `run` as text (<= 120 columns)."""
    m = run.evaluate
    lines = _verdict_lines(m, run.loss) + _run_line(run.adversarial) + [""]
    cols = [c for c in ROWS if isinstance(m.get(c), dict)]
    delta = m.get("delta") if isinstance(m.get("delta"), dict) else {}

    def get(c: str, k: str) -> Any:
        return m[c].get(REAL_KEY.get(k, k) if c == "real" else k)

    keys = [k for k in DIRECTION if any(get(c, k) is not None for c in cols)]
    label_w = max(len(label) for label, _ in DIRECTION.values())  # one layout for every file
    width = {c: max(10, len(c) + 1) for c in cols}  # d_resample is 10 characters wide
    head = f"{'metric':<{label_w}}   " + "".join(f"{c:>{width[c]}}" for c in cols)
    has_ci = any(k.endswith("_lo") for k in delta)
    if delta:
        head += f"{'gan-mle':>10}" + ("  95% interval" if has_ci else "")
    lines.append(head)
    marked = False
    for k in keys:
        label, arrow = DIRECTION[k]
        row = f"{label:<{label_w}} {arrow or ' '} " + "".join(f"{fmt(get(c, k)):>{width[c]}}" for c in cols)
        if delta:
            cell = fmt(delta.get(k), 3, True)
            sig = significant(delta, k)
            if sig:
                cell, marked = cell + "*", True
            row += f" {cell:>9}"
            if sig is not None:
                row += f"  [{fmt(delta[k + '_lo'], 3, True)}, {fmt(delta[k + '_hi'], 3, True)}]"
        lines.append(row.rstrip())
    proto = m.get("protocol") or {}
    lines.append("")
    lines.append("↑ higher is better, ↓ lower is better, ≈ closest to the real data's is best")
    lines.append("real = held-out real sentences at the models' n (its FIDs: the floors)")
    if has_ci:
        lines.append(f"* = the delta's bootstrap {proto.get('ci_level', 0.95):.0%} interval excludes "
                     "0" + ("" if marked else " (none here)"))
    elif delta:
        lines.append("no intervals in this file (an older evaluate.json): no delta is marked")
    lines.append(f"read from {run.source}")
    return "\n".join(lines) + "\n"
