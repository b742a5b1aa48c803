"""The codec benchmark table: every shipped series, edgekit.compress beside its peers.

    python tools/compress_bench.py                 # print the table
    python tools/compress_bench.py --write         # and write docs/compress/benchmarks.md

Codecs (all lossless): edgekit.compress (``encode``/``decode``), the article's method
(np.diff + zlib-6, first value stored, float cumsum back), zlib-6, zstd-3 and zstd-19 on the
raw bytes (zstandard), blosc2 with byte shuffle + zstd-5 and bitshuffle + zstd-5, and pcodec
(``pcodec.standalone.simple_compress(arr, pcodec.ChunkConfig())``).  Ratios are against the
float64 bytes; a second table codes the float32 array, for the series whose values are exactly
float32.  Speeds are MB/s of float64 input, the median of interleaved rounds of the timing
thread's CPU time (every codec timed in turn; CPU time, because on a shared machine wall time
mostly measures the neighbours).  Needs the [bench] extra.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgekit import _backend  # noqa: E402
from edgekit.compress import decode, encode  # noqa: E402
from edgekit.compress.article import article_compress, article_decompress  # noqa: E402
from edgekit.data import list_series, load_series  # noqa: E402

Codec = tuple[Callable[[np.ndarray], bytes], Callable[[bytes, np.ndarray], np.ndarray], bool]


def codecs() -> dict[str, Codec]:
    import blosc2
    import pcodec
    import zstandard

    blosc2.set_nthreads(1)  # one thread, like every other codec here
    z3c, z19c = zstandard.ZstdCompressor(level=3), zstandard.ZstdCompressor(level=19)
    zd = zstandard.ZstdDecompressor()

    def raw_back(b: bytes, like: np.ndarray) -> np.ndarray:
        return np.frombuffer(b, dtype=like.dtype)

    def blosc(filt):
        return (lambda x: blosc2.compress2(x, codec=blosc2.Codec.ZSTD, clevel=5, filters=[filt],
                                           typesize=x.dtype.itemsize),
                lambda b, like: np.frombuffer(blosc2.decompress2(b), dtype=like.dtype), True)

    return {
        "edgekit": (lambda x: encode(x), lambda b, like: decode(b), True),
        "article (diff+zlib-6)": (lambda x: article_compress(x, 6),
                                  lambda b, like: article_decompress(b), False),
        "zlib-6": (lambda x: zlib.compress(x.tobytes(), 6),
                   lambda b, like: raw_back(zlib.decompress(b), like), True),
        "zstd-3": (lambda x: z3c.compress(x.tobytes()),
                   lambda b, like: raw_back(zd.decompress(b), like), True),
        "zstd-19": (lambda x: z19c.compress(x.tobytes()),
                    lambda b, like: raw_back(zd.decompress(b), like), True),
        "blosc2 shuffle+zstd": blosc(blosc2.Filter.SHUFFLE),
        "blosc2 bitshuffle+zstd": blosc(blosc2.Filter.BITSHUFFLE),
        "pcodec": (lambda x: pcodec.standalone.simple_compress(x, pcodec.ChunkConfig()),
                   lambda b, like: pcodec.standalone.simple_decompress(b), True),
    }


def _interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each fn, timed in turn round after round.

    The clock is this thread's CPU time (``time.thread_time``), not wall time: on a shared
    machine other processes take the CPU away at random, and wall-clock medians then move by
    several times between runs; CPU time does not count the time this process waits.  Every
    codec here runs single-threaded (blosc2 is set to one thread), so the comparison is fair.
    """
    clock = time.thread_time
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            inner = 1
            t0 = clock()
            fn()
            dt = clock() - t0
            if dt < 5e-3:  # short calls: average enough of them to beat the clock's grain
                inner = max(1, int(5e-3 / max(dt, 1e-6)))
                t0 = clock()
                for _ in range(inner):
                    fn()
                dt = (clock() - t0) / inner
            times[name].append(dt)
    return {k: statistics.median(v) for k, v in times.items()}


def measure(rounds: int = 15, names: list[str] | None = None) -> dict:
    cs = codecs()
    rows: dict = {}
    for series in names or list_series():
        x = load_series(series)
        blobs = {name: c[0](x) for name, c in cs.items()}
        exact = {}
        for name, (_, dec, lossless) in cs.items():
            back = dec(blobs[name], x)
            exact[name] = bool(back.shape == x.shape and back.tobytes() == x.tobytes())
            if lossless and not exact[name]:
                raise AssertionError(f"{name} did not round-trip {series}")
        enc = _interleaved({n: (lambda c=c, x=x: c[0](x)) for n, c in cs.items()}, rounds)
        dec = _interleaved({n: (lambda c=c, b=blobs[n], x=x: c[1](b, x))
                            for n, c in cs.items()}, rounds)
        x32 = x.astype(np.float32)
        f32 = bool(np.array_equal(x32.astype(np.float64), x))
        sizes32 = {n: len(c[0](x32)) for n, c in cs.items() if c[2]} if f32 else {}
        rows[series] = {
            "n": x.size, "bytes": x.nbytes, "f32": f32,
            "size": {n: len(b) for n, b in blobs.items()}, "sizes32": sizes32,
            "enc_s": enc, "dec_s": dec, "exact": exact,
        }
    return rows


def geomean(values) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(list(values), dtype=np.float64)))))


def table(rows: dict) -> str:
    names = list(next(iter(rows.values()))["size"])
    out = []
    out.append("### Lossless ratio against float64 bytes (higher is better)\n")
    out.append("| series | points | " + " | ".join(names) + " |")
    out.append("|---|---:|" + "---:|" * len(names))
    for s, r in rows.items():
        cells = []
        for n in names:
            cell = f"{r['bytes'] / r['size'][n]:.1f}"
            if not r["exact"][n]:
                cell += "*"
            cells.append(cell)
        out.append(f"| {s} | {r['n']} | " + " | ".join(cells) + " |")
    gm = {n: geomean(r["bytes"] / r["size"][n] for r in rows.values()) for n in names}
    out.append("| **geometric mean** | | " + " | ".join(f"**{gm[n]:.1f}**" for n in names)
               + " |")
    out.append("\n\\* not bit-exact: the article's float cumulative sum drifts on some values "
               "(its ratio is shown for comparison; its literal code also loses the first "
               "value and reads float64 input back as float32).\n")
    f32rows = {s: r for s, r in rows.items() if r["f32"]}
    if f32rows:
        n32 = list(next(iter(f32rows.values()))["sizes32"])
        out.append("### Lossless ratio against float32 bytes (series exactly representable in "
                   "float32, coded as float32)\n")
        out.append("| series | " + " | ".join(n32) + " |")
        out.append("|---|" + "---:|" * len(n32))
        for s, r in f32rows.items():
            out.append(f"| {s} | " + " | ".join(
                f"{r['bytes'] / 2 / r['sizes32'][n]:.1f}" for n in n32) + " |")
        out.append("")
    for key, title in (("enc_s", "Encode"), ("dec_s", "Decode")):
        out.append(f"### {title} speed, MB/s of float64 input (median of interleaved rounds)\n")
        out.append("| series | " + " | ".join(names) + " |")
        out.append("|---|" + "---:|" * len(names))
        for s, r in rows.items():
            out.append(f"| {s} | " + " | ".join(
                f"{r['bytes'] / r[key][n] / 1e6:.0f}" for n in names) + " |")
        out.append("")
    out.append("### edgekit against pcodec, same run\n")
    out.append("| series | ratio edgekit / pcodec | decode speed edgekit / pcodec | "
               "encode speed edgekit / pcodec |")
    out.append("|---|---:|---:|---:|")
    for s, r in rows.items():
        out.append(f"| {s} | {r['size']['pcodec'] / r['size']['edgekit']:.2f} | "
                   f"{r['dec_s']['pcodec'] / r['dec_s']['edgekit']:.2f} | "
                   f"{r['enc_s']['pcodec'] / r['enc_s']['edgekit']:.2f} |")
    out.append(f"| **geometric mean** | **{gm['edgekit'] / gm['pcodec']:.2f}** | | |")
    return "\n".join(out)


HEADER = """# edgekit.compress benchmarks

Produced by `python tools/compress_bench.py --write` ({when}; {machine}; Python {py};
{backend} kernels; {rounds} interleaved rounds per figure, timed in CPU time of the timing
thread).  All codecs see the same float64 arrays (`edgekit.data.load_series`), in one
process.  The machine is shared (2 cores, other jobs running): ratios are exact; speeds are
medians of CPU time, which other processes do not inflate the way they inflate wall time.

Reading it: every edgekit figure is lossless and bit-exact (checked in the run).  The
geometric-mean ratio is the headline; pcodec is the strongest peer.  edgekit's decode speed
includes 7-15 us of Python per frame (header, CRC, block parsing), which dominates on the
short series (1,268-12,000 points); the 43,200-point Payerne series show the kernels.  Known
weak spot: `payerne_ghi_Wm2` (irradiance: zero all night, noisy all day) decodes at about
pcodec's speed, not faster (the encoder gives up its 12 % smaller zero-run form, which
decoded 1.5x slower, for the plain one; its ratio stays above pcodec's).  The cold-cache
figures here run below the warm ones of `benchmarks/bench_compress.py` (which times
edgekit and pcodec alternating, without the other codecs in between).

"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write docs/compress/benchmarks.md")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("series", nargs="*", help="only these series")
    args = ap.parse_args(argv)
    rows = measure(args.rounds, args.series or None)
    text = table(rows)
    print(text)
    if args.write:
        head = HEADER.format(when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                             machine=f"{platform.machine()} {platform.processor() or ''}"
                             .strip(), py=platform.python_version(), backend=_backend.NAME,
                             rounds=args.rounds)
        (ROOT / "docs" / "compress" / "benchmarks.md").write_text(head + text + "\n",
                                                                 encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
