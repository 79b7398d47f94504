/*
 * harness.c - databases, scimgate child processes and a blocking HTTP client
 * for the integration suites.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "auth.h"
#include "ids.h"
#include "util.h"

/* ---- database ---- */

static char pg_base[128];

const char *th_pg_base(void)
{
    if (pg_base[0])
        return pg_base;
    char path[600];
    snprintf(path, sizeof path, "%s/port", TESTPG_DIR);
    FILE *f = fopen(path, "r");
    if (!f) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "%s start %s %s >&2", PGCLUSTER_SCRIPT, TESTPG_DIR,
                 SCIMGATE_BIN);
        if (system(cmd) != 0)
            util_fatal("cannot start the test PostgreSQL cluster");
        f = fopen(path, "r");
        if (!f)
            util_fatal("no port file at %s", path);
    }
    int port = 0;
    if (fscanf(f, "%d", &port) != 1)
        util_fatal("bad port file %s", path);
    fclose(f);
    snprintf(pg_base, sizeof pg_base, "postgres://postgres@127.0.0.1:%d", port);
    return pg_base;
}

PGconn *th_db_connect(const char *url)
{
    PGconn *db = PQconnectdb(url);
    if (PQstatus(db) != CONNECTION_OK)
        util_fatal("cannot connect to %s: %s", url, PQerrorMessage(db));
    PQsetNoticeProcessor(db, NULL, NULL);
    return db;
}

static PGresult *vsql(PGconn *db, const char *sql, va_list ap)
{
    const char *params[32];
    int n = 0;
    const char *p;
    while ((p = va_arg(ap, const char *)) && n < 32)
        params[n++] = p;
    PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        util_fatal("SQL failed: %s\n%s", sql, PQresultErrorMessage(r));
    return r;
}

PGresult *th_sql(PGconn *db, const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PGresult *r = vsql(db, sql, ap);
    va_end(ap);
    return r;
}

long long th_sql_int(PGconn *db, const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PGresult *r = vsql(db, sql, ap);
    va_end(ap);
    long long v = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

static char *create_db(const char *template)
{
    static int counter;
    char name[64], sql[256], url[256];
    snprintf(name, sizeof name, "t_%d_%d_%u", (int)getpid(), ++counter,
             (unsigned)util_random_below(1000000));
    if (template)
        snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE %s", name, template);
    else
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    snprintf(url, sizeof url, "%s/postgres", th_pg_base());
    PGconn *db = th_db_connect(url);
    PQclear(th_sql(db, sql, NULL));
    PQfinish(db);
    return xasprintf("%s/%s", th_pg_base(), name);
}

char *th_db_create(void)
{
    return create_db("scimgate_template");
}

char *th_db_create_empty(void)
{
    return create_db(NULL);
}

/* ---- fixtures ---- */

void th_token_create(PGconn *db, const char *org_id, const char *scopes, char *token_out,
                     char *id_out)
{
    char display[32], hash[65], id[IDS_MAX];
    auth_new_secret("scim_", token_out, display, hash);
    ids_new("scimt_", id);
    /* th_sql's parameter list ends at the first NULL, so "all scopes" is spelled out. */
    PQclear(th_sql(db,
                   "INSERT INTO scim_tokens (org_id, id, name, prefix, token_hash, scopes)"
                   " VALUES ($1, $2, 'test', $3, $4, CASE WHEN $5 = '*' THEN NULL"
                   " ELSE string_to_array($5, ' ') END)",
                   org_id, id, display, hash, scopes ? scopes : "*", NULL));
    if (id_out)
        strcpy(id_out, id);
}

void th_org_create(PGconn *db, const char *name, struct th_org *out)
{
    ids_new("org_", out->id);
    PQclear(th_sql(db, "INSERT INTO organizations (id, name) VALUES ($1, $2)", out->id, name,
                   NULL));
    th_token_create(db, out->id, NULL, out->token, out->token_id);
}

char *th_admin_key_create(PGconn *db)
{
    char key[96], display[32], hash[65], id[IDS_MAX];
    auth_new_secret("sk_", key, display, hash);
    ids_new("ak_", id);
    PQclear(th_sql(db, "INSERT INTO admin_keys (id, name, prefix, key_hash) VALUES ($1, 'test', $2, $3)",
                   id, display, hash, NULL));
    return xstrdup(key);
}

/* ---- processes ---- */

static int notify_socket(char *path, size_t len)
{
    static int counter;
    snprintf(path, len, "/tmp/scimgate-notify-%d-%d", (int)getpid(), ++counter);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        util_fatal("cannot bind %s: %s", path, strerror(errno));
    return fd;
}

static void exec_child(const char *log_path, const char *db_url, const char *notify,
                       const char *const *env, const char *const *argv)
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    if (db_url)
        setenv("DATABASE_URL", db_url, 1);
    setenv("SCIMGATE_LISTEN", "127.0.0.1:0", 1);
    if (notify)
        setenv("NOTIFY_SOCKET", notify, 1);
    for (const char *const *e = env; e && *e; e++)
        putenv((char *)*e);
    execv(SCIMGATE_BIN, (char *const *)argv);
    _exit(127);
}

static bool wait_ready(struct th_server *s, int fd)
{
    int64_t deadline = util_mono_us() + 30 * 1000000LL;
    while (util_mono_us() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char buf[512];
            ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
            if (n <= 0)
                continue;
            buf[n] = '\0';
            const char *l = strstr(buf, "LISTEN=");
            if (l) {
                const char *colon = strrchr(l, ':');
                s->port = colon ? atoi(colon + 1) : 0;
            }
            if (strstr(buf, "READY=1"))
                return true;
        }
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return false;
        }
    }
    return false;
}

struct th_server *th_server_start(const char *db_url, const char *const *env,
                                  const char *const *args)
{
    static int counter;
    struct th_server *s = xcalloc(1, sizeof *s);
    mkdir(TESTPG_DIR "/../testlogs", 0755);
    snprintf(s->log_path, sizeof s->log_path, "%s/../testlogs/scimgate-%d-%d.log", TESTPG_DIR,
             (int)getpid(), ++counter);
    char notify[108];
    int fd = notify_socket(notify, sizeof notify);
    const char *argv[32] = {"scimgate"};
    int n = 1;
    for (const char *const *a = args; a && *a && n < 31; a++)
        argv[n++] = *a;
    if (n == 1)
        argv[n++] = "serve";
    argv[n] = NULL;
    s->pid = fork();
    if (s->pid == 0)
        exec_child(s->log_path, db_url, notify, env, argv);
    bool ok = wait_ready(s, fd);
    close(fd);
    unlink(notify);
    if (!ok) {
        fprintf(stderr, "scimgate did not become ready; log %s:\n", s->log_path);
        th_server_dump_log(s, 40);
        if (s->pid)
            kill(s->pid, SIGKILL);
        util_fatal("server start failed");
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    return s;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    int64_t deadline = util_mono_us() + (int64_t)timeout_ms * 1000;
    int status;
    while (util_mono_us() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(10000);
    }
    return -1;
}

int th_server_stop(struct th_server *s)
{
    if (!s)
        return 0;
    kill(s->pid, SIGTERM);
    int rc = wait_exit(s->pid, 15000);
    if (rc < 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    if (rc != 0)
        th_server_dump_log(s, 60);
    free(s);
    return rc;
}

int th_server_wait(struct th_server *s, int timeout_ms)
{
    int rc = wait_exit(s->pid, timeout_ms);
    if (rc < 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    if (rc != 0)
        th_server_dump_log(s, 60);
    free(s);
    return rc;
}

void th_server_kill(struct th_server *s)
{
    if (!s)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    free(s);
}

void th_server_dump_log(const struct th_server *s, int lines)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "tail -n %d '%s' >&2", lines, s->log_path);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log)\n");
}

int th_run_scimgate(const char *const *env, const char *const *args, char **output)
{
    char path[] = "/tmp/scimgate-run-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        util_fatal("mkstemp failed");
    close(fd);
    const char *argv[32] = {"scimgate"};
    int n = 1;
    for (const char *const *a = args; a && *a && n < 31; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int out = open(path, O_WRONLY | O_TRUNC);
        dup2(out, 1);
        dup2(out, 2);
        close(out);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execv(SCIMGATE_BIN, (char *const *)argv);
        _exit(127);
    }
    int rc = wait_exit(pid, 60000);
    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (output) {
        FILE *f = fopen(path, "r");
        struct strbuf b = {0};
        char chunk[4096];
        size_t got;
        while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
            strbuf_append(&b, chunk, got);
        if (f)
            fclose(f);
        *output = strbuf_detach(&b);
    }
    unlink(path);
    return rc;
}

/* ---- HTTP ---- */

static int connect_loopback(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static char *read_all(int fd, size_t *len)
{
    struct strbuf b = {0};
    char chunk[16384];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof chunk, 0)) > 0)
        strbuf_append(&b, chunk, (size_t)n);
    *len = b.len;
    return strbuf_detach(&b);
}

char *th_http_raw(int port, const char *bytes, size_t len, int timeout_ms)
{
    int fd = connect_loopback(port, timeout_ms);
    if (fd < 0)
        return NULL;
    write_all(fd, bytes, len);
    size_t n;
    char *out = read_all(fd, &n);
    close(fd);
    return out;
}

void th_http_partial(int port, const char *bytes, size_t max)
{
    int fd = connect_loopback(port, 10000);
    if (fd < 0)
        return;
    write_all(fd, bytes, strlen(bytes));
    char buf[4096];
    size_t got = 0;
    while (got < max) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    struct linger lg = {1, 0}; /* reset, like a client that crashed */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static void dechunk(struct th_resp *r)
{
    struct strbuf out = {0};
    const char *p = r->body, *end = r->body + r->body_len;
    while (p < end) {
        char *eol;
        unsigned long size = strtoul(p, &eol, 16);
        const char *crlf = strstr(p, "\r\n");
        if (!crlf)
            break;
        p = crlf + 2;
        if (size == 0 || p + size > end)
            break;
        strbuf_append(&out, p, size);
        p += size + 2;
    }
    free(r->body);
    r->body_len = out.len;
    r->body = strbuf_detach(&out);
}

static struct th_resp *parse_response(char *raw, size_t len)
{
    char *hdr_end = strstr(raw, "\r\n\r\n");
    if (strncmp(raw, "HTTP/1.", 7) != 0 || !hdr_end) {
        free(raw);
        return NULL;
    }
    struct th_resp *r = xcalloc(1, sizeof *r);
    r->status = atoi(raw + 9);
    *hdr_end = '\0';
    char *line = strstr(raw, "\r\n");
    while (line && line < hdr_end) {
        line += 2;
        char *next = strstr(line, "\r\n");
        char *colon = strchr(line, ':');
        if (colon) {
            r->names = xrealloc(r->names, (r->nheaders + 1) * sizeof *r->names);
            r->values = xrealloc(r->values, (r->nheaders + 1) * sizeof *r->values);
            r->names[r->nheaders] = xstrndup(line, (size_t)(colon - line));
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            r->values[r->nheaders] = xstrndup(v, next ? (size_t)(next - v) : strlen(v));
            r->nheaders++;
        }
        line = next;
    }
    size_t off = (size_t)(hdr_end + 4 - raw);
    r->body = xstrndup(raw + off, len - off);
    r->body_len = len - off;
    free(raw);
    const char *te = th_resp_header(r, "Transfer-Encoding");
    if (te && util_streq_ci(te, "chunked"))
        dechunk(r);
    r->json = json_loadb(r->body, r->body_len, 0, NULL);
    return r;
}

struct th_resp *th_http(int port, const char *method, const char *path,
                        const char *const *headers, const char *body, size_t body_len)
{
    struct strbuf req = {0};
    strbuf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n",
                  method, path, port);
    for (const char *const *h = headers; h && *h; h++)
        strbuf_printf(&req, "%s\r\n", *h);
    if (body)
        strbuf_printf(&req, "Content-Length: %zu\r\n", body_len);
    strbuf_puts(&req, "\r\n");
    if (body)
        strbuf_append(&req, body, body_len);
    int fd = connect_loopback(port, 60000);
    if (fd < 0) {
        strbuf_clear(&req);
        return NULL;
    }
    bool ok = write_all(fd, req.s, req.len);
    strbuf_clear(&req);
    size_t len;
    char *raw = read_all(fd, &len);
    close(fd);
    if (!ok && len == 0) {
        free(raw);
        return NULL;
    }
    return parse_response(raw, len);
}

struct th_resp *th_scim(int port, const char *token, const char *method, const char *path,
                        const char *json_body)
{
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = {auth, "Content-Type: application/scim+json",
                             "Accept: application/scim+json", NULL};
    return th_http(port, method, path, token ? headers : headers + 1, json_body,
                   json_body ? strlen(json_body) : 0);
}

const char *th_resp_header(const struct th_resp *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (util_streq_ci(r->names[i], name))
            return r->values[i];
    return NULL;
}

void th_resp_free(struct th_resp *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->names);
    free(r->values);
    free(r->body);
    json_decref(r->json);
    free(r);
}

const char *th_fmt(const char *fmt, ...)
{
    static char bufs[8][2048];
    static int next;
    char *b = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

/* ---- HTTPS ---- */

struct th_tls {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

struct th_tls *th_tls_connect(int port, const char *ca_file, const char *host, char *why,
                              size_t whylen)
{
    int fd = connect_loopback(port, 10000);
    if (fd < 0)
        return NULL;
    struct th_tls *t = xcalloc(1, sizeof *t);
    t->fd = fd;
    t->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    t->ssl = SSL_new(t->ctx);
    SSL_set_tlsext_host_name(t->ssl, host);
    SSL_set1_host(t->ssl, host);
    SSL_set_fd(t->ssl, fd);
    if (SSL_connect(t->ssl) != 1) {
        if (why) {
            long v = SSL_get_verify_result(t->ssl);
            snprintf(why, whylen, "%s", v != X509_V_OK ? X509_verify_cert_error_string(v)
                                                       : "handshake failed");
        }
        th_tls_close(t);
        return NULL;
    }
    return t;
}

static bool tls_read_response(struct th_tls *t, struct strbuf *b)
{
    char chunk[4096];
    for (;;) {
        char *end = b->s ? strstr(b->s, "\r\n\r\n") : NULL;
        if (end) {
            const char *cl = strcasestr(b->s, "Content-Length:");
            size_t need = (size_t)(end + 4 - b->s) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
            if (b->len >= need)
                return true;
        }
        int n = SSL_read(t->ssl, chunk, sizeof chunk);
        if (n <= 0)
            return false;
        strbuf_append(b, chunk, (size_t)n);
    }
}

struct th_resp *th_tls_request(struct th_tls *t, const char *method, const char *path)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\n\r\n", method, path);
    if (SSL_write(t->ssl, req, n) != n)
        return NULL;
    struct strbuf b = {0};
    if (!tls_read_response(t, &b)) {
        strbuf_clear(&b);
        return NULL;
    }
    size_t len = b.len;
    return parse_response(strbuf_detach(&b), len);
}

void th_tls_peer_fingerprint(struct th_tls *t, char *out)
{
    X509 *cert = SSL_get1_peer_certificate(t->ssl);
    unsigned char md[32];
    unsigned int n = 0;
    X509_digest(cert, EVP_sha256(), md, &n);
    X509_free(cert);
    util_hex(md, n, out);
}

void th_tls_close(struct th_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    close(t->fd);
    free(t);
}

void th_make_cert(const char *dir, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost"
             " -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
             " -keyout '%s/%s.key' -out '%s/%s.crt' 2>/dev/null",
             dir, name, dir, name);
    if (system(cmd) != 0)
        util_fatal("openssl could not make a certificate");
}
