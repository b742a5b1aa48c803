"""Delta and zigzag coding of integer arrays: the transforms under edgekit's codecs.

Definitions (W is the dtype's width in bits; all arithmetic wraps modulo 2**W, exactly like
numpy's integer ufuncs, so every int and uint array round-trips bit for bit):

* order-1 delta: ``d[0] = x[0]``, ``d[i] = x[i] - x[i-1]`` (an implicit zero before the first
  element, so the first value is kept, unlike the article's ``np.diff(x, prepend=x[0])``);
* order-k delta: the order-1 delta applied k times (k in 0..2; order 2 is delta-of-delta,
  which turns a steady ramp into zeros);
* zigzag: maps a signed value v to ``(v << 1) ^ (v >> (W-1))``: 0, -1, 1, -2... become
  0, 1, 2, 3..., so small magnitudes of either sign become small unsigned codes.

Each function takes a 1-D ndarray of int8..int64 or uint8..uint64 (a strided array is copied
first; other dtypes raise :class:`~edgekit.errors.InputTypeError`, other shapes
:class:`~edgekit.errors.InputError`) and an optional ``out`` array to write into, which must
be C-contiguous with the result's dtype and length.  The C kernels run when the native
backend is loaded; the numpy references in ``_delta_ref`` otherwise, with the same bits.

>>> import numpy as np
>>> x = np.array([1000, 1002, 1001, 1001], dtype=np.int32)
>>> delta_zigzag_encode(x)
array([2000,    4,    1,    0], dtype=uint32)
>>> delta_zigzag_decode(delta_zigzag_encode(x), np.int32)
array([1000, 1002, 1001, 1001], dtype=int32)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike

from edgekit import _backend
from edgekit._validate import (
    INTEGER_DTYPES,
    SIGNED_BY_SIZE,
    UNSIGNED_BY_SIZE,
    array_1d,
    int_in_range,
    out_array,
)
from edgekit.compress import _delta_ref
from edgekit.errors import InputError, InputTypeError

__all__ = [
    "delta_decode",
    "delta_encode",
    "delta_zigzag_decode",
    "delta_zigzag_encode",
    "zigzag_decode",
    "zigzag_encode",
]

MAX_ORDER = 2
_UNSIGNED = tuple(UNSIGNED_BY_SIZE.values())
_CTYPE = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t", 8: "uint64_t"}


def _run(kernel: str, ref: Callable[..., np.ndarray], u: np.ndarray, out: np.ndarray,
         *args: int) -> None:
    """Run ``kernel`` (native) or ``ref`` (numpy) from the unsigned array ``u`` into ``out``
    (an unsigned view of the caller's output)."""
    lib = _backend.lib
    if lib is None:
        out[...] = ref(u, *args)
        return
    size = u.dtype.itemsize
    ffi = _backend.ffi
    ctype = _CTYPE[size]
    status = getattr(lib, f"ek_{kernel}_u{size * 8}")(
        ffi.cast(f"{ctype} *", u.ctypes.data), ffi.cast(f"{ctype} *", out.ctypes.data),
        u.size, *args,
    )
    if status != lib.EK_OK:  # the wrapper validated everything; this is a bug, not bad input
        raise RuntimeError(f"ek_{kernel} returned status {status}")


def _as_unsigned(x: np.ndarray) -> np.ndarray:
    return x.view(UNSIGNED_BY_SIZE[x.dtype.itemsize])


def _target_dtype(dtype: DTypeLike, width: int, name: str = "dtype") -> np.dtype:
    try:
        target = np.dtype(dtype)
    except TypeError as err:
        raise InputTypeError(f"{name} {dtype!r} is not a numpy dtype", name=name) from err
    if target not in INTEGER_DTYPES:
        raise InputTypeError(f"{name} must be an integer dtype, got {target}", name=name,
                             got=str(target))
    if target.itemsize != width:
        raise InputError(
            f"{name} {target} has {target.itemsize * 8} bits but the codes have {width * 8}",
            name=name, expected=width * 8, got=target.itemsize * 8,
        )
    return target


def delta_encode(x: np.ndarray, order: int = 1, *, out: np.ndarray | None = None) -> np.ndarray:
    """Order-``order`` delta of ``x`` (same dtype as ``x``)."""
    x = array_1d(x, "x", INTEGER_DTYPES)
    order = int_in_range(order, "order", 0, MAX_ORDER)
    result = out_array(out, "out", x.size, x.dtype)
    _run("delta_encode", _delta_ref.delta_encode, _as_unsigned(x), _as_unsigned(result), order)
    return result


def delta_decode(d: np.ndarray, order: int = 1, *, out: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`delta_encode` (same dtype as ``d``)."""
    d = array_1d(d, "d", INTEGER_DTYPES)
    order = int_in_range(order, "order", 0, MAX_ORDER)
    result = out_array(out, "out", d.size, d.dtype)
    _run("delta_decode", _delta_ref.delta_decode, _as_unsigned(d), _as_unsigned(result), order)
    return result


def delta_zigzag_encode(
    x: np.ndarray, order: int = 1, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Fused order-``order`` delta then zigzag, in one pass: unsigned codes of ``x``'s width."""
    x = array_1d(x, "x", INTEGER_DTYPES)
    order = int_in_range(order, "order", 0, MAX_ORDER)
    u = _as_unsigned(x)
    result = out_array(out, "out", x.size, u.dtype)
    _run("delta_zigzag_encode", _delta_ref.delta_zigzag_encode, u, result, order)
    return result


def delta_zigzag_decode(
    z: np.ndarray, dtype: DTypeLike, order: int = 1, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Inverse of :func:`delta_zigzag_encode`: unsigned codes back to ``dtype`` (an integer
    dtype of the codes' width)."""
    z = array_1d(z, "z", _UNSIGNED)
    target = _target_dtype(dtype, z.dtype.itemsize)
    order = int_in_range(order, "order", 0, MAX_ORDER)
    result = out_array(out, "out", z.size, target)
    _run("delta_zigzag_decode", _delta_ref.delta_zigzag_decode, z, _as_unsigned(result), order)
    return result


def zigzag_encode(x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Zigzag codes of ``x`` (read as signed), as the unsigned dtype of the same width."""
    return delta_zigzag_encode(x, 0, out=out)


def zigzag_decode(
    z: np.ndarray, dtype: DTypeLike | None = None, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Inverse of :func:`zigzag_encode`; ``dtype`` defaults to the signed type of ``z``'s
    width."""
    if dtype is None:
        if not isinstance(z, np.ndarray):
            raise InputTypeError("z must be a numpy.ndarray", name="z", got=type(z).__name__)
        dtype = SIGNED_BY_SIZE.get(z.dtype.itemsize, z.dtype)
    return delta_zigzag_decode(z, dtype, 0, out=out)
