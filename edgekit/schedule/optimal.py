"""The yardstick: the best placement, by mixed-integer programming (needs the ``schedule``
extra: scipy's ``milp`` with HiGHS).

The model: binary ``x[t, n]`` (task t on node n); each task on at most one node; on each
node and resource the placed demand is at most the capacity; ineligible pairs are fixed to
0; maximize ``sum value[t] * x[t, n]`` (by default the task values of
:func:`edgekit.schedule.workloads.task_values`, so the objective is the utilization).
Meant for small instances (tens of nodes, hundreds of tasks); a time limit bounds it and the
result says how far from proven the answer is.
"""

from __future__ import annotations

import contextlib
import ctypes
import numbers
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from edgekit.errors import InputError, OptionsError, RuntimeUnavailableError
from edgekit.schedule._kernel import as_amounts, as_mask, check_capacity
from edgekit.schedule.workloads import task_values

__all__ = ["OptimalResult", "optimal_placement"]


@dataclass(frozen=True, slots=True)
class OptimalResult:
    """Result of :func:`optimal_placement`.

    Attributes:
        assignment: (tasks,) int64 node per task, -1 = not placed (the best placement found).
        objective: its objective (the utilization with the default values).
        bound: the solver's proven upper bound on the objective (== objective when proven
            optimal).
        gap: ``(bound - objective) / bound`` (0 when proven optimal, 0 when bound is 0).
        optimal: True when the solver proved optimality (within ``mip_rel_gap``).
        status: the solver's message.
        seconds: wall time of the solve.
    """

    assignment: np.ndarray
    objective: float
    bound: float
    gap: float
    optimal: bool
    status: str
    seconds: float


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to flush (not Linux/macOS)
        pass


@contextlib.contextmanager
def _quiet_solver():
    """Point file descriptors 1 and 2 at /dev/null while HiGHS runs (it writes solver chatter
    there from C++), flushing C stdio before both switches so nothing leaks out later."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = (os.dup(1), os.dup(2))
    except OSError:  # no such descriptors (embedded interpreter): nothing to silence
        yield
        return
    try:
        _flush_c_stdio()
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
        yield
    finally:
        _flush_c_stdio()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _scipy():
    try:
        from scipy import sparse
        from scipy.optimize import Bounds, LinearConstraint, milp
    except ImportError as err:
        raise RuntimeUnavailableError(
            "optimal_placement needs scipy: pip install 'edgekit[schedule]'",
            feature="schedule.optimal_placement", extra="schedule") from err
    return sparse, Bounds, LinearConstraint, milp


def _symmetry_rows(capacity: np.ndarray, fits: np.ndarray, vals: np.ndarray, sparse):
    """Rows ``value(node i) - value(node k) >= 0`` for consecutive identical nodes i < k."""
    n_t, n_n = fits.shape
    groups: dict[bytes, list[int]] = {}
    for j in range(n_n):
        key = capacity[j].tobytes() + np.packbits(fits[:, j]).tobytes()
        groups.setdefault(key, []).append(j)
    pairs = [(g[i], g[i + 1]) for g in groups.values() for i in range(len(g) - 1)]
    if not pairs:
        return None
    rows, cols, data = [], [], []
    t_idx = np.arange(n_t) * n_n
    for p, (i, k) in enumerate(pairs):
        rows += [p] * (2 * n_t)
        cols += (t_idx + i).tolist() + (t_idx + k).tolist()
        data += vals.tolist() + (-vals).tolist()
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(pairs), n_t * n_n))


def optimal_placement(demands: np.ndarray, capacity: np.ndarray, *,
                      eligible: np.ndarray | None = None, values: np.ndarray | None = None,
                      time_limit_s: float = 10.0, mip_rel_gap: float = 1e-6,
                      symmetry_breaking: bool = True) -> OptimalResult:
    """The placement of ``demands`` (tasks, resources) on ``capacity`` (nodes, resources)
    that maximizes the total value of the placed tasks.

    Args:
        eligible: optional (tasks, nodes) bool: where each task may go.
        values: optional (tasks,) non-negative values; default: the task values (share of the
            cluster), so the objective is the utilization.
        time_limit_s: wall-clock limit of the call in seconds (> 0), building the model
            included; HiGHS checks it between steps, so on instances of millions of
            (task, node) pairs its presolve alone can overrun it (several seconds at
            12,000 tasks x 300 nodes).
        mip_rel_gap: relative gap at which the solver stops and calls the answer optimal.
        symmetry_breaking: for each run of identical nodes (same capacity and, with
            ``eligible``, the same eligible tasks), require the placed value on each to be
            at least that on the next: any placement can be permuted to satisfy it, so the
            optimum is unchanged, and the solver stops exploring the permutations of one
            placement (clusters of many same-size boards).

    Raises:
        RuntimeUnavailableError: scipy is not installed (extra ``schedule``).
        InputError / InputTypeError: bad arrays; OptionsError: bad limits.
    """
    sparse, Bounds, LinearConstraint, milp = _scipy()
    demands = as_amounts(demands, "demands")
    capacity = check_capacity(as_amounts(capacity, "capacity"))
    n_t, n_r = demands.shape
    n_n = capacity.shape[0]
    if capacity.shape[1] != n_r:
        raise InputError("demands and capacity must have the same number of resources",
                         name="demands", expected=n_r, got=capacity.shape[1])
    if n_r == 0:
        raise InputError("at least one resource is needed", name="demands", got=demands.shape)
    if isinstance(time_limit_s, bool) or not isinstance(time_limit_s, numbers.Real) \
            or not time_limit_s > 0:
        raise OptionsError("time_limit_s must be > 0", name="time_limit_s", got=time_limit_s)
    if isinstance(mip_rel_gap, bool) or not isinstance(mip_rel_gap, numbers.Real) \
            or not 0 <= mip_rel_gap < 1:
        raise OptionsError("mip_rel_gap must be in [0, 1)", name="mip_rel_gap")
    if not isinstance(symmetry_breaking, bool):
        raise OptionsError("symmetry_breaking must be a bool", name="symmetry_breaking",
                           got=symmetry_breaking)
    vals = task_values(demands, capacity) if values is None else as_amounts(
        values, "values", ndim=1)
    if vals.shape != (n_t,):
        raise InputError(f"values must have shape ({n_t},)", name="values", got=vals.shape)
    t0 = time.perf_counter()
    empty = np.full(n_t, -1, dtype=np.int64)
    if n_t == 0 or n_n == 0:
        return OptimalResult(empty, 0.0, 0.0, 0.0, True, "empty", 0.0)
    # variable index: t * n_n + n
    fits = np.all(demands[:, None, :] <= capacity[None, :, :], axis=2)
    if eligible is not None:
        fits &= as_mask(eligible, n_t, n_n).astype(bool)
    ub = fits.ravel().astype(np.float64)
    c = -np.repeat(vals, n_n)
    rows_t = sparse.kron(sparse.eye(n_t), np.ones((1, n_n)), format="csr")
    blocks = []
    for r in range(n_r):
        blocks.append(sparse.kron(demands[:, r][None, :], sparse.eye(n_n), format="csr"))
    a_cap = sparse.vstack(blocks, format="csr")
    constraints = [
        LinearConstraint(rows_t, -np.inf, np.ones(n_t)),
        LinearConstraint(a_cap, -np.inf, capacity.T.ravel()),
    ]
    if symmetry_breaking:
        sym = _symmetry_rows(capacity, fits, vals, sparse)
        if sym is not None:
            constraints.append(LinearConstraint(sym, 0.0, np.inf))
    # the limit covers the whole call: what building the model took is not the solver's
    left = max(float(time_limit_s) - (time.perf_counter() - t0), 1e-3)
    with _quiet_solver():
        res = milp(c, integrality=np.ones(c.size), bounds=Bounds(np.zeros(c.size), ub),
                   constraints=constraints,
                   options={"time_limit": left,
                            "mip_rel_gap": float(mip_rel_gap), "disp": False})
    seconds = time.perf_counter() - t0
    if res.x is None:  # nothing found in time: the bound is the trivial one (all placed)
        bound = float(vals.sum())
        return OptimalResult(empty, 0.0, bound, 1.0 if bound > 0 else 0.0, False, res.message,
                             seconds)
    x = np.rint(res.x).reshape(n_t, n_n) > 0.5
    assignment = np.where(x.any(axis=1), x.argmax(axis=1), -1).astype(np.int64)
    # check the solution against the capacities exactly (the solver works with tolerances)
    used = np.zeros_like(capacity)
    np.add.at(used, assignment[assignment >= 0], demands[assignment >= 0])
    if (used > capacity * (1 + 1e-9)).any():  # pragma: no cover - solver tolerance
        raise RuntimeError("MILP solution exceeds a capacity beyond tolerance")
    objective = float(vals[assignment >= 0].sum())
    bound = getattr(res, "mip_dual_bound", None)
    bound = objective if bound is None or not np.isfinite(bound) else max(-float(bound),
                                                                          objective) + 0.0
    gap = (bound - objective) / bound if bound > 0 else 0.0
    return OptimalResult(assignment, objective, bound, gap, res.status == 0, res.message,
                         seconds)
