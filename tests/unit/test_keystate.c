/* The per-key state (src/api/keystate.c): exact per key, bounded, not bypassed by churn. */
#include "api/api.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* The slot the old table (8,192 slots, djb2) gave a key: keys with one slot shared a bucket. */
static size_t old_slot(const char *s)
{
    size_t h = 5381;

    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h % 8192;
}

/* Mints n key ids that all fell into the same old slot. */
static void mint_colliding(char (*keys)[40], size_t n)
{
    size_t found = 0, want = 0;

    for (unsigned long i = 0; found < n; i++) {
        char k[40];

        snprintf(k, sizeof(k), "0190c0de-0000-7000-8000-%012lu", i);
        if (found == 0)
            want = old_slot(k);
        if (old_slot(k) != want)
            continue;
        memcpy(keys[found++], k, sizeof(k));
    }
}

static void test_keys_that_shared_a_slot_are_each_limited(void **state)
{
    enum { N = 40 };
    char keys[N][40];
    struct ab_keystate *ks;

    (void)state;
    mint_colliding(keys, N);
    for (size_t i = 1; i < N; i++)
        assert_int_equal(old_slot(keys[i]), old_slot(keys[0]));
    /* 1 a second, bursts of 2; every key used in turn, so each new one would have taken the
     * old slot over with a full bucket. */
    assert_int_equal(ab_keystate_create(1, 2, 1024, &ks), 0);
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < N; i++)
            assert_int_equal(ab_keystate_take(ks, keys[i]), 0);
    for (size_t i = 0; i < N; i++)
        assert_true(ab_keystate_take(ks, keys[i]) >= 1);
    assert_int_equal(ab_keystate_forced_evictions(ks), 0);
    ab_keystate_destroy(ks);
}

static void test_a_limited_key_stays_limited_while_many_others_come_and_go(void **state)
{
    struct ab_keystate *ks;
    char key[40];

    (void)state;
    /* The smallest table (32 slots a shard: 2,048), far fewer than the keys below. */
    assert_int_equal(ab_keystate_create(0.001, 2, 1, &ks), 0);
    assert_int_equal(ab_keystate_take(ks, "drained"), 0);
    assert_int_equal(ab_keystate_take(ks, "drained"), 0);
    assert_true(ab_keystate_take(ks, "drained") >= 1);
    for (int i = 0; i < 50000; i++) {
        snprintf(key, sizeof(key), "other-%d", i);
        assert_int_equal(ab_keystate_take(ks, key), 0);
    }
    /* The others were forgotten to make room (bounded memory), the drained key was not. */
    assert_true(ab_keystate_forced_evictions(ks) > 0);
    assert_true(ab_keystate_take(ks, "drained") >= 1);
    ab_keystate_destroy(ks);
}

static void test_retry_after_is_the_seconds_until_a_token(void **state)
{
    struct ab_keystate *ks;

    (void)state;
    assert_int_equal(ab_keystate_create(10.0 / 60.0, 10, 1024, &ks), 0); /* 10 a minute */
    for (int i = 0; i < 10; i++)
        assert_int_equal(ab_keystate_take(ks, "acct"), 0);
    assert_in_range(ab_keystate_take(ks, "acct"), 5, 6);
    ab_keystate_destroy(ks);
}

static void test_no_rate_means_no_limit(void **state)
{
    struct ab_keystate *ks;

    (void)state;
    assert_int_equal(ab_keystate_create(0, 0, 1024, &ks), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ab_keystate_take(ks, "k"), 0);
    ab_keystate_destroy(ks);
}

static void test_last_use_is_due_once_per_key_then_not_again_soon(void **state)
{
    struct ab_keystate *ks;
    char keys[8][40];

    (void)state;
    mint_colliding(keys, 8);
    assert_int_equal(ab_keystate_create(1, 2, 1024, &ks), 0);
    for (int i = 0; i < 8; i++)
        assert_true(ab_keystate_touch_due(ks, keys[i]));
    for (int i = 0; i < 8; i++)
        assert_false(ab_keystate_touch_due(ks, keys[i]));
    ab_keystate_destroy(ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_that_shared_a_slot_are_each_limited),
        cmocka_unit_test(test_a_limited_key_stays_limited_while_many_others_come_and_go),
        cmocka_unit_test(test_retry_after_is_the_seconds_until_a_token),
        cmocka_unit_test(test_no_rate_means_no_limit),
        cmocka_unit_test(test_last_use_is_due_once_per_key_then_not_again_soon),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
