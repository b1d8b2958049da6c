"""A protocol *recipe*: which corpus, with which fixed settings, and the per-objective picks.

A recipe is a YAML file (or one built from command-line flags) with these keys, all optional
except where said:

``name``
    the experiments' prefix (``<name>-s<seed>-<loss>``) and the default report folder
    (``reports/<name>/``).
``corpus``
    the corpus folder, relative to the repository (or absolute); ``{corpus}`` in ``data``
    values is replaced by it, kept relative when inside the repository so params (and DVC's
    run-cache) are the same on every clone. ``--corpus DIR`` replaces it.
``data``
    dotted params overrides every experiment gets: the corpus and the evaluation protocol.
``budget``
    ``{loss: {dotted key: value}}``: per-objective compute budget (e.g. fewer steps for the
    expensive ones), applied before ``chosen``.
``chosen``
    ``{"common": {...}, loss: {...}}``: the picked hyperparameters, inline or the name of a
    YAML file beside the recipe whose ``chosen`` key holds them (bench/coco/chosen.yaml, which
    the COCO sweep writes).
``losses`` / ``seeds``
    the defaults of ``gantext protocol run`` (default: every registered objective but the
    control, which every run trains beside its objective; seeds 0 1 2).
``published``
    ``{"mle_self_bleu5": x, "rows": {label: {"bleu": [..], "sbleu": [..] | null, "nll": x}}}``:
    a published table the report prints beside ours, and the self-BLEU-5 at which our MLE's
    curve is read for a like-with-like comparison with the published MLE.
``sweep``
    hyperparameter grids, read by the recipe's own selection script (bench/coco/protocol.py
    sweep); the protocol itself ignores them.

Built-in recipes are looked up by name in :data:`RECIPES` (files under the repository: a recipe's
picks are rewritten by its sweep, and nothing under ``src/gantext`` may change with results,
since every stage depends on that folder: an edit there would re-run every stage).
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from gantext.errors import ConfigError

__all__ = ["RECIPES", "Recipe", "load_recipe", "files_recipe", "params_recipe", "fmt_value",
           "parse_value", "overrides", "apply_overrides", "DEFAULT_SEEDS"]

#: recipe name -> its file, relative to the repository root
RECIPES: dict[str, str] = {"coco": "bench/coco/recipe.yaml"}
DEFAULT_SEEDS = (0, 1, 2)
_KEYS = {"name", "corpus", "data", "budget", "chosen", "losses", "seeds", "published", "sweep"}
#: characters that make a string unsafe unquoted in a `dvc exp run -S key=value` value (DVC
#: parses values with Hydra's override grammar: commas split, brackets open lists, ...)
_SPECIAL = set(",[]{}()=:'\"#!&|>%@`\\") | {" "}
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)[eE][-+]?\d+")


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe (module docstring). ``data`` has ``{corpus}`` substituted already."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, dict[str, Any]] = field(default_factory=dict)
    chosen: dict[str, dict[str, Any]] = field(default_factory=dict)
    losses: tuple[str, ...] = ()
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    published: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    corpus: str | None = None


def _corpus_ref(corpus: Path, root: Path) -> str:
    """The corpus folder as params hold it: relative to the repository when inside it."""
    corpus = corpus.resolve()
    root = root.resolve()
    return corpus.relative_to(root).as_posix() if corpus.is_relative_to(root) else str(corpus)


def _subst(value: Any, corpus: str | None) -> Any:
    if isinstance(value, str) and "{corpus}" in value:
        if corpus is None:
            raise ConfigError(f"recipe value {value!r} names {{corpus}} but the recipe has no "
                              "`corpus`: add one or pass --corpus DIR")
        return value.replace("{corpus}", corpus)
    if isinstance(value, list):
        return [_subst(v, corpus) for v in value]
    return value


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what}: expected a mapping, got {type(value).__name__}")
    return dict(value)


def load_recipe(spec: str | Path, root: Path, corpus: str | Path | None = None) -> Recipe:
    """The recipe named `spec` (a name in :data:`RECIPES` or a path to a YAML file), with
    ``{corpus}`` resolved against `root` (or the folder `corpus` when given)."""
    path = Path(RECIPES[str(spec)]) if str(spec) in RECIPES else Path(spec)
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise ConfigError(f"--recipe {spec}: no such recipe file ({path}); give a path to a YAML "
                          f"recipe or one of {', '.join(RECIPES)}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: a recipe is a YAML mapping")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown recipe key(s) {', '.join(unknown)}; known: "
                          f"{', '.join(sorted(_KEYS))}")
    folder = corpus if corpus is not None else raw.get("corpus")
    ref = None
    if folder is not None:
        folder = Path(folder)
        folder = folder if folder.is_absolute() else root / folder
        if not folder.is_dir():
            raise ConfigError(f"{folder}: corpus folder not found (recipe {path.name}); pass "
                              "--corpus DIR")
        ref = _corpus_ref(folder, root)
    chosen = raw.get("chosen")
    if isinstance(chosen, str):  # a file beside the recipe (written by its sweep)
        chosen_file = path.parent / chosen
        chosen = ((yaml.safe_load(chosen_file.read_text(encoding="utf-8")) or {}).get("chosen")
                  if chosen_file.is_file() else {})
    return Recipe(
        name=str(raw.get("name") or path.stem),
        data={k: _subst(v, ref) for k, v in _mapping(raw.get("data"), f"{path}: data").items()},
        budget={k: _mapping(v, f"{path}: budget.{k}")
                for k, v in _mapping(raw.get("budget"), f"{path}: budget").items()},
        chosen={k: _mapping(v, f"{path}: chosen.{k}")
                for k, v in _mapping(chosen, f"{path}: chosen").items()},
        losses=tuple(raw.get("losses") or ()),
        seeds=tuple(int(s) for s in raw.get("seeds") or DEFAULT_SEEDS),
        published=_mapping(raw.get("published"), f"{path}: published"),
        sweep=_mapping(raw.get("sweep"), f"{path}: sweep"),
        source=_corpus_ref(path, root),  # shown in reports: relative inside the repository
        corpus=ref)


def _glob_root(pattern: str) -> str:
    """The folder above the first wildcard of `pattern` (``data/mine/*.txt`` -> ``data/mine``)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    else:  # a plain file: its folder
        fixed = fixed[:-1]
    return str(Path(*fixed)) if fixed else "."


def files_recipe(files: Sequence[str], test_files: Sequence[str] = (), root: Path = Path("."),
                 name: str | None = None) -> Recipe:
    """A recipe for a user's own files (globs allowed): ``ingest.source: files`` with these
    paths; the folder DVC watches (``ingest.data_dir``) is the deepest one above them all.
    Without test files the test split is carved from the files (``ingest.test_fraction``)."""
    if not files:
        raise ConfigError("--files: give at least one file or glob of training text")
    for pattern in (*files, *test_files):
        p = pattern if os.path.isabs(pattern) else str(root / pattern)
        if not glob.glob(p):
            raise ConfigError(f"--files/--test-files {pattern!r}: matches no file (relative "
                              f"to {root})")
    folders = [_glob_root(p) for p in (*files, *test_files)]
    data_dir = os.path.commonpath(folders) if len({os.path.isabs(f) for f in folders}) == 1 \
        else str(Path(folders[0]).resolve())
    data_dir = data_dir or "."
    data: dict[str, Any] = {"ingest.source": "files", "ingest.data_dir": data_dir,
                            "ingest.paths": list(files)}
    data["ingest.test_paths"] = list(test_files)
    default = Path(data_dir).resolve().name if data_dir != "." else "files"
    return Recipe(name=name or default, data=data, source="--files " + " ".join(files))


def params_recipe(params: Mapping[str, Any], name: str | None = None) -> Recipe:
    """The corpus params.yaml names, unchanged (no data overrides): named ``builtin`` for the
    built-in grammar, else after the corpus folder (``ingest.data_dir``)."""
    ingest = params.get("ingest") or {}
    default = ("builtin" if ingest.get("source", "builtin") == "builtin"
               else Path(str(ingest.get("data_dir") or "corpus")).resolve().name)
    return Recipe(name=name or default, source="params.yaml")


def fmt_value(value: Any) -> str:
    """`value` as ``dvc exp run -S key=value`` wants it: YAML/Hydra flow style, strings quoted
    when they hold characters the override grammar reads as syntax (or would read as another
    type), floats without an exponent (PyYAML reads ``1e-05`` as a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        text = repr(value)
        return np.format_float_positional(value, trim="0") if "e" in text else text
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(fmt_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{fmt_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if isinstance(value, str) and (not text or text != text.strip() or _SPECIAL & set(text)
                                   or yaml.safe_load(text) != text):
        return json.dumps(text)
    return text


def parse_value(text: str) -> Any:
    """A ``-S`` value as DVC writes it into params.yaml: YAML flow syntax, read as YAML 1.2
    reads numbers (``1e-4`` is a float there; PyYAML's YAML 1.1 would keep it a string)."""
    if _FLOAT.fullmatch(text.strip()):
        return float(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def overrides(recipe: Recipe, seed: int | None = None, loss: str | None = None,
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The dotted params overrides of one experiment: the recipe's data + chosen common + the
    loss's budget + the loss's chosen + seed / loss / the in-run control + `extra`, later ones
    winning. The control (``adversarial.control``) is always on: every objective is compared
    with its own run's control (same seed, same generator updates); the stage skips it when the
    loss is the control itself."""
    out = dict(recipe.data)
    out.update(recipe.chosen.get("common", {}))
    if loss is not None:
        out.update(recipe.budget.get(loss, {}))
        out.update(recipe.chosen.get(loss, {}))
        out["adversarial.loss"] = loss
        out["adversarial.control"] = True
    if seed is not None:
        out["seed"] = seed
    out.update(extra or {})
    return out


def apply_overrides(params: Mapping[str, Any], ovr: Mapping[str, Any]) -> dict[str, Any]:
    """What ``dvc exp run -S key=value`` does to params.yaml: each dotted key set (created when
    absent) to the value (already parsed: :func:`parse_value`)."""
    out = copy.deepcopy(dict(params))
    for key, value in ovr.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[last] = copy.deepcopy(value)
    return out
