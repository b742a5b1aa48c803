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
  attack experiments);
* uplink codecs (``simulate(codec=...)``): :class:`Float32Codec`, :class:`QuantizedCodec`
  (8/4-bit stochastic), :class:`TopKCodec` (top-k with error feedback);
* differential privacy: :class:`CentralDP` (a strategy wrapper), :class:`LocalDP` (a client
  wrapper), :func:`clip_update`, :func:`privacy_spent` (needs the ``[federated]`` extra);
* secure aggregation (``simulate(secure_aggregation=SecAggConfig())``): :class:`SecAggConfig`,
  :class:`SecAggServer`, :class:`SecAggClient`, :class:`SecureSum`, :func:`secure_sum`,
  :func:`plain_fixed_point_sum`, :func:`update_vector`, :func:`mean_update`;
* the networked runtime over mutual TLS (extra ``[aio]``): :class:`Coordinator`,
  :func:`run_client`, :class:`NetworkHistory`, :class:`NetworkRoundRecord`,
  :class:`ClientReport`.

Secure aggregation and the networked runtime are imported on first use (the latter pulls in
asyncio, ssl and, when it runs, aiohttp).  The Flower adapter is
:mod:`edgekit.federated.flower` (extra ``[flower]``), imported only by name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgekit.errors import InvalidUpdateError, RoundAbortedError
from edgekit.federated._core import Client, Config, FitIns, Parameters, Strategy, sample_clients
from edgekit.federated.compression import Float32Codec, QuantizedCodec, TopKCodec
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
from edgekit.federated.privacy import CentralDP, LocalDP, clip_update, privacy_spent
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

if TYPE_CHECKING:
    from edgekit.federated.network import (
        ClientReport,
        Coordinator,
        NetworkHistory,
        NetworkRoundRecord,
        run_client,
    )
    from edgekit.federated.secagg import (
        SecAggClient,
        SecAggConfig,
        SecAggServer,
        SecureSum,
        mean_update,
        plain_fixed_point_sum,
        secure_sum,
        update_vector,
    )

# name -> the submodule that defines it, imported on first use
_LAZY = {
    **dict.fromkeys(["ClientReport", "Coordinator", "NetworkHistory", "NetworkRoundRecord",
                     "run_client"], "network"),
    **dict.fromkeys(["SecAggClient", "SecAggConfig", "SecAggServer", "SecureSum", "mean_update",
                     "plain_fixed_point_sum", "secure_sum", "update_vector"], "secagg"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CentralDP",
    "Client",
    "ClientReport",
    "Config",
    "Coordinator",
    "DEFAULT_FIT_CONFIG",
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
    "Float32Codec",
    "History",
    "InvalidUpdateError",
    "Krum",
    "LocalDP",
    "MLPClient",
    "MeanStrategy",
    "NetworkHistory",
    "NetworkRoundRecord",
    "Parameters",
    "PoisonedClient",
    "QuantizedCodec",
    "RoundAbortedError",
    "RoundRecord",
    "Scaffold",
    "SecAggClient",
    "SecAggConfig",
    "SecAggServer",
    "SecureSum",
    "SoftmaxClient",
    "Strategy",
    "TopKCodec",
    "UpdateCodec",
    "accuracy",
    "clip_update",
    "dirichlet_partition",
    "iid_partition",
    "mean_update",
    "mlp_parameters",
    "plain_fixed_point_sum",
    "privacy_spent",
    "run_client",
    "sample_clients",
    "secure_sum",
    "shard_partition",
    "simulate",
    "softmax_parameters",
    "train_centralised",
    "update_vector",
    "weighted_mean_update",
]
