"""MkDocs hooks (mkdocs.yml `hooks:`): pages made from the repository itself, so they never go
stale and never need a copy under docs/.

* ``reference/cli.md``: every `gantext` command with its arguments, from the argparse parser;
* ``reference/api.md``: one mkdocstrings block per module under src/gantext (a new module is
  documented without an edit here);
* ``changelog.md``: CHANGELOG.md at the repository root;
* ``bench/coco/quality_diversity.png``: the figure `protocol.py report` draws, for the COCO page.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
#: files of the repository served as they are (path inside the site = path in the repository)
STATIC = ("bench/coco/quality_diversity.png",)
#: API reference sections: title -> module prefixes (the first match wins; the rest: "Other")
SECTIONS = {
    "Pipeline and configuration": ("gantext.config", "gantext.configfields", "gantext.params_file",
                                   "gantext.paths", "gantext.io", "gantext.errors",
                                   "gantext.registry", "gantext.runtime", "gantext.data"),
    "Corpus and text": ("gantext.corpus", "gantext.text"),
    "Models": ("gantext.models",),
    "Objectives": ("gantext.objectives",),
    "Training": ("gantext.training",),
    "Evaluation and metrics": ("gantext.evaluation", "gantext.metrics"),
    "Read-outs and provenance": ("gantext.cli", "gantext.compare", "gantext.verify",
                                 "gantext.lineage", "gantext.provenance", "gantext.tracking",
                                 "gantext.progress"),
    "Sweeps": ("gantext.sweep",),
}


def _modules() -> list[str]:
    mods = []
    for path in sorted((SRC / "gantext").rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        mods.append(".".join(parts))
    return sorted(set(mods))


def api_page() -> str:
    """Markdown with a `::: module` block per module, grouped by :data:`SECTIONS`."""
    groups: dict[str, list[str]] = {title: [] for title in SECTIONS}
    groups["Other"] = []
    for mod in _modules():
        title = next((t for t, prefixes in SECTIONS.items()
                      if any(mod == p or mod.startswith(p + ".") for p in prefixes)), "Other")
        groups[title].append(mod)
    lines = ["# API reference", "",
             "Generated from the docstrings of `src/gantext/` (mkdocstrings): every module, "
             "grouped by what it is for.", ""]
    for title, mods in groups.items():
        if not mods:
            continue
        lines += [f"## {title}", ""]
        for mod in mods:
            lines += [f"::: {mod}", ""]
    return "\n".join(lines)


def cli_page() -> str:
    """Every `gantext` command: its help line and its arguments (argparse's own usage text)."""
    from gantext.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = ["# Command line: `gantext`", "",
             "Generated from the parser of `gantext.cli` (`gantext COMMAND --help` prints the "
             "same).", ""]
    for name, cmd in COMMANDS.items():
        p = sub.choices[name]
        p.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
        lines += [f"## `gantext {name}`", "", cmd.help[:1].upper() + cmd.help[1:] + ".", "",
                  "```text", p.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "reference/api.md", content=api_page()))
    files.append(File.generated(config, "reference/cli.md", content=cli_page()))
    files.append(File.generated(config, "changelog.md",
                                content=(ROOT / "CHANGELOG.md").read_text(encoding="utf-8")))
    for rel in STATIC:
        files.append(File.generated(config, rel, abs_src_path=str(ROOT / rel)))
    return files
