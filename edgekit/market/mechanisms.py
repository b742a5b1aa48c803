"""Market mechanisms: who trades with whom and who pays or receives what.

Every function here takes the compiled market (:class:`~edgekit.market._arrays.MarketArrays`)
and returns a :class:`~edgekit.types.Clearing`; :func:`edgekit.market.clear` is the public
entry.  What each guarantees, for whom, and what it does not: ``docs/market.md``.

* :func:`pivot_greedy_margin` (the default), :func:`pivot_greedy`,
  :func:`pivot_greedy_phantom`: a greedy allocation with critical-value payments; each node
  paid a price computed without it.
* :func:`halves`: prices from the other half of the market (MUDA-style).
* :func:`trade_reduction`: a uniform-price clock with McAfee-style trade reduction.
* :func:`pivot_price`: a clock whose price for each node is computed without it.
* :func:`posted_price`: fixed per-unit prices, first come first served.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np

from edgekit.errors import InputError
from edgekit.market import _clock, _kernel, _pivot
from edgekit.market._arrays import _FIT_TOL, MarketArrays, clearing_of
from edgekit.types import Clearing

__all__ = ["halves", "pivot_greedy", "pivot_greedy_margin", "pivot_greedy_phantom",
           "pivot_price", "posted_price", "trade_reduction"]

# Tuned thresholds (edgekit.market.generate's tuning seeds only, never the held-out list;
# candidates in _TUNING_GRID).
_T_APP_ROOM = 0.97  # admitted bids may ask for this share of the willing nodes' capacity
_T_SCALES = (0.8, 1.1, 1.25, 1.4, 1.6, 1.8, 2.0, 2.3)  # price search: clock price x these
_T_STEPS = (0.8, 1.25)  # ... then each resource's price x these, kept when welfare rises
_T_ROUNDS = 0  # ... for this many rounds (0: tuning seeds 100-109/100-102 gained nothing)
# packing policy: "least_allocated" (spread) beat "first_fit" on the cheapest node on tuning
# seeds 100-107 (20x200): +1.6 points of welfare, profitable node misreports 14% -> 8%
_T_PACK = "least_allocated"
# halves, tuning seeds 100-107 (20x200), 240 node probes each: a node may host a task its
# price does not cover alone, individual rationality kept per node (its receipts cover its
# cost of all it hosts): welfare 88.1% -> 88.7%, profitable node misreports 8.3% -> 5.8%
# (its cost report then rarely changes what it hosts); packing first where the price covers
# the task: 89.2%, 7.5%
_T_AGGREGATE_IR = True
_T_PROFITABLE_FIRST = False
_T_POSTED_MARKUP = 0.25  # posted-price default: capacity-weighted mean unit cost x (1 + this)
# pivot-greedy: the resource price ratios (median over the nodes) are rounded on a log grid
# of this step, so that one node's report rarely moves them (tuning seeds 300-339 / 300-319 /
# 300-302 at 5x30 / 20x200 / 100x2000: welfare the same for 0.15-1.0, node misreports
# profitable 4.5% -> 3.0% (5x30) from 0.15 to 0.35)
_T_PIVOT_W_STEP = 0.5
# pivot-greedy: the alignment (cosine) that picks a bid's node is binned on this grid, ties
# to the lowest node index, so that a node's report (a little less capacity, another cost)
# rarely tips which of several nearly as well aligned nodes a later bid goes to.  Tuning
# seeds (welfare 300-339 / 300-319 / 300-302, node probes 400-499 / 400-479 / 500-510 at
# 5x30 / 20x200 / 100x2000): 0 -> 0.05 -> 0.1: node misreports profitable 2.60 / 2.30 /
# 2.43% -> 1.40 / 1.55 / 1.79% -> 1.25 / 1.45 / 2.00%, welfare 80.67 / 95.91 / 98.00% ->
# 80.44 / 95.88 / 97.80% -> 80.71 / 95.69 / 97.52% (docs/market.md)
_T_PIVOT_ALIGN_STEP = 0.05
# pivot-greedy: the phantom rule.  A bid is routed over every node it may use (not only those
# whose cost filter passes); when the best aligned one refuses it (its cost of the bid above
# its price), that node still holds the bid's room (a phantom) if its kappa is at most this
# times its level, and the bid goes to the best aligned node that may host it, so a node's
# cost report cannot free room for later bids.  0: no phantom (a refusing node's room stays
# free).  Tuning seeds (docs/market.md, "Closing the cost channel"): inf (every node holds
# it) took 100x2000 node misreports 20/1,200 -> 8/1,200 at -0.29 points of welfare on 3
# markets; held out it met the node target at every size but lost 0.9 points at 100x2000
# (96.9% of the best found, target 97%), so pivot-greedy keeps 0, `pivot-greedy-phantom`
# (_T_PIVOT_PHANTOM_ALT) offers the other side of the trade-off, and the default,
# `pivot-greedy-margin` (_T_PIVOT_MARGIN_PHANTOM), pairs it with the order by margin.
_T_PIVOT_PHANTOM = 0.0
_T_PIVOT_PHANTOM_ALT = math.inf
# pivot-greedy: the greedy's order, by the key (v_b - lambda reserve_b) / s_b: lambda 0 is
# value per unit of the market's demand, 1 the margin over the reserve.  A bid's reserve
# never moves with its own value, so the order is monotone in it for any lambda, and the
# critical value is lambda reserve_b + s_b x the blocker's key.  Tuning seeds (welfare
# paired with the default on 300-319 / 300-339 / 300-339 at 100x2000 / 20x200 / 5x30; node
# probes on 400-479, 25 a market, at 20x200), with the phantom rule on every node: lambda
# 0.5 / 0.75 / 0.9 / 1: welfare -0.10 / +0.70 / +1.08 / +1.18% (100x2000), +0.07 / +0.30 /
# +0.17 / +0.14% (20x200); 20x200 node probes profitable 35 / 29 / 41 / 48 of 2,000
# (docs/market.md, "Closing the gap: the order by margin")
_T_PIVOT_ORDER = 0.0
_T_PIVOT_MARGIN_ORDER = 0.75
_T_PIVOT_MARGIN_PHANTOM = math.inf
# the phantom rule, two ways to give back some of the held room (every pivot-greedy mechanism
# with the rule on): a phantom holds this share of a refused bid's demand, and a node holds
# phantoms only up to this share of its capacity.  Tuning seeds 300-319 (welfare at
# 100x2000, paired with the rule off) and 503-526 (node probes, 100 a market), value order:
# hold 1 / 0.5 / 0.25: welfare -1.12 / -0.78 / -0.29%, node probes 18 / - / 42 of 2,400 (rule
# off 53); cap inf / 0.6 / 0.3: welfare -1.12 / -0.20 / -0.04%, cap 0.6: 46 of 2,400.  The
# channel closes only when the whole room is held: kept at 1 and inf (docs/market.md)
_T_PIVOT_PHANTOM_HOLD = 1.0
_T_PIVOT_PHANTOM_CAP = math.inf

_TUNING_GRID: dict[str, tuple[float | str | bool, ...]] = {
    "_T_APP_ROOM": (0.9, 0.94, 0.97, 0.99, 1.0),
    "_T_ROUNDS": (0, 1, 2, 3),
    "_T_PACK": ("least_allocated", "first_fit", "most_allocated"),
    "_T_AGGREGATE_IR": (True, False),
    "_T_PROFITABLE_FIRST": (False, True),
    "_T_POSTED_MARKUP": (0.0, 0.25, 0.5),
    "_T_PIVOT_W_STEP": (0.0, 0.15, 0.25, 0.35, 0.5, 0.7, 1.0),
    "_T_PIVOT_ALIGN_STEP": (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3),
    "_T_PIVOT_PHANTOM": (0.0, 1.0, 1.2, 1.5, math.inf),
    "_T_PIVOT_PHANTOM_ALT": (1.0, 1.2, 1.5, math.inf),
    "_T_PIVOT_ORDER": (0.0, 0.5, 0.6, 0.75, 0.9, 1.0),
    "_T_PIVOT_MARGIN_ORDER": (0.0, 0.5, 0.6, 0.75, 0.9, 1.0),
    "_T_PIVOT_MARGIN_PHANTOM": (0.0, 1.0, 1.2, 1.5, math.inf),
    "_T_PIVOT_PHANTOM_HOLD": (0.25, 0.5, 0.75, 1.0),
    "_T_PIVOT_PHANTOM_CAP": (0.2, 0.3, 0.4, 0.6, 1.0, math.inf),
}

# slack on IR filters: a node accepts a task whose price covers its cost within float noise
_EPS = 1e-12


def _allocate(arr: MarketArrays, bids: np.ndarray, nodes: np.ndarray, price: np.ndarray,
              mix: np.ndarray, room_share: float
              ) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Clear ``bids`` against ``nodes`` at per-unit ``price`` (a vector over resources):

    1. nodes take part when their cost index (cost of ``mix`` over its price) is <= 1; a
       bid is a candidate when its value covers its demand's price and it fits some
       eligible node (with ``_T_AGGREGATE_IR`` off: one whose cost of it the price covers);
    2. candidates are admitted highest value density first while their summed demand fits
       ``room_share`` of the capacity of the nodes whose cost index (cost of ``mix`` over
       its price) is <= 1; all pay the first left-out candidate's density (>= 1) times
       their demand's price (:func:`_clock.app_prefix`): their critical value;
    3. admitted bids are packed largest first, each on the least-allocated node where it
       fits (never looking at values); a node whose receipts would fall short of its cost
       of what it hosts sheds its least profitable tasks until they do not.

    Returns (admitted bids placed, their nodes, the critical density, per-bid price
    ``demand @ price``)."""
    d, cost = arr.demand, arr.cost
    p = d @ price  # each bid's demand at the price, per hour
    none = np.zeros(0, dtype=np.int64)
    if bids.size == 0 or nodes.size == 0:
        return none, none, 1.0, p
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(p > 0, arr.value / np.where(p > 0, p, 1.0), np.inf)
    kappa = _clock.cost_index(arr.unit_cost[nodes], price, mix)
    if _T_AGGREGATE_IR:
        nodes = nodes[kappa <= 1.0]
        kappa = kappa[kappa <= 1.0]
        if nodes.size == 0:
            return none, none, 1.0, p
        ok = arr.eligible[np.ix_(bids, nodes)]
        elig = arr.eligible
    else:
        ok = arr.eligible[np.ix_(bids, nodes)] & (cost[np.ix_(bids, nodes)]
                                                  <= p[bids, None] * (1 + _EPS) + _EPS)
        elig = arr.eligible & (cost <= p[:, None] * (1 + _EPS) + _EPS)
    cand = bids[ok.any(axis=1) & (density[bids] >= 1.0)]
    room = room_share * arr.capacity[nodes[kappa <= 1.0]].sum(axis=0)
    admitted, crit = _clock.app_prefix(density, d, room, cand)
    if admitted.size == 0:
        return none, none, crit, p
    ranked = nodes[np.lexsort((nodes, kappa))]
    if _T_AGGREGATE_IR and _T_PROFITABLE_FIRST:
        # first where the price covers the node's cost of the task, then anywhere
        first = elig & (cost <= p[:, None] * (1 + _EPS) + _EPS)
        got = _clock.pack(d, arr.capacity, first, admitted, ranked, p, policy=_T_PACK)
        left = got < 0
        if left.any():
            free = arr.capacity.copy()
            np.subtract.at(free, got[~left], d[admitted[~left]])
            got[left] = _clock.pack(d, np.maximum(free, 0.0), elig, admitted[left], ranked, p,
                                    policy=_T_PACK)
    else:
        got = _clock.pack(d, arr.capacity, elig, admitted, ranked, p, policy=_T_PACK)
    placed = got >= 0
    a, j = admitted[placed], got[placed]
    if _T_AGGREGATE_IR:
        a, j = _node_ir(arr, a, j, p)
    return a, j, crit, p


def _node_ir(arr: MarketArrays, a: np.ndarray, j: np.ndarray, p: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Drop, on every node whose receipts (``p`` of its tasks) fall short of its cost of
    them, its least profitable tasks until they do not (never looking at values)."""
    margin = p[a] - arr.cost[a, j]
    keep = np.ones(a.size, dtype=bool)
    short = np.bincount(j, weights=margin, minlength=arr.capacity.shape[0])
    for n in np.flatnonzero(short < -_EPS).tolist():
        mine = np.flatnonzero(j == n)
        total = float(margin[mine].sum())
        for k in mine[np.lexsort((a[mine], margin[mine]))].tolist():
            if total >= -_EPS:
                break
            keep[k] = False
            total -= float(margin[k])
    return a[keep], j[keep]


def _side(arr: MarketArrays, bids: np.ndarray, nodes: np.ndarray, price: np.ndarray,
          mix: np.ndarray, *, assign: np.ndarray, pay: np.ndarray, get: np.ndarray) -> None:
    """:func:`_allocate` written into ``assign`` / ``pay`` (per bid) and ``get`` (per
    node): every admitted bid pays its critical value, every node receives ``price`` times
    each hosted demand."""
    a, j, crit, p = _allocate(arr, bids, nodes, price, mix, _T_APP_ROOM)
    assign[a] = j
    pay[a] = crit * p[a]
    np.add.at(get, j, p[a])


def _searched_price(arr: MarketArrays, bids: np.ndarray, nodes: np.ndarray
                    ) -> np.ndarray | None:
    """The price at which :func:`_allocate` reaches the most welfare on ``bids`` and
    ``nodes``: from the clock price, a scale search then per-resource steps."""
    start = _clock.clock_prices(arr.demand[bids], arr.value[bids], arr.capacity[nodes],
                                arr.unit_cost[nodes])
    if start is None:
        return None
    mix = arr.demand[bids].sum(axis=0)

    def welfare(pr: np.ndarray) -> float:
        a, j, _, _ = _allocate(arr, bids, nodes, pr, mix, _T_APP_ROOM)
        return float((arr.value[a] - arr.cost[a, j]).sum())

    best, best_w = start, welfare(start)
    for lam in _T_SCALES:
        w = welfare(start * lam)
        if w > best_w:
            best, best_w = start * lam, w
    for _ in range(_T_ROUNDS):
        for r in range(start.size):
            for step in _T_STEPS:
                pr = best.copy()
                pr[r] *= step
                w = welfare(pr)
                if w > best_w:
                    best, best_w = pr, w
    return best


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
    """Split nodes and bids into two halves by a keyed hash of their ids
    (``seed`` keys it); each half trades within itself at a price computed from the
    *other* half only (its clock price scaled to where this rule reaches the most welfare
    there), so no trader's report moves the price it faces (after MUDA, Segal-Halevi et
    al. 2018).  In each half, bids are admitted by value density while they fit and pay
    their critical value; nodes receive the price; packing never looks at values.
    Prices are per unit per hour, keyed ``half0/<resource>`` (what half 0 trades at) and
    ``half1/<resource>``."""
    assign, pay, get = _empty(arr)
    node_half, bid_half = _halves_of(arr, seed)
    prices: dict[str, float] = {}
    for h in (0, 1):
        other_b = np.flatnonzero(bid_half == 1 - h)
        other_n = np.flatnonzero(node_half == 1 - h)
        price = _searched_price(arr, other_b, other_n)
        prices.update(_price_dict(arr, price, f"half{h}/"))
        if price is None:
            continue
        mix = arr.demand[other_b].sum(axis=0)
        _side(arr, np.flatnonzero(bid_half == h), np.flatnonzero(node_half == h), price, mix,
              assign=assign, pay=pay, get=get)
    return clearing_of("halves", arr, assign, pay, get, prices)


def trade_reduction(arr: MarketArrays) -> Clearing:
    """One clock price for the whole market; bids admitted by value density while they fit
    and all pay the first left-out bid's density times their demand's price (McAfee's
    trade reduction, 1992, on the buying side of a bundle market); nodes receive the clock
    price.  Every trader can move the clock price a little."""
    assign, pay, get = _empty(arr)
    bids, nodes = np.arange(len(arr.bids)), np.arange(len(arr.asks))
    price = _clock.clock_prices(arr.demand, arr.value, arr.capacity, arr.unit_cost)
    if price is not None:
        _side(arr, bids, nodes, price, arr.demand.sum(axis=0), assign=assign, pay=pay,
              get=get)
    return clearing_of("trade-reduction", arr, assign, pay, get, _price_dict(arr, price))


def pivot_price(arr: MarketArrays) -> Clearing:
    """Each node's price is the clock price of the market without it; bids face the
    highest of those prices per resource (so every trade leaves a surplus), admitted by
    value density while they fit; tasks are packed without looking at values."""
    assign, pay, get = _empty(arr)
    n_a = len(arr.asks)
    if n_a == 0 or len(arr.bids) == 0:
        return clearing_of("pivot-price", arr, assign, pay, get, {})
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
        return clearing_of("pivot-price", arr, assign, pay, get, {})
    app_price = per_node[finite].max(axis=0)
    mix = arr.demand.sum(axis=0)
    p = arr.demand @ app_price
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(p > 0, arr.value / np.where(p > 0, p, 1.0), np.inf)
        node_p = arr.demand @ np.where(np.isfinite(per_node), per_node, 0.0).T  # (bids, nodes)
    willing = np.flatnonzero(finite & (arr.unit_cost @ mix
                                       <= np.einsum("nr,r->n", np.nan_to_num(per_node), mix)))
    if willing.size == 0:
        return clearing_of("pivot-price", arr, assign, pay, get, _price_dict(arr, app_price))
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
    return clearing_of("pivot-price", arr, assign, pay, get, _price_dict(arr, app_price))


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
    return clearing_of("posted-price", arr, assign, pay, get, _price_dict(arr, price))


def pivot_greedy(arr: MarketArrays) -> Clearing:
    """A greedy allocation with critical-value payments, each node paid a price computed
    without it (what it guarantees and why: ``docs/market.md``); the default is its variant
    :func:`pivot_greedy_margin`.

    1. Prices (:mod:`edgekit.market._pivot`): ``f[b, n]``, what node ``n`` receives for
       hosting bid ``b``, is the price level of the market without ``n`` times ``b``'s
       weighted size; ``reserve[b] = max_n f[b, n]``.
    2. A bid may trade only when its density is strictly above every level (the bids that
       set a level do not trade: trade reduction), and on node ``n`` only when ``n`` may
       host it and ``n``'s cost of it is at most ``f[b, n]``.
    3. Bids in order of value per unit of the market's demand (``v_b / s_b``, ``s_b`` the
       mean over resources of the bid's share of all demand), each to the allowed node
       where it fits whose free capacity points most nearly the way of its demand (never
       looking at values or costs); skipped when it fits none
       (:func:`pivot_greedy_phantom`: routed over every node it may use, cost filter
       aside, and a node that refuses it still holds its room).
    4. A placed bid pays its critical value: the larger of its reserve and the value at
       which it would fall behind the bid that, in the same run without it, leaves it no
       allowed node (C kernel ``_native/market.c``); node ``n`` receives ``f[b, n]`` for
       each bid ``b`` it hosts.

    Prices are per unit per hour at the level with no one left out (for information; a
    resource whose price is not a finite float64 is left out of them).

    Raises:
        InputError: amounts so far apart (e.g. 1e-300 beside 1e300) that a price or a
            payment is not a finite float64: use units that bring them nearer 1.
    """
    return _pivot_greedy_named(arr, "pivot-greedy", _T_PIVOT_PHANTOM, _T_PIVOT_ORDER)


def pivot_greedy_phantom(arr: MarketArrays) -> Clearing:
    """:func:`pivot_greedy` with the phantom rule on every node (``_T_PIVOT_PHANTOM_ALT``):
    a bid is routed over every node it may use, and when the best aligned one refuses it
    (its cost above its price) that node still holds the bid's room, so a node's cost
    report never frees room for later bids; the bid goes to the best aligned node that
    accepts it.  The same guarantees as the default (truthful for applications, no
    deficit, IR, capacity); fewer profitable node misreports (a node inflating its costs
    only loses the tasks it refuses), a little less welfare (the held room is idle):
    ``docs/market.md``, "Closing the cost channel".

    Raises:
        InputError: as :func:`pivot_greedy`.
    """
    return _pivot_greedy_named(arr, "pivot-greedy-phantom", _T_PIVOT_PHANTOM_ALT,
                               _T_PIVOT_ORDER)


def pivot_greedy_margin(arr: MarketArrays) -> Clearing:
    """:func:`pivot_greedy_phantom` with the greedy taking bids in order of ``(v_b - lambda
    reserve_b) / s_b`` (``lambda = _T_PIVOT_MARGIN_ORDER``, 0.75: mostly their margin over
    their reserve per unit of the market's demand), not of ``v_b / s_b``: a bid's reserve
    does not move with its own value, so the allocation is still monotone and a placed bid
    pays ``lambda reserve_b + s_b`` times the key of the bid that would leave it no room (at
    least its reserve).  The default mechanism.  The same guarantees as
    :func:`pivot_greedy` (truthful for applications, no deficit, IR, capacity); more welfare
    than it and :func:`pivot_greedy_phantom` (bids that clear their reserve by little no
    longer crowd out those that clear it by much), and the phantom rule's fewer profitable
    node misreports; a node's report now also moves the order, through the other nodes'
    levels in the reserves.  Held out it met every target of issue #20 at every size
    (``docs/market.md``, "Closing the gap: the order by margin" and "Measured:
    ``pivot-greedy-margin``").

    Raises:
        InputError: as :func:`pivot_greedy`.
    """
    return _pivot_greedy_named(arr, "pivot-greedy-margin", _T_PIVOT_MARGIN_PHANTOM,
                               _T_PIVOT_MARGIN_ORDER)


def _pivot_greedy_named(arr: MarketArrays, name: str, phantom: float, order: float
                        ) -> Clearing:
    assign, pay, get = _empty(arr)
    n_b, n_a = len(arr.bids), len(arr.asks)
    if n_b == 0 or n_a == 0 or not arr.resources:
        return clearing_of(name, arr, assign, pay, get, {})
    # extreme amounts overflow the weights, sizes and levels: checked below, not warned
    with np.errstate(all="ignore"):
        return _pivot_greedy(arr, assign, pay, get, name, phantom, order)


def _out_of_range(what: str) -> InputError:
    return InputError(f"pivot-greedy: {what} is not a finite float64 (amounts too far apart; "
                      "use units that bring them nearer 1)", name="bids",
                      expected="amounts within float64's range of one another")


def _pivot_greedy(arr: MarketArrays, assign: np.ndarray, pay: np.ndarray, get: np.ndarray,
                  name: str, phantom: float, lam: float) -> Clearing:
    n_b, n_a = len(arr.bids), len(arr.asks)
    f, reserve, above, level, kappa = _pivot.pair_levels(arr, _T_PIVOT_W_STEP)
    if not np.isfinite(f).all():
        raise _out_of_range("a pair price")
    allowed = arr.eligible & (arr.cost <= f) & above[:, None]
    # the nodes that route a bid: its hosts, and with the phantom rule every node it may use
    route, holds = allowed, np.zeros(n_a, dtype=bool)
    if phantom > 0:
        route = arr.eligible & above[:, None]
        # the nodes that hold the room of a bid they refuse
        holds = (np.ones(n_a, dtype=bool) if math.isinf(phantom)
                 else kappa <= phantom * level)
    unit = _pivot.demand_unit(arr)
    if not np.isfinite(unit).all():  # a total demand below 1 / DBL_MAX
        raise _out_of_range("one over a resource's total demand")
    size = (arr.demand * unit).mean(axis=1)
    # the order's key, and the value at which a bid's key equals k: base + size x k (lam
    # 0: base 0, the key v / size exactly)
    base = lam * reserve
    key = np.full(n_b, np.inf)
    np.divide(arr.value - base, size, out=key, where=size > 0)
    cand = np.flatnonzero(allowed.any(axis=1))
    order = cand[np.lexsort((cand, -key[cand]))]
    rows, cols = np.nonzero(route)
    hosts = None
    if route is not allowed:  # 1: may host; 2: refuses, holds the room; 0: refuses
        hosts = np.where(allowed[rows, cols], 1, np.where(holds[cols], 2, 0))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_b))])
    # a bid's critical value is at least its reserve: its run without it may stop at the
    # first bid whose key is at most the key of a value at its reserve (any blocker from
    # there on gives less)
    stop = np.full(n_b, np.inf)
    np.divide(reserve - base, size, out=stop, where=size > 0)
    limit = (arr.capacity * _T_PIVOT_PHANTOM_CAP if math.isfinite(_T_PIVOT_PHANTOM_CAP)
             else None)
    got, blocker, _, _ = _kernel.greedy(arr.demand, unit, arr.capacity * _FIT_TOL, order,
                                        indptr, cols, arr.capacity, key[order], stop,
                                        step=_T_PIVOT_ALIGN_STEP, hosts=hosts,
                                        hold=_T_PIVOT_PHANTOM_HOLD, limit=limit)
    placed = np.flatnonzero(got >= 0)
    assign[placed] = got[placed]
    blk = blocker[placed]
    crit = np.zeros(placed.size)
    has = blk >= 0
    crit[has] = base[placed[has]] + size[placed[has]] * key[order[blk[has]]]
    pay[placed] = np.minimum(np.maximum(reserve[placed], crit), arr.value[placed])
    np.add.at(get, got[placed], f[placed, got[placed]])
    if not (np.isfinite(pay).all() and np.isfinite(get).all()):
        raise _out_of_range("a payment or receipt")
    w = _pivot.weights(arr.unit_cost, arr.capacity, _T_PIVOT_W_STEP, unit)
    price = _pivot.market_level(arr, w) * w
    prices = {r: x for r, x in _price_dict(arr, price).items() if np.isfinite(x)}
    return clearing_of(name, arr, assign, pay, get, prices)
