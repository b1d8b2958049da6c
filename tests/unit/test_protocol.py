"""gantext.protocol: recipes -> overrides, experiment names, superseded runs (params compared
parsed), the multi-seed verdict on synthetic per-run verdicts, and the report's files."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
import yaml

from gantext.config import params_from_dict
from gantext.errors import ConfigError
from gantext.objectives import CONTROL, OBJECTIVES
from gantext.protocol import recipe as rc
from gantext.protocol import run as prun
from gantext.protocol.aggregate import aggregate, t_interval
from gantext.protocol.collect import RunRecord, parse_qd
from gantext.protocol.report import DVC_PLOT, PLOT_FILE, markdown, write_report
from gantext.sweep import SweepOptions

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- recipes
def test_the_coco_recipe_gives_valid_params_for_every_objective():
    recipe = rc.load_recipe("coco", ROOT)
    assert recipe.name == "coco" and recipe.corpus == "data/benchmarks/coco"
    assert recipe.source == "bench/coco/recipe.yaml"  # the report names it so on every clone
    assert recipe.published["mle_self_bleu5"] == pytest.approx(0.408)
    for loss in OBJECTIVES:
        ovr = rc.overrides(recipe, seed=2, loss=loss)
        p = params_from_dict(rc.apply_overrides(BASE, ovr))
        assert p.ingest.paths == ("data/benchmarks/coco/train.txt",)
        assert p.ingest.data_dir == "data/benchmarks/coco"
        assert p.tokenize.max_len == 37 and p.evaluate.resolved(p.ingest.source).num_samples == 10000
        assert p.seed == 2 and p.adversarial.loss == loss and p.adversarial.control is True
        # the recipe's picks (chosen.yaml) and budgets land on top of the data
        assert p.model.generator.hidden_dim == recipe.chosen["common"]["model.generator.hidden_dim"]
    assert rc.overrides(recipe, 0, "wgan-gp")["adversarial.steps"] == 200
    assert rc.overrides(recipe, 0, "rsgan")["adversarial.rsgan.d_lr"] == 0.001


def test_a_recipe_corpus_outside_the_repository_is_absolute(tmp_path):
    corpus = tmp_path / "mycoco"
    corpus.mkdir()
    recipe = rc.load_recipe("coco", ROOT, corpus)
    assert recipe.data["ingest.paths"] == [f"{corpus.resolve()}/train.txt"]
    with pytest.raises(ConfigError, match="corpus folder not found"):
        rc.load_recipe("coco", ROOT, tmp_path / "absent")
    bad = tmp_path / "r.yaml"
    bad.write_text("name: x\ndatta: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown recipe key.*datta"):
        rc.load_recipe(bad, ROOT)
    with pytest.raises(ConfigError, match="no such recipe"):
        rc.load_recipe("nope", ROOT)


def test_a_users_files_become_ingest_overrides(tmp_path):
    (tmp_path / "data" / "mine" / "more").mkdir(parents=True)
    for f in ("a.txt", "b.txt", "more/c.txt"):
        (tmp_path / "data" / "mine" / f).write_text("x y\n", encoding="utf-8")
    (tmp_path / "data" / "held").mkdir()
    (tmp_path / "data" / "held" / "t.txt").write_text("x\n", encoding="utf-8")
    r = rc.files_recipe(["data/mine/*.txt", "data/mine/more/c.txt"], root=tmp_path)
    assert r.name == "mine"
    assert r.data == {"ingest.source": "files", "ingest.data_dir": "data/mine",
                      "ingest.paths": ["data/mine/*.txt", "data/mine/more/c.txt"],
                      "ingest.test_paths": []}
    r = rc.files_recipe(["data/mine/*.txt"], ["data/held/t.txt"], root=tmp_path)
    assert r.data["ingest.data_dir"] == "data" and r.data["ingest.test_paths"] == ["data/held/t.txt"]
    params_from_dict(rc.apply_overrides(BASE, rc.overrides(r, 0, "rsgan")))
    with pytest.raises(ConfigError, match="matches no file"):
        rc.files_recipe(["data/other/*.txt"], root=tmp_path)


def test_without_a_recipe_the_params_corpus_is_used_unchanged():
    assert rc.params_recipe(BASE).name == "builtin" and rc.params_recipe(BASE).data == {}
    files = {"ingest": {"source": "files", "data_dir": "data/news"}}
    assert rc.params_recipe(files).name == "news"


@pytest.mark.parametrize("value, text", [
    (1e-05, "0.00001"), (0.0003, "0.0003"), (True, "true"), (None, "null"), (37, "37"),
    (["train", "valid"], "[train,valid]"), ([0.7, 1.0], "[0.7,1.0]"),
    ("data/mine/*.txt", "data/mine/*.txt"), ("a,b", '"a,b"'), ("my dir", '"my dir"'),
    ("true", '"true"'), ("12", '"12"'), ([], "[]")])
def test_values_are_formatted_for_dash_s_and_read_back_as_they_were(value, text):
    assert rc.fmt_value(value) == text
    assert rc.parse_value(text) == value


def test_dash_s_values_parse_numbers_as_yaml_1_2_does():
    assert rc.parse_value("1e-4") == pytest.approx(1e-4)
    assert rc.parse_value("[train,valid]") == ["train", "valid"]
    assert rc.parse_value("bce") == "bce"


# ----------------------------------------------------------------------------- experiments
def test_experiment_names_and_order():
    recipe = rc.Recipe(name="news")
    planned = prun.plan(recipe, [0, 1], ["rsgan", "coldgan"], {"adversarial.steps": 50})
    assert [p.name for p in planned] == ["news-s0-rsgan", "news-s1-rsgan", "news-s0-coldgan",
                                         "news-s1-coldgan"]
    exp = planned[1].experiment()
    assert ("seed", "1") in exp.overrides and ("adversarial.steps", "50") in exp.overrides
    assert ("adversarial.control", "true") in exp.overrides
    with pytest.raises(ConfigError, match="not a registered objective"):
        prun.plan(recipe, [0], ["bcee"])
    with pytest.raises(ConfigError, match="each value once"):
        prun.plan(recipe, [0, 0], ["bce"])


def test_params_are_compared_parsed_not_as_text():
    a = yaml.safe_load("adversarial:\n  rsgan: {d_lr: 0.0001}\n  steps: 300\nseed: 0\n")
    b = yaml.safe_load("# a comment\nseed: 0.0\nadversarial:\n  steps: 300\n"
                       "  rsgan:\n    d_lr: 1.0e-4\n")
    assert prun.params_diff(a, b) == []
    c = yaml.safe_load("adversarial:\n  rsgan: {d_lr: 0.001}\n  steps: 300\nseed: 0\n")
    assert prun.params_diff(a, c) == ["adversarial.rsgan.d_lr: 0.0001 -> 0.001"]
    assert prun.params_diff({"x": [1, 2]}, {"x": (1.0, 2.0)}) == []
    assert prun.params_diff({"x": True}, {"x": 1}) == ["x: true -> 1"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "params.yaml").write_text("seed: 0\nevaluate:\n  split: test  # the protocol\n",
                                          encoding="utf-8")
    _git(tmp_path, "add", "params.yaml")
    _git(tmp_path, "commit", "-qm", "p")
    return tmp_path


def test_the_workspace_guard_compares_parsed_params(repo, monkeypatch):
    p = repo / "params.yaml"
    # reformatted and a comment changed (what a `dvc exp run -S` round trip leaves): no change
    p.write_text("evaluate: {split: test}\nseed: 0  # other comment\n", encoding="utf-8")
    assert prun.workspace_params_diff(repo) == []
    p.write_text("seed: 0\nevaluate:\n  split: valid\n", encoding="utf-8")
    assert prun.workspace_params_diff(repo) == ["evaluate.split: test -> valid"]
    monkeypatch.setattr(prun, "run_sweep", lambda *a, **k: pytest.fail("must not queue"))
    with pytest.raises(prun.ProtocolError, match="evaluate.split: test -> valid.*git checkout"):
        prun.run(repo, [], SweepOptions(engine="queue"))


def _fake_experiment(repo: Path, name: str, params_text: str) -> str:
    """An experiment ref of HEAD (refs/exps/<baseline>/<name>) whose commit holds `params_text`."""
    head = _git(repo, "rev-parse", "HEAD")
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=params_text,
                          capture_output=True, text=True, check=True).stdout.strip()
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=f"100644 blob {blob}\tparams.yaml\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    sha = _git(repo, "commit-tree", tree, "-p", head, "-m", name)
    _git(repo, "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/{name}", sha)
    return sha


def test_an_experiment_with_other_params_is_superseded(repo, monkeypatch):
    import os
    import sys

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["dvc", "init", "-q"], cwd=repo, check=True)
    _git(repo, "commit", "-qam", "dvc init")
    recipe = rc.Recipe(name="t", chosen={"rsgan": {"adversarial.rsgan.d_lr": 0.001}})
    planned = prun.plan(recipe, [0], ["rsgan"])
    base = prun.head_params(repo)
    want = rc.apply_overrides(base, planned[0].overrides)
    same = yaml.safe_dump(want).replace("0.001", "1.0e-3")  # another spelling: same value
    _fake_experiment(repo, "t-s0-rsgan", same)
    assert prun.supersede(repo, planned, base) == []
    stale = yaml.safe_dump(rc.apply_overrides(want, {"adversarial.rsgan.d_lr": 0.0001}))
    _fake_experiment(repo, "t-s0-rsgan", stale)
    _fake_experiment(repo, "t-s0-rsgan-superseded-1", stale)
    done = prun.supersede(repo, planned, base, log=lambda m: None)
    assert done == [("t-s0-rsgan", "t-s0-rsgan-superseded-2",
                     ["adversarial.rsgan.d_lr: 0.0001 -> 0.001"])]
    # renamed by `dvc exp rename`: the name is free for the run with the params asked for
    assert set(prun.baseline_experiments(repo)) == {"t-s0-rsgan-superseded-1",
                                                    "t-s0-rsgan-superseded-2"}


def test_a_stale_experiment_on_the_ray_remote_is_renamed_there(repo):
    """The Ray engine skips experiments that exist on its git remote: a stale one there must be
    renamed there, or the rerun would never happen."""
    remote = repo.parent / "remote.git"
    _git(repo, "clone", "-q", "--bare", str(repo), str(remote))
    recipe = rc.Recipe(name="t")
    planned = prun.plan(recipe, [0, 1], ["rsgan"])
    base = prun.head_params(repo)
    good = yaml.safe_dump(rc.apply_overrides(base, planned[1].overrides))
    stale = yaml.safe_dump(rc.apply_overrides(base, {**planned[0].overrides, "seed": 7}))
    head = _git(repo, "rev-parse", "HEAD")
    for name, text in (("t-s0-rsgan", stale), ("t-s1-rsgan", good)):
        _fake_experiment(repo, name, text)
    _git(repo, "push", "-q", str(remote), "refs/exps/*:refs/exps/*")
    for name in ("t-s0-rsgan", "t-s1-rsgan"):
        _git(repo, "update-ref", "-d", f"refs/exps/{head[:2]}/{head[2:]}/{name}")
    assert prun.baseline_experiments(repo) == {}  # only on the remote
    done = prun.supersede(repo, planned, base, log=lambda m: None, remote=str(remote))
    assert done == [("t-s0-rsgan", "t-s0-rsgan-superseded-1", ["seed: 7 -> 0"])]
    names = {r.rsplit("/", 1)[-1] for r in _git(repo, "ls-remote", str(remote)).split()
             if r.startswith("refs/exps/")}
    assert names == {"t-s0-rsgan-superseded-1", "t-s1-rsgan"}
    assert not _git(repo, "for-each-ref", "refs/gantext-protocol")  # no temporary refs left


# ----------------------------------------------------------------------------- aggregation
def _row(bleu5: float, sbleu5: float) -> dict:
    return {"bleu2": 0.8, "bleu3": 0.6, "bleu4": 0.4, "bleu5": bleu5, "sbleu2": 0.9,
            "sbleu3": 0.7, "sbleu4": 0.5, "sbleu5": sbleu5, "fid_train": 0.01, "fid": 0.02,
            "mauve": 0.9, "nll": 3.0, "len": 11.0}


def _gap(prefix: str, mean: float, half: float) -> dict:
    return {f"{prefix}gap_mean": mean, f"{prefix}gap_mean_lo": mean - half,
            f"{prefix}gap_mean_hi": mean + half, f"{prefix}gap_max": mean + 0.01,
            f"{prefix}gap_max_lo": mean, f"{prefix}gap_max_hi": mean + 0.02}


def _record(loss: str, seed: int, gap: float, control_gap: float | None = 0.0,
            half: float = 0.005, fid_delta: float = 0.001) -> RunRecord:
    """A synthetic experiment whose per-run verdict has mean gap `gap` vs MLE (and the same at
    equal length), `control_gap` vs its control, each with a bootstrap half-width `half`."""
    from gantext.metrics.verdict import sign_of

    v = {**_gap("", gap, half), **_gap("lm_", gap, half), "real_gap": 0.05,
         "vs_mle": sign_of(gap - half, gap + half), "vs_mle_lm": sign_of(gap - half, gap + half),
         "fid_train_vs_mle": sign_of(fid_delta - 0.0005, fid_delta + 0.0005), "line": "..."}
    ev = {"mle": _row(0.20, 0.40), "gan": _row(0.20 + gap, 0.40), "real": _row(0.25, 0.38),
          "delta": {"fid_train": fid_delta, "fid_train_lo": fid_delta - 0.0005,
                    "fid_train_hi": fid_delta + 0.0005}, "verdict": v,
          "protocol": {"num_samples": 50, "sweep_samples": 50, "sweep_temperatures": "0.7, 1"}}
    if control_gap is not None:
        ev["control"] = _row(0.20, 0.40)
        v.update({**_gap("control_", control_gap, half), **_gap("lm_control_", control_gap, half)})
        v["vs_control"] = v["vs_control_lm"] = sign_of(control_gap - half, control_gap + half)
    qd = [{"model": m, "temperature": t, "self_bleu5": s, "bleu5": b + (gap if m == "gan" else 0),
           "bleu5_lm": b, "self_bleu5_lm": s, "mean_length": 11.0}
          for m in ("mle", "gan", "control") for t, s, b in ((0.7, 0.6, 0.30), (1.0, 0.4, 0.20),
                                                             (1.3, 0.2, 0.10))]
    qd.append({"model": "real", "temperature": None, "self_bleu5": 0.38, "bleu5": 0.25,
               "bleu5_lm": 0.25, "self_bleu5_lm": 0.38, "mean_length": 11.2})
    return RunRecord(name=f"t-s{seed}-{loss}", seed=seed, loss=loss, sha="abcdef0123", evaluate=ev,
                     pretrain={"valid_nll": 3.3 + 0.01 * seed, "train_nll_anchor": 0.7},
                     adversarial={"steps": 300, "rolled_back": seed == 2, "kept_step": 150,
                                  "d_at_chance": False},
                     qd=qd, walls={"ingest": 1.0, "tokenize": 2.0, "pretrain": 10.0,
                                   "adversarial": 20.0 + seed, "evaluate": 5.0})


def test_t_interval_over_seeds():
    s = t_interval([0.01, 0.02, 0.03])
    half = 4.302652729911275 * 0.01 / math.sqrt(3)  # t(0.975, df 2) * sd / sqrt(n)
    assert s["mean"] == pytest.approx(0.02) and s["df"] == 2 and s["n"] == 3
    assert (s["lo"], s["hi"]) == (pytest.approx(0.02 - half), pytest.approx(0.02 + half))
    assert t_interval([0.5])["lo"] is None and t_interval([None])["n"] == 0


def test_multi_seed_verdict_reads_each_seeds_own_verdict():
    records = [_record("rsgan", s, g, control_gap=c)
               for s, g, c in ((0, 0.010, 0.02), (1, 0.011, -0.001), (2, 0.012, 0.001))]
    records += [_record("bce", s, g) for s, g in ((0, 0.01), (1, 0.02), (2, 0.03))]
    records += [_record(CONTROL, s, -0.001, control_gap=None) for s in (0, 1)]
    agg = aggregate(records, ["rsgan", "bce", CONTROL, "coldgan"], [0, 1, 2])
    rs = agg["objectives"]["rsgan"]
    assert rs["vs_mle"]["mean"] == pytest.approx(0.011) and rs["vs_mle"]["word"] == "yes"
    assert rs["vs_mle"]["seeds_above"] == 3 and rs["vs_mle"]["df"] == 2
    assert rs["vs_mle_lm"]["word"] == "yes"
    # vs the control: one seed above, two inside noise, the t-interval holds 0
    assert rs["vs_control"]["seeds_above"] == 1 and rs["vs_control"]["seeds_inside"] == 2
    assert rs["vs_control"]["word"] == "inside noise"
    assert rs["vs_mle"]["largest"]["mean"] == pytest.approx(0.021)
    # bce: every seed above on its own, yet the spread over seeds leaves the mean inside noise
    bce = agg["objectives"]["bce"]["vs_mle"]
    assert bce["seeds_above"] == 3 and bce["word"] == "inside noise"
    assert bce["hi"] == pytest.approx(0.02 + 4.302652729911275 * 0.01 / math.sqrt(3))
    fid = agg["objectives"]["rsgan"]["fid_train_vs_mle"]
    assert fid["word"] == "higher (worse)" and fid["seeds_above"] == 3
    ctl = agg["objectives"][CONTROL]
    assert ctl["is_control"] and ctl["vs_control"]["n"] == 0 and ctl["seeds"] == [0, 1]
    assert agg["missing"] == {CONTROL: [2], "coldgan": [0, 1, 2]}
    assert agg["objectives"]["rsgan"]["rolled_back"] == 1
    assert agg["mle"]["summary"]["bleu5"]["mean"] == pytest.approx(0.20)
    assert agg["real"]["summary"]["real_gap"]["mean"] == pytest.approx(0.05)


def test_one_seed_answers_with_its_own_interval():
    agg = aggregate([_record("rsgan", 0, 0.01)], ["rsgan"], [0])
    s = agg["objectives"]["rsgan"]["vs_mle"]
    assert s["n"] == 1 and s["word"] == "yes" and s["interval"] == "the run's own bootstrap"
    assert (s["lo"], s["hi"]) == (pytest.approx(0.005), pytest.approx(0.015))
    assert "the run's own 95% bootstrap interval (one seed" in markdown(agg, "one")


def test_the_mle_row_is_read_at_the_published_self_bleu():
    records = [_record("rsgan", s, 0.01) for s in (0, 1)]
    agg = aggregate(records, ["rsgan"], [0, 1], {"mle_self_bleu5": 0.5})
    # MLE's points (0.4, 0.20) and (0.6, 0.30) lie on a line: at 0.5 it holds 0.25
    at = agg["mle"]["summary"]["bleu5_at_published_sbleu5"]
    assert at["mean"] == pytest.approx(0.25) and at["n"] == 2
    out = aggregate(records, ["rsgan"], [0, 1], {"mle_self_bleu5": 0.9})
    assert out["mle"]["summary"]["bleu5_at_published_sbleu5"]["n"] == 0  # outside the curve


def test_a_differing_mle_row_of_one_seed_is_a_warning():
    a, b = _record("rsgan", 0, 0.01), _record("bce", 0, 0.01)
    b.evaluate["mle"] = {**b.evaluate["mle"], "bleu5": 0.3}
    agg = aggregate([a, b], ["rsgan", "bce"], [0])
    assert any("MLE row of" in w for w in agg["warnings"])


def test_stage_wall_times_follow_the_outputs_and_skip_cached_stubs(tmp_path, monkeypatch):
    """Each stage's time is the run that computed the output the experiment used; a stage DVC
    restored from its run-cache has a short `gantext.cached` run that must not stand in for it."""
    import gantext.tracking
    from gantext.protocol.collect import stage_walls

    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text(encoding="utf-8"),
                                          encoding="utf-8")

    def run(rid, stage, start, end, **tags):
        return {"run_id": rid, "start_time": start, "end_time": end,
                "tags": {"gantext.stage": stage, **{k.replace("__", "."): v
                                                    for k, v in tags.items()}}}

    runs = [run("stub", "pretrain", -50, -40, gantext__cached="true",
                **{"dvc.out.models/pretrain": "m1"}),
            run("pre", "pretrain", 0, 10_000, **{"dvc.out.models/pretrain": "m1"}),
            run("adv", "adversarial", 10_000, 40_000, **{"dvc.out.models/adversarial": "a1",
                                                       "dvc.dep.models/pretrain": "m1"}),
            run("ev", "evaluate", 40_000, 45_000, gantext__dvc_exp_name="x-s0",
                **{"dvc.dep.models/adversarial": "a1"}),
            run("ev1", "evaluate", 50_000, 50_100, gantext__dvc_exp_name="x-s1",
                gantext__cached="true", gantext__cached_from="ev",
                **{"dvc.dep.models/adversarial": "a1"})]
    monkeypatch.setattr(gantext.tracking, "search_runs", lambda *a, **k: [runs])
    walls = stage_walls(tmp_path, ["x-s0", "x-s1", "x-s2"])
    want = {"ingest": None, "tokenize": None, "pretrain": 10.0, "adversarial": 30.0,
            "evaluate": 5.0}
    assert walls["x-s0"] == want and walls["x-s1"] == want
    assert walls["x-s2"] == dict.fromkeys(want)
    monkeypatch.setattr(gantext.tracking, "search_runs", lambda *a, **k: "no store")
    assert stage_walls(tmp_path, ["x-s0"])["x-s0"] == dict.fromkeys(want)


# ----------------------------------------------------------------------------- the report
def test_the_report_shows_every_objective_losers_and_missing_included(tmp_path):
    records = [_record("rsgan", s, 0.01 + 0.001 * s) for s in (0, 1, 2)]
    records += [_record("bce", s, -0.02 - 0.001 * s, control_gap=-0.03) for s in (0, 1, 2)]
    losses = ["rsgan", "bce", "coldgan"]
    published = {"mle_self_bleu5": 0.5,
                 "rows": {"MLE": {"bleu": [0.7, 0.5, 0.3, 0.25], "sbleu": [0.9, 0.8, 0.6, 0.5],
                                  "nll": 0.7}}}
    agg = aggregate(records, losses, [0, 1, 2], published)
    files = write_report(agg, records, tmp_path / "out", "toy", ["context line"], published,
                         "reports/toy")
    assert [f.name for f in files] == ["report.md", "report.json", "quality_diversity.png",
                                       PLOT_FILE, "dvc.yaml"]
    md = files[0].read_text(encoding="utf-8")
    table = md.split("## Verdict")[1].split("## Per seed")[0]
    assert "| rsgan | **yes** +0.0110 [" in table and "], 3↑ 0↓ 0~ of 3 |" in table
    assert "| bce | no -0.0210 [" in table and "| coldgan | not run |" in table
    assert "- **bce**: above MLE's curve: **no** (-0.0210 [" in md
    assert "t-interval over seeds (n = 3, df = 2" in md
    assert "above the control's curve: **no**" in md
    assert "FID (train dist.) vs MLE: higher (worse) (higher in 3, lower in 0 of 3" in md
    assert md.count("| rsgan | ") >= 4 and md.count("| bce | ") >= 4  # verdict + per seed rows
    assert "- coldgan: no finished run for seed(s) 0, 1, 2" in md
    assert "| published: MLE | 0.700" in md
    assert "published MLE's self-BLEU-5 (0.5" in md and "against the published 0.250" in md
    assert "rolled back to step 150" in md
    assert "valid NLL per token 3.310 [" in md and "anchor's units 0.7000 [" in md
    assert "`dvc plots show reports/toy/quality_diversity.csv`" in md
    data = json.loads(files[1].read_text(encoding="utf-8"))
    assert data["objectives"]["bce"]["vs_mle"]["word"] == "no"
    assert files[2].read_bytes()[:4] == b"\x89PNG"
    rows = parse_qd(files[3].read_text(encoding="utf-8"))
    assert {r["model"] for r in rows} == {"mle", "rsgan", "rsgan control", "bce", "bce control",
                                          "real"}
    gan = {r["temperature"]: r for r in rows if r["model"] == "rsgan"}
    assert gan[1.0]["bleu5"] == pytest.approx(0.211)  # 0.20 + the seeds' mean gap 0.011
    assert yaml.safe_load(files[4].read_text(encoding="utf-8")) == DVC_PLOT


def test_an_empty_protocol_still_renders():
    agg = aggregate([], ["rsgan"], [0])
    md = markdown(agg, "empty")
    assert "| rsgan | not run |" in md and "no finished run for seed(s) 0" in md


def test_the_cli_prints_one_experiments_flags(capsys):
    from gantext.cli import main

    assert main(["protocol", "flags", "--recipe", "coco", "--seed", "1", "--loss", "seqgan",
                 "--root", str(ROOT), "-S", "adversarial.steps=50"]) == 0
    out = capsys.readouterr().out
    assert "-S seed=1" in out and "-S adversarial.loss=seqgan" in out
    assert "-S adversarial.steps=50" in out and "-S 'tokenize.vocab_splits=[train,valid]'" in out
    assert main(["protocol", "report", "--test-files", "x", "--root", str(ROOT)]) == 1


def test_a_small_float_written_by_dvc_is_read_back_as_a_float(tmp_path):
    """`-S key=0.00001` through DVC's override writer stores `1e-05`, which YAML 1.1 reads as a
    string: the stages refused the params DVC wrote, and every such experiment looked stale."""
    from dvc.utils.hydra import apply_overrides as dvc_apply

    from gantext.config import load_params

    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    dvc_apply(str(params), [f"adversarial.bce.g_lr={rc.fmt_value(1e-05)}",
                            f"ingest.paths={rc.fmt_value(['data/mine/*.txt', 'a b,c.txt'])}"])
    assert "g_lr: 1e-05" in params.read_text(encoding="utf-8")
    p = load_params(params)
    assert p.adversarial.bce.g_lr == pytest.approx(1e-05)
    assert p.ingest.paths == ("data/mine/*.txt", "a b,c.txt")
    assert prun._parse(params.read_text(encoding="utf-8"), "x")["adversarial"]["bce"][
        "g_lr"] == pytest.approx(1e-05)
