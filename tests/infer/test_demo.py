"""The ``edgekit demo`` section: finds the face in the shipped image and prints the box and
the per-stage timings; without a runtime it is reported as skipped."""

from __future__ import annotations

import io

import pytest

from edgekit.errors import RuntimeUnavailableError
from edgekit.infer import _demo
from tests.infer.helpers import needs_runtime


@needs_runtime
def test_demo_prints_box_and_timings():
    out = io.StringIO()
    rows = _demo.run(out)
    text = out.getvalue()
    assert "face 0.9" in text and "box x 179" in text and "y 81" in text
    for stage in ("preprocess", "invoke", "postprocess"):
        assert f"{stage:<12} median" in text
    assert len(rows) == 1 and "face at (179,81)" in rows[0].edgekit


def test_demo_without_runtime_is_skipped(monkeypatch):
    monkeypatch.setattr(_demo, "available_runtimes", lambda: ())
    with pytest.raises(RuntimeUnavailableError) as info:
        _demo.run(io.StringIO())
    assert info.value.extra == "infer"
