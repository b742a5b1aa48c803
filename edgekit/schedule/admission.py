"""Online admission control: decline (or move) a task that fits when placing it would
strand capacity, judged only from the cluster's state and the tasks seen so far.

Why: in arrival order, a placer that takes every task that fits fills some nodes in one
resource while the other stays free for good (a node with 1 GiB per core that receives
2 GiB-per-core tasks runs out of memory with cores left over).  The optimum leaves such
tasks out.  :class:`Admission` gives an online placer a way to do the same, with no
knowledge of the future (not the number of tasks to come, nor the total load).

The test, for a task of value ``v`` (its share of the cluster, mean over resources: see
:func:`edgekit.schedule.task_values`) that the policy would put on node ``j``:

* **learned mix**: for every pair of resources (r, s), the ratio ``d_r / d_s`` of the
  demands seen so far, in cluster units, kept as a histogram (bins 2**(1/16) apart); ``lo``
  and ``hi`` are its ``quantile`` and ``1 - quantile`` quantiles.
* **stranded** amount of a node's leftover ``f`` (cluster units): for each resource r, the
  largest ``f_r - hi_rs * f_s`` over the other resources s (0 if none is positive): what
  is left of r once s is used up by the most r-hungry of the typical tasks.  ``S(f)`` is
  its mean over resources, in value units.
* **net gain** on node ``j``: ``v - w_j * (S(f_j - d) - S(f_j))``, where
  ``w_j = strand_weight * max(0, (fill_j - fill_threshold) / (1 - fill_threshold))`` and
  ``fill_j`` is node ``j``'s largest per-resource utilization after placing: stranding
  costs nothing while a node is far from full (it can still be rebalanced), and counts
  more the fuller it gets.
* the task goes to ``j`` if the net gain is >= 0; else (``reroute``) to the feasible node
  of highest net gain if that is >= 0; else it is **declined** (not placed although it
  fits; :class:`~edgekit.types.Placement` says ``declined: ...``).  Nothing is declined
  before ``warmup`` tasks have been seen.

The defaults were tuned on seeds 100-149 of the three workloads of ``docs/schedule.md``
at loads 1.0 and 1.5 and are reported on seeds 0-49 there.  It is opt-in: it trades
acceptance for utilization, which only pays when more tasks keep coming.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from edgekit.errors import OptionsError

__all__ = ["AUTO_ARM_LOAD", "Admission", "SampledAdmission", "get_admission"]

# admission="auto": the strand test judges once the stream has offered more than this many
# times the cluster (value units)
AUTO_ARM_LOAD = 1.0


@dataclass(frozen=True, slots=True)
class Admission:
    """Options of the strand-avoiding admission test (see the module docstring).

    Attributes:
        strand_weight: weight of the stranded value at a full node (>= 0; 0 never declines).
        fill_threshold: node utilization (largest over resources, after placing, in [0, 1))
            below which stranding is free.
        quantile: the quantile (in [0, 0.5)) of the learned demand ratios that bounds the
            "typical" tasks; larger is stricter.
        warmup: tasks seen before the first decline (>= 0).
        reroute: when the policy's node loses, try the other feasible nodes before
            declining.
        arm_load: the test judges no task until the value *offered* (the values of the
            tasks seen, minus those of the tasks released: the cluster's share they asked
            for, mean over resources) exceeds this (>= 0; 0: from the start).
            ``admission="auto"`` sets :data:`AUTO_ARM_LOAD` = 1: once the stream has asked
            for more than the whole cluster, declining a task that strands capacity pays
            (more tasks keep coming); before, it only loses what it declines.
    """

    strand_weight: float = 3.0
    fill_threshold: float = 0.5
    quantile: float = 0.2
    warmup: int = 20
    reroute: bool = True
    arm_load: float = 0.0

    def __post_init__(self) -> None:
        for name in ("strand_weight", "fill_threshold", "quantile", "arm_load"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise OptionsError(f"Admission.{name} must be a finite number, got {v!r}",
                                   name=name, got=v)
            object.__setattr__(self, name, float(v))
        if self.strand_weight < 0:
            raise OptionsError("Admission.strand_weight must be >= 0", name="strand_weight",
                               got=self.strand_weight)
        if not 0 <= self.fill_threshold < 1:
            raise OptionsError("Admission.fill_threshold must be in [0, 1)",
                               name="fill_threshold", got=self.fill_threshold)
        if not 0 <= self.quantile < 0.5:
            raise OptionsError("Admission.quantile must be in [0, 0.5)", name="quantile",
                               got=self.quantile)
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, numbers.Integral) \
                or self.warmup < 0:
            raise OptionsError("Admission.warmup must be an int >= 0", name="warmup",
                               got=self.warmup)
        object.__setattr__(self, "warmup", int(self.warmup))
        if self.arm_load < 0:
            raise OptionsError("Admission.arm_load must be >= 0", name="arm_load",
                               got=self.arm_load)
        if not isinstance(self.reroute, bool):
            raise OptionsError("Admission.reroute must be a bool", name="reroute",
                               got=self.reroute)


@dataclass(frozen=True, slots=True)
class SampledAdmission:
    """Online placement by scenario sampling (``admission="sample"``; ``place_batch`` online
    mode only): once the cluster is ``gate`` full on some resource, each arriving task goes
    to the feasible node whose sampled futures place the most value, and the strand test of
    ``strand`` (an :class:`Admission`, ``None`` for none) may then move or decline it.

    A sampled future is a bootstrap resample (with replacement) of the demands seen so far,
    long enough to ask for ``horizon`` x the cluster's remaining free capacity (in value
    units), completed greedily in its order by the policy on the residual capacities; the
    same ``scenarios`` futures (seeded from ``place_batch``'s ``seed`` and the task's
    position) are used for every candidate node, and the policy's own node wins ties.
    Nothing of the real future is used: not the number of tasks to come nor the load.

    Attributes:
        scenarios: sampled futures per decision (>= 1).
        horizon: a future asks for this x the free capacity left (> 0).
        gate: largest per-resource cluster utilization (in [0, 1]) from which tasks are
            judged; below it the policy's node is used.
        warmup: tasks seen before the first judged one (>= 1).
        max_nodes: candidate nodes per decision (>= 1): the policy's node and the next best
            by the policy's score (bounds the cost on large clusters).
        max_future_tasks: longest sampled future (>= 1; bounds the cost).
        strand: the strand test applied after the node is chosen (``None``: never declines).
    """

    scenarios: int = 32
    horizon: float = 1.0
    gate: float = 0.6
    warmup: int = 20
    max_nodes: int = 16
    max_future_tasks: int = 512
    strand: Admission | None = Admission()

    def __post_init__(self) -> None:
        for name, low in (("scenarios", 1), ("warmup", 1), ("max_nodes", 1),
                          ("max_future_tasks", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                raise OptionsError(f"SampledAdmission.{name} must be an int >= {low}, got "
                                   f"{v!r}", name=name, got=v)
            object.__setattr__(self, name, int(v))
        for name in ("horizon", "gate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise OptionsError(f"SampledAdmission.{name} must be a finite number, got "
                                   f"{v!r}", name=name, got=v)
            object.__setattr__(self, name, float(v))
        if not self.horizon > 0:
            raise OptionsError("SampledAdmission.horizon must be > 0", name="horizon",
                               got=self.horizon)
        if not 0 <= self.gate <= 1:
            raise OptionsError("SampledAdmission.gate must be in [0, 1]", name="gate",
                               got=self.gate)
        if self.strand is not None and not isinstance(self.strand, Admission):
            raise OptionsError("SampledAdmission.strand must be an Admission or None",
                               name="strand", got=self.strand)


def get_admission(admission: str | Admission | SampledAdmission | None, *,
                  allow_sample: bool = False) -> Admission | SampledAdmission | None:
    """``None`` (take every task that fits), ``"strand"`` (:class:`Admission` with its
    defaults) or an :class:`Admission`; with ``allow_sample`` (``place_batch`` online) also
    ``"sample"`` (:class:`SampledAdmission` with its defaults) or a
    :class:`SampledAdmission`."""
    if admission is None or isinstance(admission, Admission):
        return admission
    if admission == "strand":
        return Admission()
    if admission == "auto":
        return Admission(arm_load=AUTO_ARM_LOAD)
    if admission == "sample" or isinstance(admission, SampledAdmission):
        if not allow_sample:
            raise OptionsError("admission='sample' is only supported by place_batch (online "
                               "mode), not by place, Scheduler or simulate",
                               name="admission", got=admission)
        return SampledAdmission() if admission == "sample" else admission
    raise OptionsError("admission must be None, 'strand', 'auto', 'sample' (place_batch only), an "
                       f"Admission or a SampledAdmission, got {admission!r}",
                       name="admission", got=admission)
