"""The shipped COCO benchmark from a bare copy of the repository (no sibling folders): the
protocol's own overrides run ingest + tokenize as a DVC experiment, with the leakage rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_coco_data_stages_run_from_a_bare_copy(make_tiny_repo, run_cmd) -> None:
    from gantext.protocol.recipe import fmt_value, load_recipe, overrides

    repo = make_tiny_repo({"ingest": {"max_tokens": 60}})  # params.yaml's (tiny: 30)
    assert not (repo.parent.parent / "shared").exists()
    recipe = load_recipe("coco", REPO)
    ovr = overrides(recipe, seed=0)  # the data and the picked MLE (no objective)
    assert ovr["ingest.data_dir"] == "data/benchmarks/coco"  # relative: the same on any clone
    flags = [a for k, v in ovr.items() for a in ("-S", f"{k}={fmt_value(v)}")]
    run_cmd(["dvc", "exp", "run", "tokenize", "-n", "coco-data", *flags], cwd=repo)
    m = json.loads((repo / "metrics" / "ingest.json").read_text(encoding="utf-8"))
    assert m["lines_read"] == 20000 == m["kept"]["total"] + m["rejected"]["total"]
    assert m["kept"]["test"] == 10000 and m["kept"]["valid"] == 1000
    assert [f["path"] for f in m["inputs"]] == ["data/benchmarks/coco/test.txt",
                                                "data/benchmarks/coco/train.txt"]
    # the shipped data and the seeded split are fixed: exact figures (15 test captions also occur
    # in train.txt; 7 train lines repeat a test caption and 5 a valid one: all 12 leave train)
    assert m["leakage"]["test_paths_in_paths"] == 15
    assert (m["rejected"]["in_test"], m["rejected"]["in_valid"]) == (7, 5)
    assert m["rejected"]["total"] == m["leakage"]["dropped"] == 12
    assert m["kept"] == {"train": 8988, "valid": 1000, "test": 10000, "total": 19988}
    train = set((repo / "data" / "interim" / "train.txt").read_text(encoding="utf-8").splitlines())
    test = set((repo / "data" / "interim" / "test.txt").read_text(encoding="utf-8").splitlines())
    assert not train & test
    tok = json.loads((repo / "metrics" / "tokenize.json").read_text(encoding="utf-8"))
    assert tok["max_len"] == 37 and tok["test"]["sentences"] == 10000
