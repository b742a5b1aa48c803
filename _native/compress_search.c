/* The encoder's block search: decisions from a sample in one call (compress_search.h). */
#include "compress_search.h"

#include <math.h>
#include <string.h>

#include "compress.h"

/* LSD radix sort of (key ^ 2^63, position) pairs by 8-bit digits, the digits that are
 * equal for all keys skipped: keys in k[0..m), positions in p[0..m); the sorted pairs end
 * in (k, p) or in the second halves (returned through *ko, *po). */
static void ekz_sort_pairs(uint64_t *k, uint64_t *p, uint64_t *k2, uint64_t *p2, size_t m,
                           uint64_t **ko, uint64_t **po)
{
    static const uint64_t flip = (uint64_t)1 << 63;
    uint32_t cnt[8][256];
    size_t i;
    int d;
    memset(cnt, 0, sizeof cnt);
    for (i = 0; i < m; i++) {
        const uint64_t v = k[i];
        for (d = 0; d < 8; d++)
            cnt[d][(v >> (8 * d)) & 255u]++;
    }
    for (d = 0; d < 8; d++) {
        uint32_t pos[256], s = 0;
        unsigned b;
        const uint64_t *ks = k, *ps = p;
        uint64_t *kt = k2, *pt = p2, *tmp;
        if (cnt[d][(k[0] >> (8 * d)) & 255u] == m)
            continue; /* every key has this digit */
        for (b = 0; b < 256u; b++) {
            pos[b] = s;
            s += cnt[d][b];
        }
        for (i = 0; i < m; i++) {
            const uint32_t at = pos[(ks[i] >> (8 * d)) & 255u]++;
            kt[at] = ks[i];
            pt[at] = ps[i];
        }
        tmp = k, k = k2, k2 = tmp;
        tmp = p, p = p2, p2 = tmp;
    }
    (void)flip;
    *ko = k;
    *po = p;
}

static double ekz_least_cost(const uint64_t *j, size_t n)
{
    uint32_t h[768];
    double c0, c1, c2, best;
    memset(h, 0, sizeof h);
    ekz_hist3(j, n, h);
    c0 = ekz_cost(h);
    c1 = ekz_cost(h + 256);
    c2 = ekz_cost(h + 512);
    best = c0;
    if (c1 < best)
        best = c1;
    if (c2 < best)
        best = c2;
    return best;
}

int ekz_dict_probe(const int64_t *keys, size_t m, size_t n, int want, int64_t *u,
                   int64_t *ranks, uint64_t *work, uint64_t *counts, double *out)
{
    static const uint64_t flip = (uint64_t)1 << 63;
    uint64_t *k = work, *p = work + m, *ks, *ps;
    size_t i, t = 0;
    uint64_t f1 = 0, f2 = 0;
    if (m < 1 || m >= ((size_t)1 << 32) || n < m)
        return EKZ_EINVAL;
    for (i = 0; i < m; i++) {
        k[i] = (uint64_t)keys[i] ^ flip;
        p[i] = i;
    }
    ekz_sort_pairs(k, p, work + 2 * m, work + 3 * m, m, &ks, &ps);
    for (i = 0; i < m;) { /* runs of equal keys: one table entry each */
        size_t e = i + 1;
        while (e < m && ks[e] == ks[i])
            e++;
        u[t] = (int64_t)(ks[i] ^ flip);
        for (size_t q = i; q < e; q++)
            ranks[ps[q]] = (int64_t)t;
        f1 += e - i == 1;
        f2 += e - i == 2;
        t++;
        i = e;
    }
    counts[0] = t;
    counts[1] = f1;
    counts[2] = f2;
    if (want & EKZ_PROBE_RANKS) {
        /* _spread: min(n, T + f1^2 / (2 max(f2, 1)), T n / m) in Python's float order */
        const double size = (double)t;
        double total = (double)n, chao, lin, factor;
        chao = size + (double)(f1 * f1) / (2.0 * (double)(f2 > 1 ? f2 : 1));
        lin = (double)(t * n) / (double)m; /* (t n < 2^53: exact, one rounding) */
        if (chao < total)
            total = chao;
        if (lin < total)
            total = lin;
        factor = total / size;
        if (!(factor > 1.0))
            factor = 1.0;
        out[1] = total;
        out[2] = factor;
        if (factor > 1.25)
            for (i = 0; i < m; i++)
                ranks[i] = (int64_t)nearbyint((double)ranks[i] * factor);
        out[0] = ekz_least_cost((const uint64_t *)ranks, m);
    }
    if (want & EKZ_PROBE_TABLE)
        out[3] = ekz_least_cost((const uint64_t *)u, t);
    return EKZ_OK;
}

/* floor(x / 2^s) of an int64 (an arithmetic right shift, written for any C99 compiler) */
static inline int64_t ekz_asr64(int64_t x, int s)
{
    return x >= 0 ? (int64_t)((uint64_t)x >> s) : (int64_t)~(~(uint64_t)x >> s);
}

int ekz_split_probe(const int64_t *small, size_t m, size_t n, double limit, uint32_t *work,
                    int64_t *ranks, double *out)
{
    static const int bins_try[3] = {6, 9, 12};
    int64_t lo, hi;
    uint64_t span;
    int width = 0, found = 0;
    size_t i;
    if (m < 1 || n < 1)
        return EKZ_EINVAL;
    lo = hi = small[0];
    for (i = 1; i < m; i++) {
        lo = small[i] < lo ? small[i] : lo;
        hi = small[i] > hi ? small[i] : hi;
    }
    for (span = (uint64_t)hi - (uint64_t)lo; span; span >>= 1)
        width++;
    for (int b = 0; b < 3; b++) {
        const int shift = width - bins_try[b];
        uint32_t h[256];
        int64_t hlo, hhi;
        double low_bits, table, est;
        size_t range, t = 0;
        if (shift < 1 || shift > 63)
            continue;
        memset(h, 0, sizeof h);
        for (i = 0; i < m; i++) { /* the low bits (in ranks' space first) */
            const uint64_t hv = (uint64_t)ekz_asr64(small[i], shift);
            ranks[i] = (int64_t)((uint64_t)small[i] - (hv << shift));
        }
        ekz_hist1((const uint64_t *)ranks, m, h);
        low_bits = ekz_cost(h);
        if (low_bits >= limit)
            continue;
        hlo = ekz_asr64(lo, shift);
        hhi = ekz_asr64(hi, shift);
        range = (size_t)((uint64_t)hhi - (uint64_t)hlo) + 1u;
        if (range > 8192u)
            return EKZ_EINVAL; /* (never: the high parts span at most 2^12 + 1) */
        memset(work, 0, range * sizeof *work);
        for (i = 0; i < m; i++)
            work[(uint64_t)ekz_asr64(small[i], shift) - (uint64_t)hlo] = 1;
        for (size_t q = 0; q < range; q++) { /* present -> rank + 1 */
            if (work[q])
                work[q] = (uint32_t)++t;
        }
        table = 16.0 * (double)t * (double)m / (double)n;
        if (low_bits + table >= limit)
            continue;
        for (i = 0; i < m; i++)
            ranks[i] = (int64_t)work[(uint64_t)ekz_asr64(small[i], shift) - (uint64_t)hlo] - 1;
        est = ekz_least_cost((const uint64_t *)ranks, m) + low_bits + table;
        if (est < limit) {
            found = shift;
            limit = est;
        }
    }
    out[0] = limit;
    return found;
}
