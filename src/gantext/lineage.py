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

``gantext lineage --exp NAME`` reads dvc.lock and the metrics of a DVC experiment's commit
(``git show``) instead of the workspace's; its outputs are then checked against the local DVC
cache (``in DVC cache`` or not) rather than re-hashed. Two renderings of one report: Markdown
for the file (``metrics/lineage.md``, ``-o``) and plain text for a terminal, where a directory's
file list is summarised (its ``.dir`` hash proves every file; the Markdown lists them).
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantext.configfields import flatten, to_dict  # not gantext.config: it imports torch
from gantext.errors import DataError
from gantext.io import read_json
from gantext.paths import Paths
from gantext.provenance import (MACHINE_KEY, describe_machine, dir_listing_md5, dvc_dir_listing,
                                dvc_md5, dvc_stage, exp_refs, git_commit, git_dirty, git_show,
                                lock_params, params_dirty, parse_lock, read_lock, stage_params)
from gantext.provenance import STAGES as PIPELINE_STAGES

if TYPE_CHECKING:
    from gantext.config import Params

STAGES = PIPELINE_STAGES
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
    note: str | None = None  # the status when the workspace is not what is checked (--exp)

    @property
    def status(self) -> str:
        if self.note is not None:
            return self.note
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
    source: str = "workspace"  # or "experiment <name>" (--exp)


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


def _cache_dir(root: Path) -> Path:
    """DVC's local cache (``cache.dir`` of .dvc/config(.local), default .dvc/cache)."""
    import configparser

    where = root / ".dvc" / "cache"
    for name in ("config", "config.local"):
        cfg = configparser.ConfigParser()
        try:
            cfg.read(root / ".dvc" / name, encoding="utf-8")
        except configparser.Error:
            continue
        if cfg.has_option("cache", "dir"):
            where = (root / ".dvc" / cfg.get("cache", "dir")).resolve()
    return where


def _in_cache(cache: Path, md5: str | None) -> str:
    if not md5:
        return "not recorded"
    found = (cache / "files" / "md5" / md5[:2] / md5[2:]).is_file()
    return "in DVC cache" if found else "not in the local DVC cache (`dvc exp pull`, `dvc pull`)"


def _exp_source(root: Path, name: str) -> tuple[str, dict[str, dict], dict[str, dict]]:
    """(commit, dvc.lock stages, stage -> metrics) of the DVC experiment `name`."""
    refs = exp_refs(root)
    commit = refs.get(name)
    if commit is None:
        known = ", ".join(sorted(refs)[:10]) or "none"
        raise DataError(f"no DVC experiment named {name!r} in {root} (experiments: {known}); "
                        "`dvc exp list --all-commits` lists them")
    lock = parse_lock(git_show(root, commit, "dvc.lock") or "", f"{name}:dvc.lock")
    metrics = {}
    for stage in STAGES:
        text = git_show(root, commit, f"metrics/{stage}.json")
        try:
            metrics[stage] = json.loads(text) if text else {}
        except ValueError:
            metrics[stage] = {}
    return commit, lock, metrics


def collect_lineage(paths: Paths, params: Params | None = None, *,
                    running_stage: str | None = None, running_run_id: str | None = None,
                    query_mlflow: bool = True, exp: str | None = None) -> LineageData:
    """Everything :func:`render_lineage` prints (see the module docstring for the sources).

    `params` is needed for the running stage's params and to find MLflow runs
    (tracking.enabled / tracking.experiment); without it, MLflow is not asked. `exp`: the
    lineage of that DVC experiment (its commit's dvc.lock and metrics) instead of the workspace.
    """
    root = paths.root
    commit, exp_metrics, cache = None, None, None
    if exp is not None:
        commit, lock, exp_metrics = _exp_source(root, exp)
        cache = _cache_dir(root)
    else:
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
        elif entry is not None and cache is not None:  # an experiment: its outputs in the cache
            st_params = lock_params(entry)
            deps = [OutRecord(d["path"], d.get("md5"), None, note=_in_cache(cache, d.get("md5")))
                    for d in entry.get("deps", [])]
            outs = [OutRecord(o["path"], o.get("md5"), None, note=_in_cache(cache, o.get("md5")))
                    for o in entry.get("outs", [])]
        elif entry is not None:
            st_params = lock_params(entry)
            deps = [_record(root, d, d.get("md5"), False) for d in entry.get("deps", [])]
            outs = [_record(root, o, o.get("md5"), True) for o in entry.get("outs", [])]
        else:
            continue
        metrics = exp_metrics[name] if exp_metrics is not None else _read_metrics(paths, name)
        stages[name] = StageRecord(name, entry is not None and not running, st_params, deps, outs,
                                   metrics)

    note: str | None = None
    experiment = params.tracking.experiment if params else None
    if not query_mlflow:
        note = "not queried (--no-mlflow)"
    elif params is None:
        note = "not queried (no params)"
    else:
        note = _attach_runs(paths, params, stages, running_stage, running_run_id, exp)

    tok = stages["tokenize"].metrics if "tokenize" in stages else {}
    vocab_hash, vocab_size = tok.get("vocab_hash"), tok.get("vocab_size")
    if exp is None and paths.vocab.is_file():
        try:
            vocab = read_json(paths.vocab)
            vocab_hash, vocab_size = vocab.get("hash"), len(vocab.get("itos") or []) or None
        except (ValueError, AttributeError, TypeError):
            pass
    if exp is not None:
        return LineageData(stages=stages, git_commit=commit, git_dirty=None, params_dirty=None,
                           dvc_exp_name=exp, vocab_hash=vocab_hash, vocab_size=vocab_size,
                           mlflow_note=note, experiment=experiment, source=f"experiment {exp}")
    return LineageData(stages=stages, git_commit=git_commit(root),
                       git_dirty=git_dirty(root), params_dirty=params_dirty(root),
                       dvc_exp_name=os.environ.get("DVC_EXP_NAME") or None,
                       vocab_hash=vocab_hash, vocab_size=vocab_size, mlflow_note=note,
                       experiment=experiment)


def _attach_runs(paths: Paths, params: Params, stages: dict[str, StageRecord],
                 running_stage: str | None, running_run_id: str | None,
                 exp: str | None = None) -> str | None:
    """Find each stage's MLflow run by its stage tag + the md5 tags of all its outs: the run
    that computed them first (one of experiment `exp` before others), then runs that restored
    them from DVC's cache (``gantext.cached``) or recomputed them identically."""
    from gantext import tracking

    asked: list[str] = []
    queries: list[dict[str, str]] = []
    for name, rec in stages.items():
        if name == running_stage:
            continue
        query = {"gantext.stage": name}
        query.update({f"dvc.out.{o.path}": o.md5_lock for o in rec.outs if o.md5_lock})
        asked.append(name)
        queries.append(query)
    if running_stage in stages and running_run_id:
        stages[running_stage].runs = [{"run_id": running_run_id, "status": "RUNNING", "tags": {}}]
    if not queries:
        return None
    found = tracking.runs_with_tags(paths, params, queries, max_results=20)
    if isinstance(found, str):
        return found
    for name, runs in zip(asked, found):
        done = [r for r in runs if r["status"] == "FINISHED"]
        # newest first within each kind; computed before restored
        stages[name].runs = sorted(done, key=lambda r: (
            r["tags"].get("gantext.cached") == "true",
            exp is not None and r["tags"].get("gantext.dvc_exp_name") != exp))
    return None


# ----------------------------------------------------------------------------- the report
# A report is a list of blocks, rendered as Markdown (the file) or plain text (a terminal):
# ("title", text), ("h", text), ("p", text), ("table", header, rows). Text may hold `code` and
# **bold** marks; a table cell starting with two spaces is a row nested under the one above.
Block = tuple


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _outs_table(blocks: list[Block], rec: StageRecord, kind: str = "out") -> None:
    items = rec.outs if kind == "out" else rec.deps
    if not items:
        return
    rows = []
    for o in items:
        rows.append([f"`{o.path}`", f"`{o.md5_lock or o.md5_now or '-'}`", o.status])
        for f in o.files[:_MAX_FILES]:
            rows.append([f"  `{o.path}/{f['relpath']}`", f"`{f['md5']}`",
                         "ok (in the .dir above)" if o.status == "ok" else o.status])
        if len(o.files) > _MAX_FILES:
            rows.append([f"  ... {len(o.files) - _MAX_FILES} more files", "", ""])
    blocks.append(("table", [kind, "md5 (dvc.lock)", "workspace"], rows))


def _params_line(blocks: list[Block], params: dict[str, Any],
                 keys: list[str] | None = None) -> None:
    shown = {k: v for k, v in params.items() if keys is None or k in keys}
    if shown:
        blocks.append(("p", "params: " + ", ".join(f"`{k}={_fmt(v)}`"
                                                   for k, v in sorted(shown.items()))))


def _runs_line(blocks: list[Block], rec: StageRecord, note: str | None) -> None:
    if rec.runs:
        first = rec.runs[0]
        tags = first.get("tags", {})
        extra = (f" (+{len(rec.runs) - 1} more run(s) with identical outputs)"
                 if len(rec.runs) > 1 else "")
        pid = tags.get("gantext.pipeline_id")
        dirty = tags.get("gantext.params_dirty") == "true"
        cached = (f" · restored from DVC's cache; computed by `{tags['gantext.cached_from']}`"
                  if tags.get("gantext.cached") == "true" and tags.get("gantext.cached_from")
                  else "")
        blocks.append(("p", f"MLflow run: `{first['run_id']}`"
                       + (f" (pipeline `{pid}`)" if pid else "")
                       + (" · params dirty when it ran" if dirty else "") + cached + extra))
    elif note:
        blocks.append(("p", f"MLflow run: unknown ({note})"))
    else:
        blocks.append(("p", "MLflow run: none found with these outputs (tracking was off, or "
                            "the outputs came from elsewhere, e.g. `dvc pull`)"))


def _ingest_section(blocks: list[Block], rec: StageRecord, paths: Paths) -> None:
    m = rec.metrics
    src = m.get("source", rec.params.get("ingest.source", "?"))
    text = f"source: **{src}**"
    if src == "builtin" and isinstance(m.get("grammar"), dict):
        g = m["grammar"]
        text += (f"\nbuilt-in grammar `{g.get('name')}`: {g.get('num_sentences')} sentences "
                 f"sampled with seed {g.get('seed')}")
    blocks.append(("p", text))
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
        rows = []
        for f in inputs:
            where = (paths.root / f["path"]).resolve().as_posix()
            check = ("ok (in the data_dir .dir)" if listing.get(where) == f.get("md5") else
                     "not under ingest.data_dir" if where not in listing and dep else "CHANGED")
            if not dep:
                check = "data_dir not recorded"
            elif dep.note is not None:  # an experiment: the workspace is not its input
                check = dep.note
            rows.append([f"`{f['path']}`", str(f.get("role", "")), f"`{f.get('md5')}`",
                         str(f.get("lines")), str(f.get("kept")), str(f.get("rejected")), check])
        blocks.append(("table", ["raw input", "role", "md5", "lines", "kept", "rejected",
                                 "in dvc.lock"], rows))
    kept, rej = m.get("kept") or {}, m.get("rejected") or {}
    if m:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(rej.items()) if k != "total" and v)
        blocks.append(("p", f"lines read {m.get('lines_read')} = kept {kept.get('total')} "
                            f"(train {kept.get('train')}, valid {kept.get('valid')}, test "
                            f"{kept.get('test')}) + rejected **{rej.get('total')}**"
                       + (f" ({reasons})" if reasons else "")
                       + "; every rejected line with its reason: "
                       + f"`{paths.rejects.relative_to(paths.root).as_posix()}`"))


def _adversarial_keys(params: dict[str, Any]) -> list[str]:
    """The loss's own sub-section and the shared keys; other objectives' settings are noise.

    The sub-sections are read off the params themselves (``adversarial.<section>.<key>``) and
    the loss's own is the one named like it (``wgan-gp`` -> ``wgan_gp``), so a terminal report
    does not import the objective registry (torch: seconds); only when no section or more than
    one is named like the loss is the registry asked.
    """
    loss = str(params.get("adversarial.loss", ""))
    parts = [k.split(".") for k in params if k.startswith("adversarial.")]
    sections = {p[1] for p in parts if len(p) > 2}
    named = [s for s in sections if s == loss.replace("-", "_")]
    if len(named) == 1:
        own: str | None = named[0]
    else:
        from gantext.objectives import OBJECTIVES, objective_sections

        own = OBJECTIVES[loss].section if loss in OBJECTIVES else None
        sections |= set(objective_sections())
    return [k for k in params if len(k.split(".")) <= 2 or not k.startswith("adversarial.")
            or k.split(".")[1] not in sections or k.split(".")[1] == own]


def _eval_table(blocks: list[Block], metrics: dict[str, Any]) -> None:
    cols = [c for c in ("mle", "gan", "real", "delta") if isinstance(metrics.get(c), dict)]
    if not cols:
        return
    keys = [k for k in EVAL_KEYS if any(k in metrics[c] for c in cols)]
    keys += sorted({k for c in cols for k, v in metrics[c].items()
                    if k not in keys and isinstance(v, (int, float))})
    blocks.append(("table", ["metric", *cols],
                   [[k] + [_fmt(metrics[c].get(k, "")) for c in cols] for k in keys]))


def lineage_blocks(data: LineageData, paths: Paths) -> list[Block]:
    """The report as blocks: one section per stage, upstream first."""
    title = ("Lineage of the current model" if data.source == "workspace"
             else f"Lineage of DVC {data.source}")
    blocks: list[Block] = [("title", title)]
    head = [f"git commit `{data.git_commit or 'none (not a git repository)'}`"]
    if data.git_dirty is not None:
        head.append("code has uncommitted changes" if data.git_dirty else "code clean")
    if data.params_dirty is not None:
        head.append("**params dirty** (params.yaml has uncommitted changes)" if data.params_dirty
                    else "params clean")
    if data.dvc_exp_name:
        head.append(f"DVC experiment `{data.dvc_exp_name}`")
    check = ("'ok' = the workspace re-hashes to the same value; a file inside a directory whose "
             "`.dir` is ok is proven by it." if data.source == "workspace" else
             "The experiment's outputs are checked against the local DVC cache, not the "
             "workspace.")
    blocks += [("p", " · ".join(head)),
               ("p", "md5s are DVC's (`dvc.lock`; directories: DVC's `.dir` hash over the file "
                     "list). " + check)]
    for i, name in enumerate(STAGES, start=1):
        rec = data.stages.get(name)
        blocks.append(("h", f"{i}. {name}: {TITLES[name]}"))
        if rec is None:
            blocks.append(("p", "not run yet (no dvc.lock entry)"))
            continue
        if not rec.in_lock:
            blocks.append(("p", "(running now: params from the stage, md5s computed from the "
                                "workspace; its dvc.lock entry is written when it finishes)"))
        if name == "ingest":
            _ingest_section(blocks, rec, paths)
            _params_line(blocks, rec.params)
        elif name == "tokenize":
            blocks.append(("p", "tokenizer: " + ", ".join(
                f"`{k}={_fmt(v)}`" for k, v in sorted(rec.params.items()))
                + f"\nvocabulary (`{paths.vocab.relative_to(paths.root).as_posix()}`): "
                f"{data.vocab_size or '?'} tokens with the specials, hash "
                f"`{data.vocab_hash or '?'}`"))
        elif name == "adversarial":
            blocks.append(("p", f"loss: **{rec.params.get('adversarial.loss', '?')}**"))
            _params_line(blocks, rec.params, _adversarial_keys(rec.params))
        else:
            _params_line(blocks, rec.params)
        _outs_table(blocks, rec, "dep")
        _outs_table(blocks, rec)
        if name == "evaluate":
            _eval_table(blocks, rec.metrics)
        elif rec.metrics and name != "ingest":
            flat = {k: v for k, v in flatten({k: v for k, v in rec.metrics.items()
                                               if k != MACHINE_KEY}).items()
                    if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
            blocks.append(("p", "metrics: " + ", ".join(f"`{k}={_fmt(v)}`"
                                                        for k, v in sorted(flat.items()))))
        if isinstance(rec.metrics.get(MACHINE_KEY), dict):
            blocks.append(("p", f"computed on: {describe_machine(rec.metrics[MACHINE_KEY])}"))
        _runs_line(blocks, rec, data.mlflow_note)
    if data.experiment:
        blocks.append(("p", f"MLflow experiment `{data.experiment}`; find a stage's run with "
                            "`tags.\"dvc.out.<path>\" = '<md5>'`, a pipeline's with "
                            "`tags.\"gantext.pipeline_id\" = '<id>'`."))
        exp_ids = {r.get("experiment_id") for rec in data.stages.values() for r in rec.runs
                   if r.get("experiment_id")}
        if len(exp_ids) == 1:
            from gantext.tracking import ui_url

            exp_id = exp_ids.pop()
            blocks.append(("p", f"In `mlflow ui` (default address): the runs "
                                f"{ui_url(exp_id)}\na run: {ui_url(exp_id, '<run id>')}"))
    return blocks


def to_markdown(blocks: list[Block]) -> str:
    """GitHub-flavoured Markdown (metrics/lineage.md)."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "title":
            lines += [f"# {block[1]}", ""]
        elif kind == "h":
            lines += [f"## {block[1]}", ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
            for row in rows:
                cells = [("&nbsp;&nbsp;" + c[2:]) if c.startswith("  ") else c for c in row]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


_MARKS = re.compile(r"`([^`]*)`|\*\*([^*]*)\*\*")


def _plain(text: str) -> str:
    """Inline Markdown marks dropped: `code` and **bold** read as their text."""
    return _MARKS.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)


def to_text(blocks: list[Block], width: int = 120) -> str:
    """Plain text for a terminal: no Markdown marks, tables aligned, long lines wrapped to
    `width`, a directory's file list summarised (the Markdown report lists every file)."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "title":
            lines += [block[1], "=" * len(block[1]), ""]
        elif kind == "h":
            lines += [block[1], "-" * len(block[1])]
        elif kind == "p":
            for para in _plain(block[1]).split("\n"):
                lines += textwrap.wrap(para, width, subsequent_indent="    ",
                                       break_long_words=False, break_on_hyphens=False) or [""]
            lines.append("")
        elif kind == "table":
            header, rows = block[1], [[_plain(c) for c in r] for r in block[2]]
            shown: list[list[str]] = []
            nested = 0
            for row in rows + [None]:  # type: ignore[list-item]
                if row is not None and row[0].startswith("  "):
                    nested += 1
                    continue
                if nested:  # every nested file row of the one above, as one line
                    shown.append([f"  + {nested} file(s) inside, each proven by its .dir hash "
                                  "(listed in metrics/lineage.md)", "", ""][:len(header)])
                    nested = 0
                if row is not None:
                    shown.append(row)
            widths = [max(len(header[i]), *(len(r[i]) for r in shown if not
                                             r[0].startswith("  + ")))
                      for i in range(len(header))]
            lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
            for r in shown:
                lines.append(r[0] if r[0].startswith("  + ") else
                             "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            lines.append("")
    return "\n".join(lines)


def render_lineage(data: LineageData, paths: Paths, fmt: str = "md") -> str:
    """The report as Markdown (``md``, the file) or plain text (``text``, a terminal)."""
    blocks = lineage_blocks(data, paths)
    return to_text(blocks) if fmt == "text" else to_markdown(blocks)


def build_lineage(paths: Paths, params: Params | None = None, *,
                  running_stage: str | None = None, running_run_id: str | None = None,
                  query_mlflow: bool = True, exp: str | None = None, fmt: str = "md") -> str:
    """The lineage report of the model in `paths` (or of DVC experiment `exp`).

    The evaluate stage: ``build_lineage(paths, params, running_stage="evaluate",
    running_run_id=tracker.run_id)``; `gantext lineage`: ``build_lineage(paths, params,
    fmt="text")``.
    """
    data = collect_lineage(paths, params, running_stage=running_stage,
                           running_run_id=running_run_id, query_mlflow=query_mlflow, exp=exp)
    return render_lineage(data, paths, fmt)
