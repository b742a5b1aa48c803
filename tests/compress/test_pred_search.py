"""The predictor search in one C call (``ekz2_pred_search``) makes the choice of its
numpy/Python reference (``_v2._pred_search_py``) bit for bit: the same predictor and the
same estimated cost, on every predictor search the encoder runs on the test corpus and on
generated series under every tuning-grid value of the thresholds it reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.compress import _v2, encode
from edgekit.compress import codec as C
from tests.common import needs_native

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"
_THRESHOLDS = ("_T_LPC_MAX", "_T_LPC_PREC", "_T_PRED_MIN_GAIN", "_T_PRED_GAIN",
               "_T_LOOK_MAX", "_T_LOOK_SHARE")


def _searches(x: np.ndarray, monkeypatch) -> list[tuple]:
    """The arguments of every _pred_search call while x is encoded."""
    calls: list[tuple] = []
    real = _v2._pred_search

    def spy(*args):
        calls.append(tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args))
        return real(*args)

    monkeypatch.setattr(_v2, "_pred_search", spy)
    encode(x)
    monkeypatch.undo()
    return calls


def _same(args: tuple) -> tuple | None:
    got, want = _v2._pred_search(*args), _v2._pred_search_py(*args)
    assert (got is None) == (want is None), (got, want)
    if want is not None:
        assert got[:4] == want[:4]
        if want[4] is not None:  # the reference keeps the winner's residuals of js
            np.testing.assert_array_equal(
                _v2.predict(args[0], want[1], want[2], want[3]), want[4])
    return want


@needs_native
def test_corpus_searches_choose_as_the_reference(monkeypatch):
    found = total = 0
    for path in sorted(CORPUS.glob("*.npy")):
        for args in _searches(np.load(path), monkeypatch):
            total += 1
            found += _same(args) is not None
    assert total >= 10 and found >= 5  # the corpus exercises both outcomes


@needs_native
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(600, 30000),
       ar=st.lists(st.floats(-0.9, 0.9), min_size=1, max_size=4),
       period=st.integers(0, 40), grid=st.data())
def test_generated_searches_choose_as_the_reference(seed, n, ar, period, grid):
    rng = np.random.default_rng(seed)
    d = rng.normal(0, 50, n)
    with np.errstate(over="ignore", invalid="ignore"):  # an unstable AR process explodes
        for i in range(len(ar), n):  # an AR process on the first difference
            d[i] += sum(a * d[i - 1 - t] for t, a in enumerate(ar))
        x = np.cumsum(d)
    if period:  # a repeating pattern: the lookback's case
        x = np.tile(x[:period], n // period + 1)[:n] + rng.integers(0, 2, n) * (period % 3)
    x = np.nan_to_num(np.clip(x, -2.0**60, 2.0**60))
    j = np.rint(x).astype(np.int64).view(np.uint64)
    saved = {t: getattr(C, t) for t in _THRESHOLDS}
    try:
        for t in _THRESHOLDS:
            setattr(C, t, grid.draw(st.sampled_from(C._TUNING_GRID[t]), t))
        for order in (0, 1, 2):
            whole = j.size <= 4 * C._SAMPLE_PART * 1.5
            js, run = (j, j.size) if whole else (C._sample(j)[0], C._SAMPLE_PART)
            base = C._cost_bits(C.K.hist3(js)[256 * order: 256 * (order + 1)])
            jsmall, base_small = None, 0.0
            if whole and js.size > 4 * _v2._SMALL_RUN:
                jsmall = _v2._small(js)
                base_small = C._cost_bits(
                    C.K.hist3(jsmall)[256 * order: 256 * (order + 1)]) / jsmall.size
            _same((js, run, order, base, jsmall, base_small, j.size / js.size))
    finally:
        for t, v in saved.items():
            setattr(C, t, v)


@pytest.mark.parametrize("name", ["bitalino_ecg_adc", "heartpy_ppg_adc"])
def test_predictor_search_finds_lpc_on_real_series(name, monkeypatch):
    """(Either backend) the search takes a dense LPC predictor on these series."""
    calls = _searches(np.load(CORPUS / f"{name}.npy"), monkeypatch)
    got = [_v2._pred_search(*a) for a in calls]
    lpc = [g for g in got if g is not None and len(g[1]) > 3 and g[1][-1] == len(g[1])]
    assert lpc


@needs_native
@settings(max_examples=80, deadline=None)
@given(p=st.integers(2, 32), extra=st.integers(0, 600), shift=st.integers(0, 32),
       seed=st.integers(0, 2**32 - 1), small=st.booleans())
def test_dense_predict_equals_reference(p, extra, shift, seed, small):
    """ekz2_predict's dense loop (eight residuals a vector multiply where the CPU has
    AVX-512, a scalar tail) on wrapping values and coefficients: the reference's bits."""
    from edgekit.compress import _codec_ref as ref

    rng = np.random.default_rng(seed)
    n = p + 1 + extra
    j = rng.integers(0, 2**64, n, dtype=np.uint64)
    coefs = (rng.integers(-9, 10, p) if small else rng.integers(-(2**31), 2**31, p)).tolist()
    lags = list(range(1, p + 1))
    status, want = ref.predict(j, lags, coefs, shift)
    assert status == ref.OK
    np.testing.assert_array_equal(_v2.predict(j, lags, coefs, shift), want)
