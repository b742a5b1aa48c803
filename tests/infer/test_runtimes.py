"""Every TFLite runtime gives LiteRT's detections: each case of runtime_cases.py (6 models x
3 images, 10 detections each) against tests/infer/data/litert_detections.json, written from
LiteRT by tools/infer_litert_golden.py.  Same count, order and categories, scores within
1e-6, boxes and keypoints within 1e-4 px.

In the development venv this checks LiteRT (and edgekit's pre/post-processing) against the
file; CI runs it again in a venv with tflite-runtime and numpy < 2, with
``--infer-runtime=tflite_runtime`` (.ci/run).

A float model runs on XNNPACK in both LiteRT and tflite-runtime 2.14.  An int8/uint8 model
runs on XNNPACK in LiteRT but on TFLite's built-in kernels in tflite-runtime 2.14, which round
differently (intermediate tensors differ by up to 3 LSB, so scores by one step of 1/256 and
boxes by about a pixel): there, tflite-runtime is compared with LiteRT's built-in kernels,
which the golden file also holds.
"""

from __future__ import annotations

import pytest

from tests.infer.helpers import RUNTIME, needs_runtime
from tests.infer.runtime_cases import CASES, detect, load_golden

pytestmark = needs_runtime

BOX_TOL_PX = 1e-4
SCORE_TOL = 1e-6


def _kernels(runtime: str, quantized: bool) -> str | None:
    """Which of LiteRT's runs ``runtime`` reproduces: XNNPACK's, or the built-in kernels'."""
    if runtime == "ai_edge_litert":
        return "xnnpack"
    if runtime == "tflite_runtime":
        return "builtin" if quantized else "xnnpack"
    return None  # tensorflow: not measured


@pytest.fixture(scope="module")
def golden() -> dict:
    return load_golden()


def test_golden_covers_every_case(golden):
    assert sorted(golden["cases"]) == sorted(CASES)
    for case, runs in golden["cases"].items():
        assert set(runs) == {"xnnpack", "builtin"}, case
        assert all(len(found) == 10 for found in runs.values()), case


@pytest.mark.parametrize("case", CASES)
def test_detections_equal_litert(golden, case, pytestconfig):
    run = detect(case)  # runtime="auto": the session's runtime
    forced = pytestconfig.getoption("--infer-runtime")
    assert run.runtime == (forced or RUNTIME)
    kernels = _kernels(run.runtime, run.quantized)
    if kernels is None:
        pytest.skip(f"which kernels {run.runtime} uses is not known")
    want = golden["cases"][case][kernels]
    assert len(run.detections) == len(want)
    for i, (got, ref) in enumerate(zip(run.detections, want, strict=True)):
        where = f"{case} #{i} on {run.runtime} vs LiteRT {golden['ai_edge_litert']} ({kernels})"
        assert [c[:2] for c in got["categories"]] == [c[:2] for c in ref["categories"]], where
        assert [c[2] for c in got["categories"]] == pytest.approx(
            [c[2] for c in ref["categories"]], rel=0, abs=SCORE_TOL), where
        assert got["box"] == pytest.approx(ref["box"], rel=0, abs=BOX_TOL_PX), where
        assert [k[0] for k in got["keypoints"]] == [k[0] for k in ref["keypoints"]], where
        assert [k[1:] for k in got["keypoints"]] == [
            pytest.approx(k[1:], rel=0, abs=BOX_TOL_PX) for k in ref["keypoints"]], where

