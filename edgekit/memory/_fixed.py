"""What a :class:`~edgekit.memory.ReadingStore` holds besides its readings' segment bytes,
measured with tracemalloc (``python tools/memory_table.py --fixed``;
``tests/memory/test_fixed_cost.py`` bounds each figure).

Each figure is the smaller of two measured runs after a warm-up run of the same build: an
interpreter table that grows inside one window (the interned strings' dict, which pathlib
fills with spill file names) is no part of the store.  Segments hold 64 readings of a smooth
float64 series; the bytes objects of resident segments (``sys.getsizeof``) are subtracted.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit.memory.accounting import measure
from edgekit.memory.store import ReadingStore

SEG = 64
_T0 = 1_700_000_000 * 10**9


def held(build: Callable[[], ReadingStore]) -> tuple[ReadingStore, int]:
    """(store, bytes it holds) of ``build()`` (see the module's docstring)."""
    build()  # warm-up: what the codec caches per thread is made now
    a, ma = measure(build)
    b, mb = measure(build)
    return (a, ma.held_bytes) if ma.held_bytes <= mb.held_bytes else (b, mb.held_bytes)


def segment_bytes(store: ReadingStore) -> int:
    """sys.getsizeof of every resident segment's bytes: the payload, not the index."""
    return sum(sys.getsizeof(b) for ch in store._channels.values()
               for b in ch.segments[ch.first_resident:])


def _columns(segments: int) -> tuple[np.ndarray, np.ndarray]:
    n = SEG * segments
    return (_T0 + np.arange(n, dtype=np.int64) * 60 * 10**9,
            np.round(20 + np.sin(np.arange(n) / 9.0), 1))


def sealed(channels: int, segments: int) -> int:
    """Bytes held beside the segments' bytes by a store of ``channels`` channels of
    ``segments`` sealed segments each."""
    ts, values = _columns(segments)

    def build() -> ReadingStore:
        s = ReadingStore(segment_size=SEG)
        for c in range(channels):
            s.extend(ts, values, 0, channels=1000 + c)
        s.seal()
        return s
    store, h = held(build)
    st = store.stats()
    assert st.segments == channels * segments and st.hot_readings == 0
    assert np.array_equal(store.query(channel=1000).timestamps_ns, ts)
    return h - segment_bytes(store)


def spilled(segments: int, directory: Path | None = None) -> int:
    """Bytes held by a one-channel store whose ``segments`` segments are all spilled."""
    ts, values = _columns(segments)
    base = Path(tempfile.mkdtemp(prefix="ekfixed-", dir=directory))
    runs = iter(range(3))

    def build() -> ReadingStore:
        s = ReadingStore(segment_size=SEG, policy="spill", spill_dir=base / str(next(runs)))
        s.extend(ts, values, 0)
        s.flush()
        return s
    try:
        store, h = held(build)
        assert store.stats().spilled_segments == segments
        assert np.array_equal(store.query().timestamps_ns, ts)
        store.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return h


def empty_store() -> int:
    return held(ReadingStore)[1]


def per_channel(many: int = 201) -> float:
    """Each further channel with one sealed segment, beside that segment's bytes."""
    return (sealed(many, 1) - sealed(1, 1)) / (many - 1)


def per_segment(many: int = 401) -> float:
    """Each further resident sealed segment of one channel, beside its bytes."""
    return (sealed(1, many) - sealed(1, 1)) / (many - 1)


def per_spilled_segment(many: int = 401, directory: Path | None = None) -> float:
    """Each further spilled segment of one channel."""
    return (spilled(many, directory) - spilled(1, directory)) / (many - 1)
