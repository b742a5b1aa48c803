"""Object detection in the shape of MediaPipe Tasks' ``ObjectDetector``, on a bare TFLite
runtime and numpy.

Two model families:

* raw-output SSD detectors with anchors, as MediaPipe ships them (BlazeFace, palm): the
  model outputs a box tensor ``[1, N, num_coords]`` and a score tensor ``[1, N, classes]``;
  edgekit generates the anchors (:mod:`~edgekit.infer.anchors`), decodes, thresholds and runs
  NMS (:mod:`~edgekit.infer.boxes`).  Configure with :class:`RawSsdConfig`.
* models ending in TFLite's ``TFLite_Detection_PostProcess`` op (the article's MobileNet-SSD
  export format): the op decodes and suppresses; edgekit finds its four outputs (boxes,
  classes, scores, count) through the op itself, not by output position (which differs
  between exports), then thresholds, filters and maps the boxes back.  Configure with
  :class:`PostProcessConfig`.

Every box and keypoint comes back in pixels of the original image, through the letterbox.

>>> from edgekit.infer import Detector, load_image
>>> with Detector.from_file(Detector.FACE_MODEL) as det:     # doctest: +SKIP
...     faces = det.detect(load_image("photo.jpg"))
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from edgekit import _telemetry
from edgekit.errors import InputError, ModelError, OptionsError, RuntimeUnavailableError
from edgekit.infer.anchors import SsdAnchorOptions, ssd_anchors
from edgekit.infer.boxes import BoxCoderOptions, _select, logit, sigmoid_scores
from edgekit.infer.letterbox import Letterbox, _fill, check_image
from edgekit.infer.runtime import Model, Verifier
from edgekit.types import BoundingBox, Category, Detection, Keypoint

__all__ = [
    "FACE_MODEL",
    "Detector",
    "DetectorOptions",
    "PostProcessConfig",
    "RawSsdConfig",
    "StageTimings",
    "load_image",
    "preset_for",
]

FACE_MODEL: str = str(resources.files("edgekit.infer") / "models"
                      / "face_detection_short_range.tflite")
"""Path of the shipped BlazeFace short-range model (MediaPipe 0.10.21, Apache-2.0)."""

NmsMode = Literal["hard", "weighted"]


def _unit(name: str, value: object, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and 0.0 <= value <= 1.0):
        raise OptionsError(f"{name} must be a number in [0, 1], got {value!r}", name=name,
                           got=value)


@dataclass(frozen=True, slots=True)
class DetectorOptions:
    """What to report (MediaPipe ``ObjectDetectorOptions``).  ``None`` means the model's
    own default (BlazeFace: score 0.5, IoU 0.3, weighted NMS).

    Attributes:
        score_threshold: lowest score reported, in [0, 1].
        max_results: most detections reported (best first), or ``None`` for all.
        iou_threshold: boxes overlapping a better one by IoU > this are merged/suppressed.
        nms: ``"hard"`` (keep the best box) or ``"weighted"`` (score-weighted mean).
        category_allowlist: report only these category names (or indices).
        category_denylist: never report these; exclusive with the allowlist.
        num_threads: interpreter threads.
        runtime: ``"auto"`` or a name from :data:`edgekit.infer.RUNTIMES`.
    """

    score_threshold: float | None = None
    max_results: int | None = None
    iou_threshold: float | None = None
    nms: NmsMode | None = None
    category_allowlist: tuple[str | int, ...] = ()
    category_denylist: tuple[str | int, ...] = ()
    num_threads: int = 1
    runtime: str = "auto"

    def __post_init__(self) -> None:
        _unit("score_threshold", self.score_threshold)
        _unit("iou_threshold", self.iou_threshold)
        if self.max_results is not None and (
                isinstance(self.max_results, bool) or not isinstance(self.max_results, int)
                or self.max_results < 1):
            raise OptionsError(f"max_results must be a positive int or None, got "
                               f"{self.max_results!r}", name="max_results", got=self.max_results)
        if self.nms not in (None, "hard", "weighted"):
            raise OptionsError(f"nms must be 'hard' or 'weighted', got {self.nms!r}",
                               name="nms", got=self.nms)
        for name in ("category_allowlist", "category_denylist"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)):
                raise OptionsError(f"{name} must be a collection of names, not one string",
                                   name=name, got=value)
            items = tuple(value)
            for item in items:
                if isinstance(item, bool) or not isinstance(item, (str, int)):
                    raise OptionsError(f"{name} entries must be names (str) or indices "
                                       f"(int), got {item!r}", name=name, got=item)
            object.__setattr__(self, name, items)
        if self.category_allowlist and self.category_denylist:
            raise OptionsError("category_allowlist and category_denylist are mutually "
                               "exclusive", name="category_denylist")
        if isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int) or not (
                1 <= self.num_threads <= 64):
            raise OptionsError(f"num_threads must be an int in 1..64, got "
                               f"{self.num_threads!r}", name="num_threads", got=self.num_threads)


@dataclass(frozen=True, slots=True)
class RawSsdConfig:
    """A raw-output SSD model (MediaPipe's BlazeFace, palm...): its anchors, box coder,
    input range, labels and default thresholds.

    ``value_range`` is what pixel values 0 and 255 map to; ``keep_aspect`` letterboxes
    (MediaPipe ``keep_aspect_ratio``) instead of stretching.  ``box_output`` and
    ``score_output`` name the output tensors when their shapes do not tell them apart.
    """

    anchors: SsdAnchorOptions
    coder: BoxCoderOptions
    value_range: tuple[float, float] = (-1.0, 1.0)
    keep_aspect: bool = True
    labels: tuple[str, ...] = ()
    keypoint_labels: tuple[str, ...] = ()
    score_threshold: float = 0.5
    iou_threshold: float = 0.3
    nms: NmsMode = "weighted"
    box_output: str | None = None
    score_output: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.anchors, SsdAnchorOptions):
            raise OptionsError("anchors must be SsdAnchorOptions", name="anchors")
        if not isinstance(self.coder, BoxCoderOptions):
            raise OptionsError("coder must be BoxCoderOptions", name="coder")
        _common_checks(self)
        if self.keypoint_labels and len(self.keypoint_labels) != self.coder.num_keypoints:
            raise OptionsError("keypoint_labels must name every keypoint",
                               name="keypoint_labels")


@dataclass(frozen=True, slots=True)
class PostProcessConfig:
    """A model ending in ``TFLite_Detection_PostProcess`` (TF Object Detection API SSD).

    ``value_range``: what pixel values 0 and 255 become (MobileNet-SSD: (-1, 1)); for a
    quantised input the tensor's own scale and zero point then apply.  ``keep_aspect`` is
    False by default: these models were trained on stretched images.  ``labels[i]`` names
    class ``i`` as the op reports it (background excluded).
    """

    value_range: tuple[float, float] = (-1.0, 1.0)
    keep_aspect: bool = False
    labels: tuple[str, ...] = ()
    score_threshold: float = 0.5

    def __post_init__(self) -> None:
        _common_checks(self)


def _common_checks(cfg: RawSsdConfig | PostProcessConfig) -> None:
    lo, hi = cfg.value_range
    if not (math.isfinite(lo) and math.isfinite(hi) and lo != hi):
        raise OptionsError("value_range must be two different finite numbers",
                           name="value_range", got=cfg.value_range)
    object.__setattr__(cfg, "labels", tuple(cfg.labels))
    _unit("score_threshold", cfg.score_threshold, allow_none=False)
    if isinstance(cfg, RawSsdConfig):
        object.__setattr__(cfg, "keypoint_labels", tuple(cfg.keypoint_labels))
        _unit("iou_threshold", cfg.iou_threshold, allow_none=False)
        if cfg.nms not in ("hard", "weighted"):
            raise OptionsError("nms must be 'hard' or 'weighted'", name="nms", got=cfg.nms)


# --- presets for the shipped models, recognised by content ---------------------------------

_FACE = RawSsdConfig(
    anchors=SsdAnchorOptions(
        input_size_width=128, input_size_height=128, num_layers=4, strides=(8, 16, 16, 16),
        min_scale=0.1484375, max_scale=0.75, aspect_ratios=(1.0,),
        interpolated_scale_aspect_ratio=1.0, fixed_anchor_size=True),
    coder=BoxCoderOptions(num_coords=16, x_scale=128.0, y_scale=128.0, w_scale=128.0,
                          h_scale=128.0, reverse_output_order=True, num_keypoints=6,
                          keypoint_coord_offset=4, num_values_per_keypoint=2,
                          sigmoid_score=True, score_clipping_thresh=100.0),
    value_range=(-1.0, 1.0), keep_aspect=True, labels=("face",),
    keypoint_labels=("right_eye", "left_eye", "nose_tip", "mouth_center",
                     "right_ear_tragion", "left_ear_tragion"),
    score_threshold=0.5, iou_threshold=0.3, nms="weighted",
)

_PALM = RawSsdConfig(
    anchors=SsdAnchorOptions(
        input_size_width=192, input_size_height=192, num_layers=4, strides=(8, 16, 16, 16),
        min_scale=0.1484375, max_scale=0.75, aspect_ratios=(1.0,),
        interpolated_scale_aspect_ratio=1.0, fixed_anchor_size=True),
    coder=BoxCoderOptions(num_coords=18, x_scale=192.0, y_scale=192.0, w_scale=192.0,
                          h_scale=192.0, reverse_output_order=True, num_keypoints=7,
                          keypoint_coord_offset=4, num_values_per_keypoint=2,
                          sigmoid_score=True, score_clipping_thresh=100.0),
    value_range=(0.0, 1.0), keep_aspect=True, labels=("palm",),
    score_threshold=0.5, iou_threshold=0.3, nms="weighted",
)

_PRESETS: dict[str, tuple[str, RawSsdConfig | PostProcessConfig]] = {
    # sha256 of the model bytes -> (name, config); from the mediapipe 0.10.21 wheel
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8":
        ("face_detection_short_range", _FACE),
    "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18":
        ("palm_detection_lite", _PALM),
}


def preset_for(model_bytes: bytes) -> tuple[str, RawSsdConfig | PostProcessConfig] | None:
    """(name, config) when ``model_bytes`` is a model edgekit knows, else None."""
    return _PRESETS.get(hashlib.sha256(model_bytes).hexdigest())


@dataclass(frozen=True, slots=True)
class StageTimings:
    """Seconds spent in each stage of the last :meth:`Detector.detect`."""

    preprocess_s: float
    invoke_s: float
    postprocess_s: float

    @property
    def total_s(self) -> float:
        return self.preprocess_s + self.invoke_s + self.postprocess_s


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file (JPEG, PNG...) as an H x W x 3 uint8 RGB array, EXIF orientation
    applied.  Needs Pillow (extra ``[infer]``)."""
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as err:
        raise RuntimeUnavailableError("loading image files needs Pillow: pip install "
                                      "'edgekit[infer]'", feature="infer.load_image",
                                      extra="infer") from err
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError as err:
        raise InputError(f"no such image file: {path}", name="path", got=str(path)) from err
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(f"cannot read {path} as an image: {err}", name="path",
                         got=str(path)) from err


@dataclass(slots=True)
class _PostProcessOutputs:
    boxes: int
    classes: int
    scores: int
    count: int


@dataclass(slots=True)
class _State:
    letterbox: Letterbox | None = None
    shape: tuple[int, int] | None = None


class Detector:
    """A detector over one model.  Create with :meth:`from_file` or :meth:`from_bytes`; use
    as a context manager or call :meth:`close`.  Not thread-safe (one per thread)."""

    FACE_MODEL = FACE_MODEL

    def __init__(self, model: Model, config: RawSsdConfig | PostProcessConfig,
                 options: DetectorOptions, name: str) -> None:
        self.model = model
        self.config = config
        self.options = options
        self.name = name
        self.last_timings: StageTimings | None = None
        self._state = _State()
        if len(model.inputs) != 1:
            raise ModelError(f"expected one input tensor, the model has {len(model.inputs)}",
                             path=model.path)
        inp = model.inputs[0]
        if len(inp.shape) != 4 or inp.shape[0] != 1 or inp.shape[3] != 3:
            raise ModelError(f"expected a [1, h, w, 3] image input, got {inp.shape}",
                             path=model.path)
        if inp.dtype not in (np.float32, np.uint8, np.int8):
            raise ModelError(f"unsupported input dtype {inp.dtype}", path=model.path)
        if inp.dtype != np.float32 and not inp.scale > 0:
            raise ModelError(f"{inp.dtype} input without quantisation parameters",
                             path=model.path)
        self._input = model.input_buffer()
        self._input_index = inp.index
        lo, hi = config.value_range
        quantised = inp.dtype != np.float32
        self._fill_args = ((hi - lo) / 255.0, float(lo), inp.scale if quantised else 1.0,
                           inp.zero_point if quantised else 0, 0.0)
        self._labels = config.labels
        if isinstance(config, RawSsdConfig):
            self._setup_raw(config)
        else:
            self._setup_postprocess()
        self._allowed = self._category_filter()

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], options: DetectorOptions | None = None, *,
                  config: RawSsdConfig | PostProcessConfig | None = None,
                  verify: Verifier | None = None) -> Detector:
        """Load ``path``.  The shipped models are recognised by content and need no
        ``config``; any other model needs one (:class:`RawSsdConfig` or
        :class:`PostProcessConfig`).  ``verify(model_bytes, path)`` runs before the runtime
        sees the model and must raise to refuse it (a signature check)."""
        p = os.fspath(path)
        try:
            data = Path(p).read_bytes()
        except OSError as err:
            raise ModelError(f"cannot read model file: {err.strerror or err}", path=p) from err
        return cls._build(data, p, options, config, verify)

    @classmethod
    def from_bytes(cls, data: bytes, options: DetectorOptions | None = None, *,
                   config: RawSsdConfig | PostProcessConfig | None = None,
                   verify: Verifier | None = None) -> Detector:
        """Like :meth:`from_file`, from the model's bytes."""
        return cls._build(bytes(data), None, options, config, verify)

    @classmethod
    def _build(cls, data: bytes, path: str | None, options: DetectorOptions | None,
               config: RawSsdConfig | PostProcessConfig | None,
               verify: Verifier | None) -> Detector:
        options = DetectorOptions() if options is None else options
        if not isinstance(options, DetectorOptions):
            raise OptionsError("options must be a DetectorOptions", name="options")
        model = Model.load(data, runtime=options.runtime, num_threads=options.num_threads,
                           verify=verify, _path=path)
        name = Path(path).stem if path else "model"
        if config is None:
            preset = preset_for(data)
            if preset is None:
                if "TFLite_Detection_PostProcess" in model.ops():
                    raise OptionsError(
                        "this model ends in TFLite_Detection_PostProcess; pass "
                        "config=PostProcessConfig(value_range=..., labels=...)", name="config")
                raise OptionsError("unknown model: pass config=RawSsdConfig(...) for a raw SSD "
                                   "detector or PostProcessConfig(...)", name="config")
            name, config = preset
        elif not isinstance(config, (RawSsdConfig, PostProcessConfig)):
            raise OptionsError("config must be RawSsdConfig or PostProcessConfig",
                               name="config")
        return cls(model, config, options, name)

    def _setup_raw(self, cfg: RawSsdConfig) -> None:
        inp = self.model.inputs[0]
        if (inp.shape[1], inp.shape[2]) != (cfg.anchors.input_size_height,
                                            cfg.anchors.input_size_width):
            raise ModelError(f"model input is {inp.shape[1]}x{inp.shape[2]} but the anchors "
                             f"are for {cfg.anchors.input_size_height}x"
                             f"{cfg.anchors.input_size_width}", path=self.model.path)
        self._anchors = ssd_anchors(cfg.anchors)
        n = self._anchors.shape[0]
        box_i = score_i = None
        for i, out in enumerate(self.model.outputs):
            names = {out.name, out.signature_name}
            if cfg.box_output is not None and cfg.box_output in names:
                box_i = i
            elif cfg.score_output is not None and cfg.score_output in names:
                score_i = i
        if box_i is None or score_i is None:
            for i, out in enumerate(self.model.outputs):
                if len(out.shape) == 3 and out.shape[1] == n:
                    if out.shape[2] == cfg.coder.num_coords and box_i is None:
                        box_i = i
                    elif score_i is None and i != box_i:
                        score_i = i
        if box_i is None or score_i is None:
            shapes = [o.shape for o in self.model.outputs]
            raise ModelError(f"outputs {shapes} do not match {n} anchors with "
                             f"{cfg.coder.num_coords} coords", path=self.model.path)
        self._box_i, self._score_i = box_i, score_i
        self._num_classes = self.model.outputs[score_i].shape[2]
        kp_len = cfg.coder.num_keypoints * 2
        self._work = {"boxes": np.empty((n, 4), np.float32),
                      "kps": np.empty((n, kp_len), np.float32),
                      "order": np.empty(n, np.int32), "scratch": np.empty(n, np.int32),
                      "keep": np.empty(n, np.int32), "out_boxes": np.empty((n, 4), np.float32),
                      "out_kps": np.empty((n, kp_len), np.float32)}
        t = self._threshold(cfg.score_threshold)
        self._logit_floor = np.float32(logit(t) - 1e-3) if t > 0 else np.float32(-np.inf)

    def _setup_postprocess(self) -> None:
        ops = [op for op in self.model.summary.ops if op.name == "TFLite_Detection_PostProcess"]
        if len(ops) != 1 or len(ops[0].outputs) != 4:
            raise ModelError("PostProcessConfig needs a model with one "
                             "TFLite_Detection_PostProcess op", path=self.model.path)
        by_index = {o.index: i for i, o in enumerate(self.model.outputs)}
        try:
            positions = [by_index[t] for t in ops[0].outputs]
        except KeyError as err:
            raise ModelError("the post-processing op's outputs are not the model's outputs",
                             path=self.model.path) from err
        self._pp = _PostProcessOutputs(*positions)

    def _category_filter(self) -> np.ndarray | None:
        """Boolean mask over class indices, or None when everything is allowed."""
        o = self.options
        if not (o.category_allowlist or o.category_denylist):
            return None
        n = (self._num_classes if isinstance(self.config, RawSsdConfig)
             else max(len(self._labels), 1 + max(
                 (x for x in o.category_allowlist + o.category_denylist if isinstance(x, int)),
                 default=0)))
        wanted = set()
        for item in o.category_allowlist or o.category_denylist:
            if isinstance(item, int):
                wanted.add(item)
            elif item in self._labels:
                wanted.add(self._labels.index(item))
            else:
                raise OptionsError(f"unknown category {item!r}; this model's labels are "
                                   f"{list(self._labels)}", name="category_allowlist"
                                   if o.category_allowlist else "category_denylist", got=item)
        mask = np.zeros(max(n, 1 + max(wanted, default=0)), dtype=bool)
        mask[list(wanted)] = True
        return mask if o.category_allowlist else ~mask

    # -- detection -----------------------------------------------------------------------

    def detect(self, image: np.ndarray | str | os.PathLike[str]) -> list[Detection]:
        """Detections in ``image`` (H x W x 3 uint8 RGB, or an image file path), best
        first, boxes and keypoints in pixels of ``image``."""
        if self.model is None:
            raise InputError("this Detector is closed", name="self")
        if isinstance(image, (str, os.PathLike)):
            image = load_image(image)
        img = check_image(image)
        t0 = time.perf_counter()
        lb = self._preprocess(img)
        t1 = time.perf_counter()
        self.model.invoke()
        t2 = time.perf_counter()
        if isinstance(self.config, RawSsdConfig):
            found = self._postprocess_raw(self.config, lb)
        else:
            found = self._postprocess_op(self.config, lb)
        t3 = time.perf_counter()
        self.last_timings = StageTimings(t1 - t0, t2 - t1, t3 - t2)
        _telemetry.emit("infer.detect", model=self.name, preprocess_s=t1 - t0,
                        invoke_s=t2 - t1, postprocess_s=t3 - t2, detections=len(found))
        return found

    def _preprocess(self, img: np.ndarray) -> Letterbox:
        st = self._state
        shape = (img.shape[0], img.shape[1])
        if st.shape != shape:  # the tables depend only on the sizes: reuse them per stream
            inp = self.model.inputs[0]
            st.letterbox = Letterbox.fit(shape[0], shape[1], inp.shape[1], inp.shape[2],
                                         self.config.keep_aspect)
            st.shape = shape
        assert st.letterbox is not None
        _fill(img, self._input[0], st.letterbox, *self._fill_args)
        self.model._it.set_tensor(self._input_index, self._input)
        return st.letterbox

    def _threshold(self, default: float) -> float:
        t = self.options.score_threshold
        return default if t is None else t

    def _postprocess_raw(self, cfg: RawSsdConfig, lb: Letterbox) -> list[Detection]:
        o = self.options
        coder = cfg.coder
        thr = np.float32(self._threshold(cfg.score_threshold))
        raw_scores = self.model.output(self._score_i)[0]
        if raw_scores.dtype != np.float32:
            raw_scores = raw_scores.astype(np.float32)
        if self._allowed is not None:
            raw_scores = np.where(self._allowed[None, :raw_scores.shape[1]], raw_scores,
                                  np.float32(-np.inf))
        one = raw_scores.shape[1] == 1
        if coder.sigmoid_score:
            # the sigmoid is monotonic: only logits near or above logit(threshold) can pass,
            # so compute it for those (with a margin for float rounding), then threshold the
            # scores themselves exactly
            if one:
                pre = np.flatnonzero(raw_scores[:, 0] >= self._logit_floor)
            else:
                pre = np.flatnonzero((raw_scores >= self._logit_floor).any(axis=1))
            scores = sigmoid_scores(raw_scores[pre], coder.score_clipping_thresh)
        else:
            pre = np.arange(raw_scores.shape[0])
            scores = raw_scores
        if self._allowed is not None:  # again after the sigmoid: a denied class scores -inf
            scores = np.where(self._allowed[None, :scores.shape[1]], scores,
                              np.float32(-np.inf))
        if one:
            best = scores[:, 0]
            classes = None
        else:
            classes = np.argmax(scores, axis=1)
            best = scores[np.arange(scores.shape[0]), classes]
        sel = np.flatnonzero(best >= thr)
        if sel.size == 0:
            return []
        cand = pre[sel].astype(np.int32)
        best = np.ascontiguousarray(best[sel])
        if classes is not None:
            classes = classes[sel]
        raw_boxes = self.model.output(self._box_i)[0]
        if raw_boxes.dtype != np.float32 or not raw_boxes.flags.c_contiguous:
            raw_boxes = np.ascontiguousarray(raw_boxes, dtype=np.float32)
        iou = o.iou_threshold if o.iou_threshold is not None else cfg.iou_threshold
        max_out = o.max_results if o.max_results is not None else len(best)
        keep, out_b, out_k = _select(raw_boxes, self._anchors, cand, best, coder, float(iou),
                                     (o.nms or cfg.nms) == "weighted", max_out, self._work)
        # back through the letterbox, in Python floats (a handful of values)
        sx, sy = lb.dst_w / lb.scale_x, lb.dst_h / lb.scale_y
        ox, oy = lb.pad_x / lb.scale_x, lb.pad_y / lb.scale_y
        names = cfg.keypoint_labels or (None,) * coder.num_keypoints
        result = []
        for b, k, i in zip(out_b.tolist(), out_k.reshape(len(keep), -1).tolist(),
                           keep.tolist(), strict=True):
            c = 0 if classes is None else int(classes[i])
            x0, y0 = b[0] * sx - ox, b[1] * sy - oy
            points = tuple(Keypoint(k[2 * j] * sx - ox, k[2 * j + 1] * sy - oy, names[j])
                           for j in range(coder.num_keypoints))
            result.append(Detection(
                BoundingBox(x0, y0, b[2] * sx - ox - x0, b[3] * sy - oy - y0),
                (Category(c, float(best[i]), self._label(c)),), points))
        return result

    def _label(self, index: int) -> str | None:
        return self._labels[index] if 0 <= index < len(self._labels) else None

    def _postprocess_op(self, cfg: PostProcessConfig, lb: Letterbox) -> list[Detection]:
        o = self.options
        pp = self._pp
        boxes = np.asarray(self.model.output(pp.boxes), dtype=np.float32).reshape(-1, 4)
        classes = np.asarray(self.model.output(pp.classes), dtype=np.float32).reshape(-1)
        scores = np.asarray(self.model.output(pp.scores), dtype=np.float32).reshape(-1)
        count_raw = float(np.asarray(self.model.output(pp.count)).reshape(-1)[0])
        count = int(min(max(count_raw, 0.0), len(scores))) if math.isfinite(count_raw) else 0
        thr = np.float32(self._threshold(cfg.score_threshold))
        scores, classes, boxes = scores[:count], classes[:count], boxes[:count]
        with np.errstate(invalid="ignore"):
            ok = (np.isfinite(scores) & np.isfinite(classes) & np.isfinite(boxes).all(axis=1)
                  & (scores >= thr))
        idx = np.flatnonzero(ok)
        ci = classes[idx].astype(np.int64)
        if self._allowed is not None:
            inside = (ci >= 0) & (ci < len(self._allowed))
            allowed = np.zeros(len(ci), dtype=bool)
            allowed[inside] = self._allowed[ci[inside]]
            idx, ci = idx[allowed], ci[allowed]
        if o.max_results is not None:
            idx, ci = idx[:o.max_results], ci[:o.max_results]
        # boxes are (ymin, xmin, ymax, xmax), normalised; back through the letterbox
        b = boxes[idx].astype(np.float64)
        x0, y0 = lb.to_image(b[:, 1], b[:, 0])
        x1, y1 = lb.to_image(b[:, 3], b[:, 2])
        result = []
        for bx0, by0, bx1, by1, c, s in zip(x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(),
                                            ci.tolist(), scores[idx].tolist(), strict=True):
            result.append(Detection(
                BoundingBox(bx0, by0, max(0.0, bx1 - bx0), max(0.0, by1 - by0)),
                (Category(c, s, self._label(c)),)))
        return result

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        if self.model is not None:
            self.model.close()
        self.model = None  # type: ignore[assignment]

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
