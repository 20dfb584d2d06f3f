/*
 * Authentication and the per-request transaction.
 *
 * A key is checked in three steps, cheapest first: its shape and checksum (no database),
 * then its hash through agentbase.auth_lookup_key() (one indexed lookup as the service
 * role), then expiry, revocation, tenant status and scope. Only then does the request's
 * transaction begin, with the request context set for RLS and the audit triggers.
 *
 * Scopes: `admin` grants everything a key of its kind may do except the explicit scopes
 * (billing:admin, secrets:read), which only a grant by name gives; `x:write` grants
 * `x:read`; `x:*` grants both. A platform key acts in a tenant only when the request names
 * it with the Agentbase-Tenant header.
 *
 * The platform admin is a platform key, or a session or key of an admin of the tenant
 * whose slug is `platform` (the seeds' super admin): both may act in any tenant with the
 * Agentbase-Tenant header, where the super admin is no user of that tenant.
 *
 * What a key may do is decided at every use, never at issue: the lookup returns the role
 * the key acts with now (its user's, or its issuer's for a key without a user) and the
 * scopes that role allows (agentbase.role_cap); a request needs the scope in both. The
 * role goes into the request context, where RLS confines a user or viewer to their rows.
 */
#include "api/api.h"
#include "auth/auth.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#define DB_WAIT_MS 2000

/*
 * Scopes that only an explicit grant gives. Reading a stored secret's value is not part of
 * administering a tenant, nor are billing changes: an admin key or session manages the
 * secrets (writes them, sees which are set) but reads none unless it was given
 * secrets:read itself, and changes platform-governed limits only with billing:admin.
 */
static const char *const explicit_scopes[] = {"billing:admin", AB_SCOPE_SECRETS_READ};

bool ab_api_scope_explicit(const char *scope)
{
    for (size_t i = 0; scope && i < AB_ARRAY_LEN(explicit_scopes); i++)
        if (strcmp(scope, explicit_scopes[i]) == 0)
            return true;
    return false;
}

bool ab_api_scope_allows(const char *scopes, const char *scope)
{
    const char *colon = scope ? strchr(scope, ':') : NULL;
    size_t reslen = colon ? (size_t)(colon - scope) : 0;
    bool is_explicit = ab_api_scope_explicit(scope);

    if (!scope)
        return true;
    for (const char *p = scopes; *p;) {
        size_t n = strcspn(p, ",");

        if (n == strlen(scope) && memcmp(p, scope, n) == 0)
            return true;
        if (is_explicit) {
            p += n + (p[n] == ',');
            continue;
        }
        if (n == 5 && memcmp(p, "admin", 5) == 0)
            return true;
        /* x:write or x:* also grant x:read; x:* grants x:write */
        if (colon && n == reslen + 2 && memcmp(p, scope, reslen + 1) == 0 && p[reslen + 1] == '*')
            return true;
        if (colon && strcmp(colon, ":read") == 0 && n == reslen + 6 &&
            memcmp(p, scope, reslen + 1) == 0 && memcmp(p + reslen + 1, "write", 5) == 0)
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

/* The key's own scopes; a platform key's `admin` includes billing (it governs billing). */
static bool key_allows(const struct ab_caller *who, const char *scope)
{
    if (who->platform && scope && strcmp(scope, "billing:admin") == 0 &&
        ab_api_scope_allows(who->scopes, "admin"))
        return true;
    return ab_api_scope_allows(who->scopes, scope);
}

bool ab_api_caller_allows(const struct ab_caller *who, const char *scope)
{
    return key_allows(who, scope) && ab_api_scope_allows(who->role_scopes, scope);
}

/* Looks the key up and judges it; 0 when it may act, else 1 with the error set. */
static int check_key(struct ab_pg_pool *pool, PGconn *conn, struct ab_req *req, const char *key,
                     struct ab_caller *who)
{
    char hash[65];
    const char *params[1] = {hash};
    PGresult *r;
    int rc = 1;

    ab_auth_key_hash(key, strlen(key), hash);
    r = ab_pg_pool_exec(
        pool, conn,
        "SELECT key_id, coalesce(tenant_id::text, ''), coalesce(user_id::text, ''), "
        "       array_to_string(scopes, ','), coalesce(expires_at <= now(), false), "
        "       revoked_at IS NOT NULL, is_platform, coalesce(tenant_status, ''), role, "
        "       array_to_string(role_scopes, ','), must_change_password "
        "  FROM agentbase.auth_lookup_key($1)",
        1, params);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        ab_http_error(req, 503, "database_unavailable", "cannot check the API key now");
    else if (PQntuples(r) == 0)
        ab_http_error(req, 401, "unauthorized", "invalid API key");
    else if (PQgetvalue(r, 0, 5)[0] == 't')
        ab_http_error(req, 401, "unauthorized", "this API key has been revoked");
    else if (PQgetvalue(r, 0, 4)[0] == 't')
        ab_http_error(req, 401, "unauthorized", "this API key has expired");
    else {
        snprintf(who->key_id, sizeof(who->key_id), "%s", PQgetvalue(r, 0, 0));
        snprintf(who->tenant_id, sizeof(who->tenant_id), "%s", PQgetvalue(r, 0, 1));
        snprintf(who->key_tenant, sizeof(who->key_tenant), "%s", PQgetvalue(r, 0, 1));
        snprintf(who->user_id, sizeof(who->user_id), "%s", PQgetvalue(r, 0, 2));
        snprintf(who->scopes, sizeof(who->scopes), "%s", PQgetvalue(r, 0, 3));
        who->platform = PQgetvalue(r, 0, 6)[0] == 't';
        who->suspended = strcmp(PQgetvalue(r, 0, 7), "suspended") == 0;
        snprintf(who->role, sizeof(who->role), "%s", PQgetvalue(r, 0, 8));
        snprintf(who->role_scopes, sizeof(who->role_scopes), "%s", PQgetvalue(r, 0, 9));
        who->must_change_password = PQgetvalue(r, 0, 10)[0] == 't';
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* Decides the tenant the request acts in; 0, or 1 with the error set. */
static int choose_tenant(struct ab_req *req, bool tenant_required, struct ab_caller *who)
{
    const char *named = ab_http_header(req, "Agentbase-Tenant");

    if (named && !who->platform)
        return ab_http_error(req, 400, "invalid_request",
                             "the Agentbase-Tenant header is for platform-admin keys only") +
               1;
    if (named) {
        if (!ab_api_is_uuid(named))
            return ab_http_error(req, 400, "invalid_request",
                                 "Agentbase-Tenant must be a tenant id (a UUID)") +
                   1;
        snprintf(who->tenant_id, sizeof(who->tenant_id), "%s", named);
        /* a super admin (a user of the platform tenant) is nobody in another tenant */
        if (strcmp(named, who->key_tenant) != 0)
            who->user_id[0] = '\0';
    }
    if (tenant_required && !who->tenant_id[0])
        return ab_http_error(req, 400, "invalid_request",
                             "this endpoint acts in one tenant: send Agentbase-Tenant: <id>") +
               1;
    return 0;
}

/*
 * Authenticates on conn (see ab_api_begin); 0, or 1 with the error answer set. A key of a
 * suspended tenant is refused unless suspended_ok.
 */
static int authenticate(struct ab_app *app, struct ab_req *req, const char *scope,
                        bool tenant_required, bool suspended_ok, struct ab_caller *who,
                        PGconn *conn)
{
    const char *auth = ab_http_header(req, "Authorization");
    const char *key = auth + 7;
    const char *params[3];
    PGresult *r;
    int wait;

    if (check_key(app->pool, conn, req, key, who) || choose_tenant(req, tenant_required, who))
        return 1;
    if (who->suspended && !suspended_ok)
        return ab_http_error(req, 403, "tenant_suspended", "this tenant is suspended") + 1;
    wait = ab_keystate_take(app->keys, who->key_id);
    if (wait > 0) {
        snprintf(req->retry_after, sizeof(req->retry_after), "%d", wait);
        return ab_http_error(req, 429, "rate_limited",
                             "too many requests for this API key; retry in %d s", wait) +
               1;
    }
    /* Until the password is changed, a session may do nothing else. */
    if (who->must_change_password && (!scope || strcmp(scope, AB_SCOPE_OWN_PASSWORD) != 0))
        return ab_http_error(req, 403, "password_change_required",
                             "the password must be changed first: POST /v1/auth/password") +
               1;
    if (!key_allows(who, scope))
        return ab_http_error(req, 403, "forbidden", "this API key lacks the scope %s", scope) + 1;
    if (!ab_api_scope_allows(who->role_scopes, scope))
        return ab_http_error(req, 403, "forbidden", "the role %s does not allow %s", who->role,
                             scope) +
               1;
    snprintf(req->key_id, sizeof(req->key_id), "%s", who->key_id);
    snprintf(req->tenant_id, sizeof(req->tenant_id), "%s", who->tenant_id);
    ab_http_client_ip(req, who->ip, sizeof(who->ip));
    /* last_used_at: one autocommitted write a minute per key, never one per request. */
    if (ab_keystate_touch_due(app->keys, who->key_id)) {
        params[0] = who->key_id;
        params[1] = who->key_tenant[0] ? who->key_tenant : NULL;
        params[2] = who->ip[0] ? who->ip : NULL;
        r = PQexecParams(conn, "SELECT agentbase.auth_touch_key($1::uuid, $2::uuid, $3::inet)", 3,
                         NULL, params, NULL, NULL, 0);
        PQclear(r); /* best effort: a failed touch must not fail the request */
    }
    return 0;
}

/* The checks that need no database: the header and the key's shape. */
static int check_header(struct ab_req *req)
{
    const char *auth = ab_http_header(req, "Authorization");

    if (!auth)
        return ab_http_error(req, 401, "unauthorized",
                             "missing API key: send Authorization: Bearer <key>") +
               1;
    if (strncmp(auth, "Bearer ", 7) != 0)
        return ab_http_error(req, 401, "unauthorized",
                             "malformed Authorization header: expected Bearer <key>") +
               1;
    if (!ab_auth_key_wellformed(auth + 7, strlen(auth + 7)))
        return ab_http_error(req, 401, "unauthorized", "malformed API key") + 1;
    return 0;
}

int ab_api_authenticate(struct ab_app *app, struct ab_req *req, const char *scope,
                        bool tenant_required, struct ab_caller *who)
{
    struct ab_error err;
    PGconn *conn;
    int rc;

    memset(who, 0, sizeof(*who));
    if (check_header(req))
        return 1;
    if (ab_pg_pool_acquire(app->pool, DB_WAIT_MS, &conn, &err) != 0)
        return ab_http_error(req, 503, "database_unavailable", "%s", err.message) + 1;
    rc = authenticate(app, req, scope, tenant_required, true, who, conn);
    ab_pg_pool_release(app->pool, conn);
    return rc;
}

/*
 * A write refused once its caller was known is recorded in the tenant's audit trail
 * (status failure; 0019's audit_refused). Its own transaction rolled back with whatever it
 * wrote, audit rows included, so this is a second short transaction on the same
 * connection, with the refused request's context (tenant, key, IP, user agent, request id).
 * Reads are not recorded, nor 429s (a flood must not flood the trail), nor 5xx (not the
 * caller's doing). Best effort: a failure to record changes nothing in the answer.
 */
static void record_refusal(struct ab_app *app, struct ab_req *req, PGconn *conn,
                           const char *tenant_id, const char *key_id)
{
    const char *params[5];
    json_t *doc, *error;
    char ip[64], status[8];
    PGresult *r;
    bool ok;

    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0 || !tenant_id[0] ||
        req->status < 400 || req->status >= 500 || req->status == 401 || req->status == 429)
        return;
    doc = json_loadb(req->out.data, req->out.len, 0, NULL);
    error = json_object_get(doc, "error");
    ab_http_client_ip(req, ip, sizeof(ip));
    snprintf(status, sizeof(status), "%d", req->status);
    r = PQexec(conn, "BEGIN");
    PQclear(r);
    params[0] = tenant_id;
    params[1] = key_id;
    params[2] = ip[0] ? ip : NULL;
    params[3] = ab_http_header(req, "User-Agent");
    params[4] = req->request_id;
    r = ab_pg_pool_exec(app->pool, conn,
                        "SELECT agentbase.set_request_context($1::uuid, 'api_key', $2, $3, $4, $5)",
                        5, params);
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    params[0] = req->method;
    params[1] = req->path;
    params[2] = status;
    params[3] = json_string_value(json_object_get(error, "code"));
    params[4] = json_string_value(json_object_get(error, "message"));
    if (ok) {
        r = ab_pg_pool_exec(app->pool, conn,
                            "SELECT agentbase.audit_refused($1, $2, $3::integer, $4, $5)", 5,
                            params);
        ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
    }
    r = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
    PQclear(r);
    json_decref(doc);
}

int ab_api_begin(struct ab_app *app, struct ab_req *req, const char *scope, bool tenant_required,
                 struct ab_caller *who, PGconn **conn)
{
    const char *params[9];
    struct ab_error err;
    PGresult *r;

    *conn = NULL;
    memset(who, 0, sizeof(*who));
    if (check_header(req))
        return 1;
    if (ab_pg_pool_acquire(app->pool, DB_WAIT_MS, conn, &err) != 0)
        return ab_http_error(req, 503, "database_unavailable", "%s", err.message) + 1;
    if (authenticate(app, req, scope, tenant_required, false, who, *conn))
        goto refuse;
    params[0] = who->tenant_id[0] ? who->tenant_id : NULL;
    params[1] = who->key_id;
    params[2] = who->ip[0] ? who->ip : NULL;
    params[3] = ab_http_header(req, "User-Agent");
    params[4] = req->request_id;
    params[5] = who->platform ? "t" : "f";
    params[6] = who->user_id[0] ? who->user_id : NULL;
    params[7] = who->role;
    params[8] = ab_api_caller_allows(who, "billing:admin") ? "t" : "f";
    r = PQexec(*conn, "BEGIN; SET LOCAL statement_timeout = '30s'");
    PQclear(r);
    r = ab_pg_pool_exec(app->pool, *conn,
                        "SELECT agentbase.set_request_context($1::uuid, 'api_key', $2, $3, $4, "
                        "$5, $6::boolean, $7::uuid, $8, $9::boolean)",
                        9, params);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        ab_http_error(req, 503, "database_unavailable", "cannot start the request's transaction");
        goto refuse;
    }
    PQclear(r);
    /* A retried POST is answered here, before its handler could write anything twice. */
    if (ab_api_idempotency_claim(app, req, *conn))
        goto refuse;
    return 0;
refuse:
    if (PQtransactionStatus(*conn) != PQTRANS_IDLE) {
        r = PQexec(*conn, "ROLLBACK");
        PQclear(r);
    }
    record_refusal(app, req, *conn, who->tenant_id, who->key_id);
    ab_pg_pool_release(app->pool, *conn);
    *conn = NULL;
    return 1;
}

void ab_api_end(struct ab_app *app, struct ab_req *req, PGconn *conn)
{
    PGresult *r;

    if (req->status < 400)
        (void)ab_api_idempotency_complete(app, req, conn); /* on failure: the error answer */
    r = PQexec(conn, req->status < 400 ? "COMMIT" : "ROLLBACK");

    if (req->status < 400 && PQresultStatus(r) != PGRES_COMMAND_OK)
        ab_http_error(req, 503, "database_unavailable", "the transaction could not commit");
    PQclear(r);
    record_refusal(app, req, conn, req->tenant_id, req->key_id);
    ab_pg_pool_release(app->pool, conn);
}
