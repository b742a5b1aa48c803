/* The float-grid search (codec._affine_guess) in one call: see compress_float.h.  The
 * steps are those of the numpy reference _codec_ref.affine_guess, with the same float
 * operations in the same order, so the same bits; the hot steps are compress.c's kernels
 * (ekz_common_gaps, ekz_float_gcd, ekz_grid_origin, ekz_grid_costs_*), which equal their
 * own references.  What is new here: the sample, its distinct values (a radix sort of the
 * values' order-preserving bits: the sorted order of finite values without -0.0 is unique,
 * so any correct sort gives numpy's), the scale quantile, the rounding intervals, the loop
 * over the gcd's divisors and the final choice of step, without a Python step between. */
#include "compress_float.h"
#include "compress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t ekf_max(size_t a, size_t b) { return a > b ? a : b; }

/* the next float above v (np.spacing(v) is this less v, for v >= 0) */
static double ekf_up64(double v) { return nextafter(v, (double)INFINITY); }
static float ekf_up32(float v) { return nextafterf(v, INFINITY); }

size_t ekf_guess_work(size_t m, size_t maxg, size_t sweep, size_t nsteps, size_t *iwork)
{
    *iwork = 3 * m + ekf_max(6 * m, 9 * sweep + m);
    return 4 * m + ekf_max(3 * m, 3 * sweep + m) + 2 * maxg + 3 * (2 * nsteps + 2);
}

/* order-preserving bits of a finite double that is not -0.0, and back */
static uint64_t ekf_key(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b ^ ((0u - (b >> 63)) | ((uint64_t)1 << 63));
}

static double ekf_unkey(uint64_t k)
{
    uint64_t b = k ^ (((k >> 63) - 1u) | ((uint64_t)1 << 63));
    double v;
    memcpy(&v, &b, 8);
    return v;
}

/* sorts keys[0..n) ascending (LSD radix, 8 bits a pass, passes whose byte is the same for
 * every key skipped); tmp: room for n */
static void ekf_sort_keys(uint64_t *keys, uint64_t *tmp, size_t n)
{
    size_t cnt[8][256], i;
    uint64_t *src = keys, *dst = tmp, *sw;
    unsigned pass;
    memset(cnt, 0, sizeof cnt);
    for (i = 0; i < n; i++)
        for (pass = 0; pass < 8u; pass++)
            cnt[pass][(keys[i] >> (8u * pass)) & 255u]++;
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
            continue;
        for (i = 0; i < n; i++)
            dst[c[(src[i] >> sh) & 255u]++] = src[i];
        sw = src;
        src = dst;
        dst = sw;
    }
    if (src != keys)
        memcpy(keys, src, n * sizeof *keys);
}

/* Python's round(y, dec) for finite y (correctly rounded to dec decimals, then read back
 * correctly rounded, as CPython's float.__round__ does with its own dtoa): C99's printf
 * and strtod are correctly rounded on the C libraries edgekit builds with (glibc, musl,
 * Apple's, the UCRT since 2019), under the same locale both ways */
static double ekf_round_dec(double y, int dec)
{
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", dec, y);
    return strtod(buf, NULL);
}

/* encoder loops the compiler vectorizes, in copies picked at load time (GCC 11 or later on
 * glibc x86-64): baseline, AVX2 and AVX-512 (as compress.c's EKZ_VEC_CLONES) */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__) && defined(__GLIBC__) && !defined(EKZ_NO_CLONES)
#define EKF_VEC_CLONES                                                                       \
    __attribute__((target_clones("default", "avx2", "arch=x86-64-v4"), noinline))
#else
#define EKF_VEC_CLONES
#endif

/* rint(t), half to even, without a branch or a libm call: |t| >= 2**52 is an integer
 * already (or infinite, or NaN: returned as they are), below it adding and taking away
 * 2**52 rounds to an integer in the default rounding mode; the sign of zero is kept */
static inline double ekf_rint(double t)
{
    const double two52 = 4503599627370496.0;
    double m = fabs(t), r = (m + two52) - two52;
    return copysign(m < two52 ? r : m, t);
}

static inline int64_t ekf_s64(uint64_t u)
{
    int64_t v; /* two's complement without padding (C99 7.18.1.1) */
    memcpy(&v, &u, 8);
    return v;
}

static inline uint64_t ekf_sort64(uint64_t bits) { return bits ^ ((0u - (bits >> 63)) >> 1); }

static inline uint64_t ekf_sort32(uint32_t bits)
{
    uint32_t s = bits ^ ((0u - (bits >> 31)) >> 1);
    return (uint64_t)s | ((s >> 31) ? 0xffffffff00000000u : 0u);
}

/* For each of ns steps b: the share of the distinct values ux (seen cnt times) off the
 * grid a + k * b by more than frac of a step, and the bits of their residuals (counted
 * cnt times): _codec_ref.grid_costs with integer weights, whose sums are exact in int64
 * (so in any order: the compiler may vectorize) and equal numpy's float64 dot products
 * (exact below 2**53).  The bit length is frexp's, read from the residual as a double:
 * (double)z may round up to the next power of two. */
#define EKF_DEFINE_GRID_COSTS(SUF, T, W, SORT)                                               \
    EKF_VEC_CLONES int ekf_grid_costs_##SUF(const T *ux, size_t n, const int64_t *cnt,       \
                                            double a, const double *steps, size_t ns,        \
                                            double frac, double *off, double *bits)          \
    {                                                                                        \
        int64_t total = 0;                                                                   \
        size_t i, s;                                                                         \
        for (i = 0; i < n; i++)                                                              \
            total += cnt[i];                                                                 \
        for (s = 0; s < ns; s++) {                                                           \
            int64_t o = 0, bs = 0;                                                           \
            double b = steps[s];                                                             \
            for (i = 0; i < n; i++) {                                                        \
                double t = ((double)ux[i] - a) / b, k = ekf_rint(t), zd;                     \
                T y = (T)(a + k * b), xi = ux[i];                                            \
                uint##W##_t xb, yb;                                                          \
                uint64_t d, z, zb;                                                           \
                int64_t e;                                                                   \
                memcpy(&xb, &xi, sizeof(T));                                                 \
                memcpy(&yb, &y, sizeof(T));                                                  \
                d = SORT(xb) - SORT(yb);                                                     \
                z = (d << 1) ^ (0u - (d >> 63));                                             \
                zd = (double)z; /* 0 or normal: frexp's exponent is the biased one - 1022 */ \
                memcpy(&zb, &zd, 8);                                                         \
                e = z ? (int64_t)((zb >> 52) & 2047u) - 1021 : 0; /* (+1: z != 0) */         \
                o += fabs(t - k) <= frac ? 0 : cnt[i];                                       \
                bs += e * cnt[i];                                                            \
            }                                                                                \
            off[s] = (double)o / (double)total;                                              \
            bits[s] = (double)bs;                                                            \
        }                                                                                    \
        return EKZ_OK;                                                                       \
    }

EKF_DEFINE_GRID_COSTS(f64, double, 64, ekf_sort64)
EKF_DEFINE_GRID_COSTS(f32, float, 32, ekf_sort32)
#undef EKF_DEFINE_GRID_COSTS

/* The quantizer (ekz_quant_*) in one pass without a branch or a carried value per
 * element, so the compiler vectorizes it: t = x p (mode 0) or (x - a) / b (mode 1), k by
 * the 1.5 * 2**52 trick (read from the rounded double's bits; the double itself is k
 * exactly), y = k / p (k when p is 1) or a + k b rounded to T, the residual and its count,
 * the k range.  The same k, r and range as ekz_quant_* whenever every |t| is below 2**51
 * (NaN, infinities and far values fail that): returns 1 then, 0 (k, r partly written)
 * otherwise. */
/* one value of ekf_quant1_*'s passes: t (TEXPR), k, y (YEXPR, from kd = k as a double),
 * the bits of x and y; then TAIL */
#define EKF_QUANT1_LOOP(T, W, TEXPR, YEXPR, TAIL)                                            \
    for (i = c0; i < c1; i++) {                                                              \
        T xi = x[i], y;                                                                      \
        double t = (TEXPR), s = t + magic, kd = s - magic;                                   \
        uint64_t sb;                                                                         \
        uint##W##_t xb, yb;                                                                  \
        int64_t ki;                                                                          \
        ok &= fabs(t) < lim;                                                                 \
        memcpy(&sb, &s, 8);                                                                  \
        ki = ekf_s64(sb - mb);                                                               \
        y = (T)(YEXPR);                                                                      \
        memcpy(&xb, &xi, sizeof(T));                                                         \
        memcpy(&yb, &y, sizeof(T));                                                          \
        k[i] = ki;                                                                           \
        lo = ki < lo ? ki : lo;                                                              \
        hi = ki > hi ? ki : hi;                                                              \
        TAIL                                                                                 \
    }

/* the residual, stored and counted */
#define EKF_QUANT1_RES(SORT)                                                                 \
    {                                                                                        \
        uint64_t res = (SORT(xb) - SORT(yb)) &                                               \
                       (0u - (uint64_t)!(exact && fabs((double)y - (double)xi) <= tol));     \
        r[i] = ekf_s64(res);                                                                 \
        nz += res != 0;                                                                      \
    }

/* only whether some value is off its grid point (lossless: a residual is nonzero exactly
 * when the bits differ) */
#define EKF_QUANT1_DIFF diff |= xb ^ yb;

#define EKF_DEFINE_QUANT1(SUF, T, W, SORT)                                                   \
    EKF_VEC_CLONES int ekf_quant1_##SUF(const T *x, size_t n, int mode, double p, double a, \
                                        double b, double tol, int64_t *k, int64_t *r,        \
                                        size_t *nonzero, int64_t *range)                     \
    {                                                                                        \
        const double magic = 6755399441055744.0, lim = 2251799813685248.0;                   \
        uint64_t mb;                                                                         \
        int64_t lo = INT64_MAX, hi = INT64_MIN;                                              \
        size_t i, c0, c1, nz = 0;                                                            \
        int ok = 1, exact = tol >= 0.0, store = 0;                                           \
        memcpy(&mb, &magic, 8);                                                              \
        if (n == 0 || (mode != 0 && mode != 1))                                              \
            return 0;                                                                        \
        /* a decimal grid is mostly exact: no residual is stored until a chunk of 1024     \
         * values has one (that chunk again, storing, and the ones before zeroed); an     \
         * affine grid mostly has residuals, and the lossy mode (tol >= 0) asks more than \
         * equal bits: stored from the start */                                            \
        for (c0 = 0; c0 < n; c0 = c1) {                                                      \
            c1 = n - c0 > 1024u ? c0 + 1024u : n;                                            \
            if (!store && mode == 0 && !exact) {                                             \
                uint##W##_t diff = 0;                                                        \
                if (p == 1.0)                                                                \
                    EKF_QUANT1_LOOP(T, W, (double)xi * p, kd, EKF_QUANT1_DIFF)                                               \
                else                                                                         \
                    EKF_QUANT1_LOOP(T, W, (double)xi * p, kd / p, EKF_QUANT1_DIFF)                                           \
                if (!diff)                                                                   \
                    continue;                                                                \
                memset(r, 0, c0 * sizeof *r);                                                \
            }                                                                                \
            store = 1;                                                                       \
            if (mode == 1)                                                                   \
                EKF_QUANT1_LOOP(T, W, ((double)xi - a) / b, a + kd * b, EKF_QUANT1_RES(SORT))             \
            else if (p == 1.0)                                                               \
                EKF_QUANT1_LOOP(T, W, (double)xi * p, kd, EKF_QUANT1_RES(SORT))                           \
            else                                                                             \
                EKF_QUANT1_LOOP(T, W, (double)xi * p, kd / p, EKF_QUANT1_RES(SORT))                       \
        }                                                                                    \
        if (!ok)                                                                             \
            return 0;                                                                        \
        *nonzero = nz;                                                                       \
        range[0] = lo;                                                                       \
        range[1] = hi;                                                                       \
        return 1;                                                                            \
    }

EKF_DEFINE_QUANT1(f64, double, 64, ekf_sort64)
EKF_DEFINE_QUANT1(f32, float, 32, ekf_sort32)
#undef EKF_DEFINE_QUANT1
#undef EKF_QUANT1_LOOP
#undef EKF_QUANT1_RES
#undef EKF_QUANT1_DIFF

#define EKF_DEFINE_GUESS(SUF, T, EPS, SPACING)                                               \
    int ekf_affine_guess_##SUF(const T *x, size_t n, size_t sample, double slack,            \
                               double coarse, size_t maxg, double frac, int64_t offn,        \
                               size_t sweep, size_t nsteps, double *work, size_t dlen,       \
                               uint64_t *iwork, size_t ilen, double *out)                    \
    {                                                                                        \
        size_t m = sample < n ? sample : n, q, rem, i, ns, nu, p, lo, hi, t, nst, dec;       \
        size_t need_i, best;                                                                 \
        double *s, *u, *half, *gw, *common, *seen, *steps, *off, *bits, scale, tol;      \
        double floor_, a = 0.0, b1 = 0.0, sp;                                                \
        T *ux;                                                                               \
        uint64_t *keys, *tmp, *giw;                                                          \
        int64_t *cnt;                                                                        \
        long mc, skips;                                                                      \
        int found = 0;                                                                       \
        if (ekf_guess_work(m, maxg, sweep, nsteps, &need_i) > dlen || need_i > ilen ||      \
            offn < 1)                                                                        \
            return EKZ_EINVAL;                                                               \
        if (sweep < 2)                                                                       \
            return EKZ_EUNSUP; /* (the reference's own rule for it) */                     \
        s = work;                                                                            \
        u = s + m;                                                                           \
        half = u + m;                                                                        \
        ux = (T *)(half + m);                                                                \
        gw = half + 2 * m;                                                                   \
        common = gw + ekf_max(3 * m, 3 * sweep + m);                                         \
        seen = common + maxg;                                                                \
        steps = seen + maxg;                                                                 \
        off = steps + 2 * nsteps + 2;                                                        \
        bits = off + 2 * nsteps + 2;                                                         \
        keys = iwork;                                                                        \
        tmp = keys + m;                                                                      \
        cnt = (int64_t *)(tmp + m);                                                          \
        giw = tmp + 2 * m;                                                                   \
        if (m == 0)                                                                          \
            return 0;                                                                        \
        /* the sample's finite values, as sortable keys (-0.0 as 0.0) */                   \
        q = n / m;                                                                           \
        rem = n % m;                                                                         \
        for (i = 0, ns = 0; i < m; i++) {                                                    \
            double v = (double)x[i * q + (size_t)(((uint64_t)i * rem) / m)];                 \
            if (isfinite(v))                                                                 \
                keys[ns++] = ekf_key(v + 0.0);                                               \
        }                                                                                    \
        if (ns < 8)                                                                          \
            return 0;                                                                        \
        ekf_sort_keys(keys, tmp, ns);                                                        \
        for (i = 0, nu = 0; i < ns; i++) {                                                   \
            s[i] = ekf_unkey(keys[i]);                                                       \
            if (i == 0 || keys[i] != keys[i - 1]) {                                          \
                u[nu] = s[i];                                                                \
                cnt[nu++] = 1;                                                               \
            } else {                                                                         \
                cnt[nu - 1]++;                                                               \
            }                                                                                \
        }                                                                                    \
        if (nu < 3)                                                                          \
            return 0;                                                                        \
        /* the scale: the q-th smallest |value|, merged outwards from the first value >= 0 \
         * of the sorted sample; its largest when that is 0 */                             \
        q = (ns - 1) * (size_t)(2 * offn - 1) / (size_t)(2 * offn);                          \
        for (p = 0; p < ns && s[p] < 0.0; p++)                                               \
            ;                                                                                \
        lo = p; /* s[lo - 1] is the next negative, s[hi] the next non-negative */          \
        hi = p;                                                                              \
        scale = 0.0;                                                                         \
        for (t = 0; t <= q; t++) {                                                           \
            if (hi < ns && (lo == 0 || s[hi] <= -s[lo - 1]))                                 \
                scale = s[hi++];                                                             \
            else                                                                             \
                scale = -s[--lo];                                                            \
        }                                                                                    \
        if (scale == 0.0)                                                                    \
            scale = fabs(s[0]) > fabs(s[ns - 1]) ? fabs(s[0]) : fabs(s[ns - 1]);             \
        tol = scale * (EPS) * slack;                                                         \
        floor_ = tol * coarse;                                                               \
        mc = ekz_common_gaps(u, nu, floor_, tol, maxg, gw, giw, common);                     \
        if (mc < 0)                                                                          \
            return EKZ_EUNSUP;                                                               \
        for (i = 0; i < nu; i++) {                                                           \
            T ax = (T)fabs(u[i]);                                                            \
            ux[i] = (T)u[i];                                                                 \
            half[i] = (double)(T)(SPACING(ax) - ax) / 2.0;                                   \
        }                                                                                    \
        skips = (long)mc / (long)offn;                                                       \
        skips = skips > 2 ? skips : 2;                                                       \
        mc = (long)ekz_float_gcd(common, (size_t)mc, tol, floor_, skips, seen);              \
        for (i = 0; i < (size_t)mc && !found; i++) {                                         \
            int r = ekz_grid_origin(u, cnt, half, nu, seen[i], frac, offn, sweep, gw, giw,   \
                                    out);                                                    \
            if (r < 0)                                                                       \
                return EKZ_EUNSUP;                                                           \
            found = r == 1;                                                                  \
        }                                                                                    \
        if (!found)                                                                          \
            return 0;                                                                        \
        a = out[0];                                                                          \
        b1 = out[1];                                                                         \
        /* the float steps next to b1, and a step whose reciprocal has few decimals */     \
        sp = nextafter(b1, INFINITY) - b1;                                                   \
        nst = 0;                                                                             \
        for (i = 0; i <= 2 * nsteps; i++) {                                                  \
            double v = b1 + ((double)i - (double)nsteps) * sp;                               \
            if (v > 0.0 && isfinite(v))                                                      \
                steps[nst++] = v;                                                            \
        }                                                                                    \
        for (dec = 0; dec < 4; dec++) {                                                      \
            double y = 1.0 / b1, recip;                                                      \
            if (!isfinite(y))                                                                \
                break; /* round(inf, dec) is inf: 1 / inf = 0 is never near b1 */           \
            recip = ekf_round_dec(y, (int)dec);                                              \
            if (recip != 0.0 && fabs(1.0 / recip - b1) <= 1e-6 * b1) {                       \
                double v = 1.0 / recip;                                                      \
                if (v > 0.0 && isfinite(v))                                                  \
                    steps[nst++] = v;                                                        \
                break;                                                                       \
            }                                                                                \
        }                                                                                    \
        ekf_grid_costs_##SUF(ux, nu, cnt, a, steps, nst, frac, off, bits);                     \
        best = nst;                                                                          \
        for (i = 0; i < nst; i++)                                                            \
            if (off[i] * (double)offn <= 1.0 && (best == nst || bits[i] < bits[best]))       \
                best = i;                                                                    \
        if (best == nst || !isfinite(a) || !(steps[best] > 0.0))                             \
            return 0;                                                                        \
        out[0] = a;                                                                          \
        out[1] = steps[best];                                                                \
        return 1;                                                                            \
    }

EKF_DEFINE_GUESS(f64, double, 2.220446049250313e-16, ekf_up64)
EKF_DEFINE_GUESS(f32, float, 1.1920928955078125e-07, ekf_up32)
#undef EKF_DEFINE_GUESS
