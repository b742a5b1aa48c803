"""edgekit's codec for sensor series: one-call :func:`encode` / :func:`decode`, frames.

An array is split into blocks of up to :data:`BLOCK_LEN` values (in memory order) and each
block picks the model that codes it smallest:

* **decimal**: every value is ``k / 10**d`` for integers k (21.4 degC, 1013 hPa): code k;
* **affine**: values lie on a grid ``a + k * b`` (an ADC step): code k plus, where the
  float arithmetic does not land exactly, a residual in units of the float's last place;
* **integer**: integer dtypes, coded as they are;
* **bits**: float bit patterns as order-preserving integers, when no grid fits;
* **raw**: the bytes as they are, when nothing above is smaller;
* **dictionary** (format v2): a table of the distinct values (itself a block) and each
  value's index in it (or, split, of the distinct high bits, plus the low bits).

k is divided by its common step (gcd), delta coded (order 0, 1 or 2, per block; format v2
adds delta order 3, a quantised LPC predictor and a lookback; format v3 cuts a predictor
block into independent lanes the decoder runs side by side), zigzagged, and entropy coded
(tokens with a static rANS coder, extra bits raw).  Everything is exact:
a residual stream carries whatever the model misses, NaN payloads, -0.0 and infinities
included.  With ``tolerance=eps`` lossy affine grids of step about ``2*eps`` join the
candidates (:func:`_lossy_candidates`), and the residual stream carries only the values the
grid would move by more than ``eps``.

Memory: a frame is coded block by block; each thread keeps its work arrays (a few per
block, at most :data:`BLOCK_LEN` values each: about 8 MB once a full block has been coded)
and reuses them, because touching fresh memory costs more than the kernels;
:func:`release_buffers` hands them back.  Decoding allocates the output array and nothing
proportional to the input beyond that.

The format is specified in ``docs/compress/format.md``.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from edgekit import _telemetry
from edgekit.compress import _codec_ref as _ref
from edgekit.compress import _kernels as K
from edgekit.compress._codec_ref import NBITS as _NBITS_LIST
from edgekit.errors import (
    ChecksumError,
    CorruptDataError,
    FormatVersionError,
    InputError,
    InputTypeError,
    OptionsError,
)

__all__ = [
    "BLOCK_LEN",
    "FORMAT_VERSION",
    "MAGIC",
    "FrameInfo",
    "decode",
    "decode_frame",
    "decode_stream",
    "encode",
    "iter_frames",
    "release_buffers",
]

MAGIC = b"\x89EKZ"
FORMAT_VERSION = 3
"""The newest frame version this edgekit writes: a frame is written as version 3 only when
one of its blocks uses a version-3 feature (stream lanes, predictor lanes), else as version 2
when one uses a version-2 model (dictionary, predictor); otherwise as version 1, byte for
byte as edgekit's v1 encoder wrote it."""
SUPPORTED_VERSIONS = (1, 2, 3)
BLOCK_LEN = 65536
"""Values per block (the last block of a frame may be shorter); also the decoder's cap."""
MAX_NDIM = 32
_HEADER = struct.Struct("<4sBBBBI")  # magic, version, dtype, flags, ndim, body length
_CRC_FIELD = struct.Struct("<I")
_PROB = 1 << 12
_NBITS = np.array(_NBITS_LIST, dtype=np.int64)
_LANES_COST = 48  # bytes: the 12 more rANS states of a stream in lanes (format v3, kind 4)

# dtype codes (format v1): never renumber
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("int8"), 2: np.dtype("int16"), 3: np.dtype("int32"), 4: np.dtype("int64"),
    5: np.dtype("uint8"), 6: np.dtype("uint16"), 7: np.dtype("uint32"), 8: np.dtype("uint64"),
    9: np.dtype("float16"), 10: np.dtype("float32"), 11: np.dtype("float64"),
    12: np.dtype("bool"), 13: np.dtype("datetime64[ns]"), 14: np.dtype("timedelta64[ns]"),
}
_CODES = {dt: code for code, dt in _DTYPES.items()}

# header flags
_F_FORTRAN, _F_LOSSY, _F_BIGENDIAN = 1, 2, 4
# block models
_RAW, _INT, _DEC, _AFF, _BITS = 0, 1, 2, 3, 4
_H_GCD, _H_RESID, _H_F32 = 0x20, 0x40, 0x80
_MAXD = 22  # 10**d is exact up to 22 (and the decoder allows no more)
_EMPTY_FREQ = np.zeros(256, dtype=np.uint16)
_UVIEW = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}

# ------------------------------------------------------------------------------ tuning
# Every threshold the encoder's choices depend on is a module constant named _T_*, with the
# values the benchmark's leave-one-source-out protocol may choose from in _TUNING_GRID
# (tools/compress_bench.py picks each fold's values without the held-out source).  They
# steer only the encoder: any choice decodes, so a threshold can cost bytes, never data.
_T_DEC_SAMPLE = 256  # values (evenly spaced) the decimal-exponent search reads
_T_DEC_FINE = 2  # a decimal grid is "fine" (no fit) when |k| reaches 2**-this of 2**precision
_T_DEC_LONG = 12  # the affine search also runs when |k| reaches 2**-this of 2**precision
_T_GRID_TRY = 12  # ... and the decimal fit costs more than this many bits a value
_T_GRID_SAMPLE = 1024  # values (evenly spaced) the affine-grid search reads
_T_GRID_SLACK = 6  # the step search tolerates 2**this units in the last place of the values
_T_GRID_COARSE = 4  # ... and takes a step only when 2**this times coarser than that tolerance
_T_GRID_GAPS = 64  # gaps between distinct sampled values the step search reads (commonest)
_T_GRID_FRAC = 0.01  # a sampled value is on a grid when (x - a) / step is this close to an int
_T_GRID_OFF = 16  # ... and a grid fits when at most 1 / this of the sampled values are off it
_T_GRID_SWEEP = 256  # distinct sampled values (at most) whose rounding intervals fix the step
_T_GRID_STEPS = 2  # float steps tried either side of the best one found (see _affine_guess_raw)
_T_GOOD_RESID = 64  # a grid fits when at most 1 / this of the values need a residual
_T_RUNS_ZEROS = 0.3  # the zero-run form is tried when at least this share of codes is zero
_T_RUNS_GAIN = 0.97  # ... and used when it is this much smaller
_T_RUNS_NEAR = 1.03  # ... or within this factor with 4x fewer codes
_T_RUNS_DENSE = 0.85  # ... and, when most codes are nonzero, only when this much smaller
_T_LOSSY_HALF = 0.4999  # lossy: a value this many grid steps from its grid point may take
# the other neighbour (exact half steps are 0.5; float rounding moves them a little)
_T_LOSSY_ULPS = 8.0  # the narrow lossy grid is 2 tol less this many units of the last place
_T_LOSSY_SMOOTH = 2.0  # the prediction-following lossy grid is tried below this many bits/value
_T_LOSSY_FINE = 1.5  # ... on a grid this many times finer than 2 tol
# format v2 (edgekit/compress/_v2.py)
_T_DICT_MIN_LEN = 256  # blocks shorter than this never try the dictionary
_T_DICT_GAIN = 0.9  # ... nor when its sample's indices code no smaller than this share
_T_DICT_PRE = 1.0  # ... nor when, with its table priced from the block's own stream, its
# sample codes above this times that share (then the table's nested coding is skipped)
_T_SPLIT_MIN_BITS = 10.0  # the split dictionary only for streams costing this a value
_T_PRED_MIN_LEN = 512  # blocks shorter than this never try a predictor
_T_PRED_MIN_BITS = 2.0  # ... nor a stream that already codes in fewer bits per value
_T_PRED_MIN_GAIN = 0.05  # ... nor LPC / delta 3 when their error variance promises less
_T_PRED_GAIN = 0.97  # a predictor is taken when its estimate is this much smaller
_T_PRED_EARLY = 1.0  # ... and costed on the whole stream only when on the small sample it
# codes below this share of the delta order's bits (an option that does not win there is
# passed over)
_T_LPC_MAX = 8  # LPC orders up to this are fitted (on the first difference; one is costed)
_T_LPC_PREC = 15  # bits of the largest quantised LPC coefficient
_T_LOOK_MAX = 32  # largest lookback lag searched
_T_LOOK_SHARE = 0.3  # a lag is costed when at least this share of values repeat at it
# format v3: stream lanes (codec._stream_encode)
_T_LANES_MIN = 4096  # a plain stream of at least this many codes is written in 16 lanes
_T_LANES_SHARE = 0.01  # ... when the bytes the lanes cost more (see _lanes_cost) are at
# most this share of its block's estimated size (see _plain_body)
# format v3 (edgekit/compress/_v2.py): predictor lanes
_T_LANE_MIN_LEN = 256  # a predictor block is cut into lanes only when each holds this many
_T_LANE_COST = 0.005  # ... and the lanes cost at most this share of the block's bits more
_TUNING_GRID: dict[str, tuple[float, ...]] = {
    "_T_DEC_SAMPLE": (64, 256, 1024),
    "_T_DEC_FINE": (1, 2, 4),
    "_T_DEC_LONG": (8, 12, 16),
    "_T_GRID_TRY": (8, 12, 16),
    "_T_GRID_SAMPLE": (512, 1024, 4096),
    "_T_GRID_SLACK": (4, 6, 8),
    "_T_GRID_COARSE": (2, 4, 8),
    "_T_GRID_GAPS": (16, 64, 256),
    "_T_GRID_FRAC": (0.001, 0.01, 0.05),
    "_T_GRID_OFF": (8, 16, 64),
    "_T_GRID_SWEEP": (64, 256, 1024),
    "_T_GRID_STEPS": (1, 2, 4),
    "_T_GOOD_RESID": (16, 64, 256),
    "_T_RUNS_ZEROS": (0.2, 0.3, 0.5),
    "_T_RUNS_GAIN": (0.93, 0.97, 1.0),
    "_T_RUNS_NEAR": (1.0, 1.03, 1.06),
    "_T_RUNS_DENSE": (0.75, 0.85, 0.95),
    "_T_LOSSY_HALF": (0.49, 0.4999, 0.499999),
    "_T_LOSSY_ULPS": (4.0, 8.0, 32.0),
    "_T_LOSSY_SMOOTH": (2.0, 3.0, 4.0),
    "_T_LOSSY_FINE": (1.5, 2.0, 3.0),
    "_T_DICT_MIN_LEN": (64, 256, 1024),
    "_T_DICT_GAIN": (0.8, 0.9, 1.0),
    "_T_DICT_PRE": (1.0, 1.1, math.inf),
    "_T_SPLIT_MIN_BITS": (6.0, 10.0, 14.0),
    "_T_PRED_MIN_LEN": (256, 512, 2048),
    "_T_PRED_MIN_BITS": (1.0, 2.0, 3.0),
    "_T_PRED_MIN_GAIN": (0.02, 0.05, 0.1),
    "_T_PRED_GAIN": (0.93, 0.97, 1.0),
    "_T_PRED_EARLY": (0.97, 1.0, 1.05),
    "_T_LPC_MAX": (4, 8, 16),
    "_T_LPC_PREC": (13, 15, 17),
    "_T_LOOK_MAX": (16, 32, 64),
    "_T_LOOK_SHARE": (0.2, 0.3, 0.5),
    "_T_LANES_MIN": (2048, 4096, 16384),
    "_T_LANES_SHARE": (0.002, 0.01, 0.02),
    "_T_LANE_MIN_LEN": (64, 256, 1024),
    "_T_LANE_COST": (0.002, 0.005, 0.01),
}


# ------------------------------------------------------------------------------ helpers

def _corrupt(message: str, offset: int | None = None, reason: str = "corrupt") -> CorruptDataError:
    _telemetry.emit("compress.corrupt", reason=reason)
    return CorruptDataError(message, offset=offset, reason=reason)


_VARINT1 = [bytes((i,)) for i in range(128)]


def _varint(v: int) -> bytes:
    if v < 0x80:
        return _VARINT1[v]
    if v < 0x4000:  # the common multi-byte cases without the loop
        return bytes(((v & 0x7F) | 0x80, v >> 7))
    if v < 0x200000:
        return bytes(((v & 0x7F) | 0x80, ((v >> 7) & 0x7F) | 0x80, v >> 14))
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


class _Reader:
    """Bounds-checked reads over ``buf[pos:end]``; every failure is CorruptDataError."""

    __slots__ = ("buf", "pos", "end", "lanes")

    def __init__(self, buf: bytes, pos: int, end: int, lanes: bool = False) -> None:
        self.buf, self.pos, self.end = buf, pos, end
        self.lanes = lanes  # a version-3 frame's top-level block: stream kind 4 allowed

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise _corrupt(f"truncated: need {n} bytes at offset {self.pos}", self.pos,
                           "truncated")
        b = self.buf[self.pos: self.pos + n]
        self.pos += n
        return b

    def u8(self) -> int:
        if self.pos >= self.end:
            raise _corrupt(f"truncated at offset {self.pos}", self.pos, "truncated")
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def f64(self) -> float:
        return struct.unpack("<d", self.take(8))[0]

    def varint(self) -> int:
        pos = self.pos
        if pos < self.end:  # one byte: the common case (lengths, small parameters)
            b = self.buf[pos]
            if b < 0x80:
                self.pos = pos + 1
                return b
        return self._varint_long()

    def _varint_long(self) -> int:
        buf, pos, end = self.buf, self.pos, self.end
        v, shift = 0, 0
        while True:
            if pos >= end:
                self.pos = pos
                raise _corrupt(f"truncated at offset {pos}", pos, "truncated")
            b = buf[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 63:
                self.pos = pos
                raise _corrupt("varint longer than 10 bytes", pos, "varint")
        self.pos = pos
        if v >= 1 << 64 or (shift and b == 0):
            raise _corrupt("varint out of range or not minimal", self.pos, "varint")
        return v


def _normalize(h: np.ndarray, pb: int = 12) -> np.ndarray:
    """Token frequencies scaled to sum to 2**pb, each present token >= 1 (>= 2 present,
    at most 2**pb / 2 of them)."""
    hl = h.tolist()
    return np.array(_ref.normalize_list(hl, [t for t, c in enumerate(hl) if c], pb),
                    dtype=np.uint16)


def _table(h: np.ndarray) -> tuple[np.ndarray, bytes]:
    """(frequencies in 1/4096, table bytes) for histogram h (two or more tokens present):
    stored at the precision (12, 10, 8 or 6 bits) that makes table plus coded stream
    smallest; a short stream's table then costs less than the codes it describes."""
    return K.table(h)


def _table_bytes(f: np.ndarray, pb: int = 12) -> bytes:
    """u8 largest token, u8 (pb << 4 | field width), the frequencies as LSB-first fields."""
    vals = f.tolist()
    return _ref.table_bytes_list(vals, max(i for i, v in enumerate(vals) if v), pb)


def _read_table(rd: _Reader) -> np.ndarray:
    maxtok, packed = rd.u8(), rd.u8()
    pb, nbits = packed >> 4, packed & 15
    if not (1 <= nbits <= 12 and 4 <= pb <= 12):
        raise _corrupt(f"bad frequency table header 0x{packed:02x}", rd.pos, "table")
    count = maxtok + 1
    f = K.unpack_freq(rd.take((count * nbits + 7) // 8), count, nbits, pb)
    if f is None:
        raise _corrupt("token frequencies do not add up", rd.pos, "table")
    return f


def _cost_bits(h: np.ndarray) -> float:
    """Estimated coded size (bits) of a stream with token histogram h (uint32[256])."""
    if not h.flags.c_contiguous:
        h = np.ascontiguousarray(h)
    return K.cost(h)


def _zz(v: int) -> int:
    v &= (1 << 64) - 1
    return ((v << 1) ^ (-(v >> 63))) & ((1 << 64) - 1)


def _unzz(z: int) -> int:
    return ((z >> 1) ^ -(z & 1)) & ((1 << 64) - 1)


def _stream_encode(j: np.ndarray, order: int, sample_h: np.ndarray | None = None,
                   sample: np.ndarray | None = None, zeros: int | None = None,
                   lanes: list[bool] | None = None, block: float = 0.0) -> bytes:
    """One entropy stream of j[order:] at delta order ``order``: the first ``order`` values,
    then the coded body (plain or zero-run form, whichever is smaller).  ``sample_h``: the
    token histogram of j's stream on ``sample`` (j's sample when j is long, see
    :func:`_sample`; None when j is short and the histogram, when given, is of all of j:
    the tokens are then made only for the plain form).  ``zeros``
    (with a sample): the number of zero codes in all of j's stream, which then decides
    whether the zero-run form is tried (the sample only whether it pays).  ``lanes``: a
    plain stream of at least ``_T_LANES_MIN`` codes may take format v3's stream kind 4
    (16 rANS states, which a SIMD decoder steps at once), which then appends True to it;
    ``block``: the estimated bytes of the block the stream is in (its other streams count
    too: the lanes' cost is judged against what the block costs, and the decoder's time is
    that of all its codes)."""
    first = b"".join([_varint(_zz(v)) for v in j[: min(order, j.size)].tolist()]) if order \
        else b""
    if j.size <= order:
        return first + b"\x02"
    long = sample_h is not None and sample is not None
    tok = None
    if long and zeros is not None:  # the counts of all of j are known: no pass to count
        assert sample_h is not None
        h, h0, total = sample_h, zeros, j.size - order
    else:
        if sample_h is not None:  # j's sample (long j) or all of j (short): the tokens
            h = sample_h  # wait until the plain form is chosen
        else:
            tok, buf, blen, h = K.tokenize(j, order)
        h0, total = int(h[0]), int(h.sum())
    if h0 >= total * _T_RUNS_ZEROS and total >= 64 and _runs_pay(j, order, h, sample_h,
                                                                 sample):
        runs, vals = K.runs_split(j, order)
        runs, vals = runs.copy(), vals.copy()  # scratch, and tokenize reuses scratch
        body = b"\x03" + _varint(vals.size) + _stream_body(runs, lanes, block)
        if vals.size:
            body += _stream_body(vals, lanes, block)
        return first + body
    if tok is None:
        tok, buf, blen, h = K.tokenize(j, order)
    return first + _plain_body(tok, buf, blen, h, order, lanes, block)


def _plain_body(tok: np.ndarray, buf: np.ndarray, blen: int, h: np.ndarray, order: int,
                lanes: list[bool] | None, block: float = 0.0) -> bytes:
    """A kind 0/1 body, or kind 4 (lanes) where ``lanes`` allows them and they pay (see
    :func:`_stream_encode`; ``block``: the estimated bytes of the block the stream is in)."""
    wide = (lanes is not None and tok.size - order >= _T_LANES_MIN
            and _lanes_cost(tok[order:]) <= _T_LANES_SHARE * max(_cost_bits(h) / 8, block))
    body = _body_from_tokens(tok, buf, blen, h, order, wide)
    if wide and body[0] == 4:
        assert lanes is not None
        lanes.append(True)
    return body


def _lanes_cost(tok: np.ndarray) -> float:
    """Bytes a stream of these tokens costs more in lanes (format v3's kind 4): 12 more
    rANS states, less the tail of extra bits (of the last chunk, up to 240 bits) that the
    lanes' states carry."""
    last = (tok.size - 1) // _ref.CHUNK * _ref.CHUNK
    tail = min(_ref.LANES * _ref.LANE_TAIL, int(_NBITS[tok[last:]].sum()))
    return _LANES_COST - tail / 8


def _runs_pay(j: np.ndarray, order: int, h: np.ndarray,
              sample_h: np.ndarray | None = None, sample: np.ndarray | None = None) -> bool:
    """Whether the zero-run form pays: clearly smaller (3 %), or about as small and with
    far fewer codes (decoding then touches a code per run, not per value).  When more than
    half the codes are nonzero the run form decodes more codes than the plain one (a run
    and a value per nonzero code) and then has to be 15 % smaller: decode speed is worth a
    few percent of size (noisy irradiance by day: 12 % smaller, 1.5x slower to decode).
    Judged on the sample of a long stream (see :func:`_sample`), on all of a short one."""
    js = sample if sample is not None else _sample(j)[0]
    if js is not j:
        h = sample_h if sample_h is not None else K.hist_order(js, order)
    total = int(h.sum())
    hh, m = K.runs_hist(js, order, h[0] * 10 > total * 9)
    plain, rle = _cost_bits(h), _cost_bits(hh[:256]) + _cost_bits(hh[256:]) + 16
    if 2 * m > total:
        return rle < _T_RUNS_DENSE * plain
    return rle < _T_RUNS_GAIN * plain or (rle < _T_RUNS_NEAR * plain and 2 * m < total // 4)


def _stream_body(j: np.ndarray, lanes: list[bool] | None = None, block: float = 0.0) -> bytes:
    """A plain (kind 0/1, or 4 with ``lanes``) body of the order-0 stream of j (``block``:
    see :func:`_plain_body`)."""
    tok, buf, blen, h = K.tokenize(j, 0)
    return _plain_body(tok, buf, blen, h, 0, lanes, block)


def _body_from_tokens(tok: np.ndarray, buf: np.ndarray, blen: int, h: np.ndarray,
                      order: int, lanes: bool = False) -> bytes:
    """A kind 0 (one token), 1 (rANS) or, with ``lanes``, 4 (format v3: rANS in 16
    lanes) body."""
    if np.count_nonzero(h) == 1:
        return bytes((0, int(h.argmax()))) + _varint(blen) + buf[:blen].tobytes()
    f, table = _table(h)
    if lanes:
        bits, words = K.rans_lanes(tok, order, f, buf, blen)
        return b"\x04" + table + _varint(len(bits)) + _varint(len(words)) + bits + words
    body = K.rans(tok, order, f, buf, blen)
    return b"\x01" + table + _varint(blen) + _varint(len(body) - blen) + body


def _stream_decode(rd: _Reader, order: int, n: int, slot: str = "j",
                   fused: tuple | None = None, sink: tuple | None = None) -> np.ndarray | None:
    """Decode a stream into j (scratch ``slot``); with ``fused`` = (mode, p, a, b, g, off,
    lo, span, out), plain streams are decoded and dequantized straight into ``out`` and
    None is returned; with ``sink`` = (sink, out, g, off) (see ``K.decode_into``) every
    stream is written straight into ``out`` and None is returned."""
    first = [_unzz(rd.varint()) for _ in range(min(order, n))] if order else []
    return _body_decode(rd, order, n, first, slot, True, fused, sink)


def _body_decode(rd: _Reader, order: int, n: int, first: list[int], slot: str,
                 runs_ok: bool, fused: tuple | None = None,
                 sink: tuple | None = None) -> np.ndarray | None:
    kind = rd.u8()
    if kind in (0, 1) or (kind == 4 and rd.lanes):
        if kind == 0:
            t, f, words = rd.u8(), _EMPTY_FREQ, b""
            bits = rd.take(rd.varint())
        else:
            t, f = (K.SINGLE_LANES if kind == 4 else -1), _read_table(rd)
            blen = rd.varint()
            wlen = rd.varint()
            bits = rd.take(blen)
            words = rd.take(wlen)
        if sink is not None:
            if not K.decode_into(words, bits, f, t, order, n, first, *sink):
                raise _corrupt("entropy-coded stream is inconsistent", rd.pos, "stream")
            return None
        if fused is not None:
            if not K.decode_tab(words, bits, f, t, order, n, first, *fused):
                raise _corrupt("entropy-coded stream is inconsistent", rd.pos, "stream")
            return None
        j = K.decode(words, bits, f, t, order, n, first, slot)
    elif kind == 2 and n <= order:
        j = np.array(first, dtype=np.uint64)
    elif kind == 3 and runs_ok and n > order:
        m = rd.varint()
        if m > n - order:
            raise _corrupt("more nonzero codes than values", rd.pos, "stream")
        runs = _body_decode(rd, 0, m + 1, [], slot + "R", False)
        vals = (_body_decode(rd, 0, m, [], slot + "V", False) if m
                else np.zeros(0, dtype=np.uint64))
        assert runs is not None and vals is not None
        if fused is not None:
            if not K.runs_expand_tab(runs, vals, order, first, n, *fused):
                raise _corrupt("zero-run stream is inconsistent", rd.pos, "stream")
            return None
        j = K.runs_expand(runs, vals, order, first, n, slot)
    else:
        raise _corrupt(f"unknown stream kind {kind}", rd.pos - 1, "stream")
    if j is None:
        raise _corrupt("entropy-coded stream is inconsistent", rd.pos, "stream")
    if sink is not None:
        K.put_j(j, *sink)
        return None
    return j


# ------------------------------------------------------------------------------ models

@dataclass(slots=True)
class _Candidate:
    cost: float
    head: int
    params: bytes
    j: np.ndarray
    order: int
    sample_h: np.ndarray | None = None  # token histogram of the order's stream on the sample
    r: np.ndarray | None = None
    sample: np.ndarray | None = None  # the sample of j (see _sample), when j is long
    r_sample_h: np.ndarray | None = None  # the same two for the residual stream r
    r_sample: np.ndarray | None = None
    r_zeros: int = 0  # (and its number of zero codes)
    jrange: tuple[int, int] | None = None  # (min, max) of j as int64, when known
    pre: bytes = b""  # format v2: written just before the main stream (predictor)
    # a candidate costed on its block's sample only (see _quant_candidate): makes the full
    # candidate once chosen
    make: Callable[[], _Candidate] | None = None


def _int_candidate(k: np.ndarray, model: int, params: bytes, r: np.ndarray | None = None,
                   nonzero: int = 0, krange: tuple[int, int] | None = None,
                   scale: float = 0.0) -> _Candidate:
    """Best (order, gcd) coding of int64 k (+ residual r when nonzero); ``krange`` the
    (min, max) of k when the caller knows it.  ``scale`` > 0: k and r are a block's sample
    (``_sample``'s positions), costed as the block's (the common step then is the
    sample's)."""
    head = model
    j = k.view(np.uint64)
    gparams = b""
    jrange = krange
    if k.size > 1:
        g = K.gcd(j)
        if 1 < g < (1 << 63):
            off = int(k[0]) % g
            # exact unless the values span more than int64 (then the split is skipped)
            qj = K.gcd_split(j, g, off)
            if qj is not None:
                j = qj
                head |= _H_GCD
                gparams = _varint(g) + _varint(off)
                # (k - off) // g is monotone unless k - off wrapped below int64
                jrange = None if krange is None or krange[0] - off < -(1 << 63) else (
                    (krange[0] - off) // g, (krange[1] - off) // g)
    sampled = scale > 0
    if sampled:
        js = j
    else:
        js, scale = _sample(j)
    h3 = K.hist3(js).reshape(3, 256)
    costs = [c * scale for c in K.cost3(h3)]
    order = min(range(3), key=costs.__getitem__)  # the first of equal costs, as argmin
    cost = costs[order] + 8 * (len(params) + len(gparams) + 2)
    cand = _Candidate(cost, head | (order << 3), params + gparams, j, order, h3[order],
                      sample=js if js is not j else None, jrange=jrange)
    if r is not None and nonzero:
        rj = r.view(np.uint64)
        rs, rscale = (rj, scale) if sampled else _sample(rj)
        rh = K.hist1(rs)
        cand.cost += _cost_bits(rh) * rscale
        cand.head |= _H_RESID
        cand.r = r
        cand.r_sample_h, cand.r_zeros = rh, r.size - nonzero
        if rs is not rj:
            cand.r_sample = rs
    return cand


_SAMPLE_PART = 4096


def _sample(j: np.ndarray) -> tuple[np.ndarray, float]:
    """j itself, or four evenly spaced runs of 4,096 consecutive values of a long j (the
    model and order choice then reads a quarter of a full block); and the size scale."""
    if j.size <= 4 * _SAMPLE_PART * 1.5:
        return j, 1.0
    last = j.size - _SAMPLE_PART
    s = np.concatenate([j[a: a + _SAMPLE_PART] for a in (0, last // 3, 2 * last // 3, last)])
    return s, j.size / s.size




_SIGNED = {w: (np.dtype(f"i{w}"), np.array(np.iinfo(f"i{w}").max, dtype=f"i{w}"))
           for w in (2, 4, 8)}


def _sortable(x: np.ndarray) -> np.ndarray:
    """Float bits as order-preserving int64 (sign-extended from the float's width); a new
    array (see ``K.sortable``)."""
    return K.sortable(x)


def _unsortable(k: np.ndarray, dtype: np.dtype) -> np.ndarray:
    it, mask = _SIGNED[dtype.itemsize]
    s = k.astype(it)  # wraps modulo 2**width
    bits = s ^ ((s >> (dtype.itemsize * 8 - 1)) & mask)
    return bits.view(dtype)


def _affine_guess(x: np.ndarray) -> tuple[float, float] | None:
    """(a, b) of a grid a + k*b that a sample of float32/64 x seems to lie on, or None.

    The sample: ``_T_GRID_SAMPLE`` evenly spaced values, the finite ones; the step: an
    approximate float gcd of the ``_T_GRID_GAPS`` commonest gaps between its distinct
    values (each gap exact to 2**``_T_GRID_SLACK`` units in the last place of the values'
    scale, gaps below 2**``_T_GRID_COARSE`` times that passed over), the coarsest of its
    divisors through which an origin (0, the lowest or the commonest value) puts all but
    1 / ``_T_GRID_OFF`` of the values within ``_T_GRID_FRAC`` of a step of the grid (the
    step fixed by the rounding intervals of at most ``_T_GRID_SWEEP`` of them); then the
    ``_T_GRID_STEPS`` float steps either side and a step whose reciprocal has few decimals
    (full scale / counts: 10 V / 4095 = 1 / 409.5) are costed, and the cheapest residuals
    win.  One C call (``K.affine_guess``); the definition: ``_codec_ref.affine_guess``."""
    return K.affine_guess(x, _T_GRID_SAMPLE, 2.0 ** _T_GRID_SLACK, 2.0 ** _T_GRID_COARSE,
                          _T_GRID_GAPS, _T_GRID_FRAC, _T_GRID_OFF, _T_GRID_SWEEP,
                          _T_GRID_STEPS)


def _off_decimal(b: float, d: int) -> bool:
    """Whether step b is not a whole number of 10**-d (to float precision)."""
    m = b * 10.0 ** d
    return not (m >= 0.5 and abs(m - round(m)) <= max(1e-9, 1e-12 * m))


def _lossy_candidates(x: np.ndarray, tol: float) -> list[_Candidate]:
    """Lossy affine candidates of float32/64 x under tolerance ``tol`` > 0: grids ``k * b``
    (a = 0), each value on its nearest grid point, a residual only where the decoded value
    would still move by more than ``tol``.

    Values half a step from the grid are common (the data's own step divides ``tol``:
    240.35 V on a 0.1 V grid); in exact arithmetic both neighbours lie at distance ``tol``,
    in float arithmetic either may land a hair past it.  Two grids: ``b = 2 tol``, where
    both sides of such a value are tried (the one that decodes within the bound is taken,
    and when both do, the one that keeps the code close to its neighbours'); and ``b`` a
    few units of the last place under ``2 tol``, where the nearest side of a half-step
    value is inside the bound with a margin float rounding cannot eat (no residuals, no
    choice).  Integer-valued data also gets the odd integer step ``2 floor(tol) + 1`` when
    it is coarser than ``2 tol``; smooth data the prediction-following grid
    (:func:`_lossy_follow`).  Every check uses the decoder's arithmetic (``0.0 + k * b`` in
    x's dtype)."""
    b = 2.0 * tol
    if not (math.isfinite(b) and b > 0):
        return []
    eps = float(np.finfo(x.dtype).eps)
    out = [_lossy_grid(x, tol, b, f"lossy{x.dtype.itemsize}")]
    if out[0].r is not None:  # some value broke the bound on both sides: try the narrow grid
        out.append(_lossy_grid(x, tol, b * (1.0 - _T_LOSSY_ULPS * eps),
                               f"lossyn{x.dtype.itemsize}"))
    odd = 2.0 * math.floor(tol) + 1.0
    if tol >= 1.0 and odd > b and odd < 2.0 ** 24 and _integer_valued(x):
        # integers are exact in float: an odd integer step 2 floor(tol) + 1 > 2 tol leaves
        # every value within floor(tol) <= tol of a grid point (5 counts at t = 5: step 11)
        out.append(_lossy_grid(x, tol, odd, f"lossyi{x.dtype.itemsize}"))
    best = min(out, key=lambda c: c.cost)
    if best.cost < _T_LOSSY_SMOOTH * x.size:
        follows = [c for c in (_lossy_follow(x, tol, 2), _lossy_follow(x, tol, 1)) if c]
        if follows:
            # all code mostly zeros, where the zero-run form (which the estimate does not
            # see) decides: compare what they really code to, and keep the winner's cost on
            # the estimate's scale (the lossless candidates' costs are estimates too)
            real = [_coded_size(c) for c in [best, *follows]]
            i = min(range(len(real)), key=real.__getitem__)
            if i:
                follows[i - 1].cost = best.cost * real[i] / real[0]
                out.append(follows[i - 1])
    return out


def _coded_size(c: _Candidate) -> int:
    """Bytes candidate c codes to in a block (header, parameters, streams)."""
    return (1 + len(c.params) + len(_table_field(c.j, c.jrange))
            + len(_stream_encode(c.j, c.order, c.sample_h, c.sample))
            + (len(_stream_encode(c.r.view(np.uint64), 0)) if c.r is not None else 0))


def _integer_valued(x: np.ndarray) -> bool:
    """Whether every finite value of float x is an integer of magnitude below 2**24 (exact
    in float32 and float64; so are its multiples of an integer step in that range)."""
    with np.errstate(all="ignore"):
        for part in (x[:256], x):  # most data that is not fails on its first values
            fin = part[np.isfinite(part)]
            if not np.all((np.rint(fin) == fin) & (np.abs(fin) < 2.0 ** 24)):
                return False
        return bool(fin.size)


def _lossy_grid(x: np.ndarray, tol: float, b: float, slot: str) -> _Candidate:
    """The candidate of grid ``k * b`` (``b <= 2 tol``) in scratch ``slot``."""
    k, r, nz, kr = K.quant(x, 1, 1.0, 0.0, b, tol, slot)
    params = struct.pack("<dd", 0.0, b)
    step = max(1, x.size // _SAMPLE_PART)
    with np.errstate(all="ignore"):
        # half-step values come in bulk (a lattice) or not at all: a sample tells which;
        # without them only the values that broke the bound (r != 0) are looked at
        u = x[::step].astype(np.float64) / b
        if np.any(np.abs(u - k[::step]) >= _T_LOSSY_HALF):
            near = np.arange(x.size)
        elif nz:
            near = np.flatnonzero(r)
        else:
            return _int_candidate(k, _AFF, params, r, nz, kr)
        x0 = x[near].astype(np.float64)
        u = x0 / b
        frac = u - k[near]  # in [-0.5, 0.5] where k came from u; NaN/inf/huge: not finite
        keep = (np.abs(frac) >= _T_LOSSY_HALF) & (np.abs(u) < 2.0 ** 52)
        near, x0, frac = near[keep], x0[keep], frac[keep]
        if near.size == 0:
            return _int_candidate(k, _AFF, params, r, nz, kr)
        side = np.where(frac > 0, 1, -1).astype(np.int64)
        k0, k1 = k[near], k[near] + side
        ok0 = np.abs((k0 * b).astype(x.dtype).astype(np.float64) - x0) <= tol
        ok1 = np.abs((k1 * b).astype(x.dtype).astype(np.float64) - x0) <= tol
    # a value only the other side meets: take it (its residual goes)
    fix = ~ok0 & ok1
    if fix.any():
        k[near[fix]] = k1[fix]
        if nz:
            r[near[fix]] = 0
            nz -= int(np.count_nonzero(fix))
    both = ok0 & ok1
    if both.any():
        _pick_sides(k, near[both], side[both])
    return _int_candidate(k, _AFF, params, r, nz, K.minmax(k))


def _lossy_follow(x: np.ndarray, tol: float, order: int) -> _Candidate | None:
    """A smooth-data lossy candidate: a grid ``M`` times finer than ``2 tol`` (M =
    ``_T_LOSSY_FINE``), on which every value has a few grid points within the bound, and
    the one taken is the prediction (order 2: ``2 k[i-1] - k[i-2]``, a line through the
    two before; order 1: ``k[i-1]``, a dead band) clamped into that window: on a slow
    signal the deltas of that order are then mostly zero, where plain rounding jitters
    between neighbouring points.  A value the window misses
    in float arithmetic (or NaN, inf, huge) keeps its code and carries an exact residual.
    The recursion is sequential (the ``ekz_follow`` kernel, ``_native/lossy.c``); it is
    tried only on data that the rounding grid already codes in few bits per value."""
    b = 2.0 * tol / _T_LOSSY_FINE
    if not (math.isfinite(b) and b > 0) or x.size < 3:
        return None
    k = K.follow(x, b, tol, order, f"follow{order}{x.dtype.itemsize}")
    with np.errstate(all="ignore"):
        y = (k * b).astype(x.dtype)
        bad = ~(np.abs(y.astype(np.float64) - x.astype(np.float64)) <= tol)
    r = np.zeros(x.size, dtype=np.int64)
    if bad.any():
        r[bad] = (_sortable(x[bad]).view(np.uint64)
                  - _sortable(y[bad]).view(np.uint64)).view(np.int64)
    nz = int(np.count_nonzero(r))
    return _int_candidate(k, _AFF, struct.pack("<dd", 0.0, b), r, nz, K.minmax(k))


def _pick_sides(k: np.ndarray, pos: np.ndarray, side: np.ndarray) -> None:
    """At positions ``pos`` k may be k or k + side: choose, in place, the one whose deltas
    to the neighbours cost least (log2(1 + |d|) each: a zero delta is what codes
    cheapest), the previous neighbour's value on a tie; two passes settle neighbours that
    are choices themselves."""
    n = k.size
    prv, nxt = np.maximum(pos - 1, 0), np.minimum(pos + 1, n - 1)
    has_p, has_n = (pos > 0).astype(np.float64), (pos < n - 1).astype(np.float64)
    alt = k[pos] + side
    for _ in range(2):
        cur = k[pos]
        kp, kn = k[prv], k[nxt]
        c_cur, c_alt = (has_p * np.log2(1.0 + np.abs(v - kp))
                        + has_n * np.log2(1.0 + np.abs(kn - v)) for v in (cur, alt))
        swap = (c_alt < c_cur) | ((c_alt == c_cur) & (np.abs(alt - kp) < np.abs(cur - kp)))
        if not swap.any():
            break
        k[pos[swap]] = alt[swap]
        alt[swap] = cur[swap]


def _quant_candidate(x: np.ndarray, mode: int, p: float, a: float, b: float, model: int,
                     params: bytes, slot: str,
                     lazy: bool = True) -> tuple[_Candidate, float, tuple[int, int]]:
    """The decimal (mode 0) or affine (mode 1) candidate of float x: (candidate, its
    number of residuals, its k range).  A long block (one ``_sample`` reads) is quantized
    on the sample's positions only when ``lazy``: the candidate then costs what the full
    one's sample costs (the same values: quantization is value by value), unless the
    sample's common step is coarser than the block's, the residual count and k range are
    the sample's (the count scaled to the block), and ``make`` quantizes the whole block
    once the candidate is chosen.  The grids that lose (most of the float search on noisy
    blocks) are then never computed in full."""
    n = x.size
    if not lazy or n <= 4 * _SAMPLE_PART * 1.5:
        k, r, nz, kr = K.quant_fast(x, mode, p, a, b, -1.0, slot)
        return _int_candidate(k, model, params, r, nz, kr), nz, kr
    xs, scale = _sample(x)
    k, r, nz, kr = K.quant_fast(xs, mode, p, a, b, -1.0, slot + "s")
    cand = _int_candidate(k, model, params, r, nz, kr, scale)

    def make() -> _Candidate:
        return _quant_candidate(x, mode, p, a, b, model, params, slot, False)[0]

    cand.make = make
    return cand, nz * scale, kr


def _float_candidates(x: np.ndarray, tol: float, level: int,
                      f32_ok: bool = False) -> tuple[list[_Candidate], bool]:
    """Candidate codings of float32/64 x, and whether one of them is a good grid fit.
    With ``f32_ok`` (float64 x), float64 data that is exactly float32 is modelled as
    float32 (head flag F32) once the decimal model has failed."""
    cands: list[_Candidate] = []
    n = x.size
    # scratch slots are named per width: the float32 pass below must not overwrite the
    # arrays of the float64 candidates it is compared with
    w = x.dtype.itemsize
    if tol > 0:
        cands += _lossy_candidates(x, tol)
    d = K.find_decimals(x, _T_DEC_SAMPLE, _MAXD, _T_DEC_SAMPLE // _T_GOOD_RESID)
    good = fine = costly = False
    if d >= 0:
        # a long block: every sampled value on the grid, a good fit most likely, quantized
        # in full at once; misses: costed on the block's sample first
        strict = (K.find_decimals(x, _T_DEC_SAMPLE, _MAXD, 0)
                  if n > 4 * _SAMPLE_PART * 1.5 else None)
        cand, nz, kr = _quant_candidate(x, 0, 10.0 ** d, 0.0, 1.0, _DEC, bytes((d,)),
                                        f"dec{w}", strict != d)
        if cand.make is not None and nz <= n // _T_GOOD_RESID:
            # the sample fits: the grid is probably the block's, and decided on all of it
            cand, nz, kr = _quant_candidate(x, 0, 10.0 ** d, 0.0, 1.0, _DEC, bytes((d,)),
                                            f"dec{w}", False)
        cands.append(cand)
        # a decimal grid about as fine as the floats themselves fits by construction (any
        # float32 below 1 is some k / 10**8): no grid fit, the other models are tried too
        kbits = math.log2(max(-kr[0], kr[1], 1)) - np.finfo(x.dtype).nmant - 1
        fine = kbits >= -_T_DEC_FINE
        # a costly decimal fit with many digits may be a coarser grid printed in full
        # (means of three readings at 13 decimals: 16.8233333333333): the affine search too
        costly = kbits >= -_T_DEC_LONG and cands[-1].cost > _T_GRID_TRY * n
        good = nz <= n // _T_GOOD_RESID and not fine
        if not good and not fine and nz:
            # the sample's few misses were many: the exponent that fits the whole sample
            d2 = K.find_decimals(x, _T_DEC_SAMPLE, _MAXD, 0) if strict is None else strict
            if d2 > d:
                cand, nz, kr = _quant_candidate(x, 0, 10.0 ** d2, 0.0, 1.0, _DEC,
                                                bytes((d2,)), f"dec2{w}")
                cands.append(cand)
                good = nz <= n // _T_GOOD_RESID
    if not good and f32_ok:
        # float32 readings stored as float64: model the float32 values
        x32 = K.f32_exact(x)
        if x32 is not None:
            c32, good = _float_candidates(x32, tol, level)
            for c in c32:
                c.head |= _H_F32
            return cands + c32, good
    if (not good or costly) and level >= 3:
        guess = _affine_guess(x)
        # a step that is a whole number of 10**-d is the decimal grid again (its gcd)
        if guess is not None and (d < 0 or fine or _off_decimal(guess[1], d)):
            a, b = guess
            cand, nz, kr = _quant_candidate(x, 1, 1.0, a, b, _AFF, struct.pack("<dd", a, b),
                                            f"aff{w}")
            cands.append(cand)
            good = good or nz <= n // _T_GOOD_RESID
    if not good or not cands:
        cands.append(_int_candidate(K.sortable(x), _BITS, b""))
    return cands, good


def _encode_block(x: np.ndarray, tol: float, level: int, v2: bool = True,
                  lanes: list[bool] | None = None) -> bytes:
    """One block of 1-D native-order values (float16/32/64 or int64/uint64 view); ``v2``
    lets it use the format-v2 models (not in a dictionary's own table); ``lanes`` (a list)
    lets its streams use format v3's lanes, and gets True appended when one does."""
    dt = x.dtype
    if dt.kind == "f" and dt.itemsize in (4, 8):
        cands, _ = _float_candidates(x, tol, level, dt.itemsize == 8 and level >= 2)
    elif dt.kind == "f":
        cands = [_int_candidate(K.sortable(x), _BITS, b"")]
    else:
        k = x.astype(np.int64) if dt.kind == "i" else x.astype(np.uint64).view(np.int64)
        cands = [_int_candidate(k, _INT, b"")]
    best = min(cands, key=lambda c: c.cost)
    if best.make is not None:  # costed on the sample: now the whole block
        f32 = best.head & _H_F32
        best = best.make()
        best.head |= f32
    best = _v2.improve(x, best, level, tol < 0, v2)
    raw_cost = 8 * (x.nbytes + 1)
    if best.cost >= raw_cost:
        return bytes((_RAW,)) + x.astype(dt.newbyteorder("<")).tobytes()
    out = [bytes((best.head,)), best.params]
    if best.head & 7 in (_DEC, _AFF):
        out.append(b"\x00" if best.pre else _table_field(best.j, best.jrange))
    out.append(best.pre)
    est = best.cost / 8  # (the block's estimated bytes: see _plain_body)
    out.append(_stream_encode(best.j, best.order, best.sample_h, best.sample, None, lanes,
                              est))
    if best.r is not None:
        out.append(_stream_encode(best.r.view(np.uint64), 0, best.r_sample_h, best.r_sample,
                                  best.r_zeros, lanes, est))
    blob = b"".join(out)
    if len(blob) > x.nbytes + 1:
        return bytes((_RAW,)) + x.astype(dt.newbyteorder("<")).tobytes()
    return blob


def _table_field(j: np.ndarray, jrange: tuple[int, int] | None = None) -> bytes:
    """The j range of a decimal/affine block when short enough for the decoder's value
    table (varint span + 1, zigzag varint lowest j), else a 0 byte."""
    if j.size < 64:
        return b"\x00"
    lo, hi = jrange if jrange is not None else K.minmax(j.view(np.int64))
    span = hi - lo
    if span >= K.TAB_LEN or (span + 1) * 4 > j.size:
        return b"\x00"
    return _varint(span + 1) + _varint(_zz(lo))


def _decode_block(rd: _Reader, out: np.ndarray, v2: int = 1) -> None:
    """Decode one block into ``out`` (1-D, C-contiguous, the block's native dtype);
    ``v2``: the frame's format version (2: dictionary and predictor allowed, 3: predictor
    lanes too)."""
    n, dt = out.size, out.dtype
    head = rd.u8()
    model = head & 7
    if model == _RAW:
        if head != _RAW:
            raise _corrupt(f"bad raw block header 0x{head:02x}", rd.pos - 1, "block")
        out[...] = np.frombuffer(rd.take(n * dt.itemsize), dtype=dt.newbyteorder("<"))
        return
    if v2 >= 2 and model == _v2.DICT:
        _v2.decode_dict(rd, head, out, v2)
        return
    order = (head >> 3) & 3
    if (order > 2 and v2 < 2) or (head & _H_F32 and (dt != np.float64 or model == _INT)):
        raise _corrupt(f"bad block header 0x{head:02x}", rd.pos - 1, "block")
    if head & _H_F32:
        tmp = K.scratch("f32", n, np.float32)
        _decode_block_body(rd, head, tmp, v2)
        with np.errstate(invalid="ignore"):  # a signalling NaN (damaged data) is no error
            out[...] = tmp
    else:
        _decode_block_body(rd, head, out, v2)


def _decode_block_body(rd: _Reader, head: int, out: np.ndarray, version: int = 2) -> None:
    n, dt = out.size, out.dtype
    model, order = head & 7, (head >> 3) & 3
    p, a, b = 1.0, 0.0, 1.0
    if model == _DEC:
        d = rd.u8()
        if d > 22:
            raise _corrupt(f"decimal exponent {d} > 22", rd.pos - 1, "block")
        p = 10.0 ** d
    elif model == _AFF:
        a, b = rd.f64(), rd.f64()
    elif model not in (_INT, _BITS):
        raise _corrupt(f"unknown block model {model}", rd.pos - 1, "block")
    if (model == _INT) != (dt.kind in "iubMm") or (model in (_DEC, _AFF) and dt.itemsize < 4):
        raise _corrupt(f"block model {model} does not fit dtype {dt}", rd.pos - 1, "block")
    g, off = 1, 0
    if head & _H_GCD:
        g, off = rd.varint(), rd.varint()
        if g < 2 or off >= g:
            raise _corrupt("bad common step", rd.pos, "block")
    fused = None
    mode = 0 if model == _DEC else 1
    if model in (_DEC, _AFF):
        span1 = rd.varint()
        if span1:
            if span1 > K.TAB_LEN:
                raise _corrupt("value table longer than allowed", rd.pos, "block")
            lo = _unzz(rd.varint())
            fused = (mode, p, a, b, g, off, lo, span1 - 1, out)
    if head & _H_RESID and model in (_INT, _BITS):
        raise _corrupt("residual stream in an integer block", rd.pos, "block")
    if order == _v2.PRED:  # format v2: a predictor; no value table (fused decode)
        if fused is not None:
            raise _corrupt("value table in a predictor block", rd.pos, "block")
        j = _v2.pred_decode(rd, n, v3=version >= 3)
        if model in (_INT, _BITS):
            if g != 1 or off:
                j = np.uint64(off) + np.uint64(g) * j
            if model == _BITS:
                out[...] = _unsortable(j.view(np.int64), dt)
            else:
                out[...] = j.view(np.int64).astype(dt)
            return
        K.dequant(j, None, mode, p, a, b, g, off, dt, out)
        if head & _H_RESID:  # added to out's float bits as it is decoded
            w = dt.itemsize
            _stream_decode(rd, 0, n, "r", sink=(K.SINK_R64 if w == 8 else K.SINK_R32,
                                                out.view(_UVIEW[w]), 1, 0))
        return
    if model in (_INT, _BITS):
        # straight into out: k = off + g * j truncated to the width (float bits unsorted)
        w = dt.itemsize
        kind = (K.SINK_I8 + w.bit_length() - 1 if model == _INT
                else K.SINK_B16 + w.bit_length() - 2)
        _stream_decode(rd, order, n, "j", sink=(kind, out.view(_UVIEW[w]), g, off))
        return
    j = _stream_decode(rd, order, n, "j", fused)
    if j is not None:
        K.dequant(j, None, mode, p, a, b, g, off, dt, out)
    if head & _H_RESID:  # added to out's float bits as it is decoded
        w = dt.itemsize
        _stream_decode(rd, 0, n, "r", sink=(K.SINK_R64 if w == 8 else K.SINK_R32,
                                            out.view(_UVIEW[w]), 1, 0))


# ------------------------------------------------------------------------------ frames

def _check_tolerance(tolerance: float | None) -> float:
    if tolerance is None:
        return -1.0
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.floating)):
        raise InputTypeError("tolerance must be a number or None", name="tolerance",
                             got=type(tolerance).__name__)
    t = float(tolerance)
    if not math.isfinite(t) or t < 0:
        raise OptionsError(f"tolerance must be finite and >= 0, got {tolerance!r}")
    return t


def _check_level(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) \
            or not 1 <= level <= 9:
        raise OptionsError(f"level must be an int in 1..9, got {level!r}")
    return int(level)


def encode(array: np.ndarray, *, tolerance: float | None = None, level: int = 5) -> bytes:
    """Encode ``array`` into one self-contained frame.

    Args:
        array: a numpy array of bool, int8..int64, uint8..uint64, float16/32/64 or
            datetime64/timedelta64[ns], any shape (C or Fortran order, any byte order).
        tolerance: ``None`` (default) is lossless, bit for bit.  A number ``eps >= 0`` lets
            every finite float value move by at most ``eps`` (in the array's units); NaN and
            infinities are kept exactly.  Integer, bool and float16 arrays are always coded
            losslessly (which meets any bound).
        level: effort 1..9; 1 skips the affine-grid search (faster on data without a fixed
            decimal), 3 and above try it; 2 and above try the dictionary model (format v2)
            and 3 and above the predictors (delta order 3, LPC, lookback; format v2, whose
            decoding costs about one multiply per predictor term and value).

    Returns:
        The frame (bytes); :func:`decode` restores dtype, shape, layout and values.
    """
    t0 = time.perf_counter()
    if not isinstance(array, np.ndarray):
        raise InputTypeError(f"array must be a numpy.ndarray, got {type(array).__name__}",
                             name="array", expected="numpy.ndarray", got=type(array).__name__)
    tol = _check_tolerance(tolerance)
    level = _check_level(level)
    dt = array.dtype
    native = dt.newbyteorder("=")
    if native not in _CODES:
        raise InputTypeError(f"array dtype {dt} is not supported; use bool, int8..int64, "
                             "uint8..uint64, float16/32/64 or datetime64/timedelta64[ns]",
                             name="array", got=str(dt))
    if array.ndim > MAX_NDIM:
        raise InputError(f"array has {array.ndim} dimensions; at most {MAX_NDIM}",
                         name="array")
    flags = 0
    if array.ndim > 1 and array.flags.f_contiguous and not array.flags.c_contiguous:
        flags |= _F_FORTRAN
    if dt.byteorder == ">" or (dt.byteorder == "=" and not _little()):
        flags |= _F_BIGENDIAN if dt.itemsize > 1 else 0
    lossy = tol >= 0 and native.kind == "f" and native.itemsize >= 4
    if lossy:
        flags |= _F_LOSSY
    flat = np.ravel(array, order="F" if flags & _F_FORTRAN else "C")
    flat = np.ascontiguousarray(flat, dtype=native)
    if native.kind in "Mm":
        flat = flat.view(np.int64)
    elif native.kind == "b":
        flat = flat.view(np.uint8)
    parts = [b"".join(_varint(s) for s in array.shape)]
    if lossy:
        parts.append(struct.pack("<d", tol))
    parts.append(_varint(BLOCK_LEN))
    version = 1
    lanes: list[bool] = []
    for i in range(0, flat.size, BLOCK_LEN):
        blk = _encode_block(flat[i: i + BLOCK_LEN], tol if lossy else -1.0, level,
                            lanes=lanes)
        parts.append(_varint(len(blk)))
        parts.append(blk)
        if _v2.uses_v3(blk):
            version = 3
        elif _v2.uses_v2(blk):
            version = max(version, 2)
    if lanes:
        version = 3
    body = b"".join(parts)
    head = _HEADER.pack(MAGIC, version, _CODES[native], flags, array.ndim,
                        len(body) + 4)
    frame = head + body
    frame += struct.pack("<I", K.crc32(frame, 0, len(frame)))
    if _telemetry.enabled():
        _telemetry.emit("compress.encode", bytes_in=array.nbytes, bytes_out=len(frame),
                        seconds=time.perf_counter() - t0, lossless=not lossy)
    return frame


def release_buffers() -> None:
    """Free the calling thread's reusable work arrays (up to about 8 MB after coding full
    blocks); the next encode or decode in this thread makes them again."""
    K.release_scratch()


def _little() -> bool:
    return np.little_endian


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """Where one frame sits in a buffer, and what it holds (read from its header only).

    Attributes:
        offset: byte offset of the frame's first byte.
        length: frame length in bytes (header, body and checksum).
        dtype: dtype of the decoded array.
        shape: shape of the decoded array.
        lossy: True if it was encoded with a tolerance.
    """

    offset: int
    length: int
    dtype: np.dtype
    shape: tuple[int, ...]
    lossy: bool


def _as_bytes(blob: object) -> bytes:
    if isinstance(blob, bytes):
        return blob
    if isinstance(blob, (bytearray, memoryview)):
        return bytes(blob)
    if isinstance(blob, np.ndarray) and blob.dtype == np.uint8:
        return blob.tobytes()
    raise InputTypeError(f"blob must be bytes-like, got {type(blob).__name__}", name="blob",
                         got=type(blob).__name__)


def _frame_at(buf: bytes, pos: int) -> tuple[int, _Reader, int, int, tuple[int, ...]]:
    """Parse and checksum the frame at ``pos``: (frame length, reader at the body, dtype
    code, flags, shape)."""
    if len(buf) - pos < _HEADER.size + 4:
        raise _corrupt(f"truncated: {len(buf) - pos} bytes cannot hold a frame", pos,
                       "truncated")
    magic, version, code, flags, ndim, body_len = _HEADER.unpack_from(buf, pos)
    if magic != MAGIC:
        raise _corrupt("not an edgekit.compress frame (bad magic)", pos, "bad magic")
    if version not in SUPPORTED_VERSIONS:
        _telemetry.emit("compress.corrupt", reason="version")
        raise FormatVersionError(f"frame format version {version}; this edgekit reads "
                                 f"{SUPPORTED_VERSIONS}", version=version,
                                 supported=SUPPORTED_VERSIONS)
    end = pos + _HEADER.size + body_len
    if body_len < 4 or end > len(buf):
        raise _corrupt(f"truncated: frame says {body_len} body bytes, "
                       f"{len(buf) - pos - _HEADER.size} present", pos, "truncated")
    stored = _CRC_FIELD.unpack_from(buf, end - 4)[0]
    got = K.crc32(buf, pos, end - 4)
    if stored != got:
        _telemetry.emit("compress.corrupt", reason="checksum")
        raise ChecksumError("frame checksum mismatch (damaged or altered data)", offset=pos,
                            expected=stored, got=got)
    if code not in _DTYPES or flags & ~7 or ndim > MAX_NDIM:
        raise _corrupt("bad frame header fields", pos, "header")
    rd = _Reader(buf, pos + _HEADER.size, end - 4)
    shape = (rd.varint(),) if ndim == 1 else tuple([rd.varint() for _ in range(ndim)])
    return end - pos, rd, code, flags, shape


def _info_at(buf: bytes, pos: int) -> FrameInfo:
    length, _, code, flags, shape = _frame_at(buf, pos)
    dt = _DTYPES[code]
    if flags & _F_BIGENDIAN:
        dt = dt.newbyteorder(">")
    return FrameInfo(pos, length, dt, shape, bool(flags & _F_LOSSY))


def iter_frames(blob: bytes) -> Iterator[FrameInfo]:
    """The frames of a concatenation, from their headers (each checksum is verified, no
    values are decoded).  Raises CorruptDataError at the first bad frame."""
    buf = _as_bytes(blob)
    pos = 0
    while pos < len(buf):
        info = _info_at(buf, pos)
        yield info
        pos += info.length


# dtypes the fast path decodes (bool, datetime and timedelta take the full path)
_FAST_DTYPES = {c: dt for c, dt in _DTYPES.items() if dt.kind in "iuf"}
_BL0, _BL1, _BL2 = _varint(BLOCK_LEN)


def _decode_fast(buf: bytes, pos: int) -> tuple[np.ndarray, int] | None:
    """The common frame (1-D, no tolerance, a numeric native-order dtype, blocks of
    BLOCK_LEN values, every block taken by the C block decoder) in a few Python steps:
    (values, frame length), or None for anything else or anything wrong, which
    _decode_at's full path then decodes or refuses with the precise error.  It makes the
    same checks, in particular the body-size bound before allocating."""
    if not K.native() or len(buf) - pos < 20:
        return None
    magic, version, code, flags, ndim, body_len = _HEADER.unpack_from(buf, pos)
    dt = _FAST_DTYPES.get(code)
    end = pos + _HEADER.size + body_len
    if (magic != MAGIC or ndim != 1 or dt is None or flags & ~_F_FORTRAN or body_len < 4
            or end > len(buf) or version not in SUPPORTED_VERSIONS):
        return None
    p, n, shift = pos + _HEADER.size, 0, 0
    while True:  # the value count: a varint of at most 5 bytes here, minimal
        b = buf[p]
        p += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 28 or p >= end:
            return None
    if (shift and b == 0) or n == 0 or p + 3 > end or buf[p] != _BL0 or buf[p + 1] != _BL1 \
            or buf[p + 2] != _BL2:
        return None
    p += 3
    if -(-n // BLOCK_LEN) * 2 > end - 4 - p:  # as _decode_at: before allocating
        return None
    out = np.empty(n, dtype=dt)
    if not K.decode_all_blocks(buf, p, end - 4, out, version, pos):  # (and the CRC)
        return None
    return out, end - pos


def _decode_at(buf: bytes, pos: int) -> tuple[np.ndarray, int]:
    fast = _decode_fast(buf, pos)
    if fast is not None:
        return fast
    length, rd, code, flags, shape = _frame_at(buf, pos)
    n = 1
    for s in shape:
        n *= s
    dt = _DTYPES[code]
    if flags & _F_LOSSY:
        tol = rd.f64()
        if not (math.isfinite(tol) and tol >= 0) or dt.kind != "f" or dt.itemsize < 4:
            raise _corrupt("bad tolerance field", rd.pos, "header")
    blen = rd.varint()
    if not 1 <= blen <= BLOCK_LEN:
        raise _corrupt(f"block length {blen} outside 1..{BLOCK_LEN}", rd.pos, "header")
    nblocks = -(-n // blen)
    # every block takes at least 2 bytes: refuse sizes the body cannot honestly hold
    if nblocks * 2 > rd.end - rd.pos:
        raise _corrupt(f"frame claims {n} values in {rd.end - rd.pos} bytes", rd.pos,
                       "header")
    version = buf[pos + 4]
    store = np.uint8 if dt.kind == "b" else (np.int64 if dt.kind in "Mm" else dt)
    out = np.empty(n, dtype=store)
    # all blocks in one C call (it knows format versions 1 to 3); from a block it leaves
    # (damage, a model it does not know) the Python decoder decodes or refuses with the
    # precise error
    start, rd.pos = K.decode_blocks(buf, rd.pos, rd.end, blen, out, version)
    for i in range(start, nblocks):
        m = min(blen, n - i * blen)
        size = rd.varint()
        if rd.pos + size > rd.end:
            raise _corrupt("block runs past the frame", rd.pos, "truncated")
        blk = out[i * blen: i * blen + m]
        if not K.decode_block(buf, rd.pos, size, blk, version):
            sub = _Reader(buf, rd.pos, rd.pos + size, version >= 3)
            _decode_block(sub, blk, version)
            if sub.pos != sub.end:
                raise _corrupt("trailing bytes in a block", sub.pos, "block")
        rd.pos += size
    if rd.pos != rd.end:
        raise _corrupt("trailing bytes in a frame", rd.pos, "frame")
    if dt.kind == "b":
        if np.any(out > 1):
            raise _corrupt("bool frame holds values other than 0 and 1", rd.pos, "frame")
        out = out.view(np.bool_)
    elif dt.kind in "Mm":
        out = out.view(dt)
    if flags & _F_BIGENDIAN:
        out = out.astype(dt.newbyteorder(">"))
    if len(shape) == 1:  # out is the array already
        return out, length
    try:  # no values, but a dimension numpy cannot make (2**63, or past its size limit)
        arr = out.reshape(shape, order="F" if flags & _F_FORTRAN else "C")
    except ValueError:
        raise _corrupt(f"shape {shape} is not a possible array shape", pos, "header") from None
    return arr, length


def decode(blob: bytes) -> np.ndarray:
    """Decode one frame made by :func:`encode` into a new array (same dtype, shape, layout).

    Raises :class:`~edgekit.errors.CorruptDataError` (:class:`ChecksumError`,
    :class:`FormatVersionError`) for damaged, truncated, foreign or trailing bytes.
    """
    t0 = time.perf_counter()
    buf = _as_bytes(blob)
    arr, length = _decode_at(buf, 0)
    if length != len(buf):
        raise _corrupt(f"{len(buf) - length} bytes after the frame (a concatenation? use "
                       "decode_stream)", length, "trailing")
    if _telemetry.enabled():
        _telemetry.emit("compress.decode", bytes_in=len(buf), bytes_out=arr.nbytes,
                        seconds=time.perf_counter() - t0)
    return arr


def decode_frame(blob: bytes, index: int) -> np.ndarray:
    """Decode only frame ``index`` (0-based; negative counts from the end) of a
    concatenation, skipping the others by their headers."""
    buf = _as_bytes(blob)
    infos = list(iter_frames(buf))
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise InputTypeError("index must be an int", name="index")
    if not -len(infos) <= index < len(infos):
        raise InputError(f"frame {index} out of range: {len(infos)} frames", name="index",
                         got=index)
    t0 = time.perf_counter()
    arr = _decode_at(buf, infos[index].offset)[0]
    if _telemetry.enabled():
        _telemetry.emit("compress.decode", bytes_in=infos[index].length, bytes_out=arr.nbytes,
                        seconds=time.perf_counter() - t0)
    return arr


def decode_stream(blob: bytes) -> np.ndarray:
    """Decode a concatenation of frames (e.g. from :class:`SeriesEncoder`) into one 1-D
    array: every frame's values in order (frames must share a dtype)."""
    t0 = time.perf_counter()
    buf = _as_bytes(blob)
    parts: list[np.ndarray] = []
    pos = 0
    while pos < len(buf):
        arr, length = _decode_at(buf, pos)
        if parts and arr.dtype != parts[0].dtype:
            raise _corrupt("frames of different dtypes in one stream", pos, "stream")
        parts.append(arr.ravel(order="K"))
        pos += length
    if not parts:
        raise _corrupt("empty stream: no frame", 0, "truncated")
    out = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if _telemetry.enabled():
        _telemetry.emit("compress.decode", bytes_in=len(buf), bytes_out=out.nbytes,
                        seconds=time.perf_counter() - t0)
    return out


from edgekit.compress import _v2  # noqa: E402  (format v2 models; it imports this module)
