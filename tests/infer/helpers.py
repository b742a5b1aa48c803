"""Paths and skips shared by the infer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.infer import FACE_MODEL, available_runtimes

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parents[2]
ASTRONAUT = ROOT / "edgekit" / "data" / "images" / "astronaut.png"
CHELSEA = DATA / "chelsea.png"
COFFEE = DATA / "coffee.png"
PALM_MODEL = DATA / "palm_detection_lite.tflite"
SSD = {k: DATA / f"ssd_tiny_{k}.tflite" for k in ("f32", "int8", "uint8", "raw_f32")}
FACE = Path(FACE_MODEL)

# the face in astronaut.png (the reference box) and its pupils, located by hand on a
# 4x zoom of the image (image left = the subject's right eye)
FACE_BOX = (179.0, 81.0, 93.0, 93.0)  # x, y, w, h in pixels
RIGHT_EYE = (203.0, 101.0)
LEFT_EYE = (246.0, 103.0)

RUNTIMES = available_runtimes()  # --infer-runtime=NAME leaves only NAME
RUNTIME = RUNTIMES[0] if RUNTIMES else "auto"
"""The runtime ``runtime="auto"`` takes in this session: a child process is told it."""
needs_runtime = pytest.mark.skipif(not RUNTIMES, reason="no TFLite runtime installed")
