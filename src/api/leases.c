/*
 * Agent-assignment leases: POST /v1/agent-assignments/acquire takes a concurrency slot of
 * a user's best agent assignment, POST /v1/agent-assignments/release gives one back.
 *
 * Everything that matters is decided by PostgreSQL (0017_allocation): which assignment,
 * whether a slot is free (counted under the assignment's row lock, so that concurrent
 * acquires can never hold more leases than max_concurrent_requests), who may act for whom,
 * and the agents' load. This file only checks the body against its field list, calls
 * agentbase.agent_lease_acquire / agent_lease_release in the request's transaction and
 * answers what they return; a refusal comes back through the one error map (429
 * concurrency_limit, 409 lease_released or lease_expired, 404).
 */
#include "api/api.h"

#include <stdio.h>

/* A slot taken by another request is usually given back within a request's time. */
#define BUSY_RETRY_AFTER "1"

/* Fills the statement's parameters from the checked body: 0, or 1 with the answer set. */
typedef int (*fill_fn)(struct ab_req *req, const json_t *doc, const struct ab_caller *who,
                       const char **params, char *ttl, size_t ttl_len);

/*
 * Authenticates for agent-leases:write, checks the body against fields, and answers the one
 * JSON text `sql` returns for the nparams parameters fill() takes from the body; status on
 * success.
 */
static int lease_call(struct ab_app *app, struct ab_req *req, const struct ab_field *fields,
                      size_t nfields, const char *sql, int nparams, int status, fill_fn fill)
{
    struct ab_caller who;
    PGconn *conn;
    json_t *doc = NULL;
    const char *params[3] = {NULL, NULL, NULL};
    char ttl[24] = "";

    if (ab_api_begin(app, req, "agent-leases:write", true, &who, &conn))
        return 0;
    if (!(doc = ab_api_parse_object(req, false)) ||
        ab_fields_check(req, doc, fields, nfields, AB_CHECK_CREATE | AB_CHECK_DROP_NULL, "a lease"))
        goto out;
    if (fill(req, doc, &who, params, ttl, sizeof(ttl)))
        goto out;
    ab_api_answer_text(app, req, conn, "agent-leases", "the lease", sql, nparams, params, status);
    if (req->status == 429)
        snprintf(req->retry_after, sizeof(req->retry_after), "%s", BUSY_RETRY_AFTER);
out:
    json_decref(doc);
    ab_api_end(app, req, conn);
    return 0;
}

/* user_id (default: the key's user; a key without one must name it), agent_type, ttl_seconds. */
static int acquire_params(struct ab_req *req, const json_t *doc, const struct ab_caller *who,
                          const char **params, char *ttl, size_t ttl_len)
{
    const json_t *t = json_object_get(doc, "ttl_seconds");

    params[0] = json_string_value(json_object_get(doc, "user_id"));
    if (!params[0] && !who->user_id[0])
        return ab_http_error_at(req, 400, "invalid_field", "user_id",
                                "field 'user_id' is required: the key acts for no user") +
               1;
    if (!params[0])
        params[0] = who->user_id;
    params[1] = json_string_value(json_object_get(doc, "agent_type"));
    if (t) {
        snprintf(ttl, ttl_len, "%lld", (long long)json_integer_value(t));
        params[2] = ttl;
    }
    return 0;
}

static int release_params(struct ab_req *req, const json_t *doc, const struct ab_caller *who,
                          const char **params, char *ttl, size_t ttl_len)
{
    (void)req, (void)who, (void)ttl, (void)ttl_len;
    params[0] = json_string_value(json_object_get(doc, "lease_id"));
    return 0;
}

/* POST /v1/agent-assignments/acquire {user_id?, agent_type?, ttl_seconds?}: 201 with the lease. */
static int post_acquire(void *app, struct ab_req *req)
{
    return lease_call(app, req, ab_op_lease_acquire_fields, ab_op_lease_acquire_nfields,
                      "SELECT agentbase.agent_lease_acquire($1::uuid, $2, "
                      "       coalesce($3::integer, 300))::text",
                      3, 201, acquire_params);
}

/* POST /v1/agent-assignments/release {lease_id}: 200 with the lease, released. */
static int post_release(void *app, struct ab_req *req)
{
    return lease_call(app, req, ab_op_lease_release_fields, ab_op_lease_release_nfields,
                      "SELECT agentbase.agent_lease_release($1::uuid)::text", 1, 200,
                      release_params);
}

const struct ab_http_route ab_lease_routes[] = {
    {"POST", "/v1/agent-assignments/acquire", post_acquire, NULL},
    {"POST", "/v1/agent-assignments/release", post_release, NULL},
};
const size_t ab_lease_nroutes = AB_ARRAY_LEN(ab_lease_routes);
