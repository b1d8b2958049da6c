"""MLflow tracking: the only module that imports mlflow.

Interface used by every stage::

    with stage_run("pretrain", params, paths) as run:
        run.log_metrics({"valid_nll": 1.2}, step=epoch)
        run.log_artifact(paths.plot_csv("pretrain"))

Tracking never blocks science: if MLflow is disabled or unreachable the stage warns once and
carries on; the metrics files are the record of truth.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator

from gantext.config import Params, flatten, to_dict
from gantext.paths import Paths


def main_repo_root(start: Path) -> Path:
    """The main repository's root, also from a `dvc exp run --temp/--queue` copy (git common dir)."""
    try:
        common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                cwd=start, capture_output=True, text=True, check=True).stdout.strip()
        return Path(common).parent.resolve()
    except (OSError, subprocess.CalledProcessError):
        return start.resolve()


def tracking_uri(paths: Paths) -> str:
    """MLFLOW_TRACKING_URI when set, else sqlite:///<main repo root>/mlflow.db (absolute)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{main_repo_root(paths.root) / 'mlflow.db'}"


class StageRun:
    """A handle that logs to MLflow when a run is active and silently does nothing otherwise."""

    def __init__(self, active: bool):
        self.active = active
        self.run_id: str | None = None
        self._warned = False

    def _call(self, fn_name: str, *args: Any, **kwargs: Any) -> None:
        if not self.active:
            return
        try:
            import mlflow

            getattr(mlflow, fn_name)(*args, **kwargs)
        except Exception as exc:  # tracking must never stop the stage
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            warnings.warn(f"MLflow tracking failed, continuing without it: {exc}", stacklevel=3)
            print(f"warning: MLflow tracking failed, continuing without it: {exc}", file=sys.stderr)
            self._warned = True
        self.active = False

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        self._call("log_metrics", clean, step=step)

    def log_artifact(self, path: str | Path) -> None:
        if Path(path).exists():
            self._call("log_artifact", str(path))

    def set_tags(self, tags: dict[str, str]) -> None:
        self._call("set_tags", tags)


@contextlib.contextmanager
def stage_run(stage: str, params: Params, paths: Paths) -> Iterator[StageRun]:
    """One MLflow run for one stage execution (a no-op handle when tracking is off/unreachable)."""
    if not params.tracking.enabled:
        yield StageRun(active=False)
        return
    handle = StageRun(active=True)
    started = False
    try:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri(paths))
        mlflow.set_experiment(params.tracking.experiment)
        run = mlflow.start_run(run_name=stage)
        started = True
        handle.run_id = run.info.run_id
        mlflow.log_params({k: str(v)[:500] for k, v in flatten(to_dict(params)).items()})
        mlflow.set_tags({"gantext.stage": stage})
    except Exception as exc:
        handle._warn(exc)
    try:
        yield handle
    finally:
        if started:
            with contextlib.suppress(Exception):
                import mlflow

                mlflow.end_run()
