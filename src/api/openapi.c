/*
 * GET /openapi.json: the OpenAPI 3.1 document, generated from the live route table and the
 * resource descriptors (with field types from the catalog), so it always describes the
 * server that serves it. Hand-written operations describe themselves in `documented`.
 */
#include "api/api.h"
#include "auth/auth.h"

#include <jansson.h>
#include <string.h>

/* What the fixed routes take and give; the engine's routes are described generically. */
struct doc {
    const char *method, *path, *summary, *tag;
    const char *request;  /* JSON schema text, or NULL */
    const char *response; /* JSON schema text of the success body */
    int status;           /* success status */
    bool public;          /* needs no key */
};

/* A new password (see ab_auth_password_rule) and what setting one answers. */
#define NEW_PASSWORD                                                                                                                                    \
    "{\"type\": \"string\", \"minLength\": " AB_STR(                                                                                                    \
        AB_PASSWORD_MIN_CHARS) ", \"maxLength\": " AB_STR(AB_PASSWORD_MAX_BYTES) ", "                                                                   \
                                                                                 "\"writeOnly\": "                                                      \
                                                                                 "true, "                                                               \
                                                                                 "\"description\""                                                      \
                                                                                 ": \"at "                                                              \
                                                                                 "least " AB_STR(AB_PASSWORD_MIN_CHARS) " characters, at most " AB_STR( \
                                                                                     AB_PASSWORD_MAX_BYTES) " bytes; not a common password, the e-mail or the username\"}"
#define PASSWORD_SET                                                                               \
    "{\"type\": \"object\", \"properties\": {\"user_id\": {\"type\": \"string\", \"format\": "     \
    "\"uuid\"}, \"must_change_password\": {\"type\": \"boolean\"}, \"sessions_ended\": "           \
    "{\"type\": \"integer\"}}}"

static const struct doc documented[] = {
    {"GET", "/healthz", "the process is alive", "operations", NULL,
     "{\"type\": \"object\", \"properties\": {\"status\": {\"const\": \"ok\"}}}", 200, true},
    {"GET", "/readyz", "the database is reachable and migrated", "operations", NULL,
     "{\"type\": \"object\", \"properties\": {\"status\": {\"const\": \"ready\"}, "
     "\"schema_version\": {\"type\": \"integer\"}}}",
     200, true},
    {"GET", "/metrics", "Prometheus metrics (text format)", "operations", NULL,
     "{\"type\": \"string\"}", 200, true},
    {"GET", "/openapi.json", "this document", "operations", NULL, "{\"type\": \"object\"}", 200,
     true},
    {"GET", "/v1/auth/whoami",
     "the key, tenant, user and scopes a request acts with, and the role whose scopes cap them",
     "auth", NULL,
     "{\"type\": \"object\", \"properties\": {\"key_id\": {\"type\": \"string\", \"format\": "
     "\"uuid\"}, \"tenant_id\": {\"type\": [\"string\", \"null\"]}, \"user_id\": {\"type\": "
     "[\"string\", \"null\"]}, \"platform_admin\": {\"type\": \"boolean\"}, \"scopes\": "
     "{\"type\": \"array\", \"items\": {\"type\": \"string\"}}, \"role\": {\"enum\": "
     "[\"viewer\", \"user\", \"admin\", \"platform\"]}, \"role_scopes\": {\"type\": "
     "\"array\", \"items\": {\"type\": \"string\"}}}}",
     200, false},
    {"POST", "/v1/auth/login", "sign in with tenant slug, e-mail and password for a session key",
     "auth",
     "{\"type\": \"object\", \"required\": [\"tenant\", \"email\", \"password\"], "
     "\"properties\": {\"tenant\": {\"type\": \"string\"}, \"email\": {\"type\": \"string\"}, "
     "\"password\": {\"type\": \"string\"}}, \"additionalProperties\": false}",
     "{\"type\": \"object\", \"properties\": {\"key\": {\"type\": \"string\"}, \"expires_at\": "
     "{\"type\": \"string\", \"format\": \"date-time\"}, \"tenant_id\": {\"type\": \"string\"}, "
     "\"user_id\": {\"type\": \"string\"}, \"role\": {\"enum\": [\"viewer\", \"user\", "
     "\"admin\"]}, \"scopes\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, "
     "\"must_change_password\": {\"type\": \"boolean\"}}}",
     200, true},
    {"POST", "/v1/auth/password",
     "change one's own password (the old one, then the new one); ends one's other sessions", "auth",
     "{\"type\": \"object\", \"required\": [\"old_password\", \"new_password\"], "
     "\"properties\": {\"old_password\": {\"type\": \"string\", \"writeOnly\": true}, "
     "\"new_password\": " NEW_PASSWORD "}, \"additionalProperties\": false}",
     PASSWORD_SET, 200, false},
    {"POST", "/v1/users", "create a user, optionally with a password (admins)", "users",
     "{\"allOf\": [{\"$ref\": \"#/components/schemas/users\"}], \"required\": [\"email\"], "
     "\"properties\": {\"email\": {\"type\": \"string\"}, \"password\": " NEW_PASSWORD ", "
     "\"must_change_password\": {\"type\": \"boolean\"}}}",
     "{\"$ref\": \"#/components/schemas/users\"}", 201, false},
    {"POST", "/v1/users/{id}/password",
     "reset a user's password (admins); the user must change it at next sign-in, their "
     "sessions end",
     "users",
     "{\"type\": \"object\", \"required\": [\"new_password\"], \"properties\": "
     "{\"new_password\": " NEW_PASSWORD "}, \"additionalProperties\": false}",
     PASSWORD_SET, 200, false},
    {"POST", "/v1/api-keys", "issue an API key; the key is in this response only", "api-keys",
     "{\"type\": \"object\", \"required\": [\"name\", \"scopes\"], \"properties\": {\"name\": "
     "{\"type\": \"string\"}, \"scopes\": {\"type\": \"array\", \"items\": {\"type\": "
     "\"string\"}}, \"user_id\": {\"type\": \"string\", \"format\": \"uuid\"}, \"expires_at\": "
     "{\"type\": \"string\", \"format\": \"date-time\"}}, \"additionalProperties\": false}",
     "{\"$ref\": \"#/components/schemas/api-keys\"}", 201, false},
    {"DELETE", "/v1/api-keys/{id}", "revoke an API key", "api-keys", NULL, NULL, 204, false},
};

static json_t *error_response(const char *description)
{
    return json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", description, "content",
                     "application/json", "schema", "$ref", "#/components/schemas/Error");
}

/* The JSON schema of one field. */
static json_t *field_schema(const struct ab_field *f)
{
    static const char *const types[] = {
        [AB_KIND_STRING] = "string",   [AB_KIND_UUID] = "string",     [AB_KIND_DATETIME] = "string",
        [AB_KIND_DATE] = "string",     [AB_KIND_INTEGER] = "integer", [AB_KIND_NUMBER] = "number",
        [AB_KIND_BOOLEAN] = "boolean", [AB_KIND_OBJECT] = "object",   [AB_KIND_ARRAY] = "array"};

    if (f->kind == AB_KIND_ANY)
        return json_object(); /* any JSON */
    return f->nullable ? json_pack("{s:[s,s]}", "type", types[f->kind], "null")
                       : json_pack("{s:s}", "type", types[f->kind]);
}

/* An object schema with the fields of a list. */
static json_t *fields_schema(const struct ab_field *f, size_t n)
{
    json_t *props = json_object();

    for (size_t i = 0; i < n; i++)
        json_object_set_new(props, f[i].name, field_schema(&f[i]));
    return json_pack("{s:s,s:o,s:b}", "type", "object", "properties", props, "additionalProperties",
                     0);
}

static json_t *parameters(const struct ab_http_route *rt, const struct ab_resource *r);

/* The schema of a resource's write-only secret in a body, or of its hint in an answer. */
static json_t *secret_schema(const struct ab_resource_secret *s, bool hint)
{
    json_t *one = hint ? json_pack("{s:s,s:{s:{s:s},s:{s:[s,s]}}}", "type", "object", "properties",
                                   "set", "type", "boolean", "last4", "type", "string", "null")
                       : json_pack("{s:s,s:i}", "type", "string", "minLength", 1);
    json_t *schema;

    if (!s->named)
        schema = one;
    else
        schema = json_pack("{s:s,s:o}", "type", "object", "additionalProperties",
                           hint ? one : json_pack("{s:[s,s]}", "type", "string", "null"));
    if (!hint && s->named)
        json_decref(one);
    json_object_set_new(schema, hint ? "readOnly" : "writeOnly", json_true());
    json_object_set_new(
        schema, "description",
        json_string(hint ? "which secrets are set, and the last four characters of those of 12 "
                           "or more; never a value"
                    : s->named ? "sealed before storage; PATCH merges by name, null removes"
                               : "sealed before storage; required on create"));
    return schema;
}

/* GET /v1/<name>/{id}/<field>: a secret's value, for keys with secrets:read. */
static json_t *secret_operation(const struct ab_http_route *rt, const struct ab_resource *r)
{
    json_t *responses = json_object(), *value = json_pack("{s:s}", "type", "string");
    char summary[160];

    if (r->secret->named)
        value = json_pack("{s:s,s:o}", "type", "object", "additionalProperties", value);
    snprintf(summary, sizeof(summary),
             "the value of %s's %s (scope %s only; every read is audited)", r->name,
             r->secret->field, AB_SCOPE_SECRETS_READ);
    json_object_set_new(responses, "200",
                        json_pack("{s:s,s:{s:{s:{s:s,s:{s:o}}}}}", "description", "the value",
                                  "content", "application/json", "schema", "type", "object",
                                  "properties", r->secret->field, value));
    json_object_set_new(responses, "401", error_response("missing or invalid API key"));
    json_object_set_new(responses, "403", error_response("the key lacks secrets:read"));
    json_object_set_new(responses, "404", error_response("no such object in this tenant"));
    return json_pack("{s:s,s:[s],s:o,s:o}", "summary", summary, "tags", r->name, "parameters",
                     parameters(rt, NULL), "responses", responses);
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

static json_t *parameters(const struct ab_http_route *rt, const struct ab_resource *r)
{
    json_t *params = json_array();
    bool list = r && strcmp(rt->method, "GET") == 0 && !is_item(rt);

    if (strstr(rt->pattern, "{id}"))
        json_array_append_new(params, json_pack("{s:s,s:s,s:b,s:{s:s}}", "name", "id", "in", "path",
                                                "required", 1, "schema", "type", "string"));
    if (r && list) {
        json_array_append_new(params,
                              json_pack("{s:s,s:s,s:{s:s,s:i,s:i}}", "name", "limit", "in", "query",
                                        "schema", "type", "integer", "minimum", 1, "maximum", 500));
        json_array_append_new(params,
                              json_pack("{s:s,s:s,s:s,s:{s:s}}", "name", "after", "in", "query",
                                        "description", "next_cursor of the previous page", "schema",
                                        "type", "string"));
        json_array_append_new(params,
                              json_pack("{s:s,s:s,s:{s:s,s:[s,s]}}", "name", "order", "in", "query",
                                        "schema", "type", "string", "enum", "asc", "desc"));
        for (const char *p = r->filters; *p;) {
            size_t l = strcspn(p, ",");
            char col[64];

            snprintf(col, sizeof(col), "%.*s", (int)l, p);
            json_array_append_new(params, json_pack("{s:s,s:s,s:{s:s}}", "name", col, "in", "query",
                                                    "schema", "type", "string"));
            p += l + (p[l] == ',');
        }
    }
    return params;
}

/* The operation for one route of the resource engine. */
static json_t *resource_operation(const struct ab_http_route *rt, const struct ab_resource *r,
                                  const struct ab_resource_schema *s)
{
    json_t *op = json_object(), *responses = json_object();
    bool item = is_item(rt);
    char ref[128], summary[160];
    const char *m = rt->method;

    snprintf(ref, sizeof(ref), "#/components/schemas/%s", r->name);
    if (strcmp(m, "GET") == 0 && !item)
        snprintf(summary, sizeof(summary), "list %s (keyset pagination)", r->name);
    else if (strcmp(m, "GET") == 0)
        snprintf(summary, sizeof(summary), "get one of %s", r->name);
    else if (strcmp(m, "POST") == 0)
        snprintf(summary, sizeof(summary), "create one of %s", r->name);
    else if (strcmp(m, "PATCH") == 0)
        snprintf(summary, sizeof(summary), "change fields of one of %s", r->name);
    else
        snprintf(summary, sizeof(summary), "delete one of %s%s", r->name,
                 r->soft_delete ? " (soft: sets deleted_at)" : "");
    json_object_set_new(op, "summary", json_string(summary));
    json_object_set_new(op, "tags", json_pack("[s]", r->name));
    json_object_set_new(op, "parameters", parameters(rt, r));
    if (strcmp(m, "POST") == 0 || strcmp(m, "PATCH") == 0) {
        json_t *schema = strcmp(m, "POST") == 0
                             ? fields_schema(s ? s->create : NULL, s ? s->ncreate : 0)
                             : fields_schema(s ? s->update : NULL, s ? s->nupdate : 0);

        if (r->secret)
            json_object_set_new(json_object_get(schema, "properties"), r->secret->field,
                                secret_schema(r->secret, false));

        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:{s:{s:o}}}", "required", 1, "content",
                                      "application/json", "schema", schema));
    }
    if (strcmp(m, "DELETE") == 0)
        json_object_set_new(responses, "204", json_pack("{s:s}", "description", "deleted"));
    else if (strcmp(m, "GET") == 0 && !item)
        json_object_set_new(
            responses, "200",
            json_pack("{s:s,s:{s:{s:{s:s,s:{s:{s:s,s:{s:s}},s:{s:s},s:{s:[s,s]}}}}}}",
                      "description", "a page", "content", "application/json", "schema", "type",
                      "object", "properties", "data", "type", "array", "items", "$ref", ref,
                      "has_more", "type", "boolean", "next_cursor", "type", "string", "null"));
    else
        json_object_set_new(responses, strcmp(m, "POST") == 0 ? "201" : "200",
                            json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", "the object",
                                      "content", "application/json", "schema", "$ref", ref));
    json_object_set_new(responses, "400", error_response("invalid input, naming the field"));
    json_object_set_new(responses, "401", error_response("missing or invalid API key"));
    {
        /* the scope and role_access decide (docs/api.md, "Who may see and change what") */
        char why[256];

        if (strcmp(m, "GET") == 0)
            snprintf(why, sizeof(why), "the key or its role lacks %s:read", r->name);
        else if (r->write_scope)
            snprintf(why, sizeof(why), "the key lacks %s (platform-governed)", r->write_scope);
        else
            snprintf(why, sizeof(why),
                     "the key or its role lacks %s:write, or the object names another user",
                     r->name);
        json_object_set_new(responses, "403", error_response(why));
    }
    json_object_set_new(responses, "404",
                        error_response("no such object in this tenant, or not the caller's"));
    if (strcmp(m, "POST") == 0 || strcmp(m, "PATCH") == 0) {
        json_object_set_new(responses, "409", error_response("conflicts with an existing object"));
        json_object_set_new(responses, "413", error_response("the body is too large"));
        json_object_set_new(responses, "422", error_response("violates a constraint"));
    }
    json_object_set_new(op, "responses", responses);
    return op;
}

static json_t *documented_operation(const struct doc *d)
{
    json_t *op = json_pack("{s:s,s:[s]}", "summary", d->summary, "tags", d->tag);
    json_t *responses = json_object();
    char status[8];

    snprintf(status, sizeof(status), "%d", d->status);
    if (strstr(d->path, "{id}"))
        json_object_set_new(op, "parameters",
                            json_pack("[{s:s,s:s,s:b,s:{s:s}}]", "name", "id", "in", "path",
                                      "required", 1, "schema", "type", "string"));
    if (d->request)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:{s:{s:o}}}", "required", 1, "content",
                                      "application/json", "schema",
                                      json_loads(d->request, 0, NULL)));
    if (d->response)
        json_object_set_new(
            responses, status,
            json_pack("{s:s,s:{s:{s:o}}}", "description", d->summary, "content",
                      strcmp(d->path, "/metrics") == 0 ? "text/plain" : "application/json",
                      "schema", json_loads(d->response, 0, NULL)));
    else
        json_object_set_new(responses, status, json_pack("{s:s}", "description", d->summary));
    if (!d->public) {
        json_object_set_new(responses, "401", error_response("missing or invalid API key"));
        json_object_set_new(responses, "403", error_response("the key lacks the scope"));
    } else {
        json_object_set_new(op, "security", json_array());
    }
    if (d->request)
        json_object_set_new(responses, "400", error_response("invalid input"));
    json_object_set_new(op, "responses", responses);
    return op;
}

/* "/v1/x/{id}" is already OpenAPI's own path template syntax. */
static json_t *path_item(json_t *paths, const char *pattern)
{
    json_t *item = json_object_get(paths, pattern);

    if (!item) {
        item = json_object();
        json_object_set_new(paths, pattern, item);
    }
    return item;
}

int ab_api_openapi(void *appv, struct ab_req *req)
{
    struct ab_app *app = appv;
    json_t *doc, *paths = json_object(), *schemas = json_object();
    char method[16], *text;

    for (size_t i = 0; i < AB_ARRAY_LEN(documented); i++) {
        const struct doc *d = &documented[i];

        snprintf(method, sizeof(method), "%s", d->method);
        for (char *c = method; *c; c++)
            *c = (char)(*c - 'A' + 'a');
        json_object_set_new(path_item(paths, d->path), method, documented_operation(d));
    }
    for (size_t i = 0; i < app->nroutes; i++) {
        const struct ab_http_route *rt = &app->routes[i];
        const struct ab_resource *r = resource_of(rt);

        if (!r)
            continue;
        snprintf(method, sizeof(method), "%s", rt->method);
        for (char *c = method; *c; c++)
            *c = (char)(*c - 'A' + 'a');
        json_object_set_new(
            path_item(paths, rt->pattern), method,
            rt->handler == ab_api_secret_read
                ? secret_operation(rt, r)
                : resource_operation(rt, r, app->schemas ? &app->schemas[r - ab_resources] : NULL));
    }
    for (size_t i = 0; i < ab_nresources; i++) {
        const struct ab_resource *r = &ab_resources[i];
        json_t *schema = fields_schema(app->schemas ? app->schemas[i].columns : NULL,
                                       app->schemas ? app->schemas[i].ncolumns : 0);

        /* What comes back: the writable fields and the rest of the row, secrets excluded. */
        json_object_set_new(json_object_get(schema, "properties"), "id",
                            json_pack("{s:s,s:s}", "type", "string", "format", "uuid"));
        if (r->secret)
            json_object_set_new(json_object_get(schema, "properties"), r->secret->field,
                                secret_schema(r->secret, true));
        json_object_set(schema, "additionalProperties", json_true());
        json_object_set_new(schemas, r->name, schema);
    }
    json_object_set_new(schemas, "Error",
                        json_pack("{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s}}}}}", "type", "object",
                                  "properties", "error", "type", "object", "properties", "code",
                                  "type", "string", "message", "type", "string"));
    doc = json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:o,s:{s:{s:s,s:s}}},s:[{s:[]}]}", "openapi",
                    "3.1.0", "info", "title", "agentbase", "version", AB_VERSION, "description",
                    "Multi-tenant data backend for AI agent platforms. Every /v1 request "
                    "carries Authorization: Bearer <key>; a platform-admin key acts in a tenant "
                    "with the header Agentbase-Tenant.",
                    "paths", paths, "components", "schemas", schemas, "securitySchemes", "bearer",
                    "type", "http", "scheme", "bearer", "security", "bearer");
    text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    if (!text || ab_buf_puts(&req->out, text) != 0)
        ab_http_error(req, 500, "internal", "cannot build the OpenAPI document");
    free(text);
    json_decref(doc);
    return 0;
}
