"""tools/schedule_signals.py (issue #17's search for a signal that arms the stages early):
its gated loop must be the default's online loop, or its table says nothing about the
default.  With the gates of the shipped policies it must place exactly as ``place_batch``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.schedule import place_batch
from edgekit.schedule.families import Family, family_instance

_TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture(scope="module")
def sig():
    sys.path.insert(0, str(_TOOLS))
    try:
        spec = importlib.util.spec_from_file_location("schedule_signals",
                                                      _TOOLS / "schedule_signals.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(_TOOLS))
    return mod


SHIPPED = [("off/off", {"policy": "balanced_allocation"}), ("base/off", {}),
           ("on/off", {"policy": "planned"}), ("base/on", {"admission": "strand"}),
           ("base/base", {"admission": "auto"})]


@pytest.mark.parametrize("fam,load,seed", [("bimodal/sorted_asc/homog10", 1.5, 3),
                                           ("vm_catalogue/bursts/small40", 1.0, 1001),
                                           ("pareto/random/small40", 1.0, 2)])
def test_gates_of_shipped_policies_place_as_place_batch(sig, fam, load, seed):
    d, c = family_instance(Family(*fam.split("/")), load, seed)
    outs = {}
    for variant, kw in SHIPPED:
        got = sig.run(variant, d, c)
        np.testing.assert_array_equal(got, place_batch(d, c, **kw), err_msg=variant)
        outs[variant] = got
    # the instances are ones where the stages act: the check is not vacuous
    assert not np.array_equal(outs["on/off"], outs["off/off"])


def test_signal_gate_arms(sig):
    d, c = family_instance(Family("bimodal", "sorted_asc", "homog10"), 1.5, 3)
    base = sig.run("base/off", d, c)
    assert not np.array_equal(sig.run("base/fill0.5", d, c), base)
    with pytest.raises(ValueError):
        sig.run("base/nosuch1", d, c)


def _order_of(sig, fam, load, seed, upto):
    from edgekit.schedule import task_values
    d, c = family_instance(Family(*fam.split("/")), load, seed)
    o = sig._Order(c)
    for v, dt in zip(task_values(d, c)[:upto], d[:upto], strict=True):
        o.observe(float(v), dt)
    return o


@pytest.mark.parametrize("fam,want", [("uniform/sorted_asc/homog10", 1.0),
                                      ("kmodal/sorted_desc/edge10", -1.0)])
def test_trend_is_plus_or_minus_one_on_sorted_streams(sig, fam, want):
    assert _order_of(sig, fam, 1.0, 5, 60).trend() == want


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_order_signals_stay_low_on_a_random_order(sig, seed):
    o = _order_of(sig, "uniform/random/edge10", 1.0, seed, 60)
    assert abs(o.trend()) < 0.3
    assert o.runs() < 0.15


def test_runs_signal_sees_bursts(sig):
    # bursts of 25 tasks of one kind: after 60 tasks the share of same-kind neighbours is
    # far above what the kinds' shares give in random order
    o = _order_of(sig, "anticorrelated/bursts/homog10", 1.0, 5, 60)
    assert o.runs() > 0.3
    assert abs(o.trend()) < 0.5


def test_windowed_trend_matches_a_direct_count(sig):
    from edgekit.schedule import task_values
    d, c = family_instance(Family("pareto", "random", "edge10"), 1.0, 3)
    v = task_values(d, c)[:80]
    o = sig._Order(c, window=16)
    for x, dt in zip(v, d[:80], strict=True):
        o.observe(float(x), dt)
    w = v[-16:]
    conc = sum(int(w[j] > w[i]) for i in range(16) for j in range(i + 1, 16))
    disc = sum(int(w[j] < w[i]) for i in range(16) for j in range(i + 1, 16))
    assert o.trend() == pytest.approx((conc - disc) / (conc + disc))


def test_order_switch_arms_on_its_order_only(sig):
    d, c = family_instance(Family("uniform", "sorted_asc", "small40"), 1.0, 4)
    assert not np.array_equal(sig.run("base/off/asc0.5:ma", d, c), sig.run("base/off", d, c))
    d, c = family_instance(Family("uniform", "random", "small40"), 1.0, 4)
    np.testing.assert_array_equal(sig.run("base/off/asc0.5:ma+desc0.5:ma+runs0.3:ma", d, c),
                                  sig.run("base/off", d, c))
    with pytest.raises(ValueError):
        sig.run("base/off/up0.5:ma", d, c)
    with pytest.raises(ValueError):
        sig.run("base/off/asc0.5:nosuch", d, c)


def test_used_first_opens_a_node_only_when_no_used_one_fits(sig):
    # distinct values: the trend is 1 from the second task on, so the switch arms there
    d, c = family_instance(Family("uniform", "sorted_asc", "homog10"), 1.0, 4)
    out = sig.run("off/off/asc0.5:U", d, c, order_min=2)
    free = c.copy()
    opened = 0
    for t, j in enumerate(out):
        if j < 0:
            continue
        if t >= 1 and (free[j] == c[j]).all():
            used = (free != c).any(axis=1)
            fits = (free >= d[t] - 1e-9 * c).all(axis=1)
            assert not (used & fits).any(), t
            opened += 1
        free[j] -= d[t]
    assert opened >= 2  # the check ran on nodes it opened
