"""The twin section of ``edgekit demo`` runs without a broker on a temporary SQLite store and
reports what it measured."""

from __future__ import annotations

import io
import re

from edgekit import _demo as demo
from edgekit.twin import _demo


def test_demo_section_runs_the_shadow_lifecycle_and_prints_measured_figures():
    out = io.StringIO()
    rows = _demo.run(out)
    text = out.getvalue()
    assert 'delta {"sample_s": 60, "mode": "eco"}' in text
    assert "version 9, no delta: True" in text and "refused with 409" in text
    assert "history 1..9 without a gap" in text
    raw, frames = (int(v.replace(",", "")) for v in re.findall(
        r"\(10,080 readings, ([\d,]+) B raw\) -> ([\d,]+) B of frames", text)[0])
    assert raw == 161_280 and frames * 10 < raw
    assert "twin.update x9" in text and "twin.reject 409 x1" in text
    delta_b, full_b = map(int, re.findall(r"delta report (\d+) B, full document (\d+) B",
                                          text)[0])
    assert full_b > 2.8 * delta_b
    assert [r.what for r in rows][0] == "device shadow, durable SQLite store"
    assert len(rows) == 3


def test_twin_is_a_section_of_edgekit_demo():
    assert "twin" in demo.SECTIONS
    out = io.StringIO()
    assert demo.run(out, sections=("twin",)) == 0
    assert "== twin" in out.getvalue() and "readings beside the twin" in out.getvalue()
