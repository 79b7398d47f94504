/*
 * scim_error.c - filling and rendering the shared error record.
 */
#include "scim_error.h"

#include <stdio.h>
#include <string.h>

bool scim_error_set(struct scim_error *err, int status, const char *type,
                    const char *fmt, ...)
{
    if (!err || err->status)
        return false;
    err->status = status;
    err->type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
    return false;
}

void scim_error_clear(struct scim_error *err)
{
    err->status = 0;
    err->type = NULL;
    err->detail[0] = '\0';
}

json_t *scim_error_to_json(const struct scim_error *err)
{
    char status[8];
    snprintf(status, sizeof status, "%d", err->status ? err->status : 500);
    json_t *doc = json_pack("{s:[s],s:s,s:s}", "schemas",
                            "urn:ietf:params:scim:api:messages:2.0:Error", "status",
                            status, "detail", err->detail);
    if (err->type)
        json_object_set_new(doc, "scimType", json_string(err->type));
    return doc;
}

json_t *scim_error_to_json_v1(const struct scim_error *err)
{
    char status[8];
    snprintf(status, sizeof status, "%d", err->status ? err->status : 500);
    /* Okta's SCIM 1.1 test suite reads a top-level "detail" as well. */
    return json_pack("{s:[{s:s,s:s}],s:s}", "Errors", "description", err->detail, "code",
                     status, "detail", err->detail);
}

static const char *api_code(int status)
{
    switch (status) {
    case 400: return "invalid_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 412: return "precondition_failed";
    case 413: return "payload_too_large";
    case 415: return "unsupported_media_type";
    case 429: return "rate_limited";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal_error" : "invalid_request";
    }
}

json_t *scim_error_to_json_api(const struct scim_error *err)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", api_code(err->status), "message",
                     err->detail);
}
