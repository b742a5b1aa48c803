"""A bounded, self-stopping aiohttp server on 127.0.0.1 for the tests, the benchmarks and
``edgekit demo``: configurable latency, failures, hangs and bodies, per request.

It runs in a child process (``python -m edgekit.aio._loopback``), so the client being
measured has its own interpreter, CPU and file descriptors.  :class:`LoopbackServer` starts it
and stops it; the child also stops by itself after ``lifetime_s`` seconds or
``max_requests`` requests, so a crashed test never leaves it behind.

Every request to ``/r/<key>`` takes its behaviour from the query string:

==============  ====================================================================
``delay``       seconds to wait before answering (capped at ``--max-delay``)
``status``      HTTP status to answer with (default 200)
``fail``        answer 503 to the first ``fail`` requests for this ``key``, then normally
``hang``        ``1``: wait ``--max-delay`` seconds (longer than any client timeout used)
``kind``        ``json`` (default: ``{"key", "attempt", "method", "body_bytes"}``),
                ``text``, ``bad-json`` (a JSON content type with a broken body),
                ``big`` (``size`` bytes of octets)
``retry_after`` with ``fail``: send this ``Retry-After`` header (seconds)
==============  ====================================================================

``GET /stats`` answers ``{"requests", "in_flight", "max_in_flight", "connections",
"max_connections"}``; ``POST /reset`` zeroes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from typing import Any

from edgekit import _backend

DEFAULT_LIFETIME_S = 300.0
DEFAULT_MAX_REQUESTS = 200_000
DEFAULT_MAX_DELAY_S = 30.0


class _State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.max_connections = 0
        self.attempts: Counter[str] = Counter()

    count_connections: Any = staticmethod(lambda: 0)

    def connections(self) -> int:
        n = self.count_connections()
        self.max_connections = max(self.max_connections, n)
        return n


def _make_app(max_requests: int, max_delay_s: float, stop: asyncio.Event) -> Any:
    from aiohttp import web

    state = _State()

    async def item(request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        q = request.query
        state.requests += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        state.connections()
        try:
            if state.requests >= max_requests:
                stop.set()
            state.attempts[key] += 1
            attempt = state.attempts[key]
            body = await request.read()
            delay = min(float(q.get("delay", 0.0)), max_delay_s)
            if q.get("hang") == "1":
                delay = max_delay_s
            if delay > 0:
                await asyncio.sleep(delay)
            if attempt <= int(q.get("fail", 0)):
                headers = {}
                if "retry_after" in q:
                    headers["Retry-After"] = q["retry_after"]
                return web.Response(status=503, text="try again", headers=headers)
            status = int(q.get("status", 200))
            kind = q.get("kind", "json")
            if kind == "text":
                return web.Response(status=status, text=f"item {key}")
            if kind == "bad-json":
                return web.Response(status=status, body=b'{"key": ',
                                    content_type="application/json")
            if kind == "big":
                return web.Response(status=status, body=b"x" * int(q.get("size", 0)),
                                    content_type="application/octet-stream")
            return web.json_response({"key": key, "attempt": attempt, "method": request.method,
                                      "body_bytes": len(body)}, status=status)
        finally:
            state.in_flight -= 1

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({
            "requests": state.requests, "in_flight": state.in_flight,
            "max_in_flight": state.max_in_flight, "connections": state.connections(),
            "max_connections": state.max_connections,
        })

    async def reset(request: web.Request) -> web.Response:
        state.reset()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/r/{key}", item)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    app["state"] = state
    return app


async def _serve(args: argparse.Namespace) -> None:
    import ssl

    from aiohttp import web

    stop = asyncio.Event()
    app = _make_app(args.max_requests, args.max_delay, stop)
    state: _State = app["state"]
    ssl_ctx = None
    if args.certfile:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(args.certfile, args.keyfile)
        if args.client_cafile:  # mutual TLS: a client certificate from this CA is required
            ssl_ctx.load_verify_locations(args.client_cafile)
            ssl_ctx.verify_mode = ssl.CERT_REQUIRED
    runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True,
                           shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, ssl_context=ssl_ctx, backlog=4096)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    web_server = runner.server
    assert web_server is not None
    state.count_connections = lambda: len(web_server._connections)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"PORT {port}", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), args.lifetime)
    except asyncio.TimeoutError:
        pass
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_S)
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS)
    parser.add_argument("--max-delay", type=float, default=DEFAULT_MAX_DELAY_S)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--client-cafile")
    asyncio.run(_serve(parser.parse_args(argv)))


class LoopbackServer:
    """The server in a child process, as a context manager.

    ``lifetime_s`` and ``max_requests`` bound it; ``max_delay_s`` caps ``delay`` and is how
    long ``hang=1`` waits.  ``certfile``/``keyfile`` serve HTTPS; ``client_cafile`` also
    requires a client certificate issued by that CA (mutual TLS).
    """

    def __init__(self, *, lifetime_s: float = 120.0, max_requests: int = DEFAULT_MAX_REQUESTS,
                 max_delay_s: float = 10.0, certfile: str | None = None,
                 keyfile: str | None = None, client_cafile: str | None = None) -> None:
        self._cmd = [sys.executable, "-m", "edgekit.aio._loopback", "--lifetime",
                     str(lifetime_s), "--max-requests", str(max_requests), "--max-delay",
                     str(max_delay_s)]
        for flag, value in (("--certfile", certfile), ("--keyfile", keyfile),
                            ("--client-cafile", client_cafile)):
            if value:
                self._cmd += [flag, value]
        self.scheme = "https" if certfile else "http"
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> LoopbackServer:
        env = dict(os.environ)
        env[_backend.ENV_VAR] = _backend.REQUESTED  # the backend of the process starting it
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self._proc = subprocess.Popen(self._cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"loopback server did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, key: object, **query: object) -> str:
        """URL of ``/r/<key>`` with the given behaviour (see the module docstring)."""
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{self.base}/r/{key}" + (f"?{qs}" if qs else "")

    def _call(self, method: str, path: str) -> dict[str, Any]:
        if self.scheme != "http":
            raise RuntimeError("stats are only read over plain HTTP")
        req = urllib.request.Request(self.base + path, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        """The server's counters (requests served, peak in-flight requests and connections)."""
        return self._call("GET", "/stats")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def wait_idle(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """Wait until the server holds no connection (the client closed its own), return the
        stats."""
        end = time.monotonic() + timeout_s
        while True:
            s = self.stats()
            # the stats request itself is one connection
            if s["connections"] <= 1 or time.monotonic() > end:
                return s
            time.sleep(0.02)


if __name__ == "__main__":
    main()
