"""The user-facing scheduler over :class:`~edgekit.types.Node` and
:class:`~edgekit.types.Task`: filters, online placement with release and a queue,
rescheduling after a node fails, and dry-run explanations.

Filters (a node is *eligible* for a task when it passes all, in this order; the first it
fails is the reason reported):

1. ``down``: the node has failed (:meth:`Scheduler.fail_node`).
2. ``resource``: the task asks for a resource the node does not have at all.
3. ``node_selector``: every key/value of ``task.node_selector`` is in ``node.labels``.
4. ``taint``: every taint of the node is in ``task.tolerations``.
5. ``latency``: ``latency_ms[task.source][node.name] <= task.latency_budget_ms`` (a pair
   missing from the matrix counts as unreachable).
6. ``affinity``: for each group in ``task.affinity`` that has a placed task, the node runs
   one of them.
7. ``anti_affinity``: the node runs no task of a group in ``task.anti_affinity`` (and no
   task whose own anti-affinity names this task's group).
8. ``fit``: the demand fits the node's free amounts (see :mod:`edgekit.schedule._kernel`).

Among eligible nodes the policy's score decides (:mod:`edgekit.schedule.policy`).
"""

from __future__ import annotations

import math
import numbers
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from edgekit import _telemetry
from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.schedule import _kernel, _schedule_ref
from edgekit.schedule import batch as _batch
from edgekit.schedule.admission import Admission, get_admission
from edgekit.schedule.plan import PlanState
from edgekit.schedule.policy import SCORERS, Policy, get_policy
from edgekit.types import Node, Placement, Task

__all__ = ["Explanation", "NodeVerdict", "Scheduler", "place"]

QUEUE_POLICIES = ("reject", "fifo", "backfill")


@dataclass(frozen=True, slots=True)
class NodeVerdict:
    """One node's answer for one task.  ``filtered`` is the name of the first filter it
    failed (``None`` when eligible), ``detail`` says why in words; ``score`` is the policy's
    total and ``scores`` each scorer's raw value (eligible nodes only)."""

    node: str
    filtered: str | None
    detail: str | None = None
    score: float | None = None
    scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Explanation:
    """A dry run: the node the task would go to (``None``: none) and every node's verdict.
    ``planned``: the eligible nodes that the policy's :class:`~edgekit.schedule.plan.Plan`
    (its LP plan and fit-loss filter) left to the scorers, which chose among them (empty when
    there is no plan or it gave no preference: the scorers chose among all eligible nodes)."""

    task: str
    chosen: str | None
    verdicts: tuple[NodeVerdict, ...]
    reason: str | None
    planned: tuple[str, ...] = ()


def _unique_named(items, kind: type, name: str) -> list:
    """``items`` as a list of ``kind`` objects with distinct ``.name``, or a clear error."""
    if isinstance(items, (str, bytes, Mapping)):
        raise InputTypeError(f"{name} must be a sequence of edgekit.types.{kind.__name__}",
                             name=name, got=type(items).__name__)
    try:
        items = list(items)
    except TypeError as err:
        raise InputTypeError(f"{name} must be a sequence of edgekit.types.{kind.__name__}, "
                             f"got {type(items).__name__}", name=name,
                             got=type(items).__name__) from err
    if not all(isinstance(x, kind) for x in items):
        raise InputTypeError(f"{name} must be edgekit.types.{kind.__name__} objects", name=name)
    counts = Counter(x.name for x in items)
    dup = next((k for k, v in counts.items() if v > 1), None)
    if dup is not None:
        raise InputError(f"duplicate {kind.__name__.lower()} name {dup!r}", name=name, got=dup)
    return items


def _latency_matrix(latency_ms: object) -> dict[str, dict[str, float]]:
    """``{source: {node name: ms}}`` checked: a NaN would pass every budget (``NaN > b`` is
    false), a negative or non-numeric latency is a mistake; both raise."""
    if latency_ms is None:
        return {}
    if not isinstance(latency_ms, Mapping):
        raise InputTypeError("latency_ms must map source -> {node name: latency in ms}",
                             name="latency_ms", got=type(latency_ms).__name__)
    out: dict[str, dict[str, float]] = {}
    for src, row in latency_ms.items():
        if not isinstance(src, str) or not isinstance(row, Mapping):
            raise InputTypeError("latency_ms must map source (str) -> {node name: latency in "
                                 f"ms}}; got {src!r}: {type(row).__name__}",
                                 name="latency_ms", got=src)
        clean: dict[str, float] = {}
        for node, ms in row.items():
            if not isinstance(node, str) or isinstance(ms, (bool, np.bool_)) \
                    or not isinstance(ms, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(ms) or ms < 0:
                raise InputError(f"latency_ms[{src!r}][{node!r}] must be a finite number of "
                                 f"ms >= 0, got {ms!r}", name="latency_ms", got=ms)
            clean[node] = float(ms)
        out[src] = clean
    return out


class Scheduler:
    """Online placement on a set of nodes.

    Args:
        nodes: the nodes (unique names).  The resources are the union of their capacity keys.
        policy: a policy name or :class:`~edgekit.schedule.policy.Policy`.
        latency_ms: ``{source: {node name: latency in ms}}`` for latency budgets.
        queue: what :meth:`submit` does with a task that fits nowhere *now* but would fit an
            empty eligible node (one that is down counts: it may come back): ``"reject"``
            (a result, not placed), ``"fifo"`` (queue it;
            on release the head is tried first and blocks the rest) or ``"backfill"`` (queue
            it; on release every queued task is tried in order).
        admission: ``None`` (every task that fits is placed), ``"strand"`` or an
            :class:`~edgekit.schedule.admission.Admission`: :meth:`submit` may move a task
            to another node or decline it (not placed, not queued, reason
            ``"declined: ..."``) when placing it would strand capacity; learned from the
            tasks submitted so far.  Queued and evicted tasks are not judged again.

    A task that no node could ever hold (no eligible node large enough even when empty) is
    never queued: its :class:`~edgekit.types.Placement` says why.
    """

    def __init__(self, nodes: Sequence[Node], *, policy: str | Policy = "default",
                 latency_ms: Mapping[str, Mapping[str, float]] | None = None,
                 queue: str = "reject", admission: str | Admission | None = None) -> None:
        nodes = _unique_named(nodes, Node, "nodes")
        if queue not in QUEUE_POLICIES:
            raise OptionsError(f"queue must be one of {QUEUE_POLICIES}", name="queue", got=queue)
        self.policy = get_policy(policy)
        self.queue_policy = queue
        self.nodes = tuple(nodes)
        self.resources: tuple[str, ...] = tuple(sorted({k for n in nodes for k in n.capacity}))
        if not self.resources:
            self.resources = ("cpu",)
        self._index = {n.name: i for i, n in enumerate(nodes)}
        self._has = np.array([[r in n.capacity for r in self.resources] for n in nodes],
                             dtype=bool).reshape(len(nodes), len(self.resources))
        self.capacity = np.array([[n.capacity.get(r, 0.0) for r in self.resources]
                                  for n in nodes], dtype=np.float64).reshape(self._has.shape)
        _kernel.check_capacity(self.capacity, "Node.capacity")
        self.free = self.capacity.copy()
        self.down = np.zeros(len(nodes), dtype=bool)
        self._prep = _kernel.Prepared.make(self.capacity, self.policy)
        self._latency = _latency_matrix(latency_ms)
        self._placed: dict[str, tuple[int, Task, np.ndarray]] = {}
        self._groups: list[Counter[str]] = [Counter() for _ in nodes]
        self._anti: list[Counter[str]] = [Counter() for _ in nodes]
        self.queue: list[Task] = []
        self._key = 0
        self.admission = get_admission(admission)
        self._admit = None if self.admission is None else _kernel.admit_state(
            self.capacity, self.admission)
        self._plan = None if self.policy.plan is None else PlanState(self.capacity,
                                                                     self.policy.plan)

    # -- inputs ---------------------------------------------------------------------------

    def demand_vector(self, task: Task) -> np.ndarray:
        """The task's demand in this scheduler's resource order (missing = 0)."""
        return np.array([task.demand.get(r, 0.0) for r in self.resources], dtype=np.float64)

    def _unknown(self, task: Task) -> list[str]:
        return sorted(k for k, v in task.demand.items() if v > 0 and k not in self.resources)

    def _static(self, task: Task, j: int, d: np.ndarray, *, up: bool = False
                ) -> tuple[str, str] | None:
        """The first static filter node ``j`` fails (``up``: as if it were up)."""
        node = self.nodes[j]
        if self.down[j] and not up:
            return "down", "node is down"
        missing = [r for r, need, has in zip(self.resources, d, self._has[j], strict=True)
                   if need > 0 and not has]
        if missing:
            return "resource", f"has no {', '.join(missing)}"
        for k, v in task.node_selector.items():
            if node.labels.get(k) != v:
                return "node_selector", f"label {k}={v} missing"
        untolerated = [t for t in node.taints if t not in task.tolerations]
        if untolerated:
            return "taint", f"taint {untolerated[0]} not tolerated"
        if task.latency_budget_ms is not None:
            lat = self._latency.get(task.source or "", {}).get(node.name)
            if lat is None or lat > task.latency_budget_ms:
                got = "unreachable" if lat is None else f"{lat} ms"
                return "latency", f"latency from {task.source!r} {got} > " \
                                  f"{task.latency_budget_ms} ms"
        return None

    def _dynamic(self, task: Task, j: int) -> tuple[str, str] | None:
        for g in task.affinity:
            if any(c[g] for c in self._groups) and not self._groups[j][g]:
                return "affinity", f"runs no task of group {g!r}"
        for g in task.anti_affinity:
            if self._groups[j][g]:
                return "anti_affinity", f"runs a task of group {g!r}"
        if task.group is not None and self._anti[j][task.group]:
            return "anti_affinity", f"a task there refuses group {task.group!r}"
        return None

    def _verdicts(self, task: Task, d: np.ndarray) -> tuple[np.ndarray, list, np.ndarray]:
        """(eligible-now mask, per-node (filter, detail) or None, could-ever-fit mask)."""
        n = len(self.nodes)
        why: list[tuple[str, str] | None] = [None] * n
        ever = np.zeros(n, dtype=bool)
        ok = np.zeros(n, dtype=bool)
        for j in range(n):
            why[j] = self._static(task, j, d)
            if why[j] is not None:
                # a node that is down may come back (restore_node): it counts for "ever"
                if why[j][0] == "down" and self._static(task, j, d, up=True) is None:
                    ever[j] = bool(np.all(d <= self.capacity[j] + self._prep.tol[j]))
                continue
            ever[j] = bool(np.all(d <= self.capacity[j] + self._prep.tol[j]))
            why[j] = self._dynamic(task, j)
            if why[j] is not None:
                continue
            if not np.all(d <= self.free[j] + self._prep.tol[j]):
                short = [f"{r} {self.free[j, i]:g} free < {d[i]:g}"
                         for i, r in enumerate(self.resources)
                         if not d[i] <= self.free[j, i] + self._prep.tol[j, i]]
                why[j] = ("fit", ", ".join(short))
                continue
            ok[j] = True
        return ok, why, ever

    @staticmethod
    def _summary(why: list, n: int) -> str:
        counts = Counter(w[0] for w in why if w is not None)
        parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        return f"0 of {n} nodes eligible ({parts})" if n else "no nodes"

    # -- operations -----------------------------------------------------------------------

    def _choose(self, task: Task, admit: bool = False
                ) -> tuple[int, str | None, bool, np.ndarray]:
        """(node or -1, reason, could ever fit, demand); ``admit``: a new task, seen and
        judged by the admission test (a declined one is reported as never fitting, so that
        it is not queued)."""
        if not isinstance(task, Task):
            raise InputTypeError("task must be an edgekit.types.Task", name="task")
        unknown = self._unknown(task)
        d = self.demand_vector(task)
        if unknown:
            return -1, f"no node offers {', '.join(unknown)}", False, d
        state = self._admit if admit else None
        if state is not None:
            state.observe(d)
        k = -1
        if self._plan is not None:
            k = self._plan.observe(d, self.free, ~self.down) if admit else \
                self._plan.classify(d)
        ok, why, ever = self._verdicts(task, d)
        if not ok.any():
            return -1, self._summary(why, len(self.nodes)), bool(ever.any()), d
        self._key += 1
        pref = None if self._plan is None else self._plan.route(
            k, ok, self.free, ~self.down, None if admit else d)
        mask = (ok if pref is None else pref).astype(np.uint8)
        j, _ = _kernel.select(self._prep, self.free, d, self._key, mask)
        if state is not None:
            j, reason = self._judge(state, d, j, ok)
            if j < 0:
                return -1, reason, False, d
        return j, None, True, d

    def _judge(self, state: _schedule_ref.AdmitState, d: np.ndarray, j: int, ok: np.ndarray
               ) -> tuple[int, str | None]:
        """The admission test on the policy's choice ``j``: (node, None) or (-1, reason)."""
        value = float(_batch._values(d[None, :], self.capacity)[0])
        k, strand = state.decide(self.free, self.capacity, self._prep.inv, self._prep.tol,
                                 d, value, j, ok)
        if k >= 0:
            return k, None
        where = " (or any other eligible node)" if state.reroute else ""
        return -1, (f"declined: placing it on {self.nodes[j].name}{where} would strand "
                    f"{self.resources[strand]} that the tasks seen so far could not use")

    def _commit(self, task: Task, j: int, d: np.ndarray) -> Placement:
        if self._plan is not None:  # the class _choose observed or classified: derivable
            self._plan.commit(self._plan.classify(d), j, d)
        self.free[j] = self.free[j] - d
        self._placed[task.name] = (j, task, d)
        if task.group is not None:
            self._groups[j][task.group] += 1
        for g in task.anti_affinity:
            self._anti[j][g] += 1
        return Placement(task.name, self.nodes[j].name)

    def submit(self, task: Task) -> Placement:
        """Place ``task`` now, or queue or reject it (see ``queue``).  A task already placed
        or queued under the same name raises :class:`~edgekit.errors.InputError`."""
        return self._submit(task, emit=True)

    def _submit(self, task: Task, *, emit: bool) -> Placement:
        t0 = time.perf_counter()
        if isinstance(task, Task) and (task.name in self._placed
                                       or any(q.name == task.name for q in self.queue)):
            raise InputError(f"task {task.name!r} is already placed or queued", name="task",
                             got=task.name)
        j, reason, ever, d = self._choose(task, admit=True)
        if j >= 0:
            result = self._commit(task, j, d)
        elif ever and self.queue_policy != "reject":
            self.queue.append(task)
            result = Placement(task.name, None, f"queued: {reason}")
        else:
            result = Placement(task.name, None, reason)
        if emit:
            _telemetry.emit("schedule.place", policy=self.policy.name, mode="online",
                            placed=int(result.placed),
                            rejected=int(not result.placed and task not in self.queue),
                            seconds=time.perf_counter() - t0)
        return result

    def release(self, task_name: str) -> list[Placement]:
        """Free a finished task's resources; returns the queued tasks that got placed (each
        such batch is reported as one ``schedule.place`` telemetry event, as :meth:`submit`
        reports its task).  A task still in the queue is withdrawn from it (nothing is
        freed), so that a cancelled task is not placed later; with ``queue="fifo"``
        withdrawing the head may let the tasks behind it in.  A name that is
        neither placed nor queued (e.g. released twice) raises
        :class:`~edgekit.errors.InputError`."""
        t0 = time.perf_counter()
        if task_name not in self._placed:
            queued = [i for i, q in enumerate(self.queue) if q.name == task_name]
            if queued:
                self._forget(self.demand_vector(self.queue[queued[0]]))
                del self.queue[queued[0]]
                return self._drain(t0) if self.queue_policy == "fifo" and queued[0] == 0 \
                    else []
            raise InputError(f"task {task_name!r} is neither placed nor queued",
                             name="task_name", got=task_name)
        j, task, d = self._placed.pop(task_name)
        self._forget(d)
        self.free[j] = np.minimum(self.free[j] + d, self.capacity[j])
        if task.group is not None:
            self._groups[j][task.group] -= 1
        for g in task.anti_affinity:
            self._anti[j][g] -= 1
        return self._drain(t0)

    def _forget(self, d: np.ndarray) -> None:
        """A task left the system: it no longer counts in the value offered (the signal
        that arms the default's plan and ``admission="auto"``)."""
        if self._plan is not None:
            self._plan.release(d)
        if self._admit is not None:
            self._admit.release(d)

    def _drain(self, t0: float) -> list[Placement]:
        """Try the queue; report the queued tasks placed now as one telemetry event (none
        when nothing was placed: releasing a task is not a placement)."""
        placed: list[Placement] = []
        remaining: list[Task] = []
        blocked = False
        for task in self.queue:
            if blocked:
                remaining.append(task)
                continue
            j, _, ever, d = self._choose(task)
            if j >= 0:
                placed.append(self._commit(task, j, d))
            else:
                remaining.append(task)
                blocked = self.queue_policy == "fifo"
        self.queue = remaining
        if placed:
            _telemetry.emit("schedule.place", policy=self.policy.name, mode="online",
                            placed=len(placed), rejected=0, seconds=time.perf_counter() - t0)
        return placed

    def fail_node(self, node_name: str) -> list[Placement]:
        """Mark a node down and re-place its tasks (largest first) elsewhere.  Returns one
        Placement per task that was on it: the new node, or ``None`` with the reason (such
        a task is queued when the queue policy allows and some node could hold it).  When
        the node ran tasks, one ``schedule.place`` telemetry event reports them: ``placed``
        re-placed, ``rejected`` dropped (neither re-placed nor queued)."""
        t0 = time.perf_counter()
        if node_name not in self._index:
            raise InputError(f"unknown node {node_name!r}", name="node_name", got=node_name)
        j = self._index[node_name]
        self.down[j] = True
        evicted = [(name, t, d) for name, (k, t, d) in self._placed.items() if k == j]
        for name, t, _d in evicted:
            del self._placed[name]
            if t.group is not None:
                self._groups[j][t.group] -= 1
            for g in t.anti_affinity:
                self._anti[j][g] -= 1
        self.free[j] = 0.0
        out = []
        scale = np.where(self.capacity.sum(axis=0) > 0, self.capacity.sum(axis=0), 1.0)
        evicted.sort(key=lambda e: -float((e[2] / scale).sum()))
        for _, t, _ in evicted:
            jj, reason, ever, d = self._choose(t)
            if jj >= 0:
                out.append(self._commit(t, jj, d))
            elif ever and self.queue_policy != "reject":
                self.queue.append(t)
                out.append(Placement(t.name, None, f"queued: {reason}"))
            else:
                out.append(Placement(t.name, None, reason))
                self._forget(d)  # dropped: gone from the system
        if out:  # the tasks it dropped are what an operator most needs to see counted
            placed = sum(p.placed for p in out)
            queued = sum(1 for p in out if not p.placed and p.reason.startswith("queued"))
            _telemetry.emit("schedule.place", policy=self.policy.name, mode="online",
                            placed=placed, rejected=len(out) - placed - queued,
                            seconds=time.perf_counter() - t0)
        return out

    def restore_node(self, node_name: str) -> list[Placement]:
        """Bring a failed node back (empty); returns the queued tasks that got placed."""
        t0 = time.perf_counter()
        if node_name not in self._index:
            raise InputError(f"unknown node {node_name!r}", name="node_name", got=node_name)
        j = self._index[node_name]
        if self.down[j]:
            self.down[j] = False
            self.free[j] = self.capacity[j]
        return self._drain(t0)

    def explain(self, task: Task) -> Explanation:
        """Dry run: every node's verdict and score, without placing anything."""
        if not isinstance(task, Task):
            raise InputTypeError("task must be an edgekit.types.Task", name="task")
        unknown = self._unknown(task)
        d = self.demand_vector(task)
        if unknown:
            reason = f"no node offers {', '.join(unknown)}"
            return Explanation(task.name, None, tuple(
                NodeVerdict(n.name, "resource", reason) for n in self.nodes), reason)
        ok, why, _ = self._verdicts(task, d)
        idx = np.flatnonzero(ok)
        per: dict[str, np.ndarray] = {}
        p = self._prep
        for k, name in enumerate(SCORERS):
            w = np.zeros(len(SCORERS))
            w[k] = 1.0
            per[name] = _schedule_ref.scores(self.free[idx], self.capacity[idx], p.inv[idx], d,
                                             p.norm, w,
                                             p.sx, p.sy, p.seed, self._key + 1, idx)
        total = _schedule_ref.scores(self.free[idx], self.capacity[idx], p.inv[idx], d, p.norm,
                                     p.weights,
                                     p.sx, p.sy, p.seed, self._key + 1, idx)
        verdicts = []
        pos = {int(j): i for i, j in enumerate(idx)}
        for j, node in enumerate(self.nodes):
            if j in pos:
                i = pos[j]
                verdicts.append(NodeVerdict(node.name, None, None, float(total[i]), {
                    s: float(per[s][i]) for s in SCORERS}))
            else:
                verdicts.append(NodeVerdict(node.name, why[j][0], why[j][1]))
        if idx.size == 0:
            return Explanation(task.name, None, tuple(verdicts),
                               self._summary(why, len(self.nodes)))
        planned: tuple[str, ...] = ()
        mask = ok
        if self._plan is not None:  # planned as submit would, on a copy of what it learned
            plan = self._plan.copy()
            pref = plan.route(plan.observe(d, self.free, ~self.down), ok, self.free, ~self.down)
            if pref is not None:
                mask = pref
                planned = tuple(self.nodes[i].name for i in np.flatnonzero(pref))
        j, _ = _kernel.select(p, self.free, d, self._key + 1, mask.astype(np.uint8))
        if self._admit is not None:  # judged as submit would, on a copy of what it learned
            state = self._admit.copy()
            state.observe(d)
            j, reason = self._judge(state, d, j, ok)
            if j < 0:
                return Explanation(task.name, None, tuple(verdicts), reason, planned)
        return Explanation(task.name, self.nodes[j].name, tuple(verdicts), None, planned)

    # -- state ----------------------------------------------------------------------------

    @property
    def placements(self) -> Mapping[str, str]:
        """Task name -> node name of every placed task."""
        return MappingProxyType({k: self.nodes[v[0]].name for k, v in self._placed.items()})

    def utilization(self) -> dict[str, float]:
        """Per resource: placed demand / capacity of the nodes that are up."""
        up = ~self.down
        cap = self.capacity[up].sum(axis=0)
        used = (self.capacity[up] - self.free[up]).sum(axis=0)
        return {r: float(used[i] / cap[i]) if cap[i] > 0 else 0.0
                for i, r in enumerate(self.resources)}


def place(tasks: Sequence[Task], nodes: Sequence[Node], *, policy: str | Policy = "default",
          mode: str = "online", latency_ms: Mapping[str, Mapping[str, float]] | None = None,
          time_budget_s: float = 1.0, seed: int = 0,
          admission: str | Admission | None = None) -> list[Placement]:
    """Place ``tasks`` on ``nodes`` in one call; one :class:`~edgekit.types.Placement` per
    task, in the tasks' order (``node=None`` and a ``reason`` when not placed).

    ``mode="online"`` places in the given order (``admission``: see :class:`Scheduler`);
    ``mode="batch"`` runs
    :func:`~edgekit.schedule.place_batch` in batch mode on the tasks without affinity rules
    (with the static filters as an eligibility mask), then places the tasks that have
    affinity or anti-affinity rules online, in order, on what is left.
    """
    tasks = _unique_named(tasks, Task, "tasks")
    if mode not in ("online", "batch"):
        raise OptionsError("mode must be 'online' or 'batch'", name="mode", got=mode)
    if isinstance(time_budget_s, bool) or not isinstance(time_budget_s, numbers.Real) \
            or not time_budget_s >= 0:
        raise OptionsError("time_budget_s must be a number >= 0", name="time_budget_s")
    if admission is not None and mode != "online":
        raise OptionsError("admission applies to mode='online'", name="admission",
                           got=admission)
    seed = _kernel.as_seed(seed)
    t0 = time.perf_counter()
    sched = Scheduler(nodes, policy=policy, latency_ms=latency_ms, admission=admission)
    out = _place_all(sched, tasks, mode, time_budget_s, seed)
    placed = sum(p.placed for p in out)
    _telemetry.emit("schedule.place", policy=sched.policy.name, mode=mode, placed=placed,
                    rejected=len(out) - placed, seconds=time.perf_counter() - t0)
    return out


def _place_all(sched: Scheduler, tasks: list[Task], mode: str, time_budget_s: float,
               seed: int) -> list[Placement]:
    if mode == "online":
        return [sched._submit(t, emit=False) for t in tasks]
    plain = [i for i, t in enumerate(tasks) if not (t.affinity or t.anti_affinity
                                                     or sched._unknown(t))]
    results: dict[int, Placement] = {}
    if plain and sched.nodes:
        dem = np.array([sched.demand_vector(tasks[i]) for i in plain])
        mask = np.array([[sched._static(tasks[i], j, dem[k]) is None
                          for j in range(len(sched.nodes))] for k, i in enumerate(plain)],
                        dtype=bool)
        assign = _batch.assign(dem, sched.capacity, sched.policy, "batch",
                               mask=np.ascontiguousarray(mask, dtype=np.uint8),
                               time_budget_s=time_budget_s, seed=seed)
        for k, i in enumerate(plain):
            if assign[k] >= 0:
                results[i] = sched._commit(tasks[i], int(assign[k]), dem[k])
    for i, t in enumerate(tasks):
        if i not in results:
            results[i] = sched._submit(t, emit=False)
    return [results[i] for i in range(len(tasks))]
