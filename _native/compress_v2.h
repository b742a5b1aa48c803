/* Kernels of edgekit.compress format v2 (docs/compress/format.md, "Version 2").
 *
 * Linear predictor: a list of P terms (lag_t, coef_t), lags strictly increasing, and a
 * shift s.  For j (uint64, wrapping two's complement) and L = the largest lag:
 *   pred_i = j[i-1]                                    for 1 <= i < L (warm-up: delta 1)
 *   pred_i = asr(sum_t coef_t * j[i - lag_t] mod 2^64, s)   for i >= L
 * asr is the arithmetic (floor) right shift of the sum read as int64.  The residual of
 * value i >= 1 is e[i-1] = j[i] - pred_i mod 2^64; j[0] is stored apart.
 *
 * Dictionary: out[i] = table[idx[i]] for items of 1, 2, 4 or 8 bytes.
 *
 * numpy references: edgekit/compress/_codec_ref.py (predict, unpredict, gather).
 */
#ifndef EDGEKIT_COMPRESS_V2_H
#define EDGEKIT_COMPRESS_V2_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
#define EKZ2_MAX_TERMS 32

/* e[0..n-1) = the residuals of j[1..n) under the predictor (n >= 1, lags[P-1] < n). */
int ekz2_predict(const uint64_t *j, size_t n, const uint32_t *lags, const int64_t *coefs,
                 int nterms, int shift, uint64_t *e);
/* Inverse: j[0] = j0, then j[i] = pred_i + e[i-1].  EKZ_EINVAL on bad parameters. */
int ekz2_unpredict(const uint64_t *e, size_t n, uint64_t j0, const uint32_t *lags,
                   const int64_t *coefs, int nterms, int shift, uint64_t *j);
/* out[i] = table[idx[i]] (items of `width` bytes); EKZ_ECORRUPT if an index >= tlen. */
int ekz2_gather(const uint8_t *table, size_t tlen, size_t width, const uint64_t *idx,
                size_t n, uint8_t *out);
/* Autocorrelations r[0..p] of the first difference d of the int64 j[0..n) (as double,
 * wrapping, mean removed: work[0..n-1) holds it), r[k] = sum_{i >= k} d_i d_{i-k}; every
 * sum (the mean's too) taken as four interleaved sums in index order, combined as
 * (s0 + s1) + (s2 + s3), so the reference gives the same bits.  n >= 2, p < n - 1,
 * p <= 32.  The LPC fit's input. */
int ekz2_autocorr(const int64_t *j, size_t n, int p, double *work, double *r);
/* same[k-1] = #{i >= k: j[i] == j[i-k]} for k = 1..maxlag (lookback search). */
int ekz2_lag_matches(const uint64_t *j, size_t n, int maxlag, uint32_t *same);
/* idx[i] = the position of key[i] in the sorted distinct table u[0..T) (T >= 1), searched
 * from the previous value's position outwards (smooth series: a step or two per value);
 * EKZ_ECORRUPT (idx incomplete) when a key is not in the table. */
int ekz2_rank(const int64_t *u, size_t T, const int64_t *key, size_t n, uint64_t *idx);
/* Token histogram (tokens as in compress.h) of the zigzagged residuals of j under the
 * predictor, run by run: j is cut into runs of `run` values (a sample of separate runs)
 * and the first lags[P-1] values of each run are skipped.  h[256] is overwritten. */
int ekz2_pred_hist(const uint64_t *j, size_t n, size_t run, const uint32_t *lags,
                   const int64_t *coefs, int nterms, int shift, uint32_t *h);
/* Split dictionary: w = (table[idx[i]] << shift) + lo[i] (uint64, mod 2^64; lo[i] must be
 * below 2^shift), written as `width` bytes (1, 2, 4, 8): the low bytes of w for integers,
 * for floats (is_float) the IEEE bits unsortable(w truncated to the width).  EKZ_ECORRUPT
 * when an index is >= tlen or a low part is too large; shift in 1..63. */
int ekz2_split_gather(const int64_t *table, size_t tlen, const uint64_t *idx,
                      const uint64_t *lo, size_t n, int shift, size_t width, int is_float,
                      uint8_t *out);
/* ekz2_rank's results (same idx, same status) faster on noisy keys: unless a key repeats
 * the previous one, it is looked up in a hash table tab[0..L) (L a power of two >= 2 T, or
 * 0 for none) of the entries, which this fills (linear probing, at most 32 probes), and
 * found by a branch-free binary search of u when it is not there (a key the table lacks,
 * or an entry that found no free slot). */
int ekz2_rank_bs(const int64_t *u, size_t T, const int64_t *key, size_t n, uint32_t *lut,
                 size_t L, uint64_t *idx);
/* ekz2_pred_hist's h (overwritten), run by run through ekz2_predict (its unrolled
 * recurrences) into work[0..min(run, n)) and ekz_hist1: the same histogram, faster for
 * dense LPC predictors.  Parameters as ekz2_predict's (EKZ_EINVAL otherwise). */
int ekz2_pred_hist_runs(const uint64_t *j, size_t n, size_t run, const uint32_t *lags,
                        const int64_t *coefs, int nterms, int shift, uint64_t *work,
                        uint32_t *h);
/* _v2._pred_search in one call (the same choice, bit for bit): the predictor options of
 * the sample js[0..ns) (runs of `run` values; `order` the chosen delta order, `base` its
 * estimated bits on js) costed as _v2.pred_candidate does, with the early test on
 * jsmall[0..nsmall) (runs of 1,024; NULL for none) against base_small bits a value;
 * thr = (_T_LPC_MAX, _T_LPC_PREC, _T_PRED_MIN_GAIN, _T_PRED_GAIN, _T_LOOK_MAX,
 * _T_LOOK_SHARE); work: 2 w + min(1024, nsmall) uint64, w = min(run, ns) (two halves for
 * js's residuals, then the early test's), dwork: w doubles.  Returns 1 with the winner in
 * lags/coefs (info = nterms, shift, and h + 1 when work[h w..h w + ns - 1) holds the
 * winner's residuals of all of js (ekz2_predict's output: js one run, a dense predictor),
 * else 0; cost = its estimate), 0 when no option is taken, or an error status.  info: 3
 * entries. */
int ekz2_pred_search(const uint64_t *js, size_t ns, size_t run, int order, double base,
                     const uint64_t *jsmall, size_t nsmall, double base_small,
                     double scale, const double *thr, uint64_t *work, double *dwork,
                     uint32_t *lags_out, int64_t *coefs_out, int32_t *info, double *cost_out);
/* The distinct values of the sorted s[0..n) into u (in order), and out = (their number,
 * how many occur once, how many twice): the dictionary's estimate of its table size. */
int ekz2_distinct_sorted(const int64_t *s, size_t n, int64_t *u, uint64_t *out);
/* ekz2_distinct_sorted's output for a[0..n) unsorted, by counting when the values span at
 * most maxspan (cnt: 4 (maxspan + 1) work entries): 1, or 0 (nothing written to u, out)
 * when they span more (the caller sorts).  No sort where the values' range is small. */
int ekz2_distinct_range(const int64_t *a, size_t n, uint64_t maxspan, uint32_t *cnt,
                        int64_t *u, uint64_t *out);
/* Format v3, predictor lanes (docs/compress/format.md, "Version 3: predictor lanes"): the
 * n values are cut into nl lanes (2..EKZ2_MAX_LANES) of seg = ceil(n / nl) values, the last
 * lane n - (nl - 1) seg, which must exceed the largest lag; each lane is predicted on its
 * own (its first value stored apart, then delta 1 up to the largest lag, as a v2 block).
 * The residuals are stored lane-interleaved: step k = 1, 2, ... of lane 0, 1, .., nl - 1
 * (the last lane only while it has values), n - nl in all.  In the interleaved layout
 * jt[k nl + m] (value k of lane m) the lanes are independent chains side by side.
 * ekz2_lanes_geom: seg and the last lane's length, EKZ_EINVAL when the lanes do not fit. */
#define EKZ2_MAX_LANES 64
int ekz2_lanes_geom(size_t n, size_t nl, size_t maxlag, size_t *seg, size_t *last);
/* j[0..n) from the n - nl interleaved residuals e and the lanes' first values starts[nl];
 * jt: nl * seg work values.  EKZ_EINVAL on bad parameters. */
int ekz2_unpredict_lanes(const uint64_t *e, size_t n, size_t nl, const uint64_t *starts,
                         const uint32_t *lags, const int64_t *coefs, int nterms, int shift,
                         uint64_t *jt, uint64_t *j);
/* ekz2_unpredict_lanes's recurrence alone, in place on the interleaved layout jt[nl seg]
 * (step 0: the lanes' first values; the other slots: the residuals, 0 in the last lane's
 * empty slots), which then holds the values (tools/compress_lanes_recurrence.py). */
int ekz2_unpredict_lanes_jt(uint64_t *jt, size_t n, size_t nl, const uint32_t *lags,
                            const int64_t *coefs, int nterms, int shift);
/* The encoder's side: the interleaved residuals e[0..n - nl) and starts[nl] of j[0..n)
 * (jt: nl * seg work values), from the one-lane residuals e1[0..n-1) (ekz2_predict's) when
 * not NULL.  EKZ_EINVAL on bad parameters. */
int ekz2_predict_lanes(const uint64_t *j, size_t n, size_t nl, const uint32_t *lags,
                       const int64_t *coefs, int nterms, int shift, const uint64_t *e1,
                       uint64_t *jt, uint64_t *e, uint64_t *starts);
/* Which recurrence kernel ekz2_unpredict_lanes runs for nl lanes: 2 AVX-512 (eight lanes,
 * one a vector element, 32-bit multiplies while every value fits int32, else 64-bit ones),
 * 1 AVX2 (two 4-lane vectors, 32-bit multiplies while the values fit, else scalar),
 * 0 scalar (nl independent chains the core overlaps): eight lanes on x86-64 CPUs with
 * AVX-512F/DQ or AVX2 (GCC or clang), else 0. */
int ekz2_lanes_kernel(size_t nl, const uint32_t *lags, int nterms);
/* The encoder's estimate of what nl lanes cost more than one lane, in integers: hdiff[256]
 * = token histogram of the lanes' warm-up residuals (delta 1) less that of one lane's
 * residuals at the same values and the lanes' first values; info = (bytes of the varints
 * zz(j[b] - j[0]) of lanes 1.., sum of (bit length + 1) of the warm-up residuals, the same
 * of the one-lane residuals).  EKZ_EINVAL on bad parameters. */
int ekz2_lanes_extra(const uint64_t *j, size_t n, size_t nl, const uint32_t *lags,
                     const int64_t *coefs, int nterms, int shift, int32_t *hdiff,
                     uint64_t *info);
/* Tests: the best kernel ekz2_lanes_kernel may pick (0, 1 or 2; others leave it), returns
 * the previous setting (2 at load: the best the CPU has). */
int ekz2_lanes_use(int kernel);
/* cdef: end */

/* For the block decoder: residual q0..q0+cnt of the interleaved stream into jt (seg, last
 * from ekz2_lanes_geom); the steps complete after q residuals; the warm-up and the
 * recurrence over steps [from, to) of jt in place (jt holds the residuals of those steps and
 * the values of the steps before). */
void ekz2_lanes_put(uint64_t *jt, size_t nl, size_t last, size_t q0, const uint64_t *r,
                    size_t cnt);
size_t ekz2_lanes_ready(size_t nl, size_t last, size_t q);
void ekz2_lanes_run(uint64_t *jt, size_t nl, size_t from, size_t to, const uint32_t *lags,
                    const uint64_t *c, int nterms, int shift);
/* dst[m stride + k] = jt[(k0 + k) nl + m] for k < cnt, m < nl (lane m's values of the steps
 * k0 .. k0 + cnt - 1; AVX-512 8 x 8 transposes for eight lanes) */
void ekz2_lanes_gather(const uint64_t *jt, size_t nl, size_t k0, size_t cnt, uint64_t *dst,
                       size_t stride);
/* The same copy of eight lanes (steps k0 .. k0 + cnt - 1, cnt a multiple of 8, every lane
 * holding them) straight through one of the block decoder's sinks (lane m's value k to
 * position m seg + k of out, as items of `width` bytes):
 *   EKZ2_OUT_INT    (T)(off + g j)                       width 1, 2, 4, 8
 *   EKZ2_OUT_BITS   float bits unsortable(off + g j)     width 2, 4, 8
 *   EKZ2_OUT_Q      k = off + g j as int64; k / p (mode 0) or a + k b (mode 1) in double,
 *                   rounded to T (double, width 8; float, width 4)
 *   EKZ2_OUT_GATHER tab[j] (items of width 4 or 8), j < span (g = 1, off = 0)
 * 0 done; -1 an index past the table (corrupt, the values written are not); 1 not done
 * (a kind or width it lacks, or no AVX-512 kernel: ekz2_lanes_kernel): the caller copies. */
#define EKZ2_OUT_INT 1
#define EKZ2_OUT_BITS 2
#define EKZ2_OUT_Q 3
#define EKZ2_OUT_GATHER 4
typedef struct {
    int kind, mode;
    size_t width;
    void *out;
    uint64_t g, off, span;
    double p, a, b;
    const void *tab;
} ekz2_out;
int ekz2_lanes_out8(const uint64_t *jt, size_t k0, size_t cnt, size_t seg, const ekz2_out *o);

/* For the block decoder (compress.c), not bound by cffi: j[from..to) of ekz2_unpredict
 * from j[0..from) (from >= 1) and e[0..to - from) (the residuals of those values), the
 * coefficients as uint64 (parameters already checked by ekz2_pred_check, which is
 * ekz2_unpredict's check). */
void ekz2_unpredict_span(uint64_t *j, const uint64_t *e, size_t from, size_t to,
                         const uint32_t *lags, const uint64_t *c, int nterms, int shift);
int ekz2_pred_check(size_t n, const uint32_t *lags, const int64_t *coefs, int nterms,
                    int shift);
/* 1 when the block decoder may run the dense recurrence with AVX-512F/DQ and BMI2 (built
 * for x86-64 with GCC or clang, and the CPU has them), else 0; ekz2_dense_lags: 1 when the
 * lags are 1..nterms. */
int ekz2_cpu_avx512(void);
int ekz2_dense_lags(const uint32_t *lags, int nterms);
/* The eight-lane accumulator of the AVX-512 dense recurrence (5 <= nterms <= 12) for the
 * values from, from + 1, ...: lane m of init holds the terms of lags >= 5 of value from + m
 * that use values before from - 4; cv[m] = c[m + 4] (0 past the last term). */
void ekz2_dense_init(const uint64_t *j, size_t from, const uint64_t *c, int nterms,
                     uint64_t *init, uint64_t *cv);

/* x / p without the division (the decimal sinks' k / p; vdivpd is their whole cost): for
 * a divisor 1 <= p <= 1e22 (EKZ_DIV_OK) and y = 1.0 / p (correctly rounded, by one
 * division), q = x y refined twice by a remainder computed exactly with a fused
 * multiply-add; the second remainder step starts from a faithful quotient, so its result is
 * the correctly rounded x / p (Markstein's theorem): the same bits as _mm512_div_pd for
 * every double x (checked against the division on 1e8 random x by
 * tests/compress/test_decode_last4.py and the corpus by tools/compress_paths_exact.py). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(EKZ_NO_AVX512)
#include <immintrin.h>
#define EKZ_DIV_OK(p) ((p) >= 1.0 && (p) <= 1e22)
__attribute__((target("avx512f"), always_inline)) static inline __m512d
ekz_div_pd(__m512d x, __m512d p, __m512d y)
{
    const __m512d q = _mm512_mul_pd(x, y);
    const __m512d q1 = _mm512_fmadd_pd(_mm512_fnmadd_pd(q, p, x), y, q);
    return _mm512_fmadd_pd(_mm512_fnmadd_pd(q1, p, x), y, q1);
}
#endif

#endif
