"""The array-level entry point: :func:`place_batch`.

``demands`` is (tasks, resources), ``capacity`` (nodes, resources), both float or int,
finite and >= 0, in the user's units (the same for both).  The result is an int64 array of
node indices, -1 for a task that was not placed: a task no node can hold is a result, not an
error.

* ``mode="online"``: tasks are placed in the given order, each on the best feasible node
  under ``policy`` at that moment, with no lookahead and no second thoughts (what a scheduler
  does when tasks arrive one by one).
* ``mode="batch"``: the set is known at once.  Greedy passes in several orders (decreasing
  value, decreasing dominant share, arrival) under ``policy``; then a start from the LP
  relaxation of the placement problem (scipy's HiGHS ``linprog``, when scipy is installed
  and the instance has at most ``LP_MAX_PAIRS`` feasible (task, node) pairs): integral
  tasks keep their LP node, fractional ones are rounded, the rest placed greedily.  On
  clusters of repeated node types and more than ``_TYPE_LP_MIN_PAIRS`` pairs the LP is
  solved with alike nodes merged (same optimum, tasks x types variables) and rounded onto
  the nodes of each type (:func:`_type_lp_start`).  Without
  scipy (or when the LP does not finish in time) the start comes from Lagrangian prices
  instead (a price per node and resource, raised where tasks over-ask; pure numpy, at most
  400 rounds, 60% of the remaining budget).  The best of these is improved by exchange
  moves (relocate-and-insert, swap a placed task for an unplaced larger one) and
  ruin-and-recreate local search: empty a few random nodes, re-place their tasks and the
  unplaced ones in decreasing value (slightly perturbed), keep the result when the total
  value does not drop.  The search stops after ``iterations`` rounds or ``time_budget_s``
  (scipy's import, a one-time cost per process, is not counted); with a budget large enough
  for every round to finish the result depends on ``seed`` only.
* ``fairness="drf"`` (either mode, needs ``tenants``): Dominant Resource Fairness between
  tenants: the next task comes from the tenant whose placed dominant share is lowest (ties
  to the lower tenant id), in arrival order within a tenant.

The value of a task is its share of the cluster averaged over resources
(:func:`edgekit.schedule.workloads.task_values`), so maximizing total value maximizes
utilization.
"""

from __future__ import annotations

import heapq
import numbers
import time

import numpy as np

from edgekit import _telemetry
from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.schedule import _kernel, _sampled, _schedule_ref
from edgekit.schedule.admission import Admission, SampledAdmission, get_admission
from edgekit.schedule.plan import Plan, PlanState
from edgekit.schedule.policy import Policy, get_policy

__all__ = ["place_batch"]

MODES = ("online", "batch")


def _validate(demands: object, capacity: object, eligible: object, task_class: object
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    d = _kernel.as_amounts(demands, "demands")
    c = _kernel.check_capacity(_kernel.as_amounts(capacity, "capacity"))
    if d.shape[1] != c.shape[1]:
        raise InputError(
            f"demands has {d.shape[1]} resources per task but capacity has {c.shape[1]} per "
            "node", name="demands", expected=c.shape[1], got=d.shape[1])
    if d.shape[1] == 0:
        raise InputError("at least one resource is needed", name="demands", got=d.shape)
    classes = None
    mask = None
    if eligible is not None:
        if task_class is not None:
            classes = _as_index(task_class, "task_class", d.shape[0])
            mask = _kernel.as_mask(eligible, None, c.shape[0])
            if classes.size and classes.max() >= mask.shape[0]:
                raise InputError("task_class refers to a row eligible does not have",
                                 name="task_class", expected=f"< {mask.shape[0]}",
                                 got=int(classes.max()))
        else:
            mask = _kernel.as_mask(eligible, d.shape[0], c.shape[0])
    elif task_class is not None:
        raise OptionsError("task_class needs eligible", name="task_class")
    return d, c, mask, classes


def _as_index(x: object, name: str, n: int) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iu":
        raise InputTypeError(f"{name} must be an integer numpy.ndarray", name=name)
    if x.shape != (n,):
        raise InputError(f"{name} must have shape ({n},), got {x.shape}", name=name,
                         expected=(n,), got=x.shape)
    if x.size and x.min() < 0:
        raise InputError(f"{name} must be >= 0", name=name)
    if x.size and int(x.max()) > np.iinfo(np.int64).max:  # uint64 would wrap to negative
        raise InputError(f"{name} must be < 2**63", name=name, got=int(x.max()))
    return np.ascontiguousarray(x, dtype=np.int64)


def place_batch(demands: np.ndarray, capacity: np.ndarray, *, policy: str | Policy = "default",
                mode: str = "online", eligible: np.ndarray | None = None,
                task_class: np.ndarray | None = None, tenants: np.ndarray | None = None,
                fairness: str | None = None, iterations: int = 2000,
                time_budget_s: float = 1.0, seed: int = 0,
                admission: str | Admission | SampledAdmission | None = None) -> np.ndarray:
    """Place tasks on nodes; returns (tasks,) int64 node indices, -1 = not placed.

    Args:
        demands: (tasks, resources) amounts requested, finite, >= 0.
        capacity: (nodes, resources) amounts available, finite, >= 0, same units.
        policy: a name of :data:`~edgekit.schedule.policy.POLICIES` or a
            :class:`~edgekit.schedule.policy.Policy`.
        mode: ``"online"`` (given order, no lookahead) or ``"batch"`` (reorder, start from
            the LP relaxation when scipy is installed or Lagrangian prices otherwise, and
            repair by local search; see the module docstring).
        eligible: optional bool mask of where tasks may go: (tasks, nodes), or (classes,
            nodes) with ``task_class`` (tasks,) giving each task's row.
        tenants: (tasks,) int tenant ids, for ``fairness="drf"``.
        fairness: ``None`` or ``"drf"``.
        iterations, time_budget_s: limits of the batch search (ruin-and-recreate rounds;
            seconds for the LP or Lagrangian start and the search together, scipy's one-time
            import not counted).
        seed: seed of the batch search's randomness, and of the sampled futures of
            ``admission="sample"`` (the result is reproducible).
        admission: online mode only: ``None`` (default: every task that fits is placed),
            ``"strand"`` or an :class:`~edgekit.schedule.admission.Admission`: a task that
            fits may be moved or declined (-1) when placing it would strand capacity (see
            :mod:`edgekit.schedule.admission`); ``"sample"`` or a
            :class:`~edgekit.schedule.admission.SampledAdmission`: the node is chosen by
            sampled futures of the tasks seen so far, then the strand test applies (see
            :mod:`edgekit.schedule._sampled`; ~2-4 ms per judged task).

    Raises:
        InputError: negative, NaN or infinite amounts, mismatched shapes.
        InputTypeError: not arrays of numbers.  OptionsError: bad mode/policy/limits.
    """
    t0 = time.perf_counter()
    pol = get_policy(policy)
    if mode not in MODES:
        raise OptionsError(f"mode must be one of {MODES}, got {mode!r}", name="mode", got=mode)
    if fairness not in (None, "drf"):
        raise OptionsError("fairness must be None or 'drf'", name="fairness", got=fairness)
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) \
            or iterations < 0:
        raise OptionsError("iterations must be an int >= 0", name="iterations")
    iterations = int(iterations)
    if isinstance(time_budget_s, bool) or not isinstance(time_budget_s, numbers.Real) \
            or not time_budget_s >= 0:
        raise OptionsError("time_budget_s must be a number >= 0", name="time_budget_s",
                           got=time_budget_s)
    time_budget_s = float(time_budget_s)
    seed = _kernel.as_seed(seed)
    adm = get_admission(admission, allow_sample=True)
    if adm is not None and (mode != "online" or fairness is not None):
        raise OptionsError("admission applies to mode='online' without fairness",
                           name="admission", got=admission)
    d, c, mask, classes = _validate(demands, capacity, eligible, task_class)
    ten = None
    if fairness == "drf":
        if tenants is None:
            raise OptionsError("fairness='drf' needs tenants", name="tenants")
        ten = _as_index(tenants, "tenants", d.shape[0])
    elif tenants is not None:  # they would be ignored: say so rather than place unfairly
        raise OptionsError("tenants is only used with fairness='drf'", name="tenants")
    if isinstance(adm, SampledAdmission):
        out = _sampled.sampled_online(_kernel.Prepared.make(c, pol), d, _values(d, c), mask,
                                      classes, adm, seed, pol.plan)
    elif pol.plan is not None and mode == "online" and fairness is None:
        out = planned_online(_kernel.Prepared.make(c, pol), d, _values(d, c), mask, classes,
                             pol.plan, adm)
    elif adm is not None:
        out, _ = _kernel.greedy_admit(_kernel.Prepared.make(c, pol), d, _values(d, c),
                                      c.copy(), _kernel.admit_state(c, adm), mask, classes)
    else:
        out = assign(d, c, pol, mode, mask=mask, classes=classes, tenants=ten,
                     iterations=iterations, time_budget_s=time_budget_s, seed=seed)
    placed = int((out >= 0).sum())
    _telemetry.emit("schedule.place", policy=pol.name, mode=mode, placed=placed,
                    rejected=int(out.size - placed), seconds=time.perf_counter() - t0)
    return out


def assign(d: np.ndarray, c: np.ndarray, pol: Policy, mode: str, *,
           mask: np.ndarray | None = None, classes: np.ndarray | None = None,
           tenants: np.ndarray | None = None, iterations: int = 2000,
           time_budget_s: float = 1.0, seed: int = 0) -> np.ndarray:
    """:func:`place_batch` on arrays it has already validated (``mask`` as uint8), without
    telemetry: for callers that report the operation themselves."""
    prep = _kernel.Prepared.make(c, pol)
    values = _values(d, c)
    if tenants is not None:
        return _drf(prep, d, c, mask, classes, tenants, values, mode)
    if mode == "online":
        if pol.plan is not None:
            return planned_online(prep, d, values, mask, classes, pol.plan, None)
        return _kernel.greedy(prep, d, np.arange(d.shape[0]), c.copy(), mask, classes)
    return _batch(prep, d, c, mask, classes, values, iterations, time_budget_s, seed)


def planned_online(prep: _kernel.Prepared, d: np.ndarray, values: np.ndarray,
                   mask: np.ndarray | None, classes: np.ndarray | None, plan: Plan,
                   adm: Admission | None) -> np.ndarray:
    """Online placement in arrival order with a :class:`~edgekit.schedule.plan.Plan`
    (validated inputs; ``mask`` uint8 (tasks or classes, nodes)); ``adm``: the strand test
    of :class:`~edgekit.schedule.admission.Admission` judges the plan's node."""
    cap = prep.cap
    free = cap.copy()
    n_t = d.shape[0]
    out = np.full(n_t, -1, dtype=np.int64)
    st = PlanState(cap, plan)
    judge = None if adm is None else _kernel.admit_state(cap, adm)
    for t in range(n_t):
        dt = d[t]
        k = st.observe(dt, free)
        if judge is not None:
            judge.observe(dt)
        ok = _schedule_ref.feasible(free, prep.tol, dt)
        if mask is not None:
            ok &= mask[t if classes is None else classes[t]].astype(bool)
        if not ok.any():
            continue
        pref = st.route(k, ok, free)
        j, _ = _kernel.select(prep, free, dt, t, (ok if pref is None else pref).view(np.uint8))
        if judge is not None:
            j, _ = judge.decide(free, cap, prep.inv, prep.tol, dt, float(values[t]), j, ok)
            if j < 0:
                continue
        st.commit(k, j, dt)
        out[t] = j
        free[j] = free[j] - dt
    return out


def _values(d: np.ndarray, c: np.ndarray) -> np.ndarray:
    total = c.sum(axis=0)
    share = np.divide(d, total, out=np.zeros_like(d), where=total > 0)
    return share.mean(axis=1)


def _free_after(c: np.ndarray, d: np.ndarray, assign: np.ndarray) -> np.ndarray:
    free = c.copy()
    placed = assign >= 0
    np.subtract.at(free, assign[placed], d[placed])
    return free


def _batch(prep: _kernel.Prepared, d: np.ndarray, c: np.ndarray, mask, classes,
           values: np.ndarray, iterations: int, budget: float, seed: int) -> np.ndarray:
    lp_tools = _scipy_lp()  # imported before the clock starts: a one-time cost per process
    deadline = time.perf_counter() + budget
    n_t = d.shape[0]
    total = c.sum(axis=0)
    dominant = np.divide(d, total, out=np.zeros_like(d), where=total > 0).max(axis=1)
    orders = [np.argsort(-values, kind="stable"), np.argsort(-dominant, kind="stable"),
              np.arange(n_t)]
    best, best_v = None, -1.0
    for order in orders:
        a = _kernel.greedy(prep, d, order, c.copy(), mask, classes)
        v = float(values[a >= 0].sum())
        if v > best_v:
            best, best_v = a, v
    assert best is not None
    if n_t == 0 or c.shape[0] == 0:
        return best
    start = None if lp_tools is None else _lp_start(lp_tools, prep, d, c, mask, classes,
                                                     values, deadline)
    if start is None:  # no scipy, too large, or the LP ran out of time
        start = _lagrange_start(prep, d, c, mask, classes, values,
                                time.perf_counter() + 0.6 * max(0.0, deadline
                                                                - time.perf_counter()))
    if start is not None and float(values[start >= 0].sum()) > best_v:
        best = start
    best = _swap(prep, d, c, mask, classes, values, best, deadline)
    best = _ruin_recreate(prep, d, c, mask, classes, values, best,
                          float(values[best >= 0].sum()), iterations, deadline, seed)
    return _swap(prep, d, c, mask, classes, values, best, deadline)


# the LP start is skipped above this many (task, node) pairs (its solve time grows fast)
LP_MAX_PAIRS = 200_000


def _scipy_lp():
    try:
        from scipy import sparse
        from scipy.optimize import linprog
    except ImportError:
        return None
    return sparse, linprog


def _lp_start(lp_tools, prep, d, c, mask, classes, values, deadline) -> np.ndarray | None:
    """A placement rounded from the LP relaxation of the placement MILP (scipy's HiGHS),
    or None without scipy, on instances too large or when the LP does not finish in time.

    The LP optimum is a vertex: all but about ``nodes x resources`` tasks are integral in
    it, so rounding loses little.  Integral tasks keep their node; fractional ones try their
    LP nodes in decreasing weight, then any node under the policy (largest value first)."""
    fits = np.all(d[:, None, :] <= (c + prep.tol)[None, :, :], axis=2)
    if mask is not None:
        fits &= (mask if classes is None else mask[classes]).astype(bool)
    pairs = int(fits.sum())
    if pairs > _TYPE_LP_MIN_PAIRS:
        start = _type_lp_start(lp_tools, prep, d, c, mask, classes, values, fits, deadline)
        if start is not None or pairs > LP_MAX_PAIRS:
            return start
    left = deadline - time.perf_counter()
    if pairs == 0 or left <= 0.01:
        return None
    x = _solve_lp(lp_tools, d, c, values, fits, left)
    if x is None:
        return None
    return _round_lp(prep, d, c, mask, classes, values, x)


def _round_lp(prep, d, c, mask, classes, values, x, groups=None) -> np.ndarray:
    """A placement from an LP solution ``x`` (tasks, columns): integral tasks first, then
    fractional ones by decreasing LP mass and value, each on its LP columns in decreasing
    weight; the rest greedily (largest value first).  Without ``groups`` a column is a node
    (the task takes it if it fits); with ``groups`` (nodes,) a column is a group of
    identical nodes, among which the policy chooses one that holds the task."""
    n_t = d.shape[0]
    free = c.copy()
    out = np.full(n_t, -1, dtype=np.int64)
    mass = x.max(axis=1)
    order = np.lexsort((-values, -np.round(mass, 6)))
    members = None if groups is None else [(groups == g).astype(np.uint8)
                                           for g in range(x.shape[1])]
    for t in order.tolist():
        if mass[t] <= 1e-6:
            break
        for j in np.argsort(-x[t], kind="stable").tolist():
            if x[t, j] <= 1e-6:
                break
            if members is not None:
                k, _ = _kernel.select(prep, free, d[t], t, members[j])
                if k >= 0:
                    out[t] = k
                    free[k] -= d[t]
                    break
            elif np.all(d[t] <= free[j] + prep.tol[j]):
                out[t] = j
                free[j] -= d[t]
                break
    rest = np.flatnonzero(out < 0)
    rest = rest[np.argsort(-values[rest], kind="stable")]
    _kernel.greedy(prep, d, rest, free, mask, classes, out=out)
    return out


# the type LP (identical nodes merged) is skipped above this many (task, group) pairs
_TYPE_LP_MAX_PAIRS = 400_000
# ... and used instead of the node LP above this many (task, node) pairs, when nodes repeat:
# there HiGHS's dual simplex stalls on the node LP (identical nodes make it degenerate:
# edge100, bimodal at load 1.0, 150,000 pairs: no answer in 60 s; the type LP: 2 s).
# Below it (every 10-node-scale family: at most 24,000 pairs, small40) the node LP solves
# in the budget and batch mode is as before.
_TYPE_LP_MIN_PAIRS = 30_000


def _solve_lp(lp_tools, d, cap, values, fits, time_limit_s, upper=None, method="highs"):
    """The LP relaxation of placing ``d`` on bins ``cap`` (tasks x bins, pairs ``fits``):
    ``sum_b x[t, b] <= upper[t]`` (1 by default), per bin and resource demand <= cap.
    Returns the (tasks, bins) solution, or None when HiGHS did not finish in time.
    ``method="highs-ipm"``: interior point then crossover (a vertex still), 4-7x faster
    than the dual simplex on these LPs at 100-1,000 nodes (0.5 s against 2.0 s, edge100
    Pareto; 3 s against 20 s, edge1000 uniform)."""
    sparse, linprog = lp_tools
    n_t, n_r = d.shape
    n_b = cap.shape[0]
    tt, bb = np.nonzero(fits)
    if tt.size == 0:
        return np.zeros((n_t, n_b))
    k = np.arange(tt.size)
    a_task = sparse.csr_matrix((np.ones(tt.size), (tt, k)), shape=(n_t, tt.size))
    rows = [sparse.csr_matrix((d[tt, r], (bb, k)), shape=(n_b, tt.size)) for r in range(n_r)]
    b_ub = np.concatenate([np.ones(n_t) if upper is None else upper, cap.T.ravel()])
    from edgekit.schedule.optimal import _quiet_solver
    with _quiet_solver():
        res = linprog(-values[tt], A_ub=sparse.vstack([a_task] + rows, format="csr"),
                      b_ub=b_ub, bounds=(0, 1), method=method,
                      options={"time_limit": float(time_limit_s), "presolve": True})
    if res.x is None or res.status != 0:
        return None
    x = np.zeros((n_t, n_b))
    x[tt, bb] = res.x
    return x


def _type_lp_start(lp_tools, prep, d, c, mask, classes, values, fits, deadline
                   ) -> np.ndarray | None:
    """The LP start on clusters too large for the (task, node) LP, when many nodes are
    alike: nodes of one capacity (and eligibility) are merged into one bin of their summed
    capacity.  That LP has the optimum of the node LP (a merged solution splits evenly over
    the identical nodes) with (tasks x node types) variables.  Two roundings, the better
    kept: (a) each task on a node of its LP type chosen by the policy, integral tasks
    first; (b) per type, the node LP of the tasks the type LP put there (objective: value
    x LP share), rounded as :func:`_lp_start` rounds.  None when nodes are all different,
    the type LP is too large or does not finish in 40% of the remaining budget."""
    n_t, n_n = fits.shape
    _, groups = np.unique(c, axis=0, return_inverse=True)
    if mask is not None:  # nodes alike also in which tasks may go there
        _, cols = np.unique(np.ascontiguousarray(mask.T), axis=0, return_inverse=True)
        _, groups = np.unique(np.column_stack([groups.ravel(), cols.ravel()]), axis=0,
                              return_inverse=True)
    groups = groups.ravel()
    n_g = int(groups.max()) + 1
    if n_g == n_n:
        return None
    first = np.array([np.flatnonzero(groups == g)[0] for g in range(n_g)])
    gfits = fits[:, first]
    if int(gfits.sum()) > _TYPE_LP_MAX_PAIRS:
        return None
    cap = np.zeros((n_g, c.shape[1]))
    np.add.at(cap, groups, c)
    left = deadline - time.perf_counter()
    if left <= 0.01:
        return None
    # at most 40% of the budget: at 1,000 nodes (14,000 tasks, 10 s, tuning seed 0) the
    # LP and its rounding took 6-9 s on the shared machine, leaving the search too little
    x = _solve_lp(lp_tools, d, cap, values, gfits, 0.4 * left, method="highs-ipm")
    if x is None:
        return None
    best = _round_lp(prep, d, c, mask, classes, values, x, groups)
    # (b): per type, the node LP of its tasks, within what is left of the budget; skipped
    # when those LPs are large (1,000 nodes: 1.4 million pairs, 30 s; 100 nodes: 25,000)
    support = x > 1e-6
    if int((support.sum(axis=0) * np.bincount(groups, minlength=n_g)).sum()) \
            > _TYPE_LP_MAX_PAIRS:
        return best
    xn = np.zeros((n_t, n_n))
    for g in range(n_g):
        ts = np.flatnonzero(support[:, g])
        nodes = np.flatnonzero(groups == g)
        left = deadline - time.perf_counter()
        if left <= 0.01:
            return best
        xg = _solve_lp(lp_tools, d[ts], c[nodes], values[ts] * x[ts, g],
                       fits[np.ix_(ts, nodes)], 0.5 * left, method="highs-ipm")
        if xg is None:
            return best
        xn[np.ix_(ts, nodes)] = xg
    other = _round_lp(prep, d, c, mask, classes, values, xn)
    if float(values[other >= 0].sum()) > float(values[best >= 0].sum()):
        best = other
    return best


def _lagrange_start(prep, d, c, mask, classes, values, deadline, rounds: int = 400
                    ) -> np.ndarray | None:
    """The best of placements built from Lagrangian prices (no scipy needed).

    Each node and resource has a price; a task's reduced profit on a node is its value
    minus the priced demand.  Every round, each task picks its best node; prices of
    over-asked node resources rise, idle ones fall (multiplicative steps that shrink); the
    round's wishes are then made feasible: tasks in decreasing reduced profit take their
    best node that still holds them.  This finds the matching of task shapes to node shapes
    that a greedy pass in one order misses (heavy-tailed workloads)."""
    n_t, n_r = d.shape
    n_n = c.shape[0]
    fits = np.all(d[:, None, :] <= (c + prep.tol)[None, :, :], axis=2)
    if mask is not None:
        fits &= (mask if classes is None else mask[classes]).astype(bool)
    if not fits.any() or n_t * n_n > 4_000_000:
        return None
    total = c.sum(axis=0)
    base = np.divide(1.0 / n_r, total, out=np.zeros(n_r), where=total > 0)
    theta = np.zeros((n_n, n_r))
    inv_c = np.divide(1.0, c, out=np.zeros_like(c), where=c > 0)
    best, best_v = None, -1.0
    eta = 0.5
    for k in range(rounds):
        if time.perf_counter() > deadline:
            break
        price = base[None, :] * np.exp(theta)  # (nodes, res)
        rp = values[:, None] - d @ price.T  # (tasks, nodes)
        rp[~fits] = -np.inf
        pick = rp.argmax(axis=1)
        gain = rp[np.arange(n_t), pick]
        want = np.isfinite(gain) & (gain > 0)
        use = np.zeros((n_n, n_r))
        np.add.at(use, pick[want], d[want])
        if (k >= 20 and k % 4 == 0) or k == rounds - 1:
            out = _round_wishes(prep, d, c, rp, gain)
            v = float(values[out >= 0].sum())
            if v > best_v:
                best, best_v = out, v
        theta += eta * (use * inv_c - 1.0)
        np.clip(theta, -4.0, 4.0, out=theta)
        eta *= 0.985
    return best


def _round_wishes(prep, d, c, rp, gain) -> np.ndarray:
    """Make the wishes feasible: first, per node, the longest prefix (in decreasing
    ``gain``) of the tasks wishing it that fits; then the others in decreasing ``gain``
    take the best node (by ``rp``) that still holds them (plain Python floats: a scalar
    loop is faster than numpy at two or three resources)."""
    n_t, n_r = d.shape
    n_n = c.shape[0]
    out = np.full(n_t, -1, dtype=np.int64)
    order = np.argsort(-gain, kind="stable")
    order = order[np.isfinite(gain[order])]
    pick = rp[order].argmax(axis=1)
    room = c + prep.tol
    for j in range(n_n):
        ts = order[pick == j]
        if ts.size:
            ok = np.all(np.cumsum(d[ts], axis=0) <= room[j], axis=1)
            stop = ts.size if ok.all() else int(np.argmin(ok))
            out[ts[:stop]] = j
    free_a = room.copy()
    np.subtract.at(free_a, out[out >= 0], d[out >= 0])
    rest = order[out[order] < 0]
    # free room only shrinks from here: a task that fits no node now never will
    rest = rest[(np.all(d[rest][:, None, :] <= free_a[None, :, :], axis=2)
                 & np.isfinite(rp[rest])).any(axis=1)]
    if rest.size == 0:
        return out
    free = free_a.tolist()
    dl = d.tolist()
    prefs = np.argsort(-rp[rest], axis=1, kind="stable")
    n_ok = np.isfinite(rp[rest]).sum(axis=1).tolist()
    for i, t in enumerate(rest.tolist()):
        dt = dl[t]
        for j in prefs[i, : n_ok[i]].tolist():
            fj = free[j]
            if all(dt[r] <= fj[r] for r in range(n_r)):
                out[t] = j
                for r in range(n_r):
                    fj[r] -= dt[r]
                break
    return out


def _allowed(mask, classes, t: int, nodes: np.ndarray) -> np.ndarray:
    if mask is None:
        return np.ones(nodes.size, dtype=bool)
    return mask[t if classes is None else classes[t]][nodes].astype(bool)


# _swap keeps a (tasks, nodes) table of where each task fits up to this many cells
_SWAP_TABLE_MAX = 4_000_000


def _swap(prep, d, c, mask, classes, values, assign, deadline) -> np.ndarray:
    """Improving moves for each unplaced task u, largest value first:

    * relocate-and-insert: a placed task p moves to another node where it fits, and u takes
      its room (the total gains u's value, nothing is lost);
    * exchange: u takes the place of a placed task of lower value, which is re-placed
      elsewhere if any node takes it.

    Every move raises the total value, so this ends.  Where tasks x nodes <= 4e6 the
    relocation test reads a (tasks, nodes) table of where each task fits now (its own node
    excluded), updated on the two nodes a move changes; on larger instances it is computed
    per unplaced task, and skipped when that is too large (candidates x nodes > 4e6)."""
    assign = assign.copy()
    free = _free_after(c, d, assign)
    n_t, n_n = d.shape[0], c.shape[0]
    table = None
    if n_t * n_n <= _SWAP_TABLE_MAX:
        allow = None if mask is None else (mask if classes is None else mask[classes]
                                           ).astype(bool)
        table = np.zeros((n_t, n_n), dtype=bool)

        def refresh(nodes) -> None:
            for x in nodes:
                col = np.all(d <= free[x] + prep.tol[x], axis=1) & (assign != x)
                table[:, x] = col if allow is None else col & allow[:, x]

        refresh(range(n_n))
    improved = True
    stale = True  # the per-placed-task arrays below, after a move
    while improved and time.perf_counter() < deadline:
        improved = False
        unplaced = np.flatnonzero(assign < 0)
        for u in unplaced[np.argsort(-values[unplaced], kind="stable")].tolist():
            if time.perf_counter() > deadline:
                break
            if stale:
                placed = np.flatnonzero(assign >= 0)
                nodes = assign[placed]
                slack = free[nodes] + d[placed] + prep.tol[nodes]  # each node without p
                if table is not None:
                    elsewhere = table[placed].any(axis=1)
                stale = False
            room = np.all(d[u] <= slack, axis=1)
            room &= _allowed(mask, classes, u, nodes)
            if not room.any():
                continue
            cand = placed[room]
            stale = True  # unless nothing moves below
            if table is not None:
                movable = cand[elsewhere[room]]
                if movable.size:
                    p = int(movable[0])
                    j = int(assign[p])
                    k, _ = _kernel.select(prep, free, d[p], p, table[p].astype(np.uint8))
                    free[k] = free[k] - d[p]
                    free[j] = free[j] + d[p] - d[u]
                    assign[p], assign[u] = k, j
                    refresh((j, k))
                    improved = True
                    continue
            elif cand.size * n_n <= 4_000_000 and _relocate(prep, d, free, assign, mask,
                                                                 classes, cand, u):
                improved = True
                continue
            lower = cand[values[cand] < values[u]]
            if lower.size == 0:
                stale = False
                continue
            p = int(lower[np.argmin(values[lower])])
            j = int(assign[p])
            free[j] = free[j] + d[p] - d[u]
            assign[u], assign[p] = j, -1
            row = None if mask is None else mask[p if classes is None else classes[p]]
            k, _ = _kernel.select(prep, free, d[p], p, row)
            if k >= 0:
                assign[p] = k
                free[k] = free[k] - d[p]
            if table is not None:
                refresh((j,) if k < 0 else (j, k))
            improved = True
    return assign


def _relocate(prep, d, free, assign, mask, classes, cand, u) -> bool:
    """Move one of ``cand`` (placed tasks whose node would hold ``u`` without them) to
    another node that holds it now, and put ``u`` in its place.  In place; True if done."""
    fits = np.all(d[cand][:, None, :] <= (free + prep.tol)[None, :, :], axis=2)
    fits[np.arange(cand.size), assign[cand]] = False
    if mask is not None:
        rows = cand if classes is None else classes[cand]
        fits &= mask[rows].astype(bool)
    movable = np.flatnonzero(fits.any(axis=1))
    if movable.size == 0:
        return False
    p = int(cand[movable[0]])
    j = int(assign[p])
    row = fits[movable[0]].astype(np.uint8)
    k, _ = _kernel.select(prep, free, d[p], p, row)
    free[k] = free[k] - d[p]
    free[j] = free[j] + d[p] - d[u]
    assign[p], assign[u] = k, j
    return True


def _ruin_recreate(prep, d, c, mask, classes, values, assign, value, iterations, deadline,
                   seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_n = c.shape[0]
    free = _free_after(c, d, assign)
    k_max = max(1, min(3, n_n))
    # tasks that fit no node even when it is empty can never be placed: leave them out
    can_fit = np.zeros(d.shape[0], dtype=bool)
    for j in range(n_n):
        can_fit |= np.all(d <= c[j] + prep.tol[j], axis=1)
    for it in range(iterations):
        if it % 16 == 0 and time.perf_counter() > deadline:
            break
        unplaced = np.flatnonzero((assign < 0) & can_fit)
        if unplaced.size == 0:
            break
        k = int(rng.integers(1, k_max + 1))
        nodes = rng.choice(n_n, size=k, replace=False)
        ruined = np.flatnonzero(np.isin(assign, nodes))
        cand = np.concatenate([ruined, unplaced])
        noise = rng.uniform(0.7, 1.3, cand.size)
        order = cand[np.argsort(-(values[cand] * noise), kind="stable")]
        trial = assign.copy()
        trial[cand] = -1
        trial_free = free.copy()
        trial_free[nodes] = c[nodes]  # their tasks are all in cand
        _kernel.greedy(prep, d, order, trial_free, mask, classes, out=trial)
        v = float(values[trial >= 0].sum())
        if v >= value - 1e-15:
            assign, value, free = trial, v, trial_free
    return assign


def _drf(prep, d, c, mask, classes, tenants, values, mode) -> np.ndarray:
    """Progressive filling by dominant share: the tenant with the lowest placed dominant
    share places its next task (arrival order within a tenant).  A tenant whose next task
    does not fit skips it (it stays unplaced) and keeps its turn."""
    total = c.sum(axis=0)
    share_of = np.divide(d, total, out=np.zeros_like(d), where=total > 0)
    # tenant ids are labels, not sizes: number them 0..k-1 in increasing order (ties still go
    # to the lower id), so that an id of 10**9 does not make a billion empty queues; group the
    # tasks with one stable sort and keep the tenants in a heap keyed (share, id), so that
    # many tenants cost O(tasks log tenants), not O(tasks x tenants)
    ids, tenants = np.unique(tenants, return_inverse=True)
    n_ten = ids.size
    by_tenant = np.argsort(tenants, kind="stable")
    queues = np.split(by_tenant, np.cumsum(np.bincount(tenants, minlength=n_ten))[:-1])
    if mode == "batch":  # within a tenant, larger tasks first
        queues = [q[np.argsort(-values[q], kind="stable")] for q in queues]
    heads = [0] * n_ten
    used = np.zeros((n_ten, d.shape[1]))
    dom = np.zeros(n_ten)
    free = c.copy()
    out = np.full(d.shape[0], -1, dtype=np.int64)
    heap = [(0.0, k) for k in range(n_ten)]  # every tenant has a task; already a heap
    while heap:
        _, k = heapq.heappop(heap)
        t = int(queues[k][heads[k]])
        heads[k] += 1
        row = None if mask is None else mask[t if classes is None else classes[t]]
        j, _ = _kernel.select(prep, free, d[t], t, row)
        out[t] = j
        if j >= 0:
            free[j] = free[j] - d[t]
            used[k] += share_of[t]
            dom[k] = used[k].max()
        if heads[k] < queues[k].size:
            heapq.heappush(heap, (float(dom[k]), k))
    return out
