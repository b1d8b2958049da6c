"""The shared adversarial loop: 2 steps per objective, outputs, NaN guard, resume after SIGKILL."""

import csv
import json
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gantext.errors import TrainingError
from gantext.objectives import OBJECTIVES
from gantext.paths import repo_paths
from gantext.training.adversarial import load_discriminator, write_outputs
from gantext.training.checkpoint import load_generator

# The setup lives in a script so a subprocess can run it too (and kill itself mid-run).
SCRIPT = textwrap.dedent('''
    import dataclasses, os, signal, sys
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from gantext.config import AdversarialConfig, DiscriminatorConfig
    from gantext.data import Corpus
    from gantext.models.generator import Generator, GeneratorSpec, build_generator
    from gantext.text.vocab import EOS_ID, Vocab
    from gantext.training.adversarial import train_adversarial

    MAX_LEN = 6

    def tiny_corpus():
        vocab = Vocab(("<pad>", "<bos>", "<eos>", "<unk>") + tuple(f"w{i}" for i in range(8)))
        g = torch.Generator().manual_seed(0)
        def rows(n):
            out = torch.zeros(n, MAX_LEN + 1, dtype=torch.long)
            for i in range(n):
                k = int(torch.randint(1, MAX_LEN + 1, (1,), generator=g))
                out[i, :k] = 4 + (i + torch.arange(k)) % 8
                out[i, k] = EOS_ID
            return out
        return Corpus(vocab, rows(40), rows(8), rows(8))

    def tiny_config(loss, **kw):
        # the worse-everywhere rollback would hand some 5-step random-net runs back to the start;
        # these tests are about the loop (the rollback has its own tests below)
        kw = {"rollback_if_worse_everywhere": False, "guard_samples": 64, **kw}
        cfg = AdversarialConfig(loss=loss, steps=5, batch_size=4, log_every=2, sample_every=3,
                                checkpoint_every=2, device="cpu", **kw)
        return dataclasses.replace(
            cfg, wgan_gp=dataclasses.replace(cfg.wgan_gp, n_critic=2),
            seqgan=dataclasses.replace(cfg.seqgan, n_rollouts=2, d_pretrain_steps=2, rollout_batch=16),
            coldgan=dataclasses.replace(cfg.coldgan, d_pretrain_steps=2),
            scratchgan=dataclasses.replace(cfg.scratchgan, d_pretrain_steps=2, accumulate=2))

    def run(loss, resume_file=None, fingerprint="fp", on_step=None, **kw):
        corpus = tiny_corpus()
        torch.manual_seed(1)
        gen = build_generator(GeneratorSpec(vocab_size=len(corpus.vocab), embed_dim=8, hidden_dim=12))
        dcfg = DiscriminatorConfig(embed_dim=8, kernel_sizes=(2, 3), num_filters=4)
        return train_adversarial(gen, corpus, tiny_config(loss, **kw), dcfg, seed=0,
                                 resume_file=resume_file, fingerprint=fingerprint, on_step=on_step)

    if __name__ == "__main__":
        loss, resume, out, kill_at = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
        def kill(step):
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        r = run(loss, resume, on_step=kill if kill_at else None)
        torch.save({"g": r.generator.state_dict(), "d": r.discriminator.state_dict(),
                    "history": r.history, "metrics": r.metrics, "samples": r.samples}, out)
''')


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("script") / "adv_script.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture(scope="module")
def mod(script):
    return runpy.run_path(str(script), run_name="adv_script")


class Recorder:
    def __init__(self):
        self.calls = []

    def log_metrics(self, metrics, step=None):
        self.calls.append((step, dict(metrics)))


@pytest.mark.parametrize("loss", sorted(OBJECTIVES))
def test_two_steps_per_objective(mod, loss, tmp_path):
    corpus = mod["tiny_corpus"]()
    torch.manual_seed(1)
    from gantext.config import DiscriminatorConfig
    from gantext.models.generator import GeneratorSpec, build_generator
    from gantext.training.adversarial import train_adversarial

    gen = build_generator(GeneratorSpec(vocab_size=len(corpus.vocab), embed_dim=8, hidden_dim=12))
    before = [p.clone() for p in gen.parameters()]
    import dataclasses
    cfg = dataclasses.replace(mod["tiny_config"](loss), steps=2, log_every=1)
    tracker = Recorder()
    r = train_adversarial(gen, corpus, cfg, DiscriminatorConfig(embed_dim=8, kernel_sizes=(2, 3),
                                                                 num_filters=4), 0, tracker=tracker)
    assert [row["step"] for row in r.history] == [1, 2]
    assert any(not torch.equal(b, p) for b, p in zip(before, r.generator.parameters()))
    keys = set(r.history[0])
    d_keys = {"d_loss", "d_grad_norm"} if OBJECTIVES[loss].d_steps_per_g_step else set()
    assert {"g_loss", "g_grad_norm", "beta", *d_keys} <= keys  # the control has no D steps
    assert set(OBJECTIVES[loss].log_keys) <= keys  # what the objective declares, it logs
    assert [s for s, _ in tracker.calls if s] == [1, 2]
    assert r.samples and r.samples[0].startswith("step 2: ")

    paths = repo_paths(tmp_path)
    write_outputs(r, paths, corpus.vocab.hash, loss)
    g2, _ = load_generator(paths.adversarial_generator, vocab_hash=corpus.vocab.hash)
    assert all(torch.equal(a, b) for a, b in zip(g2.state_dict().values(), r.generator.state_dict().values()))
    load_discriminator(paths.adversarial_discriminator, vocab_hash=corpus.vocab.hash)
    metrics = json.loads(paths.metrics_json("adversarial").read_text())
    assert metrics["steps"] == 2 and "final_g_loss" in metrics
    assert not any("second" in k or "time" in k for k in metrics)  # no wall-clock: reruns identical
    if {"d_acc_pair", "d_acc_real", "d_rank_soft"} & keys:  # D accuracy logged: chance report written
        assert isinstance(metrics["d_at_chance"], bool) and 0 <= metrics["d_acc_mean"] <= 1
    with open(paths.plot_csv("adversarial")) as fh:
        assert [int(row["step"]) for row in csv.DictReader(fh)] == [1, 2]


def test_same_seed_same_result(mod):
    a, b = mod["run"]("bce"), mod["run"]("bce")
    assert a.history == b.history
    assert all(torch.equal(x, y) for x, y in zip(a.generator.state_dict().values(),
                                                 b.generator.state_dict().values()))


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(mod, tmp_path, monkeypatch):
    cls = OBJECTIVES["bce"]
    original = cls.generator_step

    def poisoned(self, real, step):
        logs = original(self, real, step)
        return {**logs, "g_loss": float("nan")} if step == 2 else logs

    monkeypatch.setattr(cls, "generator_step", poisoned)
    resume = tmp_path / "adv.resume.pt"
    # A NaN loss is refused by the update at its own step (test_objectives); a NaN that only
    # shows in the logs is found when its log window (log_every = 2: steps 3-4) is read back.
    with pytest.raises(TrainingError, match=r"diverged at step 4 .*g_loss is nan.*step 2"):
        mod["run"]("bce", resume)
    assert torch.load(resume, weights_only=True)["state"]["step"] == 2


@pytest.mark.parametrize("loss, keys", [
    ("bce", "adversarial.bce.g_lr / adversarial.bce.d_lr"),
    ("mle-continued", "adversarial.mle_continued.g_lr or"),  # it has no D, so no d_lr
])
def test_divergence_names_only_the_learning_rates_the_objective_has(mod, monkeypatch, loss, keys):
    cls = OBJECTIVES[loss]
    original = cls.generator_step
    monkeypatch.setattr(cls, "generator_step", lambda self, real, step: {
        **original(self, real, step), "g_loss": float("inf")})
    with pytest.raises(TrainingError) as info:
        mod["run"](loss)
    msg = str(info.value)
    assert f"Lower {keys}" in msg
    assert ("d_lr" in msg) == (loss != "mle-continued")


def test_stale_resume_file_is_ignored(mod, tmp_path, capsys):
    resume = tmp_path / "adv.resume.pt"
    mod["run"]("bce", resume, fingerprint="old", on_step=lambda s: None)
    fresh = mod["run"]("bce")
    again = mod["run"]("bce", resume, fingerprint="new")
    assert "stale" in capsys.readouterr().err
    assert again.history == fresh.history


def test_killed_run_resumes_to_the_identical_result(mod, script, tmp_path):
    """SeqGAN carries the most state (rollout copy, D pretraining): SIGKILL it after step 3."""
    reference = mod["run"]("seqgan")
    resume, out = tmp_path / "adv.resume.pt", tmp_path / "out.pt"
    cmd = [sys.executable, str(script), "seqgan", str(resume), str(out)]
    killed = subprocess.run(cmd + ["3"], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert resume.is_file() and not out.exists()
    done = subprocess.run(cmd + ["0"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "resuming from step 2" in done.stderr
    got = torch.load(out, weights_only=True)
    assert_same(got, reference)


class Crash(Exception):
    pass


@pytest.mark.parametrize("loss,guard", [("bce", False), ("wgan-gp", False), ("bce", True),
                                        ("scratchgan", False)])
def test_crashed_run_resumes_to_the_identical_result(mod, tmp_path, loss, guard):
    """The same in-process (cheaper than a subprocess) for the other objectives (scratchgan:
    its moving-average baseline); with the worse-everywhere rollback on, the kept candidate
    travels in the resume file."""
    kw = {"rollback_if_worse_everywhere": guard, "max_valid_nll_rise": 1e-9 if guard else 0.5}
    reference = mod["run"](loss, **kw)
    resume = tmp_path / "adv.resume.pt"

    def crash(step):
        if step == 3:
            raise Crash

    with pytest.raises(Crash):
        mod["run"](loss, resume, on_step=crash, **kw)
    r = mod["run"](loss, resume, **kw)
    if guard:  # the tiny bound: the run hands out a kept candidate (the start or step 2)
        assert reference.metrics["rolled_back"] is True
    assert_same({"g": r.generator.state_dict(), "d": r.discriminator.state_dict(),
                 "history": r.history, "metrics": r.metrics, "samples": r.samples}, reference)


def assert_same(got: dict, reference) -> None:
    assert got["history"] == reference.history
    assert got["samples"] == reference.samples
    assert got["metrics"] == reference.metrics
    for mine, theirs in ((got["g"], reference.generator.state_dict()),
                         (got["d"], reference.discriminator.state_dict())):
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs)


def test_generator_trains_without_dropout_in_train_mode(mod):
    """Issue 15 defect 1: G's dropout is 0 for the whole adversarial phase (train mode kept)."""
    from gantext.config import DiscriminatorConfig
    from gantext.models.generator import GeneratorSpec, build_generator
    from gantext.training.adversarial import train_adversarial

    corpus = mod["tiny_corpus"]()
    gen = build_generator(GeneratorSpec(vocab_size=len(corpus.vocab), embed_dim=8, hidden_dim=12,
                                  num_layers=2, dropout=0.5))
    seen = []
    cls = OBJECTIVES["seqgan"]
    original = cls.generator_step

    def spy(self, real, step):
        seen.append((self.G.training, torch.equal(self.G.token_nll(real), self.G.token_nll(real))))
        return original(self, real, step)

    cls.generator_step = spy
    try:
        train_adversarial(gen, corpus, mod["tiny_config"]("seqgan"),
                          DiscriminatorConfig(embed_dim=8, kernel_sizes=(2, 3), num_filters=4), 0)
    finally:
        cls.generator_step = original
    assert seen and all(training and same for training, same in seen)


#: the other architectures, tiny (the loop's other tests run the LSTM)
OTHER_ARCHS = {"relational-memory": dict(mem_slots=2, num_heads=2, head_size=4),
               "transformer": dict(d_model=8, num_layers=2, num_heads=2, ff_dim=16)}


@pytest.mark.parametrize("arch", sorted(OTHER_ARCHS))
@pytest.mark.parametrize("loss", sorted(OBJECTIVES))
def test_every_objective_runs_the_other_generators(mod, loss, arch, tmp_path):
    """The other architectures go through the same loop (rollouts index their state)."""
    import dataclasses

    from gantext.config import DiscriminatorConfig
    from gantext.models.generator import build_generator
    from gantext.training.adversarial import train_adversarial

    corpus = mod["tiny_corpus"]()
    torch.manual_seed(1)
    gen = build_generator(dict(arch=arch, vocab_size=len(corpus.vocab), embed_dim=8, max_len=6,
                               **OTHER_ARCHS[arch]))
    before = [p.clone() for p in gen.parameters()]
    cfg = dataclasses.replace(mod["tiny_config"](loss), steps=2, log_every=1)
    r = train_adversarial(gen, corpus, cfg, DiscriminatorConfig(embed_dim=8, kernel_sizes=(2, 3),
                                                                 num_filters=4), 0)
    assert any(not torch.equal(b, p) for b, p in zip(before, r.generator.parameters()))
    paths = repo_paths(tmp_path)
    write_outputs(r, paths, corpus.vocab.hash, loss)
    back, _ = load_generator(paths.adversarial_generator, vocab_hash=corpus.vocab.hash)
    assert back.arch == arch


def _scripted_nll_run(mod, monkeypatch, nlls, **kw):
    """A bce run (5 steps, checks at steps 2 and 4 and at the end) whose validation NLL reads
    are scripted: `nlls` = start, step 2, step 4, end. Returns (result, G's weights after each
    step)."""
    import dataclasses

    import gantext.training.adversarial as adv
    from gantext.config import DiscriminatorConfig
    from gantext.models.generator import GeneratorSpec, build_generator

    reads = iter(nlls)
    monkeypatch.setattr(adv, "valid_nll", lambda g, data, batch_size=500: next(reads))
    corpus = mod["tiny_corpus"]()
    torch.manual_seed(1)
    gen = build_generator(GeneratorSpec(vocab_size=len(corpus.vocab), embed_dim=8, hidden_dim=12))
    snaps = {}
    cfg = dataclasses.replace(mod["tiny_config"]("bce"), **kw)
    r = adv.train_adversarial(
        gen, corpus, cfg, DiscriminatorConfig(embed_dim=8, kernel_sizes=(2, 3), num_filters=4), 0,
        on_step=lambda s: snaps.__setitem__(s, {k: v.clone() for k, v in gen.state_dict().items()}))
    return r, snaps


def test_a_run_that_ends_wrecked_hands_out_the_latest_checkpoint_within_the_bound(
        mod, monkeypatch, capsys):
    # start 1.0; step 2: 1.2 (within 0.5); step 4: 2.0 (over); end 1.9 (over): keep step 2
    r, snaps = _scripted_nll_run(mod, monkeypatch, [1.0, 1.2, 2.0, 1.9], max_valid_nll_rise=0.5)
    m = r.metrics
    assert m["rolled_back"] is True and m["kept_step"] == 2 and m["valid_nll_end"] == 1.9
    assert m["valid_nll"] == 1.2 and m["steps"] == 5 and [h["step"] for h in r.history] == [2, 4, 5]
    assert all(torch.equal(v, snaps[2][k]) for k, v in r.generator.state_dict().items())
    err = capsys.readouterr().err
    assert "ended at 1.9000 per token, up from the MLE's 1.0000" in err
    assert "the generator of step 2 (valid NLL 1.2000" in err and "adversarial.bce.g_lr" in err


def test_only_the_end_decides_and_0_always_keeps_the_end(mod, monkeypatch):
    # a swing over the bound mid-run that comes back: the run's own end stands
    r, snaps = _scripted_nll_run(mod, monkeypatch, [1.0, 1.7, 1.2, 1.3], max_valid_nll_rise=0.5)
    assert r.metrics["rolled_back"] is False and r.metrics["valid_nll"] == 1.3
    assert all(torch.equal(v, snaps[5][k]) for k, v in r.generator.state_dict().items())
    # nothing within the bound after the start: back to the starting (MLE) generator
    r, snaps = _scripted_nll_run(mod, monkeypatch, [1.0, 1.6, 1.7, 1.8], max_valid_nll_rise=0.5)
    assert r.metrics["kept_step"] == 0 and r.metrics["valid_nll"] == 1.0
    r, snaps = _scripted_nll_run(mod, monkeypatch, [1.0, 5.0, 6.0, 7.0], max_valid_nll_rise=0.0)
    assert r.metrics["rolled_back"] is False and "kept_step" not in r.metrics
    assert r.metrics["valid_nll"] == 7.0
    assert all(torch.equal(v, snaps[5][k]) for k, v in r.generator.state_dict().items())


def test_a_run_worse_on_every_figure_hands_out_the_latest_state_that_is_not(
        mod, monkeypatch, capsys):
    """bce's default g_lr on COCO: valid NLL +0.195 (inside the 0.5 bound), BLEU-5 down,
    self-BLEU-5 up. Scripted figures: start, step 2 (a trade: NLL and BLEU up), step 4 (worse
    everywhere), end (worse everywhere): step 2 is handed out."""
    import gantext.training.adversarial as adv
    from gantext.training.guard import Figures

    figs = iter([(0.20, 0.34), (0.22, 0.36), (0.17, 0.35), (0.16, 0.35)])
    monkeypatch.setattr(adv.FigureProbe, "__call__", lambda self, g, nll: Figures(nll, *next(figs)))
    r, snaps = _scripted_nll_run(mod, monkeypatch, [1.0, 1.1, 1.2, 1.2],
                                 rollback_if_worse_everywhere=True)
    m = r.metrics
    assert m["rolled_back"] is True and m["rollback_reason"] == "worse_everywhere"
    assert m["kept_step"] == 2 and m["valid_nll"] == 1.1 and m["valid_nll_end"] == 1.2
    assert (m["guard_bleu5_start"], m["guard_bleu5_end"], m["guard_sbleu5_end"]) == (0.2, 0.16, 0.35)
    assert all(torch.equal(v, snaps[2][k]) for k, v in r.generator.state_dict().items())
    err = capsys.readouterr().err
    assert "worse than the MLE on every figure" in err and "the generator of step 2" in err
    assert "rollback_if_worse_everywhere: false keeps the end" in err


def test_a_trade_is_not_rolled_back_and_false_keeps_any_end(mod, monkeypatch):
    import gantext.training.adversarial as adv
    from gantext.training.guard import Figures

    # the end trades diversity for quality (BLEU-5 up, self-BLEU-5 up, NLL up): it stands
    figs = iter([(0.20, 0.34), (0.21, 0.35), (0.22, 0.36), (0.23, 0.37)])
    monkeypatch.setattr(adv.FigureProbe, "__call__", lambda self, g, nll: Figures(nll, *next(figs)))
    r, snaps = _scripted_nll_run(mod, monkeypatch, [1.0, 1.1, 1.2, 1.3],
                                 rollback_if_worse_everywhere=True)
    assert r.metrics["rolled_back"] is False and r.metrics["guard_bleu5_end"] == 0.23
    assert all(torch.equal(v, snaps[5][k]) for k, v in r.generator.state_dict().items())
    # switched off: no figures are measured, the end stands whatever it is
    r, snaps = _scripted_nll_run(mod, monkeypatch, [1.0, 1.1, 1.2, 1.3])
    assert r.metrics["rolled_back"] is False and "guard_bleu5_end" not in r.metrics


def test_worse_everywhere_needs_all_three_figures_worse():
    from gantext.training.guard import Figures

    mle = Figures(3.34, 0.197, 0.338)
    assert Figures(3.54, 0.166, 0.350).worse_everywhere_than(mle)  # COCO bce, default g_lr
    assert not Figures(3.54, 0.166, 0.330).worse_everywhere_than(mle)  # more diverse: a trade
    assert not Figures(3.54, 0.210, 0.350).worse_everywhere_than(mle)  # better BLEU: a trade
    assert not Figures(3.30, 0.166, 0.350).worse_everywhere_than(mle)  # better NLL
    assert not Figures(3.54).worse_everywhere_than(mle)  # BLEU not measured: never
    # a "gain" inside the noise is no trade: COCO bce's step 150 (BLEU-5 0.1981 vs 0.1980)
    noisy = Figures(3.34, 0.1980, 0.2435, bleu5_se=0.0016, sbleu5_se=0.0017)
    assert Figures(3.39, 0.1981, 0.2685, 0.0016, 0.0017).worse_everywhere_than(noisy)
    assert not Figures(3.39, 0.2100, 0.2685, 0.0016, 0.0017).worse_everywhere_than(noisy)
    assert not Figures(3.39, 0.1950, 0.2300, 0.0016, 0.0017).worse_everywhere_than(noisy)


def test_the_figure_probe_is_reproducible_and_leaves_the_training_stream_alone(mod):
    from gantext.models.generator import GeneratorSpec, build_generator
    from gantext.training.adversarial import FigureProbe

    corpus = mod["tiny_corpus"]()
    torch.manual_seed(1)
    gen = build_generator(GeneratorSpec(vocab_size=len(corpus.vocab), embed_dim=8, hidden_dim=12))
    probe = FigureProbe(corpus, 20, 7)
    state = torch.get_rng_state()
    a, b = probe(gen, 1.0), probe(gen, 1.0)
    assert torch.equal(state, torch.get_rng_state())
    assert a == b and 0 <= a.bleu5 <= 1 and 0 <= a.sbleu5 <= 1 and a.nll == 1.0
    assert 0 < a.bleu5_se < 1 and 0 < a.sbleu5_se < 1


def test_a_curve_below_the_mles_everywhere_is_no_gain():
    """The news corpus' bce: lower BLEU-5 and lower self-BLEU-5 at T = 1 read as a trade by the
    T = 1 rule, but the MLE reaches that diversity at another temperature with a higher BLEU-5:
    its curve lies below the MLE's everywhere, so it is worse everywhere."""
    from gantext.training.guard import Figures

    mle = Figures(3.34, 0.197, 0.338)
    below = dict(gap_mean=-0.006, gap_max=-0.003, gap_max_lo=-0.006, gap_max_hi=-0.001)
    assert not Figures(3.54, 0.166, 0.330).worse_everywhere_than(mle)  # T = 1 alone: a trade
    assert Figures(3.54, 0.166, 0.330, **below).worse_everywhere_than(mle)
    assert Figures(3.54, 0.166, 0.330, **below).below_curve() is True
    assert not Figures(3.30, 0.166, 0.330, **below).worse_everywhere_than(mle)  # better NLL
    inside = {**below, "gap_max_hi": 0.002}  # above somewhere, within noise: a trade
    assert not Figures(3.54, 0.166, 0.350, **inside).worse_everywhere_than(mle)
    assert "largest gap above MLE's curve -0.0030 [-0.0060, -0.0010]" in Figures(
        3.54, 0.166, 0.330, **below).line()


def test_a_run_below_the_mles_curve_is_rolled_back(mod, monkeypatch, capsys):
    import gantext.training.adversarial as adv
    from gantext.training.guard import Figures

    curve = iter([{}, {"gap_max": 0.004, "gap_max_lo": 0.001, "gap_max_hi": 0.007},
                  {"gap_max": -0.004, "gap_max_lo": -0.007, "gap_max_hi": -0.001},
                  {"gap_max": -0.005, "gap_max_lo": -0.008, "gap_max_hi": -0.002}])
    # every state more diverse at T = 1 than the MLE (the T = 1 rule would keep them all)
    monkeypatch.setattr(adv.FigureProbe, "__call__",
                        lambda self, g, nll: Figures(nll, 0.19, 0.33, **next(curve)))
    r, snaps = _scripted_nll_run(mod, monkeypatch, [1.0, 1.1, 1.2, 1.2],
                                 rollback_if_worse_everywhere=True)
    m = r.metrics
    assert m["rolled_back"] is True and m["rollback_reason"] == "worse_everywhere"
    assert m["kept_step"] == 2 and m["guard_gap_max_hi_end"] == -0.002
    assert all(torch.equal(v, snaps[2][k]) for k, v in r.generator.state_dict().items())
    assert "curve lies below the MLE's" in capsys.readouterr().err


def test_the_probe_reads_a_curve_against_the_first_state(mod):
    """The first state probed is the base; the same generator again draws the same samples
    (one seed per temperature), so its curve lies exactly on the base's: gap 0, no interval."""
    from gantext.models.generator import GeneratorSpec, build_generator
    from gantext.training.adversarial import FigureProbe

    corpus = mod["tiny_corpus"]()
    torch.manual_seed(1)
    gen = build_generator(GeneratorSpec(vocab_size=len(corpus.vocab), embed_dim=8, hidden_dim=12))
    probe = FigureProbe(corpus, 30, 7, temperatures=(0.5, 2.0))
    assert probe.temps == (0.5, 1.0, 2.0)
    first, again = probe(gen, 1.0), probe(gen, 1.0)
    assert first.gap_max is None and again.bleu5 == first.bleu5
    assert again.gap_max == again.gap_max_lo == again.gap_max_hi == 0.0
    assert again.below_curve() is False
