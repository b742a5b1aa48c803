"""The test server itself is bounded: it stops after its lifetime or its request budget."""

from __future__ import annotations

import time
import urllib.request

import pytest

pytest.importorskip("aiohttp")

from edgekit.aio._loopback import LoopbackServer  # noqa: E402


def _wait_exit(srv: LoopbackServer, seconds: float) -> float:
    t0 = time.monotonic()
    srv._proc.wait(seconds)
    return time.monotonic() - t0


@pytest.mark.slow  # waits on real timers; backend-independent
def test_stops_after_its_lifetime():
    with LoopbackServer(lifetime_s=0.5) as srv:
        assert srv.stats()["requests"] == 0
        assert _wait_exit(srv, 10) < 10


@pytest.mark.slow  # waits on real timers; backend-independent
def test_stops_after_its_request_budget():
    with LoopbackServer(lifetime_s=60, max_requests=3) as srv:
        for i in range(3):
            with urllib.request.urlopen(srv.url(i), timeout=5) as resp:
                assert resp.status == 200
        assert _wait_exit(srv, 10) < 10
