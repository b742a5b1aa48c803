"""Random markets: reproducible, the stated balance, valid asks/bids, bad options refused,
and the held-out seeds kept apart from the tuning range."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.market._arrays import compile_market
from edgekit.market.generate import (
    HELD_OUT_SEEDS,
    SIZES,
    TUNING_SEEDS,
    random_market,
    sized_market,
)
from edgekit.types import Ask, Bid


def test_same_seed_same_market_other_seed_other_market():
    a, b = sized_market("medium", 3), sized_market("medium", 3)
    assert a == b
    assert sized_market("medium", 4).bids != a.bids


@pytest.mark.parametrize("size", list(SIZES))
def test_sizes_and_balance(size):
    n, k = SIZES[size]
    m = sized_market(size, 11)
    assert m.size == (n, k)
    arr = compile_market(m.asks, m.bids)
    ratio = arr.demand.sum(axis=0) / arr.capacity.sum(axis=0)
    # one scale factor for both resources: their mean is the balance (up to the 1/64 grid
    # and the clip to the largest node)
    assert 1.2 < ratio.mean() < 1.8
    # a market worth clearing: most bids can trade with some node at a profit
    assert (arr.surplus > 0).any(axis=1).mean() > 0.6
    assert 0.2 < (arr.value[:, None] < arr.cost).mean() < 0.7


def test_balance_moves_demand():
    lo = compile_market(*(lambda m: (m.asks, m.bids))(random_market(20, 200, balance=0.5)))
    hi = compile_market(*(lambda m: (m.asks, m.bids))(random_market(20, 200, balance=3.0)))
    assert hi.demand.sum() > 4 * lo.demand.sum()


def test_accelerator_is_scarce_and_priced():
    m = random_market(20, 200, seed=5, accelerator=True)
    arr = compile_market(m.asks, m.bids)
    g = arr.resources.index("gpu")
    assert arr.capacity[:, g].sum() >= 1
    assert (arr.demand[:, g] > 0).sum() >= 1
    assert arr.demand[:, g].sum() > arr.capacity[:, g].sum()  # scarcer than cores
    assert (arr.unit_cost[arr.capacity[:, g] > 0, g] > 0.1).all()


def test_held_out_seeds_fixed_and_apart():
    assert len(HELD_OUT_SEEDS) == 100 and len(set(HELD_OUT_SEEDS)) == 100
    assert not set(HELD_OUT_SEEDS) & set(TUNING_SEEDS)
    assert HELD_OUT_SEEDS[:3] == (7_000_001, 7_007_920, 7_015_839)


@pytest.mark.parametrize("kw", [dict(n_nodes=0, n_bids=3), dict(n_nodes=2, n_bids=-1),
                                dict(n_nodes=2, n_bids=3, balance=float("nan")),
                                dict(n_nodes=2, n_bids=3, balance=0),
                                dict(n_nodes=True, n_bids=3),
                                dict(n_nodes=2, n_bids=3, accelerator=1)])
def test_bad_options(kw):
    with pytest.raises(OptionsError):
        random_market(**kw)
    with pytest.raises(OptionsError):
        sized_market("huge")


def test_compile_refuses_duplicates_and_wrong_types():
    a = Ask("n", {"cpu": 4}, {"cpu": 1.0})
    b = Bid("b", {"cpu": 1}, 2.0)
    with pytest.raises(InputError):
        compile_market([a, a], [b])
    with pytest.raises(InputError):
        compile_market([a], [b, b])
    with pytest.raises(InputTypeError):
        compile_market([a], [("b", 1)])
    with pytest.raises(InputError):  # the types refuse negatives and NaN themselves
        Bid("x", {"cpu": 1}, float("nan"))
    with pytest.raises(InputError):
        Ask("x", {"cpu": -1})


def test_eligibility_filters():
    asks = [Ask("a", {"cpu": 4}, labels={"zone": "a"}), Ask("b", {"cpu": 8}, taints=("t",)),
            Ask("c", {"cpu": 2, "gpu": 1})]
    bids = [Bid("any", {"cpu": 1}, 1.0), Bid("big", {"cpu": 6}, 1.0),
            Bid("zone", {"cpu": 1}, 1.0, node_selector={"zone": "a"}),
            Bid("tol", {"cpu": 1}, 1.0, tolerations=("t",)),
            Bid("gpu", {"gpu": 1}, 1.0), Bid("list", {"cpu": 1}, 1.0, eligible=("c", "zz"))]
    e = compile_market(asks, bids).eligible
    assert e.tolist() == [[True, False, True], [False, False, False], [True, False, False],
                          [True, True, True], [False, False, True], [False, False, True]]
    assert not np.any(compile_market(asks, [Bid("huge", {"cpu": 99}, 5.0)]).eligible)
