"""The article's ``EdgeScheduler``, as published (reformatted, logic unchanged), kept as the
baseline the benchmarks measure.  Its flaws, on purpose: it sorts every node for every task
(O(n log n) per task), the key picks the node with the MOST room (a spread policy), it
divides by zero when a request is 0, it never releases.  edgekit's equivalent scorer is
``article`` in :mod:`edgekit.schedule.policy` (zero requests skipped)."""

from __future__ import annotations


class EdgeScheduler:
    def __init__(self, nodes):
        self.nodes = nodes  # list of dicts: id, cpu_free, mem_free

    def schedule_task(self, task):
        available_nodes = sorted(
            self.nodes,
            key=lambda n: n["cpu_free"] / task["cpu_req"] + n["mem_free"] / task["mem_req"],
            reverse=True,
        )
        for node in available_nodes:
            if node["cpu_free"] >= task["cpu_req"] and node["mem_free"] >= task["mem_req"]:
                node["cpu_free"] -= task["cpu_req"]
                node["mem_free"] -= task["mem_req"]
                return node["id"]
        return None


def run_article(demands, capacity) -> list:
    """Place (tasks, 2) demands on (nodes, 2) capacity with the article's code; returns the
    node index per task or None."""
    nodes = [{"id": i, "cpu_free": float(c), "mem_free": float(m)}
             for i, (c, m) in enumerate(capacity.tolist())]
    sched = EdgeScheduler(nodes)
    return [sched.schedule_task({"cpu_req": float(c), "mem_req": float(m)})
            for c, m in demands.tolist()]
