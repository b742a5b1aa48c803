"""Tuning-seed measurements of pivot-greedy's phantom rule (docs/market.md, "Closing the cost
channel"): node probes and paired welfare for values of ``_T_PIVOT_PHANTOM``, on
``edgekit.market.generate.TUNING_SEEDS`` only.

    python tools/market_tuning.py large --probe-seeds 503 511 --per 100 \\
        --welfare-seeds 300 320 --phantom 0 1 1.2 1.5 inf

Node probes: ``edgekit.market.probes.probe`` (seed 0, no application probes), ``--per`` a
market.  Welfare: the markets of ``--welfare-seeds`` cleared with each value, the change in
% of the welfare with the rule off (0), paired market by market (no optimum needed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.market import mechanisms  # noqa: E402
from edgekit.market._arrays import compile_market  # noqa: E402
from edgekit.market.generate import SIZES, TUNING_SEEDS, sized_market  # noqa: E402
from edgekit.market.probes import probe  # noqa: E402


def _seeds(pair: list[int]) -> list[int]:
    seeds = list(range(pair[0], pair[1]))
    if not set(seeds) <= set(TUNING_SEEDS):
        raise SystemExit("tuning seeds only (edgekit.market.generate.TUNING_SEEDS)")
    return seeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size", choices=list(SIZES))
    ap.add_argument("--probe-seeds", type=int, nargs=2, default=None)
    ap.add_argument("--per", type=int, default=20, help="node probes a market")
    ap.add_argument("--welfare-seeds", type=int, nargs=2, default=None)
    ap.add_argument("--phantom", type=float, nargs="+", default=[0.0, float("inf")])
    args = ap.parse_args()
    base = {}
    values = [v for v in args.phantom if v != 0.0]
    if args.welfare_seeds or 0.0 in args.phantom:
        values.insert(0, 0.0)  # the rule off: the welfare base
    for x in values:
        mechanisms._T_PIVOT_PHANTOM = x
        line = f"{args.size} _T_PIVOT_PHANTOM={x:g}:"
        if args.welfare_seeds:
            w = {}
            for s in _seeds(args.welfare_seeds):
                m = sized_market(args.size, s)
                w[s] = mechanisms.pivot_greedy(compile_market(m.asks, m.bids)).welfare
            if x == 0.0:
                base = w
            line += f" welfare {100 * (sum(w.values()) / sum(base.values()) - 1):+.3f}%"
        if args.probe_seeds:
            markets = [sized_market(args.size, s) for s in _seeds(args.probe_seeds)]
            res = probe("pivot-greedy", markets, app_probes=0, node_probes=args.per, seed=0)
            n = res.nodes
            kinds = " ".join(f"{k[5:]} {v[1]}/{v[0]}" for k, v in n.by_kind.items())
            line += (f" node probes {n.profitable}/{n.probes} ({100 * n.share:.2f}%: {kinds}),"
                     f" max gain {n.max_gain:.3g}; violations {res.violations}, deficits"
                     f" {res.deficits}")
        if x in args.phantom:
            print(line, flush=True)


if __name__ == "__main__":
    main()
