"""Every corpus series through every decode path, bit for bit (issue #16: "bit-exact on every
corpus series, on every path").

    python tools/compress_paths_exact.py [--data DIR] [names...]

Each series is encoded once (the default encoder) and its frame decoded by:

  fast        codec._decode_fast (one C call for the frame; AVX-512 where the CPU has it)
  avx2        the same with the lanes' recurrence kernel lowered to AVX2 (ekz2_lanes_use(1))
  scalar      ... to the scalar kernels and the portable stream loop (ekz2_lanes_use(0),
              K.lanes_simd(False))
  blocks      the C block decoder (ekz_decode_blocks), the fast path off
  python      the Python block decoder over the stream kernels
  reference   the numpy references only (EDGEKIT_BACKEND=reference's path)

and every result must equal the input's bytes and dtype.  Prints one line a series (frame
version, whether a block has predictor lanes) and exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgekit import _backend  # noqa: E402
from edgekit.compress import _kernels as K  # noqa: E402
from edgekit.compress import codec as C  # noqa: E402
from edgekit.compress import decode, encode  # noqa: E402


def _with(patches: list[tuple[object, str, object]], f: Callable[[], np.ndarray]) -> np.ndarray:
    keep = [getattr(mod, name) for mod, name, _ in patches]
    try:
        for mod, name, v in patches:
            setattr(mod, name, v)
        return f()
    finally:
        for (mod, name, _), v in zip(patches, keep, strict=True):
            setattr(mod, name, v)


def paths(blob: bytes) -> dict[str, np.ndarray]:
    """The frame decoded on every path (native ones only where the kernels are built)."""
    out: dict[str, np.ndarray] = {}
    lib = _backend.lib
    if lib is not None:
        out["fast"] = decode(blob)
        for name, kernel in (("avx2", 1), ("scalar", 0)):
            was = lib.ekz2_lanes_use(kernel)
            simd = K.lanes_simd(kernel != 0)
            try:
                out[name] = decode(blob)
            finally:
                lib.ekz2_lanes_use(was)
                K.lanes_simd(simd)
        no_fast = [(C, "_decode_fast", lambda buf, pos: None)]
        out["blocks"] = _with(no_fast, lambda: decode(blob))
        no_blocks = no_fast + [(K, "decode_blocks", lambda buf, pos, end, blen, o, v=1: (0, pos)),
                               (K, "decode_block", lambda *a, **k: False)]
        out["python"] = _with(no_blocks, lambda: decode(blob))
    out["reference"] = _with([(_backend, "lib", None)], lambda: decode(blob))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="substrings of the series to run (default all)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sensors"))
    args = ap.parse_args(argv)
    files = sorted(Path(args.data).glob("*.npy"))
    files = [p for p in files if not args.names or any(s in p.stem for s in args.names)]
    bad = 0
    for p in files:
        x = np.load(p)
        blob = encode(x)
        got = paths(blob)
        wrong = [k for k, y in got.items() if y.dtype != x.dtype or y.tobytes() != x.tobytes()]
        bad += bool(wrong)
        print(f"{p.stem:36s} n={x.size:7d} v{blob[4]} {len(got)} paths "
              f"{'MISMATCH ' + ','.join(wrong) if wrong else 'ok'}", flush=True)
    print(f"{len(files) - bad} of {len(files)} series bit-exact on every path")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
