/*
 * test_doctor.c - `scimgate doctor` against real databases, real sockets and
 * certificates made here with openssl: a healthy set-up, a database that is
 * not there, an unmigrated or drifted schema, bad settings, webhook endpoints
 * that refuse connections or present a self-signed certificate, and TLS files
 * whose key does not match.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"

/* Runs `scimgate doctor` with DATABASE_URL=db_url (unless NULL) and the extra
 * "K=V" entries; returns the exit status and the output in *out. */
static int run_doctor(const char *db_url, const char *const *extra, char **out)
{
    const char *env[16];
    size_t n = 0;
    char *url_env = db_url ? xasprintf("DATABASE_URL=%s", db_url) : NULL;
    if (url_env)
        env[n++] = url_env;
    for (const char *const *e = extra; e && *e && n < 15; e++)
        env[n++] = *e;
    env[n] = NULL;
    const char *args[] = {"doctor", NULL};
    int rc = th_run_scimgate(env, args, out);
    free(url_env);
    return rc;
}

/* True when a line of out starts with verdict, then label, and contains text. */
static bool has_line(const char *out, const char *verdict, const char *label,
                     const char *text)
{
    char *copy = xstrdup(out), *save = NULL;
    bool found = false;
    for (char *line = strtok_r(copy, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save)) {
        size_t vl = strlen(verdict);
        if (strncmp(line, verdict, vl) != 0 || line[vl] != ' ')
            continue;
        const char *rest = line + vl;
        while (*rest == ' ')
            rest++;
        found = strncmp(rest, label, strlen(label)) == 0 && strstr(rest, text) != NULL;
    }
    free(copy);
    return found;
}

/* A loopback port that nothing listens on (bound, read back, closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* A listening loopback socket; its port in *port. */
static int listening_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void add_endpoint(const char *db_url, const char *id, const char *url)
{
    PGconn *db = th_db_connect(db_url);
    PQclear(th_sql(db,
                   "INSERT INTO webhook_endpoints (id, url, secret) VALUES ($1, $2, $3)",
                   id, url, "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdA==", NULL));
    PQfinish(db);
}

/* Makes a self-signed certificate and key for localhost and 127.0.0.1 in dir
 * as cert<tag>.pem and key<tag>.pem. */
static void make_cert(const char *dir, const char *tag)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
             " -keyout %s/key%s.pem -out %s/cert%s.pem -days 30 -subj /CN=localhost"
             " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null",
             dir, tag, dir, tag);
    ck_assert_msg(system(cmd) == 0, "openssl req failed: %s", cmd);
}

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/scimgate-doctor-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    return xstrdup(tmpl);
}

static void remove_dir(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

START_TEST(test_healthy)
{
    char *url = th_db_create();
    PGconn *db = th_db_connect(url);
    free(th_admin_key_create(db));
    /* th_org_create's token has NULL scopes, which ends th_sql's parameter list
     * early; insert the organization here and give its token explicit scopes. */
    PQclear(th_sql(
        db, "INSERT INTO organizations (id, name) VALUES ('org_doctor', 'Acme')", NULL));
    char token[128], token_id[64];
    th_token_create(db, "org_doctor", "get:users post:users", token, token_id);
    PQfinish(db);
    int port;
    int lfd = listening_socket(&port);
    add_endpoint(url, "whep_doctor_up", th_fmt("http://127.0.0.1:%d/hook", port));
    char *out = NULL;
    int rc = run_doctor(url, NULL, &out);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    ck_assert_msg(has_line(out, "ok", "configuration", ""), "%s", out);
    ck_assert_msg(has_line(out, "ok", "database", "connected to 127.0.0.1:"), "%s", out);
    ck_assert_msg(has_line(out, "ok", "server version", "PostgreSQL 1"), "%s", out);
    ck_assert_msg(has_line(out, "ok", "migrations", "applied"), "%s", out);
    ck_assert_msg(has_line(out, "ok", "admin keys", "1 active"), "%s", out);
    ck_assert_msg(has_line(out, "ok", "organizations", "1, with 1 active SCIM token"),
                  "%s", out);
    ck_assert_msg(has_line(out, "ok", "webhook", "whep_doctor_up"), "%s", out);
    ck_assert_msg(strstr(out, "FAIL") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "0 failure(s)"), "%s", out);
    free(out);
    close(lfd);
    free(url);
}
END_TEST

START_TEST(test_database_unreachable)
{
    int port = closed_port();
    char *url = xasprintf("postgres://postgres@127.0.0.1:%d/scimgate", port);
    char *out = NULL;
    int rc = run_doctor(url, NULL, &out);
    ck_assert_msg(rc == 1, "exit %d:\n%s", rc, out);
    char want[128];
    snprintf(want, sizeof want, "nothing listens at 127.0.0.1:%d; is PostgreSQL running?",
             port);
    ck_assert_msg(has_line(out, "FAIL", "database", want), "%s", out);
    ck_assert_msg(strstr(out, "skipped"), "%s", out);
    free(out);
    free(url);
    /* A database that does not exist is named, with what to do. */
    url = xasprintf("%s/no_such_database", th_pg_base());
    rc = run_doctor(url, NULL, &out);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(
        has_line(out, "FAIL", "database", "\"no_such_database\" does not exist"), "%s",
        out);
    free(out);
    free(url);
}
END_TEST

START_TEST(test_unmigrated_and_drifted)
{
    char *url = th_db_create_empty();
    char *out = NULL;
    int rc = run_doctor(url, NULL, &out);
    ck_assert_msg(rc == 1, "exit %d:\n%s", rc, out);
    ck_assert_msg(has_line(out, "ok", "database", ""), "%s", out);
    ck_assert_msg(has_line(out, "FAIL", "migrations", "scimgate migrate"), "%s", out);
    free(out);
    free(url);
    /* Migrated, then one record lost: pending. */
    url = th_db_create();
    PGconn *db = th_db_connect(url);
    PQclear(th_sql(db, "DELETE FROM schema_migrations", NULL));
    rc = run_doctor(url, NULL, &out);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(
        has_line(out, "FAIL", "migrations", "not applied (next: 0001_initial.sql)"), "%s",
        out);
    free(out);
    /* Recorded with another checksum: a different build. */
    PQclear(th_sql(db, "INSERT INTO schema_migrations (name, checksum) VALUES ($1, 'x')",
                   "0001_initial.sql", NULL));
    PQclear(th_sql(db, "INSERT INTO schema_migrations (name, checksum) VALUES ($1, 'y')",
                   "9999_from_the_future.sql", NULL));
    rc = run_doctor(url, NULL, &out);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(
        has_line(out, "FAIL", "migrations", "0001_initial.sql was applied with other"),
        "%s", out);
    ck_assert_msg(has_line(out, "warn", "migrations", "9999_from_the_future.sql"), "%s",
                  out);
    free(out);
    PQfinish(db);
    free(url);
}
END_TEST

START_TEST(test_bad_settings)
{
    const char *env[] = {"SCIMGATE_LISTEN=nowhere", NULL};
    char *out = NULL;
    int rc = run_doctor(NULL, env, &out);
    ck_assert_msg(rc == 1, "exit %d:\n%s", rc, out);
    ck_assert_msg(has_line(out, "FAIL", "configuration", "SCIMGATE_LISTEN"), "%s", out);
    free(out);
    /* The public URL is judged for what identity providers need. */
    char *url = th_db_create();
    const char *http_env[] = {"SCIMGATE_PUBLIC_URL=http://scim.example.com/scim/v2",
                              NULL};
    rc = run_doctor(url, http_env, &out);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    ck_assert_msg(has_line(out, "warn", "public URL", "plain http"), "%s", out);
    ck_assert_msg(has_line(out, "warn", "public URL", "SCIM path"), "%s", out);
    free(out);
    free(url);
}
END_TEST

START_TEST(test_webhook_unreachable)
{
    char *url = th_db_create();
    int port = closed_port();
    char *hook = xasprintf("http://127.0.0.1:%d/webhooks/scim", port);
    add_endpoint(url, "whep_doctor_down", hook);
    /* A deleted endpoint is not probed. */
    PGconn *db = th_db_connect(url);
    PQclear(th_sql(db,
                   "INSERT INTO webhook_endpoints (id, url, secret, deleted_at)"
                   " VALUES ('whep_doctor_gone', $1, 'whsec_x', now())",
                   "http://127.0.0.1:1/gone", NULL));
    PQfinish(db);
    char *out = NULL;
    int rc = run_doctor(url, NULL, &out);
    ck_assert_msg(rc == 1, "exit %d:\n%s", rc, out);
    ck_assert_msg(has_line(out, "FAIL", "webhook", hook), "%s", out);
    ck_assert_msg(has_line(out, "FAIL", "webhook", "nothing listens at"), "%s", out);
    ck_assert_msg(strstr(out, "whep_doctor_gone") == NULL, "%s", out);
    free(out);
    free(hook);
    free(url);
}
END_TEST

START_TEST(test_webhook_self_signed)
{
    char *dir = temp_dir();
    make_cert(dir, "a");
    int port = closed_port();
    pid_t server = fork();
    if (server == 0) {
        char accept[32], cert[600], key[600];
        snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
        snprintf(cert, sizeof cert, "%s/certa.pem", dir);
        snprintf(key, sizeof key, "%s/keya.pem", dir);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* gone with the test if it fails */
        execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", cert, "-key",
               key, "-quiet", "-www", (char *)NULL);
        _exit(127);
    }
    /* Wait until it listens. */
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        up = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (!up)
            usleep(50000);
    }
    ck_assert_msg(up, "openssl s_server did not start");
    char *url = th_db_create();
    add_endpoint(url, "whep_doctor_tls", th_fmt("https://127.0.0.1:%d/hook", port));
    char *out = NULL;
    int rc = run_doctor(url, NULL, &out);
    ck_assert_msg(rc == 1, "exit %d:\n%s", rc, out);
    ck_assert_msg(has_line(out, "FAIL", "webhook", "self-signed"), "%s", out);
    free(out);
    /* Trusted through SSL_CERT_FILE, the same endpoint passes. */
    char *trust = xasprintf("SSL_CERT_FILE=%s/certa.pem", dir);
    const char *env[] = {trust, NULL};
    rc = run_doctor(url, env, &out);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    ck_assert_msg(has_line(out, "ok", "webhook", "TLS certificate valid for"), "%s", out);
    free(out);
    free(trust);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    free(url);
    remove_dir(dir);
}
END_TEST

START_TEST(test_tls_files)
{
    char *dir = temp_dir();
    make_cert(dir, "a");
    make_cert(dir, "b");
    char *url = th_db_create();
    char *cert = xasprintf("SCIMGATE_TLS_CERT=%s/certa.pem", dir);
    char *wrong_key = xasprintf("SCIMGATE_TLS_KEY=%s/keyb.pem", dir);
    char *right_key = xasprintf("SCIMGATE_TLS_KEY=%s/keya.pem", dir);
    const char *mismatched[] = {cert, wrong_key,
                                "SCIMGATE_PUBLIC_URL=https://localhost:8443", NULL};
    char *out = NULL;
    int rc = run_doctor(url, mismatched, &out);
    ck_assert_msg(rc == 1, "exit %d:\n%s", rc, out);
    ck_assert_msg(has_line(out, "FAIL", "TLS key", "does not belong to the certificate"),
                  "%s", out);
    ck_assert_msg(has_line(out, "ok", "TLS certificate", "day(s) from now"), "%s", out);
    free(out);
    /* The matching pair: the key is fine; a self-signed certificate only warns. */
    const char *matched[] = {cert, right_key,
                             "SCIMGATE_PUBLIC_URL=https://localhost:8443", NULL};
    rc = run_doctor(url, matched, &out);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    ck_assert_msg(has_line(out, "ok", "TLS key", "matches the certificate"), "%s", out);
    ck_assert_msg(has_line(out, "warn", "TLS trust", "self-signed"), "%s", out);
    ck_assert_msg(!has_line(out, "FAIL", "TLS", ""), "%s", out);
    free(out);
    free(cert);
    free(wrong_key);
    free(right_key);
    free(url);
    remove_dir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("doctor");
    TCase *tc = tcase_create("doctor");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_healthy);
    tcase_add_test(tc, test_database_unreachable);
    tcase_add_test(tc, test_unmigrated_and_drifted);
    tcase_add_test(tc, test_bad_settings);
    tcase_add_test(tc, test_webhook_unreachable);
    tcase_add_test(tc, test_webhook_self_signed);
    tcase_add_test(tc, test_tls_files);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
