/*
 * The list engine's statements use indexes: on a tenant with 50,000 agents, every filter
 * the agents list declares, with each of its operators and a value that keeps about 0.1% of
 * the rows, is an index condition, and so is the cursor in the generic plan (the one a
 * prepared statement may settle on), under Row Level Security as the service's role. The
 * statements are the engine's own (ab_api_list_sql), explained with PostgreSQL's EXPLAIN.
 * And by the catalog, every filter any list declares leads an index of its table.
 */
#include "api/api.h"
#include "client.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define ROWS "50000"

static PGconn *db;
static char tenant[40];

static int setup(void **state)
{
    const char *p[1] = {tenant};
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_plans", &db, &err) != 0)
        return -1;
    api_make_tenant(db, "plans", tenant);
    api_sql(db,
            "INSERT INTO agentbase.users (tenant_id, email) SELECT $1, 'u' || i || '@example.com' "
            "  FROM generate_series(1, 20) i",
            1, p, NULL, 0);
    /* loaded without triggers (audit rows, counters): the plans are what matters here */
    api_sql(db, "SET session_replication_role = replica", 0, NULL, NULL, 0);
    api_sql(
        db,
        "INSERT INTO agentbase.agents (tenant_id, name, slug, agent_type, model_provider, "
        "  model_name, status, created_by, created_at) "
        "SELECT $1, 'agent-' || i, 'agent-' || i, " /* the slug trigger does not fire here */
        "  CASE WHEN i % 1000 = 1 THEN 'researcher' ELSE 'assistant' END, "
        "  CASE WHEN i % 1000 = 2 THEN 'rare' ELSE 'p' || (i % 3) END, "
        "  CASE WHEN i % 1000 = 3 THEN 'rare' ELSE 'm' || (i % 3) END, "
        "  CASE WHEN i % 1000 = 4 THEN 'maintenance' ELSE 'active' END, "
        "  CASE WHEN i % 1000 = 5 THEN (SELECT id FROM agentbase.users u WHERE u.tenant_id = $1 "
        "    ORDER BY id OFFSET (i / 1000) % 20 LIMIT 1) END, "
        "  now() - make_interval(secs => " ROWS " - i) " /* newer ids, newer times */
        "  FROM generate_series(1, " ROWS ") i",
        1, p, NULL, 0);
    api_sql(db, "SET session_replication_role = origin", 0, NULL, NULL, 0);
    api_sql(db, "ANALYZE agentbase.agents", 0, NULL, NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    const char *p[1] = {tenant};

    (void)state;
    api_sql(db, "SET session_replication_role = replica", 0, NULL, NULL, 0);
    api_sql(db, "DELETE FROM agentbase.agents WHERE tenant_id = $1", 1, p, NULL, 0);
    api_sql(db, "SET session_replication_role = origin", 0, NULL, NULL, 0);
    api_drop_tenant(db, tenant);
    PQfinish(db);
    return 0;
}

/* Every "Index Cond" and "Recheck Cond", and every "Filter", of a plan tree. */
static void conditions(json_t *node, struct ab_buf *index, struct ab_buf *filter)
{
    json_t *kids = json_object_get(node, "Plans"), *kid;
    const char *c;
    size_t i;

    if ((c = json_string_value(json_object_get(node, "Index Cond"))))
        assert_int_equal(ab_buf_printf(index, "%s\n", c), 0);
    if ((c = json_string_value(json_object_get(node, "Recheck Cond"))))
        assert_int_equal(ab_buf_printf(index, "%s\n", c), 0);
    if ((c = json_string_value(json_object_get(node, "Filter"))))
        assert_int_equal(ab_buf_printf(filter, "%s\n", c), 0);
    json_array_foreach(kids, i, kid)
    {
        conditions(kid, index, filter);
    }
}

/* Explains the engine's statement for one query parameter as the service would run it. */
static void expect_index(const struct ab_resource *r, const struct ab_resource_schema *s,
                         const char *name, const char *value, const char *condition, bool generic)
{
    /* matches at the end of the page order: where walking the primary key would be slow */
    const char *names[2] = {name, "order"},
               *values[2] = {value, strstr(name, "[l") ? "desc" : "asc"};
    const char *params[AB_API_LIST_MAX_PARAMS];
    struct ab_req req = {.request_id = "plan"};
    struct ab_buf sql, q, index, filter;
    PGresult *res;
    json_t *plan;
    int np = 0;

    ab_buf_init(&sql, 1 << 20);
    ab_buf_init(&q, 1 << 20);
    ab_buf_init(&req.out, 1 << 16);
    ab_buf_init(&index, 1 << 16);
    ab_buf_init(&filter, 1 << 16);
    if (ab_api_list_sql(&req, r, s, NULL, names, values, 2, &sql, params, &np) != 0)
        fail_msg("%s=%s: %s", name, value, req.out.data);
    assert_int_equal(ab_buf_printf(&q, "PREPARE plan_test AS %s", sql.data), 0);
    PQclear(PQexec(db, "BEGIN"));
    PQclear(PQexec(db, "SET LOCAL ROLE agentbase_app"));
    /* the cursor's plan is the generic one; a filter's depends on how selective its value is */
    PQclear(PQexec(db, generic ? "SET LOCAL plan_cache_mode = force_generic_plan"
                               : "SET LOCAL plan_cache_mode = force_custom_plan"));
    {
        const char *p[1] = {tenant};

        api_sql(db,
                "SELECT agentbase.set_request_context($1::uuid, 'api_key', 'plan-test', NULL, "
                "NULL, 'plan', false, NULL, 'admin', false)",
                1, p, NULL, 0);
    }
    res = PQexec(db, q.data);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("PREPARE %s: %s", sql.data, PQerrorMessage(db));
    PQclear(res);
    ab_buf_reset(&q);
    assert_int_equal(ab_buf_puts(&q, "EXPLAIN (FORMAT JSON) EXECUTE plan_test("), 0);
    for (int i = 0; i < np; i++) {
        char *lit = PQescapeLiteral(db, params[i], strlen(params[i]));

        assert_int_equal(ab_buf_printf(&q, "%s%s", i ? ", " : "", lit), 0);
        PQfreemem(lit);
    }
    assert_int_equal(ab_buf_puts(&q, ")"), 0);
    res = PQexec(db, q.data);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q.data, PQerrorMessage(db));
    plan = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    PQclear(PQexec(db, "DEALLOCATE plan_test"));
    PQclear(PQexec(db, "ROLLBACK"));
    conditions(json_object_get(json_array_get(plan, 0), "Plan"), &index, &filter);
    /* the page's own scan is the one that must use it (the CTE's) */
    if (!strstr(index.data, condition))
        fail_msg("%s=%s: %s is no index condition\nindex: %s\nfilter: %s", name, value, condition,
                 index.data, filter.data);
    json_decref(plan);
    free((void *)params[0]);
    ab_buf_free(&sql);
    ab_buf_free(&q);
    ab_buf_free(&req.out);
    ab_buf_free(&index);
    ab_buf_free(&filter);
}

/*
 * An agent by slug (GET /v1/agents/{slug}) is one probe of uq_agents_slug: the statement the
 * engine runs, with the tenant's condition that RLS adds for the service.
 */
static void test_an_agent_by_slug_is_found_through_its_unique_index(void **state)
{
    const char *p[1] = {tenant};
    char plan[4096];

    (void)state;
    api_sql(db,
            "SELECT abtest.plan('SELECT to_jsonb(t)::text FROM agentbase.agents t "
            "  WHERE t.tenant_id = ' || quote_literal($1) || "
            "  ' AND t.slug = ''agent-25000'' AND t.deleted_at IS NULL')",
            1, p, plan, sizeof(plan));
    if (!strstr(plan, "Index Scan using uq_agents_slug on agents"))
        fail_msg("the agent by slug is no probe of uq_agents_slug:\n%s", plan);
}

static void test_every_agents_filter_and_the_cursor_are_index_conditions(void **state)
{
    const struct ab_resource *r = ab_api_resource_named("agents");
    struct ab_resource_schema s;
    struct ab_error err;
    char id[40], user[40], recent[64], old[64], cond[128];
    const char *p[1] = {tenant};
    size_t checked = 0;

    (void)state;
    if (ab_api_catalog_load(r, db, &s, &err) != 0)
        fail_msg("catalog: %s", err.message);
    api_sql(db,
            "SELECT id FROM agentbase.agents WHERE tenant_id = $1 ORDER BY id OFFSET 25000 LIMIT 1",
            1, p, id, sizeof(id));
    api_sql(db, "SELECT id FROM agentbase.users WHERE tenant_id = $1 ORDER BY id LIMIT 1", 1, p,
            user, sizeof(user));
    /* about 0.1% of the rows each: the newest minute ([gte], [gt]), the oldest one */
    api_sql(db,
            "SELECT to_char((now() - interval '1 minute') AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') WHERE $1::uuid IS NOT NULL",
            1, p, recent, sizeof(recent));
    api_sql(db,
            "SELECT to_char((now() - interval '" ROWS " seconds' + interval '1 minute') "
            "AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') WHERE $1::uuid IS NOT NULL",
            1, p, old, sizeof(old));
    expect_index(r, &s, "after", id, "(id > ", true);
    for (size_t i = 0; i < s.nfilters; i++) {
        const struct ab_field *f = &s.filters[i];
        const char *eq = f->kind == AB_KIND_UUID              ? user
                         : strcmp(f->name, "status") == 0     ? "maintenance"
                         : strcmp(f->name, "agent_type") == 0 ? "researcher"
                                                              : "rare";
        char name[80], list[128];

        snprintf(cond, sizeof(cond), "(%s ", f->name);
        if (f->kind == AB_KIND_DATETIME) {
            static const char *const ops[] = {"[gte]", "[gt]", "[lte]", "[lt]"};

            for (size_t o = 0; o < AB_ARRAY_LEN(ops); o++) {
                snprintf(name, sizeof(name), "%s%s", f->name, ops[o]);
                expect_index(r, &s, name, o < 2 ? recent : old, cond, false);
            }
        } else {
            expect_index(r, &s, f->name, eq, cond, false);
            snprintf(name, sizeof(name), "%s[in]", f->name);
            snprintf(list, sizeof(list), "%s,%s", eq, eq);
            expect_index(r, &s, name, list, cond, false);
        }
        checked++;
    }
    assert_int_equal(checked, 7); /* slug, status, agent_type, model_provider, model_name,
                                     created_by, created_at */
    ab_api_catalog_free(&s);
}

/*
 * Every filter a list declares leads an index of its table (after tenant_id), one without
 * a predicate or with the soft-delete one the list itself adds; nested lists are bounded by
 * their parent's index, global reference data is small.
 */
static void test_every_declared_filter_leads_an_index(void **state)
{
    char found[16];
    size_t checked = 0;

    (void)state;
    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *r = &ab_resources[i];

        if (r->parent || r->global)
            continue;
        for (const char *p = r->filters; *p;) {
            size_t l = strcspn(p, ",");
            char col[64];
            const char *params[2] = {r->table, col};

            snprintf(col, sizeof(col), "%.*s", (int)l, p);
            api_sql(
                db,
                "SELECT count(*) FROM pg_index i "
                "  JOIN pg_attribute a0 ON a0.attrelid = i.indrelid AND a0.attnum = i.indkey[0] "
                "  LEFT JOIN pg_attribute a1 ON a1.attrelid = i.indrelid "
                "   AND a1.attnum = i.indkey[1] "
                " WHERE i.indrelid = ('agentbase.' || $1)::regclass "
                "   AND (i.indpred IS NULL "
                "        OR pg_get_expr(i.indpred, i.indrelid) = '(deleted_at IS NULL)') "
                "   AND (a0.attname = $2 OR (a0.attname = 'tenant_id' AND a1.attname = $2))",
                2, params, found, sizeof(found));
            if (strcmp(found, "0") == 0)
                fail_msg("%s filters by %s, which leads no index of %s", r->name, col, r->table);
            checked++;
            p += l + (p[l] == ',');
        }
    }
    assert_true(checked > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_declared_filter_leads_an_index),
        cmocka_unit_test(test_every_agents_filter_and_the_cursor_are_index_conditions),
        cmocka_unit_test(test_an_agent_by_slug_is_found_through_its_unique_index),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
