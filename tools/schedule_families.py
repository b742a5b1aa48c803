"""The held-out family table of docs/schedule.md (issue #17): the online default against
Kubernetes BalancedAllocation alone, ``admission="strand"`` and ``admission="auto"``, and
batch mode, as gaps to the best known placement and to the MILP's bound, per family and load.

Usage: python tools/schedule_families.py [--set held-out|tuning|seen|NAME,...]
[--loads 1.0,1.5] [--seeds 20] [--first-seed S] [--milp-s 4] [--batch-s 0.5]
[--milp-cache FILE] [--runs default,balanced_allocation,strand,auto,planned,batch]
[--json FILE]
[--out FILE]

``--set held-out`` (the default) is :data:`edgekit.schedule.families.HELD_OUT` on
:data:`~edgekit.schedule.families.HELD_OUT_SEEDS` (``--first-seed`` is then ignored);
``tuning`` is every other 10-node-scale family (seeds from ``--first-seed``, default 0:
keep them below 1000); ``seen`` is edgekit's own three workloads on ``edge10``.

Gap to best known = 1 - u / best, best = the largest utilization of any run and the MILP's
placement (the true gap is at least this); gap to bound = 1 - u / bound (at most this), the
bound being the smaller of the MILP's (time-limited) bound and the LP relaxation's (solved
to the end; see tools/schedule_large.py): on 40 nodes a few seconds of MILP prove little.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from _schedule_io import emit, load_cache
from schedule_large import lp_bound

from edgekit.schedule import optimal_placement, place_batch, utilization
from edgekit.schedule.families import (
    DEMANDS,
    HELD_OUT,
    HELD_OUT_SEEDS,
    ORDERS,
    SEEN,
    Family,
    family_instance,
)

RUNS = {
    "default": lambda d, c, s: place_batch(d, c),
    "balanced_allocation": lambda d, c, s: place_batch(d, c, policy="balanced_allocation"),
    "strand": lambda d, c, s: place_batch(d, c, admission="strand"),
    "auto": lambda d, c, s: place_batch(d, c, admission="auto"),
    "planned": lambda d, c, s: place_batch(d, c, policy="planned"),
}
SMALL_CLUSTERS = ("edge10", "homog10", "small40", "accel10")


def family_set(spec: str) -> list[Family]:
    if spec == "held-out":
        return list(HELD_OUT)
    if spec == "seen":
        return list(SEEN)
    if spec == "tuning":
        held = set(HELD_OUT)
        return [Family(dm, o, c) for dm in DEMANDS if not dm.startswith("ek_") for o in ORDERS
                for c in SMALL_CLUSTERS if Family(dm, o, c) not in held]
    return [Family(*name.split("/")) for name in spec.split(",")]


def seed_list(ap: argparse.ArgumentParser, spec: str, n: int, first: int, *,
              strict: bool = False) -> list[int]:
    """The seeds a tool runs ``spec`` on: the first ``n`` held-out seeds for the held-out
    set, else ``first .. first + n - 1``, refused (``ap.error``) where they reach the
    held-out seeds on the tuning set (with ``strict``, on every set but the held-out one)."""
    if spec == "held-out":
        return list(HELD_OUT_SEEDS[:n])
    seeds = list(range(first, first + n))
    if (strict or spec == "tuning") and max(seeds) >= HELD_OUT_SEEDS[0]:
        ap.error("tuning seeds must stay below the held-out seeds")
    return seeds


def _load_cache(path: str | None) -> dict:
    return load_cache(path, ("family", "load", "seed", "milp_s"))


def milp(cache: dict, path: str | None, fam: Family, load: float, seed: int, d: np.ndarray,
         c: np.ndarray, milp_s: float) -> tuple[float, float]:
    """(objective, bound) of the MILP, from the cache or solved (and appended to it)."""
    key = (fam.name, load, seed, milp_s)
    if key not in cache:
        r = optimal_placement(d, c, time_limit_s=milp_s, mip_rel_gap=1e-4)
        cache[key] = {"family": fam.name, "load": load, "seed": seed, "milp_s": milp_s,
                      "objective": r.objective, "bound": r.bound, "optimal": bool(r.optimal),
                      "seconds": r.seconds}
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(cache[key]) + "\n")
    r = cache[key]
    return r["objective"], r["bound"]


def evaluate(families: list[Family], loads: list[float], seeds: list[int], runs: list[str],
             milp_s: float, batch_s: float, cache: dict, cache_path: str | None,
             log=sys.stderr) -> list[dict]:
    """One record per (family, load, seed): utilization of every run, MILP objective and
    bound, best known."""
    out = []
    t0 = time.time()
    for fam in families:
        for load in loads:
            for seed in seeds:
                d, c = family_instance(fam, load, seed)
                util = {}
                for name in runs:
                    if name == "batch":
                        a = place_batch(d, c, mode="batch", time_budget_s=batch_s, seed=seed)
                    else:
                        a = RUNS[name](d, c, seed)
                    util[name] = utilization(a, d, c)
                obj, bound = (float("nan"), float("nan"))
                if milp_s > 0:
                    obj, bound = milp(cache, cache_path, fam, load, seed, d, c, milp_s)
                    if runs:
                        bound = min(bound, lp_bound(d, c))
                best = max([v for v in util.values()] + ([obj] if milp_s > 0 else []))
                out.append({"family": fam.name, "load": load, "seed": seed, "util": util,
                            "milp": obj, "bound": bound, "best": best, "tasks": len(d)})
            print(f"{fam.name} {load}: {time.time() - t0:.0f} s", file=log, flush=True)
    return out


def table(records: list[dict], runs: list[str], baseline: str = "balanced_allocation"
          ) -> str:
    """Markdown: mean gap to best known (and to the MILP bound) per family and load."""
    cells: dict[tuple[str, float], list[dict]] = {}
    for r in records:
        cells.setdefault((r["family"], r["load"]), []).append(r)
    head = "| family | load | " + " | ".join(runs) + " |"
    lines = [head, "|---|---|" + "---:|" * len(runs)]
    means = {k: [] for k in runs}
    bmeans = {k: [] for k in runs}
    for (fam, load), rs in cells.items():
        row = []
        for k in runs:
            g = np.mean([1 - r["util"][k] / r["best"] for r in rs])
            gb = np.mean([1 - r["util"][k] / r["bound"] for r in rs]) \
                if np.isfinite(rs[0]["bound"]) else float("nan")
            means[k].append(g)
            bmeans[k].append(gb)
            row.append(f"{100 * g:.2f}% ({100 * gb:.2f}%)")
        lines.append(f"| {fam} | {load} | " + " | ".join(row) + " |")
    lines.append("| **mean over cells** | | " + " | ".join(
        f"**{100 * np.mean(means[k]):.2f}%** ({100 * np.nanmean(bmeans[k]):.2f}%)"
        for k in runs) + " |")
    notes = []
    if baseline in runs:
        base = np.array(means[baseline])
        for k in runs:
            if k == baseline:
                continue
            diff = 100 * (np.array(means[k]) - base)
            notes.append(f"- {k}: worst cell {diff.max():+.2f} points against {baseline}, "
                         f"{int((diff > 0.2).sum())} of {diff.size} cells more than 0.2 "
                         f"points worse; mean over cells {np.mean(means[k]) / base.mean():.2f}"
                         f"x {baseline}'s")
    n = len(next(iter(cells.values()))) if cells else 0
    return "\n".join(lines) + f"\n\nCells: mean gap to the best known placement over {n} " \
        "seeds (in brackets: to the bound, the smaller of the MILP's and the LP " \
        "relaxation's).\n" + "\n".join(notes) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="held-out")
    ap.add_argument("--loads", default="1.0,1.5")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--milp-s", type=float, default=4.0)
    ap.add_argument("--batch-s", type=float, default=0.5)
    ap.add_argument("--milp-cache", default=None)
    ap.add_argument("--runs", default="default,balanced_allocation,strand,auto,planned,batch")
    ap.add_argument("--json", default=None, help="write the per-instance records here")
    ap.add_argument("--out", default="-")
    ap.add_argument("--milp-only", action="store_true", help="only fill --milp-cache")
    args = ap.parse_args(argv)
    fams = family_set(args.set)
    seeds = seed_list(ap, args.set, args.seeds, args.first_seed)
    runs = [] if args.milp_only else args.runs.split(",")
    recs = evaluate(fams, [float(x) for x in args.loads.split(",")], seeds, runs,
                    args.milp_s, args.batch_s, _load_cache(args.milp_cache), args.milp_cache)
    if args.milp_only:
        return 0
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(recs, f)
    text = table(recs, runs)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
