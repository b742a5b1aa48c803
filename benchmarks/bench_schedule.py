"""Placement throughput: the C batch loop against the numpy reference of the same policy,
and the article's EdgeScheduler.

``pytest benchmarks/bench_schedule.py --benchmark-enable`` prints absolute times; the ratio
checks run in every test run (the 100,000-task one is marked slow).  The utilization / gap
table (MILP per instance, minutes) is ``python tools/schedule_table.py``, in
docs/schedule.md.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from edgekit import _backend
from edgekit.schedule import (
    EDGE_CLUSTER_10,
    POLICIES,
    Admission,
    Plan,
    Policy,
    _kernel,
    place_batch,
    random_cluster,
    utilization,
    workload,
)
from edgekit.schedule._article import run_article

needs_native = pytest.mark.skipif(not _backend.is_native(), reason="native backend not loaded")


@pytest.fixture(scope="module")
def cluster_1000() -> np.ndarray:
    return random_cluster(1000, seed=1)


def _tasks(cap: np.ndarray, n: int) -> np.ndarray:
    """``n`` uniform-workload tasks scaled so that their total is about the cluster (load
    ~1): most nodes stay feasible for most of the run, the hard case for the scan."""
    d = workload("uniform", 8.0, cap, seed=1)
    d = np.resize(d, (max(n, 1), 2))[:n]
    total = (d / cap.sum(axis=0)).mean(axis=1).sum()
    return np.ascontiguousarray(d / total)


def _loop(cap, d, native):
    prep = _kernel.Prepared.make(cap, POLICIES["default"])
    order = np.arange(d.shape[0])
    return lambda: _kernel.greedy(prep, d, order, cap.copy(), use_native=native)


@needs_native
def test_c_batch_loop_vs_numpy_3k_tasks(ratio, cluster_1000):
    d = _tasks(cluster_1000, 3_000)
    r = ratio("schedule greedy 1000 nodes x 3k tasks: C vs numpy", _loop(cluster_1000, d, True),
              _loop(cluster_1000, d, False), minimum=8.0, rounds=3, clock=time.thread_time)
    assert r.ratio >= 8.0


def _admit_loop(cap, d, native):
    from edgekit.schedule.batch import _values
    prep = _kernel.Prepared.make(cap, POLICIES["default"])
    values = _values(d, cap)
    return lambda: _kernel.greedy_admit(prep, d, values, cap.copy(),
                                        _kernel.admit_state(cap, Admission()),
                                        use_native=native)[0]


@needs_native
def test_c_admission_loop_vs_numpy_3k_tasks(ratio, cluster_1000):
    """Online with admission control (``admission="strand"``): the C loop against its numpy
    reference (19x measured); the C loop costs ~6% more than without admission."""
    d = _tasks(cluster_1000, 3_000)
    fast, slow = _admit_loop(cluster_1000, d, True), _admit_loop(cluster_1000, d, False)
    assert np.array_equal(fast(), slow())
    ratio("schedule online + admission 1000 nodes x 3k tasks: C vs numpy", fast, slow,
          minimum=8.0, rounds=3, clock=time.thread_time)


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("CI")), reason="about 30 s: run it outside CI")
@needs_native
def test_c_batch_loop_vs_numpy_100k_tasks(ratio, cluster_1000):
    """The Done-when figure: >= 10x at 1,000 nodes x 100,000 tasks, in one run (both sides
    give the same placement, checked first)."""
    d = _tasks(cluster_1000, 100_000)
    fast, slow = _loop(cluster_1000, d, True), _loop(cluster_1000, d, False)
    assert np.array_equal(fast(), slow())
    ratio("schedule greedy 1000 nodes x 100k tasks: C vs numpy", fast, slow, minimum=10.0,
          rounds=1, clock=time.thread_time)


@needs_native
def test_c_vs_the_articles_code_10000_nodes(ratio):
    """The article sorts 10,000 dicts per task: measured at 200 tasks (it finishes)."""
    cap = random_cluster(10_000, seed=2)
    d = _tasks(cap, 200)
    prep = _kernel.Prepared.make(cap, POLICIES["article"])
    order = np.arange(d.shape[0])
    ratio("schedule 10k nodes x 200 tasks: C (article policy) vs article code",
          lambda: _kernel.greedy(prep, d, order, cap.copy()), lambda: run_article(d, cap),
          minimum=20.0, rounds=3, clock=time.thread_time)


@pytest.mark.parametrize("impl", ["native", "reference", "article"])
@pytest.mark.parametrize("nodes", [1000, 10_000])
def test_placement_throughput(benchmark, impl, nodes):
    if impl == "native" and not _backend.is_native():
        pytest.skip("native backend not loaded")
    cap = random_cluster(nodes, seed=nodes)
    n = {"native": 5_000, "reference": 500, "article": 50}[impl]
    d = _tasks(cap, n)
    benchmark.group = f"place {n} tasks on {nodes} nodes"
    if impl == "article":
        fn = lambda: run_article(d, cap)  # noqa: E731
    else:
        fn = _loop(cap, d, impl == "native")
    benchmark.extra_info["tasks"] = n
    out = benchmark.pedantic(fn, rounds=1, iterations=1)
    assert len(out) == n


def test_batch_mode_beats_online_on_the_10_node_cluster():
    d = workload("mix", 1.5, EDGE_CLUSTER_10, seed=11)
    on = utilization(place_batch(d, EDGE_CLUSTER_10), d, EDGE_CLUSTER_10)
    ba = utilization(place_batch(d, EDGE_CLUSTER_10, mode="batch", time_budget_s=0.3), d,
                     EDGE_CLUSTER_10)
    assert ba >= on


def test_admission_beats_plain_online_on_the_10_node_cluster():
    """Where admission pays most (mix, load 1.5: +1.34 points of utilization over the
    default on seeds 0-9), on average: it places less but uses more of the cluster."""
    plain = adm = 0.0
    for seed in range(10):
        d = workload("mix", 1.5, EDGE_CLUSTER_10, seed=seed)
        plain += utilization(place_batch(d, EDGE_CLUSTER_10), d, EDGE_CLUSTER_10)
        adm += utilization(place_batch(d, EDGE_CLUSTER_10, admission="strand"), d,
                           EDGE_CLUSTER_10)
    assert adm / 10 >= plain / 10 + 0.005, (plain / 10, adm / 10)


@needs_native
def test_sampled_admission_time_per_instance(benchmark):
    """``admission="sample"`` on one heavy_tailed instance at load 1.5 (540 tasks, 84
    judged with 32 sampled futures each): ~0.25 s measured, against ~0.2 ms for
    ``"strand"``'s C loop (docs/schedule.md)."""
    d = workload("heavy_tailed", 1.5, EDGE_CLUSTER_10, seed=0)
    out = benchmark.pedantic(lambda: place_batch(d, EDGE_CLUSTER_10, admission="sample"),
                             rounds=1, iterations=1)
    assert out.shape == (d.shape[0],)


@needs_native
def test_default_online_cost_of_the_sampled_futures(ratio):
    """The default online on mix at load 1.0 (a skewed stream: the plan's sampled futures
    run once the cluster is 60% full) against the same plan without them
    (``Plan(scenarios=0)``), seeds 0-4, interleaved in one process: ~2.5x the time measured
    (~280 against ~115 us per task; docs/schedule.md), checked at most 8x (a wide margin
    for the shared machine)."""
    off = Policy("no futures", {"balanced_allocation": 1.0}, plan=Plan(scenarios=0))
    ds = [workload("mix", 1.0, EDGE_CLUSTER_10, seed=s) for s in range(5)]

    def run(policy):
        return lambda: [place_batch(d, EDGE_CLUSTER_10, policy=policy) for d in ds]

    r = ratio("default online, mix 1.0: without / with the sampled futures", run("default"),
              run(off), minimum=1 / 8, rounds=5, clock=time.thread_time)
    n = sum(d.shape[0] for d in ds)
    print(f"{r.candidate_ms / n * 1e3:.0f} us/task with the futures, "
          f"{r.baseline_ms / n * 1e3:.0f} without: {1 / r.ratio:.2f}x")
