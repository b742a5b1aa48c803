"""numpy references for the delta and zigzag kernels in ``_native/delta.c``.

They work on the *unsigned* view of an integer array: numpy's integer ufuncs wrap modulo
2**W, so the bits are the same as for the signed dtype.  Inputs are already validated
(C-contiguous 1-D unsigned arrays); each function returns a new array.
"""

from __future__ import annotations

import numpy as np


def delta_encode(u: np.ndarray, order: int) -> np.ndarray:
    """Order-``order`` delta: order 1 is ``d[0] = u[0]``, ``d[i] = u[i] - u[i-1]``."""
    d = u.copy()
    for _ in range(order):
        # d[1:] = d[1:] - d[:-1], computed from the old values
        d[1:] = np.subtract(d[1:], d[:-1])
    return d


def delta_decode(d: np.ndarray, order: int) -> np.ndarray:
    """Inverse of :func:`delta_encode`: ``order`` wrapping prefix sums."""
    u = d.copy()
    for _ in range(order):
        np.cumsum(u, dtype=u.dtype, out=u)
    return u


def zigzag_encode(u: np.ndarray) -> np.ndarray:
    """``(v << 1) ^ (v >> (W-1))`` with an arithmetic shift of the signed reading of v."""
    bits = u.dtype.itemsize * 8
    signed = u.view(u.dtype.str.replace("u", "i"))
    return (u << 1) ^ (signed >> (bits - 1)).view(u.dtype)


def zigzag_decode(z: np.ndarray) -> np.ndarray:
    """Inverse of :func:`zigzag_encode`: ``(z >> 1) ^ -(z & 1)``."""
    one = z.dtype.type(1)
    return (z >> one) ^ (np.zeros_like(z) - (z & one))


def delta_zigzag_encode(u: np.ndarray, order: int) -> np.ndarray:
    return zigzag_encode(delta_encode(u, order))


def delta_zigzag_decode(z: np.ndarray, order: int) -> np.ndarray:
    return delta_decode(zigzag_decode(z), order)
