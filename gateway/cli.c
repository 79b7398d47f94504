/*
 * cli.c - `scimgate org ...` and `scimgate token ...`.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ids.h"
#include "tenancy.h"
#include "util.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage:\n"
            "  scimgate org create --name NAME [--slug SLUG]\n"
            "  scimgate org list\n"
            "  scimgate org delete ORG_ID\n"
            "  scimgate token issue ORG_ID --name NAME [--scopes \"get:users post:users ...\"]\n"
            "                       [--expires-at 2027-01-01T00:00:00Z] [--rate N] [--burst N]\n"
            "  scimgate token list ORG_ID\n"
            "  scimgate token revoke ORG_ID TOKEN_ID\n"
            "\n"
            "The database comes from DATABASE_URL or --database-url.\n");
}

struct args {
    const char *positional[4];
    int npos;
    json_t *body;              /* flags as a request body */
    const char *database_url;
};

static bool parse_args(int argc, char **argv, int first, struct args *a)
{
    a->body = json_object();
    a->database_url = getenv("DATABASE_URL");
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            if (a->npos == 4)
                return false;
            a->positional[a->npos++] = arg;
            continue;
        }
        if (i + 1 >= argc)
            return false;
        const char *v = argv[++i];
        const char *name = arg + 2;
        if (strcmp(name, "database-url") == 0)
            a->database_url = v;
        else if (strcmp(name, "name") == 0 || strcmp(name, "slug") == 0 ||
                 strcmp(name, "expires-at") == 0)
            json_object_set_new(a->body, strcmp(name, "expires-at") == 0 ? "expires_at" : name,
                                json_string(v));
        else if (strcmp(name, "scopes") == 0) {
            json_t *arr = json_array();
            char *copy = xstrdup(v), *save = NULL;
            for (char *t = strtok_r(copy, " ,", &save); t; t = strtok_r(NULL, " ,", &save))
                json_array_append_new(arr, json_string(t));
            free(copy);
            json_object_set_new(a->body, "scopes", arr);
        } else if (strcmp(name, "rate") == 0)
            json_object_set_new(a->body, "rate_per_second", json_real(strtod(v, NULL)));
        else if (strcmp(name, "burst") == 0)
            json_object_set_new(a->body, "burst", json_integer(strtoll(v, NULL, 10)));
        else
            return false;
    }
    return true;
}

static PGresult *exec(PGconn *db, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "23505") == 0)
            fprintf(stderr, "scimgate: that slug is already taken\n");
        else
            fprintf(stderr, "scimgate: %s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static void print_json(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2));
    printf("%s\n", s);
    fflush(stdout); /* before any hint on stderr */
    free(s);
    json_decref(doc);
}

static void print_rows(PGresult *r, json_t *(*row_json)(const PGresult *, int))
{
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(arr, row_json(r, i));
    print_json(arr);
}

static int org_cmd(PGconn *db, const char *verb, struct args *a)
{
    struct scim_error err = {0};
    if (strcmp(verb, "create") == 0) {
        struct tenancy_org_input in;
        if (!tenancy_parse_org(a->body, &in, &err)) {
            fprintf(stderr, "scimgate: %s\n", err.detail);
            return 2;
        }
        char id[IDS_MAX];
        ids_new("org_", id);
        const char *p[] = {id, in.name, in.slug};
        PGresult *r = exec(db, tenancy_sql_org_insert, 3, p);
        if (!r)
            return 1;
        print_json(tenancy_org_json(r, 0));
        PQclear(r);
        return 0;
    }
    if (strcmp(verb, "list") == 0) {
        const char *p[] = {"", "1000000"};
        PGresult *r = exec(db, tenancy_sql_org_list, 2, p);
        if (!r)
            return 1;
        print_rows(r, tenancy_org_json);
        PQclear(r);
        return 0;
    }
    if (strcmp(verb, "delete") == 0 && a->npos == 1) {
        const char *p[] = {a->positional[0]};
        PGresult *r = exec(db, "BEGIN", 0, NULL), *d;
        PQclear(r);
        d = exec(db, tenancy_sql_org_delete, 1, p);
        bool found = d && PQntuples(d) == 1;
        PQclear(d);
        PGresult *t = found ? exec(db, tenancy_sql_org_revoke_tokens, 1, p) : NULL;
        bool ok = found && t;
        PQclear(t);
        PQclear(exec(db, ok ? "COMMIT" : "ROLLBACK", 0, NULL));
        if (!found)
            fprintf(stderr, "scimgate: no such organization\n");
        return ok ? 0 : 1;
    }
    usage(stderr);
    return 2;
}

static int token_issue(PGconn *db, struct args *a)
{
    struct tenancy_token_input in;
    struct scim_error err = {0};
    if (!tenancy_parse_token(a->body, util_now_ms(), &in, &err)) {
        fprintf(stderr, "scimgate: %s\n", err.detail);
        return 2;
    }
    char id[IDS_MAX], secret[96], prefix[32], hash[65], exp[32] = "", rate[32] = "",
                                                          burst[16] = "";
    tenancy_new_token(id, secret, prefix, hash);
    if (in.expires_at_ms)
        snprintf(exp, sizeof exp, "%lld", (long long)in.expires_at_ms);
    if (in.rate_per_sec > 0)
        snprintf(rate, sizeof rate, "%.17g", in.rate_per_sec);
    if (in.burst > 0)
        snprintf(burst, sizeof burst, "%d", in.burst);
    const char *p[] = {a->positional[0], id, in.name, prefix, hash,
                       in.all_scopes ? NULL : in.scopes, exp[0] ? exp : NULL,
                       rate[0] ? rate : NULL, burst[0] ? burst : NULL};
    PGresult *r = exec(db, tenancy_sql_token_insert, 9, p);
    if (!r)
        return 1;
    if (PQntuples(r) == 0) {
        fprintf(stderr, "scimgate: no such organization\n");
        PQclear(r);
        return 1;
    }
    json_t *tok = tenancy_token_json(r, 0);
    json_object_set_new(tok, "token", json_string(secret));
    print_json(tok);
    fprintf(stderr, "Store the token now: it is not shown again.\n");
    memset(secret, 0, sizeof secret);
    PQclear(r);
    return 0;
}

static int token_cmd(PGconn *db, const char *verb, struct args *a)
{
    if (strcmp(verb, "issue") == 0 && a->npos == 1)
        return token_issue(db, a);
    if (strcmp(verb, "list") == 0 && a->npos == 1) {
        PGresult *r = exec(db, tenancy_sql_token_list, 1, a->positional);
        if (!r)
            return 1;
        print_rows(r, tenancy_token_json);
        PQclear(r);
        return 0;
    }
    if (strcmp(verb, "revoke") == 0 && a->npos == 2) {
        PGresult *r = exec(db, tenancy_sql_token_revoke, 2, a->positional);
        if (!r)
            return 1;
        int n = PQntuples(r);
        if (n)
            print_json(tenancy_token_json(r, 0));
        else
            fprintf(stderr, "scimgate: no such token in that organization\n");
        PQclear(r);
        return n ? 0 : 1;
    }
    usage(stderr);
    return 2;
}

int cli_main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[2], "--help") == 0) {
        usage(argc < 3 ? stderr : stdout);
        return argc < 3 ? 2 : 0;
    }
    struct args a = {0};
    if (!parse_args(argc, argv, 3, &a)) {
        json_decref(a.body);
        usage(stderr);
        return 2;
    }
    PGconn *db = PQconnectdb(a.database_url ? a.database_url : "");
    int rc;
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "scimgate: cannot connect to the database: %s", PQerrorMessage(db));
        rc = 1;
    } else if (strcmp(argv[1], "org") == 0) {
        rc = org_cmd(db, argv[2], &a);
    } else {
        rc = token_cmd(db, argv[2], &a);
    }
    PQfinish(db);
    json_decref(a.body);
    return rc;
}
