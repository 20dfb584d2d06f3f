#include "api/api.h"
#include "auth/auth.h"
#include "backup/backup.h"
#include "migrate/migrate.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define DB_WAIT_MS 2000

/* ======================================================================================
 * Operational endpoints
 * ====================================================================================== */

/* Answered on the server's own threads: never waits for the database or a worker. */
static int get_healthz(void *app, struct ab_req *req)
{
    (void)app;
    return ab_buf_puts(&req->out, "{\"status\":\"ok\"}");
}

/*
 * The backups of the embedded cluster, as the monitor last saw them (backup.h): reported
 * beside readiness, never a reason to be unready. A failing archive endangers recovery,
 * not this request: taking every instance out of the load balancer for it would turn a
 * risk into an outage. /metrics carries the same for alerts.
 */
static int readyz_backup(struct ab_app *app, struct ab_req *req)
{
    struct ab_backup_status st;
    int rc;

    ab_backup_monitor_status(app->backup, &st);
    if (!st.managed)
        return 0;
    rc = ab_buf_printf(&req->out, ",\"backup\":{\"archiving\":\"%s\"",
                       !st.checked || !st.archiving_ok ? "unknown"
                       : st.failing                    ? "failing"
                                                       : "ok");
    if (!rc && st.failing && st.archiving_ok)
        rc = ab_buf_printf(&req->out, ",\"failed_wal\":\"%s\"", st.last_failed_wal);
    if (!rc && st.newest)
        rc = ab_buf_printf(&req->out, ",\"newest_backup\":\"%s\",\"newest_backup_age_seconds\":%ld",
                           st.newest_label, (long)(time(NULL) - st.newest));
    else if (!rc)
        rc = ab_buf_puts(&req->out, ",\"newest_backup\":null,\"newest_backup_age_seconds\":null");
    if (!rc)
        rc = ab_buf_printf(&req->out, ",\"repository\":\"%s\"}",
                           !st.checked  ? "unknown"
                           : st.info_ok ? "ok"
                                        : "unreadable");
    return rc;
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
    if ((rc = ab_buf_printf(&req->out, "{\"status\":\"ready\",\"schema_version\":%d", version)) ||
        (rc = readyz_backup(app, req)))
        return rc;
    return ab_buf_puts(&req->out, "}");
}

/* The embedded cluster's backups and WAL archiving; absent elsewhere, and until first seen. */
static int metrics_backup(struct ab_app *app, struct ab_buf *out)
{
    struct ab_backup_status st;
    int rc;

    ab_backup_monitor_status(app->backup, &st);
    if (!st.managed || !st.checked)
        return 0;
    rc = ab_buf_printf(out,
                       "# HELP agentbase_backup_newest_age_seconds Seconds since the newest backup "
                       "finished (-1: none yet).\n"
                       "# TYPE agentbase_backup_newest_age_seconds gauge\n"
                       "agentbase_backup_newest_age_seconds %ld\n"
                       "# HELP agentbase_backup_repository_ok Whether the last look at the backup "
                       "repository succeeded.\n"
                       "# TYPE agentbase_backup_repository_ok gauge\n"
                       "agentbase_backup_repository_ok %d\n",
                       st.newest ? (long)(time(NULL) - st.newest) : -1L, st.info_ok ? 1 : 0);
    if (!rc && st.archiving_ok)
        rc = ab_buf_printf(out,
                           "# HELP agentbase_wal_archive_failing Whether WAL archiving fails: the "
                           "last attempt failed after the last success.\n"
                           "# TYPE agentbase_wal_archive_failing gauge\n"
                           "agentbase_wal_archive_failing %d\n"
                           "# HELP agentbase_wal_archived_total WAL files archived.\n"
                           "# TYPE agentbase_wal_archived_total counter\n"
                           "agentbase_wal_archived_total %lld\n"
                           "# HELP agentbase_wal_archive_failed_total Failed WAL archive "
                           "attempts.\n"
                           "# TYPE agentbase_wal_archive_failed_total counter\n"
                           "agentbase_wal_archive_failed_total %lld\n",
                           st.failing ? 1 : 0, st.archived, st.failed);
    return rc;
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
    return rc ? rc : metrics_backup(app, &req->out);
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

const ab_http_handler ab_api_inline_handlers[] = {get_healthz, get_metrics, metrics_open};
const size_t ab_api_ninline = AB_ARRAY_LEN(ab_api_inline_handlers);

const struct ab_http_route ab_api_metrics_routes[] = {
    {"GET", "/metrics", metrics_open, NULL},
    {"GET", "/healthz", get_healthz, NULL},
};
const size_t ab_api_nmetrics_routes = AB_ARRAY_LEN(ab_api_metrics_routes);

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
