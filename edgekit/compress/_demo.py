"""``edgekit demo`` section: the codec on the shipped sensor series, beside the article's
method (and pcodec, when the [bench] extra is installed)."""

from __future__ import annotations

import time
from typing import TextIO

import numpy as np

from edgekit import _backend
from edgekit._demo import DemoRow
from edgekit.compress import decode, encode
from edgekit.compress.article import article_compress, article_decompress
from edgekit.data import list_series, load_series, series_info

SERIES = "payerne_temp_C"


def _median_ms(fn, repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def _article_literal(x: np.ndarray) -> np.ndarray:
    """The article's decompress as written: float32 readback, first value never stored."""
    import zlib

    blob = zlib.compress(np.diff(x, prepend=x[0]).tobytes(), 6)
    return np.cumsum(np.frombuffer(zlib.decompress(blob), dtype=np.float32))


def run(out: TextIO) -> list[DemoRow]:
    info = series_info(SERIES)
    x = load_series(SERIES)
    blob = encode(x)
    back = decode(blob)
    exact = back.tobytes() == x.tobytes()
    art = article_compress(x)
    art_back = article_decompress(art)
    literal = _article_literal(x)
    print(f"  series: {SERIES}: {info['quantity']} in {info['units']}, {x.size} float64 "
          f"values every {info['interval']} ({info['source']})", file=out)
    print(f"  edgekit.compress: {x.nbytes} -> {len(blob)} bytes = {x.nbytes / len(blob):.1f}:1, "
          f"round trip exact: {exact} (bit for bit)", file=out)
    print(f"  the article's np.diff+zlib (first value stored): {len(art)} bytes = "
          f"{x.nbytes / len(art):.1f}:1, values bit-exact: "
          f"{100 * np.mean(art_back == x):.1f} %", file=out)
    print(f"  the article's code as written reads back {literal.size} float32 values for "
          f"{x.size} inputs; within 0.05 of the input: "
          f"{100 * np.mean(np.abs(literal[:x.size] - x) <= 0.05):.1f} %", file=out)
    lossy = encode(x, tolerance=0.25)
    err = float(np.max(np.abs(decode(lossy) - x)))
    print(f"  with tolerance=0.25 degC: {x.nbytes / len(lossy):.1f}:1, max error {err:.3f}",
          file=out)
    t_enc = _median_ms(lambda: encode(x))
    t_dec = _median_ms(lambda: decode(blob))
    mb = x.nbytes / 1e6
    print(f"  encode {mb / t_enc * 1e3:.0f} MB/s, decode {mb / t_dec * 1e3:.0f} MB/s "
          f"({_backend.NAME} kernels)", file=out)
    try:
        import pcodec

        pb = pcodec.standalone.simple_compress(x, pcodec.ChunkConfig())
        print(f"  pcodec 1.x on the same series: {x.nbytes / len(pb):.1f}:1", file=out)
    except ImportError:
        pass
    ratios, arts = [], []
    for name in list_series():
        s = load_series(name)
        b = encode(s)
        assert decode(b).tobytes() == s.tobytes()
        ratios.append(s.nbytes / len(b))
        arts.append(s.nbytes / len(article_compress(s)))
    g = float(np.exp(np.mean(np.log(ratios))))
    ga = float(np.exp(np.mean(np.log(arts))))
    print(f"  all {len(ratios)} shipped series, lossless, geometric mean: {g:.1f}:1 "
          f"(article's method {ga:.1f}:1)", file=out)
    return [
        DemoRow(f"codec on {SERIES}",
                f"{x.nbytes / len(blob):.1f}:1 lossless, bit-exact {exact}",
                f"{x.nbytes / len(art):.1f}:1; as written: first value lost, float32 garbage"),
        DemoRow(f"codec on {len(ratios)} real series (geo. mean)", f"{g:.1f}:1 lossless",
                f"{ga:.1f}:1 (claimed 6.8:1)"),
    ]
