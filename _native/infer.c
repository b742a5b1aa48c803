/* Pre- and post-processing kernels for edgekit.infer: see infer.h for the definitions and
 * the arithmetic contract.  The numpy references are edgekit/infer/_preprocess_ref.py and
 * edgekit/infer/_postprocess_ref.py; tests/infer/test_kernels.py holds both to the same bits.
 */
#include "infer.h"

#include <math.h>

/* Round half to even of |t| < 2**22 without a libm call (nearbyintf is one on baseline
 * x86-64): adding and subtracting 1.5 * 2**23 rounds in the default rounding mode, exactly
 * like numpy.rint.  Values beyond +-2**21 saturate any int8/uint8 result anyway, so they are
 * clamped first. */
static float ek_rint(float t)
{
    const float big = 12582912.0f;
    float r;
    if (t > 2097152.0f)
        t = 2097152.0f;
    if (t < -2097152.0f)
        t = -2097152.0f;
    r = t + big;
    r = r - big;
    return r;
}

static float ek_quantise(float n, float qscale, int32_t zp, float lo, float hi)
{
    float t = n / qscale;
    t = ek_rint(t);
    t = t + (float)zp;
    if (t < lo)
        t = lo;
    if (t > hi)
        t = hi;
    return t;
}

static float ek_normalise(float v, float mul, float add)
{
    float n = v * mul;
    n = n + add;
    return n;
}


/* One pass over the output for element type T; STORE(n) converts a normalised float n. The
 * padding value is converted once per call site, outside the inner loops. */
#define EK_PP_LOOP(T, STORE)                                                                 \
    do {                                                                                     \
        T *o = (T *)out;                                                                     \
        float n = pad;                                                                       \
        T padv = STORE;                                                                      \
        for (oy = 0; oy < out_h; oy++) {                                                     \
            T *orow = o + oy * out_w * 3;                                                    \
            const uint8_t *r0, *r1;                                                          \
            float a, b;                                                                      \
            if (oy < row_lo || oy >= row_hi) {                                               \
                for (ox = 0; ox < out_w * 3; ox++)                                           \
                    orow[ox] = padv;                                                         \
                continue;                                                                    \
            }                                                                                \
            r0 = img + (size_t)y0[oy] * row;                                                 \
            r1 = img + (size_t)y1[oy] * row;                                                 \
            a = wy0[oy];                                                                     \
            b = wy1[oy];                                                                     \
            for (ox = 0; ox < col_lo * 3; ox++)                                              \
                orow[ox] = padv;                                                             \
            for (ox = col_lo; ox < col_hi; ox++) {                                           \
                size_t i0 = (size_t)x0[ox] * 3, i1 = (size_t)x1[ox] * 3;                     \
                float w00 = a * wx0[ox], w01 = a * wx1[ox];                                  \
                float w10 = b * wx0[ox], w11 = b * wx1[ox];                                  \
                T *dst = orow + ox * 3;                                                      \
                w00 = w00 * mul;                                                             \
                w01 = w01 * mul;                                                             \
                w10 = w10 * mul;                                                             \
                w11 = w11 * mul;                                                             \
                for (c = 0; c < 3; c++) {                                                    \
                    float s0 = (float)r0[i0 + c] * w00;                                        \
                    float s1 = (float)r0[i1 + c] * w01;                                        \
                    float s2 = (float)r1[i0 + c] * w10;                                        \
                    float s3 = (float)r1[i1 + c] * w11;                                        \
                    n = s0 + s1;                                                             \
                    n = n + s2;                                                              \
                    n = n + s3;                                                              \
                    n = n + add;                                                             \
                    dst[c] = STORE;                                                          \
                }                                                                            \
            }                                                                                \
            for (ox = col_hi * 3; ox < out_w * 3; ox++)                                      \
                orow[ox] = padv;                                                             \
        }                                                                                    \
    } while (0)

int ek_infer_preprocess(const uint8_t *img, size_t src_h, size_t src_w, void *out,
                        int out_type, size_t out_h, size_t out_w,
                        const int32_t *x0, const int32_t *x1, const float *wx0,
                        const float *wx1, size_t col_lo, size_t col_hi,
                        const int32_t *y0, const int32_t *y1, const float *wy0,
                        const float *wy1, size_t row_lo, size_t row_hi,
                        float pad_pixel, float mul, float add, float qscale,
                        int32_t zero_point)
{
    size_t ox, oy, c;
    size_t row = src_w * 3;
    float pad;
    if (out_type != EK_INFER_F32 && out_type != EK_INFER_U8 && out_type != EK_INFER_I8)
        return EK_EINVAL;
    if (col_lo > col_hi || col_hi > out_w || row_lo > row_hi || row_hi > out_h)
        return EK_EINVAL;
    if (out_type != EK_INFER_F32 && !(qscale > 0.0f))
        return EK_EINVAL;
    if ((col_hi > col_lo || row_hi > row_lo) && (src_h == 0 || src_w == 0))
        return EK_EINVAL;
    for (ox = col_lo; ox < col_hi; ox++)
        if (x0[ox] < 0 || x1[ox] < 0 || (size_t)x0[ox] >= src_w || (size_t)x1[ox] >= src_w)
            return EK_EINVAL;
    for (oy = row_lo; oy < row_hi; oy++)
        if (y0[oy] < 0 || y1[oy] < 0 || (size_t)y0[oy] >= src_h || (size_t)y1[oy] >= src_h)
            return EK_EINVAL;

    pad = ek_normalise(pad_pixel, mul, add);
    switch (out_type) {
    case EK_INFER_F32:
        EK_PP_LOOP(float, n);
        break;
    case EK_INFER_U8:
        EK_PP_LOOP(uint8_t, (uint8_t)ek_quantise(n, qscale, zero_point, 0.0f, 255.0f));
        break;
    default:
        EK_PP_LOOP(int8_t, (int8_t)ek_quantise(n, qscale, zero_point, -128.0f, 127.0f));
        break;
    }
    return EK_OK;
}

static float ek_size(float raw, float scale, float anchor, int exp_size)
{
    float t = raw / scale;
    if (exp_size)
        t = (float)exp((double)t);
    t = t * anchor;
    return t;
}

static float ek_centre(float raw, float scale, float anchor_size, float anchor_centre)
{
    float t = raw / scale;
    t = t * anchor_size;
    t = t + anchor_centre;
    return t;
}

int ek_infer_decode_boxes(const float *raw, size_t n, size_t stride, const float *anchors,
                          int order_yx, int exp_size, float x_scale, float y_scale,
                          float w_scale, float h_scale, size_t box_offset, size_t num_kp,
                          size_t kp_offset, size_t kp_values, float *boxes, float *keypoints)
{
    size_t i, k;
    size_t ix = order_yx ? 1 : 0, iy = order_yx ? 0 : 1;
    if (box_offset + 4 > stride || kp_values < 2 ||
        (num_kp > 0 && kp_offset + num_kp * kp_values > stride))
        return EK_EINVAL;
    for (i = 0; i < n; i++) {
        const float *r = raw + i * stride;
        const float *a = anchors + i * 4;
        float xc = ek_centre(r[box_offset + ix], x_scale, a[2], a[0]);
        float yc = ek_centre(r[box_offset + iy], y_scale, a[3], a[1]);
        float w = ek_size(r[box_offset + 2 + ix], w_scale, a[2], exp_size);
        float h = ek_size(r[box_offset + 2 + iy], h_scale, a[3], exp_size);
        float hw = w / 2.0f, hh = h / 2.0f;
        float *b = boxes + i * 4;
        b[0] = xc - hw;
        b[1] = yc - hh;
        b[2] = xc + hw;
        b[3] = yc + hh;
        for (k = 0; k < num_kp; k++) {
            const float *kr = r + kp_offset + k * kp_values;
            float *ko = keypoints + (i * num_kp + k) * 2;
            ko[0] = ek_centre(kr[ix], x_scale, a[2], a[0]);
            ko[1] = ek_centre(kr[iy], y_scale, a[3], a[1]);
        }
    }
    return EK_OK;
}

static float ek_area(const float *b)
{
    float w = b[2] - b[0];
    float h = b[3] - b[1];
    return w * h;
}

static float ek_iou(const float *a, float area_a, const float *b, float area_b)
{
    float ix0 = a[0] > b[0] ? a[0] : b[0];
    float iy0 = a[1] > b[1] ? a[1] : b[1];
    float ix1 = a[2] < b[2] ? a[2] : b[2];
    float iy1 = a[3] < b[3] ? a[3] : b[3];
    float iw = ix1 - ix0, ih = iy1 - iy0, inter, uni;
    if (!(iw > 0.0f))
        iw = 0.0f;
    if (!(ih > 0.0f))
        ih = 0.0f;
    inter = iw * ih;
    uni = area_a + area_b;
    uni = uni - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

/* Greedy NMS over the boxes order[0..m) (best first): see ek_infer_nms.  keep[] receives
 * positions in order[], i.e. the caller's indices. */
static int ek_nms_core(const float *boxes, const float *scores, const float *kps, size_t kp_len,
                       const int32_t *order, size_t m, float iou_threshold, int weighted,
                       size_t max_out, int32_t *keep, float *out_boxes, float *out_kps,
                       int32_t *scratch)
{
    size_t remaining = m, produced = 0, i, j;
    double kacc[EK_INFER_MAX_KP];
    for (i = 0; i < m; i++)
        scratch[i] = order[i];
    while (remaining > 0 && produced < max_out) {
        size_t head = (size_t)scratch[0], kept = 0;
        const float *hb = boxes + head * 4;
        float ha = ek_area(hb);
        double tot = 0.0, acc[4] = {0.0, 0.0, 0.0, 0.0};
        for (j = 0; j < kp_len; j++)
            kacc[j] = 0.0;
        keep[produced] = (int32_t)head;
        /* cluster members are visited in score order; the survivors are compacted to the
         * front of scratch as we go (kept <= i, so nothing unread is overwritten) */
        for (i = 0; i < remaining; i++) {
            size_t idx = (size_t)scratch[i];
            const float *b = boxes + idx * 4;
            int member = idx == head || ek_iou(hb, ha, b, ek_area(b)) > iou_threshold;
            if (!member) {
                scratch[kept++] = (int32_t)idx;
                continue;
            }
            if (weighted) {
                double s = (double)scores[idx];
                tot += s;
                for (j = 0; j < 4; j++)
                    acc[j] += (double)b[j] * s;
                for (j = 0; j < kp_len; j++)
                    kacc[j] += (double)kps[idx * kp_len + j] * s;
            }
        }
        if (weighted && tot > 0.0) {
            for (j = 0; j < 4; j++)
                out_boxes[produced * 4 + j] = (float)(acc[j] / tot);
            for (j = 0; j < kp_len; j++)
                out_kps[produced * kp_len + j] = (float)(kacc[j] / tot);
        } else {
            for (j = 0; j < 4; j++)
                out_boxes[produced * 4 + j] = hb[j];
            for (j = 0; j < kp_len; j++)
                out_kps[produced * kp_len + j] = kps[head * kp_len + j];
        }
        produced++;
        remaining = kept;
    }
    return (int)produced;
}

int ek_infer_nms(const float *boxes, const float *scores, const float *kps, size_t kp_len,
                 size_t m, float iou_threshold, int weighted, size_t max_out, int32_t *keep,
                 float *out_boxes, float *out_kps, int32_t *scratch)
{
    size_t i;
    if (m > (size_t)INT32_MAX || max_out > (size_t)INT32_MAX || kp_len > EK_INFER_MAX_KP ||
        (kp_len > 0 && (kps == NULL || out_kps == NULL)))
        return EK_EINVAL;
    /* the identity order, built in keep's tail would alias: use out of scratch's own pass */
    for (i = 0; i < m; i++)
        scratch[i] = (int32_t)i;
    return ek_nms_core(boxes, scores, kps, kp_len, scratch, m, iou_threshold, weighted,
                       max_out, keep, out_boxes, out_kps, scratch);
}

/* Stable merge sort of idx[0..m) by score descending (ties keep their order), with tmp. */
static void ek_sort_desc(int32_t *idx, int32_t *tmp, size_t m, const float *scores)
{
    size_t width, lo;
    int32_t *src = idx, *dst = tmp;
    for (width = 1; width < m; width *= 2) {
        for (lo = 0; lo < m; lo += 2 * width) {
            size_t mid = lo + width < m ? lo + width : m;
            size_t hi = lo + 2 * width < m ? lo + 2 * width : m;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                dst[k++] = scores[src[b]] > scores[src[a]] ? src[b++] : src[a++];
            while (a < mid)
                dst[k++] = src[a++];
            while (b < hi)
                dst[k++] = src[b++];
        }
        {
            int32_t *t = src;
            src = dst;
            dst = t;
        }
    }
    if (src != idx)
        for (lo = 0; lo < m; lo++)
            idx[lo] = src[lo];
}

int ek_infer_ssd_select(const float *raw, size_t n, size_t stride, const float *anchors,
                        const int32_t *cand, const float *scores, size_t m, int order_yx,
                        int exp_size, float x_scale, float y_scale, float w_scale,
                        float h_scale, size_t box_offset, size_t num_kp, size_t kp_offset,
                        size_t kp_values, float iou_threshold, int weighted, size_t max_out,
                        float *boxes, float *kps, int32_t *order, int32_t *scratch,
                        int32_t *keep, float *out_boxes, float *out_kps)
{
    size_t j, k, valid = 0, kp_len = num_kp * 2;
    int status;
    if (m > (size_t)INT32_MAX || max_out > (size_t)INT32_MAX || kp_len > EK_INFER_MAX_KP)
        return EK_EINVAL;
    for (j = 0; j < m; j++)
        if (cand[j] < 0 || (size_t)cand[j] >= n)
            return EK_EINVAL;
    for (j = 0; j < m; j++) {
        const float *r = raw + (size_t)cand[j] * stride;
        const float *a = anchors + (size_t)cand[j] * 4;
        int ok;
        status = ek_infer_decode_boxes(r, 1, stride, a, order_yx, exp_size, x_scale, y_scale,
                                       w_scale, h_scale, box_offset, num_kp, kp_offset,
                                       kp_values, boxes + j * 4, kps + j * kp_len);
        if (status != EK_OK)
            return status;
        ok = boxes[j * 4 + 2] > boxes[j * 4] && boxes[j * 4 + 3] > boxes[j * 4 + 1] &&
             isfinite(boxes[j * 4]) && isfinite(boxes[j * 4 + 1]) &&
             isfinite(boxes[j * 4 + 2]) && isfinite(boxes[j * 4 + 3]);
        for (k = 0; ok && k < kp_len; k++)
            ok = isfinite(kps[j * kp_len + k]);
        if (ok)
            order[valid++] = (int32_t)j;
    }
    ek_sort_desc(order, scratch, valid, scores);
    return ek_nms_core(boxes, scores, kps, kp_len, order, valid, iou_threshold, weighted,
                       max_out, keep, out_boxes, out_kps, scratch);
}
