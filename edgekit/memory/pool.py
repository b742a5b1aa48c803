"""Bounded pools: reusable numpy buffers and reusable objects, with statistics.

A gateway that decodes or preprocesses the same shapes again and again (a frame, a segment,
a batch) spends time and fragments its heap allocating buffers it drops a moment later.  A
pool keeps released buffers and hands them out again.  Both pools are *bounded*: what would
make the free list exceed its bound is let go (and counted), so a burst cannot pin memory for
ever.  Both are thread-safe.  A buffer or object must be released once, to the pool it came
from; anything else raises :class:`~edgekit.errors.InputError`.

>>> pool = BufferPool(max_free_bytes=1 << 20)
>>> with pool.borrow((480, 640), np.uint8) as frame:
...     frame[:] = 0
>>> with pool.borrow((640, 480), np.uint8) as again:   # same bytes: reused, not allocated
...     pass
>>> pool.stats().reused
1
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import DTypeLike

from edgekit.errors import InputError, InputTypeError

__all__ = ["BufferPool", "ObjectPool", "PoolStats"]

T = TypeVar("T")
_MIN_BYTES = 64


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Counters of a pool since it was made.

    Attributes:
        acquired: buffers/objects handed out; reused: of those, taken from the free list;
        created: of those, newly allocated; released: given back; discarded: given back but
        not kept (the free list was at its bound); outstanding: handed out, not yet back;
        free: kept for reuse now; free_bytes: their bytes (buffer pool; 0 for objects).
    """

    acquired: int
    reused: int
    created: int
    released: int
    discarded: int
    outstanding: int
    free: int
    free_bytes: int

    @property
    def hit_rate(self) -> float:
        """Fraction of acquisitions served from the free list (NaN before the first)."""
        return self.reused / self.acquired if self.acquired else math.nan


def _bucket(nbytes: int) -> int:
    """Capacity class of a request: the next power of two, at least 64 bytes."""
    return max(_MIN_BYTES, 1 << max(0, nbytes - 1).bit_length())


class BufferPool:
    """Reusable C-contiguous numpy buffers of any shape and dtype.

    A request is served from a raw byte block of the next power-of-two size (so shapes that
    differ a little share blocks); the block is kept on release while the free blocks total
    at most ``max_free_bytes``.  Buffers come back uninitialised unless ``zero=True``.
    """

    def __init__(self, max_free_bytes: int = 64 << 20) -> None:
        if isinstance(max_free_bytes, bool) or not isinstance(max_free_bytes, int) or (
                max_free_bytes < 0):
            raise InputError("max_free_bytes must be an int >= 0", name="max_free_bytes",
                             got=max_free_bytes)
        self._max = max_free_bytes
        self._lock = threading.Lock()
        self._free: dict[int, list[np.ndarray]] = {}
        self._out: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(view) -> (view, block)
        self._free_bytes = 0
        self._n = {"acquired": 0, "reused": 0, "created": 0, "released": 0, "discarded": 0}

    def acquire(self, shape: int | tuple[int, ...], dtype: DTypeLike = np.float64, *,
                zero: bool = False) -> np.ndarray:
        """A C-contiguous array of ``shape`` and ``dtype`` (from the free list when one
        fits).  Give it back with :meth:`release`."""
        try:
            dt = np.dtype(dtype)
        except TypeError as err:
            raise InputTypeError(f"dtype {dtype!r} is not a numpy dtype", name="dtype") from err
        if dt.hasobject:
            raise InputTypeError("object dtypes cannot be pooled", name="dtype", got=str(dt))
        shp = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0
                   for s in shp):
            raise InputError(f"shape must be non-negative ints, got {shape!r}", name="shape",
                             got=shape)
        nbytes = math.prod(int(s) for s in shp) * dt.itemsize
        size = _bucket(nbytes)
        with self._lock:
            stack = self._free.get(size)
            if stack:
                block = stack.pop()
                self._free_bytes -= size
                self._n["reused"] += 1
            else:
                block = None
                self._n["created"] += 1
            self._n["acquired"] += 1
        if block is None:
            block = np.empty(size, np.uint8)
        view = block[:nbytes].view(dt).reshape(shp)
        if zero:
            view.fill(0)
        with self._lock:
            self._out[id(view)] = (view, block)
        return view

    def release(self, buf: np.ndarray) -> None:
        """Give back a buffer from :meth:`acquire`; do not use it afterwards."""
        with self._lock:
            entry = self._out.get(id(buf))
            if entry is None or entry[0] is not buf:
                raise InputError("this array was not acquired from this pool, or was already "
                                 "released", name="buf")
            del self._out[id(buf)]
            block = entry[1]
            self._n["released"] += 1
            if self._free_bytes + block.size > self._max:
                self._n["discarded"] += 1
                return
            self._free.setdefault(block.size, []).append(block)
            self._free_bytes += block.size

    @contextmanager
    def borrow(self, shape: int | tuple[int, ...], dtype: DTypeLike = np.float64, *,
               zero: bool = False) -> Iterator[np.ndarray]:
        """``with pool.borrow(shape, dtype) as buf:``: acquire, then release on exit."""
        buf = self.acquire(shape, dtype, zero=zero)
        try:
            yield buf
        finally:
            self.release(buf)

    def clear(self) -> None:
        """Let every free buffer go (outstanding ones are unaffected)."""
        with self._lock:
            self._free.clear()
            self._free_bytes = 0

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(outstanding=len(self._out),
                             free=sum(len(s) for s in self._free.values()),
                             free_bytes=self._free_bytes, **self._n)


class ObjectPool(Generic[T]):
    """Reusable objects made by ``factory()``; ``reset(obj)`` (if given) runs on release,
    before the object is kept; at most ``max_free`` objects are kept."""

    def __init__(self, factory: Callable[[], T], *, max_free: int = 64,
                 reset: Callable[[T], object] | None = None) -> None:
        if not callable(factory):
            raise InputTypeError("factory must be callable", name="factory")
        if reset is not None and not callable(reset):
            raise InputTypeError("reset must be callable or None", name="reset")
        if isinstance(max_free, bool) or not isinstance(max_free, int) or max_free < 0:
            raise InputError("max_free must be an int >= 0", name="max_free", got=max_free)
        self._factory = factory
        self._reset = reset
        self._max = max_free
        self._lock = threading.Lock()
        self._free: list[T] = []
        self._out: dict[int, T] = {}
        self._n = {"acquired": 0, "reused": 0, "created": 0, "released": 0, "discarded": 0}

    def acquire(self) -> T:
        with self._lock:
            self._n["acquired"] += 1
            if self._free:
                obj = self._free.pop()
                self._n["reused"] += 1
                self._out[id(obj)] = obj
                return obj
            self._n["created"] += 1
        obj = self._factory()
        with self._lock:
            if id(obj) in self._out:
                raise InputError("factory returned an object that is already handed out",
                                 name="factory")
            self._out[id(obj)] = obj
        return obj

    def release(self, obj: T) -> None:
        with self._lock:
            if self._out.get(id(obj)) is not obj:
                raise InputError("this object was not acquired from this pool, or was "
                                 "already released", name="obj")
            del self._out[id(obj)]
            self._n["released"] += 1
        if self._reset is not None:
            self._reset(obj)
        with self._lock:
            if len(self._free) >= self._max:
                self._n["discarded"] += 1
                return
            self._free.append(obj)

    @contextmanager
    def borrow(self) -> Iterator[T]:
        obj = self.acquire()
        try:
            yield obj
        finally:
            self.release(obj)

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(outstanding=len(self._out), free=len(self._free), free_bytes=0,
                             **self._n)
