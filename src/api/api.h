/*
 * api: the REST service: what the handlers share (struct ab_app), the route table, and
 * the serve loop. The app is created once at start-up and read-only afterwards, except
 * for the pool and the server, which are thread-safe.
 */
#ifndef AB_API_H
#define AB_API_H

#include "core/core.h"
#include "http/http.h"
#include "pg/pg.h"
#include "usage/usage.h"

#include <jansson.h>
#include <pthread.h>

struct ab_keystate;

/* Per-key state kept between requests (keystate.c); rate <= 0 means no rate limit. */
int ab_keystate_create(double rate, struct ab_keystate **out) AB_MUSTCHECK;
/* Takes one request for key: 0 when allowed, else the seconds to wait (Retry-After). */
int ab_keystate_take(struct ab_keystate *ks, const char *key);
/* True at most once a minute per key: time to record its last use in the database. */
bool ab_keystate_touch_due(struct ab_keystate *ks, const char *key);
void ab_keystate_destroy(struct ab_keystate *ks);

struct ab_app {
    const struct ab_config *cfg;
    struct ab_pg_pool *pool;
    struct ab_http_server *http;
    int schema_head; /* the newest migration this binary knows */
    /*
     * For each resource (same index as ab_resources), its writable columns with the JSON
     * kind each accepts, read from the catalog at start-up: ",name:s,temperature:n,".
     * s string, n number, b boolean, a array, j any JSON. NULL until checked.
     */
    char **kinds;
    pthread_mutex_t kinds_lock;         /* guards the first load of kinds */
    struct ab_keystate *keys;           /* per-key rate limit and last-use bookkeeping */
    const struct ab_http_route *routes; /* everything served, for the OpenAPI document */
    struct ab_usage *usage;             /* the accounting batchers (usage.c) */
    size_t nroutes;
};

/* The authenticated caller of a request. */
struct ab_caller {
    char key_id[40];
    char tenant_id[40]; /* the tenant acted in; "" for a platform key without Agentbase-Tenant */
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
/* Commits when req->status < 400, else rolls back; returns the connection to the pool. */
void ab_api_end(struct ab_app *app, struct ab_req *req, PGconn *conn);
/*
 * Parses the request body as one JSON object: at most 32 levels deep, valid UTF-8, no NUL,
 * no duplicate keys. An empty body is {} when empty_ok. On failure the 400 answer is set
 * and NULL returned; the caller owns the result (json_decref).
 */
json_t *ab_api_parse_object(struct ab_req *req, bool empty_ok);
/* True when s is a UUID in its textual form (any case). */
bool ab_api_is_uuid(const char *s);
/* True when the comma-separated scopes grant `scope` (see auth.c for the rules). */
bool ab_api_scope_allows(const char *scopes, const char *scope);
/* True for scopes that `admin` does not grant (billing:admin, secrets:read). */
bool ab_api_scope_explicit(const char *scope);
/* True when both the caller's key and its role allow `scope`. */
bool ab_api_caller_allows(const struct ab_caller *who, const char *scope);

/*
 * A table served by the generic resource engine (resource.c) at /v1/<name>. Column lists
 * are comma-separated names of the table's columns.
 */
#define AB_RESOURCE_MAX_FILTERS 8
#define AB_RESOURCE_MAX         128
struct ab_resource {
    const char *name;    /* path segment and scope prefix: agent-assignments */
    const char *table;   /* in schema agentbase: agent_assignments */
    const char *create;  /* fields a client may set on create */
    const char *update;  /* fields a client may change ("" : immutable) */
    const char *hidden;  /* columns never returned */
    const char *filters; /* columns usable as ?column=value list filters (at most 8) */
    bool soft_delete;    /* DELETE sets deleted_at; reads skip deleted rows */
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
};

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
 * Answers a failed statement about `what` (a resource name): the client's fault is a 4xx
 * with PostgreSQL's words (constraints, our functions' 42501 "field ..." and AB404), RLS
 * and privilege refusals a 403 that says less; anything else 5xx. Returns 0.
 */
int ab_api_db_error(struct ab_req *req, const char *what, const PGresult *res);

/* Appends the engine's five routes per resource to out (capacity cap, *n used). */
int ab_api_resource_routes(struct ab_http_route *out, size_t cap, size_t *n) AB_MUSTCHECK;
/*
 * Checks every descriptor against the catalog (each named column must exist) and fills
 * app->kinds; ab_api_resources_free releases them. Called at start-up, or by the first
 * request that needs kinds when the database was not ready then (under kinds_lock).
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
extern const struct ab_http_route ab_usage_routes[];
extern const size_t ab_usage_nroutes;

extern const struct ab_http_route ab_api_routes[];
extern const size_t ab_api_nroutes;

/*
 * Serves until SIGTERM or SIGINT, then finishes the requests in flight (up to 30 s) and
 * returns. Prints the address it listens on once it is ready.
 */
int ab_api_serve(const struct ab_config *cfg, const char *conninfo,
                 struct ab_error *err) AB_MUSTCHECK;

#endif
