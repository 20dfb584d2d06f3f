/* agentbase pg: the embedded PostgreSQL cluster under $AGENTBASE_HOME/pg. */
#include "backup/backup.h"
#include "cli/cli.h"
#include "cluster/cluster.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char pg_help[] =
    "usage: agentbase pg <start|stop|status|url|psql> [options]\n"
    "\n"
    "Manages the embedded PostgreSQL cluster under $AGENTBASE_HOME/pg (default ./var/pg).\n"
    "It listens on a unix socket in $AGENTBASE_HOME/pg/run only, unless started with --port.\n"
    "When agentbase runs as root, the cluster runs as the postgres system user.\n"
    "\n"
    "  start [--port N]   create the cluster on first use (data checksums on) and start it;\n"
    "                     --port N also listens on 127.0.0.1:N (password in pg/password);\n"
    "                     the first start also writes $AGENTBASE_HOME/secret-keys, the key\n"
    "                     ring of stored secrets (unless AGENTBASE_SECRET_KEY[_FILE] names one);\n"
    "                     WAL is archived to the backup repository (agentbase backup --help)\n"
    "  stop               stop it (fast shutdown: running transactions are rolled back)\n"
    "  status             whether it runs, where, and its version; exit 3 when stopped\n"
    "  url [--tcp]        a connection URL for libpq and psql (socket, or TCP with --tcp)\n"
    "  psql [ARGS...]     run psql on the agentbase database; ARGS go to psql\n";

static int cmd_start(const struct ab_config *cfg, struct ab_cluster *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, 0, 'p'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    struct ab_backup b;
    struct ab_error err;
    long port = 0;
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
        if (o == 'h') {
            fputs(pg_help, stdout);
            return AB_EXIT_OK;
        }
        if (o != 'p' || !ab_cli_parse_int(optarg, 65535, &port) || port < 1)
            return ab_cli_usage_error("pg", "start takes --port with a number from 1 to 65535");
    }
    if (optind < argc)
        return ab_cli_usage_error("pg", "unexpected argument '%s'", argv[optind]);
    /*
     * WAL archiving to the backup repository is on from the first start (backup/); the
     * first run also makes the key ring of stored secrets.
     */
    if (ab_backup_init(&b, cfg, &err) != 0 || ab_backup_cluster_start(&b, (int)port, &err) != 0 ||
        ab_cli_secret_keyfile(cfg, &err) != 0)
        return ab_cli_fail(&err);
    if (port)
        printf("PostgreSQL is running (data %s, socket in %s, tcp 127.0.0.1:%ld)\n", c->data,
               c->run, port);
    else
        printf("PostgreSQL is running (data %s, socket in %s)\n", c->data, c->run);
    return AB_EXIT_OK;
}

static int cmd_status(struct ab_cluster *c)
{
    struct ab_cluster_status st;
    struct ab_error err;

    if (ab_cluster_status(c, &st, &err) != 0)
        return ab_cli_fail(&err);
    if (!st.initialized) {
        printf("not created: %s does not hold a cluster yet (agentbase pg start creates it)\n",
               c->data);
        printf("programs: %s (%s)\n", c->bindir, st.version);
        return 3;
    }
    printf("%s\n", st.running ? "running" : "stopped");
    printf("data:     %s (PostgreSQL %d)\n", c->data, st.data_major);
    printf("programs: %s (%s)\n", c->bindir, st.version);
    printf("runs as:  %s\n", c->drop_root ? "postgres (agentbase runs as root)" : "current user");
    if (st.running) {
        printf("pid:      %ld\n", st.pid);
        printf("socket:   %s/.s.PGSQL.%d\n", c->run, st.port);
        if (st.tcp)
            printf("tcp:      127.0.0.1:%d\n", st.port);
    }
    printf("log:      %s\n", c->log);
    return st.running ? AB_EXIT_OK : 3;
}

static int cmd_url(struct ab_cluster *c, int argc, char **argv)
{
    char url[PATH_MAX + 256];
    struct ab_error err;
    bool tcp = argc > 1 && strcmp(argv[1], "--tcp") == 0;

    if (argc > (tcp ? 2 : 1))
        return ab_cli_usage_error("pg", "url takes only --tcp");
    if (ab_cluster_url(c, AB_CLUSTER_DBNAME, tcp, url, sizeof(url), &err) != 0)
        return ab_cli_fail(&err);
    printf("%s\n", url);
    return AB_EXIT_OK;
}

static int cmd_psql(struct ab_cluster *c, int argc, char **argv)
{
    char url[PATH_MAX + 256];
    struct ab_error err;
    char **args = calloc((size_t)argc + 3, sizeof(*args));

    if (!args)
        return AB_EXIT_FAIL;
    if (ab_cluster_url(c, AB_CLUSTER_DBNAME, false, url, sizeof(url), &err) != 0) {
        free(args);
        return ab_cli_fail(&err);
    }
    args[0] = "psql";
    args[1] = url;
    for (int i = 1; i < argc; i++)
        args[i + 1] = argv[i];
    execvp("psql", args);
    fprintf(stderr, "agentbase: error: cannot run psql: install postgresql-client-15\n");
    free(args);
    return AB_EXIT_FAIL;
}

int ab_cli_pg(const struct ab_config *cfg, int argc, char **argv)
{
    struct ab_cluster c;
    struct ab_error err;
    const char *sub = argc > 1 ? argv[1] : NULL;

    if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(pg_help, sub ? stdout : stderr);
        return sub ? AB_EXIT_OK : AB_EXIT_USAGE;
    }
    if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        fputs(pg_help, stdout);
        return AB_EXIT_OK;
    }
    if (ab_cluster_init(&c, cfg->home, &err) != 0)
        return ab_cli_fail(&err);
    if (strcmp(sub, "start") == 0)
        return cmd_start(cfg, &c, argc - 1, argv + 1);
    if (strcmp(sub, "stop") == 0) {
        if (argc > 2)
            return ab_cli_usage_error("pg", "stop takes no arguments");
        if (ab_cluster_stop(&c, &err) != 0)
            return ab_cli_fail(&err);
        printf("PostgreSQL is stopped\n");
        return AB_EXIT_OK;
    }
    if (strcmp(sub, "status") == 0)
        return cmd_status(&c);
    if (strcmp(sub, "url") == 0)
        return cmd_url(&c, argc - 1, argv + 1);
    if (strcmp(sub, "psql") == 0)
        return cmd_psql(&c, argc - 1, argv + 1);
    return ab_cli_usage_error("pg", "unknown subcommand '%s'", sub);
}
