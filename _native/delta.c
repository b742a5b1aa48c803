/* Delta and zigzag kernels: see delta.h for the definitions.
 * The numpy reference is edgekit/compress/_delta_ref.py; tests/test_delta.py holds both to
 * the same bits. */
#include "delta.h"

/* Encoders are written as x[i] - x[i-1] (no loop-carried dependency) so that the compiler
 * can vectorise them; decoders are prefix sums and stay scalar. Every operation is done on
 * the unsigned type and cast back, which makes wrap-around defined behaviour in C. */
#define EK_DEFINE_DELTA(W)                                                                   \
    static inline uint##W##_t ek_zz##W(uint##W##_t v)                                        \
    {                                                                                        \
        return (uint##W##_t)((uint##W##_t)(v << 1) ^ (uint##W##_t)(0u - (v >> (W - 1))));   \
    }                                                                                        \
    static inline uint##W##_t ek_unzz##W(uint##W##_t z)                                      \
    {                                                                                        \
        return (uint##W##_t)((uint##W##_t)(z >> 1) ^ (uint##W##_t)(0u - (z & 1u)));         \
    }                                                                                        \
    static inline uint##W##_t ek_id##W(uint##W##_t v) { return v; }                          \
    /* out[i] = F(order-k delta of x at i) */                                                \
    static inline int ek_denc##W(const uint##W##_t *restrict x, uint##W##_t *restrict out,   \
                                 size_t n, int order, uint##W##_t (*f)(uint##W##_t))         \
    {                                                                                        \
        size_t i;                                                                            \
        if (order < 0 || order > 2)                                                          \
            return EK_EINVAL;                                                                \
        if (order == 0) {                                                                    \
            for (i = 0; i < n; i++)                                                          \
                out[i] = f(x[i]);                                                            \
            return EK_OK;                                                                    \
        }                                                                                    \
        if (n == 0)                                                                          \
            return EK_OK;                                                                    \
        if (order == 1) {                                                                    \
            out[0] = f(x[0]);                                                                \
            for (i = 1; i < n; i++)                                                          \
                out[i] = f((uint##W##_t)(x[i] - x[i - 1]));                                  \
            return EK_OK;                                                                    \
        }                                                                                    \
        /* order 2: d1[0] = x0, d1[i] = x[i]-x[i-1]; d2[0] = x0, d2[1] = x1 - 2 x0,         \
         * d2[i] = x[i] - 2 x[i-1] + x[i-2] */                                               \
        out[0] = f(x[0]);                                                                    \
        if (n > 1)                                                                           \
            out[1] = f((uint##W##_t)(x[1] - (uint##W##_t)(x[0] << 1)));                      \
        for (i = 2; i < n; i++)                                                              \
            out[i] = f((uint##W##_t)(x[i] - (uint##W##_t)(x[i - 1] << 1) + x[i - 2]));       \
        return EK_OK;                                                                        \
    }                                                                                        \
    static inline int ek_ddec##W(const uint##W##_t *restrict d, uint##W##_t *restrict out,   \
                                 size_t n, int order, uint##W##_t (*f)(uint##W##_t))         \
    {                                                                                        \
        size_t i;                                                                            \
        uint##W##_t acc = 0, step = 0;                                                       \
        if (order < 0 || order > 2)                                                          \
            return EK_EINVAL;                                                                \
        if (order == 0) {                                                                    \
            for (i = 0; i < n; i++)                                                          \
                out[i] = f(d[i]);                                                            \
        } else if (order == 1) {                                                             \
            for (i = 0; i < n; i++) {                                                        \
                acc = (uint##W##_t)(acc + f(d[i]));                                          \
                out[i] = acc;                                                                \
            }                                                                                \
        } else {                                                                             \
            for (i = 0; i < n; i++) {                                                        \
                step = (uint##W##_t)(step + f(d[i]));                                        \
                acc = (uint##W##_t)(acc + step);                                             \
                out[i] = acc;                                                                \
            }                                                                                \
        }                                                                                    \
        return EK_OK;                                                                        \
    }                                                                                        \
    int ek_delta_encode_u##W(const uint##W##_t *x, uint##W##_t *out, size_t n, int order)    \
    {                                                                                        \
        return ek_denc##W(x, out, n, order, ek_id##W);                                       \
    }                                                                                        \
    int ek_delta_decode_u##W(const uint##W##_t *d, uint##W##_t *out, size_t n, int order)    \
    {                                                                                        \
        return ek_ddec##W(d, out, n, order, ek_id##W);                                       \
    }                                                                                        \
    int ek_delta_zigzag_encode_u##W(const uint##W##_t *x, uint##W##_t *out, size_t n,        \
                                    int order)                                               \
    {                                                                                        \
        return ek_denc##W(x, out, n, order, ek_zz##W);                                       \
    }                                                                                        \
    int ek_delta_zigzag_decode_u##W(const uint##W##_t *z, uint##W##_t *out, size_t n,        \
                                    int order)                                               \
    {                                                                                        \
        return ek_ddec##W(z, out, n, order, ek_unzz##W);                                     \
    }

EK_DEFINE_DELTA(8)
EK_DEFINE_DELTA(16)
EK_DEFINE_DELTA(32)
EK_DEFINE_DELTA(64)
