"""Without aiohttp: edgekit.aio still imports, gather works, fetching says which extra to
install (a child interpreter where `import aiohttp` fails)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests._env import child_env

CHILD = """
import sys
sys.modules["aiohttp"] = None  # import aiohttp -> ImportError
import asyncio
from edgekit.aio import fetch_all, gather, Fetcher
from edgekit.errors import RuntimeUnavailableError

async def one():
    return 1

assert asyncio.run(gather([one(), one()])) == [1, 1]
for call in (lambda: asyncio.run(fetch_all(["http://127.0.0.1/"])), lambda: Fetcher()):
    try:
        call()
    except RuntimeUnavailableError as err:
        assert err.extra == "aio" and "edgekit[aio]" in str(err), err
    else:
        raise AssertionError("no RuntimeUnavailableError")
print("ok")
"""


def test_without_aiohttp():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=60, env=child_env())
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
