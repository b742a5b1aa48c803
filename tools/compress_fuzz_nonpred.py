"""Differential fuzz of the non-predictor decode paths (docs/compress/speed.md, "Decode: the
non-predictor series"), with the machinery of ``compress_fuzz_v3.py`` (the same damage,
the same paths: fast, C blocks, Python blocks, SIMD off, numpy reference) on seeds of the
kinds those paths decode:

* kind-4 streams with rare codes of 56..61 extra bits (an affine grid whose residual
  stream has one 62-bit residual, as wind_farm's), and steps of tokens 112..127 (codes
  below 2^32, pv's night-to-day jumps) among narrow ones;
* zero-run bodies into the integer and float-bits sinks at orders 0..2, with long runs
  of nonzero codes (the eight-at-once path of 32-bit sinks at order 1);
* a float32-in-float64 (F32) affine block with a value table and a zero-run residual
  (membrane's kind), and decimal value tables (the gathers);
* slices of the corpus series themselves, when the corpus is beside the clone.

    python tools/compress_fuzz_nonpred.py --count 100000 --workers 2
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compress_fuzz_v3 as F  # noqa: E402

from edgekit.compress import codec as C  # noqa: E402
from edgekit.compress import encode  # noqa: E402
from edgekit.data import load_series  # noqa: E402

_CORPUS = F.ROOT.parent / "shared" / "data" / "sensors"


def _runs_forced(x: np.ndarray) -> bytes:
    """x encoded with the zero-run form wherever it is allowed."""
    keep = C._runs_pay
    C._runs_pay = lambda *a, **k: True
    try:
        return encode(x)
    finally:
        C._runs_pay = keep


def seeds() -> list[bytes]:
    rng = np.random.default_rng(16)
    out: list[bytes] = []
    # an affine grid, a residual on every value, one of them 62 bits (0.0 off the grid)
    k = np.cumsum(rng.integers(-300, 300, 2500))
    g = -0.9 + k * 0.00011111111111111106
    w = g * (1 + rng.normal(0, 3e-16, k.size))
    w[700] = 0.0
    out.append(F._opened(w))
    # float32 bits, order 1: narrow steps, and jumps of codes 2^28..2^32 (0 <-> a value)
    v = np.abs(np.cumsum(rng.normal(0, 3, 3000))).astype(np.float32)
    v[rng.random(3000) < 0.04] = 0.0
    out.append(F._opened(v))
    # rare codes of 58..63 bits among narrow ones, order 0 and 1, int64
    r = rng.integers(-5000, 5000, 2500)
    pos = rng.random(2500) < 0.01
    r[pos] = rng.integers(1 << 56, 1 << 62, int(pos.sum()))
    out.append(F._opened(r.astype(np.int64)))
    out.append(F._opened(np.cumsum(r).astype(np.int64)))
    # zero runs into every sink, orders 0..2, dense (mostly nonzero) and sparse
    for dt in ("int8", "int16", "int32", "int64", "float16", "float32", "float64"):
        for order, share in ((0, 0.5), (1, 0.35), (1, 0.85), (2, 0.6)):
            d = rng.integers(-40, 40, 1200) * (rng.random(1200) >= share)
            kk = d
            for _ in range(order):
                kk = np.cumsum(kk)
            if np.dtype(dt).kind == "f":
                bits = np.dtype(dt).itemsize * 8
                u = (kk % (1 << min(bits - 2, 40))).astype(np.uint64) + (1 << (bits - 3))
                x = u.astype(np.dtype(f"u{np.dtype(dt).itemsize}")).view(dt)
            else:
                info = np.iinfo(dt)
                x = np.clip(kk - (1 << min(info.bits - 2, 40)), info.min, info.max).astype(dt)
            out.append(_runs_forced(x))
    # F32 affine with a value table and a zero-run residual (membrane's kind)
    m = (np.round(np.cumsum(rng.normal(0, 2, 2000))) * 0.0625 - 65.0).astype(np.float32)
    m = m.astype(np.float64)
    m[rng.integers(0, 2000, 15)] += 1e-3  # off the grid: residuals
    out.append(encode(m))
    out.append(encode(load_series("payerne_temp_C")[:3000]))  # a decimal value table
    for name, n in (("wind_farm_power_MW", 2500), ("membrane_potential_f32", 3000),
                    ("pv_system50_ac_power_W", 3000), ("pv_system4_module_temp_C", 3000)):
        p = _CORPUS / f"{name}.npy"
        if p.exists():
            s = np.load(p)
            out.append(F._opened(s[:n]))
            out.append(encode(s[:n]))
    return out


def main(argv: list[str] | None = None) -> int:
    F.seeds = seeds  # (the v3 tool's workers read their pool from F.seeds)
    return F.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
