/*
 * The generic resource engine: list, get, create, patch and delete for every table that
 * is plain CRUD, driven by the descriptor table below instead of a handler per table.
 *
 * Safety by construction:
 * - Identifiers in SQL come only from descriptors, never from a request: a request's
 *   field names are matched against the descriptor's whitelist and the descriptor's own
 *   spelling is what reaches the SQL. Values are always parameters.
 * - A field that is unknown, or known but not writable (id, tenant_id, counters kept by
 *   triggers, secrets), is refused with 400 naming it: no mass assignment.
 * - Rows come back as to_jsonb(row) minus the descriptor's hidden columns: PostgreSQL
 *   builds the JSON, and secrets never leave the database. A resource's write-only secret
 *   (secrets.c) is sealed before its statement runs, and answered with its hint only.
 * - RLS scopes every statement to the caller's tenant; a row of another tenant is simply
 *   not found (404), exactly like a row that does not exist.
 * - At start-up every descriptor is checked against the catalog, so a descriptor that
 *   names a column the migrations do not have stops the server instead of failing later.
 */
#include "api/api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JSON_DEPTH 32
#define DEFAULT_LIMIT  50
#define MAX_LIMIT      500
#define PAGE_BYTES     (8 << 20) /* a page stops growing past this (see page_sql) */

/* The descriptor table itself is in tables.c. */

/* ======================================================================================
 * Column lists
 * ====================================================================================== */

/* The entry of list (comma-separated) equal to name, or NULL; *len gets its length. */
static const char *list_find(const char *list, const char *name, size_t *len)
{
    size_t n = strlen(name);

    for (const char *p = list; *p;) {
        size_t l = strcspn(p, ",");

        if (l == n && memcmp(p, name, n) == 0) {
            *len = l;
            return p;
        }
        p += l;
        if (*p == ',')
            p++;
    }
    return NULL;
}

/* Appends list as a SQL text[] literal body: '{a,b}' (names are [a-z_] by construction). */
static int hidden_array(struct ab_buf *b, const struct ab_resource *r)
{
    return ab_buf_printf(b, "'{%s}'::text[]", r->hidden);
}

/* The answer for row t: to_jsonb(t) minus the hidden columns, a secret's hint under the
 * secret's field, and the descriptor's extra members. */
static int row_doc(struct ab_buf *b, const struct ab_resource *r)
{
    int rc = ab_buf_puts(b, "((to_jsonb(t) - ");

    rc = rc ? rc : hidden_array(b, r);
    if (!rc && r->secret)
        rc = ab_buf_printf(b, ") || jsonb_build_object('%s', t.%s_hint", r->secret->field,
                           r->secret->columns);
    if (!rc && r->extra)
        rc = ab_buf_printf(b, ") || jsonb_build_object(%s", r->extra);
    return rc ? rc : ab_buf_puts(b, "))");
}

/* ======================================================================================
 * Input checks
 * ====================================================================================== */

/* Nesting depth of a JSON text, counted outside strings; stops early past max. */
static int json_depth(const char *s, size_t len, int max)
{
    int depth = 0, deepest = 0;
    bool in_string = false;

    for (size_t i = 0; i < len && deepest <= max; i++) {
        char c = s[i];

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > deepest)
                deepest = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

json_t *ab_api_parse_object(struct ab_req *req, bool empty_ok)
{
    json_error_t jerr;
    json_t *doc;

    if (req->body.len == 0) {
        if (empty_ok)
            return json_object();
        ab_http_error(req, 400, "invalid_json", "the request needs a JSON object body");
        return NULL;
    }
    if (json_depth(req->body.data, req->body.len, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
        ab_http_error(req, 400, "invalid_json", "the JSON is nested deeper than %d levels",
                      MAX_JSON_DEPTH);
        return NULL;
    }
    /* jansson refuses invalid UTF-8 and, without JSON_ALLOW_NUL, "\u0000" in strings. */
    doc = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        ab_http_error(req, 400, "invalid_json", "invalid JSON at line %d, column %d: %s", jerr.line,
                      jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        ab_http_error(req, 400, "invalid_json", "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* r's schema: its columns as the catalog has them. */
static const struct ab_resource_schema *schema_of(const struct ab_resource_schema *all,
                                                  const struct ab_resource *r)
{
    return &all[r - ab_resources];
}

/*
 * Checks doc against r's writable fields (and the secret's, which its own check judges);
 * 0, or 1 with the 400 answer set.
 */
static int check_body(struct ab_req *req, const struct ab_resource *r,
                      const struct ab_resource_schema *s, json_t *doc, bool is_create)
{
    json_t *value = r->secret ? json_object_get(doc, r->secret->field) : NULL;
    json_t *rest;
    int rc;

    if (value && ab_api_secret_check(req, r, value, is_create))
        return 1;
    if (!value)
        return ab_fields_check(req, doc, is_create ? s->create : s->update,
                               is_create ? s->ncreate : s->nupdate,
                               AB_CHECK_NONEMPTY | (is_create ? AB_CHECK_CREATE : 0), r->name);
    /* the other fields, without the secret's */
    if (!(rest = json_copy(doc)))
        return ab_http_error(req, 500, "internal", "out of memory") + 1;
    json_object_del(rest, r->secret->field);
    rc = ab_fields_check(req, rest, is_create ? s->create : s->update,
                         is_create ? s->ncreate : s->nupdate, is_create ? AB_CHECK_CREATE : 0,
                         r->name);
    json_decref(rest);
    return rc;
}

/* ======================================================================================
 * Database errors as HTTP answers
 * ====================================================================================== */

int ab_api_db_error(struct ab_req *req, const char *what, const PGresult *res)
{
    struct ab_pg_answer a;

    ab_pg_answer_result(res, what, &a);
    if (a.log)
        fprintf(stderr, "agentbase: database error on %s: %s (SQLSTATE %s)\n", what,
                res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : "no result",
                res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : "none");
    if (a.retry)
        snprintf(req->retry_after, sizeof(req->retry_after), "1");
    return ab_http_error_at(req, a.status, a.code, a.param[0] ? a.param : NULL, "%s", a.message);
}

void ab_api_answer_text(struct ab_app *app, struct ab_req *req, PGconn *conn, const char *what,
                        const char *missing, const char *sql, int n, const char *const *params,
                        int status)
{
    /* Prepared once per connection: the engine's statements repeat with every request. */
    PGresult *res = ab_pg_pool_exec(app->pool, conn, sql, n, params);

    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        ab_api_db_error(req, what, res);
    else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
        ab_http_error(req, 404, "not_found", "%s not found", missing);
    else if (ab_buf_puts(&req->out, PQgetvalue(res, 0, 0)) != 0)
        ab_http_error(req, 500, "internal", "response too large");
    else
        req->status = status;
    PQclear(res);
}

/* ab_api_answer_text for resource r: a missing row is named by its path. */
static void answer(struct ab_app *app, struct ab_req *req, const struct ab_resource *r,
                   PGconn *conn, const char *sql, int n, const char *const *params, int status)
{
    char missing[256];

    snprintf(missing, sizeof(missing), "%s/%s", r->parent ? r->parent : r->name,
             req->params[0] ? req->params[0] : "");
    ab_api_answer_text(app, req, conn, r->name, missing, sql, n, params, status);
}

/* ======================================================================================
 * Handlers
 * ====================================================================================== */

/*
 * Scope names are the resource's path name: agents:read, agent-assignments:write ...; a
 * platform-governed resource is written with its own scope (billing:admin).
 */
static void scope_of(const struct ab_resource *r, bool write, char *out, size_t n)
{
    if (write && r->write_scope)
        snprintf(out, n, "%s", r->write_scope);
    else
        snprintf(out, n, "%s:%s", r->name, write ? "write" : "read");
}

static int begin_for(struct ab_app *app, struct ab_req *req, const struct ab_resource *r,
                     bool write, PGconn **conn);

/* A query parameter where a route takes none. */
static int no_param(void *ctx, const char *name, const char *value)
{
    (void)value;
    return ab_http_error_at(ctx, 400, "unknown_parameter", name,
                            "unknown query parameter '%s': this route takes none", name) +
           1;
}

/* A slug's shape (0019 checks the rest): 1 to 64 lowercase letters, digits and dashes. */
static bool slug_shaped(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/*
 * The column that the path's {id} names a row of r by: "id" for a UUID, "slug" for a slug of
 * a resource that has them; NULL when no row can match (a 404, like a row that is not there).
 * So an item has two statements, each one text and each served by its unique index.
 */
static const char *item_key(const struct ab_resource *r, const char *param)
{
    if (ab_api_is_uuid(param))
        return "id";
    return r->slugs && slug_shaped(param) ? "slug" : NULL;
}

/*
 * GET and DELETE of /v1/<name>/{id}: authenticates for r, then refuses any query parameter
 * and an id that names no row (404, like any id that is not there), then runs sql.
 */
static int run_item(struct ab_app *app, struct ab_req *req, const struct ab_resource *r, bool write,
                    const char *sql, int status)
{
    const char *params[1] = {req->params[0]};
    PGconn *conn;

    if (begin_for(app, req, r, write, &conn) != 0)
        return 0;
    if (ab_http_query_each(req, no_param, req) == 0) {
        if (!item_key(r, req->params[0]))
            ab_http_error(req, 404, "not_found", "%s/%s not found", r->name, req->params[0]);
        else
            answer(app, req, r, conn, sql, 1, params, status);
    }
    ab_api_end(app, req, conn);
    return 0;
}

/* Tables with a tenant_id column: all but the platform's tenants and global reference data. */
static bool has_tenant(const struct ab_resource *r)
{
    return !r->platform && !r->global;
}

/* " AND t.deleted_at IS NULL" for soft-deleting resources. */
static const char *live(const struct ab_resource *r)
{
    return r->soft_delete ? " AND t.deleted_at IS NULL" : "";
}

static bool parse_limit(const char *s, long *out)
{
    char *end;
    long v;

    if (!s)
        return true;
    v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < 1 || v > MAX_LIMIT)
        return false;
    *out = v;
    return true;
}

const struct ab_resource *ab_api_resource_named(const char *name)
{
    for (size_t i = 0; name && i < ab_nresources; i++)
        if (strcmp(ab_resources[i].name, name) == 0)
            return &ab_resources[i];
    return NULL;
}

/* A cursor must look like a value of the ordering column: an id, or a whole number. */
static bool cursor_ok(const struct ab_resource *r, const char *after)
{
    if (!r->order_by)
        return ab_api_is_uuid(after);
    return after[0] && strlen(after) <= 18 && strspn(after, "0123456789") == strlen(after);
}

/*
 * " AND EXISTS (the live parent $n)" for a nested resource: a list or create under a
 * parent that does not exist (or belongs to another tenant) is a 404, not an empty list.
 */
static int parent_exists(struct ab_buf *sql, const struct ab_resource *r, int n)
{
    const struct ab_resource *p = ab_api_resource_named(r->parent);

    return ab_buf_printf(sql, "EXISTS (SELECT 1 FROM agentbase.%s p WHERE p.id = $%d::uuid%s)",
                         p->table, n, p->soft_delete ? " AND p.deleted_at IS NULL" : "");
}

/* ---- lists: paging and filters ----------------------------------------------------- */

/* The operators of a list filter, as a query names them and as SQL compares. */
static const struct filter_op {
    const char *suffix;
    const char *sql; /* NULL: [in] */
    bool range;      /* only for times and numbers */
} filter_ops[] = {
    {"", "=", false},    {"[in]", NULL, false}, {"[gte]", ">=", true},
    {"[gt]", ">", true}, {"[lte]", "<=", true}, {"[lt]", "<", true},
};
#define NOPS        AB_ARRAY_LEN(filter_ops)
#define MAX_IN      100
#define QUERY_STORE 8192

/* A list request's query, parameter by parameter (see list_param). */
struct list_query {
    struct ab_req *req;
    const struct ab_resource *r;
    const struct ab_resource_schema *s;
    const char *parent_id; /* a nested list's parent, from the path */
    const char *limit, *after, *order;
    char limit_text[16];
    const char *values[AB_RESOURCE_MAX_FILTERS][NOPS]; /* each filter's value per operator */
    char store[QUERY_STORE];                           /* values that needed mending */
    size_t used;
};

static bool range_kind(enum ab_kind k)
{
    return k == AB_KIND_DATETIME || k == AB_KIND_DATE || k == AB_KIND_INTEGER ||
           k == AB_KIND_NUMBER;
}

/* A query's '+' arrives as a space: "...T10:00:00 02:00" is the offset +02:00. */
static const char *mend_offset(struct list_query *q, const char *v)
{
    size_t n = strlen(v);
    char *copy;

    if (n < 6 || !strchr(v, ' ') || q->used + n + 1 > sizeof(q->store))
        return v;
    copy = q->store + q->used;
    memcpy(copy, v, n + 1);
    q->used += n + 1;
    for (char *c = copy; *c; c++)
        if (*c == ' ' && c > copy + 10)
            *c = '+';
    return copy;
}

/* Checks one value (or, for [in], each of a list) of filter f; 0, or 1 with the 400 set. */
static int filter_value(struct list_query *q, const struct ab_field *f, const char *name,
                        const char *v, bool list)
{
    char one[512];
    size_t count = 0;

    for (const char *p = v;; p += strcspn(p, ",") + 1) {
        size_t len = list ? strcspn(p, ",") : strlen(p);
        const char *wrong;

        if (++count > MAX_IN)
            return ab_http_error_at(q->req, 400, "invalid_parameter", name,
                                    "parameter '%s' takes at most %d values", name, MAX_IN) +
                   1;
        if (len >= sizeof(one))
            return ab_http_error_at(q->req, 400, "invalid_parameter", name,
                                    "parameter '%s' has a value that is too long", name) +
                   1;
        snprintf(one, sizeof(one), "%.*s", (int)len, p);
        if ((wrong = ab_fields_check_text(f, one)) != NULL)
            return ab_http_error_at(q->req, 400, "invalid_parameter", name,
                                    "parameter '%s' must be %s%s", name, list ? "a list of " : "",
                                    wrong) +
                   1;
        if (!list || !p[len])
            return 0;
    }
}

/* One query parameter of a list; 0, or 1 with the 400 answer set. */
static int list_param(void *ctx, const char *name, const char *value)
{
    struct list_query *q = ctx;
    const char **slot = strcmp(name, "limit") == 0   ? &q->limit
                        : strcmp(name, "after") == 0 ? &q->after
                        : strcmp(name, "order") == 0 ? &q->order
                                                     : NULL;
    size_t col = strcspn(name, "["), fi, op;
    const struct ab_field *f = NULL;

    if (!slot) {
        for (fi = 0; fi < q->s->nfilters && !f; fi++)
            if (strlen(q->s->filters[fi].name) == col &&
                strncmp(q->s->filters[fi].name, name, col) == 0)
                f = &q->s->filters[fi];
        if (!f)
            return ab_http_error_at(q->req, 400, "unknown_parameter", name,
                                    "unknown query parameter '%s': %s lists take limit, after, "
                                    "order%s%s",
                                    name, q->r->name, q->s->nfilters ? " and the filters " : "",
                                    q->r->filters) +
                   1;
        fi--;
        for (op = 0; op < NOPS && strcmp(filter_ops[op].suffix, name + col) != 0; op++)
            ;
        if (op == NOPS)
            return ab_http_error_at(q->req, 400, "invalid_parameter", name,
                                    "parameter '%s' has an unknown operator: use %s=, %s[in]=%s",
                                    name, f->name, f->name,
                                    range_kind(f->kind) ? ", [gte]=, [gt]=, [lte]= or [lt]=" : "") +
                   1;
        if (filter_ops[op].range && !range_kind(f->kind))
            return ab_http_error_at(q->req, 400, "invalid_parameter", name,
                                    "parameter '%s': %s takes no range, only = and [in]", name,
                                    f->name) +
                   1;
        slot = &q->values[fi][op];
        if (f->kind == AB_KIND_DATETIME)
            value = mend_offset(q, value);
        if (!*slot && filter_value(q, f, name, value, filter_ops[op].sql == NULL))
            return 1;
    }
    if (*slot)
        return ab_http_error_at(q->req, 400, "invalid_parameter", name,
                                "parameter '%s' is given twice", name) +
               1;
    *slot = value;
    return 0;
}

/*
 * The SQL of a page: the filters in the descriptor's order, each compared in its column's
 * type, so that one shape of query has one statement text and every condition can be an
 * index condition (the cursor too: it is only there when the query has one). Parameters:
 * $1 the limit, then the cursor, the parent, the filters' values (into params from *np).
 */
static int page_sql(struct ab_buf *sql, const struct list_query *q, const char **params, int *np)
{
    const struct ab_resource *r = q->r;
    const char *key = r->order_by ? r->order_by : "id";
    const char *key_type = r->order_by ? "bigint" : "uuid";
    bool desc = q->order && strcmp(q->order, "desc") == 0;
    int rc = ab_buf_printf(sql, "WITH page AS (SELECT t.%s AS k, ", key);

    rc = rc ? rc : row_doc(sql, r);
    rc =
        rc ? rc : ab_buf_printf(sql, " AS doc FROM agentbase.%s t WHERE true%s", r->table, live(r));
    if (!rc && q->after) {
        params[(*np)++] = q->after;
        rc = ab_buf_printf(sql, " AND t.%s %s $%d::%s", key, desc ? "<" : ">", *np, key_type);
    }
    if (!rc && r->parent) {
        params[(*np)++] = q->parent_id;
        rc = ab_buf_printf(sql, " AND t.%s = $%d::uuid", r->parent_column, *np);
    }
    for (size_t f = 0; f < q->s->nfilters && !rc; f++)
        for (size_t op = 0; op < NOPS && !rc; op++) {
            const struct ab_field *c = &q->s->filters[f];

            if (!q->values[f][op])
                continue;
            params[(*np)++] = q->values[f][op];
            if (filter_ops[op].sql)
                rc = ab_buf_printf(sql, " AND t.%s %s $%d::%s", c->name, filter_ops[op].sql, *np,
                                   c->sql_type);
            else
                rc = ab_buf_printf(sql, " AND t.%s = ANY (string_to_array($%d, ',')::%s[])",
                                   c->name, *np, c->sql_type);
        }
    /*
     * A page holds up to the limit's rows, and stops early (has_more, with the cursor at its
     * last row) once its objects pass PAGE_BYTES: a page of large objects is cut, never
     * refused. The first row is always in.
     */
    rc = rc ? rc
            : ab_buf_printf(sql,
                            " ORDER BY t.%s %s LIMIT $1::int + 1), "
                            "numbered AS (SELECT k, doc, row_number() OVER w AS n, "
                            "  sum(octet_length(doc::text)) OVER w AS bytes FROM page "
                            "  WINDOW w AS (ORDER BY k %s ROWS UNBOUNDED PRECEDING)), "
                            "kept AS (SELECT k, doc, n FROM numbered "
                            "  WHERE n <= $1::int AND (n = 1 OR bytes <= %d)) "
                            "SELECT CASE WHEN ",
                            key, desc ? "DESC" : "ASC", desc ? "DESC" : "ASC", PAGE_BYTES);
    rc = rc ? rc : r->parent ? parent_exists(sql, r, q->after ? 3 : 2) : ab_buf_puts(sql, "true");
    return rc ? rc
              : ab_buf_puts(
                    sql, " THEN jsonb_build_object("
                         "  'data', coalesce((SELECT jsonb_agg(doc ORDER BY n) FROM kept), '[]'),"
                         "  'has_more', (SELECT count(*) FROM numbered) > "
                         "     (SELECT count(*) FROM kept),"
                         "  'next_cursor', (SELECT k::text FROM kept "
                         "     WHERE (SELECT count(*) FROM numbered) > (SELECT count(*) FROM kept) "
                         "     ORDER BY n DESC LIMIT 1))::text END");
}

/*
 * After the parameters are in: checks limit, after and order, and builds the page's
 * statement into sql with its parameters (params, *np of them). 0, or 1 with the answer set.
 */
static int list_statement(struct list_query *q, struct ab_buf *sql, const char **params, int *np)
{
    struct ab_req *req = q->req;
    long lim = DEFAULT_LIMIT;

    if (!parse_limit(q->limit, &lim))
        return ab_http_error_at(req, 400, "invalid_parameter", "limit",
                                "limit must be a number from 1 to %d", MAX_LIMIT) +
               1;
    if (q->after && !cursor_ok(q->r, q->after))
        return ab_http_error_at(req, 400, "invalid_parameter", "after",
                                "after must be a cursor from next_cursor") +
               1;
    if (q->order && strcmp(q->order, "asc") != 0 && strcmp(q->order, "desc") != 0)
        return ab_http_error_at(req, 400, "invalid_parameter", "order",
                                "order must be asc or desc") +
               1;
    if (q->r->parent && !ab_api_is_uuid(q->parent_id))
        return ab_http_error(req, 404, "not_found", "%s/%s not found", q->r->parent, q->parent_id) +
               1;
    snprintf(q->limit_text, sizeof(q->limit_text), "%ld", lim);
    params[0] = q->limit_text;
    *np = 1;
    if (page_sql(sql, q, params, np) != 0)
        return ab_http_error(req, 500, "internal", "out of memory") + 1;
    return 0;
}

int ab_api_list_sql(struct ab_req *req, const struct ab_resource *r,
                    const struct ab_resource_schema *s, const char *parent_id,
                    const char *const *names, const char *const *values, size_t n,
                    struct ab_buf *sql, const char **params, int *np)
{
    struct list_query *q = calloc(1, sizeof(*q));
    int rc = 0;

    if (!q)
        return ab_http_error(req, 500, "internal", "out of memory") + 1;
    *q = (struct list_query){.req = req, .r = r, .s = s, .parent_id = parent_id};
    for (size_t i = 0; i < n && !rc; i++)
        rc = list_param(q, names[i], values[i]);
    rc = rc ? rc : list_statement(q, sql, params, np);
    /* the parameters must outlive q: the limit's text is the one that lives in it */
    if (!rc && (params[0] = strdup(q->limit_text)) == NULL)
        rc = ab_http_error(req, 500, "internal", "out of memory") + 1;
    free(q);
    return rc;
}

/*
 * GET /v1/<name> or /v1/<parent>/{id}/<name>, with ?limit=&after=&order=asc|desc and the
 * descriptor's filters: keyset pagination on the ordering column (id, which is
 * time-ordered, unless the descriptor names another), never OFFSET. Any other parameter
 * is refused, naming it.
 */
static int list(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;
    const struct ab_resource *r = ab_http_route_data(req);
    const char *params[AB_API_LIST_MAX_PARAMS];
    const struct ab_resource_schema *all;
    struct list_query *q = NULL;
    struct ab_buf sql;
    PGconn *conn;
    int np = 0;

    if (begin_for(app, req, r, false, &conn))
        return 0;
    ab_buf_init(&sql, 64 * 1024);
    if (!(all = ab_api_schemas(app, req)))
        goto out;
    if (!(q = calloc(1, sizeof(*q)))) {
        ab_http_error(req, 500, "internal", "out of memory");
        goto out;
    }
    *q = (struct list_query){
        .req = req, .r = r, .s = schema_of(all, r), .parent_id = req->params[0]};
    if (ab_http_query_each(req, list_param, q) == 0 && list_statement(q, &sql, params, &np) == 0)
        answer(app, req, r, conn, sql.data, np, params, 200);
out:
    free(q);
    ab_buf_free(&sql);
    ab_api_end(app, req, conn);
    return 0;
}

/* GET /v1/<name>/{id} */
static int get(void *appv, struct ab_req *req)
{
    const struct ab_resource *r = ab_http_route_data(req);
    struct ab_buf sql;

    const char *key = item_key(r, req->params[0]);

    ab_buf_init(&sql, 16 * 1024);
    if (ab_buf_puts(&sql, "SELECT ") || row_doc(&sql, r) ||
        ab_buf_printf(&sql, "::text FROM agentbase.%s t WHERE t.%s = $1%s", r->table,
                      key ? key : "id", live(r)))
        ab_http_error(req, 500, "internal", "out of memory");
    else
        run_item(appv, req, r, false, sql.data, 200);
    ab_buf_free(&sql);
    return 0;
}

/*
 * Appends every field of doc (checked before) as its column, in the table's order whatever
 * the body's order, so that a resource's statements have one text per set of fields; each
 * wrapped as fmt ("%s" or "r.%s") and separated by commas.
 */
static int append_fields(struct ab_buf *b, json_t *doc, const struct ab_field *fields, size_t n,
                         const char *fmt)
{
    bool first = true;
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i++) {
        if (!json_object_get(doc, fields[i].name))
            continue;
        rc = ab_buf_puts(b, first ? "" : ", ");
        rc = rc ? rc : ab_buf_printf(b, fmt, fields[i].name);
        first = false;
    }
    return rc;
}

const struct ab_resource_schema *ab_api_schemas(struct ab_app *app, struct ab_req *req)
{
    struct ab_resource_schema *s;
    struct ab_error err;
    PGconn *conn;

    pthread_mutex_lock(&app->schemas_lock);
    if (!app->schemas && ab_pg_pool_acquire(app->pool, 2000, &conn, &err) == 0) {
        if (ab_api_resources_check(app, conn, &err) != 0) {
            ab_api_resources_free(app);
            fprintf(stderr, "agentbase: %s\n", err.message);
        }
        ab_pg_pool_release(app->pool, conn);
    }
    s = app->schemas;
    pthread_mutex_unlock(&app->schemas_lock);
    if (!s)
        ab_http_error(req, 503, "not_ready", "the database is not ready (see /readyz)");
    return s;
}

/* Authenticates for r (read or write scope) and opens the transaction; 0 on success. */
static int begin_for(struct ab_app *app, struct ab_req *req, const struct ab_resource *r,
                     bool write, PGconn **conn)
{
    struct ab_caller who;
    char scope[96];

    scope_of(r, write, scope, sizeof(scope));
    return ab_api_begin(app, req, scope, has_tenant(r), &who, conn);
}

/*
 * A sealed secret's columns (with the new row's id first on create) after the fields of doc,
 * as names (values false) or as parameters from $first on (values true).
 */
static int sealed_columns(struct ab_buf *sql, const struct ab_resource *r, json_t *doc,
                          bool is_create, bool values, int first)
{
    const char *c = r->secret->columns;
    int rc = ab_buf_puts(sql, json_object_size(doc) ? ", " : "");

    if (!values)
        return rc ? rc
                  : ab_buf_printf(sql, "%s%s_ciphertext, %s_nonce, %s_key_id, %s_hint",
                                  is_create ? "id, " : "", c, c, c, c);
    if (!rc && is_create)
        rc = ab_buf_printf(sql, "$%d::uuid, ", first++);
    return rc ? rc
              : ab_buf_printf(sql, "decode($%d, 'hex'), decode($%d, 'hex'), $%d, $%d::jsonb", first,
                              first + 1, first + 2, first + 3);
}

/*
 * The INSERT for the fields of doc: only the fields given are inserted, so column defaults
 * still apply, and the tenant is always the caller's. sealed: with a secret's columns, whose
 * parameters start at $first.
 */
static int insert_sql(struct ab_buf *sql, const struct ab_resource *r,
                      const struct ab_resource_schema *s, json_t *doc, bool sealed, int first)
{
    int rc = ab_buf_printf(sql, "INSERT INTO agentbase.%s AS t (%s", r->table,
                           has_tenant(r) ? "tenant_id, " : "");

    rc = rc ? rc : r->parent ? ab_buf_printf(sql, "%s, ", r->parent_column) : 0;
    rc = rc ? rc : append_fields(sql, doc, s->create, s->ncreate, "%s");
    rc = rc ? rc : sealed ? sealed_columns(sql, r, doc, true, false, first) : 0;
    rc = rc ? rc
            : ab_buf_printf(sql, ") SELECT %s",
                            has_tenant(r) ? "agentbase.current_tenant_id(), " : "");
    rc = rc ? rc : r->parent ? ab_buf_puts(sql, "$2::uuid, ") : 0;
    rc = rc ? rc : append_fields(sql, doc, s->create, s->ncreate, "r.%s");
    rc = rc ? rc : sealed ? sealed_columns(sql, r, doc, true, true, first) : 0;
    rc = rc ? rc
            : ab_buf_printf(sql, " FROM jsonb_populate_record(NULL::agentbase.%s, $1::jsonb) r ",
                            r->table);
    if (!rc && r->parent) {
        rc = ab_buf_puts(sql, "WHERE ");
        rc = rc ? rc : parent_exists(sql, r, 2);
    }
    rc = rc ? rc : ab_buf_puts(sql, " RETURNING ");
    rc = rc ? rc : row_doc(sql, r);
    return rc ? rc : ab_buf_puts(sql, "::text");
}

/* The UPDATE that sets exactly the fields of doc (and a sealed secret's) on row $1 (key). */
static int update_sql(struct ab_buf *sql, const struct ab_resource *r,
                      const struct ab_resource_schema *s, json_t *doc, bool sealed, int first,
                      const char *key)
{
    int rc = ab_buf_printf(sql, "UPDATE agentbase.%s AS t SET (", r->table);

    rc = rc ? rc : append_fields(sql, doc, s->update, s->nupdate, "%s");
    rc = rc ? rc : sealed ? sealed_columns(sql, r, doc, false, false, first) : 0;
    rc = rc ? rc : ab_buf_puts(sql, ") = (SELECT ");
    rc = rc ? rc : append_fields(sql, doc, s->update, s->nupdate, "r.%s");
    rc = rc ? rc : sealed ? sealed_columns(sql, r, doc, false, true, first) : 0;
    rc = rc ? rc
            : ab_buf_printf(sql,
                            " FROM jsonb_populate_record(NULL::agentbase.%s, $2::jsonb) r) "
                            "WHERE t.%s = $1%s RETURNING ",
                            r->table, item_key(r, key) ? item_key(r, key) : "id", live(r));
    rc = rc ? rc : row_doc(sql, r);
    return rc ? rc : ab_buf_puts(sql, "::text");
}

/*
 * For a resource with a secret: when the body carries it, seals it into *sealed, takes it
 * out of doc and sets *body to a copy of the body with the secret blanked (the caller frees
 * it). A create without its required secret is refused. 0, or 1 with the answer set.
 */
static int take_secret(struct ab_app *app, struct ab_req *req, PGconn *conn,
                       const struct ab_resource *r, bool is_create, json_t *doc,
                       struct ab_api_sealed *sealed, char **body)
{
    const char *field = r->secret ? r->secret->field : NULL;
    json_t *value = field ? json_object_get(doc, field) : NULL, *check;
    bool blanked;

    *body = NULL;
    if (!value && field && is_create && !r->secret->named)
        return ab_http_error(req, 400, "invalid_field", "field '%s' is required", field) + 1;
    if (!value)
        return 0;
    *body = ab_api_blank_member(req->body.data, req->body.len, field);
    check = *body ? json_loads(*body, JSON_REJECT_DUPLICATES, NULL) : NULL;
    blanked = json_is_object(check) && json_is_null(json_object_get(check, field));
    json_decref(check);
    if (!blanked)
        return ab_http_error(req, 500, "internal", "cannot separate the %s from the body", field) +
               1;
    if (ab_api_secret_seal(app, req, conn, r, is_create ? NULL : req->params[0], value, sealed))
        return 1;
    json_object_del(doc, field);
    return 0;
}

/*
 * POST /v1/<name> and PATCH /v1/<name>/{id}: authenticate, then judge the body, then write.
 * body is the object to write (NULL: the request's own); then, for a create, runs on its
 * transaction once the row exists (NULL: nothing more).
 */
static int write_fields(struct ab_app *app, struct ab_req *req, const struct ab_resource *r,
                        json_t *body, ab_api_then then, void *arg, bool is_create)
{
    const struct ab_resource_schema *s;
    struct ab_api_sealed sealed = {0};
    const char *params[7];
    char *blanked = NULL, *text = NULL;
    struct ab_buf sql;
    PGconn *conn;
    json_t *doc = NULL;
    int np, rc;

    if (begin_for(app, req, r, true, &conn))
        return 0;
    if (ab_http_query_each(req, no_param, req))
        goto out;
    if (is_create ? r->parent && !ab_api_is_uuid(req->params[0]) : !item_key(r, req->params[0])) {
        ab_http_error(req, 404, "not_found", "%s/%s not found", is_create ? r->parent : r->name,
                      req->params[0]);
        goto out;
    }
    if (!(s = ab_api_schemas(app, req)))
        goto out;
    s = schema_of(s, r);
    doc = body ? json_incref(body) : ab_api_parse_object(req, false);
    if (doc && check_body(req, r, s, doc, is_create) == 0 &&
        (!r->check || r->check(app, req, conn, doc, is_create ? NULL : req->params[0]) == 0) &&
        take_secret(app, req, conn, r, is_create, doc, &sealed, &blanked) == 0) {
        /* the body as given, or with its secret blanked, or the caller's object */
        const char *given = blanked ? blanked
                            : body  ? (text = json_dumps(body, JSON_COMPACT))
                                    : req->body.data;

        ab_buf_init(&sql, 64 * 1024);
        /* create: $1 body, $2 parent id; patch: $1 id, $2 body; then a sealed secret's */
        params[0] = is_create ? given : req->params[0];
        params[1] = is_create ? req->params[0] : given;
        np = is_create && !r->parent ? 1 : 2;
        if (blanked && is_create)
            params[np++] = sealed.id;
        if (blanked) {
            params[np++] = sealed.cleared ? NULL : sealed.ciphertext;
            params[np++] = sealed.cleared ? NULL : sealed.nonce;
            params[np++] = sealed.cleared ? NULL : sealed.key_id;
            params[np++] = sealed.hint;
        }
        rc = !given      ? AB_ENOMEM
             : is_create ? insert_sql(&sql, r, s, doc, blanked != NULL, r->parent ? 3 : 2)
                         : update_sql(&sql, r, s, doc, blanked != NULL, 3, req->params[0]);
        if (rc != 0)
            ab_http_error(req, 500, "internal", "out of memory");
        else
            answer(app, req, r, conn, sql.data, np, params, is_create ? 201 : 200);
        if (then && is_create && req->status == 201)
            then(app, req, conn, arg);
        ab_buf_free(&sql);
    }
out:
    ab_api_sealed_free(&sealed);
    free(blanked);
    free(text);
    json_decref(doc);
    ab_api_end(app, req, conn);
    return 0;
}

static int create(void *appv, struct ab_req *req)
{
    return write_fields(appv, req, ab_http_route_data(req), NULL, NULL, NULL, true);
}

static int patch(void *appv, struct ab_req *req)
{
    return write_fields(appv, req, ab_http_route_data(req), NULL, NULL, NULL, false);
}

int ab_api_resource_create(struct ab_app *app, struct ab_req *req, const struct ab_resource *r,
                           json_t *body, ab_api_then then, void *arg)
{
    return write_fields(app, req, r, body, then, arg, true);
}

/* DELETE /v1/<name>/{id}: sets deleted_at where the table has it, else deletes. */
static int del(void *appv, struct ab_req *req)
{
    const struct ab_resource *r = ab_http_route_data(req);
    const char *key = item_key(r, req->params[0]);
    char sql[512];

    if (r->soft_delete)
        snprintf(sql, sizeof(sql),
                 "UPDATE agentbase.%s t SET deleted_at = now() WHERE t.%s = $1 "
                 "AND t.deleted_at IS NULL RETURNING ''",
                 r->table, key ? key : "id");
    else
        snprintf(sql, sizeof(sql), "DELETE FROM agentbase.%s t WHERE t.%s = $1 RETURNING ''",
                 r->table, key ? key : "id");
    run_item(appv, req, r, true, sql, 204);
    return 0;
}

/* ======================================================================================
 * Routes and the start-up check
 * ====================================================================================== */

int ab_api_resource_routes(struct ab_http_route *out, size_t cap, size_t *n)
{
    static char patterns[AB_RESOURCE_MAX][3][128];

    if (ab_nresources > AB_RESOURCE_MAX)
        return AB_ETOOBIG;
    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *r = &ab_resources[i];
        char *coll = patterns[i][0], *item = patterns[i][1], *secret = patterns[i][2];

        if (*n + 6 > cap)
            return AB_ETOOBIG;
        /* A nested collection lives under its parent: /v1/conversations/{id}/messages */
        if (r->parent)
            snprintf(coll, sizeof(patterns[i][0]), "/v1/%s/{id}/%s", r->parent, r->name);
        else
            snprintf(coll, sizeof(patterns[i][0]), "/v1/%s", r->name);
        snprintf(item, sizeof(patterns[i][1]), "/v1/%s/{id}", r->name);
        out[(*n)++] = (struct ab_http_route){"GET", coll, list, r};
        if (!r->own_create)
            out[(*n)++] = (struct ab_http_route){"POST", coll, create, r};
        out[(*n)++] = (struct ab_http_route){"GET", item, get, r};
        if (r->update[0])
            out[(*n)++] = (struct ab_http_route){"PATCH", item, patch, r};
        if (!r->no_delete)
            out[(*n)++] = (struct ab_http_route){"DELETE", item, del, r};
        if (r->secret) {
            /* GET /v1/ai-provider-keys/{id}/api-key: the field, dashed like the paths */
            snprintf(secret, sizeof(patterns[i][2]), "/v1/%s/{id}/%s", r->name, r->secret->field);
            for (char *c = secret + strlen(secret) - strlen(r->secret->field); *c; c++)
                *c = *c == '_' ? '-' : *c;
            out[(*n)++] = (struct ab_http_route){"GET", secret, ab_api_secret_read, r};
        }
    }
    return 0;
}

/* The columns of $2 (comma-separated) that agentbase.$1 does not have. */
static const char missing_sql[] =
    "SELECT array_to_string(array(SELECT c FROM unnest(string_to_array($2, ',')) c "
    "  WHERE c <> '' AND c NOT IN (SELECT attname FROM pg_attribute "
    "    WHERE attrelid = to_regclass('agentbase.' || $1) AND attnum > 0 "
    "    AND NOT attisdropped)), ',')";

/* A secret's four columns are all among the hidden ones (which the check finds in the table). */
static bool secret_hidden(const struct ab_resource *r)
{
    static const char *const suffixes[] = {"ciphertext", "nonce", "key_id", "hint"};
    char col[96];
    size_t len;

    for (size_t i = 0; i < AB_ARRAY_LEN(suffixes); i++) {
        snprintf(col, sizeof(col), "%s_%s", r->secret->columns, suffixes[i]);
        if (!list_find(r->hidden, col, &len))
            return false;
    }
    return true;
}

/* Every column r names exists, its filters are of kinds a query can carry; 0 or AB_EINVAL. */
static int check_descriptor(const struct ab_resource *r, const struct ab_resource_schema *s,
                            PGconn *conn, struct ab_error *err)
{
    const char *params[2];
    struct ab_buf cols;
    PGresult *res;
    int rc;

    /* a secret is sealed to its row's id, which a slug is not */
    if (r->slugs && (r->secret || !r->soft_delete))
        return ab_error_set(err, AB_EINVAL,
                            "resource %s: slugs need soft delete and no secret (live rows only)",
                            r->name);
    if (r->secret && !secret_hidden(r))
        return ab_error_set(err, AB_EINVAL,
                            "resource %s: the columns %s_* of its secret must be hidden", r->name,
                            r->secret->columns);
    /* Every column any list names, and the ones the engine itself relies on. */
    ab_buf_init(&cols, 16 * 1024);
    rc = ab_buf_printf(&cols, "%sid,%s,%s,%s,%s,%s%s%s,%s,%s", has_tenant(r) ? "tenant_id," : "",
                       r->create, r->update, r->hidden, r->filters, r->filled ? r->filled : "",
                       r->soft_delete ? ",deleted_at" : "", r->slugs ? ",slug" : "",
                       r->parent_column ? r->parent_column : "", r->order_by ? r->order_by : "");
    params[0] = r->table;
    params[1] = cols.data;
    if (!rc)
        rc = ab_pg_query(conn, missing_sql, 2, params, &res, err);
    ab_buf_free(&cols);
    if (rc)
        return rc == AB_EDB ? rc : ab_error_set(err, rc, "out of memory");
    if (PQgetvalue(res, 0, 0)[0]) {
        ab_error_set(err, AB_EINVAL, "resource %s names columns agentbase.%s does not have: %s",
                     r->name, r->table, PQgetvalue(res, 0, 0));
        PQclear(res);
        return AB_EINVAL;
    }
    PQclear(res);
    if (s->nfilters > AB_RESOURCE_MAX_FILTERS)
        return ab_error_set(err, AB_EINVAL, "resource %s: more than %d filters", r->name,
                            AB_RESOURCE_MAX_FILTERS);
    for (size_t i = 0; i < s->nfilters; i++)
        if (s->filters[i].kind == AB_KIND_ANY || s->filters[i].kind == AB_KIND_OBJECT ||
            s->filters[i].kind == AB_KIND_ARRAY)
            return ab_error_set(err, AB_EINVAL, "resource %s: filter %s is not a scalar column",
                                r->name, s->filters[i].name);
    return 0;
}

int ab_api_resources_check(struct ab_app *app, PGconn *conn, struct ab_error *err)
{
    app->schemas = calloc(ab_nresources, sizeof(*app->schemas));
    if (!app->schemas)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    for (size_t i = 0; i < ab_nresources; i++) {
        int rc = ab_api_catalog_load(&ab_resources[i], conn, &app->schemas[i], err);

        rc = rc ? rc : check_descriptor(&ab_resources[i], &app->schemas[i], conn, err);
        if (rc)
            return rc;
    }
    return 0;
}

void ab_api_resources_free(struct ab_app *app)
{
    for (size_t i = 0; app->schemas && i < ab_nresources; i++)
        ab_api_catalog_free(&app->schemas[i]);
    free(app->schemas);
    app->schemas = NULL;
}
