/*
 * test_sign.c - unit tests of sign.c (Standard Webhooks secrets and signatures).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"
#include "util.h"

/* The Standard Webhooks reference libraries' signing test
 * (libraries/go/webhook_test.go, TestWebhookSign). */
#define STD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define STD_MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define STD_TS 1614265330
#define STD_BODY "{\"test\": 2432232314}"
#define STD_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* Computed outside this code base with
 *   printf '%s' "$msg" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64
 * key = bytes 0x00..0x3f (64 bytes). */
#define K64_SECRET                                                                     \
    "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4" \
    "OTo7PD0+Pw=="
#define K64_MSG_ID "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
#define K64_TS 1674087231
#define K64_BODY                                                                      \
    "{\"type\":\"contact.created\",\"timestamp\":\"2022-11-03T20:26:10.344522Z\","      \
    "\"data\":{\"id\":\"1f81eb52-5198-4599-803e-771906343485\"}}"
#define K64_SIG "v1,9LtGxwbZoGrF8oS2FH4IGhfQpdLVQZEa0OR1k5rX7yE="
/* key = 24 bytes of 0xa5, empty body, timestamp 0. */
#define K24_SECRET "whsec_paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWl"
#define K24_SIG "v1,DuFwpdxfE++p2RXqWT2gAYxACfs3FpJrLI8lV5tO7E8="

static enum sign_result verify_now(const struct sign_key *k, const char *id, const char *ts,
                                   const char *sigs, const char *body, int64_t now)
{
    return sign_verify(k, id, ts, sigs, body, body ? strlen(body) : 0, now,
                       SIGN_TOLERANCE_DEFAULT_S);
}

START_TEST(test_published_vector)
{
    struct sign_key *k = sign_key_new(STD_SECRET);
    ck_assert_ptr_nonnull(k);
    char *sig = sign_signature_new(k, STD_MSG_ID, STD_TS, STD_BODY, strlen(STD_BODY));
    ck_assert_str_eq(sig, STD_SIG);
    ck_assert_int_eq(verify_now(k, STD_MSG_ID, "1614265330", STD_SIG, STD_BODY, STD_TS),
                     SIGN_OK);
    free(sig);
    sign_key_free(k);
}
END_TEST

START_TEST(test_openssl_vectors)
{
    struct sign_key *k = sign_key_new(K64_SECRET);
    ck_assert_ptr_nonnull(k);
    char *sig = sign_signature_new(k, K64_MSG_ID, K64_TS, K64_BODY, strlen(K64_BODY));
    ck_assert_str_eq(sig, K64_SIG);
    free(sig);
    sign_key_free(k);

    k = sign_key_new(K24_SECRET);
    ck_assert_ptr_nonnull(k);
    sig = sign_signature_new(k, "evt_01HKX9SY", 0, NULL, 0);
    ck_assert_str_eq(sig, K24_SIG);
    ck_assert_int_eq(sign_verify(k, "evt_01HKX9SY", "0", sig, NULL, 0, 0, 0), SIGN_OK);
    free(sig);
    sign_key_free(k);
}
END_TEST

START_TEST(test_secret_new)
{
    char *a = sign_secret_new(), *b = sign_secret_new();
    ck_assert(strncmp(a, "whsec_", 6) == 0);
    ck_assert_int_eq(strlen(a), 6 + 44);
    ck_assert_str_ne(a, b);
    size_t n;
    unsigned char *raw = util_base64_decode(a + 6, &n);
    ck_assert_ptr_nonnull(raw);
    ck_assert_int_eq(n, SIGN_SECRET_BYTES);
    free(raw);

    struct sign_key *ka = sign_key_new(a), *kb = sign_key_new(b);
    ck_assert_ptr_nonnull(ka);
    ck_assert_ptr_nonnull(kb);
    const char *body = "{\"id\":\"evt_1\"}";
    char *sig = sign_signature_new(ka, "msg_1", 1700000000, body, strlen(body));
    ck_assert_int_eq(verify_now(ka, "msg_1", "1700000000", sig, body, 1700000000), SIGN_OK);
    ck_assert_int_eq(verify_now(kb, "msg_1", "1700000000", sig, body, 1700000000),
                     SIGN_MISMATCH);
    free(sig);
    sign_key_free(ka);
    sign_key_free(kb);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_key_parse_rejects)
{
    ck_assert_ptr_null(sign_key_new(NULL));
    ck_assert_ptr_null(sign_key_new(""));
    ck_assert_ptr_null(sign_key_new("whsec_"));
    ck_assert_ptr_null(sign_key_new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")); /* no prefix */
    ck_assert_ptr_null(sign_key_new("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    ck_assert_ptr_null(sign_key_new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS*"));
    ck_assert_ptr_null(sign_key_new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS")); /* length */
    /* 16 bytes: too short. */
    ck_assert_ptr_null(sign_key_new("whsec_AAECAwQFBgcICQoLDA0ODw=="));
    /* 65 bytes: too long. */
    ck_assert_ptr_null(sign_key_new(
        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4"
        "OTo7PD0+P0A="));
    sign_key_free(NULL);
}
END_TEST

START_TEST(test_rotation_list)
{
    struct sign_key *old_k = sign_key_new(K64_SECRET), *new_k = sign_key_new(STD_SECRET);
    struct strbuf h = {0};
    ck_assert(sign_signature_append(&h, new_k, "msg_rot", 1700000000, "{}", 2));
    ck_assert(sign_signature_append(&h, old_k, "msg_rot", 1700000000, "{}", 2));
    ck_assert_ptr_nonnull(strchr(h.s, ' '));
    ck_assert_int_eq(verify_now(old_k, "msg_rot", "1700000000", h.s, "{}", 1700000000),
                     SIGN_OK);
    ck_assert_int_eq(verify_now(new_k, "msg_rot", "1700000000", h.s, "{}", 1700000000),
                     SIGN_OK);
    /* Other schemes and garbage around a valid entry are ignored. */
    char *mixed = xasprintf("v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw==  v2,%s junk %s  ",
                            &STD_SIG[3], STD_SIG);
    ck_assert_int_eq(verify_now(new_k, STD_MSG_ID, "1614265330", mixed, STD_BODY, STD_TS),
                     SIGN_OK);
    free(mixed);
    ck_assert_int_eq(verify_now(new_k, STD_MSG_ID, "1614265330",
                                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,x",
                                STD_BODY, STD_TS),
                     SIGN_MISMATCH);
    strbuf_clear(&h);
    sign_key_free(old_k);
    sign_key_free(new_k);
}
END_TEST

START_TEST(test_tampering_and_malformed)
{
    struct sign_key *k = sign_key_new(STD_SECRET);
    const char *ts = "1614265330";
    ck_assert_int_eq(verify_now(k, STD_MSG_ID, ts, STD_SIG, "{\"test\": 2432232315}", STD_TS),
                     SIGN_MISMATCH);
    ck_assert_int_eq(verify_now(k, "msg_p5jXN8AQM9LWM0D4loKWxJeK", ts, STD_SIG, STD_BODY,
                                STD_TS),
                     SIGN_MISMATCH);
    ck_assert_int_eq(verify_now(k, STD_MSG_ID, "1614265331", STD_SIG, STD_BODY, STD_TS),
                     SIGN_MISMATCH);
    ck_assert_int_eq(verify_now(k, STD_MSG_ID, ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
                                STD_BODY, STD_TS),
                     SIGN_MISMATCH);
    ck_assert_int_eq(verify_now(k, NULL, ts, STD_SIG, STD_BODY, STD_TS), SIGN_MALFORMED);
    ck_assert_int_eq(verify_now(k, STD_MSG_ID, NULL, STD_SIG, STD_BODY, STD_TS), SIGN_MALFORMED);
    ck_assert_int_eq(verify_now(k, STD_MSG_ID, ts, NULL, STD_BODY, STD_TS), SIGN_MALFORMED);
    ck_assert_int_eq(verify_now(k, STD_MSG_ID, ts, "   ", STD_BODY, STD_TS), SIGN_MALFORMED);
    ck_assert_int_eq(verify_now(k, "", ts, STD_SIG, STD_BODY, STD_TS), SIGN_MALFORMED);
    ck_assert_int_eq(verify_now(k, "msg.1", ts, STD_SIG, STD_BODY, STD_TS), SIGN_MALFORMED);
    const char *bad_ts[] = {"", "+1614265330", "-1614265330", " 1614265330", "1614265330 ",
                            "16142653.0", "1614265330000000", "0x10"};
    for (size_t i = 0; i < ARRAY_LEN(bad_ts); i++)
        ck_assert_int_eq(verify_now(k, STD_MSG_ID, bad_ts[i], STD_SIG, STD_BODY, STD_TS),
                         SIGN_MALFORMED);
    /* Zero-padded timestamps are signed as sent, so the reference signature fails. */
    ck_assert_int_eq(verify_now(k, STD_MSG_ID, "01614265330", STD_SIG, STD_BODY, STD_TS),
                     SIGN_MISMATCH);
    sign_key_free(k);
}
END_TEST

START_TEST(test_tolerance)
{
    struct sign_key *k = sign_key_new(STD_SECRET);
    const char *ts = "1614265330";
    size_t n = strlen(STD_BODY);
    ck_assert_int_eq(sign_verify(k, STD_MSG_ID, ts, STD_SIG, STD_BODY, n, STD_TS + 300, 300),
                     SIGN_OK);
    ck_assert_int_eq(sign_verify(k, STD_MSG_ID, ts, STD_SIG, STD_BODY, n, STD_TS - 300, 300),
                     SIGN_OK);
    ck_assert_int_eq(sign_verify(k, STD_MSG_ID, ts, STD_SIG, STD_BODY, n, STD_TS + 301, 300),
                     SIGN_EXPIRED);
    ck_assert_int_eq(sign_verify(k, STD_MSG_ID, ts, STD_SIG, STD_BODY, n, STD_TS - 301, 300),
                     SIGN_EXPIRED);
    /* Replay of a recorded message: the check can be skipped, the MAC cannot. */
    ck_assert_int_eq(sign_verify(k, STD_MSG_ID, ts, STD_SIG, STD_BODY, n, 2000000000, -1),
                     SIGN_OK);
    ck_assert_int_eq(sign_verify(k, STD_MSG_ID, ts, STD_SIG, "{}", 2, 2000000000, -1),
                     SIGN_MISMATCH);
    /* A forged message is reported as a mismatch even when it is also stale. */
    ck_assert_int_eq(sign_verify(k, STD_MSG_ID, ts, STD_SIG, "{}", 2, STD_TS + 9999, 300),
                     SIGN_MISMATCH);
    ck_assert_str_eq(sign_result_str(SIGN_EXPIRED), "timestamp outside tolerance");
    sign_key_free(k);
}
END_TEST

START_TEST(test_msg_id_rules)
{
    struct sign_key *k = sign_key_new(STD_SECRET);
    ck_assert(sign_msg_id_valid("msg_01HKX9SY"));
    ck_assert(!sign_msg_id_valid("msg.1"));
    ck_assert(!sign_msg_id_valid("msg 1"));
    ck_assert(!sign_msg_id_valid("msg\n1"));
    ck_assert(!sign_msg_id_valid("msg_\xc3\xa9"));
    char long_id[SIGN_MSG_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    ck_assert(!sign_msg_id_valid(long_id));
    long_id[SIGN_MSG_ID_MAX] = '\0';
    ck_assert(sign_msg_id_valid(long_id));
    ck_assert_ptr_null(sign_signature_new(k, "a.1", 23, "x", 1));
    ck_assert_ptr_null(sign_signature_new(k, "msg_1", -1, "x", 1));
    struct strbuf h = {0};
    ck_assert(!sign_signature_append(&h, k, "", 1, "x", 1));
    ck_assert_int_eq(h.len, 0);
    sign_key_free(k);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sign");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_published_vector);
    tcase_add_test(tc, test_openssl_vectors);
    tcase_add_test(tc, test_secret_new);
    tcase_add_test(tc, test_key_parse_rejects);
    tcase_add_test(tc, test_rotation_list);
    tcase_add_test(tc, test_tampering_and_malformed);
    tcase_add_test(tc, test_tolerance);
    tcase_add_test(tc, test_msg_id_rules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
