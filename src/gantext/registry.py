"""The registries' shared mechanics: one ``"name": "module:Class"`` line per entry, and a lookup
whose error lists the valid names (used for objectives and generator architectures)."""

from __future__ import annotations

from importlib import import_module
from typing import Callable, TypeVar

T = TypeVar("T")


def load_entries(package: str, entries: dict[str, str]) -> dict[str, type]:
    """``{name: "module:Class"}`` (modules under `package`) -> ``{name: Class}``, in order."""
    out = {}
    for name, entry in entries.items():
        module, cls = entry.split(":")
        out[name] = getattr(import_module(f"{package}.{module}"), cls)
    return out


def lookup(registry: dict[str, T], name: str, what: str,
           error: Callable[[str], Exception] = ValueError) -> T:
    """``registry[name]``, or `error` naming the unknown `what` and the valid names."""
    try:
        return registry[name]
    except KeyError:
        raise error(f"unknown {what} {name!r}; valid: {', '.join(sorted(registry))}") from None
