"""What a user sees without reading code: the offline plots page and `dvc exp show`'s order."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DVC = str(Path(sys.executable).with_name("dvc"))


def test_dvc_uses_the_vendored_offline_plots_page():
    config = (REPO / ".dvc" / "config").read_text(encoding="utf-8")
    m = re.search(r"^\s*html_template\s*=\s*(\S+)\s*$", config, re.M)
    assert m, "plots.html_template missing from .dvc/config"
    page = (REPO / ".dvc" / m.group(1)).read_text(encoding="utf-8")
    assert "{plot_divs}" in page
    # no scripts placeholder (DVC would add its CDN tags there) and nothing loaded from a network
    assert "{scripts}" not in page and not re.search(r"<script[^>]+src=", page)
    manifest = json.loads((REPO / ".dvc" / "plots-vendor" / "manifest.json").read_text())
    inlined = re.findall(r"<!-- ([\w-]+)@([\d.]+) [^>]*-->\s*<script>(.*?)</script>", page, re.S)
    assert [(n, v) for n, v, _ in inlined] == [(p["name"], p["version"])
                                               for p in manifest["packages"]]
    for (name, _, js), pkg in zip(inlined, manifest["packages"]):
        assert hashlib.sha256(js.encode("utf-8")).hexdigest() == pkg["sha256"], name
        licence = REPO / ".dvc" / "plots-vendor" / f"LICENSE-{name}"
        assert "University of Washington" in licence.read_text(encoding="utf-8")


def test_quality_diversity_colours_by_revision_in_a_diff():
    spec = json.loads((REPO / ".dvc" / "plots" / "quality_diversity.json").read_text())
    calc = {t["as"]: t["calculate"] for t in spec["transform"] if "calculate" in t}
    assert spec["encoding"]["color"]["field"] == "colour"
    assert calc["colour"] == "datum.n_revs > 1 ? datum.rev : datum.model"
    agg = [t for t in spec["transform"] if "joinaggregate" in t][0]["joinaggregate"][0]
    assert (agg["op"], agg["field"], agg["as"]) == ("distinct", "rev", "n_revs")


def test_dvc_exp_show_starts_with_the_evaluation_and_ends_with_the_counts():
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    # the stages with metrics (`track`, MLflow bookkeeping, has none and may come first)
    stages = [name for name, stage in spec.items() if stage.get("metrics")]
    assert stages[0] == "evaluate" and set(stages[-2:]) == {"ingest", "tokenize"}
    out = subprocess.run([DVC, "exp", "show", "--no-pager", "--csv", "--hide-queued"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    head = out.splitlines()[0].split(",")
    metrics = [c for c in head if c not in ("Experiment", "rev", "typ", "Created", "parent",
                                            "State", "Executor")]
    from gantext.config import flatten

    evaluation = flatten(json.loads((REPO / "metrics" / "evaluate.json").read_text()))
    assert metrics[0] in evaluation, metrics[:5]  # the headline block comes first
    assert head.index("gan.bleu5") < head.index("lines_read")  # the ingest counts after it
