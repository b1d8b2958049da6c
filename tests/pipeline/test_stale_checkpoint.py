"""Stages run directly (not by `dvc repro`) after model.generator changed: the pretrain checkpoint
of the old architecture is refused with one clear line instead of being trained on (or
evaluated) while metrics and MLflow record the new one.

Works in a copy of the shared trained origin (_origin.py), so it costs no pipeline run of its own."""

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
