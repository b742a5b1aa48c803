"""The delta engine's inner parts: suffix array, matcher batches, diff/extra streams.

The native backend runs the matcher in C (``_native/update.c``) over a suffix array from
libdivsufsort (``pydivsufsort``, in the ``[update]`` extra) when it is installed; the
reference backend, or a machine without pydivsufsort, uses the numpy/Python references in
``_bsdiff_ref``: the same patches, much slower.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from edgekit import _backend
from edgekit.errors import InputError
from edgekit.update import _bsdiff_ref

BATCH = 4096
"""Control entries per batch: the unit the matcher yields and the patch stores."""

MAX_SIZE = 2**31 - 2
"""Largest old or new file the matcher takes (its suffix array holds int32)."""


def suffix_array(old: bytes) -> np.ndarray:
    """int32 suffix array of ``old``: libdivsufsort when available, else prefix doubling."""
    if len(old) > MAX_SIZE:
        raise InputError(f"old has {len(old)} bytes; the delta engine takes at most {MAX_SIZE}",
                         name="old", expected=MAX_SIZE, got=len(old))
    if _backend.lib is not None:
        try:
            import pydivsufsort
        except ImportError:
            pydivsufsort = None
        if pydivsufsort is not None and len(old) > 0:
            sa = pydivsufsort.divsufsort(bytes(old))
            return np.ascontiguousarray(sa, dtype=np.int32)
    return _bsdiff_ref.suffix_array(bytes(old))


def _u8(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8) if len(data) else np.zeros(1, dtype=np.uint8)


def scan_batches(old: bytes, new: bytes, sa: np.ndarray,
                 batch: int = BATCH) -> Iterator[np.ndarray]:
    """Control entries (int64 rows ``newpos, oldpos, addlen, copylen``) in batches of at most
    ``batch`` rows, tiling ``new`` in order."""
    if sa.dtype != np.int32 or sa.shape != (len(old),) or not sa.flags.c_contiguous:
        raise InputError("sa must be the C-contiguous int32 suffix array of old", name="sa")
    lib = _backend.lib
    if lib is None:
        rows: list[tuple[int, int, int, int]] = []
        for entry in _bsdiff_ref.scan(bytes(old), bytes(new), sa):
            rows.append(entry)
            if len(rows) == batch:
                yield np.array(rows, dtype=np.int64)
                rows = []
        if rows:
            yield np.array(rows, dtype=np.int64)
        return
    ffi = _backend.ffi
    o, n = _u8(old), _u8(new)
    sa_arr = sa if sa.size else np.zeros(1, dtype=np.int32)
    state = np.zeros(8, dtype=np.int64)
    ctrl = np.empty((batch, 4), dtype=np.int64)
    count = ffi.new("int64_t *")
    while True:
        status = lib.ek_bsdiff_scan(
            ffi.cast("uint8_t *", o.ctypes.data), len(old),
            ffi.cast("uint8_t *", n.ctypes.data), len(new),
            ffi.cast("int32_t *", sa_arr.ctypes.data),
            ffi.cast("int64_t *", state.ctypes.data),
            ffi.cast("int64_t *", ctrl.ctypes.data), batch, count,
        )
        if status < 0:  # every argument was checked above: a bug, not bad input
            raise RuntimeError(f"ek_bsdiff_scan returned status {status}")
        if count[0]:
            yield ctrl[: count[0]].copy()
        if status == 0:
            return


def streams(old: bytes, new: bytes, ctrl: np.ndarray) -> tuple[bytes, bytes]:
    """The diff bytes (new - old, modulo 256) and extra bytes of a batch of entries."""
    lib = _backend.lib
    o, n = _u8(old), _u8(new)
    if lib is None:
        return _bsdiff_ref.streams(o, n, ctrl)
    ctrl = np.ascontiguousarray(ctrl, dtype=np.int64)
    ndiff, nextra = int(ctrl[:, 2].sum()), int(ctrl[:, 3].sum())
    diff = np.empty(max(ndiff, 1), dtype=np.uint8)
    extra = np.empty(max(nextra, 1), dtype=np.uint8)
    ffi = _backend.ffi
    status = lib.ek_bsdiff_streams(
        ffi.cast("uint8_t *", o.ctypes.data), len(old),
        ffi.cast("uint8_t *", n.ctypes.data), len(new),
        ffi.cast("int64_t *", ctrl.ctypes.data), ctrl.shape[0],
        ffi.cast("uint8_t *", diff.ctypes.data), ndiff,
        ffi.cast("uint8_t *", extra.ctypes.data), nextra,
    )
    if status != 0:
        raise RuntimeError(f"ek_bsdiff_streams returned status {status}")
    return diff[:ndiff].tobytes(), extra[:nextra].tobytes()


def add_into(diff: np.ndarray, old: np.ndarray) -> None:
    """``diff += old`` modulo 256, in place (uint8 arrays of one length)."""
    lib = _backend.lib
    if lib is None or diff.size < 4096:
        np.add(diff, old, out=diff)
        return
    ffi = _backend.ffi
    status = lib.ek_bspatch_add(ffi.cast("uint8_t *", diff.ctypes.data),
                                ffi.cast("uint8_t *", old.ctypes.data), diff.size)
    if status != 0:
        raise RuntimeError(f"ek_bspatch_add returned status {status}")
