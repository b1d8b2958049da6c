"""bench/coco: the recipe is valid params, the flags round-trip, selection and report arithmetic."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "coco"))
import protocol  # noqa: E402
import report  # noqa: E402

from gantext.config import params_from_dict  # noqa: E402


@pytest.fixture
def coco(tmp_path):
    d = tmp_path / "coco"
    d.mkdir()
    (d / "train.txt").write_text("a man rides a horse .\n", encoding="utf-8")
    (d / "test.txt").write_text("a dog runs .\n", encoding="utf-8")
    return d


def _apply(params: dict, ovr: dict) -> dict:
    """What `dvc exp run -S key=value` does to params.yaml, with the values parsed as YAML."""
    out = copy.deepcopy(params)
    for key, value in ovr.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        node[last] = yaml.safe_load(protocol._fmt(value))
    return out


def test_the_protocol_covers_every_registered_objective():
    from gantext.objectives import OBJECTIVES

    assert set(protocol.LOSSES) == set(OBJECTIVES)


def test_recipe_gives_valid_params_with_every_grid_point(coco):
    base = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    recipe = protocol.load_recipe()
    chosen = {"common": protocol.grid(recipe["sweep"]["pretrain"])[-1]}
    for loss in protocol.LOSSES:
        for point in protocol.grid(recipe["sweep"]["adversarial"].get(loss, {"seed": [2]})):
            ovr = protocol.overrides(coco, recipe, chosen, seed=2, loss=loss,
                                     extra={**point, "evaluate.split": "valid"})
            p = params_from_dict(_apply(base, ovr))
            assert p.ingest.paths == (str(coco.resolve() / "train.txt"),)
            assert p.ingest.test_paths == (str(coco.resolve() / "test.txt"),)
            assert p.ingest.data_dir == str(coco.resolve())
            assert p.tokenize.max_len == 37 and p.tokenize.vocab_splits == ("train", "valid")
            assert p.evaluate.num_samples == 10000 and p.evaluate.split == "valid"
            assert p.seed == 2 and p.adversarial.loss == loss


def test_flags_alternate_dash_s_and_key_values(coco):
    ovr = protocol.overrides(coco, protocol.load_recipe(), {}, seed=1, loss="seqgan")
    flags = protocol.flag_list(ovr)
    assert flags[0::2] == ["-S"] * len(ovr)
    assert "seed=1" in flags and "adversarial.loss=seqgan" in flags
    assert "tokenize.vocab_splits=[train,valid]" in flags


def test_missing_corpus_names_the_flag(tmp_path):
    with pytest.raises(SystemExit, match="--coco DIR"):
        protocol.overrides(tmp_path, protocol.load_recipe(), {})


def test_grid_and_names():
    pts = protocol.grid({"model.generator.hidden_dim": [128, 256], "x.dropout": [0.0, 0.3]})
    assert pts[1] == {"model.generator.hidden_dim": 128, "x.dropout": 0.3} and len(pts) == 4
    assert protocol.grid_name(pts[3]) == "hiddendim256-dropout0.3"
    names = list(protocol.run_names([0, 1], ["bce", "seqgan"]))
    assert names == ["coco-s0-bce", "coco-s1-bce", "coco-s0-seqgan", "coco-s1-seqgan"]


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


def _results(shift=0.0):
    out = {}
    for seed in (0, 1, 2):
        for loss in ("bce", "wgan-gp", "seqgan"):
            mle = {f"bleu{n}": 0.8 - 0.1 * n + 0.001 * seed for n in (2, 3, 4, 5)}
            mle |= {f"sbleu{n}": 0.9 - 0.1 * n for n in (2, 3, 4, 5)}
            mle |= {"fid": 0.01, "nll": 3.0, "nll_anchor": 1.0, "len": 11.0, "unique": 1.0,
                    "novelty": 0.9, "distinct_4": 0.8}
            gan = {**mle, "bleu5": mle["bleu5"] + shift}
            real = {**mle, "fid_floor": 0.0003, "fid_train": 0.018}
            out[f"coco-s{seed}-{loss}"] = {
                "seed": seed, "loss": loss,
                "evaluate": {"mle": mle, "gan": gan, "real": real},
                "pretrain": {"train_nll_anchor": 0.8, "valid_nll": 3.4},
                "params": {"evaluate": {"sweep_samples": 5000}},
                "walls": {"ingest": 1.0, "tokenize": 2.0, "pretrain": 100.0,
                          "adversarial": 300.0 + seed, "evaluate": 60.0},
                "qd": _qd(MLE, [(t, s, b + shift) for t, s, b in MLE])}
    return out


def test_aggregate_and_markdown_report_the_targets(tmp_path):
    agg = report.aggregate(_results(shift=0.01))
    s = agg["models"]["mle"]["summary"]["bleu2"]
    assert s["mean"] == pytest.approx(0.601) and s["n"] == 3
    assert agg["pipeline_wall"]["bce"][2] == pytest.approx(465.0)
    assert agg["qd_gain"]["seqgan"][0]["max_gap"] == pytest.approx(0.01)
    md = report.markdown(agg, {"common": {"model.generator.hidden_dim": 256}}, [0, 1, 2])
    assert "**not met**; worst seed" in md  # our fake MLE BLEU-2 .601 < .731
    assert "curve lies above MLE's" in md and "7.7–7.8 min" in md
    assert "| published: RelGAN(100) | 0.849" in md
    files = report.write_report(_results(), {}, tmp_path)
    assert [f.name for f in files] == ["results.json", "results.md", "quality_diversity.png"]
    assert json.loads(files[0].read_text())["models"]["bce"]["summary"]["bleu5"]["n"] == 3
    assert files[2].read_bytes()[:4] == b"\x89PNG"
    assert "never lies above" in files[1].read_text()
    assert "train-vs-test 0.0180" in md  # an older evaluate.json: its own labels


def test_report_labels_the_like_with_like_real_row():
    res = _results()
    for r in res.values():
        r["evaluate"]["real"] = {**r["evaluate"]["mle"], "fid_floor": 0.02, "fid_halves": 0.0003,
                                 "n_samples": 10000, "n_refs": 10000, "fid_floor_lo": 0.019}
    md = report.markdown(report.aggregate(res), {}, [0, 1, 2])
    assert "real data (10,000 held-out sentences, as many as the model samples" in md
    assert "floor = FID(test, held-out real sample of the models' n) 0.0200" in md
    assert "test half vs half 0.00030" in md and "train-vs-test" not in md


def test_different_mle_metrics_for_one_seed_are_refused():
    res = _results()
    res["coco-s1-seqgan"]["evaluate"]["mle"] = {**res["coco-s1-seqgan"]["evaluate"]["mle"],
                                                "bleu2": 0.0}
    with pytest.raises(ValueError, match="differ between experiments"):
        report.aggregate(res)


def test_splice_replaces_only_the_marked_block(tmp_path):
    f = tmp_path / "README.md"
    f.write_text(f"intro\n{protocol.BEGIN}\nold\n{protocol.END}\nrest\n", encoding="utf-8")
    assert protocol.splice(f, "new table\n")
    assert f.read_text() == f"intro\n{protocol.BEGIN}\nnew table\n{protocol.END}\nrest\n"
    g = tmp_path / "other.md"
    g.write_text("no markers\n", encoding="utf-8")
    assert not protocol.splice(g, "x") and g.read_text() == "no markers\n"


def test_worker_count_is_parsed_from_queue_status():
    assert protocol._workers_active("Task Name\n\nWorker status: 2 active, 0 idle\n") == 2
    assert protocol._workers_active("No experiment tasks in the queue.\n") == 0


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


def test_exp_show_is_retried_when_it_answers_no_json(monkeypatch):
    answers = iter(["", "{cut", '[{"rev": "x"}]'])
    calls = []

    class P:
        def __init__(self, out):
            self.stdout = out

    def fake_dvc(*args, check=True):
        calls.append(args)
        return P(next(answers))

    monkeypatch.setattr(protocol, "_dvc", fake_dvc)
    monkeypatch.setattr(protocol.time, "sleep", lambda s: None)
    assert protocol._exp_show_json() == [{"rev": "x"}]  # empty, then cut-off JSON: retried
    assert len(calls) == 3
    monkeypatch.setattr(protocol, "_dvc", lambda *a, check=True: P("{cut"))
    with pytest.raises(SystemExit, match="no valid JSON"):
        protocol._exp_show_json(tries=2)


def test_queue_workers_of_another_clone_are_not_counted(monkeypatch):
    class P:
        stdout = "11\n22\n"

    monkeypatch.setattr(protocol.subprocess, "run", lambda *a, **k: P())
    here = {"11": str(protocol.ROOT), "22": "/elsewhere/clone"}
    monkeypatch.setattr(protocol.os, "readlink", lambda path: here[path.split("/")[2]])
    assert protocol._worker_processes() == 1


def test_the_ceiling_is_the_real_samples_gap_and_its_fid_floor():
    # MLE's curve passes (0.4, 0.2) and (0.6, 0.25): at 0.5 it has 0.225, the real row 0.235
    qd = [r for r in _qd([(1.0, 0.4, 0.2), (0.85, 0.6, 0.25)], []) if r["model"] != "real"]
    assert report.real_gap(qd) is None  # no real row
    qd.append({"model": "real", "temperature": "", "self_bleu5": "0.5", "bleu5": "0.235"})
    assert report.real_gap(qd) == pytest.approx(0.01)
    res = _results()
    for r in res.values():  # _qd's real row lies on MLE's curve: gap 0
        r["evaluate"]["real"] = {**r["evaluate"]["real"], "fid_floor": 0.02}
    md = report.markdown(report.aggregate(res), {}, [0, 1, 2])
    assert "lies +0.0000 BLEU-5 above MLE's curve" in md and "would **fail** 'FID <= MLE's'" in md


def test_each_row_is_also_compared_with_the_control_seed_by_seed():
    res = _results(shift=0.01)
    control = _results(shift=0.004)
    for seed in (0, 1, 2):
        row = copy.deepcopy(control[f"coco-s{seed}-seqgan"])
        row["loss"] = "mle-continued"
        res[f"coco-s{seed}-mle-continued"] = row
    md = report.markdown(report.aggregate(res), {}, [0, 1, 2])
    seqgan = next(line for line in md.splitlines() if line.startswith("- seqgan:"))
    assert "vs the control (mle-continued, same seeds)" in seqgan
    assert "+0.0060, +0.0060, +0.0060 (median +0.0060)" in seqgan
    control_line = next(line for line in md.splitlines() if line.startswith("- mle-continued:"))
    assert "vs the control" not in control_line


def test_temperature_at_equal_self_bleu_is_interpolated_along_the_sweep():
    import fid_at_equal_diversity as fe

    curve = [(0.85, 0.5), (1.0, 0.3), (1.15, 0.2)]  # self-BLEU falls as T rises
    assert fe.temperature_at(curve, 0.3) == pytest.approx(1.0)
    assert fe.temperature_at(curve, 0.25) == pytest.approx(1.075)
    assert fe.temperature_at(curve, 0.4) == pytest.approx(0.925)
    assert fe.temperature_at(curve, 0.6) is None and fe.temperature_at(curve, 0.1) is None


def test_a_queue_left_without_workers_is_noticed(monkeypatch):
    monkeypatch.setattr(protocol, "_worker_processes", lambda: 0)
    queued = ["abc  coco-s0-bce  10:53 AM   Queued"]
    assert protocol._orphaned(queued)
    assert not protocol._orphaned(queued + ["def  coco-s1-bce  10:53 AM   Running"])
    assert not protocol._orphaned([])
    monkeypatch.setattr(protocol, "_worker_processes", lambda: 1)
    assert not protocol._orphaned(queued)  # a worker alive: it takes the task when free


def test_fid_at_equal_diversity_is_read_into_the_verdicts_when_measured(tmp_path):
    res = _results(shift=0.01)
    eq = {"seqgan": {"gan_fid": 0.017, "mle_fid": 0.018, "seeds_not_above": 2, "seeds": 3}}
    (tmp_path / "fid_equal_diversity.json").write_text(json.dumps({"summary": eq}))
    md = (report.write_report(res, {}, tmp_path)[1]).read_text()
    line = next(x for x in md.splitlines() if x.startswith("- seqgan:"))
    assert "FID at MLE's self-BLEU-5 (fid_at_equal_diversity.py, n = 5,000): 0.0170 vs " \
           "MLE's 0.0180, not above it in 2 of 3 seeds" in line
    assert "fid_at_equal_diversity" not in next(x for x in md.splitlines()
                                                if x.startswith("- bce:"))


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


def test_an_experiment_with_other_params_is_superseded_not_reused(coco):
    recipe = protocol.load_recipe()
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    old = protocol.overrides(coco, recipe, {"coldgan": {"adversarial.coldgan.mle_weight": 0.0}},
                             0, "coldgan")
    had = _apply(params, old)
    assert protocol.params_differ(had, old) == ""
    new = protocol.overrides(coco, recipe, {"coldgan": {"adversarial.coldgan.mle_weight": 1.0}},
                             0, "coldgan")
    assert protocol.params_differ(had, new) == "adversarial.coldgan.mle_weight: 0.0 -> 1.0"
    assert protocol.superseded_name("x", {"x": {}, "x-superseded-1": {}}) == "x-superseded-2"


def test_a_knob_newer_than_the_experiment_matches_only_at_its_default(coco):
    """rsgan's test rows ran before `mle_weight` existed: asking for its default (0) must not
    re-run them, asking for 1 must."""
    recipe = protocol.load_recipe()
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    want = protocol.overrides(coco, recipe, {"rsgan": {"adversarial.rsgan.mle_weight": 0.0}},
                              0, "rsgan")
    had = _apply(params, want)
    del had["adversarial"]["rsgan"]["mle_weight"]
    assert protocol.params_differ(had, want, params) == ""
    assert protocol.params_differ(had, want) == "adversarial.rsgan.mle_weight: None -> 0.0"
    more = {**want, "adversarial.rsgan.mle_weight": 1.0}
    assert protocol.params_differ(had, more, params) == "adversarial.rsgan.mle_weight: None -> 1.0"


def test_a_changed_params_yaml_in_the_workspace_stops_the_queue(tmp_path):
    """A `dvc exp run -S evaluate.split=valid` in the workspace leaves its params there; a
    protocol run queued after it ran on the validation split (caught by the report's MLE check)."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "params.yaml").write_text("evaluate:\n  split: test\n", encoding="utf-8")
    git("add", "params.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "p")
    assert protocol.params_changed(tmp_path) == ""
    (tmp_path / "params.yaml").write_text("evaluate:\n  split: valid\n", encoding="utf-8")
    assert "1 insertion" in protocol.params_changed(tmp_path)


def test_exp_refuses_a_workspace_changed_by_an_earlier_experiment(monkeypatch):
    """`exp` after `exp` in one clone: the first applied its params (seqgan's 200 steps), and
    the second (rsgan, whose overrides do not set steps) silently ran 200 steps, not 300."""
    import argparse

    monkeypatch.setattr(protocol, "params_changed", lambda root=None: "1 file changed")
    monkeypatch.setattr(protocol.subprocess, "run",
                        lambda *a, **k: pytest.fail("dvc exp run must not start"))
    with pytest.raises(SystemExit, match="git checkout params.yaml"):
        protocol.cmd_exp(argparse.Namespace(coco=protocol.DEFAULT_COCO, seed=0, loss="rsgan", name="x",
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


def test_the_equal_length_section_skips_a_reading_of_an_earlier_run():
    mle = _qd_lm("mle", [(0.7, 0.7, 0.30, 0.7, 0.30), (1.0, 0.3, 0.18, 0.3, 0.18)], 11.0)
    gan = _qd_lm("gan", [(0.7, 0.6, 0.27, 0.6, 0.29), (1.0, 0.4, 0.21, 0.4, 0.23)], 9.0)
    import length_matched

    reading = {"experiment": "coco-s0-rsgan", "seed": 0, "split": "test", "loss": "rsgan",
               **length_matched.gaps(mle + gan), "rows": mle + gan}
    results = {"coco-s0-rsgan": {"qd": mle + gan}, "coco-s0-bce": {"qd": mle + gan}}
    text = report.length_matched_section([reading], results)
    assert "| rsgan | 1 |" in text and "Not read at equal length" in text and "coco-s0-bce." in text
    rerun = {"coco-s0-rsgan": {"qd": mle + [{**r, "bleu5": r["bleu5"] + 0.01} for r in gan]}}
    assert "no reading of these runs" in report.length_matched_section([reading], rerun)
