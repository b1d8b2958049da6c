"""The shipped COCO benchmark from a bare copy of the repository (no sibling folders): the
protocol's own overrides run ingest + tokenize as a DVC experiment, with the leakage rule."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_coco_data_stages_run_from_a_bare_copy(make_tiny_repo, run_cmd) -> None:
    sys.path.insert(0, str(REPO / "bench" / "coco"))
    import protocol

    repo = make_tiny_repo({"ingest": {"max_tokens": 60}})  # params.yaml's (tiny: 30)
    assert not (repo.parent.parent / "shared").exists()
    ovr = protocol.overrides(protocol.DEFAULT_COCO, protocol.load_recipe(), {}, seed=0)
    assert ovr["ingest.data_dir"] == "data/benchmarks/coco"  # relative: the same on any clone
    run_cmd(["dvc", "exp", "run", "tokenize", "-n", "coco-data", *protocol.flag_list(ovr)],
            cwd=repo)
    m = json.loads((repo / "metrics" / "ingest.json").read_text(encoding="utf-8"))
    assert m["lines_read"] == 20000 == m["kept"]["total"] + m["rejected"]["total"]
    assert m["kept"]["test"] == 10000 and m["kept"]["valid"] == 1000
    assert [f["path"] for f in m["inputs"]] == ["data/benchmarks/coco/test.txt",
                                                "data/benchmarks/coco/train.txt"]
    assert m["rejected"]["in_test"] == m["leakage"]["train_in_test"] > 0
    train = set((repo / "data" / "interim" / "train.txt").read_text(encoding="utf-8").splitlines())
    test = set((repo / "data" / "interim" / "test.txt").read_text(encoding="utf-8").splitlines())
    assert not train & test
    tok = json.loads((repo / "metrics" / "tokenize.json").read_text(encoding="utf-8"))
    assert tok["max_len"] == 37 and tok["test"]["sentences"] == 10000
