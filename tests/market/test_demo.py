"""The market section of ``edgekit demo`` runs and prints measured figures."""

from __future__ import annotations

import io
import re

import pytest

from edgekit import _demo as demo
from edgekit.market import MECHANISMS

pytest.importorskip("scipy")


def test_market_is_a_section_of_edgekit_demo():
    assert "market" in demo.SECTIONS
    out = io.StringIO()
    assert demo.run(out, sections=("market",)) == 0
    text = out.getvalue()
    assert "== market" in text
    assert text.count("  [ok]") == len(MECHANISMS)  # every clearing passed its checks
    deficit = float(re.findall(r"deficit ([\d.]+)/h", text)[0])
    assert deficit > 0  # VCG's, shown
    assert len(re.findall(r"round \d+:", text)) == 6
    apps = re.findall(r"applications (\d+)/(\d+) profitable", text)[0]
    assert int(apps[1]) == 120
