/*
 * GET /openapi.json: the OpenAPI 3.1 document, precise enough to generate clients from.
 *
 * It is generated from what the server itself runs on: the live route table (every route
 * is an operation), the resource descriptors (tables.c) with their columns from the
 * catalog (catalog.c: kinds, nullability, ranges, lengths, enums), and the field lists of
 * the business operations (operations.c). So a request schema says exactly what the one
 * validator (fields.c) accepts, and a response schema lists every column an answer has.
 * A route that nothing here describes still appears, marked x-undocumented, and the
 * contract suite (tests/contract) fails on it.
 *
 * The document depends only on the binary and the catalog, which do not change while the
 * server runs: it is built once, by the first request after the schemas are loaded, and
 * kept for the process's life (plain and gzip-compressed) in `cache` below, the one piece
 * of state of this file; requests only copy it out.
 *
 * `servers` is [{"url": "/"}]: paths are relative to wherever the document was fetched.
 */
#include "api/api.h"
#include "auth/auth.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* ======================================================================================
 * Schemas from field lists
 * ====================================================================================== */

/* How much of a field a schema states. */
enum detail {
    ANSWER_COLUMN, /* a stored column in an answer: type, format, enum, nullability */
    FULL,          /* a request body, or an answer the service builds: every bound too */
};

static json_t *kind_schema(enum ab_kind kind)
{
    switch (kind) {
    case AB_KIND_STRING:
        return json_pack("{s:s}", "type", "string");
    case AB_KIND_UUID:
        return json_pack("{s:s,s:s}", "type", "string", "format", "uuid");
    case AB_KIND_DATETIME:
        return json_pack("{s:s,s:s}", "type", "string", "format", "date-time");
    case AB_KIND_DATE:
        return json_pack("{s:s,s:s}", "type", "string", "format", "date");
    case AB_KIND_INTEGER:
        return json_pack("{s:s}", "type", "integer");
    case AB_KIND_NUMBER:
        return json_pack("{s:s}", "type", "number");
    case AB_KIND_BOOLEAN:
        return json_pack("{s:s}", "type", "boolean");
    case AB_KIND_OBJECT:
        return json_pack("{s:s}", "type", "object");
    case AB_KIND_ARRAY:
        return json_pack("{s:s,s:{}}", "type", "array", "items");
    case AB_KIND_ANY:
        break;
    }
    return json_object(); /* any JSON */
}

/* The comma-separated choices as a JSON array (with null when nullable). */
static json_t *choices_array(const char *list, bool nullable)
{
    json_t *a = json_array();

    for (const char *p = list; *p;) {
        size_t l = strcspn(p, ",");

        json_array_append_new(a, json_stringn(p, l));
        p += l + (p[l] == ',');
    }
    if (nullable)
        json_array_append_new(a, json_null());
    return a;
}

/* A JSON number for a bound: an integer where it is one. */
static json_t *bound(double x)
{
    return x == (double)(json_int_t)x ? json_integer((json_int_t)x) : json_real(x);
}

static json_t *fields_schema(const struct ab_field *f, size_t n, enum detail d);

/* The schema of one field: null is one of its values only where the field is nullable. */
static json_t *field_schema(const struct ab_field *f, enum detail d)
{
    json_t *s = f->kind == AB_KIND_OBJECT && f->sub ? fields_schema(f->sub, f->nsub, d)
                                                    : kind_schema(f->kind);

    if (f->kind == AB_KIND_ARRAY) {
        json_object_set_new(s, "items",
                            f->items == AB_KIND_OBJECT && f->sub ? fields_schema(f->sub, f->nsub, d)
                                                                 : kind_schema(f->items));
        if (f->item_max_len)
            json_object_set_new(json_object_get(s, "items"), "maxLength",
                                json_integer(f->item_max_len));
        if (d == FULL && f->min_len)
            json_object_set_new(s, "minItems", json_integer(f->min_len));
        if (d == FULL && f->max_len)
            json_object_set_new(s, "maxItems", json_integer(f->max_len));
    }
    /* a CHECK over a JSON column may list JSON types, not values: strings only */
    if (f->choices && f->kind == AB_KIND_STRING)
        json_object_set_new(s, "enum", choices_array(f->choices, f->nullable));
    if (d == FULL && (f->kind == AB_KIND_INTEGER || f->kind == AB_KIND_NUMBER)) {
        if (f->has_min)
            json_object_set_new(s, f->min_exclusive ? "exclusiveMinimum" : "minimum",
                                bound(f->min));
        if (f->has_max)
            json_object_set_new(s, f->max_exclusive ? "exclusiveMaximum" : "maximum",
                                bound(f->max));
    }
    if (d == FULL && f->kind == AB_KIND_STRING && f->min_len)
        json_object_set_new(s, "minLength", json_integer(f->min_len));
    if (d == FULL && f->kind == AB_KIND_STRING && f->max_len)
        json_object_set_new(s, "maxLength", json_integer(f->max_len));
    if (f->nullable && f->kind != AB_KIND_ANY)
        json_object_set_new(s, "type", json_pack("[O,s]", json_object_get(s, "type"), "null"));
    if (f->doc)
        json_object_set_new(s, "description", json_string(f->doc));
    return s;
}

/* An empty object schema that takes exactly the properties added to it. */
static json_t *object_schema(void)
{
    return json_pack("{s:s,s:{},s:b}", "type", "object", "properties", "additionalProperties", 0);
}

/*
 * Adds the fields to an object schema: each a property, and in `required` those the
 * field says are (all_required: every one, as for a stored row).
 */
static void add_fields(json_t *obj, const struct ab_field *f, size_t n, enum detail d,
                       bool all_required)
{
    json_t *props = json_object_get(obj, "properties"), *req = json_object_get(obj, "required");

    for (size_t i = 0; i < n; i++) {
        json_object_set_new(props, f[i].name, field_schema(&f[i], d));
        if (!(all_required || f[i].required))
            continue;
        if (!req) {
            req = json_array();
            json_object_set_new(obj, "required", req);
        }
        json_array_append_new(req, json_string(f[i].name));
    }
}

static json_t *fields_schema(const struct ab_field *f, size_t n, enum detail d)
{
    json_t *obj = object_schema();

    add_fields(obj, f, n, d, false);
    return obj;
}

static void require(json_t *obj, const char *name)
{
    json_t *req = json_object_get(obj, "required");

    if (!req) {
        req = json_array();
        json_object_set_new(obj, "required", req);
    }
    json_array_append_new(req, json_string(name));
}

/* ======================================================================================
 * Names
 * ====================================================================================== */

/* "agent-assignments" -> "AgentAssignments"; singular drops the plural's ending. */
static void camel(const char *name, bool singular, char *out, size_t n)
{
    size_t j = 0, len = strlen(name);
    bool up = true;

    if (singular && len > 3 && strcmp(name + len - 3, "ies") == 0)
        len -= 3; /* strategies -> strategy: "y" added below */
    else if (singular && len > 4 &&
             (strcmp(name + len - 4, "ches") == 0 || strcmp(name + len - 4, "shes") == 0))
        len -= 2;
    else if (singular && len > 1 && name[len - 1] == 's' && name[len - 2] != 's' &&
             name[len - 2] != 'u')
        len -= 1;
    for (size_t i = 0; i < len && j + 2 < n; i++) {
        if (name[i] == '-' || name[i] == '_') {
            up = true;
            continue;
        }
        out[j++] = up && name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 'a' + 'A') : name[i];
        up = false;
    }
    if (singular && strlen(name) > 3 && strcmp(name + strlen(name) - 3, "ies") == 0 && j + 1 < n)
        out[j++] = 'y';
    out[j] = '\0';
}

/* The name of a resource's object schema: Agent, TokenLedger ... */
static void object_name(const struct ab_resource *r, const char *suffix, char *out, size_t n)
{
    char base[96];

    camel(r->name, true, base, sizeof(base));
    snprintf(out, n, "%s%s", base, suffix);
}

static json_t *component_ref(const char *kind, const char *name);

static json_t *ref(const char *name)
{
    return component_ref("schemas", name);
}

/* The module a resource's section of tables.c belongs to: its tag. */
static const char *module_of(const struct ab_resource *r)
{
    static const struct {
        const char *first, *module;
    } sections[] = {
        {"tenants", "tenancy"},
        {"agents", "agents"},
        {"ai-providers", "accounting"},
        {"workflows", "workflows"},
        {"collections", "knowledge"},
        {"mcp-servers", "mcp"},
        {"project-templates", "workspaces"},
        {"regions", "regions"},
        {"audit-logs", "audit"},
    };
    const char *module = "tenancy";

    for (size_t i = 0; i < ab_nresources && &ab_resources[i] <= r; i++)
        for (size_t k = 0; k < AB_ARRAY_LEN(sections); k++)
            if (strcmp(ab_resources[i].name, sections[k].first) == 0)
                module = sections[k].module;
    return module;
}

static const struct {
    const char *name, *description;
} tags[] = {
    {"operations", "Liveness, readiness, metrics and this document"},
    {"auth", "Signing in, the caller's identity, one's own password"},
    {"tenancy", "Tenants, users, API keys"},
    {"agents", "Agents, their assignments, conversations, messages, tool calls, generated content"},
    {"accounting", "Providers, models and prices, usage reservations and events, quotas, budgets, "
                   "token wallets and their ledger, cost rollups, billing"},
    {"workflows", "Workflows and their executions, quality gates, tasks, engines, workers"},
    {"knowledge", "RAG collections, documents, chunks and queries"},
    {"mcp", "MCP servers, their per-tenant configurations and tool executions"},
    {"workspaces", "Projects, their files, containers and branches"},
    {"regions", "Regions and replication"},
    {"audit", "The audit trail"},
};

/* ======================================================================================
 * Responses, parameters, headers
 * ====================================================================================== */

/* {"$ref": "#/components/<kind>/<name>"} */
static json_t *component_ref(const char *kind, const char *name)
{
    char target[160];

    snprintf(target, sizeof(target), "#/components/%s/%s", kind, name);
    return json_pack("{s:s}", "$ref", target);
}

static json_t *header_ref(const char *name)
{
    return component_ref("headers", name);
}

/* A response with a JSON schema (or none), and the headers every answer carries. */
static json_t *response(const char *description, const char *media, json_t *schema)
{
    json_t *r = json_pack("{s:s,s:{s:o}}", "description", description, "headers", "X-Request-Id",
                          header_ref("X-Request-Id"));

    if (schema)
        json_object_set_new(r, "content", json_pack("{s:{s:o}}", media, "schema", schema));
    return r;
}

static json_t *error_response(const char *description, int status)
{
    json_t *r = response(description, "application/json", ref("Error"));

    if (status == 429 || status == 503)
        json_object_set_new(json_object_get(r, "headers"), "Retry-After",
                            header_ref("Retry-After"));
    return r;
}

/* Statuses an operation may answer besides its success, with what each means there. */
struct statuses {
    const char *s400, *s401, *s403, *s404, *s409, *s413, *s422, *s429, *s500, *s503;
};

static void add_errors(json_t *responses, const struct statuses *st)
{
    const struct {
        int status;
        const char *why;
    } all[] = {
        {400, st->s400}, {401, st->s401}, {403, st->s403}, {404, st->s404}, {409, st->s409},
        {413, st->s413}, {422, st->s422}, {429, st->s429}, {500, st->s500}, {503, st->s503},
    };
    char code[8];

    for (size_t i = 0; i < AB_ARRAY_LEN(all); i++) {
        if (!all[i].why)
            continue;
        snprintf(code, sizeof(code), "%d", all[i].status);
        json_object_set_new(responses, code, error_response(all[i].why, all[i].status));
    }
}

#define WHY_401      "missing, invalid, expired or revoked API key"
#define WHY_413      "the body is larger than the server takes"
#define WHY_422_IDEM "the Idempotency-Key was used before with another body"
#define WHY_500_SECRET                                                                             \
    "the stored secret does not open: changed in the database, moved from another row, or "        \
    "sealed under a key no longer in the ring"
#define WHY_429 "the key's rate limit: retry after Retry-After seconds"
#define WHY_503 "the database is unavailable or not ready: retry after Retry-After seconds"
#define WHY_400_AUTH                                                                               \
    "invalid input, naming the field or parameter (param); or a bad Agentbase-Tenant"

static json_t *param_ref(const char *name)
{
    return component_ref("parameters", name);
}

static json_t *path_id(const char *what)
{
    char d[128];

    snprintf(d, sizeof(d), "the id of the %s", what);
    return json_pack("{s:s,s:s,s:b,s:s,s:{s:s,s:s}}", "name", "id", "in", "path", "required", 1,
                     "description", d, "schema", "type", "string", "format", "uuid");
}

/* {id} of an item addressed by id or by slug (struct ab_resource's slugs). */
static json_t *path_id_or_slug(const char *what)
{
    char d[160];

    snprintf(d, sizeof(d), "the id (a UUID) or the slug of the %s", what);
    return json_pack("{s:s,s:s,s:b,s:s,s:{s:[{s:s,s:s},{s:s,s:s}]}}", "name", "id", "in", "path",
                     "required", 1, "description", d, "schema", "anyOf", "type", "string", "format",
                     "uuid", "type", "string", "pattern", "^[a-z0-9]+(-[a-z0-9]+)*$");
}

/* The header parameters an operation reads: X-Request-Id, and the tenant and key. */
static void add_headers(json_t *params, bool authenticated, bool post)
{
    json_array_append_new(params, param_ref("X-Request-Id"));
    if (authenticated)
        json_array_append_new(params, param_ref("Agentbase-Tenant"));
    if (post)
        json_array_append_new(params, param_ref("Idempotency-Key"));
}

static json_t *body(json_t *schema, json_t *example, bool required)
{
    json_t *media = json_pack("{s:o}", "schema", schema);

    if (example)
        json_object_set_new(media, "example", example);
    return json_pack("{s:b,s:{s:o}}", "required", required, "content", "application/json", media);
}

/* ======================================================================================
 * Resources
 * ====================================================================================== */

/* The schema of a resource's write-only secret in a body, or of its hint in an answer. */
static json_t *secret_schema(const struct ab_resource_secret *s, bool hint, bool nullable)
{
    json_t *one = hint
                      ? json_pack("{s:s,s:{s:{s:s},s:{s:[s,s]}},s:[s,s],s:b}", "type", "object",
                                  "properties", "set", "type", "boolean", "last4", "type", "string",
                                  "null", "required", "set", "last4", "additionalProperties", 0)
                      : json_pack("{s:s,s:i}", "type", "string", "minLength", 1);
    json_t *schema;

    if (!s->named)
        schema = one;
    else
        schema = json_pack("{s:s,s:o}", "type", "object", "additionalProperties",
                           hint ? one : json_pack("{s:[s,s]}", "type", "string", "null"));
    if (!hint && s->named)
        json_decref(one);
    if (hint && nullable)
        json_object_set_new(schema, "type", json_pack("[s,s]", "object", "null"));
    json_object_set_new(schema, hint ? "readOnly" : "writeOnly", json_true());
    json_object_set_new(
        schema, "description",
        json_string(hint ? "which secrets are set, and the last four characters of those of 12 "
                           "or more; never a value"
                    : s->named ? "sealed before storage; PATCH merges by name, null removes"
                               : "sealed before storage; required on create"));
    return schema;
}

/* What an answer holds for one of r's rows: every column but the hidden ones. */
static json_t *row_schema(const struct ab_resource *r, const struct ab_resource_schema *s)
{
    json_t *obj = object_schema();

    add_fields(obj, s->columns, s->ncolumns, ANSWER_COLUMN, true);
    if (r->extra_fields)
        add_fields(obj, r->extra_fields, *r->nextra_fields, FULL, false);
    if (r->secret) {
        char hint[96];
        const struct ab_field *h;

        snprintf(hint, sizeof(hint), "%s_hint", r->secret->columns);
        h = ab_api_column(s, hint);
        json_object_set_new(json_object_get(obj, "properties"), r->secret->field,
                            secret_schema(r->secret, true, !h || h->nullable));
        require(obj, r->secret->field);
    }
    return obj;
}

/* A body r takes on create (or update): its writable fields, and its secret. */
static json_t *write_schema(const struct ab_resource *r, const struct ab_resource_schema *s,
                            bool is_create)
{
    json_t *obj = is_create ? fields_schema(s->create, s->ncreate, FULL)
                            : fields_schema(s->update, s->nupdate, FULL);

    if (r->secret) {
        json_object_set_new(json_object_get(obj, "properties"), r->secret->field,
                            secret_schema(r->secret, false, false));
        if (is_create && !r->secret->named)
            require(obj, r->secret->field);
    }
    json_object_set_new(obj, "minProperties", json_integer(1));
    return obj;
}

/*
 * The descriptor's example with its placeholders filled: "{{name}}" by a plausible id,
 * "{{n}}" by 1. NULL when it has none worth showing.
 */
static json_t *example_of(const struct ab_resource *r)
{
    char text[2048];
    size_t j = 0;

    if (!r->example || strcmp(r->example, "{}") == 0)
        return NULL;
    for (const char *p = r->example; *p && j + 40 < sizeof(text);) {
        const char *end = strncmp(p, "{{", 2) == 0 ? strstr(p, "}}") : NULL;

        if (!end) {
            text[j++] = *p++;
            continue;
        }
        if (end - p == 3 && p[2] == 'n')
            j += (size_t)snprintf(text + j, sizeof(text) - j, "1");
        else /* a time-ordered (v7) id, as the database makes them */
            j += (size_t)snprintf(text + j, sizeof(text) - j, "0190f5a2-7c3e-7d41-9b8a-%012zx",
                                  (size_t)(ab_api_resource_named(r->name) - ab_resources) + 1);
        p = end + 2;
    }
    text[j] = '\0';
    return json_loads(text, 0, NULL);
}

static const struct ab_resource *resource_of(const struct ab_http_route *rt)
{
    for (size_t i = 0; i < ab_nresources; i++)
        if (rt->data == &ab_resources[i])
            return &ab_resources[i];
    return NULL;
}

/* An item route's pattern ends in {id}; anything else is a collection. */
static bool is_item(const struct ab_http_route *rt)
{
    size_t n = strlen(rt->pattern);

    return n >= 4 && strcmp(rt->pattern + n - 4, "{id}") == 0;
}

static bool range_kind(enum ab_kind k)
{
    return k == AB_KIND_DATETIME || k == AB_KIND_DATE || k == AB_KIND_INTEGER ||
           k == AB_KIND_NUMBER;
}

static json_t *query(const char *name, const char *description, json_t *schema)
{
    return json_pack("{s:s,s:s,s:s,s:o}", "name", name, "in", "query", "description", description,
                     "schema", schema);
}

/* limit, after, order and every filter with each of its operators. */
static void list_parameters(json_t *params, const struct ab_resource *r,
                            const struct ab_resource_schema *s)
{
    static const struct {
        const char *suffix, *meaning;
    } ranges[] = {{"gte", "at least"}, {"gt", "above"}, {"lte", "at most"}, {"lt", "below"}};

    json_array_append_new(params, query("limit", "objects per page",
                                        json_pack("{s:s,s:i,s:i,s:i}", "type", "integer", "minimum",
                                                  1, "maximum", 500, "default", 50)));
    json_array_append_new(
        params,
        query("after", "the next_cursor of the previous page",
              r->order_by ? json_pack("{s:s,s:s}", "type", "string", "pattern", "^[0-9]{1,18}$")
                          : json_pack("{s:s,s:s}", "type", "string", "format", "uuid")));
    json_array_append_new(params,
                          query("order", r->order_by ? "by the ordering column" : "by id (time)",
                                json_pack("{s:s,s:[s,s],s:s}", "type", "string", "enum", "asc",
                                          "desc", "default", "asc")));
    for (size_t i = 0; i < s->nfilters; i++) {
        struct ab_field f = s->filters[i];
        char name[96], d[160];

        f.nullable = false; /* a query value is never null */
        f.doc = NULL;
        snprintf(d, sizeof(d), "only objects whose %s is this", f.name);
        json_array_append_new(params, query(f.name, d, field_schema(&f, ANSWER_COLUMN)));
        snprintf(name, sizeof(name), "%s[in]", f.name);
        snprintf(d, sizeof(d),
                 "only objects whose %s is one of these (comma-separated, at most "
                 "100)",
                 f.name);
        json_array_append_new(
            params, query(name, d, json_pack("{s:s,s:i}", "type", "string", "minLength", 1)));
        for (size_t k = 0; range_kind(f.kind) && k < AB_ARRAY_LEN(ranges); k++) {
            snprintf(name, sizeof(name), "%s[%s]", f.name, ranges[k].suffix);
            snprintf(d, sizeof(d), "only objects whose %s is %s this", f.name, ranges[k].meaning);
            json_array_append_new(params, query(name, d, field_schema(&f, ANSWER_COLUMN)));
        }
    }
}

/* The operation for one route of the resource engine. */
static json_t *resource_operation(const struct ab_http_route *rt, const struct ab_resource *r,
                                  const struct ab_resource_schema *s)
{
    json_t *op = json_object(), *responses = json_object(), *params = json_array();
    bool item = is_item(rt), list = !item && strcmp(rt->method, "GET") == 0;
    bool post = strcmp(rt->method, "POST") == 0, patch = strcmp(rt->method, "PATCH") == 0;
    bool del = strcmp(rt->method, "DELETE") == 0;
    char name[128], plural[128], id[160], summary[200], why403[256];
    struct statuses st = {.s400 = WHY_400_AUTH, .s401 = WHY_401, .s429 = WHY_429, .s503 = WHY_503};

    object_name(r, "", name, sizeof(name));
    camel(r->name, false, plural, sizeof(plural));
    if (list) {
        snprintf(id, sizeof(id), "list%s", plural);
        snprintf(summary, sizeof(summary), "List %s (keyset pagination)", r->name);
    } else if (post) {
        snprintf(id, sizeof(id), "create%s", name);
        snprintf(summary, sizeof(summary), "Create one of %s", r->name);
    } else if (patch) {
        snprintf(id, sizeof(id), "update%s", name);
        snprintf(summary, sizeof(summary), "Change fields of one of %s", r->name);
    } else if (del) {
        snprintf(id, sizeof(id), "delete%s", name);
        snprintf(summary, sizeof(summary), "Delete one of %s%s", r->name,
                 r->soft_delete ? " (soft: sets deleted_at)" : "");
    } else {
        snprintf(id, sizeof(id), "get%s", name);
        snprintf(summary, sizeof(summary), "Get one of %s", r->name);
    }
    json_object_set_new(op, "operationId", json_string(id));
    json_object_set_new(op, "summary", json_string(summary));
    json_object_set_new(op, "tags", json_pack("[s]", module_of(r)));

    if (item || r->parent)
        json_array_append_new(params, item && r->slugs ? path_id_or_slug(r->name)
                                                       : path_id(item ? r->name + 0 : r->parent));
    add_headers(params, true, post);
    if (list)
        list_parameters(params, r, s);
    json_object_set_new(op, "parameters", params);

    if (post || patch) {
        char schema[128];

        object_name(r, post ? "Create" : "Update", schema, sizeof(schema));
        json_object_set_new(op, "requestBody", body(ref(schema), post ? example_of(r) : NULL, 1));
    }
    if (del) {
        json_object_set_new(responses, "204", response("deleted", NULL, NULL));
    } else if (list) {
        char page[128];

        object_name(r, "List", page, sizeof(page));
        json_object_set_new(responses, "200", response("a page", "application/json", ref(page)));
    } else {
        json_t *ok =
            response(post ? "the new object" : "the object", "application/json", ref(name));

        if (post)
            json_object_set_new(json_object_get(ok, "headers"), "Idempotent-Replayed",
                                header_ref("Idempotent-Replayed"));
        json_object_set_new(responses, post ? "201" : "200", ok);
    }
    /* the scope and role_access decide (docs/api.md, "Who may see and change what") */
    if (strcmp(rt->method, "GET") == 0)
        snprintf(why403, sizeof(why403), "the key or its role lacks %s:read", r->name);
    else if (r->write_scope)
        snprintf(why403, sizeof(why403), "the key lacks %s (platform-governed)", r->write_scope);
    else
        snprintf(why403, sizeof(why403),
                 "the key or its role lacks %s:write, the object names another user, or the "
                 "tenant is suspended",
                 r->name);
    st.s403 = why403;
    if (item || r->parent || post)
        st.s404 = item ? "no such object in this tenant, or not the caller's"
                       : "no such parent object in this tenant";
    if (post || patch || del)
        st.s409 = "conflicts with an existing object, or objects still refer to it";
    if (post || patch) {
        st.s413 = WHY_413;
        st.s422 = post ? "violates a constraint (a reference to no object), or " WHY_422_IDEM
                       : "violates a constraint (a reference to no object)";
    }
    if (patch && r->secret && r->secret->named)
        st.s500 = WHY_500_SECRET; /* a PATCH merges into the stored secret */
    add_errors(responses, &st);
    json_object_set_new(op, "responses", responses);
    return op;
}

/* GET /v1/<name>/{id}/<field>: a secret's value, for keys with secrets:read. */
static json_t *secret_operation(const struct ab_resource *r)
{
    json_t *responses = json_object(), *params = json_array();
    json_t *value = json_pack("{s:s}", "type", "string"), *answer = object_schema();
    char name[96], field[96], id[200], summary[200];
    struct statuses st = {.s400 = WHY_400_AUTH,
                          .s401 = WHY_401,
                          .s403 = "the key lacks " AB_SCOPE_SECRETS_READ,
                          .s404 = "no such object in this tenant",
                          .s429 = WHY_429,
                          .s500 = WHY_500_SECRET,
                          .s503 = WHY_503};

    object_name(r, "", name, sizeof(name));
    camel(r->secret->field, false, field, sizeof(field));
    snprintf(id, sizeof(id), "get%s%s", name, field);
    if (r->secret->named)
        value = json_pack("{s:s,s:o}", "type", "object", "additionalProperties", value);
    json_object_set_new(json_object_get(answer, "properties"), r->secret->field, value);
    require(answer, r->secret->field);
    snprintf(summary, sizeof(summary),
             "The value of %s's %s (scope %s only; every read is audited)", r->name,
             r->secret->field, AB_SCOPE_SECRETS_READ);
    json_array_append_new(params, path_id(r->name));
    add_headers(params, true, false);
    json_object_set_new(responses, "200", response("the value", "application/json", answer));
    add_errors(responses, &st);
    return json_pack("{s:s,s:s,s:[s],s:o,s:o}", "operationId", id, "summary", summary, "tags",
                     module_of(r), "parameters", params, "responses", responses);
}

/* ======================================================================================
 * The business operations
 * ====================================================================================== */

/* How an answer is made of field lists and resource rows. */
enum answer_kind {
    ANSWER_FIELDS,   /* the op's answer list */
    ANSWER_ROW,      /* a row of `resource` */
    ANSWER_ROW_PLUS, /* a row of `resource` and the op's answer list */
    ANSWER_LIST,     /* a page of `resource` rows (<Object>List) */
    ANSWER_LEVEL,    /* the op's answer list, or a row of `resource` plus available */
    ANSWER_TEXT,     /* text/plain */
    ANSWER_DOCUMENT, /* an OpenAPI document */
    ANSWER_NONE,     /* 204 */
};

struct op_doc {
    const char *method, *pattern, *id, *tag, *summary;
    const struct ab_field *fields; /* the request body, or NULL */
    const size_t *nfields;
    const char *body_of; /* the request body is this resource's create fields and `fields` */
    bool body_optional;
    enum answer_kind answer;
    const struct ab_field *answer_fields;
    const size_t *nanswer;
    const char *resource;         /* of ANSWER_ROW*, ANSWER_LIST and ANSWER_LEVEL */
    const struct ab_field *query; /* the query parameters, or NULL */
    const size_t *nquery;
    int status;
    bool public;
    struct statuses st;
    const char *example; /* a request body */
};

#define AUTH_ERRORS(why403)                                                                        \
    .s400 = WHY_400_AUTH, .s401 = WHY_401, .s403 = why403, .s429 = WHY_429, .s503 = WHY_503
#define BODY_ERRORS .s413 = WHY_413, .s422 = WHY_422_IDEM

static const struct op_doc docs[] = {
    {"GET", "/healthz", "getHealthz", "operations", "The process is alive",
     .answer_fields = ab_op_healthz_answer, .nanswer = &ab_op_healthz_nanswer, .status = 200,
     .public = true},
    {"GET", "/readyz", "getReadyz", "operations",
     "The database is reachable and at this binary's schema version",
     .answer_fields = ab_op_readyz_answer, .nanswer = &ab_op_readyz_nanswer, .status = 200,
     .public = true, .st = {.s503 = "not ready: the database is unreachable or not migrated"}},
    {"GET", "/metrics", "getMetrics", "operations",
     "Prometheus metrics (text format 0.0.4), with Authorization: Bearer "
     "<AGENTBASE_METRICS_TOKEN> (not an API key); or without it on AGENTBASE_METRICS_LISTEN",
     .answer = ANSWER_TEXT, .status = 200, .public = true,
     .st = {.s401 = "the metrics token is missing or wrong",
            .s404 = "no AGENTBASE_METRICS_TOKEN is configured: metrics are served on "
                    "AGENTBASE_METRICS_LISTEN only"}},
    {"GET", "/openapi.json", "getOpenApiDocument", "operations",
     "This document (gzip-compressed for Accept-Encoding: gzip)", .answer = ANSWER_DOCUMENT,
     .status = 200, .public = true,
     .st = {.s503 = "the database is not ready, so the resources cannot be described yet"}},
    {"GET", "/v1/auth/whoami", "getWhoami", "auth",
     "The key, tenant, user and scopes a request acts with, and the role whose scopes cap them",
     .answer_fields = ab_op_whoami_answer, .nanswer = &ab_op_whoami_nanswer, .status = 200,
     .st = {AUTH_ERRORS("the session must change its password first")}},
    {"POST", "/v1/auth/login", "login", "auth",
     "Sign in with tenant slug, e-mail and password for a session key (12 hours)",
     ab_op_login_fields, &ab_op_login_nfields, .answer_fields = ab_op_login_answer,
     .nanswer = &ab_op_login_nanswer, .status = 200, .public = true,
     .st = {.s400 = "the body is not {tenant, email, password}",
            .s401 = "invalid tenant, email or password (one answer for every reason)",
            BODY_ERRORS,
            .s503 = WHY_503},
     .example = "{\"tenant\": \"acme\", \"email\": \"ada@example.com\", "
                "\"password\": \"correct horse battery staple\"}"},
    {"POST", "/v1/auth/password", "changePassword", "auth",
     "Change one's own password (the old one, then the new one); ends one's other sessions",
     ab_op_password_change_fields, &ab_op_password_change_nfields,
     .answer_fields = ab_op_password_answer, .nanswer = &ab_op_password_nanswer, .status = 200,
     .st = {AUTH_ERRORS("the old password is wrong, or the key acts for no user"), BODY_ERRORS}},
    {"POST", "/v1/users", "createUser", "tenancy",
     "Create a user, optionally with a password (admins)", ab_op_user_create_fields,
     &ab_op_user_create_nfields, .body_of = "users", .answer = ANSWER_ROW, .resource = "users",
     .status = 201,
     .st = {AUTH_ERRORS("the key or its role lacks users:write, or the tenant is suspended"),
            .s409 = "a user with this e-mail exists", BODY_ERRORS}},
    {"POST", "/v1/users/{id}/password", "resetUserPassword", "tenancy",
     "Reset a user's password (admins); the user must change it at the next sign-in, and their "
     "sessions end",
     ab_op_password_reset_fields, &ab_op_password_reset_nfields,
     .answer_fields = ab_op_password_answer, .nanswer = &ab_op_password_nanswer, .status = 200,
     .st = {AUTH_ERRORS("only an admin resets a password"), .s404 = "no such user in this tenant",
            BODY_ERRORS}},
    {"POST", "/v1/api-keys", "createApiKey", "tenancy",
     "Issue an API key; the key is in this answer only", ab_op_api_key_create_fields,
     &ab_op_api_key_create_nfields, .answer = ANSWER_ROW_PLUS,
     .answer_fields = ab_op_api_key_answer, .nanswer = &ab_op_api_key_nanswer,
     .resource = "api-keys", .status = 201,
     .st = {AUTH_ERRORS("the key cannot grant a scope it lacks, or a key for another user"),
            .s409 = "the Idempotency-Key was used before: the key it issued is shown only once",
            .s413 = WHY_413, .s422 = "user_id names no user of this tenant, or " WHY_422_IDEM},
     .example = "{\"name\": \"ci\", \"scopes\": [\"agents:read\", \"usage:write\"]}"},
    {"DELETE", "/v1/api-keys/{id}", "revokeApiKey", "tenancy",
     "Revoke an API key (the row stays, for the audit trail)", .answer = ANSWER_NONE, .status = 204,
     .st = {AUTH_ERRORS("the key or its role lacks api-keys:write"),
            .s404 = "no such key in this tenant, or already revoked"}},
    {"POST", "/v1/agent-assignments/acquire", "acquireAgentLease", "agents",
     "Take a concurrency slot of a user's best agent assignment: by priority, then dedicated, "
     "pool (least-loaded agent), shared; the lease holds it until released or expired",
     ab_op_lease_acquire_fields, &ab_op_lease_acquire_nfields, .answer = ANSWER_ROW_PLUS,
     .answer_fields = ab_op_lease_answer, .nanswer = &ab_op_lease_nanswer,
     .resource = "agent-leases", .status = 201,
     .st = {.s400 = WHY_400_AUTH,
            .s401 = WHY_401,
            .s403 = "the key or its role lacks agent-leases:write, or acts for another user",
            .s404 = "no such user in this tenant, or no assignment in force (of that agent_type)",
            BODY_ERRORS,
            .s503 = WHY_503,
            .s429 = "every assignment that fits is at its max_concurrent_requests "
                    "(concurrency_limit; see Retry-After), or the key's rate limit"},
     .example = "{\"agent_type\": \"assistant\", \"ttl_seconds\": 120}"},
    {"POST", "/v1/agent-assignments/release", "releaseAgentLease", "agents",
     "Give a lease's slot back (once)", ab_op_lease_release_fields, &ab_op_lease_release_nfields,
     .answer = ANSWER_ROW_PLUS, .answer_fields = ab_op_lease_answer,
     .nanswer = &ab_op_lease_nanswer, .resource = "agent-leases", .status = 200,
     .st = {AUTH_ERRORS("the key or its role lacks agent-leases:write"),
            .s404 = "no such lease of the caller in this tenant",
            .s409 = "the lease was released already (lease_released) or expired (lease_expired)",
            BODY_ERRORS}},
    {"POST", "/v1/usage/reservations", "createReservation", "accounting",
     "Reserve tokens for an LLM call before making it: checked against every limit, held until "
     "settled, released or expired",
     ab_op_reserve_fields, &ab_op_reserve_nfields, .answer_fields = ab_op_reserve_answer,
     .nanswer = &ab_op_reserve_nanswer, .status = 201,
     .st = {.s400 = WHY_400_AUTH,
            .s401 = WHY_401,
            .s403 = "the key or its role lacks usage:write, or acts for another user",
            .s404 = "no such user in this tenant",
            BODY_ERRORS,
            .s503 = WHY_503,
            .s429 = "a quota, budget or the wallet would be exceeded (error.limit says which), "
                    "or the key's rate limit; or the tenant is suspended"},
     .example = "{\"provider\": \"openai\", \"model\": \"gpt-4o\", "
                "\"estimated_input_tokens\": 1200, \"max_output_tokens\": 800}"},
    {"POST", "/v1/usage/reservations/{id}/settle", "settleReservation", "accounting",
     "Settle a reservation with the call's actual figures (once; a retry gets the same answer)",
     ab_op_settle_fields, &ab_op_settle_nfields, .answer_fields = ab_op_settle_answer,
     .nanswer = &ab_op_settle_nanswer, .status = 200,
     .st = {AUTH_ERRORS("the key or its role lacks usage:write, or acts for another user"),
            .s404 = "no such reservation in this tenant",
            .s409 = "the reservation was released or expired", BODY_ERRORS},
     .example = "{\"input_tokens\": 1180, \"output_tokens\": 412, \"latency_ms\": 2300}"},
    {"POST", "/v1/usage/reservations/{id}/release", "releaseReservation", "accounting",
     "Give a reservation back unused (once)", ab_op_release_fields, &ab_op_release_nfields,
     .body_optional = true, .answer_fields = ab_op_release_answer,
     .nanswer = &ab_op_release_nanswer, .status = 200,
     .st = {AUTH_ERRORS("the key or its role lacks usage:write, or acts for another user"),
            .s404 = "no such reservation in this tenant",
            .s409 = "the reservation was settled or expired", BODY_ERRORS}},
    {"POST", "/v1/usage/events", "createUsageEvent", "accounting",
     "Record a finished call that had no reservation (limits are reported, not enforced)",
     ab_op_event_fields, &ab_op_event_nfields, .answer_fields = ab_op_event_answer,
     .nanswer = &ab_op_event_nanswer, .status = 201,
     .st = {AUTH_ERRORS("the key or its role lacks usage:write, or acts for another user"),
            .s404 = "no such user in this tenant", .s413 = WHY_413,
            .s422 = "an unknown model or reference, or " WHY_422_IDEM},
     .example = "{\"provider\": \"openai\", \"model\": \"gpt-4o\", \"input_tokens\": 900, "
                "\"output_tokens\": 300}"},
    {"GET", "/v1/usage/summary", "getUsageSummary", "accounting",
     "The tenant's usage by model, user, agent, day or hour, with totals and budgets",
     .answer_fields = ab_op_summary_answer, .nanswer = &ab_op_summary_nanswer, .status = 200,
     .st = {AUTH_ERRORS("the key or its role lacks usage:read")}},
    {"GET", "/v1/usage/requests", "listUsageRequests", "accounting",
     "The ai-requests behind the cost rollups: a period, newest first, by provider, model, user, "
     "agent and project",
     .answer = ANSWER_LIST, .resource = "ai-requests", .query = ab_op_usage_requests_query,
     .nquery = &ab_op_usage_requests_nquery, .status = 200,
     .st = {AUTH_ERRORS("the key or its role lacks usage:read")}},
    {"GET", "/v1/usage/monthly", "getUsageMonthly", "accounting",
     "A user's requests, tokens and cost in a calendar month, in all and by project",
     .answer_fields = ab_op_usage_monthly_answer, .nanswer = &ab_op_usage_monthly_nanswer,
     .query = ab_op_usage_monthly_query, .nquery = &ab_op_usage_monthly_nquery, .status = 200,
     .st = {AUTH_ERRORS("the key or its role lacks usage:read, or a user asks for another user"),
            .s404 = "no such user in this tenant"}},
    {"GET", "/v1/containers/idle", "listIdleContainers", "workspaces",
     "Running containers without activity for more than N minutes, oldest activity first "
     "(`agentbase maintain containers` puts them to sleep)",
     .answer_fields = ab_op_containers_idle_answer, .nanswer = &ab_op_containers_idle_nanswer,
     .query = ab_op_containers_idle_query, .nquery = &ab_op_containers_idle_nquery, .status = 200,
     .st = {AUTH_ERRORS("the key or its role lacks containers:read")}},
    {"GET", "/v1/tasks/agent-performance", "getAgentPerformance", "workflows",
     "Tasks per primary agent in a period: count, completed, failed, average execution time "
     "and success rate",
     .answer_fields = ab_op_agent_performance_answer, .nanswer = &ab_op_agent_performance_nanswer,
     .query = ab_op_agent_performance_query, .nquery = &ab_op_agent_performance_nquery,
     .status = 200, .st = {AUTH_ERRORS("the key or its role lacks tasks:read")}},
    {"GET", "/v1/generated-content/{id}/download", "downloadGeneratedContent", "agents",
     "Generated content with its text or binary (base64) content; the download is counted",
     .answer_fields = ab_op_content_download_answer, .nanswer = &ab_op_content_download_nanswer,
     .status = 200,
     .st = {AUTH_ERRORS("the key or its role lacks generated-content:read"),
            .s404 = "no such live content in this tenant, or not the caller's"}},
    {"POST", "/v1/ai-requests/{id}/feedback", "createAiRequestFeedback", "accounting",
     "Rate an LLM request after the fact (a request-feedback row; the request stays as it was)",
     ab_op_feedback_fields, &ab_op_feedback_nfields, .answer = ANSWER_ROW,
     .resource = "request-feedback", .status = 201,
     .st = {AUTH_ERRORS("the key or its role lacks request-feedback:write (viewers write none)"),
            .s404 = "no such request in this tenant, or not the caller's", BODY_ERRORS},
     .example = "{\"rating\": 5, \"comment\": \"exactly what I needed\"}"},
    {"POST", "/v1/rag-queries/{id}/feedback", "createRagQueryFeedback", "knowledge",
     "Rate a RAG query after the fact (a request-feedback row; the query stays as it was)",
     ab_op_feedback_fields, &ab_op_feedback_nfields, .answer = ANSWER_ROW,
     .resource = "request-feedback", .status = 201,
     .st = {AUTH_ERRORS("the key or its role lacks request-feedback:write (viewers write none)"),
            .s404 = "no such RAG query in this tenant, or not the caller's", BODY_ERRORS},
     .example = "{\"rating\": 2, \"comment\": \"the sources were off topic\"}"},
    {"POST", "/v1/collections/{id}/search", "searchCollection", "knowledge",
     "Search a collection (its id or slug) by embedding, text or both (reciprocal rank fusion), "
     "with filters; records the rag query",
     ab_op_search_fields, &ab_op_search_nfields, .answer_fields = ab_op_search_answer,
     .nanswer = &ab_op_search_nanswer, .status = 200,
     .st = {AUTH_ERRORS("the key or its role lacks rag-queries:write (viewers write none)"),
            .s404 = "no such collection, or a filter's document is not in it", BODY_ERRORS},
     .example = "{\"query_embedding\": [0.1, 0.2, 0.3], \"query_text\": \"refund policy\", "
                "\"top_k\": 5}"},
    {"POST", "/v1/documents/{id}/chunks", "addDocumentChunks", "knowledge",
     "Add 1 to 1000 chunks to a document in one statement; the counts follow and the document "
     "becomes completed",
     ab_op_chunk_batch_fields, &ab_op_chunk_batch_nfields,
     .answer_fields = ab_op_chunk_batch_answer, .nanswer = &ab_op_chunk_batch_nanswer,
     .status = 201,
     .st = {AUTH_ERRORS("the key or its role lacks chunks:write"),
            .s404 = "no such document in this tenant",
            .s409 = "a chunk_index the document already has", BODY_ERRORS},
     .example = "{\"chunks\": [{\"chunk_index\": 0, \"content\": \"hello\", "
                "\"embedding\": [0.1, 0.2, 0.3]}]}"},
    {"POST", "/v1/wallets/{id}/adjust", "adjustWallet", "accounting",
     "Credit, debit, reserve, release or adjust a wallet's tokens: one ledger entry (platform)",
     ab_op_wallet_adjust_fields, &ab_op_wallet_adjust_nfields, .answer = ANSWER_ROW_PLUS,
     .answer_fields = ab_op_wallet_adjust_answer, .nanswer = &ab_op_wallet_adjust_nanswer,
     .resource = "token-ledger", .status = 200,
     .st = {AUTH_ERRORS("the key lacks billing:admin"), .s404 = "no such wallet in this tenant",
            .s409 = "not enough tokens available, or fewer held than released", BODY_ERRORS},
     .example = "{\"direction\": \"credit\", \"amount\": 100000, \"reason\": \"welcome\"}"},
    {"POST", "/v1/users/{id}/level", "setUserLevel", "accounting",
     "Set a user's plan level and credit its monthly allocation (once a month; platform)",
     ab_op_user_level_fields, &ab_op_user_level_nfields, .answer = ANSWER_LEVEL,
     .answer_fields = ab_op_user_level_answer, .nanswer = &ab_op_user_level_nanswer,
     .resource = "token-ledger", .status = 200,
     .st = {AUTH_ERRORS("the key lacks billing:admin"), .s404 = "no such user in this tenant",
            BODY_ERRORS},
     .example = "{\"level\": \"pro\"}"},
};

static const struct op_doc *doc_of(const struct ab_http_route *rt)
{
    for (size_t i = 0; i < AB_ARRAY_LEN(docs); i++)
        if (strcmp(docs[i].method, rt->method) == 0 && strcmp(docs[i].pattern, rt->pattern) == 0)
            return &docs[i];
    return NULL;
}

static const struct ab_resource_schema *schema_named(const struct ab_resource_schema *all,
                                                     const char *name)
{
    const struct ab_resource *r = ab_api_resource_named(name);

    return r ? &all[r - ab_resources] : NULL;
}

/* A row of resource `name` with the extra answer fields. */
static json_t *row_plus(const struct ab_resource_schema *all, const char *name,
                        const struct ab_field *f, size_t n)
{
    json_t *obj = row_schema(ab_api_resource_named(name), schema_named(all, name));

    add_fields(obj, f, n, FULL, false);
    return obj;
}

static json_t *documented_operation(const struct op_doc *d, const struct ab_resource_schema *all)
{
    json_t *op =
        json_pack("{s:s,s:s,s:[s]}", "operationId", d->id, "summary", d->summary, "tags", d->tag);
    json_t *responses = json_object(), *params = json_array(), *ok = NULL;
    bool post = strcmp(d->method, "POST") == 0;
    char status[8];

    if (strstr(d->pattern, "{id}"))
        json_array_append_new(params, path_id(strstr(d->pattern, "reservations")  ? "reservation"
                                              : strstr(d->pattern, "wallets")     ? "wallet"
                                              : strstr(d->pattern, "users")       ? "user"
                                              : strstr(d->pattern, "ai-requests") ? "ai request"
                                              : strstr(d->pattern, "rag-queries") ? "RAG query"
                                                                                  : "key"));
    add_headers(params, !d->public, post);
    if (strcmp(d->pattern, "/v1/usage/summary") == 0) {
        const char *when = "a date (2026-11-01) or an RFC 3339 time (2026-11-01T00:00:00Z)";
        char from[160], to[160];

        snprintf(from, sizeof(from), "the start: %s; default 30 days ago", when);
        snprintf(to, sizeof(to), "the end (exclusive): %s; default now", when);
        json_array_append_new(params,
                              query("from", from,
                                    json_pack("{s:s,s:i,s:s}", "type", "string", "maxLength", 64,
                                              "pattern", "^[0-9:TZ.+ -]+$")));
        json_array_append_new(params,
                              query("to", to,
                                    json_pack("{s:s,s:i,s:s}", "type", "string", "maxLength", 64,
                                              "pattern", "^[0-9:TZ.+ -]+$")));
        json_array_append_new(params, query("group_by", "how the groups are made",
                                            json_pack("{s:s,s:[s,s,s,s,s,s],s:s}", "type", "string",
                                                      "enum", "model", "user", "agent", "project",
                                                      "day", "hour", "default", "model")));
    }
    for (size_t i = 0; d->query && i < *d->nquery; i++) {
        const struct ab_field *f = &d->query[i];

        json_array_append_new(params,
                              query(f->name, f->doc ? f->doc : f->name,
                                    f->kind == AB_KIND_DATETIME
                                        ? json_pack("{s:s,s:i,s:s}", "type", "string", "maxLength",
                                                    64, "pattern", "^[0-9:TZ.+ -]+$")
                                        : field_schema(f, FULL)));
    }
    json_object_set_new(op, "parameters", params);
    if (d->fields) {
        json_t *schema = fields_schema(d->fields, *d->nfields, FULL);

        if (d->body_of) {
            const struct ab_resource *r = ab_api_resource_named(d->body_of);

            json_decref(schema);
            schema = write_schema(r, schema_named(all, d->body_of), true);
            add_fields(schema, d->fields, *d->nfields, FULL, false);
        }
        json_object_set_new(op, "requestBody",
                            body(schema,
                                 d->example   ? json_loads(d->example, 0, NULL)
                                 : d->body_of ? example_of(ab_api_resource_named(d->body_of))
                                              : NULL,
                                 !d->body_optional));
    }
    snprintf(status, sizeof(status), "%d", d->status);
    switch (d->answer) {
    case ANSWER_FIELDS:
        ok = response(d->summary, "application/json",
                      fields_schema(d->answer_fields, *d->nanswer, FULL));
        break;
    case ANSWER_ROW: {
        char name[128];

        object_name(ab_api_resource_named(d->resource), "", name, sizeof(name));
        ok = response(d->summary, "application/json", ref(name));
        break;
    }
    case ANSWER_ROW_PLUS:
        ok = response(d->summary, "application/json",
                      row_plus(all, d->resource, d->answer_fields, *d->nanswer));
        break;
    case ANSWER_LIST: {
        char name[128];

        object_name(ab_api_resource_named(d->resource), "List", name, sizeof(name));
        ok = response(d->summary, "application/json", ref(name));
        break;
    }
    case ANSWER_LEVEL:
        ok = response(d->summary, "application/json",
                      json_pack("{s:[o,o]}", "oneOf",
                                fields_schema(d->answer_fields, *d->nanswer, FULL),
                                row_plus(all, d->resource, ab_op_wallet_adjust_answer,
                                         ab_op_wallet_adjust_nanswer)));
        break;
    case ANSWER_TEXT:
        ok = response(d->summary, "text/plain", json_pack("{s:s}", "type", "string"));
        break;
    case ANSWER_DOCUMENT:
        ok = response(d->summary, "application/json", json_pack("{s:s}", "type", "object"));
        json_object_set_new(json_object_get(ok, "headers"), "Content-Encoding",
                            header_ref("Content-Encoding"));
        break;
    case ANSWER_NONE:
        ok = response(d->summary, NULL, NULL);
        break;
    }
    if (post)
        json_object_set_new(json_object_get(ok, "headers"), "Idempotent-Replayed",
                            header_ref("Idempotent-Replayed"));
    json_object_set_new(responses, status, ok);
    add_errors(responses, &d->st);
    json_object_set_new(op, "responses", responses);
    if (d->public)
        json_object_set_new(op, "security", json_array());
    return op;
}

/* A route nothing here describes: still listed, and marked so that the contract fails. */
static json_t *undocumented_operation(const struct ab_http_route *rt)
{
    char id[200], summary[300];
    size_t j = 0;

    j += (size_t)snprintf(id, sizeof(id), "undocumented");
    for (const char *p = rt->method; *p && j + 1 < sizeof(id); p++)
        id[j++] = *p;
    for (const char *p = rt->pattern; *p && j + 1 < sizeof(id); p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            id[j++] = *p;
    id[j] = '\0';
    snprintf(summary, sizeof(summary), "%s %s (not described yet)", rt->method, rt->pattern);
    return json_pack("{s:s,s:s,s:b,s:{s:{s:s}}}", "operationId", id, "summary", summary,
                     "x-undocumented", 1, "responses", "default", "description", "not described");
}

/* ======================================================================================
 * The document
 * ====================================================================================== */

static json_t *path_item(json_t *paths, const char *pattern)
{
    json_t *item = json_object_get(paths, pattern);

    if (!item) {
        item = json_object();
        json_object_set_new(paths, pattern, item);
    }
    return item;
}

static json_t *components(const struct ab_resource_schema *all)
{
    json_t *schemas = json_object(), *inner;

    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *r = &ab_resources[i];
        char name[128];
        json_t *list;

        object_name(r, "", name, sizeof(name));
        json_object_set_new(schemas, name, row_schema(r, &all[i]));
        list = object_schema();
        json_object_set_new(json_object_get(list, "properties"), "data",
                            json_pack("{s:s,s:o}", "type", "array", "items", ref(name)));
        json_object_set_new(json_object_get(list, "properties"), "has_more",
                            json_pack("{s:s}", "type", "boolean"));
        json_object_set_new(json_object_get(list, "properties"), "next_cursor",
                            json_pack("{s:[s,s],s:s}", "type", "string", "null", "description",
                                      "the after of the next page; null on the last"));
        json_object_set_new(list, "required",
                            json_pack("[s,s,s]", "data", "has_more", "next_cursor"));
        object_name(r, "List", name, sizeof(name));
        json_object_set_new(schemas, name, list);
        if (!r->own_create) {
            object_name(r, "Create", name, sizeof(name));
            json_object_set_new(schemas, name, write_schema(r, &all[i], true));
        }
        if (r->update[0]) {
            object_name(r, "Update", name, sizeof(name));
            json_object_set_new(schemas, name, write_schema(r, &all[i], false));
        }
    }
    inner = json_pack(
        "{s:s,s:{s:{s:s,s:[s,s,s,s,s,s,s,s]},s:{s:s},s:{s:s},s:{s:[s,s]},s:{s:s}},s:[s,s,s,s,s],"
        "s:b}",
        "type", "object", "properties", "type", "type", "string", "enum", "invalid_request_error",
        "authentication_error", "permission_error", "not_found_error", "conflict_error",
        "rate_limit_error", "unavailable_error", "api_error", "code", "type", "string", "message",
        "type", "string", "param", "type", "string", "null", "request_id", "type", "string",
        "required", "type", "code", "message", "param", "request_id", "additionalProperties", 0);
    /* an accounting limit that refused a reservation says which one */
    json_object_set_new(json_object_get(inner, "properties"), "limit",
                        json_pack("{s:s,s:s}", "type", "object", "description",
                                  "the limit that refused an accounting call (scope, limit, "
                                  "value, used ...)"));
    json_object_set_new(schemas, "Error",
                        json_pack("{s:s,s:s,s:{s:o},s:[s],s:b}", "description",
                                  "every error the service answers itself", "type", "object",
                                  "properties", "error", inner, "required", "error",
                                  "additionalProperties", 0));
    return json_pack(
        "{s:o,s:{s:{s:s,s:s,s:s}},s:{s:{s:s,s:s,s:s,s:b,s:{s:s,s:i,s:i,s:s}},s:{s:s,s:s,s:s,s:"
        "b,s:{s:s,s:s}},s:{s:s,s:s,s:s,s:b,s:{s:s,s:i,s:i,s:s}}},s:{s:{s:s,s:{s:s}},s:{s:s,s:"
        "{s:s,s:i}},s:{s:s,s:{s:s,s:[s]}},s:{s:s,s:{s:s,s:[s]}}}}",
        "schemas", schemas, "securitySchemes", "bearer", "type", "http", "scheme", "bearer",
        "description", "an API key or a session key from POST /v1/auth/login", "parameters",
        "X-Request-Id", "name", "X-Request-Id", "in", "header", "description",
        "an id for this request, echoed in the answer and the logs (else one is made)", "required",
        0, "schema", "type", "string", "minLength", 1, "maxLength", 64, "pattern",
        "^[A-Za-z0-9._-]+$", "Agentbase-Tenant", "name", "Agentbase-Tenant", "in", "header",
        "description", "a platform key acts in this tenant (a tenant key: its own, if given)",
        "required", 0, "schema", "type", "string", "format", "uuid", "Idempotency-Key", "name",
        "Idempotency-Key", "in", "header", "description",
        "a retried POST with the same key gets the first answer (Idempotent-Replayed: true); "
        "the same key with another body is a 422",
        "required", 0, "schema", "type", "string", "minLength", 1, "maxLength", 255, "pattern",
        "^[A-Za-z0-9_.:-]+$", "headers", "X-Request-Id", "description",
        "the request's id (the client's, or one made for it)", "schema", "type", "string",
        "Retry-After", "description", "seconds to wait before retrying", "schema", "type",
        "integer", "minimum", 0, "Idempotent-Replayed", "description",
        "present when the answer is the stored first answer to this Idempotency-Key", "schema",
        "type", "string", "enum", "true", "Content-Encoding", "description",
        "gzip when the request's Accept-Encoding allows it", "schema", "type", "string", "enum",
        "gzip");
}

/* The document for the routes of app, with every resource's schema from all. */
static json_t *build(const struct ab_app *app, const struct ab_resource_schema *all)
{
    json_t *paths = json_object(), *tag_list = json_array();
    char method[16];

    for (size_t i = 0; i < app->nroutes; i++) {
        const struct ab_http_route *rt = &app->routes[i];
        const struct ab_resource *r = resource_of(rt);
        const struct op_doc *d = doc_of(rt);
        json_t *op;

        snprintf(method, sizeof(method), "%s", rt->method);
        for (char *c = method; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        if (d)
            op = documented_operation(d, all);
        else if (r && rt->handler == ab_api_secret_read)
            op = secret_operation(r);
        else if (r)
            op = resource_operation(rt, r, &all[r - ab_resources]);
        else
            op = undocumented_operation(rt);
        json_object_set_new(path_item(paths, rt->pattern), method, op);
    }
    for (size_t i = 0; i < AB_ARRAY_LEN(tags); i++)
        json_array_append_new(tag_list, json_pack("{s:s,s:s}", "name", tags[i].name, "description",
                                                  tags[i].description));
    return json_pack(
        "{s:s,s:{s:s,s:s,s:s,s:{s:s,s:s}},s:[{s:s,s:s}],s:o,s:o,s:o,s:[{s:[]}]}", "openapi",
        "3.1.0", "info", "title", "agentbase", "version", AB_VERSION, "description",
        "Multi-tenant data backend for AI agent platforms. Every /v1 request carries "
        "Authorization: Bearer <key>; a platform-admin key acts in a tenant with the header "
        "Agentbase-Tenant. Errors are {\"error\": {type, code, message, param, request_id}}.",
        "license", "name", "Proprietary", "identifier", "LicenseRef-agentbase", "servers", "url",
        "/", "description", "the server this document was fetched from", "tags", tag_list, "paths",
        paths, "components", components(all), "security", "bearer");
}

/* gzip (RFC 1952) of in into a new buffer *out (the caller frees it); 0 or -1. */
static int gzip(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
    z_stream z = {0};
    uLong cap;
    int rc;

    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    cap = deflateBound(&z, (uLong)n) + 32;
    if (!(*out = malloc(cap))) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = *out;
    z.avail_out = (uInt)cap;
    rc = deflate(&z, Z_FINISH);
    *outlen = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* True when Accept-Encoding allows gzip: it names gzip (or *) without q=0. */
static bool accepts_gzip(const char *header)
{
    for (const char *p = header ? header : ""; *p;) {
        size_t len = strcspn(p, ","), name;
        const char *q;

        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        name = strcspn(p, "; \t,");
        if ((name == 4 && strncasecmp(p, "gzip", 4) == 0) || (name == 1 && *p == '*')) {
            q = strstr(p, "q=");
            return !q || q >= p + len || strtod(q + 2, NULL) > 0;
        }
        p += len + (p[len] == ',');
    }
    return false;
}

/* The document, built once: plain and compressed. Read-only once `ready`. */
static struct {
    pthread_mutex_t lock;
    bool ready;
    char *plain;
    size_t plain_len;
    unsigned char *gz;
    size_t gz_len;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

int ab_api_openapi(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;
    const struct ab_resource_schema *all;
    bool ready;

    pthread_mutex_lock(&cache.lock);
    ready = cache.ready;
    pthread_mutex_unlock(&cache.lock);
    if (!ready) {
        if (!(all = ab_api_schemas(app, req)))
            return 0; /* the 503 is set */
        pthread_mutex_lock(&cache.lock);
        if (!cache.ready) {
            json_t *doc = build(app, all);

            cache.plain = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
            json_decref(doc);
            if (cache.plain) {
                cache.plain_len = strlen(cache.plain);
                if (gzip(cache.plain, cache.plain_len, &cache.gz, &cache.gz_len) == 0)
                    cache.ready = true;
                else {
                    free(cache.plain);
                    cache.plain = NULL;
                }
            }
        }
        ready = cache.ready;
        pthread_mutex_unlock(&cache.lock);
        if (!ready)
            return ab_http_error(req, 500, "internal", "cannot build the OpenAPI document");
    }
    if (accepts_gzip(ab_http_header(req, "Accept-Encoding"))) {
        req->content_encoding = "gzip";
        if (ab_buf_append(&req->out, cache.gz, cache.gz_len) != 0)
            return ab_http_error(req, 500, "internal", "cannot send the OpenAPI document");
        return 0;
    }
    if (ab_buf_append(&req->out, cache.plain, cache.plain_len) != 0)
        return ab_http_error(req, 500, "internal", "cannot send the OpenAPI document");
    return 0;
}
