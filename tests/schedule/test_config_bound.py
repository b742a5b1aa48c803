"""tools/schedule_config_bound.py (the configuration-LP upper bound on the placement
optimum): the exact knapsack pricing agrees with a DP and with enumeration, and on tiny
instances the bound is at least the enumerated optimum, at most the assignment LP's value,
and equal to the configuration LP's optimum when column generation converges."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")

from edgekit.schedule import task_values, utilization, workload  # noqa: E402

_PATH = Path(__file__).resolve().parents[2] / "tools" / "schedule_config_bound.py"
_spec = importlib.util.spec_from_file_location("schedule_config_bound", _PATH)
cb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cb)

SMALL = np.array([[4, 8], [8, 8], [4, 16]], dtype=np.float64)


def _enumerate(demands: np.ndarray, capacity: np.ndarray) -> float:
    """The placement optimum by enumerating every assignment (tiny instances)."""
    d = cb.to_units(demands, "d")
    c = cb.to_units(capacity, "c")
    v = task_values(demands, capacity)
    n_t, n_n = d.shape[0], c.shape[0]
    a = np.array(list(itertools.product(range(-1, n_n), repeat=n_t)))  # (combos, tasks)
    ok = np.ones(a.shape[0], dtype=bool)
    for n in range(n_n):
        used = (a == n).astype(np.int64) @ d
        ok &= np.all(used <= c[n], axis=1)
    return float(((a >= 0)[ok] @ v).max())


def _assignment_lp(demands: np.ndarray, capacity: np.ndarray) -> float:
    from scipy.optimize import linprog
    d, c = demands, capacity
    v = task_values(d, c)
    n_t, n_n = d.shape[0], c.shape[0]
    a_ub, b_ub = [], []
    for t in range(n_t):
        row = np.zeros((n_t, n_n))
        row[t] = 1
        a_ub.append(row.ravel())
        b_ub.append(1.0)
    for n in range(n_n):
        for r in range(d.shape[1]):
            row = np.zeros((n_t, n_n))
            row[:, n] = d[:, r]
            a_ub.append(row.ravel())
            b_ub.append(c[n, r])
    fits = np.all(d[:, None, :] <= c[None], axis=2).ravel()
    res = linprog(-np.repeat(v, n_n), A_ub=np.array(a_ub), b_ub=b_ub,
                  bounds=[(0, 1 if f else 0) for f in fits], method="highs")
    return -res.fun


@pytest.mark.parametrize("seed", range(6))
def test_knapsack_matches_dp_and_enumeration(seed):
    rng = np.random.default_rng(seed)
    k = 11
    w = rng.integers(1, 40, size=(k, 2))
    cap = np.array([rng.integers(20, 120), rng.integers(20, 120)])
    p = rng.uniform(0.01, 1.0, k)
    bound, items, exact = cb.knapsack(w, cap, p)
    best = 0.0
    for mask in itertools.product((0, 1), repeat=k):
        m = np.array(mask, dtype=bool)
        if np.all(w[m].sum(axis=0) <= cap):
            best = max(best, float(p[m].sum()))
    assert exact
    assert np.all(w[items].sum(axis=0) <= cap)
    assert p[items].sum() == pytest.approx(best, abs=1e-9)
    assert bound >= best - 1e-9 and bound == pytest.approx(best, abs=1e-6)
    assert cb.knapsack_dp(w, cap, p) == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize("kind,seed", [("mix", 0), ("mix", 1), ("uniform", 2),
                                       ("heavy_tailed", 3)])
def test_bound_brackets_the_optimum_on_tiny_instances(kind, seed):
    d = workload(kind, 1.3, SMALL, seed=seed)[:8]
    opt = _enumerate(d, SMALL)
    out = cb.config_bound(d, SMALL, seconds=10, integer_s=2.0)
    assert out["converged"] and out["inexact"] == 0
    # the integer master's placement is a real one (utilization checks the capacities)
    assert utilization(out["placement"], d, SMALL) <= opt + 1e-12
    assert out["ub"] >= opt - 1e-12  # a proven upper bound
    assert out["ub"] <= _assignment_lp(d, SMALL) + 1e-9  # no weaker than the assignment LP
    assert out["lp"] <= out["ub"] + 1e-9 and out["ub"] - out["lp"] <= 1e-6


def test_cold_start_bounds_too_and_units_are_checked():
    d = workload("mix", 1.3, SMALL, seed=0)[:8]
    out = cb.config_bound(d, SMALL, seconds=10, warm_start=False, smoothing=0.0)
    assert out["ub"] >= _enumerate(d, SMALL) - 1e-12  # the cold start proves it too
    with pytest.raises(ValueError, match="multiples of 1/64"):
        cb.config_bound(d + 1e-3, SMALL)
