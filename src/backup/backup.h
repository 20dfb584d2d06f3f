/*
 * backup: physical backups and point-in-time recovery of the embedded cluster, with
 * pgBackRest (https://pgbackrest.org), for `agentbase backup`, `restore`, `maintain` and
 * the server's /readyz and /metrics.
 *
 * agentbase configures pgBackRest itself: $AGENTBASE_HOME/pgbackrest.conf (stanza
 * "agentbase") is rewritten from the environment by every command here and by every start
 * of the cluster, which also archives WAL with pgBackRest's archive-push from the
 * cluster's first start on. Its logs and locks live in $AGENTBASE_HOME/pg/pgbackrest.
 *   AGENTBASE_BACKUP_REPO         the repository's path (default $AGENTBASE_HOME/backup)
 *   AGENTBASE_BACKUP_OPTIONS      more pgBackRest options, name=value separated by spaces
 *                                 or newlines (an object store: repo1-type=s3 ...)
 *   AGENTBASE_BACKUP_RETAIN_FULL  full backups kept, with the WAL they need (default 5)
 *   AGENTBASE_BACKUP_SCHEDULE     what maintain takes when due (default full=7d,incr=1d)
 *   AGENTBASE_BACKUP_CHECK_INTERVAL  seconds between the server's looks (default 60)
 *
 * Managed means: an embedded cluster exists under AGENTBASE_HOME and DATABASE_URL is
 * unset or names that cluster's socket. Only then is anything here used.
 *
 * Threads: everything but the monitor forks pgBackRest as the cluster's user (through
 * cluster/) and is for the CLI. The monitor is for the server: one thread that looks at
 * the repository (pgbackrest info, run as the server's own user) and pg_stat_archiver
 * every interval, and answers from memory. Nothing here allocates what the caller frees,
 * except the sets of struct ab_backup_info (ab_backup_info_free).
 */
#ifndef AB_BACKUP_H
#define AB_BACKUP_H

#include "cluster/cluster.h"
#include "core/core.h"

#include <time.h>

#define AB_BACKUP_STANZA "agentbase"

/* Seconds between backups of each type (0: never). */
struct ab_backup_schedule {
    long full, diff, incr;
};

struct ab_backup {
    struct ab_cluster cluster;
    char home[PATH_MAX];
    char conf[PATH_MAX];    /* $AGENTBASE_HOME/pgbackrest.conf */
    char workdir[PATH_MAX]; /* $AGENTBASE_HOME/pg/pgbackrest: logs and locks */
    char repo[PATH_MAX];    /* repo1-path */
    char options[4096];     /* AGENTBASE_BACKUP_OPTIONS, one name=value a line */
    char program[PATH_MAX]; /* pgbackrest, "" when not installed */
    long retain_full;
    long check_interval_s;              /* AGENTBASE_BACKUP_CHECK_INTERVAL: the server's monitor */
    struct ab_backup_schedule schedule; /* all 0: AGENTBASE_BACKUP_SCHEDULE=off */
    bool object_store;                  /* the options name a repo1-type other than posix */
    bool embedded;                      /* DATABASE_URL unset or naming the embedded cluster */
    bool managed;                       /* embedded, and the cluster exists */
};

struct ab_backup_set {
    char label[64]; /* e.g. 20261203-114415F */
    char type[8];   /* full, diff, incr */
    time_t start, stop;
    long long size; /* of the database at the time */
    long long repo_size;
};

struct ab_backup_info {
    struct ab_backup_set *sets; /* oldest first */
    size_t n;
    bool stanza;      /* the repository holds the stanza */
    char status[256]; /* pgBackRest's status message */
    char wal_min[32], wal_max[32];
};

/*
 * Reads the configuration from cfg and the environment and finds pgBackRest. A bad value
 * is AB_EINVAL naming the variable. Touches nothing.
 */
int ab_backup_init(struct ab_backup *b, const struct ab_config *cfg,
                   struct ab_error *err) AB_MUSTCHECK;
/* AB_ECONFLICT (or AB_ENOTFOUND) with a hint unless the cluster is managed and pgBackRest is
 * installed: the check the backup commands start with. */
int ab_backup_require(const struct ab_backup *b, struct ab_error *err) AB_MUSTCHECK;
/*
 * Starts the embedded cluster (ab_cluster_start) with WAL archiving to the repository:
 * writes pgbackrest.conf, and after the start creates the stanza when the repository has
 * none yet (a failure there is a warning on stderr: archiving then fails, and says so).
 * Without pgBackRest installed the cluster starts with archive_mode off, and a warning.
 */
int ab_backup_cluster_start(struct ab_backup *b, int port, struct ab_error *err) AB_MUSTCHECK;
/* Takes a backup of type "full", "diff" or "incr" (creating the stanza on first use). */
int ab_backup_take(struct ab_backup *b, const char *type, struct ab_error *err) AB_MUSTCHECK;
/* What the repository holds. */
int ab_backup_info(struct ab_backup *b, struct ab_backup_info *info,
                   struct ab_error *err) AB_MUSTCHECK;
void ab_backup_info_free(struct ab_backup_info *info);
/*
 * pgbackrest check (the running cluster's WAL reaches the repository) then verify (every
 * backup and WAL file in the repository is whole). Prints what each found to out.
 */
int ab_backup_verify(struct ab_backup *b, FILE *out, struct ab_error *err) AB_MUSTCHECK;
/*
 * The backup type the schedule says is due at now given info ("" when none is): full when
 * there is none or the newest is older than its interval, else diff, else incr.
 */
void ab_backup_due(const struct ab_backup *b, const struct ab_backup_info *info, time_t now,
                   char type[8]);

/* Parses a point in time, YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]][Z|+HH[:MM]|-HH[:MM]] (UTC when no
 * zone), into seconds since the epoch and microseconds. */
int ab_backup_parse_time(const char *s, time_t *t, long *usec, struct ab_error *err) AB_MUSTCHECK;

struct ab_backup_restore_opts {
    bool latest;     /* replay all archived WAL */
    time_t to;       /* else: stop before the first commit after to (+ to_usec) */
    long to_usec;    /* microseconds */
    const char *set; /* the backup set to restore from; NULL: the newest that fits */
    bool force;      /* stop a running cluster */
    FILE *out;       /* what it will do, and progress */
};

/*
 * Restores the embedded cluster: says what it will do; archives the WAL the cluster has not
 * archived yet (starting it for that when it is stopped but whole); stops it (AB_ECONFLICT
 * when it runs and force is false); pgbackrest restore --delta with the target; starts it
 * and waits until recovery has reached the target and promoted. The caller checks the
 * schema.
 */
int ab_backup_restore(struct ab_backup *b, const struct ab_backup_restore_opts *o,
                      struct ab_error *err) AB_MUSTCHECK;

/* ---- the server's view ------------------------------------------------------------------ */

struct ab_backup_status {
    bool managed;  /* false: nothing below is known */
    bool checked;  /* the monitor has looked at least once */
    bool info_ok;  /* the last look at the repository succeeded */
    time_t newest; /* when the newest backup finished (0: none) */
    char newest_label[64];
    bool archiving_ok; /* pg_stat_archiver could be read */
    bool failing;      /* the last archive attempt failed (after the last success) */
    long long archived, failed;
    char last_failed_wal[64];
};

struct ab_backup_monitor;
/*
 * Starts the monitor thread when the cluster is managed (otherwise *out is a monitor that
 * reports managed = false). conninfo: where to read pg_stat_archiver. It looks every
 * AGENTBASE_BACKUP_CHECK_INTERVAL seconds (default 60), the first time at once.
 */
int ab_backup_monitor_start(const struct ab_config *cfg, const char *conninfo,
                            struct ab_backup_monitor **out, struct ab_error *err) AB_MUSTCHECK;
/* The last state seen; never waits for the database or pgBackRest. */
void ab_backup_monitor_status(struct ab_backup_monitor *m, struct ab_backup_status *st);
/* Stops and frees the monitor; NULL is fine. */
void ab_backup_monitor_stop(struct ab_backup_monitor *m);

#endif
