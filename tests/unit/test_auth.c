/* auth: API key format and passwords. */
#include "auth/auth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_new_key_is_wellformed_with_prefix_and_hash(void **state)
{
    char key[AB_KEY_LEN + 1], prefix[AB_KEY_PREFIX_LEN + 1], hash[65], again[65];

    (void)state;
    ab_auth_key_new(key, prefix, hash);
    assert_int_equal(strlen(key), 39);
    assert_memory_equal(key, "ab_", 3);
    assert_memory_equal(key, prefix, AB_KEY_PREFIX_LEN);
    assert_int_equal(strlen(prefix), 11);
    assert_true(ab_auth_key_wellformed(key, strlen(key)));
    ab_auth_key_hash(key, strlen(key), again);
    assert_string_equal(hash, again);
    assert_int_equal(strlen(hash), 64);
}

static void test_two_keys_differ(void **state)
{
    char a[AB_KEY_LEN + 1], b[AB_KEY_LEN + 1], p[AB_KEY_PREFIX_LEN + 1], h[65];

    (void)state;
    ab_auth_key_new(a, p, h);
    ab_auth_key_new(b, p, h);
    assert_string_not_equal(a, b);
}

static void test_any_single_typo_fails_the_checksum(void **state)
{
    char key[AB_KEY_LEN + 1], prefix[AB_KEY_PREFIX_LEN + 1], hash[65];

    (void)state;
    ab_auth_key_new(key, prefix, hash);
    for (size_t i = 3; i < AB_KEY_LEN; i++) {
        char saved = key[i];

        key[i] = saved == 'a' ? 'b' : 'a';
        assert_false(ab_auth_key_wellformed(key, AB_KEY_LEN));
        key[i] = saved;
    }
    assert_true(ab_auth_key_wellformed(key, AB_KEY_LEN));
}

static void test_malformed_keys_are_refused(void **state)
{
    char key[AB_KEY_LEN + 1], prefix[AB_KEY_PREFIX_LEN + 1], hash[65];

    (void)state;
    ab_auth_key_new(key, prefix, hash);
    assert_false(ab_auth_key_wellformed("", 0));
    assert_false(ab_auth_key_wellformed("ab_", 3));
    assert_false(ab_auth_key_wellformed(key, AB_KEY_LEN - 1)); /* truncated */
    key[0] = 'x';
    assert_false(ab_auth_key_wellformed(key, AB_KEY_LEN)); /* wrong prefix */
    key[0] = 'a';
    key[10] = '\0';
    assert_false(ab_auth_key_wellformed(key, AB_KEY_LEN)); /* NUL inside */
    key[10] = '-';
    assert_false(ab_auth_key_wellformed(key, AB_KEY_LEN)); /* outside base62 */
}

static void test_password_hash_is_argon2id_and_verifies(void **state)
{
    char hash[AB_AUTH_HASH_MAX];
    struct ab_error err;

    (void)state;
    assert_int_equal(ab_auth_password_hash("correct horse", hash, &err), 0);
    assert_memory_equal(hash, "$argon2id$", 10);
    assert_true(ab_auth_password_verify(hash, "correct horse"));
    assert_false(ab_auth_password_verify(hash, "correct horsf"));
    assert_false(ab_auth_password_verify("not a hash", "correct horse"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_key_is_wellformed_with_prefix_and_hash),
        cmocka_unit_test(test_two_keys_differ),
        cmocka_unit_test(test_any_single_typo_fails_the_checksum),
        cmocka_unit_test(test_malformed_keys_are_refused),
        cmocka_unit_test(test_password_hash_is_argon2id_and_verifies),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
