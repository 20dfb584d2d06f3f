/*
 * Passwords over the API: set when an admin creates a user (POST /v1/users with
 * "password"), changed by the user (POST /v1/auth/password with the old one and the new
 * one), reset by an admin (POST /v1/users/{id}/password: the user must then choose their
 * own at the next sign-in).
 *
 * What this file must never do:
 * - hold a database connection while argon2id runs, or run it on a request worker:
 *   hashing and verifying take tens of milliseconds and 64 MiB on purpose, so they run on
 *   the bounded hashing pool (ab_api_hash_then, here, which sign-ins use too) while the
 *   request is parked, and the pool's connections are for queries;
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

#include <stdlib.h>
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

/* ======================================================================================
 * Argon2id off the request workers
 * ====================================================================================== */

/* On a hashing thread: the job is done; the rest runs on a request worker. */
static void hashed(struct ab_auth_job *job)
{
    struct ab_api_hashing *h = job->arg;

    ab_http_continue(h->req, h->next, h->arg);
}

/* Once the request is parked: hand the job to the pool, or say it is busy. */
static void submit(struct ab_req *req, void *arg)
{
    struct ab_api_hashing *h = arg;

    if (ab_auth_hasher_submit(h->app->hasher, &h->job) == 0)
        return;
    snprintf(req->retry_after, sizeof(req->retry_after), "1");
    ab_http_error(req, 503, "busy",
                  "too many passwords are being checked at once; retry in a "
                  "second");
    ab_http_continue(req, h->next, h->arg);
}

void ab_api_hash_then(struct ab_app *app, struct ab_req *req, struct ab_api_hashing *h,
                      void (*next)(struct ab_req *req, void *arg), void *arg)
{
    h->app = app;
    h->req = req;
    h->next = next;
    h->arg = arg;
    h->job.done = hashed;
    h->job.arg = h;
    ab_http_defer(req, submit, h);
}

/*
 * A password request between its steps, owned by the request until its last step: the
 * body, the account (change, reset) and the argon2id job.
 */
struct pw_op {
    struct ab_api_hashing h;
    json_t *doc;
    struct account a;
    const char *scope; /* of the second transaction */
    bool must_change;  /* the flag the new password sets */
    bool same;         /* a change to the current password */
    const char *rule;  /* the rule the new password breaks, with why */
    const char *why;
};

static struct pw_op *op_new(struct ab_req *req)
{
    struct pw_op *op = calloc(1, sizeof(*op));

    if (!op)
        ab_http_error(req, 500, "internal", "out of memory");
    return op;
}

/* Forgets the passwords and the hashes, then frees op. */
static void op_free(struct ab_req *req, struct pw_op *op)
{
    if (!op)
        return;
    if (op->doc)
        forget(req, op->doc);
    json_decref(op->doc);
    sodium_memzero(op, sizeof(*op));
    free(op);
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

/*
 * The last step of a change or a reset, on a request worker once the pool is done: the
 * outcome of the verification and the rules, then the second transaction (authenticate
 * again, set, answer).
 */
static void finish(struct ab_req *req, void *arg)
{
    struct pw_op *op = arg;
    const struct ab_auth_job *job = &op->h.job;
    struct ab_caller who;
    PGconn *conn;

    if (req->status >= 400)
        ;
    else if (!job->ok)
        ab_http_error(req, 403, "wrong_password",
                      "field 'old_password' is not the current password");
    else if (op->same)
        ab_http_error(req, 400, "weak_password",
                      "field 'new_password' is the current password (rule unchanged)");
    else if (op->rule)
        ab_http_error(req, 400, "weak_password", "field 'new_password' %s (rule %s)", op->why,
                      op->rule);
    else if (!job->hashed)
        ab_http_error(req, 503, "unavailable", "cannot hash the password now");
    else if (ab_api_begin(op->h.app, req, op->scope, true, &who, &conn) == 0) {
        exec_set(op->h.app, req, conn, op->a.id, job->new_hash, op->must_change, true);
        ab_api_end(op->h.app, req, conn);
    }
    op_free(req, op);
}

/*
 * After the first transaction of a change or a reset (read the account into op->a, the
 * body into op->doc): checks what needs no hashing, then the pool verifies the old
 * password (a change) and hashes the new one if it may be set; finish() answers.
 */
static int hash_new_password(struct ab_app *app, struct ab_req *req, struct pw_op *op,
                             const char *old_pw)
{
    const char *new_pw = json_string_value(json_object_get(op->doc, "new_password"));

    if (old_pw && !op->a.hash[0]) { /* no password to verify: none matches */
        ab_http_error(req, 403, "wrong_password",
                      "field 'old_password' is not the current password");
        op_free(req, op);
        return 0;
    }
    op->h.job.hash = old_pw ? op->a.hash : NULL;
    op->h.job.password = old_pw;
    op->same = old_pw && strcmp(old_pw, new_pw) == 0;
    op->rule = ab_auth_password_rule(new_pw, op->a.email, op->a.username, &op->why);
    op->h.job.new_password = op->same || op->rule ? NULL : new_pw;
    ab_api_hash_then(app, req, &op->h, finish, op);
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

/* The create once the pool has hashed the password: the engine's create, which sets it. */
static void create_hashed(struct ab_req *req, void *arg)
{
    const struct ab_resource *r = ab_api_resource_named("users");
    struct pw_op *op = arg;

    if (req->status < 400 && !op->h.job.hashed)
        ab_http_error(req, 503, "unavailable", "cannot hash the password now");
    else if (req->status < 400) {
        forget(req, op->doc);
        json_object_del(op->doc, "password");
        ab_api_resource_create(op->h.app, req, r, op->doc, set_after_create, op->h.job.new_hash);
    }
    op_free(req, op);
}

int ab_api_user_create(void *appv, struct ab_req *req)
{
    const struct ab_resource *r = ab_api_resource_named("users");
    struct ab_caller who;
    struct pw_op *op;
    json_t *doc, *password;

    /* Hash for no one who may not create users: authenticate before anything else. */
    if (ab_api_authenticate(appv, req, "users:write", true, &who))
        return 0;
    if (who.suspended)
        return ab_http_error(req, 403, "tenant_suspended", "this tenant is suspended");
    if (!(doc = ab_api_parse_object(req, false)))
        return 0;
    password = json_object_get(doc, "password");
    if (!password) {
        ab_api_resource_create(appv, req, r, doc, NULL, NULL);
        json_decref(doc);
        return 0;
    }
    if (!json_is_string(password))
        ab_http_error(req, 400, "invalid_field", "field 'password' must be a string");
    else if (check_rules(req, "password", json_string_value(password),
                         json_string_value(json_object_get(doc, "email")),
                         json_string_value(json_object_get(doc, "username"))) == 0 &&
             (op = op_new(req))) {
        op->doc = doc;
        op->h.job.new_password = json_string_value(password);
        ab_api_hash_then(appv, req, &op->h, create_hashed, op);
        return 0;
    }
    forget(req, doc);
    json_decref(doc);
    return 0;
}

/* ======================================================================================
 * POST /v1/auth/password {"old_password", "new_password"}: the user changes their own
 * ====================================================================================== */

int ab_api_password_change(void *appv, struct ab_req *req)
{
    struct pw_op *op = op_new(req);
    struct ab_caller who;
    PGconn *conn;

    if (!op || ab_api_begin(appv, req, AB_SCOPE_OWN_PASSWORD, true, &who, &conn)) {
        op_free(req, op);
        return 0;
    }
    if (!who.user_id[0])
        ab_http_error(req, 403, "forbidden",
                      "this key acts for no user: a password is changed with its user's own "
                      "session or key");
    else if ((op->doc =
                  password_body(req, ab_op_password_change_fields, ab_op_password_change_nfields)))
        read_account(appv, req, conn, who.user_id, &op->a);
    ab_api_end(appv, req, conn);
    if (req->status >= 400) {
        op_free(req, op);
        return 0;
    }
    /* No connection from here until the new hash is ready. */
    op->scope = AB_SCOPE_OWN_PASSWORD;
    return hash_new_password(appv, req, op,
                             json_string_value(json_object_get(op->doc, "old_password")));
}

/* ======================================================================================
 * POST /v1/users/{id}/password {"new_password"}: an admin resets a user's password
 * ====================================================================================== */

int ab_api_password_reset(void *appv, struct ab_req *req)
{
    const char *id = req->params[0];
    struct pw_op *op = op_new(req);
    struct ab_caller who;
    PGconn *conn;

    if (!op || ab_api_begin(appv, req, "users:write", true, &who, &conn)) {
        op_free(req, op);
        return 0;
    }
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
    else if ((op->doc =
                  password_body(req, ab_op_password_reset_fields, ab_op_password_reset_nfields)))
        read_account(appv, req, conn, id, &op->a);
    ab_api_end(appv, req, conn);
    if (req->status >= 400) {
        op_free(req, op);
        return 0;
    }
    /* No connection from here until the new hash is ready. */
    op->scope = "users:write";
    op->must_change = true;
    return hash_new_password(appv, req, op, NULL);
}
