/*
 * Authentication over HTTP: every kind of bad key gets 401 with a clear message, a
 * suspended tenant 403, and a good key acts in exactly its tenant. Keys are minted here
 * with the same library the server uses and stored as hashes, as agentbase keys does.
 */
#include "auth/auth.h"
#include "client.h"
#include "pg/pg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static PGconn *db;
static char tenant_id[40], suspended_id[40];
static char good[64], revoked[64], expired[64], platform[64], in_suspended[64];

static void make_tenant(const char *slug, const char *status, char *id)
{
    const char *p[2] = {slug, status};

    api_sql(db,
            "INSERT INTO agentbase.tenants (slug, name, status) VALUES ($1, $1, $2) RETURNING id",
            2, p, id, 40);
}

/* A key of tenant (or a platform key when tenant is NULL), revoked/expired as asked. */
static void make_key(const char *tenant, const char *state, char *key)
{
    char prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
    const char *p[4] = {tenant, prefix, hash, state};

    ab_auth_key_new(key, prefix, hash);
    if (tenant)
        api_sql(db,
                "INSERT INTO agentbase.api_keys (tenant_id, name, key_prefix, key_hash, scopes, "
                "revoked_at, expires_at) VALUES ($1, 'test', $2, $3, '{agents:read}', "
                "CASE WHEN $4 = 'revoked' THEN now() END, "
                "CASE WHEN $4 = 'expired' THEN now() - interval '1 s' END)",
                4, p, NULL, 0);
    else
        api_sql(db,
                "INSERT INTO agentbase.platform_api_keys (name, key_prefix, key_hash, scopes) "
                "VALUES ('test', $1, $2, '{admin}')",
                2, p + 1, NULL, 0);
}

static int setup(void **state)
{
    char slug[64];
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_auth", &db, &err) != 0)
        return -1;
    snprintf(slug, sizeof(slug), "auth-%u", randombytes_random() % 1000000);
    make_tenant(slug, "active", tenant_id);
    strcat(slug, "-s");
    make_tenant(slug, "active", suspended_id);
    make_key(tenant_id, "", good);
    make_key(tenant_id, "revoked", revoked);
    make_key(tenant_id, "expired", expired);
    make_key(suspended_id, "", in_suspended);
    make_key(NULL, "", platform);
    {
        const char *p[1] = {suspended_id};
        api_sql(db, "UPDATE agentbase.tenants SET status = 'suspended' WHERE id = $1", 1, p, NULL,
                0);
    }
    return 0;
}

static int teardown(void **state)
{
    const char *p[2] = {tenant_id, suspended_id};

    (void)state;
    api_sql(db, "DELETE FROM agentbase.tenants WHERE id IN ($1, $2)", 2, p, NULL, 0);
    api_sql(db, "DELETE FROM agentbase.platform_api_keys WHERE name = 'test'", 0, NULL, NULL, 0);
    PQfinish(db);
    return 0;
}

/* GET /v1/auth/whoami with an Authorization header (NULL: none) and an extra header. */
static long whoami(const char *authorization, const char *extra, struct api_response *r)
{
    char auth[256];
    const char *headers[3] = {NULL, NULL, NULL};
    int n = 0;

    if (authorization) {
        snprintf(auth, sizeof(auth), "Authorization: %s", authorization);
        headers[n++] = auth;
    }
    if (extra)
        headers[n++] = extra;
    assert_int_equal(api_request("GET", "/v1/auth/whoami", NULL, 0, headers, r), 0);
    return r->status;
}

static void expect(const char *authorization, const char *extra, long status, const char *body)
{
    struct api_response r;

    assert_int_equal(whoami(authorization, extra, &r), status);
    assert_string_equal(api_error_text(&r), body);
    api_response_free(&r);
}

static char *bearer(const char *key)
{
    static char b[128];

    snprintf(b, sizeof(b), "Bearer %s", key);
    return b;
}

static void test_missing_key_is_401(void **state)
{
    (void)state;
    expect(NULL, NULL, 401,
           "{\"error\":{\"code\":\"unauthorized\",\"message\":\"missing API key: send "
           "Authorization: Bearer <key>\"}}");
}

static void test_malformed_header_and_key_are_401(void **state)
{
    (void)state;
    expect("Basic dXNlcjpwYXNz", NULL, 401,
           "{\"error\":{\"code\":\"unauthorized\",\"message\":\"malformed Authorization header: "
           "expected Bearer <key>\"}}");
    expect("Bearer not-a-key", NULL, 401,
           "{\"error\":{\"code\":\"unauthorized\",\"message\":\"malformed API key\"}}");
}

static void test_bad_checksum_is_refused_before_the_database(void **state)
{
    char typo[64];

    (void)state;
    snprintf(typo, sizeof(typo), "%s", good);
    typo[10] = typo[10] == 'a' ? 'b' : 'a';
    expect(bearer(typo), NULL, 401,
           "{\"error\":{\"code\":\"unauthorized\",\"message\":\"malformed API key\"}}");
}

static void test_unknown_revoked_and_expired_keys_are_401(void **state)
{
    char key[AB_KEY_LEN + 1], prefix[AB_KEY_PREFIX_LEN + 1], hash[65];

    (void)state;
    ab_auth_key_new(key, prefix, hash); /* well-formed, never stored */
    expect(bearer(key), NULL, 401,
           "{\"error\":{\"code\":\"unauthorized\",\"message\":\"invalid API key\"}}");
    expect(bearer(revoked), NULL, 401,
           "{\"error\":{\"code\":\"unauthorized\",\"message\":\"this API key has been revoked\"}}");
    expect(bearer(expired), NULL, 401,
           "{\"error\":{\"code\":\"unauthorized\",\"message\":\"this API key has expired\"}}");
}

static void test_key_of_a_suspended_tenant_is_403(void **state)
{
    (void)state;
    expect(bearer(in_suspended), NULL, 403,
           "{\"error\":{\"code\":\"tenant_suspended\",\"message\":\"this tenant is suspended\"}}");
}

static void test_good_key_acts_in_its_tenant(void **state)
{
    struct api_response r;
    char want[128];

    (void)state;
    assert_int_equal(whoami(bearer(good), NULL, &r), 200);
    snprintf(want, sizeof(want), "\"tenant_id\": \"%s\"", tenant_id);
    assert_non_null(strstr(r.body, want));
    assert_non_null(strstr(r.body, "\"scopes\": [\"agents:read\"]"));
    assert_non_null(strstr(r.body, "\"platform_admin\": false"));
    api_response_free(&r);
}

static void test_tenant_key_cannot_name_another_tenant(void **state)
{
    char header[128];

    (void)state;
    snprintf(header, sizeof(header), "Agentbase-Tenant: %s", suspended_id);
    expect(bearer(good), header, 400,
           "{\"error\":{\"code\":\"invalid_request\",\"message\":\"the Agentbase-Tenant header "
           "is for platform-admin keys only\"}}");
}

static void test_platform_key_acts_in_the_tenant_it_names(void **state)
{
    struct api_response r;
    char header[128], want[128];

    (void)state;
    assert_int_equal(whoami(bearer(platform), NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"tenant_id\": null"));
    assert_non_null(strstr(r.body, "\"platform_admin\": true"));
    api_response_free(&r);
    snprintf(header, sizeof(header), "Agentbase-Tenant: %s", tenant_id);
    assert_int_equal(whoami(bearer(platform), header, &r), 200);
    snprintf(want, sizeof(want), "\"tenant_id\": \"%s\"", tenant_id);
    assert_non_null(strstr(r.body, want));
    api_response_free(&r);
    expect(bearer(platform), "Agentbase-Tenant: 42", 400,
           "{\"error\":{\"code\":\"invalid_request\",\"message\":\"Agentbase-Tenant must be a "
           "tenant id (a UUID)\"}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_key_is_401),
        cmocka_unit_test(test_malformed_header_and_key_are_401),
        cmocka_unit_test(test_bad_checksum_is_refused_before_the_database),
        cmocka_unit_test(test_unknown_revoked_and_expired_keys_are_401),
        cmocka_unit_test(test_key_of_a_suspended_tenant_is_403),
        cmocka_unit_test(test_good_key_acts_in_its_tenant),
        cmocka_unit_test(test_tenant_key_cannot_name_another_tenant),
        cmocka_unit_test(test_platform_key_acts_in_the_tenant_it_names),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
