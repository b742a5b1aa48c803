"""Client-level differential privacy for federated training.

* :class:`CentralDP` wraps a strategy: the coordinator clips each client's update to an L2
  norm of ``clip_norm``, averages the clipped updates with equal weights over the round's
  clients, and adds Gaussian noise of standard deviation ``noise_multiplier * clip_norm / m``
  to each coordinate of the mean (``m`` clients), before the wrapped strategy applies it --
  DP-FedAvg with fixed or adaptive clipping (McMahan et al. 2018, "Learning Differentially Private
  Recurrent Language Models"; Flower's ``DifferentialPrivacyServerSideFixedClipping``).  The
  coordinator is trusted with the raw updates; whoever sees the models it releases (clients,
  the deployed model) learns at most what (epsilon, delta)-DP allows about any one client's
  participation.  Each round's metrics carry ``epsilon``, the privacy spent so far.
* :class:`LocalDP` wraps a client: it clips and noises its own update before sending, so the
  coordinator needs no trust; for the same noise multiplier the noise in the mean of ``m``
  updates is ``sqrt(m)`` times central DP's.
* :func:`privacy_spent`: epsilon after ``rounds`` rounds at a client sampling rate, from
  dp-accounting's Renyi-DP accountant (Mironov 2017; Mironov, Talwar, Zhang 2019).

The accountant needs ``dp-accounting`` (``pip install edgekit[federated]``); it is imported
only when an epsilon is computed.

The guarantee is for the sampled Gaussian mechanism with Poisson sampling at rate ``q`` and
add-or-remove-one-client neighbouring datasets.  edgekit's runtimes sample a fixed number of
clients without replacement (``q = clients per round / population``): the usual
approximation (McMahan et al. 2018 account the same way).  The clip fraction, losses and
example counts in the metrics are not covered by the guarantee.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np

from edgekit.errors import InputError, InputTypeError, RuntimeUnavailableError
from edgekit.federated._core import Client, Config, FitIns, Parameters, Strategy
from edgekit.types import EvaluateResult, FitResult

__all__ = ["CentralDP", "LocalDP", "clip_update", "privacy_spent"]


@contextmanager
def _quiet() -> Iterator[None]:
    """dp-accounting logs (through absl) each fractional RDP order it cannot evaluate at a
    high sampling rate, and drops that order: correct, and not the user's concern."""
    log = logging.getLogger("absl")
    level = log.level
    log.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        log.setLevel(level)


def _dp_accounting() -> Any:
    try:
        import dp_accounting
        from dp_accounting import rdp
    except ImportError as exc:
        raise RuntimeUnavailableError(
            "differential-privacy accounting needs dp-accounting: pip install "
            "'edgekit[federated]' (or pip install dp-accounting)",
            feature="federated.privacy", extra="federated") from exc
    return dp_accounting, rdp


def _positive(name: str, value: float, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{name} must be a number, got {value!r}", name=name, got=value)
    ok = math.isfinite(value) and (value >= 0 if zero else value > 0)
    if not ok:
        raise InputError(f"{name} must be a finite number {'>=' if zero else '>'} 0, "
                         f"got {value!r}", name=name, got=value)
    return float(value)


def _delta(delta: float) -> float:
    delta = _positive("delta", delta)
    if not delta < 1:
        raise InputError(f"delta must be in (0, 1), got {delta!r}", name="delta", got=delta)
    return delta


def _rate(sampling_rate: float) -> float:
    q = _positive("sampling_rate", sampling_rate)
    if q > 1:
        raise InputError(f"sampling_rate must be in (0, 1], got {sampling_rate!r}",
                         name="sampling_rate", got=sampling_rate)
    return q


def _event(noise_multiplier: float, sampling_rate: float) -> Any:
    dpa, _ = _dp_accounting()
    gauss = dpa.GaussianDpEvent(noise_multiplier)
    return gauss if sampling_rate >= 1.0 else dpa.PoissonSampledDpEvent(sampling_rate, gauss)


def privacy_spent(noise_multiplier: float, sampling_rate: float, rounds: int,
                  delta: float = 1e-5) -> float:
    """Epsilon of ``rounds`` rounds of DP-FedAvg at ``delta``.

    Args:
        noise_multiplier: noise standard deviation over the clip norm (``z``); 0 gives ``inf``.
        sampling_rate: probability that a given client takes part in a round, in (0, 1]
            (clients per round / population).
        rounds: rounds run (>= 0).
        delta: the DP delta, in (0, 1); below 1 / population as a rule.

    Returns:
        epsilon (a float; ``inf`` without noise, 0 after no rounds).

    Raises:
        RuntimeUnavailableError: dp-accounting is not installed.
    """
    z = _positive("noise_multiplier", noise_multiplier, zero=True)
    q = _rate(sampling_rate)
    d = _delta(delta)
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise InputError(f"rounds must be an integer >= 0, got {rounds!r}", name="rounds",
                         got=rounds)
    return _epsilon(z, q, int(rounds), d)


@lru_cache(maxsize=64)
def _round_rdp(noise_multiplier: float, sampling_rate: float
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """The RDP curve (orders, values) of one round, or None when this dp-accounting keeps
    it elsewhere.  Composition adds RDP, so T rounds cost T times this: computed once per
    (z, q) rather than per round (at q = 0.5 one evaluation takes ~0.7 s of CPU)."""
    _, rdp = _dp_accounting()
    accountant = rdp.RdpAccountant()
    with _quiet():
        accountant.compose(_event(noise_multiplier, sampling_rate))
    orders, values = getattr(accountant, "_orders", None), getattr(accountant, "_rdp", None)
    if orders is None or values is None or not hasattr(rdp, "rdp_privacy_accountant"):
        return None
    return np.array(orders, np.float64), np.array(values, np.float64)


def _epsilon(z: float, q: float, rounds: int, delta: float) -> float:
    if rounds == 0:
        return 0.0
    if z == 0:
        return math.inf
    _, rdp = _dp_accounting()
    curve = _round_rdp(z, q)
    with _quiet():
        if curve is not None:
            orders, values = curve
            eps = rdp.rdp_privacy_accountant.compute_epsilon(orders, rounds * values, delta)
            return float(eps[0])
        accountant = rdp.RdpAccountant()
        accountant.compose(_event(z, q), rounds)
        return float(accountant.get_epsilon(delta))


def _norm(update: Sequence[np.ndarray]) -> float:
    return math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in update))


def clip_update(update: Sequence[np.ndarray], clip_norm: float) -> tuple[Parameters, bool]:
    """``update`` scaled down to an L2 norm (over all arrays together) of at most
    ``clip_norm``, as float64 arrays, and whether it was scaled."""
    clip_norm = _positive("clip_norm", clip_norm)
    norm = _norm(update)
    factor = 1.0 if norm <= clip_norm else clip_norm / norm
    return [np.asarray(a, dtype=np.float64) * factor for a in update], factor < 1.0


class CentralDP(Strategy):
    """A strategy wrapper that makes each round's aggregate (epsilon, delta)-differentially
    private at the client level, with the coordinator trusted (DP-FedAvg, fixed or adaptive
    clipping).

    Each round: every client's update ``w_k - w`` is clipped to L2 norm ``clip_norm``; the
    clipped updates are summed and divided by ``m`` (``expected_clients`` when given, else
    the number of results), Gaussian noise ``N(0, (noise_multiplier * clip_norm / m)**2)`` is
    added to each coordinate, and the wrapped strategy's ``aggregate_mean`` applies the noisy
    mean (a server optimiser such as FedAdam works on it unchanged); with adaptive clipping
    the update's share of the noise is ``update_noise_multiplier``.  Updates are weighted
    equally, not by example counts: one client's data then moves the mean by at most
    ``clip_norm / m``, the sensitivity the noise is calibrated to.

    Args:
        strategy: the wrapped strategy; needs ``supports_mean = True`` (``aggregate_mean``).
            Robust aggregators (median, Krum) have no mean to noise and are refused.
        clip_norm: L2 bound of one client's update (parameter units).
        noise_multiplier: noise standard deviation over ``clip_norm`` (``z``; 0 = no noise).
        delta: the DP delta epsilon is reported at.
        num_clients: the population; with it the sampling rate is
            ``max(min_fit_clients, ceil(fraction_fit * num_clients)) / num_clients``.
        sampling_rate: the sampling rate itself (else ``fraction_fit``).
        expected_clients: fixed denominator ``m`` (McMahan et al.'s fixed-denominator
            estimator); default: the round's number of results.
        target_quantile: adaptive clipping (Andrew et al. 2021, "Differentially Private
            Learning with Adaptive Clipping"): after each round the clip norm moves by
            ``exp(-clip_lr * (b - target_quantile))``, ``b`` the noised fraction of updates
            that were not clipped, so that it tracks this quantile of the update norms;
            ``clip_norm`` is then the starting value.  ``None``: fixed clipping.
        clip_lr: the adaptive clip norm's geometric learning rate.
        clipped_count_std: noise on the count of unclipped updates (default ``m / 20``,
            ``m`` = expected_clients, else the clients a round from num_clients, else
            min_fit_clients).  Part of the privacy budget: the
            update's noise multiplier becomes ``(z**-2 - (2 * clipped_count_std)**-2)**-0.5``
            (so the two releases together spend what ``z`` alone would), which needs
            ``clipped_count_std > z / 2``.
        seed: seed of the noise generator (``None``: fresh entropy; seed only in tests).

    Metrics added each round: ``epsilon`` (spent so far, at ``delta``), ``dp_noise_std``
    (per coordinate of the mean), ``dp_clip_norm`` (the round's clip) and
    ``dp_clipped_fraction`` (share of updates clipped; not covered by the guarantee).
    """

    supports_mean = False  # it needs each client's update, to clip it

    def __init__(self, strategy: Strategy, *, clip_norm: float, noise_multiplier: float,
                 delta: float = 1e-5, num_clients: int | None = None,
                 sampling_rate: float | None = None, expected_clients: int | None = None,
                 target_quantile: float | None = None, clip_lr: float = 0.2,
                 clipped_count_std: float | None = None,
                 seed: int | np.random.Generator | None = None) -> None:
        if not isinstance(strategy, Strategy):
            raise InputTypeError("strategy must be an edgekit.federated.Strategy",
                                 name="strategy", got=type(strategy).__name__)
        if not getattr(strategy, "supports_mean", False) or not hasattr(strategy,
                                                                         "aggregate_mean"):
            raise InputError(f"{type(strategy).__name__} cannot aggregate from a mean update "
                             "(supports_mean is not True), so central DP has no mean to add "
                             "noise to", name="strategy", got=type(strategy).__name__)
        super().__init__(strategy.initial_parameters, fraction_fit=strategy.fraction_fit,
                         min_fit_clients=strategy.min_fit_clients)
        self.strategy = strategy
        self.clip_norm = _positive("clip_norm", clip_norm)
        self.noise_multiplier = _positive("noise_multiplier", noise_multiplier, zero=True)
        self.delta = _delta(delta)
        if sampling_rate is not None and num_clients is not None:
            raise InputError("give num_clients or sampling_rate, not both", name="sampling_rate")
        if num_clients is not None:
            if isinstance(num_clients, bool) or not isinstance(num_clients, int) \
                    or num_clients < 1:
                raise InputError(f"num_clients must be a positive integer, got {num_clients!r}",
                                 name="num_clients", got=num_clients)
            k = max(self.min_fit_clients, math.ceil(self.fraction_fit * num_clients))
            sampling_rate = min(1.0, k / num_clients)
        self.sampling_rate = _rate(self.fraction_fit if sampling_rate is None else sampling_rate)
        if expected_clients is not None and (isinstance(expected_clients, bool) or not
                                             isinstance(expected_clients, int)
                                             or expected_clients < 1):
            raise InputError(f"expected_clients must be a positive integer, got "
                             f"{expected_clients!r}", name="expected_clients",
                             got=expected_clients)
        self.expected_clients = expected_clients
        self.num_clients = num_clients
        self.target_quantile = None
        self.update_noise_multiplier = self.noise_multiplier
        if target_quantile is not None:
            self._adaptive(target_quantile, clip_lr, clipped_count_std)
        self._rng = (seed if isinstance(seed, np.random.Generator)
                     else np.random.default_rng(seed))
        self.rounds_accounted = 0
        self.epsilon = 0.0 if self.noise_multiplier > 0 else math.inf
        _dp_accounting()  # fail at construction, not after the first round's training

    def _adaptive(self, quantile: float, clip_lr: float, count_std: float | None) -> None:
        q = _positive("target_quantile", quantile)
        if not q < 1:
            raise InputError(f"target_quantile must be in (0, 1), got {quantile!r}",
                             name="target_quantile", got=quantile)
        self.target_quantile = q
        self.clip_lr = _positive("clip_lr", clip_lr)
        m = self.expected_clients or (round(self.sampling_rate * self.num_clients)
                                      if self.num_clients else max(self.min_fit_clients, 1))
        self.clipped_count_std = _positive(
            "clipped_count_std", m / 20 if count_std is None else count_std)
        z, sb = self.noise_multiplier, self.clipped_count_std
        if z > 0:
            if not 2 * sb > z:
                raise InputError(f"adaptive clipping with noise_multiplier {z:g} needs "
                                 f"clipped_count_std > {z / 2:g}", name="clipped_count_std",
                                 got=sb)
            # the update's share of the total noise (Andrew et al., Theorem 1)
            self.update_noise_multiplier = (z ** -2 - (2 * sb) ** -2) ** -0.5

    def initialize_parameters(self) -> Parameters:
        return self.strategy.initialize_parameters()

    def configure_fit(self, server_round: int, parameters: Parameters) -> FitIns:
        return self.strategy.configure_fit(server_round, parameters)

    def aggregate_evaluate(self, server_round: int,
                           results: Sequence[tuple[str, EvaluateResult]]
                           ) -> tuple[float | None, dict[str, float]]:
        return self.strategy.aggregate_evaluate(server_round, results)

    def _account(self) -> float:
        """Count one more round; epsilon spent so far."""
        self.rounds_accounted += 1
        return _epsilon(self.noise_multiplier, self.sampling_rate, self.rounds_accounted,
                        self.delta)

    def aggregate_fit(self, server_round: int, parameters: Parameters,
                      results: Sequence[tuple[str, FitResult]]
                      ) -> tuple[Parameters, dict[str, float]]:
        """Clip each client's update, average with equal weights, add Gaussian noise, and let
        the wrapped strategy apply the noisy mean."""
        if not results:
            return [np.array(p, copy=True) for p in parameters], {"epsilon": self.epsilon}
        m = self.expected_clients or len(results)
        # the clients' deltas are against what they were sent (the parameters, and any
        # arrays the strategy appends, such as SCAFFOLD's control variates)
        sent = self.strategy.configure_fit(server_round, parameters).parameters
        total = [np.zeros(np.shape(p), np.float64) for p in sent]
        if any(np.asarray(p).dtype.kind != "f" for p in sent):
            raise InputTypeError("differential privacy adds noise to float arrays only",
                                 name="parameters")
        clipped = 0
        for _, res in results:
            delta = [np.asarray(w, np.float64) - np.asarray(g, np.float64)
                     for w, g in zip(res.parameters, sent, strict=True)]
            delta, was = clip_update(delta, self.clip_norm)
            clipped += was
            for t, d in zip(total, delta, strict=True):
                t += d
        clip = self.clip_norm
        std = self.update_noise_multiplier * clip / m
        mean = []
        for t, p in zip(total, sent, strict=True):
            noisy = t / m + (self._rng.normal(0.0, std, t.shape) if std > 0 else 0.0)
            mean.append(noisy.astype(np.asarray(p).dtype))
        n_examples = sum(int(r.num_examples) for _, r in results)
        new, metrics = self.strategy.aggregate_mean(server_round, parameters, mean, n_examples)
        self.epsilon = self._account()
        out = dict(metrics)
        out.update(epsilon=self.epsilon, dp_noise_std=std, dp_clip_norm=clip,
                   dp_clipped_fraction=clipped / len(results))
        if self.target_quantile is not None:
            # geometric update towards the target quantile of the update norms, from a
            # noised count of the unclipped updates (Andrew et al. 2021, Algorithm 1)
            unclipped = len(results) - clipped + (
                self._rng.normal(0.0, self.clipped_count_std) if self.noise_multiplier else 0.0)
            self.clip_norm = clip * math.exp(-self.clip_lr * (unclipped / m
                                                               - self.target_quantile))
        return new, out

    def __repr__(self) -> str:
        return (f"CentralDP({self.strategy!r}, clip_norm={self.clip_norm:g}, "
                f"noise_multiplier={self.noise_multiplier:g}, delta={self.delta:g}, "
                f"sampling_rate={self.sampling_rate:g})")


class LocalDP:
    """A client wrapper that clips its update to L2 norm ``clip_norm`` and adds Gaussian noise
    ``N(0, (noise_multiplier * clip_norm)**2)`` to each coordinate before sending: the
    coordinator never sees an un-noised update.

    Any two datasets of this client give updates within ``2 * clip_norm`` of each other, so
    each answer is a Gaussian mechanism with noise multiplier ``noise_multiplier / 2``; the
    ``epsilon`` in the fit metrics composes all answers so far (no sampling amplification is
    claimed: the client knows when it was picked).  ``evaluate`` answers are passed through
    unprotected; example counts are sent as they are.

    Args:
        client: the wrapped client.
        clip_norm: L2 bound of the update before noise (parameter units).
        noise_multiplier: noise standard deviation over ``clip_norm``.
        delta: the DP delta epsilon is reported at.
        seed: seed of the noise generator (``None``: fresh entropy; seed only in tests).
    """

    def __init__(self, client: Client, *, clip_norm: float, noise_multiplier: float,
                 delta: float = 1e-5, seed: int | np.random.Generator | None = None) -> None:
        if not isinstance(client, Client):
            raise InputTypeError("client must have fit() and evaluate()", name="client",
                                 got=type(client).__name__)
        self.client = client
        self.clip_norm = _positive("clip_norm", clip_norm)
        self.noise_multiplier = _positive("noise_multiplier", noise_multiplier)
        self.delta = _delta(delta)
        self._rng = (seed if isinstance(seed, np.random.Generator)
                     else np.random.default_rng(seed))
        self.answers = 0
        _dp_accounting()

    def epsilon(self) -> float:
        """Epsilon of every update sent so far, at ``delta``."""
        if self.answers == 0:
            return 0.0
        return privacy_spent(self.noise_multiplier / 2.0, 1.0, self.answers, self.delta)

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        """The wrapped client's training, its update clipped and noised."""
        res = self.client.fit(parameters, config)
        if len(res.parameters) != len(parameters):
            raise InputError(f"the wrapped client returned {len(res.parameters)} arrays for "
                             f"{len(parameters)}", name="parameters")
        delta = [np.asarray(w, np.float64) - np.asarray(g, np.float64)
                 for w, g in zip(res.parameters, parameters, strict=True)]
        delta, _ = clip_update(delta, self.clip_norm)
        std = self.noise_multiplier * self.clip_norm
        out = [(np.asarray(g, np.float64) + d + self._rng.normal(0.0, std, d.shape))
               .astype(np.asarray(g).dtype) for g, d in zip(parameters, delta, strict=True)]
        self.answers += 1
        metrics = dict(res.metrics)
        metrics["epsilon"] = self.epsilon()
        return FitResult(out, res.num_examples, metrics)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """The wrapped client's evaluation (not privatised)."""
        return self.client.evaluate(parameters, config)

    def __repr__(self) -> str:
        return (f"LocalDP({self.client!r}, clip_norm={self.clip_norm:g}, "
                f"noise_multiplier={self.noise_multiplier:g})")
