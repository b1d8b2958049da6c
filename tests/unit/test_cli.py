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
    bf16 = _sample(capsys, model_path, vocab_path, "-n", "20", "--temperature", "0.8",
                   "--seed", "5", "--precision", "bf16")
    assert bf16[0] == 0 and len(bf16[1]) == 20  # the head evaluate uses by default


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


def _summary(tmp_path, capsys, metrics: dict, adversarial: dict | None = None,
             *args: str) -> list[str]:
    import json

    from gantext.cli import main

    f = tmp_path / "metrics" / "evaluate.json"
    f.parent.mkdir(exist_ok=True)
    f.write_text(json.dumps(metrics))
    if adversarial is not None:
        f.with_name("adversarial.json").write_text(json.dumps(adversarial))
    assert main(["summary", "--metrics", str(f), *args]) == 0
    return capsys.readouterr().out.splitlines()


VERDICT = {"vs_mle": -1, "vs_mle_lm": 0, "vs_control": 1, "vs_control_lm": 1,
           "fid_train_vs_mle": 1, "n_sweep": 4000, "real_gap": 0.0097,
           "gap_mean": -0.006, "gap_mean_lo": -0.009, "gap_mean_hi": -0.003, "gap_max": -0.001,
           "lm_gap_mean": 0.001, "lm_gap_mean_lo": -0.002, "lm_gap_mean_hi": 0.004,
           "lm_gap_max": 0.003, "control_gap_mean": 0.004, "control_gap_mean_lo": 0.001,
           "control_gap_mean_hi": 0.007, "control_gap_max": 0.01, "lm_control_gap_mean": 0.005,
           "lm_control_gap_mean_lo": 0.002, "lm_control_gap_mean_hi": 0.008,
           "lm_control_gap_max": 0.011}


def test_summary_leads_with_the_verdict_and_the_run(tmp_path, capsys) -> None:
    out = _summary(tmp_path, capsys, {
        "verdict": VERDICT, "mle": {"bleu5": 0.5, "fid_train": 0.0004}, "gan": {"bleu5": 0.6,
                                                                               "fid_train": 0.0005},
        "delta": {"fid_train": 0.0001, "fid_train_lo": 0.00002, "fid_train_hi": 0.00019},
        "protocol": {"sweep_temperatures": "0.7, 1, 1.5"}},
        {"steps": 300, "rolled_back": True, "rollback_reason": "worse_everywhere",
         "kept_step": 150, "d_acc_mean": 0.5, "d_at_chance": True})
    assert out[0].startswith("Verdict: ") and "4,000 samples per point at temperatures 0.7, 1, 1.5" in out[1]
    rows = {line.split("  ")[1].strip(): line for line in out[2:8] if line.startswith("  ")}
    assert "no " in rows["above MLE's curve"] and "mean gap -0.00600 [-0.00900, -0.00300]" in \
        rows["above MLE's curve"]
    assert "yes" in rows["above the control's curve"]
    assert "higher (worse)" in rows["FID vs training dist."]
    run = out.index(next(line for line in out if line.startswith("Run: ")))
    assert "ROLLED BACK to step 150" in out[run] and "never left chance" in out[run + 1]
    assert any("ceiling" in line and "+0.00970" in line for line in out)
    assert max(len(line) for line in out) <= 120


def test_summary_marks_directions_and_keeps_small_figures_readable(tmp_path, capsys) -> None:
    out = _summary(tmp_path, capsys, {
        "mle": {"bleu5": 0.5, "sbleu5": 0.7, "fid": 0.00041234, "nll": 1.2882877400689652,
                "n_samples": 2000},
        "gan": {"bleu5": 0.6, "sbleu5": 0.71, "fid": 0.00052, "nll": 1.5, "n_samples": 2000},
        "real": {"bleu5": 0.7, "fid_floor": 0.0001, "n_samples": 2000},
        # bleu5: interval above 0 (significant); sbleu5: straddles 0; nll: no interval at all
        "delta": {"bleu5": 0.1, "bleu5_lo": 0.05, "bleu5_hi": 0.15, "sbleu5": 0.01,
                  "sbleu5_lo": -0.01, "sbleu5_hi": 0.03, "fid": 0.00011, "fid_lo": -0.0001,
                  "fid_hi": 0.0003, "nll": 0.2117},
        "protocol": {"ci_level": 0.95}})
    rows = {line[:20].strip(): line[20:].split() for line in out}
    assert out[0].startswith("Verdict: none in this file")
    assert rows["BLEU-5"] == ["↑", "0.5000", "0.6000", "0.7000", "+0.100*", "[+0.0500,", "+0.150]"]
    assert rows["self-BLEU-5"][0] == "↓" and rows["self-BLEU-5"][4] == "+0.0100"
    # the real row's FID is the floor at the models' n; 4 significant digits, not 4 decimals
    assert rows["FID (test)"] == ["↓", "0.0004123", "0.0005200", "0.0001000", "+0.000110",
                                  "[-0.000100,", "+0.000300]"]
    assert rows["NLL / token (test)"] == ["↓", "1.288", "1.500", "-", "+0.212"]  # no interval
    assert rows["n samples"] == ["2,000", "2,000", "2,000", "-"]


def test_summary_shows_the_optional_rows_and_reads_an_experiment(tmp_path, capsys,
                                                                   monkeypatch) -> None:
    import json
    import subprocess

    from gantext.cli import main

    out = _summary(tmp_path, capsys, {"mle": {"bleu5": 0.5, "nll": 2.0},
                                      "gan": {"bleu5": 0.6, "nll": 2.1}, "real": {"bleu5": 0.7},
                                      "gan_lm": {"bleu5": 0.65}, "mle_lm": {"bleu5": 0.55},
                                      "d_resample": {"bleu5": 0.62}})
    head = next(line for line in out if line.startswith("metric"))
    assert head.split() == ["metric", "mle", "gan", "real", "mle_lm", "gan_lm", "d_resample"]
    # a selection of a pool has no likelihood: its NLL cell is empty, not dropped
    assert any(line.split() == ["NLL", "/", "token", "(test)", "↓", "2.000", "2.100", "-", "-",
                                "-", "-"] for line in out)
    # an experiment (here: a git revision) is read with git show
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "params.yaml").write_text("adversarial:\n  loss: rsgan\n")
    subprocess.run(git + ["add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-qm", "x"], cwd=tmp_path, check=True)
    subprocess.run(["git", "tag", "mytag"], cwd=tmp_path, check=True)
    (tmp_path / "metrics" / "evaluate.json").write_text(json.dumps({"mle": {"bleu5": 0.1}}))
    monkeypatch.chdir(tmp_path)
    assert main(["summary", "mytag"]) == 0
    out = capsys.readouterr().out
    assert "0.5000" in out and "read from mytag" in out
    assert main(["summary", "nosuchexp"]) == 1
    assert "no metrics/evaluate.json in experiment or revision 'nosuchexp'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- compare
def test_compare_command_keeps_the_headline_columns_and_passes_flags():
    from gantext.compare import dvc_command

    args = cli.build_parser().parse_args(["compare", "-A", "-n", "3", "--keep", "real\\.bleu5",
                                          "bce", "seqgan"])
    cmd = dvc_command(args.all_commits, args.all_branches, args.num, args.keep)
    assert cmd[1:6] == ["exp", "show", "--no-pager", "--drop", ".*"]
    assert "-A" in cmd and cmd[cmd.index("-n") + 1] == "3" and cmd[-1] == "--csv"
    keep = cmd[cmd.index("--keep") + 1]
    import re

    for col in ("Experiment", "gan.bleu5", "mle.sbleu5", "gan.fid", "adversarial.loss", "seed",
                "real.bleu5", "gan_lm.bleu5", "mle_lm.sbleu5", "d_resample.fid"):
        assert re.search(keep, col), col
    for col in ("lines_read", "kept.train", "train.tokens", "gan.bleu2", "gan_lm.nll",
                "xgan_lm.bleu5"):
        assert not re.search(keep, col), col
    assert args.names == ["bce", "seqgan"]


def test_compare_filters_rows_by_experiment_name_or_rev():
    from gantext.compare import filter_rows

    text = ("Experiment,rev,gan.bleu5\n,workspace,0.5\nbce,abc1234,0.6\nseqgan,def5678,0.7\n")
    assert filter_rows(text, ["seqgan", "workspace"]) == [
        ["Experiment", "rev", "gan.bleu5"], ["", "workspace", "0.5"], ["seqgan", "def5678", "0.7"]]
    assert len(filter_rows(text, [])) == 4


def test_compare_keeps_commit_ids_that_look_like_numbers():
    from gantext.compare import shorten_numbers

    rows = [["Experiment", "rev", "gan.bleu5"], ["", "61629e2", "0.123456789"],
            ["e1", "1234567", "7"]]
    assert shorten_numbers(rows) == [["Experiment", "rev", "gan.bleu5"],
                                     ["", "61629e2", "0.12346"], ["e1", "1234567", "7"]]


#: `dvc exp show --csv` of a default run with two experiments (one with a long name and the
#: longest loss name, one with the optional length-matched rows): the case that was 165 columns
_HEAD = ("Experiment,rev,Created,mle.bleu5,mle.sbleu5,mle.fid,mle.nll,gan.bleu5,gan.sbleu5,"
         "gan.fid,gan.nll,delta.bleu5,gan_lm.bleu5,gan_lm.sbleu5,gan_lm.fid,seed,adversarial.loss")
_ROWS = [
    ",workspace,,0.6892314,0.7043181,0.0033620,1.2882877,0.7401629,0.7600202,0.0084241,1.3176867,"
    "0.0509315,,,,0,bce",
    ",main,2026-12-04T17:29:37,0.6944704,0.7159220,0.0024189,1.2872268,0.7431701,0.7541558,"
    "0.0096097,1.3239070,0.0486996,,,,0,bce",
    "a-very-long-experiment-name-indeed,4856ae2,2026-12-04T18:00:00,0.6892314,0.7043181,"
    "0.0033620,1.2882877,0.7434,0.7589,0.009694,1.336,0.0541,0.73,0.75,0.0091,1,mle-continued",
]


def test_compare_table_fits_120_columns_and_names_every_row():
    import csv
    import io

    from gantext.compare import render

    rows = list(csv.reader(io.StringIO("\n".join([_HEAD, *_ROWS]) + "\n")))
    out = render(rows).splitlines()
    assert max(len(line) for line in out) <= 120
    names = [line.split()[0] for line in out[2:5]]
    assert names[:2] == ["workspace", "main"]
    assert names[2].startswith("a-very-long") and names[2].endswith("…")  # cut to fit
    assert "2026-12-04" not in "\n".join(out) and "4856ae2" not in "\n".join(out)
    assert out[0].split()[0] == "mle" and "gan" in out[0].split()  # grouped header
    assert out[1].split()[:3] == ["experiment", "seed", "loss"]
    assert "0.7600" in out[2] and "+0.05093" in out[2]  # 4 significant digits, signed delta
    note = " ".join(out[5:])  # what was left out is named: the optional rows first
    assert note.startswith("(") and "--wide" in note and "gan_lm.fid" in note
    narrow = render(rows, width=80).splitlines()
    assert max(len(line) for line in narrow) <= 80
    left_out = " ".join(narrow[5:])
    # the least useful go first: NLL and seed before BLEU-5 and the loss
    assert "mle.nll" in left_out and "seed" in left_out and "gan.bleu5" not in left_out
    wide = render(rows, width=None).splitlines()
    assert wide[0].split()[:3] == ["Experiment", "rev", "Created"]
    assert wide[1].split()[:2] == ["workspace", "workspace"] and len(wide) == 4


def test_compare_on_a_dvc_repo(tmp_path, monkeypatch, capsys):
    """End to end on a real (small) DVC repo: the headline columns, in a table, names filtered."""
    import subprocess
    import sys
    from pathlib import Path

    dvc = str(Path(sys.executable).with_name("dvc"))
    (tmp_path / "m").mkdir()
    (tmp_path / "w.py").write_text(
        "import json\njson.dump({'lines_read': 7}, open('m/ingest.json', 'w'))\n"
        "json.dump({'gan': {'bleu5': 0.123456789, 'bleu2': 0.9}}, open('m/evaluate.json', 'w'))\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: python w.py\n    metrics:\n"
        "      - m/evaluate.json:\n          cache: false\n"
        "      - m/ingest.json:\n          cache: false\n")
    for c in (["git", "init", "-q"], [dvc, "init", "-q"], [dvc, "repro", "-q"],
              ["git", "add", "-A"],
              ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        subprocess.run(c, cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compare", "workspace"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == "gan" and out[1].split() == ["experiment", "bleu5"]
    assert out[2].split() == ["workspace", "0.1235"] and len(out) == 3
    assert cli.main(["compare", "--wide", "workspace"]) == 0
    wide = capsys.readouterr().out.splitlines()
    assert wide[0].split() == ["Experiment", "rev", "Created", "gan.bleu5"]
    assert wide[1].split() == ["workspace", "workspace", "0.12346"]


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
