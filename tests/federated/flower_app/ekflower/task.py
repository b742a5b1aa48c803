"""What the server and the clients share: the fleet (sklearn digits split over ``n-clients``
clients with Dirichlet label skew, as edgekit's federated study builds it) and the codec."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from edgekit.federated import _tasks
from edgekit.federated.compression import QuantizedCodec, TopKCodec


@lru_cache(maxsize=4)
def fleet(n_clients: int, alpha: float, seed: int) -> tuple[Any, dict[str, Any], list]:
    """``(task, clients by id, initial parameters)``; client ids are ``c0``, ``c1``..."""
    task = _tasks.load_task("digits")
    clients, init = _tasks.fleet(task, n_clients=n_clients, alpha=alpha, seed=seed)
    return task, clients, init


def codec(name: str) -> Any:
    """The update codec named in the run config (``none``: parameters are sent raw)."""
    return {"none": None, "int8": QuantizedCodec(8), "int4": QuantizedCodec(4),
            "topk": TopKCodec(0.1)}[name]


def settings(run_config: Any) -> tuple[int, float, int]:
    return int(run_config["n-clients"]), float(run_config["alpha"]), int(run_config["seed"])
