"""clear(): the registry, and small markets worked by hand."""

from __future__ import annotations

import pytest

from edgekit.errors import InputError, OptionsError
from edgekit.market import DEFAULT_MECHANISM, MECHANISMS, REFERENCE_MECHANISMS, clear
from edgekit.types import Ask, Bid


def _two_nodes() -> tuple[list[Ask], list[Bid]]:
    # two nodes of 4 cores at 1 per core-hour; three bids of 2 cores on each (values 10, 6,
    # 3), pinned so each half of `halves` holds one node and its three bids
    asks = [Ask("A", {"cpu": 4}, {"cpu": 1}), Ask("B", {"cpu": 4}, {"cpu": 1})]
    bids = [Bid(f"{n}{v}", {"cpu": 2}, float(v), eligible=(n.upper(),))
            for n in "ab" for v in (10, 6, 3)]
    return asks, bids


def test_registry() -> None:
    assert DEFAULT_MECHANISM == "pivot-greedy-margin"
    assert {"pivot-greedy", "halves", "trade-reduction", "pivot-price",
            "posted-price"} <= set(MECHANISMS)
    with pytest.raises(OptionsError):
        clear([], [], mechanism="nope")
    with pytest.raises(OptionsError):
        clear(*_two_nodes(), mechanism="halves", prices={"cpu": 1.0})


def test_halves_by_hand() -> None:
    # Each half's clock: 6 cores asked for 4 offered, so the price rises until the bid of 3
    # (1.5 per core) drops out: just above 1.5.  Trading at that price, half A admits the
    # bid of 10 (2 cores fit 0.97 x 4); the bid of 6 no longer fits and is the first bid
    # left out: the bid of 10 pays its critical value 6, the node gets 2 x price.
    asks, bids = _two_nodes()
    c = clear(asks, bids, mechanism="halves")
    assert sorted(c.trades) == [("a10", "A"), ("b10", "B")]
    assert c.payments == {"a10": pytest.approx(6.0), "b10": pytest.approx(6.0)}
    for node in "AB":
        assert 3.0 <= c.receipts[node] <= 3.2
    assert c.welfare == pytest.approx(16.0)
    assert c.surplus >= 0
    assert 1.5 <= c.prices["half0/cpu"] <= 1.6
    assert [p.node for p in c.placements()] == [a for _, a in c.trades]


def test_trade_reduction_by_hand() -> None:
    # one price for both nodes (just above 1.5); density order a10, b10, a6, b6 (ties by
    # input order): 8 cores do not fit 0.97 x 8, so b6 is the first left out and the three
    # admitted pay its value, 6; each node gets 2 x price per task (no node is left out)
    c = clear(*_two_nodes(), mechanism="trade-reduction")
    assert sorted(c.trades) == [("a10", "A"), ("a6", "A"), ("b10", "B")]
    assert list(c.payments.values()) == [pytest.approx(6.0)] * 3
    assert c.receipts["A"] == pytest.approx(2 * c.receipts["B"])
    assert c.welfare == pytest.approx(20.0)


def test_posted_price_by_hand() -> None:
    asks, bids = _two_nodes()
    c = clear(asks, bids, mechanism="posted-price")  # 1 x 1.25 per core
    assert c.prices == {"cpu": 1.25}
    assert sorted(c.trades) == [("a10", "A"), ("a6", "A"), ("b10", "B"), ("b6", "B")]
    assert set(c.payments.values()) == {2.5} and c.receipts == {"A": 5.0, "B": 5.0}
    assert c.surplus == 0.0 and c.welfare == 24.0
    # a price above the bid of 6 (3 per core) leaves only the bids of 10; first come first
    # served in the order given when they do not all fit
    c = clear(asks, bids, mechanism="posted-price", prices={"cpu": 3.5})
    assert sorted(c.trades) == [("a10", "A"), ("b10", "B")]
    one = [Ask("A", {"cpu": 4}, {"cpu": 1})]
    first = [Bid("late_rich", {"cpu": 3}, 100.0), Bid("early", {"cpu": 3}, 5.0)]
    c = clear(one, first[::-1], mechanism="posted-price", prices={"cpu": 1.0})
    assert c.trades == (("early", "A"),)
    with pytest.raises(InputError):
        clear(asks, bids, mechanism="posted-price", prices={"cpu": -1.0})
    with pytest.raises(InputError):
        clear(asks, bids, mechanism="posted-price", prices={"gpu": 1.0})


@pytest.mark.parametrize("mechanism", ["pivot-greedy", "pivot-greedy-phantom",
                                       "pivot-greedy-margin", "halves",
                                       "trade-reduction", "pivot-price", "posted-price"])
def test_empty_and_one_sided(mechanism: str) -> None:
    asks, bids = _two_nodes()
    for a, b in (([], []), (asks, []), ([], bids)):
        c = clear(a, b, mechanism=mechanism)
        assert c.trades == () and c.welfare == 0.0 and c.surplus == 0.0


def test_reference_mechanisms_through_clear() -> None:
    # VCG on the hand market: efficient (both bids of 10 and 6 on each node: welfare 24),
    # and it pays the nodes more than it collects (the deficit the default avoids)
    asks, bids = _two_nodes()
    assert set(REFERENCE_MECHANISMS) == {"vcg", "pay-your-bid"}
    v = clear(asks, bids, mechanism="vcg", time_limit_s=10.0)
    assert v.welfare == pytest.approx(24.0)
    assert v.surplus < 0
    p = clear(asks, bids, mechanism="pay-your-bid")
    assert p.welfare == pytest.approx(24.0)
    assert p.payments == {b: pytest.approx(float(b[1:])) for b in p.payments}
