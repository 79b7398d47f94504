/*
 * config.c - the settings table and its loader: environment first, flags
 * override, every value validated with a message that names the setting.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum setting_type {
    SET_STRING,  /* free text */
    SET_SECRET,  /* free text never echoed back */
    SET_INT,     /* integer within [min, max] */
    SET_DOUBLE,  /* number within [min, max] */
    SET_LISTEN,  /* host:port */
    SET_URL,     /* http(s)://... */
    SET_PATH,    /* a readable file */
    SET_LEVEL,   /* log level name */
    SET_BOOL,    /* flag without value; env "1"/"true"/"yes" */
};

struct setting {
    const char *env;         /* environment variable, or NULL */
    const char *flag;        /* long flag without "--" */
    enum setting_type type;
    size_t offset;           /* into struct config */
    const char *def;         /* default as text ("" = none) */
    double min, max;         /* numeric bounds */
    const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct setting settings[] = {
    {"DATABASE_URL", "database-url", SET_SECRET, OFF(database_url), "", 0, 0,
     "PostgreSQL connection string or postgres:// URL"},
    {"SCIMGATE_LISTEN", "listen", SET_LISTEN, OFF(listen), "127.0.0.1:8080", 0, 0,
     "host:port of the HTTP listener (port 0 picks a free port)"},
    {"SCIMGATE_PUBLIC_URL", "public-url", SET_URL, OFF(public_url), "", 0, 0,
     "public base URL used in meta.location and endpoint_url (default http(s)://<listen>)"},
    {"SCIMGATE_ADMIN_KEY", NULL, SET_SECRET, OFF(admin_key), "", 0, 0,
     "bootstrap admin secret key sk_... (generated and printed once when unset)"},
    {"SCIMGATE_RATE_PER_TOKEN", "rate-per-token", SET_DOUBLE, OFF(rate_per_token), "100", 0,
     1e6, "token-bucket refill per SCIM token, operations per second (0 disables)"},
    {"SCIMGATE_BURST_PER_TOKEN", "burst-per-token", SET_INT, OFF(burst_per_token), "100", 1,
     1e6, "token-bucket capacity per SCIM token"},
    {"SCIMGATE_RATE_LIMIT_LOCAL", "rate-limit-local", SET_BOOL, OFF(rate_limit_local), "false", 0,
     0, "keep the buckets in this process only (one gateway); by default every process "
        "leases slices of one bucket per token kept in PostgreSQL"},
    {"SCIMGATE_TLS_CERT", "tls-cert", SET_PATH, OFF(tls_cert), "", 0, 0,
     "PEM certificate chain; with SCIMGATE_TLS_KEY serves HTTPS"},
    {"SCIMGATE_TLS_KEY", "tls-key", SET_PATH, OFF(tls_key), "", 0, 0, "PEM private key"},
    {"SCIMGATE_DB_POOL_SIZE", "db-pool-size", SET_INT, OFF(db_pool_size), "8", 1, 256,
     "PostgreSQL connections per process"},
    {"SCIMGATE_DB_QUERY_TIMEOUT_MS", "db-query-timeout-ms", SET_INT, OFF(db_query_timeout_ms),
     "10000", 100, 600000, "statement timeout of every query, milliseconds"},
    {"SCIMGATE_DB_QUEUE_TIMEOUT_MS", "db-queue-timeout-ms", SET_INT, OFF(db_queue_timeout_ms),
     "5000", 10, 600000, "longest wait for a free database connection, milliseconds"},
    {"SCIMGATE_DB_GROUP_COMMIT", "db-group-commit", SET_BOOL, OFF(db_group_commit), "true", 0, 0,
     "commit the writes of concurrent requests in one transaction (each is still answered "
     "only once its own change is durable)"},
    {"SCIMGATE_DB_GROUP_COMMIT_MAX", "db-group-commit-max", SET_INT, OFF(db_group_commit_max),
     "64", 1, 10000, "writes per group commit at most"},
    {"SCIMGATE_DB_GROUP_COMMIT_LANES", "db-group-commit-lanes", SET_INT,
     OFF(db_group_commit_lanes), "1", 1, 64, "group commits in flight at once"},
    {"SCIMGATE_DB_PREPARE", "db-prepare", SET_BOOL, OFF(db_prepare), "true", 0, 0,
     "prepare each distinct statement once per connection (set false behind a "
     "transaction-mode pooler that cannot keep prepared statements)"},
    {"SCIMGATE_STORE_PASSWORDS", "store-passwords", SET_BOOL, OFF(store_passwords), "true", 0, 0,
     "keep a salted PBKDF2 hash of the passwords identity providers send (false: accept and "
     "discard them; creates then cost no hashing)"},
    {"SCIMGATE_HASH_THREADS", "hash-threads", SET_INT, OFF(hash_threads), "1", 0, 64,
     "threads that hash SCIM user passwords off the event loop (0: hash on the loop)"},
    {"SCIMGATE_MAX_BODY_BYTES", "max-body-bytes", SET_INT, OFF(max_body_bytes), "1048576",
     1024, 1073741824, "request body cap in bytes (413 above it)"},
    {"SCIMGATE_HTTP_TIMEOUT_S", "http-timeout", SET_INT, OFF(http_timeout_s), "30", 1, 3600,
     "seconds allowed to send headers and body, and keep-alive idle time"},
    {"SCIMGATE_SHUTDOWN_TIMEOUT_S", "shutdown-timeout", SET_INT, OFF(shutdown_timeout_s), "10",
     1, 3600, "seconds to finish in-flight work after SIGTERM"},
    {"SCIMGATE_LOG_LEVEL", "log-level", SET_LEVEL, OFF(log_level), "info", 0, 0,
     "debug, info, warn or error"},
    {"SCIMGATE_BULK_MAX_OPERATIONS", "bulk-max-operations", SET_INT, OFF(bulk_max_operations),
     "1000", 1, 100000, "/Bulk maxOperations"},
    {"SCIMGATE_BULK_MAX_PAYLOAD", "bulk-max-payload", SET_INT, OFF(bulk_max_payload),
     "1048576", 1024, 1073741824, "/Bulk maxPayloadSize in bytes"},
    {"SCIMGATE_FILTER_MAX_RESULTS", "filter-max-results", SET_INT, OFF(filter_max_results),
     "1000", 1, 100000, "largest page a list or search returns"},
    {"SCIMGATE_WORKER_CONCURRENCY", "worker-concurrency", SET_INT, OFF(worker_concurrency),
     "32", 1, 10000, "webhook deliveries in flight per worker"},
    {"SCIMGATE_WORKER_POLL_MS", "worker-poll-ms", SET_INT, OFF(worker_poll_ms), "1000", 10,
     600000, "worker polling interval when no notification arrives, milliseconds"},
    {"SCIMGATE_WEBHOOK_TIMEOUT_MS", "webhook-timeout-ms", SET_INT, OFF(webhook_timeout_ms),
     "15000", 100, 600000, "one webhook delivery attempt, connect to last byte"},
    {"SCIMGATE_WEBHOOK_RETRY_MIN_MS", "webhook-retry-min-ms", SET_INT,
     OFF(webhook_retry_min_ms), "1000", 1, 86400000, "shortest wait before a retry"},
    {"SCIMGATE_WEBHOOK_RETRY_BASE_MS", "webhook-retry-base-ms", SET_INT,
     OFF(webhook_retry_base_ms), "5000", 1, 86400000,
     "longest wait before the first retry; doubles per attempt"},
    {"SCIMGATE_WEBHOOK_RETRY_CAP_MS", "webhook-retry-cap-ms", SET_INT, OFF(webhook_retry_cap_ms),
     "3600000", 1, 86400000, "longest wait between two attempts"},
    {"SCIMGATE_WEBHOOK_RETRY_HORIZON_S", "webhook-retry-horizon", SET_INT,
     OFF(webhook_retry_horizon_s), "86400", 1, 2592000,
     "seconds of retrying before a delivery is marked failed"},
    {NULL, "with-worker", SET_BOOL, OFF(with_worker), "", 0, 0,
     "serve: also run the webhook delivery worker in this process"},
    {NULL, "check-config", SET_BOOL, OFF(check_only), "", 0, 0,
     "validate the configuration and exit"},
};

static const char *setting_name(const struct setting *s, char *buf, size_t len)
{
    if (s->env && s->flag)
        snprintf(buf, len, "%s (--%s)", s->env, s->flag);
    else if (s->env)
        snprintf(buf, len, "%s", s->env);
    else
        snprintf(buf, len, "--%s", s->flag);
    return buf;
}

static bool bad(const struct setting *s, const char *value, const char *why)
{
    char name[128];
    bool secret = s->type == SET_SECRET;
    fprintf(stderr, "scimgate: invalid %s: %s%s%s%s\n", setting_name(s, name, sizeof name), why,
            secret ? "" : " (got \"", secret ? "" : value, secret ? "" : "\")");
    return false;
}

static bool parse_listen(const char *v, char **host, int *port)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v)
        return false;
    long long p;
    if (!util_parse_int(colon + 1, 0, 65535, &p))
        return false;
    const char *h = v;
    size_t hlen = (size_t)(colon - v);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    *host = xstrndup(h, hlen);
    *port = (int)p;
    return true;
}

static bool set_value(struct config *cfg, const struct setting *s, const char *v)
{
    char *field = (char *)cfg + s->offset;
    switch (s->type) {
    case SET_STRING:
    case SET_SECRET:
    case SET_URL:
    case SET_PATH: {
        char **dst = (char **)field;
        free(*dst);
        *dst = *v ? xstrdup(v) : NULL;
        if (s->type == SET_URL && *v && !util_has_prefix_ci(v, "http://") &&
            !util_has_prefix_ci(v, "https://"))
            return bad(s, v, "expected an http:// or https:// URL");
        return true;
    }
    case SET_LISTEN: {
        char *host = NULL;
        int port;
        if (!parse_listen(v, &host, &port))
            return bad(s, v, "expected host:port");
        free(cfg->listen);
        free(cfg->listen_host);
        cfg->listen = xstrdup(v);
        cfg->listen_host = host;
        cfg->listen_port = port;
        return true;
    }
    case SET_INT: {
        long long n;
        if (!util_parse_int(v, (long long)s->min, (long long)s->max, &n)) {
            char why[96];
            snprintf(why, sizeof why, "expected an integer from %.0f to %.0f", s->min, s->max);
            return bad(s, v, why);
        }
        *(int *)field = (int)n;
        return true;
    }
    case SET_DOUBLE: {
        char *end;
        double d = strtod(v, &end);
        if (!*v || *end || !(d >= s->min && d <= s->max))
            return bad(s, v, "expected a non-negative number");
        *(double *)field = d;
        return true;
    }
    case SET_LEVEL:
        if (!log_parse_level(v, (enum log_level *)field))
            return bad(s, v, "expected debug, info, warn or error");
        return true;
    case SET_BOOL:
        if (util_streq_ci(v, "1") || util_streq_ci(v, "true") || util_streq_ci(v, "yes"))
            *(bool *)field = true;
        else if (!*v || util_streq_ci(v, "0") || util_streq_ci(v, "false") ||
                 util_streq_ci(v, "no"))
            *(bool *)field = false;
        else
            return bad(s, v, "expected true or false");
        return true;
    }
    return false;
}

static const struct setting *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_LEN(settings); i++)
        if (settings[i].flag && strlen(settings[i].flag) == len &&
            strncmp(settings[i].flag, name, len) == 0)
            return &settings[i];
    return NULL;
}

static bool load_flags(struct config *cfg, int argc, char **argv, int first)
{
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "scimgate: unexpected argument \"%s\" (see --help)\n", arg);
            return false;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct setting *s = find_flag(name, len);
        if (!s) {
            fprintf(stderr, "scimgate: unknown option \"%.*s\" (see --help)\n", (int)len + 2,
                    arg);
            return false;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value && s->type == SET_BOOL)
            value = "true";
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "scimgate: option --%s needs a value\n", s->flag);
                return false;
            }
            value = argv[++i];
        }
        if (!set_value(cfg, s, value))
            return false;
    }
    return true;
}

static bool check_file(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "scimgate: invalid %s: cannot read \"%s\"\n", name, path);
        return false;
    }
    fclose(f);
    return true;
}

static bool finish(struct config *cfg)
{
    if (!!cfg->tls_cert != !!cfg->tls_key) {
        fprintf(stderr, "scimgate: invalid SCIMGATE_TLS_CERT/SCIMGATE_TLS_KEY: "
                        "set both to serve HTTPS, or neither\n");
        return false;
    }
    if (cfg->tls_cert && (!check_file(cfg->tls_cert, "SCIMGATE_TLS_CERT (--tls-cert)") ||
                          !check_file(cfg->tls_key, "SCIMGATE_TLS_KEY (--tls-key)")))
        return false;
    if (cfg->admin_key && strncmp(cfg->admin_key, "sk_", 3) != 0) {
        fprintf(stderr, "scimgate: invalid SCIMGATE_ADMIN_KEY: it must start with \"sk_\"\n");
        return false;
    }
    if (cfg->admin_key && strlen(cfg->admin_key) < 24) {
        fprintf(stderr,
                "scimgate: invalid SCIMGATE_ADMIN_KEY: use at least 24 characters\n");
        return false;
    }
    if (!cfg->public_url) {
        cfg->public_url_derived = true;
        const char *host = cfg->listen_host;
        if (!*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
            host = "127.0.0.1";
        bool v6 = strchr(host, ':') != NULL;
        cfg->public_url = xasprintf("%s://%s%s%s:%d", cfg->tls_cert ? "https" : "http",
                                    v6 ? "[" : "", host, v6 ? "]" : "", cfg->listen_port);
    }
    size_t n = strlen(cfg->public_url);
    while (n > 0 && cfg->public_url[n - 1] == '/')
        cfg->public_url[--n] = '\0';
    return true;
}

enum config_parse_result config_load(struct config *cfg, const char *command, int argc,
                                     char **argv, int first)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_usage(stdout, command);
            return CONFIG_HELP;
        }
    }
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        const char *env = s->env ? getenv(s->env) : NULL;
        if (!set_value(cfg, s, s->def))
            util_fatal("bad default for %s", s->flag ? s->flag : s->env);
        if (env && !set_value(cfg, s, env))
            return CONFIG_ERROR;
    }
    if (!load_flags(cfg, argc, argv, first) || !finish(cfg))
        return CONFIG_ERROR;
    log_set_level(cfg->log_level);
    return CONFIG_OK;
}

void config_usage(FILE *out, const char *command)
{
    fprintf(out, "usage: scimgate %s [options]\n\nSettings (environment variable, flag, "
                 "default):\n",
            command);
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        char name[128];
        fprintf(out, "  %-44s %s", setting_name(s, name, sizeof name), s->help);
        if (s->def[0])
            fprintf(out, " [default: %s]", s->def);
        fputc('\n', out);
    }
}

void config_clear(struct config *cfg)
{
    for (size_t i = 0; i < ARRAY_LEN(settings); i++) {
        const struct setting *s = &settings[i];
        if (s->type == SET_STRING || s->type == SET_SECRET || s->type == SET_URL ||
            s->type == SET_PATH || s->type == SET_LISTEN) {
            char **p = (char **)((char *)cfg + s->offset);
            free(*p);
            *p = NULL;
        }
    }
    free(cfg->listen_host);
    cfg->listen_host = NULL;
}
