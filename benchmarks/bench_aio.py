"""Fan-in of many HTTP requests: synchronous ``requests``, a thread pool, the article's plain
``asyncio.gather`` over aiohttp, and :func:`edgekit.aio.fetch_all`, against the loopback
server (a child process on 127.0.0.1) at a fixed server latency.

The ideal bound for N requests at latency L with C in flight is ``L * ceil(N / C)``.

* Every run: ratio checks (fetch_all against that bound and against synchronous code) and
  the 1%-timeouts check (how many results each approach hands back), on reduced sizes.
* ``pytest benchmarks/bench_aio.py --benchmark-enable`` times every approach at 1000
  requests; ``python tools/aio_bench_table.py`` measures the full table of ``docs/aio.md``
  (1000 requests at 5 and 50 ms, healthy and with 1% timing out, wall and CPU time).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

aiohttp = pytest.importorskip("aiohttp")
requests = pytest.importorskip("requests")

from edgekit.aio import Response, fetch_all  # noqa: E402
from edgekit.aio._loopback import LoopbackServer  # noqa: E402

CONCURRENCY = 100  # aiohttp's default connection limit, fetch_all's default concurrency
TIMEOUT_S = 1.0  # per request, the same for every approach
HANG_EVERY = 100  # with timeouts: request i hangs when i % 100 == 37 (1%)


def make_urls(server: LoopbackServer, n: int, latency_s: float, *,
              with_timeouts: bool = False) -> list[str]:
    tag = time.monotonic_ns()
    return [server.url(f"{tag}-{i}", delay=latency_s,
                       **({"hang": 1} if with_timeouts and i % HANG_EVERY == 37 else {}))
            for i in range(n)]


def ideal_s(n: int, latency_s: float, concurrency: int = CONCURRENCY) -> float:
    return latency_s * math.ceil(n / concurrency)


# --- the approaches: each returns the caller's list of results, or raises ---------------------

def run_sync(urls: list[str], timeout_s: float = TIMEOUT_S, **_: object) -> list:
    """Synchronous requests, one session, the loop a user writes (an exception ends it)."""
    with requests.Session() as s:
        return [s.get(u, timeout=timeout_s).json() for u in urls]


def run_threads(urls: list[str], timeout_s: float = TIMEOUT_S,
                concurrency: int = CONCURRENCY) -> list:
    """requests in a thread pool of `concurrency` threads, one session per thread."""
    local = threading.local()

    def get(u: str) -> dict:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s.get(u, timeout=timeout_s).json()

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(get, urls))


def run_plain_gather(urls: list[str], timeout_s: float = TIMEOUT_S, **_: object) -> list:
    """The article: asyncio.gather over one aiohttp session (default connector: 100
    connections), here with a timeout so that a hang ends."""
    async def main() -> list:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            async def get(u: str) -> dict:
                async with s.get(u) as r:
                    return await r.json()
            return await asyncio.gather(*(get(u) for u in urls))

    return asyncio.run(main())


def run_fetch_all(urls: list[str], timeout_s: float = TIMEOUT_S,
                  concurrency: int = CONCURRENCY) -> list:
    """edgekit: bounded, one result per request; no retries, so the wall times compare."""
    return asyncio.run(fetch_all(urls, timeout=timeout_s, retries=0, concurrency=concurrency))


APPROACHES: dict[str, Callable[..., list]] = {
    "requests (sync)": run_sync,
    "thread pool": run_threads,
    "plain gather (article)": run_plain_gather,
    "edgekit fetch_all": run_fetch_all,
}


def kept(results: list) -> int:
    """Healthy results the caller holds (an approach that raised holds none)."""
    return sum(isinstance(r, dict) or isinstance(r, Response) for r in results)


def measure(fn: Callable[..., list], urls: list[str], **kwargs: object) -> dict:
    """Wall and CPU seconds of one run (client side: the server is another process) and
    the results kept."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    error = None
    try:
        results = fn(urls, **kwargs)
    except Exception as err:  # the naive forms raise on the first failure
        results, error = [], type(err).__name__
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "kept": kept(results), "raised": error}


@pytest.fixture(scope="module")
def server():
    with LoopbackServer(lifetime_s=600, max_requests=200_000, max_delay_s=5.0) as srv:
        yield srv


# --- ratio checks (every run) ----------------------------------------------------------------

def test_fetch_all_near_the_ideal_bound_at_50ms(ratio, server):
    """200 requests at 50 ms, 20 in flight (10 rounds of the bound): fetch_all's wall time
    against the bound itself (a sleep of L * ceil(N / C))."""
    n, latency, conc = 200, 0.05, 20
    urls = make_urls(server, n, latency)
    ideal = ideal_s(n, latency, conc)
    r = ratio(f"fetch_all {n} req @50ms c={conc} vs ideal {ideal:.2f} s (>= 1/1.3)",
              lambda: run_fetch_all(urls, concurrency=conc), lambda: time.sleep(ideal),
              minimum=1 / 1.3, rounds=3)
    assert r.candidate_ms / 1e3 >= ideal * 0.99  # the bound is a bound


def test_fetch_all_against_synchronous_requests(ratio, server):
    """50 requests at 5 ms: fetch_all against the synchronous loop."""
    urls = make_urls(server, 50, 0.005)
    ratio("fetch_all vs requests (sync), 50 req @5ms", lambda: run_fetch_all(urls),
          lambda: run_sync(urls), minimum=4.0, rounds=3)


def test_results_kept_with_one_percent_timing_out(server):
    """200 requests at 5 ms, 2 of them hanging past the 0.3 s timeout."""
    urls = make_urls(server, 200, 0.005, with_timeouts=True)
    got = {name: measure(APPROACHES[name], urls, timeout_s=0.3)
           for name in ("thread pool", "plain gather (article)", "edgekit fetch_all")}
    assert got["edgekit fetch_all"]["kept"] == 198 and got["edgekit fetch_all"]["raised"] is None
    assert got["plain gather (article)"]["kept"] == 0
    assert got["plain gather (article)"]["raised"] == "TimeoutError"
    assert got["thread pool"]["kept"] == 0  # list(pool.map) raises at the first timeout


# --- absolute timings (--benchmark-enable; a smoke run of 20 requests otherwise) --------------

@pytest.mark.parametrize("latency", [0.005, 0.05], ids=["5ms", "50ms"])
@pytest.mark.parametrize("name", list(APPROACHES))
def test_fan_in(benchmark, server, name, latency):
    enabled = not benchmark.disabled
    n = 1000 if enabled else 20
    benchmark.group = f"{n} requests @{latency * 1e3:.0f} ms (ideal {ideal_s(n, latency):.3f} s)"
    urls = make_urls(server, n, latency)
    fn = APPROACHES[name]
    rounds = 1 if (enabled and name == "requests (sync)") else 3
    results = benchmark.pedantic(fn, args=(urls,), rounds=rounds if enabled else 1,
                                 iterations=1)
    assert kept(results) == n
