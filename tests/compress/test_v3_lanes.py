"""Format v3 of edgekit.compress: predictor lanes.  The kernels give the numpy reference's
bits (hypothesis, every lane count and predictor shape, values inside and outside int32),
real predictor series are cut into lanes at a small cost in size and decode bit for bit on
every path (fast, block by block, the Python reference), a frame is version 3 only when a
block has lanes, and damaged lane fields raise CorruptDataError."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit import _backend
from edgekit.compress import _codec_ref as ref
from edgekit.compress import _v2, decode, encode
from edgekit.compress import codec as C
from edgekit.errors import CorruptDataError
from tests.common import needs_native

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "v3"
SENSORS = Path(__file__).resolve().parents[3] / "shared" / "data" / "sensors"  # beside the clone
_U64 = (1 << 64) - 1


def _series(name: str) -> np.ndarray:
    """A real corpus series: the test corpus copy, else the sensor corpus."""
    for d in (Path(__file__).resolve().parent.parent / "data" / "corpus", SENSORS):
        p = d / f"{name}.npy"
        if p.exists():
            return np.load(p, allow_pickle=False)
    pytest.skip(f"{name} is not in the corpus")


def _predictors(draw, n: int, nl: int) -> tuple[list[int], list[int], int]:
    seg = -(-n // nl)
    top = min(n - (nl - 1) * seg - 1, 40)
    if draw(st.booleans()):  # dense 1..P, the LPC form
        p = draw(st.integers(1, min(13, top)))
        lags = list(range(1, p + 1))
    else:
        lags = sorted(draw(st.sets(st.integers(1, top), min_size=1, max_size=4)))
    coefs = [draw(st.integers(-(1 << 31), (1 << 31) - 1)) if draw(st.booleans())
             else draw(st.integers(-40000, 40000)) for _ in lags]
    return lags, coefs, draw(st.integers(0, 32))


@st.composite
def _lane_case(draw):
    nl = draw(st.sampled_from([2, 3, 5, 8, 8, 8, 11, 16]))
    n = draw(st.integers(nl * 3, 900))
    if ref.lanes_geom(n, nl, 1) is None:
        n = nl * 40
    kind = draw(st.sampled_from(["small", "wide", "cross"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "small":  # values that fit int32: the 32-bit multiplies
        j = np.cumsum(rng.integers(-300, 301, size=n)).astype(np.int64)
    elif kind == "wide":
        j = rng.integers(-(1 << 63), (1 << 63) - 1, size=n, dtype=np.int64)
    else:  # int32 values with bursts past it: the switch to 64-bit multiplies and back
        j = rng.integers(-1000, 1000, size=n).astype(np.int64)
        for a in rng.integers(0, n, size=3):
            j[a: a + 20] += np.int64(1) << 40
    lags, coefs, shift = _predictors(draw, n, nl)
    return j.view(np.uint64), nl, lags, coefs, shift


@needs_native
@settings(max_examples=300, deadline=None)
@given(_lane_case())
def test_lane_kernels_match_reference(case):
    j, nl, lags, coefs, shift = case
    n = j.size
    if ref.lanes_geom(n, nl, lags[-1]) is None:
        return
    status, e_ref, s_ref = ref.predict_lanes(j, nl, lags, coefs, shift)
    assert status == ref.OK and e_ref is not None and s_ref is not None
    e, starts = _v2.predict_lanes(j, nl, lags, coefs, shift)
    assert e.tobytes() == e_ref.tobytes() and starts.tobytes() == s_ref.tobytes()
    status, h_ref, info_ref = ref.lanes_extra(j, nl, lags, coefs, shift)  # the encoder's cost
    h, info = _v2.lanes_extra(j, nl, lags, coefs, shift)
    assert status == ref.OK and h_ref is not None and h.tolist() == h_ref.tolist()
    assert info == info_ref
    e1 = _v2.predict(j, lags, coefs, shift)  # from the one-lane residuals (the encoder's)
    assert _v2.predict_lanes(j, nl, lags, coefs, shift, e1)[0].tobytes() == e_ref.tobytes()
    status, back = ref.unpredict_lanes(e, n, nl, starts, lags, coefs, shift)
    assert status == ref.OK and back is not None and back.tobytes() == j.tobytes()
    # any residuals (not only a predictor's own): the kernels still give the reference's j
    noise = np.random.default_rng(n).integers(0, 1 << 63, size=e.size, dtype=np.uint64)
    status, want = ref.unpredict_lanes(noise, n, nl, starts, lags, coefs, shift)
    assert want is not None
    lib = _backend.lib
    for kernel in (2, 1, 0):  # AVX-512, AVX2, scalar (where the CPU has them)
        was = lib.ekz2_lanes_use(kernel)
        try:
            assert _v2.predict_lanes(j, nl, lags, coefs, shift)[0].tobytes() == e.tobytes()
            got = _v2.unpredict_lanes(e, n, nl, starts, lags, coefs, shift)
            assert got.tobytes() == j.tobytes(), kernel
            got = _v2.unpredict_lanes(noise, n, nl, starts, lags, coefs, shift)
            assert got.tobytes() == want.tobytes(), kernel
        finally:
            lib.ekz2_lanes_use(was)


def test_lane_geometry_refuses_lanes_that_do_not_fit():
    assert ref.lanes_geom(100, 8, 8) == (13, 9)  # 7 lanes of 13, the last 9
    assert ref.lanes_geom(100, 8, 9) is None  # the last lane has no predicted value
    assert ref.lanes_geom(10, 1, 1) is None and ref.lanes_geom(1000, 65, 1) is None
    assert ref.lanes_geom(8, 8, 1) is None  # one value a lane: all warm-up
    status, _, _ = ref.predict_lanes(np.arange(100, dtype=np.uint64), 8, [1, 2], [2, -1], 0)
    assert status == ref.OK


# ------------------------------------------------------------------ the encoder's frames

_LANE_SERIES = ["seismic_iu_anmo_lhz_counts", "knet_akt013_accel_ew_counts",
                "heartpy_ppg_adc", "iers_length_of_day_excess_s",
                "goes15_xrs_long_1_8ang_Wm2", "seismic_ii_tly_bhz_tohoku_counts"]


def _lanes_of(blob: bytes) -> list[int]:
    """Lane count of each block of a 1-D frame (0: no lanes)."""
    rd = C._Reader(blob, C._HEADER.size, len(blob) - 4)
    n = rd.varint()
    bl = rd.varint()
    out = []
    for _ in range(-(-n // bl)):
        size = rd.varint()
        blk = blob[rd.pos: rd.pos + size]
        out.append(_v2._LANES if _v2.uses_v3(blk) else 0)
        rd.pos += size
    return out


@pytest.mark.parametrize("name", _LANE_SERIES)
def test_predictor_series_use_lanes_at_a_small_cost(name, monkeypatch):
    x = _series(name)
    blob = encode(x)
    assert blob[4] == 3 and any(_lanes_of(blob))
    assert decode(blob).tobytes() == x.tobytes()
    monkeypatch.setattr(C, "_T_LANE_MIN_LEN", 1 << 40)  # no predictor lanes
    one = encode(x)
    assert one[4] >= 2 and not any(_lanes_of(one))  # (3 when a stream has lanes)
    assert len(one) <= len(blob) <= len(one) * 1.01  # eight lanes cost below 1 %


def test_lanes_threshold_keeps_costly_lanes_out(monkeypatch):
    x = _series("apollo15_pse_spz_counts")  # 5,184 values: 7 warm-ups cost too much
    assert encode(x)[4] == 2
    monkeypatch.setattr(C, "_T_LANE_COST", 1.0)
    blob = encode(x)
    assert blob[4] == 3 and decode(blob).tobytes() == x.tobytes()


def test_frames_without_lanes_keep_their_version(monkeypatch):
    monkeypatch.setattr(C, "_T_LANES_MIN", 1 << 62)  # no stream lanes (kind 4) either
    x = _series("payerne_temp_C")
    assert encode(x)[4] in (1, 2)
    short = _series("seismic_iu_anmo_lhz_counts")[:1500]  # a lane would hold < 256 values
    assert encode(short)[4] == 2


@pytest.mark.parametrize("name", ["knet_akt013_accel_ew_counts", "goes15_xrs_long_1_8ang_Wm2",
                                  "seismic_ii_tly_bhz_tohoku_counts"])
def test_every_decode_path_gives_the_same_bits(name, monkeypatch):
    x = _series(name)
    blob = encode(x)
    assert blob[4] == 3
    fast = decode(blob)
    if _backend.lib is not None:  # the block decoder's lanes on every kernel
        for kernel in (1, 0):
            was = _backend.lib.ekz2_lanes_use(kernel)
            try:
                assert decode(blob).tobytes() == x.tobytes(), kernel
            finally:
                _backend.lib.ekz2_lanes_use(was)
    monkeypatch.setattr(C, "_decode_fast", lambda buf, pos: None)
    blocks = decode(blob)  # ekz_decode_blocks
    from edgekit.compress import _kernels as K
    monkeypatch.setattr(K, "decode_blocks", lambda buf, pos, end, blen, out, v=1: (0, pos))
    monkeypatch.setattr(K, "decode_block", lambda *a, **k: False)
    python = decode(blob)  # the Python block decoder with the lane kernels
    monkeypatch.setattr(_backend, "lib", None)
    reference = decode(blob)  # numpy / Python references only
    for got in (fast, blocks, python, reference):
        assert got.dtype == x.dtype and got.tobytes() == x.tobytes()


# ------------------------------------------------------------------ damage

def _fix_crc(frame: bytearray) -> bytes:
    frame[-4:] = struct.pack("<I", zlib.crc32(bytes(frame[:-4])))
    return bytes(frame)


def _pred_byte(blob: bytes) -> int:
    """Offset of the first block's predictor term-count byte (an integer block)."""
    rd = C._Reader(blob, C._HEADER.size, len(blob) - 4)
    rd.varint()
    rd.varint()
    rd.varint()
    assert blob[rd.pos] & 0x1F == 0x19  # integer model, order field 3
    return rd.pos + 1


def _both_paths(blob: bytes, monkeypatch) -> list[str]:
    out = []
    for full in (False, True):
        with monkeypatch.context() as m:
            if full:
                m.setattr(C, "_decode_fast", lambda buf, pos: None)
            try:
                out.append("ok:" + decode(blob).tobytes().hex()[:64])
            except CorruptDataError:
                out.append("corrupt")
    return out


def test_lane_fields_damaged(monkeypatch):
    blob = (GOLDEN / "lanes_forced_i2_apollo15.ekz").read_bytes()
    at = _pred_byte(blob)
    assert blob[at] & _v2.LANES and blob[at + 2] == 8
    cases = {
        "v2 frame": (4, 2),  # a lane block in a version-2 frame
        "0 lanes": (at + 2, 0), "1 lane": (at + 2, 1), "65 lanes": (at + 2, 65),
        "255 lanes": (at + 2, 255), "lanes past the block": (at + 2, 64),
    }
    for what, (pos, v) in cases.items():
        b = bytearray(blob)
        b[pos] = v
        assert _both_paths(_fix_crc(b), monkeypatch) == ["corrupt", "corrupt"], what
    # the stream then holds n - 8 codes: dropping the flag leaves it too short for n - 1
    b = bytearray(blob)
    b[at] &= 0x7F
    del b[at + 2]
    assert _both_paths(_fix_crc(b), monkeypatch) == ["corrupt", "corrupt"]


def test_v3_golden_frames_damaged_byte_by_byte(monkeypatch):
    """Every byte of the head, descriptor and lanes' first values of the short v3 golden
    frames, set to boundary values with the checksum refitted: decoded or CorruptDataError,
    the same on the fast and the full path."""
    golden = [p for p in sorted(GOLDEN.glob("*.ekz")) if p.stat().st_size < 3000]
    assert len(golden) >= 4
    outcomes = {"decoded": 0, "corrupt": 0}
    for path in golden:
        blob = path.read_bytes()
        for pos in range(4, min(len(blob) - 4, 12 + 64)):
            for v in (0, 1, 2, 3, 0x7F, 0x80, 0xFF, blob[pos] ^ 1):
                b = bytearray(blob)
                b[pos] = v
                got = _both_paths(_fix_crc(b), monkeypatch)
                assert got[0] == got[1], (path.name, pos, v)
                outcomes["decoded" if got[0] != "corrupt" else "corrupt"] += 1
    assert outcomes["corrupt"] > 0 and outcomes["decoded"] > 0


def test_v3_golden_frames_truncated_and_flipped():
    rng = np.random.default_rng(16)
    for path in sorted(GOLDEN.glob("*.ekz")):
        blob = path.read_bytes()
        for cut in sorted(set(rng.integers(1, len(blob), size=12).tolist())):
            with pytest.raises(CorruptDataError):
                decode(blob[:cut])
        for _ in range(12):  # bit flips with the checksum refitted
            b = bytearray(blob)
            pos = int(rng.integers(12, len(blob) - 4))
            b[pos] ^= 1 << int(rng.integers(0, 8))
            try:
                decode(_fix_crc(b))
            except CorruptDataError:
                pass


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_forced_lanes_round_trip_on_every_path(data):
    """Any lane count, block length and predictor the encoder may pick, with the lane
    thresholds opened: the C block decoder (chunks that end inside a step, a shorter last
    lane), the Python decoder and the references give the input back."""
    from edgekit.compress import _kernels as K

    nl = data.draw(st.sampled_from([2, 3, 5, 8, 8, 13]))
    n = data.draw(st.integers(600, 5000))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    dt = data.draw(st.sampled_from([np.int16, np.int32, np.int64]))
    t = np.arange(n)
    x = (np.round(300 * np.sin(t / data.draw(st.floats(3.0, 200.0)))
                  + np.cumsum(rng.integers(-3, 4, size=n))
                  + rng.integers(-2, 3, size=n))).astype(dt)
    saved = [(_v2, "_LANES"), (C, "_T_LANE_MIN_LEN"), (C, "_T_LANE_COST"),
             (C, "_decode_fast"), (K, "decode_blocks"), (K, "decode_block"), (_backend, "lib")]
    keep = [getattr(mod, name) for mod, name in saved]
    try:
        _v2._LANES, C._T_LANE_MIN_LEN, C._T_LANE_COST = nl, 32, 1e9
        blob = encode(x)
        got = [decode(blob)]
        C._decode_fast = lambda buf, pos: None
        got.append(decode(blob))
        K.decode_blocks = lambda buf, pos, end, blen, out, v=1: (0, pos)
        K.decode_block = lambda *a, **k: False
        got.append(decode(blob))
        _backend.lib = None
        got.append(decode(blob))
    finally:
        for (mod, name), v in zip(saved, keep, strict=True):
            setattr(mod, name, v)
    for y in got:
        assert y.dtype == x.dtype and y.tobytes() == x.tobytes()


@needs_native
@pytest.mark.parametrize("name", ["knet_akt013_accel_ew_counts", "seismic_ii_tly_bhz_tohoku_counts",
                                  "apollo15_pse_spz_counts"])
def test_lane_frames_identical_on_both_backends(name, monkeypatch):
    """The lanes decision (kept or refused) and residuals are the same without the kernels:
    frames do not depend on the backend."""
    x = _series(name)
    blob = encode(x)
    monkeypatch.setattr(_backend, "lib", None)
    assert encode(x) == blob


@pytest.mark.parametrize("lanes", [8, 5])
def test_lane_residuals_in_zero_run_form(lanes, monkeypatch):
    """A lookback whose residuals are mostly zero: the lanes' stream takes the zero-run form
    (kind 3), which the C decoder expands before the lane sink; every path decodes it."""
    from edgekit.compress import _kernels as K

    rng = np.random.default_rng(1)
    n = 20000
    x = np.tile(rng.integers(-3000, 3000, 24), n // 24 + 1)[:n].astype(np.int64)
    x[rng.integers(0, n, 300)] += rng.integers(-50, 50, 300)
    x += np.arange(n) // 2000
    kinds = []
    orig = C._stream_encode

    def spy(j, order, *a, **k):
        out = orig(j, order, *a, **k)
        kinds.append((j.size, out[order]))
        return out

    monkeypatch.setattr(_v2, "_LANES", lanes)
    monkeypatch.setattr(C, "_T_LANE_MIN_LEN", 32)
    monkeypatch.setattr(C, "_T_LANE_COST", 1e9)
    monkeypatch.setattr(C, "_stream_encode", spy)
    blob = encode(x)
    assert blob[4] == 3 and (n - lanes, 3) in kinds  # the lanes' residuals, zero runs
    assert decode(blob).tobytes() == x.tobytes()
    monkeypatch.setattr(C, "_decode_fast", lambda buf, pos: None)
    assert decode(blob).tobytes() == x.tobytes()
    monkeypatch.setattr(K, "decode_blocks", lambda buf, pos, end, blen, out, v=1: (0, pos))
    monkeypatch.setattr(K, "decode_block", lambda *a, **k: False)
    assert decode(blob).tobytes() == x.tobytes()
    monkeypatch.setattr(_backend, "lib", None)
    assert decode(blob).tobytes() == x.tobytes()
