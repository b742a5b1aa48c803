"""The encoder's speed kernels (issue #16: encode at least 1.5x pcodec's speed) give the bits
of their numpy references: long streams (four rANS states, token lookup and computed tokens,
wide extra bits), the gcd split, float bit patterns, the quantizers' fast paths and the
affine-grid search's steps."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekit.compress import _codec_ref as ref
from edgekit.compress import _kernels as K
from edgekit.compress import codec as C
from tests.common import needs_native


@st.composite
def _long_int64s(draw):
    """1,000 to 5,000 values: slow walks, noise across the token lookup's 1024 edge, rare
    huge jumps (extra bits wider than 56), mostly zeros, small and large codes mixed."""
    n = draw(st.integers(1000, 5000))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    kind = draw(st.sampled_from(["walk", "edge", "huge", "zeros", "mixed"]))
    rng = np.random.default_rng(seed)
    if kind == "walk":
        return np.cumsum(rng.integers(-3, 4, n)).astype(np.int64)
    if kind == "edge":
        return rng.integers(-600, 600, n).astype(np.int64) * rng.integers(1, 3, n)
    if kind == "huge":
        k = rng.integers(-50, 50, n).astype(np.int64)
        hit = rng.random(n) < 0.05
        k[hit] = rng.integers(-(2 ** 63), 2 ** 63 - 1, int(hit.sum()), dtype=np.int64)
        return k
    if kind == "mixed":  # codes with and without extra bits switching at random: the
        # tokenizer's branch-free put
        small = rng.random(n) < draw(st.sampled_from([0.5, 0.9]))
        return np.where(small, rng.integers(0, 8, n), rng.integers(100, 2 ** 40, n))
    k = np.zeros(n, dtype=np.int64)
    hit = rng.random(n) < 0.2
    k[hit] = rng.integers(-5, 6, int(hit.sum()))
    return k


@needs_native
@settings(max_examples=60, deadline=None)
@given(_long_int64s(), st.integers(0, 2))
def test_long_streams_native_equal_reference(k, order):
    j = k.view(np.uint64)
    h = K.hist3(j)
    assert np.array_equal(h, ref.hist3(j))
    assert np.array_equal(K.hist1(j), h[:256]) and np.array_equal(K.hist1(j[:7]), ref.hist3(
        j[:7])[:256])
    for o in range(3):  # one order's row alone, on the whole stream and on short prefixes
        for m in (j.size, 0, 1, 2, 3, 8):
            assert np.array_equal(K.hist_order(j[:m], o), ref.hist3(j[:m])[256 * o: 256 * (o + 1)])
    assert K.cost3(h.reshape(3, 256)) == [ref.cost(h[256 * o: 256 * (o + 1)]) for o in range(3)]
    hs = h[256 * order: 256 * (order + 1)]
    if np.count_nonzero(hs) < 2:
        return
    freq = C._normalize(hs)
    cap = 10 * j.size + 64
    blob = K.encode(j, order, freq, -1, cap)
    status, rblob = ref.encode(j, order, freq, -1)
    assert status == ref.OK and rblob == blob
    tok, buf, blen, th = K.tokenize(j, order)
    assert np.array_equal(th, hs)
    assert K.rans(tok, order, freq, buf, blen) == blob
    rh, rm = ref.runs_hist(j, order)
    for sparse in (False, True):
        hh, m = K.runs_hist(j, order, sparse)
        assert m == rm and np.array_equal(hh, rh)


@needs_native
@given(hnp.arrays(np.int64, st.integers(0, 400), elements=st.integers(-1000, 1000)),
       st.integers(2, 2 ** 63 - 1), st.integers(-(2 ** 63), 2 ** 63 - 1),
       st.sampled_from(["grid", "grid", "any"]))
def test_gcd_split_native_equals_reference(q, g, base, kind):
    if kind == "grid":  # base + g * q, wrapping like the int64 values it models
        j = (np.uint64(base % 2 ** 64) + np.uint64(g) * q.view(np.uint64))
    else:
        j = (np.uint64(base % 2 ** 64) + q.view(np.uint64))
    off = int(j.view(np.int64)[0]) % g if j.size else 0
    got, exp = K.gcd_split(j, g, off), ref.gcd_split(j, g, off)
    assert (got is None) == (exp is None)
    if got is not None:
        assert np.array_equal(got, exp)
        assert np.array_equal(np.uint64(off) + np.uint64(g) * got, j)


@needs_native
@given(st.sampled_from(["float32", "float64"]),
       hnp.arrays(np.uint64, st.integers(0, 300)))
def test_sortable_native_equals_reference(dtype, bits):
    x = bits.astype(np.uint32 if dtype == "float32" else np.uint64).view(dtype)  # NaN payloads
    assert np.array_equal(K.sortable(x), ref.sortable(x))


@needs_native
@given(hnp.arrays(np.float32, st.integers(0, 300), elements=st.floats(width=32)),
       st.integers(-1, 299), st.sampled_from([1e300, -1e39, 0.1, np.nan, 3.4028235677973366e38]))
def test_f32_check_native_equals_reference(x32, at, other):
    x = x32.astype(np.float64)
    if 0 <= at < x.size:
        x[at] = other  # beyond float32's range, between float32 values, or a quiet NaN
    got, exp = K.f32_exact(x), ref.f32_exact(x)
    assert (got is None) == (exp is None)
    if got is not None:
        assert got.tobytes() == exp.tobytes()


_grid_floats = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)


@needs_native
@given(st.lists(_grid_floats, min_size=0, max_size=80), st.floats(0, 1e-3),
       st.floats(0, 1e-2), st.integers(0, 5))
def test_float_gcd_native_equals_reference(d, tol, floor, skips):
    a = np.array(d, dtype=np.float64)
    assert K.float_gcd(a, tol, floor, skips) == ref.float_gcd(a, tol, floor, skips)


@st.composite
def _grid_sample(draw):
    """Distinct sorted values near a grid a + k * b (some off it), counts, rounding
    half-intervals, and a step guess near b."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    b = draw(st.sampled_from([0.1, 10 / 4095, 1 / 3, 0.0033333333333333335, 2.0 ** -7, 7.0]))
    a = draw(st.sampled_from([0.0, -0.0, 21.39, -0.6752136945724487, 1e3]))
    k = rng.integers(-3000, 3000, draw(st.integers(3, 1500)))
    x = (a + k * b).astype(dtype)
    off = rng.random(x.size) < draw(st.sampled_from([0.0, 0.01, 0.2]))
    x[off] += (rng.random(int(off.sum())) * b).astype(dtype)
    u, counts = np.unique(x.astype(np.float64), return_counts=True)
    half = np.spacing(np.abs(u.astype(dtype))).astype(np.float64) / 2
    b0 = b * draw(st.sampled_from([1.0, 1.0 + 1e-9, 0.5, 2.0]))
    return u, counts.astype(np.int64), half, b0, dtype


@needs_native
@settings(max_examples=80, deadline=None)
@given(_grid_sample(), st.sampled_from([0.001, 0.01, 0.05]), st.sampled_from([8, 16, 64]),
       st.sampled_from([2, 64, 256, 1024]))
def test_grid_search_kernels_native_equal_reference(sample, frac, offn, sweep):
    u, counts, half, b0, dtype = sample
    assert K.grid_origin(u, counts, half, b0, frac, offn, sweep) == ref.grid_origin(
        u, counts, half, b0, frac, offn, sweep)
    tol = float(np.max(np.abs(u))) * float(np.finfo(dtype).eps) * 64
    for floor in (tol * 16, 0.0):
        assert np.array_equal(K.common_gaps(u, floor, tol, 64),
                              ref.common_gaps(u, floor, tol, 64))
    ux = u.astype(dtype)
    steps = np.array([b0 * (1 + e) for e in (-1e-12, 0.0, 1e-12, 1e-3)])
    w = counts.astype(np.float64)
    for a in (0.0, float(u[0]), -0.0):
        got, exp = K.grid_costs(ux, w, a, steps, frac), ref.grid_costs(ux, w, a, steps, frac)
        assert np.array_equal(got[0], exp[0]) and np.array_equal(got[1], exp[1])


@needs_native
@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["float32", "float64"]), st.integers(1500, 4000),
       st.integers(0, 2 ** 32 - 1), st.sampled_from([0, 1, 2]),
       st.sampled_from(["exact", "late_miss", "nan", "far"]))
def test_long_quantizer_paths_native_equal_reference(dtype, n, seed, d, kind):
    # blocks past the exact path's 1024-value check, the affine pass without the carried
    # fallback (and with it: NaN, values beyond 2**51 steps), residuals in one pass
    rng = np.random.default_rng(seed)
    x = (np.cumsum(rng.integers(-20, 21, n)) / 10.0 ** d).astype(dtype)
    if kind == "late_miss":
        x[-rng.integers(1, 50)] += np.array(1e-3, dtype=dtype)
    elif kind == "nan":
        x[rng.integers(0, n)] = np.nan
    elif kind == "far":
        x[rng.integers(0, n)] = np.array(1e30, dtype=dtype)
    for mode, p, a, b in ((0, 10.0 ** d, 0.0, 1.0), (1, 1.0, 0.05, 10.0 ** -d),
                          (1, 1.0, -3.0, 2.0 / 3.0)):
        k, r, nz, krange = K.quant(x, mode, p, a, b, -1.0)
        rk, rr, rnz = ref.quant(x, mode, p, a, b, -1.0)
        assert np.array_equal(k, rk) and np.array_equal(r, rr) and nz == rnz
        assert krange == (int(rk.min()), int(rk.max()))


@needs_native
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 2 ** 62), st.integers(0, 2 ** 32 - 1))
def test_distinct_counts_native_equal_numpy(n, spread, seed):
    """The dictionary estimate's distinct values and singleton / doubleton counts
    (ekz2_distinct_sorted) against numpy's."""
    from edgekit import _backend
    from edgekit.compress import _v2

    rng = np.random.default_rng(seed)
    a = rng.integers(-spread, spread, n, dtype=np.int64) if n else np.zeros(0, np.int64)
    if n > 10:
        a[rng.integers(0, n, n // 3)] = a[0]  # repeats
    u, f1, f2 = _v2._distinct_counts(a)
    want, counts = np.unique(a, return_counts=True)
    assert np.array_equal(u, want)
    assert (f1, f2) == (int(np.sum(counts == 1)), int(np.sum(counts == 2)))
    lib = _backend.lib
    try:  # the numpy path (no kernels) gives the same
        _backend.lib = None
        u2, g1, g2 = _v2._distinct_counts(a)
    finally:
        _backend.lib = lib
    assert np.array_equal(u2, want) and (g1, g2) == (f1, f2)
