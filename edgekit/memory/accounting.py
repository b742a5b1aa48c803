"""What a structure really costs in memory, measured rather than computed.

:func:`measure` builds something and reports the bytes it still holds once built, by
:mod:`tracemalloc` (every Python object and every numpy buffer, which numpy reports to
tracemalloc) or by the growth of the process's resident set size (RSS, noisier: it moves by
pages, and the allocator may keep freed memory).  The benchmarks of :mod:`edgekit.memory` use
it to give bytes per reading for each layout.

>>> import numpy as np
>>> arr, m = measure(lambda: np.zeros(1_000_000, np.uint8))
>>> 1_000_000 <= m.held_bytes < 1_001_000
True
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from edgekit.errors import InputError

__all__ = ["Measurement", "measure", "rss_bytes"]

T = TypeVar("T")
_METHODS = ("tracemalloc", "rss")


@dataclass(frozen=True, slots=True)
class Measurement:
    """The cost of one build.

    Attributes:
        method: ``"tracemalloc"`` or ``"rss"``.
        held_bytes: bytes still allocated after the build returned (what its result holds),
            by the chosen method.
        peak_bytes: the most allocated at any time during the build, above the start
            (tracemalloc only; ``None`` for RSS).
        seconds: wall time of the build (slowed by tracemalloc when tracing).
    """

    method: str
    held_bytes: int
    peak_bytes: int | None
    seconds: float

    def per(self, count: int) -> float:
        """Held bytes per item, for ``count`` items."""
        if count <= 0:
            raise InputError("count must be positive", name="count", got=count)
        return self.held_bytes / count


def rss_bytes() -> int | None:
    """The process's current resident set size in bytes, or None where it cannot be read
    (Linux: /proc/self/statm; elsewhere psutil, when installed)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


def measure(build: Callable[[], T], *, method: str = "tracemalloc") -> tuple[T, Measurement]:
    """Call ``build()`` and measure what its result holds: returns ``(result, Measurement)``.

    Make the inputs before the call (what ``build`` reads but does not create is not
    counted); temporaries freed inside ``build`` are not counted either (only in the peak).
    With ``"tracemalloc"``, tracing is started for the call if it is not running already
    (nested measurements work); ``"rss"`` does not trace and returns the RSS growth, which
    may be 0 for a small build that fits in memory the allocator already held.  Both count
    the whole process: what other threads allocate or free during the call counts too.
    """
    if method not in _METHODS:
        raise InputError(f"method must be one of {_METHODS}, got {method!r}", name="method",
                         expected=_METHODS, got=method)
    gc.collect()
    if method == "rss":
        before = rss_bytes()
        if before is None:
            raise InputError("RSS cannot be read on this platform (install psutil)",
                             name="method")
        t0 = time.perf_counter()
        result = build()
        seconds = time.perf_counter() - t0
        gc.collect()
        after = rss_bytes() or before
        return result, Measurement("rss", max(0, after - before), None, seconds)
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        result = build()
        seconds = time.perf_counter() - t0
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    return result, Measurement("tracemalloc", held - base, peak - base, seconds)
