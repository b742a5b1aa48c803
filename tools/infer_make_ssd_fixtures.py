"""Write the small MobileNet-SSD-format fixtures for edgekit.infer's tests and benchmarks.

The article's model ends in TFLite's ``TFLite_Detection_PostProcess`` custom op (the format
of TF Object Detection API SSD exports).  No such model ships with a pip package, so this
script builds one: a tiny convolutional SSD head (random weights from a seeded numpy generator,
frozen in as graph constants) on a 300x300x3 input, two feature maps (19x19 and 10x10, three
anchors per cell: 1,383 anchors), 3 classes plus background, and the post-processing op
attached the way the Object Detection API does it (a composite ``tf.function`` with
``experimental_implements``, which the converter legalises to the custom op). It writes:

* ``ssd_tiny_f32.tflite``: float32 input in [-1, 1], float32 everywhere;
* ``ssd_tiny_int8.tflite``: full-integer quantisation (int8 weights and activations, int8
  input), calibrated on crops of the shipped images; the converter dequantises the head's
  int8 outputs before the op, which works in float32;
* ``ssd_tiny_uint8.tflite``: the same with a uint8 input tensor;
* ``ssd_tiny_raw_f32.tflite``: the same head without the op (raw box encodings and class
  probabilities as outputs), for edgekit's own raw-SSD path to be checked against the op.

Random weights give meaningless but deterministic detections: the tests only ask that
edgekit's own decoding of the op's *inputs* reproduces what the op itself reports.

(tensorflow-cpu 2.21 made the committed files.)  Run it in a throwaway environment that has
tensorflow-cpu (it is large; edgekit never needs
it)::

    python3 -m venv .tfvenv && .tfvenv/bin/pip install tensorflow-cpu pillow
    .tfvenv/bin/python tools/infer_make_ssd_fixtures.py tests/infer/data
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

SIZE = 300
NUM_CLASSES = 3  # without background
GRIDS = ((19, 0.25), (10, 0.5))  # feature map size, anchor scale
ASPECTS = (1.0, 2.0, 0.5)
MAX_DETECTIONS = 10
SCORE_THRESHOLD = 0.35
IOU_THRESHOLD = 0.5
SCALES = (10.0, 10.0, 5.0, 5.0)  # y, x, h, w
SEED = 1234

ROOT = Path(__file__).resolve().parents[1]
IMAGES = [ROOT / "edgekit" / "data" / "images" / "astronaut.png",
          ROOT / "tests" / "infer" / "data" / "chelsea.png",
          ROOT / "tests" / "infer" / "data" / "coffee.png"]


def anchors() -> np.ndarray:
    """[N, 4] float32 anchors as (y_center, x_center, height, width), normalised."""
    rows = []
    for grid, scale in GRIDS:
        for y in range(grid):
            for x in range(grid):
                for ar in ASPECTS:
                    rows.append(((y + 0.5) / grid, (x + 0.5) / grid,
                                 scale / np.sqrt(ar), scale * np.sqrt(ar)))
    return np.asarray(rows, dtype=np.float32)


def implements_signature() -> str:
    attrs = [
        'name: "TFLite_Detection_PostProcess"',
        f'attr {{ key: "max_detections" value {{ i: {MAX_DETECTIONS} }} }}',
        'attr { key: "max_classes_per_detection" value { i: 1 } }',
        'attr { key: "use_regular_nms" value { b: false } }',
        f'attr {{ key: "nms_score_threshold" value {{ f: {SCORE_THRESHOLD:f} }} }}',
        f'attr {{ key: "nms_iou_threshold" value {{ f: {IOU_THRESHOLD:f} }} }}',
        f'attr {{ key: "y_scale" value {{ f: {SCALES[0]:f} }} }}',
        f'attr {{ key: "x_scale" value {{ f: {SCALES[1]:f} }} }}',
        f'attr {{ key: "h_scale" value {{ f: {SCALES[2]:f} }} }}',
        f'attr {{ key: "w_scale" value {{ f: {SCALES[3]:f} }} }}',
        f'attr {{ key: "num_classes" value {{ i: {NUM_CLASSES} }} }}',
    ]
    return " ".join(attrs)


def calibration_images() -> list[np.ndarray]:
    from PIL import Image

    out = []
    rng = np.random.default_rng(SEED)
    for path in IMAGES:
        img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        for _ in range(8):
            h, w = img.shape[:2]
            s = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
            y0, x0 = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            crop = Image.fromarray(img[y0:y0 + s, x0:x0 + s].astype(np.uint8)).resize(
                (SIZE, SIZE), Image.BILINEAR)
            out.append(np.asarray(crop, dtype=np.float32)[None] / 127.5 - 1.0)
    return out


def build(out_dir: Path) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(SEED)
    anchor_const = anchors()
    n_per_cell = len(ASPECTS)

    def conv_weights(cin: int, cout: int) -> tuple[np.ndarray, np.ndarray]:
        # He-normal weights and small biases: random, seeded, frozen into the graph as
        # constants (so the converter folds them and the quantiser can calibrate them)
        w = rng.normal(0.0, np.sqrt(2.0 / (9 * cin)), size=(3, 3, cin, cout))
        return w.astype(np.float32), rng.normal(0.0, 0.1, size=cout).astype(np.float32)

    trunk, cin = [], 3
    for filters in (8, 12, 16, 16, 24):
        trunk.append(conv_weights(cin, filters))
        cin = filters
    heads = [(conv_weights(c, n_per_cell * 4), conv_weights(c, n_per_cell * (NUM_CLASSES + 1)))
             for c in (16, 24)]

    def head(image):
        x, feats = image, []
        for i, (w, b) in enumerate(trunk):
            x = tf.nn.relu6(tf.nn.conv2d(x, w, strides=2, padding="SAME") + b)
            if i == 3:
                feats.append(x)  # 19x19
        feats.append(x)  # 10x10
        boxes, classes = [], []
        for f, ((wb, bb), (wc, bc)) in zip(feats, heads, strict=True):
            boxes.append(tf.reshape(tf.nn.conv2d(f, wb, 1, "SAME") + bb, (1, -1, 4)))
            classes.append(tf.reshape(tf.nn.conv2d(f, wc, 1, "SAME") + bc,
                                      (1, -1, NUM_CLASSES + 1)))
        box_encodings = tf.concat(boxes, axis=1, name="box_encodings")
        class_predictions = tf.sigmoid(tf.concat(classes, axis=1), name="class_predictions")
        return box_encodings, class_predictions

    @tf.function(experimental_implements=implements_signature())
    def postprocess(box_encodings, class_predictions, anchors):  # noqa: ARG001
        boxes = tf.constant(0.0, dtype=tf.float32, name="boxes")
        scores = tf.constant(0.0, dtype=tf.float32, name="scores")
        classes = tf.constant(0.0, dtype=tf.float32, name="classes")
        num = tf.constant(0.0, dtype=tf.float32, name="num_detections")
        return boxes, classes, scores, num

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((1, SIZE, SIZE, 3), tf.float32,
                                                    name="image")])
        def serve(self, image):
            box_encodings, class_predictions = head(image)
            a = tf.constant(anchor_const, name="anchors")
            # tf.function reverses a composite's outputs; the Object Detection API undoes it
            return postprocess(box_encodings, class_predictions, a)[::-1]

    class RawModule(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((1, SIZE, SIZE, 3), tf.float32,
                                                    name="image")])
        def serve(self, image):
            box_encodings, class_predictions = head(image)
            return {"box_encodings": box_encodings, "class_predictions": class_predictions}

    raw_module = RawModule()
    raw_blob = tf.lite.TFLiteConverter.from_concrete_functions(
        [raw_module.serve.get_concrete_function()], raw_module).convert()
    (out_dir / "ssd_tiny_raw_f32.tflite").write_bytes(raw_blob)
    print(f"wrote {out_dir / 'ssd_tiny_raw_f32.tflite'} ({len(raw_blob)} bytes)")

    module = Module()
    saved = out_dir / "_ssd_tiny_savedmodel"
    tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serve})
    reps = calibration_images()

    def representative():
        for r in reps:
            yield [r]

    variants = {
        "ssd_tiny_f32.tflite": None,
        "ssd_tiny_int8.tflite": tf.int8,
        "ssd_tiny_uint8.tflite": tf.uint8,
    }
    for name, in_type in variants.items():
        conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        conv.allow_custom_ops = True
        if in_type is not None:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = in_type
        blob = conv.convert()
        if b"TFLite_Detection_PostProcess" not in blob:
            raise SystemExit(f"{name}: the converter did not emit TFLite_Detection_PostProcess")
        (out_dir / name).write_bytes(blob)
        print(f"wrote {out_dir / name} ({len(blob)} bytes)")
    shutil.rmtree(saved)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "tests" / "infer" / "data")
    target.mkdir(parents=True, exist_ok=True)
    build(target)
