"""Seeded clusters and workloads, and the utilization they are judged by.

Definitions (used by the benchmarks, the simulator and ``docs/schedule.md``):

* **value** of a task: ``v_t = (1/R) * sum_r d[t, r] / C[r]`` where ``C[r]`` is the whole
  cluster's capacity of resource ``r``: the task's share of the cluster, averaged over the
  resources.
* **utilization** of a placement: the sum of the values of the placed tasks, i.e. the mean
  over resources of (placed demand / cluster capacity).  1.0 means every resource is full.
* **load** of a workload: the sum of the values of all its tasks (placed or not).  A
  workload of load 1.5 asks for 1.5 times the cluster on average over resources.

:func:`workload` draws tasks one at a time from a named distribution until the load is
reached (the last task crosses it), so the number of tasks varies with the seed.
"""

from __future__ import annotations

import numbers

import numpy as np

from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.schedule._kernel import TOL_REL, as_amounts, as_seed, check_capacity

__all__ = [
    "EDGE_CLUSTER_10",
    "RESOURCES",
    "WORKLOADS",
    "random_cluster",
    "task_values",
    "utilization",
    "workload",
]

RESOURCES: tuple[str, ...] = ("cpu", "mem_gib")

# The 10-node heterogeneous edge cluster of the benchmarks: (cores, GiB) per node, from a
# 4-core 8 GiB gateway to a 32-core 64 GiB server.  Totals: 144 cores, 288 GiB.
EDGE_CLUSTER_10: np.ndarray = np.array(
    [[4, 8], [4, 16], [8, 8], [8, 32], [16, 16], [16, 64], [32, 32], [32, 64], [8, 16],
     [16, 32]], dtype=np.float64)
EDGE_CLUSTER_10.flags.writeable = False

WORKLOADS: tuple[str, ...] = ("uniform", "heavy_tailed", "mix")


def _draw(kind: str, rng: np.random.Generator, n: int, cap_max: np.ndarray) -> np.ndarray:
    """``n`` demands (cores, GiB) of a workload, quantized to 1/64 core and 1/64 GiB (at
    least 1/64 of each)."""
    if kind == "uniform":  # small tasks: 0.1..2 cores, 0.25..4 GiB, independent
        d = np.column_stack([rng.uniform(0.1, 2.0, n), rng.uniform(0.25, 4.0, n)])
    elif kind == "heavy_tailed":  # lognormal sizes (sigma 1), mem correlated with cpu
        cpu = 0.25 * rng.lognormal(0.0, 1.0, n)
        d = np.column_stack([cpu, cpu * rng.uniform(1.0, 3.0, n)])
    elif kind == "mix":  # half cpu-heavy (1..4 cores, 0.25..1 GiB), half mem-heavy
        heavy_cpu = rng.random(n) < 0.5
        cpu = np.where(heavy_cpu, rng.uniform(1.0, 4.0, n), rng.uniform(0.1, 0.5, n))
        mem = np.where(heavy_cpu, rng.uniform(0.25, 1.0, n), rng.uniform(2.0, 8.0, n))
        d = np.column_stack([cpu, mem])
    else:
        raise OptionsError(f"unknown workload {kind!r}; known: {', '.join(WORKLOADS)}",
                           name="workload", got=kind)
    d = np.minimum(np.maximum(np.round(d * 64) / 64, 1 / 64), cap_max)
    return d  # every task fits the largest node when it is empty


def _workload_cluster(capacity: object) -> np.ndarray:
    """A cluster the workloads can be drawn for: (nodes >= 1, 2) amounts of
    :data:`RESOURCES`, each resource present somewhere (the load divides by its total)."""
    cap = check_capacity(as_amounts(capacity, "capacity"))
    if cap.shape[1] != len(RESOURCES) or cap.shape[0] == 0:
        raise InputError(f"capacity must be (nodes >= 1, {len(RESOURCES)}): the workloads ask "
                         f"for {', '.join(RESOURCES)}", name="capacity",
                         expected=f"(n, {len(RESOURCES)})", got=cap.shape)
    if not (cap.sum(axis=0) > 0).all():
        raise InputError("capacity must offer some of every resource of the workloads "
                         f"({', '.join(RESOURCES)})", name="capacity", got=cap.sum(axis=0))
    return cap


def task_values(demands: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Each task's value ``v_t`` (its share of the cluster, mean over resources)."""
    demands = as_amounts(demands, "demands")
    capacity = check_capacity(as_amounts(capacity, "capacity"))
    total = capacity.sum(axis=0)
    if demands.shape[1] != capacity.shape[1]:
        raise InputError("demands and capacity must have the same number of resources",
                         name="demands", expected=capacity.shape[1], got=demands.shape[1])
    share = np.divide(demands, total, out=np.zeros_like(demands), where=total > 0)
    return share.mean(axis=1)


def utilization(assignment: np.ndarray, demands: np.ndarray, capacity: np.ndarray) -> float:
    """Utilization of a placement: the sum of the values of the placed tasks.

    ``assignment`` is (tasks,) ints, a node index or -1 (not placed), as
    :func:`~edgekit.schedule.place_batch` returns; a placement that puts more on a node
    than it holds (beyond the fit test's 1e-9 x capacity) raises InputError rather than
    scoring above what is possible."""
    values = task_values(demands, capacity)
    demands = as_amounts(demands, "demands")
    capacity = as_amounts(capacity, "capacity")
    a = np.asarray(assignment)
    if a.dtype.kind not in "iu":
        raise InputTypeError("assignment must be an integer array", name="assignment",
                             got=str(a.dtype))
    if a.shape != (demands.shape[0],):
        raise InputError(f"assignment must have shape ({demands.shape[0]},), got {a.shape}",
                         name="assignment", expected=(demands.shape[0],), got=a.shape)
    if a.size and (a.min() < -1 or a.max() >= capacity.shape[0]):
        raise InputError(f"assignment holds node indices in -1..{capacity.shape[0] - 1}",
                         name="assignment", got=(int(a.min()), int(a.max())))
    placed = a >= 0
    used = np.zeros_like(capacity)
    np.add.at(used, a[placed], demands[placed])
    over = used > capacity * (1 + TOL_REL)
    if over.any():
        j, r = np.argwhere(over)[0]
        raise InputError(f"the placement overcommits node {j}: {used[j, r]:g} of resource {r} "
                         f"placed on {capacity[j, r]:g}", name="assignment", got=int(j))
    return float(values[placed].sum())


def workload(kind: str, load: float, capacity: np.ndarray = EDGE_CLUSTER_10, *,
             seed: int = 0) -> np.ndarray:
    """Demands (tasks, 2) of workload ``kind`` (one of :data:`WORKLOADS`) drawn with
    ``seed`` until their total value reaches ``load`` (> 0), in arrival order."""
    if isinstance(load, bool) or not isinstance(load, numbers.Real) or not 0 < load <= 100:
        raise OptionsError("load must be a number in (0, 100]", name="load", got=load)
    load = float(load)
    capacity = _workload_cluster(capacity)
    rng = np.random.default_rng(as_seed(seed))
    cap_max = capacity.max(axis=0)
    total = capacity.sum(axis=0)
    chunks, value = [], 0.0
    while value < load:
        d = _draw(kind, rng, 256, cap_max)
        v = (d / total).mean(axis=1)
        cum = value + np.cumsum(v)
        stop = int(np.searchsorted(cum, load))  # first index where cum >= load
        if stop < d.shape[0]:
            chunks.append(d[: stop + 1])
            break
        chunks.append(d)
        value = float(cum[-1])
    return np.ascontiguousarray(np.concatenate(chunks))


def random_cluster(n_nodes: int, *, seed: int = 0) -> np.ndarray:
    """A heterogeneous cluster of ``n_nodes`` (cores, GiB) drawn from the sizes of
    :data:`EDGE_CLUSTER_10`."""
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, numbers.Integral) or n_nodes < 1:
        raise OptionsError("n_nodes must be a positive int", name="n_nodes", got=n_nodes)
    rng = np.random.default_rng(as_seed(seed))
    return np.ascontiguousarray(EDGE_CLUSTER_10[rng.integers(0, 10, n_nodes)])
