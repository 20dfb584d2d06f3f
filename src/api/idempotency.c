/*
 * Idempotency-Key on every POST (see db/migrations/0015_idempotency.up.sql for the rules
 * the database keeps). The key is checked here, and only here; the request's method, path
 * and body are hashed, so that the same key with another request is told apart.
 *
 * ab_api_begin claims the key in the request's transaction before the handler runs; a
 * replay is answered from the stored first answer (Idempotent-Replayed: true) without the
 * handler. ab_api_end stores the answer of a claimed request right before its COMMIT.
 */
#include "api/api.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 255

int ab_api_idempotency_key(struct ab_req *req, const char **key)
{
    static const char allowed[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:";
    const char *k = ab_http_header(req, "Idempotency-Key");
    size_t n = k ? strlen(k) : 0;

    *key = k;
    if (k && (n == 0 || n > KEY_MAX || strspn(k, allowed) != n))
        return ab_http_error_at(
                   req, 400, "invalid_idempotency_key", "Idempotency-Key",
                   "Idempotency-Key must be 1 to %d letters, digits or -_.:", KEY_MAX) +
               1;
    return 0;
}

/* The request's fingerprint: BLAKE2b of method, path and body, in hex. */
static void request_hash(const struct ab_req *req, char out[65])
{
    crypto_generichash_state st;
    unsigned char h[32];

    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *)req->method, strlen(req->method) + 1);
    crypto_generichash_update(&st, (const unsigned char *)req->path, strlen(req->path) + 1);
    if (req->body.len)
        crypto_generichash_update(&st, (const unsigned char *)req->body.data, req->body.len);
    crypto_generichash_final(&st, h, sizeof(h));
    sodium_bin2hex(out, 65, h, sizeof(h));
}

int ab_api_idempotency_claim(struct ab_app *app, struct ab_req *req, PGconn *conn)
{
    const char *key, *params[2];
    char hash[65];
    PGresult *res;
    int status;

    if (strcmp(req->method, "POST") != 0)
        return 0;
    if (ab_api_idempotency_key(req, &key))
        return 1;
    if (!key)
        return 0;
    /* whose key it is, the database reads from the request context */
    request_hash(req, hash);
    params[0] = key;
    params[1] = hash;
    res = ab_pg_pool_exec(
        app->pool, conn, "SELECT status, body FROM agentbase.idempotency_claim($1, $2)", 2, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ab_api_db_error(req, "the Idempotency-Key", res);
        PQclear(res);
        return 1;
    }
    if (PQntuples(res) == 0) {
        req->idempotency_claimed = true; /* new: the handler runs */
        PQclear(res);
        return 0;
    }
    status = atoi(PQgetvalue(res, 0, 0));
    if (status == 422)
        ab_http_error_at(req, 422, "idempotency_key_reused", "Idempotency-Key",
                         "this Idempotency-Key was used with a different request");
    else if (PQgetisnull(res, 0, 1))
        ab_http_error_at(req, 409, "idempotency_key_used", "Idempotency-Key",
                         "this request was already carried out; the secret it answered is "
                         "shown only once");
    else if (ab_buf_puts(&req->out, PQgetvalue(res, 0, 1)) != 0)
        ab_http_error(req, 500, "internal", "response too large");
    else {
        req->status = status;
        req->replayed = true;
    }
    PQclear(res);
    return 1;
}

int ab_api_idempotency_complete(struct ab_app *app, struct ab_req *req, PGconn *conn)
{
    char status[8];
    const char *params[3];
    PGresult *res;
    int rc = 0;

    if (!req->idempotency_claimed)
        return 0;
    snprintf(status, sizeof(status), "%d", req->status);
    params[0] = ab_http_header(req, "Idempotency-Key");
    params[1] = status;
    params[2] = req->secret_answer ? NULL : req->out.data ? req->out.data : "";
    res = ab_pg_pool_exec(app->pool, conn,
                          "SELECT agentbase.idempotency_complete($1, $2::integer, $3)", 3, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = ab_api_db_error(req, "the Idempotency-Key", res) + 1;
    PQclear(res);
    return rc;
}
