"""Provenance: what DVC and git know about the workspace, computed without importing either.

Used by :mod:`gantext.tracking` (the tags of an MLflow run) and :mod:`gantext.lineage` (the
lineage report); no MLflow here.

* git: HEAD's commit, whether the code (:data:`CODE_PATHS`) or ``params.yaml`` has uncommitted
  changes;
* dvc.yaml / dvc.lock: a stage's deps, outs and params (``${...}`` filled from params.yaml the way
  DVC templates them), the recorded entries of dvc.lock;
* md5s exactly as DVC records them (files: md5 of the bytes; directories: md5 of DVC's sorted JSON
  listing + ``.dir``, honouring .dvcignore), tested against ``dvc add`` in test_tracking.py;
* the repository a stage belongs to, also from a ``dvc exp run --temp/--queue`` copy, and the
  pipeline execution it is part of (:func:`pipeline_id`);
* the machine a stage computed on (:func:`machine_info`): what decides whether another machine
  reproduces its figures bit for bit, recorded in every stage's metrics JSON (``machine``), its
  MLflow run and the lineage report, and read by ``gantext verify``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from gantext.configfields import flatten, to_dict  # not gantext.config: it imports torch
from gantext.errors import DataError
from gantext.io import md5_file, read_json, write_json

#: The pipeline's stages in dvc.yaml's dependency order (upstream first).
STAGES = ("ingest", "tokenize", "pretrain", "adversarial", "evaluate")
#: Set this to group stage runs yourself (e.g. stages run by hand from a script).
ENV_PIPELINE_ID = "GANTEXT_PIPELINE_ID"
#: Code whose uncommitted changes make ``gantext.git_dirty`` true (outputs such as dvc.lock and
#: metrics/*.json change during every `dvc repro`, so they do not count).
CODE_PATHS = ("src", "stages", "dvc.yaml", "pyproject.toml")
#: The configuration: uncommitted edits make ``gantext.params_dirty`` true (a run from edited
#: params is not reproducible from its commit alone).
PARAMS_PATHS = ("params.yaml",)
if TYPE_CHECKING:
    from gantext.config import Params

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


def git_show(root: Path, rev: str, rel: str) -> str | None:
    """The text of `rel` (repo-relative) at `rev`, None when it is not there (or no git)."""
    try:
        done = subprocess.run(["git", "show", f"{rev}:{Path(rel).as_posix()}"], cwd=root,
                              capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.decode("utf-8", errors="replace") if done.returncode == 0 else None


def exp_refs(root: Path) -> dict[str, str]:
    """DVC experiments of the repository: name -> commit (from ``refs/exps/..../<name>``; the
    newest ref wins when two baselines have an experiment of the same name)."""
    out = _git(root, "for-each-ref", "--sort=committerdate", "--format=%(objectname) %(refname)",
               "refs/exps")
    refs: dict[str, str] = {}
    for line in (out or "").splitlines():
        sha, _, ref = line.partition(" ")
        parts = ref.split("/")
        # refs/exps/<2 hex>/<38 hex>/<name>; refs/exps/celery/... and exec/... are DVC's queue
        if len(parts) == 5 and len(parts[2]) == 2 and parts[2] not in ("celery", "exec"):
            refs[parts[4]] = sha
    return refs


def resolve_rev(root: Path, rev: str) -> str | None:
    """The commit that `rev` names: anything git resolves (HEAD, a branch, a tag, a sha), else
    a DVC experiment's name; None when neither knows it."""
    sha = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if sha:
        return sha
    return exp_refs(root).get(rev)


def git_dirty(root: Path) -> bool | None:
    """True when the code (CODE_PATHS) has uncommitted changes, None outside git."""
    existing = [p for p in CODE_PATHS if (root / p).exists()]
    out = _git(root, "status", "--porcelain", "--untracked-files=no", "--", *existing)
    return None if out is None else bool(out)



def params_dirty(root: Path) -> bool | None:
    """True when params.yaml has uncommitted changes (or is not committed), None outside git."""
    existing = [p for p in PARAMS_PATHS if (root / p).exists()]
    if not existing:
        return None
    out = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *existing)
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



# ----------------------------------------------------------------------------- dvc.lock
def read_lock(root: Path) -> dict[str, dict]:
    """`stages` of dvc.lock ({} when there is none)."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return {}
    return parse_lock(lock.read_text(encoding="utf-8"), str(lock))


def parse_lock(text: str, where: str) -> dict[str, dict]:
    """`stages` of a dvc.lock's text (`where` names it in the error)."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{where}: not valid YAML ({exc}); restore it with git") from None
    return dict(data.get("stages") or {}) if isinstance(data, dict) else {}


def lock_params(entry: dict) -> dict[str, Any]:
    """Flattened params of a dvc.lock stage entry (all params files merged)."""
    out: dict[str, Any] = {}
    for values in (entry.get("params") or {}).values():
        out.update(flatten(values or {}))
    return out


def stage_params(params: Params, names: list[str]) -> dict[str, Any]:
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


# ----------------------------------------------------------------------------- one stage run
def process_tags() -> dict[str, str]:
    """Who runs this stage: host, pid and the process start time (a reused pid differs there)."""
    import psutil

    return {"gantext.host": socket.gethostname(), "gantext.pid": str(os.getpid()),
            "gantext.pid_start": f"{psutil.Process().create_time():.3f}"}


def process_gone(tags: Mapping[str, str]) -> bool:
    """True when the run's process (its host/pid tags) is known to be dead on this host."""
    import psutil

    if tags.get("gantext.host") != socket.gethostname() or not tags.get("gantext.pid"):
        return False  # another machine (or an older run without the tags): cannot tell
    try:
        proc = psutil.Process(int(tags["gantext.pid"]))
        return f"{proc.create_time():.3f}" != tags.get("gantext.pid_start")
    except (psutil.NoSuchProcess, ValueError):
        return True
    except psutil.Error:
        return False


def run_name(stage: str, spec: Mapping[str, list[str]], params: Params,
             commit: str | None, dirty: bool) -> str:
    """``stage · loss · DVC experiment · short commit[-dirty]``: the loss only for stages that
    read the adversarial section or the adversarial generator (pretrain has no loss)."""
    adversarial = any(p.split(".")[0] == "adversarial" for p in spec.get("params", [])) or any(
        Path(d).parts[:2] == ("models", "adversarial") for d in spec.get("deps", []))
    parts = [stage]
    if adversarial:
        parts.append(params.adversarial.loss)
    if os.environ.get("DVC_EXP_NAME"):
        parts.append(os.environ["DVC_EXP_NAME"])
    if commit:
        parts.append(commit[:7] + ("-dirty" if dirty else ""))
    return " · ".join(parts)


def run_tags(stage: str, params: Params | None, root: Path, spec: Mapping[str, list[str]],
             machine: bool = True) -> tuple[dict[str, str], str, str]:
    """(tags, run name, pipeline id) of a new stage run (the MLflow tags tracking.py sets,
    without the dep md5s); `machine` False leaves out :func:`machine_info` (it imports torch)
    for bookkeeping that computes nothing (the ``track`` stage)."""
    pid, pid_source = pipeline_id()
    commit = git_commit(root)
    dirty, pdirty = git_dirty(root), params_dirty(root)
    tags = {"gantext.stage": stage, "gantext.pipeline_id": pid,
            "gantext.pipeline_id_source": pid_source,
            "mlflow.source.name": f"stages/{stage}.py", **process_tags()}
    if machine:
        tags.update({f"gantext.machine.{k}": v for k, v in machine_info().items()})
    if commit:
        tags.update({"gantext.git_commit": commit, "mlflow.source.git.commit": commit})
    if dirty is not None:
        tags["gantext.git_dirty"] = str(dirty).lower()
    if pdirty is not None:
        tags["gantext.params_dirty"] = str(pdirty).lower()
    if os.environ.get("DVC_EXP_NAME"):
        tags["gantext.dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
        tags["gantext.dvc_exp_baseline"] = os.environ.get("DVC_EXP_BASELINE_REV", "")
    return tags, run_name(stage, spec, params, commit, bool(dirty or pdirty)), pid


# ----------------------------------------------------------------------------- the machine
#: CPU features that change which kernels run, and so the last bits of float results: AVX2 and
#: AVX-512 (oneDNN's bf16 LSTM needs AVX-512), native bf16 dot products (avx512_bf16) and AMX
#: tiles (bf16 matmuls 3-4x an fp32 one). /proc/cpuinfo's names.
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
#: The metrics JSON key of the block :func:`record_machine` writes.
MACHINE_KEY = "machine"


def _cpuinfo() -> tuple[str | None, set[str]]:
    """(model name, flags) from /proc/cpuinfo; (None, empty) where there is none (macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, set()
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = " ".join(value.split())
        elif key == "flags" and not flags:
            flags = set(value.split())
        if model and flags:
            break
    return model, flags


def _torch_build() -> dict[str, str]:
    """BLAS and oneDNN of the torch build, from ``torch.__config__.show()``."""
    import torch

    shown = torch.__config__.show()
    out = {}
    blas = re.search(r"BLAS_INFO=(\w+)", shown)
    mkl = re.search(r"Math Kernel Library Version ([\d.]+)", shown)
    if blas:
        out["blas"] = blas.group(1) + (f" {mkl.group(1)}" if mkl and blas.group(1) == "mkl" else "")
    onednn = re.search(r"MKL-DNN v([\d.]+)", shown)
    if onednn:
        out["onednn"] = onednn.group(1)
    return out


@functools.lru_cache(maxsize=1)
def machine_info() -> dict[str, str]:
    """What this process computes on, as short strings: ``cpu`` (model), ``isa`` (those of
    :data:`ISA_FLAGS` the CPU has), ``torch`` (version) and ``torch_cpu`` (the kernel set torch
    dispatches to), ``blas``, ``onednn``, ``numpy``, ``python``, and ``gpu`` when CUDA is there.
    Same block on two machines: the same kernels, so CPU figures should match bit for bit."""
    import numpy
    import torch

    model, flags = _cpuinfo()
    info = {"cpu": model or platform.processor() or platform.machine() or "unknown",
            "isa": " ".join(f for f in ISA_FLAGS if f in flags) if flags else "unknown",
            "torch": torch.__version__, "torch_cpu": torch.backends.cpu.get_cpu_capability(),
            **_torch_build(), "numpy": numpy.__version__, "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def record_machine(path: str | Path) -> None:
    """Add this machine's block (:func:`machine_info`) to the metrics JSON at `path`, keeping
    the file's key order (the block goes last); written atomically. One call per stage, after
    it wrote its metrics and before the tracker hashes its outs."""
    data = read_json(path)
    data[MACHINE_KEY] = machine_info()
    write_json(path, data, sort_keys=False)


def describe_machine(info: Mapping[str, Any] | None) -> str:
    """One line for people: ``AMD EPYC 9R14, avx2 avx512f avx512_bf16 (no AMX), torch 2.13.0+cpu
    (AVX512), mkl 2024.2, oneDNN 3.12.0``; ``unknown (not recorded)`` without a block."""
    if not info:
        return "unknown (not recorded)"
    isa = str(info.get("isa", "unknown"))
    if isa != "unknown" and "amx" not in isa:
        isa += " (no AMX)"
    parts = [str(info.get("cpu", "unknown CPU")), isa or "no AVX2",
             f"torch {info.get('torch', '?')}" + (f" ({info['torch_cpu']})"
                                                  if info.get("torch_cpu") else "")]
    parts += [str(info["blas"])] if info.get("blas") else []
    parts += [f"oneDNN {info['onednn']}"] if info.get("onednn") else []
    parts += [f"GPU {info['gpu']}"] if info.get("gpu") else []
    return ", ".join(parts)
