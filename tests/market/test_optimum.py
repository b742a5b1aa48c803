"""The welfare optimum: equal to exhaustive search on small markets, feasible, and honest
about its bound when the time limit stops it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgekit.errors import OptionsError
from edgekit.market._arrays import compile_market, used_capacity, welfare_of
from edgekit.market.generate import random_market, sized_market
from edgekit.market.optimum import greedy_allocation, optimal_welfare

pytest.importorskip("scipy")


def _brute(arr) -> float:
    best = 0.0
    n_b, n_a = len(arr.bids), len(arr.asks)
    for combo in itertools.product(range(-1, n_a), repeat=n_b):
        x = np.array(combo)
        if any(j >= 0 and not arr.eligible[i, j] for i, j in enumerate(combo)):
            continue
        if (used_capacity(arr, x) > arr.capacity * (1 + 1e-9)).any():
            continue
        best = max(best, welfare_of(arr, x))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_equals_exhaustive_search(seed):
    m = random_market(3, 6, seed=seed, balance=2.5, accelerator=seed % 2 == 1)
    arr = compile_market(m.asks, m.bids)
    o = optimal_welfare(m.asks, m.bids)
    assert o.optimal and o.gap < 1e-9
    assert o.welfare == pytest.approx(_brute(arr), rel=1e-9, abs=1e-12)


def test_feasible_and_at_least_greedy():
    m = sized_market("small", 2)
    arr = compile_market(m.asks, m.bids)
    o = optimal_welfare(m.asks, m.bids)
    assert (used_capacity(arr, o.assignment) <= arr.capacity * (1 + 1e-9)).all()
    placed = o.assignment >= 0
    assert arr.eligible[placed, o.assignment[placed]].all()
    assert o.welfare == pytest.approx(welfare_of(arr, o.assignment))
    assert o.welfare >= welfare_of(arr, greedy_allocation(m.asks, m.bids)) - 1e-12
    assert len(o.trades) == placed.sum()


def test_time_limit_reports_a_true_bound():
    m = sized_market("medium", 1)
    o = optimal_welfare(m.asks, m.bids, time_limit_s=0.05)
    assert o.bound >= o.welfare > 0
    assert 0 <= o.gap < 0.2
    assert o.optimal or o.gap > 0 or o.bound == o.welfare


def test_empty_and_untradeable():
    m = random_market(2, 0)
    assert optimal_welfare(m.asks, m.bids).welfare == 0.0
    from edgekit.types import Ask, Bid
    o = optimal_welfare([Ask("n", {"cpu": 1}, {"cpu": 5.0})], [Bid("b", {"cpu": 1}, 1.0)])
    assert o.trades == () and o.welfare == 0.0


@pytest.mark.parametrize("kw", [dict(time_limit_s=0), dict(time_limit_s=float("inf")),
                                dict(mip_rel_gap=1.0), dict(time_limit_s=True)])
def test_bad_limits(kw):
    m = random_market(2, 3)
    with pytest.raises(OptionsError):
        optimal_welfare(m.asks, m.bids, **kw)
