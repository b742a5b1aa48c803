"""SSD anchor generation with the options of MediaPipe's ``SsdAnchorsCalculator``.

:func:`ssd_anchors` returns ``N x 4`` float32 anchors as (x_center, y_center, width,
height), normalised to the model input (0..1), in the order the model's outputs use: layer
by layer (layers that share a stride are merged), then row, column, anchor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekit.errors import OptionsError

__all__ = ["SsdAnchorOptions", "ssd_anchors"]


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise OptionsError(f"{name} must be a positive number, got {value!r}", name=name,
                           got=value)


@dataclass(frozen=True, slots=True)
class SsdAnchorOptions:
    """Options of MediaPipe's ``SsdAnchorsCalculator`` (same names, sizes in pixels).

    Attributes:
        input_size_width, input_size_height: the model input in pixels.
        num_layers: number of feature layers; ``strides`` has one entry per layer.
        min_scale, max_scale: anchor scale of the first and last layer (fraction of input).
        aspect_ratios: width/height ratios of the anchors of each layer.
        interpolated_scale_aspect_ratio: adds, per layer, an anchor of scale
            sqrt(scale * next_scale) with this ratio (0 disables it).
        fixed_anchor_size: every anchor has width = height = 1 (the box coder's scales then
            carry the size, as in BlazeFace and the palm detector).
        anchor_offset_x, anchor_offset_y: anchor centre within its cell (0.5 = middle).
        reduce_boxes_in_lowest_layer: the first layer gets 3 anchors (ratios 1, 2, 0.5,
            scales 0.1, s, s) as in the TF Object Detection API.
    """

    input_size_width: int
    input_size_height: int
    num_layers: int
    strides: tuple[int, ...]
    min_scale: float
    max_scale: float
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = False
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    reduce_boxes_in_lowest_layer: bool = False

    def __post_init__(self) -> None:
        for name in ("input_size_width", "input_size_height", "num_layers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise OptionsError(f"{name} must be a positive int, got {v!r}", name=name,
                                   got=v)
        object.__setattr__(self, "strides", tuple(self.strides))
        object.__setattr__(self, "aspect_ratios", tuple(self.aspect_ratios))
        if len(self.strides) != self.num_layers:
            raise OptionsError(f"strides has {len(self.strides)} entries for "
                               f"{self.num_layers} layers", name="strides", got=self.strides)
        for s in self.strides:
            if isinstance(s, bool) or not isinstance(s, int) or s <= 0:
                raise OptionsError(f"strides must be positive ints, got {self.strides}",
                                   name="strides", got=self.strides)
        if not self.aspect_ratios:
            raise OptionsError("aspect_ratios must not be empty", name="aspect_ratios")
        for r in self.aspect_ratios:
            _positive("aspect_ratios", r)
        _positive("min_scale", self.min_scale)
        _positive("max_scale", self.max_scale)
        if self.interpolated_scale_aspect_ratio < 0:
            raise OptionsError("interpolated_scale_aspect_ratio must be >= 0",
                               name="interpolated_scale_aspect_ratio")
        for name in ("anchor_offset_x", "anchor_offset_y"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise OptionsError(f"{name} must be in [0, 1], got {v!r}", name=name, got=v)


def _scale(lo: float, hi: float, idx: int, n: int) -> float:
    return (lo + hi) * 0.5 if n == 1 else lo + (hi - lo) * idx / (n - 1.0)


def ssd_anchors(o: SsdAnchorOptions) -> np.ndarray:
    """The anchors of ``o`` as an N x 4 float32 array (x_center, y_center, w, h)."""
    rows: list[np.ndarray] = []
    n = len(o.strides)
    layer = 0
    while layer < o.num_layers:
        heights: list[float] = []
        widths: list[float] = []
        last = layer
        while last < n and o.strides[last] == o.strides[layer]:
            scale = _scale(o.min_scale, o.max_scale, last, n)
            if last == 0 and o.reduce_boxes_in_lowest_layer:
                pairs = [(1.0, 0.1), (2.0, scale), (0.5, scale)]
            else:
                pairs = [(r, scale) for r in o.aspect_ratios]
                if o.interpolated_scale_aspect_ratio > 0:
                    nxt = 1.0 if last == n - 1 else _scale(o.min_scale, o.max_scale, last + 1, n)
                    pairs.append((o.interpolated_scale_aspect_ratio, math.sqrt(scale * nxt)))
            for ratio, s in pairs:
                heights.append(s / math.sqrt(ratio))
                widths.append(s * math.sqrt(ratio))
            last += 1
        stride = o.strides[layer]
        fh = math.ceil(o.input_size_height / stride)
        fw = math.ceil(o.input_size_width / stride)
        yy, xx = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        xc = (xx.reshape(-1, 1) + o.anchor_offset_x) / fw
        yc = (yy.reshape(-1, 1) + o.anchor_offset_y) / fh
        k = len(heights)
        if o.fixed_anchor_size:
            w = np.ones((1, k))
            h = np.ones((1, k))
        else:
            w = np.asarray(widths)[None, :]
            h = np.asarray(heights)[None, :]
        layer_rows = np.stack(np.broadcast_arrays(xc, yc, w, h), axis=-1).reshape(-1, 4)
        rows.append(layer_rows)
        layer = last
    return np.ascontiguousarray(np.concatenate(rows).astype(np.float32))
