"""Grid detection for float data (format v1 models, no format change): decimals read across
the block, affine grids whose step is an approximate float gcd of the values (not a decimal),
float32 data whose decimal fit is an artefact of its precision, and the common step of float
bits; all on real series.  C kernels against their numpy references."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.compress import _codec_ref as ref
from edgekit.compress import _kernels as K
from edgekit.compress import _v2, decode, encode
from edgekit.compress import codec as C
from edgekit.data import load_series
from tests.common import needs_native

DATA = Path(__file__).resolve().parent.parent / "data"


def _slice(name: str) -> np.ndarray:
    return np.load(DATA / name, allow_pickle=False)


def _heads(blob: bytes, x: np.ndarray) -> list[int]:
    """The head byte of every block of a one-frame blob of 1-D x."""
    _, rd, _, flags, _ = C._frame_at(blob, 0)  # the reader stands after the shape
    if flags & C._F_LOSSY:
        rd.take(8)
    rd.varint()  # block length
    heads = []
    for _ in range(0, x.size, C.BLOCK_LEN):
        size = rd.varint()
        heads.append(blob[rd.pos])
        rd.take(size)
    return heads


def _best(x: np.ndarray) -> C._Candidate:
    cands, _ = C._float_candidates(x, -1.0, 5, x.dtype == np.float64)
    return min(cands, key=lambda c: c.cost)


def test_float_multiplier_is_found_on_emg():
    """EMG counts times a float gain (0.0031939..., no decimal form): the affine model with
    the gain as its step; the bit-pattern model reached 1.6x here."""
    x = _slice("pysiology_emg_mV_head16384.npy")
    blob = encode(x)
    assert decode(blob).tobytes() == x.tobytes()
    # format v2's dictionary of the 125 levels may code it smaller still; the v1 model
    # choice (what a v1 reader gets with v2 off) is the affine grid with the gain as step
    assert all(h & 7 in (C._AFF, _v2.DICT) for h in _heads(blob, x))
    a, b = struct.unpack("<dd", _best(x).params[:16])
    assert abs(b - 0.0031939110505450944) <= 1e-15 and abs(a) < 1
    assert x.nbytes / len(blob) > 12


def test_decimals_are_read_across_the_block():
    """A block whose first 1,500 values carry 6 decimals and the rest 7: the decimal model
    with d = 7 and no residual (the first 64 values alone said 6)."""
    x = _slice("iers_length_of_day_excess_s_6144_10240.npy")
    assert K.find_decimals(x, 64, 12) == 7 and ref.find_decimals(x, 64, 12) == 7
    assert K.find_decimals(x[:1500], 64, 12) == 6
    best = _best(x)
    assert best.head & 7 == C._DEC and best.params == bytes((7,)) and best.r is None
    blob = encode(x)
    assert decode(blob).tobytes() == x.tobytes()
    assert x.nbytes / len(blob) > 4


def test_few_longer_decimals_get_both_exponents_costed():
    """When a few values carry one more decimal than the sample's tolerant fit says (3 % here,
    beyond the 1/64 of residuals a good fit allows), both exponents are costed."""
    x = _slice("iers_length_of_day_excess_s_6144_10240.npy")
    y = np.round(x, 6)
    y[::33] = x[::33]
    cands, _ = C._float_candidates(y, -1.0, 5, True)
    assert {c.params for c in cands if c.head & 7 == C._DEC} == {bytes((6,)), bytes((7,))}
    blob = encode(y)
    assert decode(blob).tobytes() == y.tobytes()
    assert len(blob) <= min(c.cost for c in cands) / 8 + 64


def test_float32_decimal_fit_by_precision_is_no_grid():
    """Float32 ADC readings (10 V / 4095 steps): every float32 below 1 is some k / 10**8, so a
    decimal fit at d = 8 means nothing; the affine grid (step ~ 0.002442) must win."""
    x = load_series("membrane_potential_f32").astype(np.float32)
    assert K.find_decimals(x, 256, 12, 4) == 8  # the artefact is there ...
    best = _best(x)
    assert best.head & 7 == C._AFF  # ... and not taken
    _, b = struct.unpack("<dd", best.params[:16])
    assert abs(b - 10 / 4095) < 1e-9
    blob = encode(x)
    assert decode(blob).tobytes() == x.tobytes()
    assert x.nbytes / len(blob) > 7


def test_grid_survives_fill_values():
    """A few fill values off the grid (-999) do not hide it: they go to the residual stream."""
    x = load_series("membrane_potential_f32")[:8192].astype(np.float32)
    y = x.copy()
    y[::97] = -999.0  # ~1 %
    assert _best(y).head & 7 == C._AFF
    blob = encode(y)
    assert decode(blob).tobytes() == y.tobytes()
    assert y.nbytes / len(blob) > 0.8 * x.nbytes / len(encode(x))


def test_no_grid_on_continuous_data():
    """Float noise has no step: the guess says so instead of inventing a tiny one."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(4096)
    assert C._affine_guess(x) is None
    assert C._affine_guess(x.astype(np.float32)) is None
    # values far below a huge "step" are no multiples of it (k = 0 is the origin only)
    assert C._affine_guess(10.0 ** rng.uniform(-300, 300, 4096)) is None
    assert C._affine_guess(rng.integers(0, 2 ** 63, 4096).view(np.float64)) is None


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_float_bits_with_zero_low_mantissa_use_the_common_step(sign):
    """Float quantisation (low mantissa bits always zero, one sign): the bit-pattern model's
    common step takes the zeros out.  (With both signs the sortable integers of negative
    values end in ones, so no common step exists in format v1: see docs/compress/format.md.)"""
    x = np.sqrt(load_series("payerne_ghi_Wm2")[:20000] + 1.0) * sign  # no grid left
    q = (x.view(np.uint64) & ~np.uint64((1 << 32) - 1)).view(np.float64)
    best = _best(q)
    assert best.head & 7 == C._BITS and best.head & C._H_GCD
    blob = encode(q)
    assert decode(blob).tobytes() == q.tobytes()
    assert len(blob) < 0.75 * len(encode(x))


@given(st.lists(st.one_of(st.integers(-10 ** 7, 10 ** 7).map(lambda v: v / 1000),
                          st.floats(allow_nan=True, allow_infinity=True)),
                min_size=0, max_size=300),
       st.sampled_from(["float32", "float64"]), st.integers(1, 300), st.integers(0, 12),
       st.integers(0, 4))
def test_find_decimals_reference(values, dtype, sample, maxd, allow):
    """The reference on its own: the d it returns fits all but ``allow`` sampled values, and
    no smaller d does."""
    with np.errstate(all="ignore"):
        x = np.array(values, dtype=np.float64).astype(dtype)
    d = ref.find_decimals(x, sample, maxd, allow)
    s = x[ref.sample_positions(x.size, sample)]
    s = s[np.isfinite(s)]

    def misses(e: int) -> int:
        with np.errstate(all="ignore"):
            t = s.astype(np.float64) * 10.0 ** e
            return int(np.count_nonzero(~(np.abs(t) < 2.0 ** 53)
                                        | ((np.rint(t) / 10.0 ** e).astype(x.dtype) != s)))
    if x.size == 0:
        assert d == 0
        return
    assert all(misses(e) > allow for e in range(0, d if d >= 0 else maxd + 1))
    if d >= 0:
        assert misses(d) <= allow


@needs_native
@given(st.lists(st.one_of(st.integers(-10 ** 7, 10 ** 7).map(lambda v: v / 1000),
                          st.integers(-10 ** 9, 10 ** 9).map(lambda v: v / 1e7),
                          st.floats(allow_nan=True, allow_infinity=True)),
                min_size=0, max_size=300),
       st.sampled_from(["float32", "float64"]), st.integers(1, 400), st.integers(0, 22),
       st.integers(0, 8))
def test_find_decimals_native_equal_reference(values, dtype, sample, maxd, allow):
    with np.errstate(all="ignore"):
        x = np.array(values, dtype=np.float64).astype(dtype)
    assert K.find_decimals(x, sample, maxd, allow) == ref.find_decimals(x, sample, maxd, allow)


def test_sample_positions_are_spread_and_in_range():
    for n in (0, 1, 5, 64, 65, 1000, 65536):
        for m in (1, 7, 64, 256):
            p = ref.sample_positions(n, m)
            assert p.size == min(n, m)
            if p.size:
                assert p[0] == 0 and p[-1] < n and np.all(np.diff(p) >= 1)
                assert p[-1] >= n - n // p.size - 1


@st.composite
def grid_arrays(draw):
    """Values on a grid a + k*b (float64 arithmetic, stored as float32 or float64), with
    optional fill values off it and optional float noise of a few units in the last place."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    b = draw(st.floats(1e-12, 1e6, allow_nan=False, allow_infinity=False))
    a = draw(st.one_of(st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False)))
    n = draw(st.integers(8, 3000))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    k = np.cumsum(rng.integers(-3, 4, n)) + draw(st.integers(-10 ** 6, 10 ** 6))
    with np.errstate(all="ignore"):
        x = (a + k * b).astype(dtype)
    if draw(st.booleans()):
        x[rng.integers(0, n, max(1, n // 100))] = draw(st.sampled_from([-999.0, 0.0, np.nan]))
    if draw(st.booleans()):
        it = np.dtype(f"i{x.dtype.itemsize}")
        x = (x.view(it) + rng.integers(-2, 3, n).astype(it)).view(dtype)
    return x


@given(grid_arrays())
def test_grid_guess_is_safe_and_exact_on_generated_grids(x):
    guess = C._affine_guess(x)
    assert guess is None or (np.isfinite(guess[0]) and guess[1] > 0)
    blob = encode(x)
    assert decode(blob).tobytes() == x.tobytes()
    assert len(blob) <= x.nbytes + 64


def test_candidates_of_the_float32_pass_share_no_memory_with_the_float64_ones():
    """Float64 data that is exactly float32 is also modelled as float32; the two passes must
    not reuse each other's work arrays, or a float64 candidate could be written with the
    float32 candidate's integers (silently wrong frames whenever it wins)."""
    hits = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        v = np.round(rng.normal(20, 5, 20000) * 4) / 4  # a decimal grid, float32-exact
        off = rng.random(v.size) < 0.018  # a few off-grid float32 values
        v[off] = rng.normal(20, 5, int(off.sum()))
        x = v.astype(np.float32).astype(np.float64)
        cands, _ = C._float_candidates(x, -1.0, 5, True)
        f64 = [c for c in cands if not c.head & C._H_F32]
        f32 = [c for c in cands if c.head & C._H_F32]
        hits += bool(f64 and f32)
        for a in f64:
            for b in f32:
                assert not np.shares_memory(a.j, b.j)
                if a.r is not None and b.r is not None:
                    assert not np.shares_memory(a.r, b.r)
    assert hits  # the data reaches both passes
