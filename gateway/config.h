/*
 * config.h - scimgate's settings: one table (name, environment variable,
 * flag, type, default, help) read from the environment, then overridden by
 * command-line flags, validated once, then read-only.
 */
#ifndef SCIMGATE_CONFIG_H
#define SCIMGATE_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "log.h"

struct config {
    char *database_url;          /* libpq connection string or URL ("" = libpq defaults) */
    char *listen;                /* "host:port" of the HTTP listener */
    char *listen_host;           /* parsed host of listen */
    int listen_port;             /* parsed port of listen (0 = any free port) */
    char *public_url;            /* base of meta.location and endpoint_url, no trailing '/' */
    bool public_url_derived;     /* public_url was made from listen (not configured) */
    char *admin_key;             /* bootstrap admin key (sk_...), or NULL */
    double rate_per_token;       /* token-bucket refill per SCIM token, ops/s; 0 = no limit */
    bool rate_limit_local;       /* buckets per process instead of shared leases */
    int burst_per_token;         /* token-bucket capacity */
    char *tls_cert;              /* PEM certificate chain file, or NULL */
    char *tls_key;               /* PEM private key file, or NULL */
    int db_pool_size;            /* PostgreSQL connections per process */
    int db_query_timeout_ms;     /* statement_timeout and the client-side query timer */
    int db_queue_timeout_ms;     /* longest a request waits for a free connection */
    bool db_group_commit;        /* commit concurrent writes together */
    int db_group_commit_max;     /* writes per group commit at most */
    int db_group_commit_lanes;   /* group commits in flight at once */
    bool db_prepare;             /* prepared statements per connection */
    int hash_threads;            /* password-hashing threads (0: on the loop) */
    bool store_passwords;        /* keep a PBKDF2 hash of passwords clients send */
    int max_body_bytes;          /* request body cap (413 above) */
    int http_timeout_s;          /* header/body read timeout and keep-alive idle timeout */
    int shutdown_timeout_s;      /* graceful drain limit on SIGTERM */
    enum log_level log_level;    /* SCIMGATE_LOG_LEVEL */
    int bulk_max_operations;     /* /Bulk maxOperations */
    int bulk_max_payload;        /* /Bulk maxPayloadSize in bytes */
    int filter_max_results;      /* ServiceProviderConfig filter.maxResults, page cap */
    int worker_concurrency;      /* deliveries in flight per worker */
    int worker_poll_ms;          /* polling fallback interval of the worker */
    int webhook_timeout_ms;      /* one delivery attempt, connect to last byte */
    int webhook_retry_min_ms;    /* backoff floor */
    int webhook_retry_base_ms;   /* backoff ceiling of the first retry */
    int webhook_retry_cap_ms;    /* backoff ceiling of any retry */
    int webhook_retry_horizon_s; /* retries continue this long, then the delivery fails */
    bool with_worker;            /* serve: also run the delivery worker */
    bool check_only;             /* serve --check-config: validate and exit */
};

enum config_parse_result {
    CONFIG_OK,    /* ready to run */
    CONFIG_HELP,  /* --help was asked and printed */
    CONFIG_ERROR, /* a message naming the setting was printed to stderr */
};

/* Fills cfg from the environment, then argv[first..argc) flags. Prints one line
 * naming the bad setting on error, the usage on --help. command is the
 * subcommand name ("serve", "worker", ...) for the usage text. */
enum config_parse_result config_load(struct config *cfg, const char *command, int argc,
                                     char **argv, int first);
/* Prints every setting with its environment variable, flag and default. */
void config_usage(FILE *out, const char *command);
/* Frees the strings of cfg. */
void config_clear(struct config *cfg);

#endif
