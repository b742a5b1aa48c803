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


# -- online admission control (``ek_sched_online_admit``) -----------------------------------

# Ratio bins of the learned demand mix: edges 2**(k/16 - 20), k = 0..640, on the ratio of two
# resources' demands in cluster units; bin b holds E[b-1] <= x < E[b] (bin 0: below E[0]).
ADMIT_EDGES: np.ndarray = np.array([2.0 ** ((k - 320) / 16) for k in range(641)])


class AdmitState:
    """What the admission test has learned from the tasks seen so far: per pair of resources
    (r < s), a histogram of the ratio of their demands in cluster units.  ``icl`` is 1 / the
    cluster's total capacity per resource (0 where it has none)."""

    def __init__(self, icl: np.ndarray, weight: float, fill: float, quantile: float,
                 warmup: int, reroute: bool, arm_load: float = 0.0) -> None:
        n_res = icl.size
        self.icl = icl
        self.hist = np.zeros((n_res * n_res, ADMIT_EDGES.size + 1), dtype=np.int64)
        self.count = np.zeros(n_res * n_res, dtype=np.int64)
        self.seen = 0
        self.weight, self.fill, self.quantile = weight, fill, quantile
        self.warmup, self.reroute = warmup, reroute
        # the test judges no task until the value offered (seen, minus released) exceeds this
        self.arm_load, self.offered = arm_load, 0.0

    @property
    def armed(self) -> bool:
        """Whether the test judges tasks now."""
        return self.arm_load == 0.0 or self.offered > self.arm_load

    def value(self, d: np.ndarray) -> float:
        """``d``'s value (cluster units, mean over resources), as the C loop sums it."""
        v = 0.0
        for r in range(self.icl.size):
            v += float(d[r]) * float(self.icl[r])
        return v / self.icl.size

    def release(self, d: np.ndarray) -> None:
        """A task observed earlier left (or was withdrawn): it no longer counts as offered."""
        self.offered -= self.value(d)

    def copy(self) -> AdmitState:
        other = AdmitState(self.icl, self.weight, self.fill, self.quantile, self.warmup,
                           self.reroute, self.arm_load)
        other.hist, other.count, other.seen = self.hist.copy(), self.count.copy(), self.seen
        other.offered = self.offered
        return other

    def observe(self, d: np.ndarray) -> None:
        n_res = self.icl.size
        self.seen += 1
        self.offered += self.value(d)
        for r in range(n_res):
            for s in range(r + 1, n_res):
                if not (self.icl[r] > 0 and self.icl[s] > 0):
                    continue
                a, b = d[r] * self.icl[r], d[s] * self.icl[s]
                if a > 0 and b > 0:
                    k = r * n_res + s
                    self.hist[k, int(np.searchsorted(ADMIT_EDGES, a / b, side="right"))] += 1
                    self.count[k] += 1

    def ratios(self) -> tuple[np.ndarray, np.ndarray]:
        """(khi, has): khi[r, s] the upper ``quantile`` of d_r / d_s (cluster units) seen so
        far, has[r, s] whether any task asked for both."""
        n_res = self.icl.size
        khi = np.zeros((n_res, n_res))
        has = np.zeros((n_res, n_res), dtype=bool)
        last = ADMIT_EDGES.size - 1
        for r in range(n_res):
            for s in range(r + 1, n_res):
                k = r * n_res + s
                n = int(self.count[k])
                if n == 0:
                    continue
                m = int(self.quantile * n)
                cum = np.cumsum(self.hist[k])
                b_lo = int(np.searchsorted(cum, m, side="right"))
                b_hi = int(np.searchsorted(cum, n - 1 - m, side="right"))
                khi[r, s] = ADMIT_EDGES[min(b_hi, last)]
                khi[s, r] = 1.0 / ADMIT_EDGES[max(b_lo - 1, 0)]
                has[r, s] = has[s, r] = True
        return khi, has

    def decide(self, free: np.ndarray, cap: np.ndarray, inv: np.ndarray, tol: np.ndarray,
               d: np.ndarray, value: float, j: int, mask: np.ndarray | None
               ) -> tuple[int, int]:
        """(node, stranded resource): the node to use (``j``, another node when ``reroute``,
        or -1 to decline) and, when declined, the resource whose stranded amount on ``j``
        would grow the most (-1 otherwise).  ``j`` is the policy's choice (>= 0)."""
        if self.seen <= self.warmup or not self.armed:
            return j, -1
        khi, has = self.ratios()
        net_j, grow = self.net(free[j:j + 1], cap[j:j + 1], inv[j:j + 1], d, value, khi, has)
        if net_j[0] >= 0:
            return j, -1
        if self.reroute:
            ok = feasible(free, tol, d)
            if mask is not None:
                ok &= mask
            net, _ = self.net(free, cap, inv, d, value, khi, has)
            net = np.where(ok, net, -np.inf)
            k = int(np.argmax(net))
            if net[k] >= 0:
                return k, -1
        return -1, int(np.argmax(grow[:, 0]))

    def net(self, free: np.ndarray, cap: np.ndarray, inv: np.ndarray, d: np.ndarray,
            value: float, khi: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """value - w(fill) * (stranded after - stranded before) per node (rows of ``free``),
        and the growth of each resource's stranded amount (resources x nodes)."""
        n, n_res = free.shape
        before = [free[:, r] * self.icl[r] for r in range(n_res)]
        after = [(free[:, r] - d[r]) * self.icl[r] for r in range(n_res)]
        grow = np.zeros((n_res, n))
        acc_b = np.zeros(n)
        acc_a = np.zeros(n)
        for r in range(n_res):
            sb = np.zeros(n)
            sa = np.zeros(n)
            for s in range(n_res):
                if s == r or not has[r, s]:
                    continue
                cb = before[r] - khi[r, s] * before[s]
                sb = np.where(cb > sb, cb, sb)
                ca = after[r] - khi[r, s] * after[s]
                sa = np.where(ca > sa, ca, sa)
            acc_b = acc_b + sb
            acc_a = acc_a + sa
            grow[r] = sa - sb
        fill = np.zeros(n)
        for r in range(n_res):
            u = (cap[:, r] - free[:, r] + d[r]) * inv[:, r]
            fill = np.where(u > fill, u, fill)
        x = (fill - self.fill) / (1.0 - self.fill)
        w = self.weight * np.where(x > 0, x, 0.0)
        return value - w * (acc_a / n_res - acc_b / n_res), grow


def greedy_admit(demands: np.ndarray, values: np.ndarray, cap: np.ndarray, inv: np.ndarray,
                 free: np.ndarray, tol: np.ndarray, norm: np.ndarray, weights: np.ndarray,
                 sx: np.ndarray, sy: np.ndarray, seed: int, mask: np.ndarray | None,
                 classes: np.ndarray | None, state: AdmitState, out: np.ndarray,
                 declined: np.ndarray) -> None:
    """Online placement in arrival order with admission control: each task is observed, the
    policy picks its node, and ``state`` may move it or decline it (``out[t] = -1``,
    ``declined[t] = 1 + the resource it would strand``)."""
    for t in range(demands.shape[0]):
        row = None if mask is None else mask[t if classes is None else classes[t]]
        d = demands[t]
        state.observe(d)
        j, _ = select(free, cap, inv, tol, d, norm, weights, sx, sy, seed, t, row)
        if j >= 0:
            j, strand = state.decide(free, cap, inv, tol, d, float(values[t]), j, row)
            if j < 0:
                declined[t] = 1 + strand
        out[t] = j
        if j >= 0:
            free[j] = free[j] - d


# -- sampled futures of the default policy's plan (``ek_sched_futures``) --------------------

def futures(pool: np.ndarray, values: np.ndarray, idx: np.ndarray, lens: np.ndarray,
            cands: np.ndarray, demand: np.ndarray, cap: np.ndarray, inv: np.ndarray,
            free: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """(candidates, futures) value placed of each future after ``demand`` goes to each
    candidate node: the tasks ``pool[idx[s, i]]``, ``i < lens[s]``, in turn, each to the
    feasible node of least balanced variance (ties to the lowest index).  All pairs advance
    together, one future task per step (vectorized); same double operations, in the same
    order, as the C kernel."""
    n_c, (n_s, n_l) = cands.size, idx.shape
    n_r = cap.shape[1]
    acc = np.zeros((n_c, n_s))
    if n_c == 0:  # (no node at all: no candidate either)
        return acc
    work = np.broadcast_to(free, (n_c, n_s) + free.shape).copy()
    work[np.arange(n_c), :, cands] = work[np.arange(n_c), :, cands] - demand
    has = cap > 0
    cnt = np.zeros(cap.shape[0])
    for r in range(n_r):
        cnt = cnt + has[:, r]
    cnt_safe = np.where(cnt > 0, cnt, 1.0)
    ci, si = np.meshgrid(np.arange(n_c), np.arange(n_s), indexing="ij")
    for i in range(n_l):
        active = i < lens
        if not active.any():
            break
        take = idx[:, i].clip(0, pool.shape[0] - 1)
        d = pool[take][None, :, None, :]  # (1, S, 1, R)
        fits = np.all(d <= work + tol, axis=3) & active[None, :, None]
        u = [(cap[:, r] - work[..., r] + d[..., r]) * inv[:, r] for r in range(n_r)]
        tot = u[0] * 0.0
        for r in range(n_r):
            tot = tot + u[r]
        mean = np.where(cnt > 0, tot / cnt_safe, 0.0)
        var = tot * 0.0
        for r in range(n_r):
            dev = u[r] - mean
            var = var + np.where(has[:, r], dev * dev, 0.0)
        var = np.where(cnt > 0, var / cnt_safe, 0.0)
        valid = fits & ~np.isnan(var)  # as the C kernel: a NaN variance is never chosen
        j = np.argmin(np.where(valid, var, np.inf), axis=2)
        # every valid variance +inf: argmin's first +inf may be an invalid node, the C
        # kernel takes the first valid one
        first = np.argmax(valid, axis=2)
        j = np.where(np.take_along_axis(valid, j[..., None], axis=2)[..., 0], j, first)
        placed = valid.any(axis=2)
        pc, ps, pj = ci[placed], si[placed], j[placed]
        work[pc, ps, pj] = work[pc, ps, pj] - pool[take][ps]
        acc = acc + np.where(placed, values[take][None, :], 0.0)
    return acc
