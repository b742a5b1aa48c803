"""The ``edgekit demo update`` section runs and reports an exact install."""

from __future__ import annotations

import io

import pytest

from edgekit._demo import run


@pytest.mark.slow
def test_demo_section_runs():
    out = io.StringIO()
    assert run(out, ("update",)) == 0
    text = out.getvalue()
    assert "tree exact: True" in text and "SHA-256 checked" in text
