"""Field helpers for the frozen config dataclasses (no torch, no registry imports).

They live apart from :mod:`gantext.config` so that an objective or a generator architecture can
declare its own config dataclass in its own file (validated by ``load_params`` like every other
section) without importing the module that assembles the sections from the registries.
:func:`to_dict` and :func:`flatten` (re-exported by :mod:`gantext.config`) are here for the same
reason: readers such as ``gantext lineage`` and ``gantext verify`` use them without importing
torch, which the registries do (seconds on a busy machine).
"""

from __future__ import annotations

import dataclasses
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


def to_dict(obj: Any) -> dict:
    """Plain nested dict of a config (tuples become lists), for checkpoints and logging."""
    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v
    return conv(obj)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}, for MLflow params."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out
