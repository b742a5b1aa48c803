"""Issue #17: can an online signal tell when the plan's stages or the strand test help?

Runs the default's online loop (``edgekit.schedule.batch.planned_online``: BalancedAllocation,
the plan's stages, the strand test) with each stage *armed* by a gate: once the stream has
asked for more than the whole cluster (the default's gate, ``offered > 1``) or once a
signal computed from the stream seen so far crosses a threshold; once armed, a stage stays
armed.  Prints, per variant, the mean gap to the best known placement over the (family,
load) cells against BalancedAllocation alone: the table of docs/schedule.md ("Signals
tried for a default that wins").

Usage: PYTHONPATH=. python tools/schedule_signals.py [--set tuning|held-out] [--seeds 2]
[--first-seed 20] [--variants PLAN/STRAND,...] [--records FILE] [--best FILE]

A variant is ``PLAN/STRAND``, each a gate: ``off`` (never), ``on`` (from the warm-up),
``base`` (offered > 1: the default's plan gate, ``admission="auto"``'s strand gate), or
``base`` OR a signal: ``fillX`` (the cluster's fullest resource at least X full), ``skX``
(mean skew of the tasks seen >= X, the plan's skew), ``hetX`` (value-weighted standard
deviation of log(GiB per core, cluster units) over the plan's classes >= X), ``offX``
(offered > X), ``refN`` (N tasks refused: no node could hold them), ``clsN`` (at most N
classes seen: a catalogue).  ``base/off`` is the default, ``off/off`` BalancedAllocation
alone, ``on/off`` ``policy="planned"``, ``base/on`` ``admission="strand"``.
``--best``: the ``--json`` records of tools/schedule_families.py on the same instances,
whose best known placement (batch mode, MILP) is the yardstick; without it, the best of
the variants run.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from schedule_families import family_set, seed_list

from edgekit.schedule import Admission, Plan, _kernel, _schedule_ref, utilization
from edgekit.schedule.batch import _values
from edgekit.schedule.families import family_instance
from edgekit.schedule.plan import PlanState
from edgekit.schedule.policy import get_policy


def _het(st: PlanState) -> float:
    if st.mass.size == 0 or not st.mass.sum() > 0:
        return 0.0
    r = np.log(np.maximum(st.dem[:, 1], 1e-12) / np.maximum(st.dem[:, 0], 1e-12))
    w = st.mass / st.mass.sum()
    mu = float((w * r).sum())
    return float(np.sqrt((w * (r - mu) ** 2).sum()))


def _signal(g: str, st: PlanState, free: np.ndarray, refused: int) -> bool:
    if st.seen <= st.plan.warmup:
        return False
    for pre, f in (("fill", lambda x: st._fill(free, None) >= x),
                   ("sk", lambda x: st.skew_sum / max(st.seen - 1, 1) >= x),
                   ("het", lambda x: _het(st) >= x),
                   ("off", lambda x: st.offered > x),
                   ("ref", lambda x: refused >= x),
                   ("cls", lambda x: len(st.keys) <= x)):
        if g.startswith(pre) and g != "off":
            return bool(f(float(g[len(pre):])))
    raise ValueError(f"unknown gate {g!r}")


def run(variant: str, d: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Online placement of ``d`` on ``c`` (arrival order) under ``variant``.  The loop is
    ``edgekit.schedule.batch.planned_online``'s with a gate on each stage, kept beside it
    on purpose (the library loop takes no gates); tests/schedule/test_signals_tool.py
    checks the two place alike."""
    gates = variant.split("/")
    prep = _kernel.Prepared.make(c, get_policy("balanced_allocation"))
    values = _values(d, c)
    free = c.copy()
    out = np.full(d.shape[0], -1, dtype=np.int64)
    st = PlanState(c, Plan())
    judge = _kernel.admit_state(c, Admission())
    armed = [g == "on" for g in gates]
    refused = 0
    for t in range(d.shape[0]):
        dt = d[t]
        k = st.observe(dt, free)
        judge.observe(dt)
        for i, g in enumerate(gates):
            if not armed[i] and g not in ("off", "on"):
                armed[i] = st.offered > 1.0 or (g != "base" and _signal(g, st, free, refused))
        ok = _schedule_ref.feasible(free, prep.tol, dt)
        if not ok.any():
            refused += 1
            continue
        pref = st.route(k, ok, free) if armed[0] else None
        j, _ = _kernel.select(prep, free, dt, t, (ok if pref is None else pref).view(np.uint8))
        if armed[1]:
            j, _ = judge.decide(free, c, prep.inv, prep.tol, dt, float(values[t]), j, ok)
            if j < 0:
                continue
        st.commit(k, j, dt)
        out[t] = j
        free[j] = free[j] - dt
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="tuning")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=20)
    ap.add_argument("--variants", default="off/off,base/off,on/off,fill0.9/off,sk0.3/off,"
                    "het1.6/off,base/on,base/fill0.8,base/sk0.25,base/sk0.3")
    ap.add_argument("--records", default=None, help="append per-instance records here")
    ap.add_argument("--best", default=None)
    a = ap.parse_args(argv)
    seeds = seed_list(ap, a.set, a.seeds, a.first_seed, strict=True)
    variants = a.variants.split(",")
    if "off/off" not in variants:
        variants.insert(0, "off/off")
    best = {}
    if a.best:
        with open(a.best, encoding="utf-8") as f:
            best = {(r["family"], r["load"], r["seed"]): r["best"] for r in json.load(f)}
    cells: dict[tuple[str, float], list[dict]] = {}
    for fam in family_set(a.set):
        for load in (1.0, 1.5):
            for s in seeds:
                d, c = family_instance(fam, load, s)
                u = {v: utilization(run(v, d, c), d, c) for v in variants}
                b = max([best.get((fam.name, load, s), 0.0), *u.values()])
                cells.setdefault((fam.name, load), []).append({v: 1 - x / b for v, x in u.items()})
                if a.records:
                    with open(a.records, "a", encoding="utf-8") as f:
                        f.write(json.dumps({"family": fam.name, "load": load, "seed": s,
                                            "util": u, "best": b}) + "\n")
        print(fam.name, file=sys.stderr, flush=True)
    base = np.array([np.mean([g["off/off"] for g in v]) for v in cells.values()])
    print(f"{len(cells)} cells x {len(seeds)} seeds; gap to best known, against "
          "BalancedAllocation alone (off/off)")
    print("| variant (plan/strand gate) | mean gap | x BalancedAllocation | worst cell | "
          "cells > 0.2 point worse |\n|---|---:|---:|---:|---:|")
    for v in variants:
        m = np.array([np.mean([g[v] for g in r]) for r in cells.values()])
        diff = 100 * (m - base)
        print(f"| {v} | {100 * m.mean():.2f}% | {m.mean() / base.mean():.2f}x | "
              f"{diff.max():+.2f} | {int((diff > 0.2).sum())} of {diff.size} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
