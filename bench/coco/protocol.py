"""The COCO benchmark, end to end, through DVC experiments: recipe, sweep, runs, report.

    python bench/coco/protocol.py flags [--seed S] [--loss L]   # the `-S` overrides (quoted)
    python bench/coco/protocol.py exp --seed 0 --loss bce -n NAME  # one `dvc exp run` with them
    python bench/coco/protocol.py sweep  [--jobs 2]   # choose hyperparameters on the valid split
    python bench/coco/protocol.py sweep --losses reverse-kl --keep-mle  # one new loss, same MLE
    python bench/coco/protocol.py run    [--jobs 2]   # MLE + each loss x seeds 0 1 2 on test
    python bench/coco/protocol.py run --engine ray --address auto --git-remote origin  # on Ray
    python bench/coco/protocol.py report              # results.json/.md + quality_diversity.png

Before `report`, two readings of the finished runs that it includes when their files exist:
``fid_at_equal_diversity.py`` (FID at MLE's self-BLEU-5) and ``length_matched.py [--draw]``
(every curve at equal length; ``--draw`` draws a loss's generators at the training lengths).

Everything goes through `dvc exp run --queue` + `dvc queue start --jobs N` in the repository
(DVC's temporary copies; params.yaml is never edited), so every experiment shows in
`dvc exp show` and every stage run in MLflow. Names: ``coco-mle-<grid>`` (MLE sweep),
``coco-sweep-<loss>-<grid>`` (adversarial sweep), ``coco-s<seed>-<loss>`` (the results). An
experiment that already exists is not queued again, so an interrupted `run` resumes.

Recipe (recipe.yaml): ``data`` = the corpus and the full protocol, fixed; ``sweep`` = the grids.
The chosen hyperparameters land in chosen.yaml (written by `sweep`, read by `run`/`flags`).

Selection, on the validation split only (never test):

1. MLE: every ``sweep.pretrain`` grid point trains the generator (seed 0, early stopping on
   valid NLL); the lowest ``pretrain.valid_nll`` wins.
2. Adversarial: on the chosen MLE, every loss x ``sweep.adversarial.<loss>`` grid point runs
   adversarial + evaluate with ``evaluate.split=valid`` (seed 0). Score = the *quality-diversity
   gain*: over the GAN's temperature-sweep points that fall inside the MLE curve's self-BLEU-5
   range, the mean of (GAN BLEU-5 - MLE BLEU-5 interpolated at the same self-BLEU-5). Positive =
   the GAN's curve lies above MLE's (better quality at equal diversity). The target also asks
   for FID not above MLE's, so each grid point's FID is read like with like on the validation
   captions (fid_at_equal_diversity.py: the GAN at the temperature where it reaches MLE's
   self-BLEU-5 at T = 1, MLE at T = 1). Per loss the highest score among the grid points whose
   FID there is not above MLE's wins; if none keeps FID, the highest score (said so in the
   output and in chosen.yaml's `fid_ok`). Ties go to the first grid point. Why: on the split
   the score alone chose coldgan's coldest point (+0.0142 on valid), whose FID at equal
   diversity was already above MLE's on valid (0.0049 vs 0.0041) and was 1.4x MLE's on test.

An experiment that exists with other params than the ones asked for (chosen.yaml changed since)
is renamed ``<name>-superseded-<k>`` and run again, so results never mix two selections.

Stage wall times come from MLflow: the run that produced the exact output an experiment used
(``dvc.out.<path>`` tag = the evaluate run's ``dvc.dep.<path>`` tag), so a stage restored from
DVC's run-cache still reports the time it took when it ran.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_COCO = ROOT / "data" / "benchmarks" / "coco"  # shipped in the repository
RECIPE = HERE / "recipe.yaml"
CHOSEN = HERE / "chosen.yaml"
#: the losses a default `sweep`/`run`/`report` covers: every registered objective
#: (gantext.objectives.OBJECTIVES); --loss / --losses name a subset
LOSSES = ("bce", "wgan-gp", "seqgan", "rsgan", "coldgan", "reverse-kl", "mle-continued")
SEEDS = (0, 1, 2)
# which output each stage's wall time is looked up by (see the module docstring)
STAGE_OUT = {"ingest": "data/interim", "tokenize": "data/processed",
             "pretrain": "models/pretrain", "adversarial": "models/adversarial"}
WAIT_S = 6 * 3600


# ----------------------------------------------------------------------------- recipe
def _fmt(value: Any) -> str:
    """A value as `dvc exp run -S key=value` wants it (YAML flow style)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    return str(value)


def _coco_ref(coco: Path) -> str:
    """The corpus folder as params hold it: relative to the repository when inside it (the
    shipped copy: params, and so DVC's run-cache, stay the same on every clone), else absolute."""
    coco = coco.resolve()
    return coco.relative_to(ROOT).as_posix() if coco.is_relative_to(ROOT) else str(coco)


def _subst(value: Any, coco: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{coco}", _coco_ref(coco))
    if isinstance(value, list):
        return [_subst(v, coco) for v in value]
    return value


def load_recipe(path: Path = RECIPE) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_chosen(path: Path = CHOSEN) -> dict[str, Any]:
    """{'common': {...}, 'bce': {...}, ...}: empty before `sweep` has run."""
    return load_sweep(path).get("chosen") or {}


def load_sweep(path: Path = CHOSEN) -> dict[str, Any]:
    """The whole chosen.yaml ({'chosen', 'mle_sweep', 'adversarial_sweep'}); empty if absent."""
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def merge_previous(previous: dict[str, Any], chosen: dict[str, Any], rows: list, table: list,
                   losses: Sequence[str]) -> tuple[list, list]:
    """`sweep --losses A B` re-chooses A and B only: the other losses' picks and sweep rows are
    kept from the previous chosen.yaml when it chose the same MLE (`common`); with another MLE
    they were tuned on a different generator and are dropped (they must be swept again).
    Updates `chosen` in place; returns (mle rows, adversarial rows)."""
    old = previous.get("chosen") or {}
    if old.get("common") != chosen.get("common"):
        return rows, table
    for loss, pick in old.items():
        if loss != "common" and loss not in losses:
            chosen.setdefault(loss, pick)
    kept = [r for r in previous.get("adversarial_sweep") or [] if r.get("loss") not in losses]
    return rows, kept + table


def overrides(coco: Path, recipe: dict, chosen: dict[str, Any], seed: int | None = None,
              loss: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dotted params overrides of one experiment: data + chosen common + the loss's budget
    + the loss's chosen + seed/loss + `extra`, later ones winning."""
    coco = coco.resolve()
    if not (coco / "train.txt").is_file() or not (coco / "test.txt").is_file():
        sys.exit(f"{coco}: no train.txt/test.txt here; pass --coco DIR (the folder of the COCO "
                 "benchmark corpus; the repository ships it in data/benchmarks/coco)")
    out = {k: _subst(v, coco) for k, v in recipe["data"].items()}
    out.update(chosen.get("common", {}))
    if loss is not None:
        out.update((recipe.get("budget") or {}).get(loss, {}))
        out.update(chosen.get(loss, {}))
        out["adversarial.loss"] = loss
    if seed is not None:
        out["seed"] = seed
    out.update(extra or {})
    return out


def flag_list(ovr: dict[str, Any]) -> list[str]:
    return [a for k, v in ovr.items() for a in ("-S", f"{k}={_fmt(v)}")]


def grid(spec: dict[str, list]) -> list[dict[str, Any]]:
    """Cartesian product of {key: [values]} as a list of {key: value} (insertion order)."""
    keys = list(spec)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(spec[k] for k in keys))]


def grid_name(point: dict[str, Any]) -> str:
    """A short experiment-name suffix: last key part + value ('hidden_dim256-dropout0.3')."""
    return "-".join(f"{k.rsplit('.', 1)[-1]}{_fmt(v)}" for k, v in point.items()).replace("_", "")


# ----------------------------------------------------------------------------- dvc
def _dvc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(["dvc", *args], cwd=ROOT, capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.exit(f"`dvc {' '.join(args)}` failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def experiments() -> dict[str, dict]:
    """exp name -> {'params': ..., 'metrics': {file: data}, 'error': ...} from dvc exp show."""
    out: dict[str, dict] = {}
    for baseline in _exp_show_json():
        for group in baseline.get("experiments") or []:
            for rev in group.get("revs") or []:
                if not rev.get("name"):
                    continue
                data = rev.get("data") or {}
                out[rev["name"]] = {
                    "params": (data.get("params") or {}).get("params.yaml", {}).get("data", {}),
                    "metrics": {f: (m or {}).get("data", {})
                                for f, m in (data.get("metrics") or {}).items()},
                    "error": rev.get("error")}
    return out


def _lookup(params: dict[str, Any], key: str) -> tuple[bool, Any]:
    """(whether dotted `key` is in `params`, its value or None)."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def params_differ(params: dict[str, Any], ovr: dict[str, Any],
                  defaults: dict[str, Any] | None = None) -> str:
    """The first override whose value the experiment's params.yaml does not hold, as
    'key: had -> wanted' ('' when every override matches). A key the experiment's params lack
    (it ran before the knob existed) matches when `defaults` (today's params.yaml) gives it the
    wanted value: a new knob's default is the old behaviour (rsgan's mle_weight 0)."""
    for key, want in ovr.items():
        found, node = _lookup(params, key)
        if not found and defaults is not None:
            known, default = _lookup(defaults, key)
            if known and _fmt(default) == _fmt(want):
                continue
        if _fmt(node) != _fmt(want):
            return f"{key}: {_fmt(node)} -> {_fmt(want)}"
    return ""


def params_changed(root: Path = ROOT) -> str:
    """What `git diff` says of the workspace's params.yaml against HEAD ('' when unchanged): the
    queue snapshots the workspace, so every protocol experiment would carry such a change."""
    p = subprocess.run(["git", "diff", "--stat", "HEAD", "--", "params.yaml"], cwd=root,
                       capture_output=True, text=True)
    return p.stdout.strip().splitlines()[-1].strip() if p.stdout.strip() else ""


def refuse_changed_params(who: str) -> None:
    """Exit with what to do when the workspace's params.yaml differs from HEAD: `who` would
    inherit it, since every `dvc exp run` here applies its params to the workspace (seen: rsgan
    run after seqgan trained seqgan's 200 steps, not 300; a queue ran on evaluate.split: valid)."""
    if dirty := params_changed():
        sys.exit(f"params.yaml differs from the commit ({dirty}): {who} would inherit it (a "
                 "`dvc exp run` in this workspace applies its params here, e.g. "
                 "adversarial.steps or evaluate.split). Run `git checkout params.yaml` (or "
                 "commit it), then this command again")


def superseded_name(name: str, existing: dict[str, Any]) -> str:
    """``<name>-superseded-<k>``, the first k not taken."""
    return next(f"{name}-superseded-{k}" for k in itertools.count(1)
                if f"{name}-superseded-{k}" not in existing)


def fid_at_equal_diversity(name: str, n: int) -> dict[str, Any]:
    """FID at equal diversity of sweep experiment `name` on the validation captions (see
    fid_at_equal_diversity.py); one thread, as the evaluate stage."""
    import torch

    from fid_at_equal_diversity import measure

    torch.set_num_threads(1)
    return measure(name, n, "valid")


def _exp_show_json(tries: int = 5) -> list:
    """`dvc exp show --json --all-commits`, parsed. Under load (queue workers writing their
    temporary copies) it has answered empty or cut-off output (it always lists at least the
    workspace when it works): retried, then a clear failure."""
    for attempt in range(tries):
        p = _dvc("exp", "show", "--json", "--all-commits")
        try:
            return json.loads(p.stdout)
        except json.JSONDecodeError:
            if attempt == tries - 1:
                sys.exit(f"`dvc exp show --json` gave no valid JSON {tries} times in a row "
                         f"(busy queue workers?); run the command again. Output began: "
                         f"{p.stdout[:200]!r}")
            time.sleep(10 * (attempt + 1))
    return []


def _workers_active(status: str) -> int:
    """`Worker status: N active, M idle` of `dvc queue status` -> N (0 if absent)."""
    for line in status.splitlines():
        if line.startswith("Worker status:"):
            return int(line.split(":", 1)[1].split("active")[0].strip() or 0)
    return 0


def _worker_processes() -> int:
    """Running `dvc exp queue-worker` processes: `dvc queue status` reports busy workers as
    inactive (its ping times out while they train), so count processes too (0 without pgrep)."""
    try:
        p = subprocess.run(["pgrep", "-f", "dvc exp queue-worker"], capture_output=True, text=True)
    except OSError:
        return 0
    return sum(_runs_here(pid) for pid in p.stdout.split())


def _orphaned(active: Sequence[str]) -> bool:
    """Tasks wait in the queue (none running) and no queue worker of this repository is alive.
    DVC's workers have exited on their own under load; without this the wait never ends."""
    return (bool(active) and not any("Running" in line for line in active)
            and _worker_processes() == 0)


def _runs_here(pid: str) -> bool:
    """Whether process `pid` works in this repository: another clone's queue workers (a second
    protocol run on the same machine) must not count as ours. True where /proc cannot tell."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")).resolve() == ROOT
    except OSError:
        return True


def queue_and_wait(jobs: dict[str, tuple[dict[str, Any], list[str]]], n_jobs: int,
                   wait: bool = True) -> None:
    """Queue every {name: (overrides, targets)} not already an experiment, start `n_jobs` queue
    workers unless some are already running (they take new tasks as they free up), wait for
    these experiments and fail loudly (with the log) if any failed. Workers are never stopped
    here: an interrupted script leaves the queue running (`dvc queue stop` halts it)."""
    refuse_changed_params("queued experiments")
    existing = experiments()
    defaults = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for name, (ovr, _) in jobs.items():
        if name in existing and not existing[name]["error"] and \
                (differ := params_differ(existing[name]["params"], ovr, defaults)):
            new = superseded_name(name, existing)
            print(f"  {name}: exists with other params ({differ}); renamed {new}, run again")
            _dvc("exp", "rename", name, new)
            existing[new] = existing.pop(name)
    todo = {n: j for n, j in jobs.items() if n not in existing or existing[n]["error"]}
    for name in jobs:
        if name not in todo:
            print(f"  {name}: exists, not queued again")
    if not todo:
        return
    stale = [n for n in todo if n in existing]
    if stale:  # failed before: drop it (not `exp run -f`: that also bypasses the run-cache)
        _dvc("exp", "remove", *stale)
    for name, (ovr, targets) in todo.items():
        print(f"  queue {name}")
        _dvc("exp", "run", "--queue", "-n", name, *flag_list(ovr), *targets)
    start = time.monotonic()
    if max(_workers_active(_dvc("queue", "status").stdout), _worker_processes()) == 0:
        # not _dvc(): the worker daemons inherit the pipes, so capturing would block until
        # they exit
        subprocess.run(["dvc", "queue", "start", "--jobs", str(n_jobs)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        print("  queue workers already running: they will take these tasks")
    if not wait:
        return
    idle_checks = 0
    while True:
        time.sleep(15)
        status = _dvc("queue", "status").stdout
        mine = [line for line in status.splitlines() if any(f" {n} " in line for n in todo)]
        active = [line for line in mine if "Queued" in line or "Running" in line]
        print(f"  [{(time.monotonic() - start) / 60:5.1f} min] {len(active)} of {len(todo)} "
              "queued/running", flush=True)
        if not active:
            break
        idle_checks = idle_checks + 1 if _orphaned(active) else 0
        if idle_checks >= 2:  # two checks 15 s apart: not a worker between two tasks
            print("  every queue worker has exited with tasks still queued: starting "
                  f"{n_jobs} again", flush=True)
            subprocess.run(["dvc", "queue", "start", "--jobs", str(n_jobs)], cwd=ROOT,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            idle_checks = 0
        if time.monotonic() - start > WAIT_S:
            sys.exit(f"queue not done after {WAIT_S} s:\n{status}")
    failed = [line for line in mine if "Failed" in line]
    if failed:
        name = next(n for n in todo if any(f" {n} " in line for line in failed))
        logs = _dvc("queue", "logs", name, check=False).stdout[-4000:]
        sys.exit("failed experiments:\n" + "\n".join(failed) + f"\n\nlog of {name}:\n{logs}")


# ----------------------------------------------------------------------------- mlflow
def _mlflow_client():
    sys.path.insert(0, str(ROOT / "src"))
    import mlflow

    from gantext.paths import repo_paths
    from gantext.tracking import tracking_uri  # the same store the stages use

    return mlflow.MlflowClient(tracking_uri=tracking_uri(repo_paths(ROOT)))


def stage_records(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """exp name -> {'walls': {stage: s}, 'qd': [rows of quality_diversity.csv]} from MLflow."""
    client = _mlflow_client()
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(exp_ids, "tags.`gantext.stage` != ''", max_results=50000)
    by_out: dict[tuple[str, str], Any] = {}
    for r in sorted(runs, key=lambda r: r.info.start_time):  # the first run that made it
        for tag, md5 in r.data.tags.items():
            if tag.startswith("dvc.out."):
                by_out.setdefault((tag[len("dvc.out."):], md5), r)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        evals = [r for r in runs if r.data.tags.get("gantext.dvc_exp_name") == name
                 and r.data.tags.get("gantext.stage") == "evaluate" and r.info.end_time]
        if not evals:  # run in another clone (another store): the curve from its commit
            print(f"  {name}: no finished evaluate run in MLflow ({client.tracking_uri}); its "
                  "curve read from the experiment's commit, its stage times unknown")
            out[name] = {"walls": dict.fromkeys(("evaluate", *STAGE_OUT)),
                         "qd": _qd_rows(_qd_from_commit(name))}
            continue
        ev = max(evals, key=lambda r: r.info.end_time)
        walls = {"evaluate": (ev.info.end_time - ev.info.start_time) / 1000}
        producer = ev
        for stage in ("adversarial", "pretrain", "tokenize", "ingest"):
            rel = STAGE_OUT[stage]
            md5 = producer.data.tags.get(f"dvc.dep.{rel}") or ev.data.tags.get(f"dvc.dep.{rel}")
            run = by_out.get((rel, md5)) if md5 else None
            walls[stage] = (run.info.end_time - run.info.start_time) / 1000 if run else None
            producer = run or producer
        qd_path = client.download_artifacts(ev.info.run_id, "quality_diversity.csv")
        out[name] = {"walls": walls, "qd": _qd_rows(Path(qd_path).read_text(encoding="utf-8"))}
    return out


def _qd_rows(text: str) -> list[dict[str, Any]]:
    """quality_diversity.csv's rows, with bleu5, self_bleu5 and temperature as floats."""
    return [{k: (float(v) if k in ("bleu5", "self_bleu5") or (k == "temperature" and v)
                 else v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def _qd_from_commit(name: str) -> str:
    """quality_diversity.csv of experiment `name`, read from its commit through DVC's cache."""
    from dvc.api import DVCFileSystem

    from fid_at_equal_diversity import exp_sha

    fs = DVCFileSystem(str(ROOT), rev=exp_sha(name))
    return fs.read_text("metrics/plots/quality_diversity.csv", encoding="utf-8")


# ----------------------------------------------------------------------------- selection
def choose(scored: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """The pick among one loss's sweep rows ({'qd_gain', 'gan_fid_eq', 'mle_fid_eq', ...}):
    the highest gain among rows whose FID at equal diversity is not above MLE's, else the
    highest gain of all. Returns (row, whether it keeps FID). First row wins ties."""
    def gain(r: dict[str, Any]) -> float:
        return -math.inf if r.get("qd_gain") is None else r["qd_gain"]

    keeps = [r for r in scored if r.get("gan_fid_eq") is not None
             and r["gan_fid_eq"] <= r["mle_fid_eq"]]
    pool = keeps or list(scored)
    return max(pool, key=gain), bool(keeps)  # max keeps the first of equal keys


def qd_gain(qd: Sequence[dict[str, Any]]) -> float | None:
    """The selection score: mean BLEU-5 gap of the GAN's sweep points above the MLE curve at equal
    self-BLEU-5 (report.gaps_above); None if no GAN point lies in MLE's self-BLEU-5 range."""
    from report import gaps_above

    gaps = gaps_above(qd)
    return sum(gaps) / len(gaps) if gaps else None


def sweep_mle(args: argparse.Namespace, recipe: dict) -> tuple[dict[str, Any], list]:
    """Stage 1 of `sweep`: every MLE grid point (pretrain only, seed 0); the lowest valid NLL
    wins. Returns (the chosen `common` overrides, one row per grid point)."""
    points = grid(recipe["sweep"]["pretrain"])
    jobs = {f"coco-mle-{grid_name(p)}": (overrides(args.coco, recipe, {}, 0, extra=p),
                                         ["pretrain"]) for p in points}
    print(f"MLE sweep: {len(jobs)} grid points (pretrain only, seed 0)")
    queue_and_wait(jobs, args.jobs)
    exps = experiments()
    rows = []
    for (name, _), p in zip(jobs.items(), points):
        m = exps[name]["metrics"]["metrics/pretrain.json"]
        rows.append({"name": name, **p, "valid_nll": m["valid_nll"], "best_epoch": m["best_epoch"]})
    best = min(rows, key=lambda r: r["valid_nll"])
    common = {k: best[k] for k in points[0]}
    print(f"MLE: chose {common} (valid NLL {best['valid_nll']:.4f})")
    return common, rows


def cmd_sweep(args: argparse.Namespace) -> None:
    recipe = load_recipe()
    if args.keep_mle:  # a new loss on the MLE chosen before: no MLE grid to train again
        previous = load_sweep()
        common = (previous.get("chosen") or {}).get("common")
        if not common:
            sys.exit(f"--keep-mle: {CHOSEN.relative_to(ROOT)} has no chosen MLE (`common`); "
                     "run `sweep` without --keep-mle first")
        rows = previous.get("mle_sweep") or []
        print(f"MLE: kept {common} from {CHOSEN.relative_to(ROOT)}")
    else:
        common, rows = sweep_mle(args, recipe)

    # 2. each loss on the validation split's quality-diversity gain
    adv_rows = []
    chosen: dict[str, Any] = {"common": common}
    for loss in args.losses:
        if not recipe["sweep"]["adversarial"].get(loss):
            print(f"{loss}: no grid in recipe.yaml; keeps its params.yaml settings")
            continue
        lpoints = grid(recipe["sweep"]["adversarial"][loss])
        ljobs = {f"coco-sweep-{loss}-{grid_name(p)}": (
            overrides(args.coco, recipe, {"common": common}, 0, loss,
                      {**p, "evaluate.split": "valid"}), []) for p in lpoints}
        adv_rows.append((loss, lpoints, ljobs))
    print(f"adversarial sweep: {sum(len(j) for _, _, j in adv_rows)} runs on the valid split")
    queue_and_wait({n: j for _, _, jobs_ in adv_rows for n, j in jobs_.items()}, args.jobs)
    exps = experiments()
    records = stage_records([n for _, _, jobs_ in adv_rows for n in jobs_])
    table = []
    n_fid = load_recipe()["data"]["evaluate.sweep_samples"]
    for loss, lpoints, ljobs in adv_rows:
        scored = []
        for name, p in zip(ljobs, lpoints):
            m = exps[name]["metrics"]["metrics/evaluate.json"]
            eq = fid_at_equal_diversity(name, n_fid)
            row = {"loss": loss, "name": name,
                   **{k.rsplit(".", 1)[-1]: v for k, v in p.items()},
                   "qd_gain": qd_gain(records[name]["qd"]), "gan_bleu5": m["gan"]["bleu5"],
                   "gan_sbleu5": m["gan"]["sbleu5"], "gan_fid": m["gan"]["fid"],
                   "mle_bleu5": m["mle"]["bleu5"], "mle_sbleu5": m["mle"]["sbleu5"],
                   "mle_fid": m["mle"]["fid"], "t_star": eq.get("t_star"),
                   "gan_fid_eq": eq.get("gan_fid"), "mle_fid_eq": eq.get("mle_fid"),
                   "adversarial_s": records[name]["walls"]["adversarial"]}
            scored.append(row)
            table.append(row)
        best, fid_ok = choose(scored)
        chosen[loss] = lpoints[scored.index(best)]
        best["chosen"], best["fid_ok"] = True, fid_ok
        gain = "n/a" if best["qd_gain"] is None else f"{best['qd_gain']:+.4f}"
        print(f"{loss}: chose {chosen[loss]} (valid QD gain {gain}"
              + (")" if fid_ok else "; no grid point keeps FID at equal diversity <= MLE's on "
                 "valid: chosen by the gain alone)"))
    rows, table = merge_previous(load_sweep(), chosen, rows, table, args.losses)
    header = ("# Written by `python bench/coco/protocol.py sweep` (seed 0, validation split only)."
              "\n# See protocol.py for the selection rules; `run` and `flags` apply `chosen`.\n")
    CHOSEN.write_text(header + yaml.safe_dump({"chosen": chosen, "mle_sweep": rows,
                                               "adversarial_sweep": table}, sort_keys=False),
                      encoding="utf-8")
    print(f"wrote {CHOSEN.relative_to(ROOT)}")


def _require_chosen() -> dict[str, Any]:
    chosen = load_chosen()
    if not chosen:
        sys.exit(f"{CHOSEN.relative_to(ROOT)} not found: run `python bench/coco/protocol.py "
                 "sweep` first (it chooses the hyperparameters on the validation split)")
    return chosen


def run_names(seeds: Sequence[int], losses: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Experiment names of the results, ordered so that 2 workers first train different seeds
    (each seed's MLE is then restored from DVC's run-cache for the other losses)."""
    return {f"coco-s{s}-{loss}": (s, loss) for loss in losses for s in seeds}


def cmd_run(args: argparse.Namespace) -> None:
    recipe, chosen = load_recipe(), _require_chosen()
    jobs = {name: (overrides(args.coco, recipe, chosen, s, loss), [])
            for name, (s, loss) in run_names(args.seeds, args.losses).items()}
    print(f"{len(jobs)} experiments on the test split (full protocol)")
    if args.engine == "ray":
        sys.exit(run_with_sweep(jobs, args))
    queue_and_wait(jobs, args.jobs, wait=not args.no_wait)


def run_with_sweep(jobs: dict[str, tuple[dict[str, Any], list[str]]],
                   args: argparse.Namespace) -> int:
    """The same experiments through gantext.sweep (`--engine ray`: one Ray task each, results
    pulled here); prints its report, returns 1 if any experiment failed."""
    sys.path.insert(0, str(ROOT / "src"))
    from gantext.errors import GantextError
    from gantext.sweep import Experiment, exit_code, options_from_args, report, run_sweep

    exps = [Experiment(name, tuple((k, _fmt(v)) for k, v in ovr.items()), tuple(targets))
            for name, (ovr, targets) in jobs.items()]
    try:
        outcomes = run_sweep(ROOT, exps, options_from_args(args))
    except GantextError as exc:
        sys.exit(f"error: {exc}")
    print(report(outcomes), end="")
    return exit_code(outcomes)


def cmd_flags(args: argparse.Namespace) -> None:
    ovr = overrides(args.coco, load_recipe(), load_chosen(), args.seed, args.loss)
    print(shlex.join(flag_list(ovr)))  # quoted for copy-paste (not for $(...))


def cmd_exp(args: argparse.Namespace) -> None:
    """One COCO experiment in the workspace: `dvc exp run -n NAME <flags> [extra args]`."""
    refuse_changed_params("this experiment")
    ovr = overrides(args.coco, load_recipe(), load_chosen(), args.seed, args.loss)
    cmd = ["dvc", "exp", "run", *(["-n", args.name] if args.name else []), *flag_list(ovr),
           *args.dvc_args]
    print(shlex.join(cmd), flush=True)
    sys.exit(subprocess.run(cmd, cwd=ROOT).returncode)


# ----------------------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> None:
    from report import write_report  # bench/coco/report.py: tables and the PNG

    names = run_names(args.seeds, args.losses)
    exps = experiments()
    missing = [n for n in names if n not in exps or exps[n]["error"]]
    if missing:
        sys.exit(f"missing or failed experiments {missing}: run `python bench/coco/protocol.py "
                 "run` first")
    records = stage_records(names)
    results = {name: {"seed": s, "loss": loss,
                      "evaluate": exps[name]["metrics"]["metrics/evaluate.json"],
                      "pretrain": exps[name]["metrics"]["metrics/pretrain.json"],
                      "adversarial": exps[name]["metrics"]["metrics/adversarial.json"],
                      "tokenize": exps[name]["metrics"]["metrics/tokenize.json"],
                      "params": exps[name]["params"], **records[name]}
               for name, (s, loss) in names.items()}
    files = write_report(results, load_chosen(), HERE)
    readme = ROOT / "README.md"
    if splice(readme, (HERE / "results.md").read_text(encoding="utf-8")):
        files.append(readme)
    for f in files:
        print(f"wrote {f.relative_to(ROOT)}")


BEGIN, END = "<!-- coco-results:begin (protocol.py report) -->", "<!-- coco-results:end -->"


def splice(path: Path, text: str) -> bool:
    """Replace what lies between the BEGIN/END markers of `path` by `text`; False if no markers."""
    doc = path.read_text(encoding="utf-8")
    if BEGIN not in doc or END not in doc:
        return False
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{head}{BEGIN}\n{text}{END}{tail}", encoding="utf-8")
    tmp.replace(path)
    return True


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from gantext.objectives import OBJECTIVES  # the registry: every loss is a valid choice

    registered = list(OBJECTIVES)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--coco", type=Path, default=DEFAULT_COCO,
                    help="folder with train.txt and test.txt (default: %(default)s)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flags", help="print the -S overrides of one COCO experiment")
    f.add_argument("--seed", type=int, default=None)
    f.add_argument("--loss", choices=registered, default=None)
    e = sub.add_parser("exp", help="run one COCO experiment (dvc exp run with those overrides)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--loss", choices=registered, default="bce")
    e.add_argument("-n", "--name", default=None, help="experiment name")
    e.add_argument("dvc_args", nargs="*", help="more `dvc exp run` arguments, after --")
    for name in ("sweep", "run", "report"):
        p = sub.add_parser(name)
        p.add_argument("--losses", nargs="+", choices=registered, default=list(LOSSES))
        if name != "sweep":
            p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
        if name != "report":
            p.add_argument("--jobs", type=int, default=2, help="queue workers (default 2)")
        if name == "sweep":
            p.add_argument("--keep-mle", action="store_true",
                           help="reuse the MLE chosen in chosen.yaml (sweep only --losses)")
        if name == "run":
            p.add_argument("--no-wait", action="store_true",
                           help="queue and return (the queue workers go on in the background)")
            sys.path.insert(0, str(ROOT / "src"))
            from gantext.sweep import add_engine_arguments  # --engine ray: see gantext.sweep

            add_engine_arguments(p, queue_flags=False)
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(HERE))
    {"flags": cmd_flags, "exp": cmd_exp, "sweep": cmd_sweep, "run": cmd_run,
     "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()
