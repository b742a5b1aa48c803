"""Repeated markets: periodic clearing rounds with arrivals and departures.

Every round (``round_h`` hours):

1. tasks whose run is over leave and free their capacity;
2. each node that is up fails with probability ``node_failure`` (its running tasks are
   evicted and bid again) and comes back ``repair_rounds`` later;
3. new bids arrive (Poisson, ``arrivals`` a round on average, drawn by
   :func:`~edgekit.market.generate.random_market` so values and costs are those of the
   study's markets);
4. the market clears every waiting bid against each up node's *free* capacity, at its unit
   costs, with ``mechanism``;
5. each trade starts a task on its node for a geometric number of rounds (mean
   ``mean_duration_rounds``), at the clearing's payment and receipt per hour, fixed for its
   run (a node's receipt is split over the tasks it took in proportion to what each pays,
   by its cost of each when they pay nothing, equally when both are 0);
6. a bid not served within ``patience_rounds`` leaves.

Per round (:class:`RoundMetrics`, money per hour): the welfare, payments and receipts of the
running tasks, the clearing's prices, utilisation per resource (held / offered by the nodes
up).  With :mod:`edgekit.metrics` enabled each round is also an event ``market.round``
(Prometheus: ``edgekit_market_rounds_total``, ``edgekit_market_trades_total``,
``edgekit_market_welfare_per_hour``, ``edgekit_market_payments_per_hour``,
``edgekit_market_receipts_per_hour``, ``edgekit_market_utilization``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from edgekit import _telemetry
from edgekit.errors import OptionsError
from edgekit.market._arrays import MarketArrays, assignment_of, compile_market
from edgekit.market.generate import random_market
from edgekit.market.probes import Mechanism, get_mechanism
from edgekit.schedule._kernel import as_seed
from edgekit.types import Ask

__all__ = ["RepeatedResult", "RoundMetrics", "repeated_market"]


@dataclass(frozen=True, slots=True)
class RoundMetrics:
    """One clearing round (money per hour, after the round's clearing).

    Attributes:
        round: its index (0-based).
        nodes_up: nodes up.  bids: bids in the round's market (new and waiting).
        trades: new trades.  running: tasks running.  expired: bids that left unserved.
        evicted: running tasks evicted by node failures this round.
        welfare: sum over running tasks of value - the node's cost.
        payments: what the applications of running tasks pay.
        receipts: what the nodes receive for them (``payments - receipts`` is the market's
            revenue; negative: it subsidizes).
        utilization: resource -> demand held / capacity of the nodes up.
        prices: the clearing's per-unit prices (empty if the mechanism has none).
    """

    round: int
    nodes_up: int
    bids: int
    trades: int
    running: int
    expired: int
    evicted: int
    welfare: float
    payments: float
    receipts: float
    utilization: Mapping[str, float]
    prices: Mapping[str, float]

    @property
    def revenue(self) -> float:
        """payments - receipts (per hour)."""
        return self.payments - self.receipts


@dataclass(frozen=True, slots=True)
class RepeatedResult:
    """Result of :func:`repeated_market`.

    Attributes:
        mechanism: its name.  rounds: the per-round metrics.
        arrived: bids that arrived.  served: bids that traded at least once.
        expired: bids that left unserved.  evicted: tasks evicted by failures.
        welfare: total welfare over the run (sum over rounds of welfare x ``round_h``).
        revenue: total market revenue over the run (payments - receipts, x ``round_h``).
    """

    mechanism: str
    rounds: tuple[RoundMetrics, ...]
    arrived: int
    served: int
    expired: int
    evicted: int
    welfare: float
    revenue: float

    @property
    def acceptance(self) -> float:
        """served / arrived (0 when nothing arrived)."""
        return self.served / self.arrived if self.arrived else 0.0


def _positive(name: str, v: object, *, integer: bool = False, zero: bool = False) -> float:
    ok = isinstance(v, numbers.Integral) if integer else isinstance(v, numbers.Real)
    if isinstance(v, bool) or not ok or not math.isfinite(v) or not (v >= 0 if zero else v > 0):
        raise OptionsError(f"{name} must be a finite {'int' if integer else 'number'} "
                           f"{'>=' if zero else '>'} 0, got {v!r}", name=name, got=v)
    return v  # type: ignore[return-value]


def _split(arr: MarketArrays, assignment: np.ndarray, receipts: Mapping[str, float],
           pay: np.ndarray) -> np.ndarray:
    """Each trade's share of its node's receipt: by what it pays (a node paid no more than
    its tasks pay leaves no task in deficit), by cost when they pay nothing."""
    share = np.zeros(len(arr.bids))
    placed = np.flatnonzero(assignment >= 0)
    for j in np.unique(assignment[placed]).tolist():
        rows = placed[assignment[placed] == j]
        c = pay[rows] if pay[rows].sum() > 0 else arr.cost[rows, j]
        w = c / c.sum() if c.sum() > 0 else np.full(rows.size, 1.0 / rows.size)
        share[rows] = receipts.get(arr.asks[j].id, 0.0) * w
    return share


def repeated_market(mechanism: str | Mechanism | None = None, *, n_nodes: int = 20,
                    rounds: int = 24, arrivals: float = 40.0, load: float = 1.2,
                    mean_duration_rounds: float = 3.0, patience_rounds: int = 2,
                    node_failure: float = 0.0, repair_rounds: int = 3, round_h: float = 1.0,
                    accelerator: bool = False, seed: int = 0) -> RepeatedResult:
    """Run ``rounds`` clearing rounds of ``mechanism`` (a name, a callable on the compiled
    market, or ``None``: the default of :func:`edgekit.market.clear`) on ``n_nodes`` nodes
    (see the module docstring).

    Args:
        arrivals: mean new bids per round (Poisson), >= 0.
        load: the demand in flight at steady state / the cluster's capacity (mean over
            cpu and memory), > 0: the arrivals' sizes are scaled to it.
        mean_duration_rounds: mean run of a task in rounds (>= 1; geometric).
        patience_rounds: rounds a bid waits for a trade before leaving (>= 0: 0 = only
            the round it arrives).
        node_failure: probability per round that an up node fails (0..1).
        repair_rounds: rounds a failed node stays down (>= 1).
        round_h: hours per round (scales the run totals).

    Raises:
        OptionsError: bad options or an unknown mechanism.
    """
    name, fn = get_mechanism(mechanism)
    for k, v in (("n_nodes", n_nodes), ("rounds", rounds), ("repair_rounds", repair_rounds)):
        _positive(k, v, integer=True)
    _positive("patience_rounds", patience_rounds, integer=True, zero=True)
    _positive("arrivals", arrivals, zero=True)
    for k, v in (("load", load), ("round_h", round_h)):
        _positive(k, v)
    if not isinstance(mean_duration_rounds, numbers.Real) or isinstance(
            mean_duration_rounds, bool) or not 1 <= mean_duration_rounds < math.inf:
        raise OptionsError("mean_duration_rounds must be a finite number >= 1",
                           name="mean_duration_rounds", got=mean_duration_rounds)
    if isinstance(node_failure, bool) or not isinstance(node_failure, numbers.Real) \
            or not 0 <= node_failure <= 1:
        raise OptionsError("node_failure must be in [0, 1]", name="node_failure",
                           got=node_failure)
    rng = np.random.default_rng([as_seed(seed), 20])
    counts = rng.poisson(float(arrivals), int(rounds))
    pool_n = int(counts.sum())
    # the pool's total demand, run for mean_duration of the rounds, is `load` in flight
    pool_balance = min(100.0, float(load) * rounds / float(mean_duration_rounds))
    pool = random_market(n_nodes, pool_n, seed=as_seed(seed), balance=pool_balance,
                         accelerator=accelerator)
    asks, bids = pool.asks, pool.bids
    cap = compile_market(asks, ()).capacity
    resources = compile_market(asks, bids).resources
    cols = [resources.index(r) for r in compile_market(asks, ()).resources]
    n_r = len(resources)
    capacity = np.zeros((n_nodes, n_r))
    capacity[:, cols] = cap
    free = capacity.copy()
    up_at = np.zeros(n_nodes, dtype=np.int64)  # a node is up from round up_at on
    p_end = 1.0 / float(mean_duration_rounds)
    bid_index = {b.id: i for i, b in enumerate(bids)}
    # running task: bid index -> (node, end round, pay/h, receipt/h, welfare/h, demand)
    running: dict[int, tuple[int, int, float, float, float, np.ndarray]] = {}
    waiting: dict[int, int] = {}  # bid index -> last round it waits
    served: set[int] = set()
    out: list[RoundMetrics] = []
    next_bid = 0
    expired_total = evicted_total = 0
    total_w = total_rev = 0.0
    for t in range(int(rounds)):
        for i in [i for i, r in running.items() if r[1] <= t]:  # departures
            j, _, _, _, _, d = running.pop(i)
            free[j] = np.minimum(free[j] + d, capacity[j])
        evicted = 0
        if node_failure > 0:
            fail = (up_at <= t) & (rng.random(n_nodes) < node_failure)
            for j in np.flatnonzero(fail).tolist():
                up_at[j] = t + int(repair_rounds)
                for i in [i for i, r in running.items() if r[0] == j]:
                    running.pop(i)
                    waiting[i] = t + int(patience_rounds)
                    evicted += 1
                free[j] = capacity[j]
        for _ in range(int(counts[t])):
            waiting[next_bid] = t + int(patience_rounds)
            next_bid += 1
        up = np.flatnonzero(up_at <= t)
        round_asks = [Ask(asks[j].id, {r: float(free[j, resources.index(r)])
                                       for r in asks[j].capacity},
                          asks[j].unit_cost, asks[j].labels, asks[j].taints)
                      for j in up.tolist()]
        round_bids = [bids[i] for i in sorted(waiting)]
        arr = compile_market(round_asks, round_bids)
        clearing = fn(arr)
        assignment = assignment_of(arr, clearing.trades)
        pay_k = np.array([clearing.payments.get(b.id, 0.0) for b in round_bids])
        share = _split(arr, assignment, clearing.receipts, pay_k)
        ask_pos = {a.id: int(up[k]) for k, a in enumerate(round_asks)}
        trades = 0
        for k in np.flatnonzero(assignment >= 0).tolist():
            i = bid_index[round_bids[k].id]
            j = ask_pos[round_asks[int(assignment[k])].id]
            d = np.zeros(n_r)
            d[[resources.index(r) for r in arr.resources]] = arr.demand[k]
            free[j] = np.maximum(free[j] - d, 0.0)
            end = t + int(rng.geometric(p_end))
            running[i] = (j, end, float(clearing.payments.get(bids[i].id, 0.0)),
                          float(share[k]), float(arr.value[k] - arr.cost[k, assignment[k]]), d)
            waiting.pop(i)
            served.add(i)
            trades += 1
        expired = [i for i, last in waiting.items() if last <= t]
        for i in expired:
            waiting.pop(i)
        expired_total += len(expired)
        evicted_total += evicted
        held = capacity[up].sum(axis=0) - free[up].sum(axis=0)
        offered = capacity[up].sum(axis=0)
        util = {r: float(held[k] / offered[k]) if offered[k] > 0 else 0.0
                for k, r in enumerate(resources)}
        pay = sum(r[2] for r in running.values())
        rec = sum(r[3] for r in running.values())
        wel = sum(r[4] for r in running.values())
        total_w += wel * float(round_h)
        total_rev += (pay - rec) * float(round_h)
        m = RoundMetrics(t, int(up.size), len(round_bids), trades, len(running), len(expired),
                         evicted, wel, pay, rec, MappingProxyType(util),
                         MappingProxyType(dict(clearing.prices)))
        out.append(m)
        if _telemetry.enabled():
            _telemetry.emit("market.round", mechanism=name, trades=trades, welfare_per_h=wel,
                            payments_per_h=pay, receipts_per_h=rec,
                            utilization=float(np.mean(list(util.values()))) if util else 0.0)
    return RepeatedResult(name, tuple(out), next_bid, len(served), expired_total,
                          evicted_total, total_w, total_rev)
