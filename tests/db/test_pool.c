/*
 * The connection pool against a real server (DATABASE_URL, set by tests/run): bounded
 * waiting, prepared statements after every reconnect, recovery after the server drops a
 * connection, fast failure with backoff when the server is unreachable, many threads.
 */
#include "pg/pg.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const struct ab_pg_stmt stmts[] = {
    {"add_one", "SELECT $1::int + 1"},
};

static const char *url(void)
{
    const char *u = getenv("DATABASE_URL");

    assert_non_null(u);
    return u;
}

static int add_one(PGconn *c, int v)
{
    char arg[16];
    const char *params[1] = {arg};
    PGresult *r;
    int out = -1;

    snprintf(arg, sizeof(arg), "%d", v);
    r = PQexecPrepared(c, "add_one", 1, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        out = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static void test_acquire_waits_at_most_the_timeout_when_all_are_busy(void **state)
{
    struct ab_pg_pool *p;
    struct ab_error err;
    PGconn *a, *b, *c;

    (void)state;
    assert_int_equal(ab_pg_pool_create(url(), "test_pool", NULL, 2, stmts, 1, &p, &err), 0);
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &a, &err), 0);
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &b, &err), 0);
    assert_ptr_not_equal(a, b);
    assert_int_equal(ab_pg_pool_acquire(p, 100, &c, &err), AB_ETIMEOUT);
    assert_string_equal(err.message, "no database connection free within 100 ms");
    ab_pg_pool_release(p, a);
    assert_int_equal(ab_pg_pool_acquire(p, 100, &c, &err), 0);
    assert_ptr_equal(a, c); /* the open connection is reused */
    assert_int_equal(add_one(c, 41), 42);
    ab_pg_pool_release(p, b);
    ab_pg_pool_release(p, c);
    ab_pg_pool_destroy(p);
}

static void test_a_connection_left_in_a_transaction_is_rolled_back(void **state)
{
    struct ab_pg_pool *p;
    struct ab_error err;
    PGconn *c;
    PGresult *r;

    (void)state;
    assert_int_equal(ab_pg_pool_create(url(), "test_pool", NULL, 1, stmts, 1, &p, &err), 0);
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &c, &err), 0);
    r = PQexec(c, "BEGIN; SELECT 1/0");
    PQclear(r);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_INERROR);
    ab_pg_pool_release(p, c);
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &c, &err), 0);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    assert_int_equal(add_one(c, 1), 2);
    ab_pg_pool_release(p, c);
    ab_pg_pool_destroy(p);
}

static void test_reconnects_and_reprepares_after_the_server_drops_the_connection(void **state)
{
    struct ab_pg_pool_stats st;
    struct ab_pg_pool *p;
    struct ab_error err;
    PGconn *c, *admin;
    PGresult *r;
    char sql[128];

    (void)state;
    assert_int_equal(ab_pg_pool_create(url(), "test_pool", NULL, 1, stmts, 1, &p, &err), 0);
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &c, &err), 0);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(c));
    assert_int_equal(ab_pg_connect(url(), "test_pool_admin", &admin, &err), 0);
    r = PQexec(admin, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    PQfinish(admin);
    assert_int_equal(add_one(c, 1), -1); /* the dropped connection fails ... */
    ab_pg_pool_release(p, c);            /* ... and is closed on release */
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &c, &err), 0);
    assert_int_equal(add_one(c, 9), 10); /* a new one, with the statement prepared again */
    ab_pg_pool_stats(p, &st);
    assert_int_equal(st.connects, 2);
    ab_pg_pool_release(p, c);
    ab_pg_pool_destroy(p);
}

static void test_unreachable_server_fails_fast_then_backs_off(void **state)
{
    struct ab_pg_pool *p;
    struct ab_error err;
    PGconn *c;

    (void)state;
    assert_int_equal(ab_pg_pool_create("postgresql:///x?host=/nonexistent-dir", "test_pool", NULL,
                                       1, stmts, 1, &p, &err),
                     0);
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &c, &err), AB_EDB);
    assert_non_null(strstr(err.message, "cannot connect to PostgreSQL"));
    /* Inside the backoff window no new attempt is made: the message says so. */
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &c, &err), AB_EDB);
    assert_string_equal(err.message, "the database is unavailable (retrying)");
    ab_pg_pool_destroy(p);
}

static long prepared_count(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'ab\\_%'");
    long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;

    PQclear(r);
    return n;
}

static void test_exec_prepares_each_text_once_per_connection(void **state)
{
    const char *params[1] = {"5"};
    struct ab_pg_pool *p;
    struct ab_error err;
    PGconn *c, *admin;
    PGresult *r;
    char sql[128];

    (void)state;
    assert_int_equal(ab_pg_pool_create(url(), "test_pool", NULL, 1, stmts, 1, &p, &err), 0);
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &c, &err), 0);
    for (int i = 0; i < 3; i++) {
        r = ab_pg_pool_exec(p, c, "SELECT $1::int * 2", 1, params);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(r, 0, 0), "10");
        PQclear(r);
    }
    assert_int_equal(prepared_count(c), 1); /* three runs, one statement */
    r = ab_pg_pool_exec(p, c, "SELEC nonsense", 0, NULL);
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR); /* the statement's own error */
    PQclear(r);
    /* after a reconnect the statement is prepared again, transparently */
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(c));
    assert_int_equal(ab_pg_connect(url(), "test_pool_admin", &admin, &err), 0);
    r = PQexec(admin, sql);
    PQclear(r);
    PQfinish(admin);
    r = ab_pg_pool_exec(p, c, "SELECT 1", 0, NULL); /* fails on the dead connection */
    PQclear(r);
    ab_pg_pool_release(p, c);
    assert_int_equal(ab_pg_pool_acquire(p, 1000, &c, &err), 0);
    r = ab_pg_pool_exec(p, c, "SELECT $1::int * 2", 1, params);
    assert_string_equal(PQgetvalue(r, 0, 0), "10");
    PQclear(r);
    ab_pg_pool_release(p, c);
    ab_pg_pool_destroy(p);
}

struct worker {
    struct ab_pg_pool *p;
    int ok;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct ab_error err;
    PGconn *c;

    for (int i = 0; i < 200; i++) {
        if (ab_pg_pool_acquire(w->p, 10000, &c, &err) != 0)
            continue;
        w->ok += add_one(c, i) == i + 1;
        ab_pg_pool_release(w->p, c);
    }
    return NULL;
}

static void test_many_threads_share_few_connections(void **state)
{
    struct ab_pg_pool_stats st;
    struct ab_pg_pool *p;
    struct ab_error err;
    struct worker w[8];
    pthread_t t[8];

    (void)state;
    assert_int_equal(ab_pg_pool_create(url(), "test_pool", NULL, 3, stmts, 1, &p, &err), 0);
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){p, 0};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 200);
    }
    ab_pg_pool_stats(p, &st);
    assert_int_equal(st.busy, 0);
    assert_true(st.open <= 3);
    ab_pg_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_waits_at_most_the_timeout_when_all_are_busy),
        cmocka_unit_test(test_a_connection_left_in_a_transaction_is_rolled_back),
        cmocka_unit_test(test_reconnects_and_reprepares_after_the_server_drops_the_connection),
        cmocka_unit_test(test_unreachable_server_fails_fast_then_backs_off),
        cmocka_unit_test(test_many_threads_share_few_connections),
        cmocka_unit_test(test_exec_prepares_each_text_once_per_connection),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
