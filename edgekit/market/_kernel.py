"""The market's C kernel (``_native/market.c``) or its Python reference, by backend."""

from __future__ import annotations

import numpy as np

from edgekit import _backend
from edgekit.market import _greedy_ref


def greedy(demand: np.ndarray, unit: np.ndarray, tol: np.ndarray, order: np.ndarray,
           indptr: np.ndarray, nodes: np.ndarray, capacity: np.ndarray, keys: np.ndarray,
           stop: np.ndarray, *, critical: bool = True, step: float = 0.0,
           hosts: np.ndarray | None = None, hold: float = 1.0,
           limit: np.ndarray | None = None, use_native: bool | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(assign, blocker, free, phantom) of ``ek_market_greedy`` (contract in
    ``_native/market.h``): bids ``order`` routed in turn over their nodes (CSR
    ``indptr``/``nodes``), each to the best aligned node where it fits, which holds its
    room; when that node may not host it (``hosts``, one flag per CSR entry; None: all may),
    it holds the room as a phantom (``phantom[b]``, else -1) and the best aligned host where
    it fits takes it too; ``blocker[b]`` the position in ``order`` that
    sets a placed bid's critical value (-1: none, or none at a key above ``stop[b]``;
    ``keys`` (len(order),) the order's keys; only with ``critical``), ``free`` what is left
    of ``capacity``.  ``step`` > 0 bins the alignment (the cosine on a grid of ``step``,
    ties to the lowest node index).  A phantom holds ``hold`` (in (0, 1]) times the bid's
    demand, and only while what its node holds as phantoms stays within ``limit`` (nodes x
    resources; None: no limit)."""
    lib = _backend.lib if use_native is None or use_native else None
    if use_native and lib is None:
        raise RuntimeError("native kernels not loaded")
    n_b, n_r = demand.shape
    n_n = capacity.shape[0]
    demand = np.ascontiguousarray(demand, dtype=np.float64)
    unit = np.ascontiguousarray(unit, dtype=np.float64)
    tol = np.ascontiguousarray(tol, dtype=np.float64)
    order = np.ascontiguousarray(order, dtype=np.int64)
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    nodes = np.ascontiguousarray(nodes, dtype=np.int64)
    keys = np.ascontiguousarray(keys, dtype=np.float64)
    stop = np.ascontiguousarray(stop, dtype=np.float64)
    if hosts is not None:
        hosts = np.ascontiguousarray(hosts, dtype=np.uint8)
        if hosts.shape != nodes.shape:
            raise ValueError("market greedy: hosts must have one flag per node entry")
    phantom = np.full(n_b, -1, dtype=np.int64)
    free = np.array(capacity, dtype=np.float64, order="C")
    assign = np.full(n_b, -1, dtype=np.int64)
    blocker = np.full(n_b, -1, dtype=np.int64)
    if (unit.shape != (n_r,) or tol.shape != (n_n, n_r) or indptr.shape != (n_b + 1,)
            or free.shape != (n_n, n_r) or order.ndim != 1 or nodes.ndim != 1
            or keys.shape != order.shape or stop.shape != (n_b,) or n_r == 0):
        raise ValueError("market greedy: inconsistent shapes")
    # what the C kernel indexes without bounds: the CSR pointers (into nodes) and the
    # indices it checks only through them
    if (indptr[0] != 0 or indptr[-1] != nodes.size or (np.diff(indptr) < 0).any()
            or (nodes.size and (nodes.min() < 0 or nodes.max() >= n_n))
            or (order.size and (order.min() < 0 or order.max() >= n_b))):
        raise ValueError("market greedy: an index out of range")
    step = float(step)
    if not (step >= 0.0 and np.isfinite(step)):
        raise ValueError("market greedy: step must be finite and >= 0")
    hold = float(hold)
    if not 0.0 < hold <= 1.0:
        raise ValueError("market greedy: hold must be in (0, 1]")
    if limit is not None:
        limit = np.ascontiguousarray(limit, dtype=np.float64)
        if limit.shape != (n_n, n_r):
            raise ValueError("market greedy: limit must be (nodes, resources)")
    if order.size == 0:
        return assign, blocker, free, phantom
    if lib is None:
        _greedy_ref.greedy(demand, unit, tol, order, indptr, nodes, free, assign,
                           blocker if critical else None, keys, stop, step, hosts, phantom,
                           hold, limit)
        return assign, blocker, free, phantom
    ffi = _backend.ffi
    work = np.empty((n_n, n_r))
    flag = np.zeros(n_n, dtype=np.uint8)
    held = np.empty((3, n_n, n_r)) if limit is not None else None

    def ptr(ctype: str, a: np.ndarray):
        return ffi.cast(ctype, a.ctypes.data)

    status = lib.ek_market_greedy(
        ptr("double *", demand), n_b, n_r, ptr("double *", unit), step, ptr("double *", tol),
        n_n,
        ptr("int64_t *", order), order.size, ptr("int64_t *", indptr), ptr("int64_t *", nodes),
        ptr("uint8_t *", hosts) if hosts is not None else ffi.NULL, hold,
        ptr("double *", limit) if limit is not None else ffi.NULL,
        ptr("double *", held) if limit is not None else ffi.NULL, ptr("double *", free),
        ptr("int64_t *", assign), ptr("int64_t *", phantom),
        ptr("int64_t *", blocker) if critical else ffi.NULL, ptr("double *", keys),
        ptr("double *", stop), ptr("double *", work),
        ptr("uint8_t *", flag), ptr("double *", np.empty(2 * n_r)))
    if status != 0:
        raise RuntimeError(f"ek_market_greedy returned status {status}")
    return assign, blocker, free, phantom
