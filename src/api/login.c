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
 * The password is verified with no database connection held, and not on a request
 * worker: argon2id takes tens of milliseconds and 64 MiB by design, so it runs on the
 * bounded hashing pool (app->hasher: AGENTBASE_HASH_THREADS threads, AGENTBASE_HASH_QUEUE
 * waiting), and a sign-in that finds the queue full gets 503 with Retry-After. The request
 * is parked meanwhile (ab_api_hash_then) and its last step (finish) continues on a worker.
 *
 * Sign-ins are rate-limited before anything else, per client address and per account
 * (tenant slug and e-mail, whether or not they exist, so that the answer says nothing):
 * 429 with Retry-After. The account's limit holds however many addresses guess.
 */
#include "api/api.h"
#include "auth/auth.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
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
 * Every failure of a known user is in the tenant's audit trail (status failure), in the
 * same transaction.
 */
static const char failure_sql[] =
    "WITH f AS (UPDATE agentbase.users SET "
    "       failed_login_attempts = CASE WHEN locked_until IS NOT NULL THEN 1 "
    "                                    ELSE failed_login_attempts + 1 END, "
    "       locked_until = CASE WHEN locked_until IS NULL AND failed_login_attempts + 1 "
    ">= " LOCK_AFTER "                          THEN now() + interval '" LOCK_MINUTES
    " minutes' END "
    " WHERE id = $1::uuid AND coalesce(locked_until <= now(), true) RETURNING locked_until) "
    "SELECT agentbase.audit_failure('auth.login', 'user', $1::uuid::text, 'sign-in refused', "
    "         jsonb_build_object('locked', coalesce((SELECT locked_until IS NOT NULL FROM f), "
    "                                               true)))";

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

/* A sign-in between its lookup and its answer: owned by the request until finish() runs. */
struct login {
    struct ab_api_hashing h;
    struct ab_app *app;
    char tenant[40], user[40];
    bool may_sign_in, has_hash;
    char hash[AB_AUTH_HASH_MAX];
    char password[AB_PASSWORD_MAX_BYTES + 1];
};

static void login_free(struct login *l)
{
    sodium_memzero(l, sizeof(*l));
    free(l);
}

/* The last step, on a request worker: record the failure, or open the session. */
static void finish(struct ab_req *req, void *arg)
{
    struct login *l = arg;
    struct ab_app *app = l->app;
    char key[AB_KEY_LEN + 1], prefix[AB_KEY_PREFIX_LEN + 1], key_hash[65];
    const char *params[3];
    PGresult *res;

    sodium_memzero(l->password, sizeof(l->password));
    if (req->status >= 400) { /* the pool was busy */
        login_free(l);
        return;
    }
    if (!(l->h.job.ok && l->may_sign_in && l->has_hash)) {
        params[0] = l->user;
        if (!l->user[0] ||
            in_tenant(app, req, l->tenant, l->user, failure_sql, 1, params, &res) == 0) {
            if (l->user[0])
                PQclear(res);
            ab_http_error(req, 401, "unauthorized", "invalid tenant, email or password");
        }
        login_free(l);
        return;
    }
    ab_auth_key_new(key, prefix, key_hash);
    params[0] = l->user;
    params[1] = prefix;
    params[2] = key_hash;
    if (in_tenant(app, req, l->tenant, l->user, success_sql, 3, params, &res) == 0) {
        snprintf(req->tenant_id, sizeof(req->tenant_id), "%s", l->tenant);
        if (PQntuples(res) == 1 && ab_api_answer_with_key(req, PQgetvalue(res, 0, 0), key) == 0)
            req->status = 200;
        else
            ab_http_error(req, 503, "database_unavailable", "cannot sign in now");
        PQclear(res);
    }
    sodium_memzero(key, sizeof(key));
    login_free(l);
}

/*
 * 0 when this sign-in may go on; else 1 with the 429 set. The account is its tenant slug
 * and e-mail, lowercased (the lookup ignores case), as a digest: any length fits the table.
 */
static int rate_limited(struct ab_app *app, struct ab_req *req, const char *slug, const char *email)
{
    char ip[64], account[65];
    struct ab_buf who;
    int wait;

    ab_http_client_ip(req, ip, sizeof(ip));
    wait = ab_keystate_take(app->login_address, ip);
    if (wait > 0) {
        snprintf(req->retry_after, sizeof(req->retry_after), "%d", wait);
        return ab_http_error(req, 429, "rate_limited",
                             "too many sign-in attempts from this address; retry in %d s", wait) +
               1;
    }
    ab_buf_init(&who, 4096);
    if (ab_buf_printf(&who, "%s\n%s", slug, email) != 0) {
        ab_buf_free(&who);
        return ab_http_error(req, 400, "invalid_request", "tenant or email too long") + 1;
    }
    for (size_t i = 0; i < who.len; i++)
        who.data[i] = (char)tolower((unsigned char)who.data[i]);
    ab_sha256_hex(who.data, who.len, account);
    ab_buf_free(&who);
    wait = ab_keystate_take(app->login_account, account);
    if (wait > 0) {
        snprintf(req->retry_after, sizeof(req->retry_after), "%d", wait);
        return ab_http_error(req, 429, "rate_limited",
                             "too many sign-in attempts for this account; retry in %d s", wait) +
               1;
    }
    return 0;
}

int ab_api_login(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;
    const char *slug, *email, *password, *params[2], *idempotency_key;
    struct login *l = NULL;
    struct ab_error err;
    json_t *doc;
    PGconn *conn;
    PGresult *res;
    bool ok;

    /* A session is a secret shown once: a retry signs in again (see docs/api.md), so the
     * key is only checked. */
    if (ab_api_idempotency_key(req, &idempotency_key))
        return 0;
    if (!(doc = ab_api_parse_object(req, false)))
        return 0;
    if (ab_fields_check(req, doc, ab_op_login_fields, ab_op_login_nfields, AB_CHECK_CREATE,
                        "a sign-in")) {
        json_decref(doc);
        return 0;
    }
    slug = json_string_value(json_object_get(doc, "tenant"));
    email = json_string_value(json_object_get(doc, "email"));
    password = json_string_value(json_object_get(doc, "password"));
    if (rate_limited(app, req, slug, email))
        goto out;
    if (strlen(password) > AB_PASSWORD_MAX_BYTES) { /* no stored password is longer */
        ab_http_error(req, 401, "unauthorized", "invalid tenant, email or password");
        goto out;
    }
    if (!(l = calloc(1, sizeof(*l)))) {
        ab_http_error(req, 500, "internal", "out of memory");
        goto out;
    }
    if (ab_pg_pool_acquire(app->pool, DB_WAIT_MS, &conn, &err) != 0) {
        ab_http_error(req, 503, "database_unavailable", "%s", err.message);
        goto out;
    }
    params[0] = slug;
    params[1] = email;
    res = PQexecParams(conn, lookup_sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(l->tenant, sizeof(l->tenant), "%s", PQgetvalue(res, 0, 0));
        snprintf(l->user, sizeof(l->user), "%s", PQgetvalue(res, 0, 1));
        snprintf(l->hash, sizeof(l->hash), "%s", PQgetvalue(res, 0, 2));
        l->may_sign_in = PQgetvalue(res, 0, 3)[0] == 't';
    }
    ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    ab_pg_pool_release(app->pool, conn);
    if (!ok) {
        ab_http_error(req, 503, "database_unavailable", "cannot sign in now");
        goto out;
    }
    /* The same work whatever the outcome: one verification, against the dummy if need be. */
    l->has_hash = l->hash[0] != '\0';
    if (!l->has_hash)
        snprintf(l->hash, sizeof(l->hash), "%s", dummy_hash);
    snprintf(l->password, sizeof(l->password), "%s", password);
    l->app = app;
    l->h.job.hash = l->hash;
    l->h.job.password = l->password;
    ab_api_hash_then(app, req, &l->h, finish, l);
    l = NULL;
out:
    if (l)
        login_free(l);
    json_decref(doc);
    return 0;
}
