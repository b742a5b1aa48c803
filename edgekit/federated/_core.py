"""The contract every part of :mod:`edgekit.federated` is built on.

* Parameters are a list of numpy arrays (Flower's NDArrays).  A PyTorch or Keras user converts
  at the edge of their own code.
* A client is anything with ``fit(parameters, config) -> FitResult`` and
  ``evaluate(parameters, config) -> EvaluateResult`` (:class:`Client`).
* A strategy (:class:`Strategy`) says what each selected client is sent (:meth:`configure_fit`)
  and how the answers are combined (:meth:`aggregate_fit`).  Runtimes (in-process simulation,
  the networked coordinator, the Flower adapter) drive strategies; strategies never do I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edgekit._validate import int_in_range
from edgekit.errors import InputError, InputTypeError, RoundAbortedError
from edgekit.types import EvaluateResult, FitResult

__all__ = ["Client", "Config", "FitIns", "Parameters", "Strategy", "sample_clients"]

Parameters = list[np.ndarray]
"""A model's parameters: numpy arrays in a fixed order."""

Config = Mapping[str, "bool | int | float | str"]
"""What a strategy sends a client with its parameters (``{"local_epochs": 1, "lr": 0.1}``)."""


@runtime_checkable
class Client(Protocol):
    """A federated client: trains and evaluates on its own data."""

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        """Train from ``parameters`` (the arrays the strategy sent) as ``config`` says;
        return the trained arrays (same count, shapes and dtypes), the number of examples
        used and metrics."""
        ...

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """Loss and metrics of ``parameters`` on this client's data, with the number of
        examples."""
        ...


@dataclass(frozen=True)
class FitIns:
    """What every client selected for a round is sent: the arrays (the global parameters, to
    which a strategy may append its own, e.g. SCAFFOLD's control variates) and a config."""

    parameters: Parameters
    config: Mapping[str, Any] = field(default_factory=dict)


def _fraction(value: object, name: str, *, zero: bool = False) -> float:
    """``value`` as a float in (0, 1] (``zero``: [0, 1]); bools and non-numbers refused
    (:class:`~edgekit.errors.InputTypeError`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"{name} must be a number, got {type(value).__name__}", name=name,
                             got=type(value).__name__)
    v = float(value)
    if not (0.0 <= v if zero else 0.0 < v) or not v <= 1.0:
        raise InputError(f"{name} must be in {'[0' if zero else '(0'}, 1], got {value!r}",
                         name=name, got=value)
    return v


def _model_arrays(arrays: object, name: str) -> Parameters:
    """``arrays`` (a sequence of numeric, finite array-likes) as copied numpy arrays."""
    if isinstance(arrays, (str, bytes, np.ndarray)) or not isinstance(arrays, Sequence):
        raise InputTypeError(f"{name} must be a list of numpy arrays, got "
                             f"{type(arrays).__name__}", name=name, got=type(arrays).__name__)
    try:
        out = [np.array(a, copy=True) for a in arrays]
    except (TypeError, ValueError) as err:  # ragged nesting, unconvertible objects
        raise InputTypeError(f"{name} must be a list of numpy arrays: {err}", name=name) from err
    if not out:
        raise InputError(f"{name} must hold at least one array", name=name)
    for i, a in enumerate(out):
        if a.dtype.kind not in "fiu":
            raise InputTypeError(f"{name}[{i}] must be a numeric array, got dtype {a.dtype}",
                                 name=f"{name}[{i}]", got=str(a.dtype))
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise InputError(f"{name}[{i}] holds NaN or infinite values", name=f"{name}[{i}]")
    return out


def sample_clients(client_ids: Sequence[str], *, fraction: float, minimum: int,
                   rng: np.random.Generator, server_round: int | None = None) -> list[str]:
    """``max(minimum, ceil(fraction * n))`` of ``client_ids`` drawn without replacement, in
    the order drawn.  Raises :class:`~edgekit.errors.RoundAbortedError` when fewer than
    ``minimum`` clients are available, and :class:`~edgekit.errors.InputError` for a fraction
    outside (0, 1], a negative minimum or repeated ids."""
    fraction = _fraction(fraction, "fraction")
    minimum = int_in_range(minimum, "minimum", 0, 2**31)
    if len(set(client_ids)) != len(client_ids):
        raise InputError("client ids must be unique", name="client_ids")
    n = len(client_ids)
    if n < minimum or n == 0:
        raise RoundAbortedError(
            f"round {server_round}: {n} clients available, at least {max(minimum, 1)} needed",
            server_round=server_round, needed=max(minimum, 1), got=n)
    k = min(n, max(minimum, int(np.ceil(fraction * n))))
    picked = rng.choice(n, size=k, replace=False)
    return [client_ids[int(i)] for i in picked]


class Strategy(ABC):
    """How a federated round is configured and aggregated.  Subclasses implement
    :meth:`aggregate_fit`; the rest has defaults.

    Args:
        initial_parameters: the model's starting parameters (copied).
        initial_parameters: numeric arrays; float arrays must be finite
            (:class:`~edgekit.errors.InputError` / :class:`~edgekit.errors.InputTypeError`).
        fraction_fit: the fraction of available clients that train each round, in (0, 1].
        min_fit_clients: train on at least this many clients each round (an int >= 0).
    """

    def __init__(self, initial_parameters: Sequence[np.ndarray], *, fraction_fit: float = 1.0,
                 min_fit_clients: int = 2) -> None:
        self.initial_parameters = _model_arrays(initial_parameters, "initial_parameters")
        self.fraction_fit = _fraction(fraction_fit, "fraction_fit")
        self.min_fit_clients = int_in_range(min_fit_clients, "min_fit_clients", 0, 2**31)

    def initialize_parameters(self) -> Parameters:
        """The parameters round 1 starts from."""
        return [a.copy() for a in self.initial_parameters]

    def configure_fit(self, server_round: int, parameters: Parameters) -> FitIns:
        """What the round's selected clients are sent (default: the parameters, no config)."""
        return FitIns(parameters=parameters, config={})

    @abstractmethod
    def aggregate_fit(
        self, server_round: int, parameters: Parameters, results: Sequence[tuple[str, FitResult]]
    ) -> tuple[Parameters, dict[str, float]]:
        """The next global parameters from the round's accepted results ``(client_id,
        FitResult)`` (validated by the runtime: right shapes and dtypes, finite), and metrics
        to record for the round."""

    def aggregate_evaluate(self, server_round: int,
                           results: Sequence[tuple[str, EvaluateResult]]
                           ) -> tuple[float | None, dict[str, float]]:
        """The example-weighted mean loss and metrics of the clients' evaluations."""
        total = sum(r.num_examples for _, r in results)
        if total == 0:
            return None, {}
        loss = sum(r.loss * r.num_examples for _, r in results) / total
        keys = set.intersection(*(set(r.metrics) for _, r in results)) if results else set()
        metrics = {k: sum(float(r.metrics[k]) * r.num_examples for _, r in results) / total
                   for k in sorted(keys)}
        return float(loss), metrics
