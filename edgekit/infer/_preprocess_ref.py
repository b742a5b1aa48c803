"""numpy reference for ``ek_infer_preprocess`` (``_native/infer.c``).

Same tables, same float32 operations in the same order as the C kernel (see
``_native/infer.h``), so both give the same bits: every product and sum below is one
float32 ufunc call, and rounding is ``np.rint`` (half to even, like C's ``nearbyintf``).
Inputs are already validated by :mod:`edgekit.infer.letterbox`.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def _normalise(v: np.ndarray, mul: float, add: float) -> np.ndarray:
    return np.multiply(v, F32(mul), dtype=F32) + F32(add)


def _quantise(n: np.ndarray, dtype: np.dtype, qscale: float, zero_point: int) -> np.ndarray:
    if dtype == np.float32:
        return n
    info = np.iinfo(dtype)
    t = np.rint(np.divide(n, F32(qscale), dtype=F32)) + F32(zero_point)
    return np.clip(t, F32(info.min), F32(info.max)).astype(dtype)


def preprocess(img: np.ndarray, out: np.ndarray, tables: tuple, pad_pixel: float, mul: float,
               add: float, qscale: float, zero_point: int) -> None:
    """Fill ``out`` (out_h x out_w x 3) from ``img`` (H x W x 3 uint8); see infer.h."""
    x0, x1, wx0, wx1, col_lo, col_hi, y0, y1, wy0, wy1, row_lo, row_hi = tables
    pad = _normalise(np.full((), pad_pixel, dtype=F32), mul, add)
    out[...] = _quantise(np.full((1,), pad, dtype=F32), out.dtype, qscale, zero_point)[0]
    if col_hi <= col_lo or row_hi <= row_lo:
        return
    cols = slice(col_lo, col_hi)
    rows = slice(row_lo, row_hi)
    m = F32(mul)
    a, b = wy0[rows][:, None], wy1[rows][:, None]
    w00 = ((a * wx0[cols][None, :]) * m)[..., None]
    w01 = ((a * wx1[cols][None, :]) * m)[..., None]
    w10 = ((b * wx0[cols][None, :]) * m)[..., None]
    w11 = ((b * wx1[cols][None, :]) * m)[..., None]
    top_rows = img[y0[rows]]  # (h, W, 3) uint8
    bot_rows = img[y1[rows]]
    n = top_rows[:, x0[cols]].astype(F32) * w00
    n = n + top_rows[:, x1[cols]].astype(F32) * w01
    n = n + bot_rows[:, x0[cols]].astype(F32) * w10
    n = n + bot_rows[:, x1[cols]].astype(F32) * w11
    n = n + F32(add)
    out[rows, cols] = _quantise(n, out.dtype, qscale, zero_point)
