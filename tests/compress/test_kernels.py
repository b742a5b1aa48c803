"""The block-codec kernels: C and numpy reference give the same bits (kernel by kernel and
for whole frames), and the C decoders refuse inconsistent streams instead of reading past
them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekit import _backend
from edgekit.compress import _codec_ref as ref
from edgekit.compress import _kernels as K
from edgekit.compress import codec as C
from edgekit.data import load_series
from edgekit.errors import CorruptDataError
from tests.common import needs_native


def _int64s():
    return st.one_of(
        hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(-3, 3)),
        hnp.arrays(np.int64, st.integers(0, 300),
                   elements=st.integers(-(2 ** 63), 2 ** 63 - 1)),
        hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(-500, 500)).map(
            lambda a: np.cumsum(a)),
        hnp.arrays(np.int64, st.integers(0, 300),
                   elements=st.sampled_from([0, 0, 0, 0, 1, -1, 7, 2 ** 40])),
    )


@needs_native
@given(_int64s(), st.integers(0, 2))
def test_entropy_kernels_native_equal_reference(k, order):
    j = k.view(np.uint64)
    h = K.hist3(j)
    assert np.array_equal(h, ref.hist3(j))
    hs = h[256 * order: 256 * (order + 1)]
    present = np.flatnonzero(hs)
    if present.size == 0:
        return
    if present.size == 1:
        freq, single = C._EMPTY_FREQ, int(present[0])
    else:
        freq, single = C._normalize(hs), -1
    cap = 10 * j.size + 64
    blob = K.encode(j, order, freq, single, cap)
    status, rblob = ref.encode(j, order, freq, single)
    assert status == ref.OK and rblob == blob
    blen = (int((hs.astype(np.int64) * C._NBITS).sum()) + 7) // 8
    bits, words = blob[:blen], blob[blen:]
    first = [int(v) for v in j[:order]]
    out = K.decode(words, bits, freq, single, order, j.size, first)
    assert out is not None and np.array_equal(out, j)
    status, rj = ref.decode(words, bits, freq, single, order, j.size, first)
    assert status == ref.OK and np.array_equal(rj, j)
    runs, vals = K.runs_split(j, order)
    rr, rv = ref.runs_split(j, order)
    assert np.array_equal(runs, rr) and np.array_equal(vals, rv)
    rh, rm = ref.runs_hist(j, order)
    for sparse in (False, True):
        hh, m = K.runs_hist(j, order, sparse)
        assert m == rm == vals.size and np.array_equal(hh, rh)
    back = K.runs_expand(runs.copy(), vals.copy(), order, first, j.size)
    assert back is not None and np.array_equal(back, j)
    assert np.array_equal(ref.runs_expand(rr, rv, order, first, j.size), j)
    assert K.gcd(j) == ref.gcd(j)
    if k.size:
        assert K.minmax(k) == (int(k.min()), int(k.max()))


@needs_native
@given(st.data())
def test_corrupt_streams_are_refused_by_both(data):
    k = np.cumsum(np.array(data.draw(st.lists(st.integers(-9, 9), min_size=5,
                                              max_size=200)), dtype=np.int64))
    j = k.view(np.uint64)
    hs = K.hist3(j)[256:512]
    if np.count_nonzero(hs) < 2:
        return
    freq = C._normalize(hs)
    blob = K.encode(j, 1, freq, -1, 10 * j.size + 64)
    blen = (int((hs.astype(np.int64) * C._NBITS).sum()) + 7) // 8
    bits, words = bytearray(blob[:blen]), bytearray(blob[blen:])
    target = data.draw(st.sampled_from(["bits", "words", "cut"]))
    if target == "bits" and bits:
        bits[data.draw(st.integers(0, len(bits) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif target == "words":
        words[data.draw(st.integers(0, len(words) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    else:
        words = words[: data.draw(st.integers(0, len(words) - 1))]
    first = [int(j[0])]
    got = K.decode(bytes(words), bytes(bits), freq, -1, 1, j.size, first)
    status, rj = ref.decode(bytes(words), bytes(bits), freq, -1, 1, j.size, first)
    assert (got is None) == (status != ref.OK)
    if got is not None:
        assert np.array_equal(got, rj)


floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10 ** 6, 10 ** 6).map(lambda v: v / 100),
    st.sampled_from([0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 2.0 ** 52, 2.0 ** 53 + 2, 5e-324]),
)


@needs_native
@given(st.sampled_from(["float32", "float64"]),
       st.lists(floats, min_size=0, max_size=200),
       st.sampled_from([(0, 1.0, 0.0, 1.0), (0, 100.0, 0.0, 1.0), (1, 1.0, 0.25, 0.1),
                        (1, 1.0, -3.0, 2.0 / 3.0), (0, 1e22, 0.0, 1.0)]),
       st.sampled_from([-1.0, 0.0, 0.05, 3.0]))
def test_quantizers_native_equal_reference(dtype, values, params, tol):
    with np.errstate(all="ignore"):
        x = np.array(values, dtype=np.float64).astype(dtype)
    mode, p, a, b = params
    k, r, nz, krange = K.quant(x, mode, p, a, b, tol)
    rk, rr, rnz = ref.quant(x, mode, p, a, b, tol)
    assert np.array_equal(k, rk) and np.array_equal(r, rr) and nz == rnz
    assert krange == ((int(rk.min()), int(rk.max())) if x.size else (0, 0))
    j = k.view(np.uint64)
    out = np.empty(x.size, dtype=x.dtype)
    K.dequant(j, r, mode, p, a, b, 1, 0, x.dtype, out)
    exp = ref.dequant(j, r, mode, p, a, b, 1, 0, x.dtype)
    assert out.tobytes() == exp.tobytes()
    if tol < 0:
        assert out.tobytes() == x.tobytes()  # lossless: model + residual give every bit
    if x.size:
        assert K.find_decimals(x, 64, 12) == ref.find_decimals(x, 64, 12)


@needs_native
@pytest.mark.parametrize(("name", "n"), [("payerne_temp_C", 5000),
                                       ("membrane_potential_f32", 5000),
                                       ("ecg_mitdb_mV", 5000), ("payerne_ghi_Wm2", 5000),
                                       ("payerne_pressure_hPa", 20000)])
def test_frames_are_identical_on_both_backends(name, n, monkeypatch):
    x = load_series(name)[:n]
    blobs = [C.encode(x), C.encode(x, tolerance=0.05), C.encode(x.astype(np.float32))]
    monkeypatch.setattr(_backend, "lib", None)
    assert [C.encode(x), C.encode(x, tolerance=0.05), C.encode(x.astype(np.float32))] == blobs
    for blob in blobs[1:]:
        C.decode(blob)  # the reference decodes what native wrote
    assert C.decode(blobs[0]).tobytes() == x.tobytes()
    assert C.decode(blobs[2]).tobytes() == x.astype(np.float32).tobytes()


@needs_native
@given(st.binary(min_size=0, max_size=400), st.integers(0, 257), st.integers(0, 13),
       st.integers(0, 13))
def test_frequency_table_parser_native_equals_reference(raw, count, nbits, pb):
    got = K.unpack_freq(raw, count, nbits, pb)
    want = ref.unpack_freq(raw, count, nbits, pb)
    assert (got is None) == (want is None)
    if got is not None:
        assert np.array_equal(got, want)


@pytest.mark.parametrize("scale", [1, 30, 5000])
def test_frequency_table_round_trip(scale):
    h = np.zeros(256, dtype=np.uint32)
    h[[0, 1, 2, 17, 40]] = np.array([9000, 300, 280, 5, 1]) * scale // 30 + 1
    f, raw = C._table(h)
    assert int(f.sum()) == 4096 and np.all(f[h > 0] > 0) and np.all(f[h == 0] == 0)
    pb, nbits = raw[1] >> 4, raw[1] & 15
    assert np.array_equal(K.unpack_freq(raw[2:], raw[0] + 1, nbits, pb), f)


@needs_native
@given(st.one_of(
    hnp.arrays(np.uint32, 256, elements=st.sampled_from([0, 0, 0, 0, 1, 2, 3, 50, 7000])),
    hnp.arrays(np.uint32, 256, elements=st.integers(0, 40000)),
    st.lists(st.integers(1, 3000), min_size=2, max_size=60).map(
        lambda v: np.pad(np.array(v, dtype=np.uint32), (0, 256 - len(v)))),
))
def test_table_choice_native_equals_reference(h):
    if np.count_nonzero(h) < 2:
        return
    f, raw = K.table(h)
    rf, rraw = ref.table(h)
    assert np.array_equal(f, rf) and raw == rraw
    pb, nbits = raw[1] >> 4, raw[1] & 15
    assert np.array_equal(K.unpack_freq(raw[2:], raw[0] + 1, nbits, pb), f)


@needs_native
@given(st.sampled_from(["float32", "float64"]),
       st.lists(st.one_of(st.integers(-10 ** 6, 10 ** 6), st.integers(-2 ** 53, 2 ** 53),
                          st.sampled_from([0, -0.0, 2 ** 51, -(2 ** 51), 2 ** 51 - 1])),
                min_size=1, max_size=200),
       st.sampled_from([0, 1, 2]))
def test_decimal_quantizer_exact_path_equals_reference(dtype, ints, d):
    # values on the decimal grid (the kernel's branch-free path) and just off it (-0.0,
    # magnitudes at 2**51 and beyond, which must fall back to the general loop)
    with np.errstate(all="ignore"):
        x = (np.array(ints, dtype=np.float64) / 10.0 ** d).astype(dtype)
    k, r, nz, krange = K.quant(x, 0, 10.0 ** d, 0.0, 1.0, -1.0)
    rk, rr, rnz = ref.quant(x, 0, 10.0 ** d, 0.0, 1.0, -1.0)
    assert np.array_equal(k, rk) and np.array_equal(r, rr) and nz == rnz
    assert krange == (int(rk.min()), int(rk.max()))


# ------------------------------------------------------------------ format v2 kernels

from pathlib import Path  # noqa: E402

from edgekit.compress import _v2  # noqa: E402


@st.composite
def _predictors(draw, n: int):
    """Valid (lags, coefs, shift) for a stream of n values: dense LPC, sparse or a lookback,
    coefficients over the whole allowed range."""
    p = draw(st.integers(1, min(_v2.MAX_TERMS, max(1, n - 1))))
    kind = draw(st.sampled_from(["dense", "sparse", "lookback"]))
    if kind == "dense":
        lags = list(range(1, p + 1))
    elif kind == "sparse":
        lags = sorted(draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=p)))
    else:
        lags = [draw(st.integers(1, n - 1))]
    coefs = draw(st.lists(st.one_of(st.integers(-(2 ** 31), 2 ** 31 - 1),
                                    st.integers(-9, 9)),
                          min_size=len(lags), max_size=len(lags)))
    if kind == "lookback" and draw(st.booleans()):
        coefs = [1]
    shift = draw(st.integers(0, 32))
    return lags, coefs, shift if kind != "lookback" or coefs != [1] else 0


@needs_native
@given(st.data())
def test_predictor_kernels_native_equal_reference(data):
    k = data.draw(_int64s().filter(lambda a: a.size >= 2))
    j = k.view(np.uint64)
    lags, coefs, shift = data.draw(_predictors(j.size))
    e = _v2.predict(j, lags, coefs, shift)
    status, re = ref.predict(j, lags, coefs, shift)
    assert status == ref.OK and np.array_equal(e, re)
    back = _v2.unpredict(e, j.size, int(j[0]), lags, coefs, shift, "t")
    assert np.array_equal(back, j)
    status, rback = ref.unpredict(e, j.size, int(j[0]), lags, coefs, shift)
    assert status == ref.OK and np.array_equal(rback, j)
    # the C kernels refuse what the decoder's parser refuses
    lib = _backend.lib
    bad = np.array(lags[:-1] + [j.size], dtype=np.uint32)
    assert lib.ekz2_unpredict(_v2._ptr("uint64_t", e), j.size, 0, _v2._ptr("uint32_t", bad),
                              _v2._ptr("int64_t", np.array(coefs, dtype=np.int64)),
                              len(coefs), shift, _v2._ptr("uint64_t", back)) == ref.EINVAL
def _long_int64s():
    """Streams long enough for four rANS states, several decoder chunks and the tail copy of
    the extra bits (up to 6,000 codes), with narrow and wide alphabets."""
    n = st.integers(900, 6000)
    return st.one_of(
        st.tuples(n, st.integers(0, 2 ** 32)).map(lambda t: np.cumsum(
            np.random.default_rng(t[1]).integers(-40, 40, t[0]))),
        st.tuples(n, st.integers(0, 2 ** 32), st.integers(1, 63)).map(
            lambda t: np.random.default_rng(t[1]).integers(
                -(2 ** t[2]), 2 ** t[2], t[0], dtype=np.int64)),
        st.tuples(n, st.integers(0, 2 ** 32)).map(lambda t: np.random.default_rng(t[1]).choice(
            np.array([0, 0, 0, 1, -1, 2 ** 62, -(2 ** 63)], dtype=np.int64), t[0])),
    )


def _stream_of(j: np.ndarray, order: int):
    hs = K.hist3(j)[256 * order: 256 * (order + 1)]
    present = np.flatnonzero(hs)
    if present.size == 1:
        freq, single = C._EMPTY_FREQ, int(present[0])
    else:
        freq, single = C._normalize(hs), -1
    blob = K.encode(j, order, freq, single, 10 * j.size + 64)
    blen = (int((hs.astype(np.int64) * C._NBITS).sum()) + 7) // 8
    return blob[blen:], blob[:blen], freq, single


_SINK_OUT = {ref.SINK_J: np.uint64, ref.SINK_I8: np.uint8, ref.SINK_I16: np.uint16,
             ref.SINK_I32: np.uint32, ref.SINK_I64: np.uint64, ref.SINK_B16: np.uint16,
             ref.SINK_B32: np.uint32, ref.SINK_B64: np.uint64, ref.SINK_R64: np.uint64,
             ref.SINK_R32: np.uint32}


@needs_native
@given(_long_int64s(), st.integers(0, 2), st.sampled_from(sorted(_SINK_OUT)),
       st.integers(1, 2 ** 64 - 1), st.integers(0, 2 ** 64 - 1))
def test_decode_into_native_equals_reference(k, order, sink, g, off):
    """The chunked C decoder (four states, fused passes, tail copy) writes the same bits
    into every sink as the numpy reference, on long streams."""
    j = k.view(np.uint64)
    words, bits, freq, single = _stream_of(j, order)
    first = [int(v) for v in j[:order]]
    start = np.random.default_rng(int(j[0]) & 0xFFFF).integers(
        0, 2 ** 63, j.size, dtype=np.uint64).astype(_SINK_OUT[sink])
    got, want = start.copy(), start.copy()
    assert K.decode_into(words, bits, freq, single, order, j.size, first, sink, got, g, off)
    assert ref.decode_into(words, bits, freq, single, order, j.size, first, sink, want, g,
                           off) == ref.OK
    assert np.array_equal(got, want)
    if sink == ref.SINK_J:
        assert np.array_equal(got, j)
    put = start.copy()
    assert K.put_j(j, sink, put, g, off) and np.array_equal(put, want)


@needs_native
@given(_long_int64s(), st.integers(0, 2), st.sampled_from(["f64", "f32"]))
def test_decode_into_value_table_equals_reference(k, order, kind):
    """The value-table sinks: every j in the table decodes to the same floats; a j outside
    it is refused by both."""
    j = k.view(np.uint64)
    words, bits, freq, single = _stream_of(j, order)
    first = [int(v) for v in j[:order]]
    dt = np.float64 if kind == "f64" else np.float32
    sink = ref.SINK_T64 if kind == "f64" else ref.SINK_T32
    lo, hi = int(k.min()), int(k.max())
    span = min(hi - lo, K.TAB_LEN - 1)
    tab = np.arange(span + 1, dtype=dt) * dt(0.25) - dt(3.0)
    lo_u = lo % 2 ** 64
    got, want = np.zeros(j.size, dt), np.zeros(j.size, dt)
    ok = K.decode_into(words, bits, freq, single, order, j.size, first, sink, got, 1, 0, tab,
                       lo_u, span)
    status = ref.decode_into(words, bits, freq, single, order, j.size, first, sink, want, 1, 0,
                             tab, lo_u, span)
    assert ok == (status == ref.OK) == (hi - lo < K.TAB_LEN)
    if ok:
        assert np.array_equal(got, want)


@needs_native
@given(st.data())
def test_dictionary_kernels_native_equal_reference(data):
    dt = np.dtype(data.draw(st.sampled_from(["u1", "i2", "f4", "f8"])))
    table = data.draw(hnp.arrays(dt, st.integers(1, 50)))
    idx = data.draw(hnp.arrays(np.uint64, st.integers(0, 200),
                               elements=st.integers(0, table.size + 2)))
    out = np.empty(idx.size, dtype=dt)
    ok = _v2.gather(table, idx, out)
    status, want = ref.gather(table, idx)
    assert ok == (status == ref.OK) == bool(np.all(idx < table.size))
    if ok:
        assert want is not None and out.tobytes() == want.tobytes()
    keys = data.draw(hnp.arrays(np.int64, st.integers(1, 300),
                                elements=st.integers(-(2 ** 63), 2 ** 63 - 1)))
    u = np.unique(keys)
    drop = data.draw(st.booleans()) and u.size > 1
    if drop:  # a key the table does not hold
        u = np.delete(u, data.draw(st.integers(0, u.size - 1)))
    got = _v2.rank(u, keys)
    status, want = ref.rank(u, keys)
    if drop:
        assert got is None and status == ref.ECORRUPT
    else:
        assert got is not None and want is not None
        assert np.array_equal(got, want.view(np.int64)) and np.array_equal(u[got], keys)


@needs_native
@given(st.integers(1, 14), st.integers(2, 700), st.integers(0, 32), st.integers(0, 2 ** 32),
       st.sampled_from([8, 40, 64]))
def test_unpredict_specialised_loops_equal_reference(p, n, shift, seed, bits):
    """ekz2_unpredict's loops for each dense term count (the AVX-512 accumulator for 5..12
    terms where the CPU has it, straight-line code otherwise), one and two lags, on random
    residuals and coefficients (values wrap modulo 2**64): the reference's bits."""
    rng = np.random.default_rng(seed)
    p = min(p, n - 1)
    kind = rng.integers(3)
    if kind == 0:
        lags = list(range(1, p + 1))
    else:
        lags = sorted(rng.choice(np.arange(1, n), size=min(kind, n - 1), replace=False).tolist())
    coefs = rng.integers(-(2 ** 31), 2 ** 31, len(lags)).tolist()
    if rng.integers(2):
        coefs = rng.integers(-9, 10, len(lags)).tolist()
    e = rng.integers(0, 2 ** 63, n - 1, dtype=np.uint64) >> np.uint64(63 - min(bits, 63))
    j0 = int(rng.integers(0, 2 ** 63))
    got = _v2.unpredict(e, n, j0, lags, coefs, shift, "t")
    status, want = ref.unpredict(e, n, j0, lags, coefs, shift)
    assert status == ref.OK and np.array_equal(got, want)


@needs_native
@given(_int64s().filter(lambda a: a.size >= 2), st.integers(0, 31), st.integers(1, 40))
def test_predictor_search_kernels_native_equal_reference(k, p, maxlag):
    if p < k.size - 1:
        r = _v2.autocorr(k, p)
        status, want = ref.autocorr(k, p)
        assert status == ref.OK and r is not None
        assert r.tobytes() == want.tobytes()  # same bits: frames are backend-independent
    same = _v2.lag_matches(k.view(np.uint64), maxlag)
    assert np.array_equal(same, ref.lag_matches(k.view(np.uint64), maxlag)[1])


_GOLDEN_V2 = Path(__file__).resolve().parent.parent / "golden" / "v2"


@needs_native
@pytest.mark.parametrize(("name", "n"), [("goes15_xrs_short_0p5_4ang_Wm2", 12000),
                                       ("seattle_temp_F", 8759),
                                       ("lpc_i2_apollo15", 5184),
                                       ("dict_binning_f64_iers_lod", 12000),
                                       ("lookback_interleaved_i32", 9000)])
def test_v2_frames_are_identical_on_both_backends(name, n, monkeypatch):
    # real series (tests/golden/v2/PROVENANCE.md, tests/data/corpus/README.md)
    path = _GOLDEN_V2 / f"{name}.npy"
    corpus = _GOLDEN_V2.parent.parent / "data" / "corpus" / f"{name}.npy"
    if not path.exists():
        path = corpus
    x = (np.load(path, allow_pickle=False) if path.exists() else load_series(name))[:n]
    blob = C.encode(x)
    assert blob[4] in (2, 3)  # (3: stream or predictor lanes)
    monkeypatch.setattr(_backend, "lib", None)
    assert C.encode(x) == blob
    assert C.decode(blob).tobytes() == x.tobytes()


@needs_native
@given(st.data())
def test_split_dictionary_kernel_native_equals_reference(data):
    dt = np.dtype(data.draw(st.sampled_from(["u1", "i2", "f2", "i4", "f4", "u8", "f8"])))
    shift = data.draw(st.integers(1, 63))
    table = data.draw(hnp.arrays(np.int64, st.integers(1, 40),
                                 elements=st.integers(-(2 ** 63), 2 ** 63 - 1)))
    n = data.draw(st.integers(0, 200))
    idx = data.draw(hnp.arrays(np.uint64, n, elements=st.integers(0, table.size)))
    lo = data.draw(hnp.arrays(np.uint64, n, elements=st.integers(0, (1 << shift) + 1)))
    out = np.empty(n, dtype=dt)
    ok = _v2.split_gather(table, idx, lo, shift, out)
    status, want = ref.split_gather(table, idx, lo, shift, dt)
    valid = bool(np.all(idx < table.size) and np.all(lo < (1 << shift)))
    assert ok == (status == ref.OK) == valid
    if ok:
        assert want is not None and out.tobytes() == want.tobytes()
        if dt.kind == "f":  # the inverse of the encoder's keys
            w = (table.view(np.uint64)[idx.astype(np.intp)] << np.uint64(shift)) + lo
            keys = C._sortable(out).view(np.uint64)
            mask = np.uint64((1 << (8 * dt.itemsize)) - 1) if dt.itemsize < 8 else None
            assert np.array_equal(keys & mask if mask else keys, w & mask if mask else w)


@needs_native
@given(st.data())
def test_corrupt_long_streams_are_refused_by_both(data):
    """Damage to a long stream (both rANS paths, chunk boundaries, the extra bits' tail)
    is refused by the C decoder exactly when the reference refuses it, and what both
    accept decodes the same."""
    k = data.draw(_long_int64s())
    order = data.draw(st.integers(0, 2))
    j = k.view(np.uint64)
    words, bits, freq, single = _stream_of(j, order)
    words, bits = bytearray(words), bytearray(bits)
    target = data.draw(st.sampled_from(["bits", "words", "cut words", "cut bits", "grow"]))
    if target == "bits" and bits:
        bits[data.draw(st.integers(0, len(bits) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif target == "words" and words:
        words[data.draw(st.integers(0, len(words) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif target == "cut words" and words:
        words = words[: data.draw(st.integers(0, len(words) - 1))]
    elif target == "cut bits" and bits:
        bits = bits[: data.draw(st.integers(0, len(bits) - 1))]
    else:
        bits += bytes(data.draw(st.integers(1, 9)))
    first = [int(v) for v in j[:order]]
    got = np.zeros(j.size, np.uint64)
    ok = K.decode_into(bytes(words), bytes(bits), freq, single, order, j.size, first,
                       ref.SINK_J, got)
    status, rj = ref.decode(bytes(words), bytes(bits), freq, single, order, j.size, first)
    assert ok == (status == ref.OK)
    if ok:
        assert np.array_equal(got, rj)


def _frame_kinds():
    """Arrays that make every block model: integers, float bits, decimal, affine (with and
    without a residual), float32-in-float64, zero runs, raw, several blocks."""
    rng_seed = st.integers(0, 2 ** 32 - 1)
    n = st.integers(1, 3000)

    def build(kind, size, seed):
        rng = np.random.default_rng(seed)
        walk = np.cumsum(rng.integers(-30, 31, size))
        if kind == "int":
            dt = rng.choice(["int8", "int16", "int32", "int64", "uint8", "uint16",
                             "uint32", "uint64"])
            return (walk % 100 if dt.startswith("u") else walk).astype(dt)
        if kind == "bool":
            return rng.random(size) < 0.1
        if kind == "time":
            return (np.int64(1_700_000_000) * 10 ** 9 + walk * 10 ** 6).astype("M8[ns]")
        if kind == "dec":
            return (walk / 100).astype(rng.choice(["float32", "float64"]))
        if kind == "dec-resid":
            x = walk / 10
            x[rng.integers(0, size, max(1, size // 50))] = np.nan
            return x
        if kind == "affine":
            return 3.0 + walk * (10 / 4095)
        if kind == "f32in64":
            return (rng.standard_normal(size).astype(np.float32)).astype(np.float64)
        if kind == "runs":
            return np.repeat(walk[: max(1, size // 20)] / 4, 20)[:size]
        if kind == "f16":
            return rng.standard_normal(size).astype(np.float16)
        if kind == "ar":  # a resonance: the LPC predictor (format v2)
            x = np.zeros(size)
            noise = rng.normal(0, 20, size)
            for i in range(2, size):
                x[i] = 1.9 * x[i - 1] - 0.95 * x[i - 2] + noise[i]
            dt = rng.choice(["int16", "int32", "int64"])
            return np.clip(np.rint(x), -30000, 30000).astype(dt)
        if kind == "few":  # few distinct values off any grid: the dictionary (format v2)
            pool = np.sort(rng.standard_normal(int(rng.integers(2, 60))))
            idx = np.clip(walk // 8 - walk.min() // 8, 0, pool.size - 1)
            return pool[idx].astype(rng.choice(["float32", "float64"]))
        if kind == "multiplex":  # interleaved channels: a lookback (format v2)
            chans = np.cumsum(rng.integers(-3, 4, (size // 3 + 1, 3)), axis=0)
            return (chans * [1, 100, 10000]).ravel()[:size].astype(np.int32)
        return rng.standard_normal(size) * 1e3  # float bits

    kinds = st.sampled_from(["int", "bool", "time", "dec", "dec-resid", "affine", "f32in64",
                             "runs", "f16", "bits", "ar", "few", "multiplex"])
    return st.builds(build, kinds, n, rng_seed)


class _Patched:
    """Set an attribute for the duration of a with block (monkeypatch is a function-scoped
    fixture, which hypothesis examples must not share)."""

    def __init__(self, obj, name, value):
        self.obj, self.name, self.value = obj, name, value

    def __enter__(self):
        self.old = getattr(self.obj, self.name)
        setattr(self.obj, self.name, self.value)

    def __exit__(self, *exc):
        setattr(self.obj, self.name, self.old)


def _NO_FAST_PATH() -> _Patched:
    """codec._decode_fast's one C call for the whole frame declines (the frame then takes
    the path the patched kernels steer)."""
    return _Patched(K, "decode_all_blocks", lambda *a: False)


def _python_decode(blob: bytes) -> np.ndarray:
    """Decode with the Python block decoder only."""
    with _Patched(K, "decode_block", lambda *a: False), \
            _Patched(K, "decode_blocks", lambda buf, pos, *a: (0, pos)), _NO_FAST_PATH():
        return C.decode(blob)


def _block_decode(blob: bytes) -> np.ndarray:
    """Decode with ekz_decode_block on each block (the Python loop over blocks)."""
    with _Patched(K, "decode_blocks", lambda buf, pos, *a: (0, pos)), _NO_FAST_PATH():
        return C.decode(blob)


def _c_takes_every_block(blob: bytes, blen: int | None = None) -> np.ndarray:
    """Decode with ekz_decode_block on each block, asserting it takes every one (no Python
    fallback) and gives the Python block decoder's bits; then ekz_decode_blocks on the
    whole body: it takes them all too, with the same bits."""
    taken = []
    real = K.decode_block

    def spy(*a):
        taken.append(real(*a))
        return taken[-1]

    with _Patched(K, "decode_block", spy), \
            _Patched(K, "decode_blocks", lambda buf, pos, *a: (0, pos)), _NO_FAST_PATH():
        fast = C.decode(blob)
    assert fast.tobytes() == _python_decode(blob).tobytes()
    assert taken and all(taken)
    length, rd, code, flags, shape = C._frame_at(blob, 0)
    if flags & C._F_LOSSY:
        rd.f64()
    stored = rd.varint()
    assert blen is None or stored == blen
    blen = stored
    n = int(np.prod(shape))
    dt = C._DTYPES[code]
    out = np.empty(n, np.uint8 if dt.kind == "b" else (np.int64 if dt.kind in "Mm" else dt))
    assert K.decode_blocks(blob, rd.pos, rd.end, blen, out, blob[4]) == (-(-n // blen), rd.end)
    want = fast.ravel(order="K")
    if want.dtype.byteorder == ">":
        want = want.astype(want.dtype.newbyteorder("="))
    assert out.tobytes() == want.tobytes()
    assert C.decode(blob).tobytes() == fast.tobytes()
    return fast


@needs_native
@given(x=_frame_kinds(), tol=st.sampled_from([None, 0.01]), blen=st.sampled_from([65536, 700]))
def test_block_decoder_equals_python_decoder(x, tol, blen):
    """ekz_decode_block takes every block of edgekit's own frames, version 1 and version 2
    (dictionary, split dictionary, predictors: no fallback) and gives the bits the Python
    block decoder gives."""
    with _Patched(C, "BLOCK_LEN", blen):
        blob = C.encode(x, tolerance=tol)
    fast = _c_takes_every_block(blob, blen)
    assert fast.dtype == x.dtype
    if tol is None:
        assert fast.tobytes() == x.tobytes()


_GOLDEN_V2_FRAMES = sorted(
    (Path(__file__).resolve().parent.parent / "golden" / "v2").glob("*.ekz"))


@needs_native
@pytest.mark.parametrize("path", _GOLDEN_V2_FRAMES, ids=lambda p: p.stem)
def test_block_decoder_takes_every_v2_golden_frame(path):
    """The version-2 golden frames (real series: LPC, delta 3, lookbacks, dictionaries with
    and without a predictor, split dictionaries) decode in C, block for block, with the
    Python decoder's bits and the stored values."""
    blob = path.read_bytes()
    assert blob[4] >= 2
    fast = _c_takes_every_block(blob)
    want = np.load(path.with_suffix(".npy"), allow_pickle=False)
    assert fast.dtype == want.dtype and fast.tobytes() == want.tobytes()


def _decode_with_checksum_fixed(blob: bytearray) -> list[bytes | None]:
    """Refresh the damaged frame's CRC (so the damage reaches the block parsers) and decode
    it with the C, the C-block and the Python decoder: each one's values, or None where it
    raised CorruptDataError."""
    import struct
    import zlib

    from edgekit.errors import CorruptDataError

    blob[-4:] = struct.pack("<I", zlib.crc32(bytes(blob[:-4])))
    outcomes: list[bytes | None] = []
    for decoder in (C.decode, _block_decode, _python_decode):
        try:
            outcomes.append(decoder(bytes(blob)).tobytes())
        except CorruptDataError:
            outcomes.append(None)
    return outcomes


@needs_native
@given(x=_frame_kinds(), data=st.data())
def test_block_decoder_accepts_only_what_python_accepts(x, data):
    """Damaged blocks (checksum fixed, so the block decoders see the damage): whatever the C
    block decoder accepts, the Python decoder accepts with the same values; what it
    refuses falls back to Python, which raises CorruptDataError or decodes."""
    blob = bytearray(C.encode(x))
    body_start = 12
    if len(blob) <= body_start + 5:
        return
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(body_start, len(blob) - 5))
        blob[i] ^= 1 << data.draw(st.integers(0, 7))
    outcomes = _decode_with_checksum_fixed(blob)
    assert outcomes[0] == outcomes[1] == outcomes[2]


@needs_native
@settings(max_examples=300)
@given(path=st.sampled_from(_GOLDEN_V2_FRAMES), data=st.data())
def test_damaged_v2_frames_same_on_c_and_python_decoders(path, data):
    """Damaged version-2 golden frames (real series; checksum fixed, so the damage reaches
    the dictionary, predictor and stream parsers): the C block decoder accepts exactly what
    the Python decoder accepts, with the same values."""
    blob = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(12, len(blob) - 5))
        if data.draw(st.booleans()):
            blob[i] ^= 1 << data.draw(st.integers(0, 7))
        else:
            blob[i] = data.draw(st.integers(0, 255))
    outcomes = _decode_with_checksum_fixed(blob)
    assert outcomes[0] == outcomes[1] == outcomes[2]


@given(st.binary(min_size=0, max_size=12000), st.integers(0, 40), st.integers(0, 40))
def test_frame_checksum_equals_zlib(raw, lead, trail):
    """The frame checksum (carry-less-multiply folding in C where the CPU has it) is
    zlib's CRC-32 of any slice."""
    import zlib

    lead, trail = min(lead, len(raw)), min(trail, len(raw))
    stop = max(lead, len(raw) - trail)
    assert K.crc32(raw, lead, stop) == zlib.crc32(raw[lead:stop])


@given(st.integers(4096, 70000), st.integers(0, 2 ** 32 - 1), st.integers(0, 300))
def test_long_frame_checksum_equals_zlib(n, seed, lead):
    """Long spans: the 128-bit folding and, where the CPU has VPCLMULQDQ, its 512-bit
    first stage (256 bytes a step) give zlib's CRC-32, at any start and length."""
    import zlib

    raw = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert K.crc32(raw, lead, n) == zlib.crc32(raw[lead:])


@needs_native
@given(st.data())
def test_rank_hashed_search_equals_reference(data):
    """ekz2_rank_bs (the hashed search of the dictionary's encoder) on clustered
    keys (a few narrow clusters far apart: float bits, values near int64's ends), keys
    outside the table's range and keys between its entries, against the reference."""
    base = data.draw(st.sampled_from([-(2 ** 63), -(2 ** 40), 0, 2 ** 62, 2 ** 63 - 2 ** 20]))
    width = data.draw(st.sampled_from([1, 16, 2 ** 10, 2 ** 20]))
    offs = data.draw(hnp.arrays(np.int64, st.integers(1, 400), elements=st.integers(0, width)))
    far = data.draw(st.sampled_from([0, 2 ** 30, 2 ** 61]))
    keys = base + offs
    if far and base <= 2 ** 62:  # a second cluster far above the first
        keys = np.where(offs % 3 == 0, keys + far, keys)
    u = np.unique(keys)
    how = data.draw(st.sampled_from(["all", "first", "last", "inner"]))
    if how != "all" and u.size > 1:  # a key the table does not hold, at its ends or inside
        u = np.delete(u, {"first": 0, "last": u.size - 1}.get(how, u.size // 2))
    got = _v2.rank(u, keys)
    status, want = ref.rank(u, keys)
    if status == ref.OK:
        assert got is not None and want is not None
        assert np.array_equal(got, want.view(np.int64)) and np.array_equal(u[got], keys)
    else:
        assert got is None and status == ref.ECORRUPT and not np.isin(keys, u).all()


@needs_native
@given(_int64s().filter(lambda a: a.size >= 2), st.data())
def test_pred_hist_equals_reference(k, data):
    """The predictor search's histogram (ekz2_pred_hist_runs through ekz2_predict for
    dense LPC predictors: the unrolled recurrences; ekz2_pred_hist for lookbacks and sparse
    lags) gives the reference's histogram, and the general kernel's, run by run."""
    j = k.view(np.uint64)
    dense = data.draw(st.booleans())
    if dense:
        lags = list(range(1, data.draw(st.integers(1, 17)) + 1))
    else:
        lags = sorted(data.draw(st.sets(st.integers(1, 40), min_size=1, max_size=4)))
    coefs = data.draw(st.lists(st.integers(-(2 ** 31), 2 ** 31 - 1), min_size=len(lags),
                               max_size=len(lags)))
    shift = data.draw(st.integers(0, 32))
    run = data.draw(st.integers(1, k.size + 3))
    got = _v2.pred_hist(j, run, lags, coefs, shift)
    status, want = ref.pred_hist(j, run, lags, coefs, shift)
    assert status == ref.OK and want is not None
    assert np.array_equal(got, want)
    lib = _backend.lib
    old = np.empty(256, dtype=np.uint32)
    assert lib.ekz2_pred_hist(_v2._ptr("uint64_t", j), j.size, run, *_v2._terms(lags, coefs),
                              len(lags), shift, _v2._ptr("uint32_t", old)) == ref.OK
    assert np.array_equal(got, old)


def _pred_frame(p: int, n: int, shift: int, seed: int, bits: int) -> tuple[bytearray, np.ndarray]:
    """A version-2 int64 frame of one dense predictor block of p terms and n values (random
    coefficients, residuals of up to ``bits`` bits, any sign) and the values it holds."""
    rng = np.random.default_rng(seed)
    lags = list(range(1, p + 1))
    coefs = rng.integers(-(2 ** 31), 2 ** 31, p).tolist()
    if rng.integers(2):
        coefs = rng.integers(-9, 10, p).tolist()
    z = rng.integers(0, 2 ** 63, n - 1, dtype=np.uint64) >> np.uint64(63 - bits)
    e = (z >> np.uint64(1)) ^ (np.uint64(0) - (z & np.uint64(1)))  # unzigzag: any sign
    j0 = int(rng.integers(-(2 ** 40), 2 ** 40)) & (2 ** 64 - 1)
    status, want = ref.unpredict(e, n, j0, lags, coefs, shift)
    assert status == ref.OK
    blk = (bytes((C._INT | 0x18,)) + _v2.descriptor(lags, coefs, shift) + C._varint(C._zz(j0))
           + C._stream_encode(e, 0))
    body = C._varint(n) + C._varint(C.BLOCK_LEN) + C._varint(len(blk)) + blk
    frame = bytearray(C._HEADER.pack(C.MAGIC, 2, 4, 0, 1, len(body) + 4) + body + b"\0" * 4)
    return frame, want


_PRED_FRAMES = (st.integers(5, 12), st.integers(513, 6000), st.integers(0, 32),
                st.integers(0, 2 ** 32), st.sampled_from([4, 12, 24, 40]))


@needs_native
@settings(max_examples=60)
@given(*_PRED_FRAMES)
def test_block_decoder_pred_fused_equals_reference(p, n, shift, seed, bits):
    """A dense predictor block of 5..12 terms long enough for ekz_pred_fused (the recurrence
    of each chunk run in the loop that entropy-decodes the next one, where the CPU has
    AVX-512; the chunk-by-chunk path elsewhere): random coefficients and residuals of up to
    ``bits`` bits, wrapping modulo 2**64, decoded with the reference's bits, and a frame cut
    short by one residual byte refused."""
    frame, want = _pred_frame(p, n, shift, seed, bits)
    out = np.empty(n, np.int64)
    pos = C._HEADER.size + len(C._varint(n)) + len(C._varint(C.BLOCK_LEN))
    assert K.decode_blocks(bytes(frame), pos, len(frame) - 4, C.BLOCK_LEN, out, 2)[0] == 1
    assert np.array_equal(out.view(np.uint64), want)
    assert _python_decode(_refit(frame)).view(np.uint64).tolist() == want.tolist()
    cut = bytearray(frame[:-5] + frame[-4:])  # one byte short: the block size lies
    with pytest.raises(CorruptDataError):
        C.decode(_refit(cut))


@needs_native
@settings(max_examples=60)
@given(*_PRED_FRAMES, st.data())
def test_damaged_pred_fused_frames_same_on_c_and_python_decoders(p, n, shift, seed, bits,
                                                                 data):
    """Bit flips in such a block (checksum fixed, so the damage reaches the residual
    stream and the fused loop): the C decoders accept exactly what the Python decoder
    accepts, with the same values."""
    frame, _ = _pred_frame(p, n, shift, seed, bits)
    start = len(frame) - 4 - 40
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(20, len(frame) - 5))
        if data.draw(st.booleans()):
            i = data.draw(st.integers(max(20, start), len(frame) - 5))
        frame[i] ^= 1 << data.draw(st.integers(0, 7))
    outcomes = _decode_with_checksum_fixed(bytearray(_refit(frame)))
    assert outcomes[0] == outcomes[1] == outcomes[2]


def _refit(frame: bytearray) -> bytes:
    import struct
    import zlib

    frame[8:12] = struct.pack("<I", len(frame) - 12)
    frame[-4:] = struct.pack("<I", zlib.crc32(bytes(frame[:-4])))
    return bytes(frame)


@needs_native
@given(x=_frame_kinds(), tol=st.sampled_from([None, 0.01]), blen=st.sampled_from([65536, 700]),
       flip=st.integers(0, 10 ** 6))
def test_fast_frame_path_equals_full_path(x, tol, blen, flip):
    """codec._decode_fast (one C call for a common frame) gives the full path's values and
    length, and declines (None) what it does not handle: a tolerance, other block lengths,
    N-d shapes, bool and datetime dtypes, and any damage (the full path then raises)."""
    with _Patched(C, "BLOCK_LEN", blen):
        blob = C.encode(x, tolerance=tol)
    with _NO_FAST_PATH():
        want = C._decode_at(blob, 0)
    got = C._decode_fast(blob, 0)
    plain = not blob[6] & ~C._F_FORTRAN and blen == C.BLOCK_LEN and x.ndim == 1 \
        and x.dtype.kind in "iuf" and x.size > 0
    assert (got is not None) == plain
    if got is not None:
        assert got[1] == want[1] and got[0].dtype == want[0].dtype
        assert got[0].tobytes() == want[0].tobytes()
    bad = bytearray(blob)
    bad[flip % len(bad)] ^= 1 << (flip % 8)
    assert C._decode_fast(bytes(bad), 0) is None


@needs_native
def test_fast_frame_path_after_a_short_frame():
    """The one-call path takes a long frame after a short one in the same thread (its work
    area grows with the frame; a short frame's small area must not send it elsewhere)."""
    import threading

    short = C.encode(np.arange(10, dtype=np.int32))
    long_ = C.encode(np.arange(100_000, dtype=np.int64) % 977)
    got: list[bool] = []

    def run() -> None:
        C.decode(C.encode(np.zeros(10, dtype=bool)))  # the full path: a small work area
        for blob in (short, long_, short, long_):
            got.append(C._decode_fast(blob, 0) is not None)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert got == [True] * 4
