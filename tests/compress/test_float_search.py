"""The float-grid search in one C call (``_native/compress_float.c``, issue #16: encode at
1.5x pcodec's speed on the float series) gives the floats of its numpy reference,
``_codec_ref.affine_guess``, bit for bit: grids of decimal, ADC and rescaled steps in
float32 and float64, with fill values, NaN, infinities, -0.0, continuous noise, huge and
tiny magnitudes, under every value of the search's tuning grid."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.compress import _codec_ref as ref
from edgekit.compress import _kernels as K
from edgekit.compress import codec as C
from edgekit.data import load_series
from tests.common import needs_native

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"

_NAMES = ("_T_GRID_SAMPLE", "_T_GRID_SLACK", "_T_GRID_COARSE", "_T_GRID_GAPS", "_T_GRID_FRAC",
          "_T_GRID_OFF", "_T_GRID_SWEEP", "_T_GRID_STEPS")


def _args(**over) -> tuple:
    v = {n: over.get(n, getattr(C, n)) for n in _NAMES}
    return (v["_T_GRID_SAMPLE"], 2.0 ** v["_T_GRID_SLACK"], 2.0 ** v["_T_GRID_COARSE"],
            v["_T_GRID_GAPS"], v["_T_GRID_FRAC"], v["_T_GRID_OFF"], v["_T_GRID_SWEEP"],
            v["_T_GRID_STEPS"])


def _bits(g: tuple[float, float] | None) -> bytes | None:
    return None if g is None else struct.pack("<dd", *g)


@st.composite
def _series(draw):
    """A block-like float series: a grid a + k*b (some values off it, some not finite),
    or continuous noise, or values spanning many decades."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    n = draw(st.sampled_from([5, 9, 40, 700, 3000, 20000]))
    kind = draw(st.sampled_from(["grid", "grid", "grid", "noise", "decades", "few", "late"]))
    if kind == "grid":
        b = draw(st.sampled_from([0.1, 0.01, 10 / 4095, 1 / 409.5, 1 / 3, 0.0031939110505450944,
                                  2.0 ** -7, 7.0, 1e-9, 3e5, 0.00011111111111111106,
                                  1 / 40.955, 1 / 204.75]))
        a = draw(st.sampled_from([0.0, -0.0, 21.39, -0.6752136945724487, 1e3, -0.9]))
        span = draw(st.sampled_from([3, 50, 3000, 2 ** 20]))
        k = np.cumsum(rng.integers(-2, 3, n)) if draw(st.booleans()) else rng.integers(
            -span, span, n)
        x = (a + k * b).astype(dtype)
    elif kind == "noise":
        x = rng.normal(draw(st.sampled_from([0.0, 20.0, -1e4])), 1.0, n).astype(dtype)
    elif kind == "decades":
        with np.errstate(over="ignore"):
            x = (10.0 ** rng.uniform(-300, 300, n) * rng.choice([-1, 1], n)).astype(dtype)
    elif kind == "few":  # a handful of distinct values
        x = rng.choice(np.array([0.0, 1.5, -2.25, 1e-3], dtype=dtype), n)
    else:  # one decimal, and a value with more past the quantizer's first 1024-value chunk
        x = (rng.integers(-5000, 5000, n) / 10).astype(dtype)
        x[rng.integers(min(n - 1, 1024 + draw(st.integers(0, 3000))), n)] = 1 / 3
    off = rng.random(n) < draw(st.sampled_from([0.0, 0.01, 0.1]))
    x[off] = draw(st.sampled_from([-999.0, 1e30, 0.5]))
    for v in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.0]), max_size=3)):
        x[rng.integers(0, n, max(1, n // 50))] = v
    return x


@needs_native
@settings(max_examples=300, deadline=None)
@given(_series(), st.sampled_from(_NAMES), st.integers(0, 2))
def test_affine_guess_native_equals_reference(x, name, pick):
    """The C search and the numpy reference agree bit for bit, under the defaults and with
    one threshold moved to each of its tuning-grid values."""
    args = _args(**{name: C._TUNING_GRID[name][pick]})
    assert _bits(K.affine_guess(x, *args)) == _bits(ref.affine_guess(x, *args))


@needs_native
@pytest.mark.parametrize("name", ["membrane_potential_f32", "house_kitchen_temp_C",
                                  "pysiology_emg_mV", "pv_system4_module_temp_C",
                                  "pv_system50_ac_power_W", "goes15_xrs_short_0p5_4ang_Wm2"])
def test_affine_guess_native_equals_reference_on_real_series(name):
    """Real blocks, as float64 and as float32, found grids and misses alike."""
    x = np.load(CORPUS / f"{name}.npy", allow_pickle=False)
    for y in (x, x.astype(np.float32)):
        for at in range(0, y.size, 65536):
            b = np.ascontiguousarray(y[at: at + 65536])
            assert _bits(K.affine_guess(b, *_args())) == _bits(ref.affine_guess(b, *_args()))


def test_grid_found_on_real_series():
    """The search finds the ADC step of the membrane recording (1 / 409.5 mV) and the
    EMG gain: the values the float models rely on (fails when the search breaks)."""
    a, b = C._affine_guess(load_series("membrane_potential_f32").astype(np.float32))
    assert abs(1 / b - 409.5) < 1e-3 and math.isfinite(a)
    a, b = C._affine_guess(np.load(CORPUS / "pysiology_emg_mV.npy", allow_pickle=False))
    assert a == 0.0 and abs(b - 0.0031939110505450944) < 1e-15


@needs_native
def test_negative_zero_reads_as_zero():
    """-0.0 and 0.0 are one value to the search (the sort leaves their order open): the
    same grid whichever a sample holds."""
    rng = np.random.default_rng(7)
    x = rng.integers(-40, 40, 3000) * 0.25
    neg = x.copy()
    neg[x == 0] = -0.0
    assert np.signbit(neg).sum() > np.signbit(x).sum()
    for impl in (K.affine_guess, ref.affine_guess):
        assert _bits(impl(x, *_args())) == _bits(impl(neg, *_args())) == _bits((0.0, 0.25))


def test_unique_counts_is_numpys():
    rng = np.random.default_rng(3)
    a = rng.integers(-5, 5, 500) * 0.5
    u, c = ref.unique_counts(a)
    eu, ec = np.unique(a, return_counts=True)
    assert u.tobytes() == eu.tobytes() and np.array_equal(c, ec)


@needs_native
def test_work_size_is_checked():
    """The kernel refuses work arrays smaller than it needs (EKZ_EINVAL), never writes past
    them."""
    from edgekit import _backend

    lib, ffi = _backend.lib, _backend.ffi
    x = np.arange(100, dtype=np.float64)
    iw = ffi.new("size_t *")
    dlen = lib.ekf_guess_work(100, 64, 256, 2, iw)
    work = np.empty(dlen, np.float64)
    iwork = np.empty(iw[0], np.uint64)
    out = ffi.new("double[2]")
    px = ffi.from_buffer("double[]", x)
    pw, pi = ffi.from_buffer("double[]", work), ffi.from_buffer("uint64_t[]", iwork)
    assert lib.ekf_affine_guess_f64(px, 100, 1024, 64.0, 16.0, 64, 0.01, 16, 256, 2, pw, dlen,
                                    pi, iw[0], out) == 1
    assert (out[0], out[1]) == (0.0, 1.0)
    assert lib.ekf_affine_guess_f64(px, 100, 1024, 64.0, 16.0, 64, 0.01, 16, 256, 2, pw,
                                    dlen - 1, pi, iw[0], out) == -1
    assert lib.ekf_affine_guess_f64(px, 100, 1024, 64.0, 16.0, 64, 0.01, 16, 256, 2, pw, dlen,
                                    pi, iw[0] - 1, out) == -1


@needs_native
@settings(max_examples=200, deadline=None)
@given(_series(), st.sampled_from([0.001, 0.01, 0.05]), st.integers(0, 2 ** 32 - 1))
def test_grid_costs_native_equal_reference(x, frac, seed):
    """The step costing with integer counts: numpy's float64 sums, bit for bit (steps near
    the values' own, far off, huge and tiny; origins 0, a value, -0.0)."""
    from edgekit import _backend

    lib, ffi = _backend.lib, _backend.ffi
    fin = x[np.isfinite(x)]
    if fin.size == 0:
        return
    u, counts = ref.unique_counts(fin.astype(np.float64) + 0.0)
    ux = u.astype(x.dtype)
    rng = np.random.default_rng(seed)
    span = float(np.max(np.abs(u))) or 1.0
    steps = np.array([span / 7, span * rng.uniform(1e-6, 1e-2), 1e-300, 1e300, span * 3,
                      float(np.spacing(span))], dtype=np.float64)
    fn, ctype = ((lib.ekf_grid_costs_f64, "double[]") if x.dtype == np.float64
                 else (lib.ekf_grid_costs_f32, "float[]"))
    for a in (0.0, float(u[0]), -0.0, float(u[-1])):
        off, bits = np.empty(steps.size), np.empty(steps.size)
        with np.errstate(all="ignore"):
            exp = ref.grid_costs(ux, counts.astype(np.float64), a, steps, frac)
        fn(ffi.from_buffer(ctype, ux), ux.size, ffi.from_buffer("int64_t[]", counts), a,
           ffi.from_buffer("double[]", steps), steps.size, frac,
           ffi.from_buffer("double[]", off), ffi.from_buffer("double[]", bits))
        assert off.tobytes() == exp[0].tobytes() and bits.tobytes() == exp[1].tobytes()


@given(_series(), st.sampled_from([0, 1, 2, 3, 7, 8, 13]),
       st.sampled_from([(0.0, 1.0), (0.0, 0.1), (21.39, 0.0033333333333333335),
                        (-0.6752136945724487, 0.002442002512058823), (-999.0, 1e-9),
                        (0.0, 0.0031939110505450944)]),
       st.sampled_from([0, 1]), st.sampled_from([-1.0, 0.0, 1e-3, 0.5]))
@settings(max_examples=400, deadline=None)
def test_quant_fast_equals_quant_and_reference(x, d, ab, mode, tol):
    """The one-pass quantizer (decimal 10**d, or affine a + k*b): the k, residuals, count
    and range of ``K.quant`` and of the numpy reference, on grids, noise, far values and
    NaN / infinities (which take the general quantizer)."""
    p, (a, b) = 10.0 ** d, ab
    k, r, nz, kr = K.quant_fast(x, mode, p, a, b, tol, "tq")
    got = (k.copy(), r.copy(), nz, kr)
    ek, er, enz, ekr = K.quant(x, mode, p, a, b, tol, "tq2")
    assert got[0].tobytes() == ek.tobytes() and got[1].tobytes() == er.tobytes()
    assert (got[2], got[3]) == (enz, ekr)
    rk, rr, rnz = ref.quant(x, mode, p, a, b, tol)
    assert got[0].tobytes() == rk.tobytes() and got[1].tobytes() == rr.tobytes()
    assert got[2] == rnz
