/* The operational endpoints and the server's limits, over real HTTP. */
#include "client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_healthz_answers_ok_with_a_request_id(void **state)
{
    struct api_response r;
    char id[128], type[128];

    (void)state;
    assert_int_equal(api_request("GET", "/healthz", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    api_header(&r, "X-Request-Id", id, sizeof(id));
    assert_int_equal(strlen(id), 24);
    api_header(&r, "Content-Type", type, sizeof(type));
    assert_string_equal(type, "application/json");
    api_response_free(&r);
}

static void test_a_plain_client_request_id_is_echoed_and_a_hostile_one_replaced(void **state)
{
    const char *plain[] = {"X-Request-Id: trace-42.a_b", NULL};
    const char *hostile[] = {"X-Request-Id: bad id\"with{json}", NULL};
    struct api_response r;
    char id[128];

    (void)state;
    assert_int_equal(api_request("GET", "/healthz", NULL, 0, plain, &r), 0);
    api_header(&r, "X-Request-Id", id, sizeof(id));
    assert_string_equal(id, "trace-42.a_b");
    api_response_free(&r);
    assert_int_equal(api_request("GET", "/healthz", NULL, 0, hostile, &r), 0);
    api_header(&r, "X-Request-Id", id, sizeof(id));
    assert_int_equal(strlen(id), 24);
    api_response_free(&r);
}

static void test_readyz_reports_the_schema_version(void **state)
{
    struct api_response r;

    (void)state;
    assert_int_equal(api_request("GET", "/readyz", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"ready\",\"schema_version\":"));
    api_response_free(&r);
}

static void test_unknown_path_is_404_and_wrong_method_405_as_json(void **state)
{
    struct api_response r;

    (void)state;
    assert_int_equal(api_request("GET", "/v1/nothing-here", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(api_error_text(&r),
                        "{\"error\":{\"code\":\"not_found\",\"message\":\"no such endpoint: "
                        "/v1/nothing-here\"}}");
    api_response_free(&r);
    assert_int_equal(api_request("DELETE", "/healthz", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    assert_string_equal(api_error_text(&r),
                        "{\"error\":{\"code\":\"method_not_allowed\",\"message\":"
                        "\"DELETE is not allowed on /healthz\"}}");
    api_response_free(&r);
}

static void test_oversize_body_is_413_and_the_server_keeps_serving(void **state)
{
    size_t n = (1u << 20) + 1;
    char *big = malloc(n);
    struct api_response r;

    (void)state;
    assert_non_null(big);
    memset(big, '{', n);
    assert_int_equal(api_request("POST", "/healthz", big, n, NULL, &r), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "\"code\":\"payload_too_large\""));
    api_response_free(&r);
    free(big);
    assert_int_equal(api_request("GET", "/healthz", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    api_response_free(&r);
}

static void test_oversize_headers_are_refused_and_the_server_keeps_serving(void **state)
{
    size_t n = 100 * 1024;
    char *header = malloc(n + 16);
    const char *headers[2] = {header, NULL};
    struct api_response r;

    (void)state;
    assert_non_null(header);
    memcpy(header, "X-Big: ", 7);
    memset(header + 7, 'a', n);
    header[7 + n] = '\0';
    assert_int_equal(api_request("GET", "/healthz", NULL, 0, headers, &r), 0);
    assert_true(r.status >= 400 && r.status < 500); /* 431 or 413, never served */
    api_response_free(&r);
    free(header);
    assert_int_equal(api_request("GET", "/healthz", NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    api_response_free(&r);
}

/* "Authorization: Bearer <the metrics token tests/run gave the server>" */
static const char *const *metrics_auth(void)
{
    static char line[512];
    static const char *headers[] = {line, NULL};
    const char *token = getenv("AGENTBASE_METRICS_TOKEN");

    assert_non_null(token);
    snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
    return headers;
}

static void test_metrics_count_requests_by_route_and_status(void **state)
{
    struct api_response r;
    char type[128];

    (void)state;
    assert_int_equal(api_request("GET", "/healthz", NULL, 0, NULL, &r), 0);
    api_response_free(&r);
    assert_int_equal(api_request("GET", "/metrics", NULL, 0, metrics_auth(), &r), 0);
    assert_int_equal(r.status, 200);
    api_header(&r, "Content-Type", type, sizeof(type));
    assert_string_equal(type, "text/plain; version=0.0.4");
    assert_non_null(strstr(r.body, "agentbase_http_requests_total{method=\"GET\","
                                   "route=\"/healthz\",status=\"200\"} "));
    assert_non_null(strstr(r.body, "agentbase_http_request_duration_seconds_bucket{le=\"+Inf\"}"));
    assert_non_null(strstr(r.body, "agentbase_db_pool_connections{state=\"size\"}"));
    api_response_free(&r);
}

static void test_metrics_without_the_token_or_with_another_is_401(void **state)
{
    const char *other[] = {"Authorization: Bearer api-tests-metrics-tokeN", NULL};
    const char *shorter[] = {"Authorization: Bearer api", NULL};
    const char *const *tries[] = {NULL, other, shorter};
    struct api_response r;

    (void)state;
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        assert_int_equal(api_request("GET", "/metrics", NULL, 0, tries[i], &r), 0);
        assert_int_equal(r.status, 401);
        assert_string_equal(api_error_text(&r), "{\"error\":{\"code\":\"unauthorized\",\"message\":"
                                                "\"/metrics needs Authorization: Bearer "
                                                "<AGENTBASE_METRICS_TOKEN>\"}}");
        assert_null(strstr(r.body, "agentbase_http_requests_total"));
        api_response_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_answers_ok_with_a_request_id),
        cmocka_unit_test(test_a_plain_client_request_id_is_echoed_and_a_hostile_one_replaced),
        cmocka_unit_test(test_readyz_reports_the_schema_version),
        cmocka_unit_test(test_unknown_path_is_404_and_wrong_method_405_as_json),
        cmocka_unit_test(test_oversize_body_is_413_and_the_server_keeps_serving),
        cmocka_unit_test(test_oversize_headers_are_refused_and_the_server_keeps_serving),
        cmocka_unit_test(test_metrics_count_requests_by_route_and_status),
        cmocka_unit_test(test_metrics_without_the_token_or_with_another_is_401),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
