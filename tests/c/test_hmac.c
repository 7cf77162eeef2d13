/* test_hmac.c - SHA-256 against FIPS 180-4's examples and HMAC-SHA256 against RFC 4231's
 * test cases, plus the pad form the database side uses (py_seal.c, docs/data.md). */
#include "hmac.h"

#include <stdio.h>
#include <string.h>

#include "check.h"

static void
hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static const struct {
    const char *msg;
    size_t repeat;
    const char *digest;
} sha_cases[] = {
    {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    /* 55, 56 and 64 bytes: the padding boundaries. */
    {"a", 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
    {"a", 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
    {"a", 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
};

static void
test_sha256(void)
{
    static char buf[1000000];
    for (size_t i = 0; i < sizeof sha_cases / sizeof sha_cases[0]; i++) {
        size_t n = strlen(sha_cases[i].msg);
        size_t len = n * sha_cases[i].repeat;
        for (size_t r = 0; r < sha_cases[i].repeat; r++)
            memcpy(buf + r * n, sha_cases[i].msg, n);
        uint8_t d[GUARD_SHA256_LEN];
        char got[2 * GUARD_SHA256_LEN + 1];
        guard_sha256(buf, len, d);
        hex(d, sizeof d, got);
        if (strcmp(got, sha_cases[i].digest) != 0)
            fprintf(stderr, "sha256 case %zu: %s\n", i, got);
        CHECK(strcmp(got, sha_cases[i].digest) == 0);
    }
}

/* RFC 4231 section 4: keys and data as (byte, count) runs or literal strings. */
static const struct {
    const char *key;
    size_t keylen;
    const char *data;
    size_t datalen;
    const char *mac;
} hmac_cases[] = {
    {"\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b", 20,
     "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"Jefe", 4, "what do ya want for nothing?", 28,
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {NULL, 20, NULL, 50, /* key 0xaa x20, data 0xdd x50 */
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {NULL, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {NULL, 131,
     "This is a test using a larger than block-size key and a larger than block-size "
     "data. The key needs to be hashed before being used by the HMAC algorithm.",
     152, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

static void
test_hmac(void)
{
    uint8_t key[131], data[152];
    for (size_t i = 0; i < sizeof hmac_cases / sizeof hmac_cases[0]; i++) {
        if (hmac_cases[i].key)
            memcpy(key, hmac_cases[i].key, hmac_cases[i].keylen);
        else
            memset(key, 0xaa, hmac_cases[i].keylen);
        if (hmac_cases[i].data)
            memcpy(data, hmac_cases[i].data, hmac_cases[i].datalen);
        else
            memset(data, 0xdd, hmac_cases[i].datalen);
        uint8_t d[GUARD_SHA256_LEN], via_pads[GUARD_SHA256_LEN];
        uint8_t ipad[GUARD_SHA256_BLOCK], opad[GUARD_SHA256_BLOCK];
        char got[2 * GUARD_SHA256_LEN + 1];
        guard_hmac_sha256(key, hmac_cases[i].keylen, data, hmac_cases[i].datalen, d);
        hex(d, sizeof d, got);
        if (strcmp(got, hmac_cases[i].mac) != 0)
            fprintf(stderr, "hmac case %zu: %s\n", i, got);
        CHECK(strcmp(got, hmac_cases[i].mac) == 0);
        /* The pads alone give the same MAC: the database stores only them. */
        guard_hmac_pads(key, hmac_cases[i].keylen, ipad, opad);
        guard_hmac_sha256_pads(ipad, opad, data, hmac_cases[i].datalen, via_pads);
        CHECK(memcmp(d, via_pads, sizeof d) == 0);
        /* And so does the precomputed key (twice: it is not consumed). */
        guard_hmac_key hk;
        guard_hmac_key_init(&hk, key, hmac_cases[i].keylen);
        for (int rep = 0; rep < 2; rep++) {
            guard_hmac_sha256_key(&hk, data, hmac_cases[i].datalen, via_pads);
            CHECK(memcmp(d, via_pads, sizeof d) == 0);
        }
        /* One flipped message bit changes the MAC. */
        data[0] ^= 1;
        guard_hmac_sha256(key, hmac_cases[i].keylen, data, hmac_cases[i].datalen, via_pads);
        CHECK(memcmp(d, via_pads, sizeof d) != 0);
    }
}

int
main(void)
{
    test_sha256();
    test_hmac();
    if (failures == 0)
        printf("test_hmac: ok\n");
    return failures != 0;
}
