/*
 * The one validator (api/fields.c): kinds, null, required, ranges, lengths in characters,
 * allowed values and array elements, each refusal a 400 whose param names the field; and
 * the text checks of query values.
 */
#include "api/fields.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const struct ab_field fields[] = {
    {.name = "name", .kind = AB_KIND_STRING, .required = true, .min_len = 1, .max_len = 5},
    {.name = "status", .kind = AB_KIND_STRING, .choices = "active,inactive"},
    {.name = "owner", .kind = AB_KIND_UUID, .nullable = true},
    {.name = "at", .kind = AB_KIND_DATETIME},
    {.name = "count",
     .kind = AB_KIND_INTEGER,
     .has_min = true,
     .min = 0,
     .has_max = true,
     .max = 10},
    {.name = "ratio",
     .kind = AB_KIND_NUMBER,
     .has_min = true,
     .min = 0,
     .min_exclusive = true,
     .has_max = true,
     .max = 1},
    {.name = "on", .kind = AB_KIND_BOOLEAN},
    {.name = "tags", .kind = AB_KIND_ARRAY, .items = AB_KIND_STRING, .max_len = 2},
    {.name = "meta", .kind = AB_KIND_OBJECT},
};
#define N (sizeof(fields) / sizeof(fields[0]))

/* The status of checking body, and in param the field it named ("" when none). */
static int check(const char *body, unsigned flags, char *param, size_t n)
{
    struct ab_req req = {.request_id = "t"};
    json_t *doc = json_loads(body, 0, NULL), *e;
    int rc;

    assert_non_null(doc);
    ab_buf_init(&req.out, 4096);
    rc = ab_fields_check(&req, doc, fields, N, flags, "things");
    param[0] = '\0';
    if (rc) {
        json_t *answer = json_loads(req.out.data, 0, NULL);

        e = json_object_get(json_object_get(answer, "error"), "param");
        snprintf(param, n, "%s", json_is_string(e) ? json_string_value(e) : "");
        json_decref(answer);
    }
    json_decref(doc);
    ab_buf_free(&req.out);
    return rc ? req.status : 0;
}

static void refused(const char *body, unsigned flags, const char *param)
{
    char got[64];

    if (check(body, flags, got, sizeof(got)) != 400)
        fail_msg("%s was accepted", body);
    assert_string_equal(got, param);
}

static void test_a_valid_body_passes(void **state)
{
    char p[64];

    (void)state;
    assert_int_equal(check("{\"name\": \"héllo\", \"status\": \"active\", \"owner\": null, "
                           "\"at\": \"2026-01-31T12:00:00.5+02:00\", \"count\": 10, "
                           "\"ratio\": 0.5, \"on\": true, \"tags\": [\"a\", \"b\"], "
                           "\"meta\": {}}",
                           AB_CHECK_CREATE, p, sizeof(p)),
                     0);
    assert_int_equal(check("{\"count\": 0}", AB_CHECK_NONEMPTY, p, sizeof(p)), 0);
}

static void test_each_kind_of_mistake_names_its_field(void **state)
{
    (void)state;
    refused("{\"nmae\": \"x\"}", 0, "nmae");
    refused("{\"count\": 1}", AB_CHECK_CREATE, "name");
    refused("{\"name\": null}", 0, "name");
    refused("{\"name\": \"\"}", 0, "name");
    refused("{\"name\": \"toolong\"}", 0, "name");
    refused("{\"name\": 5}", 0, "name");
    refused("{\"status\": \"gone\"}", 0, "status");
    refused("{\"owner\": \"not-a-uuid\"}", 0, "owner");
    refused("{\"at\": \"2026-13-01T00:00:00Z\"}", 0, "at");
    refused("{\"at\": \"2026-01-01T00:00:00\"}", 0, "at"); /* no offset */
    refused("{\"count\": 1.5}", 0, "count");
    refused("{\"count\": 11}", 0, "count");
    refused("{\"count\": -1}", 0, "count");
    refused("{\"ratio\": 0}", 0, "ratio"); /* exclusive */
    refused("{\"on\": \"yes\"}", 0, "on");
    refused("{\"tags\": [\"a\", 1]}", 0, "tags");
    refused("{\"tags\": [\"a\", \"b\", \"c\"]}", 0, "tags");
    refused("{\"meta\": []}", 0, "meta");
}

static void test_nulls_can_count_as_absent(void **state)
{
    char p[64];

    (void)state;
    assert_int_equal(check("{\"name\": \"a\", \"count\": null}", AB_CHECK_DROP_NULL, p, sizeof(p)),
                     0);
    assert_int_equal(check("{}", AB_CHECK_NONEMPTY, p, sizeof(p)), 400);
}

static void test_query_values_are_checked_by_kind(void **state)
{
    (void)state;
    assert_null(ab_fields_check_text(&fields[4], "42"));
    assert_non_null(ab_fields_check_text(&fields[4], "4x"));
    assert_non_null(ab_fields_check_text(&fields[4], ""));
    assert_non_null(ab_fields_check_text(&fields[4], "99999999999999999999999"));
    assert_null(ab_fields_check_text(&fields[5], "0.25"));
    assert_non_null(ab_fields_check_text(&fields[5], "nan"));
    assert_null(ab_fields_check_text(&fields[6], "false"));
    assert_non_null(ab_fields_check_text(&fields[6], "1"));
    assert_null(ab_fields_check_text(&fields[2], "01234567-89ab-cdef-0123-456789ABCDEF"));
    assert_non_null(ab_fields_check_text(&fields[2], "01234567"));
    assert_null(ab_fields_check_text(&fields[3], "2026-01-31T00:00:00Z"));
    assert_non_null(ab_fields_check_text(&fields[3], "yesterday"));
    assert_non_null(ab_fields_check_text(&fields[1], "gone"));
    assert_true(ab_is_datetime("2026-02-03", true));
    assert_false(ab_is_datetime("2026-02-03T00:00:00Z", true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_valid_body_passes),
        cmocka_unit_test(test_each_kind_of_mistake_names_its_field),
        cmocka_unit_test(test_nulls_can_count_as_absent),
        cmocka_unit_test(test_query_values_are_checked_by_kind),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
