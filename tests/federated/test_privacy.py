"""Differential privacy: the accountant against known figures and closed-form bounds, clipping
that bounds every client's contribution, noise of the stated scale, epsilon in each round's
metrics, and training that still learns on real data."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from edgekit.errors import InputError, InputTypeError, RuntimeUnavailableError
from edgekit.federated._core import Parameters, Strategy
from edgekit.federated.privacy import CentralDP, LocalDP, clip_update, privacy_spent
from edgekit.types import EvaluateResult, FitResult
from tests.federated.test_compression import _digits, sgd

pytest.importorskip("dp_accounting")


class PlainMean(Strategy):
    """FedAvg reduced to the contract's mean interface (the test's own, independent of the
    strategies module): new = old + mean update."""

    supports_mean = True

    def aggregate_fit(self, server_round, parameters, results):
        total = sum(r.num_examples for _, r in results)
        mean = [sum(r.num_examples * (np.asarray(r.parameters[i], np.float64) - p)
                    for _, r in results) / total for i, p in enumerate(parameters)]
        return self.aggregate_mean(server_round, parameters, mean, total)

    def aggregate_mean(self, server_round, parameters, mean_update, total_examples):
        return ([(p + u).astype(p.dtype) for p, u in zip(parameters, mean_update, strict=True)],
                {"examples": float(total_examples)})


class Robust(Strategy):
    supports_mean = False

    def aggregate_fit(self, server_round, parameters, results):
        return parameters, {}


def _params() -> Parameters:
    return [np.zeros((64, 10), np.float32), np.zeros(10, np.float32)]


# --- the accountant ---------------------------------------------------------------------------


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _exact_gaussian_eps(mu: float, delta: float) -> float:
    """The tight epsilon of a Gaussian mechanism with sensitivity / std = mu (Balle & Wang
    2018, Theorem 8), by bisection."""
    def dlt(eps):
        return _phi(-eps / mu + mu / 2) - math.exp(eps) * _phi(-eps / mu - mu / 2)
    lo, hi = 0.0, 100.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if dlt(mid) > delta else (lo, mid)
    return hi


@pytest.mark.parametrize(("z", "rounds"), [(1.0, 1), (1.0, 50), (2.5, 200), (0.7, 10)])
def test_unsampled_epsilon_lies_between_the_tight_value_and_the_classic_rdp_bound(z, rounds):
    """T Gaussian rounds at noise multiplier z are one Gaussian mechanism with mu =
    sqrt(T) / z: its exact epsilon is a floor, and Mironov's RDP conversion
    min_a T a / (2 z^2) + log(1/delta) / (a - 1) a ceiling (dp-accounting converts tighter)."""
    delta = 1e-5
    eps = privacy_spent(z, 1.0, rounds, delta)
    floor = _exact_gaussian_eps(math.sqrt(rounds) / z, delta)
    ceiling = min(rounds * a / (2 * z * z) + math.log(1 / delta) / (a - 1)
                  for a in np.linspace(1.01, 512, 200000))
    assert floor <= eps <= ceiling * 1.0001
    assert eps < 1.5 * floor  # and not wildly loose


def test_abadi_et_al_moments_accountant_figure():
    """Abadi et al. 2016 (Sec. 3.1): q = 0.01, sigma = 4, delta = 1e-5, 10,000 steps gives
    epsilon ~ 1.26 with the moments accountant; RDP with fractional orders and the improved
    conversion can only be tighter, and no tighter than the PLD accountant's near-exact
    value."""
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    eps = privacy_spent(4.0, 0.01, 10_000, 1e-5)
    pld = pld_privacy_accountant.PLDAccountant()
    pld.compose(dp_accounting.PoissonSampledDpEvent(0.01, dp_accounting.GaussianDpEvent(4.0)),
                10_000)
    assert pld.get_epsilon(1e-5) <= eps <= 1.26
    assert eps == pytest.approx(1.035, abs=0.01)


@pytest.mark.parametrize(("z", "q", "rounds"), [(1.1, 0.5, 37), (0.8, 0.01, 1000),
                                               (2.0, 1.0, 5)])
def test_the_per_round_curve_composes_like_the_accountant(z, q, rounds):
    """privacy_spent multiplies one round's RDP curve by the rounds; dp-accounting composing
    the event ``rounds`` times gives the same epsilon."""
    import dp_accounting
    from dp_accounting.rdp import RdpAccountant

    acc = RdpAccountant()
    event = dp_accounting.GaussianDpEvent(z)
    acc.compose(event if q == 1.0 else dp_accounting.PoissonSampledDpEvent(q, event), rounds)
    assert privacy_spent(z, q, rounds) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-9)


def test_epsilon_moves_the_right_way():
    base = privacy_spent(1.0, 0.1, 100)
    assert privacy_spent(2.0, 0.1, 100) < base
    assert privacy_spent(1.0, 0.05, 100) < base
    assert privacy_spent(1.0, 0.1, 200) > base
    assert privacy_spent(1.0, 0.1, 100, delta=1e-3) < base
    assert privacy_spent(1.0, 0.1, 0) == 0.0
    assert privacy_spent(0.0, 0.1, 5) == math.inf


@pytest.mark.parametrize("kwargs", [dict(noise_multiplier=-1.0), dict(sampling_rate=0.0),
                                    dict(sampling_rate=1.5), dict(rounds=-1),
                                    dict(rounds=2.5), dict(delta=0.0), dict(delta=1.0),
                                    dict(noise_multiplier=float("nan"))])
def test_accountant_refuses_bad_arguments(kwargs):
    args = dict(noise_multiplier=1.0, sampling_rate=0.1, rounds=10, delta=1e-5) | kwargs
    with pytest.raises(InputError):
        privacy_spent(**args)


def test_missing_dp_accounting_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dp_accounting", None)
    with pytest.raises(RuntimeUnavailableError) as info:
        privacy_spent(1.0, 0.1, 10)
    assert info.value.extra == "federated"
    with pytest.raises(RuntimeUnavailableError):
        CentralDP(PlainMean(_params()), clip_norm=1.0, noise_multiplier=1.0)
    assert issubclass(RuntimeUnavailableError, ImportError)


# --- clipping and noise -----------------------------------------------------------------------


def test_clip_update_bounds_the_norm_over_all_arrays():
    upd = [np.full((4, 4), 3.0), np.full(4, 4.0)]  # norm sqrt(16*9 + 4*16) = sqrt(208)
    out, clipped = clip_update(upd, 2.0)
    assert clipped
    assert math.sqrt(sum((a**2).sum() for a in out)) == pytest.approx(2.0)
    np.testing.assert_allclose(out[0] / out[1][0], upd[0] / upd[1][0])  # direction kept
    small, clipped = clip_update([np.float32([0.3, 0.4])], 1.0)
    assert not clipped and small[0].tolist() == pytest.approx([0.3, 0.4])


def _result(params, delta_fill, n=10):
    return FitResult([p + np.float32(f) for p, f in zip(params, delta_fill, strict=True)], n)


def test_clipping_bounds_each_clients_contribution():
    """Without noise, a client sending a huge update moves the model by at most clip / m,
    whatever its example count claims."""
    params = _params()
    dp = CentralDP(PlainMean(params), clip_norm=1.0, noise_multiplier=0.0, seed=0)
    honest = _result(params, [0.001, 0.001], n=10)
    attacker = _result(params, [1e6, -1e6], n=1_000_000)
    new, metrics = dp.aggregate_fit(1, params, [("h", honest), ("a", attacker)])
    moved = [n.astype(np.float64) - p for n, p in zip(new, params, strict=True)]
    honest_part = [np.full(p.shape, 0.001) / 2 for p in params]
    attack_part = [m - h for m, h in zip(moved, honest_part, strict=True)]
    assert math.sqrt(sum((a**2).sum() for a in attack_part)) == pytest.approx(0.5, rel=1e-4)
    assert metrics["dp_clipped_fraction"] == 0.5
    assert metrics["epsilon"] == math.inf and metrics["dp_noise_std"] == 0.0


def test_noise_has_the_stated_standard_deviation():
    params = [np.zeros(20000, np.float32)]
    dp = CentralDP(PlainMean(params), clip_norm=0.5, noise_multiplier=1.3, seed=3,
                   expected_clients=8)
    results = [(str(i), FitResult([np.zeros(20000, np.float32)], 5)) for i in range(4)]
    new, metrics = dp.aggregate_fit(1, params, results)
    std = 1.3 * 0.5 / 8  # fixed denominator: expected_clients, not the 4 that answered
    assert metrics["dp_noise_std"] == pytest.approx(std)
    assert np.std(new[0]) == pytest.approx(std, rel=0.03)
    assert abs(np.mean(new[0])) < 5 * std / math.sqrt(20000)


def test_epsilon_is_reported_every_round_and_matches_the_accountant():
    params = _params()
    dp = CentralDP(PlainMean(params, fraction_fit=0.5), clip_norm=1.0,
                   noise_multiplier=1.1, num_clients=10, seed=0)
    assert dp.sampling_rate == 0.5
    eps = []
    for r in range(1, 4):
        params, metrics = dp.aggregate_fit(r, params, [("a", _result(params, [0.01, 0.01])),
                                                       ("b", _result(params, [0.02, 0.0]))])
        eps.append(metrics["epsilon"])
        assert metrics["examples"] == 20.0  # the wrapped strategy's metrics are kept
    assert eps[0] < eps[1] < eps[2]
    assert eps[2] == pytest.approx(privacy_spent(1.1, 0.5, 3, 1e-5))
    assert dp.rounds_accounted == 3 and dp.epsilon == eps[2]


def test_central_dp_delegates_and_refuses_what_it_cannot_protect():
    inner = PlainMean(_params(), fraction_fit=0.3, min_fit_clients=3)
    dp = CentralDP(inner, clip_norm=1.0, noise_multiplier=1.0, num_clients=20)
    assert dp.sampling_rate == pytest.approx(6 / 20)
    assert dp.fraction_fit == 0.3 and dp.min_fit_clients == 3
    assert dp.configure_fit(1, _params()).parameters[0].shape == (64, 10)
    loss, _ = dp.aggregate_evaluate(1, [("a", EvaluateResult(1.0, 1)),
                                        ("b", EvaluateResult(3.0, 3))])
    assert loss == 2.5
    assert not CentralDP.supports_mean
    ints = CentralDP(PlainMean([np.zeros(3, np.int64)]), clip_norm=1.0, noise_multiplier=1.0)
    with pytest.raises(InputTypeError):
        ints.aggregate_fit(1, [np.zeros(3, np.int64)],
                           [("a", FitResult([np.ones(3, np.int64)], 1))])
    with pytest.raises(InputError):
        CentralDP(Robust(_params()), clip_norm=1.0, noise_multiplier=1.0)
    with pytest.raises(InputTypeError):
        CentralDP(object(), clip_norm=1.0, noise_multiplier=1.0)  # type: ignore[arg-type]
    for bad in (dict(clip_norm=0.0), dict(clip_norm=-1.0), dict(noise_multiplier=-0.1),
                dict(delta=2.0), dict(sampling_rate=0.0), dict(expected_clients=0),
                dict(num_clients=10, sampling_rate=0.5)):
        with pytest.raises(InputError):
            CentralDP(inner, **(dict(clip_norm=1.0, noise_multiplier=1.0) | bad))


# --- local DP ---------------------------------------------------------------------------------


class DigitsClient:
    def __init__(self, x, y, seed=0, lr=0.1, epochs=1):
        self.x, self.y, self.seed, self.lr, self.epochs = x, y, seed, lr, epochs

    def fit(self, parameters, config):
        p = sgd(parameters, self.x, self.y, seed=self.seed, lr=self.lr, epochs=self.epochs)
        return FitResult(p, len(self.x), {"loss": 0.5})

    def evaluate(self, parameters, config):
        z = self.x @ parameters[0] + parameters[1]
        return EvaluateResult(1.0, len(self.x), {"accuracy": float((z.argmax(1) == self.y)
                                                                   .mean())})


def test_local_dp_clips_and_noises_before_sending():
    x, y = _digits()
    inner = DigitsClient(x[:200], y[:200])
    params = _params()
    raw = inner.fit(params, {}).parameters
    raw_norm = math.sqrt(sum(float(((a - p) ** 2).sum()) for a, p in zip(raw, params,
                                                                             strict=True)))
    assert raw_norm > 0.2  # so that a 0.05 clip really clips
    sent = []
    client = LocalDP(inner, clip_norm=0.05, noise_multiplier=0.5, seed=1)
    for _ in range(200):
        res = client.fit(params, {})
        sent.append(np.concatenate([(a - p).ravel() for a, p in zip(res.parameters, params,
                                                                    strict=True)]))
        assert res.parameters[0].dtype == np.float32 and res.metrics["loss"] == 0.5
    sent = np.array(sent, np.float64)
    clean = np.concatenate([(a - p).ravel() for a, p in zip(raw, params, strict=True)])
    clipped = clean * 0.05 / raw_norm
    np.testing.assert_allclose(sent.mean(axis=0), clipped, atol=5 * 0.025 / math.sqrt(200))
    assert np.std(sent - clipped) == pytest.approx(0.5 * 0.05, rel=0.03)
    assert res.metrics["epsilon"] == pytest.approx(privacy_spent(0.25, 1.0, 200))
    assert client.answers == 200
    assert client.evaluate(params, {}).num_examples == 200
    with pytest.raises(InputTypeError):
        LocalDP(object(), clip_norm=1.0, noise_multiplier=1.0)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        LocalDP(inner, clip_norm=1.0, noise_multiplier=0.0)


# --- it still learns --------------------------------------------------------------------------


def _accuracy(params, x, y) -> float:
    return float(((x @ params[0] + params[1]).argmax(axis=1) == y).mean())


@pytest.mark.slow
def test_central_dp_training_on_digits_learns_and_spends_the_reported_budget():
    """50 clients (a population DP needs: noise is divided by the clients per round), 20 a
    round, 30 rounds of 3 local epochs: modest noise still reaches the accuracy of training
    without DP (0.93 on this split) within a few points; more noise costs accuracy and buys a
    smaller epsilon."""
    x, y = _digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    test, train = order[:400], order[400:]
    shards = np.array_split(train, 50)
    clients = [DigitsClient(x[s], y[s], seed=i, lr=0.5, epochs=3) for i, s in enumerate(shards)]
    out = {}
    for z in (0.3, 3.0):
        dp = CentralDP(PlainMean(_params(), fraction_fit=0.4), clip_norm=0.5,
                       noise_multiplier=z, num_clients=50, seed=1)
        params = dp.initialize_parameters()
        pick = np.random.default_rng(2)
        for r in range(1, 31):
            chosen = pick.choice(50, size=20, replace=False)
            results = [(str(i), clients[i].fit(params, {})) for i in chosen]
            params, metrics = dp.aggregate_fit(r, params, results)
        out[z] = (_accuracy(params, x[test], y[test]), metrics["epsilon"])
    assert out[0.3][0] > 0.88
    assert out[3.0][1] < out[0.3][1]
    assert out[3.0][0] < out[0.3][0]
    assert out[3.0][1] == pytest.approx(privacy_spent(3.0, 0.4, 30))


def test_central_dp_in_simulate_reports_epsilon_each_round():
    from edgekit.federated import FedAvg, simulate
    from edgekit.federated._tasks import evaluator, fleet, load_task

    task = load_task("digits")
    clients, init = fleet(task, n_clients=10, alpha=0.1, seed=0)
    dp = CentralDP(FedAvg(init, fraction_fit=0.5), clip_norm=1.0, noise_multiplier=0.5,
                   num_clients=10, seed=0)
    hist = simulate(dp, clients, rounds=6, fraction=0.5, seed=0, evaluate_fn=evaluator(task),
                    progress=False)
    eps = hist.metric("epsilon")
    assert eps.tolist() == pytest.approx([privacy_spent(0.5, 0.5, r) for r in range(1, 7)])
    assert hist.metric("dp_noise_std").tolist() == pytest.approx([0.5 * 1.0 / 5] * 6)
    assert all(r.accepted for r in hist.rounds)


def test_adaptive_clipping_tracks_the_target_quantile_of_update_norms():
    """Updates with norms spread over [0.1, 2.0]: the clip norm moves from 0.05 to near their
    median (1.05) and, with target 0.8, near their 80th percentile."""
    params = [np.zeros(4, np.float32)]
    norms = np.linspace(0.1, 2.0, 20)
    results = [(str(i), FitResult([np.float32([n, 0, 0, 0])], 10)) for i, n in enumerate(norms)]
    for quantile, want in ((0.5, np.quantile(norms, 0.5)), (0.8, np.quantile(norms, 0.8))):
        dp = CentralDP(PlainMean(params), clip_norm=0.05, noise_multiplier=1.0,
                       target_quantile=quantile, expected_clients=20, seed=4)
        assert dp.clipped_count_std == 1.0  # m / 20
        assert dp.update_noise_multiplier == pytest.approx((1.0 - 0.25) ** -0.5)
        clips = []
        for r in range(1, 301):
            _, metrics = dp.aggregate_fit(r, params, results)
            clips.append(metrics["dp_clip_norm"])
        assert metrics["dp_noise_std"] == pytest.approx(
            dp.update_noise_multiplier * clips[-1] / 20)
        assert np.median(clips[-100:]) == pytest.approx(want, rel=0.15)
    with pytest.raises(InputError):  # the count's noise cannot carry half the budget
        CentralDP(PlainMean(params), clip_norm=1.0, noise_multiplier=3.0, target_quantile=0.5,
                  expected_clients=20)
    with pytest.raises(InputError):
        CentralDP(PlainMean(params), clip_norm=1.0, noise_multiplier=1.0, target_quantile=1.0)
