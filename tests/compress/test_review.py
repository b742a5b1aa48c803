"""Adversarial review of edgekit.compress (issue #16): the C kernels and the numpy
references code every array to the same bytes and decode it bit-exact, on arrays built to
reach many candidate paths (float32-exact float64, decimal grids with misses, few distinct
values, periodic data, NaN/inf/-0.0, several small blocks, lossy tolerances); and hostile
frames raise CorruptDataError, nothing else."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit import _backend
from edgekit.compress import _v2, decode, encode
from edgekit.compress import codec as C
from edgekit.errors import CorruptDataError

_EXAMPLES = int(os.environ.get("REVIEW_EXAMPLES", "150"))  # more for a longer hunt
native = pytest.mark.skipif(_backend.lib is None, reason="needs the compiled kernels")


def _frame(version: int, code: int, body: bytes, flags: int = 0, ndim: int = 1) -> bytes:
    head = C._HEADER.pack(C.MAGIC, version, code, flags, ndim, len(body) + 4)
    f = head + body
    return f + struct.pack("<I", zlib.crc32(f))


@st.composite
def _arrays(draw) -> np.ndarray:
    """Arrays that reach many of the encoder's candidate paths."""
    n = draw(st.one_of(st.integers(0, 1500), st.integers(1500, 20000)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["dec", "dec_miss", "f32", "levels", "periodic", "walk",
                                 "grid", "noise", "f32noise", "int", "small"]))
    t = np.arange(n)
    if kind == "dec":
        x = np.round(np.cumsum(rng.normal(0, 0.3, n)) + 20.0, draw(st.integers(0, 4)))
    elif kind == "dec_miss":
        x = np.round(np.cumsum(rng.normal(0, 0.3, n)), 2)
        if n:
            x[rng.integers(0, n, max(1, n // 50))] += rng.normal(0, 1e-7, max(1, n // 50))
    elif kind == "f32":
        x = (np.cumsum(rng.normal(0, 0.01, n)) + 3.0).astype(np.float32).astype(np.float64)
    elif kind == "levels":
        x = rng.choice(np.array([0.0, -0.0, 1.5, np.nan, 21.25, 1e-9, np.inf, 7.3]), n)
    elif kind == "periodic":
        x = np.round(np.sin(t * 2 * np.pi / draw(st.integers(2, 40))) * 100, 1)
    elif kind == "walk":
        x = np.cumsum(np.cumsum(rng.normal(0, 1, n))) * 1e-3
    elif kind == "grid":
        x = 0.37 + rng.integers(-500, 500, n) * (10.0 / 4095)
    elif kind == "noise":
        x = rng.normal(0, 1, n)
    elif kind == "f32noise":  # float noise the split dictionary bins
        x = (rng.normal(0, 1, n) * 10.0 ** draw(st.integers(-3, 3))).astype(np.float32)
    elif kind == "int":
        x = np.cumsum(rng.integers(-3, 4, n)).astype(draw(st.sampled_from(
            ["int16", "int32", "int64", "uint64"])))
    else:  # float16, bool, bytes, timestamps: few levels, the dictionary's ground
        dt = draw(st.sampled_from(["float16", "bool", "uint8", "int8", "datetime64[ns]"]))
        x = rng.choice(rng.integers(-100, 100, 30), n).astype(np.int64)
        x = (x > 0) if dt == "bool" else (x * 10**9 if dt[0] == "d" else x).astype(dt)
    if x.dtype.kind == "f" and n and draw(st.booleans()):
        specials = np.array([np.nan, -np.inf, np.inf, -0.0, 5e-324])
        m = max(1, n // 100)
        x[rng.integers(0, n, m)] = rng.choice(specials, m)
    if x.dtype == np.float64 and draw(st.booleans()):
        x = x.astype(np.float32)
    if x.dtype.kind == "f" and x.dtype.itemsize >= 4 and n and draw(st.booleans()):
        # NaN payloads and signalling NaNs (which a float conversion would quiet)
        u = np.dtype(f"u{x.dtype.itemsize}")
        pats = (np.array([0x7F800001, 0xFFC00123, 0x7FBFFFFF], dtype=u) if u.itemsize == 4
                else np.array([0x7FF0000000000001, 0xFFF8000000000123, 0x7FF00000E0000000],
                              dtype=u))
        x.view(u)[rng.integers(0, n, 3)] = pats
    layout = draw(st.sampled_from(["1d", "1d", "C", "F", ">"]))
    if layout in "CF" and n % 2 == 0:
        x = x.reshape(n // 2, 2, order=layout)
    elif layout == ">":
        x = x.astype(x.dtype.newbyteorder(">"))
    return x


def _with_backend(lib, fn):
    saved = _backend.lib
    _backend.lib = lib
    try:
        return fn()
    finally:
        _backend.lib = saved


@native
@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=_arrays(), block=st.sampled_from([64, 300, 1024, C.BLOCK_LEN]),
       level=st.sampled_from([1, 2, 3, 5, 9]),
       tol=st.sampled_from([None, None, 0.0, 1e-3, 0.05, 2.5]), eager=st.booleans())
def test_native_and_reference_encode_the_same_bytes(x, block, level, tol, eager,
                                                    monkeypatch):
    monkeypatch.setattr(C, "BLOCK_LEN", block)
    if eager:  # encoder-only thresholds (any choice decodes): reach the v2 searches often
        for name, value in (("_T_DICT_GAIN", 2.0), ("_T_SPLIT_MIN_BITS", 0.0),
                            ("_T_PRED_MIN_BITS", 0.0), ("_T_PRED_MIN_GAIN", 0.0),
                            ("_T_PRED_GAIN", 1.0), ("_T_DICT_MIN_LEN", 64),
                            ("_T_PRED_MIN_LEN", 64)):
            monkeypatch.setattr(C, name, value)
    fast = encode(x, tolerance=tol, level=level)
    slow = _with_backend(None, lambda: encode(x, tolerance=tol, level=level))
    assert fast == slow
    for lib in (_backend.lib, None):
        y = _with_backend(lib, lambda: decode(fast))
        assert y.dtype == x.dtype and y.shape == x.shape
        assert y.flags.c_contiguous == x.flags.c_contiguous
        assert y.flags.f_contiguous == x.flags.f_contiguous
        if tol is None or x.dtype.kind != "f" or x.dtype.itemsize == 2:
            assert y.tobytes(order="A") == x.tobytes(order="A")
        else:
            xr, yr = x.ravel(order="A"), y.ravel(order="A")
            fin = np.isfinite(xr)
            u = np.dtype(f"u{x.dtype.itemsize}")
            # NaN (payload and all) and infinities exactly, finite values within tol
            assert np.array_equal(yr[~fin].view(u), xr[~fin].view(u))
            err = np.abs(yr[fin].astype(np.float64) - xr[fin].astype(np.float64))
            assert np.all(err <= tol)


# ------------------------------------------------------------------------------ hostile frames

_V = C._varint


def _frame_of(version: int, code: int, blocks: list[bytes], shape: tuple[int, ...],
              blen: int) -> bytes:
    body = b"".join(_V(s) for s in shape) + _V(blen)
    for b in blocks:
        body += _V(len(b)) + b
    return _frame(version, code, body, ndim=len(shape))


def _const(t: int) -> bytes:
    """An order-0 stream (kind 0) whose every code is token t < 16 (j = unzz(t))."""
    return bytes((0, t, 0))


def _raw(vals, dt: str) -> bytes:
    return b"\x00" + np.asarray(vals, dtype=np.dtype(dt).newbyteorder("<")).tobytes()


def _dict(size: int, table: bytes, idx: bytes, order: int = 0, split: int | None = None,
          low: bytes = b"") -> bytes:
    head = _v2.DICT | (order << 3) | (_v2.SPLIT if split is not None else 0)
    return (bytes((head,)) + _V(size) + (bytes((split,)) if split is not None else b"")
            + _V(len(table)) + table + idx + low)


def _pred(lags, coefs, shift, j0=2, rest=None) -> bytes:
    return _v2.descriptor(lags, coefs, shift) + _V(j0) + (_const(2) if rest is None else rest)


_INT_PRED = 1 | 0x18  # integer model, head order 3: a predictor
_HOSTILE = {
    # the dictionary: table size against n and the table block, indices, split shift
    "index >= T": (2, 11, [_dict(2, _raw([1.5, 2.5], "f8"), _const(4))], (4,), 4),
    "T > n": (2, 11, [_dict(5, _raw([1.5] * 5, "f8"), _const(0))], (4,), 4),
    "T = 0": (2, 11, [_dict(0, b"", _const(0))], (4,), 4),
    "table block short of T": (2, 11, [_dict(3, _raw([1.5, 2.5], "f8"), _const(0))], (4,), 4),
    "nested dictionary": (2, 11, [_dict(2, _dict(2, _raw([1.5, 2.5], "f8"), _const(0)),
                                        _const(0))], (4,), 4),
    "split at bit 0": (2, 11, [_dict(1, _raw([3], "i8"), _const(0), split=0,
                                     low=_const(0))], (4,), 4),
    "split at bit 64": (2, 11, [_dict(1, _raw([3], "i8"), _const(0), split=64,
                                      low=_const(0))], (4,), 4),
    "low bits past the split": (2, 11, [_dict(1, _raw([3], "i8"), _const(0), split=1,
                                              low=_const(4))], (4,), 4),
    "dictionary index predictor lag >= n": (
        2, 11, [_dict(2, _raw([1.5, 2.5], "f8"), _pred([4], [1], 0, 0, _const(0)),
                      order=3)], (4,), 4),
    # predictors
    "33 terms": (2, 4, [bytes((_INT_PRED, 33, 0)) + b"".join(_V(i) + _V(2)
                                                            for i in range(1, 34))
                        + _V(2) + _const(2)], (50,), 50),
    "0 terms": (2, 4, [bytes((_INT_PRED, 0, 0)) + _V(2) + _const(2)], (5,), 5),
    "shift 33": (2, 4, [bytes((_INT_PRED,)) + _pred([1], [1], 33)], (5,), 5),
    "coefficient 2**31": (2, 4, [bytes((_INT_PRED, 1, 0)) + _V(1) + _V(C._zz(1 << 31))
                                 + _V(2) + _const(2)], (5,), 5),
    "lags not increasing": (2, 4, [bytes((_INT_PRED,)) + _pred([1, 1], [1, 1], 0)], (5,), 5),
    "predictor in a 1-value block": (2, 4, [bytes((_INT_PRED,)) + _pred([1], [1], 0, 2,
                                                                        b"\x02")], (1,), 1),
    "value table in a predictor block": (
        2, 11, [bytes((2 | 0x18, 1)) + _V(3) + _V(0) + _pred([1], [1], 0)], (100,), 100),
    # a version-2 feature in a version-1 frame
    "v1 frame with a dictionary": (1, 11, [_dict(2, _raw([1.5, 2.5], "f8"), _const(2))],
                                   (4,), 4),
    "v1 frame with a predictor": (1, 4, [bytes((_INT_PRED,)) + _pred([1], [1], 0)], (5,), 5),
    # no values, but a shape numpy cannot make (was: ValueError from reshape)
    "empty, a dimension of 2**63": (1, 11, [], (0, 2**63), 16),
    "empty, a dimension of 2**64 - 1": (2, 11, [], (2**64 - 1, 0), 16),
    "empty, dimensions past intp": (1, 11, [], (2**40, 2**40, 0), 16),
}


@pytest.mark.parametrize("backend", ["native", "reference"])
@pytest.mark.parametrize("case", sorted(_HOSTILE))
def test_hostile_frames_raise_corrupt_data_error(case, backend):
    if backend == "native" and _backend.lib is None:
        pytest.skip("needs the compiled kernels")
    blob = _frame_of(*_HOSTILE[case])
    lib = _backend.lib if backend == "native" else None
    with pytest.raises(CorruptDataError):
        _with_backend(lib, lambda: decode(blob))


def test_hand_built_v2_frames_decode():
    """The builders above make valid frames when the fields are in range (so the hostile
    cases fail on the field they change, not on the builder)."""
    ok = _frame_of(2, 11, [_dict(2, _raw([1.5, 2.5], "f8"), _const(2))], (4,), 4)
    assert decode(ok).tolist() == [2.5] * 4
    pred = _frame_of(2, 4, [bytes((_INT_PRED,)) + _pred([1, 2], [2, -1], 0)], (5,), 5)
    assert decode(pred).tolist() == [1, 2, 4, 7, 11]
    assert decode(_frame_of(1, 11, [], (0, 2**40), 16)).shape == (0, 2**40)


def _rand_stream(rng: np.random.Generator, n: int, order: int = 0) -> bytes:
    """A valid stream of n values at delta order ``order``: one token, or a coded table."""
    if n <= order:
        return b"".join(_V(int(v)) for v in rng.integers(0, 40, n)) + b"\x02"
    if rng.random() < 0.5:
        first = b"".join(_V(int(v)) for v in rng.integers(0, 40, order))
        return first + _const(int(rng.integers(0, 16)))
    j = rng.integers(0, int(rng.choice([2, 5, 300])), n).astype(np.uint64)
    return C._stream_encode(j, order)


def _rand_pred(rng: np.random.Generator, n: int) -> bytes:
    lags = sorted({int(v) for v in rng.integers(1, max(2, n + 1), int(rng.integers(1, 5)))})
    coefs = [int(v) for v in rng.integers(-5, 6, len(lags))]
    return (_v2.descriptor(lags, coefs, int(rng.integers(0, 4))) + _V(int(rng.integers(0, 50)))
            + _rand_stream(rng, max(n - 1, 0)))


def _rand_v2_frame(seed: int) -> bytes:
    """A version-2 frame of one block: a dictionary (plain or split, any index order or a
    predictor) or a predictor block, with fields drawn near and past their limits (T up to
    n + 1, lags up to n, split bits 1..63), over every dtype family."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 2, 5, 33, 300]))
    code, dt = [(11, "f8"), (10, "f4"), (4, "i8"), (5, "u1"), (9, "f2"),
                (12, "u1")][int(rng.integers(6))]
    if rng.random() < 0.6:
        size = int(rng.integers(1, n + 2))
        split = int(rng.choice([1, 7, 40, 63])) if rng.random() < 0.4 else None
        tdt = "i8" if split is not None else dt
        vals = np.sort(rng.integers(-50, 50, size)).astype(tdt)
        table = (_raw(vals, tdt) if rng.random() < 0.5
                 else C._encode_block(np.ascontiguousarray(vals), -1.0, 3, False))
        order = int(rng.integers(0, 4))
        idx = _rand_pred(rng, n) if order == 3 else _rand_stream(rng, n, order)
        low = _rand_stream(rng, n) if split is not None else b""
        blk = _dict(size, table, idx, order=order, split=split, low=low)
    else:
        model = 1 if dt[0] in "iu" else int(rng.choice([2, 3, 4]))
        resid = model in (2, 3) and rng.random() < 0.3
        head = model | 0x18 | (0x40 if resid else 0)
        params = {1: b"", 2: bytes((int(rng.integers(0, 4)), 0)), 4: b"",
                  3: struct.pack("<dd", 0.5, 0.25) + b"\x00"}[model]
        blk = (bytes((head,)) + params + _rand_pred(rng, n)
               + (_rand_stream(rng, n) if resid else b""))
    return _frame_of(2, code, [blk], (n,), n)


@native
@settings(max_examples=_EXAMPLES, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_v2_blocks_decode_alike_or_corrupt(seed):
    """Native and reference decoders agree on v2 frames built field by field (values, or
    both CorruptDataError; never another exception)."""
    blob = _rand_v2_frame(seed)
    got = []
    for lib in (_backend.lib, None):
        try:
            got.append(_with_backend(lib, lambda: decode(blob)).tobytes())
        except CorruptDataError:
            got.append(None)
    assert got[0] == got[1]
