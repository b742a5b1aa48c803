/* Block codec kernels: see compress.h for the definitions, docs/compress/format.md for the
 * format and edgekit/compress/_codec_ref.py for the numpy references that tests hold these
 * to, bit for bit.  Everything that can overflow is done on unsigned types (wrapping is
 * defined behaviour there); every read of encoded bytes is bounds-checked. */
#include "compress.h"
#include "compress_v2.h"

#include <math.h>
#include <string.h>

#define EKZ_L 32768u                  /* rANS state lower bound: states live in [L, 2^31) */
#define EKZ_M 4096u                   /* probability scale, 1 << EKZ_PROB_BITS */
#define EKZ_MASK 4095u
/* interleaved rANS states: four for streams of 1024 codes or more, else one (a state costs
 * 4 bytes of flush; four hide the decoder's latency on long streams) */
#define EKZ_NSTATES(codes) ((codes) >= 1024u ? 4u : 1u)
/* format v3's stream kind 4 ("lanes"): EKZ_LANES states whatever the length, the words in
 * the order the states take them (as above), so a SIMD decoder renormalises all lanes at
 * once (one popcount advances the word pointer a step of EKZ_LANES codes) */
#define EKZ_LANES 16u
#define EKZ_SMALL_CODES 64u /* streams of at most this many codes decode without tables */
/* ... whose final states carry the last extra bits, 15 a lane ([L, 2L) holds 15 bits) */
#define EKZ_LANE_TAIL 15u
#define EKZ_CHUNK 256u /* codes of a decoder chunk (a kind-4 tail is the last chunk's bits) */

/* ------------------------------------------------------------------ tokens */

static unsigned ekz_bitlen(uint64_t z) /* z > 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return 64u - (unsigned)__builtin_clzll(z);
#else
    unsigned b = 0;
    while (z) {
        b++;
        z >>= 1;
    }
    return b;
#endif
}

/* ekz_token of the codes below 1024, by lookup: most codes of real data are small, and
 * the branch to the computed token is then predictable (the computed token's own
 * branch on z < 16 is not, where small and large codes mix) */
static const uint8_t ekz_small_token[1024] = {
    0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,16,16,16,17,17,17,17,18,18,18,18,19,19,19,19,
    20,20,20,20,20,20,20,20,21,21,21,21,21,21,21,21,22,22,22,22,22,22,22,22,23,23,23,23,23,23,23,23,
    24,24,24,24,24,24,24,24,24,24,24,24,24,24,24,24,25,25,25,25,25,25,25,25,25,25,25,25,25,25,25,25,
    26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,27,27,27,27,27,27,27,27,27,27,27,27,27,27,27,27,
    28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,
    29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,29,
    30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,30,
    31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,31,
    32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,
    32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,32,
    33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,
    33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,33,
    34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,
    34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,34,
    35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,
    35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,35,
    36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,
    36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,
    36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,
    36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,36,
    37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,
    37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,
    37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,
    37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,37,
    38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,
    38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,
    38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,
    38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,38,
    39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,
    39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,
    39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,
    39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,39,
};

static inline unsigned ekz_token(uint64_t z)
{
    unsigned b;
    if (z < 1024u)
        return ekz_small_token[z];
    b = ekz_bitlen(z);
    return 16u + 4u * (b - 5u) + (unsigned)((z >> (b - 3u)) & 3u);
}

/* base value and number of extra bits of each token */
static void ekz_token_tables(uint64_t *base, uint8_t *nbits)
{
    unsigned t;
    for (t = 0; t < 256u; t++) {
        if (t < 16u) {
            base[t] = t;
            nbits[t] = 0;
        } else {
            unsigned b = (t - 16u) / 4u + 5u, m = (t - 16u) % 4u;
            base[t] = (uint64_t)(4u + m) << (b - 3u);
            nbits[t] = (uint8_t)(b - 3u);
        }
    }
}

/* base value, extra bits and extra-bit mask (bits <= 56, else 0) of each token, as
 * ekz_token_tables computes them (generated from the token definition; the decoder's
 * round-trip tests use every token): constant, so a decode call does not rebuild them */
static const struct {
    uint64_t base[256];
    uint64_t mask[256];
    uint8_t nbits[256];
} ekz_tok = {
    {
    0x0u, 0x1u, 0x2u, 0x3u,
    0x4u, 0x5u, 0x6u, 0x7u,
    0x8u, 0x9u, 0xau, 0xbu,
    0xcu, 0xdu, 0xeu, 0xfu,
    0x10u, 0x14u, 0x18u, 0x1cu,
    0x20u, 0x28u, 0x30u, 0x38u,
    0x40u, 0x50u, 0x60u, 0x70u,
    0x80u, 0xa0u, 0xc0u, 0xe0u,
    0x100u, 0x140u, 0x180u, 0x1c0u,
    0x200u, 0x280u, 0x300u, 0x380u,
    0x400u, 0x500u, 0x600u, 0x700u,
    0x800u, 0xa00u, 0xc00u, 0xe00u,
    0x1000u, 0x1400u, 0x1800u, 0x1c00u,
    0x2000u, 0x2800u, 0x3000u, 0x3800u,
    0x4000u, 0x5000u, 0x6000u, 0x7000u,
    0x8000u, 0xa000u, 0xc000u, 0xe000u,
    0x10000u, 0x14000u, 0x18000u, 0x1c000u,
    0x20000u, 0x28000u, 0x30000u, 0x38000u,
    0x40000u, 0x50000u, 0x60000u, 0x70000u,
    0x80000u, 0xa0000u, 0xc0000u, 0xe0000u,
    0x100000u, 0x140000u, 0x180000u, 0x1c0000u,
    0x200000u, 0x280000u, 0x300000u, 0x380000u,
    0x400000u, 0x500000u, 0x600000u, 0x700000u,
    0x800000u, 0xa00000u, 0xc00000u, 0xe00000u,
    0x1000000u, 0x1400000u, 0x1800000u, 0x1c00000u,
    0x2000000u, 0x2800000u, 0x3000000u, 0x3800000u,
    0x4000000u, 0x5000000u, 0x6000000u, 0x7000000u,
    0x8000000u, 0xa000000u, 0xc000000u, 0xe000000u,
    0x10000000u, 0x14000000u, 0x18000000u, 0x1c000000u,
    0x20000000u, 0x28000000u, 0x30000000u, 0x38000000u,
    0x40000000u, 0x50000000u, 0x60000000u, 0x70000000u,
    0x80000000u, 0xa0000000u, 0xc0000000u, 0xe0000000u,
    0x100000000u, 0x140000000u, 0x180000000u, 0x1c0000000u,
    0x200000000u, 0x280000000u, 0x300000000u, 0x380000000u,
    0x400000000u, 0x500000000u, 0x600000000u, 0x700000000u,
    0x800000000u, 0xa00000000u, 0xc00000000u, 0xe00000000u,
    0x1000000000u, 0x1400000000u, 0x1800000000u, 0x1c00000000u,
    0x2000000000u, 0x2800000000u, 0x3000000000u, 0x3800000000u,
    0x4000000000u, 0x5000000000u, 0x6000000000u, 0x7000000000u,
    0x8000000000u, 0xa000000000u, 0xc000000000u, 0xe000000000u,
    0x10000000000u, 0x14000000000u, 0x18000000000u, 0x1c000000000u,
    0x20000000000u, 0x28000000000u, 0x30000000000u, 0x38000000000u,
    0x40000000000u, 0x50000000000u, 0x60000000000u, 0x70000000000u,
    0x80000000000u, 0xa0000000000u, 0xc0000000000u, 0xe0000000000u,
    0x100000000000u, 0x140000000000u, 0x180000000000u, 0x1c0000000000u,
    0x200000000000u, 0x280000000000u, 0x300000000000u, 0x380000000000u,
    0x400000000000u, 0x500000000000u, 0x600000000000u, 0x700000000000u,
    0x800000000000u, 0xa00000000000u, 0xc00000000000u, 0xe00000000000u,
    0x1000000000000u, 0x1400000000000u, 0x1800000000000u, 0x1c00000000000u,
    0x2000000000000u, 0x2800000000000u, 0x3000000000000u, 0x3800000000000u,
    0x4000000000000u, 0x5000000000000u, 0x6000000000000u, 0x7000000000000u,
    0x8000000000000u, 0xa000000000000u, 0xc000000000000u, 0xe000000000000u,
    0x10000000000000u, 0x14000000000000u, 0x18000000000000u, 0x1c000000000000u,
    0x20000000000000u, 0x28000000000000u, 0x30000000000000u, 0x38000000000000u,
    0x40000000000000u, 0x50000000000000u, 0x60000000000000u, 0x70000000000000u,
    0x80000000000000u, 0xa0000000000000u, 0xc0000000000000u, 0xe0000000000000u,
    0x100000000000000u, 0x140000000000000u, 0x180000000000000u, 0x1c0000000000000u,
    0x200000000000000u, 0x280000000000000u, 0x300000000000000u, 0x380000000000000u,
    0x400000000000000u, 0x500000000000000u, 0x600000000000000u, 0x700000000000000u,
    0x800000000000000u, 0xa00000000000000u, 0xc00000000000000u, 0xe00000000000000u,
    0x1000000000000000u, 0x1400000000000000u, 0x1800000000000000u, 0x1c00000000000000u,
    0x2000000000000000u, 0x2800000000000000u, 0x3000000000000000u, 0x3800000000000000u,
    0x4000000000000000u, 0x5000000000000000u, 0x6000000000000000u, 0x7000000000000000u,
    0x8000000000000000u, 0xa000000000000000u, 0xc000000000000000u, 0xe000000000000000u,
    },
    {
    0x0u, 0x0u, 0x0u, 0x0u,
    0x0u, 0x0u, 0x0u, 0x0u,
    0x0u, 0x0u, 0x0u, 0x0u,
    0x0u, 0x0u, 0x0u, 0x0u,
    0x3u, 0x3u, 0x3u, 0x3u,
    0x7u, 0x7u, 0x7u, 0x7u,
    0xfu, 0xfu, 0xfu, 0xfu,
    0x1fu, 0x1fu, 0x1fu, 0x1fu,
    0x3fu, 0x3fu, 0x3fu, 0x3fu,
    0x7fu, 0x7fu, 0x7fu, 0x7fu,
    0xffu, 0xffu, 0xffu, 0xffu,
    0x1ffu, 0x1ffu, 0x1ffu, 0x1ffu,
    0x3ffu, 0x3ffu, 0x3ffu, 0x3ffu,
    0x7ffu, 0x7ffu, 0x7ffu, 0x7ffu,
    0xfffu, 0xfffu, 0xfffu, 0xfffu,
    0x1fffu, 0x1fffu, 0x1fffu, 0x1fffu,
    0x3fffu, 0x3fffu, 0x3fffu, 0x3fffu,
    0x7fffu, 0x7fffu, 0x7fffu, 0x7fffu,
    0xffffu, 0xffffu, 0xffffu, 0xffffu,
    0x1ffffu, 0x1ffffu, 0x1ffffu, 0x1ffffu,
    0x3ffffu, 0x3ffffu, 0x3ffffu, 0x3ffffu,
    0x7ffffu, 0x7ffffu, 0x7ffffu, 0x7ffffu,
    0xfffffu, 0xfffffu, 0xfffffu, 0xfffffu,
    0x1fffffu, 0x1fffffu, 0x1fffffu, 0x1fffffu,
    0x3fffffu, 0x3fffffu, 0x3fffffu, 0x3fffffu,
    0x7fffffu, 0x7fffffu, 0x7fffffu, 0x7fffffu,
    0xffffffu, 0xffffffu, 0xffffffu, 0xffffffu,
    0x1ffffffu, 0x1ffffffu, 0x1ffffffu, 0x1ffffffu,
    0x3ffffffu, 0x3ffffffu, 0x3ffffffu, 0x3ffffffu,
    0x7ffffffu, 0x7ffffffu, 0x7ffffffu, 0x7ffffffu,
    0xfffffffu, 0xfffffffu, 0xfffffffu, 0xfffffffu,
    0x1fffffffu, 0x1fffffffu, 0x1fffffffu, 0x1fffffffu,
    0x3fffffffu, 0x3fffffffu, 0x3fffffffu, 0x3fffffffu,
    0x7fffffffu, 0x7fffffffu, 0x7fffffffu, 0x7fffffffu,
    0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
    0x1ffffffffu, 0x1ffffffffu, 0x1ffffffffu, 0x1ffffffffu,
    0x3ffffffffu, 0x3ffffffffu, 0x3ffffffffu, 0x3ffffffffu,
    0x7ffffffffu, 0x7ffffffffu, 0x7ffffffffu, 0x7ffffffffu,
    0xfffffffffu, 0xfffffffffu, 0xfffffffffu, 0xfffffffffu,
    0x1fffffffffu, 0x1fffffffffu, 0x1fffffffffu, 0x1fffffffffu,
    0x3fffffffffu, 0x3fffffffffu, 0x3fffffffffu, 0x3fffffffffu,
    0x7fffffffffu, 0x7fffffffffu, 0x7fffffffffu, 0x7fffffffffu,
    0xffffffffffu, 0xffffffffffu, 0xffffffffffu, 0xffffffffffu,
    0x1ffffffffffu, 0x1ffffffffffu, 0x1ffffffffffu, 0x1ffffffffffu,
    0x3ffffffffffu, 0x3ffffffffffu, 0x3ffffffffffu, 0x3ffffffffffu,
    0x7ffffffffffu, 0x7ffffffffffu, 0x7ffffffffffu, 0x7ffffffffffu,
    0xfffffffffffu, 0xfffffffffffu, 0xfffffffffffu, 0xfffffffffffu,
    0x1fffffffffffu, 0x1fffffffffffu, 0x1fffffffffffu, 0x1fffffffffffu,
    0x3fffffffffffu, 0x3fffffffffffu, 0x3fffffffffffu, 0x3fffffffffffu,
    0x7fffffffffffu, 0x7fffffffffffu, 0x7fffffffffffu, 0x7fffffffffffu,
    0xffffffffffffu, 0xffffffffffffu, 0xffffffffffffu, 0xffffffffffffu,
    0x1ffffffffffffu, 0x1ffffffffffffu, 0x1ffffffffffffu, 0x1ffffffffffffu,
    0x3ffffffffffffu, 0x3ffffffffffffu, 0x3ffffffffffffu, 0x3ffffffffffffu,
    0x7ffffffffffffu, 0x7ffffffffffffu, 0x7ffffffffffffu, 0x7ffffffffffffu,
    0xfffffffffffffu, 0xfffffffffffffu, 0xfffffffffffffu, 0xfffffffffffffu,
    0x1fffffffffffffu, 0x1fffffffffffffu, 0x1fffffffffffffu, 0x1fffffffffffffu,
    0x3fffffffffffffu, 0x3fffffffffffffu, 0x3fffffffffffffu, 0x3fffffffffffffu,
    0x7fffffffffffffu, 0x7fffffffffffffu, 0x7fffffffffffffu, 0x7fffffffffffffu,
    0xffffffffffffffu, 0xffffffffffffffu, 0xffffffffffffffu, 0xffffffffffffffu,
    0x0u, 0x0u, 0x0u, 0x0u,
    0x0u, 0x0u, 0x0u, 0x0u,
    0x0u, 0x0u, 0x0u, 0x0u,
    0x0u, 0x0u, 0x0u, 0x0u,
    0x0u, 0x0u, 0x0u, 0x0u,
    },
    {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5,
    6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9,
    10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13,
    14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 17, 17, 17, 17,
    18, 18, 18, 18, 19, 19, 19, 19, 20, 20, 20, 20, 21, 21, 21, 21,
    22, 22, 22, 22, 23, 23, 23, 23, 24, 24, 24, 24, 25, 25, 25, 25,
    26, 26, 26, 26, 27, 27, 27, 27, 28, 28, 28, 28, 29, 29, 29, 29,
    30, 30, 30, 30, 31, 31, 31, 31, 32, 32, 32, 32, 33, 33, 33, 33,
    34, 34, 34, 34, 35, 35, 35, 35, 36, 36, 36, 36, 37, 37, 37, 37,
    38, 38, 38, 38, 39, 39, 39, 39, 40, 40, 40, 40, 41, 41, 41, 41,
    42, 42, 42, 42, 43, 43, 43, 43, 44, 44, 44, 44, 45, 45, 45, 45,
    46, 46, 46, 46, 47, 47, 47, 47, 48, 48, 48, 48, 49, 49, 49, 49,
    50, 50, 50, 50, 51, 51, 51, 51, 52, 52, 52, 52, 53, 53, 53, 53,
    54, 54, 54, 54, 55, 55, 55, 55, 56, 56, 56, 56, 57, 57, 57, 57,
    58, 58, 58, 58, 59, 59, 59, 59, 60, 60, 60, 60, 61, 61, 61, 61,
    },
};

static inline uint64_t ekz_zz(uint64_t v) { return (v << 1) ^ (0u - (v >> 63)); }
static inline uint64_t ekz_unzz(uint64_t z) { return (z >> 1) ^ (0u - (z & 1u)); }

/* order-k delta of j at i (wrapping), with implicit zeros before j[0] */
static inline uint64_t ekz_delta_at(const uint64_t *j, size_t i, int order)
{
    if (order == 0)
        return j[i];
    if (order == 1)
        return i ? j[i] - j[i - 1] : j[0];
    if (i >= 2)
        return j[i] - (j[i - 1] << 1) + j[i - 2];
    return i ? j[1] - (j[0] << 1) : j[0];
}

static unsigned ekz_bitlen32(uint32_t v)
{
    unsigned b = 0;
    while (v) {
        b++;
        v >>= 1;
    }
    return b;
}

/* Mirrors the encoder's choice of table precision (codec._table): pb 12, and 10, 8, 6 for
 * streams under 8192 codes with at most 2**pb / 2 tokens; each costs a table of
 * (maxtok + 1) fields of the bit length of the largest scaled frequency, plus the codes at
 * -log2 of their scaled frequencies. */
/* log2(i) for i = 0..4096 (log2(1) at 0), filled once when the library loads: ekz_cost's
 * frequencies are whole numbers up to 4096, and a lookup gives log2's own bits */
static double ekz_log2_tab[EKZ_M + 1u];
static int ekz_log2_ready;
#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void ekz_log2_init(void)
{
    unsigned i;
    ekz_log2_tab[0] = 0.0;
    for (i = 1; i <= EKZ_M; i++)
        ekz_log2_tab[i] = log2((double)i);
    ekz_log2_ready = 1;
}
#endif

double ekz_cost(const uint32_t *h)
{
    unsigned t, present = 0, maxtok = 0, pb;
    double n = 0.0, extra = 0.0, best = -1.0;
    uint32_t hmax = 0;
    const int tab = ekz_log2_ready;
    for (t = 0; t < 256u; t++) {
        if (h[t]) {
            n += (double)h[t];
            extra += (double)h[t] * ekz_tok.nbits[t];
            present++;
            maxtok = t;
            hmax = h[t] > hmax ? h[t] : hmax;
        }
    }
    if (present == 0)
        return 8.0;
    if (present == 1)
        return extra + 24.0;
    for (pb = 12; pb >= 6; pb -= 2) {
        double scale = (double)(1u << pb), bits;
        uint32_t fmax;
        if (pb < 12 && (n >= 8192.0 || 2u * present > (1u << pb)))
            break;
        fmax = (uint32_t)((double)hmax * scale / n + 0.5);
        bits = 16.0 + 8.0 * (double)(((maxtok + 1u) * ekz_bitlen32(fmax) + 7u) / 8u);
        for (t = 0; t <= maxtok; t++) {
            if (h[t]) {
                double f = floor((double)h[t] * scale / n + 0.5);
                bits += (double)h[t] *
                        ((double)pb - (tab && f <= (double)EKZ_M ? ekz_log2_tab[(unsigned)f]
                                                                : log2(f < 1.0 ? 1.0 : f)));
            }
        }
        if (best < 0.0 || bits < best)
            best = bits;
    }
    /* kind byte and lengths, then the flushed rANS states */
    return best + extra + 24.0 + 32.0 * (n >= 1024.0 ? 4.0 : 1.0);
}

/* codec table choice: frequencies of the present tokens scaled to sum to 2**pb, each >= 1;
 * the rounding remainder goes to (or is taken from) the largest, first on ties */
static int ekz_normalize(const uint32_t *h, const uint8_t *idx, unsigned cnt, unsigned pb,
                         uint64_t n, uint32_t *f)
{
    uint64_t prob = (uint64_t)1 << pb, sum = 0;
    int64_t diff;
    unsigned u;
    for (u = 0; u < cnt; u++) {
        uint64_t v = ((uint64_t)h[idx[u]] * prob + n / 2u) / n;
        f[idx[u]] = (uint32_t)(v < 1u ? 1u : v);
        sum += f[idx[u]];
    }
    diff = (int64_t)prob - (int64_t)sum;
    if (diff > 0) {
        unsigned best = idx[0];
        for (u = 1; u < cnt; u++)
            if (h[idx[u]] > h[best])
                best = idx[u];
        f[best] += (uint32_t)diff;
    }
    while (diff < 0) {
        unsigned best = idx[0];
        uint32_t take;
        for (u = 1; u < cnt; u++)
            if (f[idx[u]] > f[best])
                best = idx[u];
        take = f[best] / 2u;
        if ((int64_t)take > -diff)
            take = (uint32_t)(-diff);
        if (take == 0)
            return EKZ_EINVAL;
        f[best] -= take;
        diff += take;
    }
    return EKZ_OK;
}

int ekz_table(const uint32_t *h, uint16_t *freq, uint8_t *out, size_t cap, size_t *len)
{
    uint8_t idx[256];
    uint32_t f[256], bf[256];
    unsigned t, cnt = 0, maxtok = 0, top, tries[3], ntry, q, bpb = 0, nbits, fmax;
    uint64_t n = 0, acc;
    double best = 0.0;
    int have = 0;
    size_t need, o, bit;

    for (t = 0; t < 256u; t++) {
        if (h[t]) {
            idx[cnt++] = (uint8_t)t;
            n += h[t];
            maxtok = t;
        }
    }
    if (cnt < 2u)
        return EKZ_EINVAL;
    if (n >= 8192u) {
        top = 12u;
    } else {
        top = 2u * ((ekz_bitlen(n) + 1u) / 2u);
        top = top < 6u ? 6u : (top > 12u ? 12u : top);
    }
    ntry = 0;
    if (top > 6u) {
        tries[ntry++] = top;
        tries[ntry++] = top - 2u;
    } else {
        tries[ntry++] = 6u;
    }
    tries[ntry++] = 12u;
    for (q = 0; q < ntry; q++) {
        unsigned pb = tries[q], u;
        double bits, s = 0.0;
        if (have && pb == 12u && top < 12u)
            break;
        if (pb < 12u && 2u * cnt > (1u << pb))
            continue;
        memset(f, 0, sizeof f);
        if (ekz_normalize(h, idx, cnt, pb, n, f) != EKZ_OK)
            return EKZ_EINVAL;
        fmax = 0;
        for (u = 0; u < cnt; u++)
            fmax = f[idx[u]] > fmax ? f[idx[u]] : fmax;
        nbits = ekz_bitlen(fmax);
        for (u = 0; u < cnt; u++)
            s += (double)h[idx[u]] * ((double)pb - log2((double)f[idx[u]]));
        bits = (double)(16u + 8u * (((maxtok + 1u) * nbits + 7u) / 8u)) + s;
        if (!have || bits < best) {
            have = 1;
            best = bits;
            bpb = pb;
            memcpy(bf, f, sizeof f);
        }
    }
    fmax = 0;
    for (t = 0; t <= maxtok; t++)
        fmax = bf[t] > fmax ? bf[t] : fmax;
    nbits = ekz_bitlen(fmax);
    need = 2u + ((size_t)(maxtok + 1u) * nbits + 7u) / 8u;
    if (cap < need)
        return EKZ_ENOSPC;
    out[0] = (uint8_t)maxtok;
    out[1] = (uint8_t)((bpb << 4) | nbits);
    o = 2;
    acc = 0;
    bit = 0;
    for (t = 0; t <= maxtok; t++) {
        acc |= (uint64_t)bf[t] << bit;
        bit += nbits;
        while (bit >= 8u) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            bit -= 8u;
        }
    }
    if (bit)
        out[o++] = (uint8_t)acc;
    for (t = 0; t < 256u; t++)
        freq[t] = (uint16_t)(bf[t] << (EKZ_PROB_BITS - bpb));
    *len = o;
    return EKZ_OK;
}

int ekz_unpack_freq(const uint8_t *src, size_t len, unsigned count, unsigned nbits,
                    unsigned pb, uint16_t *freq)
{
    unsigned t;
    uint32_t sum = 0;
    size_t need = ((size_t)count * nbits + 7u) / 8u;
    if (count == 0 || count > 256u || nbits < 1u || nbits > 12u || pb < 4u || pb > 12u ||
        len < need)
        return EKZ_ECORRUPT;
    memset(freq, 0, 256u * sizeof *freq);
    for (t = 0; t < count; t++) {
        size_t bit = (size_t)t * nbits, at = bit >> 3;
        /* a field of <= 12 bits spans at most 3 bytes, all below need <= len but the last
         * two, which may lie past the table */
        uint32_t v = (uint32_t)src[at] | (at + 1u < need ? (uint32_t)src[at + 1u] << 8 : 0u) |
                     (at + 2u < need ? (uint32_t)src[at + 2u] << 16 : 0u);
        v = (v >> (bit & 7u)) & ((1u << nbits) - 1u);
        if (v >= (1u << pb))
            return EKZ_ECORRUPT;
        freq[t] = (uint16_t)(v << (EKZ_PROB_BITS - pb));
        sum += v;
    }
    return sum == (1u << pb) ? EKZ_OK : EKZ_ECORRUPT;
}

int ekz_hist3(const uint64_t *j, size_t n, uint32_t *hist)
{
    /* two banks of counts, even and odd positions: consecutive equal tokens (the common
     * case) then do not wait on each other's increments */
    uint32_t h[2][768];
    size_t i, t;
    uint64_t p1, p2; /* j[i-1], j[i-2] */
    if (n == 0)
        return EKZ_OK;
    hist[ekz_token(ekz_zz(j[0]))]++;
    if (n == 1)
        return EKZ_OK;
    hist[ekz_token(ekz_zz(j[1]))]++;
    hist[256u + ekz_token(ekz_zz(j[1] - j[0]))]++;
    memset(h, 0, sizeof h);
    p2 = j[0];
    p1 = j[1];
    for (i = 2; i + 1 < n; i += 2) {
        uint64_t x = j[i], y = j[i + 1];
        uint64_t d1 = x - p1, e1 = y - x;
        uint64_t d2 = d1 - (p1 - p2), e2 = e1 - d1;
        h[0][ekz_token(ekz_zz(x))]++;
        h[1][ekz_token(ekz_zz(y))]++;
        h[0][256u + ekz_token(ekz_zz(d1))]++;
        h[1][256u + ekz_token(ekz_zz(e1))]++;
        h[0][512u + ekz_token(ekz_zz(d2))]++;
        h[1][512u + ekz_token(ekz_zz(e2))]++;
        p2 = x;
        p1 = y;
    }
    if (i < n) {
        uint64_t x = j[i];
        hist[ekz_token(ekz_zz(x))]++;
        hist[256u + ekz_token(ekz_zz(x - p1))]++;
        hist[512u + ekz_token(ekz_zz(x - (p1 << 1) + p2))]++;
    }
    for (t = 0; t < 768u; t++)
        hist[t] += h[0][t] + h[1][t];
    return EKZ_OK;
}

/* hist[0..256) += the order-0 token histogram of j (ekz_hist3's first row alone: a
 * residual stream is coded at order 0). */
int ekz_hist1(const uint64_t *j, size_t n, uint32_t *hist)
{
    uint32_t h[256];
    size_t i;
    unsigned t;
    memset(h, 0, sizeof h);
    for (i = 0; i + 1 < n; i += 2) {
        hist[ekz_token(ekz_zz(j[i]))]++;
        h[ekz_token(ekz_zz(j[i + 1]))]++;
    }
    if (i < n)
        hist[ekz_token(ekz_zz(j[i]))]++;
    for (t = 0; t < 256u; t++)
        hist[t] += h[t];
    return EKZ_OK;
}

/* hist[0..256) += row `order` of ekz_hist3 alone (the histogram of the one delta order a
 * caller costs: a third of the work) */
int ekz_hist_order(const uint64_t *j, size_t n, int order, uint32_t *hist)
{
    uint32_t h[256];
    size_t i;
    unsigned t;
    if (order < 0 || order > 2)
        return EKZ_EINVAL;
    if (order == 0)
        return ekz_hist1(j, n, hist);
    if (n <= (size_t)order)
        return EKZ_OK;
    memset(h, 0, sizeof h);
    if (order == 1) {
        for (i = 1; i + 1 < n; i += 2) {
            hist[ekz_token(ekz_zz(j[i] - j[i - 1]))]++;
            h[ekz_token(ekz_zz(j[i + 1] - j[i]))]++;
        }
        if (i < n)
            hist[ekz_token(ekz_zz(j[i] - j[i - 1]))]++;
    } else {
        for (i = 2; i + 1 < n; i += 2) {
            hist[ekz_token(ekz_zz(j[i] - (j[i - 1] << 1) + j[i - 2]))]++;
            h[ekz_token(ekz_zz(j[i + 1] - (j[i] << 1) + j[i - 1]))]++;
        }
        if (i < n)
            hist[ekz_token(ekz_zz(j[i] - (j[i - 1] << 1) + j[i - 2]))]++;
    }
    for (t = 0; t < 256u; t++)
        hist[t] += h[t];
    return EKZ_OK;
}

/* ------------------------------------------------------------------ bit streams */

typedef struct {
    uint8_t *p, *end;
    uint64_t acc;
    unsigned cnt;
    int err;
} ekz_bw;

static inline void ekz_put(ekz_bw *w, uint64_t v, unsigned nb) /* nb <= 32 */
{
    w->acc |= v << w->cnt;
    w->cnt += nb;
    if (w->cnt >= 32u) {
        if (w->end - w->p < 4) {
            w->err = 1;
            w->cnt -= 32u;
            w->acc >>= 32;
            return;
        }
        w->p[0] = (uint8_t)w->acc;
        w->p[1] = (uint8_t)(w->acc >> 8);
        w->p[2] = (uint8_t)(w->acc >> 16);
        w->p[3] = (uint8_t)(w->acc >> 24);
        w->p += 4;
        w->acc >>= 32;
        w->cnt -= 32u;
    }
}

static inline void ekz_put_wide(ekz_bw *w, uint64_t v, unsigned nb) /* nb <= 64 */
{
    if (nb > 32u) {
        ekz_put(w, v & 0xffffffffu, 32u);
        ekz_put(w, v >> 32, nb - 32u);
    } else {
        ekz_put(w, v, nb);
    }
}

static inline uint64_t ekz_ld64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

/* ------------------------------------------------------------------ rANS coder */

static int ekz_check_freq(const uint16_t *freq, uint32_t *start)
{
    unsigned t;
    uint32_t sum = 0;
    for (t = 0; t < 256u; t++) {
        if (freq[t] >= EKZ_M)
            return EKZ_EINVAL;
        start[t] = sum;
        sum += freq[t];
    }
    return sum == EKZ_M ? EKZ_OK : EKZ_EINVAL;
}

static inline void ekz_st64(uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    p[4] = (uint8_t)(v >> 32);
    p[5] = (uint8_t)(v >> 40);
    p[6] = (uint8_t)(v >> 48);
    p[7] = (uint8_t)(v >> 56);
}

/* ekz_tokenize when out has room for 8 bytes a code: a code's extra bits go out with one
 * unaligned 8-byte store (fewer than 8 bits stay pending), no bounds check and no flush
 * branch; a code of more than 56 extra bits (a value near 2**60) takes two steps.  The
 * same bytes and histogram as the checked loop.  Codes without extra bits skip the put,
 * except where codes with and without them alternated often in the last 256 (the branch
 * then mispredicts about once a switch: noisy grids, 2x faster there): those take the
 * branch-free put (a put of no bits has no effect).  Measured on the corpus, a switch rate
 * of 1 in 4 separates the streams that gain from those that lose. */
#define EKZ_TOK_PUT()                                                                        \
    do {                                                                                     \
        uint64_t v = z - base[t];                                                            \
        if (nb > 56u) {                                                                      \
            acc |= (v & 0xffffffffu) << cnt;                                                 \
            ekz_st64(p, acc);                                                                \
            p += 4;                                                                          \
            acc >>= 32;                                                                      \
            v >>= 32;                                                                        \
            nb -= 32u;                                                                       \
        }                                                                                    \
        acc |= v << cnt;                                                                     \
        ekz_st64(p, acc);                                                                    \
        cnt += nb;                                                                           \
        p += cnt >> 3;                                                                       \
        acc >>= cnt & ~7u;                                                                   \
        cnt &= 7u;                                                                           \
    } while (0)

/* the put of a pair's bits, v below 2**nb, nb <= 56 (with fewer than 8 bits pending, one
 * 8-byte store holds them all) */
#define EKZ_TOK_PUT2(V, NB)                                                                  \
    do {                                                                                     \
        acc |= (V) << cnt;                                                                   \
        ekz_st64(p, acc);                                                                    \
        cnt += (NB);                                                                         \
        p += cnt >> 3;                                                                       \
        acc >>= cnt & ~7u;                                                                   \
        cnt &= 7u;                                                                           \
    } while (0)

/* Two codes a step: their extra bits joined into one put when together at most 56 bits
 * (nearly always), which halves the serial chain of the bit writer (the pending count and
 * the accumulator: most of the tokenizer's time on noisy streams); the same bytes. */
static inline int ekz_tokenize_fast(const uint64_t *j, size_t n, int order, uint8_t *tok,
                                    uint8_t *out, uint32_t *hist, size_t *blen,
                                    const uint64_t *base, const uint8_t *nbits)
{
    uint64_t acc = 0;
    unsigned cnt = 0, mixed = 0;
    uint8_t *p = out;
    size_t i = (size_t)order;
    while (i < n) {
        size_t i0 = i, end = n - i > 256u ? i + 256u : n, k;
        unsigned switches = 0;
        for (; i + 1 < end; i += 2) {
            uint64_t z0 = ekz_zz(ekz_delta_at(j, i, order));
            uint64_t z1 = ekz_zz(ekz_delta_at(j, i + 1, order));
            unsigned t0 = ekz_token(z0), t1 = ekz_token(z1);
            unsigned nb0 = nbits[t0], nb1 = nbits[t1], nbp = nb0 + nb1;
            tok[i] = (uint8_t)t0;
            tok[i + 1] = (uint8_t)t1;
            hist[t0]++;
            hist[t1]++;
            if (nbp <= 56u) {
                if (mixed || nbp) {
                    uint64_t v = (z0 - base[t0]) | ((z1 - base[t1]) << nb0);
                    EKZ_TOK_PUT2(v, nbp);
                }
            } else {
                uint64_t z = z0;
                unsigned t = t0, nb = nb0;
                EKZ_TOK_PUT();
                z = z1;
                t = t1;
                nb = nb1;
                EKZ_TOK_PUT();
            }
        }
        for (; i < end; i++) {
            uint64_t z = ekz_zz(ekz_delta_at(j, i, order));
            unsigned t = ekz_token(z), nb = nbits[t];
            tok[i] = (uint8_t)t;
            hist[t]++;
            if (nb)
                EKZ_TOK_PUT();
        }
        for (k = i0 + 1; k < end; k++) /* tokens 16 and up carry extra bits */
            switches += (tok[k] >= 16u) != (tok[k - 1] >= 16u);
        mixed = switches > 64u;
    }
    if (cnt)
        *p++ = (uint8_t)acc;
    *blen = (size_t)(p - out);
    return EKZ_OK;
}

#undef EKZ_TOK_PUT2
#undef EKZ_TOK_PUT

/* Pass 1 of the encoder, forward: tokens of positions order..n-1 into tok[i], their extra
 * bits into out (LSB-first, padded to a byte), the token histogram added to hist. */
int ekz_tokenize(const uint64_t *j, size_t n, int order, uint8_t *tok, uint8_t *out,
                 size_t cap, uint32_t *hist, size_t *blen)
{
    uint64_t base[256];
    uint8_t nbits[256];
    ekz_bw w;
    size_t i;

    if (order < 0 || order > 2)
        return EKZ_EINVAL;
    ekz_token_tables(base, nbits);
    if (n > (size_t)order && cap / 8u > n - (size_t)order + 2u) {
        if (order == 0)
            return ekz_tokenize_fast(j, n, 0, tok, out, hist, blen, base, nbits);
        if (order == 1)
            return ekz_tokenize_fast(j, n, 1, tok, out, hist, blen, base, nbits);
        return ekz_tokenize_fast(j, n, 2, tok, out, hist, blen, base, nbits);
    }
    w.p = out;
    w.end = out + cap;
    w.acc = 0;
    w.cnt = 0;
    w.err = 0;
    for (i = (size_t)order; i < n; i++) {
        uint64_t z = ekz_zz(ekz_delta_at(j, i, order));
        unsigned t = ekz_token(z);
        tok[i] = (uint8_t)t;
        hist[t]++;
        if (nbits[t])
            ekz_put_wide(&w, z - base[t], nbits[t]);
    }
    if (w.err)
        return EKZ_ENOSPC;
    while (w.cnt > 0) {
        if (w.p >= w.end)
            return EKZ_ENOSPC;
        *w.p++ = (uint8_t)w.acc;
        w.acc >>= 8;
        w.cnt = w.cnt > 8u ? w.cnt - 8u : 0u;
    }
    *blen = (size_t)(w.p - out);
    return EKZ_OK;
}

/* Pass 2, backward: the rANS words of tok[order..n) (freq sums to 4096, each token used has
 * a nonzero frequency below 4096), placed at out[blen..blen + *wlen). */
int ekz_rans(const uint8_t *tok, size_t n, int order, const uint16_t *freq, uint8_t *out,
             size_t cap, size_t blen, size_t *wlen)
{
    return ekz_rans_lanes(tok, n, order, freq, 0, out, cap, &blen, wlen);
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(EKZ_NO_AVX512)
#include <immintrin.h>
#define EKZ_LANES_SIMD 1
#define EKZ_LANES_TARGET                                                                     \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx512vbmi2,"       \
                          "popcnt,bmi2")))

static int ekz_lanes_off; /* ekz_lanes_simd(0): the portable path (tests) */

static int ekz_cpu_lanes(void)
{
    static int have = -1;
    if (ekz_lanes_off)
        return 0;
    if (have < 0)
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vbmi") &&
               __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("popcnt") &&
               __builtin_cpu_supports("bmi2");
    return have;
}

int ekz_lanes_simd(int on)
{
    int was = ekz_cpu_lanes();
    ekz_lanes_off = !on;
    return was;
}

/* dst[sl] = e0 | sl << 8 for sl < f: a token's slots in the decoder's packed table, 16 a
 * store */
EKZ_LANES_TARGET static void ekz_lanes_fill(uint32_t *dst, uint32_t e0, uint32_t f)
{
    __m512i v = _mm512_or_si512(_mm512_set1_epi32((int)e0),
                                _mm512_setr_epi32(0, 256, 512, 768, 1024, 1280, 1536, 1792, 2048,
                                                  2304, 2560, 2816, 3072, 3328, 3584, 3840));
    const __m512i step = _mm512_set1_epi32(16 << 8);
    uint32_t sl;
    for (sl = 0; sl + 16u <= f; sl += 16u) {
        _mm512_storeu_si512((void *)(dst + sl), v);
        v = _mm512_add_epi32(v, step);
    }
    if (sl < f)
        _mm512_mask_storeu_epi32((void *)(dst + sl), (__mmask16)((1u << (f - sl)) - 1u), v);
}

/* The 16-lane rANS encoder, 16 codes a step, codes tk[idx - 1] down to tk[0] (idx a
 * multiple of 16, lane = code % 16), the words below p (room for all): the scalar step of
 * ekz_rans_lanes on all lanes at once.  Table pk[t] = f | bias << 12 | shift << 25 (f = 0:
 * an absent token) and rcp[t]; each step's emitted words (the lanes with x >= f << 19) are
 * stored in lane order just below p, as the scalar loop (lane 15 first, downwards) puts
 * them.  Returns the new p, or NULL on a token of frequency 0. */
EKZ_LANES_TARGET static uint8_t *ekz_rans_lanes_avx512(const uint8_t *tk, size_t idx,
                                                       uint32_t *x, const uint32_t *pk,
                                                       const uint32_t *rcp, uint8_t *p)
{
    const __m512i m12 = _mm512_set1_epi32(0xfff), m13 = _mm512_set1_epi32(0x1fff),
                  M = _mm512_set1_epi32(EKZ_M);
    __m512i X = _mm512_loadu_si512((const void *)x);
    while (idx) {
        __m512i t, e, r, f, even, odd, q;
        __mmask16 m;
        idx -= 16;
        t = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(tk + idx)));
        e = _mm512_i32gather_epi32(t, (const void *)pk, 4);
        r = _mm512_i32gather_epi32(t, (const void *)rcp, 4);
        f = _mm512_and_si512(e, m12);
        if (_mm512_cmpeq_epi32_mask(f, _mm512_setzero_si512()))
            return NULL;
        m = _mm512_cmpge_epu32_mask(X, _mm512_slli_epi32(f, 19));
        p -= 2u * (unsigned)_mm_popcnt_u32(m);
        _mm256_mask_compressstoreu_epi16((void *)p, m, _mm512_cvtepi32_epi16(X));
        X = _mm512_mask_srli_epi32(X, m, X, 16);
        /* q = ((x * rcp) >> 32) >> shift: the high halves of the 32 x 32 products */
        even = _mm512_srli_epi64(_mm512_mul_epu32(X, r), 32);
        odd = _mm512_mul_epu32(_mm512_srli_epi64(X, 32), _mm512_srli_epi64(r, 32));
        q = _mm512_srlv_epi32(_mm512_mask_blend_epi32(0xAAAA, even, odd),
                              _mm512_srli_epi32(e, 25));
        X = _mm512_add_epi32(_mm512_add_epi32(X, _mm512_and_si512(_mm512_srli_epi32(e, 12), m13)),
                             _mm512_mullo_epi32(q, _mm512_sub_epi32(M, f)));
    }
    _mm512_storeu_si512((void *)x, X);
    return p;
}
#else
int ekz_lanes_simd(int on)
{
    (void)on;
    return 0;
}
#endif

/* (T, R) of a kind-4 stream's codes tok[0..m): T extra bits in all, the last R of them (the
 * last chunk's, at most EKZ_LANES * EKZ_LANE_TAIL) carried by the lanes' final states */
static void ekz_lanes_tail(const uint8_t *tok, size_t m, size_t *total, size_t *r)
{
    size_t i, last = m ? (m - 1u) / EKZ_CHUNK * EKZ_CHUNK : 0, t = 0, c = 0;
    for (i = 0; i < last; i++)
        t += ekz_tok.nbits[tok[i]];
    for (; i < m; i++)
        c += ekz_tok.nbits[tok[i]];
    *total = t + c;
    *r = c < EKZ_LANES * EKZ_LANE_TAIL ? c : EKZ_LANES * EKZ_LANE_TAIL;
}

int ekz_rans_lanes(const uint8_t *tok, size_t n, int order, const uint16_t *freq,
                   unsigned lanes, uint8_t *out, size_t cap, size_t *blenp, size_t *wlen)
{
    size_t blen = *blenp;
    uint8_t rshift[256];
    uint32_t start[256], rcp[256], bias[256], cmpl[256];
    uint32_t x[EKZ_LANES];
    size_t i, k, ns;
    uint8_t *p;

    if (order < 0 || order > 2 || blen > cap || ekz_check_freq(freq, start) != EKZ_OK ||
        (lanes != 0u && lanes != EKZ_LANES))
        return EKZ_EINVAL;
    for (k = 0; k < EKZ_LANES; k++)
        x[k] = EKZ_L;
    if (lanes && n > (size_t)order) {
        /* the extra bits' tail into the lanes' initial states (the decoder's final ones),
         * EKZ_LANE_TAIL bits a lane above L; the stored bits end before it */
        size_t total, r, b, from;
        ekz_lanes_tail(tok + order, n - (size_t)order, &total, &r);
        if (blen != (total + 7u) / 8u)
            return EKZ_EINVAL;
        from = total - r;
        for (b = 0; b < r; b++)
            x[b / EKZ_LANE_TAIL] += (uint32_t)((out[(from + b) >> 3] >> ((from + b) & 7u)) & 1u)
                                    << (b % EKZ_LANE_TAIL);
        blen = (from + 7u) / 8u;
        if (from & 7u)
            out[blen - 1u] &= (uint8_t)((1u << (from & 7u)) - 1u);
        *blenp = blen;
    }
    *wlen = 0;
    if (n <= (size_t)order)
        return EKZ_OK;
    /* x / f by a reciprocal (exact for x < 2^31, Alverson; the form of ryg's rans_byte):
     * q = x / f, and x' = q * M + x % f + start = x + bias + q * (M - f). */
    for (k = 0; k < 256u; k++) {
        uint32_t f = freq[k], shift = 0;
        if (f == 0)
            continue;
        cmpl[k] = EKZ_M - f;
        if (f < 2u) {
            rcp[k] = 0xffffffffu;
            rshift[k] = 0;
            bias[k] = start[k] + EKZ_M - 1u;
        } else {
            while (f > (1u << shift))
                shift++;
            rcp[k] = (uint32_t)((((uint64_t)1 << (shift + 31)) + f - 1u) / f);
            rshift[k] = (uint8_t)(shift - 1u);
            bias[k] = start[k];
        }
    }
    ns = lanes ? lanes : EKZ_NSTATES(n - (size_t)order);
    p = out + cap;
    i = n;
    if (cap - blen >= 2u * (n - (size_t)order) + 4u * ns + 2u) {
        /* room for every word: the unrolled loop, states in registers, no bounds checks,
         * a branch-free renormalization (two bytes are always stored below p, and kept
         * when the state emits them) */
        const uint8_t *tk = tok + order;
        size_t idx = n - (size_t)order;
        uint32_t x0, x1, x2, x3;
#define EKZ_RANS_STEP(X, I)                                                                  \
    do {                                                                                     \
        unsigned t_ = tk[I];                                                                 \
        uint32_t f_ = freq[t_], q_, e_;                                                      \
        if (f_ == 0)                                                                         \
            return EKZ_EINVAL;                                                               \
        e_ = (X) >= (f_ << 19);                                                              \
        p[-2] = (uint8_t)(X);                                                                \
        p[-1] = (uint8_t)((X) >> 8);                                                         \
        p -= (size_t)e_ << 1;                                                                \
        (X) >>= e_ << 4;                                                                     \
        q_ = (uint32_t)(((uint64_t)(X) * rcp[t_]) >> 32) >> rshift[t_];                      \
        (X) = (X) + bias[t_] + q_ * cmpl[t_];                                                \
    } while (0)
        if (ns == EKZ_LANES) { /* format v3: the lanes' states from memory (each is
                                 * touched every 16th code: no chain through them) */
            while (idx & (EKZ_LANES - 1u)) {
                idx--;
                EKZ_RANS_STEP(x[idx & (EKZ_LANES - 1u)], idx);
            }
#ifdef EKZ_LANES_SIMD
            if (idx && ekz_cpu_lanes()) {
                uint32_t pk[256];
                for (k = 0; k < 256u; k++) {
                    pk[k] = freq[k] ? freq[k] | bias[k] << 12 | (uint32_t)rshift[k] << 25 : 0;
                    rcp[k] = freq[k] ? rcp[k] : 0;
                }
                p = ekz_rans_lanes_avx512(tk, idx, x, pk, rcp, p);
                if (p == NULL)
                    return EKZ_EINVAL;
                idx = 0;
            }
#endif
            while (idx) {
                idx--;
                EKZ_RANS_STEP(x[idx & (EKZ_LANES - 1u)], idx);
            }
        } else if (ns == 1u) {
            x0 = x[0];
            while (idx) {
                idx--;
                EKZ_RANS_STEP(x0, idx);
            }
            x[0] = x0;
        } else {
            while (idx & 3u) {
                idx--;
                EKZ_RANS_STEP(x[idx & 3u], idx);
            }
            x0 = x[0];
            x1 = x[1];
            x2 = x[2];
            x3 = x[3];
            while (idx) {
                idx -= 4;
                EKZ_RANS_STEP(x3, idx + 3u);
                EKZ_RANS_STEP(x2, idx + 2u);
                EKZ_RANS_STEP(x1, idx + 1u);
                EKZ_RANS_STEP(x0, idx);
            }
            x[0] = x0;
            x[1] = x1;
            x[2] = x2;
            x[3] = x3;
        }
#undef EKZ_RANS_STEP
        i = (size_t)order; /* done: the flush below */
    }
    for (; i-- > (size_t)order;) {
        uint32_t *xs = &x[(i - (size_t)order) & (ns - 1u)];
        unsigned t = tok[i];
        uint32_t q;
        if (freq[t] == 0)
            return EKZ_EINVAL;
        if (*xs >= ((uint32_t)freq[t] << 19)) {
            if ((size_t)(p - out) < blen + 2u)
                return EKZ_ENOSPC;
            p -= 2;
            p[0] = (uint8_t)*xs;
            p[1] = (uint8_t)(*xs >> 8);
            *xs >>= 16;
        }
        q = (uint32_t)(((uint64_t)*xs * rcp[t]) >> 32) >> rshift[t];
        *xs = *xs + bias[t] + q * cmpl[t];
    }
    if ((size_t)(p - out) < blen + 4u * ns)
        return EKZ_ENOSPC;
    for (k = ns; k-- > 0;) {
        p -= 4;
        p[0] = (uint8_t)x[k];
        p[1] = (uint8_t)(x[k] >> 8);
        p[2] = (uint8_t)(x[k] >> 16);
        p[3] = (uint8_t)(x[k] >> 24);
    }
    *wlen = (size_t)(out + cap - p);
    memmove(out + blen, p, *wlen);
    return EKZ_OK;
}

/* Both passes (the stream codes the values i >= order; the first `order` values of j are
 * stored by the caller; four rANS states take turns, value i using state (i - order) % 4). */
int ekz_encode(const uint64_t *j, size_t n, int order, const uint16_t *freq, int single,
               uint8_t *tok, uint8_t *out, size_t cap, size_t *lens)
{
    uint32_t hist[256];
    size_t i;
    int rc;
    if (order < 0 || order > 2 || single > 255)
        return EKZ_EINVAL;
    memset(hist, 0, sizeof hist);
    rc = ekz_tokenize(j, n, order, tok, out, cap, hist, &lens[1]);
    if (rc != EKZ_OK)
        return rc;
    lens[0] = 0;
    if (single >= 0) {
        for (i = 0; i < 256u; i++)
            if (hist[i] && i != (size_t)single)
                return EKZ_EINVAL;
        return EKZ_OK;
    }
    return ekz_rans(tok, n, order, freq, out, cap, lens[1], &lens[0]);
}

static inline uint32_t ekz_ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* ------------------------------------------------------------------ stream decoder
 *
 * A stream is decoded in chunks of EKZ_CHUNK codes, each in three passes that keep their
 * data in L1: (A) the rANS states give the chunk's tokens (four interleaved states, a
 * branch-free renormalisation: the loads of the next words do not wait on a guess);
 * (B) each token's extra bits are read at a running bit position (one unaligned 64-bit
 * load per code, no refill branch), unzigzagged and summed back to j (delta order 0..2);
 * (C) the chunk's j go to the sink: the output dtype itself (integers, float bits, floats
 * from the value table, residuals added to floats), with no uint64 array in between.
 * Every read is bounds-checked per chunk: pass A reads words branch-free only while the
 * chunk cannot run out of them (a code takes at most one 16-bit word), pass B reads bits
 * straight from the stream only while the chunk cannot pass its end (a code takes at most
 * EKZ_MAXNB bits) and from a zero-padded copy of the stream's tail after that. */

#define EKZ_MAXNB 61u                                   /* extra bits of token 255 */
#define EKZ_TAILB (EKZ_CHUNK * EKZ_MAXNB / 8u + 16u)    /* bytes a chunk may read */

static inline uint32_t ekz_ld16(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t v; /* one load (compilers do not always merge the two byte loads) */
    memcpy(&v, p, 2);
    return v;
#else
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
#endif
}

typedef struct {
    /* per slot of the rANS state: frequency, slot - start of its token, token (three
     * arrays: each is a load of its own, no shift or mask on the state's critical path) */
    uint16_t f[EKZ_M];
    uint16_t b[EKZ_M];
    uint8_t t[EKZ_M];
    /* format v3's lanes (the SIMD decoder): token | (slot - start) << 8 | frequency << 20,
     * one 32-bit gather a lane */
    uint32_t e[EKZ_M];
} ekz_dtab;

/* where decoded values go (see EKZ_SINK_* in compress.h) */
typedef struct ekz_pred_s ekz_pred;
typedef struct {
    int kind;
    void *out;
    uint64_t g, off;
    const void *tab;
    uint64_t lo, span;
    int mode; /* EKZ_SINK_Q*: y = k / p (mode 0) or a + k * b (1), as ekz_dequant_* */
    double p, a, b;
    const ekz_pred *pred; /* EKZ_SINK_P */
} ekz_sink;

/* format v2's predictor as a sink (EKZ_SINK_P): the values are the residuals of j[at + 1..]
 * (j[0] is stored apart), turned into j[] by the recurrence and passed on to `inner` */
struct ekz_pred_s {
    uint64_t *j; /* the block's j: the recurrence's history */
    const uint32_t *lags;
    const uint64_t *c;
    int nterms, shift;
    const ekz_sink *inner;
    /* format v3, lanes (EKZ_SINK_PL): j is the interleaved layout jt[k nl + m]; nl lanes of
     * seg values (the last one `last`); `done` steps have their values, the first
     * `flushed` of them went to `inner` */
    size_t nl, seg, last, done, flushed;
    ekz2_out o8; /* eight lanes: `inner` for ekz2_lanes_out8 (kind 0: it has none) */
    /* eight lanes, dense lags 1..12, AVX-512: the recurrence may run inside the kind-4
     * loop (ekz_lanes_fuse_at); hist_ok: the last steps done all fit int32 */
    int fuse, hist_ok;
};

/* sinks of the block decoder only: the dequantize formula (ekz_dequant_*) per value, for a
 * decimal or affine block without a value table */
#define EKZ_SINK_Q64 12
#define EKZ_SINK_Q32 13
/* format v2: the predictor (see ekz_pred), and the dictionary's gather out[i] = tab[j]
 * (items of 1, 2, 4, 8 bytes; span = the table's length, -1 when j is past it) */
#define EKZ_SINK_P 14
#define EKZ_SINK_G8 15
#define EKZ_SINK_G16 16
#define EKZ_SINK_G32 17
#define EKZ_SINK_G64 18
/* format v3: a predictor with lanes (ekz_lanes_put) */
#define EKZ_SINK_PL 19
/* an F32 block decoded straight into float64 (ekz_blk_body's wide32): the float32 residual
 * of R32 on a value stored widened (narrowed exactly, the sum widened as the F32 block's
 * values are) */
#define EKZ_SINK_R32W 20

/* k as a double: exact, by the 1.5 * 2^52 trick for |k| < 2^51 (a loop of these
 * vectorizes; int64 -> double does not before AVX-512) */
static inline double ekz_i2d(uint64_t k)
{
    uint64_t u = k + 0x4338000000000000u;
    double d;
    memcpy(&d, &u, 8);
    return d - 6755399441055744.0;
}

/* the dequantize formula over a chunk: k = off + g j as int64, y = k / p or a + k b
 * (double, no contraction), rounded to T */
#define EKZ_Q_LOOP(T)                                                                        \
    do {                                                                                     \
        T *o = (T *)s->out + at;                                                             \
        uint64_t k_[EKZ_CHUNK], far = 0;                                                     \
        const double p_ = s->p, a_ = s->a, b_ = s->b;                                        \
        if (g == 1u) { /* (no 64-bit multiply: SSE2 has none) */                              \
            for (i = 0; i < cnt; i++) {                                                      \
                k_[i] = off + j[i];                                                          \
                far |= (k_[i] + ((uint64_t)1 << 51)) >> 52; /* outside (-2^51, 2^51) */      \
            }                                                                                \
        } else {                                                                             \
            for (i = 0; i < cnt; i++) {                                                      \
                k_[i] = off + g * j[i];                                                      \
                far |= (k_[i] + ((uint64_t)1 << 51)) >> 52;                                  \
            }                                                                                \
        }                                                                                    \
        if (far) {                                                                           \
            for (i = 0; i < cnt; i++) {                                                      \
                int64_t ks;                                                                  \
                memcpy(&ks, &k_[i], 8);                                                      \
                o[i] = (T)(s->mode == 0 ? (double)ks / p_ : a_ + (double)ks * b_);          \
            }                                                                                \
        } else if (s->mode == 0) {                                                           \
            for (i = 0; i < cnt; i++)                                                        \
                o[i] = (T)(ekz_i2d(k_[i]) / p_);                                             \
        } else {                                                                             \
            for (i = 0; i < cnt; i++)                                                        \
                o[i] = (T)(a_ + ekz_i2d(k_[i]) * b_);                                        \
        }                                                                                    \
    } while (0)

static inline uint16_t ekz_unsort16(uint16_t u) { return (uint16_t)(u ^ ((uint16_t)(0u - (u >> 15)) >> 1)); }
static inline uint32_t ekz_flip32(uint32_t u) { return u ^ ((0u - (u >> 31)) >> 1); }
static inline uint64_t ekz_flip64(uint64_t u) { return u ^ ((0u - (u >> 63)) >> 1); }

/* k = off + g j truncated to T (no 64-bit multiply without a common step: SSE2 has none) */
#define EKZ_INT_SINK(T)                                                                      \
    do {                                                                                     \
        T *o = (T *)s->out + at;                                                             \
        if (g == 1u)                                                                         \
            for (i = 0; i < cnt; i++)                                                        \
                o[i] = (T)(off + j[i]);                                                      \
        else                                                                                 \
            for (i = 0; i < cnt; i++)                                                        \
                o[i] = (T)(off + g * j[i]);                                                  \
        return 0;                                                                            \
    } while (0)

#define EKZ_GATHER_SINK(T)                                                                   \
    do {                                                                                     \
        T *o = (T *)s->out + at;                                                             \
        const T *tb = (const T *)s->tab;                                                     \
        const uint64_t len = s->span;                                                        \
        for (i = 0; i < cnt; i++) {                                                          \
            uint64_t ix = j[i];                                                              \
            bad |= (uint64_t)(ix >= len);                                                    \
            o[i] = tb[ix < len ? ix : 0u];                                                   \
        }                                                                                    \
        return bad ? -1 : 0;                                                                 \
    } while (0)

static int ekz_sink_put(const ekz_sink *s, const uint64_t *j, size_t at, size_t cnt);

/* format v3 lanes: the values of the steps [flushed, upto) of every lane to the inner sink,
 * lane by lane through a small buffer (the steps' part of jt stays in L1) */
#define EKZ_LANE_FLUSH EKZ_CHUNK /* (a sink takes at most EKZ_CHUNK values a call) */
static int ekz_lanes_flush(ekz_pred *pr, size_t upto)
{
    uint64_t buf[8u * EKZ_LANE_FLUSH];
    const size_t nl = pr->nl;
    if (pr->o8.kind) { /* eight lanes' whole steps straight into the sink, where it can */
        const size_t k0 = pr->flushed, k1 = upto < pr->last ? upto : pr->last;
        const size_t cnt = k1 > k0 ? (k1 - k0) & ~(size_t)7u : 0u;
        int rc = cnt ? ekz2_lanes_out8(pr->j, k0, cnt, pr->seg, &pr->o8) : 1;
        if (rc < 0)
            return -1;
        if (rc == 0)
            pr->flushed = k0 + cnt;
    }
    while (pr->flushed < upto) {
        const size_t k0 = pr->flushed;
        const size_t k1 = upto - k0 < EKZ_LANE_FLUSH ? upto : k0 + EKZ_LANE_FLUSH;
        for (size_t m0 = 0; m0 < nl; m0 += 8u) { /* eight lanes at a time */
            const size_t nm = nl - m0 < 8u ? nl - m0 : 8u;
            if (nm == 8u && nl == 8u)
                ekz2_lanes_gather(pr->j, 8u, k0, k1 - k0, buf, EKZ_LANE_FLUSH);
            else
                for (size_t m = 0; m < nm; m++)
                    for (size_t k = k0; k < k1; k++)
                        buf[m * EKZ_LANE_FLUSH + k - k0] = pr->j[k * nl + m0 + m];
            for (size_t m = 0; m < nm; m++) {
                const size_t len = m0 + m + 1u < nl ? pr->seg : pr->last;
                const size_t end = k1 < len ? k1 : len;
                if (end > k0 &&
                    ekz_sink_put(pr->inner, buf + m * EKZ_LANE_FLUSH, (m0 + m) * pr->seg + k0,
                                 end - k0))
                    return -1;
            }
        }
        pr->flushed = k1;
    }
    return 0;
}

/* the inner sink as ekz2_lanes_out8 takes it (o->kind 0: a sink it does not write) */
static void ekz_out8_of(const ekz_sink *s, ekz2_out *o)
{
    static const unsigned char w[EKZ_SINK_G64 + 1] = {
        [EKZ_SINK_J] = 8, [EKZ_SINK_I8] = 1, [EKZ_SINK_I16] = 2, [EKZ_SINK_I32] = 4,
        [EKZ_SINK_I64] = 8, [EKZ_SINK_B16] = 2, [EKZ_SINK_B32] = 4, [EKZ_SINK_B64] = 8,
        [EKZ_SINK_Q64] = 8, [EKZ_SINK_Q32] = 4, [EKZ_SINK_G32] = 4, [EKZ_SINK_G64] = 8};
    memset(o, 0, sizeof *o);
    if (s->kind < 0 || s->kind > EKZ_SINK_G64 || !w[s->kind])
        return;
    o->width = w[s->kind];
    o->out = s->out;
    o->g = s->g;
    o->off = s->off;
    switch (s->kind) {
    case EKZ_SINK_J:
        o->g = 1;
        o->off = 0;
        /* fall through */
    case EKZ_SINK_I8:
    case EKZ_SINK_I16:
    case EKZ_SINK_I32:
    case EKZ_SINK_I64:
        o->kind = EKZ2_OUT_INT;
        break;
    case EKZ_SINK_B16:
    case EKZ_SINK_B32:
    case EKZ_SINK_B64:
        o->kind = EKZ2_OUT_BITS;
        break;
    case EKZ_SINK_Q64:
    case EKZ_SINK_Q32:
        o->kind = EKZ2_OUT_Q;
        o->mode = s->mode;
        o->p = s->p;
        o->a = s->a;
        o->b = s->b;
        break;
    default: /* EKZ_SINK_G32, G64: out[i] = tab[j] */
        o->kind = EKZ2_OUT_GATHER;
        o->g = 1;
        o->off = 0;
        o->tab = s->tab;
        o->span = s->span;
        break;
    }
}

/* format v3 lanes as a sink: residuals at..at+cnt of the interleaved stream into jt, the
 * recurrence over the steps they complete, and every EKZ_LANE_FLUSH steps the values out */
static int ekz_lanes_run(ekz_pred *pr, size_t ready)
{
    if (ready > pr->done) {
#ifdef EKZ_PROFILE_NO_RECURRENCE
        (void)0; /* profiling build: the residuals pass through as the values */
#else
        ekz2_lanes_run(pr->j, pr->nl, pr->done, ready, pr->lags, pr->c, pr->nterms,
                       pr->shift);
#endif
        pr->done = ready;
        pr->hist_ok = 0; /* (ekz_lanes_fuse_at checks the steps before `done` again) */
    }
    return ekz_lanes_flush(pr, ready);
}

static int ekz_lanes_put(const ekz_pred *cpr, const uint64_t *r, size_t at, size_t cnt)
{
    ekz_pred *pr = (ekz_pred *)(uintptr_t)cpr; /* the sink's state */
    size_t ready;
    ekz2_lanes_put(pr->j, pr->nl, pr->last, at, r, cnt);
    ready = ekz2_lanes_ready(pr->nl, pr->last, at + cnt);
    /* the recurrence and the values out EKZ_LANE_FLUSH steps at a time (a call's set-up
     * over 2,048 values; those steps of jt, 16 KB, stay in L1 from one to the other) */
    if (ready - pr->done >= EKZ_LANE_FLUSH)
        return ekz_lanes_run(pr, ready - (ready - pr->done) % EKZ_LANE_FLUSH);
    return 0;
}

#ifdef EKZ_LANES_SIMD
/* Whether the kind-4 chunk of codes k0..k0+cnt (a full chunk) may run the lanes' recurrence
 * as it decodes (ekz_lanes_rec_avx512): the chunk lies in the steps every lane has, past
 * the warm-up, and the steps it reads fit int32.  Runs the recurrence up to the chunk
 * first (the residuals before it are in jt).  Returns the chunk's first row of jt, or
 * NULL: the chunk goes to the sink as before. */
static uint64_t *ekz_lanes_fuse_at(ekz_pred *pr, size_t k0, size_t cnt)
{
    const size_t step0 = 1u + k0 / 8u, maxlag = (size_t)pr->nterms;
    if (!pr->fuse || cnt != EKZ_CHUNK || k0 % 8u || k0 + cnt > 8u * (pr->last - 1u) ||
        step0 < maxlag)
        return NULL;
    if (pr->done < step0) {
        ekz2_lanes_run(pr->j, 8u, pr->done, step0, pr->lags, pr->c, pr->nterms, pr->shift);
        pr->done = step0;
        pr->hist_ok = 0;
    }
    if (!pr->hist_ok) {
        for (size_t i = 8u * (step0 - maxlag); i < 8u * step0; i++)
            if (pr->j[i] + ((uint64_t)1 << 31) >= ((uint64_t)1 << 32))
                return NULL;
        pr->hist_ok = 1;
    }
    return pr->j + 8u * step0;
}
#endif

/* after a fused chunk (ekz_lanes_fuse_at) whose recurrence completed d = rec / 2 of its
 * steps (the rows after hold residuals), every value in int32 if rec is odd: the values out
 * every EKZ_LANE_FLUSH steps, as ekz_lanes_put does */
static int ekz_lanes_fused(ekz_pred *pr, size_t k0, size_t cnt, size_t rec)
{
    const size_t step0 = 1u + k0 / 8u, ready = step0 + cnt / 8u;
    pr->done = step0 + rec / 2u;
    pr->hist_ok = (int)(rec & 1u);
    if (pr->done == ready)
        return ready - pr->flushed >= EKZ_LANE_FLUSH ? ekz_lanes_flush(pr, ready) : 0;
    if (ready - pr->done >= EKZ_LANE_FLUSH)
        return ekz_lanes_run(pr, ready - (ready - pr->done) % EKZ_LANE_FLUSH);
    return 0;
}

/* pass C: j[0..cnt) -> positions at..at+cnt of the sink; -1 if a j is outside the value
 * table (corrupt data).  Compiled twice (ekz_sink_put below): for the baseline and, where
 * the lanes decoder's AVX-512 is there, with it (the loops are the same C, vectorized
 * wider; no contraction either way, so the same bits) */
static inline __attribute__((always_inline)) int
ekz_sink_any(const ekz_sink *s, const uint64_t *j, size_t at, size_t cnt)
{
    size_t i;
    const uint64_t g = s->g, off = s->off;
    uint64_t bad = 0;
    switch (s->kind) {
    case EKZ_SINK_J:
        memcpy((uint64_t *)s->out + at, j, cnt * sizeof *j);
        return 0;
    case EKZ_SINK_I8:
        EKZ_INT_SINK(uint8_t);
    case EKZ_SINK_I16:
        EKZ_INT_SINK(uint16_t);
    case EKZ_SINK_I32:
        EKZ_INT_SINK(uint32_t);
    case EKZ_SINK_I64:
        EKZ_INT_SINK(uint64_t);
    case EKZ_SINK_B16: {
        uint16_t *o = (uint16_t *)s->out + at;
        for (i = 0; i < cnt; i++)
            o[i] = ekz_unsort16((uint16_t)(off + g * j[i]));
        return 0;
    }
    case EKZ_SINK_B32: {
        uint32_t *o = (uint32_t *)s->out + at;
        for (i = 0; i < cnt; i++)
            o[i] = ekz_flip32((uint32_t)(off + g * j[i]));
        return 0;
    }
    case EKZ_SINK_B64: {
        uint64_t *o = (uint64_t *)s->out + at;
        for (i = 0; i < cnt; i++)
            o[i] = ekz_flip64(off + g * j[i]);
        return 0;
    }
    case EKZ_SINK_T64: {
        double *o = (double *)s->out + at;
        const double *tab = (const double *)s->tab;
        for (i = 0; i < cnt; i++) {
            uint64_t ix = j[i] - s->lo;
            bad |= (uint64_t)(ix > s->span);
            o[i] = tab[ix > s->span ? 0u : ix];
        }
        return bad ? -1 : 0;
    }
    case EKZ_SINK_T32: {
        float *o = (float *)s->out + at;
        const float *tab = (const float *)s->tab;
        for (i = 0; i < cnt; i++) {
            uint64_t ix = j[i] - s->lo;
            bad |= (uint64_t)(ix > s->span);
            o[i] = tab[ix > s->span ? 0u : ix];
        }
        return bad ? -1 : 0;
    }
    case EKZ_SINK_R64: { /* float64 bits: unsortable(sortable(y) + r) (r = 0: y itself) */
        uint64_t *o = (uint64_t *)s->out + at;
        for (i = 0; i < cnt; i++)
            o[i] = ekz_flip64(ekz_flip64(o[i]) + j[i]);
        return 0;
    }
    case EKZ_SINK_R32: { /* the low 32 bits of the sign-extended sum are the 32-bit sum */
        uint32_t *o = (uint32_t *)s->out + at;
        for (i = 0; i < cnt; i++)
            o[i] = ekz_flip32(ekz_flip32(o[i]) + (uint32_t)j[i]);
        return 0;
    }
    case EKZ_SINK_R32W: {
        double *o = (double *)s->out + at;
        for (i = 0; i < cnt; i++) {
            float f = (float)o[i];
            uint32_t u;
            memcpy(&u, &f, 4);
            u = ekz_flip32(ekz_flip32(u) + (uint32_t)j[i]);
            memcpy(&f, &u, 4);
            o[i] = (double)f;
        }
        return 0;
    }
    case EKZ_SINK_Q64:
        EKZ_Q_LOOP(double);
        return 0;
    case EKZ_SINK_Q32:
        EKZ_Q_LOOP(float);
        return 0;
    case EKZ_SINK_P: {
        const ekz_pred *pr = s->pred;
#ifdef EKZ_PROFILE_NO_RECURRENCE
        /* a profiling build only (tools/compress_decode_profile.py): the residuals pass
         * through as the values, so a decode times everything but the recurrence (its
         * values are wrong) */
        memcpy(pr->j + at + 1u, j, cnt * sizeof *j);
        return ekz_sink_put(pr->inner, pr->j + at + 1u, at + 1u, cnt);
#endif
        ekz2_unpredict_span(pr->j, j, at + 1u, at + 1u + cnt, pr->lags, pr->c, pr->nterms,
                            pr->shift);
        return ekz_sink_put(pr->inner, pr->j + at + 1u, at + 1u, cnt);
    }
    case EKZ_SINK_PL:
        return ekz_lanes_put(s->pred, j, at, cnt);
    case EKZ_SINK_G8:
        EKZ_GATHER_SINK(uint8_t);
    case EKZ_SINK_G16:
        EKZ_GATHER_SINK(uint16_t);
    case EKZ_SINK_G32:
        EKZ_GATHER_SINK(uint32_t);
    case EKZ_SINK_G64:
        EKZ_GATHER_SINK(uint64_t);
    default:
        return -2;
    }
}

#ifdef EKZ_LANES_SIMD
/* the value-table sinks (T64, T32) as 8-index gathers (GCC does not vectorize the scalar
 * loop's bounds check); an index outside the table reads entry 0 and fails the block */
EKZ_LANES_TARGET static int ekz_tab_simd(const ekz_sink *s, const uint64_t *j, size_t at,
                                         size_t cnt)
{
    const __m512i lo = _mm512_set1_epi64((long long)s->lo),
                  span = _mm512_set1_epi64((long long)s->span);
    __mmask8 bad = 0;
    uint64_t bad1 = 0;
    size_t i = 0;
    if (s->kind == EKZ_SINK_T64) {
        double *o = (double *)s->out + at;
        const double *tab = (const double *)s->tab;
        for (; i + 8u <= cnt; i += 8u) {
            const __m512i ix = _mm512_sub_epi64(_mm512_loadu_si512((const void *)(j + i)), lo);
            const __mmask8 b = _mm512_cmpgt_epu64_mask(ix, span);
            bad |= b;
            _mm512_storeu_pd(o + i, _mm512_mask_i64gather_pd(_mm512_setzero_pd(),
                                                             (__mmask8)~b, ix, tab, 8));
        }
        for (; i < cnt; i++) {
            const uint64_t ix = j[i] - s->lo;
            bad1 |= (uint64_t)(ix > s->span);
            o[i] = tab[ix > s->span ? 0u : ix];
        }
    } else {
        float *o = (float *)s->out + at;
        const float *tab = (const float *)s->tab;
        for (; i + 8u <= cnt; i += 8u) {
            const __m512i ix = _mm512_sub_epi64(_mm512_loadu_si512((const void *)(j + i)), lo);
            const __mmask8 b = _mm512_cmpgt_epu64_mask(ix, span);
            bad |= b;
            _mm256_storeu_ps(o + i, _mm512_mask_i64gather_ps(_mm256_setzero_ps(),
                                                             (__mmask8)~b, ix, tab, 4));
        }
        for (; i < cnt; i++) {
            const uint64_t ix = j[i] - s->lo;
            bad1 |= (uint64_t)(ix > s->span);
            o[i] = tab[ix > s->span ? 0u : ix];
        }
    }
    return (bad || bad1) ? -1 : 0;
}

/* an F32 block's float32 values widened (as the scalar conversion: a signalling NaN comes
 * out quiet either way) */
EKZ_LANES_TARGET static void ekz_widen_simd(const float *f, double *o, size_t n)
{
    size_t i = 0;
    for (; i + 8u <= n; i += 8u)
        _mm512_storeu_pd(o + i, _mm512_cvtps_pd(_mm256_loadu_ps(f + i)));
    for (; i < n; i++)
        o[i] = (double)f[i];
}

/* the decimal sink k / p (EKZ_SINK_Q64 / Q32, mode 0) with ekz_div_pd's division: the bits
 * of (double)k / p, the formula of ekz_sink_any for every k (its exact ekz_i2d(k) is the
 * same double below 2^51), without vdivpd (two thirds of the sink's time) */
EKZ_LANES_TARGET static void ekz_q_simd(const ekz_sink *s, const uint64_t *j, size_t at,
                                        size_t cnt)
{
    const __m512i gv = _mm512_set1_epi64((long long)s->g);
    const __m512i ov = _mm512_set1_epi64((long long)s->off);
    const __m512d pv = _mm512_set1_pd(s->p), yv = _mm512_set1_pd(1.0 / s->p);
    for (size_t i = 0; i < cnt; i += 8u) {
        const __mmask8 m = cnt - i >= 8u ? (__mmask8)0xff : (__mmask8)((1u << (cnt - i)) - 1u);
        const __m512i k = _mm512_add_epi64(
            ov, _mm512_mullo_epi64(_mm512_maskz_loadu_epi64(m, j + i), gv));
        const __m512d y = ekz_div_pd(_mm512_cvtepi64_pd(k), pv, yv);
        if (s->kind == EKZ_SINK_Q64)
            _mm512_mask_storeu_pd((double *)s->out + at + i, m, y);
        else
            _mm256_mask_storeu_ps((float *)s->out + at + i, m, _mm512_cvtpd_ps(y));
    }
}

EKZ_LANES_TARGET static int ekz_sink_simd(const ekz_sink *s, const uint64_t *j, size_t at,
                                          size_t cnt)
{
    if (s->kind == EKZ_SINK_T64 || s->kind == EKZ_SINK_T32)
        return ekz_tab_simd(s, j, at, cnt);
    if ((s->kind == EKZ_SINK_Q64 || s->kind == EKZ_SINK_Q32) && s->mode == 0 &&
        EKZ_DIV_OK(s->p)) {
        ekz_q_simd(s, j, at, cnt);
        return 0;
    }
    return ekz_sink_any(s, j, at, cnt);
}
#endif

static int ekz_sink_put(const ekz_sink *s, const uint64_t *j, size_t at, size_t cnt)
{
#ifdef EKZ_LANES_SIMD
    /* (not the dictionary's gathers: GCC's AVX-512 gather of them was 5-8 % slower on
     * goes15 than the scalar loads) */
    if ((s->kind < EKZ_SINK_G8 || s->kind > EKZ_SINK_G64) && ekz_cpu_lanes())
        return ekz_sink_simd(s, j, at, cnt);
#endif
    return ekz_sink_any(s, j, at, cnt);
}
#undef EKZ_GATHER_SINK
#undef EKZ_Q_LOOP
#undef EKZ_INT_SINK

/* one rANS step of state X, branch-free renormalisation (the caller guarantees 2 readable
 * bytes at wp) */
/* One rANS step of state X (token to T), with a branch-free renormalisation: whether a
 * code takes a word is random (about one code in three), and a mispredicted branch costs
 * more than the whole step.  wi counts the words taken since wp (the caller guarantees
 * two readable bytes at wp + 2 wi).  On x86-64 the select and the count are one compare,
 * a conditional move and an add-with-carry. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(EKZ_NO_ASM)
#define EKZ_RENORM(X, Y)                                                                     \
    __asm__("cmpl %[l], %[x]\n\tcmovb %[y], %[x]\n\tadcq $0, %[i]"                          \
            : [x] "+r"(X), [i] "+r"(wi)                                                      \
            : [y] "r"(Y), [l] "i"(EKZ_L)                                                     \
            : "cc")
#else
#define EKZ_RENORM(X, Y)                                                                     \
    do {                                                                                     \
        uint32_t nd_ = (X) < EKZ_L;                                                          \
        wi += nd_;                                                                           \
        (X) ^= ((X) ^ (Y)) & (0u - nd_);                                                     \
    } while (0)
#endif
#define EKZ_A_FAST(X, T)                                                                     \
    do {                                                                                     \
        uint32_t s_ = (X) & EKZ_MASK, q_ = (X) >> EKZ_PROB_BITS, f_ = tb->f[s_],            \
                 b_ = tb->b[s_], y_;                                                         \
        (T) = tb->t[s_];                                                                     \
        (X) = f_ * q_ + b_;                                                                  \
        y_ = ((X) << 16) | ekz_ld16(wp + 2u * wi);                                           \
        EKZ_RENORM(X, y_);                                                                   \
    } while (0)

/* pass B for code K of token T: its extra bits at bit position pos of bp, unzigzagged
 * and summed back (delta order ORDER) into jb[K] */
#define EKZ_B1(K, T, ORDER)                                                                  \
    do {                                                                                     \
        unsigned t_ = (T), nb_ = ekz_tok.nbits[t_];                                              \
        uint64_t e_ = ekz_ld64(bp + (pos >> 3)) >> (pos & 7u), v_;                           \
        if (!wide || nb_ <= 56u) { /* wide: the table has tokens of 57..61 extra bits */    \
            e_ &= ekz_tok.mask[t_];                                                          \
        } else {                                                                             \
            size_t p2_ = pos + 32u;                                                          \
            e_ = (e_ & 0xffffffffu) |                                                        \
                 (((ekz_ld64(bp + (p2_ >> 3)) >> (p2_ & 7u)) &                               \
                   (((uint64_t)1 << (nb_ - 32u)) - 1u)) << 32);                              \
        }                                                                                    \
        pos += nb_;                                                                          \
        v_ = ekz_unzz(ekz_tok.base[t_] + e_);                                                  \
        if ((ORDER) == 0) {                                                                  \
            jb[K] = v_;                                                                      \
        } else if ((ORDER) == 1) {                                                           \
            acc += v_;                                                                       \
            jb[K] = acc;                                                                     \
        } else {                                                                             \
            step += v_;                                                                      \
            acc += step;                                                                     \
            jb[K] = acc;                                                                     \
        }                                                                                    \
    } while (0)

/* pass B for codes FROM..cnt-1 of the chunk (tokens in tok[]) */
#define EKZ_B_FROM(FROM)                                                                     \
    for (k = (FROM); k < cnt; k++) {                                                         \
        if (order == 0)                                                                      \
            EKZ_B1(k, tok[k], 0);                                                            \
        else if (order == 1)                                                                 \
            EKZ_B1(k, tok[k], 1);                                                            \
        else                                                                                 \
            EKZ_B1(k, tok[k], 2);                                                            \
    }

#define EKZ_PASS_B(ORDER)                                                                    \
    for (k = 0; k < cnt; k++)                                                                \
        EKZ_B1(k, tok[k], ORDER);

/* LOOP(order) for the stream's delta order, without the wide-token test when the table has
 * no wide token */
#define EKZ_BY_ORDER3(LOOP)                                                                  \
    if (order == 0) {                                                                        \
        LOOP(0)                                                                              \
    } else if (order == 1) {                                                                 \
        LOOP(1)                                                                              \
    } else {                                                                                 \
        LOOP(2)                                                                              \
    }
#define EKZ_BY_ORDER(LOOP)                                                                   \
    do {                                                                                     \
        if (!wide_tab) {                                                                     \
            const int wide = 0;                                                              \
            EKZ_BY_ORDER3(LOOP)                                                              \
        } else {                                                                             \
            EKZ_BY_ORDER3(LOOP)                                                              \
        }                                                                                    \
    } while (0)

/* format v3's lanes without SIMD: the same, 16 states (cnt a multiple of 16) */
#define EKZ_A_B(X, K, ORDER)                                                                 \
    do {                                                                                     \
        unsigned t_b;                                                                        \
        EKZ_A_FAST(X, t_b);                                                                  \
        EKZ_B1(K, t_b, ORDER);                                                               \
    } while (0)
#define EKZ_FUSED16(ORDER)                                                                   \
    for (k = 0; k < cnt; k += 16) {                                                          \
        EKZ_A_B(x0, k, ORDER);                                                               \
        EKZ_A_B(x1, k + 1, ORDER);                                                           \
        EKZ_A_B(x2, k + 2, ORDER);                                                           \
        EKZ_A_B(x3, k + 3, ORDER);                                                           \
        EKZ_A_B(x4, k + 4, ORDER);                                                           \
        EKZ_A_B(x5, k + 5, ORDER);                                                           \
        EKZ_A_B(x6, k + 6, ORDER);                                                           \
        EKZ_A_B(x7, k + 7, ORDER);                                                           \
        EKZ_A_B(x8, k + 8, ORDER);                                                           \
        EKZ_A_B(x9, k + 9, ORDER);                                                           \
        EKZ_A_B(x10, k + 10, ORDER);                                                         \
        EKZ_A_B(x11, k + 11, ORDER);                                                         \
        EKZ_A_B(x12, k + 12, ORDER);                                                         \
        EKZ_A_B(x13, k + 13, ORDER);                                                         \
        EKZ_A_B(x14, k + 14, ORDER);                                                         \
        EKZ_A_B(x15, k + 15, ORDER);                                                         \
    }

/* passes A and B in one loop (four states, a full chunk, words and bits in reach): the
 * extra-bit work fills the cycles the rANS states wait on their table loads */
#define EKZ_FUSED(ORDER)                                                                     \
    for (k = 0; k < cnt4; k += 4) {                                                          \
        unsigned t0;                                                                         \
        EKZ_A_FAST(x0, t0);                                                                  \
        EKZ_B1(k, t0, ORDER);                                                                \
        EKZ_A_FAST(x1, t0);                                                                  \
        EKZ_B1(k + 1, t0, ORDER);                                                            \
        EKZ_A_FAST(x2, t0);                                                                  \
        EKZ_B1(k + 2, t0, ORDER);                                                            \
        EKZ_A_FAST(x3, t0);                                                                  \
        EKZ_B1(k + 3, t0, ORDER);                                                            \
    }

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(EKZ_NO_AVX512) && \
    !defined(EKZ_NO_FUSED)
#include <immintrin.h>
#define EKZ_PRED_FUSED 1
/* One step of format v2's dense recurrence (lags 1..P, 5 <= P <= 12), as
 * ekz2_unpred_dense_avx512: value jr[K] from the residual er[K], the terms of lags 1..4 in
 * registers (p1..p4 = the four values before it), the rest in the eight-lane accumulator A. */
#define EKZ_REC1(K)                                                                          \
    do {                                                                                     \
        uint64_t s_ = (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(A));                \
        s_ += c3 * p4;                                                                       \
        s_ += c2 * p3;                                                                       \
        s_ += c1 * p2;                                                                       \
        s_ += c0 * p1;                                                                       \
        A = _mm512_add_epi64(_mm512_alignr_epi64(Z, A, 1),                                   \
                             _mm512_mullo_epi64(C, _mm512_set1_epi64((long long)p4)));       \
        p4 = p3;                                                                             \
        p3 = p2;                                                                             \
        p2 = p1;                                                                             \
        p1 = (uint64_t)((int64_t)s_ >> shift) + er[K];                                       \
        jr[K] = p1;                                                                          \
    } while (0)

/* The main part of a predictor block's residual stream (order 0, four rANS states, no wide
 * token, a dense predictor of 5..12 terms) with the recurrence of each chunk run in the
 * loop that entropy-decodes the NEXT chunk: the recurrence is one serial chain of about
 * five cycles a value and the rANS states plus extra bits are throughput-bound work that
 * does not depend on it, so the out-of-order core runs both at once (in separate loops
 * they add up).  Decodes whole chunks while the words and bits of a chunk are in reach
 * (tailb: the bytes of extra bits a chunk may span, plus the 8 a read loads), runs every
 * decoded chunk through the recurrence and the predictor's inner sink, and returns the
 * number of codes done (a multiple of EKZ_CHUNK; the caller goes on from there), or -1
 * when the inner sink finds corrupt data.  The same bits as the chunk-by-chunk path. */
__attribute__((target("avx512f,avx512dq,bmi2"))) static long
ekz_pred_fused(uint32_t *x, const uint8_t **wpp, const uint8_t *wend, const uint8_t *bp,
               size_t *posp, size_t avail, size_t tailb, size_t ncodes, const ekz_dtab *tb,
               const ekz_sink *s)
{
    uint64_t buf[2][EKZ_CHUNK];
    const ekz_pred *pr = s->pred;
    const uint64_t c0 = pr->c[0], c1 = pr->c[1], c2 = pr->c[2], c3 = pr->c[3];
    const int shift = pr->shift, nterms = pr->nterms, wide = 0;
    const size_t L = pr->lags[nterms - 1];
    const __m512i Z = _mm512_setzero_si512();
    const uint8_t *wp = *wpp;
    uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    size_t pos = *posp, k0 = 0, k, pend = 0; /* pend: first j position of the pending chunk */
    unsigned cur = 0;
    uint64_t acc = 0, step = 0;
    (void)acc;
    (void)step;
    while (ncodes - k0 >= EKZ_CHUNK && (pos >> 3) + tailb <= avail &&
           (size_t)(wend - wp) >= 2u * EKZ_CHUNK) {
        uint64_t *jb = buf[cur];
        size_t wi = 0;
        if (pend) {
            uint64_t init[8], cv[8], *jr = pr->j + pend;
            const uint64_t *er = buf[cur ^ 1u];
            uint64_t p1 = jr[-1], p2 = jr[-2], p3 = jr[-3], p4 = jr[-4];
            __m512i A, C;
            ekz2_dense_init(pr->j, pend, pr->c, nterms, init, cv);
            A = _mm512_loadu_si512((const void *)init);
            C = _mm512_loadu_si512((const void *)cv);
            for (k = 0; k < EKZ_CHUNK; k += 4) {
                unsigned t0;
                EKZ_A_FAST(x0, t0);
                EKZ_B1(k, t0, 0);
                EKZ_REC1(k);
                EKZ_A_FAST(x1, t0);
                EKZ_B1(k + 1, t0, 0);
                EKZ_REC1(k + 1);
                EKZ_A_FAST(x2, t0);
                EKZ_B1(k + 2, t0, 0);
                EKZ_REC1(k + 2);
                EKZ_A_FAST(x3, t0);
                EKZ_B1(k + 3, t0, 0);
                EKZ_REC1(k + 3);
            }
            if (ekz_sink_put(pr->inner, jr, pend, EKZ_CHUNK))
                return -1;
            pend = 0;
        } else {
            const size_t cnt4 = EKZ_CHUNK;
            EKZ_FUSED(0)
        }
        wp += 2u * wi;
        if (k0 + 1u >= L) { /* past the warm-up: its recurrence runs with the next chunk */
            pend = k0 + 1u;
            cur ^= 1u;
        } else if (ekz_sink_put(s, jb, k0, EKZ_CHUNK)) {
            return -1;
        }
        k0 += EKZ_CHUNK;
    }
    if (pend) {
        ekz2_unpredict_span(pr->j, buf[cur ^ 1u], pend, pend + EKZ_CHUNK, pr->lags, pr->c,
                            nterms, shift);
        if (ekz_sink_put(pr->inner, pr->j + pend, pend, EKZ_CHUNK))
            return -1;
    }
    x[0] = x0;
    x[1] = x1;
    x[2] = x2;
    x[3] = x3;
    *wpp = wp;
    *posp = pos;
    return (long)k0;
}
#undef EKZ_REC1
#endif

/* ------------------------------------------------------------------ format v3: lanes
 *
 * A kind-4 stream has EKZ_LANES (16) rANS states, code i on state i % 16, its words in the
 * order the states take them: the rule of kind 1, with 16 states.  16 states make the
 * states independent of each other for 16 codes, so a 512-bit decoder steps all of them at
 * once: one gather of the slots' table entries, one multiply, one compare; the lanes that
 * renormalise take the next words in lane order (a masked expand of the next 16 words) and
 * the word pointer moves by the mask's popcount.  The extra bits of the 16 codes follow the
 * same way: their bit offsets are a prefix sum of their widths, and each lane's 64 bits are
 * picked by a byte permute from the 128 bytes at the bit position (16 codes of at most 55
 * extra bits span at most 112 bytes), shifted and masked; then unzigzag and the delta sums
 * as prefix sums over the lanes.  No loop-carried chain but the states' own (a gather and a
 * multiply per 16 codes), the word pointer (a popcount-add) and the bit position (an add).
 * The scalar path (any other CPU, the last codes of a stream) gives the same bits. */
#ifdef EKZ_LANES_SIMD
/* lanes shifted up by K (lane i takes lane i - K, zeros below) */
#define EKZ_UP32(V, K) _mm512_alignr_epi32((V), _mm512_setzero_si512(), 16 - (K))
#define EKZ_UP64(V, K) _mm512_alignr_epi64((V), _mm512_setzero_si512(), 8 - (K))

EKZ_LANES_TARGET static inline __m512i ekz_prefix64(__m512i v)
{
    v = _mm512_add_epi64(v, EKZ_UP64(v, 1));
    v = _mm512_add_epi64(v, EKZ_UP64(v, 2));
    return _mm512_add_epi64(v, EKZ_UP64(v, 4));
}

/* 8 codes' values (unzigzagged, before the delta sums) from their tokens t64, widths nb64
 * and bit offsets off64 (from the window W0:W1 of 128 bytes) */
EKZ_LANES_TARGET static inline __m512i ekz_lanes_vals(__m512i t64, __m512i nb64, __m512i off64,
                                                      __mmask8 big, __m512i W0, __m512i W1)
{
    const __m512i bcast = _mm512_set_epi8(
        56, 56, 56, 56, 56, 56, 56, 56, 48, 48, 48, 48, 48, 48, 48, 48, 40, 40, 40, 40, 40, 40,
        40, 40, 32, 32, 32, 32, 32, 32, 32, 32, 24, 24, 24, 24, 24, 24, 24, 24, 16, 16, 16, 16,
        16, 16, 16, 16, 8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i ramp = _mm512_set1_epi64(0x0706050403020100LL);
    const __m512i ones = _mm512_set1_epi64(-1);
    __m512i idx = _mm512_add_epi8(_mm512_permutexvar_epi8(bcast, _mm512_srli_epi64(off64, 3)),
                                  ramp);
    __m512i e = _mm512_permutex2var_epi8(W0, idx, W1), base, v;
    e = _mm512_srlv_epi64(e, _mm512_and_si512(off64, _mm512_set1_epi64(7)));
    e = _mm512_andnot_si512(_mm512_sllv_epi64(ones, nb64), e);
    base = _mm512_sllv_epi64(_mm512_or_si512(_mm512_and_si512(t64, _mm512_set1_epi64(3)),
                                             _mm512_set1_epi64(4)),
                             nb64);
    v = _mm512_add_epi64(_mm512_mask_mov_epi64(t64, big, base), e);
    return _mm512_xor_si512(_mm512_srli_epi64(v, 1),
                            _mm512_sub_epi64(_mm512_setzero_si512(),
                                             _mm512_and_si512(v, _mm512_set1_epi64(1))));
}

/* the lanes of wm (codes of 58..61 extra bits, whose bits at offset off from p0 may span
 * nine bytes, more than ekz_lanes_vals reads) decoded again one by one into v0 / v1 */
EKZ_LANES_TARGET __attribute__((noinline)) static void
ekz_lanes_wide(__m512i *v0, __m512i *v1, __mmask16 wm, __m512i t, __m512i nb, __m512i off,
               const uint8_t *p0)
{
    uint32_t ts[16], ns[16], os[16];
    uint64_t vs[16];
    unsigned i;
    _mm512_storeu_si512((void *)ts, t);
    _mm512_storeu_si512((void *)ns, nb);
    _mm512_storeu_si512((void *)os, off);
    _mm512_storeu_si512((void *)vs, *v0);
    _mm512_storeu_si512((void *)(vs + 8), *v1);
    for (i = 0; i < 16u; i++) {
        const unsigned o = os[i], b = ns[i], sh = o & 7u;
        uint64_t e;
        if (!((wm >> i) & 1u))
            continue;
        e = ekz_ld64(p0 + (o >> 3)) >> sh;
        if (sh + b > 64u)
            e |= (uint64_t)p0[(o >> 3) + 8u] << (64u - sh);
        e &= ((uint64_t)1 << b) - 1u;
        vs[i] = ekz_unzz(ekz_tok.base[ts[i]] + e);
    }
    *v0 = _mm512_loadu_si512((const void *)vs);
    *v1 = _mm512_loadu_si512((const void *)(vs + 8));
}

/* 16 codes (jb[K..K+16)) on the state vector X: the rANS step, renormalisation, extra
 * bits, unzigzag and delta sums */
#define EKZ_LANES16(X, K)                                                                    \
    do {                                                                                     \
        __m512i slot = _mm512_and_si512((X), mask12);                                        \
        __m512i ent = _mm512_i32gather_epi32(slot, (const void *)e32, 4);                    \
        __m512i t = _mm512_and_si512(ent, _mm512_set1_epi32(255));                           \
        __m512i f = _mm512_srli_epi32(ent, 20);                                              \
        __m512i b = _mm512_and_si512(_mm512_srli_epi32(ent, 8), mask12);                     \
        __m512i nb, incl, off, W0, W1, v0, v1;                                               \
        __mmask16 m, big = 0;                                                                \
        int nw, mid;                                                                         \
        const uint8_t *p0;                                                                   \
        unsigned total;                                                                      \
        (X) = _mm512_add_epi32(_mm512_mullo_epi32(f, _mm512_srli_epi32((X), EKZ_PROB_BITS)), \
                               b);                                                           \
        m = _mm512_cmplt_epu32_mask((X), L);                                                 \
        (X) = _mm512_or_si512(                                                               \
            _mm512_mask_slli_epi32((X), m, (X), 16),                                         \
            _mm512_cvtepu16_epi32(_mm256_maskz_expand_epi16(                                 \
                m, _mm256_loadu_si256((const __m256i *)(const void *)wp))));                 \
        wp += 2u * (unsigned)_mm_popcnt_u32(m);                                              \
        /* a step whose 16 tokens are all narrow takes the narrow path even when the table \
         * is not (one wide residual or a few wide jumps leave the rest of a stream narrow) */ \
        nw = narrow || !_mm512_cmpgt_epu32_mask(t, _mm512_set1_epi32(111));                 \
        /* (mid: tokens up to 127, codes below 2^32: extra bits of up to 29, 5 bytes) */     \
        mid = !nw && !_mm512_cmpgt_epu32_mask(t, _mm512_set1_epi32(127));                    \
        if (nw || mid) { /* tokens below 128: widths by a byte lookup */                     \
            nb = _mm512_permutex2var_epi8(nb0, t, nb1);                                      \
        } else {                                                                             \
            big = _mm512_cmpge_epu32_mask(t, _mm512_set1_epi32(16));                         \
            nb = _mm512_maskz_srli_epi32(big, _mm512_sub_epi32(t, _mm512_set1_epi32(8)), 2); \
        }                                                                                    \
        incl = _mm512_add_epi32(nb, EKZ_UP32(nb, 1));                                        \
        incl = _mm512_add_epi32(incl, EKZ_UP32(incl, 2));                                    \
        incl = _mm512_add_epi32(incl, EKZ_UP32(incl, 4));                                    \
        incl = _mm512_add_epi32(incl, EKZ_UP32(incl, 8));                                    \
        off = _mm512_add_epi32(_mm512_sub_epi32(incl, nb),                                   \
                               _mm512_set1_epi32((int)(pos & 7u)));                          \
        total = (unsigned)_mm_extract_epi32(_mm512_extracti32x4_epi32(incl, 3), 3);          \
        p0 = bp + (pos >> 3);                                                                \
        pos += total;                                                                        \
        W0 = _mm512_loadu_si512((const void *)p0);                                           \
        if (nw) { /* codes below 2^28: all in 32-bit lanes, one 64-byte window */            \
            __m512i e_ = _mm512_permutexvar_epi8(                                            \
                _mm512_add_epi8(_mm512_shuffle_epi8(_mm512_srli_epi32(off, 3), bcast4),      \
                                ramp4),                                                      \
                W0);                                                                         \
            e_ = _mm512_srlv_epi32(e_, _mm512_and_si512(off, _mm512_set1_epi32(7)));         \
            e_ = _mm512_andnot_si512(_mm512_sllv_epi32(_mm512_set1_epi32(-1), nb), e_);      \
            e_ = _mm512_add_epi32(                                                           \
                _mm512_sllv_epi32(_mm512_permutex2var_epi8(hi0, t, hi1), nb), e_);           \
            e_ = _mm512_xor_si512(_mm512_srli_epi32(e_, 1),                                  \
                                  _mm512_sub_epi32(_mm512_setzero_si512(),                   \
                                                   _mm512_and_si512(e_, _mm512_set1_epi32(1)))); \
            if (P) { /* fused predictor lanes: the 16 residuals are two steps of 8 lanes */ \
                v0 = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(e_));                      \
                v1 = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(e_, 1));                \
                if (rec) {                                                                   \
                    const __m512i a_ = EKZ_REC8(v0, prev, jb + (K));                         \
                    const __m512i b_ = EKZ_REC8(v1, a_, jb + (K) + 8);                       \
                    v0 = a_;                                                                 \
                    if (!EKZ_FITS32(a_)) { /* b_ used a_ as int32: b stays a residual */     \
                        rec = 0;                                                             \
                        done = (K) / 8u + 1u;                                                \
                    } else {                                                                 \
                        v1 = prev = b_;                                                      \
                        if (!EKZ_FITS32(b_)) {                                               \
                            rec = 0;                                                         \
                            done = (K) / 8u + 2u;                                            \
                        }                                                                    \
                    }                                                                        \
                }                                                                            \
                _mm512_storeu_si512((void *)(jb + (K)), v0);                                 \
                _mm512_storeu_si512((void *)(jb + (K) + 8), v1);                             \
                break;                                                                       \
            }                                                                                \
            if (order == 1) { /* 16 deltas below 2^27 each: their prefix sums fit int32 */   \
                e_ = _mm512_add_epi32(e_, EKZ_UP32(e_, 1));                                  \
                e_ = _mm512_add_epi32(e_, EKZ_UP32(e_, 2));                                  \
                e_ = _mm512_add_epi32(e_, EKZ_UP32(e_, 4));                                  \
                e_ = _mm512_add_epi32(e_, EKZ_UP32(e_, 8));                                  \
                v0 = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(e_)),    \
                                      accv);                                                 \
                v1 = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(e_, 1)), \
                                      accv);                                                 \
                accv = _mm512_permutexvar_epi64(lane7, v1);                                  \
                _mm512_storeu_si512((void *)(jb + (K)), v0);                                 \
                _mm512_storeu_si512((void *)(jb + (K) + 8), v1);                             \
                break;                                                                       \
            }                                                                                \
            v0 = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(e_));                          \
            v1 = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(e_, 1));                    \
        } else if (mid) { /* codes below 2^32: each code's 5 bytes from the 64 at p0 (16 \
                           * codes of <= 29 bits), value in a 32-bit lane, sums in 64 */   \
            const __m512i by_ = _mm512_srli_epi32(off, 3), sh_ = _mm512_and_si512(           \
                                                        off, _mm512_set1_epi32(7));          \
            __m512i e_ = _mm512_permutexvar_epi8(                                            \
                _mm512_add_epi8(_mm512_shuffle_epi8(by_, bcast4), ramp4), W0);               \
            __m512i h_ = _mm512_and_si512(                                                   \
                _mm512_permutexvar_epi8(_mm512_add_epi32(by_, _mm512_set1_epi32(4)), W0),    \
                _mm512_set1_epi32(255));                                                     \
            e_ = _mm512_or_si512(_mm512_srlv_epi32(e_, sh_),                                 \
                                 _mm512_sllv_epi32(h_, _mm512_sub_epi32(                     \
                                                           _mm512_set1_epi32(32), sh_)));    \
            e_ = _mm512_andnot_si512(_mm512_sllv_epi32(_mm512_set1_epi32(-1), nb), e_);      \
            e_ = _mm512_add_epi32(                                                           \
                _mm512_sllv_epi32(_mm512_permutex2var_epi8(hi0, t, hi1), nb), e_);           \
            e_ = _mm512_xor_si512(_mm512_srli_epi32(e_, 1),                                  \
                                  _mm512_sub_epi32(_mm512_setzero_si512(),                   \
                                                   _mm512_and_si512(e_, _mm512_set1_epi32(1)))); \
            v0 = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(e_));                          \
            v1 = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(e_, 1));                    \
        } else {                                                                             \
        W1 = _mm512_loadu_si512((const void *)(p0 + 64));                                    \
        v0 = ekz_lanes_vals(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(t)),                \
                            _mm512_cvtepu32_epi64(_mm512_castsi512_si256(nb)),               \
                            _mm512_cvtepu32_epi64(_mm512_castsi512_si256(off)),              \
                            (__mmask8)big, W0, W1);                                          \
        v1 = ekz_lanes_vals(_mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(t, 1)),          \
                            _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(nb, 1)),         \
                            _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(off, 1)),        \
                            (__mmask8)(big >> 8), W0, W1);                                   \
        if (wide) { /* codes of 58..61 extra bits may span 9 bytes: those lanes scalar */    \
            __mmask16 wm_ = _mm512_cmpgt_epu32_mask(nb, _mm512_set1_epi32(57));               \
            if (wm_)                                                                         \
                ekz_lanes_wide(&v0, &v1, wm_, t, nb, off, p0);                               \
        }                                                                                    \
        }                                                                                    \
        if (order >= 1) {                                                                    \
            if (order == 2) {                                                                \
                v0 = _mm512_add_epi64(ekz_prefix64(v0), stepv);                              \
                stepv = _mm512_permutexvar_epi64(lane7, v0);                                 \
                v1 = _mm512_add_epi64(ekz_prefix64(v1), stepv);                              \
                stepv = _mm512_permutexvar_epi64(lane7, v1);                                 \
            }                                                                                \
            v0 = _mm512_add_epi64(ekz_prefix64(v0), accv);                                   \
            accv = _mm512_permutexvar_epi64(lane7, v0);                                      \
            v1 = _mm512_add_epi64(ekz_prefix64(v1), accv);                                   \
            accv = _mm512_permutexvar_epi64(lane7, v1);                                      \
        }                                                                                    \
        _mm512_storeu_si512((void *)(jb + (K)), v0);                                         \
        _mm512_storeu_si512((void *)(jb + (K) + 8), v1);                                     \
    } while (0)

/* tokens 0..127: their extra bits (ekz_tok.nbits) and the high bits of their base (the
 * token below 16, else 4 + t % 4), for the byte lookups of the narrow path */
static const uint8_t ekz_lanes_nb[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5,
    5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12,
    12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 17, 17, 17, 17, 18, 18,
    18, 18, 19, 19, 19, 19, 20, 20, 20, 20, 21, 21, 21, 21, 22, 22, 22, 22, 23, 23, 23, 23, 24,
    24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27, 27, 28, 28, 28, 28, 29, 29, 29, 29};
static const uint8_t ekz_lanes_hi[128] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4,
    5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7,
    4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6,
    7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5,
    6, 7, 4, 5, 6, 7};

/* Format v3's predictor lanes fused into the kind-4 loop (P > 0: eight lanes, dense lags
 * 1..P): value = residual + asr(sum_t c_t v[k - 1 - t], shift) for one step (row) of the
 * eight lanes, the step before in a register, older ones loaded from the rows below; exact
 * in 32 x 32 -> 64-bit multiplies while every value fits int32 (as ekz2_lanes8_avx512) */
EKZ_LANES_TARGET __attribute__((always_inline)) static inline __m512i
ekz_rec8(__m512i res, __m512i prev, const uint64_t *row, const __m512i *cv, const int P,
         __m128i shv)
{
    __m512i s = _mm512_setzero_si512();
#pragma GCC unroll 16
    for (int t = 1; t < P; t++)
        s = _mm512_add_epi64(
            s, _mm512_mul_epi32(cv[t], _mm512_loadu_si512((const void *)(row - 8 * (1 + t)))));
    s = _mm512_add_epi64(s, _mm512_mul_epi32(cv[0], prev));
    return _mm512_add_epi64(_mm512_sra_epi64(s, shv), res);
}
/* (a function, not a statement expression: ISO C has none) */
#define EKZ_REC8(RES, PREV, ROW) ekz_rec8((RES), (PREV), (ROW), cv, P, shv)
#define EKZ_FITS32(V)                                                                        \
    (!_mm512_test_epi64_mask(_mm512_add_epi64((V), _mm512_set1_epi64(1LL << 31)),           \
                             _mm512_set1_epi64((long long)0xFFFFFFFF00000000ULL)))

/* cnt (a multiple of EKZ_LANES) codes of a kind-4 stream into jb (delta order `order`
 * summed back).  The caller guarantees 2 cnt + 32 readable bytes at *wpp and cnt * 7 + 128
 * at bp + (*posp >> 3) (cnt * 61 / 8 + 128 when `wide`: the table holds tokens of 56..61
 * extra bits, their lanes fixed by ekz_lanes_wide); `narrow`: no token of more
 * than 25 (token 111 and below: codes below 2^28, so the extra bits, values and order-1
 * sums of 16 codes fit 32-bit lanes and their bits 64 bytes).  P > 0 (order 0, narrow):
 * jb is row 1 + k0 / 8 of the predictor lanes' jt, the rows below it hold values that fit
 * int32, and the recurrence runs on each step as it is decoded; returns 2 d + f: d the
 * steps it completed (cnt / 8, or fewer from a step whose values leave int32: the rows after
 * it hold the residuals), f = 1 when every value it computed fits int32. */
EKZ_LANES_TARGET __attribute__((always_inline)) static inline size_t
ekz_lanes_body(uint32_t *x, const uint8_t **wpp, const uint8_t *bp, size_t *posp,
               const uint32_t *e32, int order, int narrow, int wide, uint64_t *accp,
               uint64_t *stepp, uint64_t *jb, size_t cnt, const int P, const uint64_t *c,
               int shift)
{
    const __m512i mask12 = _mm512_set1_epi32(EKZ_MASK), L = _mm512_set1_epi32(EKZ_L);
    const __m512i lane7 = _mm512_set1_epi64(7);
    const __m512i bcast4 = _mm512_set4_epi32(0x0c0c0c0c, 0x08080808, 0x04040404, 0x00000000);
    const __m512i ramp4 = _mm512_set1_epi32(0x03020100);
    const __m512i nb0 = _mm512_loadu_si512((const void *)ekz_lanes_nb),
                  nb1 = _mm512_loadu_si512((const void *)(ekz_lanes_nb + 64)),
                  hi0 = _mm512_loadu_si512((const void *)ekz_lanes_hi),
                  hi1 = _mm512_loadu_si512((const void *)(ekz_lanes_hi + 64));
    __m512i X0 = _mm512_loadu_si512((const void *)x);
    __m512i accv = _mm512_set1_epi64((long long)*accp),
            stepv = _mm512_set1_epi64((long long)*stepp);
    __m512i cv[16], prev = _mm512_setzero_si512();
    const __m128i shv = _mm_cvtsi32_si128(shift);
    const uint8_t *wp = *wpp;
    size_t pos = *posp, k, done = cnt / 8u;
    int rec = P > 0;
    for (int t = 0; t < P; t++)
        cv[t] = _mm512_set1_epi64((long long)c[t]);
    if (P)
        prev = _mm512_loadu_si512((const void *)(jb - 8));
    for (k = 0; k < cnt; k += EKZ_LANES)
        EKZ_LANES16(X0, k);
    _mm512_storeu_si512((void *)x, X0);
    *accp = (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(accv));
    *stepp = (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(stepv));
    *wpp = wp;
    *posp = pos;
    (void)shv, (void)cv, (void)prev;
    return 2u * done + (size_t)(rec != 0);
}

EKZ_LANES_TARGET static void
ekz_lanes_avx512(uint32_t *x, const uint8_t **wpp, const uint8_t *bp, size_t *posp,
                 const uint32_t *e32, int order, int narrow, int wide, uint64_t *accp,
                 uint64_t *stepp, uint64_t *jb, size_t cnt)
{
    ekz_lanes_body(x, wpp, bp, posp, e32, order, narrow, wide, accp, stepp, jb, cnt, 0, NULL,
                   0);
}

#define EKZ_REC_CASE(P)                                                                      \
    case P:                                                                                  \
        return ekz_lanes_body(x, wpp, bp, posp, e32, 0, 1, 0, &acc, &step, jrow, cnt, P, c, \
                              shift);
/* ekz_lanes_body with the predictor lanes' recurrence (order 0, narrow; 1 <= P <= 12) */
EKZ_LANES_TARGET static size_t
ekz_lanes_rec_avx512(uint32_t *x, const uint8_t **wpp, const uint8_t *bp, size_t *posp,
                     const uint32_t *e32, uint64_t *jrow, size_t cnt, const uint64_t *c,
                     int nterms, int shift)
{
    uint64_t acc = 0, step = 0;
    switch (nterms) {
    EKZ_REC_CASE(1) EKZ_REC_CASE(2) EKZ_REC_CASE(3) EKZ_REC_CASE(4) EKZ_REC_CASE(5)
    EKZ_REC_CASE(6) EKZ_REC_CASE(7) EKZ_REC_CASE(8) EKZ_REC_CASE(9) EKZ_REC_CASE(10)
    EKZ_REC_CASE(11) EKZ_REC_CASE(12)
    default:
        return 0;
    }
}
#undef EKZ_REC_CASE
#undef EKZ_REC8
#undef EKZ_FITS32
#undef EKZ_LANES16
#undef EKZ_UP32
#undef EKZ_UP64
#endif

/* The last chunk of a kind-4 stream, its cnt tokens decoded (every state final): checks
 * that the stored extra bits end exactly where the tail begins (at bit q = pos + the chunk's
 * bits - r, relative to buf, the zero-padded tail copy of the stored bits from byte
 * `skipped` on; blen stored bytes in all, the last one's padding zero) and that each state
 * is in [L, 2L) with no tail bit past r, then writes the r tail bits at q.  0 if corrupt. */
static int ekz_lanes_splice(const uint8_t *tok, size_t cnt, const uint32_t *x, uint8_t *buf,
                            size_t pos, size_t avail, size_t skipped, size_t blen,
                            size_t *stored_end, size_t *tailbits)
{
    size_t k, bc = 0, r, q, b;
    unsigned s;
    for (k = 0; k < cnt; k++)
        bc += ekz_tok.nbits[tok[k]];
    r = bc < EKZ_LANES * EKZ_LANE_TAIL ? bc : EKZ_LANES * EKZ_LANE_TAIL;
    q = pos + bc - r;
    if (q > 8u * avail || skipped + (q + 7u) / 8u != blen || (buf[q >> 3] >> (q & 7u)))
        return 0;
    for (s = 0; s < EKZ_LANES; s++) {
        uint32_t v = x[s] - EKZ_L;
        size_t have = r > EKZ_LANE_TAIL * s ? r - EKZ_LANE_TAIL * s : 0;
        if (x[s] < EKZ_L || v >= EKZ_L ||
            (have < EKZ_LANE_TAIL && (v >> have) != 0))
            return 0;
    }
    for (b = 0; b < r; b++)
        buf[(q + b) >> 3] |= (uint8_t)((((x[b / EKZ_LANE_TAIL] - EKZ_L) >> (b % EKZ_LANE_TAIL)) &
                                        1u) << ((q + b) & 7u));
    *stored_end = q;
    *tailbits = r;
    return 1;
}

/* A second copy of the decoder for CPUs with BMI2 (shifts by a register without a flags
 * merge: a few percent), picked at load time, where the toolchain supports that (GCC on
 * glibc x86-64) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    defined(__GLIBC__) && !defined(EKZ_NO_CLONES)
#define EKZ_CLONES __attribute__((target_clones("default", "bmi2")))
#else
#define EKZ_CLONES
#endif
EKZ_CLONES static int ekz_decode_core(const uint8_t *words, size_t wlen, const uint8_t *bits,
                           size_t blen, const uint16_t *freq, int single, int order,
                           const uint64_t *first, size_t n, const ekz_sink *s, ekz_dtab *tb)
{
    uint64_t jb[EKZ_CHUNK];
    uint8_t tok[EKZ_CHUNK];
    uint8_t tail[2u * EKZ_TAILB];
    uint8_t wtail[8192u + 16u]; /* (at least 4 EKZ_CHUNK + 16) */
    uint32_t x[EKZ_LANES];
    uint32_t start[256];
    uint16_t cstart[257];
    uint8_t ctok[256];
    unsigned nt = 0;
    int small = 0;
    const uint8_t *wp = words, *wend = words + wlen, *bp = bits;
    size_t pos = 0, avail = blen, skipped = 0, ncodes, k0, cnt, k, m;
    unsigned ns = 1, u;
    int in_tail = 0, w_in_tail = 0, rc, wide_tab = 1, lanes = 0, simd = 0, narrow = 0;
    int fused = 0;   /* this chunk ran the predictor lanes' recurrence (frec of its steps) */
    size_t frec = 0;
    size_t stored_end = 0, tailbits = 0; /* kind 4: where the stored extra bits end, and the
                                          * tail bits after them (in the tail copy) */
    const int wide = 1;
    uint64_t acc = 0, step = 0;

    (void)narrow; /* (read by the SIMD path only) */
    if (order < 0 || order > 2 || single > 255 || single < EKZ_SINGLE_LANES)
        return EKZ_EINVAL;
    if (single == EKZ_SINGLE_LANES) { /* format v3's kind 4: rANS with 16 states */
        lanes = 1;
        single = -1;
    }
    memset(x, 0, sizeof x);
    m = n < (size_t)order ? n : (size_t)order;
    if (m) {
        for (k = 0; k < m; k++)
            jb[k] = first[k];
        rc = ekz_sink_put(s, jb, 0, m);
        if (rc)
            return rc == -1 ? EKZ_ECORRUPT : EKZ_EINVAL;
    }
    if (n <= (size_t)order)
        return (wlen || blen || single >= 0) ? EKZ_ECORRUPT : EKZ_OK;
    if (order >= 1)
        acc = first[order - 1];
    if (order == 2)
        step = first[1] - first[0];
    ncodes = n - (size_t)order;
    if (single >= 0) {
        if (wlen != 0)
            return EKZ_ECORRUPT;
    } else {
        uint32_t t, sl;
        if (ekz_check_freq(freq, start) != EKZ_OK)
            return EKZ_ECORRUPT;
        for (t = 232u, wide_tab = 0; t < 256u; t++)
            wide_tab |= freq[t] != 0;
#ifdef EKZ_LANES_SIMD
        simd = lanes && ekz_cpu_lanes(); /* (wide tokens: ekz_lanes_wide) */
#endif
        /* a short stream (one state, a few codes: a zero-run residual's sub-streams, short
         * frames) finds each slot's token by a binary search over the tokens present
         * instead of filling the 4096-slot tables (20 KB of stores for a few codes) */
        small = !lanes && ncodes <= EKZ_SMALL_CODES;
        if (small) {
            for (t = 0; t < 256u; t++)
                if (freq[t]) {
                    cstart[nt] = (uint16_t)start[t];
                    ctok[nt++] = (uint8_t)t;
                }
            cstart[nt] = (uint16_t)EKZ_M;
        }
        for (t = 0; t < 256u && !small; t++) {
            uint32_t s0 = start[t], f = freq[t];
            uint16_t *fp = tb->f + s0, *bp2 = tb->b + s0;
            if (f == 0)
                continue;
#ifdef EKZ_LANES_SIMD
            if (simd) { /* the SIMD path's packed entries only (its scalar tail's too) */
                ekz_lanes_fill(tb->e + s0, t | (f << 20), f);
                narrow = t <= 111u;
                continue;
            }
#endif
            memset(tb->t + s0, (int)t, f);
            for (sl = 0; sl < f; sl++) /* separate loops: each vectorizes */
                fp[sl] = (uint16_t)f;
            for (sl = 0; sl < f; sl++)
                bp2[sl] = (uint16_t)sl;
        }
        ns = lanes ? EKZ_LANES : EKZ_NSTATES(ncodes);
        if (wlen < 4u * ns)
            return EKZ_ECORRUPT;
        for (u = 0; u < ns; u++) {
            x[u] = ekz_ld32(words + 4u * u);
            if (x[u] < EKZ_L)
                return EKZ_ECORRUPT;
        }
        wp = words + 4u * ns;
    }
    k0 = 0;
#if defined(EKZ_PRED_FUSED) && !defined(EKZ_PROFILE_NO_RECURRENCE)
    if (s->kind == EKZ_SINK_P && order == 0 && single < 0 && ns == 4u && !wide_tab &&
        s->pred->nterms >= 5 && s->pred->nterms <= 12 && ncodes >= 2u * EKZ_CHUNK &&
        ekz2_dense_lags(s->pred->lags, s->pred->nterms) && ekz2_cpu_avx512()) {
        /* the bytes a chunk's extra bits may span, from the widest token present (a
         * short stream then fuses too: EKZ_TAILB assumes 61 bits a code) */
        unsigned t, maxnb = 0;
        long done;
        size_t blim = avail;
        const uint8_t *wlim = wend;
        for (t = 0; t < 256u; t++)
            if (freq[t] && ekz_tok.nbits[t] > maxnb)
                maxnb = ekz_tok.nbits[t];
        /* a short stream's extra bits (or none) and words from zero-padded copies, so that
         * every chunk has its reading window (else the loop below stops where the stream
         * has less than a window left: at once, for a stream without extra bits) */
        if (avail < EKZ_TAILB) {
            memcpy(tail, bp, avail);
            memset(tail + avail, 0, sizeof tail - avail);
            bp = tail;
            in_tail = 1; /* (skipped = 0: the copy starts at the first byte) */
            blim = sizeof tail;
        }
        if ((size_t)(wend - wp) <= sizeof wtail - 2u * EKZ_CHUNK - 16u) {
            size_t rem = (size_t)(wend - wp);
            memcpy(wtail, wp, rem);
            memset(wtail + rem, 0, sizeof wtail - rem);
            wp = wtail;
            wend = wtail + rem;
            w_in_tail = 1;
            wlim = wtail + sizeof wtail - 16u;
        }
        done = ekz_pred_fused(x, &wp, wlim, bp, &pos, blim,
                              (size_t)EKZ_CHUNK * maxnb / 8u + 16u, ncodes, tb, s);
        if (done < 0)
            return EKZ_ECORRUPT;
        k0 = (size_t)done;
    }
#endif
    for (cnt = 0; k0 < ncodes; k0 += cnt) {
        cnt = ncodes - k0 < EKZ_CHUNK ? ncodes - k0 : EKZ_CHUNK;
        /* extra bits from a padded copy of the tail once the chunk could reach the end */
        if (!in_tail && ((pos >> 3) + EKZ_TAILB > avail || (lanes && k0 + cnt == ncodes))) {
            /* (a kind-4 stream's last chunk always: its tail is spliced into the copy) */
            size_t from = pos >> 3, rem = avail - from;
            if (rem > EKZ_TAILB) /* more stored bits than a last chunk can have */
                return EKZ_ECORRUPT;
            memcpy(tail, bp + from, rem);
            memset(tail + rem, 0, sizeof tail - rem);
            bp = tail;
            pos -= 8u * from;
            avail = rem;
            skipped = from;
            in_tail = 1;
        }
        /* rANS words likewise: a code takes at most one 16-bit word, so a chunk reads at
         * most 2 EKZ_CHUNK bytes past wp (the branch-free step reads a candidate word even
         * when it takes none) */
        if (single < 0 && !w_in_tail && (size_t)(wend - wp) < 2u * EKZ_CHUNK) {
            size_t rem = (size_t)(wend - wp);
            memcpy(wtail, wp, rem);
            memset(wtail + rem, 0, sizeof wtail - rem);
            wp = wtail;
            wend = wtail + rem;
            w_in_tail = 1;
        }
        if (single < 0 && ns == EKZ_LANES) {
            size_t wi = 0;
            const int last = k0 + cnt == ncodes;
            k = 0;
#ifdef EKZ_LANES_SIMD
            if (simd && !last) { /* a full chunk, words and bits in reach (the copies above) */
                uint64_t *jrow = s->kind == EKZ_SINK_PL && narrow && order == 0
                                     ? ekz_lanes_fuse_at((ekz_pred *)(uintptr_t)s->pred, k0, cnt)
                                     : NULL;
                k = cnt;
                if (jrow) { /* the predictor lanes' recurrence in the same loop */
                    fused = 1;
                    frec = ekz_lanes_rec_avx512(x, &wp, bp, &pos, tb->e, jrow, k, s->pred->c,
                                                s->pred->nterms, s->pred->shift);
                } else {
                    ekz_lanes_avx512(x, &wp, bp, &pos, tb->e, order, narrow, wide_tab, &acc,
                                     &step, jb, k);
                }
            }
#endif
            if (k < cnt && !last && !simd) {
                /* the portable path of a full chunk: the 16 states in locals (registers
                 * where the CPU has them), passes A and B in one loop as EKZ_FUSED */
                uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5],
                         x6 = x[6], x7 = x[7], x8 = x[8], x9 = x[9], x10 = x[10], x11 = x[11],
                         x12 = x[12], x13 = x[13], x14 = x[14], x15 = x[15];
                EKZ_BY_ORDER(EKZ_FUSED16);
                x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3, x[4] = x4, x[5] = x5, x[6] = x6;
                x[7] = x7, x[8] = x8, x[9] = x9, x[10] = x10, x[11] = x11, x[12] = x12;
                x[13] = x13, x[14] = x14, x[15] = x15;
                wp += 2u * wi;
                k = cnt;
            }
            if (k < cnt) { /* the last chunk: tokens, the tail, then the bits */
                if (simd) { /* (only the packed table is built) */
                    for (; k < cnt; k++) {
                        uint32_t *xs = &x[k & (EKZ_LANES - 1u)], e_ = tb->e[*xs & EKZ_MASK], y_;
                        tok[k] = (uint8_t)e_;
                        *xs = (e_ >> 20) * (*xs >> EKZ_PROB_BITS) + ((e_ >> 8) & EKZ_MASK);
                        y_ = (*xs << 16) | ekz_ld16(wp + 2u * wi);
                        EKZ_RENORM(*xs, y_);
                    }
                } else {
                    for (; k < cnt; k++) {
                        unsigned t0;
                        EKZ_A_FAST(x[k & (EKZ_LANES - 1u)], t0);
                        tok[k] = (uint8_t)t0;
                    }
                }
                wp += 2u * wi;
                if (last) { /* every state is final: the extra bits' tail, then the bits */
                    if (wp > wend || !ekz_lanes_splice(tok, cnt, x, tail, pos, avail, skipped,
                                                       blen, &stored_end, &tailbits))
                        return EKZ_ECORRUPT;
                }
                EKZ_B_FROM(0);
            }
        } else if (single < 0 && ns == 4u) {
            size_t cnt4 = cnt & ~(size_t)3u, wi = 0;
            uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
            EKZ_BY_ORDER(EKZ_FUSED);
            x[0] = x0;
            x[1] = x1;
            x[2] = x2;
            x[3] = x3;
            for (k = cnt4; k < cnt; k++) { /* the last one to three codes (state k % 4) */
                unsigned t0;
                EKZ_A_FAST(x[k & 3u], t0);
                tok[k] = (uint8_t)t0;
            }
            wp += 2u * wi;
            EKZ_B_FROM(cnt4);
        } else {
            /* pass A */
            if (single >= 0) {
                memset(tok, single, cnt);
            } else {
                uint32_t x0 = x[0];
                unsigned t0;
                size_t wi = 0;
                if (small) {
                    for (k = 0; k < cnt; k++) {
                        uint32_t s_ = x0 & EKZ_MASK, y_;
                        unsigned lo_ = 0, hi_ = nt;
                        while (hi_ - lo_ > 1u) { /* the token whose slots hold s_ */
                            const unsigned mid_ = (lo_ + hi_) >> 1;
                            if (cstart[mid_] <= s_)
                                lo_ = mid_;
                            else
                                hi_ = mid_;
                        }
                        t0 = ctok[lo_];
                        x0 = (uint32_t)freq[t0] * (x0 >> EKZ_PROB_BITS) + s_ - cstart[lo_];
                        y_ = (x0 << 16) | ekz_ld16(wp + 2u * wi);
                        EKZ_RENORM(x0, y_);
                        tok[k] = (uint8_t)t0;
                    }
                } else {
                    for (k = 0; k < cnt; k++) {
                        EKZ_A_FAST(x0, t0);
                        tok[k] = (uint8_t)t0;
                    }
                }
                x[0] = x0;
                wp += 2u * wi;
            }
            /* pass B */
            if (order == 0) {
                EKZ_PASS_B(0)
            } else if (order == 1) {
                EKZ_PASS_B(1)
            } else {
                EKZ_PASS_B(2)
            }
        }
        if (wp > wend) /* took words past the end of the stream */
            return EKZ_ECORRUPT;
        if (pos > 8u * avail + tailbits) /* read past the end of the extra bits (and tail) */
            return EKZ_ECORRUPT;
        /* pass C */
        if (fused) {
            fused = 0;
            rc = ekz_lanes_fused((ekz_pred *)(uintptr_t)s->pred, k0, cnt, frec);
        } else {
            rc = ekz_sink_put(s, jb, (size_t)order + k0, cnt);
        }
        if (rc)
            return rc == -1 ? EKZ_ECORRUPT : EKZ_EINVAL;
    }
    if (single < 0) {
        if (wp != wend)
            return EKZ_ECORRUPT;
        for (u = 0; u < ns && !lanes; u++) /* (lanes: checked by ekz_lanes_splice) */
            if (x[u] != EKZ_L)
                return EKZ_ECORRUPT;
    }
    if (lanes ? pos != stored_end + tailbits : skipped + (pos + 7u) / 8u != blen)
        return EKZ_ECORRUPT;
    return EKZ_OK;
}

#undef EKZ_A_FAST
#undef EKZ_PASS_B
#undef EKZ_B_FROM
#undef EKZ_B1
#undef EKZ_FUSED
#undef EKZ_FUSED16
#undef EKZ_BY_ORDER
#undef EKZ_BY_ORDER3
#undef EKZ_A_B
#undef EKZ_RENORM

/* a public sink (EKZ_SINK_J..R32) from its fields; 0 if they are not valid */
static int ekz_sink_init(ekz_sink *s, int sink, void *out, uint64_t g, uint64_t off,
                         const void *tab, uint64_t lo, uint64_t span)
{
    memset(s, 0, sizeof *s);
    s->kind = sink;
    s->out = out;
    s->g = g;
    s->off = off;
    s->tab = tab;
    s->lo = lo;
    s->span = span;
    return sink >= 0 && sink <= EKZ_SINK_R32 &&
           !((sink == EKZ_SINK_T64 || sink == EKZ_SINK_T32) &&
             (tab == NULL || span >= EKZ_TAB_LEN));
}

int ekz_decode_into(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
                    const uint16_t *freq, int single, int order, const uint64_t *first,
                    size_t n, int sink, void *out, uint64_t g, uint64_t off, const void *tab,
                    uint64_t lo, uint64_t span)
{
    ekz_dtab tb;
    ekz_sink s;
    if (!ekz_sink_init(&s, sink, out, g, off, tab, lo, span))
        return EKZ_EINVAL;
    return ekz_decode_core(words, wlen, bits, blen, freq, single, order, first, n, &s, &tb);
}

int ekz_put_j(const uint64_t *j, size_t n, int sink, void *out, uint64_t g, uint64_t off,
              const void *tab, uint64_t lo, uint64_t span)
{
    ekz_sink s;
    size_t at;
    if (!ekz_sink_init(&s, sink, out, g, off, tab, lo, span))
        return EKZ_EINVAL;
    for (at = 0; at < n; at += EKZ_CHUNK) {
        int rc = ekz_sink_put(&s, j + at, at, n - at < EKZ_CHUNK ? n - at : EKZ_CHUNK);
        if (rc)
            return rc == -1 ? EKZ_ECORRUPT : EKZ_EINVAL;
    }
    return EKZ_OK;
}

/* j[0..order) hold the stored first values on entry */
int ekz_decode(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
               const uint16_t *freq, int single, int order, uint64_t *j, size_t n)
{
    uint64_t first[2] = {0, 0};
    size_t i;
    for (i = 0; i < 2u && i < (size_t)(order > 0 ? order : 0) && i < n; i++)
        first[i] = j[i];
    return ekz_decode_into(words, wlen, bits, blen, freq, single, order, first, n, EKZ_SINK_J,
                           j, 1, 0, NULL, 0, 0);
}

int ekz_decode_tab_f64(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
                       const uint16_t *freq, int single, int order, const uint64_t *first,
                       uint64_t lo, uint64_t span, const double *tab, double *o, size_t n)
{
    return ekz_decode_into(words, wlen, bits, blen, freq, single, order, first, n,
                           EKZ_SINK_T64, o, 1, 0, tab, lo, span);
}

int ekz_decode_tab_f32(const uint8_t *words, size_t wlen, const uint8_t *bits, size_t blen,
                       const uint16_t *freq, int single, int order, const uint64_t *first,
                       uint64_t lo, uint64_t span, const float *tab, float *o, size_t n)
{
    return ekz_decode_into(words, wlen, bits, blen, freq, single, order, first, n,
                           EKZ_SINK_T32, o, 1, 0, tab, lo, span);
}

/* Eight codes that are all zero (the run form's common case: 90-99 % zeros) are passed
 * by one test of their differences' OR, then a run grows by 8; a group with a nonzero code
 * goes code by code.  The same runs and values as the plain loop. */
#define EKZ_RUNS_ALL_ZERO(ORDER)                                                             \
    ((ekz_delta_at(j, i, ORDER) | ekz_delta_at(j, i + 1u, ORDER) |                           \
      ekz_delta_at(j, i + 2u, ORDER) | ekz_delta_at(j, i + 3u, ORDER) |                      \
      ekz_delta_at(j, i + 4u, ORDER) | ekz_delta_at(j, i + 5u, ORDER) |                      \
      ekz_delta_at(j, i + 6u, ORDER) | ekz_delta_at(j, i + 7u, ORDER)) == 0)

#define EKZ_RUNS_SPLIT_STEP(ORDER, I)                                                        \
    do {                                                                                     \
        uint64_t z = ekz_zz(ekz_delta_at(j, (I), ORDER));                                    \
        if (z == 0) {                                                                        \
            run++;                                                                           \
        } else {                                                                             \
            runs[k] = ekz_unzz(run);                                                         \
            vals[k] = ekz_unzz(z - 1u);                                                      \
            k++;                                                                             \
            run = 0;                                                                         \
        }                                                                                    \
    } while (0)

#define EKZ_RUNS_SPLIT_LOOP(ORDER)                                                           \
    for (i = (size_t)(ORDER); i + 8u <= n; i += 8u) {                                        \
        if (EKZ_RUNS_ALL_ZERO(ORDER)) {                                                      \
            run += 8u;                                                                       \
            continue;                                                                        \
        }                                                                                    \
        for (size_t q_ = i; q_ < i + 8u; q_++)                                               \
            EKZ_RUNS_SPLIT_STEP(ORDER, q_);                                                  \
    }                                                                                        \
    for (; i < n; i++)                                                                       \
        EKZ_RUNS_SPLIT_STEP(ORDER, i);

int ekz_runs_split(const uint64_t *j, size_t n, int order, uint64_t *runs, uint64_t *vals,
                   size_t *m)
{
    size_t i, k = 0;
    uint64_t run = 0;
    if (order == 0) {
        EKZ_RUNS_SPLIT_LOOP(0)
    } else if (order == 1) {
        EKZ_RUNS_SPLIT_LOOP(1)
    } else if (order == 2) {
        EKZ_RUNS_SPLIT_LOOP(2)
    } else {
        return EKZ_EINVAL;
    }
    runs[k] = ekz_unzz(run);
    *m = k;
    return EKZ_OK;
}

#undef EKZ_RUNS_SPLIT_LOOP
#undef EKZ_RUNS_SPLIT_STEP

/* branch-free: zero and nonzero codes alternate unpredictably in real data; eight zero
 * codes in a row (clustered zeros: irradiance at night) pass as one group */
#define EKZ_RUNS_HIST_BF(ORDER, I)                                                           \
    do {                                                                                     \
        uint64_t z = ekz_zz(ekz_delta_at(j, (I), ORDER));                                    \
        unsigned nz = z != 0;                                                                \
        hist[ekz_token(run)] += nz;                                                          \
        hist[256u + ekz_token(z - nz)] += nz;                                                \
        k += nz;                                                                             \
        run = (run + 1u) & (0u - (uint64_t)(1u - nz));                                       \
    } while (0)

#define EKZ_RUNS_HIST_LOOP(ORDER)                                                            \
    for (i = (size_t)(ORDER); i + 8u <= n; i += 8u) {                                        \
        if (EKZ_RUNS_ALL_ZERO(ORDER)) {                                                      \
            run += 8u;                                                                       \
            continue;                                                                        \
        }                                                                                    \
        for (size_t q_ = i; q_ < i + 8u; q_++)                                               \
            EKZ_RUNS_HIST_BF(ORDER, q_);                                                     \
    }                                                                                        \
    for (; i < n; i++)                                                                       \
        EKZ_RUNS_HIST_BF(ORDER, i);

#define EKZ_RUNS_HIST_STEP(ORDER, I)                                                         \
    do {                                                                                     \
        uint64_t z = ekz_zz(ekz_delta_at(j, (I), ORDER));                                    \
        if (z == 0) {                                                                        \
            run++;                                                                           \
        } else {                                                                             \
            hist[ekz_token(run)]++;                                                          \
            hist[256u + ekz_token(z - 1u)]++;                                                \
            k++;                                                                             \
            run = 0;                                                                         \
        }                                                                                    \
    } while (0)

#define EKZ_RUNS_HIST_SPARSE(ORDER)                                                          \
    for (i = (size_t)(ORDER); i + 8u <= n; i += 8u) {                                        \
        if (EKZ_RUNS_ALL_ZERO(ORDER)) {                                                      \
            run += 8u;                                                                       \
            continue;                                                                        \
        }                                                                                    \
        for (size_t q_ = i; q_ < i + 8u; q_++)                                               \
            EKZ_RUNS_HIST_STEP(ORDER, q_);                                                   \
    }                                                                                        \
    for (; i < n; i++)                                                                       \
        EKZ_RUNS_HIST_STEP(ORDER, i);

int ekz_runs_hist(const uint64_t *j, size_t n, int order, int sparse, uint32_t *hist,
                  size_t *m)
{
    size_t i, k = 0;
    uint64_t run = 0;
    if (sparse && order == 1) {
        EKZ_RUNS_HIST_SPARSE(1)
    } else if (sparse && order == 2) {
        EKZ_RUNS_HIST_SPARSE(2)
    } else if (sparse && order == 0) {
        EKZ_RUNS_HIST_SPARSE(0)
    } else if (order == 0) {
        EKZ_RUNS_HIST_LOOP(0)
    } else if (order == 1) {
        EKZ_RUNS_HIST_LOOP(1)
    } else if (order == 2) {
        EKZ_RUNS_HIST_LOOP(2)
    } else {
        return EKZ_EINVAL;
    }
    hist[ekz_token(run)]++;
    *m = k;
    return EKZ_OK;
}

#undef EKZ_RUNS_HIST_LOOP
#undef EKZ_RUNS_HIST_SPARSE
#undef EKZ_RUNS_HIST_STEP
#undef EKZ_RUNS_HIST_BF
#undef EKZ_RUNS_ALL_ZERO

int ekz_runs_expand(const uint64_t *runs, const uint64_t *vals, size_t m, int order,
                    uint64_t *j, size_t n)
{
    size_t i = (size_t)order, k, c;
    uint64_t acc = 0, step = 0;
    if (order < 0 || order > 2 || n < (size_t)order)
        return EKZ_EINVAL;
    if (order >= 1)
        acc = j[order - 1];
    if (order == 2)
        step = j[1] - j[0];
    for (k = 0; k <= m; k++) {
        uint64_t run = ekz_zz(runs[k]);
        if (run > (uint64_t)(n - i))
            return EKZ_ECORRUPT;
        if (order == 0) {
            for (c = 0; c < run; c++)
                j[i + c] = 0;
        } else if (order == 1) {
            for (c = 0; c < run; c++)
                j[i + c] = acc;
        } else {
            for (c = 0; c < run; c++) {
                acc += step;
                j[i + c] = acc;
            }
        }
        i += (size_t)run;
        if (k < m) {
            uint64_t z = ekz_zz(vals[k]) + 1u, v;
            if (z == 0 || i >= n)
                return EKZ_ECORRUPT;
            v = ekz_unzz(z);
            if (order == 0) {
                j[i] = v;
            } else if (order == 1) {
                acc += v;
                j[i] = acc;
            } else {
                step += v;
                acc += step;
                j[i] = acc;
            }
            i++;
        }
    }
    return i == n ? EKZ_OK : EKZ_ECORRUPT;
}

/* ekz_runs_expand straight into floats through the value table (ekz_decode_tab_*): a run
 * of zero codes at order 1 is one lookup and a fill. */
#define EKZ_DEFINE_RUNS_TAB(SUF, T)                                                          \
    int ekz_runs_expand_tab_##SUF(const uint64_t *runs, const uint64_t *vals, size_t m,      \
                                  int order, const uint64_t *first, uint64_t lo,             \
                                  uint64_t span, const T *tab, T *o, size_t n)               \
    {                                                                                        \
        size_t i = (size_t)order, k, c;                                                      \
        uint64_t acc = 0, step = 0, ix;                                                      \
        if (order < 0 || order > 2 || n < (size_t)order)                                     \
            return EKZ_EINVAL;                                                               \
        for (c = 0; c < (size_t)order; c++) {                                                \
            if (first[c] - lo > span)                                                        \
                return EKZ_ECORRUPT;                                                         \
            o[c] = tab[first[c] - lo];                                                       \
        }                                                                                    \
        if (order >= 1)                                                                      \
            acc = first[order - 1];                                                          \
        if (order == 2)                                                                      \
            step = first[1] - first[0];                                                      \
        for (k = 0; k <= m; k++) {                                                           \
            uint64_t run = ekz_zz(runs[k]);                                                  \
            if (run > (uint64_t)(n - i))                                                     \
                return EKZ_ECORRUPT;                                                         \
            if (run) {                                                                       \
                if (order == 2) {                                                            \
                    for (c = 0; c < run; c++) {                                              \
                        acc += step;                                                         \
                        ix = acc - lo;                                                       \
                        if (ix > span)                                                       \
                            return EKZ_ECORRUPT;                                             \
                        o[i + c] = tab[ix];                                                  \
                    }                                                                        \
                } else {                                                                     \
                    T y;                                                                     \
                    ix = (order == 0 ? 0u : acc) - lo;                                       \
                    if (ix > span)                                                           \
                        return EKZ_ECORRUPT;                                                 \
                    y = tab[ix];                                                             \
                    for (c = 0; c < run; c++)                                                \
                        o[i + c] = y;                                                        \
                }                                                                            \
            }                                                                                \
            i += (size_t)run;                                                                \
            if (k < m) {                                                                     \
                uint64_t z = ekz_zz(vals[k]) + 1u, v, cur;                                   \
                if (z == 0 || i >= n)                                                        \
                    return EKZ_ECORRUPT;                                                     \
                v = ekz_unzz(z);                                                             \
                if (order == 0) {                                                            \
                    cur = v;                                                                 \
                } else if (order == 1) {                                                     \
                    acc += v;                                                                \
                    cur = acc;                                                               \
                } else {                                                                     \
                    step += v;                                                               \
                    acc += step;                                                             \
                    cur = acc;                                                               \
                }                                                                            \
                ix = cur - lo;                                                               \
                if (ix > span)                                                               \
                    return EKZ_ECORRUPT;                                                     \
                o[i] = tab[ix];                                                              \
                i++;                                                                         \
            }                                                                                \
        }                                                                                    \
        return i == n ? EKZ_OK : EKZ_ECORRUPT;                                               \
    }

EKZ_DEFINE_RUNS_TAB(f64, double)
EKZ_DEFINE_RUNS_TAB(f32, float)
#undef EKZ_DEFINE_RUNS_TAB

/* encoder loops the compiler vectorizes, in copies picked at load time (GCC 11 or later on
 * glibc x86-64): baseline, AVX2 and AVX-512 (x86-64-v4: 64-bit multiplies, 8-wide
 * divisions) */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && \
    defined(__linux__) && defined(__GLIBC__) && !defined(EKZ_NO_CLONES)
#define EKZ_VEC_CLONES                                                                       \
    __attribute__((target_clones("default", "avx2", "arch=x86-64-v4"), noinline))
#else
#define EKZ_VEC_CLONES
#endif

EKZ_VEC_CLONES int ekz_minmax(const int64_t *x, size_t n, int64_t *out)
{
    size_t i;
    int64_t lo, hi;
    if (n == 0)
        return EKZ_EINVAL;
    lo = hi = x[0];
    for (i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    out[0] = lo;
    out[1] = hi;
    return EKZ_OK;
}

static uint64_t ekz_gcd2(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* gcd of |j[i] - j[0]| over all i, computed as the gcd of |j[i] - j[i-1]| (the same number:
 * every difference from j[0] is a sum of consecutive differences and vice versa).  The
 * differences go by chunks of 256: a chunk whose differences the running gcd g already
 * divides (the common case once g is found) is passed by one branch-free pass, g = m 2**s
 * with m odd tested as gcd_split does (low s bits zero, the odd part times m's inverse
 * modulo 2**64 at most (2**64 - 1) / m); any other chunk (and every chunk while g is 0)
 * takes the value-by-value loop, where a difference g divides costs one division.  The
 * gcd of the same numbers either way: the result does not depend on the order. */
EKZ_VEC_CLONES static int ekz_gcd_divides(const uint64_t *j, size_t from, size_t to, uint64_t g)
{
    uint64_t m = g, inv, lim, mask, bad = 0;
    unsigned s = 0, it;
    size_t i;
    while (!(m & 1u)) {
        m >>= 1;
        s++;
    }
    inv = m; /* m * m = 1 mod 8: 3 bits, doubled by each Newton step */
    for (it = 0; it < 5u; it++)
        inv *= 2u - m * inv;
    lim = UINT64_MAX / m;
    mask = ((uint64_t)1 << s) - 1u;
    for (i = from; i < to; i++) {
        uint64_t d = j[i] - j[i - 1], neg = 0u - (d >> 63), u = (d ^ neg) - neg;
        bad |= (u & mask) | (uint64_t)(((u >> s) * inv) > lim);
    }
    return bad == 0;
}

uint64_t ekz_gcd(const uint64_t *j, size_t n)
{
    size_t i, from;
    uint64_t g = 0;
    for (from = 1; from < n; from += 256u) {
        size_t to = n - from > 256u ? from + 256u : n;
        if (g && ekz_gcd_divides(j, from, to, g))
            continue;
        for (i = from; i < to; i++) {
            uint64_t d = j[i] - j[i - 1];
            if (d >> 63)
                d = 0u - d;
            if (d == 0)
                continue;
            if (g) {
                uint64_t rem = (d | g) >> 32 ? d % g : (uint64_t)((uint32_t)d % (uint32_t)g);
                if (rem == 0)
                    continue;
            }
            g = ekz_gcd2(g, d);
            if (g == 1u)
                return 1u;
        }
    }
    return g;
}

/* ------------------------------------------------------------------ affine-grid search
 * The hot steps of codec._affine_guess_raw, on a sample's distinct values (about a
 * thousand): the same float operations as the numpy references _codec_ref.float_gcd and
 * _codec_ref.grid_origin, in the same order, so the same bits. */

/* Python's float floor division a // b (CPython's float_divmod), b > 0 finite */
static double ekz_py_floordiv(double vx, double wx)
{
    double mod = fmod(vx, wx), div = (vx - mod) / wx, fl;
    if (mod != 0.0 && ((wx < 0.0) != (mod < 0.0)))
        div -= 1.0;
    if (div != 0.0) {
        fl = floor(div);
        if (div - fl > 0.5)
            fl += 1.0;
    } else {
        fl = copysign(0.0, vx / wx);
    }
    return fl;
}

/* Approximate gcd of the positive floats d (see _codec_ref.float_gcd): the divisors met,
 * coarsest first, into seen (room for n); their number, 0 when more than `skips` values
 * were passed over. */
size_t ekz_float_gcd(const double *d, size_t n, double tol, double floor_, long skips,
                     double *seen)
{
    double g = 0.0;
    size_t i, m = 0;
    for (i = 0; i < n; i++) {
        double v = d[i], a, b;
        if (g > v) {
            a = g;
            b = v;
        } else {
            a = v;
            b = g;
        }
        while (b > tol) {
            double r = fmod(a, b), e = tol * (ekz_py_floordiv(a, b) + 1.0);
            a = b;
            b = (r <= e || a - r <= e) ? 0.0 : r;
        }
        if (a > floor_) {
            if (m == 0 || a < seen[m - 1] - tol)
                seen[m++] = a;
            g = a;
        } else if (--skips < 0) {
            return 0;
        }
    }
    return m;
}

/* rint without a libm call (round half to even, the sign of zero kept) */
static inline double ekz_rintd(double t)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2**52 */
    double m = fabs(t);
    return m < 2251799813685248.0 ? copysign((m + magic) - magic, t) : rint(t);
}

/* stable sort of the permutation idx[0..n) by key[idx[i]] (no NaN keys): an LSD radix sort
 * on the keys' order-preserving bits (-0.0 counted as 0.0, equal as the comparison has it),
 * the eight byte histograms made in one pass, passes whose byte is the same for every key
 * skipped; no data-dependent branch (a comparison sort mispredicts on every other
 * element).  tmp, kb, kt: room for n each. */
static void ekz_argsort(const double *key, uint64_t *idx, uint64_t *tmp, uint64_t *kb,
                        uint64_t *kt, size_t n)
{
    size_t cnt[8][256], i;
    uint64_t *src = idx, *dst = tmp, *ks = kb, *kd = kt, *sw;
    unsigned pass;
    memset(cnt, 0, sizeof cnt);
    for (i = 0; i < n; i++) {
        double v = key[idx[i]] == 0.0 ? 0.0 : key[idx[i]];
        uint64_t b;
        memcpy(&b, &v, 8);
        b ^= (0u - (b >> 63)) | ((uint64_t)1 << 63);
        kb[i] = b;
        for (pass = 0; pass < 8u; pass++)
            cnt[pass][(b >> (8u * pass)) & 255u]++;
    }
    for (pass = 0; pass < 8u; pass++) {
        unsigned sh = 8u * pass;
        size_t sum = 0, *c = cnt[pass];
        for (i = 0; i < 256u; i++) {
            size_t ci = c[i];
            if (ci == n)
                break;
            c[i] = sum;
            sum += ci;
        }
        if (i < 256u)
            continue; /* one bucket holds every key: nothing to reorder */
        for (i = 0; i < n; i++) {
            size_t at = c[(ks[i] >> sh) & 255u]++;
            dst[at] = src[i];
            kd[at] = ks[i];
        }
        sw = src;
        src = dst;
        dst = sw;
        sw = ks;
        ks = kd;
        kd = sw;
    }
    if (src != idx)
        memcpy(idx, src, n * sizeof *idx);
}

/* (a, b) of the grid of step about b0 through distinct values u seen counts times (see
 * _codec_ref.grid_origin): returns 1 with out[0] = a, out[1] = b; 0 when no origin fits;
 * -1 when the reference must decide (a NaN on the way).  work: room for 3 * sweep + n
 * doubles; iwork: room for 9 * sweep + n. */
int ekz_grid_origin(const double *u, const int64_t *counts, const double *half, size_t n,
                    double b0, double frac, int64_t offn, size_t sweep, double *work,
                    uint64_t *iwork, double *out)
{
    double origins[3], total, best_neg = 0.0, best_a = 0.0, best_b = 0.0;
    int64_t sum = 0, cmax;
    size_t i, imax = 0, o;
    int found = 0;
    if (n == 0 || sweep < 2)
        return 0;
    for (i = 0; i < n; i++)
        sum += counts[i];
    cmax = counts[0];
    for (i = 1; i < n; i++) {
        if (counts[i] > cmax) {
            cmax = counts[i];
            imax = i;
        }
    }
    total = (double)sum;
    origins[0] = 0.0;
    origins[1] = u[0];
    origins[2] = u[imax];
    for (o = 0; o < 3; o++) {
        double a = origins[o], at_a = 0.0, *pos = work, *kv = work + 2 * sweep, b1, hit;
        double *kall = work + 3 * sweep;
        int64_t off = 0, at = 0, c, cbest;
        size_t m = 0, sel, ib = 0, len;
        uint64_t *idx = iwork, *ord = iwork + sweep, *tmp = iwork + 3 * sweep;
        uint64_t *kb = iwork + 5 * sweep, *kt = iwork + 7 * sweep, *iall = iwork + 9 * sweep;
        uint64_t ab, pb;
        memcpy(&ab, &a, 8);
        if (o > 0 && (memcpy(&pb, &origins[o - 1], 8), pb == ab))
            continue; /* the same origin again: the same result, which cannot do better */
        if (o > 1 && (memcpy(&pb, &origins[0], 8), pb == ab))
            continue;
        for (i = 0; i < n; i++) {
            double t = (u[i] - a) / b0, k = ekz_rintd(t);
            int on = fabs(t - k) <= frac && (k != 0.0 || fabs(u[i] - a) <= half[i]);
            if (t != t)
                return -1;
            off += on ? 0 : counts[i];
            at += (on && k == 0.0) ? counts[i] : 0;
            if (on && k != 0.0) { /* kept for the sweep below: one division a value */
                iall[m] = i;
                kall[m] = k;
                m++;
            }
            if (!on && (double)(off * offn) > total)
                break; /* off the grid already: the rest cannot bring it back (t is never
                        * NaN past here either: u, a finite, b0 finite and positive) */
        }
        if ((double)(off * offn) > total)
            continue;
        at_a = (double)at;
        if (m == 0)
            continue;
        sel = m > sweep ? sweep : m;
        /* the selected positions among the m on the grid off a: all, or sweep of them
         * evenly spaced, (s * (m - 1)) // (sweep - 1) */
        for (i = 0; i < sel; i++) {
            size_t r = m <= sweep ? i : (size_t)(((uint64_t)i * (m - 1u)) / (sweep - 1u));
            idx[i] = iall[r];
            kv[i] = kall[r];
        }
        len = 2 * sel;
        for (i = 0; i < sel; i++) {
            double xa = u[idx[i]] - a, hh = half[idx[i]];
            double lo = (xa - hh) / kv[i], hi = (xa + hh) / kv[i];
            if (lo != lo || hi != hi)
                return -1;
            pos[i] = lo < hi ? lo : hi; /* np.minimum / np.maximum (no NaN here) */
            pos[sel + i] = lo > hi ? lo : hi;
            if (!(lo < hi) && !(lo > hi)) { /* equal: numpy returns the first operand */
                pos[i] = lo;
                pos[sel + i] = lo;
            }
        }
        for (i = 0; i < len; i++)
            ord[i] = i;
        ekz_argsort(pos, ord, tmp, kb, kt, len);
        c = 0;
        cbest = 0;
        for (i = 0; i < len; i++) {
            size_t q = (size_t)ord[i]; /* weights: counts, then their negatives */
            c += q < sel ? counts[idx[q]] : -counts[idx[q - sel]];
            if (i == 0 || c > cbest) {
                cbest = c;
                ib = i;
            }
        }
        b1 = (pos[ord[ib]] + pos[ord[ib + 1 < len ? ib + 1 : len - 1]]) / 2.0;
        hit = (double)cbest + at_a;
        if (b1 > 0.0 && isfinite(b1) && (!found || -hit < best_neg)) {
            found = 1;
            best_neg = -hit;
            best_a = a;
            best_b = b1;
        }
    }
    if (!found)
        return 0;
    out[0] = best_a;
    out[1] = best_b;
    return 1;
}

/* ------------------------------------------------------------------ quantizers */

#define EKZ_TWO53 9007199254740992.0

static inline int64_t ekz_s64(uint64_t u)
{
    int64_t s; /* int64_t is two's complement without padding (C99 7.18.1.1) */
    memcpy(&s, &u, 8);
    return s;
}

/* round half to even for |t| < 2**53 without a libm call (default rounding mode) */
static inline int64_t ekz_rint(double t)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2**52 */
    if (fabs(t) < 2251799813685248.0)        /* 2**51 */
        return (int64_t)((t + magic) - magic);
    return (int64_t)rint(t);
}

static inline uint64_t ekz_sort64(uint64_t bits)
{
    return bits ^ ((0u - (bits >> 63)) >> 1);
}

/* float32 bits -> sortable, sign-extended to 64 bits; and back (low 32 bits) */
static inline uint64_t ekz_sort32(uint32_t bits)
{
    uint32_t s = bits ^ ((0u - (bits >> 31)) >> 1);
    return (uint64_t)s | ((s >> 31) ? 0xffffffff00000000u : 0u);
}

static inline uint32_t ekz_unsort32(uint64_t s)
{
    uint32_t v = (uint32_t)s;
    return v ^ ((0u - (v >> 31)) >> 1);
}

/* q[i] = (j[i] - off) / g when that is exact for every i (as int64, the values wrapping no
 * further than int64 does: off + g * q[i] == j[i]); returns 1 then, 0 (q untouched) when
 * some value is not, EKZ_EINVAL unless 2 <= g < 2**63 and off < g.  Division by
 * multiplication: g = m * 2**s with m odd, m's inverse mod 2**64, and |d| divides exactly
 * iff its low s bits are 0 and (|d| >> s) * inverse <= (2**64 - 1) / m. */
EKZ_VEC_CLONES int ekz_gcd_split(const uint64_t *j, size_t n, uint64_t g, uint64_t off,
                                 uint64_t *q)
{
    uint64_t m = g, inv, lim, mask, bad = 0;
    unsigned s = 0, it;
    size_t i;
    if (g < 2u || g >> 63 || off >= g)
        return EKZ_EINVAL;
    while (!(m & 1u)) {
        m >>= 1;
        s++;
    }
    inv = m; /* m * m = 1 mod 8: 3 bits, doubled by each Newton step */
    for (it = 0; it < 5u; it++)
        inv *= 2u - m * inv;
    lim = UINT64_MAX / m;
    mask = ((uint64_t)1 << s) - 1u;
    for (i = 0; i < n; i++) {
        uint64_t d = j[i] - off, neg = 0u - (d >> 63), u = (d ^ neg) - neg;
        bad |= (u & mask) | (uint64_t)(((u >> s) * inv) > lim);
    }
    if (bad)
        return 0;
    for (i = 0; i < n; i++) {
        uint64_t d = j[i] - off, neg = 0u - (d >> 63), u = (d ^ neg) - neg;
        q[i] = (((u >> s) * inv) ^ neg) - neg;
    }
    return 1;
}

/* 1 and out[i] = (float)x[i] when every x[i] is a float32 value (its float64 bits come
 * back from the float32, NaN payloads included); else 0, at the first value that is not
 * (out partly written).  A finite value beyond float32's range is not one (its conversion
 * would be undefined in C). */
int ekz_f32_exact(const double *x, size_t n, float *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        double v = x[i], back;
        float f;
        uint64_t a, b;
        if (fabs(v) > 3.4028234663852886e38 && isfinite(v))
            return 0;
        f = (float)v;
        back = (double)f;
        memcpy(&a, &v, 8);
        memcpy(&b, &back, 8);
        if (a != b)
            return 0;
        out[i] = f;
    }
    return 1;
}

/* Float bits as order-preserving int64 (float32 sign-extended from 32 bits). */
#define EKZ_DEFINE_SORTABLE(SUF, T, W, SORT)                                                 \
    EKZ_VEC_CLONES int ekz_sortable_##SUF(const T *x, size_t n, int64_t *out)                \
    {                                                                                        \
        size_t i;                                                                            \
        for (i = 0; i < n; i++) {                                                            \
            uint##W##_t b;                                                                   \
            memcpy(&b, &x[i], sizeof b);                                                     \
            out[i] = ekz_s64(SORT(b));                                                       \
        }                                                                                    \
        return EKZ_OK;                                                                       \
    }

EKZ_DEFINE_SORTABLE(f64, double, 64, ekz_sort64)
EKZ_DEFINE_SORTABLE(f32, float, 32, ekz_sort32)
#undef EKZ_DEFINE_SORTABLE

/* The commonest gaps between consecutive distinct values u (ascending) above floor_, at
 * most maxg, commonest first (see _codec_ref.common_gaps): a gap's class is rint(gap /
 * tol); classes in ascending order, each represented by its first gap, then stably by
 * descending count.  Returns their number, or -1 when the reference must decide (a NaN
 * class).  work: room for 3 * n doubles, iwork: 6 * n. */
long ekz_common_gaps(const double *u, size_t n, double floor_, double tol, size_t maxg,
                     double *work, uint64_t *iwork, double *out)
{
    double *gaps = work, *v = work + n, *key = work + 2 * n;
    uint64_t *perm = iwork, *tmp = iwork + n, *first = iwork + 2 * n, *ord = iwork + 3 * n;
    uint64_t *kb = iwork + 4 * n, *kt = iwork + 5 * n;
    size_t i, m = 0, runs = 0, start = 0;
    for (i = 0; i + 1 < n; i++) {
        double g = u[i + 1] - u[i];
        if (g > floor_)
            gaps[m++] = g;
    }
    for (i = 0; i < m; i++) {
        v[i] = ekz_rintd(gaps[i] / tol);
        if (v[i] != v[i])
            return -1;
        perm[i] = i;
    }
    ekz_argsort(v, perm, tmp, kb, kt, m);
    for (i = 1; i <= m; i++) {
        if (i == m || v[perm[i]] != v[perm[i - 1]]) {
            first[runs] = perm[start];
            key[runs] = -(double)(i - start);
            runs++;
            start = i;
        }
    }
    for (i = 0; i < runs; i++)
        ord[i] = i;
    ekz_argsort(key, ord, tmp, kb, kt, runs);
    if (runs > maxg)
        runs = maxg;
    for (i = 0; i < runs; i++)
        out[i] = gaps[first[ord[i]]];
    return (long)runs;
}

/* For each of ns steps b: the weighted share of the distinct values ux (weights w) off
 * the grid a + k * b by more than frac of a step, and the weighted bits of their
 * residuals (see _codec_ref.grid_costs). */
#define EKZ_DEFINE_GRID_COSTS(SUF, T, W, SORT)                                               \
    int ekz_grid_costs_##SUF(const T *ux, size_t n, const double *w, double a,              \
                             const double *steps, size_t ns, double frac, double *off,      \
                             double *bits)                                                   \
    {                                                                                        \
        double wsum = 0.0;                                                                   \
        size_t i, s;                                                                         \
        for (i = 0; i < n; i++)                                                              \
            wsum += w[i];                                                                    \
        for (s = 0; s < ns; s++) {                                                           \
            double o = 0.0, bs = 0.0, b = steps[s];                                          \
            for (i = 0; i < n; i++) {                                                        \
                double t = ((double)ux[i] - a) / b, k = ekz_rintd(t);                        \
                T y = (T)(a + k * b);                                                        \
                uint##W##_t xb, yb;                                                          \
                uint64_t z, zb;                                                              \
                double zd;                                                                   \
                int e;                                                                       \
                if (!(fabs(t - k) <= frac))                                                  \
                    o += w[i];                                                               \
                memcpy(&xb, &ux[i], sizeof(T));                                              \
                memcpy(&yb, &y, sizeof(T));                                                  \
                z = ekz_zz(SORT(xb) - SORT(yb));                                             \
                zd = (double)z; /* frexp's exponent, from the bits (zd is 0 or normal) */    \
                memcpy(&zb, &zd, 8);                                                         \
                e = z ? (int)((zb >> 52) & 2047u) - 1022 : 0;                                \
                bs += (double)(e + (z != 0)) * w[i];                                         \
            }                                                                                \
            off[s] = o / wsum;                                                               \
            bits[s] = bs;                                                                    \
        }                                                                                    \
        return EKZ_OK;                                                                       \
    }

EKZ_DEFINE_GRID_COSTS(f64, double, 64, ekz_sort64)
EKZ_DEFINE_GRID_COSTS(f32, float, 32, ekz_sort32)
#undef EKZ_DEFINE_GRID_COSTS

static double ekz_pow10(int d)
{
    double p = 1.0;
    while (d-- > 0)
        p *= 10.0;
    return p;
}

/* The smallest d in 0..maxd (<= 22) for which at most `allow` of `sample` finite values,
 * read at evenly spaced positions floor(s * n / m) (m = min(sample, n)) across x, are not
 * exactly rint(x * 10**d) / 10**d; -1 when no d qualifies.  Reading across the block, not
 * its head, catches a block whose later values carry more decimals than its first ones. */
#define EKZ_DEFINE_FIND_DECIMALS(SUF, T)                                                     \
    int ekz_find_decimals_##SUF(const T *x, size_t n, size_t sample, int maxd, size_t allow) \
    {                                                                                        \
        size_t m = sample < n ? sample : n, q, rem;                                          \
        int d;                                                                               \
        if (m == 0)                                                                          \
            return 0;                                                                        \
        q = n / m;                                                                           \
        rem = n % m;                                                                         \
        for (d = 0; d <= maxd && d <= 22; d++) {                                             \
            double p = ekz_pow10(d);                                                         \
            size_t s, miss = 0;                                                              \
            for (s = 0; s < m && miss <= allow; s++) {                                       \
                T v = x[s * q + (size_t)(((uint64_t)s * rem) / m)];                          \
                double t;                                                                    \
                if (!isfinite(v))                                                            \
                    continue;                                                                \
                t = (double)v * p;                                                           \
                miss += !(fabs(t) < EKZ_TWO53) || (T)(rint(t) / p) != v;                     \
            }                                                                                \
            if (miss <= allow)                                                               \
                return d;                                                                    \
        }                                                                                    \
        return -1;                                                                           \
    }

EKZ_DEFINE_FIND_DECIMALS(f64, double)
EKZ_DEFINE_FIND_DECIMALS(f32, float)

static inline double ekz_y(int mode, int64_t k, double p, double a, double b)
{
    return mode == 0 ? (double)k / p : a + (double)k * b;
}

/* The decimal quantizer's fast path: when every x[i] * p is below 2**51 in magnitude and
 * every x[i] is exactly rint(x[i] * p) / p (bits and all: no -0.0, NaN or off-grid value),
 * k is written and 1 returned; otherwise 0 (k partly written) and the caller runs the
 * general loop.  No branch or carried value per element (rint by the 1.5 * 2**52 trick,
 * k read from the rounded double's bits), so the compiler can vectorize it. */
#define EKZ_DEFINE_QUANT_EXACT(SUF, T, W)                                                    \
    /* values [from, to): no exit inside, so the compiler vectorizes it */                  \
    EKZ_VEC_CLONES static void ekz_quant_chunk_##SUF(const T *x, size_t from, size_t to,     \
                                                     double p, int unit, int64_t *k,         \
                                                     int *ok_, uint64_t *diff_, int64_t *lo_,\
                                                     int64_t *hi_)                           \
    {                                                                                        \
        const double magic = 6755399441055744.0, lim = 2251799813685248.0;                   \
        uint64_t mb, diff = 0;                                                               \
        int ok = 1;                                                                          \
        int64_t lo = *lo_, hi = *hi_;                                                        \
        memcpy(&mb, &magic, 8);                                                              \
        for (size_t i = from; i < to; i++) {                                                 \
            T xi = x[i], y;                                                                  \
            double t = (double)xi * p, s = t + magic, rt = s - magic;                        \
            uint64_t sb;                                                                     \
            uint##W##_t xb, yb;                                                              \
            ok &= fabs(t) < lim;                                                             \
            y = unit ? (T)rt : (T)(rt / p);                                                  \
            memcpy(&sb, &s, 8);                                                              \
            memcpy(&xb, &xi, sizeof(T));                                                     \
            memcpy(&yb, &y, sizeof(T));                                                      \
            diff |= (uint64_t)(xb ^ yb);                                                     \
            int64_t ki = ekz_s64(sb - mb); /* rint(t) while |t| < 2**51, as rt */           \
            k[i] = ki;                                                                       \
            lo = ki < lo ? ki : lo;                                                          \
            hi = ki > hi ? ki : hi;                                                          \
        }                                                                                    \
        *ok_ &= ok;                                                                          \
        *diff_ |= diff;                                                                      \
        *lo_ = lo;                                                                           \
        *hi_ = hi;                                                                           \
    }                                                                                        \
                                                                                             \
    static int ekz_quant_exact_##SUF(const T *x, size_t n, double p, int unit, int64_t *k,   \
                                     int64_t *range, size_t *done)                           \
    {                                                                                        \
        uint64_t diff = 0;                                                                   \
        int ok = 1;                                                                          \
        /* the k range (the range of rint(x p) while every |x p| < 2**51: only then used) */ \
        int64_t lo = INT64_MAX, hi = INT64_MIN, slo = 0, shi = 0;                            \
        size_t c0, sdone = 0;                                                                \
        *done = 0;                                                                           \
        if (n == 0)                                                                          \
            return 0;                                                                        \
        /* chunks up to each i = 1023 mod 1024, where the data is checked still exact */    \
        for (c0 = 0; c0 < n;) {                                                              \
            size_t c1 = (c0 | 1023u) == c0 ? c0 + 1024u : (c0 | 1023u);                      \
            c1 = c1 < n ? c1 : n;                                                            \
            ekz_quant_chunk_##SUF(x, c0, c1, p, unit, k, &ok, &diff, &lo, &hi);              \
            if (c1 == n)                                                                     \
                break;                                                                       \
            if (!ok || diff)                                                                 \
                break; /* no: the general loop takes over after the exact prefix */         \
            sdone = c1;                                                                      \
            slo = lo;                                                                        \
            shi = hi;                                                                        \
            c0 = c1;                                                                         \
        }                                                                                    \
        if (!ok || diff) {                                                                   \
            *done = sdone;                                                                   \
            range[0] = slo; /* of the exact prefix k[0..*done) */                           \
            range[1] = shi;                                                                  \
            return 0;                                                                        \
        }                                                                                    \
        range[0] = lo;                                                                       \
        range[1] = hi;                                                                       \
        return 1;                                                                            \
    }

EKZ_DEFINE_QUANT_EXACT(f64, double, 64)
EKZ_DEFINE_QUANT_EXACT(f32, float, 32)
#undef EKZ_DEFINE_QUANT_EXACT

/* The affine quantizer's first pass when every |(x[i] - a) / b| is below 2**51 (no NaN,
 * infinity or far value): k by the 1.5 * 2**52 trick, read from the rounded double's
 * bits, with no branch or carried value per element (the compiler vectorizes it); the same
 * k as the general loop.  Returns 0 (k partly written) when some value is out of range. */
#define EKZ_DEFINE_QUANT_AFFINE_FAST(SUF, T)                                                 \
    EKZ_VEC_CLONES static int ekz_quant_affine_fast_##SUF(                               \
        const T *x, size_t n, double a, double b, int64_t *k, int64_t *lo, int64_t *hi)  \
    {                                                                                        \
        const double magic = 6755399441055744.0, lim = 2251799813685248.0;                   \
        uint64_t mb;                                                                         \
        int ok = 1;                                                                          \
        int64_t range[2];                                                                    \
        size_t i;                                                                            \
        if (n == 0)                                                                          \
            return 0;                                                                        \
        memcpy(&mb, &magic, 8);                                                              \
        for (i = 0; i < n; i++) {                                                            \
            double t = ((double)x[i] - a) / b, s = t + magic;                                \
            uint64_t sb;                                                                     \
            ok &= fabs(t) < lim;                                                             \
            memcpy(&sb, &s, 8);                                                              \
            k[i] = ekz_s64(sb - mb);                                                         \
        }                                                                                    \
        if (!ok)                                                                             \
            return 0;                                                                        \
        ekz_minmax(k, n, range);                                                             \
        *lo = range[0];                                                                      \
        *hi = range[1];                                                                      \
        return 1;                                                                            \
    }

EKZ_DEFINE_QUANT_AFFINE_FAST(f64, double)
EKZ_DEFINE_QUANT_AFFINE_FAST(f32, float)
#undef EKZ_DEFINE_QUANT_AFFINE_FAST

/* Quantizer body for float type T with W-bit bits: pass 1 finds k (and its range); pass 2
 * computes y, from a table of the distinct values when the range is short (each y by the
 * same formula, once), and the residual. */
#define EKZ_DEFINE_QUANT(SUF, T, W, SORT)                                                    \
    int ekz_quant_##SUF(const T *x, size_t n, int mode, double p, double a, double b,       \
                        double tol, T *tab, int64_t *k, int64_t *r, size_t *nonzero,         \
                        int64_t *range)                                                      \
    {                                                                                        \
        size_t i, nz = 0;                                                                    \
        int64_t prev = 0, lo = 0, hi = 0;                                                    \
        uint64_t span;                                                                       \
        if (mode != 0 && mode != 1)                                                          \
            return EKZ_EINVAL;                                                               \
        if (mode == 0) {                                                                     \
            /* decimal: one pass; y = k / p is a single correctly rounded division, the    \
             * same bits as the table would hold (and k itself when p is 1) */             \
            int unit = p == 1.0;                                                             \
            size_t start;                                                                    \
            if (ekz_quant_exact_##SUF(x, n, p, unit, k, range, &start)) {                    \
                *nonzero = 0; /* every value is exactly k / p: no residual */                \
                return EKZ_OK;                                                               \
            }                                                                                \
            if (start) { /* k[0..start) exact: their residuals are 0 */                      \
                lo = range[0];                                                               \
                hi = range[1];                                                               \
                prev = k[start - 1];                                                         \
                memset(r, 0, start * sizeof *r);                                             \
            }                                                                                \
            for (i = start; i < n; i++) {                                                    \
                T xi = x[i], y;                                                              \
                double t = (double)xi * p;                                                   \
                int64_t ki = fabs(t) < EKZ_TWO53 ? ekz_rint(t) : prev;                       \
                uint##W##_t xb, yb;                                                          \
                uint64_t res = 0;                                                            \
                k[i] = ki;                                                                   \
                prev = ki;                                                                   \
                lo = ki < lo ? ki : lo;                                                      \
                hi = ki > hi ? ki : hi;                                                      \
                y = unit ? (T)(double)ki : (T)((double)ki / p);                              \
                memcpy(&xb, &xi, sizeof(T));                                                 \
                memcpy(&yb, &y, sizeof(T));                                                  \
                /* branch-free: half the values of a noisy grid have one */              \
                res = (SORT(xb) - SORT(yb)) &                                                \
                      (0u - (uint64_t)!(tol >= 0.0 && fabs((double)y - (double)xi) <= tol));  \
                r[i] = ekz_s64(res); /* (exact data took the fast path: r untouched) */     \
                nz += res != 0;                                                              \
                if (i == 0)                                                                  \
                    lo = hi = ki;                                                            \
            }                                                                                \
            range[0] = lo;                                                                   \
            range[1] = hi;                                                                   \
            *nonzero = nz;                                                                   \
            return EKZ_OK;                                                                   \
        }                                                                                    \
        if (!ekz_quant_affine_fast_##SUF(x, n, a, b, k, &lo, &hi)) {                         \
            for (i = 0; i < n; i++) {                                                        \
                double t = ((double)x[i] - a) / b;                                           \
                int64_t ki = fabs(t) < EKZ_TWO53 ? ekz_rint(t) : prev;                       \
                k[i] = ki;                                                                   \
                prev = ki;                                                                   \
                lo = ki < lo || i == 0 ? ki : lo;                                            \
                hi = ki > hi || i == 0 ? ki : hi;                                            \
            }                                                                                \
        }                                                                                    \
        range[0] = lo;                                                                       \
        range[1] = hi;                                                                       \
        span = (uint64_t)hi - (uint64_t)lo;                                                  \
        if (n && span < (uint64_t)EKZ_TAB_LEN && span < n / 4u) {                            \
            size_t v;                                                                        \
            for (v = 0; v <= (size_t)span; v++)                                              \
                tab[v] = (T)ekz_y(mode, lo + (int64_t)v, p, a, b);                           \
        } else {                                                                             \
            tab = NULL;                                                                      \
        }                                                                                    \
        for (i = 0; i < n; i++) {                                                            \
            T xi = x[i];                                                                     \
            T y = tab ? tab[k[i] - lo] : (T)ekz_y(mode, k[i], p, a, b);                      \
            uint##W##_t xb, yb;                                                              \
            uint64_t res = 0;                                                                \
            memcpy(&xb, &xi, sizeof(T));                                                     \
            memcpy(&yb, &y, sizeof(T));                                                      \
            res = (SORT(xb) - SORT(yb)) & /* branch-free: a noisy grid has many */         \
                  (0u - (uint64_t)!(tol >= 0.0 && fabs((double)y - (double)xi) <= tol));      \
            r[i] = ekz_s64(res);                                                             \
            nz += res != 0;                                                                  \
        }                                                                                    \
        *nonzero = nz;                                                                       \
        return EKZ_OK;                                                                       \
    }

EKZ_DEFINE_QUANT(f64, double, 64, ekz_sort64)
EKZ_DEFINE_QUANT(f32, float, 32, ekz_sort32)
#undef EKZ_DEFINE_QUANT

int ekz_build_tab_f64(int mode, double p, double a, double b, uint64_t g, uint64_t off,
                      uint64_t lo, size_t len, double *tab)
{
    size_t v;
    if ((mode != 0 && mode != 1) || len > EKZ_TAB_LEN)
        return EKZ_EINVAL;
    for (v = 0; v < len; v++)
        tab[v] = ekz_y(mode, ekz_s64(off + g * (lo + v)), p, a, b);
    return EKZ_OK;
}

int ekz_build_tab_f32(int mode, double p, double a, double b, uint64_t g, uint64_t off,
                      uint64_t lo, size_t len, float *tab)
{
    size_t v;
    if ((mode != 0 && mode != 1) || len > EKZ_TAB_LEN)
        return EKZ_EINVAL;
    for (v = 0; v < len; v++)
        tab[v] = (float)ekz_y(mode, ekz_s64(off + g * (lo + v)), p, a, b);
    return EKZ_OK;
}

int ekz_add_resid_f64(const int64_t *r, size_t n, double *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (r[i]) {
            uint64_t yb;
            memcpy(&yb, &out[i], 8);
            yb = ekz_sort64(ekz_sort64(yb) + (uint64_t)r[i]);
            memcpy(&out[i], &yb, 8);
        }
    }
    return EKZ_OK;
}

int ekz_add_resid_f32(const int64_t *r, size_t n, float *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (r[i]) {
            uint32_t yb;
            memcpy(&yb, &out[i], 4);
            yb = ekz_unsort32(ekz_sort32(yb) + (uint64_t)r[i]);
            memcpy(&out[i], &yb, 4);
        }
    }
    return EKZ_OK;
}

/* k range of a block, for the table path */
static int ekz_krange(const uint64_t *j, size_t n, uint64_t g, uint64_t off, int64_t *lo)
{
    size_t i;
    int64_t mn, mx;
    if (n == 0)
        return 0;
    mn = mx = ekz_s64(off + g * j[0]);
    for (i = 1; i < n; i++) {
        int64_t k = ekz_s64(off + g * j[i]);
        mn = k < mn ? k : mn;
        mx = k > mx ? k : mx;
    }
    *lo = mn;
    /* a table pays when it is much shorter than the block */
    if ((uint64_t)mx - (uint64_t)mn >= (uint64_t)EKZ_TAB_LEN || (uint64_t)mx - (uint64_t)mn >= n / 4u)
        return 0;
    return (int)((uint64_t)mx - (uint64_t)mn) + 1;
}

#define EKZ_DEFINE_DEQUANT(SUF, T, W, SORT, UNSORT)                                          \
    int ekz_dequant_##SUF(const uint64_t *j, const int64_t *r, size_t n, int mode, double p, \
                          double a, double b, uint64_t g, uint64_t off, T *tab, T *out)      \
    {                                                                                        \
        size_t i;                                                                            \
        int64_t lo = 0;                                                                      \
        int len;                                                                             \
        if (mode != 0 && mode != 1)                                                          \
            return EKZ_EINVAL;                                                               \
        len = ekz_krange(j, n, g, off, &lo);                                                 \
        if (len > 0) {                                                                       \
            /* each distinct k once, by the same formula; then a lookup per value */         \
            int v;                                                                           \
            for (v = 0; v < len; v++)                                                        \
                tab[v] = (T)ekz_y(mode, lo + v, p, a, b);                                    \
            for (i = 0; i < n; i++)                                                          \
                out[i] = tab[(uint64_t)ekz_s64(off + g * j[i]) - (uint64_t)lo];              \
        } else {                                                                             \
            for (i = 0; i < n; i++)                                                          \
                out[i] = (T)ekz_y(mode, ekz_s64(off + g * j[i]), p, a, b);                   \
        }                                                                                    \
        if (r) {                                                                             \
            for (i = 0; i < n; i++) {                                                        \
                if (r[i]) {                                                                  \
                    uint##W##_t yb;                                                          \
                    memcpy(&yb, &out[i], sizeof(T));                                         \
                    yb = UNSORT(SORT(yb) + (uint64_t)r[i]);                                  \
                    memcpy(&out[i], &yb, sizeof(T));                                         \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        return EKZ_OK;                                                                       \
    }

static inline uint64_t ekz_unsort64(uint64_t s) { return ekz_sort64(s); }

EKZ_DEFINE_DEQUANT(f64, double, 64, ekz_sort64, ekz_unsort64)
EKZ_DEFINE_DEQUANT(f32, float, 32, ekz_sort32, ekz_unsort32)

/* ------------------------------------------------------------------ whole blocks
 *
 * One block of a frame (docs/compress/format.md, "Block" and "Stream") decoded in one
 * call: codec._decode_block without a Python step per stream.  It accepts only what the
 * Python decoder accepts, with the same values; anything else (corrupt data, and block
 * models it does not know) returns a status and the caller decodes the block in Python,
 * which raises the precise error (or decodes a model added there). */

typedef struct {
    const uint8_t *p, *end;
    int bad;
} ekz_rd;

static uint8_t ekz_rd_u8(ekz_rd *r)
{
    if (r->p >= r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

/* LEB128, at most 10 bytes, below 2**64, minimal (codec._Reader.varint) */
static uint64_t ekz_rd_varint(ekz_rd *r)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        uint8_t b = ekz_rd_u8(r);
        if (r->bad || (shift == 63u && b > 1u)) {
            r->bad = 1;
            return 0;
        }
        v |= (uint64_t)(b & 0x7fu) << shift;
        if (!(b & 0x80u)) {
            if (shift && b == 0)
                r->bad = 1;
            return v;
        }
        shift += 7u;
    }
}

static const uint8_t *ekz_rd_take(ekz_rd *r, uint64_t n)
{
    const uint8_t *p = r->p;
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return NULL;
    }
    r->p += n;
    return p;
}

typedef struct {
    uint64_t *j, *runs, *vals;
    void *tab;
    float *f32;
    ekz_dtab *tb;
    uint64_t *pj, *idx; /* format v2: the predictor's j, the split dictionary's indices */
    void *dict;         /* format v2: the dictionary's table */
    int v2;             /* a version-2 frame's block (dictionary and predictor allowed) */
    int v3;             /* a version-3 frame's block (predictor lanes allowed) */
    int kind4;          /* stream kind 4 (lanes) allowed: a version-3 frame's block, not a
                         * dictionary's table */
} ekz_work;

#define EKZ_BAD(r) ((r)->bad ? EKZ_ECORRUPT : EKZ_OK)

/* a kind 0/1 (or, format v3, 4) body (codec._body_decode) into sink s */
static int ekz_blk_plain(ekz_rd *r, unsigned kind, int order, size_t n, const uint64_t *first,
                         const ekz_sink *s, ekz_work *w)
{
    uint16_t freq[256];
    const uint8_t *bits, *words = NULL;
    uint64_t blen, wlen = 0;
    int single = -1;
    if (kind == 0u) {
        single = ekz_rd_u8(r);
        blen = ekz_rd_varint(r);
        bits = ekz_rd_take(r, blen);
        memset(freq, 0, sizeof freq);
    } else {
        unsigned maxtok = ekz_rd_u8(r), packed = ekz_rd_u8(r), pb = packed >> 4,
                 nbits = packed & 15u, count = maxtok + 1u;
        size_t tl = (count * nbits + 7u) / 8u;
        const uint8_t *raw;
        if (r->bad || nbits < 1u || nbits > 12u || pb < 4u || pb > 12u)
            return EKZ_ECORRUPT;
        raw = ekz_rd_take(r, tl);
        if (raw == NULL || ekz_unpack_freq(raw, tl, count, nbits, pb, freq) != EKZ_OK)
            return EKZ_ECORRUPT;
        blen = ekz_rd_varint(r);
        wlen = ekz_rd_varint(r);
        bits = ekz_rd_take(r, blen);
        words = ekz_rd_take(r, wlen);
        if (kind == 4u)
            single = EKZ_SINGLE_LANES;
    }
    if (r->bad)
        return EKZ_ECORRUPT;
    return ekz_decode_core(words ? words : bits, (size_t)wlen, bits, (size_t)blen, freq,
                           single, order, first, n, s, w->tb);
}

/* ekz_runs_expand straight into an integer or float-bits sink (the conversion of
 * ekz_sink_put per value, no j array and no second pass): at order 0 or 1 a run of zero
 * codes repeats one value, converted once; runs of up to 8 are written as 8 stores (the
 * values past the run are overwritten by the next ones: every position is written in
 * order), so the short runs of a noisy series take no unpredictable loop.  EKZ_EINVAL for a
 * sink it does not take (the caller then expands into j). */
#define EKZ_RUNS_SINK_O(T, CONV, ORDER, HOOK)                                                \
    do {                                                                                     \
        T *o = (T *)s->out, y;                                                               \
        if ((ORDER) >= 1) /* (the first values: stored apart) */                             \
            o[0] = CONV(first[0]);                                                           \
        if ((ORDER) == 2)                                                                    \
            o[1] = CONV(first[1]);                                                           \
        for (q = 0; q <= m; q++) {                                                           \
            uint64_t run;                                                                    \
            HOOK;                                                                            \
            run = ekz_zz(runs[q]);                                                           \
            if (run > (uint64_t)(n - i))                                                     \
                return EKZ_ECORRUPT;                                                         \
            if ((ORDER) == 2) {                                                              \
                for (c = 0; c < (size_t)run; c++) {                                          \
                    acc += step;                                                             \
                    o[i + c] = CONV(acc);                                                    \
                }                                                                            \
            } else {                                                                         \
                y = CONV(acc);                                                               \
                if (run <= 8u && n - i >= 8u) {                                              \
                    for (c = 0; c < 8u; c++)                                                 \
                        o[i + c] = y;                                                        \
                } else {                                                                     \
                    for (c = 0; c < (size_t)run; c++)                                        \
                        o[i + c] = y;                                                        \
                }                                                                            \
            }                                                                                \
            i += (size_t)run;                                                                \
            if (q < m) {                                                                     \
                const uint64_t z = ekz_zz(vals[q]) + 1u;                                     \
                uint64_t v;                                                                  \
                if (z == 0 || i >= n)                                                        \
                    return EKZ_ECORRUPT;                                                     \
                v = ekz_unzz(z);                                                             \
                if ((ORDER) == 0) {                                                          \
                    o[i] = CONV(v);                                                          \
                } else {                                                                     \
                    if ((ORDER) == 2)                                                        \
                        step += v, v = step;                                                 \
                    acc += v;                                                                \
                    o[i] = CONV(acc);                                                        \
                }                                                                            \
                i++;                                                                         \
            }                                                                                \
        }                                                                                    \
    } while (0)
#define EKZ_RUNS_SINK(T, CONV)                                                               \
    do {                                                                                     \
        if (order == 0)                                                                      \
            EKZ_RUNS_SINK_O(T, CONV, 0, (void)0);                                            \
        else if (order == 1)                                                                 \
            EKZ_RUNS_SINK_O(T, CONV, 1, (void)0);                                            \
        else                                                                                 \
            EKZ_RUNS_SINK_O(T, CONV, 2, (void)0);                                            \
    } while (0)
#define EKZ_CONV_INT(J) (off + g * (J))
#define EKZ_CONV_B16(J) ekz_unsort16((uint16_t)(off + g * (J)))
#define EKZ_CONV_B32(J) ekz_flip32((uint32_t)(off + g * (J)))
#define EKZ_CONV_B64(J) ekz_flip64(off + g * (J))
static int ekz_runs_sink(const uint64_t *runs, const uint64_t *vals, size_t m, int order,
                         const uint64_t *first, const ekz_sink *s, size_t n)
{
    const uint64_t g = s->g, off = s->off;
    size_t i = (size_t)order, q, c;
    uint64_t acc = 0, step = 0;
    if (order >= 1)
        acc = first[order - 1];
    if (order == 2)
        step = first[1] - first[0];
    switch (s->kind) {
    case EKZ_SINK_I8:
        EKZ_RUNS_SINK(uint8_t, (uint8_t)EKZ_CONV_INT);
        break;
    case EKZ_SINK_I16:
        EKZ_RUNS_SINK(uint16_t, (uint16_t)EKZ_CONV_INT);
        break;
    case EKZ_SINK_I32:
        EKZ_RUNS_SINK(uint32_t, (uint32_t)EKZ_CONV_INT);
        break;
    case EKZ_SINK_I64:
        EKZ_RUNS_SINK(uint64_t, EKZ_CONV_INT);
        break;
    case EKZ_SINK_B16:
        EKZ_RUNS_SINK(uint16_t, EKZ_CONV_B16);
        break;
    case EKZ_SINK_B32:
        EKZ_RUNS_SINK(uint32_t, EKZ_CONV_B32);
        break;
    case EKZ_SINK_B64:
        EKZ_RUNS_SINK(uint64_t, EKZ_CONV_B64);
        break;
    default:
        return EKZ_EINVAL;
    }
    return i == n ? EKZ_OK : EKZ_ECORRUPT;
}

#ifdef EKZ_LANES_SIMD
/* ekz_runs_sink at order 1 into a 32-bit sink (I32, B32) with AVX-512: eight runs of zero
 * codes in a row (a noisy series whose deltas are mostly nonzero) are eight consecutive
 * values, their deltas summed as a prefix sum, converted and stored at once */
#define EKZ_DENSE8(FLIP)                                                                     \
    if (q + 8u <= m && n - i >= 8u) {                                                        \
        const __m512i r8 = _mm512_loadu_si512((const void *)(runs + q));                     \
        if (!_mm512_test_epi64_mask(r8, r8)) {                                               \
            const __m512i w8 = _mm512_loadu_si512((const void *)(vals + q));                 \
            __m512i z = _mm512_add_epi64(                                                    \
                _mm512_xor_si512(_mm512_slli_epi64(w8, 1), _mm512_srai_epi64(w8, 63)), one); \
            __m256i u;                                                                       \
            if (_mm512_test_epi64_mask(z, z) != 0xFFu)                                       \
                return EKZ_ECORRUPT;                                                         \
            z = _mm512_xor_si512(_mm512_srli_epi64(z, 1),                                    \
                                 _mm512_sub_epi64(_mm512_setzero_si512(),                    \
                                                  _mm512_and_si512(z, one)));                \
            z = _mm512_add_epi64(ekz_prefix64(z), _mm512_set1_epi64((long long)acc));        \
            acc = (uint64_t)_mm_extract_epi64(_mm512_extracti64x2_epi64(z, 3), 1);           \
            if (g != 1u)                                                                     \
                z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)g));                  \
            u = _mm512_cvtepi64_epi32(_mm512_add_epi64(z, _mm512_set1_epi64((long long)off))); \
            if (FLIP)                                                                        \
                u = _mm256_xor_si256(u, _mm256_srli_epi32(_mm256_srai_epi32(u, 31), 1));     \
            _mm256_storeu_si256((__m256i *)(void *)(o + i), u);                              \
            i += 8u;                                                                         \
            q += 7u;                                                                         \
            continue;                                                                        \
        }                                                                                    \
    }
EKZ_LANES_TARGET static int ekz_runs_dense_simd(const uint64_t *runs, const uint64_t *vals,
                                                size_t m, const uint64_t *first,
                                                const ekz_sink *s, size_t n)
{
    const uint64_t g = s->g, off = s->off;
    const __m512i one = _mm512_set1_epi64(1);
    size_t i = 1, q, c;
    uint64_t acc = first[0], step = 0;
    (void)step;
    if (s->kind == EKZ_SINK_B32)
        EKZ_RUNS_SINK_O(uint32_t, EKZ_CONV_B32, 1, EKZ_DENSE8(1));
    else
        EKZ_RUNS_SINK_O(uint32_t, (uint32_t)EKZ_CONV_INT, 1, EKZ_DENSE8(0));
    return i == n ? EKZ_OK : EKZ_ECORRUPT;
}
#undef EKZ_DENSE8
#endif
#undef EKZ_RUNS_SINK
#undef EKZ_RUNS_SINK_O
#undef EKZ_CONV_INT
#undef EKZ_CONV_B16
#undef EKZ_CONV_B32
#undef EKZ_CONV_B64

/* a stream (codec._stream_decode): first values, then a kind 0..3 body, into sink s */
static int ekz_blk_stream(ekz_rd *r, int order, size_t n, const ekz_sink *s, ekz_work *w)
{
    uint64_t first[2] = {0, 0}, m;
    size_t i, nf = n < (size_t)order ? n : (size_t)order;
    unsigned kind;
    int rc;
    for (i = 0; i < nf; i++)
        first[i] = ekz_unzz(ekz_rd_varint(r));
    kind = ekz_rd_u8(r);
    if (r->bad)
        return EKZ_ECORRUPT;
    if (kind <= 1u || (kind == 4u && w->kind4))
        return ekz_blk_plain(r, kind, order, n, first, s, w);
    if (kind == 2u && n <= (size_t)order)
        return ekz_sink_put(s, first, 0, n) ? EKZ_ECORRUPT : EKZ_OK;
    if (kind != 3u || n <= (size_t)order)
        return EKZ_ECORRUPT;
    m = ekz_rd_varint(r);
    if (r->bad || m > (uint64_t)(n - (size_t)order))
        return EKZ_ECORRUPT;
    {
        ekz_sink rs;
        unsigned sub;
        memset(&rs, 0, sizeof rs);
        rs.kind = EKZ_SINK_J;
        rs.g = 1;
        rs.out = w->runs;
        sub = ekz_rd_u8(r);
        if (r->bad || (sub > 1u && !(sub == 4u && w->kind4)))
            return EKZ_ECORRUPT;
        rc = ekz_blk_plain(r, sub, 0, (size_t)m + 1u, NULL, &rs, w);
        if (rc != EKZ_OK)
            return rc;
        if (m) {
            rs.out = w->vals;
            sub = ekz_rd_u8(r);
            if (r->bad || (sub > 1u && !(sub == 4u && w->kind4)))
                return EKZ_ECORRUPT;
            rc = ekz_blk_plain(r, sub, 0, (size_t)m, NULL, &rs, w);
            if (rc != EKZ_OK)
                return rc;
        }
    }
    if ((s->kind == EKZ_SINK_R64 || s->kind == EKZ_SINK_R32 || s->kind == EKZ_SINK_R32W) &&
        order == 0) {
        /* a residual in zero-run form: only the nonzero residuals touch the output (as
         * ekz_runs_expand then the sink, which leaves a value with r = 0 as it is) */
        size_t at = 0, q;
        for (q = 0; q <= (size_t)m; q++) {
            uint64_t run = ekz_zz(w->runs[q]), z, v;
            if (run > (uint64_t)(n - at))
                return EKZ_ECORRUPT;
            at += (size_t)run;
            if (q == (size_t)m)
                break;
            z = ekz_zz(w->vals[q]) + 1u;
            if (z == 0 || at >= n)
                return EKZ_ECORRUPT;
            v = ekz_unzz(z);
            if (s->kind == EKZ_SINK_R64) {
                uint64_t *o = (uint64_t *)s->out + at;
                *o = ekz_flip64(ekz_flip64(*o) + v);
            } else if (s->kind == EKZ_SINK_R32W) {
                if (ekz_sink_put(s, &v, at, 1))
                    return EKZ_ECORRUPT;
            } else {
                uint32_t *o = (uint32_t *)s->out + at;
                *o = ekz_flip32(ekz_flip32(*o) + (uint32_t)v);
            }
            at++;
        }
        return at == n ? EKZ_OK : EKZ_ECORRUPT;
    }
    if (s->kind == EKZ_SINK_T64)
        return ekz_runs_expand_tab_f64(w->runs, w->vals, (size_t)m, order, first, s->lo,
                                       s->span, (const double *)s->tab, (double *)s->out, n);
    if (s->kind == EKZ_SINK_T32)
        return ekz_runs_expand_tab_f32(w->runs, w->vals, (size_t)m, order, first, s->lo,
                                       s->span, (const float *)s->tab, (float *)s->out, n);
#ifdef EKZ_LANES_SIMD
    if (order == 1 && (s->kind == EKZ_SINK_B32 || s->kind == EKZ_SINK_I32) && ekz_cpu_lanes())
        rc = ekz_runs_dense_simd(w->runs, w->vals, (size_t)m, first, s, n);
    else
#endif
    rc = ekz_runs_sink(w->runs, w->vals, (size_t)m, order, first, s, n);
    if (rc != EKZ_EINVAL)
        return rc;
    {
        uint64_t *j = s->kind == EKZ_SINK_J ? (uint64_t *)s->out : w->j;
        for (i = 0; i < (size_t)order; i++)
            j[i] = first[i];
        rc = ekz_runs_expand(w->runs, w->vals, (size_t)m, order, j, n);
        if (rc != EKZ_OK)
            return EKZ_ECORRUPT;
        if (s->kind != EKZ_SINK_J) {
            for (i = 0; i < n; i += EKZ_CHUNK)
                if (ekz_sink_put(s, j + i, i, n - i < EKZ_CHUNK ? n - i : EKZ_CHUNK))
                    return EKZ_ECORRUPT;
        }
    }
    return EKZ_OK;
}

static double ekz_rd_f64(ekz_rd *r)
{
    const uint8_t *p = ekz_rd_take(r, 8);
    uint64_t u;
    double v;
    if (p == NULL)
        return 0.0;
    u = ekz_ld64(p);
    memcpy(&v, &u, 8);
    return v;
}

/* format v2's predictor stream (_v2.pred_decode) of n values into sink `inner`: the
 * descriptor (u8 P, u8 shift, P pairs varint lag, varint zz(coef)), varint zz(j[0]), then
 * the order-0 stream of the n - 1 residuals, run through the recurrence chunk by chunk as
 * they are decoded (EKZ_SINK_P) */
static int ekz_blk_pred(ekz_rd *r, size_t n, const ekz_sink *inner, ekz_work *w)
{
    uint32_t lags[EKZ2_MAX_TERMS];
    int64_t coefs[EKZ2_MAX_TERMS];
    uint64_t c[EKZ2_MAX_TERMS], j0;
    unsigned np = ekz_rd_u8(r), shift = ekz_rd_u8(r), t, nl = 0;
    ekz_pred pr;
    ekz_sink ps;
    if (np & 0x80u) { /* format v3: lanes */
        nl = ekz_rd_u8(r);
        np &= 0x7Fu;
        if (!w->v3 || nl < 2u || nl > EKZ2_MAX_LANES)
            return EKZ_ECORRUPT;
    }
    if (r->bad || np < 1u || np > EKZ2_MAX_TERMS || shift > 32u)
        return EKZ_ECORRUPT;
    for (t = 0; t < np; t++) {
        uint64_t lag = ekz_rd_varint(r), cv = ekz_unzz(ekz_rd_varint(r));
        int64_t cs;
        memcpy(&cs, &cv, 8);
        if (r->bad || lag < 1u || (t && lag <= lags[t - 1]) || lag >= (uint64_t)n ||
            cs < -2147483648LL || cs > 2147483647LL)
            return EKZ_ECORRUPT;
        lags[t] = (uint32_t)lag;
        coefs[t] = cs;
        c[t] = cv;
    }
    j0 = ekz_unzz(ekz_rd_varint(r));
    if (r->bad || ekz2_pred_check(n, lags, coefs, (int)np, (int)shift) != EKZ_OK)
        return EKZ_ECORRUPT;
    memset(&pr, 0, sizeof pr);
    pr.j = w->pj;
    pr.lags = lags;
    pr.c = c;
    pr.nterms = (int)np;
    pr.shift = (int)shift;
    pr.inner = inner;
    if (nl) { /* the lanes' first values, the interleaved stream, the last steps out */
        int rc;
        if (ekz2_lanes_geom(n, nl, lags[np - 1u], &pr.seg, &pr.last) != EKZ_OK)
            return EKZ_ECORRUPT;
        pr.nl = nl;
        if (nl == 8u)
            ekz_out8_of(inner, &pr.o8);
#if defined(EKZ_LANES_SIMD) && !defined(EKZ_NO_FUSED) && !defined(EKZ_PROFILE_NO_RECURRENCE)
        pr.fuse = nl == 8u && np <= 12u && ekz2_dense_lags(lags, (int)np) &&
                  ekz2_lanes_kernel(8u, lags, (int)np) == 2;
#endif
        pr.j[0] = j0;
        for (t = 1; t < nl; t++)
            pr.j[t] = j0 + ekz_unzz(ekz_rd_varint(r));
        for (size_t k = pr.last; k < pr.seg; k++)
            pr.j[k * nl + nl - 1u] = 0;
        if (r->bad)
            return EKZ_ECORRUPT;
        pr.done = 1;
        memset(&ps, 0, sizeof ps);
        ps.kind = EKZ_SINK_PL;
        ps.g = 1;
        ps.pred = &pr;
        rc = ekz_blk_stream(r, 0, n - nl, &ps, w);
        if (rc != EKZ_OK) /* (else every residual was read: the stream had n - nl) */
            return rc;
        return ekz_lanes_run(&pr, pr.seg) ? EKZ_ECORRUPT : EKZ_OK;
    }
    pr.j[0] = j0;
    if (ekz_sink_put(inner, pr.j, 0, 1))
        return EKZ_ECORRUPT;
    memset(&ps, 0, sizeof ps);
    ps.kind = EKZ_SINK_P;
    ps.g = 1;
    ps.pred = &pr;
    return ekz_blk_stream(r, 0, n - 1u, &ps, w);
}

/* the block body after its head byte (codec._decode_block_body); float: the dtype is a
 * float type of `width` bytes (else an integer-like dtype) */
#define EKZ_WIDE_NO 7 /* ekz_blk_body(wide32): not a block it takes that way */
/* wide32: an F32 block (width 4) written straight into float64 `out`, for a decimal or
 * affine block with a value table (the table widened once: no float32 copy of the block
 * and no widening pass); EKZ_WIDE_NO for any other F32 block (the caller then decodes it
 * into float32 and widens) */
static int ekz_blk_body(ekz_rd *r, unsigned head, int isfloat, size_t width, void *out,
                        size_t n, ekz_work *w, int wide32)
{
    unsigned model = head & 7u;
    int order = (int)((head >> 3) & 3u), mode = model == 2u ? 0 : 1, rc;
    double p = 1.0, a = 0.0, b = 1.0;
    uint64_t g = 1, off = 0, span1, lo = 0;
    ekz_sink s;
    memset(&s, 0, sizeof s);
    if (model == 2u) {
        unsigned d = ekz_rd_u8(r);
        if (r->bad || d > 22u)
            return EKZ_ECORRUPT;
        p = ekz_pow10((int)d);
    } else if (model == 3u) {
        a = ekz_rd_f64(r);
        b = ekz_rd_f64(r);
    } else if (model != 1u && model != 4u) {
        return EKZ_EUNSUP; /* a model this kernel does not know */
    }
    if (r->bad || (model == 1u) == isfloat || ((model == 2u || model == 3u) && width < 4u))
        return EKZ_ECORRUPT;
    if (head & 0x20u) {
        g = ekz_rd_varint(r);
        off = ekz_rd_varint(r);
        if (r->bad || g < 2u || off >= g)
            return EKZ_ECORRUPT;
    }
    s.out = out;
    s.g = g;
    s.off = off;
    if (model == 1u || model == 4u) {
        if (head & 0x40u)
            return EKZ_ECORRUPT;
        if (wide32)
            return EKZ_WIDE_NO;
        if (model == 1u)
            s.kind = width == 1u ? EKZ_SINK_I8 : width == 2u ? EKZ_SINK_I16
                   : width == 4u ? EKZ_SINK_I32 : EKZ_SINK_I64;
        else
            s.kind = width == 2u ? EKZ_SINK_B16 : width == 4u ? EKZ_SINK_B32 : EKZ_SINK_B64;
        return order == 3 ? ekz_blk_pred(r, n, &s, w) : ekz_blk_stream(r, order, n, &s, w);
    }
    span1 = ekz_rd_varint(r);
    if (r->bad || span1 > EKZ_TAB_LEN)
        return EKZ_ECORRUPT;
    if (wide32 && (!span1 || order == 3))
        return EKZ_WIDE_NO;
    if (span1) {
        lo = ekz_unzz(ekz_rd_varint(r));
        if (r->bad || order == 3) /* no value table in a predictor block */
            return EKZ_ECORRUPT;
        rc = width == 8u ? ekz_build_tab_f64(mode, p, a, b, g, off, lo, (size_t)span1,
                                             (double *)w->tab)
                         : ekz_build_tab_f32(mode, p, a, b, g, off, lo, (size_t)span1,
                                             (float *)w->tab);
        if (rc != EKZ_OK)
            return rc;
        s.kind = width == 8u ? EKZ_SINK_T64 : EKZ_SINK_T32;
        if (wide32) { /* the float32 table widened in place, from the top (entry i's double
                       * covers floats 2i and 2i + 1, already read) */
            size_t i = (size_t)span1;
            while (i-- > 0)
                ((double *)w->tab)[i] = (double)((const float *)w->tab)[i];
            s.kind = EKZ_SINK_T64;
        }
        s.tab = w->tab;
        s.lo = lo;
        s.span = span1 - 1u;
        rc = ekz_blk_stream(r, order, n, &s, w);
    } else { /* the formula per value as it is decoded: the bits of ekz_dequant_* */
        s.kind = width == 8u ? EKZ_SINK_Q64 : EKZ_SINK_Q32;
        s.mode = mode;
        s.p = p;
        s.a = a;
        s.b = b;
        rc = order == 3 ? ekz_blk_pred(r, n, &s, w) : ekz_blk_stream(r, order, n, &s, w);
    }
    if (rc != EKZ_OK || !(head & 0x40u))
        return rc;
    memset(&s, 0, sizeof s);
    s.kind = width == 8u ? EKZ_SINK_R64 : wide32 ? EKZ_SINK_R32W : EKZ_SINK_R32;
    s.out = out;
    s.g = 1;
    return ekz_blk_stream(r, 0, n, &s, w);
}

static int ekz_blk_any(const uint8_t *src, size_t len, int isfloat, size_t width, void *out,
                       size_t n, ekz_work *w, int nested);

/* format v2's dictionary block (_v2.decode_dict) after its head byte: the table (a nested
 * block of `size` values, no dictionary itself) into w->dict, then the index stream (a
 * predictor's when the order field is 3) gathered straight into out; the split form keeps
 * the indices, decodes the low bits and combines them (ekz2_split_gather) */
static int ekz_blk_dict(ekz_rd *r, unsigned head, int isfloat, size_t width, void *out,
                        size_t n, ekz_work *w)
{
    int split = (head & 0x20u) != 0, order = (int)((head >> 3) & 3u), rc;
    unsigned shift = 0;
    uint64_t size, blen;
    ekz_sink s;
    if (head & 0xC0u)
        return EKZ_ECORRUPT;
    size = ekz_rd_varint(r);
    if (r->bad || size < 1u || size > (uint64_t)n)
        return EKZ_ECORRUPT;
    if (split) {
        shift = ekz_rd_u8(r);
        if (r->bad || shift < 1u || shift > 63u)
            return EKZ_ECORRUPT;
    }
    blen = ekz_rd_varint(r);
    if (r->bad || blen > (uint64_t)(r->end - r->p) || (blen && (r->p[0] & 7u) == 5u))
        return EKZ_ECORRUPT;
    {   /* format v3's lanes (stream kind 4) are not for a dictionary's table */
        int kind4 = w->kind4;
        w->kind4 = 0;
        rc = ekz_blk_any(r->p, (size_t)blen, split ? 0 : isfloat, split ? 8u : width,
                         w->dict, (size_t)size, w, 1);
        w->kind4 = kind4;
    }
    if (rc != EKZ_OK)
        return EKZ_ECORRUPT;
    r->p += blen;
    memset(&s, 0, sizeof s);
    s.g = 1;
    if (split) {
        s.kind = EKZ_SINK_J;
        s.out = w->idx;
    } else {
        s.kind = width == 1u ? EKZ_SINK_G8 : width == 2u ? EKZ_SINK_G16
               : width == 4u ? EKZ_SINK_G32 : EKZ_SINK_G64;
        s.out = out;
        s.tab = w->dict;
        s.span = size;
    }
    rc = order == 3 ? ekz_blk_pred(r, n, &s, w) : ekz_blk_stream(r, order, n, &s, w);
    if (rc != EKZ_OK || !split)
        return rc;
    s.out = w->pj; /* the low bits (the predictor's j is done with) */
    rc = ekz_blk_stream(r, 0, n, &s, w);
    if (rc != EKZ_OK)
        return rc;
    rc = ekz2_split_gather((const int64_t *)w->dict, (size_t)size, w->idx, w->pj, n,
                           (int)shift, width, isfloat, (uint8_t *)out);
    return rc == EKZ_OK ? EKZ_OK : EKZ_ECORRUPT;
}

/* one block, its bytes src[len] consumed exactly (codec._decode_block); nested: a
 * dictionary's table (no dictionary) */
static int ekz_blk_any(const uint8_t *src, size_t len, int isfloat, size_t width, void *out,
                       size_t n, ekz_work *w, int nested)
{
    ekz_rd r;
    unsigned head;
    int rc;
    r.p = src;
    r.end = src + len;
    r.bad = 0;
    head = ekz_rd_u8(&r);
    if (r.bad)
        return EKZ_ECORRUPT;
    if ((head & 7u) == 0u) {
        if (head != 0u || len - 1u != n * width)
            return EKZ_ECORRUPT;
        memcpy(out, src + 1, n * width);
        return EKZ_OK;
    }
    if ((head & 7u) == 5u) {
        if (!w->v2)
            return EKZ_EUNSUP; /* version 1: Python names the unknown model */
        if (nested)
            return EKZ_ECORRUPT;
        rc = ekz_blk_dict(&r, head, isfloat, width, out, n, w);
    } else if (((head >> 3) & 3u) > 2u && !w->v2) {
        return EKZ_ECORRUPT;
    } else if (head & 0x80u) {
        size_t i;
        if (!isfloat || width != 8u || (head & 7u) == 1u)
            return EKZ_ECORRUPT;
        const ekz_rd r0 = r;
        rc = ekz_blk_body(&r, head, 1, 4u, out, n, w, 1);
        if (rc == EKZ_WIDE_NO) {
            r = r0;
            rc = ekz_blk_body(&r, head, 1, 4u, w->f32, n, w, 0);
        } else if (rc == EKZ_OK) {
            if (r.p != r.end)
                return EKZ_ECORRUPT;
            return EKZ_OK;
        } else {
            return rc;
        }
        if (rc == EKZ_OK) {
#ifdef EKZ_LANES_SIMD
            if (ekz_cpu_lanes())
                ekz_widen_simd(w->f32, (double *)out, n);
            else
#endif
            for (i = 0; i < n; i++)
                ((double *)out)[i] = (double)w->f32[i];
        }
    } else {
        rc = ekz_blk_body(&r, head, isfloat, width, out, n, w, 0);
    }
    if (rc == EKZ_OK && r.p != r.end)
        return EKZ_ECORRUPT;
    return rc;
}

size_t ekz_block_work_size(size_t n)
{
    return 8u * (6u * n + 1u + EKZ2_MAX_LANES) + 8u * EKZ_TAB_LEN + 4u * n + 64u +
           sizeof(ekz_dtab);
}

/* the work areas of ekz_decode_block in work[wsize]; 0 if too small */
static int ekz_work_init(ekz_work *w, void *work, size_t wsize, size_t n, int version)
{
    uint8_t *base = (uint8_t *)work;
    size_t o = (8u - ((uintptr_t)base & 7u)) & 7u;
    if (wsize < ekz_block_work_size(n))
        return 0;
    w->tb = (ekz_dtab *)(void *)(base + o);
    o += (sizeof(ekz_dtab) + 7u) & ~(size_t)7u;
    w->j = (uint64_t *)(void *)(base + o);
    o += 8u * n;
    w->runs = (uint64_t *)(void *)(base + o);
    o += 8u * (n + 1u);
    w->vals = (uint64_t *)(void *)(base + o);
    o += 8u * n;
    w->pj = (uint64_t *)(void *)(base + o);
    o += 8u * (n + EKZ2_MAX_LANES); /* format v3 lanes: nl ceil(n / nl) values */
    w->idx = (uint64_t *)(void *)(base + o);
    o += 8u * n;
    w->dict = base + o;
    o += 8u * n;
    w->tab = base + o;
    o += 8u * EKZ_TAB_LEN;
    w->f32 = (float *)(void *)(base + o);
    w->v2 = version >= 2;
    w->v3 = version >= 3;
    w->kind4 = version >= 3;
    return 1;
}

int ekz_decode_block(const uint8_t *src, size_t len, int version, int isfloat, size_t width,
                     void *out, size_t n, void *work, size_t wsize)
{
    ekz_work w;
    const uint16_t one = 1;
    if (n == 0 || n > EKZ_TAB_LEN || version < 1 || version > 3 ||
        (width != 1u && width != 2u && width != 4u && width != 8u) || (isfloat && width == 1u) ||
        !ekz_work_init(&w, work, wsize, n, version))
        return EKZ_EINVAL;
    if (*(const uint8_t *)&one != 1u)
        return EKZ_EUNSUP; /* raw blocks and f64 fields are little-endian: Python does those */
    return ekz_blk_any(src, len, isfloat, width, out, n, &w, 0);
}

int ekz_decode_blocks(const uint8_t *body, size_t len, size_t blen, int version, int isfloat,
                      size_t width, void *out, size_t n, void *work, size_t wsize, size_t *done)
{
    ekz_rd r;
    size_t i = 0;
    r.p = body;
    r.end = body + len;
    r.bad = 0;
    done[0] = 0;
    done[1] = 0;
    if (blen == 0 || blen > EKZ_TAB_LEN)
        return EKZ_EINVAL;
    while (i < n) {
        size_t m = n - i < blen ? n - i : blen;
        uint64_t size = ekz_rd_varint(&r);
        int rc;
        if (r.bad || size > (uint64_t)(r.end - r.p))
            return EKZ_ECORRUPT;
        rc = ekz_decode_block(r.p, (size_t)size, version, isfloat, width,
                              (uint8_t *)out + i * width, m, work, wsize);
        if (rc != EKZ_OK)
            return rc;
        r.p += size;
        i += m;
        done[0]++;
        done[1] = (size_t)(r.p - body);
    }
    return r.p == r.end ? EKZ_OK : EKZ_ECORRUPT;
}

/* ------------------------------------------------------------------ frame checksum
 *
 * CRC-32 (the zlib polynomial, reflected) of a frame: the 16-byte folding of Gopal et al.,
 * "Fast CRC computation for generic polynomials using PCLMULQDQ" (Intel, 2009), with the
 * constants of the reflected polynomial 0x104C11DB7 given there; used on x86-64 when the
 * CPU has PCLMULQDQ and SSE4.1 (checked at run time), else the caller uses zlib. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(EKZ_NO_CLMUL)
#include <immintrin.h>

/* The first 256 n bytes (n >= 1) of the folding below with AVX-512 carry-less multiplies
 * of four 128-bit lanes at once (VPCLMULQDQ): four 512-bit accumulators folded by 2048
 * bits, then folded into one by 512 bits.  out[0..3] is the state the four-lane 128-bit
 * loop has after the same bytes (the same polynomial arithmetic, so the same CRC). */
__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.1"))) static size_t
ekz_crc_fold512(uint32_t crc, const uint8_t *buf, size_t len, __m128i *out)
{
    /* x^(2048+32) and x^(2048-32) mod P, bit-reflected and shifted (as k1, k2 for 512) */
    const __m512i k2048 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x01322d1430, 0x011542778a));
    const __m512i k512 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x01c6e41596, 0x0154442bd4));
    __m512i z0 = _mm512_loadu_si512((const void *)buf),
            z1 = _mm512_loadu_si512((const void *)(buf + 64)),
            z2 = _mm512_loadu_si512((const void *)(buf + 128)),
            z3 = _mm512_loadu_si512((const void *)(buf + 192));
    size_t done = 256;
    z0 = _mm512_xor_si512(z0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc)));
#define EKZ_FOLD512(Z, K, Y)                                                                 \
    _mm512_xor_si512(_mm512_xor_si512(_mm512_clmulepi64_epi128((Z), (K), 0x00),              \
                                      _mm512_clmulepi64_epi128((Z), (K), 0x11)),             \
                     (Y))
    for (; len - done >= 256u; done += 256u) {
        z0 = EKZ_FOLD512(z0, k2048, _mm512_loadu_si512((const void *)(buf + done)));
        z1 = EKZ_FOLD512(z1, k2048, _mm512_loadu_si512((const void *)(buf + done + 64)));
        z2 = EKZ_FOLD512(z2, k2048, _mm512_loadu_si512((const void *)(buf + done + 128)));
        z3 = EKZ_FOLD512(z3, k2048, _mm512_loadu_si512((const void *)(buf + done + 192)));
    }
    z1 = EKZ_FOLD512(z0, k512, z1);
    z2 = EKZ_FOLD512(z1, k512, z2);
    z3 = EKZ_FOLD512(z2, k512, z3);
#undef EKZ_FOLD512
    out[0] = _mm512_extracti32x4_epi32(z3, 0);
    out[1] = _mm512_extracti32x4_epi32(z3, 1);
    out[2] = _mm512_extracti32x4_epi32(z3, 2);
    out[3] = _mm512_extracti32x4_epi32(z3, 3);
    return done;
}

static int ekz_have_vpclmul(void)
{
    static int have = -1; /* a benign race: every thread writes the same answer */
    if (have < 0)
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq");
    return have;
}

__attribute__((target("pclmul,sse4.1"))) static uint32_t
ekz_crc_fold(uint32_t crc, const uint8_t *buf, size_t len) /* len >= 64, multiple of 16 */
{
    static const uint64_t k1k2[2] = {0x0154442bd4u, 0x01c6e41596u};
    static const uint64_t k3k4[2] = {0x01751997d0u, 0x00ccaa009eu};
    static const uint64_t k5k0[2] = {0x0163cd6124u, 0x0000000000u};
    static const uint64_t poly[2] = {0x01db710641u, 0x01f7011641u};
    __m128i x0, x1, x2, x3, x4, x5, x6, x7, x8, y5, y6, y7, y8;

    if (len >= 512u && ekz_have_vpclmul()) { /* most of a long buffer 256 bytes a step */
        __m128i st[4];
        size_t done = ekz_crc_fold512(crc, buf, len, st);
        x1 = st[0];
        x2 = st[1];
        x3 = st[2];
        x4 = st[3];
        buf += done;
        len -= done;
    } else {
        x1 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x00));
        x2 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x10));
        x3 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x20));
        x4 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x30));
        x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
        buf += 64;
        len -= 64;
    }
    x0 = _mm_loadu_si128((const __m128i *)(const void *)k1k2);
    while (len >= 64) { /* fold four lanes by 512 bits */
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
        x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
        x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
        x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
        x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
        y5 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x00));
        y6 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x10));
        y7 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x20));
        y8 = _mm_loadu_si128((const __m128i *)(const void *)(buf + 0x30));
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), y5);
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), y6);
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), y7);
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), y8);
        buf += 64;
        len -= 64;
    }
    x0 = _mm_loadu_si128((const __m128i *)(const void *)k3k4); /* four lanes into one */
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
    while (len >= 16) { /* fold by 128 bits */
        x2 = _mm_loadu_si128((const __m128i *)(const void *)buf);
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
        buf += 16;
        len -= 16;
    }
    /* 128 bits to 64, then Barrett reduction to 32 */
    x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
    x3 = _mm_setr_epi32(~0, 0, ~0, 0);
    x1 = _mm_srli_si128(x1, 8);
    x1 = _mm_xor_si128(x1, x2);
    x0 = _mm_loadl_epi64((const __m128i *)(const void *)k5k0);
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, x3);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    x0 = _mm_loadu_si128((const __m128i *)(const void *)poly);
    x2 = _mm_and_si128(x1, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
    x2 = _mm_and_si128(x2, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

size_t ekz_crc32_fold(const uint8_t *buf, size_t len, uint32_t *crc)
{
    size_t done = len & ~(size_t)15u;
    if (len < 64u || !__builtin_cpu_supports("pclmul") || !__builtin_cpu_supports("sse4.1"))
        return 0;
    *crc = ~ekz_crc_fold(~*crc, buf, done);
    return done;
}
#else
size_t ekz_crc32_fold(const uint8_t *buf, size_t len, uint32_t *crc)
{
    (void)buf;
    (void)len;
    (void)crc;
    return 0;
}
#endif

/* zlib's CRC-32 continuing crc over p[len], bit by bit (the few bytes after the fold) */
static uint32_t ekz_crc_bits(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

int ekz_decode_frame(const uint8_t *frame, size_t crc_len, size_t body_off, size_t blen,
                     int version, int isfloat, size_t width, void *out, size_t n, void *work,
                     size_t wsize, size_t *done)
{
    uint32_t crc = 0;
    size_t folded;
    done[0] = 0;
    done[1] = 0;
    if (crc_len < 64u || body_off > crc_len)
        return EKZ_EUNSUP;
    folded = ekz_crc32_fold(frame, crc_len, &crc);
    if (folded == 0 || crc_len - folded >= 64u)
        return EKZ_EUNSUP; /* (no carry-less multiply: the caller's zlib) */
    crc = ekz_crc_bits(crc, frame + folded, crc_len - folded);
    if (crc != ekz_ld32(frame + crc_len))
        return EKZ_ECORRUPT;
    return ekz_decode_blocks(frame + body_off, crc_len - body_off, blen, version, isfloat,
                             width, out, n, work, wsize, done);
}
