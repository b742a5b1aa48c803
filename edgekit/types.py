"""Small frozen dataclasses shared by more than one subpackage.

Each validates itself in ``__post_init__`` and raises :class:`edgekit.errors.InputError`
(a ``ValueError``) naming the bad field.  Units are in the field names or docstrings.
Mappings passed in are copied into read-only views, so a value cannot change under a
scheduler or a store that holds it.

Subsystems add types in their own section below.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from edgekit.errors import InputError

__all__ = [
    "Ask",
    "Bid",
    "BoundingBox",
    "Clearing",
    "Category",
    "Detection",
    "EvaluateResult",
    "FitResult",
    "Keypoint",
    "Node",
    "Placement",
    "SensorReading",
    "Task",
]


def _finite(name: str, value: float, *, minimum: float | None = None) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}", name=name, got=value)
    if minimum is not None and value < minimum:
        raise InputError(
            f"{name} must be >= {minimum}, got {value!r}", name=name, expected=f">= {minimum}",
            got=value,
        )


def _frozen_amounts(owner: object, attr: str, amounts: Mapping[str, float]) -> None:
    if not isinstance(amounts, Mapping):
        raise InputError(f"{attr} must be a mapping of resource name to amount", name=attr)
    for key, value in amounts.items():
        if not isinstance(key, str) or not key:
            raise InputError(f"{attr} keys must be non-empty strings, got {key!r}", name=attr)
        _finite(f"{attr}[{key!r}]", value, minimum=0.0)
    object.__setattr__(owner, attr, MappingProxyType(dict(amounts)))


def _frozen_labels(owner: object, attr: str, labels: Mapping[str, str]) -> None:
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise InputError(f"{attr} must map str to str", name=attr)
    object.__setattr__(owner, attr, MappingProxyType(dict(labels)))


def _str_tuple(owner: object, attr: str, values: Iterable[str]) -> None:
    if isinstance(values, str):
        raise InputError(f"{attr} must be a collection of strings, not one string", name=attr)
    out = tuple(values)
    if not all(isinstance(v, str) for v in out):
        raise InputError(f"{attr} must contain strings", name=attr)
    object.__setattr__(owner, attr, out)


# --- schedule ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """An edge node that can run tasks.

    Attributes:
        name: unique name.
        capacity: resource name -> amount available in total (e.g. ``{"cpu": 4.0,
            "mem_mib": 8192}``); the units are the user's, the same for nodes and tasks.
        labels: key -> value, matched by a task's ``node_selector``.
        taints: taint keys; a task must tolerate each to be placed here.
    """

    name: str
    capacity: Mapping[str, float]
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError("Node.name must be a non-empty string", name="name")
        _frozen_amounts(self, "capacity", self.capacity)
        _frozen_labels(self, "labels", self.labels)
        _str_tuple(self, "taints", self.taints)


@dataclass(frozen=True, slots=True)
class Task:
    """A unit of work to place on a node.

    Attributes:
        name: unique name.
        demand: resource name -> amount requested (a resource the task does not name is 0).
        tenant: who the task is for (fair sharing between tenants).
        node_selector: labels a node must carry, key -> value.
        tolerations: taint keys this task tolerates.
        duration_s: expected run time in seconds, or ``None`` if unknown/unbounded.
        source: name of the place its data comes from (for latency budgets), or ``None``.
        latency_budget_ms: the most network latency from ``source`` it accepts, or ``None``.
        group: the group this task belongs to (named by other tasks' affinity rules), or
            ``None``.
        affinity: groups this task must run beside: if a task of the group is placed, this
            one goes on a node that runs one.
        anti_affinity: groups this task must not share a node with.
    """

    name: str
    demand: Mapping[str, float]
    tenant: str = "default"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[str, ...] = ()
    duration_s: float | None = None
    source: str | None = None
    latency_budget_ms: float | None = None
    group: str | None = None
    affinity: tuple[str, ...] = ()
    anti_affinity: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError("Task.name must be a non-empty string", name="name")
        if self.group is not None and (not isinstance(self.group, str) or not self.group):
            raise InputError("Task.group must be a non-empty string or None", name="group")
        _str_tuple(self, "affinity", self.affinity)
        _str_tuple(self, "anti_affinity", self.anti_affinity)
        _frozen_amounts(self, "demand", self.demand)
        _frozen_labels(self, "node_selector", self.node_selector)
        _str_tuple(self, "tolerations", self.tolerations)
        if self.duration_s is not None:
            _finite("duration_s", self.duration_s, minimum=0.0)
        if self.latency_budget_ms is not None:
            _finite("latency_budget_ms", self.latency_budget_ms, minimum=0.0)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a task went.  ``node`` is ``None`` when it could not be placed, and ``reason``
    then says why (e.g. ``"no node has 8 cpu free"``); not being placed is a result, not an
    error."""

    task: str
    node: str | None
    reason: str | None = None
    score: float | None = None

    @property
    def placed(self) -> bool:
        return self.node is not None


# --- infer ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """An axis-aligned box in pixels of the original image: top-left corner and size."""

    origin_x: float
    origin_y: float
    width: float
    height: float

    def __post_init__(self) -> None:
        for name in ("origin_x", "origin_y"):
            _finite(name, getattr(self, name))
        for name in ("width", "height"):
            _finite(name, getattr(self, name), minimum=0.0)

    @property
    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: BoundingBox) -> float:
        """Intersection over union with ``other`` (0.0 for two empty boxes)."""
        ix = max(0.0, min(self.origin_x + self.width, other.origin_x + other.width)
                 - max(self.origin_x, other.origin_x))
        iy = max(0.0, min(self.origin_y + self.height, other.origin_y + other.height)
                 - max(self.origin_y, other.origin_y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Category:
    """A class a detection belongs to, with its score in [0, 1]."""

    index: int
    score: float
    category_name: str | None = None
    display_name: str | None = None

    def __post_init__(self) -> None:
        _finite("score", self.score)


@dataclass(frozen=True, slots=True)
class Keypoint:
    """A landmark in pixels of the original image (e.g. an eye of a face)."""

    x: float
    y: float
    label: str | None = None
    score: float | None = None

    def __post_init__(self) -> None:
        _finite("x", self.x)
        _finite("y", self.y)


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object: its box, its categories (best first) and its keypoints."""

    bounding_box: BoundingBox
    categories: tuple[Category, ...]
    keypoints: tuple[Keypoint, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "keypoints", tuple(self.keypoints))


# --- memory -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SensorReading:
    """One reading: time in ns since the Unix epoch, value in the sensor's unit, a quality
    flag (0 = good; the meaning of other codes is the application's) and a channel id."""

    timestamp_ns: int
    value: float
    quality: int = 0
    channel: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.timestamp_ns, int) or isinstance(self.timestamp_ns, bool):
            raise InputError("timestamp_ns must be an int", name="timestamp_ns")
        if not isinstance(self.quality, int) or not 0 <= self.quality <= 255:
            raise InputError("quality must be an int in 0..255", name="quality")
        if not isinstance(self.channel, int) or self.channel < 0:
            raise InputError("channel must be a non-negative int", name="channel")


# --- federated --------------------------------------------------------------------------------


def _metrics(owner: object, metrics: Mapping[str, float]) -> None:
    if not isinstance(metrics, Mapping) or not all(isinstance(k, str) for k in metrics):
        raise InputError("metrics must map str to a number", name="metrics")
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"metrics[{key!r}] must be a number, got {value!r}", name="metrics")
    object.__setattr__(owner, "metrics", MappingProxyType(dict(metrics)))


def _count(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"{name} must be a non-negative int, got {value!r}", name=name, got=value)


@dataclass(frozen=True, slots=True)
class FitResult:
    """What a federated client returns from ``fit``: its locally trained ``parameters`` (a
    sequence of numpy arrays, the same shapes and dtypes as it was sent: Flower's NDArrays),
    the number of training examples it used (the aggregation weight), and metrics
    (name -> number, e.g. ``{"loss": 0.31}``)."""

    parameters: Sequence[Any]
    num_examples: int
    metrics: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", list(self.parameters))
        _count("num_examples", self.num_examples)
        _metrics(self, self.metrics)


@dataclass(frozen=True, slots=True)
class EvaluateResult:
    """What a federated client returns from ``evaluate``: the loss of the parameters it was
    sent on its local data, the number of examples, and metrics (``{"accuracy": 0.93}``)."""

    loss: float
    num_examples: int
    metrics: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _finite("loss", self.loss)
        _count("num_examples", self.num_examples)
        _metrics(self, self.metrics)


# --- market -----------------------------------------------------------------------------------


def _ident(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InputError(f"{name} must be a non-empty string, got {value!r}", name=name, got=value)


@dataclass(frozen=True, slots=True)
class Ask:
    """A node's offer to a compute market: its ``capacity`` (resource name -> units, as a
    :class:`Node`'s: cores, GiB, any named resource) and its ``unit_cost`` (resource name ->
    cost per unit per hour, in the market's currency).  A resource missing from
    ``unit_cost`` costs 0.  ``labels`` and ``taints`` are matched against a bid's
    ``node_selector`` and ``tolerations`` as :mod:`edgekit.schedule` matches them."""

    id: str
    capacity: Mapping[str, float]
    unit_cost: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _ident("id", self.id)
        _frozen_amounts(self, "capacity", self.capacity)
        _frozen_amounts(self, "unit_cost", self.unit_cost)
        unknown = set(self.unit_cost) - set(self.capacity)
        if unknown:
            raise InputError(f"ask {self.id!r} prices resources it does not offer: "
                             f"{sorted(unknown)}", name="unit_cost", got=sorted(unknown))
        _frozen_labels(self, "labels", self.labels)
        _str_tuple(self, "taints", self.taints)

    def cost_of(self, demand: Mapping[str, float]) -> float:
        """The node's cost per hour of holding ``demand``."""
        return float(sum(self.unit_cost.get(r, 0.0) * q for r, q in demand.items()))


@dataclass(frozen=True, slots=True)
class Bid:
    """An application's bid for one task: its ``demand`` (resource name -> units, all on one
    node) and ``value``, what running it is worth per hour.  ``eligible`` (ask ids), when
    given, restricts the nodes it may run on; ``node_selector`` / ``tolerations`` filter
    nodes by labels and taints, as :class:`Task`'s do."""

    id: str
    demand: Mapping[str, float]
    value: float
    eligible: tuple[str, ...] | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _ident("id", self.id)
        _frozen_amounts(self, "demand", self.demand)
        _finite("value", self.value, minimum=0.0)
        if self.eligible is not None:
            _str_tuple(self, "eligible", self.eligible)
        _frozen_labels(self, "node_selector", self.node_selector)
        _str_tuple(self, "tolerations", self.tolerations)


@dataclass(frozen=True, slots=True)
class Clearing:
    """A cleared market.  ``trades`` are ``(bid_id, ask_id)`` pairs (a bid trades at most
    once); ``payments`` maps every traded bid to what its application pays per hour,
    ``receipts`` every ask that sells to what its node receives per hour; ``prices`` are
    per-unit resource prices where the mechanism has them (else empty); ``welfare`` is the
    sum over trades of the bid's value less the node's cost of its demand (per hour, at the
    reported values).  ``surplus`` = payments - receipts: the market never runs a deficit
    when it is >= 0."""

    mechanism: str
    trades: tuple[tuple[str, str], ...]
    payments: Mapping[str, float]
    receipts: Mapping[str, float]
    welfare: float
    prices: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trades", tuple((str(b), str(a)) for b, a in self.trades))
        for name in ("payments", "receipts", "prices"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def surplus(self) -> float:
        """What the market keeps per hour: payments less receipts (negative: a deficit)."""
        return float(sum(self.payments.values()) - sum(self.receipts.values()))

    def placements(self) -> list[Placement]:
        """The trades as :class:`Placement` s (task = bid id, node = ask id), so a cleared
        market runs as a schedule."""
        return [Placement(task=b, node=a, reason=None) for b, a in self.trades]
