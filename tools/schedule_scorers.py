"""Issue #17: is there a base scorer that beats BalancedAllocation on the workload families?

The signals study (tools/schedule_signals.py) kept BalancedAllocation as the scorer and only
armed the plan's stages earlier.  This tool re-chooses the scorer itself: each candidate is
a weighted sum of terms, scored per feasible node, highest wins, ties to the lowest index
(as the kernels do), in arrival order, every task that fits placed (an accept-if-fits
placer).  Terms:

* the scorers of :data:`edgekit.schedule.SCORERS` by short name: ``ba``
  (balanced_allocation), ``ma`` (most_allocated), ``la`` (least_allocated), ``bf``
  (best_fit), ``wf`` (worst_fit), ``tet`` (tetris), ``rtc``
  (requested_to_capacity_ratio); a candidate made of these only runs in the C kernel
  (``place_batch`` with a :class:`~edgekit.schedule.Policy`);
* ``used``: 1 on a node that already holds a task (keeps empty nodes empty);
* ``block``: the cluster's largest free block after the placement, a block being a node's
  smallest free share (``min_r free_r / M_r``, ``M_r`` the largest capacity): keeps room
  for the largest tasks still to come;
* ``bfdom``: best fit on the task's dominant resource, ``-(f_dom - d_dom) / M_dom``;
* ``fill``: the node's smallest utilization after the placement, ``min_r u_r``;

plus the library's own policies by name (``default``, ``planned``, ...: ``place_batch``
with that policy) and ``strand`` / ``auto`` (the default with that admission).  A
candidate is written ``ba+0.5ma+0.01used`` (weight 1 when none is given).

Per (family, load, seed) the yardstick is the best known placement: the best of batch mode
(``place_batch(mode="batch")``, 0.5 s) and every candidate ever run on the instance (the
records file keeps them, so a later run with other candidates re-reads them).  Prints, per
candidate, the mean gap over cells as a multiple of BalancedAllocation's, the worst cell
against it (points) and the cells more than 0.2 point worse: the criterion of issue #17.

Usage: PYTHONPATH=. python tools/schedule_scorers.py [--set tuning|held-out|NAMES]
[--seeds 2] [--first-seed 0] --candidates ba+0.5ma,ba+0.2used,... --records FILE
[--cells] [--by-order] [--select-from OTHER_RECORDS]

``--select-from``: with the records of other seeds, also the best a per-family *selector*
among the candidates can reach: per cell, the candidate chosen on the other seeds, judged
on these (what a perfect signal of the family would give), and the in-sample oracle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from schedule_families import family_set, seed_list

from edgekit.schedule import Policy, _schedule_ref, place_batch, utilization
from edgekit.schedule.families import family_instance

SHORT = {"ba": "balanced_allocation", "ma": "most_allocated", "la": "least_allocated",
         "bf": "best_fit", "wf": "worst_fit", "tet": "tetris",
         "rtc": "requested_to_capacity_ratio"}
EXTRA = ("used", "block", "bfdom", "fill", "grow15", "grow2", "grow3", "dba", "cv")
NAMED = ("default", "planned", "first_fit", "worst_fit", "balanced_allocation", "kubernetes",
         "most_allocated", "best_fit", "tetris")
SCORER_ORDER = ("article", "best_fit", "worst_fit", "least_allocated", "most_allocated",
                "requested_to_capacity_ratio", "balanced_allocation", "tetris", "random")


def parse(spec: str) -> dict[str, float]:
    """``ba+0.5ma`` -> {"ba": 1.0, "ma": 0.5}."""
    out: dict[str, float] = {}
    for part in spec.split("+"):
        i = 0
        while i < len(part) and (part[i].isdigit() or part[i] in ".e-"):
            i += 1
        w, term = (float(part[:i]) if i else 1.0), part[i:]
        if term not in SHORT and term not in EXTRA:
            raise ValueError(f"unknown term {term!r} in {spec!r}")
        out[term] = out.get(term, 0.0) + w
    return out


def _copies(x: np.ndarray, big: np.ndarray) -> np.ndarray:
    """Copies of demand ``big`` that each leftover row of ``x`` holds."""
    pos = big > 0
    if not pos.any():
        return np.zeros(x.shape[0])
    return np.floor(np.maximum(x[:, pos], 0) / big[pos] + 1e-9).min(axis=1)


def _std_util(c: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Standard deviation of a node's utilizations over the resources it has."""
    has = c > 0
    u = np.divide(c - f, c, out=np.zeros_like(c), where=has)
    n = has.sum(axis=1)
    mean = u.sum(axis=1) / n
    return np.sqrt((np.where(has, (u - mean[:, None]) ** 2, 0.0)).sum(axis=1) / n)


def _scored(d: np.ndarray, c: np.ndarray, terms: dict[str, float]) -> np.ndarray:
    """Online placement under a candidate with extra terms (numpy loop)."""
    weights = np.zeros(len(SCORER_ORDER))
    for k, w in terms.items():
        if k in SHORT:
            weights[SCORER_ORDER.index(SHORT[k])] = w
    inv = np.divide(1.0, c, out=np.zeros_like(c), where=c > 0)
    norm = c.max(axis=0)
    ninv = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
    tol = c * 1e-9
    sx, sy = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    free = c.copy()
    used = np.zeros(c.shape[0], dtype=bool)
    out = np.full(d.shape[0], -1, dtype=np.int64)
    for t in range(d.shape[0]):
        dt = d[t]
        ok = _schedule_ref.feasible(free, tol, dt)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            continue
        s = _schedule_ref.scores(free[idx], c[idx], inv[idx], dt, norm, weights, sx, sy, 0, t,
                                 idx)
        if "used" in terms:
            s = s + terms["used"] * used[idx]
        if "block" in terms:
            blk = (free * ninv).min(axis=1)
            after = ((free[idx] - dt) * ninv).min(axis=1)
            order = np.argsort(-blk, kind="stable")
            first, second = order[0], (order[1] if blk.size > 1 else order[0])
            others = np.where(idx == first, blk[second] if blk.size > 1 else -np.inf,
                              blk[first])
            s = s + terms["block"] * np.maximum(after, others)
        if "bfdom" in terms:
            share = dt * ninv
            r = int(np.argmax(share))
            s = s - terms["bfdom"] * (free[idx, r] - dt[r]) * ninv[r]
        if "fill" in terms:
            u = (c[idx] - free[idx] + dt) * inv[idx]
            u = np.where(c[idx] > 0, u, np.inf)
            s = s + terms["fill"] * u.min(axis=1)
        if "dba" in terms:
            s = s + terms["dba"] * (_std_util(c[idx], free[idx]) - _std_util(c[idx],
                                                                              free[idx] - dt))
        if "cv" in terms:  # balance relative to the node's fill: a scale-free BalancedAllocation
            ci, fa = c[idx], free[idx] - dt
            has = ci > 0
            u = np.divide(ci - fa, ci, out=np.zeros_like(ci), where=has)
            mean = u.sum(axis=1) / has.sum(axis=1)
            s = s - terms["cv"] * _std_util(ci, fa) / np.maximum(mean, 1e-12)
        for g in ("grow15", "grow2", "grow3"):
            if g in terms:
                big = dt * {"grow15": 1.5, "grow2": 2.0, "grow3": 3.0}[g]
                s = s - terms[g] * (_copies(free[idx], big) - _copies(free[idx] - dt, big))
        j = int(idx[int(np.argmax(s))])
        out[t] = j
        free[j] -= dt
        used[j] = True
    return out


def run(spec: str, d: np.ndarray, c: np.ndarray, seed: int) -> np.ndarray:
    if spec == "batch":
        return place_batch(d, c, mode="batch", time_budget_s=0.5, seed=seed)
    if spec in NAMED:
        return place_batch(d, c, policy=spec)
    if spec in ("strand", "auto"):
        return place_batch(d, c, admission=spec)
    terms = parse(spec)
    if all(k in SHORT for k in terms):
        pol = Policy(spec, {SHORT[k]: w for k, w in terms.items()})
        return place_batch(d, c, policy=pol)
    return _scored(d, c, terms)


def _read(path: str) -> dict[tuple, dict[str, float]]:
    out: dict[tuple, dict[str, float]] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                out.setdefault((r["family"], r["load"], r["seed"]), {})[r["cand"]] = r["util"]
    return out


def report(recs: dict[tuple, dict[str, float]], cands: list[str], keys: set, *,
           cells_out: bool = False, by_order: bool = False,
           base: str = "balanced_allocation") -> str:
    cells: dict[tuple[str, float], list[dict[str, float]]] = {}
    for key in sorted(keys):
        u = recs[key]
        best = max(u.values())
        cells.setdefault(key[:2], []).append({k: 1 - v / best for k, v in u.items()})
    b = np.array([np.mean([g[base] for g in v]) for v in cells.values()])
    lines = [f"{len(cells)} cells; mean gap to the best known (batch and every candidate run), "
             f"against {base}", "| candidate | mean gap | x BA | worst cell | "
             "cells > 0.2 point worse | cells > 0.2 point better |",
             "|---|---:|---:|---:|---:|---:|"]
    for cand in cands:
        m = np.array([np.mean([g[cand] for g in v]) for v in cells.values()])
        diff = 100 * (m - b)
        worst = list(cells)[int(np.argmax(diff))]
        lines.append(f"| {cand} | {100 * m.mean():.2f}% | {m.mean() / b.mean():.3f}x | "
                     f"{diff.max():+.2f} ({worst[0]} {worst[1]}) | "
                     f"{int((diff > 0.2).sum())} of {diff.size} | {int((diff < -0.2).sum())} |")
        if by_order:
            for grp in ("random", "bursts", "sorted_desc", "sorted_asc", "accel10", "small40",
                        "homog10", "edge10"):
                sel = np.array([grp in name.split("/") for name, _ in cells])
                if sel.any():
                    lines.append(f"|   {grp} | {100 * m[sel].mean():.2f}% | "
                                 f"{m[sel].mean() / b[sel].mean():.3f}x | "
                                 f"{diff[sel].max():+.2f} | {int((diff[sel] > 0.2).sum())} of "
                                 f"{int(sel.sum())} | |")
        if cells_out:
            for (name, load), x in zip(cells, diff, strict=True):
                if abs(x) > 0.2:
                    lines.append(f"|   {name} {load} | | | {x:+.2f} | | |")
    return "\n".join(lines)


def _cell_gaps(recs: dict[tuple, dict[str, float]], cands: list[str]
               ) -> dict[tuple[str, float], dict[str, float]]:
    cells: dict[tuple[str, float], dict[str, list[float]]] = {}
    for key, u in recs.items():
        best = max(u.values())
        for cand in cands:
            if cand in u:
                cells.setdefault(key[:2], {}).setdefault(cand, []).append(1 - u[cand] / best)
    return {k: {c: float(np.mean(v)) for c, v in d.items()} for k, d in cells.items()}


def selector(choose: dict[tuple, dict[str, float]], judge: dict[tuple, dict[str, float]],
             cands: list[str], base: str = "balanced_allocation") -> str:
    """The best a per-family selector among ``cands`` can do: per cell, the candidate of the
    smallest mean gap on the instances of ``choose`` (other seeds), measured on those of
    ``judge``; and the in-sample oracle (chosen on ``judge`` itself: optimistic)."""
    ga, gb = _cell_gaps(choose, cands), _cell_gaps(judge, cands)
    cells = [k for k in gb if k in ga and all(c in ga[k] and c in gb[k] for c in cands)]
    pick = np.array([gb[k][min(cands, key=lambda c: ga[k][c])] for k in cells])
    orc = np.array([min(gb[k][c] for c in cands) for k in cells])
    b = np.array([gb[k][base] for k in cells])
    worse = int((100 * (pick - b) > 0.2).sum())
    return (f"per-family selector over {len(cands)} candidates, {len(cells)} cells: chosen on "
            f"other seeds {pick.mean() / b.mean():.3f}x {base} ({worse}"
            f" cells > 0.2 point worse, worst {100 * (pick - b).max():+.2f}); chosen in sample "
            f"(an oracle) {orc.mean() / b.mean():.3f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="tuning")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--loads", default="1.0,1.5")
    ap.add_argument("--candidates", required=True)
    ap.add_argument("--records", required=True, help="JSON lines of utilizations (reused)")
    ap.add_argument("--cells", action="store_true", help="list the cells > 0.2 point apart")
    ap.add_argument("--by-order", action="store_true", help="sub-means per order / cluster")
    ap.add_argument("--select-from", default=None,
                    help="records of other seeds: also report a per-family selector among "
                         "the candidates, chosen on them and judged on these")
    a = ap.parse_args(argv)
    seeds = seed_list(ap, a.set, a.seeds, a.first_seed, strict=True)
    cands = a.candidates.split(",")
    want = ["batch", "balanced_allocation", *[x for x in cands if x != "balanced_allocation"]]
    recs = _read(a.records)
    keys = set()
    with open(a.records, "a", encoding="utf-8") as f:
        for fam in family_set(a.set):
            for load in (float(x) for x in a.loads.split(",")):
                for s in seeds:
                    key = (fam.name, load, s)
                    keys.add(key)
                    have = recs.setdefault(key, {})
                    todo = [x for x in want if x not in have]
                    if not todo:
                        continue
                    d, c = family_instance(fam, load, s)
                    for cand in todo:
                        have[cand] = utilization(run(cand, d, c, s), d, c)
                        f.write(json.dumps({"family": fam.name, "load": load, "seed": s,
                                            "cand": cand, "util": have[cand]}) + "\n")
            f.flush()
            print(fam.name, file=sys.stderr, flush=True)
    print(report(recs, ["balanced_allocation", *[x for x in cands
                                                  if x != "balanced_allocation"]], keys,
                 cells_out=a.cells, by_order=a.by_order))
    if a.select_from:
        pool = ["balanced_allocation", *[x for x in cands if x != "balanced_allocation"]]
        judge = {k: v for k, v in recs.items() if k in keys}
        print(selector(_read(a.select_from), judge, pool))
        print(selector(_read(a.select_from), judge,
                       [x for x in pool if x not in ("strand", "auto")]) + " (no admission)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
