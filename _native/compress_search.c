/* The encoder's block search: decisions from a sample in one call (compress_search.h). */
#include "compress_search.h"

#include <math.h>
#include <string.h>

#include "compress.h"

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
