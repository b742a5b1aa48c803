"""10,000 requests at the default settings stay within a few hundred file descriptors,
proved in a child process whose RLIMIT_NOFILE is 256; the article's gather without
aiohttp's default connection limit dies of EMFILE under the same limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests._env import child_env

pytest.importorskip("aiohttp")

ROOT = Path(__file__).resolve().parents[2]
FD_LIMIT = 256


def _child(server, n: int, how: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tests.aio.fd_child", str(server.port), str(n), str(FD_LIMIT),
         how], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True,
        env=child_env(),
    )
    return json.loads(out.stdout)


@pytest.mark.slow
def test_ten_thousand_requests_within_256_descriptors(server):
    server.reset()
    summary = _child(server, 10_000, "fetch_all")
    print(f"fetch_all: {summary}")
    assert summary["ok"] == 10_000, summary
    assert summary["peak_fds"] <= 100 + 30  # the 100 connections + the interpreter's own
    stats = server.wait_idle()
    assert stats["requests"] == 10_000 and stats["max_connections"] <= 100 + 1


@pytest.mark.slow  # waits on real timers; backend-independent
def test_unbounded_gather_runs_out_of_descriptors(server):
    summary = _child(server, 1000, "unbounded")
    print(f"the article's gather without a connection limit: {summary}")
    assert summary["ok"] < FD_LIMIT
    assert any("Too many open files" in e for e in summary["errors"]), summary
