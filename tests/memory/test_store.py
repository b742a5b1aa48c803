"""ReadingStore: API, validation, sealing, policies and accounting on real series."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit import _telemetry
from edgekit.errors import CapacityError, InputError, InputTypeError, OptionsError
from edgekit.memory import ReadingStore, StoreOptions, measure
from edgekit.memory._layouts import warm_up
from edgekit.memory._series import SERIES, readings
from edgekit.types import SensorReading


def same(got: np.ndarray, want: np.ndarray) -> bool:
    """Bit for bit, dtype included (NaN payloads and -0.0 too)."""
    got, want = np.asarray(got), np.asarray(want)
    return got.dtype == want.dtype and got.shape == want.shape and bool(
        np.array_equal(got.view(np.uint8), want.view(np.uint8)))


@pytest.fixture
def temp():
    return readings("payerne_temp_C")


@pytest.fixture
def events():
    seen: list[tuple[str, dict]] = []
    sink = lambda e, f: seen.append((e, f))  # noqa: E731
    _telemetry.add_sink(sink)
    yield seen
    _telemetry.remove_sink(sink)


def test_extend_query_round_trip_hot_and_sealed(temp):
    t, v, q = temp
    s = ReadingStore(segment_size=1000)
    assert s.extend(t, v, q) == t.size
    st = s.stats()
    assert st.seals == t.size // 1000 - (t.size % 1000 == 0) and st.hot_readings > 0
    r = s.query()
    assert np.array_equal(r.timestamps_ns, t)
    assert same(r.values, v)
    assert np.array_equal(r.qualities, q)
    # ranges across segment boundaries, half-open
    for a, b in [(0, 1), (999, 1001), (5, 40000), (42000, t.size)]:
        r = s.query(int(t[a]), int(t[b]) if b < t.size else None)
        assert np.array_equal(r.timestamps_ns, t[a:b])
        assert same(r.values, v[a:b])
    assert s.query(int(t[-1]) + 1).timestamps_ns.size == 0
    assert s.query(0, int(t[0])).timestamps_ns.size == 0


def test_append_one_at_a_time_matches_extend(temp):
    t, v, q = (a[:3000] for a in temp)
    one, batch = ReadingStore(segment_size=256), ReadingStore(segment_size=256)
    for ti, vi, qi in zip(t.tolist(), v.tolist(), q.tolist(), strict=True):
        one.append(ti, vi, qi, 7)
    batch.extend(t, v, q, channels=7)
    for a, b in zip(one.query(), batch.query(), strict=True):
        assert np.array_equal(a, b)
    assert one.stats().seals == batch.stats().seals == 11
    assert one.channels == (7,)


def test_many_channels_merge_in_time_order():
    names = SERIES
    s = ReadingStore(segment_size=512)
    expect = []
    for cid, name in enumerate(names):
        t, v, q = readings(name)
        t, v, q = t[:2000], v[:2000], q[:2000]
        t = t - t[0] + 10**18 + cid  # interleave the channels in time
        s.extend(t, v, q, channels=cid)
        expect.append((t, v, q, np.full(t.size, cid, np.uint32)))
    t, v, q, c = (np.concatenate(x) for x in zip(*expect, strict=True))
    order = np.lexsort((c, t))
    r = s.query_with_channels()
    assert np.array_equal(r.timestamps_ns, t[order])
    assert same(r.values, v[order])
    assert np.array_equal(r.qualities, q[order])
    assert np.array_equal(r.channels, c[order])
    # per-channel views
    view = s.channel(3)
    assert len(view) == 2000
    one = view.query()
    assert np.array_equal(one.timestamps_ns, expect[3][0])
    assert [x.timestamp_ns for x in view][:3] == expect[3][0][:3].tolist()
    # iteration: SensorReading objects, time order, ties by channel
    it = list(s)
    assert len(it) == len(s) == t.size
    assert isinstance(it[0], SensorReading)
    assert [x.timestamp_ns for x in it] == r.timestamps_ns.tolist()
    assert [x.channel for x in it] == r.channels.tolist()


def test_extend_with_channel_array_groups_stably():
    s = ReadingStore(segment_size=16)
    ts = np.array([1, 1, 2, 3, 3, 4], np.int64)
    ch = np.array([2, 1, 2, 1, 2, 1])
    s.extend(ts, np.arange(6.0), np.arange(6), ch)
    r = s.query_with_channels()
    assert r.timestamps_ns.tolist() == [1, 1, 2, 3, 3, 4]
    assert r.channels.tolist() == [1, 2, 2, 1, 2, 1]
    assert r.values.tolist() == [1.0, 0.0, 2.0, 3.0, 4.0, 5.0]


def test_equal_timestamps_keep_append_order_across_a_seal():
    s = ReadingStore(segment_size=16)
    for i in range(40):
        s.append(5, float(i))
    assert s.query(5, 6).values.tolist() == [float(i) for i in range(40)]


def test_out_of_order_is_refused_and_nothing_is_stored():
    s = ReadingStore()
    s.append(100, 1.0)
    with pytest.raises(InputError, match="older than channel 0"):
        s.append(99, 2.0)
    s.append(99, 2.0, channel=1)  # other channels are independent
    with pytest.raises(InputError):
        s.extend([101, 102, 100], [1, 2, 3])
    with pytest.raises(InputError):
        s.extend([50, 200], [1, 2])
    assert len(s) == 2
    assert s.query(channel=0).timestamps_ns.tolist() == [100]


@pytest.mark.parametrize("call, err", [
    (lambda s: s.append(1.5, 1.0), InputTypeError),
    (lambda s: s.append(True, 1.0), InputTypeError),
    (lambda s: s.append(1 << 63, 1.0), InputError),
    (lambda s: s.append(1, "x"), InputTypeError),
    (lambda s: s.append(1, None), InputTypeError),
    (lambda s: s.append(1, (1 << 60) + 1), InputError),  # an int float64 would round
    (lambda s: s.append(1, 1.0, quality=256), InputError),
    (lambda s: s.append(1, 1.0, quality=-1), InputError),
    (lambda s: s.append(1, 1.0, channel=-1), InputError),
    (lambda s: s.append(1, 1.0, channel=1 << 32), InputError),
    (lambda s: s.extend([1.0, 2.0], [1, 2]), InputTypeError),
    (lambda s: s.extend([1, 2], [1]), InputError),
    (lambda s: s.extend([[1, 2]], [[1, 2]]), InputError),
    (lambda s: s.extend([1, 2], ["a", "b"]), InputTypeError),
    (lambda s: s.extend([1, 2], [1, 2], [0, 300]), InputError),
    (lambda s: s.extend([1, 2], [1, 2], [0]), InputError),
    (lambda s: s.extend([1, 2], [1, 2], channels=[0, -1]), InputError),
    (lambda s: s.extend([1, 2], np.array([1, (1 << 62) + 1])), InputError),
    (lambda s: s.append(1, 10**400), InputError),
    (lambda s: s.query(0.5, 2), InputTypeError),
    (lambda s: s.query(channel="a"), InputTypeError),
])
def test_bad_input_raises_clear_errors(call, err):
    s = ReadingStore()
    with pytest.raises(err):
        call(s)
    assert len(s) == 0


def test_specials_and_float64_are_exact():
    x = np.array([0.1, 1e300, np.nan, -0.0, 2.0 ** -1074, np.inf, -np.inf] * 5)
    for opts in ({}, {"value_dtype": "float64"}, {"value_dtype": np.float64}):
        d = ReadingStore(segment_size=16, **opts)
        d.extend(np.arange(x.size), x)
        assert same(d.query().values, x)
        d.seal()
        assert same(d.query().values, x)
        d.append(100, 1e39)
        d.append(101, (1 << 53) + 0)  # an int float64 holds exactly
        assert d.query(100).values.tolist() == [1e39, 2.0 ** 53]


def test_explicit_float32_rounds_and_says_so():
    vals = np.array([np.nan, -0.0, np.inf, -np.inf, 1e-45, 3.4e38, 0.1, 85.3])
    s = ReadingStore(segment_size=16, value_dtype=np.float32)
    assert s.options.value_dtype == "float32" and s.options.reading_bytes == 13
    assert "round" in StoreOptions.__doc__
    s.extend(np.arange(vals.size), vals)
    s.append(100, 21.6)
    s.seal()
    got = s.query().values
    assert got.dtype == np.float32
    assert same(got, np.append(vals, 21.6).astype(np.float32))
    assert float(got[7]) == 85.30000305175781  # rounded, as documented
    with pytest.raises(InputError, match="float32's range"):
        s.append(200, 1e39)  # never an infinity
    with pytest.raises(InputError, match="float32's range"):
        s.extend([200], [1e300])
    assert len(s) == vals.size + 1


def test_value_dtype_follows_the_input_per_channel():
    s = ReadingStore(segment_size=16)
    assert s.options.value_dtype is None and s.options.reading_bytes == 17
    assert s.channel(0).value_dtype is None
    s.append(1, 85.3, channel=0)  # a Python float: float64
    s.extend([1, 2], np.array([1.5, 85.3], np.float32), channels=1)
    s.extend([1, 2], np.array([3, 4], np.int16), channels=2)  # integers: float64
    s.append(1, np.float32(2.5), channel=3)
    s.extend([1], np.array([0.5], np.float16), channels=4)
    assert [s.channel(c).value_dtype for c in range(5)] == [
        np.float64, np.float32, np.float64, np.float32, np.float32]
    assert s.query(channel=0).values.tolist() == [85.3]
    one = s.query(channel=1).values
    assert one.dtype == np.float32 and same(one, np.array([1.5, 85.3], np.float32))
    # across channels: the common type, float32 widened exactly
    assert s.query().values.dtype == np.float64
    assert s.query(5, 6).values.dtype == np.float64  # the same type for an empty range
    assert s.query(channel=3).values.dtype == np.float32
    # later input converts only when exact; nothing is stored of a refused call
    s.append(3, 2.0, channel=1)  # a float64 that is exactly a float32
    s.extend([4, 5], np.array([0.25, 1e30], np.float64).astype(np.float32).astype(float),
             channels=1)
    with pytest.raises(InputError, match="not exactly a float32.*channel 1"):
        s.append(6, 85.3, channel=1)
    with pytest.raises(InputError, match="never rounds"):
        s.extend([6, 7], [0.5, 0.1], channels=1)
    with pytest.raises(InputError):
        s.append(6, 1e39, channel=1)  # would be an infinity
    with pytest.raises(InputError, match="float64"):
        s.extend([6, 7], np.array([1, (1 << 53) + 1]), channels=2)
    s.extend([6, 7], np.array([1, 1 << 53]), channels=2)
    s.extend([3], np.array([7.5], np.float32), channels=0)  # float32 into float64: exact
    assert len(s.channel(1)) == 5 and len(s.channel(2)) == 4 and len(s.channel(0)) == 2
    s.seal()
    assert same(s.query(channel=1).values,
                np.array([1.5, 85.3, 2.0, 0.25, 1e30], np.float32))


def test_every_shipped_series_comes_back_bit_exact(tmp_path):
    """The issue's done-when: float64 readings come back exactly as appended, hot, sealed,
    spilled and after reopening the directory."""
    d = tmp_path / "spill"
    with ReadingStore(segment_size=4096, policy="spill", spill_dir=d,
                      budget_bytes=4 << 20) as s:
        for cid, name in enumerate(SERIES):
            t, v, q = readings(name)
            assert v.dtype == np.float64
            s.extend(t[:5000], v[:5000], q[:5000], channels=cid)
            for i in range(5000, min(t.size, 5100)):
                s.append(int(t[i]), float(v[i]), int(q[i]), cid)
            s.extend(t[5100:], v[5100:], q[5100:], channels=cid)
            assert same(s.query(channel=cid).values, v)  # hot + sealed in memory
        s.flush()  # everything on disk
        for cid, name in enumerate(SERIES):
            r = s.query(channel=cid)
            t, v, q = readings(name)
            assert same(r.values, v) and same(r.timestamps_ns, t) and same(r.qualities, q)
    with ReadingStore(policy="spill", spill_dir=d) as again:
        for cid, name in enumerate(SERIES):
            t, v, q = readings(name)
            r = again.query(channel=cid)
            assert same(r.values, v) and same(r.timestamps_ns, t) and same(r.qualities, q)
            assert again.channel(cid).value_dtype == np.float64


@pytest.mark.parametrize("kwargs", [
    {"segment_size": 8}, {"segment_size": True}, {"policy": "lru"},
    {"value_dtype": "float16"}, {"value_dtype": np.int32}, {"value_dtype": "f2"},
    {"value_dtype": "lru"}, {"value_dtype": 4}, {"budget_bytes": 1000}, {"policy": "spill"},
    {"spill_dir": "/tmp/x"}, {"policy": "spill", "spill_dir": 3},
])
def test_options_are_validated(kwargs):
    with pytest.raises(OptionsError):
        StoreOptions(**kwargs)


def test_value_dtype_option_accepts_numpy_spellings():
    for spelling, name in ((np.float32, "float32"), (np.dtype("float64"), "float64"),
                           ("f4", "float32"), ("float64", "float64"), (None, None)):
        assert StoreOptions(value_dtype=spelling).value_dtype == name
    # the minimum budget counts the real item size: 17 bytes a reading unless float32
    assert StoreOptions(segment_size=16, budget_bytes=2 * 16 * 13 + 4096,
                        value_dtype="float32").budget_bytes == 4512
    with pytest.raises(OptionsError, match="4640"):
        StoreOptions(segment_size=16, budget_bytes=2 * 16 * 13 + 4096)


def test_options_object_or_keywords():
    opts = StoreOptions(segment_size=64)
    assert ReadingStore(opts).options is opts
    kw = {"segment_size": 64, "budget_bytes": 1 << 20, "policy": "drop_oldest",
          "value_dtype": np.float32}
    assert ReadingStore(**kw).options == StoreOptions(**kw)  # kept as fields, rebuilt
    with pytest.raises(OptionsError):
        ReadingStore(opts, segment_size=32)
    with pytest.raises(InputTypeError):
        ReadingStore({"segment_size": 64})  # type: ignore[arg-type]
    with pytest.raises(OptionsError):
        ReadingStore().flush()


def test_refuse_raises_at_budget_and_keeps_everything(temp):
    t, v, q = temp
    opts = StoreOptions(segment_size=1024, budget_bytes=40_000, policy="refuse")
    s = ReadingStore(opts)
    stored = 0
    with pytest.raises(CapacityError) as info:
        for a in range(0, t.size, 100):
            stored += s.extend(t[a:a + 100], v[a:a + 100], q[a:a + 100])
    assert info.value.capacity == 40_000 and info.value.requested > 40_000
    assert len(s) == stored > 5000  # compression let it hold several segments
    assert s.nbytes <= 40_000
    r = s.query()
    assert np.array_equal(r.timestamps_ns, t[:stored])
    assert same(r.values, v[:stored])
    with pytest.raises(CapacityError):  # and it stays full, one reading at a time too
        for i in range(stored, stored + 2000):
            s.append(int(t[i]), float(v[i]))
    assert s.stats().dropped_readings == 0 and s.nbytes <= 40_000


def test_drop_oldest_counts_and_keeps_the_newest(temp, events):
    t, v, q = temp
    s = ReadingStore(segment_size=512, budget_bytes=24_000, policy="drop_oldest")
    for a in range(0, t.size, 500):
        s.extend(t[a:a + 500], v[a:a + 500], q[a:a + 500])
        assert s.nbytes <= 24_000
    st = s.stats()
    assert st.dropped_readings > 0
    assert st.dropped_readings + len(s) == t.size
    r = s.query()
    kept = len(s)
    assert np.array_equal(r.timestamps_ns, t[-kept:])
    assert same(r.values, v[-kept:])
    drops = [f["readings"] for e, f in events if e == "memory.drop"]
    assert sum(drops) == st.dropped_readings
    assert all(f["reason"] == "budget" for e, f in events if e == "memory.drop")


def test_drop_oldest_with_many_channels_evicts_hot_buffers_too():
    opts = StoreOptions(segment_size=256, budget_bytes=2 * 256 * 17 + 4096, policy="drop_oldest")
    s = ReadingStore(opts)
    n = 0
    for i in range(40):  # 40 channels, each a full hot buffer: far over the budget
        s.extend(np.arange(200) + i * 1000, np.ones(200), channels=i)
        n += 200
        assert s.nbytes <= opts.budget_bytes
    assert s.stats().dropped_readings + len(s) == n
    assert len(s) > 0


def test_telemetry_events(temp, events):
    t, v, q = temp
    s = ReadingStore(segment_size=4096)
    s.extend(t, v, q)
    s.append(int(t[-1]) + 1, 1.0)
    s.seal()
    names = [e for e, _ in events]
    assert names.count("memory.append") == 2
    seals = [f for e, f in events if e == "memory.seal"]
    assert sum(f["readings"] for f in seals) == t.size + 1
    assert all(f["bytes_out"] < f["bytes_in"] for f in seals)
    assert ("memory.usage", {"nbytes": s.nbytes}) in events


def test_nbytes_agrees_with_tracemalloc(temp):
    t, v, q = temp
    warm_up(("payerne_temp_C",))

    def build():
        s = ReadingStore(segment_size=4096)
        s.extend(t, v, q)
        return s

    build()  # the very same work once unmeasured: whatever the codec caches is made now
    s, m = measure(build)
    # the slack: the store object and its dict/lock (~2 kB), plus what the interpreter's free
    # lists and the codec's cffi casts keep (0-10 kB, more after other tests ran: not a leak,
    # it does not grow with the number of builds)
    assert s.nbytes <= m.held_bytes <= s.nbytes + 16384
    s2, m2 = measure(lambda: ReadingStore(segment_size=2048))
    assert m2.held_bytes < 4096  # an empty store allocates no columns


@pytest.mark.parametrize("dtype, per", [(None, 17), ("float32", 13)])
def test_hot_store_bytes_per_reading_small(dtype, per):
    # 100,000 float64 readings in one hot buffer: 17 bytes each (13 rounded to float32)
    n = 100_000
    t = np.arange(n, dtype=np.int64) * 10**9
    v = np.resize(readings("payerne_temp_C")[1], n)

    def build():
        s = ReadingStore(segment_size=n, value_dtype=dtype)
        s.extend(t, v)
        return s

    s, m = measure(build)
    assert s.stats().seals == 0 and s.stats().hot_nbytes == per * n
    assert per <= m.per(n) <= per + 0.2


def test_closed_store_refuses(tmp_path):
    s = ReadingStore()
    s.close()
    with pytest.raises(InputError):
        s.append(1, 1.0)


def test_refused_append_to_a_new_channel_leaves_no_trace():
    opts = StoreOptions(segment_size=16, budget_bytes=2 * 16 * 17 + 4096, policy="refuse")
    s = ReadingStore(opts)
    cid = 0
    with pytest.raises(CapacityError):
        for cid in range(1000):  # each new channel allocates a hot buffer
            s.append(1, 1.0, channel=cid)
    assert s.channels == tuple(range(cid)) and len(s) == cid
    with pytest.raises(CapacityError):
        s.extend([1], [1.0], channels=[5000])
    assert 5000 not in s.channels


def test_threads_append_and_query_concurrently(temp):
    """Four writer threads (a channel each, one reading at a time and in batches) and a
    reader querying all along: nothing lost, nothing reordered, queries always sorted."""
    import threading

    t, v, q = (a[:6000] for a in temp)
    s = ReadingStore(segment_size=512)
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(cid):
        try:
            for a in range(0, 3000):
                s.append(int(t[a]), float(v[a]), int(q[a]), cid)
            for a in range(3000, t.size, 250):
                s.extend(t[a:a + 250], v[a:a + 250], q[a:a + 250], cid)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    def reader():
        while not done.is_set():
            r = s.query_with_channels()
            if r.timestamps_ns.size > 1 and bool(np.any(np.diff(r.timestamps_ns) < 0)):
                errors.append(AssertionError("a query came back out of order"))

    threads = [threading.Thread(target=writer, args=(c,)) for c in range(4)]
    rd = threading.Thread(target=reader)
    rd.start()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done.set()
    rd.join()
    assert not errors, errors
    assert len(s) == 4 * t.size
    for c in range(4):
        r = s.query(channel=c)
        assert np.array_equal(r.timestamps_ns, t) and same(r.values, v)


def test_query_over_many_segments_finds_the_range_by_bisection(temp):
    t, v, q = temp
    s = ReadingStore(segment_size=16)  # 2,700 segments
    s.extend(t, v, q)
    for a, b in [(0, 16), (15, 17), (16, 32), (1000, 1001), (43_184, 43_200), (5, 40_000)]:
        r = s.query(int(t[a]), int(t[b]) if b < t.size else None)
        assert np.array_equal(r.timestamps_ns, t[a:b]), (a, b)
    # equal timestamps spanning segment boundaries
    e = ReadingStore(segment_size=16)
    e.extend(np.repeat(np.arange(10), 40), np.arange(400.0))
    assert e.query(3, 5).values.tolist() == [float(i) for i in range(120, 200)]


@settings(max_examples=200, deadline=None)
@given(first=st.sampled_from(["f4", "f8", "i2", "i8"]),
       later=st.lists(st.one_of(st.floats(), st.floats(width=32), st.integers(-2**63, 2**63 - 1)),
                      min_size=1, max_size=8),
       one=st.booleans())
def test_later_input_is_stored_exactly_or_refused(first, later, one):
    """Whatever comes after a channel's first readings is either stored without changing a
    value (checked against Python's exact comparison) or refused, storing nothing."""
    s = ReadingStore(segment_size=16)
    s.extend([0], np.array([1], first))
    dtype = s.channel(0).value_dtype
    before = len(s)
    try:
        if one:
            for i, x in enumerate(later):
                s.append(1 + i, x)
        else:
            if any(isinstance(x, float) for x in later):
                later = [float(x) for x in later]  # a float64 batch
            s.extend(np.arange(1, len(later) + 1), np.array(later, dtype=object).astype(
                np.float64 if isinstance(later[0], float) else np.int64))
    except InputError:
        stored = len(s) - before
        assert not one or stored < len(later)  # appends stop at the first inexact value
        if not one:
            assert stored == 0
        later = later[:stored]
    got = s.query(1).values
    assert got.dtype == dtype and len(got) == len(later)
    for g, x in zip(got.tolist(), later, strict=True):
        assert (g != g and x != x) or g == x  # exact: int == float compares exactly in Python


def test_the_newest_timestamp_outlives_sealing_and_dropping():
    """A sealed channel reads its newest timestamp from its last segment's header; once
    that segment is dropped (discard, or drop_oldest) the channel still refuses older
    readings."""
    s = ReadingStore(segment_size=16)
    s.extend(np.arange(40) * 10, np.arange(40.0), channels=1)
    s.seal()
    assert s.channel(1).last_timestamp_ns == 390 and s.stats().hot_readings == 0
    with pytest.raises(InputError, match="older"):
        s.append(389, 0.0, channel=1)
    with pytest.raises(InputError):
        s.extend([380], [0.0], channels=1)
    assert s.discard(10**9) == 40 and len(s) == 0
    assert s.channel(1).last_timestamp_ns == 390
    with pytest.raises(InputError, match="older"):
        s.append(389, 0.0, channel=1)
    s.append(390, 1.5, channel=1)
    assert s.query(channel=1).values.tolist() == [1.5]

    d = ReadingStore(segment_size=16, budget_bytes=2 * 16 * 17 + 4096, policy="drop_oldest")
    rng = np.random.default_rng(5)
    n = 0
    for c in range(400):  # each channel sealed by the budget, its segment dropped later
        d.extend([c, c + 1], rng.random(2), channels=c)
        n += 2
    st = d.stats()
    assert st.dropped_readings > 0 and len(d) + st.dropped_readings == n
    assert d.query(channel=0).timestamps_ns.size == 0  # its one segment was dropped
    with pytest.raises(InputError, match="older"):
        d.append(0, 0.0, channel=0)
    assert d.channel(0).last_timestamp_ns == 1
