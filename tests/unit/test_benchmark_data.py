"""The COCO benchmark ships in the repository: files match their README, nothing points outside."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COCO = REPO / "data" / "benchmarks" / "coco"


def _tracked_files() -> list[Path]:
    """Files git tracks (or, outside a git checkout, every file but environments and caches)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True).stdout
        return [REPO / p for p in out.decode("utf-8").split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", ".dvc", "__pycache__", ".pytest_cache", "mlruns"}
        return [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.parts)
                and not any(part.endswith(".egg-info") for part in p.parts)]


def _readme_rows() -> dict[str, dict[str, str]]:
    """The README's file table: {file: {lines, bytes, md5}}."""
    rows = {}
    for line in (COCO / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\| (\w+\.txt) \| (\d+) \| (\d+) \| .* \| ([0-9a-f]{32}) \|", line)
        if m:
            rows[m[1]] = {"lines": int(m[2]), "bytes": int(m[3]), "md5": m[4]}
    return rows


def test_coco_files_match_the_readme_md5s_and_counts():
    rows = _readme_rows()
    assert set(rows) == {"train.txt", "test.txt"}
    for name, row in rows.items():
        data = (COCO / name).read_bytes()
        assert hashlib.md5(data).hexdigest() == row["md5"], name
        assert len(data) == row["bytes"], name
        assert len(data.decode("utf-8").splitlines()) == row["lines"], name


def test_coco_is_tracked_and_not_hidden_from_git_or_dvc():
    tracked = {p.relative_to(REPO).as_posix() for p in _tracked_files()}
    if (REPO / ".git").exists():
        for name in ("train.txt", "test.txt", "README.md"):
            assert f"data/benchmarks/coco/{name}" in tracked
    for ignore in (".gitignore", ".dvcignore"):
        patterns = (REPO / ignore).read_text(encoding="utf-8").split()
        assert not [p for p in patterns if p.strip("/").startswith(("data/benchmarks", "data/*"))
                    or p.strip("/") in ("data", "benchmarks", "*.txt")], ignore


def test_coco_works_as_ingest_data_dir():
    """The recipe's data: the shipped folder is a valid ingest.data_dir and yields both splits."""
    from gantext.config import params_from_dict
    from gantext.corpus.ingest import ingest

    rel = COCO.relative_to(REPO).as_posix()
    p = params_from_dict({"ingest": {"source": "files", "data_dir": rel,
                                     "paths": [f"{rel}/train.txt"],
                                     "test_paths": [f"{rel}/test.txt"]}})
    res = ingest(p.ingest, 0, REPO)
    assert len(res.splits["test"]) == 10000
    assert res.metrics["lines_read"] == 20000
    assert res.metrics["lines_read"] == res.metrics["kept"]["total"] + res.metrics["rejected"]["total"]


# spelled in two pieces so that this file does not match itself
@pytest.mark.parametrize("needle", [".." + "/shared", ".." + "\\shared"])
def test_no_tracked_file_refers_to_the_shared_folder(needle):
    offenders = []
    for path in _tracked_files():
        if path.suffix in {".png", ".pt", ".npy", ".parquet"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        if needle in text:
            offenders.append(path.relative_to(REPO).as_posix())
    assert offenders == []


def test_protocol_defaults_to_the_shipped_corpus_as_a_relative_path():
    from gantext.protocol.recipe import load_recipe, overrides

    recipe = load_recipe("coco", REPO)
    assert (REPO / recipe.corpus).resolve() == COCO.resolve()
    ovr = overrides(recipe, seed=0)
    assert ovr["ingest.data_dir"] == "data/benchmarks/coco"
    assert ovr["ingest.paths"] == ["data/benchmarks/coco/train.txt"]
