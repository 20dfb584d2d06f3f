/*
 * Agent-assignment leases over HTTP: of 64 concurrent acquires against an assignment with
 * max_concurrent_requests = 5, exactly 5 get a lease and the others a 429
 * concurrency_limit; no granted lease ever sees more than 5 live ones, also while 64
 * threads take and give back slots; a release frees a slot, once; an expired lease frees
 * its slot and the server reclaims it; the strategy order; the agents' load follows the leases; a
 * user acts only for themselves. Each test works in a tenant of its own.
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

#define SHOTS  64 /* concurrent acquires */
#define SLOTS  5  /* the assignment's max_concurrent_requests */
#define ROUNDS 3  /* acquire-release rounds of each thread in the churn test */

static PGconn *db;

struct tenant {
    char id[40];
    char key[64];    /* a service key (acts as admin) */
    char user[40];   /* a user of role user */
    char ukey[64];   /* that user's key */
    char agent[40];  /* an agent assigned to the user */
    char assign[40]; /* that assignment (dedicated, SLOTS slots) */
};

static void sql(const char *q, const char *p1, const char *p2, char *out, size_t n)
{
    const char *p[2] = {p1, p2};

    api_sql(db, q, p2 ? 2 : p1 ? 1 : 0, p, out, n);
}

/* A key of tenant t for user (NULL: none) with scopes, into key. */
static void new_key(const struct tenant *t, const char *user, const char *scopes, char *key)
{
    char prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
    const char *p[5] = {t->id, user, prefix, hash, scopes};

    ab_auth_key_new(key, prefix, hash);
    api_sql(
        db,
        "INSERT INTO agentbase.api_keys (tenant_id, user_id, name, key_prefix, key_hash, scopes) "
        "VALUES ($1, $2, 'lease test', $3, $4, string_to_array($5, ',')) RETURNING id",
        5, p, NULL, 0);
}

/* A tenant with a user, an agent and a dedicated assignment of SLOTS slots. */
static void new_tenant(struct tenant *t)
{
    char slots[8];
    const char *p[4];

    api_make_tenant(db, "leases", t->id);
    new_key(t, NULL, "admin", t->key);
    sql("INSERT INTO agentbase.users (tenant_id, email, role) "
        "VALUES ($1, gen_random_uuid() || '@leases.test', 'user') RETURNING id",
        t->id, NULL, t->user, sizeof(t->user));
    new_key(t, t->user, "agent-leases:write,agent-leases:read", t->ukey);
    sql("INSERT INTO agentbase.agents (tenant_id, name, model_provider, model_name) "
        "VALUES ($1, 'leased ' || gen_random_uuid(), 'openai', 'gpt-4o') RETURNING id",
        t->id, NULL, t->agent, sizeof(t->agent));
    snprintf(slots, sizeof(slots), "%d", SLOTS);
    p[0] = t->id, p[1] = t->user, p[2] = t->agent, p[3] = slots;
    api_sql(db,
            "INSERT INTO agentbase.agent_assignments "
            "  (tenant_id, user_id, agent_id, allocation_type, max_concurrent_requests) "
            "VALUES ($1, $2, $3, 'dedicated', $4::integer) RETURNING id",
            4, p, t->assign, sizeof(t->assign));
}

static long call(const char *key, const char *path, const char *body, struct api_response *r)
{
    char auth[128];
    const char *headers[2] = {auth, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    if (api_request(body ? "POST" : "GET", path, body, body ? strlen(body) : 0, headers, r) != 0)
        return -1;
    return r->status;
}

/* A member of a JSON body as text: a string's value, a number's digits ("" when missing). */
static void member(const char *body, const char *name, char *out, size_t n)
{
    json_t *doc = json_loads(body, 0, NULL), *v = json_object_get(doc, name);
    json_t *e = json_object_get(json_object_get(doc, "error"), name);

    if (!v)
        v = e;
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else
        snprintf(out, n, "%s", "");
    json_decref(doc);
}

static long acquire(const char *key, const char *body, char *lease, struct api_response *r)
{
    long st = call(key, "/v1/agent-assignments/acquire", body, r);

    if (lease)
        member(r->body, "id", lease, 40);
    return st;
}

static long release(const char *key, const char *lease, struct api_response *r)
{
    char body[128];

    snprintf(body, sizeof(body), "{\"lease_id\": \"%s\"}", lease);
    return call(key, "/v1/agent-assignments/release", body, r);
}

static void count_active(const struct tenant *t, char *out, size_t n)
{
    sql("SELECT count(*) FROM agentbase.agent_leases WHERE tenant_id = $1 AND status = 'active'",
        t->id, NULL, out, n);
}

static void agent_load(const struct tenant *t, char *out, size_t n)
{
    sql("SELECT current_load FROM agentbase.agents WHERE id = $1", t->agent, NULL, out, n);
}

/* ---- concurrent acquires ---------------------------------------------------------------- */

struct shot {
    const struct tenant *t;
    int rounds;  /* 0: one acquire, kept; n: n acquire-release rounds */
    int granted; /* 201s */
    int refused; /* 429 concurrency_limit */
    int most;    /* the largest active_leases a granted lease saw */
    int retried; /* 503 retry: the request collided with another (a deadlock PostgreSQL broke) */
    int other;   /* any other answer */
    long other_status; /* the last of those, for the failure's message */
    char other_code[256];
};

static pthread_barrier_t gate;

static void *fire(void *arg)
{
    struct shot *s = arg;
    char body[128], got[64], lease[40];
    struct api_response r;

    snprintf(body, sizeof(body), "{\"user_id\": \"%s\", \"ttl_seconds\": 600}", s->t->user);
    pthread_barrier_wait(&gate);
    for (int i = 0; i < (s->rounds ? s->rounds : 1); i++) {
        long st = acquire(s->t->key, body, lease, &r);

        if (st == 201) {
            s->granted++;
            member(r.body, "active_leases", got, sizeof(got));
            if (atoi(got) > s->most)
                s->most = atoi(got);
        } else {
            member(r.body, "code", got, sizeof(got));
            if (st == 429 && strcmp(got, "concurrency_limit") == 0) {
                s->refused++;
            } else if (st == 503 && strcmp(got, "retry") == 0) {
                s->retried++;
            } else {
                s->other++;
                s->other_status = st;
                snprintf(s->other_code, sizeof(s->other_code), "%s", st < 0 ? r.error : got);
            }
        }
        if (st > 0)
            api_response_free(&r);
        if (st == 201 && s->rounds) {
            long rs = release(s->t->key, lease, &r);

            member(r.body, "code", got, sizeof(got));
            if (rs == 503 && strcmp(got, "retry") == 0) {
                s->retried++;
            } else if (rs != 200) {
                s->other++;
                s->other_status = rs;
                if (rs < 0)
                    snprintf(s->other_code, sizeof(s->other_code), "%s", r.error);
                else
                    member(r.body, "code", s->other_code, sizeof(s->other_code));
            }
            api_response_free(&r);
        }
    }
    return NULL;
}

static void fire_all(struct shot *s)
{
    pthread_t th[SHOTS];

    pthread_barrier_init(&gate, NULL, SHOTS);
    for (int i = 0; i < SHOTS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, fire, &s[i]), 0);
    for (int i = 0; i < SHOTS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&gate);
}

/* Says which answers were neither a lease nor the concurrency limit, when there were some. */
static void report_other(const struct shot *s)
{
    int retried = 0;

    for (int i = 0; i < SHOTS; i++) {
        retried += s[i].retried;
        if (s[i].other)
            print_message("# thread %d: %d other answers, the last %ld %s\n", i, s[i].other,
                          s[i].other_status, s[i].other_code);
    }
    if (retried)
        print_message("# %d answers were 503 retry (a collision the client retries)\n", retried);
}

static void test_64_concurrent_acquires_get_exactly_5_leases(void **state)
{
    struct tenant t;
    struct shot s[SHOTS];
    int granted = 0, refused = 0, other = 0, most = 0;
    char got[64];

    (void)state;
    new_tenant(&t);
    memset(s, 0, sizeof(s));
    for (int i = 0; i < SHOTS; i++)
        s[i].t = &t;
    fire_all(s);
    for (int i = 0; i < SHOTS; i++) {
        granted += s[i].granted, refused += s[i].refused, other += s[i].other;
        most = s[i].most > most ? s[i].most : most;
    }
    report_other(s);
    assert_int_equal(granted, SLOTS);
    assert_int_equal(refused, SHOTS - SLOTS);
    assert_int_equal(other, 0);
    assert_int_equal(most, SLOTS);
    count_active(&t, got, sizeof(got));
    assert_string_equal(got, "5");
    agent_load(&t, got, sizeof(got));
    assert_string_equal(got, "5");
    api_drop_tenant(db, t.id);
}

static void test_no_lease_sees_more_than_5_while_64_threads_take_and_give_back(void **state)
{
    struct tenant t;
    struct shot s[SHOTS];
    int granted = 0, most = 0, other = 0;
    char got[64];

    (void)state;
    new_tenant(&t);
    memset(s, 0, sizeof(s));
    for (int i = 0; i < SHOTS; i++)
        s[i].t = &t, s[i].rounds = ROUNDS;
    fire_all(s);
    for (int i = 0; i < SHOTS; i++) {
        granted += s[i].granted, other += s[i].other;
        most = s[i].most > most ? s[i].most : most;
    }
    print_message("# %d of %d acquires granted; at most %d live leases seen\n", granted,
                  SHOTS * ROUNDS, most);
    report_other(s);
    assert_int_equal(other, 0);
    assert_true(granted >= SLOTS);
    assert_true(most >= 1 && most <= SLOTS);
    count_active(&t, got, sizeof(got));
    assert_string_equal(got, "0");
    agent_load(&t, got, sizeof(got));
    assert_string_equal(got, "0");
    api_drop_tenant(db, t.id);
}

/* ---- release and expiry ----------------------------------------------------------------- */

static void test_a_release_frees_a_slot_once(void **state)
{
    struct tenant t;
    struct api_response r;
    char leases[SLOTS][40], body[128], got[64];

    (void)state;
    new_tenant(&t);
    snprintf(body, sizeof(body), "{\"user_id\": \"%s\"}", t.user);
    for (int i = 0; i < SLOTS; i++) {
        assert_int_equal(acquire(t.key, body, leases[i], &r), 201);
        api_response_free(&r);
    }
    assert_int_equal(acquire(t.key, body, NULL, &r), 429);
    api_header(&r, "Retry-After", got, sizeof(got));
    assert_string_equal(got, "1");
    api_response_free(&r);

    assert_int_equal(release(t.key, leases[0], &r), 200);
    member(r.body, "status", got, sizeof(got));
    assert_string_equal(got, "released");
    member(r.body, "active_leases", got, sizeof(got));
    assert_string_equal(got, "4");
    api_response_free(&r);
    agent_load(&t, got, sizeof(got));
    assert_string_equal(got, "4");
    assert_int_equal(release(t.key, leases[0], &r), 409);
    member(r.body, "code", got, sizeof(got));
    assert_string_equal(got, "lease_released");
    api_response_free(&r);

    assert_int_equal(acquire(t.key, body, NULL, &r), 201);
    api_response_free(&r);
    assert_int_equal(acquire(t.key, body, NULL, &r), 429);
    api_response_free(&r);
    api_drop_tenant(db, t.id);
}

static void test_an_expired_lease_frees_its_slot_and_is_reclaimed(void **state)
{
    struct tenant t;
    struct api_response r;
    char lease[40], body[128], got[64];

    (void)state;
    new_tenant(&t);
    snprintf(body, sizeof(body), "{\"user_id\": \"%s\", \"ttl_seconds\": 1}", t.user);
    assert_int_equal(acquire(t.key, body, lease, &r), 201);
    api_response_free(&r);
    snprintf(body, sizeof(body), "{\"user_id\": \"%s\"}", t.user);
    for (int i = 1; i < SLOTS; i++) {
        assert_int_equal(acquire(t.key, body, NULL, &r), 201);
        api_response_free(&r);
    }
    assert_int_equal(acquire(t.key, body, NULL, &r), 429);
    api_response_free(&r);
    sleep(3); /* the first lease's second is over, and the server's sweep (every second) ran */
    sql("SELECT status FROM agentbase.agent_leases WHERE id = $1", lease, NULL, got, sizeof(got));
    assert_string_equal(got, "expired");
    agent_load(&t, got, sizeof(got));
    assert_string_equal(got, "4");
    assert_int_equal(acquire(t.key, body, NULL, &r), 201);
    member(r.body, "active_leases", got, sizeof(got));
    assert_string_equal(got, "5");
    api_response_free(&r);
    agent_load(&t, got, sizeof(got));
    assert_string_equal(got, "5");
    assert_int_equal(release(t.key, lease, &r), 409);
    member(r.body, "code", got, sizeof(got));
    assert_string_equal(got, "lease_expired");
    api_response_free(&r);
    api_drop_tenant(db, t.id);
}

/* ---- the strategy, and whose slots ------------------------------------------------------- */

/* An agent of tenant t named name, assigned to t's user with allocation type and slots. */
static void assign_new_agent(const struct tenant *t, const char *name, const char *type,
                             const char *slots)
{
    char agent[40];
    const char *p[5] = {t->id, t->user, agent, type, slots};

    sql("INSERT INTO agentbase.agents (tenant_id, name, model_provider, model_name) "
        "VALUES ($1, $2, 'openai', 'gpt-4o') RETURNING id",
        t->id, name, agent, sizeof(agent));
    api_sql(db,
            "INSERT INTO agentbase.agent_assignments "
            "  (tenant_id, user_id, agent_id, allocation_type, max_concurrent_requests) "
            "VALUES ($1, $2, $3, $4, $5::integer) RETURNING id",
            5, p, NULL, 0);
}

static void test_dedicated_before_pool_before_shared_and_the_least_loaded_of_the_pool(void **state)
{
    struct tenant t;
    struct api_response r;
    char agent[40], type[16], prev[40] = "", got[64];

    (void)state;
    new_tenant(&t); /* its dedicated assignment: one slot here */
    sql("UPDATE agentbase.agent_assignments SET max_concurrent_requests = 1 WHERE id = $1",
        t.assign, NULL, NULL, 0);
    assign_new_agent(&t, "shared", "shared", "5");
    assign_new_agent(&t, "pool 1", "pool", "2");
    assign_new_agent(&t, "pool 2", "pool", "2");
    /* the dedicated slot, then the pool's four, each to the less loaded agent (so the two
     * alternate), then shared */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(acquire(t.ukey, "{}", NULL, &r), 201);
        member(r.body, "agent_id", agent, sizeof(agent));
        member(r.body, "allocation_type", type, sizeof(type));
        api_response_free(&r);
        assert_string_equal(type, i == 0 ? "dedicated" : i < 5 ? "pool" : "shared");
        if (i >= 2 && i <= 4)
            assert_string_not_equal(agent, prev);
        snprintf(prev, sizeof(prev), "%s", agent);
    }
    sql("SELECT string_agg(current_load::text, ',' ORDER BY name) FROM agentbase.agents "
        "WHERE tenant_id = $1 AND name NOT IN (SELECT name FROM agentbase.platform_agents)",
        t.id, NULL, got, sizeof(got));
    assert_string_equal(got, "1,2,2,1"); /* leased ..., pool 1, pool 2, shared */
    api_drop_tenant(db, t.id);
}

static void test_a_user_takes_only_their_own_slots(void **state)
{
    struct tenant t;
    struct api_response r;
    char other[40], body[128], lease[40], got[64];

    (void)state;
    new_tenant(&t);
    sql("INSERT INTO agentbase.users (tenant_id, email, role) "
        "VALUES ($1, gen_random_uuid() || '@leases.test', 'user') RETURNING id",
        t.id, NULL, other, sizeof(other));
    snprintf(body, sizeof(body), "{\"user_id\": \"%s\"}", other);
    assert_int_equal(acquire(t.ukey, body, NULL, &r), 403);
    api_response_free(&r);
    /* the service key acts for anyone of the tenant: the other user has no assignment */
    assert_int_equal(acquire(t.key, body, NULL, &r), 404);
    api_response_free(&r);
    /* a key without a user must name one */
    assert_int_equal(acquire(t.key, "{}", NULL, &r), 400);
    member(r.body, "param", got, sizeof(got));
    assert_string_equal(got, "user_id");
    api_response_free(&r);
    /* the user's own key defaults to its user, and lists and releases its leases */
    assert_int_equal(acquire(t.ukey, "{\"ttl_seconds\": 60}", lease, &r), 201);
    member(r.body, "user_id", got, sizeof(got));
    assert_string_equal(got, t.user);
    api_response_free(&r);
    assert_int_equal(call(t.ukey, "/v1/agent-leases", NULL, &r), 200);
    assert_non_null(strstr(r.body, lease));
    api_response_free(&r);
    assert_int_equal(release(t.ukey, lease, &r), 200);
    api_response_free(&r);
    /* an unknown lease, and a body that is not a lease's */
    assert_int_equal(release(t.key, "01900000-0000-7000-8000-000000000000", &r), 404);
    api_response_free(&r);
    assert_int_equal(call(t.key, "/v1/agent-assignments/release", "{\"lease\": 1}", &r), 400);
    api_response_free(&r);
    assert_int_equal(call(t.key, "/v1/agent-assignments/acquire", "{\"ttl_seconds\": 0}", &r), 400);
    api_response_free(&r);
    api_drop_tenant(db, t.id);
}

/* ---- setup ---------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_leases", &db, &err) != 0) {
        fprintf(stderr, "cannot connect: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_64_concurrent_acquires_get_exactly_5_leases),
        cmocka_unit_test(test_no_lease_sees_more_than_5_while_64_threads_take_and_give_back),
        cmocka_unit_test(test_a_release_frees_a_slot_once),
        cmocka_unit_test(test_an_expired_lease_frees_its_slot_and_is_reclaimed),
        cmocka_unit_test(test_dedicated_before_pool_before_shared_and_the_least_loaded_of_the_pool),
        cmocka_unit_test(test_a_user_takes_only_their_own_slots),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
