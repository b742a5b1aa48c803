"""place_batch and optimal_placement: bad input raises, impossible tasks are results, and on
seeded instances of the 10-node cluster the gaps to the MILP bound stay where
docs/schedule.md says (the full 50-instance table is tools/schedule_table.py)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgekit import _backend, _telemetry
from edgekit.errors import InputError, InputTypeError, OptionsError, RuntimeUnavailableError
from edgekit.schedule import (
    EDGE_CLUSTER_10,
    optimal_placement,
    place_batch,
    utilization,
    workload,
)
from edgekit.schedule._article import run_article

C = EDGE_CLUSTER_10


@pytest.mark.parametrize("bad, err", [
    (np.array([[1.0, -1.0]]), InputError),
    (np.array([[1.0, np.nan]]), InputError),
    (np.array([[1.0, np.inf]]), InputError),
    (np.array([1.0, 1.0]), InputError),
    (np.array([[1.0, 1.0, 1.0]]), InputError),
    (np.array([["a", "b"]]), InputTypeError),
    ("1,2", InputTypeError),
])
def test_bad_demands_raise_clear_errors(bad, err):
    with pytest.raises(err) as info:
        place_batch(bad, C)
    assert info.value.name == "demands"


def test_bad_options_raise():
    d = np.ones((2, 2))
    with pytest.raises(OptionsError):
        place_batch(d, C, mode="offline")
    with pytest.raises(OptionsError):
        place_batch(d, C, policy="nope")
    with pytest.raises(InputError):
        place_batch(d, C, eligible=np.ones((3, 10), dtype=bool))
    with pytest.raises(InputError):
        place_batch(d, -C)


def test_a_task_no_node_can_hold_is_a_result():
    d = np.array([[1.0, 1.0], [64.0, 1.0], [1.0, 1.0]])
    for mode in ("online", "batch"):
        a = place_batch(d, C, mode=mode)
        assert a.tolist()[1] == -1 and a[0] >= 0 and a[2] >= 0
    assert place_batch(np.zeros((0, 2)), C).shape == (0,)
    assert place_batch(d, np.zeros((0, 2))).tolist() == [-1, -1, -1]


def _check_feasible(a, d, cap):
    used = np.zeros_like(cap)
    np.add.at(used, a[a >= 0], d[a >= 0])
    assert (used <= cap * (1 + 1e-9)).all()


def test_eligibility_mask_and_classes_are_respected():
    d = workload("uniform", 1.0, C, seed=3)
    mask = np.zeros((2, 10), dtype=bool)
    mask[0, :5] = True
    mask[1, 5:] = True
    cls = (np.arange(d.shape[0]) % 2).astype(np.int64)
    for mode in ("online", "batch"):
        a = place_batch(d, C, mode=mode, eligible=mask, task_class=cls, time_budget_s=0.2)
        ok = a >= 0
        assert mask[cls[ok], a[ok]].all()
        _check_feasible(a, d, C)


def test_online_is_arrival_order_without_second_thoughts():
    d = workload("mix", 1.5, C, seed=4)
    a = place_batch(d, C, mode="online")
    b = place_batch(d[:40], C, mode="online")
    assert np.array_equal(a[:40], b)  # later tasks never move earlier ones
    _check_feasible(a, d, C)


def test_drf_evens_out_dominant_shares():
    d = workload("uniform", 1.5, C, seed=5)
    tenants = np.zeros(d.shape[0], dtype=np.int64)
    tenants[: d.shape[0] // 4] = 1  # tenant 1 submits first, but less
    a = place_batch(d, C, tenants=tenants, fairness="drf")
    _check_feasible(a, d, C)
    share = d / C.sum(axis=0)
    dom = [share[(tenants == k) & (a >= 0)].sum(axis=0).max() for k in (0, 1)]
    asked = [share[tenants == k].sum(axis=0).max() for k in (0, 1)]
    assert dom[1] == pytest.approx(asked[1], rel=0.05) or dom[1] >= 0.9 * dom[0]


def test_telemetry_once_per_call():
    seen = []

    def sink(event, fields):
        seen.append((event, fields))

    _telemetry.add_sink(sink)
    try:
        place_batch(workload("uniform", 1.5, C, seed=1), C)
    finally:
        _telemetry.remove_sink(sink)
    assert len(seen) == 1 and seen[0][0] == "schedule.place"
    assert seen[0][1]["placed"] + seen[0][1]["rejected"] > 0


def test_optimal_on_a_known_instance():
    cap = np.array([[4.0, 4.0], [2.0, 2.0]])
    d = np.array([[3.0, 3.0], [2.0, 2.0], [2.0, 2.0], [1.0, 1.0]])
    # best: 3+1 on node 0, 2 on node 1: 6 of 6 units
    r = optimal_placement(d, cap, time_limit_s=5)
    assert r.optimal and r.objective == pytest.approx(1.0) and r.gap == pytest.approx(0.0)
    _check_feasible(r.assignment, d, cap)
    # first fit in arrival order leaves the 1 out? no: 3 on n0, 2 on n1, 2 nowhere, 1 on n0
    assert utilization(place_batch(d, cap, policy="first_fit"), d, cap) == pytest.approx(1.0)


def test_optimal_without_scipy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(RuntimeUnavailableError) as info:
        optimal_placement(np.ones((1, 2)), C)
    assert info.value.extra == "schedule"


CASES = [(wl, load, seed) for wl in ("uniform", "heavy_tailed", "mix") for load in (1.0, 1.5)
         for seed in (0,)]


@pytest.mark.parametrize("wl, load, seed", CASES)
def test_gaps_to_the_milp_bound(wl, load, seed):
    """Measured bounds (docs/schedule.md, 50 instances): batch within 1% of the MILP on
    every workload (here against a 1.5 s MILP's bound, which overstates the gap); online
    default far ahead of the article; online with admission control within the online
    limits too (its mean gains over 20 instances: tests/schedule/test_admission.py), and
    with sampled futures (C kernel only: ~0.2 s per instance; the numpy reference takes
    ~50x that, and tests/schedule/test_sampled.py covers it)."""
    d = workload(wl, load, C, seed=seed)
    opt = optimal_placement(d, C, time_limit_s=1.5, mip_rel_gap=1e-3)
    online = utilization(place_batch(d, C), d, C)
    admitted = utilization(place_batch(d, C, admission="strand"), d, C)
    batch = utilization(place_batch(d, C, mode="batch", time_budget_s=0.5), d, C)
    article = utilization(np.array([-1 if j is None else j for j in run_article(d, C)]), d, C)
    assert batch >= online - 1e-12
    gap_online = 1 - online / opt.bound
    gap_batch = 1 - batch / opt.bound
    assert gap_online < (0.06 if load == 1.0 else 0.08), gap_online
    assert 1 - admitted / opt.bound < (0.06 if load == 1.0 else 0.08), admitted
    if _backend.lib is not None:
        sampled = utilization(place_batch(d, C, admission="sample", seed=seed), d, C)
        assert 1 - sampled / opt.bound < (0.06 if load == 1.0 else 0.08), sampled
    assert gap_batch < 0.015, gap_batch
    assert online > article + 0.03


def test_batch_without_scipy_uses_lagrangian_prices(monkeypatch):
    """Without scipy the LP start is replaced by the Lagrangian one: on a heavy-tailed
    instance (where one greedy order is ~3-4% short) it still comes within ~1.5% of what
    the LP start reaches, and far above the plain greedy passes."""
    d = workload("heavy_tailed", 1.0, C, seed=0)
    with_lp = utilization(place_batch(d, C, mode="batch", time_budget_s=0.5), d, C)
    greedy = utilization(place_batch(d, C, mode="batch", time_budget_s=0.0), d, C)
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    monkeypatch.setitem(sys.modules, "scipy", None)
    # bounded by effort (400 price rounds, 20 search rounds), not by a clock: reproducible
    without = place_batch(d, C, mode="batch", time_budget_s=30.0, iterations=20)
    _check_feasible(without, d, C)
    u = utilization(without, d, C)
    assert u > greedy + 0.01, (u, greedy)
    assert u > with_lp * 0.985, (u, with_lp)


def test_symmetry_breaking_keeps_the_optimum():
    """Identical nodes get ordered by placed value: the optimum must not change, and the
    solution must respect the order."""
    rng = np.random.default_rng(7)
    cap = np.array([[4.0, 8.0]] * 4 + [[8.0, 8.0]] * 2)
    d = np.round(rng.uniform(0.5, 3.0, (13, 2)) * 4) / 4
    plain = optimal_placement(d, cap, time_limit_s=10, symmetry_breaking=False)
    broken = optimal_placement(d, cap, time_limit_s=10)
    assert plain.optimal and broken.optimal
    assert broken.objective == pytest.approx(plain.objective, abs=1e-9)
    vals = (d / cap.sum(axis=0)).mean(axis=1)
    per_node = np.array([vals[broken.assignment == j].sum() for j in range(6)])
    assert np.all(np.diff(per_node[:4]) <= 1e-9) and per_node[4] >= per_node[5] - 1e-9


def test_batch_is_reproducible_when_bounded_by_effort():
    """With a budget every round fits in, the result depends on the seed only."""
    d = workload("heavy_tailed", 1.5, C, seed=2)
    a = place_batch(d, C, mode="batch", iterations=30, time_budget_s=60.0, seed=5)
    b = place_batch(d, C, mode="batch", iterations=30, time_budget_s=60.0, seed=5)
    assert np.array_equal(a, b)
    _check_feasible(a, d, C)
