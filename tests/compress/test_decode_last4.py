"""Decode paths of docs/compress/speed.md, "Decode: the last four series, and sanitizers".

* A predictor whose every lag is 8 or more (lookback lags: seattle_temp_F's 24 and 48) runs
  its recurrence eight values at a time (``ekz2_unpred_far``): the kernel against the numpy
  reference on every lag set, term count, shift and span, and frames with such predictors
  (forced, one lane, as seattle's) decoded on every path.
* Regressions for what AddressSanitizer and UndefinedBehaviorSanitizer found in the decoder
  (``tools/compress_sanitize.sh``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.compress import _codec_ref as ref
from edgekit.compress import _v2, encode
from edgekit.compress import codec as C
from tests.common import needs_native

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from compress_paths_exact import paths  # noqa: E402


def _far_case(rng: np.random.Generator, n: int, nterms: int, lag0: int, bits: int):
    lags = sorted(rng.choice(np.arange(lag0, max(lag0 + nterms, n // 2)), size=nterms,
                             replace=False).tolist())
    lags[0] = lag0
    lags = sorted(set(lags))
    coefs = rng.integers(-(2 ** 31), 2 ** 31, len(lags)).tolist()
    if rng.integers(2):  # seattle's kind: small coefficients (2, -1)
        coefs = rng.integers(-3, 4, len(lags)).tolist()
    e = rng.integers(0, 2 ** 63, n - 1, dtype=np.uint64) >> np.uint64(63 - bits)
    return lags, coefs, e


@needs_native
@settings(max_examples=300, deadline=None)
@given(st.integers(8, 40), st.integers(1, 5), st.integers(0, 32), st.integers(0, 2 ** 32),
       st.sampled_from([4, 20, 63]), st.integers(0, 300))
def test_far_lags_unpredict_equals_reference(lag0, nterms, shift, seed, bits, extra):
    """ekz2_unpredict with every lag >= 8: the reference's bits (values wrap modulo 2**64),
    spans of every length past the warm-up (the eight-at-once loop and its scalar tail)."""
    rng = np.random.default_rng(seed)
    n = lag0 + nterms + 1 + extra
    lags, coefs, e = _far_case(rng, n, nterms, lag0, bits)
    if lags[-1] >= n:
        return
    j0 = int(rng.integers(0, 2 ** 64, dtype=np.uint64))
    got = _v2.unpredict(e, n, j0, lags, coefs, shift, "t")
    status, want = ref.unpredict(e, n, j0, lags, coefs, shift)
    assert status == ref.OK and np.array_equal(got, want)


def _forced(x: np.ndarray, monkeypatch, lags, coefs, shift) -> bytes:
    """x encoded with the predictor (lags, coefs, shift) on every block, one lane."""
    with monkeypatch.context() as m:
        m.setattr(C, "_T_LANE_COST", -1.0)  # no lanes: the one-lane recurrence
        m.setattr(_v2, "_pred_search",
                  lambda *a, **k: (0.0, list(lags), list(coefs), shift, None))
        return encode(x)


def _pred_of(blob: bytes) -> tuple[list[int], list[int], int, int]:
    seen = []
    keep = _v2.read_predictor

    def spy(*a, **k):
        seen.append(keep(*a, **k))
        return seen[-1]

    _v2.read_predictor = spy
    try:
        paths(blob)  # (the Python block decoder reads the descriptor)
    finally:
        _v2.read_predictor = keep
    return seen[0]


@needs_native
@pytest.mark.parametrize(("lags", "coefs", "shift"), [
    ([24, 48], [2, -1], 0),      # seattle's
    ([8], [1], 0),               # plain lookback at the smallest far lag
    ([9, 17], [3, -1], 1),       # lags that are not multiples of 8
    ([12, 25, 37], [5, -3, 1], 2),
    ([10, 11, 30, 31], [1, 1, -1, 1], 0),
])
@pytest.mark.parametrize("kind", ["int16", "int64", "decimal"])
@pytest.mark.parametrize("n", [600, 1100, 4101])
def test_far_lag_frames_decode_on_every_path(lags, coefs, shift, kind, n, monkeypatch):
    rng = np.random.default_rng(n + len(lags))
    t = np.arange(n)
    base = np.round(200 * np.sin(2 * np.pi * t / lags[0]) + np.cumsum(rng.normal(0, 3, n)))
    if kind == "int16":
        x = base.astype(np.int16)
    elif kind == "int64":
        x = (base.astype(np.int64) << 40) + rng.integers(-5000, 5000, n)  # past int32
    else:
        x = np.round(base / 10 + rng.integers(-3, 4, n) / 10, 1)
    if lags[-1] >= n // 2:
        pytest.skip("lags past the block")
    blob = _forced(x, monkeypatch, lags, coefs, shift)
    got_lags, got_coefs, got_shift, lanes = _pred_of(blob)
    assert (got_lags, got_coefs, got_shift) == (lags, coefs, shift)
    assert lanes == 0 or (lanes == 8 and len(lags) == 4)  # (the lanes' own cost rule)
    for path, y in paths(blob).items():
        assert y.dtype == x.dtype and y.tobytes() == x.tobytes(), path


@needs_native
@settings(max_examples=120, deadline=None)
@given(st.integers(0, 22), st.integers(1, 51), st.integers(0, 2 ** 32),
       st.sampled_from(["f8", "f4"]), st.integers(1, 700))
def test_decimal_sink_division_gives_the_quotient_bits(d, bits, seed, dt, n):
    """The decimal sinks' k / p without vdivpd (ekz_div_pd: two remainder steps by FMA) give
    the bits of the division on every path: x = k / 10**d as numpy divides, every decimal
    count 0..22 (p = 1e22 is the largest divisor the path takes), k of every magnitude
    below 2**51, float64 and float32 blocks (a decimal block without a value table: the
    Q sinks)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(-(2 ** bits), 2 ** bits, n, dtype=np.int64)
    x = (k / 10.0 ** d).astype(dt)
    blob = encode(x)
    for path, y in paths(blob).items():
        assert y.dtype == x.dtype and y.tobytes() == x.tobytes(), path


@needs_native
def test_decimal_sink_division_on_a_real_series():
    """seattle_temp_F (a decimal predictor block: the lookback lags' loop, then k / 10) and
    a decimal series of every magnitude, bit for bit on every path."""
    from edgekit.data import load_series
    x = load_series("seattle_temp_F")
    for path, y in paths(encode(x)).items():
        assert y.tobytes() == x.tobytes(), path
    rng = np.random.default_rng(7)
    k = (rng.integers(-(2 ** 50), 2 ** 50, 20000) >> rng.integers(0, 50, 20000))
    for d in range(23):
        x = k / 10.0 ** d
        for path, y in paths(encode(x)).items():
            assert y.tobytes() == x.tobytes(), (d, path)
