"""Run in a child process by test_file_descriptors.py: lower RLIMIT_NOFILE, fetch N URLs
from the loopback server, print a JSON summary (results, wall time, peak open descriptors).

    python -m tests.aio.fd_child PORT N LIMIT {fetch_all|unbounded}
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def sample_peak(peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], open_fds())
        await asyncio.sleep(0.005)


async def main(port: int, n: int, how: str) -> dict:
    urls = [f"http://127.0.0.1:{port}/r/fd{i}" for i in range(n)]
    peak = [open_fds()]
    sampler = asyncio.create_task(sample_peak(peak))
    t0 = time.perf_counter()
    if how == "fetch_all":
        from edgekit.aio import Response, fetch_all

        results = await fetch_all(urls)  # the default settings
        ok = sum(isinstance(r, Response) and r.data["key"] == f"fd{i}"
                 for i, r in enumerate(results))
        errors = sorted({type(r).__name__ for r in results if not isinstance(r, Response)})
    else:  # the article's gather, without aiohttp's default connection limit
        import aiohttp

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            async def get(u):
                async with s.get(u) as r:
                    return await r.json()

            results = await asyncio.gather(*(get(u) for u in urls), return_exceptions=True)
        ok = sum(isinstance(r, dict) for r in results)
        errors = sorted({f"{type(r).__name__}: {getattr(r, 'strerror', None) or r}"[:120]
                         for r in results if not isinstance(r, dict)})[:3]
    wall = time.perf_counter() - t0
    sampler.cancel()
    return {"ok": ok, "n": n, "wall_s": wall, "peak_fds": peak[0], "errors": errors}


if __name__ == "__main__":
    port, n, limit, how = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    print(json.dumps(asyncio.run(main(port, n, how))))
