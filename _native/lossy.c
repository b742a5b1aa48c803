/* Encoder-side kernels of the error-bounded mode: see lossy.h. */
#include "lossy.h"

#include <math.h>

#define EKZ_FOLLOW_LIM 4503599627370496.0 /* 2**52 */

static inline int64_t ekz_floor_half(int64_t s)
{
    /* floor(s / 2) for |s| < 2**62 without relying on signed shifts */
    return s >= 0 ? s / 2 : -((-s + 1) / 2);
}

#define EKZ_DEFINE_FOLLOW(SUF, T)                                                            \
    int ekz_follow_##SUF(const T *x, size_t n, double b, double tol, int order, int64_t *k) \
    {                                                                                        \
        int64_t p1 = 0, p2 = 0;                                                              \
        size_t i;                                                                            \
        if (!(b > 0.0) || !isfinite(b) || (order != 1 && order != 2))                        \
            return -1;                                                                       \
        for (i = 0; i < n; i++) {                                                            \
            double xf = (double)x[i];                                                        \
            double lf = ceil((xf - tol) / b), hf = floor((xf + tol) / b);                    \
            int ok = fabs(lf) < EKZ_FOLLOW_LIM && fabs(hf) < EKZ_FOLLOW_LIM && lf <= hf;     \
            int64_t lo = ok ? (int64_t)lf : 0, hi = ok ? (int64_t)hf : 0, v;                 \
            if (i == 0)                                                                      \
                v = ok ? ekz_floor_half(lo + hi) : 0;                                        \
            else if (!ok)                                                                    \
                v = p1;                                                                      \
            else {                                                                           \
                v = i == 1 || order == 1 ? p1 : 2 * p1 - p2;                                 \
                v = v < lo ? lo : (v > hi ? hi : v);                                         \
            }                                                                                \
            k[i] = v;                                                                        \
            p2 = p1;                                                                         \
            p1 = v;                                                                          \
        }                                                                                    \
        return 0;                                                                            \
    }

EKZ_DEFINE_FOLLOW(f64, double)
EKZ_DEFINE_FOLLOW(f32, float)
