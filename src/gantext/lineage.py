"""Lineage: how a dataset became the current model, built from files alone.

Sources, in order of authority:

* ``dvc.lock``: for every stage, the params values and the md5 of every dep and out exactly as
  DVC recorded them (directories: DVC's ``.dir`` hash);
* the workspace: each recorded md5 is re-computed (:func:`gantext.provenance.dvc_md5`) and marked
  ``ok`` or ``CHANGED``; for directory outs the per-file md5s are listed, and since DVC's ``.dir``
  hash is the md5 of exactly that listing, a matching ``.dir`` proves every file md5 too (raw input
  files are checked the same way through the ``ingest.data_dir`` dep);
* ``metrics/*.json`` (counts, training summaries, evaluation metrics), ``data/processed/vocab.json``
  (vocabulary hash);
* git (commit, dirty code) and MLflow (the run behind each stage, found by its ``dvc.out.*`` md5
  tags, so a stage restored from DVC's run-cache still points at the run that trained it).

The evaluate stage calls :func:`build_lineage` with ``running_stage="evaluate"``: its own dvc.lock
entry is written only after it exits, so for it the params come from the stage and the out md5s
are computed from the workspace (upstream entries are already current in dvc.lock then).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gantext.config import Params, flatten, to_dict
from gantext.errors import DataError
from gantext.io import read_json
from gantext.paths import Paths
from gantext.provenance import (dir_listing_md5, dvc_dir_listing, dvc_md5, dvc_stage, git_commit,
                                git_dirty, lock_params, params_dirty, read_lock, stage_params)

STAGES = ("ingest", "tokenize", "pretrain", "adversarial", "evaluate")
TITLES = {"ingest": "corpus -> cleaned sentences", "tokenize": "sentences -> ids + vocabulary",
          "pretrain": "MLE generator", "adversarial": "adversarial generator",
          "evaluate": "evaluation"}
#: Metric rows of the evaluation table, in this order (others follow alphabetically).
EVAL_KEYS = ("bleu2", "bleu3", "bleu4", "bleu5", "sbleu2", "sbleu3", "sbleu4", "sbleu5", "fid",
             "nll", "nll_anchor")
_MAX_FILES = 30  # per directory out; more are summarised


@dataclass
class OutRecord:
    path: str
    md5_lock: str | None  # None: not in dvc.lock (yet)
    md5_now: str | None  # None: missing in the workspace
    files: list[dict[str, str]] = field(default_factory=list)  # [{relpath, md5}] of a dir

    @property
    def status(self) -> str:
        if self.md5_lock is None:
            return "computed now" if self.md5_now else "missing"
        if self.md5_now is None:
            return "MISSING in workspace"
        return "ok" if self.md5_now == self.md5_lock else "CHANGED since dvc.lock"


@dataclass
class StageRecord:
    name: str
    in_lock: bool
    params: dict[str, Any]
    deps: list[OutRecord]
    outs: list[OutRecord]
    metrics: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LineageData:
    stages: dict[str, StageRecord]
    git_commit: str | None
    git_dirty: bool | None
    params_dirty: bool | None  # params.yaml has uncommitted changes
    dvc_exp_name: str | None
    vocab_hash: str | None
    vocab_size: int | None  # tokens including the specials
    mlflow_note: str | None  # why no run ids (disabled, unreachable, ...), else None
    experiment: str | None


def _record(root: Path, item: dict | str, md5_lock: str | None, list_files: bool) -> OutRecord:
    rel = item if isinstance(item, str) else item["path"]
    path = root / rel
    if path.is_dir():
        listing = dvc_dir_listing(path, root)
        return OutRecord(rel, md5_lock, dir_listing_md5(listing), listing if list_files else [])
    return OutRecord(rel, md5_lock, dvc_md5(path, root))


def _read_metrics(paths: Paths, stage: str) -> dict[str, Any]:
    path = paths.metrics_json(stage)
    try:
        return read_json(path) if path.is_file() else {}
    except ValueError:
        return {}


def collect_lineage(paths: Paths, params: Params | None = None, *,
                    running_stage: str | None = None, running_run_id: str | None = None,
                    query_mlflow: bool = True) -> LineageData:
    """Everything :func:`render_lineage` prints (see the module docstring for the sources).

    `params` is needed for the running stage's params and to find MLflow runs
    (tracking.enabled / tracking.experiment); without it, MLflow is not asked.
    """
    root = paths.root
    lock = read_lock(root)
    if not lock and running_stage is None:
        raise DataError(f"{root / 'dvc.lock'}: no pipeline has run here yet; run `dvc repro` "
                        "first")
    stages: dict[str, StageRecord] = {}
    for name in STAGES:
        entry = lock.get(name)
        running = name == running_stage
        if running:
            spec = dvc_stage(root, name, to_dict(params) if params else None)
            st_params = stage_params(params, spec["params"]) if params else {}
            deps = [_record(root, d, None, False) for d in spec["deps"]]
            outs = [_record(root, o, None, True) for o in spec["outs"]
                    if Path(o) != paths.lineage.relative_to(root)]
        elif entry is not None:
            st_params = lock_params(entry)
            deps = [_record(root, d, d.get("md5"), False) for d in entry.get("deps", [])]
            outs = [_record(root, o, o.get("md5"), True) for o in entry.get("outs", [])]
        else:
            continue
        stages[name] = StageRecord(name, entry is not None and not running, st_params, deps, outs,
                                   _read_metrics(paths, name))

    note: str | None = None
    experiment = params.tracking.experiment if params else None
    if not query_mlflow:
        note = "not queried (--no-mlflow)"
    elif params is None:
        note = "not queried (no params)"
    else:
        note = _attach_runs(paths, params, stages, running_stage, running_run_id)

    vocab_hash, vocab_size = None, None
    if paths.vocab.is_file():
        try:
            vocab = read_json(paths.vocab)
            vocab_hash, vocab_size = vocab.get("hash"), len(vocab.get("itos") or []) or None
        except (ValueError, AttributeError, TypeError):
            pass
    return LineageData(stages=stages, git_commit=git_commit(root),
                       git_dirty=git_dirty(root), params_dirty=params_dirty(root),
                       dvc_exp_name=os.environ.get("DVC_EXP_NAME") or None,
                       vocab_hash=vocab_hash, vocab_size=vocab_size, mlflow_note=note, experiment=experiment)


def _attach_runs(paths: Paths, params: Params, stages: dict[str, StageRecord],
                 running_stage: str | None, running_run_id: str | None) -> str | None:
    """Find each stage's MLflow run by its stage tag + the md5 tags of all its outs."""
    from gantext import tracking

    asked: list[str] = []
    filters: list[str] = []
    for name, rec in stages.items():
        if name == running_stage:
            continue
        conds = [f"tags.{tracking.quote_key('gantext.stage')} = '{name}'"]
        conds += [f"tags.{tracking.quote_key('dvc.out.' + o.path)} = '{o.md5_lock}'"
                  for o in rec.outs if o.md5_lock]
        asked.append(name)
        filters.append(" and ".join(conds))
    if running_stage in stages and running_run_id:
        stages[running_stage].runs = [{"run_id": running_run_id, "status": "RUNNING", "tags": {}}]
    if not filters:
        return None
    found = tracking.search_runs(paths, params, filters, max_results=20)
    if isinstance(found, str):
        return found
    for name, runs in zip(asked, found):
        stages[name].runs = [r for r in runs if r["status"] == "FINISHED"]
    return None


# ----------------------------------------------------------------------------- rendering
def _md5_cell(rec: OutRecord) -> str:
    md5 = rec.md5_lock or rec.md5_now or "-"
    return f"`{md5}`"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _outs_table(lines: list[str], rec: StageRecord, kind: str = "out") -> None:
    items = rec.outs if kind == "out" else rec.deps
    if not items:
        return
    lines += [f"| {kind} | md5 (dvc.lock) | workspace |", "|---|---|---|"]
    for o in items:
        lines.append(f"| `{o.path}` | {_md5_cell(o)} | {o.status} |")
        for f in o.files[:_MAX_FILES]:
            lines.append(f"| &nbsp;&nbsp;`{o.path}/{f['relpath']}` | `{f['md5']}` | "
                         f"{'ok (in the .dir above)' if o.status == 'ok' else o.status} |")
        if len(o.files) > _MAX_FILES:
            lines.append(f"| &nbsp;&nbsp;... {len(o.files) - _MAX_FILES} more files | | |")
    lines.append("")


def _params_line(lines: list[str], params: dict[str, Any], keys: list[str] | None = None) -> None:
    shown = {k: v for k, v in params.items() if keys is None or k in keys}
    if shown:
        lines.append("params: " + ", ".join(f"`{k}={_fmt(v)}`" for k, v in sorted(shown.items())))
        lines.append("")


def _runs_line(lines: list[str], rec: StageRecord, note: str | None) -> None:
    if rec.runs:
        first = rec.runs[0]
        extra = (f" (+{len(rec.runs) - 1} earlier run(s) with identical outputs)"
                 if len(rec.runs) > 1 else "")
        pid = first.get("tags", {}).get("gantext.pipeline_id")
        dirty = first.get("tags", {}).get("gantext.params_dirty") == "true"
        lines.append(f"MLflow run: `{first['run_id']}`" + (f" (pipeline `{pid}`)" if pid else "")
                     + (" · params dirty when it ran" if dirty else "") + extra)
    elif note:
        lines.append(f"MLflow run: unknown ({note})")
    else:
        lines.append("MLflow run: none found with these outputs (tracking was off, or the "
                     "outputs came from elsewhere, e.g. `dvc pull`)")
    lines.append("")


def _ingest_section(lines: list[str], rec: StageRecord, paths: Paths) -> None:
    m = rec.metrics
    src = m.get("source", rec.params.get("ingest.source", "?"))
    lines.append(f"source: **{src}**")
    if src == "builtin" and isinstance(m.get("grammar"), dict):
        g = m["grammar"]
        lines.append(f"built-in grammar `{g.get('name')}`: {g.get('num_sentences')} sentences "
                     f"sampled with seed {g.get('seed')}")
    lines.append("")
    data_dir = rec.params.get("ingest.data_dir")
    dep = next((d for d in rec.deps if data_dir is not None and
                os.path.normpath(d.path) == os.path.normpath(str(data_dir))), None)
    inputs = m.get("inputs") or []
    if inputs:
        listing: dict[str, str] = {}
        base = paths.root / (dep.path if dep else "")
        if dep and dep.status == "ok" and base.is_dir():
            listing = {(base / e["relpath"]).resolve().as_posix(): e["md5"]
                       for e in dvc_dir_listing(base, paths.root)}
        lines += ["| raw input | role | md5 | lines | kept | rejected | in dvc.lock |",
                  "|---|---|---|---|---|---|---|"]
        for f in inputs:
            where = (paths.root / f["path"]).resolve().as_posix()
            check = ("ok (in the data_dir .dir)" if listing.get(where) == f.get("md5") else
                     "not under ingest.data_dir" if where not in listing and dep else "CHANGED")
            if not dep:
                check = "data_dir not recorded"
            lines.append(f"| `{f['path']}` | {f.get('role', '')} | `{f.get('md5')}` | "
                         f"{f.get('lines')} | {f.get('kept')} | {f.get('rejected')} | {check} |")
        lines.append("")
    kept, rej = m.get("kept") or {}, m.get("rejected") or {}
    if m:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(rej.items()) if k != "total" and v)
        lines.append(f"lines read {m.get('lines_read')} = kept {kept.get('total')} (train "
                     f"{kept.get('train')}, valid {kept.get('valid')}, test {kept.get('test')}) + "
                     f"rejected **{rej.get('total')}**" + (f" ({reasons})" if reasons else "")
                     + f"; every rejected line with its reason: `{paths.rejects.relative_to(paths.root)}`")
        lines.append("")


def _adversarial_keys(params: dict[str, Any]) -> list[str]:
    """The loss's own sub-section and the shared keys; other objectives' settings are noise."""
    from gantext.objectives import OBJECTIVES, objective_sections

    loss = str(params.get("adversarial.loss", ""))
    own = f"adversarial.{OBJECTIVES[loss].section}." if loss in OBJECTIVES else None
    sections = {f"adversarial.{name}." for name in objective_sections()}
    return [k for k in params
            if not any(k.startswith(s) for s in sections) or (own and k.startswith(own))]


def _eval_table(lines: list[str], metrics: dict[str, Any]) -> None:
    cols = [c for c in ("mle", "gan", "real", "delta") if isinstance(metrics.get(c), dict)]
    if not cols:
        return
    keys = [k for k in EVAL_KEYS if any(k in metrics[c] for c in cols)]
    keys += sorted({k for c in cols for k, v in metrics[c].items()
                    if k not in keys and isinstance(v, (int, float))})
    lines += ["| metric | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(_fmt(metrics[c].get(k, "")) for c in cols) + " |")
    lines.append("")


def render_lineage(data: LineageData, paths: Paths) -> str:
    """Markdown: one section per stage, upstream first."""
    lines = ["# Lineage of the current model", ""]
    head = [f"git commit `{data.git_commit or 'none (not a git repository)'}`"]
    if data.git_dirty is not None:
        head.append("code has uncommitted changes" if data.git_dirty else "code clean")
    if data.params_dirty is not None:
        head.append("**params dirty** (params.yaml has uncommitted changes)" if data.params_dirty
                    else "params clean")
    if data.dvc_exp_name:
        head.append(f"DVC experiment `{data.dvc_exp_name}`")
    lines += [" · ".join(head), "",
              "md5s are DVC's (`dvc.lock`; directories: DVC's `.dir` hash over the file list). "
              "'ok' = the workspace re-hashes to the same value; a file inside a directory whose "
              "`.dir` is ok is proven by it.", ""]
    mlflow_note = data.mlflow_note
    for i, name in enumerate(STAGES, start=1):
        rec = data.stages.get(name)
        lines.append(f"## {i}. {name}: {TITLES[name]}")
        lines.append("")
        if rec is None:
            lines += ["not run yet (no dvc.lock entry)", ""]
            continue
        if not rec.in_lock:
            lines += ["(running now: params from the stage, md5s computed from the workspace; "
                      "its dvc.lock entry is written when it finishes)", ""]
        if name == "ingest":
            _ingest_section(lines, rec, paths)
            _params_line(lines, rec.params)
        elif name == "tokenize":
            lines.append("tokenizer: " + ", ".join(
                f"`{k}={_fmt(v)}`" for k, v in sorted(rec.params.items())))
            lines.append(f"vocabulary (`{paths.vocab.relative_to(paths.root).as_posix()}`): "
                         f"{data.vocab_size or '?'} tokens with the specials, hash "
                         f"`{data.vocab_hash or '?'}`")
            lines.append("")
        elif name == "adversarial":
            lines.append(f"loss: **{rec.params.get('adversarial.loss', '?')}**")
            lines.append("")
            _params_line(lines, rec.params, _adversarial_keys(rec.params))
        else:
            _params_line(lines, rec.params)
        _outs_table(lines, rec, "dep")
        _outs_table(lines, rec)
        if name == "evaluate":
            _eval_table(lines, rec.metrics)
        elif rec.metrics and name != "ingest":
            flat = {k: v for k, v in flatten(rec.metrics).items()
                    if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
            lines.append("metrics: " + ", ".join(f"`{k}={_fmt(v)}`"
                                                 for k, v in sorted(flat.items())))
            lines.append("")
        _runs_line(lines, rec, mlflow_note)
    if data.experiment:
        lines.append(f"MLflow experiment `{data.experiment}`; find a stage's run with "
                     "`tags.\"dvc.out.<path>\" = '<md5>'`, a pipeline's with "
                     "`tags.\"gantext.pipeline_id\" = '<id>'`.")
        lines.append("")
    return "\n".join(lines)


def build_lineage(paths: Paths, params: Params | None = None, *,
                  running_stage: str | None = None, running_run_id: str | None = None,
                  query_mlflow: bool = True) -> str:
    """The lineage report (Markdown) of the model in `paths`.

    The evaluate stage: ``build_lineage(paths, params, running_stage="evaluate",
    running_run_id=tracker.run_id)``; `gantext lineage`: ``build_lineage(paths, params)``.
    """
    data = collect_lineage(paths, params, running_stage=running_stage,
                           running_run_id=running_run_id, query_mlflow=query_mlflow)
    return render_lineage(data, paths)
