/* Which scopes a key's scope list grants. */
#include "api/api.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_exact_scope_is_granted(void **state)
{
    (void)state;
    assert_true(ab_api_scope_allows("agents:read", "agents:read"));
    assert_true(ab_api_scope_allows("usage:write,agents:read", "agents:read"));
    assert_false(ab_api_scope_allows("agents:read", "agents:write"));
    assert_false(ab_api_scope_allows("agents:read", "usage:read"));
}

static void test_write_grants_read_but_not_the_reverse(void **state)
{
    (void)state;
    assert_true(ab_api_scope_allows("agents:write", "agents:read"));
    assert_false(ab_api_scope_allows("agents:write", "usage:read"));
    assert_false(ab_api_scope_allows("agents:read", "agents:write"));
}

static void test_wildcard_and_admin_grant_everything_they_cover(void **state)
{
    (void)state;
    assert_true(ab_api_scope_allows("agents:*", "agents:write"));
    assert_true(ab_api_scope_allows("agents:*", "agents:read"));
    assert_false(ab_api_scope_allows("agents:*", "usage:write"));
    assert_true(ab_api_scope_allows("admin", "usage:write"));
    assert_true(ab_api_scope_allows("x:read,admin", "anything:write"));
}

static void test_prefixes_do_not_match(void **state)
{
    (void)state;
    assert_false(ab_api_scope_allows("agent:read", "agents:read"));
    assert_false(ab_api_scope_allows("agents:readx", "agents:read"));
    assert_false(ab_api_scope_allows("administrator", "agents:read"));
    assert_false(ab_api_scope_allows("", "agents:read"));
}

static void test_secrets_read_is_granted_by_itself_only(void **state)
{
    (void)state;
    assert_false(ab_api_scope_allows("admin", "secrets:read"));
    assert_false(ab_api_scope_allows("secrets:*", "secrets:read"));
    assert_false(ab_api_scope_allows("secrets:write", "secrets:read"));
    assert_false(ab_api_scope_allows("admin,mcp-server-configs:*", "secrets:read"));
    assert_true(ab_api_scope_allows("secrets:read", "secrets:read"));
    assert_true(ab_api_scope_allows("agents:read,secrets:read", "secrets:read"));
    /* it grants nothing else, and admin keeps everything else */
    assert_false(ab_api_scope_allows("secrets:read", "mcp-server-configs:read"));
    assert_true(ab_api_scope_allows("admin", "mcp-server-configs:write"));
}

static void test_no_scope_needed_means_any_key(void **state)
{
    (void)state;
    assert_true(ab_api_scope_allows("", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_scope_is_granted),
        cmocka_unit_test(test_write_grants_read_but_not_the_reverse),
        cmocka_unit_test(test_wildcard_and_admin_grant_everything_they_cover),
        cmocka_unit_test(test_prefixes_do_not_match),
        cmocka_unit_test(test_secrets_read_is_granted_by_itself_only),
        cmocka_unit_test(test_no_scope_needed_means_any_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
