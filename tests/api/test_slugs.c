/*
 * Slugs in paths: an agent, a workflow or a collection is read, changed and deleted by its
 * slug as by its id; a slug left out comes from the name, with a suffix when it is taken;
 * another tenant's slug is not found; a path segment that is neither an id nor a slug is a
 * 404. And refused writes: each is in the tenant's audit trail as a failure, although its
 * own transaction rolled back.
 */
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
static char tenant_a[40], tenant_b[40], key_a[64], key_b[64], reader_a[64];

/* Calls and checks the status; the member of the answer named field copied into out. */
static void expect(const char *key, const char *method, const char *path, const char *body,
                   long status, const char *field, char *out, size_t n)
{
    struct api_response r;
    const char *v;
    json_t *doc;

    if (api_call(key, method, path, body, &r) != status)
        fail_msg("%s %s: %ld, not %ld: %s", method, path, r.status, status, r.body);
    if (field) {
        doc = json_loads(r.body, 0, NULL);
        v = json_string_value(json_object_get(doc, field));
        snprintf(out, n, "%s", v ? v : ""); /* "": null or absent */
        json_decref(doc);
    }
    api_response_free(&r);
}

static int setup(void **state)
{
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_slugs", &db, &err) != 0)
        return -1;
    api_make_tenant(db, "slugs-a", tenant_a);
    api_make_tenant(db, "slugs-b", tenant_b);
    api_make_key(db, tenant_a, "agents:write,workflows:write,collections:write,conversations:read",
                 "writer", key_a);
    api_make_key(db, tenant_b, "agents:write", "writer", key_b);
    api_make_key(db, tenant_a, "agents:read", "reader", reader_a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    api_drop_tenant(db, tenant_a);
    api_drop_tenant(db, tenant_b);
    PQfinish(db);
    return 0;
}

#define AGENT(name)                                                                                \
    "{\"name\": \"" name "\", \"model_provider\": \"openai\", \"model_name\": \"gpt-4o\"}"

static void test_an_agent_is_read_changed_and_deleted_by_its_slug(void **state)
{
    char slug[80], id[40], got[80];

    (void)state;
    expect(key_a, "POST", "/v1/agents", AGENT("Code Reviewer"), 201, "slug", slug, sizeof(slug));
    assert_string_equal(slug, "code-reviewer");
    expect(key_a, "GET", "/v1/agents/code-reviewer", NULL, 200, "id", id, sizeof(id));
    expect(key_a, "PATCH", "/v1/agents/code-reviewer", "{\"description\": \"reviews code\"}", 200,
           "description", got, sizeof(got));
    assert_string_equal(got, "reviews code");
    expect(reader_a, "GET", "/v1/agents?slug=code-reviewer", NULL, 200, NULL, NULL, 0);
    expect(key_a, "PATCH", "/v1/agents/code-reviewer", "{\"name\": \"Senior Reviewer\"}", 200,
           "slug", got, sizeof(got));
    assert_string_equal(got, "code-reviewer"); /* a rename keeps the address */
    expect(key_a, "DELETE", "/v1/agents/code-reviewer", NULL, 204, NULL, NULL, 0);
    expect(key_a, "GET", "/v1/agents/code-reviewer", NULL, 404, NULL, NULL, 0);
    expect(key_a, "PATCH", "/v1/agents/code-reviewer", "{\"description\": \"x\"}", 404, NULL, NULL,
           0);
    expect(key_a, "DELETE", "/v1/agents/code-reviewer", NULL, 404, NULL, NULL, 0);
    /* the deleted agent keeps its row, and its slug is free for a new one */
    expect(key_a, "POST", "/v1/agents", AGENT("Code Reviewer"), 201, "id", got, sizeof(got));
    assert_string_not_equal(got, id);
    expect(key_a, "GET", "/v1/agents/code-reviewer", NULL, 200, "id", slug, sizeof(slug));
    assert_string_equal(slug, got);
}

static void test_a_taken_slug_gets_a_suffix_and_a_given_one_must_be_free(void **state)
{
    char slug[80];

    (void)state;
    expect(key_a, "POST", "/v1/agents", AGENT("Planner"), 201, "slug", slug, sizeof(slug));
    assert_string_equal(slug, "planner");
    expect(key_a, "POST", "/v1/agents", AGENT("planner!"), 201, "slug", slug, sizeof(slug));
    assert_string_equal(slug, "planner-2");
    expect(key_a, "POST", "/v1/agents",
           "{\"name\": \"Other\", \"slug\": \"planner\", \"model_provider\": \"openai\", "
           "\"model_name\": \"gpt-4o\"}",
           409, NULL, NULL, 0);
    expect(key_a, "POST", "/v1/agents",
           "{\"name\": \"Upper\", \"slug\": \"Planner\", \"model_provider\": \"openai\", "
           "\"model_name\": \"gpt-4o\"}",
           422, NULL, NULL, 0);
    expect(key_a, "GET", "/v1/agents/planner-2", NULL, 200, "name", slug, sizeof(slug));
    assert_string_equal(slug, "planner!");
}

static void test_workflows_and_collections_are_found_by_slug(void **state)
{
    char id[40], got[40];

    (void)state;
    expect(key_a, "POST", "/v1/workflows",
           "{\"name\": \"Release Train\", \"definition\": {\"nodes\": [{\"id\": \"a\"}], "
           "\"edges\": []}}",
           201, "id", id, sizeof(id));
    expect(key_a, "GET", "/v1/workflows/release-train", NULL, 200, "id", got, sizeof(got));
    assert_string_equal(got, id);
    expect(key_a, "POST", "/v1/collections",
           "{\"name\": \"Product Docs\", \"slug\": \"docs\", \"embedding_model\": \"m\", "
           "\"embedding_dimensions\": 3}",
           201, "id", id, sizeof(id));
    expect(key_a, "GET", "/v1/collections/docs", NULL, 200, "id", got, sizeof(got));
    assert_string_equal(got, id);
    expect(key_a, "DELETE", "/v1/collections/docs", NULL, 204, NULL, NULL, 0);
    expect(key_a, "GET", "/v1/collections/docs", NULL, 404, NULL, NULL, 0);
}

static void test_another_tenants_slug_is_not_found(void **state)
{
    char slug[80];

    (void)state;
    expect(key_a, "POST", "/v1/agents", AGENT("Tenant Secret"), 201, NULL, NULL, 0);
    expect(key_b, "GET", "/v1/agents/tenant-secret", NULL, 404, NULL, NULL, 0);
    expect(key_b, "PATCH", "/v1/agents/tenant-secret", "{\"description\": \"mine\"}", 404, NULL,
           NULL, 0);
    expect(key_b, "DELETE", "/v1/agents/tenant-secret", NULL, 404, NULL, NULL, 0);
    expect(key_b, "POST", "/v1/agents", AGENT("Tenant Secret"), 201, "slug", slug, sizeof(slug));
    assert_string_equal(slug, "tenant-secret"); /* slugs are per tenant */
    expect(key_a, "GET", "/v1/agents/tenant-secret", NULL, 200, "description", slug, sizeof(slug));
    assert_string_equal(slug, ""); /* B's PATCH changed nothing of A's */
}

static void test_a_path_that_is_neither_an_id_nor_a_slug_is_404(void **state)
{
    (void)state;
    expect(key_a, "GET", "/v1/agents/Not_A_Slug", NULL, 404, NULL, NULL, 0);
    expect(key_a, "GET", "/v1/agents/no-such-agent", NULL, 404, NULL, NULL, 0);
    /* resources without slugs take ids only */
    expect(key_a, "GET", "/v1/conversations/some-slug", NULL, 404, NULL, NULL, 0);
}

static void test_a_refused_write_is_in_the_audit_trail(void **state)
{
    char got[512], since[64];
    const char *p[2] = {tenant_a, since};

    (void)state;
    api_sql(db, "SELECT clock_timestamp()", 0, NULL, since, sizeof(since));
    expect(key_a, "POST", "/v1/agents", AGENT("Auditor"), 201, NULL, NULL, 0);
    expect(key_a, "POST", "/v1/agents", AGENT("Auditor"), 409, NULL, NULL, 0);
    expect(reader_a, "DELETE", "/v1/agents/auditor", NULL, 403, NULL, NULL, 0);
    expect(reader_a, "GET", "/v1/agents/no-such-agent", NULL, 404, NULL, NULL, 0);
    /* the two refused writes, each with its status, code and key; not the refused read */
    api_sql(db,
            "SELECT string_agg(concat_ws(' ', l.action, l.metadata ->> 'http_status', "
            "                            l.metadata ->> 'code', coalesce(l.resource_id, '-'), "
            "                            k.name), ', ' ORDER BY l.action) "
            "  FROM agentbase.audit_logs l JOIN agentbase.api_keys k ON k.id::text = l.actor_id "
            " WHERE l.tenant_id = $1::uuid AND l.status = 'failure' AND l.created_at >= $2 "
            "   AND (l.resource_id IS NULL OR l.resource_id IN ('auditor', 'no-such-agent')) "
            "   AND l.metadata ->> 'http_status' IN ('409', '403', '404') "
            "   AND l.action IN ('agents.create', 'agents.delete', 'agents.get')",
            2, p, got, sizeof(got));
    assert_string_equal(got, "agents.create 409 conflict - writer, agents.delete 403 forbidden "
                             "auditor reader");
    /* and the refused create wrote nothing else */
    api_sql(db,
            "SELECT count(*) FROM agentbase.agents WHERE tenant_id = $1::uuid AND name = 'Auditor'",
            1, p, got, sizeof(got));
    assert_string_equal(got, "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_agent_is_read_changed_and_deleted_by_its_slug),
        cmocka_unit_test(test_a_taken_slug_gets_a_suffix_and_a_given_one_must_be_free),
        cmocka_unit_test(test_workflows_and_collections_are_found_by_slug),
        cmocka_unit_test(test_another_tenants_slug_is_not_found),
        cmocka_unit_test(test_a_path_that_is_neither_an_id_nor_a_slug_is_404),
        cmocka_unit_test(test_a_refused_write_is_in_the_audit_trail),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
