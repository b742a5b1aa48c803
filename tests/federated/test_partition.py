"""Partitions cover every example once, repeat from the seed, and skew as asked."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import InputError
from edgekit.federated import dirichlet_partition, iid_partition, shard_partition

sklearn = pytest.importorskip("sklearn.datasets")
Y = sklearn.load_digits().target


def _covers_once(parts: list[np.ndarray], n: int) -> None:
    allidx = np.concatenate(parts)
    assert len(allidx) == n and np.array_equal(np.sort(allidx), np.arange(n))


def _classes_per_client(parts: list[np.ndarray], *, share: float = 0.05) -> float:
    """Mean number of classes holding at least ``share`` of a client's examples."""
    return float(np.mean([np.sum(np.bincount(Y[p], minlength=10) >= share * len(p))
                          for p in parts]))


@pytest.mark.parametrize("fn", [
    lambda s: iid_partition(Y, 10, seed=s),
    lambda s: dirichlet_partition(Y, 10, alpha=0.1, seed=s),
    lambda s: shard_partition(Y, 10, shards_per_client=2, seed=s),
])
def test_every_example_once_and_repeatable(fn):
    a, b, c = fn(1), fn(1), fn(2)
    _covers_once(a, len(Y))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_iid_sizes_and_labels_are_balanced():
    parts = iid_partition(Y, 10, seed=0)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert _classes_per_client(parts) == 10


def test_dirichlet_skew_follows_alpha():
    skewed = [_classes_per_client(dirichlet_partition(Y, 10, alpha=0.1, seed=s))
              for s in range(5)]
    mild = [_classes_per_client(dirichlet_partition(Y, 10, alpha=100.0, seed=s))
            for s in range(5)]
    assert np.mean(skewed) < 3.5  # most clients hold one to three classes
    assert np.mean(mild) > 9.5
    parts = dirichlet_partition(Y, 10, alpha=0.1, seed=0, min_size=20)
    assert min(len(p) for p in parts) >= 20


def test_shards_give_few_classes():
    parts = shard_partition(Y, 10, shards_per_client=2, seed=0)
    # a shard spans at most two labels (it is cut from the sorted labels)
    assert all(len(np.unique(Y[p])) <= 4 for p in parts)
    assert _classes_per_client(parts) <= 3


@pytest.mark.parametrize("call", [
    lambda: iid_partition(Y, 0),
    lambda: iid_partition(Y[:5], 10),
    lambda: iid_partition(Y.reshape(-1, 1), 2),
    lambda: dirichlet_partition(Y, 10, alpha=0.0),
    lambda: dirichlet_partition(Y, 10, alpha=float("nan")),
    lambda: dirichlet_partition(Y, 10, alpha=0.1, min_size=1000),
    lambda: dirichlet_partition(Y, 10, alpha=0.01, min_size=170, max_tries=3),
    lambda: shard_partition(Y, 10, shards_per_client=0),
])
def test_bad_arguments_raise_input_error(call):
    with pytest.raises(InputError):
        call()
