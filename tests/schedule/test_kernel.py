"""The placement kernels: native == numpy reference (same node, bit for bit, ties and NaN
included), and the reference == an independent per-node definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.schedule import _kernel, _schedule_ref
from edgekit.schedule.policy import POLICIES, SCORERS, Policy
from tests.common import needs_native

POLICY_LIST = list(POLICIES.values()) + [
    Policy("mixed", {"best_fit": 1.0, "balanced_allocation": 0.5, "random": 0.01}),
    Policy("rtcr", {"requested_to_capacity_ratio": 1.0},
           shape=((0.0, 10.0), (0.5, 2.0), (1.0, 0.0))),
    Policy("all", {s: 0.3 for s in SCORERS}),
    # balanced alone takes the C kernel's pruned path (no sqrt for nodes that cannot win)
    Policy("balanced x2.5", {"balanced_allocation": 2.5}),
    Policy("anti-balanced", {"balanced_allocation": -1.0}),
]


@st.composite
def instances(draw):
    """Small clusters and tasks; amounts from a coarse grid so ties are frequent, zeros
    (zero demands, zero capacities) included."""
    n_res = draw(st.integers(1, 4))
    n_nodes = draw(st.integers(0, 12))
    n_tasks = draw(st.integers(0, 40))
    grid = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 8.0])
    cap = np.array(draw(st.lists(grid, min_size=n_nodes * n_res, max_size=n_nodes * n_res)),
                   dtype=np.float64).reshape(n_nodes, n_res)
    small = st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 3.0])
    dem = np.array(draw(st.lists(small, min_size=n_tasks * n_res, max_size=n_tasks * n_res)),
                   dtype=np.float64).reshape(n_tasks, n_res)
    policy = draw(st.sampled_from(POLICY_LIST))
    use_mask = draw(st.booleans())
    mask = None
    if use_mask and n_nodes:
        bits = draw(st.lists(st.booleans(), min_size=n_tasks * n_nodes,
                             max_size=n_tasks * n_nodes))
        mask = np.array(bits, dtype=bool).reshape(n_tasks, n_nodes)
    seed = draw(st.integers(0, 2**64 - 1))
    return cap, dem, Policy(policy.name, dict(policy.weights), policy.shape, seed), mask


@needs_native
@given(instances())
def test_greedy_native_matches_reference(inst):
    cap, dem, policy, mask = inst
    p = _kernel.Prepared.make(cap, policy)
    order = np.arange(dem.shape[0])[::-1].copy()
    m = None if mask is None else np.ascontiguousarray(mask, dtype=np.uint8)
    free_c, free_r = cap.copy(), cap.copy()
    a = _kernel.greedy(p, dem, order, free_c, m, use_native=True)
    b = _kernel.greedy(p, dem, order, free_r, m, use_native=False)
    assert np.array_equal(a, b)
    assert np.array_equal(free_c, free_r)


@needs_native
@given(instances(), st.integers(0, 2**64 - 1))
def test_select_native_matches_reference(inst, key):
    cap, dem, policy, mask = inst
    if dem.shape[0] == 0:
        return
    p = _kernel.Prepared.make(cap, policy)
    free = cap * 0.5  # partially used nodes
    m = None if mask is None else np.ascontiguousarray(mask[0], dtype=np.uint8)
    assert _kernel.select(p, free, dem[0], key, m, use_native=True) == \
        _kernel.select(p, free, dem[0], key, m, use_native=False)


def _definition(f, c, d, norm, policy):
    """Each scorer for one node, straight from the docstring of edgekit.schedule.policy."""
    n_res = len(d)
    has = [cr > 0 for cr in c]
    u = [(c[r] - f[r] + d[r]) / c[r] if has[r] else 0.0 for r in range(n_res)]
    live = [u[r] for r in range(n_res) if has[r]]
    mean = sum(live) / len(live) if live else 0.0
    std = math.sqrt(sum((x - mean) ** 2 for x in live) / len(live)) if live else 0.0
    xs, ys = policy.shape_arrays()
    out = {
        "article": sum(f[r] / d[r] for r in range(n_res) if d[r] > 0),
        "best_fit": -sum((f[r] - d[r]) / norm[r] for r in range(n_res) if norm[r] > 0),
        "worst_fit": sum((f[r] - d[r]) / norm[r] for r in range(n_res) if norm[r] > 0),
        "least_allocated": sum((f[r] - d[r]) / c[r] for r in range(n_res) if has[r]) / n_res,
        "most_allocated": sum(u) / n_res,
        "requested_to_capacity_ratio": sum(float(np.interp(x, xs, ys)) for x in u) / n_res,
        "balanced_allocation": 1.0 - std,
        "tetris": sum(d[r] / c[r] * f[r] / c[r] for r in range(n_res) if has[r]),
    }
    return out


@given(instances())
def test_reference_scores_match_the_definitions(inst):
    cap, dem, policy, _ = inst
    if dem.shape[0] == 0 or cap.shape[0] == 0:
        return
    p = _kernel.Prepared.make(cap, policy)
    free = cap * 0.75
    nodes = np.arange(cap.shape[0])
    for k, name in enumerate(SCORERS[:-1]):
        w = np.zeros(len(SCORERS))
        w[k] = 1.0
        got = _schedule_ref.scores(free, cap, p.inv, dem[0], p.norm, w, p.sx, p.sy, 0, 0,
                                   nodes)
        for j in range(cap.shape[0]):
            want = _definition(free[j], cap[j], dem[0], p.norm, policy)[name]
            assert got[j] == pytest.approx(want, rel=1e-9, abs=1e-12), (name, j)


def test_random_scorer_is_uniform_and_reproducible():
    u = _schedule_ref.hash_uniform(7, 3, np.arange(100_000))
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01
    assert np.array_equal(u, _schedule_ref.hash_uniform(7, 3, np.arange(100_000)))
    assert not np.array_equal(u, _schedule_ref.hash_uniform(8, 3, np.arange(100_000)))


def test_ties_go_to_the_lowest_index_and_first_fit_is_the_empty_policy():
    cap = np.full((5, 2), 4.0)
    p = _kernel.Prepared.make(cap, POLICIES["first_fit"])
    assert _kernel.select(p, cap.copy(), np.array([1.0, 1.0]), 0) == (0, 5)
    p = _kernel.Prepared.make(cap, POLICIES["most_allocated"])
    free = cap.copy()
    free[3] = 2.0  # node 3 is the fullest
    assert _kernel.select(p, free, np.array([1.0, 1.0]), 0)[0] == 3
    free[1] = 2.0  # tie between 1 and 3: lowest index
    assert _kernel.select(p, free, np.array([1.0, 1.0]), 0)[0] == 1
