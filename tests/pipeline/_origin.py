"""One trained tiny repo shared by test_caching, test_remote, test_queue and test_evaluate_stage.

A full `dvc repro` is the expensive part of every pipeline test, so it happens once per pytest
run: the *origin* is a tiny repo (see conftest.py) after `dvc repro` (twice: the second must
run nothing), with a local-directory DVC remote beside it (`dvc push --run-cache`) and dvc.lock
and the metrics committed. Tests never modify the origin; they work on clones of it
(:func:`clone`): `git clone` + `dvc pull`, as a teammate or a CI box would.

Once per run, not per process: under pytest-xdist the first worker to ask builds it in the run's
shared folder (``session_tmp``) while holding a file lock, and writes ``origin<run id>.json``; the
other workers wait on the lock and read that file. Only test_caching runs dvc inside the origin, and
`--dist loadfile` keeps its tests in one worker, so no two dvc processes share the origin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from filelock import FileLock  # a dependency of torch

_CACHE: dict[str, "Origin"] = {}  # this process's copy of origin.json
STAGES = ("ingest", "tokenize", "pretrain", "adversarial", "evaluate")


@dataclass(frozen=True)
class Origin:
    repo: Path          # <shared>/origin<run id>/repo; its MLflow store is ../mlflow.db
    remote: Path        # the local-directory DVC remote (default remote of the repo)
    first_log: str      # stdout + stderr of the first `dvc repro`
    second_log: str     # ... of the second one, right after

    @property
    def lock(self) -> dict[str, Any]:
        return yaml.safe_load((self.repo / "dvc.lock").read_text(encoding="utf-8"))["stages"]


def ran(log: str) -> list[str]:
    """Stages `dvc repro` executed, in order, from its log."""
    return [s for s in STAGES if f"Running stage '{s}'" in log]


def trained_origin(make_tiny_repo: Callable[..., Path], run_cmd: Callable[..., Any]) -> Origin:
    """The run's origin (built on first use by any worker, in ``session_tmp``)."""
    if "origin" in _CACHE:
        return _CACHE["origin"]
    # the run's id in every name: a --basetemp reused by another run holds no stale origin
    name = "origin" + os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    shared = Path(make_tiny_repo.session_tmp)
    done, failed = shared / f"{name}.json", shared / f"{name}.failed"
    with FileLock(str(shared / f"{name}.lock")):
        if failed.is_file():  # a broken pipeline fails every user fast, not one rebuild each
            pytest.fail("the shared trained origin could not be built: "
                        + failed.read_text(encoding="utf-8"), pytrace=False)
        if done.is_file():
            fields = json.loads(done.read_text(encoding="utf-8"))
            origin = Origin(**{**fields, "repo": Path(fields["repo"]),
                               "remote": Path(fields["remote"])})
        else:
            try:
                origin = _build(make_tiny_repo, run_cmd, shared, name)
            except BaseException as exc:
                failed.write_text(f"{type(exc).__name__}: {str(exc)[:2000]}", encoding="utf-8")
                raise
            done.write_text(json.dumps(asdict(origin), default=str), encoding="utf-8")
    _CACHE["origin"] = origin
    return origin


def _build(make_tiny_repo: Callable[..., Path], run_cmd: Callable[..., Any],
           shared: Path, name: str) -> Origin:
    repo = make_tiny_repo(name=name, under=shared)
    first = run_cmd(["dvc", "repro"], cwd=repo)
    second = run_cmd(["dvc", "repro"], cwd=repo)
    remote = repo.parent / "dvc-remote"
    run_cmd(["dvc", "remote", "add", "-d", "shared", str(remote)], cwd=repo)
    run_cmd(["dvc", "push", "--run-cache"], cwd=repo)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run_cmd(["git", "add", "-A"], cwd=repo)
    run_cmd([*git, "commit", "-q", "-m", "trained: dvc.lock, metrics, remote"], cwd=repo)
    return Origin(repo, remote, first.stdout + first.stderr, second.stdout + second.stderr)


def clone(origin: Origin, dest: Path, run_cmd: Callable[..., Any], *pull_args: str) -> Path:
    """`git clone` the origin into `dest` (use <tmp>/<name>/repo: the MLflow store goes beside
    it) and `dvc pull` (extra args, e.g. --run-cache); returns `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", str(origin.repo), str(dest)], check=True,
                   capture_output=True)
    for key, value in (("user.name", "gantext tests"), ("user.email", "tests@gantext.local")):
        # `dvc exp run` commits experiments: no reliance on a global git identity
        subprocess.run(["git", "config", key, value], cwd=dest, check=True)
    run_cmd(["dvc", "pull", *pull_args], cwd=dest)
    return dest


def copy(origin: Origin, dest: Path) -> Path:
    """A full copy of the origin (git history, workspace and DVC cache with its run-cache) at
    `dest` (<tmp>/<name>/repo): for tests that change params, so the origin stays as built."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(origin.repo, dest, symlinks=True)
    return dest
