"""edgekit.aio.fetch_all / fetch_stream / Fetcher against a real aiohttp server on 127.0.0.1
(a child process, see edgekit/aio/_loopback.py): latency, failures, hangs, bodies."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

aiohttp = pytest.importorskip("aiohttp")

from edgekit import _telemetry  # noqa: E402
from edgekit.aio import (  # noqa: E402
    Fetcher,
    FetchError,
    FetchOptions,
    HTTPStatusError,
    Request,
    RequestTimeoutError,
    Response,
    fetch_all,
    fetch_stream,
)
from edgekit.errors import InputError, InputTypeError, OptionsError  # noqa: E402
from tests.aio.common import run_clean  # noqa: E402


def _plan(server, n, *, hang=(), fail=(), flaky=(), delay=0.01):
    """n URLs; indices in `hang` never answer in time, in `fail` always answer 500, in
    `flaky` answer 503 once then 200."""
    urls = []
    for i in range(n):
        q = {"delay": delay}
        if i in hang:
            q["hang"] = 1
        elif i in fail:
            q["status"] = 500
        elif i in flaky:
            q["fail"] = 1
        urls.append(server.url(f"{time.monotonic_ns()}-{i}", **q))
    return urls


def test_one_percent_timeouts_and_failures_keep_every_healthy_result(server):
    n = 300
    hang, fail, flaky = {17, 150, 299}, {40, 41, 200}, {5, 77, 250}
    urls = _plan(server, n, hang=hang, fail=fail, flaky=flaky)
    t0 = time.perf_counter()
    results = run_clean(fetch_all(urls, timeout=0.3, retries=2, backoff=0.01))
    wall = time.perf_counter() - t0
    assert len(results) == n
    for i, (url, r) in enumerate(zip(urls, results, strict=True)):
        if i in hang:
            assert isinstance(r, RequestTimeoutError) and r.reason == "timeout"
            assert r.attempts == 3 and r.url == url and isinstance(r, TimeoutError)
        elif i in fail:
            assert isinstance(r, HTTPStatusError) and r.status == 500 and r.attempts == 3
        else:
            assert isinstance(r, Response), (i, r)
            assert r.status == 200 and r.data["key"] == url.split("/r/")[1].split("?")[0]
            assert r.attempts == (2 if i in flaky else 1)
            assert r.data["attempt"] == r.attempts
    # the hanging ones cost 3 attempts x 0.3 s (+ backoff), in parallel with the rest
    assert 0.9 <= wall < 5.0


def test_the_articles_plain_gather_loses_everything_on_one_timeout(server):
    """The contrast, for real: the article's unbounded gather over the same kind of batch."""
    urls = _plan(server, 50, hang={10})

    async def article():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as s:
            async def get(u):
                async with s.get(u) as r:
                    return await r.json()
            return await asyncio.gather(*(get(u) for u in urls))

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(article())
    results = run_clean(fetch_all(urls, timeout=0.3, retries=0))
    assert sum(isinstance(r, Response) for r in results) == 49


def test_concurrency_bounds_requests_and_connections(server):
    server.reset()
    urls = _plan(server, 120, delay=0.02)
    results = run_clean(fetch_all(urls, concurrency=8))
    assert all(isinstance(r, Response) for r in results)
    stats = server.wait_idle()
    assert stats["max_in_flight"] == 8
    assert stats["max_connections"] <= 8 + 1  # + the stats request itself
    assert stats["connections"] <= 1  # the session closed its connections


def test_limit_per_host_waits_outside_the_timeout(server):
    """30 requests of 0.1 s, 3 at a time to the host, each with a 0.25 s timeout: waiting for
    a slot must not count against the timeout (10 rounds x 0.1 s would exceed it)."""
    server.reset()
    urls = _plan(server, 30, delay=0.1)
    results = run_clean(fetch_all(urls, concurrency=30, limit_per_host=3, timeout=0.25,
                                  retries=0))
    assert all(isinstance(r, Response) for r in results), [r for r in results
                                                            if not isinstance(r, Response)]
    stats = server.wait_idle()
    assert stats["max_in_flight"] == 3 and stats["max_connections"] <= 3 + 1


def test_fetcher_reuses_its_connections_across_batches(server):
    server.reset()

    async def main():
        async with Fetcher(concurrency=4) as f:
            a = await f.fetch_all(_plan(server, 40))
            b = await f.fetch_all(_plan(server, 40))
            one = await f.fetch(server.url("single"))
        return a + b + [one]

    results = run_clean(main())
    assert all(isinstance(r, Response) for r in results)
    assert server.wait_idle()["max_connections"] <= 4 + 1


def test_retries_only_what_is_safe_to_repeat(server):
    key = time.monotonic_ns()
    reqs = [
        Request(server.url(f"{key}-post", fail=1), method="POST", json={"a": 1}),
        Request(server.url(f"{key}-post-idem", fail=1), method="post", json={"a": 1},
                idempotent=True),
        server.url(f"{key}-404", status=404),
        Request(server.url(f"{key}-put", fail=2), method="PUT", body=b"abc"),
    ]
    results = run_clean(fetch_all(reqs, retries=3, backoff=0.01))
    assert isinstance(results[0], HTTPStatusError) and results[0].status == 503
    assert results[0].attempts == 1
    assert isinstance(results[1], Response) and results[1].attempts == 2
    assert results[1].data == {"key": f"{key}-post-idem", "attempt": 2, "method": "POST",
                               "body_bytes": 7}
    assert isinstance(results[2], HTTPStatusError) and results[2].attempts == 1
    assert results[3].attempts == 3 and results[3].data["body_bytes"] == 3


@pytest.mark.slow  # waits on real timers; backend-independent
def test_backoff_is_jittered_exponential_and_honours_retry_after(server):
    key = time.monotonic_ns()
    # full jitter: the waits before retries 1..3 are within [0, 0.05], [0, 0.1], [0, 0.2]
    urls = [server.url(f"{key}-{i}", fail=3) for i in range(20)]
    t0 = time.perf_counter()
    results = run_clean(fetch_all(urls, retries=3, backoff=0.05))
    wall = time.perf_counter() - t0
    elapsed = [r.elapsed_s for r in results]
    assert all(r.attempts == 4 for r in results)
    assert max(elapsed) < 0.35 + 0.5  # the sum of the caps plus 4 round trips
    assert len({round(e, 3) for e in elapsed}) > 5  # jittered, not synchronised
    assert wall < 2.0
    # Retry-After: 1 s is longer than any jittered wait here, and is honoured
    r = run_clean(fetch_all([server.url(f"{key}-ra", fail=1, retry_after=1)], backoff=0.01))[0]
    assert isinstance(r, Response) and r.attempts == 2 and r.elapsed_s >= 0.95
    # ...but capped at backoff_max
    r = run_clean(fetch_all([server.url(f"{key}-ra2", fail=1, retry_after=30)], backoff=0.01,
                            backoff_max=0.2))[0]
    assert isinstance(r, Response) and r.elapsed_s < 1.0


def test_rate_limit_spaces_the_attempts(server):
    urls = _plan(server, 21, delay=0.0)
    t0 = time.perf_counter()
    results = run_clean(fetch_all(urls, rate_limit=50.0))
    assert all(isinstance(r, Response) for r in results)
    assert time.perf_counter() - t0 >= 20 / 50 - 0.01


def test_total_timeout_returns_what_finished(server):
    urls = _plan(server, 30, hang=set(range(20, 30)), delay=0.0)
    t0 = time.perf_counter()
    results = run_clean(fetch_all(urls, total_timeout=0.6, concurrency=5, timeout=5.0))
    assert time.perf_counter() - t0 < 1.5
    assert all(isinstance(r, Response) for r in results[:20])
    late = results[20:]
    assert all(isinstance(r, RequestTimeoutError) and r.reason == "deadline" for r in late)
    assert {r.url for r in late} == set(urls[20:])


def test_bodies(server):
    key = time.monotonic_ns()
    reqs = [server.url(f"{key}-a", kind="text"), server.url(f"{key}-b", kind="bad-json"),
            server.url(f"{key}-c", kind="big", size=5000),
            server.url(f"{key}-d", kind="big", size=20000),
            Request(server.url(f"{key}-e"), method="HEAD")]
    results = run_clean(fetch_all(reqs, max_body_bytes=10000))
    assert results[0].data is None and results[0].text() == f"item {key}-a"
    assert isinstance(results[1], FetchError) and results[1].reason == "body"
    assert results[2].body == b"x" * 5000
    assert isinstance(results[3], FetchError) and results[3].reason == "body"
    assert results[4].status == 200 and results[4].body == b""


def test_raise_for_status_false_returns_the_response(server):
    r = run_clean(fetch_all([server.url("nf", status=404)], raise_for_status=False))[0]
    assert isinstance(r, Response) and r.status == 404 and r.data["key"] == "nf"


def test_connection_refused_is_a_result(server):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = run_clean(fetch_all([f"http://127.0.0.1:{port}/x", server.url("fine")],
                                  retries=1, backoff=0.01))
    assert isinstance(results[0], FetchError) and results[0].reason == "connection"
    assert results[0].attempts == 2 and isinstance(results[0].__cause__, aiohttp.ClientError)
    assert isinstance(results[1], Response)


def test_cancellation_closes_requests_and_session(server):
    server.reset()
    urls = _plan(server, 40, hang=set(range(40)))

    async def main():
        task = asyncio.create_task(fetch_all(urls, concurrency=10, timeout=9.0))
        while server.stats()["in_flight"] < 10:  # wait until the server holds 10 requests
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert asyncio.all_tasks() == {asyncio.current_task()}

    t0 = time.perf_counter()
    run_clean(main())
    stats = server.wait_idle()
    assert time.perf_counter() - t0 < 5.0
    assert stats["connections"] <= 1 and stats["in_flight"] == 0
    assert stats["requests"] == 10  # the 30 unstarted requests were never sent


def test_stream_yields_as_completed_and_early_exit_cleans_up(server):
    server.reset()
    key = time.monotonic_ns()
    urls = [server.url(f"{key}-{i}", delay=0.3 if i == 0 else 0.0, **({"hang": 1} if i >= 5
                                                                     else {}))
            for i in range(12)]

    async def main():
        seen = []
        async with contextlib.aclosing(fetch_stream(urls, concurrency=6)) as results:
            async for i, r in results:
                assert isinstance(r, Response) and r.url == urls[i]
                seen.append(i)
                if len(seen) == 5:
                    break
        return seen

    seen = run_clean(main())
    assert seen[-1] == 0 and sorted(seen) == [0, 1, 2, 3, 4]
    assert server.wait_idle()["connections"] <= 1


def test_stream_pulls_requests_lazily(server):
    pulled = []
    done = []

    def requests():
        for i in range(25):
            pulled.append(i)
            assert len(pulled) <= len(done) + 3 + 1
            yield server.url(f"lazy{i}")

    async def main():
        async for i, r in fetch_stream(requests(), concurrency=3):
            assert isinstance(r, Response)
            done.append(i)

    run_clean(main())
    assert sorted(done) == list(range(25))


def test_a_bad_request_in_a_stream_raises_after_cleaning_up(server):
    def requests():
        yield server.url("good", delay=0.2)
        yield 42

    async def main():
        with pytest.raises(InputTypeError):
            async for _ in fetch_stream(requests()):
                pass
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_clean(main())


def test_telemetry_one_event_per_request(server):
    events = []
    sink = lambda e, f: events.append((e, f))  # noqa: E731
    _telemetry.add_sink(sink)
    try:
        urls = _plan(server, 10, hang={3}, fail={4}, flaky={5})
        run_clean(fetch_all(urls, timeout=0.3, retries=1, backoff=0.01))
    finally:
        _telemetry.remove_sink(sink)
    assert len(events) == 10 and {e for e, _ in events} == {"aio.request"}
    outcomes = sorted(f["outcome"] for _, f in events)
    assert outcomes == ["error"] + ["ok"] * 8 + ["timeout"]
    assert sorted(f["attempts"] for _, f in events) == [1] * 7 + [2] * 3
    assert all(f["seconds"] >= 0.0 for _, f in events)


def test_bad_input_raises_before_any_request():
    with pytest.raises(InputError):
        asyncio.run(fetch_all(["ftp://example/x"]))
    with pytest.raises(InputError):
        asyncio.run(fetch_all(["/relative"]))
    with pytest.raises(InputTypeError):
        asyncio.run(fetch_all([b"http://127.0.0.1/"]))
    with pytest.raises(InputError):
        Request("http://127.0.0.1/", method="BREW")
    with pytest.raises(InputError):
        Request("http://127.0.0.1/", body=b"x", json={"a": 1})
    with pytest.raises(InputError):
        Request("http://127.0.0.1/", json=float("nan"))
    with pytest.raises(InputTypeError):
        Request("http://127.0.0.1/", headers={"a": 1})
    for bad in ({"concurrency": 0}, {"timeout": -1}, {"retries": -1}, {"rate_limit": 0},
                {"backoff": float("inf")}, {"retry_statuses": {99}}, {"nonsense": 1}):
        with pytest.raises(OptionsError):
            asyncio.run(fetch_all([], **bad))
    with pytest.raises(InputTypeError):
        Fetcher(ssl=False)


def test_options_object_and_request_objects():
    opts = FetchOptions(concurrency=3, retries=0)
    assert Fetcher(opts, timeout=2.0).options == FetchOptions(concurrency=3, retries=0,
                                                              timeout=2.0)
    r = Request("http://127.0.0.1/x", method="patch", json=[1, 2])
    assert r.method == "PATCH" and r.body == b"[1,2]" and not r.retry_safe
    assert r.headers["Content-Type"] == "application/json"
    with pytest.raises(TypeError):
        r.headers["x"] = "y"  # read-only
    assert Request("http://127.0.0.1/x", method="DELETE").retry_safe
