"""Error-bounded lossy coding (``encode(x, tolerance=t)``): the bound on every value of every
shipped series at the benchmark's two bounds, on random arrays (half-step values, huge and
tiny magnitudes, NaN and infinities kept exactly), and the encoder's lossy choices doing
what they are for (half-step values without residuals, smooth data on the following grid)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekit import _backend
from edgekit.compress import _codec_ref as ref
from edgekit.compress import _kernels as K
from edgekit.compress import codec as C
from edgekit.compress import decode, encode
from edgekit.data import list_series, load_series, series_info
from edgekit.data._corpus import load_corpus


def _check_bound(x: np.ndarray, y: np.ndarray, t: float) -> None:
    assert y.dtype == x.dtype and y.shape == x.shape
    fin = np.isfinite(x)
    err = np.abs(y[fin].astype(np.float64) - x[fin].astype(np.float64))
    assert err.size == 0 or float(err.max()) <= t
    assert x[~fin].tobytes() == y[~fin].tobytes()  # NaN (payload too) and infinities exact


def _bounds(name: str, x: np.ndarray) -> list[float]:
    """The benchmark's bounds: 5 units of the last decimal (when the series has one) and
    1e-3 of the range (docs/compress/lossy.md)."""
    info = series_info(name)
    d = info.get("decimals_detected", info.get("decimals"))
    out = [] if d is None else [5.0 * 10.0 ** -int(d)]
    return out + [1e-3 * (float(x.max()) - float(x.min()))]


@pytest.mark.parametrize("name", list_series())
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bound_holds_on_every_value_of_every_shipped_series(name, dtype):
    x = load_series(name).astype(dtype)
    for t in _bounds(name, x):
        blob = encode(x, tolerance=t)
        _check_bound(x, decode(blob), t)
        assert len(blob) <= len(encode(x)) + 8  # never worse than lossless (+ the t field)


_TEST_CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"


@pytest.mark.parametrize("s", load_corpus(_TEST_CORPUS), ids=lambda s: s.name)
def test_bound_holds_on_every_value_of_the_test_corpus(s):
    # every source family of the real-series corpus; integer series cast to float64 (as a
    # user who wants them coded lossily would: integer dtypes are always lossless)
    x = s.values if s.values.dtype.kind == "f" else s.values.astype(np.float64)
    d = s.info.get("decimals_detected")
    bounds = [1e-3 * (float(x.max()) - float(x.min()))]
    bounds += [] if d is None else [5.0 * 10.0 ** -int(d)]
    for t in bounds:
        if t > 0:
            _check_bound(x, decode(encode(x, tolerance=t)), t)


@st.composite
def lossy_cases(draw):
    dtype = draw(st.sampled_from(["float32", "float64"]))
    t = draw(st.sampled_from([1e-9, 1e-4, 0.005, 0.05, 0.5, 5.0, 1e6]))
    n = draw(st.integers(1, 400))
    kind = draw(st.sampled_from(["half", "smooth", "noise", "decimal"]))
    if kind == "half":  # odd multiples of t: exactly half a 2t step from the grid
        ints = draw(hnp.arrays(np.int64, n, elements=st.integers(-10**6, 10**6)))
        x = (2 * ints + 1) * t
    elif kind == "smooth":  # slow drift: the prediction-following grid's case
        steps = draw(hnp.arrays(np.float64, n, elements=st.floats(-0.3, 0.3)))
        x = draw(st.floats(-1e4, 1e4)) + np.cumsum(steps) * t
    elif kind == "decimal":  # a decimal lattice whose step divides t (240.35 V at t=0.05)
        ints = draw(hnp.arrays(np.int64, n, elements=st.integers(-10**5, 10**5)))
        x = ints * (t / draw(st.sampled_from([1, 2, 5, 10])))
    else:
        x = draw(hnp.arrays(np.float64, n, elements=st.floats(-1e6, 1e6)))
    scale = draw(st.sampled_from([1.0, 1.0, 1e-30, 1e30]))
    x, t = x * scale, t * scale
    with np.errstate(over="ignore"):  # float32 overflow gives infinities: kept exactly
        x = x.astype(dtype)
    for _ in range(draw(st.integers(0, 3))):  # NaN, infinities, huge and tiny values
        x[draw(st.integers(0, n - 1))] = draw(st.sampled_from(
            [np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-38, -0.0, 5e-324]))
    return x, t


@pytest.mark.filterwarnings("error")
@settings(max_examples=300, deadline=None)
@given(lossy_cases())
def test_bound_holds_on_random_arrays(case):
    x, t = case
    _check_bound(x, decode(encode(x, tolerance=t)), t)


@settings(max_examples=60, deadline=None)
@given(lossy_cases())
def test_following_grid_keeps_the_bound_when_always_tried(case):
    x, t = case
    old = C._T_LOSSY_SMOOTH
    C._T_LOSSY_SMOOTH = float("inf")  # try the following grid on every block
    try:
        _check_bound(x, decode(encode(x, tolerance=t)), t)
        follows = [C._lossy_follow(x, t, order) for order in (1, 2)]
    finally:
        C._T_LOSSY_SMOOTH = old
    for follow in follows:  # codes and residuals decode within the bound by themselves
        if follow is None:
            continue
        g, off = 1, 0
        k = follow.j.view(np.int64)
        if follow.head & C._H_GCD:
            rd = C._Reader(follow.params, 16, len(follow.params))
            g, off = rd.varint(), rd.varint()
        b = np.frombuffer(follow.params[8:16], dtype="<f8")[0]
        with np.errstate(over="ignore"):  # the decoder's arithmetic, overflow and all
            y = ((k.astype(np.float64) * g + off) * b).astype(x.dtype)
        if follow.r is not None:
            y = C._unsortable(C._sortable(y) + follow.r, x.dtype)
        _check_bound(x, y, t)


def test_bound_holds_across_blocks():
    # several full blocks, half-step values and a smooth stretch, float64 and float32
    x = np.concatenate([load_series("payerne_temp_C"), load_series("payerne_pressure_hPa"),
                        load_series("payerne_ghi_Wm2")])
    assert x.size > C.BLOCK_LEN  # two blocks
    for dtype in ("float64", "float32"):
        xd = x.astype(dtype)
        for t in (0.5, 0.05, 5.0):
            _check_bound(xd, decode(encode(xd, tolerance=t)), t)


def test_half_step_values_need_no_residual():
    # a 0.01 V lattice at t = 0.05: a tenth of the values sit exactly half a 0.1 step away,
    # and float rounding puts one side or the other a hair past the bound
    rng = np.random.default_rng(7)
    x = np.round(240.0 + np.cumsum(rng.normal(0, 0.2, 20000)), 2)
    cands = C._lossy_candidates(x, 0.05)
    best = min(cands, key=lambda c: c.cost)
    assert best.r is None or not np.any(best.r)
    plain_k = np.rint(x / 0.1)
    assert np.any(np.abs((plain_k * 0.1) - x) > 0.05)  # the naive grid would break the bound
    _check_bound(x, decode(encode(x, tolerance=0.05)), 0.05)


def test_smooth_series_takes_the_following_grid():
    # a slow oscillation moving a few grid steps per sample: plain rounding jitters between
    # neighbouring grid points, the prediction-following grid keeps order-2 deltas at zero
    # (measured: 4,019 vs 3,197 bytes)
    rng = np.random.default_rng(1)
    i = np.arange(20000)
    x = 100 * np.sin(2 * np.pi * i / 2000) + rng.normal(0, 0.01, i.size)
    old = C._T_LOSSY_SMOOTH
    C._T_LOSSY_SMOOTH = 0.0  # never try it
    try:
        plain = len(encode(x, tolerance=0.1))
    finally:
        C._T_LOSSY_SMOOTH = old
    blob = encode(x, tolerance=0.1)
    _check_bound(x, decode(blob), 0.1)
    assert len(blob) * 1.15 < plain


def test_integer_valued_data_takes_the_odd_integer_step():
    # counts at t = 5: every integer lies within 5 of a multiple of 11, exactly in float
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.integers(-40, 41, 30000)).astype(np.float64)
    blob = encode(x, tolerance=5.0)
    y = decode(blob)
    _check_bound(x, y, 5.0)
    assert struct.pack("<d", 11.0) in blob and np.all(np.fmod(y, 11.0) == 0)
    old = C._integer_valued
    C._integer_valued = lambda v: False
    try:
        assert len(blob) < len(encode(x, tolerance=5.0))  # smaller than the 2t = 10 grid
    finally:
        C._integer_valued = old


@pytest.mark.skipif(_backend.lib is None, reason="needs the compiled kernels")
def test_lossy_frames_are_identical_on_both_backends(monkeypatch):
    xs = [load_series("ecg_mitdb_mV")[:3000], load_series("payerne_temp_C")[:3000]]
    ts = [0.005, 0.5]
    blobs = [encode(x, tolerance=t) for x, t in zip(xs, ts, strict=True)]
    monkeypatch.setattr(_backend, "lib", None)
    assert [encode(x, tolerance=t) for x, t in zip(xs, ts, strict=True)] == blobs


@pytest.mark.skipif(_backend.lib is None, reason="needs the compiled kernels")
@settings(max_examples=200, deadline=None)
@given(lossy_cases(), st.sampled_from([1.0, 1.5, 2.0, 3.0]), st.sampled_from([1, 2]))
def test_follow_kernel_matches_its_reference(case, fine, order):
    x, t = case
    b = 2.0 * t / fine
    assert K.follow(x, b, t, order).tolist() == ref.follow(x, b, t, order).tolist()
