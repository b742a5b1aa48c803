"""Workload *families*: named demand distributions x arrival orders x cluster shapes, and
the fixed list of held-out families and seeds that no tuning decision may look at.

A :class:`Family` is ``(demand, order, cluster)``; with a load and a seed,
:func:`family_instance` draws the demands (tasks, resources) and returns them with the
cluster's capacity (nodes, resources).  Demands are drawn one at a time until their total
value (:func:`~edgekit.schedule.task_values`) reaches the load, then put in the family's
arrival order (the load does not depend on the order).  Amounts are quantized to 1/64 (at
least 1/64 of each resource a task asks for) and every task fits the largest node.

Demand distributions (:data:`DEMANDS`; cores, GiB; "ratio" is GiB per core):

=====================  ===================================================================
``uniform``            cores U(0.1, 2), GiB U(0.25, 4), independent
``lognormal``          cores 0.3 x LogNormal(0, 0.8), GiB 0.6 x LogNormal(0, 0.8),
                       independent
``pareto``             heavy-tailed: cores 0.15 x (1 + Pareto(1.3)), ratio LogUniform(1, 4)
``bimodal``            half 0.5..2 cores at ratio 0.5, half 0.25..1 core at ratio 6
``kmodal``             4 kinds with centres drawn from the seed (cores 0.2..3, ratio
                       0.25..8), +-20% jitter, kind shares from a Dirichlet(1) draw
``correlated``         cores U(0.1, 3), GiB = 2 x cores x U(0.8, 1.25)
``anticorrelated``     cores U(0.1, 3), GiB = 2 x (3.1 - cores) x U(0.8, 1.25)
``vm_catalogue``       cloud VM sizes (1,1) (1,2) (2,4) (2,8) (4,8) (4,16) (8,16) (8,32)
                       (2,2) (4,4), skewed to the small ones
``container_catalogue`` container requests (0.1,0.125) (0.25,0.25) (0.25,0.5) (0.5,0.5)
                       (0.5,1) (1,1) (1,2) (2,2) (2,4) (0.5,2) (1,4) (4,8), skewed to the
                       small ones
``ek_uniform``,        edgekit's own three workloads (:func:`~edgekit.schedule.workload`),
``ek_heavy_tailed``,   kept as *seen* families: the default was tuned on them
``ek_mix``
=====================  ===================================================================

On a cluster with an accelerator (``accel10``) a task asks for one accelerator with
probability 0.15 (its other demands as drawn).

Arrival orders (:data:`ORDERS`): ``random`` (as drawn), ``bursts`` (runs of 25 tasks of one
kind, cpu-heavy or memory-heavy by the task's GiB per core against the cluster's, the kinds
alternating while both last), ``sorted_desc`` (largest value first), ``sorted_asc``
(smallest first).

Clusters (:data:`CLUSTERS`): ``edge10`` (:data:`~edgekit.schedule.EDGE_CLUSTER_10`),
``homog10`` (10 x (16, 32)), ``small40`` (40 x (4, 8)), ``accel10`` (``edge10`` with a
third resource, accelerators, on 3 nodes), ``edge100`` and ``edge1000`` (100 and 1,000
nodes drawn from ``edge10``'s sizes with a fixed seed).

**Held out** (:data:`HELD_OUT`, :data:`HELD_OUT_SEEDS`): fixed before any result on them
was looked at, by this rule (:func:`_draw_held_out`, reproducible): the grid of the nine
non-``ek_`` demands x four orders x the three 2-resource 10-node-scale clusters
(``edge10``, ``homog10``, ``small40``) is shuffled with ``numpy.random.default_rng(17)``
and the first 12 families are taken; seeds 1000-1019 at loads 1.0 and 1.5.  Tuning uses
the other families and seeds below 1000 only.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from edgekit.errors import OptionsError
from edgekit.schedule._kernel import as_seed
from edgekit.schedule.workloads import EDGE_CLUSTER_10, _draw

__all__ = [
    "CLUSTERS",
    "DEMANDS",
    "HELD_OUT",
    "HELD_OUT_SEEDS",
    "ORDERS",
    "SEEN",
    "Family",
    "family_cluster",
    "family_instance",
]

DEMANDS: tuple[str, ...] = ("uniform", "lognormal", "pareto", "bimodal", "kmodal",
                            "correlated", "anticorrelated", "vm_catalogue",
                            "container_catalogue", "ek_uniform", "ek_heavy_tailed", "ek_mix")
ORDERS: tuple[str, ...] = ("random", "bursts", "sorted_desc", "sorted_asc")
CLUSTERS: tuple[str, ...] = ("edge10", "homog10", "small40", "accel10", "edge100",
                             "edge1000")

_VM = np.array([[1, 1], [1, 2], [2, 4], [2, 8], [4, 8], [4, 16], [8, 16], [8, 32], [2, 2],
                [4, 4]], dtype=np.float64)
_VM_P = np.array([8, 10, 12, 6, 6, 3, 2, 1, 6, 4], dtype=np.float64)
_CONTAINER = np.array([[0.1, 0.125], [0.25, 0.25], [0.25, 0.5], [0.5, 0.5], [0.5, 1], [1, 1],
                       [1, 2], [2, 2], [2, 4], [0.5, 2], [1, 4], [4, 8]], dtype=np.float64)
_CONTAINER_P = np.array([10, 12, 14, 10, 12, 8, 8, 4, 3, 5, 3, 1], dtype=np.float64)
_BURST = 25
_ACCEL_P = 0.15


@dataclass(frozen=True, slots=True)
class Family:
    """A workload family: demand distribution, arrival order and cluster shape (names from
    :data:`DEMANDS`, :data:`ORDERS`, :data:`CLUSTERS`)."""

    demand: str
    order: str = "random"
    cluster: str = "edge10"

    def __post_init__(self) -> None:
        for name, known in (("demand", DEMANDS), ("order", ORDERS), ("cluster", CLUSTERS)):
            if getattr(self, name) not in known:
                raise OptionsError(f"unknown {name} {getattr(self, name)!r}; known: "
                                   f"{', '.join(known)}", name=name, got=getattr(self, name))

    @property
    def name(self) -> str:
        """``demand/order/cluster``."""
        return f"{self.demand}/{self.order}/{self.cluster}"


def family_cluster(cluster: str) -> np.ndarray:
    """The capacity (nodes, resources) of a named cluster shape (a new array)."""
    if cluster == "edge10":
        return EDGE_CLUSTER_10.copy()
    if cluster == "homog10":
        return np.tile(np.array([[16.0, 32.0]]), (10, 1))
    if cluster == "small40":
        return np.tile(np.array([[4.0, 8.0]]), (40, 1))
    if cluster == "accel10":
        gpu = np.zeros((10, 1))
        gpu[[5, 7, 9]] = [[2.0], [4.0], [2.0]]
        return np.hstack([EDGE_CLUSTER_10, gpu])
    if cluster in ("edge100", "edge1000"):
        n = 100 if cluster == "edge100" else 1000
        return EDGE_CLUSTER_10[np.random.default_rng(n).integers(0, 10, n)].copy()
    raise OptionsError(f"unknown cluster {cluster!r}; known: {', '.join(CLUSTERS)}",
                       name="cluster", got=cluster)


def _catalogue(rng: np.random.Generator, n: int, sizes: np.ndarray, p: np.ndarray
               ) -> np.ndarray:
    return sizes[rng.choice(sizes.shape[0], n, p=p / p.sum())]


def _demands(kind: str, rng: np.random.Generator, n: int, kinds: np.ndarray | None
             ) -> np.ndarray:
    """``n`` (cores, GiB) demands, before quantization and clipping."""
    if kind == "uniform":
        return np.column_stack([rng.uniform(0.1, 2.0, n), rng.uniform(0.25, 4.0, n)])
    if kind == "lognormal":
        return np.column_stack([0.3 * rng.lognormal(0.0, 0.8, n),
                                0.6 * rng.lognormal(0.0, 0.8, n)])
    if kind == "pareto":
        cpu = 0.15 * (1.0 + rng.pareto(1.3, n))
        return np.column_stack([cpu, cpu * np.exp(rng.uniform(0.0, np.log(4.0), n))])
    if kind == "bimodal":
        a = rng.random(n) < 0.5
        cpu = np.where(a, rng.uniform(0.5, 2.0, n), rng.uniform(0.25, 1.0, n))
        return np.column_stack([cpu, cpu * np.where(a, 0.5, 6.0)])
    if kind == "kmodal":
        assert kinds is not None
        share = kinds[:, 2]
        k = rng.choice(kinds.shape[0], n, p=share / share.sum())
        cpu = kinds[k, 0] * rng.uniform(0.8, 1.2, n)
        return np.column_stack([cpu, cpu * kinds[k, 1] * rng.uniform(0.8, 1.2, n)])
    if kind in ("correlated", "anticorrelated"):
        cpu = rng.uniform(0.1, 3.0, n)
        base = cpu if kind == "correlated" else 3.1 - cpu
        return np.column_stack([cpu, 2.0 * base * rng.uniform(0.8, 1.25, n)])
    if kind == "vm_catalogue":
        return _catalogue(rng, n, _VM, _VM_P)
    if kind == "container_catalogue":
        return _catalogue(rng, n, _CONTAINER, _CONTAINER_P)
    raise OptionsError(f"unknown demand {kind!r}", name="demand", got=kind)  # pragma: no cover


def _chunk(kind: str, rng: np.random.Generator, n: int, cap: np.ndarray,
           kinds: np.ndarray | None) -> np.ndarray:
    cap_max = cap.max(axis=0)
    if kind.startswith("ek_"):
        d2 = _draw(kind[3:], rng, n, cap_max[:2])
    else:
        d2 = _demands(kind, rng, n, kinds)
    if cap.shape[1] > 2:  # accelerators: one, for a share of the tasks
        acc = (rng.random(n) < _ACCEL_P).astype(np.float64)
        d2 = np.column_stack([d2, acc])
    d = np.round(d2 * 64) / 64
    d[:, :2] = np.maximum(d[:, :2], 1 / 64)
    return np.minimum(d, cap_max)


def _order(order: str, d: np.ndarray, cap: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Indices of ``d`` in arrival order."""
    n = d.shape[0]
    if order == "random":
        return np.arange(n)
    value = (d / total).mean(axis=1)
    if order == "sorted_desc":
        return np.argsort(-value, kind="stable")
    if order == "sorted_asc":
        return np.argsort(value, kind="stable")
    # bursts: runs of _BURST tasks of one kind (memory-heavy or not, against the cluster)
    mem_heavy = d[:, 1] * total[0] > d[:, 0] * total[1]
    groups = [list(np.flatnonzero(~mem_heavy)), list(np.flatnonzero(mem_heavy))]
    out: list[int] = []
    turn = 0
    while groups[0] or groups[1]:
        g = groups[turn] if groups[turn] else groups[1 - turn]
        out.extend(g[:_BURST])
        del g[:_BURST]
        turn = 1 - turn
    return np.array(out, dtype=np.int64)


def family_instance(family: Family, load: float, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(demands, capacity)`` of ``family`` at ``load`` (total value of the tasks, > 0)
    drawn with ``seed``, demands in arrival order."""
    if not isinstance(family, Family):
        raise OptionsError("family must be an edgekit.schedule.families.Family",
                           name="family", got=type(family).__name__)
    if isinstance(load, bool) or not isinstance(load, numbers.Real) or not 0 < load <= 100:
        raise OptionsError("load must be a number in (0, 100]", name="load", got=load)
    cap = family_cluster(family.cluster)
    rng = np.random.default_rng(as_seed(seed))
    kinds = None
    if family.demand == "kmodal":
        kinds = np.column_stack([rng.uniform(0.2, 3.0, 4),
                                 np.exp(rng.uniform(np.log(0.25), np.log(8.0), 4)),
                                 rng.dirichlet(np.ones(4))])
    total = cap.sum(axis=0)
    chunks, value = [], 0.0
    while value < load:
        d = _chunk(family.demand, rng, 256, cap, kinds)
        cum = value + np.cumsum((d / total).mean(axis=1))
        stop = int(np.searchsorted(cum, load))
        if stop < d.shape[0]:
            chunks.append(d[: stop + 1])
            break
        chunks.append(d)
        value = float(cum[-1])
    d = np.concatenate(chunks)
    return np.ascontiguousarray(d[_order(family.order, d, cap, total)]), cap


SEEN: tuple[Family, ...] = (Family("ek_uniform"), Family("ek_heavy_tailed"), Family("ek_mix"))


def _draw_held_out(seed: int = 17, count: int = 12) -> tuple[Family, ...]:
    """The rule that fixed :data:`HELD_OUT` (see the module docstring)."""
    grid = [Family(dm, o, c) for dm in DEMANDS if not dm.startswith("ek_")
            for o in ORDERS for c in ("edge10", "homog10", "small40")]
    perm = np.random.default_rng(seed).permutation(len(grid))
    return tuple(grid[i] for i in perm[:count])


HELD_OUT: tuple[Family, ...] = _draw_held_out()
HELD_OUT_SEEDS: tuple[int, ...] = tuple(range(1000, 1020))
