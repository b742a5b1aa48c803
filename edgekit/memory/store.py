"""A compact store of sensor readings: columnar hot buffers, compressed sealed segments, a
memory budget with an explicit policy, and spill to disk that survives a restart.

Model
-----
Every channel (sensor) has its own *hot buffer*: three numpy columns (int64 timestamps in ns,
values, uint8 qualities) of at most ``segment_size`` readings: 17 bytes a reading with float64
values, 13 with float32.  Its columns grow by doubling up to ``segment_size`` and are then
reused: when a full buffer receives one more reading, its contents are *sealed* into an
immutable compressed segment (:mod:`edgekit.memory._segment`) and the buffer starts over.
:meth:`ReadingStore.seal` seals every hot buffer at once and releases their columns.

Values keep the type they were given
-------------------------------------
Each channel's value dtype is fixed by its first readings: float64 input (Python floats
included) is stored as float64 and comes back bit for bit; float32 (and float16) input as
float32; integers as float64 (exact up to 2**53).  Later readings of that channel are cast to
it only when the cast is exact; one that would round (a float64 value that is not a float32
into a float32 channel, an integer beyond 2**53) is refused with
:class:`~edgekit.errors.InputError`: the store never rounds silently.  ``value_dtype=
"float32"`` (or ``np.float32``) fixes float32 for every channel and *rounds* float64 input to
the nearest float32 on purpose (about 7 significant digits; 13 bytes a reading hot instead of
17); ``value_dtype="float64"`` fixes float64.  A query across channels of different dtypes
returns their common type (float64: float32 values widen exactly).

Within a channel, timestamps must be non-decreasing (equal ones keep their append order); a
reading older than its channel's last one is refused with :class:`~edgekit.errors.InputError`
(never silently reordered or dropped).  Queries are half-open, ``t0_ns <= t < t1_ns``, found by
binary search in hot columns and in every segment whose time span overlaps; across channels
the result is in time order, ties broken by channel id, then append order.

Budget and policies
-------------------
``budget_bytes`` bounds :attr:`ReadingStore.nbytes` (hot columns at their allocated size,
resident segment bytes and the index entries).  At the budget:

* ``"refuse"``: a call that might exceed the budget raises :class:`~edgekit.errors.CapacityError`
  and stores *nothing* of that call.  "Might": a segment sealed by the call is counted at its
  worst case (uncompressed), so the store refuses a little before it is strictly full.
* ``"drop_oldest"``: the oldest resident segments (by first timestamp, any channel) are dropped,
  then, if needed, other channels' hot buffers (sealed and dropped).  Every dropped reading is
  counted in :attr:`StoreStats.dropped_readings` and reported with a ``memory.drop`` event.
* ``"spill"``: the oldest resident segments are written to ``spill_dir`` and leave memory; they
  stay queryable (read back on demand).  Nothing is lost.

Durability (``"spill"``)
------------------------
A reading is *acknowledged* once a :meth:`ReadingStore.flush` (or :meth:`~ReadingStore.close`)
that started after it was appended has returned: flush seals every hot buffer and writes every
resident segment with write-to-temporary, fsync, rename, fsync-directory.  Acknowledged
readings survive a crash (kill -9, power loss as far as the disk honours fsync); readings not
yet acknowledged may survive in part (whatever was spilled on budget) but are not promised.
Re-creating a store on the same directory reopens every segment found there; a directory is
locked by one open store at a time.

Thread safety: every public method holds the store's lock (queries only while they collect
what to read; decoding runs outside it), so threads may append and query concurrently.
"""

from __future__ import annotations

import bisect
import heapq
import math
import os
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from edgekit import _telemetry
from edgekit._fileio import fsync_dir
from edgekit.errors import (
    CapacityError,
    CorruptDataError,
    FormatVersionError,
    InputError,
    InputTypeError,
    OptionsError,
)
from edgekit.memory import _seal_codec, _segment
from edgekit.types import SensorReading

__all__ = [
    "POLICIES",
    "ChannelView",
    "ChannelReadings",
    "Readings",
    "ReadingStore",
    "StoreOptions",
    "StoreStats",
]

POLICIES = ("refuse", "drop_oldest", "spill")
_VALUE_DTYPES: dict[str, np.dtype] = {"float32": np.dtype(np.float32),
                                      "float64": np.dtype(np.float64)}
_F32, _F64 = _VALUE_DTYPES["float32"], _VALUE_DTYPES["float64"]
_F32_STRUCT = struct.Struct("<f")
_MAX_SEGMENT = 1 << 28
_MAX_CHANNEL = (1 << 32) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_F32_MAX = float(np.finfo(np.float32).max)
_MIN_GROW = 64
_SUFFIX = ".eks"
_LOCK_NAME = "LOCK"


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """How a :class:`ReadingStore` holds its readings.

    Attributes:
        segment_size: readings per hot buffer (per channel) before it is sealed, 16..2**28.
            Larger segments compress better; each channel's hot buffer can grow to
            ``segment_size * (9 + value itemsize)`` bytes.
        budget_bytes: the most :attr:`ReadingStore.nbytes` may reach, or ``None`` for no
            bound.  At least twice one full hot buffer plus 4 KiB.
        policy: what happens at the budget: ``"refuse"``, ``"drop_oldest"`` or ``"spill"``.
        spill_dir: the directory sealed segments spill to; required with ``"spill"`` (created
            if missing, reopened if it holds segments), refused otherwise.
        value_dtype: ``None`` (default): each channel keeps the dtype of its first readings
            (float64 and integers: float64, 17 bytes a reading hot; float32: float32, 13
            bytes), and later readings must convert to it exactly.  ``"float32"`` (or
            ``np.float32``): every channel float32, float64 input *rounded* to the nearest
            float32 (~7 significant digits; a finite value outside float32's range is
            refused, never turned into an infinity).  ``"float64"`` (or ``np.float64``):
            every channel float64.  Normalised to the string (or ``None``).
    """

    segment_size: int = 4096
    budget_bytes: int | None = None
    policy: str = "refuse"
    spill_dir: str | os.PathLike[str] | None = None
    value_dtype: str | None = None

    def __post_init__(self) -> None:
        if self.value_dtype is not None:
            try:  # np.float32, np.dtype("float64"), "f4", ...: stored as the name
                name = np.dtype(self.value_dtype).name
            except TypeError:
                name = self.value_dtype if isinstance(self.value_dtype, str) else repr(
                    self.value_dtype)
            object.__setattr__(self, "value_dtype", name)
        if isinstance(self.segment_size, bool) or not isinstance(self.segment_size, int) or not (
                16 <= self.segment_size <= _MAX_SEGMENT):
            raise OptionsError(f"segment_size must be an int in 16..{_MAX_SEGMENT}, got "
                               f"{self.segment_size!r}", name="segment_size",
                               got=self.segment_size)
        if self.policy not in POLICIES:
            raise OptionsError(f"policy must be one of {POLICIES}, got {self.policy!r}",
                               name="policy", expected=POLICIES, got=self.policy)
        if self.value_dtype is not None and self.value_dtype not in _VALUE_DTYPES:
            raise OptionsError(f"value_dtype must be None, 'float32' or 'float64', got "
                               f"{self.value_dtype!r}", name="value_dtype", got=self.value_dtype)
        if self.budget_bytes is not None:
            low = 2 * self.segment_size * self.reading_bytes + 4096
            if isinstance(self.budget_bytes, bool) or not isinstance(self.budget_bytes, int) or (
                    self.budget_bytes < low):
                raise OptionsError(f"budget_bytes must be None or an int >= {low} (two full hot "
                                   f"buffers of segment_size={self.segment_size}), got "
                                   f"{self.budget_bytes!r}", name="budget_bytes",
                                   expected=f">= {low}", got=self.budget_bytes)
        if self.policy == "spill":
            if self.spill_dir is None:
                raise OptionsError("policy 'spill' needs spill_dir", name="spill_dir")
            if not isinstance(self.spill_dir, (str, os.PathLike)):
                raise OptionsError("spill_dir must be a path", name="spill_dir",
                                   got=type(self.spill_dir).__name__)
        elif self.spill_dir is not None:
            raise OptionsError(f"spill_dir is only used with policy 'spill', not "
                               f"{self.policy!r}", name="spill_dir")

    @property
    def reading_bytes(self) -> int:
        """The most bytes one reading takes in a hot buffer: 8 (time) + value itemsize + 1
        (quality); 17 when the dtype follows the input (a channel may be float64)."""
        return 9 + (_F64 if self.value_dtype is None else
                    _VALUE_DTYPES[self.value_dtype]).itemsize


@dataclass(frozen=True, slots=True)
class StoreStats:
    """A snapshot of a store's contents and history (counts in readings, sizes in bytes)."""

    readings: int
    hot_readings: int
    sealed_readings: int
    spilled_readings: int
    channels: int
    segments: int
    spilled_segments: int
    seals: int
    dropped_readings: int
    nbytes: int
    hot_nbytes: int
    sealed_nbytes: int
    disk_bytes: int

    @property
    def bytes_per_reading(self) -> float:
        """:attr:`nbytes` over the readings held in memory (spilled ones excluded)."""
        resident = self.readings - self.spilled_readings
        return self.nbytes / resident if resident else math.nan


class Readings(NamedTuple):
    """Readings of a query, in time order: int64 ns, values, uint8 qualities."""

    timestamps_ns: np.ndarray
    values: np.ndarray
    qualities: np.ndarray


class ChannelReadings(NamedTuple):
    """Like :class:`Readings`, with each reading's channel id (uint32)."""

    timestamps_ns: np.ndarray
    values: np.ndarray
    qualities: np.ndarray
    channels: np.ndarray


# zero-length columns shared by every empty channel (never written: capacity 0)
_EMPTY = {dt: (np.empty(0, np.int64), np.empty(0, dt), np.empty(0, np.uint8))
          for dt in _VALUE_DTYPES.values()}


class _Channel:
    """One channel: its hot columns and its index of sealed segments.

    The index is ``segments``, a list in time order of bytes objects, one per segment, and
    nothing else: a resident segment is its own bytes (whose header holds its reading count
    and time span), a spilled one the 36-byte header of its file followed by its sequence
    number (int64, which names the file).  The first ``first_resident`` entries are spilled.
    A sealed segment thus costs its bytes and a list slot, no Python object of its own."""

    __slots__ = ("cid", "dtype", "first_resident", "last", "n", "q", "segments", "ts", "val")

    def __init__(self, cid: int, dtype: np.dtype) -> None:
        self.cid = cid
        self.dtype = dtype  # fixed for the channel's life
        self.ts, self.val, self.q = _EMPTY[dtype]  # shared until the first append
        self.n = 0
        # newest timestamp ever accepted (even if dropped since), or None when that is the
        # last segment's last one (then read from its header: no int kept per sealed channel)
        self.last: int | None = None
        self.segments: list[bytes] = []  # time order; spilled ones first
        self.first_resident = 0  # index of the first segment still in memory

    @property
    def cap(self) -> int:
        return self.ts.size

    @property
    def rb(self) -> int:
        """Bytes of one hot reading."""
        return 9 + self.dtype.itemsize

    def newest(self) -> int | None:
        """The newest timestamp this channel accepted, or None."""
        last = self.last
        if last is None and self.segments:
            return _t_last(self.segments[-1])
        return last


# fields of a segment's header (see edgekit.memory._segment), read from an index entry
_N_AT = struct.Struct("<I")  # readings, at offset 8
_T_AT = struct.Struct("<q")  # first timestamp at offset 16, last at 24
_SEQ = struct.Struct("<q")  # a spilled entry's sequence number, after the header


def _count(entry: bytes) -> int:
    """Readings of the segment an index entry stands for."""
    return _N_AT.unpack_from(entry, 8)[0]


def _t_first(entry: bytes) -> int:
    return _T_AT.unpack_from(entry, 16)[0]


def _t_last(entry: bytes) -> int:
    return _T_AT.unpack_from(entry, 24)[0]


def _seg_size(entry: bytes) -> int:
    """Bytes of the segment (in memory or in its file) an index entry stands for."""
    return _segment.OVERHEAD + _N_AT.unpack_from(entry, 32)[0]


def _seg_name(seq: int) -> str:
    return f"seg-{seq:012d}{_SUFFIX}"


def _spilled_name(entry: bytes) -> str:
    return _seg_name(_SEQ.unpack_from(entry, _segment.HEADER.size)[0])


def _entry_bytes(entry: bytes) -> int:
    """What one segment's index entry holds: its bytes object (the whole segment while
    resident, header and sequence number once spilled) and its slot in the channel's list."""
    return sys.getsizeof(entry) + 8


class _SpillDir:
    """A store's spill directory (policy "spill" only) and what it counts there."""

    __slots__ = ("disk_bytes", "given", "lockfd", "path", "seq", "spilled_readings")

    def __init__(self, path: Path, given: str | os.PathLike[str]) -> None:
        self.path = path
        self.given = given  # spill_dir as the options gave it
        self.lockfd: int | None = None
        self.seq = 0  # the next spill file's sequence number
        self.disk_bytes = 0
        self.spilled_readings = 0


def _lock_dir(directory: Path) -> int | None:
    """Lock ``directory`` for this process (an advisory lock); returns the lock's fd."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        raise OptionsError(f"{directory} is in use by another open ReadingStore",
                           name="spill_dir") from err
    return fd


# --- value dtypes -----------------------------------------------------------------------------


def _stored_dtype(given: np.dtype) -> np.dtype:
    """The dtype a channel whose first values have dtype ``given`` stores: float32 for
    float16/float32, float64 for everything else (float64, integers, booleans)."""
    return _F32 if given.kind == "f" and given.itemsize <= 4 else _F64


def _exact_cast(vals: np.ndarray, dtype: np.dtype) -> bool:
    """Whether ``vals`` convert to ``dtype`` without changing a value (NaN stays NaN; its
    payload bits are not compared)."""
    src = vals.dtype
    if src.kind == "f" and src.itemsize <= dtype.itemsize:
        return True
    if src.kind in "iub" and 8 * src.itemsize < np.finfo(dtype).nmant + 2:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        back = vals.astype(dtype).astype(src)
    return bool(np.array_equal(back, vals, equal_nan=src.kind == "f"))


def _scalar_exact(value: Any, v: float, dtype: np.dtype) -> bool:
    """Whether the scalar ``value`` (``v`` = ``float(value)``) is stored exactly as
    ``dtype``."""
    if isinstance(value, (int, np.integer)):  # bool included
        if int(value) != v:
            return False
    elif isinstance(value, np.floating) and value.dtype.itemsize > 8 and value == value:
        if value != v:
            return False
    if dtype is _F32 and v == v:
        try:
            return _F32_STRUCT.unpack(_F32_STRUCT.pack(v))[0] == v
        except OverflowError:  # finite, beyond float32's range
            return False
    return True


def _first_inexact(vals: np.ndarray, dtype: np.dtype) -> int:
    with np.errstate(over="ignore", invalid="ignore"):
        back = vals.astype(dtype).astype(vals.dtype)
    same = back == vals
    if vals.dtype.kind == "f":
        same |= np.isnan(vals)
    return int(np.argmin(same))


def _rounding_error(what: str, value: Any, ch: _Channel, name: str) -> InputError:
    return InputError(
        f"{what} {value!r} is not exactly a {ch.dtype.name}, the value dtype of channel "
        f"{ch.cid} (fixed by its first readings); the store never rounds silently: give "
        f"{ch.dtype.name} values, use another channel, or create the store with value_dtype="
        f"'float32' to round on purpose", name=name, expected=ch.dtype.name, got=value)


# --- argument checks ------------------------------------------------------------------------


def _int_scalar(x: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise InputTypeError(f"{name} must be an int, got {type(x).__name__}", name=name,
                             got=type(x).__name__)
    x = int(x)
    if not lo <= x <= hi:
        raise InputError(f"{name} must be in {lo}..{hi}, got {x}", name=name,
                         expected=(lo, hi), got=x)
    return x


def _int_column(x: Any, name: str, n: int | None, lo: int, hi: int,
                dtype: type[np.generic]) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {arr.shape}", name=name,
                         expected="1-D", got=arr.shape)
    if arr.size == 0:
        arr = arr.astype(dtype)
    if arr.dtype.kind not in "iu":
        raise InputTypeError(f"{name} must hold integers, got dtype {arr.dtype}", name=name,
                             expected="integer", got=str(arr.dtype))
    if n is not None and arr.size != n:
        raise InputError(f"{name} has {arr.size} elements, timestamps_ns has {n}", name=name,
                         expected=n, got=arr.size)
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise InputError(f"{name} must be in {lo}..{hi}", name=name, expected=(lo, hi))
    return arr.astype(dtype, copy=False)


class ReadingStore:
    """A bounded, queryable store of readings from many channels.

    ``ReadingStore(options)`` or ``ReadingStore(segment_size=..., budget_bytes=...,
    policy=..., spill_dir=..., value_dtype=...)`` (see :class:`StoreOptions`).  With
    ``policy="spill"`` and a directory that already holds segments, those are reopened.

    >>> store = ReadingStore(segment_size=1024)
    >>> store.append(1_000_000_000, 21.5, quality=0, channel=3)
    >>> store.extend(np.array([2, 3]) * 10**9, np.array([21.6, 21.7]), channels=3)
    2
    >>> t, v, q = store.query(0, 3 * 10**9, channel=3)
    >>> t.tolist(), v.tolist(), v.dtype.name
    ([1000000000, 2000000000], [21.5, 21.6], 'float64')
    >>> rounding = ReadingStore(value_dtype="float32")   # 13 bytes a reading hot, rounds
    >>> rounding.append(1_000_000_000, 21.6)
    >>> rounding.query().values.tolist()
    [21.600000381469727]
    """

    # counts that stats() can derive from the channels (hot, sealed, segments) are not kept
    # options given as keywords are kept as their fields (``options`` rebuilds them), the
    # spill state only with policy "spill": the store's own fixed cost stays small beside a
    # short series
    __slots__ = ("__weakref__", "_budget", "_channels", "_closed", "_dropped", "_entry_bytes",
                 "_fixed", "_given", "_hot_bytes", "_lock", "_policy", "_seals", "_seg", "_sp",
                 "_total")

    def __init__(self, options: StoreOptions | None = None, /, **kwargs: Any) -> None:
        self._given = options  # the caller's StoreOptions, returned as they are by ``options``
        if options is None:
            options = StoreOptions(**kwargs)
        elif kwargs:
            raise OptionsError("give a StoreOptions or keyword options, not both")
        elif not isinstance(options, StoreOptions):
            raise InputTypeError("options must be a StoreOptions", name="options",
                                 got=type(options).__name__)
        # the value dtype of every channel when the options fix one, else None (per channel);
        # float32 is the one mode that may round, on purpose
        self._fixed = (None if options.value_dtype is None else
                       _VALUE_DTYPES[options.value_dtype])
        self._seg = options.segment_size
        self._budget = options.budget_bytes
        self._policy = options.policy
        self._lock = threading.Lock()
        self._channels: dict[int, _Channel] = {}
        self._total = 0
        self._hot_bytes = 0
        self._entry_bytes = 0  # index entries (resident segments included)
        self._dropped = 0
        self._seals = 0
        self._sp: _SpillDir | None = None
        self._closed = False
        if options.policy == "spill":
            self._open_dir(options.spill_dir)  # type: ignore[arg-type]

    # --- properties -----------------------------------------------------------------------

    @property
    def options(self) -> StoreOptions:
        """The options the store was made with: the :class:`StoreOptions` given, or (when
        given as keywords) an equal one."""
        if self._given is not None:
            return self._given
        return StoreOptions(segment_size=self._seg, budget_bytes=self._budget,
                            policy=self._policy,
                            spill_dir=None if self._sp is None else self._sp.given,
                            value_dtype=None if self._fixed is None else self._fixed.name)

    @property
    def nbytes(self) -> int:
        """Bytes the store holds in memory: hot columns at their allocated size, resident
        segments (their bytes objects) and the index entry of every segment."""
        return self._hot_bytes + self._entry_bytes

    @property
    def channels(self) -> tuple[int, ...]:
        """The channel ids seen so far, ascending."""
        with self._lock:
            return tuple(sorted(self._channels))

    def __len__(self) -> int:
        """Readings held (hot, sealed and spilled; dropped ones excluded)."""
        return self._total

    def stats(self) -> StoreStats:
        with self._lock:
            chans = self._channels.values()
            hot = sum(ch.n for ch in chans)
            sp = self._sp
            return StoreStats(
                readings=self._total, hot_readings=hot,
                sealed_readings=self._total - hot,
                spilled_readings=0 if sp is None else sp.spilled_readings,
                channels=len(self._channels), segments=sum(len(ch.segments) for ch in chans),
                spilled_segments=sum(ch.first_resident for ch in chans), seals=self._seals,
                dropped_readings=self._dropped, nbytes=self.nbytes, hot_nbytes=self._hot_bytes,
                sealed_nbytes=self._entry_bytes, disk_bytes=0 if sp is None else sp.disk_bytes,
            )

    def channel(self, channel: int) -> ChannelView:
        """A view of one channel: append, extend, query and iterate it alone."""
        return ChannelView(self, _int_scalar(channel, "channel", 0, _MAX_CHANNEL))

    # --- appending --------------------------------------------------------------------------

    def append(self, timestamp_ns: int, value: float, quality: int = 0, channel: int = 0
               ) -> None:
        """Store one reading: ``timestamp_ns`` (int, ns since the epoch), ``value`` (a real
        number in the sensor's unit), ``quality`` (0..255), ``channel`` (0..2**32-1).

        Raises InputError (older than the channel's last reading, out of range),
        InputTypeError, CapacityError (policy ``"refuse"`` at the budget)."""
        if type(timestamp_ns) is not int:
            timestamp_ns = _int_scalar(timestamp_ns, "timestamp_ns", _I64_MIN, _I64_MAX)
        elif not _I64_MIN <= timestamp_ns <= _I64_MAX:
            raise InputError("timestamp_ns must fit in int64", name="timestamp_ns",
                             got=timestamp_ns)
        if type(quality) is not int or not 0 <= quality <= 255:
            quality = _int_scalar(quality, "quality", 0, 255)
        if type(channel) is not int or not 0 <= channel <= _MAX_CHANNEL:
            channel = _int_scalar(channel, "channel", 0, _MAX_CHANNEL)
        if type(value) is float:
            v = value
        else:
            if isinstance(value, (str, bytes)) or value is None:
                raise InputTypeError(f"value must be a real number, got "
                                     f"{type(value).__name__}", name="value",
                                     got=type(value).__name__)
            try:
                v = float(value)
            except (TypeError, ValueError) as err:
                raise InputTypeError(f"value must be a real number, got "
                                     f"{type(value).__name__}", name="value",
                                     got=type(value).__name__) from err
            except OverflowError as err:  # an int beyond float64's range
                raise InputError("value does not fit in a float64", name="value") from err
        if self._fixed is _F32 and (v > _F32_MAX or v < -_F32_MAX) and math.isfinite(v):
            raise InputError(f"value {v!r} is outside float32's range; use "
                             f"value_dtype='float64' or None", name="value", got=v)
        with self._lock:
            self._check_open()
            ch = self._channels.get(channel)
            new = ch is None
            if ch is None:  # registered once the reading is accepted
                ch = self._new_channel(channel, _stored_dtype(value.dtype) if isinstance(
                    value, np.generic) else _F64, register=False)
            if self._fixed is not _F32 and (ch.dtype is _F32 or type(value) is not float) and (
                    not _scalar_exact(value, v, ch.dtype)):
                raise _rounding_error("value", value, ch, "value")
            last = ch.last
            if last is None:
                last = ch.newest()
            if last is not None and timestamp_ns < last:
                raise InputError(
                    f"timestamp_ns {timestamp_ns} is older than channel {channel}'s last "
                    f"reading ({last}); readings of a channel must come in time order",
                    name="timestamp_ns", expected=f">= {last}", got=timestamp_ns)
            n = ch.n
            grew = False
            if n == ch.cap:
                self._refuse_check(((ch, 1),))
                self._make_room(ch, 1)
                n = ch.n
                grew = True
            ch.ts[n] = timestamp_ns
            ch.val[n] = v
            ch.q[n] = quality
            ch.n = n + 1
            if new:
                self._channels[channel] = ch
            ch.last = timestamp_ns
            self._total += 1
            if grew:
                self._enforce(ch)
        _telemetry.emit("memory.append", readings=1)

    def extend(self, timestamps_ns: Any, values: Any, qualities: Any = None,
               channels: Any = None) -> int:
        """Store a batch: 1-D ``timestamps_ns`` (integers, ns) and ``values`` of the same
        length; ``qualities`` (0..255) and ``channels`` are arrays of that length, one int
        for all, or ``None`` (0).  Readings of each channel must be in time order, after that
        channel's last reading.  All-or-nothing: a bad batch (or one the ``"refuse"`` policy
        refuses) raises and stores nothing.  Only an OS error while spilling (a full disk) can
        stop a batch part-way; it propagates, and what was stored before it stays stored.
        Returns the number stored."""
        ts = _int_column(timestamps_ns, "timestamps_ns", None, _I64_MIN, _I64_MAX, np.int64)
        n = ts.size
        vals = np.asarray(values)
        if vals.ndim != 1 or vals.size != n:
            raise InputError(f"values must be 1-D with {n} elements, got shape {vals.shape}",
                             name="values", expected=n, got=vals.shape)
        if n and vals.dtype.kind not in "fiu":
            raise InputTypeError(f"values must be real numbers, got dtype {vals.dtype}",
                                 name="values", got=str(vals.dtype))
        v = vals
        if self._fixed is _F32 and n and vals.dtype != _F32:  # rounds on purpose, never to inf
            with np.errstate(over="ignore"):
                v = vals.astype(_F32)
            if vals.dtype.kind == "f":
                bad = np.isinf(v) & np.isfinite(vals)
                if bad.any():
                    raise InputError(f"values[{int(np.argmax(bad))}] is outside float32's "
                                     f"range; use value_dtype='float64' or None",
                                     name="values")
        q = (np.zeros(n, np.uint8) if qualities is None else
             np.full(n, _int_scalar(qualities, "qualities", 0, 255), np.uint8)
             if np.ndim(qualities) == 0 else
             _int_column(qualities, "qualities", n, 0, 255, np.uint8))
        if channels is None or np.ndim(channels) == 0:
            cid = 0 if channels is None else _int_scalar(channels, "channels", 0, _MAX_CHANNEL)
            groups = [(cid, ts, v, q)]
        else:
            c = _int_column(channels, "channels", n, 0, _MAX_CHANNEL, np.int64)
            order = np.argsort(c, kind="stable")
            cs = c[order]
            cuts = np.flatnonzero(np.diff(cs)) + 1
            starts = np.concatenate(([0], cuts)) if n else np.empty(0, np.int64)
            ends = np.concatenate((cuts, [n])) if n else np.empty(0, np.int64)
            groups = [(int(cs[a]), ts[order[a:b]], v[order[a:b]], q[order[a:b]])
                      for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        if n == 0:
            return 0
        with self._lock:
            self._check_open()
            chans = []
            for cid, gts, gv, gq in groups:
                ch = self._channels.get(cid)
                last = ch.newest() if ch is not None else None
                if (last is not None and int(gts[0]) < last) or (
                        gts.size > 1 and bool(np.any(gts[1:] < gts[:-1]))):
                    raise InputError(f"timestamps of channel {cid} must be non-decreasing and "
                                     f"not older than its last reading ({last})",
                                     name="timestamps_ns")
                if ch is None:
                    ch = self._new_channel(cid, _stored_dtype(vals.dtype), register=False)
                if gv.dtype != ch.dtype:
                    if self._fixed is not _F32 and not _exact_cast(gv, ch.dtype):
                        i = _first_inexact(gv, ch.dtype)
                        raise _rounding_error("value", gv[i].item(), ch, "values")
                    gv = gv.astype(ch.dtype)
                chans.append((ch, gts, gv, gq))
            self._refuse_check([(ch, gts.size) for ch, gts, _, _ in chans])
            for ch, gts, gv, gq in chans:
                self._channels.setdefault(ch.cid, ch)
                self._write(ch, gts, gv, gq)
        _telemetry.emit("memory.append", readings=n)
        return n

    # --- sealing, flushing ------------------------------------------------------------------

    def seal(self) -> int:
        """Seal every non-empty hot buffer now and release the hot columns (they regrow on
        the next append).  Returns the number of readings sealed."""
        with self._lock:
            self._check_open()
            chans = list(self._channels.values())
            blobs = {ch.cid: self._pack(ch) for ch in chans if ch.n}
            if self._budget is not None and self._policy == "refuse":
                # a tiny segment can cost more than its hot readings (its index entry):
                # refuse the seal rather than exceed the budget; nothing changes then
                after = self.nbytes + sum(_entry_bytes(b) for b in blobs.values()) - sum(
                    ch.cap * ch.rb for ch in chans)
                if after > self._budget:
                    raise CapacityError(
                        f"sealing now would take the store to {after} bytes, over its budget "
                        f"of {self._budget} (policy 'refuse'; nothing was changed)",
                        capacity=self._budget, requested=after)
            sealed = 0
            for ch in chans:
                sealed += ch.n
                self._seal_channel(ch, blobs.get(ch.cid))
                self._release(ch)
            self._enforce(None)
        _telemetry.emit("memory.usage", nbytes=self.nbytes)
        return sealed

    def flush(self) -> int:
        """Make every reading appended so far durable (policy ``"spill"`` only): seal the hot
        buffers and write every resident segment to ``spill_dir``.  When this returns, those
        readings are *acknowledged*: they survive a crash.  Returns the segments written."""
        with self._lock:
            self._check_open()
            if self._sp is None:
                raise OptionsError("flush() needs policy='spill' and a spill_dir",
                                   name="policy")
            written = self._flush()
        _telemetry.emit("memory.usage", nbytes=self.nbytes)
        return written

    def _flush(self) -> int:
        """Seal and spill everything resident (the lock is held)."""
        for ch in self._channels.values():
            self._seal_channel(ch)
            self._release(ch)
        order = sorted((_t_first(ch.segments[i]), ch.cid, i, ch)
                       for ch in self._channels.values()
                       for i in range(ch.first_resident, len(ch.segments)))
        for _, _, i, ch in order:  # oldest first; in a channel, in its order
            assert ch.first_resident == i
            self._spill(ch)
        return len(order)

    def close(self) -> None:
        """Flush (policy ``"spill"``) and release the directory; the store is then closed."""
        with self._lock:
            if self._closed:
                return
            if self._sp is not None:
                self._flush()
                if self._sp.lockfd is not None:
                    os.close(self._sp.lockfd)
                    self._sp.lockfd = None
            self._closed = True

    def __enter__(self) -> ReadingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # release the directory lock if the user forgot close()
        sp = getattr(self, "_sp", None)
        fd = None if sp is None else sp.lockfd
        if fd is not None:
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass

    def discard(self, before_ns: int, channel: int | None = None) -> int:
        """Drop the sealed segments (resident or spilled; spilled files are deleted) whose
        readings are all older than ``before_ns``, of one channel or all: the way to bound a
        spill directory, or to free memory on purpose.  Hot readings are never discarded.
        Counted in :attr:`StoreStats.dropped_readings` and reported as a ``memory.drop``
        event with reason ``"discard"``.  Returns the readings dropped."""
        before = _int_scalar(before_ns, "before_ns", _I64_MIN, _I64_MAX)
        with self._lock:
            self._check_open()
            if channel is None:
                chans = list(self._channels.values())
            else:
                cid = _int_scalar(channel, "channel", 0, _MAX_CHANNEL)
                chans = [self._channels[cid]] if cid in self._channels else []
            dropped = 0
            for ch in chans:
                k = 0  # the segments to go: a prefix (t_last never decreases along the list)
                while k < len(ch.segments) and _t_last(ch.segments[k]) < before:
                    entry = ch.segments[k]
                    n = _count(entry)
                    self._entry_bytes -= _entry_bytes(entry)
                    if k < ch.first_resident:
                        sp = self._sp
                        assert sp is not None
                        (sp.path / _spilled_name(entry)).unlink(missing_ok=True)
                        sp.spilled_readings -= n
                        sp.disk_bytes -= _seg_size(entry)
                    self._total -= n
                    self._dropped += n
                    dropped += n
                    k += 1
                if k:
                    if ch.last is None and k == len(ch.segments):
                        ch.last = ch.newest()  # the newest timestamp outlives its segment
                    del ch.segments[:k]
                    ch.first_resident = max(0, ch.first_resident - k)
            if dropped and self._sp is not None:
                fsync_dir(self._sp.path)
        if dropped:
            _telemetry.emit("memory.drop", readings=dropped, reason="discard")
            _telemetry.emit("memory.usage", nbytes=self.nbytes)
        return dropped

    # --- queries ----------------------------------------------------------------------------

    def query(self, t0_ns: int | None = None, t1_ns: int | None = None,
              channel: int | None = None) -> Readings:
        """Readings with ``t0_ns <= timestamp < t1_ns`` (``None``: unbounded) of one channel,
        or of all merged in time order (ties: channel id, then append order)."""
        t, v, q, _ = self._collect(t0_ns, t1_ns, channel)
        return Readings(t, v, q)

    def query_with_channels(self, t0_ns: int | None = None, t1_ns: int | None = None,
                            channel: int | None = None) -> ChannelReadings:
        """:meth:`query` with the channel id of each reading."""
        return ChannelReadings(*self._collect(t0_ns, t1_ns, channel, True))

    def __iter__(self) -> Iterator[SensorReading]:
        """Every reading as a :class:`~edgekit.types.SensorReading`, in time order (ties:
        channel id).  Works on a snapshot taken when iteration starts; segments are decoded
        one at a time."""
        with self._lock:
            sources = [self._channel_sources(ch, None, None) for ch in self._sorted_channels()]
        streams = [self._stream(cid, parts) for cid, parts in sources]
        for t, c, v, q in heapq.merge(*streams):
            yield SensorReading(t, v, q, c)

    # --- internals: channels and hot buffers -------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise InputError("the store is closed", name="store")

    def _new_channel(self, cid: int, dtype: np.dtype, register: bool = True) -> _Channel:
        """A channel storing ``dtype`` values (the options' dtype when they fix one)."""
        ch = _Channel(cid, self._fixed if self._fixed is not None else dtype)
        if register:
            self._channels[cid] = ch
        return ch

    def _sorted_channels(self) -> list[_Channel]:
        return [self._channels[c] for c in sorted(self._channels)]

    def _resize(self, ch: _Channel, cap: int) -> None:
        n = ch.n
        old = ch.cap
        for attr in ("ts", "val", "q"):
            col = getattr(ch, attr)
            new = np.empty(cap, col.dtype)
            new[:n] = col[:n]
            setattr(ch, attr, new)
        self._hot_bytes += (cap - old) * ch.rb

    def _release(self, ch: _Channel) -> None:
        if ch.n == 0 and ch.cap:
            self._hot_bytes -= ch.cap * ch.rb
            ch.ts, ch.val, ch.q = _EMPTY[ch.dtype]

    def _make_room(self, ch: _Channel, k: int) -> None:
        """Room for at least one more reading (at most ``k`` wanted) in ``ch``'s hot buffer."""
        if ch.n == self._seg:
            self._seal_channel(ch)
        if ch.n == ch.cap:
            self._resize(ch, min(self._seg, max(ch.n + k, 2 * ch.cap, _MIN_GROW)))

    def _write(self, ch: _Channel, ts: np.ndarray, v: np.ndarray, q: np.ndarray) -> None:
        pos, k = 0, ts.size
        while pos < k:
            if ch.n == ch.cap:
                self._make_room(ch, k - pos)
            take = min(ch.cap - ch.n, k - pos)
            a, b = ch.n, ch.n + take
            ch.ts[a:b] = ts[pos:pos + take]
            ch.val[a:b] = v[pos:pos + take]
            ch.q[a:b] = q[pos:pos + take]
            ch.n = b
            pos += take
            ch.last = int(ch.ts[b - 1])  # before _enforce, which may fail (a full disk)
            self._total += take
            self._enforce(ch)

    def _worst_segment_bytes(self, dtype: np.dtype) -> int:
        """The most one sealed segment can add to nbytes: incompressible payload plus the
        largest index entry (int fields of the widest values)."""
        return (_entry_bytes(b"") + _segment.OVERHEAD
                + _seal_codec.max_payload(self._seg, dtype.itemsize))

    def _refuse_check(self, plan) -> None:
        """Policy "refuse": raise before anything is stored unless ``plan`` ((channel,
        readings) pairs) fits the budget even if nothing it seals compresses."""
        if self._budget is None or self._policy != "refuse":
            return
        added = 0
        for ch, k in plan:
            total = ch.n + k
            seals = (total - 1) // self._seg if total > self._seg else 0
            target = self._seg if seals else min(self._seg, max(total, ch.cap))
            if target > ch.cap:  # doubling can overshoot what is needed, never the segment
                target = min(self._seg, max(target, 2 * ch.cap, _MIN_GROW))
            added += (max(0, target - ch.cap) * ch.rb
                      + seals * self._worst_segment_bytes(ch.dtype))
        if self.nbytes + added > self._budget:
            raise CapacityError(
                f"the store is full: {self.nbytes} of {self._budget} bytes used, this call may "
                f"need {added} more (policy 'refuse'; nothing of it was stored)",
                capacity=self._budget, requested=self.nbytes + added)

    # --- internals: segments ------------------------------------------------------------------

    def _pack(self, ch: _Channel) -> bytes:
        n = ch.n
        return _segment.pack(ch.cid, ch.ts[:n], ch.val[:n], ch.q[:n])

    def _seal_channel(self, ch: _Channel, blob: bytes | None = None) -> None:
        n = ch.n
        if n == 0:
            return
        if blob is None:
            blob = self._pack(ch)
        if ch.segments:
            ch.segments.append(blob)
        else:  # a list of exactly one: most channels of a small store never seal again
            ch.segments = [blob]
        ch.n = 0
        ch.last = None  # the newest timestamp is the new segment's last: read from its header
        self._seals += 1
        self._entry_bytes += _entry_bytes(blob)
        _telemetry.emit("memory.seal", readings=n, bytes_in=n * ch.rb, bytes_out=len(blob))

    def _oldest_resident(self) -> _Channel | None:
        """The channel whose first resident segment is the oldest (by first timestamp, then
        channel id), or None when no segment is resident."""
        best: _Channel | None = None
        best_key = (0, 0)
        for ch in self._channels.values():
            if ch.first_resident < len(ch.segments):
                key = (_t_first(ch.segments[ch.first_resident]), ch.cid)
                if best is None or key < best_key:
                    best, best_key = ch, key
        return best

    def _enforce(self, protect: _Channel | None) -> None:
        """Bring nbytes within the budget by the policy (drop_oldest, spill)."""
        if self._budget is None or self._policy == "refuse":
            return
        dropped = 0
        while self.nbytes > self._budget:
            oldest = self._oldest_resident()
            if oldest is not None:
                if self._sp is not None:
                    self._spill(oldest)
                else:
                    dropped += self._drop(oldest)
                continue
            # only hot buffers are left: seal the one holding the oldest reading
            victims = [ch for ch in self._channels.values() if ch is not protect and ch.cap]
            if not victims:
                break
            ch = min(victims, key=lambda c: (int(c.ts[0]) if c.n else _I64_MAX, c.cid))
            self._seal_channel(ch)
            self._release(ch)
        if dropped:
            _telemetry.emit("memory.drop", readings=dropped, reason="budget")
            _telemetry.emit("memory.usage", nbytes=self.nbytes)

    def _drop(self, ch: _Channel) -> int:
        """Drop ``ch``'s first resident segment; returns its readings."""
        if ch.last is None and ch.first_resident == len(ch.segments) - 1:
            ch.last = ch.newest()  # the newest timestamp outlives its segment
        blob = ch.segments.pop(ch.first_resident)
        n = _count(blob)
        self._entry_bytes -= _entry_bytes(blob)
        self._total -= n
        self._dropped += n
        return n

    def _spill(self, ch: _Channel) -> None:
        """Write ``ch``'s first resident segment to the directory (file ``seg-<seq>.eks``, seq
        counting up, so a channel's files sort in its order) and keep its header only."""
        sp = self._sp
        assert sp is not None
        i = ch.first_resident
        blob = ch.segments[i]
        _segment.write_file(sp.path / _seg_name(sp.seq), blob)
        entry = blob[:_segment.HEADER.size] + _SEQ.pack(sp.seq)
        sp.seq += 1
        ch.segments[i] = entry
        ch.first_resident = i + 1
        self._entry_bytes += _entry_bytes(entry) - _entry_bytes(blob)
        sp.spilled_readings += _count(entry)
        sp.disk_bytes += len(blob)

    def _open_dir(self, given: str | os.PathLike[str]) -> None:
        directory = Path(os.fspath(given))
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as err:
            raise OptionsError(f"spill_dir {directory} exists and is not a directory",
                               name="spill_dir", got=str(directory)) from err
        sp = self._sp = _SpillDir(directory, given)
        sp.lockfd = _lock_dir(directory)
        for leftover in directory.glob(f".*{_SUFFIX}.tmp*"):  # never acknowledged
            leftover.unlink()
        found: list[tuple[int, int, bytes, np.dtype]] = []  # (channel, seq, entry, dtype)
        renamed = False
        for path in directory.glob(f"seg-*{_SUFFIX}"):
            stem = path.name[4:-len(_SUFFIX)]
            if not stem.isdigit():
                continue
            seq = int(stem)
            if path.name != _seg_name(seq):  # seg-7.eks: the index names files by seq alone
                if (directory / _seg_name(seq)).exists():
                    raise CorruptDataError(f"{path} and {_seg_name(seq)} in {directory} have "
                                           f"the same sequence number", reason="inconsistent")
                path = path.rename(directory / _seg_name(seq))
                renamed = True
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(_segment.HEADER.size)
            try:
                dtype, n, cid, t0, t1, _ = _segment.parse_header(head, total=size)
            except FormatVersionError:
                raise
            except CorruptDataError as err:
                raise CorruptDataError(f"{path}: {err}", offset=err.offset,
                                       reason=err.reason) from err
            if self._fixed is not None and dtype != self._fixed:
                raise OptionsError(f"{path} holds {dtype} values but value_dtype is "
                                   f"{self._fixed.name}", name="value_dtype")
            found.append((cid, seq, head + _SEQ.pack(seq), _VALUE_DTYPES[dtype.name]))
        if renamed:
            fsync_dir(directory)
        found.sort(key=lambda f: f[:2])
        for cid, seq, entry, dtype in found:
            ch = self._channels.get(cid) or self._new_channel(cid, dtype)
            if ch.dtype != dtype:
                raise CorruptDataError(f"segments of channel {cid} in {directory} hold "
                                       f"both {ch.dtype} and {dtype} values",
                                       reason="inconsistent")
            if ch.segments and _t_first(entry) < _t_last(ch.segments[-1]):
                raise CorruptDataError(f"segments of channel {cid} overlap in time in "
                                       f"{directory}", reason="inconsistent")
            ch.segments.append(entry)
            ch.first_resident = len(ch.segments)  # ch.last stays None: read from the entry
            n = _count(entry)
            self._total += n
            sp.spilled_readings += n
            sp.disk_bytes += _seg_size(entry)
            self._entry_bytes += _entry_bytes(entry)
            sp.seq = max(sp.seq, seq + 1)

    # --- internals: reading ------------------------------------------------------------------

    def _channel_sources(self, ch: _Channel, t0: int | None, t1: int | None
                         ) -> tuple[int, list[Any]]:
        """What a query of ``ch`` must read: segment blobs or file names overlapping
        [t0, t1), then a copy of the matching hot readings (a snapshot)."""
        parts: list[Any] = []
        segs = ch.segments  # in time order: t_first and t_last never decrease along it
        start = 0 if t0 is None else bisect.bisect_left(segs, t0, key=_t_last)
        spilled = ch.first_resident
        for i in range(start, len(segs)):
            entry = segs[i]
            if t1 is not None and _t_first(entry) >= t1:
                break
            parts.append(entry if i >= spilled else self._sp.path / _spilled_name(entry))  # type: ignore[union-attr]
        if ch.n:
            ts = ch.ts[:ch.n]
            a = 0 if t0 is None else int(np.searchsorted(ts, t0, "left"))
            b = ch.n if t1 is None else int(np.searchsorted(ts, t1, "left"))
            if b > a:
                parts.append((ts[a:b].copy(), ch.val[a:b].copy(), ch.q[a:b].copy()))
        return ch.cid, parts

    @staticmethod
    def _decode(part: Any, t0: int | None, t1: int | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if isinstance(part, tuple):
            return part
        if isinstance(part, Path):
            try:
                part = part.read_bytes()
            except FileNotFoundError as err:
                raise CorruptDataError(f"spilled segment {part} is missing",
                                       reason="missing file") from err
        _, ts, v, q = _segment.unpack(part)
        a = 0 if t0 is None else int(np.searchsorted(ts, t0, "left"))
        b = ts.size if t1 is None else int(np.searchsorted(ts, t1, "left"))
        return ts[a:b], v[a:b], q[a:b]

    def _collect(self, t0: Any, t1: Any, channel: Any, with_channels: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
        t0 = None if t0 is None else _int_scalar(t0, "t0_ns", _I64_MIN, _I64_MAX)
        t1 = None if t1 is None else _int_scalar(t1, "t1_ns", _I64_MIN, _I64_MAX)
        with self._lock:
            if channel is None:
                chans = self._sorted_channels()
            else:
                cid = _int_scalar(channel, "channel", 0, _MAX_CHANNEL)
                chans = [self._channels[cid]] if cid in self._channels else []
            sources = [self._channel_sources(ch, t0, t1) for ch in chans]
            # one dtype for the result, whatever part of the range holds readings
            dtype = (np.result_type(*(ch.dtype for ch in chans)) if chans else
                     self._fixed if self._fixed is not None else _F64)
        ts_parts, v_parts, q_parts, c_parts = [], [], [], []
        for cid, parts in sources:
            for part in parts:
                ts, v, q = self._decode(part, t0, t1)
                if ts.size:
                    ts_parts.append(ts)
                    v_parts.append(v)
                    q_parts.append(q)
                    c_parts.append((cid, ts.size))
        if not ts_parts:
            return (np.empty(0, np.int64), np.empty(0, dtype), np.empty(0, np.uint8),
                    np.empty(0, np.uint32))
        if len(ts_parts) == 1:
            ts, v, q = ts_parts[0], v_parts[0], q_parts[0]
        else:
            ts, v, q = (np.concatenate(ts_parts), np.concatenate(v_parts),
                        np.concatenate(q_parts))
        if v.dtype != dtype:  # float32 channels queried with float64 ones: widened exactly
            v = v.astype(dtype)
        c = (np.concatenate([np.full(k, cid, np.uint32) for cid, k in c_parts])
             if with_channels else None)
        if len(sources) > 1:
            order = np.argsort(ts, kind="stable")
            ts, v, q = ts[order], v[order], q[order]
            if c is not None:
                c = c[order]
        return ts, v, q, c

    def _stream(self, cid: int, parts: list[Any]) -> Iterator[tuple[int, int, float, int]]:
        for part in parts:
            ts, v, q = self._decode(part, None, None)
            for t, val, qual in zip(ts.tolist(), v.tolist(), q.tolist(), strict=True):
                yield t, cid, val, qual


class ChannelView:
    """One channel of a :class:`ReadingStore` (from :meth:`ReadingStore.channel`)."""

    __slots__ = ("_id", "_store")

    def __init__(self, store: ReadingStore, channel: int) -> None:
        self._store = store
        self._id = channel

    @property
    def id(self) -> int:
        return self._id

    def append(self, timestamp_ns: int, value: float, quality: int = 0) -> None:
        self._store.append(timestamp_ns, value, quality, self._id)

    def extend(self, timestamps_ns: Any, values: Any, qualities: Any = None) -> int:
        return self._store.extend(timestamps_ns, values, qualities, self._id)

    def query(self, t0_ns: int | None = None, t1_ns: int | None = None) -> Readings:
        return self._store.query(t0_ns, t1_ns, self._id)

    @property
    def value_dtype(self) -> np.dtype | None:
        """The dtype this channel stores its values in (fixed by its first readings, or by
        :attr:`StoreOptions.value_dtype`), or None before its first reading."""
        with self._store._lock:
            ch = self._store._channels.get(self._id)
            return None if ch is None else ch.dtype

    @property
    def last_timestamp_ns(self) -> int | None:
        """The newest timestamp this channel accepted, or None."""
        with self._store._lock:
            ch = self._store._channels.get(self._id)
            return None if ch is None else ch.newest()

    def __len__(self) -> int:
        with self._store._lock:
            ch = self._store._channels.get(self._id)
            if ch is None:
                return 0
            return ch.n + sum(map(_count, ch.segments))

    def __iter__(self) -> Iterator[SensorReading]:
        store = self._store
        with store._lock:
            ch = store._channels.get(self._id)
            if ch is None:
                return
            cid, parts = store._channel_sources(ch, None, None)
        for t, c, v, q in store._stream(cid, parts):
            yield SensorReading(t, v, q, c)
