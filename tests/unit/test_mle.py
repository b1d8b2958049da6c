"""MLE pretraining: NLL figures, reproducibility, exact resume after SIGKILL, checkpoint safety."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _toy import needs_bf16_lstm

from gantext.config import GeneratorConfig, PretrainConfig
from gantext.data import Corpus
from gantext.errors import CheckpointError
from gantext.metrics.nll import nll_metrics
from gantext.models.generator import build_generator
from gantext.text.vocab import EOS_ID, PAD_ID, Vocab, encode
from gantext.training import mle
from gantext.training.checkpoint import discard_resume, load_generator, save_generator
from gantext.training.mle import train_mle

HERE = Path(__file__).resolve().parent


def tiny_corpus(seed: int = 0) -> Corpus:
    """A few dozen sentences with structure (a word is usually followed by the next one)."""
    words = [f"w{i}" for i in range(10)]
    vocab = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", *words))
    g = torch.Generator().manual_seed(seed)

    def split(n):
        sents = []
        for _ in range(n):
            length = int(torch.randint(1, 8, (1,), generator=g))
            start = int(torch.randint(0, 10, (1,), generator=g))
            sents.append([words[(start + i) % 10] for i in range(length)])
        return torch.from_numpy(encode(vocab, sents, max_len=8)[0]).long()

    return Corpus(vocab=vocab, train=split(96), valid=split(24), test=split(24))


def tiny_cfgs(**pretrain):
    gen = GeneratorConfig(embed_dim=8, hidden_dim=16, num_layers=1, dropout=0.1)
    cfg = dict(epochs=4, batch_size=16, lr=0.01, grad_clip=1.0, patience=10, device="cpu",
               low_lr_epochs=0)
    cfg.update(pretrain)
    return gen, PretrainConfig(**cfg)


def _quiet(msg):
    pass


def _run(corpus=None, resume_path=None, log=_quiet, precision="fp32", **pretrain):
    gen, cfg = tiny_cfgs(**pretrain)
    return train_mle(corpus or tiny_corpus(), gen, cfg, seed=3, device="cpu",
                     resume_path=resume_path, log=log, precision=precision)


def _assert_same(a, b):
    assert a.history == b.history
    assert a.summary == b.summary
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


# ----------------------------------------------------------------------------- NLL figures
def test_nll_metrics_definitions():
    torch.manual_seed(0)
    model = build_generator(dict(vocab_size=14, embed_dim=4, hidden_dim=8, max_len=8)).eval()
    data = tiny_corpus().valid
    m = nll_metrics(model, data, batch_size=5, device="cpu")
    tok = model.token_nll(data).detach().double()
    real = data != PAD_ID
    assert m["tokens"] == int(real.sum())
    assert m["nll"] == pytest.approx(float(tok.sum() / real.sum()), rel=1e-6)
    # anchor: the same sum averaged over all n * max_len positions (Texygen/RelGAN NLL_gen)
    assert m["nll_anchor"] == pytest.approx(float(tok.sum()) / (len(data) * 8), rel=1e-6)
    assert m["ppl"] == pytest.approx(math.exp(m["nll"]))
    assert m["nll_anchor"] < m["nll"]
    # batch size only changes summation order
    assert nll_metrics(model, data, 1000, "cpu")["nll"] == pytest.approx(m["nll"], rel=1e-6)


# ----------------------------------------------------------------------------- training
def test_training_learns_and_reports():
    r = _run()
    assert [row["epoch"] for row in r.history] == [1, 2, 3, 4]
    assert set(r.history[0]) == {"epoch", "train_nll", "valid_nll", "valid_ppl", "valid_nll_anchor"}
    assert r.history[-1]["valid_nll"] < r.history[0]["valid_nll"]
    s = r.summary
    assert s["best_epoch"] == min(r.history, key=lambda row: row["valid_nll"])["epoch"]
    assert s["valid_nll"] == r.history[s["best_epoch"] - 1]["valid_nll"]
    assert s["test_nll_anchor"] < s["test_nll"] < math.log(14)
    assert s["train_nll_anchor"] < s["train_nll"]  # best model, eval mode, on the train split
    json.dumps(s)  # the metrics JSON is plain data, and holds no timings
    assert not any("second" in k or "per_s" in k for k in s)
    assert r.start_epoch == 1 and not r.model.training


def test_two_runs_are_identical():
    _assert_same(_run(), _run())


def test_early_stopping_keeps_the_best_epoch(monkeypatch):
    scripted = iter([3.0, 2.0, 2.5, 2.6, 1.0, 0.5])
    real = mle.nll_metrics

    def fake(model, data, batch_size, device):
        out = real(model, data, batch_size, device)
        if data is corpus.valid:
            out = {**out, "nll": next(scripted)}
        return out

    corpus = tiny_corpus()
    monkeypatch.setattr(mle, "nll_metrics", fake)
    r = _run(corpus, epochs=6, patience=2)
    assert [row["valid_nll"] for row in r.history] == [3.0, 2.0, 2.5, 2.6]
    assert r.summary["best_epoch"] == 2 and r.summary["stopped_early"]
    assert r.summary["epochs_run"] == 4


# ----------------------------------------------------------------------------- resume
CHILD = """
import os, signal, sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {here!r})
from test_mle import tiny_corpus, tiny_cfgs
from gantext.training.mle import train_mle

def kill_after(rep):
    if rep.epoch == {kill_after}:
        os.kill(os.getpid(), signal.SIGKILL)

gen, cfg = tiny_cfgs()
train_mle(tiny_corpus(), gen, cfg, seed=3, device="cpu", resume_path={state!r},
          on_epoch_end=kill_after)
"""


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    state = tmp_path / "state.pt"
    code = CHILD.format(here=str(HERE), kill_after=2, state=str(state))
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert killed.returncode == -9, killed.stderr  # SIGKILL right after epoch 2 of 4
    assert "epoch 2/4" in killed.stderr and "epoch 3/4" not in killed.stderr
    assert state.exists()

    logs = []
    resumed = _run(resume_path=state, log=logs.append)  # the re-run (single-threaded, as the child)
    assert any("resuming at epoch 3" in m for m in logs), logs
    assert not any("epoch 1/4" in m for m in logs) and any("epoch 3/4" in m for m in logs)
    assert resumed.start_epoch == 3 and len(resumed.history) == 4

    _assert_same(resumed, _run())  # == an uninterrupted run: tensors, history, summary


def test_resume_in_process_and_finished_state(tmp_path):
    state = tmp_path / "s.pt"
    _run(resume_path=state, epochs=2)  # epochs is part of the fingerprint: this state is stale
    logs = []
    full = _run(resume_path=state, log=logs.append)
    assert any("ignoring stale resume state" in m for m in logs) and full.start_epoch == 1
    # the state now says "finished": a re-run only re-evaluates, with the same result
    logs.clear()
    again = _run(resume_path=state, log=logs.append)
    assert any("already finished" in m for m in logs)
    _assert_same(full, again)
    discard_resume(state)
    assert not state.exists()


def test_resume_state_from_other_data_is_ignored(tmp_path):
    state = tmp_path / "s.pt"
    _run(tiny_corpus(seed=1), resume_path=state, epochs=1)
    logs = []
    r = _run(resume_path=state, log=logs.append, epochs=1)
    assert r.start_epoch == 1 and any("ignoring" in m for m in logs)


# ----------------------------------------------------------------------------- checkpoints
class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_tampered_checkpoint_is_refused(tmp_path):
    corpus = tiny_corpus()
    r = _run(epochs=1)
    path = tmp_path / "g.pt"
    save_generator(path, r.model, corpus.vocab.hash)
    payload = torch.load(path, weights_only=True)
    payload["extra"]["note"] = _Evil(tmp_path / "pwned")
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_generator(path, vocab_hash=corpus.vocab.hash)
    assert not (tmp_path / "pwned").exists()


def test_checkpoint_with_other_vocabulary_is_refused(tmp_path):
    corpus = tiny_corpus()
    r = _run(epochs=1)
    path = tmp_path / "g.pt"
    save_generator(path, r.model, corpus.vocab.hash, metrics=r.summary)
    model, payload = load_generator(path, vocab_hash=corpus.vocab.hash)
    assert payload["metrics"] == r.summary and model.spec.max_len == 8
    other = Vocab(("<pad>", "<bos>", "<eos>", "<unk>", "x"))
    with pytest.raises(CheckpointError, match="vocabulary hash"):
        load_generator(path, vocab_hash=other.hash)


def test_samples_of_a_trained_model_follow_the_layout():
    r = _run()
    ids, lens = r.model.sample(50, generator=torch.Generator().manual_seed(0))
    assert ids.shape == (50, 9)
    assert torch.all(ids[torch.arange(50), lens] == EOS_ID)


def test_empty_validation_split_is_a_clear_error():
    from dataclasses import replace

    from gantext.errors import DataError

    corpus = tiny_corpus()
    with pytest.raises(DataError, match="valid_fraction"):
        _run(replace(corpus, valid=corpus.valid[:0]))


def test_lr_decays_per_epoch(tmp_path):
    state = tmp_path / "s.pt"
    _run(resume_path=state, epochs=3, lr=0.01, lr_decay=0.5)
    opt = torch.load(state, weights_only=True)["state"]["optimizer"]
    assert opt["param_groups"][0]["lr"] == pytest.approx(0.01 * 0.5 ** 2)


# ----------------------------------------------------------------------------- the fast training loss
def test_teacher_forced_layout():
    from gantext.data import teacher_forced
    from gantext.text.vocab import BOS_ID

    rows = torch.tensor([[5, 6, EOS_ID, PAD_ID, PAD_ID, PAD_ID],
                         [7, EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
                         [4, 5, 6, 7, EOS_ID, PAD_ID]])
    b = teacher_forced(rows)
    assert b.inputs.tolist() == [[BOS_ID, 5, 6, EOS_ID, PAD_ID],  # cut to the longest row (5)
                                 [BOS_ID, 7, EOS_ID, PAD_ID, PAD_ID],
                                 [BOS_ID, 4, 5, 6, 7]]
    assert b.targets.tolist() == [5, 6, EOS_ID, 7, EOS_ID, 4, 5, 6, 7, EOS_ID]
    assert b.index.tolist() == [0, 1, 2, 5, 6, 10, 11, 12, 13, 14]
    assert b.count == 10 and b.to("cpu") is b
    assert mle._rows_of(b).tolist() == rows[:, :5].tolist()
    p = teacher_forced(rows, multiple=8)  # padded to 16 entries the loss skips
    assert p.count == 10 and p.inputs.equal(b.inputs)
    assert p.index.tolist() == b.index.tolist() + [0] * 6
    assert p.targets.tolist() == b.targets.tolist() + [mle.IGNORE_TARGET] * 6
    assert mle._rows_of(p).tolist() == rows[:, :5].tolist()


def test_batch_nll_equals_the_generator_nll_with_gradients():
    corpus = tiny_corpus()
    gen, _ = tiny_cfgs()
    torch.manual_seed(0)
    model = build_generator(mle.generator_spec(corpus, gen)).eval()
    rows = corpus.train[:16]
    fast = mle.batch_nll(model, mle.teacher_forced(rows))
    fast.backward()
    g_fast = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    ref, count = model.nll(rows)
    ref.backward()
    assert count == mle.teacher_forced(rows).count
    assert torch.allclose(fast, ref, rtol=1e-5)
    padded = mle.batch_nll(model, mle.teacher_forced(rows, multiple=64))
    assert torch.equal(padded.detach(), fast.detach())  # skipped entries add exactly nothing
    for a, b in zip(g_fast, (p.grad for p in model.parameters())):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_the_default_generator_takes_the_fast_path():
    """A generator class missing from HEAD_FEATURES would silently train through its slower
    nll: the default architecture must be listed."""
    model = build_generator(mle.generator_spec(tiny_corpus(), tiny_cfgs()[0]))
    assert type(model) in mle.HEAD_FEATURES


@needs_bf16_lstm
def test_bf16_training_is_reproducible_and_close_to_fp32():
    a, b = _run(precision="bf16"), _run(precision="bf16")
    _assert_same(a, b)
    ref = _run()
    assert a.history != ref.history  # the precision is really applied
    assert a.summary["valid_nll"] == pytest.approx(ref.summary["valid_nll"], rel=0.02)


def test_resume_state_is_keyed_by_precision():
    corpus = tiny_corpus()
    gen, cfg = tiny_cfgs()
    assert (mle.resume_fingerprint(corpus, gen, cfg, 3, "cpu", "fp32")
            != mle.resume_fingerprint(corpus, gen, cfg, 3, "cpu", "bf16"))


def test_the_low_lr_phase_starts_from_the_best_epoch_and_stops_at_no_gain(monkeypatch, tmp_path):
    """Early stopping after epoch 4 (best: 2); the low-lr phase restarts from epoch 2's weights
    at low_lr, keeps epoch 5 (better), stops at epoch 6 (not better): epoch 5 is handed out."""
    scripted = iter([3.0, 2.0, 2.5, 2.6, 1.9, 1.95, 1.0])
    real = mle.nll_metrics
    seen = {}

    def fake(model, data, batch_size, device):
        out = real(model, data, batch_size, device)
        if data is corpus.valid:
            out = {**out, "nll": next(scripted)}
        return out

    def lrs(rep):  # the learning rate each epoch trained with
        seen[rep.epoch] = state_lr()

    corpus = tiny_corpus()
    monkeypatch.setattr(mle, "nll_metrics", fake)
    state = tmp_path / "s.pt"

    def state_lr():
        return torch.load(state, weights_only=True)["state"]["optimizer"]["param_groups"][0]["lr"]

    gen, cfg = tiny_cfgs(epochs=6, patience=2, low_lr_epochs=3, low_lr=1e-5)
    r = train_mle(corpus, gen, cfg, seed=3, device="cpu", resume_path=state, log=_quiet,
                  on_epoch_end=lrs)
    assert [row["valid_nll"] for row in r.history] == [3.0, 2.0, 2.5, 2.6, 1.9, 1.95]
    assert r.summary["best_epoch"] == 5 and r.summary["low_lr_epochs_run"] == 2
    assert r.summary["stopped_early"] and r.summary["valid_nll"] == 1.9
    # epoch 4's saved state is the phase's start (fresh Adam at low_lr); 5 and 6 train at it
    assert seen[3] == pytest.approx(0.01 * 0.8 ** 2) and seen[5] == seen[6] == 1e-5
    assert torch.load(state, weights_only=True)["state"]["low_from"] == 4
    assert mle.epoch_lr(cfg, 4, None) == pytest.approx(0.01 * 0.8 ** 3)
    assert mle.epoch_lr(cfg, 5, 4) == 1e-5


def test_without_the_low_lr_phase_nothing_changes():
    r = _run(epochs=3, low_lr_epochs=0)
    assert r.summary["low_lr_epochs_run"] == 0 and r.summary["epochs_run"] == 3


def test_epoch_label_counts_the_low_lr_phase_on_its_own():
    """The low-lr epochs run past `pretrain.epochs`: their lines must not read 'epoch 9/8'."""
    from gantext.config import PretrainConfig
    from gantext.training.mle import epoch_label

    cfg = PretrainConfig(epochs=8, low_lr_epochs=4)
    assert epoch_label(cfg, 3, None) == "epoch 3/8"
    assert epoch_label(cfg, 7, 6) == "epoch 7 (low-lr 1/4)"
    assert epoch_label(cfg, 10, 6) == "epoch 10 (low-lr 4/4)"
