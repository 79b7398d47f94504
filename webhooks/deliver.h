/*
 * deliver.h - one webhook POST on the event loop: evhttp client over plain TCP
 * or bufferevent_openssl (certificate chain and host name verified, SNI,
 * TLS 1.2 or newer), asynchronous DNS, one total deadline from connect to the
 * last byte. Redirects are not followed: a 3xx is an answer that failed.
 */
#ifndef SCIMGATE_DELIVER_H
#define SCIMGATE_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct deliver;

struct deliver_result {
    int status;          /* HTTP status, 0 when no answer came */
    char error[256];     /* why it failed ("" on a 2xx) */
    int64_t duration_ms; /* from start to outcome */
};

typedef void (*deliver_cb)(const struct deliver_result *r, void *arg);

/* Shared state for deliveries on base: DNS resolver and TLS context. The
 * trusted CAs are the system's (SSL_CERT_FILE / SSL_CERT_DIR override them).
 * Returns NULL with err filled when TLS cannot be set up. */
struct deliver *deliver_create(struct event_base *base, char *err, size_t errlen);
/* Frees it; deliveries still running complete with an error first. */
void deliver_free(struct deliver *d);

/* POSTs body to url with the given headers (names[i]: values[i]); cb runs
 * exactly once, from the loop, never inside this call. Everything is copied. */
void deliver_post(struct deliver *d, const char *url, const char *const *names,
                  const char *const *values, size_t nheaders, const char *body, size_t len,
                  int timeout_ms, deliver_cb cb, void *arg);
/* Deliveries started and not yet called back. */
int deliver_inflight(const struct deliver *d);

#endif
