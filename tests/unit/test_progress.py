"""gantext.progress: a line with rate and ETA every interval when stderr is not a terminal."""

from __future__ import annotations

import io
import re

import pytest

from gantext import progress as prog


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_lines_every_interval_with_rate_and_eta():
    out, clock = io.StringIO(), Clock()
    bar = prog.LineProgress(range(100), desc="adversarial (bce)", unit="step", interval=10,
                            file=out, clock=clock)
    for i in bar:
        clock.t += 0.5  # 2 steps/s
    lines = out.getvalue().splitlines()
    # 100 steps x 0.5 s = 50 s: a line at 10, 20, 30, 40, 50 s and the closing line
    assert len(lines) == 6, lines
    assert lines[0] == "adversarial (bce): 20/100 step (20%), 2 step/s, elapsed 10s, ETA 40s"
    assert lines[-1].startswith("adversarial (bce): 100/100 step (100%)")
    assert lines[-1].endswith("(done)") and "ETA" not in lines[-1]


def test_short_loop_is_silent_and_slow_steps_show_seconds_per_step():
    out, clock = io.StringIO(), Clock()
    for _ in prog.LineProgress(range(3), desc="quick", interval=10, file=out, clock=clock):
        clock.t += 1
    assert out.getvalue() == ""
    bar = prog.LineProgress(total=10, desc="seqgan", unit="step", interval=0, file=out,
                            clock=clock)
    clock.t += 30
    bar.update(2)
    clock.t += 30
    bar.update(2)
    assert out.getvalue().splitlines()[-1] == \
        "seqgan: 4/10 step (40%), 15 s/step, elapsed 1m00s, ETA 1m30s"


def test_no_eta_until_the_rate_is_measured_after_the_first_unit():
    """A loop whose set-up before the first unit is slow (SeqGAN's D pretraining drew its first
    fakes after the bar started): counted from the start, the first ETA said 3h49m."""
    out, clock = io.StringIO(), Clock()
    bar = prog.LineProgress(total=500, desc="D pretraining", unit="step", interval=0, file=out,
                            clock=clock)
    clock.t = 27.0  # the first step ends 27 s after the bar was made: 26.9 s of it set-up
    bar.update()
    clock.t += 0.1
    bar.update()
    assert all("ETA" not in line for line in out.getvalue().splitlines()), out.getvalue()
    for _ in range(8):
        clock.t += 0.1
        bar.update()
    last = out.getvalue().splitlines()[-1]
    assert last.endswith("ETA 49s"), last  # 490 steps left at 10 steps/s, not 3h49m
    assert "10 step/s" in last


def test_the_terminal_bar_waits_for_a_measured_rate_too():
    import time

    bar = prog._bar_class()(total=500, desc="D pretraining", unit="step", file=io.StringIO(),
                            mininterval=0)
    time.sleep(0.05)  # set-up before the first step
    bar.update()
    assert bar.format_dict["rate"] == 0  # tqdm prints "?" for the rate and the remaining time
    assert "?" in str(bar)
    for _ in range(3):
        bar.update()
    assert bar.format_dict["rate"] > 0
    bar.close()


def test_resumed_loop_rates_only_the_work_done_now():
    out, clock = io.StringIO(), Clock()
    bar = prog.LineProgress(range(50, 100), initial=50, total=100, desc="adv", unit="step",
                            interval=5, file=out, clock=clock)
    for _ in bar:
        clock.t += 1.0
    first = out.getvalue().splitlines()[0]
    assert first == "adv: 55/100 step (55%), 1 step/s, elapsed 5s, ETA 45s", first


def test_fast_loops_print_whole_rates():
    assert "3,270 line/s" in prog.status_line("ingest", 6540, 20000, 2.0, "line")


def test_postfix_and_durations():
    out, clock = io.StringIO(), Clock()
    bar = prog.LineProgress(total=4, desc="d", interval=0, file=out, clock=clock)
    bar.set_postfix({"d_loss": "0.69"})
    clock.t = 1
    bar.update()
    assert out.getvalue().rstrip().endswith("[d_loss=0.69]")
    assert [prog.format_duration(s) for s in (5, 65, 3725, float("inf"))] == \
        ["5s", "1m05s", "1h02m", "?"]


def test_mode_follows_the_terminal_and_the_env(monkeypatch):
    monkeypatch.delenv(prog.ENV_MODE, raising=False)
    assert prog.mode(io.StringIO()) == "lines"

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert prog.mode(Tty()) == "bar"
    from tqdm import tqdm

    assert isinstance(prog.progress(range(2), file=Tty()), tqdm)
    monkeypatch.setenv(prog.ENV_MODE, "off")
    out = io.StringIO()
    bar = prog.progress(total=3, file=out)
    bar.update(3)
    bar.close()
    assert out.getvalue() == ""


@pytest.fixture
def _lines_now(monkeypatch):
    monkeypatch.delenv(prog.ENV_MODE, raising=False)
    monkeypatch.setenv(prog.ENV_INTERVAL, "0")


def test_pretrain_prints_progress_lines_when_not_a_terminal(_lines_now, capsys):
    from gantext.training.mle import train_mle
    from test_mle import tiny_cfgs, tiny_corpus

    gen, cfg = tiny_cfgs(epochs=2)
    train_mle(tiny_corpus(), gen, cfg, seed=3, device="cpu", log=lambda m: None)
    err = capsys.readouterr().err
    assert re.search(r"pretrain epoch 1/2: \d+/6 batch \(\d+%\), [\d.]+ (batch/s|s/batch), "
                     r"elapsed \d+s, ETA \d+s", err), err
    assert "pretrain epoch 2/2: 6/6 batch (100%)" in err
