/*
 * api: the REST service: what the handlers share (struct ab_app), the route table, and
 * the serve loop. The app is created once at start-up and read-only afterwards, except
 * for the pool and the server, which are thread-safe.
 */
#ifndef AB_API_H
#define AB_API_H

#include "api/fields.h"
#include "auth/auth.h"
#include "core/core.h"
#include "http/http.h"
#include "pg/errmap.h"
#include "pg/pg.h"
#include "secret/secret.h"
#include "usage/usage.h"

#include <jansson.h>
#include <pthread.h>

struct ab_keystate;

/*
 * State kept between requests per key, exactly per key, for about capacity keys at once
 * (keystate.c): a token bucket of `rate` a second up to `burst` (rate <= 0: no limit), and
 * when the key's last use was last recorded. Thread-safe.
 */
int ab_keystate_create(double rate, double burst, size_t capacity,
                       struct ab_keystate **out) AB_MUSTCHECK;
/* Takes one request for key: 0 when allowed, else the seconds to wait (Retry-After). */
int ab_keystate_take(struct ab_keystate *ks, const char *key);
/* True at most once a minute per key: time to record its last use in the database. */
bool ab_keystate_touch_due(struct ab_keystate *ks, const char *key);
/* How often a key in use had to be forgotten to make room (the table was too small). */
unsigned long ab_keystate_forced_evictions(struct ab_keystate *ks);
void ab_keystate_destroy(struct ab_keystate *ks);

struct ab_app {
    const struct ab_config *cfg;
    struct ab_pg_pool *pool;
    struct ab_http_server *http;
    int schema_head; /* the newest migration this binary knows */
    /* For each resource (same index as ab_resources), its columns read from the catalog
     * (catalog.c); NULL until loaded. */
    struct ab_resource_schema *schemas;
    pthread_mutex_t schemas_lock;       /* guards their first load */
    struct ab_keystate *keys;           /* per-key rate limit and last-use bookkeeping */
    struct ab_keystate *login_account;  /* sign-in attempts per account (login.c) */
    struct ab_keystate *login_address;  /* sign-in attempts per client address */
    struct ab_auth_hasher *hasher;      /* the bounded argon2id pool (auth.h) */
    const struct ab_http_route *routes; /* everything served, for the OpenAPI document */
    struct ab_usage *usage;             /* the accounting batchers (usage.c) */
    size_t nroutes;
    struct ab_secret_ring *secrets;   /* seals and opens stored secrets (thread-safe) */
    struct ab_backup_monitor *backup; /* backups and WAL archiving, for /readyz and /metrics */
};

/* The authenticated caller of a request. */
struct ab_caller {
    char key_id[40];
    char key_tenant[40]; /* the tenant the key belongs to; "" for a platform key */
    char tenant_id[40];  /* the tenant acted in; "" for a platform key without Agentbase-Tenant */
    char user_id[40];
    bool platform;     /* a platform-admin key */
    bool suspended;    /* the key's tenant is suspended */
    char scopes[4096]; /* comma-separated, as stored (a session: every scope of its role) */
    char ip[64];       /* the client's address ("" when unknown) */
    /* The role the key acts with now (viewer, user, admin, platform) and what it allows. */
    char role[16];
    char role_scopes[4096];
    bool must_change_password; /* the user must change it before anything else */
};

/* The one scope a session whose password must be changed still has: changing it. */
#define AB_SCOPE_OWN_PASSWORD "auth:write"

/*
 * Authenticates the request (Authorization: Bearer <key>), checks that the key carries
 * `scope` (NULL: any valid key), and opens the request's transaction on a pooled
 * connection with the request context set (tenant, actor, IP, user agent, request id), so
 * that RLS and the audit triggers see them. tenant_required refuses a platform key that
 * names no tenant. Returns 0 with *conn set, or 1 with the error response already in req.
 * Every successful begin is paired with one ab_api_end.
 */
int ab_api_begin(struct ab_app *app, struct ab_req *req, const char *scope, bool tenant_required,
                 struct ab_caller *who, PGconn **conn);
/*
 * The same checks as ab_api_begin without a transaction afterwards, for handlers that do
 * their work elsewhere (the usage batchers), except that a suspended tenant's key passes
 * (who->suspended says so): the accounting decides, recording the calls that already
 * happened and refusing new reservations. 0, or 1 with the error response set.
 */
int ab_api_authenticate(struct ab_app *app, struct ab_req *req, const char *scope,
                        bool tenant_required, struct ab_caller *who);
/*
 * Commits when req->status < 400 (storing the answer of a claimed Idempotency-Key first),
 * else rolls back; returns the connection to the pool.
 */
void ab_api_end(struct ab_app *app, struct ab_req *req, PGconn *conn);

/* ---- Idempotency-Key (idempotency.c) ------------------------------------------------- */

/* The request's Idempotency-Key in *key (NULL: none); 0, or 1 with the 400 set if malformed. */
int ab_api_idempotency_key(struct ab_req *req, const char **key);
/*
 * For a POST with a key, in the request's transaction (ab_api_begin calls it): 0 when the
 * request goes on (a new key, now claimed, or no key), 1 when it is answered already: the
 * first answer replayed, 422 for the key used with another request, or an error.
 */
int ab_api_idempotency_claim(struct ab_app *app, struct ab_req *req, PGconn *conn);
/* Stores a claimed request's answer (ab_api_end calls it); 0, or 1 with the error set. */
int ab_api_idempotency_complete(struct ab_app *app, struct ab_req *req, PGconn *conn);
/*
 * Parses the request body as one JSON object: at most 32 levels deep, valid UTF-8, no NUL,
 * no duplicate keys. An empty body is {} when empty_ok. On failure the 400 answer is set
 * and NULL returned; the caller owns the result (json_decref).
 */
json_t *ab_api_parse_object(struct ab_req *req, bool empty_ok);
/* True when the comma-separated scopes grant `scope` (see auth.c for the rules). */
bool ab_api_scope_allows(const char *scopes, const char *scope);
/* True for scopes that `admin` does not grant (billing:admin, secrets:read). */
bool ab_api_scope_explicit(const char *scope);
/* True when both the caller's key and its role allow `scope`. */
bool ab_api_caller_allows(const struct ab_caller *who, const char *scope);
/* Reading the value of a stored secret: granted only by this very scope (see auth.c). */
#define AB_SCOPE_SECRETS_READ "secrets:read"

/*
 * A resource's write-only secret (secrets.c). A create or update body may carry it under
 * `field`; the service seals it (secret/secret.h) into the columns <columns>_ciphertext,
 * _nonce and _key_id, with the additional data <tenant>/<row>/<table>.<columns>, and keeps
 * in <columns>_hint which values are set and their last four characters. Every answer
 * shows that hint under `field`, never a value. GET /v1/<name>/{id}/<field, dashed>
 * returns the value to a key holding secrets:read, and audits the read in the same
 * transaction.
 */
struct ab_resource_secret {
    const char *field;      /* in bodies and answers, and the read route: secrets, api_key */
    const char *columns;    /* the prefix of the four columns */
    bool named;             /* an object of named strings (PATCH merges, null removes one);
                             * else one string, required on create */
    const char *audit_type; /* resource type of the audit row of a read: mcp_server_config */
};

/*
 * A table served by the generic resource engine (resource.c) at /v1/<name>. Column lists
 * are comma-separated names of the table's columns.
 */
#define AB_RESOURCE_MAX_FILTERS 16
#define AB_RESOURCE_MAX         128
struct ab_resource {
    const char *name;   /* path segment and scope prefix: agent-assignments */
    const char *table;  /* in schema agentbase: agent_assignments */
    const char *create; /* fields a client may set on create */
    const char *update; /* fields a client may change ("" : immutable) */
    const char *hidden; /* columns never returned */
    /*
     * Columns a list may filter by: ?column=value in the column's type, ?column[in]=a,b and,
     * for times and numbers, ?column[gte]= [gt] [lte] [lt]. Each needs an index that leads
     * with it (after tenant_id); the plan test (tests/sql/filters.sql) checks that.
     */
    const char *filters;
    const char *filled; /* NOT NULL columns a trigger fills when a create leaves them out */
    bool soft_delete;   /* DELETE sets deleted_at; reads skip deleted rows */
    /*
     * Items are addressed by id or by slug (/v1/agents/{id-or-slug}): the table has a slug
     * column unique per tenant among live rows, never shaped like a UUID (0019).
     */
    bool slugs;
    /*
     * A valid create body, for the OpenAPI document and the generated tests. "{{name}}"
     * stands for the id of an object of the resource `name` (listed earlier) in the same
     * tenant; "{{n}}" for a number unique to the test run.
     */
    const char *example;
    const char *parent;        /* nested under this resource's items, or NULL */
    const char *parent_column; /* the column pointing at the parent */
    const char *order_by;      /* a bigint column to page by instead of id, or NULL */
    bool no_delete;            /* no DELETE route */
    const char *write_scope;   /* the scope writes need instead of <name>:write, or NULL */
    bool own_create;           /* POST is a business operation registered elsewhere */
    /*
     * A platform table without tenant_id (tenants): served without a tenant context and
     * inserted without tenant_id; its RLS policies decide what each caller may see and do.
     */
    bool platform;
    /*
     * Reference data without tenant_id that every tenant reads (plans, models, prices,
     * the MCP registry ...); written by the platform (seed, migrations), never by the API.
     */
    bool global;
    const struct ab_resource_secret *secret; /* a write-only secret, or NULL */
    /*
     * Members each object carries besides its columns (NULL: none): a constant SQL list of
     * jsonb_build_object arguments over the row `t` ('feedback', (SELECT ... WHERE ... t.id)),
     * and the fields they are, for the OpenAPI document.
     */
    const char *extra;
    const struct ab_field *extra_fields;
    const size_t *nextra_fields;
    /*
     * The resource's own judgement of a create or update body, before any statement carries
     * the body (NULL: none); row_id is NULL on create. 0, or 1 with the answer set.
     */
    int (*check)(struct ab_app *app, struct ab_req *req, PGconn *conn, const json_t *doc,
                 const char *row_id);
};

/* A resource's columns as fields (catalog.c), in the table's order. */
struct ab_resource_schema {
    struct ab_field *all;     /* every column */
    struct ab_field *columns; /* those an answer shows (all but the hidden ones) */
    struct ab_field *create;  /* writable on create; required where the database needs them */
    struct ab_field *update;  /* writable on update */
    struct ab_field *filters; /* the list filters */
    size_t nall, ncolumns, ncreate, nupdate, nfilters;
    char *owner;     /* the owner column filled from the request (role_access), or NULL */
    json_t *catalog; /* what the catalog said; the fields' strings live here */
    char **choices;  /* storage of the fields' choices */
};
/* Reads r's columns from the catalog into s (ab_api_catalog_free releases it). */
int ab_api_catalog_load(const struct ab_resource *r, PGconn *conn, struct ab_resource_schema *s,
                        struct ab_error *err) AB_MUSTCHECK;
void ab_api_catalog_free(struct ab_resource_schema *s);
/* The column called name (hidden ones included), or NULL. */
const struct ab_field *ab_api_column(const struct ab_resource_schema *s, const char *name);
/*
 * The schemas of every resource (indexed like ab_resources), loading them on first use if
 * start-up could not; NULL, with a 503 answer set, while the database cannot tell.
 */
const struct ab_resource_schema *ab_api_schemas(struct ab_app *app, struct ab_req *req);

extern const struct ab_resource ab_resources[];
extern const size_t ab_nresources;

/* The descriptor of the resource with this path name, or NULL. */
const struct ab_resource *ab_api_resource_named(const char *name);
/*
 * More work for a create, on its transaction right after the INSERT: the new object's JSON
 * is in req->out (201); an error answer set here rolls the whole create back.
 */
typedef void (*ab_api_then)(struct ab_app *app, struct ab_req *req, PGconn *conn, void *arg);
/*
 * The engine's create of r for a resource whose POST is its own (own_create) but whose
 * writing is the engine's: authenticates, checks body (the caller's parsed object, maybe
 * with fields taken out that are no columns) against r's writable fields, inserts and
 * answers 201 with the object; then then(app, req, conn, arg), unless NULL. Borrows body.
 */
int ab_api_resource_create(struct ab_app *app, struct ab_req *req, const struct ab_resource *r,
                           json_t *body, ab_api_then then, void *arg);
/*
 * Answers a failed statement about `what` (a resource name) by the one error map
 * (pg/errmap.h): the client's fault is a 4xx naming the field, never PostgreSQL's words;
 * a database that is away or busy a 503 with Retry-After; anything else a logged 500.
 * Returns 0.
 */
int ab_api_db_error(struct ab_req *req, const char *what, const PGresult *res);
/*
 * Runs sql in conn (the request's transaction) and answers its one JSON text with status;
 * no row or a NULL: 404 "<missing> not found"; an error: ab_api_db_error naming what.
 */
void ab_api_answer_text(struct ab_app *app, struct ab_req *req, PGconn *conn, const char *what,
                        const char *missing, const char *sql, int n, const char *const *params,
                        int status);

/*
 * The statement of a list page of r (as GET would run it) for the query parameters
 * names[i]=values[i], under the parent parent_id for a nested resource: sql, and params
 * (*np of them; params[0], the limit's text, is the caller's to free). 0, or 1 with the
 * 400/404 answer set in req. The list handler builds its statements the same way; the
 * plan test (tests/api/test_plans.c) explains them.
 */
#define AB_API_LIST_MAX_PARAMS (3 + AB_RESOURCE_MAX_FILTERS * 6)
int ab_api_list_sql(struct ab_req *req, const struct ab_resource *r,
                    const struct ab_resource_schema *s, const char *parent_id,
                    const char *const *names, const char *const *values, size_t n,
                    struct ab_buf *sql, const char **params, int *np);

/* Appends the engine's routes (five per resource, and for a secret its read route, whose
 * handler is ab_api_secret_read) to out (capacity cap, *n used). */
int ab_api_resource_routes(struct ab_http_route *out, size_t cap, size_t *n) AB_MUSTCHECK;

/* ---- secrets of resources (secrets.c), for the engine ------------------------------------ */

/* The columns of a secret write, ready as statement parameters (hex for bytea). */
struct ab_api_sealed {
    char id[40];      /* the new row's id (create only) */
    char *ciphertext; /* hex; NULL when the secret is cleared */
    char nonce[2 * AB_SECRET_NONCE_BYTES + 1];
    char key_id[AB_SECRET_ID_MAX + 1];
    char *hint;   /* JSON */
    bool cleared; /* no value left: ciphertext, nonce and key id are NULL */
};
/* 0, or 1 with the 400 answer set: value has the shape of r's secret field. */
int ab_api_secret_check(struct ab_req *req, const struct ab_resource *r, const json_t *value,
                        bool is_create);
/*
 * Seals value (checked) for the row being created (row_id NULL: a new id is drawn) or
 * changed (merging a named secret into the stored one) in the request's transaction; 0, or
 * 1 with the answer set (404 for a row that is not there). ab_api_sealed_free releases out.
 */
int ab_api_secret_seal(struct ab_app *app, struct ab_req *req, PGconn *conn,
                       const struct ab_resource *r, const char *row_id, const json_t *value,
                       struct ab_api_sealed *out);
void ab_api_sealed_free(struct ab_api_sealed *s);
/*
 * The JSON object text s (valid, checked before) with the value of its top-level member
 * `field` replaced by null, so that a secret in a body never becomes a statement parameter.
 * NULL when there is no such member (or no memory); the caller frees the result.
 */
char *ab_api_blank_member(const char *s, size_t len, const char *field);
/*
 * mcp-server-configs' check: a config value under a name the server's env_schema marks
 * secret is refused (agentbase.mcp_server_configs_check_config, given the names alone).
 */
int ab_api_mcp_config_check(struct ab_app *app, struct ab_req *req, PGconn *conn, const json_t *doc,
                            const char *row_id);
/* "<table>.<columns>": the purpose in the additional data of r's sealed secrets. */
void ab_api_secret_purpose(const struct ab_resource *r, char *out, size_t n);
/* GET /v1/<name>/{id}/<field>: the secret's value, for a key holding secrets:read. */
int ab_api_secret_read(void *app, struct ab_req *req);
/*
 * Checks every descriptor against the catalog (each named column must exist, each filter
 * of a kind a query can carry) and loads app->schemas; ab_api_resources_free releases them.
 * Called at start-up, or by the first request that needs them when the database was not
 * ready then (under schemas_lock).
 */
int ab_api_resources_check(struct ab_app *app, PGconn *conn, struct ab_error *err) AB_MUSTCHECK;
void ab_api_resources_free(struct ab_app *app);

/* Business operations: signing in (login.c), issuing and revoking API keys (keys.c). */
int ab_api_login(void *app, struct ab_req *req);
/*
 * Passwords (password.c): POST /v1/users (the engine's create, with an optional password),
 * POST /v1/auth/password (the user changes theirs) and POST /v1/users/{id}/password (an
 * admin resets someone's).
 */
int ab_api_user_create(void *app, struct ab_req *req);
/*
 * Argon2id work off the request workers (password.c), for sign-ins and new passwords:
 * parks req, runs h->job (filled by the caller: what to verify, what to hash) on the
 * hashing pool, then runs next(req, arg) on a request worker like a handler, which answers.
 * When the pool is full or stopping, next runs with a 503 busy (Retry-After: 1) already set
 * and the job not run. h->job.done and .arg are this function's; h lives until next runs.
 */
struct ab_api_hashing {
    struct ab_auth_job job;
    struct ab_app *app;
    struct ab_req *req;
    void (*next)(struct ab_req *req, void *arg);
    void *arg;
};
void ab_api_hash_then(struct ab_app *app, struct ab_req *req, struct ab_api_hashing *h,
                      void (*next)(struct ab_req *req, void *arg), void *arg);
int ab_api_password_change(void *app, struct ab_req *req);
int ab_api_password_reset(void *app, struct ab_req *req);
/* GET /openapi.json, generated from the route table and descriptors (openapi.c). */
int ab_api_openapi(void *app, struct ab_req *req);
int ab_api_key_create(void *app, struct ab_req *req);
/*
 * Answers the JSON object text `object` with "key" added in front: a new key goes to the
 * client without ever being a statement parameter. 0, or a negative error (too large).
 */
int ab_api_answer_with_key(struct ab_req *req, const char *object, const char *key) AB_MUSTCHECK;
int ab_api_key_revoke(void *app, struct ab_req *req);

/* The usage accounting endpoints (usage.c). */
/*
 * What a transaction's statement needs from the request, judged after authentication:
 * fills params (from [0]) and returns 0, or 1 with the answer set.
 */
typedef int (*ab_api_prepare_fn)(struct ab_req *req, void *ctx, const char **params);
/*
 * Authenticates for scope, then prepares the parameters (when prepare is given), then runs
 * one statement returning one JSON text in the request's transaction and answers it with
 * status (no row: 404 naming the path's id; an error: through the one error map). Returns 0.
 */
int ab_api_answer_json(struct ab_app *app, struct ab_req *req, const char *scope, const char *sql,
                       int nparams, const char **params, ab_api_prepare_fn prepare, void *ctx,
                       int status);
/* requests.c: the requests behind the rollups, a user's month, feedback after the fact. */
int ab_api_usage_requests(void *app, struct ab_req *req);
int ab_api_usage_monthly(void *app, struct ab_req *req);
int ab_api_feedback_ai_request(void *app, struct ab_req *req);
int ab_api_feedback_rag_query(void *app, struct ab_req *req);
/* requests.c too: the development platform's reports and downloads. */
int ab_api_containers_idle(void *app, struct ab_req *req);
int ab_api_agent_performance(void *app, struct ab_req *req);
int ab_api_content_download(void *app, struct ab_req *req);

extern const struct ab_http_route ab_usage_routes[];
extern const size_t ab_usage_nroutes;

/* The agent-assignment leases (leases.c). */
extern const struct ab_http_route ab_lease_routes[];
extern const size_t ab_lease_nroutes;

/* Search and batch ingestion of knowledge bases (retrieval.c). */
extern const struct ab_http_route ab_retrieval_routes[];
extern const size_t ab_retrieval_nroutes;

extern const struct ab_http_route ab_api_routes[];
extern const size_t ab_api_nroutes;

/* The operational routes answered on the server's own threads, and the routes of the
 * metrics address (AGENTBASE_METRICS_LISTEN). */
extern const ab_http_handler ab_api_inline_handlers[];
extern const size_t ab_api_ninline;
extern const struct ab_http_route ab_api_metrics_routes[];
extern const size_t ab_api_nmetrics_routes;

/* ---- the business operations' bodies (operations.c) ------------------------------------ */
/*
 * Field lists (fields.h) of what each business operation takes (_fields) and what its
 * success answer holds (_answer, `required`: always present); each with its length
 * (_nfields, _nanswer). The OpenAPI document renders them; handlers check with them.
 */
#define AB_OP_FIELDS(name)                                                                         \
    extern const struct ab_field ab_op_##name##_fields[];                                          \
    extern const size_t ab_op_##name##_nfields
#define AB_OP_ANSWER(name)                                                                         \
    extern const struct ab_field ab_op_##name##_answer[];                                          \
    extern const size_t ab_op_##name##_nanswer
AB_OP_FIELDS(login);
AB_OP_ANSWER(login);
AB_OP_ANSWER(whoami);
AB_OP_FIELDS(password_change);
AB_OP_FIELDS(password_reset);
AB_OP_ANSWER(password);
AB_OP_FIELDS(user_create); /* beside the users resource's create fields */
AB_OP_FIELDS(api_key_create);
AB_OP_ANSWER(api_key); /* beside the api-keys columns */
AB_OP_FIELDS(reserve);
AB_OP_ANSWER(reserve);
AB_OP_FIELDS(settle);
AB_OP_ANSWER(settle);
AB_OP_FIELDS(event);
AB_OP_ANSWER(event);
AB_OP_FIELDS(release); /* none: an empty body or {} */
AB_OP_ANSWER(release);
AB_OP_ANSWER(summary);
AB_OP_ANSWER(usage_monthly);
AB_OP_FIELDS(feedback);
/* The development platform's reports: idle containers, agent performance, downloads. */
AB_OP_ANSWER(containers_idle);
AB_OP_ANSWER(agent_performance);
AB_OP_ANSWER(content_download);
extern const struct ab_field ab_op_containers_idle_query[], ab_op_agent_performance_query[];
extern const size_t ab_op_containers_idle_nquery, ab_op_agent_performance_nquery;
/* The query parameters of GET /v1/usage/requests and /v1/usage/monthly. */
extern const struct ab_field ab_op_usage_requests_query[], ab_op_usage_monthly_query[];
extern const size_t ab_op_usage_requests_nquery, ab_op_usage_monthly_nquery;
/* The feedback member of ai-requests and rag-queries objects. */
extern const struct ab_field ab_op_feedback_extra[];
extern const size_t ab_op_feedback_nextra;
AB_OP_FIELDS(wallet_adjust);
AB_OP_ANSWER(wallet_adjust); /* beside the token-ledger columns */
AB_OP_FIELDS(user_level);
AB_OP_ANSWER(user_level); /* a plan that allocates nothing; else a wallet adjustment's */
AB_OP_FIELDS(search);
AB_OP_ANSWER(search);
AB_OP_FIELDS(chunk_batch);
AB_OP_ANSWER(chunk_batch);
AB_OP_FIELDS(lease_acquire);
AB_OP_FIELDS(lease_release);
AB_OP_ANSWER(lease); /* beside the agent-leases columns */
AB_OP_ANSWER(healthz);
AB_OP_ANSWER(readyz);

#endif
