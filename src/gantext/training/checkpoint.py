"""Checkpoints are data, not code: state_dicts + plain config, loaded with ``weights_only=True``.

A checkpoint is a dict ``{"format", "kind", "spec", "state_dict", "vocab_hash", "metrics", "extra"}``
holding only tensors and plain Python values, so a tampered file carrying a pickled object is
refused by torch's weights-only unpickler instead of being executed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import torch

from gantext.errors import CheckpointError
from gantext.io import atomic_path
from gantext.models.generator import Generator, archs_of_weights, build_generator

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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _misfit(model: torch.nn.Module, state: dict) -> str:
    """One line on how `state` misses `model`'s weights (missing, unexpected, other shapes)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [str(k) for k in state if k not in own]
    shapes = [k for k in own if k in state and isinstance(state[k], torch.Tensor)
              and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = [f"{len(ks)} {what} (e.g. {ks[0]})" for ks, what in (
        (missing, "missing"), (unexpected, "unexpected"), (shapes, "of another shape")) if ks]
    return ", ".join(parts) or "weights of another type"


def load_module(path: str | Path, kind: str, build: Callable[[dict], torch.nn.Module],
                vocab_hash: str | None = None, device: str | torch.device = "cpu",
                weights_look_like: Callable[[dict], list[str]] | None = None
                ) -> tuple[Any, dict[str, Any]]:
    """Rebuild a module of `kind` with `build(spec)`, load its weights, return it (eval mode)
    with the checkpoint payload.

    A spec this build cannot rebuild (another version's fields, an unregistered architecture)
    or weights that do not fit it are a :class:`CheckpointError` naming the file, what it holds
    and what this build knows (`build`'s error says it: the registered architectures, a spec's
    fields); `weights_look_like(state_dict)` names what the weights resemble."""
    payload = load_checkpoint(path, kind=kind, vocab_hash=vocab_hash)
    spec, state = payload.get("spec"), payload.get("state_dict")
    held = f"holds a {kind} with spec {spec!r}" if isinstance(spec, dict) else f"holds a {kind}"
    redo = "Re-run the stage that wrote it (`dvc repro`), or use the gantext version that did"
    if not isinstance(spec, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{path}: a {kind} checkpoint without a spec mapping and a weights "
                              f"mapping. {redo}")
    try:
        model = build(spec)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: {held} that this build cannot rebuild: "
                              f"{_first_line(exc)}. {redo}") from None
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        looks = weights_look_like(state) if weights_look_like is not None else []
        like = f"; the weights look like a {' or '.join(map(repr, looks))} {kind}'s" \
            if looks and looks != [spec.get("arch")] else ""
        raise CheckpointError(f"{path}: {held}, but its weights do not fit that spec: "
                              f"{_misfit(model, state) if isinstance(exc, RuntimeError) else _first_line(exc)}"
                              f"{like}. The file is inconsistent. {redo}") from None
    return model.to(device).eval(), payload


def load_generator(path: str | Path, vocab_hash: str | None = None,
                   device: str | torch.device = "cpu", expect: Any = None
                   ) -> tuple[Generator, dict[str, Any]]:
    """Rebuild a :class:`Generator` from a checkpoint (in eval mode) and return it with the payload.

    `expect`: the spec params.yaml would build now (see :func:`expect_spec`); a checkpoint whose
    spec differs (``model.generator`` or ``tokenize.max_len`` changed since it was written, and
    the stage was run directly instead of through ``dvc repro``) is a :class:`CheckpointError`."""
    model, payload = load_module(path, "generator", build_generator, vocab_hash, device,
                                 weights_look_like=archs_of_weights)
    if expect is not None:
        check_spec(path, model.spec_dict, expect)
    return model, payload


def expect_spec(vocab_size: int, max_len: int, cfg: Any) -> dict[str, Any]:
    """The spec (plain dict, with ``arch``) that ``model.generator`` `cfg` builds for this data."""
    from gantext.models.generator import generator_spec

    return {"arch": cfg.arch, **dataclasses.asdict(generator_spec(vocab_size, max_len, cfg))}


def check_spec(path: str | Path, stored: dict[str, Any], expected: dict[str, Any]) -> None:
    """CheckpointError when the checkpoint's spec differs from the one params.yaml builds now."""
    diff = [k for k in dict.fromkeys([*expected, *stored])
            if stored.get(k) != expected.get(k) and not (k == "max_len" and stored.get(k) is None)]
    if diff:
        shown = ", ".join(f"{k} {stored.get(k)!r} (params: {expected.get(k)!r})" for k in diff)
        raise CheckpointError(
            f"{path}: stale: the generator in it has {shown}, but params.yaml (model.generator, "
            "tokenize.max_len) now builds another; re-run the stages from pretrain "
            "(`dvc repro`, or `python -m stages.pretrain` before this one)")


# ----------------------------------------------------------------------------- resume states
# ONE resume mechanism for every training stage (pretrain, adversarial): a stage saves whatever
# its loop needs under a fingerprint of everything that shapes the result, the device included;
# a state with another fingerprint (other params, data, seed or device) is ignored, never reused.
RESUME_FORMAT = 2
Log = Callable[[str], None]


def run_fingerprint(stage: str, device: str | torch.device, **parts: Any) -> str:
    """sha256 identity of a training run: the stage, the device and the JSON-able `parts`
    (params sections, seed, hashes of the inputs)."""
    payload = {"format": RESUME_FORMAT, "stage": stage, "device": str(torch.device(device)), **parts}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def save_resume(path: str | Path, stage: str, fingerprint: str, state: dict[str, Any]) -> None:
    """Atomically write a stage's resume state (tensors and plain values: weights-only loadable)."""
    payload = {"format": RESUME_FORMAT, "kind": "resume", "stage": stage,
               "fingerprint": fingerprint, "state": state}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)


def load_resume(path: str | Path | None, stage: str, fingerprint: str, log: Log
                ) -> dict[str, Any] | None:
    """The state saved at `path` by this exact run (same fingerprint), else None with a log line
    saying why (unreadable, another format or stage, stale)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        log(f"{stage}: ignoring unreadable resume state {path}: {str(exc).splitlines()[0]}")
        return None
    if not isinstance(payload, dict) or payload.get("format") != RESUME_FORMAT \
            or payload.get("kind") != "resume" or payload.get("stage") != stage:
        log(f"{stage}: ignoring resume state {path}: not a resume state of stage {stage!r} "
            f"(format {RESUME_FORMAT})")
        return None
    if payload.get("fingerprint") != fingerprint:
        log(f"{stage}: ignoring stale resume state {path} (params, seed, data or device changed)")
        return None
    return payload["state"]


def discard_resume(path: str | Path | None) -> None:
    """Remove a resume state once the stage's outputs are safely written."""
    if path is not None:
        Path(path).unlink(missing_ok=True)
