/*
 * test_seq.c - unit tests of the fixture replay engine (tests/support/seq.c)
 * against a scripted in-memory transport, and a structural check of every
 * fixture under tests/fixtures/{okta,okta-v1,entra}.
 */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "seq.h"
#include "testutil.h"
#include "util.h"

#define FAKE_MAX 16 /* replies a fake can script */

/* One scripted answer. */
struct fake_reply {
    int status;               /* HTTP status */
    const char *content_type; /* Content-Type header, or NULL for none */
    const char *body;         /* body text, or NULL for none */
};

/* A transport that answers from a script and records every request. */
struct fake {
    struct fake_reply replies[FAKE_MAX]; /* answers in order */
    size_t nreplies;                     /* scripted answers */
    size_t next;                         /* next answer to give */
    json_t *requests;                    /* [{"method","path","headers":{},"body"}] */
    bool broken;                         /* fail the transport instead of answering */
};

static bool fake_send(void *ctx, const char *method, const char *path,
                      const char *const *header_names, const char *const *header_values,
                      size_t nheaders, const char *body, size_t body_len,
                      struct seq_response *out);
static void fake_init(struct fake *f);
static void fake_reply(struct fake *f, int status, const char *content_type,
                       const char *body);
static const json_t *fake_request(const struct fake *f, size_t i);
static bool run_inline(struct fake *f, const char *fixture_text, char *err,
                       size_t errlen);
static bool run_one(const char *expect_text, int status, const char *body, char *err,
                    size_t errlen);
static void check_dir(const char *dir, size_t min_files);

static bool fake_send(void *ctx, const char *method, const char *path,
                      const char *const *header_names, const char *const *header_values,
                      size_t nheaders, const char *body, size_t body_len,
                      struct seq_response *out)
{
    struct fake *f = ctx;
    json_t *headers = json_object();
    for (size_t i = 0; i < nheaders; i++)
        json_object_set_new(headers, header_names[i], json_string(header_values[i]));
    json_array_append_new(f->requests,
                          json_pack("{s:s, s:s, s:o, s:o}", "method", method, "path",
                                    path, "headers", headers, "body",
                                    body ? json_stringn(body, body_len) : json_null()));
    if (f->broken || f->next >= f->nreplies)
        return false;
    const struct fake_reply *r = &f->replies[f->next++];
    out->status = r->status;
    seq_response_add_header(out, "Date", "Tue, 07 May 2024 10:00:00 GMT");
    if (r->content_type)
        seq_response_add_header(out, "Content-Type", r->content_type);
    if (r->body)
        seq_response_set_body(out, r->body, strlen(r->body));
    return true;
}

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof *f);
    f->requests = json_array();
}

static void fake_reply(struct fake *f, int status, const char *content_type,
                       const char *body)
{
    ck_assert_uint_lt(f->nreplies, FAKE_MAX);
    f->replies[f->nreplies++] = (struct fake_reply){status, content_type, body};
}

static const json_t *fake_request(const struct fake *f, size_t i)
{
    const json_t *r = json_array_get(f->requests, i);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* Runs a fixture given as text with ${rand} fixed to "r4nd". */
static bool run_inline(struct fake *f, const char *fixture_text, char *err, size_t errlen)
{
    json_t *doc = tu_json(fixture_text);
    struct seq_opts opts = {.rand = "r4nd"};
    bool ok = seq_run_doc(doc, "inline", &opts, fake_send, f, err, errlen);
    json_decref(doc);
    return ok;
}

/* One GET step with the given expect object, answered with status and body. */
static bool run_one(const char *expect_text, int status, const char *body, char *err,
                    size_t errlen)
{
    struct fake f;
    fake_init(&f);
    fake_reply(&f, status, "application/scim+json; charset=utf-8", body);
    char *text =
        xasprintf("{\"source\":\"unit test\",\"client\":\"entra\",\"base\":\"/scim/v2\","
                  "\"vars\":{\"who\":\"ada\"},"
                  "\"steps\":[{\"name\":\"only\",\"method\":\"GET\",\"path\":\"/Users\","
                  "\"expect\":%s}]}",
                  expect_text);
    bool ok = run_inline(&f, text, err, errlen);
    free(text);
    json_decref(f.requests);
    return ok;
}

static const char *const user_body =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"usr_1\","
    "\"userName\":\"ada.r4nd@example.com\",\"active\":true,"
    "\"name\":{\"givenName\":\"Ada\",\"familyName\":\"Lovelace\"},"
    "\"emails\":[{\"value\":\"ada@example.com\",\"type\":\"work\",\"primary\":true},"
    "{\"value\":\"ada@home.example\",\"type\":\"home\"}],"
    "\"meta\":{\"resourceType\":\"User\",\"version\":\"W/\\\"1\\\"\"},"
    "\"a/b\":{\"c~d\":7}}";

START_TEST(test_substitution_and_capture)
{
    struct fake f;
    fake_init(&f);
    fake_reply(&f, 201, "application/scim+json", user_body);
    fake_reply(&f, 200, "application/scim+json", user_body);
    fake_reply(&f, 200, "application/scim+json", user_body);
    char err[1024];
    bool ok = run_inline(
        &f,
        "{\"source\":\"unit test\",\"client\":\"okta\",\"base\":\"/scim/v2\","
        " \"vars\":{\"userName\":\"ada.${rand}@example.com\",\"caps\":\"${userName|upper}"
        "\","
        "           \"group\":\"R&D Lab ${rand}\"},"
        " \"steps\":["
        "  {\"name\":\"create\",\"method\":\"POST\",\"path\":\"/Users\","
        "   "
        "\"headers\":{\"Content-Type\":\"application/scim+json\",\"X-Who\":\"${caps}\"},"
        "   "
        "\"body\":{\"userName\":\"${userName}\",\"active\":true,\"n\":[1,\"$${literal}\"]"
        "},"
        "   \"expect\":{\"status\":201,\"json\":{\"userName\":\"${userName}\"}},"
        "   \"capture\":{\"userId\":\"/id\",\"meta\":\"/meta\",\"active\":\"/active\"}},"
        "  {\"name\":\"lookup\",\"method\":\"GET\","
        "   \"path\":\"/Users?filter=userName%20eq%20%22${userName|url}%22&x=${userId}"
        "&g=${group|url}&f=${group|lower|form}\","
        "   \"expect\":{\"status\":[200,204],\"json\":{\"id\":\"${userId}\"}}},"
        "  {\"name\":\"put back\",\"method\":\"PUT\",\"path\":\"/Users/${userId}\","
        "   \"body\":{\"id\":\"${userId}\",\"meta\":\"${meta}\",\"active\":\"${active}\","
        "             \"label\":\"${userId}/${active}\"},"
        "   \"expect\":{\"status\":200}}]}",
        err, sizeof err);
    ck_assert_msg(ok, "%s", err);
    ck_assert_uint_eq(json_array_size(f.requests), 3);

    const json_t *r0 = fake_request(&f, 0);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "method")), "POST");
    ck_assert_str_eq(json_string_value(json_object_get(r0, "path")), "/scim/v2/Users");
    const json_t *h0 = json_object_get(r0, "headers");
    ck_assert_str_eq(json_string_value(json_object_get(h0, "X-Who")),
                     "ADA.R4ND@EXAMPLE.COM");
    json_t *b0 = tu_json(json_string_value(json_object_get(r0, "body")));
    json_t *want0 = tu_json("{\"userName\":\"ada.r4nd@example.com\",\"active\":true,"
                            "\"n\":[1,\"${literal}\"]}");
    ck_assert(tu_json_equal(b0, want0));
    json_decref(b0);
    json_decref(want0);

    const json_t *r1 = fake_request(&f, 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(r1, "path")),
        "/scim/v2/Users?filter=userName%20eq%20%22ada.r4nd%40example.com%22&x=usr_1"
        "&g=R%26D%20Lab%20r4nd&f=r%26d+lab+r4nd");
    ck_assert(json_is_null(json_object_get(r1, "body")));
    ck_assert_uint_eq(json_object_size(json_object_get(r1, "headers")), 0);

    /* A whole-string reference to a captured object or boolean sends the value itself. */
    const json_t *r2 = fake_request(&f, 2);
    ck_assert_str_eq(json_string_value(json_object_get(r2, "path")),
                     "/scim/v2/Users/usr_1");
    json_t *b2 = tu_json(json_string_value(json_object_get(r2, "body")));
    json_t *want2 = tu_json("{\"id\":\"usr_1\",\"meta\":{\"resourceType\":\"User\","
                            "\"version\":\"W/\\\"1\\\"\"},\"active\":true,"
                            "\"label\":\"usr_1/true\"}");
    ck_assert(tu_json_equal(b2, want2));
    json_decref(b2);
    json_decref(want2);
    json_decref(f.requests);
}
END_TEST

START_TEST(test_subset_match)
{
    char err[1024];
    /* Objects: expected keys only; arrays: same length, element-wise. */
    ck_assert_msg(run_one("{\"status\":200,\"json\":{\"name\":{\"givenName\":\"Ada\"},"
                          "\"emails\":[{\"type\":\"work\"},{\"type\":\"home\"}]}}",
                          200, user_body, err, sizeof err),
                  "%s", err);
    /* $contains: each expected element matches some actual element. */
    ck_assert_msg(
        run_one("{\"status\":200,\"json\":{\"emails\":{\"$contains\":"
                "[{\"type\":\"home\"},{\"value\":\"ada@example.com\",\"primary\":true}]},"
                "\"schemas\":{\"$contains\":[\"urn:ietf:params:scim:schemas:core:2.0:"
                "User\"]}}}",
                200, user_body, err, sizeof err),
        "%s", err);
    /* Substitution in expected strings. */
    ck_assert_msg(
        run_one("{\"status\":200,\"json\":{\"userName\":\"${who}.${rand}@example.com\"}}",
                200, user_body, err, sizeof err),
        "%s", err);

    ck_assert(!run_one("{\"status\":200,\"json\":{\"name\":{\"middleName\":\"X\"}}}", 200,
                       user_body, err, sizeof err));
    ck_assert_msg(strstr(err, "/name/middleName: missing") != NULL, "%s", err);

    ck_assert(!run_one("{\"status\":200,\"json\":{\"emails\":[{\"type\":\"work\"}]}}",
                       200, user_body, err, sizeof err));
    ck_assert_msg(strstr(err, "/emails: expected [{\"type\":\"work\"}], got [") != NULL,
                  "%s", err);

    ck_assert(!run_one(
        "{\"status\":200,\"json\":{\"emails\":{\"$contains\":[{\"type\":\"other\"}]}}}",
        200, user_body, err, sizeof err));
    ck_assert_msg(strstr(err, "/emails: no element matches {\"type\":\"other\"}") != NULL,
                  "%s", err);

    ck_assert(
        !run_one("{\"status\":200,\"json\":{\"name\":{\"familyName\":\"lovelace\"}}}",
                 200, user_body, err, sizeof err));
    ck_assert_msg(
        strstr(err, "/name/familyName: expected \"lovelace\", got \"Lovelace\"") != NULL,
        "%s", err);

    /* Types matter: the string "true" is not the boolean, 7 is not "7". */
    ck_assert(!run_one("{\"status\":200,\"json\":{\"active\":\"true\"}}", 200, user_body,
                       err, sizeof err));
    ck_assert_msg(strstr(err, "/active: expected \"true\", got true") != NULL, "%s", err);
    ck_assert(!run_one("{\"status\":200,\"json\":{\"a/b\":{\"c~d\":\"7\"}}}", 200,
                       user_body, err, sizeof err));
    ck_assert_msg(strstr(err, "/a~1b/c~0d: expected \"7\", got 7") != NULL, "%s", err);
}
END_TEST

START_TEST(test_absent_and_types)
{
    char err[1024];
    ck_assert_msg(
        run_one("{\"status\":200,\"absent\":[\"/password\",\"/emails/2\",\"/name/x\"],"
                "\"types\":{\"/id\":\"string\",\"/active\":\"boolean\","
                "\"/emails\":\"array\",\"/meta\":\"object\",\"/a~1b/c~0d\":\"integer\","
                "\"/emails/1/value\":\"string\"}}",
                200, user_body, err, sizeof err),
        "%s", err);

    ck_assert(!run_one("{\"status\":200,\"absent\":[\"/emails/1\"]}", 200, user_body, err,
                       sizeof err));
    ck_assert_msg(strstr(err, "/emails/1: expected absent, found {") != NULL, "%s", err);

    ck_assert(!run_one("{\"status\":200,\"types\":{\"/active\":\"string\"}}", 200,
                       user_body, err, sizeof err));
    ck_assert_msg(strstr(err, "/active: expected type string, got true") != NULL, "%s",
                  err);

    ck_assert(!run_one("{\"status\":200,\"types\":{\"/totalResults\":\"integer\"}}", 200,
                       user_body, err, sizeof err));
    ck_assert_msg(strstr(err, "/totalResults: expected type integer, got (missing)") !=
                      NULL,
                  "%s", err);

    /* A leading zero is not an array index. */
    ck_assert(!run_one("{\"status\":200,\"types\":{\"/emails/01\":\"object\"}}", 200,
                       user_body, err, sizeof err));
}
END_TEST

START_TEST(test_status_and_headers)
{
    char err[1024];
    ck_assert_msg(run_one("{\"status\":[200,204],"
                          "\"headers\":{\"content-type\":\"APPLICATION/SCIM+JSON\"}}",
                          200, user_body, err, sizeof err),
                  "%s", err);

    ck_assert(!run_one("{\"status\":201}", 400,
                       "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],"
                       "\"status\":\"400\",\"detail\":\"bad filter\"}",
                       err, sizeof err));
    ck_assert_msg(strstr(err, "inline: step 1 \"only\" (GET /scim/v2/Users): status: "
                              "expected 201, got 400; body: {") != NULL,
                  "%s", err);
    ck_assert_msg(strstr(err, "bad filter") != NULL, "%s", err);

    ck_assert(
        !run_one("{\"status\":200,\"headers\":{\"Content-Type\":\"application/json\"}}",
                 200, user_body, err, sizeof err));
    ck_assert_msg(strstr(err,
                         "header Content-Type: expected a value starting with "
                         "\"application/json\", got \"application/scim+json") != NULL,
                  "%s", err);

    ck_assert(!run_one("{\"status\":200,\"headers\":{\"Location\":\"http\"}}", 200,
                       user_body, err, sizeof err));
    ck_assert_msg(
        strstr(err,
               "header Location: expected a value starting with \"http\", got none") !=
            NULL,
        "%s", err);

    ck_assert(!run_one("{\"status\":200,\"json\":{}}", 200, "not json", err, sizeof err));
    ck_assert_msg(strstr(err, "response body is not JSON") != NULL, "%s", err);
}
END_TEST

START_TEST(test_no_content)
{
    char err[1024];
    /* A 204 has no body: body checks and Content-Type are skipped. */
    ck_assert_msg(run_one("{\"status\":[200,204],\"json\":{\"active\":false},"
                          "\"types\":{\"/id\":\"string\"},"
                          "\"headers\":{\"Content-Type\":\"application/scim+json\"}}",
                          204, NULL, err, sizeof err),
                  "%s", err);
    /* The same expectations hold the 200 variant to its body. */
    ck_assert(!run_one("{\"status\":[200,204],\"json\":{\"active\":false}}", 200,
                       user_body, err, sizeof err));
    ck_assert_msg(strstr(err, "/active: expected false, got true") != NULL, "%s", err);

    struct fake f;
    fake_init(&f);
    fake_reply(&f, 204, NULL, NULL);
    ck_assert(!run_inline(
        &f,
        "{\"source\":\"t\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
        "{\"name\":\"s\",\"method\":\"DELETE\",\"path\":\"/Groups/1\","
        "\"expect\":{\"status\":204},\"capture\":{\"id\":\"/id\"}}]}",
        err, sizeof err));
    ck_assert_msg(strstr(err, "cannot capture from a 204 response") != NULL, "%s", err);
    json_decref(f.requests);
}
END_TEST

START_TEST(test_failure_stops_the_run)
{
    struct fake f;
    fake_init(&f);
    fake_reply(&f, 200, "application/scim+json", user_body);
    fake_reply(&f, 200, "application/scim+json", user_body);
    char err[1024];
    ck_assert(!run_inline(
        &f,
        "{\"source\":\"t\",\"client\":\"entra\",\"base\":\"/scim/v2\",\"steps\":["
        "{\"name\":\"first\",\"method\":\"GET\",\"path\":\"/Users/usr_1\","
        " \"expect\":{\"status\":200,\"json\":{\"name\":{\"givenName\":\"Grace\"}}}},"
        "{\"name\":\"second\",\"method\":\"GET\",\"path\":\"/Users/usr_1\","
        " \"expect\":{\"status\":200}}]}",
        err, sizeof err));
    ck_assert_str_eq(err, "inline: step 1 \"first\" (GET /scim/v2/Users/usr_1): "
                          "/name/givenName: expected \"Grace\", got \"Ada\"");
    ck_assert_uint_eq(json_array_size(f.requests), 1);
    json_decref(f.requests);

    /* A missing capture fails its step. */
    fake_init(&f);
    fake_reply(&f, 200, "application/scim+json", user_body);
    ck_assert(!run_inline(
        &f,
        "{\"source\":\"t\",\"client\":\"entra\",\"base\":\"/scim/v2\",\"steps\":["
        "{\"name\":\"s\",\"method\":\"GET\",\"path\":\"/Users\","
        "\"expect\":{\"status\":200},\"capture\":{\"gid\":\"/Resources/0/id\"}}]}",
        err, sizeof err));
    ck_assert_msg(strstr(err, "capture gid: /Resources/0/id is not in the response") !=
                      NULL,
                  "%s", err);
    json_decref(f.requests);

    /* A transport failure is reported, not mistaken for an answer. */
    fake_init(&f);
    f.broken = true;
    ck_assert(!run_inline(
        &f,
        "{\"source\":\"t\",\"client\":\"entra\",\"base\":\"/scim/v2\",\"steps\":["
        "{\"name\":\"s\",\"method\":\"GET\",\"path\":\"/Users\","
        "\"expect\":{\"status\":200}}]}",
        err, sizeof err));
    ck_assert_msg(strstr(err, "transport error") != NULL, "%s", err);
    json_decref(f.requests);
}
END_TEST

START_TEST(test_raw_body)
{
    struct fake f;
    fake_init(&f);
    fake_reply(&f, 405, NULL, NULL);
    char err[1024];
    ck_assert_msg(
        run_inline(
            &f,
            "{\"source\":\"t\",\"client\":\"okta-v1\",\"base\":\"/scim/v1\",\"steps\":["
            "{\"name\":\"s\",\"method\":\"POST\",\"path\":\"/Schemas\","
            "\"raw_body\":\"test ${rand}\",\"expect\":{\"status\":405}}]}",
            err, sizeof err),
        "%s", err);
    const json_t *r = fake_request(&f, 0);
    ck_assert_str_eq(json_string_value(json_object_get(r, "path")), "/scim/v1/Schemas");
    ck_assert_str_eq(json_string_value(json_object_get(r, "body")), "test r4nd");
    json_decref(f.requests);
}
END_TEST

START_TEST(test_validate_rejects)
{
    static const struct {
        const char *fixture; /* fixture text */
        const char *message; /* expected part of the error */
    } cases[] = {
        {"[]", "fixture must be an object"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/"
         "v2\",\"steps\":[],\"x\":1}",
         "unknown key \"x\""},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v1\",\"steps\":[{}]}",
         "base must be /scim/v2"},
        {"{\"source\":\"s\",\"client\":\"onelogin\",\"base\":\"/scim/"
         "v2\",\"steps\":[{}]}",
         "client must be"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":[]}",
         "steps must be a non-empty array"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/Users/"
         "${id}\",\"expect\":{\"status\":200}}]}",
         "step 1 \"a\": unknown variable ${id}"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/Users/"
         "${id}\",\"expect\":{\"status\":200},"
         "\"capture\":{\"id\":\"/id\"}}]}",
         "unknown variable ${id}"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/"
         "v2\",\"vars\":{\"a\":\"${b}\",\"b\":\"x\"},"
         "\"steps\":[{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/"
         "\",\"expect\":{\"status\":200}}]}",
         "unknown variable ${b}"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/"
         "${rand|title}\",\"expect\":{\"status\":200}}]}",
         "unknown filter |title"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/"
         "${rand\",\"expect\":{\"status\":200}}]}",
         "unterminated ${"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"FETCH\",\"path\":\"/"
         "\",\"expect\":{\"status\":200}}]}",
         "method must be one of"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"Users\",\"expect\":{\"status\":"
         "200}}]}",
         "path must be a string starting with /"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/\",\"expect\":{\"json\":{}}}]}",
         "expect.status must be"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/"
         "\",\"expect\":{\"status\":[200,\"204\"]}}]}",
         "expect.status must be"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/\",\"expect\":{\"status\":200,"
         "\"types\":{\"/id\":\"uuid\"}}}]}",
         "expect.types[/id]: unknown type"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/\",\"expect\":{\"status\":200,"
         "\"absent\":[\"password\"]}}]}",
         "\"password\" is not a JSON pointer"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/\",\"expect\":{\"status\":200,"
         "\"json\":{\"x\":{\"$contains\":[1],\"y\":2}}}}]}",
         "\"$contains\" must be the only key"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"POST\",\"path\":\"/"
         "\",\"body\":{},\"raw_body\":\"\","
         "\"expect\":{\"status\":200}}]}",
         "body or raw_body, not both"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/\",\"expect\":{\"status\":200}},"
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/"
         "\",\"expect\":{\"status\":200}}]}",
         "step 2 \"a\": duplicate step name"},
        {"{\"source\":\"s\",\"client\":\"okta\",\"base\":\"/scim/v2\",\"steps\":["
         "{\"name\":\"a\",\"method\":\"GET\",\"path\":\"/"
         "\",\"expect\":{\"status\":200,\"body\":1}}]}",
         "expect: unknown key \"body\""},
    };
    char err[512];
    /* seq_run_doc checks the structure before it sends anything. */
    struct fake f;
    fake_init(&f);
    ck_assert(!run_inline(&f, cases[5].fixture, err, sizeof err));
    ck_assert_msg(strstr(err, cases[5].message) != NULL, "%s", err);
    ck_assert(!seq_run("okta/no-such-fixture.json", fake_send, &f, err, sizeof err));
    ck_assert_msg(strstr(err, "cannot load") != NULL, "%s", err);
    ck_assert_uint_eq(json_array_size(f.requests), 0);
    json_decref(f.requests);
    ck_assert(!seq_validate_file("entra/no-such-fixture.json", err, sizeof err));

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_t *doc = tu_json(cases[i].fixture);
        ck_assert_msg(!seq_validate(doc, err, sizeof err), "case %zu accepted", i);
        ck_assert_msg(strstr(err, cases[i].message) != NULL, "case %zu: %s", i, err);
        json_decref(doc);
    }
}
END_TEST

/* Every *.json in FIXTURES_DIR/dir is a valid fixture for the client the
 * directory is named after; at least min_files of them. */
static void check_dir(const char *dir, size_t min_files)
{
    char *path = xasprintf("%s/%s", FIXTURES_DIR, dir);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "cannot open %s", path);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char *rel = xasprintf("%s/%s", dir, e->d_name);
        char err[1024];
        ck_assert_msg(seq_validate_file(rel, err, sizeof err), "%s", err);
        json_t *doc = tu_load_json_fixture(rel);
        ck_assert_msg(strcmp(json_string_value(json_object_get(doc, "client")), dir) == 0,
                      "%s: client does not match its directory", rel);
        json_decref(doc);
        free(rel);
        n++;
    }
    closedir(d);
    ck_assert_msg(n >= min_files, "%s: %zu fixtures, expected at least %zu", dir, n,
                  min_files);
    free(path);
}

START_TEST(test_fixture_files_are_valid)
{
    check_dir("okta", 6);
    check_dir("okta-v1", 3);
    check_dir("entra", 6);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("seq");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, test_substitution_and_capture);
    tcase_add_test(tc, test_subset_match);
    tcase_add_test(tc, test_absent_and_types);
    tcase_add_test(tc, test_status_and_headers);
    tcase_add_test(tc, test_no_content);
    tcase_add_test(tc, test_failure_stops_the_run);
    tcase_add_test(tc, test_raw_body);
    tcase_add_test(tc, test_validate_rejects);
    suite_add_tcase(s, tc);
    TCase *files = tcase_create("fixtures");
    tcase_add_test(files, test_fixture_files_are_valid);
    suite_add_tcase(s, files);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
