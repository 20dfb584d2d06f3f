/* agentbase up: everything a first run needs, in one command. */
#include "api/api.h"
#include "app/app.h"
#include "backup/backup.h"
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "migrate/migrate.h"
#include "pg/pg.h"
#include "secret/secret.h"

#include <getopt.h>
#include <string.h>

static const char up_help[] =
    "usage: agentbase up [--port N] [--dev] [--no-serve]\n"
    "\n"
    "Starts the embedded PostgreSQL cluster (unless DATABASE_URL names a server), applies\n"
    "every pending migration, and serves the REST API (see agentbase serve --help) until\n"
    "SIGTERM or SIGINT. On the first run it also seeds the database, with the platform's\n"
    "super admin admin@platform.local (tenant platform), whose password it writes to\n"
    "$AGENTBASE_HOME/superadmin-password (to change at first login), and writes a\n"
    "platform-admin API key to $AGENTBASE_HOME/admin-key (both mode 0600). On the embedded\n"
    "cluster's first run it generates the key ring of stored secrets,\n"
    "$AGENTBASE_HOME/secret-keys (mode 0600); with DATABASE_URL, AGENTBASE_SECRET_KEY (or\n"
    "AGENTBASE_SECRET_KEY_FILE) must name one (see agentbase secrets --help).\n"
    "\n"
    "  --port N     the embedded cluster also listens on 127.0.0.1:N\n"
    "  --dev        seed the demo tenant too (on first run)\n"
    "  --no-serve   stop after migrating and seeding\n";

int ab_cli_up(const struct ab_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, 0, 'p'},
                                         {"dev", no_argument, 0, 'd'},
                                         {"no-serve", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct ab_migration_set set;
    struct ab_migrate_opts mo;
    struct ab_secret_ring *ring = NULL;
    struct ab_backup b;
    struct ab_error err;
    char conninfo[4096];
    PGconn *conn = NULL;
    long port = 0;
    bool dev = false, serve = true;
    int o, before = 0, rc;

    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'h') {
            fputs(up_help, stdout);
            return AB_EXIT_OK;
        } else if (o == 'd') {
            dev = true;
        } else if (o == 'n') {
            serve = false;
        } else if (o != 'p' || !ab_cli_parse_int(optarg, 65535, &port) || port < 1) {
            return ab_cli_usage_error("up", "--port takes a number from 1 to 65535");
        }
    }
    if (optind < argc)
        return ab_cli_usage_error("up", "unexpected argument '%s'", argv[optind]);
    if (!ab_config_embedded(cfg) && port)
        return ab_cli_usage_error("up", "--port is for the embedded cluster; DATABASE_URL is set");

    /* The key ring first: a server that could not seal secrets must not get this far. */
    if ((rc = serve ? ab_cli_secret_ring(cfg, &ring, &err) : ab_cli_secret_keyfile(cfg, &err)))
        goto out;
    if (ab_config_embedded(cfg)) {
        if ((rc = ab_backup_init(&b, cfg, &err)) ||
            (rc = ab_backup_cluster_start(&b, (int)port, &err)))
            goto out;
        printf("PostgreSQL is running (data %s)\n", b.cluster.data);
    }
    if ((rc = ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), &err)) ||
        (rc = ab_pg_connect(conninfo, "agentbase up", &conn, &err)))
        goto out;
    rc = ab_migrate_current(conn, &before, &err);
    PQfinish(conn);
    if (rc || (rc = ab_migrate_load(&set, NULL, &err)))
        goto out;
    ab_migrate_opts_init(&mo);
    rc = ab_migrate_run(conninfo, &set, &mo, &err);
    ab_migrate_set_free(&set);
    if (rc)
        goto out;
    /* First run: seed, and hand the operator a platform-admin key to start with. */
    if (before == 0 && ((rc = ab_cli_run_seed(cfg, conninfo, dev, &err)) ||
                        (rc = ab_cli_bootstrap_admin_key(cfg, conninfo, &err))))
        goto out;
    if (!serve)
        printf("ready (not serving: --no-serve); psql: agentbase pg psql\n");
    else if (!(rc = ab_cluster_service_conninfo(cfg, conninfo, sizeof(conninfo), &err)))
        rc = ab_app_serve(cfg, conninfo, ring, &err);
out:
    ab_secret_ring_free(ring);
    return rc ? ab_cli_fail(&err) : AB_EXIT_OK;
}
