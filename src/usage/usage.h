/*
 * usage: the accounting hot path's group commit.
 *
 * Reservations, settles, releases and events are not run one transaction each. A handler
 * hands its operation (a JSON object, see agentbase.usage_apply) to ab_usage_submit and
 * returns at once; a batcher thread takes every operation waiting for it, applies them
 * all with one call of agentbase.usage_apply in one transaction, and only after that
 * transaction has committed calls each operation's done() with its own result. So a
 * response never precedes its commit, and synchronous_commit stays on.
 *
 * Batchers share one queue. An idle batcher takes the oldest waiting operations of every
 * tenant that no other batcher is applying (at most max_batch): one tenant's operations
 * are applied in arrival order, by one batcher at a time, so batches of different batchers
 * never touch the same rows, while a busy tenant keeps one batcher and the other tenants
 * have the rest. (The tenant's advisory lock in the database keeps that true across
 * service instances.)
 *
 * When a batch fails as a whole (a bug, a constraint no check foresaw), each operation is
 * applied again alone, so one bad operation cannot fail the others. When the database is
 * unreachable, every operation of the batch is answered 503 and nothing was committed, or,
 * if the connection broke during COMMIT, the client's retry with the same Idempotency-Key
 * gets the first result.
 *
 * Once a second, one of the batchers also releases the reservations held past their expiry
 * (a batch of agentbase.usage_expired_ops()), and reclaims the agent leases past theirs
 * (agentbase.agent_leases_expire(): their slots are free already, their agents' load goes
 * down).
 */
#ifndef AB_USAGE_H
#define AB_USAGE_H

#include "core/core.h"

struct ab_usage;

struct ab_usage_op {
    char *json;         /* the operation, owned by the op's owner */
    const char *tenant; /* the tenant acted in (a UUID) */
    /* the result, set before done() runs */
    int status;           /* HTTP status */
    char *body;           /* JSON text exactly as PostgreSQL wrote it (malloc'd; the owner frees) */
    char retry_after[16]; /* seconds, or "" */
    bool replayed;        /* a stored first response */
    void (*done)(struct ab_usage_op *op); /* called once, on a batcher thread */
    void *arg;                            /* for done() */
    struct ab_usage_op *next;             /* the queue */
    unsigned long tenant_hash;            /* set by ab_usage_submit */
};

struct ab_usage_stats {
    unsigned long batches;   /* transactions committed */
    unsigned long ops;       /* operations applied */
    unsigned long fallbacks; /* batches applied again one operation at a time */
    unsigned long expired;   /* reservations released on expiry */
};

/*
 * Starts nbatchers batcher threads with a connection each (as agentbase_app); a batch
 * takes at most max_batch operations.
 */
int ab_usage_start(const char *conninfo, int nbatchers, int max_batch, struct ab_usage **out,
                   struct ab_error *err) AB_MUSTCHECK;
/* Queues op; op->done(op) runs later on a batcher thread. */
void ab_usage_submit(struct ab_usage *u, struct ab_usage_op *op);
void ab_usage_stats(struct ab_usage *u, struct ab_usage_stats *st);
/*
 * For shutdown: stops taking work. The batches being applied are finished and answered;
 * every operation still queued, and every one submitted from now on, is answered 503 at
 * once (done() runs on the caller's thread). Returns when no batcher is running.
 */
void ab_usage_drain(struct ab_usage *u);
/* Applies what is queued (unless drained), then stops the batchers and frees u. */
void ab_usage_stop(struct ab_usage *u);

#endif
