/* Kernels of edgekit.compress's block search (the encoder's decisions from a sample).
 *
 * numpy references: edgekit/compress/_v2.py (_split_probe_py).
 */
#ifndef EDGEKIT_COMPRESS_SEARCH_H
#define EDGEKIT_COMPRESS_SEARCH_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
/* The split dictionary's search on a block's sample (_v2._split_probe_py in one call): for
 * 64, 512 and 4,096 bins over the range of the int64 keys small[0..m) (m >= 1), the
 * shift s of the bins, the low s bits' order-0 bits, the high parts' ranks among their
 * distinct values (at their best delta order) and a table of 16 bits an entry in the
 * sample's share of the n values; the cheapest estimate below `limit` wins.  Returns the
 * winning shift (out[0] = its estimate) or 0 when none is below the limit, or EKZ_EINVAL.
 * work: uint32[8192], ranks: int64[m] (scratch). */
int ekz_split_probe(const int64_t *small, size_t m, size_t n, double limit, uint32_t *work,
                    int64_t *ranks, double *out);
/* cdef: end */

#endif
