/*
 * pg: talking to PostgreSQL over libpq, to any server (which one is the caller's choice:
 * cluster/cluster.h says where the embedded one listens).
 *
 * Connections: ab_pg_connect opens a libpq connection the caller owns (PQfinish it).
 * ab_pg_exec / ab_pg_query turn any failure into a struct ab_error carrying PostgreSQL's
 * message, detail, hint and SQLSTATE; a PGresult returned through `out` belongs to the
 * caller (PQclear it). Any thread may use them, each on a connection of its own.
 *
 * The pool (pool.c, whose opening comment gives its thread rules) shares a fixed set of
 * connections among the service's worker threads.
 */
#ifndef AB_PG_H
#define AB_PG_H

#include "core/core.h"

#include <libpq-fe.h>

/* Opens a connection; application_name names the connection in pg_stat_activity. */
int ab_pg_connect(const char *conninfo, const char *application_name, PGconn **out,
                  struct ab_error *err) AB_MUSTCHECK;
/* Runs SQL without parameters whose result is not needed (may hold several statements). */
int ab_pg_exec(PGconn *conn, const char *sql, struct ab_error *err) AB_MUSTCHECK;
/* Runs one statement with text parameters; on success *out holds the result. */
int ab_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                PGresult **out, struct ab_error *err) AB_MUSTCHECK;
/* Fills err from a failed result (or from the connection when res is NULL). */
int ab_pg_error(PGconn *conn, const PGresult *res, struct ab_error *err);

/* ---- the connection pool (pool.c: see its header comment) ---------------------------- */

/* A statement every pooled connection prepares as soon as it connects. */
struct ab_pg_stmt {
    const char *name;
    const char *sql;
};

struct ab_pg_pool;

struct ab_pg_pool_stats {
    int size;               /* slots */
    int open;               /* slots with a live connection */
    int busy;               /* connections handed out */
    int waiting;            /* threads waiting for one */
    unsigned long connects; /* connections opened since start */
};

/*
 * Creates a pool of size slots; connects lazily, running init_sql (may be NULL) on every new
 * connection before preparing stmts. stmts must outlive the pool.
 */
int ab_pg_pool_create(const char *conninfo, const char *appname, const char *init_sql, int size,
                      const struct ab_pg_stmt *stmts, size_t nstmts, struct ab_pg_pool **out,
                      struct ab_error *err) AB_MUSTCHECK;
/*
 * Hands out a live connection, waiting up to timeout_ms for a free slot. AB_ETIMEOUT when
 * none frees up, AB_EDB when the database cannot be reached (the caller answers 503).
 */
int ab_pg_pool_acquire(struct ab_pg_pool *p, int timeout_ms, PGconn **out,
                       struct ab_error *err) AB_MUSTCHECK;
/*
 * Like PQexecParams, but prepares sql on this pooled connection the first time it sees the
 * text and executes the prepared statement from then on. The caller owns the result.
 */
PGresult *ab_pg_pool_exec(struct ab_pg_pool *p, PGconn *conn, const char *sql, int nparams,
                          const char *const *params);
/* Returns a connection; one left in a transaction is rolled back, a broken one closed. */
void ab_pg_pool_release(struct ab_pg_pool *p, PGconn *conn);
void ab_pg_pool_stats(struct ab_pg_pool *p, struct ab_pg_pool_stats *st);
void ab_pg_pool_destroy(struct ab_pg_pool *p);

#endif
