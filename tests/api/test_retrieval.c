/*
 * Knowledge-base retrieval over HTTP (0021): batches of chunks in one request with exact
 * counters, each bad element refused by name with nothing written; search by embedding
 * (ranked as a brute-force computation in this test ranks them), by text and both fused;
 * the filters, min_score, slugs in the path, the recorded rag query, and isolation between
 * tenants; a soft-deleted document's chunks gone from every search.
 */
#include "client.h"
#include "pg/pg.h"

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define DIMS    4
#define NCHUNKS 60

static PGconn *db;
static char tenant_a[40], tenant_b[40], key_a[64], key_b[64], reader_a[64];
static char coll[40], doc1[40], doc2[40], coll_b[40];
static float vecs[NCHUNKS][DIMS];

/* Calls, checks the status and returns the parsed answer (the caller decrefs it). */
static json_t *expect(const char *key, const char *method, const char *path, const char *body,
                      long status)
{
    struct api_response r;
    json_t *doc;

    if (api_call(key, method, path, body, &r) != status)
        fail_msg("%s %s: %ld, not %ld: %s", method, path, r.status, status, r.body);
    doc = r.len ? json_loads(r.body, 0, NULL) : json_object(); /* 204: no body */
    api_response_free(&r);
    assert_non_null(doc);
    return doc;
}

/* A refusal: status, and the error's param and a part of its message. */
static void refused(const char *key, const char *path, const char *body, long status,
                    const char *param, const char *says)
{
    json_t *doc = expect(key, "POST", path, body, status);
    json_t *e = json_object_get(doc, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *got = json_string_value(json_object_get(e, "param"));

    if (param && (!got || strcmp(got, param) != 0))
        fail_msg("%s: param %s, not %s (%s)", body, got ? got : "(none)", param, msg);
    if (says && !strstr(msg ? msg : "", says))
        fail_msg("%s: message '%s' lacks '%s'", body, msg, says);
    json_decref(doc);
}

static void count(const char *q, const char *want)
{
    char got[64];
    const char *p[1] = {coll};

    api_sql(db, q, 1, p, got, sizeof(got));
    assert_string_equal(got, want);
}

/* A deterministic vector per chunk (a small LCG): the test knows every embedding. */
static void make_vectors(void)
{
    uint32_t s = 12345;

    for (int i = 0; i < NCHUNKS; i++)
        for (int d = 0; d < DIMS; d++) {
            s = s * 1103515245u + 12345u;
            vecs[i][d] = (float)((int)(s >> 16) % 2001 - 1000) / 1000.0f;
        }
}

static int setup(void **state)
{
    struct ab_error err;
    const char *p[2];
    json_t *doc;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_retrieval", &db, &err) != 0)
        return -1;
    api_make_tenant(db, "rag-a", tenant_a);
    api_make_tenant(db, "rag-b", tenant_b);
    api_make_key(db, tenant_a,
                 "collections:write,documents:write,chunks:write,rag-queries:write,"
                 "rag-queries:read",
                 "writer", key_a);
    api_make_key(db, tenant_b, "collections:write,rag-queries:write", "writer", key_b);
    api_make_key(db, tenant_a, "collections:read,chunks:read", "reader", reader_a);
    doc = expect(
        key_a, "POST", "/v1/collections",
        "{\"name\": \"Handbook\", \"embedding_model\": \"m\", \"embedding_dimensions\": 4}", 201);
    snprintf(coll, sizeof(coll), "%s", json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    p[0] = tenant_b;
    api_sql(db,
            "INSERT INTO agentbase.collections (tenant_id, name, embedding_model, "
            "embedding_dimensions) VALUES ($1, 'theirs', 'm', 4) RETURNING id",
            1, p, coll_b, sizeof(coll_b));
    p[0] = tenant_a;
    p[1] = coll;
    api_sql(db,
            "INSERT INTO agentbase.documents (tenant_id, collection_id, title) "
            "VALUES ($1, $2, 'one') RETURNING id",
            2, p, doc1, sizeof(doc1));
    api_sql(db,
            "INSERT INTO agentbase.documents (tenant_id, collection_id, title) "
            "VALUES ($1, $2, 'two') RETURNING id",
            2, p, doc2, sizeof(doc2));
    make_vectors();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    api_drop_tenant(db, tenant_a);
    api_drop_tenant(db, tenant_b);
    PQfinish(db);
    return 0;
}

/* The body of a batch of chunks [from, to) with content and metadata; chunk i has vecs[i %
 * NCHUNKS] (a batch past NCHUNKS is for the size limit). */
static char *batch(int from, int to)
{
    json_t *chunks = json_array(), *body;
    char *text;

    for (int i = from; i < to; i++) {
        json_t *e = json_array();
        char content[96];

        for (int d = 0; d < DIMS; d++)
            json_array_append_new(e, json_real(vecs[i % NCHUNKS][d]));
        snprintf(content, sizeof(content), "%s chunk number %d about %s", i % 2 ? "odd" : "even", i,
                 i % 10 == 3 ? "refund policies" : "shipping times");
        json_array_append_new(chunks, json_pack("{s:i, s:s, s:o, s:{s:s}}", "chunk_index", i,
                                                "content", content, "embedding", e, "metadata",
                                                "parity", i % 2 ? "odd" : "even"));
    }
    body = json_pack("{s:o}", "chunks", chunks);
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

static void test_a_batch_of_chunks_is_one_request_with_exact_counts(void **state)
{
    char path[96], *body;
    json_t *doc;

    (void)state;
    snprintf(path, sizeof(path), "/v1/documents/%s/chunks", doc1);
    body = batch(0, NCHUNKS / 2);
    doc = expect(key_a, "POST", path, body, 201);
    free(body);
    assert_int_equal(json_integer_value(json_object_get(doc, "added")), NCHUNKS / 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "document_chunk_count")), NCHUNKS / 2);
    assert_string_equal(json_string_value(json_object_get(doc, "processing_status")), "completed");
    json_decref(doc);
    snprintf(path, sizeof(path), "/v1/documents/%s/chunks", doc2);
    body = batch(NCHUNKS / 2, NCHUNKS);
    doc = expect(key_a, "POST", path, body, 201);
    free(body);
    assert_int_equal(json_integer_value(json_object_get(doc, "collection_chunk_count")), NCHUNKS);
    json_decref(doc);
    count("SELECT chunk_count || ' ' || document_count FROM agentbase.collections WHERE id = $1",
          "60 2");

    /* Each bad element is named, and nothing of its batch is written. */
    refused(key_a, path,
            "{\"chunks\": [{\"chunk_index\": 100, \"content\": \"a\", \"embedding\": [1,2,3,4]}, "
            "{\"chunk_index\": 101, \"content\": \"b\", \"embedding\": [1,2,3]}]}",
            400, "chunks", "chunks[1] has an embedding of 3 dimensions");
    refused(
        key_a, path,
        "{\"chunks\": [{\"chunk_index\": 100, \"content\": \"a\", \"embedding\": [1,\"x\",3,4]}]}",
        400, "chunks", "not an array of numbers");
    refused(key_a, path,
            "{\"chunks\": [{\"chunk_index\": 100, \"content\": \"a\", \"colour\": 1}]}", 400,
            "chunks", "unknown member colour");
    refused(key_a, path, "{\"chunks\": [{\"content\": \"a\"}]}", 400, "chunks", "chunk_index");
    refused(key_a, path, "{\"chunks\": []}", 400, "chunks", NULL);
    refused(key_a, path, "{\"chunks\": [{\"chunk_index\": 31, \"content\": \"again\"}]}", 409, NULL,
            NULL);
    body = batch(0, 1001);
    refused(key_a, path, body, 400, "chunks", NULL);
    free(body);
    count("SELECT chunk_count FROM agentbase.collections WHERE id = $1", "60");
    refused(key_a, "/v1/documents/00000000-0000-4000-8000-000000000000/chunks",
            "{\"chunks\": [{\"chunk_index\": 0, \"content\": \"a\"}]}", 404, NULL, NULL);
    refused(reader_a, path, "{\"chunks\": [{\"chunk_index\": 900, \"content\": \"a\"}]}", 403, NULL,
            NULL);

    /* The resource answers the embedding as the array it was given as. */
    snprintf(path, sizeof(path), "/v1/chunks?document_id=%s&limit=1", doc1);
    doc = expect(reader_a, "GET", path, NULL, 200);
    assert_true(json_is_array(
        json_object_get(json_array_get(json_object_get(doc, "data"), 0), "embedding")));
    assert_null(json_object_get(json_array_get(json_object_get(doc, "data"), 0), "content_tsv"));
    json_decref(doc);
}

static double cosine_distance(const float *a, const float *b)
{
    double ab = 0, aa = 0, bb = 0;

    for (int d = 0; d < DIMS; d++) {
        ab += (double)a[d] * b[d];
        aa += (double)a[d] * a[d];
        bb += (double)b[d] * b[d];
    }
    return 1 - ab / sqrt(aa * bb);
}

/* The chunk_index of each result, in order, into out (up to n). */
static int result_indexes(const json_t *doc, int *out, int n)
{
    const json_t *results = json_object_get(doc, "results");
    int k = 0;

    for (size_t i = 0; i < json_array_size(results) && k < n; i++)
        out[k++] =
            (int)json_integer_value(json_object_get(json_array_get(results, i), "chunk_index"));
    return k;
}

static void test_vector_search_ranks_as_brute_force_does(void **state)
{
    const float q[DIMS] = {0.3f, -0.2f, 0.9f, 0.1f};
    char path[96], body[256];
    int want[5], got[5], used[NCHUNKS] = {0};
    json_t *doc;

    (void)state;
    for (int k = 0; k < 5; k++) {
        int best = -1;

        for (int i = 0; i < NCHUNKS; i++)
            if (!used[i] &&
                (best < 0 || cosine_distance(vecs[i], q) < cosine_distance(vecs[best], q)))
                best = i;
        used[best] = 1;
        want[k] = best;
    }
    snprintf(path, sizeof(path), "/v1/collections/%s/search", coll);
    snprintf(body, sizeof(body), "{\"query_embedding\": [%g, %g, %g, %g], \"top_k\": 5}", q[0],
             q[1], q[2], q[3]);
    doc = expect(key_a, "POST", path, body, 200);
    assert_string_equal(json_string_value(json_object_get(doc, "strategy")), "vector");
    assert_int_equal(result_indexes(doc, got, 5), 5);
    for (int k = 0; k < 5; k++) {
        const json_t *r = json_array_get(json_object_get(doc, "results"), (size_t)k);
        double dist = json_number_value(json_object_get(r, "distance"));

        assert_int_equal(got[k], want[k]);
        assert_true(fabs(dist - cosine_distance(vecs[want[k]], q)) < 1e-5);
        assert_true(fabs(json_number_value(json_object_get(r, "score")) - (1 - dist / 2)) < 1e-9);
    }
    /* The rag query is recorded with what was asked and found. */
    {
        char got_row[256];
        const char *p[1] = {json_string_value(json_object_get(doc, "query_id"))};

        api_sql(db,
                "SELECT retrieval_strategy || ' ' || result_count || ' ' || top_k || ' ' || "
                "       (top_score > 0.5) FROM agentbase.rag_queries WHERE id = $1",
                1, p, got_row, sizeof(got_row));
        assert_string_equal(got_row, "similarity 5 5 true");
    }
    json_decref(doc);

    /* By slug, the same answer. */
    doc = expect(key_a, "POST", "/v1/collections/handbook/search", body, 200);
    assert_int_equal(result_indexes(doc, got, 5), 5);
    assert_int_equal(got[0], want[0]);
    json_decref(doc);

    /* Filters: one document, then metadata containment, then a score floor. */
    snprintf(body, sizeof(body),
             "{\"query_embedding\": [%g, %g, %g, %g], \"top_k\": 100, "
             "\"filter\": {\"document_ids\": [\"%s\"], \"metadata\": {\"parity\": \"odd\"}}}",
             q[0], q[1], q[2], q[3], doc2);
    doc = expect(key_a, "POST", path, body, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "results")), NCHUNKS / 4);
    for (size_t i = 0; i < json_array_size(json_object_get(doc, "results")); i++) {
        const json_t *r = json_array_get(json_object_get(doc, "results"), i);

        assert_string_equal(json_string_value(json_object_get(r, "document_id")), doc2);
        assert_int_equal(json_integer_value(json_object_get(r, "chunk_index")) % 2, 1);
    }
    json_decref(doc);
    snprintf(body, sizeof(body),
             "{\"query_embedding\": [%g, %g, %g, %g], \"top_k\": 100, \"min_score\": 0.9}", q[0],
             q[1], q[2], q[3]);
    doc = expect(key_a, "POST", path, body, 200);
    {
        int n = 0;

        for (int i = 0; i < NCHUNKS; i++)
            n += 1 - cosine_distance(vecs[i], q) / 2 >= 0.9;
        assert_int_equal((int)json_array_size(json_object_get(doc, "results")), n);
    }
    json_decref(doc);
}

static void test_text_and_hybrid_search(void **state)
{
    char path[96], body[256];
    json_t *doc, *results;

    (void)state;
    snprintf(path, sizeof(path), "/v1/collections/%s/search", coll);
    doc = expect(key_a, "POST", path, "{\"query_text\": \"refund policy\", \"top_k\": 20}", 200);
    assert_string_equal(json_string_value(json_object_get(doc, "strategy")), "text");
    results = json_object_get(doc, "results");
    assert_int_equal(json_array_size(results), NCHUNKS / 10); /* chunks 3, 13, 23 ... */
    for (size_t i = 0; i < json_array_size(results); i++) {
        const json_t *r = json_array_get(results, i);

        assert_int_equal(json_integer_value(json_object_get(r, "chunk_index")) % 10, 3);
        assert_true(json_is_null(json_object_get(r, "distance")));
    }
    json_decref(doc);

    /* Hybrid: a chunk first in both rankings has score 1 and rank 1. */
    snprintf(body, sizeof(body),
             "{\"query_embedding\": [%g, %g, %g, %g], \"query_text\": \"refund\", \"top_k\": 3, "
             "\"filter\": {\"document_ids\": [\"%s\"]}}",
             vecs[13][0], vecs[13][1], vecs[13][2], vecs[13][3], doc1);
    doc = expect(key_a, "POST", path, body, 200);
    assert_string_equal(json_string_value(json_object_get(doc, "strategy")), "hybrid");
    results = json_object_get(doc, "results");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(results, 0), "chunk_index")),
                     13);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(results, 0), "vector_rank")),
                     1);
    json_decref(doc);
}

static void test_bad_queries_and_other_tenants(void **state)
{
    char path[96], other[96], body[256];

    (void)state;
    snprintf(path, sizeof(path), "/v1/collections/%s/search", coll);
    refused(key_a, path, "{\"query_embedding\": [1, 2, 3]}", 400, "query_embedding",
            "3 dimensions, the collection expects 4");
    refused(key_a, path, "{\"query_embedding\": [1, \"a\", 3, 4]}", 400, "query_embedding", NULL);
    refused(key_a, path, "{\"query_embedding\": []}", 400, "query_embedding", NULL);
    refused(key_a, path, "{\"query_embedding\": [1, 2, 3, 4], \"top_k\": 0}", 400, "top_k", NULL);
    refused(key_a, path, "{\"query_embedding\": [1, 2, 3, 4], \"top_k\": 101}", 400, "top_k", NULL);
    refused(key_a, path, "{\"query_embedding\": [1, 2, 3, 4], \"strategy\": \"mmr\"}", 400,
            "strategy", NULL);
    refused(key_a, path, "{\"query_text\": \"x\", \"strategy\": \"vector\"}", 400,
            "query_embedding", "required for the vector strategy");
    refused(key_a, path, "{}", 400, "query_embedding", NULL);
    refused(key_a, path, "{\"query_text\": \"x\", \"filter\": {\"colour\": 1}}", 400, "filter",
            NULL);
    /* Another tenant's collection, or its document in a filter: not found. */
    snprintf(other, sizeof(other), "/v1/collections/%s/search", coll_b);
    refused(key_a, other, "{\"query_text\": \"x\"}", 404, NULL, NULL);
    snprintf(body, sizeof(body),
             "{\"query_text\": \"x\", \"filter\": {\"document_ids\": [\"%s\"]}}", doc1);
    refused(key_b, other, body, 404, NULL, "not found");
    refused(key_b, path, "{\"query_text\": \"x\"}", 404, NULL, NULL);
    refused(reader_a, path, "{\"query_text\": \"x\"}", 403, NULL, NULL);
    refused(key_a, "/v1/collections/no-such-collection/search", "{\"query_text\": \"x\"}", 404,
            NULL, NULL);
    count("SELECT count(*) FROM agentbase.rag_queries WHERE collection_id = $1 "
          "  AND query_text = 'x'",
          "0");
}

static void test_a_deleted_document_is_not_searched(void **state)
{
    char path[96];
    json_t *doc;

    (void)state;
    snprintf(path, sizeof(path), "/v1/documents/%s", doc2);
    json_decref(expect(key_a, "DELETE", path, NULL, 204));
    count("SELECT chunk_count || ' ' || document_count FROM agentbase.collections WHERE id = $1",
          "30 1");
    snprintf(path, sizeof(path), "/v1/collections/%s/search", coll);
    doc = expect(key_a, "POST", path, "{\"query_embedding\": [1, 1, 1, 1], \"top_k\": 100}", 200);
    assert_int_equal(json_array_size(json_object_get(doc, "results")), NCHUNKS / 2);
    for (size_t i = 0; i < json_array_size(json_object_get(doc, "results")); i++)
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(doc, "results"), i), "document_id")),
                            doc1);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_batch_of_chunks_is_one_request_with_exact_counts),
        cmocka_unit_test(test_vector_search_ranks_as_brute_force_does),
        cmocka_unit_test(test_text_and_hybrid_search),
        cmocka_unit_test(test_bad_queries_and_other_tenants),
        cmocka_unit_test(test_a_deleted_document_is_not_searched),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
