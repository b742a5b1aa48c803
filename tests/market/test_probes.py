"""The probes: they find nothing against a truthful mechanism, find the gains of a
manipulable one, and the checks catch broken clearings."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import InputTypeError, OptionsError
from edgekit.market._arrays import clearing_of, compile_market
from edgekit.market.generate import random_market
from edgekit.market.probes import APP_KINDS, NODE_KINDS, check_clearing, get_mechanism, probe
from edgekit.types import Clearing


def _fixed_price(arr, *, first_price=False, price=0.05):
    """Bids in id order trade at a posted price per unit of demand (the mean over
    resources x ``price``) on the first eligible node whose cost it covers and that has
    room: truthful for both sides.  ``first_price``: pay the reported value instead."""
    assign = np.full(len(arr.bids), -1)
    free = arr.capacity.copy()
    p = arr.demand.sum(axis=1) * price
    for i in range(len(arr.bids)):
        if arr.value[i] < p[i]:
            continue
        for j in np.flatnonzero(arr.eligible[i] & (arr.cost[i] <= p[i])).tolist():
            if (arr.demand[i] <= free[j]).all():
                assign[i] = j
                free[j] -= arr.demand[i]
                break
    pay = np.where(assign >= 0, arr.value if first_price else p, 0.0)
    get = np.zeros(len(arr.asks))
    np.add.at(get, assign[assign >= 0], p[assign >= 0])
    return clearing_of("fixed", arr, assign, pay, get)


MARKETS = [random_market(4, 20, seed=s) for s in range(4)]


def test_truthful_mechanism_shows_no_gain():
    res = probe(_fixed_price, MARKETS, app_probes=60, node_probes=40, seed=0)
    assert res.markets == 4 and res.apps.probes == 240 and res.nodes.probes == 160
    assert res.apps.profitable == 0 and res.nodes.profitable == 0
    assert res.apps.max_gain == 0 and res.apps.worst == ""
    assert set(res.apps.by_kind) == set(APP_KINDS) and set(res.nodes.by_kind) == set(NODE_KINDS)
    assert all(n > 0 for n, _ in res.nodes.by_kind.values())
    assert res.violations == 0 and res.deficits == 0


def test_manipulable_mechanism_is_caught():
    def first_price(arr):
        return _fixed_price(arr, first_price=True)

    res = probe(first_price, MARKETS, app_probes=60, node_probes=10, seed=0)
    assert res.apps.profitable > 0
    assert res.apps.max_gain > 0 and "value" in res.apps.worst
    assert res.apps.share == res.apps.profitable / res.apps.probes
    assert res.deficits == 0  # payments above the posted price: the market keeps more


def test_same_seed_same_result():
    a = probe(_fixed_price, MARKETS[:2], app_probes=10, node_probes=5, seed=7)
    b = probe(_fixed_price, MARKETS[:2], app_probes=10, node_probes=5, seed=7)
    assert a == b


def test_checks_catch_broken_clearings():
    m = random_market(2, 12, seed=1, balance=3.0)
    arr = compile_market(m.asks, m.bids)
    good = _fixed_price(arr)
    assert check_clearing(arr, good) == []
    everyone = tuple((b.id, m.asks[0].id) for b in m.bids)
    over = Clearing("x", everyone, {}, {}, 0.0)
    assert "a node holds more than its capacity" in check_clearing(arr, over)
    b0, a0 = good.trades[0]
    greedy = Clearing("x", good.trades, {**good.payments, b0: 1e6}, good.receipts, 0.0)
    assert any("IR" in r for r in check_clearing(arr, greedy))
    broke = Clearing("x", good.trades, good.payments,
                     {a: v + 1e3 for a, v in good.receipts.items()}, 0.0)
    assert any(r.startswith("deficit") for r in check_clearing(arr, broke))
    twice = Clearing("x", good.trades + ((b0, a0),), {}, {}, 0.0)
    assert "trades twice" in check_clearing(arr, twice)[0]


def test_bad_options():
    with pytest.raises(OptionsError):
        get_mechanism("no-such")
    with pytest.raises(OptionsError):
        probe(_fixed_price, MARKETS, app_probes=-1)
    with pytest.raises(InputTypeError):
        probe(_fixed_price, ["not a market"])
    assert get_mechanism("vcg")[0] == "vcg"
    m = MARKETS[0]
    assert probe(_fixed_price, [(list(m.asks), list(m.bids))], app_probes=2).apps.probes == 2
