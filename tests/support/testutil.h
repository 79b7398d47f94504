/*
 * testutil.h - helpers shared by the unit and integration suites: reading
 * fixture files and loading JSON fixtures.
 */
#ifndef SCIMGATE_TESTUTIL_H
#define SCIMGATE_TESTUTIL_H

#include <stddef.h>

#include <jansson.h>

/* Reads FIXTURES_DIR/rel into a new NUL-terminated buffer; aborts when missing. */
char *tu_read_fixture(const char *rel, size_t *len_out);
/* Loads FIXTURES_DIR/rel as JSON (new reference); aborts when missing or invalid. */
json_t *tu_load_json_fixture(const char *rel);
/* Parses JSON text (new reference); aborts on invalid input. */
json_t *tu_json(const char *text);
/* True when a and b are equal JSON values (object key order ignored). */
int tu_json_equal(const json_t *a, const json_t *b);

#endif
