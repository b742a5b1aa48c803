"""The checker and the exact enumeration of tools/schedule_forced_bound.py (the bound on what
an accept-if-fits online placer can reach; the CP-SAT part needs ortools and is not run
here): online placements pass the checker, placements that leave out a task that fits or
overfill a node fail it, and on tiny instances the enumerated forced-acceptance optimum lies
between every online policy and the offline optimum."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgekit.schedule import (
    EDGE_CLUSTER_10,
    POLICIES,
    optimal_placement,
    place_batch,
    utilization,
    workload,
)

_PATH = Path(__file__).resolve().parents[2] / "tools" / "schedule_forced_bound.py"
_spec = importlib.util.spec_from_file_location("schedule_forced_bound", _PATH)
fb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fb)

C = EDGE_CLUSTER_10


@pytest.fixture(scope="module")
def heavy():
    return workload("heavy_tailed", 1.0, C, seed=0)


@pytest.mark.parametrize("policy", ["default", "best_fit", "first_fit", "article", "random"])
def test_online_placements_are_accept_if_fits(heavy, policy):
    a = place_batch(heavy, C, policy=policy)
    assert (a < 0).any()  # the instance is overloaded: the check has left-out tasks to judge
    fb.check_forced(a, heavy, C)


def test_leaving_out_a_task_that_fits_fails(heavy):
    a = place_batch(heavy, C)
    placed = np.flatnonzero(a >= 0)
    for t in (placed[0], placed[len(placed) // 2], placed[-1]):
        b = a.copy()
        b[t] = -1  # it fitted on its node at its arrival, so it still does
        with pytest.raises(AssertionError, match=f"task {t} left out"):
            fb.check_forced(b, heavy, C)


def test_admission_control_is_not_accept_if_fits(heavy):
    a = place_batch(heavy, C, admission="strand")
    with pytest.raises(AssertionError, match="left out although it fits"):
        fb.check_forced(a, heavy, C)


def test_overfilled_node_and_bad_values_fail():
    cap = np.array([[1.0, 1.0]])
    d = np.array([[0.75, 0.5], [0.5, 0.5]])
    with pytest.raises(AssertionError, match="does not fit"):
        fb.check_forced(np.array([0, 0]), d, cap)
    fb.check_forced(np.array([0, -1]), d, cap)
    with pytest.raises(AssertionError, match="out of range"):
        fb.check_forced(np.array([1, -1]), d, cap)
    with pytest.raises(ValueError, match="multiples"):
        fb.check_forced(np.array([0, -1]), d + 1e-3, cap)


def test_integer_values_are_the_task_values(heavy):
    from edgekit.schedule import task_values
    w, den = fb.integer_values(fb.to_units(heavy, "d"), fb.to_units(C, "c"))
    np.testing.assert_allclose(w / den, task_values(heavy, C), rtol=1e-15)


def test_guided_placement_is_accept_if_fits_and_beats_balanced_allocation(heavy):
    guide = place_batch(heavy, C, mode="batch", time_budget_s=0.3, seed=0)
    a = fb.guided_forced(heavy, C, guide)  # checks itself
    fb.check_forced(a, heavy, C)
    plain = place_batch(heavy, C, policy="balanced_allocation")
    assert utilization(a, heavy, C) > utilization(plain, heavy, C)


def test_enumeration_between_online_and_offline():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(1)
    strict = 0
    for _ in range(8):
        cap = rng.integers(4, 17, size=(int(rng.integers(2, 4)), 2)) / 4
        d = rng.integers(1, 9, size=(12, 2)) / 4
        best, den = fb.brute_force(d, cap)
        forced = best / den
        for p in POLICIES:
            assert utilization(place_batch(d, cap, policy=p), d, cap) <= forced + 1e-12
        guided = fb.guided_forced(d, cap, optimal_placement(d, cap).assignment)
        assert utilization(guided, d, cap) <= forced + 1e-12
        off = optimal_placement(d, cap, time_limit_s=5).objective
        assert forced <= off + 1e-12
        strict += forced < off - 1e-9
    assert strict >= 4  # forced acceptance does cost something on these overloaded clusters
