"""The COCO benchmark: a recipe (recipe.yaml + chosen.yaml) on top of `gantext protocol`.

    gantext protocol run --recipe coco              # MLE + every objective + the control x 3 seeds
    gantext protocol report --recipe coco           # reports/coco/: report.md/.json, PNG, CSV

This script keeps what is COCO's own, plus the old verbs as thin aliases:

    python bench/coco/protocol.py sweep  [--jobs 2]   # choose hyperparameters on the valid split
    python bench/coco/protocol.py sweep --losses reverse-kl --keep-mle  # one new loss, same MLE
    python bench/coco/protocol.py run [gantext protocol run flags]     # = gantext protocol run --recipe coco
    python bench/coco/protocol.py report [--readme] # = gantext protocol report --recipe coco
    python bench/coco/protocol.py flags --seed S --loss L  # the `-S` overrides (quoted)
    python bench/coco/protocol.py exp --seed 0 --loss bce -n NAME  # one `dvc exp run` with them

``--coco DIR`` (before the verb) names another copy of the corpus. The experiments, their names
(``coco-s<seed>-<loss>``), resuming and superseding are gantext.protocol's; the selection below
writes chosen.yaml, which `gantext protocol --recipe coco` reads.

Selection (`sweep`), on the validation split only (never test):

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
   Each row also records the run's own verdict (``verdict_gap_mean``: evaluate's smooth-curve
   mean gap vs MLE on valid) beside the score.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

from gantext.errors import GantextError  # noqa: E402
from gantext.protocol import recipe as rc  # noqa: E402

CHOSEN = HERE / "chosen.yaml"


# ----------------------------------------------------------------------------- recipe
def load_recipe(coco: Path | None = None, chosen: bool = True) -> rc.Recipe:
    """The COCO recipe (its corpus folder `coco` when given); without its picks when not
    `chosen` (the sweep chooses them)."""
    recipe = rc.load_recipe("coco", ROOT, coco)
    return recipe if chosen else rc.Recipe(**{**recipe.__dict__, "chosen": {}})


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


def grid(spec: dict[str, list]) -> list[dict[str, Any]]:
    """Cartesian product of {key: [values]} as a list of {key: value} (insertion order)."""
    keys = list(spec)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(spec[k] for k in keys))]


def grid_name(point: dict[str, Any]) -> str:
    """A short experiment-name suffix: last key part + value ('hidden_dim256-dropout0.3')."""
    return "-".join(f"{k.rsplit('.', 1)[-1]}{rc.fmt_value(v)}"
                    for k, v in point.items()).replace("_", "")


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


def fid_at_equal_diversity(name: str, n: int) -> dict[str, Any]:
    """FID at equal diversity of sweep experiment `name` on the validation captions (see
    fid_at_equal_diversity.py); one thread, as the evaluate stage."""
    import torch

    from fid_at_equal_diversity import measure

    torch.set_num_threads(1)
    return measure(name, n, "valid")


def _run(planned: list, jobs: int) -> None:
    """The experiments through gantext.protocol (queue engine; resuming, superseding); exits
    with the engine's report when some failed."""
    from gantext.protocol.run import run
    from gantext.sweep import SweepOptions, exit_code, report

    outcomes = run(ROOT, planned, SweepOptions(engine="queue", jobs=jobs))
    sys.stdout.write(report(outcomes))
    if exit_code(outcomes):
        sys.exit("some sweep experiments failed (see above)")


def sweep_mle(args: argparse.Namespace, recipe: rc.Recipe) -> tuple[dict[str, Any], list]:
    """Stage 1 of `sweep`: every MLE grid point (pretrain only, seed 0); the lowest valid NLL
    wins. Returns (the chosen `common` overrides, one row per grid point)."""
    from gantext.protocol.collect import show_json
    from gantext.protocol.run import Planned, baseline_experiments

    points = grid(recipe.sweep["pretrain"])
    planned = [Planned(f"coco-mle-{grid_name(p)}", 0, "", rc.overrides(recipe, 0, extra=p),
                       ("pretrain",)) for p in points]
    print(f"MLE sweep: {len(planned)} grid points (pretrain only, seed 0)")
    _run(planned, args.jobs)
    shas = baseline_experiments(ROOT)
    rows = []
    for pl, p in zip(planned, points):
        m = show_json(ROOT, shas[pl.name], "metrics/pretrain.json")
        rows.append({"name": pl.name, **p, "valid_nll": m["valid_nll"],
                     "best_epoch": m["best_epoch"]})
    best = min(rows, key=lambda r: r["valid_nll"])
    common = {k: best[k] for k in points[0]}
    print(f"MLE: chose {common} (valid NLL {best['valid_nll']:.4f})")
    return common, rows


def cmd_sweep(args: argparse.Namespace) -> None:
    from gantext.protocol.collect import collect
    from gantext.protocol.run import Planned

    recipe = load_recipe(args.coco, chosen=False)
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
    with_mle = rc.Recipe(**{**recipe.__dict__, "chosen": {"common": common}})
    per_loss: list[tuple[str, list[dict[str, Any]], list[Planned]]] = []
    for loss in args.losses:
        if not recipe.sweep["adversarial"].get(loss):
            print(f"{loss}: no grid in recipe.yaml; keeps its params.yaml settings")
            continue
        points = grid(recipe.sweep["adversarial"][loss])
        per_loss.append((loss, points, [
            Planned(f"coco-sweep-{loss}-{grid_name(p)}", 0, loss,
                    rc.overrides(with_mle, 0, loss, {**p, "evaluate.split": "valid"}))
            for p in points]))
    every = [pl for _, _, planned in per_loss for pl in planned]
    print(f"adversarial sweep: {len(every)} runs on the valid split")
    _run(every, args.jobs)
    records = {r.name: r for r in collect(ROOT, every)[0]}
    table = []
    chosen: dict[str, Any] = {"common": common}
    n_fid = recipe.data["evaluate.sweep_samples"]
    for loss, points, planned in per_loss:
        scored = []
        for pl, p in zip(planned, points):
            r = records[pl.name]
            m = r.evaluate
            eq = fid_at_equal_diversity(pl.name, n_fid)
            row = {"loss": loss, "name": pl.name,
                   **{k.rsplit(".", 1)[-1]: v for k, v in p.items()},
                   "qd_gain": qd_gain(r.qd),
                   "verdict_gap_mean": (m.get("verdict") or {}).get("gap_mean"),
                   "gan_bleu5": m["gan"]["bleu5"],
                   "gan_sbleu5": m["gan"]["sbleu5"], "gan_fid": m["gan"]["fid"],
                   "mle_bleu5": m["mle"]["bleu5"], "mle_sbleu5": m["mle"]["sbleu5"],
                   "mle_fid": m["mle"]["fid"], "t_star": eq.get("t_star"),
                   "gan_fid_eq": eq.get("gan_fid"), "mle_fid_eq": eq.get("mle_fid"),
                   "adversarial_s": r.walls.get("adversarial")}
            scored.append(row)
            table.append(row)
        best, fid_ok = choose(scored)
        chosen[loss] = points[scored.index(best)]
        best["chosen"], best["fid_ok"] = True, fid_ok
        gain = "n/a" if best["qd_gain"] is None else f"{best['qd_gain']:+.4f}"
        print(f"{loss}: chose {chosen[loss]} (valid QD gain {gain}"
              + (")" if fid_ok else "; no grid point keeps FID at equal diversity <= MLE's on "
                 "valid: chosen by the gain alone)"))
    rows, table = merge_previous(load_sweep(), chosen, rows, table, args.losses)
    header = ("# Written by `python bench/coco/protocol.py sweep` (seed 0, validation split only)."
              "\n# See protocol.py for the selection rules; `gantext protocol --recipe coco` "
              "applies `chosen`.\n")
    from gantext.io import write_text

    write_text(CHOSEN, header + yaml.safe_dump({"chosen": chosen, "mle_sweep": rows,
                                                "adversarial_sweep": table}, sort_keys=False))
    print(f"wrote {CHOSEN.relative_to(ROOT)}")


# ----------------------------------------------------------------------------- aliases
def _gantext(verb: str, args: argparse.Namespace, rest: Sequence[str]) -> int:
    """`gantext protocol VERB --recipe coco [--corpus DIR] REST` in the repository."""
    from gantext.cli import main as gantext_main

    corpus = ["--corpus", str(args.coco)] if args.coco else []
    return gantext_main(["protocol", verb, "--recipe", "coco", *corpus, "--root", str(ROOT),
                         *rest])


def cmd_exp(args: argparse.Namespace) -> None:
    """One COCO experiment in the workspace: `dvc exp run -n NAME <flags> [extra args]`,
    refused while the workspace's params.yaml differs (parsed) from the commit's: the run would
    inherit it (seen: rsgan run after seqgan trained seqgan's 200 steps, not 300)."""
    from gantext.protocol.run import workspace_params_diff

    changed = workspace_params_diff(ROOT)
    if changed:
        sys.exit(f"params.yaml differs from the commit ({'; '.join(changed[:3])}): this "
                 "experiment would inherit it. Run `git checkout params.yaml` (or commit it), "
                 "then this command again")
    ovr = rc.overrides(load_recipe(args.coco), args.seed, args.loss)
    cmd = ["dvc", "exp", "run", *(["-n", args.name] if args.name else []),
           *(a for k, v in ovr.items() for a in ("-S", f"{k}={rc.fmt_value(v)}")),
           *args.dvc_args]
    print(shlex.join(cmd), flush=True)
    sys.exit(subprocess.run(cmd, cwd=ROOT).returncode)


BEGIN, END = "<!-- coco-results:begin (protocol.py report) -->", "<!-- coco-results:end -->"


def splice(path: Path, text: str) -> bool:
    """Replace what lies between the BEGIN/END markers of `path` by `text`; False if no markers."""
    from gantext.io import write_text

    doc = path.read_text(encoding="utf-8")
    if BEGIN not in doc or END not in doc:
        return False
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    write_text(path, f"{head}{BEGIN}\n{text}{END}{tail}")
    return True


def main(argv: Sequence[str] | None = None) -> None:
    from gantext.objectives import CONTROL, OBJECTIVES

    registered = list(OBJECTIVES)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--coco", type=Path, default=None,
                    help="folder with train.txt and test.txt (default: the recipe's, "
                         "data/benchmarks/coco)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flags", help="print the -S overrides of one COCO experiment")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--loss", choices=registered, default=None)
    e = sub.add_parser("exp", help="run one COCO experiment (dvc exp run with those overrides)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--loss", choices=registered, default="bce")
    e.add_argument("-n", "--name", default=None, help="experiment name")
    e.add_argument("dvc_args", nargs="*", help="more `dvc exp run` arguments, after --")
    s = sub.add_parser("sweep", help="choose the hyperparameters on the validation split")
    s.add_argument("--losses", nargs="+", choices=registered,
                   default=[x for x in registered if x != CONTROL])
    s.add_argument("--jobs", type=int, default=2, help="queue workers (default 2)")
    s.add_argument("--keep-mle", action="store_true",
                   help="reuse the MLE chosen in chosen.yaml (sweep only --losses)")
    sub.add_parser("run", add_help=False, help="= gantext protocol run --recipe coco ...")
    r = sub.add_parser("report", add_help=False,
                       help="= gantext protocol report --recipe coco ...; --readme also splices "
                            "its verdict into docs/research/coco-results.md's coco-results block")
    r.add_argument("--readme", action="store_true")
    args, rest = ap.parse_known_args(argv)
    os.chdir(ROOT)
    try:
        if args.cmd in ("run", "report"):
            code = _gantext(args.cmd, args, rest)
            md = ROOT / "reports" / "coco" / "report.md"
            if args.cmd == "report" and args.readme and code == 0 and md.is_file():
                text = md.read_text(encoding="utf-8")
                verdict = text.split("## Verdict", 1)[1].split("\n## ", 1)[0]
                results = ROOT / "docs" / "research" / "coco-results.md"
                if splice(results, verdict.strip() + "\n"):
                    print(f"wrote {results.relative_to(ROOT)} (coco-results block)")
                else:
                    print(f"warning: no coco-results markers in {results}", file=sys.stderr)
            sys.exit(code)
        if rest:
            ap.error(f"unrecognized arguments: {' '.join(rest)}")
        if args.cmd == "flags":
            sys.exit(_gantext("flags", args, ["--seed", str(args.seed)]
                              + (["--loss", args.loss] if args.loss else [])))
        {"exp": cmd_exp, "sweep": cmd_sweep}[args.cmd](args)
    except GantextError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
