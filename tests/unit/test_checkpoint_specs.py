"""Checkpoints from elsewhere: a spec this build does not know, weights that do not fit their spec,
and a checkpoint that params.yaml would no longer build -- each one clear error line naming the
file, what it holds and what this build knows (never a traceback), loading still weights-only."""

from __future__ import annotations

import json

import pytest
import torch

from gantext import cli
from gantext.config import params_from_dict
from gantext.errors import CheckpointError
from gantext.models import generator as generator_module
from gantext.models.generator import GENERATORS, LSTMGenerator, build_generator
from gantext.text.vocab import Vocab
from gantext.training.checkpoint import (expect_spec, load_generator, save_checkpoint,
                                         save_generator)

WORDS = ("the", "coffee", "is", "hot", "great")
VOCAB = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", *WORDS))


def _lstm():
    torch.manual_seed(0)
    return build_generator(dict(vocab_size=len(VOCAB), embed_dim=4, hidden_dim=8, max_len=6))


def _relational_memory():
    torch.manual_seed(0)
    return build_generator(dict(arch="relational-memory", vocab_size=len(VOCAB), embed_dim=4,
                                mem_slots=1, num_heads=2, head_size=4, max_len=6))


def _write(tmp_path, spec, state):
    path = tmp_path / "generator.pt"
    save_checkpoint(path, kind="generator", state_dict=state, spec=spec, vocab_hash=VOCAB.hash)
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps(VOCAB.to_json()))
    return path, vocab


def _sample_error(capsys, path, vocab) -> str:
    code = cli.main(["sample", "--model", str(path), "--vocab", str(vocab), "-n", "2"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1  # one line
    return err


def test_a_spec_field_from_another_version(tmp_path, capsys):
    m = _lstm()
    path, vocab = _write(tmp_path, {**m.spec_dict, "rope_base": 10000}, m.state_dict())
    err = _sample_error(capsys, path, vocab)
    assert str(path) in err and "rope_base" in err and "'lstm'" in err
    assert "hidden_dim" in err  # the fields this build's lstm spec has


def test_an_architecture_this_build_does_not_register(tmp_path, capsys):
    m = _lstm()
    path, vocab = _write(tmp_path, {**m.spec_dict, "arch": "mamba"}, m.state_dict())
    err = _sample_error(capsys, path, vocab)
    assert str(path) in err and "'mamba'" in err
    assert all(arch in err for arch in GENERATORS)  # what this build knows, from the registry


def test_relational_memory_weights_under_a_spec_saying_lstm(tmp_path, capsys):
    path, vocab = _write(tmp_path, _lstm().spec_dict, _relational_memory().state_dict())
    err = _sample_error(capsys, path, vocab)
    assert str(path) in err and "do not fit" in err and "missing" in err and "unexpected" in err
    assert "look like a 'relational-memory' generator" in err


def test_a_newly_registered_architecture_is_known_without_editing_the_checks(tmp_path,
                                                                               monkeypatch):
    class Other(LSTMGenerator):  # what a later architecture file + registry line gives
        arch = "other"

    monkeypatch.setitem(GENERATORS, "other", Other)
    m = _lstm()
    path, _ = _write(tmp_path, {**m.spec_dict, "arch": "other"}, m.state_dict())
    back, _ = load_generator(path)
    assert type(back) is Other
    assert generator_module.archs_of_weights(m.state_dict()) == ["lstm", "other"]
    monkeypatch.delitem(GENERATORS, "other")
    with pytest.raises(CheckpointError, match="unknown generator architecture 'other'"):
        load_generator(path)


def test_a_checkpoint_params_would_no_longer_build_is_stale(tmp_path):
    m = _lstm()
    path = tmp_path / "generator.pt"
    save_generator(path, m, VOCAB.hash)
    same = params_from_dict({"model": {"generator": {"embed_dim": 4, "hidden_dim": 8}}})
    load_generator(path, expect=expect_spec(len(VOCAB), 6, same.model.generator))  # fits
    other = params_from_dict({"model": {"generator": {"arch": "relational-memory",
                                                      "embed_dim": 4}}})
    with pytest.raises(CheckpointError) as info:
        load_generator(path, expect=expect_spec(len(VOCAB), 6, other.model.generator))
    msg = str(info.value)
    assert str(path) in msg and "stale" in msg and "arch 'lstm' (params: 'relational-memory')" in msg
    with pytest.raises(CheckpointError, match=r"max_len 6 \(params: 9\)"):  # tokenize.max_len
        load_generator(path, expect=expect_spec(len(VOCAB), 9, same.model.generator))
    with pytest.raises(CheckpointError, match=r"hidden_dim 8 \(params: 128\)"):
        load_generator(path, expect=expect_spec(
            len(VOCAB), 6, params_from_dict({"model": {"generator": {"embed_dim": 4}}})
            .model.generator))
