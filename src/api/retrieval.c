/*
 * Knowledge-base retrieval: POST /v1/collections/{id-or-slug}/search answers a collection's
 * best chunks for a query embedding, a query text or both, and records the rag query;
 * POST /v1/documents/{id}/chunks adds a batch of up to 1,000 chunks in one statement.
 *
 * PostgreSQL decides everything that matters (0021_retrieval): search_chunks() checks the
 * query (dimension, top_k, strategy, filters), ranks, fuses and records the rag_queries row
 * in the request's transaction; add_chunks() checks every element, inserts them in one
 * statement and keeps the counters. Both run as the service's role under row-level
 * security, so a collection or document of another tenant is simply not found. This file
 * checks the body's shape against its field list and passes it on.
 */
#include "api/api.h"

#include <stdlib.h>

struct body {
    const struct ab_field *fields;
    size_t nfields;
    const char *what; /* for the validator's messages */
    json_t *doc;
    char *json[4]; /* members as JSON texts, freed by body_free() */
};

/* Checks the body against its fields: 0, or 1 with the answer set. */
static int check_body(struct ab_req *req, struct body *b)
{
    if (!(b->doc = ab_api_parse_object(req, false)))
        return 1;
    return ab_fields_check(req, b->doc, b->fields, b->nfields, AB_CHECK_CREATE | AB_CHECK_DROP_NULL,
                           b->what);
}

/* Member `name` of the body as a JSON text (kept in json[slot]), or NULL when absent. */
static const char *member(struct body *b, int slot, const char *name)
{
    const json_t *v = json_object_get(b->doc, name);

    b->json[slot] = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    return b->json[slot];
}

static void body_free(struct body *b)
{
    for (size_t i = 0; i < AB_ARRAY_LEN(b->json); i++)
        free(b->json[i]);
    json_decref(b->doc);
}

/* $1 the collection, $2 query_embedding (JSON), $3 query_text, $4 top_k, $5 strategy,
 * $6 filter (JSON), $7 min_score, $8 agent_id, $9 conversation_id. */
static int prepare_search(struct ab_req *req, void *ctx, const char **params)
{
    struct body *b = ctx;

    if (check_body(req, b))
        return 1;
    params[0] = req->params[0];
    params[1] = member(b, 0, "query_embedding");
    params[2] = json_string_value(json_object_get(b->doc, "query_text"));
    params[3] = member(b, 1, "top_k");
    params[4] = json_string_value(json_object_get(b->doc, "strategy"));
    params[5] = member(b, 2, "filter");
    params[6] = member(b, 3, "min_score");
    params[7] = json_string_value(json_object_get(b->doc, "agent_id"));
    params[8] = json_string_value(json_object_get(b->doc, "conversation_id"));
    return 0;
}

/* The statement after "FROM agentbase.collections c WHERE c.deleted_at IS NULL AND ". */
#define SEARCH_SQL(by)                                                                             \
    "SELECT agentbase.search_chunks(c.id, "                                                        \
    "  CASE WHEN $2::jsonb IS NOT NULL "                                                           \
    "       THEN ARRAY(SELECT x::real FROM jsonb_array_elements_text($2::jsonb) x) END, $3, "      \
    "  coalesce($4::integer, 10), $5, coalesce($6::jsonb, '{}'), $7::double precision, "           \
    "  $8::uuid, $9::uuid)::text "                                                                 \
    "  FROM agentbase.collections c WHERE c.deleted_at IS NULL AND " by

/* POST /v1/collections/{id-or-slug}/search: 200 with the ranked chunks. */
static int post_search(void *app, struct ab_req *req)
{
    struct body b = {ab_op_search_fields, ab_op_search_nfields, "a search", NULL, {NULL}};
    const char *params[9] = {0};
    bool by_id = ab_api_is_uuid(req->params[0]);

    ab_api_answer_json(app, req, "rag-queries:write",
                       by_id ? SEARCH_SQL("c.id = $1::uuid") : SEARCH_SQL("c.slug = $1"), 9, params,
                       prepare_search, &b, 200);
    body_free(&b);
    return 0;
}

static int prepare_chunks(struct ab_req *req, void *ctx, const char **params)
{
    struct body *b = ctx;

    if (!ab_api_is_uuid(req->params[0]))
        return ab_http_error(req, 404, "not_found", "document %s not found", req->params[0]) + 1;
    if (check_body(req, b))
        return 1;
    params[0] = req->params[0];
    params[1] = member(b, 0, "chunks");
    return 0;
}

/* POST /v1/documents/{id}/chunks {chunks: [...]}: 201 with the counts after it. */
static int post_chunks(void *app, struct ab_req *req)
{
    struct body b = {
        ab_op_chunk_batch_fields, ab_op_chunk_batch_nfields, "a batch of chunks", NULL, {NULL}};
    const char *params[2] = {0};

    ab_api_answer_json(app, req, "chunks:write",
                       "SELECT agentbase.add_chunks($1::uuid, $2::jsonb)::text", 2, params,
                       prepare_chunks, &b, 201);
    body_free(&b);
    return 0;
}

const struct ab_http_route ab_retrieval_routes[] = {
    {"POST", "/v1/collections/{id}/search", post_search, NULL},
    {"POST", "/v1/documents/{id}/chunks", post_chunks, NULL},
};
const size_t ab_retrieval_nroutes = AB_ARRAY_LEN(ab_retrieval_routes);
