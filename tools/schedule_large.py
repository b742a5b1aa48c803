"""Yardsticks at 100 and 1,000 nodes (issue #17): the LP bound of the placement problem and
the best batch placement found in a time budget, against the online default and
BalancedAllocation alone; and the default's per-task decision time.

Usage: python tools/schedule_large.py [--clusters edge100,edge1000] [--families
uniform/random,pareto/random,...] [--loads 1.0,1.5] [--seeds 3] [--batch-s 10] [--out FILE]

The LP bound: the LP relaxation of the placement MILP (edgekit.schedule.optimal) with the
nodes of one capacity merged into one bin of their summed capacity.  Merging identical
nodes does not change the LP's optimum (a merged solution splits evenly over the nodes it
merged, each task fitting each of them), so this *is* the LP bound, solved with
(tasks x node types) variables instead of (tasks x nodes): the edge clusters have 10 node
types.  It is an upper bound on every placement.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _schedule_io import emit

from edgekit.schedule import place_batch, task_values, utilization
from edgekit.schedule.families import Family, family_instance
from edgekit.schedule.optimal import _quiet_solver


def lp_bound(d: np.ndarray, c: np.ndarray, time_limit_s: float = 900.0) -> float:
    """The LP relaxation's optimum (utilization units; see the module docstring)."""
    from scipy import sparse
    from scipy.optimize import linprog

    types, inv = np.unique(c, axis=0, return_inverse=True)
    cap = np.zeros_like(types)
    np.add.at(cap, inv.ravel(), c)
    values = task_values(d, c)
    fits = np.all(d[:, None, :] <= types[None, :, :], axis=2)
    tt, nn = np.nonzero(fits)
    k = np.arange(tt.size)
    n_t, n_r = d.shape
    n_g = types.shape[0]
    a_task = sparse.csr_matrix((np.ones(tt.size), (tt, k)), shape=(n_t, tt.size))
    rows = [sparse.csr_matrix((d[tt, r], (nn, k)), shape=(n_g, tt.size)) for r in range(n_r)]
    with _quiet_solver():
        res = linprog(-values[tt], A_ub=sparse.vstack([a_task] + rows, format="csr"),
                      b_ub=np.concatenate([np.ones(n_t), cap.T.ravel()]), bounds=(0, 1),
                      method="highs", options={"time_limit": time_limit_s})
    if res.status != 0:
        raise RuntimeError(f"LP bound not solved: {res.message}")
    return float(-res.fun)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", default="edge100,edge1000")
    ap.add_argument("--families", default="uniform/random,pareto/random,vm_catalogue/random,"
                                          "bimodal/bursts")
    ap.add_argument("--loads", default="1.0,1.5")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch-s", type=float, default=10.0)
    ap.add_argument("--out", default="-")
    args = ap.parse_args(argv)
    lines = ["| cluster | family | load | tasks | LP bound | batch: gap to LP bound | "
             "default online: gap to LP / to batch | BalancedAllocation: gap to LP / to "
             "batch | default decision time per task |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    t_start = time.time()
    for cl in args.clusters.split(","):
        for spec in args.families.split(","):
            dm, order = spec.split("/")
            fam = Family(dm, order, cl)
            for load in [float(x) for x in args.loads.split(",")]:
                acc = []
                for seed in range(args.seeds):
                    d, c = family_instance(fam, load, seed)
                    bound = lp_bound(d, c)
                    batch = utilization(place_batch(d, c, mode="batch",
                                                    time_budget_s=args.batch_s, seed=seed),
                                        d, c)
                    t0 = time.thread_time()
                    u_def = utilization(place_batch(d, c), d, c)
                    per_task = (time.thread_time() - t0) / len(d)
                    u_ba = utilization(place_batch(d, c, policy="balanced_allocation"), d, c)
                    best = max(batch, u_def, u_ba)
                    acc.append((len(d), bound, 1 - batch / bound, 1 - u_def / bound,
                                1 - u_def / best, 1 - u_ba / bound, 1 - u_ba / best,
                                per_task))
                a = np.array(acc)
                m = a.mean(axis=0)
                lines.append(f"| {cl} | {spec} | {load} | {m[0]:.0f} | {m[1]:.4f} | "
                             f"{100 * m[2]:.2f}% (max {100 * a[:, 2].max():.2f}%) | "
                             f"{100 * m[3]:.2f}% / {100 * m[4]:.2f}% | "
                             f"{100 * m[5]:.2f}% / {100 * m[6]:.2f}% | "
                             f"{1e6 * m[7]:.0f} us |")
                print(lines[-1], f"({time.time() - t_start:.0f} s)", file=sys.stderr,
                      flush=True)
    text = "\n".join(lines) + f"\n\n{args.seeds} seeds per row; batch budget " \
        f"{args.batch_s:g} s; decision time: CPU time (time.thread_time) of place_batch " \
        "online / tasks.\n"
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
