/*
 * harness.h - integration-test support: databases in the suite's throwaway
 * PostgreSQL cluster, real scimgate processes on loopback, a small blocking
 * HTTP/1.1 client, and fixtures that create organizations and tokens.
 *
 * Tests block freely here; nothing in this file runs inside the gateway.
 */
#ifndef SCIMGATE_HARNESS_H
#define SCIMGATE_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>
#include <libpq-fe.h>

/* ---- database ---- */

/* Base URL of the cluster ("postgres://postgres@127.0.0.1:PORT"); starts the
 * cluster through pgcluster.sh when the ctest fixture has not. */
const char *th_pg_base(void);
/* Creates a fresh database cloned from the migrated template; returns its URL
 * (new string). */
char *th_db_create(void);
/* Creates an empty database (no migrations); returns its URL. */
char *th_db_create_empty(void);
/* Blocking connection; aborts on failure. */
PGconn *th_db_connect(const char *url);
/* Runs sql with text params (the list ends at the first NULL, so no parameter
 * can be SQL NULL); aborts on error. Returns
 * the result (caller PQclears). */
PGresult *th_sql(PGconn *db, const char *sql, ...);
/* First column of the first row as a number (-1 if no row). */
long long th_sql_int(PGconn *db, const char *sql, ...);

/* ---- fixtures ---- */

struct th_org {
    char id[64];       /* org_... */
    char token[128];   /* a SCIM token with every scope */
    char token_id[64];
};
/* Inserts an organization and a SCIM token straight into the database. */
void th_org_create(PGconn *db, const char *name, struct th_org *out);
/* Inserts another token for org with the given scopes text (NULL = all). */
void th_token_create(PGconn *db, const char *org_id, const char *scopes, char *token_out,
                     char *id_out);
/* Inserts an admin key; returns it (new string). */
char *th_admin_key_create(PGconn *db);

/* ---- scimgate processes ---- */

struct th_server {
    pid_t pid;
    int port;
    char url[64];        /* http://127.0.0.1:PORT */
    char log_path[512];  /* its stderr */
    bool https;
};

/* Starts `scimgate <command> [args]` with DATABASE_URL=db_url, listening on
 * 127.0.0.1:0, plus extra environment entries ("K=V", NULL-terminated, may be
 * NULL), and waits for its READY notification. command is "serve" usually. */
struct th_server *th_server_start(const char *db_url, const char *const *env,
                                  const char *const *args);
/* SIGTERM, wait up to 15 s, free. Returns the exit status (0 on a clean exit;
 * -1 if it had to be killed). A leak report under ASan makes it non-zero. */
int th_server_stop(struct th_server *s);
/* Waits for the process to exit by itself (up to timeout_ms), frees it and
 * returns its exit status (-1 on timeout, after killing it). */
int th_server_wait(struct th_server *s, int timeout_ms);
/* SIGKILL and free. */
void th_server_kill(struct th_server *s);
/* Prints the last lines of the server's log to stderr (for failures). */
void th_server_dump_log(const struct th_server *s, int lines);
/* Runs `scimgate args...` to completion; returns its exit status, with
 * stdout+stderr in *output (new string) when output is not NULL. */
int th_run_scimgate(const char *const *env, const char *const *args, char **output);

/* ---- HTTP ---- */

struct th_resp {
    int status;
    size_t nheaders;
    char **names, **values;
    char *body;         /* NUL-terminated, de-chunked */
    size_t body_len;
    json_t *json;       /* parsed body, or NULL */
};

/* Sends one request over a new connection (Connection: close) and reads the
 * whole reply. headers: "Name: value" strings, NULL-terminated (may be NULL).
 * body may be NULL. Returns NULL only if the connection failed. */
struct th_resp *th_http(int port, const char *method, const char *path,
                        const char *const *headers, const char *body, size_t body_len);
/* Shortcut with a bearer token and a JSON body (application/scim+json). */
struct th_resp *th_scim(int port, const char *token, const char *method, const char *path,
                        const char *json_body);
/* Sends raw bytes and returns the raw reply (new string), for malformed HTTP. */
char *th_http_raw(int port, const char *bytes, size_t len, int timeout_ms);
/* Sends raw bytes, reads at most max bytes of the answer, then closes the
 * connection abruptly (a client that walks away). */
void th_http_partial(int port, const char *bytes, size_t max);
const char *th_resp_header(const struct th_resp *r, const char *name);
void th_resp_free(struct th_resp *r);

/* ---- HTTPS ---- */

struct th_tls;
/* Opens a verified TLS connection (CA file, expected host name); NULL when
 * the handshake or verification fails (*why, if given, says how). */
struct th_tls *th_tls_connect(int port, const char *ca_file, const char *host, char *why,
                              size_t whylen);
/* One keep-alive request on the connection; NULL if the connection failed. */
struct th_resp *th_tls_request(struct th_tls *t, const char *method, const char *path);
/* SHA-256 of the peer certificate as hex (65 bytes). */
void th_tls_peer_fingerprint(struct th_tls *t, char *out);
void th_tls_close(struct th_tls *t);
/* Writes a self-signed certificate and key for localhost/127.0.0.1 to
 * dir/name.crt and dir/name.key. */
void th_make_cert(const char *dir, const char *name);

/* Formats into a static rotating buffer (handy for paths). */
const char *th_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
