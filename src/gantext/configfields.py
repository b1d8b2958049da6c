"""Field helpers for the frozen config dataclasses (no torch, no registry imports).

They live apart from :mod:`gantext.config` so that an objective or a generator architecture can
declare its own config dataclass in its own file (validated by ``load_params`` like every other
section) without importing the module that assembles the sections from the registries.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any


def param(default: Any, *, ge: float | None = None, gt: float | None = None,
          le: float | None = None, lt: float | None = None, help: str = "") -> Any:
    """A dataclass field with a default, optional numeric bounds and a one-line help text."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "help": help}
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults (configs are frozen)")
    return field(default=default, metadata=meta)


def section(cls: type) -> Any:
    """A nested-section field whose default is the section's defaults."""
    return field(default_factory=cls)
