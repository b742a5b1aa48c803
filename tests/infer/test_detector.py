"""The detector end to end on the real models and images: BlazeFace finds the astronaut's
face and eyes, nothing on the cat or the coffee, the palm model runs, boxes come back through
the letterbox, options are validated, telemetry is emitted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgekit import _telemetry
from edgekit.errors import InputError, InputTypeError, OptionsError, RuntimeUnavailableError
from edgekit.infer import (
    RUNTIMES,
    Detector,
    DetectorOptions,
    RawSsdConfig,
    load_image,
    preset_for,
)
from edgekit.types import BoundingBox
from tests.infer.helpers import (
    ASTRONAUT,
    CHELSEA,
    COFFEE,
    FACE,
    FACE_BOX,
    LEFT_EYE,
    PALM_MODEL,
    RIGHT_EYE,
    needs_runtime,
)
from tests.infer.helpers import RUNTIMES as INSTALLED

pytestmark = needs_runtime


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return load_image(ASTRONAUT)


@pytest.fixture(scope="module")
def face() -> Detector:
    with Detector.from_file(FACE) as det:
        yield det


def _dist(kp, ref) -> float:
    return math.hypot(kp.x - ref[0], kp.y - ref[1])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_face_found_on_astronaut_with_eyes(astronaut, runtime):
    if runtime not in INSTALLED:
        pytest.skip(f"{runtime} not installed")
    with Detector.from_file(FACE, DetectorOptions(runtime=runtime)) as det:
        found = det.detect(astronaut)
        assert det.model.runtime == runtime
    assert len(found) == 1
    d = found[0]
    iou = d.bounding_box.iou(BoundingBox(*FACE_BOX))
    assert iou >= 0.9, (d.bounding_box, iou)
    assert d.categories[0].category_name == "face" and d.categories[0].score > 0.8
    kp = {k.label: k for k in d.keypoints}
    assert len(kp) == 6
    # on the eyes: within 8 px of the hand-located pupils (an eye is ~20 px wide here)
    assert _dist(kp["right_eye"], RIGHT_EYE) < 8.0, kp["right_eye"]
    assert _dist(kp["left_eye"], LEFT_EYE) < 8.0, kp["left_eye"]
    # and the face's layout: eyes above the nose above the mouth
    assert max(kp["right_eye"].y, kp["left_eye"].y) < kp["nose_tip"].y < kp["mouth_center"].y


@pytest.mark.parametrize("path", [CHELSEA, COFFEE], ids=["chelsea", "coffee"])
def test_no_face_above_threshold_on_cat_and_coffee(face, path):
    assert face.detect(load_image(path)) == []
    # the threshold is what decides: at a very low one the model does emit candidates
    with Detector.from_file(FACE, DetectorOptions(score_threshold=0.01)) as low:
        found = low.detect(load_image(path))
    assert found and max(d.categories[0].score for d in found) < 0.5


def test_detect_accepts_a_path_and_gives_the_same(face, astronaut):
    a = face.detect(astronaut)
    b = face.detect(str(ASTRONAUT))
    assert a == b


def test_boxes_map_back_through_the_letterbox(face, astronaut):
    """Tall and wide crops around the face (other scale, padding on the other axis) find it
    at the same place of the original image once the crop offset is added back."""
    for y0, y1, x0, x1 in ((30, 330, 150, 310), (60, 200, 100, 380)):
        crop = astronaut[y0:y1, x0:x1]
        found = face.detect(crop)
        assert len(found) == 1, (y0, x0)
        b = found[0].bounding_box
        back = BoundingBox(b.origin_x + x0, b.origin_y + y0, b.width, b.height)
        assert back.iou(BoundingBox(*FACE_BOX)) >= 0.85, (back, (y0, x0))
        kp = found[0].keypoints[0]
        assert _dist(kp, (RIGHT_EYE[0] - x0, RIGHT_EYE[1] - y0)) < 8.0


def test_strided_view_is_accepted(face, astronaut):
    wide = np.zeros((512, 1024, 3), np.uint8)
    wide[:, ::2] = astronaut
    view = wide[:, ::2]  # a strided view of the same pixels
    assert not view.flags.c_contiguous
    assert face.detect(view) == face.detect(astronaut)


def test_hard_nms_and_max_results(astronaut):
    with Detector.from_file(FACE, DetectorOptions(nms="hard", max_results=1,
                                                  score_threshold=0.3)) as det:
        found = det.detect(astronaut)
    assert len(found) == 1
    assert found[0].bounding_box.iou(BoundingBox(*FACE_BOX)) >= 0.85


def test_allowlist_and_denylist(astronaut):
    with Detector.from_file(FACE, DetectorOptions(category_allowlist=("face",))) as det:
        assert len(det.detect(astronaut)) == 1
    with Detector.from_file(FACE, DetectorOptions(category_denylist=("face",))) as det:
        assert det.detect(astronaut) == []
    with Detector.from_file(FACE, DetectorOptions(category_denylist=(0,))) as det:
        assert det.detect(astronaut) == []
    with pytest.raises(OptionsError, match="unknown category"):
        Detector.from_file(FACE, DetectorOptions(category_allowlist=("dog",)))


@pytest.mark.parametrize("kwargs, field", [
    ({"category_allowlist": ("face",), "category_denylist": ("cat",)}, "category_denylist"),
    ({"score_threshold": 1.5}, "score_threshold"),
    ({"score_threshold": float("nan")}, "score_threshold"),
    ({"iou_threshold": -0.1}, "iou_threshold"),
    ({"max_results": 0}, "max_results"),
    ({"nms": "soft"}, "nms"),
    ({"category_allowlist": "face"}, "category_allowlist"),
    ({"num_threads": 0}, "num_threads"),
])
def test_conflicting_or_bad_options_raise(kwargs, field):
    with pytest.raises(OptionsError) as info:
        DetectorOptions(**kwargs)
    assert info.value.name == field


def test_palm_model_runs_end_to_end(astronaut):
    with Detector.from_file(PALM_MODEL) as det:
        assert det.name == "palm_detection_lite"
        assert det.model.inputs[0].shape == (1, 192, 192, 3)
        assert det.detect(astronaut) == []  # no hand in the picture
        assert det.last_timings is not None and det.last_timings.invoke_s > 0
    with Detector.from_file(PALM_MODEL, DetectorOptions(score_threshold=0.001,
                                                        max_results=5)) as det:
        found = det.detect(load_image(COFFEE))
    assert 1 <= len(found) <= 5
    scores = [d.categories[0].score for d in found]
    assert scores == sorted(scores, reverse=True) and max(scores) < 0.5
    for d in found:
        assert len(d.keypoints) == 7 and d.categories[0].category_name == "palm"
        b = d.bounding_box
        assert b.width > 0 and b.height > 0
        # in pixels of the 400 x 600 coffee image (boxes may overhang its edge a little)
        assert -200 < b.origin_x < 800 and -200 < b.origin_y < 600


def test_presets_recognised_by_content_not_name(tmp_path):
    copy = tmp_path / "renamed.tflite"
    copy.write_bytes(FACE.read_bytes())
    with Detector.from_file(copy) as det:
        assert det.name == "face_detection_short_range"
    name, cfg = preset_for(FACE.read_bytes())
    assert isinstance(cfg, RawSsdConfig) and cfg.coder.num_keypoints == 6


def test_palm_config_on_face_model_is_refused():
    _, palm_cfg = preset_for(PALM_MODEL.read_bytes())
    from edgekit.errors import ModelError
    with pytest.raises(ModelError, match="192x192"):
        Detector.from_file(FACE, config=palm_cfg)


@pytest.mark.parametrize("bad, error", [
    (np.zeros((64, 64, 3), np.float32), InputTypeError),
    (np.zeros((64, 64), np.uint8), InputError),
    (np.zeros((64, 64, 4), np.uint8), InputError),
    (np.zeros((0, 64, 3), np.uint8), InputError),
    ([[[0, 0, 0]]], InputTypeError),
])
def test_wrong_image_shape_or_dtype_raises(face, bad, error):
    with pytest.raises(error):
        face.detect(bad)


def test_unreadable_image_file_raises(face, tmp_path):
    with pytest.raises(InputError):
        face.detect(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError):
        face.detect(junk)


def test_telemetry_event(astronaut):
    events = []

    def sink(event, fields):
        events.append((event, fields))

    _telemetry.add_sink(sink)
    try:
        with Detector.from_file(FACE) as det:
            det.detect(astronaut)
    finally:
        _telemetry.remove_sink(sink)
    assert [e for e, _ in events] == ["infer.detect"]
    f = events[0][1]
    assert f["model"] == "face_detection_short_range" and f["detections"] == 1
    assert all(f[k] > 0 for k in ("preprocess_s", "invoke_s", "postprocess_s"))


def test_closed_detector_refuses(astronaut):
    det = Detector.from_file(FACE)
    det.close()
    with pytest.raises(InputError, match="closed"):
        det.detect(astronaut)


def test_unknown_runtime_names():
    with pytest.raises(InputError):
        Detector.from_file(FACE, DetectorOptions(runtime="onnx"))
    for name in RUNTIMES:
        if name not in INSTALLED:
            with pytest.raises(RuntimeUnavailableError) as info:
                Detector.from_file(FACE, DetectorOptions(runtime=name))
            assert info.value.extra == "infer"


def test_jpeg_file_through_pillow(face, tmp_path):
    from PIL import Image

    path = tmp_path / "astronaut.jpg"
    Image.open(ASTRONAUT).convert("RGB").save(path, quality=85)
    found = face.detect(path)
    assert len(found) == 1 and found[0].bounding_box.iou(BoundingBox(*FACE_BOX)) >= 0.9
