"""The detections every TFLite runtime must reproduce: each model edgekit's tests have (the
shipped BlazeFace, the palm detector, the tiny SSD fixtures in float32, int8 and uint8, with
and without the PostProcess op) on each test image, through :class:`Detector`, at
thresholds low enough to report several boxes per image.

``tests/infer/data/litert_detections.json`` holds them as LiteRT finds them (written by
``tools/infer_litert_golden.py``); ``tests/infer/test_runtimes.py`` compares the runtime in
use against it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from edgekit.infer import (
    BoxCoderOptions,
    Detector,
    DetectorOptions,
    PostProcessConfig,
    RawSsdConfig,
    SsdAnchorOptions,
    load_image,
)
from edgekit.types import Detection
from tests.infer.helpers import ASTRONAUT, CHELSEA, COFFEE, DATA, FACE, PALM_MODEL, SSD

GOLDEN = DATA / "litert_detections.json"
IMAGES = {"astronaut": ASTRONAUT, "chelsea": CHELSEA, "coffee": COFFEE}

_OP = PostProcessConfig(value_range=(-1.0, 1.0), labels=("a", "b", "c"), score_threshold=0.0)
_RAW = RawSsdConfig(
    anchors=SsdAnchorOptions(300, 300, 2, (16, 32), 0.25, 0.5, aspect_ratios=(1.0, 2.0, 0.5),
                             interpolated_scale_aspect_ratio=0.0),
    coder=BoxCoderOptions(num_coords=4, x_scale=10.0, y_scale=10.0, w_scale=5.0, h_scale=5.0,
                          reverse_output_order=False, apply_exponential_on_box_size=True,
                          sigmoid_score=False),
    value_range=(-1.0, 1.0), keep_aspect=False, labels=("background", "a", "b", "c"),
    score_threshold=0.3, iou_threshold=0.5, nms="hard",
    box_output="box_encodings", score_output="class_predictions")

# model name -> (path, options, config); None: the shipped preset
MODELS: dict[str, tuple[Path, DetectorOptions, RawSsdConfig | PostProcessConfig | None]] = {
    "face": (FACE, DetectorOptions(score_threshold=0.02, max_results=10), None),
    "palm": (PALM_MODEL, DetectorOptions(score_threshold=0.02, max_results=10), None),
    "ssd_f32": (SSD["f32"], DetectorOptions(), _OP),
    "ssd_int8": (SSD["int8"], DetectorOptions(), _OP),
    "ssd_uint8": (SSD["uint8"], DetectorOptions(), _OP),
    "ssd_raw_f32": (SSD["raw_f32"], DetectorOptions(max_results=10), _RAW),
}
CASES = [f"{m}/{i}" for m in MODELS for i in IMAGES]


def as_json(found: list[Detection]) -> list[dict[str, Any]]:
    """Detections as plain JSON values (boxes and keypoints in image pixels)."""
    return [{
        "box": [d.bounding_box.origin_x, d.bounding_box.origin_y, d.bounding_box.width,
                d.bounding_box.height],
        "categories": [[c.index, c.category_name, c.score] for c in d.categories],
        "keypoints": [[k.label, k.x, k.y] for k in d.keypoints],
    } for d in found]


class Run(NamedTuple):
    runtime: str  # the runtime that ran the model
    quantized: bool  # an int8/uint8 model
    detections: list[dict[str, Any]]  # as_json's


def detect(case: str, runtime: str = "auto") -> Run:
    """Run ``case`` ("model/image") on ``runtime``."""
    model, image = case.split("/")
    path, options, config = MODELS[model]
    with Detector.from_file(path, replace(options, runtime=runtime), config=config) as det:
        found = det.detect(load_image(IMAGES[image]))
        return Run(det.model.runtime, det.model.inputs[0].quantized, as_json(found))


def load_golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())
