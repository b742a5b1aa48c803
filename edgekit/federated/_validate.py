"""Checks every runtime applies to a client's answer before a strategy sees it.

A refused answer raises :class:`~edgekit.errors.InvalidUpdateError` (with the client's id and
the round) and is left out of the round; the round goes on with the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from edgekit.errors import InputError, InputTypeError, InvalidUpdateError
from edgekit.federated._core import Parameters
from edgekit.types import FitResult

__all__ = ["RoundCollector", "check_fit_result", "check_parameters", "check_secure_options"]


def check_parameters(arrays: Sequence[object], like: Sequence[np.ndarray], *, client: str,
                     server_round: int | None) -> Parameters:
    """``arrays`` as numpy arrays if they match ``like`` array for array (count, shape,
    dtype) and are all finite; else :class:`~edgekit.errors.InvalidUpdateError`."""

    def refuse(msg: str, **facts: object) -> InvalidUpdateError:
        return InvalidUpdateError(f"round {server_round}, client {client!r}: {msg}",
                                  client=client, server_round=server_round, **facts)

    if not isinstance(arrays, (list, tuple)):
        raise refuse(f"parameters must be a list of arrays, got {type(arrays).__name__}",
                     name="parameters")
    if len(arrays) != len(like):
        raise refuse(f"{len(arrays)} arrays, expected {len(like)}", name="parameters",
                     expected=len(like), got=len(arrays))
    out = []
    for i, (a, ref) in enumerate(zip(arrays, like, strict=True)):
        if not isinstance(a, np.ndarray):
            raise refuse(f"array {i} is a {type(a).__name__}, not a numpy array",
                         name=f"parameters[{i}]", got=type(a).__name__)
        if a.shape != ref.shape:
            raise refuse(f"array {i} has shape {a.shape}, expected {ref.shape}",
                         name=f"parameters[{i}]", expected=ref.shape, got=a.shape)
        if a.dtype != ref.dtype:
            raise refuse(f"array {i} has dtype {a.dtype}, expected {ref.dtype}",
                         name=f"parameters[{i}]", expected=str(ref.dtype), got=str(a.dtype))
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise refuse(f"array {i} holds NaN or infinite values", name=f"parameters[{i}]",
                         got="non-finite")
        out.append(a)
    return out


def check_fit_result(result: object, like: Sequence[np.ndarray], *, client: str,
                     server_round: int | None) -> FitResult:
    """``result`` if it is a :class:`~edgekit.types.FitResult` whose parameters pass
    :func:`check_parameters` against ``like`` (what the client was sent)."""
    if not isinstance(result, FitResult):
        raise InvalidUpdateError(
            f"round {server_round}, client {client!r}: fit returned a "
            f"{type(result).__name__}, not a FitResult", client=client,
            server_round=server_round, name="result", got=type(result).__name__)
    params = check_parameters(result.parameters, like, client=client, server_round=server_round)
    return FitResult(params, result.num_examples, result.metrics)


def check_secure_options(strategy: object, codec: object, secure_aggregation: Any) -> None:
    """What every runtime refuses before a secure-aggregation run: a config that is not a
    :class:`~edgekit.federated.secagg.SecAggConfig` (:class:`~edgekit.errors.InputTypeError`),
    a codec beside it, or a strategy that needs every update (``supports_mean`` false)
    (:class:`~edgekit.errors.InputError`).  Nothing to check when ``secure_aggregation`` is
    ``None``."""
    if secure_aggregation is None:
        return
    from edgekit.federated.secagg import SecAggConfig

    if not isinstance(secure_aggregation, SecAggConfig):
        raise InputTypeError("secure_aggregation must be a SecAggConfig",
                             name="secure_aggregation", got=type(secure_aggregation).__name__)
    if codec is not None:
        raise InputError("secure aggregation sums raw fixed-point updates: no codec",
                         name="codec")
    if not getattr(strategy, "supports_mean", False):
        raise InputError(f"{type(strategy).__name__} needs every update; secure "
                         "aggregation gives only their sum", name="strategy")


class RoundCollector:
    """The answers of one round: accepts one valid answer from each selected client.

    ``accept`` raises :class:`~edgekit.errors.InvalidUpdateError` for an answer from a client
    that was not selected, a second answer (the first stays), or an answer that fails
    :func:`check_fit_result`; what was accepted is in ``results`` in arrival order.
    """

    def __init__(self, server_round: int, selected: Iterable[str],
                 like: Sequence[np.ndarray]) -> None:
        self.server_round = server_round
        self.selected = frozenset(selected)
        self.like = list(like)
        self.results: list[tuple[str, FitResult]] = []
        self._answered: set[str] = set()

    def accept(self, client: str, result: object) -> FitResult:
        """Validate and keep ``client``'s answer; returns it (as a checked FitResult)."""
        if client not in self.selected:
            raise InvalidUpdateError(
                f"round {self.server_round}: client {client!r} was not selected",
                client=client, server_round=self.server_round, name="client", got=client)
        if client in self._answered:
            raise InvalidUpdateError(
                f"round {self.server_round}: client {client!r} answered twice; the first "
                "answer stands", client=client, server_round=self.server_round, name="client",
                got=client)
        self._answered.add(client)  # a refused answer still counts as the client's answer
        checked = check_fit_result(result, self.like, client=client,
                                   server_round=self.server_round)
        self.results.append((client, checked))
        return checked
