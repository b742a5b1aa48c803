"""Numpy clients for federated learning: a softmax regression and a small MLP.

They are real models (float32 parameters, minibatch SGD, cross-entropy), small enough to run
a fleet of them in one process, and they honour what the strategies send in
:class:`~edgekit.federated.FitIns`'s config:

* ``lr`` (local learning rate), ``local_epochs``, ``batch_size``;
* ``proximal_mu`` (FedProx: the local loss gets ``mu/2 * ||w - w_global||^2``);
* ``scaffold`` (SCAFFOLD): the arrays sent are the global model followed by the server's
  control variate ``c`` (same shapes).  The client corrects every gradient step by
  ``c - c_i``, updates its own control variate ``c_i`` (option II of Karimireddy et al.:
  ``c_i+ = c_i - c + (x - y) / (K * lr)``) and returns ``y`` followed by ``c + (c_i+ - c_i)``,
  so that *every* returned array less the array sent is the client's delta.  ``c_i`` is kept
  per ``scaffold_id`` (one per strategy run);
* ``seed``: shuffling seed for this round (the simulation sends one, so runs repeat).

A client that gets no seed shuffles with its own generator.  :class:`PoisonedClient` wraps a
client to send a malicious update (scaled or sign-flipped), for robustness experiments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgekit._validate import int_in_range
from edgekit.errors import InputError, InputTypeError
from edgekit.federated._core import Config, Parameters
from edgekit.types import EvaluateResult, FitResult

__all__ = ["MLPClient", "PoisonedClient", "SoftmaxClient", "accuracy", "mlp_parameters",
           "softmax_parameters", "train_centralised"]


def softmax_parameters(n_features: int, n_classes: int) -> Parameters:
    """Zero-initialised softmax-regression parameters ``[W (n_features, n_classes), b
    (n_classes,)]`` in float32 (64 features x 10 classes: 650 parameters, 2,600 bytes)."""
    n_features = int_in_range(n_features, "n_features", 1, 2**31)
    n_classes = int_in_range(n_classes, "n_classes", 1, 2**31)
    return [np.zeros((n_features, n_classes), np.float32), np.zeros(n_classes, np.float32)]


def mlp_parameters(n_features: int, n_hidden: int, n_classes: int, *, seed: int = 0
                   ) -> Parameters:
    """He-initialised one-hidden-layer MLP parameters ``[W1, b1, W2, b2]`` in float32."""
    n_features = int_in_range(n_features, "n_features", 1, 2**31)
    n_hidden = int_in_range(n_hidden, "n_hidden", 1, 2**31)
    n_classes = int_in_range(n_classes, "n_classes", 1, 2**31)
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, np.sqrt(2.0 / n_features), (n_features, n_hidden))
    w2 = rng.normal(0, np.sqrt(2.0 / n_hidden), (n_hidden, n_classes))
    return [w1.astype(np.float32), np.zeros(n_hidden, np.float32), w2.astype(np.float32),
            np.zeros(n_classes, np.float32)]


def _number(cfg: Mapping[str, Any], key: str, *, integer: bool = False,
            zero: bool = False) -> float:
    """``cfg[key]`` as a finite number > 0 (>= 0 with ``zero``; whole with ``integer``)."""
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"config {key!r} must be a number, got {type(value).__name__}",
                             name=key, got=type(value).__name__)
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not zero) or (integer and v != int(v)):
        kind = "whole number" if integer else "number"
        raise InputError(f"config {key!r} must be a finite {kind} "
                         f"{'>= 0' if zero else '> 0'}, got {value!r}", name=key, got=value)
    return v


def _softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(-np.mean(np.log(np.maximum(p[np.arange(n), y], 1e-12))))
    p[np.arange(n), y] -= 1.0
    return loss, p / n


class _NumpyClient:
    """Shared training loop: subclasses give ``_forward`` and ``_loss_grad``."""

    n_arrays: int

    def __init__(self, x: np.ndarray, y: np.ndarray, *, n_classes: int | None = None,
                 lr: float = 0.1, local_epochs: int = 1, batch_size: int = 32,
                 seed: int = 0) -> None:
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y)
        if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
            raise InputError("x must be (n, features) and y (n,) with the same n",
                             name="x", got=(x.shape, y.shape))
        if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise InputError("y must hold non-negative integer class labels", name="y")
        if not np.all(np.isfinite(x)):
            raise InputError("x must be finite", name="x")
        self.x, self.y = x, y.astype(np.int64)
        self.n_classes = int_in_range(
            n_classes if n_classes is not None else (int(y.max()) + 1 if len(y) else 1),
            "n_classes", 1, 2**31)
        if len(y) and int(y.max()) >= self.n_classes:
            raise InputError(f"label {int(y.max())} is not below n_classes={self.n_classes}",
                             name="y", got=int(y.max()))
        self.defaults: dict[str, Any] = {"lr": lr, "local_epochs": local_epochs,
                                         "batch_size": batch_size}
        self._rng = np.random.default_rng(seed)
        self._scaffold_id: object = None
        self._c_i: list[np.ndarray] | None = None

    # --- model ------------------------------------------------------------------------------
    def _forward(self, params: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _shapes(self, params: Sequence[np.ndarray]) -> list[tuple[int, ...]]:
        """The shapes this model's arrays must have (given the first array)."""
        raise NotImplementedError

    def _check(self, parameters: object, *, arrays: int | None = None) -> list[np.ndarray]:
        """``parameters`` as numpy arrays if they are this model's (count, shapes, finite);
        else :class:`~edgekit.errors.InputError`."""
        if not isinstance(parameters, (list, tuple)):
            raise InputTypeError("parameters must be a list of numpy arrays",
                                 name="parameters", got=type(parameters).__name__)
        k = self.n_arrays if arrays is None else arrays
        if len(parameters) != k:
            raise InputError(f"expected {k} arrays, got {len(parameters)}", name="parameters",
                             expected=k, got=len(parameters))
        sent = [np.asarray(a) for a in parameters]
        if sent[0].ndim != 2:
            raise InputError(f"array 0 must be 2-D, got shape {sent[0].shape}",
                             name="parameters[0]", got=sent[0].shape)
        want = self._shapes(sent)
        for i, a in enumerate(sent):
            if a.shape != want[i % self.n_arrays]:
                raise InputError(f"array {i} has shape {a.shape}, this model needs "
                                 f"{want[i % self.n_arrays]}", name=f"parameters[{i}]",
                                 expected=want[i % self.n_arrays], got=a.shape)
            if a.dtype.kind != "f" or not np.all(np.isfinite(a)):
                raise InputError(f"array {i} must be finite floats", name=f"parameters[{i}]")
        return sent

    def _loss_grad(self, params: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
                   ) -> tuple[float, list[np.ndarray]]:
        raise NotImplementedError

    def predict(self, parameters: Parameters, x: np.ndarray) -> np.ndarray:
        """Class labels for ``x`` (n, features) under ``parameters``."""
        params = self._check(parameters)
        x = np.asarray(x, np.float32)
        if x.ndim != 2 or x.shape[1] != self.x.shape[1]:
            raise InputError(f"x must be (n, {self.x.shape[1]}), got {x.shape}", name="x",
                             got=x.shape)
        return np.argmax(self._forward(params, x), axis=1)

    # --- Client protocol --------------------------------------------------------------------
    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        """Local SGD from ``parameters`` as ``config`` says (see the module's doc)."""
        cfg = {**self.defaults, **dict(config)}
        lr = _number(cfg, "lr")
        epochs = int(_number(cfg, "local_epochs", integer=True))
        bs = int(_number(cfg, "batch_size", integer=True))
        mu = _number(cfg, "proximal_mu", zero=True) if "proximal_mu" in cfg else 0.0
        scaffold = bool(cfg.get("scaffold", False))
        rng = (np.random.default_rng(int(_number(cfg, "seed", integer=True, zero=True)))
               if "seed" in cfg else self._rng)
        k = self.n_arrays
        sent = self._check(parameters, arrays=2 * k if scaffold else k)
        w_global = [a.astype(np.float64) for a in sent[:k]]
        w = [a.copy() for a in w_global]
        correction = None
        if scaffold:
            c = [a.astype(np.float64) for a in sent[k:]]
            run = cfg.get("scaffold_id")
            if self._c_i is None or run != self._scaffold_id:
                self._c_i = [np.zeros_like(a) for a in c]
                self._scaffold_id = run
            correction = [ci_s - ci for ci_s, ci in zip(c, self._c_i, strict=True)]
        n = len(self.y)
        steps, losses = 0, []
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                loss, grads = self._loss_grad(w, self.x[idx], self.y[idx])
                losses.append(loss)
                for j in range(k):
                    g = grads[j]
                    if mu:
                        g = g + mu * (w[j] - w_global[j])
                    if correction is not None:
                        g = g + correction[j]
                    w[j] -= lr * g
                steps += 1
        out = [a.astype(s.dtype) for a, s in zip(w, sent[:k], strict=True)]
        if scaffold:
            assert self._c_i is not None
            if steps:
                new_ci = [ci - ci_s + (wg - wy) / (steps * lr) for ci, ci_s, wg, wy in
                          zip(self._c_i, c, w_global, w, strict=True)]
            else:
                new_ci = self._c_i
            out += [(ci_s + (nc - ci)).astype(s.dtype) for ci_s, nc, ci, s in
                    zip(c, new_ci, self._c_i, sent[k:], strict=True)]
            self._c_i = new_ci
        metrics = {"loss": float(np.mean(losses))} if losses else {}
        return FitResult(out, n, metrics)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """Cross-entropy and accuracy of ``parameters`` on this client's data."""
        params = [np.asarray(a, np.float64) for a in self._check(parameters)]
        if len(self.y) == 0:
            return EvaluateResult(0.0, 0, {"accuracy": 0.0})
        logits = self._forward(params, self.x)
        loss, _ = _softmax_xent(logits, self.y)
        acc = float(np.mean(np.argmax(logits, axis=1) == self.y))
        return EvaluateResult(loss, len(self.y), {"accuracy": acc})


class SoftmaxClient(_NumpyClient):
    """Multinomial logistic regression: parameters ``[W (features, classes), b (classes,)]``
    (see :func:`softmax_parameters`).

    Args:
        x: (n, features) inputs, scaled by the caller (digits: pixel / 16).
        y: (n,) integer labels.
        n_classes: number of classes (default: ``y.max() + 1``).
        lr, local_epochs, batch_size: defaults when the config does not say.
        seed: shuffling seed when the config sends none.
    """

    n_arrays = 2

    def _shapes(self, params: Sequence[np.ndarray]) -> list[tuple[int, ...]]:
        return [(self.x.shape[1], self.n_classes), (self.n_classes,)]

    def _forward(self, params: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        return x @ params[0] + params[1]

    def _loss_grad(self, params: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
                   ) -> tuple[float, list[np.ndarray]]:
        loss, dz = _softmax_xent(self._forward(params, x), y)
        return loss, [x.T @ dz, dz.sum(axis=0)]


class MLPClient(_NumpyClient):
    """One hidden ReLU layer: parameters ``[W1, b1, W2, b2]`` (see :func:`mlp_parameters`).
    Arguments as :class:`SoftmaxClient`."""

    n_arrays = 4

    def _shapes(self, params: Sequence[np.ndarray]) -> list[tuple[int, ...]]:
        d, h = self.x.shape[1], params[0].shape[1]
        return [(d, h), (h,), (h, self.n_classes), (self.n_classes,)]

    def _forward(self, params: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        h = np.maximum(x @ params[0] + params[1], 0.0)
        return h @ params[2] + params[3]

    def _loss_grad(self, params: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray
                   ) -> tuple[float, list[np.ndarray]]:
        pre = x @ params[0] + params[1]
        h = np.maximum(pre, 0.0)
        loss, dz = _softmax_xent(h @ params[2] + params[3], y)
        dh = (dz @ params[2].T) * (pre > 0)
        return loss, [x.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]


def accuracy(client: _NumpyClient, parameters: Parameters, x: np.ndarray, y: np.ndarray
             ) -> float:
    """Fraction of ``x`` that ``client``'s model with ``parameters`` labels as ``y``."""
    return float(np.mean(client.predict(parameters, x) == np.asarray(y)))


def train_centralised(client: _NumpyClient, parameters: Parameters, *, epochs: int,
                      lr: float | None = None, batch_size: int | None = None,
                      seed: int = 0) -> Parameters:
    """The centralised baseline: ``epochs`` (>= 1) of the same SGD on all of ``client``'s
    data."""
    epochs = int_in_range(epochs, "epochs", 1, 2**31)
    cfg: dict[str, Any] = {"local_epochs": epochs, "seed": seed}
    if lr is not None:
        cfg["lr"] = lr
    if batch_size is not None:
        cfg["batch_size"] = batch_size
    return list(client.fit(parameters, cfg).parameters)


class PoisonedClient:
    """A malicious client for robustness experiments: it trains honestly, then sends
    ``w + factor * (w_trained - w)``: ``factor=10`` scales its update tenfold, ``factor=-1``
    flips its sign (``-10``: both).  Evaluates honestly."""

    def __init__(self, client: Any, *, factor: float = -1.0) -> None:
        if not callable(getattr(client, "fit", None)):
            raise InputTypeError("client must have a fit method", name="client",
                                 got=type(client).__name__)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) \
                or not math.isfinite(factor):
            raise InputError(f"factor must be a finite number, got {factor!r}", name="factor",
                             got=factor)
        self.client = client
        self.factor = float(factor)

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        """The wrapped client's training, its update scaled by ``factor``."""
        res = self.client.fit(parameters, config)
        out = [(np.asarray(p, np.float64) + self.factor * (np.asarray(r, np.float64) - p)
                ).astype(np.asarray(p).dtype) for p, r in zip(parameters, res.parameters,
                                                             strict=True)]
        return FitResult(out, res.num_examples, res.metrics)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """The wrapped client's honest evaluation."""
        return self.client.evaluate(parameters, config)
