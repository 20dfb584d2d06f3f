/*
 * Write-only secrets over HTTP: MCP config secrets merged by PATCH and answered as hints,
 * AI provider keys, the shapes refused, and reads of values: only with secrets:read (never
 * through admin), within the tenant, audited, and refused for a ciphertext moved to another
 * row. Every value written here contains "s3cr3t-" so that the API suite can check that
 * none reaches the server's log.
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
static char tenant[40], other_tenant[40], server[40], provider[40];
static char admin[64], reader[64], other_reader[64], platform[64];

static long call(const char *key, const char *method, const char *path, const char *body,
                 struct api_response *r)
{
    char auth[128], tenant_header[96];
    const char *headers[4] = {auth, "Content-Type: application/json", NULL, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    if (key == platform) {
        snprintf(tenant_header, sizeof(tenant_header), "Agentbase-Tenant: %s", tenant);
        headers[2] = tenant_header;
    }
    assert_int_equal(api_request(method, path, body, body ? strlen(body) : 0, headers, r), 0);
    return r->status;
}

/* Calls and expects status; returns the parsed body (caller decrefs). */
static json_t *expect(const char *key, const char *method, const char *path, const char *body,
                      long status)
{
    struct api_response r;
    json_t *doc;

    if (call(key, method, path, body, &r) != status)
        fail_msg("%s %s %s: %ld %s (wanted %ld)", method, path, body ? body : "", r.status, r.body,
                 status);
    doc = json_loads(r.body, 0, NULL);
    api_response_free(&r);
    return doc;
}

/* Expects a 400 whose message is exactly message. */
static void expect_400(const char *method, const char *path, const char *body, const char *message)
{
    json_t *doc = expect(admin, method, path, body, 400);

    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "error"), "message")), message);
    json_decref(doc);
}

/* Runs q as the superuser and expects its first value to be want. */
static void expect_sql(const char *q, int n, const char *const *params, const char *want)
{
    char got[256];

    api_sql(db, q, n, params, got, sizeof(got));
    assert_string_equal(got, want);
}

static int setup(void **state)
{
    char slug[64], prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
    const char *p[2] = {slug, NULL};
    struct ab_error err;
    unsigned run = randombytes_random() % 1000000;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_secrets", &db, &err) != 0)
        return -1;
    snprintf(slug, sizeof(slug), "secrets-a-%u", run);
    api_sql(db, "INSERT INTO agentbase.tenants (slug, name) VALUES ($1, $1) RETURNING id", 1, p,
            tenant, sizeof(tenant));
    snprintf(slug, sizeof(slug), "secrets-b-%u", run);
    api_sql(db, "INSERT INTO agentbase.tenants (slug, name) VALUES ($1, $1) RETURNING id", 1, p,
            other_tenant, sizeof(other_tenant));
    p[0] = tenant;
    api_sql(db,
            "INSERT INTO agentbase.tenant_mcp_servers (tenant_id, name, display_name, transport, "
            "  command, env_schema) VALUES ($1, 'crm', 'CRM', 'stdio', 'crm-mcp', "
            "  '{\"properties\": {\"CRM_TOKEN\": {\"type\": \"string\", \"secret\": true}, "
            "                     \"REGION\": {\"type\": \"string\"}}}') RETURNING id",
            1, p, server, sizeof(server));
    api_sql(db, "SELECT id FROM agentbase.ai_providers ORDER BY name LIMIT 1", 0, NULL, provider,
            sizeof(provider));
    api_make_key(db, tenant, "admin", "test-secrets", admin);
    api_make_key(db, tenant, "secrets:read", "test-secrets", reader);
    api_make_key(db, other_tenant, "admin,secrets:read", "test-secrets", other_reader);
    ab_auth_key_new(platform, prefix, hash);
    p[0] = prefix;
    p[1] = hash;
    api_sql(db,
            "INSERT INTO agentbase.platform_api_keys (name, key_prefix, key_hash, scopes) "
            "VALUES ('test-secrets', $1, $2, '{admin}')",
            2, p, NULL, 0);
    return provider[0] ? 0 : -1;
}

static int teardown(void **state)
{
    const char *p[2] = {tenant, other_tenant};

    (void)state;
    api_sql(db, "DELETE FROM agentbase.tenants WHERE id IN ($1, $2)", 2, p, NULL, 0);
    api_sql(db, "DELETE FROM agentbase.platform_api_keys WHERE name = 'test-secrets'", 0, NULL,
            NULL, 0);
    PQfinish(db);
    return 0;
}

/*
 * Creates a config with the secrets JSON given, of a copy of the CRM server of its own (a
 * tenant configures each server once); its id into id.
 */
static void make_config(const char *name, const char *secrets, char id[40])
{
    const char *p[2] = {server, name};
    char body[1024], copy[40];
    json_t *doc;

    api_sql(db,
            "INSERT INTO agentbase.tenant_mcp_servers (tenant_id, name, display_name, transport, "
            "  command, env_schema) SELECT tenant_id, 'crm-' || $2, display_name, transport, "
            "  command, env_schema FROM agentbase.tenant_mcp_servers WHERE id = $1::uuid "
            "RETURNING id",
            2, p, copy, sizeof(copy));
    snprintf(body, sizeof(body),
             "{\"tenant_server_id\": \"%s\", \"name\": \"%s\", \"config\": {\"REGION\": \"eu\"}, "
             "\"secrets\": %s}",
             copy, name, secrets);
    doc = expect(admin, "POST", "/v1/mcp-server-configs", body, 201);
    snprintf(id, 40, "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
}

/* The JSON text of path's value for key (GET), compact with sorted keys. */
static char *read_value(const char *key, const char *path, long status)
{
    json_t *doc = expect(key, "GET", path, NULL, status);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(doc);
    return text;
}

static void expect_audit_rows(const char *action, const char *id, const char *count)
{
    const char *p[2] = {action, id};

    expect_sql("SELECT count(*) FROM agentbase.audit_logs WHERE action = $1 AND resource_id = $2",
               2, p, count);
}

/* ---- writes ---------------------------------------------------------------------------------- */

static void test_a_config_answers_which_secrets_are_set_and_never_a_value(void **state)
{
    char id[40], path[128], *text;
    json_t *doc;

    (void)state;
    make_config("hints",
                "{\"CRM_TOKEN\": \"s3cr3t-crm-token-00000000wxyz\", \"PIN\": \"s3cr3t-12\"}", id);
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s", id);
    doc = expect(admin, "GET", path, NULL, 200);
    text = json_dumps(json_object_get(doc, "secrets"), JSON_COMPACT | JSON_SORT_KEYS);
    /* a value of fewer than twelve characters shows no characters at all */
    assert_string_equal(text, "{\"CRM_TOKEN\":{\"last4\":\"wxyz\",\"set\":true},"
                              "\"PIN\":{\"last4\":null,\"set\":true}}");
    free(text);
    text = json_dumps(doc, 0);
    assert_null(strstr(text, "s3cr3t-"));
    assert_null(strstr(text, "ciphertext"));
    free(text);
    json_decref(doc);
}

static void test_patch_merges_secrets_by_name_and_null_removes_one(void **state)
{
    char id[40], path[128], *text;
    json_t *doc;

    (void)state;
    make_config("merge", "{\"A\": \"s3cr3t-a\", \"B\": \"s3cr3t-b\"}", id);
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s", id);
    json_decref(
        expect(admin, "PATCH", path, "{\"secrets\": {\"B\": null, \"C\": \"s3cr3t-c\"}}", 200));
    /* other fields and the secrets in one PATCH; the secrets kept are untouched */
    doc = expect(admin, "PATCH", path, "{\"enabled\": false, \"secrets\": {\"A\": \"s3cr3t-a2\"}}",
                 200);
    assert_true(json_is_false(json_object_get(doc, "enabled")));
    json_decref(doc);
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s/secrets", id);
    text = read_value(reader, path, 200);
    assert_string_equal(text, "{\"secrets\":{\"A\":\"s3cr3t-a2\",\"C\":\"s3cr3t-c\"}}");
    free(text);
}

static void test_removing_every_secret_leaves_no_ciphertext(void **state)
{
    char id[40], path[128];
    const char *p[1] = {id};
    json_t *doc;

    (void)state;
    make_config("remove-all", "{\"A\": \"s3cr3t-a\"}", id);
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s", id);
    doc = expect(admin, "PATCH", path, "{\"secrets\": {\"A\": null}}", 200);
    assert_int_equal(json_object_size(json_object_get(doc, "secrets")), 0);
    json_decref(doc);
    expect_sql("SELECT num_nulls(secrets_ciphertext, secrets_nonce, secrets_key_id) "
               "  FROM agentbase.mcp_server_configs WHERE id = $1",
               1, p, "3");
}

static void test_the_database_holds_only_ciphertext_under_a_key_id(void **state)
{
    char id[40];
    const char *p[2] = {id, "s3cr3t-stored-0123456789"};

    (void)state;
    make_config("stored", "{\"A\": \"s3cr3t-stored-0123456789\"}", id);
    expect_sql("SELECT (position(convert_to($2, 'UTF8') IN secrets_ciphertext) = 0 "
               "        AND octet_length(secrets_nonce) = 24 AND secrets_key_id IS NOT NULL "
               "        AND config::text NOT LIKE '%s3cr3t%')::text "
               "  FROM agentbase.mcp_server_configs WHERE id = $1",
               2, p, "true");
}

static void test_bad_secrets_are_refused_naming_the_field(void **state)
{
    char body[512], id[40], path[128];

    (void)state;
    snprintf(body, sizeof(body),
             "{\"tenant_server_id\": \"%s\", \"name\": \"bad\", \"secrets\": \"s3cr3t\"}", server);
    expect_400("POST", "/v1/mcp-server-configs", body,
               "field 'secrets' must be an object of names and string values");
    snprintf(body, sizeof(body),
             "{\"tenant_server_id\": \"%s\", \"name\": \"bad\", \"secrets\": {\"A\": 1}}", server);
    expect_400("POST", "/v1/mcp-server-configs", body, "field 'secrets.A' must be a string");
    snprintf(body, sizeof(body),
             "{\"tenant_server_id\": \"%s\", \"name\": \"bad\", \"secrets\": {\"A\": null}}",
             server);
    expect_400("POST", "/v1/mcp-server-configs", body, "field 'secrets.A' must be a string");
    snprintf(body, sizeof(body),
             "{\"tenant_server_id\": \"%s\", \"name\": \"bad\", \"secrets\": {\"A\": \"\"}}",
             server);
    expect_400("POST", "/v1/mcp-server-configs", body, "field 'secrets.A' must not be empty");
    snprintf(body, sizeof(body),
             "{\"tenant_server_id\": \"%s\", \"name\": \"bad\", \"secrets\": {\"a b\": \"x\"}}",
             server);
    expect_400("POST", "/v1/mcp-server-configs", body,
               "field 'secrets': a name is 1 to 128 letters, digits, '_', '.' or '-'");
    make_config("patched-badly", "{}", id);
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s", id);
    expect_400("PATCH", path, "{\"secrets\": {\"A\": 2}}",
               "field 'secrets.A' must be a string, or null to remove it");
}

static void test_a_secret_in_config_is_refused_before_it_is_stored(void **state)
{
    char body[512], id[40], path[128];
    const char *p[1] = {tenant};

    (void)state;
    snprintf(body, sizeof(body),
             "{\"tenant_server_id\": \"%s\", \"name\": \"leaky\", "
             "\"config\": {\"CRM_TOKEN\": \"s3cr3t-in-config\"}}",
             server);
    expect_400("POST", "/v1/mcp-server-configs", body,
               "field 'config.CRM_TOKEN' is a secret of this MCP server: send it in 'secrets', "
               "which is stored encrypted");
    make_config("clean", "{}", id);
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s", id);
    expect_400("PATCH", path, "{\"config\": {\"REGION\": \"us\", \"CRM_TOKEN\": \"s3cr3t-x\"}}",
               "field 'config.CRM_TOKEN' is a secret of this MCP server: send it in 'secrets', "
               "which is stored encrypted");
    json_decref(expect(admin, "PATCH", path, "{\"config\": {\"REGION\": \"us\"}}", 200));
    expect_sql("SELECT count(*) FROM agentbase.mcp_server_configs "
               " WHERE tenant_id = $1 AND config::text LIKE '%s3cr3t%'",
               1, p, "0");
}

static void test_a_provider_key_is_required_replaceable_and_never_removed(void **state)
{
    char body[512], path[128], id[40], *text;
    json_t *doc;

    (void)state;
    snprintf(body, sizeof(body), "{\"provider_id\": \"%s\", \"name\": \"no key\"}", provider);
    expect_400("POST", "/v1/ai-provider-keys", body, "field 'api_key' is required");
    snprintf(body, sizeof(body),
             "{\"provider_id\": \"%s\", \"name\": \"prod\", \"api_key\": \"s3cr3t-sk-0000AbCd\"}",
             provider);
    doc = expect(admin, "POST", "/v1/ai-provider-keys", body, 201);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(doc, "id")));
    text = json_dumps(json_object_get(doc, "api_key"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"last4\":\"AbCd\",\"set\":true}");
    free(text);
    json_decref(doc);
    snprintf(path, sizeof(path), "/v1/ai-provider-keys/%s", id);
    expect_400("PATCH", path, "{\"api_key\": null}",
               "field 'api_key' cannot be removed (delete the object instead)");
    json_decref(expect(admin, "PATCH", path, "{\"api_key\": \"s3cr3t-sk-1111EfGh\"}", 200));
    snprintf(path, sizeof(path), "/v1/ai-provider-keys/%s/api-key", id);
    text = read_value(reader, path, 200);
    assert_string_equal(text, "{\"api_key\":\"s3cr3t-sk-1111EfGh\"}");
    free(text);
}

/* ---- reads ----------------------------------------------------------------------------------- */

static void test_only_secrets_read_reads_a_value_and_each_read_is_audited(void **state)
{
    char id[40], path[128], *text;

    (void)state;
    make_config("audited", "{\"CRM_TOKEN\": \"s3cr3t-\\u00e9t\\u00e9-token\"}", id);
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s/secrets", id);
    /* admin, a platform admin in the tenant, and write scopes do not read values */
    json_decref(expect(admin, "GET", path, NULL, 403));
    json_decref(expect(platform, "GET", path, NULL, 403));
    expect_audit_rows("mcp_server_config.secrets_read", id, "0");
    text = read_value(reader, path, 200);
    assert_string_equal(text, "{\"secrets\":{\"CRM_TOKEN\":\"s3cr3t-\xc3\xa9t\xc3\xa9-token\"}}");
    free(text);
    expect_audit_rows("mcp_server_config.secrets_read", id, "1");
    free(read_value(reader, path, 200));
    expect_audit_rows("mcp_server_config.secrets_read", id, "2");
}

static void test_an_admin_key_cannot_mint_a_key_that_reads_secrets(void **state)
{
    json_t *doc = expect(admin, "POST", "/v1/api-keys",
                         "{\"name\": \"escalate\", \"scopes\": [\"secrets:read\"]}", 403);

    (void)state;
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "error"), "message")),
        "a key cannot grant the scope secrets:read, which it lacks itself");
    json_decref(doc);
}

static void test_another_tenant_reads_nothing_of_this_one(void **state)
{
    char id[40], path[128];

    (void)state;
    make_config("private", "{\"A\": \"s3cr3t-private\"}", id);
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s/secrets", id);
    json_decref(expect(other_reader, "GET", path, NULL, 404));
    json_decref(expect(reader, "GET", "/v1/mcp-server-configs/not-a-uuid/secrets", NULL, 404));
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s", id);
    json_decref(
        expect(other_reader, "PATCH", path, "{\"secrets\": {\"A\": \"s3cr3t-taken\"}}", 404));
    expect_audit_rows("mcp_server_config.secrets_read", id, "0");
}

static void test_a_ciphertext_copied_to_another_row_does_not_open(void **state)
{
    char from[40], to[40], path[128];
    const char *p[2] = {from, to};
    json_t *doc;

    (void)state;
    make_config("copied-from", "{\"A\": \"s3cr3t-original\"}", from);
    make_config("copied-to", "{\"A\": \"s3cr3t-target\"}", to);
    api_sql(db,
            "UPDATE agentbase.mcp_server_configs t SET (secrets_ciphertext, secrets_nonce, "
            "  secrets_key_id) = (SELECT secrets_ciphertext, secrets_nonce, secrets_key_id "
            "  FROM agentbase.mcp_server_configs WHERE id = $1) WHERE t.id = $2",
            2, p, NULL, 0);
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s/secrets", to);
    doc = expect(reader, "GET", path, NULL, 500);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
                        "secret_unreadable");
    json_decref(doc);
    /* nothing was read, so nothing was audited; and a merge into it is refused too */
    expect_audit_rows("mcp_server_config.secrets_read", to, "0");
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s", to);
    json_decref(expect(admin, "PATCH", path, "{\"secrets\": {\"B\": \"s3cr3t-b\"}}", 500));
    snprintf(path, sizeof(path), "/v1/mcp-server-configs/%s/secrets", from);
    free(read_value(reader, path, 200));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_config_answers_which_secrets_are_set_and_never_a_value),
        cmocka_unit_test(test_patch_merges_secrets_by_name_and_null_removes_one),
        cmocka_unit_test(test_removing_every_secret_leaves_no_ciphertext),
        cmocka_unit_test(test_the_database_holds_only_ciphertext_under_a_key_id),
        cmocka_unit_test(test_bad_secrets_are_refused_naming_the_field),
        cmocka_unit_test(test_a_secret_in_config_is_refused_before_it_is_stored),
        cmocka_unit_test(test_a_provider_key_is_required_replaceable_and_never_removed),
        cmocka_unit_test(test_only_secrets_read_reads_a_value_and_each_read_is_audited),
        cmocka_unit_test(test_an_admin_key_cannot_mint_a_key_that_reads_secrets),
        cmocka_unit_test(test_another_tenant_reads_nothing_of_this_one),
        cmocka_unit_test(test_a_ciphertext_copied_to_another_row_does_not_open),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
