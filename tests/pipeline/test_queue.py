"""Sweeps beyond one process: `dvc exp run --queue` + `dvc queue start --jobs 2`.

Two losses are queued on a clone of the shared trained origin (so each experiment runs only
adversarial + evaluate), executed by two queue workers in DVC's temporary copies, then found in
`dvc exp show --json` and in MLflow: the default store (MLFLOW_TRACKING_URI unset) must be the
clone's own mlflow.db, reached from the copies under .dvc/tmp/exps/.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _origin import clone, trained_origin  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

LOSSES = ("wgan-gp", "seqgan")
WAIT_S = 600
DEFAULT_STORE = {"MLFLOW_TRACKING_URI": ""}  # empty = unset for gantext.tracking


def _experiments(show: list[dict]) -> dict[str, dict]:
    """exp name -> {'params': params.yaml data, 'metrics': {file: data}} from exp show --json."""
    out = {}
    for baseline in show:
        for group in baseline.get("experiments") or []:
            for rev in group.get("revs") or []:
                data = rev.get("data") or {}
                out[rev.get("name") or rev["rev"]] = {
                    "params": (data.get("params") or {}).get("params.yaml", {}).get("data", {}),
                    "metrics": {f: (m or {}).get("data", {})
                                for f, m in (data.get("metrics") or {}).items()},
                    "error": rev.get("error")}
    return out


def test_queued_losses_run_with_two_jobs(make_tiny_repo, run_cmd, tmp_path):
    origin = trained_origin(make_tiny_repo, run_cmd)
    repo = clone(origin, tmp_path / "sweep" / "repo", run_cmd)
    names = {}
    for loss in LOSSES:
        name = f"q-{loss}"
        run_cmd(["dvc", "exp", "run", "--queue", "-n", name, "-S", f"adversarial.loss={loss}"],
                cwd=repo)
        names[name] = loss
    try:
        # no pipes: the workers it wakes inherit them, and reading them to EOF waits for the
        # workers to exit (CI, 2026-12-01: 900 s timeout on "Started '2' new ... workers");
        # the loop below is the wait, with its own deadline and the queue's status on failure
        run_cmd(["dvc", "queue", "start", "--jobs", "2"], cwd=repo, env=DEFAULT_STORE,
                capture=False)
        deadline = time.monotonic() + WAIT_S
        while True:
            status = run_cmd(["dvc", "queue", "status"], cwd=repo).stdout
            if not any(word in status for word in ("Queued", "Running")):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"queue not done after {WAIT_S}s:\n{status}")
            time.sleep(3)
    finally:
        # no pipes: a worker still winding down must not hold the test (seen once under load)
        run_cmd(["dvc", "queue", "stop", "--kill"], cwd=repo, check=False, capture=False)
    assert "Failed" not in status, run_cmd(["dvc", "queue", "logs", next(iter(names))],
                                           cwd=repo, check=False).stdout + status
    assert status.count("Success") == len(LOSSES), status

    show = json.loads(run_cmd(["dvc", "exp", "show", "--json"], cwd=repo).stdout)
    exps = _experiments(show)
    assert set(names) <= set(exps), exps.keys()
    for name, loss in names.items():
        e = exps[name]
        assert e["params"]["adversarial"]["loss"] == loss
        m = e["metrics"]["metrics/evaluate.json"]
        for block in ("mle", "gan"):
            assert all(f"{k}{n}" in m[block] for k in ("bleu", "sbleu") for n in (2, 3, 4, 5))
            assert "fid" in m[block] and "nll" in m[block]
        e["gan_bleu5"] = m["gan"]["bleu5"]

    # MLflow: the clone's own store (not the deleted temp copies'), one group per experiment
    db = repo / "mlflow.db"
    assert db.is_file(), "queued stages did not log to <repo>/mlflow.db"
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp_id = client.get_experiment_by_name("gantext-test").experiment_id
    for name, loss in names.items():
        every = client.search_runs([exp_id], f"tags.`gantext.dvc_exp_name` = '{name}'")
        # one parent per experiment; the stages DVC skipped (unchanged) get short cached runs
        # from the track stage, pointing at the runs that computed their outputs
        parent = [r for r in every if r.data.tags.get("gantext.role") == "pipeline"]
        assert len(parent) == 1 and parent[0].info.status == "FINISHED", name
        cached = [r for r in every if r.data.tags.get("gantext.cached") == "true"]
        assert sorted(r.data.tags["gantext.stage"] for r in cached) == [
            "ingest", "pretrain", "tokenize"], name
        runs = [r for r in every if r not in parent and r not in cached]
        assert all(r.data.tags["mlflow.parentRunId"] == parent[0].info.run_id
                   for r in runs + cached)
        by_stage = {r.data.tags["gantext.stage"]: r for r in runs}
        assert sorted(by_stage) == ["adversarial", "evaluate"], name
        assert {r.info.status for r in runs} == {"FINISHED"}
        assert len({r.data.tags["gantext.pipeline_id"] for r in runs}) == 1
        assert by_stage["adversarial"].data.params["adversarial.loss"] == loss
        assert by_stage["evaluate"].data.metrics["gan.bleu5"] == exps[name]["gan_bleu5"]
        # artifacts landed beside the store, not in the (deleted) temporary copy
        arts = {a.path for a in client.list_artifacts(by_stage["evaluate"].info.run_id)}
        assert "lineage.md" in arts, arts
