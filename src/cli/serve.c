/* agentbase serve: the REST service. */
#include "api/api.h"
#include "app/app.h"
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "secret/secret.h"

#include <string.h>

static const char serve_help[] =
    "usage: agentbase serve [--listen HOST:PORT]\n"
    "\n"
    "Serves the REST API on AGENTBASE_LISTEN (default 127.0.0.1:8080; port 0 picks a free\n"
    "port) with AGENTBASE_WORKERS threads and as many database connections. SIGTERM or\n"
    "SIGINT stops it after the requests in flight finish. Endpoints so far: /healthz,\n"
    "/readyz (database reachable and migrated), /metrics (Prometheus).\n"
    "\n"
    "Stored secrets are sealed with the key ring of AGENTBASE_SECRET_KEY (or of the file\n"
    "AGENTBASE_SECRET_KEY_FILE); with DATABASE_URL one of them is required. On the embedded\n"
    "cluster the ring is $AGENTBASE_HOME/secret-keys, generated on first use.\n";

int ab_cli_serve(const struct ab_config *cfg, int argc, char **argv)
{
    struct ab_config local = *cfg;
    struct ab_secret_ring *ring = NULL;
    struct ab_error err;
    char conninfo[4096];
    int rc;

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
    rc = ab_cli_secret_ring(&local, &ring, &err);
    rc = rc ? rc : ab_cluster_service_conninfo(&local, conninfo, sizeof(conninfo), &err);
    rc = rc ? rc : ab_app_serve(&local, conninfo, ring, &err);
    ab_secret_ring_free(ring);
    return rc ? ab_cli_fail(&err) : AB_EXIT_OK;
}
