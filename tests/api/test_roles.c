/*
 * Access inside a tenant over HTTP, as the roles themselves: an admin, a user, another
 * user and a viewer signed in with POST /v1/auth/login, and the platform admin's key.
 *
 * The matrix is generated from the descriptor table (every resource the API serves) and
 * the expectations from agentbase.role_access, the table docs/api.md's access table is made
 * from, so the behaviour and the documentation cannot drift:
 * - each role reads what role_access says: the tenant's rows ("all"), only its own ("own":
 *   none of the fixture rows, which belong to the fixtures' admin), or nothing (403);
 * - no role writes what it may not: 403 without the scope, 404 for a row that is not
 *   theirs; the row is byte-identical afterwards.
 * Then the escalation attempts the issue lists, each changing nothing, and rights that
 * follow the user at every use (a downgrade, a suspended issuer).
 */
#include "api/api.h"
#include "auth/auth.h"
#include "client.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PASSWORD "roles-matrix-Password-7"

enum { ADMIN, USER, OTHER, VIEWER, PLATFORM, NACTORS };

struct actor {
    const char *name;
    const char *role;
    char user[40];
    char email[96];
    char key[128];
};

static struct actor actors[NACTORS] = {
    {.name = "admin", .role = "admin"},
    {.name = "user", .role = "user"},
    {.name = "other user", .role = "user"},
    {.name = "viewer", .role = "viewer"},
    {.name = "platform admin", .role = "platform"},
};

/* role_access, by resource index (NULL: the resource has no row there). */
struct access {
    char user_read[8], user_write[8], viewer_read[8], admin_write[16];
    bool known;
};

static PGconn *db;
static char tenant[40], slug[64];
static struct access access[AB_RESOURCE_MAX];
static char fixture_id[AB_RESOURCE_MAX][40]; /* the admin's first object of each resource */
static unsigned run_no;

/* ---- helpers ----------------------------------------------------------------------- */

static long call(int who, const char *method, const char *path, const char *body,
                 struct api_response *r)
{
    char auth[192], named[96];
    const char *headers[4] = {auth, "Content-Type: application/json", NULL, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", actors[who].key);
    if (who == PLATFORM) {
        snprintf(named, sizeof(named), "Agentbase-Tenant: %s", tenant);
        headers[2] = named;
    }
    assert_int_equal(api_request(method, path, body, body ? strlen(body) : 0, headers, r), 0);
    return r->status;
}

/* call() for a status only. */
static long status_of(int who, const char *method, const char *path, const char *body)
{
    struct api_response r;
    long st = call(who, method, path, body, &r);

    api_response_free(&r);
    return st;
}

static void sql1(const char *q, const char *p1, char *out, size_t n)
{
    const char *p[1] = {p1};

    api_sql(db, q, p1 ? 1 : 0, p, out, n);
}

/* What role `who` may read of resource i, as role_access says. */
static const char *read_access(int who, size_t i)
{
    if (who == ADMIN || who == PLATFORM)
        return "all";
    return who == VIEWER ? access[i].viewer_read : access[i].user_read;
}

static const char *write_access(int who, size_t i)
{
    if (who == VIEWER)
        return "none";
    if (who == ADMIN)
        return access[i].admin_write;
    if (who == PLATFORM)
        return "all";
    return access[i].user_write;
}

/* The ids of the first page of a list answer, comma-separated (out must be large). */
static void page_ids(const char *body, char *out, size_t n, size_t *count)
{
    json_t *doc = json_loads(body, 0, NULL), *row;
    size_t k;

    out[0] = '\0';
    *count = 0;
    json_array_foreach(json_object_get(doc, "data"), k, row)
    {
        const char *id = json_string_value(json_object_get(row, "id"));
        size_t len = strlen(out);

        snprintf(out + len, n - len, "%s,", id ? id : "?");
        (*count)++;
    }
    json_decref(doc);
}

/* An object as the superuser sees it, to compare before and after. */
static void row_text(size_t i, const char *id, char *out, size_t n)
{
    char q[256];
    const char *p[1] = {id};

    snprintf(q, sizeof(q), "SELECT to_jsonb(t)::text FROM agentbase.%s t WHERE id = $1::uuid",
             ab_resources[i].table);
    api_sql(db, q, 1, p, out, n);
}

/* ---- setup -------------------------------------------------------------------------- */

static void sign_in(int who)
{
    char body[256];
    struct api_response r;
    json_t *doc;

    snprintf(body, sizeof(body), "{\"tenant\": \"%s\", \"email\": \"%s\", \"password\": \"%s\"}",
             slug, actors[who].email, PASSWORD);
    assert_int_equal(api_request("POST", "/v1/auth/login", body, strlen(body), NULL, &r), 0);
    if (r.status != 200)
        fail_msg("login of %s: %ld %s", actors[who].name, r.status, r.body);
    doc = json_loads(r.body, 0, NULL);
    snprintf(actors[who].key, sizeof(actors[who].key), "%s",
             json_string_value(json_object_get(doc, "key")));
    assert_string_equal(json_string_value(json_object_get(doc, "role")), actors[who].role);
    json_decref(doc);
    api_response_free(&r);
}

static int setup(void **state)
{
    char hash[AB_AUTH_HASH_MAX], prefix[AB_KEY_PREFIX_LEN + 1], khash[65], path[256];
    struct ab_error err;

    (void)state;
    if (ab_pg_connect(getenv("DATABASE_URL"), "test_roles", &db, &err) != 0)
        return -1;
    run_no = randombytes_random() % 1000000;
    snprintf(slug, sizeof(slug), "roles-%u", run_no);
    sql1("INSERT INTO agentbase.tenants (slug, name, plan) VALUES ($1, $1, 'pro') RETURNING id",
         slug, tenant, sizeof(tenant));
    /* Rows in every tenant table, all of them the fixtures' admin's. */
    sql1("SELECT abtest.fill($1)::text", tenant, NULL, 0);
    if (ab_auth_password_hash(PASSWORD, hash, &err) != 0)
        return -1;
    for (int a = ADMIN; a < PLATFORM; a++) {
        const char *p[4] = {tenant, actors[a].email, hash, actors[a].role};

        snprintf(actors[a].email, sizeof(actors[a].email), "%s-%u@roles.test", actors[a].role,
                 run_no + (unsigned)a);
        api_sql(db,
                "INSERT INTO agentbase.users (tenant_id, email, password_hash, role) "
                "VALUES ($1, $2, $3, $4) RETURNING id",
                4, p, actors[a].user, sizeof(actors[a].user));
        sign_in(a);
    }
    ab_auth_key_new(actors[PLATFORM].key, prefix, khash);
    api_sql(db,
            "INSERT INTO agentbase.platform_api_keys (name, key_prefix, key_hash, scopes) "
            "VALUES ('test-roles', $1, $2, '{admin}')",
            2, (const char *[]){prefix, khash}, NULL, 0);

    for (size_t i = 0; i < ab_nresources; i++) {
        char row[256] = "";
        const char *p[1] = {ab_resources[i].name};
        struct api_response r;
        json_t *doc;

        api_sql(db,
                "SELECT concat_ws(' ', user_read, user_write, viewer_read, admin_write) "
                "  FROM agentbase.role_access WHERE resource = $1",
                1, p, row, sizeof(row));
        access[i].known = row[0] != '\0';
        if (access[i].known)
            sscanf(row, "%7s %7s %7s %15s", access[i].user_read, access[i].user_write,
                   access[i].viewer_read, access[i].admin_write);
        /* the admin's first object (parents are listed before their children) */
        api_collection_path(i, fixture_id, path, sizeof(path));
        strcat(path, "?limit=1");
        if (call(ADMIN, "GET", path, NULL, &r) == 200) {
            doc = json_loads(r.body, 0, NULL);
            snprintf(fixture_id[i], sizeof(fixture_id[i]), "%s",
                     json_string_value(
                         json_object_get(json_array_get(json_object_get(doc, "data"), 0), "id"))
                         ?: "");
            json_decref(doc);
        }
        api_response_free(&r);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sql1("DELETE FROM agentbase.tenants WHERE id = $1::uuid", tenant, NULL, 0);
    sql1("DELETE FROM agentbase.platform_api_keys WHERE name = 'test-roles'", NULL, NULL, 0);
    PQfinish(db);
    return 0;
}

/* ---- the matrix --------------------------------------------------------------------- */

static void test_sessions_carry_their_roles_scopes_from_role_access(void **state)
{
    (void)state;
    for (int a = ADMIN; a < PLATFORM; a++) {
        struct api_response r;
        char want[2048] = "", got[2048] = "";
        json_t *doc, *s;
        size_t k;

        sql1("SELECT array_to_string(agentbase.role_cap($1), ',')", actors[a].role, want,
             sizeof(want));
        assert_int_equal(call(a, "GET", "/v1/auth/whoami", NULL, &r), 200);
        doc = json_loads(r.body, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(doc, "role")), actors[a].role);
        json_array_foreach(json_object_get(doc, "role_scopes"), k, s)
        {
            size_t len = strlen(got);

            snprintf(got + len, sizeof(got) - len, "%s%s", k ? "," : "", json_string_value(s));
        }
        assert_string_equal(got, want);
        json_decref(doc);
        api_response_free(&r);
    }
}

/* The explicit scopes: the service's list (auth.c) is the database's (explicit_scopes()). */
static void test_the_service_and_the_database_agree_on_the_explicit_scopes(void **state)
{
    char list[256], *save = NULL;

    (void)state;
    sql1("SELECT array_to_string(agentbase.explicit_scopes(), ',')", NULL, list, sizeof(list));
    for (char *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save))
        assert_true(ab_api_scope_explicit(s));
    assert_false(ab_api_scope_explicit("agents:write"));
}

static void test_every_role_reads_what_role_access_says(void **state)
{
    static char admin_page[AB_RESOURCE_MAX][8192];
    size_t covered = 0;

    (void)state;
    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *res = &ab_resources[i];
        char coll[256], item[320], ids[8192];
        size_t n, admin_n = 0;

        if (!access[i].known) {
            assert_true(res->platform || res->global); /* every tenant resource is governed */
            continue;
        }
        api_collection_path(i, fixture_id, coll, sizeof(coll));
        strcat(coll, "?limit=100");
        snprintf(item, sizeof(item), "/v1/%s/%s", res->name, fixture_id[i]);
        for (int a = ADMIN; a < NACTORS; a++) {
            const char *want = read_access(a, i);
            struct api_response r;
            long st = call(a, "GET", coll, NULL, &r);

            /* under someone else's parent: the parent does not exist for them */
            if (strcmp(want, "own") == 0 && res->parent) {
                if (st != 404)
                    fail_msg("%s GET %s: %ld, want 404", actors[a].name, coll, st);
                api_response_free(&r);
                continue;
            }
            if (strcmp(want, "none") == 0) {
                if (st != 403)
                    fail_msg("%s GET %s: %ld, want 403", actors[a].name, coll, st);
                api_response_free(&r);
                continue;
            }
            if (st != 200)
                fail_msg("%s GET %s: %ld %s", actors[a].name, coll, st, r.body);
            page_ids(r.body, ids, sizeof(ids), &n);
            api_response_free(&r);
            if (a == ADMIN) {
                snprintf(admin_page[i], sizeof(admin_page[i]), "%s", ids);
                admin_n = n;
            } else if (a == PLATFORM && res->platform) {
                /* the platform admin sees every tenant, the tenant's among them */
                if (!strstr(ids, admin_page[i]))
                    fail_msg("the platform admin does not see the admin's %s", res->name);
            } else if (strcmp(want, "all") == 0 && strcmp(ids, admin_page[i]) != 0) {
                fail_msg("%s sees another page of %s than the admin", actors[a].name, res->name);
            } else if (strcmp(want, "own") == 0 && fixture_id[i][0] && strstr(ids, fixture_id[i])) {
                fail_msg("%s sees the fixture admin's %s %s", actors[a].name, res->name,
                         fixture_id[i]);
            }
            if (fixture_id[i][0] && !res->parent) {
                long want_item = strcmp(want, "own") == 0 ? 404 : 200;

                if (status_of(a, "GET", item, NULL) != want_item)
                    fail_msg("%s GET %s: want %ld", actors[a].name, item, want_item);
            }
        }
        covered += admin_n > 0;
    }
    assert_true(covered >= 40); /* the fixtures give the admin rows nearly everywhere */
}

static void test_no_role_writes_what_role_access_forbids(void **state)
{
    size_t checked = 0;

    (void)state;
    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *res = &ab_resources[i];
        char coll[256], item[320], before[65536], after[65536];
        bool read_only = res->own_create && !res->update[0];

        if (!access[i].known || res->global || res->platform || !fixture_id[i][0] || read_only)
            continue;
        api_collection_path(i, fixture_id, coll, sizeof(coll));
        snprintf(item, sizeof(item), "/v1/%s/%s", res->name, fixture_id[i]);
        row_text(i, fixture_id[i], before, sizeof(before));
        for (int a = USER; a <= VIEWER; a++) {
            const char *want = write_access(a, i);

            if (strcmp(want, "none") == 0) {
                if (!res->own_create && status_of(a, "POST", coll, "{}") != 403)
                    fail_msg("%s POST %s: want 403", actors[a].name, coll);
                if (res->update[0] && status_of(a, "PATCH", item, "{}") != 403)
                    fail_msg("%s PATCH %s: want 403", actors[a].name, item);
                if (!res->no_delete && status_of(a, "DELETE", item, NULL) != 403)
                    fail_msg("%s DELETE %s: want 403", actors[a].name, item);
            } else {
                /* may write their own: someone else's row does not exist for them (the
                 * body sets a field to the value it has, so that only the row can be wrong) */
                char body[4096], field[64];
                json_t *row = json_loads(before, 0, NULL), *one;
                char *text;

                snprintf(field, sizeof(field), "%.*s", (int)strcspn(res->update, ","), res->update);
                one = json_pack("{s:O}", field, json_object_get(row, field));
                text = json_dumps(one, JSON_COMPACT);
                snprintf(body, sizeof(body), "%s", text ? text : "{}");
                free(text);
                json_decref(one);
                json_decref(row);
                if (res->update[0] && status_of(a, "PATCH", item, body) != 404)
                    fail_msg("%s PATCH %s: want 404", actors[a].name, item);
                if (!res->no_delete && status_of(a, "DELETE", item, NULL) != 404)
                    fail_msg("%s DELETE %s: want 404", actors[a].name, item);
            }
        }
        if (strcmp(access[i].admin_write, "all") != 0 && !res->own_create &&
            status_of(ADMIN, "POST", coll, "{}") != 403)
            fail_msg("admin POST %s: want 403 (%s)", coll, access[i].admin_write);
        row_text(i, fixture_id[i], after, sizeof(after));
        if (strcmp(before, after) != 0)
            fail_msg("%s %s changed", res->name, fixture_id[i]);
        checked++;
    }
    assert_true(checked >= 35); /* every writable tenant resource with a fixture row */
}

/* ---- a user's own rows ---------------------------------------------------------------- */

static void test_a_user_works_with_their_own_rows_only(void **state)
{
    struct api_response r;
    char body[512], path[256], conv[40], before[8192], after[8192], got[64];
    json_t *doc;
    size_t n;

    (void)state;
    snprintf(body, sizeof(body), "{\"agent_id\": \"%s\", \"title\": \"mine\"}",
             fixture_id[api_resource_index("agents")]);
    assert_int_equal(call(USER, "POST", "/v1/conversations", body, &r), 201);
    doc = json_loads(r.body, 0, NULL);
    snprintf(conv, sizeof(conv), "%s", json_string_value(json_object_get(doc, "id")));
    assert_string_equal(json_string_value(json_object_get(doc, "user_id")), actors[USER].user);
    json_decref(doc);
    api_response_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    assert_int_equal(status_of(USER, "POST", path, "{\"role\": \"user\", \"content\": \"hi\"}"),
                     201);
    assert_int_equal(status_of(USER, "GET", path, NULL), 200);

    /* the other user: it does not exist for them */
    row_text(api_resource_index("conversations"), conv, before, sizeof(before));
    assert_int_equal(status_of(OTHER, "GET", path, NULL), 404);
    assert_int_equal(status_of(OTHER, "POST", path, "{\"role\": \"user\", \"content\": \"x\"}"),
                     404);
    snprintf(path, sizeof(path), "/v1/conversations/%s", conv);
    assert_int_equal(status_of(OTHER, "GET", path, NULL), 404);
    assert_int_equal(status_of(OTHER, "PATCH", path, "{\"title\": \"renamed\"}"), 404);
    assert_int_equal(status_of(OTHER, "DELETE", path, NULL), 404);
    row_text(api_resource_index("conversations"), conv, after, sizeof(after));
    assert_string_equal(before, after);
    sql1("SELECT count(*) FROM agentbase.messages WHERE conversation_id = $1::uuid", conv, got,
         sizeof(got));
    assert_string_equal(got, "1");

    /* among users, only themselves; their own wallet, ledger and usage summary */
    assert_int_equal(call(USER, "GET", "/v1/users", NULL, &r), 200);
    page_ids(r.body, body, sizeof(body), &n);
    api_response_free(&r);
    assert_int_equal(n, 1);
    assert_non_null(strstr(body, actors[USER].user));
    sql1("SELECT agentbase.adjust_user_tokens($1::uuid, 500, 'credit')::text", actors[USER].user,
         NULL, 0);
    assert_int_equal(call(USER, "GET", "/v1/token-wallets", NULL, &r), 200);
    page_ids(r.body, body, sizeof(body), &n);
    api_response_free(&r);
    assert_int_equal(n, 1);
    assert_int_equal(status_of(USER, "GET", "/v1/token-ledger", NULL), 200);
    assert_int_equal(status_of(USER, "GET", "/v1/usage/summary", NULL), 200);
    assert_int_equal(status_of(VIEWER, "GET", "/v1/usage/summary", NULL), 200);
    assert_int_equal(
        status_of(VIEWER, "POST", "/v1/conversations", "{\"title\": \"viewers write nothing\"}"),
        403);
}

/* ---- escalation ------------------------------------------------------------------------ */

/* The answer's error code and message must say why; the user row must not change. */
static void refused(int who, const char *method, const char *path, const char *body, long want,
                    const char *says)
{
    struct api_response r;

    if (call(who, method, path, body, &r) != want || (says && !strstr(r.body, says)))
        fail_msg("%s %s %s %s: %ld %s (want %ld, saying %s)", actors[who].name, method, path,
                 body ? body : "", r.status, r.body, want, says ? says : "-");
    api_response_free(&r);
}

static void test_every_escalation_attempt_is_refused_and_changes_nothing(void **state)
{
    char path[256], body[512], users_before[65536], users_after[65536], wallets[2][4096];

    (void)state;
    sql1("SELECT string_agg(to_jsonb(u)::text, ',' ORDER BY id) FROM agentbase.users u "
         "WHERE tenant_id = $1::uuid",
         tenant, users_before, sizeof(users_before));
    sql1("SELECT coalesce(string_agg(to_jsonb(w)::text, ',' ORDER BY id), '') "
         "FROM agentbase.token_wallets w WHERE tenant_id = $1::uuid",
         tenant, wallets[0], sizeof(wallets[0]));

    snprintf(path, sizeof(path), "/v1/users/%s", actors[USER].user);
    refused(USER, "PATCH", path, "{\"role\": \"admin\"}", 403, "field role");
    refused(USER, "PATCH", path, "{\"level\": \"enterprise\"}", 403, "field level");
    refused(VIEWER, "PATCH", path, "{\"full_name\": \"x\"}", 403, NULL);
    snprintf(path, sizeof(path), "/v1/users/%s", actors[ADMIN].user);
    refused(USER, "PATCH", path, "{\"status\": \"suspended\"}", 404, NULL);
    refused(USER, "DELETE", path, NULL, 404, NULL);

    snprintf(body, sizeof(body),
             "{\"user_id\": \"%s\", \"agent_id\": \"%s\", \"title\": \"in your name\"}",
             actors[OTHER].user, fixture_id[api_resource_index("agents")]);
    refused(USER, "POST", "/v1/conversations", body, 403, "field user_id");

    refused(USER, "POST", "/v1/api-keys", "{\"name\": \"k\", \"scopes\": [\"agents:write\"]}", 403,
            "agents:write");
    refused(USER, "POST", "/v1/api-keys", "{\"name\": \"k\", \"scopes\": [\"admin\"]}", 403,
            "admin");
    snprintf(body, sizeof(body),
             "{\"name\": \"k\", \"scopes\": [\"conversations:read\"], \"user_id\": \"%s\"}",
             actors[OTHER].user);
    refused(USER, "POST", "/v1/api-keys", body, 403, NULL);
    refused(ADMIN, "POST", "/v1/api-keys", "{\"name\": \"k\", \"scopes\": [\"billing:admin\"]}",
            403, "billing:admin");
    snprintf(path, sizeof(path), "/v1/api-keys/%s", fixture_id[api_resource_index("api-keys")]);
    refused(USER, "PATCH", path, "{\"name\": \"mine now\"}", 404, NULL);
    refused(USER, "DELETE", path, NULL, 404, NULL);

    snprintf(body, sizeof(body),
             "{\"user_id\": \"%s\", \"provider\": \"openai\", \"model\": \"gpt-4o-mini\", "
             "\"estimated_input_tokens\": 10, \"max_output_tokens\": 10}",
             actors[OTHER].user);
    refused(USER, "POST", "/v1/usage/reservations", body, 403, "user_id");

    /* platform-governed: a tenant admin may not */
    refused(ADMIN, "POST", "/v1/tenant-quotas",
            "{\"resource_type\": \"llm_tokens\", \"period\": \"monthly\", \"limit_value\": 999}",
            403, "billing:admin");
    snprintf(path, sizeof(path), "/v1/users/%s/level", actors[USER].user);
    refused(ADMIN, "POST", path, "{\"level\": \"enterprise\"}", 403, "billing:admin");
    snprintf(path, sizeof(path), "/v1/users/%s", actors[USER].user);
    refused(ADMIN, "PATCH", path, "{\"level\": \"enterprise\"}", 403, "field level");
    sql1("SELECT id FROM agentbase.token_wallets WHERE user_id = $1::uuid", actors[USER].user, body,
         sizeof(body));
    snprintf(path, sizeof(path), "/v1/wallets/%s/adjust", body);
    refused(ADMIN, "POST", path, "{\"direction\": \"credit\", \"amount\": 250000000}", 403,
            "billing:admin");
    snprintf(path, sizeof(path), "/v1/tenants/%s", tenant);
    refused(ADMIN, "PATCH", path, "{\"plan\": \"enterprise\"}", 403, NULL);

    sql1("SELECT string_agg(to_jsonb(u)::text, ',' ORDER BY id) FROM agentbase.users u "
         "WHERE tenant_id = $1::uuid",
         tenant, users_after, sizeof(users_after));
    assert_string_equal(users_before, users_after);
    sql1("SELECT coalesce(string_agg(to_jsonb(w)::text, ',' ORDER BY id), '') "
         "FROM agentbase.token_wallets w WHERE tenant_id = $1::uuid",
         tenant, wallets[1], sizeof(wallets[1]));
    assert_string_equal(wallets[0], wallets[1]);

    /* the platform may */
    snprintf(path, sizeof(path), "/v1/users/%s/level", actors[OTHER].user);
    assert_int_equal(status_of(PLATFORM, "POST", path, "{\"level\": \"basic\"}"), 200);
}

/* ---- rights at every use ------------------------------------------------------------- */

static void test_rights_follow_the_user_at_every_use(void **state)
{
    struct api_response r;
    char path[256], body[256], key[128];
    json_t *doc;

    (void)state;
    /* downgraded, the same session loses its writes at once */
    snprintf(body, sizeof(body), "{\"agent_id\": \"%s\", \"title\": \"before\"}",
             fixture_id[api_resource_index("agents")]);
    assert_int_equal(status_of(OTHER, "POST", "/v1/conversations", body), 201);
    snprintf(path, sizeof(path), "/v1/users/%s", actors[OTHER].user);
    assert_int_equal(status_of(ADMIN, "PATCH", path, "{\"role\": \"viewer\"}"), 200);
    assert_int_equal(status_of(OTHER, "POST", "/v1/conversations", body), 403);
    assert_int_equal(status_of(ADMIN, "PATCH", path, "{\"role\": \"user\"}"), 200);
    assert_int_equal(status_of(OTHER, "POST", "/v1/conversations", body), 201);

    /* a key an admin issues for a user with `admin` can do what the user can, no more */
    snprintf(body, sizeof(body),
             "{\"name\": \"for a user\", \"scopes\": [\"admin\"], \"user_id\": \"%s\"}",
             actors[OTHER].user);
    assert_int_equal(call(ADMIN, "POST", "/v1/api-keys", body, &r), 201);
    doc = json_loads(r.body, 0, NULL);
    snprintf(actors[VIEWER].key, sizeof(actors[VIEWER].key), "%s", /* borrow a slot */
             json_string_value(json_object_get(doc, "key")));
    json_decref(doc);
    api_response_free(&r);
    assert_int_equal(call(VIEWER, "GET", "/v1/users", NULL, &r), 200);
    assert_non_null(strstr(r.body, actors[OTHER].user));
    assert_null(strstr(r.body, actors[ADMIN].user));
    api_response_free(&r);
    assert_int_equal(status_of(VIEWER, "POST", "/v1/agents", "{\"name\": \"x\"}"), 403);
    assert_int_equal(status_of(VIEWER, "GET", "/v1/audit-logs", NULL), 403);

    /* a key without a user, issued by an admin, stops when that admin is suspended */
    assert_int_equal(call(ADMIN, "POST", "/v1/api-keys",
                          "{\"name\": \"service\", \"scopes\": [\"agents:read\"]}", &r),
                     201);
    doc = json_loads(r.body, 0, NULL);
    snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(doc, "key")));
    json_decref(doc);
    api_response_free(&r);
    snprintf(actors[VIEWER].key, sizeof(actors[VIEWER].key), "%s", key);
    assert_int_equal(status_of(VIEWER, "GET", "/v1/agents", NULL), 200);
    snprintf(path, sizeof(path), "/v1/users/%s", actors[ADMIN].user);
    assert_int_equal(status_of(PLATFORM, "PATCH", path, "{\"status\": \"suspended\"}"), 200);
    assert_int_equal(status_of(VIEWER, "GET", "/v1/agents", NULL), 401);
    assert_int_equal(status_of(ADMIN, "GET", "/v1/agents", NULL), 401);
}

/* The seeds' super admin: an admin of the tenant `platform`, who signs in and acts anywhere. */
static void test_the_super_admin_signs_in_and_acts_in_any_tenant(void **state)
{
    char hash[AB_AUTH_HASH_MAX], email[96], body[512], auth[192], named[96], path[160], got[64];
    const char *headers[4] = {auth, named, "Content-Type: application/json", NULL};
    struct api_response r;
    struct ab_error err;
    json_t *doc;

    (void)state;
    assert_int_equal(ab_auth_password_hash(PASSWORD, hash, &err), 0);
    snprintf(email, sizeof(email), "super-%u@roles.test", run_no);
    api_sql(db,
            "INSERT INTO agentbase.users (tenant_id, email, password_hash, role) "
            "SELECT id, $1, $2, 'admin' FROM agentbase.tenants "
            "WHERE slug = 'platform' AND deleted_at IS NULL RETURNING id",
            2, (const char *[]){email, hash}, NULL, 0);
    snprintf(body, sizeof(body),
             "{\"tenant\": \"platform\", \"email\": \"%s\", \"password\": \"%s\"}", email,
             PASSWORD);
    assert_int_equal(api_request("POST", "/v1/auth/login", body, strlen(body), NULL, &r), 0);
    assert_int_equal(r.status, 200);
    doc = json_loads(r.body, 0, NULL);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
             json_string_value(json_object_get(doc, "key")));
    json_decref(doc);
    api_response_free(&r);

    /* every tenant, and inside this one everything, billing included */
    snprintf(named, sizeof(named), "X-Nothing: 1");
    assert_int_equal(api_request("GET", "/v1/tenants?limit=100", NULL, 0, headers, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, tenant));
    api_response_free(&r);
    snprintf(named, sizeof(named), "Agentbase-Tenant: %s", tenant);
    assert_int_equal(api_request("GET", "/v1/users?limit=100", NULL, 0, headers, &r), 0);
    assert_int_equal(r.status, 200);
    for (int a = ADMIN; a < PLATFORM; a++)
        assert_non_null(strstr(r.body, actors[a].user));
    api_response_free(&r);
    snprintf(path, sizeof(path), "/v1/users/%s/level", actors[USER].user);
    snprintf(body, sizeof(body), "{\"level\": \"starter\"}");
    assert_int_equal(api_request("POST", path, body, strlen(body), headers, &r), 0);
    assert_int_equal(r.status, 200);
    api_response_free(&r);
    sql1("SELECT level FROM agentbase.users WHERE id = $1::uuid", actors[USER].user, got,
         sizeof(got));
    assert_string_equal(got, "starter");

    /* a tenant's own admin names no other tenant */
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", actors[ADMIN].key);
    sql1("SELECT id FROM agentbase.tenants WHERE slug = 'platform' AND deleted_at IS NULL", NULL,
         got, sizeof(got));
    snprintf(named, sizeof(named), "Agentbase-Tenant: %s", got);
    assert_int_equal(api_request("GET", "/v1/users", NULL, 0, headers, &r), 0);
    assert_int_equal(r.status, 400);
    api_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sessions_carry_their_roles_scopes_from_role_access),
        cmocka_unit_test(test_the_service_and_the_database_agree_on_the_explicit_scopes),
        cmocka_unit_test(test_every_role_reads_what_role_access_says),
        cmocka_unit_test(test_no_role_writes_what_role_access_forbids),
        cmocka_unit_test(test_a_user_works_with_their_own_rows_only),
        cmocka_unit_test(test_every_escalation_attempt_is_refused_and_changes_nothing),
        cmocka_unit_test(test_the_super_admin_signs_in_and_acts_in_any_tenant),
        cmocka_unit_test(test_rights_follow_the_user_at_every_use),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
