"""LP-planned routing for online placement (part of edgekit's default policy).

Online, a scorer sees one task and the nodes' free amounts; it cannot know that the
cpu-heavy tasks still to come need the cpu-rich nodes.  A :class:`Plan` gives it that
knowledge from the tasks seen so far, without looking ahead:

1. *Classes.*  A task's direction is its demand in cluster units (``d_r / C_r``, ``C_r``
   the cluster's total of resource r) divided by their sum; its class is that direction
   quantized to ``bins`` steps per coordinate (the first R-1 coordinates, R the resources
   the cluster has, total > 0; for R > 2 ``round(bins ** (1 / (R - 1)))`` steps, at least
   2).  With two resources the
   class is ``floor(bins * cpu share)``.  A task that asks for nothing has no class.
2. *The plan.*  After ``warmup`` tasks, and again every ``replan_every`` placements, a
   small linear program plans how the free capacity would be filled by tasks in the mix
   seen so far: variables ``y[k, g]`` (value of class k planned on node group g; a group is
   one node when the cluster has at most ``max_groups`` nodes, else the nodes whose free
   amounts point the same way), per group and resource ``sum_k a[k] y[k, g] <= F[g]``
   (``a[k]``: the class's mean demand per unit of value, ``F[g]``: the group's free
   amounts, cluster units), per class ``sum_g y[k, g] <= supply x free x m[k]`` (``m[k]``:
   the class's share of the value seen; ``free``: the cluster's free capacity in value
   units), maximize ``sum (1 + align x cos(a[k], F[g])) y[k, g]``: as much value as fits,
   and among the many plans that place as much, the one that sends each class where the
   free amounts point its way (without this term the solver's choice among them is
   arbitrary, and measurably worse).
3. *Routing.*  A task of class k may go to the eligible nodes whose group has planned
   room left for class k (``y[k, g]`` minus what was routed there since the plan); when no
   such node can take it, to any eligible node.
4. *Fit loss.*  Among those nodes, only the ones where the task destroys the fewest copies
   of the recent tasks are kept: for node j, over the last ``fit_window`` tasks seen, the
   number of copies (at most ``fit_copies`` per task) that j's leftover holds now minus
   after placing the task.  It counts room in units of the tasks actually arriving, so it
   sees the end of a stream coming: a leftover that holds 1.9 typical tasks holds one.
   On a *skewed* stream (the mean skew of the tasks seen, 0 for a task in the cluster's
   proportions and 0.5 for one that asks for a single resource, is at least
   ``skew_threshold``), and on any stream once the cluster's fullest resource is
   ``fill_gate`` full, the filter goes first (with ``fit_copies_skewed`` copies on a skewed
   stream) and the plan's nodes are taken among the survivors: a skewed stream's tasks of
   the two kinds must share every node, which the plan's fluid amounts do not see.
5. *Sampled futures.*  On a skewed stream, once the cluster's fullest resource is
   ``sample_gate`` full and on clusters of at most ``sample_nodes`` usable nodes, every
   node the task fits (not only the ones stages 3-4 kept) is scored by the value that
   ``scenarios`` sampled futures place after the task goes there: a future is a bootstrap
   resample of the recent tasks (the ``fit_window`` last ones and this one) long enough to
   ask for ``horizon`` x the cluster's free capacity (value units: it needs neither the
   load nor the number of tasks to come; 512 tasks at most), completed greedily by least
   balanced variance on the usable nodes (the C kernel ``ek_sched_futures``).  The same
   futures, drawn from ``seed`` and the task's position in the stream, serve every node.
   The nodes of best mean value are kept, those of stages 3-4 among them when there are
   any.  The plan's fluid amounts and the filter's counts miss how the two kinds of a
   skewed stream must share each node's last room; whole sampled tasks see it (on mix at
   load 1.0 the stage gains 0.4 to 0.6 point; on uniform and heavy_tailed it measured
   worse, so it does not run there).  The online stochastic optimization of Van
   Hentenryck and Bent, expectation variant, with common random numbers.
6. The policy's scorers choose among what is left.  A plan never declines a task that fits.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from edgekit.errors import OptionsError

__all__ = ["Plan"]


# The LP has up to bins x max_groups variables and is solved densely at every replan
# (64 x 64: ~7 MB, seconds per thousand tasks; 300 x 300 ran for minutes, 10^4 groups
# would need tens of GB); fit_window rows are allocated up front and scanned per task.
# A decision of the sampled futures costs up to candidates x scenarios x 512 x nodes kernel
# steps: 30-55 ms at the defaults (16 nodes, 32 futures, futures of 512 tasks) and ~0.3 s
# at these limits (32 nodes, 256 futures).
_MAX_INT_OPTION = {"bins": 64, "max_groups": 64, "fit_window": 10_000, "scenarios": 256,
                   "sample_nodes": 32, "seed": (1 << 63) - 1}
# the longest sampled future, in tasks (bounds a decision's cost with a small task stream)
_MAX_FUTURE = 512


@dataclass(frozen=True, slots=True)
class Plan:
    """LP-planned routing for online placement (see the module docstring).

    Attributes:
        bins: quantization steps of a task's direction (two resources: bins of cpu share;
            at most 64).
        supply: the planned future demand, as a multiple of the cluster's free capacity
            (value units); 1.0 plans for a stream that fills the cluster.
        replan_every: placements between two plans, at least.
        replan_share: and at least this share of the free capacity at the last plan (value
            units) placed since: on a large cluster, where ten tasks change little, plans
            are as far apart as it takes to fill 1% of what was free (on ``EDGE_CLUSTER_10``
            ten tasks always do: the count decides).
        warmup: tasks seen before the first plan (placed by the scorers alone until then).
        align: weight of the alignment term that picks, among equally full plans, the one
            that sends each class where the free amounts point its way.
        max_groups: clusters with more nodes than this are planned over at most this many
            groups of nodes, by the direction of their free amounts (at most 64).
        fit_window: the fit-loss filter counts copies of the last this many tasks seen
            (0: no filter; at most 10,000).
        fit_copies: at most this many copies of one recent task count (plan-first order).
        fit_copies_skewed: the same in the filter-first order of a skewed stream.
        skew_threshold: the stream counts as skewed when the mean skew of the tasks seen
            (``(max_r dir_r - 1/R) / (2 (1 - 1/R))``: 0 for a task in the cluster's own
            proportions, 0.5 for one that asks for a single resource) reaches this.
        fill_gate: from this utilization of the cluster's fullest resource on, the filter
            goes first on any stream.
        scenarios: sampled futures that choose the node on a skewed stream (0: none; at
            most 256).
        horizon: a sampled future asks for this x the cluster's free capacity (value
            units; > 0).
        sample_gate: the futures choose from this utilization of the cluster's fullest
            resource on (in [0, 1]).
        sample_nodes: and only on clusters of at most this many usable nodes (1..32): a
            decision costs up to candidates x futures x 512 x nodes kernel steps (30-55 ms
            at the defaults when the futures are 512 tasks long).
        seed: seed of the sampled futures (an int >= 0); a decision's futures depend only
            on it, the tasks seen and the task's position in the stream.
        arm_load: the plan routes no task (the scorers choose among all eligible nodes)
            until the value *offered* (the values of the tasks observed, minus those of the
            tasks released: what the stream has asked of the cluster, mean over resources)
            exceeds this (>= 0; 0: from the warm-up on).  It learns from every task all the
            same.  The default policy uses 1.0: on workload families it was not tuned on,
            the stages gained where the stream asked for more than the cluster holds and
            lost where it did not (docs/schedule.md, "Held-out families").
    """

    bins: int = 16
    supply: float = 1.0
    replan_every: int = 10
    replan_share: float = 0.01
    warmup: int = 20
    align: float = 0.1
    max_groups: int = 16
    fit_window: int = 100
    fit_copies: int = 8
    fit_copies_skewed: int = 2
    skew_threshold: float = 0.3
    fill_gate: float = 0.9
    scenarios: int = 32
    horizon: float = 1.0
    sample_gate: float = 0.6
    sample_nodes: int = 16
    seed: int = 0
    arm_load: float = 0.0

    def __post_init__(self) -> None:
        for name, low in (("bins", 1), ("replan_every", 1), ("warmup", 0), ("max_groups", 1),
                          ("fit_window", 0), ("fit_copies", 1), ("fit_copies_skewed", 1),
                          ("scenarios", 0), ("sample_nodes", 1), ("seed", 0)):
            v = getattr(self, name)
            high = _MAX_INT_OPTION.get(name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) \
                    or v < low or (high is not None and v > high):
                span = f">= {low}" if high is None else f"in {low}..{high}"
                raise OptionsError(f"Plan.{name} must be an int {span}, got {v!r}",
                                   name=name, got=v)
            object.__setattr__(self, name, int(v))
        for name, low in (("supply", 0.0), ("align", 0.0), ("replan_share", 0.0),
                          ("skew_threshold", 0.0), ("fill_gate", 0.0), ("horizon", 0.0),
                          ("sample_gate", 0.0), ("arm_load", 0.0)):
            v = getattr(self, name)
            positive = name in ("supply", "horizon")
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) \
                    or not math.isfinite(v) or v < low or (positive and v == 0) \
                    or (name == "sample_gate" and v > 1):
                span = "> 0" if positive else "in [0, 1]" if name == "sample_gate" else ">= 0"
                raise OptionsError(f"Plan.{name} must be a finite number {span}, got {v!r}",
                                   name=name, got=v)
            object.__setattr__(self, name, float(v))


# degenerate pivots in a row before _simplex_max turns to Bland's rule
_STALL = 50


def _simplex_max(c: np.ndarray, a: np.ndarray, b: np.ndarray, *, max_pivots: int | None = None
                 ) -> np.ndarray:
    """Maximize ``c @ x`` subject to ``a @ x <= b``, ``x >= 0``, for ``b >= 0`` (the origin
    is feasible, so no phase 1).  Dense tableau, Dantzig's rule (most negative reduced cost),
    ties in the ratio test to the smallest basic index; after :data:`_STALL` degenerate
    pivots in a row (no progress: the plan's LP has ``b = 0`` rows for every exhausted
    resource) Bland's rule (the lowest-index improving column) until a pivot makes
    progress, so that degenerate cycling ends (Beale's example cycles under Dantzig's rule
    alone).  Returns a basic solution: optimal, or the last one reached within
    ``max_pivots``; for ``a >= 0`` scaled back into ``a @ x <= b`` if rounding pushed it
    out (a feasible answer is the contract the plan relies on)."""
    m, n = a.shape
    b = np.maximum(b, 0.0)  # a free amount the fit tolerance overdrew by a hair: none free
    tab = np.zeros((m + 1, n + m + 1))
    tab[:m, :n] = a
    tab[:m, n:n + m] = np.eye(m)
    tab[:m, -1] = b
    tab[m, :n] = -c
    basis = np.arange(n, n + m)
    scale = max(1.0, float(np.abs(a).max(initial=0.0)))
    eps = 1e-12 * scale
    done = -1e-12 * max(1.0, float(np.abs(c).max(initial=0.0)))
    limit = max_pivots if max_pivots is not None else 20 * (m + n)
    stall = 0
    for _ in range(limit):
        red = tab[m, :-1]
        if stall < _STALL:
            e = int(np.argmin(red))
            if red[e] >= done:
                break
        else:
            neg = np.flatnonzero(red < done)
            if neg.size == 0:
                break
            e = int(neg[0])
        col = tab[:m, e]
        pos = col > eps
        if not pos.any():  # unbounded: cannot happen with a bounded feasible set
            break
        ratio = np.full(m, np.inf)
        ratio[pos] = tab[:m, -1][pos] / col[pos]
        best = ratio.min()
        tie = np.flatnonzero(ratio <= best + 1e-12 * max(1.0, best))
        r = int(tie[np.argmin(basis[tie])])
        stall = stall + 1 if tab[r, -1] <= 0.0 else 0
        tab[r] /= tab[r, e]
        f = tab[:, e].copy()
        f[r] = 0.0
        tab -= np.outer(f, tab[r])
        basis[r] = e
    x = np.zeros(n + m)
    x[basis] = np.maximum(tab[:m, -1], 0.0)
    x = x[:n]
    if not np.isfinite(x).all():  # a blown-up tableau: plan nothing rather than nonsense
        return np.zeros(n)
    if m and n and (a >= 0).all():
        ax = a @ x
        over = ax > b + 1e-9 * np.maximum(1.0, np.abs(b))
        if over.any():
            x *= float(np.min(b[over] / ax[over]))
    return x


class PlanState:
    """What a :class:`Plan` has learned on one cluster: class statistics of the tasks seen
    and the current plan's remaining room per (class, node group).  Private to the
    schedulers (``place_batch`` online, :class:`~edgekit.schedule.Scheduler`)."""

    def __init__(self, capacity: np.ndarray, plan: Plan) -> None:
        self.plan = plan
        n_res = capacity.shape[1]
        total = capacity.sum(axis=0)
        self.icl = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
        self.n_res = n_res
        # a resource no node has (total 0) is no dimension of a task's direction: the
        # classes, groups and skew are those of the cluster without it
        self.live_res = total > 0
        n_live = int(self.live_res.sum())
        self.n_live = n_live
        self.steps = plan.bins if n_live <= 2 else max(2, round(plan.bins ** (1 / (n_live - 1))))
        self.group_steps = plan.max_groups if n_live <= 2 else max(
            1, int(plan.max_groups ** (1 / (n_live - 1))))
        self.keys: dict[tuple[int, ...], int] = {}
        self.mass = np.zeros(0)  # value seen per class
        self.dem = np.zeros((0, n_res))  # demand seen per class, cluster units
        self.seen = 0
        self.since = 0
        self.since_value = 0.0  # value placed since the last plan
        self.due_value = 0.0  # replan_share x the free value at the last plan
        self.room: np.ndarray | None = None  # (classes at plan time, groups)
        self.group = np.full(capacity.shape[0], -1, dtype=np.int64)
        self.total = total
        self._cap = capacity
        self.recent = np.zeros((plan.fit_window, n_res))  # ring of the tasks seen before
        self.n_recent = 0  # ... the current one (the last observed)
        self.current: np.ndarray | None = None
        self.skew_sum = 0.0
        self.offered = 0.0  # value of the tasks observed minus that of the ones released

    def release(self, demand: np.ndarray) -> None:
        """A task observed earlier left (or was withdrawn): it no longer counts as offered."""
        self.offered -= float((np.asarray(demand, dtype=np.float64) * self.icl).mean())

    def copy(self) -> PlanState:
        new = PlanState.__new__(PlanState)
        for k in ("plan", "icl", "n_res", "live_res", "n_live", "steps", "group_steps",
                  "seen", "since", "since_value", "due_value", "total", "_cap", "n_recent",
                  "skew_sum", "offered"):  # the arrays here are never written after __init__
            setattr(new, k, getattr(self, k))
        new.current = None if self.current is None else self.current.copy()
        new.keys = dict(self.keys)
        new.mass = self.mass.copy()
        new.dem = self.dem.copy()
        new.room = None if self.room is None else self.room.copy()
        new.group = self.group.copy()
        new.recent = self.recent.copy()
        return new

    def _key(self, share: np.ndarray, steps: int) -> tuple[int, ...] | None:
        share = share[self.live_res]
        s = float(share.sum())
        if not s > 0:
            return None
        q = np.minimum(np.floor(share[:-1] / s * steps), steps - 1).astype(np.int64)
        return tuple(int(v) for v in q) if q.size else (0,)

    def classify(self, demand: np.ndarray) -> int:
        """The class of ``demand`` (-1: none, or a class never seen)."""
        key = self._key(demand * self.icl, self.steps)
        return -1 if key is None else self.keys.get(key, -1)

    def observe(self, demand: np.ndarray, free: np.ndarray, usable: np.ndarray | None = None
                ) -> int:
        """A new task arrives: plan first if a plan is due (from the tasks seen before this
        one), then learn the task; returns its class (-1: none)."""
        p = self.plan
        if self.seen >= p.warmup and (self.room is None or (
                self.since >= p.replan_every and self.since_value >= self.due_value)):
            self._replan(free, usable)
        self.seen += 1
        self.offered += float((np.asarray(demand, dtype=np.float64) * self.icl).mean())
        if self.current is not None:  # the previous task joins the window and the skew
            w = self.plan.fit_window
            if w:
                self.recent[self.n_recent % w] = self.current
                self.n_recent += 1
            self.skew_sum += self._skew(self.current)
        self.current = np.array(demand, dtype=np.float64)
        share = demand * self.icl
        key = self._key(share, self.steps)
        if key is None:
            return -1
        k = self.keys.get(key)
        if k is None:
            k = self.keys[key] = len(self.keys)
            self.mass = np.append(self.mass, 0.0)
            self.dem = np.vstack([self.dem, np.zeros(self.n_res)])
        self.mass[k] += float(share.mean())
        self.dem[k] += share
        return k

    def _skew(self, demand: np.ndarray) -> float:
        share = demand * self.icl
        s = float(share.sum())
        r = self.n_live
        if not s > 0 or r < 2:
            return 0.0
        return float((share.max() / s - 1.0 / r) / (2.0 * (1.0 - 1.0 / r)))

    def route(self, k: int, ok: np.ndarray, free: np.ndarray,
              usable: np.ndarray | None = None, demand: np.ndarray | None = None
              ) -> np.ndarray | None:
        """The nodes among ``ok`` (bool mask of eligible nodes where the task fits) that
        the scorers should choose from, or None for all of ``ok``: the plan's nodes for
        class ``k`` and the fit-loss filter, in the order of the module docstring.  The
        task is the last one observed, or ``demand`` when another one is placed (a queued
        or evicted task retried: the filter must weigh what *it* takes from a node)."""
        p = self.plan
        if p.arm_load > 0 and not self.offered > p.arm_load:
            return None
        cur = self.current if demand is None else np.asarray(demand, dtype=np.float64)
        base = self._route(k, ok, free, usable, cur)
        if not p.scenarios or cur is None or self.seen - 1 < p.warmup or int(ok.sum()) < 2 \
                or not self._skewed():
            return base
        up = np.ones(ok.size, dtype=bool) if usable is None else usable
        if int(up.sum()) > p.sample_nodes or self._fill(free, usable) < p.sample_gate:
            return base
        return self._sample(ok, free, up, cur, ok if base is None else base)

    def _skewed(self) -> bool:
        done = self.seen - 1  # tasks seen before the current one
        return done > 0 and self.skew_sum / done >= self.plan.skew_threshold

    def _fill(self, free: np.ndarray, usable: np.ndarray | None) -> float:
        """Utilization of the fullest resource over the usable nodes (None: all)."""
        up = slice(None) if usable is None else usable
        cap_up = self._cap[up].sum(axis=0)
        used = cap_up - free[up].sum(axis=0)
        fill = np.divide(used, cap_up, out=np.zeros_like(used), where=cap_up > 0)
        return float(fill.max(initial=0.0))

    def _route(self, k: int, ok: np.ndarray, free: np.ndarray, usable: np.ndarray | None,
               cur: np.ndarray | None) -> np.ndarray | None:
        """Stages 3 and 4 (plan and fit-loss filter) of :meth:`route`."""
        p = self.plan
        if self.seen - 1 < p.warmup or not p.fit_window or cur is None \
                or int(ok.sum()) < 2:
            return self.prefer(k, ok)
        skewed = self._skewed()
        if not skewed:
            late = self._fill(free, usable) >= p.fill_gate
        if skewed or late:
            keep = self._fit_keep(ok, free, p.fit_copies_skewed if skewed else p.fit_copies,
                                  cur)
            pref = self.prefer(k, keep)
            return keep if pref is None else pref
        pref = self.prefer(k, ok)
        base = ok if pref is None else pref
        if int(base.sum()) < 2:
            return pref
        return self._fit_keep(base, free, p.fit_copies, cur)

    def _fit_keep(self, mask: np.ndarray, free: np.ndarray, copies: int,
                  current: np.ndarray | None = None) -> np.ndarray:
        """The nodes of ``mask`` where placing ``current`` (default: the last task
        observed) loses the fewest copies (at most ``copies`` each) of the recent tasks
        that the node's leftover holds."""
        if current is None:
            current = self.current
        n = min(self.n_recent, self.plan.fit_window)
        c = np.flatnonzero(mask)
        if n == 0:
            return mask
        recent = self.recent[:n]
        pos = recent > 0
        with np.errstate(divide="ignore", over="ignore"):  # 1 / a subnormal demand: inf
            inv = np.where(pos, 1.0 / np.where(pos, recent, 1.0), 0.0)
        fc = np.maximum(free[c] + 1e-9 * self._cap[c], 0.0)
        # A node whose leftover, after the task, still holds `copies` of every recent task
        # loses nothing (the count is capped): its loss is 0, the least there is, and only
        # the other nodes need counting.  Exact: it only skips terms that are `copies`.
        with np.errstate(over="ignore", invalid="ignore"):
            need = np.where(pos.any(axis=0), copies * recent.max(axis=0), 0.0)
        roomy = np.all(np.maximum(fc - current, 0.0) >= need, axis=1)
        tight = np.flatnonzero(~roomy)
        keep = np.zeros(mask.size, dtype=bool)
        if tight.size == 0:
            keep[c] = True
            return keep
        loss = self._losses(fc[tight], current, recent, pos, inv, copies)
        if roomy.any():
            keep[c[roomy]] = True
            keep[c[tight[loss == 0]]] = True
        else:
            keep[c[tight[loss == loss.min()]]] = True
        return keep

    @staticmethod
    def _losses(fc: np.ndarray, current: np.ndarray, recent: np.ndarray, pos: np.ndarray,
                inv: np.ndarray, copies: int) -> np.ndarray:
        """Per leftover row of ``fc``: copies (at most ``copies`` each) of the recent tasks
        it holds now, minus after ``current`` is placed there."""
        x = np.concatenate([fc, np.maximum(fc - current, 0.0)])  # now, after
        # copies of recent task i in leftover x: min over the resources it asks for (a
        # resource it does not ask for does not limit it, whatever the node has of it)
        ratio = np.full((recent.shape[0], x.shape[0]), np.inf)
        for r in range(recent.shape[1]):
            with np.errstate(over="ignore", invalid="ignore"):
                term = np.multiply.outer(inv[:, r], x[:, r])
            term[np.isnan(term)] = 0.0  # inf x 0: a subnormal demand on nothing left
            term[~pos[:, r]] = np.inf
            np.minimum(ratio, term, out=ratio)
        ratio += 1e-9
        np.floor(ratio, out=ratio)
        np.minimum(ratio, copies, out=ratio)
        cnt = ratio.sum(axis=0)
        return cnt[:fc.shape[0]] - cnt[fc.shape[0]:]

    def _sample(self, ok: np.ndarray, free: np.ndarray, up: np.ndarray, cur: np.ndarray,
                base: np.ndarray) -> np.ndarray:
        """Stage 5: the nodes of ``ok`` whose sampled futures place the most value, those of
        ``base`` (the plan and filter's) among them when there are any."""
        p = self.plan
        n = min(self.n_recent, p.fit_window)
        pool = np.vstack([self.recent[:n], cur[None, :]])
        values = (pool * self.icl).mean(axis=1)
        sub = np.flatnonzero(up)  # futures go to the usable nodes only: a failed node's free
        f = free[sub]  # 0 plus its fit tolerance would still take a tiny task
        need = p.horizon * float((np.maximum(f, 0.0).sum(axis=0) * self.icl).mean())
        mean_v = float(values.mean())
        cands = np.flatnonzero(ok & up)
        if not need > 0 or not mean_v > 0 or cands.size == 0 or not values[-1] > 0:
            return base  # (a task of no value changes no future: every node would tie)
        rng = np.random.default_rng([p.seed, self.seen])
        m = int(min(_MAX_FUTURE, need / mean_v * 3 + 8))
        idx = rng.integers(0, pool.shape[0], size=(p.scenarios, m))
        cum = np.cumsum(values[idx], axis=1)
        # m is sized by the mean value: one large recent task (e.g. one that fits nowhere)
        # leaves the futures without it short of need.  Draw on, from the same stream (the
        # tasks drawn so far stay), doubling up to the cap.
        while idx.shape[1] < _MAX_FUTURE and (cum[:, -1] < need).any():
            more = rng.integers(0, pool.shape[0],
                                size=(p.scenarios, min(idx.shape[1], _MAX_FUTURE - idx.shape[1])))
            idx = np.hstack([idx, more])
            cum = np.cumsum(values[idx], axis=1)
        m = idx.shape[1]
        lens = np.minimum((cum < need).sum(axis=1) + 1, m)  # the last task crosses need
        from edgekit.schedule import _kernel  # here: _kernel imports policy, which imports us
        from edgekit.schedule.policy import POLICIES

        # (only the usable nodes' cap, inv and tol are used: the futures have their own order)
        prep = _kernel.Prepared.make(np.ascontiguousarray(self._cap[sub]),
                                     POLICIES["balanced_allocation"])
        score = _kernel.futures(prep, pool, values, idx, lens, np.searchsorted(sub, cands),
                                cur, f).mean(axis=1)
        keep = np.zeros(ok.size, dtype=bool)
        keep[cands[score >= score.max() - 1e-12]] = True
        if (keep & base).any():
            keep &= base
        return keep

    def prefer(self, k: int, ok: np.ndarray) -> np.ndarray | None:
        """The eligible nodes (bool mask ``ok``) with planned room left for class ``k``, or
        None when there are none (the scorers then choose among all of ``ok``)."""
        if self.room is None or k < 0 or k >= self.room.shape[0]:
            return None
        g = self.group
        has = g >= 0
        pref = ok & has
        if not pref.any():
            return None
        room = np.zeros(g.size)
        room[has] = self.room[k, g[has]]
        pref &= room > 1e-12
        return pref if pref.any() else None

    def commit(self, k: int, j: int, demand: np.ndarray) -> None:
        """Class ``k``'s task went to node ``j``: its value leaves the group's room."""
        self.since += 1
        value = float((demand * self.icl).mean())
        self.since_value += value
        if self.room is None or k < 0 or k >= self.room.shape[0] or self.group[j] < 0:
            return
        self.room[k, self.group[j]] -= value

    def _replan(self, free: np.ndarray, usable: np.ndarray | None) -> None:
        self.since = 0
        self.since_value = 0.0
        n_nodes = free.shape[0]
        f = free * self.icl
        live = f.sum(axis=1) > 0
        if usable is not None:
            live &= usable
        self.group = np.full(n_nodes, -1, dtype=np.int64)
        live_idx = np.flatnonzero(live)
        k_n = self.mass.size
        if live_idx.size == 0 or k_n == 0 or not self.mass.sum() > 0:
            self.room = np.zeros((k_n, 0))
            return
        if n_nodes <= self.plan.max_groups:
            self.group[live_idx] = np.arange(live_idx.size)
        else:
            gkeys: dict[tuple[int, ...], int] = {}
            for j in live_idx:
                key = self._key(f[j], self.group_steps)
                self.group[j] = gkeys.setdefault(key, len(gkeys))  # type: ignore[arg-type]
        n_g = int(self.group.max()) + 1
        cap_g = np.zeros((n_g, self.n_res))
        np.add.at(cap_g, self.group[live_idx], f[live_idx])
        use = self.mass > 0
        a = np.zeros_like(self.dem)
        a[use] = self.dem[use] / self.mass[use, None]
        n_r = self.n_res
        # rows: (group, resource) capacities, then per-class supply
        rows = n_g * n_r + k_n
        mat = np.zeros((rows, k_n * n_g))
        for g in range(n_g):
            cols = np.arange(k_n) * n_g + g
            for r in range(n_r):
                mat[g * n_r + r, cols] = a[:, r]
        for k in range(k_n):
            mat[n_g * n_r + k, k * n_g:(k + 1) * n_g] = 1.0
        free_value = float(cap_g.sum(axis=0).mean())
        self.due_value = self.plan.replan_share * free_value
        supply = self.plan.supply * free_value * self.mass / self.mass.sum()
        rhs = np.concatenate([cap_g.ravel(), supply])
        na = np.linalg.norm(a, axis=1)[:, None]
        ng = np.linalg.norm(cap_g, axis=1)[None, :]
        cos = np.divide(a @ cap_g.T, na * ng, out=np.zeros((k_n, n_g)), where=(na * ng) > 0)
        obj = 1.0 + self.plan.align * cos.ravel()
        y = _simplex_max(obj, mat, rhs)
        self.room = y.reshape(k_n, n_g)

