/*
 * migrate: the migration engine behind `agentbase migrate`.
 *
 * A migration is a pair of files, NNNN_name.up.sql and NNNN_name.down.sql, compiled into
 * the binary (or read from a directory with --dir). Each runs in one transaction together
 * with the rows that record it in the schema agentbase_migrate (versions: the current
 * state; events: an append-only history), so a failure or a kill leaves the previous
 * version intact. A file whose first line is `-- agentbase:no-transaction` holds exactly
 * one statement (CREATE INDEX CONCURRENTLY ...) and runs outside a transaction; an index
 * it leaves invalid is reported, and dropped before a retry.
 *
 * Concurrency: a session-level advisory lock, held on a dedicated connection that never
 * runs a migration, serializes migrators; waiting migrators say who holds it.
 *
 * Ownership: ab_migrate_load fills a struct ab_migration_set that the caller releases with
 * ab_migrate_set_free. Output goes to the FILE the options name. Not thread-safe.
 *
 * Files: load.c (reading, pairing, checksumming and splitting the set), run.c (up, down
 * and plan: one step program), status.c (status, history, stamp), session.c (the
 * connections, the lock and the state tables they share, see session.h), sqlsplit.c.
 */
#ifndef AB_MIGRATE_H
#define AB_MIGRATE_H

#include "core/core.h"

#include <libpq-fe.h>

#define AB_MIGRATE_NO_TX_MARK "-- agentbase:no-transaction"
/* The largest migration file read from a directory, and the largest statement run. */
#define AB_MIGRATE_MAX_FILE_BYTES (16u << 20)

/* ---- statement splitting -------------------------------------------------------------- */

struct ab_sql_stmt {
    size_t offset; /* of the first significant character in the script */
    size_t len;    /* up to, not including, the terminating semicolon */
    int line;      /* 1-based line of offset */
};

/*
 * Splits a SQL script into statements, honouring quotes, E'' strings, quoted identifiers,
 * dollar quotes and comments. Statements holding only comments are dropped. *out is
 * malloc'd (free it). An unterminated quote or comment is AB_EINVAL naming its line.
 */
int ab_sql_split(const char *sql, size_t len, struct ab_sql_stmt **out, size_t *count,
                 struct ab_error *err) AB_MUSTCHECK;

/* ---- migrations ------------------------------------------------------------------------ */

struct ab_migration_script {
    char file[256]; /* file name, e.g. 0002_tenancy.up.sql */
    const char *sql;
    size_t len;
    char checksum[65]; /* sha256 hex of the file's bytes */
    bool no_transaction;
    struct ab_sql_stmt *stmts;
    size_t nstmts;
};

struct ab_migration {
    int version;
    char name[200]; /* e.g. 0002_tenancy */
    struct ab_migration_script up, down;
};

struct ab_migration_set {
    struct ab_migration *items; /* ascending version */
    size_t count;
    struct ab_buf storage; /* file contents read from a directory */
    char source[PATH_MAX]; /* "embedded" or the directory */
};

/*
 * Loads migrations from dir, or from the files compiled into the binary when dir is NULL.
 * Refuses duplicate versions, a missing up or down, names not of the form NNNN_name,
 * unparsable SQL and a no-transaction file with more than one statement.
 */
int ab_migrate_load(struct ab_migration_set *set, const char *dir,
                    struct ab_error *err) AB_MUSTCHECK;
void ab_migrate_set_free(struct ab_migration_set *set);
/* The newest version in the set (0 when empty). */
int ab_migrate_head(const struct ab_migration_set *set);
/* The migration of that version in the set, or NULL. */
const struct ab_migration *ab_migrate_find(const struct ab_migration_set *set, int version);

/* ---- running them ---------------------------------------------------------------------- */

enum ab_migrate_direction { AB_MIGRATE_UP, AB_MIGRATE_DOWN };

struct ab_migrate_opts {
    enum ab_migrate_direction direction;
    int to_version;                  /* up: last to apply (0: head); down: revert those above it */
    int count;                       /* down: how many to revert (used when > 0) */
    char to_date[64];                /* down: revert those applied after this date/time */
    bool to_set;                     /* down: to_version was given */
    bool allow_out_of_order;         /* up: apply pending versions older than the newest applied */
    double lock_timeout_s;           /* how long to wait for the migration lock (default 60) */
    char statement_lock_timeout[32]; /* lock_timeout for each migration (default 10s) */
    FILE *out;                       /* progress and results */
};

/* Defaults: up to head, 60 s lock wait, 10 s statement lock timeout, output to stdout. */
void ab_migrate_opts_init(struct ab_migrate_opts *o);

/* Applies (up) or reverts (down) migrations against the database at conninfo. */
int ab_migrate_run(const char *conninfo, const struct ab_migration_set *set,
                   const struct ab_migrate_opts *o, struct ab_error *err) AB_MUSTCHECK;
/* Writes to o->out the SQL that ab_migrate_run would execute, runnable with psql. */
int ab_migrate_plan(const char *conninfo, const struct ab_migration_set *set,
                    const struct ab_migrate_opts *o, struct ab_error *err) AB_MUSTCHECK;

/* ---- inspecting ------------------------------------------------------------------------ */

enum ab_migration_state {
    AB_MS_APPLIED, /* applied, checksum matches */
    AB_MS_PENDING, /* known to the binary, not applied */
    AB_MS_DRIFTED, /* applied, but the file's checksum differs from the recorded one */
    AB_MS_UNKNOWN, /* applied, but the binary has no such migration */
};

struct ab_migration_status {
    int version;
    char name[200];
    enum ab_migration_state state;
    char applied_at[64];
    char applied_by[128];
    char recorded_checksum[65];
    char file_checksum[65];
    double duration_ms;
};

/*
 * Compares the set with the database; *out (malloc'd, free it) is sorted by version.
 * A database that was never migrated has every migration pending.
 */
int ab_migrate_status(const char *conninfo, const struct ab_migration_set *set,
                      struct ab_migration_status **out, size_t *count,
                      struct ab_error *err) AB_MUSTCHECK;
/* Prints the events (deploy, revert, fail, stamp), oldest first. */
int ab_migrate_history(const char *conninfo, FILE *out, struct ab_error *err) AB_MUSTCHECK;
/* Records versions up to `version` as applied without running them, and forgets newer ones. */
int ab_migrate_stamp(const char *conninfo, const struct ab_migration_set *set, int version,
                     FILE *out, struct ab_error *err) AB_MUSTCHECK;
/* The highest applied version (0 when none, or never migrated). */
int ab_migrate_current(PGconn *conn, int *version, struct ab_error *err) AB_MUSTCHECK;

/*
 * Runs a script's statements on conn inside the caller's transaction, stopping at the
 * first error, which names the file, line and statement. Also used by `agentbase seed`.
 */
int ab_migrate_exec_script(PGconn *conn, const struct ab_migration_script *s,
                           struct ab_error *err) AB_MUSTCHECK;
/* Parses and checks a script held in memory (splits it, computes its checksum). */
int ab_migrate_script_init(struct ab_migration_script *s, const char *file, const char *sql,
                           size_t len, struct ab_error *err) AB_MUSTCHECK;
void ab_migrate_script_free(struct ab_migration_script *s);

#endif
