/*
 * The group-commit batchers (see usage.h). Each batcher owns a queue guarded by its mutex;
 * producers append and signal, the batcher takes the whole queue (up to max_batch) and
 * applies it with one statement, which commits on its own.
 */
#include "usage/usage.h"
#include "pg/pg.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One row per operation, in order; bodies as text so that numbers keep every digit. */
#define APPLY_SQL                                                                                  \
    "SELECT (r ->> 'status')::int, coalesce(r ->> 'retry_after', ''), "                            \
    "       coalesce((r ->> 'replayed')::boolean, false), (r -> 'body')::text "                    \
    "  FROM jsonb_array_elements(agentbase.usage_apply($1::jsonb)) WITH ORDINALITY AS t(r, i) "    \
    " ORDER BY i"
#define EXPIRE_SQL   "SELECT agentbase.usage_expire_holds(1000)"
#define EXPIRE_EVERY 1000.0 /* ms */
#define POOL_WAIT_MS 2000

struct batcher {
    struct ab_usage *u;
    int index;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct ab_usage_op *head, *tail;
    bool stop;
    bool started;
};

struct ab_usage {
    struct ab_pg_pool *pool;
    int nbatchers;
    int max_batch;
    struct batcher *b;
    atomic_ulong batches, ops, fallbacks, expired;
};

/* A result the database did not give: an error in the same shape as usage_apply's. */
static void set_error(struct ab_usage_op *op, int status, const char *code, const char *message)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);

    op->status = status;
    op->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
}

/* Applies ops (n of them, linked) in one transaction; sets each result. */
static int apply(struct ab_usage *u, PGconn *conn, struct ab_usage_op *ops, size_t n)
{
    struct ab_buf sql;
    const char *params[1];
    PGresult *r;
    size_t i = 0;
    int rc = 0;

    ab_buf_init(&sql, 256u << 20);
    if (ab_buf_append(&sql, "[", 1) != 0)
        return AB_ENOMEM;
    for (struct ab_usage_op *op = ops; op && i < n; op = op->next, i++)
        if ((i && ab_buf_append(&sql, ",", 1) != 0) || ab_buf_puts(&sql, op->json) != 0) {
            ab_buf_free(&sql);
            return AB_ENOMEM;
        }
    if (ab_buf_append(&sql, "]", 1) != 0) {
        ab_buf_free(&sql);
        return AB_ENOMEM;
    }
    params[0] = sql.data;
    r = ab_pg_pool_exec(u->pool, conn, APPLY_SQL, 1, params);
    ab_buf_free(&sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || (size_t)PQntuples(r) != n) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

        rc = PQstatus(conn) == CONNECTION_BAD ? AB_EDB : AB_EINVAL;
        if (n == 1 && rc == AB_EINVAL) {
            /* One operation alone failed: a client mistake no check caught, or a bug. */
            const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

            if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
                set_error(ops, 400, "invalid_request", msg ? msg : "invalid request");
            else
                set_error(ops, 500, "internal", "the operation failed");
            rc = 0;
        }
        PQclear(r);
        return rc;
    }
    i = 0;
    for (struct ab_usage_op *op = ops; op && i < n; op = op->next, i++) {
        op->status = atoi(PQgetvalue(r, (int)i, 0));
        snprintf(op->retry_after, sizeof(op->retry_after), "%s", PQgetvalue(r, (int)i, 1));
        op->replayed = PQgetvalue(r, (int)i, 2)[0] == 't';
        op->body = strdup(PQgetvalue(r, (int)i, 3));
    }
    PQclear(r);
    atomic_fetch_add(&u->batches, 1);
    atomic_fetch_add(&u->ops, n);
    return 0;
}

/* Applies a batch taken from the queue and answers every operation in it. */
static void run_batch(struct batcher *b, struct ab_usage_op *ops, size_t n)
{
    struct ab_usage *u = b->u;
    struct ab_usage_op *next;
    struct ab_error err;
    PGconn *conn = NULL;
    int rc;

    if (ab_pg_pool_acquire(u->pool, POOL_WAIT_MS, &conn, &err) != 0)
        rc = AB_EDB;
    else
        rc = apply(u, conn, ops, n);
    if (rc == AB_EINVAL && n > 1) {
        /* The batch failed as a whole: give each operation its own transaction. */
        atomic_fetch_add(&u->fallbacks, 1);
        rc = 0;
        for (struct ab_usage_op *op = ops; op && rc == 0; op = op->next)
            rc = apply(u, conn, op, 1);
    }
    if (conn)
        ab_pg_pool_release(u->pool, conn);
    for (struct ab_usage_op *op = ops; op; op = next) {
        next = op->next;
        op->next = NULL;
        if (!op->status && rc == AB_ENOMEM)
            set_error(op, 500, "internal", "out of memory");
        else if (!op->status)
            set_error(op, 503, "database_unavailable",
                      "the database cannot be reached; retry with the same Idempotency-Key");
        op->done(op);
    }
}

static void expire(struct ab_usage *u)
{
    struct ab_error err;
    PGconn *conn;
    PGresult *r;

    if (ab_pg_pool_acquire(u->pool, POOL_WAIT_MS, &conn, &err) != 0)
        return;
    r = ab_pg_pool_exec(u->pool, conn, EXPIRE_SQL, 0, NULL);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        atomic_fetch_add(&u->expired, strtoul(PQgetvalue(r, 0, 0), NULL, 10));
    PQclear(r);
    ab_pg_pool_release(u->pool, conn);
}

static void *batcher_main(void *arg)
{
    struct batcher *b = arg;
    double last_expire = 0;

    for (;;) {
        struct ab_usage_op *ops, *last;
        size_t n = 1;
        bool stop;

        pthread_mutex_lock(&b->lock);
        while (!b->head && !b->stop) {
            struct timespec until;

            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            if (pthread_cond_timedwait(&b->wake, &b->lock, &until) != 0)
                break;
        }
        ops = last = b->head;
        while (last && last->next && n < (size_t)b->u->max_batch) {
            last = last->next;
            n++;
        }
        if (last) {
            b->head = last->next;
            if (!b->head)
                b->tail = NULL;
            last->next = NULL;
        }
        stop = b->stop && !b->head;
        pthread_mutex_unlock(&b->lock);

        if (ops)
            run_batch(b, ops, n);
        if (b->index == 0 && ab_now_ms() - last_expire >= EXPIRE_EVERY) {
            expire(b->u);
            last_expire = ab_now_ms();
        }
        if (stop && !ops)
            return NULL;
    }
}

/* FNV-1a: which batcher a tenant's operations go to. */
static unsigned shard(const char *s, int n)
{
    unsigned h = 2166136261u;

    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % (unsigned)n;
}

void ab_usage_submit(struct ab_usage *u, struct ab_usage_op *op)
{
    struct batcher *b = &u->b[shard(op->tenant, u->nbatchers)];

    op->next = NULL;
    op->status = 0;
    op->body = NULL;
    op->retry_after[0] = '\0';
    op->replayed = false;
    pthread_mutex_lock(&b->lock);
    if (b->tail)
        b->tail->next = op;
    else
        b->head = op;
    b->tail = op;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
}

void ab_usage_stats(struct ab_usage *u, struct ab_usage_stats *st)
{
    st->batches = atomic_load(&u->batches);
    st->ops = atomic_load(&u->ops);
    st->fallbacks = atomic_load(&u->fallbacks);
    st->expired = atomic_load(&u->expired);
}

int ab_usage_start(const char *conninfo, int nbatchers, int max_batch, struct ab_usage **out,
                   struct ab_error *err)
{
    struct ab_usage *u = calloc(1, sizeof(*u));
    int rc;

    *out = NULL;
    if (!u || !(u->b = calloc((size_t)nbatchers, sizeof(*u->b)))) {
        free(u);
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    }
    u->nbatchers = nbatchers;
    u->max_batch = max_batch;
    rc = ab_pg_pool_create(conninfo, "agentbase usage",
                           "SET ROLE agentbase_app; SET statement_timeout = '30s'", nbatchers, NULL,
                           0, &u->pool, err);
    for (int i = 0; rc == 0 && i < nbatchers; i++) {
        struct batcher *b = &u->b[i];

        b->u = u;
        b->index = i;
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->wake, NULL);
        if (pthread_create(&b->thread, NULL, batcher_main, b) != 0)
            rc = ab_error_set(err, AB_ENOMEM, "cannot start a usage batcher thread");
        else
            b->started = true;
    }
    if (rc) {
        ab_usage_stop(u);
        return rc;
    }
    *out = u;
    return 0;
}

void ab_usage_stop(struct ab_usage *u)
{
    if (!u)
        return;
    for (int i = 0; i < u->nbatchers; i++) {
        struct batcher *b = &u->b[i];

        if (!b->started)
            continue;
        pthread_mutex_lock(&b->lock);
        b->stop = true;
        pthread_cond_signal(&b->wake);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->wake);
    }
    ab_pg_pool_destroy(u->pool);
    free(u->b);
    free(u);
}
