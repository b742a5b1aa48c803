"""On-device object detection on a bare TFLite runtime (LiteRT, tflite-runtime or
TensorFlow Lite) and numpy: no TensorFlow needed for pre- or post-processing.

* :class:`Detector` / :class:`DetectorOptions`: MediaPipe Tasks' ``ObjectDetector`` shape;
  ``Detector.from_file(path, options)`` -> ``detect(image) -> list[Detection]`` with boxes and
  keypoints in pixels of the original image (:class:`edgekit.types.Detection`).
* Two model families: raw-output SSD with anchors (:class:`RawSsdConfig`: BlazeFace and the
  palm detector are built in) and models ending in ``TFLite_Detection_PostProcess``
  (:class:`PostProcessConfig`: the TF Object Detection API's MobileNet-SSD format).
* The pieces: :func:`preprocess` (letterbox + bilinear + normalise + quantise, one C pass),
  :func:`ssd_anchors`, :func:`decode_boxes`, :func:`non_max_suppression` (hard or weighted),
  :class:`Model` (the runtime wrapper, which checks the flatbuffer before any runtime sees it
  and can require a signature check: ``verify=signed_model(trusted_keys=...)``).
"""

from edgekit.infer.anchors import SsdAnchorOptions, ssd_anchors
from edgekit.infer.boxes import (
    BoxCoderOptions,
    decode_boxes,
    non_max_suppression,
    sigmoid_scores,
)
from edgekit.infer.detector import (
    FACE_MODEL,
    Detector,
    DetectorOptions,
    PostProcessConfig,
    RawSsdConfig,
    StageTimings,
    load_image,
    preset_for,
)
from edgekit.infer.letterbox import Letterbox, check_image, preprocess
from edgekit.infer.runtime import RUNTIMES, Model, TensorInfo, available_runtimes
from edgekit.infer.signed import signed_model

__all__ = [
    "FACE_MODEL",
    "RUNTIMES",
    "BoxCoderOptions",
    "Detector",
    "DetectorOptions",
    "Letterbox",
    "Model",
    "PostProcessConfig",
    "RawSsdConfig",
    "SsdAnchorOptions",
    "StageTimings",
    "TensorInfo",
    "available_runtimes",
    "check_image",
    "decode_boxes",
    "load_image",
    "non_max_suppression",
    "preprocess",
    "preset_for",
    "sigmoid_scores",
    "signed_model",
    "ssd_anchors",
]
