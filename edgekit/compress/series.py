"""Timestamps, (timestamps, values) records and streaming.

* :func:`encode_timestamps` / :func:`decode_timestamps`: int64 nanoseconds (or
  ``datetime64[ns]``).  Regular sampling costs next to nothing (delta-of-delta is 0), jitter
  costs a few bits per reading, a gap one larger code; a common step (whole milliseconds,
  whole seconds) is divided out.  It is the frame codec of :func:`~edgekit.compress.encode`
  with the integer model, so the frame format is the same.
* :func:`encode_series` / :func:`decode_series`: one record holding a timestamp frame and a
  value frame of the same length.
* :class:`SeriesEncoder`: readings or chunks in, self-contained frames (or records) out, with
  at most ``frame_len`` readings held in memory; :func:`decode_series_stream` reads a
  concatenation of records back.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import DTypeLike

from edgekit.compress.codec import (
    BLOCK_LEN,
    _check_level,
    _check_tolerance,
    _corrupt,
    _Reader,
    _varint,
    decode,
    encode,
)
from edgekit.errors import InputError, InputTypeError, OptionsError

__all__ = [
    "RECORD_MAGIC",
    "SeriesEncoder",
    "decode_series",
    "decode_series_stream",
    "decode_timestamps",
    "encode_series",
    "encode_timestamps",
    "iter_records",
]

RECORD_MAGIC = b"\x89EKP"
RECORD_VERSION = 1
_TS_DTYPES = (np.dtype("int64"), np.dtype("datetime64[ns]"))


def _timestamps(ts: object) -> np.ndarray:
    if not isinstance(ts, np.ndarray):
        raise InputTypeError(f"timestamps must be a numpy.ndarray, got {type(ts).__name__}",
                             name="timestamps", got=type(ts).__name__)
    if ts.ndim != 1:
        raise InputError(f"timestamps must be 1-D, got shape {ts.shape}", name="timestamps")
    if ts.dtype.newbyteorder("=") not in _TS_DTYPES:
        raise InputTypeError(f"timestamps must be int64 nanoseconds or datetime64[ns], got "
                             f"{ts.dtype}", name="timestamps", got=str(ts.dtype))
    return ts


def encode_timestamps(timestamps: np.ndarray, *, level: int = 5) -> bytes:
    """Encode a 1-D int64 (nanoseconds) or ``datetime64[ns]`` array, losslessly."""
    return encode(_timestamps(timestamps), level=level)


def decode_timestamps(blob: bytes) -> np.ndarray:
    """Inverse of :func:`encode_timestamps` (CorruptDataError if the frame holds anything
    but 1-D timestamps)."""
    arr = decode(blob)
    if arr.ndim != 1 or arr.dtype.newbyteorder("=") not in _TS_DTYPES:
        raise _corrupt(f"frame holds {arr.dtype} {arr.shape}, not timestamps", 0, "type")
    return arr


def encode_series(timestamps: np.ndarray, values: np.ndarray, *,
                  tolerance: float | None = None, level: int = 5) -> bytes:
    """One record: ``timestamps`` (1-D, see :func:`encode_timestamps`) and ``values`` (any
    dtype :func:`~edgekit.compress.encode` takes, first axis the same length), the values
    lossless or within ``tolerance``; the timestamps always exact."""
    ts = _timestamps(timestamps)
    if not isinstance(values, np.ndarray):
        raise InputTypeError(f"values must be a numpy.ndarray, got {type(values).__name__}",
                             name="values", got=type(values).__name__)
    if values.ndim < 1 or values.shape[0] != ts.shape[0]:
        raise InputError(f"values (shape {values.shape}) must have one row per timestamp "
                         f"({ts.shape[0]})", name="values")
    tsb = encode(ts, level=level)
    vb = encode(values, tolerance=tolerance, level=level)
    return RECORD_MAGIC + bytes((RECORD_VERSION,)) + _varint(len(tsb)) + tsb + vb


def _record_at(buf: bytes, pos: int) -> tuple[np.ndarray, np.ndarray, int]:
    from edgekit.compress.codec import _decode_at

    rd = _Reader(buf, pos, len(buf))
    if rd.take(4) != RECORD_MAGIC:
        raise _corrupt("not an edgekit.compress record (bad magic)", pos, "bad magic")
    version = rd.u8()
    if version != RECORD_VERSION:
        from edgekit.errors import FormatVersionError

        raise FormatVersionError(f"record format version {version}; this edgekit reads "
                                 f"({RECORD_VERSION},)", version=version,
                                 supported=(RECORD_VERSION,))
    tslen = rd.varint()
    start = rd.pos
    ts, used = _decode_at(buf, start)
    if used != tslen:
        raise _corrupt("timestamp frame length does not match the record", start, "record")
    if ts.ndim != 1 or ts.dtype.newbyteorder("=") not in _TS_DTYPES:
        raise _corrupt("record's first frame is not timestamps", start, "record")
    values, vlen = _decode_at(buf, start + tslen)
    if values.ndim < 1 or values.shape[0] != ts.shape[0]:
        raise _corrupt("record's timestamps and values differ in length", start, "record")
    return ts, values, start + tslen + vlen - pos


def decode_series(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_series`: ``(timestamps, values)``."""
    from edgekit.compress.codec import _as_bytes

    buf = _as_bytes(blob)
    ts, values, used = _record_at(buf, 0)
    if used != len(buf):
        raise _corrupt(f"{len(buf) - used} bytes after the record", used, "trailing")
    return ts, values


def iter_records(blob: bytes) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each ``(timestamps, values)`` record of a concatenation, in order."""
    from edgekit.compress.codec import _as_bytes

    buf = _as_bytes(blob)
    pos = 0
    while pos < len(buf):
        ts, values, used = _record_at(buf, pos)
        yield ts, values
        pos += used


def decode_series_stream(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A concatenation of records (from :class:`SeriesEncoder` with timestamps) as one
    ``(timestamps, values)`` pair."""
    parts = list(iter_records(blob))
    if not parts:
        raise _corrupt("empty stream: no record", 0, "truncated")
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


class SeriesEncoder:
    """Streaming encoder: readings or chunks in, self-contained frames out.

    Args:
        dtype: dtype of the values (every chunk is converted to it without loss, or refused).
        tolerance: as in :func:`~edgekit.compress.encode` (None: lossless).
        frame_len: readings per frame (1..:data:`BLOCK_LEN`); at most this many readings are
            held between calls.
        timestamped: if True, :meth:`append` takes timestamps too and frames are
            (timestamps, values) records (:func:`decode_series_stream` reads them back);
            else plain frames (:func:`~edgekit.compress.decode_stream`).
        level: effort, as in :func:`~edgekit.compress.encode`.
    """

    def __init__(self, dtype: DTypeLike, *, tolerance: float | None = None,
                 frame_len: int = BLOCK_LEN, timestamped: bool = False,
                 level: int = 5) -> None:
        try:
            self.dtype = np.dtype(dtype)
        except TypeError as err:
            raise InputTypeError(f"dtype {dtype!r} is not a numpy dtype", name="dtype") from err
        if isinstance(frame_len, bool) or not isinstance(frame_len, int) \
                or not 1 <= frame_len <= BLOCK_LEN:
            raise OptionsError(f"frame_len must be an int in 1..{BLOCK_LEN}, got {frame_len!r}")
        _check_tolerance(tolerance)
        _check_level(level)
        # probe the dtype once, so a bad one fails here rather than at the first frame
        encode(np.zeros(0, dtype=self.dtype))
        self.tolerance, self.frame_len, self.level = tolerance, frame_len, level
        self.timestamped = bool(timestamped)
        self._vals: list[np.ndarray] = []
        self._ts: list[np.ndarray] = []
        self._count = 0

    @property
    def pending(self) -> int:
        """Readings held, not yet in a frame."""
        return self._count

    def append(self, values: object, timestamps: object = None) -> list[bytes]:
        """Add one reading or a 1-D chunk; returns the frames completed by it (maybe none)."""
        v = np.atleast_1d(np.asarray(values))
        if v.ndim != 1:
            raise InputError(f"values must be a scalar or 1-D, got shape {v.shape}",
                             name="values")
        if v.dtype != self.dtype:
            if not np.can_cast(v.dtype, self.dtype, casting="same_kind") and v.size:
                raise InputTypeError(f"values of dtype {v.dtype} cannot be stored as "
                                     f"{self.dtype}", name="values", got=str(v.dtype))
            cast = v.astype(self.dtype)
            with np.errstate(invalid="ignore"):
                same = np.array_equal(cast.astype(v.dtype), v, equal_nan=v.dtype.kind == "f")
            if not same:
                raise InputError(f"values do not fit {self.dtype} exactly", name="values")
            v = cast
        if self.timestamped:
            if timestamps is None:
                raise InputError("this encoder is timestamped: pass timestamps",
                                 name="timestamps")
            t = np.atleast_1d(np.asarray(timestamps))
            if t.dtype.kind == "M":
                t = t.astype("datetime64[ns]")
            elif t.dtype.kind in "iu":
                t = t.astype(np.int64)
            _timestamps(t)
            if t.shape != v.shape:
                raise InputError("timestamps and values differ in length", name="timestamps")
            self._ts.append(t)
        elif timestamps is not None:
            raise InputError("this encoder is not timestamped", name="timestamps")
        self._vals.append(v)
        self._count += v.size
        frames = []
        while self._count >= self.frame_len:
            frames.append(self._emit(self.frame_len))
        return frames

    def flush(self) -> bytes:
        """The frame of the readings held (b"" if none)."""
        return self._emit(self._count) if self._count else b""

    def _emit(self, n: int) -> bytes:
        vals = np.concatenate(self._vals) if len(self._vals) > 1 else self._vals[0]
        head, rest = vals[:n], vals[n:]
        self._vals = [rest] if rest.size else []
        if self.timestamped:
            ts = np.concatenate(self._ts) if len(self._ts) > 1 else self._ts[0]
            thead, trest = ts[:n], ts[n:]
            self._ts = [trest] if trest.size else []
            frame = encode_series(np.ascontiguousarray(thead), np.ascontiguousarray(head),
                                  tolerance=self.tolerance, level=self.level)
        else:
            frame = encode(np.ascontiguousarray(head), tolerance=self.tolerance,
                           level=self.level)
        self._count -= n
        return frame

