"""Shared fixtures of the aio and metrics tests: the loopback server in a child process."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator

import pytest

pytest.importorskip("aiohttp")

from edgekit.aio._loopback import LoopbackServer  # noqa: E402


@pytest.fixture(scope="session")
def server() -> Iterator[LoopbackServer]:
    """One aiohttp server on 127.0.0.1 for the session: stops after 5 minutes or 100,000
    requests even if the test run dies; `hang=1` waits 10 s."""
    with LoopbackServer(lifetime_s=300, max_requests=100_000, max_delay_s=10.0) as srv:
        yield srv


def run_clean(coro):
    """``asyncio.run(coro)``, then fail on any ResourceWarning (an unclosed session or
    socket) or "never awaited" warning it left behind."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = asyncio.run(coro)
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, (ResourceWarning, RuntimeWarning))]
    assert not leaks, [str(w.message) for w in leaks]
    return result
