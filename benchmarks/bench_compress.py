"""edgekit.compress against pcodec, zstd and the article's method on the shipped series.

The ratio checks (sizes: exact, no timing noise) and two same-process speed ratios run in
every test run; ``pytest benchmarks/bench_compress.py --benchmark-enable`` prints absolute
times; ``python tools/compress_bench.py --write`` makes the full table in
docs/compress/benchmarks.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edgekit.compress import decode, encode
from edgekit.compress.article import article_compress, article_decompress
from edgekit.data import list_series, load_series

SERIES = "payerne_temp_C"  # 43,200 one-minute readings
_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus"


def _pcodec():
    return pytest.importorskip("pcodec")


def _geomean(values) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(values, dtype=np.float64)))))


@pytest.fixture(scope="module")
def series() -> dict[str, np.ndarray]:
    return {name: load_series(name) for name in list_series()}


def test_lossless_ratio_beats_pcodec_on_every_series(series):
    pcodec = _pcodec()
    ours, theirs = [], []
    for name, x in series.items():
        blob = encode(x)
        assert decode(blob).tobytes() == x.tobytes()
        pc = pcodec.standalone.simple_compress(x, pcodec.ChunkConfig())
        ours.append(x.nbytes / len(blob))
        theirs.append(x.nbytes / len(pc))
        assert len(blob) <= len(pc), f"{name}: {len(blob)} bytes vs pcodec's {len(pc)}"
    assert _geomean(ours) >= 1.15 * _geomean(theirs)


def test_lossless_ratio_beats_the_articles_method(series):
    for name, x in series.items():
        assert len(encode(x)) * 1.5 < len(article_compress(x)), name


# (series, minimum decode ratio, minimum encode ratio) against pcodec, same process, CPU
# time of this thread (a busy neighbour does not inflate it).  Issue #16's target: decode
# >= 1x and encode >= 1.5x pcodec's speed on every series of 5,000 values or more.  Measured
# 2026-12-07 (interleaved medians, 2-core machine): temp decode 1.44x / encode 1.45x,
# pressure 3.3x / 1.35x, ghi 1.17x / 1.1x: encode is below the target since format v2's
# model search joined the encoder.  Decode after the decode round of docs/compress/speed.md:
# temp 1.42x, pressure 3.5x, ghi 1.2x at load 3-4; on the quiet machine (CI, load ~1) the
# same code gave decode temp 1.11x, pressure 3.0x, ghi 0.89x: pcodec gains more than edgekit
# when nothing else shares the caches.  The minima leave about 20-25 % below the quiet
# figures for noise and guard against regressions.
SPEED = [
    ("payerne_temp_C", 0.85, 1.1),
    ("payerne_pressure_hPa", 1.0, 1.0),
    ("payerne_ghi_Wm2", 0.7, 0.8),
]


# Decode only, on more shipped series (issue #16: decode at least as fast as pcodec on every
# series).  Measured (CPU time, interleaved medians, 2-core shared machine, load 3-4) after
# the decode round of docs/compress/speed.md (one C call a frame, the VPCLMULQDQ checksum,
# the recurrence fused with the entropy decoding): ecg_mitdb_mV 1.3-1.46x, seattle_temp_F
# 1.06-1.13x, membrane_potential_f32 0.73-0.79x (three streams per block: affine float32
# values, a residual in zero-run form); on the quiet machine (CI, load ~1) 1.18x, 0.96x and
# 0.67x.  The minima leave about 20-25 % below the quiet figures for noise and guard
# against regressions.
DECODE_SPEED = [
    ("ecg_mitdb_mV", 0.9),
    ("seattle_temp_F", 0.75),
    ("membrane_potential_f32", 0.5),
]


def _decode_against_pcodec(ratio, name: str, minimum: float, inner: int,
                           version: int | None = None) -> None:
    """Decode speed of the shipped series ``name`` (or, with ``version``, of the corpus file
    in tests/data/corpus, whose frame must be of that format version or a later one: a
    version-3 frame holds version-2 blocks, predictors with lanes) against pcodec's."""
    pcodec = _pcodec()
    x = load_series(name) if version is None else np.load(_CORPUS / f"{name}.npy")
    blob = encode(x)
    assert version is None or blob[4] >= version
    pc = pcodec.standalone.simple_compress(x, pcodec.ChunkConfig())
    ratio(f"decode {name[:30]}: edgekit vs pcodec", lambda: decode(blob),
          lambda: pcodec.standalone.simple_decompress(pc), minimum=minimum, inner=inner,
          clock=time.thread_time)


@pytest.mark.parametrize(("name", "dec_min"), DECODE_SPEED)
def test_decode_speed_against_pcodec_more_series(ratio, name, dec_min):
    _decode_against_pcodec(ratio, name, dec_min, inner=20)


# Format-v2 frames (real series in tests/data/corpus, README.md there), decoded by the C
# block decoder since issue #16's v2 decode work.  Measured (CPU time, interleaved medians,
# 2-core shared machine; first v2 decode work -> after it -> after the decode round of
# docs/compress/speed.md): buoy sea temperature (dictionary of 4,095 values) 0.68x -> 1.2x
# -> 1.14x, kitchen temperature (dictionary of 722) 0.99x -> 1.5x -> 1.57x, GOES short-band
# flux (dictionary + predictor) 0.57x -> 0.7x -> 0.84x, IU ANMO seismogram (9-term LPC: the
# serial recurrence and the residual stream bound it) 0.28x -> 0.45x -> 0.49x.  Wall time
# on a loaded machine once gave 0.07x for the seismogram at an unchanged CPU time.  On the
# quiet machine (CI, load ~1) after the decode round: 0.98x, 1.30x, 0.72x, 0.36x.  The
# minima leave about 20-25 % below those for noise and guard against regressions.
DECODE_SPEED_V2 = [
    ("buoy_b01_sea_temp_C", 0.75),
    ("house_kitchen_temp_C", 1.0),
    ("goes15_xrs_short_0p5_4ang_Wm2", 0.55),
    ("seismic_iu_anmo_lhz_counts", 0.28),
]


@pytest.mark.parametrize(("name", "dec_min"), DECODE_SPEED_V2)
def test_decode_speed_against_pcodec_v2_frames(ratio, name, dec_min):
    _decode_against_pcodec(ratio, name, dec_min, inner=10, version=2)


@pytest.mark.parametrize(("name", "dec_min", "enc_min"), SPEED)
def test_decode_speed_against_pcodec(ratio, name, dec_min, enc_min):
    _decode_against_pcodec(ratio, name, dec_min, inner=5)


@pytest.mark.parametrize(("name", "dec_min", "enc_min"), SPEED)
def test_encode_speed_against_pcodec(ratio, name, dec_min, enc_min):
    pcodec = _pcodec()
    x = load_series(name)
    ratio(f"encode {name}: edgekit vs pcodec", lambda: encode(x),
          lambda: pcodec.standalone.simple_compress(x, pcodec.ChunkConfig()),
          minimum=enc_min, inner=3, clock=time.thread_time)


# Encode speed against pcodec on every shipped series of 5,000 values or more, and the two
# real slices in tests/data.  Issue #16's target is 1.5x on every series of 5,000 values or
# more; it is NOT met on most series since format v2's model search (dictionary, LPC,
# lookback) joined the encoder: measured (CPU time, interleaved medians, 2-core machine,
# 2026-12-07) payerne temp 1.45x, pressure 1.35x, ghi 1.1x, seattle 0.44x, ecg 0.56x,
# membrane 0.31x, the pysiology slice 0.37x, the iers slice 0.92x.  The minima sit about 25 %
# under those and guard against regressions only (docs/compress/benchmarks.md has the
# per-series table).
_SLICES = Path(__file__).resolve().parents[1] / "tests" / "data"
ENCODE_SPEED = [
    ("payerne_temp_C", 1.1),
    ("payerne_pressure_hPa", 1.0),
    ("payerne_ghi_Wm2", 0.8),
    ("seattle_temp_F", 0.33),
    ("ecg_mitdb_mV", 0.42),
    ("membrane_potential_f32", 0.22),
    ("slice:pysiology_emg_mV_head16384", 0.27),
    ("slice:iers_length_of_day_excess_s_6144_10240", 0.7),
    # the predictor search in one C call (docs/compress/speed.md), measured 2026-12-07 on
    # tests/data/corpus: bitalino ECG (9-term LPC) 0.47x -> 0.56x, IU ANMO seismogram
    # (50,000 values, LPC) 1.06x -> 1.24x; minima about 25 % under
    ("slice:corpus/bitalino_ecg_adc", 0.42),
    ("slice:corpus/seismic_iu_anmo_lhz_counts", 0.93),
]


@pytest.mark.parametrize(("name", "enc_min"), ENCODE_SPEED)
def test_encode_speed_against_pcodec_on_shipped_series(ratio, name, enc_min):
    pcodec = _pcodec()
    if name.startswith("slice:"):
        x = np.load(_SLICES / f"{name[6:]}.npy")
    else:
        x = load_series(name)
    ratio(f"encode {name[:40]}: edgekit vs pcodec", lambda: encode(x),
          lambda: pcodec.standalone.simple_compress(x, pcodec.ChunkConfig()),
          minimum=enc_min, inner=3, clock=time.thread_time)


def test_encode_speed_against_the_articles_method(ratio):
    x = load_series(SERIES)
    ratio(f"encode {SERIES}: edgekit vs the article's diff+zlib", lambda: encode(x),
          lambda: article_compress(x), minimum=3.0, inner=2,
          clock=time.thread_time)


@pytest.mark.parametrize("codec", ["edgekit", "pcodec", "article", "zstd-3"])
@pytest.mark.parametrize("op", ["encode", "decode"])
def test_codec_speed(benchmark, codec, op):
    x = load_series(SERIES)
    if codec == "edgekit":
        enc, dec = encode, decode
    elif codec == "pcodec":
        pcodec = _pcodec()
        enc = lambda a: pcodec.standalone.simple_compress(a, pcodec.ChunkConfig())  # noqa: E731
        dec = pcodec.standalone.simple_decompress
    elif codec == "article":
        enc, dec = article_compress, article_decompress
    else:
        zstandard = pytest.importorskip("zstandard")
        enc = zstandard.ZstdCompressor(level=3).compress
        dec = zstandard.ZstdDecompressor().decompress
    benchmark.group = f"{op} {SERIES} ({x.nbytes} bytes)"
    blob = enc(x)
    benchmark(enc, x) if op == "encode" else benchmark(dec, blob)
