/* Placement kernels; see schedule.h for the contract. */
#include "schedule.h"

#include <math.h>

#ifndef EK_OK
#define EK_OK 0
#define EK_EINVAL -1
#endif

enum {
    S_ARTICLE = 0, S_BEST_FIT, S_WORST_FIT, S_LEAST, S_MOST, S_RTCR, S_BALANCED, S_TETRIS,
    S_RANDOM
};

#define G1 0x9E3779B97F4A7C15ULL
#define G2 0xD1B54A32D192ED03ULL

static double hash_uniform(uint64_t base, uint64_t node)
{
    uint64_t z = node * G2 + base;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}


/* x / n for a count n: a multiplication when n is a power of two up to 8, which gives the
 * same double as the division (both are the correctly rounded x / n), only faster. */
static double div_count(double x, double n)
{
    if (n == 1.0)
        return x;
    if (n == 2.0)
        return x * 0.5;
    if (n == 4.0)
        return x * 0.25;
    if (n == 8.0)
        return x * 0.125;
    return x / n;
}

static double shape_at(double u, const double *sx, const double *sy, size_t n)
{
    size_t i;
    double out;
    if (u <= sx[0])
        return sy[0];
    out = sy[n - 1];
    for (i = 0; i + 1 < n; i++) {
        if (u >= sx[i] && u < sx[i + 1])
            out = sy[i] + ((sy[i + 1] - sy[i]) * (u - sx[i])) / (sx[i + 1] - sx[i]);
    }
    return out;
}

#define UTIL_CACHE 8

/* Utilization of resource r after placing; cached per node when n_res <= UTIL_CACHE (the
 * value is the same either way: only the number of divisions changes). */
static double util_at(const double *u, const double *f, const double *c, const double *ic,
                      const double *d, size_t r)
{
    return u != NULL ? u[r] : (c[r] - f[r] + d[r]) * ic[r];
}

/* Population variance of the utilizations after placing, over the resources the node has
 * (the balanced-allocation score is 1 - sqrt of it). */
static double balanced_var(const double *u, const double *f, const double *c, const double *ic,
                           const double *d, size_t n_res)
{
    double cnt = 0.0, acc = 0.0, mean, var = 0.0, dev;
    size_t r;
    for (r = 0; r < n_res; r++) {
        cnt = cnt + (c[r] > 0 ? 1.0 : 0.0);
        acc = acc + util_at(u, f, c, ic, d, r);
    }
    mean = cnt > 0 ? div_count(acc, cnt) : 0.0;
    for (r = 0; r < n_res; r++) {
        dev = util_at(u, f, c, ic, d, r) - mean;
        var = var + (c[r] > 0 ? dev * dev : 0.0);
    }
    return cnt > 0 ? div_count(var, cnt) : 0.0;
}

/* Score of one node (row f, c) for demand d. */
static double node_score(const double *f, const double *c, const double *ic, const double *d,
                         size_t n_res,
                         const double *norm, const double *w, const double *sx,
                         const double *sy, size_t n_shape, uint64_t base, size_t node)
{
    double total = 0.0, acc, cache[UTIL_CACHE];
    const double *u = NULL;
    size_t r;
    if (n_res <= UTIL_CACHE && (w[S_MOST] != 0 || w[S_RTCR] != 0 || w[S_BALANCED] != 0)) {
        for (r = 0; r < n_res; r++)
            cache[r] = (c[r] - f[r] + d[r]) * ic[r];
        u = cache;
    }
    if (w[S_ARTICLE] != 0) {
        acc = 0.0;
        for (r = 0; r < n_res; r++)
            if (d[r] > 0)
                acc = acc + f[r] / d[r];
        total = total + w[S_ARTICLE] * acc;
    }
    if (w[S_BEST_FIT] != 0 || w[S_WORST_FIT] != 0) {
        acc = 0.0;
        for (r = 0; r < n_res; r++)
            if (norm[r] > 0)
                acc = acc + (f[r] - d[r]) / norm[r];
        if (w[S_BEST_FIT] != 0)
            total = total + w[S_BEST_FIT] * -acc;
        if (w[S_WORST_FIT] != 0)
            total = total + w[S_WORST_FIT] * acc;
    }
    if (w[S_LEAST] != 0) {
        acc = 0.0;
        for (r = 0; r < n_res; r++)
            acc = acc + (f[r] - d[r]) * ic[r];
        total = total + w[S_LEAST] * div_count(acc, (double)n_res);
    }
    if (w[S_MOST] != 0) {
        acc = 0.0;
        for (r = 0; r < n_res; r++)
            acc = acc + util_at(u, f, c, ic, d, r);
        total = total + w[S_MOST] * div_count(acc, (double)n_res);
    }
    if (w[S_RTCR] != 0) {
        acc = 0.0;
        for (r = 0; r < n_res; r++)
            acc = acc + shape_at(util_at(u, f, c, ic, d, r), sx, sy, n_shape);
        total = total + w[S_RTCR] * div_count(acc, (double)n_res);
    }
    if (w[S_BALANCED] != 0)
        total = total + w[S_BALANCED] * (1.0 - sqrt(balanced_var(u, f, c, ic, d, n_res)));
    if (w[S_TETRIS] != 0) {
        acc = 0.0;
        for (r = 0; r < n_res; r++)
            acc = acc + (d[r] * ic[r]) * (f[r] * ic[r]);
        total = total + w[S_TETRIS] * acc;
    }
    if (w[S_RANDOM] != 0)
        total = total + w[S_RANDOM] * hash_uniform(base, (uint64_t)node);
    return total;
}

/* True when balanced_allocation is the only scorer and its weight is positive: the score is
 * then a non-increasing function of balanced_var alone, so a node whose variance exceeds the
 * best node's cannot win, and its square root need not be taken (the choice is unchanged). */
static int only_balanced(const double *w)
{
    int k;
    if (!(w[S_BALANCED] > 0))
        return 0;
    for (k = 0; k < EK_SCORER_COUNT; k++)
        if (k != S_BALANCED && w[k] != 0)
            return 0;
    return 1;
}

static int64_t select_one(const double *free_, const double *cap, const double *inv_cap,
                          const double *tol,
                          size_t n_nodes, size_t n_res, const double *d, const double *norm,
                          const double *w, int any_weight, const double *sx, const double *sy,
                          size_t n_shape, uint64_t base, const uint8_t *mask,
                          int64_t *n_feasible)
{
    int64_t best = -1, count = 0;
    double best_score = 0.0, best_var = 0.0, s, var, cache[UTIL_CACHE];
    size_t j, r;
    int prune = only_balanced(w) && n_res <= UTIL_CACHE;
    for (j = 0; j < n_nodes; j++) {
        const double *f = free_ + j * n_res;
        const double *t = tol + j * n_res;
        if (mask != NULL && !mask[j])
            continue;
        for (r = 0; r < n_res; r++)
            if (!(d[r] <= f[r] + t[r]))
                break;
        if (r < n_res)
            continue;
        count++;
        if (!any_weight) {
            if (best < 0)
                best = (int64_t)j;
            if (n_feasible == NULL)
                break;
            continue;
        }
        if (prune) {
            const double *c = cap + j * n_res, *ic = inv_cap + j * n_res;
            for (r = 0; r < n_res; r++)
                cache[r] = (c[r] - f[r] + d[r]) * ic[r];
            var = balanced_var(cache, f, c, ic, d, n_res);
            if (best >= 0 && var > best_var)
                continue;
            s = 0.0 + w[S_BALANCED] * (1.0 - sqrt(var));
        } else {
            var = 0.0;
            s = node_score(f, cap + j * n_res, inv_cap + j * n_res, d, n_res, norm, w, sx, sy,
                           n_shape, base, j);
        }
        if (s != s)
            s = -INFINITY;
        if (best < 0 || s > best_score) {
            best = (int64_t)j;
            best_score = s;
            best_var = var;
        }
    }
    if (n_feasible != NULL)
        *n_feasible = count;
    return best;
}

static int any_nonzero(const double *w)
{
    int k;
    for (k = 0; k < EK_SCORER_COUNT; k++)
        if (w[k] != 0)
            return 1;
    return 0;
}

int ek_sched_select(const double *free_, const double *cap, const double *inv_cap,
                    const double *tol,
                    size_t n_nodes, size_t n_res, const double *demand, const double *norm,
                    const double *weights, const double *shape_x, const double *shape_y,
                    size_t n_shape, uint64_t seed, uint64_t key, const uint8_t *mask,
                    int64_t *best, int64_t *n_feasible)
{
    if (n_res == 0 || n_shape < 2)
        return EK_EINVAL;
    *best = select_one(free_, cap, inv_cap, tol, n_nodes, n_res, demand, norm, weights,
                       any_nonzero(weights), shape_x, shape_y, n_shape, seed + key * G1, mask,
                       n_feasible);
    return EK_OK;
}

int ek_sched_greedy(const double *demands, size_t n_tasks, const int64_t *order,
                    size_t n_order, const double *cap, const double *inv_cap, double *free_,
                    const double *tol,
                    size_t n_nodes, size_t n_res, const double *norm, const double *weights,
                    const double *shape_x, const double *shape_y, size_t n_shape,
                    uint64_t seed, const uint8_t *mask, const int64_t *classes,
                    size_t n_classes, int64_t *out)
{
    size_t i, r;
    int any_weight;
    if (n_res == 0 || n_shape < 2)
        return EK_EINVAL;
    any_weight = any_nonzero(weights);
    for (i = 0; i < n_order; i++) {
        int64_t t = order[i], j;
        const uint8_t *row = NULL;
        const double *d;
        if (t < 0 || (uint64_t)t >= (uint64_t)n_tasks)
            return EK_EINVAL;
        if (mask != NULL) {
            int64_t k = classes != NULL ? classes[t] : t;
            size_t rows = classes != NULL ? n_classes : n_tasks;
            if (k < 0 || (uint64_t)k >= (uint64_t)rows)
                return EK_EINVAL;
            row = mask + (size_t)k * n_nodes;
        }
        d = demands + (size_t)t * n_res;
        j = select_one(free_, cap, inv_cap, tol, n_nodes, n_res, d, norm, weights, any_weight, shape_x,
                       shape_y, n_shape, seed + (uint64_t)t * G1, row, NULL);
        out[t] = j;
        if (j >= 0) {
            double *f = free_ + (size_t)j * n_res;
            for (r = 0; r < n_res; r++)
                f[r] = f[r] - d[r];
        }
    }
    return EK_OK;
}
