"""Pipeline-test fixtures: the real stages, run by `dvc repro`, in a throw-away copy of the repo.

A *tiny repo* is a copy of this repository's working tree (tracked files plus untracked,
not-ignored ones, so new uncommitted files count; never .venv or ignored outputs) in a fresh git
repository with one commit, and a params.yaml scaled down to seconds: the built-in grammar with
300 sentences, a 16/32 generator, 2 pretrain epochs, 2 adversarial steps, 50 evaluation samples.
The tiny params start from the repository's params.yaml (so keys others add later are kept) and
override only sizes; they are validated when the repo is made.

Layout: ``<tmp>/repo`` (the copy) beside ``<tmp>/mlflow.db`` (its MLflow store), so tracking never
touches the developer's mlflow.db and git in the copy stays clean.

Fixtures (pytest fixtures rather than importable functions: two conftest modules share the name
``conftest``, so ``from conftest import ...`` would be ambiguous)::

    def test_x(tiny_repo, run_cmd):                  # a fresh tiny repo per test
        run_cmd(["dvc", "repro", "tokenize"], cwd=tiny_repo)

    def test_y(make_tiny_repo, run_cmd, update_params):
        repo = make_tiny_repo({"adversarial": {"loss": "seqgan"}})   # extra overrides
        update_params(repo, {"adversarial": {"steps": 3}})           # later, in place

``run_cmd(args, cwd, check=True, env=None, timeout=900)`` runs with the test venv's bin dir first
on PATH (dvc, python), ``PYTHONPATH`` = the copy's src/ (the copy's code, not the editable install
of the main checkout), ``MLFLOW_TRACKING_URI`` = the copy's sqlite store (absolute), one thread
per math library; it returns the CompletedProcess (text, output captured) and on a non-zero exit
(with ``check``) fails the test showing the command, stdout and stderr. The fixture
``tiny_tracking_uri`` is ``tracking_uri(repo)``, the same URI, for tests that query MLflow.
"""

from __future__ import annotations

import copy
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
#: The bin dir of the Python running pytest (.venv/bin): dvc and python for the stages.
VENV_BIN = Path(sys.executable).parent
#: Never copied into a tiny repo (also when not git-ignored, e.g. a venv under another name).
SKIP_PREFIXES = (".venv/", "venv/", ".git/")

#: Overrides applied to the repository's params.yaml: seconds per stage, every stage exercised.
TINY_OVERRIDES: dict[str, Any] = {
    "seed": 0,
    "ingest": {"source": "builtin", "builtin": {"num_sentences": 300}, "paths": [],
               "test_paths": [], "min_tokens": 1, "max_tokens": 30, "dedupe": False,
               "valid_fraction": 0.1, "test_fraction": 0.1},
    # the grammar's sentences have 4-30 tokens: max_len 30 truncates nothing
    "tokenize": {"level": "word", "min_freq": 1, "max_size": 0, "max_len": 30},
    "model": {"generator": {"embed_dim": 16, "hidden_dim": 32, "num_layers": 1},
              "discriminator": {"embed_dim": 16, "kernel_sizes": [2, 3], "num_filters": 8}},
    "pretrain": {"epochs": 2, "batch_size": 32, "patience": 2, "device": "cpu"},
    "adversarial": {"loss": "bce", "steps": 2, "batch_size": 16, "log_every": 1,
                    "sample_every": 1, "checkpoint_every": 1, "device": "cpu",
                    "seqgan": {"n_rollouts": 2, "d_pretrain_steps": 2, "rollout_batch": 256}},
    "evaluate": {"num_samples": 50, "sweep_samples": 50, "sweep_temperatures": [0.7, 1.0],
                 "batch_size": 50, "device": "cpu", "fid": {"svd_dim": 8}},
    "tracking": {"enabled": True, "experiment": "gantext-test"},
}


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied recursively (mappings merge, anything else replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def tiny_params(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The repository's params.yaml + :data:`TINY_OVERRIDES` + `overrides`, validated."""
    from gantext.config import params_from_dict

    base = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8")) or {}
    data = deep_merge(deep_merge(base, TINY_OVERRIDES), overrides or {})
    params_from_dict(data)  # a stale override fails here, naming the key, not deep inside dvc
    return data


def write_params(repo: Path, data: Mapping[str, Any]) -> None:
    (Path(repo) / "params.yaml").write_text(yaml.safe_dump(dict(data), sort_keys=False),
                                            encoding="utf-8")


def working_tree_files(root: Path = REPO) -> list[str]:
    """Tracked + untracked-but-not-ignored files of `root` (relative paths), minus venvs."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=root, capture_output=True, check=True).stdout.decode("utf-8")
    files = []
    for rel in sorted(set(filter(None, out.split("\0")))):
        if rel.startswith(SKIP_PREFIXES):
            continue
        p = root / rel
        if p.is_file() or p.is_symlink():  # skips files deleted but still in the index
            files.append(rel)
    return files


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=_clean_env())


def create_tiny_repo(dest: Path, overrides: Mapping[str, Any] | None = None) -> Path:
    """Copy the working tree to `dest`, write tiny params, `git init` + one commit; return `dest`."""
    data = tiny_params(overrides)
    dest.mkdir(parents=True, exist_ok=False)
    for rel in working_tree_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target, follow_symlinks=False)
    write_params(dest, data)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "config", "user.name", "gantext tests")
    _git(dest, "config", "user.email", "tests@gantext.local")
    _git(dest, "config", "commit.gpgsign", "false")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "tiny repo for pipeline tests")
    return dest


def repo_root_of(path: Path) -> Path:
    """The tiny repo containing `path` (nearest ancestor with .git and dvc.yaml), else `path`."""
    path = Path(path).resolve()
    for p in (path, *path.parents):
        if (p / ".git").exists() and (p / "dvc.yaml").is_file():
            return p
    return path


def tracking_uri(repo: Path) -> str:
    """The MLflow store of a tiny repo: ``sqlite:///<tmp>/mlflow.db`` beside ``<tmp>/repo``."""
    return f"sqlite:///{(repo_root_of(repo).parent / 'mlflow.db').as_posix()}"


def _clean_env() -> dict[str, str]:
    # Variables that would point git/dvc/gantext at another repository or pipeline run.
    drop = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "DVC_ROOT", "DVC_EXP_NAME",
            "DVC_EXP_BASELINE_REV", "DVC_STAGE", "GANTEXT_PIPELINE_ID", "MLFLOW_TRACKING_URI",
            "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID")
    return {k: v for k, v in os.environ.items() if k not in drop}


def run_in_repo(args: Sequence[str] | str, cwd: Path, check: bool = True,
                env: Mapping[str, str] | None = None, timeout: float = 900,
                capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command in a tiny repo (see the module docstring); fail the test if it fails.

    ``capture=False`` sends the output to /dev/null: for commands that may leave a daemon behind
    (a DVC queue worker inherits the pipes of the command that woke it, and reading them to EOF
    would then wait for that worker to exit)."""
    argv = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
    cwd = Path(cwd)
    full_env = _clean_env()
    full_env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{full_env.get('PATH', '')}",
        "PYTHONPATH": str(repo_root_of(cwd) / "src"),
        "MLFLOW_TRACKING_URI": tracking_uri(cwd),
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    full_env.update(env or {})
    try:
        out = subprocess.PIPE if capture else subprocess.DEVNULL
        proc = subprocess.run(argv, cwd=cwd, env=full_env, stdout=out, stderr=out, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`{shlex.join(argv)}` in {cwd} timed out after {timeout}s\n"
                    f"--- stdout ---\n{exc.stdout}\n--- stderr ---\n{exc.stderr}", pytrace=False)
    if check and proc.returncode != 0:
        pytest.fail(f"`{shlex.join(argv)}` in {cwd} exited with {proc.returncode}\n"
                    f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}", pytrace=False)
    return proc


def _update_params(repo: Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a tiny repo's params.yaml (validated); returns the new mapping."""
    from gantext.config import params_from_dict

    path = Path(repo) / "params.yaml"
    data = deep_merge(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, overrides)
    params_from_dict(data)
    write_params(repo, data)
    return data


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every test of this pytest run can reach, whichever xdist worker runs it (the
    workers' base folders share a parent); without xdist, the run's base folder."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture
def make_tiny_repo(tmp_path: Path, session_tmp: Path) -> Callable[..., Path]:
    """Factory: ``make_tiny_repo(overrides=None, name="repo")`` -> path of a new tiny repo.

    ``make_tiny_repo.session_tmp`` is :func:`session_tmp`, for worlds built once per run."""
    def make(overrides: Mapping[str, Any] | None = None, name: str = "repo",
             under: Path | None = None) -> Path:
        base = (under or tmp_path) / name  # <base>/repo + <base>/mlflow.db: one store per repo
        return create_tiny_repo(base / "repo", overrides)
    make.session_tmp = session_tmp  # type: ignore[attr-defined]
    return make


@pytest.fixture
def tiny_repo(make_tiny_repo: Callable[..., Path]) -> Path:
    """A fresh tiny repo (tiny params, one git commit, nothing run yet)."""
    return make_tiny_repo()


@pytest.fixture
def run_cmd() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cmd(args, cwd, check=True, env=None, timeout=900)``: see the module docstring."""
    return run_in_repo


@pytest.fixture
def tiny_tracking_uri() -> Callable[[Path], str]:
    """``tiny_tracking_uri(repo)`` -> the ``sqlite:///...`` URI the stages of `repo` log to."""
    return tracking_uri


@pytest.fixture
def update_params() -> Callable[[Path, Mapping[str, Any]], dict[str, Any]]:
    """``update_params(repo, overrides)``: deep-merge into the repo's params.yaml (validated)."""
    return _update_params
