/* Placement kernels: fused filter + score + arg-best for one task over all nodes, and the
 * greedy loop that places a whole batch.
 *
 * Arrays are C-contiguous, row-major: free, cap, inv_cap and tol are (n_nodes x n_res),
 * demands (n_tasks x n_res).  inv_cap[j][r] is 1 / cap[j][r] (0 where cap is 0): scores
 * multiply by it rather than divide, so the per-task loop has no division.  A node is feasible for demand d when its mask byte is non-zero (no
 * mask: every node) and d[r] <= free[r] + tol[r] for every r.  The chosen node is the
 * feasible one with the highest score, ties to the lowest index; a NaN score counts as
 * -infinity.  The score is sum_k weights[k] * score_k in the order of
 * edgekit.schedule.policy.SCORERS (EK_SCORER_* below), zero weights skipped; each score_k
 * is computed with the same double operations, in the same order, as the numpy reference
 * edgekit/schedule/_schedule_ref.py, so the two choose the same node.  norm[r] is the largest
 * capacity of resource r over all nodes.  shape_x/shape_y (n_shape >= 2 points, x strictly
 * increasing) define the requested-to-capacity-ratio shape.
 *
 * Return value: EK_OK, or EK_EINVAL for n_res == 0, n_shape < 2, an order or class index
 * out of range (nothing is placed past the bad index: out[] is written up to it).
 */
#ifndef EDGEKIT_SCHEDULE_H
#define EDGEKIT_SCHEDULE_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
#define EK_SCORER_COUNT 9

int ek_sched_select(const double *free_, const double *cap, const double *inv_cap,
                    const double *tol,
                    size_t n_nodes, size_t n_res, const double *demand, const double *norm,
                    const double *weights, const double *shape_x, const double *shape_y,
                    size_t n_shape, uint64_t seed, uint64_t key, const uint8_t *mask,
                    int64_t *best, int64_t *n_feasible);

int ek_sched_greedy(const double *demands, size_t n_tasks, const int64_t *order,
                    size_t n_order, const double *cap, const double *inv_cap, double *free_,
                    const double *tol,
                    size_t n_nodes, size_t n_res, const double *norm, const double *weights,
                    const double *shape_x, const double *shape_y, size_t n_shape,
                    uint64_t seed, const uint8_t *mask, const int64_t *classes,
                    size_t n_classes, int64_t *out);

/* Online placement in arrival order with admission control (edgekit.schedule.Admission;
 * numpy reference: AdmitState / greedy_admit in _schedule_ref.py).  For each task t: its
 * demand ratios (cluster units, icl = 1 / cluster capacity) are added to hist/count (per
 * resource pair r < s, n_edges + 1 bins over edges[]), seen is incremented, the policy picks
 * node j as ek_sched_greedy does; when seen > warmup the net gain
 * value - w(fill of j) * (stranded after - stranded before) is computed (stranded: per
 * resource, leftover that the quantile-extreme demand ratios seen so far cannot use); if it
 * is negative the task goes to the feasible node of highest non-negative net gain (reroute)
 * or is declined: out[t] = -1 and declined[t] = 1 + the resource whose stranded amount
 * would grow most.  khi (n_res^2), has (n_res^2) and grow (n_res) are workspace; hist and
 * count carry the learned state between calls (zero them for a fresh start) and seen is the
 * number of tasks observed before this call.  EK_EINVAL as ek_sched_greedy, or for
 * n_edges == 0 or fill >= 1. */
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
                          int64_t *declined);
/* Sampled futures of the default policy's plan (edgekit.schedule.plan; numpy reference:
 * futures in _schedule_ref.py).  For each candidate node cands[c] and each future s: the
 * free amounts free_ (n_nodes x n_res) with demand taken from node cands[c], then the tasks
 * pool[idx[s * max_len + i]] for i < lens[s] in turn, each to the feasible node (d[r] <=
 * free[r] + tol[r] for every r) of least balanced variance (balanced_var: the population
 * variance of the utilizations after placing, over the resources the node has; ties to the
 * lowest index; a NaN variance is never chosen; no feasible node: the task is skipped).
 * out[c * n_futures + s] is the sum, in placement order, of values[] of the tasks placed.
 * work is n_nodes x n_res scratch.  EK_EINVAL for n_res == 0, lens[s] > max_len, or a
 * candidate or pool index out of range (out is then unspecified). */
int ek_sched_futures(const double *pool, const double *values, size_t n_pool,
                     const int64_t *idx, const int64_t *lens, size_t n_futures,
                     size_t max_len, const int64_t *cands, size_t n_cands,
                     const double *demand, const double *cap, const double *inv_cap,
                     const double *free_, const double *tol, size_t n_nodes, size_t n_res,
                     double *work, double *out);
/* cdef: end */

#endif
