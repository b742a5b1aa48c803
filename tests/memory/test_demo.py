"""The memory section of ``edgekit demo`` runs on the shipped series and reports figures."""

from __future__ import annotations

import io
import re

import pytest

from edgekit.memory import _demo


@pytest.mark.slow  # ~1 s native, ~5 s on the reference backend
def test_demo_section_prints_measured_figures():
    out = io.StringIO()
    rows = _demo.run(out)
    text = out.getvalue()
    assert "__slots__ class" in text and "spill kept all 43,200" in text
    kept, dropped = (int(x.replace(",", "")) for x in re.findall(
        r"drop_oldest kept ([\d,]+) and counted ([\d,]+) dropped", text)[0])
    assert kept + dropped == 43_200 and dropped > 0
    hot, sealed = map(float, re.findall(r"([\d.]+) hot, ([\d.]+) sealed", rows[0].edgekit)[0])
    assert 17.0 <= hot <= 18.0 and sealed <= 1.0  # float64 values, kept as given
    assert rows[1].article == "40%"
