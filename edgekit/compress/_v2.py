"""Format v2 of edgekit.compress: the dictionary model and the linear predictor.

* **dictionary** (block model 5): a block is coded as a table of its distinct values,
  sorted (itself a nested block: it finds its own grid and delta order, so a table of 722
  temperatures costs about a byte each), and the stream of each value's index in the
  table.  Sorting keeps the order of the values, so the index stream of a smooth series
  delta-codes as well as the values would, whatever grid (or none) they lie on: averaged
  readings (k / 30 degC), logarithmic ADC steps (GOES X-ray fluxes) and float32 values with
  a few hundred levels all become small integers; and values no grid fits (decimals the
  decimal search missed, float32 noise) become dense ranks, an exact adaptive binning.
  The split form (head flag 0x20) bins by the high bits: a table of the distinct
  ``k >> s`` of the values' order-preserving integers k, their indices, and the low s bits
  (float noise with most values distinct).
* **predictor** (head delta-order field 3, any non-raw model): the main stream codes the
  residuals of an integer linear predictor ``asr(sum c_t j[i - lag_t], s)`` in exact
  wrapping 64-bit arithmetic: delta order 3, a quantised least-squares (LPC) predictor
  fitted on a sample, or a lookback (the value ``k`` samples back).  Format v3: the block
  may be cut into lanes (eight contiguous segments, each predicted on its own, residuals
  interleaved step by step), whose recurrences the decoder runs side by side: one lane a
  64-bit element of an AVX-512 vector (``_lanes_pick`` decides, ``predict_lanes`` /
  ``unpredict_lanes``).

Everything the encoder decides is decided on a sample (``codec._sample``) and taken only
when its estimated coded size, header included, is smaller; thresholds are the ``_T_*``
constants in :mod:`edgekit.compress.codec`.  The byte layout is in
``docs/compress/format.md`` ("Version 2"); kernels in ``_native/compress_v2.c`` with numpy
references in :mod:`edgekit.compress._codec_ref`.
"""

from __future__ import annotations

import math

import numpy as np

from edgekit import _backend
from edgekit.compress import _codec_ref as ref
from edgekit.compress import _kernels as K
from edgekit.compress import codec as C

DICT = 5
"""Block model number of the dictionary (head bits 0-2)."""
PRED = 3
"""Head delta-order value (bits 3-4) that announces a predictor descriptor."""
MAX_TERMS = ref.MAX_TERMS
SPLIT = 0x20
"""Dictionary head flag: the table holds the high parts (value >> s) and a stream of the
low s bits follows the indices."""
_ORDER_MASK = 0x18
_U64 = (1 << 64) - 1
LANES = 0x80
"""Format v3: the flag on a predictor's term-count byte that announces lanes (a u8 lane
count after the shift, the lanes' first values after j[0])."""
MAX_LANES = ref.MAX_LANES
_LANES = 8
"""Lanes the encoder writes: one a 64-bit element of an AVX-512 vector (the decoder reads
any count from 2 to MAX_LANES)."""


def uses_v2(block: bytes) -> bool:
    """Whether an encoded block needs a version-2 decoder (raw blocks have head 0)."""
    head = block[0]
    return head & 7 == DICT or (head & _ORDER_MASK) == _ORDER_MASK


def uses_v3(block: bytes) -> bool:
    """Whether an encoded block needs a version-3 decoder: a predictor with lanes (the
    encoder's own blocks: the fields before the predictor are well formed)."""
    head = block[0]
    if head & _ORDER_MASK != _ORDER_MASK:
        return False
    rd = C._Reader(block, 1, len(block))
    model = head & 7
    if model == DICT:
        rd.varint()
        if head & SPLIT:
            rd.u8()
        size = rd.varint()
        rd.pos += size
    else:
        rd.pos += {2: 1, 3: 16}.get(model, 0)
        if head & C._H_GCD:
            rd.varint()
            rd.varint()
        if model in (2, 3):
            rd.varint()  # the table field (0 in a predictor block)
    return bool(rd.u8() & LANES)


# ------------------------------------------------------------------------------ kernels

def _ptr(ctype: str, arr: np.ndarray):
    return _backend.ffi.from_buffer(ctype + "[]", arr)


def _terms(lags: list[int], coefs: list[int]):
    """C pointers to the lags (uint32) and coefficients (int64) of a predictor."""
    return (_ptr("uint32_t", np.array(lags, dtype=np.uint32)),
            _ptr("int64_t", np.array(coefs, dtype=np.int64)))


def predict(j: np.ndarray, lags: list[int], coefs: list[int], shift: int) -> np.ndarray:
    """Residuals (uint64[n - 1]) of j[1:] under the predictor (parameters valid)."""
    lib = _backend.lib
    if lib is None:
        status, e = ref.predict(j, lags, coefs, shift)
    else:
        e = np.empty(j.size - 1, dtype=np.uint64)
        status = lib.ekz2_predict(_ptr("uint64_t", j), j.size, *_terms(lags, coefs),
                                  len(lags), shift, _ptr("uint64_t", e))
    if status != ref.OK or e is None:
        raise RuntimeError(f"ekz2_predict returned status {status}")
    return e


def unpredict(e: np.ndarray, n: int, j0: int, lags: list[int], coefs: list[int],
              shift: int, slot: str = "j") -> np.ndarray:
    """j (uint64[n], scratch ``slot``) from j[0] and the residuals (parameters valid)."""
    lib = _backend.lib
    if lib is None:
        status, j = ref.unpredict(e, n, j0, lags, coefs, shift)
    else:
        j = K.scratch(slot, n, np.uint64)
        status = lib.ekz2_unpredict(_ptr("uint64_t", e), n, j0, *_terms(lags, coefs),
                                    len(lags), shift, _ptr("uint64_t", j))
    if status != ref.OK or j is None:
        raise RuntimeError(f"ekz2_unpredict returned status {status}")
    return j


def predict_lanes(j: np.ndarray, nl: int, lags: list[int], coefs: list[int],
                  shift: int, e1: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Format v3: (the interleaved residuals (uint64[n - nl]), the lanes' first values
    (uint64[nl])) of j cut into nl lanes (parameters valid, the lanes fit); ``e1``: j's
    one-lane residuals (:func:`predict`), when at hand."""
    lib = _backend.lib
    if lib is None:
        status, e, starts = ref.predict_lanes(j, nl, lags, coefs, shift)
    else:
        seg = -(-j.size // nl)
        jt = K.scratch("lanes", nl * seg, np.uint64)
        e = np.empty(j.size - nl, dtype=np.uint64)
        starts = np.empty(nl, dtype=np.uint64)
        status = lib.ekz2_predict_lanes(_ptr("uint64_t", j), j.size, nl, *_terms(lags, coefs),
                                        len(lags), shift,
                                        _backend.ffi.NULL if e1 is None else _ptr("uint64_t", e1),
                                        _ptr("uint64_t", jt), _ptr("uint64_t", e),
                                        _ptr("uint64_t", starts))
    if status != ref.OK or e is None or starts is None:
        raise RuntimeError(f"ekz2_predict_lanes returned status {status}")
    return e, starts


def unpredict_lanes(e: np.ndarray, n: int, nl: int, starts: np.ndarray, lags: list[int],
                    coefs: list[int], shift: int, slot: str = "j") -> np.ndarray:
    """Format v3: j (uint64[n], scratch ``slot``) from the interleaved residuals of nl lanes
    and their first values (parameters valid, the lanes fit)."""
    lib = _backend.lib
    if lib is None:
        status, j = ref.unpredict_lanes(e, n, nl, starts, lags, coefs, shift)
    else:
        j = K.scratch(slot, n, np.uint64)
        seg = -(-n // nl)
        jt = K.scratch("lanes", nl * seg, np.uint64)
        status = lib.ekz2_unpredict_lanes(_ptr("uint64_t", e), n, nl, _ptr("uint64_t", starts),
                                          *_terms(lags, coefs), len(lags), shift,
                                          _ptr("uint64_t", jt), _ptr("uint64_t", j))
    if status != ref.OK or j is None:
        raise RuntimeError(f"ekz2_unpredict_lanes returned status {status}")
    return j


def gather(table: np.ndarray, idx: np.ndarray, out: np.ndarray) -> bool:
    """out[...] = table[idx]; False when an index is outside the table."""
    lib = _backend.lib
    if lib is None:
        status, vals = ref.gather(table, idx)
        if status != ref.OK or vals is None:
            return False
        out[...] = vals
        return True
    status = lib.ekz2_gather(_ptr("uint8_t", table.view(np.uint8)), table.size,
                             table.dtype.itemsize, _ptr("uint64_t", idx), idx.size,
                             _ptr("uint8_t", out.view(np.uint8)))
    if status not in (ref.OK, ref.ECORRUPT):
        raise RuntimeError(f"ekz2_gather returned status {status}")
    return status == ref.OK


def autocorr(j: np.ndarray, p: int) -> np.ndarray | None:
    """r[0..p] of the mean-removed first difference of int64 j (len(j) > p + 1)."""
    lib = _backend.lib
    if lib is None:
        return ref.autocorr(j, p)[1]
    r = np.empty(p + 1, dtype=np.float64)
    work = K.scratch("acorr", j.size, np.float64)
    if lib.ekz2_autocorr(_ptr("int64_t", j), j.size, p, _ptr("double", work),
                         _ptr("double", r)) != ref.OK:
        return None
    return r


def pred_hist(j: np.ndarray, run: int, lags: list[int], coefs: list[int],
              shift: int) -> np.ndarray:
    """Token histogram (uint32[256]) of the predictor's residuals of j, run by run (see
    ``ekz2_pred_hist``): what a predictor costs, without writing its residuals."""
    lib = _backend.lib
    if lib is None:
        h = ref.pred_hist(j, run, lags, coefs, shift)[1]
        assert h is not None
        return h
    h = np.empty(256, dtype=np.uint32)
    if len(lags) >= 2 and lags[-1] == len(lags):  # dense LPC: the unrolled recurrences
        work = np.empty(max(min(run, j.size), 1), dtype=np.uint64)
        status = lib.ekz2_pred_hist_runs(_ptr("uint64_t", j), j.size, run,
                                         *_terms(lags, coefs), len(lags), shift,
                                         _ptr("uint64_t", work), _ptr("uint32_t", h))
    else:
        status = lib.ekz2_pred_hist(_ptr("uint64_t", j), j.size, run, *_terms(lags, coefs),
                                    len(lags), shift, _ptr("uint32_t", h))
    if status != ref.OK:
        raise RuntimeError(f"ekz2_pred_hist returned status {status}")
    return h


def lag_matches(j: np.ndarray, maxlag: int) -> np.ndarray:
    """How many values of j equal the one k back, for k = 1..maxlag."""
    lib = _backend.lib
    if lib is None:
        same = ref.lag_matches(j, maxlag)[1]
        assert same is not None
        return same
    same = np.empty(maxlag, dtype=np.uint32)
    lib.ekz2_lag_matches(_ptr("uint64_t", j), j.size, maxlag, _ptr("uint32_t", same))
    return same


def rank(u: np.ndarray, key: np.ndarray) -> np.ndarray | None:
    """Positions (int64) of the int64 keys in the sorted distinct table u, or None when
    a key is not in it."""
    lib = _backend.lib
    if lib is None:
        status, idx = ref.rank(u, key)
        return None if idx is None else idx.view(np.int64)
    idx = np.empty(key.size, dtype=np.int64)
    # a hash table of 8 slots an entry (few collisions: first probes hit, predictably), at
    # least 2 and 2**17 at most, when there are keys enough to pay for it
    size = 1 << min((8 * u.size - 1).bit_length(), max(17, (2 * u.size - 1).bit_length()))
    size = size if key.size >= u.size else 0
    lut = np.empty(max(size, 1), dtype=np.uint32)
    status = lib.ekz2_rank_bs(_ptr("int64_t", u), u.size, _ptr("int64_t", key), key.size,
                              _ptr("uint32_t", lut), size, _ptr("uint64_t", idx))
    return idx if status == ref.OK else None


def split_gather(table: np.ndarray, idx: np.ndarray, lo: np.ndarray, shift: int,
                 out: np.ndarray) -> bool:
    """out[...] = values from (table[idx] << shift) + lo; False when an index is outside
    the table or a low part has more than ``shift`` bits."""
    lib = _backend.lib
    if lib is None:
        status, vals = ref.split_gather(table, idx, lo, shift, out.dtype)
        if status != ref.OK or vals is None:
            return False
        out[...] = vals
        return True
    status = lib.ekz2_split_gather(_ptr("int64_t", table), table.size, _ptr("uint64_t", idx),
                                   _ptr("uint64_t", lo), idx.size, shift, out.dtype.itemsize,
                                   int(out.dtype.kind == "f"), _ptr("uint8_t", out.view(np.uint8)))
    if status not in (ref.OK, ref.ECORRUPT):
        raise RuntimeError(f"ekz2_split_gather returned status {status}")
    return status == ref.OK


# ------------------------------------------------------------------------------ decode

def descriptor(lags: list[int], coefs: list[int], shift: int, lanes: int = 0) -> bytes:
    """u8 P (| LANES), u8 shift, (format v3: u8 lanes), then P pairs (varint lag, varint
    zz(coef))."""
    out = bytearray((len(lags) | (LANES if lanes else 0), shift))
    if lanes:
        out.append(lanes)
    for lag, c in zip(lags, coefs, strict=True):
        out += C._varint(lag) + C._varint(C._zz(c))
    return bytes(out)


def read_descriptor(rd: C._Reader, n: int) -> tuple[list[int], list[int], int]:
    """(lags, coefs, shift) of a predictor descriptor (a lane count, if any, skipped)."""
    return read_predictor(rd, n, True)[:3]


def read_predictor(rd: C._Reader, n: int,
                   v3: bool = False) -> tuple[list[int], list[int], int, int]:
    """(lags, coefs, shift, lanes or 0) of a predictor descriptor (format v3: lanes)."""
    start = rd.pos
    p, shift = rd.u8(), rd.u8()
    lanes = 0
    if p & LANES:
        lanes = rd.u8()
        p &= ~LANES
        if not v3 or not 2 <= lanes <= MAX_LANES:
            raise C._corrupt(f"bad predictor lanes: {lanes}", start, "predictor")
    if not 1 <= p <= MAX_TERMS or shift > 32:
        raise C._corrupt(f"bad predictor: {p} terms, shift {shift}", start, "predictor")
    lags, coefs = [], []
    for _ in range(p):
        lag = rd.varint()
        c = C._unzz(rd.varint())
        c = c - (1 << 64) if c >> 63 else c
        if lag < 1 or (lags and lag <= lags[-1]) or lag >= n or not -(1 << 31) <= c < 1 << 31:
            raise C._corrupt("predictor lag or coefficient out of range", rd.pos,
                             "predictor")
        lags.append(lag)
        coefs.append(c)
    if lanes and ref.lanes_geom(n, lanes, lags[-1]) is None:
        raise C._corrupt(f"{lanes} predictor lanes do not fit {n} values", start,
                         "predictor")
    return lags, coefs, shift, lanes


def pred_decode(rd: C._Reader, n: int, slot: str = "j", v3: bool = False) -> np.ndarray:
    """The main stream of a predictor block: descriptor, varint zz(j[0]) (format v3 with
    lanes: then the other lanes' first values, varint zz(j[b] - j[0]) each), the order-0
    stream of the n - 1 (n - lanes) residuals; returns j (uint64, scratch ``slot``)."""
    lags, coefs, shift, lanes = read_predictor(rd, n, v3)
    j0 = C._unzz(rd.varint())
    if lanes:
        starts = np.array([j0] + [(j0 + C._unzz(rd.varint())) & _U64
                                  for _ in range(lanes - 1)], dtype=np.uint64)
        e = C._stream_decode(rd, 0, n - lanes, slot + "P")
        assert e is not None
        return unpredict_lanes(e, n, lanes, starts, lags, coefs, shift, slot)
    e = C._stream_decode(rd, 0, n - 1, slot + "P")
    assert e is not None
    return unpredict(e, n, j0, lags, coefs, shift, slot)


def decode_dict(rd: C._Reader, head: int, out: np.ndarray, version: int = 2) -> None:
    """A dictionary block (after its head byte) into ``out``."""
    n = out.size
    split = bool(head & SPLIT)
    if head & 0xC0:
        raise C._corrupt(f"bad dictionary block header 0x{head:02x}", rd.pos - 1, "block")
    size = rd.varint()
    if not 1 <= size <= min(n, C.BLOCK_LEN):
        raise C._corrupt(f"dictionary of {size} values for {n}", rd.pos, "block")
    shift = 0
    if split:
        shift = rd.u8()
        if not 1 <= shift <= 63:
            raise C._corrupt(f"dictionary split at bit {shift}", rd.pos - 1, "block")
    blen = rd.varint()
    sub = C._Reader(rd.buf, rd.pos, rd.pos + blen)
    if sub.end > rd.end:
        raise C._corrupt("dictionary table runs past the block", rd.pos, "truncated")
    if blen and rd.buf[rd.pos] & 7 == DICT:
        raise C._corrupt("nested dictionary", rd.pos, "block")
    table = np.empty(size, dtype=np.int64 if split else out.dtype)
    C._decode_block(sub, table, version)
    if sub.pos != sub.end:
        raise C._corrupt("trailing bytes in a dictionary table", sub.pos, "block")
    rd.pos = sub.end
    order = (head >> 3) & 3
    idx = (pred_decode(rd, n, v3=version >= 3) if order == PRED
           else C._stream_decode(rd, order, n, "j"))
    assert idx is not None
    if split:
        lo = C._stream_decode(rd, 0, n, "lo")
        assert lo is not None
        if not split_gather(table, idx, lo, shift, out):
            raise C._corrupt("dictionary index or low bits out of range", rd.pos, "block")
    elif not gather(table, idx, out):
        raise C._corrupt("dictionary index out of the table", rd.pos, "block")


# ------------------------------------------------------------------------------ encode

def _keys(x: np.ndarray) -> np.ndarray:
    """Values as int64 in value order (floats: sortable bits, so NaN payloads and -0.0 are
    entries of their own; uint64: two's complement order, which only costs smoothness)."""
    if x.dtype.kind == "f":
        return C._sortable(x)
    return x.view(np.int64) if x.dtype.itemsize == 8 else x.astype(np.int64)


def _narrow_keys(dt: np.dtype) -> bool:
    """Whether every key of an array of dtype dt (see :func:`_keys`) fits int32: floats
    of at most 32 bits (their bits, sign-extended), signed integers of at most 32 bits and
    unsigned ones of at most 16."""
    return dt.itemsize <= 2 or (dt.itemsize == 4 and dt.kind in "fi")


def _distinct(a: np.ndarray, count: bool = True, narrow: bool = False) -> np.ndarray:
    """The sorted distinct values of int64 a (np.unique's hashing is slower on these
    sizes); ``count``, ``narrow``: see :func:`_distinct_counts`."""
    return _distinct_counts(a, count, narrow)[0]


_DISTINCT_SPAN = 4
"""_distinct_counts counts instead of sorting when the values span fewer than this many
times their number (integer readings: a few hundred distinct ADC counts), and fewer than
_DISTINCT_MAX (the counts' work array: 4 banks of 4 bytes a value of the span)."""
_DISTINCT_MAX = 1 << 16


def _distinct_counts(a: np.ndarray, count: bool = True,
                     narrow: bool = False) -> tuple[np.ndarray, int, int]:
    """(the sorted distinct values of int64 a, how many of them occur once, how many
    twice): by counting over the values' range when it is small (``ekz2_distinct_range``;
    not tried when not ``count``: the keys of floats, whose bits span far more), else one
    C pass over the sorted values (``ekz2_distinct_sorted``); the same result.  ``narrow``:
    every value fits int32 (keys of float32 or of integers of at most 32 bits), sorted as
    int32 (twice as many a vector in numpy's sort: ~22 -> 12 us on 4,096 keys)."""
    lib = _backend.lib
    if lib is None:
        s = np.sort(a)
        keep = np.empty(s.size, dtype=bool)
        keep[:1] = True
        np.not_equal(s[1:], s[:-1], out=keep[1:])
        counts = np.diff(np.append(np.flatnonzero(keep), s.size))  # run lengths
        return (s[keep], int(np.count_nonzero(counts == 1)),
                int(np.count_nonzero(counts == 2)))
    out = np.empty(3, dtype=np.uint64)
    maxspan = min(_DISTINCT_SPAN * a.size, _DISTINCT_MAX) - 1
    u = np.empty(a.size, dtype=np.int64)
    if count and a.size and lib.ekz2_distinct_range(
            _ptr("int64_t", a), a.size, maxspan,
            _ptr("uint32_t", K.scratch("dcount", 4 * (maxspan + 1), np.uint32)),
            _ptr("int64_t", u), _ptr("uint64_t", out)):
        return u[: int(out[0])], int(out[1]), int(out[2])
    s = np.sort(a.astype(np.int32)).astype(np.int64) if narrow else np.sort(a)
    lib.ekz2_distinct_sorted(_ptr("int64_t", s), s.size, _ptr("int64_t", u),
                             _ptr("uint64_t", out))
    return u[: int(out[0])], int(out[1]), int(out[2])


def _stream_bits(j: np.ndarray) -> float:
    """Estimated bits of j's stream at its best delta order (0..2)."""
    return min(K.cost3(K.hist3(j.view(np.uint64)).reshape(3, 256)))


def _spread(size: int, f1: int, f2: int, m: int, n: int) -> tuple[float, float]:
    """(T, T / size): the estimated table size of the block of n values whose small sample
    of m values has ``size`` distinct values, f1 of them seen once and f2 twice: the smaller
    of Chao's estimate and the linear extrapolation."""
    total = min(float(n), size + f1 * f1 / (2.0 * max(f2, 1)), size * n / m)
    return total, max(total / size, 1.0)


_TABLE_PROBE = 512
"""Table entries the dictionary's estimate codes to price the table."""


def _dict_bits(x: np.ndarray, small: np.ndarray, us: np.ndarray, rank_bits: float,
               level: int, total: float, factor: float) -> float:
    """Estimated bits of the dictionary coding of the small sample ``small`` (keys of x's
    small sample, their distinct values us; ``rank_bits`` the estimated bits of their
    ranks, already spread by ``factor``) when the block's table has ``total`` entries (see
    :func:`_spread`): the indices, and the table at what the sample's own table block costs
    per entry (coded at level 2 at most: the affine grid search is not worth its time on
    an estimate), less the log of the spread (a denser table has smaller steps), in the
    sample's share of the block."""
    part = us[:: max(1, us.size // _TABLE_PROBE)][:_TABLE_PROBE]  # evenly spaced entries
    vals = C._unsortable(part, x.dtype) if x.dtype.kind == "f" else part.astype(x.dtype)
    table = len(C._encode_block(np.ascontiguousarray(vals), -1.0, min(level, 2), False))
    # a probe of every k-th entry has k times the steps: log2(k) bits more an entry
    entry = max(8.0 * table / part.size - math.log2(us.size / part.size * factor), 1.0)
    return rank_bits + entry * total * small.size / x.size


def _small_bits(best: C._Candidate) -> float:
    """Estimated bits of best's streams on the small sample of the block."""
    bits = C._cost_bits(K.hist_order(_small(best.j), best.order))
    if best.r is not None:
        bits += C._cost_bits(K.hist1(_small(best.r)))
    return bits


def _index_bits(small: np.ndarray, us: np.ndarray, f1: int, f2: int,
                n: int) -> tuple[float, float, float]:
    """(estimated bits of the dictionary's indices on the keys ``small`` of a block's
    small sample, whose sorted distinct values are us, f1 of them seen once and f2 twice;
    the block's estimated table size and spread factor, see :func:`_spread`)."""
    ranks = rank(us, small)
    assert ranks is not None
    total, factor = _spread(us.size, f1, f2, small.size, n)
    if factor > 1.25:  # the block's table is larger: its indices spread
        ranks = np.rint(ranks * factor).astype(np.int64)
    return _stream_bits(ranks), total, factor


def _countable(a: np.ndarray) -> bool:
    """Whether :func:`_distinct_counts` counts int64 a over its range (else it sorts: the
    keys, sorted as int32 when narrow, then cost no more than j)."""
    lo, hi = K.minmax(a)
    return hi - lo < min(_DISTINCT_SPAN * a.size, _DISTINCT_MAX) - 1


def _stream_table(key: np.ndarray, best: C._Candidate
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """(the sorted distinct keys ``key`` of a float block, the rank of each key) through
    best's main stream j when best has no residual stream: j is then one to one with the
    block's values and in their order (a grid's k = round((x - a) * p / b), then (k - off)
    / g: monotone, and exact without a residual), so j's ranks are the keys' and j's
    values are counted over their range (``ekz2_distinct_range``: a few hundred readings
    on a grid) where the float keys, whose bits span far more, would be sorted; the keys'
    table is their scatter by rank.  None when best has a residual stream, when j's range
    is too wide to count (the keys are then sorted: as int32 for float32 data, faster
    than j as int64) or the scatter is not in key order."""
    if best.r is not None or best.j.size != key.size:
        return None
    jj = best.j.view(np.int64)
    if not _countable(jj):
        return None
    uj = _distinct(jj)
    idx = rank(uj, jj)
    if idx is None or not uj.size:
        return None
    us = np.empty(uj.size, dtype=np.int64)
    us[idx] = key
    if us.size > 1 and not bool((us[1:] > us[:-1]).all()):
        return None
    return us, idx


def _table_entry(table: np.ndarray, factor: float) -> float:
    """Estimated bits a table entry of the block costs, from the sorted distinct values
    ``table`` of its sample (in the block's own stream: a grid's k, a common step taken
    out): what they cost at their best delta order (their gaps) an entry, less the log of
    the spread (the block's table is denser), as :func:`_dict_bits` prices its probe."""
    return max(_stream_bits(table) / table.size - math.log2(factor), 1.0)


def _own(best: C._Candidate) -> None:
    """Copy best's streams out of the per-thread work arrays (a nested block's coding, the
    dictionary's table, reuses them)."""
    if K.in_scratch(best.j):
        best.j = best.j.copy()
    if best.r is not None and K.in_scratch(best.r):
        best.r = best.r.copy()


def dict_candidate(x: np.ndarray, level: int, best: C._Candidate,
                   small: np.ndarray | None = None,
                   bits: dict[str, float] | None = None) -> C._Candidate | None:
    """The dictionary coding of block x, or None when it is not worth computing: the block
    is short, or on its small sample (see :func:`_small`) the index stream, and then the
    estimate of the whole dictionary coding, would not code well below best's streams."""
    n = x.size
    if n < C._T_DICT_MIN_LEN:
        return None
    floats = x.dtype.kind == "f"
    narrow = _narrow_keys(x.dtype)
    if small is None:
        small = _keys(_small(x))
    if bits is None:
        bits = {}
    us, f1, f2 = _distinct_counts(small, not floats, narrow)
    uj = None
    if not floats:
        if int(us[-1]) - int(us[0]) < 2 * us.size:
            return None  # integers that fill their range: the indices would be the values
        uj = us if not best.head & C._H_GCD else None
    if "small" not in bits:  # computed once for both dictionaries (improve passes bits)
        bits["small"] = _small_bits(best)
    limit = bits["small"] * C._T_DICT_GAIN
    rank_bits, total, factor = _index_bits(small, us, f1, f2, n)
    if rank_bits > limit:  # not even the indices alone
        return None
    if uj is None and best.r is None:  # (a common step, or floats on a wide grid)
        uj = _distinct(_small(best.j).view(np.int64))
    # with its table priced from the block's own stream the estimate already loses: the
    # nested coding of the table that _dict_bits prices it with (50-200 us) is not run
    if uj is not None and uj.size > 1 and rank_bits + _table_entry(uj, factor) * total \
            * small.size / n > limit * C._T_DICT_PRE:
        return None
    _own(best)
    if _dict_bits(x, small, us, rank_bits, level, total, factor) > limit:
        return None
    key = _keys(x)
    # the table is the block's distinct keys (a sample's table that holds every key is
    # all of them): through j when j is one to one with the values (see
    # _stream_table), else the sample's table when it may hold every key (no value
    # seen once in the sample: no spread), else the keys sorted
    got = _stream_table(key, best) if floats else None
    if got is not None:
        us, idx = got
    else:
        idx = rank(us, key) if factor <= 1.0 else None
        if idx is None:  # values the sample missed
            us = _distinct(key, not floats, narrow)
            idx = rank(us, key)
            assert idx is not None
    vals = C._unsortable(us, x.dtype) if x.dtype.kind == "f" else us.astype(x.dtype)
    table = C._encode_block(np.ascontiguousarray(vals), -1.0, level, False)
    params = C._varint(us.size) + C._varint(len(table)) + table
    cand = C._int_candidate(idx, DICT, params)
    if cand.head & C._H_GCD:  # indices 0..T-1 all occur: never, but the format has no GCD
        return None
    return cand


def _bins(h: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted distinct values, index of each) of int64 h whose range is small (a count
    per value), or None when the range is too wide for that."""
    lo, hi = K.minmax(h)
    if hi - lo >= 1 << 22:
        return None
    present = np.bincount((h - lo).astype(np.intp), minlength=hi - lo + 1) > 0
    lut = np.cumsum(present) - 1
    return lo + np.flatnonzero(present), lut[(h - lo).astype(np.intp)].astype(np.int64)


def _split_probe_py(small: np.ndarray, n: int, limit: float) -> int | None:
    """The reference of :func:`_split_probe` (and the search without the kernels)."""
    lo, hi = K.minmax(small)
    width = (hi - lo).bit_length()
    found = None
    for bins in (6, 9, 12):  # 64, 512 or 4,096 bins over the sample's range
        shift = width - bins
        if not 1 <= shift <= 63:
            continue
        high = small >> shift
        low = (small - (high << shift)).view(np.uint64)
        low_bits = C._cost_bits(K.hist1(low))
        if low_bits >= limit:  # the low bits alone (all terms are >= 0, sums monotone)
            continue
        got = _bins(high)
        if got is None:
            continue
        u, ranks = got
        table = 16.0 * u.size * small.size / n  # about two bytes a table entry
        if low_bits + table >= limit:
            continue
        est = _stream_bits(ranks) + low_bits + table
        if est < limit:
            found, limit = shift, est
    return found


def _split_probe(small: np.ndarray, n: int, limit: float) -> int | None:
    """The split dictionary's shift on the keys ``small`` of a block of n values' sample:
    for 64, 512 and 4,096 bins over their range, the low bits' cost, the bins' ranks' and
    a table of about two bytes an entry; the cheapest below ``limit`` bits, or None.  One C
    call (``ekz_split_probe``); the same choice as :func:`_split_probe_py`."""
    lib = _backend.lib
    if lib is None or small.size < 1:
        return _split_probe_py(small, n, limit)
    out = np.zeros(1, dtype=np.float64)
    found = lib.ekz_split_probe(_ptr("int64_t", small), small.size, n, limit,
                                _ptr("uint32_t", K.scratch("sprobe", 8192, np.uint32)),
                                _ptr("int64_t", K.scratch("sranks", small.size, np.int64)),
                                _ptr("double", out))
    if found < 0:
        raise RuntimeError(f"ekz_split_probe returned status {found}")
    return found or None


def split_candidate(x: np.ndarray, level: int, best: C._Candidate,
                    small: np.ndarray | None = None,
                    bits: dict[str, float] | None = None) -> C._Candidate | None:
    """The split dictionary of block x: a table of the distinct high parts (value >> s, the
    values' order-preserving integers), their indices and the low s bits: an exact binning
    of a wide distribution into bins of 2**s (float noise that neither grids nor deltas
    help).  None when best's streams already cost less than _T_SPLIT_MIN_BITS a value or
    no split is estimated _T_DICT_GAIN smaller on the small sample."""
    n = x.size
    if n < C._T_DICT_MIN_LEN:
        return None
    if bits is None:
        bits = {}
    if small is None:
        small = _keys(_small(x))
    if "small" not in bits:
        bits["small"] = _small_bits(best)
    small_bits = bits["small"]
    if small_bits < small.size * C._T_SPLIT_MIN_BITS:
        return None
    found = _split_probe(small, n, small_bits * C._T_DICT_GAIN)
    if found is None:
        return None
    key = _keys(x)
    high = key >> found
    got = _bins(high)
    if got is None:
        u = _distinct(high)
        idx = rank(u, high)
        assert idx is not None
    else:
        u, idx = got
    if u.size > C.BLOCK_LEN:
        return None
    low = key - (high << found)
    _own(best)
    table = C._encode_block(np.ascontiguousarray(u, dtype=np.int64), -1.0, level, False)
    params = C._varint(u.size) + bytes((found,)) + C._varint(len(table)) + table
    cand = C._int_candidate(idx, DICT, params)
    if cand.head & C._H_GCD:  # the format has no GCD in a dictionary (never: 0..T-1 occur)
        return None
    cand.head |= SPLIT
    ls, scale = C._sample(low.view(np.uint64))
    cand.cost += C._cost_bits(K.hist1(ls)) * scale
    cand.r = low
    return cand


def _levinson(r: list[float], p: int) -> list[tuple[list[float], float]]:
    """(coefficients, prediction error) of the predictors of orders 1..p from the
    autocorrelations r[0..p] (Levinson-Durbin, in Python floats: a few hundred operations);
    fewer when the recursion degenerates."""
    a: list[float] = []
    err = r[0]
    out = []
    for m in range(1, p + 1):
        acc = r[m]
        for t in range(m - 1):
            acc -= a[t] * r[m - 1 - t]
        k = acc / err
        a = [a[t] - k * a[m - 2 - t] for t in range(m - 1)] + [k]
        err *= 1.0 - k * k
        if not err > 0:
            break
        out.append((a, err))
    return out


def _quantise(a: list[float]) -> tuple[list[int], list[int], int] | None:
    """Predictor on j from coefficients ``a`` fitted on the first difference d of j
    (pred d_i = sum a_t d_{i-t}): j-form terms (lags 1..P+1) and shift; None if
    degenerate."""
    big = max(abs(v) for v in a)
    if not math.isfinite(big) or big == 0:
        return None
    shift = int(C._T_LPC_PREC) - 1 - max(0, math.ceil(math.log2(big + 1e-12)))
    shift = max(0, min(shift, 24))
    q = [round(v * (1 << shift)) for v in a]
    if not any(q):
        return None
    p = len(q)
    coefs = [(1 << shift) + q[0]] + [q[t] - q[t - 1] for t in range(1, p)] + [-q[-1]]
    lags = list(range(1, p + 2))
    while coefs and coefs[-1] == 0:  # trailing zero terms cost bytes and time
        coefs.pop()
        lags.pop()
    if not coefs or max(abs(c) for c in coefs) >= 1 << 31:
        return None
    return lags, coefs, shift


_SMALL_RUN = 1024


def _small(j: np.ndarray) -> np.ndarray:
    """At most four evenly spaced runs of 1,024 consecutive values of j (j itself when it
    is short): what the predictor search and the dictionary's first test read."""
    if j.size <= 4 * _SMALL_RUN:
        return j
    last = j.size - _SMALL_RUN
    return np.concatenate([j[a: a + _SMALL_RUN] for a in (0, last // 3, 2 * last // 3, last)])


def _autocorr_runs(js: np.ndarray, run: int, p: int) -> list[float] | None:
    """Autocorrelations r[0..p] of the first difference of js, summed over its runs of
    ``run`` values (the seams of a sample are no differences)."""
    r = [0.0] * (p + 1)
    for a in range(0, js.size, run):
        part = js[a: a + run]
        if part.size <= p + 1:
            continue
        rr = autocorr(part.view(np.int64), p)
        if rr is None:
            return None
        r = [u + float(v) for u, v in zip(r, rr, strict=True)]
    if not (r[0] > 0 and all(map(math.isfinite, r))):
        return None
    return r


def _pred_options(js: np.ndarray, run: int,
                  order: int) -> list[tuple[list[int], list[int], int]]:
    """Predictors worth costing on the sample js (runs of ``run`` consecutive values): the
    LPC fit (on the first difference, Levinson-Durbin) of the order that minimises the
    estimated size, delta order 3, and the best lookback (alone and as a second
    difference).  The first two only when the prediction errors the autocorrelations
    promise beat the chosen delta order's by _T_PRED_MIN_GAIN bits per value."""
    opts: list[tuple[list[int], list[int], int]] = []
    pmax = min(int(C._T_LPC_MAX), MAX_TERMS - 1, js.size // 16)
    r = _autocorr_runs(js, run, max(pmax, 2)) if pmax >= 1 else None
    if r is not None:
        # the error variance (of the first difference's scale) of the chosen order
        base = {1: r[0], 2: 2.0 * (r[0] - r[1])}.get(order)
        need = C._T_PRED_MIN_GAIN * 2.0  # log2 of a variance ratio: bits times two

        def promising(var: float) -> bool:
            return var > 0 and (base is None or math.log2(base / var) >= need)

        r = r[:1] + [v * (1.0 - 1e-9) for v in r[1:]]  # keeps exact predictions stable
        best, found = 0.0, None
        for p, (a, err) in enumerate(_levinson(r, pmax), 1):
            size = 0.5 * js.size * math.log2(err / r[0]) + 24 * (p + 1)
            if size < best:
                best, found = size, (a, err)
        if found is not None and promising(found[1]):
            q = _quantise(found[0])
            if q is not None:
                opts.append(q)
        if order == 2 and promising(6.0 * r[0] - 8.0 * r[1] + 2.0 * r[2]):
            opts.append(([1, 2, 3], [3, -3, 1], 0))
    lag = _lookback_lag(js)
    if lag:  # interleaved channels: each one's delta of order 1 or 2
        opts.append(([lag], [1], 0))
        opts.append(([lag, 2 * lag], [2, -1], 0))
    return opts


def _lookback_lag(js: np.ndarray) -> int:
    """The lag 2.._T_LOOK_MAX at which most values repeat exactly, if it beats lag 1 by
    the margin (periodic or multiplexed sensors), else 0."""
    top = int(C._T_LOOK_MAX)
    if top < 2 or js.size < 4 * top:
        return 0
    js = js[:_SMALL_RUN]
    same = lag_matches(js, top)
    k = 2 + int(np.argmax(same[1:]))  # the first of equal counts, as max() would
    if int(same[k - 1]) >= js.size * C._T_LOOK_SHARE and int(same[k - 1]) > 2 * int(same[0]):
        return k
    return 0


def _pred_search_py(js: np.ndarray, run: int, order: int, base: float,
                    jsmall: np.ndarray | None, base_small: float, scale: float
                    ) -> tuple[float, list[int], list[int], int, np.ndarray | None] | None:
    """The reference of :func:`_pred_search` (and the search without the kernels):
    (cost, lags, coefs, shift, residuals of js when js is a whole stream, else None)."""
    found, e = None, None
    whole = run >= js.size  # no sample: the residuals themselves, kept for the winner
    for lags, coefs, shift in _pred_options(js, run, order):
        if lags[-1] * 4 >= run:
            continue
        if jsmall is not None:
            h = pred_hist(jsmall, _SMALL_RUN, lags, coefs, shift)
            if C._cost_bits(h) >= base_small * max(int(h.sum()), 1):
                continue
        if whole:
            ej = predict(js, lags, coefs, shift)
            h = K.hist1(ej[lags[-1] - 1:])  # = pred_hist(js, js.size, ...)
        else:
            ej, h = None, pred_hist(js, run, lags, coefs, shift)
        desc = descriptor(lags, coefs, shift)
        cost = C._cost_bits(h) * js.size / max(int(h.sum()), 1)
        cost += 8 * (len(desc) + 10) / scale
        if cost < base * C._T_PRED_GAIN and (found is None or cost < found[0]):
            found, e = (cost, lags, coefs, shift), ej
    return None if found is None else (*found, e)


def _pred_search(js: np.ndarray, run: int, order: int, base: float,
                 jsmall: np.ndarray | None, base_small: float, scale: float
                 ) -> tuple[float, list[int], list[int], int, np.ndarray | None] | None:
    """The predictor options of the sample js (runs of ``run`` values; see
    :func:`_pred_options`), each costed on js (after the early test on ``jsmall`` when
    given: runs of 1,024 values against ``base_small`` bits a value) with its descriptor;
    the cheapest below ``base * _T_PRED_GAIN`` bits as (cost, lags, coefs, shift, its
    residuals or None), or None.  One C call (``ekz2_pred_search``) when the kernels are
    built: the same choice, bit for bit (tests compare it with :func:`_pred_search_py`)."""
    lib = _backend.lib
    look = int(C._T_LOOK_MAX)
    if lib is None or look > 8 * MAX_TERMS:
        return _pred_search_py(js, run, order, base, jsmall, base_small, scale)
    thr = np.array([C._T_LPC_MAX, C._T_LPC_PREC, C._T_PRED_MIN_GAIN, C._T_PRED_GAIN, look,
                    C._T_LOOK_SHARE], dtype=np.float64)
    nsmall = 0 if jsmall is None else jsmall.size
    wl = min(run, js.size)
    work = K.scratch("pswork", max(2 * wl + min(_SMALL_RUN, nsmall), 1), np.uint64)
    dwork = K.scratch("psdwork", max(wl, 1), np.float64)
    lags = np.empty(MAX_TERMS, dtype=np.uint32)
    coefs = np.empty(MAX_TERMS, dtype=np.int64)
    info = np.zeros(3, dtype=np.int32)
    cost = np.zeros(1, dtype=np.float64)
    ffi = _backend.ffi
    status = lib.ekz2_pred_search(
        _ptr("uint64_t", js), js.size, run, order, base,
        ffi.NULL if jsmall is None else _ptr("uint64_t", jsmall), nsmall, base_small, scale,
        _ptr("double", thr), _ptr("uint64_t", work), _ptr("double", dwork),
        _ptr("uint32_t", lags), _ptr("int64_t", coefs), _ptr("int32_t", info),
        _ptr("double", cost))
    if status < 0:
        raise RuntimeError(f"ekz2_pred_search returned status {status}")
    if status == 0:
        return None
    p = int(info[0])
    # the winner's residuals of a whole stream, when the search's work array still holds
    # them (the last option it costed): pred_candidate then does not predict j again
    h = int(info[2]) - 1
    e = work[h * wl: h * wl + js.size - 1].copy() if h >= 0 else None
    return float(cost[0]), lags[:p].tolist(), coefs[:p].tolist(), int(info[1]), e


def pred_candidate(best: C._Candidate, level: int) -> C._Candidate | None:
    """The best predictor coding of best's main stream when it is smaller (header
    included) than best's; decided on best's sample (see ``codec._sample``)."""
    j = best.j
    n = j.size
    if n < C._T_PRED_MIN_LEN or level < 3:
        return None
    if best.sample is not None:
        js, run = best.sample, C._SAMPLE_PART
    else:
        js, run = j, n
    h = best.sample_h
    if h is None:
        h = K.hist_order(js, best.order)
    base = C._cost_bits(h)
    if base < js.size * C._T_PRED_MIN_BITS:  # little left to predict
        return None
    scale = n / js.size
    # a whole stream longer than the small sample: an option that does not even beat the
    # delta order on the small sample (by _T_PRED_EARLY) is not costed in full
    jsmall, base_small = None, 0.0
    if js is j and js.size > 4 * _SMALL_RUN:
        jsmall = _small(js)
        hsmall = K.hist_order(jsmall, best.order)
        base_small = C._cost_bits(hsmall) / jsmall.size * C._T_PRED_EARLY
    found = _pred_search(js, run, best.order, base, jsmall, base_small, scale)
    if found is None:
        return None
    cost, lags, coefs, shift, e = found
    bits = best.cost - (base - cost) * scale
    lanes = _lanes_pick(j, lags, coefs, shift, bits, js, run, e)
    cost = bits
    if lanes is None:
        if e is None:
            e = predict(j, lags, coefs, shift)
        es, _ = C._sample(e)
        pre = descriptor(lags, coefs, shift) + C._varint(C._zz(int(j[0])))
    else:
        e, starts, extra = lanes
        cost += extra
        es, _ = C._sample(e)
        j0 = int(starts[0])
        pre = descriptor(lags, coefs, shift, _LANES) + b"".join(
            C._varint(C._zz((int(v) - j0) & _U64 if i else j0)) for i, v in enumerate(starts))
    cand = C._Candidate(cost, best.head | _ORDER_MASK,
                        best.params, e, 0, K.hist1(es) if es is not e else None,
                        r=best.r, sample=es if es is not e else None)
    cand.pre = pre
    return cand


def lanes_extra(j: np.ndarray, nl: int, lags: list[int], coefs: list[int],
                shift: int) -> tuple[np.ndarray, list[int]]:
    """What nl lanes change against one lane (``ekz2_lanes_extra``): (token histogram of
    the lanes' warm-up residuals less that of the one-lane residuals they replace, int32[256];
    [varint bytes of the lanes' first values, bit lengths + 1 of the warm-up residuals, of
    the replaced ones]) (parameters valid, the lanes fit)."""
    lib = _backend.lib
    if lib is None:
        status, h, info = ref.lanes_extra(j, nl, lags, coefs, shift)
    else:
        h = np.empty(256, dtype=np.int32)
        out = np.empty(3, dtype=np.uint64)
        status = lib.ekz2_lanes_extra(_ptr("uint64_t", j), j.size, nl, *_terms(lags, coefs),
                                      len(lags), shift, _ptr("int32_t", h),
                                      _ptr("uint64_t", out))
        info = [int(v) for v in out]
    if status != ref.OK or h is None or info is None:
        raise RuntimeError(f"ekz2_lanes_extra returned status {status}")
    return h, info


def _lanes_pick(j: np.ndarray, lags: list[int], coefs: list[int], shift: int, cost: float,
                js: np.ndarray, run: int, e1: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Format v3: (interleaved residuals, lanes' first values, extra bits) of j cut into
    _LANES lanes, when every lane holds _T_LANE_MIN_LEN values or more and the lanes are
    estimated to cost at most _T_LANE_COST of the block's ``cost`` bits more than one lane;
    else None.  The lanes differ from one lane only at each lane's first value (stored apart,
    a varint, instead of its residual) and its warm-up (delta 1 up to the largest lag instead
    of the predictor's residual): those values are costed (:func:`lanes_extra`) first by
    their bit lengths (below the token estimate on every corpus block: an entropy coder
    spends more than a bit length on a rare large value), then at the token frequencies of
    the predictor's residuals on (at most 4,096 values of) the sample ``js`` (runs of
    ``run`` values).  ``e1``: the one-lane residuals, when the search made them."""
    n, maxlag = j.size, lags[-1]
    if n < _LANES * C._T_LANE_MIN_LEN or ref.lanes_geom(n, _LANES, maxlag) is None:
        return None
    diff, (nbytes, new_bits, old_bits) = lanes_extra(j, _LANES, lags, coefs, shift)
    extra, limit = 8.0 * (1 + nbytes), C._T_LANE_COST * cost
    if extra + new_bits - old_bits > limit:
        return None
    small = _small(js) if run >= js.size else js[: 4 * _SMALL_RUN]
    h = pred_hist(small, min(run, _SMALL_RUN), lags, coefs, shift).astype(np.float64)
    bits = np.log2(max(float(h.sum()), 1.0) / np.maximum(h, 0.5)) + ref._NBITS_U8
    extra += float(diff.astype(np.float64) @ bits)
    if extra > limit:
        return None
    el, starts = predict_lanes(j, _LANES, lags, coefs, shift, e1)
    return el, starts, extra


def improve(x: np.ndarray, best: C._Candidate, level: int, lossless: bool,
            v2: bool) -> C._Candidate:
    """best, or a smaller v2 coding of block x: the dictionary (lossless only), then a
    predictor on the chosen main stream."""
    if not v2 or x.size < min(C._T_DICT_MIN_LEN, C._T_PRED_MIN_LEN):
        return best
    if lossless and level >= 2:
        small = _keys(_small(x)) if x.size >= C._T_DICT_MIN_LEN else None
        bits: dict[str, float] = {}  # the sample bits dict_candidate found (see there)
        cand = dict_candidate(x, level, best, small, bits)
        if cand is None or cand.cost >= best.cost:
            cand = split_candidate(x, level, best, small, bits)
        if cand is not None and cand.cost < best.cost:
            best = cand
    cand = pred_candidate(best, level)
    return best if cand is None else cand
