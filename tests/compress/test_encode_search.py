"""The encoder's block-search kernels (docs/compress/speed.md, "Encode: the block search"):
each C kernel gives its numpy reference's result, bit for bit, on the inputs where its fast
paths differ from the plain loop (long inputs, common steps, small value ranges)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.compress import _codec_ref as ref
from edgekit.compress import _kernels as K
from edgekit.compress import _v2
from tests.common import needs_native


@st.composite
def _stepped(draw):
    """int64 values on a common step g from an offset (runs of equal values, occasional
    off-step values, wrapping sums), long enough for several of ekz_gcd's 256-value
    chunks."""
    n = draw(st.integers(0, 2000))
    g = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 8, 10, 12, 100, 1024, 3 ** 20, 2 ** 40,
                              2 ** 62, 2 ** 63 - 25]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    steps = rng.integers(-4, 5, n) * rng.integers(0, 2, n)  # about half of them zero
    with np.errstate(over="ignore"):
        k = np.cumsum(steps.astype(np.int64) * np.int64(g % (1 << 63)))
        k += np.int64(draw(st.integers(-(2 ** 62), 2 ** 62)))
    if n and draw(st.booleans()):  # values off the step, late in the block
        at = rng.integers(n // 2, n, draw(st.integers(1, 3)))
        k[at] += np.int64(draw(st.integers(1, 7)))
    return k


@needs_native
@settings(max_examples=300, deadline=None)
@given(_stepped())
def test_gcd_chunks_equal_reference(k):
    j = k.view(np.uint64)
    assert K.gcd(j) == ref.gcd(j)


@needs_native
@settings(max_examples=200, deadline=None)
@given(st.integers(2, 3000), st.integers(0, 20), st.integers(0, 2 ** 32 - 1),
       st.sampled_from([3, 20, 40, 62]))
def test_autocorr_all_lags_equal_reference(n, p, seed, bits):
    """ekz2_autocorr's one pass over every lag: the reference's sums, bit for bit, for every
    order the search uses (2..8 are unrolled, others take the general loop) and lengths
    around the multiple of four where the tails start."""
    rng = np.random.default_rng(seed)
    k = np.cumsum(rng.integers(-(2 ** bits), 2 ** bits, n, dtype=np.int64) >> 1)
    if p >= n - 1:
        p = max(n - 2, 0)
    r = _v2.autocorr(k, p)
    status, want = ref.autocorr(k, p)
    assert status == ref.OK and r is not None and want is not None
    assert r.tobytes() == want.tobytes()


@needs_native
@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000), st.integers(0, 2 ** 32 - 1),
       st.sampled_from([1, 3, 50, 1000, 4 * 3000, 70000, 2 ** 40]),
       st.integers(-(2 ** 62), 2 ** 62), st.booleans())
def test_distinct_counts_by_counting_equal_sorting(n, seed, span, lo, count):
    """The dictionary estimate's distinct values and once / twice counts: counting over a
    small range (four banks) gives what sorting gives, at every span around the limits."""
    rng = np.random.default_rng(seed)
    a = lo + rng.integers(0, span + 1, n, dtype=np.int64)
    if n > 3 and rng.integers(2):  # runs of one value (the banks' case)
        a[: n // 2] = a[0]
    u, c = np.unique(a, return_counts=True)
    want = (int(np.count_nonzero(c == 1)), int(np.count_nonzero(c == 2)))
    got = _v2._distinct_counts(a, count)
    assert np.array_equal(got[0], u) and got[1:] == want
    b = (a - lo).astype(np.int32).astype(np.int64)  # int32 keys: the narrow sort too
    ub, cb = np.unique(b, return_counts=True)
    for narrow in (False, True):
        got = _v2._distinct_counts(b, count, narrow)
        assert np.array_equal(got[0], ub)
        assert got[1:] == (int(np.count_nonzero(cb == 1)), int(np.count_nonzero(cb == 2)))


@needs_native
def test_search_residuals_are_the_predictors(monkeypatch):
    """ekz2_pred_search hands back the winner's residuals of a whole stream when its work
    array still holds them: they are ekz2_predict's, and the corpus takes that path."""
    from tests.compress.test_pred_search import CORPUS, _searches

    kept = 0
    for path in sorted(CORPUS.glob("*.npy")):
        for args in _searches(np.load(path), monkeypatch):
            got = _v2._pred_search(*args)
            if got is not None and got[4] is not None:
                kept += 1
                assert got[4].flags.owndata  # not the search's work array
                np.testing.assert_array_equal(
                    got[4], _v2.predict(args[0], got[1], got[2], got[3]))
    assert kept >= 1


@needs_native
@settings(max_examples=150, deadline=None)
@given(st.integers(0, 1500), st.integers(0, 2 ** 32 - 1), st.integers(0, 2),
       st.sampled_from([(0, 8), (20, 36), (26, 30), (27, 29), (0, 62), (50, 62)]))
def test_tokenizer_pairs_equal_reference(n, seed, order, widths):
    """ekz_tokenize joins two codes' extra bits into one put when they hold at most 56
    bits together: the reference's bytes, tokens and histogram at widths around that
    limit, at every delta order and odd lengths (the last code alone)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(widths[0], widths[1] + 1, n)
    z = (rng.integers(0, 2 ** 63, n, dtype=np.uint64) >> (63 - np.minimum(bits, 63)).astype(
        np.uint64)) | (np.uint64(1) << np.minimum(bits, 63).astype(np.uint64))
    z[rng.random(n) < 0.3] = 0  # codes without extra bits between them
    e = ((z >> np.uint64(1)) ^ (np.uint64(0) - (z & np.uint64(1))))  # unzigzag: residuals
    j = np.cumsum(e, dtype=np.uint64) if order == 1 else e  # order 1: these are the codes
    tok, buf, blen, h = K.tokenize(j, order)
    rtok, rbytes, rh = ref.tokenize(j, order)
    assert buf[:blen].tobytes() == rbytes
    assert np.array_equal(tok[order:], rtok) and np.array_equal(h, rh)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2 ** 31) + 1, 2 ** 31 - 1), min_size=1, max_size=12),
       st.integers(0, 32), st.sampled_from([0, 8]))
def test_descriptor_reads_back(coefs, shift, lanes):
    """The predictor descriptor (coefficients zigzagged as 2c or -2c - 1) reads back."""
    from edgekit.compress import codec as C

    lags = list(range(1, len(coefs) + 1))
    blob = _v2.descriptor(lags, coefs, shift, lanes)
    rd = C._Reader(blob, 0, len(blob))
    assert _v2.read_predictor(rd, 1 << 20, True) == (lags, coefs, shift, lanes)
    assert rd.pos == len(blob)


@needs_native
@settings(max_examples=150, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 2 ** 32 - 1), st.integers(0, 2),
       st.sampled_from([0.0, 0.002, 0.02, 0.1, 0.5]))
def test_zero_runs_by_groups_equal_reference(n, seed, order, p):
    """The zero-run split and its histogram pass eight zero codes at a time: the
    reference's runs, values and histogram at every sparsity, order and length."""
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random(n) < p, rng.integers(-9, 10, n), 0).astype(np.int64)
    j = codes.copy()
    for _ in range(order):  # codes at this delta order
        j = np.cumsum(j)
    j = j.view(np.uint64)
    runs, vals = K.runs_split(j, order)
    rr, rv = ref.runs_split(j, order)
    assert np.array_equal(runs, rr) and np.array_equal(vals, rv)
    rh, rm = ref.runs_hist(j, order)
    for sparse in (False, True):
        hh, m = K.runs_hist(j, order, sparse)
        assert m == rm and np.array_equal(hh, rh)
