/*
 * A small HTTP client for the API tests (libcurl): one call per request, the server's
 * address from AGENTBASE_URL (set by tests/run). Responses are owned by the caller
 * (api_response_free).
 */
#ifndef AB_TEST_CLIENT_H
#define AB_TEST_CLIENT_H

#include <stddef.h>

struct api_response {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char *headers;   /* raw header block */
    char error[256]; /* when the request failed before any answer (-1): libcurl's reason */
};

/* Sends method path with an optional body (length len) and NULL-terminated header lines. */
int api_request(const char *method, const char *path, const char *body, size_t len,
                const char *const *headers, struct api_response *out);
/* The value of a response header (case-insensitive name) copied into out, or "" . */
void api_header(const struct api_response *r, const char *name, char *out, size_t n);
void api_response_free(struct api_response *r);
/* method path with body (or NULL) as the holder of key (Authorization: Bearer); the status.
 * A request that cannot be made fails the current test. */
long api_call(const char *key, const char *method, const char *path, const char *body,
              struct api_response *r);
/*
 * Checks that r's body is an error object {"error":{type, code, message, param,
 * request_id}} whose request_id is the response's X-Request-Id, and returns its code and
 * message as the compact text {"error":{"code":...,"message":...}}, for comparing.
 */
const char *api_error_text(const struct api_response *r);

/*
 * Runs q (with text parameters) as the test's superuser connection and copies the first
 * value of the first row into out (when given); any failure fails the current test.
 */
void api_sql(void *pgconn, const char *q, int n, const char *const *params, char *out,
             size_t outlen);
/* Inserts a tenant with a slug unique to the run (prefix-...) and copies its id to tenant;
 * api_drop_tenant deletes it with everything it holds. */
void api_make_tenant(void *pgconn, const char *prefix, char tenant[40]);
void api_drop_tenant(void *pgconn, const char *tenant);
/* Inserts a key of tenant with the comma-separated scopes (name: name) and copies it to key. */
void api_make_key(void *pgconn, const char *tenant, const char *scopes, const char *name,
                  char key[64]);

/* Index of the resource named name in ab_resources (the test fails if there is none). */
size_t api_resource_index(const char *name);
/*
 * The collection path of resource i: /v1/<name>, or for a nested resource under its
 * parent's object, whose id is ids[index of the parent].
 */
void api_collection_path(size_t i, char (*ids)[40], char *out, size_t n);

#endif
