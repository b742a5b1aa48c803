"""The federated study's tasks: real datasets that ship inside sklearn (no download), split
into a stratified held-out test set and a skewed fleet of numpy clients.

Used by tools/federated_study.py, the benchmark, the demo, the notebook and the tests, so
that they all measure the same setup.  Needs scikit-learn (only for the datasets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.errors import InputError, RuntimeUnavailableError
from edgekit.federated._core import Parameters, Strategy
from edgekit.federated.models import (
    MLPClient,
    SoftmaxClient,
    mlp_parameters,
    softmax_parameters,
)
from edgekit.federated.partition import dirichlet_partition, iid_partition

# the held-out split is the same for every seed (seeds vary the fleet, not the test set)
_SPLIT_SEED = 0
_TEST_SIZE = 0.3


@dataclass(frozen=True)
class Task:
    """A dataset split into train and held-out test arrays (float32 inputs, int labels)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


def _sklearn() -> Any:
    try:
        import sklearn.datasets
        import sklearn.model_selection
    except ImportError as err:  # pragma: no cover - the test extra has it
        raise RuntimeUnavailableError("the federated study's datasets come with scikit-learn",
                                      feature="federated study", extra="examples") from err
    return sklearn


def load_task(name: str) -> Task:
    """``"digits"`` (8x8 images, 10 classes, pixels / 16) or ``"breast_cancer"`` (30
    features, 2 classes, standardised with the training split's mean and deviation)."""
    sk = _sklearn()
    if name == "digits":
        data = sk.datasets.load_digits()
        x = data.data / 16.0
    elif name == "breast_cancer":
        data = sk.datasets.load_breast_cancer()
        x = data.data
    else:
        raise InputError(f"unknown task {name!r}", name="name", got=name)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = sk.model_selection.train_test_split(
        x, y, test_size=_TEST_SIZE, stratify=y, random_state=_SPLIT_SEED)
    if name == "breast_cancer":
        mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0) + 1e-12
        x_tr, x_te = (x_tr - mu) / sd, (x_te - mu) / sd
    return Task(name, x_tr.astype(np.float32), y_tr, x_te.astype(np.float32), y_te,
                int(y.max()) + 1)


def fleet(task: Task, *, n_clients: int = 10, alpha: float | None = 0.1, seed: int = 0,
          model: str = "softmax") -> tuple[dict[str, Any], Parameters]:
    """``n_clients`` clients over ``task``'s training split (Dirichlet(``alpha``) label skew,
    IID when ``alpha`` is None) and the model's initial parameters."""
    y = task.y_train
    parts = (iid_partition(y, n_clients, seed=seed) if alpha is None
             else dirichlet_partition(y, n_clients, alpha=alpha, seed=seed))
    d = task.x_train.shape[1]
    if model == "softmax":
        cls: type = SoftmaxClient
        init = softmax_parameters(d, task.n_classes)
    elif model == "mlp":
        cls = MLPClient
        init = mlp_parameters(d, 32, task.n_classes, seed=seed)
    else:
        raise InputError(f"unknown model {model!r}", name="model", got=model)
    clients = {f"c{k}": cls(task.x_train[p], y[p], n_classes=task.n_classes, seed=seed + k)
               for k, p in enumerate(parts)}
    return clients, init


def evaluator(task: Task, model: str = "softmax"
              ) -> Callable[[int, Parameters], dict[str, float]]:
    """``evaluate_fn`` for :func:`~edgekit.federated.simulate`: held-out accuracy and loss."""
    cls = SoftmaxClient if model == "softmax" else MLPClient
    probe = cls(task.x_test, task.y_test, n_classes=task.n_classes)

    def evaluate(server_round: int, parameters: Parameters) -> dict[str, float]:
        res = probe.evaluate(parameters, {})
        return {"accuracy": res.metrics["accuracy"], "loss": res.loss}
    return evaluate


def make_strategy(name: str, init: Parameters, *, n_clients: int = 10,
                  **overrides: Any) -> Strategy:
    """A strategy by name with the study's fixed defaults (see ``STUDY_DEFAULTS``)."""
    from edgekit.federated import strategies as s

    kw: dict[str, Any] = {"fit_config": dict(STUDY_FIT_CONFIG), "lr_decay": STUDY_LR_DECAY,
                          **STUDY_DEFAULTS.get(name, {}), **overrides}
    classes: dict[str, Callable[..., Strategy]] = {
        "fedavg": s.FedAvg, "fedprox": s.FedProx, "fedavgm": s.FedAvgM, "fedadam": s.FedAdam,
        "fedyogi": s.FedYogi, "fedadagrad": s.FedAdagrad, "median": s.FedMedian,
        "trimmed": s.FedTrimmedAvg, "krum": s.Krum, "multikrum": s.Krum,
    }
    if name == "scaffold":
        return s.Scaffold(init, num_clients=n_clients, **kw)
    if name not in classes:
        raise InputError(f"unknown strategy {name!r}", name="name", got=name)
    return classes[name](init, **kw)


# The study's settings, tuned on digits only (seeds 100-104, 50 rounds, both models; the
# grid is in docs/federated.md) and fixed before any other dataset ran: clients run 1 epoch
# of SGD at lr 0.2 in batches of 8, the lr decaying by 0.98 a round (sent by the strategy);
# FedOpt's server eta 0.1.
STUDY_FIT_CONFIG: dict[str, Any] = {"lr": 0.2, "local_epochs": 1, "batch_size": 8}
STUDY_LR_DECAY = 0.98
STUDY_DEFAULTS: dict[str, dict[str, Any]] = {
    "fedavg": {},
    "fedprox": {"proximal_mu": 0.01},
    "fedavgm": {"server_momentum": 0.9, "server_lr": 1.0},
    "fedadam": {"eta": 0.1},
    "fedyogi": {"eta": 0.1},
    "fedadagrad": {"eta": 0.1},
    "scaffold": {},
    "median": {},
    "trimmed": {"beta": 0.2},
    "krum": {"num_malicious": 2, "num_selected": 1},
    "multikrum": {"num_malicious": 2, "num_selected": 4},
}
