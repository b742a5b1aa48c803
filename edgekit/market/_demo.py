"""``edgekit demo market``: one 20-node x 200-bid market cleared by every mechanism beside the
welfare optimum and VCG's deficit on a small one, a few probes of the default, and six
repeated rounds (a few seconds)."""

from __future__ import annotations

from typing import TextIO

from edgekit._demo import DemoRow
from edgekit.market._arrays import compile_market
from edgekit.market.clear import DEFAULT_MECHANISM, MECHANISMS
from edgekit.market.generate import sized_market
from edgekit.market.optimum import optimal_welfare
from edgekit.market.probes import check_clearing, probe
from edgekit.market.repeated import repeated_market
from edgekit.market.vcg import vcg_detail


def run(out: TextIO) -> list[DemoRow]:
    m = sized_market("medium", 1)
    arr = compile_market(m.asks, m.bids)
    opt = optimal_welfare(m.asks, m.bids, time_limit_s=1.0)
    print(f"  market: 20 nodes, 200 bids (seed 1); welfare optimum >= "
          f"{opt.welfare:.3f}/h, proven bound {opt.bound:.3f}/h", file=out)
    default_pct = 0.0
    for name, fn in MECHANISMS.items():
        c = fn(arr)
        ok = "ok" if not check_clearing(arr, c) else "; ".join(check_clearing(arr, c))
        pct = 100 * c.welfare / opt.bound
        default_pct = pct if name == DEFAULT_MECHANISM else default_pct
        print(f"  {name:<16} welfare {pct:5.1f}% of bound, {len(c.trades):>3} trades, "
              f"market keeps {c.surplus:+.3f}/h  [{ok}]", file=out)
    small = sized_market("small", 1)
    v = vcg_detail(small.asks, small.bids)
    print(f"  vcg on 5x30: welfare {v.clearing.welfare:.3f}/h (optimal), deficit "
          f"{v.deficit:.3f}/h = {100 * v.deficit / v.clearing.welfare:.0f}% of it "
          f"({v.solves} MILPs)", file=out)
    p = probe(None, [sized_market("small", s) for s in range(3)], app_probes=40,
              node_probes=20, seed=0)
    print(f"  probes of {p.mechanism}: applications {p.apps.profitable}/{p.apps.probes} "
          f"profitable, nodes {p.nodes.profitable}/{p.nodes.probes}", file=out)
    r = repeated_market(None, n_nodes=10, rounds=6, arrivals=25, seed=0)
    for k in r.rounds:
        print(f"  round {k.round}: {k.bids:>3} bids, {k.trades:>2} trades, {k.running:>3} "
              f"running, cpu {k.utilization.get('cpu', 0):.0%}, welfare {k.welfare:.3f}/h, "
              f"revenue {k.revenue:+.3f}/h", file=out)
    return [DemoRow(f"market 20x200, default {DEFAULT_MECHANISM}",
                    f"{default_pct:.0f}% of optimal welfare, no deficit; VCG deficit "
                    f"{100 * v.deficit / v.clearing.welfare:.0f}% (5x30)")]
