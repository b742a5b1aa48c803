"""Review of the default plan's sampled futures (stage 5 of edgekit.schedule.plan): the C
kernel ``ek_sched_futures`` against its numpy reference on extreme amounts, and the stage's
promises (a future asks for ``horizon`` x the free capacity; a failed node takes no future
task; the ``sample_nodes`` limit counts usable nodes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit import _backend
from edgekit.errors import InputError
from edgekit.schedule import POLICIES, Plan, Scheduler, _kernel
from edgekit.schedule.plan import _MAX_FUTURE, PlanState
from edgekit.types import Node, Task
from tests.common import needs_native
from tests.schedule.test_plan import STAGES

TINY = float(np.finfo(np.float64).tiny)
# amounts of every magnitude the validated inputs allow (and some they do not: the kernel
# and its reference must agree whatever they are handed)
AMOUNTS = [0.0, 5e-324, TINY, 1e-300, 1e-9, 0.25, 0.5, 1.0, 2.0, 3.0, 1e300, 8e307]
CAPS = [0.0, TINY, 1e-300, 0.5, 1.0, 3.0, 1e300, 1e307]


def _prep(cap: np.ndarray) -> _kernel.Prepared:
    return _kernel.Prepared.make(np.ascontiguousarray(cap, dtype=np.float64),
                                 POLICIES["balanced_allocation"])


def _both(cap, pool, values, idx, lens, cands, demand, free) -> tuple[np.ndarray, ...]:
    p = _prep(cap)
    with np.errstate(all="ignore"):
        return tuple(_kernel.futures(p, pool, values, idx, lens, cands, demand, free,
                                     use_native=n) for n in (True, False))


@st.composite
def _cases(draw):
    n_res, n_nodes, n_pool = draw(st.integers(1, 4)), draw(st.integers(0, 6)), \
        draw(st.integers(1, 6))

    def grid(elems, rows, signed=False):
        e = st.sampled_from(elems)
        if signed:
            e = e.flatmap(lambda v: st.sampled_from([v, -v]))
        return np.array(draw(st.lists(e, min_size=rows * n_res, max_size=rows * n_res)),
                        dtype=np.float64).reshape(rows, n_res)

    cap = grid(CAPS, n_nodes)
    if draw(st.booleans()):  # exactly full, half full, overdrawn by a hair, over capacity
        free = cap * grid([0.0, 0.5, 1.0, -1e-12, 1 + 1e-12], n_nodes)
    else:  # anything, negative and huge included
        free = grid(AMOUNTS, n_nodes, signed=True)
    pool = grid(AMOUNTS, n_pool)
    values = np.array(draw(st.lists(st.sampled_from([0.0, 5e-324, 0.1, 1.0, 1e308]),
                                    min_size=n_pool, max_size=n_pool)))
    n_fut, max_len = draw(st.integers(0, 4)), draw(st.integers(0, 8))
    idx = np.array(draw(st.lists(st.integers(0, n_pool - 1), min_size=n_fut * max_len,
                                 max_size=n_fut * max_len)), dtype=np.int64
                   ).reshape(n_fut, max_len)
    lens = np.array(draw(st.lists(st.integers(0, max_len), min_size=n_fut, max_size=n_fut)),
                    dtype=np.int64)
    cands = np.array(draw(st.lists(st.integers(0, n_nodes - 1), max_size=4))
                     if n_nodes else [], dtype=np.int64)
    demand = grid(AMOUNTS, 1, signed=True)[0]
    return cap, pool, values, idx, lens, cands, demand, free


@needs_native
@settings(max_examples=300, deadline=None)
@given(_cases())
def test_futures_kernel_matches_reference_on_extreme_amounts(case):
    """Up to 4 resources, zero-capacity nodes and resources, no node at all, no future,
    empty futures, negative, overdrawn, subnormal and huge (1e300, 8e307) amounts: the same
    values to the last bit (NaN where the other has NaN)."""
    a, b = _both(*case)
    assert a.shape == b.shape == (case[5].size, case[3].shape[0])
    assert np.array_equal(a, b, equal_nan=True)


@needs_native
def test_futures_reference_skips_a_nan_variance_as_the_kernel_does():
    """The one node a future task fits has a NaN variance (its free amount minus a negative
    demand: -inf utilization): the C kernel skips the task, the reference placed it (its
    argmin fell back on the node because the NaN was masked as +inf)."""
    a, b = _both(np.array([[0.0, 0.0, TINY]]), np.zeros((3, 3)), np.array([0.0, 0.0, 5e-324]),
                 np.array([[0, 0, 2]]), np.array([3]), np.array([0]),
                 np.array([0.0, 0.0, -1e300]), np.zeros((1, 3)))
    assert a.tolist() == b.tolist() == [[0.0]]


def test_futures_reference_takes_no_node_at_all():
    """A cluster of no node (no candidate): the C kernel returns an empty table, the
    reference raised (argmin of an empty sequence)."""
    p = _prep(np.zeros((0, 2)))
    args = (np.ones((1, 2)), np.ones(1), np.zeros((2, 3), dtype=np.int64), np.array([3, 1]),
            np.zeros(0, dtype=np.int64), np.ones(2), np.zeros((0, 2)))
    for use_native in ([False, True] if _backend.lib is not None else [False]):
        assert _kernel.futures(p, *args, use_native=use_native).shape == (0, 2)


def test_futures_dispatcher_checks_shapes_before_the_kernel():
    """Arrays of inconsistent shapes would make the C kernel read past them (lens shorter
    than the futures, values shorter than the pool, a demand or free table of the wrong
    width), and no resource at all failed differently on each backend: the dispatcher
    refuses them, on both backends, with an InputError."""
    cap = np.array([[4.0, 4.0], [2.0, 8.0]])
    ok = dict(pool=np.ones((2, 2)), values=np.ones(2), idx=np.zeros((3, 2), dtype=np.int64),
              lens=np.array([2, 2, 2]), cands=np.array([0, 1]), demand=np.ones(2),
              free=cap.copy())
    for use_native in ([False, True] if _backend.lib is not None else [False]):
        assert _kernel.futures(_prep(cap), **ok, use_native=use_native).shape == (2, 3)
        for bad in (dict(lens=np.array([2])), dict(values=np.ones(1)),
                    dict(demand=np.ones(3)), dict(free=np.ones((3, 2))),
                    dict(free=np.ones((2, 1))), dict(pool=np.ones((2, 3))),
                    dict(idx=np.zeros(3, dtype=np.int64)), dict(cands=np.zeros((1, 1)))):
            with pytest.raises(InputError):
                _kernel.futures(_prep(cap), **{**ok, **bad}, use_native=use_native)
        with pytest.raises(InputError):  # no resource: the kernel's EINVAL, the reference's
            _kernel.futures(_prep(np.zeros((2, 0))), np.ones((2, 0)), np.ones(2),  # IndexError
                            np.zeros((1, 2), dtype=np.int64), np.array([2]), np.array([0]),
                            np.ones(0), np.zeros((2, 0)), use_native=use_native)


class _Spy:
    """Records the arguments and result of every call to ``_kernel.futures``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[tuple, np.ndarray]] = []
        real = _kernel.futures

        def spy(*a, **k):
            out = real(*a, **k)
            self.calls.append((a, out))
            return out

        monkeypatch.setattr(_kernel, "futures", spy)


def test_futures_never_place_a_task_on_a_failed_node(monkeypatch):
    """A failed node (free 0) still has its fit tolerance (1e-9 x capacity): a future task
    smaller than that fitted it, and its value counted.  Here the live nodes have no cpu
    left, so no future task can be placed at all: every future places 0."""
    cap = np.array([[1.0, 1.0], [1.0, 1.0], [1000.0, 1000.0]])
    st_ = PlanState(cap, Plan(warmup=0))
    free = cap.copy()
    free[:2, 0] = 0.0
    free[2] = 0.0  # node 2 failed
    tiny = np.array([1e-7, 0.0])  # > 1e-9 (the live nodes' tolerance), <= 1e-6 (node 2's)
    for _ in range(5):
        st_.observe(tiny, free)
    spy = _Spy(monkeypatch)
    up = np.array([True, True, False])
    st_._sample(up.copy(), free, up, tiny, up.copy())
    assert len(spy.calls) == 1
    assert np.all(spy.calls[0][1] == 0.0)


def test_futures_ask_for_the_horizon_when_one_recent_task_is_huge(monkeypatch):
    """The futures' length was sized by the pool's mean value alone: one huge recent task
    (it fits no node, but it was seen) made every future without it far too short to ask
    for ``horizon`` x the free capacity, as the docstring says a future does."""
    cap = np.full((4, 2), 10.0)
    plan = Plan(warmup=0, sample_gate=0.0)
    st_ = PlanState(cap, plan)
    free = cap * 0.5
    st_.observe(np.array([1000.0, 0.0]), free)  # value 12.5: the pool's mean ~ 0.12
    small = np.array([0.5, 0.05])  # value ~ 0.0069
    for _ in range(plan.fit_window):
        st_.observe(small, free)
    spy = _Spy(monkeypatch)
    up = np.ones(4, dtype=bool)
    st_._sample(up.copy(), free, up, small, up.copy())
    (p, pool, values, idx, lens, cands, demand, f), _ = spy.calls[0]
    need = plan.horizon * float((np.maximum(f, 0.0).sum(axis=0) * st_.icl).mean())
    asked = np.array([values[idx[s, :lens[s]]].sum() for s in range(lens.size)])
    assert np.all((asked >= need) | (lens == _MAX_FUTURE)), (need, asked.min(), lens.min())


@pytest.mark.parametrize("n_nodes, down, runs", [(16, 0, True), (17, 0, False),
                                                 (17, 1, True)])
def test_sample_nodes_counts_the_usable_nodes(monkeypatch, n_nodes, down, runs):
    """``sample_nodes`` = 16: the futures run on 16 nodes, not on 17, and again on 17 of
    which one failed; the failed node is never a candidate."""
    cap = np.tile([[4.0, 4.0]], (n_nodes, 1))
    nodes = [Node(f"n{j}", {"cpu": 4.0, "mem": 4.0}) for j in range(n_nodes)]
    s = Scheduler(nodes, policy=STAGES)
    for j in range(down):
        s.fail_node(f"n{j}")
    spy = _Spy(monkeypatch)
    rng = np.random.default_rng(0)
    for i in range(int(cap.sum() / 1.2)):  # skewed: each task asks mostly for one resource
        big = rng.uniform(0.5, 1.5)
        d = {"cpu": big, "mem": 0.1} if i % 2 else {"cpu": 0.1, "mem": big}
        s.submit(Task(f"t{i}", d))
    assert bool(spy.calls) == runs
    for (p, *_rest, f), _out in spy.calls:
        cands = _rest[4]
        assert p.cap.shape[0] == n_nodes - down == f.shape[0]
        assert cands.max() < n_nodes - down
    placed = set(s.placements.values())
    assert all(f"n{j}" not in placed for j in range(down))
