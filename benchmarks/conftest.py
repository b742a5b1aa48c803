"""Shared benchmark machinery.

Two kinds of benchmark live here:

* pytest-benchmark tests (the ``benchmark`` fixture), for tables of absolute times.  They run
  once, untimed, in the normal test run (``--benchmark-disable`` is in the pytest options);
  ``pytest benchmarks --benchmark-enable`` times them.
* ratio checks (the ``ratio`` fixture): a candidate and its baseline (the article's method, a
  peer library, the numpy reference) timed *interleaved in the same process*, the median of
  each taken, and the ratio asserted with a margin.  Interleaving means a noisy neighbour slows
  both sides alike.  Every measured ratio is printed in a table at the end of the run.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import pytest

_RESULTS: list[RatioResult] = []


@dataclass
class RatioResult:
    name: str
    candidate_ms: float
    baseline_ms: float
    ratio: float
    minimum: float
    rounds: int


class Ratio:
    """``ratio(name, candidate, baseline, minimum=2.0)`` times both callables interleaved
    (``rounds`` times, after a warm-up) and asserts median(baseline) / median(candidate) >=
    ``minimum``.  Returns the :class:`RatioResult`.

    ``clock``: wall time by default (I/O, threads, the event loop); single-threaded CPU-bound
    pairs pass ``time.thread_time``, which a busy neighbour on a shared machine does not
    inflate (it took a codec check from 0.42x to 0.07x once in wall time, at an unchanged
    CPU time)."""

    def __call__(self, name: str, candidate: Callable[[], object],
                 baseline: Callable[[], object], *, minimum: float, rounds: int = 21,
                 inner: int = 1, clock: Callable[[], float] = time.perf_counter
                 ) -> RatioResult:
        candidate()
        baseline()
        cand, base = [], []
        for _ in range(rounds):
            for fn, sink in ((candidate, cand), (baseline, base)):
                t0 = clock()
                for _ in range(inner):
                    fn()
                sink.append((clock() - t0) / inner)
        c_ms = 1e3 * statistics.median(cand)
        b_ms = 1e3 * statistics.median(base)
        result = RatioResult(name, c_ms, b_ms, b_ms / c_ms, minimum, rounds)
        _RESULTS.append(result)
        assert result.ratio >= minimum, (
            f"{name}: candidate {c_ms:.3f} ms vs baseline {b_ms:.3f} ms = {result.ratio:.2f}x, "
            f"below the required {minimum}x"
        )
        return result


@pytest.fixture
def ratio() -> Ratio:
    return Ratio()


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("measured ratios (median of interleaved rounds)")
    tr.write_line(f"{'check':<58} {'candidate ms':>12} {'baseline ms':>12} {'ratio':>7} "
                  f"{'required':>8}")
    for r in _RESULTS:
        tr.write_line(f"{r.name:<58} {r.candidate_ms:>12.3f} {r.baseline_ms:>12.3f} "
                      f"{r.ratio:>6.2f}x {r.minimum:>7.2f}x")
    path = os.environ.get("EDGEKIT_RATIOS_JSON")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump([asdict(r) for r in _RESULTS], f, indent=1)
