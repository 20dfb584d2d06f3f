/*
 * POST /v1/auth/login: a user of a tenant signs in with e-mail and password and gets a
 * short-lived session key (an api_keys row of kind 'session' with the scopes of the user's
 * role).
 *
 * What an attacker can learn is nothing: an unknown tenant, an unknown e-mail, a wrong
 * password, an inactive or locked account all get the same 401 and the same message, and
 * an unknown user costs the same argon2id verification (against a dummy hash) as a known
 * one. After LOCK_AFTER failures in a row the account is locked for LOCK_MINUTES; the
 * password is not even checked while it is locked.
 *
 * The password is verified with no database connection held: argon2id takes tens of
 * milliseconds and 64 MiB by design, and the pool's connections are for queries.
 */
#include "api/api.h"
#include "auth/auth.h"

#include <jansson.h>
#include <string.h>

#define LOCK_AFTER    "5"
#define LOCK_MINUTES  "15"
#define SESSION_HOURS "12"
#define DB_WAIT_MS    2000

/* Same parameters as real hashes (libsodium interactive), of a password nobody has. */
static const char dummy_hash[] = "$argon2id$v=19$m=65536,t=2,p=1$9HoRUukadKh/JiYV0JGUYA$Re30oEPb93"
                                 "cubv6NO8300xmJ3OTgewwZ9uFK/UrBJOo";

static const char lookup_sql[] = "SELECT tenant_id, user_id, coalesce(password_hash, ''), "
                                 "       status = 'active' AND tenant_status = 'active' "
                                 "         AND coalesce(locked_until <= now(), true) "
                                 "  FROM agentbase.auth_lookup_login($1, $2)";

/*
 * A failure while the account is locked changes nothing, so a lock lasts its fixed time
 * from the failure that set it, however many guesses follow; after it, counting restarts.
 */
static const char failure_sql[] =
    "UPDATE agentbase.users SET "
    "       failed_login_attempts = CASE WHEN locked_until IS NOT NULL THEN 1 "
    "                                    ELSE failed_login_attempts + 1 END, "
    "       locked_until = CASE WHEN locked_until IS NULL AND failed_login_attempts + 1 "
    ">= " LOCK_AFTER "                          THEN now() + interval '" LOCK_MINUTES
    " minutes' END "
    " WHERE id = $1::uuid AND coalesce(locked_until <= now(), true)";

/*
 * The session carries the scopes of the user's role; the key itself never reaches the
 * database (a slow statement is logged with its parameters): only its hash does, and the
 * answer gets the key spliced in by the caller.
 */
static const char success_sql[] =
    "WITH u AS (UPDATE agentbase.users SET failed_login_attempts = 0, locked_until = NULL, "
    "                  last_login_at = now() "
    "            WHERE id = $1::uuid RETURNING id, role, must_change_password), "
    "k AS (INSERT INTO agentbase.api_keys (tenant_id, user_id, name, kind, key_prefix, key_hash, "
    "                                      scopes, expires_at, created_by) "
    "      SELECT agentbase.current_tenant_id(), u.id, 'session', 'session', $2, $3, "
    "             agentbase.role_scopes(u.role), "
    "             now() + interval '" SESSION_HOURS " hours', 'login' FROM u "
    "      RETURNING expires_at, scopes) "
    "SELECT jsonb_build_object('tenant_id', agentbase.current_tenant_id(), "
    "         'user_id', u.id, 'role', u.role, 'expires_at', k.expires_at, 'scopes', k.scopes, "
    "         'must_change_password', u.must_change_password)::text FROM u, k";

/* Runs sql in a transaction acting as the user (or as the system, for failures). */
static int in_tenant(struct ab_app *app, struct ab_req *req, const char *tenant, const char *user,
                     const char *sql, int n, const char *const *params, PGresult **res)
{
    const char *ctx[3] = {tenant, user, req->request_id};
    struct ab_error err;
    PGconn *conn;
    PGresult *r;

    *res = NULL;
    if (ab_pg_pool_acquire(app->pool, DB_WAIT_MS, &conn, &err) != 0)
        return ab_http_error(req, 503, "database_unavailable", "%s", err.message) + 1;
    r = PQexec(conn, "BEGIN");
    PQclear(r);
    r = PQexecParams(conn,
                     "SELECT agentbase.set_request_context($1::uuid, 'user', $2, NULL, NULL, $3)",
                     3, NULL, ctx, NULL, NULL, 0);
    PQclear(r);
    *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    r = PQexec(conn,
               PQresultStatus(*res) == PGRES_TUPLES_OK || PQresultStatus(*res) == PGRES_COMMAND_OK
                   ? "COMMIT"
                   : "ROLLBACK");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        PQclear(*res);
        *res = NULL;
    }
    PQclear(r);
    ab_pg_pool_release(app->pool, conn);
    if (!*res ||
        (PQresultStatus(*res) != PGRES_TUPLES_OK && PQresultStatus(*res) != PGRES_COMMAND_OK)) {
        PQclear(*res);
        *res = NULL;
        return ab_http_error(req, 503, "database_unavailable", "cannot sign in now") + 1;
    }
    return 0;
}

int ab_api_login(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;
    char tenant[40] = "", user[40] = "", hash[AB_AUTH_HASH_MAX] = "";
    char key[AB_KEY_LEN + 1], prefix[AB_KEY_PREFIX_LEN + 1], key_hash[65];
    const char *slug, *email, *password, *params[4];
    bool may_sign_in = false, ok;
    struct ab_error err;
    json_error_t jerr;
    json_t *doc;
    PGconn *conn;
    PGresult *res;

    doc = json_loadb(req->body.data ? req->body.data : "", req->body.len, JSON_REJECT_DUPLICATES,
                     &jerr);
    slug = json_string_value(json_object_get(doc, "tenant"));
    email = json_string_value(json_object_get(doc, "email"));
    password = json_string_value(json_object_get(doc, "password"));
    if (!slug || !email || !password || json_object_size(doc) != 3) {
        json_decref(doc);
        return ab_http_error(req, 400, "invalid_request",
                             "send {\"tenant\": slug, \"email\": ..., \"password\": ...}");
    }
    if (ab_pg_pool_acquire(app->pool, DB_WAIT_MS, &conn, &err) != 0) {
        json_decref(doc);
        return ab_http_error(req, 503, "database_unavailable", "%s", err.message);
    }
    params[0] = slug;
    params[1] = email;
    res = PQexecParams(conn, lookup_sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(tenant, sizeof(tenant), "%s", PQgetvalue(res, 0, 0));
        snprintf(user, sizeof(user), "%s", PQgetvalue(res, 0, 1));
        snprintf(hash, sizeof(hash), "%s", PQgetvalue(res, 0, 2));
        may_sign_in = PQgetvalue(res, 0, 3)[0] == 't';
    }
    ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    ab_pg_pool_release(app->pool, conn);
    if (!ok) {
        json_decref(doc);
        return ab_http_error(req, 503, "database_unavailable", "cannot sign in now");
    }

    /* The same work whatever the outcome: one verification, against the dummy if need be. */
    ok = ab_auth_password_verify(hash[0] ? hash : dummy_hash, password) && may_sign_in && hash[0];
    json_decref(doc);
    if (!ok) {
        if (user[0]) {
            params[0] = user;
            if (in_tenant(app, req, tenant, user, failure_sql, 1, params, &res))
                return 0;
            PQclear(res);
        }
        return ab_http_error(req, 401, "unauthorized", "invalid tenant, email or password");
    }
    ab_auth_key_new(key, prefix, key_hash);
    params[0] = user;
    params[1] = prefix;
    params[2] = key_hash;
    if (in_tenant(app, req, tenant, user, success_sql, 3, params, &res) == 0) {
        snprintf(req->tenant_id, sizeof(req->tenant_id), "%s", tenant);
        if (PQntuples(res) == 1 && ab_api_answer_with_key(req, PQgetvalue(res, 0, 0), key) == 0)
            req->status = 200;
        else
            ab_http_error(req, 503, "database_unavailable", "cannot sign in now");
        PQclear(res);
    }
    sodium_memzero(key, sizeof(key));
    return 0;
}
