"""numpy/Python references for the block-codec kernels in ``_native/compress.c``.

Same definitions, same bits (see ``_native/compress.h``); tests hold the C kernels to them.
The entropy coder is inherently serial, so its reference is a plain Python loop: slow, but
it is what ``EDGEKIT_BACKEND=reference`` runs, and it is the executable specification.
Every function takes validated, C-contiguous arrays and returns ``(status, ...)`` like the
kernel it mirrors.
"""

from __future__ import annotations

import math

import numpy as np

OK, EINVAL, ECORRUPT, ENOSPC = 0, -1, -2, -3
PROB_BITS = 12
M = 1 << PROB_BITS
L = 1 << 15
_U64 = (1 << 64) - 1
TWO53 = 9007199254740992.0


LANES = 16  # states of format v3's stream kind 4 (EKZ_LANES)
SINGLE_LANES = -2  # ``single`` of the decoders for a kind-4 stream (EKZ_SINGLE_LANES)
LANE_TAIL = 15  # bits of the extra-bit stream's tail a lane's final state carries
CHUNK = 256  # codes of the decoder's chunk (EKZ_CHUNK): the tail is the last chunk's


def _bitlen(z: np.ndarray) -> np.ndarray:
    """Bit length of each uint64 (0 for 0), exact (a shift ladder)."""
    b = np.zeros(z.shape, dtype=np.int64)
    v = z.copy()
    for sh in (32, 16, 8, 4, 2, 1):
        hi = v >= (np.uint64(1) << np.uint64(sh))
        b[hi] += sh
        v[hi] >>= np.uint64(sh)
    return b + (v > 0)


def nstates(codes: int) -> int:
    """Interleaved rANS states of a stream of ``codes`` codes (``EKZ_NSTATES``)."""
    return 4 if codes >= 1024 else 1


def token_tables() -> tuple[list[int], list[int]]:
    base, nbits = [], []
    for t in range(256):
        if t < 16:
            base.append(t)
            nbits.append(0)
        else:
            b, m = (t - 16) // 4 + 5, (t - 16) % 4
            base.append((4 + m) << (b - 3))
            nbits.append(b - 3)
    return base, nbits


BASE, NBITS = token_tables()
_BASE_U64 = np.array(BASE, dtype=np.uint64)
_NBITS_U8 = np.array(NBITS, dtype=np.uint8)


def tokens(z: np.ndarray) -> np.ndarray:
    """Token of each uint64 value (vectorised)."""
    z = np.asarray(z, dtype=np.uint64)
    out = np.zeros(z.shape, dtype=np.uint8)
    small = z < 16
    out[small] = z[small].astype(np.uint8)
    big = z[~small]
    if big.size:
        b = _bitlen(big)  # frexp would lose precision above 2**53
        m = (big >> (b - 3).astype(np.uint64)) & np.uint64(3)
        out[~small] = (16 + 4 * (b - 5) + m.astype(np.int64)).astype(np.uint8)
    return out


def zigzag(v: np.ndarray) -> np.ndarray:
    v = v.view(np.uint64)
    return (v << np.uint64(1)) ^ (np.uint64(0) - (v >> np.uint64(63)))


def unzigzag(z: np.ndarray) -> np.ndarray:
    return (z >> np.uint64(1)) ^ (np.uint64(0) - (z & np.uint64(1)))


def delta(j: np.ndarray, order: int) -> np.ndarray:
    d = j.view(np.uint64).copy()
    for _ in range(order):
        d[1:] = d[1:] - d[:-1].copy()
    return d


def undelta(d: np.ndarray, order: int) -> np.ndarray:
    u = d.copy()
    for _ in range(order):
        np.cumsum(u, dtype=np.uint64, out=u)
    return u


def hist3(j: np.ndarray) -> np.ndarray:
    h = np.zeros(768, dtype=np.uint32)
    for order in range(3):
        h[256 * order: 256 * (order + 1)] = np.bincount(
            tokens(zigzag(delta(j, order)[order:])), minlength=256)
    return h


def _start(freq: np.ndarray) -> list[int] | None:
    f = [int(v) for v in freq]
    if any(v >= M for v in f) or sum(f) != M:
        return None
    start, s = [], 0
    for v in f:
        start.append(s)
        s += v
    return start


def tokenize(j: np.ndarray, order: int) -> tuple[np.ndarray, bytes, np.ndarray]:
    """(tokens of j[order:], extra-bit bytes, token histogram) like ``ekz_tokenize``."""
    z = zigzag(delta(j, order)[order:])
    toks = tokens(z)
    acc, cnt, out = 0, 0, bytearray()
    for zi, t in zip(z.tolist(), toks.tolist(), strict=True):
        nb = NBITS[t]
        if nb:
            acc |= (zi - BASE[t]) << cnt
            cnt += nb
            while cnt >= 8:
                out.append(acc & 0xFF)
                acc >>= 8
                cnt -= 8
    if cnt:
        out.append(acc & 0xFF)
    return toks, bytes(out), np.bincount(toks, minlength=256).astype(np.uint32)


def lanes_tail(toks: np.ndarray) -> tuple[int, int]:
    """(T, R) of a kind-4 stream's tokens: T extra bits in all, of which the last R (those
    of the last chunk of CHUNK codes, at most LANES * LANE_TAIL) ride in the lanes' final
    states instead of the stored extra bits."""
    nb = _NBITS_U8[np.asarray(toks, dtype=np.uint8)].astype(np.int64)
    last = (nb.size - 1) // CHUNK * CHUNK if nb.size else 0
    return int(nb.sum()), min(LANES * LANE_TAIL, int(nb[last:].sum()))


def rans_lanes(toks: np.ndarray, freq: np.ndarray, bits: bytes) -> tuple[int, bytes, bytes]:
    """(status, stored extra bits, rANS words) of a kind-4 stream (``ekz_rans_lanes``):
    the tail of the extra bits (see :func:`lanes_tail`) goes into the lanes' initial
    states, LANE_TAIL bits a lane (lane s: bits 15 s.., LSB-first) above L."""
    total, r = lanes_tail(toks)
    v = int.from_bytes(bits, "little")
    tail = (v >> (total - r)) & ((1 << r) - 1)
    kept = (v & ((1 << (total - r)) - 1)).to_bytes((total - r + 7) // 8, "little")
    init = [L + ((tail >> (LANE_TAIL * s)) & ((1 << LANE_TAIL) - 1)) for s in range(LANES)]
    status, words = rans(toks, freq, LANES, init)
    return status, (kept if status == OK else b""), words


def rans(toks: np.ndarray, freq: np.ndarray, lanes: int = 0,
         init: list[int] | None = None) -> tuple[int, bytes]:
    """(status, rANS words) of the tokens, like ``ekz_rans`` (``lanes`` states: LANES for
    format v3's stream kind 4, from the states ``init``; 0 for the v1 rule)."""
    if lanes not in (0, LANES):
        return EINVAL, b""
    start = _start(freq)
    if start is None or (toks.size and np.any(np.asarray(freq)[toks] == 0)):
        return EINVAL, b""
    if toks.size == 0:
        return OK, b""
    words: list[int] = []  # 16-bit words in emission order
    ns = lanes or nstates(len(toks))
    x = list(init) if init is not None else [L] * ns
    fl = [int(v) for v in freq]
    for i in range(len(toks) - 1, -1, -1):
        t = int(toks[i])
        f = fl[t]
        s = i & (ns - 1)
        if x[s] >= (f << 19):
            words.append(x[s] & 0xFFFF)
            x[s] >>= 16
        x[s] = ((x[s] // f) << PROB_BITS) + (x[s] % f) + start[t]
    for s in range(ns - 1, -1, -1):
        words.extend([x[s] >> 16, x[s] & 0xFFFF])
    words.reverse()
    return OK, np.array(words, dtype="<u2").tobytes()


def encode(j: np.ndarray, order: int, freq: np.ndarray, single: int) -> tuple[int, bytes]:
    """Returns (status, bits + words) like ``ekz_encode`` (bits first, then rANS words);
    codes j[order:]."""
    toks, bits, _ = tokenize(j, order)
    if single >= 0:
        if toks.size and np.any(toks != single):
            return EINVAL, b""
        return OK, bits
    status, words = rans(toks, freq)
    return status, (bits + words if status == OK else b"")


def decode(words: bytes, bits: bytes, freq: np.ndarray, single: int, order: int,
           n: int, first: list[int]) -> tuple[int, np.ndarray | None]:
    """Returns (status, j) like ``ekz_decode``; ``first`` holds j[:order] (as uint64);
    ``single``: a one-token stream's token, -1 (rANS, v1 rule) or SINGLE_LANES (format v3's
    kind 4: LANES states)."""
    ns = LANES if single == SINGLE_LANES else 0
    single = -1 if ns else single
    pos, acc, cnt = 0, 0, 0
    nbytes = len(bits)

    def get(nb: int) -> int | None:
        nonlocal pos, acc, cnt
        while cnt < nb and pos < nbytes:
            acc |= bits[pos] << cnt
            pos += 1
            cnt += 8
        if cnt < nb:
            return None
        v = acc & ((1 << nb) - 1)
        acc >>= nb
        cnt -= nb
        return v

    if n <= order:
        if words or bits or single >= 0:
            return ECORRUPT, None
        return OK, np.array(first[:n], dtype=np.uint64)
    m = n - order
    z = np.empty(m, dtype=np.uint64)
    if single >= 0:
        if words:
            return ECORRUPT, None
        nb, base = NBITS[single], BASE[single]
        for i in range(m):
            e = get(nb) if nb else 0
            if e is None:
                return ECORRUPT, None
            z[i] = base + e
    elif ns:
        status, zl = _lanes_codes(words, bits, freq, m)
        if status != OK:
            return status, None
        z[...] = zl
        pos, cnt = nbytes, 0  # (checked there)
    else:
        start = _start(freq)
        if start is None:
            return ECORRUPT, None
        slot_tok = np.repeat(np.arange(256), np.asarray(freq, dtype=np.int64)).tolist()
        fl = [int(v) for v in freq]
        ns = ns or nstates(m)
        if len(words) < 4 * ns:
            return ECORRUPT, None
        w = np.frombuffer(words[: len(words) // 2 * 2], dtype="<u2").tolist()
        nw = len(words) // 2 if len(words) % 2 == 0 else -1
        if nw < 0:
            # an odd byte count can never be consumed exactly
            return ECORRUPT, None
        x = [w[2 * s] | (w[2 * s + 1] << 16) for s in range(ns)]
        wp = 2 * ns
        if min(x) < L:
            return ECORRUPT, None
        for i in range(m):
            s = i & (ns - 1)
            slot = x[s] & (M - 1)
            t = slot_tok[slot]
            x[s] = fl[t] * (x[s] >> PROB_BITS) + slot - start[t]
            if x[s] < L:
                if wp >= nw:
                    return ECORRUPT, None
                x[s] = (x[s] << 16) | w[wp]
                wp += 1
            nb = NBITS[t]
            e = get(nb) if nb else 0
            if e is None:
                return ECORRUPT, None
            z[i] = BASE[t] + e
        if wp != nw or x != [L] * ns:
            return ECORRUPT, None
    consumed = pos * 8 - cnt
    if (consumed + 7) // 8 != nbytes:
        return ECORRUPT, None
    d = np.concatenate([delta(np.array(first[:order], dtype=np.uint64), order),
                        unzigzag(z)])
    return OK, undelta(d, order)


def _lanes_codes(words: bytes, bits: bytes, freq: np.ndarray, m: int) -> tuple[int, list[int]]:
    """(status, the m codes) of a kind-4 stream: the tokens from the LANES states (code i
    on state i % LANES, the words in the order the states take them), then the extra bits:
    the stored ones followed by the tail the final states carry (see :func:`rans_lanes`)."""
    start = _start(freq)
    if start is None or len(words) < 4 * LANES or len(words) % 2:
        return ECORRUPT, []
    slot_tok = np.repeat(np.arange(256), np.asarray(freq, dtype=np.int64)).tolist()
    fl = [int(v) for v in freq]
    w = np.frombuffer(words, dtype="<u2").tolist()
    x = [w[2 * s] | (w[2 * s + 1] << 16) for s in range(LANES)]
    wp, nw = 2 * LANES, len(w)
    if min(x) < L:
        return ECORRUPT, []
    toks = []
    for i in range(m):
        s = i % LANES
        slot = x[s] & (M - 1)
        t = slot_tok[slot]
        toks.append(t)
        x[s] = fl[t] * (x[s] >> PROB_BITS) + slot - start[t]
        if x[s] < L:
            if wp >= nw:
                return ECORRUPT, []
            x[s] = (x[s] << 16) | w[wp]
            wp += 1
    if wp != nw or max(x) >= 2 * L:
        return ECORRUPT, []
    total, r = lanes_tail(np.array(toks, dtype=np.uint8))
    tail = sum((xs - L) << (LANE_TAIL * s) for s, xs in enumerate(x))
    stored = int.from_bytes(bits, "little")
    if len(bits) != (total - r + 7) // 8 or stored >> (total - r) or tail >> r:
        return ECORRUPT, []
    v = stored | (tail << (total - r))
    out = []
    for t in toks:
        nb = NBITS[t]
        out.append(BASE[t] + (v & ((1 << nb) - 1)))
        v >>= nb
    return OK, out


# Sinks of ``decode_into`` / ``put_j`` (EKZ_SINK_* in _native/compress.h): where value i of a
# decoded stream goes, with k = off + g * j (mod 2**64).
SINK_J, SINK_I8, SINK_I16, SINK_I32, SINK_I64 = 0, 1, 2, 3, 4
SINK_B16, SINK_B32, SINK_B64 = 5, 6, 7
SINK_T64, SINK_T32, SINK_R64, SINK_R32 = 8, 9, 10, 11
_UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


def _flip(u: np.ndarray) -> np.ndarray:
    """u XOR ((0 - (u >> (W-1))) >> 1) in u's own unsigned width: sortable <-> bits."""
    w = u.dtype.itemsize * 8
    t = u.dtype.type
    return u ^ ((t(0) - (u >> t(w - 1))) >> t(1))


def put_j(j: np.ndarray, sink: int, out: np.ndarray, g: int, off: int,
          tab: np.ndarray | None, lo: int, span: int) -> int:
    """Write j (uint64) to ``out`` as sink ``sink`` does (``ekz_put_j``); ``out`` is a
    uint view of the output of the sink's width (float tables: the float array)."""
    j = j.view(np.uint64)
    with np.errstate(over="ignore"):
        if sink == SINK_J:
            out[...] = j
        elif SINK_I8 <= sink <= SINK_I64:
            k = np.uint64(off) + np.uint64(g) * j
            out[...] = k.astype(_UINT[8 << (sink - SINK_I8)])
        elif SINK_B16 <= sink <= SINK_B64:
            k = np.uint64(off) + np.uint64(g) * j
            out[...] = _flip(k.astype(_UINT[16 << (sink - SINK_B16)]))
        elif sink in (SINK_T64, SINK_T32):
            assert tab is not None
            ix = j - np.uint64(lo)
            if np.any(ix > np.uint64(span)):
                return ECORRUPT
            out[...] = tab[ix.astype(np.int64)]
        elif sink == SINK_R64:
            out[...] = _flip(_flip(out.view(np.uint64)) + j)
        elif sink == SINK_R32:
            u = out.view(np.uint32)
            out[...] = _flip(_flip(u) + j.astype(np.uint32))
        else:
            return EINVAL
    return OK


def decode_into(words: bytes, bits: bytes, freq: np.ndarray, single: int, order: int,
                n: int, first: list[int], sink: int, out: np.ndarray, g: int, off: int,
                tab: np.ndarray | None = None, lo: int = 0, span: int = 0) -> int:
    """``decode`` straight into a sink (``ekz_decode_into``): the status."""
    status, j = decode(words, bits, freq, single, order, n, first)
    if status != OK:
        return status
    assert j is not None
    return put_j(j, sink, out, g, off, tab, lo, span)


def runs_split(j: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """(runs, vals) as in ``ekz_runs_split`` (already in unzigzag form)."""
    z = zigzag(delta(j, order)[order:])
    nz = np.flatnonzero(z)
    edges = np.concatenate([[-1], nz, [z.size]])
    runs = (np.diff(edges) - 1).astype(np.uint64)
    return unzigzag(runs), unzigzag(z[nz] - np.uint64(1))


def runs_hist(j: np.ndarray, order: int) -> tuple[np.ndarray, int]:
    runs, vals = runs_split(j, order)
    h = np.zeros(512, dtype=np.uint32)
    h[:256] = np.bincount(tokens(zigzag(runs)), minlength=256)
    h[256:] = np.bincount(tokens(zigzag(vals)), minlength=256)
    return h, int(vals.size)


def runs_expand(runs: np.ndarray, vals: np.ndarray, order: int, first: list[int],
                n: int) -> np.ndarray | None:
    """Inverse of :func:`runs_split`; None when the runs do not add up to n values."""
    r = zigzag(runs.view(np.int64))
    z = zigzag(vals.view(np.int64)) + np.uint64(1)
    if np.any(z == 0) or r.size != z.size + 1:
        return None
    total = int(r.astype(object).sum()) + z.size
    if total != n - order:
        return None
    d = np.zeros(n - order, dtype=np.uint64)
    pos = np.cumsum(r[:-1].astype(np.int64) + 1) - 1
    d[pos] = unzigzag(z)
    head = delta(np.array(first[:order], dtype=np.uint64), order)
    return undelta(np.concatenate([head, d]), order)


def gcd(j: np.ndarray) -> int:
    """gcd of |j[i] - j[i-1]| (wrapping int64 differences), 0 when all equal: for values
    that do not wrap, the gcd of every j[i] - j[0]."""
    if j.size < 2:
        return 0
    u = j.view(np.uint64)
    d = (u[1:] - u[:-1]).view(np.int64)
    neg = d < 0
    a = d.view(np.uint64).copy()
    a[neg] = np.uint64(0) - a[neg]
    return int(np.gcd.reduce(a)) if a.size else 0


def gcd_split(j: np.ndarray, g: int, off: int) -> np.ndarray | None:
    """(j - off) // g as uint64 (int64 arithmetic) when off + g * that is j again for every
    value (2 <= g < 2**63, 0 <= off < g), else None."""
    q = (j.view(np.int64) - np.int64(off)) // np.int64(g)
    qj = q.view(np.uint64)
    return qj if np.array_equal(np.uint64(off) + np.uint64(g) * qj, j) else None


def f32_exact(x: np.ndarray) -> np.ndarray | None:
    """float64 x as float32 when every value is a float32 value (bits and all), else None."""
    with np.errstate(all="ignore"):
        x32 = x.astype(np.float32)
    if np.array_equal(x32.astype(np.float64).view(np.uint64), x.view(np.uint64)):
        return x32
    return None


def sortable(x: np.ndarray) -> np.ndarray:
    """Float bits as order-preserving int64 (sign-extended from the float's width)."""
    bits = x.view(f"i{x.dtype.itemsize}")
    s = bits ^ ((bits >> (x.dtype.itemsize * 8 - 1)) & np.array(
        np.iinfo(bits.dtype).max, dtype=bits.dtype))
    return s.astype(np.int64)


def float_gcd(d: np.ndarray, tol: float, floor: float, skips: int) -> list[float]:
    """Approximate greatest common divisor of the positive floats d (each exact to ``tol``):
    Euclid's algorithm where a remainder of a / b within (a // b + 1) * tol of 0 or of b
    counts as 0.  A value that would
    take the divisor to ``floor`` or below (a gap to a value off the grid) is passed over,
    at most ``skips`` of them.  Returns the divisors met on the way, coarsest first (a rare
    value may divide a common step: the caller picks the coarsest that fits); [] when there
    is nothing above the floor or more than ``skips`` values were passed over."""
    g = 0.0
    seen: list[float] = []
    for v in d.tolist():
        a, b = (g, v) if g > v else (v, g)
        while b > tol:
            r = math.fmod(a, b)
            e = tol * (a // b + 1)  # a - q*b: b's error q times, plus a's
            a, b = b, (0.0 if r <= e or b - r <= e else r)
        if a > floor:
            if not seen or a < seen[-1] - tol:
                seen.append(a)
            g = a
        else:
            skips -= 1
            if skips < 0:
                return []
    return seen


def grid_origin(u: np.ndarray, counts: np.ndarray, half: np.ndarray, b0: float,
                frac: float, offn: int, sweep: int) -> tuple[float, float] | None:
    """(a, b) for distinct sample values u seen ``counts`` times (rounding intervals +-half)
    on a grid of step about b0, or None when more than 1 / offn of them are off it.
    The origin: 0 (values that are multiples of the step), the lowest or the commonest
    value, whichever rounds most values exactly with its best step."""
    found: tuple[float, float, float] | None = None  # (-values rounded exactly, a, step)
    total = float(np.sum(counts))
    for a in (0.0, float(u[0]), float(u[int(np.argmax(counts))])):
        t = (u - a) / b0
        k = np.rint(t)
        # (a value far below the step is no multiple of it: k = 0 only for a itself)
        on = (np.abs(t - k) <= frac) & ((k != 0) | (np.abs(u - a) <= half))
        if np.dot(counts, ~on) * offn > total:
            continue
        at_a = float(np.dot(counts, on & (k == 0)))  # a itself: any step
        idx = np.flatnonzero(on & (k != 0))
        if idx.size == 0:
            continue
        if idx.size > sweep:  # evenly spaced by value, so the extremes (largest
            # |k|, narrowest intervals below) stay
            idx = idx[(np.arange(sweep) * (idx.size - 1)) // (sweep - 1)]
        # a + k*b rounds to x for b in [(x - h - a) / k, (x + h - a) / k] (swapped for
        # k < 0): the step inside the most (weighted) of these intervals misses fewest values
        kk, xa, hh, w = k[idx], u[idx] - a, half[idx], counts[idx]
        ends = np.concatenate([(xa - hh) / kk, (xa + hh) / kk])
        pos = np.concatenate([np.minimum(ends[: kk.size], ends[kk.size:]),
                              np.maximum(ends[: kk.size], ends[kk.size:])])
        order = np.argsort(pos, kind="stable")
        cover = np.cumsum(np.concatenate([w, -w])[order])
        i = int(np.argmax(cover))
        b1 = float(pos[order[i]] + pos[order[min(i + 1, pos.size - 1)]]) / 2
        hit = float(cover[i]) + at_a
        if b1 > 0 and math.isfinite(b1) and (found is None or -hit < found[0]):
            found = (-hit, a, b1)
    return None if found is None else (found[1], found[2])


def common_gaps(u: np.ndarray, floor: float, tol: float, maxg: int) -> np.ndarray:
    """The commonest gaps (at most maxg, commonest first) between consecutive distinct values
    u (ascending) above ``floor``: gaps of one class rint(gap / tol) count together and are
    represented by their first; classes of equal count in ascending order."""
    gaps = np.diff(u)
    gaps = gaps[gaps > floor]
    _, first, gcount = np.unique(np.rint(gaps / tol), return_index=True, return_counts=True)
    return gaps[first[np.argsort(-gcount, kind="stable")[:maxg]]]


def grid_costs(ux: np.ndarray, w: np.ndarray, a: float, steps: np.ndarray,
               frac: float) -> tuple[np.ndarray, np.ndarray]:
    """For distinct values ux (x's dtype) seen w times and each step b:
    (share of them off the grid a + k*b by more than frac of a step, bits of their
    residuals) as the codec computes them: k = rint((x - a) / b), y = a + k*b in float64
    rounded to x's dtype, residual = x - y in units of the last place."""
    sx = sortable(ux)
    t = (ux.astype(np.float64) - a)[None, :] / steps[:, None]
    k = np.rint(t)
    off = (~(np.abs(t - k) <= frac)) @ w / float(np.sum(w))
    y = (a + k * steps[:, None]).astype(ux.dtype)
    r = (sx[None, :] - sortable(y)).view(np.uint64)
    z = (r << np.uint64(1)) ^ (np.uint64(0) - (r >> np.uint64(63)))  # zigzag
    _, e = np.frexp(z.astype(np.float64))  # bit length; a residual token costs ~1 bit more
    return off, (e + (z != 0)) @ w


def sample_positions(n: int, sample: int) -> np.ndarray:
    """min(sample, n) evenly spaced positions floor(s * n / m) of an n-value array."""
    m = min(sample, n)
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    s = np.arange(m, dtype=np.int64)
    q, rem = divmod(n, m)
    return s * q + (s * rem) // m


def find_decimals(x: np.ndarray, sample: int, maxd: int, allow: int = 0) -> int:
    """Smallest d <= maxd for which at most ``allow`` finite values of an evenly spaced
    sample of x are not k / 10**d; -1 if none."""
    if x.size == 0:
        return 0
    fin = x[sample_positions(x.size, sample)]
    fin = fin[np.isfinite(fin)]
    for d in range(min(maxd, 22) + 1):
        p = 10.0 ** d  # exact for d <= 22
        with np.errstate(all="ignore"):
            t = fin.astype(np.float64) * p
            y = (np.rint(t) / p).astype(x.dtype)
        miss = ~(np.abs(t) < TWO53) | (y != fin)
        if np.count_nonzero(miss) <= allow:
            return d
    return -1


def _sortable(bits: np.ndarray) -> np.ndarray:
    """Sortable integers (int64, sign-extended from the float's width)."""
    width = bits.dtype.itemsize * 8
    u = bits.astype(np.uint64) if width == 64 else bits
    if width == 64:
        mask = (np.uint64(0) - (u >> np.uint64(63))) >> np.uint64(1)
        return (u ^ mask).view(np.int64)
    mask = (np.uint32(0) - (u >> np.uint32(31))) >> np.uint32(1)
    return (u ^ mask).view(np.int32).astype(np.int64)


def _unsortable(s: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.itemsize == 8:
        u = s.view(np.uint64)
        return (u ^ ((np.uint64(0) - (u >> np.uint64(63))) >> np.uint64(1))).view(dtype)
    u = s.astype(np.uint64).astype(np.uint32)
    return (u ^ ((np.uint32(0) - (u >> np.uint32(31))) >> np.uint32(1))).view(dtype)


def _y(k: np.ndarray, mode: int, p: float, a: float, b: float) -> np.ndarray:
    kf = k.astype(np.float64)
    return kf / p if mode == 0 else a + kf * b


def quant(x: np.ndarray, mode: int, p: float, a: float, b: float,
          tol: float) -> tuple[np.ndarray, np.ndarray, int]:
    with np.errstate(all="ignore"):
        xf = x.astype(np.float64)
        t = xf * p if mode == 0 else (xf - a) / b
        ok = np.abs(t) < TWO53
        k = np.zeros(x.size, dtype=np.int64)
        k[ok] = np.rint(t[ok]).astype(np.int64)
        # bad positions repeat the previous k (0 before the first)
        idx = np.where(ok, np.arange(x.size), -1)
        np.maximum.accumulate(idx, out=idx)
        k = np.where(idx >= 0, k[np.maximum(idx, 0)], 0)
        y = _y(k, mode, p, a, b).astype(x.dtype)
        r = (_sortable(x.view(f"u{x.dtype.itemsize}")).view(np.uint64)
             - _sortable(y.view(f"u{x.dtype.itemsize}")).view(np.uint64)).view(np.int64)
        if tol >= 0:
            within = np.abs(y.astype(np.float64) - xf) <= tol
            r = np.where(within, 0, r)
    return k, r, int(np.count_nonzero(r))


def dequant(j: np.ndarray, r: np.ndarray | None, mode: int, p: float, a: float, b: float,
            g: int, off: int, dtype: np.dtype) -> np.ndarray:
    k = (np.uint64(off) + np.uint64(g) * j.view(np.uint64)).view(np.int64)
    with np.errstate(all="ignore"):
        y = _y(k, mode, p, a, b).astype(dtype)
    if r is not None and np.any(r):
        s = (_sortable(y.view(f"u{dtype.itemsize}")).view(np.uint64) + r.view(np.uint64))
        y = _unsortable(s.view(np.int64), dtype)
    return y


def build_tab(mode: int, p: float, a: float, b: float, g: int, off: int, lo: int, n: int,
              dtype: np.dtype) -> np.ndarray:
    j = np.uint64(lo) + np.arange(n, dtype=np.uint64)
    return dequant(j, None, mode, p, a, b, g, off, dtype)


def decode_tab(words: bytes, bits: bytes, freq: np.ndarray, single: int, order: int, n: int,
               first: list[int], lo: int, span: int,
               tab: np.ndarray) -> tuple[int, np.ndarray | None]:
    status, j = decode(words, bits, freq, single, order, n, first)
    if status != OK:
        return status, None
    assert j is not None
    ix = j - np.uint64(lo)
    if np.any(ix > np.uint64(span)):
        return ECORRUPT, None
    return OK, tab[ix.astype(np.int64)]


def add_resid(r: np.ndarray, out: np.ndarray) -> np.ndarray:
    s = _sortable(out.view(f"u{out.dtype.itemsize}")).view(np.uint64) + r.view(np.uint64)
    return _unsortable(s.view(np.int64), out.dtype)


def cost(h: np.ndarray) -> float:
    """Estimated coded size in bits of a stream with token histogram h (``ekz_cost``)."""
    hl = [int(v) for v in h]
    present = [t for t, v in enumerate(hl) if v]
    if not present:
        return 8.0
    extra = float(sum(hl[t] * NBITS[t] for t in present))
    if len(present) == 1:
        return extra + 24.0
    n = float(sum(hl[t] for t in present))
    maxtok, hmax = present[-1], max(hl[t] for t in present)
    best = -1.0
    for pb in (12, 10, 8, 6):
        scale = float(1 << pb)
        if pb < 12 and (n >= 8192.0 or 2 * len(present) > (1 << pb)):
            break
        fmax = int(hmax * scale / n + 0.5)
        bits = 16.0 + 8.0 * (((maxtok + 1) * fmax.bit_length() + 7) // 8)
        for t in present:
            f = math.floor(hl[t] * scale / n + 0.5)
            bits += hl[t] * (pb - math.log2(max(f, 1.0)))
        if best < 0.0 or bits < best:
            best = bits
    return best + extra + 24.0 + 32.0 * (4.0 if n >= 1024.0 else 1.0)


def unpack_freq(raw: bytes, count: int, nbits: int, pb: int) -> np.ndarray | None:
    """``ekz_unpack_freq``: None unless the table is valid."""
    if not (1 <= count <= 256 and 1 <= nbits <= 12 and 4 <= pb <= 12) \
            or len(raw) < (count * nbits + 7) // 8:
        return None
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    fields = bits[: count * nbits].reshape(count, nbits).astype(np.uint32)
    vals = (fields << np.arange(nbits, dtype=np.uint32)).sum(axis=1)
    if int(vals.sum()) != 1 << pb or int(vals.max()) >= 1 << pb:
        return None
    f = np.zeros(256, dtype=np.uint16)
    f[:count] = vals << (PROB_BITS - pb)
    return f


def normalize_list(hl: list[int], idx: list[int], pb: int) -> list[int]:
    """Frequencies (a 256-list) of the present tokens ``idx`` of counts ``hl``, scaled to sum
    to 2**pb, each >= 1; the rounding remainder goes to (or is taken from) the largest,
    the first on ties.  Integer arithmetic on the few present tokens."""
    prob = 1 << pb
    n = sum(hl[t] for t in idx)
    f = [0] * 256
    for t in idx:
        f[t] = max(1, (hl[t] * prob + n // 2) // n)
    diff = prob - sum(f[t] for t in idx)
    if diff > 0:
        f[max(idx, key=hl.__getitem__)] += diff
    while diff < 0:
        i = max(idx, key=f.__getitem__)
        take = min(-diff, f[i] // 2)
        f[i] -= take
        diff += take
    return f


def table(h: np.ndarray) -> tuple[np.ndarray, bytes]:
    """``ekz_table``: (frequencies in 1/4096, stored table bytes) for histogram h (two or
    more tokens present), at the precision pb that makes table plus codes smallest: the
    even one at or above log2(n) and the one below for streams under 8192 codes (12 for
    longer ones, and 12 when no lower precision fits the tokens)."""
    hl = h.tolist()
    idx = [t for t, c in enumerate(hl) if c]
    n = sum(hl[t] for t in idx)
    best: tuple[float, list[int], int] | None = None
    top = 12 if n >= 8192 else min(12, max(6, 2 * ((n.bit_length() + 1) // 2)))
    for pb in ((top, top - 2) if top > 6 else (6,)) + (12,):
        if best is not None and pb == 12 and top < 12:
            break  # 12 is the fallback when no lower precision fits the tokens
        if pb < 12 and 2 * len(idx) > 1 << pb:
            continue
        f = normalize_list(hl, idx, pb)
        nbits = max(f[t] for t in idx).bit_length()
        bits = 16 + 8 * (((idx[-1] + 1) * nbits + 7) // 8) + sum(
            hl[t] * (pb - math.log2(f[t])) for t in idx)
        if best is None or bits < best[0]:
            best = (bits, f, pb)
    assert best is not None
    _, f, pb = best
    return (np.array(f, dtype=np.uint16) << np.uint16(12 - pb)).astype(np.uint16), \
        table_bytes_list(f, idx[-1], pb)


def table_bytes_list(vals: list[int], maxtok: int, pb: int) -> bytes:
    """u8 largest token, u8 (pb << 4 | field width), vals[0..maxtok] as LSB-first fields."""
    nbits = max(vals[: maxtok + 1]).bit_length()
    acc = 0
    for i in range(maxtok, -1, -1):
        acc = (acc << nbits) | vals[i]
    return bytes((maxtok, (pb << 4) | nbits)) + acc.to_bytes(
        ((maxtok + 1) * nbits + 7) // 8, "little")


def follow(x: np.ndarray, b: float, tol: float, order: int) -> np.ndarray:
    """``ekz_follow``: the prediction-following grid's codes (see ``_native/lossy.h``)."""
    with np.errstate(all="ignore"):
        xf = x.astype(np.float64)
        lf, hf = np.ceil((xf - tol) / b), np.floor((xf + tol) / b)
        ok = (np.abs(lf) < 2.0 ** 52) & (np.abs(hf) < 2.0 ** 52) & (lf <= hf)
    lo = np.where(ok, lf, 0).astype(np.int64).tolist()
    hi = np.where(ok, hf, 0).astype(np.int64).tolist()
    out = [0] * x.size
    p1 = p2 = 0
    for i, (a, c, good) in enumerate(zip(lo, hi, ok.tolist(), strict=True)):
        if i == 0:
            v = (a + c) // 2 if good else 0
        elif not good:
            v = p1
        else:
            v = p1 if i == 1 or order == 1 else 2 * p1 - p2
            v = a if v < a else (c if v > c else v)
        out[i] = v
        p2, p1 = p1, v
    return np.array(out, dtype=np.int64)
# ------------------------------------------------------------------ format v2 (compress_v2.c)

MAX_TERMS = 32


def _pred_ok(n: int, lags: list[int], coefs: list[int], shift: int) -> bool:
    return (1 <= len(lags) == len(coefs) <= MAX_TERMS and 0 <= shift <= 32 and n >= 1
            and lags[0] >= 1 and all(b > a for a, b in zip(lags, lags[1:], strict=False))
            and all(-(1 << 31) <= c < (1 << 31) for c in coefs) and lags[-1] < n)


def predict(j: np.ndarray, lags: list[int], coefs: list[int],
            shift: int) -> tuple[int, np.ndarray | None]:
    """``ekz2_predict``: the residuals e[0..n-1) of j[1..n) (uint64) under the predictor
    (vectorised: every prediction reads only j)."""
    n = j.size
    if not _pred_ok(n, lags, coefs, shift):
        return EINVAL, None
    big = lags[-1]
    jj = j.view(np.int64)
    e = np.empty(n - 1, dtype=np.uint64)
    e[: big - 1] = np.diff(j[:big])
    s = np.zeros(n - big, dtype=np.int64)
    with np.errstate(over="ignore"):
        for lag, c in zip(lags, coefs, strict=True):
            s += np.int64(c) * jj[big - lag: n - lag]
    e[big - 1:] = j[big:] - (s >> np.int64(shift)).view(np.uint64)
    return OK, e


def unpredict(e: np.ndarray, n: int, j0: int, lags: list[int], coefs: list[int],
              shift: int) -> tuple[int, np.ndarray | None]:
    """``ekz2_unpredict``: j (uint64[n]) from j[0] and the residuals e[0..n-1).  The
    recurrence is serial: a Python loop (a lookback is vectorised one lag at a time)."""
    if not _pred_ok(n, lags, coefs, shift) or e.size != n - 1:
        return EINVAL, None
    big = lags[-1]
    j = np.empty(n, dtype=np.uint64)
    j[0] = j0
    j[1:big] = np.uint64(j0) + np.cumsum(e[: big - 1], dtype=np.uint64)
    if lags == [big] and coefs == [1] and shift == 0:
        for a in range(big, n, big):
            b = min(a + big, n)
            j[a:b] = j[a - big: b - big] + e[a - 1: b - 1]
        return OK, j
    out = j[:big].tolist()
    ev = e.tolist()
    terms = list(zip(lags, coefs, strict=True))
    for i in range(big, n):
        s = 0
        for lag, c in terms:
            s += c * out[i - lag]
        s &= _U64
        if s >> 63:
            s -= 1 << 64
        out.append(((s >> shift) + ev[i - 1]) & _U64)
    return OK, np.array(out, dtype=np.uint64)


# ------------------------------------------------------------------ format v3: lanes

MAX_LANES = 64


def lanes_geom(n: int, nl: int, maxlag: int) -> tuple[int, int] | None:
    """``ekz2_lanes_geom``: (values a lane, values of the last lane), or None when nl lanes
    of a block of n values do not each hold more than ``maxlag`` values."""
    if not 2 <= nl <= MAX_LANES or n < nl or maxlag < 1:
        return None
    seg = -(-n // nl)
    last = n - (nl - 1) * seg
    if last <= maxlag:
        return None
    return seg, last


def _lanes_ok(n: int, nl: int, lags: list[int], coefs: list[int],
              shift: int) -> tuple[int, int] | None:
    if not _pred_ok(n, lags, coefs, shift):
        return None
    return lanes_geom(n, nl, lags[-1])


def predict_lanes(j: np.ndarray, nl: int, lags: list[int], coefs: list[int],
                  shift: int) -> tuple[int, np.ndarray | None, np.ndarray | None]:
    """``ekz2_predict_lanes``: each lane's v2 residuals (:func:`predict` of its segment),
    interleaved step by step (lane 0, 1, .. of step 1, then step 2, ..), and the lanes'
    first values."""
    geom = _lanes_ok(j.size, nl, lags, coefs, shift)
    if geom is None:
        return EINVAL, None, None
    seg, last = geom
    jt = np.zeros((seg, nl), dtype=np.uint64)
    for m in range(nl):
        lane = j[m * seg: (m + 1) * seg]
        status, e = predict(np.ascontiguousarray(lane), lags, coefs, shift)
        assert status == OK and e is not None
        jt[1: lane.size, m] = e
    e = np.concatenate([jt[1:last].ravel(), jt[last:, : nl - 1].ravel()])
    return OK, e, j[::seg][:nl].copy()


def lanes_extra(j: np.ndarray, nl: int, lags: list[int], coefs: list[int],
                shift: int) -> tuple[int, np.ndarray | None, list[int] | None]:
    """``ekz2_lanes_extra``: (status, hdiff[256] int32, [varint bytes of the lanes' first
    values, bit lengths + 1 of the warm-up deltas, of the one-lane residuals there])."""
    n = j.size
    geom = _lanes_ok(n, nl, lags, coefs, shift)
    if geom is None:
        return EINVAL, None, None
    seg, maxlag = geom[0], lags[-1]
    first = np.arange(1, nl, dtype=np.int64) * seg
    pos = (first[:, None] + np.arange(maxlag, dtype=np.int64)).ravel()
    cu = np.array(coefs, dtype=np.int64).view(np.uint64)  # products wrap
    s = (j[pos[:, None] - np.array(lags, dtype=np.int64)] * cu).sum(axis=1, dtype=np.uint64)
    one = zigzag(j[pos] - (s.view(np.int64) >> np.int64(shift)).view(np.uint64))
    warm = pos.reshape(nl - 1, maxlag)[:, 1:].ravel()
    delta = zigzag(j[warm] - j[warm - 1])
    h = (np.bincount(tokens(delta), minlength=256)
         - np.bincount(tokens(one), minlength=256)).astype(np.int32)
    starts = zigzag(j[first] - j[0])
    nbytes = int(np.sum(1 + (_bitlen(starts) - 1).clip(0) // 7))
    return OK, h, [nbytes, int(np.sum(_bitlen(delta) + 1)), int(np.sum(_bitlen(one) + 1))]


def unpredict_lanes(e: np.ndarray, n: int, nl: int, starts: np.ndarray, lags: list[int],
                    coefs: list[int], shift: int) -> tuple[int, np.ndarray | None]:
    """``ekz2_unpredict_lanes``: j (uint64[n]) from the n - nl interleaved residuals and
    the lanes' first values, each lane by :func:`unpredict`."""
    geom = _lanes_ok(n, nl, lags, coefs, shift)
    if geom is None or e.size != n - nl or starts.size != nl:
        return EINVAL, None
    seg, last = geom
    jt = np.zeros((seg, nl), dtype=np.uint64)
    nfull = nl * (last - 1)
    jt[1:last] = e[:nfull].reshape(last - 1, nl)
    jt[last:, : nl - 1] = e[nfull:].reshape(seg - last, nl - 1)
    j = np.empty(n, dtype=np.uint64)
    for m in range(nl):
        size = seg if m < nl - 1 else last
        status, lane = unpredict(np.ascontiguousarray(jt[1:size, m]), size, int(starts[m]),
                                 lags, coefs, shift)
        assert status == OK and lane is not None
        j[m * seg: m * seg + size] = lane
    return OK, j


def gather(table: np.ndarray, idx: np.ndarray) -> tuple[int, np.ndarray | None]:
    """``ekz2_gather``: table[idx], or ECORRUPT if an index is out of the table."""
    if idx.size and (table.size == 0 or int(idx.max()) >= table.size):
        return ECORRUPT, None
    return OK, table[idx.astype(np.intp)]


def _sum4(x: np.ndarray) -> float:
    """Sum as ``ekz2_sum4``: four interleaved sums in index order (cumsum is sequential),
    combined as (s0 + s1) + (s2 + s3)."""
    full = x.size - x.size % 4
    s = (np.cumsum(x[:full].reshape(-1, 4), axis=0)[-1].tolist() if full
         else [0.0, 0.0, 0.0, 0.0])
    for i in range(full, x.size):
        s[i & 3] += float(x[i])
    return (s[0] + s[1]) + (s[2] + s[3])


def autocorr(j: np.ndarray, p: int) -> tuple[int, np.ndarray | None]:
    """``ekz2_autocorr``: r[0..p] of the mean-removed first difference d of int64 j, every
    sum taken as the C kernel takes it (``_sum4``), so both give the same bits."""
    if j.size < 2 or not 0 <= p < j.size - 1 or p > MAX_TERMS:
        return EINVAL, None
    with np.errstate(over="ignore"):
        d = np.diff(j).astype(np.float64)
    d -= _sum4(d) / d.size
    return OK, np.array([_sum4(d[k:] * d[: d.size - k]) for k in range(p + 1)])


def lag_matches(j: np.ndarray, maxlag: int) -> tuple[int, np.ndarray | None]:
    """``ekz2_lag_matches``: how many values equal the one k back, k = 1..maxlag."""
    if maxlag < 1:
        return EINVAL, None
    return OK, np.array([np.count_nonzero(j[k:] == j[:-k]) if k < j.size else 0
                         for k in range(1, maxlag + 1)], dtype=np.uint32)


def rank(u: np.ndarray, key: np.ndarray) -> tuple[int, np.ndarray | None]:
    """``ekz2_rank``: each key's position in the sorted distinct int64 table u, or
    ECORRUPT when a key is not in it."""
    if u.size < 1:
        return EINVAL, None
    pos = np.searchsorted(u, key, side="right") - 1
    if key.size and (pos.min() < 0 or not np.array_equal(u[np.maximum(pos, 0)], key)):
        return ECORRUPT, None
    return OK, pos.astype(np.uint64)


def pred_hist(j: np.ndarray, run: int, lags: list[int], coefs: list[int],
              shift: int) -> tuple[int, np.ndarray | None]:
    """``ekz2_pred_hist``: token histogram of the predictor's residuals, run by run (the
    first lags[-1] values of each run of ``run`` values skipped)."""
    if not (1 <= len(lags) <= MAX_TERMS and 0 <= shift <= 32 and run >= 1 and lags[0] >= 1
            and all(b > a for a, b in zip(lags, lags[1:], strict=False))):
        return EINVAL, None
    h = np.zeros(256, dtype=np.uint32)
    for a in range(0, j.size, run):
        part = j[a: a + run]
        if part.size > lags[-1]:
            e = predict(part, lags, coefs, shift)[1]
            assert e is not None
            h += hist3(e[lags[-1] - 1:])[:256]
    return OK, h


def split_gather(table: np.ndarray, idx: np.ndarray, lo: np.ndarray, shift: int,
                 dtype: np.dtype) -> tuple[int, np.ndarray | None]:
    """``ekz2_split_gather``: values of ``dtype`` from w = (table[idx] << shift) + lo
    (uint64): the low bytes of w for integers, unsortable(w) at the float's width."""
    if not 1 <= shift <= 63 or table.size < 1:
        return EINVAL, None
    if idx.size and (int(idx.max()) >= table.size or int(lo.max()) >> shift):
        return ECORRUPT, None
    w = (table.view(np.uint64)[idx.astype(np.intp)] << np.uint64(shift)) + lo
    width = np.dtype(dtype).itemsize
    u = w.astype(f"u{width}")  # the low bytes
    if np.dtype(dtype).kind == "f":
        top = np.array(width * 8 - 1, dtype=u.dtype)
        u = u ^ ((np.zeros(1, dtype=u.dtype) - (u >> top)) >> np.array(1, dtype=u.dtype))
    return OK, u.view(dtype)


# ------------------------------------------------------------------ the float-grid search
# (codec._affine_guess; _native/compress_float.c equals it bit for bit)

def unique_counts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, return_counts=True)`` of 1-D finite float64 a without -0.0 (whose
    place among the zeros a sort does not fix), without its general-case overhead."""
    s = np.sort(a)
    keep = np.empty(s.size + 1, dtype=bool)
    keep[0] = keep[-1] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:-1])
    starts = np.flatnonzero(keep)
    return s[starts[:-1]], np.diff(starts)


def affine_guess(x: np.ndarray, sample: int, slack: float, coarse: float, maxg: int,
                 frac: float, offn: int, sweep: int, nsteps: int) -> tuple[float, float] | None:
    """(a, b) of a grid a + k*b that an evenly spaced sample of float32/64 x seems to lie on,
    or None (``codec._affine_guess`` names the parameters: ``_T_GRID_*``; slack and coarse
    are the powers of two 2**_T_GRID_SLACK and 2**_T_GRID_COARSE)."""
    with np.errstate(all="ignore"):
        guess = _affine_guess(x, sample, slack, coarse, maxg, frac, offn, sweep, nsteps)
    if guess is None or not all(math.isfinite(v) for v in guess) or not guess[1] > 0:
        return None
    return guess


def _affine_guess(x: np.ndarray, sample: int, slack: float, coarse: float, maxg: int,
                  frac: float, offn: int, sweep: int,
                  nsteps: int) -> tuple[float, float] | None:
    s = x[sample_positions(x.size, sample)]
    s = s[np.isfinite(s)]
    if s.size < 8:
        return None
    s64 = s.astype(np.float64) + 0.0  # (-0.0 + 0.0 is 0.0)
    u, counts = unique_counts(s64)
    if u.size < 3:
        return None
    # the step: an approximate float gcd of the commonest gaps between distinct values (a
    # gap is exact to a unit in the last place of the largest value; a few such errors add
    # up); values off the grid (fill values) make rare gaps, and the scale of the values
    # leaves out the largest 1 / (2 * offn) of them
    mag = np.abs(s64)
    q = (mag.size - 1) * (2 * offn - 1) // (2 * offn)
    scale = float(np.partition(mag, q)[q]) or float(np.max(mag))
    tol = scale * float(np.finfo(s.dtype).eps) * slack
    # (a step too fine to tell from rounding is none, and so are gaps that fine: the same
    # grid value computed two ways; the gaps to a fill value or two, or to 1 / offn of the
    # values, are passed over)
    floor = tol * coarse
    common = common_gaps(u, floor, tol, maxg)
    ux = u.astype(s.dtype)
    half = np.spacing(np.abs(ux)).astype(np.float64) / 2  # x's rounding interval, +-
    found = None
    for b0 in float_gcd(common, tol, floor, max(2, common.size // offn)):
        found = grid_origin(u, counts, half, b0, frac, offn, sweep)
        if found is not None:
            break
    if found is None:
        return None
    # the float steps next to it (the intervals are computed in rounded arithmetic) and a
    # step whose reciprocal has few decimals (full scale / counts: 10 V / 4095 = 1 / 409.5):
    # the cheapest residuals win
    a, b1 = found
    steps = [b1 + j * float(np.spacing(b1)) for j in range(-nsteps, nsteps + 1)]
    for dec in range(0, 4):
        recip = round(1.0 / b1, dec)
        if recip and abs(1.0 / recip - b1) <= 1e-6 * b1:
            steps.append(1.0 / recip)
            break
    b = np.array([v for v in steps if v > 0 and math.isfinite(v)])
    off, bits = grid_costs(ux, counts.astype(np.float64), a, b, frac)
    ok = np.flatnonzero(off * offn <= 1)
    if ok.size == 0:
        return None
    return a, float(b[ok[np.argmin(bits[ok])]])
