/*
 * agentbase: the CLI and (with the service) the server, in one binary.
 *
 *   agentbase [--home DIR] <command> [options]
 *
 * main() reads the configuration, then hands the remaining arguments to one command.
 */
#include "cli/cli.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(const struct ab_config *cfg, int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"up", ab_cli_up, "start the embedded cluster, migrate, seed on first run, serve"},
    {"serve", ab_cli_serve, "serve the REST API (AGENTBASE_LISTEN, default 127.0.0.1:8080)"},
    {"pg", ab_cli_pg, "manage the embedded PostgreSQL: start, stop, status, url, psql"},
    {"migrate", ab_cli_migrate, "apply, revert, inspect and verify schema migrations"},
    {"keys", ab_cli_keys, "create API keys: keys create --platform-admin | --tenant SLUG"},
    {"users", ab_cli_users,
     "set a user's password: users set-password --tenant SLUG --email EMAIL"},
    {"seed", ab_cli_seed, "load reference data (plans, prices, MCP registry); --dev adds a demo"},
    {"db", ab_cli_db, "development only: db reset --dev (down to 0, up, seed --dev)"},
    {"backup", ab_cli_backup, "pgBackRest backups of the embedded cluster: take, list, verify"},
    {"restore", ab_cli_restore, "restore the embedded cluster from a backup, to a time or latest"},
    {"dump", ab_cli_dump, "write a logical export (roles, settings, pg_dump) that load restores"},
    {"load", ab_cli_load, "restore a dump into an empty database (--force: replace its content)"},
    {"status", ab_cli_status, "sizes, bloat, dead tuples, old transactions, replication, backups"},
    {"maintain", ab_cli_maintain, "periodic jobs: expire holds, resets, rollups, partitions"},
    {"secrets", ab_cli_secrets, "stored secrets' key ring: status, verify, rotate, new-key"},
    {"docs", ab_cli_docs, "write the data dictionary and ER diagram into docs/schema/"},
    {"version", ab_cli_version, "print the version"},
};

static void usage(FILE *out)
{
    fputs("usage: agentbase [--home DIR] <command> [options]\n"
          "\n"
          "agentbase is the multi-tenant data backend for AI agent platforms.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < AB_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "options:\n"
          "  --home DIR   where the embedded cluster and generated secrets live\n"
          "               (AGENTBASE_HOME, default ./var)\n"
          "  -h, --help   this help; `agentbase <command> --help` for a command's own\n"
          "\n"
          "environment:\n"
          "  DATABASE_URL        use this PostgreSQL server instead of the embedded cluster\n"
          "  AGENTBASE_HOME      as --home\n"
          "  AGENTBASE_SECRET_KEY       the key ring that seals stored secrets (required\n"
          "                             with DATABASE_URL, unless the next one is set)\n"
          "  AGENTBASE_SECRET_KEY_FILE  a file holding that key ring (default on the\n"
          "                             embedded cluster: $AGENTBASE_HOME/secret-keys)\n"
          "  AGENTBASE_PG_BINDIR PostgreSQL programs for the embedded cluster\n"
          "                      (default: the newest under /usr/lib/postgresql)\n"
          "  AGENTBASE_BACKUP_*  the embedded cluster's backups (agentbase backup --help)\n",
          out);
}

int main(int argc, char **argv)
{
    struct ab_config cfg;
    struct ab_error err;
    int i = 1;

    if (sodium_init() < 0) {
        fputs("agentbase: error: cannot initialise libsodium\n", stderr);
        return AB_EXIT_FAIL;
    }
    if (ab_config_load(&cfg, &err) != 0)
        return ab_cli_fail(&err);
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return AB_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0)
            return ab_cli_version(&cfg, 1, argv + i);
        if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
            if (ab_config_set_home(&cfg, argv[i + 1], &err) != 0)
                return ab_cli_fail(&err);
            i += 2;
            continue;
        }
        fprintf(stderr, "agentbase: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return AB_EXIT_USAGE;
    }
    if (i >= argc) {
        usage(stderr);
        return AB_EXIT_USAGE;
    }
    for (size_t c = 0; c < AB_ARRAY_LEN(commands); c++)
        if (strcmp(argv[i], commands[c].name) == 0)
            return commands[c].run(&cfg, argc - i, argv + i);
    fprintf(stderr, "agentbase: unknown command '%s' (see agentbase --help)\n", argv[i]);
    return AB_EXIT_USAGE;
}
