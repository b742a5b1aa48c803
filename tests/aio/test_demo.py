"""The `edgekit demo` sections of aio and metrics run and report real figures."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("prometheus_client")


@pytest.mark.slow
def test_demo_sections():
    from edgekit.aio import _demo as aio_demo
    from edgekit.metrics import _demo as metrics_demo

    out = io.StringIO()
    rows = aio_demo.run(out) + metrics_demo.run(out)
    text = out.getvalue()
    assert rows[0].edgekit.startswith("490/500 kept"), text
    assert "0 results" in rows[0].article, text
    assert rows[1].edgekit == "100 requests, 10 retries counted", text
