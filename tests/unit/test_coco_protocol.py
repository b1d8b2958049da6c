"""bench/coco: the recipe's grids are valid params, the selection rule, the chord gaps of the
sweep's score and length_matched.py, the thin aliases over `gantext protocol`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "coco"))
import protocol  # noqa: E402
import report  # noqa: E402

from gantext.config import params_from_dict  # noqa: E402
from gantext.protocol.recipe import apply_overrides, overrides  # noqa: E402


@pytest.fixture
def coco(tmp_path):
    d = tmp_path / "coco"
    d.mkdir()
    (d / "train.txt").write_text("a man rides a horse .\n", encoding="utf-8")
    (d / "test.txt").write_text("a dog runs .\n", encoding="utf-8")
    return d


def test_every_sweep_grid_point_gives_valid_params(coco):
    base = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    recipe = protocol.load_recipe(coco, chosen=False)
    assert recipe.chosen == {}
    pretrain = protocol.grid(recipe.sweep["pretrain"])
    with_mle = protocol.rc.Recipe(**{**recipe.__dict__, "chosen": {"common": pretrain[-1]}})
    for loss, spec in recipe.sweep["adversarial"].items():
        for point in protocol.grid(spec):
            ovr = overrides(with_mle, 0, loss, {**point, "evaluate.split": "valid"})
            p = params_from_dict(apply_overrides(base, ovr))
            assert p.ingest.paths == (str(coco.resolve() / "train.txt"),)
            assert p.ingest.data_dir == str(coco.resolve())
            assert p.evaluate.split == "valid" and p.adversarial.loss == loss
            assert p.tokenize.vocab_splits == ("train", "valid")


def test_grid_and_names():
    pts = protocol.grid({"model.generator.hidden_dim": [128, 256], "x.dropout": [0.0, 0.3]})
    assert pts[1] == {"model.generator.hidden_dim": 128, "x.dropout": 0.3} and len(pts) == 4
    assert protocol.grid_name(pts[3]) == "hiddendim256-dropout0.3"
    assert protocol.grid_name({"a.d_lr": 1e-05}) == "dlr0.00001"


def test_the_aliases_are_gantext_protocol_with_the_coco_recipe(capsys):
    with pytest.raises(SystemExit) as done:
        protocol.main(["flags", "--seed", "1", "--loss", "seqgan"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "-S seed=1" in out and "-S adversarial.loss=seqgan" in out
    assert "-S ingest.data_dir=data/benchmarks/coco" in out


def _qd(mle, gan):
    rows = [{"model": "mle", "temperature": t, "self_bleu5": s, "bleu5": b} for t, s, b in mle]
    rows += [{"model": "gan", "temperature": t, "self_bleu5": s, "bleu5": b} for t, s, b in gan]
    rows.append({"model": "real", "temperature": "", "self_bleu5": 0.4, "bleu5": 0.2})
    return rows


MLE = [(0.8, 0.6, 0.30), (1.0, 0.4, 0.20), (1.2, 0.2, 0.10)]


def test_gaps_are_measured_at_equal_self_bleu():
    gan = [(0.8, 0.7, 0.50), (1.0, 0.5, 0.27), (1.2, 0.3, 0.14), (1.5, 0.1, 0.05)]
    # 0.7 and 0.1 fall outside MLE's self-BLEU range [0.2, 0.6]; at 0.5 MLE has 0.25, at 0.3 0.15
    assert report.gaps_above(_qd(MLE, gan)) == pytest.approx([0.02, -0.01])
    assert protocol.qd_gain(_qd(MLE, gan)) == pytest.approx(0.005)
    assert protocol.qd_gain(_qd(MLE, [(1.0, 0.9, 0.5)])) is None
    # identical curves: zero gap everywhere
    assert report.gaps_above(_qd(MLE, MLE)) == pytest.approx([0, 0, 0])


def test_splice_replaces_only_the_marked_block(tmp_path):
    f = tmp_path / "README.md"
    f.write_text(f"intro\n{protocol.BEGIN}\nold\n{protocol.END}\nrest\n", encoding="utf-8")
    assert protocol.splice(f, "new table\n")
    assert f.read_text() == f"intro\n{protocol.BEGIN}\nnew table\n{protocol.END}\nrest\n"
    g = tmp_path / "other.md"
    g.write_text("no markers\n", encoding="utf-8")
    assert not protocol.splice(g, "x") and g.read_text() == "no markers\n"


def test_sweep_of_some_losses_keeps_the_other_picks_of_the_same_mle():
    previous = {"chosen": {"common": {"h": 256}, "bce": {"lr": 1}, "seqgan": {"lr": 2}},
                "adversarial_sweep": [{"loss": "bce", "qd_gain": 0.1},
                                      {"loss": "seqgan", "qd_gain": 0.2}]}
    chosen = {"common": {"h": 256}, "seqgan": {"lr": 3}}
    rows, table = protocol.merge_previous(previous, chosen, ["mle"], [{"loss": "seqgan"}],
                                          ["seqgan"])
    assert chosen == {"common": {"h": 256}, "seqgan": {"lr": 3}, "bce": {"lr": 1}}
    assert rows == ["mle"] and table == [{"loss": "bce", "qd_gain": 0.1}, {"loss": "seqgan"}]
    # another MLE: the old picks were tuned on another generator, so none is kept
    chosen = {"common": {"h": 128}, "seqgan": {"lr": 3}}
    _, table = protocol.merge_previous(previous, chosen, [], [{"loss": "seqgan"}], ["seqgan"])
    assert chosen == {"common": {"h": 128}, "seqgan": {"lr": 3}} and table == [{"loss": "seqgan"}]


def test_the_ceiling_is_the_real_samples_gap():
    # MLE's curve passes (0.4, 0.2) and (0.6, 0.25): at 0.5 it has 0.225, the real row 0.235
    qd = [r for r in _qd([(1.0, 0.4, 0.2), (0.85, 0.6, 0.25)], []) if r["model"] != "real"]
    assert report.real_gap(qd) is None  # no real row
    qd.append({"model": "real", "temperature": "", "self_bleu5": "0.5", "bleu5": "0.235"})
    assert report.real_gap(qd) == pytest.approx(0.01)


def test_temperature_at_equal_self_bleu_is_interpolated_along_the_sweep():
    import fid_at_equal_diversity as fe

    curve = [(0.85, 0.5), (1.0, 0.3), (1.15, 0.2)]  # self-BLEU falls as T rises
    assert fe.temperature_at(curve, 0.3) == pytest.approx(1.0)
    assert fe.temperature_at(curve, 0.25) == pytest.approx(1.075)
    assert fe.temperature_at(curve, 0.4) == pytest.approx(0.925)
    assert fe.temperature_at(curve, 0.6) is None and fe.temperature_at(curve, 0.1) is None


def test_selection_keeps_fid_at_equal_diversity_before_the_gain():
    rows = [{"qd_gain": 0.0142, "gan_fid_eq": 0.0049, "mle_fid_eq": 0.0041},  # colder, worse FID
            {"qd_gain": 0.0062, "gan_fid_eq": 0.0025, "mle_fid_eq": 0.0041},
            {"qd_gain": 0.0058, "gan_fid_eq": 0.0027, "mle_fid_eq": 0.0041}]
    assert protocol.choose(rows) == (rows[1], True)
    # no row keeps FID: the gain alone decides, and the pick says so
    worse = [dict(r, gan_fid_eq=0.01) for r in rows]
    assert protocol.choose(worse) == (worse[0], False)
    # a row without a gain (no sweep point in MLE's range) or without FID never wins over one with
    odd = [{"qd_gain": None, "gan_fid_eq": 0.001, "mle_fid_eq": 0.004},
           {"qd_gain": 0.001, "gan_fid_eq": 0.002, "mle_fid_eq": 0.004}]
    assert protocol.choose(odd)[0] is odd[1]
    ties = [{"qd_gain": 0.003, "gan_fid_eq": 0.002, "mle_fid_eq": 0.004} for _ in range(2)]
    assert protocol.choose(ties)[0] is ties[0]


def test_exp_refuses_a_workspace_changed_by_an_earlier_experiment(monkeypatch):
    """`exp` after `exp` in one clone: the first applied its params (seqgan's 200 steps), and
    the second (rsgan, whose overrides do not set steps) silently ran 200 steps, not 300."""
    import argparse

    import gantext.protocol.run as prun

    monkeypatch.setattr(prun, "workspace_params_diff",
                        lambda root: ["adversarial.steps: 300 -> 200"])
    monkeypatch.setattr(protocol.subprocess, "run",
                        lambda *a, **k: pytest.fail("dvc exp run must not start"))
    with pytest.raises(SystemExit, match="adversarial.steps: 300 -> 200.*git checkout params"):
        protocol.cmd_exp(argparse.Namespace(coco=None, seed=0, loss="rsgan", name="x",
                                            dvc_args=[]))


def _qd_lm(model, points, length=10.0):
    """Sweep rows of `model`: (temperature, self-BLEU-5, BLEU-5, self-BLEU-5 lm, BLEU-5 lm)."""
    return [{"model": model, "temperature": t, "self_bleu5": s, "bleu5": b,
             "self_bleu5_lm": slm, "bleu5_lm": blm, "mean_length": length, "lm_coverage": 1.0}
            for t, s, b, slm, blm in points]


def test_length_matched_gaps_read_the_plain_and_the_length_matched_curves():
    import length_matched

    mle = _qd_lm("mle", [(0.7, 0.7, 0.30, 0.7, 0.30), (1.0, 0.3, 0.18, 0.3, 0.18)], 11.0)
    # plain: on MLE's line; length-matched: 0.02 above it at both points
    gan = _qd_lm("gan", [(0.7, 0.6, 0.27, 0.6, 0.29), (1.0, 0.4, 0.21, 0.4, 0.23)], 9.0)
    real = [{"model": "real", "temperature": "", "self_bleu5": 0.4, "bleu5": 0.22,
             "self_bleu5_lm": 0.4, "bleu5_lm": 0.22, "mean_length": 11.0, "lm_coverage": 1.0}]
    g = length_matched.gaps(mle + gan + real)
    assert g["plain"]["max_gap"] == pytest.approx(0.0) and g["plain"]["points_in_range"] == 2
    assert g["lm"]["max_gap"] == pytest.approx(0.02) and g["lm"]["mean_gap"] == pytest.approx(0.02)
    assert g["plain"]["real_gap"] == pytest.approx(0.01)
    assert g["mean_length_t1"] == {"gan": 9.0, "mle": 11.0}
    drawn = length_matched.drawn_gaps(mle + real + [{**r, "model": "gan_lm"} for r in gan]
                                      + [{**r, "model": "mle_lm"} for r in mle])
    assert drawn["gan_lm-vs-mle"]["max_gap"] == pytest.approx(0.0)
    assert drawn["mle_lm-vs-mle"]["mean_gap"] == pytest.approx(0.0)
    assert length_matched._label("coco-s2-wgan-gp") == "wgan-gp"
    assert length_matched._label("wn-rsgan") == "wn-rsgan"
    row = {"experiment": "coco-s0-rsgan", "seed": 0, "split": "test", "loss": "rsgan", **g}
    table = length_matched.markdown([row])
    assert "| +0.0200 | +0.0200 | 9.00 (11.00) |" in table and table.startswith("| loss |")
    assert "| real sample (the ceiling) | 1 | +0.0100 | | +0.0100 | | |" in table
