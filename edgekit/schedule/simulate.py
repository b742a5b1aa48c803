"""A seeded discrete-event simulator: tasks arrive (Poisson), run for a random time, leave;
nodes may fail and come back.  It drives the same kernels as :class:`Scheduler`.

Metrics (:class:`SimResult`), per resource where it says so:

* ``utilization[r]``: time-average over the run of (demand of running tasks / capacity of
  the nodes that are up), from the first arrival to the last arrival.
* ``acceptance``: placed tasks / arrived tasks.  The run ends at the last arrival: a task
  still queued then, or dropped, counts as not placed (nothing after it is simulated, so a
  queue cannot drain into the count); one evicted by a failure counts once, as placed.
* ``fragmentation[r]``: time-average of the share of free capacity of ``r`` that sits on
  nodes that cannot hold the workload's median task (free but unusable).
* ``wait_mean_s``, ``wait_p95_s``: queueing delay of the placed tasks (0 when placed on
  arrival).
* ``fairness``: Jain's index over tenants (those with arrivals) of their acceptance
  (1.0 = equal).
* ``declined``: arrivals declined by admission control (``admission=``; see
  :mod:`edgekit.schedule.admission`): they fitted but were neither placed nor queued.
"""

from __future__ import annotations

import heapq
import math
import numbers
from dataclasses import dataclass

import numpy as np

from edgekit.errors import OptionsError
from edgekit.schedule import _kernel, _schedule_ref
from edgekit.schedule.admission import Admission, get_admission
from edgekit.schedule.batch import _values
from edgekit.schedule.plan import PlanState
from edgekit.schedule.policy import Policy, get_policy
from edgekit.schedule.workloads import EDGE_CLUSTER_10, RESOURCES, _draw, _workload_cluster

__all__ = ["SimResult", "simulate"]


@dataclass(frozen=True, slots=True)
class SimResult:
    """Result of :func:`simulate` (see the module docstring for each metric)."""

    policy: str
    tasks: int
    utilization: dict[str, float]
    acceptance: float
    fragmentation: dict[str, float]
    wait_mean_s: float
    wait_p95_s: float
    fairness: float
    evicted: int
    lost: int
    declined: int = 0


def simulate(workload: str = "uniform", *, policy: str | Policy = "default",
             capacity: np.ndarray = EDGE_CLUSTER_10, load: float = 1.0, tasks: int = 2000,
             mean_duration_s: float = 100.0, queue: str = "backfill", tenants: int = 3,
             failure_rate_per_s: float = 0.0, repair_s: float = 200.0, seed: int = 0,
             admission: str | Admission | None = None) -> SimResult:
    """Simulate ``tasks`` arrivals of ``workload`` at offered ``load`` (mean demand in
    flight / capacity, averaged over resources) with exponential durations of mean
    ``mean_duration_s``; ``queue`` is ``"reject"``, ``"fifo"`` or ``"backfill"``; nodes
    fail at ``failure_rate_per_s`` each (their tasks are re-placed or queued, or lost with
    ``queue="reject"``) and come back after ``repair_s``.  ``admission`` judges each
    arrival as :class:`~edgekit.schedule.Scheduler` does (queued and evicted tasks are not
    judged again)."""
    if queue not in ("reject", "fifo", "backfill"):
        raise OptionsError("queue must be reject, fifo or backfill", name="queue", got=queue)
    for name, v, low in (("tasks", tasks, 1), ("tenants", tenants, 1)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
            raise OptionsError(f"{name} must be an int >= {low}, got {v!r}", name=name, got=v)
    tasks, tenants = int(tasks), int(tenants)
    # finite: an infinite rate or a zero repair time would loop on events at one instant
    for name, v, positive in (("load", load, True), ("mean_duration_s", mean_duration_s, True),
                              ("failure_rate_per_s", failure_rate_per_s, False),
                              ("repair_s", repair_s, True)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) \
                or not (v > 0 if positive else v >= 0):
            raise OptionsError(f"{name} must be a finite number {'>' if positive else '>='} 0, "
                               f"got {v!r}", name=name, got=v)
    # Python floats: numpy float32 scalars would round every derived time differently
    load, mean_duration_s = float(load), float(mean_duration_s)
    failure_rate_per_s, repair_s = float(failure_rate_per_s), float(repair_s)
    pol = get_policy(policy)
    adm = get_admission(admission)
    cap = _workload_cluster(capacity)
    rng = np.random.default_rng(_kernel.as_seed(seed))
    d = _draw(workload, rng, tasks, cap.max(axis=0))
    total = cap.sum(axis=0)
    mean_value = float((d / total).mean(axis=1).mean())
    rate = load / (mean_value * mean_duration_s)  # Little's law: in flight = rate * duration
    arrive = np.cumsum(rng.exponential(1.0 / rate, tasks))
    dur = rng.exponential(mean_duration_s, tasks)
    tenant = rng.integers(0, tenants, tasks)
    median = np.median(d, axis=0)
    prep = _kernel.Prepared.make(cap, pol)
    state = None if adm is None else _kernel.admit_state(cap, adm)
    plan = None if pol.plan is None else PlanState(cap, pol.plan)
    values = _values(d, cap)
    free = cap.copy()
    up = np.ones(cap.shape[0], dtype=bool)
    where = np.full(tasks, -1, dtype=np.int64)
    placed_at = np.full(tasks, np.nan)
    events: list[tuple[float, int, int, int]] = []  # (time, kind order, kind, id)
    for t in range(tasks):
        heapq.heappush(events, (float(arrive[t]), 1, 0, t))
    if failure_rate_per_s > 0:
        for j in range(cap.shape[0]):
            heapq.heappush(events, (float(rng.exponential(1 / failure_rate_per_s)), 2, 2, j))
    waiting: list[int] = []
    used_area = np.zeros(cap.shape[1])
    frag_area = np.zeros(cap.shape[1])
    last = float(arrive[0])  # the metrics average over [first arrival, last arrival]
    end = float(arrive[-1])
    evicted = lost = declined = 0
    epoch = np.zeros(tasks, dtype=np.int64)  # invalidates departures of evicted tasks

    def mask() -> np.ndarray:
        return up.astype(np.uint8)

    def try_place(t: int, now: float, judge: bool = False) -> bool | None:
        """True: placed; False: does not fit now; None: declined by admission control."""
        if judge and state is not None:
            state.observe(d[t])
        m = mask()
        k = -1
        if plan is not None:  # as the Scheduler: a new arrival is learned, a retry is not
            k = plan.observe(d[t], free, up) if judge else plan.classify(d[t])
            pref = plan.route(k, up & _schedule_ref.feasible(free, prep.tol, d[t]), free, up,
                              None if judge else d[t])
            if pref is not None:
                m = pref.view(np.uint8)
        j, _ = _kernel.select(prep, free, d[t], t, m)
        if j < 0:
            return False
        if judge and state is not None:
            j, _ = state.decide(free, cap, prep.inv, prep.tol, d[t], float(values[t]), j,
                                up)
            if j < 0:
                return None
        if plan is not None:
            plan.commit(k, j, d[t])
        free[j] = free[j] - d[t]
        where[t] = j
        if np.isnan(placed_at[t]):
            placed_at[t] = now
        heapq.heappush(events, (now + float(dur[t]), 0, 1, t * 1024 + int(epoch[t] % 1024)))
        return True

    def drain(now: float) -> None:
        keep = []
        blocked = False
        for t in waiting:
            if blocked or not try_place(t, now):
                keep.append(t)
                blocked = blocked or queue == "fifo"
        waiting[:] = keep

    while events:
        now, _, kind, ident = heapq.heappop(events)
        if now > end:  # the run ends at the last arrival: what is still queued was not placed
            break
        span = min(now, end) - last
        if span > 0:
            cap_up = cap[up].sum(axis=0)
            inuse = (cap[up] - free[up]).sum(axis=0)
            used_area += span * np.divide(inuse, cap_up, out=np.zeros_like(inuse),
                                          where=cap_up > 0)
            fr = free[up]
            stuck = ~np.all(fr >= median, axis=1)
            tot_free = fr.sum(axis=0)
            frag_area += span * np.divide(fr[stuck].sum(axis=0), tot_free,
                                          out=np.zeros_like(tot_free), where=tot_free > 0)
            last = min(now, end)
        if kind == 0:  # arrival
            ok = try_place(ident, now, judge=True)
            if ok is None:
                declined += 1
            elif not ok and queue != "reject":
                waiting.append(ident)
        elif kind == 1:  # departure
            t, ep = divmod(ident, 1024)
            if ep != epoch[t] % 1024 or where[t] < 0:
                continue
            free[where[t]] = np.minimum(free[where[t]] + d[t], cap[where[t]])
            where[t] = -2  # finished
            if plan is not None:
                plan.release(d[t])
            if state is not None:
                state.release(d[t])
            drain(now)
        elif kind == 2:  # node failure
            j = ident
            up[j] = False
            free[j] = 0.0
            victims = np.flatnonzero(where == j)
            for t in victims.tolist():
                evicted += 1
                epoch[t] += 1
                where[t] = -1
                if not try_place(t, now):
                    if queue == "reject":
                        lost += 1
                        where[t] = -3
                        if plan is not None:
                            plan.release(d[t])
                        if state is not None:
                            state.release(d[t])
                    else:
                        waiting.append(t)
            heapq.heappush(events, (now + repair_s, 0, 3, j))
        else:  # repair
            j = ident
            up[j] = True
            free[j] = cap[j]
            drain(now)
            heapq.heappush(events, (now + float(rng.exponential(1 / failure_rate_per_s)), 2,
                                    2, j))
    horizon = max(end - float(arrive[0]), 1e-12)
    accepted = ~np.isnan(placed_at)
    waits = (placed_at - arrive)[accepted]
    # over the tenants that had arrivals (one with none has no acceptance to be fair about)
    per_tenant = np.array([accepted[tenant == k].mean() for k in np.unique(tenant)])
    jain = float(per_tenant.sum() ** 2 / (per_tenant.size * (per_tenant ** 2).sum())) \
        if (per_tenant > 0).any() else 1.0
    names = RESOURCES if cap.shape[1] == len(RESOURCES) else tuple(
        f"r{i}" for i in range(cap.shape[1]))
    return SimResult(
        pol.name, tasks, {n: float(v) for n, v in zip(names, used_area / horizon, strict=True)},
        float(accepted.mean()),
        {n: float(v) for n, v in zip(names, frag_area / horizon, strict=True)},
        float(waits.mean()) if waits.size else 0.0,
        float(np.percentile(waits, 95)) if waits.size else 0.0, jain, evicted, lost, declined)
