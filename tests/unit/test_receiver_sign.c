/*
 * test_receiver_sign.c - the example receiver's side of signing: deliveries
 * signed as the worker signs them, read back through libevent's header list
 * as scimgate-receiver reads them, and verified with sign.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "ids.h"
#include "sign.h"
#include "util.h"

#define NOW_S 1714723000LL

/* One delivery attempt as the worker would send it. */
struct delivery {
    struct evkeyvalq headers; /* as evhttp hands them to the receiver */
    char *body;               /* the exact bytes sent */
};

static char *event_body(const char *evt_id)
{
    json_t *ev = json_pack("{s:s, s:s, s:I, s:{s:{s:s, s:s}, s:s, s:n}}", "id", evt_id, "type",
                           "scimUser.provisioned", "created_at", (json_int_t)NOW_S * 1000,
                           "data", "user", "id", "usr_01HKX9SYAAAAAAAAAAAAAAAAAA",
                           "email_address", "ada@example.com", "organization_id",
                           "org_01HKX9SYAAAAAAAAAAAAAAAAAA", "enterprise_connection_id");
    ck_assert_ptr_nonnull(ev);
    char *s = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return s;
}

/* Signs body for msg_id at ts with every key given (a rotation signs twice)
 * and files the three headers with the capitalisation a sender may use. */
static void delivery_init(struct delivery *d, const char *msg_id, int64_t ts,
                          struct sign_key *const *keys, size_t nkeys, const char *body)
{
    TAILQ_INIT(&d->headers);
    d->body = xstrdup(body);
    struct strbuf sig = {0};
    for (size_t i = 0; i < nkeys; i++)
        ck_assert(sign_signature_append(&sig, keys[i], msg_id, ts, body, strlen(body)));
    char tsbuf[24];
    snprintf(tsbuf, sizeof tsbuf, "%lld", (long long)ts);
    evhttp_add_header(&d->headers, "Webhook-Id", msg_id);
    evhttp_add_header(&d->headers, "Webhook-Timestamp", tsbuf);
    evhttp_add_header(&d->headers, "WEBHOOK-SIGNATURE", sig.s);
    strbuf_clear(&sig);
}

static void delivery_clear(struct delivery *d)
{
    evhttp_clear_headers(&d->headers);
    free(d->body);
}

/* What scimgate-receiver does with a request, minus the HTTP. */
static enum sign_result receive(const struct sign_key *key, struct delivery *d, int64_t now)
{
    return sign_verify(key, evhttp_find_header(&d->headers, "webhook-id"),
                       evhttp_find_header(&d->headers, "webhook-timestamp"),
                       evhttp_find_header(&d->headers, "webhook-signature"), d->body,
                       strlen(d->body), now, SIGN_TOLERANCE_DEFAULT_S);
}

START_TEST(test_sign_then_receive)
{
    char *secret = sign_secret_new(); /* what POST /v1/webhook-endpoints returns */
    struct sign_key *sender = sign_key_new(secret), *receiver = sign_key_new(secret);
    ck_assert_ptr_nonnull(sender);
    ck_assert_ptr_nonnull(receiver);
    char msg_id[IDS_MAX], evt_id[IDS_MAX];
    ids_new_at("msg_", NOW_S * 1000, msg_id);
    ids_new_at("evt_", NOW_S * 1000, evt_id);
    ck_assert(sign_msg_id_valid(msg_id));
    char *body = event_body(evt_id);
    struct delivery d;
    delivery_init(&d, msg_id, NOW_S, &sender, 1, body);
    ck_assert_int_eq(receive(receiver, &d, NOW_S + 2), SIGN_OK);
    /* The verified bytes are the event. */
    json_error_t err;
    json_t *ev = json_loads(d.body, 0, &err);
    ck_assert_ptr_nonnull(ev);
    ck_assert_str_eq(json_string_value(json_object_get(ev, "id")), evt_id);
    json_decref(ev);
    delivery_clear(&d);
    free(body);
    sign_key_free(sender);
    sign_key_free(receiver);
    free(secret);
}
END_TEST

START_TEST(test_retries_keep_the_id)
{
    char *secret = sign_secret_new();
    struct sign_key *k = sign_key_new(secret);
    char *body = event_body("evt_01HKX9SYBBBBBBBBBBBBBBBBBB");
    const char *id = "msg_01HKX9SYBBBBBBBBBBBBBBBBBB";
    /* Each attempt re-signs with its own timestamp; the id stays. */
    struct delivery first, retry;
    delivery_init(&first, id, NOW_S, &k, 1, body);
    delivery_init(&retry, id, NOW_S + 3600, &k, 1, body);
    ck_assert_int_eq(receive(k, &first, NOW_S), SIGN_OK);
    ck_assert_int_eq(receive(k, &retry, NOW_S + 3600), SIGN_OK);
    ck_assert_str_ne(evhttp_find_header(&first.headers, "webhook-signature"),
                     evhttp_find_header(&retry.headers, "webhook-signature"));
    /* Replaying the first attempt an hour later is refused. */
    ck_assert_int_eq(receive(k, &first, NOW_S + 3600), SIGN_EXPIRED);
    delivery_clear(&first);
    delivery_clear(&retry);
    free(body);
    sign_key_free(k);
    free(secret);
}
END_TEST

START_TEST(test_rotation_and_foreign_secret)
{
    char *old_s = sign_secret_new(), *new_s = sign_secret_new(), *other_s = sign_secret_new();
    struct sign_key *old_k = sign_key_new(old_s), *new_k = sign_key_new(new_s);
    struct sign_key *other = sign_key_new(other_s);
    char *body = event_body("evt_01HKX9SYCCCCCCCCCCCCCCCCCC");
    struct sign_key *both[] = {new_k, old_k};
    struct delivery d;
    delivery_init(&d, "msg_01HKX9SYCCCCCCCCCCCCCCCCCC", NOW_S, both, 2, body);
    /* A receiver still on the old secret and one already on the new both accept. */
    ck_assert_int_eq(receive(old_k, &d, NOW_S), SIGN_OK);
    ck_assert_int_eq(receive(new_k, &d, NOW_S), SIGN_OK);
    ck_assert_int_eq(receive(other, &d, NOW_S), SIGN_MISMATCH);
    delivery_clear(&d);
    free(body);
    sign_key_free(old_k);
    sign_key_free(new_k);
    sign_key_free(other);
    free(old_s);
    free(new_s);
    free(other_s);
}
END_TEST

START_TEST(test_reencoded_body_fails)
{
    /* A receiver must verify the raw bytes: parsing and re-encoding the JSON
     * (here: pretty-printing) breaks the signature. */
    char *secret = sign_secret_new();
    struct sign_key *k = sign_key_new(secret);
    char *body = event_body("evt_01HKX9SYDDDDDDDDDDDDDDDDDD");
    struct delivery d;
    delivery_init(&d, "msg_01HKX9SYDDDDDDDDDDDDDDDDDD", NOW_S, &k, 1, body);
    json_error_t err;
    json_t *doc = json_loads(d.body, 0, &err);
    free(d.body);
    d.body = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    ck_assert_int_eq(receive(k, &d, NOW_S), SIGN_MISMATCH);
    /* A missing header is malformed input (400), not a bad signature (401). */
    evhttp_remove_header(&d.headers, "webhook-timestamp");
    ck_assert_int_eq(receive(k, &d, NOW_S), SIGN_MALFORMED);
    delivery_clear(&d);
    free(body);
    sign_key_free(k);
    free(secret);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("receiver_sign");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sign_then_receive);
    tcase_add_test(tc, test_retries_keep_the_id);
    tcase_add_test(tc, test_rotation_and_foreign_secret);
    tcase_add_test(tc, test_reencoded_body_fails);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
