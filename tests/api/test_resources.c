/*
 * The generic resource engine, tested from its own descriptor table so that every
 * resource added later is covered without new test code:
 * - CRUD works with each descriptor's example body;
 * - a cross-tenant matrix: tenant B gets 404 for tenant A's object on GET, PATCH and DELETE,
 *   and A's object is unchanged afterwards;
 * - a bad-input battery on every create and update route: each answer is a 4xx with a
 *   clear error, and the server keeps serving.
 */
#include "api/api.h"
#include "auth/auth.h"
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
static char tenant_a[40], tenant_b[40];
static char key_a[64], key_b[64], key_readonly[64], key_platform[64];
static char ids[64][40]; /* A's object of each resource, by index in ab_resources */
static unsigned run_no;

/* ---- setup ---------------------------------------------------------------------------- */

static void make_tenant(const char *slug, char *id)
{
    const char *p[1] = {slug};

    api_sql(db, "INSERT INTO agentbase.tenants (slug, name) VALUES ($1, $1) RETURNING id", 1, p, id,
            40);
}

/* The example body of resource i with its placeholders filled for tenant A. */
static char *example(size_t i)
{
    const char *src = ab_resources[i].example;
    char *out = calloc(1, strlen(src) + 64 * 40 + 64), *o = out;

    while (*src) {
        if (strncmp(src, "{{", 2) == 0) {
            const char *end = strstr(src, "}}");
            size_t len = (size_t)(end - src - 2);

            if (len == 1 && src[2] == 'n') {
                o += sprintf(o, "%u", run_no);
            } else {
                for (size_t k = 0; k < i; k++)
                    if (strlen(ab_resources[k].name) == len &&
                        memcmp(ab_resources[k].name, src + 2, len) == 0)
                        o += sprintf(o, "%s", ids[k]);
            }
            src = end + 2;
        } else {
            *o++ = *src++;
        }
    }
    return out;
}

/* The example's fields that may be changed, as a PATCH body. */
static char *patch_body(size_t i)
{
    char *body = example(i), *out;
    json_t *doc = json_loads(body, 0, NULL), *patch = json_object();
    const char *field;
    json_t *value;

    json_object_foreach(doc, field, value)
    {
        size_t n = strlen(field);

        for (const char *p = ab_resources[i].update; *p;
             p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
            if (strcspn(p, ",") == n && memcmp(p, field, n) == 0)
                json_object_set(patch, field, value);
    }
    if (ab_resources[i].update[0] && json_object_size(patch) == 0)
        fail_msg("the example of %s has no field that PATCH may change", ab_resources[i].name);
    out = json_dumps(patch, 0);
    json_decref(patch);
    json_decref(doc);
    free(body);
    return out;
}

/* Who creates and owns resource i's objects in these tests: "tenant A". */
static const char *owner_key(size_t i)
{
    return ab_resources[i].platform || ab_resources[i].global ? key_platform : key_a;
}

/* A resource clients can only read (its rows come from the database itself). */
static bool read_only(size_t i)
{
    return ab_resources[i].own_create && !ab_resources[i].update[0];
}

static long call(const char *key, const char *method, const char *path, const char *body,
                 size_t len, struct api_response *r)
{
    char auth[128];
    const char *headers[3] = {auth, "Content-Type: application/json", NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    assert_int_equal(api_request(method, path, body, len, headers, r), 0);
    return r->status;
}

static void still_serving(void)
{
    struct api_response r;

    assert_int_equal(api_request("GET", "/healthz", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    api_response_free(&r);
}

static int setup(void **state)
{
    char slug[64];
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_resources", &db, &err) != 0)
        return -1;
    run_no = randombytes_random() % 1000000;
    snprintf(slug, sizeof(slug), "res-a-%u", run_no);
    make_tenant(slug, tenant_a);
    snprintf(slug, sizeof(slug), "res-b-%u", run_no);
    make_tenant(slug, tenant_b);
    /* Service keys to which the platform granted billing:admin: they write every resource. */
    api_make_key(db, tenant_a, "admin,billing:admin", "test", key_a);
    api_make_key(db, tenant_b, "admin,billing:admin", "test", key_b);
    api_make_key(db, tenant_a, "users:read", "test", key_readonly);
    /* Rows for the read-only resources: the isolation fixtures fill every tenant table for
     * tenant A, and the platform writes a metric (the seed has none). */
    api_sql(db, "SELECT abtest.fill($1)::text", 1, (const char *[]){tenant_a}, NULL, 0);
    api_sql(db,
            "INSERT INTO agentbase.system_metrics (component, metric_name, value) "
            "VALUES ('test', 'requests', 1)",
            0, NULL, NULL, 0);
    {
        char prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
        const char *p[2] = {prefix, hash};

        ab_auth_key_new(key_platform, prefix, hash);
        api_sql(db,
                "INSERT INTO agentbase.platform_api_keys (name, key_prefix, key_hash, scopes) "
                "VALUES ('test-resources', $1, $2, '{admin}')",
                2, p, NULL, 0);
    }
    return 0;
}

static int teardown(void **state)
{
    const char *p[2] = {tenant_a, tenant_b};

    (void)state;
    api_sql(db, "DELETE FROM agentbase.tenants WHERE id IN ($1, $2)", 2, p, NULL, 0);
    api_sql(db, "DELETE FROM agentbase.tenants WHERE slug LIKE 'tenant-%'", 0, NULL, NULL, 0);
    api_sql(db, "DELETE FROM agentbase.platform_api_keys WHERE name = 'test-resources'", 0, NULL,
            NULL, 0);
    PQfinish(db);
    return 0;
}

/* ---- CRUD ------------------------------------------------------------------------------ */

static void test_every_resource_creates_reads_and_lists_its_example(void **state)
{
    (void)state;
    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *res = &ab_resources[i];
        char path[256], *body = example(i);
        struct api_response r;
        json_t *doc = NULL;

        api_collection_path(i, ids, path, sizeof(path));
        if (read_only(i)) {
            /* Nothing to create: take the oldest object the seed or the fixtures left. */
            strcat(path, "?limit=1");
            assert_int_equal(call(owner_key(i), "GET", path, NULL, 0, &r), 200);
            json_t *page = json_loads(r.body, 0, NULL);

            doc = json_incref(json_array_get(json_object_get(page, "data"), 0));
            json_decref(page);
            if (!doc)
                fail_msg("%s has no object for tenant A: %s", res->name, r.body);
        } else if (call(owner_key(i), "POST", path, body, strlen(body), &r) != 201) {
            fail_msg("POST %s %s: %ld %s", path, body, r.status, r.body);
        } else {
            doc = json_loads(r.body, 0, NULL);
        }
        assert_non_null(doc);
        snprintf(ids[i], sizeof(ids[i]), "%s", json_string_value(json_object_get(doc, "id")));
        if (!res->platform && !res->global)
            assert_string_equal(json_string_value(json_object_get(doc, "tenant_id")), tenant_a);
        /* hidden columns never come back */
        for (const char *h = res->hidden; *h; h += strcspn(h, ",") + (h[strcspn(h, ",")] == ',')) {
            char col[64];

            snprintf(col, sizeof(col), "%.*s", (int)strcspn(h, ","), h);
            assert_null(json_object_get(doc, col));
        }
        json_decref(doc);
        api_response_free(&r);
        free(body);

        snprintf(path, sizeof(path), "/v1/%s/%s", res->name, ids[i]);
        assert_int_equal(call(owner_key(i), "GET", path, NULL, 0, &r), 200);
        api_response_free(&r);
        api_collection_path(i, ids, path, sizeof(path));
        strcat(path, "?limit=1");
        assert_int_equal(call(owner_key(i), "GET", path, NULL, 0, &r), 200);
        assert_non_null(strstr(r.body, "\"data\": ["));
        api_response_free(&r);
    }
}

static void test_list_pages_with_a_cursor(void **state)
{
    static const char second[] =
        "{\"name\": \"second\", \"model_provider\": \"x\", \"model_name\": \"y\"}";
    struct api_response r;
    char path[256], first[64];
    json_t *page, *next;
    const char *cursor, *after;

    (void)state;
    /* a second agent at least, so that limit=1 leaves more */
    assert_int_equal(call(key_a, "POST", "/v1/agents", second, strlen(second), &r), 201);
    api_response_free(&r);
    assert_int_equal(call(key_a, "GET", "/v1/agents?limit=1", NULL, 0, &r), 200);
    page = json_loads(r.body, 0, NULL);
    api_response_free(&r);
    assert_true(json_is_true(json_object_get(page, "has_more")));
    snprintf(
        first, sizeof(first), "%s",
        json_string_value(json_object_get(json_array_get(json_object_get(page, "data"), 0), "id")));
    cursor = json_string_value(json_object_get(page, "next_cursor"));
    assert_string_equal(cursor, first); /* the cursor is the last id of the page */
    snprintf(path, sizeof(path), "/v1/agents?limit=1&after=%s", cursor);
    assert_int_equal(call(key_a, "GET", path, NULL, 0, &r), 200);
    next = json_loads(r.body, 0, NULL);
    api_response_free(&r);
    after =
        json_string_value(json_object_get(json_array_get(json_object_get(next, "data"), 0), "id"));
    assert_non_null(after);
    assert_true(strcmp(after, first) > 0); /* the next page starts after the cursor, in id order */
    json_decref(next);
    json_decref(page);
}

/* ---- the cross-tenant matrix ---------------------------------------------------------- */

static void test_tenant_b_gets_404_for_every_object_of_a_and_changes_nothing(void **state)
{
    (void)state;
    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *res = &ab_resources[i];
        struct api_response before, r, after;
        char path[256];
        const char *methods[3] = {"GET", "PATCH", "DELETE"};

        snprintf(path, sizeof(path), "/v1/%s/%s", res->name, ids[i]);
        assert_int_equal(call(owner_key(i), "GET", path, NULL, 0, &before), 200);
        for (int m = 0; m < 3; m++) {
            char *body = m == 1 ? patch_body(i) : NULL;
            long st = call(key_b, methods[m], path, body, body ? strlen(body) : 0, &r);

            /* reference data is every tenant's to read, and nobody's to change here */
            if (res->global) {
                if (st != (m == 0 ? 200 : 405))
                    fail_msg("%s %s (global) as tenant B: %ld", methods[m], path, st);
                api_response_free(&r);
                free(body);
                continue;
            }

            /* a resource without DELETE (or PATCH) answers 405 to everyone, whatever the id */
            if (st != 404 &&
                !(st == 405 && ((m == 2 && res->no_delete) || (m == 1 && !res->update[0]))))
                fail_msg("%s %s as tenant B: %ld %s", methods[m], path, st, r.body);
            api_response_free(&r);
            free(body);
        }
        if (res->parent) { /* B can neither list nor append under A's parent */
            char coll[256], *body = example(i);

            api_collection_path(i, ids, coll, sizeof(coll));
            assert_int_equal(call(key_b, "GET", coll, NULL, 0, &r), 404);
            api_response_free(&r);
            assert_int_equal(call(key_b, "POST", coll, body, strlen(body), &r), 404);
            api_response_free(&r);
            free(body);
        }
        assert_int_equal(call(owner_key(i), "GET", path, NULL, 0, &after), 200);
        assert_string_equal(after.body, before.body);
        api_response_free(&before);
        api_response_free(&after);
    }
}

static void test_a_key_without_the_scope_gets_403_on_every_route(void **state)
{
    (void)state;
    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *res = &ab_resources[i];
        bool readable = strcmp(res->name, "users") == 0; /* the key has users:read only */
        struct api_response r;
        char coll[128], item[192];

        api_collection_path(i, ids, coll, sizeof(coll));
        snprintf(item, sizeof(item), "/v1/%s/%s", res->name, ids[i]);
        assert_int_equal(call(key_readonly, "GET", coll, NULL, 0, &r), readable ? 200 : 403);
        api_response_free(&r);
        assert_int_equal(call(key_readonly, "GET", item, NULL, 0, &r), readable ? 200 : 403);
        api_response_free(&r);
        /* the key is judged before the body; a read-only resource has no POST at all */
        assert_int_equal(call(key_readonly, "POST", coll, "{\"x\": 1}", 8, &r),
                         read_only(i) ? 405 : 403);
        api_response_free(&r);
        if (!res->no_delete) {
            assert_int_equal(call(key_readonly, "DELETE", item, NULL, 0, &r), 403);
            assert_non_null(strstr(r.body, res->write_scope ? res->write_scope : ":write"));
            api_response_free(&r);
        }
    }
}

/* ---- the bad-input battery ---------------------------------------------------------- */

struct bad {
    const char *what;
    const char *body;
    size_t len; /* 0: strlen */
};

static void expect_4xx(const char *method, const char *path, const struct bad *b)
{
    struct api_response r;
    size_t len = b->len ? b->len : strlen(b->body);
    long st = call(key_a, method, path, b->body, len, &r);

    if (st < 400 || st >= 500 || !strstr(r.body, "\"error\":{\"type\":"))
        fail_msg("%s %s with %s: %ld %s", method, path, b->what, st, r.body);
    api_response_free(&r);
}

static void test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(void **state)
{
    static char deep[200], nul[] = "{\"name\": \"a\0b\"}";
    static const struct bad fixed[] = {
        {"malformed JSON", "{\"name\": ", 0},
        {"a JSON array", "[1, 2]", 0},
        {"a JSON string", "\"text\"", 0},
        {"an empty object", "{}", 0},
        {"an unknown field", "{\"no_such_field\": 1}", 0},
        {"a read-only id", "{\"id\": \"00000000-0000-0000-0000-000000000000\"}", 0},
        {"a foreign tenant_id", "{\"tenant_id\": \"00000000-0000-0000-0000-000000000000\"}", 0},
        {"created_at", "{\"created_at\": \"2020-01-01T00:00:00Z\"}", 0},
        {"a duplicate key", "{\"metadata\": {}, \"metadata\": {}}", 0},
        {"an escaped NUL", "{\"name\": \"a\\u0000b\"}", 0},
        {"invalid UTF-8", "{\"name\": \"\xff\xfe\"}", 0},
        {"a hidden column", "{\"password_hash\": \"x\"}", 0},
    };
    struct bad nul_byte = {"a raw NUL byte", nul, sizeof(nul) - 1};
    struct bad nested = {"deep nesting", deep, 0};

    (void)state;
    memset(deep, 0, sizeof(deep));
    strcpy(deep, "{\"metadata\": ");
    for (int d = 0; d < 40; d++)
        strcat(deep, "[");
    for (int d = 0; d < 40; d++)
        strcat(deep, "]");
    strcat(deep, "}");
    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *res = &ab_resources[i];
        char coll[128], item[192], bad_item[192];
        struct api_response r;

        api_collection_path(i, ids, coll, sizeof(coll));
        snprintf(item, sizeof(item), "/v1/%s/%s", res->name, ids[i]);
        for (size_t b = 0; b < AB_ARRAY_LEN(fixed); b++) {
            expect_4xx("POST", coll, &fixed[b]);
            expect_4xx("PATCH", item, &fixed[b]);
        }
        expect_4xx("POST", coll, &nul_byte);
        expect_4xx("PATCH", item, &nul_byte);
        expect_4xx("POST", coll, &nested);
        expect_4xx("PATCH", item, &nested);
        /* invalid UUIDs in the path */
        snprintf(bad_item, sizeof(bad_item), "/v1/%s/not-a-uuid", res->name);
        assert_int_equal(call(key_a, "GET", bad_item, NULL, 0, &r), 404);
        api_response_free(&r);
        call(key_a, "DELETE", bad_item, NULL, 0, &r); /* 405 where there is no DELETE at all */
        assert_true(r.status == 404 || (ab_resources[i].no_delete && r.status == 405));
        api_response_free(&r);
        snprintf(bad_item, sizeof(bad_item), "/v1/%s/%%27%%3B%%20DROP%%20TABLE", res->name);
        assert_int_equal(call(key_a, "GET", bad_item, NULL, 0, &r), 404);
        api_response_free(&r);
        still_serving();
    }
}

/* Every field of the example, sent with a value of the wrong JSON type. */
static void test_wrong_types_are_refused_naming_the_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < ab_nresources; i++) {
        char coll[128], *body = example(i);
        json_t *doc = json_loads(body, 0, NULL);
        const char *field;
        json_t *value;

        api_collection_path(i, ids, coll, sizeof(coll));
        json_object_foreach(doc, field, value)
        {
            json_t *wrong = json_is_string(value) ? json_integer(12345) : json_string("abc");
            json_t *copy = json_deep_copy(doc);
            struct api_response r;
            char *text, want[128];

            json_object_set_new(copy, field, wrong);
            text = json_dumps(copy, 0);
            /*
             * A scalar or array column given another type is 400 naming the field; a JSON
             * column takes any JSON (its own CHECK may refuse the shape: 422), never a 5xx.
             */
            call(key_a, "POST", coll, text, strlen(text), &r);
            snprintf(want, sizeof(want), "field '%s' must be", field);
            if (json_is_object(value) ? r.status >= 500
                                      : (r.status != 400 || !strstr(r.body, want)) &&
                                            !strstr(r.body, "invalid input"))
                fail_msg("POST %s with a wrong %s: %ld %s", coll, field, r.status, r.body);
            api_response_free(&r);
            free(text);
            json_decref(copy);
        }
        json_decref(doc);
        free(body);
    }
    still_serving();
}

static void test_quotes_and_sql_in_strings_are_just_text(void **state)
{
    static const char body[] = "{\"name\": \"quotes\", \"description\": "
                               "\"x'); DROP TABLE agentbase.agents; --\\\"\", "
                               "\"model_provider\": \"openai\", \"model_name\": \"o'reilly\"}";
    struct api_response r;

    (void)state;
    assert_int_equal(call(key_a, "POST", "/v1/agents", body, strlen(body), &r), 201);
    assert_non_null(strstr(r.body, "DROP TABLE agentbase.agents; --\\\""));
    api_response_free(&r);
    assert_int_equal(call(key_a, "GET", "/v1/agents?limit=1", NULL, 0, &r), 200);
    api_response_free(&r);
}

static void test_oversize_body_on_a_create_route_is_413(void **state)
{
    size_t n = (1u << 20) + 10;
    char *big = malloc(n);
    struct api_response r;

    (void)state;
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    assert_int_equal(call(key_a, "POST", "/v1/agents", big, n, &r), 413);
    api_response_free(&r);
    free(big);
    still_serving();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_resource_creates_reads_and_lists_its_example),
        cmocka_unit_test(test_list_pages_with_a_cursor),
        cmocka_unit_test(test_tenant_b_gets_404_for_every_object_of_a_and_changes_nothing),
        cmocka_unit_test(test_a_key_without_the_scope_gets_403_on_every_route),
        cmocka_unit_test(test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving),
        cmocka_unit_test(test_wrong_types_are_refused_naming_the_field),
        cmocka_unit_test(test_quotes_and_sql_in_strings_are_just_text),
        cmocka_unit_test(test_oversize_body_on_a_create_route_is_413),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
