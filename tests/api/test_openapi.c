/*
 * /openapi.json describes exactly what is served: every route of the fixed table and of
 * the resource engine appears with its method, every operation has responses, and every
 * $ref points at a schema the document defines.
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

static json_t *doc;

static int setup(void **state)
{
    struct api_response r;

    (void)state;
    if (api_request("GET", "/openapi.json", NULL, 0, NULL, &r) != 0 || r.status != 200)
        return -1;
    doc = json_loads(r.body, 0, NULL);
    api_response_free(&r);
    return doc ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(doc);
    return 0;
}

static void lower(const char *in, char *out, size_t n)
{
    size_t i = 0;

    for (; in[i] && i + 1 < n; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' : in[i]);
    out[i] = '\0';
}

static void assert_operation(const char *method, const char *path)
{
    json_t *item = json_object_get(json_object_get(doc, "paths"), path), *op;
    char m[16];

    lower(method, m, sizeof(m));
    op = item ? json_object_get(item, m) : NULL;
    if (!op)
        fail_msg("%s %s is served but not documented", method, path);
    assert_true(json_object_size(json_object_get(op, "responses")) > 0);
}

static void test_it_is_openapi_3_1_with_bearer_security(void **state)
{
    (void)state;
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(doc, "components"), "securitySchemes"),
                            "bearer"),
            "scheme")),
        "bearer");
}

static void test_every_fixed_route_is_documented(void **state)
{
    (void)state;
    for (size_t i = 0; i < ab_api_nroutes; i++)
        assert_operation(ab_api_routes[i].method, ab_api_routes[i].pattern);
}

static void test_every_accounting_route_is_documented(void **state)
{
    (void)state;
    for (size_t i = 0; i < ab_usage_nroutes; i++)
        assert_operation(ab_usage_routes[i].method, ab_usage_routes[i].pattern);
}

static void test_every_lease_route_is_documented(void **state)
{
    (void)state;
    for (size_t i = 0; i < ab_lease_nroutes; i++)
        assert_operation(ab_lease_routes[i].method, ab_lease_routes[i].pattern);
}

static void test_every_resource_route_is_documented(void **state)
{
    struct ab_http_route routes[512];
    size_t n = 0;

    (void)state;
    assert_int_equal(ab_api_resource_routes(routes, AB_ARRAY_LEN(routes), &n), 0);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        assert_operation(routes[i].method, routes[i].pattern);
}

/*
 * Walks the document; every {"$ref": "#/components/<kind>/X"} (schemas, parameters, headers)
 * must name a defined X.
 */
static void check_refs(json_t *node, json_t *components, int *refs)
{
    const char *key;
    json_t *value;
    size_t i;

    if (json_is_object(node)) {
        json_t *ref = json_object_get(node, "$ref");

        if (json_is_string(ref)) {
            const char *target = json_string_value(ref), *slash;
            char kind[32];

            assert_memory_equal(target, "#/components/", 13);
            slash = strchr(target + 13, '/');
            assert_non_null(slash);
            snprintf(kind, sizeof(kind), "%.*s", (int)(slash - target - 13), target + 13);
            if (!json_object_get(json_object_get(components, kind), slash + 1))
                fail_msg("dangling $ref %s", target);
            (*refs)++;
        }
        json_object_foreach(node, key, value) check_refs(value, components, refs);
    } else if (json_is_array(node)) {
        json_array_foreach(node, i, value) check_refs(value, components, refs);
    }
}

static void test_every_ref_resolves(void **state)
{
    int refs = 0;

    (void)state;
    check_refs(doc, json_object_get(doc, "components"), &refs);
    assert_true(refs > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_it_is_openapi_3_1_with_bearer_security),
        cmocka_unit_test(test_every_fixed_route_is_documented),
        cmocka_unit_test(test_every_accounting_route_is_documented),
        cmocka_unit_test(test_every_lease_route_is_documented),
        cmocka_unit_test(test_every_resource_route_is_documented),
        cmocka_unit_test(test_every_ref_resolves),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
