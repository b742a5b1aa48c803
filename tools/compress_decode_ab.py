"""Decode time of two checkouts against pcodec, robust to a loaded machine: per series, each
checkout's worker times many single decodes (edgekit, then pcodec, by
``time.thread_time()``), the two workers taking turns in six rounds; the table gives the
minimum and the 20th percentile of the per-call times, ns a value, and pcodec's time /
edgekit's (the target is 1.0).  Minima move far less under neighbours' load than medians
(``compress_encode_speed.py --decode`` gives the medians).  Usage::

    python tools/compress_decode_ab.py BEFORE_DIR AFTER_DIR [--data DIR] names...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

_WORKER = r'''
import sys, time, json
sys.path.insert(0, ".")
import numpy as np, pcodec
from edgekit.compress import encode, decode
for line in sys.stdin:
    path, reps = line.rsplit(" ", 1)
    x = np.load(path); fr = encode(x)
    pc = pcodec.standalone.simple_compress(x, pcodec.ChunkConfig())
    assert decode(fr).tobytes() == x.tobytes()
    a, b = [], []
    for _ in range(int(reps)):
        t0 = time.thread_time(); decode(fr); t1 = time.thread_time()
        pcodec.standalone.simple_decompress(pc); t2 = time.thread_time()
        a.append(t1 - t0); b.append(t2 - t1)
    print(json.dumps([a, b]), flush=True)
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("names", nargs="+", help="series names (NAME.npy in --data)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "sensors"))
    args = ap.parse_args()
    dirs = [args.before, args.after]
    ws = [subprocess.Popen([sys.executable, "-c", _WORKER], cwd=d, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True) for d in dirs]
    print(f"load average {os.getloadavg()[0]:.2f}; ns a value: min / 20th percentile; "
          "x = pcodec / edgekit")
    print(f"{'series':32s} {'before':>30s} | {'after':>30s}")
    for name in args.names:
        path = os.path.join(args.data, name + ".npy")
        n = np.load(path).size
        reps = max(24, int(2e7 / n)) // 6
        res: list[list[list[float]]] = [[[], []] for _ in dirs]
        for r in range(6):
            order = range(2) if r % 2 == 0 else range(1, -1, -1)
            for k in order:
                ws[k].stdin.write(f"{path} {reps}\n")
                ws[k].stdin.flush()
                a, b = json.loads(ws[k].stdout.readline())
                res[k][0] += a
                res[k][1] += b
        cols = []
        for k in range(2):
            e, p = np.array(res[k][0]) * 1e9 / n, np.array(res[k][1]) * 1e9 / n
            e20, p20 = np.percentile(e, 20), np.percentile(p, 20)
            cols.append(f"{e.min():5.2f}/{e20:5.2f} pc {p.min():5.2f}/{p20:5.2f} "
                        f"x {p.min() / e.min():4.2f}/{p20 / e20:4.2f}")
        print(f"{name:32s} {cols[0]} | {cols[1]}", flush=True)
    for w in ws:
        w.stdin.close()
        w.wait()


if __name__ == "__main__":
    main()
