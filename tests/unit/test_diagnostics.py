"""D at chance for the whole run: said in metrics/adversarial.json and in the stage's output."""

import pytest

from gantext.training.diagnostics import CHANCE_TOLERANCE, chance_message, chance_report


def test_bce_style_history_at_chance():
    hist = [{"d_acc_real": 0.52, "d_acc_fake": 0.47}, {"d_acc_real": 0.55, "d_acc_fake": 0.49}]
    r = chance_report(hist)
    assert r["d_at_chance"] is True
    assert r["d_acc_mean"] == pytest.approx((0.495 + 0.52) / 2)
    assert r["d_acc_min"] == pytest.approx(0.495) and r["d_acc_max"] == pytest.approx(0.52)
    assert "chance" in chance_message(r, "bce")
    assert "adversarial.wgan_gp.d_lr" in chance_message(r, "wgan-gp", "wgan_gp")


def test_one_informative_window_is_not_chance():
    hist = [{"d_acc_pair": 0.5}, {"d_acc_pair": 0.5 + CHANCE_TOLERANCE + 0.05}]
    r = chance_report(hist)
    assert r["d_at_chance"] is False and chance_message(r, "rsgan") is None


def test_pair_accuracy_wins_and_no_accuracy_means_no_report():
    assert chance_report([{"d_acc_pair": 0.9, "d_acc_real": 0.5, "d_acc_fake": 0.5}])["d_at_chance"] is False
    assert chance_report([{"wasserstein": 0.1}]) == {}
    # the WGAN-GP critic: its pairwise rank of real over fake
    assert chance_report([{"wasserstein": 0.1, "d_rank_soft": 0.51}])["d_at_chance"] is True
    assert chance_report([]) == {}
