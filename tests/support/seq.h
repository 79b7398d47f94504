/*
 * seq.h - replays recorded client request sequences (tests/fixtures/okta,
 * okta-v1, entra) against a SCIM server and checks every response.
 *
 * A fixture is a JSON file: variables, then steps of one HTTP request and the
 * expectations on its answer. tests/fixtures/README.md defines the format;
 * in short:
 *
 *   ${name}, ${name|upper}, ${name|lower}, ${name|url}, ${name|form}
 *       (filters chain left to right; url percent-encodes all but unreserved
 *       characters, form does the same but writes a space as '+')
 *       substituted in the path, header values, every string of the body and
 *       of expect (json, headers, absent, types pointers, capture pointers)
 *       from "vars" (in file order), earlier captures and ${rand} (a fresh
 *       random token per run). "$${" stands for a literal "${". A body string
 *       that is exactly "${name}" takes the captured JSON value as it is, so
 *       objects and booleans can be sent back unchanged.
 *   expect.status   a number or an array of accepted numbers.
 *   expect.json     subset match: objects need each expected key, arrays need
 *                   the same length and element-wise matches, and
 *                   {"$contains": [...]} needs each element to match some
 *                   element of the actual array. Strings compare exactly.
 *   expect.absent   JSON pointers that must not exist in the body.
 *   expect.types    pointer -> "integer" | "number" | "string" | "boolean" |
 *                   "array" | "object" | "null".
 *   expect.headers  names compared case-insensitively, values by
 *                   case-insensitive prefix.
 *   capture         name -> pointer into the response body.
 *
 * When the server answers 204, body checks and a Content-Type expectation are
 * skipped (there is no body); a capture from a 204 is an error.
 *
 * The HTTP client is the caller's: seq_run hands each request to a
 * seq_send_fn. The callback adds what the fixture does not carry (Host,
 * Content-Length, and the organization's Authorization header unless the step
 * sets its own).
 */
#ifndef SCIMGATE_SEQ_H
#define SCIMGATE_SEQ_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util.h"

/* One HTTP answer, filled by the transport callback. Every pointer is a
 * malloc'd buffer owned by the struct and released by seq_response_clear. */
struct seq_response {
    int status;           /* HTTP status code */
    char **header_names;  /* nheaders names, as received */
    char **header_values; /* nheaders values, as received */
    size_t nheaders;      /* number of headers */
    char *body;           /* body bytes, NUL-terminated; NULL when empty */
    size_t body_len;      /* body length without the NUL */
};

/*
 * Performs one HTTP exchange. path already includes the fixture's base
 * ("/scim/v2/Users?..."). Header arrays and body are borrowed for the call;
 * body is NULL when the request has none. Fills *out (zeroed on entry) and
 * returns true when an HTTP answer of any status arrived; false on a
 * transport failure.
 */
typedef bool (*seq_send_fn)(void *ctx, const char *method, const char *path,
                            const char *const *header_names,
                            const char *const *header_values, size_t nheaders,
                            const char *body, size_t body_len, struct seq_response *out);

/* Run options; a zeroed struct (or NULL) gives the defaults. */
struct seq_opts {
    const char *rand; /* value of ${rand}; NULL draws 12 random hex characters */
};

/*
 * Runs every step of the fixture file (path relative to FIXTURES_DIR, e.g.
 * "okta/spec-test.json"). Stops at the first failure and returns false with a
 * message in err naming the fixture, the step, the request, the pointer and
 * expected versus actual. err may be NULL.
 */
bool seq_run(const char *fixture, seq_send_fn send, void *ctx, char *err,
             size_t errlen) MUSTCHECK;

/* As seq_run for a fixture already loaded (borrowed); label names it in errors. */
bool seq_run_doc(const json_t *doc, const char *label, const struct seq_opts *opts,
                 seq_send_fn send, void *ctx, char *err, size_t errlen) MUSTCHECK;

/*
 * Checks that doc follows the fixture format without sending anything: known
 * keys and their types, methods, statuses, pointers, type names, and that
 * every ${name} refers to ${rand}, a var defined earlier in "vars" or a capture
 * of an earlier step. False with a message in err.
 */
bool seq_validate(const json_t *doc, char *err, size_t errlen) MUSTCHECK;

/* Loads FIXTURES_DIR/fixture and validates it; false when unreadable or invalid. */
bool seq_validate_file(const char *fixture, char *err, size_t errlen) MUSTCHECK;

/* Helpers for transport callbacks: append a header (copies both strings),
 * set the body (copies len bytes and adds a NUL). */
void seq_response_add_header(struct seq_response *r, const char *name, const char *value);
void seq_response_set_body(struct seq_response *r, const char *data, size_t len);

/* Frees everything r owns and zeroes it; r may be NULL. */
void seq_response_clear(struct seq_response *r);

#endif
