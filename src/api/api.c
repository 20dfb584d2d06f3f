#include "api/api.h"
#include "migrate/migrate.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define DB_WAIT_MS 2000
#define GRACE_MS   30000

/* ======================================================================================
 * Operational endpoints
 * ====================================================================================== */

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

static int get_metrics(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;
    struct ab_pg_pool_stats st;
    int rc;

    req->content_type = "text/plain; version=0.0.4";
    ab_pg_pool_stats(app->pool, &st);
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
                           "agentbase_db_pool_connects_total %lu\n",
                           st.size, st.open, st.busy, st.waiting, st.connects);
    return rc;
}

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
    const char *params[4];

    if (ab_api_begin(app, req, NULL, false, &who, &conn))
        return 0;
    params[0] = who.key_id;
    params[1] = who.user_id[0] ? who.user_id : NULL;
    params[2] = who.platform ? "t" : "f";
    params[3] = who.scopes;
    r = PQexecParams(conn,
                     "SELECT jsonb_build_object('key_id', $1::uuid, "
                     "  'tenant_id', agentbase.current_tenant_id(), 'user_id', $2::uuid, "
                     "  'platform_admin', $3::boolean, 'scopes', string_to_array($4, ','))::text",
                     4, NULL, params, NULL, NULL, 0);
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
    {"GET", "/v1/auth/whoami", get_whoami},
    {"GET", "/healthz", get_healthz},
    {"GET", "/readyz", get_readyz},
    {"GET", "/metrics", get_metrics},
};
const size_t ab_api_nroutes = AB_ARRAY_LEN(ab_api_routes);

/* ======================================================================================
 * Serving
 * ====================================================================================== */

int ab_api_serve(const struct ab_config *cfg, const char *conninfo, struct ab_error *err)
{
    struct ab_migration_set set;
    struct ab_http_opts o = {0};
    struct ab_app app = {.cfg = cfg};
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

    /* Every request runs as the service role, which RLS confines to one tenant. */
    if ((rc = ab_pg_pool_create(conninfo, "agentbase serve", "SET ROLE agentbase_app", cfg->workers,
                                NULL, 0, &app.pool, err)))
        return rc;
    snprintf(o.listen, sizeof(o.listen), "%s", cfg->listen);
    o.threads = cfg->workers;
    o.max_body = 1u << 20;
    o.max_header = 64u << 10;
    o.idle_timeout_s = 60;
    o.log_json = cfg->log_json;
    o.routes = ab_api_routes;
    o.nroutes = ab_api_nroutes;
    o.app = &app;
    if ((rc = ab_http_start(&o, &app.http, err))) {
        ab_pg_pool_destroy(app.pool);
        return rc;
    }
    printf("agentbase is serving on port %d (%s, %d workers)\n", ab_http_port(app.http),
           cfg->listen, cfg->workers);
    fflush(stdout);
    sigwait(&stop, &sig);
    fprintf(stderr, "agentbase: %s received, finishing requests in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    ab_http_stop(app.http, GRACE_MS);
    ab_pg_pool_destroy(app.pool);
    return 0;
}
