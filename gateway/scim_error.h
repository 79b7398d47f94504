/*
 * scim_error.h - the one error record every layer fills: the filter parser,
 * the PATCH engine, schema validation, storage and the handlers. The HTTP
 * layer renders it as a SCIM error (RFC 7644 section 3.12), as a SCIM 1.1
 * error or as an admin API error.
 */
#ifndef SCIMGATE_SCIM_ERROR_H
#define SCIMGATE_SCIM_ERROR_H

#include <stdbool.h>

#include <jansson.h>

#include "util.h"

/* scimType values of RFC 7644 table 9 (detail error keyword values). */
#define SCIM_TYPE_INVALID_FILTER "invalidFilter"
#define SCIM_TYPE_TOO_MANY "tooMany"
#define SCIM_TYPE_UNIQUENESS "uniqueness"
#define SCIM_TYPE_MUTABILITY "mutability"
#define SCIM_TYPE_INVALID_SYNTAX "invalidSyntax"
#define SCIM_TYPE_INVALID_PATH "invalidPath"
#define SCIM_TYPE_NO_TARGET "noTarget"
#define SCIM_TYPE_INVALID_VALUE "invalidValue"
#define SCIM_TYPE_INVALID_VERS "invalidVers"
#define SCIM_TYPE_SENSITIVE "sensitive"

struct scim_error {
    int status;          /* HTTP status, 0 while no error is set */
    const char *type;    /* scimType (static string) or NULL */
    char detail[512];    /* human-readable detail, never a secret */
};

/* Sets status, type (static string or NULL) and a formatted detail. Always
 * returns false so callers can write `return scim_error_set(...)`. When an
 * error is already set it is kept: the first cause wins. */
bool scim_error_set(struct scim_error *err, int status, const char *type,
                    const char *fmt, ...) PRINTF_LIKE(4, 5);
/* Clears err to "no error". */
void scim_error_clear(struct scim_error *err);

/* The SCIM 2.0 error document: {"schemas":[...Error],"status":"409",
 * "scimType":"uniqueness","detail":"..."}. New reference. */
json_t *scim_error_to_json(const struct scim_error *err);
/* The SCIM 1.1 error document: {"Errors":[{"description":"...","code":"409"}],
 * "detail":"..."} (draft-scim-api-01 section 3.9, plus the top-level "detail"
 * Okta's 1.1 test suite reads). */
json_t *scim_error_to_json_v1(const struct scim_error *err);
/* The admin API error: {"error":{"code":"not_found","message":"..."}}. */
json_t *scim_error_to_json_api(const struct scim_error *err);

#endif
