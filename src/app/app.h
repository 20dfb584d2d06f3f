/*
 * app: the service as a whole. It builds what `agentbase serve` runs, in dependency order:
 * the key and sign-in limiters, the password hashing pool, the connection pool (as the
 * service role), the catalog check of the resource descriptors, the route table, the
 * accounting batchers and the HTTP servers (the API, and /metrics on its own address when
 * configured); then it waits for SIGTERM or SIGINT and stops them in order: no new
 * connections, the requests in flight get their grace, the batchers drain (503 to what
 * still waits), the hashing pool stops, HTTP stops, then the batchers and the pool.
 *
 * Dependencies: cli -> app -> api -> (http, pg, auth, usage, secret) -> core.
 */
#ifndef AB_APP_H
#define AB_APP_H

#include "core/core.h"
#include "secret/secret.h"

/*
 * Serves until SIGTERM or SIGINT, then shuts down in order and returns. Prints the address
 * it listens on once it is ready. secrets (the caller's) seals and opens stored secrets.
 */
int ab_app_serve(const struct ab_config *cfg, const char *conninfo, struct ab_secret_ring *secrets,
                 struct ab_error *err) AB_MUSTCHECK;

#endif
