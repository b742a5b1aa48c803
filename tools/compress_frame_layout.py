"""Print the layout of edgekit frames of corpus series: per block its head (model, delta
order, flags), and per stream body its kind, codes, bytes and largest token, so a decode
profile can say which block kinds, streams and modes a series' frame uses.  Usage::

    python tools/compress_frame_layout.py [--data DIR] [names...]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.getcwd())  # the checkout it is run from, not the installed edgekit

from edgekit.compress import codec as C  # noqa: E402
from edgekit.compress import encode  # noqa: E402

_MODELS = {0: "raw", 1: "int", 2: "dec", 3: "aff", 4: "bits", 5: "dict"}
_KINDS = {0: "one-token", 1: "rANS4", 2: "first-only", 3: "zero-runs", 4: "lanes16"}


def _layout(fr: bytes) -> list[str]:
    rows: list[str] = []
    orig = C._body_decode

    def spy(rd, order, n, first, slot, runs_ok, fused=None, sink=None):  # type: ignore[no-untyped-def]
        p0, kind = rd.pos, rd.buf[rd.pos]
        maxtok = rd.buf[rd.pos + 1] if kind in (1, 4) else -1
        r = orig(rd, order, n, first, slot, runs_ok, fused, sink)
        rows.append(f"    {slot:3s} order {order} n {n:6d} {_KINDS.get(kind, kind):10s} "
                    f"{rd.pos - p0:7d} B {8 * (rd.pos - p0) / max(n, 1):6.2f} b/v "
                    f"maxtok {maxtok}")
        return r

    C._body_decode = spy
    try:
        length, rd, code, flags, shape = C._frame_at(fr, 0)
        n = int(np.prod(shape))
        dt = C._DTYPES[code]
        blen = rd.varint()
        version = fr[4]
        rows.append(f"  version {version} dtype {dt} n {n} block length {blen}")
        for i in range(-(-n // blen)):
            m = min(blen, n - i * blen)
            size = rd.varint()
            head = fr[rd.pos]
            model, order = _MODELS[head & 7], (head >> 3) & 3
            flags_s = "".join(c for b, c in ((0x20, "G"), (0x40, "R"), (0x80, "F"))
                              if head & b)
            rows.append(f"  block {i}: {m} values {size} B head 0x{head:02x} {model} "
                        f"order {order} {flags_s}")
            out = np.empty(m, dtype=dt)
            sub = C._Reader(fr, rd.pos, rd.pos + size, version >= 3)
            C._decode_block(sub, out, version)
            rd.pos += size
    finally:
        C._body_decode = orig
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "sensors"))
    args = ap.parse_args()
    for p in sorted(glob.glob(os.path.join(args.data, "*.npy"))):
        name = os.path.basename(p)[:-4]
        if args.names and not any(s in name for s in args.names):
            continue
        x = np.load(p)
        fr = encode(x)
        print(f"{name}: {x.size} values, {len(fr)} B")
        for row in _layout(fr):
            print(row)


if __name__ == "__main__":
    main()
