/* Encoder-side kernels of edgekit.compress's error-bounded (lossy) mode.
 *
 * Nothing here is in the format: these choose integer codes k that the affine model
 * (y = 0.0 + k * b, docs/compress/format.md) then stores like any other.  numpy/Python
 * references: edgekit/compress/_codec_ref.py (follow).
 */
#ifndef EDGEKIT_LOSSY_H
#define EDGEKIT_LOSSY_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
/* The prediction-following grid: for each x[i] its window of grid indices
 * lo = ceil((x - tol) / b), hi = floor((x + tol) / b) (in double; a window is valid when
 * lo <= hi and both are below 2**52 in magnitude), and
 *   k[0] = floor((lo + hi) / 2) (0 when invalid),
 *   k[1] = k[0] clamped into its window,
 *   k[i] = the prediction clamped into its window, or k[i-1] when the window is invalid;
 * the prediction is k[i-1] (order 1) or 2 k[i-1] - k[i-2] (order 2; k[i-1] for i = 1).
 * Returns 0, or -1 when b is not finite and positive or order is not 1 or 2. */
int ekz_follow_f64(const double *x, size_t n, double b, double tol, int order, int64_t *k);
int ekz_follow_f32(const float *x, size_t n, double b, double tol, int order, int64_t *k);
/* cdef: end */

#endif
