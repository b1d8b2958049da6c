"""Blow-ups: a diverged run stops naming the param to lower, keeps its last good checkpoint, exits
non-zero and never writes NaN/Infinity into a metrics JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import runpy
import sys
from pathlib import Path

import pytest
import torch
import yaml

from gantext.config import AdversarialConfig
from gantext.errors import TrainingError
from gantext.io import write_json
from gantext.training import adversarial, mle
from gantext.training.guard import DIVERGENCE_FACTOR, DivergenceGuard, kept_checkpoint

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import test_adversarial_loop as adv_tests  # noqa: E402  (the tiny adversarial setup)
import test_mle as mle_tests  # noqa: E402  (the tiny MLE setup)


def _strict_json(path: Path):
    def refuse(name):
        raise ValueError(f"{path} holds {name}: not JSON")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


# ----------------------------------------------------------------------------- the guard itself
def test_guard_reference_limit_and_message():
    g = DivergenceGuard.for_run("pretrain", "pretrain.lr", vocab_size=100)
    assert g.reference == pytest.approx(math.log(100))
    assert g.limit == pytest.approx(DIVERGENCE_FACTOR * math.log(100))
    g.check({"valid NLL": g.limit * 0.99}, "after epoch 1", "x")  # below the limit: fine
    with pytest.raises(TrainingError, match=r"pretrain diverged after epoch 2: valid NLL is "
                                            r"2\.5e\+07 per token.*; kept here; .*Lower "
                                            r"pretrain\.lr in params\.yaml"):
        g.check({"valid NLL": 2.5e7}, "after epoch 2", "kept here")
    with pytest.raises(TrainingError, match="train NLL is nan"):
        g.check({"train NLL": float("nan")}, "after epoch 1", "x")
    # a start above log V becomes the reference; no validation data (nan) disables the guard
    high = DivergenceGuard.for_run("adversarial", "k", vocab_size=3, start=5.0)
    assert high.reference == 5.0
    DivergenceGuard.for_run("adversarial", "k", vocab_size=3, start=float("nan")).check(
        {"valid NLL": float("nan")}, "at step 1", "x")
    assert kept_checkpoint(None, "epoch 1") == "no checkpoint was written yet"
    assert kept_checkpoint("r.pt", "step 50") == "the last good checkpoint (step 50) is kept in r.pt"


# ----------------------------------------------------------------------------- pretrain
def test_pretrain_with_a_huge_lr_stops_naming_pretrain_lr():
    with pytest.raises(TrainingError, match=r"pretrain diverged after epoch 1: .*Lower pretrain\.lr"):
        mle_tests._run(lr=1e6, epochs=3)


def test_pretrain_divergence_keeps_the_last_good_epoch(tmp_path, monkeypatch):
    real = mle.nll_metrics
    calls = []

    def blows_up_in_epoch_3(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(1)
        return {**out, "nll": out["nll"] * 1e6} if len(calls) == 3 else out

    monkeypatch.setattr(mle, "nll_metrics", blows_up_in_epoch_3)
    resume = tmp_path / "pretrain.resume.pt"
    with pytest.raises(TrainingError, match=rf"after epoch 3: valid NLL .*last good checkpoint "
                                            rf"\(epoch 2\) is kept in {resume}"):
        mle_tests._run(resume_path=resume, epochs=4)
    state = torch.load(resume, weights_only=True)["state"]
    assert state["epoch"] == 2 and len(state["history"]) == 2


# ----------------------------------------------------------------------------- adversarial
@pytest.fixture(scope="module")
def adv(tmp_path_factory):
    path = tmp_path_factory.mktemp("script") / "adv_script.py"
    path.write_text(adv_tests.SCRIPT)
    return runpy.run_path(str(path), run_name="adv_script")


@pytest.mark.parametrize("loss, section", [("bce", "bce"), ("wgan-gp", "wgan_gp"),
                                           ("seqgan", "seqgan")])
def test_adversarial_with_a_huge_g_lr_stops_naming_it(adv, loss, section):
    base = getattr(AdversarialConfig(), section)
    with pytest.raises(TrainingError, match=rf"adversarial training \({loss}\) diverged at step "
                                            rf"\d+: valid NLL .*Lower adversarial\.{section}\.g_lr"):
        adv["run"](loss, **{section: dataclasses.replace(base, g_lr=1e6)})


def test_adversarial_divergence_keeps_the_last_good_checkpoint(adv, tmp_path, monkeypatch):
    real = adversarial.valid_nll
    calls = []

    def blows_up_at_step_4(*args, **kwargs):  # calls: start, step 2, step 4, end
        calls.append(1)
        value = real(*args, **kwargs)
        return value * 1e6 if len(calls) >= 3 else value

    monkeypatch.setattr(adversarial, "valid_nll", blows_up_at_step_4)
    resume = tmp_path / "adv.resume.pt"
    with pytest.raises(TrainingError, match=rf"diverged at step 4: .*last good checkpoint \(step "
                                            rf"2\) is kept in {resume}"):
        adv["run"]("bce", resume)
    assert torch.load(resume, weights_only=True)["state"]["step"] == 2


def test_adversarial_divergence_at_the_last_step_is_caught(adv, monkeypatch):
    real = adversarial.valid_nll
    calls = []

    def blows_up_at_the_end(*args, **kwargs):  # start, step 2, step 4, end
        calls.append(1)
        value = real(*args, **kwargs)
        return value * 1e6 if len(calls) == 4 else value

    monkeypatch.setattr(adversarial, "valid_nll", blows_up_at_the_end)
    with pytest.raises(TrainingError, match=r"diverged by step 5: valid NLL"):
        adv["run"]("bce")


# ----------------------------------------------------------------------------- JSON
def test_metrics_json_never_holds_nan_or_infinity(tmp_path, capsys):
    f = tmp_path / "metrics" / "m.json"
    write_json(f, {"valid_ppl": math.inf, "a": {"b": [1.5, -math.inf, math.nan]}, "ok": 2.0})
    assert _strict_json(f) == {"valid_ppl": None, "a": {"b": [1.5, None, None]}, "ok": 2.0}
    err = capsys.readouterr().err
    assert "valid_ppl=inf" in err and "a.b[1]=-inf" in err and "a.b[2]=nan" in err
    write_json(f, {"z": math.nan, "a": 1}, sort_keys=False)  # evaluate's own key order
    assert list(_strict_json(f)) == ["z", "a"]


# ----------------------------------------------------------------------------- the stage
def _run_stage(module: str, root: Path, monkeypatch) -> int:
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(REPO))
    import importlib

    from stages._common import run

    try:
        run(importlib.import_module(f"stages.{module}").main)
    except SystemExit as exc:
        return int(exc.code)
    return 0


def test_pretrain_stage_with_a_huge_lr_exits_non_zero_and_writes_nothing(tmp_path, monkeypatch,
                                                                        capsys):
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["ingest"].update(source="builtin", builtin={"num_sentences": 200})
    params["model"]["generator"].update(embed_dim=8, hidden_dim=16)
    params["pretrain"].update(epochs=2, lr=1e6, device="cpu")
    params["tracking"]["enabled"] = False
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    assert _run_stage("ingest", tmp_path, monkeypatch) == 0
    assert _run_stage("tokenize", tmp_path, monkeypatch) == 0
    capsys.readouterr()
    assert _run_stage("pretrain", tmp_path, monkeypatch) == 1
    err = capsys.readouterr().err
    assert "error: pretrain diverged after epoch 1" in err and "pretrain.lr" in err
    assert not (tmp_path / "metrics" / "pretrain.json").exists()
    assert not (tmp_path / "models" / "pretrain" / "generator.pt").exists()
    for f in (tmp_path / "metrics").glob("*.json"):
        _strict_json(f)


def test_adversarial_stage_prints_the_guards_figures_from_its_metrics(tmp_path, monkeypatch,
                                                                      capsys):
    """The stage's last line shows BLEU-5 and self-BLEU-5 start -> end (what the guard read),
    the same numbers as metrics/adversarial.json: valid NLL alone hid a worse-everywhere end."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["ingest"].update(source="builtin", builtin={"num_sentences": 200})
    params["model"]["generator"].update(embed_dim=8, hidden_dim=16)
    params["model"]["discriminator"].update(embed_dim=8, num_filters=4)
    params["pretrain"].update(epochs=1, device="cpu")
    params["adversarial"].update(loss="bce", steps=4, batch_size=8, checkpoint_every=2,
                                 log_every=2, sample_every=100, guard_samples=40, device="cpu")
    params["tracking"]["enabled"] = False
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    for stage in ("ingest", "tokenize", "pretrain"):
        assert _run_stage(stage, tmp_path, monkeypatch) == 0
    capsys.readouterr()
    assert _run_stage("adversarial", tmp_path, monkeypatch) == 0
    err = capsys.readouterr().err.strip().splitlines()
    last = next(line for line in reversed(err) if line.startswith("adversarial (bce): "))
    m = _strict_json(tmp_path / "metrics" / "adversarial.json")
    if "guard_gap_max_end" in m:  # the end's curve against the MLE's
        assert (f"largest gap above MLE's curve {m['guard_gap_max_end']:+.4f} "
                f"[{m['guard_gap_max_lo_end']:+.4f}, {m['guard_gap_max_hi_end']:+.4f}]") in last
    assert err[-1].startswith("adversarial: control (mle-continued): 4 steps in ")
    label = "the end it rejected" if m["rolled_back"] else "start -> end"
    assert (f"{label}: BLEU-5 {m['guard_bleu5_start']:.4f} -> {m['guard_bleu5_end']:.4f}, "
            f"self-BLEU-5 {m['guard_sbleu5_start']:.4f} -> {m['guard_sbleu5_end']:.4f} "
            f"(40 samples at T = 1 vs valid)") in last, last
