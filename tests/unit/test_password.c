/*
 * test_password.c - PBKDF2-HMAC-SHA256 against published vectors and OpenSSL's
 * own implementation, and the stored form of SCIM user passwords.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "password.h"
#include "util.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

START_TEST(test_vectors)
{
    unsigned char out[32];
    char h[65];
    /* RFC 7914 section 11, first 32 bytes. */
    password_pbkdf2_sha256("passwd", 6, (const unsigned char *)"salt", 4, 1, out);
    hex(out, 32, h);
    ck_assert_str_eq(h, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
    password_pbkdf2_sha256("password", 8, (const unsigned char *)"salt", 4, 4096, out);
    hex(out, 32, h);
    ck_assert_str_eq(h, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
}
END_TEST

START_TEST(test_matches_openssl)
{
    /* Passwords and salts around the 64-byte block boundary, where the key is
     * hashed first. */
    for (size_t len = 0; len < 150; len += 7) {
        char pw[200];
        unsigned char salt[100], a[32], b[32];
        util_random(pw, len);
        util_random(salt, sizeof salt);
        size_t saltlen = len % 97;
        unsigned iter = 1 + (unsigned)len % 5 * 300;
        password_pbkdf2_sha256(pw, len, salt, saltlen, iter, a);
        ck_assert_int_eq(PKCS5_PBKDF2_HMAC(pw, (int)len, salt, (int)saltlen, (int)iter,
                                           EVP_sha256(), 32, b),
                         1);
        ck_assert_msg(memcmp(a, b, 32) == 0, "differs at length %zu", len);
    }
}
END_TEST

START_TEST(test_hash_and_match)
{
    char *h1 = password_hash("t1meMachine!"), *h2 = password_hash("t1meMachine!");
    ck_assert_ptr_eq(strstr(h1, "t1meMachine"), NULL);
    ck_assert_int_eq(strncmp(h1, "pbkdf2-sha256$2000$", 19), 0);
    ck_assert_str_ne(h1, h2); /* salted */
    ck_assert(password_matches("t1meMachine!", h1));
    ck_assert(password_matches("t1meMachine!", h2));
    ck_assert(!password_matches("t1meMachine", h1));
    ck_assert(!password_matches("", h1));
    ck_assert(!password_matches("t1meMachine!", "plain"));
    ck_assert(!password_matches("t1meMachine!", "pbkdf2-sha256$x$AAAA$AAAA"));
    ck_assert(!password_matches("t1meMachine!", "pbkdf2-sha256$10$AAAA"));
    ck_assert(!password_matches("t1meMachine!", "pbkdf2-sha256$10$!!$AAAA"));
    free(h1);
    free(h2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("password");
    TCase *tc = tcase_create("pbkdf2");
    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_matches_openssl);
    tcase_add_test(tc, test_hash_and_match);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
