"""Timestamps, (timestamps, values) records and the streaming encoder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.compress import (
    SeriesEncoder,
    decode_frame,
    decode_series,
    decode_series_stream,
    decode_stream,
    decode_timestamps,
    encode,
    encode_series,
    encode_timestamps,
    iter_frames,
    iter_records,
)
from edgekit.data import load_series
from edgekit.errors import CorruptDataError, InputError, InputTypeError, OptionsError
from tests.common import assert_only_raises, mutations

T0 = 1_700_000_000 * 10**9


def sampled(n: int, period_ns: int, *, jitter_ns: int = 0, gaps: int = 0,
            seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(n, dtype=np.int64) * period_ns
    if jitter_ns:
        ts += rng.integers(-jitter_ns, jitter_ns + 1, size=n)
    for pos in rng.integers(1, n, size=gaps):
        ts[pos:] += 3600 * 10**9
    return ts


def test_regular_timestamps_cost_almost_nothing():
    ts = sampled(43200, 60 * 10**9)
    blob = encode_timestamps(ts)
    assert np.array_equal(decode_timestamps(blob), ts)
    assert len(blob) < 64  # 345,600 bytes of int64


def test_jitter_and_gaps():
    ts = sampled(20000, 10**9, jitter_ns=2_000_000, gaps=5, seed=1)
    blob = encode_timestamps(ts)
    assert np.array_equal(decode_timestamps(blob), ts)
    assert ts.nbytes / len(blob) > 2.5  # ~23 bits of jitter per reading instead of 64
    ms = sampled(20000, 10**9, jitter_ns=2_000_000, seed=2) // 10**6 * 10**6
    assert ts.nbytes / len(encode_timestamps(ms)) > 5  # whole milliseconds: step divided out


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=200))
def test_any_int64_timestamps_round_trip(values):
    ts = np.array(values, dtype=np.int64)
    assert np.array_equal(decode_timestamps(encode_timestamps(ts)), ts)


def test_datetime64_and_bad_timestamps():
    ts = sampled(100, 10**9).view("datetime64[ns]")
    back = decode_timestamps(encode_timestamps(ts))
    assert back.dtype == ts.dtype and np.array_equal(back, ts)
    with pytest.raises(InputTypeError):
        encode_timestamps(np.arange(3, dtype=np.float64))
    with pytest.raises(InputError):
        encode_timestamps(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(CorruptDataError):
        decode_timestamps(encode(np.arange(3.0)))


def test_series_record_round_trip_real_data():
    values = load_series("payerne_temp_C")
    ts = sampled(values.size, 60 * 10**9, gaps=2)
    blob = encode_series(ts, values)
    t2, v2 = decode_series(blob)
    assert np.array_equal(t2, ts) and v2.tobytes() == values.tobytes()
    assert (ts.nbytes + values.nbytes) / len(blob) > 40
    lossy_t, lossy_v = decode_series(encode_series(ts, values, tolerance=0.2))
    assert np.array_equal(lossy_t, ts) and np.max(np.abs(lossy_v - values)) <= 0.2
    with pytest.raises(InputError):
        encode_series(ts[:-1], values)
    with pytest.raises(CorruptDataError):
        decode_series(blob + b"x")


def test_damaged_records_raise_only_corrupt_data_error():
    values = load_series("seattle_temp_F")[:500]
    blob = encode_series(sampled(500, 3600 * 10**9), values)
    rng = np.random.default_rng(5)
    assert_only_raises(decode_series, mutations(blob, rng, flips=150), CorruptDataError)


def test_streaming_encoder_bounded_frames_and_skipping():
    x = load_series("payerne_pressure_hPa")
    enc = SeriesEncoder(np.float64, frame_len=10000)
    frames = []
    for start in range(0, x.size, 777):  # chunks as they arrive
        frames += enc.append(x[start:start + 777])
        assert enc.pending < 10000
    for v in (1013.0, 1014.0):  # single readings
        frames += enc.append(v)
    frames.append(enc.flush())
    assert enc.flush() == b""
    stream = b"".join(frames)
    want = np.concatenate([x, [1013.0, 1014.0]])
    assert [f.shape[0] for f in iter_frames(stream)] == [10000] * 4 + [want.size - 40000]
    assert decode_stream(stream).tobytes() == want.tobytes()
    assert decode_frame(stream, 2).tobytes() == want[20000:30000].tobytes()
    assert decode_stream(frames[1]).tobytes() == want[10000:20000].tobytes()  # one frame


def test_timestamped_streaming():
    values = load_series("seattle_temp_F")
    ts = sampled(values.size, 3600 * 10**9, gaps=1)
    enc = SeriesEncoder(np.float64, frame_len=4096, timestamped=True)
    out = b""
    for start in range(0, values.size, 1000):
        out += b"".join(enc.append(values[start:start + 1000], ts[start:start + 1000]))
    out += enc.flush()
    t2, v2 = decode_series_stream(out)
    assert np.array_equal(t2, ts) and v2.tobytes() == values.tobytes()
    assert len(list(iter_records(out))) == 3


def test_streaming_encoder_refuses_bad_input():
    with pytest.raises(OptionsError):
        SeriesEncoder(np.float64, frame_len=0)
    with pytest.raises(InputTypeError):
        SeriesEncoder(np.dtype("U3"))
    enc = SeriesEncoder(np.int16)
    with pytest.raises(InputTypeError):
        enc.append(np.array([1.5]))  # float readings into an integer series
    with pytest.raises(InputError):
        enc.append(np.array([70000]))  # does not fit int16
    with pytest.raises(InputError):
        enc.append(np.zeros((2, 2), np.int16))
    with pytest.raises(InputError):
        enc.append(np.int16(1), timestamps=np.int64(5))
    assert enc.pending == 0
    ts_enc = SeriesEncoder(np.float32, timestamped=True)
    with pytest.raises(InputError):
        ts_enc.append(np.float32(1.0))
