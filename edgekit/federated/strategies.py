"""Federated strategies: how client updates become the next global model.

Mean-based strategies (``supports_mean = True``) only need the example-weighted mean of the
client deltas, ``mean_update = sum_k n_k (w_k - w) / sum_k n_k``, and implement
:meth:`aggregate_mean`; secure aggregation and compressed updates feed them through it.
:meth:`MeanStrategy.aggregate_fit` computes that mean from the clients' parameters and calls
it, so both paths give the same model.

* :class:`FedAvg` (McMahan et al. 2017), :class:`FedProx` (Li et al. 2020: FedAvg whose
  clients add a proximal term), :class:`FedAvgM` (server momentum, Hsu et al. 2019);
* :class:`FedAdam`, :class:`FedYogi`, :class:`FedAdagrad`: the server optimisers of Reddi et
  al. 2021, "Adaptive Federated Optimization" (Algorithm 2, no bias correction);
* :class:`Scaffold` (Karimireddy et al. 2020): control variates that correct client drift;
* robust aggregators (``supports_mean = False``: they need every update):
  :class:`FedMedian` (coordinate-wise median), :class:`FedTrimmedAvg` (coordinate-wise
  trimmed mean), :class:`Krum` (Krum / multi-Krum, Blanchard et al. 2017).

Every strategy sends its clients ``fit_config`` (``lr``, ``local_epochs``, ``batch_size``;
:data:`DEFAULT_FIT_CONFIG` by default) with the round number.  Arrays are combined in float64
and returned in the parameters' own dtypes.
"""

from __future__ import annotations

import itertools
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from edgekit._validate import int_in_range
from edgekit.errors import InputError
from edgekit.federated._core import FitIns, Parameters, Strategy
from edgekit.types import FitResult

__all__ = [
    "DEFAULT_FIT_CONFIG",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedAvgM",
    "FedMedian",
    "FedOpt",
    "FedProx",
    "FedTrimmedAvg",
    "FedYogi",
    "Krum",
    "MeanStrategy",
    "Scaffold",
    "weighted_mean_update",
]

DEFAULT_FIT_CONFIG: Mapping[str, Any] = {"lr": 0.1, "local_epochs": 1, "batch_size": 8}
"""What clients are told when a strategy is given no ``fit_config`` (tuned on sklearn's digits
with the softmax client; see docs/federated.md)."""


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InputError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"number, got {value!r}", name=name, got=value)
    return v


def weighted_mean_update(parameters: Sequence[np.ndarray],
                         results: Sequence[tuple[str, FitResult]]) -> tuple[list[np.ndarray], int]:
    """``(sum_k n_k (w_k - w) / sum_k n_k, sum_k n_k)`` in float64 over ``results``, the
    deltas taken against ``parameters`` (what the clients were sent).  Clients with no
    examples weigh nothing; with no examples at all the mean is zero."""
    total = sum(r.num_examples for _, r in results)
    acc = [np.zeros(np.shape(p), np.float64) for p in parameters]
    for _, r in results:
        if r.num_examples == 0:
            continue
        for a, w_k, w in zip(acc, r.parameters, parameters, strict=True):
            a += r.num_examples * (np.asarray(w_k, np.float64) - np.asarray(w, np.float64))
    if total:
        for a in acc:
            a /= total
    return acc, total


def _apply(parameters: Sequence[np.ndarray], step: Sequence[np.ndarray]) -> Parameters:
    return [(np.asarray(p, np.float64) + s).astype(np.asarray(p).dtype)
            for p, s in zip(parameters, step, strict=True)]


def _norm(arrays: Sequence[np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


def _fit_loss(results: Sequence[tuple[str, FitResult]]) -> dict[str, float]:
    rs = [r for _, r in results if "loss" in r.metrics and r.num_examples]
    total = sum(r.num_examples for r in rs)
    if not total:
        return {}
    return {"fit_loss": sum(float(r.metrics["loss"]) * r.num_examples for r in rs) / total}


class _Configured(Strategy):
    """A strategy with a client config (and the round number added to it)."""

    supports_mean: ClassVar[bool] = False

    def __init__(self, initial_parameters: Sequence[np.ndarray], *, fraction_fit: float = 1.0,
                 min_fit_clients: int = 2, fit_config: Mapping[str, Any] | None = None,
                 lr_decay: float = 1.0) -> None:
        super().__init__(initial_parameters, fraction_fit=fraction_fit,
                         min_fit_clients=min_fit_clients)
        self.fit_config = dict(DEFAULT_FIT_CONFIG if fit_config is None else fit_config)
        if not 0.0 < lr_decay <= 1.0:
            raise InputError("lr_decay must be in (0, 1]", name="lr_decay", got=lr_decay)
        self.lr_decay = float(lr_decay)

    def _round_config(self, server_round: int) -> dict[str, Any]:
        cfg = {**self.fit_config, "server_round": server_round}
        if self.lr_decay != 1.0 and "lr" in cfg:
            cfg["lr"] = float(cfg["lr"]) * self.lr_decay ** (server_round - 1)
        return cfg

    def configure_fit(self, server_round: int, parameters: Parameters) -> FitIns:
        return FitIns(parameters=list(parameters), config=self._round_config(server_round))


class MeanStrategy(_Configured):
    """Base of the strategies that aggregate from the weighted mean of the client deltas."""

    supports_mean: ClassVar[bool] = True

    def aggregate_fit(self, server_round: int, parameters: Parameters,
                      results: Sequence[tuple[str, FitResult]]
                      ) -> tuple[Parameters, dict[str, float]]:
        sent = self.configure_fit(server_round, parameters).parameters
        mean, total = weighted_mean_update(sent, results)
        new, metrics = self.aggregate_mean(server_round, parameters, mean, total)
        return new, {**_fit_loss(results), **metrics}

    @abstractmethod
    def aggregate_mean(self, server_round: int, parameters: Parameters,
                       mean_update: Parameters, total_examples: int
                       ) -> tuple[Parameters, dict[str, float]]:
        """The next global parameters from the example-weighted mean of the client deltas
        (one array per array the clients were sent) over ``total_examples`` examples."""


class FedAvg(MeanStrategy):
    """Federated averaging: ``w <- w + server_lr * mean_update``; with ``server_lr=1`` (the
    default) the example-weighted mean of the clients' models.

    Args:
        initial_parameters: the starting model.
        fraction_fit, min_fit_clients: client sampling (see :class:`Strategy`).
        fit_config: what clients are told (``lr``, ``local_epochs``, ``batch_size``...).
        lr_decay: the clients' ``lr`` is multiplied by ``lr_decay ** (round - 1)``, in (0, 1].
        server_lr: the server's step on the mean delta.
    """

    def __init__(self, initial_parameters: Sequence[np.ndarray], *, fraction_fit: float = 1.0,
                 min_fit_clients: int = 2, fit_config: Mapping[str, Any] | None = None,
                 lr_decay: float = 1.0, server_lr: float = 1.0) -> None:
        super().__init__(initial_parameters, fraction_fit=fraction_fit,
                         min_fit_clients=min_fit_clients, fit_config=fit_config,
                         lr_decay=lr_decay)
        self.server_lr = _positive("server_lr", server_lr)

    def aggregate_mean(self, server_round: int, parameters: Parameters,
                       mean_update: Parameters, total_examples: int
                       ) -> tuple[Parameters, dict[str, float]]:
        if total_examples == 0:
            return [p.copy() for p in parameters], {"update_norm": 0.0}
        step = [self.server_lr * np.asarray(m, np.float64) for m in mean_update]
        return _apply(parameters, step), {"update_norm": _norm(mean_update)}


class FedProx(FedAvg):
    """FedAvg whose clients minimise ``loss + proximal_mu/2 * ||w - w_global||^2`` (they get
    ``proximal_mu`` in their config).  Args as :class:`FedAvg`, plus ``proximal_mu`` >= 0."""

    def __init__(self, initial_parameters: Sequence[np.ndarray], *, proximal_mu: float = 0.01,
                 **kwargs: Any) -> None:
        super().__init__(initial_parameters, **kwargs)
        self.proximal_mu = _positive("proximal_mu", proximal_mu, allow_zero=True)
        self.fit_config["proximal_mu"] = self.proximal_mu


class FedAvgM(FedAvg):
    """FedAvg with server momentum: ``v <- momentum * v + mean_update``,
    ``w <- w + server_lr * v``.  Args as :class:`FedAvg`, plus ``server_momentum`` in [0, 1)."""

    def __init__(self, initial_parameters: Sequence[np.ndarray], *,
                 server_momentum: float = 0.9, **kwargs: Any) -> None:
        super().__init__(initial_parameters, **kwargs)
        if not 0.0 <= server_momentum < 1.0:
            raise InputError("server_momentum must be in [0, 1)", name="server_momentum",
                             got=server_momentum)
        self.server_momentum = float(server_momentum)
        self._velocity: list[np.ndarray] | None = None

    def initialize_parameters(self) -> Parameters:
        self._velocity = None
        return super().initialize_parameters()

    def aggregate_mean(self, server_round: int, parameters: Parameters,
                       mean_update: Parameters, total_examples: int
                       ) -> tuple[Parameters, dict[str, float]]:
        if total_examples == 0:
            return [p.copy() for p in parameters], {"update_norm": 0.0}
        d = [np.asarray(m, np.float64) for m in mean_update]
        if self._velocity is None:
            self._velocity = [np.zeros_like(a) for a in d]
        self._velocity = [self.server_momentum * v + a for v, a in zip(self._velocity, d,
                                                                      strict=True)]
        step = [self.server_lr * v for v in self._velocity]
        return _apply(parameters, step), {"update_norm": _norm(d)}


class FedOpt(MeanStrategy):
    """Reddi et al.'s adaptive server optimisers (Algorithm 2), the mean delta as the
    pseudo-gradient: ``m <- beta_1 m + (1 - beta_1) d``, ``v`` per subclass,
    ``w <- w + eta * m / (sqrt(v) + tau)``; ``v`` starts at ``tau**2``.

    Args:
        eta: the server learning rate; beta_1, beta_2: moment decays; tau: adaptivity
            (the paper's epsilon); others as :class:`FedAvg`.
    """

    def __init__(self, initial_parameters: Sequence[np.ndarray], *, fraction_fit: float = 1.0,
                 min_fit_clients: int = 2, fit_config: Mapping[str, Any] | None = None,
                 lr_decay: float = 1.0, eta: float = 0.1, beta_1: float = 0.9,
                 beta_2: float = 0.99, tau: float = 1e-3) -> None:
        super().__init__(initial_parameters, fraction_fit=fraction_fit,
                         min_fit_clients=min_fit_clients, fit_config=fit_config,
                         lr_decay=lr_decay)
        self.eta = _positive("eta", eta)
        self.tau = _positive("tau", tau)
        for name, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= b < 1.0:
                raise InputError(f"{name} must be in [0, 1)", name=name, got=b)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self._m: list[np.ndarray] | None = None
        self._v: list[np.ndarray] | None = None

    def initialize_parameters(self) -> Parameters:
        self._m = self._v = None
        return super().initialize_parameters()

    @abstractmethod
    def _second_moment(self, v: np.ndarray, d: np.ndarray) -> np.ndarray: ...

    def aggregate_mean(self, server_round: int, parameters: Parameters,
                       mean_update: Parameters, total_examples: int
                       ) -> tuple[Parameters, dict[str, float]]:
        if total_examples == 0:
            return [p.copy() for p in parameters], {"update_norm": 0.0}
        d = [np.asarray(a, np.float64) for a in mean_update]
        if self._m is None or self._v is None:
            self._m = [np.zeros_like(a) for a in d]
            self._v = [np.full_like(a, self.tau ** 2) for a in d]
        self._m = [self.beta_1 * m + (1 - self.beta_1) * a for m, a in zip(self._m, d,
                                                                          strict=True)]
        self._v = [self._second_moment(v, a) for v, a in zip(self._v, d, strict=True)]
        step = [self.eta * m / (np.sqrt(v) + self.tau) for m, v in zip(self._m, self._v,
                                                                        strict=True)]
        return _apply(parameters, step), {"update_norm": _norm(d)}


class FedAdam(FedOpt):
    """``v <- beta_2 v + (1 - beta_2) d**2`` (see :class:`FedOpt`)."""

    def _second_moment(self, v: np.ndarray, d: np.ndarray) -> np.ndarray:
        return self.beta_2 * v + (1 - self.beta_2) * d * d


class FedYogi(FedOpt):
    """``v <- v - (1 - beta_2) d**2 sign(v - d**2)`` (see :class:`FedOpt`)."""

    def _second_moment(self, v: np.ndarray, d: np.ndarray) -> np.ndarray:
        d2 = d * d
        return v - (1 - self.beta_2) * d2 * np.sign(v - d2)


class FedAdagrad(FedOpt):
    """``v <- v + d**2`` (see :class:`FedOpt`; ``beta_2`` is unused)."""

    def _second_moment(self, v: np.ndarray, d: np.ndarray) -> np.ndarray:
        return v + d * d


class Scaffold(MeanStrategy):
    """SCAFFOLD: clients are sent the model followed by the server control variate ``c``
    and correct their steps by ``c - c_i`` (config ``scaffold=True``; see
    :mod:`edgekit.federated.models`).  With the mean deltas ``dy`` (model) and ``dc``
    (control variates): ``w <- w + server_lr * dy``, ``c <- c + (|S| / N) * dc``, where
    ``|S|`` clients answered out of ``num_clients`` (N).  The means are example-weighted
    (the paper's are uniform; they agree on equal-sized clients).

    Args:
        num_clients: N, the fleet's size.
        server_lr: the paper's global step size.
        others as :class:`FedAvg`.
    """

    _ids = itertools.count()

    def __init__(self, initial_parameters: Sequence[np.ndarray], *, num_clients: int,
                 fraction_fit: float = 1.0, min_fit_clients: int = 2,
                 fit_config: Mapping[str, Any] | None = None, lr_decay: float = 1.0,
                 server_lr: float = 1.0) -> None:
        super().__init__(initial_parameters, fraction_fit=fraction_fit,
                         min_fit_clients=min_fit_clients, fit_config=fit_config,
                         lr_decay=lr_decay)
        self.num_clients = int_in_range(num_clients, "num_clients", 1, 2**31)
        self.server_lr = _positive("server_lr", server_lr)
        self.control = [np.zeros_like(a) for a in self.initial_parameters]
        self._run = f"{id(self):x}-{next(self._ids)}"
        self._answered = 0

    def initialize_parameters(self) -> Parameters:
        self.control = [np.zeros_like(a) for a in self.initial_parameters]
        self._run = f"{id(self):x}-{next(self._ids)}"
        return super().initialize_parameters()

    def configure_fit(self, server_round: int, parameters: Parameters) -> FitIns:
        return FitIns(parameters=list(parameters) + [c.copy() for c in self.control],
                      config={**self._round_config(server_round), "scaffold": True,
                              "scaffold_id": self._run})

    def aggregate_fit(self, server_round: int, parameters: Parameters,
                      results: Sequence[tuple[str, FitResult]]
                      ) -> tuple[Parameters, dict[str, float]]:
        self._answered = sum(1 for _, r in results if r.num_examples)
        return super().aggregate_fit(server_round, parameters, results)

    def set_answered(self, count: int) -> None:
        """How many clients are in the next :meth:`aggregate_mean` (the runtime says so
        when it aggregates without seeing the individual updates, e.g. secure sums)."""
        self._answered = int(count)

    def aggregate_mean(self, server_round: int, parameters: Parameters,
                       mean_update: Parameters, total_examples: int
                       ) -> tuple[Parameters, dict[str, float]]:
        k = len(parameters)
        if len(mean_update) != 2 * k:
            raise InputError(f"SCAFFOLD's mean update holds {2 * k} arrays (model and control "
                             f"variates), got {len(mean_update)}", name="mean_update")
        if total_examples == 0:
            return [p.copy() for p in parameters], {"update_norm": 0.0}
        dy = [np.asarray(a, np.float64) for a in mean_update[:k]]
        dc = [np.asarray(a, np.float64) for a in mean_update[k:]]
        share = min(1.0, self._answered / self.num_clients) if self._answered else 1.0
        self.control = [(c.astype(np.float64) + share * a).astype(c.dtype)
                        for c, a in zip(self.control, dc, strict=True)]
        step = [self.server_lr * a for a in dy]
        return _apply(parameters, step), {"update_norm": _norm(dy),
                                          "control_norm": _norm(self.control)}


# --- robust aggregation ----------------------------------------------------------------------


class _Robust(_Configured):
    """Robust aggregators see every client's delta (``supports_mean = False``)."""

    supports_mean: ClassVar[bool] = False

    def aggregate_fit(self, server_round: int, parameters: Parameters,
                      results: Sequence[tuple[str, FitResult]]
                      ) -> tuple[Parameters, dict[str, float]]:
        results = [(c, r) for c, r in results if r.num_examples]
        if not results:
            return [p.copy() for p in parameters], {"update_norm": 0.0}
        flat_params = np.concatenate([np.asarray(p, np.float64).ravel() for p in parameters])
        deltas = np.stack([
            np.concatenate([np.asarray(a, np.float64).ravel() for a in r.parameters])
            - flat_params for _, r in results])
        weights = np.array([r.num_examples for _, r in results], np.float64)
        step, metrics = self._combine(deltas, weights)
        out, pos = [], 0
        for p in parameters:
            n = int(np.size(p))
            out.append((np.asarray(p, np.float64) + step[pos:pos + n].reshape(np.shape(p))
                        ).astype(np.asarray(p).dtype))
            pos += n
        return out, {**_fit_loss(results), "update_norm": float(np.linalg.norm(step)),
                     **metrics}

    @abstractmethod
    def _combine(self, deltas: np.ndarray, weights: np.ndarray
                 ) -> tuple[np.ndarray, dict[str, float]]:
        """One delta from the (clients, parameters) matrix of deltas."""


class FedMedian(_Robust):
    """The coordinate-wise median of the client models (Yin et al. 2018).  Args as
    :class:`FedAvg` without ``server_lr``."""

    def _combine(self, deltas: np.ndarray, weights: np.ndarray
                 ) -> tuple[np.ndarray, dict[str, float]]:
        return np.median(deltas, axis=0), {}


class FedTrimmedAvg(_Robust):
    """The coordinate-wise trimmed mean (Yin et al. 2018): per coordinate, the largest and
    smallest ``beta`` fraction of the client values are dropped and the rest averaged.

    Args:
        beta: fraction cut at each end, in [0, 0.5).  At least one value is cut at each end
            when ``beta > 0`` and more than two clients answered.
    """

    def __init__(self, initial_parameters: Sequence[np.ndarray], *, beta: float = 0.2,
                 **kwargs: Any) -> None:
        super().__init__(initial_parameters, **kwargs)
        if not 0.0 <= beta < 0.5:
            raise InputError("beta must be in [0, 0.5)", name="beta", got=beta)
        self.beta = float(beta)

    def _combine(self, deltas: np.ndarray, weights: np.ndarray
                 ) -> tuple[np.ndarray, dict[str, float]]:
        n = len(deltas)
        cut = int(np.floor(self.beta * n))
        if self.beta > 0 and cut == 0 and n > 2:
            cut = 1
        s = np.sort(deltas, axis=0)
        return s[cut:n - cut].mean(axis=0), {"trimmed": float(2 * cut)}


class Krum(_Robust):
    """Krum and multi-Krum (Blanchard et al. 2017): each update is scored by the sum of its
    squared distances to its ``n - f - 2`` nearest others; the ``num_selected`` best-scored
    updates are averaged (1: Krum; more: multi-Krum).

    Args:
        num_malicious: f, the number of Byzantine clients to tolerate.
        num_selected: m, updates averaged (clipped to the number that answered).
    """

    def __init__(self, initial_parameters: Sequence[np.ndarray], *, num_malicious: int = 2,
                 num_selected: int = 1, **kwargs: Any) -> None:
        super().__init__(initial_parameters, **kwargs)
        self.num_malicious = int_in_range(num_malicious, "num_malicious", 0, 2**31)
        self.num_selected = int_in_range(num_selected, "num_selected", 1, 2**31)

    def _combine(self, deltas: np.ndarray, weights: np.ndarray
                 ) -> tuple[np.ndarray, dict[str, float]]:
        n = len(deltas)
        sq = np.sum(deltas * deltas, axis=1)
        dist = np.maximum(sq[:, None] + sq[None, :] - 2.0 * deltas @ deltas.T, 0.0)
        k = max(1, min(n - 1, n - self.num_malicious - 2))
        scores = np.array([np.sort(np.delete(dist[i], i))[:k].sum() if n > 1 else 0.0
                           for i in range(n)])
        chosen = np.argsort(scores, kind="stable")[:min(self.num_selected, n)]
        return deltas[chosen].mean(axis=0), {"selected": float(len(chosen))}
