/*
 * The LLM requests after the fact, over HTTP: the project of a call travels from its
 * reservation into ai-requests, the rollups and the summary; payloads are kept only where the
 * tenant keeps prompts; the requests behind the rollups are listed by model, user and project,
 * a page at a time; a user's month adds up, in all and by project; feedback is recorded beside
 * the request (which stays as it was) and joined into it, and nobody rates what they cannot
 * see. Each test works in tenants of its own, with a provider and a model made for the run.
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
static char provider[40];

struct tenant {
    char id[40];
    char key[64];     /* admin, no user */
    char project[40]; /* a project of the tenant */
};

/* ---- helpers -------------------------------------------------------------------------- */

static void sql(const char *q, const char *p1, const char *p2, char *out, size_t n)
{
    const char *p[2] = {p1, p2};

    api_sql(db, q, p2 ? 2 : p1 ? 1 : 0, p, out, n);
}

/* A key of tenant t for user (NULL: none) with the scopes (a text[] literal). */
static void new_key(const char *tenant, const char *user, const char *scopes, char key[64])
{
    char prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
    const char *p[5] = {tenant, user, prefix, hash, scopes};

    ab_auth_key_new(key, prefix, hash);
    api_sql(
        db,
        "INSERT INTO agentbase.api_keys (tenant_id, user_id, name, key_prefix, key_hash, scopes) "
        "VALUES ($1, $2, 'test', $3, $4, $5::text[])",
        5, p, NULL, 0);
}

static void new_tenant(struct tenant *t, const char *settings)
{
    char slug[64];

    snprintf(slug, sizeof(slug), "requests-%u", randombytes_random() % 100000000);
    sql("INSERT INTO agentbase.tenants (slug, name, plan, settings) "
        "VALUES ($1, $1, 'enterprise', $2::jsonb) RETURNING id",
        slug, settings ? settings : "{}", t->id, sizeof(t->id));
    new_key(t->id, NULL, "{admin}", t->key);
    sql("INSERT INTO agentbase.projects (tenant_id, name) VALUES ($1, 'p') RETURNING id", t->id,
        NULL, t->project, sizeof(t->project));
}

static void new_user(const struct tenant *t, const char *role, char *out)
{
    sql("INSERT INTO agentbase.users (tenant_id, email, username, role) "
        "VALUES ($1, gen_random_uuid() || '@requests.test', gen_random_uuid(), $2) RETURNING id",
        t->id, role, out, 40);
}

static long call_as(const char *key, const char *method, const char *path, const char *body,
                    struct api_response *r)
{
    char auth[128];
    const char *headers[2] = {auth, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    if (api_request(method, path, body, body ? strlen(body) : 0, headers, r) != 0)
        return -1;
    return r->status;
}

/* A call's status, the response discarded. */
static long status_of(const char *key, const char *method, const char *path, const char *body)
{
    struct api_response r;
    long status = call_as(key, method, path, body, &r);

    api_response_free(&r);
    return status;
}

/* GET path as key (must answer 200); the body parsed (the caller frees it). */
static json_t *get_json(const char *key, const char *path)
{
    struct api_response r;
    json_t *doc;

    assert_int_equal(call_as(key, "GET", path, NULL, &r), 200);
    doc = json_loads(r.body, 0, NULL);
    assert_non_null(doc);
    api_response_free(&r);
    return doc;
}

/* A finished call for user (extra: more members of the event body); its ai_request_id. */
static void event(const struct tenant *t, const char *user, const char *model, long in,
                  const char *extra, char *id)
{
    char body[1024];
    struct api_response r;
    json_t *doc;

    snprintf(body, sizeof(body),
             "{\"user_id\": \"%s\", \"provider\": \"%s\", \"model\": \"%s\", "
             "\"input_tokens\": %ld, \"output_tokens\": 10%s}",
             user, provider, model, in, extra ? extra : "");
    assert_int_equal(call_as(t->key, "POST", "/v1/usage/events", body, &r), 201);
    doc = json_loads(r.body, 0, NULL);
    snprintf(id, 40, "%s", json_string_value(json_object_get(doc, "ai_request_id")));
    json_decref(doc);
    api_response_free(&r);
}

static const char *text_of(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);

    return json_is_string(v) ? json_string_value(v) : "";
}

static long long int_of(json_t *obj, const char *name)
{
    return json_integer_value(json_object_get(obj, name));
}

/* ---- the project, the times and the payloads ------------------------------------------ */

static void
test_the_project_travels_from_the_reservation_into_the_request_and_the_summary(void **state)
{
    struct tenant t;
    struct api_response r;
    char user[40], body[1024], path[128], hold[40], req[40], got[256];
    json_t *doc, *groups;

    (void)state;
    new_tenant(&t, NULL);
    new_user(&t, "user", user);
    snprintf(body, sizeof(body),
             "{\"user_id\": \"%s\", \"project_id\": \"%s\", \"provider\": \"%s\", "
             "\"model\": \"m\", \"estimated_input_tokens\": 100, \"max_output_tokens\": 100}",
             user, t.project, provider);
    assert_int_equal(call_as(t.key, "POST", "/v1/usage/reservations", body, &r), 201);
    doc = json_loads(r.body, 0, NULL);
    assert_string_equal(text_of(doc, "project_id"), t.project);
    snprintf(hold, sizeof(hold), "%s", text_of(doc, "id"));
    json_decref(doc);
    api_response_free(&r);

    /* started_at after completed_at is refused before anything moves */
    snprintf(path, sizeof(path), "/v1/usage/reservations/%s/settle", hold);
    assert_int_equal(call_as(t.key, "POST", path,
                             "{\"input_tokens\": 90, \"output_tokens\": 40, "
                             "\"started_at\": \"2026-11-01T10:00:05Z\", "
                             "\"completed_at\": \"2026-11-01T10:00:00Z\"}",
                             &r),
                     400);
    assert_string_equal(
        api_error_text(&r),
        "{\"error\":{\"code\":\"invalid_field\",\"message\":\"field started_at: the "
        "call cannot start after it completed\"}}");
    api_response_free(&r);
    assert_int_equal(call_as(t.key, "POST", path,
                             "{\"input_tokens\": 90, \"output_tokens\": 40, "
                             "\"started_at\": \"2026-11-01T10:00:00Z\", "
                             "\"completed_at\": \"2026-11-01T10:00:02Z\", "
                             "\"request_payload\": {\"messages\": [\"secret prompt\"]}, "
                             "\"response_payload\": \"secret answer\"}",
                             &r),
                     200);
    doc = json_loads(r.body, 0, NULL);
    snprintf(req, sizeof(req), "%s", text_of(doc, "ai_request_id"));
    json_decref(doc);
    api_response_free(&r);
    /* the tenant keeps no prompts: the payloads are gone, the rest is the call's */
    sql("SELECT project_id || ' ' || started_at AT TIME ZONE 'UTC' || ' ' || "
        "       completed_at AT TIME ZONE 'UTC' || ' ' || "
        "       (request_payload IS NULL AND response_payload IS NULL) "
        "  FROM agentbase.ai_requests WHERE id = $1",
        req, NULL, got, sizeof(got));
    snprintf(body, sizeof(body), "%s 2026-11-01 10:00:00 2026-11-01 10:00:02 true", t.project);
    assert_string_equal(got, body);
    sql("SELECT count(*) FROM agentbase.cost_tracking WHERE tenant_id = $1 AND project_id = $2",
        t.id, t.project, got, sizeof(got));
    assert_string_equal(got, "1");

    /* an event without a project; the summary by project has both */
    event(&t, user, "m", 100, NULL, req);
    doc = get_json(t.key, "/v1/usage/summary?group_by=project");
    assert_string_equal(text_of(doc, "group_by"), "project");
    groups = json_object_get(doc, "groups");
    assert_int_equal(json_array_size(groups), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *g = json_array_get(groups, i);

        if (json_is_null(json_object_get(g, "project_id")))
            assert_int_equal(int_of(g, "total_tokens"), 110);
        else {
            assert_string_equal(text_of(g, "project_id"), t.project);
            assert_int_equal(int_of(g, "total_tokens"), 130);
        }
    }
    json_decref(doc);

    /* a project that is not the tenant's */
    snprintf(body, sizeof(body),
             "{\"user_id\": \"%s\", \"project_id\": \"01a20000-0000-7000-8000-0000000000aa\", "
             "\"provider\": \"%s\", \"model\": \"m\", \"input_tokens\": 1, \"output_tokens\": 1}",
             user, provider);
    assert_int_equal(call_as(t.key, "POST", "/v1/usage/events", body, &r), 422);
    assert_string_equal(api_error_text(&r),
                        "{\"error\":{\"code\":\"invalid_reference\",\"message\":\"project "
                        "01a20000-0000-7000-8000-0000000000aa not found\"}}");
    api_response_free(&r);
}

static void test_payloads_are_kept_only_where_the_tenant_keeps_prompts(void **state)
{
    struct tenant keeps, not_keeps;
    char user[40], req[40], got[256], path[128], body[512];
    const char *payload = ", \"request_payload\": {\"prompt\": \"hi\"}, "
                          "\"response_payload\": {\"text\": \"hello\"}";
    json_t *doc;

    (void)state;
    new_tenant(&keeps, "{\"store_prompts\": true}");
    new_user(&keeps, "user", user);
    event(&keeps, user, "m", 5, payload, req);
    snprintf(path, sizeof(path), "/v1/ai-requests/%s", req);
    doc = get_json(keeps.key, path);
    assert_string_equal(text_of(json_object_get(doc, "request_payload"), "prompt"), "hi");
    assert_string_equal(text_of(json_object_get(doc, "response_payload"), "text"), "hello");
    json_decref(doc);

    /* the setting off, also when written directly as the service (not the accounting) */
    new_tenant(&not_keeps, "{\"store_prompts\": false}");
    new_user(&not_keeps, "user", user);
    event(&not_keeps, user, "m", 5, payload, req);
    sql("SELECT count(*) FROM agentbase.ai_requests WHERE id = $1 AND request_payload IS NULL "
        "AND response_payload IS NULL",
        req, NULL, got, sizeof(got));
    assert_string_equal(got, "1");
    snprintf(body, sizeof(body),
             "{\"user_id\": \"%s\", \"provider\": \"%s\", \"model\": \"m\", "
             "\"request_payload\": {\"prompt\": \"hi\"}}",
             user, provider);
    {
        struct api_response r;

        assert_int_equal(call_as(not_keeps.key, "POST", "/v1/ai-requests", body, &r), 201);
        doc = json_loads(r.body, 0, NULL);
        assert_true(json_is_null(json_object_get(doc, "request_payload")));
        assert_int_equal(json_array_size(json_object_get(doc, "feedback")), 0);
        json_decref(doc);
        api_response_free(&r);
    }
}

/* ---- the requests behind the rollups ------------------------------------------------------ */

static void test_the_requests_behind_a_rollup_are_listed_by_model_user_and_project(void **state)
{
    struct tenant t;
    char users[2][40], ids[4][40], extra[128], path[256], cursor[40];
    json_t *doc, *data;

    (void)state;
    new_tenant(&t, NULL);
    new_user(&t, "user", users[0]);
    new_user(&t, "user", users[1]);
    snprintf(extra, sizeof(extra), ", \"project_id\": \"%s\"", t.project);
    event(&t, users[0], "m", 1, extra, ids[0]);
    event(&t, users[0], "m2", 2, NULL, ids[1]);
    event(&t, users[1], "m", 3, extra, ids[2]);
    event(&t, users[1], "m", 4, NULL, ids[3]);

    doc = get_json(t.key, "/v1/usage/requests?model=m");
    data = json_object_get(doc, "data");
    assert_int_equal(json_array_size(data), 3);
    /* newest first */
    assert_string_equal(text_of(json_array_get(data, 0), "id"), ids[3]);
    assert_string_equal(text_of(json_array_get(data, 2), "id"), ids[0]);
    assert_false(json_is_true(json_object_get(doc, "has_more")));
    json_decref(doc);

    snprintf(path, sizeof(path), "/v1/usage/requests?project_id=%s&provider=%s", t.project,
             provider);
    doc = get_json(t.key, path);
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 2);
    json_decref(doc);

    snprintf(path, sizeof(path), "/v1/usage/requests?user_id=%s&model=m&from=2026-01-01", users[1]);
    doc = get_json(t.key, path);
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 2);
    json_decref(doc);

    /* a page at a time */
    doc = get_json(t.key, "/v1/usage/requests?limit=3");
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 3);
    assert_true(json_is_true(json_object_get(doc, "has_more")));
    snprintf(cursor, sizeof(cursor), "%s", text_of(doc, "next_cursor"));
    assert_string_equal(cursor, text_of(json_array_get(json_object_get(doc, "data"), 2), "id"));
    json_decref(doc);
    snprintf(path, sizeof(path), "/v1/usage/requests?limit=3&after=%s", cursor);
    doc = get_json(t.key, path);
    data = json_object_get(doc, "data");
    assert_int_equal(json_array_size(data), 1);
    assert_string_equal(text_of(json_array_get(data, 0), "id"), ids[0]);
    assert_true(json_is_null(json_object_get(doc, "next_cursor")));
    json_decref(doc);

    /* a period without calls */
    doc = get_json(t.key, "/v1/usage/requests?from=2020-01-01&to=2020-02-01");
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 0);
    json_decref(doc);

    /* bad parameters, each named */
    {
        static const char *const bad[][2] = {
            {"/v1/usage/requests?models=m", "unknown_parameter"},
            {"/v1/usage/requests?limit=0", "invalid_parameter"},
            {"/v1/usage/requests?limit=501", "invalid_parameter"},
            {"/v1/usage/requests?from=yesterday", "invalid_parameter"},
            {"/v1/usage/requests?user_id=nobody", "invalid_parameter"},
            {"/v1/usage/requests?model=m&model=m2", "invalid_parameter"},
            {"/v1/usage/requests?from=2026-02-01&to=2026-01-01", "invalid_field"},
            {"/v1/usage/requests?after=01a20000-0000-7000-8000-0000000000aa", "invalid_field"},
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            struct api_response r;

            assert_int_equal(call_as(t.key, "GET", bad[i][0], NULL, &r), 400);
            if (!strstr(api_error_text(&r), bad[i][1]))
                fail_msg("%s: %s", bad[i][0], api_error_text(&r));
            api_response_free(&r);
        }
    }
}

/* A user lists their own requests only: RLS decides. */
static void test_a_user_lists_only_their_own_requests(void **state)
{
    struct tenant t;
    char users[2][40], ids[2][40], key[64];
    json_t *doc, *data;

    (void)state;
    new_tenant(&t, NULL);
    new_user(&t, "user", users[0]);
    new_user(&t, "user", users[1]);
    event(&t, users[0], "m", 1, NULL, ids[0]);
    event(&t, users[1], "m", 1, NULL, ids[1]);
    new_key(t.id, users[0], "{usage:read}", key);
    doc = get_json(key, "/v1/usage/requests");
    data = json_object_get(doc, "data");
    assert_int_equal(json_array_size(data), 1);
    assert_string_equal(text_of(json_array_get(data, 0), "id"), ids[0]);
    json_decref(doc);
}

/* ---- a user's month --------------------------------------------------------------------- */

static void test_a_users_month_adds_up_in_all_and_by_project(void **state)
{
    struct tenant t, other;
    char users[2][40], id[40], extra[128], path[256], key[64], month[8];
    json_t *doc, *projects;

    (void)state;
    new_tenant(&t, NULL);
    new_user(&t, "user", users[0]);
    new_user(&t, "user", users[1]);
    snprintf(extra, sizeof(extra), ", \"project_id\": \"%s\"", t.project);
    event(&t, users[0], "m", 100, extra, id);  /* 110 tokens */
    event(&t, users[0], "m", 200, extra, id);  /* 210 */
    event(&t, users[0], "m2", 300, NULL, id);  /* 310, no project */
    event(&t, users[1], "m", 1000, extra, id); /* someone else's */
    sql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')", NULL, NULL, month, sizeof(month));

    snprintf(path, sizeof(path), "/v1/usage/monthly?user_id=%s&month=%s", users[0], month);
    doc = get_json(t.key, path);
    assert_string_equal(text_of(doc, "month"), month);
    assert_int_equal(int_of(doc, "requests"), 3);
    assert_int_equal(int_of(doc, "input_tokens"), 600);
    assert_int_equal(int_of(doc, "total_tokens"), 630);
    /* 10 USD per 1M input, 20 per 1M output: 600 in and 30 out */
    assert_true(json_number_value(json_object_get(doc, "cost_usd")) > 0.00659 &&
                json_number_value(json_object_get(doc, "cost_usd")) < 0.00661);
    projects = json_object_get(doc, "projects");
    assert_int_equal(json_array_size(projects), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *p = json_array_get(projects, i);

        if (json_is_null(json_object_get(p, "project_id")))
            assert_int_equal(int_of(p, "total_tokens"), 310);
        else {
            assert_string_equal(text_of(p, "project_id"), t.project);
            assert_int_equal(int_of(p, "total_tokens"), 320);
            assert_int_equal(int_of(p, "requests"), 2);
        }
    }
    json_decref(doc);

    /* another month: nothing, as zeros */
    snprintf(path, sizeof(path), "/v1/usage/monthly?user_id=%s&month=2020-01", users[0]);
    doc = get_json(t.key, path);
    assert_int_equal(int_of(doc, "total_tokens"), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "projects")), 0);
    json_decref(doc);

    /* the user's own key: their month by default, nobody else's */
    new_key(t.id, users[0], "{usage:read}", key);
    doc = get_json(key, "/v1/usage/monthly");
    assert_string_equal(text_of(doc, "user_id"), users[0]);
    assert_int_equal(int_of(doc, "total_tokens"), 630);
    json_decref(doc);
    snprintf(path, sizeof(path), "/v1/usage/monthly?user_id=%s", users[1]);
    assert_int_equal(status_of(key, "GET", path, NULL), 403);

    /* a user of another tenant does not exist here; a key without a user must name one */
    new_tenant(&other, NULL);
    snprintf(path, sizeof(path), "/v1/usage/monthly?user_id=%s", users[0]);
    assert_int_equal(status_of(other.key, "GET", path, NULL), 404);
    assert_int_equal(status_of(t.key, "GET", "/v1/usage/monthly", NULL), 400);
    assert_int_equal(status_of(t.key, "GET", "/v1/usage/monthly?month=2026-13", NULL), 400);
    assert_int_equal(status_of(t.key, "GET", "/v1/usage/monthly?month=november", NULL), 400);
}

/* ---- feedback ---------------------------------------------------------------------------- */

static void test_feedback_is_recorded_beside_the_request_and_joined_into_it(void **state)
{
    struct tenant t, other;
    struct api_response r;
    char user[40], viewer[40], req[40], rag[40], path[256], key[64], vkey[64], got[128];
    json_t *doc, *fb;

    (void)state;
    new_tenant(&t, NULL);
    new_user(&t, "user", user);
    new_user(&t, "viewer", viewer);
    event(&t, user, "m", 10, NULL, req);
    new_key(t.id, user, "{admin}", key);
    new_key(t.id, viewer, "{admin}", vkey);

    snprintf(path, sizeof(path), "/v1/ai-requests/%s/feedback", req);
    assert_int_equal(
        call_as(key, "POST", path, "{\"rating\": 5, \"comment\": \"exactly right\"}", &r), 201);
    doc = json_loads(r.body, 0, NULL);
    assert_string_equal(text_of(doc, "target_type"), "ai_request");
    assert_string_equal(text_of(doc, "target_id"), req);
    assert_string_equal(text_of(doc, "user_id"), user);
    assert_int_equal(int_of(doc, "rating"), 5);
    json_decref(doc);
    api_response_free(&r);
    assert_int_equal(status_of(t.key, "POST", path, "{\"rating\": 2}"), 201);

    /* the request carries both, oldest first; its own row is unchanged */
    snprintf(path, sizeof(path), "/v1/ai-requests/%s", req);
    doc = get_json(t.key, path);
    fb = json_object_get(doc, "feedback");
    assert_int_equal(json_array_size(fb), 2);
    assert_int_equal(int_of(json_array_get(fb, 0), "rating"), 5);
    assert_string_equal(text_of(json_array_get(fb, 0), "comment"), "exactly right");
    assert_int_equal(int_of(json_array_get(fb, 1), "rating"), 2);
    assert_true(json_is_null(json_object_get(doc, "user_rating")));
    json_decref(doc);
    /* ... also in a list; the user sees their own feedback only */
    doc = get_json(key, "/v1/ai-requests");
    fb = json_object_get(json_array_get(json_object_get(doc, "data"), 0), "feedback");
    assert_int_equal(json_array_size(fb), 1);
    json_decref(doc);

    /* bad ratings; nothing else than rating and comment */
    snprintf(path, sizeof(path), "/v1/ai-requests/%s/feedback", req);
    assert_int_equal(call_as(t.key, "POST", path, "{\"rating\": 6}", &r), 400);
    assert_string_equal(api_error_text(&r),
                        "{\"error\":{\"code\":\"invalid_field\",\"message\":\"field 'rating' is "
                        "out of range (1 to 5)\"}}");
    api_response_free(&r);
    assert_int_equal(status_of(t.key, "POST", path, "{\"comment\": \"no rating\"}"), 400);
    assert_int_equal(status_of(t.key, "POST", path, "{\"rating\": 3, \"user_id\": \"x\"}"), 400);

    /* a viewer writes nothing; a request of another tenant, or none, is not found */
    assert_int_equal(status_of(vkey, "POST", path, "{\"rating\": 1}"), 403);
    new_tenant(&other, NULL);
    assert_int_equal(status_of(other.key, "POST", path, "{\"rating\": 1}"), 404);
    assert_int_equal(status_of(t.key, "POST",
                               "/v1/ai-requests/01a20000-0000-7000-8000-0000000000aa/feedback",
                               "{\"rating\": 1}"),
                     404);
    assert_int_equal(status_of(t.key, "POST", "/v1/ai-requests/nope/feedback", "{\"rating\": 1}"),
                     404);
    sql("SELECT count(*) FROM agentbase.request_feedback WHERE target_id = $1", req, NULL, got,
        sizeof(got));
    assert_string_equal(got, "2");

    /* a user rates only their own requests: another user's is not found */
    {
        char other_user[40], okey[64];

        new_user(&t, "user", other_user);
        new_key(t.id, other_user, "{admin}", okey);
        assert_int_equal(status_of(okey, "POST", path, "{\"rating\": 1}"), 404);
    }

    /* the same for RAG queries */
    sql("INSERT INTO agentbase.rag_queries (tenant_id, user_id, query_text) "
        "VALUES ($1, $2, 'what is it?') RETURNING id",
        t.id, user, rag, sizeof(rag));
    snprintf(path, sizeof(path), "/v1/rag-queries/%s/feedback", rag);
    assert_int_equal(status_of(key, "POST", path, "{\"rating\": 1, \"comment\": \"off topic\"}"),
                     201);
    assert_int_equal(status_of(other.key, "POST", path, "{\"rating\": 5}"), 404);
    snprintf(path, sizeof(path), "/v1/rag-queries/%s", rag);
    doc = get_json(key, path);
    fb = json_object_get(doc, "feedback");
    assert_int_equal(json_array_size(fb), 1);
    assert_string_equal(text_of(json_array_get(fb, 0), "comment"), "off topic");
    json_decref(doc);
    /* a request id is no RAG query */
    snprintf(path, sizeof(path), "/v1/rag-queries/%s/feedback", req);
    assert_int_equal(status_of(t.key, "POST", path, "{\"rating\": 5}"), 404);
    /* the feedback is a resource of its own, read-only */
    snprintf(path, sizeof(path), "/v1/request-feedback?target_id=%s", rag);
    doc = get_json(t.key, path);
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 1);
    json_decref(doc);
}

/* ---- the legacy views and the performance rollups ------------------------------------------ */

static void test_the_legacy_views_and_the_performance_rollups_are_read_only_resources(void **state)
{
    struct tenant t;
    char user[40], id[40], path[128], agent[40];
    json_t *doc, *row;

    (void)state;
    new_tenant(&t, NULL);
    new_user(&t, "user", user);
    event(&t, user, "m", 7, NULL, id);
    doc = get_json(t.key, "/v1/usage-logs");
    row = json_array_get(json_object_get(doc, "data"), 0);
    assert_string_equal(text_of(row, "id"), id);
    assert_int_equal(int_of(row, "prompt_tokens"), 7);
    assert_int_equal(int_of(row, "completion_tokens"), 10);
    json_decref(doc);
    snprintf(path, sizeof(path), "/v1/usage-logs/%s", id);
    doc = get_json(t.key, path);
    assert_int_equal(int_of(doc, "total_tokens"), 17);
    json_decref(doc);
    doc = get_json(t.key, "/v1/token-transactions");
    json_decref(doc);
    doc = get_json(t.key, "/v1/user-quotas");
    json_decref(doc);
    assert_int_equal(status_of(t.key, "POST", "/v1/usage-logs", "{}"), 405);

    sql("INSERT INTO agentbase.agents (tenant_id, name, model_provider, model_name) "
        "VALUES ($1, 'a', 'openai', 'gpt-4o') RETURNING id",
        t.id, NULL, agent, sizeof(agent));
    sql("INSERT INTO agentbase.performance_metrics (tenant_id, agent_id, metric_name, value) "
        "SELECT $1, $2, 'latency_ms', v FROM generate_series(1, 100) v",
        t.id, agent, NULL, 0);
    sql("SELECT agentbase.performance_rollup()", NULL, NULL, NULL, 0);
    snprintf(path, sizeof(path),
             "/v1/performance-metric-rollups?agent_id=%s&period_type=hourly&metric_name=latency_ms",
             agent);
    doc = get_json(t.key, path);
    row = json_array_get(json_object_get(doc, "data"), 0);
    assert_int_equal(int_of(row, "sample_count"), 100);
    assert_true(json_number_value(json_object_get(row, "p95_value")) > 95.0 &&
                json_number_value(json_object_get(row, "p95_value")) < 96.0);
    json_decref(doc);
    doc = get_json(t.key, "/v1/performance-metric-rollups?period_type=daily");
    assert_int_equal(json_array_size(json_object_get(doc, "data")), 2); /* the agent, and all */
    json_decref(doc);
    assert_int_equal(status_of(t.key, "POST", "/v1/performance-metric-rollups", "{}"), 405);
}

/* ---- setup -------------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct ab_error err;
    const char *p[1] = {provider};

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_requests", &db, &err) != 0)
        return -1;
    snprintf(provider, sizeof(provider), "requests-test-%u", randombytes_random() % 100000000);
    /* m and m2: 10 USD per 1M input, 20 per 1M output */
    api_sql(db,
            "WITH p AS (INSERT INTO agentbase.ai_providers (name, display_name) VALUES ($1, $1) "
            "           RETURNING id), "
            "     m AS (INSERT INTO agentbase.ai_models (provider_id, name, display_name, "
            "           context_window) SELECT id, n, n, 100000 FROM p, unnest('{m,m2}'::text[]) n "
            "           RETURNING id) "
            "INSERT INTO agentbase.ai_model_prices (model_id, effective_from, input_per_1m, "
            "       output_per_1m) "
            "SELECT id, now() - interval '1 day', 10, 20 FROM m",
            1, p, NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    const char *p[1] = {provider};

    (void)state;
    api_sql(db, "DELETE FROM agentbase.tenants WHERE slug LIKE 'requests-%'", 0, NULL, NULL, 0);
    api_sql(db, "DELETE FROM agentbase.ai_providers WHERE name = $1", 1, p, NULL, 0);
    PQfinish(db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_the_project_travels_from_the_reservation_into_the_request_and_the_summary),
        cmocka_unit_test(test_payloads_are_kept_only_where_the_tenant_keeps_prompts),
        cmocka_unit_test(test_the_requests_behind_a_rollup_are_listed_by_model_user_and_project),
        cmocka_unit_test(test_a_user_lists_only_their_own_requests),
        cmocka_unit_test(test_a_users_month_adds_up_in_all_and_by_project),
        cmocka_unit_test(test_feedback_is_recorded_beside_the_request_and_joined_into_it),
        cmocka_unit_test(test_the_legacy_views_and_the_performance_rollups_are_read_only_resources),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
