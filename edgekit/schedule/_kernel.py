"""Validation and dispatch for the placement kernels (C when loaded, else the numpy
reference in :mod:`edgekit.schedule._schedule_ref`).  Nothing here is public: the public
entry points are :func:`edgekit.schedule.place_batch` and the :class:`Scheduler`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit import _backend
from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.schedule import _schedule_ref
from edgekit.schedule.admission import Admission
from edgekit.schedule.policy import Policy

# A demand fits when d <= free + TOL_REL * capacity: absorbs the rounding of repeated
# float subtraction (0.1 + 0.1 + ... on a node of 1.0) without letting a real overcommit in.
TOL_REL = 1e-9


def as_amounts(x: object, name: str, *, ndim: int = 2) -> np.ndarray:
    """``x`` as a C-contiguous float64 array of ``ndim`` dimensions, finite and >= 0."""
    if not isinstance(x, np.ndarray):
        if isinstance(x, (list, tuple)):
            try:  # no dtype here: float64 would parse strings ("1.5") as numbers
                x = np.asarray(x)
            except (TypeError, ValueError) as err:  # ragged
                raise InputTypeError(f"{name} must hold numbers", name=name) from err
        else:
            raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}",
                                 name=name, expected="numpy.ndarray", got=type(x).__name__)
    if x.dtype.kind not in "iuf":
        raise InputTypeError(f"{name} must have an integer or float dtype, got {x.dtype}",
                             name=name, expected="int or float", got=str(x.dtype))
    if x.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-D, got shape {x.shape}", name=name,
                         expected=f"{ndim}-D", got=x.shape)
    a = np.ascontiguousarray(x, dtype=np.float64)
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise InputError(f"{name} must be finite; {name}[{', '.join(map(str, bad))}] is "
                         f"{a[tuple(bad)]}", name=name, expected="finite", got=a[tuple(bad)])
    if (a < 0).any():
        bad = np.argwhere(a < 0)[0]
        raise InputError(f"{name} must be >= 0; {name}[{', '.join(map(str, bad))}] is "
                         f"{a[tuple(bad)]}", name=name, expected=">= 0", got=a[tuple(bad)])
    return a


# The smallest non-zero capacity: the smallest normal double (2.2e-308; 1 / it is finite).
# The scores multiply by 1 / capacity: a subnormal one would turn them into inf or NaN.
MIN_CAPACITY = float(np.finfo(np.float64).tiny)


def check_capacity(cap: np.ndarray, name: str = "capacity") -> np.ndarray:
    """``cap`` (nodes, resources), already finite and >= 0, checked for the range the
    kernels compute in: every non-zero amount at least :data:`MIN_CAPACITY` and each
    resource's total over the nodes finite (the task values divide by it)."""
    tiny = (cap > 0) & (cap < MIN_CAPACITY)
    if tiny.any():
        bad = np.argwhere(tiny)[0]
        raise InputError(f"{name}[{', '.join(map(str, bad))}] is {cap[tuple(bad)]}: a non-zero "
                         f"capacity must be >= {MIN_CAPACITY:.4g} (a smaller one's reciprocal "
                         "overflows)",
                         name=name, expected=f">= {MIN_CAPACITY:.4g} or 0",
                         got=cap[tuple(bad)])
    with np.errstate(over="ignore"):
        total = cap.sum(axis=0)
    if not np.isfinite(total).all():
        r = int(np.flatnonzero(~np.isfinite(total))[0])
        raise InputError(f"the total {name} of resource {r} over all nodes overflows float64; "
                         "use larger units", name=name, expected="a finite total", got="inf")
    return cap


def as_seed(seed: object, name: str = "seed") -> int:
    """A user's seed (a Python or numpy int, not a bool) as an int in 0..2**64-1 (mod
    2**64: numpy's generators take no negative seed)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise OptionsError(f"{name} must be an int, got {seed!r}", name=name, got=seed)
    return int(seed) % (1 << 64)


def as_mask(mask: object, n_rows: int | None, n_nodes: int, name: str = "eligible"
            ) -> np.ndarray:
    """A (rows, nodes) boolean mask as C-contiguous uint8."""
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise InputTypeError(f"{name} must be a boolean numpy.ndarray", name=name)
    if mask.ndim != 2 or mask.shape[1] != n_nodes or (n_rows is not None
                                                       and mask.shape[0] != n_rows):
        raise InputError(f"{name} must have shape ({n_rows if n_rows is not None else 'k'}, "
                         f"{n_nodes}), got {mask.shape}", name=name, got=mask.shape)
    return np.ascontiguousarray(mask, dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A cluster and a policy, in the arrays the kernels take."""

    cap: np.ndarray  # (nodes, res) float64
    inv: np.ndarray  # 1 / cap, 0 where cap is 0
    tol: np.ndarray
    norm: np.ndarray  # (res,) largest capacity per resource
    weights: np.ndarray  # (SCORERS,)
    sx: np.ndarray
    sy: np.ndarray
    seed: int

    @classmethod
    def make(cls, cap: np.ndarray, policy: Policy) -> Prepared:
        sx, sy = policy.shape_arrays()
        norm = cap.max(axis=0) if cap.shape[0] else np.zeros(cap.shape[1])
        inv = np.divide(1.0, cap, out=np.zeros_like(cap), where=cap > 0)
        return cls(cap, inv, cap * TOL_REL, np.ascontiguousarray(norm),
                   policy.weight_vector(), sx, sy, policy.seed)


def _ptr(ffi, ctype: str, a: np.ndarray | None):
    return ffi.NULL if a is None else ffi.cast(ctype, a.ctypes.data)


def select(p: Prepared, free: np.ndarray, demand: np.ndarray, key: int,
           mask: np.ndarray | None = None, *, use_native: bool | None = None
           ) -> tuple[int, int]:
    """(node or -1, number of feasible nodes) for one validated demand row."""
    lib = _backend.lib if use_native is None or use_native else None
    if use_native and lib is None:
        raise RuntimeError("native kernels not loaded")
    key &= (1 << 64) - 1
    if lib is None:
        m = None if mask is None else mask.astype(bool)
        return _schedule_ref.select(free, p.cap, p.inv, p.tol, demand, p.norm, p.weights,
                                    p.sx, p.sy, p.seed, key, m)
    ffi = _backend.ffi
    best = ffi.new("int64_t *")
    count = ffi.new("int64_t *")
    n, r = p.cap.shape
    status = lib.ek_sched_select(
        _ptr(ffi, "double *", free), _ptr(ffi, "double *", p.cap), _ptr(ffi, "double *", p.inv),
        _ptr(ffi, "double *", p.tol), n, r, _ptr(ffi, "double *", demand),
        _ptr(ffi, "double *", p.norm),
        _ptr(ffi, "double *", p.weights), _ptr(ffi, "double *", p.sx),
        _ptr(ffi, "double *", p.sy), p.sx.size, p.seed, key,
        _ptr(ffi, "uint8_t *", mask), best, count)
    if status != 0:
        raise RuntimeError(f"ek_sched_select returned status {status}")
    return int(best[0]), int(count[0])


def greedy(p: Prepared, demands: np.ndarray, order: np.ndarray, free: np.ndarray,
           mask: np.ndarray | None = None, classes: np.ndarray | None = None,
           out: np.ndarray | None = None, *, use_native: bool | None = None) -> np.ndarray:
    """Place ``demands[order[i]]`` in turn (``free`` updated in place).  Returns the (tasks,)
    int64 node per task; tasks not in ``order`` keep ``out``'s value (-1 for a new out)."""
    lib = _backend.lib if use_native is None or use_native else None
    if use_native and lib is None:
        raise RuntimeError("native kernels not loaded")
    if out is None:
        out = np.full(demands.shape[0], -1, dtype=np.int64)
    order = np.ascontiguousarray(order, dtype=np.int64)
    if lib is None:
        m = None if mask is None else mask.astype(bool)
        _schedule_ref.greedy(demands, order, p.cap, p.inv, free, p.tol, p.norm, p.weights,
                             p.sx, p.sy, p.seed, m, classes, out)
        return out
    ffi = _backend.ffi
    n, r = p.cap.shape
    if classes is not None:
        classes = np.ascontiguousarray(classes, dtype=np.int64)
    status = lib.ek_sched_greedy(
        _ptr(ffi, "double *", demands), demands.shape[0], _ptr(ffi, "int64_t *", order),
        order.size, _ptr(ffi, "double *", p.cap), _ptr(ffi, "double *", p.inv),
        _ptr(ffi, "double *", free),
        _ptr(ffi, "double *", p.tol), n, r, _ptr(ffi, "double *", p.norm),
        _ptr(ffi, "double *", p.weights), _ptr(ffi, "double *", p.sx),
        _ptr(ffi, "double *", p.sy), p.sx.size, p.seed, _ptr(ffi, "uint8_t *", mask),
        _ptr(ffi, "int64_t *", classes), 0 if mask is None else mask.shape[0],
        _ptr(ffi, "int64_t *", out))
    if status != 0:
        raise RuntimeError(f"ek_sched_greedy returned status {status}")
    return out


def futures(p: Prepared, pool: np.ndarray, values: np.ndarray, idx: np.ndarray,
            lens: np.ndarray, cands: np.ndarray, demand: np.ndarray, free: np.ndarray, *,
            use_native: bool | None = None) -> np.ndarray:
    """(candidates, futures) value each sampled future places after ``demand`` goes to
    each candidate node (``ek_sched_futures``; the futures are completed by least balanced
    variance, whatever ``p``'s policy).  ``idx`` (futures, max_len) int64 rows of ``pool``,
    ``lens`` (futures,) how many of each row count; ``free`` is not modified."""
    lib = _backend.lib if use_native is None or use_native else None
    if use_native and lib is None:
        raise RuntimeError("native kernels not loaded")
    pool = np.ascontiguousarray(pool, dtype=np.float64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    lens = np.ascontiguousarray(lens, dtype=np.int64)
    cands = np.ascontiguousarray(cands, dtype=np.int64)
    demand = np.ascontiguousarray(demand, dtype=np.float64)
    free = np.ascontiguousarray(free, dtype=np.float64)
    n, r = p.cap.shape
    if r == 0 or pool.ndim != 2 or pool.shape[1] != r or values.shape != (pool.shape[0],) \
            or idx.ndim != 2 or lens.shape != (idx.shape[0],) or cands.ndim != 1 \
            or demand.shape != (r,) or free.shape != (n, r):  # the kernel would read past them
        raise InputError("futures: inconsistent shapes (pool, values, idx, lens, cands, demand, "
                         f"free): {pool.shape}, {values.shape}, {idx.shape}, {lens.shape}, "
                         f"{cands.shape}, {demand.shape}, {free.shape} on {n} nodes x {r} "
                         "resources", name="futures")
    if lib is None:
        return _schedule_ref.futures(pool, values, idx, lens, cands, demand, p.cap, p.inv,
                                     free, p.tol)
    ffi = _backend.ffi
    out = np.empty((cands.size, idx.shape[0]))
    work = np.empty((n, r))
    status = lib.ek_sched_futures(
        _ptr(ffi, "double *", pool), _ptr(ffi, "double *", values), pool.shape[0],
        _ptr(ffi, "int64_t *", idx), _ptr(ffi, "int64_t *", lens), idx.shape[0],
        idx.shape[1], _ptr(ffi, "int64_t *", cands), cands.size,
        _ptr(ffi, "double *", demand), _ptr(ffi, "double *", p.cap),
        _ptr(ffi, "double *", p.inv), _ptr(ffi, "double *", free),
        _ptr(ffi, "double *", p.tol), n, r, _ptr(ffi, "double *", work),
        _ptr(ffi, "double *", out))
    if status != 0:
        raise RuntimeError(f"ek_sched_futures returned status {status}")
    return out


def admit_state(cap: np.ndarray, adm: Admission) -> _schedule_ref.AdmitState:
    """A fresh learned state for :class:`~edgekit.schedule.admission.Admission` ``adm`` on
    a cluster of capacity ``cap`` (nodes, resources)."""
    total = cap.sum(axis=0)
    icl = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    return _schedule_ref.AdmitState(np.ascontiguousarray(icl), adm.strand_weight,
                                    adm.fill_threshold, adm.quantile, adm.warmup, adm.reroute,
                                    adm.arm_load)


def greedy_admit(p: Prepared, demands: np.ndarray, values: np.ndarray, free: np.ndarray,
                 state: _schedule_ref.AdmitState, mask: np.ndarray | None = None,
                 classes: np.ndarray | None = None, *, use_native: bool | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Online placement in arrival order with admission control (``free`` and ``state``
    updated in place).  Returns (node per task, -1 = not placed; declined per task, 0 =
    not declined, else 1 + the resource it would have stranded)."""
    lib = _backend.lib if use_native is None or use_native else None
    if use_native and lib is None:
        raise RuntimeError("native kernels not loaded")
    n_t = demands.shape[0]
    out = np.full(n_t, -1, dtype=np.int64)
    declined = np.zeros(n_t, dtype=np.int64)
    if lib is None:
        m = None if mask is None else mask.astype(bool)
        _schedule_ref.greedy_admit(demands, values, p.cap, p.inv, free, p.tol, p.norm,
                                   p.weights, p.sx, p.sy, p.seed, m, classes, state, out,
                                   declined)
        return out, declined
    ffi = _backend.ffi
    n, r = p.cap.shape
    if classes is not None:
        classes = np.ascontiguousarray(classes, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    edges = _schedule_ref.ADMIT_EDGES
    khi = np.zeros(r * r)
    has = np.zeros(r * r, dtype=np.uint8)
    grow = np.zeros(r)
    offered = np.array([state.offered], dtype=np.float64)
    status = lib.ek_sched_online_admit(
        _ptr(ffi, "double *", demands), _ptr(ffi, "double *", values), n_t,
        _ptr(ffi, "double *", p.cap), _ptr(ffi, "double *", p.inv),
        _ptr(ffi, "double *", free), _ptr(ffi, "double *", p.tol), n, r,
        _ptr(ffi, "double *", p.norm), _ptr(ffi, "double *", p.weights),
        _ptr(ffi, "double *", p.sx), _ptr(ffi, "double *", p.sy), p.sx.size, p.seed,
        _ptr(ffi, "uint8_t *", mask), _ptr(ffi, "int64_t *", classes),
        0 if mask is None else mask.shape[0], _ptr(ffi, "double *", state.icl),
        _ptr(ffi, "double *", edges), edges.size, _ptr(ffi, "int64_t *", state.hist),
        _ptr(ffi, "int64_t *", state.count), _ptr(ffi, "double *", khi),
        _ptr(ffi, "uint8_t *", has), _ptr(ffi, "double *", grow), state.seen,
        state.weight, state.fill, state.quantile, state.warmup, int(state.reroute),
        state.arm_load, _ptr(ffi, "double *", offered), _ptr(ffi, "int64_t *", out),
        _ptr(ffi, "int64_t *", declined))
    if status != 0:
        raise RuntimeError(f"ek_sched_online_admit returned status {status}")
    state.seen += n_t
    state.offered = float(offered[0])
    return out, declined
