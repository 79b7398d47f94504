/*
 * doctor.c - `scimgate doctor`: one blocking pass over the settings, the
 * database, the public URL, the TLS files and the webhook endpoints, each
 * result printed as one line that says what is wrong and what to do.
 *
 * The order follows dependency: settings first (nothing else can be read
 * without them), then the database and what lives in it, then the things an
 * identity provider or a webhook receiver sees. A check that cannot run
 * because an earlier one failed is skipped, and the summary says so.
 */
#include "doctor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>
#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "migrate.h"
#include "util.h"

#define DB_CONNECT_TIMEOUT_S "5"       /* unless DATABASE_URL sets connect_timeout */
#define PROBE_TIMEOUT_MAX_MS 5000      /* cap of one endpoint's connect or handshake */
#define EXPIRY_WARN_DAYS     14        /* certificates closer to expiry than this warn */
#define MAX_PEM_BYTES        (1 << 20) /* larger "PEM files" are not read */

enum verdict {
    V_OK,   /* nothing to do */
    V_WARN, /* works, but deserves a look */
    V_FAIL, /* broken until fixed */
};

struct doctor {
    struct config cfg;
    PGconn *db;          /* NULL when the database could not be reached */
    bool schema;         /* the scimgate tables exist, so their contents can be checked */
    SSL_CTX *tls;        /* client context for endpoint probes, made on first use */
    int counts[3];       /* lines printed, per verdict */
    const char *skipped; /* which checks an earlier failure left out, or NULL */
};

static void report(struct doctor *d, enum verdict v, const char *what, const char *fmt,
                   ...) PRINTF_LIKE(4, 5);

static void report(struct doctor *d, enum verdict v, const char *what, const char *fmt,
                   ...)
{
    static const char *const words[] = {"ok", "warn", "FAIL"};
    va_list ap;
    va_start(ap, fmt);
    printf("%-4s  %-15s  ", words[v], what);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    fflush(stdout);
    d->counts[v]++;
}

/* Copies the first line of msg into buf, tabs as spaces, without libpq's
 * "FATAL:  " severity prefix. */
static void first_line(const char *msg, char *buf, size_t len)
{
    const char *fatal = strstr(msg, "FATAL:  ");
    if (fatal)
        msg = fatal + 8;
    size_t n = strcspn(msg, "\n");
    if (n >= len)
        n = len - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = msg[i] == '\t' ? ' ' : msg[i];
    buf[n] = '\0';
}

static bool is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    size_t n = strlen(host);
    return util_streq_ci(host, "localhost") ||
           (n > 10 && util_streq_ci(host + n - 10, ".localhost"));
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* "host:port", with brackets around an IPv6 address. */
static void host_port(const char *host, const char *port, char *buf, size_t len)
{
    bool v6 = strchr(host, ':') != NULL;
    snprintf(buf, len, "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* ---- configuration ---- */

/* Loads the settings exactly as `serve` does. config_load explains a bad
 * setting in one line on stderr; that line is caught so that it can be
 * reported as the check's result. */
static enum config_parse_result load_config(struct doctor *d, int argc, char **argv,
                                            char *why, size_t len)
{
    why[0] = '\0';
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = tmp ? dup(STDERR_FILENO) : -1;
    if (saved >= 0)
        dup2(fileno(tmp), STDERR_FILENO);
    enum config_parse_result r = config_load(&d->cfg, "doctor", argc, argv, 2);
    if (saved >= 0) {
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        rewind(tmp);
        char raw[512];
        size_t n = fread(raw, 1, sizeof raw - 1, tmp);
        raw[n] = '\0';
        const char *msg = strncmp(raw, "scimgate: ", 10) == 0 ? raw + 10 : raw;
        first_line(msg, why, len);
    }
    if (tmp)
        fclose(tmp);
    if (!why[0])
        snprintf(why, len, "a setting is invalid");
    return r;
}

/* ---- database ---- */

/* What a failed connection attempt aimed at, for the messages. */
struct pg_target {
    const char *msg;  /* libpq's error text */
    const char *host; /* host name, address or socket directory */
    const char *db;   /* database name */
    const char *user; /* user name */
    char where[300];  /* "host:port", or the socket directory and port */
};

/* Failures before PostgreSQL could answer: no listener, no socket, unknown
 * host, no answer. */
static bool explain_network(const struct pg_target *t, char *buf, size_t len)
{
    if (strstr(t->msg, "Connection refused"))
        snprintf(buf, len,
                 "nothing listens at %s; is PostgreSQL running? Start it, or correct the "
                 "host and port in DATABASE_URL",
                 t->where);
    else if (t->host[0] == '/' && strstr(t->msg, "No such file or directory"))
        snprintf(
            buf, len,
            "no PostgreSQL socket in %s; is PostgreSQL running on this machine? Start "
            "it, or set DATABASE_URL to its host and port",
            t->where);
    else if (strstr(t->msg, "could not translate host name"))
        snprintf(
            buf, len,
            "the host name \"%s\" does not resolve; correct the host in DATABASE_URL "
            "(under docker compose it is the database service's name)",
            t->host);
    else if (strstr(t->msg, "timeout expired"))
        snprintf(buf, len,
                 "%s did not answer in time; the host may be down, or a firewall drops "
                 "the connection",
                 t->where);
    else
        return false;
    return true;
}

/* Refusals by PostgreSQL itself: authentication, unknown database or user,
 * no free slot, not ready. */
static bool explain_refusal(const struct pg_target *t, char *buf, size_t len)
{
    const char *m = t->msg;
    if (strstr(m, "password authentication failed"))
        snprintf(
            buf, len,
            "PostgreSQL at %s rejected the password of user \"%s\"; correct the user "
            "or password in DATABASE_URL",
            t->where, t->user);
    else if (strstr(m, "no password supplied"))
        snprintf(buf, len,
                 "PostgreSQL at %s wants a password for user \"%s\" and DATABASE_URL has "
                 "none; add it (postgres://user:password@host/db) or use ~/.pgpass",
                 t->where, t->user);
    else if (strstr(m, "no pg_hba.conf entry"))
        snprintf(buf, len,
                 "PostgreSQL at %s does not accept this client (no pg_hba.conf line "
                 "matches it); allow this host, user and database there and reload it",
                 t->where);
    else if (strstr(m, "database \"") && strstr(m, "does not exist"))
        snprintf(buf, len,
                 "the database \"%s\" does not exist at %s; create it (CREATE DATABASE) "
                 "and run `scimgate migrate`",
                 t->db, t->where);
    else if (strstr(m, "role \"") && strstr(m, "does not exist"))
        snprintf(buf, len,
                 "the user \"%s\" does not exist at %s; create it (CREATE ROLE ... LOGIN "
                 "PASSWORD '...') or correct DATABASE_URL",
                 t->user, t->where);
    else if (strstr(m, "too many clients") || strstr(m, "connection slots"))
        snprintf(
            buf, len,
            "PostgreSQL at %s has no free connection slots; raise max_connections or "
            "lower SCIMGATE_DB_POOL_SIZE",
            t->where);
    else if (strstr(m, "starting up") || strstr(m, "shutting down") ||
             strstr(m, "recovery mode"))
        snprintf(
            buf, len,
            "PostgreSQL at %s is starting up or shutting down; wait a moment and run "
            "doctor again",
            t->where);
    else
        return false;
    return true;
}

/* libpq's reason for a failed connection, in an operator's words. */
static void explain_connect_failure(PGconn *c, char *buf, size_t len)
{
    struct pg_target t = {
        .msg = PQerrorMessage(c), .host = PQhost(c), .db = PQdb(c), .user = PQuser(c)};
    const char *port = PQport(c);
    if (!t.host || !*t.host)
        t.host = "localhost";
    if (!port || !*port)
        port = "5432";
    t.db = t.db ? t.db : "?";
    t.user = t.user ? t.user : "?";
    if (t.host[0] == '/')
        snprintf(t.where, sizeof t.where, "the socket directory %s (port %s)", t.host,
                 port);
    else
        host_port(t.host, port, t.where, sizeof t.where);
    if (explain_network(&t, buf, len) || explain_refusal(&t, buf, len))
        return;
    char line[300];
    first_line(t.msg, line, sizeof line);
    snprintf(buf, len, "cannot connect to %s: %s", t.where, line);
}

static bool connect_database(struct doctor *d)
{
    const char *url = d->cfg.database_url ? d->cfg.database_url : "";
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        char line[256];
        first_line(perr ? perr : "unreadable", line, sizeof line);
        report(d, V_FAIL, "database",
               "DATABASE_URL cannot be read (%s); write it as "
               "postgres://user:password@host:5432/dbname",
               line);
        PQfreemem(perr);
        return false;
    }
    PQconninfoFree(opts);
    /* dbname comes last so that DATABASE_URL may override the other two. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const values[] = {DB_CONNECT_TIMEOUT_S, "scimgate doctor", url, NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        char why[1024];
        explain_connect_failure(c, why, sizeof why);
        report(d, V_FAIL, "database", "%s", why);
        PQfinish(c);
        return false;
    }
    PQclear(PQexec(c, "SET statement_timeout = 5000"));
    d->db = c;
    char where[300];
    const char *host = PQhost(c);
    if (host && host[0] == '/')
        snprintf(where, sizeof where, "the socket in %s", host);
    else
        host_port(host && *host ? host : "localhost", PQport(c), where, sizeof where);
    report(d, V_OK, "database", "connected to %s, database \"%s\" as user \"%s\"", where,
           PQdb(c), PQuser(c));
    return true;
}

/* Runs sql with text parameters. NULL on error, with its first line in err. */
static PGresult *query(struct doctor *d, const char *sql, int n,
                       const char *const *params, char *err, size_t len)
{
    PGresult *r = PQexecParams(d->db, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    first_line(PQresultErrorMessage(r), err, len);
    PQclear(r);
    return NULL;
}

static void check_server_version(struct doctor *d)
{
    int v = PQserverVersion(d->db);
    if (v < 140000)
        report(d, V_FAIL, "server version",
               "PostgreSQL %d.%d is too old: scimgate needs 14 "
               "or newer; upgrade the server",
               v / 10000, v % 10000 / 100);
    else
        report(d, V_OK, "server version", "PostgreSQL %d.%d", v / 10000, v % 10000);
}

/* The checksum recorded for name in rows (name, checksum), or NULL. */
static const char *recorded_checksum(PGresult *rows, const char *name)
{
    for (int i = 0; i < PQntuples(rows); i++)
        if (strcmp(PQgetvalue(rows, i, 0), name) == 0)
            return PQgetvalue(rows, i, 1);
    return NULL;
}

static bool compiled_in(const char *name)
{
    for (const struct migration *m = migrations_embedded; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return true;
    return false;
}

/* Explains, from the recorded rows, why the migrations are (not) current. */
static void describe_migrations(struct doctor *d, PGresult *rows, bool current)
{
    int pending = 0, unknown = 0;
    const char *next = NULL, *changed = NULL, *newest_unknown = NULL;
    for (const struct migration *m = migrations_embedded; m->name; m++) {
        char sum[65];
        util_sha256_hex(m->sql, m->len, sum);
        const char *have = recorded_checksum(rows, m->name);
        if (!have && !pending++)
            next = m->name;
        else if (have && strcmp(have, sum) != 0 && !changed)
            changed = m->name;
    }
    for (int i = 0; i < PQntuples(rows); i++)
        if (!compiled_in(PQgetvalue(rows, i, 0)) && ++unknown)
            newest_unknown = PQgetvalue(rows, i, 0);
    if (changed)
        report(
            d, V_FAIL, "migrations",
            "%s was applied with other contents than this binary "
            "carries: the database and the binary come from different builds; deploy the "
            "matching release (an applied migration is never edited)",
            changed);
    else if (pending)
        report(d, V_FAIL, "migrations",
               "%d of %d migrations are not applied (next: %s); run "
               "`scimgate migrate` with the same DATABASE_URL",
               pending, migrations_embedded_count, next);
    else if (!current)
        report(d, V_FAIL, "migrations", "not current; run `scimgate migrate`");
    else
        report(d, V_OK, "migrations", "all %d applied (latest %s)",
               migrations_embedded_count, migrate_latest_name());
    if (unknown)
        report(d, V_WARN, "migrations",
               "the database also has %d migration(s) this binary "
               "does not know (latest %s): a newer scimgate migrated it; upgrade this "
               "binary",
               unknown, newest_unknown);
}

static void check_migrations(struct doctor *d)
{
    char err[256];
    PGresult *r = query(d,
                        "SELECT to_regclass('schema_migrations') IS NOT NULL,"
                        " to_regclass('organizations') IS NOT NULL",
                        0, NULL, err, sizeof err);
    if (!r) {
        report(d, V_FAIL, "migrations", "cannot read the schema: %s", err);
        return;
    }
    bool recorded = PQgetvalue(r, 0, 0)[0] == 't';
    d->schema = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    if (!recorded) {
        report(d, V_FAIL, "migrations",
               "this database has no scimgate tables yet; run "
               "`scimgate migrate` with the same DATABASE_URL");
        return;
    }
    char *names, *sums;
    migrate_expected_params(&names, &sums);
    const char *const p[] = {names, sums};
    r = query(d, migrate_current_sql, 2, p, err, sizeof err);
    bool current = r && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    free(names);
    free(sums);
    PGresult *rows =
        query(d, "SELECT name, checksum FROM schema_migrations ORDER BY name", 0, NULL,
              err, sizeof err);
    if (!rows) {
        report(d, V_FAIL, "migrations", "cannot read schema_migrations: %s", err);
        return;
    }
    describe_migrations(d, rows, current);
    PQclear(rows);
}

static void check_admin_keys(struct doctor *d)
{
    char hash[65] = "", err[256];
    if (d->cfg.admin_key)
        util_sha256_hex(d->cfg.admin_key, strlen(d->cfg.admin_key), hash);
    const char *const p[] = {hash};
    PGresult *r = query(d,
                        "SELECT count(*), coalesce(bool_or(key_hash = $1), false)"
                        " FROM admin_keys WHERE revoked_at IS NULL",
                        1, p, err, sizeof err);
    if (!r) {
        report(d, V_FAIL, "admin keys", "cannot read admin_keys: %s", err);
        return;
    }
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    bool configured_stored = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    if (n == 0 && d->cfg.admin_key)
        report(d, V_WARN, "admin keys",
               "none stored yet; `scimgate serve` stores "
               "SCIMGATE_ADMIN_KEY when it starts, and the admin API works from then on");
    else if (n == 0)
        report(d, V_WARN, "admin keys",
               "none yet; the first `scimgate serve` generates one "
               "and prints it once, or set SCIMGATE_ADMIN_KEY=sk_... before starting it");
    else if (d->cfg.admin_key && !configured_stored)
        report(d, V_OK, "admin keys",
               "%ld active; SCIMGATE_ADMIN_KEY is not among them yet "
               "(`scimgate serve` stores it when it starts)",
               n);
    else
        report(d, V_OK, "admin keys", "%ld active%s", n,
               d->cfg.admin_key ? ", SCIMGATE_ADMIN_KEY among them" : "");
}

static void check_tenants(struct doctor *d)
{
    static const char sql[] =
        "WITH live AS (SELECT t.org_id, t.expires_at FROM scim_tokens t"
        "  JOIN organizations o ON o.id = t.org_id AND o.deleted_at IS NULL"
        "  WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()))"
        " SELECT (SELECT count(*) FROM organizations WHERE deleted_at IS NULL),"
        "  (SELECT count(*) FROM live),"
        "  (SELECT count(*) FROM live WHERE expires_at < now() + make_interval(days => "
        "$1)),"
        "  (SELECT count(*) FROM organizations o WHERE o.deleted_at IS NULL"
        "   AND NOT EXISTS (SELECT 1 FROM live WHERE live.org_id = o.id))";
    char days[16], err[256];
    snprintf(days, sizeof days, "%d", EXPIRY_WARN_DAYS);
    const char *const p[] = {days};
    PGresult *r = query(d, sql, 1, p, err, sizeof err);
    if (!r) {
        report(d, V_FAIL, "organizations", "cannot count organizations and tokens: %s",
               err);
        return;
    }
    long orgs = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    long tokens = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    long expiring = strtol(PQgetvalue(r, 0, 2), NULL, 10);
    long bare = strtol(PQgetvalue(r, 0, 3), NULL, 10);
    PQclear(r);
    if (orgs == 0)
        report(d, V_WARN, "organizations",
               "none yet; create one with `scimgate org create "
               "--name NAME` (or POST /v1/organizations)");
    else if (tokens == 0)
        report(d, V_WARN, "organizations",
               "%ld, but no active SCIM token: no identity provider "
               "can connect; issue one with `scimgate token issue ORG_ID --name NAME`",
               orgs);
    else if (expiring)
        report(d, V_WARN, "organizations",
               "%ld, with %ld active SCIM token(s); %ld expire within "
               "%d days: issue replacements and update the identity providers",
               orgs, tokens, expiring, EXPIRY_WARN_DAYS);
    else
        report(d, V_OK, "organizations", "%ld, with %ld active SCIM token(s)%s", orgs,
               tokens, bare ? "; some organizations have none yet" : "");
}

/* ---- public URL ---- */

static bool ends_with_ci(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

/* The host of u without IPv6 brackets, into buf. */
static void uri_host(const struct evhttp_uri *u, char *buf, size_t len)
{
    const char *h = evhttp_uri_get_host(u);
    h = h ? h : "";
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
        snprintf(buf, len, "%.*s", (int)(n - 2), h + 1);
    else
        snprintf(buf, len, "%s", h);
}

static void check_public_url_shape(struct doctor *d, const struct evhttp_uri *u,
                                   const char *host)
{
    const char *url = d->cfg.public_url, *path = evhttp_uri_get_path(u);
    size_t plen = path ? strlen(path) : 0;
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    bool https = util_streq_ci(evhttp_uri_get_scheme(u), "https");
    bool quiet = true;
    if (path &&
        (ends_with_ci(path, plen, "/scim/v2") || ends_with_ci(path, plen, "/scim/v1") ||
         ends_with_ci(path, plen, "/scim"))) {
        report(d, V_WARN, "public URL",
               "%s ends in the SCIM path, which scimgate appends "
               "itself (identity providers would be given %s/scim/v2); drop the suffix",
               url, url);
        quiet = false;
    }
    if (evhttp_uri_get_query(u) || evhttp_uri_get_fragment(u)) {
        report(d, V_WARN, "public URL",
               "%s has a query or fragment; use a plain base URL", url);
        quiet = false;
    }
    if (!https && !is_loopback(host)) {
        report(d, V_WARN, "public URL",
               "%s uses plain http on a host other machines reach: "
               "Okta and Entra ID send bearer tokens over https only; serve TLS "
               "(SCIMGATE_TLS_CERT/KEY) or put an https proxy in front, and set the "
               "https URL",
               url);
        quiet = false;
    }
    if (quiet)
        report(d, V_OK, "public URL", "%s (identity providers use %s/scim/v2)", url, url);
}

static void check_public_url(struct doctor *d)
{
    const char *url = d->cfg.public_url;
    struct evhttp_uri *u = evhttp_uri_parse(url);
    char host[256] = "";
    if (u)
        uri_host(u, host, sizeof host);
    if (!u || !host[0]) {
        report(d, V_FAIL, "public URL",
               "\"%s\" is not a URL with a host; set "
               "SCIMGATE_PUBLIC_URL to the address identity providers use, such as "
               "https://scim.example.com",
               url);
    } else if (d->cfg.public_url_derived && !is_loopback(d->cfg.listen_host)) {
        report(
            d, V_WARN, "public URL",
            "SCIMGATE_PUBLIC_URL is not set, so identity providers "
            "are given %s (made from SCIMGATE_LISTEN); set it to the https address they "
            "reach",
            url);
    } else if (d->cfg.public_url_derived) {
        report(d, V_OK, "public URL",
               "not set; %s, made from SCIMGATE_LISTEN, suits this "
               "machine only: set SCIMGATE_PUBLIC_URL before connecting a cloud identity "
               "provider",
               url);
    } else {
        check_public_url_shape(d, u, host);
    }
    if (u)
        evhttp_uri_free(u);
}

/* ---- certificates ---- */

static void asn1_date(const ASN1_TIME *t, char *buf, size_t len)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm) || !strftime(buf, len, "%Y-%m-%d", &tm))
        snprintf(buf, len, "an unreadable date");
}

/* Whole days from now until t (negative once it has passed). */
static int days_until(const ASN1_TIME *t)
{
    int days = 0, secs = 0;
    if (!ASN1_TIME_diff(&days, &secs, NULL, t))
        return -1;
    return days < 0 || secs < 0 ? (days < 0 ? days : -1) : days;
}

/* A certificate verification error in words; host is the name it was checked
 * against (may be NULL). */
static void cert_problem(long err, const char *host, char *buf, size_t len)
{
    switch (err) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        snprintf(buf, len, "the certificate is self-signed, so no client trusts it");
        break;
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        snprintf(buf, len,
                 "the chain ends in a private certificate authority that is not "
                 "trusted here");
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        snprintf(buf, len,
                 "its issuer is not trusted here, or the intermediate certificates "
                 "are missing (send the full chain)");
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        snprintf(buf, len, "the certificate has expired");
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        snprintf(buf, len, "the certificate is not valid yet (check both clocks)");
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        snprintf(buf, len, "the certificate is not issued for %s",
                 host ? host : "this host");
        break;
    case X509_V_ERR_INVALID_PURPOSE:
        snprintf(buf, len, "the certificate is not meant for TLS servers");
        break;
    case X509_V_ERR_CERT_REVOKED:
        snprintf(buf, len, "the certificate has been revoked");
        break;
    default:
        snprintf(buf, len, "%s", X509_verify_cert_error_string(err));
    }
}

/* Reads at most MAX_PEM_BYTES of path into a memory BIO; NULL with why set. */
static BIO *read_pem(const char *path, bool *encrypted, char *why, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, len, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = xmalloc(MAX_PEM_BYTES + 1);
    size_t n = fread(buf, 1, MAX_PEM_BYTES, f);
    fclose(f);
    buf[n] = '\0';
    if (encrypted)
        *encrypted = strstr(buf, "ENCRYPTED") != NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        util_fatal("no memory");
    BIO_write(bio, buf, (int)n);
    free(buf);
    return bio;
}

static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return -1;
}

/* The leaf certificate of path (new), its chain in *chain (new). */
static X509 *load_cert(const char *path, STACK_OF(X509) **chain, char *why, size_t len)
{
    BIO *bio = read_pem(path, NULL, why, len);
    if (!bio)
        return NULL;
    X509 *leaf = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
    *chain = sk_X509_new_null();
    X509 *more;
    while (leaf && (more = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)))
        sk_X509_push(*chain, more);
    ERR_clear_error();
    BIO_free(bio);
    if (!leaf)
        snprintf(why, len, "%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                 path);
    return leaf;
}

static EVP_PKEY *load_key(const char *path, char *why, size_t len)
{
    bool encrypted = false;
    BIO *bio = read_pem(path, &encrypted, why, len);
    if (!bio)
        return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    ERR_clear_error();
    BIO_free(bio);
    if (!key && encrypted)
        snprintf(
            why, len,
            "the key in %s is protected by a passphrase, which scimgate cannot "
            "enter; store it without one (openssl pkey -in KEY -out NEW) and restrict "
            "the file's permissions instead",
            path);
    else if (!key)
        snprintf(why, len, "%s holds no PEM private key", path);
    return key;
}

/* Checks cert against the system's trusted CAs and, when the public URL is
 * https, against its host name. */
static void check_tls_trust(struct doctor *d, X509 *cert, STACK_OF(X509) *chain)
{
    struct evhttp_uri *u = evhttp_uri_parse(d->cfg.public_url);
    char host[256] = "";
    if (u && util_streq_ci(evhttp_uri_get_scheme(u), "https"))
        uri_host(u, host, sizeof host);
    if (u)
        evhttp_uri_free(u);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    long result = X509_V_ERR_UNSPECIFIED;
    if (store && ctx && X509_STORE_set_default_paths(store) == 1 &&
        X509_STORE_CTX_init(ctx, store, cert, chain) == 1) {
        X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
        if (host[0] && is_ip_literal(host))
            X509_VERIFY_PARAM_set1_ip_asc(param, host);
        else if (host[0])
            X509_VERIFY_PARAM_set1_host(param, host, 0);
        result = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    char why[256];
    cert_problem(result, host[0] ? host : NULL, why, sizeof why);
    if (result == X509_V_OK)
        report(d, V_OK, "TLS trust", "the chain verifies against the system's CAs%s%s",
               host[0] ? " for " : "", host);
    else
        report(
            d, V_WARN, "TLS trust",
            "%s; identity providers connecting directly will refuse "
            "it: use a certificate from a public CA for the host of SCIMGATE_PUBLIC_URL",
            why);
}

/* Reports the leaf's validity window; false when it is not valid now. */
static bool check_tls_dates(struct doctor *d, X509 *cert)
{
    char cn[256] = "", until[32], from[32];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                  sizeof cn) < 0)
        snprintf(cn, sizeof cn, "(no common name)");
    asn1_date(X509_get0_notAfter(cert), until, sizeof until);
    asn1_date(X509_get0_notBefore(cert), from, sizeof from);
    int left = days_until(X509_get0_notAfter(cert));
    const char *file = d->cfg.tls_cert;
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        report(d, V_FAIL, "TLS certificate",
               "%s (%s) is not valid before %s; check this "
               "machine's clock or the certificate",
               file, cn, from);
        return false;
    }
    if (left < 0) {
        report(d, V_FAIL, "TLS certificate",
               "%s (%s) expired on %s; renew it and restart "
               "scimgate",
               file, cn, until);
        return false;
    }
    report(d, left < EXPIRY_WARN_DAYS ? V_WARN : V_OK, "TLS certificate",
           "%s (%s) is valid until %s, %d day(s) from now%s", file, cn, until, left,
           left < EXPIRY_WARN_DAYS ? "; renew it soon" : "");
    return true;
}

static void check_tls(struct doctor *d)
{
    if (!d->cfg.tls_cert) {
        report(d, V_OK, "TLS",
               "not configured: scimgate serves plain HTTP (fine behind an "
               "https proxy)");
        return;
    }
    char why[512];
    STACK_OF(X509) *chain = NULL;
    X509 *cert = load_cert(d->cfg.tls_cert, &chain, why, sizeof why);
    EVP_PKEY *key = NULL;
    bool current = false;
    if (!cert)
        report(d, V_FAIL, "TLS certificate", "%s", why);
    else
        current = check_tls_dates(d, cert);
    key = load_key(d->cfg.tls_key, why, sizeof why);
    if (!key)
        report(d, V_FAIL, "TLS key", "%s", why);
    else if (cert && X509_check_private_key(cert, key) != 1)
        report(d, V_FAIL, "TLS key",
               "the key in %s does not belong to the certificate in %s; "
               "install the key the certificate was issued for",
               d->cfg.tls_key, d->cfg.tls_cert);
    else if (cert)
        report(d, V_OK, "TLS key", "%s matches the certificate", d->cfg.tls_key);
    else
        report(d, V_OK, "TLS key", "%s holds a private key (not matched: no certificate)",
               d->cfg.tls_key);
    ERR_clear_error();
    if (cert && current)
        check_tls_trust(d, cert, chain);
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
}

/* ---- webhook endpoints ---- */

struct probe {
    bool tls;
    char host[256]; /* without IPv6 brackets */
    char port[16];
    char where[300]; /* host:port for messages */
    int timeout_ms;
};

static bool parse_probe(const char *url, struct probe *p)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    if (!u)
        return false;
    const char *scheme = evhttp_uri_get_scheme(u);
    uri_host(u, p->host, sizeof p->host);
    bool ok = scheme && p->host[0] &&
              (util_streq_ci(scheme, "http") || util_streq_ci(scheme, "https"));
    if (ok) {
        p->tls = util_streq_ci(scheme, "https");
        int port = evhttp_uri_get_port(u);
        snprintf(p->port, sizeof p->port, "%d", port > 0 ? port : p->tls ? 443 : 80);
        host_port(p->host, p->port, p->where, sizeof p->where);
    }
    evhttp_uri_free(u);
    return ok;
}

/* Connects fd to addr within timeout_ms; 0 or the errno of the failure. */
static int connect_within(int fd, const struct sockaddr *addr, socklen_t alen,
                          int timeout_ms)
{
    if (connect(fd, addr, alen) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return errno;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int n = poll(&pfd, 1, timeout_ms);
    if (n == 0)
        return ETIMEDOUT;
    if (n < 0)
        return errno;
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        return errno;
    return err;
}

static void connect_problem(const struct probe *p, int err, char *buf, size_t len)
{
    if (err == ECONNREFUSED)
        snprintf(buf, len, "nothing listens at %s (connection refused)", p->where);
    else if (err == ETIMEDOUT)
        snprintf(buf, len,
                 "no answer from %s within %d ms (the host is down, or a firewall "
                 "drops the connection)",
                 p->where, p->timeout_ms);
    else if (err == EHOSTUNREACH || err == ENETUNREACH)
        snprintf(buf, len, "%s cannot be reached from this machine (%s)", p->where,
                 strerror(err));
    else
        snprintf(buf, len, "cannot connect to %s: %s", p->where, strerror(err));
}

/* A connected blocking socket with send/receive timeouts, or -1 with why set. */
static int probe_connect(const struct probe *p, char *why, size_t len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM},
                    *res = NULL;
    int rc = getaddrinfo(p->host, p->port, &hints, &res);
    if (rc != 0) {
        snprintf(why, len, "the host name %s does not resolve here (%s)", p->host,
                 gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        err = connect_within(fd, ai->ai_addr, ai->ai_addrlen, p->timeout_ms);
        if (err != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        connect_problem(p, err, why, len);
        return -1;
    }
    struct timeval tv = {p->timeout_ms / 1000, (p->timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

static SSL_CTX *probe_tls_context(struct doctor *d)
{
    if (d->tls)
        return d->tls;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_default_verify_paths(ctx) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    d->tls = ctx;
    return ctx;
}

/* Why a handshake that returned rc failed, in words. */
static void handshake_problem(SSL *ssl, int rc, const struct probe *p, char *buf,
                              size_t len)
{
    long verify = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    int ssl_err = SSL_get_error(ssl, rc);
    if (verify != X509_V_OK) {
        char words[256];
        cert_problem(verify, p->host, words, sizeof words);
        snprintf(buf, len, "TLS certificate rejected: %s", words);
    } else if (e && ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER) {
        snprintf(buf, len, "%s does not speak TLS (is the URL meant to be http://?)",
                 p->where);
    } else if (e) {
        char msg[200];
        ERR_error_string_n(e, msg, sizeof msg);
        snprintf(buf, len, "TLS handshake with %s failed: %s", p->where, msg);
    } else if (ssl_err == SSL_ERROR_SYSCALL &&
               (errno == EAGAIN || errno == EWOULDBLOCK)) {
        snprintf(buf, len,
                 "%s accepted the connection but did not complete a TLS handshake "
                 "within %d ms",
                 p->where, p->timeout_ms);
    } else {
        snprintf(buf, len,
                 "%s closed the connection during the TLS handshake (is it "
                 "https on this port?)",
                 p->where);
    }
    ERR_clear_error();
}

/* Runs a verified TLS handshake on fd. Returns the days the server's
 * certificate has left, or -1 with why set. */
static int probe_tls(struct doctor *d, int fd, const struct probe *p, char *why,
                     size_t len)
{
    SSL_CTX *ctx = probe_tls_context(d);
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    if (!ssl) {
        snprintf(why, len, "cannot set up TLS on this machine");
        return -1;
    }
    if (is_ip_literal(p->host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p->host);
    } else {
        SSL_set_tlsext_host_name(ssl, p->host);
        SSL_set1_host(ssl, p->host);
    }
    SSL_set_fd(ssl, fd);
    ERR_clear_error();
    int rc = SSL_connect(ssl), left = -1;
    if (rc != 1) {
        handshake_problem(ssl, rc, p, why, len);
    } else {
        X509 *peer = SSL_get1_peer_certificate(ssl);
        left = peer ? days_until(X509_get0_notAfter(peer)) : 0;
        X509_free(peer);
        if (left < 0)
            left = 0;
    }
    SSL_free(ssl);
    return left;
}

/* The URL as printed: everything before a query, which may carry a secret. */
static void printable_url(const char *url, char *buf, size_t len)
{
    size_t n = strcspn(url, "?#");
    snprintf(buf, len, "%.*s%s", (int)n, url, url[n] ? "?..." : "");
}

static void check_endpoint(struct doctor *d, const char *id, const char *url)
{
    char shown[512], why[1024];
    printable_url(url, shown, sizeof shown);
    struct probe p = {.timeout_ms = d->cfg.webhook_timeout_ms};
    if (p.timeout_ms > PROBE_TIMEOUT_MAX_MS)
        p.timeout_ms = PROBE_TIMEOUT_MAX_MS;
    if (!parse_probe(url, &p)) {
        report(d, V_FAIL, "webhook",
               "%s %s is not an http(s) URL; delete the endpoint and "
               "create it again with a valid URL",
               id, shown);
        return;
    }
    int fd = probe_connect(&p, why, sizeof why);
    if (fd < 0) {
        report(d, V_FAIL, "webhook",
               "%s %s: %s; deliveries to it fail and are retried until "
               "it answers",
               id, shown, why);
        return;
    }
    if (!p.tls) {
        close(fd);
        report(d, V_OK, "webhook",
               "%s %s: %s accepts connections (plain http: the payloads "
               "are signed, not encrypted)",
               id, shown, p.where);
        return;
    }
    int left = probe_tls(d, fd, &p, why, sizeof why);
    close(fd);
    if (left < 0)
        report(d, V_FAIL, "webhook",
               "%s %s: %s; deliveries to it fail until that is fixed", id, shown, why);
    else
        report(d, left < EXPIRY_WARN_DAYS ? V_WARN : V_OK, "webhook",
               "%s %s: reachable, TLS certificate valid for %d more day(s)", id, shown,
               left);
}

static void check_webhooks(struct doctor *d)
{
    char err[256];
    PGresult *r = query(d,
                        "SELECT id, url FROM webhook_endpoints WHERE deleted_at IS NULL"
                        " ORDER BY created_at, id",
                        0, NULL, err, sizeof err);
    if (!r) {
        report(d, V_FAIL, "webhook", "cannot read webhook_endpoints: %s", err);
        return;
    }
    if (PQntuples(r) == 0)
        report(d, V_WARN, "webhook",
               "no endpoints: changes are stored but no backend hears "
               "of them; add one with POST /v1/webhook-endpoints");
    for (int i = 0; i < PQntuples(r); i++)
        check_endpoint(d, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
}

/* ---- the command ---- */

static void check_database(struct doctor *d)
{
    if (!connect_database(d)) {
        d->skipped = "the checks that need the database";
        return;
    }
    check_server_version(d);
    check_migrations(d);
    if (!d->schema) {
        d->skipped = "the checks of the tables' contents";
        return;
    }
    check_admin_keys(d);
    check_tenants(d);
}

static void summary(const struct doctor *d)
{
    printf("\ndoctor: %d ok, %d warning(s), %d failure(s)", d->counts[V_OK],
           d->counts[V_WARN], d->counts[V_FAIL]);
    if (d->skipped)
        printf(" (%s were skipped)", d->skipped);
    putchar('\n');
}

int doctor_main(int argc, char **argv)
{
    struct doctor d = {0};
    char why[512];
    /* A probed server that resets the connection must not end the command. */
    signal(SIGPIPE, SIG_IGN);
    enum config_parse_result r = load_config(&d, argc, argv, why, sizeof why);
    if (r == CONFIG_HELP) {
        config_clear(&d.cfg);
        return 0;
    }
    if (r == CONFIG_ERROR) {
        report(&d, V_FAIL, "configuration",
               "%s; correct it in the environment or the flags", why);
        d.skipped = "the other checks, which need valid settings,";
    } else {
        report(&d, V_OK, "configuration", "settings are valid (listen %s)", d.cfg.listen);
        check_database(&d);
        check_public_url(&d);
        check_tls(&d);
        if (d.db && d.schema)
            check_webhooks(&d);
    }
    summary(&d);
    PQfinish(d.db);
    SSL_CTX_free(d.tls);
    config_clear(&d.cfg);
    return d.counts[V_FAIL] ? 1 : 0;
}
