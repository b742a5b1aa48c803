"""The market study of issue #20: per size, for every mechanism, on the HELD-OUT seeds.

For each size (small 5x30, medium 20x200, large 100x2000) and each market of
``edgekit.market.generate.HELD_OUT_SEEDS[:markets]``: the welfare optimum (MILP, time
limit, LP bound), each mechanism's truthful clearing (welfare % of the best allocation
found and of the proven bound, deficit, IR/capacity/eligibility violations, clearing time:
median thread time of ``compile_market`` + the mechanism, one core) and truthfulness probes
(application and node misreports, ``edgekit.market.probes``).

    python tools/market_study.py --quick                  # a minute: a smoke run
    python tools/market_study.py --sizes small medium --json out/sm.json
    python tools/market_study.py --sizes large --json out/l.json
    python tools/market_study.py --merge out/sm.json out/l.json --write

``--optima out/sm.json out/l.json`` reuses the optimum of an earlier run of the same markets
(its totals: best welfare and bound) instead of solving the MILP again.

``--write`` puts the table into docs/market_measured.md (replacing what is there).  Probe
counts: ``--app-probes`` / ``--node-probes`` per size for the default mechanism (or those
named by ``--focus``),
``--other-app-probes`` / ``--other-node-probes`` for the others (VCG: small only, its own
sample), spread evenly over the markets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.market._arrays import compile_market  # noqa: E402
from edgekit.market.clear import DEFAULT_MECHANISM, MECHANISMS  # noqa: E402
from edgekit.market.generate import (  # noqa: E402
    HELD_OUT_SEEDS,
    SIZES,
    TUNING_SEEDS,
    sized_market,
)
from edgekit.market.optimum import optimal_welfare  # noqa: E402
from edgekit.market.probes import check_clearing, get_mechanism, probe  # noqa: E402

OUT = ROOT / "docs" / "market_measured.md"
# seconds for the optimum of one market, per size
OPT_LIMIT = {"small": 10.0, "medium": 5.0, "large": 8.0}
# VCG needs one MILP per trader: small markets only
VCG_SIZES = ("small",)
# pay-your-bid solves the welfare MILP per clearing (0.1 s at small, ~1 s at medium, ~8 s
# at large): its own small sample, not run at large (its welfare there is the optimum's)
PYB_SIZES = ("small", "medium")


def _mechanisms(names: list[str] | None) -> list[str]:
    all_names = [DEFAULT_MECHANISM, *MECHANISMS, "pay-your-bid", "vcg"]
    return list(dict.fromkeys(names or all_names))  # in order, once each


def _saved_optimum(paths: list[Path] | None, size: str, n_markets: int, offset: int,
                   tuning: bool) -> dict | None:
    """The optimum of the same markets (size, count, offset, seed list) from a saved run
    (``--json`` of an earlier study), or None: totals only (best welfare, bound), the
    yardstick of every mechanism that runs on all the markets."""
    for p in paths or []:
        for r in json.loads(p.read_text())["results"]:
            if (r["size"], r["markets"], r.get("offset", 0), bool(r.get("tuning_seeds"))) != (
                    size, n_markets, offset, tuning):
                continue
            row = next((m for m in r["mechanisms"].values() if m["markets"] == n_markets),
                       None)
            if row is not None:
                return {"w_best": row["w_best"], "w_bound": row["w_bound"],
                        "gaps": r.get("gaps", []), "proven": r["proven_optimal"],
                        "max_gap": r["max_gap"], "mean_gap": r["mean_gap"],
                        "limit": r["optimum_limit_s"], "from": f"{p.name} ({r['size']})"}
    return None


class _Total:
    """Totals of a saved optimum, for ``sum(o.welfare ...)`` over all the markets."""

    def __init__(self, welfare: float, bound: float) -> None:
        self.welfare, self.bound = welfare, bound


def study_size(size: str, n_markets: int, mechanisms: list[str], args) -> dict:
    seeds = TUNING_SEEDS if args.tuning else HELD_OUT_SEEDS
    seeds = seeds[args.offset:args.offset + n_markets]
    markets = [sized_market(size, s) for s in seeds]
    t0 = time.perf_counter()
    saved = _saved_optimum(args.optima, size, n_markets, args.offset, args.tuning)
    if args.no_optimum:  # probes only: welfare % not computed (0), as for a zero optimum
        saved = {"w_best": 0.0, "w_bound": 0.0, "gaps": [], "proven": 0, "max_gap": 0.0,
                 "mean_gap": 0.0, "limit": 0.0, "from": "nowhere (--no-optimum)"}
    if saved is not None:
        # the totals stand for the first market, zeros for the others: sums over all the
        # markets are the saved totals (VCG, on a subset, needs its own optimum)
        optima = [_Total(saved["w_best"], saved["w_bound"])] + [_Total(0.0, 0.0)] * (
            n_markets - 1)
        print(f"{size}: optimum of {n_markets} markets from {saved['from']}", flush=True)
    else:
        optima = [optimal_welfare(m.asks, m.bids, time_limit_s=OPT_LIMIT[size])
                  for m in markets]
        print(f"{size}: {n_markets} optima in {time.perf_counter() - t0:.0f} s "
              f"(proven {sum(o.optimal for o in optima)}, max gap "
              f"{max(o.gap for o in optima):.4f})", flush=True)
    rows = {}
    for name in mechanisms:
        if (name == "vcg" and size not in VCG_SIZES) or (
                name == "pay-your-bid" and size not in PYB_SIZES):
            continue
        _, fn = get_mechanism(name)
        mk = markets[: args.vcg_markets] if name == "vcg" else markets
        if saved is not None and len(mk) != n_markets:
            raise SystemExit(f"{name}: a saved optimum covers all {n_markets} markets only")
        t0 = time.perf_counter()
        welfare = subsidy = 0.0
        deficits = violations = 0
        reasons: list[str] = []
        times = []
        for m in mk:
            t = time.thread_time()
            arr = compile_market(m.asks, m.bids)
            c = fn(arr)
            times.append(time.thread_time() - t)
            welfare += c.welfare
            bad = check_clearing(arr, c)
            if c.surplus < 0 and any(r.startswith("deficit") for r in bad):
                deficits += 1
                subsidy += -c.surplus
            bad = [r for r in bad if not r.startswith("deficit")]
            violations += bool(bad)
            reasons += bad[:1]
        default = name in (args.focus or [DEFAULT_MECHANISM])
        if name == "vcg":
            n_app, n_node = args.vcg_app_probes, args.vcg_node_probes
        elif name == "pay-your-bid":
            n_app, n_node = args.pyb_app_probes, args.pyb_node_probes
        else:
            n_app = args.app_probes if default else args.other_app_probes
            n_node = args.node_probes if default else args.other_node_probes
        per_app = -(-n_app // len(mk))
        per_node = -(-n_node // len(mk))
        res = probe(fn, mk, app_probes=per_app, node_probes=per_node, seed=args.seed)
        w_best = sum(o.welfare for o in optima[: len(mk)])
        w_bound = sum(o.bound for o in optima[: len(mk)])
        rows[name] = {
            "markets": len(mk), "welfare": welfare, "w_best": w_best, "w_bound": w_bound,
            "subsidy": subsidy, "times": times,
            "welfare_pct_best": 100 * welfare / w_best if w_best else 0.0,
            "welfare_pct_bound": 100 * welfare / w_bound if w_bound else 0.0,
            "deficits": deficits, "subsidy_pct": 100 * subsidy / w_best if w_best else 0.0,
            "violations": violations, "reasons": sorted(set(reasons))[:3],
            "app_probes": res.apps.probes, "app_profitable": res.apps.profitable,
            "app_max_gain": res.apps.max_gain, "app_worst": res.apps.worst,
            "node_probes": res.nodes.probes, "node_profitable": res.nodes.profitable,
            "node_max_gain": res.nodes.max_gain, "node_max_gain_rel": res.nodes.max_gain_rel,
            "node_worst": res.nodes.worst,
            "node_by_kind": {k: list(v) for k, v in res.nodes.by_kind.items()},
            "clear_ms_median": 1000 * statistics.median(times),
            "probe_deficits": res.deficits,
        }
        r = rows[name]
        print(f"  {size} {name}: welfare {r['welfare_pct_best']:.1f}% of best "
              f"({r['welfare_pct_bound']:.1f}% of bound), deficits {deficits}, violations "
              f"{violations}, apps {res.apps.profitable}/{res.apps.probes}, nodes "
              f"{res.nodes.profitable}/{res.nodes.probes} "
              f"(max gain {res.nodes.max_gain:.3g}), {r['clear_ms_median']:.1f} ms "
              f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    if saved is not None:
        return {"size": size, "markets": n_markets, "offset": args.offset,
                "gaps": saved["gaps"], "nodes_x_bids": list(SIZES[size]),
                "proven_optimal": saved["proven"], "max_gap": saved["max_gap"],
                "mean_gap": saved["mean_gap"], "optimum_limit_s": saved["limit"],
                "optimum_from": saved["from"], "tuning_seeds": bool(args.tuning),
                "mechanisms": rows}
    return {"size": size, "markets": n_markets, "offset": args.offset,
            "gaps": [o.gap for o in optima], "nodes_x_bids": list(SIZES[size]),
            "proven_optimal": sum(o.optimal for o in optima),
            "max_gap": max(o.gap for o in optima),
            "mean_gap": statistics.fmean(o.gap for o in optima),
            "optimum_limit_s": OPT_LIMIT[size], "tuning_seeds": bool(args.tuning),
            "mechanisms": rows}


def combine(results: list[dict]) -> list[dict]:
    """One result per size: runs of the same size on consecutive slices of the seeds
    (``--offset``) summed (counts, welfare, subsidy), clearing times pooled for the median,
    the largest gains kept."""
    out: dict[str, dict] = {}
    for r in results:
        if r["size"] not in out:
            out[r["size"]] = json.loads(json.dumps(r))
            continue
        a = out[r["size"]]
        a["markets"] += r["markets"]
        a["proven_optimal"] += r["proven_optimal"]
        a["gaps"] = a.get("gaps", []) + r.get("gaps", [])
        a["max_gap"] = max(a["max_gap"], r["max_gap"])
        a["mean_gap"] = statistics.fmean(a["gaps"]) if a["gaps"] else a["mean_gap"]
        for name, m in r["mechanisms"].items():
            if name not in a["mechanisms"]:
                a["mechanisms"][name] = m
                continue
            x = a["mechanisms"][name]
            for k in ("markets", "welfare", "w_best", "w_bound", "subsidy", "deficits",
                      "violations", "app_probes", "app_profitable", "node_probes",
                      "node_profitable", "probe_deficits"):
                x[k] += m[k]
            for k, v in m["node_by_kind"].items():
                x["node_by_kind"][k] = [p + q for p, q in zip(x["node_by_kind"][k], v,
                                                             strict=True)]
            x["times"] += m["times"]
            x["clear_ms_median"] = 1000 * statistics.median(x["times"])
            for k, w in (("app_max_gain", "app_worst"), ("node_max_gain", "node_worst")):
                if m[k] > x[k]:
                    x[k], x[w] = m[k], m[w]
            x["node_max_gain_rel"] = max(x["node_max_gain_rel"], m["node_max_gain_rel"])
            x["welfare_pct_best"] = 100 * x["welfare"] / x["w_best"] if x["w_best"] else 0.0
            x["welfare_pct_bound"] = (100 * x["welfare"] / x["w_bound"]
                                      if x["w_bound"] else 0.0)
            x["subsidy_pct"] = 100 * x["subsidy"] / x["w_best"] if x["w_best"] else 0.0
    return list(out.values())


def table(results: list[dict], meta: dict) -> str:
    lines = [
        "# Market study: measured figures",
        "",
        f"Generated by `{meta['command']}` at commit {meta['commit']} "
        f"({meta['date']}). Markets: `edgekit.market.generate.sized_market(size, seed)` for "
        "the first N of `HELD_OUT_SEEDS` (fixed before any measurement; docs/market.md). "
        "Welfare: % of the best allocation the optimum found (MILP, time limit per size; "
        "LP rounding at 100x2000) and % of its proven upper bound (LP relaxation / MILP dual "
        "bound). Subsidy: total deficit / total best welfare. Probes: one trader misreports, "
        "utility at true values (edgekit.market.probes); profitable = gain > 1e-9 x (1 + "
        "total value). Clearing time: median thread time of compile + mechanism, one core.",
        "",
    ]
    for r in results:
        lines += [f"## {r['size']} ({r['nodes_x_bids'][0]} nodes x {r['nodes_x_bids'][1]} "
                  f"bids, {r['markets']} markets)", "",
                  f"Optimum: {r['proven_optimal']}/{r['markets']} proven optimal "
                  f"({r['optimum_limit_s']:g} s limit); gap to the bound mean "
                  f"{100 * r['mean_gap']:.2f}%, max {100 * r['max_gap']:.2f}%.", "",
                  "| mechanism | welfare % best (% bound) | deficits (subsidy %) | IR/cap "
                  "violations | app probes profitable | node probes profitable | largest "
                  "node gain /h | clear ms (median) |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, m in r["mechanisms"].items():
            app = (f"{m['app_profitable']}/{m['app_probes']}"
                   + (f" (max {m['app_max_gain']:.3g})" if m["app_profitable"] else "")
                   ) if m["app_probes"] else "not probed"
            node = (f"{m['node_profitable']}/{m['node_probes']} "
                    f"({100 * m['node_profitable'] / m['node_probes']:.1f}%)"
                    ) if m["node_probes"] else "not probed"
            gain = f"{m['node_max_gain']:.3g}" if m["node_profitable"] else "-"
            name = name if m["markets"] == r["markets"] else f"{name} ({m['markets']} markets)"
            lines.append(f"| {name} | {m['welfare_pct_best']:.1f} ({m['welfare_pct_bound']:.1f})"
                         f" | {m['deficits']} ({m['subsidy_pct']:.1f}%) | {m['violations']} | "
                         f"{app} | {node} | {gain} | {m['clear_ms_median']:.1f} |")
        worst = [(n, m["node_worst"]) for n, m in r["mechanisms"].items() if m["node_worst"]]
        if worst:
            lines += ["", "Most profitable node misreport: " + "; ".join(
                f"{n}: {w}" for n, w in worst) + "."]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--markets", type=int, nargs="+", default=None,
                    help="markets per size, in the order of --sizes (default 100 each)")
    ap.add_argument("--mechanisms", nargs="+", default=None)
    ap.add_argument("--app-probes", type=int, default=20_000)
    ap.add_argument("--node-probes", type=int, default=2_000)
    ap.add_argument("--focus", nargs="+", default=None,
                    help="mechanisms probed with --app-probes / --node-probes (default: the "
                         "default mechanism); the others get --other-*-probes")
    ap.add_argument("--other-app-probes", type=int, default=2_000)
    ap.add_argument("--other-node-probes", type=int, default=1_000)
    ap.add_argument("--vcg-app-probes", type=int, default=40)
    ap.add_argument("--vcg-node-probes", type=int, default=20)
    ap.add_argument("--vcg-markets", type=int, default=20, help="VCG on the first N markets")
    ap.add_argument("--pyb-app-probes", type=int, default=100)
    ap.add_argument("--pyb-node-probes", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--offset", type=int, default=0,
                    help="skip the first OFFSET seeds (to split a size over processes; "
                         "--merge sums the slices)")
    ap.add_argument("--tuning", action="store_true",
                    help="markets from TUNING_SEEDS (for tuning) instead of HELD_OUT_SEEDS")
    ap.add_argument("--optima", type=Path, nargs="+", default=None,
                    help="saved runs (--json) whose optimum of the same markets (size, count, "
                         "offset) is reused instead of solving the MILP again")
    ap.add_argument("--no-optimum", action="store_true",
                    help="no optimum (probes only: welfare % reads 0; merge such runs with "
                         "the run that has the optimum only for their probe counts)")
    ap.add_argument("--quick", action="store_true", help="5 markets a size, few probes")
    ap.add_argument("--json", type=Path, default=None, help="save the results")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="table from saved results instead of measuring")
    ap.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    args = ap.parse_args()
    if args.merge:
        saved = [json.loads(p.read_text()) for p in args.merge]
        results = combine([r for s in saved for r in s["results"]])
        meta = saved[0]["meta"]
        meta["command"] = " ; ".join(s["meta"]["command"] for s in saved)
    else:
        if args.quick:
            args.app_probes = args.other_app_probes = 100
            args.node_probes = args.other_node_probes = 50
            args.vcg_app_probes, args.vcg_node_probes = 10, 5
            args.pyb_app_probes, args.pyb_node_probes = 10, 5
        counts = args.markets or [5 if args.quick else 100] * len(args.sizes)
        mechanisms = _mechanisms(args.mechanisms)
        # the commit of the code measured: taken before the run (a long run may outlive it)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        results = [study_size(s, n, mechanisms, args)
                   for s, n in zip(args.sizes, counts, strict=True)]
        meta = {"command": "python tools/market_study.py " + " ".join(sys.argv[1:]),
                "commit": commit, "date": time.strftime("%Y-%m-%d", time.gmtime())}
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    text = table(results, meta)
    print(text)
    if args.write:
        OUT.write_text(text)


if __name__ == "__main__":
    main()
