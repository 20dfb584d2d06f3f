/*
 * The usage accounting endpoints.
 *
 * Reservations, settles, releases and events are authenticated, checked here against their
 * field lists (operations.c, shared with the OpenAPI document), and handed to the group-commit
 * batchers (usage/usage.h) as one JSON operation each; the connection is parked meanwhile, so a
 * handful of server threads can have any number of accounting calls waiting for their batch. The
 * answer is whatever agentbase.usage_apply said for the operation, sent only after its batch
 * committed.
 *
 * Reports, wallet adjustments and level allocations are ordinary transactions.
 */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

/* Accounting bodies are described in operations.c (the validator and the document share
 * them); a null there counts as absent. */
#define CHECK_FLAGS (AB_CHECK_CREATE | AB_CHECK_DROP_NULL)

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
                  const struct ab_field *fields, size_t nfields, bool user_field)
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
    if (ab_fields_check(req, args, fields, nfields, CHECK_FLAGS, op))
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
    return submit(app, req, "reserve", ab_op_reserve_fields, ab_op_reserve_nfields, true);
}

static int post_settle(void *app, struct ab_req *req)
{
    return submit(app, req, "settle", ab_op_settle_fields, ab_op_settle_nfields, false);
}

static int post_release(void *app, struct ab_req *req)
{
    return submit(app, req, "release", NULL, 0, false);
}

static int post_event(void *app, struct ab_req *req)
{
    return submit(app, req, "event", ab_op_event_fields, ab_op_event_nfields, true);
}

/* ---- ordinary transactions ------------------------------------------------------------ */

int ab_api_answer_json(struct ab_app *app, struct ab_req *req, const char *scope, const char *sql,
                       int nparams, const char **params, ab_api_prepare_fn prepare, void *ctx,
                       int status)
{
    struct ab_caller who;
    PGconn *conn;

    if (ab_api_begin(app, req, scope, true, &who, &conn))
        return 0;
    if (prepare && prepare(req, ctx, params)) {
        ab_api_end(app, req, conn);
        return 0;
    }
    ab_api_answer_text(app, req, conn, "the request", req->params[0] ? req->params[0] : "", sql,
                       nparams, params, status);
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

    return ab_api_answer_json(app, req, "usage:read",
                              "SELECT agentbase.usage_summary("
                              "  coalesce($1::timestamptz, now() - interval '30 days'), "
                              "  coalesce($2::timestamptz, now()), coalesce($3, 'model'))::text",
                              3, params, prepare_summary, NULL, 200);
}

/* A body checked against fields, parsed by a prepare function and freed by its caller. */
struct body_ctx {
    const struct ab_field *fields;
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
    return ab_fields_check(req, c->doc, c->fields, c->nfields, CHECK_FLAGS, c->what);
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
    struct body_ctx c = {
        ab_op_wallet_adjust_fields, ab_op_wallet_adjust_nfields, "wallet", NULL, "", NULL};
    const char *params[8] = {0};

    ab_api_answer_json(
        appv, req, "billing:admin",
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
    struct body_ctx c = {ab_op_user_level_fields, ab_op_user_level_nfields, "user", NULL, "", NULL};
    const char *params[2] = {0};

    ab_api_answer_json(appv, req, "billing:admin",
                       "SELECT agentbase.auto_allocate_tokens_for_level($1::uuid, $2)::text", 2,
                       params, prepare_level, &c, 200);
    json_decref(c.doc);
    return 0;
}

const struct ab_http_route ab_usage_routes[] = {
    {"POST", "/v1/usage/reservations", post_reservation, NULL},
    {"POST", "/v1/usage/reservations/{id}/settle", post_settle, NULL},
    {"POST", "/v1/usage/reservations/{id}/release", post_release, NULL},
    {"POST", "/v1/usage/events", post_event, NULL},
    {"GET", "/v1/usage/summary", get_summary, NULL},
    {"GET", "/v1/usage/requests", ab_api_usage_requests, NULL},
    {"GET", "/v1/usage/monthly", ab_api_usage_monthly, NULL},
    {"POST", "/v1/ai-requests/{id}/feedback", ab_api_feedback_ai_request, NULL},
    {"POST", "/v1/rag-queries/{id}/feedback", ab_api_feedback_rag_query, NULL},
    {"GET", "/v1/containers/idle", ab_api_containers_idle, NULL},
    {"GET", "/v1/tasks/agent-performance", ab_api_agent_performance, NULL},
    {"GET", "/v1/generated-content/{id}/download", ab_api_content_download, NULL},
    {"POST", "/v1/wallets/{id}/adjust", post_adjust, NULL},
    {"POST", "/v1/users/{id}/level", post_level, NULL},
};
const size_t ab_usage_nroutes = AB_ARRAY_LEN(ab_usage_routes);
