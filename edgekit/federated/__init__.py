"""Federated learning between edge nodes (work in progress: see issue #18)."""

from __future__ import annotations

from edgekit.errors import InvalidUpdateError, RoundAbortedError
from edgekit.federated._core import Client, Config, FitIns, Parameters, Strategy, sample_clients
from edgekit.types import EvaluateResult, FitResult

__all__ = [
    "Client",
    "Config",
    "EvaluateResult",
    "FitIns",
    "FitResult",
    "InvalidUpdateError",
    "Parameters",
    "RoundAbortedError",
    "Strategy",
    "sample_clients",
]
