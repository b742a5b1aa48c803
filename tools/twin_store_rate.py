"""Measure the cost of an accepted shadow update per store (docs/twin.md, "The store").

    python tools/twin_store_rate.py [--updates 300] [--rounds 5]

Interleaved rounds; each round applies the same updates (a small reported state, 100 things)
through ``Shadows`` on a file store with synchronous FULL, one with NORMAL, and in memory.
Prints medians over the rounds of updates per second (wall: FULL waits on the disk's fsync)
and of CPU microseconds per update (``time.thread_time``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.twin import Shadows, SQLiteShadowStore  # noqa: E402


def one_round(kind: str, updates: int, directory: Path, round_: int) -> tuple[float, float]:
    if kind == "memory":
        store = SQLiteShadowStore()
    else:
        store = SQLiteShadowStore(directory / f"{kind}-{round_}.db", synchronous=kind)
    requests = [json.dumps({"state": {"reported": {"seq": i, "temp_C": 21.5, "ok": True}}})
                for i in range(updates)]
    with Shadows(store) as shadows:
        wall, cpu = time.perf_counter(), time.thread_time()
        for i, request in enumerate(requests):
            shadows.update(f"dev-{i % 100:03d}", request)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    return updates / wall, cpu / updates * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    kinds = ("FULL", "NORMAL", "memory")
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for kind in kinds:
                results[kind].append(one_round(kind, args.updates, Path(tmp), round_))
    print("| store | updates/s (wall, median) | CPU per update (median) |")
    print("|---|---|---|")
    for kind in kinds:
        rate = statistics.median(r for r, _ in results[kind])
        cpu = statistics.median(c for _, c in results[kind])
        print(f"| {kind} | {rate:,.0f} | {cpu:.0f} us |")


if __name__ == "__main__":
    main()
