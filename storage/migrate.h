/*
 * migrate.h - the schema migrations runner behind `scimgate migrate`.
 *
 * Migrations are the files migrations/NNNN_name.sql, compiled into the binary
 * in name order. Each is applied once, inside its own transaction, and
 * recorded in schema_migrations with a SHA-256 checksum of its text; a
 * recorded migration whose text has since changed is refused. A session-level
 * advisory lock serialises concurrent runners, so several instances may start
 * at once. Runs before any event loop: it uses blocking libpq calls.
 */
#ifndef SCIMGATE_MIGRATE_H
#define SCIMGATE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

struct migration {
    const char *name; /* "0001_initial.sql" */
    const char *sql;  /* the file's text */
    size_t len;       /* its length in bytes */
};

/* The compiled-in migrations, in order, terminated by a NULL name. */
extern const struct migration migrations_embedded[];
extern const int migrations_embedded_count;

/* The advisory lock key every runner takes (also used by tests). */
#define MIGRATE_LOCK_KEY 7462010342LL

/* Applies the pending migrations to the database at conninfo. Progress goes to
 * the log; on failure, err (at least 512 bytes) says why and false is returned.
 * applied_out (may be NULL) receives the number applied by this call. */
bool migrate_run(const char *conninfo, int *applied_out, char *err, size_t errlen);

/* The name of the last compiled-in migration ("" if none). */
const char *migrate_latest_name(void);

/* SQL that answers one row, one boolean column: whether every compiled-in
 * migration is recorded with its current checksum. It takes two parameters:
 * $1 a text[] of names, $2 a text[] of checksums (see migrate_expected_params). */
extern const char *const migrate_current_sql;
/* Fills the two array literals for migrate_current_sql (new strings). */
void migrate_expected_params(char **names_out, char **checksums_out);

#endif
