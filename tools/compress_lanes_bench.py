"""The entropy decoder alone: format v2's stream (kind 1, four rANS states) against format
v3's lanes (kind 4, 16 states) on the real streams the encoder writes (docs/compress/speed.md).

For each corpus series, the streams of its frame's blocks (the main stream and any residual
stream, as the encoder chose them: model, delta order, predictor residuals) are coded both
ways and decoded into a uint64 array (``ekz_decode_into``, sink J: rANS, extra bits, delta
sums; no dtype conversion), in interleaved rounds; ns per value, medians of
``time.thread_time()``.  Bytes: the kind-4 stream's size over kind 1's.  Usage::

    python tools/compress_lanes_bench.py [--rounds 15] [--min-n 5000] [names...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgekit.compress import _kernels as K  # noqa: E402
from edgekit.compress import codec  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sensors"  # beside the repository


def _streams(x: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """(j, order) of every plain stream the encoder writes with lanes allowed."""
    got: list[tuple[np.ndarray, int]] = []
    orig = codec._stream_encode

    def spy(j, order, sample_h=None, sample=None, zeros=None, lanes=None):
        if lanes is not None:
            got.append((np.array(j, dtype=np.uint64), order))
        return orig(j, order, sample_h, sample, zeros, lanes)

    codec._stream_encode = spy
    try:
        codec.encode(x)
    finally:
        codec._stream_encode = orig
    return got


def _bodies(j: np.ndarray, order: int):
    tok, buf, blen, h = K.tokenize(j, order)
    if np.count_nonzero(h) < 2:
        return None
    f, _ = codec._table(h)
    tok = tok.copy()
    body = K.rans(tok, order, f, buf.copy(), blen)
    bits, words = K.rans_lanes(tok, order, f, buf.copy(), blen)
    return f, [(body[blen:], body[:blen], -1), (words, bits, K.SINGLE_LANES)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--min-n", type=int, default=5000)
    args = ap.parse_args()
    names = args.names or sorted(p.stem for p in DATA.glob("*.npy"))
    print("| series | codes | v2 ns/value | v3 ns/value | speed-up | v3 bytes / v2 |")
    print("|---|---:|---:|---:|---:|---:|")
    ups = []
    for name in names:
        x = np.load(DATA / f"{name}.npy")
        if x.size < args.min_n:
            continue
        jobs = []
        for j, order in _streams(x):
            if j.size - order < codec._T_LANES_MIN:
                continue
            made = _bodies(j, order)
            if made is None:
                continue
            f, bodies = made
            first = [int(v) for v in j[:order]]
            jobs.append((j, order, f, first, bodies))
        if not jobs:
            continue
        codes = sum(j.size - order for j, order, *_ in jobs)
        size = [sum(len(b[k][0]) + len(b[k][1]) for *_, b in jobs) for k in (0, 1)]
        times: list[list[float]] = [[], []]
        outs = [np.empty(j.size, dtype=np.uint64) for j, *_ in jobs]
        for r in range(args.rounds):
            for k in ((0, 1) if r % 2 == 0 else (1, 0)):
                t0 = time.thread_time()
                for (j, order, f, first, bodies), out in zip(jobs, outs, strict=True):
                    words, bits, single = bodies[k]
                    ok = K.decode_into(words, bits, f, single, order, j.size, first,
                                       K.SINK_J, out)
                    assert ok and np.array_equal(out, j), name
                times[k].append(time.thread_time() - t0)
        ns = [statistics.median(t) * 1e9 / codes for t in times]
        ups.append(ns[0] / ns[1])
        print(f"| {name} | {codes} | {ns[0]:.2f} | {ns[1]:.2f} | {ns[0] / ns[1]:.2f} | "
              f"{size[1] / size[0]:.4f} |")
    if ups:
        print(f"\ngeometric mean speed-up {float(np.exp(np.mean(np.log(ups)))):.2f} "
              f"over {len(ups)} series")


if __name__ == "__main__":
    main()
