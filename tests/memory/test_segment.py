"""Sealed segment format and its codec: exact round trips of any column, damage detected."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekit.errors import ChecksumError, CorruptDataError, FormatVersionError
from edgekit.memory import _seal_codec, _segment
from edgekit.memory._series import SERIES, readings
from tests.common import assert_only_raises, mutations


@st.composite
def columns(draw):
    n = draw(st.integers(1, 300))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    kind = draw(st.sampled_from(["any", "decimal", "ramp"]))
    if kind == "any":
        values = draw(hnp.arrays(dtype, n, elements=st.floats(
            width=np.dtype(dtype).itemsize * 8, allow_nan=True)))
    else:
        k = draw(st.integers(0, 4))
        ints = draw(hnp.arrays(np.int64, n, elements=st.integers(-10**6, 10**6)))
        if kind == "ramp":
            ints = np.cumsum(ints % 7 - 3)
        values = (ints / 10.0 ** k).astype(dtype)
    start = draw(st.integers(-(1 << 62), 1 << 62))
    steps = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 10**12)))
    steps[0] = 0
    ts = start + np.cumsum(steps)
    q = draw(hnp.arrays(np.uint8, n))
    cid = draw(st.integers(0, (1 << 32) - 1))
    return cid, ts, values, q


CODECS = pytest.mark.parametrize("codec", _seal_codec.CODECS)


@CODECS
@given(cols=columns())
def test_segment_round_trip_is_exact(codec, cols):
    cid, ts, values, q = cols
    blob = _segment.pack(cid, ts, values, q, codec)
    # codec 2 may fall back to 1 (see test_a_compress_failure_falls_back_to_the_placeholder)
    assert blob[_segment.HEADER.size] in (codec, _seal_codec.CODEC_PLACEHOLDER)
    c2, t2, v2, q2 = _segment.unpack(blob)
    assert c2 == cid
    assert np.array_equal(t2, ts)
    assert v2.dtype == values.dtype
    width = values.dtype.itemsize
    assert np.array_equal(v2.view(f"u{width}"), values.view(f"u{width}"))
    assert np.array_equal(q2, q)
    bound = _segment.OVERHEAD + _seal_codec.max_payload(ts.size, width)
    assert len(blob) <= bound


@CODECS
def test_extreme_timestamps_round_trip(codec):
    ts = np.array([-(1 << 63), -1, 0, (1 << 63) - 1], np.int64)
    v = np.zeros(4, np.float32)
    blob = _segment.pack(0, ts, v, np.zeros(4, np.uint8), codec)
    assert np.array_equal(_segment.unpack(blob)[1], ts)


@CODECS
@pytest.mark.parametrize("name", SERIES)
def test_shipped_series_compress_and_round_trip(name, codec):
    t, v, q = readings(name)
    v32 = v.astype(np.float32)
    blob = _segment.pack(1, t[:4096], v32[:4096], q[:4096], codec)
    _, t2, v2, q2 = _segment.unpack(blob)
    assert np.array_equal(t2, t[:4096]) and np.array_equal(v2, v32[:4096])
    assert np.array_equal(q2, q[:4096])
    assert len(blob) < 2.5 * min(4096, t.size)  # far below the 13 raw bytes a reading


@CODECS
def test_damaged_segments_raise_corrupt_data_only(codec):
    t, v, q = readings("payerne_temp_C")
    blob = _segment.pack(3, t[:2000], v[:2000].astype(np.float32), q[:2000], codec)
    rng = np.random.default_rng(7)
    raised = assert_only_raises(_segment.unpack, mutations(blob, rng), CorruptDataError)
    assert raised > 250


@CODECS
def test_payload_damage_behind_a_valid_checksum_is_still_caught(codec):
    """Recompute the CRC after damaging the payload: the codec's own checks must catch it."""
    import zlib
    t, v, q = readings("ecg_mitdb_mV")
    blob = bytearray(_segment.pack(0, t[:1000], v[:1000].astype(np.float32), q[:1000], codec))
    rng = np.random.default_rng(3)
    end = len(blob) - 4
    caught = ok = 0
    for _ in range(300):
        bad = bytearray(blob)
        pos = int(rng.integers(_segment.HEADER.size, end))
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        bad[end:] = zlib.crc32(bytes(bad[:end])).to_bytes(4, "little")
        try:
            _segment.unpack(bytes(bad))
            ok += 1
        except CorruptDataError:
            caught += 1
        except Exception as err:  # pragma: no cover - the failure this test exists for
            raise AssertionError(f"flip at {pos} raised {err!r}") from err
    assert caught > 0  # most flips decode to other data; the structural ones must raise


def test_header_errors_are_specific():
    t, v, q = readings("payerne_temp_C")
    blob = _segment.pack(0, t[:10], v[:10].astype(np.float32), q[:10])
    with pytest.raises(FormatVersionError):
        _segment.unpack(blob[:4] + b"\x02" + blob[5:])
    with pytest.raises(CorruptDataError, match="magic"):
        _segment.unpack(b"XXXX" + blob[4:])
    with pytest.raises(ChecksumError):
        _segment.unpack(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(CorruptDataError):
        _segment.unpack(blob + b"\x00")


def test_a_compress_failure_falls_back_to_the_placeholder(monkeypatch):
    """Sealing must never lose readings to a codec bug: if edgekit.compress raises (it did,
    a ZeroDivisionError on [1.25e-99, 1.88e109, 1.4e-45, 0...] float64 values), the segment
    is written with the placeholder codec, and reads back exactly."""
    from edgekit import compress

    def broken(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(compress, "encode", broken)
    ts = np.arange(8, dtype=np.int64)
    v = np.array([1.25247752e-099, 1.87883407e+109, 1.40129846e-045, 0, 0, 0, 0, 0])
    blob = _segment.pack(0, ts, v, np.zeros(8, np.uint8))
    assert blob[_segment.HEADER.size] == _seal_codec.CODEC_PLACEHOLDER
    assert np.array_equal(_segment.unpack(blob)[2].view(np.uint64), v.view(np.uint64))


def test_the_values_that_broke_compress_seal_exactly():
    ts = np.arange(8, dtype=np.int64)
    v = np.array([1.25247752e-099, 1.87883407e+109, 1.40129846e-045, 0, 0, 0, 0, 0])
    blob = _segment.pack(0, ts, v, np.zeros(8, np.uint8))
    assert np.array_equal(_segment.unpack(blob)[2].view(np.uint64), v.view(np.uint64))
