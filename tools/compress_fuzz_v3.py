"""Differential fuzz of format v3 frames (stream lanes, predictor lanes, both in one block).

    python tools/compress_fuzz_v3.py --count 200000 --workers 2

Seeds: every v3 golden frame, and small frames encoded with the lane thresholds opened so
that one block holds predictor lanes whose residual stream is of kind 4 (also in a
dictionary's index stream, a zero-run body, the residual stream of a grid).  Each input is
a seed damaged with its body length and CRC-32 refitted (so the damage always reaches the
block and stream parsers; a third of it within 80 bytes of a stream's kind byte or a
predictor descriptor): bit flips, bytes set to boundary values, truncation inside the
body, insertions, deletions, random runs.  Every input is decoded on each path:

  fast       codec._decode_fast (one C call for the frame)
  blocks     the C block decoder (ekz_decode_blocks), the fast path off
  python     the Python block decoder over the stream kernels
  portable   the fast path with the lanes' SIMD off (K.lanes_simd(False), ekz2_lanes_use(0))
  reference  the numpy references only (EDGEKIT_BACKEND=reference), on --ref-share of them

Allowed: CorruptDataError, or the same decoded bits on every path; anything else (another
exception, paths that disagree) is a failure, saved to --out.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgekit import _backend  # noqa: E402
from edgekit.compress import _kernels as K  # noqa: E402
from edgekit.compress import _v2, decode, encode  # noqa: E402
from edgekit.compress import codec as C  # noqa: E402
from edgekit.data import load_series  # noqa: E402
from edgekit.errors import CorruptDataError  # noqa: E402

_OPEN = {"_T_LANES_MIN": 16, "_T_LANES_SHARE": 1e9, "_T_LANE_MIN_LEN": 32,
         "_T_LANE_COST": 1e9}


def _opened(x: np.ndarray, nl: int = 8, **kw) -> bytes:
    """x encoded with every lane threshold opened (kind 4 and predictor lanes wherever a
    stream or a predictor block may have them)."""
    keep = {k: getattr(C, k) for k in _OPEN}
    keep_nl = _v2._LANES
    try:
        for k, v in _OPEN.items():
            setattr(C, k, v)
        _v2._LANES = nl
        return encode(x, **kw)
    finally:
        for k, v in keep.items():
            setattr(C, k, v)
        _v2._LANES = keep_nl


def seeds() -> list[bytes]:
    rng = np.random.default_rng(77)
    out = [p.read_bytes() for p in sorted((ROOT / "tests" / "golden" / "v3").glob("*.ekz"))
           if p.stat().st_size < 40000]
    corpus = ROOT.parent / "shared" / "data" / "sensors" / "seismic_iu_anmo_lhz_counts.npy"
    anmo = np.load(corpus) if corpus.exists() else load_series("ecg_mitdb_mV") * 1000
    temp = load_series("payerne_temp_C")
    t = np.arange(3000)
    wave = (np.round(300 * np.sin(t / 17.0)) + np.cumsum(rng.integers(-3, 4, 3000)))
    for nl in (8, 5, 2):
        out.append(_opened(anmo[:1200].astype(np.int32), nl))
        out.append(_opened(wave[: 700 + 300 * nl].astype(np.int16), nl))
    out.append(_opened(temp[:2000]))  # a decimal grid's stream (and a predictor on it)
    out.append(_opened(temp[:2000].astype(np.float32)))
    levels = rng.choice(np.array([0.0, 1.5, 21.25, -3.0, 7.75]), 1500)
    out.append(_opened(np.cumsum(levels)))  # a dictionary's index stream
    out.append(_opened(np.repeat(wave[:300], 5).astype(np.int64)))  # zero runs
    out.append(_opened(wave[:1500] + rng.normal(0, 1e-9, 1500)))  # residual stream
    out.append(_opened(temp[:1500], tolerance=0.01))
    out.append(_opened((wave[:1800] * 3 + 7).astype(np.int64)))  # a common step
    # the fused lanes (docs/compress/speed.md, "Decode: predictor series, fused lanes"):
    # values crossing int32's edge mid-lane, a float32 dictionary's vector gather
    out.append(_opened(anmo[:1600].astype(np.int64) + (1 << 31) + 48000))
    out.append(_opened(np.cumsum(levels).astype(np.float32)))
    return [b for b in out if b[4] == 3]


def _hot(blob: bytes) -> list[int]:
    """Offsets of the stream kind bytes and predictor descriptors of a frame (the Python
    block decoder's reads), where a third of the damage goes."""
    spots: list[int] = []
    body, pred = C._body_decode, _v2.read_predictor

    def spy_body(rd, *a, **k):
        spots.append(rd.pos)
        return body(rd, *a, **k)

    def spy_pred(rd, *a, **k):
        spots.append(rd.pos)
        return pred(rd, *a, **k)

    saved = [(C, "_body_decode", spy_body), (_v2, "read_predictor", spy_pred),
             (C, "_decode_fast", lambda buf, pos: None),
             (K, "decode_blocks", lambda buf, pos, end, blen, out, v=1: (0, pos)),
             (K, "decode_block", lambda *a, **k: False)]
    keep = [getattr(m, a) for m, a, _ in saved]
    try:
        for m, a, v in saved:
            setattr(m, a, v)
        decode(blob)
    finally:
        for (m, a, _), v in zip(saved, keep, strict=True):
            setattr(m, a, v)
    return spots


def _refit(b: bytearray) -> bytes:
    """Body length and CRC-32 made consistent with the (damaged) bytes."""
    if len(b) < 16:
        return bytes(b)
    b[8:12] = struct.pack("<I", len(b) - 12)
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def mutate(blob: bytes, rng: np.random.Generator, hot: list[int] | None = None) -> bytes:
    b = bytearray(blob[:-4])  # the CRC is refitted
    n = len(b)
    lo = 12
    for _ in range(int(rng.integers(1, 3))):
        kind = int(rng.integers(0, 7))
        pos = int(rng.integers(lo, max(n, lo + 1)))
        if hot and rng.random() < 0.33:  # a stream header or predictor descriptor
            pos = min(hot[int(rng.integers(0, len(hot)))] + int(rng.integers(0, 80)), n)
        if kind == 0 and pos < n:
            b[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1 and pos < n:
            b[pos] = int(rng.choice([0, 1, 2, 3, 4, 7, 8, 15, 16, 64, 65, 0x7F, 0x80, 0xFF]))
        elif kind == 2:
            del b[pos:]
        elif kind == 3:
            b[pos:pos] = rng.bytes(int(rng.integers(1, 5)))
        elif kind == 4:
            del b[pos: pos + int(rng.integers(1, 5))]
        elif kind == 5 and pos < n:
            k = int(rng.integers(1, 17))
            b[pos: pos + k] = rng.bytes(len(b[pos: pos + k]))
        else:  # a near-boundary multi-byte value (a varint, u32) at pos
            v = int(rng.choice([0, 1, 255, 256, 4095, 4096, 65535, 65536, 2**31, 2**32 - 1]))
            b[pos: pos + 4] = struct.pack("<I", v)[: len(b[pos: pos + 4])]
        n = len(b)
    return _refit(b + b"\0\0\0\0")


def _outcome(blob: bytes) -> str:
    try:
        arr = decode(blob)
    except CorruptDataError:
        return "corrupt"
    except Exception as err:  # noqa: BLE001 - the point is to catch anything else
        return f"ERROR {type(err).__name__}: {err}"
    return "ok " + str(arr.dtype) + " " + str(arr.shape) + " " + \
        str(zlib.crc32(arr.tobytes()))


def paths(blob: bytes, reference: bool) -> dict[str, str]:
    got = {"fast": _outcome(blob)}
    saved = [(C, "_decode_fast"), (K, "decode_blocks"), (K, "decode_block"),
             (_backend, "lib")]
    keep = [getattr(m, a) for m, a in saved]
    lib = _backend.lib
    try:
        if lib is not None:
            simd, kern = K.lanes_simd(False), lib.ekz2_lanes_use(0)
            try:
                got["portable"] = _outcome(blob)
            finally:
                K.lanes_simd(simd)
                lib.ekz2_lanes_use(kern)
        C._decode_fast = lambda buf, pos: None
        got["blocks"] = _outcome(blob)
        K.decode_blocks = lambda buf, pos, end, blen, out, v=1: (0, pos)
        K.decode_block = lambda *a, **k: False
        got["python"] = _outcome(blob)
        if reference:
            _backend.lib = None
            got["reference"] = _outcome(blob)
    finally:
        for (m, a), v in zip(saved, keep, strict=True):
            setattr(m, a, v)
    return got


def worker(args: tuple[int, int, int, float, str]) -> dict:
    start, count, seed, ref_share, out = args
    rng = np.random.default_rng([seed, start])
    pool = _POOL
    res = {"count": 0, "failures": 0, "decoded": 0, "reference": 0, "max_s": 0.0,
           "examples": []}
    for _ in range(count):
        i = int(rng.integers(0, len(pool)))
        blob = mutate(pool[i], rng, _HOT[i])
        ref = bool(rng.random() < ref_share)
        t0 = time.perf_counter()
        got = paths(blob, ref)
        res["max_s"] = max(res["max_s"], time.perf_counter() - t0)
        res["count"] += 1
        res["reference"] += ref
        vals = set(got.values())
        res["decoded"] += got["fast"] != "corrupt"
        if len(vals) != 1 or any(v.startswith("ERROR") for v in vals):
            res["failures"] += 1
            if len(res["examples"]) < 20:
                res["examples"].append(repr(got))
                path = Path(out) / f"v3fail-{seed}-{start}-{res['count']}.bin"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(blob)
    return res


_POOL: list[bytes] = []
_HOT: list[list[int]] = []


def _init() -> None:
    _POOL[:] = seeds()
    _HOT[:] = [_hot(b) for b in _POOL]


def run(count: int, seed: int = 0, workers: int = 1, ref_share: float = 0.2,
        out: str = "fuzz-failures") -> dict:
    chunk = 1000
    jobs = [(s, min(chunk, count - s), seed, ref_share, out) for s in range(0, count, chunk)]
    if workers > 1:
        with mp.Pool(workers, initializer=_init) as p:
            parts = p.map(worker, jobs, chunksize=1)
    else:
        _init()
        parts = [worker(j) for j in jobs]
    total = {"count": 0, "failures": 0, "decoded": 0, "reference": 0, "max_s": 0.0,
             "examples": []}
    for r in parts:
        for k in ("count", "failures", "decoded", "reference"):
            total[k] += r[k]
        total["max_s"] = max(total["max_s"], r["max_s"])
        total["examples"] += r["examples"]
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--ref-share", type=float, default=0.2)
    ap.add_argument("--out", default="fuzz-failures")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    total = run(args.count, args.seed, args.workers, args.ref_share, args.out)
    print(f"{total['count']} v3 inputs in {time.perf_counter() - t0:.0f} s "
          f"({total['reference']} also on the numpy reference): {total['failures']} failures, "
          f"{total['decoded']} decoded, the rest CorruptDataError on every path; slowest "
          f"input {1e3 * total['max_s']:.1f} ms (all paths)")
    for e in total["examples"]:
        print("  ", e)
    return 1 if total["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
