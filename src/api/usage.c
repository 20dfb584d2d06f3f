/*
 * The usage accounting endpoints.
 *
 * Reservations, settles, releases and events are checked here (shape, types, ranges),
 * authenticated, and handed to the group-commit batchers (usage/usage.h) as one JSON
 * operation each; the connection is parked meanwhile, so a handful of server threads can
 * have any number of accounting calls waiting for their batch. The answer is whatever
 * agentbase.usage_apply said for the operation, sent only after its batch committed.
 *
 * Reports, wallet adjustments and level allocations are ordinary transactions.
 */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

/* ---- checking a body against a field list ------------------------------------------- */

enum field_kind { F_UUID, F_STRING, F_INT, F_OBJECT, F_STRINGS, F_ENUM };

struct field {
    const char *name;
    enum field_kind kind;
    bool required;
    long long min, max;  /* F_INT: the range; F_STRING: the length */
    const char *choices; /* F_ENUM: comma-separated */
};

#define MAX_TOKENS 10000000000LL /* 1e10: more tokens than any call */
#define MAX_MS     2147483647LL

static const struct field reserve_fields[] = {
    {"user_id", F_UUID, false, 0, 0, NULL},
    {"agent_id", F_UUID, false, 0, 0, NULL},
    {"conversation_id", F_UUID, false, 0, 0, NULL},
    {"provider", F_STRING, true, 1, 64, NULL},
    {"model", F_STRING, true, 1, 200, NULL},
    {"estimated_input_tokens", F_INT, true, 0, MAX_TOKENS, NULL},
    {"max_output_tokens", F_INT, true, 1, MAX_TOKENS, NULL},
    {"expires_in_seconds", F_INT, false, 1, 86400, NULL},
    {"metadata", F_OBJECT, false, 0, 0, NULL},
};

/* What a finished call reports (settle); an event also names who and what. */
#define CALL_FIELDS                                                                                \
    {"input_tokens", F_INT, true, 0, MAX_TOKENS, NULL},                                            \
        {"output_tokens", F_INT, true, 0, MAX_TOKENS, NULL},                                       \
        {"cached_tokens", F_INT, false, 0, MAX_TOKENS, NULL},                                      \
        {"latency_ms", F_INT, false, 0, MAX_MS, NULL},                                             \
        {"time_to_first_token_ms", F_INT, false, 0, MAX_MS, NULL},                                 \
        {"status", F_ENUM, false, 0, 0, "success,error,timeout,cancelled,rate_limited"},           \
        {"error_code", F_STRING, false, 0, 200, NULL},                                             \
        {"error_message", F_STRING, false, 0, 4000, NULL},                                         \
        {"message_id", F_UUID, false, 0, 0, NULL},                                                 \
        {"tool_call_ids", F_STRINGS, false, 0, 0, NULL},                                           \
        {"request_type", F_ENUM, false, 0, 0, "chat,completion,embedding,image,audio,tool,other"}, \
    {                                                                                              \
        "metadata", F_OBJECT, false, 0, 0, NULL                                                    \
    }

static const struct field settle_fields[] = {CALL_FIELDS};

static const struct field event_fields[] = {
    {"user_id", F_UUID, false, 0, 0, NULL},         {"agent_id", F_UUID, false, 0, 0, NULL},
    {"conversation_id", F_UUID, false, 0, 0, NULL}, {"provider", F_STRING, true, 1, 64, NULL},
    {"model", F_STRING, true, 1, 200, NULL},        CALL_FIELDS,
};

static bool in_list(const char *list, const char *s)
{
    size_t n = strlen(s);

    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");

        if (len == n && memcmp(p, s, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* Checks one value against its field; NULL when fine, else what is wrong. */
static const char *check_value(const struct field *f, json_t *v)
{
    size_t i;
    json_t *item;

    switch (f->kind) {
    case F_UUID:
        return json_is_string(v) && ab_api_is_uuid(json_string_value(v)) ? NULL : "must be a UUID";
    case F_STRING:
        if (!json_is_string(v))
            return "must be a string";
        return (long long)json_string_length(v) < f->min ||
                       (long long)json_string_length(v) > f->max
                   ? "has a length out of range"
                   : NULL;
    case F_INT:
        if (!json_is_integer(v))
            return "must be an integer";
        return json_integer_value(v) < f->min || json_integer_value(v) > f->max ? "is out of range"
                                                                                : NULL;
    case F_OBJECT:
        return json_is_object(v) ? NULL : "must be an object";
    case F_STRINGS:
        if (!json_is_array(v) || json_array_size(v) > 128)
            return "must be an array of at most 128 strings";
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item) || json_string_length(item) > 200)
                return "must be an array of strings (at most 200 characters each)";
        }
        return NULL;
    case F_ENUM:
        return json_is_string(v) && in_list(f->choices, json_string_value(v)) ? NULL
                                                                              : "is not one of";
    }
    return "is invalid";
}

/* Checks doc against fields (a null counts as absent and is dropped); 0, or 1 with 400. */
static int check_fields(struct ab_req *req, json_t *doc, const struct field *fields, size_t n)
{
    const char *name;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(doc, tmp, name, v)
    {
        const struct field *f = NULL;
        const char *wrong;

        for (size_t i = 0; i < n && !f; i++)
            if (strcmp(fields[i].name, name) == 0)
                f = &fields[i];
        if (!f)
            return ab_http_error(req, 400, "invalid_field", "field '%s' is not accepted here",
                                 name) +
                   1;
        if (json_is_null(v)) {
            json_object_del(doc, name);
            continue;
        }
        if ((wrong = check_value(f, v)) != NULL) {
            if (f->kind == F_ENUM)
                return ab_http_error(req, 400, "invalid_field", "field '%s' must be one of %s",
                                     name, f->choices) +
                       1;
            return ab_http_error(req, 400, "invalid_field", "field '%s' %s", name, wrong) + 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && !json_object_get(doc, fields[i].name))
            return ab_http_error(req, 400, "invalid_field", "field '%s' is required",
                                 fields[i].name) +
                   1;
    return 0;
}

/* ---- handing an operation to the batchers ------------------------------------------- */

struct pending {
    struct ab_usage_op op;
    struct ab_app *app;
    struct ab_req *req;
    char tenant[40];
};

/*
 * An operation's error, {"error": {code, message, limit?}} as usage_apply or the batcher
 * said it, in the API's one error shape (with the quota's details, when there are any).
 */
static void error_answer(struct ab_req *req, int status, const char *body)
{
    json_t *doc = json_loads(body, 0, NULL), *e = json_object_get(doc, "error");
    json_t *limit = json_object_get(e, "limit"), *full;
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *message = json_string_value(json_object_get(e, "message"));
    char *text;

    ab_http_error(req, status, code ? code : "internal", "%s", message ? message : "failed");
    if (limit && (full = json_loadb(req->out.data, req->out.len, 0, NULL))) {
        json_object_set(json_object_get(full, "error"), "limit", limit);
        text = json_dumps(full, JSON_COMPACT);
        if (text) {
            ab_buf_reset(&req->out);
            if (ab_buf_puts(&req->out, text) != 0)
                ab_http_error(req, 500, "internal", "out of memory");
        }
        free(text);
        json_decref(full);
    }
    json_decref(doc);
}

/* On a batcher thread, after the batch committed: the operation's answer. */
static void op_done(struct ab_usage_op *op)
{
    struct pending *p = op->arg;
    struct ab_req *req = p->req;

    ab_buf_reset(&req->out);
    if (!op->body)
        ab_http_error(req, 500, "internal", "out of memory");
    else if (op->status >= 400)
        error_answer(req, op->status, op->body);
    else if (ab_buf_puts(&req->out, op->body) != 0)
        ab_http_error(req, 500, "internal", "out of memory");
    else
        req->status = op->status;
    snprintf(req->retry_after, sizeof(req->retry_after), "%s", op->retry_after);
    req->replayed = op->replayed;
    free(op->body);
    free(op->json);
    free(p);
    ab_http_resume(req);
}

/* On the server thread, once the connection is parked. */
static void op_start(struct ab_req *req, void *arg)
{
    struct pending *p = arg;

    (void)req;
    ab_usage_submit(p->app->usage, &p->op);
}

/*
 * Authenticates, checks the body against fields, and defers the request to the batchers
 * as operation `op` (with the reservation id from the path, if any). The answer is set
 * (directly, or later by op_done).
 */
static int submit(struct ab_app *app, struct ab_req *req, const char *op,
                  const struct field *fields, size_t nfields, bool user_field)
{
    const char *key, *id = req->params[0];
    struct ab_caller who;
    struct pending *p = NULL;
    json_t *args = NULL, *doc = NULL;

    if (ab_api_authenticate(app, req, "usage:write", true, &who))
        return 0;
    if (id && !ab_api_is_uuid(id))
        return ab_http_error(req, 404, "not_found", "reservation %s not found", id);
    if (ab_api_idempotency_key(req, &key))
        return 0;
    if (!(args = ab_api_parse_object(req, fields == NULL)))
        return 0;
    if (check_fields(req, args, fields, nfields))
        goto out;
    if (user_field && !json_object_get(args, "user_id")) {
        /* A key bound to a user accounts for that user unless told otherwise. */
        if (!who.user_id[0]) {
            ab_http_error(req, 400, "invalid_field", "field 'user_id' is required");
            goto out;
        }
        json_object_set_new(args, "user_id", json_string(who.user_id));
    }
    if (json_object_get(args, "cached_tokens") &&
        json_integer_value(json_object_get(args, "cached_tokens")) >
            json_integer_value(json_object_get(args, "input_tokens"))) {
        ab_http_error(req, 400, "invalid_field", "cached_tokens cannot exceed input_tokens");
        goto out;
    }
    if (id)
        json_object_set_new(args, "id", json_string(id));
    /* A user or viewer accounts only for themselves: usage_apply checks it against this. */
    doc = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:O}", "op", op, "tenant_id", who.tenant_id,
                    "actor_id", who.key_id, "request_id", req->request_id, "ip",
                    who.ip[0] ? who.ip : NULL, "idempotency_key", key, "acting_user_id",
                    strcmp(who.role, "user") == 0 || strcmp(who.role, "viewer") == 0 ? who.user_id
                                                                                     : NULL,
                    "args", args);
    p = calloc(1, sizeof(*p));
    if (!doc || !p || !(p->op.json = json_dumps(doc, JSON_COMPACT))) {
        free(p);
        ab_http_error(req, 500, "internal", "out of memory");
        goto out;
    }
    p->app = app;
    p->req = req;
    snprintf(p->tenant, sizeof(p->tenant), "%s", who.tenant_id);
    p->op.tenant = p->tenant;
    p->op.done = op_done;
    p->op.arg = p;
    ab_http_defer(req, op_start, p);
out:
    json_decref(doc);
    json_decref(args);
    return 0;
}

static int post_reservation(void *app, struct ab_req *req)
{
    return submit(app, req, "reserve", reserve_fields, AB_ARRAY_LEN(reserve_fields), true);
}

static int post_settle(void *app, struct ab_req *req)
{
    return submit(app, req, "settle", settle_fields, AB_ARRAY_LEN(settle_fields), false);
}

static int post_release(void *app, struct ab_req *req)
{
    return submit(app, req, "release", NULL, 0, false);
}

static int post_event(void *app, struct ab_req *req)
{
    return submit(app, req, "event", event_fields, AB_ARRAY_LEN(event_fields), true);
}

/* ---- ordinary transactions ------------------------------------------------------------ */

/*
 * What a transaction's statement needs from the request, judged after authentication:
 * fills params (from [0]) and returns 0, or 1 with the answer set.
 */
typedef int (*prepare_fn)(struct ab_req *req, void *ctx, const char **params);

/*
 * Authenticates for scope, then prepares the parameters (when prepare is given), then
 * runs one statement returning one JSON text in the request's transaction and answers it.
 */
static int answer_json(struct ab_app *app, struct ab_req *req, const char *scope, const char *sql,
                       int nparams, const char **params, prepare_fn prepare, void *ctx, int status)
{
    struct ab_caller who;
    PGconn *conn;
    PGresult *r;

    if (ab_api_begin(app, req, scope, true, &who, &conn))
        return 0;
    if (prepare && prepare(req, ctx, params)) {
        ab_api_end(app, req, conn);
        return 0;
    }
    r = ab_pg_pool_exec(app->pool, conn, sql, nparams, params);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        if (ab_buf_puts(&req->out, PQgetvalue(r, 0, 0)) == 0)
            req->status = status;
        else
            ab_http_error(req, 500, "internal", "response too large");
    } else if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        ab_http_error(req, 404, "not_found", "%s not found", req->params[0]);
    } else {
        ab_api_db_error(req, "the request", r);
    }
    PQclear(r);
    ab_api_end(app, req, conn);
    return 0;
}

struct summary_query {
    struct ab_req *req;
    const char **params; /* from, to, group_by */
};

/* One parameter of GET /v1/usage/summary: from, to (RFC 3339 times or dates), group_by. */
static int summary_param(void *ctx, const char *name, const char *value)
{
    struct summary_query *q = ctx;
    const char **params = q->params;
    struct ab_req *req = q->req;
    int i = strcmp(name, "from") == 0       ? 0
            : strcmp(name, "to") == 0       ? 1
            : strcmp(name, "group_by") == 0 ? 2
                                            : -1;

    if (i < 0)
        return ab_http_error_at(req, 400, "unknown_parameter", name,
                                "unknown query parameter '%s': the summary takes from, to and "
                                "group_by",
                                name) +
               1;
    if (params[i])
        return ab_http_error_at(req, 400, "invalid_parameter", name,
                                "parameter '%s' is given twice", name) +
               1;
    if (i < 2 && !ab_is_datetime(value, false) && !ab_is_datetime(value, true))
        return ab_http_error_at(req, 400, "invalid_parameter", name,
                                "%s must be a date (2026-11-01) or an RFC 3339 time "
                                "(2026-11-01T00:00:00Z)",
                                name) +
               1;
    params[i] = value;
    return 0;
}

static int prepare_summary(struct ab_req *req, void *ctx, const char **params)
{
    struct summary_query q = {req, params};

    (void)ctx;
    return ab_http_query_each(req, summary_param, &q) ? 1 : 0;
}

/* GET /v1/usage/summary?from=&to=&group_by= (default: the last 30 days by model). */
static int get_summary(void *app, struct ab_req *req)
{
    const char *params[3] = {NULL, NULL, NULL};

    return answer_json(app, req, "usage:read",
                       "SELECT agentbase.usage_summary("
                       "  coalesce($1::timestamptz, now() - interval '30 days'), "
                       "  coalesce($2::timestamptz, now()), coalesce($3, 'model'))::text",
                       3, params, prepare_summary, NULL, 200);
}

/* A body checked against fields, parsed by a prepare function and freed by its caller. */
struct body_ctx {
    const struct field *fields;
    size_t nfields;
    const char *what; /* for a 404: "wallet", "user" */
    json_t *doc;
    char amount[32];
    char *meta;
};

/* The id in the path, then the body; 0, or 1 with the answer set. */
static int parse_body(struct ab_req *req, struct body_ctx *c)
{
    if (!ab_api_is_uuid(req->params[0]))
        return ab_http_error(req, 404, "not_found", "%s %s not found", c->what, req->params[0]) + 1;
    if (!(c->doc = ab_api_parse_object(req, false)))
        return 1;
    return check_fields(req, c->doc, c->fields, c->nfields);
}

static int prepare_adjust(struct ab_req *req, void *ctx, const char **params)
{
    struct body_ctx *c = ctx;
    json_t *doc;

    if (parse_body(req, c))
        return 1;
    doc = c->doc;
    snprintf(c->amount, sizeof(c->amount), "%lld",
             (long long)json_integer_value(json_object_get(doc, "amount")));
    c->meta = json_object_get(doc, "metadata") ? json_dumps(json_object_get(doc, "metadata"), 0)
                                               : strdup("{}");
    if (!c->meta)
        return ab_http_error(req, 500, "internal", "out of memory") + 1;
    params[0] = req->params[0];
    params[1] = c->amount;
    params[2] = json_string_value(json_object_get(doc, "direction"));
    params[3] = json_string_value(json_object_get(doc, "reason"));
    params[4] = json_string_value(json_object_get(doc, "reference_type"));
    params[5] = json_string_value(json_object_get(doc, "reference_id"));
    params[6] = c->meta;
    params[7] = ab_http_header(req, "Idempotency-Key");
    return 0;
}

/*
 * POST /v1/wallets/{id}/adjust {direction, amount, reason?, reference_type?, reference_id?,
 * metadata?}: one adjust_user_tokens call (Idempotency-Key honoured).
 */
static int post_adjust(void *appv, struct ab_req *req)
{
    static const struct field fields[] = {
        {"direction", F_ENUM, true, 0, 0, "credit,debit,reserve,release,adjustment"},
        {"amount", F_INT, true, -MAX_TOKENS, MAX_TOKENS, NULL},
        {"reason", F_STRING, false, 0, 500, NULL},
        {"reference_type", F_STRING, false, 0, 100, NULL},
        {"reference_id", F_STRING, false, 0, 200, NULL},
        {"metadata", F_OBJECT, false, 0, 0, NULL},
    };
    struct body_ctx c = {fields, AB_ARRAY_LEN(fields), "wallet", NULL, "", NULL};
    const char *params[8] = {0};

    answer_json(appv, req, "billing:admin",
                "SELECT agentbase.adjust_user_tokens(w.user_id, $2::bigint, $3, $4, 'api', $5, "
                "       $6, NULL, $7::jsonb, $8)::text "
                "  FROM agentbase.token_wallets w WHERE w.id = $1::uuid",
                8, params, prepare_adjust, &c, 200);
    free(c.meta);
    json_decref(c.doc);
    return 0;
}

static int prepare_level(struct ab_req *req, void *ctx, const char **params)
{
    struct body_ctx *c = ctx;

    if (parse_body(req, c))
        return 1;
    params[0] = req->params[0];
    params[1] = json_string_value(json_object_get(c->doc, "level"));
    return 0;
}

/* POST /v1/users/{id}/level {level}: the plan level and its monthly allocation (once a month). */
static int post_level(void *appv, struct ab_req *req)
{
    static const struct field fields[] = {
        {"level", F_ENUM, true, 0, 0, "free,basic,starter,pro,premium,enterprise"},
    };
    struct body_ctx c = {fields, AB_ARRAY_LEN(fields), "user", NULL, "", NULL};
    const char *params[2] = {0};

    answer_json(appv, req, "billing:admin",
                "SELECT agentbase.auto_allocate_tokens_for_level($1::uuid, $2)::text", 2, params,
                prepare_level, &c, 200);
    json_decref(c.doc);
    return 0;
}

const struct ab_http_route ab_usage_routes[] = {
    {"POST", "/v1/usage/reservations", post_reservation, NULL},
    {"POST", "/v1/usage/reservations/{id}/settle", post_settle, NULL},
    {"POST", "/v1/usage/reservations/{id}/release", post_release, NULL},
    {"POST", "/v1/usage/events", post_event, NULL},
    {"GET", "/v1/usage/summary", get_summary, NULL},
    {"POST", "/v1/wallets/{id}/adjust", post_adjust, NULL},
    {"POST", "/v1/users/{id}/level", post_level, NULL},
};
const size_t ab_usage_nroutes = AB_ARRAY_LEN(ab_usage_routes);
