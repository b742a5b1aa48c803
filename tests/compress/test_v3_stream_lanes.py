"""Format v3's stream lanes (stream kind 4: 16 rANS states, docs/compress/format.md): the C
encoders and decoders (SIMD and portable) against the numpy reference, the encoder's choice,
the v3 golden frames on both backends, and damaged lanes streams."""

from __future__ import annotations

import struct
import zlib
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
from edgekit.data import load_series
from edgekit.errors import CorruptDataError
from tests.common import needs_native
from tests.compress.test_kernels import _c_takes_every_block, _python_decode

GOLDEN_V3 = sorted((Path(__file__).resolve().parent.parent / "golden" / "v3")
                   .glob("kind4_*.ekz"))  # (the stream-lanes cases of the v3 golden frames)


class _SimdOff:
    """The portable C path of the lanes decoder for the duration of a with block."""

    def __enter__(self):
        self.was = K.lanes_simd(False)

    def __exit__(self, *exc):
        K.lanes_simd(self.was)


def _streams():
    """int64 arrays whose order-k streams hit each path of the lanes decoder: one-chunk and
    many-chunk streams, lengths off a multiple of 16, tokens of few extra bits (the 32-bit
    SIMD path), of 26..55 (the 64-bit one) and of 56..61 (the scalar path)."""
    sizes = st.integers(0, 1500)
    return st.one_of(
        hnp.arrays(np.int64, sizes, elements=st.integers(-3, 3)).map(np.cumsum),
        hnp.arrays(np.int64, sizes, elements=st.integers(-500, 500)),
        hnp.arrays(np.int64, sizes, elements=st.integers(-(2 ** 40), 2 ** 40)),
        hnp.arrays(np.int64, sizes, elements=st.integers(-(2 ** 63), 2 ** 63 - 1)),
        hnp.arrays(np.int64, sizes,
                   elements=st.sampled_from([0, 0, 0, 1, -1, 2 ** 27, -(2 ** 27) - 1, 2 ** 30])),
    )


def _coded(k: np.ndarray, order: int):
    """(words, bits, freq) of j = k's order-k stream in lanes, or None (fewer than two
    tokens: no rANS stream)."""
    j = k.view(np.uint64)
    tok, buf, blen, h = K.tokenize(j, order)
    if np.count_nonzero(h) < 2:
        return None
    freq = C._normalize(h)
    tok, allbits = tok.copy(), buf[:blen].tobytes()
    bits, words = K.rans_lanes(tok, order, freq, buf.copy(), blen)
    status, rbits, rwords = ref.rans_lanes(tok[order:], freq, allbits)
    assert status == ref.OK and (bits, words) == (rbits, rwords)
    with _SimdOff():  # the SIMD encoder (where the CPU has it) and the scalar one agree
        assert K.rans_lanes(tok, order, freq, buf.copy(), blen) == (bits, words)
    return words, bits, freq


@needs_native
@settings(max_examples=300, deadline=None)
@given(_streams(), st.integers(0, 2))
def test_lanes_kernels_native_equal_reference(k, order):
    coded = _coded(k, order)
    if coded is None:
        return
    words, bits, freq = coded
    j = k.view(np.uint64)
    first = [int(v) for v in j[:order]]
    status, rj = ref.decode(words, bits, freq, ref.SINGLE_LANES, order, j.size, first)
    assert status == ref.OK and np.array_equal(rj, j)
    for simd in (True, False):
        K.lanes_simd(simd)
        try:
            out = K.decode(words, bits, freq, K.SINGLE_LANES, order, j.size, first)
            assert out is not None and np.array_equal(out, j)
            o16 = np.empty(j.size, dtype=np.uint16)
            assert K.decode_into(words, bits, freq, K.SINGLE_LANES, order, j.size, first,
                                 K.SINK_I8 + 1, o16)
            assert np.array_equal(o16, j.astype(np.uint16))
        finally:
            K.lanes_simd(True)


@needs_native
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_lanes_streams_refused_alike(data):
    k = data.draw(_streams())
    order = data.draw(st.integers(0, 2))
    coded = _coded(k, order)
    if coded is None:
        return
    words, bits, freq = coded
    which = data.draw(st.sampled_from(["words", "bits"]))
    buf = bytearray(words if which == "words" else bits)
    how = data.draw(st.sampled_from(["flip", "cut", "grow"]))
    if how == "flip" and buf:
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "cut" and buf:
        del buf[data.draw(st.integers(0, len(buf) - 1)):]
    else:
        buf += bytes(data.draw(st.integers(1, 3)))
    if which == "words":
        words = bytes(buf)
    else:
        bits = bytes(buf)
    n = k.size
    first = [int(v) for v in k.view(np.uint64)[:order]]
    status, rj = ref.decode(words, bits, freq, ref.SINGLE_LANES, order, n, first)
    for simd in (True, False):
        K.lanes_simd(simd)
        try:
            out = K.decode(words, bits, freq, K.SINGLE_LANES, order, n, first)
        finally:
            K.lanes_simd(True)
        assert (out is None) == (status != ref.OK)
        if out is not None:
            assert np.array_equal(out, rj)


def test_golden_v3_frames_use_lanes_and_decode_on_both_backends(monkeypatch):
    assert len(GOLDEN_V3) >= 10
    for path in GOLDEN_V3:
        blob = path.read_bytes()
        want = np.load(path.with_suffix(".npy"), allow_pickle=False)
        assert blob[4] == 3
        assert decode(blob).tobytes() == want.tobytes()
        if _backend.is_native():
            with _SimdOff():
                assert decode(blob).tobytes() == want.tobytes()
    if _backend.is_native():  # the numpy reference (EDGEKIT_BACKEND=reference) too
        monkeypatch.setattr(_backend, "lib", None)
        for path in GOLDEN_V3:
            if path.stat().st_size < 40000:  # the reference is slow: the smaller frames
                want = np.load(path.with_suffix(".npy"), allow_pickle=False)
                assert decode(path.read_bytes()).tobytes() == want.tobytes(), path.name


@needs_native
@pytest.mark.parametrize("path", GOLDEN_V3, ids=lambda p: p.stem)
def test_block_decoder_takes_every_v3_golden_frame(path):
    want = np.load(path.with_suffix(".npy"), allow_pickle=False)
    fast = _c_takes_every_block(path.read_bytes())
    assert fast.tobytes() == want.tobytes()


def _refit_crc(frame: bytearray) -> bytes:
    frame[-4:] = struct.pack("<I", zlib.crc32(bytes(frame[:-4])))
    return bytes(frame)


@pytest.mark.parametrize("version", [1, 2])
def test_lanes_in_an_older_frame_are_refused(version):
    for path in GOLDEN_V3[:6]:
        frame = bytearray(path.read_bytes())
        frame[4] = version
        with pytest.raises(CorruptDataError):
            decode(_refit_crc(frame))


def test_encoder_writes_lanes_only_for_long_streams(monkeypatch):
    # 43,200 values in 545 bytes: the 48 bytes of states cost more than _T_LANES_SHARE
    assert encode(load_series("payerne_pressure_hPa"))[4] == 1
    x = load_series("payerne_temp_C")  # 13 kB: lanes when their share is not limited
    monkeypatch.setattr(C, "_T_LANES_SHARE", 0.0)
    assert encode(x)[4] == 1
    monkeypatch.setattr(C, "_T_LANES_SHARE", 1.0)
    lanes = encode(x)
    assert lanes[4] == 3
    assert encode(x[:3000])[4] == 1  # short streams: kind 1, a version-1 frame as before
    monkeypatch.setattr(C, "_T_LANES_MIN", 1 << 62)
    plain = encode(x)
    assert plain[4] == 1
    # the same blocks, models and choices: only the streams' kind and states differ (12
    # more states of 4 bytes, less the extra bits they carry, and the lanes' flush)
    assert decode(lanes).tobytes() == decode(plain).tobytes() == x.tobytes()
    assert 0 <= len(lanes) - len(plain) <= 64 * -(-x.size // C.BLOCK_LEN)


def test_lanes_where_their_states_cost_little():
    # a noisy float series: its streams carry many extra bits (the tail fills the states)
    x = np.load(Path(__file__).resolve().parent.parent / "golden" / "v3"
                / "kind4_bits_pv_irradiance.npy", allow_pickle=False)
    assert encode(x)[4] == 3


@needs_native
def test_lanes_frames_agree_with_the_python_block_decoder(monkeypatch):
    monkeypatch.setattr(C, "_T_LANES_SHARE", 1.0)
    rng = np.random.default_rng(5)
    for x in (load_series("payerne_ghi_Wm2")[:20000],
              np.cumsum(rng.integers(-2 ** 30, 2 ** 30, 9000)),  # 26..55 extra bits
              (np.cumsum(rng.normal(size=20000)) * 1000).astype(np.int32)):
        blob = encode(x)
        assert blob[4] == 3
        assert _python_decode(blob).tobytes() == decode(blob).tobytes() == x.tobytes()


def test_lanes_golden_damaged_byte_by_byte():
    """The first bytes of the smallest v3 golden frames' first block (head, parameters,
    stream kind, frequency table, the lanes' states), set to boundary values with the
    checksum refitted: decoded or CorruptDataError, and the C fast path and the Python
    decoder agree."""
    small = [p for p in GOLDEN_V3 if p.stat().st_size < 15000]
    assert len(small) >= 3
    outcomes = {"decoded": 0, "corrupt": 0}
    for path in small:
        blob = path.read_bytes()
        for pos in range(12, min(len(blob) - 4, 12 + 120)):
            for v in (0, 1, 4, 0x7F, 0x80, 0xFF, blob[pos] ^ 1):
                b = bytearray(blob)
                b[pos] = v
                frame = _refit_crc(b)
                try:
                    got = decode(frame)
                except CorruptDataError:
                    outcomes["corrupt"] += 1
                    if _backend.is_native():
                        with pytest.raises(CorruptDataError):
                            _python_decode(frame)
                    continue
                outcomes["decoded"] += 1
                if _backend.is_native():
                    assert _python_decode(frame).tobytes() == got.tobytes()
    assert outcomes["corrupt"] > 0 and outcomes["decoded"] > 0
