"""codec._decode_fast (one C call for a common frame) against the full path on damaged
frames: every truncation and a bit flip at every byte of small frames of the shipped
series, with and without the checksum recomputed (so the damage reaches the block
parsers), and strided flips of predictor frames long enough for the fused loop.  Both
paths must agree exactly: the same values, or the same exception class and message."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest

from edgekit.compress import codec as C
from edgekit.compress import decode, decode_stream, encode
from edgekit.data import list_series, load_series
from edgekit.errors import CorruptDataError
from tests.common import needs_native

_Outcome = tuple


def _outcome(fn: Callable[[bytes], object], blob: bytes) -> _Outcome:
    try:
        out = fn(blob)
    except CorruptDataError as err:
        return type(err), str(err)
    if isinstance(out, list):
        return "ok", [(a.dtype.str, a.shape, a.tobytes()) for a in out]
    return "ok", out.dtype.str, out.shape, out.tobytes()


def _both(fn: Callable[[bytes], object], blob: bytes, taken: list[int]) -> None:
    """fn on blob with the fast path and with it turned off: the same outcome."""
    fast = _outcome(fn, blob)
    orig = C._decode_fast
    C._decode_fast = lambda buf, pos: None
    try:
        full = _outcome(fn, blob)
    finally:
        C._decode_fast = orig
    assert fast == full, (blob.hex(), fast[:2], full[:2])
    taken[0] += orig(blob, 0) is not None


def _fix_crc(frame: bytearray) -> bytes:
    frame[-4:] = struct.pack("<I", zlib.crc32(bytes(frame[:-4])))
    return bytes(frame)


def _small_frames() -> list[bytes]:
    out = []
    for i, name in enumerate(list_series()):
        x = load_series(name)[100 * i: 100 * i + 150]
        out.append(encode(x if i % 3 else x.astype(np.float32)))
    out.append(encode(np.arange(-40, 60, dtype=np.int16) * 3))
    out.append(encode(np.array([7], dtype=np.uint64)))
    return out


@needs_native
@pytest.mark.parametrize("k", range(10))
def test_every_byte_damaged_small_frames(k: int) -> None:
    frames = _small_frames()
    if k >= len(frames):
        pytest.skip("fewer frames")
    blob = frames[k]
    taken = [0]
    _both(decode, blob, taken)
    assert taken[0] == 1, "the intact frame must take the fast path"
    for cut in range(len(blob)):
        _both(decode, blob[:cut], taken)
    for i in range(len(blob)):
        for bit in (i % 8, 7 - i % 8):
            damaged = bytearray(blob)
            damaged[i] ^= 1 << bit
            _both(decode, bytes(damaged), taken)
            if i < len(blob) - 4:
                _both(decode, _fix_crc(damaged), taken)
    # damage that still passes the checksum and the fast path's checks must be decoded
    # the same by both paths: some of it does (a flipped mantissa bit of a raw value)
    assert taken[0] > 1


@needs_native
def test_damaged_streams_same_on_both_paths() -> None:
    a, b = _small_frames()[:2]
    blob = a + b
    taken = [0]
    for cut in range(len(a) - 8, len(blob)):
        _both(decode_stream, blob[:cut], taken)
    for i in range(len(a), len(blob) - 4):
        damaged = bytearray(blob)
        damaged[i] ^= 0x10
        _both(decode_stream, bytes(damaged), taken)
    assert taken[0] >= 1


@needs_native
@pytest.mark.parametrize("name", ["payerne_pressure_hPa", "maunaloa_co2_ppm", "ecg_mitdb_mV"])
def test_strided_damage_long_frames(name: str) -> None:
    # long enough for several 64-value chunks, where a dense predictor block goes through
    # the fused entropy + recurrence loop; damage at every 7th byte with the checksum fixed
    blob = encode(load_series(name)[:4000])
    taken = [0]
    _both(decode, blob, taken)
    assert taken[0] == 1
    for i in range(12, len(blob) - 4, 7):
        damaged = bytearray(blob)
        damaged[i] ^= 1 << (i % 8)
        _both(decode, _fix_crc(damaged), taken)


def test_header_fields_at_extremes() -> None:
    # body length, value count and dtype code set to extremes with the checksum fixed
    blob = bytearray(encode(load_series("payerne_temp_C")[:300]))
    hdr = C._HEADER.size
    variants = []
    for body_len in (0, 3, 4, 5, len(blob) - hdr - 1, len(blob) - hdr + 1, 2 ** 32 - 1):
        v = bytearray(blob)
        v[8:12] = struct.pack("<I", body_len)
        variants.append(bytes(v))
    for count in (b"\x00", b"\xff\xff\xff\xff\x0f", b"\x80\x00", b"\xff\xff\xff\xff\xff\x01"):
        v = bytearray(blob)
        v[hdr:hdr + 2] = count  # the value count varint (2 bytes for 300)
        variants.append(_fix_crc(bytearray(bytes(v[:hdr]) + count + bytes(v[hdr + 2:]))))
    for code in range(256):
        v = bytearray(blob)
        v[5] = code
        variants.append(_fix_crc(v))
    taken = [0]
    for v in variants:
        _both(decode, v, taken)
