/* Kernels of edgekit.compress's block codec (format v1, docs/compress/format.md).
 *
 * Entropy stage: a value z (uint64) is a token t (0..255) plus t's extra bits:
 *   z < 16: t = z, no extra bits;
 *   else with b = bit length of z (5..64) and m the two bits below the top bit:
 *   t = 16 + 4 (b - 5) + m, extra = the low b - 3 bits of z.
 * Tokens are coded with a static rANS coder (states in [2^15, 2^31), 16-bit words, four
 * interleaved states for 1024 codes or more, else one; probabilities in 1/4096), extra bits
 * LSB-first in a separate bit stream.
 * A block with one distinct token has no rANS stream ("single" >= 0 names that token).
 *
 * The value stream is the zigzag code of the order-k delta (k in 0..2) of an int64 array j
 * (two's complement, wrapping), fused into the coder so encode/decode make one pass.  It
 * covers j[order..n): the first `order` values are stored by the caller (they are large and
 * would cost a table entry each) and handed to the decoder in j[0..order).
 *
 * Quantizers map floats to int64 k and a residual r in "sortable" integer order (the IEEE
 * bits as a signed integer with the magnitude bits inverted for negatives, so that adjacent
 * floats differ by 1): mode 0 (decimal) y = k / p, k = rint(x * p); mode 1 (affine)
 * y = a + k * b, k = rint((x - a) / b); y is computed in double and rounded to the output
 * type; r = sortable(x) - sortable(y).  Values that cannot be quantized (NaN, infinities,
 * out of range) take the previous k and carry all their bits in r.  With tol >= 0, r is 0
 * wherever |y - x| <= tol (the error-bounded mode).
 *
 * numpy references: edgekit/compress/_codec_ref.py.  All functions return EKZ_OK or a
 * negative status; they never read or write outside the sizes they are given.
 */
#ifndef EDGEKIT_COMPRESS_H
#define EDGEKIT_COMPRESS_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
#define EKZ_OK 0
#define EKZ_EINVAL -1
#define EKZ_ECORRUPT -2
#define EKZ_ENOSPC -3
#define EKZ_EUNSUP -4
#define EKZ_PROB_BITS 12
#define EKZ_TAB_LEN 65536

/* Estimated size in bits of a stream with token histogram h[256] (order-0 entropy, extra
 * bits, table and framing): what the encoder compares models and forms with. */
double ekz_cost(const uint32_t *h);

/* The encoder's frequency table for token histogram h[256] (at least two tokens present):
 * the precision pb (12, or 10/8/6 for short streams) that makes table plus codes smallest,
 * frequencies scaled to sum to 2**pb (each present token >= 1), returned scaled to 1/4096
 * in freq[256], and the stored table (u8 largest token, u8 pb << 4 | field width, fields)
 * in out[cap], its length in *len.  Bits identical to _codec_ref.table. */
int ekz_table(const uint32_t *h, uint16_t *freq, uint8_t *out, size_t cap, size_t *len);

/* Frequency table of a stream: count (1..256) fields of nbits (1..12) bits, LSB-first, from
 * src[len], stored at precision pb (4..12 bits: they sum to 2**pb, each below it), scaled
 * to 1/4096 into freq[256] (zero beyond count); EKZ_ECORRUPT if not a valid table. */
int ekz_unpack_freq(const uint8_t *src, size_t len, unsigned count, unsigned nbits,
                    unsigned pb, uint16_t *freq);

/* Token histograms of the zigzagged order-0, 1 and 2 deltas of j (order k from index k):
 * hist[768], added to. */
int ekz_hist3(const uint64_t *j, size_t n, uint32_t *hist);
/* hist[0..256) += the order-0 token histogram of j (ekz_hist3's first row). */
int ekz_hist1(const uint64_t *j, size_t n, uint32_t *hist);
/* hist[0..256) += row `order` (0..2) of ekz_hist3: one delta order's token histogram. */
int ekz_hist_order(const uint64_t *j, size_t n, int order, uint32_t *hist);

/* Encode the order-`order` delta-zigzag stream of j.  freq[256] sums to 4096 (each <= 4095)
 * unless single >= 0.  tok: scratch of n bytes.  Writes the rANS words then the extra bits
 * into out[cap]; lens[0] = rANS bytes, lens[1] = extra-bit bytes. */
int ekz_encode(const uint64_t *j, size_t n, int order, const uint16_t *freq, int single,
               uint8_t *tok, uint8_t *out, size_t cap, size_t *lens);

/* The two passes of ekz_encode, for a caller that wants the exact histogram before it
 * chooses the frequencies: tokens (tok[order..n)) + extra bits (out[0..*blen)) + histogram
 * (added to hist[256]); then the rANS words of those tokens at out[blen..blen + *wlen). */
int ekz_tokenize(const uint64_t *j, size_t n, int order, uint8_t *tok, uint8_t *out,
                 size_t cap, uint32_t *hist, size_t *blen);
int ekz_rans(const uint8_t *tok, size_t n, int order, const uint16_t *freq, uint8_t *out,
             size_t cap, size_t blen, size_t *wlen);
/* ekz_rans with `lanes` states (format v3's stream kind 4: 16; 0: the v1 rule, 4 states
 * for 1024 codes or more, else 1); value i uses state (i - order) % lanes.  With lanes,
 * the extra bits out[0..*blen) (ekz_tokenize's) give up their tail to the lanes' states
 * (docs/compress/format.md, "Version 3: stream lanes"): *blen becomes the bytes kept. */
int ekz_rans_lanes(const uint8_t *tok, size_t n, int order, const uint16_t *freq,
                   unsigned lanes, uint8_t *out, size_t cap, size_t *blen, size_t *wlen);

/* `single` of the decoders: >= 0, a stream of that one token (kind 0); -1, rANS states by
 * the v1 rule (kind 1); EKZ_SINGLE_LANES, 16 rANS states (format v3, kind 4). */
#define EKZ_SINGLE_LANES -2
/* Whether kind-4 streams take the SIMD decoder (x86-64 with AVX-512 VBMI2, picked at run
 * time); on = 0 turns it off (the portable path, the same bits: tests), 1 back on.
 * Returns whether it was on. */
int ekz_lanes_simd(int on);
/* Inverse of ekz_encode: EKZ_ECORRUPT on any inconsistency (reads past a stream, streams
 * not consumed exactly, final rANS state wrong, a token absent from the table). */
int ekz_decode(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
               const uint16_t *freq, int single, int order, uint64_t *j, size_t n);

/* Where ekz_decode_into / ekz_put_j write value i (k = off + g * j[i], wrapping):
 * J: the uint64 j itself (g, off unused); I8..I64: k truncated to the width (integer
 * model); B16..B64: unsortable(k truncated to the width), the float bits model;
 * T64/T32: tab[j - lo] (float64/float32 value table of span + 1 <= EKZ_TAB_LEN entries,
 * EKZ_ECORRUPT if j - lo > span; g, off unused: they are in the table); R64/R32: the
 * residual, out[i] = unsortable(sortable(out[i]) + j[i]) on the float's bits. */
#define EKZ_SINK_J 0
#define EKZ_SINK_I8 1
#define EKZ_SINK_I16 2
#define EKZ_SINK_I32 3
#define EKZ_SINK_I64 4
#define EKZ_SINK_B16 5
#define EKZ_SINK_B32 6
#define EKZ_SINK_B64 7
#define EKZ_SINK_T64 8
#define EKZ_SINK_T32 9
#define EKZ_SINK_R64 10
#define EKZ_SINK_R32 11
/* ekz_decode straight into a sink: first[0..order) are the stored first values (they go to
 * the sink too); out holds n items of the sink's type. */
int ekz_decode_into(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
                    const uint16_t *freq, int single, int order, const uint64_t *first,
                    size_t n, int sink, void *out, uint64_t g, uint64_t off, const void *tab,
                    uint64_t lo, uint64_t span);
/* j[0..n) to a sink, as ekz_decode_into would write them */
int ekz_put_j(const uint64_t *j, size_t n, int sink, void *out, uint64_t g, uint64_t off,
              const void *tab, uint64_t lo, uint64_t span);

/* Zero-run form of the stream (the values i >= order): runs[0..m] are the numbers of zero
 * codes before each nonzero code and after the last; vals[0..m) are the nonzero codes minus
 * one.  Both are stored as unzigzag(value), so that coding them with ekz_encode at order 0
 * codes exactly the value.  runs needs n - order + 1 items, vals n - order. */
int ekz_runs_split(const uint64_t *j, size_t n, int order, uint64_t *runs, uint64_t *vals,
                   size_t *m);
/* Token histograms of what ekz_runs_split would give (hist[0..256) runs, hist[256..512)
 * values, added to) and the number of nonzero codes, without writing the arrays.  sparse:
 * a hint (nonzero codes are rare: a branchy loop is faster), not a change of result. */
int ekz_runs_hist(const uint64_t *j, size_t n, int order, int sparse, uint32_t *hist,
                  size_t *m);
/* Inverse; j[0..order) hold the stored first values; EKZ_ECORRUPT if the runs and values do
 * not add up to exactly n values. */
int ekz_runs_expand(const uint64_t *runs, const uint64_t *vals, size_t m, int order,
                    uint64_t *j, size_t n);

/* Fused decode + dequantize for blocks whose j span is short: the decoded j (first values
 * in first[0..order)) must lie in lo..lo+span, and o[i] = tab[j[i] - lo] (tab from
 * ekz_build_tab_*).  Bits identical to ekz_decode then ekz_dequant_*. */
int ekz_decode_tab_f64(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
                       const uint16_t *freq, int single, int order, const uint64_t *first,
                       uint64_t lo, uint64_t span, const double *tab, double *o, size_t n);
int ekz_decode_tab_f32(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
                       const uint16_t *freq, int single, int order, const uint64_t *first,
                       uint64_t lo, uint64_t span, const float *tab, float *o, size_t n);
/* tab[v] = y(off + g * (lo + v)) for v < len <= EKZ_TAB_LEN, by the dequantize formula. */
int ekz_build_tab_f64(int mode, double p, double a, double b, uint64_t g, uint64_t off,
                      uint64_t lo, size_t len, double *tab);
int ekz_build_tab_f32(int mode, double p, double a, double b, uint64_t g, uint64_t off,
                      uint64_t lo, size_t len, float *tab);

/* out[i] = the float r[i] steps (in sortable order) from out[i] */
int ekz_add_resid_f64(const int64_t *r, size_t n, double *out);
int ekz_add_resid_f32(const int64_t *r, size_t n, float *out);

/* ekz_runs_expand fused with the value table of ekz_decode_tab_* (first values in
 * first[0..order)); the same bits as expanding then dequantizing. */
int ekz_runs_expand_tab_f64(const uint64_t *runs, const uint64_t *vals, size_t m, int order,
                            const uint64_t *first, uint64_t lo, uint64_t span,
                            const double *tab, double *o, size_t n);
int ekz_runs_expand_tab_f32(const uint64_t *runs, const uint64_t *vals, size_t m, int order,
                            const uint64_t *first, uint64_t lo, uint64_t span,
                            const float *tab, float *o, size_t n);

/* out[0] = min, out[1] = max of x[0..n) (n >= 1). */
int ekz_minmax(const int64_t *x, size_t n, int64_t *out);

/* gcd of |j[i] - j[i-1]| (wrapping int64 differences), 0 when all equal: for values that
 * do not wrap, the gcd of every j[i] - j[0] (the caller verifies the split). */
uint64_t ekz_gcd(const uint64_t *j, size_t n);

/* q[i] = (j[i] - off) / g (as int64) when exact for every i: returns 1; 0 (q untouched)
 * when some value is not; EKZ_EINVAL unless 2 <= g < 2**63 and off < g. */
int ekz_gcd_split(const uint64_t *j, size_t n, uint64_t g, uint64_t off, uint64_t *q);

/* The affine-grid search's hot steps (codec._affine_guess_raw), the same bits as the
 * numpy references _codec_ref.float_gcd and _codec_ref.grid_origin.  ekz_float_gcd: the
 * divisors met, coarsest first, into seen (room for n), and their number (0: none, or too
 * many values passed over).  ekz_grid_origin: 1 and out = (a, b), 0 when no origin fits,
 * -1 when the reference must decide (NaN on the way); work: 3 * sweep + n doubles,
 * iwork: 9 * sweep + n. */
size_t ekz_float_gcd(const double *d, size_t n, double tol, double floor_, long skips,
                     double *seen);
int ekz_grid_origin(const double *u, const int64_t *counts, const double *half, size_t n,
                    double b0, double frac, int64_t offn, size_t sweep, double *work,
                    uint64_t *iwork, double *out);

/* More of the affine-grid search (references _codec_ref.common_gaps and grid_costs):
 * ekz_common_gaps: the commonest gaps between the distinct values u, at most maxg, into out
 * (room for maxg); their number, -1 when the reference must decide; work: 3 * n doubles,
 * iwork: 6 * n.  ekz_grid_costs_*: per step, the weighted share of values off the
 * grid and the weighted bits of their residuals. */
long ekz_common_gaps(const double *u, size_t n, double floor_, double tol, size_t maxg,
                     double *work, uint64_t *iwork, double *out);
int ekz_grid_costs_f64(const double *ux, size_t n, const double *w, double a,
                       const double *steps, size_t ns, double frac, double *off, double *bits);
int ekz_grid_costs_f32(const float *ux, size_t n, const double *w, double a,
                       const double *steps, size_t ns, double frac, double *off, double *bits);

/* 1 and out = x as float32 when every value of x is a float32 value (bits and all), else 0
 * (out partly written). */
int ekz_f32_exact(const double *x, size_t n, float *out);

/* Float bits as order-preserving int64 (float32 sign-extended from 32 bits). */
int ekz_sortable_f64(const double *x, size_t n, int64_t *out);
int ekz_sortable_f32(const float *x, size_t n, int64_t *out);

/* Smallest d in 0..maxd such that at most `allow` of the finite values among `sample`
 * evenly spaced ones of x (positions floor(s * n / m), m = min(sample, n)) are not exactly
 * k / 10**d for an integer k; -1 if none (0 when n = 0). */
int ekz_find_decimals_f64(const double *x, size_t n, size_t sample, int maxd, size_t allow);
int ekz_find_decimals_f32(const float *x, size_t n, size_t sample, int maxd, size_t allow);

/* Quantize (see above).  Returns the number of nonzero residuals in *nonzero and the
 * smallest and largest k in range[0..2) (0, 0 when n = 0).  r is left as it was when every
 * value is exactly k / p (the decimal model's common case); otherwise it is written (all
 * zero when *nonzero = 0).  tab: scratch of EKZ_TAB_LEN items. */
int ekz_quant_f64(const double *x, size_t n, int mode, double p, double a, double b,
                  double tol, double *tab, int64_t *k, int64_t *r, size_t *nonzero,
                  int64_t *range);
int ekz_quant_f32(const float *x, size_t n, int mode, double p, double a, double b,
                  double tol, float *tab, int64_t *k, int64_t *r, size_t *nonzero,
                  int64_t *range);

/* Rebuild: k[i] = off + g * j[i] (wrapping), y from k, then add r (may be NULL).
 * tab: scratch of EKZ_TAB_LEN items (a block whose k span is short computes each distinct
 * y once and looks it up: the same bits, without a division per value). */
int ekz_dequant_f64(const uint64_t *j, const int64_t *r, size_t n, int mode, double p,
                    double a, double b, uint64_t g, uint64_t off, double *tab, double *out);
int ekz_dequant_f32(const uint64_t *j, const int64_t *r, size_t n, int mode, double p,
                    double a, double b, uint64_t g, uint64_t off, float *tab, float *out);
/* One block of a frame of format `version` (1, 2 or 3; its `len` bytes, after the size
 * varint) into out[n] (the frame's storage dtype: float of `width` bytes when isfloat, else
 * integer-like), n <= 65536; work: scratch of ekz_block_work_size(n) bytes.  Version 2 adds
 * the dictionary (model 5, split form too) and the predictor (order field 3), version 3
 * stream kind 4 (lanes; not in a dictionary's table block).  EKZ_OK only
 * when the block decodes as the format says and its bytes are consumed exactly;
 * EKZ_ECORRUPT, or EKZ_EUNSUP for a block model it does not know (or a big-endian host),
 * leave the block to the Python decoder. */
size_t ekz_block_work_size(size_t n);
int ekz_decode_block(const uint8_t *src, size_t len, int version, int isfloat, size_t width,
                     void *out, size_t n, void *work, size_t wsize);
/* The blocks of a frame (its body from the first block's size varint to the checksum, len
 * bytes; blocks of blen values) into out[n]: ekz_decode_block on each.  done[0] = blocks
 * decoded, done[1] = bytes of body they took; EKZ_OK when all were decoded and the body
 * consumed exactly, else the caller decodes from block done[0] at done[1] itself. */
int ekz_decode_blocks(const uint8_t *body, size_t len, size_t blen, int version, int isfloat,
                      size_t width, void *out, size_t n, void *work, size_t wsize,
                      size_t *done);
/* CRC-32 (zlib's) of a prefix of buf[len]: continues *crc (zlib.crc32's running value)
 * over the first returned number of bytes (a multiple of 16, or 0 when the CPU lacks
 * carry-less multiply or len < 64); the caller finishes the rest with zlib. */
size_t ekz_crc32_fold(const uint8_t *buf, size_t len, uint32_t *crc);
/* A frame's checksum and blocks in one call (the per-frame cost of a short series): the
 * CRC-32 of frame[0..crc_len) must equal the u32 (little-endian) at frame + crc_len, then
 * ekz_decode_blocks of the body frame[body_off..crc_len).  EKZ_ECORRUPT (done zeroed) on a
 * checksum mismatch; EKZ_EUNSUP without the carry-less fold (or crc_len < 64): the caller
 * checks the checksum with zlib and calls ekz_decode_blocks. */
int ekz_decode_frame(const uint8_t *frame, size_t crc_len, size_t body_off, size_t blen,
                     int version, int isfloat, size_t width, void *out, size_t n, void *work,
                     size_t wsize, size_t *done);
/* cdef: end */

#endif
