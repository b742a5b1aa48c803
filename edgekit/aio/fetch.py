"""Fetch many HTTP(S) requests concurrently, bounded, keeping every healthy result.

The article's fan-in is ``asyncio.gather(*(session.get(u) for u in urls))``: no timeout, no
retry, and one exception raises out of ``gather`` and throws every other result away; it only
keeps its file descriptors bounded because aiohttp's connector happens to default to 100
connections.  :func:`fetch_all` instead

* runs at most ``concurrency`` requests at once (and opens at most that many connections:
  the connector limit is the same number), pulling requests from the input lazily;
* gives each attempt a ``timeout`` and the whole batch an optional ``total_timeout``;
* retries idempotent requests on connection errors, timeouts and 429/5xx answers, after a
  full-jitter exponential backoff (``backoff * 2**k``, capped at ``backoff_max``, or the
  server's ``Retry-After`` when it says more), optionally under a ``rate_limit``;
* returns one result per request, in order: a :class:`Response` (JSON bodies decoded into
  ``data``) or the exception (:class:`~edgekit.errors.FetchError` and subclasses), never
  raising for a single request;
* on cancellation, cancels the requests in flight, closes their connections and the session.

:func:`fetch_stream` yields ``(index, result)`` as requests complete, and :class:`Fetcher`
keeps one session (connection pool, TLS context) across many batches.  TLS: pass an
``ssl.SSLContext`` (for mutual TLS, one with the device's certificate chain loaded).

Each request reports an ``aio.request`` telemetry event (outcome, seconds, attempts), which
:mod:`edgekit.metrics` turns into Prometheus counters and histograms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as _json
import random
import ssl as _ssl
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from edgekit import _telemetry
from edgekit.aio._bounded import DEFAULT_CONCURRENCY, check_concurrency, check_seconds, run_bounded
from edgekit.errors import (
    FetchError,
    HTTPStatusError,
    InputError,
    InputTypeError,
    OptionsError,
    RequestTimeoutError,
    RuntimeUnavailableError,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["FetchOptions", "Fetcher", "Request", "Response", "fetch_all", "fetch_stream"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
METHODS = IDEMPOTENT_METHODS | {"POST", "PATCH"}
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_NO_JSON: Any = None


def _aiohttp() -> Any:
    try:
        import aiohttp
    except ImportError as err:
        raise RuntimeUnavailableError(
            "edgekit.aio needs aiohttp: pip install 'edgekit[aio]'", feature="aio",
            extra="aio",
        ) from err
    return aiohttp


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise InputTypeError(f"url must be a str, got {type(url).__name__}", name="url",
                             got=type(url).__name__)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as err:
        raise InputError(f"url {url!r} is malformed: {err}", name="url", got=url) from err
    if parts.scheme not in ("http", "https") or not host:
        raise InputError(f"url must be an absolute http(s) URL with a host, got {url!r}",
                         name="url", expected="http(s)://host/...", got=url)
    return url


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request.

    Attributes:
        url: absolute ``http://`` or ``https://`` URL.
        method: HTTP method (upper-cased; GET, HEAD, OPTIONS, PUT, DELETE, TRACE, POST, PATCH).
        headers: header name -> value (copied into a read-only mapping).
        body: bytes to send (a str is sent as UTF-8), or ``None``.
        json: a JSON-serialisable value to send as the body with
            ``Content-Type: application/json`` (exclusive with ``body``; ``None`` means none).
        idempotent: whether it is safe to send twice (retries happen only then); ``None``
            (default) decides by method: POST and PATCH are not, the others are.
        timeout: seconds per attempt for this request, overriding the batch's ``timeout``.
    """

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    json: Any = _NO_JSON
    idempotent: bool | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        _check_url(self.url)
        if not isinstance(self.method, str) or self.method.upper() not in METHODS:
            raise InputError(f"method must be one of {sorted(METHODS)}, got {self.method!r}",
                             name="method", got=self.method)
        object.__setattr__(self, "method", self.method.upper())
        if not isinstance(self.headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()
        ):
            raise InputTypeError("headers must map str to str", name="headers")
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, str):
            body = body.encode()
        elif isinstance(body, (bytearray, memoryview)):
            body = bytes(body)
        elif body is not None and not isinstance(body, bytes):
            raise InputTypeError(f"body must be bytes or str, got {type(body).__name__}",
                                 name="body", got=type(body).__name__)
        if self.json is not _NO_JSON:
            if body is not None:
                raise InputError("give body or json, not both", name="json")
            try:
                body = _json.dumps(self.json, separators=(",", ":"),
                                   allow_nan=False).encode()
            except (TypeError, ValueError) as err:
                raise InputError(f"json is not JSON-serialisable: {err}", name="json") from err
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "headers", MappingProxyType(headers))
        if self.idempotent is not None and not isinstance(self.idempotent, bool):
            raise InputTypeError("idempotent must be a bool or None", name="idempotent")
        object.__setattr__(self, "timeout", check_seconds(self.timeout, "timeout"))

    @property
    def retry_safe(self) -> bool:
        """True when the request may be sent again (retried)."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in IDEMPOTENT_METHODS


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer.

    Attributes:
        url: the URL requested; status: the HTTP status (< 400 unless the batch was run with
        ``raise_for_status=False``); headers: case-insensitive, read-only; body: the raw bytes;
        data: the decoded JSON when the content type is JSON (``application/json`` or
        ``*/*+json``), else ``None``; elapsed_s: seconds from the first attempt to the end;
        attempts: how many times it was sent.
    """

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    data: Any
    elapsed_s: float
    attempts: int

    def text(self, encoding: str = "utf-8") -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode(encoding, errors="replace")


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """How a batch is fetched.

    Attributes:
        concurrency: the most requests in flight, and connections open, at once (>= 1).
            The default, 100, is aiohttp's own connector default.
        timeout: seconds per attempt (connect, send, wait and read the whole body).
        total_timeout: seconds for the whole batch, or ``None``: then what is still running
            is cancelled and every unfinished request yields a
            :class:`~edgekit.errors.RequestTimeoutError` with ``reason="deadline"``.
        retries: extra attempts for a retry-safe request after a connection error, a timeout
            or a status in ``retry_statuses`` (0 disables retrying).
        backoff: seconds; before retry k (1, 2...) the wait is uniform in
            ``[0, min(backoff_max, backoff * 2**(k-1))]`` ("full jitter"), or the server's
            ``Retry-After`` seconds when larger (still capped at ``backoff_max``).
        backoff_max: seconds, the longest wait between attempts.
        rate_limit: attempts per second across the batch (evenly spaced), or ``None``.
        limit_per_host: the most requests in flight, and connections open, to one host
            (0: only ``concurrency`` bounds).  Requests wait for a slot before their
            attempt's ``timeout`` starts.
        max_body_bytes: a longer answer is refused with a ``FetchError(reason="body")``.
        retry_statuses: the statuses that are retried.
        raise_for_status: when True (default) a status >= 400 is an
            :class:`~edgekit.errors.HTTPStatusError` result, else a :class:`Response`.
    """

    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = 10.0
    total_timeout: float | None = None
    retries: int = 2
    backoff: float = 0.1
    backoff_max: float = 5.0
    rate_limit: float | None = None
    limit_per_host: int = 0
    max_body_bytes: int = 16 * 1024 * 1024
    retry_statuses: frozenset[int] = RETRY_STATUSES
    raise_for_status: bool = True

    def __post_init__(self) -> None:
        try:
            check_concurrency(self.concurrency)
            check_seconds(self.timeout, "timeout", allow_none=False)
            check_seconds(self.total_timeout, "total_timeout")
            check_seconds(self.backoff, "backoff", allow_none=False)
            check_seconds(self.backoff_max, "backoff_max", allow_none=False)
            check_seconds(self.rate_limit, "rate_limit")
        except (InputError, InputTypeError) as err:
            raise OptionsError(str(err), name=err.name, got=err.got) from None
        for name, lo in (("retries", 0), ("limit_per_host", 0), ("max_body_bytes", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise OptionsError(f"{name} must be an int >= {lo}, got {value!r}", name=name,
                                   got=value)
        statuses = frozenset(self.retry_statuses)
        if not all(isinstance(s, int) and 100 <= s <= 599 for s in statuses):
            raise OptionsError("retry_statuses must be HTTP status codes", name="retry_statuses")
        object.__setattr__(self, "retry_statuses", statuses)
        if not isinstance(self.raise_for_status, bool):
            raise OptionsError("raise_for_status must be a bool", name="raise_for_status")


class _RateLimiter:
    """Spaces attempts at least ``1 / rate`` seconds apart (no burst)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)


def _as_request(item: object, index: int) -> Request:
    if isinstance(item, Request):
        return item
    if isinstance(item, str):
        return Request(item)
    raise InputTypeError(f"request {index} is a {type(item).__name__}; expected a URL str or "
                         "an edgekit.aio.Request", name="requests", got=type(item).__name__)


def _retry_after(headers: Mapping[str, str]) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", 0)))
    except ValueError:  # an HTTP date: not worth parsing for a capped wait
        return 0.0


class _Retryable(Exception):
    """Carries a failure that may be retried; ``error.__cause__`` is the original."""

    def __init__(self, error: FetchError, cause: BaseException | None = None,
                 retry_after_s: float = 0.0) -> None:
        error.__cause__ = cause
        self.error = error
        self.retry_after_s = retry_after_s


class Fetcher:
    """A reusable fetcher: one aiohttp session (connection pool, TLS context, default
    headers) for many batches.  Use it as ``async with Fetcher(...) as f``.

    Args:
        options: a :class:`FetchOptions`; keyword arguments override its fields
            (``Fetcher(concurrency=20)``).
        ssl: an ``ssl.SSLContext`` for HTTPS (e.g. the mutual-TLS client context of a
            device); ``None`` verifies servers against the system's CAs.
        headers: headers sent with every request (a request's own headers win).
        session: an ``aiohttp.ClientSession`` to use instead of opening one (it is not
            closed here, and its own connector limits apply too).

    Raises:
        RuntimeUnavailableError: aiohttp is not installed (extra ``[aio]``).
        OptionsError: a bad option.
    """

    def __init__(self, options: FetchOptions | None = None, *,
                 ssl: _ssl.SSLContext | None = None, headers: Mapping[str, str] | None = None,
                 session: aiohttp.ClientSession | None = None, **overrides: Any) -> None:
        self._aiohttp = _aiohttp()
        if options is not None and not isinstance(options, FetchOptions):
            raise InputTypeError("options must be a FetchOptions", name="options")
        base = options or FetchOptions()
        if overrides:
            unknown = set(overrides) - set(FetchOptions.__dataclass_fields__)
            if unknown:
                raise OptionsError(f"unknown option(s) {sorted(unknown)}",
                                   name=sorted(unknown)[0])
            fields = {f: getattr(base, f) for f in FetchOptions.__dataclass_fields__}
            base = FetchOptions(**{**fields, **overrides})
        self.options = base
        if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise InputTypeError("ssl must be an ssl.SSLContext or None (verification "
                                 "cannot be switched off here)", name="ssl",
                                 got=type(ssl).__name__)
        self._ssl = ssl
        self._headers = dict(headers or {})
        self._own_session = session is None
        self._session: aiohttp.ClientSession | None = session
        self._limiter = _RateLimiter(base.rate_limit) if base.rate_limit else None
        # with limit_per_host, requests wait for a host slot *before* their timed attempt, so
        # that waiting in the connection pool never eats (or times out) an attempt
        self._host_slots: dict[tuple[str, str, int | None], asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        if self._session is None:
            aiohttp = self._aiohttp
            connector = aiohttp.TCPConnector(
                limit=self.options.concurrency, limit_per_host=self.options.limit_per_host,
                ssl=self._ssl if self._ssl is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None),
                headers=self._headers, trust_env=False,
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session this fetcher opened (and its connections)."""
        if self._own_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _live_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise InputError("this Fetcher is not open: use `async with Fetcher(...) as f`",
                             name="Fetcher")
        return self._session

    async def fetch(self, request: Request | str) -> Response:
        """One request with the retries and timeouts of the options; raises its
        :class:`~edgekit.errors.FetchError` instead of returning it."""
        req = _as_request(request, 0)
        result = await self._one(req, None)
        return result

    async def fetch_all(self, requests: Iterable[Request | str]) -> list[Response | Exception]:
        """One result per request, in order: a :class:`Response` or the exception
        (:class:`~edgekit.errors.FetchError`, :class:`~edgekit.errors.HTTPStatusError`,
        :class:`~edgekit.errors.RequestTimeoutError`)."""
        reqs = [_as_request(r, i) for i, r in enumerate(requests)]
        results: list[Any] = [None] * len(reqs)
        async for i, result in self.stream(reqs):
            results[i] = result
        return results

    async def stream(
        self, requests: Iterable[Request | str]
    ) -> AsyncGenerator[tuple[int, Response | Exception], None]:
        """Yield ``(index, result)`` as requests complete; the requests are pulled from the
        iterable lazily, at most ``concurrency`` at a time.  A request that is neither a str
        nor a :class:`Request` raises :class:`~edgekit.errors.InputTypeError` from the loop
        (after the ones in flight are cancelled)."""
        self._live_session()
        loop = asyncio.get_running_loop()
        total = self.options.total_timeout
        deadline = None if total is None else loop.time() + total
        reqs = (_as_request(r, i) for i, r in enumerate(requests))

        def on_deadline(i: int, req: Request | None, started: bool) -> BaseException:
            err = RequestTimeoutError(
                f"request {i} did not finish within total_timeout={total} s", timeout_s=total
                or 0.0, url=req.url if req else None, method=req.method if req else None,
                reason="deadline",
            )
            if not started:
                _telemetry.emit("aio.request", outcome="timeout", seconds=0.0, attempts=0)
            return err

        async def worker(i: int, req: Request) -> Response:
            return await self._one(req, deadline)

        gen = run_bounded(reqs, worker, self.options.concurrency, deadline=deadline,
                          on_deadline=on_deadline)
        try:
            async for i, result in gen:
                if isinstance(result, BaseException) and not isinstance(result, Exception):
                    result = FetchError(f"request {i} was cancelled", reason="cancelled")
                yield i, result  # type: ignore[misc]
        finally:
            await gen.aclose()

    def _host_slot(self, req: Request) -> contextlib.AbstractAsyncContextManager[Any]:
        per_host = self.options.limit_per_host
        if not per_host:
            return contextlib.nullcontext()
        parts = urlsplit(req.url)
        key = (parts.scheme, parts.hostname or "", parts.port)
        slot = self._host_slots.get(key)
        if slot is None:
            slot = self._host_slots[key] = asyncio.Semaphore(per_host)
        return slot

    async def _one(self, req: Request, deadline: float | None) -> Response:
        """All the attempts of one request; emits its telemetry event."""
        loop = asyncio.get_running_loop()
        opts = self.options
        t0 = loop.time()
        attempts = 0
        outcome = "error"
        try:
            while True:
                attempts += 1
                try:
                    async with self._host_slot(req):
                        if self._limiter is not None:
                            await self._limiter.wait()
                        response = await self._attempt(req, attempts, t0)
                except _Retryable as retry:
                    err = retry.error
                    if attempts > opts.retries or not req.retry_safe:
                        raise err from err.__cause__
                    cap = min(opts.backoff_max, opts.backoff * 2 ** (attempts - 1))
                    delay = min(opts.backoff_max, max(random.uniform(0.0, cap),
                                                      retry.retry_after_s))
                    if deadline is not None and loop.time() + delay >= deadline:
                        raise err from err.__cause__
                    await asyncio.sleep(delay)
                    continue
                outcome = "ok"
                return response
        except RequestTimeoutError:
            outcome = "timeout"
            raise
        except asyncio.CancelledError:
            late = deadline is not None and loop.time() >= deadline - 1e-3
            outcome = "timeout" if late else "cancelled"
            raise
        finally:
            if _telemetry.enabled():
                _telemetry.emit("aio.request", outcome=outcome, seconds=loop.time() - t0,
                                attempts=attempts)

    async def _attempt(self, req: Request, attempts: int, t0: float) -> Response:
        aiohttp = self._aiohttp
        session = self._live_session()
        opts = self.options
        timeout = req.timeout or opts.timeout
        where: dict[str, Any] = {"url": req.url, "method": req.method, "attempts": attempts}
        try:
            async with session.request(
                req.method, req.url, headers=req.headers, data=req.body,
                timeout=aiohttp.ClientTimeout(total=timeout),
                ssl=self._ssl if self._ssl is not None else True,
            ) as resp:
                length = resp.content_length
                if length is not None and length > opts.max_body_bytes:
                    raise FetchError(f"{req.method} {req.url}: body of {length} bytes is over "
                                     f"max_body_bytes={opts.max_body_bytes}", reason="body",
                                     **where)
                chunks, size = [], 0
                async for chunk in resp.content.iter_any():
                    size += len(chunk)
                    if size > opts.max_body_bytes:
                        raise FetchError(f"{req.method} {req.url}: body is over "
                                         f"max_body_bytes={opts.max_body_bytes}",
                                         reason="body", **where)
                    chunks.append(chunk)
                body = b"".join(chunks)
                status, headers, ctype = resp.status, resp.headers, resp.content_type
        except asyncio.TimeoutError as err:  # before ClientError: aiohttp's are both
            raise _Retryable(RequestTimeoutError(
                f"{req.method} {req.url}: no complete answer within {timeout} s",
                timeout_s=timeout, **where), err) from err
        except aiohttp.ClientSSLError as err:  # a certificate problem: retrying cannot help
            raise FetchError(f"{req.method} {req.url}: TLS: {err}", reason="tls",
                             **where) from err
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as err:
            raise _Retryable(FetchError(f"{req.method} {req.url}: {type(err).__name__}: {err}",
                                        reason="connection", **where), err) from err
        except aiohttp.ClientError as err:
            raise FetchError(f"{req.method} {req.url}: {type(err).__name__}: {err}",
                             reason="client", **where) from err
        if status >= 400 and opts.raise_for_status:
            error = HTTPStatusError(f"{req.method} {req.url}: HTTP {status}", status=status,
                                    body=body[:1024], **where)
            if status in opts.retry_statuses:
                raise _Retryable(error, None, _retry_after(headers))
            raise error
        data = None
        if body and (ctype == "application/json" or ctype.endswith("+json")):
            try:
                data = _json.loads(body)
            except ValueError as err:  # includes UnicodeDecodeError
                raise FetchError(f"{req.method} {req.url}: the JSON body does not decode: "
                                 f"{err}", reason="body", **where) from err
        loop = asyncio.get_running_loop()
        return Response(url=req.url, status=status, headers=headers, body=body, data=data,
                        elapsed_s=loop.time() - t0, attempts=attempts)


async def fetch_all(
    requests: Iterable[Request | str],
    *,
    options: FetchOptions | None = None,
    ssl: _ssl.SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
    **overrides: Any,
) -> list[Response | Exception]:
    """Fetch every request, at most ``concurrency`` at once; return one result per request,
    in order: a :class:`Response` or the exception for that request (one failure or timeout
    never costs the other results).

    Keyword arguments are the fields of :class:`FetchOptions` (``concurrency=100``,
    ``timeout=10.0`` seconds per attempt, ``total_timeout=None``, ``retries=2``,
    ``backoff=0.1`` s, ``backoff_max=5.0`` s, ``rate_limit=None`` per second,
    ``limit_per_host=0``, ``max_body_bytes``, ``retry_statuses``, ``raise_for_status=True``)
    and those of :class:`Fetcher` (``ssl``, ``headers``, ``session``).

    >>> import asyncio
    >>> from edgekit.aio import fetch_all
    >>> results = asyncio.run(fetch_all(["http://127.0.0.1:9/none"], retries=0, timeout=2))
    >>> type(results[0]).__name__, results[0].reason
    ('FetchError', 'connection')

    Raises:
        InputTypeError: a request is neither a URL str nor a :class:`Request`.
        InputError: a URL is not an absolute http(s) URL.
        OptionsError: a bad option.
        RuntimeUnavailableError: aiohttp is not installed (extra ``[aio]``).
    """
    reqs = [_as_request(r, i) for i, r in enumerate(requests)]
    async with Fetcher(options, ssl=ssl, headers=headers, session=session,
                       **overrides) as fetcher:
        return await fetcher.fetch_all(reqs)


async def fetch_stream(
    requests: Iterable[Request | str],
    *,
    options: FetchOptions | None = None,
    ssl: _ssl.SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
    **overrides: Any,
) -> AsyncGenerator[tuple[int, Response | Exception], None]:
    """Like :func:`fetch_all`, but yield ``(index, result)`` as each request completes,
    pulling requests from ``requests`` lazily (a generator of a million URLs holds at most
    ``concurrency`` in memory).  Leaving the loop early: close it (``async with
    contextlib.aclosing(fetch_stream(...)) as results``) to cancel what is in flight and
    close the session at once."""
    fetcher = Fetcher(options, ssl=ssl, headers=headers, session=session, **overrides)
    async with fetcher:
        gen = fetcher.stream(requests)
        try:
            async for pair in gen:
                yield pair
        finally:
            await gen.aclose()

