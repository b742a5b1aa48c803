"""Tuning-seed measurements of pivot-greedy's variants (docs/market.md, "Closing the cost
channel" and "Closing the gap: the order by margin"): node probes and paired welfare for
settings of its ``_T_PIVOT_*`` constants, on ``edgekit.market.generate.TUNING_SEEDS`` only.

    python tools/market_tuning.py large --probe-seeds 503 515 --per 100 \\
        --welfare-seeds 300 320 --phantom 0 1 1.2 1.5 inf
    python tools/market_tuning.py medium --probe-seeds 400 480 --per 25 \\
        --welfare-seeds 300 340 --variants "_T_PIVOT_PHANTOM=inf" \\
        "_T_PIVOT_PHANTOM=inf,_T_PIVOT_ORDER=0.75" "_T_PIVOT_PHANTOM=inf,_T_PIVOT_PHANTOM_CAP=0.6"

Each setting is run as ``pivot-greedy`` with those constants of
``edgekit.market.mechanisms`` set (``--phantom X``: ``_T_PIVOT_PHANTOM=X``).  Node probes:
``edgekit.market.probes.probe`` (seed 0, no application probes), ``--per`` a market.
Welfare: the markets of ``--welfare-seeds`` cleared with each setting, the change in % of
the welfare of ``pivot-greedy`` as shipped, paired market by market (no optimum needed).
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


def _setting(text: str) -> dict[str, float]:
    """``"_T_A=1,_T_B=inf"`` -> {"_T_A": 1.0, "_T_B": inf}; only pivot-greedy's constants."""
    out = {}
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        if not name.startswith("_T_PIVOT_") or not hasattr(mechanisms, name):
            raise SystemExit(f"unknown constant {name!r}")
        out[name] = float(value)
    return out


def _welfare(size: str, seeds: list[int]) -> dict[int, float]:
    w = {}
    for s in seeds:
        m = sized_market(size, s)
        w[s] = mechanisms.pivot_greedy(compile_market(m.asks, m.bids)).welfare
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("size", choices=list(SIZES))
    ap.add_argument("--probe-seeds", type=int, nargs=2, default=None)
    ap.add_argument("--per", type=int, default=20, help="node probes a market")
    ap.add_argument("--welfare-seeds", type=int, nargs=2, default=None)
    ap.add_argument("--phantom", type=float, nargs="*", default=[],
                    help="values of _T_PIVOT_PHANTOM (each a setting)")
    ap.add_argument("--variants", nargs="*", default=[],
                    help='settings "NAME=VALUE,..." of _T_PIVOT_* constants ("" as shipped)')
    args = ap.parse_args()
    settings = [f"_T_PIVOT_PHANTOM={x}" for x in args.phantom] + list(args.variants)
    if not settings:
        settings = ["_T_PIVOT_PHANTOM=0", "_T_PIVOT_PHANTOM=inf"]
    shipped = {n: getattr(mechanisms, n) for n in dir(mechanisms) if n.startswith("_T_PIVOT_")}
    base = _welfare(args.size, _seeds(args.welfare_seeds)) if args.welfare_seeds else {}
    for text in settings:
        values = _setting(text)
        try:
            for name, value in values.items():
                setattr(mechanisms, name, value)
            line = f"{args.size} {text or 'as shipped'}:"
            if args.welfare_seeds:
                w = _welfare(args.size, _seeds(args.welfare_seeds))
                line += f" welfare {100 * (sum(w.values()) / sum(base.values()) - 1):+.3f}%"
            if args.probe_seeds:
                markets = [sized_market(args.size, s) for s in _seeds(args.probe_seeds)]
                res = probe("pivot-greedy", markets, app_probes=0, node_probes=args.per,
                            seed=0)
                n = res.nodes
                kinds = " ".join(f"{k[5:]} {v[1]}/{v[0]}" for k, v in n.by_kind.items())
                line += (f" node probes {n.profitable}/{n.probes} ({100 * n.share:.2f}%: "
                         f"{kinds}), max gain {n.max_gain:.3g}; violations {res.violations},"
                         f" deficits {res.deficits}")
            print(line, flush=True)
        finally:
            for name, value in shipped.items():
                setattr(mechanisms, name, value)


if __name__ == "__main__":
    main()
