/*
 * Signing in: a session key for the right password, one identical answer for every wrong
 * attempt (unknown tenant, unknown e-mail, wrong password), and a lock after repeated
 * failures that holds even against the right password, for a fixed time that further
 * guesses do not extend.
 */
#include "auth/auth.h"
#include "client.h"
#include "pg/pg.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static PGconn *db;
static char tenant[40], slug[64], user_id[40];

static long login(const char *tenant_slug, const char *email, const char *password,
                  struct api_response *r)
{
    char body[512];

    snprintf(body, sizeof(body), "{\"tenant\": \"%s\", \"email\": \"%s\", \"password\": \"%s\"}",
             tenant_slug, email, password);
    assert_int_equal(api_request("POST", "/v1/auth/login", body, strlen(body), NULL, r), 0);
    return r->status;
}

static int setup(void **state)
{
    char hash[AB_AUTH_HASH_MAX];
    const char *p[2] = {slug, hash};
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_login", &db, &err) != 0)
        return -1;
    snprintf(slug, sizeof(slug), "login-%u", randombytes_random() % 1000000);
    if (ab_auth_password_hash("correct horse battery", hash, &err) != 0)
        return -1;
    api_sql(db,
            "WITH t AS (INSERT INTO agentbase.tenants (slug, name) VALUES ($1, $1) RETURNING id) "
            "INSERT INTO agentbase.users (tenant_id, email, username, password_hash, role) "
            "SELECT id, 'ada@example.com', 'ada', $2, 'user' FROM t RETURNING id",
            2, p, user_id, sizeof(user_id));
    api_sql(db, "SELECT tenant_id FROM agentbase.users WHERE id = $1::uuid", 1,
            (const char *[]){user_id}, tenant, sizeof(tenant));
    return 0;
}

static int teardown(void **state)
{
    const char *p[1] = {tenant};

    (void)state;
    api_sql(db, "DELETE FROM agentbase.tenants WHERE id = $1::uuid", 1, p, NULL, 0);
    PQfinish(db);
    return 0;
}

static void test_the_right_password_gives_a_session_key_for_the_user(void **state)
{
    struct api_response r, who;
    char auth[128], want[128];
    const char *headers[2] = {auth, NULL};
    json_t *doc;

    (void)state;
    assert_int_equal(login(slug, "ADA@example.com", "correct horse battery", &r), 200);
    doc = json_loads(r.body, 0, NULL);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
             json_string_value(json_object_get(doc, "key")));
    assert_non_null(json_object_get(doc, "expires_at"));
    assert_int_equal(api_request("GET", "/v1/auth/whoami", NULL, 0, headers, &who), 0);
    assert_int_equal(who.status, 200);
    snprintf(want, sizeof(want), "\"user_id\": \"%s\"", user_id);
    assert_non_null(strstr(who.body, want));
    api_response_free(&who);
    api_response_free(&r);
    json_decref(doc);
}

static void test_every_wrong_attempt_gets_the_same_answer(void **state)
{
    static const char expected[] =
        "{\"error\":{\"code\":\"unauthorized\",\"message\":\"invalid tenant, email or password\"}}";
    struct api_response r;

    (void)state;
    assert_int_equal(login(slug, "ada@example.com", "wrong", &r), 401);
    assert_string_equal(api_error_text(&r), expected);
    api_response_free(&r);
    assert_int_equal(login(slug, "nobody@example.com", "wrong", &r), 401);
    assert_string_equal(api_error_text(&r), expected);
    api_response_free(&r);
    assert_int_equal(login("no-such-tenant", "ada@example.com", "wrong", &r), 401);
    assert_string_equal(api_error_text(&r), expected);
    api_response_free(&r);
}

static void test_repeated_failures_lock_the_account(void **state)
{
    struct api_response r;
    const char *p[1] = {user_id};
    char locked[8], until[64], again[64];

    (void)state;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(login(slug, "ada@example.com", "wrong", &r), 401);
        api_response_free(&r);
    }
    api_sql(db, "SELECT locked_until > now() FROM agentbase.users WHERE id = $1::uuid", 1, p,
            locked, sizeof(locked));
    assert_string_equal(locked, "t");
    /* guesses during the lock, the right password among them, do not extend it */
    api_sql(db, "SELECT locked_until::text FROM agentbase.users WHERE id = $1::uuid", 1, p, until,
            sizeof(until));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(login(slug, "ada@example.com", i ? "wrong" : "correct horse battery", &r),
                         401);
        api_response_free(&r);
    }
    api_sql(db, "SELECT locked_until::text FROM agentbase.users WHERE id = $1::uuid", 1, p, again,
            sizeof(again));
    assert_string_equal(until, again);
    /* once the lock has passed, the right password works and resets the count */
    api_sql(db,
            "UPDATE agentbase.users SET locked_until = now() - interval '1 s' WHERE id = $1::uuid",
            1, p, NULL, 0);
    assert_int_equal(login(slug, "ada@example.com", "correct horse battery", &r), 200);
    api_response_free(&r);
    api_sql(db, "SELECT failed_login_attempts FROM agentbase.users WHERE id = $1::uuid", 1, p,
            locked, sizeof(locked));
    assert_string_equal(locked, "0");
}

static void test_a_failed_sign_in_is_in_the_tenants_audit_trail(void **state)
{
    const char *p[1] = {user_id};
    char before[16], after[16];
    struct api_response r;
    static const char count[] =
        "SELECT count(*) FROM agentbase.audit_logs WHERE resource_id = $1 AND action = "
        "'auth.login' AND status = 'failure' AND error_message = 'sign-in refused'";

    (void)state;
    api_sql(db, count, 1, p, before, sizeof(before));
    assert_int_equal(login(slug, "ada@example.com", "wrong again", &r), 401);
    api_response_free(&r);
    api_sql(db, count, 1, p, after, sizeof(after));
    assert_int_equal(atoi(after), atoi(before) + 1);
}

static void test_a_malformed_login_is_400(void **state)
{
    struct api_response r;

    (void)state;
    assert_int_equal(api_request("POST", "/v1/auth/login", "{\"email\": 1}", 12, NULL, &r), 0);
    assert_int_equal(r.status, 400);
    api_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_right_password_gives_a_session_key_for_the_user),
        cmocka_unit_test(test_every_wrong_attempt_gets_the_same_answer),
        cmocka_unit_test(test_repeated_failures_lock_the_account),
        cmocka_unit_test(test_a_failed_sign_in_is_in_the_tenants_audit_trail),
        cmocka_unit_test(test_a_malformed_login_is_400),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
