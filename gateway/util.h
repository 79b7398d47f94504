/*
 * util.h - small helpers every module shares: allocation that aborts on
 * exhaustion, clocks, the OS random source, hex and base64, and a growable
 * string buffer.
 */
#ifndef SCIMGATE_UTIL_H
#define SCIMGATE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MUSTCHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation: these never return NULL; exhaustion aborts with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
_Noreturn void util_fatal(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* Wall clock in milliseconds since the Unix epoch. */
int64_t util_now_ms(void);
/* Monotonic clock in microseconds (arbitrary origin). */
int64_t util_mono_us(void);
/* Format ms-since-epoch as RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.123Z")
 * into buf (at least 32 bytes). Returns buf. */
char *util_format_rfc3339(int64_t ms, char *buf, size_t len);
/* Parse an xsd:dateTime / RFC 3339 timestamp. Returns false if it is not one. */
bool util_parse_rfc3339(const char *s, int64_t *ms_out) MUSTCHECK;

/* Fill buf with n bytes from the OS CSPRNG (OpenSSL RAND_bytes); aborts on failure. */
void util_random(void *buf, size_t n);
/* A uniformly distributed integer in [0, bound). */
uint64_t util_random_below(uint64_t bound);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void util_hex(const void *data, size_t n, char *out);
/* Standard base64 with padding; returns a new string. */
char *util_base64(const void *data, size_t n);
/* Decode standard base64; returns a new buffer (and its length) or NULL if invalid. */
unsigned char *util_base64_decode(const char *s, size_t *len_out);
/* SHA-256 of data as 64 lower-case hex characters into out (65 bytes). */
void util_sha256_hex(const void *data, size_t n, char *out);
/* Constant-time equality of two equal-length buffers. */
bool util_ct_equal(const void *a, const void *b, size_t n);

/* Case-insensitive ASCII comparisons. */
bool util_streq_ci(const char *a, const char *b);
bool util_has_prefix_ci(const char *s, const char *prefix);
/* True when s is valid UTF-8 of length n. */
bool util_utf8_valid(const char *s, size_t n);

/* Parse a base-10 integer in [min, max]; false when s is not exactly one. */
bool util_parse_int(const char *s, long long min, long long max, long long *out) MUSTCHECK;

/* A growable NUL-terminated byte string. Zero-initialise, then append; free with
 * strbuf_clear. buf->s is NULL until the first append. */
struct strbuf {
    char *s;    /* the bytes, NUL-terminated once non-empty */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
};
void strbuf_append(struct strbuf *b, const char *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_putc(struct strbuf *b, char c);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);
/* Hands the string to the caller (new reference; "" when empty) and resets b. */
char *strbuf_detach(struct strbuf *b);
void strbuf_clear(struct strbuf *b);

#endif
