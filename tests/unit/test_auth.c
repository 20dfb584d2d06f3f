/* auth: API key format and passwords. */
#include "auth/auth.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

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

/* Jobs the pool has finished, and a gate that holds the first job's done() until opened. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static int pool_done;
static bool pool_gate_open = true;

static void job_done(struct ab_auth_job *job)
{
    (void)job;
    pthread_mutex_lock(&pool_lock);
    while (!pool_gate_open)
        pthread_cond_wait(&pool_cond, &pool_lock);
    pool_done++;
    pthread_cond_broadcast(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
}

static void wait_done(int n)
{
    pthread_mutex_lock(&pool_lock);
    while (pool_done < n)
        pthread_cond_wait(&pool_cond, &pool_lock);
    pthread_mutex_unlock(&pool_lock);
}

static void test_the_pool_verifies_then_hashes_and_bounds_its_queue(void **state)
{
    char hash[AB_AUTH_HASH_MAX];
    struct ab_auth_job verify = {.password = "correct horse", .done = job_done},
                       change = {.password = "correct horse",
                                 .new_password = "battery staple",
                                 .done = job_done},
                       wrong = {.password = "correct horsf",
                                .new_password = "battery staple",
                                .done = job_done},
                       create = {.new_password = "battery staple", .done = job_done}, more[3];
    struct ab_auth_hasher *h;
    struct ab_error err;

    (void)state;
    assert_int_equal(ab_auth_password_hash("correct horse", hash, &err), 0);
    verify.hash = change.hash = wrong.hash = hash;
    assert_int_equal(ab_auth_hasher_start(1, 4, &h, &err), 0);
    assert_int_equal(ab_auth_hasher_submit(h, &verify), 0);
    assert_int_equal(ab_auth_hasher_submit(h, &change), 0);
    assert_int_equal(ab_auth_hasher_submit(h, &wrong), 0);
    assert_int_equal(ab_auth_hasher_submit(h, &create), 0);
    wait_done(4);
    assert_true(verify.ok);
    assert_false(verify.hashed);
    assert_true(change.ok);
    assert_true(change.hashed);
    assert_true(ab_auth_password_verify(change.new_hash, "battery staple"));
    assert_false(wrong.ok);
    assert_false(wrong.hashed); /* no hash for a wrong old password */
    assert_true(create.ok);
    assert_true(create.hashed);
    assert_true(ab_auth_password_verify(create.new_hash, "battery staple"));

    /* One thread held in done(), a queue of 2 full: the next is refused. */
    pthread_mutex_lock(&pool_lock);
    pool_gate_open = false;
    pool_done = 0;
    pthread_mutex_unlock(&pool_lock);
    for (int i = 0; i < 3; i++)
        more[i] = (struct ab_auth_job){.hash = hash, .password = "x", .done = job_done};
    ab_auth_hasher_stop(h);
    ab_auth_hasher_free(h);
    assert_int_equal(ab_auth_hasher_start(1, 1, &h, &err), 0);
    assert_int_equal(ab_auth_hasher_submit(h, &more[0]), 0);
    /* the thread takes more[0] off the queue (then waits at the gate), so one more fits */
    for (int i = 0; i < 200 && ab_auth_hasher_submit(h, &more[1]) != 0; i++)
        usleep(10000);
    assert_int_equal(ab_auth_hasher_submit(h, &more[2]), AB_ECONFLICT);
    pthread_mutex_lock(&pool_lock);
    pool_gate_open = true;
    pthread_cond_broadcast(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
    ab_auth_hasher_stop(h); /* finishes what is queued */
    assert_int_equal(pool_done, 2);
    assert_int_equal(ab_auth_hasher_submit(h, &more[2]), AB_ECONFLICT);
    ab_auth_hasher_free(h);
}

/* The rule password breaks for ada@example.com (username ada_l), or "" when none. */
static const char *rule(const char *password)
{
    const char *why = NULL, *r = ab_auth_password_rule(password, "Ada@Example.com", "ada_l", &why);

    if (r)
        assert_non_null(why);
    return r ? r : "";
}

static void test_a_password_needs_twelve_characters_counted_not_bytes(void **state)
{
    (void)state;
    assert_string_equal(rule("tR7#kq9!vZ2"), "min_length"); /* 11 */
    assert_string_equal(rule("tR7#kq9!vZ2m"), "");          /* 12 */
    assert_string_equal(rule("\xc3\xa9t\xc3\xa9 \xc3\xa0 l'\xc3\xaele"),
                        "min_length"); /* 11 characters, 16 bytes */
    assert_string_equal(rule("\xc3\xa9t\xc3\xa9 \xc3\xa0 l'\xc3\xaeles"), "");
}

static void test_a_password_is_at_most_1024_bytes(void **state)
{
    char big[AB_PASSWORD_MAX_BYTES + 2];

    (void)state;
    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = "kq9vZ2mTx7"[i % 7 + (i / 7) % 3];
    big[AB_PASSWORD_MAX_BYTES] = '\0';
    assert_string_equal(rule(big), "");
    big[AB_PASSWORD_MAX_BYTES] = 'x';
    big[AB_PASSWORD_MAX_BYTES + 1] = '\0';
    assert_string_equal(rule(big), "max_length");
}

static void test_common_passwords_are_refused_however_decorated(void **state)
{
    static const char *const common[] = {
        "password1234",
        "Password2024!",
        "P@ssw0rd2024",
        "iloveyou1234",
        "qwertyuiop12",
        "1qaz2wsx3edc",
        "correcthorsebatterystaple",
        "Sunshine!!2024",
        "123456789012",
        "000000000000",
        "abcdefghijkl",
        "9876543210987",
        "summer2024summer2024",
        "abababababab",
        "letmein!letmein!",
        "Michael19901990",
        "!!dragon2000!!",
        "passwordpassword",
        "ADMINISTRATOR1",
        "zaq12wsxcde3",
        "ch@ngeme2025!",
    };

    (void)state;
    for (size_t i = 0; i < AB_ARRAY_LEN(common); i++)
        if (strcmp(rule(common[i]), "common") != 0)
            fail_msg("%s is not refused as common (%s)", common[i], rule(common[i]));
}

static void test_passphrases_and_random_passwords_pass(void **state)
{
    static const char *const fine[] = {
        "purple-otter-mends-kettles", "tR7#kq9!vZ2m",
        "correct horse battery",      "Xk3f9QaLm0Zp",
        "dragonfly over the lake",    "2 quiet foxes jumped",
    };

    (void)state;
    for (size_t i = 0; i < AB_ARRAY_LEN(fine); i++)
        if (strcmp(rule(fine[i]), "") != 0)
            fail_msg("%s is refused (%s)", fine[i], rule(fine[i]));
}

static void test_the_e_mail_and_username_are_refused_in_any_case(void **state)
{
    (void)state;
    assert_string_equal(rule("ada@example.com"), "personal");
    assert_string_equal(rule("ADA@EXAMPLE.COM"), "personal");
    assert_string_equal(rule("ada_l12345678"), "personal");
    assert_string_equal(
        ab_auth_password_rule("Bob.1!!!!!!!!!!", NULL, "bob.1", &(const char *){NULL}), "personal");
    assert_string_equal(rule("Ada@Example.com!"), "personal");
    assert_string_equal(rule("write to ada@example.com"), "");
    assert_string_equal(ab_auth_password_rule("ada_lovelace", "ada_lovelace@example.com", NULL,
                                              &(const char *){NULL}),
                        "personal");
    assert_null(ab_auth_password_rule("ada_lovelace", NULL, NULL, &(const char *){NULL}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_key_is_wellformed_with_prefix_and_hash),
        cmocka_unit_test(test_two_keys_differ),
        cmocka_unit_test(test_any_single_typo_fails_the_checksum),
        cmocka_unit_test(test_malformed_keys_are_refused),
        cmocka_unit_test(test_password_hash_is_argon2id_and_verifies),
        cmocka_unit_test(test_the_pool_verifies_then_hashes_and_bounds_its_queue),
        cmocka_unit_test(test_a_password_needs_twelve_characters_counted_not_bytes),
        cmocka_unit_test(test_a_password_is_at_most_1024_bytes),
        cmocka_unit_test(test_common_passwords_are_refused_however_decorated),
        cmocka_unit_test(test_passphrases_and_random_passwords_pass),
        cmocka_unit_test(test_the_e_mail_and_username_are_refused_in_any_case),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
