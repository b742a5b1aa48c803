"""Compressed model updates: fewer bytes from each client to the coordinator.

A client sends its *update* (its trained parameters minus the global parameters it was sent),
encoded by an update codec; the coordinator decodes it against the global parameters' shapes
and adds it back.  Every codec returns the exact bytes a runtime sends (the wire format of
:mod:`edgekit.federated._wire`, with the codec's own id), so bytes counted are bytes sent.

* :class:`Float32Codec`: the arrays as they are (wire codec 0); lossless, the default.
* :class:`QuantizedCodec`: ``bits`` (8, 4, 2 or 1) per value on a per-chunk ``[lo, lo + L*step]``
  grid (``L = 2**bits - 1``), with stochastic rounding by default, so that the decoded update
  is *unbiased*: ``E[decode(encode(x))] == x`` (Alistarh et al. 2017, QSGD; Suresh et al.
  2017).  4-bit packs two values a byte.  Codes are deflated (zlib) when that is smaller.
  Wire codec 16.
* :class:`TopKCodec`: only the ``fraction`` of entries largest in magnitude (over the whole
  update), their indices as varint gaps or a bitmap (whichever is smaller) and their values
  exactly; with error feedback (Stich et al. 2018; Karimireddy et al. 2019) each client keeps
  what it did not send and adds it to its next update.  Wire codec 17.

Decoders refuse damaged bytes with :class:`~edgekit.errors.CorruptDataError` and a well-formed
update that does not fit the model (array count, shape, dtype, non-finite values) with
:class:`~edgekit.errors.InvalidUpdateError`.

Payload layouts (per array, inside the wire format's per-array payload; little-endian):

* codec 16: ``u8 form`` -- 0: the array's raw bytes (non-float arrays, or when quantising would
  not be smaller); 1: ``u8 bits | u32 chunk | f32 lo, f32 step per chunk | packed codes``;
  2: as 1 with the packed codes deflated (zlib).
* codec 17: ``u8 form`` -- 0: raw bytes; 1: ``u32 nnz | u8 index form | u32 index bytes |
  indices | nnz values in the array's dtype``; index form 0 is LEB128 varints of the gaps
  between successive indices (``i0, i1 - i0 - 1, ...``), 1 a little-endian bitmap of the
  array's size.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from edgekit.errors import CorruptDataError, InputError, InputTypeError, InvalidUpdateError
from edgekit.federated._core import Parameters
from edgekit.federated._wire import _register_codec, pack_arrays, unpack_arrays
from edgekit.federated.simulation import UpdateCodec

__all__ = [
    "CODEC_FLOAT32",
    "CODEC_QUANTIZED",
    "CODEC_TOPK",
    "Float32Codec",
    "QuantizedCodec",
    "TopKCodec",
    "UpdateCodec",
]

CODEC_FLOAT32 = 0
"""Wire codec id of :class:`Float32Codec` (raw arrays)."""
CODEC_QUANTIZED = 16
"""Wire codec id of :class:`QuantizedCodec`."""
CODEC_TOPK = 17
"""Wire codec id of :class:`TopKCodec`."""

# Encoder thresholds (tools/federated_compression_study.py --tune measures the grid).
# _T_QUANT_CHUNK: values sharing one (lo, step) pair.  Chosen on the softmax model's digits
# deltas by total bits a parameter + log2(relative RMS error) (one more bit halves the error,
# so the sum is the cost at equal accuracy): 1024 (= 4096 there) beats 256 by 0.24 bits at
# 8-bit and 0.19 at 4-bit; held out (MLP on digits / breast_cancer) 1024 is within 0.14 bits
# of the best and 64-256 lose 0.25-1.35 bits.
_T_QUANT_CHUNK = 1024
# Codes are deflated (zlib) only when deflating their first _T_DEFLATE_SAMPLE bytes saves
# 1 - _T_DEFLATE_GAIN of them: noise-like codes (most of a large model's) do not deflate, and
# zlib costs ~20 ms a MB for nothing; dead inputs (digits' border pixels) give runs that do.
_T_DEFLATE_SAMPLE = 4096
_T_DEFLATE_GAIN = 0.97
_TUNING_GRID = {"_T_QUANT_CHUNK": (64, 128, 256, 512, 1024, 4096),
                "_T_DEFLATE_SAMPLE": (1024, 4096, 16384), "_T_DEFLATE_GAIN": (0.9, 0.97, 1.0)}

_MAX_ELEMENTS = 1 << 27  # an array larger than this is refused unless the model is that large
_FLOATS = frozenset(np.dtype(t) for t in ("float16", "float32", "float64"))
_QUANT_BITS = (1, 2, 4, 8)


# --- shared checks -----------------------------------------------------------------------------


def _check_update(update: Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(update, np.ndarray) or not isinstance(update, Sequence):
        raise InputTypeError("update must be a sequence of numpy arrays", name="update",
                             got=type(update).__name__)
    out = []
    for i, a in enumerate(update):
        a = np.asarray(a)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise InputError(f"update array {i} holds non-finite values", name="update")
        out.append(a)
    return out


@dataclass
class _DecodeLimit:
    max_elements: int


_LIMIT: ContextVar[_DecodeLimit | None] = ContextVar("edgekit_fed_decode_limit", default=None)


def _element_count(shape: tuple[int, ...]) -> int:
    n = math.prod(shape)
    limit = _LIMIT.get()
    cap = limit.max_elements if limit is not None else _MAX_ELEMENTS
    if n > cap:
        raise CorruptDataError(f"array of {n} elements, more than the model's {cap}",
                               reason="length")
    return n


def _unpack_matching(data: bytes, codec_id: int, like: Sequence[np.ndarray],
                     name: str) -> Parameters:
    """Unpack ``data`` (which must use ``codec_id``) and check it against ``like``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputTypeError("data must be bytes", name="data", got=type(data).__name__)
    like = [np.asarray(a) for a in like]
    token = _LIMIT.set(_DecodeLimit(max((a.size for a in like), default=0)))
    try:
        arrays, codec = unpack_arrays(bytes(data))
    finally:
        _LIMIT.reset(token)
    if codec != codec_id:
        raise InvalidUpdateError(f"update sent with wire codec {codec}, {name} expects "
                                 f"{codec_id}", name="data", expected=codec_id, got=codec)
    if len(arrays) != len(like):
        raise InvalidUpdateError(f"update has {len(arrays)} arrays, the model {len(like)}",
                                 name="data", expected=len(like), got=len(arrays))
    for i, (a, ref) in enumerate(zip(arrays, like, strict=True)):
        if a.shape != ref.shape or a.dtype != ref.dtype:
            raise InvalidUpdateError(
                f"update array {i} is {a.dtype}{list(a.shape)}, the model's "
                f"{ref.dtype}{list(ref.shape)}", name="data",
                expected=(str(ref.dtype), ref.shape), got=(str(a.dtype), a.shape))
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise InvalidUpdateError(f"update array {i} holds non-finite values", name="data")
    return [np.array(a, copy=True) for a in arrays]


class _Reader:
    """Bounds-checked reads from one array's payload."""

    def __init__(self, payload: bytes) -> None:
        self.buf = payload
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise CorruptDataError("update payload is truncated", reason="truncated",
                                   offset=self.pos)
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise CorruptDataError("trailing bytes in an update payload", reason="length",
                                   offset=self.pos)


def _raw_payload(a: np.ndarray) -> bytes:
    return b"\x00" + np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()


def _raw_array(rd: _Reader, dtype: np.dtype, shape: tuple[int, ...], n: int) -> np.ndarray:
    out = np.frombuffer(rd.take(n * dtype.itemsize), dtype=dtype.newbyteorder("<"))
    rd.end()
    return out.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _inflate(blob: bytes, size: int) -> bytes:
    """``blob`` inflated to exactly ``size`` bytes (never more is allocated)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(blob, size + 1)
    except zlib.error as exc:
        raise CorruptDataError(f"deflated codes are damaged: {exc}", reason="zlib") from exc
    if len(out) != size or not d.eof or d.unconsumed_tail or d.unused_data:
        raise CorruptDataError("deflated codes have the wrong length", reason="zlib")
    return out


# --- Float32Codec ------------------------------------------------------------------------------


class Float32Codec:
    """The update's arrays as they are (wire codec 0): lossless, ``4 * n`` bytes for ``n``
    float32 parameters plus a small header (8 bytes, and 6 + 4 * ndim per array)."""

    name = "float32"

    def encode(self, update: Parameters, *, client: str = "",
               rng: np.random.Generator | None = None) -> bytes:
        """The wire bytes of ``update`` (``client`` and ``rng`` are unused)."""
        return pack_arrays(_check_update(update), codec=CODEC_FLOAT32)

    def decode(self, data: bytes, *, like: Parameters) -> Parameters:
        """The update in ``data``; ``like`` (the global parameters) fixes count, shapes and
        dtypes."""
        return _unpack_matching(data, CODEC_FLOAT32, like, self.name)

    def __repr__(self) -> str:
        return "Float32Codec()"


# --- QuantizedCodec ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _QuantSettings:
    bits: int
    chunk: int
    rng: np.random.Generator | None  # None: round to nearest


_QUANT: ContextVar[_QuantSettings | None] = ContextVar("edgekit_fed_quant", default=None)


def _pack_codes(codes: np.ndarray, bits: int) -> bytes:
    if bits == 8:
        return codes.astype(np.uint8).tobytes()
    per = 8 // bits
    c = np.zeros(-(-codes.size // per) * per, np.uint8)
    c[:codes.size] = codes
    c = c.reshape(-1, per)
    shifts = (np.arange(per, dtype=np.uint8) * bits)
    return np.bitwise_or.reduce(c << shifts, axis=1).astype(np.uint8).tobytes()


def _unpack_codes(blob: bytes, bits: int, n: int) -> np.ndarray:
    b = np.frombuffer(blob, np.uint8)
    if bits == 8:
        return b
    per = 8 // bits
    shifts = (np.arange(per, dtype=np.uint8) * bits)
    codes = ((b[:, None] >> shifts) & ((1 << bits) - 1)).ravel()
    if codes[n:].any():
        raise CorruptDataError("nonzero padding after the last code", reason="padding")
    return codes[:n]


def _grid(x: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row float32 ``lo`` and ``step`` such that ``lo + levels * step`` covers each row's
    range in float64 arithmetic (both rounded outward)."""
    lo64 = x.min(axis=1)
    hi64 = x.max(axis=1)
    lo = lo64.astype(np.float32)
    lo = np.where(lo.astype(np.float64) > lo64, np.nextafter(lo, np.float32(-np.inf)), lo)
    step64 = (hi64 - lo.astype(np.float64)) / levels
    step = step64.astype(np.float32)
    short = lo.astype(np.float64) + levels * step.astype(np.float64) < hi64
    step = np.where(short, np.nextafter(step, np.float32(np.inf)), step)
    return lo, step


def _quant_payload(a: np.ndarray, s: _QuantSettings) -> bytes:
    a = np.asarray(a)
    n = a.size
    if a.dtype not in _FLOATS or n == 0:
        return _raw_payload(a)
    levels = (1 << s.bits) - 1
    chunk = max(1, min(s.chunk, n))
    nchunks = -(-n // chunk)
    x = np.zeros(nchunks * chunk, np.float64)
    x[:n] = a.ravel()
    if nchunks * chunk > n:  # pad the last chunk with its own values, not zeros
        x[n:] = x[(nchunks - 1) * chunk]
    x = x.reshape(nchunks, chunk)
    with np.errstate(over="ignore", invalid="ignore"):
        lo, step = _grid(x, levels)
        top = lo.astype(np.float64) + levels * step.astype(np.float64)
    if not (np.isfinite(lo).all() and np.isfinite(step).all() and np.isfinite(top).all()):
        return _raw_payload(a)  # a range float32 (lo, step) cannot hold: float64 extremes
    safe = np.where(step > 0, step, 1.0).astype(np.float64)
    t = (x - lo.astype(np.float64)[:, None]) / safe[:, None]
    if s.rng is None:
        codes = np.floor(t + 0.5)
    else:
        codes = np.floor(t + s.rng.random(t.shape))
    codes = np.clip(codes, 0, levels)
    codes[step == 0] = 0
    codes = codes.astype(np.uint8).ravel()[:n]
    packed = _pack_codes(codes, s.bits)
    form, body = 1, packed
    sample = packed[:_T_DEFLATE_SAMPLE]
    if len(zlib.compress(sample, 6)) < _T_DEFLATE_GAIN * len(sample):
        deflated = zlib.compress(packed, 6)
        if len(deflated) < len(packed):
            form, body = 2, deflated
    scales = np.empty(2 * nchunks, "<f4")
    scales[0::2], scales[1::2] = lo, step
    payload = struct.pack("<BBI", form, s.bits, chunk) + scales.tobytes() + body
    raw = _raw_payload(a)
    return payload if len(payload) < len(raw) else raw


def _quant_encode(a: np.ndarray) -> bytes:
    s = _QUANT.get() or _QuantSettings(8, _T_QUANT_CHUNK, None)
    return _quant_payload(a, s)


def _quant_decode(payload: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    n = _element_count(shape)
    rd = _Reader(payload)
    (form,) = rd.unpack("<B")
    if form == 0:
        return _raw_array(rd, dtype, shape, n)
    if form not in (1, 2) or dtype not in _FLOATS or n == 0:
        raise CorruptDataError(f"quantised payload form {form} for a {dtype} array",
                               reason="form")
    bits, chunk = rd.unpack("<BI")
    if bits not in _QUANT_BITS or not 0 < chunk <= n:
        raise CorruptDataError(f"quantised payload with {bits} bits, chunk {chunk}",
                               reason="header")
    nchunks = -(-n // chunk)
    scales = np.frombuffer(rd.take(8 * nchunks), "<f4").astype(np.float64)
    lo, step = scales[0::2], scales[1::2]
    levels = (1 << bits) - 1
    if not (np.isfinite(lo).all() and np.isfinite(step).all() and (step >= 0).all()
            and np.isfinite(lo + levels * step).all()):
        raise CorruptDataError("quantisation grid is not finite", reason="scale")
    size = -(-n * bits // 8)
    rest = rd.take(len(payload) - rd.pos)
    packed = _inflate(rest, size) if form == 2 else rest
    if len(packed) != size:
        raise CorruptDataError(f"{len(packed)} bytes of codes, expected {size}",
                               reason="length")
    codes = np.zeros(nchunks * chunk, np.float64)
    codes[:n] = _unpack_codes(packed, bits, n)
    values = (lo[:, None] + codes.reshape(nchunks, chunk) * step[:, None]).ravel()[:n]
    with np.errstate(over="ignore"):
        out = values.astype(dtype.newbyteorder("="))
    if not np.isfinite(out).all():
        raise CorruptDataError("quantised values overflow the array's dtype", reason="scale")
    return out.reshape(shape)


_register_codec(CODEC_QUANTIZED, _quant_encode, _quant_decode)


class QuantizedCodec:
    """Each float array sent as ``bits``-bit codes on a per-chunk uniform grid.

    Each chunk of ``chunk`` consecutive values (in C order) gets its own ``lo`` (its minimum)
    and ``step = (max - lo) / (2**bits - 1)``, as float32 (8 bytes a chunk).  With
    ``stochastic=True`` (the default) a value rounds up with probability equal to its
    fractional position between two levels, so the decoded update is an unbiased estimate of
    the update (mean-square error at most ``step**2 / 4`` a value); with ``False`` it rounds to
    the nearest level (error at most ``step / 2``, biased).

    Uplink for the 650-parameter model (2,600 B raw): 8-bit ~0.7 kB, 4-bit ~0.4 kB (see
    docs/federated_privacy_compression.md for measured sizes).  Non-float arrays, and arrays
    that would not shrink, are sent raw.

    Args:
        bits: bits a value, 8, 4, 2 or 1.
        stochastic: unbiased stochastic rounding (needs the ``rng`` passed to :meth:`encode`).
        chunk: values a (lo, step) pair covers (default ``_T_QUANT_CHUNK`` = 1024).
    """

    def __init__(self, bits: int = 8, *, stochastic: bool = True,
                 chunk: int | None = None) -> None:
        if bits not in _QUANT_BITS or isinstance(bits, bool):
            raise InputError(f"bits must be one of {_QUANT_BITS}, got {bits!r}", name="bits",
                             expected=_QUANT_BITS, got=bits)
        chunk = _T_QUANT_CHUNK if chunk is None else chunk
        if not isinstance(chunk, int) or isinstance(chunk, bool) or not 0 < chunk < 1 << 32:
            raise InputError(f"chunk must be a positive integer, got {chunk!r}", name="chunk",
                             got=chunk)
        self.bits = int(bits)
        self.stochastic = bool(stochastic)
        self.chunk = int(chunk)
        self.name = f"int{self.bits}" + ("" if self.stochastic else "-nearest")

    def encode(self, update: Parameters, *, client: str = "",
               rng: np.random.Generator | None = None) -> bytes:
        """The wire bytes of ``update`` quantised; ``rng`` draws the stochastic rounding (a
        fresh unseeded generator when ``None``); ``client`` is unused (no state)."""
        arrays = _check_update(update)
        if self.stochastic and rng is None:
            rng = np.random.default_rng()
        token = _QUANT.set(_QuantSettings(self.bits, self.chunk,
                                          rng if self.stochastic else None))
        try:
            return pack_arrays(arrays, codec=CODEC_QUANTIZED)
        finally:
            _QUANT.reset(token)

    def decode(self, data: bytes, *, like: Parameters) -> Parameters:
        """The (dequantised) update in ``data``, checked against ``like``."""
        return _unpack_matching(data, CODEC_QUANTIZED, like, self.name)

    def __repr__(self) -> str:
        return (f"QuantizedCodec(bits={self.bits}, stochastic={self.stochastic}, "
                f"chunk={self.chunk})")


# --- TopKCodec ---------------------------------------------------------------------------------


def _varint_encode(v: np.ndarray) -> bytes:
    """LEB128 of each value of ``v`` (non-negative, < 2**32)."""
    v = v.astype(np.uint64)
    nbytes = np.ones(v.size, np.int64)
    for j in range(1, 5):
        nbytes += v >= (1 << (7 * j))
    starts = np.cumsum(nbytes) - nbytes
    out = np.empty(int(nbytes.sum()), np.uint8)
    for j in range(5):
        sel = nbytes > j
        if not sel.any():
            break
        byte = (v[sel] >> np.uint64(7 * j)) & np.uint64(0x7F)
        byte |= np.where(nbytes[sel] > j + 1, np.uint64(0x80), np.uint64(0))
        out[starts[sel] + j] = byte.astype(np.uint8)
    return out.tobytes()


def _varint_decode(blob: bytes, count: int) -> np.ndarray:
    """``count`` LEB128 values (each < 2**32, canonical) filling ``blob`` exactly."""
    b = np.frombuffer(blob, np.uint8)
    if count == 0:
        if b.size:
            raise CorruptDataError("index bytes for no indices", reason="varint")
        return np.zeros(0, np.int64)
    ends = b < 0x80
    if b.size == 0 or not ends[-1] or int(ends.sum()) != count:
        raise CorruptDataError("index varints do not match their count", reason="varint")
    first = np.concatenate(([True], ends[:-1]))
    starts = np.flatnonzero(first)
    vid = np.cumsum(first) - 1
    pos = np.arange(b.size) - starts[vid]
    if pos.max() >= 5:
        raise CorruptDataError("index varint longer than 5 bytes", reason="varint")
    last = np.flatnonzero(ends)
    if (b[last][pos[last] > 0] == 0).any():
        raise CorruptDataError("non-canonical index varint", reason="varint")
    parts = (b & 0x7F).astype(np.int64) << (7 * pos)
    values = np.add.reduceat(parts, starts)
    if (values >= 1 << 32).any():
        raise CorruptDataError("index varint out of range", reason="varint")
    return values


def _sparse_payload(a: np.ndarray) -> bytes:
    """The nonzero entries of ``a``: indices as varint gaps or a bitmap, values raw."""
    a = np.asarray(a)
    raw = _raw_payload(a)
    if a.dtype not in _FLOATS or a.size == 0:
        return raw
    flat = a.ravel()
    idx = np.flatnonzero(flat)
    gaps = np.diff(idx, prepend=-1) - 1
    var = _varint_encode(gaps)
    bitmap = np.packbits(flat != 0, bitorder="little").tobytes()
    form, index = (0, var) if len(var) <= len(bitmap) else (1, bitmap)
    values = flat[idx].astype(a.dtype.newbyteorder("<")).tobytes()
    payload = struct.pack("<BIBI", 1, idx.size, form, len(index)) + index + values
    return payload if len(payload) < len(raw) else raw


def _sparse_decode(payload: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    n = _element_count(shape)
    rd = _Reader(payload)
    (form,) = rd.unpack("<B")
    if form == 0:
        return _raw_array(rd, dtype, shape, n)
    if form != 1 or dtype not in _FLOATS:
        raise CorruptDataError(f"sparse payload form {form} for a {dtype} array", reason="form")
    nnz, iform, ilen = rd.unpack("<IBI")
    if nnz > n or iform not in (0, 1):
        raise CorruptDataError(f"{nnz} entries of {n}, index form {iform}", reason="header")
    index = rd.take(ilen)
    if iform == 0:
        gaps = _varint_decode(index, nnz)
        idx = np.cumsum(gaps) + np.arange(nnz)
        if nnz and idx[-1] >= n:
            raise CorruptDataError("sparse index past the array's end", reason="index")
    else:
        if ilen != -(-n // 8):
            raise CorruptDataError("bitmap of the wrong length", reason="index")
        bits = np.unpackbits(np.frombuffer(index, np.uint8), bitorder="little")
        if bits[n:].any():
            raise CorruptDataError("nonzero padding after the bitmap", reason="padding")
        idx = np.flatnonzero(bits[:n])
        if idx.size != nnz:
            raise CorruptDataError("bitmap does not hold the stated count", reason="index")
    values = np.frombuffer(rd.take(nnz * dtype.itemsize), dtype.newbyteorder("<"))
    rd.end()
    out = np.zeros(n, dtype.newbyteorder("="))
    out[idx] = values
    return out.reshape(shape)


_register_codec(CODEC_TOPK, _sparse_payload, _sparse_decode)


class TopKCodec:
    """Only the largest-magnitude ``fraction`` of the update's float entries, chosen over all
    arrays together (``k = ceil(fraction * n)``), their values exact.

    With ``error_feedback=True`` (the default) the codec remembers, per ``client``, what it
    left out and adds it to that client's next update before choosing (error feedback, as in
    Stich et al. 2018 "Sparsified SGD with Memory"): nothing is lost, only delayed, which is
    what keeps top-k converging.  Keep one codec object per client process (or one per
    simulation: state is keyed by the ``client`` argument).  Indices cost about a byte each
    (varint gaps) or ``n / 8`` bytes in all (bitmap), whichever is smaller.

    Args:
        fraction: share of the entries sent each round, in (0, 1].
        error_feedback: carry what was not sent into the client's next update.
    """

    def __init__(self, fraction: float = 0.1, *, error_feedback: bool = True) -> None:
        if not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
            raise InputError(f"fraction must be in (0, 1], got {fraction!r}", name="fraction",
                             got=fraction)
        self.fraction = float(fraction)
        self.error_feedback = bool(error_feedback)
        self.name = f"top{self.fraction:g}" + ("-ef" if self.error_feedback else "")
        self._residual: dict[str, list[np.ndarray]] = {}

    def residual(self, client: str) -> Parameters | None:
        """What ``client`` has not sent yet (a copy), or ``None``."""
        r = self._residual.get(client)
        return None if r is None else [a.copy() for a in r]

    def reset(self, client: str | None = None) -> None:
        """Forget the error-feedback residual of ``client`` (of every client when ``None``)."""
        if client is None:
            self._residual.clear()
        else:
            self._residual.pop(client, None)

    def encode(self, update: Parameters, *, client: str = "",
               rng: np.random.Generator | None = None) -> bytes:
        """The wire bytes of the top-k of ``update`` (plus ``client``'s residual);
        deterministic (``rng`` is unused; ties break by position)."""
        arrays = _check_update(update)
        floats = [i for i, a in enumerate(arrays) if a.dtype in _FLOATS]
        acc = [arrays[i].astype(np.float64) for i in floats]
        old = self._residual.get(client) if self.error_feedback else None
        if old is not None and [r.shape for r in old] == [a.shape for a in acc]:
            acc = [a + r for a, r in zip(acc, old, strict=True)]
        sent = list(arrays)
        total = sum(a.size for a in acc)
        if total:
            k = min(total, max(1, math.ceil(self.fraction * total)))
            mags = np.concatenate([np.abs(a).ravel() for a in acc])
            keep = np.zeros(total, bool)
            keep[np.argpartition(-mags, k - 1)[:k] if k < total else slice(None)] = True
            pos = 0
            for i, a in zip(floats, acc, strict=True):
                m = keep[pos:pos + a.size].reshape(a.shape)
                sent[i] = np.where(m, a, 0.0).astype(arrays[i].dtype)
                pos += a.size
        if self.error_feedback:
            self._residual[client] = [a - sent[i].astype(np.float64)
                                      for i, a in zip(floats, acc, strict=True)]
        return pack_arrays(sent, codec=CODEC_TOPK)

    def decode(self, data: bytes, *, like: Parameters) -> Parameters:
        """The sparse update in ``data`` as dense arrays shaped ``like``."""
        return _unpack_matching(data, CODEC_TOPK, like, self.name)

    def __repr__(self) -> str:
        return f"TopKCodec(fraction={self.fraction:g}, error_feedback={self.error_feedback})"

