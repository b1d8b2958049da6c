"""`gantext protocol run` end to end on the tiny built-in corpus: one objective x 2 seeds through
the DVC queue (2 workers) on a clone of the shared trained origin, then the report.

Checks: both experiments ran and are named ``<corpus>-s<seed>-<loss>``; the report holds the
objective against MLE *and* against each run's own control (the in-run control row of evaluate),
per seed and across seeds; the CSV's `dvc.yaml` plot is what `dvc plots show` draws; a second
`run` resumes (runs nothing). (Superseding a stale experiment: tests/unit/test_protocol.py, with
a real `dvc exp rename`; here it would cost a third experiment.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _origin import clone, trained_origin  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_protocol_runs_seeds_through_the_queue_and_reports_vs_the_control(
        make_tiny_repo, run_cmd, tmp_path):
    origin = trained_origin(make_tiny_repo, run_cmd)
    repo = clone(origin, tmp_path / "proto" / "repo", run_cmd)
    cmd = ["gantext", "protocol", "run", "--losses", "rsgan", "--seeds", "0", "1",
           "--jobs", "2"]
    try:
        done = run_cmd(cmd, cwd=repo)
        assert "builtin-s0-rsgan" in done.stdout and "builtin-s1-rsgan" in done.stdout
        out = repo / "reports" / "builtin"
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        rs = report["objectives"]["rsgan"]
        assert rs["seeds"] == [0, 1] and not report["missing"]
        for comp in ("vs_mle", "vs_mle_lm", "vs_control", "vs_control_lm"):
            assert rs[comp]["n"] == 2 and rs[comp]["df"] == 1, comp  # every seed has its gap
            assert rs[comp]["word"] in ("yes", "no", "inside noise")
        for seed in ("0", "1"):  # json keys
            assert rs["per_seed"][seed]["vs_control"]["gap_mean"] is not None
            assert rs["per_seed"][seed]["control"]["bleu5"] is not None
        # seeds vary the model, never the split: both MLE rows differ, the real rows agree
        mle = report["mle"]["per_seed"]
        assert mle["0"]["bleu5"] != mle["1"]["bleu5"]
        md = (out / "report.md").read_text(encoding="utf-8")
        assert "| rsgan | " in md and "above the control's curve:" in md
        assert (out / "quality_diversity.png").read_bytes()[:4] == b"\x89PNG"
        plots = json.loads(run_cmd(["dvc", "plots", "show", "--json",
                                    "reports/builtin/quality_diversity.csv"], cwd=repo).stdout)
        drawn = json.dumps(plots)
        assert "rsgan control" in drawn and "self_bleu5" in drawn

        # resumable: both exist, nothing is queued again
        again = run_cmd(cmd, cwd=repo)
        assert again.stdout.count("skipped") == 2, again.stdout

    finally:
        run_cmd(["dvc", "queue", "stop", "--kill"], cwd=repo, check=False, capture=False)
