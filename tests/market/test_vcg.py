"""VCG: Clarke payments equal to the marginal contributions, IR, truthful under probes, and
the deficit Myerson-Satterthwaite promises; pay-your-bid: budget surplus = welfare and
manipulable."""

from __future__ import annotations

import pytest

from edgekit.market._arrays import compile_market
from edgekit.market.baselines import pay_your_bid
from edgekit.market.generate import random_market
from edgekit.market.optimum import optimal_welfare
from edgekit.market.probes import check_clearing, probe
from edgekit.market.vcg import vcg, vcg_detail

pytest.importorskip("scipy")


def _tiny(seed):
    return random_market(3, 7, seed=seed, balance=2.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_payments_are_clarke_pivots(seed):
    m = _tiny(seed)
    r = vcg_detail(m.asks, m.bids)
    assert r.exact and r.max_gap == 0
    w = optimal_welfare(m.asks, m.bids).welfare
    assert r.clearing.welfare == pytest.approx(w)
    by_id = {b.id: b for b in m.bids}
    for b_id, paid in r.clearing.payments.items():
        w_without = optimal_welfare(m.asks, [b for b in m.bids if b.id != b_id]).welfare
        assert paid == pytest.approx(by_id[b_id].value - (w - w_without), abs=1e-9)
    asks = {a.id: a for a in m.asks}
    for a_id, got in r.clearing.receipts.items():
        w_without = optimal_welfare([a for a in m.asks if a.id != a_id], m.bids).welfare
        held = sum(asks[a_id].cost_of(by_id[b].demand) for b, a in r.clearing.trades
                   if a == a_id)
        assert got == pytest.approx(held + (w - w_without), abs=1e-9)
    assert check_clearing(compile_market(m.asks, m.bids), r.clearing) in (
        [], [f"deficit {r.deficit:.6g}"])


def test_vcg_runs_a_deficit_and_is_truthful():
    markets = [_tiny(s) for s in range(4)]
    deficits = [vcg_detail(m.asks, m.bids).deficit for m in markets]
    assert sum(d > 1e-9 for d in deficits) >= 2  # Myerson-Satterthwaite, visibly
    res = probe("vcg", markets[:2], app_probes=6, node_probes=4, seed=1)
    assert res.apps.probes == 12 and res.nodes.probes == 8
    assert res.apps.profitable == 0 and res.nodes.profitable == 0
    assert res.violations == 0 and res.deficits >= 1


def test_vcg_mechanism_matches_detail():
    m = _tiny(2)
    assert vcg(compile_market(m.asks, m.bids)) == vcg_detail(m.asks, m.bids).clearing


def test_pay_your_bid_keeps_the_welfare_and_is_manipulable():
    markets = [random_market(4, 16, seed=s, balance=1.5) for s in range(3)]
    for m in markets:
        arr = compile_market(m.asks, m.bids)
        c = pay_your_bid(arr)
        assert c.surplus == pytest.approx(c.welfare)
        assert c.welfare == pytest.approx(optimal_welfare(m.asks, m.bids).welfare)
        assert check_clearing(arr, c) == []
        assert all(c.payments[b.id] == b.value for b in m.bids if b.id in c.payments)
    res = probe("pay-your-bid", markets, app_probes=12, node_probes=8, seed=3)
    assert res.apps.profitable > 0 and res.nodes.profitable > 0
    assert res.apps.max_gain > 0 and res.apps.worst
