"""The Ray engine: one Ray task per experiment; results in the git remote, the DVC remote, MLflow.

Driver (:func:`run_ray`, in the user's repository):

1. the baseline is HEAD, and it must be on the git remote (the tasks clone from there);
2. experiments of this baseline already on the remote (``refs/exps/...``) are skipped and only
   pulled (a rerun resumes an interrupted sweep);
3. one task per remaining experiment, ``num_cpus``/``num_gpus`` each (Ray hides the GPUs a task
   did not ask for, so the stages' ``device: auto`` uses the one it got);
4. as each task finishes, ``dvc exp pull <remote> <name>`` brings its git ref and its DVC outputs
   here, so ``dvc exp show`` lists it like a queued one; a failed task (its command failed, a stage
   was killed, its worker died) runs again in a fresh clone at most ``retries`` times, then it is
   reported by name with its last error.

Task (:func:`run_task`, on a node): ``git clone`` + checkout of the baseline in a fresh directory,
``dvc pull --allow-missing`` (the baseline's outputs: unchanged stages are not re-run),
``dvc exp run -n NAME -S ...`` with ``MLFLOW_TRACKING_URI`` from the driver, ``dvc exp push
<remote> NAME`` (the git ref + the outputs to the DVC remote); the clone is deleted, its log is
kept under ``<workdir>/gantext-sweep/logs/``. The stages import the clone's own ``src/`` (the
baseline's code), not whatever gantext the node has installed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from gantext.sweep import (Experiment, Outcome, SweepError, SweepOptions, dvc, git,
                           local_experiments)

#: driver environment variables passed on to the tasks (MLflow server, credentials, HTTP limits)
ENV_PREFIXES = ("MLFLOW_TRACKING_", "MLFLOW_HTTP_", "MLFLOW_S3_", "AWS_", "GOOGLE_")
_EXP_REF = re.compile(r"^refs/exps/([0-9a-f]{2})/([0-9a-f]{38})/(.+)$")


@dataclass(frozen=True)
class TaskSpec:
    """What every task of one sweep shares (pickled to the nodes)."""

    git_url: str
    baseline: str
    dvc_remote: str | None
    env: tuple[tuple[str, str], ...]
    git_user: tuple[str, str]
    workdir: str | None
    hide_gpus: bool = True          # --gpus 0: the stages' `device: auto` must not grab a GPU


class TaskFailed(RuntimeError):
    """A step of a task failed; the message names the experiment, the command and its output."""


# ----------------------------------------------------------------------------- git remote
def remote_url(repo: Path, remote: str) -> str:
    """The URL of git remote `remote` of `repo`, or `remote` itself (a URL or path; a local
    path is made absolute so that tasks started elsewhere find it)."""
    url = git(repo, "remote", "get-url", remote, check=False) or remote
    if "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url):  # scp-like user@host:path
        path = Path(url) if Path(url).is_absolute() else (repo / url)
        if path.exists():
            return str(path.resolve())
    return url


def remote_experiments(git_url: str, baseline: str) -> set[str]:
    """Names of the experiments of `baseline` on the git remote (``refs/exps/ab/cdef.../NAME``)."""
    proc = subprocess.run(["git", "ls-remote", git_url, "refs/exps/*"], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SweepError(f"cannot list experiments on git remote {git_url}: {proc.stderr.strip()}")
    names = set()
    for line in proc.stdout.splitlines():
        m = _EXP_REF.match(line.split("\t", 1)[-1])
        if m and m.group(1) + m.group(2) == baseline:
            names.add(m.group(3))
    return names


def check_baseline_on_remote(repo: Path, git_url: str, baseline: str) -> None:
    """Fail unless `baseline` is a branch/tag tip on the remote or an ancestor of one we know."""
    out = git(repo, "ls-remote", git_url)
    for sha in {line.split()[0] for line in out.splitlines() if line.strip()}:
        if sha == baseline or subprocess.run(  # an unknown sha fails here too: not an ancestor
                ["git", "merge-base", "--is-ancestor", baseline, sha], cwd=repo,
                capture_output=True).returncode == 0:
            return
    raise SweepError(f"commit {baseline[:10]} (HEAD) is not on the git remote {git_url}; the "
                     "tasks clone from there: push it first (git push <remote> HEAD)")


def _tcp_unreachable(uri: str, timeout: float = 2.0) -> str | None:
    """None if an http(s) tracking URI answers a TCP connect (or is not http), else why not."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {parsed.hostname}:{port} ({exc.strerror or exc})"


def _task_env(repo: Path) -> tuple[tuple[str, str], ...]:
    """The driver's MLflow/credential variables for the tasks, with a warning when tracking
    would be lost (no server named) or is unreachable (the stages then warn and carry on)."""
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    uri = env.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        print("[sweep] warning: MLFLOW_TRACKING_URI is not set: each task would log to the "
              "mlflow.db of its temporary clone, deleted afterwards; set it to a tracking server "
              "(metrics still land in the experiments)", file=sys.stderr, flush=True)
    else:
        why = _tcp_unreachable(uri)
        if why:
            print(f"[sweep] warning: MLflow server {uri} unreachable ({why}): the stages will "
                  "run untracked (metrics still land in the experiments)", file=sys.stderr,
                  flush=True)
    return tuple(sorted(env.items()))


# ----------------------------------------------------------------------------- the task
def _step(exp: Experiment, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(args)}\n")
        fh.flush()
        rc = subprocess.run(args, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2500:]
        # the first line is what the driver prints: DVC's last ERROR line says which stage died
        why = [ln.strip() for ln in tail.splitlines() if ln.startswith("ERROR")][-1:]
        raise TaskFailed(f"{exp.name} on {socket.gethostname()}: `{' '.join(args[:3])} ...` "
                         f"exited with {rc}{': ' + why[0] if why else ''} (log: {log})\n{tail}")


def command_env(spec: TaskSpec, work: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a task's commands: the worker's `base` minus what would point git,
    DVC or MLflow elsewhere, plus the driver's MLflow settings; `dvc`/`python` of this worker's
    Python first on PATH; the clone's src/ as PYTHONPATH (the baseline's code, not the node's
    installed gantext); no visible GPU unless the task asked for one (Ray sets
    CUDA_VISIBLE_DEVICES to the GPUs it gave the task)."""
    env = {k: v for k, v in base.items()
           if not k.startswith(("DVC_", "GIT_", "MLFLOW_")) and k != "PYTHONPATH"}
    env.update(dict(spec.env))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(work / "src")
    if spec.hide_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_task(exp: Experiment, spec: TaskSpec, attempt: int) -> dict[str, Any]:
    """Run one experiment in a fresh clone and push it (see the module docstring)."""
    start = time.monotonic()
    if exp.name in remote_experiments(spec.git_url, spec.baseline):
        # an earlier attempt pushed it before its result was lost: nothing to redo
        return {"node": socket.gethostname(), "seconds": 0.0, "note": "found on the remote"}
    root = Path(spec.workdir or tempfile.gettempdir()) / "gantext-sweep"
    (root / "logs").mkdir(parents=True, exist_ok=True)
    work = root / f"{exp.name}-{attempt}-{uuid.uuid4().hex[:8]}"
    log = root / "logs" / f"{exp.name}-{attempt}.log"
    log.write_text("", encoding="utf-8")
    env = command_env(spec, work, os.environ)
    remote = ["-r", spec.dvc_remote] if spec.dvc_remote else []
    print(f"[{exp.name}] attempt {attempt} on {socket.gethostname()} in {work}", flush=True)
    try:
        _step(exp, ["git", "clone", "--quiet", spec.git_url, str(work)], root, env, log)
        _step(exp, ["git", "checkout", "--quiet", "--detach", spec.baseline], work, env, log)
        for key, value in zip(("user.name", "user.email"), spec.git_user):
            _step(exp, ["git", "config", key, value], work, env, log)  # dvc exp run commits
        _step(exp, ["dvc", "pull", "--allow-missing", *remote], work, env, log)
        _step(exp, ["dvc", "exp", "run", "-n", exp.name, *exp.set_flags(), *exp.targets],
              work, env, log)
        _step(exp, ["dvc", "exp", "push", *remote, spec.git_url, exp.name], work, env, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"node": socket.gethostname(), "seconds": time.monotonic() - start, "note": ""}


# ----------------------------------------------------------------------------- the driver
def _error_text(exc: BaseException) -> str:
    """The task's own error (RayTaskError wraps it in `cause`), else Ray's (a dead worker)."""
    cause = getattr(exc, "cause", None)
    return str(cause if isinstance(cause, TaskFailed) else exc)


def _init_ray(options: SweepOptions) -> Any:
    try:
        import ray
    except ImportError:
        raise SweepError("--engine ray needs Ray: pip install 'gantext[cluster]' (bash "
                         "scripts/setup.sh installs it)") from None
    kwargs: dict[str, Any] = {"address": options.address, "logging_level": "warning"}
    if options.address == "local":  # a cluster of this process, gone when the sweep ends
        kwargs.update(num_cpus=options.local_cpus, include_dashboard=False)
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SweepError(f"cannot start or reach the Ray cluster at --address "
                         f"{options.address}: {exc}") from None
    fits = [n for n in ray.nodes() if n.get("Alive")
            and n["Resources"].get("CPU", 0) >= options.num_cpus
            and n["Resources"].get("GPU", 0) >= options.num_gpus]
    if not fits:
        ray.shutdown()
        raise SweepError(f"no node of the Ray cluster has {options.num_cpus} CPUs and "
                         f"{options.num_gpus} GPUs for one task; lower --cpus/--gpus")
    return ray


def run_ray(repo: Path, experiments: list[Experiment], options: SweepOptions) -> list[Outcome]:
    """Run `experiments` as Ray tasks and pull their results into `repo` (module docstring)."""
    if not options.git_remote:
        raise SweepError("--engine ray needs --git-remote (a git remote name or URL every node "
                         "can reach): the tasks clone from it and push their experiments to it")
    if options.retries < 0:
        raise SweepError(f"--retries must be >= 0, got {options.retries}")
    url = remote_url(repo, options.git_remote)
    baseline = git(repo, "rev-parse", "HEAD")
    check_baseline_on_remote(repo, url, baseline)
    default = dvc(repo, "remote", "default", check=False)  # "No default remote set", exit 1
    if not options.dvc_remote and (default.returncode != 0 or not default.stdout.strip()):
        raise SweepError("no default DVC remote: the tasks pull inputs from and push outputs to "
                         "it; `dvc remote add -d NAME URL` (S3/GCS/SSH: one every node reaches), "
                         "commit .dvc/config and push, or pass --dvc-remote NAME")
    dirty = git(repo, "status", "--porcelain", "--untracked-files=no")
    if dirty:
        print(f"[sweep] warning: uncommitted changes are not part of the sweep (the tasks run "
              f"commit {baseline[:10]} from the remote):\n{dirty}", file=sys.stderr, flush=True)
    user = (git(repo, "config", "user.name", check=False) or "gantext sweep",
            git(repo, "config", "user.email", check=False) or "sweep@gantext.local")
    remote = ["-r", options.dvc_remote] if options.dvc_remote else []

    on_remote = remote_experiments(url, baseline)
    outcomes = {e.name: Outcome(e.name, "skipped", 0, "on the git remote already")
                for e in experiments if e.name in on_remote}
    missing_here = [n for n in outcomes if n not in local_experiments(repo)]
    if missing_here:
        dvc(repo, "exp", "pull", *remote, url, *missing_here)
    todo = [e for e in experiments if e.name not in on_remote]
    for name in outcomes:
        print(f"[sweep] {name}: on the remote already, not run again", flush=True)
    if not todo:
        return [outcomes[e.name] for e in experiments]

    spec = TaskSpec(url, baseline, options.dvc_remote, _task_env(repo), user, options.workdir,
                    hide_gpus=options.num_gpus == 0)
    ray = _init_ray(options)
    try:
        task = ray.remote(run_task).options(num_cpus=options.num_cpus,
                                            num_gpus=options.num_gpus, max_retries=0)
        errors: dict[str, list[str]] = {e.name: [] for e in todo}
        pending = {task.remote(e, spec, 1): (e, 1) for e in todo}
        print(f"[sweep] {len(todo)} experiments submitted to Ray ({options.address})", flush=True)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            e, attempt = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except Exception as exc:  # the task raised, its worker died, its node was lost
                errors[e.name].append(_error_text(exc))
                head = errors[e.name][-1].strip().splitlines()[0][:400]
                if attempt <= options.retries:
                    print(f"[sweep] {e.name}: attempt {attempt} failed ({head}); retrying",
                          file=sys.stderr, flush=True)
                    pending[task.remote(e, spec, attempt + 1)] = (e, attempt + 1)
                else:
                    outcomes[e.name] = Outcome(e.name, "failed", attempt, head, errors[e.name])
                continue
            pulled = dvc(repo, "exp", "pull", "-f", *remote, url, e.name, check=False)
            if pulled.returncode != 0:
                outcomes[e.name] = Outcome(e.name, "failed", attempt, "pushed, but `dvc exp "
                                           "pull` failed", [pulled.stdout + pulled.stderr])
                continue
            outcomes[e.name] = Outcome(e.name, "done", attempt, f"{result['seconds']:.0f} s on "
                                       f"{result['node']} {result['note']}".rstrip(),
                                       errors[e.name])
            print(f"[sweep] {e.name}: done (attempt {attempt}), pulled", flush=True)
    finally:
        ray.shutdown()
    return [outcomes[e.name] for e in experiments]
