"""Atomic writes: a killed stage never leaves a half-written file that DVC could cache.

Two guarantees beyond atomicity: a write that fails for lack of space (``ENOSPC``, a quota, a
file-size limit, or torch's ``[enforce fail at inline_container.cc]`` that hides them) becomes a
:class:`OutputWriteError` naming the file and the free space; and :func:`write_json` never writes
``NaN``/``Infinity`` (not JSON: ``jq`` and ``dvc metrics`` choke on them).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

from gantext.errors import GantextError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# What torch's zip writer says when the bytes it wrote did not land (a full disk among others).
_TORCH_WRITE_FAILED = ("inline_container", "PytorchStreamWriter failed", "unexpected pos")


class OutputWriteError(GantextError):
    """An output file could not be written (disk full, quota, file-size limit)."""


def _no_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return True
    if isinstance(exc, RuntimeError) and any(s in str(exc) for s in _TORCH_WRITE_FAILED):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and _no_space(cause)


def _write_failed(path: Path, exc: BaseException) -> OutputWriteError:
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MiB free there"
    except OSError:
        free = "free space unknown"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return OutputWriteError(f"{path}: could not be written: the disk is full or a size limit "
                            f"was hit ({free}; {detail}). Free some space (or raise the quota) "
                            "and run the stage again")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`, else delete it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if _no_space(exc):
            raise _write_failed(path, exc) from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; outputs should get the ordinary umask-based mode like any new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if _no_space(exc):
            raise _write_failed(path, exc) from None
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def finite_json(obj: Any, where: str = "") -> tuple[Any, list[str]]:
    """`obj` with every non-finite float (NaN, +-Infinity) replaced by None, and the dotted
    keys where that happened."""
    bad: list[str] = []

    def conv(v: Any, key: str) -> Any:
        if isinstance(v, dict):
            return {k: conv(x, f"{key}.{k}" if key else str(k)) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x, f"{key}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, float) and not math.isfinite(v):
            bad.append(f"{key}={v}")
            return None
        return v

    return conv(obj, where), bad


def write_json(path: str | Path, obj: Any, sort_keys: bool = True) -> None:
    """Pretty, key-sorted JSON (stable diffs in git and `dvc metrics diff`); `sort_keys=False`
    keeps the mapping's own order (evaluate's metrics put what matters first).

    NaN/Infinity are not JSON: they are written as null, with one warning naming the keys, so
    the file stays readable by jq and DVC (a diverged run is stopped before its metrics are
    written; see gantext.training.guard)."""
    clean, bad = finite_json(obj)
    if bad:
        print(f"warning: {path}: non-finite values written as null: {', '.join(bad[:5])}"
              f"{' ...' if len(bad) > 5 else ''}", file=sys.stderr)
    write_text(path, json.dumps(clean, indent=2, sort_keys=sort_keys, ensure_ascii=False,
                                allow_nan=False) + "\n")


def write_lines(path: str | Path, lines: list[str]) -> None:
    """One item a line, trailing newline after each."""
    write_text(path, "".join(f"{line}\n" for line in lines))


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 file written by :func:`write_lines` (no newline characters)."""
    text = Path(path).read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text.endswith("\n") else (text.split("\n") if text else [])


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Rows of dicts with the same keys -> CSV (for `dvc plots`)."""
    import csv
    import io as _io

    buf = _io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0].keys()), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_text(path, buf.getvalue())


def md5_file(path: str | Path) -> str:
    """md5 of a file's bytes, as DVC records it for files."""
    import hashlib

    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
