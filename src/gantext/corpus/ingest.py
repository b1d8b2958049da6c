"""The ingest stage's logic: corpus source -> cleaned train/valid/test sentences + accounting.

Nothing is lost: every input line (or table row, or grammar sample) ends either in a split or in
the rejects list with its file, line number and reason, and the metrics check
``lines_read == kept + rejected``. Everything is computed in memory first; :func:`write_outputs`
writes the files atomically only once the whole result is known, so bad input raises a
:class:`DataError` before any output exists.

Order and determinism: files are read in the order given (globs sorted); ``dedupe`` works within
the ``test_paths`` corpus and within the ``paths`` corpus. Sentences shared *across* splits are the
leakage rule's (:mod:`gantext.corpus.leakage`): by default a train sentence that is also in valid
or test is dropped from train (reasons ``in_test`` / ``in_valid``), the held-out splits stay
intact. The split is a seeded permutation; each split keeps the corpus order.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gantext.config import IngestConfig
from gantext.corpus import leakage
from gantext.corpus.cleaning import REASONS, Kept, Reject, clean_records
from gantext.corpus.readers import InputFile, Record, read_file, resolve_inputs
from gantext.errors import DataError
from gantext.io import md5_file, write_bytes, write_json
from gantext.paths import Paths

__all__ = ["SPLITS", "IngestResult", "check_usable", "ingest", "write_outputs"]

SPLITS = ("train", "valid", "test")


@dataclass
class IngestResult:
    """Everything the stage writes: sentences per split, rejects, and the metrics dict."""

    splits: dict[str, list[str]]
    rejects: list[Reject]
    metrics: dict = field(default_factory=dict)


def _summary(rejects: list[Reject]) -> str:
    c = Counter(r.reason for r in rejects)
    return ", ".join(f"{k}: {v}" for k, v in sorted(c.items())) or "none"


def _nothing_left(what: str, n_read: int, rejects: list[Reject], hint: str) -> DataError:
    first = f"; first: {rejects[0].file}:{rejects[0].line} ({rejects[0].reason})" if rejects else ""
    return DataError(f"nothing left after cleaning {what}: {n_read} lines read, all rejected "
                     f"(by reason: {_summary(rejects)}{first}). {hint}")


def _clean(records: list[Record], cfg: IngestConfig, seen: set[str], desc: str
           ) -> tuple[list[Kept], list[Reject]]:
    return clean_records(records, lowercase=cfg.lowercase, min_tokens=cfg.min_tokens,
                         max_tokens=cfg.max_tokens, dedupe=cfg.dedupe, seen=seen, desc=desc)


def _split(n: int, cfg: IngestConfig, seed: int, own_test: bool) -> dict[str, np.ndarray]:
    """Seeded assignment of n items to splits (indices kept in corpus order within a split)."""
    n_test = 0 if own_test else math.floor(n * cfg.test_fraction + 0.5)
    n_valid = math.floor(n * cfg.valid_fraction + 0.5)
    if n - n_test - n_valid < 1:
        raise DataError(f"only {n} sentences left after cleaning: too few for valid_fraction "
                        f"{cfg.valid_fraction} and test_fraction {cfg.test_fraction} to leave a "
                        "train split; add data or lower the fractions in params.yaml (ingest.*)")
    # A stream of its own (not the sampling stream), so changing num_sentences or the files
    # does not correlate the sample with the split.
    perm = np.random.default_rng([seed, 0x5EED]).permutation(n)
    parts = {"test": perm[:n_test], "valid": perm[n_test:n_test + n_valid],
             "train": perm[n_test + n_valid:]}
    return {k: np.sort(v) for k, v in parts.items()}


def _file_stats(f: InputFile, n_lines: int, n_kept: int, n_rejected: int) -> dict:
    """Per-input-file lineage: what was read (md5 as DVC records it) and where it went."""
    return {"path": f.display, "role": f.role, "md5": md5_file(f.path),
            "bytes": f.path.stat().st_size, "lines": n_lines, "kept": n_kept,
            "rejected": n_rejected}


def _read_role(cfg: IngestConfig, root: Path, role: str, seen: set[str]
               ) -> tuple[list[Kept], list[Reject], int, list[dict]]:
    files = resolve_inputs(getattr(cfg, role), root, role)
    kept: list[Kept] = []
    rejects: list[Reject] = []
    n_read = 0
    stats = []
    for f in files:
        records = read_file(f, cfg.text_column)
        k, r = _clean(records, cfg, seen, desc=f"ingest {f.display}")
        kept += k
        rejects += r
        n_read += len(records)
        stats.append(_file_stats(f, len(records), len(k), len(r)))
    return kept, rejects, n_read, stats


def _warn_unwatched(files: list[dict], root: Path, data_dir: str) -> None:
    """DVC re-runs ingest when ingest.data_dir changes; files elsewhere would go unnoticed."""
    watched = (root / data_dir).resolve()
    for f in files:
        p = (root / f["path"]).resolve()
        if watched != p and watched not in p.parents:
            print(f"warning: {f['path']} is not under ingest.data_dir ({data_dir}); DVC will not "
                  "re-run ingest when it changes. Set ingest.data_dir to its folder",
                  file=sys.stderr)


@dataclass
class _Corpus:
    """What a source produced: cleaned sentences (+ a shipped test split), rejects, counts."""

    kept: list[Kept]
    test: list[Kept] | None
    rejects: list[Reject]
    n_read: int
    metrics: dict
    modes: list[str] | None = None  # builtin: the mode of each sampled line (index = line - 1)


def _from_builtin(cfg: IngestConfig, seed: int) -> _Corpus:
    from gantext.corpus.grammar import default_grammar

    grammar = default_grammar()
    n = cfg.builtin.num_sentences
    sents, modes = grammar.sample_with_modes(n, seed)
    name = f"builtin:{grammar.name}"
    records = [Record(name, i, " ".join(s)) for i, s in enumerate(sents, start=1)]
    kept, rejects = _clean(records, cfg, set(), desc="ingest builtin")
    if not kept:
        raise _nothing_left("the built-in corpus", n, rejects,
                            "Check ingest.min_tokens / max_tokens (grammar sentences have 4-30 "
                            "tokens)")
    return _Corpus(kept, None, rejects, n, {"grammar": {"name": grammar.name, "seed": seed,
                                                        "num_sentences": n}, "inputs": []}, modes)


def _from_files(cfg: IngestConfig, root: Path) -> _Corpus:
    test, rejects, n_read, inputs = None, [], 0, []
    if cfg.test_paths:  # dedupe within the test corpus; its overlap with train is leakage's
        test, rejects, n_read, inputs = _read_role(cfg, root, "test_paths", set())
        if not test:
            raise _nothing_left("ingest.test_paths", n_read, rejects,
                                "Check the files, ingest.text_column and the token limits")
    kept, rej, n_main, stats = _read_role(cfg, root, "paths", set())
    if not kept:
        raise _nothing_left("ingest.paths", n_main, rej, "Check the files, ingest.text_column "
                            "and ingest.min_tokens / max_tokens")
    _warn_unwatched(inputs + stats, root, cfg.data_dir)
    return _Corpus(kept, test, rejects + rej, n_read + n_main, {"inputs": inputs + stats})


def _move_to_rejected(inputs: list[dict], rejects: list[Reject]) -> None:
    """Per-file counts after the leakage rule moved kept lines of a file to its rejects."""
    by_path = {f["path"]: f for f in inputs if f["role"] == "paths"}
    for r in rejects:
        if r.file in by_path:
            by_path[r.file]["kept"] -= 1
            by_path[r.file]["rejected"] += 1


def ingest(cfg: IngestConfig, seed: int, root: Path) -> IngestResult:
    """Read, clean and split the corpus named by `cfg` (paths relative to `root`)."""
    if not (root / cfg.data_dir).is_dir():
        raise DataError(f"ingest.data_dir: folder '{cfg.data_dir}' not found (relative to {root}); "
                        "it is the folder DVC watches for corpus changes: create it or point "
                        "it at the folder holding your corpus files")
    corpus = _from_builtin(cfg, seed) if cfg.source == "builtin" else _from_files(cfg, root)
    kept = corpus.kept
    idx = _split(len(kept), cfg, seed, own_test=corpus.test is not None)
    parts = {s: [kept[i] for i in idx[s]] for s in SPLITS}
    shipped = None
    if corpus.test is not None:
        parts["test"] = corpus.test
        in_paths = {k.sentence for k in kept}
        shipped = sum(k.sentence in in_paths for k in corpus.test)
    rule = leakage.resolve_rule(cfg.leakage, cfg.source)
    leak = leakage.apply_leakage_rule(parts["train"], parts["valid"], parts["test"], rule, shipped)
    parts["train"] = leak.train
    if not parts["train"]:
        raise _no_train_left(leak.metrics["dropped"], kept, cfg)
    if cfg.source != "builtin":  # the grammar repeats by design: its overlap is in the metrics
        leakage.warn(leak.metrics, len(parts["test"]))
    _move_to_rejected(corpus.metrics.get("inputs", []), leak.rejects)
    corpus.rejects.extend(leak.rejects)
    splits = {s: [k.sentence for k in parts[s]] for s in SPLITS}
    check_usable(splits, cfg)

    n_kept = sum(len(v) for v in splits.values())
    n_rejected = len(corpus.rejects)
    if corpus.n_read != n_kept + n_rejected:  # the accounting invariant; a bug if it ever fails
        raise AssertionError(f"ingest lost lines: read {corpus.n_read}, kept {n_kept}, "
                             f"rejected {n_rejected}")
    by_reason = Counter(r.reason for r in corpus.rejects)
    metrics = {
        "source": cfg.source,
        **corpus.metrics,
        "lines_read": corpus.n_read,
        "kept": {**{s: len(splits[s]) for s in SPLITS}, "total": n_kept},
        "rejected": {**{r: by_reason.get(r, 0) for r in REASONS}, "total": n_rejected},
        "leakage": leak.metrics,
        "tokens_per_sentence": {  # tokens are joined by single spaces
            s: round(float(np.mean([v.count(" ") + 1 for v in splits[s]])), 4) if splits[s]
            else 0.0 for s in SPLITS},
    }
    if corpus.modes is not None:
        metrics["grammar"]["modes"] = {
            s: dict(sorted(Counter(corpus.modes[k.line - 1] for k in parts[s]).items()))
            for s in SPLITS}
    return IngestResult(splits=splits, rejects=corpus.rejects, metrics=metrics)


def _no_train_left(dropped: int, kept: list[Kept], cfg: IngestConfig) -> DataError:
    """Every train sentence was also held out: say why it happened, for the data at hand."""
    distinct = len({k.sentence for k in kept})
    if cfg.test_paths:
        why = ("Do ingest.paths and ingest.test_paths name the same data? Use distinct files, or "
               "set ingest.leakage: keep")
    else:
        why = (f"The corpus repeats its sentences: {len(kept)} kept lines hold only {distinct} "
               "distinct one(s), so every train copy also sits in valid or test. Use a corpus "
               "of distinct sentences (or ingest.dedupe: true), or set ingest.leakage: keep")
    return DataError(f"no train sentence left: all {dropped} are also in the valid or test split "
                     f"(ingest.leakage: drop). {why}")


def check_usable(splits: dict[str, list[str]], cfg: IngestConfig) -> None:
    """Refuse, here at ingest, corpora the later stages cannot use, instead of failing there
    after the work: an empty split (pretrain stops early on valid, evaluate scores against
    test) and a train split that is one sentence repeated (nothing for a model to learn)."""
    for split, fix in (("valid", "raise ingest.valid_fraction (pretrain stops early on the "
                                 "validation NLL)"),
                       ("test", "raise ingest.test_fraction or set ingest.test_paths (evaluate "
                                "scores against it)")):
        if not splits[split]:
            n = sum(len(v) for v in splits.values())
            raise DataError(f"the {split} split is empty ({n} sentences kept in all, "
                            f"ingest.{split}_fraction {getattr(cfg, f'{split}_fraction')}): {fix}")
    distinct = set(splits["train"])
    if len(distinct) == 1 and len(splits["train"]) > 1:
        raise DataError(f"the train split is one sentence repeated {len(splits['train'])} times "
                        f"({next(iter(distinct))[:60]!r}): nothing for a generator or a "
                        "discriminator to learn; check ingest.paths and ingest.text_column")


def write_outputs(result: IngestResult, paths: Paths) -> None:
    """Write the splits, the rejects and the metrics, each file atomically (metrics last).

    Every file's bytes are made before the first is written, so text that cannot be encoded
    fails with nothing half-written under data/interim/."""
    blobs = {paths.split_text(s): "".join(f"{line}\n" for line in result.splits[s])
             .encode("utf-8") for s in SPLITS}
    # The rejects file shows raw input: anything unencodable left in it is shown escaped.
    blobs[paths.rejects] = "".join(json.dumps(r.as_json(), ensure_ascii=False) + "\n"
                                   for r in result.rejects).encode("utf-8", "backslashreplace")
    for path, data in blobs.items():
        write_bytes(path, data)
    write_json(paths.metrics_json("ingest"), result.metrics)
