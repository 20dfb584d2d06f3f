/*
 * ab_api_blank_member: a body that carries a secret reaches its statement with that member
 * blanked, so the rest of the text must stay byte for byte what the client sent.
 */
#include "api/api.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void expect_blanked(const char *body, const char *want)
{
    char *got = ab_api_blank_member(body, strlen(body), "secrets");

    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_the_member_value_becomes_null_and_nothing_else_changes(void **state)
{
    (void)state;
    expect_blanked("{\"name\": \"x\", \"secrets\": {\"A\": \"v\"}}",
                   "{\"name\": \"x\", \"secrets\": null}");
    expect_blanked("{\"secrets\":{\"A\":\"v\"},\"temperature\":0.70}",
                   "{\"secrets\":null,\"temperature\":0.70}");
    expect_blanked(" {\n \"secrets\" :\t[1, {\"b\": [2]}] \n} ", " {\n \"secrets\" :\tnull \n} ");
    expect_blanked("{\"secrets\": 12345, \"b\": 1}", "{\"secrets\": null, \"b\": 1}");
    expect_blanked("{\"secrets\": \"a \\\"quoted\\\" value\"}", "{\"secrets\": null}");
}

static void test_only_the_top_level_member_of_that_name_counts(void **state)
{
    (void)state;
    /* the name inside another value, as a string or as a nested key, is left alone */
    expect_blanked("{\"config\": {\"s\": \"}\\\"{\", \"secrets\": 1}, \"x\": \"secrets\", "
                   "\"secrets\": {\"A\": \"v}\"}}",
                   "{\"config\": {\"s\": \"}\\\"{\", \"secrets\": 1}, \"x\": \"secrets\", "
                   "\"secrets\": null}");
    expect_blanked("{\"config\": {\"secrets\": {\"A\": \"v\"}}}", NULL);
    expect_blanked("{\"secretsx\": 1, \"xsecrets\": 2}", NULL);
}

static void test_an_escaped_name_is_the_same_name(void **state)
{
    (void)state;
    expect_blanked("{\"secr\\u0065ts\": {\"A\": \"v\"}}", "{\"secr\\u0065ts\": null}");
}

static void test_a_body_that_is_no_object_has_no_member(void **state)
{
    (void)state;
    expect_blanked("[{\"secrets\": 1}]", NULL);
    expect_blanked("", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_member_value_becomes_null_and_nothing_else_changes),
        cmocka_unit_test(test_only_the_top_level_member_of_that_name_counts),
        cmocka_unit_test(test_an_escaped_name_is_the_same_name),
        cmocka_unit_test(test_a_body_that_is_no_object_has_no_member),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
