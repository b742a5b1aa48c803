"""Where edgekit.compress's decode time goes, per corpus series (docs/compress/speed.md).

Worker processes as in ``compress_encode_speed.py`` take turns, round after round, and time
by ``time.thread_time()``: ``decode`` in all, the C block decoder alone
(``ekz_decode_blocks``), the frame checksum, and pcodec's decode; the rest of ``decode`` is
Python (header, allocation, the call).  With ``--no-recurrence DIR2``, a second checkout
built with ``CFLAGS="-DEKZ_PROFILE_NO_RECURRENCE -DEKZ_NO_FUSED"`` (its predictor blocks
decode the residuals as the values: wrong values, right timing of everything else) gives
the C time without the predictor's recurrence, so the recurrence's share is the
difference.  Every figure is a median, in ns per value.  Usage::

    python tools/compress_decode_profile.py DIR [--no-recurrence DIR2] [--min-n 5000]
        [--data DIR] [names...]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from compress_encode_speed import _ask, _series, _start

_MODELS = {0: "raw", 1: "int", 2: "dec", 3: "aff", 4: "bits", 5: "dict"}


def _kind(heads: list[int]) -> str:
    """The blocks' models: model, delta order (P: a predictor), G: common step, R: residual
    stream, F: float32 in float64 (S: split, for a dictionary)."""
    out = []
    for h in heads:
        m, order = _MODELS[h & 7], (h >> 3) & 3
        flags = ("S" if h & 0x20 else "") if m == "dict" else \
            "".join(c for b, c in ((0x20, "G"), (0x40, "R"), (0x80, "F")) if h & b)
        out.append(m + ("P" if order == 3 else str(order)) + flags)
    return ",".join(sorted(set(out)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("names", nargs="*", help="substrings of the series to run (default all)")
    ap.add_argument("--no-recurrence", default=None, metavar="DIR2")
    ap.add_argument("--min-n", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                                    / "sensors"))
    args = ap.parse_intermixed_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    main_w = _start(args.dir)
    nr_w = _start(args.no_recurrence) if args.no_recurrence else None
    print(f"{'series':34s} {'n':>7s} {'blocks':14s} {'all':>5s} {'C':>5s} {'crc':>5s} "
          f"{'py':>5s} {'recur':>5s} {'pcodec':>6s} (ns/value)")
    for p, name, n in _series(args.data, args.names, args.min_n):
        kind = _kind(_ask(main_w, "heads", p))
        rows, nr = [], []
        for _ in range(args.rounds):
            rows.append(_ask(main_w, "profile", p))
            if nr_w is not None:
                nr.append(_ask(nr_w, "profile", p)[1])
        t_all, t_c, t_crc, t_pc = (statistics.median(r[i] for r in rows) * 1e9 / n
                                   for i in range(4))
        recur = f"{t_c - statistics.median(nr) * 1e9 / n:5.2f}" if nr and "P" in kind \
            else "    -"
        print(f"{name:34s} {n:7d} {kind:14s} {t_all:5.2f} {t_c:5.2f} {t_crc:5.2f} "
              f"{t_all - t_c - t_crc:5.2f} {recur} {t_pc:6.2f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
