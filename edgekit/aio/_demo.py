"""``edgekit demo`` section: fan-in from 500 simulated devices on a loopback aiohttp server,
1% of them hanging and 1% failing, against the article's plain gather."""

from __future__ import annotations

import asyncio
import math
import time
from typing import TextIO

from edgekit._demo import DemoRow
from edgekit.aio.fetch import Response, _aiohttp, fetch_all

N, LATENCY_S, CONCURRENCY, TIMEOUT_S = 500, 0.02, 100, 0.25


def run(out: TextIO) -> list[DemoRow]:
    aiohttp = _aiohttp()  # RuntimeUnavailableError (extra [aio]) skips the section
    from edgekit.aio._loopback import LoopbackServer

    with LoopbackServer(lifetime_s=60, max_requests=10 * N, max_delay_s=1.0) as server:
        def urls(tag: str) -> list[str]:
            return [server.url(f"{tag}{i}", delay=LATENCY_S,
                               **({"hang": 1} if i % 100 == 37 else
                                  {"status": 500} if i % 100 == 73 else
                                  {"fail": 1} if i % 100 == 11 else {}))
                    for i in range(N)]

        t0 = time.perf_counter()
        results = asyncio.run(fetch_all(urls("e"), concurrency=CONCURRENCY, timeout=TIMEOUT_S,
                                        retries=1, backoff=0.02))
        wall = time.perf_counter() - t0
        ok = sum(isinstance(r, Response) for r in results)
        kinds: dict[str, int] = {}
        for r in results:
            if not isinstance(r, Response):
                kinds[type(r).__name__] = kinds.get(type(r).__name__, 0) + 1
        retried = sum(isinstance(r, Response) and r.attempts > 1 for r in results)

        async def article() -> list:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(TIMEOUT_S)) as s:
                async def get(u: str) -> object:
                    async with s.get(u) as r:
                        r.raise_for_status()
                        return await r.json()
                return await asyncio.gather(*(get(u) for u in urls("a")))

        try:
            kept = len(asyncio.run(article()))
            article_note = f"{kept} results"
        except Exception as err:  # the article's gather raises the first failure
            kept, article_note = 0, f"raised {type(err).__name__}, 0 results"
    ideal = LATENCY_S * math.ceil(N / CONCURRENCY)
    print(f"  {N} requests at {LATENCY_S * 1e3:.0f} ms, {CONCURRENCY} in flight; 1% hang, "
          f"1% answer 500, 1% answer 503 once", file=out)
    print(f"  fetch_all: {ok}/{N} healthy results in order ({retried} after a retry), "
          f"{kinds} in place of the rest, in {wall:.2f} s (ideal healthy bound "
          f"{ideal:.2f} s, + one {TIMEOUT_S} s timeout and its retry)", file=out)
    print(f"  the article's asyncio.gather on the same: {article_note}", file=out)
    return [DemoRow(f"fan-in of {N} requests, 3% faulty", f"{ok}/{N} kept in {wall:.2f} s",
                    article_note)]
