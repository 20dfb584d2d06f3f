/*
 * The one SQLSTATE -> HTTP table (pg/errmap.c), entry by entry: each state and each class
 * answers its own status and code; our own functions' messages pass, PostgreSQL's words,
 * constraint names and paths never do; the field at fault is named where it is known.
 */
#include "pg/errmap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* PostgreSQL's own words, with a constraint name and a socket path in them. */
#define PG_WORDS "new row for relation \"agents\" violates check constraint chk_x on /tmp/.s.PGSQL"

/* A state the entry answers: its own, or for a class one of the class the table does not list. */
static void state_of(const struct ab_pg_rule *rule, char out[6])
{
    snprintf(out, 6, "%sZZZZZ", rule->sqlstate);
}

static void test_every_entry_answers_its_status_and_code(void **state)
{
    (void)state;
    for (unsigned i = 0; i < ab_pg_nrules; i++) {
        const struct ab_pg_rule *rule = &ab_pg_rules[i];
        char sqlstate[6];
        struct ab_pg_failure f = {
            .sqlstate = sqlstate, .message = PG_WORDS, .source = "ExecConstraints"};
        struct ab_pg_answer a;

        state_of(rule, sqlstate);
        ab_pg_answer_for(&f, "agents", &a);
        if (a.status != rule->status || strcmp(a.code, rule->code) != 0)
            fail_msg("%s: %d %s, want %d %s", sqlstate, a.status, a.code, rule->status, rule->code);
        assert_null(strstr(a.message, "violates"));
        assert_null(strstr(a.message, "chk_"));
        assert_null(strstr(a.message, "/tmp"));
        assert_false(a.log);
        assert_int_equal(a.retry, rule->status == 503);
    }
}

static void test_our_own_messages_pass_where_the_entry_allows(void **state)
{
    struct ab_pg_failure f = {.message = "field user_id must be your own user id",
                              .source = "exec_stmt_raise"};
    struct ab_pg_answer a;

    (void)state;
    for (unsigned i = 0; i < ab_pg_nrules; i++) {
        char sqlstate[6];

        state_of(&ab_pg_rules[i], sqlstate);
        f.sqlstate = sqlstate;
        ab_pg_answer_for(&f, "agents", &a);
        if (ab_pg_rules[i].own)
            assert_string_equal(a.message, f.message);
        else
            assert_string_not_equal(a.message, f.message);
    }
    /* the same words raised by PostgreSQL itself are not passed on */
    f.sqlstate = "42501";
    f.source = "ExecCheckRTPerms";
    ab_pg_answer_for(&f, "agents", &a);
    assert_string_equal(a.message, "your role may not make this change to agents (not your row, "
                                   "or not writable by your role)");
}

static void test_the_field_at_fault_is_named(void **state)
{
    struct ab_pg_answer a;
    struct ab_pg_failure nn = {.sqlstate = "23502", .column = "name", .table = "agents"};
    struct ab_pg_failure chk = {
        .sqlstate = "23514", .table = "agents", .constraint = "chk_agents_temperature"};
    struct ab_pg_failure uq = {
        .sqlstate = "23505", .table = "tenants", .constraint = "uq_tenants_slug"};
    struct ab_pg_failure uqt = {
        .sqlstate = "23505", .table = "agents", .constraint = "uq_agents_tenant_id_name"};
    struct ab_pg_failure pk = {.sqlstate = "23505", .table = "agents", .constraint = "agents_pkey"};
    struct ab_pg_failure own = {.sqlstate = "23503",
                                .message = "field agent_id names no agent",
                                .source = "exec_stmt_raise"};
    struct ab_pg_failure fk = {
        .sqlstate = "23503", .table = "agents", .constraint = "fk_agents_users"};

    (void)state;
    ab_pg_answer_for(&nn, "agents", &a);
    assert_string_equal(a.param, "name");
    assert_string_equal(a.message, "field 'name' is required and may not be null");
    ab_pg_answer_for(&chk, "agents", &a);
    assert_string_equal(a.param, "temperature");
    assert_string_equal(a.message, "field 'temperature' has a value that agents does not allow");
    ab_pg_answer_for(&uq, "tenants", &a);
    assert_string_equal(a.param, "slug");
    ab_pg_answer_for(&uqt, "agents", &a);
    assert_string_equal(a.param, "name");
    assert_string_equal(a.message, "another object of agents has the same field 'name'");
    ab_pg_answer_for(&pk, "agents", &a);
    assert_string_equal(a.param, "id");
    ab_pg_answer_for(&own, "agents", &a);
    assert_string_equal(a.param, "agent_id");
    assert_string_equal(a.message, "field agent_id names no agent");
    ab_pg_answer_for(&fk, "agents", &a);
    assert_string_equal(a.param, "");
    assert_string_equal(a.message, "a field refers to an object that does not exist");
}

static void test_no_answer_is_503_and_an_unknown_state_a_logged_500(void **state)
{
    struct ab_pg_failure none = {0}, odd = {.sqlstate = "XX000", .message = PG_WORDS};
    struct ab_pg_answer a;

    (void)state;
    ab_pg_answer_for(&none, "agents", &a);
    assert_int_equal(a.status, 503);
    assert_string_equal(a.code, "database_unavailable");
    assert_true(a.retry);
    ab_pg_answer_for(&odd, "agents", &a);
    assert_int_equal(a.status, 500);
    assert_string_equal(a.code, "internal");
    assert_string_equal(a.message, "internal error");
    assert_true(a.log);
    ab_pg_answer_result(NULL, "agents", &a);
    assert_int_equal(a.status, 503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_entry_answers_its_status_and_code),
        cmocka_unit_test(test_our_own_messages_pass_where_the_entry_allows),
        cmocka_unit_test(test_the_field_at_fault_is_named),
        cmocka_unit_test(test_no_answer_is_503_and_an_unknown_state_a_logged_500),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
