"""The fused decode of format v3's predictor lanes (docs/compress/speed.md, "Decode: predictor
series, fused lanes"): the eight lanes' recurrence runs inside the kind-4 stream loop while
the values fit int32 (``ekz_lanes_rec_avx512``), and eight lanes' values go from the
interleaved layout straight into the block's sink (``ekz2_lanes_out8``: int, float bits,
decimal and affine formulas, dictionary gathers).  Each test forces the layout it needs
(eight lanes, a kind-4 residual stream, a chosen predictor) and decodes on every path: the
fast path (AVX-512 where the CPU has it), the AVX2 and scalar kernels, the C block decoder,
the Python block decoder and the numpy references, which must all give the input back."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit import _backend
from edgekit.compress import _v2, decode, encode
from edgekit.compress import codec as C
from edgekit.errors import CorruptDataError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from compress_paths_exact import paths  # noqa: E402

_OPEN = {"_T_LANES_MIN": 16, "_T_LANES_SHARE": 1e9, "_T_LANE_MIN_LEN": 32, "_T_LANE_COST": 1e9}


def _heads(blob: bytes) -> list[tuple[int, int, bool]]:
    """(model, delta order field, predictor lanes) of each block of a 1-D frame."""
    _, rd, _, flags, _ = C._frame_at(blob, 0)
    if flags & 2:
        rd.f64()
    rd.varint()
    out = []
    while rd.pos < rd.end:
        size = rd.varint()
        blk = blob[rd.pos: rd.pos + size]
        out.append((blk[0] & 7, (blk[0] >> 3) & 3, _v2.uses_v3(blk)))
        rd.pos += size
    return out


def _encode(x: np.ndarray, monkeypatch, predictor=None) -> bytes:
    """x with every lane threshold opened and, when given, the predictor
    (lags, coefs, shift) forced on every block."""
    with monkeypatch.context() as m:
        for k, v in _OPEN.items():
            m.setattr(C, k, v)
        m.setattr(_v2, "_LANES", 8)
        if predictor is not None:
            lags, coefs, shift = predictor
            m.setattr(_v2, "_pred_search",
                      lambda *a, **k: (0.0, list(lags), list(coefs), shift, None))
        return encode(x)


def _check(x: np.ndarray, blob: bytes) -> None:
    got = paths(blob)
    assert len(got) == (6 if _backend.lib is not None else 1)
    for name, y in got.items():
        assert y.dtype == x.dtype and y.tobytes() == x.tobytes(), name


_RNG = np.random.default_rng(16)
_N = 6000
_T = np.arange(_N)
_BASE = (300 * np.sin(_T / 37.0) + np.cumsum(_RNG.integers(-3, 4, size=_N))
         + _RNG.integers(-2, 3, size=_N))
_LEVELS = np.clip(np.round(25 + 20 * np.sin(_T / 50.0) + _RNG.integers(-1, 2, _N)), 0, 49)
_SMOOTH = np.sin(_T / 37.0) * 1e3 + _RNG.normal(0, 1e-3, _N)
_DENSE3 = ([1, 2, 3], [3, -3, 1], 0)

# every sink the eight lanes write straight: (values, forced predictor or None, its model)
_SINKS = {
    "int8": ((_BASE / 4).astype(np.int8), None, 1),
    "int16": (_BASE.astype(np.int16), None, 1),
    "int32": ((_BASE * 3).astype(np.int32), _DENSE3, 1),
    "int64": ((_BASE * 1000 + _RNG.integers(-9, 10, _N)).astype(np.int64), _DENSE3, 1),
    "int64 common step": ((np.round(_BASE) * 7 + 3).astype(np.int64), None, 1),
    "uint16": ((_BASE + 2000).astype(np.uint16), _DENSE3, 1),
    "float64 decimal": (np.round(_BASE / 100, 2), None, 2),
    "float32 decimal": (np.round(_BASE / 10, 1).astype(np.float32), None, 2),
    "float64 integers": (np.round(_BASE), None, 2),
    "float64 affine": (0.37 + np.round(_BASE * 10) * 0.013, None, 3),
    "float16 bits": ((_BASE / 10).astype(np.float16), _DENSE3, 4),
    "float32 bits": (_SMOOTH.astype(np.float32), _DENSE3, 4),
    "float64 bits": (_SMOOTH - 500.0, _DENSE3, 4),
    "float32 dictionary": (np.sort(_RNG.random(50) * 1e-6).astype(np.float32)[
        _LEVELS.astype(int)], None, 5),
    "float64 dictionary": (np.sort(_RNG.random(50))[_LEVELS.astype(int)], None, 5),
}


@pytest.mark.parametrize("name", list(_SINKS))
def test_every_sink_of_eight_lanes_on_every_path(name, monkeypatch):
    x, pred, model = _SINKS[name]
    blob = _encode(x, monkeypatch, pred)
    heads = _heads(blob)
    assert blob[4] == 3 and heads[0][0] == model and heads[0][1] == 3, heads
    _check(x, blob)


@pytest.mark.parametrize("p", [1, 2, 3, 5, 9, 12])
@pytest.mark.parametrize("where", ["start", "middle", "late", "hump"])
def test_fused_recurrence_leaves_int32_and_comes_back(p, where, monkeypatch):
    """Values that cross int32's edge inside a lane (where the fused loop must stop and the
    64-bit kernel take over) and come back below it: the same bits on every path."""
    n = 8 * 1100
    rng = np.random.default_rng(p * 7 + len(where))
    steps = rng.integers(-3, 4, size=n).cumsum()
    edge = (1 << 31) - 1
    at = {"start": 300, "middle": n // 2 + 137, "late": n - 150, "hump": 2000}[where]
    ramp = np.clip(np.arange(n) - at, 0, None) * 40 if where != "hump" else \
        np.where(np.abs(np.arange(n) - at) < 600, 600 - np.abs(np.arange(n) - at), 0) * 40
    x = (edge - 30 * (n - at) // 8 + steps + ramp).astype(np.int64)
    if where == "hump":
        x = (edge - 20000 + steps + ramp).astype(np.int64)
    assert (x > edge).any() and (x <= edge).any()
    # a predictor of p dense terms that extrapolates a line (residuals stay small)
    coefs = [2, -1] + [0] * (p - 2) if p >= 2 else [1]
    blob = _encode(x, monkeypatch, (list(range(1, p + 1)), coefs, 0))
    assert blob[4] == 3 and _heads(blob)[0][1] == 3
    _check(x, blob)


@pytest.mark.parametrize("shift", [0, 7, 29])
def test_fused_recurrence_with_a_shift_and_negative_sums(shift, monkeypatch):
    x = (_BASE * 50 - 80000).astype(np.int32)
    coefs = [int(c * (1 << shift)) for c in (2.5, -2.0, 0.5)]
    blob = _encode(x, monkeypatch, ([1, 2, 3], coefs, shift))
    _check(x, blob)


def test_dictionary_index_past_the_table_is_corrupt(monkeypatch):
    """Eight lanes of a dictionary's index stream moved up by 30 (its first value changed,
    the checksum refitted): indices past the table raise CorruptDataError on every
    path (the vector gather checks them), never read past the table."""
    x, _, _ = _SINKS["float64 dictionary"]
    blob = bytearray(_encode(x, monkeypatch))
    _, rd, _, flags, _ = C._frame_at(bytes(blob), 0)
    rd.varint()
    rd.varint()  # the block's size
    assert blob[rd.pos] & 0x3F == 0x1D  # dictionary, predictor on the index stream, no split
    rd.pos += 1
    size = rd.varint()
    assert size == np.unique(x).size
    table = rd.varint()
    rd.pos += table  # the table block
    p_, nl = blob[rd.pos], blob[rd.pos + 2]
    assert p_ & _v2.LANES and nl == 8
    rd.pos += 3
    for _ in range(p_ & 0x7F):
        rd.varint()
        rd.varint()
    at = rd.pos
    zz = rd.varint()
    j0 = (zz >> 1) ^ -(zz & 1)
    assert rd.pos == at + 1 and 0 <= j0 < size and 2 * (j0 + 30) < 128
    blob[at] = 2 * (j0 + 30)
    blob[-4:] = struct.pack("<I", zlib.crc32(bytes(blob[:-4])))
    for name in ("fast", "blocks"):
        with monkeypatch.context() as m:
            if name == "blocks":
                m.setattr(C, "_decode_fast", lambda buf, pos: None)
            with pytest.raises(CorruptDataError):
                decode(bytes(blob))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fused_recurrence_crossing_int32_anywhere(data):
    """The step whose values first leave int32 (either edge) anywhere in a lane: the first
    or second step of a 16-code group, a chunk's last step, a lane's last steps."""
    n = 8 * data.draw(st.integers(300, 1500))
    p = data.draw(st.integers(1, 12))
    sign = data.draw(st.sampled_from([1, -1]))
    at = data.draw(st.integers(0, n - 1))
    width = data.draw(st.integers(1, 400))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    edge = (1 << 31) - 1 if sign > 0 else -(1 << 31)
    x = edge - sign * 50 + rng.integers(-3, 4, size=n).cumsum()
    x[at: at + width] += sign * 200  # a plateau past the edge, then back inside
    coefs = [1] if p == 1 else [2, -1] + [0] * (p - 2)
    mp = pytest.MonkeyPatch()
    try:
        blob = _encode(x.astype(np.int64), mp, (list(range(1, p + 1)), coefs, 0))
    finally:
        mp.undo()
    _check(x.astype(np.int64), blob)


@pytest.mark.skipif(_backend.lib is None, reason="native kernels not built")
@pytest.mark.parametrize("size", [16, 300, 5900])
def test_one_call_frame_decode_checks_the_checksum(size):
    """codec._decode_fast checks the checksum and decodes the blocks in one C call
    (``ekz_decode_frame``; a frame under 64 bytes, or a CPU without the carry-less fold,
    takes zlib's checksum first): a flipped body or checksum bit is refused there (the full
    path then raises ChecksumError); an intact frame decodes."""
    from edgekit.errors import ChecksumError

    x = _SINKS["int16"][0][:size]
    blob = encode(x)
    assert (len(blob) < 64) == (size == 16)
    got = C._decode_fast(blob, 0)
    assert got is not None and got[0].tobytes() == x.tobytes() and got[1] == len(blob)
    for at in (len(blob) // 2, len(blob) - 4, len(blob) - 1):
        bad = bytearray(blob)
        bad[at] ^= 0x10
        assert C._decode_fast(bytes(bad), 0) is None
        with pytest.raises(ChecksumError):
            decode(bytes(bad))
