"""DVC caching, proven on a tiny repo: what re-runs after which change, the run-cache, and that
MLflow's and the lineage report's md5s are DVC's own (dvc.lock and the cache's .dir manifests)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _origin import STAGES, copy, ran, trained_origin  # noqa: E402

from gantext.io import md5_file  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def origin(make_tiny_repo, run_cmd):
    return trained_origin(make_tiny_repo, run_cmd)


def _mlflow_runs(tracking_uri: str, experiment: str = "gantext-test",
                 role: str = "stage") -> list:
    """The stage runs that executed (``role="stage"``), the short runs of stages DVC restored or
    skipped (``"cached"``), or the pipelines' parent runs (``"pipeline"``)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    runs = [] if exp is None else client.search_runs([exp.experiment_id], max_results=1000)

    def kind(r) -> str:
        if r.data.tags.get("gantext.role") == "pipeline":
            return "pipeline"
        return "cached" if r.data.tags.get("gantext.cached") == "true" else "stage"
    return [r for r in runs if kind(r) == role]


def test_first_repro_runs_all_stages_second_runs_nothing(origin, run_cmd):
    assert ran(origin.first_log) == list(STAGES)
    assert ran(origin.second_log) == [], origin.second_log
    assert "Data and pipelines are up to date" in run_cmd(["dvc", "status"], cwd=origin.repo).stdout
    # every stage left a run-cache entry (an uncached plain out in dvc.yaml would silently
    # disable it for its stage: only metrics and plots may be `cache: false`)
    runs = [yaml.safe_load(p.read_text())["cmd"]
            for p in (origin.repo / ".dvc" / "cache" / "runs").rglob("*") if p.is_file()]
    assert sorted(runs) == sorted(f"python -m stages.{s}" for s in STAGES)


def test_mlflow_runs_carry_dvc_md5s_and_one_pipeline_id(origin, tiny_tracking_uri):
    lock = origin.lock
    runs = {r.data.tags["gantext.stage"]: r for r in _mlflow_runs(tiny_tracking_uri(origin.repo))}
    assert set(runs) == set(STAGES)
    compared = 0
    for stage, run in runs.items():
        assert run.info.status == "FINISHED"
        tags = run.data.tags
        assert tags["gantext.stage"] == stage
        assert tags["gantext.git_dirty"] == "false"
        for kind in ("deps", "outs"):
            for item in lock[stage][kind]:
                assert tags[f"dvc.{kind[:-1]}.{item['path']}"] == item["md5"], (stage, item)
                compared += 1
    assert compared >= 30
    pipeline_ids = {r.data.tags["gantext.pipeline_id"] for r in runs.values()}
    assert len(pipeline_ids) == 1 and pipeline_ids.pop().startswith("repro-")
    # nested under one parent run, which the track stage ended with the headline figures
    parents = _mlflow_runs(tiny_tracking_uri(origin.repo), role="pipeline")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in runs.values()} == {parents[0].info.run_id}
    assert "gan.bleu5" in parents[0].data.metrics and "pretrain.test_nll" in parents[0].data.metrics
    assert not _mlflow_runs(tiny_tracking_uri(origin.repo), role="cached")  # every stage ran
    # per-step metrics with their steps, the stage's params only
    pre = runs["pretrain"]
    assert "pretrain.epochs" in pre.data.params and "adversarial.loss" not in pre.data.params
    evaluate = runs["evaluate"].data.metrics
    m = json.loads((origin.repo / "metrics" / "evaluate.json").read_text())
    assert evaluate["gan.bleu5"] == m["gan"]["bleu5"] and evaluate["mle.fid"] == m["mle"]["fid"]


def _dir_manifest(repo: Path, md5: str) -> dict[str, str]:
    """relpath -> md5 from DVC's own .dir object in the repo's cache."""
    path = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    return {e["relpath"]: e["md5"] for e in json.loads(path.read_text())}


def test_lineage_md5s_are_dvc_lock_md5s(origin, run_cmd, tiny_tracking_uri):
    """`gantext lineage` (and the evaluate stage's metrics/lineage.md): every md5 is dvc.lock's,
    every checkpoint file md5 is the one in DVC's .dir manifest, run ids are MLflow's."""
    lock = origin.lock
    text = run_cmd([sys.executable, "-m", "gantext.cli", "lineage", "--md"],
                   cwd=origin.repo).stdout
    written = (origin.repo / "metrics" / "lineage.md").read_text(encoding="utf-8")
    for stage in STAGES:
        for item in lock[stage]["outs"] + lock[stage]["deps"]:
            assert f"`{item['md5']}`" in text, (stage, item["path"])
            if item["path"] != "metrics/lineage.md":  # the report does not hash itself
                assert f"`{item['md5']}`" in written, (stage, item["path"])
    assert "CHANGED" not in text and "MISSING" not in text
    for stage in ("pretrain", "adversarial"):
        out = next(o for o in lock[stage]["outs"] if o["path"] == f"models/{stage}")
        manifest = _dir_manifest(origin.repo, out["md5"])
        assert manifest  # generator.pt (+ discriminator.pt)
        for rel, md5 in manifest.items():
            line = f"| &nbsp;&nbsp;`models/{stage}/{rel}` | `{md5}` | ok (in the .dir above) |"
            assert line in text and line in written
            assert md5_file(origin.repo / "models" / stage / rel) == md5
    assert "loss: **bce**" in text
    vocab = json.loads((origin.repo / "data" / "processed" / "vocab.json").read_text())
    assert vocab["hash"] in text and vocab["hash"] in written
    commit = run_cmd(["git", "rev-parse", "HEAD~1"], cwd=origin.repo).stdout.strip()
    assert f"git commit `{commit}`" in written  # the commit the pipeline ran on
    runs = {r.data.tags["gantext.stage"]: r.info.run_id for r in _mlflow_runs(tiny_tracking_uri(origin.repo))}
    for stage in STAGES:
        assert f"MLflow run: `{runs[stage]}`" in text, stage
        assert f"MLflow run: `{runs[stage]}`" in written, stage


def test_param_changes_rerun_only_downstream_and_run_cache_restores(
        origin, run_cmd, update_params, tmp_path, tiny_tracking_uri):
    # a copy with the origin's cache: its run-cache holds the bce runs. (Not a `dvc pull
    # --run-cache` clone: DVC 3.67 pushes no objects of `cache: false` outs such as the metrics
    # JSON, so a pulled run-cache entry cannot be restored; see docs/experiments.md.)
    repo = copy(origin, tmp_path / "work" / "repo")
    gen = repo / "models" / "adversarial" / "generator.pt"
    bce_gen_md5 = md5_file(gen)

    # an evaluate.* param: only evaluate; with an unreachable MLflow server: one warning, done
    update_params(repo, {"evaluate": {"num_samples": 40}})
    log = run_cmd(["dvc", "repro"], cwd=repo, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    out = log.stdout + log.stderr
    assert ran(out) == ["evaluate"], out
    assert out.count("warning: MLflow tracking unavailable") == 1, out
    assert len((repo / "metrics" / "samples" / "gan.txt").read_text().splitlines()) == 40
    eval_40 = md5_file(repo / "metrics" / "evaluate.json")

    # adversarial.loss: adversarial + evaluate only
    update_params(repo, {"adversarial": {"loss": "wgan-gp"}})
    log = run_cmd(["dvc", "repro"], cwd=repo)
    assert ran(log.stdout + log.stderr) == ["adversarial", "evaluate"]
    assert md5_file(gen) != bce_gen_md5
    assert "wgan-gp" in (repo / "metrics" / "lineage.md").read_text()

    # back to bce: both stages come from the run-cache, nothing trains
    update_params(repo, {"adversarial": {"loss": "bce"}})
    log = run_cmd(["dvc", "repro"], cwd=repo)
    out = log.stdout + log.stderr
    assert ran(out) == [], out
    for stage in ("adversarial", "evaluate"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in out
    assert md5_file(gen) == bce_gen_md5
    assert md5_file(repo / "metrics" / "evaluate.json") == eval_40
    # timing-free marker: this copy's MLflow store saw exactly one adversarial run (wgan-gp)
    adv = [r for r in _mlflow_runs(tiny_tracking_uri(repo)) if r.data.tags.get("gantext.stage") == "adversarial"]
    assert [r.data.params["adversarial.loss"] for r in adv] == ["wgan-gp"]
    # ... and the restored bce stage got a short cached run (its origin ran in another store)
    cached = [r for r in _mlflow_runs(tiny_tracking_uri(repo), role="cached")
              if r.data.tags["gantext.stage"] == "adversarial"]
    assert [r.data.params["adversarial.loss"] for r in cached] == ["bce"]
    assert cached[0].data.tags["gantext.cached_from"] == "unknown"
    status = run_cmd(["dvc", "status"], cwd=repo).stdout
    assert "up to date" in status, status
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert lock["adversarial"]["params"]["params.yaml"]["adversarial"]["loss"] == "bce"
    assert re.search(r"loss: \*\*bce\*\*", (repo / "metrics" / "lineage.md").read_text())


def test_checkpoint_bytes_are_reproducible(tmp_path):
    """Same payload -> same bytes, whatever the (random) temporary file name: otherwise every
    rerun gives DVC a new md5 and run-cache entries never match a rerun's outputs."""
    import torch

    from gantext.training.checkpoint import save_checkpoint

    sd = {"w": torch.arange(6.0).reshape(2, 3)}
    for name in ("a.pt", "b.pt"):
        save_checkpoint(tmp_path / name, kind="generator", state_dict=sd, spec={"n": 1},
                        vocab_hash="h")
    assert md5_file(tmp_path / "a.pt") == md5_file(tmp_path / "b.pt")
