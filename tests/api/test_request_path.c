/*
 * The request path, end to end: authentication comes before any validation (401 on every
 * route without a key, whatever else is wrong), list filters are typed and refuse what
 * they do not know, and Idempotency-Key makes a retried POST answer the first response
 * without writing anything again.
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

static PGconn *db;
static char tenant[40], key[64];

static long call(const char *method, const char *path, const char *body, const char *extra,
                 struct api_response *r)
{
    char auth[128];
    const char *headers[3] = {auth, extra, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    if (api_request(method, path, body, body ? strlen(body) : 0, headers, r) != 0)
        return -1;
    return r->status;
}

static void count_rows(const char *sql, char *out, size_t n)
{
    const char *p[1] = {tenant};

    api_sql(db, sql, 1, p, out, n);
}

static int setup(void **state)
{
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_request_path", &db, &err) != 0)
        return -1;
    api_make_tenant(db, "path", tenant);
    api_make_key(db, tenant, "admin,billing:admin", "test", key);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    api_drop_tenant(db, tenant);
    PQfinish(db);
    return 0;
}

/* ---- authentication first ------------------------------------------------------------ */

static bool public_route(const struct ab_http_route *rt)
{
    static const char *const open[] = {"/healthz", "/readyz", "/metrics", "/openapi.json",
                                       "/v1/auth/login"};

    for (size_t i = 0; i < AB_ARRAY_LEN(open); i++)
        if (strcmp(rt->pattern, open[i]) == 0)
            return true;
    return false;
}

/* Sends rt with everything else wrong too (a bad id, an unknown parameter, broken JSON). */
static void expect_401(const struct ab_http_route *rt, const char *authorization)
{
    char path[256];
    const char *headers[2] = {authorization, NULL};
    struct api_response r;
    json_t *doc;
    size_t o = 0;

    for (const char *p = rt->pattern; *p && o + 16 < sizeof(path);) {
        if (*p == '{') {
            o += (size_t)snprintf(path + o, sizeof(path) - o, "not-an-id");
            p = strchr(p, '}') + 1;
        } else {
            path[o++] = *p++;
        }
    }
    snprintf(path + o, sizeof(path) - o, "?bogus[zz]=1&limit=-5");
    assert_int_equal(
        api_request(rt->method, path, "{broken", 7, authorization ? headers : NULL, &r), 0);
    if (r.status != 401)
        fail_msg("%s %s without a valid key: %ld %s", rt->method, path, r.status, r.body);
    doc = json_loads(r.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "error"), "type")),
                        "authentication_error");
    json_decref(doc);
    api_response_free(&r);
}

static void test_every_route_answers_401_before_judging_anything(void **state)
{
    struct ab_http_route routes[1024];
    size_t n = 0, checked = 0;

    (void)state;
    memcpy(routes, ab_api_routes, ab_api_nroutes * sizeof(*routes));
    memcpy(routes + ab_api_nroutes, ab_usage_routes, ab_usage_nroutes * sizeof(*routes));
    memcpy(routes + ab_api_nroutes + ab_usage_nroutes, ab_lease_routes,
           ab_lease_nroutes * sizeof(*routes));
    n = ab_api_nroutes + ab_usage_nroutes + ab_lease_nroutes;
    assert_int_equal(ab_api_resource_routes(routes, AB_ARRAY_LEN(routes), &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (public_route(&routes[i]))
            continue;
        expect_401(&routes[i], NULL);
        expect_401(&routes[i], "Authorization: Bearer ab_000000000000000000000000000000000000");
        checked++;
    }
    assert_int_equal(checked + 5, n); /* all but the five public routes */
}

/* ---- filters --------------------------------------------------------------------------- */

static void expect_400(const char *path, const char *param)
{
    struct api_response r;
    json_t *doc;

    assert_int_equal(call("GET", path, NULL, NULL, &r), 400);
    doc = json_loads(r.body, 0, NULL);
    if (!json_is_string(json_object_get(json_object_get(doc, "error"), "param")) ||
        strcmp(json_string_value(json_object_get(json_object_get(doc, "error"), "param")), param))
        fail_msg("GET %s: want param %s, got %s", path, param, r.body);
    json_decref(doc);
    api_response_free(&r);
}

static void test_malformed_filters_are_400_naming_the_parameter(void **state)
{
    char list[1024];
    size_t o;

    (void)state;
    expect_400("/v1/users?rol=viewer", "rol");                         /* unknown name */
    expect_400("/v1/users?role[like]=a", "role[like]");                /* bad operator */
    expect_400("/v1/users?role[gte]=a", "role[gte]");                  /* range on text */
    expect_400("/v1/containers?last_active_at=ten", "last_active_at"); /* wrong type */
    expect_400("/v1/agents?created_at[gte]=yesterday", "created_at[gte]");
    expect_400("/v1/agents?created_by=not-a-uuid", "created_by");
    expect_400("/v1/users?role=admin&role=user", "role"); /* twice */
    expect_400("/v1/users?role=superuser", "role");       /* not a value */
    o = (size_t)snprintf(list, sizeof(list), "/v1/users?role[in]=");
    for (int i = 0; i < 101; i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%suser", i ? "," : "");
    expect_400(list, "role[in]"); /* list too long */
    expect_400("/v1/agents?limit=0", "limit");
    expect_400("/v1/agents/01000000-0000-7000-8000-000000000000?x=1", "x"); /* items: none */
}

/* The ids of a page's objects, comma-separated. */
static void page(const char *path, char *out, size_t n)
{
    struct api_response r;
    json_t *doc, *item;
    size_t i, o = 0;

    if (call("GET", path, NULL, NULL, &r) != 200)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    doc = json_loads(r.body, 0, NULL);
    out[0] = '\0';
    json_array_foreach(json_object_get(doc, "data"), i, item)
    {
        o += (size_t)snprintf(out + o, n - o, "%s%s", i ? "," : "",
                              json_string_value(json_object_get(item, "name")));
    }
    json_decref(doc);
    api_response_free(&r);
}

static void test_filters_compare_in_the_columns_type(void **state)
{
    static const char *const agents[] = {
        "{\"name\": \"f-a\", \"model_provider\": \"openai\", \"model_name\": \"m\", "
        "\"max_tokens\": 100, \"status\": \"active\"}",
        "{\"name\": \"f-b\", \"model_provider\": \"openai\", \"model_name\": \"m\", "
        "\"max_tokens\": 2000, \"status\": \"busy\"}",
        "{\"name\": \"f-c\", \"model_provider\": \"openai\", \"model_name\": \"m\", "
        "\"max_tokens\": 30000, \"status\": \"error\"}",
    };
    char names[512], path[256], created[64];
    struct api_response r;

    (void)state;
    /* only this test's agents: not the platform agents every tenant starts with (0020) */
    api_sql(db,
            "DELETE FROM agentbase.agents WHERE tenant_id = $1::uuid "
            "   AND name IN (SELECT name FROM agentbase.platform_agents)",
            1, (const char *const[]){tenant}, NULL, 0);
    for (size_t i = 0; i < AB_ARRAY_LEN(agents); i++) {
        assert_int_equal(call("POST", "/v1/agents", agents[i], NULL, &r), 201);
        api_response_free(&r);
    }
    page("/v1/agents?status[in]=active,error", names, sizeof(names));
    assert_string_equal(names, "f-a,f-c");
    count_rows("SELECT to_char(min(created_at) AT TIME ZONE 'UTC', "
               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM agentbase.agents WHERE tenant_id = $1 "
               "AND name = 'f-b'",
               created, sizeof(created));
    snprintf(path, sizeof(path), "/v1/agents?created_at[gte]=%s&order=asc", created);
    page(path, names, sizeof(names));
    assert_string_equal(names, "f-b,f-c");
    /* an offset's '+' arrives as a space in a query; it still means +00:00 */
    created[strlen(created) - 1] = '\0';
    snprintf(path, sizeof(path), "/v1/agents?created_at[lt]=%s+00:00", created);
    page(path, names, sizeof(names));
    assert_string_equal(names, "f-a");
}

/* ---- large pages --------------------------------------------------------------------------- */

static void test_a_page_of_large_objects_is_cut_never_refused(void **state)
{
    enum { AGENTS = 20, BLOB = 600 * 1024 };
    static char body[BLOB + 512];
    char path[256], cursor[64] = "";
    struct api_response r;
    size_t seen = 0, pages = 0;

    (void)state;
    for (int i = 0; i < AGENTS; i++) {
        int o = snprintf(body, sizeof(body),
                         "{\"name\": \"big-%d\", \"model_provider\": \"openai\", "
                         "\"model_name\": \"big\", \"config\": {\"blob\": \"",
                         i);

        memset(body + o, 'x', BLOB);
        snprintf(body + o + BLOB, sizeof(body) - (size_t)o - BLOB, "\"}}");
        assert_int_equal(call("POST", "/v1/agents", body, NULL, &r), 201);
        api_response_free(&r);
    }
    /* 12 MB of agents in a page of 100: cut by size, and the cursor carries on */
    do {
        const char *next;
        json_t *doc;

        snprintf(path, sizeof(path), "/v1/agents?limit=100&model_name[in]=big,other%s%s",
                 cursor[0] ? "&after=" : "", cursor);
        if (call("GET", path, NULL, NULL, &r) != 200)
            fail_msg("GET %s: %ld %.200s", path, r.status, r.body);
        doc = json_loads(r.body, 0, NULL);
        seen += json_array_size(json_object_get(doc, "data"));
        if (pages++ == 0)
            assert_true(json_is_true(json_object_get(doc, "has_more")));
        next = json_string_value(json_object_get(doc, "next_cursor"));
        snprintf(cursor, sizeof(cursor), "%s", next ? next : "");
        json_decref(doc);
        api_response_free(&r);
    } while (cursor[0] && pages < 50);
    assert_true(pages >= 2);
    assert_int_equal(seen, AGENTS);
}

/* ---- Idempotency-Key ----------------------------------------------------------------------- */

static void test_a_replayed_create_answers_the_first_and_writes_nothing(void **state)
{
    static const char body[] = "{\"title\": \"once\"}";
    char first[4096], before[32], after[32], replayed[16];
    struct api_response r;

    (void)state;
    assert_int_equal(call("POST", "/v1/conversations", body, "Idempotency-Key: conv-1", &r), 201);
    snprintf(first, sizeof(first), "%s", r.body);
    api_header(&r, "Idempotent-Replayed", replayed, sizeof(replayed));
    assert_string_equal(replayed, "");
    api_response_free(&r);
    count_rows("SELECT count(*) FROM agentbase.conversations WHERE tenant_id = $1", before,
               sizeof(before));
    assert_int_equal(call("POST", "/v1/conversations", body, "Idempotency-Key: conv-1", &r), 201);
    assert_string_equal(r.body, first);
    api_header(&r, "Idempotent-Replayed", replayed, sizeof(replayed));
    assert_string_equal(replayed, "true");
    api_response_free(&r);
    count_rows("SELECT count(*) FROM agentbase.conversations WHERE tenant_id = $1", after,
               sizeof(after));
    assert_string_equal(before, after);
    /* the same key with another body is refused, and writes nothing either */
    assert_int_equal(
        call("POST", "/v1/conversations", "{\"title\": \"twice\"}", "Idempotency-Key: conv-1", &r),
        422);
    assert_string_equal(api_error_text(&r),
                        "{\"error\":{\"code\":\"idempotency_key_reused\",\"message\":\"this "
                        "Idempotency-Key was used with a different request\"}}");
    api_response_free(&r);
    count_rows("SELECT count(*) FROM agentbase.conversations WHERE tenant_id = $1", after,
               sizeof(after));
    assert_string_equal(before, after);
}

static void test_a_retried_message_append_makes_one_message(void **state)
{
    char path[128], count[32], conv[40];
    struct api_response r;
    json_t *doc;

    (void)state;
    assert_int_equal(call("POST", "/v1/conversations", "{\"title\": \"chat\"}", NULL, &r), 201);
    doc = json_loads(r.body, 0, NULL);
    snprintf(conv, sizeof(conv), "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    api_response_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(call("POST", path, "{\"role\": \"user\", \"content\": \"hi\"}",
                              "Idempotency-Key: msg-1", &r),
                         201);
        api_response_free(&r);
    }
    {
        const char *p[1] = {conv};

        api_sql(db, "SELECT count(*) FROM agentbase.messages WHERE conversation_id = $1", 1, p,
                count, sizeof(count));
    }
    assert_string_equal(count, "1");
}

static void test_a_new_api_key_is_never_shown_again(void **state)
{
    static const char body[] = "{\"name\": \"ci\", \"scopes\": [\"agents:read\"]}";
    struct api_response r;
    char count[32];

    (void)state;
    assert_int_equal(call("POST", "/v1/api-keys", body, "Idempotency-Key: key-1", &r), 201);
    assert_non_null(strstr(r.body, "\"key\": \"ab_"));
    api_response_free(&r);
    assert_int_equal(call("POST", "/v1/api-keys", body, "Idempotency-Key: key-1", &r), 409);
    assert_null(strstr(r.body, "ab_"));
    api_response_free(&r);
    count_rows("SELECT count(*) FROM agentbase.api_keys WHERE tenant_id = $1 AND name = 'ci'",
               count, sizeof(count));
    assert_string_equal(count, "1");
}

static void test_malformed_keys_are_400_without_internals(void **state)
{
    char header[400];
    struct api_response r;

    (void)state;
    snprintf(header, sizeof(header), "Idempotency-Key: %0256d", 7);
    assert_int_equal(call("POST", "/v1/conversations", "{\"title\": \"x\"}", header, &r), 400);
    assert_string_equal(api_error_text(&r),
                        "{\"error\":{\"code\":\"invalid_idempotency_key\",\"message\":"
                        "\"Idempotency-Key must be 1 to 255 letters, digits or -_.:\"}}");
    assert_null(strstr(r.body, "chk_"));
    api_response_free(&r);
    assert_int_equal(
        call("POST", "/v1/conversations", "{\"title\": \"x\"}", "Idempotency-Key: a b", &r), 400);
    api_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_answers_401_before_judging_anything),
        cmocka_unit_test(test_malformed_filters_are_400_naming_the_parameter),
        cmocka_unit_test(test_filters_compare_in_the_columns_type),
        cmocka_unit_test(test_a_page_of_large_objects_is_cut_never_refused),
        cmocka_unit_test(test_a_replayed_create_answers_the_first_and_writes_nothing),
        cmocka_unit_test(test_a_retried_message_append_makes_one_message),
        cmocka_unit_test(test_a_new_api_key_is_never_shown_again),
        cmocka_unit_test(test_malformed_keys_are_400_without_internals),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
