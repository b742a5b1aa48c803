"""Placement policies: scorers combined with weights, in the Kubernetes manner.

A *filter* says whether a node may take a task (it fits; labels, taints, affinity, latency:
see :mod:`edgekit.schedule.scheduler`).  A *scorer* is a pure function of a task's demand
``d`` (one row, resources ``r``), a node's free amounts ``f`` (before placing) and its
capacity ``c``; higher is better.  A :class:`Policy` is a weighted sum of scorers; the node
with the highest total among the feasible ones wins, ties going to the lowest node index.

The scorers (``u_r = (c_r - f_r + d_r) / c_r`` is the node's utilization of resource ``r``
*after* placing; resources with ``c_r == 0`` are left out of every normalized term;
``R`` is the number of resources; ``M_r`` the largest capacity of resource ``r`` over all
nodes):

=============================  ================================================================
name                           score
=============================  ================================================================
``article``                    ``sum_{r: d_r > 0} f_r / d_r``: the article's key, zero demands
                               skipped (the article divides by them).  Picks the emptiest node.
``best_fit``                   ``-sum_r (f_r - d_r) / M_r``: least room left, in cluster units
``worst_fit``                  ``+sum_r (f_r - d_r) / M_r``: most room left
``least_allocated``            ``sum_r (f_r - d_r) / c_r / R`` (Kubernetes LeastAllocated)
``most_allocated``             ``sum_r u_r / R`` (Kubernetes MostAllocated)
``requested_to_capacity_ratio``  ``sum_r shape(u_r) / R``, ``shape`` piecewise linear through
                               the policy's ``shape`` points (Kubernetes
                               RequestedToCapacityRatio; default ``(0, 0), (1, 1)``)
``balanced_allocation``        ``1 - std_r(u_r)`` (Kubernetes BalancedAllocation)
``tetris``                     ``sum_r (d_r / c_r) * (f_r / c_r)``: alignment of the demand
                               with the free vector (Grandl et al., Tetris)
``random``                     a uniform number in [0, 1) from a counter hash of
                               (seed, task key, node index): alone, it is random among the
                               feasible nodes, reproducible from the seed
=============================  ================================================================

``first_fit`` is the policy with no scorer: every feasible node ties and the lowest index wins.

The C kernel and the numpy reference compute each score with the same double operations in
the same order, so they choose the same node, bit for bit.  Divisions by a node's capacity
are multiplications by its precomputed reciprocal (in both), which keeps divisions out of
the per-task loop; the values differ from the written formulas by rounding only.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from edgekit.errors import OptionsError
from edgekit.schedule.plan import Plan

__all__ = ["DEFAULT_POLICY", "POLICIES", "SCORERS", "Policy", "get_policy"]

# The order is part of the kernel's ABI: weights are passed as an array in this order.
SCORERS: tuple[str, ...] = (
    "article",
    "best_fit",
    "worst_fit",
    "least_allocated",
    "most_allocated",
    "requested_to_capacity_ratio",
    "balanced_allocation",
    "tetris",
    "random",
)


@dataclass(frozen=True, slots=True)
class Policy:
    """A weighted combination of scorers.

    Attributes:
        name: a label for reports and telemetry.
        weights: scorer name (one of :data:`SCORERS`) -> weight (finite; zero weights are
            dropped).  Empty means first-fit.
        shape: points ``(utilization, score)`` of the ``requested_to_capacity_ratio`` shape,
            utilization in [0, 1], strictly increasing.
        seed: seed of the ``random`` scorer.
        plan: online only: a :class:`~edgekit.schedule.plan.Plan` routes each task to the
            nodes an LP plan of the free capacity reserves for tasks like it, the scorers
            choosing among them (``None``: the scorers alone).  Batch mode ignores it.
    """

    name: str
    weights: Mapping[str, float] = field(default_factory=dict)
    shape: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 1.0))
    seed: int = 0
    plan: Plan | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise OptionsError("Policy.name must be a non-empty string", name="name")
        if not isinstance(self.weights, Mapping):
            raise OptionsError("Policy.weights must map scorer names to weights",
                               name="weights")
        clean: dict[str, float] = {}
        for key, w in self.weights.items():
            if key not in SCORERS:
                raise OptionsError(f"unknown scorer {key!r}; known: {', '.join(SCORERS)}",
                                   name="weights", got=key)
            if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w):
                raise OptionsError(f"weight of {key!r} must be a finite number, got {w!r}",
                                   name="weights", got=w)
            if w != 0:
                clean[key] = float(w)
        object.__setattr__(self, "weights", MappingProxyType(clean))
        try:
            pts = tuple((float(x), float(y)) for x, y in self.shape)
        except (TypeError, ValueError) as err:
            raise OptionsError("Policy.shape must be (utilization, score) pairs",
                               name="shape") from err
        if len(pts) < 2 or any(not (math.isfinite(x) and math.isfinite(y)) for x, y in pts):
            raise OptionsError("Policy.shape needs at least two finite points", name="shape")
        if any(b[0] <= a[0] for a, b in zip(pts, pts[1:], strict=False)) \
                or pts[0][0] < 0 or pts[-1][0] > 1:
            raise OptionsError("Policy.shape utilizations must increase strictly within [0, 1]",
                               name="shape", got=pts)
        object.__setattr__(self, "shape", pts)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= int(self.seed) < 2**64:
            raise OptionsError("Policy.seed must be an int in 0..2**64-1", name="seed")
        object.__setattr__(self, "seed", int(self.seed))
        if self.plan is not None and not isinstance(self.plan, Plan):
            raise OptionsError("Policy.plan must be None or an edgekit.schedule.Plan",
                               name="plan", got=self.plan)

    def weight_vector(self) -> np.ndarray:
        """The weights as a float64 array in :data:`SCORERS` order (the kernel's input)."""
        return np.array([self.weights.get(s, 0.0) for s in SCORERS], dtype=np.float64)

    def shape_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        xs = np.array([p[0] for p in self.shape], dtype=np.float64)
        ys = np.array([p[1] for p in self.shape], dtype=np.float64)
        return xs, ys

    @property
    def is_random(self) -> bool:
        return "random" in self.weights


# edgekit's default: Kubernetes BalancedAllocation, and once a task of the stream has fitted
# on no node (the stream asks for more than the cluster holds), BalancedAllocation choosing
# among the nodes an LP plan of the free capacity reserves for the task's class (Plan).
# Ungated, the plan's stages won on edgekit's own workloads and lost up to 12 points on
# other families (docs/schedule.md, "Held-out families"); gated, they never lost more than
# 0.2 points there.  Batch mode ignores the plan and reorders and repairs instead.
DEFAULT_POLICY = Policy("default", {"balanced_allocation": 1.0}, plan=Plan(arm_load=1.0))

POLICIES: Mapping[str, Policy] = MappingProxyType({
    "default": DEFAULT_POLICY,
    "article": Policy("article", {"article": 1.0}),
    "best_fit": Policy("best_fit", {"best_fit": 1.0}),
    "worst_fit": Policy("worst_fit", {"worst_fit": 1.0}),
    "first_fit": Policy("first_fit", {}),
    "random": Policy("random", {"random": 1.0}),
    "least_allocated": Policy("least_allocated", {"least_allocated": 1.0}),
    "most_allocated": Policy("most_allocated", {"most_allocated": 1.0}),
    "requested_to_capacity_ratio": Policy("requested_to_capacity_ratio",
                                          {"requested_to_capacity_ratio": 1.0}),
    "balanced_allocation": Policy("balanced_allocation", {"balanced_allocation": 1.0}),
    "tetris": Policy("tetris", {"tetris": 1.0}),
    # kube-scheduler's defaults: LeastAllocated and BalancedAllocation, equal weights
    "kubernetes": Policy("kubernetes", {"least_allocated": 1.0, "balanced_allocation": 1.0}),
    # opt-in: the default's plan stages ungated (the default before issue #17): ahead of the
    # default on edgekit's own three workloads, up to 13 points behind on other families
    "planned": Policy("planned", {"balanced_allocation": 1.0}, plan=Plan()),
})


def get_policy(policy: str | Policy) -> Policy:
    """A :class:`Policy` from a name in :data:`POLICIES` or a Policy (returned as is)."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str) and policy in POLICIES:
        return POLICIES[policy]
    raise OptionsError(f"unknown policy {policy!r}; known: {', '.join(POLICIES)}",
                       name="policy", got=policy)
