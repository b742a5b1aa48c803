/* Placement kernels; see schedule.h for the contract. */
#include "schedule.h"

#include <math.h>
#include <string.h>

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

/* The eligibility row of task t (NULL without a mask); EK_EINVAL for a class out of range. */
static int mask_row(const uint8_t *mask, const int64_t *classes, size_t n_classes,
                    size_t n_tasks, size_t n_nodes, int64_t t, const uint8_t **row)
{
    int64_t k;
    size_t rows;
    *row = NULL;
    if (mask == NULL)
        return EK_OK;
    k = classes != NULL ? classes[t] : t;
    rows = classes != NULL ? n_classes : n_tasks;
    if (k < 0 || (uint64_t)k >= (uint64_t)rows)
        return EK_EINVAL;
    *row = mask + (size_t)k * n_nodes;
    return EK_OK;
}

/* Subtract demand d from node j's free amounts (nothing for j < 0). */
static void take(double *free_, int64_t j, const double *d, size_t n_res)
{
    size_t r;
    double *f;
    if (j < 0)
        return;
    f = free_ + (size_t)j * n_res;
    for (r = 0; r < n_res; r++)
        f[r] = f[r] - d[r];
}

int ek_sched_greedy(const double *demands, size_t n_tasks, const int64_t *order,
                    size_t n_order, const double *cap, const double *inv_cap, double *free_,
                    const double *tol,
                    size_t n_nodes, size_t n_res, const double *norm, const double *weights,
                    const double *shape_x, const double *shape_y, size_t n_shape,
                    uint64_t seed, const uint8_t *mask, const int64_t *classes,
                    size_t n_classes, int64_t *out)
{
    size_t i;
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
        if (mask_row(mask, classes, n_classes, n_tasks, n_nodes, t, &row) != EK_OK)
            return EK_EINVAL;
        d = demands + (size_t)t * n_res;
        j = select_one(free_, cap, inv_cap, tol, n_nodes, n_res, d, norm, weights, any_weight, shape_x,
                       shape_y, n_shape, seed + (uint64_t)t * G1, row, NULL);
        out[t] = j;
        take(free_, j, d, n_res);
    }
    return EK_OK;
}


/* -- online admission control ---------------------------------------------------------- */

static void admit_observe(const double *d, size_t n_res, const double *icl,
                          const double *edges, size_t n_edges, int64_t *hist, int64_t *count)
{
    size_t r, s, lo, hi, mid;
    double a, b, x;
    for (r = 0; r < n_res; r++) {
        for (s = r + 1; s < n_res; s++) {
            if (!(icl[r] > 0 && icl[s] > 0))
                continue;
            a = d[r] * icl[r];
            b = d[s] * icl[s];
            if (!(a > 0 && b > 0))
                continue;
            x = a / b;
            lo = 0;
            hi = n_edges;
            if (x != x) /* inf / inf: numpy's searchsorted sorts NaN last */
                lo = hi;
            while (lo < hi) {
                mid = lo + (hi - lo) / 2;
                if (edges[mid] <= x)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            hist[(r * n_res + s) * (n_edges + 1) + lo] += 1;
            count[r * n_res + s] += 1;
        }
    }
}

static void admit_ratios(const int64_t *hist, const int64_t *count, size_t n_res,
                         const double *edges, size_t n_edges, double quantile, double *khi,
                         uint8_t *has)
{
    size_t r, s, b, k;
    for (k = 0; k < n_res * n_res; k++) {
        has[k] = 0;
        khi[k] = 0.0;
    }
    for (r = 0; r < n_res; r++) {
        for (s = r + 1; s < n_res; s++) {
            const int64_t *h;
            int64_t n, m, cum = 0;
            size_t b_lo = 0, b_hi = n_edges;
            int got_lo = 0;
            k = r * n_res + s;
            n = count[k];
            if (n == 0)
                continue;
            m = (int64_t)(quantile * (double)n);
            h = hist + k * (n_edges + 1);
            for (b = 0; b <= n_edges; b++) {
                cum += h[b];
                if (!got_lo && cum > m) {
                    b_lo = b;
                    got_lo = 1;
                }
                if (cum > n - 1 - m) {
                    b_hi = b;
                    break;
                }
            }
            khi[k] = edges[b_hi < n_edges - 1 ? b_hi : n_edges - 1];
            khi[s * n_res + r] = 1.0 / edges[b_lo > 0 ? b_lo - 1 : 0];
            has[k] = 1;
            has[s * n_res + r] = 1;
        }
    }
}

/* value - w(fill) * (stranded after placing - stranded before), for one node; grow[r] (if
 * not NULL) receives the growth of resource r's stranded amount. */
static double admit_net(const double *f, const double *c, const double *ic, const double *d,
                        size_t n_res, const double *icl, const double *khi, const uint8_t *has,
                        double value, double weight, double fill0, double *grow)
{
    double acc_b = 0.0, acc_a = 0.0, fill = 0.0, sb, sa, cb, ca, u, x, w;
    size_t r, s;
    for (r = 0; r < n_res; r++) {
        sb = 0.0;
        sa = 0.0;
        for (s = 0; s < n_res; s++) {
            if (s == r || !has[r * n_res + s])
                continue;
            cb = f[r] * icl[r] - khi[r * n_res + s] * (f[s] * icl[s]);
            if (cb > sb)
                sb = cb;
            ca = (f[r] - d[r]) * icl[r] - khi[r * n_res + s] * ((f[s] - d[s]) * icl[s]);
            if (ca > sa)
                sa = ca;
        }
        acc_b = acc_b + sb;
        acc_a = acc_a + sa;
        if (grow != NULL)
            grow[r] = sa - sb;
    }
    for (r = 0; r < n_res; r++) {
        u = (c[r] - f[r] + d[r]) * ic[r];
        if (u > fill)
            fill = u;
    }
    x = (fill - fill0) / (1.0 - fill0);
    w = weight * (x > 0 ? x : 0.0);
    return value - w * (acc_a / (double)n_res - acc_b / (double)n_res);
}

int ek_sched_online_admit(const double *demands, const double *values, size_t n_tasks,
                          const double *cap, const double *inv_cap, double *free_,
                          const double *tol, size_t n_nodes, size_t n_res, const double *norm,
                          const double *weights, const double *shape_x,
                          const double *shape_y, size_t n_shape, uint64_t seed,
                          const uint8_t *mask, const int64_t *classes, size_t n_classes,
                          const double *icl, const double *edges, size_t n_edges,
                          int64_t *hist, int64_t *count, double *khi, uint8_t *has,
                          double *grow, int64_t seen, double strand_weight, double fill,
                          double quantile, int64_t warmup, int reroute,
                          double arm_load, double *offered, int64_t *out,
                          int64_t *declined)
{
    size_t t, r, k;
    int any_weight;
    if (n_res == 0 || n_shape < 2 || n_edges == 0 || !(fill < 1.0))
        return EK_EINVAL;
    any_weight = any_nonzero(weights);
    for (t = 0; t < n_tasks; t++) {
        const uint8_t *row;
        const double *d = demands + t * n_res;
        int64_t j;
        if (mask_row(mask, classes, n_classes, n_tasks, n_nodes, (int64_t)t, &row) != EK_OK)
            return EK_EINVAL;
        admit_observe(d, n_res, icl, edges, n_edges, hist, count);
        seen++;
        {
            double v = 0.0;
            for (r = 0; r < n_res; r++)
                v += d[r] * icl[r];
            *offered += v / (double)n_res;
        }
        j = select_one(free_, cap, inv_cap, tol, n_nodes, n_res, d, norm, weights, any_weight,
                       shape_x, shape_y, n_shape, seed + (uint64_t)t * G1, row, NULL);
        if (j >= 0 && seen > warmup && (arm_load == 0.0 || *offered > arm_load)) {
            double net;
            admit_ratios(hist, count, n_res, edges, n_edges, quantile, khi, has);
            net = admit_net(free_ + (size_t)j * n_res, cap + (size_t)j * n_res,
                            inv_cap + (size_t)j * n_res, d, n_res, icl, khi, has, values[t],
                            strand_weight, fill, grow);
            if (!(net >= 0)) {
                int64_t best = -1;
                double best_net = 0.0;
                if (reroute) {
                    for (k = 0; k < n_nodes; k++) {
                        const double *f = free_ + k * n_res, *tl = tol + k * n_res;
                        double v;
                        if (row != NULL && !row[k])
                            continue;
                        for (r = 0; r < n_res; r++)
                            if (!(d[r] <= f[r] + tl[r]))
                                break;
                        if (r < n_res)
                            continue;
                        v = admit_net(f, cap + k * n_res, inv_cap + k * n_res, d, n_res, icl,
                                      khi, has, values[t], strand_weight, fill, NULL);
                        if (best < 0 || v > best_net) {
                            best = (int64_t)k;
                            best_net = v;
                        }
                    }
                }
                if (best >= 0 && best_net >= 0) {
                    j = best;
                } else {
                    size_t worst = 0;
                    for (r = 1; r < n_res; r++)
                        if (grow[r] > grow[worst])
                            worst = r;
                    declined[t] = 1 + (int64_t)worst;
                    j = -1;
                }
            }
        }
        out[t] = j;
        take(free_, j, d, n_res);
    }
    return EK_OK;
}


int ek_sched_futures(const double *pool, const double *values, size_t n_pool,
                     const int64_t *idx, const int64_t *lens, size_t n_futures,
                     size_t max_len, const int64_t *cands, size_t n_cands,
                     const double *demand, const double *cap, const double *inv_cap,
                     const double *free_, const double *tol, size_t n_nodes, size_t n_res,
                     double *work, double *out)
{
    size_t c, s, i, j, r, best;
    double acc, var, best_var;
    const double *d, *f, *cj, *icj, *tj;
    int fits;
    if (n_res == 0)
        return EK_EINVAL;
    for (c = 0; c < n_cands; c++)
        if (cands[c] < 0 || (uint64_t)cands[c] >= n_nodes)
            return EK_EINVAL;
    for (s = 0; s < n_futures; s++) {
        if (lens[s] < 0 || (uint64_t)lens[s] > max_len)
            return EK_EINVAL;
        for (i = 0; i < (size_t)lens[s]; i++)
            if (idx[s * max_len + i] < 0 || (uint64_t)idx[s * max_len + i] >= n_pool)
                return EK_EINVAL;
    }
    for (c = 0; c < n_cands; c++) {
        for (s = 0; s < n_futures; s++) {
            memcpy(work, free_, n_nodes * n_res * sizeof(double));
            for (r = 0; r < n_res; r++)
                work[(size_t)cands[c] * n_res + r] = work[(size_t)cands[c] * n_res + r]
                                                     - demand[r];
            acc = 0.0;
            for (i = 0; i < (size_t)lens[s]; i++) {
                d = pool + (size_t)idx[s * max_len + i] * n_res;
                best = n_nodes;
                best_var = 0.0;
                for (j = 0; j < n_nodes; j++) {
                    f = work + j * n_res;
                    tj = tol + j * n_res;
                    fits = 1;
                    for (r = 0; r < n_res && fits; r++)
                        fits = d[r] <= f[r] + tj[r];
                    if (!fits)
                        continue;
                    cj = cap + j * n_res;
                    icj = inv_cap + j * n_res;
                    var = balanced_var(NULL, f, cj, icj, d, n_res);
                    if (var != var)
                        continue;
                    if (best == n_nodes || var < best_var) {
                        best = j;
                        best_var = var;
                    }
                }
                if (best < n_nodes) {
                    for (r = 0; r < n_res; r++)
                        work[best * n_res + r] = work[best * n_res + r] - d[r];
                    acc = acc + values[idx[s * max_len + i]];
                }
            }
            out[c * n_futures + s] = acc;
        }
    }
    return EK_OK;
}
