#include "cli/cli.h"
#include "migrate/migrate.h"

#include <libpq-fe.h>

int ab_cli_version(const struct ab_config *cfg, int argc, char **argv)
{
    struct ab_migration_set set;
    struct ab_error err;
    int lib = PQlibVersion();

    (void)cfg;
    (void)argv;
    if (argc > 1)
        return ab_cli_usage_error("version", "takes no arguments");
    if (ab_migrate_load(&set, NULL, &err) != 0)
        return ab_cli_fail(&err);
    printf("agentbase %s (schema %04d, libpq %d.%d)\n", AB_VERSION, ab_migrate_head(&set),
           lib / 10000, lib % 10000);
    ab_migrate_set_free(&set);
    return AB_EXIT_OK;
}
