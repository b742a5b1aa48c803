"""VCG on the exact allocation, with Clarke pivot payments to both sides: efficient,
truthful for both sides and individually rational, so (Myerson-Satterthwaite) it runs a
deficit: the market pays the nodes more than it collects from the applications.

For the welfare-maximizing allocation ``x*`` of welfare ``W*``:

* a traded bid ``b`` pays ``value_b - (W* - W*_{-b})`` (its value less its marginal
  contribution; ``W*_{-b}`` is the optimum without it); an untraded bid pays nothing;
* a node ``n`` that sells receives ``cost_n(held) + (W* - W*_{-n})``.

Each trader's utility is its marginal contribution ``W* - W*_{-i}``, whatever it reports,
so truth-telling is dominant, as long as every optimum is exact.  That takes one MILP per
trader who trades (plus one): fine at 5 x 30, minutes at 20 x 200, out of reach at
100 x 2,000.  :func:`vcg_detail` says whether every solve was proven optimal and how large
the deficit is.  An optimum without ``i`` is never taken below what the allocation ``x*``
less ``i``'s trades achieves (a feasible point), so a time-limited solve can only raise the
traders' utilities: IR holds, the deficit can only grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgekit.market._arrays import MarketArrays, clearing_of, compile_market
from edgekit.market.optimum import _check_limits, _solve
from edgekit.types import Ask, Bid, Clearing

__all__ = ["VCGResult", "vcg", "vcg_detail"]


@dataclass(frozen=True, slots=True)
class VCGResult:
    """:func:`vcg_detail`'s answer (money per hour).

    Attributes:
        clearing: the VCG clearing (``surplus`` < 0 is the deficit).
        deficit: ``max(0, -clearing.surplus)``: the subsidy the market needs.
        solves: MILPs solved (1 + traders who trade).
        exact: every solve was proven optimal (else payments rest on best-found optima and
            truthfulness is not guaranteed).
        max_gap: the largest relative gap of a solve (0 when exact).
    """

    clearing: Clearing
    deficit: float
    solves: int
    exact: bool
    max_gap: float


def _vcg(arr: MarketArrays, time_limit_s: float, mip_rel_gap: float) -> VCGResult:
    assignment, w_star, bound, optimal, _ = _solve(arr, time_limit_s=time_limit_s,
                                                   mip_rel_gap=mip_rel_gap)
    gaps = [0.0 if optimal or bound <= 0 else (bound - w_star) / bound]
    exact = optimal
    placed = np.flatnonzero(assignment >= 0)
    gain = np.zeros(len(arr.bids))
    gain[placed] = arr.value[placed] - arr.cost[placed, assignment[placed]]
    pay = np.zeros(len(arr.bids))
    get = np.zeros(len(arr.asks))
    solves = 1
    for i in placed.tolist():
        _, w, bd, opt, _ = _solve(arr, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                                  drop_bid=i)
        solves += 1
        exact &= opt
        gaps.append(0.0 if opt or bd <= 0 else (bd - w) / bd)
        w = max(w, w_star - gain[i])  # x* without i is feasible
        pay[i] = arr.value[i] - (w_star - w)
    for j in np.unique(assignment[placed]).tolist():
        _, w, bd, opt, _ = _solve(arr, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                                  drop_ask=j)
        solves += 1
        exact &= opt
        gaps.append(0.0 if opt or bd <= 0 else (bd - w) / bd)
        held = assignment == j
        w = max(w, w_star - float(gain[held].sum()))
        get[j] = float(arr.cost[held, j].sum()) + (w_star - w)
    clearing = clearing_of("vcg", arr, assignment, pay, get)
    return VCGResult(clearing, max(0.0, -clearing.surplus), solves, bool(exact),
                     float(max(gaps)))


def vcg(arr: MarketArrays, *, time_limit_s: float = 10.0, mip_rel_gap: float = 1e-9
        ) -> Clearing:
    """The VCG clearing of a compiled market (the mechanism ``"vcg"`` of
    :func:`edgekit.market.clear`).  ``time_limit_s`` bounds each MILP (there are
    1 + traders who trade of them)."""
    time_limit_s, mip_rel_gap = _check_limits(time_limit_s, mip_rel_gap)
    return _vcg(arr, time_limit_s, mip_rel_gap).clearing


def vcg_detail(asks: Sequence[Ask], bids: Sequence[Bid], *, time_limit_s: float = 10.0,
               mip_rel_gap: float = 1e-9) -> VCGResult:
    """VCG with its deficit and whether every optimum behind it was proven.

    Raises:
        RuntimeUnavailableError: scipy is not installed (extra ``schedule``).
        InputError / InputTypeError: bad asks or bids; OptionsError: bad limits.
    """
    time_limit_s, mip_rel_gap = _check_limits(time_limit_s, mip_rel_gap)
    return _vcg(compile_market(asks, bids), time_limit_s, mip_rel_gap)
