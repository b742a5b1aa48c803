"""Every strategy against its formula, and against the others on real data (sklearn's digits)."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import InputError
from edgekit.federated import (
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedAvgM,
    FedMedian,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    PoisonedClient,
    Scaffold,
    SoftmaxClient,
    simulate,
    softmax_parameters,
    weighted_mean_update,
)
from edgekit.types import FitResult

pytest.importorskip("sklearn")
from edgekit.federated._tasks import evaluator, fleet, load_task, make_strategy  # noqa: E402

FIT = {"lr": 0.3, "batch_size": 8, "local_epochs": 1}


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


def _results(rng: np.random.Generator, base: list[np.ndarray], sizes: list[int]
             ) -> list[tuple[str, FitResult]]:
    return [(f"c{i}", FitResult([(b + rng.normal(size=b.shape)).astype(np.float32)
                                 for b in base], n)) for i, n in enumerate(sizes)]


def _base() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)]


def test_fedavg_is_the_example_weighted_mean():
    base = _base()
    res = _results(np.random.default_rng(0), base, [5, 20, 1, 0])
    new, metrics = FedAvg(base).aggregate_fit(1, base, res)
    for j in range(2):
        by_hand = sum(r.num_examples * r.parameters[j].astype(np.float64) for _, r in res) / 26
        assert new[j].dtype == np.float32
        np.testing.assert_allclose(new[j], by_hand, rtol=1e-6, atol=1e-6)
    assert metrics["update_norm"] > 0
    # server_lr scales the step
    half, _ = FedAvg(base, server_lr=0.5).aggregate_fit(1, base, res)
    np.testing.assert_allclose(half[0], (base[0] + new[0]) / 2, rtol=1e-5, atol=1e-6)


def test_aggregate_mean_gives_what_aggregate_fit_gives():
    base = _base()
    res = _results(np.random.default_rng(1), base, [3, 9, 4])
    mean, total = weighted_mean_update(base, res)
    assert total == 16
    for cls in (FedAvg, FedAvgM, FedAdam, FedYogi, FedAdagrad, FedProx):
        a, b = cls(base), cls(base)
        assert cls.supports_mean
        for rnd in (1, 2):
            p1, _ = a.aggregate_fit(rnd, base, res)
            p2, _ = b.aggregate_mean(rnd, base, mean, total)
            assert all(np.array_equal(x, y) for x, y in zip(p1, p2, strict=True)), cls
    for cls in (FedMedian, FedTrimmedAvg, Krum):
        assert not cls.supports_mean


@pytest.mark.parametrize("cls", [FedAdam, FedYogi, FedAdagrad])
def test_server_optimisers_follow_reddi_et_al(cls):
    base = _base()
    eta, b1, b2, tau = 0.05, 0.8, 0.95, 0.01
    strat = cls(base, eta=eta, beta_1=b1, beta_2=b2, tau=tau)
    rng = np.random.default_rng(7)
    w = [b.astype(np.float64) for b in base]
    m = [np.zeros_like(a) for a in w]
    v = [np.full_like(a, tau * tau) for a in w]
    params = base
    for rnd in range(1, 4):
        d = [rng.normal(size=a.shape) for a in w]
        params, _ = strat.aggregate_mean(rnd, params, d, 10)
        for j in range(2):
            m[j] = b1 * m[j] + (1 - b1) * d[j]
            if cls is FedAdam:
                v[j] = b2 * v[j] + (1 - b2) * d[j] ** 2
            elif cls is FedYogi:
                v[j] = v[j] - (1 - b2) * d[j] ** 2 * np.sign(v[j] - d[j] ** 2)
            else:
                v[j] = v[j] + d[j] ** 2
            w[j] = (w[j] + eta * m[j] / (np.sqrt(v[j]) + tau)).astype(np.float32)
            w[j] = w[j].astype(np.float64)
        for j in range(2):
            np.testing.assert_allclose(params[j], w[j], rtol=1e-6, atol=1e-6)


def test_fedavgm_momentum_formula():
    base = _base()
    strat = FedAvgM(base, server_momentum=0.5, server_lr=2.0)
    d1 = [np.ones_like(b, np.float64) for b in base]
    d2 = [np.full_like(b, -3.0, np.float64) for b in base]
    p1, _ = strat.aggregate_mean(1, base, d1, 1)
    p2, _ = strat.aggregate_mean(2, p1, d2, 1)
    np.testing.assert_allclose(p1[0], base[0] + 2.0, rtol=1e-6)
    np.testing.assert_allclose(p2[0], p1[0] + 2.0 * (0.5 * 1 - 3.0), rtol=1e-6)


def test_fedprox_pulls_clients_toward_the_global_model(digits):
    clients, init = fleet(digits, seed=0)
    c = clients["c0"]
    cfg = FedProx(init, proximal_mu=0.0, fit_config={**FIT, "local_epochs": 5}
                  ).configure_fit(1, init).config
    assert cfg["proximal_mu"] == 0.0 and cfg["server_round"] == 1
    far = c.fit(init, {**cfg, "seed": 1}).parameters
    near = c.fit(init, {**cfg, "proximal_mu": 5.0, "seed": 1}).parameters
    dist = [float(np.linalg.norm(p[0] - init[0])) for p in (far, near)]
    assert dist[1] < 0.6 * dist[0]
    with pytest.raises(InputError):
        FedProx(init, proximal_mu=-1.0)


def test_trimmed_mean_and_median_by_hand():
    base = [np.zeros(4, np.float32)]
    vals = [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3], [100, -100, 100, 50]]
    res = [(str(i), FitResult([np.array(v, np.float32)], 1)) for i, v in enumerate(vals)]
    med, _ = FedMedian(base).aggregate_fit(1, base, res)
    np.testing.assert_array_equal(med[0], [2, 1, 2, 2])
    trim, m = FedTrimmedAvg(base, beta=0.2).aggregate_fit(1, base, res)
    np.testing.assert_allclose(trim[0], [2, 1, 2, 2])  # (1+2+3)/3, (0+1+2)/3...
    assert m["trimmed"] == 2.0


def test_krum_picks_the_honest_cluster():
    base = [np.zeros(20, np.float32)]
    rng = np.random.default_rng(0)
    honest = [rng.normal(1.0, 0.1, 20) for _ in range(6)]
    evil = [np.full(20, -50.0), np.full(20, 80.0)]
    res = [(str(i), FitResult([v.astype(np.float32)], 10)) for i, v in enumerate(honest + evil)]
    one, _ = Krum(base, num_malicious=2).aggregate_fit(1, base, res)
    assert any(np.allclose(one[0], h.astype(np.float32)) for h in honest)
    multi, m = Krum(base, num_malicious=2, num_selected=4).aggregate_fit(1, base, res)
    assert m["selected"] == 4.0 and np.all(np.abs(multi[0] - 1.0) < 0.2)


def test_scaffold_control_variates_update_rule():
    base = _base()
    strat = Scaffold(base, num_clients=10)
    ins = strat.configure_fit(1, base)
    assert len(ins.parameters) == 4 and ins.config["scaffold"] is True
    dy = [np.ones_like(b, np.float64) for b in base]
    dc = [np.full_like(b, 2.0, np.float64) for b in base]
    strat.set_answered(5)
    new, _ = strat.aggregate_mean(1, base, dy + dc, 50)
    np.testing.assert_allclose(new[0], base[0] + 1.0, rtol=1e-6)
    np.testing.assert_allclose(strat.control[0], 0.5 * 2.0)  # |S|/N * mean dc
    with pytest.raises(InputError):
        strat.aggregate_mean(2, base, dy, 50)


def test_scaffold_client_returns_c_plus_its_control_delta(digits):
    clients, init = fleet(digits, seed=0)
    strat = Scaffold(init, num_clients=10, fit_config=FIT)
    ins = strat.configure_fit(1, init)
    res = clients["c1"].fit(ins.parameters, {**ins.config, "seed": 4})
    y, c_new = res.parameters[:2], res.parameters[2:]
    steps = -(-res.num_examples // FIT["batch_size"])
    # option II with c = c_i = 0: c_i+ = (x - y) / (K lr)
    for j in range(2):
        np.testing.assert_allclose(c_new[j], (init[j] - y[j]) / (steps * FIT["lr"]),
                                   rtol=1e-4, atol=1e-6)


def _median_acc(digits, name: str, *, seeds=range(3), rounds=20, alpha=0.1, attack=None,
                fraction=0.5, fit=FIT) -> float:
    ev = evaluator(digits)
    accs = []
    for seed in seeds:
        clients, init = fleet(digits, seed=seed, alpha=alpha)
        if attack is not None:
            for c in ("c0", "c1"):
                clients[c] = PoisonedClient(clients[c], factor=attack)
        h = simulate(make_strategy(name, init, fit_config=fit), clients, rounds=rounds,
                     fraction=fraction, seed=seed, evaluate_fn=ev)
        accs.append(h.final("accuracy"))
    return float(np.median(accs))


def test_every_strategy_learns_digits(digits):
    for name in ("fedavg", "fedprox", "fedavgm", "fedadam", "fedyogi", "fedadagrad",
                 "scaffold", "median", "trimmed", "multikrum"):
        acc = _median_acc(digits, name, seeds=[0], rounds=15, alpha=None)
        assert acc > 0.85, (name, acc)


def test_scaffold_beats_fedavg_under_label_skew(digits):
    scaffold = _median_acc(digits, "scaffold")
    fedavg = _median_acc(digits, "fedavg")
    assert scaffold > fedavg + 0.01, (scaffold, fedavg)


@pytest.mark.parametrize("attack", [10.0, -10.0])
def test_robust_aggregators_resist_poisoned_clients(digits, attack):
    kw = dict(alpha=None, fraction=1.0, rounds=15, seeds=[0])
    clean = _median_acc(digits, "fedavg", **kw)
    fedavg = _median_acc(digits, "fedavg", attack=attack, **kw)
    for name in ("median", "trimmed", "multikrum"):
        robust = _median_acc(digits, name, attack=attack, **kw)
        assert robust > clean - 0.03, (name, robust, clean)
        assert robust > fedavg + 0.02, (name, robust, fedavg)


def test_bad_hyperparameters_raise():
    base = _base()
    for make in (lambda: FedAvg(base, server_lr=0), lambda: FedAvgM(base, server_momentum=1.0),
                 lambda: FedAdam(base, beta_1=1.0), lambda: FedYogi(base, eta=-1),
                 lambda: FedTrimmedAvg(base, beta=0.5), lambda: Krum(base, num_selected=0),
                 lambda: Scaffold(base, num_clients=0), lambda: FedAvg([])):
        with pytest.raises(InputError):
            make()


def test_numpy_client_refuses_bad_data():
    with pytest.raises(InputError):
        SoftmaxClient(np.zeros((3, 4)), np.zeros(2, int))
    with pytest.raises(InputError):
        SoftmaxClient(np.full((2, 4), np.nan), np.zeros(2, int))
    with pytest.raises(InputError):
        SoftmaxClient(np.zeros((2, 4)), np.array([0.5, 1.0]))
    c = SoftmaxClient(np.zeros((2, 4)), np.zeros(2, int), n_classes=3)
    with pytest.raises(InputError):
        c.fit(softmax_parameters(4, 3)[:1], {})
