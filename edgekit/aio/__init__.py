"""Bounded async fan-in: fetch from many devices at once without losing results.

* :func:`fetch_all` / :func:`fetch_stream`: HTTP(S) requests over aiohttp (extra ``[aio]``),
  bounded, with timeouts, retries with jittered backoff, a rate limit and TLS; one result per
  request, the value or the exception.
* :class:`Fetcher`: the same over one reusable session.
* :func:`gather` / :func:`gather_stream`: the bounded, loss-free gather for any coroutines
  (no dependency).

See ``docs/aio.md`` for the measurements against the article's unbounded ``asyncio.gather``.
"""

from __future__ import annotations

from edgekit.aio._bounded import gather, gather_stream
from edgekit.aio.fetch import Fetcher, FetchOptions, Request, Response, fetch_all, fetch_stream
from edgekit.errors import FetchError, HTTPStatusError, RequestTimeoutError

__all__ = [
    "FetchError",
    "FetchOptions",
    "Fetcher",
    "HTTPStatusError",
    "Request",
    "RequestTimeoutError",
    "Response",
    "fetch_all",
    "fetch_stream",
    "gather",
    "gather_stream",
]
