/*
 * cluster: the embedded PostgreSQL cluster that agentbase manages itself, for the CLI
 * (agentbase pg, up, and every command that connects when DATABASE_URL is unset).
 *
 * It lives under $AGENTBASE_HOME/pg: data/ (the data directory), run/ (the unix socket,
 * mode 0700), log (server log), password (superuser password for TCP). It listens on the
 * socket only, unless started with a TCP port. PostgreSQL refuses to run as root, so when
 * agentbase runs as root every server program runs as the `postgres` system user.
 * Functions here fork and wait for those programs; they are not thread-safe and are meant
 * for the CLI, before any server threads exist. Strings come back in buffers the caller
 * passes (out, n); nothing here allocates what the caller must free.
 */
#ifndef AB_CLUSTER_H
#define AB_CLUSTER_H

#include "core/core.h"

#include <sys/types.h>

/* The database the embedded cluster serves, and its superuser. */
#define AB_CLUSTER_DBNAME    "agentbase"
#define AB_CLUSTER_SUPERUSER "postgres"
/* The service's own login role (0011): it may become agentbase_app, _member and _viewer. */
#define AB_CLUSTER_SERVICE_USER "agentbase_service"
#define AB_CLUSTER_DEFAULT_PORT 5432

struct ab_cluster {
    char dir[PATH_MAX];    /* $AGENTBASE_HOME/pg */
    char data[PATH_MAX];   /* .../pg/data */
    char run[PATH_MAX];    /* .../pg/run: socket directory */
    char log[PATH_MAX];    /* .../pg/log */
    char bindir[PATH_MAX]; /* PostgreSQL's programs */
    /*
     * The archive_command the next start writes (archive_mode on), or "" for archive_mode
     * off. backup/ sets it (pgBackRest's archive-push) before it starts the cluster.
     */
    char archive_command[2 * PATH_MAX];
    int bin_major;  /* major version of those programs */
    bool drop_root; /* running as root: server programs run as `postgres` */
    uid_t uid;      /* who runs the server programs */
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
/*
 * Creates the cluster's directories (pg/, run/ and an empty data/ when missing, owned by
 * the cluster's user) and removes a stale postmaster.pid: what a restore into it needs.
 */
int ab_cluster_prepare_dirs(struct ab_cluster *c, struct ab_error *err) AB_MUSTCHECK;
/*
 * Runs a program as the cluster's user (argv[0] an absolute path, or a name in its bindir),
 * stdout and stderr captured into capture (up to its maximum) or discarded when NULL.
 * Returns the exit status, or a negative AB_E* code when it could not run. Forks: for the
 * CLI only, never from a process with threads.
 */
int ab_cluster_run(const struct ab_cluster *c, const char *const *argv, struct ab_buf *capture,
                   struct ab_error *err) AB_MUSTCHECK;
/* The server log's last lines, for an error's detail. */
void ab_cluster_log_tail(const struct ab_cluster *c, char *out, size_t n);
/* Stops the cluster (fast shutdown); 0 when it was not running. */
int ab_cluster_stop(struct ab_cluster *c, struct ab_error *err) AB_MUSTCHECK;
/* Whether the cluster exists and runs, where, and its programs' version. Touches nothing. */
int ab_cluster_status(struct ab_cluster *c, struct ab_cluster_status *st,
                      struct ab_error *err) AB_MUSTCHECK;
/* A libpq connection URL for database dbname; over TCP when tcp and the cluster listens. */
int ab_cluster_url(struct ab_cluster *c, const char *dbname, bool tcp, char *out, size_t n,
                   struct ab_error *err) AB_MUSTCHECK;

/* The same for user (the socket is trusted: only the cluster's OS user reaches it). */
int ab_cluster_url_as(struct ab_cluster *c, const char *user, const char *dbname, bool tcp,
                      char *out, size_t n, struct ab_error *err) AB_MUSTCHECK;

/*
 * The full path of PostgreSQL's client program name (pg_dump, psql) for a server of
 * server_major: from AGENTBASE_PG_BINDIR when set, else /usr/lib/postgresql/<that
 * major>/bin, else the newest newer one (pg_dump refuses servers newer than itself).
 */
int ab_cluster_find_program(const char *name, int server_major, char *out, size_t n,
                            struct ab_error *err) AB_MUSTCHECK;

/* The connection string commands use: DATABASE_URL, or the embedded cluster's socket URL. */
int ab_cluster_conninfo(const struct ab_config *cfg, char *out, size_t n,
                        struct ab_error *err) AB_MUSTCHECK;
/*
 * The one the service uses: DATABASE_URL, or on the embedded cluster its dedicated login
 * role agentbase_service (never the superuser).
 */
int ab_cluster_service_conninfo(const struct ab_config *cfg, char *out, size_t n,
                                struct ab_error *err) AB_MUSTCHECK;

#endif
