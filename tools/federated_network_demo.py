"""The networked federated runtime end to end, with figures: a coordinator and 5 digits
clients as separate processes on 127.0.0.1 over mutual TLS (edgekit.secure certificates),
optionally one client SIGKILLed inside a round, against simulate() with the same seed,
strategy (FedAvg) and clients.

    python tools/federated_network_demo.py [--rounds 10] [--kill-round 3] [--seed 7]

Prints one line per round (clients, accuracy of both runtimes, bytes, seconds) and the totals.
Needs scikit-learn (the digits) and aiohttp.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.federated import _net_demo, _tasks, simulate  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--kill-round", type=int, default=3, help="0: kill nobody")
    p.add_argument("--victim", default="c2")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    ids = list(_net_demo.CLIENT_IDS)
    with tempfile.TemporaryDirectory(prefix="edgekit-fl-") as tmp:
        d = _net_demo.make_pki(Path(tmp), ids)
        _net_demo.save_fleet(d / "fleet.npz")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = _net_demo.run_fleet(d, rounds=a.rounds, seed=a.seed, kill_round=a.kill_round,
                                  victim=a.victim, timeout_s=300.0, env=env)
        task, clients, init = _net_demo.fleet(d / "fleet.npz")
    if a.kill_round:
        clients[a.victim] = _net_demo.DiesAt(clients[a.victim], a.kill_round)
    sim = simulate(_net_demo.strategy(init), clients, rounds=a.rounds, fraction=1.0,
                   min_clients=2, seed=a.seed, evaluate_fn=_tasks.evaluator(task))
    h = out["history"]
    print(f"{len(ids)} client processes + 1 coordinator, mutual TLS on 127.0.0.1, FedAvg, "
          f"seed {a.seed}" + (f", {a.victim} SIGKILLed in round {a.kill_round}"
                              if a.kill_round else ""))
    print("round  answered  acc(network)  acc(simulate)  same bits  up B    down B   s")
    for r, s in zip(h["rounds"], sim.rounds, strict=True):
        acc_n, acc_s = r["metrics"]["accuracy"], s.metrics["accuracy"]
        print(f"{r['round']:5d}  {len(r['accepted'])}/{len(r['selected'])}       "
              f"{acc_n:.4f}        {acc_s:.4f}         {'yes' if acc_n == acc_s else 'no ':3s}"
              f"        {sum(r['bytes_up'].values()):6d}  {sum(r['bytes_down'].values()):6d}"
              f"  {r['wall_time_s']:.2f}")
    up = sum(sum(r["bytes_up"].values()) for r in h["rounds"])
    down = sum(sum(r["bytes_down"].values()) for r in h["rounds"])
    print(f"final accuracy: network {h['rounds'][-1]['metrics']['accuracy']:.4f}, simulate "
          f"{sim.rounds[-1].metrics['accuracy']:.4f}; bytes up {up}, down {down}; "
          f"coordinator {h['wall_time_s']:.1f} s wall ({h['cpu_s']:.2f} s CPU) from the "
          f"first registration wait; {out['wall_s']:.1f} s for the whole run")


if __name__ == "__main__":
    main()
