"""The one seam between sealed segments and the column codecs that compress them.

A sealed segment stores three columns (int64 timestamps in ns, float32/float64 values, uint8
qualities) as one *payload* produced here.  The payload starts with a codec id, so that a
segment written by one codec is read back by the same one, whatever the default is now:

* ``CODEC_COMPRESS`` (2, the default): three :func:`edgekit.compress.encode` frames
  (timestamps by :func:`edgekit.compress.encode_timestamps`, values, qualities), each
  self-describing and CRC-checked, lossless.
* ``CODEC_PLACEHOLDER`` (1): edgekit.memory's own stop-gap, written before the one-call API of
  :mod:`edgekit.compress` existed: delta-of-delta + zigzag timestamps, decimal-detected
  delta + zigzag values (or their bit patterns when no decimal scale reproduces them), zero-run
  qualities; each integer column narrowed to its smallest width, byte-shuffled and deflated
  with :mod:`zlib`.  Lossless, bit for bit (NaN payloads and -0.0 included).  Also the
  fallback when codec 2 fails on a segment or would exceed :func:`max_payload`: sealing
  never loses readings to a codec error.

Decoding validates everything it reads and raises :class:`~edgekit.errors.CorruptDataError`
on any inconsistency; it never allocates more than the segment header announces.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from edgekit import compress
from edgekit.compress.delta import delta_zigzag_decode, delta_zigzag_encode
from edgekit.errors import CorruptDataError, EdgekitError

CODEC_PLACEHOLDER = 1
CODEC_COMPRESS = 2
DEFAULT_CODEC = CODEC_COMPRESS
CODECS = (CODEC_PLACEHOLDER, CODEC_COMPRESS)

_UINT: dict[int, np.dtype] = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4"),
                              8: np.dtype("<u8")}
_MAX_DECIMALS = 9
_LEN = struct.Struct("<I")


def _corrupt(reason: str) -> CorruptDataError:
    return CorruptDataError(f"sealed segment payload is damaged: {reason}", reason=reason)


# --- integer packing ---------------------------------------------------------------------


def _pack_uint(codes: np.ndarray) -> bytes:
    """Unsigned codes -> width byte + deflated, byte-shuffled, narrowest-width bytes."""
    top = int(codes.max()) if codes.size else 0
    width = next(w for w in (1, 2, 4, 8) if top < (1 << (8 * w)))
    narrow = codes.astype(_UINT[width], copy=False)
    shuffled = narrow.view(np.uint8).reshape(-1, width).T.tobytes() if width > 1 else (
        narrow.tobytes())
    return bytes([width]) + zlib.compress(shuffled, 6)


def _inflate(data: bytes | memoryview, expected: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, expected + 1)
    except zlib.error as err:
        raise _corrupt("deflate stream") from err
    if len(out) != expected or not d.eof or d.unused_data:
        raise _corrupt("deflate length")
    return out


def _unpack_uint(data: memoryview, n: int) -> np.ndarray:
    if len(data) < 1 or data[0] not in _UINT:
        raise _corrupt("integer width")
    width = data[0]
    raw = np.frombuffer(_inflate(data[1:], n * width), dtype=np.uint8)
    if width > 1:
        raw = raw.reshape(width, n).T.copy()
    return raw.view(_UINT[width]).reshape(n).astype(np.uint64)


# --- columns ------------------------------------------------------------------------------


def _decimals(values: np.ndarray) -> tuple[int, np.ndarray] | None:
    """The smallest k in 0..9 with values == (rint(values * 10**k) / 10**k) bit for bit, and
    those integers; None when no such k exists (or a value is not finite)."""
    wide = values.astype(np.float64)
    if not np.all(np.isfinite(wide)):
        return None
    bits = values.view(_UINT[values.dtype.itemsize])
    for k in range(_MAX_DECIMALS + 1):
        scale = 10.0 ** k
        rounded = np.rint(wide * scale)
        if rounded.size and float(np.abs(rounded).max()) > 2.0 ** 53:
            return None
        ints = rounded.astype(np.int64)
        back = (ints / scale).astype(values.dtype)  # exactly what decoding computes
        if np.array_equal(back.view(bits.dtype), bits):
            return k, ints
    return None


def _encode_values(values: np.ndarray) -> bytes:
    found = _decimals(values)
    if found is not None:
        k, ints = found
        codes = delta_zigzag_encode(ints, 1)
        # never wider than the values themselves: keeps a segment within max_payload()
        if not codes.size or int(codes.max()) < 1 << (8 * values.dtype.itemsize):
            return bytes([0, k]) + _pack_uint(codes)
    signed = values.view(np.dtype(f"<i{values.dtype.itemsize}"))
    return bytes([1]) + _pack_uint(delta_zigzag_encode(signed, 1).astype(np.uint64))


def _decode_values(data: memoryview, n: int, dtype: np.dtype) -> np.ndarray:
    if len(data) < 1:
        raise _corrupt("value mode")
    mode = data[0]
    if mode == 0:
        if len(data) < 2 or data[1] > _MAX_DECIMALS:
            raise _corrupt("value decimals")
        ints = delta_zigzag_decode(_unpack_uint(data[2:], n), np.int64, 1)
        return (ints / 10.0 ** data[1]).astype(dtype)
    if mode == 1:
        width = dtype.itemsize
        codes = _unpack_uint(data[1:], n)
        if width == 4:
            if codes.size and int(codes.max()) >= 1 << 32:
                raise _corrupt("value code range")
            codes = codes.astype(np.uint32)
        signed = delta_zigzag_decode(codes, np.dtype(f"<i{width}"), 1)
        return signed.view(dtype)
    raise _corrupt("value mode")


def _encode_qualities(q: np.ndarray) -> bytes:
    if not q.any():
        return b"\x00"
    return b"\x01" + zlib.compress(q.tobytes(), 6)


def _decode_qualities(data: memoryview, n: int) -> np.ndarray:
    if len(data) == 1 and data[0] == 0:
        return np.zeros(n, dtype=np.uint8)
    if len(data) >= 1 and data[0] == 1:
        return np.frombuffer(_inflate(data[1:], n), dtype=np.uint8).copy()
    raise _corrupt("quality mode")


def _deflate_bound(size: int) -> int:
    return size + size // 1000 + 64


def max_payload(n: int, value_itemsize: int) -> int:
    """An upper bound on ``len(encode(...))`` for ``n`` readings: what a store must be ready to
    hold before it knows how well a segment compresses."""
    return (1 + 3 * 4 + 1 + _deflate_bound(8 * n) + 2 + _deflate_bound(value_itemsize * n)
            + 1 + _deflate_bound(n))


# --- the seam -----------------------------------------------------------------------------


def _sections(parts: tuple[bytes, ...], codec: int) -> bytes:
    return bytes([codec]) + b"".join(_LEN.pack(len(p)) + p for p in parts)


def encode(timestamps_ns: np.ndarray, values: np.ndarray, qualities: np.ndarray,
           codec: int = DEFAULT_CODEC) -> bytes:
    """Payload of one segment: ``timestamps_ns`` (int64), ``values`` (float32 or float64),
    ``qualities`` (uint8), all of the same length (validated by the caller)."""
    if codec == CODEC_COMPRESS:
        try:
            # edgekit.compress's model search may overflow on extreme floats (e.g. 1e300)
            # while it rejects a model; the result is still exact, so keep numpy quiet
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                parts = (compress.encode_timestamps(timestamps_ns), compress.encode(values),
                         compress.encode(qualities))
        except Exception:  # noqa: BLE001 - a codec bug must not lose the readings
            parts = None
        if parts is not None:
            payload = _sections(parts, codec)
            # the store counts on max_payload(); fall back should a frame ever be larger
            if len(payload) <= max_payload(timestamps_ns.size, values.dtype.itemsize):
                return payload
        codec = CODEC_PLACEHOLDER
    if codec != CODEC_PLACEHOLDER:
        raise ValueError(f"unknown codec {codec}")
    parts = (
        _pack_uint(delta_zigzag_encode(timestamps_ns, 2)),
        _encode_values(values),
        _encode_qualities(qualities),
    )
    return _sections(parts, codec)


def _compress_column(data: memoryview, n: int, dtype: np.dtype, timestamps: bool = False
                     ) -> np.ndarray:
    try:
        arr = (compress.decode_timestamps(bytes(data)) if timestamps
               else compress.decode(bytes(data)))
    except CorruptDataError:
        raise
    except EdgekitError as err:  # anything else the frame decoder refuses is damage here
        raise _corrupt(f"frame: {err}") from err
    if arr.shape != (n,) or arr.dtype.newbyteorder("=") != dtype:
        raise _corrupt("frame shape or dtype")
    return np.ascontiguousarray(arr, dtype=dtype)


def section_sizes(payload: bytes | memoryview) -> tuple[int, int, int]:
    """Bytes of the timestamp, value and quality sections of a payload (for reports)."""
    view = memoryview(payload)
    sizes = []
    pos = 1
    for _ in range(3):
        if pos + 4 > len(view):
            raise _corrupt("section length")
        (size,) = _LEN.unpack_from(view, pos)
        sizes.append(size)
        pos += 4 + size
    if pos != len(view):
        raise _corrupt("section length")
    return sizes[0], sizes[1], sizes[2]


def decode(payload: bytes | memoryview, n: int, value_dtype: np.dtype
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`encode` for ``n`` readings; raises CorruptDataError."""
    view = memoryview(payload)
    if len(view) < 1 or view[0] not in CODECS:
        raise _corrupt("codec id")
    codec = view[0]
    parts = []
    pos = 1
    for _ in range(3):
        if pos + 4 > len(view):
            raise _corrupt("section length")
        (size,) = _LEN.unpack_from(view, pos)
        pos += 4
        if pos + size > len(view):
            raise _corrupt("section length")
        parts.append(view[pos:pos + size])
        pos += size
    if pos != len(view):
        raise _corrupt("trailing bytes")
    if codec == CODEC_COMPRESS:
        return (_compress_column(parts[0], n, np.dtype(np.int64), timestamps=True),
                _compress_column(parts[1], n, value_dtype),
                _compress_column(parts[2], n, np.dtype(np.uint8)))
    ts = delta_zigzag_decode(_unpack_uint(parts[0], n), np.int64, 2)
    return ts, _decode_values(parts[1], n, value_dtype), _decode_qualities(parts[2], n)
