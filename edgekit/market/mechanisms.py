"""Market mechanisms: who trades with whom and who pays or receives what.

Every function here takes the compiled market (:class:`~edgekit.market._arrays.MarketArrays`)
and returns a :class:`~edgekit.types.Clearing`; :func:`edgekit.market.clear` is the public
entry.  What each guarantees, for whom, and what it does not: ``docs/market.md``.

* :func:`halves` (the default): prices from the other half of the market (MUDA-style).
* :func:`trade_reduction`: a uniform-price clock with McAfee-style trade reduction.
* :func:`pivot_price`: a clock whose price for each node is computed without it.
* :func:`posted_price`: fixed per-unit prices, first come first served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from edgekit.errors import InputError
from edgekit.market import _clock
from edgekit.market._arrays import MarketArrays
from edgekit.types import Clearing

__all__ = ["halves", "pivot_price", "posted_price", "trade_reduction"]

# Tuned thresholds (tools/market_study.py, tuning seeds only; candidates in _TUNING_GRID).
_T_APP_ROOM = 0.97  # admitted bids may ask for this share of the willing nodes' capacity
_T_NODE_SLACK = 0.92  # chosen nodes' capacity covers the admitted demand / this
_T_POSTED_MARKUP = 0.25  # posted-price default: capacity-weighted mean unit cost x (1 + this)

_TUNING_GRID: dict[str, tuple[float, ...]] = {
    "_T_APP_ROOM": (0.9, 0.94, 0.97, 0.99, 1.0),
    "_T_NODE_SLACK": (0.8, 0.88, 0.92, 0.96, 1.0),
    "_T_POSTED_MARKUP": (0.0, 0.25, 0.5),
}

# slack on IR filters: a node accepts a task whose price covers its cost within float noise
_EPS = 1e-12


def _clearing(name: str, arr: MarketArrays, assign: np.ndarray, pay: np.ndarray,
              get: np.ndarray, prices: Mapping[str, float]) -> Clearing:
    placed = np.flatnonzero(assign >= 0)
    trades = tuple((arr.bids[i].id, arr.asks[int(assign[i])].id) for i in placed.tolist())
    payments = {arr.bids[i].id: float(pay[i]) for i in placed.tolist()}
    sellers = np.unique(assign[placed])
    receipts = {arr.asks[j].id: float(get[j]) for j in sellers.tolist()}
    welfare = float((arr.value[placed] - arr.cost[placed, assign[placed]]).sum())
    return Clearing(name, trades, payments, receipts, welfare, prices)


def _side(arr: MarketArrays, bids: np.ndarray, nodes: np.ndarray, price: np.ndarray,
          mix: np.ndarray, *, pivot: bool, room_share: float, slack: float,
          assign: np.ndarray, pay: np.ndarray, get: np.ndarray) -> None:
    """Clear ``bids`` against ``nodes`` at per-unit ``price`` (a vector over resources):

    1. a node is willing when its cost index (cost of ``mix`` over its price) is <= 1;
    2. bids worth their demand's price, that fit some willing eligible node at a price
       covering its cost, are admitted highest density first while their demand fits
       ``room_share`` of the willing capacity; all pay the first misfit's density
       (>= 1) times their demand's price (:func:`_clock.app_prefix`);
    3. the cheapest willing nodes covering the admitted demand / ``slack`` are chosen (they
       are packed first); a node's multiplier is 1 (``pivot``: the price is not its own to
       move) or min(1, the first left-out node's cost index) (trade reduction);
    4. admitted bids are packed on chosen nodes, then on the other willing nodes, only where
       the node's multiplier times the demand's price covers its cost of it;
    5. a node receives its multiplier times each hosted demand's price.

    Writes into ``assign`` / ``pay`` (per bid) and ``get`` (per node)."""
    if bids.size == 0 or nodes.size == 0:
        return
    d, cost = arr.demand, arr.cost
    p = d @ price  # each bid's demand at the price, per hour
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(p > 0, arr.value / np.where(p > 0, p, 1.0), np.inf)
    kappa = np.full(arr.capacity.shape[0], np.inf)
    kappa[nodes] = _clock.cost_index(arr.unit_cost[nodes], price, mix)
    willing = nodes[kappa[nodes] <= 1.0]
    if willing.size == 0:
        return
    sub = np.ix_(bids, willing)
    ok = arr.eligible[sub] & (cost[sub] <= p[bids, None] * (1 + _EPS) + _EPS)
    cand = bids[ok.any(axis=1) & (density[bids] >= 1.0)]
    room = room_share * arr.capacity[willing].sum(axis=0)
    admitted, crit = _clock.app_prefix(density, d, room, cand)
    if admitted.size == 0:
        return
    need = d[admitted].sum(axis=0) / slack
    chosen, cut = _clock.node_cover(kappa, arr.capacity, need, willing)
    if not pivot:  # uniform: every chosen node gets the first left-out node's index
        rest = np.setdiff1d(willing, chosen)
        first_out = float(kappa[rest].min()) if rest.size else np.inf
        cut[willing] = first_out
    mult = np.zeros(arr.capacity.shape[0])
    mult[willing] = np.minimum(1.0, cut[willing]) if not pivot else 1.0
    elig = arr.eligible & (cost <= mult[None, :] * p[:, None] * (1 + _EPS) + _EPS)
    free = arr.capacity.copy()
    got = _clock.pack(d, free, elig, admitted, chosen, p)
    for i, j in zip(admitted.tolist(), got.tolist(), strict=True):
        if j >= 0:
            free[j] -= d[i]
    left = admitted[got < 0]
    others = np.setdiff1d(willing, chosen)
    if left.size and others.size:
        got2 = _clock.pack(d, free, elig, left, others, p)
        got[got < 0] = got2
    placed = got >= 0
    a, j = admitted[placed], got[placed]
    assign[a] = j
    pay[a] = crit * p[a]
    np.add.at(get, j, mult[j] * p[a])


def _halves_of(arr: MarketArrays, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(node half, bid half): 0/1 each, from a keyed hash of the ids only (never of values,
    costs or capacities), alternating in hash order so the halves differ by at most one
    trader; a bid whose eligible nodes lie in one half goes there (-1: in neither)."""
    def keys(ids: list[str]) -> np.ndarray:
        h = [hashlib.blake2b(f"{seed}\x00{x}".encode(), digest_size=8).digest() for x in ids]
        return np.argsort(np.array([int.from_bytes(x, "big") for x in h], dtype=np.uint64),
                          kind="stable")

    node_half = np.zeros(len(arr.asks), dtype=np.int64)
    node_half[keys([a.id for a in arr.asks])[1::2]] = 1
    bid_half = np.zeros(len(arr.bids), dtype=np.int64)
    bid_half[keys([b.id for b in arr.bids])[1::2]] = 1
    if len(arr.asks):
        in0 = arr.eligible[:, node_half == 0].any(axis=1)
        in1 = arr.eligible[:, node_half == 1].any(axis=1)
        bid_half = np.where(in0 & in1, bid_half, np.where(in0, 0, np.where(in1, 1, -1)))
    else:
        bid_half[:] = -1
    return node_half, bid_half


def _price_dict(arr: MarketArrays, price: np.ndarray | None, prefix: str = ""
                ) -> dict[str, float]:
    if price is None:
        return {}
    return {prefix + r: float(x) for r, x in zip(arr.resources, price.tolist(), strict=True)}


def _empty(arr: MarketArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.full(len(arr.bids), -1, dtype=np.int64), np.zeros(len(arr.bids)),
            np.zeros(len(arr.asks)))


def halves(arr: MarketArrays, *, seed: int = 0) -> Clearing:
    """The default: split nodes and bids into two halves by a keyed hash of their ids;
    each half trades within itself at the clock price of the *other* half, so no trader's
    report moves the price it faces (MUDA, Segal-Halevi et al. 2018).  In each half the
    long side is rationed by critical values computed without the trader: bids by the
    first bid left out (value-density order), nodes by a cutoff from the other nodes.
    Prices are per unit per hour, keyed ``half0/<resource>`` (what half 0 trades at) and
    ``half1/<resource>``."""
    assign, pay, get = _empty(arr)
    node_half, bid_half = _halves_of(arr, seed)
    prices: dict[str, float] = {}
    for h in (0, 1):
        other_b = np.flatnonzero(bid_half == 1 - h)
        other_n = np.flatnonzero(node_half == 1 - h)
        price = _clock.clock_prices(arr.demand[other_b], arr.value[other_b],
                                    arr.capacity[other_n], arr.unit_cost[other_n])
        prices.update(_price_dict(arr, price, f"half{h}/"))
        if price is None:
            continue
        mix = arr.demand[other_b].sum(axis=0)
        _side(arr, np.flatnonzero(bid_half == h), np.flatnonzero(node_half == h), price, mix,
              pivot=True, room_share=_T_APP_ROOM, slack=_T_NODE_SLACK, assign=assign,
              pay=pay, get=get)
    return _clearing("halves", arr, assign, pay, get, prices)


def trade_reduction(arr: MarketArrays) -> Clearing:
    """One clock price for the whole market; bids admitted by value density while they fit
    (all pay the first left-out bid's density), the cheapest nodes covering them chosen
    (all paid at the first left-out node's cost index): McAfee's trade reduction (1992)
    on both sides of a bundle market.  Every trader can move the clock price a little."""
    assign, pay, get = _empty(arr)
    bids, nodes = np.arange(len(arr.bids)), np.arange(len(arr.asks))
    price = _clock.clock_prices(arr.demand, arr.value, arr.capacity, arr.unit_cost)
    if price is not None:
        _side(arr, bids, nodes, price, arr.demand.sum(axis=0), pivot=False,
              room_share=_T_APP_ROOM, slack=_T_NODE_SLACK, assign=assign, pay=pay, get=get)
    return _clearing("trade-reduction", arr, assign, pay, get, _price_dict(arr, price))


def pivot_price(arr: MarketArrays) -> Clearing:
    """Each node's price is the clock price of the market without it; bids face the
    highest of those prices per resource (so every trade leaves a surplus), admitted by
    value density while they fit; tasks are packed without looking at values."""
    assign, pay, get = _empty(arr)
    n_a = len(arr.asks)
    if n_a == 0 or len(arr.bids) == 0:
        return _clearing("pivot-price", arr, assign, pay, get, {})
    per_node = np.zeros((n_a, arr.capacity.shape[1]))
    keep = np.ones(n_a, dtype=bool)
    for j in range(n_a):
        keep[j] = False
        pr = _clock.clock_prices(arr.demand, arr.value, arr.capacity[keep],
                                 arr.unit_cost[keep])
        per_node[j] = pr if pr is not None else np.inf
        keep[j] = True
    finite = np.isfinite(per_node).all(axis=1)
    if not finite.any():
        return _clearing("pivot-price", arr, assign, pay, get, {})
    app_price = per_node[finite].max(axis=0)
    mix = arr.demand.sum(axis=0)
    p = arr.demand @ app_price
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(p > 0, arr.value / np.where(p > 0, p, 1.0), np.inf)
        node_p = arr.demand @ np.where(np.isfinite(per_node), per_node, 0.0).T  # (bids, nodes)
    willing = np.flatnonzero(finite & (arr.unit_cost @ mix
                                       <= np.einsum("nr,r->n", np.nan_to_num(per_node), mix)))
    if willing.size == 0:
        return _clearing("pivot-price", arr, assign, pay, get, _price_dict(arr, app_price))
    elig = arr.eligible & (arr.cost <= node_p * (1 + _EPS) + _EPS)
    elig[:, np.setdiff1d(np.arange(n_a), willing)] = False
    cand = np.flatnonzero(elig.any(axis=1) & (density >= 1.0))
    room = _T_APP_ROOM * arr.capacity[willing].sum(axis=0)
    admitted, crit = _clock.app_prefix(density, arr.demand, room, cand)
    got = _clock.pack(arr.demand, arr.capacity.copy(), elig, admitted, willing, p)
    placed = got >= 0
    a, j = admitted[placed], got[placed]
    assign[a] = j
    pay[a] = crit * p[a]
    np.add.at(get, j, node_p[a, j])
    return _clearing("pivot-price", arr, assign, pay, get, _price_dict(arr, app_price))


def posted_price(arr: MarketArrays, *, prices: Mapping[str, float] | None = None
                 ) -> Clearing:
    """Fixed per-unit prices (``prices``: resource -> price per unit per hour; default: the
    capacity-weighted mean unit cost of the nodes x 1.25): a bid trades when its value
    covers its demand's price and it still fits, in the order given (first come, first
    served); a node hosts only tasks whose price covers its cost.  Both sides pay and
    receive exactly the posted price (budget balanced)."""
    assign, pay, get = _empty(arr)
    if prices is None:
        cap = arr.capacity.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            price = np.where(cap > 0, (arr.unit_cost * arr.capacity).sum(axis=0) / cap, 0.0)
        price = price * (1 + _T_POSTED_MARKUP)
    else:
        if not isinstance(prices, Mapping):
            raise InputError("prices must map resource name to price", name="prices")
        bad = {r: x for r, x in prices.items()
               if not isinstance(x, (int, float)) or not np.isfinite(x) or x < 0}
        if bad:
            raise InputError(f"prices must be finite and >= 0, got {bad}", name="prices",
                             got=bad)
        missing = [r for r in arr.resources if r not in prices]
        if missing:
            raise InputError(f"prices lacks resources {missing}", name="prices", got=missing)
        price = np.array([float(prices[r]) for r in arr.resources])
    p = arr.demand @ price
    elig = arr.eligible & (arr.cost <= p[:, None] * (1 + _EPS) + _EPS)
    cand = np.flatnonzero((arr.value >= p) & elig.any(axis=1))
    if cand.size and len(arr.asks):
        # first come first served: the given order, never the values
        got = _clock.pack(arr.demand, arr.capacity.copy(), elig, cand,
                          np.arange(len(arr.asks)),
                          -np.arange(len(arr.bids), dtype=float))
        placed = got >= 0
        a, j = cand[placed], got[placed]
        assign[a] = j
        pay[a] = p[a]
        np.add.at(get, j, p[a])
    return _clearing("posted-price", arr, assign, pay, get, _price_dict(arr, price))
