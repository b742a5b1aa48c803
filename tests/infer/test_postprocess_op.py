"""Models ending in TFLite_Detection_PostProcess (the article's MobileNet-SSD format), on the
fixtures made by tools/infer_make_ssd_fixtures.py: edgekit's own box decoding and NMS,
applied to the tensors the op receives, reproduce what the op reports, for float32, int8
and uint8 models; and the Detector reads the op's outputs by identity, not position."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.infer import (
    BoxCoderOptions,
    Detector,
    DetectorOptions,
    Letterbox,
    Model,
    PostProcessConfig,
    decode_boxes,
    load_image,
    non_max_suppression,
    preprocess,
)
from tests.infer.helpers import ASTRONAUT, CHELSEA, COFFEE, SSD, needs_runtime

pytestmark = needs_runtime
OP = "TFLite_Detection_PostProcess"
IMAGES = [ASTRONAUT, CHELSEA, COFFEE]


def _op_params(model: Model) -> dict:
    from flatbuffers import flexbuffers

    (op,) = [o for o in model.summary.ops if o.name == OP]
    return op, flexbuffers.Loads(op.custom_options)


def _run(model: Model, image: np.ndarray) -> None:
    inp = model.inputs[0]
    buf = model.input_buffer()
    preprocess(image, buf, value_range=(-1.0, 1.0), quant_scale=inp.scale,
               zero_point=inp.zero_point, keep_aspect=False)
    model.set_input(buf)
    model.invoke()


def _edgekit_postprocess(model: Model, op, p: dict):
    """Decode + threshold + NMS of the op's inputs with edgekit's kernels, the way the op's
    'fast' (use_regular_nms = false) path defines it."""
    enc = model.tensor(op.inputs[0])[0].astype(np.float32)
    cls = model.tensor(op.inputs[1])[0].astype(np.float32)
    anchors_yxhw = model.tensor(op.inputs[2]).astype(np.float32)
    anchors = np.ascontiguousarray(anchors_yxhw[:, [1, 0, 3, 2]])  # -> x, y, w, h
    coder = BoxCoderOptions(num_coords=4, x_scale=p["x_scale"], y_scale=p["y_scale"],
                            w_scale=p["w_scale"], h_scale=p["h_scale"],
                            reverse_output_order=False, apply_exponential_on_box_size=True,
                            sigmoid_score=False)
    boxes, _ = decode_boxes(np.ascontiguousarray(enc), anchors, coder)
    scores_all = cls[:, 1:]  # column 0 is the background
    classes = np.argmax(scores_all, axis=1)
    scores = scores_all[np.arange(len(classes)), classes]
    keep = np.flatnonzero(scores >= np.float32(p["nms_score_threshold"]))
    idx, out_boxes, _ = non_max_suppression(
        np.ascontiguousarray(boxes[keep]), np.ascontiguousarray(scores[keep]),
        iou_threshold=p["nms_iou_threshold"], mode="hard", max_results=p["max_detections"])
    sel = keep[idx]
    return out_boxes, classes[sel], scores[sel]


@pytest.mark.parametrize("variant", ["f32", "int8", "uint8"])
def test_edgekit_decodes_the_same_boxes_as_the_op(variant):
    model = Model.load(SSD[variant], preserve_all_tensors=True)
    op, p = _op_params(model)
    assert p["use_regular_nms"] == 0 and p["max_classes_per_detection"] == 1
    if variant != "f32":
        assert model.inputs[0].dtype == {"int8": np.int8, "uint8": np.uint8}[variant]
    by_index = {o.index: i for i, o in enumerate(model.outputs)}
    compared = 0
    for path in IMAGES:
        _run(model, load_image(path))
        op_boxes, op_classes, op_scores, op_count = (
            model.output(by_index[t]) for t in op.outputs)
        n = int(op_count[0])
        boxes, classes, scores = _edgekit_postprocess(model, op, p)
        assert len(scores) == n, path
        np.testing.assert_array_equal(scores, op_scores[0, :n])
        np.testing.assert_array_equal(classes, op_classes[0, :n].astype(np.int64))
        # the op reports (ymin, xmin, ymax, xmax); edgekit (xmin, ymin, xmax, ymax)
        np.testing.assert_allclose(boxes[:, [1, 0, 3, 2]], op_boxes[0, :n], rtol=0, atol=2e-6)
        compared += n
    assert compared >= 10  # random weights: plenty of boxes above 0.35


@pytest.mark.parametrize("variant", ["f32", "int8", "uint8"])
def test_detector_reads_op_outputs_by_identity(variant):
    image = load_image(ASTRONAUT)
    cfg = PostProcessConfig(value_range=(-1.0, 1.0), labels=("a", "b", "c"),
                            score_threshold=0.0)
    with Detector.from_file(SSD[variant], DetectorOptions(), config=cfg) as det:
        found = det.detect(image)
        op, _ = _op_params(det.model)
        graph_order = [o.index for o in det.model.outputs]
        by_index = {o.index: i for i, o in enumerate(det.model.outputs)}
        op_boxes = det.model.output(by_index[op.outputs[0]])[0]
        op_scores = det.model.output(by_index[op.outputs[2]])[0]
    if variant != "f32":
        # the converter's output order is not the op's: matching by position would mix
        # scores with boxes
        assert graph_order != list(op.outputs)
    assert len(found) == 10
    lb = Letterbox.fit(512, 512, 300, 300, keep_aspect=False)
    for d, box, score in zip(found, op_boxes, op_scores, strict=True):
        assert d.categories[0].score == pytest.approx(float(score))
        assert d.categories[0].category_name in ("a", "b", "c")
        x0, y0 = lb.to_image(box[1], box[0])
        assert d.bounding_box.origin_x == pytest.approx(float(x0), abs=1e-3)
        assert d.bounding_box.origin_y == pytest.approx(float(y0), abs=1e-3)


def test_postprocess_model_threshold_and_filters():
    image = load_image(ASTRONAUT)
    cfg = PostProcessConfig(labels=("a", "b", "c"), score_threshold=0.8)
    with Detector.from_file(SSD["f32"], config=cfg) as det:
        high = det.detect(image)
    assert high and all(d.categories[0].score >= 0.8 for d in high)
    with Detector.from_file(SSD["f32"], DetectorOptions(category_denylist=("a",),
                                                        max_results=3,
                                                        score_threshold=0.0),
                            config=cfg) as det:
        rest = det.detect(image)
    assert 0 < len(rest) <= 3 and all(d.categories[0].category_name != "a" for d in rest)


def test_raw_ssd_path_matches_the_op_on_the_same_head():
    """The same seeded head exported without the op, run through edgekit's raw-SSD family
    (anchors from SsdAnchorOptions, multi-class scores, background denied, hard NMS), finds
    the boxes the TFLite op finds: an end-to-end check of anchors + decode + NMS + letterbox
    against TensorFlow's own implementation."""
    from edgekit.infer import RawSsdConfig, SsdAnchorOptions

    anchors = SsdAnchorOptions(300, 300, 2, (16, 32), 0.25, 0.5, aspect_ratios=(1.0, 2.0, 0.5),
                               interpolated_scale_aspect_ratio=0.0)
    coder = BoxCoderOptions(num_coords=4, x_scale=10.0, y_scale=10.0, w_scale=5.0,
                            h_scale=5.0, reverse_output_order=False,
                            apply_exponential_on_box_size=True, sigmoid_score=False)
    raw_cfg = RawSsdConfig(anchors=anchors, coder=coder, value_range=(-1.0, 1.0),
                           keep_aspect=False, labels=("background", "a", "b", "c"),
                           score_threshold=0.35, iou_threshold=0.5, nms="hard",
                           box_output="box_encodings", score_output="class_predictions")
    op_cfg = PostProcessConfig(labels=("a", "b", "c"), score_threshold=0.35)
    opts = DetectorOptions(max_results=10, category_denylist=("background",))
    compared = 0
    for path in IMAGES:
        image = load_image(path)
        with Detector.from_file(SSD["raw_f32"], opts, config=raw_cfg) as det:
            mine = det.detect(image)
        with Detector.from_file(SSD["f32"], DetectorOptions(), config=op_cfg) as det:
            theirs = det.detect(image)
        assert len(mine) == len(theirs) == 10
        for a, b in zip(mine, theirs, strict=True):
            assert a.categories[0].category_name == b.categories[0].category_name
            assert a.categories[0].index == b.categories[0].index + 1  # background first
            assert a.categories[0].score == pytest.approx(b.categories[0].score, abs=1e-6)
            for f in ("origin_x", "origin_y", "width", "height"):
                assert getattr(a.bounding_box, f) == pytest.approx(
                    getattr(b.bounding_box, f), abs=2e-3)
            compared += 1
    assert compared == 30


def test_allowlist_on_a_multiclass_raw_model_at_threshold_zero():
    from edgekit.infer import RawSsdConfig, SsdAnchorOptions

    anchors = SsdAnchorOptions(300, 300, 2, (16, 32), 0.25, 0.5, aspect_ratios=(1.0, 2.0, 0.5),
                               interpolated_scale_aspect_ratio=0.0)
    coder = BoxCoderOptions(num_coords=4, x_scale=10.0, y_scale=10.0, w_scale=5.0,
                            h_scale=5.0, reverse_output_order=False,
                            apply_exponential_on_box_size=True, sigmoid_score=True)
    cfg = RawSsdConfig(anchors=anchors, coder=coder, keep_aspect=False,
                       labels=("background", "a", "b", "c"), nms="hard",
                       box_output="box_encodings", score_output="class_predictions")
    opts = DetectorOptions(score_threshold=0.0, max_results=50,
                           category_allowlist=("b",))
    with Detector.from_file(SSD["raw_f32"], opts, config=cfg) as det:
        found = det.detect(load_image(COFFEE))
    assert found and {d.categories[0].category_name for d in found} == {"b"}
