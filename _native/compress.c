/* Block codec kernels: see compress.h for the definitions, docs/compress/format.md for the
 * format and edgekit/compress/_codec_ref.py for the numpy references that tests hold these
 * to, bit for bit.  Everything that can overflow is done on unsigned types (wrapping is
 * defined behaviour there); every read of encoded bytes is bounds-checked. */
#include "compress.h"

#include <math.h>
#include <string.h>

#define EKZ_L 32768u                  /* rANS state lower bound: states live in [L, 2^31) */
#define EKZ_M 4096u                   /* probability scale, 1 << EKZ_PROB_BITS */
#define EKZ_MASK 4095u
/* interleaved rANS states: four for streams of 1024 codes or more, else one (a state costs
 * 4 bytes of flush; four hide the decoder's latency on long streams) */
#define EKZ_NSTATES(codes) ((codes) >= 1024u ? 4u : 1u)

/* ------------------------------------------------------------------ tokens */

static unsigned ekz_bitlen(uint64_t z) /* z > 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return 64u - (unsigned)__builtin_clzll(z);
#else
    unsigned b = 0;
    while (z) {
        b++;
        z >>= 1;
    }
    return b;
#endif
}

/* ekz_token of the codes below 1024, by lookup: most codes of real data are small, and
 * the branch to the computed token is then predictable (the computed token's own
 * branch on z < 16 is not, where small and large codes mix) */
static const uint8_t ekz_small_token[1024] = {
    0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,16,16,16,17,17,17,17,18,18,18,18,19,19,19,19,
    20,20,20,20,20,20,20,20,21,21,21,21,21,21,21,21,22,22,22,22,22,22,22,22,23,23,23,23,23,23,23,23,
    24,24,24,24,24,24,24,24,24,24,24,24,24,24,24,24,25,25,25,25,25,25,25,25,25,25,25,25,25,25,25,25,
    26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,27,27,27,27,27,27,27,27,27,27,27,27,27,27,27,27,
    28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,
    29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,
    30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,
    31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,
    32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,
    32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,
    33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,
    33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,
    34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,
    34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,
    35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,
    35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,
    36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,
    36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,
    36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,
    36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,
    37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,
    37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,
    37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,
    37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,
    38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,
    38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,
    38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,
    38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,
    39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,
    39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,
    39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,
    39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,
};

static inline unsigned ekz_token(uint64_t z)
{
    unsigned b;
    if (z < 1024u)
        return ekz_small_token[z];
    b = ekz_bitlen(z);
    return 16u + 4u * (b - 5u) + (unsigned)((z >> (b - 3u)) & 3u);
}

/* base value and number of extra bits of each token */
static void ekz_token_tables(uint64_t *base, uint8_t *nbits)
{
    unsigned t;
    for (t = 0; t < 256u; t++) {
        if (t < 16u) {
            base[t] = t;
            nbits[t] = 0;
        } else {
            unsigned b = (t - 16u) / 4u + 5u, m = (t - 16u) % 4u;
            base[t] = (uint64_t)(4u + m) << (b - 3u);
            nbits[t] = (uint8_t)(b - 3u);
        }
    }
}

static inline uint64_t ekz_zz(uint64_t v) { return (v << 1) ^ (0u - (v >> 63)); }
static inline uint64_t ekz_unzz(uint64_t z) { return (z >> 1) ^ (0u - (z & 1u)); }

/* order-k delta of j at i (wrapping), with implicit zeros before j[0] */
static inline uint64_t ekz_delta_at(const uint64_t *j, size_t i, int order)
{
    if (order == 0)
        return j[i];
    if (order == 1)
        return i ? j[i] - j[i - 1] : j[0];
    if (i >= 2)
        return j[i] - (j[i - 1] << 1) + j[i - 2];
    return i ? j[1] - (j[0] << 1) : j[0];
}

static unsigned ekz_bitlen32(uint32_t v)
{
    unsigned b = 0;
    while (v) {
        b++;
        v >>= 1;
    }
    return b;
}

/* Mirrors the encoder's choice of table precision (codec._table): pb 12, and 10, 8, 6 for
 * streams under 8192 codes with at most 2**pb / 2 tokens; each costs a table of
 * (maxtok + 1) fields of the bit length of the largest scaled frequency, plus the codes at
 * -log2 of their scaled frequencies. */
double ekz_cost(const uint32_t *h)
{
    unsigned t, present = 0, maxtok = 0, pb;
    double n = 0.0, extra = 0.0, best = -1.0;
    uint32_t hmax = 0;
    uint64_t base[256];
    uint8_t nbits[256];
    ekz_token_tables(base, nbits);
    for (t = 0; t < 256u; t++) {
        if (h[t]) {
            n += (double)h[t];
            extra += (double)h[t] * nbits[t];
            present++;
            maxtok = t;
            hmax = h[t] > hmax ? h[t] : hmax;
        }
    }
    if (present == 0)
        return 8.0;
    if (present == 1)
        return extra + 24.0;
    for (pb = 12; pb >= 6; pb -= 2) {
        double scale = (double)(1u << pb), bits;
        uint32_t fmax;
        if (pb < 12 && (n >= 8192.0 || 2u * present > (1u << pb)))
            break;
        fmax = (uint32_t)((double)hmax * scale / n + 0.5);
        bits = 16.0 + 8.0 * (double)(((maxtok + 1u) * ekz_bitlen32(fmax) + 7u) / 8u);
        for (t = 0; t <= maxtok; t++) {
            if (h[t]) {
                double f = floor((double)h[t] * scale / n + 0.5);
                bits += (double)h[t] * ((double)pb - log2(f < 1.0 ? 1.0 : f));
            }
        }
        if (best < 0.0 || bits < best)
            best = bits;
    }
    /* kind byte and lengths, then the flushed rANS states */
    return best + extra + 24.0 + 32.0 * (n >= 1024.0 ? 4.0 : 1.0);
}

/* codec table choice: frequencies of the present tokens scaled to sum to 2**pb, each >= 1;
 * the rounding remainder goes to (or is taken from) the largest, first on ties */
static int ekz_normalize(const uint32_t *h, const uint8_t *idx, unsigned cnt, unsigned pb,
                         uint64_t n, uint32_t *f)
{
    uint64_t prob = (uint64_t)1 << pb, sum = 0;
    int64_t diff;
    unsigned u;
    for (u = 0; u < cnt; u++) {
        uint64_t v = ((uint64_t)h[idx[u]] * prob + n / 2u) / n;
        f[idx[u]] = (uint32_t)(v < 1u ? 1u : v);
        sum += f[idx[u]];
    }
    diff = (int64_t)prob - (int64_t)sum;
    if (diff > 0) {
        unsigned best = idx[0];
        for (u = 1; u < cnt; u++)
            if (h[idx[u]] > h[best])
                best = idx[u];
        f[best] += (uint32_t)diff;
    }
    while (diff < 0) {
        unsigned best = idx[0];
        uint32_t take;
        for (u = 1; u < cnt; u++)
            if (f[idx[u]] > f[best])
                best = idx[u];
        take = f[best] / 2u;
        if ((int64_t)take > -diff)
            take = (uint32_t)(-diff);
        if (take == 0)
            return EKZ_EINVAL;
        f[best] -= take;
        diff += take;
    }
    return EKZ_OK;
}

int ekz_table(const uint32_t *h, uint16_t *freq, uint8_t *out, size_t cap, size_t *len)
{
    uint8_t idx[256];
    uint32_t f[256], bf[256];
    unsigned t, cnt = 0, maxtok = 0, top, tries[3], ntry, q, bpb = 0, nbits, fmax;
    uint64_t n = 0, acc;
    double best = 0.0;
    int have = 0;
    size_t need, o, bit;

    for (t = 0; t < 256u; t++) {
        if (h[t]) {
            idx[cnt++] = (uint8_t)t;
            n += h[t];
            maxtok = t;
        }
    }
    if (cnt < 2u)
        return EKZ_EINVAL;
    if (n >= 8192u) {
        top = 12u;
    } else {
        top = 2u * ((ekz_bitlen(n) + 1u) / 2u);
        top = top < 6u ? 6u : (top > 12u ? 12u : top);
    }
    ntry = 0;
    if (top > 6u) {
        tries[ntry++] = top;
        tries[ntry++] = top - 2u;
    } else {
        tries[ntry++] = 6u;
    }
    tries[ntry++] = 12u;
    for (q = 0; q < ntry; q++) {
        unsigned pb = tries[q], u;
        double bits, s = 0.0;
        if (have && pb == 12u && top < 12u)
            break;
        if (pb < 12u && 2u * cnt > (1u << pb))
            continue;
        memset(f, 0, sizeof f);
        if (ekz_normalize(h, idx, cnt, pb, n, f) != EKZ_OK)
            return EKZ_EINVAL;
        fmax = 0;
        for (u = 0; u < cnt; u++)
            fmax = f[idx[u]] > fmax ? f[idx[u]] : fmax;
        nbits = ekz_bitlen(fmax);
        for (u = 0; u < cnt; u++)
            s += (double)h[idx[u]] * ((double)pb - log2((double)f[idx[u]]));
        bits = (double)(16u + 8u * (((maxtok + 1u) * nbits + 7u) / 8u)) + s;
        if (!have || bits < best) {
            have = 1;
            best = bits;
            bpb = pb;
            memcpy(bf, f, sizeof f);
        }
    }
    fmax = 0;
    for (t = 0; t <= maxtok; t++)
        fmax = bf[t] > fmax ? bf[t] : fmax;
    nbits = ekz_bitlen(fmax);
    need = 2u + ((size_t)(maxtok + 1u) * nbits + 7u) / 8u;
    if (cap < need)
        return EKZ_ENOSPC;
    out[0] = (uint8_t)maxtok;
    out[1] = (uint8_t)((bpb << 4) | nbits);
    o = 2;
    acc = 0;
    bit = 0;
    for (t = 0; t <= maxtok; t++) {
        acc |= (uint64_t)bf[t] << bit;
        bit += nbits;
        while (bit >= 8u) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            bit -= 8u;
        }
    }
    if (bit)
        out[o++] = (uint8_t)acc;
    for (t = 0; t < 256u; t++)
        freq[t] = (uint16_t)(bf[t] << (EKZ_PROB_BITS - bpb));
    *len = o;
    return EKZ_OK;
}

int ekz_unpack_freq(const uint8_t *src, size_t len, unsigned count, unsigned nbits,
                    unsigned pb, uint16_t *freq)
{
    unsigned t;
    uint32_t sum = 0;
    size_t need = ((size_t)count * nbits + 7u) / 8u;
    if (count == 0 || count > 256u || nbits < 1u || nbits > 12u || pb < 4u || pb > 12u ||
        len < need)
        return EKZ_ECORRUPT;
    memset(freq, 0, 256u * sizeof *freq);
    for (t = 0; t < count; t++) {
        size_t bit = (size_t)t * nbits;
        uint32_t v = 0;
        unsigned b;
        for (b = 0; b < nbits; b++, bit++)
            v |= (uint32_t)((src[bit >> 3] >> (bit & 7u)) & 1u) << b;
        if (v >= (1u << pb))
            return EKZ_ECORRUPT;
        freq[t] = (uint16_t)(v << (EKZ_PROB_BITS - pb));
        sum += v;
    }
    return sum == (1u << pb) ? EKZ_OK : EKZ_ECORRUPT;
}

int ekz_hist3(const uint64_t *j, size_t n, uint32_t *hist)
{
    /* two banks of counts, even and odd positions: consecutive equal tokens (the common
     * case) then do not wait on each other's increments */
    uint32_t h[2][768];
    size_t i, t;
    uint64_t p1, p2; /* j[i-1], j[i-2] */
    if (n == 0)
        return EKZ_OK;
    hist[ekz_token(ekz_zz(j[0]))]++;
    if (n == 1)
        return EKZ_OK;
    hist[ekz_token(ekz_zz(j[1]))]++;
    hist[256u + ekz_token(ekz_zz(j[1] - j[0]))]++;
    memset(h, 0, sizeof h);
    p2 = j[0];
    p1 = j[1];
    for (i = 2; i + 1 < n; i += 2) {
        uint64_t x = j[i], y = j[i + 1];
        uint64_t d1 = x - p1, e1 = y - x;
        uint64_t d2 = d1 - (p1 - p2), e2 = e1 - d1;
        h[0][ekz_token(ekz_zz(x))]++;
        h[1][ekz_token(ekz_zz(y))]++;
        h[0][256u + ekz_token(ekz_zz(d1))]++;
        h[1][256u + ekz_token(ekz_zz(e1))]++;
        h[0][512u + ekz_token(ekz_zz(d2))]++;
        h[1][512u + ekz_token(ekz_zz(e2))]++;
        p2 = x;
        p1 = y;
    }
    if (i < n) {
        uint64_t x = j[i];
        hist[ekz_token(ekz_zz(x))]++;
        hist[256u + ekz_token(ekz_zz(x - p1))]++;
        hist[512u + ekz_token(ekz_zz(x - (p1 << 1) + p2))]++;
    }
    for (t = 0; t < 768u; t++)
        hist[t] += h[0][t] + h[1][t];
    return EKZ_OK;
}

/* hist[0..256) += the order-0 token histogram of j (ekz_hist3's first row alone: a
 * residual stream is coded at order 0). */
int ekz_hist1(const uint64_t *j, size_t n, uint32_t *hist)
{
    uint32_t h[256];
    size_t i;
    unsigned t;
    memset(h, 0, sizeof h);
    for (i = 0; i + 1 < n; i += 2) {
        hist[ekz_token(ekz_zz(j[i]))]++;
        h[ekz_token(ekz_zz(j[i + 1]))]++;
    }
    if (i < n)
        hist[ekz_token(ekz_zz(j[i]))]++;
    for (t = 0; t < 256u; t++)
        hist[t] += h[t];
    return EKZ_OK;
}

/* ------------------------------------------------------------------ bit streams */

typedef struct {
    uint8_t *p, *end;
    uint64_t acc;
    unsigned cnt;
    int err;
} ekz_bw;

static inline void ekz_put(ekz_bw *w, uint64_t v, unsigned nb) /* nb <= 32 */
{
    w->acc |= v << w->cnt;
    w->cnt += nb;
    if (w->cnt >= 32u) {
        if (w->end - w->p < 4) {
            w->err = 1;
            w->cnt -= 32u;
            w->acc >>= 32;
            return;
        }
        w->p[0] = (uint8_t)w->acc;
        w->p[1] = (uint8_t)(w->acc >> 8);
        w->p[2] = (uint8_t)(w->acc >> 16);
        w->p[3] = (uint8_t)(w->acc >> 24);
        w->p += 4;
        w->acc >>= 32;
        w->cnt -= 32u;
    }
}

static inline void ekz_put_wide(ekz_bw *w, uint64_t v, unsigned nb) /* nb <= 64 */
{
    if (nb > 32u) {
        ekz_put(w, v & 0xffffffffu, 32u);
        ekz_put(w, v >> 32, nb - 32u);
    } else {
        ekz_put(w, v, nb);
    }
}

typedef struct {
    const uint8_t *p, *end;
    uint64_t acc;
    unsigned cnt;
} ekz_br;

static inline uint64_t ekz_ld64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

static inline void ekz_refill(ekz_br *r)
{
    if (r->end - r->p >= 8) {
        r->acc |= ekz_ld64(r->p) << r->cnt;
        r->p += (63u - r->cnt) >> 3;
        r->cnt |= 56u;
    } else {
        while (r->cnt <= 56u && r->p < r->end) {
            r->acc |= (uint64_t)*r->p++ << r->cnt;
            r->cnt += 8u;
        }
    }
}

/* nb <= 32; returns -1 past the end of the stream */
static inline int ekz_get(ekz_br *r, unsigned nb, uint64_t *v)
{
    if (r->cnt < nb) {
        ekz_refill(r);
        if (r->cnt < nb)
            return -1;
    }
    *v = r->acc & ((((uint64_t)1) << nb) - 1u);
    r->acc = nb < 64u ? r->acc >> nb : 0;
    r->cnt -= nb;
    return 0;
}

static inline int ekz_get_wide(ekz_br *r, unsigned nb, uint64_t *v)
{
    uint64_t lo, hi;
    if (nb <= 32u)
        return ekz_get(r, nb, v);
    if (ekz_get(r, 32u, &lo) || ekz_get(r, nb - 32u, &hi))
        return -1;
    *v = lo | (hi << 32);
    return 0;
}

/* ------------------------------------------------------------------ rANS coder */

static int ekz_check_freq(const uint16_t *freq, uint32_t *start)
{
    unsigned t;
    uint32_t sum = 0;
    for (t = 0; t < 256u; t++) {
        if (freq[t] >= EKZ_M)
            return EKZ_EINVAL;
        start[t] = sum;
        sum += freq[t];
    }
    return sum == EKZ_M ? EKZ_OK : EKZ_EINVAL;
}

static inline void ekz_st64(uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    p[4] = (uint8_t)(v >> 32);
    p[5] = (uint8_t)(v >> 40);
    p[6] = (uint8_t)(v >> 48);
    p[7] = (uint8_t)(v >> 56);
}

/* ekz_tokenize when out has room for 8 bytes a code: a code's extra bits go out with one
 * unaligned 8-byte store (fewer than 8 bits stay pending), no bounds check and no flush
 * branch; a code of more than 56 extra bits (a value near 2**60) takes two steps.  The
 * same bytes and histogram as the checked loop.  Codes without extra bits skip the put,
 * except where codes with and without them alternated often in the last 256 (the branch
 * then mispredicts about once a switch: noisy grids, 2x faster there): those take the
 * branch-free put (a put of no bits has no effect).  Measured on the corpus, a switch rate
 * of 1 in 4 separates the streams that gain from those that lose. */
#define EKZ_TOK_PUT()                                                                        \
    do {                                                                                     \
        uint64_t v = z - base[t];                                                            \
        if (nb > 56u) {                                                                      \
            acc |= (v & 0xffffffffu) << cnt;                                                 \
            ekz_st64(p, acc);                                                                \
            p += 4;                                                                          \
            acc >>= 32;                                                                      \
            v >>= 32;                                                                        \
            nb -= 32u;                                                                       \
        }                                                                                    \
        acc |= v << cnt;                                                                     \
        ekz_st64(p, acc);                                                                    \
        cnt += nb;                                                                           \
        p += cnt >> 3;                                                                       \
        acc >>= cnt & ~7u;                                                                   \
        cnt &= 7u;                                                                           \
    } while (0)

static inline int ekz_tokenize_fast(const uint64_t *j, size_t n, int order, uint8_t *tok,
                                    uint8_t *out, uint32_t *hist, size_t *blen,
                                    const uint64_t *base, const uint8_t *nbits)
{
    uint64_t acc = 0;
    unsigned cnt = 0, mixed = 0;
    uint8_t *p = out;
    size_t i = (size_t)order;
    while (i < n) {
        size_t i0 = i, end = n - i > 256u ? i + 256u : n, k;
        unsigned switches = 0;
        if (mixed) {
            for (; i < end; i++) {
                uint64_t z = ekz_zz(ekz_delta_at(j, i, order));
                unsigned t = ekz_token(z), nb = nbits[t];
                tok[i] = (uint8_t)t;
                hist[t]++;
                EKZ_TOK_PUT();
            }
        } else {
            for (; i < end; i++) {
                uint64_t z = ekz_zz(ekz_delta_at(j, i, order));
                unsigned t = ekz_token(z), nb = nbits[t];
                tok[i] = (uint8_t)t;
                hist[t]++;
                if (nb)
                    EKZ_TOK_PUT();
            }
        }
        for (k = i0 + 1; k < end; k++) /* tokens 16 and up carry extra bits */
            switches += (tok[k] >= 16u) != (tok[k - 1] >= 16u);
        mixed = switches > 64u;
    }
    if (cnt)
        *p++ = (uint8_t)acc;
    *blen = (size_t)(p - out);
    return EKZ_OK;
}

#undef EKZ_TOK_PUT

/* Pass 1 of the encoder, forward: tokens of positions order..n-1 into tok[i], their extra
 * bits into out (LSB-first, padded to a byte), the token histogram added to hist. */
int ekz_tokenize(const uint64_t *j, size_t n, int order, uint8_t *tok, uint8_t *out,
                 size_t cap, uint32_t *hist, size_t *blen)
{
    uint64_t base[256];
    uint8_t nbits[256];
    ekz_bw w;
    size_t i;

    if (order < 0 || order > 2)
        return EKZ_EINVAL;
    ekz_token_tables(base, nbits);
    if (n > (size_t)order && cap / 8u > n - (size_t)order + 2u) {
        if (order == 0)
            return ekz_tokenize_fast(j, n, 0, tok, out, hist, blen, base, nbits);
        if (order == 1)
            return ekz_tokenize_fast(j, n, 1, tok, out, hist, blen, base, nbits);
        return ekz_tokenize_fast(j, n, 2, tok, out, hist, blen, base, nbits);
    }
    w.p = out;
    w.end = out + cap;
    w.acc = 0;
    w.cnt = 0;
    w.err = 0;
    for (i = (size_t)order; i < n; i++) {
        uint64_t z = ekz_zz(ekz_delta_at(j, i, order));
        unsigned t = ekz_token(z);
        tok[i] = (uint8_t)t;
        hist[t]++;
        if (nbits[t])
            ekz_put_wide(&w, z - base[t], nbits[t]);
    }
    if (w.err)
        return EKZ_ENOSPC;
    while (w.cnt > 0) {
        if (w.p >= w.end)
            return EKZ_ENOSPC;
        *w.p++ = (uint8_t)w.acc;
        w.acc >>= 8;
        w.cnt = w.cnt > 8u ? w.cnt - 8u : 0u;
    }
    *blen = (size_t)(w.p - out);
    return EKZ_OK;
}

/* Pass 2, backward: the rANS words of tok[order..n) (freq sums to 4096, each token used has
 * a nonzero frequency below 4096), placed at out[blen..blen + *wlen). */
int ekz_rans(const uint8_t *tok, size_t n, int order, const uint16_t *freq, uint8_t *out,
             size_t cap, size_t blen, size_t *wlen)
{
    uint8_t rshift[256];
    uint32_t start[256], rcp[256], bias[256], cmpl[256];
    uint32_t x[4] = {EKZ_L, EKZ_L, EKZ_L, EKZ_L};
    size_t i, k, ns;
    uint8_t *p;

    if (order < 0 || order > 2 || blen > cap || ekz_check_freq(freq, start) != EKZ_OK)
        return EKZ_EINVAL;
    *wlen = 0;
    if (n <= (size_t)order)
        return EKZ_OK;
    /* x / f by a reciprocal (exact for x < 2^31, Alverson; the form of ryg's rans_byte):
     * q = x / f, and x' = q * M + x % f + start = x + bias + q * (M - f). */
    for (k = 0; k < 256u; k++) {
        uint32_t f = freq[k], shift = 0;
        if (f == 0)
            continue;
        cmpl[k] = EKZ_M - f;
        if (f < 2u) {
            rcp[k] = 0xffffffffu;
            rshift[k] = 0;
            bias[k] = start[k] + EKZ_M - 1u;
        } else {
            while (f > (1u << shift))
                shift++;
            rcp[k] = (uint32_t)((((uint64_t)1 << (shift + 31)) + f - 1u) / f);
            rshift[k] = (uint8_t)(shift - 1u);
            bias[k] = start[k];
        }
    }
    ns = EKZ_NSTATES(n - (size_t)order);
    p = out + cap;
    i = n;
    if (cap - blen >= 2u * (n - (size_t)order) + 4u * ns + 2u) {
        /* room for every word: the unrolled loop, states in registers, no bounds checks,
         * a branch-free renormalization (two bytes are always stored below p, and kept
         * when the state emits them) */
        const uint8_t *tk = tok + order;
        size_t idx = n - (size_t)order;
        uint32_t x0, x1, x2, x3;
#define EKZ_RANS_STEP(X, I)                                                                  \
    do {                                                                                     \
        unsigned t_ = tk[I];                                                                 \
        uint32_t f_ = freq[t_], q_, e_;                                                      \
        if (f_ == 0)                                                                         \
            return EKZ_EINVAL;                                                               \
        e_ = (X) >= (f_ << 19);                                                              \
        p[-2] = (uint8_t)(X);                                                                \
        p[-1] = (uint8_t)((X) >> 8);                                                         \
        p -= (size_t)e_ << 1;                                                                \
        (X) >>= e_ << 4;                                                                     \
        q_ = (uint32_t)(((uint64_t)(X) * rcp[t_]) >> 32) >> rshift[t_];                      \
        (X) = (X) + bias[t_] + q_ * cmpl[t_];                                                \
    } while (0)
        if (ns == 1u) {
            x0 = x[0];
            while (idx) {
                idx--;
                EKZ_RANS_STEP(x0, idx);
            }
            x[0] = x0;
        } else {
            while (idx & 3u) {
                idx--;
                EKZ_RANS_STEP(x[idx & 3u], idx);
            }
            x0 = x[0];
            x1 = x[1];
            x2 = x[2];
            x3 = x[3];
            while (idx) {
                idx -= 4;
                EKZ_RANS_STEP(x3, idx + 3u);
                EKZ_RANS_STEP(x2, idx + 2u);
                EKZ_RANS_STEP(x1, idx + 1u);
                EKZ_RANS_STEP(x0, idx);
            }
            x[0] = x0;
            x[1] = x1;
            x[2] = x2;
            x[3] = x3;
        }
#undef EKZ_RANS_STEP
        i = (size_t)order; /* done: the flush below */
    }
    for (; i-- > (size_t)order;) {
        uint32_t *xs = &x[(i - (size_t)order) & (ns - 1u)];
        unsigned t = tok[i];
        uint32_t q;
        if (freq[t] == 0)
            return EKZ_EINVAL;
        if (*xs >= ((uint32_t)freq[t] << 19)) {
            if ((size_t)(p - out) < blen + 2u)
                return EKZ_ENOSPC;
            p -= 2;
            p[0] = (uint8_t)*xs;
            p[1] = (uint8_t)(*xs >> 8);
            *xs >>= 16;
        }
        q = (uint32_t)(((uint64_t)*xs * rcp[t]) >> 32) >> rshift[t];
        *xs = *xs + bias[t] + q * cmpl[t];
    }
    if ((size_t)(p - out) < blen + 4u * ns)
        return EKZ_ENOSPC;
    for (k = ns; k-- > 0;) {
        p -= 4;
        p[0] = (uint8_t)x[k];
        p[1] = (uint8_t)(x[k] >> 8);
        p[2] = (uint8_t)(x[k] >> 16);
        p[3] = (uint8_t)(x[k] >> 24);
    }
    *wlen = (size_t)(out + cap - p);
    memmove(out + blen, p, *wlen);
    return EKZ_OK;
}

/* Both passes (the stream codes the values i >= order; the first `order` values of j are
 * stored by the caller; four rANS states take turns, value i using state (i - order) % 4). */
int ekz_encode(const uint64_t *j, size_t n, int order, const uint16_t *freq, int single,
               uint8_t *tok, uint8_t *out, size_t cap, size_t *lens)
{
    uint32_t hist[256];
    size_t i;
    int rc;
    if (order < 0 || order > 2 || single > 255)
        return EKZ_EINVAL;
    memset(hist, 0, sizeof hist);
    rc = ekz_tokenize(j, n, order, tok, out, cap, hist, &lens[1]);
    if (rc != EKZ_OK)
        return rc;
    lens[0] = 0;
    if (single >= 0) {
        for (i = 0; i < 256u; i++)
            if (hist[i] && i != (size_t)single)
                return EKZ_EINVAL;
        return EKZ_OK;
    }
    return ekz_rans(tok, n, order, freq, out, cap, lens[1], &lens[0]);
}

static inline uint32_t ekz_ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

typedef struct {
    uint64_t base[256];
    uint8_t nbits[256];
    uint32_t tbl[EKZ_M];
} ekz_dtab;

/* Where decoded values go: the integers j themselves, or (the fused path) the float whose
 * j - lo indexes a table of span + 1 precomputed values; a j outside the table is corrupt
 * data. */
typedef struct {
    uint64_t *j;
    double *o64;
    float *o32;
    const double *t64;
    const float *t32;
    uint64_t lo, span;
} ekz_sink;

#define EKZ_OUT_J(CUR)                                                                       \
    do {                                                                                     \
        out->j[i] = (CUR);                                                                   \
    } while (0)
#define EKZ_OUT_F64(CUR)                                                                     \
    do {                                                                                     \
        uint64_t ix_ = (CUR) - out->lo;                                                      \
        if (ix_ > out->span)                                                                 \
            return -1;                                                                       \
        out->o64[i] = out->t64[ix_];                                                         \
    } while (0)
#define EKZ_OUT_F32(CUR)                                                                     \
    do {                                                                                     \
        uint64_t ix_ = (CUR) - out->lo;                                                      \
        if (ix_ > out->span)                                                                 \
            return -1;                                                                       \
        out->o32[i] = out->t32[ix_];                                                         \
    } while (0)

/* value v (the unzigzagged code of position i) -> next j, sent to OUT */
#define EKZ_EMIT(V, ORDER, OUT)                                                              \
    do {                                                                                     \
        if ((ORDER) == 0) {                                                                  \
            OUT(V);                                                                          \
        } else if ((ORDER) == 1) {                                                           \
            acc += (V);                                                                      \
            OUT(acc);                                                                        \
        } else {                                                                             \
            step += (V);                                                                     \
            acc += step;                                                                     \
            OUT(acc);                                                                        \
        }                                                                                    \
        i++;                                                                                 \
    } while (0)

/* decode one token with state X; returns -1 (corrupt) from the enclosing function */
#define EKZ_STEP(X, ORDER, OUT)                                                              \
    do {                                                                                     \
        uint32_t ent_ = tb->tbl[(X) & EKZ_MASK];                                             \
        unsigned t_ = ent_ & 255u;                                                           \
        (X) = ((ent_ >> 8) & EKZ_MASK) * ((X) >> EKZ_PROB_BITS) + (ent_ >> 20);             \
        if ((X) < EKZ_L) {                                                                   \
            if (wend - wp < 2)                                                               \
                return -1;                                                                   \
            (X) = ((X) << 16) | (uint32_t)wp[0] | ((uint32_t)wp[1] << 8);                    \
            wp += 2;                                                                         \
        }                                                                                    \
        z = tb->base[t_];                                                                    \
        if (tb->nbits[t_]) {                                                                 \
            if (ekz_get_wide(r, tb->nbits[t_], &e))                                          \
                return -1;                                                                   \
            z += e;                                                                          \
        }                                                                                    \
        v = ekz_unzz(z);                                                                     \
        EKZ_EMIT(v, ORDER, OUT);                                                             \
    } while (0)

/* the loop over positions order..n-1; acc/step start from the stored first values */
#define EKZ_DEFINE_LOOP(NAME, ORDER, OUT)                                                    \
    static int NAME(const ekz_dtab *tb, const uint8_t *words, size_t wlen, ekz_br *r,        \
                    const ekz_sink *out, uint64_t acc, uint64_t step, size_t n, int single)  \
    {                                                                                        \
        const uint8_t *wp = words + 16, *wend = words + wlen;                                \
        uint32_t x0, x1, x2, x3;                                                             \
        uint64_t z, e, v;                                                                    \
        size_t i = ORDER;                                                                    \
        if (single >= 0) {                                                                   \
            unsigned nb = tb->nbits[single];                                                 \
            while (i < n) {                                                                  \
                z = tb->base[single];                                                        \
                if (nb) {                                                                    \
                    if (ekz_get_wide(r, nb, &e))                                             \
                        return -1;                                                           \
                    z += e;                                                                  \
                }                                                                            \
                v = ekz_unzz(z);                                                             \
                EKZ_EMIT(v, ORDER, OUT);                                                     \
            }                                                                                \
            return 0;                                                                        \
        }                                                                                    \
        if (n - i < 1024u) { /* one state (EKZ_NSTATES) */                                  \
            if (wlen < 4u)                                                                   \
                return -1;                                                                   \
            x0 = ekz_ld32(words);                                                            \
            wp = words + 4;                                                                  \
            if (x0 < EKZ_L)                                                                  \
                return -1;                                                                   \
            while (i < n)                                                                    \
                EKZ_STEP(x0, ORDER, OUT);                                                    \
            return (wp != wend || x0 != EKZ_L) ? -1 : 0;                                     \
        }                                                                                    \
        if (wlen < 16u)                                                                      \
            return -1;                                                                       \
        x0 = ekz_ld32(words);                                                                \
        x1 = ekz_ld32(words + 4);                                                            \
        x2 = ekz_ld32(words + 8);                                                            \
        x3 = ekz_ld32(words + 12);                                                           \
        if (x0 < EKZ_L || x1 < EKZ_L || x2 < EKZ_L || x3 < EKZ_L)                            \
            return -1;                                                                       \
        while (n - i >= 4) {                                                                 \
            EKZ_STEP(x0, ORDER, OUT);                                                        \
            EKZ_STEP(x1, ORDER, OUT);                                                        \
            EKZ_STEP(x2, ORDER, OUT);                                                        \
            EKZ_STEP(x3, ORDER, OUT);                                                        \
        }                                                                                    \
        if (i < n)                                                                           \
            EKZ_STEP(x0, ORDER, OUT);                                                        \
        if (i < n)                                                                           \
            EKZ_STEP(x1, ORDER, OUT);                                                        \
        if (i < n)                                                                           \
            EKZ_STEP(x2, ORDER, OUT);                                                        \
        if (wp != wend || x0 != EKZ_L || x1 != EKZ_L || x2 != EKZ_L || x3 != EKZ_L)          \
            return -1;                                                                       \
        return 0;                                                                            \
    }

EKZ_DEFINE_LOOP(ekz_loop_j0, 0, EKZ_OUT_J)
EKZ_DEFINE_LOOP(ekz_loop_j1, 1, EKZ_OUT_J)
EKZ_DEFINE_LOOP(ekz_loop_j2, 2, EKZ_OUT_J)
EKZ_DEFINE_LOOP(ekz_loop_d0, 0, EKZ_OUT_F64)
EKZ_DEFINE_LOOP(ekz_loop_d1, 1, EKZ_OUT_F64)
EKZ_DEFINE_LOOP(ekz_loop_d2, 2, EKZ_OUT_F64)
EKZ_DEFINE_LOOP(ekz_loop_f0, 0, EKZ_OUT_F32)
EKZ_DEFINE_LOOP(ekz_loop_f1, 1, EKZ_OUT_F32)
EKZ_DEFINE_LOOP(ekz_loop_f2, 2, EKZ_OUT_F32)

typedef int (*ekz_loop_fn)(const ekz_dtab *, const uint8_t *, size_t, ekz_br *,
                           const ekz_sink *, uint64_t, uint64_t, size_t, int);

static int ekz_decode_any(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
                          const uint16_t *freq, int single, int order, const uint64_t *first,
                          const ekz_sink *out, int kind, size_t n)
{
    static const ekz_loop_fn loops[3][3] = {
        {ekz_loop_j0, ekz_loop_j1, ekz_loop_j2},
        {ekz_loop_d0, ekz_loop_d1, ekz_loop_d2},
        {ekz_loop_f0, ekz_loop_f1, ekz_loop_f2},
    };
    ekz_dtab tb;
    uint32_t start[256];
    ekz_br r;
    size_t consumed;
    uint64_t acc = 0, step = 0;

    if (order < 0 || order > 2 || single > 255)
        return EKZ_EINVAL;
    if (n <= (size_t)order)
        return (wlen || blen || single >= 0) ? EKZ_ECORRUPT : EKZ_OK;
    if (order >= 1)
        acc = first[order - 1];
    if (order == 2)
        step = first[1] - first[0];
    ekz_token_tables(tb.base, tb.nbits);
    r.p = bits;
    r.end = bits + blen;
    r.acc = 0;
    r.cnt = 0;
    if (single >= 0) {
        if (wlen != 0)
            return EKZ_ECORRUPT;
    } else {
        uint32_t s, t;
        if (ekz_check_freq(freq, start) != EKZ_OK)
            return EKZ_ECORRUPT;
        for (t = 0; t < 256u; t++)
            for (s = 0; s < freq[t]; s++)
                tb.tbl[start[t] + s] = t | ((uint32_t)freq[t] << 8) | (s << 20);
    }
    if (loops[kind][order](&tb, words, wlen, &r, out, acc, step, n, single))
        return EKZ_ECORRUPT;
    consumed = (size_t)(r.p - bits) * 8u - r.cnt;
    if ((consumed + 7u) / 8u != blen)
        return EKZ_ECORRUPT;
    return EKZ_OK;
}

/* j[0..order) hold the stored first values on entry */
int ekz_decode(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
               const uint16_t *freq, int single, int order, uint64_t *j, size_t n)
{
    ekz_sink out;
    memset(&out, 0, sizeof out);
    out.j = j;
    return ekz_decode_any(words, wlen, bits, blen, freq, single, order, j, &out, 0, n);
}

int ekz_decode_tab_f64(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
                       const uint16_t *freq, int single, int order, const uint64_t *first,
                       uint64_t lo, uint64_t span, const double *tab, double *o, size_t n)
{
    ekz_sink out;
    size_t i;
    memset(&out, 0, sizeof out);
    out.o64 = o;
    out.t64 = tab;
    out.lo = lo;
    out.span = span;
    for (i = 0; i < (size_t)order && i < n; i++) {
        if (first[i] - lo > span)
            return EKZ_ECORRUPT;
        o[i] = tab[first[i] - lo];
    }
    return ekz_decode_any(words, wlen, bits, blen, freq, single, order, first, &out, 1, n);
}

int ekz_decode_tab_f32(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
                       const uint16_t *freq, int single, int order, const uint64_t *first,
                       uint64_t lo, uint64_t span, const float *tab, float *o, size_t n)
{
    ekz_sink out;
    size_t i;
    memset(&out, 0, sizeof out);
    out.o32 = o;
    out.t32 = tab;
    out.lo = lo;
    out.span = span;
    for (i = 0; i < (size_t)order && i < n; i++) {
        if (first[i] - lo > span)
            return EKZ_ECORRUPT;
        o[i] = tab[first[i] - lo];
    }
    return ekz_decode_any(words, wlen, bits, blen, freq, single, order, first, &out, 2, n);
}

#undef EKZ_STEP
#undef EKZ_EMIT
#undef EKZ_DEFINE_LOOP
#undef EKZ_OUT_J
#undef EKZ_OUT_F64
#undef EKZ_OUT_F32

#define EKZ_RUNS_SPLIT_LOOP(ORDER)                                                           \
    for (i = (size_t)(ORDER); i < n; i++) {                                                  \
        uint64_t z = ekz_zz(ekz_delta_at(j, i, ORDER));                                      \
        if (z == 0) {                                                                        \
            run++;                                                                           \
        } else {                                                                             \
            runs[k] = ekz_unzz(run);                                                         \
            vals[k] = ekz_unzz(z - 1u);                                                      \
            k++;                                                                             \
            run = 0;                                                                         \
        }                                                                                    \
    }

int ekz_runs_split(const uint64_t *j, size_t n, int order, uint64_t *runs, uint64_t *vals,
                   size_t *m)
{
    size_t i, k = 0;
    uint64_t run = 0;
    if (order == 0) {
        EKZ_RUNS_SPLIT_LOOP(0)
    } else if (order == 1) {
        EKZ_RUNS_SPLIT_LOOP(1)
    } else if (order == 2) {
        EKZ_RUNS_SPLIT_LOOP(2)
    } else {
        return EKZ_EINVAL;
    }
    runs[k] = ekz_unzz(run);
    *m = k;
    return EKZ_OK;
}

#undef EKZ_RUNS_SPLIT_LOOP

#define EKZ_RUNS_HIST_LOOP(ORDER)                                                            \
    for (i = (size_t)(ORDER); i < n; i++) {                                                  \
        uint64_t z = ekz_zz(ekz_delta_at(j, i, ORDER));                                      \
        unsigned nz = z != 0;                                                                \
        /* branch-free: zero and nonzero codes alternate unpredictably in real data */      \
        hist[ekz_token(run)] += nz;                                                          \
        hist[256u + ekz_token(z - nz)] += nz;                                                \
        k += nz;                                                                             \
        run = (run + 1u) & (0u - (uint64_t)(1u - nz));                                       \
    }

#define EKZ_RUNS_HIST_SPARSE(ORDER)                                                          \
    for (i = (size_t)(ORDER); i < n; i++) {                                                  \
        uint64_t z = ekz_zz(ekz_delta_at(j, i, ORDER));                                      \
        if (z == 0) {                                                                        \
            run++;                                                                           \
        } else {                                                                             \
            hist[ekz_token(run)]++;                                                          \
            hist[256u + ekz_token(z - 1u)]++;                                                \
            k++;                                                                             \
            run = 0;                                                                         \
        }                                                                                    \
    }

int ekz_runs_hist(const uint64_t *j, size_t n, int order, int sparse, uint32_t *hist,
                  size_t *m)
{
    size_t i, k = 0;
    uint64_t run = 0;
    if (sparse && order == 1) {
        EKZ_RUNS_HIST_SPARSE(1)
    } else if (sparse && order == 2) {
        EKZ_RUNS_HIST_SPARSE(2)
    } else if (sparse && order == 0) {
        EKZ_RUNS_HIST_SPARSE(0)
    } else if (order == 0) {
        EKZ_RUNS_HIST_LOOP(0)
    } else if (order == 1) {
        EKZ_RUNS_HIST_LOOP(1)
    } else if (order == 2) {
        EKZ_RUNS_HIST_LOOP(2)
    } else {
        return EKZ_EINVAL;
    }
    hist[ekz_token(run)]++;
    *m = k;
    return EKZ_OK;
}

#undef EKZ_RUNS_HIST_LOOP
#undef EKZ_RUNS_HIST_SPARSE

int ekz_runs_expand(const uint64_t *runs, const uint64_t *vals, size_t m, int order,
                    uint64_t *j, size_t n)
{
    size_t i = (size_t)order, k, c;
    uint64_t acc = 0, step = 0;
    if (order < 0 || order > 2 || n < (size_t)order)
        return EKZ_EINVAL;
    if (order >= 1)
        acc = j[order - 1];
    if (order == 2)
        step = j[1] - j[0];
    for (k = 0; k <= m; k++) {
        uint64_t run = ekz_zz(runs[k]);
        if (run > (uint64_t)(n - i))
            return EKZ_ECORRUPT;
        if (order == 0) {
            for (c = 0; c < run; c++)
                j[i + c] = 0;
        } else if (order == 1) {
            for (c = 0; c < run; c++)
                j[i + c] = acc;
        } else {
            for (c = 0; c < run; c++) {
                acc += step;
                j[i + c] = acc;
            }
        }
        i += (size_t)run;
        if (k < m) {
            uint64_t z = ekz_zz(vals[k]) + 1u, v;
            if (z == 0 || i >= n)
                return EKZ_ECORRUPT;
            v = ekz_unzz(z);
            if (order == 0) {
                j[i] = v;
            } else if (order == 1) {
                acc += v;
                j[i] = acc;
            } else {
                step += v;
                acc += step;
                j[i] = acc;
            }
            i++;
        }
    }
    return i == n ? EKZ_OK : EKZ_ECORRUPT;
}

/* ekz_runs_expand straight into floats through the value table (ekz_decode_tab_*): a run
 * of zero codes at order 1 is one lookup and a fill. */
#define EKZ_DEFINE_RUNS_TAB(SUF, T)                                                          \
    int ekz_runs_expand_tab_##SUF(const uint64_t *runs, const uint64_t *vals, size_t m,      \
                                  int order, const uint64_t *first, uint64_t lo,             \
                                  uint64_t span, const T *tab, T *o, size_t n)               \
    {                                                                                        \
        size_t i = (size_t)order, k, c;                                                      \
        uint64_t acc = 0, step = 0, ix;                                                      \
        if (order < 0 || order > 2 || n < (size_t)order)                                     \
            return EKZ_EINVAL;                                                               \
        for (c = 0; c < (size_t)order; c++) {                                                \
            if (first[c] - lo > span)                                                        \
                return EKZ_ECORRUPT;                                                         \
            o[c] = tab[first[c] - lo];                                                       \
        }                                                                                    \
        if (order >= 1)                                                                      \
            acc = first[order - 1];                                                          \
        if (order == 2)                                                                      \
            step = first[1] - first[0];                                                      \
        for (k = 0; k <= m; k++) {                                                           \
            uint64_t run = ekz_zz(runs[k]);                                                  \
            if (run > (uint64_t)(n - i))                                                     \
                return EKZ_ECORRUPT;                                                         \
            if (run) {                                                                       \
                if (order == 2) {                                                            \
                    for (c = 0; c < run; c++) {                                              \
                        acc += step;                                                         \
                        ix = acc - lo;                                                       \
                        if (ix > span)                                                       \
                            return EKZ_ECORRUPT;                                             \
                        o[i + c] = tab[ix];                                                  \
                    }                                                                        \
                } else {                                                                     \
                    T y;                                                                     \
                    ix = (order == 0 ? 0u : acc) - lo;                                       \
                    if (ix > span)                                                           \
                        return EKZ_ECORRUPT;                                                 \
                    y = tab[ix];                                                             \
                    for (c = 0; c < run; c++)                                                \
                        o[i + c] = y;                                                        \
                }                                                                            \
            }                                                                                \
            i += (size_t)run;                                                                \
            if (k < m) {                                                                     \
                uint64_t z = ekz_zz(vals[k]) + 1u, v, cur;                                   \
                if (z == 0 || i >= n)                                                        \
                    return EKZ_ECORRUPT;                                                     \
                v = ekz_unzz(z);                                                             \
                if (order == 0) {                                                            \
                    cur = v;                                                                 \
                } else if (order == 1) {                                                     \
                    acc += v;                                                                \
                    cur = acc;                                                               \
                } else {                                                                     \
                    step += v;                                                               \
                    acc += step;                                                             \
                    cur = acc;                                                               \
                }                                                                            \
                ix = cur - lo;                                                               \
                if (ix > span)                                                               \
                    return EKZ_ECORRUPT;                                                     \
                o[i] = tab[ix];                                                              \
                i++;                                                                         \
            }                                                                                \
        }                                                                                    \
        return i == n ? EKZ_OK : EKZ_ECORRUPT;                                               \
    }

EKZ_DEFINE_RUNS_TAB(f64, double)
EKZ_DEFINE_RUNS_TAB(f32, float)
#undef EKZ_DEFINE_RUNS_TAB

int ekz_minmax(const int64_t *x, size_t n, int64_t *out)
{
    size_t i;
    int64_t lo, hi;
    if (n == 0)
        return EKZ_EINVAL;
    lo = hi = x[0];
    for (i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    out[0] = lo;
    out[1] = hi;
    return EKZ_OK;
}

static uint64_t ekz_gcd2(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* gcd of |j[i] - j[0]| over all i, computed as the gcd of |j[i] - j[i-1]| (the same number:
 * every difference from j[0] is a sum of consecutive differences and vice versa); a
 * difference already divisible by the running gcd costs one (usually 32-bit) division. */
uint64_t ekz_gcd(const uint64_t *j, size_t n)
{
    size_t i;
    uint64_t g = 0;
    for (i = 1; i < n; i++) {
        uint64_t d = j[i] - j[i - 1];
        if (d >> 63)
            d = 0u - d;
        if (d == 0)
            continue;
        if (g) {
            uint64_t rem = (d | g) >> 32 ? d % g : (uint64_t)((uint32_t)d % (uint32_t)g);
            if (rem == 0)
                continue;
        }
        g = ekz_gcd2(g, d);
        if (g == 1u)
            return 1u;
    }
    return g;
}

/* ------------------------------------------------------------------ affine-grid search
 * The hot steps of codec._affine_guess_raw, on a sample's distinct values (about a
 * thousand): the same float operations as the numpy references _codec_ref.float_gcd and
 * _codec_ref.grid_origin, in the same order, so the same bits. */

/* Python's float floor division a // b (CPython's float_divmod), b > 0 finite */
static double ekz_py_floordiv(double vx, double wx)
{
    double mod = fmod(vx, wx), div = (vx - mod) / wx, fl;
    if (mod != 0.0 && ((wx < 0.0) != (mod < 0.0)))
        div -= 1.0;
    if (div != 0.0) {
        fl = floor(div);
        if (div - fl > 0.5)
            fl += 1.0;
    } else {
        fl = copysign(0.0, vx / wx);
    }
    return fl;
}

/* Approximate gcd of the positive floats d (see _codec_ref.float_gcd): the divisors met,
 * coarsest first, into seen (room for n); their number, 0 when more than `skips` values
 * were passed over. */
size_t ekz_float_gcd(const double *d, size_t n, double tol, double floor_, long skips,
                     double *seen)
{
    double g = 0.0;
    size_t i, m = 0;
    for (i = 0; i < n; i++) {
        double v = d[i], a, b;
        if (g > v) {
            a = g;
            b = v;
        } else {
            a = v;
            b = g;
        }
        while (b > tol) {
            double r = fmod(a, b), e = tol * (ekz_py_floordiv(a, b) + 1.0);
            a = b;
            b = (r <= e || a - r <= e) ? 0.0 : r;
        }
        if (a > floor_) {
            if (m == 0 || a < seen[m - 1] - tol)
                seen[m++] = a;
            g = a;
        } else if (--skips < 0) {
            return 0;
        }
    }
    return m;
}

/* rint without a libm call (round half to even, the sign of zero kept) */
static inline double ekz_rintd(double t)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2**52 */
    double m = fabs(t);
    return m < 2251799813685248.0 ? copysign((m + magic) - magic, t) : rint(t);
}

/* stable sort of the permutation idx[0..n) by key[idx[i]] (no NaN keys): an LSD radix sort
 * on the keys' order-preserving bits (-0.0 counted as 0.0, equal as the comparison has it),
 * the eight byte histograms made in one pass, passes whose byte is the same for every key
 * skipped; no data-dependent branch (a comparison sort mispredicts on every other
 * element).  tmp, kb, kt: room for n each. */
static void ekz_argsort(const double *key, uint64_t *idx, uint64_t *tmp, uint64_t *kb,
                        uint64_t *kt, size_t n)
{
    size_t cnt[8][256], i;
    uint64_t *src = idx, *dst = tmp, *ks = kb, *kd = kt, *sw;
    unsigned pass;
    memset(cnt, 0, sizeof cnt);
    for (i = 0; i < n; i++) {
        double v = key[idx[i]] == 0.0 ? 0.0 : key[idx[i]];
        uint64_t b;
        memcpy(&b, &v, 8);
        b ^= (0u - (b >> 63)) | ((uint64_t)1 << 63);
        kb[i] = b;
        for (pass = 0; pass < 8u; pass++)
            cnt[pass][(b >> (8u * pass)) & 255u]++;
    }
    for (pass = 0; pass < 8u; pass++) {
        unsigned sh = 8u * pass;
        size_t sum = 0, *c = cnt[pass];
        for (i = 0; i < 256u; i++) {
            size_t ci = c[i];
            if (ci == n)
                break;
            c[i] = sum;
            sum += ci;
        }
        if (i < 256u)
            continue; /* one bucket holds every key: nothing to reorder */
        for (i = 0; i < n; i++) {
            size_t at = c[(ks[i] >> sh) & 255u]++;
            dst[at] = src[i];
            kd[at] = ks[i];
        }
        sw = src;
        src = dst;
        dst = sw;
        sw = ks;
        ks = kd;
        kd = sw;
    }
    if (src != idx)
        memcpy(idx, src, n * sizeof *idx);
}

/* (a, b) of the grid of step about b0 through distinct values u seen counts times (see
 * _codec_ref.grid_origin): returns 1 with out[0] = a, out[1] = b; 0 when no origin fits;
 * -1 when the reference must decide (a NaN on the way).  work: room for 3 * sweep + n
 * doubles; iwork: room for 9 * sweep + n. */
int ekz_grid_origin(const double *u, const int64_t *counts, const double *half, size_t n,
                    double b0, double frac, int64_t offn, size_t sweep, double *work,
                    uint64_t *iwork, double *out)
{
    double origins[3], total, best_neg = 0.0, best_a = 0.0, best_b = 0.0;
    int64_t sum = 0, cmax;
    size_t i, imax = 0, o;
    int found = 0;
    if (n == 0 || sweep < 2)
        return 0;
    for (i = 0; i < n; i++)
        sum += counts[i];
    cmax = counts[0];
    for (i = 1; i < n; i++) {
        if (counts[i] > cmax) {
            cmax = counts[i];
            imax = i;
        }
    }
    total = (double)sum;
    origins[0] = 0.0;
    origins[1] = u[0];
    origins[2] = u[imax];
    for (o = 0; o < 3; o++) {
        double a = origins[o], at_a = 0.0, *pos = work, *kv = work + 2 * sweep, b1, hit;
        double *kall = work + 3 * sweep;
        int64_t off = 0, at = 0, c, cbest;
        size_t m = 0, sel, ib = 0, len;
        uint64_t *idx = iwork, *ord = iwork + sweep, *tmp = iwork + 3 * sweep;
        uint64_t *kb = iwork + 5 * sweep, *kt = iwork + 7 * sweep, *iall = iwork + 9 * sweep;
        uint64_t ab, pb;
        memcpy(&ab, &a, 8);
        if (o > 0 && (memcpy(&pb, &origins[o - 1], 8), pb == ab))
            continue; /* the same origin again: the same result, which cannot do better */
        if (o > 1 && (memcpy(&pb, &origins[0], 8), pb == ab))
            continue;
        for (i = 0; i < n; i++) {
            double t = (u[i] - a) / b0, k = ekz_rintd(t);
            int on = fabs(t - k) <= frac && (k != 0.0 || fabs(u[i] - a) <= half[i]);
            if (t != t)
                return -1;
            off += on ? 0 : counts[i];
            at += (on && k == 0.0) ? counts[i] : 0;
            if (on && k != 0.0) { /* kept for the sweep below: one division a value */
                iall[m] = i;
                kall[m] = k;
                m++;
            }
        }
        if ((double)(off * offn) > total)
            continue;
        at_a = (double)at;
        if (m == 0)
            continue;
        sel = m > sweep ? sweep : m;
        /* the selected positions among the m on the grid off a: all, or sweep of them
         * evenly spaced, (s * (m - 1)) // (sweep - 1) */
        for (i = 0; i < sel; i++) {
            size_t r = m <= sweep ? i : (size_t)(((uint64_t)i * (m - 1u)) / (sweep - 1u));
            idx[i] = iall[r];
            kv[i] = kall[r];
        }
        len = 2 * sel;
        for (i = 0; i < sel; i++) {
            double xa = u[idx[i]] - a, hh = half[idx[i]];
            double lo = (xa - hh) / kv[i], hi = (xa + hh) / kv[i];
            if (lo != lo || hi != hi)
                return -1;
            pos[i] = lo < hi ? lo : hi; /* np.minimum / np.maximum (no NaN here) */
            pos[sel + i] = lo > hi ? lo : hi;
            if (!(lo < hi) && !(lo > hi)) { /* equal: numpy returns the first operand */
                pos[i] = lo;
                pos[sel + i] = lo;
            }
        }
        for (i = 0; i < len; i++)
            ord[i] = i;
        ekz_argsort(pos, ord, tmp, kb, kt, len);
        c = 0;
        cbest = 0;
        for (i = 0; i < len; i++) {
            size_t q = (size_t)ord[i]; /* weights: counts, then their negatives */
            c += q < sel ? counts[idx[q]] : -counts[idx[q - sel]];
            if (i == 0 || c > cbest) {
                cbest = c;
                ib = i;
            }
        }
        b1 = (pos[ord[ib]] + pos[ord[ib + 1 < len ? ib + 1 : len - 1]]) / 2.0;
        hit = (double)cbest + at_a;
        if (b1 > 0.0 && isfinite(b1) && (!found || -hit < best_neg)) {
            found = 1;
            best_neg = -hit;
            best_a = a;
            best_b = b1;
        }
    }
    if (!found)
        return 0;
    out[0] = best_a;
    out[1] = best_b;
    return 1;
}

/* ------------------------------------------------------------------ quantizers */

#define EKZ_TWO53 9007199254740992.0

static inline int64_t ekz_s64(uint64_t u)
{
    int64_t s; /* int64_t is two's complement without padding (C99 7.18.1.1) */
    memcpy(&s, &u, 8);
    return s;
}

/* round half to even for |t| < 2**53 without a libm call (default rounding mode) */
static inline int64_t ekz_rint(double t)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2**52 */
    if (fabs(t) < 2251799813685248.0)        /* 2**51 */
        return (int64_t)((t + magic) - magic);
    return (int64_t)rint(t);
}

static inline uint64_t ekz_sort64(uint64_t bits)
{
    return bits ^ ((0u - (bits >> 63)) >> 1);
}

/* float32 bits -> sortable, sign-extended to 64 bits; and back (low 32 bits) */
static inline uint64_t ekz_sort32(uint32_t bits)
{
    uint32_t s = bits ^ ((0u - (bits >> 31)) >> 1);
    return (uint64_t)s | ((s >> 31) ? 0xffffffff00000000u : 0u);
}

static inline uint32_t ekz_unsort32(uint64_t s)
{
    uint32_t v = (uint32_t)s;
    return v ^ ((0u - (v >> 31)) >> 1);
}

/* q[i] = (j[i] - off) / g when that is exact for every i (as int64, the values wrapping no
 * further than int64 does: off + g * q[i] == j[i]); returns 1 then, 0 (q untouched) when
 * some value is not, EKZ_EINVAL unless 2 <= g < 2**63 and off < g.  Division by
 * multiplication: g = m * 2**s with m odd, m's inverse mod 2**64, and |d| divides exactly
 * iff its low s bits are 0 and (|d| >> s) * inverse <= (2**64 - 1) / m. */
int ekz_gcd_split(const uint64_t *j, size_t n, uint64_t g, uint64_t off, uint64_t *q)
{
    uint64_t m = g, inv, lim, mask, bad = 0;
    unsigned s = 0, it;
    size_t i;
    if (g < 2u || g >> 63 || off >= g)
        return EKZ_EINVAL;
    while (!(m & 1u)) {
        m >>= 1;
        s++;
    }
    inv = m; /* m * m = 1 mod 8: 3 bits, doubled by each Newton step */
    for (it = 0; it < 5u; it++)
        inv *= 2u - m * inv;
    lim = UINT64_MAX / m;
    mask = ((uint64_t)1 << s) - 1u;
    for (i = 0; i < n; i++) {
        uint64_t d = j[i] - off, neg = 0u - (d >> 63), u = (d ^ neg) - neg;
        bad |= (u & mask) | (uint64_t)(((u >> s) * inv) > lim);
    }
    if (bad)
        return 0;
    for (i = 0; i < n; i++) {
        uint64_t d = j[i] - off, neg = 0u - (d >> 63), u = (d ^ neg) - neg;
        q[i] = (((u >> s) * inv) ^ neg) - neg;
    }
    return 1;
}

/* 1 and out[i] = (float)x[i] when every x[i] is a float32 value (its float64 bits come
 * back from the float32, NaN payloads included); else 0, at the first value that is not
 * (out partly written).  A finite value beyond float32's range is not one (its conversion
 * would be undefined in C). */
int ekz_f32_exact(const double *x, size_t n, float *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        double v = x[i], back;
        float f;
        uint64_t a, b;
        if (fabs(v) > 3.4028234663852886e38 && isfinite(v))
            return 0;
        f = (float)v;
        back = (double)f;
        memcpy(&a, &v, 8);
        memcpy(&b, &back, 8);
        if (a != b)
            return 0;
        out[i] = f;
    }
    return 1;
}

/* Float bits as order-preserving int64 (float32 sign-extended from 32 bits). */
#define EKZ_DEFINE_SORTABLE(SUF, T, W, SORT)                                                 \
    int ekz_sortable_##SUF(const T *x, size_t n, int64_t *out)                               \
    {                                                                                        \
        size_t i;                                                                            \
        for (i = 0; i < n; i++) {                                                            \
            uint##W##_t b;                                                                   \
            memcpy(&b, &x[i], sizeof b);                                                     \
            out[i] = ekz_s64(SORT(b));                                                       \
        }                                                                                    \
        return EKZ_OK;                                                                       \
    }

EKZ_DEFINE_SORTABLE(f64, double, 64, ekz_sort64)
EKZ_DEFINE_SORTABLE(f32, float, 32, ekz_sort32)
#undef EKZ_DEFINE_SORTABLE

/* The commonest gaps between consecutive distinct values u (ascending) above floor_, at
 * most maxg, commonest first (see _codec_ref.common_gaps): a gap's class is rint(gap /
 * tol); classes in ascending order, each represented by its first gap, then stably by
 * descending count.  Returns their number, or -1 when the reference must decide (a NaN
 * class).  work: room for 3 * n doubles, iwork: 6 * n. */
long ekz_common_gaps(const double *u, size_t n, double floor_, double tol, size_t maxg,
                     double *work, uint64_t *iwork, double *out)
{
    double *gaps = work, *v = work + n, *key = work + 2 * n;
    uint64_t *perm = iwork, *tmp = iwork + n, *first = iwork + 2 * n, *ord = iwork + 3 * n;
    uint64_t *kb = iwork + 4 * n, *kt = iwork + 5 * n;
    size_t i, m = 0, runs = 0, start = 0;
    for (i = 0; i + 1 < n; i++) {
        double g = u[i + 1] - u[i];
        if (g > floor_)
            gaps[m++] = g;
    }
    for (i = 0; i < m; i++) {
        v[i] = ekz_rintd(gaps[i] / tol);
        if (v[i] != v[i])
            return -1;
        perm[i] = i;
    }
    ekz_argsort(v, perm, tmp, kb, kt, m);
    for (i = 1; i <= m; i++) {
        if (i == m || v[perm[i]] != v[perm[i - 1]]) {
            first[runs] = perm[start];
            key[runs] = -(double)(i - start);
            runs++;
            start = i;
        }
    }
    for (i = 0; i < runs; i++)
        ord[i] = i;
    ekz_argsort(key, ord, tmp, kb, kt, runs);
    if (runs > maxg)
        runs = maxg;
    for (i = 0; i < runs; i++)
        out[i] = gaps[first[ord[i]]];
    return (long)runs;
}

/* For each of ns steps b: the weighted share of the distinct values ux (weights w) off
 * the grid a + k * b by more than frac of a step, and the weighted bits of their
 * residuals (see _codec_ref.grid_costs). */
#define EKZ_DEFINE_GRID_COSTS(SUF, T, W, SORT)                                               \
    int ekz_grid_costs_##SUF(const T *ux, size_t n, const double *w, double a,              \
                             const double *steps, size_t ns, double frac, double *off,      \
                             double *bits)                                                   \
    {                                                                                        \
        double wsum = 0.0;                                                                   \
        size_t i, s;                                                                         \
        for (i = 0; i < n; i++)                                                              \
            wsum += w[i];                                                                    \
        for (s = 0; s < ns; s++) {                                                           \
            double o = 0.0, bs = 0.0, b = steps[s];                                          \
            for (i = 0; i < n; i++) {                                                        \
                double t = ((double)ux[i] - a) / b, k = ekz_rintd(t);                        \
                T y = (T)(a + k * b);                                                        \
                uint##W##_t xb, yb;                                                          \
                uint64_t z, zb;                                                              \
                double zd;                                                                   \
                int e;                                                                       \
                if (!(fabs(t - k) <= frac))                                                  \
                    o += w[i];                                                               \
                memcpy(&xb, &ux[i], sizeof(T));                                              \
                memcpy(&yb, &y, sizeof(T));                                                  \
                z = ekz_zz(SORT(xb) - SORT(yb));                                             \
                zd = (double)z; /* frexp's exponent, from the bits (zd is 0 or normal) */    \
                memcpy(&zb, &zd, 8);                                                         \
                e = z ? (int)((zb >> 52) & 2047u) - 1022 : 0;                                \
                bs += (double)(e + (z != 0)) * w[i];                                         \
            }                                                                                \
            off[s] = o / wsum;                                                               \
            bits[s] = bs;                                                                    \
        }                                                                                    \
        return EKZ_OK;                                                                       \
    }

EKZ_DEFINE_GRID_COSTS(f64, double, 64, ekz_sort64)
EKZ_DEFINE_GRID_COSTS(f32, float, 32, ekz_sort32)
#undef EKZ_DEFINE_GRID_COSTS

static double ekz_pow10(int d)
{
    double p = 1.0;
    while (d-- > 0)
        p *= 10.0;
    return p;
}

/* The smallest d in 0..maxd (<= 22) for which at most `allow` of `sample` finite values,
 * read at evenly spaced positions floor(s * n / m) (m = min(sample, n)) across x, are not
 * exactly rint(x * 10**d) / 10**d; -1 when no d qualifies.  Reading across the block, not
 * its head, catches a block whose later values carry more decimals than its first ones. */
#define EKZ_DEFINE_FIND_DECIMALS(SUF, T)                                                     \
    int ekz_find_decimals_##SUF(const T *x, size_t n, size_t sample, int maxd, size_t allow) \
    {                                                                                        \
        size_t m = sample < n ? sample : n, q, rem;                                          \
        int d;                                                                               \
        if (m == 0)                                                                          \
            return 0;                                                                        \
        q = n / m;                                                                           \
        rem = n % m;                                                                         \
        for (d = 0; d <= maxd && d <= 22; d++) {                                             \
            double p = ekz_pow10(d);                                                         \
            size_t s, miss = 0;                                                              \
            for (s = 0; s < m && miss <= allow; s++) {                                       \
                T v = x[s * q + (size_t)(((uint64_t)s * rem) / m)];                          \
                double t;                                                                    \
                if (!isfinite(v))                                                            \
                    continue;                                                                \
                t = (double)v * p;                                                           \
                miss += !(fabs(t) < EKZ_TWO53) || (T)(rint(t) / p) != v;                     \
            }                                                                                \
            if (miss <= allow)                                                               \
                return d;                                                                    \
        }                                                                                    \
        return -1;                                                                           \
    }

EKZ_DEFINE_FIND_DECIMALS(f64, double)
EKZ_DEFINE_FIND_DECIMALS(f32, float)

static inline double ekz_y(int mode, int64_t k, double p, double a, double b)
{
    return mode == 0 ? (double)k / p : a + (double)k * b;
}

/* The decimal quantizer's fast path: when every x[i] * p is below 2**51 in magnitude and
 * every x[i] is exactly rint(x[i] * p) / p (bits and all: no -0.0, NaN or off-grid value),
 * k is written and 1 returned; otherwise 0 (k partly written) and the caller runs the
 * general loop.  No branch or carried value per element (rint by the 1.5 * 2**52 trick,
 * k read from the rounded double's bits), so the compiler can vectorize it. */
#define EKZ_DEFINE_QUANT_EXACT(SUF, T, W)                                                    \
    static int ekz_quant_exact_##SUF(const T *x, size_t n, double p, int unit, int64_t *k,   \
                                     int64_t *range, size_t *done)                           \
    {                                                                                        \
        const double magic = 6755399441055744.0, lim = 2251799813685248.0;                   \
        uint64_t mb, diff = 0;                                                               \
        int ok = 1;                                                                          \
        double lo, hi, slo = 0.0, shi = 0.0;                                                 \
        size_t i, sdone = 0;                                                                 \
        *done = 0;                                                                           \
        if (n == 0)                                                                          \
            return 0;                                                                        \
        memcpy(&mb, &magic, 8);                                                              \
        lo = hi = rint((double)x[0] * p);                                                    \
        for (i = 0; i < n; i++) {                                                            \
            T xi = x[i], y;                                                                  \
            if ((i & 1023u) == 1023u) { /* every 1024 values: still exact? */               \
                if (!ok || diff)                                                             \
                    break; /* no: the general loop takes over after the exact prefix */     \
                sdone = i;                                                                   \
                slo = lo;                                                                    \
                shi = hi;                                                                    \
            }                                                                                \
            double t = (double)xi * p, s = t + magic, rt = s - magic;                        \
            uint64_t sb;                                                                     \
            uint##W##_t xb, yb;                                                              \
            ok &= fabs(t) < lim;                                                             \
            y = unit ? (T)rt : (T)(rt / p);                                                  \
            memcpy(&sb, &s, 8);                                                              \
            memcpy(&xb, &xi, sizeof(T));                                                     \
            memcpy(&yb, &y, sizeof(T));                                                      \
            diff |= (uint64_t)(xb ^ yb);                                                     \
            k[i] = ekz_s64(sb - mb);                                                         \
            lo = rt < lo ? rt : lo;                                                          \
            hi = rt > hi ? rt : hi;                                                          \
        }                                                                                    \
        if (!ok || diff) {                                                                   \
            *done = sdone;                                                                   \
            range[0] = (int64_t)slo; /* of the exact prefix k[0..*done) */                  \
            range[1] = (int64_t)shi;                                                         \
            return 0;                                                                        \
        }                                                                                    \
        range[0] = (int64_t)lo;                                                              \
        range[1] = (int64_t)hi;                                                              \
        return 1;                                                                            \
    }

EKZ_DEFINE_QUANT_EXACT(f64, double, 64)
EKZ_DEFINE_QUANT_EXACT(f32, float, 32)
#undef EKZ_DEFINE_QUANT_EXACT

/* The affine quantizer's first pass when every |(x[i] - a) / b| is below 2**51 (no NaN,
 * infinity or far value): k by the 1.5 * 2**52 trick, read from the rounded double's
 * bits, with no branch or carried value per element (the compiler vectorizes it); the same
 * k as the general loop.  Returns 0 (k partly written) when some value is out of range. */
#define EKZ_DEFINE_QUANT_AFFINE_FAST(SUF, T)                                                 \
    static int ekz_quant_affine_fast_##SUF(const T *x, size_t n, double a, double b,         \
                                           int64_t *k, int64_t *lo, int64_t *hi)             \
    {                                                                                        \
        const double magic = 6755399441055744.0, lim = 2251799813685248.0;                   \
        uint64_t mb;                                                                         \
        int ok = 1;                                                                          \
        int64_t range[2];                                                                    \
        size_t i;                                                                            \
        if (n == 0)                                                                          \
            return 0;                                                                        \
        memcpy(&mb, &magic, 8);                                                              \
        for (i = 0; i < n; i++) {                                                            \
            double t = ((double)x[i] - a) / b, s = t + magic;                                \
            uint64_t sb;                                                                     \
            ok &= fabs(t) < lim;                                                             \
            memcpy(&sb, &s, 8);                                                              \
            k[i] = ekz_s64(sb - mb);                                                         \
        }                                                                                    \
        if (!ok)                                                                             \
            return 0;                                                                        \
        ekz_minmax(k, n, range);                                                             \
        *lo = range[0];                                                                      \
        *hi = range[1];                                                                      \
        return 1;                                                                            \
    }

EKZ_DEFINE_QUANT_AFFINE_FAST(f64, double)
EKZ_DEFINE_QUANT_AFFINE_FAST(f32, float)
#undef EKZ_DEFINE_QUANT_AFFINE_FAST

/* Quantizer body for float type T with W-bit bits: pass 1 finds k (and its range); pass 2
 * computes y, from a table of the distinct values when the range is short (each y by the
 * same formula, once), and the residual. */
#define EKZ_DEFINE_QUANT(SUF, T, W, SORT)                                                    \
    int ekz_quant_##SUF(const T *x, size_t n, int mode, double p, double a, double b,       \
                        double tol, T *tab, int64_t *k, int64_t *r, size_t *nonzero,         \
                        int64_t *range)                                                      \
    {                                                                                        \
        size_t i, nz = 0;                                                                    \
        int64_t prev = 0, lo = 0, hi = 0;                                                    \
        uint64_t span;                                                                       \
        if (mode != 0 && mode != 1)                                                          \
            return EKZ_EINVAL;                                                               \
        if (mode == 0) {                                                                     \
            /* decimal: one pass; y = k / p is a single correctly rounded division, the    \
             * same bits as the table would hold (and k itself when p is 1) */             \
            int unit = p == 1.0;                                                             \
            size_t start;                                                                    \
            if (ekz_quant_exact_##SUF(x, n, p, unit, k, range, &start)) {                    \
                *nonzero = 0; /* every value is exactly k / p: no residual */                \
                return EKZ_OK;                                                               \
            }                                                                                \
            if (start) { /* k[0..start) exact: their residuals are 0 */                      \
                lo = range[0];                                                               \
                hi = range[1];                                                               \
                prev = k[start - 1];                                                         \
                memset(r, 0, start * sizeof *r);                                             \
            }                                                                                \
            for (i = start; i < n; i++) {                                                    \
                T xi = x[i], y;                                                              \
                double t = (double)xi * p;                                                   \
                int64_t ki = fabs(t) < EKZ_TWO53 ? ekz_rint(t) : prev;                       \
                uint##W##_t xb, yb;                                                          \
                uint64_t res = 0;                                                            \
                k[i] = ki;                                                                   \
                prev = ki;                                                                   \
                lo = ki < lo ? ki : lo;                                                      \
                hi = ki > hi ? ki : hi;                                                      \
                y = unit ? (T)(double)ki : (T)((double)ki / p);                              \
                memcpy(&xb, &xi, sizeof(T));                                                 \
                memcpy(&yb, &y, sizeof(T));                                                  \
                /* branch-free: half the values of a noisy grid have one */              \
                res = (SORT(xb) - SORT(yb)) &                                                \
                      (0u - (uint64_t)!(tol >= 0.0 && fabs((double)y - (double)xi) <= tol));  \
                r[i] = ekz_s64(res); /* (exact data took the fast path: r untouched) */     \
                nz += res != 0;                                                              \
                if (i == 0)                                                                  \
                    lo = hi = ki;                                                            \
            }                                                                                \
            range[0] = lo;                                                                   \
            range[1] = hi;                                                                   \
            *nonzero = nz;                                                                   \
            return EKZ_OK;                                                                   \
        }                                                                                    \
        if (!ekz_quant_affine_fast_##SUF(x, n, a, b, k, &lo, &hi)) {                         \
            for (i = 0; i < n; i++) {                                                        \
                double t = ((double)x[i] - a) / b;                                           \
                int64_t ki = fabs(t) < EKZ_TWO53 ? ekz_rint(t) : prev;                       \
                k[i] = ki;                                                                   \
                prev = ki;                                                                   \
                lo = ki < lo || i == 0 ? ki : lo;                                            \
                hi = ki > hi || i == 0 ? ki : hi;                                            \
            }                                                                                \
        }                                                                                    \
        range[0] = lo;                                                                       \
        range[1] = hi;                                                                       \
        span = (uint64_t)hi - (uint64_t)lo;                                                  \
        if (n && span < (uint64_t)EKZ_TAB_LEN && span < n / 4u) {                            \
            size_t v;                                                                        \
            for (v = 0; v <= (size_t)span; v++)                                              \
                tab[v] = (T)ekz_y(mode, lo + (int64_t)v, p, a, b);                           \
        } else {                                                                             \
            tab = NULL;                                                                      \
        }                                                                                    \
        for (i = 0; i < n; i++) {                                                            \
            T xi = x[i];                                                                     \
            T y = tab ? tab[k[i] - lo] : (T)ekz_y(mode, k[i], p, a, b);                      \
            uint##W##_t xb, yb;                                                              \
            uint64_t res = 0;                                                                \
            memcpy(&xb, &xi, sizeof(T));                                                     \
            memcpy(&yb, &y, sizeof(T));                                                      \
            res = (SORT(xb) - SORT(yb)) & /* branch-free: a noisy grid has many */         \
                  (0u - (uint64_t)!(tol >= 0.0 && fabs((double)y - (double)xi) <= tol));      \
            r[i] = ekz_s64(res);                                                             \
            nz += res != 0;                                                                  \
        }                                                                                    \
        *nonzero = nz;                                                                       \
        return EKZ_OK;                                                                       \
    }

EKZ_DEFINE_QUANT(f64, double, 64, ekz_sort64)
EKZ_DEFINE_QUANT(f32, float, 32, ekz_sort32)
#undef EKZ_DEFINE_QUANT

int ekz_build_tab_f64(int mode, double p, double a, double b, uint64_t g, uint64_t off,
                      uint64_t lo, size_t len, double *tab)
{
    size_t v;
    if ((mode != 0 && mode != 1) || len > EKZ_TAB_LEN)
        return EKZ_EINVAL;
    for (v = 0; v < len; v++)
        tab[v] = ekz_y(mode, ekz_s64(off + g * (lo + v)), p, a, b);
    return EKZ_OK;
}

int ekz_build_tab_f32(int mode, double p, double a, double b, uint64_t g, uint64_t off,
                      uint64_t lo, size_t len, float *tab)
{
    size_t v;
    if ((mode != 0 && mode != 1) || len > EKZ_TAB_LEN)
        return EKZ_EINVAL;
    for (v = 0; v < len; v++)
        tab[v] = (float)ekz_y(mode, ekz_s64(off + g * (lo + v)), p, a, b);
    return EKZ_OK;
}

int ekz_add_resid_f64(const int64_t *r, size_t n, double *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (r[i]) {
            uint64_t yb;
            memcpy(&yb, &out[i], 8);
            yb = ekz_sort64(ekz_sort64(yb) + (uint64_t)r[i]);
            memcpy(&out[i], &yb, 8);
        }
    }
    return EKZ_OK;
}

int ekz_add_resid_f32(const int64_t *r, size_t n, float *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (r[i]) {
            uint32_t yb;
            memcpy(&yb, &out[i], 4);
            yb = ekz_unsort32(ekz_sort32(yb) + (uint64_t)r[i]);
            memcpy(&out[i], &yb, 4);
        }
    }
    return EKZ_OK;
}

/* k range of a block, for the table path */
static int ekz_krange(const uint64_t *j, size_t n, uint64_t g, uint64_t off, int64_t *lo)
{
    size_t i;
    int64_t mn, mx;
    if (n == 0)
        return 0;
    mn = mx = ekz_s64(off + g * j[0]);
    for (i = 1; i < n; i++) {
        int64_t k = ekz_s64(off + g * j[i]);
        mn = k < mn ? k : mn;
        mx = k > mx ? k : mx;
    }
    *lo = mn;
    /* a table pays when it is much shorter than the block */
    if ((uint64_t)mx - (uint64_t)mn >= (uint64_t)EKZ_TAB_LEN || (uint64_t)mx - (uint64_t)mn >= n / 4u)
        return 0;
    return (int)((uint64_t)mx - (uint64_t)mn) + 1;
}

#define EKZ_DEFINE_DEQUANT(SUF, T, W, SORT, UNSORT)                                          \
    int ekz_dequant_##SUF(const uint64_t *j, const int64_t *r, size_t n, int mode, double p, \
                          double a, double b, uint64_t g, uint64_t off, T *tab, T *out)      \
    {                                                                                        \
        size_t i;                                                                            \
        int64_t lo = 0;                                                                      \
        int len;                                                                             \
        if (mode != 0 && mode != 1)                                                          \
            return EKZ_EINVAL;                                                               \
        len = ekz_krange(j, n, g, off, &lo);                                                 \
        if (len > 0) {                                                                       \
            /* each distinct k once, by the same formula; then a lookup per value */         \
            int v;                                                                           \
            for (v = 0; v < len; v++)                                                        \
                tab[v] = (T)ekz_y(mode, lo + v, p, a, b);                                    \
            for (i = 0; i < n; i++)                                                          \
                out[i] = tab[(uint64_t)ekz_s64(off + g * j[i]) - (uint64_t)lo];              \
        } else {                                                                             \
            for (i = 0; i < n; i++)                                                          \
                out[i] = (T)ekz_y(mode, ekz_s64(off + g * j[i]), p, a, b);                   \
        }                                                                                    \
        if (r) {                                                                             \
            for (i = 0; i < n; i++) {                                                        \
                if (r[i]) {                                                                  \
                    uint##W##_t yb;                                                          \
                    memcpy(&yb, &out[i], sizeof(T));                                         \
                    yb = UNSORT(SORT(yb) + (uint64_t)r[i]);                                  \
                    memcpy(&out[i], &yb, sizeof(T));                                         \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        return EKZ_OK;                                                                       \
    }

static inline uint64_t ekz_unsort64(uint64_t s) { return ekz_sort64(s); }

EKZ_DEFINE_DEQUANT(f64, double, 64, ekz_sort64, ekz_unsort64)
EKZ_DEFINE_DEQUANT(f32, float, 32, ekz_sort32, ekz_unsort32)
