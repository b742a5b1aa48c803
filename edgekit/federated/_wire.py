"""The byte format arrays travel in between a coordinator and its clients.

Every runtime sends parameters as these bytes, so "bytes up and down" are ``len()`` of what
was really sent, not an estimate.  Layout (little-endian)::

    b"EKFA" | u8 version (1) | u8 codec | u16 array count
    per array: u8 dtype code | u8 ndim | u32 dim * ndim | u32 payload length | payload
    u32 CRC-32 of everything before it

``codec`` 0 is raw arrays.  Update codecs (quantisation, top-k, ...) register their own codec
id with :func:`_register_codec` and carry their payload per array.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from edgekit.errors import ChecksumError, CorruptDataError, FormatVersionError, InputTypeError

_MAGIC = b"EKFA"
_VERSION = 1
_DTYPES: tuple[np.dtype, ...] = tuple(np.dtype(t).newbyteorder("<") for t in (
    "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
    "uint64", "float16", "bool"))
_CODE = {dt: i for i, dt in enumerate(_DTYPES)}
_MAX_NDIM = 8

# codec id -> (encode one array -> payload bytes, decode payload + dtype + shape -> array)
_Encode = Callable[[np.ndarray], bytes]
_Decode = Callable[[bytes, np.dtype, tuple[int, ...]], np.ndarray]
_CODECS: dict[int, tuple[_Encode, _Decode]] = {}


def _register_codec(codec_id: int, encode: _Encode, decode: _Decode) -> None:
    if not 0 < codec_id < 256 or codec_id in _CODECS:
        raise ValueError(f"codec id {codec_id} is taken or out of range")
    _CODECS[codec_id] = (encode, decode)


def _raw_encode(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()


def _raw_decode(payload: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    if len(payload) != n * dtype.itemsize:
        raise CorruptDataError(f"array payload is {len(payload)} bytes, expected "
                               f"{n * dtype.itemsize}", reason="length")
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


_CODECS[0] = (_raw_encode, _raw_decode)


def pack_arrays(arrays: Sequence[np.ndarray], *, codec: int = 0) -> bytes:
    """The bytes of ``arrays`` in the wire format, each array's payload made by ``codec``."""
    if codec not in _CODECS:
        raise InputTypeError(f"unknown wire codec {codec}", name="codec", got=codec)
    encode = _CODECS[codec][0]
    parts = [_MAGIC, struct.pack("<BBH", _VERSION, codec, len(arrays))]
    for a in arrays:
        a = np.asarray(a)
        dt = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
        if dt not in _CODE or a.ndim > _MAX_NDIM:
            raise InputTypeError(f"cannot send an array of dtype {a.dtype} and {a.ndim} dims",
                                 name="arrays", got=str(a.dtype))
        payload = encode(a)
        parts.append(struct.pack(f"<BB{a.ndim}II", _CODE[dt], a.ndim, *a.shape, len(payload)))
        parts.append(payload)
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def unpack_arrays(data: bytes) -> tuple[list[np.ndarray], int]:
    """The arrays in ``data`` and the codec id they were packed with.  Raises
    :class:`~edgekit.errors.CorruptDataError` for truncated, altered or malformed bytes."""
    view = memoryview(bytes(data))
    if len(view) < 12 or bytes(view[:4]) != _MAGIC:
        raise CorruptDataError("not an edgekit array message", reason="magic")
    (crc,) = struct.unpack_from("<I", view, len(view) - 4)
    if zlib.crc32(view[:-4]) != crc:
        raise ChecksumError("array message checksum mismatch", expected=crc,
                            got=zlib.crc32(view[:-4]))
    version, codec, count = struct.unpack_from("<BBH", view, 4)
    if version != _VERSION:
        raise FormatVersionError(f"array message version {version}, this edgekit reads "
                                 f"{_VERSION}", version=version, supported=(_VERSION,))
    if codec not in _CODECS:
        raise CorruptDataError(f"unknown wire codec {codec}", reason="codec")
    decode = _CODECS[codec][1]
    pos, end, out = 8, len(view) - 4, []
    try:
        for _ in range(count):
            code, ndim = struct.unpack_from("<BB", view, pos)
            if code >= len(_DTYPES) or ndim > _MAX_NDIM or pos + 2 + 4 * ndim + 4 > end:
                raise CorruptDataError("malformed array header", reason="header", offset=pos)
            shape = struct.unpack_from(f"<{ndim}I", view, pos + 2)
            (length,) = struct.unpack_from("<I", view, pos + 2 + 4 * ndim)
            pos += 2 + 4 * ndim + 4
            if pos + length > end:
                raise CorruptDataError("array payload runs past the message", reason="length",
                                       offset=pos)
            out.append(decode(bytes(view[pos:pos + length]), _DTYPES[code], tuple(shape)))
            pos += length
    except struct.error as exc:
        raise CorruptDataError(f"malformed array message: {exc}", reason="header") from exc
    if pos != end:
        raise CorruptDataError("trailing bytes after the arrays", reason="length", offset=pos)
    return out, codec
