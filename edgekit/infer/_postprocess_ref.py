"""numpy references for ``ek_infer_decode_boxes`` and ``ek_infer_nms`` (``_native/infer.c``).

The same float32 operations in the same order as the C kernels (see ``_native/infer.h``):
linear box decoding and NMS give the same bits; the ``exp`` of the exponential box size is
computed in double on both sides and rounded to float32, where numpy's and the C library's
``exp`` may differ in the last bit of the double, so those sizes agree to 1 float32 ulp.
Weighted sums are accumulated in double in index order (``np.cumsum``, which is sequential,
not numpy's pairwise ``sum``), from products that are exact in double.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def _centre(raw: np.ndarray, scale: float, size: np.ndarray, centre: np.ndarray) -> np.ndarray:
    t = np.divide(raw, F32(scale), dtype=F32)
    return (t * size) + centre


def _size(raw: np.ndarray, scale: float, anchor: np.ndarray, exp_size: bool) -> np.ndarray:
    t = np.divide(raw, F32(scale), dtype=F32)
    if exp_size:
        t = np.exp(t.astype(np.float64)).astype(F32)
    return t * anchor


def decode_boxes(raw: np.ndarray, anchors: np.ndarray, order_yx: bool, exp_size: bool,
                 scales: tuple[float, float, float, float], box_offset: int, num_kp: int,
                 kp_offset: int, kp_values: int) -> tuple[np.ndarray, np.ndarray]:
    """(boxes n x 4 as xmin, ymin, xmax, ymax; keypoints n x num_kp x 2) in float32."""
    x_scale, y_scale, w_scale, h_scale = scales
    ix, iy = (1, 0) if order_yx else (0, 1)
    ax, ay, aw, ah = (anchors[:, j] for j in range(4))
    xc = _centre(raw[:, box_offset + ix], x_scale, aw, ax)
    yc = _centre(raw[:, box_offset + iy], y_scale, ah, ay)
    w = _size(raw[:, box_offset + 2 + ix], w_scale, aw, exp_size)
    h = _size(raw[:, box_offset + 2 + iy], h_scale, ah, exp_size)
    hw = np.divide(w, F32(2.0), dtype=F32)
    hh = np.divide(h, F32(2.0), dtype=F32)
    boxes = np.stack([xc - hw, yc - hh, xc + hw, yc + hh], axis=1)
    kps = np.empty((raw.shape[0], num_kp, 2), dtype=F32)
    for k in range(num_kp):
        base = kp_offset + k * kp_values
        kps[:, k, 0] = _centre(raw[:, base + ix], x_scale, aw, ax)
        kps[:, k, 1] = _centre(raw[:, base + iy], y_scale, ah, ay)
    return boxes, kps


def _area(b: np.ndarray) -> np.ndarray:
    return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])


def iou_one_to_many(head: np.ndarray, head_area: np.float32, boxes: np.ndarray,
                    areas: np.ndarray) -> np.ndarray:
    """IoU of ``head`` with each row of ``boxes`` (0 where the union is not positive)."""
    iw = np.minimum(head[2], boxes[:, 2]) - np.maximum(head[0], boxes[:, 0])
    ih = np.minimum(head[3], boxes[:, 3]) - np.maximum(head[1], boxes[:, 1])
    iw = np.where(iw > 0, iw, F32(0))
    ih = np.where(ih > 0, ih, F32(0))
    inter = iw * ih
    union = (head_area + areas) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, F32(1)), F32(0))


def _sequential_sum(rows: np.ndarray) -> np.ndarray:
    """Column sums of ``rows`` as C computes them: 0.0 + r0 + r1 + ... in order (numpy's
    ``sum`` is pairwise; ``cumsum`` is sequential; the leading 0.0 turns -0.0 into 0.0)."""
    start = np.zeros((1, rows.shape[1]), dtype=np.float64)
    return np.cumsum(np.concatenate([start, rows]), axis=0)[-1]


def nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray, iou_threshold: float,
        weighted: bool, max_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keep int32, boxes float32 k x 4, keypoints float32 k x kp_len) for candidates sorted
    by score, best first; see ``ek_infer_nms``."""
    m = boxes.shape[0]
    kp_len = kps.shape[1]
    areas = _area(boxes)
    remaining = np.arange(m)
    thr = F32(iou_threshold)
    keep, out_b, out_k = [], [], []
    while remaining.size and len(keep) < max_out:
        head = remaining[0]
        ious = iou_one_to_many(boxes[head], areas[head], boxes[remaining], areas[remaining])
        member = ious > thr
        member[0] = True
        cluster = remaining[member]
        keep.append(head)
        if weighted:
            s = scores[cluster].astype(np.float64)
            tot = _sequential_sum(s[:, None])[0]
        if weighted and tot > 0:
            acc = _sequential_sum(boxes[cluster].astype(np.float64) * s[:, None])
            out_b.append((acc / tot).astype(F32))
            kacc = _sequential_sum(kps[cluster].astype(np.float64) * s[:, None])
            out_k.append((kacc / tot).astype(F32))
        else:
            out_b.append(boxes[head])
            out_k.append(kps[head])
        remaining = remaining[~member]
    k = len(keep)
    return (np.asarray(keep, dtype=np.int32),
            np.asarray(out_b, dtype=F32).reshape(k, 4),
            np.asarray(out_k, dtype=F32).reshape(k, kp_len))


def ssd_select(raw: np.ndarray, anchors: np.ndarray, cand: np.ndarray, scores: np.ndarray,
               order_yx: bool, exp_size: bool, scales: tuple[float, float, float, float],
               box_offset: int, num_kp: int, kp_offset: int, kp_values: int,
               iou_threshold: float, weighted: bool,
               max_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ek_infer_ssd_select``: decode the candidate rows, drop non-finite or empty boxes,
    order by score (stable), NMS.  Returns (candidate positions, boxes, keypoints k x 2K)."""
    boxes, kps = decode_boxes(np.ascontiguousarray(raw[cand]),
                              np.ascontiguousarray(anchors[cand]), order_yx, exp_size, scales,
                              box_offset, num_kp, kp_offset, kp_values)
    kps = kps.reshape(len(cand), num_kp * 2)
    with np.errstate(invalid="ignore"):
        ok = ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
              & np.isfinite(boxes).all(axis=1) & np.isfinite(kps).all(axis=1))
    valid = np.flatnonzero(ok)
    order = valid[np.argsort(-scores[valid], kind="stable")]
    keep, ob, ok_ = nms(np.ascontiguousarray(boxes[order]), np.ascontiguousarray(scores[order]),
                        np.ascontiguousarray(kps[order]), iou_threshold, weighted, max_out)
    return order[keep].astype(np.int32), ob, ok_
