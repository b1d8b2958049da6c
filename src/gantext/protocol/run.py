"""Running a protocol: one DVC experiment per (objective, seed), through ``gantext sweep``.

Each experiment is ``<recipe name>-s<seed>-<loss>`` with the recipe's overrides
(:func:`gantext.protocol.recipe.overrides`), run by a :mod:`gantext.sweep` engine (the local DVC
queue or a Ray cluster), so it lands where every experiment lands: ``dvc exp show``, the DVC
cache/remote, MLflow. Every experiment trains MLE (restored from DVC's run-cache when another
objective of the same seed trained it first), its objective and, beside it, the control
(``adversarial.control``); evaluate scores all three. So "MLE + objectives + the control x
seeds" is objectives x seeds experiments.

Resumable: experiments of this commit (the baseline, HEAD) that exist are not run again.
An existing experiment whose params differ from the ones asked for (the recipe's picks changed
since, or the workspace leaked a change into it) is renamed ``<name>-superseded-<k>`` and run
again, so a report never mixes two settings (with the Ray engine also on its git remote, where
the engine would otherwise skip it as done). Both checks compare *parsed* params: a comment or
a reformatting of params.yaml changes nothing, ``1e-4`` equals ``0.0001``.

The queue engine snapshots the workspace, so every queued experiment would inherit a changed
params.yaml (a ``dvc exp run -S ...`` in the workspace leaves its values there): :func:`run`
refuses to queue while the workspace's params differ from the commit's (parsed values again).
"""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from gantext.config import flatten, params_from_dict
from gantext.errors import ConfigError, GantextError
from gantext.protocol.recipe import Recipe, apply_overrides, fmt_value, overrides
from gantext.sweep import Experiment, Outcome, SweepOptions, dvc, git, run_sweep

__all__ = ["Planned", "experiment_name", "plan", "params_diff", "workspace_params_diff",
           "head_params", "baseline_experiments", "remote_experiments", "superseded_name",
           "supersede", "run", "ProtocolError"]


class ProtocolError(GantextError):
    """The protocol cannot run or report (changed workspace, missing experiments, ...)."""


@dataclass(frozen=True)
class Planned:
    """One experiment of the protocol: its name, seed, objective, params overrides and stage
    targets (none: the whole pipeline)."""

    name: str
    seed: int
    loss: str
    overrides: dict[str, Any]
    targets: tuple[str, ...] = ()

    def experiment(self) -> Experiment:
        """The :class:`gantext.sweep.Experiment` that runs it."""
        return Experiment(self.name, tuple((k, fmt_value(v)) for k, v in self.overrides.items()),
                          self.targets)


def experiment_name(prefix: str, seed: int, loss: str) -> str:
    """``<prefix>-s<seed>-<loss>`` (``coco-s0-rsgan``)."""
    return f"{prefix}-s{seed}-{loss}"


def plan(recipe: Recipe, seeds: Sequence[int], losses: Sequence[str],
         extra: Mapping[str, Any] | None = None) -> list[Planned]:
    """The protocol's experiments, objective by objective, seeds within: two queue workers then
    train two seeds' MLE at once, and the other objectives of a seed restore it from DVC's
    run-cache instead of training it again."""
    from gantext.objectives import OBJECTIVES

    unknown = [loss for loss in losses if loss not in OBJECTIVES]
    if unknown:
        raise ConfigError(f"--losses {' '.join(unknown)}: not a registered objective; choose "
                          f"from {', '.join(OBJECTIVES)}")
    if len(set(seeds)) != len(seeds) or len(set(losses)) != len(losses):
        raise ConfigError("--seeds / --losses: each value once")
    return [Planned(experiment_name(recipe.name, s, loss), s, loss,
                    overrides(recipe, s, loss, extra)) for loss in losses for s in seeds]


# ----------------------------------------------------------------------------- params, parsed
def _norm(v: Any) -> Any:
    """A params value in a form where equal values compare equal (tuples as lists, 1 == 1.0;
    booleans stay booleans)."""
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, bool):  # True == 1 in Python; not in params
        return ("bool", v)
    if isinstance(v, (int, float)):
        return float(v)
    return v


def params_diff(had: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    """Every leaf key whose parsed value differs, as ``key: had -> want`` (empty: the same)."""
    a, b = flatten(dict(had)), flatten(dict(want))
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, "<absent>"), b.get(key, "<absent>")
        if _norm(x) != _norm(y):
            out.append(f"{key}: {fmt_value(x)} -> {fmt_value(y)}")
    return out


def _parse(text: str | None, where: str) -> dict[str, Any]:
    """Params text parsed as the stages parse it (DVC's ``1e-05`` is a float)."""
    from gantext.params_file import parse_params_text

    try:
        data = parse_params_text(text or "") or {}
    except (yaml.YAMLError, ConfigError) as exc:
        raise ProtocolError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: params must be a YAML mapping")
    return data


def head_params(root: Path) -> dict[str, Any]:
    """params.yaml of the commit (HEAD), parsed: what every experiment starts from."""
    return _parse(git(root, "show", "HEAD:params.yaml"), "HEAD:params.yaml")


def workspace_params_diff(root: Path) -> list[str]:
    """How the workspace's params.yaml differs from the commit's, by parsed value (empty when
    only comments, formatting or key order differ)."""
    path = root / "params.yaml"
    return params_diff(head_params(root), _parse(path.read_text(encoding="utf-8"), str(path)))


def validate(planned: Sequence[Planned], base: Mapping[str, Any]) -> None:
    """Every experiment's params (the commit's + its overrides) pass the typed config, so a bad
    recipe key fails here, naming the experiment, not inside a queue worker."""
    for p in planned:
        try:
            params_from_dict(apply_overrides(base, p.overrides))
        except ConfigError as exc:
            raise ConfigError(f"experiment {p.name}: {exc}") from None


# ----------------------------------------------------------------------------- experiments
def _exp_prefix(root: Path) -> str:
    """Where DVC keeps the experiments of HEAD: ``refs/exps/<sha[:2]>/<sha[2:]>/``."""
    head = git(root, "rev-parse", "HEAD")
    return f"refs/exps/{head[:2]}/{head[2:]}/"


def baseline_experiments(root: Path) -> dict[str, str]:
    """Experiment name -> its commit, for the experiments of HEAD (``refs/exps/<baseline>/``)."""
    prefix = _exp_prefix(root)
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    return {ref[len(prefix):]: sha for ref, sha in (line.split() for line in out.splitlines())}


def experiment_params(root: Path, sha: str) -> dict[str, Any]:
    """The params.yaml an experiment ran with, parsed."""
    return _parse(git(root, "show", f"{sha}:params.yaml"), f"{sha}:params.yaml")


def superseded_name(name: str, taken: Mapping[str, Any]) -> str:
    """``<name>-superseded-<k>``, the first k not taken."""
    return next(f"{name}-superseded-{k}" for k in itertools.count(1)
                if f"{name}-superseded-{k}" not in taken)


def remote_experiments(root: Path, url: str) -> dict[str, str]:
    """Experiment name -> commit for HEAD's experiments on git remote `url`; their objects are
    fetched (under a temporary ref namespace, removed again) so their params can be read."""
    prefix, tmp = _exp_prefix(root), "refs/gantext-protocol/remote-exps/"
    git(root, "fetch", "-q", url, f"+{prefix}*:{tmp}*")
    try:
        out = git(root, "for-each-ref", "--format=%(refname) %(objectname)", tmp)
        return {ref[len(tmp):]: sha for ref, sha in (line.split() for line in out.splitlines())}
    finally:
        for line in git(root, "for-each-ref", "--format=%(refname)", tmp).splitlines():
            git(root, "update-ref", "-d", line)


def supersede(root: Path, planned: Sequence[Planned], base: Mapping[str, Any],
              log: Any = print, remote: str | None = None) -> list[tuple[str, str, list[str]]]:
    """Rename every existing experiment of `planned` whose params differ (parsed) from what is
    asked for now, here (``dvc exp rename``) and, with `remote` (the Ray engine's git remote,
    whose experiments it skips as done), on that remote too (``git push``); returns (old name,
    new name, differences) for each."""
    local = baseline_experiments(root)
    url = None
    on_remote: dict[str, str] = {}
    if remote:
        from gantext.sweep.cluster import remote_url

        url = remote_url(root, remote)
        on_remote = remote_experiments(root, url)
    prefix = _exp_prefix(root)
    renamed = []
    for p in planned:
        sha = local.get(p.name) or on_remote.get(p.name)
        if sha is None:
            continue
        diff = params_diff(experiment_params(root, sha), apply_overrides(base, p.overrides))
        if not diff:
            continue
        new = superseded_name(p.name, {**local, **on_remote})
        if p.name in local:
            dvc(root, "exp", "rename", p.name, new)
            local[new] = local.pop(p.name)
        if p.name in on_remote:
            old_sha = on_remote.pop(p.name)
            git(root, "push", "-q", url, f"{old_sha}:{prefix}{new}", f":{prefix}{p.name}")
            on_remote[new] = old_sha
        log(f"[protocol] {p.name}: exists with other params ({'; '.join(diff[:3])}"
            f"{' ...' if len(diff) > 3 else ''}): renamed {new}, run again")
        renamed.append((p.name, new, diff))
    return renamed


def run(root: Path, planned: Sequence[Planned], options: SweepOptions,
        log: Any = print) -> list[Outcome]:
    """Run the protocol's experiments with `options.engine` (resuming; superseding stale ones)
    and return the engine's outcomes."""
    root = Path(root).resolve()
    if options.engine == "queue":
        changed = workspace_params_diff(root)
        if changed:
            raise ProtocolError(
                f"params.yaml differs from the commit ({'; '.join(changed[:3])}"
                f"{' ...' if len(changed) > 3 else ''}): every queued experiment would inherit "
                "it (DVC's queue snapshots the workspace; an earlier `dvc exp run -S ...` leaves "
                "its values there). Run `git checkout params.yaml` (or commit it), then again")
    base = head_params(root)
    validate(planned, base)
    supersede(root, planned, base, log, options.git_remote if options.engine == "ray" else None)
    return run_sweep(root, [p.experiment() for p in planned], options)


def git_toplevel(path: Path) -> Path:
    """The repository holding `path` (a clear error outside one)."""
    done = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise ProtocolError(f"{path}: not inside a git repository (run gantext protocol in the "
                            "project's repository, or pass --root)")
    return Path(done.stdout.strip())
