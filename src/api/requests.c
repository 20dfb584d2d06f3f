/*
 * The LLM requests after the fact: the requests behind the cost rollups
 * (GET /v1/usage/requests), a user's month (GET /v1/usage/monthly), and feedback on a
 * request or a RAG query (POST /v1/ai-requests/{id}/feedback, /v1/rag-queries/{id}/feedback);
 * and the development platform's reports, which take their query the same way: idle
 * containers (GET /v1/containers/idle), tasks per primary agent
 * (GET /v1/tasks/agent-performance) and a download of generated content
 * (GET /v1/generated-content/{id}/download, which counts it).
 *
 * Each is one statement in the request's transaction (ab_api_answer_json): PostgreSQL decides
 * what the caller may see (RLS: a user their own requests and month), checks a feedback's
 * target in the tenant (request_feedback's trigger: a row the writer cannot see is not found),
 * and builds the answer. The query parameters are checked here against the operations' field
 * lists (operations.c), the same lists the OpenAPI document shows.
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QUERY 16 /* parameters of the longest list below */

/* ---- query parameters ------------------------------------------------------------------ */

struct query {
    struct ab_req *req;
    const struct ab_field *fields;
    size_t n;
    const char **values; /* aligned with fields; NULL: not given */
};

/* What value must be for f, or NULL when it is fine (a time may also be a date). */
static const char *query_wrong(const struct ab_field *f, const char *value, char *why, size_t n)
{
    long long x;
    size_t len = strlen(value);

    if (f->kind == AB_KIND_DATETIME && ab_is_datetime(value, true))
        return NULL;
    if (ab_fields_check_text(f, value))
        return f->kind == AB_KIND_DATETIME
                   ? "a date (2026-11-01) or an RFC 3339 time (2026-11-01T00:00:00Z)"
                   : ab_fields_check_text(f, value);
    x = f->kind == AB_KIND_INTEGER ? strtoll(value, NULL, 10) : 0;
    if (f->kind == AB_KIND_INTEGER && ((f->has_min && x < f->min) || (f->has_max && x > f->max))) {
        snprintf(why, n, "an integer from %.0f to %.0f", f->min, f->max);
        return why;
    }
    if (f->kind == AB_KIND_STRING &&
        ((long)len < f->min_len || (f->max_len && (long)len > f->max_len))) {
        snprintf(why, n, "%ld to %ld characters", f->min_len ? f->min_len : 1, f->max_len);
        return why;
    }
    return NULL;
}

static int query_param(void *ctx, const char *name, const char *value)
{
    struct query *q = ctx;
    const struct ab_field *f = ab_fields_find(q->fields, q->n, name);
    const char *wrong;
    char why[64];

    if (!f)
        return ab_http_error_at(q->req, 400, "unknown_parameter", name,
                                "unknown query parameter '%s'", name) +
               1;
    if (q->values[f - q->fields])
        return ab_http_error_at(q->req, 400, "invalid_parameter", name,
                                "parameter '%s' is given twice", name) +
               1;
    if ((wrong = query_wrong(f, value, why, sizeof(why))))
        return ab_http_error_at(q->req, 400, "invalid_parameter", name, "parameter '%s' must be %s",
                                name, wrong) +
               1;
    q->values[f - q->fields] = value;
    return 0;
}

/* Fills params[0 .. n) with the query's values of fields (NULL: not given); 0, or 1 with the
 * answer set. */
static int parse_query(struct ab_req *req, const struct ab_field *fields, size_t n,
                       const char **params)
{
    struct query q = {req, fields, n, params};

    return ab_http_query_each(req, query_param, &q) ? 1 : 0;
}

/* ---- the requests behind the rollups ------------------------------------------------------ */

static int prepare_requests(struct ab_req *req, void *ctx, const char **params)
{
    (void)ctx;
    return parse_query(req, ab_op_usage_requests_query, ab_op_usage_requests_nquery, params);
}

/* GET /v1/usage/requests?from=&to=&provider=&model=&user_id=&agent_id=&project_id=&after=&limit= */
int ab_api_usage_requests(void *app, struct ab_req *req)
{
    const char *params[MAX_QUERY] = {0};

    return ab_api_answer_json(app, req, "usage:read",
                              "SELECT agentbase.usage_requests("
                              "  coalesce($1::timestamptz, now() - interval '30 days'), "
                              "  coalesce($2::timestamptz, now()), $3, $4, $5::uuid, $6::uuid, "
                              "  $7::uuid, $8::uuid, coalesce($9::integer, 50))::text",
                              (int)ab_op_usage_requests_nquery, params, prepare_requests, NULL,
                              200);
}

/* ---- a user's month ------------------------------------------------------------------------ */

static int prepare_monthly(struct ab_req *req, void *ctx, const char **params)
{
    const char *m;

    (void)ctx;
    if (parse_query(req, ab_op_usage_monthly_query, ab_op_usage_monthly_nquery, params))
        return 1;
    m = params[1];
    if (m && !(strspn(m, "0123456789") == 4 && m[4] == '-' && strspn(m + 5, "0123456789") == 2 &&
               strcmp(m + 5, "01") >= 0 && strcmp(m + 5, "12") <= 0))
        return ab_http_error_at(req, 400, "invalid_parameter", "month",
                                "parameter 'month' must be a month as YYYY-MM (2026-11)") +
               1;
    return 0;
}

/* GET /v1/usage/monthly?user_id=&month=YYYY-MM (default: the key's user, this month). */
int ab_api_usage_monthly(void *app, struct ab_req *req)
{
    const char *params[MAX_QUERY] = {0};

    return ab_api_answer_json(app, req, "usage:read",
                              "SELECT agentbase.usage_monthly("
                              "  coalesce($1::uuid, agentbase.current_user_id()), "
                              "  coalesce(to_date($2 || '-01', 'YYYY-MM-DD'), "
                              "           (now() AT TIME ZONE 'UTC')::date))::text",
                              (int)ab_op_usage_monthly_nquery, params, prepare_monthly, NULL, 200);
}

/* ---- feedback --------------------------------------------------------------------------- */

struct feedback {
    const char *target_type; /* ai_request, rag_query */
    const char *what;        /* for a 404 */
    json_t *doc;
    char rating[16];
};

static int prepare_feedback(struct ab_req *req, void *ctx, const char **params)
{
    struct feedback *f = ctx;

    if (!ab_api_is_uuid(req->params[0]))
        return ab_http_error(req, 404, "not_found", "%s %s not found", f->what, req->params[0]) + 1;
    if (!(f->doc = ab_api_parse_object(req, false)))
        return 1;
    if (ab_fields_check(req, f->doc, ab_op_feedback_fields, ab_op_feedback_nfields,
                        AB_CHECK_CREATE | AB_CHECK_DROP_NULL, "feedback"))
        return 1;
    snprintf(f->rating, sizeof(f->rating), "%lld",
             (long long)json_integer_value(json_object_get(f->doc, "rating")));
    params[0] = f->target_type;
    params[1] = req->params[0];
    params[2] = f->rating;
    params[3] = json_string_value(json_object_get(f->doc, "comment"));
    return 0;
}

/* One row of request_feedback, given by the caller (the owner column is filled by trigger). */
static int post_feedback(struct ab_app *app, struct ab_req *req, const char *type, const char *what)
{
    struct feedback f = {type, what, NULL, ""};
    const char *params[4] = {0};

    ab_api_answer_json(app, req, "request-feedback:write",
                       "INSERT INTO agentbase.request_feedback "
                       "  (tenant_id, target_type, target_id, rating, comment) "
                       "VALUES (agentbase.current_tenant_id(), $1, $2::uuid, $3::smallint, $4) "
                       "RETURNING to_jsonb(request_feedback.*)::text",
                       4, params, prepare_feedback, &f, 201);
    json_decref(f.doc);
    return 0;
}

/* POST /v1/ai-requests/{id}/feedback {rating, comment?} */
int ab_api_feedback_ai_request(void *app, struct ab_req *req)
{
    return post_feedback(app, req, "ai_request", "ai request");
}

/* POST /v1/rag-queries/{id}/feedback {rating, comment?} */
int ab_api_feedback_rag_query(void *app, struct ab_req *req)
{
    return post_feedback(app, req, "rag_query", "rag query");
}

/* ---- the development platform's reports ------------------------------------------------ */

static int prepare_idle(struct ab_req *req, void *ctx, const char **params)
{
    (void)ctx;
    return parse_query(req, ab_op_containers_idle_query, ab_op_containers_idle_nquery, params);
}

/* GET /v1/containers/idle?minutes=&limit= */
int ab_api_containers_idle(void *app, struct ab_req *req)
{
    const char *params[MAX_QUERY] = {0};

    return ab_api_answer_json(app, req, "containers:read",
                              "SELECT agentbase.containers_idle(coalesce($1::integer, 30), "
                              "                                 coalesce($2::integer, 100))::text",
                              (int)ab_op_containers_idle_nquery, params, prepare_idle, NULL, 200);
}

static int prepare_performance(struct ab_req *req, void *ctx, const char **params)
{
    (void)ctx;
    return parse_query(req, ab_op_agent_performance_query, ab_op_agent_performance_nquery, params);
}

/* GET /v1/tasks/agent-performance?from=&to= */
int ab_api_agent_performance(void *app, struct ab_req *req)
{
    const char *params[MAX_QUERY] = {0};

    return ab_api_answer_json(app, req, "tasks:read",
                              "SELECT agentbase.agent_performance("
                              "  coalesce($1::timestamptz, now() - interval '30 days'), "
                              "  coalesce($2::timestamptz, now()))::text",
                              (int)ab_op_agent_performance_nquery, params, prepare_performance,
                              NULL, 200);
}

static int prepare_download(struct ab_req *req, void *ctx, const char **params)
{
    (void)ctx;
    if (!ab_api_is_uuid(req->params[0]))
        return ab_http_error(req, 404, "not_found", "generated content %s not found",
                             req->params[0]) +
               1;
    if (parse_query(req, NULL, 0, params))
        return 1;
    params[0] = req->params[0];
    return 0;
}

/* GET /v1/generated-content/{id}/download: the content; the download is counted. */
int ab_api_content_download(void *app, struct ab_req *req)
{
    const char *params[1] = {0};

    return ab_api_answer_json(app, req, "generated-content:read",
                              "SELECT agentbase.generated_content_download($1::uuid)::text", 1,
                              params, prepare_download, NULL, 200);
}
