"""Process runtime: seeding, device selection, CPU threads and allocator, determinism, precision.

Device is a parameter (``auto`` = cuda when available); CPU is the tested path. The settings of
the ``runtime`` params section (:class:`gantext.config.RuntimeConfig`) are applied by
:func:`configure` once per stage, after the device is known.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import json
import os
import random
import sys
from typing import Callable, Iterator

import numpy as np
import torch

from gantext.config import RuntimeConfig
from gantext.errors import ConfigError

#: runtime.precision -> the autocast dtype (None: plain fp32). No fp16: its range ends at 65504,
#: so the generator's -1e9 <pad>/<bos> logit would become -inf there (bf16 keeps fp32's exponent
#: range: -1e9 stays finite, see tests/unit/test_runtime.py).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}

# glibc mallopt() parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_MMAP_THRESHOLD = -3


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU torch.Generator for explicit sampling streams.

    ``deterministic`` is ``runtime.deterministic`` (see :func:`set_deterministic`)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    set_deterministic(deterministic)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def set_deterministic(flag: bool) -> None:
    """Deterministic kernels where torch has them (``runtime.deterministic``).

    On CPU they cost nothing measurable here and give the house guarantee (same params + data +
    seed => same bits). On CUDA they are slower (no cuDNN autotuning, deterministic scatter and
    cuBLAS workspaces), so a GPU run may switch them off: nothing forces them there.
    """
    torch.use_deterministic_algorithms(flag, warn_only=True)
    torch.backends.cudnn.deterministic = flag
    torch.backends.cudnn.benchmark = not flag
    if flag:  # read by cuBLAS when its first handle is created; harmless on CPU
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


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


def single_threaded(device: torch.device | str | None = None) -> None:
    """Use one intra-op CPU thread when the stage computes on the CPU (`device` None = CPU).

    CPU float results then do not depend on the machine's core count (same params + data + seed
    => same bits anywhere), and these small batched LSTM/CNN ops gain little from a second thread
    while OpenMP spin-waits cost a lot on a shared machine (measured here: 2 threads were several
    times slower when another process was busy). On a GPU the host threads only feed the device
    (and do the CPU-side metrics), so the thread count is left to torch there.
    """
    if device is not None and torch.device(device).type != "cpu":
        return
    torch.set_num_threads(1)


def retain_freed_memory() -> bool:
    """Make glibc malloc keep freed memory for reuse instead of returning it to the kernel.

    Why: glibc serves every allocation above 32 MiB with a fresh mmap() and unmaps it on free, so
    a training step whose logits (tokens x vocabulary floats) exceed that size page-faults its
    whole working set in again every step, and the kernel zeroes each page: on a 10k-sentence
    news corpus (a ~25k-word vocabulary) pretraining spent about a third of its CPU time in the
    kernel. With mmap off and no trimming the same memory is reused from the heap. Measured on a
    news-sized corpus (vocabulary 25k, 1,280 rows of 5-45 tokens, one epoch of train_mle, fp32):
    sys 13.7 s -> 1.8 s (training passes alone 8.6 s -> 0.6 s); the price is peak RSS, 3.0 ->
    4.7 GB there (freed blocks stay with the process; it plateaus). Returns False (and changes
    nothing) where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # -1: never trim (mallopt(3)); a finite threshold still returns a big freed top block
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, -1))


def _libc_function(name: str) -> Callable[..., int] | None:
    """A glibc function by name, or None off Linux / where it is missing."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Hand the heap's free pages back to the kernel now (glibc ``malloc_trim(0)``: it also
    releases whole free pages inside the heap, not only at its top).

    Why: with :func:`retain_freed_memory` nothing freed is ever returned, so transient
    vocabulary-wide work of ever-changing shapes (each batch of samples has its own width) left
    holes the next shapes did not fit, and peak RSS crept up step after step (SeqGAN on a 20k-word
    corpus: +0.8 GB per generator step). Called after such work (an NLL over a split, a SeqGAN
    generator step), not per training batch: those keep the heap (the point of retaining it).
    Returns False where the C library is not glibc (nothing done)."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True


#: ``runtime.kept_heap_limit_gb`` while freed memory is kept (None: :func:`trim_if_large` does
#: nothing). Process-wide, like the malloc settings it pairs with; set by :func:`configure`.
_kept_heap_limit_gb: float | None = None


def resident_bytes() -> int:
    """This process's resident memory now (``/proc/self/statm``; 0 where that is not readable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def stop_retaining_freed_memory() -> bool:
    """Undo :func:`retain_freed_memory` for the rest of the process: blocks of 1 MiB and more are
    mmap()ed again (returned to the kernel when freed), the heap is trimmed above 1 MiB free, and
    what it holds free now is handed back. False (nothing done) where the C library is not glibc."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = all(mallopt(opt, value) for opt, value in ((_M_MMAP_MAX, 65536),
                                                      (_M_MMAP_THRESHOLD, 1 << 20),
                                                      (_M_TRIM_THRESHOLD, 1 << 20)))
    return release_freed_memory() and done


def trim_if_large() -> bool:
    """Stop keeping freed memory once resident memory is above ``runtime.kept_heap_limit_gb``
    (True when it did, once per process).

    Why: with :func:`retain_freed_memory` every batch of its own width leaves holes the next
    does not fit, so the heap only grows: pretraining on a 20k-word corpus of 45-token sentences
    held 3.2 GB after 30 s and peaked at 3.5 GB (1.3 GB with nothing kept, but 1.8x slower), and
    SeqGAN's steps there crept from 3.3 to 4.0 GB. Trimming after each step did not bound the
    peaks inside a step; returning big blocks on free does. Called after each training step and
    before an NLL over a split; on a small vocabulary the stages stay far below the limit and
    this is one read of /proc per call."""
    global _kept_heap_limit_gb
    limit = _kept_heap_limit_gb
    if limit is None or (held := resident_bytes()) <= limit * 2 ** 30:
        return False
    _kept_heap_limit_gb = None
    from gantext.progress import write  # (progress imports nothing of ours: lazily)

    write(f"runtime: {held / 2 ** 30:.1f} GB resident > runtime.kept_heap_limit_gb ({limit:g}): "
          "freed memory is handed back from now on (bounded memory, slower steps on a large "
          "vocabulary)")
    return stop_retaining_freed_memory()


def release_at_peak() -> None:
    """At the peak of vocabulary-wide work: stop keeping freed memory if past the limit
    (:func:`trim_if_large`), then hand the heap's free pages back (:func:`release_freed_memory`)."""
    trim_if_large()
    release_freed_memory()


def configure(cfg: RuntimeConfig, device: torch.device | str) -> None:
    """Apply the ``runtime`` params section for a stage computing on `device` (once, early).

    CPU: one intra-op thread and the heap kept (:func:`retain_freed_memory`) up to
    ``runtime.kept_heap_limit_gb`` of resident memory (:func:`trim_if_large`). Every device:
    deterministic kernels as ``runtime.deterministic`` says. (``runtime.precision`` is applied
    around each training forward pass by :func:`autocast`.)
    """
    global _kept_heap_limit_gb
    set_deterministic(cfg.deterministic)
    if torch.device(device).type == "cpu":
        single_threaded(device)
        if cfg.kept_heap_limit_gb > 0 and retain_freed_memory():
            _kept_heap_limit_gb = cfg.kept_heap_limit_gb


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a ``runtime.precision`` value (None for fp32)."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ConfigError(f"runtime.precision {precision!r}: expected one of "
                          f"{', '.join(PRECISIONS)}") from None


@functools.lru_cache(maxsize=None)
def bf16_lstm_supported(device_type: str) -> bool:
    """Whether this machine trains an LSTM under bf16 autocast on `device_type` ("cpu"/"cuda").

    On CPU, PyTorch's bf16 LSTM is oneDNN's, which has no kernel without AVX-512 (measured on an
    AVX2-only AMD EPYC with torch 2.13: "could not create a primitive descriptor for the LSTM
    forward propagation primitive"), so ask the kernel itself: one tiny forward and backward.
    The probe's weights are drawn inside a forked RNG, so asking never moves a seeded stream.
    """
    with torch.random.fork_rng(devices=[]):
        lstm = torch.nn.LSTM(4, 4, batch_first=True).to(device_type)
    try:
        with torch.autocast(device_type, dtype=torch.bfloat16, cache_enabled=False):
            out, _ = lstm(torch.zeros(1, 2, 4, device=device_type))
        out.float().sum().backward()
    except RuntimeError:
        return False
    return True


def resolve_precision(precision: str, device: torch.device | str,
                      log: Callable[[str], None] | None = None,
                      key: str = "runtime.precision",
                      explicit: str = "set runtime.precision: fp32 in params.yaml") -> str:
    """The precision a stage computes in: ``runtime.precision``, except bf16 on a device with no
    bf16 LSTM kernel (:func:`bf16_lstm_supported`), which computes in fp32 and says so through
    `log` (stderr by default) rather than stopping the pipeline with oneDNN's error. `key` and
    `explicit` name the setting in that message (the CLI's is a flag, not a params key)."""
    autocast_dtype(precision)  # validates the value
    device_type = torch.device(device).type
    if precision == "bf16" and not bf16_lstm_supported(device_type):
        (log or _stderr)(f"{key} bf16: this machine has no bfloat16 LSTM kernel on "
                         f"{device_type} (on CPU, oneDNN's needs AVX-512), so this computes in "
                         "fp32; figures will differ slightly from a bf16 machine's. To make that "
                         f"choice explicit, {explicit}.")
        return "fp32"
    return precision


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def autocast(precision: str, device: torch.device | str) -> Iterator[None]:
    """Mixed precision for a training forward pass (``runtime.precision``) on CPU or CUDA.

    bf16 runs matmuls, the LSTM and the vocabulary head in bfloat16 with fp32 weights, gradients
    and optimizer state; losses (cross-entropy) are computed in fp32 by autocast's own policy.
    fp32 is a no-op. Evaluation figures (NLL, samples) are always computed in fp32.
    """
    dtype = autocast_dtype(precision)
    # cache_enabled=False: autocast otherwise keeps the bf16 copy of each weight for the whole
    # region, so a region spanning several optimizer steps (D pretraining, a round of D steps)
    # would run every forward after the first with stale weights
    with torch.autocast(torch.device(device).type, dtype=dtype or torch.float32,
                        enabled=dtype is not None, cache_enabled=False):
        yield


def derive_seed(seed: int, *keys: object) -> int:
    """The one seed-derivation scheme of training: a 63-bit seed for the random stream named by
    `keys`, e.g. ``derive_seed(0, "batches", 3)`` (sha256 of the JSON list, so streams with
    different names are independent and adding a stream never shifts another)."""
    digest = hashlib.sha256(json.dumps([seed, *keys]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1
