"""Progress with a rate and an ETA for every long loop: a tqdm bar on a terminal, a plain line
every few seconds otherwise (DVC, `dvc queue` and CI capture stderr into logs, where tqdm's
carriage-return bar is either disabled or unreadable).

    from gantext.progress import progress

    for step in progress(range(start, steps), total=steps, initial=start,
                         desc="adversarial (bce)", unit="step"):
        ...

    bar = progress(total=n, desc="evaluate", unit="sample")   # no iterable: call bar.update(k)

Log lines look like ``adversarial (bce): 120/300 step (40%), 2.31 step/s, elapsed 52s, ETA 1m18s``
and come at most every ``GANTEXT_PROGRESS_INTERVAL`` seconds (default 10; the first one after
one interval, so loops shorter than that print nothing) plus one closing line for a loop that
printed any. ``GANTEXT_PROGRESS=bar|lines|off`` overrides the terminal detection.

The rate behind the ETA is counted from the first completed unit (:class:`WarmRate`), and there
is no ETA until a few units or seconds came after it: the time before the first unit (a bar made
before the loop's set-up, the first batch's allocations, D's first fakes) is no rate. Counted
from the bar's start, SeqGAN's D pretraining first said "ETA 3h49m", ten seconds later 49 s.

Only stderr is written; nothing here touches random state or the numbers a stage computes.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Callable, Iterable, Iterator, TextIO

ENV_MODE = "GANTEXT_PROGRESS"
ENV_INTERVAL = "GANTEXT_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 10.0
#: An ETA needs this many units after the first one, or this many seconds and one unit.
WARM_UNITS = 2
WARM_SECONDS = 2.0


class WarmRate:
    """Units per second since the first completed unit; None until :data:`WARM_UNITS` more
    units, or :data:`WARM_SECONDS` and one more unit, came after it. `base` is the count the
    loop starts from (a resumed loop's `initial`)."""

    def __init__(self, base: float = 0.0):
        self.base = base
        self.first: tuple[float, float] | None = None  # (time, count) at the first unit seen

    def __call__(self, n: float, now: float) -> float | None:
        if self.first is None:
            if n > self.base:
                self.first = (now, n)
            return None
        dt, done = now - self.first[0], n - self.first[1]
        if dt <= 0 or done <= 0 or (done < WARM_UNITS and dt < WARM_SECONDS):
            return None
        return done / dt


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``; ``?`` for an unknown (non-finite) duration."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def status_line(desc: str, n: float, total: float | None, elapsed: float, unit: str,
                rate_base: float = 0.0, rate: float | None = None, eta: bool = True) -> str:
    """One progress line: count, percentage, rate over this session and the ETA.

    `rate_base` is where this session started counting (a resumed loop's `initial`), so the rate
    and ETA reflect work done now, not work restored from a checkpoint. `rate` replaces that
    average (:class:`WarmRate`'s); ``eta=False`` leaves the ETA out (not measured yet).
    """
    if rate is None:
        done_now = n - rate_base
        rate = done_now / elapsed if elapsed > 0 else 0.0
    count = f"{n:g}/{total:g} {unit}" if total else f"{n:g} {unit}"
    pct = f" ({100.0 * n / total:.0f}%)" if total else ""
    if rate >= 100:
        rate_txt = f"{rate:,.0f} {unit}/s"
    elif rate >= 1 or rate == 0:
        rate_txt = f"{rate:.3g} {unit}/s"
    else:  # slow steps (SeqGAN on a real corpus): seconds per step reads better
        rate_txt = f"{1 / rate:.3g} s/{unit}"
    eta_txt = ""
    if total and eta:
        eta_txt = ", ETA " + (format_duration((total - n) / rate) if rate > 0 else "?")
    return f"{desc}: {count}{pct}, {rate_txt}, elapsed {format_duration(elapsed)}{eta_txt}"


class LineProgress:
    """tqdm's small interface (iterate, update, set_postfix, write, close) as periodic lines."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: float | None = None,
                 initial: float = 0, desc: str = "", unit: str = "it",
                 interval: float | None = None, file: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable) + initial  # type: ignore[arg-type]
        self.iterable, self.total, self.n, self.initial = iterable, total, initial, initial
        self.desc, self.unit, self.file, self.clock = desc, unit, file, clock
        self.interval = interval if interval is not None else _env_interval()
        self.start = self.last = clock()
        self.warm = WarmRate(initial)
        self.printed = 0
        self.postfix = ""
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None, "progress() without an iterable: call update()"
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, k: float = 1) -> None:
        self.n += k
        now = self.clock()
        warm = self.warm(self.n, now)  # every update: the first unit's time is the rate's origin
        if now - self.last >= self.interval:
            self.last = now
            self._emit(now, rate=warm)

    def set_postfix(self, values: dict[str, Any] | None = None, **kwargs: Any) -> None:
        items = {**(values or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def write(self, text: str) -> None:
        print(text, file=self.file or sys.stderr, flush=True)

    def _emit(self, now: float, closing: bool = False, rate: float | None = None) -> None:
        line = status_line(self.desc, self.n, self.total, now - self.start, self.unit,
                           self.initial, rate=rate, eta=rate is not None)
        if closing:
            line = line.split(", ETA")[0] + " (done)"
        if self.postfix:
            line += f" [{self.postfix}]"
        self.write(line)
        self.printed += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.printed:  # a loop that spoke says how it ended; a quick one stays silent
            self._emit(self.clock(), closing=True)


def _env_interval() -> float:
    try:
        value = float(os.environ.get(ENV_INTERVAL, DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value >= 0 else DEFAULT_INTERVAL_S


def mode(file: TextIO | None = None) -> str:
    """``bar`` (a terminal), ``lines`` (a log) or ``off``, honouring GANTEXT_PROGRESS."""
    forced = os.environ.get(ENV_MODE, "").strip().lower()
    if forced in ("bar", "lines", "off"):
        return forced
    stream = file or sys.stderr
    try:
        return "bar" if stream.isatty() else "lines"
    except (AttributeError, ValueError):
        return "lines"


class _Silent(LineProgress):
    def _emit(self, now: float, closing: bool = False, rate: float | None = None) -> None:
        pass


def _bar_class() -> type:
    """tqdm with :class:`WarmRate`'s rate: "?" for the rate and the ETA until it is measured
    (tqdm's own counts from the bar's creation, warm-up included)."""
    from tqdm import tqdm

    class WarmBar(tqdm):
        def __init__(self, *args: Any, **kwargs: Any):
            self._warm = WarmRate(kwargs.get("initial", 0) or 0)
            super().__init__(*args, **kwargs)

        @property
        def format_dict(self) -> dict[str, Any]:
            d = super().format_dict
            # 0, not None: tqdm then prints "?" instead of averaging from the start itself
            d["rate"] = self._warm(d["n"], d["elapsed"]) or 0
            return d

    return WarmBar


def progress(iterable: Iterable[Any] | None = None, *, total: float | None = None,
             initial: float = 0, desc: str = "", unit: str = "it", leave: bool = True,
             file: TextIO | None = None) -> Any:
    """A progress wrapper for `iterable` (or a counter to ``update()`` when None): a tqdm bar on a
    terminal, :class:`LineProgress` in a log. Both have update/set_postfix/write/close."""
    how = mode(file)
    if how == "bar":
        return _bar_class()(iterable, total=total, initial=initial, desc=desc, unit=unit,
                            leave=leave, file=file or sys.stderr, dynamic_ncols=True)
    cls = _Silent if how == "off" else LineProgress
    return cls(iterable, total=total, initial=initial, desc=desc, unit=unit, file=file)


def write(text: str, file: TextIO | None = None) -> None:
    """Print a line without breaking a tqdm bar on a terminal."""
    if mode(file) == "bar":
        from tqdm import tqdm

        tqdm.write(text, file=file or sys.stderr)
    else:
        print(text, file=file or sys.stderr, flush=True)
