"""Issue #17: can an online signal tell when the plan's stages or the strand test help?

Runs the default's online loop (``edgekit.schedule.batch.planned_online``: BalancedAllocation,
the plan's stages, the strand test) with each stage *armed* by a gate: once the stream has
asked for more than the whole cluster (the default's gate, ``offered > 1``) or once a
signal computed from the stream seen so far crosses a threshold; once armed, a stage stays
armed.  Prints, per variant, the mean gap to the best known placement over the (family,
load) cells against BalancedAllocation alone: the table of docs/schedule.md ("Signals
tried for a default that wins").

Usage: PYTHONPATH=. python tools/schedule_signals.py [--set tuning|held-out|NAMES] [--seeds 2]
[--first-seed 20] [--variants PLAN/STRAND[/SWITCH],...] [--records FILE] [--best FILES]
[--order-min 20] [--window 0] [--by order,cluster,demand] [--from-records FILES]

A variant is ``PLAN/STRAND``, each a gate: ``off`` (never), ``on`` (from the warm-up),
``base`` (offered > 1: the default's plan gate, ``admission="auto"``'s strand gate), or
``base`` OR a signal: ``fillX`` (the cluster's fullest resource at least X full), ``skX``
(mean skew of the tasks seen >= X, the plan's skew), ``hetX`` (value-weighted standard
deviation of log(GiB per core, cluster units) over the plan's classes >= X), ``offX``
(offered > X), ``refN`` (N tasks refused: no node could hold them), ``clsN`` (at most N
classes seen: a catalogue).  ``base/off`` is the default, ``off/off`` BalancedAllocation
alone, ``on/off`` ``policy="planned"``, ``base/on`` ``admission="strand"``.
Signals of the stream's *order* (issue #17's last search; :class:`_Order`): ``ascX`` (the
trend, a rank correlation of task value with arrival index, >= X), ``descX`` (trend <= -X),
``runsX`` (consecutive tasks of one kind, beyond random order, >= X), each judged once
``--order-min`` tasks are seen; they gate PLAN and STRAND like the others, and the third
field, SWITCH, arms a *scorer* in place of BalancedAllocation: ``asc0.5:ma`` (MostAllocated
once the trend reaches 0.5), several joined by ``+`` (the first to arm wins, latched), a
scorer written in tools/schedule_scorers.py's short names joined by ``&`` (``ba&0.1ma``),
``U`` / ``U&SCORER``: the scorer among the nodes already in use while one fits (an empty
node is opened only when no used one fits).

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
from schedule_scorers import SHORT, parse

from edgekit.schedule import Admission, Plan, Policy, _kernel, _schedule_ref, utilization
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


def _signal(g: str, st: PlanState, free: np.ndarray, refused: int, ords: _Order,
            order_min: int) -> bool:
    if g.startswith(("asc", "desc", "runs")):
        if ords.n < order_min:
            return False
        if g.startswith("runs"):
            return ords.runs() >= float(g[4:])
        return ords.trend() >= float(g[3:]) if g.startswith("asc") \
            else ords.trend() <= -float(g[4:])
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


class _Order:
    """Signals of the stream's *order* (observable online, from the tasks seen so far).

    ``trend``: Goodman-Kruskal gamma of task value (share of the cluster) against arrival
    index, ``(C - D) / (C + D)`` over the pairs of tasks seen (``C``: later task larger,
    ``D``: later task smaller, ties left out): +1 on a stream sorted ascending, -1 sorted
    descending, near 0 on an exchangeable (random-order) stream.  ``runs``: the share of
    consecutive tasks of the same kind (memory-heavy or cpu-heavy against the cluster's
    GiB per core) minus the share expected in random order, ``p^2 + (1 - p)^2``: near 0 on
    an exchangeable stream, near 0.5 on runs of one kind."""

    def __init__(self, c: np.ndarray, window: int = 0) -> None:
        tot = c.sum(axis=0)
        self.ratio = float(tot[1] / tot[0]) if tot.size > 1 and tot[0] > 0 else 1.0
        self.window = window
        self.vals: list[float] = []
        self.conc = 0
        self.disc = 0
        self.kinds: list[bool] = []
        self.same = 0

    def observe(self, v: float, dt: np.ndarray) -> None:
        prev = np.asarray(self.vals[-self.window:] if self.window else self.vals)
        if self.window and len(self.vals) >= self.window:
            old = self.vals[-self.window]
            rest = np.asarray(self.vals[-self.window + 1:])
            self.conc -= int((rest > old).sum())
            self.disc -= int((rest < old).sum())
            prev = rest
        self.conc += int((prev < v).sum())
        self.disc += int((prev > v).sum())
        self.vals.append(v)
        kind = bool(dt.size > 1 and dt[1] > self.ratio * dt[0])
        if self.kinds and self.kinds[-1] == kind:
            self.same += 1
        self.kinds.append(kind)

    @property
    def n(self) -> int:
        return len(self.vals)

    def trend(self) -> float:
        tot = self.conc + self.disc
        return (self.conc - self.disc) / tot if tot else 0.0

    def runs(self) -> float:
        n = len(self.kinds)
        if n < 2:
            return 0.0
        p = sum(self.kinds) / n
        return self.same / (n - 1) - (p * p + (1 - p) * (1 - p))


def _scorer(spec: str) -> dict[str, float]:
    """``ba&0.5ma`` -> {"balanced_allocation": 1.0, "most_allocated": 0.5}: kernel scorers
    only, in tools/schedule_scorers.py's short names."""
    terms = parse(spec.replace("&", "+"))
    if any(k not in SHORT for k in terms):
        raise ValueError(f"only kernel scorers can be switched to, got {spec!r}")
    return {SHORT[k]: w for k, w in terms.items()}


def _switches(spec: str, c: np.ndarray) -> list[tuple[str, float, _kernel.Prepared, bool]]:
    """``asc0.5:ma+desc0.5:bf`` -> [(signal, threshold, prepared scorer, used first), ...]:
    the first armed switch (latched) picks the scorer.  Signals: ``asc`` (trend >= X),
    ``desc`` (trend <= -X), ``runs`` (runs >= X).  A scorer written ``U`` or ``U&...``
    (BalancedAllocation when nothing follows) chooses among the nodes that already hold a
    task whenever one of them fits: an empty node is opened only when no used one fits."""
    out = []
    for part in spec.split("+"):
        gate, _, pol = part.partition(":")
        used = pol == "U" or pol.startswith("U&")
        pol = (pol[2:] or "ba") if used else pol
        pol = pol or "ba"
        for pre in ("asc", "desc", "runs"):
            if gate.startswith(pre):
                prep = _kernel.Prepared.make(c, Policy(pol, _scorer(pol)))
                out.append((pre, float(gate[len(pre):]), prep, used))
                break
        else:
            raise ValueError(f"unknown switch {part!r}")
    return out


def run(variant: str, d: np.ndarray, c: np.ndarray, *, order_min: int = 20,
        window: int = 0) -> np.ndarray:
    """Online placement of ``d`` on ``c`` (arrival order) under ``variant``.  The loop is
    ``edgekit.schedule.batch.planned_online``'s with a gate on each stage, kept beside it
    on purpose (the library loop takes no gates); tests/schedule/test_signals_tool.py
    checks the two place alike."""
    gates = variant.split("/")
    sw = _switches(gates[2], c) if len(gates) > 2 and gates[2] != "off" else []
    gates = gates[:2]
    ords = _Order(c, window)
    chosen = None
    used_first = False
    prep0 = prep = _kernel.Prepared.make(c, get_policy("balanced_allocation"))
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
        ords.observe(float(values[t]), dt)
        if sw:
            if chosen is None and ords.n >= order_min:
                for sig, x, p, uf in sw:
                    tr = ords.trend()
                    if (sig == "asc" and tr >= x) or (sig == "desc" and tr <= -x) \
                            or (sig == "runs" and ords.runs() >= x):
                        chosen, used_first = p, uf
                        break
            prep = prep0 if chosen is None else chosen
        for i, g in enumerate(gates):
            if not armed[i] and g not in ("off", "on"):
                armed[i] = st.offered > 1.0 or (
                    g != "base" and _signal(g, st, free, refused, ords, order_min))
        ok = _schedule_ref.feasible(free, prep.tol, dt)
        if not ok.any():
            refused += 1
            continue
        pref = st.route(k, ok, free) if armed[0] else None
        if used_first:
            cand = ok if pref is None else pref
            inuse = cand & (free != c).any(axis=1)
            if inuse.any():
                pref = inuse
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
    ap.add_argument("--best", default=None, help="records with a 'best' field: a JSON list or "
                    "JSON lines; several files comma-separated (the largest best is kept)")
    ap.add_argument("--order-min", type=int, default=20,
                    help="tasks seen before an order switch may arm")
    ap.add_argument("--window", type=int, default=0,
                    help="the trend over the last N tasks (0: all seen)")
    ap.add_argument("--by", default="", help="also the tables per 'order', 'cluster' or "
                    "'demand' of the families (comma-separated)")
    ap.add_argument("--from-records", default=None, help="no run: the tables of these "
                    "--records files (comma-separated; every instance and variant they hold)")
    a = ap.parse_args(argv)
    variants = a.variants.split(",")
    if "off/off" not in variants:
        variants.insert(0, "off/off")
    best: dict[tuple[str, float, int], float] = {}
    for path in (a.best.split(",") if a.best else []):
        for r in _records(path):
            key = (r["family"], r["load"], r["seed"])
            best[key] = max(best.get(key, 0.0), r["best"])
    cells: dict[tuple[str, float], list[dict]] = {}
    if a.from_records:
        recs = [r for p in a.from_records.split(",") for r in _records(p)]
        variants = [v for v in recs[0]["util"] if all(v in r["util"] for r in recs)]
        for r in recs:
            b = max([best.get((r["family"], r["load"], r["seed"]), 0.0), r["best"]])
            cells.setdefault((r["family"], r["load"]), []).append(
                {v: 1 - r["util"][v] / b for v in variants})
        seeds = sorted({r["seed"] for r in recs})
    else:
        seeds = seed_list(ap, a.set, a.seeds, a.first_seed, strict=True)
    for fam in family_set(a.set) if not a.from_records else []:
        for load in (1.0, 1.5):
            for s in seeds:
                d, c = family_instance(fam, load, s)
                u = {v: utilization(run(v, d, c, order_min=a.order_min, window=a.window), d, c)
                     for v in variants}
                b = max([best.get((fam.name, load, s), 0.0), *u.values()])
                cells.setdefault((fam.name, load), []).append({v: 1 - x / b for v, x in u.items()})
                if a.records:
                    with open(a.records, "a", encoding="utf-8") as f:
                        f.write(json.dumps({"family": fam.name, "load": load, "seed": s,
                                            "util": u, "best": b}) + "\n")
        print(fam.name, file=sys.stderr, flush=True)
    print(f"{len(cells)} cells x {len(seeds)} seeds; gap to best known, against "
          "BalancedAllocation alone (off/off)")
    _table(cells, variants)
    for by in filter(None, a.by.split(",")):
        i = ("demand", "order", "cluster").index(by)
        for o in sorted({k[0].split("/")[i] for k in cells}):
            print(f"\n{by} {o}:")
            _table({k: v for k, v in cells.items() if k[0].split("/")[i] == o}, variants)
    return 0


def _records(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _table(cells: dict[tuple[str, float], list[dict]], variants: list[str]) -> None:
    base = np.array([np.mean([g["off/off"] for g in v]) for v in cells.values()])
    print("| variant (plan/strand[/switch] gate) | mean gap | x BalancedAllocation | worst cell "
          "| cells > 0.2 point worse |\n|---|---:|---:|---:|---:|")
    for v in variants:
        m = np.array([np.mean([g[v] for g in r]) for r in cells.values()])
        diff = 100 * (m - base)
        print(f"| {v} | {100 * m.mean():.2f}% | {m.mean() / base.mean():.3f}x | "
              f"{diff.max():+.2f} | {int((diff > 0.2).sum())} of {diff.size} |")


if __name__ == "__main__":
    raise SystemExit(main())
