/*
 * log.h - structured logging: one JSON object per line on stderr.
 *
 *   log_info("migration applied", LF_STR("name", name), LF_INT("ms", 12));
 *
 * Fields are typed so strings are always escaped. The level is tested before
 * anything is formatted. Never pass tokens, secrets or SCIM bodies.
 */
#ifndef SCIMGATE_LOG_H
#define SCIMGATE_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

enum log_level {
    LOG_DEBUG, /* per-step detail, off by default */
    LOG_INFO,  /* requests, start-up, shutdown */
    LOG_WARN,  /* something failed and was handled */
    LOG_ERROR, /* something failed that an operator must look at */
};

enum log_field_type {
    LOG_F_NONE, /* placeholder, skipped */
    LOG_F_STR,  /* string, escaped; NULL prints null */
    LOG_F_INT,  /* long long */
    LOG_F_NUM,  /* double */
    LOG_F_BOOL, /* bool */
    LOG_F_RAW,  /* pre-rendered JSON value */
};

struct log_field {
    const char *key;
    enum log_field_type type;
    const char *s;
    long long i;
    double d;
};

#define LF_NONE ((struct log_field){.type = LOG_F_NONE})
#define LF_STR(k, v) ((struct log_field){.key = (k), .type = LOG_F_STR, .s = (v)})
#define LF_INT(k, v) ((struct log_field){.key = (k), .type = LOG_F_INT, .i = (long long)(v)})
#define LF_NUM(k, v) ((struct log_field){.key = (k), .type = LOG_F_NUM, .d = (double)(v)})
#define LF_BOOL(k, v) ((struct log_field){.key = (k), .type = LOG_F_BOOL, .i = (v) ? 1 : 0})
#define LF_RAW(k, v) ((struct log_field){.key = (k), .type = LOG_F_RAW, .s = (v)})

extern enum log_level log_level_min;

void log_set_level(enum log_level level);
/* "debug", "info", "warn"/"warning", "error"; false when unknown. */
bool log_parse_level(const char *s, enum log_level *out) MUSTCHECK;
/* Writes one line; prefix (may be NULL) holds extra pre-rendered fields,
 * e.g. the request id, org and token prefix of a request. */
void log_emit(enum log_level level, const char *msg, const char *prefix,
              const struct log_field *fields, size_t n);
/* Appends s as a JSON string (quoted and escaped) to b. */
void log_json_string(struct strbuf *b, const char *s);

struct event_base;
/* With a base: info and debug lines are written together once per loop
 * iteration. With NULL: back to one write per line (what is collected is
 * written first). */
void log_batch(struct event_base *base);
/* Writes the lines collected so far. */
void log_flush(void);

#define LOG_AT_(lvl, prefix, msg, ...)                                             \
    do {                                                                           \
        if ((lvl) >= log_level_min) {                                              \
            const struct log_field log_f_[] = {__VA_ARGS__};                       \
            log_emit((lvl), (msg), (prefix), log_f_, ARRAY_LEN(log_f_));           \
        }                                                                          \
    } while (0)

#define log_debug(msg, ...) LOG_AT_(LOG_DEBUG, NULL, msg, __VA_ARGS__)
#define log_info(msg, ...) LOG_AT_(LOG_INFO, NULL, msg, __VA_ARGS__)
#define log_warn(msg, ...) LOG_AT_(LOG_WARN, NULL, msg, __VA_ARGS__)
#define log_error(msg, ...) LOG_AT_(LOG_ERROR, NULL, msg, __VA_ARGS__)

#endif
