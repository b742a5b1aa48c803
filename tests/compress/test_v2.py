"""Format v2 of edgekit.compress: the dictionary model and the linear predictors win where
they should on real series, v1 output is untouched where they do not, and damaged v2
parameters raise CorruptDataError."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekit.compress import _v2, decode, encode
from edgekit.compress import codec as C
from edgekit.data import list_series, load_series
from edgekit.errors import CorruptDataError


def _no_v2(monkeypatch) -> None:
    monkeypatch.setattr(_v2, "improve", lambda x, best, *a: best)
    _no_v3(monkeypatch)


def _no_v3(monkeypatch) -> None:
    """No format-v3 stream lanes (a v3 frame holds the v2 blocks with lanes in streams)."""
    monkeypatch.setattr(C, "_T_LANES_MIN", 1 << 62)


def _block_heads(blob: bytes) -> list[int]:
    """Head byte of every block of a 1-D frame."""
    rd = C._Reader(blob, C._HEADER.size, len(blob) - 4)
    n = rd.varint()
    if blob[6] & C._F_LOSSY:
        rd.f64()
    bl = rd.varint()
    heads = []
    for _ in range(-(-n // bl)):
        size = rd.varint()
        heads.append(blob[rd.pos])
        rd.pos += size
    return heads


def _interleaved() -> np.ndarray:
    """Three real channels multiplexed into one series (as a logger writes them)."""
    chans = [load_series(n)[:8000] for n in
             ("payerne_temp_C", "payerne_pressure_hPa", "payerne_ghi_Wm2")]
    return np.stack(chans, 1).ravel()


CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"


def test_dictionary_model_wins_on_few_distinct_values(monkeypatch):
    # real series (tests/data/corpus/README.md): GOES X-ray flux, float32, 201 levels
    x = np.load(CORPUS / "goes15_xrs_short_0p5_4ang_Wm2.npy", allow_pickle=False)
    blob = encode(x)
    assert blob[4] in (2, 3) and all(h & 7 == _v2.DICT for h in _block_heads(blob))
    assert decode(blob).tobytes() == x.tobytes()
    _no_v2(monkeypatch)
    v1 = encode(x)
    assert v1[4] == 1 and len(blob) < 0.95 * len(v1)


def test_predictor_wins_on_a_real_series(monkeypatch):
    x = load_series("seattle_temp_F")
    blob = encode(x)
    heads = _block_heads(blob)
    assert blob[4] >= 2 and all(h & 0x18 == 0x18 and h & 7 == C._DEC for h in heads)
    assert decode(blob).tobytes() == x.tobytes()
    _no_v2(monkeypatch)
    assert len(blob) < 0.9 * len(encode(x))


def test_lookback_on_multiplexed_channels(monkeypatch):
    x = _interleaved()
    blob = encode(x)
    assert decode(blob).tobytes() == x.tobytes()
    # the predictor of the first block: one term (lag 3) or lags (3, 6)
    rd = C._Reader(blob, C._HEADER.size, len(blob) - 4)
    rd.varint(), rd.varint(), rd.varint()
    head = rd.u8()
    assert head & 0x18 == 0x18 and head & 7 in (C._DEC, _v2.DICT)
    if head & 7 == C._DEC:
        rd.u8()  # decimal exponent
        assert rd.varint() == 0  # no value table in a predictor block
    else:  # the predictor codes the dictionary's indices
        rd.varint()
        rd.take(rd.varint())  # the table block
    lags, _, _ = _v2.read_descriptor(rd, x.size)
    assert lags in ([3], [3, 6])
    monkeypatch.setattr(C, "_T_LOOK_MAX", 1)  # no lookback search
    assert len(blob) < 0.9 * len(encode(x))


@pytest.mark.parametrize("name", list_series())
def test_v1_frames_stay_byte_identical_without_v2_features(name, monkeypatch):
    x = load_series(name)
    arrays = [x, x[:200], x.astype(np.float32), np.round(x * 10).astype(np.int32)]
    _no_v3(monkeypatch)
    blobs = [encode(a) for a in arrays]
    _no_v2(monkeypatch)
    for a, blob in zip(arrays, blobs, strict=True):
        if blob[4] == 1:
            assert blob == encode(a)
        else:
            assert any(_v2.uses_v2(bytes((h,))) for h in _block_heads(blob))


def _refit_crc(frame: bytearray) -> bytes:
    frame[-4:] = struct.pack("<I", zlib.crc32(bytes(frame[:-4])))
    return bytes(frame)


def test_v2_block_in_a_version_1_frame_is_refused():
    for x in (np.load(CORPUS / "goes15_xrs_short_0p5_4ang_Wm2.npy", allow_pickle=False),
              load_series("seattle_temp_F")):
        frame = bytearray(encode(x))
        assert frame[4] in (2, 3)  # (3: stream or predictor lanes)
        frame[4] = 1
        with pytest.raises(CorruptDataError):
            decode(_refit_crc(frame))


def _frame(block: bytes, n: int, code: int = 4) -> bytes:
    """A version-2 frame of one block of n values (dtype code 4: int64)."""
    body = C._varint(n) + C._varint(C.BLOCK_LEN) + C._varint(len(block)) + block
    frame = bytearray(C._HEADER.pack(C.MAGIC, 2, code, 0, 1, len(body) + 4) + body + b"\0" * 4)
    return _refit_crc(frame)


def _plain(vals: list[int], order: int = 0) -> bytes:
    return C._stream_encode(np.array(vals, dtype=np.int64).view(np.uint64), order)


def test_hand_built_split_dictionary_decodes():
    # high parts [5, 9, -3] at shift 4, indices 2 0 1 1, low bits 0 15 1 2
    table = b"\x00" + np.array([5, 9, -3], dtype="<i8").tobytes()
    blk = (bytes((_v2.DICT | _v2.SPLIT,)) + b"\x03" + b"\x04" + C._varint(len(table)) + table
           + _plain([2, 0, 1, 1]) + _plain([0, 15, 1, 2]))
    assert decode(_frame(blk, 4)).tolist() == [-48, 95, 145, 146]


def test_hand_built_v2_blocks_decode():
    # dictionary: table [5, 9, -3] (a raw int64 block), indices 2 0 1 1
    table = b"\x00" + np.array([5, 9, -3], dtype="<i8").tobytes()
    dict_block = bytes((_v2.DICT,)) + b"\x03" + C._varint(len(table)) + table
    got = decode(_frame(dict_block + _plain([2, 0, 1, 1]), 4))
    assert got.tolist() == [-3, 5, 9, 9]
    # predictor: delta order 3 on an integer block
    j = np.array([1, 4, 9, 16, 25, 36, 49], dtype=np.int64)
    desc = _v2.descriptor([1, 2, 3], [3, -3, 1], 0) + C._varint(C._zz(1))
    e = _v2.predict(j.view(np.uint64), [1, 2, 3], [3, -3, 1], 0)
    blk = bytes((C._INT | 0x18,)) + desc + C._stream_encode(e, 0)
    assert decode(_frame(blk, 7)).tolist() == j.tolist()


def _bad_blocks() -> dict[str, tuple[bytes, int]]:
    table = b"\x00" + np.array([5, 9, -3], dtype="<i8").tobytes()

    def dict_block(count: int, tbl: bytes = table, head: int = _v2.DICT) -> bytes:
        return bytes((head,)) + C._varint(count) + C._varint(len(tbl)) + tbl

    def pred_block(p: int, shift: int, terms: list[tuple[int, int]]) -> bytes:
        desc = bytes((p, shift)) + b"".join(C._varint(lag) + C._varint(C._zz(c))
                                            for lag, c in terms)
        return bytes((C._INT | 0x18,)) + desc + b"\x02" + _plain([0, 0, 0, 0, 0])

    inner = dict_block(1, b"\x00" + np.array([5], dtype="<i8").tobytes()) + _plain([0])

    def split_block(shift: int, low: list[int]) -> bytes:
        return (bytes((_v2.DICT | _v2.SPLIT,)) + b"\x03" + bytes((shift,))
                + C._varint(len(table)) + table + _plain([2, 0, 1, 1]) + _plain(low))
    return {
        "index past the table": (dict_block(3) + _plain([3, 0, 1, 1]), 4),
        "table size 0": (dict_block(0) + _plain([0, 0, 0, 0]), 4),
        "table longer than the block": (dict_block(5) + _plain([0, 0, 0, 0]), 4),
        "table count differs from its block": (dict_block(2) + _plain([0, 0, 0, 0]), 4),
        "dictionary flag bits": (dict_block(3, head=_v2.DICT | 0x80) + _plain([0] * 4), 4),
        "nested dictionary": (dict_block(1, inner) + _plain([0] * 4), 4),
        "no terms": (pred_block(0, 0, []), 6),
        "too many terms": (pred_block(33, 0, [(i, 1) for i in range(1, 34)]), 6),
        "shift out of range": (pred_block(1, 33, [(1, 1)]), 6),
        "lag 0": (pred_block(1, 0, [(0, 1)]), 6),
        "lag not below n": (pred_block(1, 0, [(6, 1)]), 6),
        "lags not increasing": (pred_block(2, 0, [(2, 1), (1, 1)]), 6),
        "coefficient out of range": (pred_block(1, 0, [(1, 1 << 31)]), 6),
        "truncated descriptor": (bytes((C._INT | 0x18, 2, 0, 1)), 6),
        "split at bit 0": (split_block(0, [0, 1, 2, 3]), 4),
        "split at bit 64": (split_block(64, [0, 1, 2, 3]), 4),
        "low part too wide": (split_block(2, [0, 1, 4, 3]), 4),
        "dictionary flag bit 6": (dict_block(3, head=_v2.DICT | 0x40) + _plain([0] * 4), 4),
        "predictor on a value table": (bytes((C._DEC | 0x18, 0, 2, 0)) + _v2.descriptor(
            [1], [1], 0) + b"\x00" + _plain([0] * 5), 6),
    }


@pytest.mark.parametrize("case", sorted(_bad_blocks()))
def test_bad_v2_parameters_raise_corrupt_data_error(case):
    block, n = _bad_blocks()[case]
    code = 11 if case == "predictor on a value table" else 4
    with pytest.raises(CorruptDataError):
        decode(_frame(block, n, code))


_POOLS = {
    "f8": [0.0, -0.0, 21.4, 21.45, 1e-300, np.inf, np.nan, 3.0, 7.25, -4.5],
    "f4": [0.0, -0.0, 21.4, 1e-30, np.inf, np.nan, 3.0, 7.25],
    "f2": [0.0, -0.0, 1.5, np.inf, 2.0],
    "i8": [-(2 ** 63), 2 ** 63 - 1, 0, 5, 1000, -77],
    "u8": [0, 2 ** 64 - 1, 2 ** 63, 5, 9],
    "i2": [-32768, 32767, 0, 1, 300],
    "u1": [0, 255, 7],
}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(_POOLS)), st.data())
def test_few_distinct_values_round_trip(dt, data):
    pool = np.array(_POOLS[dt], dtype=dt)
    idx = data.draw(hnp.arrays(np.int64, st.integers(256, 3000),
                               elements=st.integers(0, pool.size - 1)))
    if data.draw(st.booleans()):  # smooth: indices walk
        idx = np.clip(np.cumsum(np.sign(idx - pool.size // 2)), 0, pool.size - 1)
    x = pool[idx]
    blob = encode(x)
    assert decode(blob).tobytes() == x.tobytes()


GOLDEN_V2 = Path(__file__).resolve().parent.parent / "golden" / "v2"


@pytest.mark.parametrize("name", ["lpc_i2_apollo15", "lpc_i4_anmo", "lpc_i2_two_blocks_ppg",
                                  "lpc_decimal_f32_tohoku"])
def test_lpc_predictor_wins_on_seismic_and_ppg(name, monkeypatch):
    # real series: tests/golden/v2/PROVENANCE.md
    x = np.load(GOLDEN_V2 / f"{name}.npy", allow_pickle=False)
    blob = encode(x)
    assert all(h & 0x18 == 0x18 for h in _block_heads(blob))
    assert decode(blob).tobytes() == x.tobytes()
    _no_v2(monkeypatch)
    assert len(blob) < 0.92 * len(encode(x))


def test_predictor_under_a_tolerance_keeps_the_bound():
    x = np.load(GOLDEN_V2 / "lpc_decimal_f32_tohoku.npy", allow_pickle=False)
    for tol in (0.5, 4.0):
        blob = encode(x, tolerance=tol)
        y = decode(blob)
        assert y.dtype == x.dtype
        assert np.max(np.abs(y.astype(np.float64) - x.astype(np.float64))) <= tol
        assert any(h & 0x18 == 0x18 for h in _block_heads(blob))


@pytest.mark.parametrize(("name", "gain"), [("buoy_b01_sea_temp_C", 0.85)])
def test_dictionary_as_exact_binning_of_many_distinct_values(name, gain, monkeypatch):
    # real series (tests/data/corpus/README.md): sea temperature, 3 decimals, 4,095 levels
    x = np.load(CORPUS / f"{name}.npy", allow_pickle=False)
    assert np.unique(x).size > x.size // 5
    blob = encode(x)
    assert all(h & 7 == _v2.DICT for h in _block_heads(blob))
    assert decode(blob).tobytes() == x.tobytes()
    _no_v2(monkeypatch)
    assert len(blob) < gain * len(encode(x))


@pytest.mark.parametrize("name", ["dict_binning_f32_pv_power"])
def test_split_dictionary_on_float_noise(name, monkeypatch):
    # real series (tests/golden/v2/PROVENANCE.md): float32 noise, most values distinct.
    # The default asks a dictionary to be 10 % smaller (_T_DICT_GAIN); the split one is
    # about 3 % smaller here, so it is taken once any gain counts
    x = np.load(GOLDEN_V2 / f"{name}.npy", allow_pickle=False)
    monkeypatch.setattr(C, "_T_DICT_GAIN", 1.0)
    blob = encode(x)
    heads = _block_heads(blob)
    assert all(h & 7 == _v2.DICT and h & _v2.SPLIT for h in heads)
    assert decode(blob).tobytes() == x.tobytes()
    _no_v2(monkeypatch)
    assert len(blob) < 0.98 * len(encode(x))
