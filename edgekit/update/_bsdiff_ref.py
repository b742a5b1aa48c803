"""Pure Python/numpy references of the matcher kernels in ``_native/update.c``.

They follow the C code statement by statement (same search, same skip of long matches, same
extension rules), so the native and reference backends produce byte-identical patches; the
differential tests hold them to that.  They are slow (a Python loop per byte): the reference
backend is for checking and for machines without a compiler, on small inputs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

SKIP_MIN = 64


def suffix_array(data: bytes) -> np.ndarray:
    """Suffix array of ``data`` (int32) by prefix doubling with numpy sorts: O(n log^2 n).

    A shorter suffix sorts before a longer one that it prefixes (the end of the data is
    smaller than every byte), the order libdivsufsort produces."""
    n = len(data)
    if n == 0:
        return np.empty(0, dtype=np.int32)
    rank = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    k = 1
    while True:
        second = np.full(n, -1, dtype=np.int64)
        if k < n:
            second[: n - k] = rank[k:]
        order = np.lexsort((second, rank))
        r1, r2 = rank[order], second[order]
        changed = np.empty(n, dtype=bool)
        changed[0] = False
        changed[1:] = (r1[1:] != r1[:-1]) | (r2[1:] != r2[:-1])
        new_rank = np.empty(n, dtype=np.int64)
        new_rank[order] = np.cumsum(changed)
        rank = new_rank
        if int(rank.max()) == n - 1 or k >= n:
            return order.astype(np.int32)
        k *= 2


def _match_from(a: bytes, ai: int, b: bytes, bi: int, n: int, start: int) -> int:
    i = start
    while i < n and a[ai + i] == b[bi + i]:
        i += 1
    return i


def _search(sa: np.ndarray, old: bytes, new: bytes, at: int) -> tuple[int, int]:
    oldsize, bn = len(old), len(new) - at
    if oldsize <= 0 or bn <= 0:
        return 0, 0
    lo, hi = 0, oldsize - 1
    slo, shi = int(sa[lo]), int(sa[hi])
    llo = _match_from(old, slo, new, at, min(oldsize - slo, bn), 0)
    lhi = _match_from(old, shi, new, at, min(oldsize - shi, bn), 0)
    while hi - lo >= 2:
        mid = lo + (hi - lo) // 2
        s = int(sa[mid])
        m = _match_from(old, s, new, at, min(oldsize - s, bn), min(llo, lhi))
        if m == bn:
            return m, s
        less = (m == oldsize - s and m < bn) or (
            m < bn and m < oldsize - s and old[s + m] < new[at + m])
        if less:
            lo, llo = mid, m
        else:
            hi, lhi = mid, m
    if llo >= lhi:
        return llo, int(sa[lo])
    return lhi, int(sa[hi])


def scan(old: bytes, new: bytes, sa: np.ndarray) -> Iterator[tuple[int, int, int, int]]:
    """Control entries ``(newpos, oldpos, addlen, copylen)`` tiling ``new`` (see update.h)."""
    oldsize, newsize = len(old), len(new)
    scan_ = length = pos = lastscan = lastpos = lastoffset = 0
    while scan_ < newsize:
        oldscore = 0
        scan_ += length
        scsc = scan_
        while scan_ < newsize:
            length, pos = _search(sa, old, new, scan_)
            while scsc < scan_ + length:
                if scsc + lastoffset < oldsize and new[scsc] == old[scsc + lastoffset]:
                    oldscore += 1
                scsc += 1
            if (length == oldscore and length != 0) or length > oldscore + 8:
                break
            if scan_ + lastoffset < oldsize and new[scan_] == old[scan_ + lastoffset]:
                oldscore -= 1
            if length >= SKIP_MIN:
                stop = scan_ + length - 8
                for j in range(scan_ + 1, stop):
                    if j + lastoffset < oldsize and new[j] == old[j + lastoffset]:
                        oldscore -= 1
                scan_ = stop - 1
            scan_ += 1
        if length != oldscore or scan_ == newsize:
            s = sf = lenf = 0
            i = 0
            while lastscan + i < scan_ and lastpos + i < oldsize:
                if old[lastpos + i] == new[lastscan + i]:
                    s += 1
                i += 1
                if s * 2 - i > sf * 2 - lenf:
                    sf, lenf = s, i
            lenb = 0
            if scan_ < newsize:
                s = sb = 0
                i = 1
                while scan_ >= lastscan + i and pos >= i:
                    if old[pos - i] == new[scan_ - i]:
                        s += 1
                    if s * 2 - i > sb * 2 - lenb:
                        sb, lenb = s, i
                    i += 1
            if lastscan + lenf > scan_ - lenb:
                overlap = (lastscan + lenf) - (scan_ - lenb)
                s = ss = lens = 0
                for i in range(overlap):
                    if new[lastscan + lenf - overlap + i] == old[lastpos + lenf - overlap + i]:
                        s += 1
                    if new[scan_ - lenb + i] == old[pos - lenb + i]:
                        s -= 1
                    if s > ss:
                        ss, lens = s, i + 1
                lenf += lens - overlap
                lenb -= lens
            yield lastscan, lastpos, lenf, (scan_ - lenb) - (lastscan + lenf)
            lastscan, lastpos, lastoffset = scan_ - lenb, pos - lenb, pos - scan_


def streams(old: np.ndarray, new: np.ndarray, ctrl: np.ndarray) -> tuple[bytes, bytes]:
    """Diff bytes (new - old, wrapping) and extra bytes of a batch of control entries."""
    diff, extra = [], []
    for newpos, oldpos, add, copy in ctrl.tolist():
        diff.append((new[newpos:newpos + add] - old[oldpos:oldpos + add]).tobytes())
        extra.append(new[newpos + add:newpos + add + copy].tobytes())
    return b"".join(diff), b"".join(extra)
