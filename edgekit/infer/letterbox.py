"""Letterbox resize + normalisation + quantisation of an RGB image into a model's input
tensor, without TensorFlow.

The geometry (:class:`Letterbox`) scales the image by one factor so that it fits the model's
input (keeping its aspect ratio) and centres it, padding the rest with ``pad_pixel``; with
``keep_aspect=False`` it stretches instead.  Sampling is bilinear with pixel centres at
half-integers (``align_corners=False``, clamped at the border, like OpenCV's ``INTER_LINEAR``
and TF's ``resize(..., half_pixel_centers=True)``).  Pixel values 0..255 map linearly onto
``value_range`` (``[-1, 1]`` for BlazeFace: ``n = v * mul + add``, the factor folded into the
four bilinear weights, in the float order ``_native/infer.h`` defines), then, for a quantised
input tensor, ``clamp(rint(n / scale) + zero_point)`` in the tensor's dtype.

The O(width + height) coordinate tables are computed here in numpy; the O(width x height)
work is the C kernel ``ek_infer_preprocess`` or its numpy reference, which give the same bits.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from edgekit import _backend
from edgekit.errors import InputError, InputTypeError
from edgekit.infer import _preprocess_ref

__all__ = ["Letterbox", "check_image", "preprocess"]

_OUT_TYPES = {np.dtype(np.float32): 0, np.dtype(np.uint8): 1, np.dtype(np.int8): 2}


def check_image(image: object, name: str = "image") -> np.ndarray:
    """``image`` as a C-contiguous H x W x 3 uint8 array (a strided view is copied).

    Raises :class:`~edgekit.errors.InputTypeError` for a non-array or another dtype (no
    silent conversion: a float image in [0, 1] would otherwise turn black) and
    :class:`~edgekit.errors.InputError` for another shape or an empty image.
    """
    if not isinstance(image, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray (H x W x 3 uint8), got "
                             f"{type(image).__name__}", name=name, expected="numpy.ndarray",
                             got=type(image).__name__)
    if image.dtype != np.uint8:
        raise InputTypeError(f"{name} must have dtype uint8 (RGB 0..255), got {image.dtype}",
                             name=name, expected="uint8", got=str(image.dtype))
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{name} must have shape (H, W, 3) (RGB), got {image.shape}",
                         name=name, expected="(H, W, 3)", got=image.shape)
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"{name} is empty: shape {image.shape}", name=name, got=image.shape)
    if image.shape[0] > 2**30 or image.shape[1] > 2**30:
        raise InputError(f"{name} is too large: shape {image.shape}", name=name)
    return np.ascontiguousarray(image)


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image of ``src_h`` x ``src_w`` pixels maps into a ``dst_h`` x ``dst_w`` input.

    ``scale_x``/``scale_y`` are model pixels per image pixel; ``pad_x``/``pad_y`` the model
    pixels of padding left and top (fractional).  Equal scales when the aspect ratio is kept.
    """

    src_h: int
    src_w: int
    dst_h: int
    dst_w: int
    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float

    @classmethod
    def fit(cls, src_h: int, src_w: int, dst_h: int, dst_w: int,
            keep_aspect: bool = True) -> Letterbox:
        if min(src_h, src_w, dst_h, dst_w) <= 0:
            raise InputError("letterbox sizes must be positive",
                             got=(src_h, src_w, dst_h, dst_w))
        sx, sy = dst_w / src_w, dst_h / src_h
        if keep_aspect:
            sx = sy = min(sx, sy)
        return cls(src_h, src_w, dst_h, dst_w, sx, sy, (dst_w - src_w * sx) / 2.0,
                   (dst_h - src_h * sy) / 2.0)

    def to_image(self, x_norm: np.ndarray, y_norm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised model coordinates (0..1 across the input tensor) to image pixels."""
        x = (np.asarray(x_norm, np.float64) * self.dst_w - self.pad_x) / self.scale_x
        y = (np.asarray(y_norm, np.float64) * self.dst_h - self.pad_y) / self.scale_y
        return x, y

    def _axis(self, n_dst: int, n_src: int, scale: float, pad: float) -> tuple:
        centres = np.arange(n_dst, dtype=np.float64) + 0.5
        src = (centres - pad) / scale - 0.5
        valid = (src >= -0.5) & (src <= n_src - 0.5)
        idx = np.flatnonzero(valid)
        lo, hi = (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)
        s = np.clip(src, 0.0, n_src - 1)
        i0 = np.floor(s).astype(np.int64)
        i0 = np.clip(i0, 0, n_src - 1)
        i1 = np.minimum(i0 + 1, n_src - 1)
        frac = (s - i0).astype(np.float32)
        w1 = frac
        w0 = (np.float32(1.0) - frac).astype(np.float32)
        return (i0.astype(np.int32), i1.astype(np.int32), w0, w1, lo, hi)

    def tables(self) -> tuple:
        """(x0, x1, wx0, wx1, col_lo, col_hi, y0, y1, wy0, wy1, row_lo, row_hi) for the
        kernel (read-only arrays, cached per geometry)."""
        return _tables(self)


@functools.lru_cache(maxsize=16)
def _tables(lb: Letterbox) -> tuple:
    t = (lb._axis(lb.dst_w, lb.src_w, lb.scale_x, lb.pad_x)
         + lb._axis(lb.dst_h, lb.src_h, lb.scale_y, lb.pad_y))
    for a in t:
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return t


@functools.lru_cache(maxsize=16)
def _table_pointers(lb: Letterbox) -> tuple:
    """The cffi pointers of the cached tables (the arrays stay alive in the _tables cache
    entry, which this entry keeps a reference to)."""
    ffi = _backend.ffi
    t = _tables(lb)
    kinds = ("int32_t *", "int32_t *", "float *", "float *")
    ptrs = tuple(ffi.cast(k, a.ctypes.data) for k, a in zip(kinds * 2, t[0:4] + t[6:10],
                                                               strict=True))
    return t, ptrs


def preprocess(image: np.ndarray, out: np.ndarray, letterbox: Letterbox | None = None, *,
               value_range: tuple[float, float] = (0.0, 1.0), quant_scale: float = 0.0,
               zero_point: int = 0, pad_pixel: float = 0.0,
               keep_aspect: bool = True) -> Letterbox:
    """Write ``image`` (H x W x 3 uint8) into ``out`` (h x w x 3 float32, uint8 or int8, or
    the same with a leading batch dimension of 1) and return the :class:`Letterbox` used.

    ``value_range`` (lo, hi) is what pixel values 0 and 255 become before quantisation;
    ``quant_scale``/``zero_point`` are the input tensor's quantisation (required for uint8
    and int8 outputs, ignored for float32).
    """
    img = check_image(image)
    if not isinstance(out, np.ndarray):
        raise InputTypeError("out must be a numpy.ndarray", name="out", got=type(out).__name__)
    view = out[0] if out.ndim == 4 and out.shape[0] == 1 else out
    if view.ndim != 3 or view.shape[2] != 3 or view.shape[0] == 0 or view.shape[1] == 0:
        raise InputError(f"out must have shape (h, w, 3) or (1, h, w, 3), got {out.shape}",
                         name="out", got=out.shape)
    if out.dtype not in _OUT_TYPES:
        raise InputTypeError(f"out must be float32, uint8 or int8, got {out.dtype}",
                             name="out", got=str(out.dtype))
    if not view.flags.c_contiguous or not view.flags.writeable:
        raise InputError("out must be C-contiguous and writable", name="out")
    lo, hi = (float(v) for v in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
        raise InputError(f"value_range must be two different finite numbers, got "
                         f"{value_range}", name="value_range", got=value_range)
    quantised = out.dtype != np.float32
    if quantised and not (math.isfinite(quant_scale) and quant_scale > 0):
        raise InputError(f"a {out.dtype} input needs a positive quant_scale, got "
                         f"{quant_scale}", name="quant_scale", got=quant_scale)
    h, w = view.shape[:2]
    if letterbox is None:
        letterbox = Letterbox.fit(img.shape[0], img.shape[1], h, w, keep_aspect)
    elif (letterbox.src_h, letterbox.src_w, letterbox.dst_h, letterbox.dst_w) != (
            img.shape[0], img.shape[1], h, w):
        raise InputError("letterbox was computed for other sizes", name="letterbox")
    _fill(img, view, letterbox, (hi - lo) / 255.0, lo, float(quant_scale) if quantised else 1.0,
          int(zero_point) if quantised else 0, float(pad_pixel))
    return letterbox


def _fill(img: np.ndarray, view: np.ndarray, letterbox: Letterbox, mul: float, add: float,
          qscale: float, zp: int, pad_pixel: float) -> None:
    """The kernel call on checked arguments (``view``: h x w x 3, C-contiguous, writable)."""
    tables = letterbox.tables()
    lib = _backend.lib
    if lib is None:
        _preprocess_ref.preprocess(img, view, tables, pad_pixel, mul, add, qscale, zp)
        return
    ffi = _backend.ffi
    _, (x0, x1, wx0, wx1, y0, y1, wy0, wy1) = _table_pointers(letterbox)
    status = lib.ek_infer_preprocess(
        ffi.from_buffer("uint8_t[]", img), img.shape[0], img.shape[1], ffi.from_buffer(view),
        _OUT_TYPES[view.dtype], view.shape[0], view.shape[1], x0, x1, wx0, wx1, tables[4],
        tables[5], y0, y1, wy0, wy1, tables[10], tables[11], pad_pixel, mul, add, qscale, zp)
    if status != lib.EK_OK:  # the wrapper validated everything: a bug, not bad input
        raise RuntimeError(f"ek_infer_preprocess returned status {status}")
