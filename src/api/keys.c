/*
 * Issuing and revoking API keys. A key is generated here (auth module), shown exactly once
 * in the response to its creation, and stored only as its SHA-256 and display prefix; the
 * key itself is never a statement parameter (PostgreSQL logs slow statements with theirs).
 * A caller can only hand out scopes that both its key and its role allow, so a key can
 * never mint a stronger one; the explicit scopes (billing:admin, secrets:read) only a
 * platform key grants. Which user a key may be for, RLS and the owner trigger decide: a
 * user or viewer issues keys only for themselves, and the key acts at every use with its
 * user's current role (or its issuer's, for a key without a user).
 */
#include "api/api.h"
#include "auth/auth.h"

#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char insert_key[] =
    "INSERT INTO agentbase.api_keys AS k (tenant_id, user_id, name, key_prefix, key_hash, scopes, "
    "                                     expires_at, created_by) "
    "VALUES (agentbase.current_tenant_id(), $1::uuid, $2, $3, $4, "
    "        ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6::timestamptz, $7) "
    "RETURNING (to_jsonb(k) - 'key_hash')::text";

/* Checks the body against its fields (operations.c), then each scope: its shape, and that
 * the caller holds it. 0, or 1 with the 400/403 answer set. */
static int check_body(struct ab_req *req, const struct ab_caller *who, json_t *doc)
{
    json_t *scopes = json_object_get(doc, "scopes"), *v;
    size_t i;

    if (ab_fields_check(req, doc, ab_op_api_key_create_fields, ab_op_api_key_create_nfields,
                        AB_CHECK_CREATE, "api-keys"))
        return 1;
    json_array_foreach(scopes, i, v)
    {
        const char *s = json_string_value(v);

        if (!*s || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-:*") != strlen(s))
            return ab_http_error_at(req, 400, "invalid_field", "scopes",
                                    "scopes must look like agents:read, agents:*, or admin") +
                   1;
        if (!ab_api_caller_allows(who, s))
            return ab_http_error(req, 403, "forbidden",
                                 "a key cannot grant the scope %s, which it lacks itself", s) +
                   1;
        if (ab_api_scope_explicit(s) && !who->platform)
            return ab_http_error(req, 403, "forbidden",
                                 "the scope %s is granted only by the platform admin", s) +
                   1;
    }
    return 0;
}

int ab_api_answer_with_key(struct ab_req *req, const char *object, const char *key)
{
    assert(object[0] == '{');
    req->secret_answer = true; /* an Idempotency-Key replay must not show it again */
    return ab_buf_printf(&req->out, "{\"key\": \"%s\"%s%s", key, object[1] == '}' ? "" : ", ",
                         object + 1);
}

int ab_api_key_create(void *appv, struct ab_req *req)
{
    char key[AB_KEY_LEN + 1], prefix[AB_KEY_PREFIX_LEN + 1], hash[65], created_by[64];
    const char *params[7];
    struct ab_caller who;
    json_t *doc = NULL;
    char *scopes = NULL;
    PGconn *conn;
    PGresult *res;

    if (ab_api_begin(appv, req, "api-keys:write", true, &who, &conn))
        return 0;
    if (!(doc = ab_api_parse_object(req, false)) || check_body(req, &who, doc))
        goto out;
    scopes = json_dumps(json_object_get(doc, "scopes"), JSON_COMPACT);
    ab_auth_key_new(key, prefix, hash);
    snprintf(created_by, sizeof(created_by), "api_key:%s", who.key_id);
    params[0] = json_string_value(json_object_get(doc, "user_id"));
    params[1] = json_string_value(json_object_get(doc, "name"));
    params[2] = prefix;
    params[3] = hash;
    params[4] = scopes;
    params[5] = json_string_value(json_object_get(doc, "expires_at"));
    params[6] = created_by;
    res = PQexecParams(conn, insert_key, 7, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        if (ab_api_answer_with_key(req, PQgetvalue(res, 0, 0), key) == 0)
            req->status = 201;
        else
            ab_http_error(req, 500, "internal", "response too large");
    } else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

        if (state && strcmp(state, "23503") == 0) /* the one reference a key has */
            ab_http_error_at(req, 422, "invalid_reference", "user_id",
                             "field 'user_id' names no user of this tenant");
        else
            ab_api_db_error(req, "api-keys", res);
    }
    PQclear(res);
out:
    sodium_memzero(key, sizeof(key));
    free(scopes);
    json_decref(doc);
    ab_api_end(appv, req, conn);
    return 0;
}

/* DELETE /v1/api-keys/{id}: revocation keeps the row (audit), refuses the key from now on. */
int ab_api_key_revoke(void *appv, struct ab_req *req)
{
    const char *params[1] = {req->params[0]};
    struct ab_caller who;
    PGconn *conn;
    PGresult *res;

    if (ab_api_begin(appv, req, "api-keys:write", true, &who, &conn))
        return 0;
    if (!ab_api_is_uuid(req->params[0])) {
        ab_http_error(req, 404, "not_found", "api-keys/%s not found", req->params[0]);
        ab_api_end(appv, req, conn);
        return 0;
    }
    res = PQexecParams(conn,
                       "UPDATE agentbase.api_keys SET revoked_at = now() "
                       "WHERE id = $1::uuid AND revoked_at IS NULL RETURNING 1",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        ab_api_db_error(req, "api-keys", res);
    else if (PQntuples(res) == 0)
        ab_http_error(req, 404, "not_found", "api-keys/%s not found or already revoked",
                      req->params[0]);
    else
        req->status = 204;
    PQclear(res);
    ab_api_end(appv, req, conn);
    return 0;
}
