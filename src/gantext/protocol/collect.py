"""Reading the protocol's finished experiments: each one's metrics, curve and stage wall times.

Per experiment (a DVC experiment of the commit, see :func:`gantext.protocol.run.baseline_experiments`):

- ``metrics/evaluate.json`` (rows ``mle``, ``gan``, ``control``, ``real``, the ``delta`` blocks
  and the per-run ``verdict``), ``metrics/adversarial.json``, ``metrics/pretrain.json`` and
  ``params.yaml``: committed in the experiment's git commit (``git show``);
- ``metrics/plots/quality_diversity.csv``: a DVC-cached output, read from the experiment's commit
  through DVC (its cache, or the remote when the experiment was pulled without it);
- the wall time of each stage: from MLflow, the run that produced the exact output the
  experiment used (``dvc.out.<path>`` tag = the evaluate run's ``dvc.dep.<path>`` tag), so a stage
  restored from DVC's run-cache reports the time it took when it ran. None when the store does
  not know (tracking off, another machine's store): the report says "unknown".

Nothing here computes a figure: per-run figures come from evaluate, once.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from gantext.protocol.run import Planned, ProtocolError, baseline_experiments, experiment_params
from gantext.sweep import git

__all__ = ["STAGES", "RunRecord", "collect", "read_qd", "parse_qd", "show_json", "stage_walls"]

STAGES = ("ingest", "tokenize", "pretrain", "adversarial", "evaluate")
#: which output each stage's wall time is looked up by
STAGE_OUT = {"ingest": "data/interim", "tokenize": "data/processed",
             "pretrain": "models/pretrain", "adversarial": "models/adversarial"}
_QD_FLOATS = ("temperature", "bleu5", "self_bleu5", "n", "mean_length", "bleu5_lm",
              "self_bleu5_lm", "lm_coverage", "validity", "validity_lm")


@dataclass
class RunRecord:
    """What the report reads of one experiment."""

    name: str
    seed: int
    loss: str
    sha: str
    evaluate: dict[str, Any]
    adversarial: dict[str, Any] = field(default_factory=dict)
    pretrain: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    qd: list[dict[str, Any]] = field(default_factory=list)
    walls: dict[str, float | None] = field(default_factory=dict)


def show_json(root: Path, sha: str, path: str) -> dict[str, Any]:
    """A JSON file of commit `sha`, parsed ({} when the commit has none)."""
    text = git(root, "show", f"{sha}:{path}", check=False)
    return json.loads(text) if text else {}


def parse_qd(text: str) -> list[dict[str, Any]]:
    """quality_diversity.csv's rows, numbers as floats (the real row's empty temperature None)."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        rows.append({k: (None if v == "" else float(v)) if k in _QD_FLOATS else v
                     for k, v in row.items()})
    return rows


def read_qd(root: Path, sha: str) -> list[dict[str, Any]]:
    """metrics/plots/quality_diversity.csv of commit `sha`, through DVC (cache, else remote)."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(str(root), rev=sha)
    try:
        return parse_qd(fs.read_text("metrics/plots/quality_diversity.csv", encoding="utf-8"))
    except Exception as exc:  # not in the cache nor on a reachable remote
        raise ProtocolError(f"experiment commit {sha[:7]}: cannot read its "
                            f"metrics/plots/quality_diversity.csv ({exc}); `dvc exp pull` it "
                            "with its outputs") from None


def stage_walls(root: Path, names: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """exp name -> {stage: wall seconds or None} from the MLflow store the stages log to (module
    docstring); every stage None when the store cannot be asked."""
    from gantext.config import load_params
    from gantext.paths import repo_paths
    from gantext.tracking import search_runs

    unknown = {n: dict.fromkeys(STAGES) for n in names}
    paths = repo_paths(root)
    try:
        params = load_params(paths.params)
    except Exception:
        return unknown
    found = search_runs(paths, params, ["tags.`gantext.stage` != ''"], max_results=50000)
    if isinstance(found, str):
        return unknown
    runs = [r for r in found[0] if r["end_time"]]
    # a stage DVC restored from its run-cache has a short run tagged gantext.cached (the track
    # stage's), pointing at the run that computed its outputs: the time is that run's
    by_id = {r["run_id"]: r for r in runs}
    computed = [r for r in runs if r["tags"].get("gantext.cached") != "true"]
    by_out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(computed, key=lambda r: r["start_time"]):  # the first run that made it
        for tag, md5 in r["tags"].items():
            if tag.startswith("dvc.out."):
                by_out.setdefault((tag[len("dvc.out."):], md5), r)
    out = {}
    for name in names:
        evals = [r for r in runs if r["tags"].get("gantext.dvc_exp_name") == name
                 and r["tags"].get("gantext.stage") == "evaluate"]
        if not evals:
            out[name] = unknown[name]
            continue
        ev = max(evals, key=lambda r: r["end_time"])
        cached = ev["tags"].get("gantext.cached") == "true"
        if cached:
            ev = by_id.get(ev["tags"].get("gantext.cached_from", ""), ev)
            cached = ev["tags"].get("gantext.cached") == "true"  # its origin is not in the store
        walls: dict[str, float | None] = {
            "evaluate": None if cached else (ev["end_time"] - ev["start_time"]) / 1000}
        producer = ev
        for stage in ("adversarial", "pretrain", "tokenize", "ingest"):
            rel = STAGE_OUT[stage]
            md5 = producer["tags"].get(f"dvc.dep.{rel}") or ev["tags"].get(f"dvc.dep.{rel}")
            run = by_out.get((rel, md5)) if md5 else None
            walls[stage] = (run["end_time"] - run["start_time"]) / 1000 if run else None
            producer = run or producer
        out[name] = {s: walls[s] for s in STAGES}
    return out


def collect(root: Path, planned: Sequence[Planned], walls: bool = True
            ) -> tuple[list[RunRecord], list[str]]:
    """The records of the planned experiments that exist on this commit, and the names of those
    that do not (not run yet, or failed)."""
    root = Path(root).resolve()
    existing = baseline_experiments(root)
    records, missing = [], []
    for p in planned:
        sha = existing.get(p.name)
        if sha is None:
            missing.append(p.name)
            continue
        ev = show_json(root, sha, "metrics/evaluate.json")
        if not ev:
            missing.append(p.name)
            continue
        records.append(RunRecord(
            name=p.name, seed=p.seed, loss=p.loss, sha=sha, evaluate=ev,
            adversarial=show_json(root, sha, "metrics/adversarial.json"),
            pretrain=show_json(root, sha, "metrics/pretrain.json"),
            params=experiment_params(root, sha), qd=read_qd(root, sha)))
    if walls and records:
        times = stage_walls(root, [r.name for r in records])
        for r in records:
            r.walls = times[r.name]
    return records, missing

