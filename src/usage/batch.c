/*
 * The group-commit batchers (see usage.h). One queue, guarded by one mutex: producers
 * append and signal; a batcher takes what it may (take_batch) and applies it with one
 * statement, which commits on its own. Each batcher lists the tenants of the batch it is
 * applying, and nobody else takes operations of those tenants until it is done.
 */
#include "usage/usage.h"
#include "pg/errmap.h"
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
#define LEASES_SQL   "SELECT agentbase.agent_leases_expire(1000)"
#define EXPIRE_EVERY 1000.0 /* ms */
#define POOL_WAIT_MS 2000

struct batcher {
    struct ab_usage *u;
    pthread_t thread;
    bool started;
    unsigned long *tenants; /* hashes of the tenants of the batch being applied */
    size_t ntenants;
};

struct ab_usage {
    struct ab_pg_pool *pool;
    int nbatchers;
    int max_batch;
    struct batcher *b;
    pthread_mutex_t lock; /* guards everything below, and every batcher's tenants */
    pthread_cond_t wake;
    struct ab_usage_op *head, *tail;
    bool stop;
    bool draining;      /* ab_usage_drain: refuse everything */
    double last_expire; /* ms */
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
            struct ab_pg_answer a;

            ab_pg_answer_result(r, "the operation", &a);
            if (a.log)
                fprintf(stderr, "agentbase: accounting operation failed: %s (SQLSTATE %s)\n",
                        PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), state ? state : "none");
            set_error(ops, a.status, a.code, a.message);
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
    PQclear(ab_pg_pool_exec(u->pool, conn, LEASES_SQL, 0, NULL));
    ab_pg_pool_release(u->pool, conn);
}

/* True when a batcher other than self is applying operations of the tenant with hash h. */
static bool tenant_busy(const struct ab_usage *u, const struct batcher *self, unsigned long h)
{
    for (int i = 0; i < u->nbatchers; i++) {
        const struct batcher *b = &u->b[i];

        if (b == self)
            continue;
        for (size_t j = 0; j < b->ntenants; j++)
            if (b->tenants[j] == h)
                return true;
    }
    return false;
}

/* Adds h to self's tenants unless it is there already. */
static void tenant_claim(struct batcher *self, unsigned long h)
{
    for (size_t j = 0; j < self->ntenants; j++)
        if (self->tenants[j] == h)
            return;
    self->tenants[self->ntenants++] = h;
}

/*
 * Under u->lock: unlinks from the queue, in order, up to max_batch operations of tenants
 * no other batcher is applying, claims their tenants, and returns them linked (n set).
 * An operation left behind keeps every later one of its tenant behind too, since its
 * tenant stays busy: a tenant's operations are always applied in arrival order.
 */
static struct ab_usage_op *take_batch(struct ab_usage *u, struct batcher *self, size_t *n)
{
    struct ab_usage_op *taken = NULL, **tail = &taken, **link = &u->head, *prev = NULL;

    *n = 0;
    while (*link && *n < (size_t)u->max_batch) {
        struct ab_usage_op *op = *link;

        if (tenant_busy(u, self, op->tenant_hash)) {
            prev = op;
            link = &op->next;
            continue;
        }
        tenant_claim(self, op->tenant_hash);
        *link = op->next;
        op->next = NULL;
        *tail = op;
        tail = &op->next;
        (*n)++;
    }
    /* The queue's tail may have been taken: it is now the last operation left, if any. */
    if (!*link)
        u->tail = prev;
    return taken;
}

static void *batcher_main(void *arg)
{
    struct batcher *self = arg;
    struct ab_usage *u = self->u;

    pthread_mutex_lock(&u->lock);
    for (;;) {
        struct ab_usage_op *ops;
        bool expire_due;
        size_t n;

        ops = take_batch(u, self, &n);
        expire_due = ab_now_ms() - u->last_expire >= EXPIRE_EVERY;
        if (expire_due)
            u->last_expire = ab_now_ms();
        if (!ops && !expire_due) {
            struct timespec until;

            if (u->stop && !u->head)
                break;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&u->wake, &u->lock, &until);
            continue;
        }
        pthread_mutex_unlock(&u->lock);
        if (ops)
            run_batch(self, ops, n);
        pthread_mutex_lock(&u->lock);
        if (self->ntenants) {
            /* Operations of these tenants may be waiting for another batcher to take. */
            self->ntenants = 0;
            pthread_cond_broadcast(&u->wake);
        }
        if (expire_due) {
            pthread_mutex_unlock(&u->lock);
            expire(u);
            pthread_mutex_lock(&u->lock);
        }
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

/* FNV-1a of a tenant id: how batchers tell tenants apart (a collision only delays). */
static unsigned long tenant_hash(const char *s)
{
    unsigned long h = 14695981039346656037ul;

    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ul;
    return h;
}

/* The answer to an operation that arrives or waits while the service shuts down. */
static void refuse(struct ab_usage_op *op)
{
    op->next = NULL;
    set_error(op, 503, "shutting_down",
              "the server is shutting down; retry with the same Idempotency-Key");
    snprintf(op->retry_after, sizeof(op->retry_after), "1");
    op->done(op);
}

void ab_usage_submit(struct ab_usage *u, struct ab_usage_op *op)
{
    op->next = NULL;
    op->status = 0;
    op->body = NULL;
    op->retry_after[0] = '\0';
    op->replayed = false;
    op->tenant_hash = tenant_hash(op->tenant);
    pthread_mutex_lock(&u->lock);
    if (u->draining) {
        pthread_mutex_unlock(&u->lock);
        refuse(op);
        return;
    }
    if (u->tail)
        u->tail->next = op;
    else
        u->head = op;
    u->tail = op;
    pthread_cond_signal(&u->wake);
    pthread_mutex_unlock(&u->lock);
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
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->wake, NULL);
    rc = ab_pg_pool_create(
        conninfo, "agentbase usage",
        "SET ROLE agentbase_app; SET statement_timeout = '30s'; SET enable_seqscan = off",
        nbatchers, NULL, 0, &u->pool, err);
    for (int i = 0; rc == 0 && i < nbatchers; i++) {
        struct batcher *b = &u->b[i];

        b->u = u;
        if (!(b->tenants = calloc((size_t)max_batch, sizeof(*b->tenants))))
            rc = ab_error_set(err, AB_ENOMEM, "out of memory");
        else if (pthread_create(&b->thread, NULL, batcher_main, b) != 0)
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

/* Tells the batchers to stop once the queue is empty, and waits for them. */
static void join_batchers(struct ab_usage *u)
{
    pthread_mutex_lock(&u->lock);
    u->stop = true;
    pthread_cond_broadcast(&u->wake);
    pthread_mutex_unlock(&u->lock);
    for (int i = 0; i < u->nbatchers; i++)
        if (u->b[i].started) {
            pthread_join(u->b[i].thread, NULL);
            u->b[i].started = false;
        }
}

void ab_usage_drain(struct ab_usage *u)
{
    struct ab_usage_op *ops, *next;

    if (!u)
        return;
    pthread_mutex_lock(&u->lock);
    u->draining = true;
    ops = u->head;
    u->head = u->tail = NULL;
    pthread_mutex_unlock(&u->lock);
    for (struct ab_usage_op *op = ops; op; op = next) {
        next = op->next;
        refuse(op);
    }
    join_batchers(u);
}

void ab_usage_stop(struct ab_usage *u)
{
    if (!u)
        return;
    join_batchers(u);
    for (int i = 0; i < u->nbatchers; i++)
        free(u->b[i].tenants);
    ab_pg_pool_destroy(u->pool);
    pthread_mutex_destroy(&u->lock);
    pthread_cond_destroy(&u->wake);
    free(u->b);
    free(u);
}
