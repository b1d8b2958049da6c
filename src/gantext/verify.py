"""Did this workspace reproduce a revision's figures? (`gantext verify [--against REV]`)

Compares every metrics JSON the pipeline declares (``metrics:`` in dvc.yaml) in the workspace
with the same file at a git revision (default HEAD, read with ``git show REV:path``), figure by
figure:

* a figure with a bootstrap interval in the revision's file (``<key>_lo`` / ``<key>_hi``, e.g.
  ``mle.bleu5``, ``delta.fid``, ``real.fid_floor``) is **reproduced** when the workspace value
  lies inside that interval (bounds included): the committed run's own sampling noise is the
  yardstick, so a run on another CPU whose kernels round differently passes while a changed
  method does not;
* every other number (NLL, validity, counts, the adversarial stage's diagnostics) is **equal**,
  **close** (relative difference at most ``rtol``, 1% by default) or **apart**; strings and
  booleans are equal or not. These are reported, not judged: without an interval there is no
  yardstick for "the same run on another machine";
* **bit-identical** means every file equal to the revision's (intervals included), ignoring the
  ``machine`` block, which says where each side was computed (:func:`gantext.provenance.
  machine_info`): CPU model, the ISA flags that change kernels (AVX-512, avx512_bf16, AMX), torch,
  BLAS and oneDNN. Same machine block and params: the figures must be bit-identical on CPU.

The revision may be a commit, a branch, a tag or a DVC experiment name (its ``refs/exps`` ref).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gantext.configfields import flatten  # not gantext.config: it imports torch
from gantext.errors import DataError
from gantext.provenance import (MACHINE_KEY, STAGES, describe_machine, git_show, parse_lock,
                                read_lock, resolve_rev)

#: Default relative tolerance for figures without an interval ("close").
RTOL = 0.01


@dataclass
class Figure:
    """One number of one metrics file, committed vs workspace."""

    file: str  # repo-relative path of the metrics JSON
    key: str  # dotted key inside it (``mle.bleu5``)
    committed: Any
    now: Any
    lo: float | None = None  # the committed figure's interval, when it has one
    hi: float | None = None
    verdict: str = ""  # within | outside | equal | close | apart | missing | new

    @property
    def has_interval(self) -> bool:
        return self.lo is not None and self.hi is not None


@dataclass
class Comparison:
    """Everything ``gantext verify`` prints."""

    rev: str  # as asked (HEAD, a branch, an experiment name)
    commit: str  # the commit it names
    figures: list[Figure] = field(default_factory=list)
    identical: bool = True  # every file equal, machine blocks aside
    files_missing: list[str] = field(default_factory=list)  # in one side only
    machine_committed: dict[str, str] = field(default_factory=dict)  # file -> description
    machine_now: dict[str, str] = field(default_factory=dict)
    params_changed: list[str] = field(default_factory=list)  # params.yaml keys that differ
    inputs_changed: list[str] = field(default_factory=list)  # dvc.lock deps that differ
    ci_level: float = 0.95
    rtol: float = RTOL

    def count(self, *verdicts: str, interval: bool | None = None) -> int:
        return sum(1 for f in self.figures if f.verdict in verdicts
                   and (interval is None or f.has_interval == interval))

    @property
    def reproduced(self) -> bool:
        """Every committed figure with an interval has a workspace value inside it."""
        return self.count("outside", "missing", interval=True) == 0


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare_figures(file: str, committed: dict, now: dict, rtol: float = RTOL) -> list[Figure]:
    """Figure-by-figure comparison of two metrics dicts (the ``machine`` block left out; the
    ``_lo`` / ``_hi`` bounds are the yardstick of their figure, not figures themselves)."""
    old = flatten({k: v for k, v in committed.items() if k != MACHINE_KEY})
    new = flatten({k: v for k, v in now.items() if k != MACHINE_KEY})
    bounds = {k for k in old if k.endswith(("_lo", "_hi")) and k[:-3] in old}
    out = []
    for key in [k for k in old if k not in bounds] + [k for k in new if k not in old
                                                       and not k.endswith(("_lo", "_hi"))]:
        a, b = old.get(key), new.get(key)
        fig = Figure(file, key, a, b)
        lo, hi = old.get(key + "_lo"), old.get(key + "_hi")
        if _number(lo) and _number(hi):
            fig.lo, fig.hi = float(lo), float(hi)
        if key not in new:
            fig.verdict = "missing"
        elif key not in old:
            fig.verdict = "new"
        elif fig.has_interval:
            fig.verdict = ("within" if _number(b) and math.isfinite(b) and fig.lo <= b <= fig.hi
                           else "outside")
        elif a == b:
            fig.verdict = "equal"
        elif _number(a) and _number(b) and abs(a - b) <= rtol * max(abs(a), abs(b)):
            fig.verdict = "close"
        else:
            fig.verdict = "apart"
        out.append(fig)
    return out


def metrics_files(root: Path) -> list[str]:
    """The metrics JSONs dvc.yaml declares (``metrics:`` of each stage), upstream stage first."""
    import yaml

    try:
        spec = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{root / 'dvc.yaml'}: cannot read it ({exc})") from None
    stages = spec.get("stages") or {}
    order = [s for s in STAGES if s in stages] + [s for s in stages if s not in STAGES]
    files = []
    for name in order:
        for item in stages[name].get("metrics") or []:
            files += [item] if isinstance(item, str) else list(item)
    return files


def _params_diff(root: Path, commit: str) -> list[str]:
    """params.yaml keys whose values differ between the workspace and `commit` (parsed, so a
    change of form is no change)."""
    import yaml

    try:
        now = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
        then = yaml.safe_load(git_show(root, commit, "params.yaml") or "") or {}
    except (OSError, yaml.YAMLError):
        return []
    a, b = flatten(then), flatten(now)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _inputs_diff(root: Path, commit: str) -> list[str]:
    """The dvc.lock dependencies (code, raw data; not another stage's outputs) whose md5 differs
    between the workspace's dvc.lock and `commit`'s: figures made from other inputs are not a
    machine difference."""
    try:
        now, then = read_lock(root), parse_lock(git_show(root, commit, "dvc.lock") or "", "dvc.lock")
    except DataError:
        return []
    # an upstream stage's output (models/pretrain, metrics/*.json) differs as a consequence
    derived = {o.get("path") for e in now.values() for o in e.get("outs", [])}
    changed = []
    for stage, entry in now.items():
        old = {d.get("path"): d.get("md5") for d in (then.get(stage) or {}).get("deps", [])}
        for dep in entry.get("deps", []):
            if (dep.get("path") in old and dep["path"] not in derived
                    and old[dep["path"]] != dep.get("md5")):
                changed.append(dep["path"])
    return sorted(set(changed))


def verify(root: Path, rev: str = "HEAD", rtol: float = RTOL) -> Comparison:
    """Compare the workspace's metrics files with `rev`'s (see the module docstring)."""
    commit = resolve_rev(root, rev)
    if commit is None:
        raise DataError(f"{rev!r} is not a commit, branch, tag or DVC experiment of {root}; "
                        "pass --against with one (`git log --oneline`, `dvc exp list`)")
    cmp = Comparison(rev=rev, commit=commit, rtol=rtol, params_changed=_params_diff(root, commit),
                     inputs_changed=_inputs_diff(root, commit))
    for rel in metrics_files(root):
        then_text = git_show(root, commit, rel)
        path = root / rel
        if then_text is None or not path.is_file():
            cmp.files_missing.append(f"{rel} ({'not at ' + rev if then_text is None else 'not in the workspace'})")
            cmp.identical = False
            continue
        try:
            then, now = json.loads(then_text), json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{rel}: not valid JSON ({exc}); re-run its stage or restore it "
                            "with git") from None
        cmp.machine_committed[rel] = describe_machine(then.get(MACHINE_KEY))
        cmp.machine_now[rel] = describe_machine(now.get(MACHINE_KEY))
        strip = [{k: v for k, v in d.items() if k != MACHINE_KEY} for d in (then, now)]
        cmp.identical &= strip[0] == strip[1]
        cmp.figures += compare_figures(rel, then, now, rtol)
        level = (then.get("protocol") or {}).get("ci_level") if isinstance(then, dict) else None
        if _number(level):
            cmp.ci_level = float(level)
    return cmp


# ----------------------------------------------------------------------------- rendering
def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e-3 and v != 0 else f"{v:.4f}"
    return str(v)


def _machines(by_file: dict[str, str]) -> str:
    """One description when every file agrees, else one per stage."""
    distinct = list(dict.fromkeys(by_file.values()))
    if len(distinct) <= 1:
        return distinct[0] if distinct else "unknown (no metrics files)"
    return "; ".join(f"{Path(f).stem}: {d}" for f, d in by_file.items())


#: Figures without an interval listed by default (the furthest apart first; ``--all``: every one).
APART_SHOWN = 10


def _rel_diff(f: Figure) -> float:
    if _number(f.committed) and _number(f.now):
        scale = max(abs(f.committed), abs(f.now))
        return abs(f.committed - f.now) / scale if scale else 0.0
    return math.inf


def render(cmp: Comparison, brief: bool = False, show_all: bool = False) -> str:
    """The report: the interval figures that changed (only those outside when `brief`), the
    figures without an interval further apart than `rtol` (the :data:`APART_SHOWN` furthest
    unless `show_all`; none when `brief`), then the verdict lines."""
    lines = [f"gantext verify: workspace metrics vs {cmp.rev} ({cmp.commit[:7]})"]
    if cmp.params_changed:
        shown = ", ".join(cmp.params_changed[:6]) + (" ..." if len(cmp.params_changed) > 6 else "")
        lines.append(f"note: params.yaml differs from {cmp.rev}'s ({shown}): "
                     "the figures are not expected to match")
    if cmp.inputs_changed:
        shown = ", ".join(cmp.inputs_changed[:6]) + (" ..." if len(cmp.inputs_changed) > 6 else "")
        lines.append(f"note: the workspace's dvc.lock records other inputs than {cmp.rev}'s "
                     f"({shown}): a difference may come from the code or the data, not only "
                     "from the machine")
    ivl = [f for f in cmp.figures if f.has_interval and f.verdict != "new"]
    show = [f for f in ivl if f.verdict in ("outside", "missing")
            or (not brief and f.committed != f.now)]
    if show:
        pct = f"{cmp.ci_level:.0%}"
        lines += ["", f"{'figure':<28}{'committed':>11}  {pct + ' interval':<22}{'workspace':>11}"
                      "  verdict"]
        for f in show:
            name = f"{Path(f.file).stem}:{f.key}" if Path(f.file).stem != "evaluate" else f.key
            lines.append(f"{name:<28}{_fmt(f.committed):>11}  "
                         f"{'[' + _fmt(f.lo) + ', ' + _fmt(f.hi) + ']':<22}{_fmt(f.now):>11}  "
                         + ("inside" if f.verdict == "within" else f.verdict.upper()))
    apart = sorted((f for f in cmp.figures
                    if not f.has_interval and f.verdict in ("apart", "missing")),
                   key=_rel_diff, reverse=True)
    if apart and not brief:
        listed = apart if show_all else apart[:APART_SHOWN]
        lines += ["", f"figures without an interval more than {cmp.rtol:.0%} apart"
                      + ("" if len(listed) == len(apart) else
                         f" ({len(listed)} furthest of {len(apart)}; --all lists every one)")
                      + ":"]
        for f in listed:
            lines.append(f"  {Path(f.file).stem}:{f.key}  {_fmt(f.committed)} -> {_fmt(f.now)}")
    lines.append("")
    n_ivl = len(ivl)
    inside = cmp.count("within", interval=True)
    lines.append(f"reproduced within the {cmp.ci_level:.0%} interval: {inside} of {n_ivl}"
                 + ("" if n_ivl else " (the revision's metrics have no intervals)"))
    other = [f for f in cmp.figures if not f.has_interval and f.verdict != "new"]
    if other:
        lines.append(f"other figures (no interval): {cmp.count('equal', interval=False)} equal, "
                     f"{cmp.count('close', interval=False)} within {cmp.rtol:.0%}, "
                     f"{cmp.count('apart', 'missing', interval=False)} further apart"
                     + ("" if brief or not apart else " (above)"))
    if cmp.files_missing:
        lines.append("not compared: " + ", ".join(cmp.files_missing))
    ident = "yes" if cmp.identical else "no"
    machines = (f"committed on {_machines(cmp.machine_committed)}; "
                f"run on {_machines(cmp.machine_now)}")
    if cmp.identical:
        lines.append(f"bit-identical: yes ({machines})")
    else:
        same = (cmp.machine_committed == cmp.machine_now
                and "unknown" not in _machines(cmp.machine_now))
        lines.append(f"bit-identical: {ident} — {machines}"
                     + (" (the same machine: expect bit-identical figures; what differs is "
                        "the code, the params or the data)" if same and not cmp.params_changed
                        and not cmp.inputs_changed else ""))
    return "\n".join(lines) + "\n"
