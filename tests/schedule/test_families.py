"""The workload-family generator (issue #17): each named parameter has the effect it claims,
instances are reproducible from the seed, and the held-out list is the documented draw."""

import numpy as np
import pytest

from edgekit.errors import OptionsError
from edgekit.schedule import task_values, workload
from edgekit.schedule.families import (
    CLUSTERS,
    DEMANDS,
    HELD_OUT,
    HELD_OUT_SEEDS,
    ORDERS,
    SEEN,
    Family,
    _draw_held_out,
    family_cluster,
    family_instance,
)


def _pooled(demand: str, cluster: str = "edge10", seeds=range(3)) -> np.ndarray:
    return np.concatenate([family_instance(Family(demand, "random", cluster), 1.5, s)[0]
                           for s in seeds])


@pytest.mark.parametrize("demand", DEMANDS)
@pytest.mark.parametrize("cluster", ["edge10", "small40", "accel10"])
def test_every_family_reaches_its_load_reproducibly_and_fits(demand, cluster):
    for order in ORDERS:
        fam = Family(demand, order, cluster)
        d, c = family_instance(fam, 1.0, 5)
        d2, c2 = family_instance(fam, 1.0, 5)
        assert np.array_equal(d, d2) and np.array_equal(c, c2)
        assert not np.array_equal(d, family_instance(fam, 1.0, 6)[0])
        v = task_values(d, c)
        assert v.sum() >= 1.0 and v.sum() - v.max() < 1.0  # drawn until the load is reached
        if order == "random":
            assert v[:-1].sum() < 1.0  # the last task drawn crossed it
        assert (d <= c.max(axis=0)).all() and (d[:, :2] >= 1 / 64).all()
        assert np.array_equal(d * 64, np.round(d * 64))  # quantized to 1/64
        assert d.shape[1] == c.shape[1]


def test_orders_permute_the_same_draw():
    base, _ = family_instance(Family("lognormal", "random"), 1.5, 3)
    key = [tuple(r) for r in base]
    for order in ORDERS[1:]:
        d, c = family_instance(Family("lognormal", order), 1.5, 3)
        assert sorted(key) == sorted(tuple(r) for r in d)
        v = task_values(d, c)
        if order == "sorted_desc":
            assert (np.diff(v) <= 0).all()
        elif order == "sorted_asc":
            assert (np.diff(v) >= 0).all()
        else:  # bursts: runs of one kind, far fewer kind changes than the random order
            total = c.sum(axis=0)

            def switches(x, total=total):
                kind = x[:, 1] * total[0] > x[:, 0] * total[1]
                return int((kind[1:] != kind[:-1]).sum())
            assert switches(d) <= len(d) / 25 + 2 < switches(base)


def test_demand_distributions_have_their_claimed_shape():
    corr = np.corrcoef(*_pooled("correlated").T)[0, 1]
    anti = np.corrcoef(*_pooled("anticorrelated").T)[0, 1]
    indep = np.corrcoef(*_pooled("uniform").T)[0, 1]
    assert corr > 0.8 and anti < -0.6 and abs(indep) < 0.15

    def tail(x):  # the largest task against the median one, in cores
        return np.quantile(x[:, 0], 0.999) / np.median(x[:, 0])
    assert tail(_pooled("pareto")) > 3 * tail(_pooled("uniform"))
    assert tail(_pooled("lognormal")) > 2 * tail(_pooled("uniform"))
    ratio = _pooled("bimodal")[:, 1] / _pooled("bimodal")[:, 0]
    assert ((ratio < 1) | (ratio > 4)).mean() > 0.95 and 0.35 < (ratio < 1).mean() < 0.65
    from edgekit.schedule.families import _CONTAINER, _VM
    for name, sizes in (("vm_catalogue", _VM), ("container_catalogue", _CONTAINER)):
        rows = {tuple(r) for r in _pooled(name)}
        # quantized to 1/64 (0.1 core -> 6.4/64 rounds): every row is a catalogue size
        allowed = {tuple(np.round(s * 64) / 64) for s in sizes}
        assert rows <= allowed and len(rows) >= len(sizes) - 2


def test_kmodal_has_four_kinds_drawn_from_the_seed():
    for seed in (0, 1):
        d = family_instance(Family("kmodal"), 1.5, seed)[0]
        rng = np.random.default_rng(seed)  # the kinds are the seed's first draws
        cpu = rng.uniform(0.2, 3.0, 4)
        ratio = np.exp(rng.uniform(np.log(0.25), np.log(8.0), 4))
        # every task is one kind's centre with +-20% jitter (and 1/64 quantization)
        near = (np.abs(d[:, :1] / cpu - 1) <= 0.21) & \
            (np.abs((d[:, 1:2] / d[:, :1]) / ratio - 1) <= 0.46)
        assert near.any(axis=1).all() and near.any(axis=0).sum() >= 3


def test_ek_families_are_edgekits_own_workloads():
    for fam, kind in zip(SEEN, ("uniform", "heavy_tailed", "mix"), strict=True):
        d, c = family_instance(fam, 1.5, 4)
        assert np.array_equal(d, workload(kind, 1.5, c, seed=4))


def test_clusters_and_accelerators():
    shapes = {c: family_cluster(c).shape for c in CLUSTERS}
    assert shapes == {"edge10": (10, 2), "homog10": (10, 2), "small40": (40, 2),
                      "accel10": (10, 3), "edge100": (100, 2), "edge1000": (1000, 2)}
    assert np.array_equal(family_cluster("edge1000"), family_cluster("edge1000"))
    d, c = family_instance(Family("uniform", "random", "accel10"), 1.0, 2)
    assert (c[:, 2] > 0).sum() == 3 and set(np.unique(d[:, 2])) == {0.0, 1.0}
    assert 0.05 < (d[:, 2] > 0).mean() < 0.3


def test_held_out_list_is_the_documented_draw():
    assert HELD_OUT == _draw_held_out(17, 12) and len(set(HELD_OUT)) == 12
    assert HELD_OUT_SEEDS == tuple(range(1000, 1020))
    assert not any(f.demand.startswith("ek_") for f in HELD_OUT)
    assert {"pareto", "vm_catalogue"} <= {f.demand for f in HELD_OUT}
    assert len({f.cluster for f in HELD_OUT}) >= 2


def test_bad_names_and_loads_raise():
    with pytest.raises(OptionsError):
        Family("gaussian")
    with pytest.raises(OptionsError):
        Family("uniform", "lifo")
    with pytest.raises(OptionsError):
        Family("uniform", cluster="edge7")
    with pytest.raises(OptionsError):
        family_instance(Family("uniform"), 0.0)
    with pytest.raises(OptionsError):
        family_instance("uniform", 1.0)
