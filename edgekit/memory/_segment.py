"""Sealed segments: the immutable, compressed form of one channel's run of readings.

Byte layout of a segment (little-endian), the same in memory and in a spill file::

    offset size  field
    0      4     magic b"EKMS"
    4      1     format version (1)
    5      1     value dtype: 1 = float32, 2 = float64
    6      2     reserved, zero
    8      4     n, readings (>= 1)
    12     4     channel id
    16     8     first timestamp, ns (int64)
    24     8     last timestamp, ns (int64)
    32     4     payload length P
    36     P     payload (:mod:`edgekit.memory._seal_codec`; starts with its codec id)
    36+P   4     CRC-32 of bytes 0 .. 36+P

A reader checks the magic, version, lengths and CRC before decoding, and that the decoded
timestamps are non-decreasing and match the header, so a damaged segment raises
:class:`~edgekit.errors.CorruptDataError` (or its subclasses) instead of returning wrong data.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from edgekit._fileio import atomic_write
from edgekit.errors import ChecksumError, CorruptDataError, FormatVersionError
from edgekit.memory import _seal_codec

MAGIC = b"EKMS"
VERSION = 1
HEADER = struct.Struct("<4sBBHIIqqI")
_CRC = struct.Struct("<I")
OVERHEAD = HEADER.size + _CRC.size
_DTYPE_CODE: dict[np.dtype, int] = {np.dtype(np.float32): 1, np.dtype(np.float64): 2}
_CODE_DTYPE: dict[int, np.dtype] = {v: k for k, v in _DTYPE_CODE.items()}


def pack(channel: int, timestamps_ns: np.ndarray, values: np.ndarray,
         qualities: np.ndarray, codec: int | None = None) -> bytes:
    """One segment's bytes for a non-empty run of one channel (``codec``: default
    :data:`edgekit.memory._seal_codec.DEFAULT_CODEC`)."""
    payload = _seal_codec.encode(timestamps_ns, values, qualities,
                                 _seal_codec.DEFAULT_CODEC if codec is None else codec)
    head = HEADER.pack(MAGIC, VERSION, _DTYPE_CODE[values.dtype], 0, timestamps_ns.size,
                       channel, int(timestamps_ns[0]), int(timestamps_ns[-1]), len(payload))
    body = head + payload
    return body + _CRC.pack(zlib.crc32(body))


def parse_header(blob: bytes | memoryview, *, total: int | None = None
                 ) -> tuple[np.dtype, int, int, int, int, int]:
    """(value dtype, n, channel, t_first, t_last, payload length) of a segment, checking the
    magic, version and lengths; ``total`` is the full size when ``blob`` is only a prefix."""
    size = len(blob) if total is None else total
    if len(blob) < HEADER.size:
        raise CorruptDataError("segment shorter than its header", offset=len(blob),
                               reason="truncated")
    magic, version, dcode, reserved, n, channel, t0, t1, plen = HEADER.unpack_from(blob, 0)
    if magic != MAGIC:
        raise CorruptDataError("not an edgekit segment (bad magic)", offset=0,
                               reason="bad magic")
    if version != VERSION:
        raise FormatVersionError(f"segment format version {version}; this edgekit reads "
                                 f"{VERSION}", version=version, supported=(VERSION,))
    if dcode not in _CODE_DTYPE or reserved != 0 or n < 1 or t1 < t0:
        raise CorruptDataError("segment header fields are invalid", offset=5,
                               reason="bad header")
    if size != HEADER.size + plen + _CRC.size:
        raise CorruptDataError(f"segment is {size} bytes, its header says "
                               f"{HEADER.size + plen + _CRC.size}", offset=32,
                               reason="truncated" if size < HEADER.size + plen + _CRC.size
                               else "trailing bytes")
    return _CODE_DTYPE[dcode], n, channel, t0, t1, plen


def unpack(blob: bytes) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(channel, timestamps_ns, values, qualities) of a segment; raises CorruptDataError."""
    dtype, n, channel, t0, t1, plen = parse_header(blob)
    end = HEADER.size + plen
    (stored,) = _CRC.unpack_from(blob, end)
    actual = zlib.crc32(memoryview(blob)[:end])
    if stored != actual:
        raise ChecksumError("segment checksum does not match", offset=end, expected=stored,
                            got=actual)
    ts, values, q = _seal_codec.decode(memoryview(blob)[HEADER.size:end], n, dtype)
    if ts[0] != t0 or ts[-1] != t1 or (n > 1 and bool(np.any(np.diff(ts) < 0))):
        raise CorruptDataError("segment timestamps disagree with its header",
                               reason="inconsistent")
    return channel, ts, values, q


def write_file(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` atomically and durably (see
    :func:`edgekit._fileio.atomic_write`).  After this returns the segment survives a crash or
    power loss (as far as the OS and disk honour fsync); before, ``path`` either does not exist
    or is a complete earlier file."""
    atomic_write(path, blob, mode=0o644)
