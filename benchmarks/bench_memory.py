"""edgekit.memory: bytes per reading of each record layout, append and query times.

Memory is *measured* (tracemalloc, :func:`edgekit.memory.measure`), never computed.  The run
keeps CI's share small: object layouts at 100,000 readings, the store at 1,000,000.  The full
table (every layout at 100,000 and 1,000,000, tracemalloc and RSS) comes from
``python tools/memory_table.py`` and is in docs/memory.md.

``pytest benchmarks/bench_memory.py --benchmark-enable`` prints the absolute times; the ratio
checks run in every test run.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from edgekit.memory import ArticleSensorRecord, ReadingStore, measure
from edgekit.memory._layouts import LAYOUTS, warm_up
from edgekit.memory._series import SERIES, readings

N_OBJECTS = 100_000
N_STORE = 1_000_000


def _columns(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` readings of the Payerne temperature record (1 per minute, quality flags),
    repeated with timestamps that keep going."""
    t, v, q = readings("payerne_temp_C")
    ts = t[0] + np.arange(n, dtype=np.int64) * 60 * 10**9
    return ts, np.resize(v, n), np.resize(q, n)


@pytest.fixture(scope="module", autouse=True)
def _codec_tables_built():
    warm_up()


@pytest.fixture(scope="module")
def cols_100k():
    return _columns(N_OBJECTS)


@pytest.fixture(scope="module")
def cols_1m():
    return _columns(N_STORE)


def test_layouts_bytes_per_reading_100k(cols_100k):
    """Every layout at 100,000 readings; the store must beat every per-object layout by far,
    and the article's slots class must beat the plain class (by less than it claims)."""
    t, v, q = cols_100k
    per: dict[str, float] = {}
    for name, build in LAYOUTS.items():
        obj, m = measure(lambda b=build: b(t, v, q))
        per[name] = m.per(t.size)
        del obj
    print(f"\nbytes per reading at {t.size:,} (Python {sys.version.split()[0]}):")
    for name, b in per.items():
        print(f"  {name:<40} {b:8.2f}")
    slots, plain = per["__slots__ class (the article's)"], per["plain class"]
    assert slots < plain < per["dict per reading"]
    assert 0.10 < 1 - slots / plain < 0.40  # it saves something, not the article's 40%
    # tracemalloc counts the whole process: what another thread allocates during a build is
    # counted too (1,312 B once in CI: 17.013 B a reading), so the exact layouts get 4 KiB of
    # slack (0.04 B a reading), far below one more byte a reading
    slack = 4096 / t.size
    assert per["numpy columns (int64, float32, uint8)"] <= 13 + slack
    assert per["numpy columns (int64, float64, uint8)"] <= 17 + slack
    assert per["ReadingStore, hot"] <= 17.2  # float64 values kept as given: 17 B + a constant
    assert per["ReadingStore, sealed"] <= 2.0
    assert min(per[k] for k in ("plain class", "__slots__ class (the article's)",
                                "dataclass(slots=True)", "NamedTuple")) > 8 * 13


def test_hot_store_1m_float64_readings_at_most_17_1_bytes_each(cols_1m):
    t, v, q = cols_1m

    def build():
        s = ReadingStore(segment_size=N_STORE)
        s.extend(t, v, q)
        return s

    store, m = measure(build)
    assert len(store) == N_STORE and store.stats().seals == 0
    print(f"\nhot store, {N_STORE:,} readings: {m.per(N_STORE):.3f} bytes/reading "
          f"(nbytes says {store.nbytes / N_STORE:.3f})")
    assert store.channel(0).value_dtype == np.float64
    assert m.per(N_STORE) <= 17.1


def test_sealed_shipped_series_at_most_2_bytes_each():
    """All shipped series in one store (one channel each) with their timestamps and quality
    flags, sealed: measured bytes per reading, exact round trip."""
    data = [readings(name) for name in SERIES]
    total = sum(t.size for t, _, _ in data)

    def build():
        s = ReadingStore(segment_size=4096)
        for cid, (t, v, q) in enumerate(data):
            s.extend(t, v, q, channels=cid)
        s.seal()
        return s

    store, m = measure(build)
    for cid, (t, v, q) in enumerate(data):
        r = store.query(channel=cid)
        assert np.array_equal(r.timestamps_ns, t) and np.array_equal(r.qualities, q)
        assert np.array_equal(r.values.view(np.uint64), v.view(np.uint64))  # as given
    print(f"\nsealed, all {len(SERIES)} shipped series ({total:,} readings): "
          f"{m.per(total):.3f} bytes/reading")
    assert m.per(total) <= 2.0


def test_sealed_with_gateway_clock_jitter():
    """The honest counterpart: timestamps stamped by the gateway's clock (0-2 ms jitter,
    microsecond resolution) cost about 11 bits each, which no lossless codec removes."""
    t, v, q = readings("payerne_temp_C", jitter_ns=2_000_000)

    def build():
        s = ReadingStore(segment_size=4096)
        s.extend(t, v, q)
        s.seal()
        return s

    store, m = measure(build)
    assert np.array_equal(store.query().timestamps_ns, t)
    print(f"\nsealed payerne_temp_C with 2 ms clock jitter: {m.per(t.size):.3f} bytes/reading")
    assert 1.0 < m.per(t.size) < 4.0


# --- append and query times ----------------------------------------------------------------


def test_append_one_reading_vs_article_records(ratio, cols_100k):
    t, v, q = (a[:20_000].tolist() for a in cols_100k)
    rows = list(zip(t, v, q, strict=True))

    def store_append():
        s = ReadingStore(segment_size=4096)
        for a, b, c in rows:
            s.append(a, b, c)

    def article_append():
        out = []
        for a, b, c in rows:
            out.append(ArticleSensorRecord(a, b, c))

    # one validated, locked append costs several list appends: measured, not hidden
    ratio("append 1 reading x 20k: store vs article's slots objects in a list",
          store_append, article_append, minimum=0.05, rounds=7, clock=time.thread_time)


def test_extend_batches_vs_article_records(ratio, cols_100k):
    t, v, q = cols_100k
    batches = [(t[a:a + 1000], v[a:a + 1000], q[a:a + 1000]) for a in range(0, t.size, 1000)]

    def store_extend():
        s = ReadingStore(segment_size=4096)
        for bt, bv, bq in batches:
            s.extend(bt, bv, bq)

    def article_extend():
        out = []
        for bt, bv, bq in batches:
            out.extend(ArticleSensorRecord(a, b, c) for a, b, c in zip(
                bt.tolist(), bv.tolist(), bq.tolist(), strict=True))

    ratio("extend 100 batches of 1000: store (sealing) vs article's objects", store_extend,
          article_extend, minimum=1.5, rounds=7, clock=time.thread_time)


def _filled(cols, segment_size: int, seal: bool) -> ReadingStore:
    s = ReadingStore(segment_size=segment_size)
    s.extend(*cols)
    if seal:
        s.seal()
    return s


class _NumpyColumns:
    """The baseline: three preallocated numpy columns and a write index, no checks."""

    def __init__(self, n: int) -> None:
        self.t = np.empty(n, np.int64)
        self.v = np.empty(n, np.float64)  # the store keeps float64 as float64 too
        self.q = np.empty(n, np.uint8)
        self.n = 0

    def append(self, t: int, v: float, q: int) -> None:
        i = self.n
        self.t[i] = t
        self.v[i] = v
        self.q[i] = q
        self.n = i + 1

    def extend(self, t: np.ndarray, v: np.ndarray, q: np.ndarray) -> None:
        a, b = self.n, self.n + t.size
        self.t[a:b] = t
        self.v[a:b] = v
        self.q[a:b] = q
        self.n = b


def test_append_vs_numpy_columns(ratio, cols_100k):
    """The store's own cost over bare columns: validation, ordering check, lock, telemetry
    (hot only: a segment as large as the data, so nothing is sealed)."""
    t, v, q = (a[:20_000] for a in cols_100k)
    rows = list(zip(t.tolist(), v.tolist(), q.tolist(), strict=True))

    def store_one():
        s = ReadingStore(segment_size=t.size)
        for a, b, c in rows:
            s.append(a, b, c)

    def columns_one():
        c = _NumpyColumns(t.size)
        for a, b, c_ in rows:
            c.append(a, b, c_)

    # measured 0.09-0.16x (about 1 us against 0.13 us a reading)
    ratio("append 1 reading x 20k: hot store vs numpy columns", store_one, columns_one,
          minimum=0.05, rounds=11, clock=time.thread_time)
    batches = [(t[a:a + 1000], v[a:a + 1000], q[a:a + 1000]) for a in range(0, t.size, 1000)]

    def store_batches():
        s = ReadingStore(segment_size=t.size)
        for batch in batches:
            s.extend(*batch)

    def columns_batches():
        c = _NumpyColumns(t.size)
        for batch in batches:
            c.extend(*batch)

    # about 15 us a call of checks (dtype, range, order, exact value dtype) against ~1 us of
    # copying: 15 ns a reading, measured 0.07-0.08x
    ratio("extend 20 batches of 1000: hot store vs numpy columns", store_batches,
          columns_batches, minimum=0.03, clock=time.thread_time)


@pytest.fixture(scope="module")
def hot_1m(cols_1m):
    return _filled(cols_1m, N_STORE, seal=False)


@pytest.fixture(scope="module")
def sealed_1m(cols_1m):
    return _filled(cols_1m, 4096, seal=True)


def test_query_hot_vs_numpy_columns(ratio, hot_1m, cols_1m):
    t, v, q = cols_1m
    cols = (t.copy(), v.copy(), q.copy())
    t0, t1 = int(t[400_000]), int(t[500_000])

    def numpy_columns():
        a = int(np.searchsorted(cols[0], t0))
        b = int(np.searchsorted(cols[0], t1))
        return cols[0][a:b].copy(), cols[1][a:b].copy(), cols[2][a:b].copy()

    r = hot_1m.query(t0, t1)
    assert all(np.array_equal(x, y) for x, y in zip(r, numpy_columns(), strict=True))
    ratio("query 100k of 1M hot readings: store vs numpy columns",
          lambda: hot_1m.query(t0, t1), numpy_columns, minimum=0.5, inner=5, clock=time.thread_time)


def test_query_sealed_vs_article_list_scan(ratio, sealed_1m, cols_1m):
    t, v, q = cols_1m
    records = [ArticleSensorRecord(a, b, c) for a, b, c in zip(
        t[:200_000].tolist(), v[:200_000].tolist(), q[:200_000].tolist(), strict=True)]
    t0, t1 = int(t[150_000]), int(t[160_000])
    r = sealed_1m.query(t0, t1)
    assert np.array_equal(r.timestamps_ns, t[150_000:160_000])
    # the article keeps a list of records and has no index: a scan, here of only 200k of them
    ratio("query 10k of 1M sealed readings vs scanning 200k article records",
          lambda: sealed_1m.query(t0, t1),
          lambda: [x for x in records if t0 <= x.timestamp < t1], minimum=2.0,
          clock=time.thread_time)


@pytest.mark.parametrize("kind", ["hot", "sealed"])
def test_query_time(benchmark, kind, hot_1m, sealed_1m, cols_1m):
    t = cols_1m[0]
    store = hot_1m if kind == "hot" else sealed_1m
    benchmark.group = "query 10k readings of 1M"
    r = benchmark(store.query, int(t[400_000]), int(t[410_000]))
    assert r.timestamps_ns.size == 10_000


def test_seal_time(benchmark, cols_1m):
    cols = tuple(a[:65536] for a in cols_1m)
    benchmark.group = "extend + seal 65,536 readings"
    assert len(benchmark(_filled, cols, 4096, True)) == 65536


@pytest.mark.parametrize("how", ["pool", "numpy"])
def test_buffer_pool_vs_fresh_allocation(benchmark, how):
    """A 300x300x3 float32 preprocessing buffer filled once, from the pool or np.empty.
    Measured: no faster on glibc (its allocator already reuses freed blocks); the pool's
    value is a bounded, observable set of buffers, not speed."""
    from edgekit.memory import BufferPool

    pool = BufferPool(max_free_bytes=8 << 20)
    shape = (300, 300, 3)

    def pooled():
        with pool.borrow(shape, np.float32) as buf:
            buf[...] = 0.5
            return float(buf[0, 0, 0])

    def fresh():
        buf = np.empty(shape, np.float32)
        buf[...] = 0.5
        return float(buf[0, 0, 0])

    benchmark.group = "300x300x3 float32 work buffer"
    assert benchmark(pooled if how == "pool" else fresh) == 0.5
