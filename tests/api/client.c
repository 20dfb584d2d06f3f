#include "client.h"
#include "api/api.h"
#include "auth/auth.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct sink {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
    struct sink *s = userdata;
    char *grown = realloc(s->data, s->len + size * n + 1);

    if (!grown)
        return 0;
    memcpy(grown + s->len, p, size * n);
    s->len += size * n;
    grown[s->len] = '\0';
    s->data = grown;
    return size * n;
}

/* libcurl's global set-up is not thread-safe: do it once, before any thread calls. */
static void global_init(void) __attribute__((constructor));
static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void record_response(const char *method, const char *path, const struct api_response *r);

int api_request(const char *method, const char *path, const char *body, size_t len,
                const char *const *headers, struct api_response *out)
{
    const char *base = getenv("AGENTBASE_URL");
    struct sink b = {0}, h = {0};
    struct curl_slist *list = NULL;
    char url[4096];
    CURL *c;
    CURLcode rc;

    memset(out, 0, sizeof(*out));
    if (!base)
        return -1;
    snprintf(url, sizeof(url), "%s%s", base, path);
    c = curl_easy_init();
    if (!c)
        return -1;
    for (const char *const *hd = headers; hd && *hd; hd++)
        list = curl_slist_append(list, *hd);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        snprintf(out->error, sizeof(out->error), "%s (curl %d)", curl_easy_strerror(rc), (int)rc);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    out->body = b.data ? b.data : calloc(1, 1);
    out->len = b.len;
    out->headers = h.data ? h.data : calloc(1, 1);
    if (rc == CURLE_OK)
        record_response(method, path, out);
    return rc == CURLE_OK ? 0 : -1;
}

void api_header(const struct api_response *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);

    out[0] = '\0';
    for (const char *p = r->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t len;

            while (*v == ' ')
                v++;
            len = strcspn(v, "\r\n");
            snprintf(out, n, "%.*s", (int)len, v);
            return;
        }
    }
}

long api_call(const char *key, const char *method, const char *path, const char *body,
              struct api_response *r)
{
    char auth[128];
    const char *headers[2] = {auth, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    assert_int_equal(api_request(method, path, body, body ? strlen(body) : 0, headers, r), 0);
    return r->status;
}

void api_response_free(struct api_response *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

void api_sql(void *pgconn, const char *q, int n, const char *const *params, char *out,
             size_t outlen)
{
    PGconn *db = pgconn;
    PGresult *r = PQexecParams(db, q, n, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", q, PQerrorMessage(db));
    if (out)
        snprintf(out, outlen, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

void api_make_tenant(void *pgconn, const char *prefix, char tenant[40])
{
    char slug[64];
    const char *p[1] = {slug};

    snprintf(slug, sizeof(slug), "%s-%d-%u", prefix, (int)getpid(), randombytes_random() % 100000);
    api_sql(pgconn, "INSERT INTO agentbase.tenants (slug, name) VALUES ($1, $1) RETURNING id", 1, p,
            tenant, 40);
}

void api_drop_tenant(void *pgconn, const char *tenant)
{
    const char *p[1] = {tenant};

    api_sql(pgconn, "DELETE FROM agentbase.tenants WHERE id = $1", 1, p, NULL, 0);
}

void api_make_key(void *pgconn, const char *tenant, const char *scopes, const char *name,
                  char key[64])
{
    char prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
    const char *p[5] = {tenant, prefix, hash, scopes, name};

    ab_auth_key_new(key, prefix, hash);
    api_sql(pgconn,
            "INSERT INTO agentbase.api_keys (tenant_id, name, key_prefix, key_hash, scopes) "
            "VALUES ($1, $5, $2, $3, string_to_array($4, ','))",
            5, p, NULL, 0);
}

size_t api_resource_index(const char *name)
{
    for (size_t k = 0; k < ab_nresources; k++)
        if (strcmp(ab_resources[k].name, name) == 0)
            return k;
    fail_msg("no resource %s", name);
    return 0;
}

void api_collection_path(size_t i, char (*ids)[40], char *out, size_t n)
{
    const struct ab_resource *r = &ab_resources[i];

    if (r->parent)
        snprintf(out, n, "/v1/%s/%s/%s", r->parent, ids[api_resource_index(r->parent)], r->name);
    else
        snprintf(out, n, "/v1/%s", r->name);
}

const char *api_error_text(const struct api_response *r)
{
    static char text[1024];
    char request_id[80];
    json_t *doc = json_loads(r->body, 0, NULL), *e = json_object_get(doc, "error");
    json_t *pair;
    char *compact;

    /* the error object's shape: exactly these five members */
    assert_non_null(e);
    assert_int_equal(json_object_size(e), 5);
    assert_true(json_is_string(json_object_get(e, "type")));
    assert_true(json_is_string(json_object_get(e, "code")));
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_true(json_is_string(json_object_get(e, "param")) ||
                json_is_null(json_object_get(e, "param")));
    api_header(r, "X-Request-Id", request_id, sizeof(request_id));
    assert_string_equal(json_string_value(json_object_get(e, "request_id")), request_id);
    pair = json_pack("{s:{s:O,s:O}}", "error", "code", json_object_get(e, "code"), "message",
                     json_object_get(e, "message"));
    compact = json_dumps(pair, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(pair);
    snprintf(text, sizeof(text), "%s", compact ? compact : "");
    free(compact);
    json_decref(doc);
    return text;
}

/* ======================================================================================
 * Recording responses for the contract suite (tests/contract/responses.mjs)
 *
 * With AB_RECORD_RESPONSES naming a file, every response received is appended to it as
 * one JSON line: {method, path (as requested, with its query), status, content_type,
 * content_encoding, request_id, body (the text; null when it is not UTF-8)}. One write(2)
 * per line on an O_APPEND file, so that the tests' threads never interleave their lines.
 * ====================================================================================== */

#include <fcntl.h>
#include <unistd.h>

static void record_response(const char *method, const char *path, const struct api_response *r)
{
    const char *file = getenv("AB_RECORD_RESPONSES");
    char type[256], encoding[64], request_id[80];
    json_t *line, *body;
    char *text, *buf;
    size_t n;
    int fd;

    if (!file || !*file)
        return;
    api_header(r, "Content-Type", type, sizeof(type));
    api_header(r, "Content-Encoding", encoding, sizeof(encoding));
    api_header(r, "X-Request-Id", request_id, sizeof(request_id));
    body = json_stringn(r->body, r->len);
    line = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:o}", "method", method, "path", path, "status",
                     (int)r->status, "content_type", type, "content_encoding", encoding,
                     "request_id", request_id, "body", body ? body : json_null());
    text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    n = text ? strlen(text) : 0;
    buf = text ? malloc(n + 1) : NULL;
    if (!buf)
        fail_msg("cannot record the response to %s %s", method, path);
    memcpy(buf, text, n);
    buf[n] = '\n';
    fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0 || write(fd, buf, n + 1) != (ssize_t)(n + 1))
        fail_msg("cannot write to %s", file);
    close(fd);
    free(buf);
    free(text);
}
