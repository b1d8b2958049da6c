"""Checkpoints are data, not code: state_dicts + plain config, loaded with ``weights_only=True``.

A checkpoint is a dict ``{"format", "kind", "spec", "state_dict", "vocab_hash", "metrics", "extra"}``
holding only tensors and plain Python values, so a tampered file carrying a pickled object is
refused by torch's weights-only unpickler instead of being executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from gantext.errors import CheckpointError
from gantext.io import atomic_path
from gantext.models.generator import Generator, build_generator

FORMAT = 1


def save_checkpoint(path: str | Path, *, kind: str, state_dict: dict, spec: dict,
                    vocab_hash: str, metrics: dict | None = None, extra: dict | None = None) -> None:
    """Atomically write a checkpoint (tensors moved to CPU so it loads anywhere)."""
    payload = {
        "format": FORMAT,
        "kind": kind,
        "spec": dict(spec),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "vocab_hash": vocab_hash,
        "metrics": dict(metrics or {}),
        "extra": dict(extra or {}),
    }
    # Through a file object: given a path, torch names the zip's root folder after it, and the
    # temporary file's random name made identical checkpoints differ byte for byte (so DVC saw
    # a new md5 on every rerun and `dvc repro` after a pull could not match its run-cache).
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)


def load_checkpoint(path: str | Path, *, kind: str | None = None, vocab_hash: str | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``; check its kind and, when given, the vocabulary hash."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (run the stage that writes it, "
                              "e.g. `dvc repro pretrain`)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError / RuntimeError for foreign content
        raise CheckpointError(f"{path}: refused to load: not a plain gantext checkpoint "
                              f"(weights-only loading failed: {str(exc).splitlines()[0]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gantext checkpoint of format {FORMAT}")
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {payload.get('kind')!r}, expected a {kind!r}")
    if vocab_hash is not None and payload.get("vocab_hash") != vocab_hash:
        raise CheckpointError(
            f"{path}: vocabulary hash {str(payload.get('vocab_hash'))[:12]}… does not match the data's "
            f"{vocab_hash[:12]}…: the model was trained on another vocabulary; re-run pretrain "
            "(`dvc repro`) or point at the matching data")
    return payload


def save_generator(path: str | Path, model: Generator, vocab_hash: str,
                   metrics: dict | None = None, extra: dict | None = None) -> None:
    save_checkpoint(path, kind="generator", state_dict=model.state_dict(), spec=model.spec_dict,
                    vocab_hash=vocab_hash, metrics=metrics, extra=extra)


def load_module(path: str | Path, kind: str, build: Callable[[dict], torch.nn.Module],
                vocab_hash: str | None = None, device: str | torch.device = "cpu"
                ) -> tuple[Any, dict[str, Any]]:
    """Rebuild a module of `kind` with `build(spec)`, load its weights, return it (eval mode)
    with the checkpoint payload."""
    payload = load_checkpoint(path, kind=kind, vocab_hash=vocab_hash)
    model = build(payload["spec"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored spec: {exc}") from None
    return model.to(device).eval(), payload


def load_generator(path: str | Path, vocab_hash: str | None = None,
                   device: str | torch.device = "cpu") -> tuple[Generator, dict[str, Any]]:
    """Rebuild a :class:`Generator` from a checkpoint (in eval mode) and return it with the payload."""
    return load_module(path, "generator", build_generator, vocab_hash, device)
