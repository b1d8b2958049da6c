"""`gantext sample`: decoded sentences from a checkpoint; clear one-line errors, exit code 1."""

import json
import os

import pytest
import torch

from gantext import cli
from gantext.models.generator import build_generator
from gantext.text.vocab import Vocab
from gantext.training.checkpoint import save_generator

WORDS = ("the", "coffee", "is", "hot", "great")


@pytest.fixture()
def setup(tmp_path):
    vocab = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", *WORDS))
    vocab_path = tmp_path / "vocab.json"
    vocab_path.write_text(json.dumps(vocab.to_json()))
    torch.manual_seed(0)
    model = build_generator(dict(vocab_size=len(vocab), embed_dim=4, hidden_dim=8, max_len=6))
    model_path = tmp_path / "generator.pt"
    save_generator(model_path, model, vocab.hash)
    return tmp_path, model_path, vocab_path


def _sample(capsys, model_path, vocab_path, *extra):
    code = cli.main(["sample", "--model", str(model_path), "--vocab", str(vocab_path), *extra])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_sample_prints_decoded_sentences(setup, capsys):
    _, model_path, vocab_path = setup
    code, lines, err = _sample(capsys, model_path, vocab_path, "-n", "20", "--temperature", "0.8",
                               "--seed", "5")
    assert code == 0 and err == ""
    assert len(lines) == 20
    for line in lines:
        toks = line.split()
        assert len(toks) <= 6 and set(toks) <= set(WORDS) | {"<unk>"}
    again = _sample(capsys, model_path, vocab_path, "-n", "20", "--temperature", "0.8",
                    "--seed", "5")[1]
    assert again == lines
    short = _sample(capsys, model_path, vocab_path, "-n", "30", "--seed", "5", "--max-len", "2")[1]
    assert len(short) == 30 and all(len(line.split()) <= 2 for line in short)


def _assert_one_line_error(code, err, *needles):
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1
    for n in needles:
        assert n in err


def test_other_vocabulary_is_refused(setup, capsys):
    tmp_path, model_path, _ = setup
    other = tmp_path / "other.json"
    other.write_text(json.dumps(Vocab(("<pad>", "<bos>", "<eos>", "<unk>", "x")).to_json()))
    code, lines, err = _sample(capsys, model_path, other, "-n", "3")
    _assert_one_line_error(code, err, "vocabulary hash")
    assert lines == []


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_tampered_checkpoint_is_refused(setup, capsys):
    tmp_path, model_path, vocab_path = setup
    payload = torch.load(model_path, weights_only=True)
    payload["spec"] = _Evil(tmp_path / "pwned")
    torch.save(payload, model_path)
    code, _, err = _sample(capsys, model_path, vocab_path, "-n", "3")
    _assert_one_line_error(code, err, "refused")
    assert not (tmp_path / "pwned").exists()


def test_missing_files_and_bad_arguments(setup, capsys):
    tmp_path, model_path, vocab_path = setup
    _assert_one_line_error(*_sample(capsys, tmp_path / "nope.pt", vocab_path)[::2], "not found")
    _assert_one_line_error(*_sample(capsys, model_path, tmp_path / "nope.json")[::2], "not found")
    _assert_one_line_error(*_sample(capsys, model_path, vocab_path, "--temperature", "0")[::2],
                           "--temperature")


def test_commands_are_a_dispatch_table():
    assert "sample" in cli.COMMANDS
    with pytest.raises(SystemExit):
        cli.main([])


def test_summary_prints_headline_metrics(tmp_path, capsys) -> None:
    import json

    from gantext.cli import main

    f = tmp_path / "evaluate.json"
    f.write_text(json.dumps({"mle": {"bleu5": 0.5, "fid": 0.01}, "gan": {"bleu5": 0.6, "fid": 0.02},
                             "real": {"bleu5": 0.7, "fid_floor": 0.001}}))
    assert main(["summary", "--metrics", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["metric", "mle", "gan", "real"]
    assert out[1].split() == ["bleu5", "0.5000", "0.6000", "0.7000"]
    assert ["fid_floor", "-", "-", "0.0010"] in [line.split() for line in out]
    assert main(["summary", "--metrics", str(tmp_path / "missing.json")]) == 1


def test_sample_rebuilds_a_relational_memory_checkpoint(tmp_path, capsys):
    """The checkpoint records the architecture: `gantext sample` needs nothing else."""
    vocab = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", *WORDS))
    vocab_path = tmp_path / "vocab.json"
    vocab_path.write_text(json.dumps(vocab.to_json()))
    torch.manual_seed(0)
    model = build_generator(dict(arch="relational-memory", vocab_size=len(vocab), embed_dim=4,
                                 mem_slots=1, num_heads=2, head_size=4, max_len=6))
    save_generator(tmp_path / "g.pt", model, vocab.hash)
    code, lines, err = _sample(capsys, tmp_path / "g.pt", vocab_path, "-n", "5", "--seed", "1")
    assert code == 0 and err == "" and len(lines) == 5
    assert all(set(line.split()) <= set(WORDS) | {"<unk>"} for line in lines)
