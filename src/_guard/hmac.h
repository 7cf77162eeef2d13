/* hmac.h - SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104) for the row-level security
 * seal (py_seal.c).
 *
 * Pure C (no Python.h) so ctest checks it against the published test vectors.  Small
 * on purpose: the seal signs a few hundred bytes per database transaction, and the
 * extension must not depend on a crypto library for it.  Not constant-time in its
 * message length (the messages are not secret); the key only goes through the
 * fixed-size pad blocks.
 */
#ifndef GUARD_HMAC_H
#define GUARD_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define GUARD_SHA256_LEN 32
#define GUARD_SHA256_BLOCK 64

/* OUT = SHA-256(DATA[0..LEN)). */
void guard_sha256(const void *data, size_t len, uint8_t out[GUARD_SHA256_LEN]);

/* The two HMAC pad blocks of KEY: IPAD = K0 xor 0x36.., OPAD = K0 xor 0x5c.., where K0
 * is KEY zero-padded to the block size (or its digest when longer than a block).  With
 * them HMAC(KEY, M) = SHA-256(OPAD || SHA-256(IPAD || M)), which is how the database
 * side computes it without seeing the key itself. */
void guard_hmac_pads(const void *key, size_t keylen, uint8_t ipad[GUARD_SHA256_BLOCK],
                     uint8_t opad[GUARD_SHA256_BLOCK]);

/* OUT = HMAC-SHA256(KEY, MSG). */
void guard_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                       uint8_t out[GUARD_SHA256_LEN]);

/* A key made ready for many MACs: the SHA-256 states after its two pad blocks, so a
 * MAC of a short message costs three block compressions instead of five. */
typedef struct guard_hmac_key {
    uint32_t inner[8];
    uint32_t outer[8];
} guard_hmac_key;

void guard_hmac_key_init(guard_hmac_key *hk, const void *key, size_t keylen);

/* OUT = HMAC-SHA256(the key HK was made from, MSG). */
void guard_hmac_sha256_key(const guard_hmac_key *hk, const void *msg, size_t msglen,
                           uint8_t out[GUARD_SHA256_LEN]);

/* The same from pads guard_hmac_pads() made (no key needed). */
void guard_hmac_sha256_pads(const uint8_t ipad[GUARD_SHA256_BLOCK],
                            const uint8_t opad[GUARD_SHA256_BLOCK], const void *msg, size_t msglen,
                            uint8_t out[GUARD_SHA256_LEN]);

#endif
