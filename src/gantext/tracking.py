"""MLflow tracking: the only module that imports mlflow (lazily: the import takes seconds).

Interface used by every stage::

    with stage_run("pretrain", params, paths) as run:
        run.log_metrics({"valid_nll": 1.2}, step=epoch)
        run.log_artifact(paths.plot_csv("pretrain"))

One stage execution = one MLflow run in experiment ``tracking.experiment``, named
``stage · loss · experiment · commit`` (e.g. ``adversarial · seqgan · my-exp · 6be604d``; the loss
only for stages that depend on the adversarial generator; ``-dirty`` after the commit when code or
params.yaml have uncommitted changes), holding

* params: the params.yaml sections the stage declares in dvc.yaml (flattened, ``pretrain.lr``);
* metrics with their step numbers, artifacts (samples, plot CSVs, the lineage report);
* tags: ``gantext.stage``, ``gantext.git_commit`` (+ ``mlflow.source.git.commit``),
  ``gantext.git_dirty`` (uncommitted changes to the code: src/, stages/, dvc.yaml, pyproject.toml),
  ``gantext.params_dirty`` (uncommitted changes to params.yaml),
  ``gantext.dvc_exp_name`` / ``gantext.dvc_exp_baseline`` inside ``dvc exp run``,
  ``gantext.pipeline_id`` (shared by every stage run of one pipeline execution, see
  :func:`gantext.provenance.pipeline_id`), ``gantext.host`` / ``gantext.pid`` (to recognise a run
  whose process was killed), ``gantext.machine.*`` (CPU model, ISA flags, torch, BLAS, oneDNN:
  :func:`gantext.provenance.machine_info`), and the md5 of every dvc.yaml dep (``dvc.dep.<path>``,
  hashed when the stage starts) and out (``dvc.out.<path>``, hashed when the stage body finished) as
  DVC records them in dvc.lock (see :mod:`gantext.provenance`).

**One parent run per pipeline execution** (``dvc repro``, one DVC experiment; not a stage run by
hand): the first stage run of a pipeline id creates it (tag ``gantext.role = pipeline``, named
``pipeline · loss · experiment · commit``, every params.yaml value as a param) and each stage run
is nested under it (``mlflow.parentRunId``); the parent is RUNNING while a stage runs and ends
with the last one. The ``track`` stage of dvc.yaml (:func:`record_pipeline`) runs after the
others whenever the pipeline produced anything: a stage that DVC skipped (unchanged) or restored
from its run-cache executed no code, so it gets a short run there, tagged ``gantext.cached =
true`` and ``gantext.cached_from = <the run that computed its outputs>`` (found by the
``dvc.out.*`` md5 tags), with the params of its dvc.lock entry and the figures of its metrics
file; the parent then gets the headline figures and ends. So every experiment is one parent
with all five stages under it, also one restored entirely from DVC's cache.

The experiment carries ``mlflow.experimentKind = custom_model_development`` (the kind MLflow 3's
UI uses to open an experiment on its runs rather than on the GenAI traces overview). In 3.17 the
UI's "GenAI / Model training" switch overrides it, and it starts on GenAI: an address with
``?workflowType=machine_learning`` (:func:`ui_url`) opens the runs, for a run page too. A run
left ``RUNNING`` by a killed stage (same host, its process gone) is ended as ``KILLED`` by the
next stage run, which says so on stderr (its pipeline's parent too).

Where runs go (:func:`tracking_uri`): ``MLFLOW_TRACKING_URI`` when set, else
``sqlite:///<main repo root>/mlflow.db`` with artifacts in ``<main repo root>/mlartifacts/``, also
from the temporary copies ``dvc exp run --temp/--queue`` executes in.

Tracking never blocks science: with ``tracking.enabled: false`` nothing is imported; if MLflow
fails (unreachable server, read-only or locked database, ...) the stage prints ONE warning line and
carries on; the metrics files are the record of truth. :func:`probe` checks the store before
mlflow is even imported: an HTTP server must answer a request within 2 s (a server that accepts
connections and never answers fails here, not after minutes of MLflow retries), an SQLite store
must be writable (MLflow's engine retries a read-only one for minutes). MLflow's own HTTP retries
are capped as well.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import re
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping
from urllib.parse import unquote, urlparse

from gantext import provenance
from gantext.configfields import flatten, to_dict  # not gantext.config: it imports torch
from gantext.paths import Paths

if TYPE_CHECKING:
    from gantext.config import Params

#: Bounds on MLflow's HTTP client (its defaults retry with backoff for minutes); setdefault, so a
#: user's own MLFLOW_HTTP_* settings win.
HTTP_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
PROBE_TIMEOUT_S = 2.0
#: The experiment tag MLflow 3's UI reads to open an experiment on its runs.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
#: ``mlflow ui``'s default address, and the query that opens the "Model training" layout
#: (MLflow 3.17 starts on GenAI and keeps the last choice in the browser).
UI_ADDRESS = "http://127.0.0.1:5000"
UI_QUERY = "workflowType=machine_learning"
#: The tag MLflow's UI nests a run under its parent with.
PARENT_TAG = "mlflow.parentRunId"
#: MLflow's cap on params per log_batch call.
_PARAMS_PER_BATCH = 100


# ----------------------------------------------------------------------------- where
def tracking_uri(paths: Paths) -> str:
    """MLFLOW_TRACKING_URI when set, else sqlite:///<main repo root>/mlflow.db (absolute)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{(provenance.main_repo_root(paths.root) / 'mlflow.db').as_posix()}"


def artifact_location(paths: Paths) -> str | None:
    """Where a new experiment keeps artifacts: <main root>/mlartifacts for the default SQLite store.

    MLflow's default is ./mlruns relative to the *current* directory, which inside an experiment
    copy is deleted afterwards. A server decides for itself (None).
    """
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    return (provenance.main_repo_root(paths.root) / "mlartifacts").as_uri()


def _sqlite_path(uri: str) -> Path | None:
    """The database file of an ``sqlite:///...`` URI (None for in-memory or other schemes)."""
    if not uri.startswith("sqlite:///"):
        return None
    rest = unquote(uri[len("sqlite:///"):].split("?", 1)[0])
    return None if rest in ("", ":memory:") else Path(rest)


def probe(uri: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if the store at `uri` looks usable, else why not, found within about `timeout` s.

    HTTP(S): a GET of the server's ``/health`` must return a status line within `timeout` (any
    status counts: the server answers); SQLite: the database file (or, for a new one, its folder)
    and the folder (SQLite writes a journal beside the file) must be writable.
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        host = parsed.hostname or "localhost"
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if parsed.scheme == "https":  # only "does it answer": certificates are MLflow's business
            import ssl

            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", parsed.path.rstrip("/") + "/health")
            conn.getresponse().read(256)
            return None
        except socket.timeout:
            return f"{host}:{port} did not answer within {timeout:g} s"
        except (OSError, http.client.HTTPException) as exc:
            return f"cannot connect to {host}:{port} ({getattr(exc, 'strerror', None) or exc})"
        finally:
            conn.close()
    db = _sqlite_path(uri)
    if db is not None:
        if not db.parent.is_dir():
            return f"folder {db.parent} does not exist"
        # access(W_OK) also fails on a read-only mount (EROFS), for root too
        if not os.access(db.parent, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            return f"{db if db.exists() else db.parent} is read-only"
    return None
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
        self.parent_id: str | None = None  # the pipeline's parent run
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
        if self.active:
            _log_params(self._call, params)

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




def _log_params(call: Any, params: Mapping[str, Any]) -> None:
    """`params` flattened and stringified, in batches MLflow accepts, through `call`
    (``call("log_batch", params=[...])``)."""
    from mlflow.entities import Param

    flat = [Param(k, str(v)[:6000]) for k, v in flatten(dict(params)).items()]
    for i in range(0, len(flat), _PARAMS_PER_BATCH):
        call("log_batch", params=flat[i:i + _PARAMS_PER_BATCH])


def ui_url(experiment_id: str | None = None, run_id: str | None = None,
           address: str = UI_ADDRESS) -> str:
    """The MLflow UI address of an experiment's runs list (or of one run) in the "Model
    training" layout, for ``mlflow ui`` on its default address."""
    path = "#/experiments" + (f"/{experiment_id}" if experiment_id else "")
    path += f"/runs/{run_id}" if experiment_id and run_id else ""
    return f"{address}/{path}?{UI_QUERY}"


def _md5_tags(kind: str, rels: list[str], root: Path) -> dict[str, str]:
    tags = {}
    for rel in rels:
        md5 = provenance.dvc_md5(root / rel, root)
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
            return client.create_experiment(name, artifact_location=artifacts,
                                            tags=dict([EXPERIMENT_KIND]))
        except Exception:
            exp = client.get_experiment_by_name(name)  # created meanwhile by another process
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        raise RuntimeError(f"MLflow experiment '{name}' is deleted: restore it "
                           f"(`mlflow experiments restore`) or set another tracking.experiment")
    if exp.tags.get(EXPERIMENT_KIND[0]) is None:  # made by an older gantext: open on its runs too
        client.set_experiment_tag(exp.experiment_id, *EXPERIMENT_KIND)
    return exp.experiment_id


def end_stale_runs(client: Any, exp_id: str, stage: str) -> list[str]:
    """End as KILLED the runs of `stage` still RUNNING whose process is gone (a SIGKILL, an OOM
    kill, a power cut: no chance to mark them FAILED); says so on stderr; returns their ids.
    Runs of live processes (e.g. another queued experiment's stage) are left alone."""
    stale = client.search_runs(
        [exp_id], max_results=50,
        filter_string=f"attributes.status = 'RUNNING' and tags.{quote_key('gantext.stage')} = "
                      f"'{stage}' and tags.{quote_key('gantext.host')} = '{socket.gethostname()}'")
    ended = []
    for r in stale:
        if provenance.process_gone(r.data.tags):
            client.set_tag(r.info.run_id, "gantext.ended_by", "next run of the stage: process gone")
            client.set_terminated(r.info.run_id, status="KILLED")
            parent = r.data.tags.get(PARENT_TAG)
            if parent:  # its pipeline stopped with it
                with contextlib.suppress(Exception):
                    if client.get_run(parent).info.status == "RUNNING":
                        client.set_terminated(parent, status="KILLED")
            started = datetime.fromtimestamp(r.info.start_time / 1000).strftime("%Y-%m-%d %H:%M:%S")
            print(f"tracking: MLflow run {r.info.run_id} of stage '{stage}' (started {started}, "
                  f"process {r.data.tags.get('gantext.pid')} is gone) was still RUNNING: "
                  "marked KILLED", file=sys.stderr)
            ended.append(r.info.run_id)
    return ended


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
            spec = provenance.dvc_stage(root, stage, to_dict(params))
            tags, name, pid = provenance.run_tags(stage, params, root, spec)
            tags.update(_md5_tags("dep", spec["deps"], root))
            tags["mlflow.user"] = _user()
            mlflow = _import_mlflow()
            lock = _init_lock(provenance.main_repo_root(root)) if uri.startswith("sqlite:") \
                else contextlib.nullcontext()
            with lock:
                client = mlflow.MlflowClient(tracking_uri=uri)
                exp_id = _ensure_experiment(client, params.tracking.experiment, artifacts)
                end_stale_runs(client, exp_id, stage)
                parent = pipeline_parent(client, exp_id, tags, to_dict(params),
                                         params.adversarial.loss)
                if parent:
                    tags[PARENT_TAG] = parent
                run = client.create_run(exp_id, run_name=name, tags=tags)
            handle._client, handle.run_id, handle.pipeline_id = client, run.info.run_id, pid
            handle.parent_id = parent
            handle.log_params(provenance.stage_params(params, spec["params"]))
        except Exception as exc:
            handle.fail(exc)
    try:
        yield handle
    except BaseException:
        if handle.active:
            with contextlib.suppress(Exception):
                handle._client.set_terminated(handle.run_id, status="FAILED")
                if handle.parent_id:
                    handle._client.set_terminated(handle.parent_id, status="FAILED")
        raise
    if handle.active:
        handle.set_tags(_md5_tags("out", spec["outs"], root))
        handle._call("set_terminated", status="FINISHED")
        if handle.parent_id and handle.active:  # ends with its last stage (track ends it too)
            with contextlib.suppress(Exception):
                handle._client.set_terminated(handle.parent_id, status="FINISHED")


#: Tags of a stage run that describe the pipeline, copied to its parent run.
_PIPELINE_TAGS = ("gantext.pipeline_id", "gantext.pipeline_id_source", "gantext.git_commit",
                  "mlflow.source.git.commit", "gantext.git_dirty", "gantext.params_dirty",
                  "gantext.dvc_exp_name", "gantext.dvc_exp_baseline", "mlflow.user")


def _pipeline_name(tags: Mapping[str, str], loss: str | None) -> str:
    """``pipeline · loss · DVC experiment · short commit[-dirty]`` (as a stage run's name)."""
    parts = ["pipeline"] + ([loss] if loss else [])
    parts += [tags["gantext.dvc_exp_name"]] if tags.get("gantext.dvc_exp_name") else []
    commit = tags.get("gantext.git_commit")
    if commit:
        dirty = "true" in (tags.get("gantext.git_dirty"), tags.get("gantext.params_dirty"))
        parts.append(commit[:7] + ("-dirty" if dirty else ""))
    return " · ".join(parts)


def pipeline_parent(client: Any, exp_id: str, tags: Mapping[str, str],
                    params: Mapping[str, Any], loss: str | None) -> str | None:
    """The parent run of the pipeline in ``tags["gantext.pipeline_id"]`` (found by that tag and
    ``gantext.role = pipeline``, marked RUNNING again; else created with `params`, every
    params.yaml value); None for a stage run by hand, which belongs to no pipeline."""
    pid = tags.get("gantext.pipeline_id")
    if not pid or tags.get("gantext.pipeline_id_source") == "standalone":
        return None
    found = client.search_runs(
        [exp_id], max_results=1, order_by=["attributes.start_time ASC"],
        filter_string=f"tags.{quote_key('gantext.pipeline_id')} = '{pid}' and "
                      f"tags.{quote_key('gantext.role')} = 'pipeline'")
    if found:
        run_id = found[0].info.run_id
        if found[0].info.status != "RUNNING":
            client.update_run(run_id, status="RUNNING")
        return run_id
    parent_tags = {k: tags[k] for k in _PIPELINE_TAGS if k in tags}
    parent_tags.update({k: v for k, v in tags.items() if k.startswith("gantext.machine.")})
    parent_tags.update({"gantext.role": "pipeline", "mlflow.source.name": "dvc.yaml"})
    run = client.create_run(exp_id, run_name=_pipeline_name(tags, loss), tags=parent_tags)
    _log_params(lambda fn, **kw: getattr(client, fn)(run.info.run_id, **kw), params)
    return run.info.run_id


def tracking_settings(path: Path) -> Any:
    """params.yaml's ``tracking`` section as ``.tracking.enabled`` / ``.tracking.experiment``,
    what the MLflow lookups read, without :func:`gantext.config.load_params`: importing that
    module imports torch for the generator registry, most of `gantext lineage`'s 6 s on a busy
    machine. None when the file is missing or unreadable."""
    from types import SimpleNamespace

    from gantext.errors import ConfigError
    from gantext.params_file import read_params_file

    try:
        raw = read_params_file(path)
    except ConfigError:
        return None
    section = raw.get("tracking") if isinstance(raw, dict) else None
    values = {**TRACKING_DEFAULTS, **(section if isinstance(section, dict) else {})}
    return SimpleNamespace(tracking=SimpleNamespace(enabled=bool(values["enabled"]),
                                                    experiment=str(values["experiment"])),
                           raw=raw if isinstance(raw, dict) else {})


#: TrackingConfig's defaults (gantext.config), for :func:`tracking_settings`;
#: tests/unit/test_lineage.py checks that they agree.
TRACKING_DEFAULTS = {"enabled": True, "experiment": "gantext"}


def record_pipeline(paths: Paths) -> str:
    """The ``track`` stage's work (see the module docstring): a short cached run for every
    stage of dvc.lock that has no run in this pipeline, the headline figures on the parent run,
    the parent ended. Returns one line saying what it did; never raises (tracking never blocks
    science): a failure is that line."""
    settings = tracking_settings(paths.params)
    if settings is None or not settings.tracking.enabled:
        return "tracking disabled (tracking.enabled: false)"
    uri, artifacts = tracking_uri(paths), artifact_location(paths)
    why = probe(uri)
    if why:
        return f"MLflow is not reachable, nothing recorded ({uri}: {why})"
    root = paths.root
    try:
        lock = provenance.read_lock(root)
        tags, _, pid = provenance.run_tags("track", None, root, {}, machine=False)
        tags["mlflow.user"] = _user()
        mlflow = _import_mlflow()
        store_lock = _init_lock(provenance.main_repo_root(root)) if uri.startswith("sqlite:") \
            else contextlib.nullcontext()
        raw = settings.raw
        loss = (raw.get("adversarial") or {}).get("loss") if isinstance(
            raw.get("adversarial"), dict) else None
        with store_lock:
            client = mlflow.MlflowClient(tracking_uri=uri)
            exp_id = _ensure_experiment(client, settings.tracking.experiment, artifacts)
            parent = pipeline_parent(client, exp_id, tags, raw, loss)
        if parent is None:
            return "a stage run by hand belongs to no pipeline: nothing to record"
        restored = []
        for stage in [s for s in provenance.STAGES if s in lock]:
            if _runs(client, exp_id, {"gantext.pipeline_id": pid, "gantext.stage": stage}):
                continue  # it ran in this pipeline
            restored.append(stage)
            _cached_run(client, exp_id, stage, lock[stage], tags, parent, paths)
        headline = {}
        for stage in provenance.STAGES:
            path = paths.metrics_json(stage)
            if path.is_file():
                data = {k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items()
                        if k != provenance.MACHINE_KEY}
                headline.update(_clean_metrics(data if stage == "evaluate" else {stage: data}))
        _log_metrics(client, parent, headline)
        client.set_terminated(parent, status="FINISHED")
    except Exception as exc:  # tracking must never stop the pipeline
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"warning: MLflow tracking failed, continuing without it: {what[:300]}"
    return (f"pipeline run {parent}: " + (f"{', '.join(restored)} not executed here (skipped "
            "or restored from DVC's cache): short runs point at the runs that computed them"
            if restored else "every stage ran"))


def _runs(client: Any, exp_id: str, tags: Mapping[str, str], **kw: Any) -> list[Any]:
    return client.search_runs([exp_id], filter_string=" and ".join(
        f"tags.{quote_key(k)} = '{v}'" for k, v in tags.items()), **kw)


def _log_metrics(client: Any, run_id: str, metrics: Mapping[str, float]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k, v, now, 0) for k, v in metrics.items()]
    for i in range(0, len(items), 1000):  # MLflow's cap per log_batch
        client.log_batch(run_id, metrics=items[i:i + 1000])


def _cached_run(client: Any, exp_id: str, stage: str, entry: Mapping[str, Any],
                tags: Mapping[str, str], parent: str, paths: Paths) -> str:
    """A short FINISHED run for `stage`, whose outputs (its dvc.lock `entry`) DVC restored or
    left in place: tagged ``gantext.cached`` and ``gantext.cached_from`` (the newest run with the
    same ``dvc.out.*`` md5s that executed, or ``unknown``), with the entry's params and md5s and
    the figures of its metrics file."""
    outs = {f"dvc.out.{o['path']}": o["md5"] for o in entry.get("outs", []) if o.get("md5")}
    deps = {f"dvc.dep.{d['path']}": d["md5"] for d in entry.get("deps", []) if d.get("md5")}
    computed = [r for r in _runs(client, exp_id, {"gantext.stage": stage, **outs},
                                 max_results=50, order_by=["attributes.start_time DESC"])
                if r.data.tags.get("gantext.cached") != "true" and r.info.status == "FINISHED"]
    origin = computed[0] if computed else None
    run_tags = {k: tags[k] for k in _PIPELINE_TAGS if k in tags}
    run_tags.update({**outs, **deps, "gantext.stage": stage, "gantext.cached": "true",
                     "gantext.cached_from": origin.info.run_id if origin else "unknown",
                     PARENT_TAG: parent, "mlflow.source.name": f"stages/{stage}.py"})
    if origin:  # where the outputs were computed, not where they were restored
        run_tags.update({k: v for k, v in origin.data.tags.items()
                         if k.startswith("gantext.machine.") or k == "gantext.precision"})
        run_tags["gantext.cached_from_commit"] = origin.data.tags.get("gantext.git_commit", "")
    name = " · ".join(["cached", stage] + ([tags["gantext.dvc_exp_name"]]
                                           if tags.get("gantext.dvc_exp_name") else []))
    run = client.create_run(exp_id, run_name=name, tags=run_tags)
    _log_params(lambda fn, **kw: getattr(client, fn)(run.info.run_id, **kw),
                provenance.lock_params(dict(entry)))
    path = paths.metrics_json(stage)
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        _log_metrics(client, run.info.run_id, _clean_metrics(
            {k: v for k, v in data.items() if k != provenance.MACHINE_KEY}))
    client.set_terminated(run.info.run_id, status="FINISHED")
    return run.info.run_id


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
    {run_id, status, start_time, end_time, tags, params, metrics}; or a one-line reason when
    MLflow cannot be asked (disabled, unreachable, no experiment yet). For `gantext lineage`,
    `gantext protocol report` (stage wall times) and tests."""
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
              "experiment_id": r.info.experiment_id, "end_time": r.info.end_time,
              "tags": dict(r.data.tags), "params": dict(r.data.params),
              "metrics": dict(r.data.metrics)} for r in runs] for runs in answers]


def runs_with_tags(paths: Paths, params: Params, queries: list[dict[str, str]],
                   max_results: int = 100) -> list[list[dict[str, Any]]] | str:
    """For each query (tag -> value, all must match), the runs of `tracking.experiment` that
    carry those tags, newest first, as :func:`find_runs` gives them (params and metrics
    left empty); or a one-line reason. The default SQLite store is read with sqlite3 directly
    (read-only; milliseconds, where importing MLflow and opening its store takes seconds:
    `gantext lineage` took 14 s on a fresh clone), any other store through MLflow."""
    if not params.tracking.enabled:
        return "tracking disabled (tracking.enabled: false)"
    uri = tracking_uri(paths)
    db = _sqlite_path(uri)
    if db is None:
        filters = [" and ".join(f"tags.{quote_key(k)} = '{v}'" for k, v in q.items())
                   for q in queries]
        return search_runs(paths, params, filters, max_results)
    if not db.is_file():
        return f"{uri}: no tracking database yet"
    import sqlite3

    try:
        con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            exp_ids = [r[0] for r in con.execute(
                "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = "
                "'active'", (params.tracking.experiment,))]
            if not exp_ids:
                return f"{uri}: no experiment '{params.tracking.experiment}'"
            answers = []
            marks = ",".join("?" * len(exp_ids))
            for query in queries:
                match = " AND ".join("EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid "
                                     "AND t.key = ? AND t.value = ?)" for _ in query)
                args = [x for kv in query.items() for x in kv]
                rows = con.execute(
                    f"SELECT r.run_uuid, r.status, r.start_time, r.end_time, r.experiment_id "
                    f"FROM runs r WHERE "
                    f"r.experiment_id IN ({marks}) AND r.lifecycle_stage = 'active'"
                    + (f" AND {match}" if match else "")
                    + " ORDER BY r.start_time DESC LIMIT ?",
                    [*exp_ids, *args, max_results]).fetchall()
                runs = []
                for run_id, status, start, end, exp_id in rows:
                    tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?",
                                            (run_id,)).fetchall())
                    runs.append({"run_id": run_id, "status": status, "start_time": start,
                                 "end_time": end, "experiment_id": str(exp_id), "tags": tags,
                                 "params": {},
                                 "metrics": {}})
                answers.append(runs)
        finally:
            con.close()
    except sqlite3.Error as exc:
        return f"{uri}: {exc}"
    return answers


def quote_key(key: str) -> str:
    """A tag/param key for an MLflow filter string (backticks: our keys contain dots/slashes)."""
    return f"`{key}`"