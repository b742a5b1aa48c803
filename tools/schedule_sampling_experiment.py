"""Online stochastic optimization by scenario sampling (Van Hentenryck & Bent), measured
against plain online BalancedAllocation and ``admission="strand"``.

At each arrival, once the cluster is ``--gate`` full on some resource (largest per-resource
utilization), the placer compares {each feasible node, decline} on K sampled futures: each
future is a bootstrap resample of the demands seen so far (no knowledge of the real future,
the load or the number of tasks to come), long enough to ask for ``c`` x the cluster's
remaining free capacity (in value units), completed greedily with the default policy (the
C kernel) on the residual capacities.  Common random numbers: the same K futures for every
candidate.  Decision: ``expectation`` (best mean of task value + scenario value) or
``consensus`` (vote of the per-scenario best).  Everything is seeded from the instance seed.

Yardstick: "gap to best known" (best of batch mode's placement, 0.5 s, and every row), on
the tuning seeds 100-149 (no MILP).  Usage:

    python tools/schedule_sampling_experiment.py [--seeds 100-149] [--k 16] [--c 1,1.5]
        [--gate 0.6] [--complete online|sorted] [--decide expectation|consensus]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from edgekit.schedule import EDGE_CLUSTER_10, WORKLOADS, _kernel, place_batch, workload
from edgekit.schedule.admission import Admission
from edgekit.schedule.policy import get_policy

C = EDGE_CLUSTER_10


def sample_online(d: np.ndarray, cap: np.ndarray, *, seed: int, k: int = 16, c: float = 1.0,
                  gate: float = 0.6, complete: str = "online", decide: str = "expectation",
                  warmup: int = 20, decline: bool = True, margin: float = 0.0,
                  strand: bool = False, move_margin: float = 0.0,
                  stats: dict | None = None) -> np.ndarray:
    prep = _kernel.Prepared.make(cap, get_policy("default"))
    total = cap.sum(axis=0)
    vals = (d / total).mean(axis=1)
    free = cap.copy()
    out = np.full(d.shape[0], -1, dtype=np.int64)
    tol = prep.tol
    n_dec = n_moved = n_judged = 0
    state = _kernel.admit_state(cap, Admission()) if strand else None
    if strand:
        decline = False  # the sampled futures pick the node, the strand test may decline

    def finish(t: int, j: int) -> int:
        if state is not None and j >= 0:
            j, _ = state.decide(free, prep.cap, prep.inv, tol, d[t], float(vals[t]), j, None)
        if j >= 0:
            out[t] = j
            free[j] -= d[t]
        return j

    for t in range(d.shape[0]):
        dt = d[t]
        if state is not None:
            state.observe(dt)
        j0, _ = _kernel.select(prep, free, dt, t)
        if j0 < 0:
            continue
        used = 1.0 - free.sum(axis=0) / total
        if t < warmup or used.max() < gate:
            n_dec += finish(t, j0) < 0
            continue
        n_judged += 1
        feas = np.flatnonzero(np.all(dt <= free + tol, axis=1))
        rng = np.random.default_rng([seed, t])
        free_val = float((free.sum(axis=0) / total).mean())
        seen_v = vals[:t + 1]
        need = c * free_val
        m = int(need / max(seen_v.mean(), 1e-12) * 3) + 8
        idx = rng.integers(0, t + 1, size=(k, m))
        cum = np.cumsum(seen_v[idx], axis=1)
        lens = np.minimum((cum < need).sum(axis=1) + 1, m)  # the last one crosses need
        scen = []
        for s in range(k):
            ix = idx[s, :lens[s]]
            if complete == "sorted":
                ix = ix[np.argsort(-seen_v[ix], kind="stable")]
            scen.append(np.ascontiguousarray(d[ix]))
        cands = list(feas) + ([-1] if decline else [])
        score = np.zeros((len(cands), k))
        for ci, j in enumerate(cands):
            f0 = free.copy()
            if j >= 0:
                f0[j] -= dt
            for s in range(k):
                sd = scen[s]
                a = _kernel.greedy(prep, sd, np.arange(sd.shape[0]), f0.copy())
                score[ci, s] = (vals[t] if j >= 0 else 0.0) + \
                    float(((sd / total).mean(axis=1))[a >= 0].sum())
        pol_i = cands.index(j0)
        if decide == "expectation":
            mean = score.mean(axis=1)
            n_place = len(feas)
            best = int(np.argmax(mean[:n_place]))
            if mean[best] <= mean[pol_i] + 1e-12 + move_margin * vals[t]:
                best = pol_i
            # a decline must beat the best placement by margin x the task's value
            if decline and mean[-1] > mean[best] + 1e-12 + margin * vals[t]:
                best = len(cands) - 1
        else:  # consensus
            votes = np.zeros(len(cands))
            for s in range(k):
                col = score[:, s]
                w = np.flatnonzero(col >= col.max() - 1e-12)
                if pol_i in w:
                    votes[pol_i] += 1
                else:
                    votes[w[0]] += 1
            best = int(np.argmax(votes))
            if votes[best] <= votes[pol_i]:
                best = pol_i
        j = cands[best]
        n_moved += j >= 0 and j != j0
        n_dec += finish(t, j) < 0
    if stats is not None:
        stats.update(declined=n_dec, moved=n_moved, judged=n_judged)
    return out


def _ref_cache(path: str) -> dict:
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                out[(r["wl"], r["load"], r["seed"])] = r["u"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="100-149")
    ap.add_argument("--loads", default="1.0,1.5")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--c", type=float, default=1.0)
    ap.add_argument("--gate", type=float, default=0.6)
    ap.add_argument("--complete", default="online")
    ap.add_argument("--decide", default="expectation")
    ap.add_argument("--no-decline", action="store_true")
    ap.add_argument("--move-margin", type=float, default=0.0,
                    help="a move must beat the policy's node by this x the task's value")
    ap.add_argument("--strand", action="store_true",
                    help="hybrid: sampled futures pick the node, the strand test declines")
    ap.add_argument("--margin", type=float, default=0.0,
                    help="a decline must beat the best placement by margin x the task's value")
    ap.add_argument("--ref-cache", default=".batch_ref_cache.jsonl",
                    help="JSON lines of batch mode's utilization per instance (filled here)")
    ap.add_argument("--batch-s", type=float, default=0.5)
    ap.add_argument("--milp-cache", default=None,
                    help="the MILP cache of tools/schedule_table.py: adds the gap to bound")
    ap.add_argument("--milp-s", type=float, default=8.0)
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.seeds.split("-"))
    cache = _ref_cache(args.ref_cache)
    milp = {}
    if args.milp_cache:
        with open(args.milp_cache) as f:
            for line in f:
                r = json.loads(line)
                if r["milp_s"] == args.milp_s:
                    milp[(r["wl"], r["load"], r["seed"])] = r
    total = C.sum(axis=0)
    print(f"seeds {args.seeds} k={args.k} c={args.c} gate={args.gate} complete={args.complete} "
          f"decide={args.decide} decline={not args.no_decline} margin={args.margin} "
          f"strand={args.strand} move_margin={args.move_margin}")
    print("gaps to best known (mean; points; share of instances where sample is worse, and "
          "its largest loss in points)" + ("; then gaps to the MILP bound" if milp else ""))
    print("| workload | load | plain | strand | sample | sample-plain | sample-strand | "
          "loses vs plain | loses vs strand (max) | declined | s/instance |"
          + (" bound: plain / strand / sample |" if milp else ""))
    for load in [float(x) for x in args.loads.split(",")]:
        for wl in args.workloads.split(","):
            gp, gs, gx, dec, secs, bp, bs, bx = [], [], [], [], [], [], [], []
            for seed in range(lo, hi + 1):
                d = workload(wl, load, C, seed=seed)
                v = (d / total).mean(axis=1)
                key = (wl, load, seed)
                if key not in cache:
                    a = place_batch(d, C, mode="batch", time_budget_s=args.batch_s, seed=seed)
                    cache[key] = float(v[a >= 0].sum())
                    with open(args.ref_cache, "a") as f:
                        f.write(json.dumps({"wl": wl, "load": load, "seed": seed,
                                            "u": cache[key]}) + "\n")
                up = float(v[place_batch(d, C) >= 0].sum())
                us = float(v[place_batch(d, C, admission="strand") >= 0].sum())
                st: dict = {}
                t0 = time.perf_counter()
                a = sample_online(d, C, seed=seed, k=args.k, c=args.c, gate=args.gate,
                                  complete=args.complete, decide=args.decide,
                                  decline=not args.no_decline, margin=args.margin,
                                  strand=args.strand, move_margin=args.move_margin, stats=st)
                secs.append(time.perf_counter() - t0)
                ux = float(v[a >= 0].sum())
                best = max(cache[key], up, us, ux)
                if milp:
                    best = max(best, milp[key]["objective"])
                    b = milp[key]["bound"]
                    bp.append(1 - up / b)
                    bs.append(1 - us / b)
                    bx.append(1 - ux / b)
                gp.append(1 - up / best)
                gs.append(1 - us / best)
                gx.append(1 - ux / best)
                dec.append(st["declined"])
            gp, gs, gx = (100 * np.array(g) for g in (gp, gs, gx))
            extra = ""
            if milp:
                extra = (f" {100 * np.mean(bp):.2f}% / {100 * np.mean(bs):.2f}% / "
                         f"{100 * np.mean(bx):.2f}% |")
            print(f"| {wl} | {load} | {gp.mean():.2f}% | {gs.mean():.2f}% | {gx.mean():.2f}% | "
                  f"{gp.mean() - gx.mean():+.2f} | {gs.mean() - gx.mean():+.2f} | "
                  f"{(gx > gp + 1e-9).mean():.0%} | {(gx > gs + 1e-9).mean():.0%} "
                  f"({max(0.0, (gx - gs).max()):.2f}) | "
                  f"{np.mean(dec):.1f} | {np.median(secs):.2f} |" + extra, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
