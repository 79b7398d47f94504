/*
 * password.h - the stored form of a SCIM user's password.
 *
 * scimgate never authenticates end users; the hash only tells whether a later
 * request sets a different password, so the clear text is never stored.
 */
#ifndef SCIMGATE_PASSWORD_H
#define SCIMGATE_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* A salted PBKDF2-HMAC-SHA256 hash of password
 * ("pbkdf2-sha256$<iterations>$<salt>$<hash>", new string). */
char *password_hash(const char *password);
/* True when password hashes to stored (constant-time comparison). */
bool password_matches(const char *password, const char *stored);

/* PBKDF2-HMAC-SHA256 (RFC 8018) with a 32-byte output: the first block. */
void password_pbkdf2_sha256(const char *password, size_t len, const unsigned char *salt,
                            size_t saltlen, unsigned iterations, unsigned char out[32]);

#endif
