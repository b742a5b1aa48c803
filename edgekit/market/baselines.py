"""Pay-your-bid: the welfare allocation, each side paid its own report.

The allocation maximizes welfare at the reported values (the MILP of
:mod:`edgekit.market.optimum`, time-limited: exact at 5 x 30, best found at larger sizes);
every traded bid pays its reported value and every selling node receives its reported cost
of what it holds.  The market keeps the whole welfare, never runs a deficit and is IR at
the reports, but a truthful trader gains exactly nothing: every trader who expects to trade
gains by shading (a bid under its value, a node over its cost) as long as it still trades.
That is the way misreports matter here, and :mod:`edgekit.market.probes` measures how often
and how much.  It is the baseline the truthful mechanisms are compared with.
"""

from __future__ import annotations

import numpy as np

from edgekit.market._arrays import MarketArrays, clearing_of
from edgekit.market.optimum import _check_limits, _solve
from edgekit.types import Clearing

__all__ = ["pay_your_bid"]


def pay_your_bid(arr: MarketArrays, *, time_limit_s: float = 2.0) -> Clearing:
    """The pay-your-bid clearing of a compiled market (the mechanism ``"pay-your-bid"`` of
    :func:`edgekit.market.clear`); ``time_limit_s`` bounds the welfare MILP.

    Raises:
        RuntimeUnavailableError: scipy is not installed (extra ``schedule``).
        OptionsError: a bad limit.
    """
    time_limit_s, gap = _check_limits(time_limit_s, 1e-6)
    assignment, _, _, _, _ = _solve(arr, time_limit_s=time_limit_s, mip_rel_gap=gap)
    placed = np.flatnonzero(assignment >= 0)
    pay = np.where(assignment >= 0, arr.value, 0.0)
    get = np.zeros(len(arr.asks))
    np.add.at(get, assignment[placed], arr.cost[placed, assignment[placed]])
    return clearing_of("pay-your-bid", arr, assignment, pay, get)
