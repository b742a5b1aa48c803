"""``edgekit demo`` section: BlazeFace on the shipped astronaut image, on a bare TFLite
runtime, with per-stage timings."""

from __future__ import annotations

import statistics
from importlib import resources
from typing import TextIO

import numpy as np

from edgekit import _backend
from edgekit._demo import DemoRow
from edgekit.errors import RuntimeUnavailableError
from edgekit.infer import FACE_MODEL, Detector, available_runtimes, load_image

IMAGE = resources.files("edgekit.data") / "images" / "astronaut.png"
ROUNDS = 100


def run(out: TextIO) -> list[DemoRow]:
    runtimes = available_runtimes()
    if not runtimes:
        raise RuntimeUnavailableError(
            "no TFLite runtime: pip install 'edgekit[infer]' (ai-edge-litert)",
            feature="infer", extra="infer")
    with resources.as_file(IMAGE) as path:
        image = load_image(path)
    with Detector.from_file(FACE_MODEL) as det:
        found = det.detect(image)
        print(f"  model: {det.name} on {det.model.runtime} (1 thread), kernels: "
              f"{_backend.NAME}; image {image.shape[1]}x{image.shape[0]} px", file=out)
        for d in found:
            b = d.bounding_box
            kp = {k.label: k for k in d.keypoints}
            print(f"  face {d.categories[0].score:.3f}: box x {b.origin_x:.1f} y {b.origin_y:.1f}"
                  f" w {b.width:.1f} h {b.height:.1f} px; right eye ({kp['right_eye'].x:.0f}, "
                  f"{kp['right_eye'].y:.0f}), left eye ({kp['left_eye'].x:.0f}, "
                  f"{kp['left_eye'].y:.0f})", file=out)
        stages: dict[str, list[float]] = {"preprocess": [], "invoke": [], "postprocess": []}
        for _ in range(ROUNDS):
            det.detect(image)
            t = det.last_timings
            assert t is not None
            stages["preprocess"].append(t.preprocess_s)
            stages["invoke"].append(t.invoke_s)
            stages["postprocess"].append(t.postprocess_s)
    med = {k: 1e3 * statistics.median(v) for k, v in stages.items()}
    p95 = {k: 1e3 * float(np.percentile(v, 95)) for k, v in stages.items()}
    for k in stages:
        print(f"  {k:<12} median {med[k]:.3f} ms   p95 {p95[k]:.3f} ms   ({ROUNDS} runs)",
              file=out)
    share = (med["preprocess"] + med["postprocess"]) / med["invoke"]
    total = sum(med.values())
    print(f"  pre+post = {100 * share:.0f}% of invoke (target <= 20%); detect {total:.2f} ms "
          f"median, without TensorFlow", file=out)
    if len(found) != 1:
        raise RuntimeError(f"expected one face in astronaut.png, found {len(found)}")
    b = found[0].bounding_box
    return [DemoRow(
        "BlazeFace on astronaut.png (x86, 1 thread)",
        f"face at ({b.origin_x:.0f},{b.origin_y:.0f}) {b.width:.0f}x{b.height:.0f} px, "
        f"{total:.2f} ms, pre+post {100 * share:.0f}% of invoke",
        "MobileNet-SSD <120 ms on a Pi 4B (unmeasured here)")]
