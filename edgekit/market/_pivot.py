"""Per-pair prices of the ``pivot-greedy`` mechanism (arrays; not public API).

* **Resource weights** :func:`weights`: one price ratio per resource, the median over the
  nodes of their unit cost of it over their unit cost of a reference resource (the one the
  most nodes price), rounded on a log grid of ``step``; node ``n`` is priced with the
  weights of the *other* nodes (:func:`node_weights`), so no node moves its own.
* **Price levels** :func:`levels`: with weights ``w``, bid ``b``'s size is ``z_b = w .
  demand_b`` and its density ``v_b / z_b``; node ``m`` offers ``w . capacity_m`` from the
  level ``kappa_m`` = its cost of the market's demand mix over that mix's weighted size.
  The level of the market without node ``n`` is the lowest candidate level (a density, a
  ``kappa`` or 0) at which the sizes of the bids strictly denser than it fit in what the
  other nodes offer at it (a uniform-price double auction on one scalar good: where
  demand meets supply).  The sums are exact (sizes and offers on a dyadic grid), so
  leaving a node out leaves no trace of its report.
* **Prices** :func:`pair_prices`: ``f[b, n] = level(-n) * z_b``, what node ``n`` receives
  for hosting ``b`` (nothing ``n`` reports moves it); ``reserve[b] = max_n f[b, n]``;
  ``above[b]``: ``b``'s density is strictly above every level.  A bid above every level
  does not move any of them (the level is set by the densest bid that does not fit, or a
  node's ``kappa``, and bids above it only ever count in full): whatever it bids while it
  stays above, every price is the same, and it can only get above by bidding more than
  ``reserve[b]`` (McAfee's trade reduction: the bids that set a price do not trade).
"""

from __future__ import annotations

import numpy as np

from edgekit.market._arrays import MarketArrays


def weights(unit_cost: np.ndarray, capacity: np.ndarray, step: float, unit: np.ndarray
            ) -> np.ndarray:
    """(resources,) weights from the nodes' unit costs (rows of ``unit_cost`` and
    ``capacity``): 1 for the reference resource, ``exp(round(median log ratio / step) *
    step)`` for the others.  A resource no node prices is weighted by ``unit`` (one over
    the market's demand of it, from the bids' demands only) relative to the reference;
    with no priced resource at all, the weights are ``unit``."""
    n_r = unit_cost.shape[1]
    priced = (unit_cost > 0) & (capacity > 0)
    if not priced.any():
        return unit.astype(np.float64, copy=True)
    w = np.zeros(n_r)
    ref = int(np.argmax(priced.sum(axis=0)))  # the most nodes price it; ties: name order
    logc = np.log(np.where(priced, unit_cost, 1.0))
    for r in range(n_r):
        if r == ref:
            continue
        if not priced[:, r].any():
            w[r] = unit[r] / unit[ref] if unit[ref] > 0 else unit[r]
            continue
        both = priced[:, r] & priced[:, ref]
        if both.any():
            x = float(np.median(logc[both, r] - logc[both, ref]))
        else:
            x = float(np.median(logc[priced[:, r], r]) - np.median(logc[priced[:, ref], ref]))
        w[r] = np.exp(np.round(x / step) * step) if step > 0 else np.exp(x)
    w[ref] = 1.0
    return w


def demand_unit(arr: MarketArrays) -> np.ndarray:
    """(resources,) one over the market's total demand of each resource (0 where none):
    the unit in which a bid's size is its share of all demand."""
    total = arr.demand.sum(axis=0)
    return np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)


def node_weights(arr: MarketArrays, step: float) -> np.ndarray:
    """(nodes, resources): row ``n`` the :func:`weights` of every node but ``n``."""
    n_a = len(arr.asks)
    unit = demand_unit(arr)
    out = np.zeros((n_a, arr.capacity.shape[1]))
    keep = np.ones(n_a, dtype=bool)
    for n in range(n_a):
        keep[n] = False
        out[n] = weights(arr.unit_cost[keep], arr.capacity[keep], step, unit)
        keep[n] = True
    return out


def _grid(total: float) -> float:
    """A power of two such that sums of up to ``2**13 * total`` in its multiples are exact
    in float64: sizes and offers are rounded to it, so that leaving one bid or node out of
    a sum (a subtraction) gives exactly the sum without it."""
    if not total > 0:
        return 1.0
    return float(2.0 ** (np.ceil(np.log2(total)) - 40))


def _curves(arr: MarketArrays, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """(z, rho, kappa, zq, oq, cand, dem, sup): bid sizes and densities, node levels, the
    sizes and offers on the exact grid of :func:`_grid` (from the demand only: no value,
    cost or capacity moves it), the candidate levels (ascending) and at each the size of
    the bids strictly denser (``dem``) and the offer of the nodes whose level is at most
    it (``sup``)."""
    d = arr.demand
    z = d @ w
    rho = np.full(z.shape, np.inf)
    np.divide(arr.value, z, out=rho, where=z > 0)
    mix = d.sum(axis=0)
    wm = float(w @ mix)
    cm = arr.unit_cost @ mix
    kappa = cm / wm if wm > 0 else np.where(cm > 0, np.inf, 0.0)
    g = _grid(wm)
    zq = np.round(z / g) * g
    oq = np.round((arr.capacity @ w) / g) * g
    cand = np.unique(np.concatenate([rho[np.isfinite(rho)], kappa[np.isfinite(kappa)],
                                     [0.0]]))
    by_rho = np.argsort(rho, kind="stable")
    rs = rho[by_rho]
    top = np.concatenate([[0.0], np.cumsum(zq[by_rho][::-1])])  # top[k]: the k densest
    dem = top[rs.size - np.searchsorted(rs, cand, side="right")]
    by_k = np.argsort(kappa, kind="stable")
    sup = np.concatenate([[0.0], np.cumsum(oq[by_k])])[
        np.searchsorted(kappa[by_k], cand, side="right")]
    return z, rho, kappa, zq, oq, cand, dem, sup


def levels(arr: MarketArrays, w: np.ndarray, nodes: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(level (len(nodes),), z (bids,), rho (bids,)): the level of the market without
    each of ``nodes`` (every bid in), and the bids' sizes and densities, with weights
    ``w`` (see the module docstring)."""
    z, rho, kappa, zq, oq, cand, dem, sup = _curves(arr, w)
    on, kn = oq[nodes][:, None], kappa[nodes][:, None]
    ok = dem[None, :] <= sup[None, :] - np.where(kn <= cand[None, :], on, 0.0)
    return cand[np.argmax(ok, axis=1)], z, rho  # the last candidate passes (dem 0)


def market_level(arr: MarketArrays, w: np.ndarray) -> float:
    """The level with no bid and no node left out (for the prices a clearing reports)."""
    *_, cand, dem, sup = _curves(arr, w)
    return float(cand[int(np.argmax(dem <= sup))])


def pair_prices(arr: MarketArrays, step: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f (bids, nodes), reserve (bids,), above (bids,)): see the module docstring."""
    return pair_levels(arr, step)[:3]


def pair_levels(arr: MarketArrays, step: float) -> tuple[np.ndarray, ...]:
    """(f, reserve, above, level (nodes,), kappa (nodes,)): :func:`pair_prices`, and for
    each node ``n`` the level of the market without it and its own ``kappa`` under the
    same weights (its cost of the market's demand mix over the mix's size): ``kappa[n] <=
    level[n]`` when ``n`` would offer its capacity at its own price level (its cost report
    moves ``kappa[n]`` only, never ``level[n]``)."""
    n_b, n_a = len(arr.bids), len(arr.asks)
    f = np.zeros((n_b, n_a))
    level, kap = np.zeros(n_a), np.zeros(n_a)
    if n_b == 0 or n_a == 0:
        return f, np.zeros(n_b), np.zeros(n_b, dtype=bool), level, kap
    above = np.ones(n_b, dtype=bool)
    wn = node_weights(arr, step)
    groups, inverse = np.unique(wn, axis=0, return_inverse=True)
    mix = arr.demand.sum(axis=0)
    for g in range(groups.shape[0]):
        nodes = np.flatnonzero(inverse.ravel() == g)
        lev, z, rho = levels(arr, groups[g], nodes)
        f[:, nodes] = z[:, None] * lev[None, :]
        above &= rho > lev.max()  # compared as densities: exact for the price setters
        level[nodes] = lev
        wm = float(groups[g] @ mix)
        cm = arr.unit_cost[nodes] @ mix
        kap[nodes] = cm / wm if wm > 0 else np.where(cm > 0, np.inf, 0.0)
    return f, f.max(axis=1), above, level, kap
