"""The decode paths of the non-predictor blocks (docs/compress/speed.md, "Decode: the
non-predictor series"): lanes streams with rare codes of 56..61 extra bits on the SIMD path
(one such code used to send a whole stream to the portable loop), lanes steps that are
narrow inside a wide table, zero runs expanded straight into the integer and float-bits
sinks, the value-table gathers and the float32-in-float64 widening: every path against the
numpy reference and the Python block decoder, bit for bit, on generated data and on the
corpus series these paths were built for; plus damaged frames of those kinds."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.compress import _codec_ref as ref
from edgekit.compress import _kernels as K
from edgekit.compress import codec as C
from edgekit.compress import decode, encode
from edgekit.errors import CorruptDataError
from tests.common import needs_native
from tests.compress.test_corpus import CORPUS as _SHIPPED
from tests.compress.test_corpus import FULL as _FULL
from tests.compress.test_kernels import _c_takes_every_block, _Patched, _python_decode
from tests.compress.test_v3_stream_lanes import _coded, _SimdOff


def _series_path(name: str):
    """The series in the full corpus beside the clone, else in the test corpus, else None."""
    for d in (_FULL, _SHIPPED):
        if (d / f"{name}.npy").exists():
            return d / f"{name}.npy"
    return None


def _rare_wide(seed: int, n: int, every: int, narrow_bits: int) -> np.ndarray:
    """int64 values of about ``narrow_bits`` bits with, on average once in ``every``
    values, one of 58..63 bits (a code of 56..61 extra bits) at a random position."""
    rng = np.random.default_rng(seed)
    k = rng.integers(-(1 << narrow_bits), 1 << narrow_bits, n, dtype=np.int64)
    pos = rng.random(n) < 1.0 / every
    big = rng.integers(57, 63, n)
    k[pos] = (rng.integers(1 << 40, 1 << 50, n, dtype=np.int64)[pos] << (big[pos] - 50)) \
        * rng.choice([-1, 1], n)[pos]
    return k


@needs_native
@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2 ** 32), st.integers(256, 5000), st.sampled_from([3, 40, 700, 5000]),
       st.sampled_from([4, 12, 24, 27, 29, 31, 40]), st.integers(0, 2))
def test_lanes_rare_wide_codes_simd_equal_portable_and_reference(seed, n, every, bits, order):
    """Mostly narrow codes, rare wide ones: the SIMD path (its narrow steps, its 64-bit
    steps and the scalar fix of the 58..61-bit lanes), the portable loop and the numpy
    reference give the same j."""
    k = _rare_wide(seed, n, every, bits)
    coded = _coded(k, order)
    if coded is None:
        return
    words, bits_, freq = coded
    first = k[:order].view(np.uint64).tolist()
    want = k.view(np.uint64)
    got = K.decode(words, bits_, freq, K.SINGLE_LANES, order, n, first).copy()
    with _SimdOff():
        port = K.decode(words, bits_, freq, K.SINGLE_LANES, order, n, first).copy()
    status, rj = ref.decode(words, bits_, freq, K.SINGLE_LANES, order, n, first)
    assert status == ref.OK
    assert got.tobytes() == want.tobytes() == port.tobytes() == rj.tobytes()


def _all_paths(fr: bytes, x: np.ndarray) -> None:
    """fr decodes to x bit for bit on every path: the one-call fast path, the C block
    decoder (each block, then all blocks), the Python block decoder, SIMD off, and the
    numpy reference backend."""
    assert decode(fr).tobytes() == x.tobytes()
    assert _c_takes_every_block(fr).tobytes() == x.tobytes()
    for poison in (0x00, 0xA5, 0xFF):  # every value written (np.empty may hold the last
        length, rd, code, flags, shape = C._frame_at(fr, 0)  # decode's values by chance)
        blen = rd.varint()
        out = np.full(x.nbytes, poison, dtype=np.uint8).view(x.dtype)
        done, _ = K.decode_blocks(fr, rd.pos, rd.end, blen, out, fr[4])
        assert done == -(-x.size // blen) and out.tobytes() == x.tobytes()
    assert _python_decode(fr).tobytes() == x.tobytes()
    with _SimdOff():
        assert decode(fr).tobytes() == x.tobytes()
    with _Patched(K._backend, "lib", None):
        assert decode(fr).tobytes() == x.tobytes()


def _runs_values(seed: int, n: int, dtype: str, zero_share: float, order: int) -> np.ndarray:
    """Values whose order-k deltas are zero with probability ``zero_share`` (the zero-run
    form), with runs long and short, in an integer or float dtype."""
    rng = np.random.default_rng(seed)
    d = rng.integers(-50, 50, n) * (rng.random(n) >= zero_share)
    if rng.random() < 0.5:  # some long runs too (the fill loop past 8 values)
        for s in rng.integers(0, n, 4):
            d[s: s + int(rng.integers(9, 200))] = 0
    k = d
    for _ in range(order):
        k = np.cumsum(k)
    dt = np.dtype(dtype)
    if dt.kind in "iu":  # anywhere in the dtype's range, negative values too
        info = np.iinfo(dt)
        k = k + int(rng.integers(max(info.min, -(1 << 40)) // 2, min(info.max, 1 << 40) // 2))
    else:
        k = k + int(rng.integers(-1000, 1000))
    if dt.kind == "f":
        w = dt.itemsize * 8
        u = (k % (1 << min(w - 2, 40))).astype(np.uint64) + (1 << (w - 3))  # finite floats
        return u.astype(np.dtype(f"u{dt.itemsize}")).view(dt)
    info = np.iinfo(dt)
    return np.clip(k, info.min, info.max).astype(dt)


@needs_native
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32), n=st.integers(64, 9000),
       dtype=st.sampled_from(["int8", "int16", "int32", "int64", "uint16", "float16",
                              "float32", "float64"]),
       zero_share=st.sampled_from([0.35, 0.5, 0.8, 0.97]), order=st.integers(0, 2))
def test_zero_runs_into_sinks_on_every_path(seed, n, dtype, zero_share, order):
    x = _runs_values(seed, n, dtype, zero_share, order)
    with _Patched(C, "_runs_pay", lambda *a: True):  # the zero-run form wherever allowed
        fr = encode(x)
    _all_paths(fr, x)


@needs_native
@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint32", "float16",
                                   "float32", "float64"])
@pytest.mark.parametrize("order", [0, 1, 2])
def test_zero_runs_into_sinks_every_dtype_and_order(dtype, order):
    """The same, deterministic: every sink at every order, negative values and long runs
    of nonzero codes (the eight-at-once path of 32-bit sinks at order 1) included."""
    for seed in range(4):
        for share in (0.35, 0.8):
            x = _runs_values(seed, 2000, dtype, share, order)
            with _Patched(C, "_runs_pay", lambda *a: True):
                fr = encode(x)
            _all_paths(fr, x)


@needs_native
def test_zero_run_sink_fills_up_to_the_last_value():
    """Runs that end the block, runs of exactly 8 and 9, a block shorter than 8 after the
    run: the fixed 8-store fill must not write past the output nor leave a value unset."""
    for tail in (0, 1, 7, 8, 9, 30):
        d = np.zeros(4000, dtype=np.int64)
        d[::2] = 5 + np.arange(2000) % 7  # runs of one zero code
        d[101:109] = 0  # runs of 8, 9 and 10 zero codes after a nonzero one
        d[201:210] = 0
        d[301:311] = 0
        if tail:
            d[-tail:] = 0
            d[-tail - 1] = 3
        for dt in ("int32", "float32"):
            k = np.cumsum(d) + 7
            x = (k.astype(np.int32) if dt == "int32"
                 else (k.astype(np.uint32) + (1 << 29)).view(np.float32))
            with _Patched(C, "_runs_pay", lambda *a: True):
                fr = encode(x)
            assert _stream_kinds(fr).count("runs"), "the zero-run form was not chosen"
            _all_paths(fr, x)


def _stream_kinds(fr: bytes) -> list[str]:
    kinds: list[str] = []
    orig = C._body_decode

    def spy(rd, order, n, first, slot, runs_ok, fused=None, sink=None):
        kinds.append({0: "one", 1: "rans", 3: "runs", 4: "lanes"}.get(rd.buf[rd.pos], "?"))
        return orig(rd, order, n, first, slot, runs_ok, fused, sink)

    C._body_decode = spy
    try:
        _python_decode(fr)
    finally:
        C._body_decode = orig
    return kinds


# the corpus series the paths above were built for (their frames' kinds: see
# tools/compress_frame_layout.py), when the corpus is beside the clone
_SERIES = ["wind_farm_power_MW", "membrane_potential_f32", "pv_system50_ac_power_W",
           "pv_system4_module_temp_C", "pv_system15_poa_irradiance_Wm2",
           "house_appliances_energy_Wh", "payerne_temp_C"]


@needs_native
@pytest.mark.parametrize("name", _SERIES)
def test_corpus_series_on_every_path(name):
    p = _series_path(name)
    if p is None:
        pytest.skip("series in neither corpus")
    x = np.load(p)
    fr = encode(x)
    kinds = _stream_kinds(fr)
    if p.parent == _FULL:  # (the test corpus holds shorter slices of some of them)
        if name in ("wind_farm_power_MW", "membrane_potential_f32"):
            assert "lanes" in kinds  # (membrane: its main stream judged with its block)
        if name.startswith(("pv_system4", "pv_system50")):
            assert "runs" in kinds and "rans" not in kinds  # run sub-streams in lanes too
    _all_paths(fr, x)


@needs_native
@pytest.mark.parametrize("name", ["wind_farm_power_MW", "membrane_potential_f32",
                                  "pv_system50_ac_power_W"])
def test_damaged_frames_of_these_kinds_raise_corrupt_data(name):
    """Bit flips and truncations of these frames (their block kinds: wide lanes, F32 with a
    value table and a zero-run residual, zero-run bits blocks) raise CorruptDataError or
    decode to what the Python block decoder gives, never crash."""
    p = _series_path(name)
    if p is None:
        pytest.skip("series in neither corpus")
    x = np.load(p)
    fr = bytearray(encode(x))
    rng = np.random.default_rng(1)
    for trial in range(300):
        bad = bytearray(fr)
        if trial % 3 == 0:
            bad = bad[: int(rng.integers(1, len(bad)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                bad[int(rng.integers(20, len(bad) - 4))] ^= 1 << int(rng.integers(0, 8))
            # a damaged body with a fixed checksum, so the block decoders see it
            bad[-4:] = zlib.crc32(bytes(bad[:-4])).to_bytes(4, "little")
        try:
            got = decode(bytes(bad))
        except CorruptDataError:
            with pytest.raises(CorruptDataError):
                _python_decode(bytes(bad))
            continue
        assert got.tobytes() == _python_decode(bytes(bad)).tobytes()


@needs_native
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32), n=st.integers(300, 6000),
       off_share=st.sampled_from([0.0, 0.002, 0.05, 0.6]),
       special=st.booleans(), decimal=st.booleans())
def test_f32_blocks_with_a_value_table_straight_into_float64(seed, n, off_share, special,
                                                             decimal):
    """Float64 values that are all float32 (an F32 block) on a grid with a value table,
    some off the grid (residuals: a zero-run residual stream when few, a plain one when
    many), NaN, infinities and -0.0 among them: the C decoder writes them straight into
    float64 (the table widened once, the float32 residual applied to the widened values)
    and every path agrees."""
    rng = np.random.default_rng(seed)
    k = np.cumsum(rng.integers(-3, 4, n))
    step = 0.1 if decimal else 0.0625 * 3
    x = (k * step + 20.0).astype(np.float32)
    off = rng.random(n) < off_share
    x[off] = np.nextafter(x[off], np.float32(np.inf))
    if special:
        for v in (np.nan, np.inf, -np.inf, -0.0):
            x[int(rng.integers(0, n))] = v
        x[int(rng.integers(0, n))] = np.array(0x7FC01234, dtype=np.uint32).view(np.float32)
    y = x.astype(np.float64)
    fr = encode(y)
    _all_paths(fr, y)
