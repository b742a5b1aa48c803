"""Seeded random compute markets: edge nodes selling cores, GiB (and optionally a scarce
accelerator), applications bidding for tasks.  The markets every mechanism is measured on.

What a market of :func:`random_market` looks like (all prices per hour):

* **Nodes** (asks): sizes drawn from :data:`edgekit.schedule.EDGE_CLUSTER_10` (4-32 cores,
  8-64 GiB).  Unit costs: a reference price (:data:`REFERENCE_PRICE`: 0.03 per core,
  0.004 per GiB, 0.40 per accelerator) times a node factor (lognormal, sigma 0.35: energy
  price, hardware efficiency) times a per-resource factor (lognormal, sigma 0.15).  Labels
  ``zone`` (a/b/c) and ``tier`` (gateway up to 8 cores, else server); 10% of nodes carry the
  taint ``dedicated``.  With ``accelerator=True`` a quarter of the nodes also offer 1-2
  ``gpu``.
* **Bids**: demands drawn from the workloads of :mod:`edgekit.schedule.workloads`
  (uniform, heavy-tailed, cpu/mem mix, one per bid at random), scaled by one factor so that
  the total demand is ``balance`` times the total capacity (mean over cpu and memory), on a
  1/64 grid, each no larger than the cluster's largest node per resource.  Values: the
  demand at the reference price times a lognormal markup (median 1.3, sigma 0.6): about a
  third of the bids are worth less than a typical node's cost.  15% of bids pin a zone
  (``node_selector``), 5% tolerate ``dedicated``; with ``accelerator=True`` some bids also
  need one ``gpu`` (worth its reference price times the markup): 15% of them, or fewer so
  that the gpus asked for are at most twice ``balance`` times those offered (the scarcest
  resource).

:data:`SIZES` names the study's sizes; :data:`TUNING_SEEDS` are the seeds tuning may look
at and :data:`HELD_OUT_SEEDS` the ones the figures of ``docs/market_measured.md`` are
measured on (fixed before any measurement: see ``docs/market.md``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from edgekit.errors import OptionsError
from edgekit.schedule._kernel import as_seed
from edgekit.schedule.workloads import EDGE_CLUSTER_10, WORKLOADS, _draw
from edgekit.types import Ask, Bid

__all__ = [
    "HELD_OUT_SEEDS",
    "REFERENCE_PRICE",
    "SIZES",
    "TUNING_SEEDS",
    "Market",
    "random_market",
    "sized_market",
]

# (nodes, bids) of the study's sizes
SIZES: dict[str, tuple[int, int]] = {"small": (5, 30), "medium": (20, 200),
                                     "large": (100, 2000)}

# reference unit prices per hour (the scale of costs and values)
REFERENCE_PRICE: dict[str, float] = {"cpu": 0.03, "mem_gib": 0.004, "gpu": 0.40}

# Seeds tuning may look at: 0..9,999.  Held out: 100 seeds per size fixed by a rule, before
# any measurement, far from the tuning range (docs/market.md, "how the held-out list was
# fixed"): 7,000,001 + 7,919 k for k = 0..99 (7,919 the 1,000th prime: no pattern shared with
# small seeds a tuner may have tried).
TUNING_SEEDS: range = range(0, 10_000)
HELD_OUT_SEEDS: tuple[int, ...] = tuple(7_000_001 + 7_919 * k for k in range(100))

_ZONES = ("a", "b", "c")


@dataclass(frozen=True, slots=True)
class Market:
    """A market to clear: ``asks`` (nodes) and ``bids`` (tasks), drawn with ``seed``."""

    asks: tuple[Ask, ...]
    bids: tuple[Bid, ...]
    seed: int
    balance: float
    accelerator: bool

    @property
    def size(self) -> tuple[int, int]:
        """(nodes, bids)."""
        return len(self.asks), len(self.bids)


def _count(name: str, v: object, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
        raise OptionsError(f"{name} must be an int >= {low}, got {v!r}", name=name, got=v)
    return int(v)


def random_market(n_nodes: int, n_bids: int, *, seed: int = 0, balance: float = 1.5,
                  accelerator: bool = False) -> Market:
    """A random market of ``n_nodes`` asks and ``n_bids`` bids (see the module docstring).

    Args:
        balance: total demand / total capacity (mean over cpu and memory), > 0; the default
            1.5 leaves a third of the demand unserved, so that prices matter.
        accelerator: also trade a scarce ``gpu`` resource.

    Raises:
        OptionsError: bad sizes, balance or seed.
    """
    n_nodes = _count("n_nodes", n_nodes, 1)
    n_bids = _count("n_bids", n_bids, 0)
    if isinstance(balance, bool) or not isinstance(balance, numbers.Real) \
            or not math.isfinite(balance) or not 0 < balance <= 100:
        raise OptionsError("balance must be a number in (0, 100]", name="balance", got=balance)
    if not isinstance(accelerator, bool):
        raise OptionsError("accelerator must be a bool", name="accelerator", got=accelerator)
    seed = as_seed(seed)
    rng = np.random.default_rng([seed, n_nodes, n_bids])
    cap = EDGE_CLUSTER_10[rng.integers(0, len(EDGE_CLUSTER_10), n_nodes)]
    node_f = rng.lognormal(0.0, 0.35, n_nodes)
    res_f = rng.lognormal(0.0, 0.15, (n_nodes, 3))
    zone = rng.integers(0, len(_ZONES), n_nodes)
    tainted = rng.random(n_nodes) < 0.10
    gpus = np.where(rng.random(n_nodes) < 0.25, rng.integers(1, 3, n_nodes), 0) \
        if accelerator else np.zeros(n_nodes, dtype=np.int64)
    if accelerator and not gpus.any():
        gpus[int(rng.integers(0, n_nodes))] = 1  # a gpu market has at least one gpu
    asks = []
    for j in range(n_nodes):
        capacity = {"cpu": float(cap[j, 0]), "mem_gib": float(cap[j, 1])}
        price = {r: round(float(REFERENCE_PRICE[r] * node_f[j] * res_f[j, k]), 6)
                 for k, r in enumerate(("cpu", "mem_gib"))}
        if gpus[j]:
            capacity["gpu"] = float(gpus[j])
            price["gpu"] = round(float(REFERENCE_PRICE["gpu"] * node_f[j] * res_f[j, 2]), 6)
        asks.append(Ask(f"n{j}", capacity, price,
                        labels={"zone": _ZONES[zone[j]],
                                "tier": "gateway" if cap[j, 0] <= 8 else "server"},
                        taints=("dedicated",) if tainted[j] else ()))
    cap_max = cap.max(axis=0)
    kinds = rng.integers(0, len(WORKLOADS), n_bids)
    d = np.zeros((n_bids, 2))
    for k, kind in enumerate(WORKLOADS):
        rows = np.flatnonzero(kinds == k)
        if rows.size:
            d[rows] = _draw(kind, rng, rows.size, np.full(2, np.inf))
    total = cap.sum(axis=0)
    if n_bids:
        scale = balance / float(np.mean(d.sum(axis=0) / total))
        d = np.minimum(np.maximum(np.round(d * scale * 64) / 64, 1 / 64), cap_max)
    markup = rng.lognormal(math.log(1.3), 0.6, n_bids)
    pinned = rng.random(n_bids) < 0.15
    pin_zone = rng.integers(0, len(_ZONES), n_bids)
    tolerates = rng.random(n_bids) < 0.05
    p_gpu = min(0.15, 2 * balance * float(gpus.sum()) / max(n_bids, 1))
    wants_gpu = (rng.random(n_bids) < p_gpu) if accelerator else np.zeros(n_bids, dtype=bool)
    bids = []
    for i in range(n_bids):
        demand = {"cpu": float(d[i, 0]), "mem_gib": float(d[i, 1])}
        ref = REFERENCE_PRICE["cpu"] * d[i, 0] + REFERENCE_PRICE["mem_gib"] * d[i, 1]
        if wants_gpu[i]:
            demand["gpu"] = 1.0
            ref += REFERENCE_PRICE["gpu"]
        bids.append(Bid(f"b{i}", demand, round(float(ref * markup[i]), 6),
                        node_selector={"zone": _ZONES[pin_zone[i]]} if pinned[i] else {},
                        tolerations=("dedicated",) if tolerates[i] else ()))
    return Market(tuple(asks), tuple(bids), seed, float(balance), accelerator)


def sized_market(size: str, seed: int = 0, **kwargs: object) -> Market:
    """:func:`random_market` of one of the study's :data:`SIZES` (``"small"`` 5x30,
    ``"medium"`` 20x200, ``"large"`` 100x2000)."""
    if size not in SIZES:
        raise OptionsError(f"unknown size {size!r}; known: {', '.join(SIZES)}", name="size",
                           got=size)
    n, b = SIZES[size]
    return random_market(n, b, seed=seed, **kwargs)  # type: ignore[arg-type]
