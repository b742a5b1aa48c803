"""tools/schedule_large.py (the yardsticks at 100 and 1,000 nodes): its LP bound with
identical nodes merged equals the node-level LP, and its configuration-LP bound over node
types lies between the enumerated optimum and the LP bound on tiny instances with repeated
node types."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")

from edgekit.schedule import task_values  # noqa: E402

_TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _load(name: str):
    sys.path.insert(0, str(_TOOLS))
    try:
        spec = importlib.util.spec_from_file_location(name, _TOOLS / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(_TOOLS))


def _optimum(d: np.ndarray, c: np.ndarray) -> float:
    v = task_values(d, c)
    a = np.array(list(itertools.product(range(-1, c.shape[0]), repeat=d.shape[0])))
    ok = np.ones(a.shape[0], dtype=bool)
    for n in range(c.shape[0]):
        ok &= np.all((a == n).astype(np.float64) @ d <= c[n], axis=1)
    return float(((a >= 0)[ok] @ v).max())


def _node_lp(d: np.ndarray, c: np.ndarray) -> float:
    from scipy.optimize import linprog
    n_t, n_n = d.shape[0], c.shape[0]
    v = task_values(d, c)
    rows, b = [], []
    for t in range(n_t):
        r = np.zeros((n_t, n_n))
        r[t] = 1
        rows.append(r.ravel())
        b.append(1.0)
    for n in range(n_n):
        for k in range(d.shape[1]):
            r = np.zeros((n_t, n_n))
            r[:, n] = d[:, k]
            rows.append(r.ravel())
            b.append(c[n, k])
    fits = np.all(d[:, None, :] <= c[None], axis=2).ravel()
    res = linprog(-np.repeat(v, n_n), A_ub=np.array(rows), b_ub=b,
                  bounds=[(0, 1 if f else 0) for f in fits], method="highs")
    return -float(res.fun)


@pytest.mark.parametrize("seed", range(6))
def test_bounds_bracket_the_optimum_on_repeated_node_types(seed):
    large = _load("schedule_large")
    rng = np.random.default_rng(seed)
    c = np.array([[4, 8], [4, 8], [8, 4], [8, 4]], dtype=np.float64)
    d = rng.integers(1, 7, (6, 2)).astype(np.float64) + rng.integers(0, 64, (6, 2)) / 64
    opt = _optimum(d, c)
    lp = large.lp_bound(d, c)
    assert lp == pytest.approx(_node_lp(d, c), abs=1e-9)  # merging alike nodes: same LP
    r = large.config_bound(d, c, seconds=5.0)
    assert opt - 1e-9 <= r["ub"] <= lp + 1e-9
    assert r["lp"] <= r["ub"] + 1e-7  # the master is a lower bound on the config LP


def test_config_bound_is_tighter_than_the_lp_where_a_task_cannot_be_split():
    """Two nodes of (4, 4) and three tasks of (3, 3): the LP fills both nodes with 8/3 tasks'
    worth; whole tasks on nodes place two.  The configuration LP sees it."""
    large = _load("schedule_large")
    c = np.array([[4.0, 4.0], [4.0, 4.0]])
    d = np.full((3, 2), 3.0)
    v = task_values(d, c)
    assert large.lp_bound(d, c) == pytest.approx(8 / 3 * v[0])
    r = large.config_bound(d, c, seconds=5.0)
    assert r["ub"] == pytest.approx(2 * v[0], abs=1e-7)
