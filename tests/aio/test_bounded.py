"""edgekit.aio.gather / gather_stream: bounded, in order, loss-free, cleaned up on
cancellation and deadlines.  No network: plain coroutines."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.aio import gather, gather_stream
from edgekit.errors import InputError, InputTypeError
from tests.aio.common import run_clean


class Probe:
    """Counts how many of its coroutines run at once, were started and finished."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.started = 0
        self.finished = 0
        self.cancelled = 0

    async def job(self, value, *, delay: float = 0.0, fail: bool = False, ticks: int = 0):
        self.started += 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(delay)
            for _ in range(ticks):  # let the loop run other jobs, without wall time
                await asyncio.sleep(0)
            if fail:
                raise KeyError(value)
            self.finished += 1
            return value * 10
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=40),
       st.integers(1, 8))
def test_results_in_order_with_exceptions_in_place_and_bounded(jobs, concurrency):
    probe = Probe()
    coros = [probe.job(i, ticks=ticks, fail=fail) for i, (ticks, fail) in enumerate(jobs)]
    results = asyncio.run(gather(coros, concurrency=concurrency))  # (leaks: the tests below)
    assert len(results) == len(jobs)
    for i, ((_, fail), result) in enumerate(zip(jobs, results, strict=True)):
        if fail:
            assert isinstance(result, KeyError) and result.args == (i,)
        else:
            assert result == i * 10
    assert probe.peak <= concurrency
    assert probe.started == len(jobs)


def test_concurrency_is_reached_and_not_exceeded():
    probe = Probe()
    results = run_clean(gather((probe.job(i, delay=0.01) for i in range(50)), concurrency=7))
    assert results == [i * 10 for i in range(50)]
    assert probe.peak == 7


def test_input_is_consumed_lazily():
    probe = Probe()
    created = []

    def coros():
        for i in range(30):
            created.append(i)
            # never more created than finished + the concurrency (+1 being pulled)
            assert len(created) <= probe.finished + 4
            yield probe.job(i, delay=0.002)

    async def main():
        return [r async for _, r in gather_stream(coros(), concurrency=3)]

    assert sorted(run_clean(main())) == [i * 10 for i in range(30)]


def test_stream_yields_in_completion_order():
    probe = Probe()

    async def main():
        delays = [0.08, 0.0, 0.04]
        return [i async for i, _ in gather_stream(
            [probe.job(i, delay=d) for i, d in enumerate(delays)], concurrency=3)]

    assert run_clean(main()) == [1, 2, 0]


def test_per_item_timeout_only_costs_that_item():
    probe = Probe()
    coros = [probe.job(0, delay=5.0), probe.job(1), probe.job(2, delay=0.01)]
    results = run_clean(gather(coros, concurrency=3, timeout=0.1))
    assert isinstance(results[0], TimeoutError)
    assert results[1:] == [10, 20]
    assert probe.cancelled == 1


def test_total_timeout_keeps_finished_and_closes_unstarted():
    probe = Probe()
    coros = [probe.job(i, delay=0.0 if i < 3 else 5.0) for i in range(10)]
    results = run_clean(gather(coros, concurrency=4, total_timeout=0.2))
    assert results[:3] == [0, 10, 20]
    assert all(isinstance(r, TimeoutError) for r in results[3:])
    # 3..6 started (4 slots), were cancelled; 7..9 never started and were closed
    assert probe.started == 7 and probe.cancelled == 4 and probe.running == 0


def test_cancelling_the_gather_cancels_running_and_closes_the_rest():
    probe = Probe()

    async def main():
        task = asyncio.create_task(gather([probe.job(i, delay=5.0) for i in range(20)],
                                          concurrency=5))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # nothing of ours is left running on the loop
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_clean(main())
    assert probe.started == 5 and probe.cancelled == 5 and probe.running == 0


def test_breaking_out_of_the_stream_cleans_up():
    import contextlib

    probe = Probe()

    async def main():
        gen = gather_stream([probe.job(i, delay=0.0 if i == 0 else 5.0) for i in range(9)],
                            concurrency=3)
        async with contextlib.aclosing(gen) as stream:
            async for i, value in stream:
                assert (i, value) == (0, 0)
                break
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run_clean(main())
    assert probe.running == 0 and probe.started == 3 and probe.cancelled == 2


def test_callables_and_non_awaitables():
    async def seven():
        return 7

    results = run_clean(gather([seven, seven(), 3, lambda: 4], concurrency=2))
    assert results[:2] == [7, 7]
    assert isinstance(results[2], InputTypeError) and isinstance(results[3], InputTypeError)


@pytest.mark.parametrize("kwargs, error", [
    ({"concurrency": 0}, InputError), ({"concurrency": 2.5}, InputTypeError),
    ({"concurrency": True}, InputTypeError), ({"timeout": 0}, InputError),
    ({"timeout": float("nan")}, InputError), ({"total_timeout": "1"}, InputTypeError),
])
def test_bad_arguments_raise_and_close_the_coroutines(kwargs, error):
    probe = Probe()
    with pytest.raises(error):
        run_clean(gather([probe.job(1), probe.job(2)], **kwargs))
    assert probe.started == 0


def test_empty_input():
    assert run_clean(gather([])) == []


def test_docstring_examples():
    import doctest

    from edgekit.aio import _bounded

    modules = [_bounded]
    try:
        import aiohttp  # noqa: F401

        from edgekit.aio import fetch
        modules.append(fetch)
    except ImportError:
        pass
    for module in modules:
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
