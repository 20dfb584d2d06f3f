/*
 * Passwords over the API: set when an admin creates a user (POST /v1/users with
 * "password"), changed by the user (POST /v1/auth/password with the old one and the new
 * one), reset by an admin (POST /v1/users/{id}/password: the user must then choose their
 * own at the next sign-in).
 *
 * What this file must never do:
 * - hold a database connection while argon2id runs: hashing and verifying take tens of
 *   milliseconds and 64 MiB on purpose, and the pool's connections are for queries;
 * - make the server hash for a request that has not authenticated;
 * - let a password reach the database: only its hash does, through
 *   agentbase.user_set_password() (0012_passwords), which decides who may set whose
 *   password and ends the sessions a new password must end.
 * So a change or a reset runs in two short transactions with the argon2id work between
 * them: the first authenticates and reads what the rules and the verification need (the
 * account's e-mail, username and current hash), the second authenticates again, which also
 * refuses a session that was revoked meanwhile, and sets the hash.
 *
 * Every new password passes one validator, ab_auth_password_rule(); a refusal is a 400
 * weak_password that names the field and the rule.
 */
#include "api/api.h"
#include "auth/auth.h"

#include <string.h>

static const char account_sql[] =
    "SELECT id, email, coalesce(username, ''), coalesce(password_hash, '') "
    "  FROM agentbase.users WHERE id = $1::uuid AND deleted_at IS NULL";

static const char set_sql[] = "SELECT agentbase.user_set_password($1::uuid, $2, $3::boolean)::text";

/* What the rules and the verification need of an account. */
struct account {
    char id[40];
    char email[328];
    char username[72];
    char hash[AB_AUTH_HASH_MAX];
};

/* Reads the live user id (as RLS lets the request see it) into a; 0, or 1 with a 404. */
static int read_account(struct ab_app *app, struct ab_req *req, PGconn *conn, const char *id,
                        struct account *a)
{
    const char *params[1] = {id};
    PGresult *res = ab_pg_pool_exec(app->pool, conn, account_sql, 1, params);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = ab_api_db_error(req, "users", res) + 1;
    else if (PQntuples(res) == 0)
        rc = ab_http_error(req, 404, "not_found", "users/%s not found", id) + 1;
    else {
        snprintf(a->id, sizeof(a->id), "%s", PQgetvalue(res, 0, 0));
        snprintf(a->email, sizeof(a->email), "%s", PQgetvalue(res, 0, 1));
        snprintf(a->username, sizeof(a->username), "%s", PQgetvalue(res, 0, 2));
        snprintf(a->hash, sizeof(a->hash), "%s", PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return rc;
}

static int check_rules(struct ab_req *req, const char *field, const char *password,
                       const char *email, const char *username);

/*
 * The body checked against its fields (operations.c) by the one validator; NULL with the
 * 400 answer set otherwise. A new password that breaks a rule the account is not needed for
 * (its length) is answered by that rule first (weak_password, naming it). The caller owns
 * the result.
 */
static json_t *password_body(struct ab_req *req, const struct ab_field *fields, size_t n)
{
    json_t *doc = ab_api_parse_object(req, false);
    const char *pw = doc ? json_string_value(json_object_get(doc, "new_password")) : NULL;

    if (doc && ((pw && check_rules(req, "new_password", pw, NULL, NULL)) ||
                ab_fields_check(req, doc, fields, n, AB_CHECK_CREATE, "a password change"))) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Overwrites the plain passwords of doc and the request body before they are freed. */
static void forget(struct ab_req *req, json_t *doc)
{
    const char *field;
    json_t *v;

    json_object_foreach(doc, field, v)
    {
        if (json_is_string(v) && strstr(field, "password"))
            sodium_memzero((char *)json_string_value(v), json_string_length(v));
    }
    if (req->body.data)
        sodium_memzero(req->body.data, req->body.len);
}

/* 0 when password may be the account's new one, else 1 with the 400 naming field and rule. */
static int check_rules(struct ab_req *req, const char *field, const char *password,
                       const char *email, const char *username)
{
    const char *why = NULL, *rule = ab_auth_password_rule(password, email, username, &why);

    if (!rule)
        return 0;
    return ab_http_error(req, 400, "weak_password", "field '%s' %s (rule %s)", field, why, rule) +
           1;
}

/* Hashes password into hash; 0, or 1 with a 503. No connection may be held meanwhile. */
static int hash_password(struct ab_req *req, const char *password, char hash[AB_AUTH_HASH_MAX])
{
    struct ab_error err;

    if (ab_auth_password_hash(password, hash, &err) != 0)
        return ab_http_error(req, 503, "unavailable", "cannot hash the password now") + 1;
    return 0;
}

/* user_set_password on conn; answers with its result when answer, else only a failure. */
static void exec_set(struct ab_app *app, struct ab_req *req, PGconn *conn, const char *id,
                     const char *hash, bool must_change, bool answer)
{
    const char *params[3] = {id, hash, must_change ? "t" : "f"};
    PGresult *res = ab_pg_pool_exec(app->pool, conn, set_sql, 3, params);

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        ab_api_db_error(req, "users", res);
    else if (answer && ab_buf_puts(&req->out, PQgetvalue(res, 0, 0)) != 0)
        ab_http_error(req, 500, "internal", "response too large");
    else if (answer)
        req->status = 200;
    PQclear(res);
}

/* The second transaction of a change or reset: authenticate again, set, answer. */
static void set_password(struct ab_app *app, struct ab_req *req, const char *scope, const char *id,
                         const char *hash, bool must_change)
{
    struct ab_caller who;
    PGconn *conn;

    if (ab_api_begin(app, req, scope, true, &who, &conn))
        return;
    exec_set(app, req, conn, id, hash, must_change, true);
    ab_api_end(app, req, conn);
}

/*
 * The rest of a change or a reset once the first transaction is over (unless it failed):
 * the rules, the hash and the second transaction; then forgets the passwords, a and doc.
 */
static int finish(struct ab_app *app, struct ab_req *req, const char *scope, json_t *doc,
                  struct account *a, bool must_change)
{
    char hash[AB_AUTH_HASH_MAX] = "";
    const char *new_pw = json_string_value(json_object_get(doc, "new_password"));

    if (req->status < 400 && check_rules(req, "new_password", new_pw, a->email, a->username) == 0 &&
        hash_password(req, new_pw, hash) == 0)
        set_password(app, req, scope, a->id, hash, must_change);
    sodium_memzero(hash, sizeof(hash));
    sodium_memzero(a, sizeof(*a));
    if (doc)
        forget(req, doc);
    json_decref(doc);
    return 0;
}

/* ======================================================================================
 * POST /v1/users: the engine's create, and the password in the same transaction
 * ====================================================================================== */

static void set_after_create(struct ab_app *app, struct ab_req *req, PGconn *conn, void *hash)
{
    json_t *user = json_loadb(req->out.data, req->out.len, 0, NULL);
    const char *id = json_string_value(json_object_get(user, "id"));

    /* The flag as created (false unless the body asked for true): set again, not changed. */
    if (!id)
        ab_http_error(req, 500, "internal", "the new user has no id");
    else
        exec_set(app, req, conn, id, hash,
                 json_is_true(json_object_get(user, "must_change_password")), false);
    json_decref(user);
}

int ab_api_user_create(void *appv, struct ab_req *req)
{
    const struct ab_resource *r = ab_api_resource_named("users");
    char hash[AB_AUTH_HASH_MAX] = "";
    struct ab_caller who;
    json_t *doc, *password;

    /* Hash for no one who may not create users: authenticate before anything else. */
    if (ab_api_authenticate(appv, req, "users:write", true, &who))
        return 0;
    if (who.suspended)
        return ab_http_error(req, 403, "tenant_suspended", "this tenant is suspended");
    if (!(doc = ab_api_parse_object(req, false)))
        return 0;
    password = json_object_get(doc, "password");
    if (password && !json_is_string(password)) {
        ab_http_error(req, 400, "invalid_field", "field 'password' must be a string");
        goto out;
    }
    if (password && (check_rules(req, "password", json_string_value(password),
                                 json_string_value(json_object_get(doc, "email")),
                                 json_string_value(json_object_get(doc, "username"))) ||
                     hash_password(req, json_string_value(password), hash)))
        goto out;
    if (password) {
        forget(req, doc);
        json_object_del(doc, "password");
    }
    ab_api_resource_create(appv, req, r, doc, password ? set_after_create : NULL, hash);
out:
    sodium_memzero(hash, sizeof(hash));
    forget(req, doc);
    json_decref(doc);
    return 0;
}

/* ======================================================================================
 * POST /v1/auth/password {"old_password", "new_password"}: the user changes their own
 * ====================================================================================== */

int ab_api_password_change(void *appv, struct ab_req *req)
{
    const char *old_pw, *new_pw;
    struct account a = {0};
    struct ab_caller who;
    json_t *doc = NULL;
    PGconn *conn;

    if (ab_api_begin(appv, req, AB_SCOPE_OWN_PASSWORD, true, &who, &conn))
        return 0;
    if (!who.user_id[0])
        ab_http_error(req, 403, "forbidden",
                      "this key acts for no user: a password is changed with its user's own "
                      "session or key");
    else if ((doc =
                  password_body(req, ab_op_password_change_fields, ab_op_password_change_nfields)))
        read_account(appv, req, conn, who.user_id, &a);
    ab_api_end(appv, req, conn);
    if (req->status >= 400)
        return finish(appv, req, NULL, doc, &a, false);

    /* No connection from here until the new hash is ready. */
    old_pw = json_string_value(json_object_get(doc, "old_password"));
    new_pw = json_string_value(json_object_get(doc, "new_password"));
    if (!a.hash[0] || !ab_auth_password_verify(a.hash, old_pw))
        ab_http_error(req, 403, "wrong_password",
                      "field 'old_password' is not the current password");
    else if (strcmp(old_pw, new_pw) == 0)
        ab_http_error(req, 400, "weak_password",
                      "field 'new_password' is the current password (rule unchanged)");
    return finish(appv, req, AB_SCOPE_OWN_PASSWORD, doc, &a, false);
}

/* ======================================================================================
 * POST /v1/users/{id}/password {"new_password"}: an admin resets a user's password
 * ====================================================================================== */

int ab_api_password_reset(void *appv, struct ab_req *req)
{
    const char *id = req->params[0];
    struct account a = {0};
    struct ab_caller who;
    json_t *doc = NULL;
    PGconn *conn;

    if (ab_api_begin(appv, req, "users:write", true, &who, &conn))
        return 0;
    if (!ab_api_is_uuid(id))
        ab_http_error(req, 404, "not_found", "users/%s not found", id);
    else if (strcmp(who.role, "admin") != 0 && strcmp(who.role, "platform") != 0)
        ab_http_error(req, 403, "forbidden",
                      "only an admin resets a password; change your own with POST "
                      "/v1/auth/password");
    else if (strcasecmp(who.user_id, id) == 0)
        ab_http_error(req, 400, "invalid_request",
                      "your own password is changed with POST /v1/auth/password, which needs "
                      "the old one");
    else if ((doc = password_body(req, ab_op_password_reset_fields, ab_op_password_reset_nfields)))
        read_account(appv, req, conn, id, &a);
    ab_api_end(appv, req, conn);
    /* No connection from here until the new hash is ready. */
    return finish(appv, req, "users:write", doc, &a, true);
}
