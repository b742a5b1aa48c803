"""Print the full bytes-per-reading table of docs/memory.md (every layout at 100,000 and
1,000,000 readings, by tracemalloc and by RSS), each cell measured in a fresh subprocess.

    python tools/memory_table.py            # markdown table on stdout (takes ~1 minute)
    python tools/memory_table.py --sizes 100000
    python tools/memory_table.py --sealed   # each shipped series sealed, both segment codecs
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys


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
          "(tracemalloc), segment_size=4096, float32 values\n")
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--one", nargs=3, metavar=("LAYOUT", "N", "METHOD"), help=argparse.SUPPRESS)
    ap.add_argument("--sealed", action="store_true", help="the per-series sealed table")
    args = ap.parse_args()
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
