/* hmac.c - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104); see hmac.h. */
#include "hmac.h"

#include <string.h>

typedef struct {
    uint32_t h[8];
    uint8_t buf[GUARD_SHA256_BLOCK];
    size_t used;    /* bytes in buf */
    uint64_t total; /* bytes hashed so far */
} sha256_ctx;

static const uint32_t k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
compress(uint32_t h[8], const uint8_t block[GUARD_SHA256_BLOCK])
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
}

static void
sha_init(sha256_ctx *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->used = 0;
    c->total = 0;
}

static void
sha_update(sha256_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->total += len;
    while (len > 0) {
        size_t n = GUARD_SHA256_BLOCK - c->used;
        if (n > len)
            n = len;
        memcpy(c->buf + c->used, p, n);
        c->used += n;
        p += n;
        len -= n;
        if (c->used == GUARD_SHA256_BLOCK) {
            compress(c->h, c->buf);
            c->used = 0;
        }
    }
}

static void
sha_final(sha256_ctx *c, uint8_t out[GUARD_SHA256_LEN])
{
    uint64_t bits = c->total * 8;
    uint8_t pad = 0x80, zero = 0, len[8];
    sha_update(c, &pad, 1);
    while (c->used != GUARD_SHA256_BLOCK - 8)
        sha_update(c, &zero, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(c, len, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
    /* The state held key-derived blocks: leave none of it on the stack. */
    explicit_bzero(c, sizeof *c);
}

void
guard_sha256(const void *data, size_t len, uint8_t out[GUARD_SHA256_LEN])
{
    sha256_ctx c;
    sha_init(&c);
    sha_update(&c, data, len);
    sha_final(&c, out);
}

void
guard_hmac_pads(const void *key, size_t keylen, uint8_t ipad[GUARD_SHA256_BLOCK],
                uint8_t opad[GUARD_SHA256_BLOCK])
{
    uint8_t k0[GUARD_SHA256_BLOCK] = {0};
    if (keylen > GUARD_SHA256_BLOCK)
        guard_sha256(key, keylen, k0);
    else if (keylen > 0)
        memcpy(k0, key, keylen);
    for (int i = 0; i < GUARD_SHA256_BLOCK; i++) {
        ipad[i] = k0[i] ^ 0x36;
        opad[i] = k0[i] ^ 0x5c;
    }
    explicit_bzero(k0, sizeof k0);
}

void
guard_hmac_sha256_pads(const uint8_t ipad[GUARD_SHA256_BLOCK],
                       const uint8_t opad[GUARD_SHA256_BLOCK], const void *msg, size_t msglen,
                       uint8_t out[GUARD_SHA256_LEN])
{
    sha256_ctx c;
    uint8_t inner[GUARD_SHA256_LEN];
    sha_init(&c);
    sha_update(&c, ipad, GUARD_SHA256_BLOCK);
    sha_update(&c, msg, msglen);
    sha_final(&c, inner);
    sha_init(&c);
    sha_update(&c, opad, GUARD_SHA256_BLOCK);
    sha_update(&c, inner, sizeof inner);
    sha_final(&c, out);
}

void
guard_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                  uint8_t out[GUARD_SHA256_LEN])
{
    uint8_t ipad[GUARD_SHA256_BLOCK], opad[GUARD_SHA256_BLOCK];
    guard_hmac_pads(key, keylen, ipad, opad);
    guard_hmac_sha256_pads(ipad, opad, msg, msglen, out);
    explicit_bzero(ipad, sizeof ipad);
    explicit_bzero(opad, sizeof opad);
}

void
guard_hmac_key_init(guard_hmac_key *hk, const void *key, size_t keylen)
{
    uint8_t ipad[GUARD_SHA256_BLOCK], opad[GUARD_SHA256_BLOCK];
    sha256_ctx c;
    guard_hmac_pads(key, keylen, ipad, opad);
    sha_init(&c);
    compress(c.h, ipad);
    memcpy(hk->inner, c.h, sizeof hk->inner);
    sha_init(&c);
    compress(c.h, opad);
    memcpy(hk->outer, c.h, sizeof hk->outer);
    explicit_bzero(&c, sizeof c);
    explicit_bzero(ipad, sizeof ipad);
    explicit_bzero(opad, sizeof opad);
}

void
guard_hmac_sha256_key(const guard_hmac_key *hk, const void *msg, size_t msglen,
                      uint8_t out[GUARD_SHA256_LEN])
{
    sha256_ctx c = {.used = 0, .total = GUARD_SHA256_BLOCK};
    uint8_t inner[GUARD_SHA256_LEN];
    memcpy(c.h, hk->inner, sizeof c.h);
    sha_update(&c, msg, msglen);
    sha_final(&c, inner);
    c.used = 0;
    c.total = GUARD_SHA256_BLOCK;
    memcpy(c.h, hk->outer, sizeof c.h);
    sha_update(&c, inner, sizeof inner);
    sha_final(&c, out);
}
