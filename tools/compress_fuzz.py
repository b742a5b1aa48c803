"""Fuzz edgekit.compress's decoders: damaged frames must raise CorruptDataError, nothing else.

    python tools/compress_fuzz.py --count 1000000 --workers 2

Seeds are real frames (shipped series, every dtype, lossy frames, multi-block frames,
timestamp frames, (timestamps, values) records, frame concatenations).  Each input is a
seed damaged one of several ways (truncation, bit flips, byte overwrites, insertions,
deletions, splices of two seeds, random bytes, header fields set to extremes).  Half of
the damaged frames get their CRC-32 recomputed, so that the damage reaches the block and
entropy-stream parsers instead of stopping at the checksum.

Every input goes to decode / decode_stream / decode_series / decode_timestamps.  Allowed
outcomes: a decoded array, or CorruptDataError (ChecksumError, FormatVersionError).  Anything
else is a failure, saved to --out.  Also reported: the slowest input and the largest
output/input size ratio (a short blob must not decode to a huge array).
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

from edgekit.compress import (  # noqa: E402
    decode,
    decode_series,
    decode_stream,
    decode_timestamps,
    encode,
    encode_series,
    encode_timestamps,
)
from edgekit.compress.codec import BLOCK_LEN, MAGIC  # noqa: E402
from edgekit.data import list_series, load_series  # noqa: E402
from edgekit.errors import CorruptDataError  # noqa: E402


def seeds() -> list[bytes]:
    rng = np.random.default_rng(1234)
    out: list[bytes] = []
    for name in list_series():
        x = load_series(name)[:3000]
        out += [encode(x), encode(x.astype(np.float32)), encode(x, tolerance=0.01)]
    x = load_series("payerne_ghi_Wm2")
    out.append(encode(x[: BLOCK_LEN + 500]))  # two blocks, zero-run streams
    out.append(encode(load_series("payerne_pressure_hPa")[:5000]))
    for dt in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        info = np.iinfo(dt)
        v = rng.integers(info.min, info.max, size=200, dtype=dt, endpoint=True)
        out += [encode(v), encode(np.cumsum(rng.integers(-3, 4, 500)).astype(dt))]
    out.append(encode(rng.random((7, 9)).astype(np.float16)))
    out.append(encode(np.asfortranarray(rng.random((20, 3)))))
    out.append(encode(np.array([np.nan, -0.0, np.inf, 5e-324, 1e308])))
    out.append(encode(np.zeros(0)))
    out.append(encode(rng.random(100) > 0.5))
    ts = 1_700_000_000 * 10**9 + np.arange(2000, dtype=np.int64) * 10**9
    ts += rng.integers(-10**6, 10**6, 2000)
    out.append(encode_timestamps(ts))
    out.append(encode_series(ts, load_series("seattle_temp_F")[:2000]))
    out.append(encode(np.arange(10.0)) + encode(np.linspace(0, 1, 50)))
    # format v2: dictionary and predictor blocks (the golden frames are real series)
    out += [p.read_bytes() for p in sorted((ROOT / "tests" / "golden" / "v2").glob("*.ekz"))]
    # format v3: stream lanes (kind 4) and predictor lanes (eight, five; LPC, lookback,
    # dictionary indices) in the golden frames below 15 kB, and a short one
    out += [p.read_bytes() for p in sorted((ROOT / "tests" / "golden" / "v3").glob("*.ekz"))
            if p.stat().st_size < 15000]
    out.append(encode(np.cumsum(rng.integers(-3, 4, 4100)).astype(np.int16)))
    levels = rng.choice(np.array([0.0, -0.0, 1.5, np.nan, 21.25, 1e-9]), 600)
    out.append(encode(levels))
    out.append(encode(rng.choice(np.array([-7, 3, 90, 2**40]), 500)))
    chans = [load_series(n)[:700] for n in ("payerne_temp_C", "payerne_ghi_Wm2")]
    out.append(encode(np.stack(chans, 1).ravel()))  # lookback
    return out


def _refresh_crc(b: bytes) -> bytes:
    if len(b) < 8:
        return b
    return b[:-4] + struct.pack("<I", zlib.crc32(b[:-4]))


def mutate(blob: bytes, other: bytes, rng: np.random.Generator) -> bytes:
    n = len(blob)
    kind = int(rng.integers(0, 9))
    b = bytearray(blob)
    if kind == 0 and n:
        return bytes(b[: int(rng.integers(0, n))])
    if kind == 1 and n:
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(0, n))] ^= 1 << int(rng.integers(0, 8))
    elif kind == 2 and n:
        for _ in range(int(rng.integers(1, 6))):
            b[int(rng.integers(0, n))] = int(rng.integers(0, 256))
    elif kind == 3:
        pos = int(rng.integers(0, n + 1))
        b[pos:pos] = rng.bytes(int(rng.integers(1, 9)))
    elif kind == 4 and n:
        pos = int(rng.integers(0, n))
        del b[pos: pos + int(rng.integers(1, 9))]
    elif kind == 5:
        cut = int(rng.integers(0, n + 1))
        return bytes(b[:cut]) + other[int(rng.integers(0, len(other) + 1)):]
    elif kind == 6:
        return MAGIC + rng.bytes(int(rng.integers(0, 64)))
    elif kind == 7 and n > 16:
        # header and first block fields set to extremes
        pos = int(rng.integers(4, min(n, 40)))
        b[pos] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF]))
    else:
        return rng.bytes(int(rng.integers(0, 2 * n + 2)))
    return bytes(b)


def check(blob: bytes) -> tuple[str | None, float, float]:
    """(failure text or None, seconds, output bytes / input bytes)."""
    worst_ratio = 0.0
    t0 = time.perf_counter()
    for fn in (decode, decode_stream, decode_series, decode_timestamps):
        try:
            res = fn(blob)
        except CorruptDataError:
            continue
        except Exception as err:  # noqa: BLE001 - the point is to catch anything else
            return f"{fn.__name__}: {type(err).__name__}: {err}", time.perf_counter() - t0, 0
        arrays = res if isinstance(res, tuple) else (res,)
        size = sum(a.nbytes for a in arrays)
        worst_ratio = max(worst_ratio, size / max(len(blob), 1))
    return None, time.perf_counter() - t0, worst_ratio


def worker(args: tuple[int, int, int, str]) -> dict:
    start, count, seed, out = args
    rng = np.random.default_rng([seed, start])
    pool = seeds()
    res = {"count": 0, "failures": 0, "decoded": 0, "max_s": 0.0, "max_ratio": 0.0,
           "examples": []}
    for _ in range(count):
        base = pool[int(rng.integers(0, len(pool)))]
        other = pool[int(rng.integers(0, len(pool)))]
        blob = mutate(base, other, rng)
        if rng.random() < 0.5 and blob[:4] == MAGIC:
            blob = _refresh_crc(blob)
        err, secs, ratio = check(blob)
        res["count"] += 1
        res["max_s"] = max(res["max_s"], secs)
        res["max_ratio"] = max(res["max_ratio"], ratio)
        res["decoded"] += ratio > 0
        if err is not None:
            res["failures"] += 1
            if len(res["examples"]) < 20:
                res["examples"].append(err)
                path = Path(out) / f"fail-{seed}-{start}-{res['count']}.bin"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(blob)
    return res


def run(count: int, seed: int = 0, workers: int = 1, out: str = "fuzz-failures") -> dict:
    chunk = 2000
    jobs = [(s, min(chunk, count - s), seed, out) for s in range(0, count, chunk)]
    if workers > 1:
        with mp.Pool(workers) as p:
            parts = p.map(worker, jobs, chunksize=1)
    else:
        parts = [worker(j) for j in jobs]
    total = {"count": 0, "failures": 0, "decoded": 0, "max_s": 0.0, "max_ratio": 0.0,
             "examples": []}
    for r in parts:
        for k in ("count", "failures", "decoded"):
            total[k] += r[k]
        total["max_s"] = max(total["max_s"], r["max_s"])
        total["max_ratio"] = max(total["max_ratio"], r["max_ratio"])
        total["examples"] += r["examples"]
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="fuzz-failures")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    total = run(args.count, args.seed, args.workers, args.out)
    print(f"{total['count']} inputs in {time.perf_counter() - t0:.0f} s: "
          f"{total['failures']} failures, {total['decoded']} decoded without error, "
          f"the rest raised CorruptDataError; slowest input {1e3 * total['max_s']:.1f} ms; "
          f"largest output/input size {total['max_ratio']:.0f}x")
    for e in total["examples"]:
        print("  ", e)
    return 1 if total["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
