#include "api/api.h"
#include "auth/auth.h"
#include "migrate/migrate.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
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
 * Operational endpoints
 * ====================================================================================== */

/* Answered on the server's own threads: never waits for the database or a worker. */
static int get_healthz(void *app, struct ab_req *req)
{
    (void)app;
    return ab_buf_puts(&req->out, "{\"status\":\"ok\"}");
}

/* Ready when PostgreSQL answers and holds the schema version this binary expects. */
static int get_readyz(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;
    struct ab_error err;
    PGconn *conn;
    int version = 0, rc;

    if (ab_pg_pool_acquire(app->pool, DB_WAIT_MS, &conn, &err) != 0)
        return ab_http_error(req, 503, "database_unavailable", "%s", err.message);
    rc = ab_migrate_current(conn, &version, &err);
    ab_pg_pool_release(app->pool, conn);
    if (rc)
        return ab_http_error(req, 503, "database_unavailable", "%s", err.message);
    if (version != app->schema_head)
        return ab_http_error(req, 503, "not_migrated",
                             "the database is at schema version %d, this agentbase needs %d",
                             version, app->schema_head);
    return ab_buf_printf(&req->out, "{\"status\":\"ready\",\"schema_version\":%d}", version);
}

/*
 * /metrics shows every tenant's request counts, so it is not for every key holder: the
 * operator serves it on an address of its own (AGENTBASE_METRICS_LISTEN: metrics_open) or
 * on the main address with a token (AGENTBASE_METRICS_TOKEN: get_metrics). Both are
 * answered on the server's own threads, from counters in memory.
 */
static int metrics_open(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;
    struct ab_pg_pool_stats st;
    struct ab_usage_stats us;
    int rc;

    req->content_type = "text/plain; version=0.0.4";
    ab_pg_pool_stats(app->pool, &st);
    ab_usage_stats(app->usage, &us);
    rc = ab_http_metrics(app->http, &req->out);
    if (!rc)
        rc = ab_buf_printf(&req->out,
                           "# HELP agentbase_db_pool_connections Database connections by state.\n"
                           "# TYPE agentbase_db_pool_connections gauge\n"
                           "agentbase_db_pool_connections{state=\"size\"} %d\n"
                           "agentbase_db_pool_connections{state=\"open\"} %d\n"
                           "agentbase_db_pool_connections{state=\"busy\"} %d\n"
                           "agentbase_db_pool_connections{state=\"waiting\"} %d\n"
                           "# HELP agentbase_db_pool_connects_total Connections opened.\n"
                           "# TYPE agentbase_db_pool_connects_total counter\n"
                           "agentbase_db_pool_connects_total %lu\n"
                           "# HELP agentbase_usage_batches_total Accounting batches committed.\n"
                           "# TYPE agentbase_usage_batches_total counter\n"
                           "agentbase_usage_batches_total %lu\n"
                           "# HELP agentbase_usage_ops_total Accounting operations applied.\n"
                           "# TYPE agentbase_usage_ops_total counter\n"
                           "agentbase_usage_ops_total %lu\n"
                           "# HELP agentbase_usage_fallbacks_total Batches applied again one "
                           "operation at a time.\n"
                           "# TYPE agentbase_usage_fallbacks_total counter\n"
                           "agentbase_usage_fallbacks_total %lu\n"
                           "# HELP agentbase_usage_expired_total Reservations released on "
                           "expiry.\n"
                           "# TYPE agentbase_usage_expired_total counter\n"
                           "agentbase_usage_expired_total %lu\n",
                           st.size, st.open, st.busy, st.waiting, st.connects, us.batches, us.ops,
                           us.fallbacks, us.expired);
    return rc;
}

/* True when the request carries the metrics token (compared in constant time). */
static bool metrics_token_given(const struct ab_app *app, struct ab_req *req)
{
    const char *auth = ab_http_header(req, "Authorization");
    unsigned char want[crypto_hash_sha256_BYTES], got[crypto_hash_sha256_BYTES];

    if (!auth || strncmp(auth, "Bearer ", 7) != 0)
        return false;
    /* Equal-length digests: the comparison says nothing about the token's length either. */
    crypto_hash_sha256(want, (const unsigned char *)app->cfg->metrics_token,
                       strlen(app->cfg->metrics_token));
    crypto_hash_sha256(got, (const unsigned char *)auth + 7, strlen(auth + 7));
    return sodium_memcmp(want, got, sizeof(want)) == 0;
}

static int get_metrics(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;

    if (!app->cfg->metrics_token[0])
        return ab_http_error(req, 404, "not_found",
                             "/metrics is not served on this address: set "
                             "AGENTBASE_METRICS_TOKEN to serve it here with that token, or "
                             "AGENTBASE_METRICS_LISTEN to serve it on an address of its own");
    if (!metrics_token_given(app, req))
        return ab_http_error(req, 401, "unauthorized",
                             "/metrics needs Authorization: Bearer <AGENTBASE_METRICS_TOKEN>");
    return metrics_open(app, req);
}

/* What the server answers on its own threads. */
static const ab_http_handler inline_handlers[] = {get_healthz, get_metrics, metrics_open};

/* The metrics address's own routes. */
static const struct ab_http_route metrics_routes[] = {
    {"GET", "/metrics", metrics_open, NULL},
    {"GET", "/healthz", get_healthz, NULL},
};

/* ======================================================================================
 * Identity
 * ====================================================================================== */

/* Who the caller is: key, tenant acted in, user, scopes. PostgreSQL builds the JSON. */
static int get_whoami(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;
    struct ab_caller who;
    PGconn *conn;
    PGresult *r;
    const char *params[6];

    if (ab_api_begin(app, req, NULL, false, &who, &conn))
        return 0;
    params[0] = who.key_id;
    params[1] = who.user_id[0] ? who.user_id : NULL;
    params[2] = who.platform ? "t" : "f";
    params[3] = who.scopes;
    params[4] = who.role;
    params[5] = who.role_scopes;
    /* The key's scopes, and the role it acts with now, whose scopes cap them. */
    r = PQexecParams(conn,
                     "SELECT jsonb_build_object('key_id', $1::uuid, "
                     "  'tenant_id', agentbase.current_tenant_id(), 'user_id', $2::uuid, "
                     "  'platform_admin', $3::boolean, 'scopes', string_to_array($4, ','), "
                     "  'role', $5::text, 'role_scopes', string_to_array($6, ','))::text",
                     6, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        if (ab_buf_puts(&req->out, PQgetvalue(r, 0, 0)) != 0)
            ab_http_error(req, 500, "internal", "response too large");
    } else {
        ab_http_error(req, 503, "database_unavailable", "cannot answer now");
    }
    PQclear(r);
    ab_api_end(app, req, conn);
    return 0;
}

const struct ab_http_route ab_api_routes[] = {
    {"GET", "/v1/auth/whoami", get_whoami, NULL},
    {"POST", "/v1/auth/login", ab_api_login, NULL},
    {"POST", "/v1/auth/password", ab_api_password_change, NULL},
    {"POST", "/v1/users", ab_api_user_create, NULL},
    {"POST", "/v1/users/{id}/password", ab_api_password_reset, NULL},
    {"POST", "/v1/api-keys", ab_api_key_create, NULL},
    {"DELETE", "/v1/api-keys/{id}", ab_api_key_revoke, NULL},
    {"GET", "/healthz", get_healthz, NULL},
    {"GET", "/readyz", get_readyz, NULL},
    {"GET", "/metrics", get_metrics, NULL},
    {"GET", "/openapi.json", ab_api_openapi, NULL},
};
const size_t ab_api_nroutes = AB_ARRAY_LEN(ab_api_routes);

/* ======================================================================================
 * Serving
 * ====================================================================================== */

/* The fixed routes, then the resource engine's. */
static int build_routes(struct ab_http_route **out, size_t *n, struct ab_error *err)
{
    size_t cap = ab_api_nroutes + ab_usage_nroutes + 6 * ab_nresources;
    struct ab_http_route *r = calloc(cap, sizeof(*r));

    *n = 0;
    if (!r)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    memcpy(r, ab_api_routes, ab_api_nroutes * sizeof(*r));
    memcpy(r + ab_api_nroutes, ab_usage_routes, ab_usage_nroutes * sizeof(*r));
    *n = ab_api_nroutes + ab_usage_nroutes;
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

int ab_api_serve(const struct ab_config *cfg, const char *conninfo, struct ab_secret_ring *secrets,
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
    /* Every request runs as the service role, which RLS confines to one tenant. */
    if ((rc = ab_pg_pool_create(conninfo, "agentbase serve", "SET ROLE agentbase_app", cfg->workers,
                                NULL, 0, &app.pool, err)) ||
        (rc = check_resources(&app, err)) || (rc = build_routes(&routes, &o.nroutes, err)) ||
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
    o.inline_handlers = inline_handlers;
    o.ninline = AB_ARRAY_LEN(inline_handlers);
    app.nroutes = o.nroutes;
    if ((rc = ab_http_start(&o, &app.http, err)))
        goto out;
    if (cfg->metrics_listen[0]) {
        snprintf(o.listen, sizeof(o.listen), "%s", cfg->metrics_listen);
        o.threads = 1;
        o.routes = metrics_routes;
        o.nroutes = AB_ARRAY_LEN(metrics_routes);
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
