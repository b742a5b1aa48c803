"""``clear()`` (pivot-greedy, the default) on hostile markets: no node or bid, zero and
empty capacities and demands, amounts from 5e-324 to 1.7e308, resources one side alone
names, identical bids, eligibility lists naming unknown nodes, taints and selectors, 5,000
bids on one node.  Each must give a clean Clearing (finite payments and receipts, no
deficit, no IR or capacity violation, the C kernel's allocation equal to its Python
reference's) or an ``edgekit.errors`` exception."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit import _backend
from edgekit.errors import EdgekitError, InputError
from edgekit.market import DEFAULT_MECHANISM, MECHANISMS, _kernel, clear
from edgekit.market._arrays import compile_market
from edgekit.market.probes import check_clearing
from edgekit.types import Ask, Bid, Clearing
from tests.common import needs_native

_AMOUNTS = (0.0, 5e-324, 1e-300, 1e-9, 0.5, 1.0, 2.0, 3.0, 1e6, 1e150, 1e300, 1.7e308)
_RES = ("cpu", "mem", "gpu", "x")
_NODES = ("A", "B", "C", "D")


@pytest.fixture
def both_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kernel call of the mechanism runs the Python reference and, when the native
    kernels are loaded, the C kernel too: their outputs must be identical."""
    orig = _kernel.greedy

    def both(*args, **kw):
        kw.pop("use_native", None)
        ref = orig(*args, use_native=False, **kw)
        if _backend.lib is not None:
            nat = orig(*args, use_native=True, **kw)
            for r, n in zip(ref, nat, strict=True):
                assert np.array_equal(r, n, equal_nan=True), "kernel != reference"
        return ref

    monkeypatch.setattr(_kernel, "greedy", both)


def _check(asks: list[Ask], bids: list[Bid]) -> Clearing | None:
    """The clearing of the market, checked; None when clear() refused it cleanly.  A
    numpy RuntimeWarning (overflow, 0 * inf) from the mechanism is a failure too: a user
    must not see one, from compile_market either."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            arr = compile_market(asks, bids)
            direct = MECHANISMS[DEFAULT_MECHANISM](arr)
    except EdgekitError:
        with pytest.raises(EdgekitError), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            clear(asks, bids)
        return None
    c = clear(asks, bids)
    assert c == direct
    # compile_market refuses values whose sum passes DBL_MAX, so the welfare is finite too
    money = [*c.payments.values(), *c.receipts.values(), *c.prices.values(), c.welfare]
    assert all(math.isfinite(v) for v in money), c
    assert all(v >= 0 for v in c.payments.values()), c
    with warnings.catch_warnings():  # its tolerance sums the values: inf past DBL_MAX
        warnings.simplefilter("ignore", RuntimeWarning)
        problems = check_clearing(arr, c)
    assert not problems, (problems, c)
    # the same guarantees in exact arithmetic, node by node (check_clearing's tolerance and
    # Clearing.surplus are float sums, which overflow to inf / nan at these amounts)
    bid_of = {b.id: i for i, b in enumerate(bids)}
    ask_of = {a.id: j for j, a in enumerate(asks)}
    paid: dict[str, Fraction] = {}
    held: dict[str, Fraction] = {}
    for b, a in c.trades:
        i, j = bid_of[b], ask_of[a]
        assert c.payments[b] <= arr.value[i] * (1 + 1e-9), ("IR", b, c)
        paid[a] = paid.get(a, Fraction(0)) + Fraction(c.payments[b])
        held[a] = held.get(a, Fraction(0)) + Fraction(float(arr.cost[i, j]))
    for a, got in c.receipts.items():
        assert Fraction(got) >= held[a] * (1 - Fraction(1, 10**9)), ("node IR", a, c)
        assert Fraction(got) <= paid[a] * (1 + Fraction(1, 10**9)), ("deficit", a, c)
    return c


@st.composite
def _markets(draw: st.DrawFn) -> tuple[list[Ask], list[Bid]]:
    amount = st.sampled_from(_AMOUNTS)
    asks = []
    for j in range(draw(st.integers(0, 4))):
        cap = draw(st.dictionaries(st.sampled_from(_RES), amount, max_size=3))
        cost = {r: draw(amount) for r in cap if draw(st.booleans())}
        labels = {"z": draw(st.sampled_from("ab"))} if draw(st.booleans()) else {}
        taints = ("t",) if draw(st.integers(0, 4)) == 0 else ()
        asks.append(Ask(_NODES[j], cap, cost, labels=labels, taints=taints))
    bids = []
    same = draw(st.booleans())  # all bids identical (ties everywhere)
    proto = None
    for i in range(draw(st.integers(0, 8))):
        if not same or proto is None:
            proto = (draw(st.dictionaries(st.sampled_from(_RES), amount, max_size=3)),
                     draw(amount))
        eligible = draw(st.none() | st.lists(st.sampled_from((*_NODES, "ghost")),
                                             max_size=3).map(tuple))
        selector = {"z": draw(st.sampled_from("ab"))} if draw(st.integers(0, 3)) == 0 else {}
        bids.append(Bid(f"b{i}", proto[0], proto[1], eligible=eligible,
                        node_selector=selector, tolerations=("t",) if draw(st.booleans())
                        else ()))
    return asks, bids


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(_markets())
def test_hostile_markets(both_backends: None, market: tuple[list[Ask], list[Bid]]) -> None:
    _check(*market)


def test_weights_overflow_no_nan_price(both_backends: None) -> None:
    # The gpu/cpu cost ratio 1e-9 / 5e-324 is ~e^723: its weight overflowed to inf, and the
    # price reported for gpu was 0 * inf = nan.
    asks = [Ask("A", {}), Ask("B", {"cpu": 1e-300, "mem": 0.0, "gpu": 1e-300},
                              {"cpu": 5e-324, "gpu": 1e-9})]
    _check(asks, [Bid("b0", {}, 0.0)])


def test_tiny_total_demand_no_nan_payment(both_backends: None) -> None:
    # The demand of gpu totals 1e-300 + 1.7e308 and of mem 1e300 + 1e-9: one over the total
    # and the weights overflowed, and two demand-less bids traded paying nan.
    asks = [Ask("A", {"gpu": 0.5, "mem": 1.7e308, "cpu": 1e300}, {"gpu": 5e-324, "cpu": 5e-324}),
            Ask("B", {"mem": 2.0}, labels={"z": "b"}),
            Ask("C", {"cpu": 1e6, "gpu": 0.0, "x": 3.0}, {"gpu": 1e-9, "x": 1e6}),
            Ask("D", {"x": 3.0, "gpu": 1e300}, {"x": 1e6, "gpu": 1.0}, labels={"z": "a"})]
    bids = [Bid("b0", {}, 1e-300, eligible=("C", "B")),
            Bid("b1", {"gpu": 1e-300, "x": 1.0, "mem": 1e300}, 5e-324, tolerations=("t",)),
            Bid("b2", {}, 0.5),
            Bid("b3", {"gpu": 1.7e308, "mem": 1e-9}, 5e-324, node_selector={"z": "a"})]
    _check(asks, bids)


def test_degenerate_sizes(both_backends: None) -> None:
    one = [Ask("A", {"cpu": 4.0}, {"cpu": 1.0})]
    two = [*one, Ask("B", {"cpu": 4.0}, {"cpu": 1.0})]
    bid = [Bid("b", {"cpu": 1.0}, 5.0)]
    for asks, bids in (([], []), (one, []), ([], bid), (one, bid), (two, bid)):
        c = _check(asks, bids)
        assert c is not None and c.mechanism == DEFAULT_MECHANISM
    # zero capacities, zero demands, a resource only the bids name, unknown eligibility
    assert _check([Ask("A", {"cpu": 0.0}), Ask("B", {"cpu": 0.0})],
                  [Bid("b", {"cpu": 1.0}, 5.0)]).trades == ()
    assert _check(two, [Bid("b", {"gpu": 1.0}, 5.0)]).trades == ()
    assert _check(two, [Bid("b", {"cpu": 1.0}, 5.0, eligible=("ghost",))]).trades == ()
    _check(two, [Bid(f"b{i}", {"cpu": 0.0}, 1.0) for i in range(5)])


@pytest.mark.parametrize("n_nodes", [1, 2])
def test_5000_identical_bids(both_backends: None, n_nodes: int) -> None:
    # ties everywhere: 5,000 equal bids on one or two equal nodes of room for 100 each
    asks = [Ask(f"N{j}", {"cpu": 100.0, "mem": 200.0}, {"cpu": 1.0, "mem": 0.5})
            for j in range(n_nodes)]
    bids = [Bid(f"b{i}", {"cpu": 1.0, "mem": 2.0}, 3.0) for i in range(5000)]
    c = _check(asks, bids)
    assert c is not None
    if n_nodes == 1:
        assert c.trades == ()  # a node alone is priced by no one: it never trades
    # all bids equal: the level is their density, and none is strictly above it
    assert len(c.trades) == 0


def test_5000_bids_one_node_distinct(both_backends: None) -> None:
    rng = np.random.default_rng(7)
    asks = [Ask("N0", {"cpu": 64.0, "mem": 128.0}, {"cpu": 0.1, "mem": 0.05}),
            Ask("N1", {"cpu": 64.0, "mem": 128.0}, {"cpu": 0.2, "mem": 0.05})]
    bids = [Bid(f"b{i}", {"cpu": float(c), "mem": float(m)}, float(v), eligible=("N0",))
            for i, (c, m, v) in enumerate(zip(rng.integers(1, 5, 5000),
                                              rng.integers(1, 9, 5000),
                                              rng.uniform(0.1, 10.0, 5000), strict=True))]
    c = _check(asks, bids)
    assert c is not None and 0 < len(c.trades) < 5000
    assert {a for _, a in c.trades} == {"N0"}


def test_refusal_is_input_error() -> None:
    # products that overflow float64 are refused before any mechanism runs
    with pytest.raises(InputError):
        clear([Ask("A", {"cpu": 1e300}, {"cpu": 1e300})], [Bid("b", {"cpu": 1e300}, 1.0)])


@pytest.mark.parametrize("mechanism", ["pivot-greedy", "halves", "posted-price"])
def test_values_or_demands_summing_past_float64_are_refused(mechanism: str) -> None:
    # each value is finite, their sum is not: welfare and check_clearing's tolerance would be
    # inf and every check against them vacuous, so compile_market refuses, without a warning
    asks = [Ask("A", {"cpu": 4.0}, {"cpu": 1.0})]
    for bids in ([Bid("b0", {"cpu": 1.0}, 1.7e308), Bid("b1", {"cpu": 1.0}, 1.7e308)],
                 [Bid("b0", {"cpu": 1.7e308}, 1.0), Bid("b1", {"cpu": 1.7e308}, 1.0)]):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with pytest.raises(InputError, match="sum beyond float64"):
                clear(asks, bids, mechanism=mechanism)


@pytest.mark.parametrize("use_native", [False, pytest.param(True, marks=needs_native)])
def test_kernel_refuses_inconsistent_arrays(use_native: bool) -> None:
    """The kernel wrapper checks what the C kernel would otherwise read past: a CSR whose
    pointers run past the node list or go backwards, capacities of another width, order
    or node indices out of range."""
    demand = np.ones((3, 2))
    unit, cap = np.ones(2), np.full((2, 2), 4.0)
    order, keys, stop = np.arange(3), np.ones(3), np.zeros(3)
    good = (np.array([0, 2, 3, 4]), np.array([0, 1, 1, 0]))
    assign, *_ = _kernel.greedy(demand, unit, cap * 1e-9, order, *good, cap, keys, stop,
                                use_native=use_native)
    assert assign.tolist() == [0, 1, 0]
    bad_csr = [(np.array([0, 2, 3, 9]), good[1]), (np.array([0, 3, 2, 4]), good[1]),
               (np.array([1, 2, 3, 4]), good[1]), (good[0], np.array([0, 1, 1, 2])),
               (good[0], np.array([0, -1, 1, 0]))]
    for indptr, nodes in bad_csr:
        with pytest.raises(ValueError):
            _kernel.greedy(demand, unit, cap * 1e-9, order, indptr, nodes, cap, keys, stop,
                           use_native=use_native)
    with pytest.raises(ValueError):
        _kernel.greedy(demand, unit, cap[:, :1] * 1e-9, order, *good, cap[:, :1], keys, stop,
                       use_native=use_native)
    with pytest.raises(ValueError):
        _kernel.greedy(demand, unit, cap * 1e-9, np.array([0, 3, 1]), *good, cap, keys, stop,
                       use_native=use_native)
    with pytest.raises(ValueError):  # one host flag per node entry
        _kernel.greedy(demand, unit, cap * 1e-9, order, *good, cap, keys, stop,
                       hosts=np.ones(3, dtype=np.uint8), use_native=use_native)


@pytest.mark.parametrize("balance", [0.05, 0.3, 1.5])
def test_skipped_runs_give_the_runs_result(monkeypatch: pytest.MonkeyPatch,
                                           balance: float) -> None:
    """The kernel skips a bid's run when the bid fits a node even after every later demand
    (so a market with plentiful capacity costs no n^2 runs: 100,000 bids on 2 nodes clear
    in 0.2 s of CPU, not ~90 s); the reference with every run made gives the same
    allocation and blockers."""
    from edgekit.market import _greedy_ref
    from edgekit.market.generate import random_market

    m = random_market(6, 300, seed=11, balance=balance, accelerator=True)
    calls: list[tuple] = []
    orig = _kernel.greedy

    def spy(*args, **kw):
        kw.pop("use_native", None)
        calls.append((args, kw))
        return orig(*args, **kw)

    monkeypatch.setattr(_kernel, "greedy", spy)
    clear(m.asks, m.bids)
    (args, kw), = calls
    fast = orig(*args, **kw)
    monkeypatch.setattr(_greedy_ref, "_fits_after_all", lambda *a: False)
    slow = orig(*args, **kw, use_native=False)
    for a, b in zip(fast, slow, strict=True):
        assert np.array_equal(a, b)
    assert (fast[0] >= 0).sum() > 0
