/* Market kernel: the greedy allocation of edgekit.market's "pivot-greedy" mechanism and, for
 * every bid it places, the position that sets its critical value (numpy/Python reference:
 * edgekit/market/_greedy_ref.py, which gives the same results).
 *
 * Arrays are C-contiguous, row-major: demand (n_bids x n_res), tol and free_ (n_nodes x
 * n_res).  order (n_order) lists bids, best first; indptr (n_bids + 1) and nodes give each
 * bid's allowed nodes (CSR, ascending node index).  Bids are taken in order; a bid goes to
 * the allowed node where it fits (demand[r] <= free[r] + tol[r] for every r) whose free
 * amounts, in units of unit[] (per resource), point most nearly the way of its demand:
 * the largest dot(free * unit, demand * unit) / |free * unit| (0 when |free * unit| is 0);
 * with step > 0 that score is binned first, floor(score / (step |demand * unit|)), i.e. the
 * cosine on a grid of step (so nodes nearly as well aligned tie); ties to the lowest node
 * index.  It is skipped when it fits none.  free_ holds the capacities on entry and what
 * is left on return.  assign[b] gets the node of bid b (-1:
 * not placed; bids not in order are left untouched).
 *
 * The phantom rule: hosts (NULL: every entry 1) flags each CSR entry: 1, the node may host
 * the bid; 2, it refuses it but holds its room; 0, it refuses it.  The best aligned node
 * where the bid fits is found over all its entries; when its flag is 2 it takes the
 * bid's demand (phantom[b] gets it, else -1; phantom has n_bids entries, those of bids
 * not in order untouched) and the bid goes on to the best aligned
 * entry flagged 1 where it fits (the same node when the best aligned is flagged 1), which
 * takes the demand too: assign[b].  So the bid is placed exactly when an entry flagged 1
 * fits, and the runs below count phantoms as they count placements.  A phantom takes hold
 * (in (0, 1]) times the demand, and only when what its node then holds as phantoms stays
 * within limit (n_nodes x n_res; NULL: no limit; else held, 3 x n_nodes x n_res scratch);
 * a phantom refused by the limit takes nothing (phantom[b] -1).
 *
 * When blocker is not NULL, for every placed bid b at position p the greedy is run again
 * from position p + 1 without b, from the free amounts before p, until b fits none of its
 * nodes flagged 1: blocker[b] is the position whose placement (or phantom) made that
 * happen, -1 when b still fits one at the end of the order or when the run reaches a
 * position q whose key (keys[q], non-increasing in q) is <= stop[b] (bids not placed are
 * left untouched).  work
 * (n_nodes x n_res), flag (n_nodes bytes, zero on entry and on return) and rest (2 x n_res)
 * are scratch.  A run is skipped (blocker -1, the same result) when b fits one of its
 * allowed nodes even after every later bid's demand is taken from it.
 *
 * Return value: EK_OK, or EK_EINVAL for n_res == 0, hold outside (0, 1], a limit without
 * held, or an order or node index out of range (outputs then unspecified).
 */
#ifndef EDGEKIT_MARKET_H
#define EDGEKIT_MARKET_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
int ek_market_greedy(const double *demand, size_t n_bids, size_t n_res, const double *unit,
                     double step, const double *tol, size_t n_nodes, const int64_t *order,
                     size_t n_order, const int64_t *indptr, const int64_t *nodes,
                     const uint8_t *hosts, double hold, const double *limit, double *held,
                     double *free_, int64_t *assign, int64_t *phantom, int64_t *blocker,
                     const double *keys, const double *stop, double *work, uint8_t *flag,
                     double *rest);
/* cdef: end */

#endif
