"""What a ReadingStore holds besides its readings, measured with tracemalloc: the store
itself, each channel, each sealed and each spilled segment.  These fixed costs decide what a
short series costs a reading (issue #16: river_waterflow_ls, 1,268 readings, meets 2 bytes a
reading only because they are small) and what a gateway with many small stores pays.

Figures at the time of writing (CPython 3.11): an empty store 352 B; a further channel with
one sealed segment 246 B beside the segment's bytes (the channel object, its list of
segments, its dict entry and id); a further sealed segment 8 B beside its bytes (a list
slot: the index entry *is* the segment's bytes, its header read in place); a further spilled
segment 86 B (its 36-byte header and sequence number in one bytes object).  Before they were
488, 482, 188 and 257 B.  The bounds below leave room for interpreter differences, not for a
Python object per segment."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgekit.memory import ReadingStore, measure
from edgekit.memory._layouts import warm_up

T0 = 1_700_000_000 * 10**9
SEG = 64


@pytest.fixture(scope="module", autouse=True)
def warmed():
    warm_up()


def _held(build) -> tuple[ReadingStore, int]:
    """What ``build()``'s store holds: the smaller of two measured runs after a warm-up, as
    an interpreter table that grows in one of them (the interned strings' dict, which pathlib
    fills with file names) is no part of the store."""
    build()  # warm-up: what the codec caches per thread is made now
    a, ma = measure(build)
    b, mb = measure(build)
    return (a, ma.held_bytes) if ma.held_bytes <= mb.held_bytes else (b, mb.held_bytes)


def _blob_bytes(store: ReadingStore) -> int:
    """sys.getsizeof of every resident segment's bytes: the payload, not the index."""
    return sum(sys.getsizeof(b) for ch in store._channels.values()
               for b in ch.segments[ch.first_resident:])


def _sealed(channels: int, segments: int):
    n = SEG * segments
    ts = T0 + np.arange(n, dtype=np.int64) * 60 * 10**9
    values = np.round(20 + np.sin(np.arange(n) / 9.0), 1)

    def build() -> ReadingStore:
        s = ReadingStore(segment_size=SEG)
        for c in range(channels):
            s.extend(ts, values, 0, channels=1000 + c)
        s.seal()
        return s
    return build


def _beside_blobs(channels: int, segments: int) -> int:
    store, held = _held(_sealed(channels, segments))
    st = store.stats()
    assert st.segments == channels * segments and st.hot_readings == 0
    assert store.query(channel=1000).timestamps_ns.size == SEG * segments
    return held - _blob_bytes(store)


def test_an_empty_store_is_small():
    _, held = _held(ReadingStore)
    assert 100 < held <= 400  # 352 B: the object, its lock, its (empty) channel dict


def test_a_sealed_segment_costs_a_list_slot_beside_its_bytes():
    one, many = _beside_blobs(1, 1), _beside_blobs(1, 401)
    per_segment = (many - one) / 400
    assert 0 < per_segment <= 24, per_segment  # 8 B; was 188 B with an object per segment


def test_a_channel_costs_a_few_hundred_bytes():
    one, many = _beside_blobs(1, 1), _beside_blobs(201, 1)
    per_channel = (many - one) / 200
    assert 100 < per_channel <= 320, per_channel  # 246 B; was 482 B


def test_a_spilled_segment_keeps_its_header_only(tmp_path):
    def spilled(segments: int, sub: str):
        n = SEG * segments
        ts = T0 + np.arange(n, dtype=np.int64) * 60 * 10**9
        values = np.round(20 + np.sin(np.arange(n) / 9.0), 1)
        runs = iter(range(3))

        def build() -> ReadingStore:
            s = ReadingStore(segment_size=SEG, policy="spill",
                             spill_dir=tmp_path / f"{sub}{next(runs)}")
            s.extend(ts, values, 0)
            s.flush()
            return s
        store, held = _held(build)
        assert store.stats().spilled_segments == segments
        assert np.array_equal(store.query().timestamps_ns, ts)
        return held

    per_segment = (spilled(401, "many") - spilled(1, "one")) / 400
    assert 0 < per_segment <= 120, per_segment  # 86 B; was 257 B
