#include "market.h"

#include <math.h>
#include <string.h>

#define EK_OK 0
#define EK_EINVAL -1

static int fits(const double *d, const double *free_, const double *tol, size_t n_res) {
    for (size_t r = 0; r < n_res; r++) {
        if (!(d[r] <= free_[r] + tol[r])) return 0;
    }
    return 1;
}

/* The bin width of a bid's alignment scores: step times |d * unit| (so that a score over it
 * is the cosine over step), or 0 when scores are not binned. */
static double bin_width(const double *d, size_t n_res, const double *unit, double step) {
    if (!(step > 0.0)) return 0.0;
    double sq = 0.0;
    for (size_t r = 0; r < n_res; r++) {
        double x = d[r] * unit[r];
        sq += x * x;
    }
    return sqrt(sq) * step;
}

/* The node of bid i (demand d) that fits and is best aligned among its routing nodes, or -1;
 * with width > 0 the scores are binned (floor(score / width)) and ties go to the lowest node
 * index.  *host gets the best aligned of those that may host it (hk[k] == 1, or every one
 * when hk is NULL), or -1: the same node when the best aligned may host it; *kind the flag
 * of the best aligned (1 when hk is NULL). */
static int64_t choose(const double *d, size_t n_res, const double *unit, double width,
                      const double *free_, const double *tol, const int64_t *nd,
                      const uint8_t *hk, int64_t n_nd, int64_t *host, uint8_t *kind) {
    int64_t best = -1, best_host = -1;
    *kind = 1;
    double best_score = 0.0, host_score = 0.0;
    for (int64_t k = 0; k < n_nd; k++) {
        int64_t j = nd[k];
        const double *fj = free_ + (size_t)j * n_res;
        if (!fits(d, fj, tol + (size_t)j * n_res, n_res)) continue;
        double dot = 0.0, sq = 0.0;
        for (size_t r = 0; r < n_res; r++) {
            double fr = fj[r] * unit[r];
            dot += fr * (d[r] * unit[r]);
            sq += fr * fr;
        }
        double norm = sqrt(sq);
        double score = norm > 0.0 ? dot / norm : 0.0;
        if (width > 0.0) score = floor(score / width);
        if (best < 0 || score > best_score) {
            best = j;
            best_score = score;
            if (hk != NULL) *kind = hk[k];
        }
        if ((hk == NULL || hk[k] == 1) && (best_host < 0 || score > host_score)) {
            best_host = j;
            host_score = score;
        }
    }
    *host = best_host;
    return best;
}

/* Whether d fits free_ + tol even after every demand still to come (rest, in all at most
 * total) is taken from it: then no run can leave the bid without this node.  The margin,
 * 1e-6 of the magnitudes, bounds the rounding of rest (computed as the total less the
 * demands before) and of the run's one-at-a-time subtractions (fewer than 4e9 of them). */
static int fits_after_all(const double *d, const double *free_, const double *tol,
                          const double *rest, const double *total, size_t n_res) {
    for (size_t r = 0; r < n_res; r++) {
        double margin = 1e-6 * (fabs(free_[r]) + total[r] + tol[r] + d[r]);
        if (!(d[r] <= free_[r] - rest[r] + tol[r] - margin)) return 0;
    }
    return 1;
}

static void take(double *free_, int64_t j, const double *d, size_t n_res) {
    double *fj = free_ + (size_t)j * n_res;
    for (size_t r = 0; r < n_res; r++) fj[r] -= d[r];
}

/* A phantom's share of a bid's demand: hold * d[r] taken from free_ (and added to held,
 * when not NULL) on node j. */
static void take_held(double *free_, double *held, int64_t j, const double *d, size_t n_res,
                      double hold) {
    double *fj = free_ + (size_t)j * n_res;
    for (size_t r = 0; r < n_res; r++) fj[r] -= hold * d[r];
    if (held != NULL) {
        double *hj = held + (size_t)j * n_res;
        for (size_t r = 0; r < n_res; r++) hj[r] += hold * d[r];
    }
}

/* Whether node j may hold hold * d more as phantoms: what it holds stays within limit
 * (NULL: no limit). */
static int may_hold(const double *d, size_t n_res, double hold, const double *limit,
                    const double *held, int64_t j) {
    if (limit == NULL) return 1;
    const double *hj = held + (size_t)j * n_res, *lj = limit + (size_t)j * n_res;
    for (size_t r = 0; r < n_res; r++) {
        if (!(hj[r] + hold * d[r] <= lj[r])) return 0;
    }
    return 1;
}

/* How a refusing node holds a bid's room: hold, the share of the demand it holds; limit
 * (NULL: none), what it may hold in all; held, what it holds (NULL when limit is). */
typedef struct {
    double hold;
    const double *limit;
    double *held;
} holding;

/* Bid i's step of the greedy on free_: the best aligned routing node it fits (top); when
 * that node may not host it and its flag is 2, it takes hold times the demand all the
 * same if it may (it holds the room as a phantom: *top gets it, else -1); the best aligned
 * host that fits takes the demand.  Returns that host (-1: none fits). */
static int64_t step_bid(const double *d, size_t n_res, const double *unit, double width,
                        double *free_, const double *tol, const int64_t *nd,
                        const uint8_t *hk, int64_t n_nd, holding h, int64_t *top) {
    int64_t host;
    uint8_t kind;
    int64_t j = choose(d, n_res, unit, width, free_, tol, nd, hk, n_nd, &host, &kind);
    *top = (j >= 0 && j != host && kind == 2 && may_hold(d, n_res, h.hold, h.limit, h.held, j))
               ? j : -1;
    if (*top >= 0) take_held(free_, h.held, j, d, n_res, h.hold);
    if (host >= 0) take(free_, host, d, n_res);
    return host;
}

int ek_market_greedy(const double *demand, size_t n_bids, size_t n_res, const double *unit,
                     double step, const double *tol, size_t n_nodes, const int64_t *order,
                     size_t n_order, const int64_t *indptr, const int64_t *nodes,
                     const uint8_t *hosts, double hold, const double *limit, double *held,
                     double *free_, int64_t *assign, int64_t *phantom, int64_t *blocker,
                     const double *keys, const double *stop, double *work, uint8_t *flag,
                     double *rest) {
    if (n_res == 0 || !(hold > 0.0 && hold <= 1.0)) return EK_EINVAL;
    if (limit != NULL && held == NULL) return EK_EINVAL;
    for (size_t p = 0; p < n_order; p++) {
        int64_t i = order[p];
        if (i < 0 || (size_t)i >= n_bids) return EK_EINVAL;
        for (int64_t k = indptr[i]; k < indptr[i + 1]; k++) {
            if (nodes[k] < 0 || (size_t)nodes[k] >= n_nodes) return EK_EINVAL;
        }
    }
    size_t nn = n_nodes * n_res, bytes = nn * sizeof(double);
    /* held: what the nodes hold as phantoms in the run (held), before position p (+ nn),
     * and in each run without a bid (+ 2 nn) */
    holding h = {hold, limit, limit != NULL ? held : NULL};
    if (h.held != NULL) memset(h.held, 0, bytes);
    if (blocker != NULL) memcpy(work, free_, bytes); /* the capacities */
    for (size_t p = 0; p < n_order; p++) {
        int64_t i = order[p];
        const double *d = demand + (size_t)i * n_res;
        int64_t top;
        assign[i] = step_bid(d, n_res, unit, bin_width(d, n_res, unit, step), free_, tol,
                             nodes + indptr[i], hosts ? hosts + indptr[i] : NULL,
                             indptr[i + 1] - indptr[i], h, &top);
        phantom[i] = top;
    }
    if (blocker == NULL) return EK_OK;
    /* work starts as the capacities and takes the placements in order, so that at position
     * p it is the state before p; free_ is the buffer of each run without a bid, and gets
     * the end state back last.  rest[n_res..2 n_res) is the total demand of the order and
     * rest[0..n_res) that of the positions after p. */
    double *total = rest + n_res;
    for (size_t r = 0; r < n_res; r++) total[r] = 0.0;
    for (size_t p = 0; p < n_order; p++) {
        const double *d = demand + (size_t)order[p] * n_res;
        for (size_t r = 0; r < n_res; r++) total[r] += d[r];
    }
    memcpy(rest, total, n_res * sizeof(double));
    double *held_before = h.held != NULL ? h.held + nn : NULL;
    holding run = {hold, limit, h.held != NULL ? h.held + 2 * nn : NULL};
    if (held_before != NULL) memset(held_before, 0, bytes);
    for (size_t p = 0; p < n_order; p++) {
        int64_t b = order[p];
        const double *db = demand + (size_t)b * n_res;
        for (size_t r = 0; r < n_res; r++) rest[r] -= db[r];
        if (assign[b] < 0) {
            if (phantom[b] >= 0) take_held(work, held_before, phantom[b], db, n_res, hold);
            continue;
        }
        const int64_t *nb = nodes + indptr[b];
        int64_t n_nb = indptr[b + 1] - indptr[b];
        int64_t alive = 0;
        for (int64_t k = 0; k < n_nb; k++) {
            int64_t j = nb[k];
            const double *fj = work + (size_t)j * n_res, *tj = tol + (size_t)j * n_res;
            if ((hosts == NULL || hosts[indptr[b] + k] == 1) && fits(db, fj, tj, n_res)) {
                flag[j] = 1;
                alive++;
                /* room for everything to come: the run cannot block b (the same -1 as
                 * running it to the end, without the run: no quadratic cost when
                 * capacity is plentiful) */
                if (fits_after_all(db, fj, tj, rest, total, n_res)) {
                    alive = 0;
                    break;
                }
            }
        }
        int64_t hit = -1;
        if (alive > 0) {
            memcpy(free_, work, bytes);
            if (run.held != NULL) memcpy(run.held, held_before, bytes);
        }
        for (size_t q = p + 1; q < n_order && alive > 0; q++) {
            if (keys[q] <= stop[b]) break;
            int64_t i = order[q];
            const double *d = demand + (size_t)i * n_res;
            int64_t top;
            int64_t h = step_bid(d, n_res, unit, bin_width(d, n_res, unit, step), free_, tol,
                                 nodes + indptr[i], hosts ? hosts + indptr[i] : NULL,
                                 indptr[i + 1] - indptr[i], run, &top);
            int64_t took[2] = {top, h};
            for (int t = 0; t < 2; t++) {
                int64_t j = took[t];
                if (j < 0 || !flag[j]) continue;
                if (!fits(db, free_ + (size_t)j * n_res, tol + (size_t)j * n_res, n_res)) {
                    flag[j] = 0;
                    if (--alive == 0) hit = (int64_t)q;
                }
            }
        }
        blocker[b] = hit;
        for (int64_t k = 0; k < n_nb; k++) flag[nb[k]] = 0;
        take(work, assign[b], db, n_res);
        if (phantom[b] >= 0) take_held(work, held_before, phantom[b], db, n_res, hold);
    }
    memcpy(free_, work, bytes);
    return EK_OK;
}
