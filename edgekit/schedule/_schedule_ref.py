"""numpy references for the placement kernels in ``_native/schedule.c``.

Inputs are already validated by :mod:`edgekit.schedule.kernel` (C-contiguous float64 arrays
of matching shapes).  Every score is computed with the same double operations, in the same
order, as the C code (resources summed left to right, scorers added in
:data:`~edgekit.schedule.policy.SCORERS` order, zero weights skipped), so the two pick the
same node bit for bit: the feasible node with the highest score, ties to the lowest index.

A node is *feasible* for a demand ``d`` when its mask allows it and
``d[r] <= free[r] + tol[r]`` for every resource ``r``.
"""

from __future__ import annotations

import numpy as np

_MASK64 = (1 << 64) - 1
_G1 = 0x9E3779B97F4A7C15
_G2 = 0xD1B54A32D192ED03
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_M53 = 2.0 ** -53


def hash_uniform(seed: int, key: int, nodes: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) numbers from splitmix64 of ``seed + key*G1 + node*G2`` (mod 2**64)."""
    base = np.uint64((seed + key * _G1) & _MASK64)
    z = nodes.astype(np.uint64) * np.uint64(_G2) + base
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * _TWO_M53


def _div_or_zero(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


def scores(free: np.ndarray, cap: np.ndarray, inv: np.ndarray, d: np.ndarray, norm: np.ndarray,
           weights: np.ndarray, sx: np.ndarray, sy: np.ndarray, seed: int, key: int,
           nodes: np.ndarray) -> np.ndarray:
    """Scores of the nodes whose rows are ``free``/``cap`` (indices ``nodes``) for demand
    ``d``; ``inv`` is 1/cap (0 where cap is 0); ``norm`` the largest capacity per
    resource."""
    n, n_res = free.shape
    total = np.zeros(n)
    if weights[0] != 0:  # article
        acc = np.zeros(n)
        for r in range(n_res):
            if d[r] > 0:
                acc = acc + free[:, r] / d[r]
        total = total + weights[0] * acc
    if weights[1] != 0 or weights[2] != 0:  # best_fit / worst_fit
        acc = np.zeros(n)
        for r in range(n_res):
            if norm[r] > 0:
                acc = acc + (free[:, r] - d[r]) / norm[r]
        if weights[1] != 0:
            total = total + weights[1] * -acc
        if weights[2] != 0:
            total = total + weights[2] * acc
    need_u = weights[3] != 0 or weights[4] != 0 or weights[5] != 0 or weights[6] != 0
    if need_u or weights[7] != 0:
        util = []
        for r in range(n_res):
            util.append((cap[:, r] - free[:, r] + d[r]) * inv[:, r])
    if weights[3] != 0:  # least_allocated
        acc = np.zeros(n)
        for r in range(n_res):
            acc = acc + (free[:, r] - d[r]) * inv[:, r]
        total = total + weights[3] * (acc / n_res)
    if weights[4] != 0:  # most_allocated
        acc = np.zeros(n)
        for r in range(n_res):
            acc = acc + util[r]
        total = total + weights[4] * (acc / n_res)
    if weights[5] != 0:  # requested_to_capacity_ratio
        acc = np.zeros(n)
        for r in range(n_res):
            acc = acc + _shape(util[r], sx, sy)
        total = total + weights[5] * (acc / n_res)
    if weights[6] != 0:  # balanced_allocation over the resources the node has
        cnt = np.zeros(n)
        acc = np.zeros(n)
        for r in range(n_res):
            has = cap[:, r] > 0
            cnt = cnt + has
            acc = acc + util[r]
        mean = _div_or_zero(acc, cnt)
        var = np.zeros(n)
        for r in range(n_res):
            dev = util[r] - mean
            var = var + np.where(cap[:, r] > 0, dev * dev, 0.0)
        var = _div_or_zero(var, cnt)
        total = total + weights[6] * (1.0 - np.sqrt(var))
    if weights[7] != 0:  # tetris
        acc = np.zeros(n)
        for r in range(n_res):
            acc = acc + (d[r] * inv[:, r]) * (free[:, r] * inv[:, r])
        total = total + weights[7] * acc
    if weights[8] != 0:  # random
        total = total + weights[8] * hash_uniform(seed, key, nodes)
    return total


def _shape(u: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Piecewise-linear shape through (sx, sy), flat outside [sx[0], sx[-1]]; segment i
    covers ``sx[i] <= u < sx[i+1]``."""
    out = np.where(u <= sx[0], sy[0], sy[-1])
    for i in range(sx.size - 1):
        inside = (u >= sx[i]) & (u < sx[i + 1])
        val = sy[i] + ((sy[i + 1] - sy[i]) * (u - sx[i])) / (sx[i + 1] - sx[i])
        out = np.where(inside, val, out)
    return out


def feasible(free: np.ndarray, tol: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Boolean (nodes,): the demand fits within free + tol on every resource."""
    return np.all(d <= free + tol, axis=1)


def select(free: np.ndarray, cap: np.ndarray, inv: np.ndarray, tol: np.ndarray, d: np.ndarray,
           norm: np.ndarray, weights: np.ndarray, sx: np.ndarray, sy: np.ndarray,
           seed: int, key: int, mask: np.ndarray | None) -> tuple[int, int]:
    """(best node or -1, number of feasible nodes) for one demand row ``d``."""
    ok = feasible(free, tol, d)
    if mask is not None:
        ok &= mask
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return -1, 0
    if not weights.any():
        return int(idx[0]), int(idx.size)
    s = scores(free[idx], cap[idx], inv[idx], d, norm, weights, sx, sy, seed, key, idx)
    s = np.where(np.isnan(s), -np.inf, s)
    return int(idx[int(np.argmax(s))]), int(idx.size)


def greedy(demands: np.ndarray, order: np.ndarray, cap: np.ndarray, inv: np.ndarray,
           free: np.ndarray,
           tol: np.ndarray, norm: np.ndarray, weights: np.ndarray, sx: np.ndarray,
           sy: np.ndarray, seed: int, mask: np.ndarray | None,
           classes: np.ndarray | None, out: np.ndarray) -> None:
    """Place the tasks ``order[0], order[1], ...`` one after another; ``free`` is updated in
    place and ``out[t]`` receives task t's node (-1 when none fits).  The random scorer's
    key of task t is t."""
    for t in order.tolist():
        row = None if mask is None else mask[t if classes is None else classes[t]]
        j, _ = select(free, cap, inv, tol, demands[t], norm, weights, sx, sy, seed, t, row)
        out[t] = j
        if j >= 0:
            free[j] = free[j] - demands[t]
