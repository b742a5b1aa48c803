"""Format v3 attacked where its two features meet: a predictor-lanes block whose residual
stream is itself a kind-4 stream (16 rANS states).  A real series with that combination
decodes bit for bit on every path (fast, block by block, Python, the numpy reference, the
lanes' SIMD off, every predictor-lanes kernel), and a small combined frame, truncated at
every byte, bit-flipped, its kind-4 stream header and lane count set to hostile values
(body length and checksum refitted so the damage reaches the parsers), is refused with
CorruptDataError, or decoded to the same bits, by every path alike."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgekit import _backend
from edgekit.compress import _kernels as K
from edgekit.compress import _v2, decode, encode
from edgekit.compress import codec as C
from edgekit.errors import CorruptDataError
from tests.compress.test_v3_lanes import _series

COMBINED = "seismic_ii_tly_bhz_tohoku_counts"  # its predictor lanes' residuals are kind 4


def _layout(blob: bytes, monkeypatch) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """(stream bodies (kind, codes, offset of the kind byte), predictor lanes (values, lane
    count)) of a frame, from the Python block decoder."""
    bodies: list[tuple[int, int, int]] = []
    lanes: list[tuple[int, int]] = []
    body, unpredict = C._body_decode, _v2.unpredict_lanes

    def spy_body(rd, order, n, *a, **k):
        bodies.append((rd.buf[rd.pos], n - order, rd.pos))
        return body(rd, order, n, *a, **k)

    def spy_lanes(e, n, nl, *a, **k):
        lanes.append((n, nl))
        return unpredict(e, n, nl, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(C, "_body_decode", spy_body)
        m.setattr(_v2, "unpredict_lanes", spy_lanes)
        m.setattr(C, "_decode_fast", lambda buf, pos: None)
        m.setattr(K, "decode_blocks", lambda buf, pos, end, blen, out, v=1: (0, pos))
        m.setattr(K, "decode_block", lambda *a, **k: False)
        decode(blob)
    return bodies, lanes


def _combined_kind4(blob: bytes, monkeypatch) -> list[int]:
    """Offsets of the kind byte of every kind-4 stream that holds a predictor-lanes block's
    residuals (n - nl codes)."""
    bodies, lanes = _layout(blob, monkeypatch)
    return [pos for kind, codes, pos in bodies
            if kind == 4 and any(codes == n - nl for n, nl in lanes)]


def _outcome(blob: bytes) -> str:
    try:
        arr = decode(blob)
    except CorruptDataError:
        return "corrupt"
    return f"ok {arr.dtype} {arr.shape} {zlib.crc32(arr.tobytes())}"


def _every_path(blob: bytes, monkeypatch, reference: bool = True) -> dict[str, str]:
    """The outcome of decode(blob) on every decode path this build has."""
    got = {"fast": _outcome(blob)}
    lib = _backend.lib
    if lib is not None:
        for simd in (True, False):
            for kernel in (2, 1, 0):
                was_simd, was_kernel = K.lanes_simd(simd), lib.ekz2_lanes_use(kernel)
                try:
                    got[f"fast simd={simd} kernel={kernel}"] = _outcome(blob)
                    with monkeypatch.context() as m:
                        m.setattr(C, "_decode_fast", lambda buf, pos: None)
                        got[f"blocks simd={simd} kernel={kernel}"] = _outcome(blob)
                finally:
                    K.lanes_simd(was_simd)
                    lib.ekz2_lanes_use(was_kernel)
    with monkeypatch.context() as m:
        m.setattr(C, "_decode_fast", lambda buf, pos: None)
        m.setattr(K, "decode_blocks", lambda buf, pos, end, blen, out, v=1: (0, pos))
        m.setattr(K, "decode_block", lambda *a, **k: False)
        got["python"] = _outcome(blob)
        if reference:
            m.setattr(_backend, "lib", None)
            got["reference"] = _outcome(blob)
    return got


def _refit(b: bytearray) -> bytes:
    """The body length and CRC-32 made to fit the (damaged) bytes."""
    b[8:12] = struct.pack("<I", len(b) - 12)
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def _pred_byte(blob: bytes) -> int:
    """Offset of the first block's predictor term-count byte (an integer or decimal block
    without a common step)."""
    rd = C._Reader(blob, C._HEADER.size, len(blob) - 4)
    for _ in range(3):  # shape, block length, block size
        rd.varint()
    head = blob[rd.pos]
    assert head & 0x18 == 0x18 and head & 7 in (1, 2) and not head & 0x20, head
    return rd.pos + (1 if head & 7 == 1 else 3)  # (decimal: u8 d, varint S = 0)


def _small_combined() -> bytes:
    """A 1,200-value frame of the real series with every lane threshold opened: one block,
    eight predictor lanes, their residuals a kind-4 stream."""
    x = _series(COMBINED)[:1200]
    keep = (C._T_LANES_MIN, C._T_LANES_SHARE, C._T_LANE_MIN_LEN, C._T_LANE_COST)
    try:
        C._T_LANES_MIN, C._T_LANES_SHARE, C._T_LANE_MIN_LEN, C._T_LANE_COST = 16, 1e9, 32, 1e9
        return encode(x)
    finally:
        C._T_LANES_MIN, C._T_LANES_SHARE, C._T_LANE_MIN_LEN, C._T_LANE_COST = keep


def test_real_series_with_lanes_in_lanes_decodes_on_every_path(monkeypatch):
    x = _series(COMBINED)
    blob = encode(x)
    assert blob[4] == 3
    assert _combined_kind4(blob, monkeypatch), "no predictor-lanes block with kind-4 residuals"
    got = _every_path(blob, monkeypatch)
    want = f"ok {x.dtype} {x.shape} {zlib.crc32(x.tobytes())}"
    assert {k: v for k, v in got.items() if v != want} == {}


def test_small_combined_frame_truncated_at_every_byte(monkeypatch):
    blob = _small_combined()
    assert blob[4] == 3 and _combined_kind4(blob, monkeypatch)
    assert len(set(_every_path(blob, monkeypatch).values())) == 1
    for cut in range(len(blob)):
        with pytest.raises(CorruptDataError):
            decode(blob[:cut])
        if cut > 16:  # the body cut short, its length and checksum refitted
            damaged = _refit(bytearray(blob[: cut - 4] + blob[-4:]))
            got = _every_path(damaged, monkeypatch, reference=cut % 8 == 0)
            assert set(got.values()) == {"corrupt"}, (cut, got)


def test_small_combined_frame_bit_flips_agree_on_every_path(monkeypatch):
    blob = _small_combined()
    rng = np.random.default_rng(3)
    outcomes = set()
    for _ in range(300):
        b = bytearray(blob)
        b[int(rng.integers(12, len(b) - 4))] ^= 1 << int(rng.integers(0, 8))
        got = _every_path(_refit(b), monkeypatch, reference=False)
        assert len(set(got.values())) == 1, got
        outcomes.add(got["fast"] == "corrupt")
    assert True in outcomes


@pytest.mark.parametrize("field", range(6))
def test_kind4_stream_header_set_to_hostile_values(field, monkeypatch):
    """The fields after the combined stream's kind byte: largest token, precision / width,
    table bytes, E and W (varints), the first state: each byte set to boundary values."""
    blob = _small_combined()
    at = _combined_kind4(blob, monkeypatch)[0]
    for v in (0, 1, 2, 0x3F, 0x7F, 0x80, 0xC1, 0xFF):
        b = bytearray(blob)
        b[at + 1 + field] = v
        got = _every_path(_refit(b), monkeypatch)
        assert len(set(got.values())) == 1, (field, v, got)
    for kind in (0, 1, 2, 3, 5, 255):  # another kind, the rest of the bytes unchanged
        b = bytearray(blob)
        b[at] = kind
        got = _every_path(_refit(b), monkeypatch)
        assert set(got.values()) == {"corrupt"}, (kind, got)


def test_combined_frame_lane_counts(monkeypatch):
    """Lane counts 0, 1, 65, 255 (outside 2..64), 64 and 200 (lanes past the block), and
    counts that fit but do not match the stream's code count."""
    blob = _small_combined()
    at = _pred_byte(blob)
    assert blob[at] & _v2.LANES and blob[at + 2] == 8
    for nl in (0, 1, 2, 7, 9, 64, 65, 200, 255):
        b = bytearray(blob)
        b[at + 2] = nl
        assert set(_every_path(_refit(b), monkeypatch).values()) == {"corrupt"}, nl


def test_combined_frame_in_a_v1_or_v2_frame_is_refused(monkeypatch):
    blob = _small_combined()
    for version in (1, 2):
        b = bytearray(blob)
        b[4] = version
        assert set(_every_path(_refit(b), monkeypatch).values()) == {"corrupt"}


def _frame(blocks: list[bytes], n: int, version: int = 3) -> bytes:
    """An int64 frame of n values in blocks of BLOCK_LEN (body length and CRC fitted)."""
    body = C._varint(n) + C._varint(C.BLOCK_LEN)
    body += b"".join(C._varint(len(b)) + b for b in blocks)
    head = C._HEADER.pack(C.MAGIC, version, 4, 0, 1, len(body) + 4)
    return _refit(bytearray(head + body + bytes(4)))


def test_predictor_lanes_in_a_dictionary_table_decode_alike(monkeypatch):
    """Predictor lanes are allowed in a dictionary's table block (format.md; kind 4 is not):
    the C block decoder and the Python one both take them (after the merge the C decoder
    refused them and only the Python fallback decoded such a frame), and kind 4 there is
    refused by every path."""
    table = bytes([0x19, 0x80 | 1, 0, 2, 1, C._zz(1), C._zz(7), C._zz(5), 0, 0, 0])
    block = bytes([0x05, 10, len(table)]) + table + bytes([0, C._zz(5), 0])
    blob = _frame([block], 20)
    assert decode(blob).tolist() == [12] * 20
    if _backend.lib is not None:  # the C block decoder itself, not the fallback
        out = np.empty(20, dtype=np.int64)
        at = len(blob) - 4 - len(block)
        assert K.decode_block(blob, at, len(block), out, 3) and out.tolist() == [12] * 20
    got = _every_path(blob, monkeypatch)
    assert len(set(got.values())) == 1, got
    b = bytearray(blob)
    b[4] = 2  # lanes in a version-2 frame
    assert set(_every_path(_refit(b), monkeypatch).values()) == {"corrupt"}
    # a table block whose stream is kind 4 (a valid one): refused by every path; the same
    # stream as kind 1 decodes
    j = np.array([7] * 5 + [12] * 5, dtype=np.int64).view(np.uint64)
    for lanes, want in ((True, {"corrupt"}), (False, {_outcome(np.full(20, 12).tobytes())})):
        tok, buf, blen, h = K.tokenize(j, 0)
        body = C._body_from_tokens(tok.copy(), buf.copy(), blen, h.copy(), 0, lanes)
        assert body[0] == (4 if lanes else 1)
        table = b"\x01" + body
        block = bytes([0x05, 10, len(table)]) + table + bytes([0, C._zz(5), 0])
        if not lanes:
            want = {_outcome(encode(np.full(20, 12, dtype=np.int64)))}
        assert set(_every_path(_frame([block], 20), monkeypatch).values()) == want


def test_golden_frame_holds_both_halves_of_v3(monkeypatch):
    """tests/golden/v3/lanes_kind4_resid_tohoku keeps the combination decodable forever."""
    path = (Path(__file__).resolve().parent.parent / "golden" / "v3"
            / "lanes_kind4_resid_tohoku.ekz")
    assert _combined_kind4(path.read_bytes(), monkeypatch)
