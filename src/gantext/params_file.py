"""Reading params.yaml as strictly as DVC does, so `python -m stages.*` and `dvc repro` agree.

PyYAML keeps the last of two equal keys silently and reads an empty file as "all defaults";
DVC refuses both. Here both are a :class:`ConfigError` naming the file (and the lines).

Numbers are read as DVC writes them: ``dvc exp run -S key=0.00001`` stores ``1e-05`` (YAML 1.2,
ruamel), which PyYAML's YAML 1.1 resolver reads as a *string* (its floats need a dot and a signed
exponent), so a stage refused the params DVC itself wrote. YAML 1.2's exponent floats are floats
here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gantext.errors import ConfigError

__all__ = ["read_params_file", "parse_params_text"]


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"params key '{key}' appears twice (lines {seen[key]} and "
                                  f"{line}); keep one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 floats that YAML 1.1 misses: an exponent without a dot or without its sign
# (``1e-05``, ``1.5e3``, ``.5E2``)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"), list("-+.0123456789"))


def parse_params_text(text: str) -> Any:
    """Params YAML text, parsed as :func:`read_params_file` parses a file (duplicate keys refused,
    DVC's exponent floats read as floats); yaml.YAMLError / ConfigError on bad text."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506


def read_params_file(path: Path) -> Any:
    """The parsed YAML of `path` (not yet validated); ConfigError for a missing, unparsable,
    empty or key-duplicating file."""
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found (run from the repository root)")
    try:
        data = parse_params_text(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not data:
        raise ConfigError(f"{path}: the params file is empty; dvc.yaml needs its sections (seed, "
                          "ingest, tokenize, ...): restore it with `git checkout params.yaml`")
    return data
