"""The pieces every mechanism of :mod:`edgekit.market.mechanisms` is built from, on arrays.

* :func:`clock_prices`: a per-resource price vector at which the fluid demand of a set of
  bids meets the fluid supply of a set of nodes (a tatonnement clock, multiplicative steps).
* :func:`app_prefix`: the bids willing at a price, highest value density first, as long as
  their summed demand fits a fluid capacity; the first bid that does not fit sets the
  critical density every admitted bid pays (a prefix rule: monotone in each bid's value).
* :func:`pack`: admitted bids onto nodes with :func:`edgekit.schedule.place_batch`
  (online, largest first, a value-blind policy), never looking at values.

Units: demands and capacities in resource units, prices per unit per hour; a *density* is a
bid's value over its demand's price, a node's *cost index* its cost of a reference mix over
that mix's price (1 = the price exactly covers its cost).
"""

from __future__ import annotations

import numpy as np

from edgekit.schedule import place_batch

# A demand fits a fluid capacity within this relative tolerance (float noise of cumsums).
_TOL = 1e-9


def clock_prices(demand: np.ndarray, value: np.ndarray, capacity: np.ndarray,
                 unit_cost: np.ndarray, *, rounds: int = 80) -> np.ndarray | None:
    """A per-resource price vector where the bids willing to pay it (value >= price . demand)
    ask for about what the nodes whose cost index is <= 1 offer; ``None`` without bids or
    nodes.  Tatonnement in log prices with steps shrinking from 0.5 to 0.01: a price rises
    while its resource is over-asked and falls while it is over-offered."""
    if demand.shape[0] == 0 or capacity.shape[0] == 0:
        return None
    cap_total = capacity.sum(axis=0)
    asked = demand.sum(axis=0)
    # start from the capacity-weighted mean unit cost; a resource no node offers starts high
    with np.errstate(invalid="ignore", divide="ignore"):
        start = np.where(cap_total > 0, (unit_cost * capacity).sum(axis=0) / cap_total, np.nan)
    base = np.nanmax(start) if np.isfinite(start).any() else 1.0
    base = base if base > 0 else 1.0
    price = np.where(np.isfinite(start) & (start > 0), start, base)
    mix = asked
    node_cost = unit_cost @ mix
    steps = np.geomspace(0.5, 0.01, rounds)
    for eta in steps:
        willing = value >= demand @ price
        dem = demand[willing].sum(axis=0)
        sup = capacity[node_cost <= price @ mix].sum(axis=0)
        z = (dem - sup) / np.maximum(dem + sup, 1e-300)
        price = price * np.exp(eta * z)
    return price


def cost_index(unit_cost: np.ndarray, price: np.ndarray, mix: np.ndarray) -> np.ndarray:
    """(nodes,) each node's cost of ``mix`` over its price at ``price`` (inf when the mix is
    free at that price and costs the node something)."""
    num = unit_cost @ mix
    den = float(price @ mix)
    if den > 0:
        return num / den
    return np.where(num > 0, np.inf, 0.0)


def app_prefix(density: np.ndarray, demand: np.ndarray, room: np.ndarray,
               candidates: np.ndarray) -> tuple[np.ndarray, float]:
    """Admit ``candidates`` (bid indices, all with density >= 1) highest density first
    (ties: lower index first) while the summed demand fits ``room`` in every resource; stop
    at the first that does not fit.  Returns (admitted indices, critical density): the
    density of the first bid left out (1.0 when none is), which every admitted bid pays.

    The rule is monotone in a bid's value and its critical density does not depend on it:
    a bid ahead of the first misfit stays admitted at any value above that misfit's
    density and drops out below it (then the misfit's set fails the same test)."""
    if candidates.size == 0:
        return candidates, 1.0
    order = candidates[np.lexsort((candidates, -density[candidates]))]
    cum = np.cumsum(demand[order], axis=0)
    fits = np.all(cum <= room * (1 + _TOL) + _TOL, axis=1)
    k = int(np.argmin(fits)) if not fits.all() else order.size
    if k == order.size:
        return order, 1.0
    return order[:k], max(1.0, float(density[order[k]]))


def pack(demand: np.ndarray, capacity: np.ndarray, eligible: np.ndarray, bids: np.ndarray,
         nodes: np.ndarray, size: np.ndarray, *, policy: str = "least_allocated"
         ) -> np.ndarray:
    """Place ``bids`` on ``nodes`` (indices into the arrays) largest ``size`` first, each on
    the eligible node where it fits chosen by ``policy`` (``"first_fit"``: the first of
    ``nodes`` in the order given) with :func:`edgekit.schedule.place_batch`, online.  Returns
    (len(bids),) node index per
    bid, -1 = not placed.  ``capacity`` rows are what is left on each node."""
    out = np.full(bids.size, -1, dtype=np.int64)
    if bids.size == 0 or nodes.size == 0:
        return out
    order = np.lexsort((bids, -size[bids]))
    b = bids[order]
    mask = eligible[np.ix_(b, nodes)]
    ok = mask.any(axis=1)
    if not ok.any():
        return out
    got = place_batch(demand[b[ok]], capacity[nodes], mode="online",
                      policy=policy, eligible=mask[ok])
    where = np.full(b.size, -1, dtype=np.int64)
    where[np.flatnonzero(ok)] = np.where(got >= 0, nodes[np.maximum(got, 0)], -1)
    out[order] = where
    return out
