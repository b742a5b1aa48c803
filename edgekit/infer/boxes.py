"""SSD box decoding and non-maximum suppression, without TensorFlow.

:func:`decode_boxes` is the box coder of MediaPipe's ``TensorsToDetectionsCalculator`` and
of the TF Object Detection API (``TFLite_Detection_PostProcess``): a box's centre is
``raw / scale * anchor_size + anchor_centre``, its size ``raw / scale * anchor_size`` (or
``exp(raw / scale) * anchor_size``), keypoints like centres.  :func:`non_max_suppression`
is greedy NMS, hard (keep the best box of each cluster) or weighted (MediaPipe: the
score-weighted mean of the cluster).  Both run as C kernels (``_native/infer.c``) or their
numpy references (``_postprocess_ref``); see ``_native/infer.h`` for the arithmetic contract
under which they agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgekit import _backend
from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.infer import _postprocess_ref

__all__ = ["BoxCoderOptions", "decode_boxes", "non_max_suppression", "sigmoid_scores"]

NmsMode = Literal["hard", "weighted"]
MAX_KEYPOINT_VALUES = 64  # EK_INFER_MAX_KP: keypoints x 2 per box


def _float_array(x: object, name: str, ndim: int, cols: int | None = None) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}",
                             name=name, got=type(x).__name__)
    if x.dtype != np.float32:
        raise InputTypeError(f"{name} must be float32, got {x.dtype}", name=name,
                             expected="float32", got=str(x.dtype))
    if x.ndim != ndim or (cols is not None and x.shape[1] != cols):
        want = f"{ndim}-D" + (f" with {cols} columns" if cols is not None else "")
        raise InputError(f"{name} must be {want}, got shape {x.shape}", name=name,
                         expected=want, got=x.shape)
    return np.ascontiguousarray(x, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class BoxCoderOptions:
    """How a raw SSD output row encodes a box (MediaPipe ``TensorsToDetections`` options).

    Attributes:
        num_coords: floats per row of the box tensor.
        x_scale, y_scale, w_scale, h_scale: divisors of the raw values (input pixels for
            BlazeFace, 10/10/5/5 for the TF Object Detection API).
        reverse_output_order: rows are (x, y, w, h) rather than (y, x, h, w).
        apply_exponential_on_box_size: sizes are ``exp(raw / scale) * anchor``.
        box_coord_offset: index of the first box value in a row.
        num_keypoints, keypoint_coord_offset, num_values_per_keypoint: keypoints after the
            box, ``num_values_per_keypoint`` floats each (the first two are x, y).
        sigmoid_score: scores are logits (apply a sigmoid); score_clipping_thresh: clip
            logits to +-this before the sigmoid (0 disables clipping).
    """

    num_coords: int
    x_scale: float
    y_scale: float
    w_scale: float
    h_scale: float
    reverse_output_order: bool = True
    apply_exponential_on_box_size: bool = False
    box_coord_offset: int = 0
    num_keypoints: int = 0
    keypoint_coord_offset: int = 4
    num_values_per_keypoint: int = 2
    sigmoid_score: bool = True
    score_clipping_thresh: float = 100.0

    def __post_init__(self) -> None:
        for name in ("num_coords", "box_coord_offset", "num_keypoints",
                     "keypoint_coord_offset", "num_values_per_keypoint"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise OptionsError(f"{name} must be an int >= 0, got {v!r}", name=name, got=v)
        for name in ("x_scale", "y_scale", "w_scale", "h_scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                    math.isfinite(v) and v != 0):
                raise OptionsError(f"{name} must be a finite non-zero number, got {v!r}",
                                   name=name, got=v)
        if self.box_coord_offset + 4 > self.num_coords:
            raise OptionsError("the box does not fit in num_coords", name="num_coords",
                               got=self.num_coords)
        if self.num_values_per_keypoint < 2:
            raise OptionsError("num_values_per_keypoint must be >= 2",
                               name="num_values_per_keypoint")
        end = self.keypoint_coord_offset + self.num_keypoints * self.num_values_per_keypoint
        if self.num_keypoints and end > self.num_coords:
            raise OptionsError(f"{self.num_keypoints} keypoints do not fit in "
                               f"{self.num_coords} coords", name="num_keypoints")
        if self.num_keypoints * 2 > MAX_KEYPOINT_VALUES:
            raise OptionsError(f"at most {MAX_KEYPOINT_VALUES // 2} keypoints",
                               name="num_keypoints")
        if not (math.isfinite(self.score_clipping_thresh) and self.score_clipping_thresh >= 0):
            raise OptionsError("score_clipping_thresh must be >= 0",
                               name="score_clipping_thresh")


def logit(p: float) -> float:
    """Inverse of the sigmoid, for thresholding logits (+-inf at 0 and 1)."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p / (1.0 - p))


def sigmoid_scores(raw: np.ndarray, clip: float = 100.0) -> np.ndarray:
    """float32 sigmoid of logits clipped to +-``clip`` (no clipping when 0), computed in
    double and rounded once."""
    x = np.asarray(raw, dtype=np.float64)  # exp(-x) of any float32 is finite in double
    if clip > 0:
        x = np.minimum(np.maximum(x, -clip), clip)
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def decode_boxes(raw: np.ndarray, anchors: np.ndarray,
                 options: BoxCoderOptions) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``raw`` (N x num_coords float32) against ``anchors`` (N x 4 float32, x_center,
    y_center, w, h, normalised) into boxes (N x 4 float32: xmin, ymin, xmax, ymax,
    normalised to the model input) and keypoints (N x num_keypoints x 2: x, y)."""
    raw = _float_array(raw, "raw", 2, options.num_coords)
    anchors = _float_array(anchors, "anchors", 2, 4)
    if anchors.shape[0] != raw.shape[0]:
        raise InputError(f"{raw.shape[0]} boxes but {anchors.shape[0]} anchors",
                         name="anchors", expected=raw.shape[0], got=anchors.shape[0])
    return _decode(raw, anchors, options)


def _decode(raw: np.ndarray, anchors: np.ndarray,
            o: BoxCoderOptions) -> tuple[np.ndarray, np.ndarray]:
    """decode_boxes on arrays already checked (C-contiguous float32, matching shapes)."""
    scales = (o.x_scale, o.y_scale, o.w_scale, o.h_scale)
    order_yx = not o.reverse_output_order
    lib = _backend.lib
    if lib is None:
        return _postprocess_ref.decode_boxes(
            raw, anchors, order_yx, o.apply_exponential_on_box_size, scales,
            o.box_coord_offset, o.num_keypoints, o.keypoint_coord_offset,
            o.num_values_per_keypoint)
    n = raw.shape[0]
    boxes = np.empty((n, 4), dtype=np.float32)
    kps = np.empty((n, o.num_keypoints, 2), dtype=np.float32)
    ffi = _backend.ffi
    status = lib.ek_infer_decode_boxes(
        ffi.from_buffer("float[]", raw), n, o.num_coords,
        ffi.from_buffer("float[]", anchors), int(order_yx),
        int(o.apply_exponential_on_box_size), *scales, o.box_coord_offset, o.num_keypoints,
        o.keypoint_coord_offset, o.num_values_per_keypoint,
        ffi.from_buffer("float[]", boxes), ffi.from_buffer("float[]", kps))
    if status != lib.EK_OK:
        raise RuntimeError(f"ek_infer_decode_boxes returned status {status}")
    return boxes, kps


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray,
                        keypoints: np.ndarray | None = None, *, iou_threshold: float = 0.3,
                        mode: NmsMode = "weighted",
                        max_results: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy NMS of ``boxes`` (M x 4 float32, xmin, ymin, xmax, ymax) with ``scores`` (M
    float32, any order) and optional ``keypoints`` (M x K x 2 float32).

    Returns ``(index, boxes, keypoints)``: the index (into the inputs) of each kept cluster's
    best box, best first, and the output box and keypoints (that box in hard mode, the
    score-weighted mean of its cluster in weighted mode).  A box joins a cluster when its
    IoU with the cluster's best box is > ``iou_threshold``.  Ties in score keep input order.
    """
    boxes = _float_array(boxes, "boxes", 2, 4)
    scores = _float_array(scores, "scores", 1)
    m = boxes.shape[0]
    if scores.shape[0] != m:
        raise InputError(f"{m} boxes but {scores.shape[0]} scores", name="scores")
    if keypoints is None:
        kps = np.zeros((m, 0), dtype=np.float32)
    else:
        kps = _float_array(keypoints, "keypoints", 3)
        if kps.shape[0] != m or kps.shape[2] != 2:
            raise InputError(f"keypoints must have shape ({m}, K, 2), got {kps.shape}",
                             name="keypoints", got=kps.shape)
        kps = kps.reshape(m, kps.shape[1] * 2)
    if kps.shape[1] > MAX_KEYPOINT_VALUES:
        raise InputError(f"at most {MAX_KEYPOINT_VALUES // 2} keypoints per box",
                         name="keypoints")
    if mode not in ("hard", "weighted"):
        raise OptionsError(f"mode must be 'hard' or 'weighted', got {mode!r}", name="mode",
                           got=mode)
    if not (isinstance(iou_threshold, (int, float)) and 0.0 <= iou_threshold <= 1.0):
        raise OptionsError(f"iou_threshold must be in [0, 1], got {iou_threshold!r}",
                           name="iou_threshold", got=iou_threshold)
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 0:
        raise OptionsError(f"max_results must be an int >= 0, got {max_results!r}",
                           name="max_results", got=max_results)
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all() and np.isfinite(kps).all()):
        raise InputError("boxes, scores and keypoints must be finite", name="boxes")
    return _nms(boxes, scores, kps, float(iou_threshold), mode == "weighted", max_results)


def _nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray, iou_threshold: float,
         weighted: bool, max_results: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """non_max_suppression on checked arrays: finite C-contiguous float32, kps M x 2K."""
    m = boxes.shape[0]
    n_kp = kps.shape[1] // 2
    order = np.argsort(-scores, kind="stable")
    sb = np.ascontiguousarray(boxes[order])
    ss = np.ascontiguousarray(scores[order])
    sk = np.ascontiguousarray(kps[order])
    max_out = min(max_results, m)
    lib = _backend.lib
    if lib is None:
        keep, ob, ok = _postprocess_ref.nms(sb, ss, sk, iou_threshold, weighted, max_out)
    else:
        ffi = _backend.ffi
        keep = np.empty(max_out, dtype=np.int32)
        ob = np.empty((max_out, 4), dtype=np.float32)
        ok = np.empty((max_out, sk.shape[1]), dtype=np.float32)
        scratch = np.empty(max(m, 1), dtype=np.int32)
        n = lib.ek_infer_nms(
            ffi.from_buffer("float[]", sb), ffi.from_buffer("float[]", ss),
            ffi.from_buffer("float[]", sk), sk.shape[1], m, iou_threshold,
            int(weighted), max_out, ffi.from_buffer("int32_t[]", keep),
            ffi.from_buffer("float[]", ob), ffi.from_buffer("float[]", ok),
            ffi.from_buffer("int32_t[]", scratch))
        if n < 0:
            raise RuntimeError(f"ek_infer_nms returned status {n}")
        keep, ob, ok = keep[:n], ob[:n], ok[:n]
    return order[keep].astype(np.intp), ob, ok.reshape(ok.shape[0], n_kp, 2)


def _select(raw: np.ndarray, anchors: np.ndarray, cand: np.ndarray, scores: np.ndarray,
            o: BoxCoderOptions, iou_threshold: float, weighted: bool, max_out: int,
            work: dict[str, np.ndarray] | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the candidate rows ``cand`` (int32) of ``raw`` (N x num_coords float32, C
    order) against ``anchors``, drop non-finite or empty boxes, order by ``scores`` (float32,
    one per candidate) and run NMS: the raw-SSD detector's post-processing in one kernel call.
    Returns (candidate positions, boxes k x 4, keypoints k x 2K).  ``work`` may hold reusable
    buffers (``boxes``, ``kps``, ``order``, ``scratch`` of >= len(cand) rows; ``keep``,
    ``out_boxes``, ``out_kps`` of >= max_out rows)."""
    m = cand.shape[0]
    kp_len = o.num_keypoints * 2
    max_out = min(max_out, m)
    scales = (o.x_scale, o.y_scale, o.w_scale, o.h_scale)
    order_yx = not o.reverse_output_order
    lib = _backend.lib
    if lib is None:
        return _postprocess_ref.ssd_select(
            raw, anchors, cand, scores, order_yx, o.apply_exponential_on_box_size, scales,
            o.box_coord_offset, o.num_keypoints, o.keypoint_coord_offset,
            o.num_values_per_keypoint, iou_threshold, weighted, max_out)
    if work is None or work["boxes"].shape[0] < m or work["keep"].shape[0] < max_out:
        work = {"boxes": np.empty((m, 4), np.float32), "kps": np.empty((m, kp_len), np.float32),
                "order": np.empty(m, np.int32), "scratch": np.empty(m, np.int32),
                "keep": np.empty(max_out, np.int32),
                "out_boxes": np.empty((max_out, 4), np.float32),
                "out_kps": np.empty((max_out, kp_len), np.float32)}
    fb = _backend.ffi.from_buffer
    n = lib.ek_infer_ssd_select(
        fb("float[]", raw), raw.shape[0], raw.shape[1], fb("float[]", anchors),
        fb("int32_t[]", cand), fb("float[]", scores), m, int(order_yx),
        int(o.apply_exponential_on_box_size), *scales, o.box_coord_offset, o.num_keypoints,
        o.keypoint_coord_offset, o.num_values_per_keypoint, iou_threshold, int(weighted),
        max_out, fb("float[]", work["boxes"]), fb("float[]", work["kps"]),
        fb("int32_t[]", work["order"]), fb("int32_t[]", work["scratch"]),
        fb("int32_t[]", work["keep"]), fb("float[]", work["out_boxes"]),
        fb("float[]", work["out_kps"]))
    if n < 0:
        raise RuntimeError(f"ek_infer_ssd_select returned status {n}")
    return work["keep"][:n].copy(), work["out_boxes"][:n].copy(), work["out_kps"][:n].copy()
