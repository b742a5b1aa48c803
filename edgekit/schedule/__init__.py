"""Multi-resource task placement: policies apart from mechanism, fused C kernels, a MILP
yardstick and a simulator.

Two tiers:

* :func:`place_batch` on arrays (``demands`` (tasks, resources), ``capacity`` (nodes,
  resources)) -> node index per task, -1 = not placed; ``mode="online"`` or ``"batch"``.
* :func:`place` and :class:`Scheduler` on :class:`edgekit.types.Node` /
  :class:`edgekit.types.Task`: filters (selectors, taints, affinity, anti-affinity, latency
  budgets), release and queueing, rescheduling after a node fails, dry-run explanations.

Online, ``admission="strand"`` (an :class:`Admission`) lets the placer move or decline a
task that fits when placing it would strand capacity (opt-in: it trades acceptance for
utilization); ``admission="auto"`` does so only once the stream has asked for more than
the whole cluster; ``admission="sample"`` (a :class:`SampledAdmission`, ``place_batch`` only)
also picks the node by sampled futures of the tasks seen so far.

:func:`optimal_placement` (extra ``schedule``: scipy) is the yardstick; :func:`simulate`
runs seeded arrivals, departures and failures; :mod:`edgekit.schedule.families` draws
workload families and holds the held-out list the default is judged on.  See
``docs/schedule.md``.
"""

from edgekit.schedule.admission import (
    AUTO_ARM_LOAD,
    Admission,
    SampledAdmission,
    get_admission,
)
from edgekit.schedule.batch import place_batch
from edgekit.schedule.optimal import OptimalResult, optimal_placement
from edgekit.schedule.plan import Plan
from edgekit.schedule.policy import DEFAULT_POLICY, POLICIES, SCORERS, Policy, get_policy
from edgekit.schedule.scheduler import Explanation, NodeVerdict, Scheduler, place
from edgekit.schedule.simulate import SimResult, simulate
from edgekit.schedule.workloads import (
    EDGE_CLUSTER_10,
    WORKLOADS,
    random_cluster,
    task_values,
    utilization,
    workload,
)

__all__ = [
    "AUTO_ARM_LOAD",
    "DEFAULT_POLICY",
    "EDGE_CLUSTER_10",
    "Admission",
    "POLICIES",
    "SCORERS",
    "SampledAdmission",
    "WORKLOADS",
    "Explanation",
    "NodeVerdict",
    "OptimalResult",
    "Plan",
    "Policy",
    "Scheduler",
    "SimResult",
    "get_admission",
    "get_policy",
    "optimal_placement",
    "place",
    "place_batch",
    "random_cluster",
    "simulate",
    "task_values",
    "utilization",
    "workload",
]
