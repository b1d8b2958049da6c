"""params.yaml validation: every mistake fails before any work, naming the key and what is expected."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from gantext.config import (ConfigError, IngestConfig, Params, TokenizeConfig, load_params,
                            params_from_dict, to_dict)

REPO = Path(__file__).resolve().parents[2]


def _with(section: str, **values) -> dict:
    """A params mapping that sets `values` inside the dotted `section` (defaults elsewhere)."""
    out: dict = {}
    node = out
    for part in section.split("."):
        node = node.setdefault(part, {})
    node.update(values)
    return out


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        params_from_dict(data)
    return str(info.value)


# ----------------------------------------------------------------------------- happy paths
def test_repo_params_yaml_loads() -> None:
    params = load_params(REPO / "params.yaml")
    assert isinstance(params, Params)
    # Every key in the file is a field (load_params would have refused otherwise), and the
    # typed config writes back the same sections.
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    assert set(raw) <= set(to_dict(params))


def test_empty_mapping_gives_defaults() -> None:
    assert params_from_dict({}) == Params()
    assert params_from_dict(None) == Params()


def test_values_are_coerced_and_frozen() -> None:
    params = params_from_dict({"tokenize": {"max_len": 7},
                               "evaluate": {"sweep_temperatures": [1, 2.5]},
                               "pretrain": {"lr": 1}})
    assert params.tokenize == TokenizeConfig(max_len=7)
    assert params.evaluate.sweep_temperatures == (1.0, 2.5)  # list -> tuple, ints -> floats
    assert isinstance(params.pretrain.lr, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.tokenize.max_len = 3  # type: ignore[misc]


def test_round_trip_through_to_dict() -> None:
    params = load_params(REPO / "params.yaml")
    assert params_from_dict(to_dict(params)) == params


# ----------------------------------------------------------------------------- unknown keys
def test_unknown_top_level_key_lists_sections() -> None:
    msg = _error({"tokenise": {}})
    assert "'tokenise'" in msg
    for section in ("ingest", "tokenize", "model", "pretrain", "adversarial", "evaluate",
                    "tracking", "seed"):
        assert section in msg


def test_unknown_nested_key_names_dotted_path_and_valid_keys() -> None:
    msg = _error(_with("adversarial.bce", beta_maxx=3))
    assert "'adversarial.bce.beta_maxx'" in msg
    assert "beta_max" in msg and "anneal" in msg and "label_smoothing" in msg

    msg = _error(_with("tokenize", maxlen=3))
    assert "'tokenize.maxlen'" in msg
    assert all(k in msg for k in ("level", "min_freq", "max_size", "max_len"))


def test_unknown_loss_lists_valid_losses() -> None:
    msg = _error(_with("adversarial", loss="wgan"))
    assert "adversarial.loss" in msg and "'wgan'" in msg
    assert all(name in msg for name in ("bce", "wgan-gp", "seqgan"))


# ----------------------------------------------------------------------------- types
@pytest.mark.parametrize("section,key,value,expected", [
    ("tokenize", "max_len", "32", "an integer"),
    ("tokenize", "max_len", 3.5, "an integer"),
    ("pretrain", "lr", "fast", "a number"),
    ("ingest", "lowercase", "yes", "true or false"),
    ("ingest", "lowercase", 1, "true or false"),
    ("ingest", "paths", "data/raw/*.txt", "a list"),
    ("tracking", "experiment", 5, "a string"),
    ("tokenize", "level", "bpe", "one of 'word', 'char'"),
    ("model", "generator", 3, "a mapping"),
])
def test_wrong_type_names_key_value_and_expectation(section, key, value, expected) -> None:
    msg = _error(_with(section, **{key: value}))
    assert f"'{section}.{key}'" in msg
    assert repr(value) in msg
    assert expected in msg


@pytest.mark.parametrize("section,key", [("tokenize", "max_len"), ("seed", None),
                                         ("pretrain", "epochs")])
def test_bool_is_not_an_integer(section, key) -> None:
    data = {"seed": True} if key is None else _with(section, **{key: True})
    msg = _error(data)
    assert "True" in msg and "an integer" in msg


def test_list_element_type_names_index() -> None:
    msg = _error(_with("model.discriminator", kernel_sizes=[2, "x"]))
    assert "'model.discriminator.kernel_sizes[1]'" in msg and "'x'" in msg


# ----------------------------------------------------------------------------- ranges
@pytest.mark.parametrize("section,key,value,bound", [
    ("tokenize", "max_len", 0, ">= 1"),
    ("tokenize", "min_freq", 0, ">= 1"),
    ("tokenize", "max_size", -1, ">= 0"),
    ("pretrain", "lr", 0.0, "> 0.0"),
    ("ingest", "valid_fraction", 1.0, "< 1.0"),
    ("adversarial.seqgan", "rollout_update_rate", 1.5, "<= 1.0"),
    ("ingest.builtin", "num_sentences", 5, ">= 10"),
])
def test_out_of_range_names_key_value_and_bound(section, key, value, bound) -> None:
    msg = _error(_with(section, **{key: value}))
    assert f"'{section}.{key}'" in msg and repr(value) in msg and bound in msg


def test_range_applies_to_each_list_element() -> None:
    msg = _error(_with("evaluate", sweep_temperatures=[1.0, -0.5]))
    assert "evaluate.sweep_temperatures" in msg and "-0.5" in msg


# ----------------------------------------------------------------------------- cross-field
def test_min_tokens_above_max_tokens_fails() -> None:
    msg = _error(_with("ingest", min_tokens=10, max_tokens=5))
    assert "ingest.min_tokens" in msg and "ingest.max_tokens" in msg
    assert "10" in msg and "5" in msg


def test_fractions_must_leave_a_train_split() -> None:
    msg = _error(_with("ingest", valid_fraction=0.5, test_fraction=0.5))
    assert "ingest.valid_fraction" in msg and "ingest.test_fraction" in msg
    # A shipped test split makes test_fraction irrelevant.
    ok = params_from_dict(_with("ingest", valid_fraction=0.5, test_fraction=0.5, source="files",
                                paths=["a.txt"], test_paths=["b.txt"]))
    assert ok.ingest == IngestConfig(valid_fraction=0.5, test_fraction=0.5, source="files",
                                     paths=("a.txt",), test_paths=("b.txt",))


@pytest.mark.parametrize("temps", [[], [1.0], [1.0, 1], [0.8, 0.8, 0.8]])
def test_sweep_needs_two_distinct_temperatures(temps) -> None:
    # the quality-diversity curve (and the verdict read off it) interpolates between points
    msg = _error(_with("evaluate", sweep_temperatures=temps))
    assert "'evaluate.sweep_temperatures'" in msg and "at least 2 distinct" in msg
    assert params_from_dict(_with("evaluate", sweep_temperatures=[0.8, 1.0])).evaluate \
        .sweep_temperatures == (0.8, 1.0)


def test_fid_dimension_is_bounded_with_the_reason() -> None:
    # 1,000 bootstrap eigendecompositions of svd_dim^2 per row: 1,600 dims took ~54 min a row
    from gantext.config import MAX_SVD_DIM

    msg = _error(_with("evaluate.fid", svd_dim=1024))
    assert "'evaluate.fid.svd_dim'" in msg and f"<= {MAX_SVD_DIM}" in msg and "cube" in msg
    assert params_from_dict(_with("evaluate.fid", svd_dim=MAX_SVD_DIM)).evaluate.fid.svd_dim \
        == MAX_SVD_DIM


def test_files_source_needs_paths() -> None:
    msg = _error(_with("ingest", source="files"))
    assert "ingest.paths" in msg


# ----------------------------------------------------------------------------- files
def test_load_params_reports_file(tmp_path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("tokenize:\n  max_len: -3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"params\.yaml.*'tokenize\.max_len'.*-3"):
        load_params(bad)
    bad.write_text("tokenize: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "missing.yaml")
    bad.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        load_params(bad)
