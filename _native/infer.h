/* Pre- and post-processing kernels for edgekit.infer (on-device object detection).
 *
 * Arithmetic contract (so that the numpy references in edgekit/infer/_preprocess_ref.py and
 * edgekit/infer/_postprocess_ref.py give the same bits): every float operation is one IEEE
 * single-precision operation written as its own statement, in the order the references use,
 * so that no compiler may contract a*b+c into a fused multiply-add; rounding to integers is
 * nearbyintf (round half to even, the default rounding mode), like numpy.rint; weighted sums
 * are accumulated in double, in index order, from exact float*float products.
 *
 * ek_infer_preprocess: letterbox + bilinear resize + normalise + quantise, fused.
 *   img: src_h x src_w x 3 uint8, rows src_w*3 bytes apart.
 *   out: out_h x out_w x 3 of float32 (out_type EK_INFER_F32), uint8 (EK_INFER_U8) or int8
 *        (EK_INFER_I8).
 *   Coordinate tables (computed once by the wrapper from the letterbox geometry, length out_w
 *   and out_h): inside the valid rectangle, output pixel (oy, ox), channel c is
 *       w00 = (wy0[oy] * wx0[ox]) * mul      w01 = (wy0[oy] * wx1[ox]) * mul
 *       w10 = (wy1[oy] * wx0[ox]) * mul      w11 = (wy1[oy] * wx1[ox]) * mul
 *       n = (((P(y0, x0) * w00 + P(y0, x1) * w01) + P(y1, x0) * w10) + P(y1, x1) * w11) + add
 *   (bilinear sampling and the normalisation v * mul + add in one pass, each product and sum
 *   one float operation, left to right); outside it n = pad_pixel * mul + add.  A quantised
 *   tensor then gets q = clamp(rint(n / qscale) + zero_point) in the tensor's range.
 *   Returns EK_OK, or EK_EINVAL for an index outside the image or a bad range/type.
 *
 * ek_infer_decode_boxes: SSD box coder (MediaPipe TensorsToDetections / TF Object Detection
 *   API).  raw: n rows of `stride` floats; anchors: n x 4 as (x_center, y_center, w, h).
 *   order_yx = 0 reads each box as (x, y, w, h) (MediaPipe's reverse_output_order), 1 as
 *   (y, x, h, w).  Size: linear raw/scale*anchor, or with exp_size exp(raw/scale)*anchor
 *   (exp in double, rounded to float).  boxes: n x 4 (xmin, ymin, xmax, ymax);
 *   keypoints: n x num_kp x 2 (x, y), each raw/scale*anchor_size + anchor_center.
 *
 * ek_infer_nms: greedy non-maximum suppression over m candidates already sorted by score,
 *   best first.  Each round takes the first remaining box, puts every remaining box whose
 *   IoU with it is > iou_threshold (and the box itself) into its cluster, removes the
 *   cluster.  Hard mode keeps the first box; weighted mode (MediaPipe) replaces it by the
 *   score-weighted mean of its cluster (box and keypoints), keeping its score.  Writes at most
 *   max_out results: keep[i] = index of the cluster head, out_boxes/out_kps its box and
 *   keypoints (kp_len floats per box, at most EK_INFER_MAX_KP).  When the cluster's scores
 *   sum to 0 the head is kept unchanged.  scratch: m int32.  Returns the number of results
 *   (>= 0) or EK_EINVAL.
 *
 * ek_infer_ssd_select: the raw-SSD detector's whole post-processing after scoring, in one
 *   call: decode the m candidate rows cand[j] of raw/anchors (as ek_infer_decode_boxes) into
 *   boxes (m x 4) and kps (m x num_kp x 2), drop boxes that are not finite or have no area,
 *   order the rest by scores[j] descending (stable: ties keep j order) and run ek_infer_nms
 *   over them.  keep[] receives candidate positions j.  order and scratch: m int32 each.
 *   Returns the number of results or EK_EINVAL (a candidate index >= n, bad sizes).
 */
#ifndef EDGEKIT_INFER_H
#define EDGEKIT_INFER_H
#include <stddef.h>
#include <stdint.h>

#ifndef EK_OK
#define EK_OK 0
#define EK_EINVAL -1
#endif

/* cdef: begin */
#define EK_INFER_F32 0
#define EK_INFER_U8 1
#define EK_INFER_I8 2
#define EK_INFER_MAX_KP 64

int ek_infer_preprocess(const uint8_t *img, size_t src_h, size_t src_w, void *out,
                        int out_type, size_t out_h, size_t out_w,
                        const int32_t *x0, const int32_t *x1, const float *wx0,
                        const float *wx1, size_t col_lo, size_t col_hi,
                        const int32_t *y0, const int32_t *y1, const float *wy0,
                        const float *wy1, size_t row_lo, size_t row_hi,
                        float pad_pixel, float mul, float add, float qscale,
                        int32_t zero_point);

int ek_infer_decode_boxes(const float *raw, size_t n, size_t stride, const float *anchors,
                          int order_yx, int exp_size, float x_scale, float y_scale,
                          float w_scale, float h_scale, size_t box_offset, size_t num_kp,
                          size_t kp_offset, size_t kp_values, float *boxes, float *keypoints);

int ek_infer_nms(const float *boxes, const float *scores, const float *kps, size_t kp_len,
                 size_t m, float iou_threshold, int weighted, size_t max_out, int32_t *keep,
                 float *out_boxes, float *out_kps, int32_t *scratch);

int ek_infer_ssd_select(const float *raw, size_t n, size_t stride, const float *anchors,
                        const int32_t *cand, const float *scores, size_t m, int order_yx,
                        int exp_size, float x_scale, float y_scale, float w_scale,
                        float h_scale, size_t box_offset, size_t num_kp, size_t kp_offset,
                        size_t kp_values, float iou_threshold, int weighted, size_t max_out,
                        float *boxes, float *kps, int32_t *order, int32_t *scratch,
                        int32_t *keep, float *out_boxes, float *out_kps);
/* cdef: end */

#endif
