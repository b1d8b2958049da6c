"""The `gantext protocol` command line (see :mod:`gantext.protocol`): run, report, flags.

Which corpus: ``--recipe NAME|PATH`` (``coco``, or a recipe YAML), ``--files GLOB ...``
(``--test-files GLOB ...``: a shipped test split) for a user's own files, or neither: the corpus
params.yaml names, unchanged (the built-in grammar by default).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from gantext.errors import ConfigError
from gantext.protocol.recipe import (Recipe, files_recipe, fmt_value, load_recipe, overrides,
                                     params_recipe, parse_value)

__all__ = ["add_protocol_arguments", "run_protocol_command", "resolve"]


def _corpus_args(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--recipe", default=None, help="a named recipe (coco) or a recipe YAML "
                       "file; default: the corpus params.yaml names")
    which.add_argument("--files", nargs="+", default=None, metavar="GLOB",
                       help="your own training files or globs (txt, csv, tsv, jsonl, parquet)")
    p.add_argument("--test-files", nargs="+", default=[], metavar="GLOB",
                   help="with --files: files holding a test split (default: carved from --files)")
    p.add_argument("--corpus", default=None, help="with --recipe: the corpus folder ({corpus})")
    p.add_argument("--name", default=None, help="experiment prefix and report name (default: "
                   "the recipe's name, or the corpus folder's)")
    p.add_argument("-S", "--set-param", dest="extra", action="append", default=[],
                   metavar="KEY=VALUE", help="a params override for every experiment")
    p.add_argument("--root", default=".", help="the repository (default: current directory)")


def _selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--losses", nargs="+", default=None, help="objectives (default: the "
                   "recipe's, else every registered objective but the control, which every run "
                   "trains beside its objective)")
    p.add_argument("--seeds", nargs="+", type=int, default=None,
                   help="seeds (default: the recipe's, else 0 1 2)")
    p.add_argument("--out", default=None, help="report folder (default: reports/<name>/)")


def add_protocol_arguments(p: argparse.ArgumentParser) -> None:
    """`gantext protocol {run,report,flags}` and their flags."""
    from gantext.sweep import add_engine_arguments

    sub = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    r = sub.add_parser("run", help="run MLE + objectives + the control x seeds (resuming), then "
                       "write the report")
    _corpus_args(r)
    _selection_args(r)
    add_engine_arguments(r)
    r.add_argument("--no-report", action="store_true", help="run only")
    rep = sub.add_parser("report", help="write the report of the finished experiments")
    _corpus_args(rep)
    _selection_args(rep)
    rep.add_argument("--no-walls", action="store_true",
                     help="do not look up stage wall times in MLflow")
    f = sub.add_parser("flags", help="print one experiment's `dvc exp run` overrides")
    _corpus_args(f)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--loss", default=None, help="an objective (default: none, data only)")


def _extra(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-S {item!r}: expected KEY=VALUE (e.g. -S adversarial.steps=200)")
        out[key.strip()] = parse_value(value)
    return out


def resolve(args: argparse.Namespace) -> tuple[Path, Recipe]:
    """The repository root and the recipe the flags name."""
    from gantext.protocol.run import git_toplevel

    root = git_toplevel(Path(args.root).resolve())
    if args.test_files and not args.files:
        raise ConfigError("--test-files needs --files")
    if args.corpus and not args.recipe:
        raise ConfigError("--corpus needs --recipe (with --files the files say where the "
                          "corpus is)")
    if args.recipe:
        recipe = load_recipe(args.recipe, root, args.corpus)
    elif args.files:
        recipe = files_recipe(args.files, args.test_files, root)
    else:
        params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
        recipe = params_recipe(params)
    if args.name:
        recipe = Recipe(**{**recipe.__dict__, "name": args.name})
    return root, recipe


def _default_losses(recipe: Recipe) -> list[str]:
    from gantext.objectives import CONTROL, OBJECTIVES

    return list(recipe.losses) or [loss for loss in OBJECTIVES if loss != CONTROL]


def run_protocol_command(args: argparse.Namespace) -> int:
    """`gantext protocol VERB`: 1 when experiments failed or are missing from the report."""
    from gantext.protocol.report import build_report
    from gantext.protocol.run import plan, run
    from gantext.sweep import exit_code, options_from_args, report

    root, recipe = resolve(args)
    extra = _extra(args.extra)
    if args.verb == "flags":
        ovr = overrides(recipe, args.seed, args.loss, extra)
        print(shlex.join(a for k, v in ovr.items() for a in ("-S", f"{k}={fmt_value(v)}")))
        return 0
    losses = args.losses or _default_losses(recipe)
    seeds = args.seeds if args.seeds is not None else list(recipe.seeds)
    planned = plan(recipe, seeds, losses, extra)
    out = Path(args.out) if args.out else root / "reports" / recipe.name
    code = 0
    if args.verb == "run":
        print(f"[protocol] {recipe.name}: {len(planned)} experiments ({len(losses)} objectives "
              f"x {len(seeds)} seeds), engine {args.engine}", flush=True)
        outcomes = run(root, planned, options_from_args(args))
        sys.stdout.write(report(outcomes))
        code = exit_code(outcomes)
        if args.no_report or getattr(args, "no_wait", False):
            return code
    files, missing = build_report(root, recipe, planned, out, extra,
                                  walls=not getattr(args, "no_walls", False))
    for f in files:
        print(f"wrote {f}")
    if missing:
        print(f"[protocol] missing (not run, or failed): {', '.join(missing)}; the report says "
              "so", file=sys.stderr)
        code = 1
    return code
