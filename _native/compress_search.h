/* Kernels of edgekit.compress's block search (the encoder's decisions from a sample).
 *
 * numpy references: edgekit/compress/_v2.py (_dict_probe_py).
 */
#ifndef EDGEKIT_COMPRESS_SEARCH_H
#define EDGEKIT_COMPRESS_SEARCH_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
#define EKZ_PROBE_RANKS 1
#define EKZ_PROBE_TABLE 2

/* The dictionary's estimate on a block's sample in one call.  keys[0..m) (int64, m >= 1)
 * are sorted (an LSD radix sort of key/position pairs; work: uint64[4 m]): u[0..T) gets
 * the sorted distinct keys, ranks[i] the position of keys[i] in u, counts = (T, how many
 * keys occur once, twice).  With EKZ_PROBE_RANKS in `want`: out[1], out[2] = total, factor
 * of _v2._spread(T, f1, f2, m, n) (the block of n values' table size estimate and spread),
 * ranks multiplied by the factor (rounded half to even) when it exceeds 1.25, and out[0] =
 * the least of ekz_cost over the three rows of ekz_hist3 of the ranks (their stream's bits
 * at its best delta order).  With EKZ_PROBE_TABLE: out[3] = the same least cost of u
 * itself (the sorted table: its gaps at order 1).  The same numbers as the numpy
 * reference, bit for bit. */
int ekz_dict_probe(const int64_t *keys, size_t m, size_t n, int want, int64_t *u,
                   int64_t *ranks, uint64_t *work, uint64_t *counts, double *out);
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
