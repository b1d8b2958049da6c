"""`dvc repro` through evaluate in a tiny copy of the repo: outputs, determinism, the plot, MLflow,
and a clear failure when the adversarial checkpoint is missing.

The `dvc repro` is the shared trained origin's (_origin.py: the run's one full pipeline); what
runs dvc again does so in a copy of it, so the origin stays as built."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _origin import copy, trained_origin  # noqa: E402

from gantext.metrics.quality_diversity import COLUMNS  # noqa: E402

# mlflow's SQLAlchemy store warns on its first use in a process (a `noload` deprecation)
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

MAIN_KEYS = ("bleu2", "bleu3", "bleu4", "bleu5", "sbleu2", "sbleu3", "sbleu4", "sbleu5", "fid",
             "nll", "nll_anchor", "validity", "oracle_nll", "mode_js", "distinct_1", "distinct_4",
             "unique", "novelty")


def test_repro_through_evaluate(make_tiny_repo, run_cmd, tiny_tracking_uri, tmp_path) -> None:
    origin = trained_origin(make_tiny_repo, run_cmd)
    assert "Running stage 'evaluate'" in origin.first_log
    tiny_repo = copy(origin, tmp_path / "copy" / "repo")  # dvc runs here, never in the origin

    metrics_file = tiny_repo / "metrics" / "evaluate.json"
    m = json.loads(metrics_file.read_text(encoding="utf-8"))
    # the in-run control (adversarial.control) is scored as its own row, and the verdict reads
    # the GAN's curve against MLE's and the control's
    assert set(m) == {"verdict", "mle", "gan", "control", "delta", "delta_control", "real",
                      "protocol", "machine"}
    assert (tiny_repo / "models" / "adversarial" / "control.pt").is_file()
    v = m["verdict"]
    assert {"vs_mle", "vs_mle_lm", "vs_control", "vs_control_lm", "line"} <= set(v)
    assert v["line"].startswith("above MLE's curve: ") and "above the control's" in v["line"]
    assert m["delta_control"]["bleu5"] == m["gan"]["bleu5"] - m["control"]["bleu5"]
    from gantext.provenance import machine_info

    assert m["machine"] == machine_info()  # what computed the figures (gantext verify)
    for block in ("mle", "gan", "control"):
        missing = [k for k in MAIN_KEYS if k not in m[block]]
        assert not missing, (block, missing)
        assert 0.0 <= m[block]["bleu5"] <= m[block]["bleu2"] <= 1.0
        assert 0.0 <= m[block]["validity"] <= 1.0
    assert m["delta"]["bleu5"] == m["gan"]["bleu5"] - m["mle"]["bleu5"]
    assert m["real"]["validity"] == 1.0 and m["real"]["fid_floor"] > 0.0
    # like with like: the real row and the floor at the models' n, sizes beside the figures
    assert m["mle"]["n_samples"] == m["gan"]["n_samples"] == m["real"]["n_samples"] == 50
    assert m["real"]["n_refs"] == m["mle"]["n_refs"] == 30
    assert m["real"]["fid_floor_lo"] <= m["real"]["fid_floor"] <= m["real"]["fid_floor_hi"]

    samples = {name: (tiny_repo / "metrics" / "samples" / f"{name}.txt")
               .read_text(encoding="utf-8").splitlines() for name in ("mle", "gan")}
    assert all(len(lines) == 50 for lines in samples.values())  # evaluate.num_samples (tiny)
    from gantext.metrics.fid import extractor_md5

    extractor = tiny_repo / "models" / "fid" / "extractor.npz"
    assert extractor_md5(extractor) == m["protocol"]["fid_extractor_md5"]
    with open(tiny_repo / "metrics" / "plots" / "quality_diversity.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["model"], r["temperature"]) for r in rows] == [
        ("mle", "0.7"), ("mle", "1.0"), ("gan", "0.7"), ("gan", "1.0"), ("control", "0.7"),
        ("control", "1.0"), ("real", "")]
    assert list(rows[0]) == list(COLUMNS)
    assert all(0.0 < float(r["lm_coverage"]) <= 1.0 and float(r["mean_length"]) > 0 for r in rows)

    # one chart, coloured by model (the custom template), not drawn twice
    plots = json.loads(run_cmd(["dvc", "plots", "show", "--json"], cwd=tiny_repo).stdout)["data"]
    assert "quality_diversity" in plots
    assert "metrics/plots/quality_diversity.csv" not in plots
    spec = plots["quality_diversity"][0]["content"]
    # colour = model in `dvc plots show` (one revision), revision in `dvc plots diff`
    assert spec["encoding"]["color"]["field"] == "colour"
    assert any(t.get("calculate") == "datum.n_revs > 1 ? datum.rev : datum.model"
               for t in spec.get("transform", []))
    assert spec["encoding"]["x"]["field"] == "self_bleu5" and spec["encoding"]["y"]["field"] == "bleu5"

    # MLflow: the evaluate run holds the metrics and the artifacts
    from mlflow import MlflowClient

    client = MlflowClient(tiny_tracking_uri(origin.repo))  # the copy's store is still empty
    exp = client.get_experiment_by_name("gantext-test")
    runs = client.search_runs([exp.experiment_id], "tags.`gantext.stage` = 'evaluate'")
    assert len(runs) == 1
    assert runs[0].data.metrics["mle.bleu5"] == m["mle"]["bleu5"]
    assert runs[0].data.tags["gantext.verdict"] == v["line"]
    arts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"evaluate.json", "quality_diversity.csv", "samples"} <= arts

    # same params + data + seed => the same bytes
    before = metrics_file.read_bytes(), samples
    run_cmd(["dvc", "repro", "--force", "--single-item", "evaluate"], cwd=tiny_repo)
    after = metrics_file.read_bytes(), {name: (tiny_repo / "metrics" / "samples" / f"{name}.txt")
                                        .read_text(encoding="utf-8").splitlines()
                                        for name in ("mle", "gan")}
    assert after == before

    # no adversarial generator: one clear error line, non-zero exit
    (tiny_repo / "models" / "adversarial" / "generator.pt").unlink()
    proc = run_cmd(["python", "-m", "stages.evaluate"], cwd=tiny_repo, check=False)
    assert proc.returncode == 1
    assert "GAN generator is missing" in proc.stderr and "dvc repro adversarial" in proc.stderr
    assert "Traceback" not in proc.stderr
