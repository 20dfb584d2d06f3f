/* agentbase backup and agentbase restore: pgBackRest backups of the embedded cluster. */
#include "backup/backup.h"
#include "cli/cli.h"
#include "migrate/migrate.h"
#include "pg/pg.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char backup_help[] =
    "usage: agentbase backup [--type full|diff|incr]\n"
    "       agentbase backup list\n"
    "       agentbase backup verify\n"
    "\n"
    "Backs up the embedded cluster with pgBackRest, online, into the repository\n"
    "($AGENTBASE_HOME/backup unless AGENTBASE_BACKUP_REPO or AGENTBASE_BACKUP_OPTIONS say\n"
    "otherwise). The cluster archives its WAL there from its first start, so that a restore\n"
    "can reach any moment after the oldest backup (agentbase restore --help).\n"
    "\n"
    "  --type T   full (everything), diff (what changed since the last full) or incr (since\n"
    "             the last backup; the default; a full one when there is none yet)\n"
    "  list       the backups in the repository, oldest first, and the WAL it holds\n"
    "  verify     check that the running cluster's WAL reaches the repository, and that every\n"
    "             backup and WAL file in it is whole\n"
    "\n"
    "environment:\n"
    "  AGENTBASE_BACKUP_REPO         the repository's path (default $AGENTBASE_HOME/backup)\n"
    "  AGENTBASE_BACKUP_OPTIONS      more pgBackRest options, name=value separated by spaces,\n"
    "                                e.g. an object store: repo1-type=s3 repo1-s3-bucket=...\n"
    "  AGENTBASE_BACKUP_RETAIN_FULL  full backups kept, with the WAL they need (default 5);\n"
    "                                older ones expire after each backup\n"
    "  AGENTBASE_BACKUP_SCHEDULE     what agentbase maintain takes when due (default\n"
    "                                full=7d,incr=1d; also diff=; units m h d w; off: none)\n"
    "agentbase writes $AGENTBASE_HOME/pgbackrest.conf from them: do not edit it.\n";

static const char restore_help[] =
    "usage: agentbase restore (--to TIME | --to-latest) [--set NAME] [--force]\n"
    "\n"
    "Restores the embedded cluster from the backup repository: says what it will do, has the\n"
    "cluster archive what it has not yet, stops it, restores the files (pgBackRest --delta),\n"
    "replays WAL up to the target, promotes, starts it, and checks that the schema is the\n"
    "version this agentbase expects and passes migrate verify. Also for a data directory\n"
    "that is gone.\n"
    "\n"
    "  --to TIME    up to this moment: the transactions committed by then, none after;\n"
    "               YYYY-MM-DD HH:MM[:SS[.ffffff]] in UTC, or with a zone (Z, +01:00)\n"
    "  --to-latest  up to the end of the archived WAL: everything committed that reached it\n"
    "  --set NAME   start from this backup (agentbase backup list); default: the newest that\n"
    "               finished before the target\n"
    "  --force      stop the cluster when it runs (without it, restore refuses); stop the\n"
    "               servers that use it too, or they answer 503 until it is back\n";

/* ---- backup ----------------------------------------------------------------------------- */

static void print_size(long long bytes, char *out, size_t n)
{
    if (bytes >= 10LL << 30)
        snprintf(out, n, "%lld GB", bytes >> 30);
    else if (bytes >= 10LL << 20)
        snprintf(out, n, "%lld MB", bytes >> 20);
    else
        snprintf(out, n, "%lld kB", bytes >> 10);
}

static int cmd_list(struct ab_backup *b)
{
    struct ab_backup_info info;
    struct ab_error err;
    char start[32], stop[32], size[32], repo[32];

    if (ab_backup_info(b, &info, &err) != 0)
        return ab_cli_fail(&err);
    if (!info.n) {
        printf("no backups yet in %s (%s)\n", b->object_store ? "the object store" : b->repo,
               info.status);
    } else {
        printf("%-33s %-4s %-19s %-19s %8s %8s\n", "LABEL", "TYPE", "STARTED (UTC)",
               "FINISHED (UTC)", "SIZE", "STORED");
    }
    for (size_t i = 0; i < info.n; i++) {
        struct tm tm;

        strftime(start, sizeof(start), "%Y-%m-%d %H:%M:%S", gmtime_r(&info.sets[i].start, &tm));
        strftime(stop, sizeof(stop), "%Y-%m-%d %H:%M:%S", gmtime_r(&info.sets[i].stop, &tm));
        print_size(info.sets[i].size, size, sizeof(size));
        print_size(info.sets[i].repo_size, repo, sizeof(repo));
        printf("%-33s %-4s %-19s %-19s %8s %8s\n", info.sets[i].label, info.sets[i].type, start,
               stop, size, repo);
    }
    if (info.wal_min[0])
        printf("WAL archived: %s to %s\n", info.wal_min, info.wal_max);
    ab_backup_info_free(&info);
    return AB_EXIT_OK;
}

/* The newest backup's label into out (for the message after a backup). */
static void newest_label(struct ab_backup *b, char *out, size_t n)
{
    struct ab_backup_info info;
    struct ab_error err;

    out[0] = '\0';
    if (ab_backup_info(b, &info, &err) != 0)
        return;
    if (info.n)
        snprintf(out, n, "%s (%s)", info.sets[info.n - 1].label, info.sets[info.n - 1].type);
    ab_backup_info_free(&info);
}

int ab_cli_backup(const struct ab_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"type", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *type = "incr", *sub = NULL;
    struct ab_backup b;
    struct ab_error err;
    char label[96];
    double t0;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'h') {
            fputs(backup_help, stdout);
            return AB_EXIT_OK;
        }
        if (o != 't')
            return ab_cli_usage_error("backup", "bad option");
        if (strcmp(optarg, "full") != 0 && strcmp(optarg, "diff") != 0 &&
            strcmp(optarg, "incr") != 0)
            return ab_cli_usage_error("backup", "--type takes full, diff or incr, not '%s'",
                                      optarg);
        type = optarg;
    }
    if (optind < argc)
        sub = argv[optind++];
    if (optind < argc)
        return ab_cli_usage_error("backup", "unexpected argument '%s'", argv[optind]);
    if (sub && strcmp(sub, "list") != 0 && strcmp(sub, "verify") != 0)
        return ab_cli_usage_error("backup", "unknown subcommand '%s'", sub);
    if (sub && argc > 2)
        return ab_cli_usage_error("backup", "%s takes no options", sub);
    if (ab_backup_init(&b, cfg, &err) != 0)
        return ab_cli_fail(&err);
    if (sub && strcmp(sub, "list") == 0)
        return cmd_list(&b);
    if (sub)
        return ab_backup_verify(&b, stdout, &err) != 0 ? ab_cli_fail(&err) : AB_EXIT_OK;
    t0 = ab_now_ms();
    if (ab_backup_take(&b, type, &err) != 0)
        return ab_cli_fail(&err);
    ab_format_duration(ab_now_ms() - t0, label, sizeof(label));
    printf("backup taken in %s: ", label);
    newest_label(&b, label, sizeof(label));
    printf("%s\n", label);
    return AB_EXIT_OK;
}

int ab_cli_backup_scheduled(const struct ab_config *cfg, long *n, struct ab_error *err)
{
    struct ab_backup_info info;
    struct ab_backup b;
    char type[8];
    int rc;

    *n = 0;
    if ((rc = ab_backup_init(&b, cfg, err)))
        return rc;
    /* Nothing to do where agentbase does not manage the backups, or they are off. */
    if (!b.managed || !b.program[0] || !b.schedule.full)
        return 0;
    if ((rc = ab_backup_info(&b, &info, err)))
        return rc;
    ab_backup_due(&b, &info, time(NULL), type);
    ab_backup_info_free(&info);
    if (!type[0])
        return 0;
    if ((rc = ab_backup_take(&b, type, err)))
        return rc;
    *n = 1;
    return 0;
}

/* ---- restore ---------------------------------------------------------------------------- */

/* After a restore: the schema is this binary's head, and migrate verify passes. */
static int check_schema(const struct ab_config *cfg)
{
    struct ab_migration_set set;
    struct ab_error err;
    char conninfo[4096];
    PGconn *conn = NULL;
    int version = 0, head, code;

    if (ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), &err) != 0 ||
        ab_pg_connect(conninfo, "agentbase restore", &conn, &err) != 0 ||
        ab_migrate_current(conn, &version, &err) != 0 || ab_migrate_load(&set, NULL, &err) != 0) {
        if (conn)
            PQfinish(conn);
        return ab_cli_fail(&err);
    }
    PQfinish(conn);
    head = ab_migrate_head(&set);
    code = ab_cli_migrate_report(conninfo, &set, true);
    ab_migrate_set_free(&set);
    if (code != AB_EXIT_OK)
        return code;
    if (version != head) {
        fprintf(stderr,
                "agentbase: error: the restored database is at schema version %d, this "
                "agentbase needs %d\n",
                version, head);
        if (version < head)
            fprintf(stderr, "hint: apply the newer migrations with agentbase migrate up\n");
        return AB_EXIT_FAIL;
    }
    printf("schema: at version %04d, as this agentbase expects; migrate verify passes\n", version);
    return AB_EXIT_OK;
}

int ab_cli_restore(const struct ab_config *cfg, int argc, char **argv)
{
    enum { OPT_LATEST = 1000, OPT_SET, OPT_FORCE };
    static const struct option opts[] = {
        {"to", required_argument, 0, 't'},      {"to-latest", no_argument, 0, OPT_LATEST},
        {"set", required_argument, 0, OPT_SET}, {"force", no_argument, 0, OPT_FORCE},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    struct ab_backup_restore_opts ro = {.out = stdout};
    const char *to = NULL;
    struct ab_backup b;
    struct ab_error err;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'h':
            fputs(restore_help, stdout);
            return AB_EXIT_OK;
        case 't':
            to = optarg;
            break;
        case OPT_LATEST:
            ro.latest = true;
            break;
        case OPT_SET:
            if (!*optarg || strlen(optarg) > 60)
                return ab_cli_usage_error("restore", "--set takes a backup's label");
            ro.set = optarg;
            break;
        case OPT_FORCE:
            ro.force = true;
            break;
        default:
            return ab_cli_usage_error("restore", "bad option");
        }
    }
    if (optind < argc)
        return ab_cli_usage_error("restore", "unexpected argument '%s'", argv[optind]);
    if (!to == !ro.latest)
        return ab_cli_usage_error("restore", "say where to: --to TIME or --to-latest (one)");
    if (to && ab_backup_parse_time(to, &ro.to, &ro.to_usec, &err) != 0) {
        ab_error_print(&err, stderr);
        return AB_EXIT_USAGE;
    }
    if (ab_backup_init(&b, cfg, &err) != 0 || ab_backup_restore(&b, &ro, &err) != 0)
        return ab_cli_fail(&err);
    return check_schema(cfg);
}
