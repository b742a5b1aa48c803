"""Split a labelled dataset between simulated clients: IID, Dirichlet label skew, shards.

Each function returns one index array per client (sorted, disjoint, covering every example),
so ``x[parts[k]], y[parts[k]]`` is client ``k``'s data.  All are reproducible from ``seed``.
"""

from __future__ import annotations

import numpy as np

from edgekit.errors import InputError

__all__ = ["dirichlet_partition", "iid_partition", "shard_partition"]


def _labels(labels: np.ndarray, n_clients: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise InputError("labels must be 1-D", name="labels", got=y.shape)
    if not isinstance(n_clients, (int, np.integer)) or n_clients < 1:
        raise InputError(f"n_clients must be a positive int, got {n_clients!r}",
                         name="n_clients", got=n_clients)
    if len(y) < n_clients:
        raise InputError(f"{len(y)} examples cannot give {n_clients} clients one each",
                         name="n_clients", got=n_clients)
    return y


def iid_partition(labels: np.ndarray, n_clients: int, *, seed: int = 0) -> list[np.ndarray]:
    """A uniformly random split into ``n_clients`` parts whose sizes differ by at most one."""
    y = _labels(labels, n_clients)
    order = np.random.default_rng(seed).permutation(len(y))
    return [np.sort(p) for p in np.array_split(order, n_clients)]


def dirichlet_partition(labels: np.ndarray, n_clients: int, *, alpha: float, seed: int = 0,
                        min_size: int = 1, max_tries: int = 1000) -> list[np.ndarray]:
    """Label skew (Hsu et al. 2019): for every class, the shares of its examples that go to
    each client are drawn from Dirichlet(``alpha``).  Small ``alpha`` (0.1) gives most
    clients one or two classes; large ``alpha`` approaches IID.  Draws again until every
    client has at least ``min_size`` examples (the usual rule); raises
    :class:`~edgekit.errors.InputError` after ``max_tries`` failed draws."""
    y = _labels(labels, n_clients)
    if not alpha > 0 or not np.isfinite(alpha):
        raise InputError(f"alpha must be a positive number, got {alpha!r}", name="alpha",
                         got=alpha)
    if min_size * n_clients > len(y):
        raise InputError(f"min_size {min_size} x {n_clients} clients exceeds {len(y)} examples",
                         name="min_size", got=min_size)
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            shares = rng.dirichlet(np.full(n_clients, float(alpha)))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                parts[k].append(chunk)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in out) >= min_size:
            return out
    raise InputError(f"no Dirichlet({alpha}) draw gave every client {min_size} examples in "
                     f"{max_tries} tries", name="alpha", got=alpha)


def shard_partition(labels: np.ndarray, n_clients: int, *, shards_per_client: int = 2,
                    seed: int = 0) -> list[np.ndarray]:
    """McMahan et al.'s pathological non-IID split: sort by label, cut into
    ``n_clients * shards_per_client`` equal shards, give each client ``shards_per_client``
    random shards (so each holds at most that many classes, mostly)."""
    y = _labels(labels, n_clients)
    if shards_per_client < 1 or n_clients * shards_per_client > len(y):
        raise InputError("shards_per_client must be >= 1 and leave each shard an example",
                         name="shards_per_client", got=shards_per_client)
    rng = np.random.default_rng(seed)
    # stable sort by label, ties in random order
    order = np.lexsort((rng.random(len(y)), y))
    shards = np.array_split(order, n_clients * shards_per_client)
    pick = rng.permutation(len(shards))
    return [np.sort(np.concatenate([shards[s] for s in
                                    pick[k * shards_per_client:(k + 1) * shards_per_client]]))
            for k in range(n_clients)]
