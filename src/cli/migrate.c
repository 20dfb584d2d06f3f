/* agentbase migrate: apply, revert, inspect and verify schema migrations. */
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "migrate/migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char migrate_help[] =
    "usage: agentbase migrate <subcommand> [options]\n"
    "\n"
    "  up [--to V] [--allow-out-of-order]   apply pending migrations (up to V)\n"
    "  down [--count N | --to V | --to-date DATE]\n"
    "                                       revert the newest N (default 1), all above V\n"
    "                                       (0 reverts everything), or all applied after DATE\n"
    "  status                               applied, pending, drifted and unknown migrations\n"
    "  history                              every deploy, revert, failure and stamp\n"
    "  verify                               exit 1 when an applied file changed or the\n"
    "                                       database has a version this binary does not know\n"
    "  stamp V                              record migrations up to V as applied without\n"
    "                                       running them (baseline an existing database)\n"
    "  plan [--to V] [--down [--count N | --to V | --to-date DATE]]\n"
    "                                       print the SQL that up (or down) would run,\n"
    "                                       state changes included, runnable with psql\n"
    "  new NAME                             write the next numbered pair NNNN_NAME.up.sql and\n"
    "                                       .down.sql into db/migrations/ (or --dir), with a\n"
    "                                       header; NAME is lowercase letters, digits and _\n"
    "\n"
    "options:\n"
    "  --dir DIR                  read migrations from DIR instead of the built-in ones\n"
    "  --lock-timeout SECONDS     wait this long for another migrator (default 60)\n"
    "  --statement-lock-timeout D lock_timeout for each migration (default 10s)\n"
    "\n"
    "Each migration runs in one transaction with its bookkeeping: a failure or a kill\n"
    "leaves the previous version intact. A file starting with the line\n"
    "`-- agentbase:no-transaction` holds one statement (e.g. CREATE INDEX CONCURRENTLY)\n"
    "and runs outside a transaction.\n";

enum { OPT_DIR = 1000, OPT_LOCK, OPT_STMT_LOCK, OPT_OOO, OPT_DOWN, OPT_TO_DATE };

struct args {
    const char *sub;
    const char *dir;
    const char *positional; /* stamp's version */
    bool down;
    struct ab_migrate_opts o;
};

/* Returns 0, AB_EXIT_USAGE, or -1 when --help was printed. */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"dir", required_argument, 0, OPT_DIR},
        {"lock-timeout", required_argument, 0, OPT_LOCK},
        {"statement-lock-timeout", required_argument, 0, OPT_STMT_LOCK},
        {"allow-out-of-order", no_argument, 0, OPT_OOO},
        {"down", no_argument, 0, OPT_DOWN},
        {"to", required_argument, 0, 't'},
        {"count", required_argument, 0, 'n'},
        {"to-date", required_argument, 0, OPT_TO_DATE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    long v;
    int o, selectors = 0;

    /* GNU getopt moves the subcommand and its operands behind the options. */
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h':
            fputs(migrate_help, stdout);
            return -1;
        case OPT_DIR:
            a->dir = optarg;
            break;
        case OPT_LOCK:
            if (!ab_cli_parse_int(optarg, 86400, &v))
                return ab_cli_usage_error("migrate", "--lock-timeout takes seconds, not '%s'",
                                          optarg);
            a->o.lock_timeout_s = (double)v;
            break;
        case OPT_STMT_LOCK:
            if (strlen(optarg) >= sizeof(a->o.statement_lock_timeout) ||
                strspn(optarg, "0123456789msinh") != strlen(optarg))
                return ab_cli_usage_error("migrate",
                                          "--statement-lock-timeout takes a duration like 10s");
            snprintf(a->o.statement_lock_timeout, sizeof(a->o.statement_lock_timeout), "%s",
                     optarg);
            break;
        case OPT_OOO:
            a->o.allow_out_of_order = true;
            break;
        case OPT_DOWN:
            a->down = true;
            break;
        case 't':
            if (!ab_cli_parse_int(optarg, 999999999, &v))
                return ab_cli_usage_error("migrate", "--to takes a version number, not '%s'",
                                          optarg);
            a->o.to_version = (int)v;
            a->o.to_set = true;
            selectors++;
            break;
        case 'n':
            if (!ab_cli_parse_int(optarg, 999999999, &v) || v < 1)
                return ab_cli_usage_error("migrate", "--count takes a positive number");
            a->o.count = (int)v;
            selectors++;
            break;
        case OPT_TO_DATE:
            if (strlen(optarg) >= sizeof(a->o.to_date))
                return ab_cli_usage_error("migrate", "--to-date is too long");
            snprintf(a->o.to_date, sizeof(a->o.to_date), "%s", optarg);
            selectors++;
            break;
        default:
            return ab_cli_usage_error("migrate", "bad option");
        }
    }
    if (optind >= argc)
        return ab_cli_usage_error("migrate", "which subcommand? up, down, status, history, "
                                             "verify, stamp, plan or new");
    a->sub = argv[optind++];
    if (optind < argc)
        a->positional = argv[optind++];
    if (optind < argc)
        return ab_cli_usage_error("migrate", "unexpected argument '%s'", argv[optind]);
    if (selectors > 1)
        return ab_cli_usage_error("migrate", "give only one of --count, --to and --to-date");
    return 0;
}

static const char *state_name(enum ab_migration_state s)
{
    switch (s) {
    case AB_MS_APPLIED:
        return "applied";
    case AB_MS_PENDING:
        return "pending";
    case AB_MS_DRIFTED:
        return "DRIFTED";
    case AB_MS_UNKNOWN:
        return "UNKNOWN";
    }
    return "?";
}

/* ---- migrate new ------------------------------------------------------------------------ */

static const char new_up_header[] =
    "-- %04d_%s (up). Say here why this migration exists and what a reader may rely on:\n"
    "-- the tables, columns, functions and policies it adds, and their contracts.\n"
    "-- Never edit it once applied anywhere: write a new migration instead.\n"
    "\n";
static const char new_down_header[] =
    "-- %04d_%s (down): back to %04d. Undo exactly what the up file does, in reverse order;\n"
    "-- say here what a revert cannot give back.\n"
    "\n";

/* Creates path exclusively with the header; 0, or AB_EXIT_FAIL with the reason printed. */
static int write_new_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    size_t len = strlen(text);
    int code = AB_EXIT_FAIL;

    if (fd < 0) {
        fprintf(stderr, "agentbase: cannot create %s: %s\n", path, strerror(errno));
        return AB_EXIT_FAIL;
    }
    if (write(fd, text, len) != (ssize_t)len)
        fprintf(stderr, "agentbase: cannot write %s: %s\n", path, strerror(errno));
    else
        code = AB_EXIT_OK;
    close(fd);
    return code;
}

/*
 * migrate new NAME: the next version after the highest in dir (whose files must load, so a
 * broken set is found now, not at the next deploy), then both files, refusing to overwrite.
 */
static int cmd_new(const char *dir, const char *name)
{
    struct ab_migration_set set;
    struct ab_error err;
    char up[PATH_MAX], down[PATH_MAX], text[512];
    int next, code;

    if (!name || !*name || strlen(name) > 60 || name[0] < 'a' || name[0] > 'z' ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
        return ab_cli_usage_error("migrate", "new takes a NAME of lowercase letters, digits and "
                                             "_ (at most 60, starting with a letter)");
    if (ab_migrate_load(&set, dir, &err) != 0)
        return ab_cli_fail(&err);
    next = set.count ? set.items[set.count - 1].version + 1 : 1;
    ab_migrate_set_free(&set);
    if (next > 9999) {
        fprintf(stderr, "agentbase: no version left after 9999\n");
        return AB_EXIT_FAIL;
    }
    snprintf(up, sizeof(up), "%s/%04d_%s.up.sql", dir, next, name);
    snprintf(down, sizeof(down), "%s/%04d_%s.down.sql", dir, next, name);
    if (access(up, F_OK) == 0 || access(down, F_OK) == 0) {
        fprintf(stderr, "agentbase: %s or its down file exists already\n", up);
        return AB_EXIT_FAIL;
    }
    snprintf(text, sizeof(text), new_up_header, next, name);
    if ((code = write_new_file(up, text)) != AB_EXIT_OK)
        return code;
    snprintf(text, sizeof(text), new_down_header, next, name, next - 1);
    if ((code = write_new_file(down, text)) != AB_EXIT_OK) {
        unlink(up);
        return code;
    }
    printf("%s\n%s\n", up, down);
    return AB_EXIT_OK;
}

int ab_cli_migrate_report(const char *conninfo, const struct ab_migration_set *set, bool verify)
{
    struct ab_migration_status *st;
    struct ab_error err;
    size_t n, counts[4] = {0};
    int current = 0;

    if (ab_migrate_status(conninfo, set, &st, &n, &err) != 0)
        return ab_cli_fail(&err);
    if (!verify)
        printf("%-7s %-32s %-8s %s\n", "VERSION", "NAME", "STATE", "APPLIED");
    for (size_t i = 0; i < n; i++) {
        counts[st[i].state]++;
        if (st[i].state != AB_MS_PENDING && st[i].version > current)
            current = st[i].version;
        if (!verify)
            printf("%04d    %-32s %-8s %s%s%s\n", st[i].version, st[i].name,
                   state_name(st[i].state), st[i].applied_at, st[i].applied_by[0] ? " by " : "",
                   st[i].applied_by);
        if (st[i].state == AB_MS_DRIFTED)
            printf("%s%s changed after it was applied: recorded sha256 %s, file %s\n",
                   verify ? "" : "  ", st[i].name, st[i].recorded_checksum, st[i].file_checksum);
        if (st[i].state == AB_MS_UNKNOWN)
            printf("%s%s is applied but unknown to this agentbase (built-in or --dir)\n",
                   verify ? "" : "  ", st[i].name);
    }
    printf("database at %04d: %zu applied, %zu pending, %zu drifted, %zu unknown\n", current,
           counts[AB_MS_APPLIED] + counts[AB_MS_DRIFTED], counts[AB_MS_PENDING],
           counts[AB_MS_DRIFTED], counts[AB_MS_UNKNOWN]);
    free(st);
    if (verify && (counts[AB_MS_DRIFTED] || counts[AB_MS_UNKNOWN])) {
        fprintf(stderr, "agentbase: verify failed\n");
        return AB_EXIT_FAIL;
    }
    return AB_EXIT_OK;
}

int ab_cli_migrate(const struct ab_config *cfg, int argc, char **argv)
{
    struct args a = {0};
    struct ab_migration_set set;
    struct ab_error err;
    char conninfo[4096];
    long v;
    int rc, code = AB_EXIT_FAIL;

    ab_migrate_opts_init(&a.o);
    rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? AB_EXIT_OK : rc;
    if (strcmp(a.sub, "new") == 0)
        return cmd_new(a.dir ? a.dir : "db/migrations", a.positional);
    if (strcmp(a.sub, "stamp") != 0 && a.positional)
        return ab_cli_usage_error("migrate", "unexpected argument '%s'", a.positional);
    if (ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), &err) != 0)
        return ab_cli_fail(&err);
    if (ab_migrate_load(&set, a.dir, &err) != 0)
        return ab_cli_fail(&err);

    if (strcmp(a.sub, "up") == 0) {
        rc = ab_migrate_run(conninfo, &set, &a.o, &err);
    } else if (strcmp(a.sub, "down") == 0) {
        a.o.direction = AB_MIGRATE_DOWN;
        rc = ab_migrate_run(conninfo, &set, &a.o, &err);
    } else if (strcmp(a.sub, "plan") == 0) {
        a.o.direction = a.down ? AB_MIGRATE_DOWN : AB_MIGRATE_UP;
        rc = ab_migrate_plan(conninfo, &set, &a.o, &err);
    } else if (strcmp(a.sub, "status") == 0 || strcmp(a.sub, "verify") == 0) {
        code = ab_cli_migrate_report(conninfo, &set, strcmp(a.sub, "verify") == 0);
        goto out;
    } else if (strcmp(a.sub, "history") == 0) {
        rc = ab_migrate_history(conninfo, stdout, &err);
    } else if (strcmp(a.sub, "stamp") == 0) {
        if (!ab_cli_parse_int(a.positional, 999999999, &v)) {
            code = ab_cli_usage_error("migrate", "stamp takes a version number");
            goto out;
        }
        rc = ab_migrate_stamp(conninfo, &set, (int)v, stdout, &err);
    } else {
        code = ab_cli_usage_error("migrate", "unknown subcommand '%s'", a.sub);
        goto out;
    }
    if (rc) {
        ab_cli_connect_hint(cfg, &err);
        code = ab_cli_fail(&err);
    } else {
        code = AB_EXIT_OK;
    }
out:
    ab_migrate_set_free(&set);
    return code;
}
