/* bsdiff-class matcher for edgekit.update (binary delta of an old and a new file).
 *
 * The matcher walks the new file and, with a suffix array of the old file, finds for each
 * region the old region it best resembles, allowing mismatches (an "approximate match": the
 * bytes are then sent as differences new-old, mostly zeros, which compress very well).  It
 * emits one control entry per region:
 *
 *     ctrl[4k+0] = start of the region in new        (newpos)
 *     ctrl[4k+1] = start of the matching region in old (oldpos)
 *     ctrl[4k+2] = length of the approximate match   (addlen: diff bytes new-old)
 *     ctrl[4k+3] = length of the literal tail         (copylen: extra bytes from new)
 *
 * so that new[newpos .. newpos+addlen) = old[oldpos ..] + diff, followed by copylen new
 * bytes.  The entries tile the new file in order.
 *
 * ek_bsdiff_scan is resumable: it writes at most `cap` entries, keeps its position in
 * state[0..7] (zero it before the first call) and returns EK_UPD_MORE until the new file is
 * covered, then EK_OK.  ek_bsdiff_streams turns a batch of entries into the diff and extra
 * bytes.  Sizes are limited to < 2**31 (the suffix array holds int32); the Python wrapper
 * checks sizes, the suffix array's length and every array before any call.
 */
#ifndef EDGEKIT_UPDATE_H
#define EDGEKIT_UPDATE_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
#define EK_UPD_MORE 1
#define EK_UPD_EINVAL -1

int ek_bsdiff_scan(const uint8_t *old, int64_t oldsize, const uint8_t *newb, int64_t newsize,
                   const int32_t *sa, int64_t *state, int64_t *ctrl, int64_t cap,
                   int64_t *nctrl);
int ek_bsdiff_streams(const uint8_t *old, int64_t oldsize, const uint8_t *newb,
                      int64_t newsize, const int64_t *ctrl, int64_t n, uint8_t *diff,
                      int64_t diffcap, uint8_t *extra, int64_t extracap);
int ek_bspatch_add(uint8_t *diff, const uint8_t *old, int64_t n);
/* cdef: end */

#endif
