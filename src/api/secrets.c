/*
 * Write-only secrets of resources (MCP configuration secrets, AI provider API keys): what
 * the resource engine calls to judge, seal and store them, and the one route that reads a
 * value back.
 *
 * What this file must never do: let a secret's plaintext reach the database, an answer or
 * a log. So:
 * - a body carrying a secret is passed to its statement with that member blanked to null
 *   (ab_api_blank_member): PostgreSQL logs slow statements with their parameters;
 * - the columns receive only the ciphertext, the nonce, the key id and the hint (which
 *   names are set, and the last four characters of values of twelve or more);
 * - error messages name fields, never values;
 * - a value leaves the service only through GET /v1/<name>/{id}/<field>, to a key holding
 *   secrets:read (which admin does not grant), and only together with the audit row of
 *   that read, in the same transaction.
 *
 * A request that seals or opens a secret holds the advisory lock AB_SECRET_LOCK shared from
 * before it reads the row until it commits, so that a key rotation can tell when no
 * transaction that sealed or opened with the retiring key is left (see cli/secrets.c).
 */
#include "api/api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES    64
#define MAX_NAME_LEN 128

/* Overwrites and frees a string that held plaintext (NULL: nothing). */
static void wipe_str(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
    free(s);
}

/* ======================================================================================
 * Blanking a member of a JSON text
 * ====================================================================================== */

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] && strchr(" \t\r\n", s[i]))
        i++;
    return i;
}

/* Just past the string that starts at s[i] ('"'). */
static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* Just past the value that starts at s[i]. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    int depth = 0;

    if (i < len && s[i] == '"')
        return skip_string(s, len, i);
    if (i < len && s[i] != '{' && s[i] != '[') {
        while (i < len && s[i] && !strchr(",}] \t\r\n", s[i]))
            i++;
        return i;
    }
    for (; i < len; i++) {
        if (s[i] == '"')
            i = skip_string(s, len, i) - 1;
        else if (s[i] == '{' || s[i] == '[')
            depth++;
        else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
            return i + 1;
    }
    return len;
}

/* True when the string token s (quotes included) spells name, escapes decoded. */
static bool key_is(const char *s, size_t len, const char *name)
{
    json_t *k;
    bool same;

    if (!memchr(s, '\\', len))
        return len == strlen(name) + 2 && memcmp(s + 1, name, len - 2) == 0;
    k = json_loadb(s, len, JSON_DECODE_ANY, NULL);
    same = json_is_string(k) && strcmp(json_string_value(k), name) == 0;
    json_decref(k);
    return same;
}

char *ab_api_blank_member(const char *s, size_t len, const char *field)
{
    size_t i = skip_ws(s, len, 0);

    if (i >= len || s[i] != '{')
        return NULL;
    for (i = skip_ws(s, len, i + 1); i < len && s[i] == '"';) {
        size_t key = i, key_end = skip_string(s, len, i), value, value_end;

        i = skip_ws(s, len, key_end);
        if (i >= len || s[i] != ':')
            return NULL;
        value = skip_ws(s, len, i + 1);
        value_end = skip_value(s, len, value);
        if (key_is(s + key, key_end - key, field)) {
            char *out = malloc(len - (value_end - value) + 5);

            if (!out)
                return NULL;
            memcpy(out, s, value);
            memcpy(out + value, "null", 4);
            memcpy(out + value + 4, s + value_end, len - value_end);
            out[len - (value_end - value) + 4] = '\0';
            return out;
        }
        i = skip_ws(s, len, value_end);
        if (i >= len || s[i] != ',')
            return NULL;
        i = skip_ws(s, len, i + 1);
    }
    return NULL;
}

/* ======================================================================================
 * Judging a secret field
 * ====================================================================================== */

static bool name_ok(const char *name)
{
    size_t n = strlen(name);

    return n >= 1 && n <= MAX_NAME_LEN &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* One value of a secret named label ("api_key", "secrets.GITHUB_TOKEN"); null removes. */
static int check_value(struct ab_req *req, const char *label, const json_t *v, bool null_ok,
                       bool removable)
{
    if (json_is_null(v) && null_ok)
        return 0;
    if (json_is_null(v) && !removable)
        return ab_http_error(req, 400, "invalid_field",
                             "field '%s' cannot be removed (delete the object instead)", label) +
               1;
    if (!json_is_string(v))
        return ab_http_error(req, 400, "invalid_field", "field '%s' must be a string%s", label,
                             null_ok ? ", or null to remove it" : "") +
               1;
    if (json_string_length(v) == 0)
        return ab_http_error(req, 400, "invalid_field", "field '%s' must not be empty", label) + 1;
    if (json_string_length(v) > AB_SECRET_MAX_PLAIN / 8)
        return ab_http_error(req, 400, "invalid_field", "field '%s' is %d bytes at most", label,
                             AB_SECRET_MAX_PLAIN / 8) +
               1;
    return 0;
}

int ab_api_secret_check(struct ab_req *req, const struct ab_resource *r, const json_t *value,
                        bool is_create)
{
    const struct ab_resource_secret *s = r->secret;
    const char *name;
    json_t *v;
    char label[MAX_NAME_LEN + 64];

    if (!s->named)
        return check_value(req, s->field, value, false, false);
    if (!json_is_object(value))
        return ab_http_error(req, 400, "invalid_field",
                             "field '%s' must be an object of names and string values", s->field) +
               1;
    if (json_object_size(value) > MAX_NAMES)
        return ab_http_error(req, 400, "invalid_field", "field '%s' holds %d names at most",
                             s->field, MAX_NAMES) +
               1;
    json_object_foreach((json_t *)value, name, v)
    {
        if (!name_ok(name))
            return ab_http_error(req, 400, "invalid_field",
                                 "field '%s': a name is 1 to %d letters, digits, '_', '.' or '-'",
                                 s->field, MAX_NAME_LEN) +
                   1;
        snprintf(label, sizeof(label), "%s.%s", s->field, name);
        if (check_value(req, label, v, !is_create, true))
            return 1;
    }
    return 0;
}

/* ======================================================================================
 * Sealing
 * ====================================================================================== */

void ab_api_secret_purpose(const struct ab_resource *r, char *out, size_t n)
{
    snprintf(out, n, "%s.%s", r->table, r->secret->columns);
}

/*
 * Answers a stored secret that did not open. The client learns which key sealed it, never
 * where the server keeps its keys.
 */
static int unreadable(struct ab_req *req, const struct ab_resource *r,
                      const struct ab_secret_box *box, const struct ab_error *err)
{
    if (err->code == AB_EIO)
        return ab_http_error(req, 503, "secrets_unavailable",
                             "the server cannot read its key ring now") +
               1;
    if (err->code == AB_ENOTFOUND)
        return ab_http_error(req, 500, "secret_unreadable",
                             "the stored %s was sealed with key %s, which this server's key ring "
                             "lacks",
                             r->secret->field, box->key_id) +
               1;
    return ab_http_error(req, 500, "secret_unreadable",
                         "the stored %s does not open with key %s (it was changed, or moved "
                         "from another row)",
                         r->secret->field, box->key_id) +
           1;
}

/* {"set": true, "last4": "..."} (last4 null for a short value) for one value. */
static json_t *hint_of(const char *value, size_t len)
{
    char last4[17];

    ab_secret_last4(value, len, last4);
    return json_pack("{s:b,s:s?}", "set", 1, "last4", last4[0] ? last4 : NULL);
}

/*
 * The row's place and stored secret: for a create, a new id; for an update or a read, the
 * row (locked) with its box when one is stored (*stored). First takes AB_SECRET_LOCK shared
 * for the transaction, so that a rotation's final check waits for this request. 0, or 1
 * with the answer set.
 */
static int find_row(struct ab_app *app, struct ab_req *req, PGconn *conn,
                    const struct ab_resource *r, const char *row_id, char tenant[40], char id[40],
                    struct ab_secret_box *box, bool *stored)
{
    const char *params[1] = {row_id};
    struct ab_buf sql;
    PGresult *res;
    int rc = 1;

    *stored = false;
    res = PQexec(conn, "SELECT pg_advisory_xact_lock_shared(" AB_SECRET_LOCK ")");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return ab_http_error(req, 503, "database_unavailable", "cannot reach the secret now") + 1;
    }
    PQclear(res);
    ab_buf_init(&sql, 4096);
    if (!row_id)
        rc = ab_buf_puts(&sql, "SELECT agentbase.current_tenant_id()::text, "
                               "agentbase.uuid_v7()::text, NULL, NULL, NULL");
    else
        rc = ab_buf_printf(&sql,
                           "SELECT t.tenant_id::text, t.id::text, encode(t.%1$s_ciphertext, "
                           "'hex'), encode(t.%1$s_nonce, 'hex'), t.%1$s_key_id "
                           "  FROM agentbase.%2$s t WHERE t.id = $1::uuid%3$s FOR UPDATE",
                           r->secret->columns, r->table,
                           r->soft_delete ? " AND t.deleted_at IS NULL" : "");
    if (rc) {
        ab_buf_free(&sql);
        return ab_http_error(req, 500, "internal", "out of memory") + 1;
    }
    res = ab_pg_pool_exec(app->pool, conn, sql.data, row_id ? 1 : 0, params);
    ab_buf_free(&sql);
    rc = 1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        ab_http_error(req, 503, "database_unavailable", "cannot store the secret now");
    else if (PQntuples(res) == 0)
        ab_http_error(req, 404, "not_found", "%s/%s not found", r->name, row_id);
    else if (!PQgetisnull(res, 0, 2) &&
             !ab_secret_box_from_hex(box, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
                                     PQgetvalue(res, 0, 4)))
        ab_http_error(req, 500, "secret_unreadable", "the stored %s is malformed",
                      r->secret->field);
    else {
        snprintf(tenant, 40, "%s", PQgetvalue(res, 0, 0));
        snprintf(id, 40, "%s", PQgetvalue(res, 0, 1));
        *stored = !PQgetisnull(res, 0, 2);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/*
 * What to seal: a named secret merged into the stored one (update) or as given (create);
 * one value as given. *plain is the JSON text or the string to seal (NULL: nothing left),
 * *hint the hint JSON. 0, or 1 with the answer set.
 */
static int merge(struct ab_app *app, struct ab_req *req, const struct ab_resource *r,
                 const struct ab_secret_place *at, const json_t *value,
                 const struct ab_secret_box *box, char **plain, char **hint)
{
    json_t *all = NULL, *hints = NULL, *v;
    struct ab_buf old;
    struct ab_error err;
    const char *name;
    int rc = 0;

    *plain = *hint = NULL;
    if (!r->secret->named) {
        *plain = strdup(json_string_value(value));
        hints = hint_of(json_string_value(value), json_string_length(value));
        goto out;
    }
    if (box && ab_secret_open(app->secrets, at, box, &old, &err) != 0) {
        rc = unreadable(req, r, box, &err);
        goto out;
    }
    all = box ? json_loadb(old.data, old.len, 0, NULL) : json_object();
    if (box)
        ab_secret_wipe(&old);
    hints = json_object();
    if (!json_is_object(all) || !hints) {
        rc = ab_http_error(req, 500, "secret_unreadable", "the stored %s is not an object",
                           r->secret->field) +
             1;
        goto out;
    }
    json_object_foreach((json_t *)value, name, v)
    {
        if (json_is_null(v))
            json_object_del(all, name);
        else
            json_object_set(all, name, v);
    }
    json_object_foreach(all, name, v)
        json_object_set_new(hints, name, hint_of(json_string_value(v), json_string_length(v)));
    if (json_object_size(all) > 0)
        *plain = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
out:
    if (!rc && hints)
        *hint = json_dumps(hints, JSON_COMPACT | JSON_SORT_KEYS);
    /* no plaintext is "cleared" only for a named secret left empty */
    if (!rc && (!*hint || (!*plain && (!r->secret->named || json_object_size(all) > 0))))
        rc = ab_http_error(req, 500, "internal", "out of memory") + 1;
    json_decref(all);
    json_decref(hints);
    return rc;
}

int ab_api_secret_seal(struct ab_app *app, struct ab_req *req, PGconn *conn,
                       const struct ab_resource *r, const char *row_id, const json_t *value,
                       struct ab_api_sealed *out)
{
    char tenant[40], id[40], purpose[128];
    struct ab_secret_place at = {tenant, id, purpose};
    struct ab_secret_box stored = {0}, box = {0};
    struct ab_error err;
    char *plain = NULL;
    bool has_stored;
    int rc = 1;

    memset(out, 0, sizeof(*out));
    ab_api_secret_purpose(r, purpose, sizeof(purpose));
    if (find_row(app, req, conn, r, row_id, tenant, id, &stored, &has_stored) ||
        merge(app, req, r, &at, value, has_stored ? &stored : NULL, &plain, &out->hint))
        goto out;
    if (!row_id)
        snprintf(out->id, sizeof(out->id), "%s", id);
    out->cleared = plain == NULL;
    if (plain && ab_secret_seal(app->secrets, &at, plain, strlen(plain), &box, &err) != 0) {
        if (err.code == AB_ETOOBIG)
            ab_http_error(req, 413, "payload_too_large", "the %s are %d bytes at most in all",
                          r->secret->field, AB_SECRET_MAX_PLAIN);
        else
            ab_http_error(req, 503, "secrets_unavailable",
                          "the server cannot read its key ring now");
        goto out;
    }
    if (plain) {
        out->ciphertext = ab_secret_hex(box.ciphertext, box.len);
        sodium_bin2hex(out->nonce, sizeof(out->nonce), box.nonce, sizeof(box.nonce));
        snprintf(out->key_id, sizeof(out->key_id), "%s", box.key_id);
        if (!out->ciphertext) {
            ab_http_error(req, 500, "internal", "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    wipe_str(plain);
    ab_secret_box_free(&stored);
    ab_secret_box_free(&box);
    if (rc)
        ab_api_sealed_free(out);
    return rc;
}

void ab_api_sealed_free(struct ab_api_sealed *s)
{
    free(s->ciphertext);
    free(s->hint);
    memset(s, 0, sizeof(*s));
}

/* ======================================================================================
 * No secret in an MCP config
 * ====================================================================================== */

int ab_api_mcp_config_check(struct ab_app *app, struct ab_req *req, PGconn *conn, const json_t *doc,
                            const char *row_id)
{
    json_t *config = json_object_get(doc, "config"), *names = json_array(), *v;
    const char *name, *params[3];
    char *text = NULL;
    PGresult *res = NULL;
    int rc = 1;

    if (!json_is_object(config) || json_object_size(config) == 0) {
        json_decref(names);
        return 0;
    }
    json_object_foreach(config, name, v) json_array_append_new(names, json_string(name));
    if (!(text = json_dumps(names, JSON_COMPACT))) {
        ab_http_error(req, 500, "internal", "out of memory");
        goto out;
    }
    /* create: the servers named in the body; update: the row's (none: the update 404s) */
    params[0] = row_id ? row_id : json_string_value(json_object_get(doc, "server_id"));
    params[1] = row_id ? text : json_string_value(json_object_get(doc, "tenant_server_id"));
    params[2] = text;
    res = ab_pg_pool_exec(
        app->pool, conn,
        row_id ? "SELECT agentbase.mcp_server_configs_check_config(c.tenant_id, c.server_id, "
                 "  c.tenant_server_id, ARRAY(SELECT jsonb_array_elements_text($2::jsonb))) "
                 "  FROM agentbase.mcp_server_configs c WHERE c.id = $1::uuid"
               : "SELECT agentbase.mcp_server_configs_check_config(agentbase.current_tenant_id(), "
                 "  $1::uuid, $2::uuid, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)))",
        row_id ? 2 : 3, params);
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        rc = 0;
    else
        ab_api_db_error(req, "mcp-server-configs", res);
out:
    PQclear(res);
    free(text);
    json_decref(names);
    return rc;
}

/* ======================================================================================
 * Reading a value: GET /v1/<name>/{id}/<field>
 * ====================================================================================== */

/* {"<field>": value} and the names read (for the audit row), from the opened plaintext. */
static char *answer_of(const struct ab_resource *r, const struct ab_buf *plain, bool stored,
                       struct ab_buf *names)
{
    json_t *value, *doc;
    const char *name;
    json_t *v;
    char *text;

    if (r->secret->named)
        value = stored ? json_loadb(plain->data, plain->len, 0, NULL) : json_object();
    else
        value = stored ? json_stringn(plain->data, plain->len) : json_null();
    if (!value)
        return NULL;
    if (r->secret->named)
        json_object_foreach(value, name, v)
        {
            if (ab_buf_printf(names, "%s%s", names->len ? "," : "", name) != 0) {
                json_decref(value);
                return NULL;
            }
        }
    doc = json_pack("{s:o}", r->secret->field, value);
    text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    return text;
}

int ab_api_secret_read(void *appv, struct ab_req *req)
{
    const struct ab_resource *r = ab_http_route_data(req);
    struct ab_app *app = appv;
    char tenant[40], id[40], purpose[128];
    struct ab_secret_place at = {tenant, id, purpose};
    struct ab_secret_box box = {0};
    struct ab_buf plain, names;
    struct ab_caller who;
    struct ab_error err;
    const char *params[4];
    char *text = NULL;
    bool stored = false;
    PGconn *conn;
    PGresult *res;

    if (ab_api_begin(app, req, AB_SCOPE_SECRETS_READ, true, &who, &conn))
        return 0;
    ab_buf_init(&plain, 1);
    ab_buf_init(&names, 64 * 1024);
    if (!ab_api_is_uuid(req->params[0])) {
        ab_http_error(req, 404, "not_found", "%s/%s not found", r->name, req->params[0]);
        goto out;
    }
    ab_api_secret_purpose(r, purpose, sizeof(purpose));
    if (find_row(app, req, conn, r, req->params[0], tenant, id, &box, &stored))
        goto out;
    if (stored && ab_secret_open(app->secrets, &at, &box, &plain, &err) != 0) {
        unreadable(req, r, &box, &err);
        goto out;
    }
    text = answer_of(r, &plain, stored, &names);
    if (!text || ab_buf_puts(&req->out, text) != 0) {
        ab_http_error(req, 500, "internal", "out of memory");
        goto out;
    }
    params[0] = r->secret->audit_type;
    params[1] = id;
    params[2] = r->secret->field;
    params[3] = r->secret->named ? names.data : NULL;
    res = ab_pg_pool_exec(app->pool, conn,
                          "SELECT agentbase.audit_secret_read($1, $2::uuid, $3, "
                          "string_to_array($4, ','))",
                          4, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ab_http_error(req, 503, "database_unavailable", "cannot audit the read now");
    } else {
        req->status = 200;
    }
    PQclear(res);
out:
    wipe_str(text);
    ab_secret_wipe(&plain);
    ab_buf_free(&names);
    ab_secret_box_free(&box);
    ab_api_end(app, req, conn);
    return 0;
}
