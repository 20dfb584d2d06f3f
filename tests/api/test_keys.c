/*
 * Issuing and revoking keys over HTTP: the secret is returned once and stored only as a
 * hash, a key cannot grant scopes it lacks, and a revoked key stops working at once.
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
static char tenant[40], creator[64];

static int setup(void **state)
{
    char slug[64], prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
    const char *p[3] = {slug, prefix, hash};
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_keys", &db, &err) != 0)
        return -1;
    snprintf(slug, sizeof(slug), "keys-%u", randombytes_random() % 1000000);
    ab_auth_key_new(creator, prefix, hash);
    api_sql(
        db,
        "WITH t AS (INSERT INTO agentbase.tenants (slug, name) VALUES ($1, $1) RETURNING id) "
        "INSERT INTO agentbase.api_keys (tenant_id, name, key_prefix, key_hash, scopes) "
        "SELECT id, 'creator', $2, $3, '{api-keys:write,agents:read}' FROM t RETURNING tenant_id",
        3, p, tenant, sizeof(tenant));
    return 0;
}

static int teardown(void **state)
{
    const char *p[1] = {tenant};

    (void)state;
    api_sql(db, "DELETE FROM agentbase.tenants WHERE id = $1", 1, p, NULL, 0);
    PQfinish(db);
    return 0;
}

static void test_a_new_key_is_shown_once_and_stored_only_as_a_hash(void **state)
{
    struct api_response r;
    char path[128], count[64];
    const char *key, *id;
    json_t *doc;

    (void)state;
    assert_int_equal(api_call(creator, "POST", "/v1/api-keys",
                              "{\"name\": \"reader\", \"scopes\": [\"agents:read\"]}", &r),
                     201);
    doc = json_loads(r.body, 0, NULL);
    key = json_string_value(json_object_get(doc, "key"));
    id = json_string_value(json_object_get(doc, "id"));
    assert_non_null(key);
    assert_true(ab_auth_key_wellformed(key, strlen(key)));
    assert_null(json_object_get(doc, "key_hash"));
    api_response_free(&r);

    /* it works, with exactly its scopes */
    assert_int_equal(api_call(key, "GET", "/v1/auth/whoami", NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"scopes\": [\"agents:read\"]"));
    api_response_free(&r);
    /* it is never shown again */
    snprintf(path, sizeof(path), "/v1/api-keys/%s", id);
    assert_int_equal(api_call(creator, "GET", path, NULL, &r), 200);
    assert_null(strstr(r.body, key));
    assert_null(strstr(r.body, "key_hash"));
    api_response_free(&r);
    /* and the database holds its hash, not the key */
    {
        const char *p[1] = {key};

        api_sql(db,
                "SELECT count(*) FROM agentbase.api_keys k WHERE to_jsonb(k)::text LIKE "
                "'%' || $1 || '%'",
                1, p, count, sizeof(count));
        assert_string_equal(count, "0");
        api_sql(db,
                "SELECT count(*) FROM agentbase.api_keys "
                "WHERE key_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                1, p, count, sizeof(count));
        assert_string_equal(count, "1");
    }
    /* its first use was recorded, with the address it came from */
    {
        const char *p[1] = {id};

        api_sql(db,
                "SELECT (last_used_at IS NOT NULL) || ' ' || coalesce(host(last_used_ip), '') "
                "FROM agentbase.api_keys WHERE id = $1::uuid",
                1, p, count, sizeof(count));
        assert_string_equal(count, "true 127.0.0.1");
    }
    json_decref(doc);
}

static void test_a_key_cannot_grant_scopes_it_lacks(void **state)
{
    struct api_response r;

    (void)state;
    assert_int_equal(api_call(creator, "POST", "/v1/api-keys",
                              "{\"name\": \"x\", \"scopes\": [\"agents:write\"]}", &r),
                     403);
    assert_non_null(strstr(r.body, "cannot grant the scope agents:write"));
    api_response_free(&r);
    assert_int_equal(
        api_call(creator, "POST", "/v1/api-keys", "{\"name\": \"x\", \"scopes\": [\"admin\"]}", &r),
        403);
    api_response_free(&r);
}

static void test_a_revoked_key_stops_working_at_once(void **state)
{
    struct api_response r;
    char path[128], *key;
    json_t *doc;

    (void)state;
    assert_int_equal(api_call(creator, "POST", "/v1/api-keys",
                              "{\"name\": \"short-lived\", \"scopes\": [\"agents:read\"]}", &r),
                     201);
    doc = json_loads(r.body, 0, NULL);
    key = strdup(json_string_value(json_object_get(doc, "key")));
    snprintf(path, sizeof(path), "/v1/api-keys/%s", json_string_value(json_object_get(doc, "id")));
    api_response_free(&r);
    assert_int_equal(api_call(key, "GET", "/v1/auth/whoami", NULL, &r), 200);
    api_response_free(&r);
    assert_int_equal(api_call(creator, "DELETE", path, NULL, &r), 204);
    api_response_free(&r);
    assert_int_equal(api_call(key, "GET", "/v1/auth/whoami", NULL, &r), 401);
    assert_non_null(strstr(r.body, "revoked"));
    api_response_free(&r);
    assert_int_equal(api_call(creator, "DELETE", path, NULL, &r), 404);
    api_response_free(&r);
    free(key);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_new_key_is_shown_once_and_stored_only_as_a_hash),
        cmocka_unit_test(test_a_key_cannot_grant_scopes_it_lacks),
        cmocka_unit_test(test_a_revoked_key_stops_working_at_once),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
