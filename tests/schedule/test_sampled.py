"""Online placement by scenario sampling (``admission="sample"``, SampledAdmission): the
gains measured in docs/schedule.md hold on seeded instances of the real workloads, the
result is reproducible from the seed, never overcommits, respects eligibility, and the
option is refused where it is not supported."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import OptionsError
from edgekit.schedule import (
    EDGE_CLUSTER_10,
    Admission,
    SampledAdmission,
    Scheduler,
    _schedule_ref,
    place,
    place_batch,
    simulate,
    utilization,
    workload,
)
from edgekit.schedule._kernel import TOL_REL
from edgekit.types import Node
from tests.schedule.test_plan import STAGES

C = EDGE_CLUSTER_10
SMALL = SampledAdmission(scenarios=3)  # cheap enough for the numpy reference backend


def _mean(wl: str, load: float, seeds: range, admission) -> float:
    out = []
    for s in seeds:
        d = workload(wl, load, C, seed=s)
        out.append(utilization(place_batch(d, C, policy=STAGES, admission=admission, seed=s),
                               d, C))
    return float(np.mean(out))


@pytest.mark.slow
def test_sampling_gains_on_the_benchmark_workloads():
    """Measured on seeds 0-11, mix (points of utilization): at load 1.5 "sample" is +1.29
    over the default policy online (planned BalancedAllocation, which samples futures
    itself on a skewed stream but never declines) and -0.03 against "strand"; at load 1.0
    the default is +0.56 over "sample" (declining costs there, the stream ends before the
    room it keeps is used).  docs/schedule.md has seeds 0-49 and the tuning seeds
    100-149."""
    seeds = range(12)
    plain = _mean("mix", 1.5, seeds, None)
    strand = _mean("mix", 1.5, seeds, "strand")
    sample = _mean("mix", 1.5, seeds, "sample")
    assert sample >= plain + 0.008, (plain, sample)
    assert sample >= strand - 0.003, (strand, sample)
    assert _mean("mix", 1.0, seeds, None) >= _mean("mix", 1.0, seeds, "sample") + 0.002


def _replay(d: np.ndarray, out: np.ndarray, eligible: np.ndarray | None = None) -> None:
    """No node is overcommitted, and a task left out was declined only if it fitted."""
    free = np.array(C, dtype=np.float64)
    for t in range(d.shape[0]):
        if out[t] >= 0:
            if eligible is not None:
                assert eligible[t, out[t]]
            free[out[t]] -= d[t]
            assert (free[out[t]] >= -TOL_REL * C[out[t]]).all()


def test_sampling_is_reproducible_and_feasible():
    d = workload("mix", 1.5, C, seed=3)
    a = place_batch(d, C, admission=SMALL, seed=7)
    b = place_batch(d, C, admission=SMALL, seed=7)
    assert np.array_equal(a, b)
    _replay(d, a)
    # the sampled futures do move tasks: not the same placement as the strand test alone
    assert not np.array_equal(a, place_batch(d, C, admission="strand"))


def test_without_the_strand_test_nothing_that_fits_is_declined():
    d = workload("mix", 1.0, C, seed=2)
    adm = SampledAdmission(scenarios=2, strand=None)
    out = place_batch(d, C, admission=adm, seed=1)
    free = np.array(C, dtype=np.float64)
    tol = TOL_REL * free
    for t in range(d.shape[0]):
        fits = _schedule_ref.feasible(free, tol, d[t]).any()
        assert (out[t] >= 0) == fits
        if fits:
            free[out[t]] -= d[t]
    # a gate of 1 never judges: the plain policy's placement
    never = SampledAdmission(gate=1.0, strand=None)
    assert np.array_equal(place_batch(d, C, admission=never), place_batch(d, C))
    # and with the strand test but no judged task: the strand placement
    assert np.array_equal(place_batch(d, C, admission=SampledAdmission(gate=1.0)),
                          place_batch(d, C, admission="strand"))


def test_sampling_respects_eligibility():
    d = workload("uniform", 1.5, C, seed=4)
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 3, d.shape[0])
    eligible = np.ones((3, C.shape[0]), dtype=bool)
    eligible[1, :5] = False
    eligible[2, 5:] = False
    a = place_batch(d, C, eligible=eligible, task_class=classes, admission=SMALL)
    b = place_batch(d, C, eligible=eligible[classes], admission=SMALL)
    assert np.array_equal(a, b)
    _replay(d, a, eligible[classes])


def test_sampling_options_are_checked():
    for bad in (dict(scenarios=0), dict(scenarios=2.0), dict(horizon=0),
                dict(horizon=float("inf")), dict(gate=1.5), dict(warmup=0),
                dict(max_nodes=0), dict(max_future_tasks=True), dict(strand="strand")):
        with pytest.raises(OptionsError):
            SampledAdmission(**bad)
    d = workload("uniform", 1.0, C, seed=0)
    with pytest.raises(OptionsError):
        place_batch(d, C, mode="batch", admission="sample")
    with pytest.raises(OptionsError):
        place_batch(d, C, admission="sample", seed=1.5)
    nodes = [Node("a", {"cpu": 4.0})]
    with pytest.raises(OptionsError, match="only supported by place_batch"):
        Scheduler(nodes, admission="sample")
    with pytest.raises(OptionsError):
        place([], nodes, admission=SampledAdmission())
    with pytest.raises(OptionsError):
        simulate("mix", tasks=10, admission="sample")
    assert SampledAdmission().strand == Admission()
