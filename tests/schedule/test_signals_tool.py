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
