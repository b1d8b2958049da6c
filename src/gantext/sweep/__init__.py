"""Sweeps: a grid of DVC experiments, run by the local `dvc queue` or by a Ray cluster.

    gantext sweep -n grid -S adversarial.loss=bce,wgan-gp -S seed=0,1          # dvc queue (default)
    gantext sweep --engine ray --address auto --git-remote origin -n grid -S ...  # a Ray cluster

Either way every point of the grid becomes one DVC experiment of the current commit (the
*baseline*), named ``<prefix>-<key><value>-...`` from the keys that vary, so the results land where
a single-machine run puts them: ``dvc exp show``, the DVC remote, the MLflow store. The engines sit
behind :data:`ENGINES` (name -> function); each one skips experiments that already exist (a rerun
resumes an interrupted sweep) and returns one :class:`Outcome` per experiment.

- ``queue`` (:mod:`gantext.sweep.local`): ``dvc exp run --queue`` + ``dvc queue start --jobs N``.
- ``ray`` (:mod:`gantext.sweep.cluster`): one Ray task per experiment in its own clone of the git
  remote; the driver then ``dvc exp pull``\\ s each result. Needs ``pip install 'gantext[cluster]'``.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from gantext.errors import GantextError

#: characters a DVC experiment name (a git ref component) may hold; others become '_'
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")


class SweepError(GantextError):
    """The sweep cannot start (bad grid, no git remote, ...) or some experiments failed."""


@dataclass(frozen=True)
class Experiment:
    """One DVC experiment: its name, its ``-S key=value`` overrides and optional stage targets."""

    name: str
    overrides: tuple[tuple[str, str], ...] = ()
    targets: tuple[str, ...] = ()

    def set_flags(self) -> list[str]:
        """The overrides as ``dvc exp run`` arguments: ``-S key=value`` pairs."""
        return [a for key, value in self.overrides for a in ("-S", f"{key}={value}")]


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep (engine-specific fields are ignored by the other engine)."""

    engine: str = "queue"
    jobs: int = 2                    # queue: workers on this machine
    wait: bool = True                # queue: wait for the experiments and report them
    address: str = "auto"            # ray: `auto`, HOST:PORT, or `local` (a cluster of this process)
    local_cpus: int | None = None    # ray, address `local`: CPUs of that cluster
    git_remote: str | None = None    # ray: git remote name or URL the tasks clone and push to
    dvc_remote: str | None = None    # ray: DVC remote name (default: the repo's default remote)
    num_cpus: float = 1.0            # ray: CPUs per task
    num_gpus: float = 0.0            # ray: GPUs per task (`device: auto` then picks cuda)
    retries: int = 2                 # ray: a failed task runs again at most this many times
    workdir: str | None = None       # ray: where tasks clone, on each node (default: the tmp dir)


@dataclass
class Outcome:
    """What became of one experiment: ``done``, ``skipped`` (existed already) or ``failed``."""

    name: str
    status: str
    attempts: int = 0
    detail: str = ""
    errors: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- the grid
def split_values(text: str) -> list[str]:
    """``'bce,wgan-gp'`` -> ['bce', 'wgan-gp']; commas inside [...] or {...} do not split."""
    values, depth, cur = [], 0, []
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            values.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    values.append("".join(cur))
    return values


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``['seed=0,1', 'adversarial.loss=bce']`` -> {'seed': ['0', '1'], 'adversarial.loss': ['bce']}."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepError(f"-S {item!r}: expected KEY=VALUE[,VALUE...] "
                             "(e.g. -S adversarial.loss=bce,wgan-gp)")
        if key in grid:
            raise SweepError(f"-S {key}: given twice; list all its values in one -S (a,b,c)")
        vals = split_values(values)
        if any(not v.strip() for v in vals):
            raise SweepError(f"-S {item!r}: empty value (a stray comma?)")
        grid[key] = vals
    return grid


def _name_part(key: str, value: str) -> str:
    return (key.rsplit(".", 1)[-1] + value).replace("_", "")


def expand(grid: Mapping[str, Sequence[str]], prefix: str,
           targets: Sequence[str] = ()) -> list[Experiment]:
    """Every point of `grid` (cartesian product, insertion order) as an :class:`Experiment`.

    Names are ``<prefix>-<last key part><value>-...`` over the keys with more than one value
    (``grid-lossbce-seed0``), characters git refuses replaced by ``_``; two points that would get
    the same name are an error (the name is how a rerun recognises a finished experiment).
    """
    if not prefix or _NAME_BAD.search(prefix):
        raise SweepError(f"-n {prefix!r}: the name prefix must be letters, digits, '.', '_' or '-'")
    keys = list(grid)
    varied = [k for k in keys if len(grid[k]) > 1]
    out: list[Experiment] = []
    seen: dict[str, dict[str, str]] = {}
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo))
        name = "-".join([prefix] + [_NAME_BAD.sub("_", _name_part(k, point[k])) for k in varied])
        if name in seen:
            raise SweepError(f"grid points {seen[name]} and {point} both get the name {name!r}; "
                             "use distinct values or key names")
        seen[name] = point
        out.append(Experiment(name, tuple(point.items()), tuple(targets)))
    return out


# ----------------------------------------------------------------------------- git / dvc helpers
def git(repo: Path | str, *args: str, check: bool = True) -> str:
    """``git args`` in `repo`; its stdout (stripped). A failure raises SweepError with stderr."""
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SweepError(f"`git {' '.join(args)}` failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def dvc(repo: Path | str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``dvc args`` in `repo` (output captured); a failure raises SweepError with the output."""
    proc = subprocess.run(["dvc", *args], cwd=repo, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SweepError(f"`dvc {' '.join(args)}` failed in {repo} ({proc.returncode}):\n"
                         f"{(proc.stdout + proc.stderr).strip()[-3000:]}")
    return proc


def local_experiments(repo: Path) -> set[str]:
    """Names of the finished experiments of `repo`'s HEAD (``dvc exp list --name-only``)."""
    return set(dvc(repo, "exp", "list", "--name-only").stdout.split())


# ----------------------------------------------------------------------------- running
#: engine name -> "module:function" with the signature run(repo, experiments, options) ->
#: outcomes; imported when used (Ray is an optional extra). Adding an engine = a module + a line.
ENGINES: dict[str, str] = {"queue": "gantext.sweep.local:run_queue",
                           "ray": "gantext.sweep.cluster:run_ray"}


def run_sweep(repo: Path | str, experiments: Sequence[Experiment],
              options: SweepOptions) -> list[Outcome]:
    """Run `experiments` of `repo`'s HEAD with `options.engine`; one Outcome per experiment."""
    if options.engine not in ENGINES:
        raise SweepError(f"--engine {options.engine!r}: choose one of {', '.join(ENGINES)}")
    names = [e.name for e in experiments]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SweepError(f"experiment names used twice: {dup}")
    module, func = ENGINES[options.engine].split(":")
    engine: Callable[[Path, list[Experiment], SweepOptions], list[Outcome]] = getattr(
        importlib.import_module(module), func)
    return engine(Path(repo).resolve(), list(experiments), options)


def report(outcomes: Sequence[Outcome]) -> str:
    """One line per experiment and, when some failed, their names and last errors."""
    lines = [f"{o.name:<32} {o.status:<8} attempts {o.attempts}  {o.detail}".rstrip()
             for o in outcomes]
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        lines.append(f"FAILED: {', '.join(o.name for o in failed)}")
        for o in failed:
            lines.append(f"--- {o.name}: last error ---\n{(o.errors or [''])[-1]}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- command line
def add_engine_arguments(p: argparse.ArgumentParser, queue_flags: bool = True) -> None:
    """--engine and the engines' flags (``queue_flags=False``: the caller has its own --jobs)."""
    p.add_argument("--engine", choices=list(ENGINES), default="queue",
                   help="queue: DVC's queue on this machine (default); ray: a Ray cluster")
    if queue_flags:
        p.add_argument("--jobs", type=int, default=2, help="queue: workers (default: 2)")
        p.add_argument("--no-wait", action="store_true", help="queue: queue, start and return")
    p.add_argument("--address", default="auto", help="ray: the cluster (`auto` = the one `ray "
                   "start` runs here, HOST:PORT, or `local` = a new one in this process)")
    p.add_argument("--local-cpus", type=int, default=None,
                   help="ray, --address local: CPUs of that cluster (default: all)")
    p.add_argument("--git-remote", default=None, help="ray: git remote name or URL the tasks "
                   "clone and push experiments to (HEAD must be pushed there)")
    p.add_argument("--dvc-remote", default=None,
                   help="ray: DVC remote name (default: the repository's default remote)")
    p.add_argument("--cpus", type=float, default=1.0, help="ray: CPUs per task (default: 1)")
    p.add_argument("--gpus", type=float, default=0.0,
                   help="ray: GPUs per task (default: 0; with 1 the stages' device: auto uses it)")
    p.add_argument("--retries", type=int, default=2,
                   help="ray: runs again of a failed task (default: 2)")
    p.add_argument("--workdir", default=None,
                   help="ray: where tasks clone on each node (default: the system tmp dir)")


def options_from_args(args: argparse.Namespace) -> SweepOptions:
    """SweepOptions from the flags of :func:`add_engine_arguments` (+ the caller's --jobs)."""
    return SweepOptions(
        engine=args.engine, jobs=getattr(args, "jobs", 2), wait=not getattr(args, "no_wait", False),
        address=args.address, local_cpus=args.local_cpus, git_remote=args.git_remote,
        dvc_remote=args.dvc_remote, num_cpus=args.cpus, num_gpus=args.gpus, retries=args.retries,
        workdir=args.workdir)


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of `gantext sweep` (see the module docstring)."""
    p.add_argument("-n", "--name", default="sweep",
                   help="experiment name prefix (default: %(default)s)")
    p.add_argument("-S", "--set-param", dest="grid", action="append", default=[],
                   metavar="KEY=V1[,V2...]", help="a params.yaml key and its values; the sweep "
                   "is the product of all -S (like `dvc exp run -S`)")
    p.add_argument("--target", action="append", default=[], help="stage(s) to reproduce "
                   "(default: the whole pipeline)")
    p.add_argument("--root", default=".", help="repository (default: current directory)")
    add_engine_arguments(p)


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """1 when some experiment failed, else 0."""
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def run_sweep_command(args: argparse.Namespace) -> int:
    """`gantext sweep`: expand the grid, run it, print the report; 1 if any experiment failed."""
    experiments = expand(parse_grid(args.grid), args.name, args.target)
    outcomes = run_sweep(args.root, experiments, options_from_args(args))
    sys.stdout.write(report(outcomes))
    return exit_code(outcomes)
