"""tools/schedule_large.py (the yardsticks at 100 and 1,000 nodes): its LP bound with
identical nodes merged equals the node-level LP, and its configuration-LP bound over node
types lies between the enumerated optimum and the LP bound on tiny instances with repeated
node types."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from edgekit.schedule import task_values  # noqa: E402
from tests.schedule.test_config_bound import _assignment_lp, _enumerate  # noqa: E402
from tests.schedule.test_scorers_tool import _load  # noqa: E402


@pytest.mark.parametrize("seed", range(6))
def test_bounds_bracket_the_optimum_on_repeated_node_types(seed):
    large = _load("schedule_large")
    rng = np.random.default_rng(seed)
    c = np.array([[4, 8], [4, 8], [8, 4], [8, 4]], dtype=np.float64)
    d = rng.integers(1, 7, (6, 2)).astype(np.float64) + rng.integers(0, 64, (6, 2)) / 64
    opt = _enumerate(d, c)
    lp = large.lp_bound(d, c)
    assert lp == pytest.approx(_assignment_lp(d, c), abs=1e-9)  # merging alike nodes: same LP
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
