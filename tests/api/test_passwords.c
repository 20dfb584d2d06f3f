/*
 * Passwords over HTTP: set when an admin creates a user, changed by the user with the old
 * one (the other sessions end, the current one keeps working), reset by an admin (the
 * user's sessions end and the next session can do nothing but change it), refused when
 * weak with a 400 naming the field and the rule, and never settable by a plain user for
 * someone else. The sign-in lock still holds. Keys are minted as agentbase keys does.
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
static char tenant[40], slug[64], admin_key[64];
static char other_tenant[40], other_slug[64], other_admin_key[64];
static int users_made;

/* Sends method path with key (NULL: none) and body (NULL: none); the response goes to out
 * when given (the caller frees it). Returns the status. */
static long call(const char *method, const char *path, const char *key, const char *body,
                 struct api_response *out)
{
    char auth[128];
    const char *headers[2] = {NULL, NULL};
    struct api_response r;
    long status;

    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        headers[0] = auth;
    }
    assert_int_equal(api_request(method, path, body, body ? strlen(body) : 0, headers, &r), 0);
    status = r.status;
    if (out)
        *out = r;
    else
        api_response_free(&r);
    return status;
}

/* Asserts that r is the error status/code and that its message contains each of parts. */
static void expect_error(struct api_response *r, long status, const char *code, const char *part1,
                         const char *part2)
{
    char want[96];

    if (r->status != status)
        fail_msg("got %ld, wanted %ld: %s", r->status, status, r->body);
    snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
    if (!strstr(r->body, want) || (part1 && !strstr(r->body, part1)) ||
        (part2 && !strstr(r->body, part2)))
        fail_msg("unexpected error %s", r->body);
    api_response_free(r);
}

/* A tenant admin key (no user: it acts as admin) of the tenant with this id. */
static void make_admin_key(const char *tenant_id, char *key)
{
    char prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
    const char *p[3] = {tenant_id, prefix, hash};

    ab_auth_key_new(key, prefix, hash);
    api_sql(db,
            "INSERT INTO agentbase.api_keys (tenant_id, name, key_prefix, key_hash, scopes) "
            "VALUES ($1, 'passwords test', $2, $3, '{admin}')",
            3, p, NULL, 0);
}

static void make_tenant(char *s, size_t n, const char *what, char *id)
{
    const char *p[1] = {s};

    snprintf(s, n, "pw-%s-%u", what, randombytes_random() % 1000000);
    api_sql(db, "INSERT INTO agentbase.tenants (slug, name) VALUES ($1, $1) RETURNING id", 1, p, id,
            40);
}

static int setup(void **state)
{
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_passwords", &db, &err) != 0)
        return -1;
    make_tenant(slug, sizeof(slug), "a", tenant);
    make_tenant(other_slug, sizeof(other_slug), "b", other_tenant);
    make_admin_key(tenant, admin_key);
    make_admin_key(other_tenant, other_admin_key);
    return 0;
}

static int teardown(void **state)
{
    const char *p[2] = {tenant, other_tenant};

    (void)state;
    api_sql(db, "DELETE FROM agentbase.tenants WHERE id IN ($1, $2)", 2, p, NULL, 0);
    PQfinish(db);
    return 0;
}

/* A new user name@pw.test (unique per run) created over the API by key with password. */
static void create_user(const char *key, const char *name, const char *role, const char *password,
                        char *email, char *id)
{
    char body[512];
    struct api_response r;
    json_t *doc;

    snprintf(email, 64, "%s%d@pw.test", name, ++users_made);
    snprintf(body, sizeof(body),
             "{\"email\": \"%s\", \"username\": \"%s%d\", \"role\": \"%s\", \"password\": \"%s\"}",
             email, name, users_made, role, password);
    if (call("POST", "/v1/users", key, body, &r) != 201)
        fail_msg("creating %s: %ld %s", email, r.status, r.body);
    doc = json_loads(r.body, 0, NULL);
    snprintf(id, 40, "%s", json_string_value(json_object_get(doc, "id")));
    assert_null(json_object_get(doc, "password"));
    assert_null(json_object_get(doc, "password_hash"));
    json_decref(doc);
    api_response_free(&r);
}

/* Signs in to tenant_slug; on 200 the session key goes to key and the flag to must_change. */
static long login_to(const char *tenant_slug, const char *email, const char *password, char *key,
                     bool *must_change)
{
    char body[512];
    struct api_response r;
    long status;

    snprintf(body, sizeof(body), "{\"tenant\": \"%s\", \"email\": \"%s\", \"password\": \"%s\"}",
             tenant_slug, email, password);
    status = call("POST", "/v1/auth/login", NULL, body, &r);
    if (status == 200) {
        json_t *doc = json_loads(r.body, 0, NULL);

        snprintf(key, 64, "%s", json_string_value(json_object_get(doc, "key")));
        if (must_change)
            *must_change = json_is_true(json_object_get(doc, "must_change_password"));
        json_decref(doc);
    }
    api_response_free(&r);
    return status;
}

static long login(const char *email, const char *password, char *key, bool *must_change)
{
    return login_to(slug, email, password, key, must_change);
}

/* A new user of the first tenant (see create_user), signed in: its session goes to key. */
static void signed_in_user(const char *name, const char *role, const char *password, char *email,
                           char *id, char *key)
{
    create_user(admin_key, name, role, password, email, id);
    assert_int_equal(login(email, password, key, NULL), 200);
}

/* POST /v1/auth/password with the session key. */
static long change(const char *key, const char *old_pw, const char *new_pw,
                   struct api_response *out)
{
    char body[512];

    snprintf(body, sizeof(body), "{\"old_password\": \"%s\", \"new_password\": \"%s\"}", old_pw,
             new_pw);
    return call("POST", "/v1/auth/password", key, body, out);
}

/* POST /v1/users/{id}/password with key. */
static long reset(const char *key, const char *id, const char *new_pw, struct api_response *out)
{
    char path[128], body[512];

    snprintf(path, sizeof(path), "/v1/users/%s/password", id);
    snprintf(body, sizeof(body), "{\"new_password\": \"%s\"}", new_pw);
    return call("POST", path, key, body, out);
}

static long whoami(const char *key)
{
    return call("GET", "/v1/auth/whoami", key, NULL, NULL);
}

/* The user's stored row as the test sees it (superuser): hash, flag and lock, as one text. */
static void row_of(const char *id, char *out, size_t n)
{
    const char *p[1] = {id};

    api_sql(db,
            "SELECT coalesce(password_hash, '') || '|' || must_change_password || '|' || "
            "       failed_login_attempts || '|' || coalesce(locked_until::text, '') "
            "  FROM agentbase.users WHERE id = $1::uuid",
            1, p, out, n);
}

/* Asserts that the user's row (see row_of) is still before. */
static void assert_unchanged(const char *id, const char *before)
{
    char now[512];

    row_of(id, now, sizeof(now));
    assert_string_equal(now, before);
}

/* Asserts that no user has this e-mail. */
static void assert_no_user(const char *email)
{
    const char *p[1] = {email};
    char count[16];

    api_sql(db, "SELECT count(*) FROM agentbase.users WHERE email = $1", 1, p, count,
            sizeof(count));
    assert_string_equal(count, "0");
}

/* ---- set at creation ----------------------------------------------------------------- */

static void test_a_password_set_at_creation_signs_in(void **state)
{
    char email[64], id[40], key[64], row[512];
    bool must = true;

    (void)state;
    create_user(admin_key, "ann", "user", "plum-kettle-orbit-91", email, id);
    row_of(id, row, sizeof(row));
    assert_memory_equal(row, "$argon2id$", 10);
    assert_null(strstr(row, "plum-kettle"));
    assert_int_equal(login(email, "plum-kettle-orbit-91", key, &must), 200);
    assert_false(must);
    assert_int_equal(whoami(key), 200);
}

static void test_a_user_created_without_a_password_cannot_sign_in(void **state)
{
    char body[256], key[64];
    struct api_response r;

    (void)state;
    snprintf(body, sizeof(body), "{\"email\": \"nopw%d@pw.test\", \"role\": \"user\"}",
             ++users_made);
    assert_int_equal(call("POST", "/v1/users", admin_key, body, &r), 201);
    assert_non_null(strstr(r.body, "\"must_change_password\": false"));
    api_response_free(&r);
    snprintf(body, sizeof(body), "nopw%d@pw.test", users_made);
    assert_int_equal(login(body, "anything-at-all-here", key, NULL), 401);
}

static void test_creation_refuses_a_weak_password_naming_the_rule(void **state)
{
    static const char *const cases[][2] = {
        {"short-pw", "(rule min_length)"},
        {"Password2024!", "(rule common)"},
        {"weak@pw.test", "(rule personal)"},
        {"weakling-one", "(rule personal)"},
    };
    char body[256];
    struct api_response r;

    (void)state;
    for (size_t i = 0; i < AB_ARRAY_LEN(cases); i++) {
        snprintf(body, sizeof(body),
                 "{\"email\": \"weak@pw.test\", \"username\": \"weakling-one\", \"password\": "
                 "\"%s\"}",
                 cases[i][0]);
        call("POST", "/v1/users", admin_key, body, &r);
        expect_error(&r, 400, "weak_password", "field 'password'", cases[i][1]);
    }
    call("POST", "/v1/users", admin_key, "{\"email\": \"weak@pw.test\", \"password\": 12}", &r);
    expect_error(&r, 400, "invalid_field", "field 'password' must be a string", NULL);
    assert_no_user("weak@pw.test");
}

/* ---- change ---------------------------------------------------------------------------- */

static void test_a_wrong_old_password_changes_nothing(void **state)
{
    char email[64], id[40], key[64], before[512];
    struct api_response r;

    (void)state;
    signed_in_user("bo", "user", "amber-window-lantern", email, id, key);
    row_of(id, before, sizeof(before));
    change(key, "amber-window-lanterN", "cobalt-meadow-fennel", &r);
    expect_error(&r, 403, "wrong_password", "field 'old_password'", NULL);
    assert_unchanged(id, before);
    assert_int_equal(whoami(key), 200);
    assert_int_equal(login(email, "cobalt-meadow-fennel", key, NULL), 401);
}

static void test_a_change_ends_the_other_sessions_and_keeps_this_one(void **state)
{
    char email[64], id[40], mine[64], other[64], again[64];
    struct api_response r;

    (void)state;
    signed_in_user("cy", "viewer", "granite-harbor-tulip", email, id, mine);
    assert_int_equal(login(email, "granite-harbor-tulip", other, NULL), 200);
    assert_int_equal(change(mine, "granite-harbor-tulip", "velvet-canyon-pepper", &r), 200);
    assert_non_null(strstr(r.body, "\"sessions_ended\": 1"));
    assert_non_null(strstr(r.body, "\"must_change_password\": false"));
    api_response_free(&r);
    assert_int_equal(whoami(other), 401);
    assert_int_equal(whoami(mine), 200);
    assert_int_equal(login(email, "granite-harbor-tulip", again, NULL), 401);
    assert_int_equal(login(email, "velvet-canyon-pepper", again, NULL), 200);
}

static void test_a_change_checks_the_new_password_naming_the_rule(void **state)
{
    char email[64], id[40], key[64], before[512], username[64];
    struct api_response r;

    (void)state;
    signed_in_user("dee", "user", "saffron-pillow-echo", email, id, key);
    row_of(id, before, sizeof(before));
    change(key, "saffron-pillow-echo", "too-short", &r);
    expect_error(&r, 400, "weak_password", "field 'new_password'", "(rule min_length)");
    change(key, "saffron-pillow-echo", "qwertyuiop123", &r);
    expect_error(&r, 400, "weak_password", "field 'new_password'", "(rule common)");
    change(key, "saffron-pillow-echo", email, &r);
    expect_error(&r, 400, "weak_password", "field 'new_password'", "(rule personal)");
    snprintf(username, sizeof(username), "DEE%d!!!!!!!!!!", users_made);
    change(key, "saffron-pillow-echo", username, &r);
    expect_error(&r, 400, "weak_password", "field 'new_password'", "(rule personal)");
    change(key, "saffron-pillow-echo", "saffron-pillow-echo", &r);
    expect_error(&r, 400, "weak_password", "field 'new_password'", "(rule unchanged)");
    assert_unchanged(id, before);
}

static void test_malformed_change_bodies_are_400(void **state)
{
    char email[64], id[40], key[64];
    struct api_response r;

    (void)state;
    signed_in_user("eve", "user", "lilac-thunder-oar", email, id, key);
    call("POST", "/v1/auth/password", key, "{\"new_password\": \"orchid-rain-falcon\"}", &r);
    expect_error(&r, 400, "missing_field", "field 'old_password' is required", NULL);
    call("POST", "/v1/auth/password", key,
         "{\"old_password\": \"lilac-thunder-oar\", \"new_password\": 7}", &r);
    expect_error(&r, 400, "invalid_field", "field 'new_password' must be a string", NULL);
    call("POST", "/v1/auth/password", key,
         "{\"old_password\": \"lilac-thunder-oar\", \"new_password\": \"orchid-rain-falcon\", "
         "\"must_change_password\": true}",
         &r);
    expect_error(&r, 400, "unknown_field", "'must_change_password' cannot be set here", NULL);
    call("POST", "/v1/auth/password", key, "not json", &r);
    expect_error(&r, 400, "invalid_json", NULL, NULL);
}

static void test_a_key_acting_for_no_user_changes_no_password(void **state)
{
    struct api_response r;

    (void)state;
    change(admin_key, "whatever-it-was", "whatever-it-is-now", &r);
    expect_error(&r, 403, "forbidden", "acts for no user", NULL);
}

/* ---- reset ----------------------------------------------------------------------------- */

static void test_an_admin_reset_forces_a_change_at_next_sign_in(void **state)
{
    char email[64], id[40], first[64], second[64], session[64], path[128];
    struct api_response r;
    bool must = false;

    (void)state;
    signed_in_user("fay", "user", "hazel-compass-drift", email, id, first);
    assert_int_equal(login(email, "hazel-compass-drift", second, NULL), 200);
    assert_int_equal(reset(admin_key, id, "temporary-from-admin", &r), 200);
    assert_non_null(strstr(r.body, "\"sessions_ended\": 2"));
    assert_non_null(strstr(r.body, "\"must_change_password\": true"));
    api_response_free(&r);
    assert_int_equal(whoami(first), 401);
    assert_int_equal(whoami(second), 401);
    assert_int_equal(login(email, "hazel-compass-drift", session, NULL), 401);

    assert_int_equal(login(email, "temporary-from-admin", session, &must), 200);
    assert_true(must);
    call("GET", "/v1/auth/whoami", session, NULL, &r);
    expect_error(&r, 403, "password_change_required", "POST /v1/auth/password", NULL);
    call("GET", "/v1/agents", session, NULL, &r);
    expect_error(&r, 403, "password_change_required", NULL, NULL);
    snprintf(path, sizeof(path), "/v1/users/%s", id);
    call("PATCH", path, session, "{\"full_name\": \"Fay\"}", &r);
    expect_error(&r, 403, "password_change_required", NULL, NULL);
    reset(session, id, "another-one-for-me", &r);
    expect_error(&r, 403, "password_change_required", NULL, NULL);

    assert_int_equal(change(session, "temporary-from-admin", "fay-chose-this-one", &r), 200);
    assert_non_null(strstr(r.body, "\"must_change_password\": false"));
    api_response_free(&r);
    assert_int_equal(whoami(session), 200);
    assert_int_equal(call("GET", "/v1/agents", session, NULL, NULL), 200);
    assert_int_equal(login(email, "fay-chose-this-one", session, &must), 200);
    assert_false(must);
}

static void test_a_plain_user_cannot_set_another_users_password(void **state)
{
    char email[64], id[40], other_email[64], other[40], key[64], victim[64];
    char before[512], body[256];
    struct api_response r;

    (void)state;
    create_user(admin_key, "gus", "user", "tangerine-bridge-owl", email, id);
    create_user(admin_key, "hal", "admin", "juniper-socket-wave", other_email, other);
    assert_int_equal(login(email, "tangerine-bridge-owl", key, NULL), 200);
    assert_int_equal(login(other_email, "juniper-socket-wave", victim, NULL), 200);
    row_of(other, before, sizeof(before));
    reset(key, other, "taken-over-by-gus", &r);
    expect_error(&r, 403, "forbidden", "only an admin resets a password", NULL);
    assert_unchanged(other, before);
    assert_int_equal(whoami(victim), 200);
    assert_int_equal(login(other_email, "taken-over-by-gus", victim, NULL), 401);

    /* nor create a user with a password of their choosing */
    snprintf(body, sizeof(body),
             "{\"email\": \"puppet@pw.test\", \"role\": \"admin\", \"password\": "
             "\"gus-knows-this-one\"}");
    call("POST", "/v1/users", key, body, &r);
    expect_error(&r, 403, "forbidden", NULL, NULL);
    assert_no_user("puppet@pw.test");
}

static void test_an_admin_resets_no_user_of_another_tenant(void **state)
{
    char email[64], id[40], before[512], key[64];
    struct api_response r;

    (void)state;
    create_user(other_admin_key, "ida", "user", "walnut-glacier-reed", email, id);
    row_of(id, before, sizeof(before));
    reset(admin_key, id, "from-the-wrong-tenant", &r);
    expect_error(&r, 404, "not_found", NULL, NULL);
    assert_unchanged(id, before);
    assert_int_equal(login_to(other_slug, email, "walnut-glacier-reed", key, NULL), 200);
}

static void test_an_admin_changes_their_own_password_with_the_old_one(void **state)
{
    char email[64], id[40], key[64];
    struct api_response r;

    (void)state;
    signed_in_user("jo", "admin", "cedar-marble-kite", email, id, key);
    reset(key, id, "no-old-one-needed", &r);
    expect_error(&r, 400, "invalid_request", "POST /v1/auth/password", NULL);
    reset(key, "not-a-uuid", "no-old-one-needed", &r);
    expect_error(&r, 404, "not_found", NULL, NULL);
    reset(key, "01a23448-0000-7000-8000-000000000000", "nobody-has-this-id", &r);
    expect_error(&r, 404, "not_found", NULL, NULL);
    assert_int_equal(change(key, "cedar-marble-kite", "jo-new-admin-phrase", NULL), 200);
}

/* ---- the sign-in lock ------------------------------------------------------------------ */

static void test_the_lock_still_holds_and_a_reset_lifts_it(void **state)
{
    char email[64], id[40], key[64], locked[512], again[512];
    const char *p[1] = {id};
    bool must = false;

    (void)state;
    create_user(admin_key, "kim", "user", "poplar-ember-sketch", email, id);
    for (int i = 0; i < 5; i++)
        assert_int_equal(login(email, "not-the-password", key, NULL), 401);
    api_sql(db, "SELECT locked_until > now() FROM agentbase.users WHERE id = $1::uuid", 1, p,
            locked, sizeof(locked));
    assert_string_equal(locked, "t");
    assert_int_equal(login(email, "poplar-ember-sketch", key, NULL), 401);
    /* failures during the lock are not counted and do not extend it */
    row_of(id, locked, sizeof(locked));
    assert_int_equal(login(email, "not-the-password", key, NULL), 401);
    row_of(id, again, sizeof(again));
    assert_string_equal(again, locked);
    assert_non_null(strstr(locked, "|5|"));

    assert_int_equal(reset(admin_key, id, "kim-is-back-again", NULL), 200);
    row_of(id, again, sizeof(again));
    assert_non_null(strstr(again, "|true|0|"));      /* must change, no failures ... */
    assert_int_equal(again[strlen(again) - 1], '|'); /* ... and no lock */
    assert_int_equal(login(email, "kim-is-back-again", key, &must), 200);
    assert_true(must);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_password_set_at_creation_signs_in),
        cmocka_unit_test(test_a_user_created_without_a_password_cannot_sign_in),
        cmocka_unit_test(test_creation_refuses_a_weak_password_naming_the_rule),
        cmocka_unit_test(test_a_wrong_old_password_changes_nothing),
        cmocka_unit_test(test_a_change_ends_the_other_sessions_and_keeps_this_one),
        cmocka_unit_test(test_a_change_checks_the_new_password_naming_the_rule),
        cmocka_unit_test(test_malformed_change_bodies_are_400),
        cmocka_unit_test(test_a_key_acting_for_no_user_changes_no_password),
        cmocka_unit_test(test_an_admin_reset_forces_a_change_at_next_sign_in),
        cmocka_unit_test(test_a_plain_user_cannot_set_another_users_password),
        cmocka_unit_test(test_an_admin_resets_no_user_of_another_tenant),
        cmocka_unit_test(test_an_admin_changes_their_own_password_with_the_old_one),
        cmocka_unit_test(test_the_lock_still_holds_and_a_reset_lifts_it),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
