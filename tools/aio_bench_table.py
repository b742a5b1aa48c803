"""Measure the fan-in table of docs/aio.md and write it there (between the bench-table
markers): 1000 requests at 5 ms and 50 ms server latency, synchronous requests, a thread
pool, the article's plain gather and edgekit's fetch_all, healthy and with 1% timing out.

    python tools/aio_bench_table.py [--n 1000] [--repeat 3] [--no-write]

Takes about two minutes (the synchronous runs are N x latency).  Wall and CPU times are
the client's (the server is a child process); CPU utilisation is CPU time / wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_aio import (  # noqa: E402
    APPROACHES,
    CONCURRENCY,
    ideal_s,
    make_urls,
    measure,
)
from edgekit.aio._loopback import LoopbackServer  # noqa: E402

DOC = ROOT / "docs" / "aio.md"
BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"


def median_run(server, name, n, latency, repeat, **kw):
    runs = [measure(APPROACHES[name], make_urls(server, n, latency, **kw)) for _ in range(repeat)]
    runs.sort(key=lambda r: r["wall_s"])
    best = runs[len(runs) // 2]
    best["walls"] = [r["wall_s"] for r in runs]
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the fast approaches")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    n = args.n
    lines = []
    out = lines.append
    with LoopbackServer(lifetime_s=1200, max_requests=10 * n * 20, max_delay_s=5.0) as server:
        out(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
            f", loadavg at start {os.getloadavg()[0]:.2f}; `python tools/aio_bench_table.py`."
            f" {n} requests, {CONCURRENCY} in flight for the concurrent approaches, 1 s "
            "timeout per request, no retries.")
        out("")
        out("| latency | approach | wall s (median) | vs ideal | vs sync | client CPU s | "
            "CPU util | kept |")
        out("|---|---|---|---|---|---|---|---|")
        summary = {}
        for latency in (0.005, 0.05):
            ideal = ideal_s(n, latency)
            sync_wall = None
            for name in APPROACHES:
                reps = 1 if name == "requests (sync)" else args.repeat
                r = median_run(server, name, n, latency, reps)
                summary[(latency, name)] = r
                if name == "requests (sync)":
                    sync_wall = r["wall_s"]
                faster = 1 - r["wall_s"] / sync_wall
                out(f"| {latency * 1e3:.0f} ms | {name} | {r['wall_s']:.3f} | "
                    f"{r['wall_s'] / ideal:.2f}x | {faster:+.1%} | {r['cpu_s']:.3f} | "
                    f"{r['cpu_s'] / r['wall_s']:.0%} | {r['kept']}/{n} |")
                print(lines[-1], flush=True)
        out("")
        out(f"Ideal bound `latency x ceil(N / {CONCURRENCY})`: "
            f"{ideal_s(n, 0.005):.3f} s at 5 ms, {ideal_s(n, 0.05):.3f} s at 50 ms.  "
            "fetch_all runs at 50 ms: "
            + ", ".join(f"{w:.3f}" for w in summary[(0.05, "edgekit fetch_all")]["walls"])
            + " s.")
        out("")
        out("With 1% of the requests hanging past the timeout (request i hangs when "
            "i % 100 == 37), 50 ms latency:")
        out("")
        out("| approach | wall s | kept | what the caller gets |")
        out("|---|---|---|---|")
        for name in APPROACHES:
            r = measure(APPROACHES[name], make_urls(server, n, 0.05, with_timeouts=True))
            got = (f"raises {r['raised']}: every result lost" if r["raised"]
                   else f"{r['kept']} results + {n - r['kept']} RequestTimeoutError, in order")
            out(f"| {name} | {r['wall_s']:.3f} | {r['kept']}/{n} | {got} |")
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        text = DOC.read_text()
        head, rest = text.split(BEGIN)
        _, tail = rest.split(END)
        DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
        print(f"written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
