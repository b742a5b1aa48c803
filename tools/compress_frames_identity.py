"""Byte identity of edgekit.compress frames across a change of the encoder.

``save DIR`` writes the frame of every corpus series (default level, levels 1 and 3, and a
lossy frame of the float series) to DIR; ``check DIR`` encodes them again and lists every
frame that differs (with both sizes), and checks that the lossless frames decode to the
input, bit for bit.  Exit status 1 when a frame differs.  Usage::

    python tools/compress_frames_identity.py save|check DIR [--data DIR]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.getcwd())

from edgekit.compress import decode, encode  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["save", "check"])
    ap.add_argument("out")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                                    / "sensors"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    bad = total = 0
    for p in sorted(glob.glob(os.path.join(args.data, "*.npy"))):
        name = os.path.basename(p)[:-4]
        x = np.load(p)
        variants: dict[str, dict] = {"l5": {}, "l1": {"level": 1}, "l3": {"level": 3}}
        if x.dtype.kind == "f":
            variants["tol"] = {"tolerance": float(np.nanstd(x)) * 1e-3}
        for v, kw in variants.items():
            blob = encode(x, **kw)
            path = os.path.join(args.out, f"{name}.{v}.ekz")
            total += 1
            if args.mode == "save":
                with open(path, "wb") as f:
                    f.write(blob)
            else:
                with open(path, "rb") as f:
                    old = f.read()
                if old != blob:
                    bad += 1
                    print(f"DIFF {name} {v}: {len(old)} -> {len(blob)} bytes")
            if v != "tol":
                assert decode(blob).tobytes() == x.tobytes(), name
    print(f"{total} frames, {bad} differing")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
