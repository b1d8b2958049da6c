"""Typed, frozen configuration loaded from params.yaml.

params.yaml is the single source of truth: each section maps onto a frozen dataclass below,
unknown keys are rejected with their dotted path and the valid keys, and every value is checked
for type and range so a typo fails before any work starts. Functions receive these objects;
nothing but :func:`load_params` opens params.yaml.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from gantext.configfields import flatten, param, section, to_dict  # noqa: F401 (re-exported)
from gantext.errors import ConfigError

__all__ = [
    "ConfigError",
    "Params",
    "load_params",
    "params_from_dict",
    "to_dict",
]


_f = param
_sub = section


# ----------------------------------------------------------------------------- ingest
@dataclass(frozen=True)
class BuiltinCorpusConfig:
    """The built-in "Quantum Coffee Maker" review grammar."""

    num_sentences: int = _f(20000, ge=10, help="sentences sampled from the grammar")


@dataclass(frozen=True)
class IngestConfig:
    """Where the corpus comes from and how it is cleaned and split."""

    source: Literal["builtin", "files"] = _f("builtin")
    builtin: BuiltinCorpusConfig = _sub(BuiltinCorpusConfig)
    paths: tuple[str, ...] = _f((), help="files or globs (source: files)")
    test_paths: tuple[str, ...] = _f((), help="files or globs holding a shipped test split")
    text_column: str = _f("text", help="column holding the text in csv/tsv/jsonl/parquet")
    lowercase: bool = _f(True)
    min_tokens: int = _f(1, ge=1, help="shorter sentences are rejected (too_short)")
    max_tokens: int = _f(60, ge=1, help="longer sentences are rejected (too_long)")
    dedupe: bool = _f(False, help="reject exact duplicates within a split after cleaning")
    leakage: Literal["auto", "drop", "keep"] = _f(
        "auto", help="train sentences also in valid/test: drop (from train) | keep | auto (drop "
        "for files, keep for the built-in grammar); see gantext/corpus/leakage.py")
    valid_fraction: float = _f(0.1, ge=0.0, lt=1.0)
    test_fraction: float = _f(0.1, ge=0.0, lt=1.0, help="ignored when test_paths is given")
    data_dir: str = _f("data/raw", help="folder DVC watches for ingest (a dvc.yaml dep via "
                       "${ingest.data_dir}); keep the corpus files under it")
    # Its own seed, not the top-level `seed`: experiments over `seed` vary the model only, and
    # every seed is scored on the same test split (the built-in corpus is the same sample too).
    split_seed: int = _f(0, ge=0, le=2**32 - 1, help="seed of the train/valid/test split (and of "
                         "the built-in corpus' sample); the top-level seed never moves the split")


# ----------------------------------------------------------------------------- tokenize
@dataclass(frozen=True)
class TokenizeConfig:
    """Tokenizer, vocabulary and fixed-length encoding."""

    level: Literal["word", "char"] = _f("word")
    min_freq: int = _f(1, ge=1, help="rarer train tokens map to <unk>")
    max_size: int = _f(0, ge=0, help="vocabulary cap without specials (0 = no cap)")
    # auto: the 99th percentile of the train split's lengths, at most 4x their median (one
    # outlier cannot widen every row; gantext.text.prepare.auto_max_len; recorded with its
    # reading in metrics/tokenize.json)
    max_len: int | Literal["auto"] = _f(32, ge=1, help="tokens per sentence before <eos>; longer "
                                        "ones are truncated; auto = 99th percentile of train, "
                                        "at most 4x the median")
    # [train, valid] = the whole training *file* when valid is carved from it (the COCO
    # anchors' ~4,660-type vocabulary); the test split may never shape the vocabulary.
    vocab_splits: tuple[Literal["train", "valid"], ...] = _f(
        ("train",), help="splits the vocabulary is built from: [train] or [train, valid]")


# ----------------------------------------------------------------------------- model
@dataclass(frozen=True)
class _GeneratorShared:
    """The generator; `arch` picks the architecture from gantext.models.generator.GENERATORS."""

    arch: str = _f("lstm", help="a name in gantext.models.generator.GENERATORS")
    embed_dim: int = _f(64, ge=1)
    hidden_dim: int = _f(128, ge=1, help="lstm: units per layer")
    num_layers: int = _f(1, ge=1, help="lstm: stacked layers")
    dropout: float = _f(0.0, ge=0.0, lt=1.0, help="pretraining only (0 in the adversarial phase)")


def _with_sections(name: str, shared: type, sections: dict[str, type]) -> type:
    """A frozen config class: the `shared` keys plus one sub-section per registry entry that
    declares a config dataclass (so a new objective or architecture needs no edit here)."""
    cls = dataclasses.make_dataclass(name, [(k, c, _sub(c)) for k, c in sections.items()],
                                     bases=(shared,), frozen=True)
    cls.__module__ = __name__
    cls.__doc__ = shared.__doc__
    return cls


def _generator_config() -> type:
    from gantext.models.generator import generator_sections  # imports torch

    return _with_sections("GeneratorConfig", _GeneratorShared, generator_sections())


GeneratorConfig = _generator_config()


@dataclass(frozen=True)
class _DiscriminatorShared:
    """The discriminator; `arch` picks it from gantext.models.discriminator.DISCRIMINATORS."""

    arch: str = _f("cnn", help="a name in gantext.models.discriminator.DISCRIMINATORS")
    embed_dim: int = _f(64, ge=1)
    kernel_sizes: tuple[int, ...] = _f((2, 3, 4, 5), ge=1, help="cnn: at least one width")
    num_filters: int = _f(64, ge=1, help="cnn: filters per kernel width")
    dropout: float = _f(0.25, ge=0.0, lt=1.0)
    spectral_norm: bool = _f(False)


def _discriminator_config() -> type:
    from gantext.models.discriminator import discriminator_sections  # imports torch

    return _with_sections("DiscriminatorConfig", _DiscriminatorShared, discriminator_sections())


DiscriminatorConfig = _discriminator_config()


@dataclass(frozen=True)
class ModelConfig:
    generator: GeneratorConfig = _sub(GeneratorConfig)
    discriminator: DiscriminatorConfig = _sub(DiscriminatorConfig)


# ----------------------------------------------------------------------------- pretrain
@dataclass(frozen=True)
class PretrainConfig:
    """MLE pretraining of the generator."""

    epochs: int = _f(12, ge=1)
    batch_size: int = _f(64, ge=1)
    lr: float = _f(0.01, gt=0.0)
    lr_decay: float = _f(0.8, gt=0.0, le=1.0, help="learning rate of epoch e is lr * lr_decay^(e-1)")
    grad_clip: float = _f(5.0, gt=0.0)
    patience: int = _f(3, ge=1, help="epochs without valid-NLL improvement before stopping")
    # after early stopping, from the best epoch: fresh Adam at a small fixed rate, kept while
    # each epoch lowers the valid NLL (what the mle-continued control showed a stopped MLE left)
    low_lr_epochs: int = _f(4, ge=0, help="epochs of the low-lr phase after early stopping "
                            "(0: none); it stops at the first epoch that does not improve")
    low_lr: float = _f(3e-4, gt=0.0, help="learning rate of the low-lr phase")
    device: str = _f("auto", help="auto | cpu | cuda | cuda:N")


# ----------------------------------------------------------------------------- adversarial
@dataclass(frozen=True)
class _AdversarialLoop:
    """The shared adversarial loop; `loss` picks the objective from the registry."""

    loss: str = _f("seqgan", help="a name in gantext.objectives.OBJECTIVES")
    steps: int = _f(300, ge=0)
    batch_size: int = _f(64, ge=1)
    grad_clip: float = _f(5.0, gt=0.0)
    log_every: int = _f(10, ge=1)
    sample_every: int = _f(100, ge=1)
    checkpoint_every: int = _f(50, ge=1)
    max_valid_nll_rise: float = _f(
        0.5, ge=0.0, help="if the valid NLL per token ends more than this above the MLE's, "
                          "keep the latest checkpoint (every checkpoint_every steps) within it; "
                          "0 = always keep the end")
    rollback_if_worse_everywhere: bool = _f(
        True, help="if the end has a higher valid NLL than the MLE and its quality-diversity "
                   "curve lies below the MLE's everywhere beyond noise (without a reading: no "
                   "gain in BLEU-5 or self-BLEU-5 beyond 2 standard errors), keep the latest "
                   "checkpoint that has a trade (or the MLE)")
    guard_temperatures: tuple[float, ...] = _f(
        (0.8, 1.0, 1.25), gt=0.0, help="temperatures of the guard's curve (T = 1 always among "
        "them); one temperature: the T = 1 rule alone")
    guard_samples: int = _f(2000, ge=2, help="samples (T = 1, fixed seed) behind the BLEU-5 and "
                                            "self-BLEU-5 of rollback_if_worse_everywhere")
    control: bool = _f(True, help="also train the control (mle-continued: the same generator "
                       "updates with the MLE loss, no D) from the same MLE, written beside the "
                       "generator and scored by evaluate as its own row")
    device: str = _f("auto")


def _adversarial_config() -> type:
    """The loop's keys plus one section per registered objective, each the objective's own
    config dataclass (its knobs and Adam settings, tuned per loss: switching `adversarial.loss`
    alone gives a working run)."""
    from gantext.objectives import objective_sections  # imports torch

    return _with_sections("AdversarialConfig", _AdversarialLoop, objective_sections())


AdversarialConfig = _adversarial_config()


# ----------------------------------------------------------------------------- evaluate
from gantext.metrics.resample import DResampleConfig  # noqa: E402 (owns its section; imports torch)
from gantext.metrics.length_match import LengthMatchConfig  # noqa: E402 (as above)
from gantext.metrics.reverse_lm import ReverseLMConfig  # noqa: E402 (as above)

#: Upper bound of ``evaluate.fid.svd_dim`` (see FIDConfig).
MAX_SVD_DIM = 256


@dataclass(frozen=True)
class FIDConfig:
    """Frozen feature extractor for the simplified FID."""

    ngram_min: int = _f(2, ge=1)
    ngram_max: int = _f(2, ge=1)
    # Each bootstrap replicate of FID is an eigendecomposition of an svd_dim^2 matrix (cubic
    # cost), 1,000 of them per row: 256 is ~15 s a row on one core, 1,600 was ~54 min.
    svd_dim: int = _f(32, ge=1, le=MAX_SVD_DIM,
                      help="feature dimensions; the bootstrap's FID cost grows with their cube")
    boundary: bool = _f(True, help="add <s>/</s> around sentences (boundary n-grams)")


#: The full protocol's sample counts on a real corpus (``source: files``) and on the built-in
#: grammar, which ``evaluate.num_samples`` / ``sweep_samples: auto`` resolve to.
FULL_PROTOCOL = {"files": (10000, 5000), "builtin": (2000, 4000)}


@dataclass(frozen=True)
class EvaluateConfig:
    """The fixed evaluation protocol (see ARCHITECTURE.md)."""

    # >= 2: self-BLEU scores each sample against the others, FID needs a covariance.
    num_samples: int | Literal["auto"] = _f(
        "auto", ge=2, help="samples per generator at temperature 1; auto = the full protocol: "
        "10000 on a real corpus, 2000 on the built-in grammar")
    temperature: float = _f(1.0, gt=0.0)
    # >= 2 distinct: the quality-diversity curve (and the verdict read off it) needs two points
    sweep_temperatures: tuple[float, ...] = _f((0.7, 0.85, 1.0, 1.2, 1.5), gt=0.0,
                                               help="at least 2 distinct temperatures > 0")
    sweep_samples: int | Literal["auto"] = _f(
        "auto", ge=2, help="samples per (generator, temperature) of the sweep; auto = 5000 on a "
        "real corpus, 4000 on the built-in grammar")
    batch_size: int = _f(500, ge=1, help="sampling / NLL batch size")
    # valid: for choosing hyperparameters without looking at test (see bench/coco/README.md)
    split: Literal["test", "valid"] = _f("test", help="the reference split: test | valid")
    fid: FIDConfig = _sub(FIDConfig)
    mauve: bool = _f(True, help="MAUVE next to FID, over the FID extractor's features")
    # discriminator-guided resampling of the GAN generator's samples (gantext.metrics.resample)
    d_resample: DResampleConfig = _sub(DResampleConfig)
    # both generators drawn at the training sentences' lengths (gantext.metrics.length_match)
    length_match: LengthMatchConfig = _sub(LengthMatchConfig)
    # LM / reverse-LM scores per row (gantext.metrics.reverse_lm): off by default, on in the protocol
    reverse_lm: ReverseLMConfig = _sub(ReverseLMConfig)
    device: str = _f("auto")

    def resolved(self, source: str, warn: Callable[[str], None] | None = None
                 ) -> "EvaluateConfig":
        """This config with ``auto`` sample counts replaced by the full protocol's for `source`
        (``ingest.source``); `warn` hears when a real corpus is evaluated on fewer samples."""
        full_n, full_sweep = FULL_PROTOCOL["files" if source == "files" else "builtin"]
        n = full_n if self.num_samples == "auto" else self.num_samples
        sweep = full_sweep if self.sweep_samples == "auto" else self.sweep_samples
        if warn is not None and source == "files" and (n < full_n or sweep < full_sweep):
            warn(f"evaluate.num_samples {n} / sweep_samples {sweep} are below the full "
                 f"protocol's {full_n} / {full_sweep} on a real corpus: wider intervals, and "
                 "self-BLEU / FID not comparable with figures at the full size; set them to auto")
        return dataclasses.replace(self, num_samples=n, sweep_samples=sweep)


# ----------------------------------------------------------------------------- runtime
@dataclass(frozen=True)
class RuntimeConfig:
    """How stages compute (not what): precision and determinism (see gantext.runtime)."""

    # bf16: autocast for training passes (fp32 weights/optimizer; fp16 is not offered: the -1e9
    # <pad>/<bos> logit overflows there); evaluation and reported NLLs are always fp32
    precision: Literal["fp32", "bf16"] = _f("bf16", help="training compute precision: fp32 | bf16")
    deterministic: bool = _f(True, help="deterministic kernels (CPU: free; CUDA: slower)")
    # the CPU stages keep freed memory for reuse (fast); past this resident size they stop
    # keeping it for the rest of the stage (gantext.runtime.trim_if_large)
    kept_heap_limit_gb: float = _f(2.0, ge=0.0, help="resident GB above which freed memory is "
                                   "returned (0: never kept)")


# ----------------------------------------------------------------------------- tracking
@dataclass(frozen=True)
class TrackingConfig:
    enabled: bool = _f(True)
    experiment: str = _f("gantext")


@dataclass(frozen=True)
class Params:
    """All of params.yaml."""

    seed: int = _f(0, ge=0, le=2**32 - 1, help="numpy seeds are 32-bit")
    ingest: IngestConfig = _sub(IngestConfig)
    tokenize: TokenizeConfig = _sub(TokenizeConfig)
    model: ModelConfig = _sub(ModelConfig)
    pretrain: PretrainConfig = _sub(PretrainConfig)
    adversarial: AdversarialConfig = _sub(AdversarialConfig)
    evaluate: EvaluateConfig = _sub(EvaluateConfig)
    runtime: RuntimeConfig = _sub(RuntimeConfig)
    tracking: TrackingConfig = _sub(TrackingConfig)


# ----------------------------------------------------------------------------- loading
def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, str(tp))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check `value` against type `tp` and return it in canonical form."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"params key '{key}': got {value!r}, expected {_describe(tp)}")
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise bad
        return _build(tp, value, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        for alt in inner[:-1]:  # the first alternative that accepts the value
            try:
                return _coerce(alt, value, key)
            except ConfigError:
                pass
        try:
            return _coerce(inner[-1], value, key)
        except ConfigError:
            raise bad from None
    if origin is tuple:
        if value is None:
            return ()
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise bad
        elem = typing.get_args(tp)[0]
        return tuple(_coerce(elem, v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"unsupported config type {tp!r} at {key}")


def _check_range(f: dataclasses.Field, value: Any, key: str) -> None:
    m = f.metadata
    for name, ok, word in (("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
                           ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")):
        bound = m.get(name)
        if bound is None:
            continue
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, str):  # a keyword alternative such as "auto": no numeric bound
                continue
            if not ok(v, bound):
                why = f" ({m['help']})" if m.get("help") else ""  # the key's help says why
                raise ConfigError(f"params key '{key}': got {v!r}, expected a value {word} "
                                  f"{bound}{why}")


def _build(cls: type, data: dict, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k in data:
        if k not in fields:
            path = f"{prefix}.{k}" if prefix else str(k)
            raise ConfigError(
                f"unknown params key '{path}'; valid keys{' in ' + prefix if prefix else ''}: "
                + ", ".join(sorted(fields)))
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            continue
        key = f"{prefix}.{name}" if prefix else name
        value = _coerce(hints[name], data[name], key)
        _check_range(f, value, key)
        kwargs[name] = value
    obj = cls(**kwargs)
    _check_cross_fields(obj, prefix)
    return obj


def _check_cross_fields(obj: Any, prefix: str) -> None:
    """Constraints that involve more than one key."""
    if isinstance(obj, IngestConfig):
        if obj.min_tokens > obj.max_tokens:
            raise ConfigError(f"params keys '{prefix}.min_tokens' ({obj.min_tokens}) and "
                              f"'{prefix}.max_tokens' ({obj.max_tokens}): min must be <= max")
        test = 0.0 if obj.test_paths else obj.test_fraction
        if obj.valid_fraction + test >= 1.0:
            raise ConfigError(f"params keys '{prefix}.valid_fraction' + '{prefix}.test_fraction' "
                              "must leave room for a train split (sum < 1)")
        if obj.source == "files" and not obj.paths:
            raise ConfigError(f"params key '{prefix}.paths' is empty but '{prefix}.source' is "
                              "'files': list the corpus files or globs")
    if isinstance(obj, TokenizeConfig) and (not obj.vocab_splits or "train" not in obj.vocab_splits):
        raise ConfigError(f"params key '{prefix}.vocab_splits': got {list(obj.vocab_splits)}, "
                          "expected [train] or [train, valid] (the vocabulary needs the train split)")
    if isinstance(obj, DiscriminatorConfig) and not obj.kernel_sizes:
        raise ConfigError(f"params key '{prefix}.kernel_sizes' is empty: list at least one "
                          "convolution width, e.g. [2, 3, 4, 5]")
    if isinstance(obj, FIDConfig) and obj.ngram_min > obj.ngram_max:
        raise ConfigError(f"params keys '{prefix}.ngram_min' > '{prefix}.ngram_max'")
    if isinstance(obj, EvaluateConfig) and len(set(obj.sweep_temperatures)) < 2:
        raise ConfigError(f"params key '{prefix}.sweep_temperatures': got "
                          f"{list(obj.sweep_temperatures)}, expected at least 2 distinct "
                          "temperatures > 0 (the quality-diversity curve of each model is "
                          "interpolated between them), e.g. [0.7, 1.0, 1.5]")


def params_from_dict(data: dict | None) -> Params:
    """Validate a params mapping (as parsed from YAML) and return the typed :class:`Params`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("params must be a mapping of sections (ingest, tokenize, ...)")
    params = _build(Params, data, "")
    from gantext.models.discriminator import DISCRIMINATORS
    from gantext.models.generator import GENERATORS
    from gantext.objectives import OBJECTIVES

    if params.model.generator.arch not in GENERATORS:
        raise ConfigError(f"params key 'model.generator.arch': unknown architecture "
                          f"{params.model.generator.arch!r}; valid: {', '.join(sorted(GENERATORS))}")
    if params.model.discriminator.arch not in DISCRIMINATORS:
        raise ConfigError(f"params key 'model.discriminator.arch': unknown architecture "
                          f"{params.model.discriminator.arch!r}; valid: "
                          f"{', '.join(sorted(DISCRIMINATORS))}")
    if params.adversarial.loss not in OBJECTIVES:
        raise ConfigError(f"params key 'adversarial.loss': unknown loss {params.adversarial.loss!r}; "
                          f"valid losses: {', '.join(sorted(OBJECTIVES))}")
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; raises :class:`ConfigError` naming the bad key (and, as
    DVC does, refuses a duplicated key or an empty file: see :mod:`gantext.params_file`)."""
    from gantext.params_file import read_params_file

    data = read_params_file(Path(path))
    try:
        return params_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
