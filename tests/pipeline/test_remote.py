"""A DVC remote shares trained checkpoints: repro + push in one clone (the shared origin), then a
fresh clone pulls and `dvc repro` executes no stage (no GPU work is repeated)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _origin import STAGES, clone, ran, trained_origin  # noqa: E402

from gantext.io import md5_file  # noqa: E402

pytestmark = pytest.mark.slow

CHECKPOINTS = ("models/pretrain/generator.pt", "models/adversarial/generator.pt",
               "models/adversarial/discriminator.pt")


def test_fresh_clone_pulls_instead_of_retraining(make_tiny_repo, run_cmd, tmp_path,
                                                 tiny_tracking_uri):
    origin = trained_origin(make_tiny_repo, run_cmd)
    assert ran(origin.first_log) == list(STAGES)
    assert any(origin.remote.rglob("*")), "dvc push sent nothing to the remote"

    repo = tmp_path / "teammate" / "repo"
    clone(origin, repo, run_cmd)  # git clone + dvc pull
    for rel in CHECKPOINTS:
        assert md5_file(repo / rel) == md5_file(origin.repo / rel), rel

    status = run_cmd(["dvc", "status"], cwd=repo).stdout
    assert "Data and pipelines are up to date" in status, status
    log = run_cmd(["dvc", "repro"], cwd=repo)
    out = log.stdout + log.stderr
    assert ran(out) == [], out
    # nothing executed, so nothing was tracked in the teammate's store
    assert not (repo.parent / "mlflow.db").exists()
    sample = run_cmd([sys.executable, "-m", "gantext.cli", "sample", "--model",
                      "models/adversarial/generator.pt", "-n", "3", "--seed", "1"], cwd=repo)
    assert len(sample.stdout.splitlines()) == 3
