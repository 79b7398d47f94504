/*
 * test_util.c - unit tests of util.c and ids.c.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "util.h"

START_TEST(test_rfc3339_roundtrip)
{
    int64_t ms;
    ck_assert(util_parse_rfc3339("2024-05-01T12:34:56.789Z", &ms));
    char buf[40];
    ck_assert_str_eq(util_format_rfc3339(ms, buf, sizeof buf), "2024-05-01T12:34:56.789Z");
    ck_assert(util_parse_rfc3339("2024-05-01T14:34:56.789+02:00", &ms));
    ck_assert_str_eq(util_format_rfc3339(ms, buf, sizeof buf), "2024-05-01T12:34:56.789Z");
    ck_assert(util_parse_rfc3339("2011-08-01T18:29:49Z", &ms));
    ck_assert(!util_parse_rfc3339("2011-08-01", &ms));
    ck_assert(!util_parse_rfc3339("2011-02-30T00:00:00Z", &ms));
    ck_assert(!util_parse_rfc3339("2011-08-01T18:29:49", &ms));
    ck_assert(!util_parse_rfc3339("2011-08-01T18:29:49Zjunk", &ms));
    ck_assert(!util_parse_rfc3339("x' OR 1=1 --", &ms));
}
END_TEST

START_TEST(test_ids)
{
    char a[IDS_MAX], b[IDS_MAX];
    ids_new_at("usr_", 1000, a);
    ids_new_at("usr_", 2000, b);
    ck_assert_int_eq(strlen(a), 4 + IDS_ULID_LEN);
    ck_assert(strcmp(a, b) < 0);
    ck_assert(ids_valid("usr_", a));
    ck_assert(!ids_valid("grp_", a));
    ck_assert(!ids_valid("usr_", "usr_short"));
    ck_assert(!ids_valid("usr_", "usr_0000000000000000000000000I"));
}
END_TEST

START_TEST(test_base64_and_hex)
{
    char *s = util_base64("hello", 5);
    ck_assert_str_eq(s, "aGVsbG8=");
    size_t n;
    unsigned char *d = util_base64_decode(s, &n);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(n, 5);
    ck_assert(memcmp(d, "hello", 5) == 0);
    free(d);
    free(s);
    ck_assert_ptr_null(util_base64_decode("a*==", &n));
    ck_assert_ptr_null(util_base64_decode("abc", &n));
    char hex[65];
    util_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_utf8)
{
    ck_assert(util_utf8_valid("h\xc3\xa9llo", 6));
    ck_assert(!util_utf8_valid("\xc3", 1));
    ck_assert(!util_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    ck_assert(!util_utf8_valid("\xc0\xaf", 2));     /* overlong */
    ck_assert(util_utf8_valid("\xf0\x9f\x98\x80", 4));
}
END_TEST

START_TEST(test_strbuf_and_ints)
{
    struct strbuf b = {0};
    for (int i = 0; i < 1000; i++)
        strbuf_printf(&b, "%d,", i);
    ck_assert_int_eq(b.len, strlen(b.s));
    strbuf_clear(&b);
    long long v;
    ck_assert(util_parse_int("42", 0, 100, &v) && v == 42);
    ck_assert(!util_parse_int("101", 0, 100, &v));
    ck_assert(!util_parse_int("4x", 0, 100, &v));
    ck_assert(!util_parse_int("", 0, 100, &v));
    ck_assert(!util_parse_int(" 4", 0, 100, &v));
    ck_assert(util_streq_ci("UserName", "username"));
    ck_assert(!util_streq_ci("UserName", "usernam"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rfc3339_roundtrip);
    tcase_add_test(tc, test_ids);
    tcase_add_test(tc, test_base64_and_hex);
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_strbuf_and_ints);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
