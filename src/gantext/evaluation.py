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
  scores against the raw test sentences' tokens. The same holds for the train and valid splits (FID
  extractor, novelty, the real-data row). NLL is the exception: it needs ids, so it runs on the
  encoded ``test.npy``.
- **Samples are token lists straight from the vocabulary** (no detokenize/retokenize round
  trip). ``metrics/samples/{mle,gan}.txt`` hold them joined by single spaces (word level; char
  level: concatenated), so ``line.split()`` gives back exactly the hypotheses that were scored.
- **Seeds.** Every random draw has its own stream derived from ``params.seed`` and a fixed key
  (:func:`stream_seed`). The MLE and GAN generators get the *same* stream for the same purpose
  (common random numbers), which lowers the variance of the ``delta.*`` figures. The FID
  extractor is the exception: it is fitted once per corpus with a fixed seed, independent of
  ``params.seed`` (:func:`gantext.metrics.fid.load_or_fit`), so every seed uses the same ruler.
- **Like with like** (:mod:`gantext.metrics.reference`): models and the real-data row are scored
  at the same n, the real sample is drawn from the held-out pool (train + valid, or train when
  the reference split is valid), ``real.fid_floor`` is FID(references, real sample of n), and
  the sizes are written beside the figures (``n_samples``, ``n_refs``, ``pool_size``).
- **Uncertainty** (:mod:`gantext.metrics.bootstrap`): ``<key>_lo`` / ``<key>_hi`` = bootstrap
  95% interval of BLEU-n, self-BLEU-n and FID of every row and of their deltas
  (:data:`~gantext.metrics.bootstrap.RESAMPLES` resamples, one seeded stream per row).
- **Grammar figures** (built-in corpus): ``oracle_nll_token`` (per token, so shorter sentences do
  not win) with invalid samples in their own count ``oracle_invalid``; the delta is the change of
  the *distance to the real data* ``oracle_nll_gap`` = |oracle_nll_token - real's|, not a raw
  lower-is-better figure.

Outputs (:func:`write_outputs`): ``metrics/evaluate.json`` (blocks ``mle``, ``gan``,
``delta`` = gan - mle, ``real``; headline keys first; then ``protocol``: the interval settings
and the FID extractor's md5), ``metrics/samples/{mle,gan}.txt``,
``metrics/samples/modes.json`` (built-in corpus: review-mode fractions of the samples and of the
test split), ``metrics/plots/quality_diversity.csv`` and ``models/fid/extractor.npz``.
"""

from __future__ import annotations

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
from gantext.io import read_lines, write_csv, write_json, write_lines
from gantext.metrics import bootstrap
from gantext.metrics.diversity import diversity_metrics
from gantext.metrics.fid import EXTRACTOR_SEED, FeatureExtractor
from gantext.metrics.nll import nll_metrics
from gantext.metrics.oracle import Oracle, mode_counts, oracle_metrics
from gantext.metrics.quality_diversity import qd_point, sweep
from gantext.metrics.verdict import Point, sign_of, verdict_block, verdict_word
from gantext.metrics.reference import NS, Ruler, Scored, real_metrics, real_order, sample_sizes
from gantext.models.generator import Generator
from gantext.paths import Paths
from gantext.progress import progress
from gantext.text.tokenizer import detokenize, tokenize_lines
from gantext.text.vocab import Vocab

__all__ = ["EvalData", "Evaluation", "DELTA_KEYS", "CI_KEYS", "NS", "draw_samples", "evaluate",
           "generator_metrics", "load_eval_data", "ordered_metrics", "real_metrics", "stream_seed",
           "sweep_rows", "write_outputs"]

#: Figures with a bootstrap interval (``<key>_lo`` / ``<key>_hi``) in every row and in delta
#: (``fid_train``: against the held-out sentences of the training distribution, when there are).
CI_KEYS = (*(f"bleu{n}" for n in NS), *(f"sbleu{n}" for n in NS), "fid", "fid_train")
#: Metrics that get a ``delta.<key>`` = gan - mle entry. Grammar NLL enters as the change of the
#: distance to the real data (``oracle_nll_gap``), never as a raw lower-is-better figure.
DELTA_KEYS = (*CI_KEYS, "mauve", "mauve_test", "nll", "nll_anchor", "len", "validity",
              "oracle_nll_gap", "mode_js")

#: The verdict block's keys in the order `dvc exp show` shows them (gantext.metrics.verdict):
#: the verdicts first (1 above / 0 inside noise / -1 below), then the gaps with their intervals.
_GAP = ("gap_mean", "gap_mean_lo", "gap_mean_hi", "gap_max", "gap_max_lo", "gap_max_hi")
VERDICT_ORDER = ("vs_mle", "vs_mle_lm", "vs_control", "vs_control_lm", "fid_train_vs_mle",
                 "fid_train_vs_control", *_GAP, *(f"lm_{k}" for k in _GAP),
                 *(f"control_{k}" for k in _GAP), *(f"lm_control_{k}" for k in _GAP),
                 "real_gap", "lm_real_gap", "overlap_lo", "overlap_hi", "n_sweep", "line")

#: Column order of metrics/evaluate.json, which is what `dvc exp show` / `dvc metrics show`
#: display: the headline figures first (blocks mle, gan, delta, real; in each block BLEU,
#: self-BLEU, FID, NLL, grammar oracle), the rest after them.
BLOCK_ORDER = ("verdict", "mle", "gan", "control", "delta", "delta_control", "real")
KEY_ORDER = (*VERDICT_ORDER, *(f"bleu{n}" for n in NS), *(f"sbleu{n}" for n in NS), "fid_train",
             "fid_train_floor", "fid", "fid_floor", "mauve", "mauve_test", "nll", "nll_anchor", "validity", "oracle_nll", "mode_js",
             "oracle_nll_token", "oracle_nll_gap", "oracle_invalid", "distinct_1", "distinct_2",
             "distinct_3", "distinct_4", "unique", "novelty", "len", "n_samples", "n_refs",
             "pool_size", "fid_halves", "n_halves", "fid_shuffle_ratio",
             "n_heldout",
             *(f"{k}_{e}" for k in (*CI_KEYS, "fid_floor", "fid_train_floor")
               for e in ("lo", "hi")))

# Keys of the independent random streams (see stream_seed); never renumber them, or every
# published number changes. (_REAL_TEST and _FID_FIT are retired: the real sample comes from the
# held-out pool, the FID extractor has a fixed seed.) _REAL_TRAIN_ONLY: the real sample from the
# train split alone (the floor against the held-out training-distribution sentences);
# _VERDICT: the verdict's paired bootstrap. _REVERSE_LM: the LM / reverse-LM scores' training.
(_SAMPLES, _SWEEP, _REAL_TRAIN, _REAL_TEST, _FID_FIT, _FID_HALVES, _BOOTSTRAP, _REAL_TRAIN_ONLY,
 _VERDICT, _REVERSE_LM) = range(1, 11)

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
    (``test``; the valid split when ``evaluate.split`` is ``valid``) and its encoded rows, and
    the held-out pool the real sample is drawn from (every split but the reference split and,
    for ``split: valid``, test). ``heldout``: sentences of the *training* distribution that no
    model trained on (the validation split, carved from the training files), the reference of
    the FID criterion ``fid_train``; empty when there is no validation split."""

    vocab: Vocab
    max_len: int
    train: list[list[str]]
    test: list[list[str]]
    test_encoded: torch.Tensor
    pool: list[list[str]] = field(default_factory=list)
    pool_splits: tuple[str, ...] = ("train",)
    heldout: list[list[str]] = field(default_factory=list)

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
    # the held-out pool: real sentences the reference split does not hold (never test when the
    # reference is valid: choosing hyperparameters must not look at test)
    pool_splits = ("train", "valid") if split == "test" else ("train",)
    texts = {}
    for name in dict.fromkeys((*pool_splits, split)):
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
                    test=texts[split], test_encoded=encoded,
                    pool=[s for name in pool_splits for s in texts[name]], pool_splits=pool_splits,
                    heldout=texts["valid"])


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


def _finite(x: float) -> float | None:
    """JSON has no inf/nan: those become null."""
    return float(x) if math.isfinite(x) else None


def generator_metrics(model: Generator, samples: Sequence[Sequence[str]], data: EvalData,
                      ruler: Ruler, boot_seed: int, device: torch.device | str = "cpu",
                      oracle: OracleContext | None = None
                      ) -> tuple[Scored, dict[str, float] | None]:
    """The per-generator block (``mle.*`` / ``gan.*``, with bootstrap replicates for the delta
    intervals) and, with an oracle, its mode fractions."""
    row = ruler.score(samples, boot_seed)
    out = row.metrics
    # NLL with the project's one batch size (metrics.nll.NLL_BATCH_SIZE): the same bits as the
    # pretrain stage's figure for the same model and split
    if getattr(model, "exact_likelihood", True):  # d_resample (metrics/resample.py) has none
        nll = nll_metrics(model, data.test_encoded, device=device)
        out["nll"], out["nll_anchor"] = _finite(nll["nll"]), _finite(nll["nll_anchor"])
    out.update(diversity_metrics(samples, data.train))
    out["len"] = float(np.mean([len(s) for s in samples]))
    modes = None
    if oracle is not None:
        om = oracle.metrics(samples)
        modes = om.pop("modes")
        out.update(om)
    return row, modes


def deltas(rows: Mapping[str, Scored], a: str = "mle", b: str = "gan") -> dict[str, float]:
    """``b - a`` for every :data:`DELTA_KEYS` entry both blocks hold (non-null), and the bootstrap
    interval of the difference for :data:`CI_KEYS` (independent resamples of the two rows)."""
    out: dict[str, float] = {}
    ma, mb = rows[a].metrics, rows[b].metrics
    for k in DELTA_KEYS:
        x, y = ma.get(k), mb.get(k)
        if x is not None and y is not None:
            out[k] = float(y) - float(x)
    for k in CI_KEYS:
        if k in out:
            out[f"{k}_lo"], out[f"{k}_hi"] = bootstrap.interval(
                out[k], rows[b].reps[k] - rows[a].reps[k])
    return out


# ---------------------------------------------------------------------- the protocol
def sweep_rows(generators: Mapping[str, Generator], data: EvalData, cfg: EvaluateConfig,
               seed: int, ctx: OracleContext | None = None, log: Log = _stderr,
               on_draw: Callable[[int], Any] | None = None,
               points: dict[str, list[Point]] | None = None,
               headline: Mapping[str, Sequence[Sequence[str]]] | None = None
               ) -> list[dict[str, Any]]:
    """The quality-diversity sweep of `generators` and its ``real`` row, from the evaluate
    stage's sample streams: one stream per temperature, shared by the models (common random
    numbers), and the first ``n_sweep`` sentences of the headline real sample. A script that
    re-scores an experiment's curve (bench/coco/length_matched.py) gets the stage's samples.
    `points` (optional) collects the per-sentence scores of every point, the real one under
    ``"real"`` (what the verdict resamples). `headline` (the models' samples at
    ``evaluate.temperature``, when the caller has them): the sweep point at that temperature
    takes their first n_sweep instead of drawing again, when there are enough."""
    temps = list(cfg.sweep_temperatures)
    _, n_sweep = sample_sizes(cfg.num_samples, cfg.sweep_samples, len(data.pool))

    def sample(name: str, t: float, k: int) -> list[list[str]]:
        if headline and t == cfg.temperature and k <= len(headline.get(name, ())):
            # the headline samples at this temperature: their first k are a sample of k (drawn
            # once, not twice; on COCO a sixth of the sweep's sampling)
            return [list(s) for s in headline[name][:k]]
        drawn = draw_samples(generators[name], data.vocab, k, data.max_len, t,
                             stream_seed(seed, _SWEEP, temps.index(t)), cfg.batch_size)
        if on_draw is not None:
            on_draw(k)
        return drawn

    rows = sweep(list(generators), temps, n_sweep, sample, data.test, ctx, log, points)
    real_sample = real_order(data.pool, stream_seed(seed, _REAL_TRAIN))
    row, point = qd_point("real", None, real_sample[:n_sweep], data.test, ctx)
    rows.append(row)
    if points is not None:
        points["real"] = [point]
    return rows


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
             device: torch.device | str = "cpu", log: Log = _stderr,
             extractor: FeatureExtractor | None = None) -> Evaluation:
    """Run the fixed protocol on every generator (``{"mle": ..., "gan": ...}``, and the
    in-run control ``"control"`` when the adversarial stage trained one).

    `oracle` (the grammar, built-in corpus only) adds validity / oracle NLL / mode JS with the
    review modes `modes`. `extractor` is the corpus' FID ruler (the stage passes the one from
    :func:`gantext.metrics.fid.load_or_fit`); without it one is fitted on the train split with
    the fixed seed. With ``mle`` and ``gan`` the metrics hold the ``verdict`` block
    (:func:`verdict`). Deterministic given (generators, data, cfg, seed) on CPU.
    """
    if isinstance(cfg.num_samples, str) or isinstance(cfg.sweep_samples, str):
        raise ValueError("evaluate() needs sample counts, not 'auto': pass "
                         "cfg.resolved(ingest.source)")
    if cfg.num_samples < 2 or cfg.sweep_samples < 2:
        raise DataError("evaluate.num_samples and evaluate.sweep_samples must be >= 2 "
                        "(self-BLEU scores each sample against the others)")
    n, n_sweep = sample_sizes(cfg.num_samples, cfg.sweep_samples, len(data.pool),
                              warn=lambda m: log(f"warning: {m}"))
    ctx = None
    if oracle is not None:
        ctx = OracleContext(oracle, tuple(modes), data.level)
        ctx.test_modes = ctx.counts(data.test)

    if extractor is None:
        log(f"fitting the FID extractor on {len(data.train)} training sentences")
        extractor = FeatureExtractor.fit(data.train, cfg.fid)
    if len(data.heldout) < 2:
        log("warning: fewer than 2 validation sentences: no FID against the held-out training "
            "distribution (fid_train) and no verdict on it; raise ingest.valid_fraction")
    ruler = Ruler(data.test, extractor, heldout=data.heldout, mauve=cfg.mauve)

    rows: dict[str, Scored] = {}
    samples: dict[str, list[list[str]]] = {}
    mode_fracs: dict[str, dict[str, float]] = {}
    sample_seed = stream_seed(seed, _SAMPLES)
    temps = list(cfg.sweep_temperatures)
    # rate + ETA in units of sentences drawn and scored (headline, real row, sweep points)
    reused = n_sweep <= n and cfg.temperature in temps  # see sweep_rows(headline=...)
    bar = progress(total=(len(generators) + 1) * n
                   + len(generators) * (len(temps) - reused) * n_sweep,
                   desc="evaluate", unit="sentence")
    for i, (name, model) in enumerate(generators.items()):
        log(f"{name}: {n} samples at temperature {cfg.temperature:g}, metrics")
        samples[name] = draw_samples(model, data.vocab, n, data.max_len,
                                     cfg.temperature, sample_seed, cfg.batch_size)
        rows[name], m = generator_metrics(model, samples[name], data, ruler,
                                          stream_seed(seed, _BOOTSTRAP, i + 1), device, ctx)
        if m is not None:
            mode_fracs[name] = m
        bar.update(n)

    real_sample = real_order(data.pool, stream_seed(seed, _REAL_TRAIN))
    log(f"real-data reference row: {n} sentences drawn from {'+'.join(data.pool_splits)} "
        f"({len(data.pool)}), scored against {len(data.test)} references")
    train_sample = real_order(data.train, stream_seed(seed, _REAL_TRAIN_ONLY))[:n]
    rows["real"] = real_metrics(ruler, real_sample[:n], data.train,
                                stream_seed(seed, _BOOTSTRAP, 0), stream_seed(seed, _FID_HALVES),
                                len(data.pool), ctx, train_sample=train_sample)
    bar.update(n)
    if ctx is not None and ctx.test_modes is not None:
        total = float(ctx.test_modes.sum())
        mode_fracs["test"] = {m: (float(c / total) if total else 0.0)
                              for m, c in zip(ctx.modes, ctx.test_modes)}
    metrics = {name: row.metrics for name, row in rows.items()}
    if cfg.reverse_lm.enabled:  # the second ruler: lm_score / reverse_lm_score in every row
        from gantext.metrics.reverse_lm import lm_scores

        scored = lm_scores({**samples, "real": real_sample[:n]}, data.train, data.heldout,
                           data.test_encoded, data.vocab, data.max_len, cfg.reverse_lm,
                           stream_seed(seed, _REVERSE_LM), device, log)
        for name, block in scored.items():
            metrics[name].update(block)
    if ctx is not None:  # grammar NLL as a distance to the real data's (same n, per token)
        real_tok = metrics["real"]["oracle_nll_token"]
        for name in generators:
            tok = metrics[name]["oracle_nll_token"]
            metrics[name]["oracle_nll_gap"] = (None if tok is None or real_tok is None
                                               else abs(tok - real_tok))
    if {"mle", "gan"} <= set(generators):
        metrics["delta"] = deltas(rows)
    if {"control", "gan"} <= set(generators):
        metrics["delta_control"] = deltas(rows, "control", "gan")
    metrics["protocol"] = {
        "real_sample_from": "+".join(data.pool_splits),
        "ci_level": bootstrap.LEVEL,
        "ci_resamples": bootstrap.RESAMPLES,
        "ci_seed": stream_seed(seed, _BOOTSTRAP, 0),
        "fid_extractor_md5": extractor.md5,
        "fid_extractor_seed": EXTRACTOR_SEED,
        "num_samples": n,
        "sweep_samples": n_sweep,
        "sweep_temperatures": ", ".join(f"{t:g}" for t in temps),
    }

    points: dict[str, list[Point]] = {}
    qd = sweep_rows(generators, data, cfg, seed, ctx, log, bar.update, points, samples)
    bar.close()
    if {"mle", "gan"} <= set(generators):
        log("verdict: the GAN's quality-diversity curve against MLE's"
            + (" and the control's" if "control" in generators else "")
            + " (paired bootstrap)")
        metrics["verdict"] = verdict(points, metrics, stream_seed(seed, _VERDICT))
    return Evaluation(metrics=metrics, samples=samples, qd_rows=qd, extractor=extractor,
                      modes=mode_fracs, level=data.level)


def verdict(points: Mapping[str, Sequence[Point]], metrics: Mapping[str, Mapping[str, Any]],
            seed: int) -> dict[str, Any]:
    """The ``verdict`` block: the GAN's curve against MLE's (and the control's) at equal
    diversity and at equal length (:func:`gantext.metrics.verdict.verdict_block`), the FID
    criterion (against the held-out training distribution: 1 higher than MLE's beyond noise,
    -1 lower, 0 inside noise), and one line that says it in words."""
    curves = {m: p for m, p in points.items() if m != "real"}
    real = points["real"][0] if "real" in points else None
    out = verdict_block(curves, real, seed)
    out["n_sweep"] = points["gan"][0].n
    for ref, block in (("mle", "delta"), ("control", "delta_control")):
        d = metrics.get(block) or {}
        if "fid_train_lo" in d:
            out[f"fid_train_vs_{ref}"] = sign_of(d["fid_train_lo"], d["fid_train_hi"])
    out["line"] = verdict_line(out)
    return out


def verdict_line(v: Mapping[str, Any]) -> str:
    """One sentence: above MLE's curve yes / no / inside noise, at equal diversity and at equal
    length, the same against the control, and the FID criterion."""
    def fmt(prefix: str) -> str:
        if f"{prefix}gap_mean" not in v:
            return "not comparable (the curves do not overlap: widen evaluate.sweep_temperatures)"
        return (f"mean gap {v[f'{prefix}gap_mean']:+.4f} [{v[f'{prefix}gap_mean_lo']:+.4f}, "
                f"{v[f'{prefix}gap_mean_hi']:+.4f}]")

    parts = [f"above MLE's curve: {verdict_word(v.get('vs_mle'))} ({fmt('')}); at equal length: "
             f"{verdict_word(v.get('vs_mle_lm'))} ({fmt('lm_')})"]
    if "vs_control" in v:
        parts.append(f"above the control's: {verdict_word(v.get('vs_control'))} "
                     f"({fmt('control_')}); at equal length: "
                     f"{verdict_word(v.get('vs_control_lm'))} ({fmt('lm_control_')})")
    fid_words = {1: "higher (worse) than MLE's", -1: "lower (better) than MLE's",
                 0: "inside noise of MLE's"}
    if "fid_train_vs_mle" in v:
        parts.append(f"FID against the training distribution: {fid_words[v['fid_train_vs_mle']]}")
    return "; ".join(parts)


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
    # sort_keys=False: the fixed order above puts what matters in the first columns of
    # `dvc exp show`; write_json also keeps NaN/Infinity out of the file (they are not JSON).
    write_json(paths.metrics_json("evaluate"), ordered_metrics(result.metrics), sort_keys=False)
    files += [paths.plot_csv("quality_diversity"), paths.metrics_json("evaluate")]
    return files
