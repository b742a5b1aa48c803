"""What a :class:`~edgekit.memory.ReadingStore` holds per reading for a sensor series kept as
given (issue #16): hot, sealed, and beside pcodec's bytes per value for the same values.

A *series directory* holds ``NAME.npy`` (values, any real dtype) and ``NAME.json`` (at least
``interval``, a text such as ``"1 min"``, ``"1/360 s (presumed)"`` or ``"~2.047 s"``, and
``decimals_detected``).  Each series gets regular timestamps at its interval (1 minute when
the text gives none) and the step-test quality flags of :func:`edgekit.memory._series.
step_test`, and is appended to a store as its own dtype.  Everything is measured with
tracemalloc (:func:`edgekit.memory.measure`) after the same build was run once unmeasured, so
that the codec's per-thread work arrays are not counted.

The bound of the issue's done-when, for float64 series with fixed decimals: sealed at most
:data:`SEALED_BOUND` bytes a reading (timestamps and qualities included), or, where the values
alone need more, at most ``PCODEC_FACTOR x`` pcodec's bytes per value ``+ PCODEC_SLACK``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.memory import _seal_codec, _segment
from edgekit.memory._series import step_test
from edgekit.memory.accounting import measure
from edgekit.memory.store import ReadingStore

SEALED_BOUND = 2.0  # bytes a reading, sealed, timestamps and qualities included
PCODEC_FACTOR = 1.1
PCODEC_SLACK = 0.25  # bytes a reading for the timestamps and qualities beside the values
SEGMENT_SIZE = 4096  # the store's default
START_NS = 1_700_000_000 * 10**9
_DEFAULT_INTERVAL_NS = 60 * 10**9
_UNITS_NS = {"ms": 10**6, "s": 10**9, "min": 60 * 10**9, "h": 3600 * 10**9,
             "day": 86_400 * 10**9, "week": 7 * 86_400 * 10**9}
_INTERVAL = re.compile(r"^~?\s*(\d+(?:\.\d+)?)(?:\s*/\s*(\d+(?:\.\d+)?))?\s*"
                       r"(ms|s|min|h|day|week)\b")


def interval_ns(text: str | None) -> int | None:
    """The sampling interval in ns a series' json states (``"1/53 s (53 Hz)"``: 18,867,925),
    or None when it states none (``"undocumented"``)."""
    m = _INTERVAL.match((text or "").strip())
    if m is None:
        return None
    num, den, unit = m.groups()
    value = float(num) / (float(den) if den else 1.0)
    return max(1, round(value * _UNITS_NS[unit]))


def bound(pcodec_bytes_per_value: float | None) -> float:
    """The most sealed bytes a reading may take: 2, or 1.1 x pcodec + 0.25 when more."""
    if pcodec_bytes_per_value is None:
        return SEALED_BOUND
    return max(SEALED_BOUND, PCODEC_FACTOR * pcodec_bytes_per_value + PCODEC_SLACK)


@dataclass(frozen=True)
class Footprint:
    """One series in a store (bytes per reading unless named otherwise)."""

    name: str
    given: str  # the dtype of the values appended
    stored: str  # the dtype the store keeps them in
    n: int
    interval_ns: int
    decimals: int | None
    hot: float  # one hot buffer holding the whole series
    sealed: float  # segments of SEGMENT_SIZE, the whole store counted
    sealed_timestamps: float  # of which the timestamp frames
    sealed_values: float  # of which the value frames
    sealed_qualities: float  # of which the quality frames
    pcodec: float | None  # pcodec's bytes per value for the same values (None: not installed)

    @property
    def bound_applies(self) -> bool:
        """The done-when covers float64 series with fixed decimals."""
        return self.given == "float64" and self.decimals is not None

    @property
    def bound(self) -> float:
        return bound(self.pcodec)

    @property
    def holds(self) -> bool:
        return self.sealed <= self.bound

    @property
    def overhead(self) -> float:
        """Sealed bytes a reading beside the three frames: segment headers, index entries,
        the store and its channel."""
        return self.sealed - self.sealed_timestamps - self.sealed_values - self.sealed_qualities


def series_names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.npy") if p.with_suffix(".json").exists())


def load(directory: Path, name: str) -> tuple[np.ndarray, dict]:
    values = np.load(directory / f"{name}.npy", allow_pickle=False)
    meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    return values, meta


def columns(values: np.ndarray, step_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps_ns, values as given, qualities) of a series sampled every ``step_ns``."""
    ts = START_NS + np.arange(values.size, dtype=np.int64) * step_ns
    return ts, values, step_test(values)


def _frame_bytes(store: ReadingStore) -> tuple[int, int, int]:
    """Bytes of the timestamp, value and quality frames over the store's resident segments."""
    sizes = [0, 0, 0]
    for ch in store._channels.values():
        for blob in ch.segments[ch.first_resident:]:
            payload = memoryview(blob)[_segment.HEADER.size:-4]
            for i, size in enumerate(_seal_codec.section_sizes(payload)):
                sizes[i] += size
    return sizes[0], sizes[1], sizes[2]


def pcodec_bytes_per_value(values: np.ndarray) -> float | None:
    try:
        import pcodec
    except ImportError:
        return None
    blob = pcodec.standalone.simple_compress(np.ascontiguousarray(values), pcodec.ChunkConfig())
    return len(blob) / values.size


def footprint(name: str, values: np.ndarray, meta: dict) -> Footprint:
    """Measure one series (see the module's docstring)."""
    step = interval_ns(meta.get("interval")) or _DEFAULT_INTERVAL_NS
    t, v, q = columns(values, step)
    n = t.size

    def hot() -> ReadingStore:
        s = ReadingStore(segment_size=max(16, n))
        s.extend(t, v, q)
        return s

    def sealed() -> ReadingStore:
        s = ReadingStore(segment_size=SEGMENT_SIZE)
        s.extend(t, v, q)
        s.seal()
        return s

    results = []
    for build in (hot, sealed):
        build()  # the warm-up run: what the codec caches per thread is made now
        store, m = measure(build)
        r = store.query()
        if not (np.array_equal(r.timestamps_ns, t) and np.array_equal(r.qualities, q)
                and r.values.tobytes() == v.astype(r.values.dtype).tobytes()
                and np.array_equal(r.values.astype(v.dtype), v, equal_nan=v.dtype.kind == "f")):
            raise AssertionError(f"{name}: the store did not give back what it was given")
        results.append((store, m.per(n)))
    (hot_store, hot_b), (sealed_store, sealed_b) = results
    ts_b, v_b, q_b = _frame_bytes(sealed_store)
    return Footprint(
        name=name, given=values.dtype.name,
        stored=hot_store.channel(0).value_dtype.name,  # type: ignore[union-attr]
        n=n, interval_ns=step, decimals=meta.get("decimals_detected"),
        hot=hot_b, sealed=sealed_b, sealed_timestamps=ts_b / n, sealed_values=v_b / n,
        sealed_qualities=q_b / n, pcodec=pcodec_bytes_per_value(values))
