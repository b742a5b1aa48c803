/* The float-grid search of edgekit.compress's encoder (codec._affine_guess) in one call.
 *
 * Nothing here is in the format: it proposes the affine grid a + k * b that the block
 * codec (compress.h) then quantizes and costs like any other candidate.  The numpy
 * reference, which these functions equal bit for bit: _codec_ref.affine_guess.
 */
#ifndef EDGEKIT_COMPRESS_FLOAT_H
#define EDGEKIT_COMPRESS_FLOAT_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
/* (a, b) of a grid a + k * b that an evenly spaced sample of x seems to lie on: sample
 * min(sample, n) values at positions floor(s * n / m), keep the finite ones (-0.0 read as
 * 0.0), take their distinct values and counts; the step is the coarsest divisor of an
 * approximate float gcd of the commonest gaps between distinct values (at most maxg gaps,
 * each exact to tol = scale * eps * slack, gaps below tol * coarse passed over) through
 * which an origin puts all but 1 / offn of the values on the grid (within frac of a step;
 * at most sweep values fix the step); then the float steps next to it (nsteps either side)
 * and a step whose reciprocal has at most 3 decimals are costed and the cheapest that
 * keeps the values on the grid wins.  Returns 1 with out[0] = a, out[1] = b; 0 when there
 * is no grid; EKZ_EUNSUP (-4) when the reference must decide (a NaN on the way); EKZ_EINVAL
 * (-1) when work (dlen doubles) or iwork (ilen) is too small: see ekf_guess_work. */
int ekf_affine_guess_f64(const double *x, size_t n, size_t sample, double slack,
                         double coarse, size_t maxg, double frac, int64_t offn,
                         size_t sweep, size_t nsteps, double *work, size_t dlen,
                         uint64_t *iwork, size_t ilen, double *out);
int ekf_affine_guess_f32(const float *x, size_t n, size_t sample, double slack,
                         double coarse, size_t maxg, double frac, int64_t offn,
                         size_t sweep, size_t nsteps, double *work, size_t dlen,
                         uint64_t *iwork, size_t ilen, double *out);
/* For each of ns steps b: the share of the distinct values ux (seen cnt[i] times) off the
 * grid a + k * b by more than frac of a step, and the bits of their residuals (counted
 * cnt[i] times): _codec_ref.grid_costs with integer weights, the same floats. */
int ekf_grid_costs_f64(const double *ux, size_t n, const int64_t *cnt, double a,
                       const double *steps, size_t ns, double frac, double *off, double *bits);
int ekf_grid_costs_f32(const float *ux, size_t n, const int64_t *cnt, double a,
                       const double *steps, size_t ns, double frac, double *off, double *bits);
/* The quantizer (ekz_quant_*, compress.h: mode 0 decimal, 1 affine) in one vectorized
 * pass: the same k, r (int64 bits of the residual), nonzero count and k range; returns 1,
 * or 0 when some |t| (x p, or (x - a) / b) is not below 2**51 (NaN, infinities, far
 * values: ekz_quant_* decides) or n is 0. */
int ekf_quant1_f64(const double *x, size_t n, int mode, double p, double a, double b,
                   double tol, int64_t *k, int64_t *r, size_t *nonzero, int64_t *range);
int ekf_quant1_f32(const float *x, size_t n, int mode, double p, double a, double b,
                   double tol, int64_t *k, int64_t *r, size_t *nonzero, int64_t *range);
/* The work ekf_affine_guess_* needs for m = min(sample, n) sampled values: the doubles
 * returned, the uint64 into *iwork. */
size_t ekf_guess_work(size_t m, size_t maxg, size_t sweep, size_t nsteps, size_t *iwork);
/* cdef: end */

#endif
