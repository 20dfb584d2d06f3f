/* Statement splitting: what counts as the end of a statement, and what does not. */
#include "migrate/migrate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

struct split {
    struct ab_sql_stmt *v;
    size_t n;
    int rc;
    struct ab_error err;
    const char *sql;
};

static struct split split(const char *sql)
{
    struct split s = {0};

    s.sql = sql;
    s.rc = ab_sql_split(sql, strlen(sql), &s.v, &s.n, &s.err);
    return s;
}

static void assert_stmt(const struct split *s, size_t i, const char *text, int line)
{
    assert_true(i < s->n);
    assert_int_equal(s->v[i].len, strlen(text));
    assert_memory_equal(s->sql + s->v[i].offset, text, strlen(text));
    assert_int_equal(s->v[i].line, line);
}

static void test_splits_on_semicolons_with_lines(void **state)
{
    struct split s = split("CREATE TABLE a (x int);\n\nINSERT INTO a VALUES (1);\nSELECT 1");

    (void)state;
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.n, 3);
    assert_stmt(&s, 0, "CREATE TABLE a (x int)", 1);
    assert_stmt(&s, 1, "INSERT INTO a VALUES (1)", 3);
    assert_stmt(&s, 2, "SELECT 1", 4);
    free(s.v);
}

static void test_semicolons_in_strings_and_identifiers_do_not_split(void **state)
{
    struct split s = split("SELECT 'a;b', 'it''s;', \"we;ird\";SELECT E'x\\';y'");

    (void)state;
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.n, 2);
    assert_stmt(&s, 0, "SELECT 'a;b', 'it''s;', \"we;ird\"", 1);
    assert_stmt(&s, 1, "SELECT E'x\\';y'", 1);
    free(s.v);
}

static void test_dollar_quotes_hold_semicolons(void **state)
{
    struct split s = split("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$\n"
                           "BEGIN RETURN 1; END $fn$;\n"
                           "DO $$ BEGIN PERFORM 1; END $$;");

    (void)state;
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.v[1].line, 3);
    free(s.v);
}

static void test_positional_parameter_is_not_a_dollar_quote(void **state)
{
    struct split s = split("PREPARE p AS SELECT $1; SELECT 2");

    (void)state;
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.n, 2);
    free(s.v);
}

static void test_comments_are_skipped_and_comment_only_statements_dropped(void **state)
{
    struct split s = split("-- header; not a statement\n"
                           "/* block; /* nested; */ still comment; */\n"
                           "SELECT 1; -- trailing; comment\n"
                           ";;\n");

    (void)state;
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.n, 1);
    assert_stmt(&s, 0, "SELECT 1", 3);
    free(s.v);
}

static void test_trailing_comment_is_not_part_of_last_statement(void **state)
{
    struct split s = split("SELECT 1 -- done\n");

    (void)state;
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.n, 1);
    assert_stmt(&s, 0, "SELECT 1", 1);
    free(s.v);
}

static void test_unterminated_string_names_its_line(void **state)
{
    struct split s = split("SELECT 1;\nSELECT 'oops;\n");

    (void)state;
    assert_int_equal(s.rc, AB_EINVAL);
    assert_string_equal(s.err.message, "unterminated string starting at line 2");
    assert_null(s.v);
}

static void test_unterminated_dollar_quote_is_an_error(void **state)
{
    struct split s = split("DO $body$ BEGIN END;");

    (void)state;
    assert_int_equal(s.rc, AB_EINVAL);
    assert_string_equal(s.err.message, "unterminated dollar quote $body$ starting at line 1");
}

static void test_unterminated_comment_is_an_error(void **state)
{
    struct split s = split("SELECT 1; /* open");

    (void)state;
    assert_int_equal(s.rc, AB_EINVAL);
    assert_string_equal(s.err.message, "unterminated /* comment starting at line 1");
}

static void test_no_transaction_file_must_hold_one_statement(void **state)
{
    static const char two[] = "-- agentbase:no-transaction\nSELECT 1;\nSELECT 2;\n";
    static const char one[] =
        "-- agentbase:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);\n";
    struct ab_migration_script s;
    struct ab_error err;

    (void)state;
    assert_int_equal(ab_migrate_script_init(&s, "0002_x.up.sql", two, strlen(two), &err),
                     AB_EINVAL);
    assert_string_equal(err.message, "0002_x.up.sql is marked no-transaction but holds 2 "
                                     "statements (it must hold exactly one)");
    assert_int_equal(ab_migrate_script_init(&s, "0002_x.up.sql", one, strlen(one), &err), 0);
    assert_true(s.no_transaction);
    assert_int_equal(s.nstmts, 1);
    ab_migrate_script_free(&s);
}

static void test_checksum_is_sha256_of_the_file_bytes(void **state)
{
    static const char sql[] = "SELECT 1;\n";
    struct ab_migration_script s;
    struct ab_error err;

    (void)state;
    assert_int_equal(ab_migrate_script_init(&s, "0001_a.up.sql", sql, strlen(sql), &err), 0);
    /* printf 'SELECT 1;\n' | sha256sum */
    assert_string_equal(s.checksum,
                        "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd");
    ab_migrate_script_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splits_on_semicolons_with_lines),
        cmocka_unit_test(test_semicolons_in_strings_and_identifiers_do_not_split),
        cmocka_unit_test(test_dollar_quotes_hold_semicolons),
        cmocka_unit_test(test_positional_parameter_is_not_a_dollar_quote),
        cmocka_unit_test(test_comments_are_skipped_and_comment_only_statements_dropped),
        cmocka_unit_test(test_trailing_comment_is_not_part_of_last_statement),
        cmocka_unit_test(test_unterminated_string_names_its_line),
        cmocka_unit_test(test_unterminated_dollar_quote_is_an_error),
        cmocka_unit_test(test_unterminated_comment_is_an_error),
        cmocka_unit_test(test_no_transaction_file_must_hold_one_statement),
        cmocka_unit_test(test_checksum_is_sha256_of_the_file_bytes),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
