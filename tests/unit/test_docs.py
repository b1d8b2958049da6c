"""The documentation: the mkdocs site builds with --strict (a broken link or anchor, or a page
missing from the nav, fails), and the README stays a one-screen entry point whose links work."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mkdocs_site_builds_strict(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    site = tmp_path / "site"
    # the generated pages: every CLI verb, every module, the changelog
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    from gantext.cli import COMMANDS

    assert all(f"gantext {name}" in cli for name in COMMANDS)
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "gantext.verify" in api and "gantext.objectives.rsgan" in api
    assert (site / "changelog" / "index.html").is_file()


def test_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert local, "the README links into docs/"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing
    # the everyday read-outs are on the first screen
    first = "\n".join(text.splitlines()[:80])
    for command in ("gantext summary", "gantext compare", "dvc plots show", "mlflow ui",
                    "gantext lineage", "gantext verify"):
        assert command in first, command
