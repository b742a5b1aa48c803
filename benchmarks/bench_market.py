"""Market clearing cost: the default mechanism against the yardsticks it replaces.

``pytest benchmarks/bench_market.py --benchmark-enable`` prints absolute times (the default
on 100 nodes x 2,000 bids); the ratio checks run in every test run and take ~15 s.  The
welfare / truthfulness tables are ``python tools/market_study.py`` (docs/market_measured.md).
"""

from __future__ import annotations

import time

import pytest

from edgekit.market import clear
from edgekit.market._arrays import compile_market
from edgekit.market.generate import sized_market
from edgekit.market.optimum import optimal_welfare
from edgekit.market.vcg import vcg

pytest.importorskip("scipy")


@pytest.fixture(scope="module")
def medium():
    return sized_market("medium", 1)


def test_default_vs_welfare_milp_medium(ratio, medium):
    # the MILP is stopped at 0.5 s (it does not prove optimality at this size in 5 s): the
    # ratio is a floor on what the default saves
    r = ratio("market 20x200: default clear vs welfare MILP (0.5 s limit)",
              lambda: clear(medium.asks, medium.bids),
              lambda: optimal_welfare(medium.asks, medium.bids, time_limit_s=0.5),
              minimum=20.0, rounds=3)
    assert r.ratio >= 20.0


def test_default_vs_vcg_small(ratio):
    m = sized_market("small", 1)
    arr = compile_market(m.asks, m.bids)
    # VCG: one MILP per trading trader (~20 here); the default: one pass
    r = ratio("market 5x30: default clear vs VCG", lambda: clear(m.asks, m.bids),
              lambda: vcg(arr), minimum=50.0, rounds=3)
    assert r.ratio >= 50.0


def test_default_large(benchmark):
    m = sized_market("large", 1)
    c = benchmark(lambda: clear(m.asks, m.bids))
    assert c.trades and c.surplus >= -1e-9


# each variant's clearing time against pivot-greedy's on the same 100x2000 market (thread
# time; docs/market.md):
# * pivot-greedy-phantom routes every bid over all the nodes it may use and takes room on
#   two nodes when its first choice refuses it: 1.25x pivot-greedy's time on tuning market
#   300; held to at most 2x;
# * pivot-greedy-margin adds the order by margin, whose critical-value runs no longer stop
#   at the reserve's key (its key there is 0.25 reserve / s, below most bids'): 253 against
#   163 ms on this market (0.65x, load 9); held to at most 2.5x
@pytest.mark.parametrize("mechanism, minimum", [("pivot-greedy-phantom", 0.5),
                                                ("pivot-greedy-margin", 0.4)])
def test_variant_vs_pivot_greedy_large(ratio, mechanism, minimum):
    m = sized_market("large", 1)
    r = ratio(f"market 100x2000: {mechanism} vs pivot-greedy (thread time)",
              lambda: clear(m.asks, m.bids, mechanism=mechanism),
              lambda: clear(m.asks, m.bids, mechanism="pivot-greedy"), minimum=minimum,
              rounds=5, clock=time.thread_time)
    assert r.ratio >= minimum
