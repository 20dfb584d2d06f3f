/*
 * Messages over HTTP: concurrent appends to one conversation get gap-free sequence numbers
 * and keep the conversation's counters exact; the list pages newest first by sequence.
 */
#include "auth/auth.h"
#include "client.h"
#include "pg/pg.h"

#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define THREADS    8
#define PER_THREAD 25

static PGconn *db;
static char tenant[40], key[64], conversation[40];

static long post(const char *path, const char *body, struct api_response *r)
{
    char auth[128];
    const char *headers[2] = {auth, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    if (api_request(body ? "POST" : "GET", path, body, body ? strlen(body) : 0, headers, r) != 0)
        return -1;
    return r->status;
}

static int setup(void **state)
{
    char slug[64], prefix[AB_KEY_PREFIX_LEN + 1], hash[65], path[128];
    const char *p[3] = {slug, prefix, hash};
    struct api_response r;
    struct ab_error err;
    json_t *doc;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_messages", &db, &err) != 0)
        return -1;
    snprintf(slug, sizeof(slug), "msg-%u", randombytes_random() % 1000000);
    ab_auth_key_new(key, prefix, hash);
    api_sql(db,
            "WITH t AS (INSERT INTO agentbase.tenants (slug, name) VALUES ($1, $1) RETURNING id) "
            "INSERT INTO agentbase.api_keys (tenant_id, name, key_prefix, key_hash, scopes) "
            "SELECT id, 'test', $2, $3, '{conversations:write,messages:write}' FROM t "
            "RETURNING tenant_id",
            3, p, tenant, sizeof(tenant));
    snprintf(path, sizeof(path), "/v1/conversations");
    if (post(path, "{\"title\": \"race\"}", &r) != 201)
        return -1;
    doc = json_loads(r.body, 0, NULL);
    snprintf(conversation, sizeof(conversation), "%s",
             json_string_value(json_object_get(doc, "id")));
    json_decref(doc);
    api_response_free(&r);
    return 0;
}

static int teardown(void **state)
{
    const char *p[1] = {tenant};

    (void)state;
    api_sql(db, "DELETE FROM agentbase.tenants WHERE id = $1", 1, p, NULL, 0);
    PQfinish(db);
    return 0;
}

static void *append(void *arg)
{
    char path[128];
    long *ok = arg;

    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conversation);
    for (int i = 0; i < PER_THREAD; i++) {
        struct api_response r;

        if (post(path, "{\"role\": \"user\", \"content\": \"hi\", \"token_count\": 2}", &r) == 201)
            (*ok)++;
        api_response_free(&r);
    }
    return NULL;
}

static void test_concurrent_appends_get_gap_free_sequence_numbers(void **state)
{
    pthread_t t[THREADS];
    long ok[THREADS] = {0}, total = 0;
    const char *p[1] = {conversation};
    char got[256];

    (void)state;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, append, &ok[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += ok[i];
    }
    assert_int_equal(total, THREADS * PER_THREAD);
    /* numbers 1..N, each once; the counters agree */
    api_sql(
        db,
        "SELECT count(*) || ' ' || count(DISTINCT sequence_number) || ' ' || min(sequence_number) "
        "       || ' ' || max(sequence_number) || ' ' || "
        "       (SELECT message_count || ' ' || total_tokens FROM agentbase.conversations "
        "         WHERE id = $1::uuid) "
        "  FROM agentbase.messages WHERE conversation_id = $1::uuid",
        1, p, got, sizeof(got));
    assert_string_equal(got, "200 200 1 200 200 400");
}

static void test_list_pages_newest_first_by_sequence(void **state)
{
    struct api_response r;
    char path[256];
    json_t *page, *data;

    (void)state;
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages?order=desc&limit=50", conversation);
    assert_int_equal(post(path, NULL, &r), 200);
    page = json_loads(r.body, 0, NULL);
    data = json_object_get(page, "data");
    assert_int_equal(json_array_size(data), 50);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(data, 0), "sequence_number")), 200);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(data, 49), "sequence_number")), 151);
    assert_string_equal(json_string_value(json_object_get(page, "next_cursor")), "151");
    api_response_free(&r);
    json_decref(page);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages?order=desc&limit=50&after=151",
             conversation);
    assert_int_equal(post(path, NULL, &r), 200);
    page = json_loads(r.body, 0, NULL);
    data = json_object_get(page, "data");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(data, 0), "sequence_number")), 150);
    api_response_free(&r);
    json_decref(page);
}

static void test_appending_to_an_unknown_or_deleted_conversation_is_404(void **state)
{
    struct api_response r;
    char path[256];
    const char *p[1] = {conversation};

    (void)state;
    assert_int_equal(post("/v1/conversations/00000000-0000-7000-8000-000000000000/messages",
                          "{\"role\": \"user\", \"content\": \"x\"}", &r),
                     404);
    api_response_free(&r);
    api_sql(db, "UPDATE agentbase.conversations SET deleted_at = now() WHERE id = $1::uuid", 1, p,
            NULL, 0);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conversation);
    assert_int_equal(post(path, "{\"role\": \"user\", \"content\": \"x\"}", &r), 404);
    api_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_appends_get_gap_free_sequence_numbers),
        cmocka_unit_test(test_list_pages_newest_first_by_sequence),
        cmocka_unit_test(test_appending_to_an_unknown_or_deleted_conversation_is_404),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
