"""A fleet archive of real series beside the same archive raw and with zstd: size and speed.

    python tools/fleet_bench.py                                   # the 8 shipped series
    python tools/fleet_bench.py --corpus /path/to/sensors         # every NAME.npy there
    python tools/fleet_bench.py --chunk-len 8192 --rounds 5

Each series is one device (values, plus int64 ns timestamps at its own step with a gateway
clock's jitter of whole milliseconds); three zarr 3 stores of the same layout and chunking
are written: ``edgekit`` (:mod:`edgekit.compress.fleet`), ``zstd-3`` (zarr's bytes codec +
zstd level 3, the usual zarr choice) and ``raw`` (bytes codec only).  Ratio: raw bytes over
the bytes the chunks take in the store (all devices' values; ``geomean``: the geometric mean
over devices of each device's values ratio; ``all``: values and timestamps).  A chunk is
stored whole, so a series shorter than ``chunk_len`` is padded: that is why ``raw`` can take
more bytes than the arrays.  Speeds: MB/s of raw (decoded) bytes per second of
process CPU time (all threads: Dask's workers and zarr's), the median of interleaved rounds,
reading every device with one ``dask.compute`` on the threaded scheduler; writing is timed
the same way.  Needs the [fleet] extra.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# edgekit before zarr (it imports numcodecs past its zfpy version parse); zarr and dask are
# imported where used
from edgekit.compress import fleet  # noqa: E402
from edgekit.data import list_series, load_series  # noqa: E402


def load(corpus: Path | None) -> dict[str, np.ndarray]:
    if corpus is None:
        return {name: load_series(name) for name in list_series()}
    return {p.stem: np.load(p, allow_pickle=False) for p in sorted(corpus.glob("*.npy"))}


def timestamps(n: int, seed: int) -> np.ndarray:
    jitter = np.random.default_rng(seed).integers(-3, 4, n) * 1_000_000
    return 1_464_739_200 * 10**9 + np.arange(n, dtype=np.int64) * 60 * 10**9 + jitter


def write(kind: str, path: Path, series: dict[str, tuple[np.ndarray, np.ndarray]],
          chunk_len: int) -> None:
    import zarr
    from zarr.codecs import BytesCodec, ZstdCodec

    if kind == "edgekit":
        fleet.write_fleet(path, series, chunk_len=chunk_len)
        return
    root = zarr.open_group(path, mode="w")
    compressors = [ZstdCodec(level=3)] if kind == "zstd-3" else None
    for name, (ts, x) in series.items():
        g = root.create_group(name)
        for arr_name, data in (("values", x), ("timestamps", ts)):
            a = g.create_array(arr_name, shape=data.shape, dtype=data.dtype,
                               chunks=(chunk_len, *data.shape[1:]), serializer=BytesCodec(),
                               compressors=compressors, filters=None,
                               config={"write_empty_chunks": True})
            a[...] = data


def read(path: Path, names: list[str]) -> list[np.ndarray]:
    import dask
    import dask.array as da
    import zarr

    root = zarr.open_group(path, mode="r")
    arrays = [da.from_zarr(root[name][a]) for name in names for a in ("values", "timestamps")]
    return list(dask.compute(*arrays, scheduler="threads"))


def stored(path: Path, names: list[str], which: str) -> list[int]:
    import zarr

    root = zarr.open_group(path, mode="r")
    return [root[name][which].nbytes_stored() for name in names]


def main() -> None:
    import dask
    import zarr

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, help="a directory of NAME.npy series")
    ap.add_argument("--chunk-len", type=int, default=fleet.DEFAULT_CHUNK_LEN)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    values = load(args.corpus)
    series = {name: (timestamps(x.shape[0], i), x) for i, (name, x) in enumerate(values.items())}
    names = list(series)
    raw_values = sum(x.nbytes for _, x in series.values())
    raw_all = raw_values + sum(ts.nbytes for ts, _ in series.values())
    kinds = ["edgekit", "zstd-3", "raw"]
    tmp = Path(tempfile.mkdtemp(prefix="fleet_bench_"))
    try:
        wt: dict[str, list[float]] = {k: [] for k in kinds}
        rt: dict[str, list[float]] = {k: [] for k in kinds}
        for r in range(args.rounds):
            for kind in kinds:  # interleaved: every archive in turn, each round
                path = tmp / f"{kind}.zarr"
                shutil.rmtree(path, ignore_errors=True)
                t = time.process_time()
                write(kind, path, series, args.chunk_len)
                wt[kind].append(time.process_time() - t)
                t = time.process_time()
                got = read(path, names)
                rt[kind].append(time.process_time() - t)
                if r == 0:
                    want = [a for name in names for a in (series[name][1], series[name][0])]
                    assert all(g.tobytes() == w.tobytes() for g, w in zip(got, want,
                                                                            strict=True)), kind
        print(f"{len(names)} devices, {raw_values / 1e6:.2f} MB of values + "
              f"{(raw_all - raw_values) / 1e6:.2f} MB of timestamps, chunk_len "
              f"{args.chunk_len}, {args.rounds} rounds, zarr {zarr.__version__}, "
              f"dask {dask.__version__}")
        print(f"{'archive':8} {'values ratio':>12} {'geomean':>8} {'all ratio':>10} "
              f"{'stored MB':>10} {'write MB/s':>11} {'read MB/s':>10}")
        for kind in kinds:
            path = tmp / f"{kind}.zarr"
            per = stored(path, names, "values")
            geo = statistics.geometric_mean(series[n][1].nbytes / b for n, b in zip(
                names, per, strict=True))
            sv = sum(per)
            sa = sv + sum(stored(path, names, "timestamps"))
            w = raw_all / 1e6 / statistics.median(wt[kind])
            rd = raw_all / 1e6 / statistics.median(rt[kind])
            print(f"{kind:8} {raw_values / sv:12.2f} {geo:8.2f} {raw_all / sa:10.2f} "
                  f"{sa / 1e6:10.3f} {w:11.1f} {rd:10.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
