/*
 * The AI development platform's operations: idle containers (GET /v1/containers/idle),
 * tasks per primary agent (GET /v1/tasks/agent-performance), a download of generated
 * content that counts itself (GET /v1/generated-content/{id}/download), and a project
 * created with its template's slug. The platform agents the reports name are the ones every
 * new tenant gets (0020), not rows this test writes.
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
static char tenant_a[40], tenant_b[40], key_a[64], key_b[64];

/* Calls with key and checks the status; the parsed body (the caller frees it). */
static json_t *expect(const char *key, const char *method, const char *path, const char *body,
                      long status)
{
    char auth[128];
    const char *headers[2] = {auth, NULL};
    struct api_response r;
    json_t *doc;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    assert_int_equal(api_request(method, path, body, body ? strlen(body) : 0, headers, &r), 0);
    if (r.status != status)
        fail_msg("%s %s: %ld, not %ld: %s", method, path, r.status, status, r.body);
    doc = json_loads(r.body, 0, NULL);
    api_response_free(&r);
    assert_non_null(doc);
    return doc;
}

static int setup(void **state)
{
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_devplat", &db, &err) != 0)
        return -1;
    api_make_tenant(db, "devplat-a", tenant_a);
    api_make_tenant(db, "devplat-b", tenant_b);
    api_make_key(db, tenant_a, "containers:read,tasks:read,generated-content:read,projects:write",
                 "dev", key_a);
    api_make_key(db, tenant_b, "containers:read,tasks:read,generated-content:read", "dev", key_b);
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

static void test_idle_containers_are_the_running_ones_inactive_for_longer(void **state)
{
    const char *p[1] = {tenant_a};
    json_t *doc, *data;

    (void)state;
    api_sql(db,
            "WITH p AS (INSERT INTO agentbase.projects (tenant_id, name) "
            "           VALUES ($1::uuid, 'idle'), ($1::uuid, 'busy'), ($1::uuid, 'off') "
            "           RETURNING id, name) "
            "INSERT INTO agentbase.containers (tenant_id, project_id, status, image, container_id, "
            "                                  last_active_at) "
            "SELECT $1::uuid, p.id, CASE p.name WHEN 'off' THEN 'stopped' ELSE 'running' END, "
            "       'node:20', 'rt-' || p.name, "
            "       now() - CASE p.name WHEN 'busy' THEN interval '1 minute' "
            "                           ELSE interval '3 hours' END FROM p",
            1, p, NULL, 0);
    doc = expect(key_a, "GET", "/v1/containers/idle?minutes=60", NULL, 200);
    data = json_object_get(doc, "data");
    assert_int_equal(json_array_size(data), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 0), "container_id")),
                        "rt-idle");
    assert_true(json_integer_value(json_object_get(json_array_get(data, 0), "idle_minutes")) >=
                179);
    json_decref(doc);
    doc = expect(key_a, "GET", "/v1/containers/idle", NULL, 200); /* default: 30 minutes */
    assert_int_equal(json_integer_value(json_object_get(doc, "minutes")), 30);
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 1);
    json_decref(doc);
    doc = expect(key_b, "GET", "/v1/containers/idle?minutes=1", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 0); /* another tenant's */
    json_decref(doc);
    json_decref(expect(key_a, "GET", "/v1/containers/idle?minutes=0", NULL, 400));
    json_decref(expect(key_a, "GET", "/v1/containers/idle?idle=5", NULL, 400));
}

static void test_agent_performance_counts_tasks_per_primary_agent(void **state)
{
    const char *p[1] = {tenant_a};
    json_t *doc, *row;

    (void)state;
    api_sql(db,
            "INSERT INTO agentbase.tasks (tenant_id, title, status, primary_agent, "
            "                             execution_time_seconds) "
            "SELECT $1::uuid, 'task ' || v.n, v.status, a.id, v.secs "
            "  FROM agentbase.agents a, (VALUES (1, 'completed', 4.0), (2, 'completed', 8.0), "
            "                                   (3, 'failed', 12.0), (4, 'pending', NULL)) "
            "       v(n, status, secs) "
            " WHERE a.tenant_id = $1::uuid AND a.agent_type = 'senior_engineer'",
            1, p, NULL, 0);
    doc = expect(key_a, "GET", "/v1/tasks/agent-performance?from=2020-01-01", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 1);
    row = json_array_get(json_object_get(doc, "data"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "agent_name")), "Senior Engineer");
    assert_int_equal(json_integer_value(json_object_get(row, "tasks")), 4);
    assert_int_equal(json_integer_value(json_object_get(row, "completed")), 2);
    assert_int_equal(json_integer_value(json_object_get(row, "failed")), 1);
    assert_true(json_number_value(json_object_get(row, "avg_execution_time_seconds")) == 8.0);
    assert_true(json_number_value(json_object_get(row, "success_rate")) == 0.6667);
    json_decref(doc);
    doc = expect(key_b, "GET", "/v1/tasks/agent-performance", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 0);
    json_decref(doc);
    json_decref(expect(key_a, "GET", "/v1/tasks/agent-performance?from=yesterday", NULL, 400));
}

static void test_a_download_returns_the_content_and_counts_itself(void **state)
{
    const char *p[1] = {tenant_a};
    char id[40], path[128];
    json_t *doc;

    (void)state;
    api_sql(db,
            "INSERT INTO agentbase.generated_content (tenant_id, content_type, title, "
            "                                         binary_content, mime_type, file_name) "
            "VALUES ($1::uuid, 'image', 'logo', '\\x89504e47'::bytea, 'image/png', 'logo.png') "
            "RETURNING id",
            1, p, id, sizeof(id));
    snprintf(path, sizeof(path), "/v1/generated-content/%s/download", id);
    json_decref(expect(key_a, "GET", path, NULL, 200));
    doc = expect(key_a, "GET", path, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(doc, "download_count")), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "binary_content")), "iVBORw==");
    assert_int_equal(json_integer_value(json_object_get(doc, "file_size_bytes")), 4);
    assert_string_equal(json_string_value(json_object_get(doc, "mime_type")), "image/png");
    json_decref(doc);
    /* the row itself does not carry the binary content, and shows the count */
    snprintf(path, sizeof(path), "/v1/generated-content/%s", id);
    doc = expect(key_a, "GET", path, NULL, 200);
    assert_null(json_object_get(doc, "binary_content"));
    assert_int_equal(json_integer_value(json_object_get(doc, "download_count")), 2);
    json_decref(doc);
    snprintf(path, sizeof(path), "/v1/generated-content/%s/download", id);
    json_decref(expect(key_b, "GET", path, NULL, 404)); /* another tenant's */
    json_decref(expect(key_a, "GET", "/v1/generated-content/logo/download", NULL, 404));
    api_sql(db, "SELECT download_count FROM agentbase.generated_content WHERE tenant_id = $1::uuid",
            1, p, id, sizeof(id));
    assert_string_equal(id, "2");
}

static void test_a_project_takes_its_template_by_slug(void **state)
{
    char slug[80], want[40], body[256];
    const char *p[1] = {slug};
    json_t *doc;

    (void)state;
    api_sql(db, "SELECT slug FROM agentbase.project_templates ORDER BY sort_order, slug LIMIT 1", 0,
            NULL, slug, sizeof(slug));
    api_sql(db, "SELECT id FROM agentbase.project_templates WHERE slug = $1", 1, p, want,
            sizeof(want));
    snprintf(body, sizeof(body), "{\"name\": \"from a slug\", \"template_type\": \"%s\"}", slug);
    doc = expect(key_a, "POST", "/v1/projects", body, 201);
    assert_string_equal(json_string_value(json_object_get(doc, "template_id")), want);
    json_decref(doc);
    json_decref(expect(key_a, "POST", "/v1/projects",
                       "{\"name\": \"nowhere\", \"template_type\": \"no-such-template\"}", 422));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_containers_are_the_running_ones_inactive_for_longer),
        cmocka_unit_test(test_agent_performance_counts_tasks_per_primary_agent),
        cmocka_unit_test(test_a_download_returns_the_content_and_counts_itself),
        cmocka_unit_test(test_a_project_takes_its_template_by_slug),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
