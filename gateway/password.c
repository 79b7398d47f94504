/*
 * password.c - PBKDF2-HMAC-SHA256 for SCIM user passwords.
 *
 * OpenSSL's PKCS5_PBKDF2_HMAC copies and re-initialises its HMAC contexts
 * through the EVP layer on every iteration, which costs more than the two
 * SHA-256 compressions an iteration needs. Here the inner and outer pad
 * states are computed once and each iteration starts from plain copies of
 * them, which halves the time a create spends hashing on the event loop. The
 * low-level SHA256_* functions are deprecated in OpenSSL 3 but remain the only
 * interface that lets a hash state be copied by value.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "password.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "util.h"

#define PBKDF2_ITERATIONS 2000

void password_pbkdf2_sha256(const char *password, size_t len, const unsigned char *salt,
                            size_t saltlen, unsigned iterations, unsigned char out[32])
{
    unsigned char key[SHA256_CBLOCK] = {0}, pad[SHA256_CBLOCK], u[32], t[32];
    static const unsigned char block_index[4] = {0, 0, 0, 1};
    if (len > sizeof key)
        SHA256((const unsigned char *)password, len, key);
    else
        memcpy(key, password, len);
    SHA256_CTX inner, outer, c;
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = key[i] ^ 0x36;
    SHA256_Init(&inner);
    SHA256_Update(&inner, pad, sizeof pad);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = key[i] ^ 0x5c;
    SHA256_Init(&outer);
    SHA256_Update(&outer, pad, sizeof pad);

    /* U1 = HMAC(P, S || INT(1)); T = U1 ^ U2 ^ ... ^ Uc */
    c = inner;
    SHA256_Update(&c, salt, saltlen);
    SHA256_Update(&c, block_index, sizeof block_index);
    SHA256_Final(u, &c);
    c = outer;
    SHA256_Update(&c, u, sizeof u);
    SHA256_Final(u, &c);
    memcpy(t, u, sizeof t);
    for (unsigned n = 1; n < iterations; n++) {
        c = inner;
        SHA256_Update(&c, u, sizeof u);
        SHA256_Final(u, &c);
        c = outer;
        SHA256_Update(&c, u, sizeof u);
        SHA256_Final(u, &c);
        for (size_t j = 0; j < sizeof t; j++)
            t[j] ^= u[j];
    }
    memcpy(out, t, sizeof t);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
    OPENSSL_cleanse(&c, sizeof c);
    OPENSSL_cleanse(u, sizeof u);
    OPENSSL_cleanse(t, sizeof t);
}

char *password_hash(const char *password)
{
    unsigned char salt[16], hash[32];
    util_random(salt, sizeof salt);
    password_pbkdf2_sha256(password, strlen(password), salt, sizeof salt, PBKDF2_ITERATIONS,
                           hash);
    char *s64 = util_base64(salt, sizeof salt), *h64 = util_base64(hash, sizeof hash);
    char *out = xasprintf("pbkdf2-sha256$%d$%s$%s", PBKDF2_ITERATIONS, s64, h64);
    free(s64);
    free(h64);
    return out;
}

bool password_matches(const char *password, const char *stored)
{
    char copy[256];
    if (strncmp(stored, "pbkdf2-sha256$", 14) != 0 || strlen(stored) >= sizeof copy)
        return false;
    snprintf(copy, sizeof copy, "%s", stored + 14);
    char *iter = copy, *salt = strchr(iter, '$'), *hash = salt ? strchr(salt + 1, '$') : NULL;
    if (!salt || !hash)
        return false;
    *salt++ = '\0';
    *hash++ = '\0';
    long long n;
    size_t saltlen, hashlen;
    if (!util_parse_int(iter, 1, 10000000, &n))
        return false;
    unsigned char *s = util_base64_decode(salt, &saltlen), *h = util_base64_decode(hash, &hashlen);
    unsigned char got[32];
    bool ok = false;
    if (s && h && hashlen == sizeof got) {
        password_pbkdf2_sha256(password, strlen(password), s, saltlen, (unsigned)n, got);
        ok = util_ct_equal(got, h, sizeof got);
    }
    free(s);
    free(h);
    return ok;
}
