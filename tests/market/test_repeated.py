"""Repeated markets: capacity never overcommitted across rounds, bids served or expired,
failures evict, metrics consistent with the trades, and rounds reported through
edgekit.metrics."""

from __future__ import annotations

import pytest

from edgekit import _telemetry
from edgekit.errors import OptionsError
from edgekit.market.repeated import repeated_market


def test_rounds_add_up():
    r = repeated_market(None, n_nodes=8, rounds=12, arrivals=20, seed=3)
    assert len(r.rounds) == 12 and r.mechanism == "pivot-greedy-margin"
    assert 0 < r.served <= r.arrived and r.expired <= r.arrived - r.served + r.evicted
    assert sum(m.trades for m in r.rounds) >= r.served
    for m in r.rounds:
        assert all(0 <= u <= 1 + 1e-9 for u in m.utilization.values())
        assert m.running >= 0 and m.nodes_up == 8
        assert m.receipts <= m.payments + 1e-9  # the default never subsidizes
        assert m.welfare >= -1e-9
    assert r.welfare == pytest.approx(sum(m.welfare for m in r.rounds))
    assert r.revenue == pytest.approx(sum(m.revenue for m in r.rounds))
    assert max(m.utilization["cpu"] for m in r.rounds) > 0.2  # the market does fill nodes


def test_load_raises_utilisation_and_failures_evict():
    lo = repeated_market("trade-reduction", n_nodes=8, rounds=10, arrivals=20, load=0.3,
                         seed=1)
    hi = repeated_market("trade-reduction", n_nodes=8, rounds=10, arrivals=20, load=2.0,
                         seed=1)
    mean = lambda r: sum(m.utilization["cpu"] for m in r.rounds) / len(r.rounds)  # noqa: E731
    assert mean(hi) > mean(lo)
    f = repeated_market("trade-reduction", n_nodes=8, rounds=10, arrivals=20,
                        node_failure=0.3, seed=1)
    assert f.evicted > 0 and min(m.nodes_up for m in f.rounds) < 8


def test_same_seed_same_run():
    a = repeated_market("posted-price", n_nodes=5, rounds=6, arrivals=10, seed=9)
    assert a == repeated_market("posted-price", n_nodes=5, rounds=6, arrivals=10, seed=9)


def test_rounds_reach_telemetry():
    seen = []

    def sink(event, fields):
        seen.append((event, fields))

    _telemetry.add_sink(sink)
    try:
        r = repeated_market("halves", n_nodes=5, rounds=4, arrivals=10, seed=2)
    finally:
        _telemetry.remove_sink(sink)
    rounds = [f for e, f in seen if e == "market.round"]
    assert len(rounds) == 4
    assert [f["trades"] for f in rounds] == [m.trades for m in r.rounds]
    assert rounds[-1]["welfare_per_h"] == pytest.approx(r.rounds[-1].welfare)


@pytest.mark.parametrize("kw", [dict(rounds=0), dict(n_nodes=1.5), dict(arrivals=-1),
                                dict(load=0), dict(mean_duration_rounds=0.5),
                                dict(node_failure=1.5), dict(patience_rounds=-1),
                                dict(mechanism="nope")])
def test_bad_options(kw):
    with pytest.raises(OptionsError):
        repeated_market(**kw)
