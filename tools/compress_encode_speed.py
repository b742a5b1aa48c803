"""Encode speed of edgekit.compress against pcodec, for two checkouts in one run.

Two worker processes (one per checkout, each importing the edgekit in its own directory)
take turns: each round times one ``edgekit.compress.encode`` and one
``pcodec.standalone.simple_compress(x, pcodec.ChunkConfig())`` of the series in each
worker, by ``time.thread_time()``; the table gives the medians and pcodec's time / edgekit's
time for each checkout (issue #16's target: at least 1.5 on every series of 5,000 values or
more).  Usage::

    python tools/compress_encode_speed.py BEFORE_DIR AFTER_DIR [--data DIR] [names...]

BEFORE_DIR / AFTER_DIR: checkouts with their native kernels built in place.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

_WORKER = r'''
import sys, time, json
sys.path.insert(0, ".")
import numpy as np, pcodec
import edgekit
from edgekit.compress import encode
cache = {}
print(json.dumps(edgekit.__file__), flush=True)
for line in sys.stdin:
    p = line.strip()
    if p not in cache:
        cache.clear()
        cache[p] = np.load(p)
        encode(cache[p])
    x = cache[p]
    cfg = pcodec.ChunkConfig()
    t0 = time.thread_time(); encode(x); te = time.thread_time() - t0
    t0 = time.thread_time(); pcodec.standalone.simple_compress(x, cfg)
    tp = time.thread_time() - t0
    print(json.dumps([te, tp]), flush=True)
'''


def _start(directory: str) -> subprocess.Popen:
    w = subprocess.Popen([sys.executable, "-c", _WORKER], cwd=directory, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert w.stdout is not None
    print(f"worker {directory}: {json.loads(w.stdout.readline())}", flush=True)
    return w


def _ask(w: subprocess.Popen, path: str) -> list[float]:
    assert w.stdin is not None and w.stdout is not None
    w.stdin.write(path + "\n")
    w.stdin.flush()
    return json.loads(w.stdout.readline())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("names", nargs="*", help="substrings of the series to run (default all)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                                    / "sensors"))
    args = ap.parse_args()
    before, after = _start(args.before), _start(args.after)
    print(f"{'series':34s} {'n':>7s} {'pc_ms':>7s} {'before_ms':>9s} {'after_ms':>8s} "
          f"{'x_before':>8s} {'x_after':>7s}")
    for p in sorted(glob.glob(os.path.join(args.data, "*.npy"))):
        name = os.path.basename(p)[:-4]
        if args.names and not any(s in name for s in args.names):
            continue
        with open(p[:-4] + ".json", encoding="utf-8") as f:
            n = json.load(f)["n"]
        reps = 15 if n < 100000 else 7
        tb, pb, ta, pa = [], [], [], []
        for _ in range(reps):
            e, c = _ask(before, p)
            tb.append(e)
            pb.append(c)
            e, c = _ask(after, p)
            ta.append(e)
            pa.append(c)
        mb, mpb, ma, mpa = (statistics.median(v) for v in (tb, pb, ta, pa))
        print(f"{name:34s} {n:7d} {(mpb + mpa) * 500:7.3f} {mb * 1e3:9.3f} {ma * 1e3:8.3f} "
              f"{mpb / mb:8.2f} {mpa / ma:7.2f}", flush=True)


if __name__ == "__main__":
    main()
