"""Argument checks shared by the wrappers that hand arrays to C kernels.

A wrapper calls these before any C call, so a kernel only ever sees a C-contiguous array of
the dtype and length it expects.  They raise :class:`~edgekit.errors.InputTypeError`
(a ``TypeError``) for a wrong type or dtype and :class:`~edgekit.errors.InputError`
(a ``ValueError``) for a wrong shape or layout.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from edgekit.errors import InputError, InputTypeError

INTEGER_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(t) for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
)
UNSIGNED_BY_SIZE = {1: np.dtype("uint8"), 2: np.dtype("uint16"), 4: np.dtype("uint32"),
                    8: np.dtype("uint64")}
SIGNED_BY_SIZE = {1: np.dtype("int8"), 2: np.dtype("int16"), 4: np.dtype("int32"),
                  8: np.dtype("int64")}


def _names(dtypes: Collection[np.dtype]) -> str:
    return ", ".join(str(d) for d in dtypes)


def array_1d(x: object, name: str, dtypes: Collection[np.dtype]) -> np.ndarray:
    """``x`` as a C-contiguous 1-D ndarray of one of ``dtypes`` (native byte order).

    A strided or non-native-order array is copied; anything that is not an ndarray, or has
    another dtype or number of dimensions, is refused (no silent casting: a float array given
    to an integer kernel is an error, not a truncation).
    """
    if not isinstance(x, np.ndarray):
        raise InputTypeError(
            f"{name} must be a numpy.ndarray, got {type(x).__name__}", name=name,
            expected="numpy.ndarray", got=type(x).__name__,
        )
    if x.ndim != 1:
        raise InputError(
            f"{name} must be 1-D, got shape {x.shape}", name=name, expected="1-D", got=x.shape
        )
    dtype = x.dtype.newbyteorder("=")
    if dtype not in dtypes:
        raise InputTypeError(
            f"{name} has dtype {x.dtype}; supported: {_names(dtypes)}", name=name,
            expected=tuple(str(d) for d in dtypes), got=str(x.dtype),
        )
    return np.ascontiguousarray(x, dtype=dtype)


def out_array(out: np.ndarray | None, name: str, n: int, dtype: np.dtype) -> np.ndarray:
    """A fresh output array, or the caller's ``out`` after checking that it is a writable,
    C-contiguous 1-D array of exactly ``dtype`` and length ``n``."""
    if out is None:
        return np.empty(n, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray", name=name,
                             got=type(out).__name__)
    if out.dtype != dtype:
        raise InputTypeError(f"{name} must have dtype {dtype}, got {out.dtype}", name=name,
                             expected=str(dtype), got=str(out.dtype))
    if out.shape != (n,):
        raise InputError(f"{name} must have shape ({n},), got {out.shape}", name=name,
                         expected=(n,), got=out.shape)
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise InputError(f"{name} must be C-contiguous and writable", name=name)
    return out


def int_in_range(value: object, name: str, lo: int, hi: int) -> int:
    """``value`` as an int in ``lo..hi`` inclusive (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(f"{name} must be an int, got {type(value).__name__}", name=name)
    if not lo <= int(value) <= hi:
        raise InputError(f"{name} must be in {lo}..{hi}, got {value}", name=name,
                         expected=(lo, hi), got=value)
    return int(value)
