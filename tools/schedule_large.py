"""Yardsticks at 100 and 1,000 nodes (issue #17): the LP bound of the placement problem and
the best batch placement found in a time budget, against the online default and
BalancedAllocation alone; and the default's per-task decision time.

Usage: python tools/schedule_large.py [--clusters edge100,edge1000] [--families
uniform/random,pareto/random,...] [--loads 1.0,1.5] [--seeds 3] [--set held-out|tuning
--first-seed 0] [--batch-s 10] [--config-s 0] [--no-online] [--out FILE]

The LP bound: the LP relaxation of the placement MILP (edgekit.schedule.optimal) with the
nodes of one capacity merged into one bin of their summed capacity.  Merging identical
nodes does not change the LP's optimum (a merged solution splits evenly over the nodes it
merged, each task fitting each of them), so this *is* the LP bound, solved with
(tasks x node types) variables instead of (tasks x nodes): the edge clusters have 10 node
types.  It is an upper bound on every placement.

The configuration-LP bound (``--config-s``, :func:`config_bound`): column generation over
node types, valid for any task prices (a column is a set of whole tasks on one node).  On
the 100-node cells it equals the LP bound (docs/schedule.md, "Yardsticks at 100 and 1,000
nodes").  Seeds: the held-out seeds by default (``--set held-out``); ``--set tuning
--first-seed N`` for the seeds that tuning may look at (below 1000).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _schedule_io import emit  # noqa: E402
from schedule_config_bound import knapsack  # noqa: E402  (HiGHS's dual bound, checked)
from schedule_forced_bound import to_units  # noqa: E402  (exact 1/64 units, checked)

from edgekit.schedule import place_batch, task_values, utilization
from edgekit.schedule.families import Family, family_instance
from edgekit.schedule.optimal import _quiet_solver


def lp_bound(d: np.ndarray, c: np.ndarray, time_limit_s: float = 900.0) -> float:
    """The LP relaxation's optimum (utilization units; see the module docstring)."""
    return _type_lp(d, c, time_limit_s)[0]


def _type_lp(d: np.ndarray, c: np.ndarray, time_limit_s: float = 900.0
             ) -> tuple[float, np.ndarray]:
    """(the LP bound, the task duals >= 0 of its task rows)."""
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
    return float(-res.fun), np.clip(-np.asarray(res.ineqlin.marginals)[:n_t], 0.0, values)


def config_bound(d: np.ndarray, c: np.ndarray, *, seconds: float = 60.0,
                 starts: tuple[np.ndarray, ...] = (), knapsack_s: float = 1.0,
                 smoothing: float = 0.7) -> dict:
    """A bound at least as tight as the LP bound: the configuration LP over node *types*
    (Gilmore-Gomory; a column is a set of whole tasks that fits one node of a type), by
    column generation in ``seconds``.

    Valid whatever the prices (tools/schedule_config_bound.py has the argument): for task
    prices ``pi >= 0``, ``UB(pi) = sum_t pi_t + sum_g n_g K_g(pi)``, ``n_g`` the nodes of
    type g and ``K_g`` an upper bound on the best ``sum (v_t - pi_t)`` over sets of tasks
    that fit one node of type g: HiGHS's *dual bound* of that 2-resource 0/1 knapsack in
    exact 1/64 units (never its incumbent).  Prices tried: the LP bound's task duals
    (``UB`` there is at most the LP bound, up to the knapsacks' LP-tightness), then the
    restricted master's duals smoothed towards the best prices so far (Wentges).  Returns
    ``ub`` (the lowest ``UB(pi)``), ``lp`` (the master's value: a lower bound on the
    configuration LP, so no bound of this family can go below it), ``rounds``,
    ``seconds``."""
    from scipy import sparse
    from scipy.optimize import linprog

    t0 = time.perf_counter()
    du, cu = to_units(d, "demands"), to_units(c, "capacity")
    types, inv, counts = np.unique(cu, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    v = task_values(d, c)
    n_t, n_g = d.shape[0], types.shape[0]
    fits = np.all(du[:, None, :] <= types[None], axis=2)
    cols: list[tuple[int, np.ndarray]] = []
    seen: set[tuple[int, bytes]] = set()

    def add(g: int, items: np.ndarray) -> None:
        items = np.unique(np.asarray(items, dtype=np.int64))
        if items.size and (g, items.tobytes()) not in seen:
            if np.any(du[items].sum(axis=0) > types[g]):
                raise AssertionError("column overfills its node type")
            seen.add((g, items.tobytes()))
            cols.append((g, items))

    for a in starts:
        for n in range(c.shape[0]):
            add(int(inv[n]), np.flatnonzero(a == n))

    def price(pi: np.ndarray) -> float:
        r = v - pi
        ub = float(pi.sum())
        for g in range(n_g):
            cand = np.flatnonzero((r > 1e-12) & fits[:, g])
            with _quiet_solver():
                bound, items, _ = knapsack(du[cand], types[g], r[cand], time_limit_s=knapsack_s)
            ub += counts[g] * max(bound, 0.0)
            add(g, cand[items])
        return ub

    lp0, pi0 = _type_lp(d, c)
    best_ub, best_pi = min(lp0, price(pi0)), pi0
    lp_val, rounds = 0.0, 0
    while time.perf_counter() - t0 < seconds and cols:
        rounds += 1
        rows, cidx = [], []
        for j, (g, items) in enumerate(cols):
            rows.extend([g] + (n_g + items).tolist())
            cidx.extend([j] * (1 + items.size))
        a_ub = sparse.csr_matrix((np.ones(len(rows)), (rows, cidx)), shape=(n_g + n_t, len(cols)))
        obj = np.array([v[items].sum() for _, items in cols])
        with _quiet_solver():
            res = linprog(-obj, A_ub=a_ub, b_ub=np.concatenate([counts, np.ones(n_t)]),
                          bounds=(0, None), method="highs")
        if res.status != 0:
            break
        lp_val = -float(res.fun)
        pi = np.clip(-np.asarray(res.ineqlin.marginals)[n_g:], 0.0, v)
        known = len(cols)
        ub = price(smoothing * best_pi + (1 - smoothing) * pi)
        if ub < best_ub:
            best_ub, best_pi = ub, smoothing * best_pi + (1 - smoothing) * pi
        if best_ub - lp_val <= 1e-7:
            break
        if len(cols) == known:  # the smoothed prices found no new column: the master's own
            ub = price(pi)
            if ub < best_ub:
                best_ub, best_pi = ub, pi
            if len(cols) == known:  # none there either: the master is the configuration LP
                break
    return {"ub": best_ub, "lp": lp_val, "lp_bound": lp0, "rounds": rounds,
            "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    from schedule_families import seed_list  # here: schedule_families imports this module

    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", default="edge100,edge1000")
    ap.add_argument("--families", default="uniform/random,pareto/random,vm_catalogue/random,"
                                          "bimodal/bursts")
    ap.add_argument("--loads", default="1.0,1.5")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", default="held-out", choices=("held-out", "tuning"),
                    help="held-out: the first --seeds of the held-out seeds (1000-...); "
                         "tuning: --first-seed onwards, refused where they reach 1000")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--batch-s", type=float, default=10.0)
    ap.add_argument("--config-s", type=float, default=0.0,
                    help="seconds of column generation for the configuration-LP bound "
                         "(0: not computed)")
    ap.add_argument("--no-online", action="store_true", help="batch and bounds only")
    ap.add_argument("--out", default="-")
    args = ap.parse_args(argv)
    seeds = seed_list(ap, args.set, args.seeds, args.first_seed, strict=True)
    lines = ["| cluster | family | load | tasks | LP bound | config-LP bound | batch: gap to LP "
             "bound | batch: gap to config-LP bound | default online: gap to LP / to batch | "
             "BalancedAllocation: gap to LP / to batch | default decision time per task |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    t_start = time.time()
    for cl in args.clusters.split(","):
        for spec in args.families.split(","):
            dm, order = spec.split("/")
            fam = Family(dm, order, cl)
            for load in [float(x) for x in args.loads.split(",")]:
                acc = []
                for seed in seeds:
                    d, c = family_instance(fam, load, seed)
                    bound = lp_bound(d, c)
                    a = place_batch(d, c, mode="batch", time_budget_s=args.batch_s, seed=seed)
                    batch = utilization(a, d, c)
                    tight = bound
                    if args.config_s > 0:
                        tight = min(bound, config_bound(d, c, seconds=args.config_s,
                                                        starts=(a,))["ub"])
                    if batch > tight + 1e-9:
                        raise AssertionError(f"bound {tight} below a placement {batch}")
                    u_def = u_ba = per_task = np.nan
                    if not args.no_online:
                        t0 = time.thread_time()
                        u_def = utilization(place_batch(d, c), d, c)
                        per_task = (time.thread_time() - t0) / len(d)
                        u_ba = utilization(place_batch(d, c, policy="balanced_allocation"),
                                           d, c)
                    best = np.nanmax([batch, u_def, u_ba])
                    acc.append((len(d), bound, tight, 1 - batch / bound, 1 - batch / tight,
                                1 - u_def / bound, 1 - u_def / best, 1 - u_ba / bound,
                                1 - u_ba / best, per_task))
                a_ = np.array(acc)
                a_[:, 3:5] = np.maximum(a_[:, 3:5], 0.0)  # a placement at its bound: not -0.00%
                m = a_.mean(axis=0)
                tight_txt = f"{m[2]:.4f}" if args.config_s > 0 else "-"
                gap_tight = (f"{100 * m[4]:.2f}% (max {100 * a_[:, 4].max():.2f}%)"
                             if args.config_s > 0 else "-")
                lines.append(f"| {cl} | {spec} | {load} | {m[0]:.0f} | {m[1]:.4f} | "
                             f"{tight_txt} | "
                             f"{100 * m[3]:.2f}% (max {100 * a_[:, 3].max():.2f}%) | "
                             f"{gap_tight} | "
                             f"{100 * m[5]:.2f}% / {100 * m[6]:.2f}% | "
                             f"{100 * m[7]:.2f}% / {100 * m[8]:.2f}% | "
                             f"{1e6 * m[9]:.0f} us |")
                print(lines[-1], f"({time.time() - t_start:.0f} s)", file=sys.stderr,
                      flush=True)
    text = "\n".join(lines) + f"\n\nseeds {seeds[0]}-{seeds[-1]}; batch budget " \
        f"{args.batch_s:g} s; config-LP bound {args.config_s:g} s; decision time: CPU time " \
        "(time.thread_time) of place_batch online / tasks.\n"
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
