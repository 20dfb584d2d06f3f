/*
 * Usage accounting over HTTP: no limit is ever overshot by concurrent reservations, a
 * retried or duplicated request is counted once, each reservation resolves once, alert
 * thresholds fire once per period, overage blocks until covered, and every request keeps
 * the price it was charged. Each test works in a tenant of its own (plan enterprise, no
 * plan limits), with a provider and models made for the run.
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
#include <unistd.h>

#include <cmocka.h>

#define SHOTS 64 /* concurrent requests against a limit that covers exactly 50 */

static PGconn *db;
static char provider[40];

struct tenant {
    char id[40];
    char key[64];
};

/* ---- helpers -------------------------------------------------------------------------- */

static void sql(const char *q, const char *p1, const char *p2, char *out, size_t n)
{
    const char *p[2] = {p1, p2};

    api_sql(db, q, p2 ? 2 : p1 ? 1 : 0, p, out, n);
}

static void new_tenant(struct tenant *t)
{
    char slug[64], prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
    const char *p[3] = {slug, prefix, hash};

    snprintf(slug, sizeof(slug), "usage-%u", randombytes_random() % 100000000);
    ab_auth_key_new(t->key, prefix, hash);
    api_sql(db,
            "WITH t AS (INSERT INTO agentbase.tenants (slug, name, plan) "
            "           VALUES ($1, $1, 'enterprise') RETURNING id) "
            "INSERT INTO agentbase.api_keys (tenant_id, name, key_prefix, key_hash, scopes) "
            "SELECT id, 'test', $2, $3, "
            "'{usage:write,billing:admin,token-ledger:read,users:write}' FROM t "
            "RETURNING tenant_id",
            3, p, t->id, sizeof(t->id));
}

static void new_user(const struct tenant *t, char *out)
{
    sql("INSERT INTO agentbase.users (tenant_id, email, username) "
        "VALUES ($1, gen_random_uuid() || '@usage.test', gen_random_uuid()) RETURNING id",
        t->id, NULL, out, 40);
}

static long call(const struct tenant *t, const char *path, const char *idem, const char *body,
                 struct api_response *r)
{
    char auth[128], key[300];
    const char *headers[3] = {auth, idem ? key : NULL, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->key);
    snprintf(key, sizeof(key), "Idempotency-Key: %s", idem ? idem : "");
    if (api_request(body ? "POST" : "GET", path, body, body ? strlen(body) : 0, headers, r) != 0)
        return -1;
    return r->status;
}

/* A field of a JSON body as text ("" when missing). */
static void field(const char *body, const char *name, char *out, size_t n)
{
    json_t *doc = json_loads(body, 0, NULL), *v = json_object_get(doc, name);

    snprintf(out, n, "%s", json_is_string(v) ? json_string_value(v) : "");
    json_decref(doc);
}

static void error_code(const char *body, char *out, size_t n)
{
    json_t *doc = json_loads(body, 0, NULL);

    snprintf(out, n, "%s",
             json_string_value(json_object_get(json_object_get(doc, "error"), "code"))
                 ? json_string_value(json_object_get(json_object_get(doc, "error"), "code"))
                 : "");
    json_decref(doc);
}

static void reservation_body(char *out, size_t n, const char *user, const char *model, long in,
                             long max_out, const char *extra)
{
    snprintf(out, n,
             "{\"user_id\": \"%s\", \"provider\": \"%s\", \"model\": \"%s\", "
             "\"estimated_input_tokens\": %ld, \"max_output_tokens\": %ld%s}",
             user, provider, model, in, max_out, extra ? extra : "");
}

/* Reserves and returns the reservation id (the request must succeed). */
static void reserve(const struct tenant *t, const char *user, const char *model, long in,
                    long max_out, const char *extra, char *id)
{
    char body[512];
    struct api_response r;

    reservation_body(body, sizeof(body), user, model, in, max_out, extra);
    assert_int_equal(call(t, "/v1/usage/reservations", NULL, body, &r), 201);
    field(r.body, "id", id, 40);
    api_response_free(&r);
}

static long settle(const struct tenant *t, const char *id, const char *body, struct api_response *r)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/usage/reservations/%s/settle", id);
    return call(t, path, NULL, body, r);
}

/* Concurrent requests, released together. */
struct shot {
    const struct tenant *t;
    char path[128];
    const char *idem;
    char body[512];
    long status;
    char *answer;
};

static pthread_barrier_t gate;

static void *fire(void *arg)
{
    struct shot *s = arg;
    struct api_response r;

    pthread_barrier_wait(&gate);
    s->status = call(s->t, s->path, s->idem, s->body, &r);
    s->answer = strdup(s->status > 0 ? r.body : "");
    if (s->status > 0)
        api_response_free(&r);
    return NULL;
}

static void fire_all(struct shot *s, int n)
{
    pthread_t t[SHOTS];

    assert_true(n <= SHOTS);
    pthread_barrier_init(&gate, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&t[i], NULL, fire, &s[i]), 0);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&gate);
}

/* How many shots got status, and how many of the others got error code. */
static void tally(struct shot *s, int n, long status, const char *code, int *ok, int *refused)
{
    char got[64];

    *ok = *refused = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].status == status) {
            (*ok)++;
            continue;
        }
        error_code(s[i].answer, got, sizeof(got));
        if (s[i].status == 429 && strcmp(got, code) == 0)
            (*refused)++;
        else
            print_message("unexpected answer %ld %s\n", s[i].status, s[i].answer);
    }
}

static void free_shots(struct shot *s, int n)
{
    for (int i = 0; i < n; i++)
        free(s[i].answer);
}

/*
 * The wallet agrees with its ledger (credits - debits + adjustments = balance, reserves -
 * releases = held), held equals the open holds, and nothing is available below zero.
 */
static void assert_wallet_consistent(const char *user)
{
    char got[256];

    sql("SELECT (w.balance = l.owned AND w.held = l.held AND w.held = h.open "
        "        AND w.balance >= w.held)::text "
        "       || ' ' || w.balance || ' ' || w.held || ' ' || l.owned || ' ' || l.held "
        "  FROM agentbase.token_wallets w, "
        "       LATERAL (SELECT coalesce(sum(CASE entry_type WHEN 'credit' THEN amount "
        "                    WHEN 'debit' THEN -amount WHEN 'adjustment' THEN amount END), 0) AS "
        "owned, "
        "                       coalesce(sum(CASE entry_type WHEN 'reserve' THEN amount "
        "                    WHEN 'release' THEN -amount END), 0) AS held "
        "                  FROM agentbase.token_ledger WHERE wallet_id = w.id) l, "
        "       LATERAL (SELECT coalesce(sum(amount), 0) AS open FROM agentbase.token_holds "
        "                 WHERE wallet_id = w.id AND status = 'held') h "
        " WHERE w.user_id = $1",
        user, NULL, got, sizeof(got));
    if (strncmp(got, "true ", 5) != 0)
        fail_msg("wallet and ledger disagree: %s", got);
}

static void credit(const char *user, long tokens)
{
    char amount[32];

    snprintf(amount, sizeof(amount), "%ld", tokens);
    sql("SELECT agentbase.adjust_user_tokens($1::uuid, $2::bigint, 'credit')", user, amount, NULL,
        0);
}

/* SHOTS reservations of 300 tokens (100 in, 200 out) for user, all at once. */
static void reserve_all(const struct tenant *t, const char *user, struct shot *s)
{
    for (int i = 0; i < SHOTS; i++) {
        s[i].t = t;
        snprintf(s[i].path, sizeof(s[i].path), "/v1/usage/reservations");
        reservation_body(s[i].body, sizeof(s[i].body), user, "m", 100, 200, NULL);
    }
    fire_all(s, SHOTS);
}

/* ---- setup ---------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct ab_error err;
    const char *p[1] = {provider};

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_usage", &db, &err) != 0)
        return -1;
    snprintf(provider, sizeof(provider), "usage-test-%u", randombytes_random() % 100000000);
    /* m: 10 USD per 1M input, 20 per 1M output, 5 per 1M cached; a reservation of 100 in and
     * 200 out is estimated at 0.005 USD. m2 is for the price change. */
    api_sql(db,
            "WITH p AS (INSERT INTO agentbase.ai_providers (name, display_name) VALUES ($1, $1) "
            "           RETURNING id), "
            "     m AS (INSERT INTO agentbase.ai_models (provider_id, name, display_name, "
            "           context_window) SELECT id, n, n, 100000 FROM p, unnest('{m,m2}'::text[]) n "
            "           RETURNING id) "
            "INSERT INTO agentbase.ai_model_prices (model_id, effective_from, input_per_1m, "
            "       output_per_1m, cached_input_per_1m) "
            "SELECT id, now() - interval '1 day', 10, 20, 5 FROM m",
            1, p, NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    const char *p[1] = {provider};

    (void)state;
    api_sql(db, "DELETE FROM agentbase.tenants WHERE slug LIKE 'usage-%'", 0, NULL, NULL, 0);
    api_sql(db, "DELETE FROM agentbase.ai_providers WHERE name = $1", 1, p, NULL, 0);
    PQfinish(db);
    return 0;
}

/* ---- no overshoot ----------------------------------------------------------------------- */

static void test_a_wallet_covering_50_reservations_grants_exactly_50_of_64(void **state)
{
    struct tenant t;
    struct shot s[SHOTS] = {0};
    char user[40], got[128];
    int ok, refused;

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    credit(user, 50 * 300);
    reserve_all(&t, user, s);
    tally(s, SHOTS, 201, "insufficient_tokens", &ok, &refused);
    assert_int_equal(ok, 50);
    assert_int_equal(refused, SHOTS - 50);
    sql("SELECT balance || ' ' || held FROM agentbase.token_wallets WHERE user_id = $1", user, NULL,
        got, sizeof(got));
    assert_string_equal(got, "15000 15000");
    assert_wallet_consistent(user);

    /* Settling them all at once (150 tokens each) debits exactly what was used. */
    for (int i = 0, j = 0; i < SHOTS; i++) {
        if (s[i].status != 201)
            continue;
        field(s[i].answer, "id", got, 40);
        snprintf(s[j].path, sizeof(s[j].path), "/v1/usage/reservations/%s/settle", got);
        snprintf(s[j].body, sizeof(s[j].body),
                 "{\"input_tokens\": 50, \"output_tokens\": 100, \"latency_ms\": 20}");
        j++;
    }
    free_shots(s, SHOTS);
    fire_all(s, 50);
    tally(s, 50, 200, "", &ok, &refused);
    assert_int_equal(ok, 50);
    free_shots(s, 50);
    sql("SELECT balance || ' ' || held || ' ' || overage FROM agentbase.token_wallets "
        "WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "7500 0 0");
    sql("SELECT count(*) || ' ' || sum(total_tokens) FROM agentbase.ai_requests WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "50 7500");
    assert_wallet_consistent(user);
}

static void test_a_budget_covering_50_reservations_grants_exactly_50_of_64(void **state)
{
    struct tenant t;
    struct shot s[SHOTS] = {0};
    char user[40], got[128];
    int ok, refused;

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    sql("INSERT INTO agentbase.user_budgets (tenant_id, user_id, name, amount_usd) "
        "SELECT tenant_id, id, 'exact', 0.25 FROM agentbase.users WHERE id = $1",
        user, NULL, NULL, 0);
    reserve_all(&t, user, s);
    tally(s, SHOTS, 201, "budget_exceeded", &ok, &refused);
    assert_int_equal(ok, 50);
    assert_int_equal(refused, SHOTS - 50);
    free_shots(s, SHOTS);
    sql("SELECT reserved_usd::numeric(20,4) || ' ' || spent_usd::numeric(20,4) "
        "  FROM agentbase.user_budgets WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "0.2500 0.0000");
    sql("SELECT count(*) FROM agentbase.token_holds WHERE user_id = $1 AND status = 'held'", user,
        NULL, got, sizeof(got));
    assert_string_equal(got, "50");
}

static void test_a_daily_quota_covering_50_reservations_grants_exactly_50_of_64(void **state)
{
    struct tenant t;
    struct shot s[SHOTS] = {0};
    char user[40], got[128];
    int ok, refused;

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    sql("INSERT INTO agentbase.quotas (tenant_id, user_id, daily_token_limit) "
        "SELECT tenant_id, id, 15000 FROM agentbase.users WHERE id = $1",
        user, NULL, NULL, 0);
    reserve_all(&t, user, s);
    tally(s, SHOTS, 201, "quota_exceeded", &ok, &refused);
    assert_int_equal(ok, 50);
    assert_int_equal(refused, SHOTS - 50);
    /* A quota refusal says when the quota resets. */
    for (int i = 0; i < SHOTS; i++)
        if (s[i].status == 429)
            assert_non_null(strstr(s[i].answer, "\"daily_tokens\""));
    free_shots(s, SHOTS);
    sql("SELECT tokens_reserved || ' ' || tokens_used_today || ' ' || requests_today "
        "  FROM agentbase.quotas WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "15000 0 50");
}

/*
 * One batch holds many users of a tenant and many tenants: a tenant-wide budget covering
 * 30 reservations grants exactly 30 of 48 spread over 8 users, while, at the same moment,
 * another tenant's wallet covering 10 grants exactly 10 of 16; then all 40 are settled at
 * once, and every counter agrees with the rows.
 */
static void test_limits_hold_across_users_and_tenants_of_one_batch(void **state)
{
    struct tenant t1, t2;
    struct shot s[SHOTS] = {0};
    char users[9][40], got[256];
    int ok, refused;

    (void)state;
    new_tenant(&t1);
    new_tenant(&t2);
    for (int u = 0; u < 8; u++) {
        new_user(&t1, users[u]);
        credit(users[u], 1000000);
    }
    new_user(&t2, users[8]);
    credit(users[8], 10 * 300);
    sql("INSERT INTO agentbase.user_budgets (tenant_id, name, amount_usd) "
        "VALUES ($1, 'everyone', 0.15)",
        t1.id, NULL, NULL, 0);
    for (int i = 0; i < SHOTS; i++) {
        s[i].t = i < 48 ? &t1 : &t2;
        snprintf(s[i].path, sizeof(s[i].path), "/v1/usage/reservations");
        reservation_body(s[i].body, sizeof(s[i].body), users[i < 48 ? i % 8 : 8], "m", 100, 200,
                         NULL);
    }
    fire_all(s, SHOTS);
    tally(s, 48, 201, "budget_exceeded", &ok, &refused);
    assert_int_equal(ok, 30);
    assert_int_equal(refused, 18);
    tally(s + 48, 16, 201, "insufficient_tokens", &ok, &refused);
    assert_int_equal(ok, 10);
    assert_int_equal(refused, 6);
    sql("SELECT reserved_usd::numeric(20,4) || ' ' || "
        "       (SELECT sum(held) FROM agentbase.token_wallets w WHERE w.tenant_id = b.tenant_id) "
        "  FROM agentbase.user_budgets b WHERE tenant_id = $1",
        t1.id, NULL, got, sizeof(got));
    assert_string_equal(got, "0.1500 9000");

    for (int i = 0, j = 0; i < SHOTS; i++) {
        if (s[i].status != 201)
            continue;
        field(s[i].answer, "id", got, 40);
        s[j].t = s[i].t;
        snprintf(s[j].path, sizeof(s[j].path), "/v1/usage/reservations/%s/settle", got);
        snprintf(s[j].body, sizeof(s[j].body), "{\"input_tokens\": 50, \"output_tokens\": 100}");
        j++;
    }
    free_shots(s, SHOTS);
    fire_all(s, 40);
    tally(s, 40, 200, "", &ok, &refused);
    assert_int_equal(ok, 40);
    free_shots(s, 40);
    /* 30 calls of 0.0025 USD against the tenant budget; 150 tokens each from the wallets. */
    sql("SELECT reserved_usd::numeric(20,4) || ' ' || spent_usd::numeric(20,4) || ' ' || "
        "       (SELECT sum(1000000 - balance) || ' ' || sum(held) FROM agentbase.token_wallets w "
        "         WHERE w.tenant_id = b.tenant_id) "
        "  FROM agentbase.user_budgets b WHERE tenant_id = $1",
        t1.id, NULL, got, sizeof(got));
    assert_string_equal(got, "0.0000 0.0750 4500 0");
    sql("SELECT balance || ' ' || held FROM agentbase.token_wallets WHERE user_id = $1", users[8],
        NULL, got, sizeof(got));
    assert_string_equal(got, "1500 0");
    for (int u = 0; u < 9; u++)
        assert_wallet_consistent(users[u]);
}

/* Suspending a tenant refuses new reservations (429) but still records the calls it made. */
static void test_a_suspended_tenant_settles_what_it_reserved_and_reserves_nothing_more(void **state)
{
    struct tenant t;
    struct api_response r;
    char user[40], id[40], body[512], got[64];

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    credit(user, 1000);
    reserve(&t, user, "m", 100, 200, NULL, id);
    sql("UPDATE agentbase.tenants SET status = 'suspended' WHERE id = $1", t.id, NULL, NULL, 0);
    reservation_body(body, sizeof(body), user, "m", 100, 200, NULL);
    assert_int_equal(call(&t, "/v1/usage/reservations", NULL, body, &r), 429);
    error_code(r.body, got, sizeof(got));
    assert_string_equal(got, "tenant_suspended");
    api_response_free(&r);
    assert_int_equal(settle(&t, id, "{\"input_tokens\": 100, \"output_tokens\": 50}", &r), 200);
    api_response_free(&r);
    /* Everything else of the tenant is closed to its keys. */
    assert_int_equal(call(&t, "/v1/usage/summary", NULL, NULL, &r), 403);
    api_response_free(&r);
    sql("SELECT balance || ' ' || held FROM agentbase.token_wallets WHERE user_id = $1", user, NULL,
        got, sizeof(got));
    assert_string_equal(got, "850 0");
    assert_wallet_consistent(user);
}

static void test_plan_limits_refuse_with_retry_after(void **state)
{
    struct tenant t;
    struct api_response r;
    char user[40], body[512], id[40], retry[16];

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    sql("UPDATE agentbase.tenants SET limits = '{\"daily_request_limit\": 2}' WHERE id = $1", t.id,
        NULL, NULL, 0);
    reserve(&t, user, "m", 10, 10, NULL, id);
    reserve(&t, user, "m", 10, 10, NULL, id);
    reservation_body(body, sizeof(body), user, "m", 10, 10, NULL);
    assert_int_equal(call(&t, "/v1/usage/reservations", NULL, body, &r), 429);
    error_code(r.body, id, sizeof(id));
    assert_string_equal(id, "quota_exceeded");
    api_header(&r, "Retry-After", retry, sizeof(retry));
    assert_true(atoi(retry) > 0 && atoi(retry) <= 86400);
    api_response_free(&r);
}

/* ---- idempotency ------------------------------------------------------------------------ */

/* n copies of one request at once: all get the same status and byte-identical bodies. */
static void assert_same_answers(struct shot *s, int n, long status)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(s[i].status, status);
        assert_string_equal(s[i].answer, s[0].answer);
    }
}

static void test_a_reservation_sent_8_times_at_once_is_made_once(void **state)
{
    struct tenant t;
    struct shot s[8] = {0};
    struct api_response r;
    char user[40], got[128], id[40], body[512];

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    credit(user, 1000);
    for (int i = 0; i < 8; i++) {
        s[i].t = &t;
        s[i].idem = "reserve-once";
        snprintf(s[i].path, sizeof(s[i].path), "/v1/usage/reservations");
        reservation_body(s[i].body, sizeof(s[i].body), user, "m", 100, 200, NULL);
    }
    fire_all(s, 8);
    assert_same_answers(s, 8, 201);
    field(s[0].answer, "id", id, sizeof(id));
    sql("SELECT count(*) || ' ' || (SELECT count(*) FROM agentbase.token_ledger "
        "                            WHERE user_id = $1 AND entry_type = 'reserve') "
        "  FROM agentbase.token_holds WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "1 1");
    /* A later retry gets the same answer, marked as replayed. */
    assert_int_equal(call(&t, "/v1/usage/reservations", "reserve-once", s[0].body, &r), 201);
    assert_string_equal(r.body, s[0].answer);
    api_header(&r, "Idempotent-Replayed", got, sizeof(got));
    assert_string_equal(got, "true");
    api_response_free(&r);
    /* The same key with another request is refused. */
    reservation_body(body, sizeof(body), user, "m", 1, 1, NULL);
    assert_int_equal(call(&t, "/v1/usage/reservations", "reserve-once", body, &r), 422);
    api_response_free(&r);
    free_shots(s, 8);

    /* The settle, 8 times at once: one ai_requests row, one debit, identical answers. */
    for (int i = 0; i < 8; i++) {
        s[i].idem = NULL;
        snprintf(s[i].path, sizeof(s[i].path), "/v1/usage/reservations/%s/settle", id);
        snprintf(s[i].body, sizeof(s[i].body), "{\"input_tokens\": 90, \"output_tokens\": 10}");
    }
    fire_all(s, 8);
    assert_same_answers(s, 8, 200);
    free_shots(s, 8);
    sql("SELECT count(*) || ' ' || (SELECT count(*) FROM agentbase.token_ledger "
        "                            WHERE user_id = $1 AND entry_type = 'debit') "
        "  FROM agentbase.ai_requests WHERE reservation_id = $2",
        user, id, got, sizeof(got));
    assert_string_equal(got, "1 1");
    assert_wallet_consistent(user);
}

static void test_an_event_sent_8_times_at_once_is_counted_once(void **state)
{
    struct tenant t;
    struct shot s[8] = {0};
    char user[40], got[128];

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    for (int i = 0; i < 8; i++) {
        s[i].t = &t;
        s[i].idem = "event-once";
        snprintf(s[i].path, sizeof(s[i].path), "/v1/usage/events");
        snprintf(s[i].body, sizeof(s[i].body),
                 "{\"user_id\": \"%s\", \"provider\": \"%s\", \"model\": \"m\", "
                 "\"input_tokens\": 1000, \"output_tokens\": 500, \"cached_tokens\": 200}",
                 user, provider);
    }
    fire_all(s, 8);
    assert_same_answers(s, 8, 201);
    free_shots(s, 8);
    /* (800 x 10 + 200 x 5 + 500 x 20) / 1M = 0.019 USD */
    sql("SELECT count(*) || ' ' || sum(total_cost)::numeric(10,4) FROM agentbase.ai_requests "
        "WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "1 0.0190");
    sql("SELECT request_count || ' ' || total_tokens || ' ' || total_cost::numeric(10,4) "
        "  FROM agentbase.cost_tracking WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "1 1500 0.0190");
}

/* ---- one resolution per reservation ----------------------------------------------------- */

static void expect(const struct tenant *t, const char *id, const char *action, long status,
                   const char *code)
{
    char path[128], got[64];
    struct api_response r;

    snprintf(path, sizeof(path), "/v1/usage/reservations/%s/%s", id, action);
    assert_int_equal(
        call(t, path, NULL,
             strcmp(action, "settle") == 0 ? "{\"input_tokens\": 1, \"output_tokens\": 1}" : "",
             &r),
        status);
    error_code(r.body, got, sizeof(got));
    assert_string_equal(got, code);
    api_response_free(&r);
}

static void test_each_reservation_resolves_once(void **state)
{
    struct tenant t, other;
    char user[40], id[40], got[128];

    (void)state;
    new_tenant(&t);
    new_tenant(&other);
    new_user(&t, user);
    credit(user, 10000);

    reserve(&t, user, "m", 10, 10, NULL, id);
    expect(&other, id, "settle", 404, "not_found"); /* another tenant cannot see it */
    expect(&t, id, "release", 200, "");
    expect(&t, id, "release", 200, ""); /* the first answer again */
    expect(&t, id, "settle", 409, "reservation_released");

    reserve(&t, user, "m", 10, 10, NULL, id);
    expect(&t, id, "settle", 200, "");
    expect(&t, id, "release", 409, "reservation_settled");

    reserve(&t, user, "m", 10, 10, NULL, id);
    sql("UPDATE agentbase.token_holds SET expires_at = now() - interval '1 second' "
        "WHERE id = $1",
        id, NULL, NULL, 0);
    expect(&t, id, "settle", 409, "reservation_expired");
    expect(&t, id, "release", 409, "reservation_expired");
    expect(&t, "01a20000-0000-7000-8000-000000000000", "settle", 404, "not_found");
    expect(&t, "not-a-uuid", "settle", 404, "not_found");
    sql("SELECT string_agg(status, ',' ORDER BY created_at) FROM agentbase.token_holds "
        "WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "released,settled,expired");
    assert_wallet_consistent(user);
}

static void test_the_server_releases_expired_reservations(void **state)
{
    struct tenant t;
    char user[40], id[40], got[64] = "";

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    credit(user, 1000);
    reserve(&t, user, "m", 100, 100, ", \"expires_in_seconds\": 1", id);
    for (int i = 0; i < 100 && strcmp(got, "expired") != 0; i++) {
        usleep(100 * 1000);
        sql("SELECT status FROM agentbase.token_holds WHERE id = $1", id, NULL, got, sizeof(got));
    }
    assert_string_equal(got, "expired");
    sql("SELECT held FROM agentbase.token_wallets WHERE user_id = $1", user, NULL, got,
        sizeof(got));
    assert_string_equal(got, "0");
    assert_wallet_consistent(user);
}

/* ---- alerts, overage, prices ------------------------------------------------------------ */

static void test_budget_thresholds_fire_once_per_period_under_concurrency(void **state)
{
    struct tenant t;
    struct shot s[20] = {0};
    struct api_response r;
    char user[40], got[128], budget[40], body[512];
    int ok, refused;

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    sql("INSERT INTO agentbase.user_budgets (tenant_id, user_id, name, amount_usd, hard_limit) "
        "SELECT tenant_id, id, 'soft', 1, false FROM agentbase.users WHERE id = $1 RETURNING id",
        user, NULL, budget, sizeof(budget));
    /* 20 calls of 0.1 USD (10,000 input tokens) at once: 200% of the budget */
    for (int i = 0; i < 20; i++) {
        s[i].t = &t;
        snprintf(s[i].path, sizeof(s[i].path), "/v1/usage/events");
        snprintf(s[i].body, sizeof(s[i].body),
                 "{\"user_id\": \"%s\", \"provider\": \"%s\", \"model\": \"m\", "
                 "\"input_tokens\": 10000, \"output_tokens\": 0}",
                 user, provider);
    }
    fire_all(s, 20);
    tally(s, 20, 201, "", &ok, &refused);
    assert_int_equal(ok, 20);
    free_shots(s, 20);
    sql("SELECT string_agg(threshold::text, ',' ORDER BY threshold) || ' ' || "
        "       (SELECT count(*) FROM agentbase.system_alerts WHERE resource_id = $1::text "
        "           AND alert_type = 'budget_threshold') "
        "  FROM agentbase.budget_alert_events WHERE budget_id = $1::uuid",
        budget, NULL, got, sizeof(got));
    assert_string_equal(got, "50,80,100 3");

    /* A new period starts from zero and fires again: move this period into the past. */
    sql("WITH b AS (UPDATE agentbase.user_budgets "
        "              SET period_start = period_start - interval '1 month' WHERE id = $1) "
        "UPDATE agentbase.budget_alert_events "
        "   SET period_start = period_start - interval '1 month' WHERE budget_id = $1",
        budget, NULL, NULL, 0);
    snprintf(body, sizeof(body),
             "{\"user_id\": \"%s\", \"provider\": \"%s\", \"model\": \"m\", "
             "\"input_tokens\": 60000, \"output_tokens\": 0}",
             user, provider);
    assert_int_equal(call(&t, "/v1/usage/events", NULL, body, &r), 201);
    api_response_free(&r);
    sql("SELECT count(*) || ' ' || count(DISTINCT period_start) || ' ' || "
        "       (SELECT spent_usd::numeric(10,2) FROM agentbase.user_budgets WHERE id = $1) "
        "  FROM agentbase.budget_alert_events WHERE budget_id = $1::uuid",
        budget, NULL, got, sizeof(got));
    assert_string_equal(got, "4 2 0.60");
}

static void test_overage_blocks_reservations_until_credits_cover_it(void **state)
{
    struct tenant t;
    struct api_response r;
    char user[40], id[40], got[128], body[512], path[128];

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    credit(user, 1000);
    reserve(&t, user, "m", 100, 800, NULL, id);
    /* The call used 5,000 tokens (within what the reservation allows): 1,000 are covered,
     * 4,000 are overage. */
    assert_int_equal(settle(&t, id, "{\"input_tokens\": 4120, \"output_tokens\": 880}", &r), 200);
    assert_non_null(strstr(r.body, "\"overage_tokens\": 4000"));
    api_response_free(&r);
    sql("SELECT balance || ' ' || overage FROM agentbase.token_wallets WHERE user_id = $1", user,
        NULL, got, sizeof(got));
    assert_string_equal(got, "0 4000");
    sql("SELECT count(*) FROM agentbase.system_alerts a JOIN agentbase.token_wallets w "
        "    ON a.resource_id = w.id::text WHERE w.user_id = $1 AND a.alert_type = 'overage'",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "1");

    reservation_body(body, sizeof(body), user, "m", 10, 10, NULL);
    assert_int_equal(call(&t, "/v1/usage/reservations", NULL, body, &r), 429);
    error_code(r.body, got, sizeof(got));
    assert_string_equal(got, "insufficient_tokens");
    api_response_free(&r);

    /* A credit through the API pays the overage back at the next reservation. */
    sql("SELECT id FROM agentbase.token_wallets WHERE user_id = $1", user, NULL, got, sizeof(got));
    snprintf(path, sizeof(path), "/v1/wallets/%s/adjust", got);
    assert_int_equal(
        call(&t, path, "credit-1", "{\"direction\": \"credit\", \"amount\": 5000}", &r), 200);
    api_response_free(&r);
    assert_int_equal(call(&t, "/v1/usage/reservations", NULL, body, &r), 201);
    api_response_free(&r);
    sql("SELECT balance || ' ' || held || ' ' || overage FROM agentbase.token_wallets "
        "WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "1000 20 0");
    assert_wallet_consistent(user);
}

/*
 * A settle records at most what its reservation allows (twice the estimated input or 4,096
 * more, max_output_tokens and a tenth), so that one call cannot book an overage that blocks
 * the tenant's plan: more is a 422 naming the field, and the reservation stays open.
 */
static void test_a_settle_records_at_most_what_its_reservation_allows(void **state)
{
    struct tenant t;
    struct api_response r;
    char user[40], id[40], got[512];

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    credit(user, 1000);
    reserve(&t, user, "m", 20, 10, NULL, id);
    assert_int_equal(settle(&t, id, "{\"input_tokens\": 10000000000, \"output_tokens\": 1}", &r),
                     422);
    assert_non_null(strstr(r.body, "field input_tokens: 10000000000 is more than reservation"));
    assert_non_null(strstr(r.body, "at most 4116"));
    api_response_free(&r);
    assert_int_equal(settle(&t, id, "{\"input_tokens\": 4116, \"output_tokens\": 75}", &r), 422);
    assert_non_null(strstr(r.body, "field output_tokens: 75"));
    assert_non_null(strstr(r.body, "at most 74"));
    api_response_free(&r);
    sql("SELECT status || ' ' || (SELECT overage FROM agentbase.token_wallets WHERE user_id = $1) "
        "FROM agentbase.token_holds WHERE id = $2::uuid",
        user, id, got, sizeof(got));
    assert_string_equal(got, "held 0");
    assert_int_equal(settle(&t, id, "{\"input_tokens\": 4116, \"output_tokens\": 74}", &r), 200);
    api_response_free(&r);
    sql("SELECT status FROM agentbase.token_holds WHERE id = $1::uuid", id, NULL, got, sizeof(got));
    assert_string_equal(got, "settled");
    assert_wallet_consistent(user);
}

/*
 * The wallet endpoints: adjustments through adjust_user_tokens (never below zero, once per
 * Idempotency-Key), the ledger they write, filtered, and a plan level's monthly allocation,
 * credited once a month.
 */
static void test_wallet_adjustments_the_ledger_and_level_allocation(void **state)
{
    struct tenant t;
    struct api_response r;
    char user[40], wallet[40], got[256], want[64], path[160], body[96];

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    credit(user, 100);
    sql("SELECT id FROM agentbase.token_wallets WHERE user_id = $1", user, NULL, wallet,
        sizeof(wallet));
    snprintf(path, sizeof(path), "/v1/wallets/%s/adjust", wallet);

    assert_int_equal(call(&t, path, NULL, "{\"direction\": \"debit\", \"amount\": 101}", &r), 409);
    error_code(r.body, got, sizeof(got));
    assert_string_equal(got, "insufficient_tokens");
    api_response_free(&r);
    assert_int_equal(call(&t, path, NULL, "{\"direction\": \"refund\", \"amount\": 1}", &r), 400);
    api_response_free(&r);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(call(&t, path, "debit-40",
                              "{\"direction\": \"debit\", \"amount\": 40, \"reason\": \"test\"}",
                              &r),
                         200);
        assert_non_null(strstr(r.body, "\"available\": 60"));
        api_response_free(&r);
    }
    snprintf(path, sizeof(path), "/v1/wallets/%s/adjust", "00000000-0000-4000-8000-000000000000");
    assert_int_equal(call(&t, path, NULL, "{\"direction\": \"credit\", \"amount\": 1}", &r), 404);
    api_response_free(&r);

    /* The wallet's ledger: the credit and the one debit (its retry wrote none). */
    snprintf(path, sizeof(path), "/v1/token-ledger?wallet_id=%s", wallet);
    assert_int_equal(call(&t, path, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"amount\": 40"));
    assert_non_null(strstr(r.body, "\"entry_type\": \"debit\""));
    api_response_free(&r);
    sql("SELECT count(*) FROM agentbase.token_ledger WHERE wallet_id = $1", wallet, NULL, got,
        sizeof(got));
    assert_string_equal(got, "2");

    /* A level credits the plan's monthly allocation, once this month. */
    snprintf(path, sizeof(path), "/v1/users/%s/level", user);
    assert_int_equal(call(&t, path, NULL, "{\"level\": \"pro\"}", &r), 200);
    api_response_free(&r);
    assert_int_equal(call(&t, path, NULL, "{\"level\": \"pro\"}", &r), 200);
    api_response_free(&r);
    assert_int_equal(call(&t, path, NULL, "{\"level\": \"gold\"}", &r), 400);
    assert_non_null(strstr(r.body, "no active plan has it"));
    api_response_free(&r);
    /* By the plan's id as well: the same level, and still once a month. */
    sql("SELECT '{\"level\": \"' || id || '\"}' FROM agentbase.subscription_plans "
        "WHERE level = 'pro'",
        NULL, NULL, body, sizeof(body));
    assert_int_equal(call(&t, path, NULL, body, &r), 200);
    assert_non_null(strstr(r.body, "\"level\": \"pro\""));
    api_response_free(&r);
    sql("SELECT 60 + monthly_token_allocation FROM agentbase.subscription_plans "
        "WHERE level = 'pro'",
        NULL, NULL, want, sizeof(want));
    sql("SELECT balance || ' ' || level FROM agentbase.token_wallets WHERE id = $1", wallet, NULL,
        got, sizeof(got));
    assert_string_equal(got, strcat(want, " pro"));
    assert_wallet_consistent(user);
}

static void test_a_future_price_applies_from_its_date_and_rows_keep_theirs(void **state)
{
    struct tenant t;
    struct api_response r;
    char user[40], id[40], got[128], later[64] = "";
    const char *p[1] = {provider};

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    api_sql(db,
            "INSERT INTO agentbase.ai_model_prices (model_id, effective_from, input_per_1m, "
            "       output_per_1m) "
            "SELECT m.id, now() + interval '2 seconds', 100, 200 FROM agentbase.ai_models m "
            "  JOIN agentbase.ai_providers p ON p.id = m.provider_id "
            " WHERE p.name = $1 AND m.name = 'm2' RETURNING effective_from",
            1, p, later, sizeof(later));
    reserve(&t, user, "m2", 1000, 10, NULL, id);
    assert_int_equal(settle(&t, id, "{\"input_tokens\": 1000, \"output_tokens\": 0}", &r), 200);
    api_response_free(&r);
    do {
        usleep(200 * 1000);
        sql("SELECT (now() >= $1::timestamptz)::text", later, NULL, got, sizeof(got));
    } while (strcmp(got, "true") != 0);
    reserve(&t, user, "m2", 1000, 10, NULL, id);
    assert_int_equal(settle(&t, id, "{\"input_tokens\": 1000, \"output_tokens\": 0}", &r), 200);
    api_response_free(&r);
    sql("SELECT string_agg(input_per_1m::numeric(10,0) || ':' || total_cost::numeric(10,3), ',' "
        "                  ORDER BY created_at) "
        "  FROM agentbase.ai_requests WHERE user_id = $1",
        user, NULL, got, sizeof(got));
    assert_string_equal(got, "10:0.010,100:0.100");
}

/* ---- reports and bad input -------------------------------------------------------------- */

static void test_the_summary_groups_the_rollups(void **state)
{
    struct tenant t;
    struct api_response r;
    char users[2][40], body[512];
    json_t *doc;

    (void)state;
    new_tenant(&t);
    new_user(&t, users[0]);
    new_user(&t, users[1]);
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof(body),
                 "{\"user_id\": \"%s\", \"provider\": \"%s\", \"model\": \"m\", "
                 "\"input_tokens\": 100, \"output_tokens\": 50, \"latency_ms\": %d, "
                 "\"status\": \"%s\"}",
                 users[i % 2], provider, 100 * (i + 1), i == 2 ? "error" : "success");
        assert_int_equal(call(&t, "/v1/usage/events", NULL, body, &r), 201);
        api_response_free(&r);
    }
    assert_int_equal(call(&t, "/v1/usage/summary?group_by=user", NULL, NULL, &r), 200);
    doc = json_loads(r.body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(doc, "groups")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "totals"), "requests")), 3);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "totals"), "total_tokens")), 450);
    assert_true(json_real_value(
                    json_object_get(json_object_get(doc, "totals"), "avg_latency_ms")) == 200.0);
    json_decref(doc);
    api_response_free(&r);
    for (int i = 0; i < 5; i++) {
        static const char *const by[] = {"model", "user", "agent", "day", "hour"};
        char path[128];

        snprintf(path, sizeof(path), "/v1/usage/summary?group_by=%s&from=2026-01-01", by[i]);
        assert_int_equal(call(&t, path, NULL, NULL, &r), 200);
        api_response_free(&r);
    }
    /* A period without calls adds up to zero, not to nothing. */
    assert_int_equal(call(&t, "/v1/usage/summary?from=2020-01-01&to=2020-01-02", NULL, NULL, &r),
                     200);
    doc = json_loads(r.body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(doc, "groups")), 0);
    assert_true(json_is_integer(json_object_get(json_object_get(doc, "totals"), "requests")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "totals"), "requests")), 0);
    json_decref(doc);
    api_response_free(&r);
    assert_int_equal(call(&t, "/v1/usage/summary?group_by=planet", NULL, NULL, &r), 400);
    api_response_free(&r);
    assert_int_equal(call(&t, "/v1/usage/summary?from=yesterday", NULL, NULL, &r), 400);
    api_response_free(&r);
}

/* A platform key acting in a tenant that does not exist: 404, and nothing is counted. */
static void test_a_platform_key_naming_no_tenant_gets_404(void **state)
{
    char key[64], prefix[AB_KEY_PREFIX_LEN + 1], hash[65], auth[128], body[512], got[64];
    const char *p[2] = {prefix, hash};
    const char *nobody = "01a20000-0000-7000-8000-0000000000aa";
    const char *headers[3] = {auth, "Agentbase-Tenant: 01a20000-0000-7000-8000-0000000000aa", NULL};
    struct api_response r;

    (void)state;
    ab_auth_key_new(key, prefix, hash);
    api_sql(db,
            "INSERT INTO agentbase.platform_api_keys (name, key_prefix, key_hash, scopes) "
            "VALUES ('usage-test', $1, $2, '{admin}')",
            2, p, NULL, 0);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    reservation_body(body, sizeof(body), nobody, "m", 1, 1, NULL);
    assert_int_equal(api_request("POST", "/v1/usage/reservations", body, strlen(body), headers, &r),
                     0);
    assert_int_equal(r.status, 404);
    error_code(r.body, got, sizeof(got));
    assert_string_equal(got, "not_found");
    api_response_free(&r);
    api_sql(db, "DELETE FROM agentbase.platform_api_keys WHERE name = 'usage-test'", 0, NULL, NULL,
            0);
    sql("SELECT count(*) FROM agentbase.tenant_quotas WHERE tenant_id = $1", nobody, NULL, got,
        sizeof(got));
    assert_string_equal(got, "0");
}

static void test_bad_requests_get_clear_errors_and_change_nothing(void **state)
{
    struct tenant t;
    struct api_response r;
    char user[40], body[512], got[64];
    static const struct {
        const char *body;
        long status;
    } cases[] = {
        {"{\"estimated_input_tokens\": 1, \"max_output_tokens\": 1}", 400}, /* no model */
        {"{\"model\": \"m\", \"estimated_input_tokens\": -1, \"max_output_tokens\": 1}", 400},
        {"{\"model\": \"m\", \"estimated_input_tokens\": 1, \"max_output_tokens\": 0}", 400},
        {"{\"model\": \"m\", \"estimated_input_tokens\": 1, \"max_output_tokens\": 1, "
         "\"colour\": 1}",
         400},
        {"{\"model\": \"m\", \"estimated_input_tokens\": \"1\", \"max_output_tokens\": 1}", 400},
        {"{\"model\": \"nope\", \"estimated_input_tokens\": 1, \"max_output_tokens\": 1}", 422},
        {"{\"model\": \"m\", \"estimated_input_tokens\": 1, \"max_output_tokens\": 1, "
         "\"agent_id\": \"01a20000-0000-7000-8000-000000000000\"}",
         422},
        {"{\"model\": \"m\", \"estimated_input_tokens\": 1, \"max_output_tokens\": 1, "
         "\"expires_in_seconds\": 0}",
         400},
    };

    (void)state;
    new_tenant(&t);
    new_user(&t, user);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* every case names the user and provider; the rest is the case's */
        snprintf(body, sizeof(body), "{\"user_id\": \"%s\", \"provider\": \"%s\", %s", user,
                 provider, cases[i].body + 1);
        assert_int_equal(call(&t, "/v1/usage/reservations", NULL, body, &r), cases[i].status);
        api_response_free(&r);
    }
    assert_int_equal(call(&t, "/v1/usage/reservations", NULL, "", &r), 400);
    api_response_free(&r);
    assert_int_equal(call(&t, "/v1/usage/reservations", NULL, "[1]", &r), 400);
    api_response_free(&r);
    reservation_body(body, sizeof(body), "01a20000-0000-7000-8000-000000000000", "m", 1, 1, NULL);
    assert_int_equal(call(&t, "/v1/usage/reservations", NULL, body, &r), 404);
    api_response_free(&r);
    reservation_body(body, sizeof(body), user, "m", 1, 1, NULL);
    assert_int_equal(call(&t, "/v1/usage/reservations", "bad key!", body, &r), 400);
    api_response_free(&r);
    snprintf(body, sizeof(body),
             "{\"user_id\": \"%s\", \"provider\": \"%s\", \"model\": \"m\", "
             "\"input_tokens\": 1, \"output_tokens\": 1, \"cached_tokens\": 2}",
             user, provider);
    assert_int_equal(call(&t, "/v1/usage/events", NULL, body, &r), 400);
    api_response_free(&r);
    sql("SELECT (SELECT count(*) FROM agentbase.token_holds WHERE tenant_id = $1) + "
        "       (SELECT count(*) FROM agentbase.ai_requests WHERE tenant_id = $1)",
        t.id, NULL, got, sizeof(got));
    assert_string_equal(got, "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_wallet_covering_50_reservations_grants_exactly_50_of_64),
        cmocka_unit_test(test_a_budget_covering_50_reservations_grants_exactly_50_of_64),
        cmocka_unit_test(test_a_daily_quota_covering_50_reservations_grants_exactly_50_of_64),
        cmocka_unit_test(test_limits_hold_across_users_and_tenants_of_one_batch),
        cmocka_unit_test(
            test_a_suspended_tenant_settles_what_it_reserved_and_reserves_nothing_more),
        cmocka_unit_test(test_plan_limits_refuse_with_retry_after),
        cmocka_unit_test(test_a_reservation_sent_8_times_at_once_is_made_once),
        cmocka_unit_test(test_an_event_sent_8_times_at_once_is_counted_once),
        cmocka_unit_test(test_each_reservation_resolves_once),
        cmocka_unit_test(test_the_server_releases_expired_reservations),
        cmocka_unit_test(test_budget_thresholds_fire_once_per_period_under_concurrency),
        cmocka_unit_test(test_overage_blocks_reservations_until_credits_cover_it),
        cmocka_unit_test(test_a_settle_records_at_most_what_its_reservation_allows),
        cmocka_unit_test(test_wallet_adjustments_the_ledger_and_level_allocation),
        cmocka_unit_test(test_a_future_price_applies_from_its_date_and_rows_keep_theirs),
        cmocka_unit_test(test_the_summary_groups_the_rollups),
        cmocka_unit_test(test_a_platform_key_naming_no_tenant_gets_404),
        cmocka_unit_test(test_bad_requests_get_clear_errors_and_change_nothing),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
