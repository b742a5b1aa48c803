/* edgekit.secure's envelope (edgekit/secure/envelope.py), one C call per message.
 *
 * Opening: match the header's key prefix, authenticate and decrypt with OpenSSL's EVP AEAD,
 * then check and update the replay window, under one lock per key.  Sealing: write the
 * header for a counter the caller has reserved, then encrypt behind it, under the key's
 * lock (one cipher context per key).  Both write into a buffer the caller sized exactly.
 *
 * Wire format (docs/secure/envelope.md): a 12-byte header (version, algorithm, key id:
 * the 4-byte "prefix"; a 64-bit big-endian counter) that is also the AEAD nonce, the
 * ciphertext, a 16-byte tag.  The caller's associated data is authenticated, never sent.
 *
 * The replay window has the semantics of the Python reference (envelope._Window): a
 * counter n is accepted once if n > top (the highest counter seen) or top - n < window;
 * the window only moves for messages that authenticated.  It is kept as a ring of bits
 * (RFC 6479's idea): bit n mod B stands for counter n, B >= window a multiple of 64, and
 * the bits of counters passed over when top advances are cleared.
 *
 * ek_env_open returns one of the EK_ENV_* codes; out holds the plaintext after EK_ENV_OK
 * and zeros after any other code past the length checks (a forgery, an error, a replay); EK_ENV_UNKNOWN_KEY (no key matches the
 * prefix: a rekey, or not an envelope) and EK_ENV_SHORT send the caller to the Python path.
 * This module links OpenSSL's libcrypto (1.1.1 or 3.x); it is built only where its headers
 * are installed (setup.py marks it optional), and edgekit uses the Python path otherwise.
 */
#ifndef EDGEKIT_ENVELOPE_H
#define EDGEKIT_ENVELOPE_H
#include <stddef.h>
#include <stdint.h>

/* cdef: begin */
#define EK_ENV_OK 0
#define EK_ENV_SHORT 1
#define EK_ENV_UNKNOWN_KEY 2
#define EK_ENV_AUTH 3
#define EK_ENV_REPLAY 4
#define EK_ENV_TOO_LARGE 5
#define EK_ENV_ERROR 6

typedef struct ek_env_key ek_env_key;

/* window > 0: a receiving key with a replay window of that many counters;
 * window == 0: a sending key (ek_env_seal only). */
ek_env_key *ek_env_key_new(int algorithm, const unsigned char *key, uint32_t prefix,
                           uint32_t window);
void ek_env_key_free(ek_env_key *k);
int ek_env_open(ek_env_key *a, ek_env_key *b, const char *envelope, size_t size,
                const char *aad, size_t aadsize, char *out);
int ek_env_seal(ek_env_key *k, uint64_t counter, const char *data, size_t size,
                const char *aad, size_t aadsize, char *out);
/* cdef: end */

#endif
