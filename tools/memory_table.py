"""Print the full bytes-per-reading table of docs/memory.md (every layout at 100,000 and
1,000,000 readings, by tracemalloc and by RSS), each cell measured in a fresh subprocess.

    python tools/memory_table.py            # markdown table on stdout (takes ~1 minute)
    python tools/memory_table.py --sizes 100000
    python tools/memory_table.py --sealed   # each shipped series sealed, both segment codecs
    python tools/memory_table.py --fleet    # 100 sensors x 6 h at 1 Hz, by segment_size
    python tools/memory_table.py --corpus   # every corpus series kept as given, against
                                            # the issue #16 bound (pcodec beside)
    python tools/memory_table.py --corpus edgekit/data/sensors   # another series directory
    python tools/memory_table.py --fixed    # the store's fixed costs: store, channel, segment
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the 41-series corpus, beside the repository when present
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "sensors"
SHIPPED = ROOT / "edgekit" / "data" / "sensors"
sys.path.insert(0, str(ROOT))  # this checkout's edgekit, not an installed one


def _one(layout: str, n: int, method: str) -> float:
    import numpy as np

    from edgekit.memory import measure
    from edgekit.memory._layouts import LAYOUTS, warm_up
    from edgekit.memory._series import readings

    t, v, q = readings("payerne_temp_C")
    ts = t[0] + np.arange(n, dtype=np.int64) * 60 * 10**9
    cols = (ts, np.resize(v, n), np.resize(q, n))
    warm_up()
    _, m = measure(lambda: LAYOUTS[layout](*cols), method=method)
    return m.per(n)


def _sealed_table() -> None:
    import numpy as np

    from edgekit.memory import ReadingStore, _seal_codec, measure
    from edgekit.memory._layouts import warm_up
    from edgekit.memory._series import SERIES, readings

    codecs = {"edgekit.compress": _seal_codec.CODEC_COMPRESS,
              "placeholder (delta+zigzag+zlib)": _seal_codec.CODEC_PLACEHOLDER}
    warm_up()
    print(f"Python {platform.python_version()}; sealed bytes per reading, measured "
          "(tracemalloc), segment_size=4096, float64 values kept as given\n")
    print("| series | readings | jitter | " + " | ".join(codecs) + " |")
    print("|---|---:|---|" + "---:|" * len(codecs))
    totals = {k: [0, 0] for k in codecs}
    for name in SERIES:
        for jitter in (0, 2_000_000):
            t, v, q = readings(name, jitter_ns=jitter)
            row = []
            for label, codec in codecs.items():
                _seal_codec.DEFAULT_CODEC = codec

                def build(cols=(t, v, q)):
                    s = ReadingStore(segment_size=4096)
                    s.extend(*cols)
                    s.seal()
                    return s

                store, m = measure(build)
                assert np.array_equal(store.query().timestamps_ns, t)
                row.append(f"{m.per(t.size):.3f}")
                if not jitter:
                    totals[label][0] += m.held_bytes
                    totals[label][1] += t.size
            print(f"| {name} | {t.size:,} | {'0-2 ms' if jitter else 'none'} | "
                  + " | ".join(row) + " |")
    print("| all, one store per series | " + f"{totals['edgekit.compress'][1]:,} | none | "
          + " | ".join(f"{b / n:.3f}" for b, n in totals.values()) + " |")


def _interval(ns: int) -> str:
    for unit, size in (("week", 7 * 86_400 * 10**9), ("day", 86_400 * 10**9),
                       ("h", 3600 * 10**9), ("min", 60 * 10**9), ("s", 10**9), ("ms", 10**6)):
        if ns >= size and ns % size == 0:
            return f"{ns // size} {unit}"
    return f"{ns / 1e9:.4g} s"


def _corpus_table(directory: Path | None) -> None:
    """Every series of a directory appended as given, measured hot and sealed (tracemalloc,
    after a warm-up run of the same build), beside pcodec's bytes per value."""
    from edgekit.memory import _corpus
    from edgekit.memory._layouts import warm_up

    directory = directory or (CORPUS if CORPUS.is_dir() else SHIPPED)
    names = _corpus.series_names(directory)
    warm_up()
    import numpy as np

    print(f"Python {platform.python_version()}, numpy {np.__version__}; {len(names)} series "
          f"of {directory}; bytes per reading (timestamps and qualities included), measured "
          f"with tracemalloc after a warm-up run; sealed: segment_size="
          f"{_corpus.SEGMENT_SIZE}, one store per series, all of it counted; bound: "
          f"sealed <= max({_corpus.SEALED_BOUND:g}, {_corpus.PCODEC_FACTOR:g} x pcodec + "
          f"{_corpus.PCODEC_SLACK:g}) for float64 series with fixed decimals\n")
    print("| series | given | stored | readings | interval | decimals | hot | sealed | "
          "time / values / quality frames | rest | pcodec B/value | bound | holds |")
    print("|---|---|---|---:|---|---:|---:|---:|---|---:|---:|---:|---|")
    failed = []
    for name in names:
        values, meta = _corpus.load(directory, name)
        f = _corpus.footprint(name, values, meta)
        pc = "n/a" if f.pcodec is None else f"{f.pcodec:.3f}"
        verdict = "" if not f.bound_applies else "yes" if f.holds else "**no**"
        if f.bound_applies and not f.holds:
            failed.append(name)
        print(f"| {name} | {f.given} | {f.stored} | {f.n:,} | {_interval(f.interval_ns)} | "
              f"{'-' if f.decimals is None else f.decimals} | {f.hot:.2f} | {f.sealed:.3f} | "
              f"{f.sealed_timestamps:.3f} / {f.sealed_values:.3f} / {f.sealed_qualities:.3f}"
              f" | {f.overhead:.3f} | {pc} | "
              f"{f'{f.bound:.2f}' if f.bound_applies else ''} | {verdict} |", flush=True)
    print(f"\nbound not met: {', '.join(failed) if failed else 'none'}")


def _fleet_table() -> None:
    """100 channels x 21,600 readings (6 h at 1 Hz; values are the shipped series, one per
    channel in turn, each from its own offset), not sealed by hand: what a gateway holds."""
    import numpy as np

    from edgekit.memory import ReadingStore, measure
    from edgekit.memory._layouts import warm_up
    from edgekit.memory._series import SERIES, readings

    warm_up()
    n, channels = 6 * 3600, 100
    data = []
    for c in range(channels):
        _, v, q = readings(SERIES[c % len(SERIES)])
        off = (c * 7919) % (v.size - n) if v.size > n else 0
        ts = 1_700_000_000 * 10**9 + np.arange(n, dtype=np.int64) * 10**9
        data.append((ts, np.resize(v[off:], n), np.resize(q[off:], n)))
    print(f"Python {platform.python_version()}; {channels} channels x {n:,} readings "
          f"({channels * n:,}), measured (tracemalloc)\n")
    print("| segment_size | held | bytes/reading | hot columns | sealed |")
    print("|---:|---:|---:|---:|---:|")
    for seg in (512, 1024, 4096):
        def build(seg=seg):
            s = ReadingStore(segment_size=seg)
            for c, cols in enumerate(data):
                s.extend(*cols, channels=c)
            return s

        store, m = measure(build)
        st = store.stats()
        print(f"| {seg} | {m.held_bytes / 1e6:.2f} MB | {m.per(channels * n):.2f} | "
              f"{st.hot_nbytes / 1e6:.2f} MB | {st.sealed_nbytes / 1e6:.2f} MB |")


def _fixed_table() -> None:
    """What a store holds besides its segments' bytes (edgekit.memory._fixed)."""
    from edgekit.memory import _fixed
    from edgekit.memory._layouts import warm_up

    warm_up()
    print(f"Python {platform.python_version()}; bytes held beside the segments' bytes, "
          f"measured (tracemalloc), segments of {_fixed.SEG} float64 readings\n")
    print("| fixed cost | bytes |")
    print("|---|---:|")
    for label, value in (
            ("an empty store", _fixed.empty_store()),
            ("a store with one channel and one sealed segment", _fixed.sealed(1, 1)),
            ("each further channel (one sealed segment each)", _fixed.per_channel()),
            ("each further sealed segment, resident", _fixed.per_segment()),
            ("each further segment, spilled", _fixed.per_spilled_segment())):
        print(f"| {label} | {value:,.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--one", nargs=3, metavar=("LAYOUT", "N", "METHOD"), help=argparse.SUPPRESS)
    ap.add_argument("--sealed", action="store_true", help="the per-series sealed table")
    ap.add_argument("--fleet", action="store_true", help="100 sensors x 6 h, by segment_size")
    ap.add_argument("--fixed", action="store_true",
                    help="the store's fixed costs: store, channel, sealed and spilled segment")
    ap.add_argument("--corpus", nargs="?", const="", metavar="DIR",
                    help=f"every series of DIR (default {CORPUS} if present, else the shipped "
                         "ones) kept as given, against the issue #16 bound")
    args = ap.parse_args()
    if args.corpus is not None:
        _corpus_table(Path(args.corpus) if args.corpus else None)
        return
    if args.fleet:
        _fleet_table()
        return
    if args.fixed:
        _fixed_table()
        return
    if args.sealed:
        _sealed_table()
        return
    if args.one:
        print(json.dumps(_one(args.one[0], int(args.one[1]), args.one[2])))
        return
    from edgekit.memory._layouts import LAYOUTS

    def cell(layout: str, n: int, method: str) -> float:
        out = subprocess.run([sys.executable, __file__, "--one", layout, str(n), method],
                             check=True, capture_output=True, text=True).stdout
        return float(json.loads(out))

    sizes = args.sizes
    head = " | ".join(f"{n:,}: tracemalloc | {n:,}: RSS" for n in sizes)
    print(f"Python {platform.python_version()}, numpy "
          f"{__import__('numpy').__version__}, {platform.machine()}; bytes per reading\n")
    print(f"| layout | {head} |")
    print("|---|" + "---:|---:|" * len(sizes))
    for layout in LAYOUTS:
        row = []
        for n in sizes:
            row += [f"{cell(layout, n, 'tracemalloc'):.2f}", f"{cell(layout, n, 'rss'):.2f}"]
        print(f"| {layout} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
