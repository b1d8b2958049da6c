"""The evaluation protocol (ARCHITECTURE.md, "Evaluation protocol") as pure functions.

:func:`evaluate` takes the generators, the data and the typed :class:`EvaluateConfig` and
returns an :class:`Evaluation` (metrics, samples, quality-diversity rows, the fitted FID
extractor); :func:`write_outputs` writes it atomically. ``stages/evaluate.py`` only glues them.

Choices, and why
----------------
- **References are the raw test sentences**, ``data/interim/test.txt`` tokenized with the
  tokenizer level the vocabulary was built with (``vocab.json`` records it, so evaluate needs no
  tokenizer param of its own), not the encoded ``test.npy`` decoded back. Decoding would turn
  rare words into ``<unk>`` (a sample's ``<unk>`` would then *match* a reference's) and cut
  references at ``tokenize.max_len``, both of which inflate BLEU; the published COCO protocol
  scores against the raw test sentences' tokens. The same holds for the train split (FID
  extractor, novelty, the real-data row). NLL is the exception: it needs ids, so it runs on the
  encoded ``test.npy``.
- **Samples are token lists straight from the vocabulary** (no detokenize/retokenize round
  trip). ``metrics/samples/{mle,gan}.txt`` hold them joined by single spaces (word level; char
  level: concatenated), so ``line.split()`` gives back exactly the hypotheses that were scored.
- **Seeds.** Every random draw has its own stream derived from ``params.seed`` and a fixed key
  (:func:`stream_seed`). The MLE and GAN generators get the *same* stream for the same purpose
  (common random numbers), which lowers the variance of the ``delta.*`` figures.
- **Real-data reference row** (``real.*``): ``min(num_samples, n_train)`` training sentences
  (seeded draw) scored like samples: BLEU-n against all test sentences, FID against the test
  set (``real.fid_train``; on COCO a topic-shift distance, not a floor), novelty/distinct-n;
  self-BLEU of ``min(num_samples, n_test)`` test sentences (same size as the samples, so it is
  comparable); ``real.fid_floor`` = FID between two seeded halves of the test set (the floor at
  that size) and ``real.fid_shuffle_ratio`` (does the extractor see word order?). On the built-in
  corpus: validity / oracle NLL of the test sentences and the mode JS of the training draw vs the
  test split (the sampling-noise floor of ``mode_js``).

Outputs (:func:`write_outputs`): ``metrics/evaluate.json`` (blocks ``mle``, ``gan``,
``delta`` = gan - mle, ``real``; headline keys first), ``metrics/samples/{mle,gan}.txt``,
``metrics/samples/modes.json`` (built-in corpus: review-mode fractions of the samples and of the
test split), ``metrics/plots/quality_diversity.csv`` and ``models/fid/extractor.npz``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gantext.config import EvaluateConfig
from gantext.data import load_corpus
from gantext.errors import DataError
from gantext.io import read_lines, write_csv, write_json, write_lines, write_text
from gantext.metrics.bleu import bleu, self_bleu
from gantext.metrics.diversity import diversity_metrics
from gantext.metrics.fid import FeatureExtractor, fid, halves, shuffle_ratio
from gantext.metrics.nll import nll_metrics
from gantext.metrics.oracle import Oracle, mode_counts, oracle_metrics
from gantext.metrics.quality_diversity import qd_row, sweep
from gantext.models.generator import Generator
from gantext.paths import Paths
from gantext.text.tokenizer import detokenize, tokenize_lines
from gantext.text.vocab import Vocab

__all__ = ["EvalData", "Evaluation", "DELTA_KEYS", "NS", "draw_samples", "evaluate",
           "generator_metrics", "load_eval_data", "ordered_metrics", "real_metrics", "stream_seed",
           "write_outputs"]

NS = (2, 3, 4, 5)
#: Metrics that get a ``delta.<key>`` = gan - mle entry.
DELTA_KEYS = (*(f"bleu{n}" for n in NS), *(f"sbleu{n}" for n in NS), "fid", "nll", "nll_anchor",
              "validity", "oracle_nll", "mode_js")

#: Column order of metrics/evaluate.json, which is what `dvc exp show` / `dvc metrics show`
#: display: the headline figures first (blocks mle, gan, delta, real; in each block BLEU,
#: self-BLEU, FID, NLL, grammar oracle), the rest after them.
BLOCK_ORDER = ("mle", "gan", "delta", "real")
KEY_ORDER = (*(f"bleu{n}" for n in NS), *(f"sbleu{n}" for n in NS), "fid", "fid_floor",
             "fid_train", "nll", "nll_anchor", "validity", "oracle_nll", "mode_js",
             "oracle_nll_token", "distinct_1", "distinct_2", "distinct_3", "distinct_4", "unique",
             "novelty", "len", "fid_shuffle_ratio")

# Keys of the independent random streams (see stream_seed); never renumber them, or every
# published number changes.
_SAMPLES, _SWEEP, _REAL_TRAIN, _REAL_TEST, _FID_FIT, _FID_HALVES = range(1, 7)

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(f"evaluate: {msg}", file=sys.stderr, flush=True)


def stream_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed for the random stream named by `keys`, derived from the params seed.

    The keys go into numpy's SeedSequence as a spawn key, not as extra entropy words: entropy
    lists are zero-padded, so ``[seed, 2]`` and ``[seed, 2, 0]`` would name the same stream.
    """
    ss = np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in keys))
    return int(ss.generate_state(1, np.uint32)[0])


# ---------------------------------------------------------------------- data
@dataclass(frozen=True)
class EvalData:
    """What the protocol reads: raw token lists of the train split and of the reference split
    (``test``; the valid split when ``evaluate.split`` is ``valid``) and its encoded rows."""

    vocab: Vocab
    max_len: int
    train: list[list[str]]
    test: list[list[str]]
    test_encoded: torch.Tensor

    @property
    def level(self) -> str:
        return self.vocab.level


def load_eval_data(paths: Paths, split: str = "test") -> EvalData:
    """Read the interim train text and the reference split's text (tokenized at the vocabulary's
    level), the reference split's encoded rows and the vocabulary from the tokenize stage.

    `split` is ``test`` (the protocol) or ``valid`` (``evaluate.split: valid``, for choosing
    hyperparameters without looking at test); either way it lands in ``EvalData.test``.
    """
    corpus = load_corpus(paths)
    encoded = {"test": corpus.test, "valid": corpus.valid}[split]
    texts = {}
    for name in ("train", split):
        f = paths.split_text(name)
        if not f.is_file():
            raise DataError(f"{f}: not found; run `dvc repro ingest` first")
        texts[name] = tokenize_lines(read_lines(f), corpus.vocab.level)
    ref = paths.split_text(split)
    if len(texts[split]) < 4:
        fix = ("raise ingest.valid_fraction" if split == "valid"
               else "raise ingest.test_fraction or use a larger corpus")
        raise DataError(f"{ref}: {len(texts[split])} sentence(s); the evaluation (evaluate.split "
                        f"= {split}) needs at least 4 (two halves of 2 for the FID floor): {fix}")
    if len(texts[split]) != len(encoded):
        raise DataError(f"{ref} has {len(texts[split])} lines but {paths.encoded(split)} has "
                        f"{len(encoded)} rows: stale data; run `dvc repro tokenize`")
    return EvalData(vocab=corpus.vocab, max_len=corpus.max_len, train=texts["train"],
                    test=texts[split], test_encoded=encoded)


# ---------------------------------------------------------------------- sampling
def draw_samples(model: Generator, vocab: Vocab, n: int, max_len: int, temperature: float,
                 seed: int, batch_size: int) -> list[list[str]]:
    """`n` samples (token lists, without <eos>) from a seeded torch.Generator on the model's
    device: the shared sampler (:mod:`gantext.models.sampling`), so the result depends only on
    (model, n, temperature, seed, batch_size) and the device."""
    g = torch.Generator(device=model.device)  # noise drawn where the model runs
    g.manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        ids, lens = model.sample(n, max_len, temperature=temperature, generator=g,
                                 batch_size=batch_size)
    finally:
        model.train(was_training)
    itos = vocab.itos
    # Rows hold tokens up to <eos> (pad/bos are masked out of sampling), so a slice suffices.
    return [[itos[i] for i in row[:k]] for row, k in zip(ids.cpu().tolist(), lens.cpu().tolist())]


def _to_words(sents: Sequence[Sequence[str]], level: str) -> list[list[str]]:
    """Token lists -> word tokens (what the grammar oracle scores): identity at word level."""
    if level == "word":
        return [list(s) for s in sents]
    return tokenize_lines([detokenize(s, level) for s in sents], "word")


# ---------------------------------------------------------------------- metrics
@dataclass
class OracleContext:
    """The grammar oracle seen through the tokenizer level (char-level sentences are re-read as
    words, which is what the grammar scores), its mode names and the test split's mode counts."""

    oracle: Oracle
    modes: tuple[str, ...]
    level: str
    test_modes: np.ndarray | None = None

    def score_many(self, sents: Sequence[Sequence[str]]) -> tuple[Any, Any, list]:
        return self.oracle.score_many(_to_words(sents, self.level))

    def metrics(self, sents: Sequence[Sequence[str]]) -> dict[str, Any]:
        """validity, oracle NLL, mode JS against the test split, mode fractions."""
        return oracle_metrics(self, sents, self.modes, self.test_modes)

    def counts(self, sents: Sequence[Sequence[str]]) -> np.ndarray:
        return mode_counts(self, sents, self.modes)


def _bleu_block(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> dict[str, float]:
    return {f"bleu{n}": v for n, v in bleu(hyps, refs, NS).items()}


def _sbleu_block(sents: Sequence[Sequence[str]]) -> dict[str, float]:
    return {f"sbleu{n}": v for n, v in self_bleu(sents, NS).items()}


def _finite(x: float) -> float | None:
    """JSON has no inf/nan: those become null."""
    return float(x) if math.isfinite(x) else None


def generator_metrics(model: Generator, samples: Sequence[Sequence[str]], data: EvalData,
                      extractor: FeatureExtractor, cfg: EvaluateConfig,
                      device: torch.device | str = "cpu", oracle: OracleContext | None = None
                      ) -> tuple[dict[str, Any], dict[str, float] | None]:
    """The per-generator block (``mle.*`` / ``gan.*``) and, with an oracle, its mode fractions."""
    out: dict[str, Any] = {}
    out.update(_bleu_block(samples, data.test))
    out.update(_sbleu_block(samples))
    out["fid"] = fid(extractor, data.test, samples)
    if getattr(model, "exact_likelihood", True):  # d_resample (metrics/resample.py) has none
        nll = nll_metrics(model, data.test_encoded, cfg.batch_size, device)
        out["nll"], out["nll_anchor"] = _finite(nll["nll"]), _finite(nll["nll_anchor"])
    out.update(diversity_metrics(samples, data.train))
    out["len"] = float(np.mean([len(s) for s in samples]))
    modes = None
    if oracle is not None:
        om = oracle.metrics(samples)
        modes = om.pop("modes")
        out.update(om)
    return out, modes


def _subset(sents: Sequence[Sequence[str]], n: int, seed: int) -> list[list[str]]:
    """A seeded draw of min(n, len) sentences without replacement."""
    order = np.random.default_rng(seed).permutation(len(sents))[: min(n, len(sents))]
    return [list(sents[i]) for i in order]


def real_metrics(data: EvalData, extractor: FeatureExtractor, cfg: EvaluateConfig, seed: int,
                 oracle: OracleContext | None = None) -> tuple[dict[str, Any], dict[str, float] | None]:
    """The real-data reference row (``real.*``; see the module docstring)."""
    train_draw = _subset(data.train, cfg.num_samples, stream_seed(seed, _REAL_TRAIN))
    test_draw = _subset(data.test, cfg.num_samples, stream_seed(seed, _REAL_TEST))
    out: dict[str, Any] = {}
    out.update(_bleu_block(train_draw, data.test))
    out.update(_sbleu_block(test_draw))
    half_seed = stream_seed(seed, _FID_HALVES)
    out["fid_floor"] = fid(extractor, *halves(data.test, half_seed))
    out["fid_train"] = fid(extractor, data.test, train_draw)
    out["fid_shuffle_ratio"] = shuffle_ratio(extractor, data.test, half_seed)
    out.update(diversity_metrics(test_draw, data.train))
    out["len"] = float(np.mean([len(s) for s in test_draw]))
    modes = None
    if oracle is not None:
        om = oracle.metrics(data.test)
        modes = om.pop("modes")
        out.update(om)
        # mode_js of the test split against itself is 0 by definition; the informative floor is
        # a training draw of the samples' size against the test split.
        out["mode_js"] = oracle.metrics(train_draw)["mode_js"]
    return out, modes


def deltas(metrics: Mapping[str, Mapping[str, Any]], a: str = "mle", b: str = "gan"
           ) -> dict[str, float]:
    """``b - a`` for every :data:`DELTA_KEYS` entry both blocks hold (non-null)."""
    out = {}
    for k in DELTA_KEYS:
        x, y = metrics.get(a, {}).get(k), metrics.get(b, {}).get(k)
        if x is not None and y is not None:
            out[k] = float(y) - float(x)
    return out


# ---------------------------------------------------------------------- the protocol
@dataclass
class Evaluation:
    """Everything the evaluate stage writes."""

    metrics: dict[str, dict[str, Any]]
    samples: dict[str, list[list[str]]]
    qd_rows: list[dict[str, Any]]
    extractor: FeatureExtractor
    modes: dict[str, dict[str, float]] = field(default_factory=dict)
    level: str = "word"


def evaluate(generators: Mapping[str, Generator], data: EvalData, cfg: EvaluateConfig, seed: int,
             oracle: Oracle | None = None, modes: Sequence[str] = (),
             device: torch.device | str = "cpu", log: Log = _stderr) -> Evaluation:
    """Run the fixed protocol on every generator (``{"mle": ..., "gan": ...}``).

    `oracle` (the grammar, built-in corpus only) adds validity / oracle NLL / mode JS with the
    review modes `modes`. Deterministic given (generators, data, cfg, seed) on CPU.
    """
    if cfg.num_samples < 2 or cfg.sweep_samples < 2:
        raise DataError("evaluate.num_samples and evaluate.sweep_samples must be >= 2 "
                        "(self-BLEU scores each sample against the others)")
    ctx = None
    if oracle is not None:
        ctx = OracleContext(oracle, tuple(modes), data.level)
        ctx.test_modes = ctx.counts(data.test)

    log(f"fitting the FID extractor on {len(data.train)} training sentences")
    extractor = FeatureExtractor.fit(data.train, cfg.fid, seed=stream_seed(seed, _FID_FIT))

    metrics: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[list[str]]] = {}
    mode_fracs: dict[str, dict[str, float]] = {}
    sample_seed = stream_seed(seed, _SAMPLES)
    for name, model in generators.items():
        log(f"{name}: {cfg.num_samples} samples at temperature {cfg.temperature:g}, metrics")
        samples[name] = draw_samples(model, data.vocab, cfg.num_samples, data.max_len,
                                     cfg.temperature, sample_seed, cfg.batch_size)
        metrics[name], m = generator_metrics(model, samples[name], data, extractor, cfg, device, ctx)
        if m is not None:
            mode_fracs[name] = m

    log("real-data reference row")
    metrics["real"], m = real_metrics(data, extractor, cfg, seed, ctx)
    if m is not None:
        mode_fracs["test"] = m
    if {"mle", "gan"} <= set(generators):
        metrics["delta"] = deltas(metrics)

    temps = list(cfg.sweep_temperatures)

    def sample(name: str, t: float, n: int) -> list[list[str]]:
        # one stream per temperature, shared by the models (common random numbers)
        return draw_samples(generators[name], data.vocab, n, data.max_len, t,
                            stream_seed(seed, _SWEEP, temps.index(t)), cfg.batch_size)

    rows = sweep(list(generators), temps, cfg.sweep_samples, sample, data.test, ctx, log)
    real_draw = _subset(data.train, cfg.sweep_samples, stream_seed(seed, _REAL_TRAIN))
    rows.append(qd_row("real", None, real_draw, data.test, ctx))
    return Evaluation(metrics=metrics, samples=samples, qd_rows=rows, extractor=extractor,
                      modes=mode_fracs, level=data.level)


# ---------------------------------------------------------------------- outputs
def ordered_metrics(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """`metrics` re-keyed in :data:`BLOCK_ORDER` / :data:`KEY_ORDER` (unknown keys after the
    known ones, sorted), so the JSON's column order is fixed."""
    def rank(order: Sequence[str], k: str) -> tuple[int, str]:
        return (order.index(k), "") if k in order else (len(order), k)

    return {b: {k: metrics[b][k] for k in sorted(metrics[b], key=lambda k: rank(KEY_ORDER, k))}
            for b in sorted(metrics, key=lambda b: rank(BLOCK_ORDER, b))}


def write_outputs(result: Evaluation, paths: Paths) -> list[Any]:
    """Write every output atomically; return the files worth logging as artifacts."""
    result.extractor.save(paths.fid_extractor)
    files = []
    for name, sents in result.samples.items():
        f = paths.samples_dir / f"{name}.txt"
        write_lines(f, [detokenize(s, result.level) for s in sents])
        files.append(f)
    if result.modes:
        f = paths.samples_dir / "modes.json"
        write_json(f, result.modes)
        files.append(f)
    write_csv(paths.plot_csv("quality_diversity"), result.qd_rows)
    # Not io.write_json (sorted keys): the fixed order above puts what matters in the first
    # columns of `dvc exp show`, and is just as stable for diffs.
    write_text(paths.metrics_json("evaluate"),
               json.dumps(ordered_metrics(result.metrics), indent=2, ensure_ascii=False) + "\n")
    files += [paths.plot_csv("quality_diversity"), paths.metrics_json("evaluate")]
    return files
