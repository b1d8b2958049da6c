"""What the stages check and record: run directly (not by `dvc repro`) after model.generator
changed, a stage refuses the pretrain checkpoint of the old architecture with one clear line
instead of training on (or evaluating) it while metrics and MLflow record the new one; every
training and evaluation run records the precision that ran (``gantext.precision``).

Both read the shared trained origin (_origin.py; changes happen in a copy of it), so they cost
no pipeline run of their own."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _origin import copy, trained_origin  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_stages_refuse_a_pretrain_checkpoint_of_another_architecture(
        make_tiny_repo, run_cmd, update_params, tmp_path) -> None:
    origin = trained_origin(make_tiny_repo, run_cmd)
    repo = copy(origin, tmp_path / "copy" / "repo")
    outs = [repo / "models" / "adversarial" / "generator.pt", repo / "metrics" / "evaluate.json"]
    before = [p.read_bytes() for p in outs]
    update_params(repo, {"model": {"generator": {"arch": "relational-memory"}}})
    for stage in ("adversarial", "evaluate"):
        proc = run_cmd(["python", "-m", f"stages.{stage}"], cwd=repo, check=False)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        err = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
        assert len(err) == 1 and "generator.pt: stale" in err[0], proc.stderr
        assert "arch 'lstm' (params: 'relational-memory')" in err[0]
        assert "dvc repro" in err[0]
    assert [p.read_bytes() for p in outs] == before  # nothing trained or written


def test_training_and_evaluation_runs_record_the_precision_that_ran(make_tiny_repo, run_cmd,
                                                                   tiny_tracking_uri) -> None:
    from mlflow import MlflowClient

    from gantext.config import load_params
    from gantext.runtime import resolve_precision

    origin = trained_origin(make_tiny_repo, run_cmd)
    params = load_params(origin.repo / "params.yaml")
    want = resolve_precision(params.runtime.precision, "cpu")  # after any fallback (no bf16)
    client = MlflowClient(tiny_tracking_uri(origin.repo))
    exp = client.get_experiment_by_name("gantext-test")
    for stage in ("pretrain", "adversarial", "evaluate"):
        runs = client.search_runs([exp.experiment_id], f"tags.`gantext.stage` = '{stage}'")
        assert runs, stage
        assert {r.data.tags.get("gantext.precision") for r in runs} == {want}, stage
