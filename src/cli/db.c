/*
 * agentbase db reset --dev: a development database from scratch. Every migration is
 * reverted (down to version 0), all are applied again, and the seed with the demo tenant is
 * loaded: what a developer wants after changing a migration, and what must never reach a
 * database with real data by accident. So it runs only against the embedded cluster
 * (DATABASE_URL unset, or the embedded cluster's own URL as `agentbase pg url` prints it),
 * unless --force says the server at DATABASE_URL is meant.
 */
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "migrate/migrate.h"

#include <limits.h>
#include <string.h>

static const char db_help[] =
    "usage: agentbase db reset --dev [--force]\n"
    "\n"
    "Development only: reverts every migration (down to 0, dropping all data), applies\n"
    "them again and loads the seed with the demo tenant (as `agentbase seed --dev`).\n"
    "\n"
    "  --dev     required: says that this is a development database\n"
    "  --force   also against another server at DATABASE_URL (refused without it: only\n"
    "            the embedded cluster under AGENTBASE_HOME is reset by default)\n";

/* Whether the database is the embedded cluster under AGENTBASE_HOME. */
static bool is_embedded(const struct ab_config *cfg)
{
    struct ab_cluster c;
    struct ab_error err;
    char url[PATH_MAX + 256];

    if (!cfg->database_url[0])
        return true;
    if (ab_cluster_init(&c, cfg->home, &err) != 0)
        return false;
    for (int tcp = 0; tcp < 2; tcp++)
        if (ab_cluster_url(&c, AB_CLUSTER_DBNAME, tcp, url, sizeof(url), &err) == 0 &&
            strcmp(url, cfg->database_url) == 0)
            return true;
    return false;
}

/* Down to 0, up, seed --dev: each step stops the reset when it fails. */
static int reset(const struct ab_config *cfg, struct ab_error *err)
{
    struct ab_migration_set set;
    struct ab_migrate_opts o;
    char conninfo[4096];
    int rc;

    if ((rc = ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), err)))
        return rc;
    if ((rc = ab_migrate_load(&set, NULL, err)))
        return rc;
    ab_migrate_opts_init(&o);
    o.direction = AB_MIGRATE_DOWN;
    o.to_version = 0;
    o.to_set = true;
    rc = ab_migrate_run(conninfo, &set, &o, err);
    if (!rc) {
        ab_migrate_opts_init(&o);
        rc = ab_migrate_run(conninfo, &set, &o, err);
    }
    if (!rc)
        rc = ab_cli_run_seed(cfg, conninfo, true, err);
    ab_migrate_set_free(&set);
    return rc;
}

int ab_cli_db(const struct ab_config *cfg, int argc, char **argv)
{
    struct ab_error err;
    bool dev = false, force = false;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(db_help, stdout);
        return AB_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "reset") != 0)
        return ab_cli_usage_error("db", "which subcommand? reset");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--dev") == 0) {
            dev = true;
        } else if (strcmp(argv[i], "--force") == 0) {
            force = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(db_help, stdout);
            return AB_EXIT_OK;
        } else {
            return ab_cli_usage_error("db", "unknown argument '%s'", argv[i]);
        }
    }
    if (!dev)
        return ab_cli_usage_error("db", "reset drops every row: say --dev to mean it");
    if (!force && !is_embedded(cfg)) {
        fprintf(stderr, "agentbase: db reset refused: DATABASE_URL names a server that is not "
                        "the embedded cluster (give --force if it is a development database)\n");
        return AB_EXIT_FAIL;
    }
    if (reset(cfg, &err) != 0) {
        ab_cli_connect_hint(cfg, &err);
        return ab_cli_fail(&err);
    }
    printf("database reset: migrated down to 0, up again, seeded (with the demo tenant)\n");
    return AB_EXIT_OK;
}
