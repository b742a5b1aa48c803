/* Differential fuzzer for edgekit.secure's C envelope code (_native/crypto/envelope.c).
 *
 * Build and run it with tools/secure_fuzz_native.py (ASan+UBSan, or TSan for --mode threads).
 *
 * --mode single: a deterministic random-operation driver (splitmix64 from --seed).  Each
 *   epoch makes two receiving keys (random algorithm, keys, prefixes, window sizes in
 *   1..65536 biased to the edges) and their sealing twins (window 0), then runs random
 *   operations: seal an envelope with a chosen counter (around the window's top, at its
 *   edges, far ahead, near 2**64 - 1, a replay of an earlier one), optionally damage it
 *   (bit flip, truncation, extension, wrong associated data, random bytes with or without
 *   a known prefix, the keys passed in the other order or NULL), and open it.  Every
 *   result is checked against an independent model:
 *     - sealing: the bytes of a fresh OpenSSL context keyed for this one message;
 *     - opening: SHORT if under 28 bytes, UNKNOWN_KEY if no receiving key has the prefix,
 *       AUTH iff a fresh OpenSSL context refuses the tag (and then `out` is all zeros),
 *       else OK iff the window model accepts the counter (accepted iff never accepted
 *       before and (n > top or top - n < window)), with the plaintext in `out`; a refused
 *       message never moves the model.
 *   Buffers are sized exactly; half of them sit against a PROT_NONE guard page (after or
 *   before them), so that an overread or overwrite faults even inside OpenSSL, which the
 *   sanitizers do not instrument.  A zero-byte output is a pointer at the guard page.
 *
 * --mode threads: --threads threads open the same set of valid envelopes (each in its own
 *   order, mixed with forgeries, with the keys in both orders) and seal on a shared key;
 *   every envelope inside the window is accepted exactly once, none twice, no forgery ever,
 *   every sealed envelope equals the reference; then every envelope is refused as replayed.
 *
 * Exit status 0 when every check held, 1 (with the seed, epoch and operation) otherwise.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "envelope.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define HEADER 12
#define TAG 16
#define OVERHEAD (HEADER + TAG)

/* --- randomness ------------------------------------------------------------------------ */

typedef struct { uint64_t s; } rng;

static uint64_t next64(rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t below(rng *r, uint64_t n) { return n ? next64(r) % n : 0; }

static void fill(rng *r, unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (unsigned char)next64(r);
}

/* --- failure reporting ----------------------------------------------------------------- */

static uint64_t g_seed, g_epoch, g_op;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL seed=%" PRIu64 " epoch=%" PRIu64 " op=%" PRIu64 " %s:%d: ", \
                    g_seed, g_epoch, g_op, __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

/* --- buffers: exact size, against a guard page half of the time ------------------------ */

typedef struct {
    unsigned char *p;
    void *base;
    size_t maplen;
} buf;

static size_t g_page;

static unsigned char *buf_new(buf *b, size_t n, int where /* 0 malloc, 1 guard after, 2 before */)
{
    b->base = NULL;
    b->maplen = 0;
    if (where == 0) {
        b->p = malloc(n ? n : 1); /* malloc(0) may return NULL: one byte, never touched */
        CHECK(b->p != NULL, "out of memory");
        return b->p;
    } else {
        size_t body = (n + g_page - 1) / g_page * g_page;
        unsigned char *base;
        if (body == 0)
            body = g_page;
        b->maplen = body + 2 * g_page;
        base = mmap(NULL, b->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(base != MAP_FAILED, "mmap: %s", strerror(errno));
        CHECK(mprotect(base, g_page, PROT_NONE) == 0, "mprotect");
        CHECK(mprotect(base + g_page + body, g_page, PROT_NONE) == 0, "mprotect");
        b->base = base;
        /* n == 0: a pointer right at a guard page, so any access at all faults */
        b->p = where == 1 ? base + g_page + body - n : (n ? base + g_page : base + g_page + body);
        return b->p;
    }
}

static void buf_free(buf *b)
{
    if (b->base != NULL)
        munmap(b->base, b->maplen);
    else
        free(b->p);
}

/* --- reference AEAD: a fresh context per message --------------------------------------- */

static const EVP_CIPHER *cipher_of(int alg)
{
    return alg == 1 ? EVP_chacha20_poly1305() : EVP_aes_256_gcm();
}

/* ciphertext + tag of pt under (key, nonce = header) */
static void ref_seal(int alg, const unsigned char *key, const unsigned char *nonce,
                     const unsigned char *aad, size_t aadlen, const unsigned char *pt,
                     size_t ptlen, unsigned char *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok;
    ok = c != NULL && EVP_EncryptInit_ex(c, cipher_of(alg), NULL, NULL, NULL) == 1
         && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, HEADER, NULL) == 1
         && EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) == 1
         && (aadlen == 0 || EVP_EncryptUpdate(c, NULL, &len, aad, (int)aadlen) == 1)
         && (ptlen == 0 || EVP_EncryptUpdate(c, out, &len, pt, (int)ptlen) == 1)
         && EVP_EncryptFinal_ex(c, out + ptlen, &len) == 1
         && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG, out + ptlen) == 1;
    EVP_CIPHER_CTX_free(c);
    CHECK(ok, "reference seal failed");
}

/* 1 and the plaintext in out (ctlen bytes, out may be NULL when 0) iff it authenticates */
static int ref_open(int alg, const unsigned char *key, const unsigned char *env, size_t size,
                    const unsigned char *aad, size_t aadlen, unsigned char *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char tag[TAG], dummy[1];
    size_t ctlen = size - OVERHEAD;
    int len = 0, ok;
    memcpy(tag, env + size - TAG, TAG);
    ok = c != NULL && EVP_DecryptInit_ex(c, cipher_of(alg), NULL, NULL, NULL) == 1
         && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, HEADER, NULL) == 1
         && EVP_DecryptInit_ex(c, NULL, NULL, key, env) == 1
         && (aadlen == 0 || EVP_DecryptUpdate(c, NULL, &len, aad, (int)aadlen) == 1)
         && (ctlen == 0 || EVP_DecryptUpdate(c, out, &len, env + HEADER, (int)ctlen) == 1)
         && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG, tag) == 1
         && EVP_DecryptFinal_ex(c, ctlen ? out + ctlen : dummy, &len) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

/* --- reference replay window: a set of accepted counters -------------------------------- */

typedef struct {
    uint64_t window, top;
    int seen;
    uint64_t *slots; /* open addressing; a counter is stored as n + 1, 0 = empty ... */
    unsigned char *used; /* ... except that n + 1 wraps for 2**64 - 1: a used flag instead */
    size_t cap, count;
} model;

static size_t slot_of(uint64_t n, size_t cap)
{
    n ^= n >> 33;
    n *= UINT64_C(0xff51afd7ed558ccd);
    n ^= n >> 33;
    return (size_t)(n & (cap - 1));
}

static int model_has(const model *m, uint64_t n)
{
    size_t i = slot_of(n, m->cap);
    while (m->used[i]) {
        if (m->slots[i] == n)
            return 1;
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}

static void model_add(model *m, uint64_t n);

static void model_grow(model *m)
{
    uint64_t *old = m->slots;
    unsigned char *oldused = m->used;
    size_t oldcap = m->cap, i;
    m->cap = oldcap ? oldcap * 2 : 1024;
    m->slots = calloc(m->cap, sizeof *m->slots);
    m->used = calloc(m->cap, 1);
    CHECK(m->slots != NULL && m->used != NULL, "out of memory");
    m->count = 0;
    for (i = 0; i < oldcap; i++)
        if (oldused[i])
            model_add(m, old[i]);
    free(old);
    free(oldused);
}

static void model_add(model *m, uint64_t n)
{
    size_t i;
    if ((m->count + 1) * 2 > m->cap)
        model_grow(m);
    i = slot_of(n, m->cap);
    while (m->used[i])
        i = (i + 1) & (m->cap - 1);
    m->used[i] = 1;
    m->slots[i] = n;
    m->count++;
}

static void model_reset(model *m, uint64_t window)
{
    free(m->slots);
    free(m->used);
    memset(m, 0, sizeof *m);
    m->window = window;
    model_grow(m);
}

/* the specification: accepted iff never accepted and (n > top or top - n < window) */
static int model_accept(model *m, uint64_t n)
{
    if (m->seen && n <= m->top && (m->top - n >= m->window || model_has(m, n)))
        return 0;
    model_add(m, n);
    if (!m->seen || n > m->top)
        m->top = n;
    m->seen = 1;
    return 1;
}

/* --- shared helpers -------------------------------------------------------------------- */

static uint32_t load32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t load64(const unsigned char *p)
{
    return (uint64_t)load32(p) << 32 | load32(p + 4);
}

static uint64_t random_window(rng *r)
{
    static const uint64_t edges[] = {1, 2, 3, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025,
                                     4096, 65472, 65473, 65535, 65536};
    switch (below(r, 4)) {
    case 0: return edges[below(r, sizeof edges / sizeof edges[0])];
    case 1: return 1 + below(r, 200);
    case 2: return 1 + below(r, 2048);
    default: return 1 + below(r, 65536);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- single-threaded differential driver ----------------------------------------------- */

typedef struct {
    unsigned char key[32];
    uint32_t prefix;
    uint64_t window;
    ek_env_key *open, *seal;
    model m;
} side;

#define HISTORY 64

typedef struct {
    unsigned char *env, *aad;
    size_t size, aadlen;
} sealed;

static const char *rc_name(int rc)
{
    static const char *names[] = {"OK", "SHORT", "UNKNOWN_KEY", "AUTH", "REPLAY", "TOO_LARGE",
                                  "ERROR"};
    return rc >= 0 && rc <= 6 ? names[rc] : "?";
}

static uint64_t stats[7];

static uint64_t pick_counter(rng *r, const side *s)
{
    uint64_t top = s->m.seen ? s->m.top : 0, w = s->window;
    switch (below(r, 40)) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: return top + 1;
    case 8: case 9: case 10: return top + 1 + below(r, 4);
    case 11: case 12: case 13: case 14: return top - below(r, w + 2); /* window, its edge */
    case 15: case 16: return top - w + below(r, 3) - 1; /* top - w - 1 .. top - w + 1 */
    case 17: case 18: return top + w - 1 + below(r, 3); /* a jump of about the window */
    case 19: case 20: case 21: return top + below(r, 4 * w + 130);
    case 22: case 23: return top + (w + 63) / 64 * 64 - 1 + below(r, 3); /* about the ring */
    case 24: return below(r, 4) ? top + below(r, 3 * w) : UINT64_MAX - below(r, 3 * w);
    case 25: return below(r, 300);
    case 26: return next64(r) >> (below(r, 64));
    case 27: case 28: case 29: return top - below(r, 64);
    default: return top + below(r, 64);
    }
}

static void make_side(rng *r, side *s, int alg, uint32_t prefix)
{
    fill(r, s->key, 32);
    s->prefix = prefix;
    s->window = random_window(r);
    s->open = ek_env_key_new(alg, s->key, prefix, (uint32_t)s->window);
    s->seal = ek_env_key_new(alg, s->key, prefix, 0);
    CHECK(s->open != NULL && s->seal != NULL, "ek_env_key_new failed");
    model_reset(&s->m, s->window);
}

static void free_side(side *s)
{
    ek_env_key_free(s->open);
    ek_env_key_free(s->seal);
    free(s->m.slots);
    free(s->m.used);
    s->m.slots = NULL;
    s->m.used = NULL;
}

static void check_api_edges(rng *r)
{
    unsigned char key[32], small[OVERHEAD] = {0}, out[OVERHEAD];
    ek_env_key *k, *s;
    fill(r, key, 32);
    CHECK(ek_env_key_new(0, key, 0, 16) == NULL, "algorithm 0 accepted");
    CHECK(ek_env_key_new(3, key, 0, 16) == NULL, "algorithm 3 accepted");
    CHECK(ek_env_key_new(-1, key, 0, 16) == NULL, "algorithm -1 accepted");
    CHECK(ek_env_key_new(1, key, 0, 65537) == NULL, "window 65537 accepted");
    CHECK(ek_env_key_new(2, key, 0, UINT32_MAX) == NULL, "window 2**32-1 accepted");
    ek_env_key_free(NULL);
    k = ek_env_key_new(1, key, 0x01010000u, 65536);
    s = ek_env_key_new(1, key, 0x01010000u, 0);
    CHECK(k != NULL && s != NULL, "ek_env_key_new failed");
    /* lengths over OpenSSL's int: refused before anything is read or written */
    CHECK(ek_env_open(k, NULL, (const char *)small, (size_t)INT_MAX + OVERHEAD + 1, NULL, 0,
                      (char *)out) == EK_ENV_TOO_LARGE, "body > INT_MAX");
    CHECK(ek_env_open(k, NULL, (const char *)small, SIZE_MAX, NULL, 0, (char *)out)
              == EK_ENV_TOO_LARGE, "SIZE_MAX");
    CHECK(ek_env_open(k, NULL, (const char *)small, OVERHEAD, (const char *)small,
                      (size_t)INT_MAX + 1, (char *)out) == EK_ENV_TOO_LARGE, "aad > INT_MAX");
    CHECK(ek_env_seal(s, 0, (const char *)small, (size_t)INT_MAX - OVERHEAD + 1, NULL, 0,
                      (char *)out) == EK_ENV_TOO_LARGE, "seal > INT_MAX");
    CHECK(ek_env_seal(s, 0, (const char *)small, SIZE_MAX, NULL, 0, (char *)out)
              == EK_ENV_TOO_LARGE, "seal SIZE_MAX");
    CHECK(ek_env_seal(s, 0, NULL, 0, (const char *)small, (size_t)INT_MAX + 1, (char *)out)
              == EK_ENV_TOO_LARGE, "seal aad > INT_MAX");
    /* a receiving key never seals, a sealing key never opens */
    memset(out, 0x5a, sizeof out);
    CHECK(ek_env_seal(k, 0, NULL, 0, NULL, 0, (char *)out) == EK_ENV_ERROR, "seal with window");
    CHECK(ek_env_seal(NULL, 0, NULL, 0, NULL, 0, (char *)out) == EK_ENV_ERROR, "seal NULL key");
    CHECK(out[0] == 0x5a && out[OVERHEAD - 1] == 0x5a, "refused seal wrote its output");
    CHECK(ek_env_seal(s, 0, NULL, 0, NULL, 0, (char *)out) == EK_ENV_OK, "empty seal");
    CHECK(ek_env_open(s, NULL, (const char *)out, OVERHEAD, NULL, 0, (char *)small)
              == EK_ENV_UNKNOWN_KEY, "a sealing key opened");
    CHECK(ek_env_open(NULL, NULL, (const char *)out, OVERHEAD, NULL, 0, (char *)small)
              == EK_ENV_UNKNOWN_KEY, "NULL keys");
    CHECK(ek_env_open(k, NULL, (const char *)out, OVERHEAD - 1, NULL, 0, (char *)small)
              == EK_ENV_SHORT, "short");
    CHECK(ek_env_open(k, NULL, (const char *)out, OVERHEAD, NULL, 0, (char *)small)
              == EK_ENV_OK, "empty open");
    ek_env_key_free(k);
    ek_env_key_free(s);
}

static int run_single(uint64_t seed, uint64_t iterations, double seconds)
{
    rng r = {seed};
    double t0 = now(), deadline = seconds > 0 ? t0 + seconds : 0;
    sealed hist[HISTORY];
    size_t nhist = 0, hpos = 0, i;
    uint64_t ops = 0;
    side sides[2];
    memset(sides, 0, sizeof sides);
    memset(hist, 0, sizeof hist);
    g_seed = seed;
    check_api_edges(&r);
    for (g_epoch = 0; ; g_epoch++) {
        int alg = 1 + (int)below(&r, 2);
        uint64_t epoch_ops = 1 + below(&r, below(&r, 4) == 0 ? 20000 : 600);
        uint16_t kid = (uint16_t)next64(&r);
        uint16_t kid2 = below(&r, 8) == 0 ? kid : (uint16_t)(kid + 1 + below(&r, 3));
        make_side(&r, &sides[0], alg, 0x01000000u | (uint32_t)alg << 16 | kid);
        make_side(&r, &sides[1], alg, 0x01000000u | (uint32_t)alg << 16 | kid2);
        for (i = 0; i < nhist; i++) {
            free(hist[i].env);
            free(hist[i].aad);
        }
        nhist = hpos = 0;
        for (g_op = 0; g_op < epoch_ops; g_op++, ops++) {
            int which = (int)below(&r, 2), kind, rc, expect, where;
            side *s = &sides[which];
            size_t ptlen, aadlen, size, body;
            unsigned char *pt, *aad, *env, *out, *refout;
            ek_env_key *a, *b;
            side *chosen = NULL;
            uint64_t n;
            buf bpt, baad, benv, bout;
            if ((iterations && ops >= iterations) || (deadline && (ops & 255) == 0 && now() > deadline))
                goto done;
            /* a message */
            switch (below(&r, 8)) {
            case 0: ptlen = 0; break;
            case 1: ptlen = below(&r, 4096); break;
            case 2: ptlen = below(&r, 200) == 0 ? 65536 + below(&r, 70000) : below(&r, 17); break;
            default: ptlen = below(&r, 80);
            }
            aadlen = below(&r, 3) == 0 ? 0 : below(&r, 10) == 0 ? below(&r, 3000) : below(&r, 40);
            where = (int)below(&r, 3);
            pt = buf_new(&bpt, ptlen, where);
            fill(&r, pt, ptlen);
            aad = buf_new(&baad, aadlen, (int)below(&r, 3));
            fill(&r, aad, aadlen);
            n = pick_counter(&r, s);
            size = ptlen + OVERHEAD;
            kind = (int)below(&r, 16);
            if (kind == 15 && nhist > 0) {
                /* a replay (or a damaged copy) of an earlier envelope of this epoch */
                sealed *h = &hist[below(&r, nhist)];
                size = h->size;
                env = buf_new(&benv, size, (int)below(&r, 3));
                memcpy(env, h->env, size);
                buf_free(&baad);
                aadlen = h->aadlen;
                aad = buf_new(&baad, aadlen, (int)below(&r, 3));
                memcpy(aad, h->aad, aadlen);
                if (below(&r, 4) == 0 && size > 0)
                    env[below(&r, size)] ^= (unsigned char)(1u << below(&r, 8));
            } else {
                env = buf_new(&benv, size, (int)below(&r, 3));
                memset(env, 0xa5, size);
                rc = ek_env_seal(s->seal, n, (const char *)pt, ptlen, (const char *)aad, aadlen,
                                 (char *)env);
                CHECK(rc == EK_ENV_OK, "seal returned %s", rc_name(rc));
                CHECK(load32(env) == s->prefix && load64(env + 4) == n, "sealed header");
                refout = malloc(ptlen + TAG);
                CHECK(refout != NULL, "out of memory");
                ref_seal(alg, s->key, env, aad, aadlen, pt, ptlen, refout);
                CHECK(memcmp(refout, env + HEADER, ptlen + TAG) == 0,
                      "sealed bytes differ from a fresh OpenSSL context (size %zu, aad %zu)",
                      ptlen, aadlen);
                free(refout);
                if (size < 9000) { /* remember it for replays */
                    sealed *h = &hist[hpos];
                    if (nhist == HISTORY) {
                        free(h->env);
                        free(h->aad);
                    } else {
                        nhist++;
                    }
                    h->env = malloc(size);
                    h->aad = malloc(aadlen ? aadlen : 1);
                    CHECK(h->env != NULL && h->aad != NULL, "out of memory");
                    memcpy(h->env, env, size);
                    memcpy(h->aad, aad, aadlen);
                    h->size = size;
                    h->aadlen = aadlen;
                    hpos = (hpos + 1) % HISTORY;
                }
                /* damage */
                if (kind == 10) { /* bit flips anywhere */
                    size_t flips = 1 + below(&r, 3), f;
                    for (f = 0; f < flips; f++)
                        env[below(&r, size)] ^= (unsigned char)(1u << below(&r, 8));
                } else if (kind == 11) { /* truncated: reopen in an exact buffer */
                    size_t cut = below(&r, size);
                    buf t;
                    unsigned char *e2 = buf_new(&t, cut, (int)below(&r, 3));
                    memcpy(e2, env, cut);
                    buf_free(&benv);
                    benv = t;
                    env = e2;
                    size = cut;
                } else if (kind == 12 && aadlen > 0) { /* other associated data */
                    aad[below(&r, aadlen)] ^= (unsigned char)(1u << below(&r, 8));
                } else if (kind == 12) {
                    buf_free(&baad);
                    aadlen = 1 + below(&r, 8);
                    aad = buf_new(&baad, aadlen, 1);
                    fill(&r, aad, aadlen);
                } else if (kind == 13) { /* random bytes behind a known or random prefix */
                    fill(&r, env, size);
                    if (below(&r, 2) && size >= 4) {
                        uint32_t p = sides[below(&r, 2)].prefix;
                        env[0] = (unsigned char)(p >> 24);
                        env[1] = (unsigned char)(p >> 16);
                        env[2] = (unsigned char)(p >> 8);
                        env[3] = (unsigned char)p;
                    }
                } else if (kind == 14) { /* one byte more: the tag moves */
                    buf t;
                    unsigned char *e2 = buf_new(&t, size + 1, (int)below(&r, 3));
                    memcpy(e2, env, size);
                    e2[size] = (unsigned char)next64(&r);
                    buf_free(&benv);
                    benv = t;
                    env = e2;
                    size++;
                }
            }
            /* which keys the call gets */
            switch (below(&r, 24)) {
            case 0: case 1: case 2: a = sides[1].open; b = sides[0].open; break;
            case 3: a = sides[0].open; b = NULL; break;
            case 4: a = NULL; b = sides[1].open; break;
            case 5: a = sides[0].seal; b = sides[1].open; break;
            case 6: a = NULL; b = NULL; break;
            default: a = sides[0].open; b = sides[1].open;
            }
            /* the expected outcome */
            body = size >= OVERHEAD ? size - OVERHEAD : 0;
            refout = malloc(body ? body : 1);
            CHECK(refout != NULL, "out of memory");
            if (size < OVERHEAD) {
                expect = EK_ENV_SHORT;
            } else {
                uint32_t p = load32(env);
                if (a == sides[0].open && a != NULL && p == sides[0].prefix)
                    chosen = &sides[0];
                else if (a == sides[1].open && a != NULL && p == sides[1].prefix)
                    chosen = &sides[1];
                else if (b == sides[0].open && b != NULL && p == sides[0].prefix)
                    chosen = &sides[0];
                else if (b == sides[1].open && b != NULL && p == sides[1].prefix)
                    chosen = &sides[1];
                if (chosen == NULL)
                    expect = EK_ENV_UNKNOWN_KEY;
                else if (!ref_open(alg, chosen->key, env, size, aad, aadlen, refout))
                    expect = EK_ENV_AUTH;
                else
                    expect = model_accept(&chosen->m, load64(env + 4)) ? EK_ENV_OK
                                                                       : EK_ENV_REPLAY;
            }
            out = buf_new(&bout, body, (int)below(&r, 3));
            memset(out, 0xa5, body);
            rc = ek_env_open(a, b, (const char *)env, size, (const char *)aad, aadlen,
                             (char *)out);
            CHECK(rc == expect, "open returned %s, expected %s (size %zu, aad %zu, kind %d, "
                  "counter %" PRIu64 ", window %" PRIu64 ", top %" PRIu64 ")", rc_name(rc),
                  rc_name(expect), size, aadlen, kind, size >= 12 ? load64(env + 4) : 0,
                  chosen ? chosen->window : 0, chosen ? chosen->m.top : 0);
            stats[rc]++;
            if (rc == EK_ENV_OK) {
                CHECK(memcmp(out, refout, body) == 0, "plaintext differs (%s)", rc_name(rc));
            } else if (rc == EK_ENV_AUTH || rc == EK_ENV_REPLAY) {
                for (i = 0; i < body; i++)
                    CHECK(out[i] == 0, "plaintext left in out on %s", rc_name(rc));
            } else {
                for (i = 0; i < body; i++)
                    CHECK(out[i] == 0xa5, "out written on %s", rc_name(rc));
            }
            free(refout);
            buf_free(&bout);
            buf_free(&benv);
            buf_free(&baad);
            buf_free(&bpt);
        }
        free_side(&sides[0]);
        free_side(&sides[1]);
    }
done:
    free_side(&sides[0]);
    free_side(&sides[1]);
    for (i = 0; i < nhist; i++) {
        free(hist[i].env);
        free(hist[i].aad);
    }
    printf("single seed=%" PRIu64 " ops=%" PRIu64 " epochs=%" PRIu64 " %.1fs  OK=%" PRIu64
           " SHORT=%" PRIu64 " UNKNOWN_KEY=%" PRIu64 " AUTH=%" PRIu64 " REPLAY=%" PRIu64 "\n",
           seed, ops, g_epoch + 1, now() - t0, stats[0], stats[1], stats[2], stats[3],
           stats[4]);
    return 0;
}

/* --- threads --------------------------------------------------------------------------- */

typedef struct {
    int alg;
    unsigned char key[32];
    ek_env_key *a, *b, *sealer;
    size_t count;      /* envelopes */
    unsigned char **env;
    size_t *size;
    uint64_t *counter;
    unsigned *accepted; /* per envelope, atomically */
    unsigned forged_ok; /* forgeries accepted (must stay 0) */
    unsigned sealed_bad; /* concurrent seals that differ from the reference */
    uint64_t seed;
    int index;
} shared;

typedef struct {
    shared *sh;
    uint64_t seed;
} job;

static void *opener_thread(void *arg)
{
    job *j = arg;
    shared *sh = j->sh;
    rng r = {j->seed};
    size_t *order = malloc(sh->count * sizeof *order), i;
    unsigned char out[64], fake[64 + OVERHEAD], ref[64 + TAG], pt[64];
    if (order == NULL)
        abort();
    for (i = 0; i < sh->count; i++)
        order[i] = i;
    for (i = sh->count; i > 1; i--) { /* Fisher-Yates */
        size_t k = (size_t)below(&r, i), t = order[i - 1];
        order[i - 1] = order[k];
        order[k] = t;
    }
    for (i = 0; i < sh->count; i++) {
        size_t e = order[i];
        int swap = (int)below(&r, 2), rc;
        rc = ek_env_open(swap ? sh->b : sh->a, swap ? sh->a : sh->b, (const char *)sh->env[e],
                         sh->size[e], NULL, 0, (char *)out);
        if (rc == EK_ENV_OK) {
            __atomic_fetch_add(&sh->accepted[e], 1, __ATOMIC_RELAXED);
        } else if (rc != EK_ENV_REPLAY) {
            fprintf(stderr, "FAIL threads: a valid envelope returned %s\n", rc_name(rc));
            exit(1);
        }
        if (below(&r, 4) == 0) { /* a forgery of the same envelope */
            size_t size = sh->size[e];
            memcpy(fake, sh->env[e], size);
            fake[HEADER + below(&r, size - HEADER)] ^= (unsigned char)(1u << below(&r, 8));
            rc = ek_env_open(sh->a, sh->b, (const char *)fake, size, NULL, 0, (char *)out);
            if (rc != EK_ENV_AUTH)
                __atomic_fetch_add(&sh->forged_ok, 1, __ATOMIC_RELAXED);
        }
        if (below(&r, 8) == 0) { /* a seal on the shared sending key, another counter */
            uint64_t n = next64(&r);
            size_t len = (size_t)below(&r, 64);
            fill(&r, pt, len);
            if (ek_env_seal(sh->sealer, n, (const char *)pt, len, NULL, 0, (char *)fake) != 0)
                abort();
            ref_seal(sh->alg, sh->key, fake, NULL, 0, pt, len, ref);
            if (load64(fake + 4) != n || memcmp(ref, fake + HEADER, len + TAG) != 0)
                __atomic_fetch_add(&sh->sealed_bad, 1, __ATOMIC_RELAXED);
        }
    }
    free(order);
    return NULL;
}

static int run_threads(uint64_t seed, uint64_t iterations, double seconds, int nthreads)
{
    rng r = {seed};
    double t0 = now(), deadline = seconds > 0 ? t0 + seconds : 0;
    uint64_t rounds = 0, total = 0;
    g_seed = seed;
    for (g_epoch = 0; ; g_epoch++, rounds++) {
        shared sh;
        unsigned char key2[32];
        pthread_t tid[64];
        job jobs[64];
        uint64_t window = below(&r, 2) ? 1 + below(&r, 4096) : 65536, base;
        size_t i, count = 64 + (size_t)below(&r, 2000);
        int t, spread = (int)below(&r, 2); /* 0: all counters in the window; 1: spread wider */
        if ((iterations && total >= iterations) || (deadline && now() > deadline))
            break;
        memset(&sh, 0, sizeof sh);
        sh.alg = 1 + (int)below(&r, 2);
        fill(&r, sh.key, 32);
        fill(&r, key2, 32);
        /* a: the key under test; b: another key (the previous one after a rekey) */
        sh.a = ek_env_key_new(sh.alg, sh.key, 0x01000005u | (uint32_t)sh.alg << 16,
                              (uint32_t)window);
        sh.b = ek_env_key_new(sh.alg, key2, 0x01000004u | (uint32_t)sh.alg << 16, 64);
        sh.sealer = ek_env_key_new(sh.alg, sh.key, 0x01000005u | (uint32_t)sh.alg << 16, 0);
        CHECK(sh.a && sh.b && sh.sealer, "ek_env_key_new failed");
        sh.count = count;
        sh.env = calloc(count, sizeof *sh.env);
        sh.size = calloc(count, sizeof *sh.size);
        sh.counter = calloc(count, sizeof *sh.counter);
        sh.accepted = calloc(count, sizeof *sh.accepted);
        CHECK(sh.env && sh.size && sh.counter && sh.accepted, "out of memory");
        base = below(&r, 2) ? below(&r, 1000) : UINT64_MAX - 3 * count - window;
        for (i = 0; i < count; i++) {
            size_t len = (size_t)below(&r, 64);
            unsigned char pt[64];
            /* distinct counters: a permutation of base .. base + count - 1 (spread: x3) */
            sh.counter[i] = base + (spread ? 3 * i : i);
            sh.size[i] = len + OVERHEAD;
            sh.env[i] = malloc(sh.size[i]);
            CHECK(sh.env[i] != NULL, "out of memory");
            fill(&r, pt, len);
            CHECK(ek_env_seal(sh.sealer, sh.counter[i], (const char *)pt, len, NULL, 0,
                              (char *)sh.env[i]) == EK_ENV_OK, "seal");
        }
        for (t = 0; t < nthreads; t++) {
            jobs[t].sh = &sh;
            jobs[t].seed = next64(&r);
            CHECK(pthread_create(&tid[t], NULL, opener_thread, &jobs[t]) == 0, "pthread_create");
        }
        for (t = 0; t < nthreads; t++)
            pthread_join(tid[t], NULL);
        CHECK(sh.forged_ok == 0, "%u forgeries accepted", sh.forged_ok);
        CHECK(sh.sealed_bad == 0, "%u concurrent seals differ from the reference",
              sh.sealed_bad);
        for (i = 0; i < count; i++) {
            uint64_t span = (spread ? 3 * (count - 1) : count - 1);
            /* inside the window whatever the order: exactly once; otherwise at most once */
            if (span < window)
                CHECK(sh.accepted[i] == 1, "envelope %zu (counter %" PRIu64 ") accepted %u "
                      "times, window %" PRIu64, i, sh.counter[i], sh.accepted[i], window);
            else
                CHECK(sh.accepted[i] <= 1, "envelope %zu accepted %u times", i,
                      sh.accepted[i]);
        }
        for (i = 0; i < count; i++) { /* afterwards, every one is refused */
            unsigned char out[64];
            int rc = ek_env_open(sh.a, sh.b, (const char *)sh.env[i], sh.size[i], NULL, 0,
                                 (char *)out);
            CHECK(rc == EK_ENV_REPLAY, "after the threads, envelope %zu returned %s", i,
                  rc_name(rc));
        }
        total += count * (uint64_t)nthreads;
        for (i = 0; i < count; i++)
            free(sh.env[i]);
        free(sh.env);
        free(sh.size);
        free(sh.counter);
        free(sh.accepted);
        ek_env_key_free(sh.a);
        ek_env_key_free(sh.b);
        ek_env_key_free(sh.sealer);
    }
    printf("threads seed=%" PRIu64 " threads=%d rounds=%" PRIu64 " opens=%" PRIu64 " %.1fs\n",
           seed, nthreads, rounds, total, now() - t0);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, iterations = 0;
    double seconds = 0;
    int threads = 0, i, nthreads = 4;
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
            iterations = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            nthreads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
            threads = !strcmp(argv[++i], "threads");
        else {
            fprintf(stderr, "usage: %s [--mode single|threads] [--seed N] [--iterations N] "
                            "[--seconds S] [--threads T]\n", argv[0]);
            return 2;
        }
    }
    if (nthreads < 1 || nthreads > 64)
        nthreads = 4;
    if (iterations == 0 && seconds <= 0)
        iterations = 100000;
    /* a hang (a loop that stops advancing) is a failure too: SIGALRM ends the run */
    alarm(seconds > 0 ? (unsigned)seconds + 120 : 1800);
    return threads ? run_threads(seed, iterations, seconds, nthreads)
                   : run_single(seed, iterations, seconds);
}
