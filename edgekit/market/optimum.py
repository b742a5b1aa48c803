"""The yardstick of every mechanism: the welfare-maximizing allocation, by mixed-integer
programming (extra ``schedule``: scipy's ``milp`` with HiGHS).

The model: binary ``x[b, n]`` (bid b's task runs on node n), only for pairs where the bid
may run on the node and its value exceeds the node's cost (any other pair can only lower
welfare); each bid at most once; on each node and resource the placed demand is at most the
capacity; maximize ``sum x[b, n] * (value[b] - cost_n(demand[b]))``.

Candidates: a greedy allocation (surplus per unit of the cluster used), the LP relaxation
rounded (its integral pairs, then its fractional ones by weight, then the greedy order) and
HiGHS's MILP with the time left; the best feasible one is kept.  ``bound`` is a proven
upper bound on the welfare: the LP relaxation's optimum, or HiGHS's dual bound when smaller;
``gap = (bound - welfare) / bound``.  Measured (one core, loaded machine): 5x30 proven
optimal in 0.1-0.5 s; 20x200 gap 1-2.5% after 5 s; 100x2000 gap 0.8-1.1% (LP rounding; the
LP takes 3-4 s, HiGHS finds no better integer point in 15 s).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgekit.errors import OptionsError
from edgekit.market._arrays import (
    _FIT_TOL,
    MarketArrays,
    compile_market,
    trades_of,
    used_capacity,
    welfare_of,
)
from edgekit.schedule.optimal import _quiet_solver, _scipy
from edgekit.types import Ask, Bid

__all__ = ["Optimum", "greedy_allocation", "optimal_welfare"]


@dataclass(frozen=True, slots=True)
class Optimum:
    """Result of :func:`optimal_welfare` (money per hour).

    Attributes:
        trades: ``(bid_id, ask_id)`` of the best allocation found.
        assignment: (bids,) int64 ask index per bid, -1 = no trade.
        welfare: its welfare (sum of value - node cost over its trades).
        bound: a proven upper bound on the optimal welfare (== welfare when proven optimal).
        gap: ``(bound - welfare) / bound`` (0 when proven optimal or bound is 0).
        optimal: True when HiGHS proved optimality within ``mip_rel_gap``.
        status: the solver's message (``"greedy"`` when the greedy allocation was kept).
        seconds: wall time of the call.
    """

    trades: tuple[tuple[str, str], ...]
    assignment: np.ndarray
    welfare: float
    bound: float
    gap: float
    optimal: bool
    status: str
    seconds: float


def _check_limits(time_limit_s: object, mip_rel_gap: object) -> tuple[float, float]:
    if isinstance(time_limit_s, bool) or not isinstance(time_limit_s, numbers.Real) \
            or not math.isfinite(time_limit_s) or not time_limit_s > 0:
        raise OptionsError("time_limit_s must be a finite number > 0", name="time_limit_s",
                           got=time_limit_s)
    if isinstance(mip_rel_gap, bool) or not isinstance(mip_rel_gap, numbers.Real) \
            or not 0 <= mip_rel_gap < 1:
        raise OptionsError("mip_rel_gap must be in [0, 1)", name="mip_rel_gap",
                           got=mip_rel_gap)
    return float(time_limit_s), float(mip_rel_gap)


def _pairs(arr: MarketArrays, drop_bid: int | None, drop_ask: int | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (bid, ask) pairs worth a variable and their surplus."""
    gain = arr.value[:, None] - arr.cost
    ok = arr.eligible & (gain > 0)
    if drop_bid is not None:
        ok[drop_bid] = False
    if drop_ask is not None:
        ok[:, drop_ask] = False
    b, a = np.nonzero(ok)
    return b, a, gain[b, a]


def greedy_allocation(asks: Sequence[Ask], bids: Sequence[Bid]) -> np.ndarray:
    """A fast allocation (no solver): pairs taken in order of surplus per unit of the
    cluster they use.  Returns (bids,) ask index per bid, -1 = no trade."""
    arr = compile_market(asks, bids)
    return _greedy(arr, *_pairs(arr, None, None))


def _model(arr: MarketArrays, b: np.ndarray, a: np.ndarray, g: np.ndarray):
    sparse, Bounds, LinearConstraint, milp = _scipy()
    n_v = b.size
    n_b, n_a, n_r = len(arr.bids), len(arr.asks), len(arr.resources)
    cols = np.arange(n_v)
    one = sparse.csr_matrix((np.ones(n_v), (b, cols)), shape=(n_b, n_v))
    d = arr.demand[b]  # (vars, resources)
    rows = (a[:, None] * n_r + np.arange(n_r)[None, :]).ravel()
    cap = sparse.csr_matrix((d.ravel(), (rows, np.repeat(cols, n_r))), shape=(n_a * n_r, n_v))
    constraints = [LinearConstraint(one, -np.inf, np.ones(n_b)),
                   LinearConstraint(cap, -np.inf, arr.capacity.ravel())]
    return milp, Bounds(np.zeros(n_v), np.ones(n_v)), constraints


# Above this many (bid, node) pairs the LP relaxation is solved by interior point (3-4 s on
# 100 nodes x 2,000 bids, ~100k pairs, where the dual simplex takes over 15 s); below it the
# dual simplex (milliseconds on 20 x 200).
_IPM_PAIRS = 20_000
# The LP is the bound every figure is judged against: it gets at least this many seconds
# whatever the MILP's limit (3-4 s of CPU at 100 x 2,000; a loaded machine stretches that).
_LP_LIMIT_S = 60.0


def _fill(arr: MarketArrays, out: np.ndarray, order: np.ndarray, b: np.ndarray,
          a: np.ndarray) -> np.ndarray:
    """Take the pairs in ``order`` whose bid is still free and whose demand fits."""
    free = arr.capacity - used_capacity(arr, out)
    tol = arr.capacity * _FIT_TOL
    demand = arr.demand
    for k in order.tolist():
        i, j = int(b[k]), int(a[k])
        if out[i] >= 0:
            continue
        if (demand[i] <= free[j] + tol[j]).all():
            out[i] = j
            free[j] -= demand[i]
    return out


def _greedy_order(arr: MarketArrays, b: np.ndarray, a: np.ndarray, g: np.ndarray
                  ) -> np.ndarray:
    """Pairs by surplus per unit of the cluster they use, largest first."""
    total = arr.capacity.sum(axis=0)
    share = np.divide(arr.demand, total, out=np.zeros_like(arr.demand), where=total > 0)
    size = share.mean(axis=1) + 1e-12
    return np.lexsort((a, b, -g / size[b]))


def _greedy(arr: MarketArrays, b: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Pairs in order of surplus per unit of the cluster they use (largest first), each
    taken when its bid is still free and its demand fits what is left on its node."""
    out = np.full(len(arr.bids), -1, dtype=np.int64)
    return _fill(arr, out, _greedy_order(arr, b, a, g), b, a) if b.size else out


def _lp(b: np.ndarray, g: np.ndarray, constraints: list, time_limit_s: float):
    """The LP relaxation, or None if it fails within the limit."""
    from scipy import sparse
    from scipy.optimize import linprog

    stack = sparse.vstack([c.A for c in constraints]).tocsr()
    ub = np.concatenate([c.ub for c in constraints])
    method = "highs-ipm" if b.size > _IPM_PAIRS else "highs-ds"
    with _quiet_solver():
        lp = linprog(-g, A_ub=stack, b_ub=ub, bounds=(0, 1), method=method,
                     options={"time_limit": max(time_limit_s, _LP_LIMIT_S)})
    return lp if lp.status == 0 and lp.x is not None else None


def _solve(arr: MarketArrays, *, time_limit_s: float, mip_rel_gap: float,
           drop_bid: int | None = None, drop_ask: int | None = None
           ) -> tuple[np.ndarray, float, float, bool, str]:
    """(assignment, welfare, bound, optimal, status) of the market without ``drop_bid`` /
    ``drop_ask`` (indices), within about ``time_limit_s`` seconds.

    Candidates: the greedy allocation, the LP relaxation rounded (its integral pairs, then
    its fractional ones by weight, then the greedy order), and HiGHS's MILP with the time
    left; the best feasible one is kept.  Bound: the LP relaxation's optimum, or HiGHS's
    dual bound when smaller."""
    t0 = time.perf_counter()
    n_b = len(arr.bids)
    b, a, g = _pairs(arr, drop_bid, drop_ask)
    if b.size == 0:
        return np.full(n_b, -1, dtype=np.int64), 0.0, 0.0, True, "no profitable pair"
    best = _greedy(arr, b, a, g)
    w_best, status = welfare_of(arr, best), "greedy"
    best_possible = np.zeros(n_b)
    np.maximum.at(best_possible, b, g)
    bound = float(best_possible.sum())  # every bid at its best node
    milp, bounds, constraints = _model(arr, b, a, g)
    lp = _lp(b, g, constraints, time_limit_s)
    if lp is not None:
        bound = min(bound, -float(lp.fun) * (1 + 1e-9) + 1e-12)  # solver tolerance
        cand = np.full(n_b, -1, dtype=np.int64)
        x = np.where(lp.x > 1e-9, lp.x, 0.0)
        cand = _fill(arr, cand, np.lexsort((-g, -x))[: int((x > 0).sum())], b, a)
        cand = _fill(arr, cand, _greedy_order(arr, b, a, g), b, a)
        w = welfare_of(arr, cand)
        if w > w_best:
            best, w_best, status = cand, w, "LP rounding"
    optimal = bound <= w_best * (1 + mip_rel_gap) + 1e-12
    left = time_limit_s - (time.perf_counter() - t0)
    if not optimal and left > 0.01:
        with _quiet_solver():
            res = milp(-g, integrality=np.ones(b.size), bounds=bounds,
                       constraints=constraints,
                       options={"time_limit": left, "mip_rel_gap": mip_rel_gap,
                                "disp": False})
        dual = getattr(res, "mip_dual_bound", None)
        if dual is not None and np.isfinite(dual) and res.x is not None:
            bound = min(bound, -float(dual) * (1 + 1e-9) + 1e-12)
        if res.x is not None:
            x = np.rint(res.x) > 0.5
            cand = np.full(n_b, -1, dtype=np.int64)
            cand[b[x]] = a[x]
            if np.bincount(b[x], minlength=n_b).max(initial=0) <= 1 and (
                    used_capacity(arr, cand) <= arr.capacity * (1 + _FIT_TOL)).all():
                w = welfare_of(arr, cand)
                if w >= w_best:
                    best, w_best, status = cand, w, res.message
            optimal = res.status == 0 and status == res.message
    bound = max(bound, w_best)
    if optimal:
        bound = w_best if bound <= w_best * (1 + mip_rel_gap) + 1e-12 else bound
    return best, w_best, bound, optimal, status


def optimal_welfare(asks: Sequence[Ask], bids: Sequence[Bid], *, time_limit_s: float = 10.0,
                    mip_rel_gap: float = 1e-6) -> Optimum:
    """The allocation of ``bids`` to ``asks`` of the largest welfare (value less node
    cost, per hour, at the reported values).

    Args:
        time_limit_s: limit of the MILP solve in seconds (> 0); on 100 nodes x 2,000 bids
            HiGHS usually proves optimality in a few seconds (see ``docs/market.md``).
        mip_rel_gap: relative gap at which HiGHS stops and calls the answer optimal.

    Raises:
        RuntimeUnavailableError: scipy is not installed (extra ``schedule``).
        InputError / InputTypeError: bad asks or bids (duplicate ids...).
        OptionsError: bad limits.
    """
    time_limit_s, mip_rel_gap = _check_limits(time_limit_s, mip_rel_gap)
    t0 = time.perf_counter()
    arr = compile_market(asks, bids)
    assignment, welfare, bound, optimal, status = _solve(
        arr, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    gap = (bound - welfare) / bound if bound > 0 else 0.0
    return Optimum(trades_of(arr, assignment), assignment, welfare, bound, max(gap, 0.0),
                   optimal, status, time.perf_counter() - t0)
