/*
 * sign.h - Standard Webhooks signatures (https://www.standardwebhooks.com):
 * endpoint secrets, signing a delivery and verifying one.
 *
 * A secret is "whsec_" followed by the standard base64 (with padding) of 24 to
 * 64 random bytes; those bytes are the HMAC key. A signature is
 *
 *     v1,<base64(HMAC-SHA256(key, msg_id "." timestamp "." body))>
 *
 * where timestamp is the decimal Unix time in seconds sent in the
 * webhook-timestamp header. The webhook-signature header holds one or more
 * signatures separated by spaces (a sender signs with the old and the new
 * secret while a secret is being rotated); a message verifies when any "v1,"
 * entry matches. Entries of other schemes ("v1a,", ...) are ignored.
 *
 * Message ids must not contain '.', whitespace or control characters: the
 * signed string would otherwise be ambiguous (id "a.1", timestamp "23" signs
 * the same bytes as id "a", timestamp "1" and a body starting "23.").
 *
 * Everything here is pure except sign_secret_new (the OS random source).
 * A struct sign_key may be shared read-only between threads.
 */
#ifndef SCIMGATE_SIGN_H
#define SCIMGATE_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SIGN_SECRET_PREFIX "whsec_"
#define SIGN_KEY_MIN_BYTES 24     /* shortest key accepted (192 bits) */
#define SIGN_KEY_MAX_BYTES 64     /* longest key accepted (512 bits) */
#define SIGN_SECRET_BYTES 32      /* key length sign_secret_new draws */
#define SIGN_TOLERANCE_DEFAULT_S 300 /* accepted clock distance, seconds */
#define SIGN_MSG_ID_MAX 256       /* longest message id accepted */

/* A parsed secret, ready to sign and verify. Opaque. */
struct sign_key;

/* Verification outcome. */
enum sign_result {
    SIGN_OK,        /* one "v1," signature matched and the timestamp is fresh */
    SIGN_MALFORMED, /* id, timestamp or signature header missing or not well formed */
    SIGN_MISMATCH,  /* well formed, but no "v1," signature matched */
    SIGN_EXPIRED,   /* authentic, but the timestamp is outside the tolerance */
};

/* A new random endpoint secret "whsec_<base64 of SIGN_SECRET_BYTES bytes>".
 * New string, freed by the caller; aborts if the OS random source fails. */
char *sign_secret_new(void);

/* Parses a secret (borrowed). Returns a new key (free with sign_key_free), or
 * NULL when the secret lacks the "whsec_" prefix, is not valid base64 or does
 * not decode to SIGN_KEY_MIN_BYTES..SIGN_KEY_MAX_BYTES bytes. */
struct sign_key *sign_key_new(const char *secret) MUSTCHECK;
/* Frees a key and wipes its material; NULL is accepted. */
void sign_key_free(struct sign_key *key);

/* True when msg_id may be signed: 1..SIGN_MSG_ID_MAX printable ASCII
 * characters other than '.' and space. */
bool sign_msg_id_valid(const char *msg_id);

/* The signature "v1,<base64>" of one message: a new string freed by the
 * caller, or NULL when msg_id is not valid or timestamp_s is negative. All
 * arguments are borrowed; body may be NULL when body_len is 0. */
char *sign_signature_new(const struct sign_key *key, const char *msg_id,
                         int64_t timestamp_s, const void *body, size_t body_len) MUSTCHECK;

/* Appends the signature to header (a webhook-signature value being built),
 * preceded by a space when header is not empty, so that signing with each
 * key of a rotation yields the whole header. False (header unchanged) when
 * msg_id is not valid or timestamp_s is negative. */
bool sign_signature_append(struct strbuf *header, const struct sign_key *key,
                           const char *msg_id, int64_t timestamp_s, const void *body,
                           size_t body_len) MUSTCHECK;

/* Verifies a delivery from its three header values (each may be NULL when
 * the header is missing) and its raw body, at time now_s (Unix seconds).
 * The MAC covers the timestamp exactly as sent (decimal digits only).
 * The timestamp must be within tolerance_s seconds of now_s, either way; a
 * negative tolerance_s skips that check (for replaying recorded messages).
 * Signatures are compared in constant time. Nothing is retained. */
enum sign_result sign_verify(const struct sign_key *key, const char *msg_id,
                             const char *timestamp, const char *signatures,
                             const void *body, size_t body_len, int64_t now_s,
                             int64_t tolerance_s);

/* A short static description of a result, e.g. "signature mismatch". */
const char *sign_result_str(enum sign_result result);

#endif
