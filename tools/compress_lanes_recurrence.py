"""The predictor recurrence alone, one lane (format v2) against eight lanes (format v3), on
the corpus series whose frames have lanes (docs/compress/speed.md, "Predictor lanes").

For each series, the first block's predictor (as the encoder chose it) is applied to the
block's j, and ``ekz2_unpredict`` (one lane: the serial recurrence) and
``ekz2_unpredict_lanes_jt`` (eight lanes: the recurrence alone, in place on the interleaved
layout, on each kernel the CPU has: AVX-512, AVX2, scalar) rebuild j from the residuals;
"8 lanes, all" is ``ekz2_unpredict_lanes`` (the residuals put into the interleaved layout,
the recurrence, the values gathered back: the whole block's arrays, 1.5 MB, pass through
L2, where the block decoder works on 16 KB at a time).  The figure is the best of
``--rounds`` calls, in ns a value of CPU time (``time.thread_time``; the layout is copied
back before each lanes call, outside the timing), calls interleaved.  Usage::

    python tools/compress_lanes_recurrence.py [--rounds 200] [--data DIR] [names...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgekit import _backend  # noqa: E402
from edgekit.compress import _v2  # noqa: E402
from edgekit.compress import codec as C  # noqa: E402

_SERIES = ["bitalino_ecg_adc", "heartpy_ppg_adc", "iers_length_of_day_excess_s",
           "knet_akt013_accel_ew_counts", "seismic_ch_balst_lhe_counts",
           "seismic_ii_tly_bhz_tohoku_counts", "seismic_iu_anmo_lhz_counts",
           "seismic_nz_crlz_hhz_counts", "yosemite_air_temp_C"]


def _predictor(x: np.ndarray) -> tuple[np.ndarray, list[int], list[int], int] | None:
    """(j, lags, coefs, shift) of the first block of x's frame, when its main stream is a
    predictor's (integer or decimal model)."""
    blk = C._encode_block(np.ascontiguousarray(x[: C.BLOCK_LEN]), -1.0, 5)
    head = blk[0]
    if head & 0x18 != 0x18 or head & 7 not in (C._INT, C._DEC):
        return None
    rd = C._Reader(blk, 1, len(blk))
    d = rd.u8() if head & 7 == C._DEC else 0
    g, off = (rd.varint(), rd.varint()) if head & C._H_GCD else (1, 0)
    if head & 7 == C._DEC:
        rd.varint()  # the table field (0)
    lags, coefs, shift = _v2.read_descriptor(rd, min(x.size, C.BLOCK_LEN))
    v = x[: C.BLOCK_LEN]
    k = np.round(v.astype(np.float64) * 10.0 ** d).astype(np.int64) if d else v.astype(np.int64)
    j = ((k - off) // g).view(np.uint64)
    return j, lags, coefs, shift


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sensors")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    lib = _backend.lib
    if lib is None:
        print("needs the compiled kernels")
        return 1
    kernels = sorted({lib.ekz2_lanes_kernel(8, _backend.ffi.NULL, 0)} | {1, 0}
                     if lib.ekz2_lanes_kernel(8, _backend.ffi.NULL, 0) else {0}, reverse=True)
    names = {2: "AVX-512", 1: "AVX2", 0: "scalar"}
    print(f"{'series':34} {'n':>6} {'P':>2}  one lane  " +
          "  ".join(f"8 lanes {names[k]:7}" for k in kernels) + "  8 lanes, all  (ns/value)")
    for name in args.names or _SERIES:
        path = args.data / f"{name}.npy"
        if not path.exists():
            continue
        got = _predictor(np.load(path, allow_pickle=False))
        if got is None:
            continue
        j, lags, coefs, shift = got
        n = j.size
        e1 = _v2.predict(j, lags, coefs, shift)
        el, starts = _v2.predict_lanes(j, 8, lags, coefs, shift)
        seg = -(-n // 8)
        last = n - 7 * seg
        layout = np.zeros((seg, 8), dtype=np.uint64)  # the decoder's jt: steps x lanes
        layout[0] = starts
        layout[1:last] = el[: 8 * (last - 1)].reshape(-1, 8)
        layout[last:, :7] = el[8 * (last - 1):].reshape(-1, 7)
        layout = layout.ravel()
        want = np.zeros((seg, 8), dtype=np.uint64)
        for m in range(8):
            want[: seg if m < 7 else last, m] = j[m * seg: (m + 1) * seg]
        jt = layout.copy()
        ptr = _backend.ffi.from_buffer("uint64_t[]", jt)
        lp = _backend.ffi.from_buffer("uint32_t[]", np.array(lags, dtype=np.uint32))
        cp = _backend.ffi.from_buffer("int64_t[]", np.array(coefs, dtype=np.int64))
        best = {"one": 1.0, "all": 1.0} | {k: 1.0 for k in kernels}
        for _ in range(args.rounds):
            t = time.thread_time()
            _v2.unpredict(e1, n, int(j[0]), lags, coefs, shift)
            best["one"] = min(best["one"], time.thread_time() - t)
            t = time.thread_time()
            out = _v2.unpredict_lanes(el, n, 8, starts, lags, coefs, shift)
            best["all"] = min(best["all"], time.thread_time() - t)
            assert out.tobytes() == j.tobytes()
            for k in kernels:
                was = lib.ekz2_lanes_use(k)
                np.copyto(jt, layout)
                t = time.thread_time()
                lib.ekz2_unpredict_lanes_jt(ptr, n, 8, lp, cp, len(lags), shift)
                best[k] = min(best[k], time.thread_time() - t)
                lib.ekz2_lanes_use(was)
                got = jt.reshape(seg, 8)
                assert all(got[: seg if m < 7 else last, m].tobytes()
                           == want[: seg if m < 7 else last, m].tobytes() for m in range(8))
        print(f"{name:34} {n:6d} {len(lags):2d}  {best['one'] / n * 1e9:8.2f}  " +
              "  ".join(f"{best[k] / n * 1e9:15.2f}" for k in kernels) +
              f"  {best['all'] / n * 1e9:13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
