"""A market (asks and bids) as the arrays every mechanism and the optimum compute on.

Nothing here is public API; :func:`compile_market` is shared by the mechanisms, the welfare
optimum, VCG, the probes and the repeated market so that they all validate the same way
and agree on who may trade with whom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgekit.errors import InputError, InputTypeError
from edgekit.types import Ask, Bid, Clearing

# A demand fits a capacity when d <= c * (1 + _FIT_TOL) (edgekit.schedule's tolerance).
_FIT_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class MarketArrays:
    """A market in arrays.  Rows of ``demand``/``value`` follow ``bids``, rows of
    ``capacity``/``unit_cost`` follow ``asks``; columns follow ``resources``.

    Attributes:
        resources: the resource names, sorted (every name any ask or bid uses).
        demand: (bids, resources) units each bid asks for.
        value: (bids,) what each bid's task is worth per hour.
        capacity: (asks, resources) units each node offers (0 for a resource it lacks).
        unit_cost: (asks, resources) the node's cost per unit per hour.
        cost: (bids, asks) the node's cost of holding each bid's demand per hour.
        eligible: (bids, asks) bool: the bid may run on the node (its ``eligible`` list,
            node selector and tolerations allow it and its demand fits the empty node).
    """

    asks: tuple[Ask, ...]
    bids: tuple[Bid, ...]
    resources: tuple[str, ...]
    demand: np.ndarray
    value: np.ndarray
    capacity: np.ndarray
    unit_cost: np.ndarray
    cost: np.ndarray
    eligible: np.ndarray

    @property
    def surplus(self) -> np.ndarray:
        """(bids, asks) value - cost of each pair, ``-inf`` where the pair is ineligible."""
        return np.where(self.eligible, self.value[:, None] - self.cost, -np.inf)


def _check_items(items: object, kind: type, name: str) -> tuple:
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence | tuple | list):
        try:
            items = tuple(items)  # type: ignore[arg-type]
        except TypeError as err:
            raise InputTypeError(f"{name} must be a sequence of {kind.__name__}", name=name,
                                 got=type(items).__name__) from err
    out = tuple(items)
    seen: set[str] = set()
    for i, item in enumerate(out):
        if not isinstance(item, kind):
            raise InputTypeError(f"{name}[{i}] must be a {kind.__name__}, got "
                                 f"{type(item).__name__}", name=name,
                                 expected=kind.__name__, got=type(item).__name__)
        if item.id in seen:
            raise InputError(f"duplicate {kind.__name__.lower()} id {item.id!r} in {name}",
                             name=name, got=item.id)
        seen.add(item.id)
    return out


def compile_market(asks: Sequence[Ask], bids: Sequence[Bid]) -> MarketArrays:
    """Validate ``asks`` and ``bids`` and lay them out as arrays.

    Raises:
        InputTypeError: an element is not an :class:`Ask` / :class:`Bid`.
        InputError: duplicate ids, or amounts whose products overflow float64.
    """
    asks_t: tuple[Ask, ...] = _check_items(asks, Ask, "asks")
    bids_t: tuple[Bid, ...] = _check_items(bids, Bid, "bids")
    names: set[str] = set()
    for a in asks_t:
        names.update(a.capacity)
    for b in bids_t:
        names.update(b.demand)
    resources = tuple(sorted(names))
    col = {r: i for i, r in enumerate(resources)}
    n_a, n_b, n_r = len(asks_t), len(bids_t), len(resources)
    capacity = np.zeros((n_a, n_r))
    unit_cost = np.zeros((n_a, n_r))
    for j, a in enumerate(asks_t):
        for r, q in a.capacity.items():
            capacity[j, col[r]] = q
        for r, p in a.unit_cost.items():
            unit_cost[j, col[r]] = p
    demand = np.zeros((n_b, n_r))
    value = np.array([float(b.value) for b in bids_t], dtype=np.float64)
    for i, b in enumerate(bids_t):
        for r, q in b.demand.items():
            demand[i, col[r]] = q
    with np.errstate(over="ignore", invalid="ignore"):
        # 0 * cost never counts: a resource a bid does not ask for costs nothing
        cost = demand @ unit_cost.T if n_r else np.zeros((n_b, n_a))
        capacity_total = capacity.sum(axis=0)
        demand_total = demand.sum(axis=0)
        value_total = value.sum()
    if not np.isfinite(cost).all() or not np.isfinite(capacity_total).all():
        raise InputError("costs or capacities overflow float64; use larger units",
                         name="asks", expected="finite products")
    # welfare, payments and the checks' tolerances sum these: an infinite sum would make
    # them infinite and every comparison against them vacuous
    if not np.isfinite(demand_total).all() or not np.isfinite(value_total):
        raise InputError("bid values or demands sum beyond float64; use larger units",
                         name="bids", expected="finite sums")
    eligible = np.all(demand[:, None, :] <= capacity[None, :, :] * (1 + _FIT_TOL), axis=2) \
        if n_r else np.ones((n_b, n_a), dtype=bool)
    ask_index = {a.id: j for j, a in enumerate(asks_t)}
    has_taints = any(a.taints for a in asks_t)
    masks: dict[tuple, np.ndarray] = {}  # one filter per distinct (selector, tolerations)
    for i, b in enumerate(bids_t):
        if b.eligible is not None:
            allowed = np.zeros(n_a, dtype=bool)
            allowed[[ask_index[x] for x in b.eligible if x in ask_index]] = True
            eligible[i] &= allowed
        if b.node_selector or has_taints:
            key = (tuple(sorted(b.node_selector.items())),
                   frozenset(b.tolerations) if has_taints else frozenset())
            m = masks.get(key)
            if m is None:
                tol = key[1]
                m = masks[key] = np.array(
                    [all(a.labels.get(k) == v for k, v in key[0])
                     and all(t in tol for t in a.taints) for a in asks_t], dtype=bool)
            eligible[i] &= m
    return MarketArrays(asks_t, bids_t, resources, demand, value, capacity, unit_cost, cost,
                        eligible)


def trades_of(arr: MarketArrays, assignment: np.ndarray) -> tuple[tuple[str, str], ...]:
    """``(bid_id, ask_id)`` pairs of an assignment (bid -> ask index, -1 = no trade)."""
    return tuple((arr.bids[i].id, arr.asks[int(j)].id)
                 for i, j in enumerate(assignment.tolist()) if j >= 0)


def assignment_of(arr: MarketArrays, trades: Sequence[tuple[str, str]]) -> np.ndarray:
    """The inverse of :func:`trades_of`: (bids,) ask index per bid, -1 = no trade.

    Raises:
        InputError: a trade names an unknown bid or ask, or a bid trades twice."""
    bid_index = {b.id: i for i, b in enumerate(arr.bids)}
    ask_index = {a.id: j for j, a in enumerate(arr.asks)}
    out = np.full(len(arr.bids), -1, dtype=np.int64)
    for b, a in trades:
        if b not in bid_index or a not in ask_index:
            raise InputError(f"trade ({b!r}, {a!r}) names an unknown bid or ask",
                             name="trades", got=(b, a))
        if out[bid_index[b]] >= 0:
            raise InputError(f"bid {b!r} trades twice", name="trades", got=b)
        out[bid_index[b]] = ask_index[a]
    return out


def used_capacity(arr: MarketArrays, assignment: np.ndarray) -> np.ndarray:
    """(asks, resources) demand placed on each node by ``assignment``."""
    used = np.zeros_like(arr.capacity)
    placed = assignment >= 0
    np.add.at(used, assignment[placed], arr.demand[placed])
    return used


def welfare_of(arr: MarketArrays, assignment: np.ndarray) -> float:
    """Sum over trades of value - the node's cost of the demand (at the arrays' values)."""
    placed = np.flatnonzero(assignment >= 0)
    return float((arr.value[placed] - arr.cost[placed, assignment[placed]]).sum())


def clearing_of(name: str, arr: MarketArrays, assignment: np.ndarray, pay: np.ndarray,
                get: np.ndarray, prices: dict[str, float] | None = None) -> Clearing:
    """A :class:`Clearing` from arrays: ``pay`` (bids,) what each traded bid pays, ``get``
    (asks,) what each node receives (only nodes that sell are listed)."""
    placed = np.flatnonzero(assignment >= 0)
    sellers = np.unique(assignment[placed])
    return Clearing(name, trades_of(arr, assignment),
                    {arr.bids[i].id: float(pay[i]) for i in placed.tolist()},
                    {arr.asks[j].id: float(get[j]) for j in sellers.tolist()},
                    welfare_of(arr, assignment), prices or {})
