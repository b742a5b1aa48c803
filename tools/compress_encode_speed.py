"""Encode (or decode) speed of edgekit.compress against pcodec, for two checkouts in one run.

Two worker processes (one per checkout, each importing the edgekit in its own directory)
take turns: each round times one ``edgekit.compress.encode`` and one
``pcodec.standalone.simple_compress(x, pcodec.ChunkConfig())`` of the series in each
worker, by ``time.thread_time()`` (edgekit first in odd rounds, pcodec first in even
ones: the first call after the other worker ran meets colder caches); the table gives the
medians and pcodec's time / edgekit's time for each checkout (issue #16's target: at
least 1.5 on every series of 5,000 values or more).  With ``--decode`` each round times
``edgekit.compress.decode`` of the worker's own frame and
``pcodec.standalone.simple_decompress`` instead (target: at least 1.0), and every decoded
array is checked bit for bit.  Usage::

    python tools/compress_encode_speed.py BEFORE_DIR AFTER_DIR [--decode] [--min-n N]
        [--data DIR] [names...]

BEFORE_DIR / AFTER_DIR: checkouts with their native kernels built in place.  The last line
gives, per checkout, how many series reach the target, the geometric mean and the worst.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_WORKER = r'''
import sys, time, json
sys.path.insert(0, ".")
import numpy as np, pcodec
import edgekit
from edgekit.compress import decode, encode
cache = {}
rnd = 0
print(json.dumps(edgekit.__file__), flush=True)
for line in sys.stdin:
    op, p = line.split(" ", 1)
    p = p.strip()
    if p not in cache:
        cache.clear()
        x = np.load(p)
        fr, pc = encode(x), pcodec.standalone.simple_compress(x, pcodec.ChunkConfig())
        if op != "profile":  # (a profiling build's values are wrong on purpose)
            y = decode(fr)
            assert y.dtype == x.dtype and y.tobytes() == x.tobytes(), p
        cache[p] = (x, fr, pc)
    x, fr, pc = cache[p]
    cfg = pcodec.ChunkConfig()
    if op == "profile":  # tools/compress_decode_profile.py: [all, C blocks, CRC, pcodec]
        from edgekit.compress import _kernels as K, codec as C
        _, rd, _, flags, _ = C._frame_at(fr, 0)
        if flags & 2:
            rd.f64()
        bl = rd.varint()
        out = np.empty(x.size, np.uint8 if x.dtype.kind == "b" else x.dtype)
        decode(fr)  # warm: the figures split a decode, not the cost of a cold cache
        t = []
        for f in (lambda: decode(fr),
                  lambda: K.decode_blocks(fr, rd.pos, rd.end, bl, out, fr[4]),
                  lambda: K.crc32(fr, 0, len(fr) - 4),
                  lambda: pcodec.standalone.simple_decompress(pc)):
            t0 = time.thread_time(); f(); t.append(time.thread_time() - t0)
        print(json.dumps(t), flush=True)
        continue
    if op == "heads":  # the head byte of every block
        from edgekit.compress import codec as C
        _, rd, _, flags, _ = C._frame_at(fr, 0)
        if flags & 2:
            rd.f64()
        rd.varint()
        heads = []
        while rd.pos < rd.end:
            size = rd.varint()
            heads.append(fr[rd.pos])
            rd.pos += size
        print(json.dumps(heads), flush=True)
        continue
    if op == "decode":
        fe, fp = (lambda: decode(fr)), (lambda: pcodec.standalone.simple_decompress(pc))
    else:
        fe, fp = (lambda: encode(x)), (lambda: pcodec.standalone.simple_compress(x, cfg))
    # edgekit first in odd rounds, pcodec first in even ones: the first call after the
    # other worker ran meets colder caches
    rnd += 1
    t = {}
    for f in ((fe, fp) if rnd % 2 else (fp, fe)):
        t0 = time.thread_time(); f(); t[f] = time.thread_time() - t0
    te, tp = t[fe], t[fp]
    print(json.dumps([te, tp]), flush=True)
'''


def _start(directory: str) -> subprocess.Popen:
    w = subprocess.Popen([sys.executable, "-c", _WORKER], cwd=directory, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert w.stdout is not None
    print(f"worker {directory}: {json.loads(w.stdout.readline())}", flush=True)
    return w


def _ask(w: subprocess.Popen, op: str, path: str) -> list:
    assert w.stdin is not None and w.stdout is not None
    w.stdin.write(f"{op} {path}\n")
    w.stdin.flush()
    return json.loads(w.stdout.readline())


def _series(data: str, names: list[str], min_n: int) -> Iterator[tuple[str, str, int]]:
    """(path, name, length) of the corpus series in ``data`` whose name contains one of
    ``names`` (all when empty) and that hold at least ``min_n`` values."""
    for p in sorted(glob.glob(os.path.join(data, "*.npy"))):
        name = os.path.basename(p)[:-4]
        if names and not any(s in name for s in names):
            continue
        with open(p[:-4] + ".json", encoding="utf-8") as f:
            n = json.load(f)["n"]
        if n >= min_n:
            yield p, name, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("names", nargs="*", help="substrings of the series to run (default all)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                                    / "sensors"))
    ap.add_argument("--decode", action="store_true", help="time decode instead of encode")
    ap.add_argument("--min-n", type=int, default=0, help="only series of at least N values")
    args = ap.parse_args()
    op, target = ("decode", 1.0) if args.decode else ("encode", 1.5)
    print(f"{op}; load average {os.getloadavg()[0]:.2f}")
    before, after = _start(args.before), _start(args.after)
    xs: dict[str, list[float]] = {"before": [], "after": []}
    print(f"{'series':34s} {'n':>7s} {'pc_ms':>7s} {'before_ms':>9s} {'after_ms':>8s} "
          f"{'x_before':>8s} {'x_after':>7s}")
    for p, name, n in _series(args.data, args.names, args.min_n):
        reps = 15 if n < 100000 else 7
        tb, pb, ta, pa = [], [], [], []
        for _ in range(reps):
            e, c = _ask(before, op, p)
            tb.append(e)
            pb.append(c)
            e, c = _ask(after, op, p)
            ta.append(e)
            pa.append(c)
        mb, mpb, ma, mpa = (statistics.median(v) for v in (tb, pb, ta, pa))
        print(f"{name:34s} {n:7d} {(mpb + mpa) * 500:7.3f} {mb * 1e3:9.3f} {ma * 1e3:8.3f} "
              f"{mpb / mb:8.2f} {mpa / ma:7.2f}", flush=True)
        xs["before"].append(mpb / mb)
        xs["after"].append(mpa / ma)
    for key, v in xs.items():
        if v:
            print(f"{key}: {sum(x >= target for x in v)} of {len(v)} at >= {target}x pcodec, "
                  f"geometric mean {math.exp(sum(map(math.log, v)) / len(v)):.2f}x, "
                  f"worst {min(v):.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
