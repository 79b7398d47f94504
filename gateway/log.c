/*
 * log.c - JSON-lines logger on stderr.
 *
 * Outside an event loop every line is one write(2). While a loop runs
 * (log_batch), debug and info lines - the access log - are collected and
 * written together when the loop has run the callbacks that are ready, so a
 * busy process makes one write per loop iteration instead of one per request.
 * Warnings and errors flush what is collected and are written at once.
 */
#include "log.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#define BATCH_MAX (64 * 1024)

enum log_level log_level_min = LOG_INFO;

static struct strbuf batched;   /* lines not written yet */
static struct event *batch_ev;  /* writes them; NULL outside a loop */
static bool batch_armed;        /* batch_ev is active */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    log_level_min = level;
}

bool log_parse_level(const char *s, enum log_level *out)
{
    if (util_streq_ci(s, "warning")) {
        *out = LOG_WARN;
        return true;
    }
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
        if (util_streq_ci(s, level_names[i])) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

void log_json_string(struct strbuf *b, const char *s)
{
    if (!s) {
        strbuf_puts(b, "null");
        return;
    }
    strbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': strbuf_puts(b, "\\\""); break;
        case '\\': strbuf_puts(b, "\\\\"); break;
        case '\n': strbuf_puts(b, "\\n"); break;
        case '\r': strbuf_puts(b, "\\r"); break;
        case '\t': strbuf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                strbuf_printf(b, "\\u%04x", *p);
            else
                strbuf_putc(b, (char)*p);
        }
    }
    strbuf_putc(b, '"');
}

static void put_field(struct strbuf *b, const struct log_field *f)
{
    strbuf_putc(b, ',');
    log_json_string(b, f->key);
    strbuf_putc(b, ':');
    switch (f->type) {
    case LOG_F_STR: log_json_string(b, f->s); break;
    case LOG_F_INT: strbuf_printf(b, "%lld", f->i); break;
    case LOG_F_NUM:
        if (isfinite(f->d))
            strbuf_printf(b, "%.3f", f->d);
        else
            strbuf_puts(b, "null");
        break;
    case LOG_F_BOOL: strbuf_puts(b, f->i ? "true" : "false"); break;
    case LOG_F_RAW: strbuf_puts(b, f->s ? f->s : "null"); break;
    case LOG_F_NONE: break;
    }
}

static void write_all(const char *s, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(STDERR_FILENO, s + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

void log_emit(enum log_level level, const char *msg, const char *prefix,
              const struct log_field *fields, size_t n)
{
    char ts[40];
    struct strbuf b = {0};
    strbuf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":",
                  util_format_rfc3339(util_now_ms(), ts, sizeof ts), level_names[level]);
    log_json_string(&b, msg);
    if (prefix && *prefix) {
        strbuf_putc(&b, ',');
        strbuf_puts(&b, prefix);
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].type != LOG_F_NONE && fields[i].key)
            put_field(&b, &fields[i]);
    strbuf_puts(&b, "}\n");
    if (batch_ev && level < LOG_WARN) {
        strbuf_append(&batched, b.s, b.len);
        if (batched.len >= BATCH_MAX)
            log_flush();
        else if (!batch_armed) {
            batch_armed = true;
            event_active(batch_ev, 0, 0);
        }
    } else {
        log_flush();
        write_all(b.s, b.len);
    }
    strbuf_clear(&b);
}

void log_flush(void)
{
    if (batched.len) {
        write_all(batched.s, batched.len);
        batched.len = 0;
    }
}

static void on_batch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    batch_armed = false;
    log_flush();
}

/* A crash writes what is collected (best effort: only write(2)), then hands
 * the signal to whoever handled it before (a sanitizer, or the default). */
static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
static struct sigaction crash_previous[ARRAY_LEN(crash_signals)];
static bool crash_handlers;

static void on_crash(int sig)
{
    if (batched.s && batched.len) {
        ssize_t w = write(STDERR_FILENO, batched.s, batched.len);
        (void)w;
        batched.len = 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(crash_signals); i++)
        if (crash_signals[i] == sig)
            sigaction(sig, &crash_previous[i], NULL);
    raise(sig);
}

static void crash_handlers_set(bool on)
{
    if (on == crash_handlers)
        return;
    for (size_t i = 0; i < ARRAY_LEN(crash_signals); i++) {
        if (on) {
            struct sigaction sa = {.sa_handler = on_crash};
            sigemptyset(&sa.sa_mask);
            sa.sa_flags = SA_RESETHAND;
            sigaction(crash_signals[i], &sa, &crash_previous[i]);
        } else {
            sigaction(crash_signals[i], &crash_previous[i], NULL);
        }
    }
    crash_handlers = on;
}

void log_batch(struct event_base *base)
{
    log_flush();
    crash_handlers_set(base != NULL);
    if (batch_ev) {
        event_free(batch_ev);
        batch_ev = NULL;
        batch_armed = false;
    }
    if (base)
        batch_ev = event_new(base, -1, 0, on_batch, NULL);
    else
        strbuf_clear(&batched);
}
