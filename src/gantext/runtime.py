"""Seeding and device selection (device is a parameter; CPU is the tested path)."""

from __future__ import annotations

import hashlib
import json
import os
import random

import numpy as np
import torch

from gantext.errors import ConfigError


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator for explicit sampling streams."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Deterministic kernels where torch has them: same params + data + seed => same bits on CPU.
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available else cpu; anything else must be a valid torch device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not a torch device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for but CUDA is not available; use 'auto' or 'cpu'")
    return dev


def single_threaded() -> None:
    """Use one intra-op CPU thread in training/evaluation stages.

    CPU float results then do not depend on the machine's core count (same params + data + seed
    => same bits anywhere), and these small batched LSTM/CNN ops gain little from a second thread
    while OpenMP spin-waits cost a lot on a shared machine (measured here: 2 threads were several
    times slower when another process was busy). GPU work is unaffected.
    """
    torch.set_num_threads(1)


def derive_seed(seed: int, *keys: object) -> int:
    """The one seed-derivation scheme of training: a 63-bit seed for the random stream named by
    `keys`, e.g. ``derive_seed(0, "batches", 3)`` (sha256 of the JSON list, so streams with
    different names are independent and adding a stream never shifts another)."""
    digest = hashlib.sha256(json.dumps([seed, *keys]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1
