/* See envelope.h. */
#define _POSIX_C_SOURCE 200809L
#include "envelope.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define HEADER 12
#define TAG 16

struct ek_env_key {
    EVP_CIPHER_CTX *ctx; /* keyed once; the nonce is set per message */
    pthread_mutex_t lock; /* one context and one window per key: both under the lock */
    uint32_t prefix;
    uint64_t window;
    uint64_t ring;       /* bits in the ring: window rounded up to a multiple of 64 */
    uint64_t top;
    int seen;            /* 0 until the first message authenticates (top undefined) */
    int sealing;         /* a sending key: its context encrypts, it has no window */
    uint64_t *bits;
};

ek_env_key *ek_env_key_new(int algorithm, const unsigned char *key, uint32_t prefix,
                           uint32_t window)
{
    const EVP_CIPHER *cipher;
    ek_env_key *k;
    if (algorithm == 1)
        cipher = EVP_chacha20_poly1305();
    else if (algorithm == 2)
        cipher = EVP_aes_256_gcm();
    else
        return NULL;
    if (window > (1u << 16))
        return NULL;
    k = calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    k->prefix = prefix;
    k->window = window;
    k->sealing = window == 0;
    k->ring = k->sealing ? 64 : ((uint64_t)window + 63) / 64 * 64;
    k->bits = calloc((size_t)(k->ring / 64), sizeof *k->bits);
    k->ctx = EVP_CIPHER_CTX_new();
    if (k->bits == NULL || k->ctx == NULL || pthread_mutex_init(&k->lock, NULL) != 0) {
        EVP_CIPHER_CTX_free(k->ctx);
        free(k->bits);
        free(k);
        return NULL;
    }
    if ((k->sealing ? EVP_EncryptInit_ex(k->ctx, cipher, NULL, key, NULL)
                    : EVP_DecryptInit_ex(k->ctx, cipher, NULL, key, NULL)) != 1) {
        ek_env_key_free(k);
        return NULL;
    }
    return k;
}

void ek_env_key_free(ek_env_key *k)
{
    if (k == NULL)
        return;
    EVP_CIPHER_CTX_free(k->ctx); /* clears the key schedule */
    pthread_mutex_destroy(&k->lock);
    free(k->bits);
    free(k);
}

static uint32_t load32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t load64(const unsigned char *p)
{
    return (uint64_t)load32(p) << 32 | load32(p + 4);
}

/* Clear the ring bits of counters lo .. hi inclusive (hi - lo < ring). */
static void clear_range(ek_env_key *k, uint64_t lo, uint64_t hi)
{
    uint64_t i = lo % k->ring, count = hi - lo + 1;
    while (count > 0) {
        uint64_t bit = i % 64, run = 64 - bit;
        if (run > count)
            run = count;
        if (run == 64)
            k->bits[i / 64] = 0;
        else
            k->bits[i / 64] &= ~(((UINT64_C(1) << run) - 1) << bit);
        count -= run;
        i = (i + run) % k->ring;
    }
}

/* Accept counter n once (returns 1) or refuse it as replayed or too old (0). */
static int window_mark(ek_env_key *k, uint64_t n)
{
    uint64_t i = n % k->ring, mask = UINT64_C(1) << (i % 64);
    if (!k->seen || n > k->top) {
        if (!k->seen || n - k->top >= k->ring)
            memset(k->bits, 0, (size_t)(k->ring / 8));
        else
            clear_range(k, k->top + 1, n);
        k->seen = 1;
        k->top = n;
    } else if (k->top - n >= k->window || (k->bits[i / 64] & mask)) {
        return 0;
    }
    k->bits[i / 64] |= mask;
    return 1;
}

static int decrypt(ek_env_key *k, const unsigned char *env, size_t size,
                   const unsigned char *aad, size_t aadsize, unsigned char *out)
{
    int len = 0, fin = 0;
    size_t body = size - HEADER - TAG;
    if (EVP_DecryptInit_ex(k->ctx, NULL, NULL, NULL, env) != 1)
        return EK_ENV_ERROR;
    if (aadsize > 0 && EVP_DecryptUpdate(k->ctx, NULL, &len, aad, (int)aadsize) != 1)
        return EK_ENV_ERROR;
    if (body > 0 && EVP_DecryptUpdate(k->ctx, out, &len, env + HEADER, (int)body) != 1)
        return EK_ENV_ERROR;
    if (EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_AEAD_SET_TAG, TAG,
                            (void *)(env + size - TAG)) != 1)
        return EK_ENV_ERROR;
    /* both ciphers are stream modes: Final writes nothing, at the end of the body */
    if (EVP_DecryptFinal_ex(k->ctx, out + body, &fin) != 1)
        return EK_ENV_AUTH;
    return EK_ENV_OK;
}

int ek_env_open(ek_env_key *a, ek_env_key *b, const char *envelope, size_t size,
                const char *aad, size_t aadsize, char *out)
{
    const unsigned char *env = (const unsigned char *)envelope;
    ek_env_key *k;
    uint32_t prefix;
    int rc;
    if (size < HEADER + TAG)
        return EK_ENV_SHORT;
    if (size - HEADER - TAG > INT_MAX || aadsize > INT_MAX)
        return EK_ENV_TOO_LARGE;
    prefix = load32(env);
    if (a != NULL && a->prefix == prefix && !a->sealing)
        k = a;
    else if (b != NULL && b->prefix == prefix && !b->sealing)
        k = b;
    else
        return EK_ENV_UNKNOWN_KEY;
    if (pthread_mutex_lock(&k->lock) != 0)
        return EK_ENV_ERROR;
    rc = decrypt(k, env, size, (const unsigned char *)aad, aadsize, (unsigned char *)out);
    if (rc == EK_ENV_OK && !window_mark(k, load64(env + 4)))
        rc = EK_ENV_REPLAY;
    pthread_mutex_unlock(&k->lock);
    if (rc != EK_ENV_OK) /* nothing but an accepted message's plaintext leaves this call */
        memset(out, 0, size - HEADER - TAG);
    return rc;
}

static void store64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

int ek_env_seal(ek_env_key *k, uint64_t counter, const char *data, size_t size,
                const char *aad, size_t aadsize, char *out)
{
    unsigned char *dst = (unsigned char *)out;
    int len = 0, fin = 0, ok;
    if (k == NULL || !k->sealing)
        return EK_ENV_ERROR;
    if (size > INT_MAX - HEADER - TAG || aadsize > INT_MAX)
        return EK_ENV_TOO_LARGE;
    dst[0] = (unsigned char)(k->prefix >> 24);
    dst[1] = (unsigned char)(k->prefix >> 16);
    dst[2] = (unsigned char)(k->prefix >> 8);
    dst[3] = (unsigned char)k->prefix;
    store64(dst + 4, counter);
    if (pthread_mutex_lock(&k->lock) != 0)
        return EK_ENV_ERROR;
    ok = EVP_EncryptInit_ex(k->ctx, NULL, NULL, NULL, dst) == 1
         && (aadsize == 0
             || EVP_EncryptUpdate(k->ctx, NULL, &len, (const unsigned char *)aad,
                                  (int)aadsize) == 1)
         && (size == 0
             || EVP_EncryptUpdate(k->ctx, dst + HEADER, &len, (const unsigned char *)data,
                                  (int)size) == 1)
         && EVP_EncryptFinal_ex(k->ctx, dst + HEADER + size, &fin) == 1
         && EVP_CIPHER_CTX_ctrl(k->ctx, EVP_CTRL_AEAD_GET_TAG, TAG, dst + HEADER + size) == 1;
    pthread_mutex_unlock(&k->lock);
    if (!ok) {
        memset(dst, 0, size + HEADER + TAG);
        return EK_ENV_ERROR;
    }
    return EK_ENV_OK;
}
