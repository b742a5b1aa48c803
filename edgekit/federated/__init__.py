"""Federated learning between edge nodes (issue #18): numpy-first and framework-agnostic.

* the contract: :class:`Client` (``fit``/``evaluate``), :class:`Strategy`, :class:`FitIns`,
  :func:`sample_clients`, ``Parameters`` (a list of numpy arrays);
* strategies: :class:`FedAvg`, :class:`FedProx`, :class:`FedAvgM`, :class:`FedAdam`,
  :class:`FedYogi`, :class:`FedAdagrad`, :class:`Scaffold`, and the robust
  :class:`FedMedian`, :class:`FedTrimmedAvg`, :class:`Krum`;
* :func:`simulate` runs a fleet in one process (bytes on the wire counted for real) and
  returns a :class:`History`;
* partitioning: :func:`iid_partition`, :func:`dirichlet_partition`, :func:`shard_partition`;
* numpy clients: :class:`SoftmaxClient`, :class:`MLPClient` (and :class:`PoisonedClient` for
  attack experiments).
"""

from __future__ import annotations

from edgekit.errors import InvalidUpdateError, RoundAbortedError
from edgekit.federated._core import Client, Config, FitIns, Parameters, Strategy, sample_clients
from edgekit.federated.models import (
    MLPClient,
    PoisonedClient,
    SoftmaxClient,
    accuracy,
    mlp_parameters,
    softmax_parameters,
    train_centralised,
)
from edgekit.federated.partition import dirichlet_partition, iid_partition, shard_partition
from edgekit.federated.simulation import History, RoundRecord, UpdateCodec, simulate
from edgekit.federated.strategies import (
    DEFAULT_FIT_CONFIG,
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedMedian,
    FedOpt,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    MeanStrategy,
    Scaffold,
    weighted_mean_update,
)
from edgekit.types import EvaluateResult, FitResult

__all__ = [
    "DEFAULT_FIT_CONFIG",
    "Client",
    "Config",
    "EvaluateResult",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedAvgM",
    "FedMedian",
    "FedOpt",
    "FedProx",
    "FedTrimmedAvg",
    "FedYogi",
    "FitIns",
    "FitResult",
    "History",
    "InvalidUpdateError",
    "Krum",
    "MLPClient",
    "MeanStrategy",
    "Parameters",
    "PoisonedClient",
    "RoundAbortedError",
    "RoundRecord",
    "Scaffold",
    "SoftmaxClient",
    "Strategy",
    "UpdateCodec",
    "accuracy",
    "dirichlet_partition",
    "iid_partition",
    "mlp_parameters",
    "sample_clients",
    "shard_partition",
    "simulate",
    "softmax_parameters",
    "train_centralised",
    "weighted_mean_update",
]
