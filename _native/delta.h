/* Delta and zigzag coding for fixed-width integers.
 *
 * All arithmetic is modulo 2**W (two's complement wrap-around), exactly as numpy's
 * integer ufuncs behave, so a signed array and its unsigned view give the same bits.
 * The kernels therefore come in one variant per width: the Python wrapper passes a
 * signed or unsigned array as the unsigned type of the same width.
 *
 * Definitions (order k in 0..2): the order-1 delta of x is d[0] = x[0],
 * d[i] = x[i] - x[i-1] (an implicit zero before the first element); the order-k delta is
 * the order-1 delta applied k times; order 0 is the identity.  zigzag(v) maps the signed
 * reading of v to (v << 1) ^ (v >> (W-1)) so small magnitudes become small codes.
 *
 * Arrays must not overlap.  Return value: EK_OK, or EK_EINVAL for an order outside 0..2.
 */
#ifndef EDGEKIT_DELTA_H
#define EDGEKIT_DELTA_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
#define EK_OK 0
#define EK_EINVAL -1

int ek_delta_encode_u8(const uint8_t *x, uint8_t *out, size_t n, int order);
int ek_delta_encode_u16(const uint16_t *x, uint16_t *out, size_t n, int order);
int ek_delta_encode_u32(const uint32_t *x, uint32_t *out, size_t n, int order);
int ek_delta_encode_u64(const uint64_t *x, uint64_t *out, size_t n, int order);
int ek_delta_decode_u8(const uint8_t *d, uint8_t *out, size_t n, int order);
int ek_delta_decode_u16(const uint16_t *d, uint16_t *out, size_t n, int order);
int ek_delta_decode_u32(const uint32_t *d, uint32_t *out, size_t n, int order);
int ek_delta_decode_u64(const uint64_t *d, uint64_t *out, size_t n, int order);

/* zigzag alone is the fused kernels at order 0 */
int ek_delta_zigzag_encode_u8(const uint8_t *x, uint8_t *out, size_t n, int order);
int ek_delta_zigzag_encode_u16(const uint16_t *x, uint16_t *out, size_t n, int order);
int ek_delta_zigzag_encode_u32(const uint32_t *x, uint32_t *out, size_t n, int order);
int ek_delta_zigzag_encode_u64(const uint64_t *x, uint64_t *out, size_t n, int order);
int ek_delta_zigzag_decode_u8(const uint8_t *z, uint8_t *out, size_t n, int order);
int ek_delta_zigzag_decode_u16(const uint16_t *z, uint16_t *out, size_t n, int order);
int ek_delta_zigzag_decode_u32(const uint32_t *z, uint32_t *out, size_t n, int order);
int ek_delta_zigzag_decode_u64(const uint64_t *z, uint64_t *out, size_t n, int order);
/* cdef: end */

#endif
