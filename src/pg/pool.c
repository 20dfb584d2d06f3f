/*
 * A fixed-size pool of PostgreSQL connections for the service's worker threads.
 *
 * Each slot holds one connection, opened lazily and reopened after PostgreSQL goes away.
 * A slot whose connection failed waits out an exponential backoff (100 ms doubling to
 * 1 s) before the next attempt, so an outage costs each request one fast failure (503),
 * never a hang and never a storm of connection attempts (at most one a second a slot),
 * and the service is back within a second of PostgreSQL. Every (re)connection prepares
 * the statements registered at creation (after running its init SQL, e.g. SET ROLE), so
 * callers can use PQexecPrepared at once.
 *
 * Threads: acquire/release take the pool's mutex; a connection belongs to one thread
 * between acquire and release.
 */
#include "pg/pg.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 100.0
#define BACKOFF_MAX_MS 1000.0
#define PREPARED_MAX   512 /* statements prepared per connection before starting over */

struct slot {
    PGconn *conn;
    bool busy;
    double retry_at; /* ab_now_ms() before which no reconnect is tried */
    double backoff;
    uint64_t prepared[PREPARED_MAX]; /* hashes of the SQL prepared on this connection */
    size_t nprepared;
};

struct ab_pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    char *conninfo;
    char *appname;
    char *init_sql;
    const struct ab_pg_stmt *stmts;
    size_t nstmts;
    struct slot *slots;
    int size;
    int waiting;
    unsigned long reconnects;
};

/* Opens and prepares one connection; on failure schedules the next attempt. */
static int slot_connect(struct ab_pg_pool *p, struct slot *s, struct ab_error *err)
{
    PGconn *conn = NULL;
    int rc;

    if (ab_now_ms() < s->retry_at)
        return ab_error_set(err, AB_EDB, "the database is unavailable (retrying)");
    rc = ab_pg_connect(p->conninfo, p->appname, &conn, err);
    if (rc == 0 && p->init_sql && (rc = ab_pg_exec(conn, p->init_sql, err)) != 0)
        ab_error_prefix(err, "setting up a connection");
    for (size_t i = 0; rc == 0 && i < p->nstmts; i++) {
        PGresult *r = PQprepare(conn, p->stmts[i].name, p->stmts[i].sql, 0, NULL);

        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = ab_pg_error(conn, r, err);
            ab_error_prefix(err, "preparing %s", p->stmts[i].name);
        }
        PQclear(r);
    }
    if (rc) {
        if (conn)
            PQfinish(conn);
        s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_MIN_MS;
        if (s->backoff > BACKOFF_MAX_MS)
            s->backoff = BACKOFF_MAX_MS;
        s->retry_at = ab_now_ms() + s->backoff;
        return rc;
    }
    s->conn = conn;
    s->backoff = 0;
    s->retry_at = 0;
    s->nprepared = 0;
    return 0;
}

int ab_pg_pool_create(const char *conninfo, const char *appname, const char *init_sql, int size,
                      const struct ab_pg_stmt *stmts, size_t nstmts, struct ab_pg_pool **out,
                      struct ab_error *err)
{
    struct ab_pg_pool *p;

    *out = NULL;
    if (size < 1)
        return ab_error_set(err, AB_EINVAL, "a pool needs at least one connection");
    p = calloc(1, sizeof(*p));
    if (!p)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    p->slots = calloc((size_t)size, sizeof(*p->slots));
    p->conninfo = strdup(conninfo);
    p->appname = strdup(appname);
    p->init_sql = init_sql ? strdup(init_sql) : NULL;
    if (!p->slots || !p->conninfo || !p->appname || (init_sql && !p->init_sql)) {
        ab_pg_pool_destroy(p);
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->freed, NULL);
    p->stmts = stmts;
    p->nstmts = nstmts;
    p->size = size;
    *out = p;
    return 0;
}

void ab_pg_pool_destroy(struct ab_pg_pool *p)
{
    if (!p)
        return;
    for (int i = 0; p->slots && i < p->size; i++)
        if (p->slots[i].conn)
            PQfinish(p->slots[i].conn);
    if (p->slots) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->freed);
    }
    free(p->slots);
    free(p->conninfo);
    free(p->appname);
    free(p->init_sql);
    free(p);
}

int ab_pg_pool_acquire(struct ab_pg_pool *p, int timeout_ms, PGconn **out, struct ab_error *err)
{
    struct timespec deadline;
    struct slot *s = NULL;
    int rc = 0;

    *out = NULL;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /*
         * Prefer an open connection; else the free slot whose backoff ends first, so that
         * after an outage the first slot allowed to reconnect is the one tried, not one
         * that must still wait (and answer 503) while another could connect.
         */
        for (int i = 0; i < p->size && !s; i++)
            if (!p->slots[i].busy && p->slots[i].conn)
                s = &p->slots[i];
        for (int i = 0; i < p->size && !(s && s->conn); i++)
            if (!p->slots[i].busy && (!s || p->slots[i].retry_at < s->retry_at))
                s = &p->slots[i];
        if (s)
            break;
        p->waiting++;
        rc = pthread_cond_timedwait(&p->freed, &p->mu, &deadline);
        p->waiting--;
        if (rc == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return ab_error_set(err, AB_ETIMEOUT, "no database connection free within %d ms",
                                timeout_ms);
        }
    }
    s->busy = true;
    pthread_mutex_unlock(&p->mu);

    /* Connecting happens outside the lock: it may take a while. */
    if (s->conn && PQstatus(s->conn) != CONNECTION_OK) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    if (!s->conn) {
        rc = slot_connect(p, s, err);
        pthread_mutex_lock(&p->mu);
        if (rc) {
            s->busy = false;
            pthread_cond_signal(&p->freed);
        } else {
            p->reconnects++;
        }
        pthread_mutex_unlock(&p->mu);
        if (rc)
            return rc;
    }
    *out = s->conn;
    return 0;
}

void ab_pg_pool_release(struct ab_pg_pool *p, PGconn *conn)
{
    /* A connection left inside a transaction (an error path) is rolled back first. */
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(conn, "ROLLBACK");
        PQclear(r);
    }
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->size; i++) {
        if (p->slots[i].conn != conn)
            continue;
        p->slots[i].busy = false;
        if (PQstatus(conn) != CONNECTION_OK) {
            PQfinish(conn);
            p->slots[i].conn = NULL;
        }
        break;
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
}

void ab_pg_pool_stats(struct ab_pg_pool *p, struct ab_pg_pool_stats *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&p->mu);
    st->size = p->size;
    for (int i = 0; i < p->size; i++) {
        st->busy += p->slots[i].busy;
        st->open += p->slots[i].conn != NULL;
    }
    st->waiting = p->waiting;
    st->connects = p->reconnects;
    pthread_mutex_unlock(&p->mu);
}

/* ======================================================================================
 * Prepared statements by text
 * ====================================================================================== */

/* FNV-1a: statement names come from the SQL text, so equal text shares one statement. */
static uint64_t sql_hash(const char *sql)
{
    uint64_t h = 14695981039346656037ull;

    for (; *sql; sql++)
        h = (h ^ (unsigned char)*sql) * 1099511628211ull;
    return h;
}

static struct slot *slot_of(struct ab_pg_pool *p, PGconn *conn)
{
    struct slot *s = NULL;

    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->size && !s; i++)
        if (p->slots[i].conn == conn)
            s = &p->slots[i];
    pthread_mutex_unlock(&p->mu);
    return s;
}

PGresult *ab_pg_pool_exec(struct ab_pg_pool *p, PGconn *conn, const char *sql, int nparams,
                          const char *const *params)
{
    struct slot *s = slot_of(p, conn);
    uint64_t h = sql_hash(sql);
    char name[32];
    size_t i;

    if (!s) /* not one of ours: run it unprepared */
        return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    snprintf(name, sizeof(name), "ab_%016" PRIx64, h);
    /* The slot belongs to this thread between acquire and release: no lock needed. */
    for (i = 0; i < s->nprepared && s->prepared[i] != h; i++)
        ;
    if (i == s->nprepared) {
        PGresult *r;

        if (s->nprepared == PREPARED_MAX) {
            r = PQexec(conn, "DEALLOCATE ALL");
            PQclear(r);
            s->nprepared = 0;
            for (size_t k = 0; k < p->nstmts; k++) {
                r = PQprepare(conn, p->stmts[k].name, p->stmts[k].sql, 0, NULL);
                PQclear(r);
            }
        }
        r = PQprepare(conn, name, sql, nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            return r; /* the statement's own error (syntax, unknown column ...) */
        PQclear(r);
        s->prepared[s->nprepared++] = h;
    }
    return PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
}
