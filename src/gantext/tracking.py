"""MLflow tracking: the only module that imports mlflow (lazily: the import takes seconds).

Interface used by every stage::

    with stage_run("pretrain", params, paths) as run:
        run.log_metrics({"valid_nll": 1.2}, step=epoch)
        run.log_artifact(paths.plot_csv("pretrain"))

One stage execution = one MLflow run in experiment ``tracking.experiment``, holding

* params: the params.yaml sections the stage declares in dvc.yaml (flattened, ``pretrain.lr``);
* metrics with their step numbers, artifacts (samples, plot CSVs, the lineage report);
* tags: ``gantext.stage``, ``gantext.git_commit`` (+ ``mlflow.source.git.commit``),
  ``gantext.git_dirty`` (uncommitted changes to the code: src/, stages/, dvc.yaml, pyproject.toml),
  ``gantext.dvc_exp_name`` / ``gantext.dvc_exp_baseline`` inside ``dvc exp run``,
  ``gantext.pipeline_id`` (shared by every stage run of one pipeline execution, see
  :func:`pipeline_id`), and the md5 of every dvc.yaml dep (``dvc.dep.<path>``, hashed when the stage
  starts) and out (``dvc.out.<path>``, hashed when the stage body finished) computed the way DVC
  records them in dvc.lock (files: md5 of the bytes; directories: md5 of DVC's sorted JSON listing
  + ``.dir``, honouring .dvcignore).

Where runs go (:func:`tracking_uri`): ``MLFLOW_TRACKING_URI`` when set, else
``sqlite:///<main repo root>/mlflow.db`` with artifacts in ``<main repo root>/mlartifacts/``, also
from the temporary copies ``dvc exp run --temp/--queue`` executes in (see :func:`main_repo_root`).

Tracking never blocks science: with ``tracking.enabled: false`` nothing is imported; if MLflow
fails (unreachable server, locked database, ...) the stage prints ONE warning line and carries on;
the metrics files are the record of truth. An HTTP server is probed with a 2-second TCP connect
before anything is sent, and MLflow's HTTP retries (minutes by default) are capped.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import urlparse

from gantext.config import Params, flatten, to_dict
from gantext.io import md5_file
from gantext.paths import Paths

#: Set this to group stage runs yourself (e.g. stages run by hand from a script).
ENV_PIPELINE_ID = "GANTEXT_PIPELINE_ID"
#: Code whose uncommitted changes make ``gantext.git_dirty`` true (outputs such as dvc.lock and
#: metrics/*.json change during every `dvc repro`, so they do not count).
CODE_PATHS = ("src", "stages", "dvc.yaml", "pyproject.toml")
#: Bounds on MLflow's HTTP client (its defaults retry with backoff for minutes); setdefault, so a
#: user's own MLFLOW_HTTP_* settings win.
HTTP_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
PROBE_TIMEOUT_S = 2.0
_EXPS_TMP = re.compile(r"^(?P<root>.*?)[/\\]\.dvc[/\\]tmp[/\\]exps[/\\]")


# ----------------------------------------------------------------------------- where
def main_repo_root(start: Path) -> Path:
    """The main repository's root, also from a `dvc exp run --temp/--queue` copy.

    Those copies are full clones under ``<main>/.dvc/tmp/exps/[standalone/]tmpXXXX`` with their own
    ``.git`` (git's common dir does NOT lead back), so, in order: ``DVC_ROOT`` (DVC sets it for
    every stage command; in experiment copies it names the parent repo), the ``.dvc/tmp/exps``
    prefix of the path, git's common dir (the main checkout of a git worktree), ``start``.
    """
    env_root = os.environ.get("DVC_ROOT")
    if env_root and Path(env_root).is_dir():
        return Path(env_root).resolve()
    start = Path(start).resolve()
    m = _EXPS_TMP.match(str(start) + os.sep)
    if m:
        return Path(m.group("root"))
    try:
        common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                cwd=start, capture_output=True, text=True, check=True,
                                timeout=10).stdout.strip()
        common_path = Path(common)
        if common_path.name == ".git":
            return common_path.parent.resolve()
    except (OSError, subprocess.SubprocessError):
        pass
    return start


def tracking_uri(paths: Paths) -> str:
    """MLFLOW_TRACKING_URI when set, else sqlite:///<main repo root>/mlflow.db (absolute)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{(main_repo_root(paths.root) / 'mlflow.db').as_posix()}"


def artifact_location(paths: Paths) -> str | None:
    """Where a new experiment keeps artifacts: <main root>/mlartifacts for the default SQLite store.

    MLflow's default is ./mlruns relative to the *current* directory, which inside an experiment
    copy is deleted afterwards. A server decides for itself (None).
    """
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    return (main_repo_root(paths.root) / "mlartifacts").as_uri()


def probe(uri: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if `uri` looks reachable, else why not (HTTP(S): a TCP connect within `timeout`)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {parsed.hostname}:{port} ({exc.strerror or exc})"


# ----------------------------------------------------------------------------- git / dvc facts
def _git(root: Path, *args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit(root: Path) -> str | None:
    """HEAD's commit (the baseline commit inside a DVC experiment copy), None outside git."""
    return _git(root, "rev-parse", "HEAD") or None


def git_dirty(root: Path) -> bool | None:
    """True when the code (CODE_PATHS) has uncommitted changes, None outside git."""
    existing = [p for p in CODE_PATHS if (root / p).exists()]
    out = _git(root, "status", "--porcelain", "--untracked-files=no", "--", *existing)
    return None if out is None else bool(out)


_TEMPLATE = re.compile(r"\$\{\s*([\w.-]+)\s*\}")


def _interpolate(text: str, values: Mapping[str, Any]) -> str:
    """DVC's `${section.key}` templating (from params.yaml), enough for dvc.yaml paths."""
    def sub(m: re.Match) -> str:
        node: Any = values
        for part in m.group(1).split("."):
            if not isinstance(node, Mapping) or part not in node:
                return m.group(0)
            node = node[part]
        return str(node)
    return _TEMPLATE.sub(sub, text)


def dvc_stage(root: Path, stage: str, values: Mapping[str, Any] | None = None
              ) -> dict[str, list[str]]:
    """{'deps': [...], 'outs': [...], 'params': [...]} of `stage` in dvc.yaml (outs include
    metrics and plots declared with a path; `${...}` filled from `values`, the params as a
    dict); empty lists when dvc.yaml lacks it."""
    import yaml

    result: dict[str, list[str]] = {"deps": [], "outs": [], "params": []}
    try:
        spec = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}
        entry = (spec.get("stages") or {}).get(stage) or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return result

    def names(items: Any) -> list[str]:
        out = []
        for item in items or []:
            keys = [item] if isinstance(item, str) else list(item) if isinstance(item, dict) else []
            out.extend(_interpolate(str(k), values or {}) for k in keys)
        return out

    result["deps"] = names(entry.get("deps"))
    result["outs"] = names(entry.get("outs")) + names(entry.get("metrics")) + names(
        entry.get("plots"))
    result["params"] = names(entry.get("params"))
    return result


def _dvcignore_patterns(root: Path) -> list[str]:
    try:
        lines = (root / ".dvcignore").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith(("#", "!"))]


def _ignored(rel_parts: tuple[str, ...], is_dir: bool, patterns: list[str]) -> bool:
    """gitignore-style match of a repo-relative path (the subset .dvcignore files use here:
    `name`, `name/`, globs, and patterns anchored with a slash; no negation)."""
    rel = "/".join(rel_parts)
    for pat in patterns:
        dir_only = pat.endswith("/")
        p = pat.rstrip("/")
        if dir_only and not is_dir:
            continue
        if "/" in p:  # anchored at the root
            if fnmatch.fnmatchcase(rel, p.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(rel_parts[-1], p):
            return True
    return False


def dvc_md5(path: str | Path, root: str | Path | None = None) -> str | None:
    """The md5 DVC records in dvc.lock for `path` (None if it does not exist).

    A file: md5 of its bytes. A directory: md5 of ``json.dumps(sorted([{"md5", "relpath"}],
    sort_keys=True)`` over its files (dvc_data's Tree.digest) + ".dir", skipping what `root`'s
    .dvcignore ignores (``__pycache__/`` matters: src/gantext is a dir dep of every stage).
    """
    path = Path(path)
    if path.is_file():
        return md5_file(path)
    if not path.is_dir():
        return None
    return dir_listing_md5(dvc_dir_listing(path, root))


def dvc_dir_listing(path: str | Path, root: str | Path | None = None) -> list[dict[str, str]]:
    """[{'md5': ..., 'relpath': ...}] of the files under `path` as DVC lists them (sorted)."""
    path = Path(path).resolve()
    root_path = Path(root).resolve() if root is not None else path
    patterns = _dvcignore_patterns(root_path)
    try:
        base = path.relative_to(root_path).parts
    except ValueError:
        base = ()
    entries = []
    for dirpath, dirnames, filenames in os.walk(path):
        rel_dir = Path(dirpath).relative_to(path).parts
        dirnames[:] = sorted(d for d in dirnames
                             if not _ignored(base + rel_dir + (d,), True, patterns))
        for name in filenames:
            if _ignored(base + rel_dir + (name,), False, patterns):
                continue
            entries.append({"md5": md5_file(Path(dirpath) / name),
                            "relpath": "/".join(rel_dir + (name,))})
    return sorted(entries, key=lambda e: e["relpath"])


def dir_listing_md5(listing: list[dict[str, str]]) -> str:
    """DVC's directory hash of a listing from :func:`dvc_dir_listing`."""
    blob = json.dumps(listing, sort_keys=True).encode("utf-8")
    return hashlib.md5(blob).hexdigest() + ".dir"


# ----------------------------------------------------------------------------- grouping
def _dvc_ancestor() -> tuple[int, float] | None:
    """(pid, start time) of the nearest ancestor process that is `dvc ...` (None if none)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with mlflow
        return None
    try:
        for proc in psutil.Process().parents():
            with contextlib.suppress(psutil.Error):
                argv = proc.cmdline()
                heads = [os.path.basename(a).lower() for a in argv[:3]]
                if any(h in ("dvc", "dvc.exe") for h in heads) or (
                        "-m" in argv[:3] and "dvc" in argv[:4]):
                    return proc.pid, proc.create_time()
    except psutil.Error:
        return None
    return None


def pipeline_id() -> tuple[str, str]:
    """(id, how it was found): the grouping shared by all stage runs of one pipeline execution.

    1. ``GANTEXT_PIPELINE_ID`` when set (your own grouping);
    2. inside ``dvc exp run`` (workspace, --temp, --queue): ``<experiment name>@<baseline commit>``
       from ``DVC_EXP_NAME`` / ``DVC_EXP_BASELINE_REV``, which DVC gives every stage it runs for
       that experiment;
    3. under ``dvc repro``: ``repro-<hash of host, pid and start time of the dvc process>`` (all
       stages of one invocation are its children; a later invocation gets a new id);
    4. otherwise (a stage run by hand) a fresh ``run-<random>`` id.

    Only stages that execute log a run: stages DVC skips (up to date, or restored from the
    run-cache) are not in the group; `gantext lineage` finds the run behind every current output
    through the ``dvc.out.*`` md5 tags instead.
    """
    own = os.environ.get(ENV_PIPELINE_ID)
    if own:
        return own, "env"
    name = os.environ.get("DVC_EXP_NAME")
    if name:
        base = os.environ.get("DVC_EXP_BASELINE_REV", "")[:7]
        return (f"{name}@{base}" if base else name), "dvc-exp"
    anc = _dvc_ancestor()
    if anc:
        key = f"{socket.gethostname()}:{anc[0]}:{anc[1]:.3f}"
        return "repro-" + hashlib.sha1(key.encode()).hexdigest()[:12], "dvc-process"
    return "run-" + uuid.uuid4().hex[:12], "standalone"


# ----------------------------------------------------------------------------- run handle
_METRIC_KEY_BAD = re.compile(r"[^/\w.\- ]")


def _clean_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Flatten nested dicts, keep numbers (bools count), make keys MLflow-safe."""
    out: dict[str, float] = {}
    for k, v in flatten(dict(metrics)).items():
        if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
            out[_METRIC_KEY_BAD.sub("_", str(k))] = float(v)
    return out


class StageRun:
    """A handle that logs to MLflow while a run is active and silently does nothing otherwise.

    The first failure prints one warning line and deactivates the handle, so a server that dies
    mid-stage costs at most one bounded request.
    """

    def __init__(self, active: bool, stage: str = ""):
        self.active = active
        self.stage = stage
        self.run_id: str | None = None
        self.pipeline_id: str | None = None
        self.warned = False
        # An explicit client, not mlflow's fluent API: no process-global active run, and
        # mlflow.set_tracking_uri() would export MLFLOW_TRACKING_URI to this process.
        self._client: Any = None

    def _call(self, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        """client.<fn_name>(run_id, ...) while active; the first exception deactivates."""
        if not self.active or self._client is None:
            return None
        try:
            return getattr(self._client, fn_name)(self.run_id, *args, **kwargs)
        except Exception as exc:  # tracking must never stop the stage
            self.fail(exc)
            return None

    def fail(self, exc: BaseException | str) -> None:
        """Warn once (one stderr line) and stop tracking for the rest of the stage."""
        if not self.warned:
            what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"warning: MLflow tracking unavailable for stage '{self.stage}', continuing "
                  f"without it (metrics files are the record): {what[:300]}", file=sys.stderr)
            self.warned = True
        self.active = False

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Numbers only (nested dicts are flattened to dotted keys); `step` = epoch / step."""
        clean = _clean_metrics(metrics)
        if clean and self.active:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            self._call("log_batch", metrics=[Metric(k, v, now, step or 0)
                                             for k, v in clean.items()])

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Extra params (flattened; values stringified and capped at MLflow's 6000 chars)."""
        flat = {k: str(v)[:6000] for k, v in flatten(dict(params)).items()}
        if flat and self.active:
            from mlflow.entities import Param

            self._call("log_batch", params=[Param(k, v) for k, v in flat.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """A file or a whole directory (missing paths are skipped)."""
        path = Path(path)
        if path.is_dir():
            self._call("log_artifacts", str(path), artifact_path or path.name)
        elif path.is_file():
            self._call("log_artifact", str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if tags and self.active:
            from mlflow.entities import RunTag

            self._call("log_batch", tags=[RunTag(str(k), str(v)[:8000]) for k, v in tags.items()])


def _stage_params(params: Params, names: list[str]) -> dict[str, Any]:
    """The params.yaml entries a stage declares in dvc.yaml (`seed`, `model.generator`, ...)."""
    full = to_dict(params)
    if not names:
        return flatten(full)
    picked: dict[str, Any] = {}
    for name in names:
        node: Any = full
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            picked.update(flatten(node, name))
        elif node is not None:
            picked[name] = node
    return picked


def _md5_tags(kind: str, rels: list[str], root: Path) -> dict[str, str]:
    tags = {}
    for rel in rels:
        md5 = dvc_md5(root / rel, root)
        if md5:
            tags[f"dvc.{kind}.{rel.rstrip('/')}"] = md5
    return tags


@contextlib.contextmanager
def _init_lock(root: Path) -> Iterator[None]:
    """Serialise first contact with the SQLite store: `dvc queue start --jobs N` starts stages
    together, and two processes creating tables / the experiment at once collide."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, errors become the one warning
        yield
        return
    lock_dir = root / ".gantext"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "mlflow.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _import_mlflow() -> Any:
    for key, value in HTTP_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    import logging

    import mlflow

    # "Creating a new experiment", alembic's migration chatter, "View run at": not for stage logs.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


def _ensure_experiment(client: Any, name: str, artifacts: str | None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, artifact_location=artifacts)
        except Exception:
            exp = client.get_experiment_by_name(name)  # created meanwhile by another process
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        raise RuntimeError(f"MLflow experiment '{name}' is deleted: restore it "
                           f"(`mlflow experiments restore`) or set another tracking.experiment")
    return exp.experiment_id


@contextlib.contextmanager
def stage_run(stage: str, params: Params, paths: Paths) -> Iterator[StageRun]:
    """One MLflow run for one stage execution (a no-op handle when tracking is off/unreachable).

    Exceptions from the stage body propagate unchanged (the run is marked FAILED); the outputs'
    md5 tags are set only when the body completed.
    """
    handle = StageRun(active=params.tracking.enabled, stage=stage)
    if not handle.active:
        yield handle
        return
    root = paths.root
    uri, artifacts = tracking_uri(paths), artifact_location(paths)
    spec: dict[str, list[str]] = {"deps": [], "outs": [], "params": []}
    why = probe(uri)
    if why:
        handle.fail(f"{uri}: {why}")
    else:
        try:
            spec = dvc_stage(root, stage, to_dict(params))
            pid, pid_source = pipeline_id()
            commit, dirty = git_commit(root), git_dirty(root)
            tags = {"gantext.stage": stage, "gantext.pipeline_id": pid,
                    "gantext.pipeline_id_source": pid_source,
                    "mlflow.source.name": f"stages/{stage}.py", "mlflow.user": _user()}
            if commit:
                tags.update({"gantext.git_commit": commit, "mlflow.source.git.commit": commit})
            if dirty is not None:
                tags["gantext.git_dirty"] = str(dirty).lower()
            if os.environ.get("DVC_EXP_NAME"):
                tags["gantext.dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
                tags["gantext.dvc_exp_baseline"] = os.environ.get("DVC_EXP_BASELINE_REV", "")
            tags.update(_md5_tags("dep", spec["deps"], root))
            mlflow = _import_mlflow()
            lock = _init_lock(main_repo_root(root)) if uri.startswith("sqlite:") else \
                contextlib.nullcontext()
            with lock:
                client = mlflow.MlflowClient(tracking_uri=uri)
                exp_id = _ensure_experiment(client, params.tracking.experiment, artifacts)
                run = client.create_run(exp_id, run_name=stage, tags=tags)
            handle._client, handle.run_id, handle.pipeline_id = client, run.info.run_id, pid
            handle.log_params(_stage_params(params, spec["params"]))
        except Exception as exc:
            handle.fail(exc)
    try:
        yield handle
    except BaseException:
        if handle.active:
            with contextlib.suppress(Exception):
                handle._client.set_terminated(handle.run_id, status="FAILED")
        raise
    if handle.active:
        handle.set_tags(_md5_tags("out", spec["outs"], root))
        handle._call("set_terminated", status="FINISHED")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


# ----------------------------------------------------------------------------- queries
def find_runs(paths: Paths, params: Params, filter_string: str,
              max_results: int = 100) -> list[dict[str, Any]] | str:
    """Runs of `tracking.experiment` matching an MLflow filter (newest first) as plain dicts
    {run_id, status, start_time, tags, params, metrics}; or a one-line reason when MLflow cannot
    be asked (disabled, unreachable, no experiment yet). For `gantext lineage` and tests."""
    found = search_runs(paths, params, [filter_string], max_results)
    return found if isinstance(found, str) else found[0]


def search_runs(paths: Paths, params: Params, filters: list[str],
                max_results: int = 100) -> list[list[dict[str, Any]]] | str:
    """:func:`find_runs` for several filters through one client (one answer list per filter)."""
    if not params.tracking.enabled:
        return "tracking disabled (tracking.enabled: false)"
    uri = tracking_uri(paths)
    why = probe(uri)
    if why:
        return f"{uri}: {why}"
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        return f"{uri}: no tracking database yet"
    try:
        mlflow = _import_mlflow()
        client = mlflow.MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(params.tracking.experiment)
        if exp is None:
            return f"{uri}: no experiment '{params.tracking.experiment}'"
        answers = [client.search_runs([exp.experiment_id], filter_string=f,
                                      max_results=max_results,
                                      order_by=["attributes.start_time DESC"]) for f in filters]
    except Exception as exc:
        return f"{uri}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
    return [[{"run_id": r.info.run_id, "status": r.info.status, "start_time": r.info.start_time,
              "tags": dict(r.data.tags), "params": dict(r.data.params),
              "metrics": dict(r.data.metrics)} for r in runs] for runs in answers]


def quote_key(key: str) -> str:
    """A tag/param key for an MLflow filter string (backticks: our keys contain dots/slashes)."""
    return f"`{key}`"
