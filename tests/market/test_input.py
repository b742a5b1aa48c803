"""Bad input: a clear error (the InputError family) or a clean "not traded", never a wrong
clearing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.market import MECHANISMS, clear
from edgekit.types import Ask, Bid

ALL = ["pivot-greedy", "halves", "trade-reduction", "pivot-price", "posted-price"]


def _asks() -> list[Ask]:
    return [Ask(f"n{i}", {"cpu": 8, "mem": 16}, {"cpu": 1.0, "mem": 0.1}) for i in range(4)]


def _bids() -> list[Bid]:
    return [Bid(f"b{i}", {"cpu": 1 + i % 3, "mem": 2}, 10.0 + i) for i in range(12)]


@pytest.mark.parametrize("bad", [
    lambda: Bid("x", {"cpu": 1}, -1.0),
    lambda: Bid("x", {"cpu": 1}, math.nan),
    lambda: Bid("x", {"cpu": 1}, math.inf),
    lambda: Bid("x", {"cpu": -1}, 1.0),
    lambda: Bid("x", {"cpu": math.nan}, 1.0),
    lambda: Ask("n", {"cpu": -4}),
    lambda: Ask("n", {"cpu": math.nan}),
    lambda: Ask("n", {"cpu": 4}, {"cpu": -1.0}),
    lambda: Ask("n", {"cpu": 4}, {"cpu": math.nan}),
    lambda: Ask("n", {"cpu": 4}, {"gpu": 1.0}),
    lambda: Ask("", {"cpu": 4}),
])
def test_bad_amounts_refused(bad) -> None:
    with pytest.raises(InputError):
        bad()


@pytest.mark.parametrize("mechanism", ALL)
def test_duplicates_and_types(mechanism: str) -> None:
    asks, bids = _asks(), _bids()
    with pytest.raises(InputError):
        clear(asks + [asks[0]], bids, mechanism=mechanism)
    with pytest.raises(InputError):
        clear(asks, bids + [bids[3]], mechanism=mechanism)
    with pytest.raises(InputTypeError):
        clear(asks, bids + [{"id": "x"}], mechanism=mechanism)
    with pytest.raises(InputTypeError):
        clear([*asks, "n9"], bids, mechanism=mechanism)
    with pytest.raises(OptionsError):
        clear(asks, bids, mechanism=mechanism, nonsense=1)


@pytest.mark.parametrize("mechanism", ALL)
def test_bids_no_node_can_hold_are_not_traded(mechanism: str) -> None:
    asks = _asks()
    impossible = [
        Bid("huge", {"cpu": 9, "mem": 1}, 1e6),  # larger than any node
        Bid("gpu", {"gpu": 1, "cpu": 1}, 1e6),  # a resource nobody offers
        Bid("pinned", {"cpu": 1}, 1e6, eligible=("nowhere",)),  # no eligible node
        Bid("zone", {"cpu": 1}, 1e6, node_selector={"zone": "z"}),  # no node matches
    ]
    c = clear(asks, _bids() + impossible, mechanism=mechanism)
    traded = {b for b, _ in c.trades}
    assert not traded & {b.id for b in impossible}
    assert c.surplus >= -1e-9
    # and they change nothing for the others
    base = clear(asks, _bids(), mechanism=mechanism)
    if mechanism in ("posted-price",):
        assert sorted(c.trades) == sorted(base.trades)


@pytest.mark.parametrize("mechanism", ALL)
def test_degenerate_markets(mechanism: str) -> None:
    asks = _asks()
    # worthless bids and free nodes, zero demand, zero capacity: no crash, no wrong trade
    zero_value = [Bid(f"z{i}", {"cpu": 1}, 0.0) for i in range(3)]
    c = clear(asks, zero_value, mechanism=mechanism)
    assert all(c.payments[b] <= 0.0 + 1e-12 for b in c.payments)
    empty_node = [Ask("e", {"cpu": 0.0, "mem": 0.0}, {"cpu": 1.0})]
    c = clear(empty_node, _bids(), mechanism=mechanism)
    assert c.trades == ()
    free = [Ask("f", {"cpu": 8, "mem": 16})]
    c = clear(free, _bids(), mechanism=mechanism)
    assert c.surplus >= -1e-9
    assert all(0.0 <= p <= 22.0 for p in c.payments.values())
    nothing = [Bid("nil", {}, 5.0)]
    c = clear(asks, nothing, mechanism=mechanism)
    assert c.surplus >= -1e-9 and all(np.isfinite(list(c.payments.values())))


def test_every_registered_mechanism_is_covered() -> None:
    assert set(ALL) <= set(MECHANISMS)
