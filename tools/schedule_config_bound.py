"""An upper bound on the offline optimum of a placement instance from the configuration LP
(Gilmore-Gomory / Dantzig-Wolfe over the nodes), by column generation: built to test
whether a bound tighter than the MILP's (HiGHS's B) exists at this level.  Finding: on the
mix and uniform workloads at load 1.0 it does not; the configuration LP's optimum equals
the assignment LP's (B) to ~2e-5 (below).

The problem (docs/schedule.md, "Definitions"): maximize ``sum_t v_t x_t``, each task on at
most one node, per node and resource the placed demand at most the capacity.  The
configuration LP has a variable ``lambda[n, S]`` for every set S of tasks that fits node n
(on every resource), of value ``v(S)``; per node ``sum_S lambda[n, S] <= 1``, per task
``sum_{(n, S) ni t} lambda[n, S] <= 1``.  Every placement is a 0/1 point of it, so its
optimum is an upper bound on the placement optimum, never weaker than the assignment LP
(each column is a whole integral packing of a node, not a fraction of one).

**What is proven, and how.**  For *any* task prices ``pi >= 0``, relaxing the task
constraints with the prices gives

    UB(pi) = sum_t pi_t + sum_n max_{S fits n} sum_{t in S} (v_t - pi_t)

(the empty set allowed, so each node's term is >= 0): for any placement x,
``sum v x = sum_t pi_t x_t + sum_n sum_{t on n} (v_t - pi_t) <= sum_t pi_t + sum_n (node n's
max)`` since ``x_t <= 1`` and ``pi_t >= 0``.  So UB(pi) is a valid bound whatever the prices,
*provided each node's maximum is bounded from above*: every node's 2-resource 0/1 knapsack
is solved in integer units (demands and capacities are multiples of 1/64, checked) by
HiGHS (``scipy.optimize.milp``), whose **dual bound** is used, never the incumbent; when
HiGHS stops on its time limit (0.5 s) with a dual bound more than 2e-7 above its incumbent,
an exact dynamic program over the integer capacity grid (:func:`knapsack_dp`) gives the
maximum instead.  The prices tried: the task duals of the assignment LP (the warm start:
UB there is at most the assignment LP's value), the duals of the restricted master LP over
the columns found so far, and points between those and the best prices seen (Wentges
smoothing); the tool keeps the minimum UB(pi).  The restricted master's value ``lp`` is a
*lower* bound on the configuration LP (its solution is feasible there), so once
``UB - lp <= 1e-7`` (converged) the configuration LP's optimum is known, and no bound of
this family can go below ``lp`` in any case.  Between exact rounds, cheap greedy pricing
(five fill orders per node) adds columns.

**Finding** (mix 1.0, seeds 0-9, 150 s: 8 of 9 converged, 40-150 s each): on every
converged instance the configuration LP's optimum equals UB at the assignment LP's duals,
which equals the assignment LP (B is ~2e-5 *lower*: HiGHS's root cuts).  At those prices
each node's knapsack is LP-tight: with ~100 tasks of 1/64 granularity, some integral set
fills the node's binding resources exactly.  The gap between the best placement known and
B is not per-node packing integrality (what this LP adds) but the coupling between
nodes: a task must be wholly on one node.  Closing it needs branching (branch-and-price on
this LP, or HiGHS's branch and bound), not a stronger root relaxation of this kind.

Output per instance (JSON lines, one per instance, ``--cache``): the bound ``ub``, the
master's value ``lp``, the MILP's bound ``B`` and best solution (from ``--milp-cache``), batch
mode's utilization (0.5 s), the online default's, the integer master's placement
(``--integer-s``), the best known ``K`` = max of those, iterations, seconds, converged.  The
table per block (merging the runs in the cache per instance: lowest UB, highest lp) gives
the mean of ``min(UB, B)`` and of the master value, the mean gaps ``1 - K / B``,
``1 - K / min(UB, B)`` and ``1 - K / max(lp, K)`` (the last: the least gap any bound of this
family could show), and the online default's mean gap to each and to K.  A mean of
per-instance upper bounds is an upper bound on the mean of the optima, and per instance
``1 - U / UB >= 1 - U / OPT``, so the mean gap of a policy to ``min(UB, B)`` is an upper bound
on its mean true gap to the optimum (its gap to K a lower bound).

Usage::

    python tools/schedule_config_bound.py --workloads mix --loads 1.0 --seeds 0-49 \\
        --seconds 30 --milp-cache MILP_CACHE --cache CACHE [--workers 2] [--integer-s 30]
        [--table-only]

Needs scipy (``pip install 'edgekit[schedule]'``).  Too slow for CI; the small checks are in
``tests/schedule/test_config_bound.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from edgekit.schedule import (
    EDGE_CLUSTER_10,
    WORKLOADS,
    place_batch,
    task_values,
    utilization,
    workload,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from schedule_forced_bound import to_units  # noqa: E402  (exact 1/64 units, checked)

EPS = 1e-9  # reduced cost above which a column is said to improve the master
GAP_TOL = 1e-7  # converged: the proven bound is within this of the master's value


# --------------------------------------------------------------------------- pricing


def knapsack(w: np.ndarray, cap: np.ndarray, p: np.ndarray, *, time_limit_s: float = 10.0
             ) -> tuple[float, np.ndarray, bool]:
    """Max ``sum p[i] y[i]`` over 0/1 ``y`` with ``w.T @ y <= cap`` (integers, any number of
    resources), ``p > 0``.  Returns ``(bound, items, exact)``: a proven upper bound on the
    maximum (HiGHS's dual bound, or the exact value when everything fits), the items of
    the best set found, and whether the solver proved optimality."""
    k = p.size
    if k == 0:
        return 0.0, np.zeros(0, dtype=np.int64), True
    if np.all(w.sum(axis=0) <= cap):
        return float(p.sum()), np.arange(k), True
    from scipy.optimize import Bounds, LinearConstraint, milp
    res = milp(-p, integrality=np.ones(k), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(w.T.astype(np.float64), -np.inf,
                                             cap.astype(np.float64))],
               options={"time_limit": float(time_limit_s), "mip_rel_gap": 0.0,
                        "disp": False})
    dual = getattr(res, "mip_dual_bound", None)
    if dual is None or not np.isfinite(dual):
        bound = float(p.sum())  # nothing proven: the trivial bound
    else:
        bound = -float(dual)
    items = np.zeros(0, dtype=np.int64)
    if res.x is not None:
        items = np.flatnonzero(np.rint(res.x) > 0.5)
        if np.any(w[items].sum(axis=0) > cap):  # pragma: no cover - solver tolerance
            items = np.zeros(0, dtype=np.int64)
        bound = max(bound, float(p[items].sum()))
    return bound, items, res.status == 0


def knapsack_dp(w: np.ndarray, cap: np.ndarray, p: np.ndarray) -> float:
    """The same maximum for 2 resources by dynamic programming over the integer capacity
    grid (exact, independent of HiGHS; memory ``(cap0 + 1) * (cap1 + 1)`` floats)."""
    best = np.zeros((int(cap[0]) + 1, int(cap[1]) + 1))
    for (a, b), val in zip(w.tolist(), p.tolist(), strict=True):
        if a > cap[0] or b > cap[1]:
            continue
        cand = best[: best.shape[0] - a, : best.shape[1] - b] + val
        np.maximum(best[a:, b:], cand, out=best[a:, b:])
    return float(best[-1, -1])


# --------------------------------------------------------------------------- the bound


def assignment_lp_duals(d: np.ndarray, c: np.ndarray, v: np.ndarray, fits: np.ndarray
                        ) -> np.ndarray:
    """Task duals (>= 0) of the assignment LP (x[t, n] in [0, 1] on the pairs that fit)."""
    from scipy import sparse
    from scipy.optimize import linprog
    t_idx, n_idx = np.nonzero(fits)
    k = t_idx.size
    n_t, n_n = fits.shape
    r_res = d.shape[1]
    rows = np.concatenate([t_idx] + [n_t + r * n_n + n_idx for r in range(r_res)])
    cols = np.concatenate([np.arange(k)] * (1 + r_res))
    data = np.concatenate([np.ones(k)] + [d[t_idx, r].astype(np.float64)
                                          for r in range(r_res)])
    a_ub = sparse.csr_matrix((data, (rows, cols)), shape=(n_t + r_res * n_n, k))
    b_ub = np.concatenate([np.ones(n_t)] + [c[:, r].astype(np.float64) for r in range(r_res)])
    res = linprog(-v[t_idx], A_ub=a_ub, b_ub=b_ub, bounds=(0, 1), method="highs")
    if res.status != 0:
        return np.zeros(n_t)
    return np.clip(-np.asarray(res.ineqlin.marginals)[:n_t], 0.0, v)


def config_bound(demands: np.ndarray, capacity: np.ndarray, *, values: np.ndarray | None = None,
                 start: list[np.ndarray] = (), seconds: float = 30.0, smoothing: float = 0.5,
                 knapsack_s: float = 0.5, dp_fallback: bool = True,
                 exact_every: int = 10, warm_start: bool = True,
                 dp_gap: float = 2e-7, integer_s: float = 0.0) -> dict:
    """Column generation for the configuration LP of one instance.

    ``start``: placements (node or -1 per task) whose node sets seed the master.  Returns a
    dict: ``ub`` (the best proven bound min_pi UB(pi)), ``lp`` (the last restricted master's
    value, a lower bound on the configuration LP), ``iterations``, ``seconds``, ``converged``
    (no column of positive reduced cost at the master's duals: ``ub`` is then the
    configuration LP's optimum up to the solvers' tolerances), ``inexact`` (knapsacks that
    stopped on their time limit; their dual bound was used), ``columns``."""
    from scipy import sparse
    from scipy.optimize import linprog

    from edgekit.schedule.optimal import _quiet_solver

    t0 = time.perf_counter()
    d = to_units(demands, "demands")
    c = to_units(capacity, "capacity")
    v = task_values(demands, capacity) if values is None else np.asarray(values, np.float64)
    n_t, n_n = d.shape[0], c.shape[0]
    fits = np.all(d[:, None, :] <= c[None, :, :], axis=2)  # (tasks, nodes)
    cols: list[tuple[int, np.ndarray]] = []
    seen: set[tuple[int, bytes]] = set()

    def add(n: int, items: np.ndarray) -> bool:
        items = np.unique(np.asarray(items, dtype=np.int64))
        if items.size == 0:
            return False
        if np.any(d[items].sum(axis=0) > c[n]):
            raise AssertionError(f"column for node {n} overfills it")
        key = (n, items.tobytes())
        if key in seen:
            return False
        seen.add(key)
        cols.append((n, items))
        return True

    for a in start:
        a = np.asarray(a)
        for n in range(n_n):
            add(n, np.flatnonzero(a == n))

    best_ub = float(v[fits.any(axis=1)].sum())  # everything that fits somewhere is placed
    best_pi = np.zeros(n_t)
    lp_val, it, converged, inexact, n_dp = 0.0, 0, False, 0, 0
    pi = np.zeros(n_t)
    mu = np.zeros(n_n)

    def price(prices: np.ndarray) -> tuple[float, list[tuple[int, np.ndarray, float]]]:
        """UB(prices) and each node's best set with its reduced value sum(v - prices)."""
        nonlocal inexact, n_dp
        r = v - prices
        ub = float(prices.sum())
        found = []
        for n in range(n_n):
            cand = np.flatnonzero((r > 0) & fits[:, n])
            left = seconds - (time.perf_counter() - t0)
            with _quiet_solver():
                bound, items, exact = knapsack(d[cand], c[n], r[cand],
                                               time_limit_s=max(min(knapsack_s, left), 0.1))
            inc = float(r[cand[items]].sum())
            if not exact and dp_fallback and bound - inc > dp_gap:
                # HiGHS's bound is still loose at its time limit: the exact DP
                bound = max(min(bound, knapsack_dp(d[cand], c[n], r[cand])),
                            float(r[cand[items]].sum()))
                n_dp += 1
            else:
                inexact += not exact
            ub += max(bound, 0.0)
            sel = cand[items]
            found.append((n, sel, float(r[sel].sum())))
        return ub, found

    def master_rows():
        """The master's rows (nodes, then tasks) over the columns, and the columns' values."""
        rows, cidx = [], []
        for j, (n, items) in enumerate(cols):
            rows.append(n)
            cidx.append(j)
            rows.extend((n_n + items).tolist())
            cidx.extend([j] * items.size)
        a_ub = sparse.csr_matrix((np.ones(len(rows)), (rows, cidx)),
                                 shape=(n_n + n_t, len(cols)))
        return a_ub, np.array([v[items].sum() for _, items in cols])

    def master() -> None:
        nonlocal lp_val, mu, pi
        if not cols:
            return
        a_ub, obj = master_rows()
        res = linprog(-obj, A_ub=a_ub, b_ub=np.ones(n_n + n_t), bounds=(0, None),
                      method="highs")
        if res.status != 0:
            raise RuntimeError(f"master LP failed: {res.message}")
        lp_val = -float(res.fun)
        marg = -np.asarray(res.ineqlin.marginals)
        mu = np.maximum(marg[:n_n], 0.0)
        # a price above the task's value only adds to sum(pi): UB(pi) is lower without it
        pi = np.clip(marg[n_n:], 0.0, v)

    inv_c = 1.0 / np.maximum(c, 1)

    def greedy_columns() -> bool:
        """Cheap pricing: per node, greedy fills in five orders of reduced value per unit
        of size; adds the sets of positive reduced cost.  True if any was added."""
        r = v - pi
        added = False
        for n in range(n_n):
            cand = np.flatnonzero((r > EPS) & fits[:, n])
            if cand.size == 0:
                continue
            u = d[cand] * inv_c[n]
            rc = r[cand]
            keys = [rc / (u.sum(axis=1) + 1e-12), rc / (u.max(axis=1) + 1e-12),
                    rc / (u[:, 0] + 1e-12), rc / (u[:, 1] + 1e-12), rc]
            for key in keys:
                free = c[n].copy()
                sel = []
                for i in np.argsort(-key, kind="stable").tolist():
                    if np.all(d[cand[i]] <= free):
                        free -= d[cand[i]]
                        sel.append(cand[i])
                sel = np.array(sel, dtype=np.int64)
                if float(r[sel].sum()) - mu[n] > EPS:
                    added |= add(n, sel)
        return added

    if warm_start:  # task duals of the assignment LP: UB(pi0) <= that LP's value
        pi0 = assignment_lp_duals(d, c, v, fits)
        ub0, found0 = price(pi0)
        if ub0 < best_ub:
            best_ub, best_pi = ub0, pi0
        for n, sel, _ in found0:
            add(n, sel)
        if os.environ.get("CBOUND_TRACE"):
            print(f"  warm start ub {ub0:.6f} t {time.perf_counter() - t0:.1f}s",
                  file=sys.stderr)
    since_exact = 0
    while True:
        it += 1
        master()
        if greedy_columns() and since_exact < exact_every:
            since_exact += 1
            if time.perf_counter() - t0 > seconds:
                break
            continue
        since_exact = 0
        # exact pricing: at a point between the best prices so far and the master's duals
        # (Wentges smoothing); when that finds nothing that improves the master, at the duals
        points = [smoothing * best_pi + (1 - smoothing) * pi] if smoothing > 0 else []
        points.append(pi)
        added = False
        for prices in points:
            ub, found = price(prices)
            if ub < best_ub:
                best_ub, best_pi = ub, prices.copy()
            improving = False
            for n, sel, _ in found:
                red = float((v[sel] - pi[sel]).sum()) - mu[n]  # at the master's duals
                improving |= red > EPS
                added |= add(n, sel)
            if improving:
                break
        # the master's value is a lower bound on the configuration LP, best_ub an upper one
        converged = best_ub - lp_val <= GAP_TOL
        if os.environ.get("CBOUND_TRACE"):
            print(f"  it {it} t {time.perf_counter() - t0:.1f}s lp {lp_val:.6f} ub {ub:.6f} "
                  f"best {best_ub:.6f} cols {len(cols)} dp {n_dp}", file=sys.stderr)
        if converged or not added or time.perf_counter() - t0 > seconds:
            break
    seconds_cg = time.perf_counter() - t0
    placement = None
    if integer_s > 0 and cols:  # the master over the columns found, with integer lambda
        from scipy.optimize import Bounds, LinearConstraint, milp
        a_ub, obj = master_rows()
        with _quiet_solver():
            res = milp(-obj, integrality=np.ones(len(cols)), bounds=Bounds(0, 1),
                       constraints=[LinearConstraint(a_ub, -np.inf, np.ones(n_n + n_t))],
                       options={"time_limit": float(integer_s), "disp": False})
        if res.x is not None:
            placement = np.full(n_t, -1, dtype=np.int64)
            for j in np.flatnonzero(np.rint(res.x) > 0.5).tolist():
                n, items = cols[j]
                if np.any(placement[items] >= 0):
                    raise AssertionError("integer master placed a task twice")
                placement[items] = n
    return {"ub": best_ub, "lp": lp_val, "iterations": it, "seconds": seconds_cg,
            "converged": bool(converged), "inexact": int(inexact), "dp": n_dp,
            "columns": len(cols), "placement": placement}


# --------------------------------------------------------------------------- the runs


def parse_seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def load_jsonl(path: str) -> list[dict]:
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_instance(args: tuple) -> dict:
    wl, load, seed, seconds, milp, integer_s = args
    C = EDGE_CLUSTER_10
    d = workload(wl, load, C, seed=seed)
    batch = place_batch(d, C, mode="batch", time_budget_s=0.5)
    online = place_batch(d, C)
    u_batch = utilization(batch, d, C)
    u_online = utilization(online, d, C)
    out = config_bound(d, C, start=[batch, online], seconds=seconds, smoothing=0.8,
                       exact_every=40, integer_s=integer_s)
    placement = out.pop("placement")
    out["integer_master"] = None if placement is None else utilization(placement, d, C)
    rec = {"wl": wl, "load": load, "seed": seed, "tasks": int(d.shape[0]), "seconds_limit": seconds,
           **out, "B": milp.get("bound"), "milp_objective": milp.get("objective"),
           "batch": u_batch, "online": u_online}
    k = max(u_batch, milp.get("objective") or 0.0, u_online, out["integer_master"] or 0.0)
    rec["K"] = k
    if out["ub"] < k - 1e-9:
        raise AssertionError(f"bound {out['ub']} below a known placement {k} on {wl} {load} "
                             f"seed {seed}: invalid")
    return rec


def table(records: list[dict]) -> str:
    blocks: dict[tuple, dict] = {}
    for r in records:  # per instance, over all runs in the cache: the lowest proven bound,
        # the highest master value (a lower bound on the configuration LP), the longest run
        b = blocks.setdefault((r["wl"], r["load"]), {})
        old = b.get(r["seed"])
        if old is None:
            b[r["seed"]] = dict(r)
            continue
        keep = dict(r) if r["seconds_limit"] > old["seconds_limit"] else old
        keep["ub"] = min(r["ub"], old["ub"])
        keep["lp"] = max(r["lp"], old["lp"])
        keep["K"] = max(r["K"], old["K"])
        keep["converged"] = keep["ub"] - keep["lp"] <= GAP_TOL
        b[r["seed"]] = keep
    lines = ["| block | n | conv. | mean B | mean min(UB,B) | mean master LP | K to B | "
             "K to min(UB,B) | K to master LP | online to B | online to min(UB,B) | "
             "online to master LP | online to K | s/inst |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (wl, load), b in sorted(blocks.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rs = list(b.values())
        B = np.array([r["B"] if r["B"] is not None else np.inf for r in rs])
        ub = np.array([r["ub"] for r in rs])
        tight = np.minimum(ub, B)
        K = np.array([r["K"] for r in rs])
        U = np.array([r["online"] for r in rs])
        Bf = np.where(np.isfinite(B), B, np.nan)
        lp = np.maximum(np.array([r["lp"] for r in rs]), K)  # config LP >= both
        lines.append(
            f"| {wl} {load} | {len(rs)} | {sum(r['converged'] for r in rs)} | "
            f"{np.nanmean(Bf):.5f} | {tight.mean():.5f} | {lp.mean():.5f} | "
            f"{np.nanmean(1 - K / Bf):.3%} | {np.mean(1 - K / tight):.3%} | "
            f"{np.mean(1 - K / lp):.3%} | {np.nanmean(1 - U / Bf):.3%} | "
            f"{np.mean(1 - U / tight):.3%} | {np.mean(1 - U / lp):.3%} | "
            f"{np.mean(1 - U / K):.3%} | "
            f"{np.mean([r['seconds'] for r in rs]):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default="mix")
    ap.add_argument("--loads", default="1.0")
    ap.add_argument("--seeds", default="0-49")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--milp-cache", default="")
    ap.add_argument("--cache", default="")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--integer-s", type=float, default=0.0,
                    help="then solve the master over the columns found with integer lambda "
                         "for this many seconds: a placement, counted in K")
    ap.add_argument("--table-only", action="store_true")
    ns = ap.parse_args(argv)
    wls = ns.workloads.split(",")
    for wl in wls:
        if wl not in WORKLOADS:
            ap.error(f"unknown workload {wl}")
    loads = [float(x) for x in ns.loads.split(",")]
    seeds = parse_seeds(ns.seeds)
    milp = {(r["wl"], float(r["load"]), int(r["seed"])): r for r in load_jsonl(ns.milp_cache)}
    done = {(r["wl"], float(r["load"]), int(r["seed"])) for r in load_jsonl(ns.cache)
            if r.get("seconds_limit", 0) >= ns.seconds}
    if not ns.table_only:
        jobs = [(wl, load, s, ns.seconds, milp.get((wl, load, s), {}), ns.integer_s)
                for load in loads for wl in wls for s in seeds if (wl, load, s) not in done]
        if ns.workers > 1:
            from multiprocessing import Pool
            with Pool(ns.workers) as pool:
                it = pool.imap(run_instance, jobs)
                _consume(it, ns.cache)
        else:
            _consume(map(run_instance, jobs), ns.cache)
    recs = [r for r in load_jsonl(ns.cache) if r["wl"] in wls and float(r["load"]) in loads
            and r["seed"] in seeds]
    print(table(recs))
    return 0


def _consume(it, cache: str) -> None:
    for rec in it:
        print(f"{rec['wl']} {rec['load']} seed {rec['seed']}: UB {rec['ub']:.6f} B "
              f"{rec['B']} K {rec['K']:.6f} lp {rec['lp']:.6f} it {rec['iterations']} "
              f"{rec['seconds']:.1f}s conv {rec['converged']} inexact {rec['inexact']}",
              flush=True)
        if cache:
            with open(cache, "a") as f:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    sys.exit(main())
