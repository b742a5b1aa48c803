/* bsdiff-class matcher: see update.h.  The algorithm is Colin Percival's bsdiff 4 scan
 * (approximate matches found through a suffix array, extended forwards and backwards while
 * at least half the bytes agree), written afresh with two changes:
 *   - the suffix-array search keeps the common-prefix lengths of both bounds, so each step
 *     compares only past what is already known to match;
 *   - a long match that does not beat the current alignment by more than 8 bytes is
 *     skipped over instead of re-searched one byte later, which keeps long runs (zero
 *     padding, repeated tables) linear instead of quadratic.
 */
#include "update.h"

#include <string.h>

#define EK_OK 0
#define SKIP_MIN 64

static int64_t match_from(const uint8_t *a, int64_t an, const uint8_t *b, int64_t bn,
                          int64_t from)
{
    int64_t n = an < bn ? an : bn;
    int64_t i = from;
    while (i < n && a[i] == b[i]) {
        i++;
    }
    return i;
}

/* Longest match of b[0..bn) among the suffixes of old; its start goes to *pos. */
static int64_t sa_search(const int32_t *sa, const uint8_t *old, int64_t oldsize,
                         const uint8_t *b, int64_t bn, int64_t *pos)
{
    int64_t lo = 0, hi = oldsize - 1, llo, lhi;
    if (oldsize <= 0 || bn <= 0) {
        *pos = 0;
        return 0;
    }
    llo = match_from(old + sa[lo], oldsize - sa[lo], b, bn, 0);
    lhi = match_from(old + sa[hi], oldsize - sa[hi], b, bn, 0);
    while (hi - lo >= 2) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t s = sa[mid];
        int64_t k = llo < lhi ? llo : lhi;
        int64_t m = match_from(old + s, oldsize - s, b, bn, k);
        /* suffix < b when it ends first or its byte after the common part is smaller */
        int less = (m == oldsize - s && m < bn) || (m < bn && m < oldsize - s && old[s + m] < b[m]);
        if (m == bn) {
            *pos = s;
            return m;
        }
        if (less) {
            lo = mid;
            llo = m;
        } else {
            hi = mid;
            lhi = m;
        }
    }
    if (llo >= lhi) {
        *pos = sa[lo];
        return llo;
    }
    *pos = sa[hi];
    return lhi;
}

enum { S_SCAN, S_LEN, S_POS, S_LASTSCAN, S_LASTPOS, S_LASTOFF, S_STARTED };

int ek_bsdiff_scan(const uint8_t *old, int64_t oldsize, const uint8_t *newb, int64_t newsize,
                   const int32_t *sa, int64_t *state, int64_t *ctrl, int64_t cap,
                   int64_t *nctrl)
{
    int64_t scan = state[S_SCAN], len = state[S_LEN], pos = state[S_POS];
    int64_t lastscan = state[S_LASTSCAN], lastpos = state[S_LASTPOS];
    int64_t lastoffset = state[S_LASTOFF];
    int64_t n = 0;
    if (oldsize < 0 || newsize < 0 || cap < 1 || scan < 0 || scan > newsize) {
        return EK_UPD_EINVAL;
    }
    *nctrl = 0;
    while (scan < newsize) {
        int64_t oldscore = 0, scsc;
        if (n >= cap) {
            state[S_SCAN] = scan;
            state[S_LEN] = len;
            state[S_POS] = pos;
            state[S_LASTSCAN] = lastscan;
            state[S_LASTPOS] = lastpos;
            state[S_LASTOFF] = lastoffset;
            *nctrl = n;
            return EK_UPD_MORE;
        }
        scan += len;
        scsc = scan;
        for (; scan < newsize; scan++) {
            len = sa_search(sa, old, oldsize, newb + scan, newsize - scan, &pos);
            for (; scsc < scan + len; scsc++) {
                if (scsc + lastoffset < oldsize && newb[scsc] == old[scsc + lastoffset]) {
                    oldscore++;
                }
            }
            if ((len == oldscore && len != 0) || len > oldscore + 8) {
                break;
            }
            if (scan + lastoffset < oldsize && newb[scan] == old[scan + lastoffset]) {
                oldscore--;
            }
            if (len >= SKIP_MIN) {
                /* the current alignment already covers this match to within 8 bytes:
                   jump most of it instead of re-searching every suffix of it */
                int64_t stop = scan + len - 8, j;
                for (j = scan + 1; j < stop; j++) {
                    if (j + lastoffset < oldsize && newb[j] == old[j + lastoffset]) {
                        oldscore--;
                    }
                }
                scan = stop - 1;
            }
        }
        if (len != oldscore || scan == newsize) {
            int64_t s = 0, sf = 0, lenf = 0, lenb = 0, i;
            for (i = 0; lastscan + i < scan && lastpos + i < oldsize;) {
                if (old[lastpos + i] == newb[lastscan + i]) {
                    s++;
                }
                i++;
                if (s * 2 - i > sf * 2 - lenf) {
                    sf = s;
                    lenf = i;
                }
            }
            if (scan < newsize) {
                int64_t sb = 0;
                s = 0;
                for (i = 1; scan >= lastscan + i && pos >= i; i++) {
                    if (old[pos - i] == newb[scan - i]) {
                        s++;
                    }
                    if (s * 2 - i > sb * 2 - lenb) {
                        sb = s;
                        lenb = i;
                    }
                }
            }
            if (lastscan + lenf > scan - lenb) {
                int64_t overlap = (lastscan + lenf) - (scan - lenb), ss = 0, lens = 0;
                s = 0;
                for (i = 0; i < overlap; i++) {
                    if (newb[lastscan + lenf - overlap + i] == old[lastpos + lenf - overlap + i]) {
                        s++;
                    }
                    if (newb[scan - lenb + i] == old[pos - lenb + i]) {
                        s--;
                    }
                    if (s > ss) {
                        ss = s;
                        lens = i + 1;
                    }
                }
                lenf += lens - overlap;
                lenb -= lens;
            }
            ctrl[4 * n + 0] = lastscan;
            ctrl[4 * n + 1] = lastpos;
            ctrl[4 * n + 2] = lenf;
            ctrl[4 * n + 3] = (scan - lenb) - (lastscan + lenf);
            n++;
            lastscan = scan - lenb;
            lastpos = pos - lenb;
            lastoffset = pos - scan;
        }
    }
    state[S_SCAN] = scan;
    state[S_LEN] = len;
    state[S_POS] = pos;
    state[S_LASTSCAN] = lastscan;
    state[S_LASTPOS] = lastpos;
    state[S_LASTOFF] = lastoffset;
    state[S_STARTED] = 1;
    *nctrl = n;
    return EK_OK;
}

int ek_bsdiff_streams(const uint8_t *old, int64_t oldsize, const uint8_t *newb,
                      int64_t newsize, const int64_t *ctrl, int64_t n, uint8_t *diff,
                      int64_t diffcap, uint8_t *extra, int64_t extracap)
{
    int64_t k, d = 0, e = 0;
    for (k = 0; k < n; k++) {
        int64_t np = ctrl[4 * k], op = ctrl[4 * k + 1], add = ctrl[4 * k + 2];
        int64_t copy = ctrl[4 * k + 3], i;
        if (np < 0 || op < 0 || add < 0 || copy < 0 || add > newsize - np
            || add > oldsize - op || copy > newsize - np - add || add > diffcap - d
            || copy > extracap - e) {
            return EK_UPD_EINVAL;
        }
        for (i = 0; i < add; i++) {
            diff[d + i] = (uint8_t)(newb[np + i] - old[op + i]);
        }
        d += add;
        memcpy(extra + e, newb + np + add, (size_t)copy);
        e += copy;
    }
    return EK_OK;
}

int ek_bspatch_add(uint8_t *diff, const uint8_t *old, int64_t n)
{
    int64_t i;
    if (n < 0) {
        return EK_UPD_EINVAL;
    }
    for (i = 0; i < n; i++) {
        diff[i] = (uint8_t)(diff[i] + old[i]);
    }
    return EK_OK;
}
