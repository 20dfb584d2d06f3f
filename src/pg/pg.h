/*
 * pg: talking to PostgreSQL, and the embedded cluster that agentbase manages itself.
 *
 * Connections: ab_pg_connect opens a libpq connection the caller owns (PQfinish it).
 * ab_pg_exec / ab_pg_query turn any failure into a struct ab_error carrying PostgreSQL's
 * message, detail, hint and SQLSTATE; a PGresult returned through `out` belongs to the
 * caller (PQclear it).
 *
 * The embedded cluster lives under $AGENTBASE_HOME/pg: data/ (the data directory), run/
 * (the unix socket, mode 0700), log (server log), password (superuser password for TCP).
 * It listens on the socket only, unless started with a TCP port. PostgreSQL refuses to
 * run as root, so when agentbase runs as root every server program runs as the `postgres`
 * system user. Functions here fork and wait for those programs; they are not thread-safe
 * and are meant for the CLI, before any server threads exist.
 */
#ifndef AB_PG_H
#define AB_PG_H

#include "core/core.h"

#include <libpq-fe.h>

/* The database the embedded cluster serves, and its superuser. */
#define AB_PG_DBNAME    "agentbase"
#define AB_PG_SUPERUSER "postgres"
/* The service's own login role (0011): it may become agentbase_app, _member and _viewer. */
#define AB_PG_SERVICE_USER "agentbase_service"
#define AB_PG_DEFAULT_PORT 5432

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

/* ---- the embedded cluster ------------------------------------------------------------ */

struct ab_cluster {
    char dir[PATH_MAX];    /* $AGENTBASE_HOME/pg */
    char data[PATH_MAX];   /* .../pg/data */
    char run[PATH_MAX];    /* .../pg/run: socket directory */
    char log[PATH_MAX];    /* .../pg/log */
    char bindir[PATH_MAX]; /* PostgreSQL's programs */
    int bin_major;         /* major version of those programs */
    bool drop_root;        /* running as root: server programs run as `postgres` */
    uid_t uid;             /* who runs the server programs */
    gid_t gid;
};

struct ab_cluster_status {
    bool initialized; /* a data directory exists */
    bool running;
    long pid;
    int port;          /* socket name, and TCP port when tcp is true */
    bool tcp;          /* listening on 127.0.0.1 */
    int data_major;    /* major version the data directory was made by (0: none) */
    char version[128]; /* the server programs' version line */
};

/* Resolves paths, the PostgreSQL programs and the user that runs them. Touches nothing. */
int ab_cluster_init(struct ab_cluster *c, const char *home, struct ab_error *err) AB_MUSTCHECK;
/*
 * Starts the cluster, creating it (initdb, data checksums on) and the agentbase database on
 * first use. port 0 means socket only (named after the default port); a positive port also
 * listens on 127.0.0.1. Recovers from a stale postmaster.pid. Returns 0 when already running.
 */
int ab_cluster_start(struct ab_cluster *c, int port, struct ab_error *err) AB_MUSTCHECK;
/* Stops the cluster (fast shutdown); 0 when it was not running. */
int ab_cluster_stop(struct ab_cluster *c, struct ab_error *err) AB_MUSTCHECK;
int ab_cluster_status(struct ab_cluster *c, struct ab_cluster_status *st,
                      struct ab_error *err) AB_MUSTCHECK;
/* A libpq connection URL for database dbname; over TCP when tcp and the cluster listens. */
int ab_cluster_url(struct ab_cluster *c, const char *dbname, bool tcp, char *out, size_t n,
                   struct ab_error *err) AB_MUSTCHECK;

/* The same for user (the socket is trusted: only the cluster's OS user reaches it). */
int ab_cluster_url_as(struct ab_cluster *c, const char *user, const char *dbname, bool tcp,
                      char *out, size_t n, struct ab_error *err) AB_MUSTCHECK;

/* The connection string commands use: DATABASE_URL, or the embedded cluster's socket URL. */
int ab_pg_conninfo(const struct ab_config *cfg, char *out, size_t n,
                   struct ab_error *err) AB_MUSTCHECK;
/*
 * The one the service uses: DATABASE_URL, or on the embedded cluster its dedicated login
 * role agentbase_service (never the superuser).
 */
int ab_pg_service_conninfo(const struct ab_config *cfg, char *out, size_t n,
                           struct ab_error *err) AB_MUSTCHECK;

#endif
