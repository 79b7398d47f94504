/*
 * sign.c - Standard Webhooks secrets, HMAC-SHA256 signatures and their verification.
 */
#include "sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define MAC_LEN 32      /* HMAC-SHA256 output */
#define MAC_B64_LEN 44  /* its base64, with padding */
#define TIMESTAMP_MAX_DIGITS 15

struct sign_key {
    EVP_MAC_CTX *tmpl; /* HMAC-SHA256 keyed with the secret; duplicated per message */
};

static struct sign_key *key_from_bytes(const unsigned char *raw, size_t n);
static void compute_mac(const struct sign_key *key, const char *msg_id, const char *timestamp,
                        const void *body, size_t body_len, unsigned char out[MAC_LEN]);
static void signature_b64(const struct sign_key *key, const char *msg_id,
                          const char *timestamp, const void *body, size_t body_len,
                          char out[MAC_B64_LEN + 1]);
static bool timestamp_parse(const char *s, int64_t *out);
static enum sign_result match_any(const char *signatures, const char *expected);

char *sign_secret_new(void)
{
    unsigned char raw[SIGN_SECRET_BYTES];
    util_random(raw, sizeof raw);
    char *b64 = util_base64(raw, sizeof raw);
    OPENSSL_cleanse(raw, sizeof raw);
    char *secret = xasprintf("%s%s", SIGN_SECRET_PREFIX, b64);
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    return secret;
}

struct sign_key *sign_key_new(const char *secret)
{
    size_t plen = strlen(SIGN_SECRET_PREFIX);
    if (!secret || strncmp(secret, SIGN_SECRET_PREFIX, plen) != 0)
        return NULL;
    size_t n;
    unsigned char *raw = util_base64_decode(secret + plen, &n);
    if (!raw)
        return NULL;
    struct sign_key *key = NULL;
    if (n >= SIGN_KEY_MIN_BYTES && n <= SIGN_KEY_MAX_BYTES)
        key = key_from_bytes(raw, n);
    OPENSSL_cleanse(raw, n);
    free(raw);
    return key;
}

void sign_key_free(struct sign_key *key)
{
    if (!key)
        return;
    EVP_MAC_CTX_free(key->tmpl); /* the provider wipes the key schedule */
    free(key);
}

/* Keys the template context once; each message then costs one duplicate. */
static struct sign_key *key_from_bytes(const unsigned char *raw, size_t n)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        util_fatal("HMAC is not available in OpenSSL");
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context holds its own reference */
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (!ctx || EVP_MAC_init(ctx, raw, n, params) != 1)
        util_fatal("cannot initialise HMAC-SHA256");
    struct sign_key *key = xmalloc(sizeof *key);
    key->tmpl = ctx;
    return key;
}

bool sign_msg_id_valid(const char *msg_id)
{
    if (!msg_id || !*msg_id)
        return false;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)msg_id; *p; p++, n++) {
        if (n >= SIGN_MSG_ID_MAX || *p <= ' ' || *p >= 0x7f || *p == '.')
            return false;
    }
    return true;
}

static void compute_mac(const struct sign_key *key, const char *msg_id, const char *timestamp,
                        const void *body, size_t body_len, unsigned char out[MAC_LEN])
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(key->tmpl);
    if (!ctx)
        util_fatal("out of memory (HMAC context)");
    size_t out_len = 0;
    bool ok = EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) == 1 &&
              EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
              EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) == 1 &&
              EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
              (body_len == 0 || EVP_MAC_update(ctx, body, body_len) == 1) &&
              EVP_MAC_final(ctx, out, &out_len, MAC_LEN) == 1 && out_len == MAC_LEN;
    EVP_MAC_CTX_free(ctx);
    if (!ok)
        util_fatal("HMAC-SHA256 failed");
}

static void signature_b64(const struct sign_key *key, const char *msg_id,
                          const char *timestamp, const void *body, size_t body_len,
                          char out[MAC_B64_LEN + 1])
{
    unsigned char mac[MAC_LEN];
    compute_mac(key, msg_id, timestamp, body, body_len, mac);
    char *b64 = util_base64(mac, sizeof mac);
    memcpy(out, b64, MAC_B64_LEN + 1);
    free(b64);
}

bool sign_signature_append(struct strbuf *header, const struct sign_key *key,
                           const char *msg_id, int64_t timestamp_s, const void *body,
                           size_t body_len)
{
    if (!sign_msg_id_valid(msg_id) || timestamp_s < 0)
        return false;
    char ts[24], b64[MAC_B64_LEN + 1];
    snprintf(ts, sizeof ts, "%lld", (long long)timestamp_s);
    signature_b64(key, msg_id, ts, body, body_len, b64);
    if (header->len > 0)
        strbuf_putc(header, ' ');
    strbuf_puts(header, "v1,");
    strbuf_puts(header, b64);
    return true;
}

char *sign_signature_new(const struct sign_key *key, const char *msg_id, int64_t timestamp_s,
                         const void *body, size_t body_len)
{
    struct strbuf b = {0};
    if (!sign_signature_append(&b, key, msg_id, timestamp_s, body, body_len))
        return NULL;
    return strbuf_detach(&b);
}

/* Decimal digits only: no sign, no spaces, at most TIMESTAMP_MAX_DIGITS. */
static bool timestamp_parse(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t n = 0;
    for (; s[n]; n++) {
        if (n >= TIMESTAMP_MAX_DIGITS || s[n] < '0' || s[n] > '9')
            return false;
        v = v * 10 + (s[n] - '0');
    }
    *out = v;
    return n > 0;
}

/* Walks the space-separated list; every "v1," entry is compared in full, in
 * constant time, so timing reveals at most which position matched. */
static enum sign_result match_any(const char *signatures, const char *expected)
{
    bool seen = false, matched = false;
    const char *p = signatures;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        size_t n = (size_t)(p - start);
        seen = true;
        if (n == 3 + MAC_B64_LEN && memcmp(start, "v1,", 3) == 0 &&
            util_ct_equal(start + 3, expected, MAC_B64_LEN))
            matched = true;
    }
    if (!seen)
        return SIGN_MALFORMED;
    return matched ? SIGN_OK : SIGN_MISMATCH;
}

enum sign_result sign_verify(const struct sign_key *key, const char *msg_id,
                             const char *timestamp, const char *signatures,
                             const void *body, size_t body_len, int64_t now_s,
                             int64_t tolerance_s)
{
    int64_t ts;
    if (!sign_msg_id_valid(msg_id) || !timestamp || !timestamp_parse(timestamp, &ts) ||
        !signatures)
        return SIGN_MALFORMED;
    char expected[MAC_B64_LEN + 1];
    signature_b64(key, msg_id, timestamp, body, body_len, expected);
    enum sign_result r = match_any(signatures, expected);
    if (r != SIGN_OK)
        return r;
    if (tolerance_s >= 0 && (ts < now_s - tolerance_s || ts > now_s + tolerance_s))
        return SIGN_EXPIRED;
    return SIGN_OK;
}

const char *sign_result_str(enum sign_result result)
{
    switch (result) {
    case SIGN_OK: return "ok";
    case SIGN_MALFORMED: return "malformed webhook headers";
    case SIGN_MISMATCH: return "signature mismatch";
    case SIGN_EXPIRED: return "timestamp outside tolerance";
    }
    return "unknown";
}
