"""Python reference of the ``_native/market.c`` kernel (``ek_market_greedy``): the greedy
allocation of the ``pivot-greedy`` mechanism and the positions that set the critical
values.  Plain float arithmetic in the kernel's order, so both give the same bits; see
``_native/market.h`` for the contract."""

from __future__ import annotations

import math

import numpy as np


def _fits(d: list[float], free: list[float], tol: list[float]) -> bool:
    return all(x <= f + t for x, f, t in zip(d, free, tol, strict=True))


def _width(d: list[float], unit: list[float], step: float) -> float:
    """The bin width of a bid's alignment scores (0: not binned): see market.c."""
    if not step > 0.0:
        return 0.0
    sq = 0.0
    for x, u in zip(d, unit, strict=True):
        y = x * u
        sq += y * y
    return math.sqrt(sq) * step


def _choose(d: list[float], unit: list[float], width: float, free: list[list[float]],
            tol: list[list[float]], nodes: list[int], hk: list[int] | None
            ) -> tuple[int, int, int]:
    """(the best aligned routing node where d fits, the best aligned of those that may host
    it (flag 1), the flag of the first): -1 where none."""
    best, best_score, kind = -1, 0.0, 1
    best_host, host_score = -1, 0.0
    for k, j in enumerate(nodes):
        fj = free[j]
        if not _fits(d, fj, tol[j]):
            continue
        dot = sq = 0.0
        for f, u, x in zip(fj, unit, d, strict=True):
            fr = f * u
            dot += fr * (x * u)
            sq += fr * fr
        norm = math.sqrt(sq)
        score = dot / norm if norm > 0.0 else 0.0
        if width > 0.0:
            q = score / width  # C's floor() keeps nan and +-inf (amounts near overflow)
            score = float(math.floor(q)) if math.isfinite(q) else q
        if best < 0 or score > best_score:
            best, best_score = j, score
            kind = 1 if hk is None else hk[k]
        if (hk is None or hk[k] == 1) and (best_host < 0 or score > host_score):
            best_host, host_score = j, score
    return best, best_host, kind


def _may_hold(d: list[float], hold: float, limit: list[list[float]] | None,
              held: list[list[float]] | None, j: int) -> bool:
    """Node j may hold ``hold`` times d more as phantoms (see market.c)."""
    if limit is None or held is None:
        return True
    return all(h + hold * x <= lim for h, x, lim in zip(held[j], d, limit[j], strict=True))


def _take_held(free: list[float], held: list[float] | None, d: list[float], hold: float
               ) -> None:
    for r, x in enumerate(d):
        free[r] -= hold * x
    if held is not None:
        for r, x in enumerate(d):
            held[r] += hold * x


def _step(d: list[float], unit: list[float], width: float, free: list[list[float]],
          tol: list[list[float]], nodes: list[int], hk: list[int] | None,
          hold: float = 1.0, limit: list[list[float]] | None = None,
          held: list[list[float]] | None = None) -> tuple[int, int]:
    """(phantom, host) of a bid's step, taken from ``free`` (see market.c's step_bid): the
    best aligned node holds ``hold`` times the demand as a phantom when it may not host it,
    its flag is 2 and it may hold that much more (``limit``; else phantom is -1)."""
    top, host, kind = _choose(d, unit, width, free, tol, nodes, hk)
    if top >= 0 and top != host and kind == 2 and _may_hold(d, hold, limit, held, top):
        _take_held(free[top], held[top] if held is not None else None, d, hold)
    else:
        top = -1
    if host >= 0:
        _take(free[host], d)
    return top, host


def _fits_after_all(d: list[float], free: list[float], tol: list[float], rest: list[float],
                    total: list[float]) -> bool:
    """d fits free + tol even after every later demand (rest) is taken: see market.c."""
    return all(x <= f - s + t - 1e-6 * (abs(f) + a + t + x)
               for x, f, t, s, a in zip(d, free, tol, rest, total, strict=True))


def _take(free: list[float], d: list[float]) -> None:
    for r, x in enumerate(d):
        free[r] -= x


def greedy(demand: np.ndarray, unit: np.ndarray, tol: np.ndarray, order: np.ndarray,
           indptr: np.ndarray, nodes: np.ndarray, free: np.ndarray, assign: np.ndarray,
           blocker: np.ndarray | None, keys: np.ndarray, stop: np.ndarray,
           step: float = 0.0, hosts: np.ndarray | None = None,
           phantom: np.ndarray | None = None, hold: float = 1.0,
           limit: np.ndarray | None = None) -> None:
    """``ek_market_greedy`` on numpy arrays (``free``, ``assign``, ``phantom``,
    ``blocker`` updated in place)."""
    dem = demand.tolist()
    u = unit.tolist()
    tl = tol.tolist()
    cap = free.tolist()
    allowed = [nodes[indptr[i]:indptr[i + 1]].tolist() for i in range(len(dem))]
    hk: list[list[int] | None] = (
        [None] * len(dem) if hosts is None
        else [hosts[indptr[i]:indptr[i + 1]].tolist() for i in range(len(dem))])
    width = [_width(row, u, step) for row in dem]
    order_l = order.tolist()
    state = [row[:] for row in cap]
    out = assign.tolist()
    ph = [-1] * len(dem) if phantom is None else phantom.tolist()
    lim = limit.tolist() if limit is not None else None

    def zeros() -> list[list[float]] | None:
        return [[0.0] * len(u) for _ in cap] if lim is not None else None

    held = zeros()
    for i in order_l:
        top, j = _step(dem[i], u, width[i], state, tl, allowed[i], hk[i], hold, lim, held)
        out[i] = j
        ph[i] = top
    if blocker is not None:
        blk = blocker.tolist()
        key_l = keys.tolist()
        stop_l = stop.tolist()
        before = [row[:] for row in cap]
        total = [0.0] * len(u)
        for i in order_l:
            for r, x in enumerate(dem[i]):
                total[r] += x
        rest = total[:]
        held_before = zeros()
        for p, b in enumerate(order_l):
            db = dem[b]
            _take(rest, db)  # the demand of the positions after p
            if out[b] < 0:
                if ph[b] >= 0:
                    _take_held(before[ph[b]],
                               held_before[ph[b]] if held_before is not None else None,
                               db, hold)
                continue
            hb = hk[b]
            live = {j for k, j in enumerate(allowed[b])
                    if (hb is None or hb[k] == 1) and _fits(db, before[j], tl[j])}
            hit = -1
            if any(_fits_after_all(db, before[j], tl[j], rest, total) for j in live):
                live = set()  # room for everything to come: no run can block b
            run = [row[:] for row in before] if live else before
            run_held = ([row[:] for row in held_before]
                        if live and held_before is not None else None)
            for q in range(p + 1, len(order_l)):
                if not live or key_l[q] <= stop_l[b]:
                    break
                i = order_l[q]
                for j in _step(dem[i], u, width[i], run, tl, allowed[i], hk[i], hold, lim,
                               run_held):
                    if j in live and not _fits(db, run[j], tl[j]):
                        live.discard(j)
                        if not live:
                            hit = q
            blk[b] = hit
            _take(before[out[b]], db)
            if ph[b] >= 0:
                _take_held(before[ph[b]],
                           held_before[ph[b]] if held_before is not None else None, db, hold)
        blocker[:] = blk
    assign[:] = out
    if phantom is not None:
        phantom[:] = ph
    free[:] = np.array(state, dtype=np.float64).reshape(free.shape)
