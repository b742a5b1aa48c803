"""``edgekit demo`` section: one workload on the 10-node cluster, placed by the article's
policy, edgekit's default (online and batch), with the MILP optimum beside them."""

from __future__ import annotations

import time
from typing import TextIO

import numpy as np

from edgekit import _backend
from edgekit._demo import DemoRow
from edgekit.schedule import EDGE_CLUSTER_10, place_batch, utilization, workload
from edgekit.schedule._article import run_article
from edgekit.schedule.optimal import optimal_placement


def run(out: TextIO) -> list[DemoRow]:
    cap = EDGE_CLUSTER_10
    d = workload("mix", 1.0, cap, seed=0)
    print(f"  cluster: 10 nodes, {cap[:, 0].sum():g} cores, {cap[:, 1].sum():g} GiB; "
          f"workload 'mix' at load 1.0: {d.shape[0]} tasks in arrival order", file=out)
    art = np.array([-1 if j is None else j for j in run_article(d, cap)])
    runs = {
        "article's EdgeScheduler (online)": art,
        "random among feasible (online)": place_batch(d, cap, policy="random"),
        "edgekit default (online)": place_batch(d, cap),
        "edgekit default (batch)": place_batch(d, cap, mode="batch", time_budget_s=0.5),
    }
    t0 = time.perf_counter()
    opt = optimal_placement(d, cap, time_limit_s=2.0, mip_rel_gap=1e-4)
    print(f"  MILP (HiGHS, {time.perf_counter() - t0:.1f} s): utilization {opt.objective:.3f},"
          f" proven bound {opt.bound:.3f}", file=out)
    for name, a in runs.items():
        u = utilization(a, d, cap)
        print(f"  {name:<34} utilization {u:.3f}  placed {int((a >= 0).sum()):>3}/"
              f"{d.shape[0]}  gap to bound {100 * (1 - u / opt.bound):5.2f}%", file=out)
    u_art = utilization(art, d, cap)
    u_def = utilization(runs["edgekit default (online)"], d, cap)
    u_rand = utilization(runs["random among feasible (online)"], d, cap)
    print(f"  backend: {_backend.NAME}", file=out)
    return [DemoRow("placement, 10 nodes, mix load 1.0",
                    f"{u_def:.0%} online ({u_def / u_rand - 1:+.0%} vs random), "
                    f"{utilization(runs['edgekit default (batch)'], d, cap):.0%} batch, "
                    f"MILP bound {opt.bound:.0%}",
                    f"{u_art:.0%} ({u_art / u_rand - 1:+.0%} vs random; claims +37%)")]
