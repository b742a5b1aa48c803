/* Format v2 kernels of edgekit.compress: see compress_v2.h. */
#include "compress_v2.h"

#include <math.h>
#include <string.h>

#include "compress.h"

/* floor(s / 2^sh) of s read as int64, in unsigned arithmetic (no implementation-defined
 * signed shift). */
static inline uint64_t ekz2_asr(uint64_t s, int sh)
{
#if defined(__GNUC__) || defined(_MSC_VER)
    /* these compilers shift a negative int64 arithmetically (documented behaviour) */
    return (uint64_t)((int64_t)s >> sh);
#else
    return (s >> 63) ? ~((~s) >> sh) : (s >> sh);
#endif
}

static int ekz2_check(size_t n, const uint32_t *lags, const int64_t *coefs, int nterms,
                      int shift)
{
    if (nterms < 1 || nterms > EKZ2_MAX_TERMS || shift < 0 || shift > 32 || n < 1)
        return EKZ_EINVAL;
    for (int t = 0; t < nterms; t++) {
        if (lags[t] < 1 || (t && lags[t] <= lags[t - 1]))
            return EKZ_EINVAL;
        if (coefs[t] < -2147483648LL || coefs[t] > 2147483647LL)
            return EKZ_EINVAL;
    }
    if ((size_t)lags[nterms - 1] >= n)
        return EKZ_EINVAL;
    return EKZ_OK;
}

/* dense lags 1..P: the common LPC form */
static int ekz2_dense(const uint32_t *lags, int nterms)
{
    for (int t = 0; t < nterms; t++)
        if (lags[t] != (uint32_t)(t + 1))
            return 0;
    return 1;
}

/* The recurrence over i = L..n-1 of a predictor with coefficients c[] (uint64), STMT
 * using the sum s of the terms: with dense lags 1..P and P a constant (2..17) the trip
 * count is fixed and the loop unrolls into straight-line code; any other predictor runs
 * the general loop.  Returns from the enclosing function. */
#define EKZ2_DENSE_LOOP(P, STMT)                                             \
    case P:                                                                  \
        for (size_t i = L; i < n; i++) {                                     \
            uint64_t s = 0;                                                  \
            for (int t = 0; t < P; t++)                                      \
                s += c[t] * j[i - 1 - t];                                    \
            STMT;                                                            \
        }                                                                    \
        return EKZ_OK;
#define EKZ2_RECURRENCE(STMT)                                                \
    do {                                                                     \
        if (ekz2_dense(lags, nterms)) {                                      \
            switch (nterms) {                                                \
            EKZ2_DENSE_LOOP(2, STMT) EKZ2_DENSE_LOOP(3, STMT)                \
            EKZ2_DENSE_LOOP(4, STMT) EKZ2_DENSE_LOOP(5, STMT)                \
            EKZ2_DENSE_LOOP(6, STMT) EKZ2_DENSE_LOOP(7, STMT)                \
            EKZ2_DENSE_LOOP(8, STMT) EKZ2_DENSE_LOOP(9, STMT)                \
            EKZ2_DENSE_LOOP(10, STMT) EKZ2_DENSE_LOOP(11, STMT)              \
            EKZ2_DENSE_LOOP(12, STMT) EKZ2_DENSE_LOOP(13, STMT)              \
            EKZ2_DENSE_LOOP(14, STMT) EKZ2_DENSE_LOOP(15, STMT)              \
            EKZ2_DENSE_LOOP(16, STMT) EKZ2_DENSE_LOOP(17, STMT)              \
            default:                                                         \
                break;                                                       \
            }                                                                \
        }                                                                    \
        for (size_t i = L; i < n; i++) {                                     \
            uint64_t s = 0;                                                  \
            for (int t = 0; t < nterms; t++)                                 \
                s += c[t] * j[i - lags[t]];                                  \
            STMT;                                                            \
        }                                                                    \
        return EKZ_OK;                                                       \
    } while (0)

void ekz2_dense_init(const uint64_t *j, size_t from, const uint64_t *c, int nterms,
                     uint64_t *init, uint64_t *cv)
{
    for (int m = 0; m < 8; m++) {
        uint64_t a = 0;
        for (int t = 5; t <= nterms; t++) /* values up to from - 5 */
            if ((size_t)t >= (size_t)m + 5u)
                a += c[t - 1] * j[from + (size_t)m - (size_t)t];
        init[m] = a;
        cv[m] = m + 5 <= nterms ? c[m + 4] : 0u;
    }
}

int ekz2_dense_lags(const uint32_t *lags, int nterms)
{
    return ekz2_dense(lags, nterms);
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(EKZ_NO_AVX512)
#include <immintrin.h>
#define EKZ2_AVX512 1
static int ekz2_have_avx512(void)
{
    static int have = -1; /* a benign race: every thread writes the same answer */
    if (have < 0)
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    return have;
}

int ekz2_cpu_avx512(void)
{
    return ekz2_have_avx512() && __builtin_cpu_supports("bmi2");
}

/* ekz2_predict's dense recurrence (lags 1..P) for i = L..n-1, eight values at a time: the
 * residuals do not depend on each other, so each term is one 64-bit vector multiply
 * (AVX-512DQ, wrapping: the same bits) of eight consecutive values; the tail is scalar. */
__attribute__((target("avx512f,avx512dq"))) static void
ekz2_predict_dense_avx512(const uint64_t *j, size_t n, size_t L, const uint64_t *c,
                          int nterms, int shift, uint64_t *e)
{
    size_t i = L;
    const __m128i sh = _mm_cvtsi32_si128(shift);
    /* every value inside int32 (and the coefficients are): each product exact in a 32 x 32
     * -> 64-bit multiply (one micro-op where the 64-bit one takes three), the same bits */
    __m512i lo = _mm512_set1_epi64(INT32_MIN), hi = _mm512_set1_epi64(INT32_MAX);
    __mmask8 out = 0;
    size_t q = 0;
    for (; q + 8u <= n; q += 8u) {
        const __m512i v = _mm512_loadu_si512((const void *)(j + q));
        out |= _mm512_cmplt_epi64_mask(v, lo) | _mm512_cmpgt_epi64_mask(v, hi);
    }
    for (; q < n; q++)
        out |= (int64_t)j[q] < INT32_MIN || (int64_t)j[q] > INT32_MAX;
    if (!out) {
        switch (nterms) { /* a constant term count: the terms unroll */
#define EKZ2_P32(P)                                                                         \
    case P:                                                                                 \
        for (; i + 8u <= n; i += 8u) {                                                      \
            __m512i s = _mm512_setzero_si512();                                             \
            _Pragma("GCC unroll 16") for (int t = 0; t < P; t++)                            \
                s = _mm512_add_epi64(s, _mm512_mul_epi32(                                   \
                                            _mm512_set1_epi64((long long)c[t]),             \
                                            _mm512_loadu_si512((const void *)(j + i - 1u - t)))); \
            s = _mm512_sra_epi64(s, sh);                                                    \
            _mm512_storeu_si512((void *)(e + i - 1u),                                       \
                                _mm512_sub_epi64(_mm512_loadu_si512((const void *)(j + i)), s)); \
        }                                                                                   \
        break;
        EKZ2_P32(2) EKZ2_P32(3) EKZ2_P32(4) EKZ2_P32(5) EKZ2_P32(6) EKZ2_P32(7)
        EKZ2_P32(8) EKZ2_P32(9) EKZ2_P32(10) EKZ2_P32(11) EKZ2_P32(12) EKZ2_P32(13)
#undef EKZ2_P32
        default:
            for (; i + 8u <= n; i += 8u) {
                __m512i s = _mm512_setzero_si512();
                for (int t = 0; t < nterms; t++)
                    s = _mm512_add_epi64(s, _mm512_mul_epi32(
                                                _mm512_set1_epi64((long long)c[t]),
                                                _mm512_loadu_si512((const void *)(j + i - 1u - t))));
                s = _mm512_sra_epi64(s, sh);
                _mm512_storeu_si512((void *)(e + i - 1u),
                                    _mm512_sub_epi64(_mm512_loadu_si512((const void *)(j + i)), s));
            }
        }
    }
    for (; i + 8u <= n; i += 8u) {
        __m512i s = _mm512_setzero_si512();
        for (int t = 0; t < nterms; t++)
            s = _mm512_add_epi64(s, _mm512_mullo_epi64(
                                        _mm512_set1_epi64((long long)c[t]),
                                        _mm512_loadu_si512((const void *)(j + i - 1u - t))));
        s = _mm512_sra_epi64(s, sh);
        _mm512_storeu_si512((void *)(e + i - 1u),
                            _mm512_sub_epi64(_mm512_loadu_si512((const void *)(j + i)), s));
    }
    for (; i < n; i++) {
        uint64_t s = 0;
        for (int t = 0; t < nterms; t++)
            s += c[t] * j[i - 1 - t];
        e[i - 1] = j[i] - ekz2_asr(s, shift);
    }
}
#else
int ekz2_cpu_avx512(void)
{
    return 0;
}
#endif

static void ekz2_coefs(const int64_t *coefs, int nterms, uint64_t *c)
{
    for (int t = 0; t < nterms; t++)
        c[t] = (uint64_t)coefs[t];
}

int ekz2_predict(const uint64_t *j, size_t n, const uint32_t *lags, const int64_t *coefs,
                 int nterms, int shift, uint64_t *e)
{
    int st = ekz2_check(n, lags, coefs, nterms, shift);
    if (st != EKZ_OK)
        return st;
    size_t L = lags[nterms - 1];
    for (size_t i = 1; i < L; i++)
        e[i - 1] = j[i] - j[i - 1];
    uint64_t c[EKZ2_MAX_TERMS];
    ekz2_coefs(coefs, nterms, c);
#ifdef EKZ2_AVX512
    if (nterms >= 2 && ekz2_dense(lags, nterms) && n - L >= 16u && ekz2_have_avx512()) {
        ekz2_predict_dense_avx512(j, n, L, c, nterms, shift, e);
        return EKZ_OK;
    }
#endif
    EKZ2_RECURRENCE(e[i - 1] = j[i] - ekz2_asr(s, shift));
}

/* An opaque copy of x: keeps the compiler from factoring c0 a + c0 e back into c0 (a + e),
 * or from adding the other terms one by one to c0 a (either puts adds on the recurrence's
 * serial path again). */
#if defined(__GNUC__) || defined(__clang__)
#define EKZ2_OPAQUE(x) __asm__("" : "+r"(x))
#else
#define EKZ2_OPAQUE(x) ((void)0)
#endif

/* The dense recurrence j[i] = asr(u_i, sh) + e_i, u_i = sum_t c[t] j[i-1-t], for P terms (a
 * constant: straight-line code).  It carries u, not j: u_{i+1} = c[0] asr(u_i, sh) +
 * (c[0] e_i + sum_{t >= 1} c[t] j[i-t]) (modulo 2^64, so the same bits), so the serial path
 * is u_i -> shift -> one multiply -> one add -> u_{i+1} (5 cycles; through j it was 6: the
 * add of e_i came before the multiply).  Everything in the parentheses is known a step
 * early: j[i-1] stays in a register, the older terms are loaded from memory. */
#define EKZ2_UNPRED_DENSE(P)                                                 \
    case P: {                                                                \
        uint64_t p1 = j[from - 1], u = 0;                                    \
        for (int t = 0; t < P; t++)                                          \
            u += c[t] * j[from - 1 - t];                                     \
        for (size_t i = from; i < to; i++) {                                 \
            const uint64_t a = ekz2_asr(u, shift), ei = e[i - from];         \
            uint64_t r = c[0] * ei;                                          \
            EKZ2_OPAQUE(r);                                                  \
            r += c[1] * p1; /* j[i-1] */                                     \
            for (int t = 2; t < P; t++)                                      \
                r += c[t] * j[i - t];                                        \
            EKZ2_OPAQUE(r); /* summed before it meets c0 a */                \
            p1 = a + ei;                                                     \
            j[i] = p1;                                                       \
            u = c[0] * a + r;                                                \
        }                                                                    \
        return;                                                              \
    }

#ifdef EKZ2_AVX512
/* The dense recurrence for 5..12 terms with the terms t >= 5 in an eight-lane accumulator
 * (AVX-512F/DQ: 64-bit multiplies, wrapping, the same bits): the scalar loop is bound by
 * its P multiplies a value (one port); here four are scalar (t = 1..4: j[i-1] .. j[i-4]
 * in registers) and the rest one vector multiply.  Lane m of A holds, for value i + m, the
 * sum of c_t j[i + m - t] over t >= 5 and the values up to i - 5; each step adds
 * j[i - 4] times (c_5 .. c_12) and shifts A down one lane.  j[i - 4] is four steps old when
 * it is added: the vector multiply's latency is off the serial path. */
__attribute__((target("avx512f,avx512dq"))) static void
ekz2_unpred_dense_avx512(uint64_t *j, const uint64_t *e, size_t from, size_t to,
                         const uint64_t *c, int nterms, int shift)
{
    uint64_t init[8], cv[8];
    ekz2_dense_init(j, from, c, nterms, init, cv);
    __m512i A = _mm512_loadu_si512((const void *)init);
    const __m512i C = _mm512_loadu_si512((const void *)cv), Z = _mm512_setzero_si512();
    const uint64_t c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
    uint64_t p1 = j[from - 1], p2 = j[from - 2], p3 = j[from - 3], p4 = j[from - 4];
    for (size_t i = from; i < to; i++) {
        uint64_t s = (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(A));
        s += c3 * p4;
        s += c2 * p3;
        s += c1 * p2;
        s += c0 * p1;
        A = _mm512_add_epi64(_mm512_alignr_epi64(Z, A, 1),
                             _mm512_mullo_epi64(C, _mm512_set1_epi64((long long)p4)));
        p4 = p3;
        p3 = p2;
        p2 = p1;
        p1 = ekz2_asr(s, shift) + e[i - from];
        j[i] = p1;
    }
}

#endif

/* A predictor whose every lag is at least 8 (lookback lags: a daily period, multiplexed
 * channels): the eight values i..i+7 depend on none of each other, so they are computed
 * together, each term one multiply of eight loaded values (the AVX-512 copy: 64-bit
 * vector multiplies, wrapping, the same bits; elsewhere the same C in groups of eight,
 * which the compiler's vectorizer or the core's parallelism takes).  Returns where it
 * stopped (the caller's scalar loop does the rest). */
#ifdef EKZ2_AVX512
__attribute__((target("avx512f,avx512dq"))) static size_t
ekz2_unpred_far_avx512(uint64_t *j, const uint64_t *e, size_t from, size_t to,
                       const uint32_t *lags, const uint64_t *c, int nterms, int shift)
{
    size_t i = from;
    const __m128i sh = _mm_cvtsi32_si128(shift);
    if (nterms == 2) {
        const __m512i c0 = _mm512_set1_epi64((long long)c[0]);
        const __m512i c1 = _mm512_set1_epi64((long long)c[1]);
        const size_t l0 = lags[0], l1 = lags[1];
        for (; i + 8u <= to; i += 8u) {
            __m512i s = _mm512_add_epi64(
                _mm512_mullo_epi64(c0, _mm512_loadu_si512((const void *)(j + i - l0))),
                _mm512_mullo_epi64(c1, _mm512_loadu_si512((const void *)(j + i - l1))));
            s = _mm512_add_epi64(_mm512_sra_epi64(s, sh),
                                 _mm512_loadu_si512((const void *)(e + i - from)));
            _mm512_storeu_si512((void *)(j + i), s);
        }
        return i;
    }
    for (; i + 8u <= to; i += 8u) {
        __m512i s = _mm512_setzero_si512();
        for (int t = 0; t < nterms; t++)
            s = _mm512_add_epi64(s, _mm512_mullo_epi64(
                                        _mm512_set1_epi64((long long)c[t]),
                                        _mm512_loadu_si512((const void *)(j + i - lags[t]))));
        s = _mm512_add_epi64(_mm512_sra_epi64(s, sh),
                             _mm512_loadu_si512((const void *)(e + i - from)));
        _mm512_storeu_si512((void *)(j + i), s);
    }
    return i;
}
#endif

static size_t ekz2_unpred_far(uint64_t *j, const uint64_t *e, size_t from, size_t to,
                              const uint32_t *lags, const uint64_t *c, int nterms, int shift)
{
    size_t i = from;
#ifdef EKZ2_AVX512
    if (ekz2_have_avx512())
        return ekz2_unpred_far_avx512(j, e, from, to, lags, c, nterms, shift);
#endif
    for (; i + 8u <= to; i += 8u) {
        uint64_t s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int t = 0; t < nterms; t++) {
            const uint64_t ct = c[t], *jt = j + i - lags[t];
            for (int m = 0; m < 8; m++)
                s[m] += ct * jt[m];
        }
        for (int m = 0; m < 8; m++)
            j[i + (size_t)m] = ekz2_asr(s[m], shift) + e[i - from + (size_t)m];
    }
    return i;
}

void ekz2_unpredict_span(uint64_t *j, const uint64_t *e, size_t from, size_t to,
                         const uint32_t *lags, const uint64_t *c, int nterms, int shift)
{
    size_t L = lags[nterms - 1], i = from;
    for (; i < to && i < L; i++) /* warm-up: delta 1 */
        j[i] = j[i - 1] + e[i - from];
    if (i >= to)
        return;
    e += i - from;
    from = i;
    if (lags[0] >= 8u) { /* lookback lags only: eight values at a time */
        i = ekz2_unpred_far(j, e, from, to, lags, c, nterms, shift);
        if (i >= to)
            return;
        e += i - from;
        from = i;
    }
    if (nterms == 1) {
        if (c[0] == 1u && shift == 0) { /* lookback */
            for (i = from; i < to; i++)
                j[i] = j[i - L] + e[i - from];
        } else {
            const uint64_t c0 = c[0];
            for (i = from; i < to; i++)
                j[i] = ekz2_asr(c0 * j[i - L], shift) + e[i - from];
        }
        return;
    }
    if (ekz2_dense(lags, nterms)) {
#ifdef EKZ2_AVX512
        if (nterms >= 5 && nterms <= 12 && to - from >= 16u && ekz2_have_avx512()) {
            ekz2_unpred_dense_avx512(j, e, from, to, c, nterms, shift);
            return;
        }
#endif
        switch (nterms) {
        EKZ2_UNPRED_DENSE(2) EKZ2_UNPRED_DENSE(3) EKZ2_UNPRED_DENSE(4)
        EKZ2_UNPRED_DENSE(5) EKZ2_UNPRED_DENSE(6) EKZ2_UNPRED_DENSE(7)
        EKZ2_UNPRED_DENSE(8) EKZ2_UNPRED_DENSE(9) EKZ2_UNPRED_DENSE(10)
        EKZ2_UNPRED_DENSE(11) EKZ2_UNPRED_DENSE(12) EKZ2_UNPRED_DENSE(13)
        default:
            break;
        }
    }
    if (nterms == 2) { /* two lags (a lookback as a second difference, delta-free) */
        const uint64_t c0 = c[0], c1 = c[1];
        const size_t l0 = lags[0], l1 = lags[1];
        for (i = from; i < to; i++)
            j[i] = ekz2_asr(c0 * j[i - l0] + c1 * j[i - l1], shift) + e[i - from];
        return;
    }
    for (i = from; i < to; i++) {
        uint64_t s = 0;
        for (int t = 0; t < nterms; t++)
            s += c[t] * j[i - lags[t]];
        j[i] = ekz2_asr(s, shift) + e[i - from];
    }
}
#undef EKZ2_UNPRED_DENSE

int ekz2_unpredict(const uint64_t *e, size_t n, uint64_t j0, const uint32_t *lags,
                   const int64_t *coefs, int nterms, int shift, uint64_t *j)
{
    int st = ekz2_check(n, lags, coefs, nterms, shift);
    if (st != EKZ_OK)
        return st;
    uint64_t c[EKZ2_MAX_TERMS];
    ekz2_coefs(coefs, nterms, c);
    j[0] = j0;
    ekz2_unpredict_span(j, e, 1, n, lags, c, nterms, shift);
    return EKZ_OK;
}

int ekz2_pred_check(size_t n, const uint32_t *lags, const int64_t *coefs, int nterms,
                    int shift)
{
    return ekz2_check(n, lags, coefs, nterms, shift);
}

#define EKZ2_GATHER(T)                                                       \
    do {                                                                     \
        const T *tb = (const T *)(const void *)table;                        \
        T *o = (T *)(void *)out;                                             \
        uint64_t bad = 0;                                                    \
        for (size_t i = 0; i < n; i++) {                                     \
            uint64_t k = idx[i];                                             \
            bad |= (uint64_t)(k >= tlen);                                    \
            o[i] = tb[k < tlen ? k : 0];                                     \
        }                                                                    \
        return bad ? EKZ_ECORRUPT : EKZ_OK;                                  \
    } while (0)

int ekz2_gather(const uint8_t *table, size_t tlen, size_t width, const uint64_t *idx,
                size_t n, uint8_t *out)
{
    if (tlen == 0)
        return n ? EKZ_ECORRUPT : EKZ_OK;
    switch (width) {
    case 1: EKZ2_GATHER(uint8_t);
    case 2: EKZ2_GATHER(uint16_t);
    case 4: EKZ2_GATHER(uint32_t);
    case 8: EKZ2_GATHER(uint64_t);
    default: return EKZ_EINVAL;
    }
}

/* an AVX2 copy of the encoder's search loops, picked at load time where the toolchain
 * supports it (GCC on glibc x86-64): the compiler vectorizes them; no reassociation, so
 * the same bits */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    defined(__GLIBC__) && !defined(EKZ_NO_CLONES)
#define EKZ2_CLONES __attribute__((target_clones("default", "avx2")))
#else
#define EKZ2_CLONES
#endif

/* sum of x[0..m) as four interleaved sums (lane i mod 4, each in index order), combined
 * as (s0 + s1) + (s2 + s3): four independent chains, and the reference's bits */
static double ekz2_sum4(const double *x, size_t m)
{
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
        s[0] += x[i];
        s[1] += x[i + 1];
        s[2] += x[i + 2];
        s[3] += x[i + 3];
    }
    for (; i < m; i++)
        s[i & 3] += x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* the products of ekz2_autocorr for lags 0..P and every i below `full` (a multiple of 4
 * with i + P < m for all of them): s[k][l] += work[i + k] * work[i] for i = l mod 4, i
 * ascending, as ekz2_sum4 takes each lag's products.  One pass over work for every lag: the
 * (P + 1) x 4 sums are independent, where one lag at a time chains its four sums on the
 * adder's latency (3.5 ns a value at 9 lags).  Inlined with P a constant (ekz2_autocorr's
 * switch): the sums stay in registers. */
#if defined(__GNUC__)
#define EKZ2_INLINE static inline __attribute__((always_inline))
#else
#define EKZ2_INLINE static inline
#endif
#if defined(__GNUC__)
/* four doubles (one per i mod 4) as one vector: a ymm register in the AVX2 copy */
typedef double ekz2_v4d __attribute__((vector_size(32)));
EKZ2_INLINE void ekz2_acorr_sums(const double *restrict work, size_t full, int P,
                                 double (*restrict s)[4])
{
    ekz2_v4d a[EKZ2_MAX_TERMS + 1];
    for (int k = 0; k <= P; k++)
        a[k] = (ekz2_v4d){0.0, 0.0, 0.0, 0.0};
    for (size_t i = 0; i < full; i += 4) {
        ekz2_v4d w, v;
        memcpy(&w, work + i, sizeof w);
        for (int k = 0; k <= P; k++) {
            memcpy(&v, work + i + (size_t)k, sizeof v);
            a[k] += v * w;
        }
    }
    for (int k = 0; k <= P; k++)
        memcpy(s[k], &a[k], sizeof a[k]);
}
#else
EKZ2_INLINE void ekz2_acorr_sums(const double *restrict work, size_t full, int P,
                                 double (*restrict s)[4])
{
    for (size_t i = 0; i < full; i += 4)
        for (int k = 0; k <= P; k++)
            for (int l = 0; l < 4; l++)
                s[k][l] += work[i + (size_t)(l + k)] * work[i + (size_t)l];
}
#endif

EKZ2_CLONES int ekz2_autocorr(const int64_t *j, size_t n, int p, double *work, double *r)
{
    if (n < 2 || p < 0 || (size_t)p >= n - 1 || p > EKZ2_MAX_TERMS)
        return EKZ_EINVAL;
    size_t m = n - 1;
    for (size_t i = 0; i < m; i++)
        work[i] = (double)(int64_t)((uint64_t)j[i + 1] - (uint64_t)j[i]);
    double mean = ekz2_sum4(work, m) / (double)m;
    for (size_t i = 0; i < m; i++)
        work[i] -= mean;
    /* r[k] = sum over i < m - k of work[i + k] * work[i], in four sums by i mod 4 (each in
     * index order) combined as (s0 + s1) + (s2 + s3): ekz2_sum4's bits.  All lags together
     * up to `full`, then each lag's last products in the same order. */
    double s[EKZ2_MAX_TERMS + 1][4];
    memset(s, 0, sizeof s);
    size_t full = (m - (size_t)p) & ~(size_t)3;
    switch (p) {
    case 2: ekz2_acorr_sums(work, full, 2, s); break;
    case 3: ekz2_acorr_sums(work, full, 3, s); break;
    case 4: ekz2_acorr_sums(work, full, 4, s); break;
    case 5: ekz2_acorr_sums(work, full, 5, s); break;
    case 6: ekz2_acorr_sums(work, full, 6, s); break;
    case 7: ekz2_acorr_sums(work, full, 7, s); break;
    case 8: ekz2_acorr_sums(work, full, 8, s); break;
    default: ekz2_acorr_sums(work, full, p, s); break;
    }
    for (int k = 0; k <= p; k++) {
        size_t len = m - (size_t)k;
        for (size_t i = full; i < len; i++)
            s[k][i & 3] += work[i + (size_t)k] * work[i];
        r[k] = (s[k][0] + s[k][1]) + (s[k][2] + s[k][3]);
    }
    return EKZ_OK;
}

EKZ2_CLONES int ekz2_lag_matches(const uint64_t *j, size_t n, int maxlag, uint32_t *same)
{
    if (maxlag < 1)
        return EKZ_EINVAL;
    for (int k = 1; k <= maxlag; k++) {
        uint32_t c = 0;
        for (size_t i = (size_t)k; i < n; i++)
            c += j[i] == j[i - k];
        same[k - 1] = c;
    }
    return EKZ_OK;
}

int ekz2_rank(const int64_t *u, size_t T, const int64_t *key, size_t n, uint64_t *idx)
{
    if (T < 1)
        return EKZ_EINVAL;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t k = key[i];
        size_t lo, hi; /* the answer is in [lo, hi) */
        if (u[pos] <= k) { /* gallop up from pos */
            size_t step = 1;
            lo = pos;
            hi = pos + 1;
            while (hi < T && u[hi] <= k) {
                lo = hi;
                hi = (T - hi > step) ? hi + step : T;
                step <<= 1;
            }
        } else { /* gallop down */
            size_t step = 1;
            hi = pos;
            lo = pos;
            while (lo > 0 && u[lo - 1] > k) {
                hi = lo - 1;
                lo = (lo - 1 > step) ? lo - 1 - step : 0;
                step <<= 1;
            }
            if (lo > 0 || u[0] <= k) {
                /* u[lo - 1] <= k (or lo == 0 with u[0] <= k): search [lo-1 or 0, hi) */
                lo = lo ? lo - 1 : 0;
            } else {
                return EKZ_ECORRUPT; /* below the table */
            }
        }
        /* largest p in [lo, hi) with u[p] <= k */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (u[mid] <= k)
                lo = mid;
            else
                hi = mid;
        }
        if (u[lo] != k)
            return EKZ_ECORRUPT;
        idx[i] = lo;
        pos = lo;
    }
    return EKZ_OK;
}

static inline unsigned ekz2_token(uint64_t z)
{
    if (z < 16)
        return (unsigned)z;
#if defined(__GNUC__)
    unsigned b = 64u - (unsigned)__builtin_clzll(z);
#else
    unsigned b = 0;
    for (uint64_t v = z; v; v >>= 1)
        b++;
#endif
    return 16u + 4u * (b - 5u) + (unsigned)((z >> (b - 3u)) & 3u);
}

int ekz2_pred_hist(const uint64_t *j, size_t n, size_t run, const uint32_t *lags,
                   const int64_t *coefs, int nterms, int shift, uint32_t *h)
{
    if (nterms < 1 || nterms > EKZ2_MAX_TERMS || shift < 0 || shift > 32 || run < 1)
        return EKZ_EINVAL;
    for (int t = 1; t < nterms; t++)
        if (lags[t] <= lags[t - 1])
            return EKZ_EINVAL;
    if (lags[0] < 1)
        return EKZ_EINVAL;
    uint64_t c[EKZ2_MAX_TERMS];
    for (int t = 0; t < nterms; t++)
        c[t] = (uint64_t)coefs[t];
    /* four sub-histograms: a run of equal tokens does not wait on one counter */
    uint32_t hh[4][256];
    memset(hh, 0, sizeof hh);
    size_t L = lags[nterms - 1];
    for (size_t a = 0; a < n; a += run) {
        size_t end = n - a > run ? a + run : n;
        for (size_t i = a + L; i < end; i++) {
            uint64_t s = 0;
            for (int t = 0; t < nterms; t++)
                s += c[t] * j[i - lags[t]];
            uint64_t e = j[i] - ekz2_asr(s, shift);
            hh[i & 3][ekz2_token((e << 1) ^ (0u - (e >> 63)))]++;
        }
    }
    for (int t = 0; t < 256; t++)
        h[t] = hh[0][t] + hh[1][t] + hh[2][t] + hh[3][t];
    return EKZ_OK;
}

#define EKZ2_SPLIT(T, UNSORT)                                                \
    do {                                                                     \
        T *o = (T *)(void *)out;                                             \
        for (size_t i = 0; i < n; i++) {                                     \
            uint64_t k = idx[i], l = lo[i];                                  \
            bad |= (uint64_t)(k >= tlen) | (l >> shift);                     \
            uint64_t w = ((uint64_t)table[k < tlen ? k : 0] << shift) + l;   \
            T v = (T)w;                                                      \
            o[i] = UNSORT;                                                   \
        }                                                                    \
    } while (0)

/* for a W-bit u: u ^ ((0 - (u >> (W-1))) >> 1), within W bits */
#define EKZ2_UNSORT(T, W) (T)(v ^ ((T)(0u - (T)(v >> ((W) - 1))) >> 1))

int ekz2_split_gather(const int64_t *table, size_t tlen, const uint64_t *idx,
                      const uint64_t *lo, size_t n, int shift, size_t width, int is_float,
                      uint8_t *out)
{
    if (shift < 1 || shift > 63 || tlen < 1)
        return EKZ_EINVAL;
    uint64_t bad = 0;
    switch (width) {
    case 1:
        if (is_float)
            return EKZ_EINVAL;
        EKZ2_SPLIT(uint8_t, v);
        break;
    case 2:
        if (is_float)
            EKZ2_SPLIT(uint16_t, EKZ2_UNSORT(uint16_t, 16));
        else
            EKZ2_SPLIT(uint16_t, v);
        break;
    case 4:
        if (is_float)
            EKZ2_SPLIT(uint32_t, EKZ2_UNSORT(uint32_t, 32));
        else
            EKZ2_SPLIT(uint32_t, v);
        break;
    case 8:
        if (is_float)
            EKZ2_SPLIT(uint64_t, EKZ2_UNSORT(uint64_t, 64));
        else
            EKZ2_SPLIT(uint64_t, v);
        break;
    default:
        return EKZ_EINVAL;
    }
    return bad ? EKZ_ECORRUPT : EKZ_OK;
}

/* ---------------------------------------------------------------- encode-side kernels */

#define EKZ2_RANK_PROBES 32

static inline size_t ekz2_rank_hash(int64_t k, int bits)
{
    return (size_t)(((uint64_t)k * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

int ekz2_rank_bs(const int64_t *u, size_t T, const int64_t *key, size_t n, uint32_t *tab,
                 size_t L, uint64_t *idx)
{
    if (T < 1 || T >= 0xffffffffu || (L & (L - 1)) != 0 || (L && L < 2 * T))
        return EKZ_EINVAL;
    int bits = 0;
    while (((size_t)1 << bits) < L)
        bits++;
    if (L) { /* open addressing: entry p + 1 in the first free of 32 slots from its hash */
        memset(tab, 0, L * sizeof *tab);
        for (size_t p = 0; p < T; p++) {
            size_t h = ekz2_rank_hash(u[p], bits);
            for (int s = 0; s < EKZ2_RANK_PROBES; s++) {
                uint32_t *e = &tab[(h + (size_t)s) & (L - 1)];
                if (*e == 0) {
                    *e = (uint32_t)(p + 1);
                    break;
                } /* else: all 32 taken, the key is found by the binary search below */
            }
        }
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t k = key[i];
        if (L || u[pos] != k) { /* (without a hash: not the previous value again) */
            int found = 0;
            if (L) {
                size_t h = ekz2_rank_hash(k, bits);
                for (int s = 0; s < EKZ2_RANK_PROBES; s++) {
                    uint32_t e = tab[(h + (size_t)s) & (L - 1)];
                    if (e == 0)
                        break;
                    if (u[e - 1] == k) {
                        pos = e - 1;
                        found = 1;
                        break;
                    }
                }
            }
            if (!found) { /* a branch-free binary search of the whole table */
                const int64_t *base = u;
                size_t len = T;
                while (len > 1) {
                    size_t half = len / 2;
                    base = (base[half] <= k) ? base + half : base;
                    len -= half;
                }
                if (*base != k)
                    return EKZ_ECORRUPT;
                pos = (size_t)(base - u);
            }
        }
        idx[i] = pos;
    }
    return EKZ_OK;
}

int ekz2_pred_hist_runs(const uint64_t *j, size_t n, size_t run, const uint32_t *lags,
                        const int64_t *coefs, int nterms, int shift, uint64_t *work,
                        uint32_t *h)
{
    if (run < 1 || nterms < 1 || nterms > EKZ2_MAX_TERMS)
        return EKZ_EINVAL;
    memset(h, 0, 256 * sizeof *h);
    size_t L = lags[nterms - 1];
    for (size_t a = 0; a < n; a += run) {
        size_t len = n - a > run ? run : n - a;
        if (len <= L)
            continue;
        /* the run's residuals (ekz2_predict's unrolled recurrences), then their tokens */
        int st = ekz2_predict(j + a, len, lags, coefs, nterms, shift, work);
        if (st != EKZ_OK)
            return st;
        ekz_hist1(work + (L - 1), len - L, h);
    }
    return EKZ_OK;
}

/* ------------------------------------------------------------------ predictor search
 *
 * _v2._pred_search in one call: the same options in the same order (LPC, delta order 3,
 * the lookback as a first and a second difference), the same floating-point operations in
 * the same order (Python floats are IEEE doubles; no contraction), so both pick the same
 * predictor bit for bit.  The Python version is the reference (tests compare them). */

static size_t ekz2_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        n++;
    }
    return n;
}

/* the histogram of one option's residuals on j (runs of `run`): the unrolled recurrences
 * for dense LPC, the general loop otherwise (the same histogram either way) */
static int ekz2_opt_hist(const uint64_t *j, size_t n, size_t run, const uint32_t *lags,
                         const int64_t *coefs, int nterms, int shift, uint64_t *work,
                         uint32_t *h)
{
    if (nterms >= 2 && lags[nterms - 1] == (uint32_t)nterms)
        return ekz2_pred_hist_runs(j, n, run, lags, coefs, nterms, shift, work, h);
    return ekz2_pred_hist(j, n, run, lags, coefs, nterms, shift, h);
}

/* _v2._quantise: 1 and the terms, or 0 when degenerate */
static int ekz2_quantise(const double *a, int p, int prec, uint32_t *lags, int64_t *coefs,
                         int *nterms, int *shift_out)
{
    double big = fabs(a[0]), q[EKZ2_MAX_TERMS];
    int64_t qi[EKZ2_MAX_TERMS], cf[EKZ2_MAX_TERMS + 1];
    int any = 0, shift, t, m;
    for (t = 1; t < p; t++) /* Python's max(): the first, replaced only by a larger one */
        if (fabs(a[t]) > big)
            big = fabs(a[t]);
    if (!isfinite(big) || big == 0.0)
        return 0;
    {
        double c = ceil(log2(big + 1e-12));
        int up = c > 0.0 ? (c > 4096.0 ? 4096 : (int)c) : 0;
        shift = prec - 1 - up;
    }
    shift = shift < 24 ? shift : 24;
    shift = shift > 0 ? shift : 0;
    for (t = 0; t < p; t++) {
        q[t] = nearbyint(a[t] * (double)((int64_t)1 << shift)); /* round half to even */
        /* |q| >= 2**40: a coefficient of 2**31 or more whatever the others (each q_t is
         * minus a sum of at most 32 of them), so no predictor */
        if (!(fabs(q[t]) < 1099511627776.0))
            return 0;
        qi[t] = (int64_t)q[t];
        any |= qi[t] != 0;
    }
    if (!any)
        return 0;
    cf[0] = ((int64_t)1 << shift) + qi[0];
    for (t = 1; t < p; t++)
        cf[t] = qi[t] - qi[t - 1];
    cf[p] = -qi[p - 1];
    m = p + 1;
    while (m > 0 && cf[m - 1] == 0)
        m--;
    if (m == 0 || m > EKZ2_MAX_TERMS)
        return 0;
    for (t = 0; t < m; t++) {
        if (cf[t] >= 2147483648LL || cf[t] <= -2147483648LL)
            return 0;
        lags[t] = (uint32_t)(t + 1);
        coefs[t] = cf[t];
    }
    *nterms = m;
    *shift_out = shift;
    return 1;
}

int ekz2_pred_search(const uint64_t *js, size_t ns, size_t run, int order, double base,
                     const uint64_t *jsmall, size_t nsmall, double base_small,
                     double scale, const double *thr, uint64_t *work, double *dwork,
                     uint32_t *lags_out, int64_t *coefs_out, int32_t *info, double *cost_out)
{
    /* the options: at most LPC, delta 3 and two lookbacks */
    uint32_t olags[4][EKZ2_MAX_TERMS];
    int64_t ocoefs[4][EKZ2_MAX_TERMS];
    int onterms[4], oshift[4], nopt = 0, found = -1, st;
    /* js's residuals go to one of two halves of work, the one not holding the residuals
     * of the best option so far (`kept`, when it was dense and js one run) */
    const size_t wl = run < ns ? run : ns;
    int kept = -1;
    double fcost = 0.0;
    uint32_t h[256];
    const int lpc_max = (int)thr[0], prec = (int)thr[1], look_max = (int)thr[4];
    const double min_gain = thr[2], gain = thr[3], look_share = thr[5];
    if (run < 1 || ns < 1 || order < 0 || order > 2)
        return EKZ_EINVAL;
    { /* _pred_options */
        int pmax = lpc_max, pr;
        double r[EKZ2_MAX_TERMS + 1];
        int have_r = 0;
        if (pmax > EKZ2_MAX_TERMS - 1)
            pmax = EKZ2_MAX_TERMS - 1;
        if ((size_t)pmax > ns / 16u)
            pmax = (int)(ns / 16u);
        pr = pmax > 2 ? pmax : 2;
        if (pmax >= 1) { /* _autocorr_runs */
            double rr[EKZ2_MAX_TERMS + 1];
            int k, ok = 1;
            for (k = 0; k <= pr; k++)
                r[k] = 0.0;
            for (size_t a = 0; a < ns; a += run) {
                size_t len = ns - a < run ? ns - a : run;
                if (len <= (size_t)pr + 1u)
                    continue;
                if (ekz2_autocorr((const int64_t *)(js + a), len, pr, dwork, rr) != EKZ_OK) {
                    ok = 0;
                    break;
                }
                for (k = 0; k <= pr; k++)
                    r[k] = r[k] + rr[k];
            }
            if (ok && r[0] > 0.0) {
                have_r = 1;
                for (k = 0; k <= pr; k++)
                    if (!isfinite(r[k]))
                        have_r = 0;
            }
        }
        if (have_r) {
            double bvar = order == 1 ? r[0] : 2.0 * (r[0] - r[1]);
            const int has_base = order != 0;
            const double need = min_gain * 2.0;
            double a[EKZ2_MAX_TERMS], na[EKZ2_MAX_TERMS], err = r[0], best = 0.0;
            double fa[EKZ2_MAX_TERMS], ferr = 0.0;
            int fp = 0, m, t;
            for (m = 1; m <= pr; m++)
                r[m] = r[m] * (1.0 - 1e-9);
            /* _levinson(r, pmax), each order's size as it comes */
            for (m = 1; m <= pmax; m++) {
                double acc = r[m], k, size;
                for (t = 0; t < m - 1; t++)
                    acc -= a[t] * r[m - 1 - t];
                k = acc / err;
                for (t = 0; t < m - 1; t++)
                    na[t] = a[t] - k * a[m - 2 - t];
                na[m - 1] = k;
                memcpy(a, na, (size_t)m * sizeof *a);
                err *= 1.0 - k * k;
                if (!(err > 0.0))
                    break;
                size = 0.5 * (double)ns * log2(err / r[0]) + (double)(24 * (m + 1));
                if (size < best) {
                    best = size;
                    memcpy(fa, a, (size_t)m * sizeof *a);
                    fp = m;
                    ferr = err;
                }
            }
            if (fp && ferr > 0.0 && (!has_base || log2(bvar / ferr) >= need) &&
                ekz2_quantise(fa, fp, prec, olags[nopt], ocoefs[nopt], &onterms[nopt],
                              &oshift[nopt]))
                nopt++;
            if (order == 2) {
                double var = 6.0 * r[0] - 8.0 * r[1] + 2.0 * r[2];
                if (var > 0.0 && log2(bvar / var) >= need) {
                    olags[nopt][0] = 1, olags[nopt][1] = 2, olags[nopt][2] = 3;
                    ocoefs[nopt][0] = 3, ocoefs[nopt][1] = -3, ocoefs[nopt][2] = 1;
                    onterms[nopt] = 3;
                    oshift[nopt] = 0;
                    nopt++;
                }
            }
        }
        if (look_max >= 2 && ns >= 4u * (size_t)look_max) { /* _lookback_lag */
            uint32_t same[EKZ2_MAX_TERMS * 8];
            size_t m1 = ns < 1024u ? ns : 1024u;
            int k = 2, top = look_max;
            if (top > (int)(sizeof same / sizeof *same))
                return EKZ_EINVAL;
            ekz2_lag_matches(js, m1, top, same);
            for (int q = 3; q <= top; q++)
                if (same[q - 1] > same[k - 1])
                    k = q;
            if ((double)same[k - 1] >= (double)m1 * look_share &&
                same[k - 1] > 2u * same[0]) {
                olags[nopt][0] = (uint32_t)k;
                ocoefs[nopt][0] = 1;
                onterms[nopt] = 1;
                oshift[nopt] = 0;
                nopt++;
                olags[nopt][0] = (uint32_t)k, olags[nopt][1] = (uint32_t)(2 * k);
                ocoefs[nopt][0] = 2, ocoefs[nopt][1] = -1;
                onterms[nopt] = 2;
                oshift[nopt] = 0;
                nopt++;
            }
        }
    }
    for (int o = 0; o < nopt; o++) {
        const uint32_t *lg = olags[o];
        const int64_t *cf = ocoefs[o];
        int P = onterms[o];
        const int dense = P >= 2 && lg[P - 1] == (uint32_t)P; /* as ekz2_opt_hist's test */
        double cost, hs;
        size_t dlen = 2;
        if ((size_t)lg[P - 1] * 4u >= run)
            continue;
        if (jsmall != NULL) {
            st = ekz2_opt_hist(jsmall, nsmall, 1024u, lg, cf, P, oshift[o], work + 2u * wl, h);
            if (st != EKZ_OK)
                return st;
            hs = 0.0;
            for (int t = 0; t < 256; t++)
                hs += h[t];
            if (ekz_cost(h) >= base_small * (hs > 1.0 ? hs : 1.0))
                continue;
        }
        const int half = kept == 0;
        st = ekz2_opt_hist(js, ns, run, lg, cf, P, oshift[o], work + (size_t)half * wl, h);
        if (st != EKZ_OK)
            return st;
        hs = 0.0;
        for (int t = 0; t < 256; t++)
            hs += h[t];
        for (int t = 0; t < P; t++)
            dlen += ekz2_varint_len(lg[t]) + ekz2_varint_len(((uint64_t)cf[t] << 1) ^ (0u - ((uint64_t)cf[t] >> 63)));
        cost = ekz_cost(h) * (double)ns / (hs > 1.0 ? hs : 1.0);
        cost += (double)(8u * (dlen + 10u)) / scale;
        if (cost < base * gain && (found < 0 || cost < fcost)) {
            found = o;
            fcost = cost;
            /* a dense option on js as one run: ekz2_predict(js)'s residuals are there */
            kept = dense && run >= ns && ns > (size_t)lg[P - 1] ? half : -1;
        }
    }
    if (found < 0)
        return 0;
    memcpy(lags_out, olags[found], (size_t)onterms[found] * sizeof *lags_out);
    memcpy(coefs_out, ocoefs[found], (size_t)onterms[found] * sizeof *coefs_out);
    info[0] = onterms[found];
    info[1] = oshift[found];
    info[2] = kept + 1;
    *cost_out = fcost;
    return 1;
}

int ekz2_distinct_sorted(const int64_t *s, size_t n, int64_t *u, uint64_t *out)
{
    size_t t = 0, i = 0;
    uint64_t f1 = 0, f2 = 0;
    while (i < n) {
        size_t k = i + 1;
        while (k < n && s[k] == s[i])
            k++;
        u[t++] = s[i];
        f1 += k - i == 1;
        f2 += k - i == 2;
        i = k;
    }
    out[0] = t;
    out[1] = f1;
    out[2] = f2;
    return EKZ_OK;
}

/* ------------------------------------------------------------------ format v3: lanes */

/* ------------------------------------------------------------------ encoder: block search
 * (helper `cenc`'s region: kernels that make the encoder's choices faster, the same choices) */

EKZ2_CLONES static void ekz2_minmax64(const int64_t *a, size_t n, int64_t *lo, int64_t *hi)
{
    int64_t l = a[0], h = a[0];
    for (size_t i = 1; i < n; i++) { /* branch-free: the compiler's vector min/max */
        l = a[i] < l ? a[i] : l;
        h = a[i] > h ? a[i] : h;
    }
    *lo = l;
    *hi = h;
}

int ekz2_distinct_range(const int64_t *a, size_t n, uint64_t maxspan, uint32_t *cnt,
                        int64_t *u, uint64_t *out)
{
    uint64_t t = 0, f1 = 0, f2 = 0, span, w;
    int64_t lo, hi;
    if (n == 0 || n > UINT32_MAX || maxspan >= (UINT64_MAX >> 3))
        return 0;
    ekz2_minmax64(a, n, &lo, &hi);
    span = (uint64_t)hi - (uint64_t)lo;
    if (span > maxspan)
        return 0;
    /* four banks of counts (by i mod 4): runs of one value do not wait on one counter */
    w = span + 1u;
    memset(cnt, 0, (size_t)(4u * w) * sizeof *cnt);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        cnt[(uint64_t)a[i] - (uint64_t)lo]++;
        cnt[w + ((uint64_t)a[i + 1] - (uint64_t)lo)]++;
        cnt[2u * w + ((uint64_t)a[i + 2] - (uint64_t)lo)]++;
        cnt[3u * w + ((uint64_t)a[i + 3] - (uint64_t)lo)]++;
    }
    for (; i < n; i++)
        cnt[(uint64_t)a[i] - (uint64_t)lo]++;
    for (uint64_t v = 0; v < w; v++) {
        uint32_t c = cnt[v] + cnt[w + v] + cnt[2u * w + v] + cnt[3u * w + v];
        if (c) {
            u[t++] = (int64_t)((uint64_t)lo + v);
            f1 += c == 1u;
            f2 += c == 2u;
        }
    }
    out[0] = t;
    out[1] = f1;
    out[2] = f2;
    return 1;
}

int ekz2_lanes_geom(size_t n, size_t nl, size_t maxlag, size_t *seg, size_t *last)
{
    size_t s;
    if (nl < 2u || nl > EKZ2_MAX_LANES || n < nl || maxlag < 1u)
        return EKZ_EINVAL;
    s = n / nl + (n % nl != 0u);
    if ((nl - 1u) * s >= n || n - (nl - 1u) * s <= maxlag)
        return EKZ_EINVAL;
    *seg = s;
    *last = n - (nl - 1u) * s;
    return EKZ_OK;
}

/* residual q of the interleaved stream sits at jt[L + q] while every lane has a value at
 * its step (steps 1 .. last - 1), then at step k >= last in slots 0 .. L - 2 (the last
 * lane's slot of those steps holds 0: its values there are computed and never used) */
void ekz2_lanes_put(uint64_t *jt, size_t nl, size_t last, size_t q0, const uint64_t *r,
                    size_t cnt)
{
    const size_t nfull = nl * (last - 1u);
    size_t i = 0;
    if (q0 < nfull) {
        i = nfull - q0 < cnt ? nfull - q0 : cnt;
        memcpy(jt + nl + q0, r, i * sizeof *r);
    }
    for (; i < cnt; i++) {
        size_t t = q0 + i - nfull, k = last + t / (nl - 1u);
        jt[k * nl + t % (nl - 1u)] = r[i];
    }
}

size_t ekz2_lanes_ready(size_t nl, size_t last, size_t q)
{
    const size_t nfull = nl * (last - 1u);
    return q <= nfull ? 1u + q / nl : last + (q - nfull) / (nl - 1u);
}

/* the scalar recurrence over jt's steps [from, to) for any number of lanes: consecutive
 * values belong to different lanes, so the core overlaps nl chains; dense lags 1..P with P
 * a constant unroll */
#define EKZ2_LANES_LOOP(P, NL)                                                \
    do {                                                                     \
        uint64_t cc[P]; /* (a local copy: no store to jt can change it) */   \
        for (int t = 0; t < P; t++)                                          \
            cc[t] = c[t];                                                    \
        for (size_t i = from * (NL); i < to * (NL); i++) {                   \
            uint64_t s = 0;                                                  \
            _Pragma("GCC unroll 16") for (int t = 0; t < P; t++)             \
                s += cc[t] * jt[i - (size_t)(t + 1) * (NL)];                 \
            jt[i] += ekz2_asr(s, shift);                                     \
        }                                                                    \
    } while (0)
#define EKZ2_LANES_DENSE(P)                                                  \
    case P:                                                                  \
        if (nl == 8u)                                                        \
            EKZ2_LANES_LOOP(P, 8u);                                          \
        else                                                                 \
            EKZ2_LANES_LOOP(P, nl);                                          \
        return;
static void ekz2_lanes_scalar(uint64_t *jt, size_t nl, size_t from, size_t to,
                              const uint32_t *lags, const uint64_t *c, int nterms, int shift)
{
    if (ekz2_dense(lags, nterms)) {
        switch (nterms) {
        EKZ2_LANES_DENSE(1) EKZ2_LANES_DENSE(2) EKZ2_LANES_DENSE(3) EKZ2_LANES_DENSE(4)
        EKZ2_LANES_DENSE(5) EKZ2_LANES_DENSE(6) EKZ2_LANES_DENSE(7) EKZ2_LANES_DENSE(8)
        EKZ2_LANES_DENSE(9) EKZ2_LANES_DENSE(10) EKZ2_LANES_DENSE(11)
        EKZ2_LANES_DENSE(12) EKZ2_LANES_DENSE(13)
        default:
            break;
        }
    }
    for (size_t i = from * nl; i < to * nl; i++) {
        uint64_t s = 0;
        for (int t = 0; t < nterms; t++)
            s += c[t] * jt[i - (size_t)lags[t] * nl];
        jt[i] += ekz2_asr(s, shift);
    }
}
#undef EKZ2_LANES_LOOP
#undef EKZ2_LANES_DENSE

#ifdef EKZ2_AVX512
/* Eight lanes, one a 64-bit vector element: value k of every lane in one step.  While the
 * values fit int32 (and the coefficients always do) each product c_t j is exact in a 32 x
 * 32 -> 64-bit multiply (vpmuldq: one micro-op, 5 cycles, where the 64-bit vpmullq takes
 * three and 15), so both give the same bits; a step whose new values leave int32 is
 * stored and the steps after it take the 64-bit multiply until `maxlag` steps in a row fit
 * again.  The value of the step before stays in a register (the chain: one multiply, two
 * adds and a shift); older ones are loaded.  P > 0: dense lags 1..P (a constant once
 * inlined); P = 0: any lags, every term loaded. */
#define EKZ2_FITS(V) (!_mm512_test_epi64_mask(_mm512_add_epi64((V), bias), hi))
/* One step k of all eight lanes with the multiply MUL (_mm512_mul_epi32 while the values
 * fit int32, _mm512_mullo_epi64 past them): v = jt[k] + (sum_t c_t jt[k - lag_t]) >> shift. */
#define EKZ2_L8_STEP(MUL)                                                                \
    do {                                                                                 \
        __m512i s = _mm512_setzero_si512();                                              \
        if (P) {                                                                         \
            _Pragma("GCC unroll 16")                                                     \
            for (int t = 1; t < P; t++)                                                  \
                s = _mm512_add_epi64(s, MUL(_mm512_set1_epi64((long long)c[t]),          \
                    _mm512_loadu_si512((const void *)(jt + (k - 1u - (size_t)t) * 8u)))); \
            s = _mm512_add_epi64(s, MUL(_mm512_set1_epi64((long long)c[0]), prev));      \
        } else {                                                                         \
            for (int t = 0; t < nterms; t++)                                             \
                s = _mm512_add_epi64(s, MUL(_mm512_set1_epi64((long long)c[t]),          \
                    _mm512_loadu_si512((const void *)(jt + (k - lags[t]) * 8u))));       \
        }                                                                                \
        v = _mm512_add_epi64(_mm512_sra_epi64(s, sh),                                    \
                             _mm512_loadu_si512((const void *)(jt + k * 8u)));           \
        _mm512_storeu_si512((void *)(jt + k * 8u), v);                                   \
        prev = v;                                                                        \
    } while (0)
__attribute__((target("avx512f,avx512dq"), always_inline)) static inline size_t
ekz2_l8_run(uint64_t *jt, size_t k, size_t to, const uint32_t *lags, const uint64_t *c,
            int nterms, int P, int shift, size_t maxlag, int *wide, size_t *okrun)
{
    const __m128i sh = _mm_cvtsi32_si128(shift);
    const __m512i bias = _mm512_set1_epi64(1LL << 31);
    const __m512i hi = _mm512_set1_epi64((long long)0xFFFFFFFF00000000ULL);
    __m512i prev = _mm512_loadu_si512((const void *)(jt + (k - 1u) * 8u)), v;
    if (!*wide) {
        for (; k < to; k++) {
            EKZ2_L8_STEP(_mm512_mul_epi32);
            if (!EKZ2_FITS(v)) {
                *wide = 1;
                *okrun = 0;
                return k + 1u;
            }
        }
        return k;
    }
    for (; k < to; k++) {
        EKZ2_L8_STEP(_mm512_mullo_epi64);
        *okrun = EKZ2_FITS(v) ? *okrun + 1u : 0u;
        if (*okrun >= maxlag) {
            *wide = 0;
            return k + 1u;
        }
    }
    return k;
}
#undef EKZ2_L8_STEP

#define EKZ2_L8_CASE(P)                                                      \
    case P:                                                                  \
        while (k < to)                                                       \
            k = ekz2_l8_run(jt, k, to, lags, c, nterms, P, shift, maxlag, &wide, \
                            &okrun);                                         \
        return;
__attribute__((target("avx512f,avx512dq"))) static void
ekz2_lanes8_avx512(uint64_t *jt, size_t from, size_t to, const uint32_t *lags,
                   const uint64_t *c, int nterms, int shift)
{
    const size_t maxlag = lags[nterms - 1];
    const __m512i bias = _mm512_set1_epi64(1LL << 31);
    const __m512i hi = _mm512_set1_epi64((long long)0xFFFFFFFF00000000ULL);
    size_t k = from, okrun = 0;
    int wide = 0;
    for (size_t q = from - maxlag; q < from; q++) /* the history the first steps read */
        okrun = EKZ2_FITS(_mm512_loadu_si512((const void *)(jt + q * 8u))) ? okrun + 1u : 0u;
    wide = okrun < maxlag;
    if (ekz2_dense(lags, nterms)) {
        switch (nterms) {
        EKZ2_L8_CASE(2) EKZ2_L8_CASE(3) EKZ2_L8_CASE(4) EKZ2_L8_CASE(5)
        EKZ2_L8_CASE(6) EKZ2_L8_CASE(7) EKZ2_L8_CASE(8) EKZ2_L8_CASE(9)
        EKZ2_L8_CASE(10) EKZ2_L8_CASE(11) EKZ2_L8_CASE(12) EKZ2_L8_CASE(13)
        default:
            break;
        }
    }
    while (k < to)
        k = ekz2_l8_run(jt, k, to, lags, c, nterms, 0, shift, maxlag, &wide, &okrun);
}
#undef EKZ2_L8_CASE
#undef EKZ2_FITS
#endif

#ifdef EKZ2_AVX512
/* an 8 x 8 transpose of 64-bit elements in registers (unpack, then two 128-bit shuffles):
 * afterwards r[m] holds element m of the eight vectors r[0..8) had */
__attribute__((target("avx512f"), always_inline)) static inline void ekz2_t8(__m512i *r)
{
    __m512i t0 = _mm512_unpacklo_epi64(r[0], r[1]), t1 = _mm512_unpackhi_epi64(r[0], r[1]);
    __m512i t2 = _mm512_unpacklo_epi64(r[2], r[3]), t3 = _mm512_unpackhi_epi64(r[2], r[3]);
    __m512i t4 = _mm512_unpacklo_epi64(r[4], r[5]), t5 = _mm512_unpackhi_epi64(r[4], r[5]);
    __m512i t6 = _mm512_unpacklo_epi64(r[6], r[7]), t7 = _mm512_unpackhi_epi64(r[6], r[7]);
    __m512i s0 = _mm512_shuffle_i64x2(t0, t2, 0x88), s1 = _mm512_shuffle_i64x2(t0, t2, 0xDD);
    __m512i s2 = _mm512_shuffle_i64x2(t1, t3, 0x88), s3 = _mm512_shuffle_i64x2(t1, t3, 0xDD);
    __m512i s4 = _mm512_shuffle_i64x2(t4, t6, 0x88), s5 = _mm512_shuffle_i64x2(t4, t6, 0xDD);
    __m512i s6 = _mm512_shuffle_i64x2(t5, t7, 0x88), s7 = _mm512_shuffle_i64x2(t5, t7, 0xDD);
    r[0] = _mm512_shuffle_i64x2(s0, s4, 0x88);
    r[1] = _mm512_shuffle_i64x2(s2, s6, 0x88);
    r[2] = _mm512_shuffle_i64x2(s1, s5, 0x88);
    r[3] = _mm512_shuffle_i64x2(s3, s7, 0x88);
    r[4] = _mm512_shuffle_i64x2(s0, s4, 0xDD);
    r[5] = _mm512_shuffle_i64x2(s2, s6, 0xDD);
    r[6] = _mm512_shuffle_i64x2(s1, s5, 0xDD);
    r[7] = _mm512_shuffle_i64x2(s3, s7, 0xDD);
}

/* dst[m dstride + i] = src[i sstride + m] for i, m < 8 */
__attribute__((target("avx512f"))) static inline void
ekz2_transpose8(const uint64_t *src, size_t sstride, uint64_t *dst, size_t dstride)
{
    __m512i r[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm512_loadu_si512((const void *)(src + (size_t)i * sstride));
    ekz2_t8(r);
    for (int i = 0; i < 8; i++)
        _mm512_storeu_si512((void *)(dst + (size_t)i * dstride), r[i]);
}

/* eight steps of eight lanes (rows of jt) at a time into eight runs of one lane each */
__attribute__((target("avx512f"))) static void
ekz2_lanes_gather8_avx512(const uint64_t *jt, size_t k0, size_t cnt, uint64_t *dst,
                          size_t stride)
{
    size_t k = 0;
    for (; k + 8u <= cnt; k += 8u)
        ekz2_transpose8(jt + (k0 + k) * 8u, 8u, dst + k, stride);
    for (; k < cnt; k++)
        for (size_t m = 0; m < 8u; m++)
            dst[m * stride + k] = jt[(k0 + k) * 8u + m];
}

/* ekz2_lanes_out8 with AVX-512: eight steps at a time, one 8 x 8 transpose, then each
 * lane's eight values through the sink's formula in a vector and one store (the gather's
 * copy and the sink's pass over it in one) */
#define EKZ2_OUT8_LOOP(BODY)                                                                \
    do {                                                                                  \
        for (size_t k = k0; k < k0 + cnt; k += 8u) {                                       \
            __m512i r[8];                                                                 \
            for (int i = 0; i < 8; i++)                                                   \
                r[i] = _mm512_loadu_si512((const void *)(jt + (k + (size_t)i) * 8u));      \
            ekz2_t8(r);                                                                   \
            for (size_t m = 0; m < 8u; m++) {                                             \
                const size_t at = m * seg + k;                                            \
                __m512i v = r[m];                                                         \
                if (!unit)                                                                \
                    v = _mm512_mullo_epi64(v, gv);                                        \
                v = _mm512_add_epi64(v, offv);                                            \
                BODY;                                                                     \
            }                                                                             \
        }                                                                                 \
    } while (0)
/* The low 32 bits of eight rows r[0..8) of eight 64-bit values (steps k..k+7 of eight
 * lanes) transposed in twelve two-source permutes: q[j] holds lane 2j's eight (its low 256
 * bits) and lane 2j + 1's (its high 256 bits).  (A 64-bit transpose and eight narrowings
 * take 40 shuffle micro-operations; this takes 12.) */
__attribute__((target("avx512f"), always_inline)) static inline void
ekz2_t8d(const __m512i *r, __m512i *q)
{
    const __m512i i0 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                         28, 30);
    const __m512i ia = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25,
                                         26, 27);
    const __m512i ib = _mm512_add_epi32(ia, _mm512_set1_epi32(4));
    const __m512i qa = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21,
                                         25, 29);
    const __m512i qb = _mm512_add_epi32(qa, _mm512_set1_epi32(2));
    /* p: two steps of eight lanes; u: four steps of four lanes; q: eight steps of two */
    const __m512i p0 = _mm512_permutex2var_epi32(r[0], i0, r[1]);
    const __m512i p1 = _mm512_permutex2var_epi32(r[2], i0, r[3]);
    const __m512i p2 = _mm512_permutex2var_epi32(r[4], i0, r[5]);
    const __m512i p3 = _mm512_permutex2var_epi32(r[6], i0, r[7]);
    const __m512i u0 = _mm512_permutex2var_epi32(p0, ia, p1);
    const __m512i u1 = _mm512_permutex2var_epi32(p0, ib, p1);
    const __m512i u2 = _mm512_permutex2var_epi32(p2, ia, p3);
    const __m512i u3 = _mm512_permutex2var_epi32(p2, ib, p3);
    q[0] = _mm512_permutex2var_epi32(u0, qa, u2);
    q[1] = _mm512_permutex2var_epi32(u0, qb, u2);
    q[2] = _mm512_permutex2var_epi32(u1, qa, u3);
    q[3] = _mm512_permutex2var_epi32(u1, qb, u3);
}

/* EKZ2_OUT8_LOOP for integers of 1, 2 or 4 bytes: the formula on the rows, then ekz2_t8d;
 * BODY stores q (lanes 2j, 2j + 1) at positions a0 (lane 2j) and a1 */
#define EKZ2_OUT8D_LOOP(BODY)                                                               \
    do {                                                                                  \
        for (size_t k = k0; k < k0 + cnt; k += 8u) {                                       \
            __m512i r[8], qv[4];                                                          \
            for (int i = 0; i < 8; i++) {                                                 \
                r[i] = _mm512_loadu_si512((const void *)(jt + (k + (size_t)i) * 8u));      \
                if (!unit)                                                                \
                    r[i] = _mm512_mullo_epi64(r[i], gv);                                  \
                if (o->off)                                                               \
                    r[i] = _mm512_add_epi64(r[i], offv);                                  \
            }                                                                             \
            ekz2_t8d(r, qv);                                                              \
            for (size_t j = 0; j < 4u; j++) {                                             \
                const size_t a0 = 2u * j * seg + k, a1 = a0 + seg;                        \
                const __m512i q = qv[j];                                                  \
                BODY;                                                                     \
            }                                                                             \
        }                                                                                 \
    } while (0)
__attribute__((target("avx512f,avx512dq"))) static int
ekz2_lanes_out8_avx512(const uint64_t *jt, size_t k0, size_t cnt, size_t seg,
                       const ekz2_out *o)
{
    const int unit = o->g == 1u;
    const __m512i gv = _mm512_set1_epi64((long long)o->g);
    const __m512i offv = _mm512_set1_epi64((long long)o->off);
    uint8_t *out = (uint8_t *)o->out;
    __mmask8 bad = 0;
    switch (o->kind * 16 + (int)o->width) {
    case EKZ2_OUT_INT * 16 + 1:
        EKZ2_OUT8D_LOOP({
            const __m128i b_ = _mm512_cvtepi32_epi8(q);
            _mm_storel_epi64((__m128i *)(void *)(out + a0), b_);
            _mm_storel_epi64((__m128i *)(void *)(out + a1), _mm_srli_si128(b_, 8));
        });
        return 0;
    case EKZ2_OUT_INT * 16 + 2:
        EKZ2_OUT8D_LOOP({
            const __m256i h_ = _mm512_cvtepi32_epi16(q);
            _mm_storeu_si128((__m128i *)(void *)(out + 2u * a0), _mm256_castsi256_si128(h_));
            _mm_storeu_si128((__m128i *)(void *)(out + 2u * a1),
                             _mm256_extracti128_si256(h_, 1));
        });
        return 0;
    case EKZ2_OUT_INT * 16 + 4:
        EKZ2_OUT8D_LOOP({
            _mm256_storeu_si256((__m256i *)(void *)(out + 4u * a0), _mm512_castsi512_si256(q));
            _mm256_storeu_si256((__m256i *)(void *)(out + 4u * a1),
                                _mm512_extracti64x4_epi64(q, 1));
        });
        return 0;
    case EKZ2_OUT_INT * 16 + 8:
        EKZ2_OUT8_LOOP(_mm512_storeu_si512((void *)(out + 8u * at), v));
        return 0;
    case EKZ2_OUT_BITS * 16 + 2: /* unsortable: flip the value bits when the sign is set */
        EKZ2_OUT8_LOOP(_mm_storeu_si128(
            (__m128i *)(void *)(out + 2u * at),
            _mm512_cvtepi64_epi16(_mm512_xor_si512(
                v, _mm512_srli_epi64(_mm512_srai_epi64(_mm512_slli_epi64(v, 48), 63), 49)))));
        return 0;
    case EKZ2_OUT_BITS * 16 + 4:
        EKZ2_OUT8_LOOP(_mm256_storeu_si256(
            (__m256i *)(void *)(out + 4u * at),
            _mm512_cvtepi64_epi32(_mm512_xor_si512(
                v, _mm512_srli_epi64(_mm512_srai_epi64(_mm512_slli_epi64(v, 32), 63), 33)))));
        return 0;
    case EKZ2_OUT_BITS * 16 + 8:
        EKZ2_OUT8_LOOP(_mm512_storeu_si512(
            (void *)(out + 8u * at),
            _mm512_xor_si512(v, _mm512_srli_epi64(_mm512_srai_epi64(v, 63), 1))));
        return 0;
    case EKZ2_OUT_Q * 16 + 4:
    case EKZ2_OUT_Q * 16 + 8: {
        /* k as int64 to double (rounded as C's (double) cast; exact below 2^53), then
         * k / p or a + k b: the bits of the block decoder's formula sink */
        const __m512d pv = _mm512_set1_pd(o->p), av = _mm512_set1_pd(o->a),
                      bv = _mm512_set1_pd(o->b);
        const int w8 = o->width == 8u;
        if (o->mode == 0 && o->p == 1.0) { /* (k / 1 is k) */
            if (w8)
                EKZ2_OUT8_LOOP(_mm512_storeu_pd((void *)(out + 8u * at), _mm512_cvtepi64_pd(v)));
            else
                EKZ2_OUT8_LOOP(_mm256_storeu_ps((void *)(out + 4u * at),
                                                _mm512_cvtpd_ps(_mm512_cvtepi64_pd(v))));
        } else if (o->mode == 0 && EKZ_DIV_OK(o->p)) { /* (the division's bits, no vdivpd) */
            const __m512d yv = _mm512_set1_pd(1.0 / o->p);
            if (w8)
                EKZ2_OUT8_LOOP(_mm512_storeu_pd((void *)(out + 8u * at),
                                                ekz_div_pd(_mm512_cvtepi64_pd(v), pv, yv)));
            else
                EKZ2_OUT8_LOOP(_mm256_storeu_ps(
                    (void *)(out + 4u * at),
                    _mm512_cvtpd_ps(ekz_div_pd(_mm512_cvtepi64_pd(v), pv, yv))));
        } else if (o->mode == 0) {
            if (w8)
                EKZ2_OUT8_LOOP(_mm512_storeu_pd((void *)(out + 8u * at),
                                                _mm512_div_pd(_mm512_cvtepi64_pd(v), pv)));
            else
                EKZ2_OUT8_LOOP(_mm256_storeu_ps(
                    (void *)(out + 4u * at),
                    _mm512_cvtpd_ps(_mm512_div_pd(_mm512_cvtepi64_pd(v), pv))));
        } else {
            if (w8)
                EKZ2_OUT8_LOOP(_mm512_storeu_pd(
                    (void *)(out + 8u * at),
                    _mm512_add_pd(av, _mm512_mul_pd(_mm512_cvtepi64_pd(v), bv))));
            else
                EKZ2_OUT8_LOOP(_mm256_storeu_ps(
                    (void *)(out + 4u * at),
                    _mm512_cvtpd_ps(_mm512_add_pd(av, _mm512_mul_pd(_mm512_cvtepi64_pd(v), bv)))));
        }
        return 0;
    }
    case EKZ2_OUT_GATHER * 16 + 4:
    case EKZ2_OUT_GATHER * 16 + 8: { /* an index past the table: corrupt */
        const __m512i spanv = _mm512_set1_epi64((long long)o->span);
        if (o->width == 8u)
            EKZ2_OUT8_LOOP({
                const __mmask8 in = _mm512_cmplt_epu64_mask(v, spanv);
                bad |= (__mmask8)~in;
                _mm512_storeu_si512((void *)(out + 8u * at),
                                    _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), in, v,
                                                                o->tab, 8));
            });
        else
            EKZ2_OUT8_LOOP({
                const __mmask8 in = _mm512_cmplt_epu64_mask(v, spanv);
                bad |= (__mmask8)~in;
                _mm256_storeu_si256((__m256i *)(void *)(out + 4u * at),
                                    _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), in, v,
                                                                o->tab, 4));
            });
        return bad ? -1 : 0;
    }
    default:
        return 1;
    }
}
#undef EKZ2_OUT8_LOOP
#undef EKZ2_OUT8D_LOOP
#endif

int ekz2_lanes_out8(const uint64_t *jt, size_t k0, size_t cnt, size_t seg, const ekz2_out *o)
{
#ifdef EKZ2_AVX512
    if (ekz2_lanes_kernel(8u, NULL, 0) == 2 && cnt % 8u == 0u)
        return ekz2_lanes_out8_avx512(jt, k0, cnt, seg, o);
#endif
    (void)jt, (void)k0, (void)cnt, (void)seg, (void)o;
    return 1;
}

void ekz2_lanes_gather(const uint64_t *jt, size_t nl, size_t k0, size_t cnt, uint64_t *dst,
                       size_t stride)
{
#ifdef EKZ2_AVX512
    if (ekz2_lanes_kernel(nl, NULL, 0) == 2) { /* (tests may ask for the scalar copy) */
        ekz2_lanes_gather8_avx512(jt, k0, cnt, dst, stride);
        return;
    }
#endif
    for (size_t m = 0; m < nl; m++) {
        const uint64_t *src = jt + k0 * nl + m;
        uint64_t *d = dst + m * stride;
        for (size_t k = 0; k < cnt; k++)
            d[k] = src[k * nl];
    }
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(EKZ_NO_AVX2)
#include <immintrin.h>
#define EKZ2_AVX2 1
static int ekz2_have_avx2(void)
{
    static int have = -1; /* a benign race: every thread writes the same answer */
    if (have < 0)
        have = __builtin_cpu_supports("avx2");
    return have;
}

/* ekz2_lanes8_avx512 for AVX2 CPUs: eight lanes in two 4-lane vectors, the 32-bit
 * multiplies (vpmuldq) while the values fit int32, the arithmetic shift from a logical one
 * and the sign; returns the step from which the values do not fit (the caller runs the
 * scalar recurrence from there), or `to`. */
#define EKZ2_FITS2(V) _mm256_testz_si256(_mm256_add_epi64((V), bias), hi)
__attribute__((target("avx2"), always_inline)) static inline size_t
ekz2_l8_avx2_run(uint64_t *jt, size_t k, size_t to, const uint32_t *lags, const uint64_t *c,
                 int nterms, int P, int shift)
{
    const __m128i sh = _mm_cvtsi32_si128(shift), shl = _mm_cvtsi32_si128(64 - shift);
    const __m256i bias = _mm256_set1_epi64x(1LL << 31), z = _mm256_setzero_si256();
    const __m256i hi = _mm256_set1_epi64x((long long)0xFFFFFFFF00000000ULL);
    __m256i pa = _mm256_loadu_si256((const void *)(jt + (k - 1u) * 8u));
    __m256i pb = _mm256_loadu_si256((const void *)(jt + (k - 1u) * 8u + 4u));
    for (; k < to; k++) {
        __m256i sa = z, sb = z, va, vb;
        const uint64_t *row = jt + k * 8u;
        if (P) {
#pragma GCC unroll 16
            for (int t = 1; t < P; t++) {
                const __m256i ct = _mm256_set1_epi64x((long long)c[t]);
                const uint64_t *r = row - (size_t)(t + 1) * 8u;
                sa = _mm256_add_epi64(sa, _mm256_mul_epi32(ct, _mm256_loadu_si256((const void *)r)));
                sb = _mm256_add_epi64(sb, _mm256_mul_epi32(ct, _mm256_loadu_si256((const void *)(r + 4))));
            }
            const __m256i c0 = _mm256_set1_epi64x((long long)c[0]);
            sa = _mm256_add_epi64(sa, _mm256_mul_epi32(c0, pa));
            sb = _mm256_add_epi64(sb, _mm256_mul_epi32(c0, pb));
        } else {
            for (int t = 0; t < nterms; t++) {
                const __m256i ct = _mm256_set1_epi64x((long long)c[t]);
                const uint64_t *r = row - (size_t)lags[t] * 8u;
                sa = _mm256_add_epi64(sa, _mm256_mul_epi32(ct, _mm256_loadu_si256((const void *)r)));
                sb = _mm256_add_epi64(sb, _mm256_mul_epi32(ct, _mm256_loadu_si256((const void *)(r + 4))));
            }
        }
        sa = _mm256_or_si256(_mm256_srl_epi64(sa, sh), _mm256_sll_epi64(_mm256_cmpgt_epi64(z, sa), shl));
        sb = _mm256_or_si256(_mm256_srl_epi64(sb, sh), _mm256_sll_epi64(_mm256_cmpgt_epi64(z, sb), shl));
        va = _mm256_add_epi64(sa, _mm256_loadu_si256((const void *)row));
        vb = _mm256_add_epi64(sb, _mm256_loadu_si256((const void *)(row + 4)));
        _mm256_storeu_si256((void *)row, va);
        _mm256_storeu_si256((void *)(row + 4), vb);
        pa = va;
        pb = vb;
        if (!(EKZ2_FITS2(va) & EKZ2_FITS2(vb)))
            return k + 1u;
    }
    return k;
}

#define EKZ2_L8_AVX2_CASE(P)                                                 \
    case P:                                                                  \
        return ekz2_l8_avx2_run(jt, from, to, lags, c, nterms, P, shift);
__attribute__((target("avx2"))) static size_t
ekz2_lanes8_avx2(uint64_t *jt, size_t from, size_t to, const uint32_t *lags, const uint64_t *c,
                 int nterms, int shift)
{
    const size_t maxlag = lags[nterms - 1];
    const __m256i bias = _mm256_set1_epi64x(1LL << 31);
    const __m256i hi = _mm256_set1_epi64x((long long)0xFFFFFFFF00000000ULL);
    for (size_t q = from - maxlag; q < from; q++) /* the history the first steps read */
        if (!(EKZ2_FITS2(_mm256_loadu_si256((const void *)(jt + q * 8u))) &
              EKZ2_FITS2(_mm256_loadu_si256((const void *)(jt + q * 8u + 4u)))))
            return from;
    if (ekz2_dense(lags, nterms)) {
        switch (nterms) {
        EKZ2_L8_AVX2_CASE(2) EKZ2_L8_AVX2_CASE(3) EKZ2_L8_AVX2_CASE(4)
        EKZ2_L8_AVX2_CASE(5) EKZ2_L8_AVX2_CASE(6) EKZ2_L8_AVX2_CASE(7)
        EKZ2_L8_AVX2_CASE(8) EKZ2_L8_AVX2_CASE(9) EKZ2_L8_AVX2_CASE(10)
        EKZ2_L8_AVX2_CASE(11) EKZ2_L8_AVX2_CASE(12) EKZ2_L8_AVX2_CASE(13)
        default:
            break;
        }
    }
    return ekz2_l8_avx2_run(jt, from, to, lags, c, nterms, 0, shift);
}
#undef EKZ2_L8_AVX2_CASE
#undef EKZ2_FITS2
#endif

/* the best kernel the CPU has, or a lower one a test asked for (ekz2_lanes_use) */
static int ekz2_lanes_max = 2;

int ekz2_lanes_use(int kernel)
{
    const int was = ekz2_lanes_max;
    if (kernel >= 0 && kernel <= 2)
        ekz2_lanes_max = kernel;
    return was;
}

int ekz2_lanes_kernel(size_t nl, const uint32_t *lags, int nterms)
{
    (void)lags;
    (void)nterms;
    if (nl != 8u)
        return 0;
#ifdef EKZ2_AVX512
    if (ekz2_lanes_max >= 2 && ekz2_have_avx512())
        return 2;
#endif
#ifdef EKZ2_AVX2
    if (ekz2_lanes_max >= 1 && ekz2_have_avx2())
        return 1;
#endif
    return 0;
}

void ekz2_lanes_run(uint64_t *jt, size_t nl, size_t from, size_t to, const uint32_t *lags,
                    const uint64_t *c, int nterms, int shift)
{
    const size_t maxlag = lags[nterms - 1];
    size_t k = from;
    for (; k < to && k < maxlag; k++) /* warm-up: delta 1 inside each lane */
        for (size_t m = 0; m < nl; m++)
            jt[k * nl + m] += jt[(k - 1u) * nl + m];
    if (k >= to)
        return;
    switch (ekz2_lanes_kernel(nl, lags, nterms)) {
#ifdef EKZ2_AVX512
    case 2:
        ekz2_lanes8_avx512(jt, k, to, lags, c, nterms, shift);
        return;
#endif
#ifdef EKZ2_AVX2
    case 1: /* (the steps from one whose values leave int32: scalar) */
        k = ekz2_lanes8_avx2(jt, k, to, lags, c, nterms, shift);
        break;
#endif
    default:
        break;
    }
    ekz2_lanes_scalar(jt, nl, k, to, lags, c, nterms, shift);
}

int ekz2_unpredict_lanes(const uint64_t *e, size_t n, size_t nl, const uint64_t *starts,
                         const uint32_t *lags, const int64_t *coefs, int nterms, int shift,
                         uint64_t *jt, uint64_t *j)
{
    size_t seg, last;
    uint64_t c[EKZ2_MAX_TERMS];
    int st = ekz2_check(n, lags, coefs, nterms, shift);
    if (st != EKZ_OK)
        return st;
    if (ekz2_lanes_geom(n, nl, lags[nterms - 1], &seg, &last) != EKZ_OK)
        return EKZ_EINVAL;
    ekz2_coefs(coefs, nterms, c);
    memcpy(jt, starts, nl * sizeof *jt);
    for (size_t k = last; k < seg; k++)
        jt[k * nl + nl - 1u] = 0;
    ekz2_lanes_put(jt, nl, last, 0, e, n - nl);
    ekz2_lanes_run(jt, nl, 1, seg, lags, c, nterms, shift);
    ekz2_lanes_gather(jt, nl, 0, last, j, seg); /* (the last lane's end: j[n - 1]) */
    for (size_t m = 0; m + 1u < nl; m++)
        for (size_t k = last; k < seg; k++)
            j[m * seg + k] = jt[k * nl + m];
    return EKZ_OK;
}

int ekz2_unpredict_lanes_jt(uint64_t *jt, size_t n, size_t nl, const uint32_t *lags,
                            const int64_t *coefs, int nterms, int shift)
{
    size_t seg, last;
    uint64_t c[EKZ2_MAX_TERMS];
    int st = ekz2_check(n, lags, coefs, nterms, shift);
    if (st != EKZ_OK)
        return st;
    if (ekz2_lanes_geom(n, nl, lags[nterms - 1], &seg, &last) != EKZ_OK)
        return EKZ_EINVAL;
    ekz2_coefs(coefs, nterms, c);
    ekz2_lanes_run(jt, nl, 1, seg, lags, c, nterms, shift);
    return EKZ_OK;
}

int ekz2_predict_lanes(const uint64_t *j, size_t n, size_t nl, const uint32_t *lags,
                       const int64_t *coefs, int nterms, int shift, const uint64_t *e1,
                       uint64_t *jt, uint64_t *e, uint64_t *starts)
{
    size_t seg, last, k = 1;
    int st = ekz2_check(n, lags, coefs, nterms, shift);
    if (st != EKZ_OK)
        return st;
    const size_t maxlag = lags[nterms - 1];
    if (ekz2_lanes_geom(n, nl, maxlag, &seg, &last) != EKZ_OK)
        return EKZ_EINVAL;
    /* one lane's residuals (e1[i - 1]: value i's; ekz2_predict's vector loop): a lane's
     * value past its warm-up has the same terms, all inside the lane; the warm-up of lanes
     * 1.. is delta 1 instead (set after the interleaving) */
    if (!e1) {
        ekz2_predict(j, n, lags, coefs, nterms, shift, jt);
        e1 = jt;
    }
#ifdef EKZ2_AVX512
    if (ekz2_lanes_kernel(nl, lags, nterms) == 2) { /* steps 1 .. last - 1: 8 x 8 transposes */
        for (; k + 8u <= last; k += 8u)
            ekz2_transpose8(e1 + k - 1u, seg, e + (k - 1u) * 8u, 8u);
    }
#endif
    for (; k < seg; k++) {
        const size_t lanes = k < last ? nl : nl - 1u;
        uint64_t *o = k < last ? e + (k - 1u) * nl : e + (last - 1u) * nl + (k - last) * (nl - 1u);
        for (size_t m = 0; m < lanes; m++)
            o[m] = e1[m * seg + k - 1u];
    }
    for (size_t m = 0; m < nl; m++) {
        const size_t b = m * seg;
        starts[m] = j[b];
        for (k = 1; m && k < maxlag; k++) /* (maxlag < last: full steps) */
            e[(k - 1u) * nl + m] = j[b + k] - j[b + k - 1u];
    }
    return EKZ_OK;
}

static inline uint64_t ekz2_zz(uint64_t v)
{
    return (v << 1) ^ (0u - (v >> 63));
}

static unsigned ekz2_bitlen(uint64_t z)
{
    unsigned b = 0;
#if defined(__GNUC__)
    if (z)
        b = 64u - (unsigned)__builtin_clzll(z);
#else
    for (; z; z >>= 1)
        b++;
#endif
    return b;
}

int ekz2_lanes_extra(const uint64_t *j, size_t n, size_t nl, const uint32_t *lags,
                     const int64_t *coefs, int nterms, int shift, int32_t *hdiff,
                     uint64_t *info)
{
    size_t seg, last;
    uint64_t c[EKZ2_MAX_TERMS];
    int st = ekz2_check(n, lags, coefs, nterms, shift);
    if (st != EKZ_OK)
        return st;
    const size_t maxlag = lags[nterms - 1];
    if (ekz2_lanes_geom(n, nl, maxlag, &seg, &last) != EKZ_OK)
        return EKZ_EINVAL;
    ekz2_coefs(coefs, nterms, c);
    memset(hdiff, 0, 256u * sizeof *hdiff);
    info[0] = info[1] = info[2] = 0;
    for (size_t m = 1; m < nl; m++) {
        const size_t b = m * seg;
        uint64_t d = j[b] - j[0];
        info[0] += 1u;
        for (uint64_t z = ekz2_zz(d) >> 7; z; z >>= 7)
            info[0] += 1u; /* the varint of zz(j[b] - j[0]) */
        for (size_t i = b; i < b + maxlag; i++) {
            uint64_t s = 0, z;
            for (int t = 0; t < nterms; t++)
                s += c[t] * j[i - lags[t]];
            z = ekz2_zz(j[i] - ekz2_asr(s, shift)); /* one lane's residual */
            hdiff[ekz2_token(z)] -= 1;
            info[2] += ekz2_bitlen(z) + 1u;
            if (i > b) { /* the lane's warm-up: delta 1 */
                z = ekz2_zz(j[i] - j[i - 1u]);
                hdiff[ekz2_token(z)] += 1;
                info[1] += ekz2_bitlen(z) + 1u;
            }
        }
    }
    return EKZ_OK;
}
