"""The Node/Task layer: every filter, queueing and release, node failure, explanations."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import InputError, InputTypeError, OptionsError
from edgekit.schedule import Scheduler, place, simulate
from edgekit.types import Node, Task

NODES = [
    Node("gw-a", {"cpu": 4, "mem_gib": 8}, labels={"zone": "north"}),
    Node("gw-b", {"cpu": 4, "mem_gib": 8}, labels={"zone": "south"}),
    Node("gpu-1", {"cpu": 8, "mem_gib": 32, "gpu": 1}, taints=("gpu",)),
]
LAT = {"cam-1": {"gw-a": 2.0, "gw-b": 30.0, "gpu-1": 8.0}}


def test_filters_each_refuse_with_their_reason():
    s = Scheduler(NODES, latency_ms=LAT)
    r = s.submit(Task("big", {"cpu": 64}))
    assert not r.placed and "fit" in r.reason
    r = s.submit(Task("tpu", {"tpu": 1}))
    assert not r.placed and "no node offers tpu" in r.reason
    r = s.submit(Task("sel", {"cpu": 1}, node_selector={"zone": "east"}))
    assert r.reason.startswith("0 of 3 nodes eligible") and "node_selector" in r.reason
    assert s.submit(Task("gpu-job", {"cpu": 1, "gpu": 1})).node is None  # taint
    assert s.submit(Task("gpu-ok", {"cpu": 1, "gpu": 1}, tolerations=("gpu",))).node == "gpu-1"
    assert s.submit(Task("north", {"cpu": 1}, node_selector={"zone": "north"})).node == "gw-a"
    r = s.submit(Task("near", {"cpu": 1}, source="cam-1", latency_budget_ms=5.0))
    assert r.node == "gw-a"
    r = s.submit(Task("far", {"cpu": 1}, source="cam-9", latency_budget_ms=5.0))
    assert not r.placed and "latency" in r.reason


def test_affinity_and_anti_affinity():
    s = Scheduler(NODES)
    first = s.submit(Task("db", {"cpu": 1}, group="db", tolerations=("gpu",)))
    app = s.submit(Task("app", {"cpu": 1}, affinity=("db",), tolerations=("gpu",)))
    assert app.node == first.node
    r1 = s.submit(Task("r1", {"cpu": 1}, group="replica", anti_affinity=("replica",),
                       tolerations=("gpu",)))
    r2 = s.submit(Task("r2", {"cpu": 1}, group="replica", anti_affinity=("replica",),
                       tolerations=("gpu",)))
    r3 = s.submit(Task("r3", {"cpu": 1}, group="replica", anti_affinity=("replica",),
                       tolerations=("gpu",)))
    assert len({r1.node, r2.node, r3.node}) == 3
    r4 = s.submit(Task("r4", {"cpu": 1}, group="replica", anti_affinity=("replica",)))
    assert not r4.placed and "anti_affinity" in r4.reason


def test_queue_release_and_fifo_blocking():
    s = Scheduler(NODES[:1], queue="fifo")
    assert s.submit(Task("a", {"cpu": 3})).placed
    q = s.submit(Task("b", {"cpu": 2}))
    assert not q.placed and q.reason.startswith("queued")
    s.submit(Task("c", {"cpu": 1}))  # fits now: placed at once
    assert s.placements["c"] == "gw-a"
    never = s.submit(Task("d", {"cpu": 5}))
    assert not never.placed and not never.reason.startswith("queued")  # can never fit
    placed = s.release("a")
    assert [p.task for p in placed] == ["b"]
    with pytest.raises(InputError):
        s.release("a")
    with pytest.raises(InputError):
        s.submit(Task("b", {"cpu": 1}))


def test_node_failure_replaces_tasks_and_reports_the_rest():
    s = Scheduler(NODES[:2])
    for i in range(6):
        assert s.submit(Task(f"t{i}", {"cpu": 1, "mem_gib": 1})).placed
    on_a = [t for t, n in s.placements.items() if n == "gw-a"]
    moved = s.fail_node("gw-a")
    assert sorted(p.task for p in moved) == sorted(on_a)
    assert sum(p.placed for p in moved) == 4 - (6 - len(on_a))  # gw-b holds 4 cpu
    assert all(p.node in (None, "gw-b") for p in moved)
    assert all(p.reason for p in moved if not p.placed)
    assert set(s.placements.values()) == {"gw-b"}
    assert s.utilization()["cpu"] == pytest.approx(1.0)
    s.restore_node("gw-a")
    assert s.submit(Task("new", {"cpu": 1})).node == "gw-a"


def test_explain_lists_every_node_and_matches_submit():
    s = Scheduler(NODES, latency_ms=LAT)
    s.submit(Task("x", {"cpu": 2}))
    task = Task("y", {"cpu": 1, "mem_gib": 2})
    e = s.explain(task)
    assert [v.node for v in e.verdicts] == ["gw-a", "gw-b", "gpu-1"]
    assert e.verdicts[2].filtered == "taint"
    eligible = [v for v in e.verdicts if v.filtered is None]
    assert all(set(v.scores) >= {"balanced_allocation", "best_fit"} for v in eligible)
    assert e.chosen == s.submit(task).node


def test_place_online_and_batch_and_bad_input():
    tasks = [Task(f"t{i}", {"cpu": c, "mem_gib": 1}) for i, c in enumerate([3, 3, 2, 2, 1, 1])]
    on = place(tasks, NODES[:2])
    ba = place(tasks, NODES[:2], mode="batch", time_budget_s=0.2)
    assert [p.task for p in ba] == [t.name for t in tasks]
    assert sum(p.placed for p in ba) >= sum(p.placed for p in on)
    with pytest.raises(InputTypeError):
        place([{"cpu": 1}], NODES)
    with pytest.raises(InputError):
        place([tasks[0], tasks[0]], NODES)
    with pytest.raises(InputError):
        Scheduler([NODES[0], NODES[0]])
    with pytest.raises(OptionsError):
        Scheduler(NODES, queue="lifo")
    with pytest.raises(InputError):
        Task("neg", {"cpu": -1})


def test_place_emits_one_event_per_call():
    from edgekit import _telemetry
    seen = []

    def sink(event, fields):
        seen.append((event, fields))

    _telemetry.add_sink(sink)
    try:
        place([Task(f"t{i}", {"cpu": 3}) for i in range(4)], NODES[:2])
    finally:
        _telemetry.remove_sink(sink)
    assert [e for e, _ in seen] == ["schedule.place"]
    assert seen[0][1]["placed"] == 2 and seen[0][1]["rejected"] == 2
    with pytest.raises(OptionsError):
        place([], NODES, time_budget_s=-1)


def test_simulator_is_seeded_and_its_metrics_are_in_range():
    a = simulate("mix", tasks=800, queue="backfill", failure_rate_per_s=0.001, seed=2)
    b = simulate("mix", tasks=800, queue="backfill", failure_rate_per_s=0.001, seed=2)
    assert a == b
    assert 0 < a.acceptance <= 1 and 0 < a.fairness <= 1
    assert all(0 < v <= 1 for v in a.utilization.values())
    assert all(0 <= v <= 1 for v in a.fragmentation.values())
    assert a.evicted > 0 and a.wait_p95_s > 0 and a.lost == 0
    r = simulate("mix", tasks=800, queue="reject", failure_rate_per_s=0.001, seed=2)
    assert r.wait_mean_s == 0 and r.acceptance < a.acceptance
    assert np.isfinite(r.utilization["cpu"])


def test_release_and_restore_report_the_queued_tasks_they_place():
    """edgekit.metrics counts placements from these events: a queued task placed on release
    (or when a node comes back) is one more placement."""
    from edgekit import _telemetry
    seen = []

    def sink(event, fields):
        seen.append((event, fields))

    s = Scheduler(NODES[:1], queue="backfill")
    s.submit(Task("a", {"cpu": 3}))
    s.submit(Task("b", {"cpu": 2}))
    s.submit(Task("c", {"cpu": 2}))
    _telemetry.add_sink(sink)
    try:
        placed = s.release("a")
        assert [p.task for p in placed] == ["b", "c"]
        s.release("b")  # nothing queued: no placement, no event
        s.submit(Task("d", {"cpu": 3}))  # queued (c holds 2 of 4)
        s.fail_node("gw-a")  # c waits with d for the node
        back = s.restore_node("gw-a")
    finally:
        _telemetry.remove_sink(sink)
    events = [f for e, f in seen if e == "schedule.place"]
    assert events[0]["placed"] == 2 and events[0]["rejected"] == 0
    assert events[0]["mode"] == "online" and events[0]["seconds"] >= 0
    assert events[2]["placed"] == 0 and events[2]["rejected"] == 0  # the failure: c queued
    assert [f["placed"] for f in events[3:]] == [len(back)] and len(back) >= 1
    assert events[1]["placed"] == 0  # d's submit: queued
    assert [p.task for p in back] == ["d"]  # c (2 cpu) waits behind d (3 of 4)
