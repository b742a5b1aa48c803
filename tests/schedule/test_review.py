"""Adversarial regressions from the review of edgekit.schedule (issue #4): each test names
the input that used to crash, hang or answer silently wrong, and checks the clear error or
the right answer instead.  Properties: placements never overcommit, for any dtype and
layout the wrapper accepts; C == numpy on inputs that overflow; explain() agrees with
submit() along random sequences of operations."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.schedule import (
    EDGE_CLUSTER_10,
    Admission,
    Scheduler,
    _kernel,
    optimal_placement,
    place,
    place_batch,
    random_cluster,
    simulate,
    task_values,
    utilization,
    workload,
)
from edgekit.schedule.batch import _values
from edgekit.schedule.policy import POLICIES
from edgekit.types import Node, Task
from tests.common import needs_native

C = EDGE_CLUSTER_10
D = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.5]])


# -- amounts the kernels cannot compute with ----------------------------------------------

@pytest.mark.parametrize("cap", [
    np.array([[5e-324, 1.0], [4.0, 8.0]]),  # 1 / 5e-324 overflows: scores turn inf / NaN
    np.array([[1.7e308, 1.0], [1.7e308, 8.0]]),  # the total (value denominator) overflows
])
def test_capacity_the_kernels_cannot_compute_with_is_refused(cap):
    with pytest.raises(InputError) as info:
        place_batch(D, cap)
    assert info.value.name == "capacity"
    with pytest.raises(InputError):
        optimal_placement(D, cap)
    with pytest.raises(InputError):
        task_values(D, cap)
    nodes = [Node(f"n{j}", {"cpu": float(c), "mem": float(m)}) for j, (c, m) in enumerate(cap)]
    with pytest.raises(InputError):
        Scheduler(nodes)
    # the limits themselves are fine
    ok = np.array([[_kernel.MIN_CAPACITY, 1.0], [1e307, 8.0]])
    assert place_batch(D, ok).shape == (3,)


@needs_native
def test_admission_native_matches_reference_when_demand_ratios_overflow():
    """d * (1 / cluster capacity) overflows to inf on two resources: inf / inf is NaN, which
    numpy's searchsorted puts in the last ratio bin and the C binary search put in bin 0."""
    cap = np.array([[1e-300, 1e-300, 1e-300]])
    dem = np.array([[1e300, 1e300, 1e300], [1e-301, 1e-301, 1e-301]] * 3)
    p = _kernel.Prepared.make(cap, POLICIES["default"])
    runs = []
    for native in (True, False):
        state = _kernel.admit_state(cap, Admission(warmup=0))
        with np.errstate(all="ignore"):
            out, declined = _kernel.greedy_admit(p, dem, _values(dem, cap), cap.copy(), state,
                                                 use_native=native)
        runs.append((out, declined, state.hist, state.count))
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a, b)
    assert runs[0][2][1, -1] == 3  # the three overflowing ratios, in the last bin


def test_lists_of_strings_are_not_parsed_as_numbers():
    with pytest.raises(InputTypeError):
        place_batch([["1", "2"]], C)
    with pytest.raises(InputTypeError):
        place_batch([[True, False]], C)
    assert place_batch([[1, 2]], C.tolist()).tolist() == \
        place_batch(np.array([[1.0, 2.0]]), C).tolist()


# -- options ----------------------------------------------------------------------------

def test_sparse_tenant_ids_do_not_hang_drf():
    """DRF made one queue per id up to the largest (10**12: a hang); ids are labels."""
    d = workload("mix", 1.5, seed=3)
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 4, d.shape[0])
    sparse = np.array([0, 7, 10**6, 10**12])[dense]
    for mode in ("online", "batch"):
        t0 = time.perf_counter()
        a = place_batch(d, C, tenants=sparse, fairness="drf", mode=mode)
        assert time.perf_counter() - t0 < 5
        assert np.array_equal(a, place_batch(d, C, tenants=dense, fairness="drf", mode=mode))
    # one tenant per task: O(tasks log tenants), not O(tasks x tenants)
    big = np.tile(d, (8, 1))
    t0 = time.perf_counter()
    place_batch(big, C * 8, tenants=np.arange(big.shape[0]) * 3, fairness="drf")
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("seed", ["1", 1.5, True, None])
def test_bad_seeds_raise_options_errors(seed):
    with pytest.raises(OptionsError):
        place_batch(D, C, mode="batch", seed=seed)
    with pytest.raises(OptionsError):
        place([Task("t", {"cpu": 1})], [Node("n", {"cpu": 2})], mode="batch", seed=seed)
    with pytest.raises(OptionsError):
        workload("mix", 0.5, seed=seed)
    with pytest.raises(OptionsError):
        simulate("mix", tasks=5, seed=seed)
    with pytest.raises(OptionsError):
        random_cluster(3, seed=seed)


def test_negative_and_numpy_seeds_are_taken_mod_2_64():
    d = workload("heavy_tailed", 1.2, seed=1)
    a = place_batch(d, C, mode="batch", seed=-1, iterations=50, time_budget_s=30)
    b = place_batch(d, C, mode="batch", seed=np.uint64(2**64 - 1), iterations=50,
                    time_budget_s=30)
    assert np.array_equal(a, b)


def test_options_that_would_be_ignored_or_misread_raise():
    with pytest.raises(OptionsError):  # tenants without fairness: silently not fair
        place_batch(D, C, tenants=np.array([0, 1, 2]))
    with pytest.raises(OptionsError):
        place_batch(D, C, mode="batch", time_budget_s=True)
    with pytest.raises(InputError):
        optimal_placement(np.ones((2, 0)), np.ones((2, 0)))
    with pytest.raises(OptionsError):
        optimal_placement(D, C, time_limit_s=True)
    with pytest.raises(OptionsError):
        optimal_placement(D, C, symmetry_breaking="no")


# -- the simulator --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, name", [
    ({"tenants": 0}, "tenants"),
    ({"tenants": 2.0}, "tenants"),
    ({"load": float("inf")}, "load"),
    ({"load": float("nan")}, "load"),
    ({"mean_duration_s": float("inf")}, "mean_duration_s"),
    # an infinite failure rate or a zero repair time looped forever at one instant
    ({"failure_rate_per_s": float("inf")}, "failure_rate_per_s"),
    ({"failure_rate_per_s": float("nan")}, "failure_rate_per_s"),
    ({"failure_rate_per_s": 1.0, "repair_s": 0.0}, "repair_s"),
    ({"tasks": True}, "tasks"),
])
def test_simulate_rejects_options_that_crash_or_hang(kwargs, name):
    kwargs = {"tasks": 5, **kwargs}
    with pytest.raises(OptionsError) as info:
        simulate("mix", **kwargs)
    assert info.value.name == name


@pytest.mark.parametrize("cap", [np.ones((3, 3)), np.array([[4.0, 0.0]]), np.zeros((0, 2))])
def test_workloads_need_a_cluster_with_cpu_and_memory(cap):
    with pytest.raises(InputError):
        simulate("mix", tasks=5, capacity=cap)
    with pytest.raises(InputError):
        workload("mix", 0.5, cap)


def test_simulated_run_ends_at_the_last_arrival():
    """The queue used to drain after the last arrival (departures were still processed), so
    without failures every queued task counted as placed: acceptance 1.0 at load 1.5."""
    r = simulate("mix", tasks=400, load=1.5, queue="fifo", seed=4,
                 policy="balanced_allocation")
    assert r.acceptance < 0.95
    rej = simulate("mix", tasks=400, load=1.5, queue="reject", seed=4,
                   policy="balanced_allocation")
    assert rej.acceptance <= r.acceptance


def test_simulated_averages_start_at_the_first_arrival():
    """The fragmentation integral started at t=0 but was divided by the span from the first
    arrival: with few tasks it exceeded 1 (a share of free capacity)."""
    cap = np.array([[64.0, 0.25], [4.0, 8.0]])  # node 0 can hold no median task
    for seed in range(20):
        r = simulate("uniform", tasks=3, capacity=cap, seed=seed)
        assert all(0.0 <= v <= 1.0 for v in r.fragmentation.values()), (seed, r)


def test_simulated_fairness_is_over_tenants_that_had_arrivals():
    """Tenants without arrivals counted as acceptance 1.0 and pulled Jain's index to 1.  With
    more tenants than tasks each tenant has one task or so: the index ~ the acceptance."""
    r = simulate("mix", tasks=200, load=3.0, queue="reject", tenants=100_000, seed=5)
    assert r.acceptance < 0.9
    assert r.fairness == pytest.approx(r.acceptance, abs=0.05)


# -- the Node/Task layer ----------------------------------------------------------------

NODES = [Node("a", {"cpu": 4, "mem": 8}), Node("b", {"cpu": 8, "mem": 16})]


@pytest.mark.parametrize("latency, err", [
    ({"cam": {"a": float("nan"), "b": 1.0}}, InputError),  # NaN > budget is False: passed
    ({"cam": {"a": -1.0}}, InputError),
    ({"cam": {"a": "5"}}, InputError),
    ({"cam": {"a": True}}, InputError),
    ({"cam": 5}, InputTypeError),
    ([("cam", {"a": 1.0})], InputTypeError),
])
def test_bad_latency_matrices_raise(latency, err):
    with pytest.raises(err):
        Scheduler(NODES, latency_ms=latency)
    with pytest.raises(err):
        place([Task("t", {"cpu": 1})], NODES, latency_ms=latency)


def test_latency_matrix_of_numpy_numbers_and_unknown_names_is_fine():
    s = Scheduler(NODES, latency_ms={"cam": {"a": np.float32(2.0), "b": np.int64(50),
                                             "elsewhere": 1.0}})
    assert s.submit(Task("t", {"cpu": 1}, source="cam", latency_budget_ms=10)).node == "a"


@pytest.mark.parametrize("bad", [None, 3, "ab", {"a": NODES[0]}])
def test_node_and_task_collections_that_are_not_sequences_raise(bad):
    with pytest.raises(InputTypeError):
        Scheduler(bad)
    with pytest.raises(InputTypeError):
        place(bad, NODES)


@pytest.mark.parametrize("queue", ["fifo", "backfill"])
def test_evicted_task_waits_for_a_node_that_is_down(queue):
    """A task whose only possible node failed was dropped (\"could never fit\") although the
    node comes back; it now waits in the queue, as the simulator always did."""
    s = Scheduler([Node("big", {"cpu": 8}), Node("small", {"cpu": 1})], queue=queue)
    assert s.submit(Task("t", {"cpu": 4})).node == "big"
    moved = s.fail_node("big")
    assert [p.reason.startswith("queued") for p in moved] == [True]
    assert [q.name for q in s.queue] == ["t"]
    assert s.submit(Task("u", {"cpu": 2})).reason.startswith("queued")  # new ones too
    assert [p.task for p in s.restore_node("big")] == ["t", "u"]
    r = Scheduler([Node("big", {"cpu": 8})], queue="reject")
    r.submit(Task("t", {"cpu": 4}))
    assert not r.fail_node("big")[0].placed and r.queue == []


def test_release_withdraws_a_queued_task():
    s = Scheduler([Node("n", {"cpu": 4})], queue="fifo")
    s.submit(Task("run", {"cpu": 3}))
    s.submit(Task("head", {"cpu": 4}))  # blocks the queue
    s.submit(Task("next", {"cpu": 1}))  # fits now: placed at once (fifo only orders the queue)
    s.submit(Task("after", {"cpu": 1}))
    assert [q.name for q in s.queue] == ["head", "after"]
    assert s.release("after") == []  # cancelled: never placed later
    s.submit(Task("last", {"cpu": 1}))
    assert s.release("next") == []  # "last" would fit, but waits behind "head" (fifo)
    assert [p.task for p in s.release("head")] == ["last"]  # withdrawing the head unblocks
    assert s.queue == [] and "head" not in s.placements
    with pytest.raises(InputError):
        s.release("head")  # neither placed nor queued
    with pytest.raises(InputError):
        s.release("nobody")


@st.composite
def scheduler_runs(draw):
    """A small cluster (labels, taints), a policy, a queue policy, admission or not, and a
    sequence of operations: submit (varied tasks), release, fail, restore."""
    n_nodes = draw(st.integers(1, 4))
    nodes = [Node(f"n{j}", {"cpu": draw(st.sampled_from([1, 2, 4, 8])),
                            "mem": draw(st.sampled_from([0, 2, 8]))},
                  labels={"zone": draw(st.sampled_from("xy"))},
                  taints=draw(st.sampled_from([(), ("gpu",)])))
             for j in range(n_nodes)]
    ops = draw(st.lists(st.tuples(st.sampled_from(["submit"] * 4 + ["release", "fail",
                                                                     "restore"]),
                                  st.integers(0, 50)), min_size=1, max_size=25))
    policy = draw(st.sampled_from(["default", "random", "best_fit", "first_fit", "article"]))
    queue = draw(st.sampled_from(["reject", "fifo", "backfill"]))
    admission = draw(st.sampled_from([None, Admission(warmup=2, strand_weight=20.0)]))
    return nodes, ops, policy, queue, admission


def _task(i: int, k: int) -> Task:
    rng = np.random.default_rng(k)
    return Task(f"t{i}", {"cpu": float(rng.choice([0, 0.5, 1, 3])),
                          "mem": float(rng.choice([0, 1, 4]))},
                node_selector={"zone": "x"} if k % 7 == 0 else {},
                tolerations=("gpu",) if k % 2 else (), group=f"g{k % 3}",
                anti_affinity=(f"g{k % 3}",) if k % 5 == 0 else (),
                affinity=("g1",) if k % 11 == 0 else ())


@given(scheduler_runs())
def test_explain_agrees_with_submit_and_the_books_balance(run):
    nodes, ops, policy, queue, admission = run
    s = Scheduler(nodes, policy=policy, queue=queue, admission=admission)
    cap = {n.name: np.array([n.capacity["cpu"], n.capacity["mem"]]) for n in nodes}
    for i, (op, k) in enumerate(ops):
        if op == "submit":
            task = _task(i, k)
            e = s.explain(task)
            p = s.submit(task)
            assert e.chosen == p.node, (e, p)
            if p.placed:
                assert next(v for v in e.verdicts if v.node == p.node).filtered is None
        elif op == "release" and s.placements:
            s.release(sorted(s.placements)[k % len(s.placements)])
        elif op == "fail":
            s.fail_node(nodes[k % len(nodes)].name)
        elif op == "restore":
            s.restore_node(nodes[k % len(nodes)].name)
        # what the scheduler thinks is free == capacity - the placed tasks, per node
        used = {n.name: np.zeros(2) for n in nodes}
        for name, node in s.placements.items():
            used[node] += s.demand_vector(s._placed[name][1])
        for j, n in enumerate(nodes):
            if s.down[j]:
                assert used[n.name].sum() == 0
            else:
                assert np.allclose(s.free[j], cap[n.name] - used[n.name])
                assert (s.free[j] >= -1e-9 * cap[n.name]).all()
        assert not set(s.placements) & {q.name for q in s.queue}


# -- place_batch on every dtype and layout it accepts ---------------------------------------

@st.composite
def odd_arrays(draw):
    """Demands and capacities as ints, float32, uint8, Fortran order, strided or read-only
    views: whatever the wrapper accepts must place as float64 would, and never overcommit."""
    n_res = draw(st.integers(1, 3))
    cap = np.array(draw(st.lists(st.integers(0, 9), min_size=3 * n_res, max_size=3 * n_res)),
                   dtype=np.float64).reshape(3, n_res)
    n_t = draw(st.integers(0, 25))
    dem = np.array(draw(st.lists(st.integers(0, 4), min_size=n_t * n_res,
                                 max_size=n_t * n_res)), dtype=np.float64).reshape(n_t, n_res)
    dtype = draw(st.sampled_from([np.int32, np.uint8, np.int64, np.float32, np.float16]))
    layout = draw(st.sampled_from(["c", "fortran", "strided", "readonly"]))
    policy = draw(st.sampled_from(sorted(POLICIES)))
    return cap, dem, dtype, layout, policy


def _layout(a: np.ndarray, dtype, layout: str) -> np.ndarray:
    a = a.astype(dtype)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided":
        wide = np.zeros((a.shape[0] * 2, a.shape[1]), dtype=dtype)
        wide[::2] = a
        return wide[::2]
    if layout == "readonly":
        a.flags.writeable = False
    return a


@given(odd_arrays())
def test_any_accepted_dtype_and_layout_places_as_float64_does(inst):
    cap, dem, dtype, layout, policy = inst
    want = place_batch(dem, cap, policy=policy)
    got = place_batch(_layout(dem, dtype, layout), _layout(cap, dtype, layout), policy=policy)
    assert np.array_equal(got, want)
    utilization(got, dem, cap)  # raises if a node is overcommitted
    batch = place_batch(_layout(dem, dtype, layout), cap, policy=policy, mode="batch",
                        iterations=20, time_budget_s=5)
    # batch's first pass is the online one under the same policy; nothing after it loses value
    assert utilization(batch, dem, cap) >= utilization(got, dem, cap) - 1e-12


def test_utilization_refuses_a_placement_that_is_not_one():
    d = np.array([[1.0, 1.0], [3.0, 3.0]])
    cap = np.array([[4.0, 4.0], [2.0, 2.0]])
    assert utilization(np.array([0, 0]), d, cap) == pytest.approx(4 / 6)
    with pytest.raises(InputError):
        utilization(np.array([0]), d, cap)  # wrong length
    with pytest.raises(InputError):
        utilization(np.array([0, 2]), d, cap)  # no node 2
    with pytest.raises(InputError):
        utilization(np.array([-2, 0]), d, cap)
    with pytest.raises(InputError):
        utilization(np.array([1, 1]), d, cap)  # 4 on a node of 2
    with pytest.raises(InputTypeError):
        utilization(np.array([0.0, 1.0]), d, cap)


# -- the yardstick --------------------------------------------------------------------------

def test_optimal_bound_is_an_upper_bound_when_the_time_limit_stops_it():
    d = workload("heavy_tailed", 1.5, seed=1)
    t0 = time.perf_counter()
    r = optimal_placement(d, C, time_limit_s=0.3)
    wall = time.perf_counter() - t0
    assert wall < 0.3 + 1.5  # the limit covers building the model (HiGHS may overrun a bit)
    assert not r.optimal and r.bound >= r.objective
    assert r.gap == pytest.approx((r.bound - r.objective) / r.bound)
    batch = place_batch(d, C, mode="batch", time_budget_s=0.3)
    assert utilization(batch, d, C) <= r.bound + 1e-9  # no feasible placement beats it


def test_optimal_with_zero_values_reports_no_gap():
    r = optimal_placement(np.ones((2, 2)), np.ones((2, 2)), values=np.zeros(2))
    assert r.objective == 0.0 and r.bound == 0.0 and r.gap == 0.0
    assert str(r.bound) == "0.0"  # not -0.0


def test_uint64_indices_past_int64_do_not_wrap_to_negative():
    """task_class 2**64-1 (uint64) wrapped to -1 on the way to int64: the C loop failed with
    a bare RuntimeError and the numpy reference silently used the mask's last row."""
    el = np.array([[True] * 10, [False] * 9 + [True]])
    with pytest.raises(InputError):
        place_batch(np.ones((2, 2)), C, eligible=el,
                    task_class=np.array([0, 2**64 - 1], dtype=np.uint64))
    with pytest.raises(InputError):
        place_batch(np.ones((2, 2)), C, fairness="drf",
                    tenants=np.array([0, 2**63], dtype=np.uint64))
    ok = place_batch(np.ones((2, 2)), C, eligible=el, task_class=np.array([0, 1], np.uint64),
                     policy="first_fit")
    assert ok.tolist() == [0, 9]


def test_node_failure_reports_replaced_and_dropped_tasks_to_telemetry():
    """fail_node re-placed and dropped tasks without any event: edgekit.metrics never
    counted the tasks a failure lost."""
    from edgekit import _telemetry
    seen = []

    def sink(event, fields):
        seen.append((event, fields))

    s = Scheduler([Node("a", {"cpu": 4}), Node("b", {"cpu": 2})])
    for name, cpu in (("x", 2), ("y", 1), ("z", 1)):
        assert s.submit(Task(name, {"cpu": cpu})).node == "a"  # one resource: ties, lowest
    _telemetry.add_sink(sink)
    try:
        out = s.fail_node("a")
        assert s.fail_node("a") == []  # already down, nothing on it: no event
    finally:
        _telemetry.remove_sink(sink)
    assert [(p.task, p.node) for p in out] == [("x", "b"), ("y", None), ("z", None)]
    assert [(e, f["placed"], f["rejected"]) for e, f in seen] == [("schedule.place", 1, 2)]


def test_numpy_scalars_are_numbers_in_every_option():
    """Weights, admission options, budgets and counts read from a numpy array were refused
    with 'must be a finite number, got np.float32(1.0)'; numpy scalars now count as the
    numbers they are (numpy bools still do not)."""
    from edgekit.schedule import Policy, SampledAdmission
    d = workload("mix", 1.0, seed=2)
    p32 = Policy("p", {"balanced_allocation": np.float32(1.0), "best_fit": np.int64(0)})
    assert np.array_equal(place_batch(d, C, policy=p32),
                          place_batch(d, C, policy="balanced_allocation"))
    adm = Admission(strand_weight=np.float32(3.0), fill_threshold=np.float64(0.5),
                    quantile=np.float64(0.2), warmup=np.int64(20))
    assert adm == Admission() and type(adm.warmup) is int
    assert SampledAdmission(scenarios=np.int32(32), gate=np.float64(0.6)) == SampledAdmission()
    assert np.array_equal(place_batch(d, C, admission=adm), place_batch(d, C, admission="strand"))
    a = place_batch(d, C, mode="batch", iterations=np.int64(30), time_budget_s=np.float32(30))
    assert np.array_equal(a, place_batch(d, C, mode="batch", iterations=30, time_budget_s=30))
    r = simulate("mix", tasks=np.int64(50), tenants=np.int8(2), load=np.float32(1.0))
    assert r == simulate("mix", tasks=50, tenants=2, load=1.0) and type(r.tasks) is int
    assert workload("mix", np.float64(0.5)).shape == workload("mix", 0.5).shape
    assert random_cluster(np.int16(4)).shape == (4, 2)
    with pytest.raises(OptionsError):
        Policy("p", {"best_fit": np.True_})
    with pytest.raises(OptionsError):
        Admission(warmup=np.True_)
