"""The C kernels against their numpy references (same bits, or within the stated tolerance
for the exp of an exponential box size), the references against independent per-element
definitions, the anchors against MediaPipe's counts, and the wrappers' argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekit import _backend
from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.infer import (
    BoxCoderOptions,
    Letterbox,
    SsdAnchorOptions,
    decode_boxes,
    non_max_suppression,
    preprocess,
    ssd_anchors,
)
from edgekit.infer import _postprocess_ref as post_ref
from edgekit.infer import _preprocess_ref as pre_ref
from edgekit.infer import boxes as boxes_mod
from tests.common import needs_native

DTYPES = {"f32": np.float32, "u8": np.uint8, "i8": np.int8}


@st.composite
def preprocess_cases(draw):
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    img = draw(hnp.arrays(np.uint8, (h, w, 3)))
    oh, ow = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    kind = draw(st.sampled_from(sorted(DTYPES)))
    lo = draw(st.sampled_from([0.0, -1.0, 0.5, -127.5]))
    hi = draw(st.sampled_from([1.0, 255.0, 127.5, 2.0]))
    assume(lo != hi)
    scale = draw(st.sampled_from([1 / 255, 1 / 128, 0.0078125, 0.02, 1.0]))
    zp = draw(st.integers(-128, 127)) if kind == "i8" else draw(st.integers(0, 255))
    keep = draw(st.booleans())
    pad = draw(st.sampled_from([0.0, 114.0, 255.0]))
    return img, (oh, ow), kind, (lo, hi), scale, zp, keep, pad


def _run_ref(img, shape, kind, rng, scale, zp, keep, pad):
    out = np.empty((*shape, 3), DTYPES[kind])
    lb = Letterbox.fit(img.shape[0], img.shape[1], shape[0], shape[1], keep)
    lo, hi = rng
    quant = kind != "f32"
    pre_ref.preprocess(img, out, lb.tables(), pad, (hi - lo) / 255.0, lo,
                       scale if quant else 1.0, zp if quant else 0)
    return out


@needs_native
@given(preprocess_cases())
def test_preprocess_native_matches_reference_bit_for_bit(case):
    img, shape, kind, rng, scale, zp, keep, pad = case
    out = np.empty((*shape, 3), DTYPES[kind])
    preprocess(img, out, value_range=rng, quant_scale=scale, zero_point=zp, keep_aspect=keep,
               pad_pixel=pad)
    ref = _run_ref(img, shape, kind, rng, scale, zp, keep, pad)
    assert out.tobytes() == ref.tobytes()


def _definition_pixel(img, lb: Letterbox, oy, ox, pad):
    """Independent definition of one output pixel, in float64: bilinear sampling at the
    pixel centre mapped through the letterbox, border clamped; pad outside the image."""
    sx = (ox + 0.5 - lb.pad_x) / lb.scale_x - 0.5
    sy = (oy + 0.5 - lb.pad_y) / lb.scale_y - 0.5
    h, w = img.shape[:2]
    if not (-0.5 <= sx <= w - 0.5 and -0.5 <= sy <= h - 0.5):
        return np.full(3, pad)
    sx, sy = min(max(sx, 0.0), w - 1), min(max(sy, 0.0), h - 1)
    x0, y0 = int(math.floor(sx)), int(math.floor(sy))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = sx - x0, sy - y0
    p = img.astype(np.float64)
    top = p[y0, x0] * (1 - fx) + p[y0, x1] * fx
    bot = p[y1, x0] * (1 - fx) + p[y1, x1] * fx
    return top * (1 - fy) + bot * fy


@given(preprocess_cases())
def test_preprocess_reference_matches_definition(case):
    img, shape, _, _, _, _, keep, pad = case
    out = _run_ref(img, shape, "f32", (0.0, 255.0), 1.0, 0, keep, pad)
    lb = Letterbox.fit(img.shape[0], img.shape[1], shape[0], shape[1], keep)
    for oy in range(shape[0]):
        for ox in range(shape[1]):
            want = _definition_pixel(img, lb, oy, ox, pad)
            np.testing.assert_allclose(out[oy, ox], want, atol=1e-3, rtol=1e-5)


def test_quantisation_matches_tflite_rule():
    """uint8 with scale 1/255 and zero point 0 over the value range [0, 1] must give back the
    pixels exactly (identity resize), and int8 with zero point -128 shifts them by 128."""
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) * 3
    out = np.empty((4, 5, 3), np.uint8)
    preprocess(img, out, value_range=(0.0, 1.0), quant_scale=1 / 255, zero_point=0)
    assert np.array_equal(out, img)
    out8 = np.empty((4, 5, 3), np.int8)
    preprocess(img, out8, value_range=(0.0, 1.0), quant_scale=1 / 255, zero_point=-128)
    assert np.array_equal(out8.astype(np.int16) + 128, img)


def test_letterbox_pads_and_centres():
    img = np.full((10, 20, 3), 200, np.uint8)
    out = np.empty((20, 20, 3), np.float32)
    lb = preprocess(img, out, value_range=(0.0, 255.0), pad_pixel=7.0)
    assert lb.pad_y == 5.0 and lb.pad_x == 0.0 and lb.scale_x == 1.0
    assert (out[:5] == 7.0).all() and (out[15:] == 7.0).all() and (out[5:15] == 200.0).all()
    x, y = lb.to_image(np.array([0.5]), np.array([0.5]))
    assert (x[0], y[0]) == (10.0, 5.0)


# --- decode ---------------------------------------------------------------------------------

FLOATS = st.floats(-50, 50, width=32, allow_subnormal=False)


@st.composite
def decode_cases(draw):
    n = draw(st.integers(0, 60))
    num_kp = draw(st.integers(0, 4))
    kv = draw(st.integers(2, 3))
    offset = draw(st.integers(0, 2))
    coords = offset + 4 + num_kp * kv + draw(st.integers(0, 2))
    raw = draw(hnp.arrays(np.float32, (n, coords), elements=FLOATS))
    anchors = draw(hnp.arrays(np.float32, (n, 4), elements=st.floats(
        0.0625, 1.5, width=32)))
    coder = BoxCoderOptions(
        num_coords=coords, x_scale=draw(st.sampled_from([1.0, 10.0, 128.0])),
        y_scale=draw(st.sampled_from([1.0, 10.0, 192.0])),
        w_scale=draw(st.sampled_from([5.0, 128.0])), h_scale=draw(st.sampled_from([5.0, 7.0])),
        reverse_output_order=draw(st.booleans()),
        apply_exponential_on_box_size=draw(st.booleans()), box_coord_offset=offset,
        num_keypoints=num_kp, keypoint_coord_offset=offset + 4, num_values_per_keypoint=kv)
    return raw, anchors, coder


def _ref_decode(raw, anchors, o):
    return post_ref.decode_boxes(raw, anchors, not o.reverse_output_order,
                                 o.apply_exponential_on_box_size,
                                 (o.x_scale, o.y_scale, o.w_scale, o.h_scale),
                                 o.box_coord_offset, o.num_keypoints, o.keypoint_coord_offset,
                                 o.num_values_per_keypoint)


@needs_native
@given(decode_cases())
def test_decode_native_matches_reference(case):
    raw, anchors, coder = case
    boxes, kps = decode_boxes(raw, anchors, coder)
    rb, rk = _ref_decode(raw, anchors, coder)
    assert kps.tobytes() == rk.tobytes()
    if coder.apply_exponential_on_box_size:
        # exp is libm's on one side and numpy's on the other: sizes agree to 1 float32 ulp
        np.testing.assert_allclose(boxes, rb, rtol=3e-7, atol=1e-30)
    else:
        assert boxes.tobytes() == rb.tobytes()


@given(decode_cases())
def test_decode_reference_matches_definition(case):
    raw, anchors, o = case
    boxes, kps = _ref_decode(raw, anchors, o)
    ix, iy = (0, 1) if o.reverse_output_order else (1, 0)
    for i in range(raw.shape[0]):
        r = raw[i].astype(np.float64)
        ax, ay, aw, ah = anchors[i].astype(np.float64)
        b = o.box_coord_offset
        xc = r[b + ix] / o.x_scale * aw + ax
        yc = r[b + iy] / o.y_scale * ah + ay
        sw, sh = r[b + 2 + ix] / o.w_scale, r[b + 2 + iy] / o.h_scale
        if o.apply_exponential_on_box_size:
            sw, sh = math.exp(sw), math.exp(sh)
        w, h = sw * aw, sh * ah
        want = [xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2]
        np.testing.assert_allclose(boxes[i], want, rtol=1e-5, atol=1e-5)
        for k in range(o.num_keypoints):
            base = o.keypoint_coord_offset + k * o.num_values_per_keypoint
            np.testing.assert_allclose(
                kps[i, k], [r[base + ix] / o.x_scale * aw + ax, r[base + iy] / o.y_scale * ah
                            + ay], rtol=1e-5, atol=1e-5)


# --- NMS ------------------------------------------------------------------------------------

@st.composite
def nms_cases(draw):
    m = draw(st.integers(0, 80))
    xy = draw(hnp.arrays(np.float32, (m, 2), elements=st.floats(0, 1, width=32)))
    wh = draw(hnp.arrays(np.float32, (m, 2), elements=st.floats(0, 0.5, width=32)))
    if m > 3 and draw(st.booleans()):
        xy[1] = xy[0]
        wh[1] = wh[0]  # an exact duplicate
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = draw(hnp.arrays(np.float32, (m,), elements=st.sampled_from(
        [0.0, 0.25, 0.5, 0.5, 0.75, 1.0]) | st.floats(0, 1, width=32)))
    kps = draw(hnp.arrays(np.float32, (m, draw(st.integers(0, 3)), 2),
                          elements=st.floats(-1, 2, width=32)))
    iou = draw(st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]))
    mode = draw(st.sampled_from(["hard", "weighted"]))
    max_results = draw(st.integers(0, 100))
    return boxes, scores, kps, iou, mode, max_results


def _nms_with(lib, case):
    boxes, scores, kps, iou, mode, max_results = case
    saved = _backend.lib
    _backend.lib = lib
    try:
        return non_max_suppression(boxes, scores, kps, iou_threshold=iou, mode=mode,
                                   max_results=max_results)
    finally:
        _backend.lib = saved


@needs_native
@given(nms_cases())
def test_nms_native_matches_reference_bit_for_bit(case):
    native = _nms_with(_backend.lib, case)
    ref = _nms_with(None, case)
    for a, b in zip(native, ref, strict=True):
        assert a.shape == b.shape and a.tobytes() == b.tobytes()


def _definition_nms(boxes, scores, kps, iou, weighted, max_results):
    """Independent definition with Python floats (every value exactly a float32, the IoU in
    float32 via numpy scalars, so threshold decisions are the same)."""
    f = np.float32
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    keep, out = [], []

    def area(b):
        return f(f(b[2] - b[0]) * f(b[3] - b[1]))

    while order and len(keep) < max_results:
        head = order[0]
        hb = boxes[head]
        cluster, rest = [], []
        for i in order:
            b = boxes[i]
            iw = f(min(hb[2], b[2]) - max(hb[0], b[0]))
            ih = f(min(hb[3], b[3]) - max(hb[1], b[1]))
            inter = f(max(iw, f(0)) * max(ih, f(0)))
            union = f(f(area(hb) + area(b)) - inter)
            v = f(inter / union) if union > 0 else f(0)
            (cluster if i == head or v > f(iou) else rest).append(i)
        keep.append(head)
        if weighted and sum(float(scores[i]) for i in cluster) > 0:
            tot = sum(float(scores[i]) for i in cluster)
            out.append([sum(float(boxes[i][j]) * float(scores[i]) for i in cluster) / tot
                        for j in range(4)])
        else:
            out.append([float(v) for v in hb])
        order = rest
    return keep, out


@given(nms_cases())
def test_nms_reference_matches_definition(case):
    boxes, scores, kps, iou, mode, max_results = case
    idx, out, _ = _nms_with(None, case)
    keep, want = _definition_nms(boxes, scores, kps, iou, mode == "weighted", max_results)
    assert idx.tolist() == keep
    np.testing.assert_allclose(out.reshape(-1, 4), np.array(want).reshape(-1, 4), rtol=1e-6,
                               atol=1e-7)


def test_nms_weighted_merges_and_hard_keeps():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    idx, out, _ = non_max_suppression(boxes, scores, iou_threshold=0.3, mode="hard")
    assert idx.tolist() == [0, 2] and out[0].tolist() == [0, 0, 10, 10]
    idx, out, _ = non_max_suppression(boxes, scores, iou_threshold=0.3, mode="weighted")
    assert idx.tolist() == [0, 2]
    np.testing.assert_allclose(out[0], [0.25, 0.25, 10.25, 10.25], rtol=1e-6)


# --- anchors --------------------------------------------------------------------------------

def test_anchor_counts_and_layout_match_mediapipe():
    face = ssd_anchors(SsdAnchorOptions(128, 128, 4, (8, 16, 16, 16), 0.1484375, 0.75,
                                        fixed_anchor_size=True))
    palm = ssd_anchors(SsdAnchorOptions(192, 192, 4, (8, 16, 16, 16), 0.1484375, 0.75,
                                        fixed_anchor_size=True))
    assert face.shape == (896, 4) and palm.shape == (2016, 4)
    # first layer: 16 x 16 cells x 2 anchors, centres at (x + 0.5) / 16
    assert face[0].tolist() == face[1].tolist() == [0.5 / 16, 0.5 / 16, 1.0, 1.0]
    assert face[2, 0] == np.float32(1.5 / 16) and face[512, 0] == np.float32(0.5 / 8)
    free = ssd_anchors(SsdAnchorOptions(300, 300, 2, (16, 32), 0.2, 0.9,
                                        aspect_ratios=(1.0, 2.0), fixed_anchor_size=False))
    # 19 x 19 x 3 + 10 x 10 x 3; sizes from the scales: scale 0.2 at ratio 1 first
    assert free.shape == (19 * 19 * 3 + 10 * 10 * 3, 4)
    np.testing.assert_allclose(free[0, 2:], [0.2, 0.2])
    np.testing.assert_allclose(free[1, 2:], [0.2 * math.sqrt(2), 0.2 / math.sqrt(2)],
                               rtol=1e-6)
    np.testing.assert_allclose(free[2, 2:], [math.sqrt(0.2 * 0.9)] * 2, rtol=1e-6)


def test_anchor_options_are_validated():
    with pytest.raises(OptionsError):
        SsdAnchorOptions(128, 128, 3, (8, 16, 16, 16), 0.1, 0.7)
    with pytest.raises(OptionsError):
        SsdAnchorOptions(128, 0, 1, (8,), 0.1, 0.7)
    with pytest.raises(OptionsError):
        SsdAnchorOptions(128, 128, 1, (8,), -0.1, 0.7)
    with pytest.raises(OptionsError):
        BoxCoderOptions(num_coords=3, x_scale=1, y_scale=1, w_scale=1, h_scale=1)
    with pytest.raises(OptionsError):
        BoxCoderOptions(num_coords=8, x_scale=0, y_scale=1, w_scale=1, h_scale=1)
    with pytest.raises(OptionsError):
        BoxCoderOptions(num_coords=8, x_scale=1, y_scale=1, w_scale=1, h_scale=1,
                        num_keypoints=3)


def test_wrappers_refuse_bad_arrays():
    coder = BoxCoderOptions(num_coords=4, x_scale=1, y_scale=1, w_scale=1, h_scale=1)
    with pytest.raises(InputTypeError):
        decode_boxes(np.zeros((3, 4)), np.zeros((3, 4), np.float32), coder)
    with pytest.raises(InputError):
        decode_boxes(np.zeros((3, 5), np.float32), np.zeros((3, 4), np.float32), coder)
    with pytest.raises(InputError):
        decode_boxes(np.zeros((3, 4), np.float32), np.zeros((2, 4), np.float32), coder)
    b = np.zeros((2, 4), np.float32)
    with pytest.raises(InputError):
        non_max_suppression(b, np.zeros(3, np.float32))
    with pytest.raises(InputError):
        non_max_suppression(b + np.float32(np.nan), np.zeros(2, np.float32))
    with pytest.raises(OptionsError):
        non_max_suppression(b, np.zeros(2, np.float32), mode="soft")  # type: ignore[arg-type]
    with pytest.raises(OptionsError):
        non_max_suppression(b, np.zeros(2, np.float32), iou_threshold=2.0)
    with pytest.raises(InputError):
        non_max_suppression(b, np.zeros(2, np.float32), np.zeros((2, 40, 2), np.float32))
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(InputTypeError):
        preprocess(img, np.empty((2, 2, 3), np.float64))
    with pytest.raises(InputError):
        preprocess(img, np.empty((2, 2, 3), np.uint8))  # quantised needs a scale
    with pytest.raises(InputError):
        preprocess(img, np.empty((2, 2, 1), np.float32))
    with pytest.raises(InputError):
        preprocess(img, np.empty((2, 2, 3), np.float32), value_range=(1.0, 1.0))
    with pytest.raises(InputError):
        preprocess(img, np.empty((2, 2, 3), np.float32),
                   Letterbox.fit(5, 5, 2, 2))  # computed for another size
    assert boxes_mod.MAX_KEYPOINT_VALUES == 64


# --- the fused raw-SSD selection --------------------------------------------------------------

@st.composite
def select_cases(draw):
    raw, anchors, coder = draw(decode_cases())
    n = raw.shape[0]
    assume(n > 0)
    cand = np.asarray(draw(st.lists(st.integers(0, n - 1), max_size=n, unique=True)),
                      dtype=np.int32)
    scores = draw(hnp.arrays(np.float32, (cand.size,), elements=st.sampled_from(
        [0.5, 0.75, 1.0]) | st.floats(0, 1, width=32)))
    iou = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
    return raw, anchors, cand, scores, coder, iou, draw(st.booleans()), draw(
        st.integers(0, 50))


@needs_native
@given(select_cases())
def test_ssd_select_native_matches_reference(case):
    raw, anchors, cand, scores, coder, iou, weighted, max_out = case
    native = boxes_mod._select(raw, anchors, cand, scores, coder, iou, weighted, max_out)
    saved = _backend.lib
    _backend.lib = None
    try:
        ref = boxes_mod._select(raw, anchors, cand, scores, coder, iou, weighted, max_out)
    finally:
        _backend.lib = saved
    assert native[0].tolist() == ref[0].tolist()
    if coder.apply_exponential_on_box_size:
        np.testing.assert_allclose(native[1], ref[1], rtol=3e-7, atol=1e-30)
        np.testing.assert_array_equal(native[2], ref[2])
    else:
        for a, b in zip(native[1:], ref[1:], strict=True):
            assert a.tobytes() == b.tobytes()


def test_ssd_select_drops_empty_and_non_finite_boxes():
    coder = BoxCoderOptions(num_coords=4, x_scale=1, y_scale=1, w_scale=1, h_scale=1)
    raw = np.array([[0, 0, 1, 1], [0, 0, -1, 1], [np.inf, 0, 1, 1], [0.5, 0.5, 1, 1]],
                   np.float32)
    anchors = np.tile(np.array([[0.5, 0.5, 1, 1]], np.float32), (4, 1))
    cand = np.arange(4, dtype=np.int32)
    scores = np.array([0.6, 0.9, 0.9, 0.7], np.float32)
    keep, boxes, _ = boxes_mod._select(raw, anchors, cand, scores, coder, 0.9, False, 10)
    assert keep.tolist() == [3, 0]  # row 1 has negative width, row 2 is not finite
    assert boxes[1].tolist() == [0.0, 0.0, 1.0, 1.0]
