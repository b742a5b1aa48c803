"""Truthfulness probes: one trader at a time misreports, everyone else tells the truth; does
the liar end up better off, at its TRUE values?

Misreports (each probe draws one, uniformly among its side's kinds):

* an application: its value scaled by a factor in [0.5, 1.5] (``"app-scale"``) or shifted by
  +-1..50% of the market's median bid value (``"app-shift"``, floored at 0);
* a node: all its unit costs scaled by a factor in [0.5, 1.5] (``"node-scale"``), one
  resource's unit cost scaled by a factor in [0.5, 1.5] (``"node-one"``), or 5-50% of its
  capacity withheld on every resource (``"node-withhold"``).  Factors within 1% of 1 are
  redrawn.

Utility at true values: a bid's is ``value - payment`` when it trades, else 0; a node's is
``receipt - true cost of what it holds``.  A probe is *profitable* when the liar's utility
rises by more than float noise (``1e-9`` x (1 + the market's total value)).  Traders are
drawn uniformly among those that can trade at all (a bid with an eligible node; a node some
bid may use).  Every base (truthful) clearing is also checked: deficit, IR at the reports,
capacity, eligibility.

Mechanisms are given by name (those of :data:`edgekit.market.MECHANISMS`, plus ``"vcg"``
and ``"pay-your-bid"``) or as a callable taking the compiled market.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from edgekit.errors import InputTypeError, OptionsError
from edgekit.market._arrays import (
    _FIT_TOL,
    MarketArrays,
    assignment_of,
    compile_market,
    used_capacity,
)
from edgekit.market.generate import Market
from edgekit.schedule._kernel import as_seed
from edgekit.types import Ask, Bid, Clearing

__all__ = ["APP_KINDS", "NODE_KINDS", "ProbeResult", "SideProbes", "check_clearing",
           "get_mechanism", "probe"]

APP_KINDS: tuple[str, ...] = ("app-scale", "app-shift")
NODE_KINDS: tuple[str, ...] = ("node-scale", "node-one", "node-withhold")

Mechanism = Callable[[MarketArrays], Clearing]


def get_mechanism(mechanism: str | Mechanism | None = None) -> tuple[str, Mechanism]:
    """(name, function) of a mechanism given by name, as a callable on the compiled market,
    or ``None`` (the default of :func:`edgekit.market.clear`).  Names: those of
    :data:`edgekit.market.MECHANISMS`, plus ``"vcg"`` and ``"pay-your-bid"``.

    Raises:
        OptionsError: an unknown name or something not callable."""
    if callable(mechanism) and not isinstance(mechanism, str):
        return getattr(mechanism, "__name__", "custom"), mechanism
    from edgekit.market.clear import DEFAULT_MECHANISM, MECHANISMS, REFERENCE_MECHANISMS

    known: dict[str, Mechanism] = {**dict(MECHANISMS), **dict(REFERENCE_MECHANISMS)}
    if mechanism is None:
        mechanism = DEFAULT_MECHANISM
    if not isinstance(mechanism, str) or mechanism not in known:
        raise OptionsError(f"unknown mechanism {mechanism!r}; known: {', '.join(known)}",
                           name="mechanism", got=mechanism)
    return mechanism, known[mechanism]


@dataclass(frozen=True, slots=True)
class SideProbes:
    """Probes of one side (applications or nodes); money per hour.

    Attributes:
        probes: misreports tried.
        profitable: those that raised the liar's true utility beyond float noise.
        max_gain: the largest such gain (0 when none).
        max_gain_rel: the largest gain relative to the liar's truthful utility plus 1% of
            its value (bid) or of its capacity at its cost (node): a scale-free size.
        worst: the most profitable misreport, in words (empty when none).
        by_kind: kind -> (probes, profitable).
    """

    probes: int
    profitable: int
    max_gain: float
    max_gain_rel: float
    worst: str
    by_kind: Mapping[str, tuple[int, int]]

    @property
    def share(self) -> float:
        """profitable / probes (0 when no probe)."""
        return self.profitable / self.probes if self.probes else 0.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Result of :func:`probe` over a set of markets.

    Attributes:
        mechanism: its name.  markets: markets probed.
        apps, nodes: the probes of each side.
        deficits: truthful clearings with a deficit beyond float noise.
        violations: truthful clearings that broke IR, a capacity or an eligibility, with the
            first few reasons in ``reasons``.
        welfare: total welfare of the truthful clearings.
    """

    mechanism: str
    markets: int
    apps: SideProbes
    nodes: SideProbes
    deficits: int
    violations: int
    reasons: tuple[str, ...]
    welfare: float


def _noise(arr: MarketArrays) -> float:
    return 1e-9 * (1.0 + float(arr.value.sum()))


def check_clearing(arr: MarketArrays, clearing: Clearing) -> list[str]:
    """What is wrong with ``clearing`` of ``arr`` at the reported values: unknown or
    duplicate trades, an ineligible pair, an overfull node, a bid paying more than its
    value, a node receiving less than its cost, a payment for a bid that does not trade, a
    deficit.  Empty when nothing is."""
    tol = _noise(arr)
    try:
        assignment = assignment_of(arr, clearing.trades)
    except ValueError as err:
        return [str(err)]
    out = []
    placed = np.flatnonzero(assignment >= 0)
    if not arr.eligible[placed, assignment[placed]].all():
        out.append("a trade on a node the bid may not use")
    if (used_capacity(arr, assignment) > arr.capacity * (1 + _FIT_TOL)).any():
        out.append("a node holds more than its capacity")
    traded = {arr.bids[i].id for i in placed.tolist()}
    if set(clearing.payments) - traded:
        out.append("a payment for a bid that does not trade")
    sellers = {arr.asks[int(j)].id for j in assignment[placed].tolist()}
    if set(clearing.receipts) - sellers:
        out.append("a receipt for a node that does not sell")
    for i in placed.tolist():
        if clearing.payments.get(arr.bids[i].id, 0.0) > arr.value[i] + tol:
            out.append(f"bid {arr.bids[i].id} pays more than its value (IR)")
            break
    for j in np.unique(assignment[placed]).tolist():
        held = float(arr.cost[assignment == j, j].sum())
        if clearing.receipts.get(arr.asks[j].id, 0.0) < held - tol:
            out.append(f"node {arr.asks[j].id} receives less than its cost (IR)")
            break
    if clearing.surplus < -tol:
        out.append(f"deficit {-clearing.surplus:.6g}")
    return out


def _utilities(arr: MarketArrays, clearing: Clearing, true_value: np.ndarray,
               true_cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bids,) and (asks,) utilities at the true values/costs ((bids, asks) cost)."""
    assignment = assignment_of(arr, clearing.trades)
    placed = np.flatnonzero(assignment >= 0)
    ub = np.zeros(len(arr.bids))
    pay = np.array([clearing.payments.get(arr.bids[i].id, 0.0) for i in placed.tolist()])
    ub[placed] = true_value[placed] - pay
    un = np.array([clearing.receipts.get(a.id, 0.0) for a in arr.asks])
    np.subtract.at(un, assignment[placed], true_cost[placed, assignment[placed]])
    return ub, un


def _with_bid_value(arr: MarketArrays, i: int, value: float) -> MarketArrays:
    bids = list(arr.bids)
    bids[i] = dataclasses.replace(bids[i], value=float(value))
    v = arr.value.copy()
    v[i] = value
    return dataclasses.replace(arr, bids=tuple(bids), value=v)


def _with_ask(arr: MarketArrays, j: int, unit_cost: np.ndarray, capacity: np.ndarray
              ) -> MarketArrays:
    ask = arr.asks[j]
    cols = {r: k for k, r in enumerate(arr.resources)}
    asks = list(arr.asks)
    asks[j] = dataclasses.replace(
        ask, capacity={r: float(capacity[cols[r]]) for r in ask.capacity},
        unit_cost={r: float(unit_cost[cols[r]]) for r in ask.unit_cost})
    uc, cap = arr.unit_cost.copy(), arr.capacity.copy()
    uc[j], cap[j] = unit_cost, capacity
    cost = arr.cost.copy()
    cost[:, j] = arr.demand @ unit_cost
    elig = arr.eligible.copy()
    elig[:, j] &= np.all(arr.demand <= capacity * (1 + _FIT_TOL), axis=1)
    return dataclasses.replace(arr, asks=tuple(asks), unit_cost=uc, capacity=cap, cost=cost,
                               eligible=elig)


def _factor(rng: np.random.Generator, lo: float, hi: float) -> float:
    while True:
        f = float(rng.uniform(lo, hi))
        if abs(f - 1.0) >= 0.01:
            return f


class _Side:
    def __init__(self, kinds: tuple[str, ...]) -> None:
        self.by_kind = {k: [0, 0] for k in kinds}
        self.max_gain = self.max_rel = 0.0
        self.worst = ""

    def add(self, kind: str, gain: float, rel: float, tol: float, what: str) -> None:
        self.by_kind[kind][0] += 1
        if gain > tol:
            self.by_kind[kind][1] += 1
            if gain > self.max_gain:
                self.max_gain, self.worst = gain, what
            self.max_rel = max(self.max_rel, rel)

    def result(self) -> SideProbes:
        n = sum(v[0] for v in self.by_kind.values())
        k = sum(v[1] for v in self.by_kind.values())
        return SideProbes(n, k, self.max_gain, self.max_rel, self.worst,
                          {kind: (v[0], v[1]) for kind, v in self.by_kind.items()})


def _count(name: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
        raise OptionsError(f"{name} must be an int >= 0, got {v!r}", name=name, got=v)
    return int(v)


def probe(mechanism: str | Mechanism, markets: Iterable[Market | tuple[list[Ask], list[Bid]]],
          *, app_probes: int = 100, node_probes: int = 30, seed: int = 0) -> ProbeResult:
    """Probe ``mechanism`` on each market: ``app_probes`` application misreports and
    ``node_probes`` node misreports per market (one clearing each).

    Raises:
        OptionsError: an unknown mechanism or bad counts.
        InputError / InputTypeError: a bad market.
    """
    name, fn = get_mechanism(mechanism)
    app_probes, node_probes = _count("app_probes", app_probes), _count("node_probes",
                                                                         node_probes)
    rng = np.random.default_rng(as_seed(seed))
    apps, nodes = _Side(APP_KINDS), _Side(NODE_KINDS)
    n_markets = deficits = violations = 0
    reasons: list[str] = []
    welfare = 0.0
    for m in markets:
        if isinstance(m, Market):
            asks, bids = m.asks, m.bids
        elif isinstance(m, tuple) and len(m) == 2:
            asks, bids = m
        else:
            raise InputTypeError("markets must hold Market objects or (asks, bids) pairs",
                                 name="markets", got=type(m).__name__)
        arr = compile_market(asks, bids)
        n_markets += 1
        base = fn(arr)
        welfare += base.welfare
        bad = check_clearing(arr, base)
        if any(r.startswith("deficit") for r in bad):
            deficits += 1
        bad = [r for r in bad if not r.startswith("deficit")]
        if bad:
            violations += 1
            reasons.extend(bad[: max(0, 5 - len(reasons))])
        tol = _noise(arr)
        ub0, un0 = _utilities(arr, base, arr.value, arr.cost)
        can_bid = np.flatnonzero(arr.eligible.any(axis=1))
        can_sell = np.flatnonzero(arr.eligible.any(axis=0))
        median = float(np.median(arr.value)) if arr.value.size else 0.0
        for _ in range(app_probes if can_bid.size else 0):
            i = int(rng.choice(can_bid))
            kind = APP_KINDS[int(rng.integers(len(APP_KINDS)))]
            if kind == "app-scale":
                f = _factor(rng, 0.5, 1.5)
                lie, what = arr.value[i] * f, f"bid {arr.bids[i].id} value x{f:.3f}"
            else:
                s = float(rng.uniform(0.01, 0.5)) * (1 if rng.random() < 0.5 else -1)
                lie = max(0.0, arr.value[i] + s * median)
                what = f"bid {arr.bids[i].id} value {s * median:+.4g}"
            out = fn(_with_bid_value(arr, i, lie))
            ub, _ = _utilities(arr, out, arr.value, arr.cost)
            gain = float(ub[i] - ub0[i])
            apps.add(kind, gain, gain / (abs(ub0[i]) + 0.01 * arr.value[i] + tol), tol, what)
        for _ in range(node_probes if can_sell.size else 0):
            j = int(rng.choice(can_sell))
            kind = NODE_KINDS[int(rng.integers(len(NODE_KINDS)))]
            uc, cap = arr.unit_cost[j].copy(), arr.capacity[j].copy()
            if kind == "node-scale":
                f = _factor(rng, 0.5, 1.5)
                uc *= f
                what = f"node {arr.asks[j].id} costs x{f:.3f}"
            elif kind == "node-one":
                priced = np.flatnonzero(uc > 0)
                r = int(rng.choice(priced)) if priced.size else int(rng.integers(uc.size))
                f = _factor(rng, 0.5, 1.5)
                uc[r] *= f
                what = f"node {arr.asks[j].id} {arr.resources[r]} cost x{f:.3f}"
            else:
                w = float(rng.uniform(0.05, 0.5))
                cap *= 1 - w
                what = f"node {arr.asks[j].id} withholds {w:.0%}"
            out = fn(_with_ask(arr, j, uc, cap))
            _, un = _utilities(arr, out, arr.value, arr.cost)
            gain = float(un[j] - un0[j])
            scale = 0.01 * float(arr.capacity[j] @ arr.unit_cost[j])
            nodes.add(kind, gain, gain / (abs(un0[j]) + scale + tol), tol, what)
    return ProbeResult(name, n_markets, apps.result(), nodes.result(), deficits, violations,
                       tuple(reasons), welfare)
