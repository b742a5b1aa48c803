"""``edgekit demo`` section: the delta kernels on a real sensor series."""

from __future__ import annotations

import time
import zlib
from typing import TextIO

import numpy as np

from edgekit import _backend
from edgekit._demo import DemoRow
from edgekit.compress import _delta_ref
from edgekit.compress.delta import delta_zigzag_decode, delta_zigzag_encode
from edgekit.data import load_series, series_info

SERIES = "payerne_temp_C"


def _best_ms(fn, repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def run(out: TextIO) -> list[DemoRow]:
    info = series_info(SERIES)
    x = load_series(SERIES)
    scale = 10 ** info["decimals_detected"]
    ints = np.rint(x * scale).astype(np.int64)
    exact = bool(np.array_equal(ints / scale, x))
    print(f"  series: {SERIES}: {info['quantity']} in {info['units']}, {x.size} points every "
          f"{info['interval']} ({info['source']})", file=out)
    print(f"  fixed decimal x{scale}: integers reproduce every value exactly: {exact}", file=out)
    for order in (1, 2):
        z = delta_zigzag_encode(ints, order)
        back = delta_zigzag_decode(z, np.int64, order)
        assert np.array_equal(back, ints)
        bits = int(z.max()).bit_length()
        print(f"  delta order {order} + zigzag: max code {int(z.max())} ({bits} bits), "
              f"round trip exact: {np.array_equal(back, ints)}", file=out)
    z = delta_zigzag_encode(ints, 1)
    raw = x.nbytes
    packed = len(zlib.compress(z.astype(np.uint8 if z.max() < 256 else np.uint16).tobytes(), 6))
    article = len(zlib.compress(np.diff(x, prepend=x[0]).tobytes(), 6))
    article_back = np.cumsum(np.frombuffer(zlib.decompress(
        zlib.compress(np.diff(x, prepend=x[0]).tobytes(), 6)), dtype=np.float32))
    print(f"  float64 bytes {raw}; decimal+delta+zigzag then zlib: {packed} bytes "
          f"({raw / packed:.1f}:1), lossless", file=out)
    print(f"  the article's np.diff+zlib: {article} bytes ({raw / article:.1f}:1), but it reads "
          f"back {article_back.size} float32 values for {x.size} inputs (first value lost, "
          f"dtype wrong)", file=out)

    n = 1_000_000
    big = np.resize(ints, n)
    t_ref = _best_ms(lambda: _delta_ref.delta_zigzag_encode(big.view(np.uint64), 1))
    if _backend.is_native():
        t_nat = _best_ms(lambda: delta_zigzag_encode(big, 1))
        speed = f"native {t_nat:.2f} ms vs numpy {t_ref:.2f} ms ({t_ref / t_nat:.1f}x)"
    else:
        speed = f"numpy reference {t_ref:.2f} ms (native kernels not built)"
    print(f"  fused delta+zigzag encode of {n:,} int64: {speed}", file=out)
    return [
        DemoRow("delta+zigzag on " + SERIES, f"lossless, {raw / packed:.1f}:1 with zlib",
                f"{raw / article:.1f}:1, first value lost"),
    ]
