/* agentbase serve: the REST service. */
#include "api/api.h"
#include "cli/cli.h"

#include <string.h>

static const char serve_help[] =
    "usage: agentbase serve [--listen HOST:PORT]\n"
    "\n"
    "Serves the REST API on AGENTBASE_LISTEN (default 127.0.0.1:8080; port 0 picks a free\n"
    "port) with AGENTBASE_WORKERS threads and as many database connections. SIGTERM or\n"
    "SIGINT stops it after the requests in flight finish. Endpoints so far: /healthz,\n"
    "/readyz (database reachable and migrated), /metrics (Prometheus).\n";

int ab_cli_serve(const struct ab_config *cfg, int argc, char **argv)
{
    struct ab_config local = *cfg;
    struct ab_error err;
    char conninfo[4096];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(serve_help, stdout);
            return AB_EXIT_OK;
        }
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc &&
            strlen(argv[i + 1]) < sizeof(local.listen)) {
            snprintf(local.listen, sizeof(local.listen), "%s", argv[++i]);
            continue;
        }
        return ab_cli_usage_error("serve", "unknown argument '%s'", argv[i]);
    }
    if (ab_pg_service_conninfo(&local, conninfo, sizeof(conninfo), &err) != 0 ||
        ab_api_serve(&local, conninfo, &err) != 0)
        return ab_cli_fail(&err);
    return AB_EXIT_OK;
}
