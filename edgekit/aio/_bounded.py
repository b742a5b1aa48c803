"""Bounded concurrency for any awaitables: :func:`gather` and :func:`gather_stream`.

``asyncio.gather(*coros)`` starts everything at once and, without ``return_exceptions``,
raises the first exception and drops every other result.  These run at most ``concurrency``
at a time (the rest are not started, so 1,000,000 coroutines cost 1,000,000 small objects,
not 1,000,000 running tasks), keep one result per input, in order, each the value or the
exception, and clean up on cancellation: the running ones are cancelled and awaited, the
unstarted coroutines closed.

Only coroutines (or zero-argument callables returning awaitables) are really bounded; an
already running task or future handed in runs whatever is done here, and is only awaited.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

from edgekit.errors import InputError, InputTypeError

__all__ = ["gather", "gather_stream"]

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_CONCURRENCY = 100


def check_concurrency(concurrency: object, name: str = "concurrency") -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise InputTypeError(f"{name} must be an int, got {type(concurrency).__name__}",
                             name=name, got=concurrency)
    if concurrency < 1:
        raise InputError(f"{name} must be >= 1, got {concurrency}", name=name,
                         expected=">= 1", got=concurrency)
    return concurrency


def check_seconds(value: object, name: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{name} must be a number of seconds, got {value!r}", name=name,
                             got=value)
    if not value > 0 or value == float("inf"):
        raise InputError(f"{name} must be a finite number of seconds > 0, got {value!r}",
                         name=name, expected="> 0", got=value)
    return float(value)


def _discard(item: object) -> None:
    """Release an item that will never run (no 'coroutine was never awaited' warning)."""
    if inspect.iscoroutine(item):
        item.close()
    elif isinstance(item, asyncio.Future):
        item.cancel()


async def run_bounded(
    items: Iterable[T],
    worker: Callable[[int, T], Coroutine[Any, Any, R]],
    concurrency: int,
    *,
    deadline: float | None = None,
    on_deadline: Callable[[int, T, bool], BaseException],
) -> AsyncGenerator[tuple[int, R | BaseException], None]:
    """Run ``worker(i, item)`` for each item, at most ``concurrency`` at once; yield
    ``(i, result or exception)`` as they complete (in index order among those completing
    together).  At ``deadline`` (loop time) the running ones are cancelled and every
    unfinished item yields ``on_deadline(i, item, started)``.  Closing the generator
    cancels and awaits the running workers and discards the unstarted items."""
    loop = asyncio.get_running_loop()
    pending: dict[asyncio.Task[R], tuple[int, T]] = {}
    finished: collections.deque[asyncio.Task[R]] = collections.deque()
    wake = asyncio.Event()

    def on_done(task: asyncio.Task[R]) -> None:  # O(1) per completion, unlike asyncio.wait
        finished.append(task)
        wake.set()

    source: Iterator[tuple[int, T]] = iter(enumerate(items))
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < concurrency:
                try:
                    i, item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                task: asyncio.Task[R] = loop.create_task(worker(i, item))
                pending[task] = (i, item)
                task.add_done_callback(on_done)
            if not pending:
                return
            if not finished:
                wake.clear()
                if deadline is None:
                    await wake.wait()
                else:
                    try:
                        await asyncio.wait_for(wake.wait(), max(0.0, deadline - loop.time()))
                    except asyncio.TimeoutError:
                        pass
            if not finished:  # the deadline passed
                running = sorted(pending.values(), key=lambda p: p[0])
                await _cancel_all(pending)
                for i, item in running:
                    yield i, on_deadline(i, item, True)
                for i, item in source:
                    _discard(item)
                    yield i, on_deadline(i, item, False)
                return
            done = sorted((finished.popleft() for _ in range(len(finished))),
                          key=lambda t: pending[t][0])
            for task in done:
                i, _ = pending.pop(task)
                if task.cancelled():
                    result: R | BaseException = asyncio.CancelledError()
                else:
                    exc = task.exception()
                    result = exc if exc is not None else task.result()
                yield i, result
    finally:
        await _cancel_all(pending)
        if not exhausted:
            for _, item in source:
                _discard(item)


async def _cancel_all(pending: dict[asyncio.Task[Any], Any]) -> None:
    tasks = list(pending)
    pending.clear()
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _awaitable(item: Any, index: int) -> Awaitable[Any]:
    if inspect.isawaitable(item):
        return item
    if callable(item):
        made = item()
        if inspect.isawaitable(made):
            return made
        _discard(made)
    raise InputTypeError(
        f"item {index} is {type(item).__name__}, neither an awaitable nor a callable that "
        "returns one", name="aws", got=type(item).__name__,
    )


def _worker(timeout: float | None) -> Callable[[int, Any], Coroutine[Any, Any, Any]]:
    async def worker(i: int, item: Any) -> T:
        aw = _awaitable(item, i)
        if timeout is None:
            return await aw
        try:
            return await asyncio.wait_for(aw, timeout)
        except asyncio.TimeoutError as err:  # a distinct class before Python 3.11
            raise TimeoutError(f"item {i} did not finish within timeout={timeout} s") from err

    return worker


def _deadline_error(total_timeout: float) -> Callable[[int, Any, bool], BaseException]:
    def make(i: int, item: Any, started: bool) -> BaseException:
        return TimeoutError(f"item {i} did not finish within total_timeout={total_timeout} s")

    return make


def _checked(aws: Iterable[Any], concurrency: object, timeout: object,
             total_timeout: object) -> tuple[int, float | None, float | None]:
    try:
        return (check_concurrency(concurrency), check_seconds(timeout, "timeout"),
                check_seconds(total_timeout, "total_timeout"))
    except (InputError, InputTypeError):
        for item in aws:  # they will never run: close them rather than leak warnings
            _discard(item)
        raise


async def gather_stream(
    aws: Iterable[Awaitable[T] | Callable[[], Awaitable[T]]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float | None = None,
    total_timeout: float | None = None,
) -> AsyncGenerator[tuple[int, T | BaseException], None]:
    """Yield ``(index, result)`` for each awaitable as it completes, at most ``concurrency``
    running at once; ``result`` is its value or the exception it raised.

    Args:
        aws: coroutines, awaitables, or zero-argument callables returning one (consumed
            lazily: a generator of a million coroutines is fine).
        concurrency: the most running at once (>= 1).
        timeout: seconds each may run before it is cancelled and yields a ``TimeoutError``.
        total_timeout: seconds for all of them: then the running ones are cancelled and every
            unfinished one yields a ``TimeoutError``.

    Breaking out of the loop early: close the generator (``async with
    contextlib.aclosing(gather_stream(...)) as s``) to cancel the running ones at once;
    otherwise that happens when it is garbage-collected.

    Raises:
        InputError, InputTypeError: a bad ``concurrency``, ``timeout`` or ``total_timeout``
            (at the first iteration); an item that is not awaitable yields an InputTypeError.
    """
    concurrency, timeout, total_timeout = _checked(aws, concurrency, timeout, total_timeout)
    deadline = None
    if total_timeout is not None:
        deadline = asyncio.get_running_loop().time() + total_timeout
    gen = run_bounded(aws, _worker(timeout), concurrency, deadline=deadline,
                      on_deadline=_deadline_error(total_timeout or 0.0))
    try:
        async for pair in gen:
            yield pair
    finally:
        await gen.aclose()


async def gather(
    aws: Iterable[Awaitable[T] | Callable[[], Awaitable[T]]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float | None = None,
    total_timeout: float | None = None,
) -> list[T | BaseException]:
    """Await every item, at most ``concurrency`` at once; return one result per item, in
    order: its value, or the exception it raised (never raised here, so one failure costs
    nothing else).  Arguments as :func:`gather_stream`.

    >>> import asyncio
    >>> async def square(x):
    ...     await asyncio.sleep(0)
    ...     return x * x
    >>> asyncio.run(gather((square(i) for i in range(5)), concurrency=2))
    [0, 1, 4, 9, 16]

    Cancelling the call cancels the running items and closes the unstarted ones.
    """
    items = list(aws)
    _checked(items, concurrency, timeout, total_timeout)
    results: list[Any] = [None] * len(items)
    async for i, result in gather_stream(items, concurrency=concurrency, timeout=timeout,
                                         total_timeout=total_timeout):
        results[i] = result
    return results
