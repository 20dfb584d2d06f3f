/*
 * The service's start-up and ordered shutdown (see app.h): everything `agentbase serve`
 * runs is created here, in dependency order, and stopped in the reverse order.
 */
#include "app/app.h"
#include "api/api.h"
#include "auth/auth.h"
#include "backup/backup.h"
#include "migrate/migrate.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define DB_WAIT_MS 2000
/* After the grace, the answers already made (503s of the drain included) get this long to
 * go out before the server closes what is left. */
#define SEND_MS 5000
/* Group commit: batchers (one tenant always goes to the same one) and the most operations
 * one transaction applies. */
#define USAGE_BATCHERS  2
#define USAGE_MAX_BATCH 256
/* API keys whose rate limit and last use are remembered at once (about 100 bytes each). */
#define KEYS_CAPACITY 65536
/* Accounts and addresses whose sign-in attempts are counted at once. */
#define LOGIN_CAPACITY 16384

/* ======================================================================================
 * Serving
 * ====================================================================================== */

/* The fixed routes, then the resource engine's. */
static int build_routes(struct ab_http_route **out, size_t *n, struct ab_error *err)
{
    static const struct {
        const struct ab_http_route *routes;
        const size_t *n;
    } fixed[] = {
        {ab_api_routes, &ab_api_nroutes},
        {ab_usage_routes, &ab_usage_nroutes},
        {ab_lease_routes, &ab_lease_nroutes},
        {ab_retrieval_routes, &ab_retrieval_nroutes},
    };
    size_t cap = 6 * ab_nresources;
    struct ab_http_route *r;

    *n = 0;
    for (size_t i = 0; i < AB_ARRAY_LEN(fixed); i++)
        cap += *fixed[i].n;
    if (!(r = calloc(cap, sizeof(*r))))
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    for (size_t i = 0; i < AB_ARRAY_LEN(fixed); i++) {
        memcpy(r + *n, fixed[i].routes, *fixed[i].n * sizeof(*r));
        *n += *fixed[i].n;
    }
    if (ab_api_resource_routes(r, cap, n) != 0) {
        free(r);
        return ab_error_set(err, AB_ETOOBIG, "too many routes");
    }
    *out = r;
    return 0;
}

/*
 * Descriptors that name columns the database lacks stop the server now rather than fail
 * requests later. A database that is down at start-up is not fatal: /readyz says so.
 */
static int check_resources(struct ab_app *app, struct ab_error *err)
{
    PGconn *conn;
    int rc, version = 0;

    if (ab_pg_pool_acquire(app->pool, DB_WAIT_MS, &conn, err) != 0) {
        fprintf(stderr, "agentbase: warning: %s; serving anyway (503 until it is back)\n",
                err->message);
        return 0;
    }
    rc = ab_migrate_current(conn, &version, err);
    if (rc == 0 && version == app->schema_head)
        rc = ab_api_resources_check(app, conn, err);
    else if (rc == 0)
        fprintf(stderr,
                "agentbase: warning: the database is at schema version %d, not %d; "
                "serving anyway (/readyz says not ready)\n",
                version, app->schema_head);
    ab_pg_pool_release(app->pool, conn);
    return rc;
}

int ab_app_serve(const struct ab_config *cfg, const char *conninfo, struct ab_secret_ring *secrets,
                 struct ab_error *err)
{
    struct ab_migration_set set;
    struct ab_http_opts o = {0};
    struct ab_app app = {.cfg = cfg, .schemas_lock = PTHREAD_MUTEX_INITIALIZER, .secrets = secrets};
    struct ab_http_route *routes = NULL;
    struct ab_http_server *metrics = NULL;
    sigset_t stop;
    int rc, sig = 0;

    if ((rc = ab_migrate_load(&set, NULL, err)))
        return rc;
    app.schema_head = ab_migrate_head(&set);
    ab_migrate_set_free(&set);

    /* Every thread started from here on inherits the blocked signals; only sigwait sees them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Sign-ins: n a minute, in bursts of n. */
    if (ab_keystate_create(cfg->rate_limit, 2 * cfg->rate_limit, KEYS_CAPACITY, &app.keys) != 0 ||
        ab_keystate_create(cfg->login_rate_account / 60.0, cfg->login_rate_account, LOGIN_CAPACITY,
                           &app.login_account) != 0 ||
        ab_keystate_create(cfg->login_rate_address / 60.0, cfg->login_rate_address, LOGIN_CAPACITY,
                           &app.login_address) != 0) {
        rc = ab_error_set(err, AB_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = ab_auth_hasher_start(cfg->hash_threads, cfg->hash_queue, &app.hasher, err)))
        goto out;
    /*
     * Every request runs as the service role, which RLS confines to one tenant, and renders
     * its times in UTC whatever the server's TimeZone (the periods are UTC's anyway: 0022).
     */
    if ((rc = ab_pg_pool_create(conninfo, "agentbase serve",
                                "SET ROLE agentbase_app; SET TimeZone = 'UTC'", cfg->workers, NULL,
                                0, &app.pool, err)) ||
        (rc = check_resources(&app, err)) || (rc = build_routes(&routes, &o.nroutes, err)) ||
        (rc = ab_backup_monitor_start(cfg, conninfo, &app.backup, err)) ||
        (rc = ab_usage_start(conninfo, USAGE_BATCHERS, USAGE_MAX_BATCH, &app.usage, err)))
        goto out;
    snprintf(o.listen, sizeof(o.listen), "%s", cfg->listen);
    o.threads = cfg->workers;
    o.max_body = 1u << 20;
    o.max_header = 64u << 10;
    o.header_timeout_s = cfg->header_timeout_s;
    o.idle_timeout_s = cfg->idle_timeout_s;
    o.max_conns = cfg->max_conns;
    o.max_conns_per_ip = cfg->max_conns_per_ip;
    o.log_json = cfg->log_json;
    o.app = &app;
    o.routes = app.routes = routes;
    o.inline_handlers = ab_api_inline_handlers;
    o.ninline = ab_api_ninline;
    app.nroutes = o.nroutes;
    if ((rc = ab_http_start(&o, &app.http, err)))
        goto out;
    if (cfg->metrics_listen[0]) {
        snprintf(o.listen, sizeof(o.listen), "%s", cfg->metrics_listen);
        o.threads = 1;
        o.routes = ab_api_metrics_routes;
        o.nroutes = ab_api_nmetrics_routes;
        o.max_conns = 64;
        o.max_conns_per_ip = 0;
        if ((rc = ab_http_start(&o, &metrics, err)))
            goto out;
        printf("agentbase serves /metrics on port %d (%s)\n", ab_http_port(metrics),
               cfg->metrics_listen);
    }
    printf("agentbase is serving on port %d (%s, %d workers)\n", ab_http_port(app.http),
           cfg->listen, cfg->workers);
    fflush(stdout);
    sigwait(&stop, &sig);
    fprintf(stderr, "agentbase: %s received, finishing requests in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    /*
     * In order: no new connections; the requests in flight get the grace to finish; then
     * the batchers finish the batches they hold and answer 503 to what still waits for
     * them, so that every parked request has its answer; then the server (its workers
     * finish their handlers and answer 503 to what is queued) stops, then the batchers'
     * threads, then the pool. Nothing is resumed after it was freed.
     */
    ab_http_quiesce(app.http);
    ab_http_wait(app.http, cfg->shutdown_grace_s * 1000);
    ab_usage_drain(app.usage);
    ab_auth_hasher_stop(app.hasher); /* its last verifications continue on the workers */
    ab_http_stop(app.http, SEND_MS);
    app.http = NULL;
out:
    ab_http_stop(app.http, SEND_MS); /* only when start-up failed after it started */
    ab_http_stop(metrics, 0);
    ab_usage_stop(app.usage); /* after the server: requests in flight may still need it */
    ab_backup_monitor_stop(app.backup);
    ab_pg_pool_destroy(app.pool);
    ab_api_resources_free(&app);
    ab_auth_hasher_stop(app.hasher);
    ab_auth_hasher_free(app.hasher);
    ab_keystate_destroy(app.keys);
    ab_keystate_destroy(app.login_account);
    ab_keystate_destroy(app.login_address);
    free(routes);
    return rc;
}
