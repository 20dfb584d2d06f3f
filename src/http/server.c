/*
 * The HTTP server on libmicrohttpd.
 *
 * libmicrohttpd calls on_request() several times per request: once when the headers are
 * in (we create the struct ab_req), once per chunk of body (we keep at most max_body bytes
 * and remember if there was more), and once more when the body is complete (we route, run
 * the handler and queue the response). on_completed() runs after the response went out:
 * it writes the log line, counts the request in the metrics and frees the record. So a
 * request's memory has exactly one owner and one place where it is released.
 */
#include "http/http.h"

#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Status codes counted separately in the metrics; anything else counts as "other". */
static const int counted_status[] = {200, 201, 204, 400, 401, 403, 404, 405,
                                     409, 413, 422, 429, 500, 503, 0};
#define NSTATUS (AB_ARRAY_LEN(counted_status))
/* Latency histogram bucket bounds in seconds (Prometheus convention), then +Inf. */
static const double bucket_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                   0.1,   0.25,   0.5,   1.0,  2.5};
#define NBUCKETS (AB_ARRAY_LEN(bucket_le) + 1)

struct ab_http_server {
    struct ab_http_opts opts;
    struct MHD_Daemon *daemon;
    int port;
    atomic_int in_flight;
    /* counts[route + 1][status index]: route -1 is "no route" */
    atomic_ulong *counts;
    atomic_ulong buckets[NBUCKETS];
    atomic_ullong latency_us_sum;
    atomic_ulong latency_count;
};

/* ======================================================================================
 * Responses
 * ====================================================================================== */

/* The error's type: the class of the status, for clients that branch on it. */
static const char *error_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
    case 405:
        return "not_found_error";
    case 409:
        return "conflict_error";
    case 429:
        return "rate_limit_error";
    case 503:
        return "unavailable_error";
    }
    return status >= 500 ? "api_error" : "invalid_request_error";
}

static int error_body(struct ab_req *req, int status, const char *code, const char *param,
                      const char *fmt, va_list ap)
{
    char message[512];
    json_t *body;
    char *text;

    vsnprintf(message, sizeof(message), fmt, ap);
    /* Messages may echo client input: keep them printable ASCII so any JSON encoder takes them. */
    for (char *p = message; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    req->status = status;
    ab_buf_reset(&req->out);
    body = json_pack("{s:{s:s,s:s,s:s,s:s?,s:s}}", "error", "type", error_type(status), "code",
                     code, "message", message, "param", param, "request_id", req->request_id);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!text || ab_buf_puts(&req->out, text) != 0) {
        ab_buf_reset(&req->out);
        req->status = 500; /* an empty body: even the fallback message did not fit */
        if (ab_buf_puts(&req->out, "{\"error\":{\"type\":\"api_error\",\"code\":\"internal\","
                                   "\"message\":\"out of memory\",\"param\":null,"
                                   "\"request_id\":null}}") == 0)
            req->status = 500;
    }
    free(text);
    json_decref(body);
    return 0;
}

int ab_http_error(struct ab_req *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_body(req, status, code, NULL, fmt, ap);
    va_end(ap);
    return 0;
}

int ab_http_error_at(struct ab_req *req, int status, const char *code, const char *param,
                     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_body(req, status, code, param, fmt, ap);
    va_end(ap);
    return 0;
}

const void *ab_http_route_data(const struct ab_req *req)
{
    return req->route >= 0 ? req->server->opts.routes[req->route].data : NULL;
}

const char *ab_http_header(struct ab_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *ab_http_query(struct ab_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_walk {
    int (*each)(void *ctx, const char *name, const char *value);
    void *ctx;
    int rc;
};

static enum MHD_Result query_step(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct query_walk *w = cls;

    (void)kind;
    w->rc = w->each(w->ctx, key, value ? value : "");
    return w->rc ? MHD_NO : MHD_YES;
}

int ab_http_query_each(struct ab_req *req,
                       int (*each)(void *ctx, const char *name, const char *value), void *ctx)
{
    struct query_walk w = {each, ctx, 0};

    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_step, &w);
    return w.rc;
}

/* ======================================================================================
 * Routing
 * ====================================================================================== */

/*
 * Matches path against pattern segment by segment; {name} matches any one non-empty
 * segment, whose text is copied into req->param_buf. Returns true on a match.
 */
static bool match(struct ab_req *req, const char *pattern, const char *path)
{
    size_t used = 0;
    int n = 0;

    while (*pattern && *path) {
        const char *pe = strchr(pattern, '/'), *se = strchr(path, '/');
        size_t plen = pe ? (size_t)(pe - pattern) : strlen(pattern);
        size_t slen = se ? (size_t)(se - path) : strlen(path);

        if (plen > 1 && pattern[0] == '{') {
            if (slen == 0 || n == AB_HTTP_MAX_PARAMS || used + slen + 1 > sizeof(req->param_buf))
                return false;
            memcpy(req->param_buf + used, path, slen);
            req->param_buf[used + slen] = '\0';
            req->params[n++] = req->param_buf + used;
            used += slen + 1;
        } else if (plen != slen || memcmp(pattern, path, plen) != 0) {
            return false;
        }
        pattern += plen;
        path += slen;
        if (*pattern == '/' && *path == '/') {
            pattern++;
            path++;
        } else if (*pattern || *path) {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

/* Runs the handler for the request, or answers 404 / 405. */
static void dispatch(struct ab_http_server *s, struct ab_req *req)
{
    bool path_known = false;

    for (size_t i = 0; i < s->opts.nroutes; i++) {
        const struct ab_http_route *r = &s->opts.routes[i];

        if (!match(req, r->pattern, req->path))
            continue;
        path_known = true;
        if (strcmp(r->method, req->method) != 0)
            continue;
        req->route = (int)i;
        if (r->handler(s->opts.app, req) != 0 && req->status < 500)
            ab_http_error(req, 500, "internal", "internal error");
        return;
    }
    if (path_known)
        ab_http_error(req, 405, "method_not_allowed", "%s is not allowed on %s", req->method,
                      req->path);
    else
        ab_http_error(req, 404, "not_found", "no such endpoint: %s", req->path);
}

/* ======================================================================================
 * Request lifecycle
 * ====================================================================================== */

/* A client-supplied X-Request-Id is kept when it is short and plain; else we make one. */
static void set_request_id(struct ab_req *req)
{
    const char *given = ab_http_header(req, "X-Request-Id");
    unsigned char raw[12];
    size_t n = given ? strlen(given) : 0;

    if (n > 0 && n < sizeof(req->request_id) &&
        strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n) {
        memcpy(req->request_id, given, n + 1);
        return;
    }
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(req->request_id, sizeof(req->request_id), raw, sizeof(raw));
}

static enum MHD_Result send_response(struct ab_req *req)
{
    struct MHD_Response *resp;
    enum MHD_Result ok;
    size_t len = req->out.len;
    char *data = req->out.data;

    /* The response takes the body buffer over and frees it when sent. */
    ab_buf_init(&req->out, req->out.max);
    resp = MHD_create_response_from_buffer_with_free_callback(len, data ? data : (char *)"",
                                                              data ? free : NULL);
    if (!resp) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            req->content_type ? req->content_type : "application/json");
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    if (req->content_encoding) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, req->content_encoding);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    }
    if (req->retry_after[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, req->retry_after);
    if (req->replayed)
        MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    ok = MHD_queue_response(req->conn, (unsigned int)req->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct ab_http_server *s = cls;
    struct ab_req *req = *con_cls;

    (void)version;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->conn = conn;
        req->server = s;
        req->method = method;
        req->path = url;
        req->route = -1;
        req->status = 200;
        req->started_ms = ab_now_ms();
        ab_buf_init(&req->body, s->opts.max_body);
        ab_buf_init(&req->out, 64u << 20);
        set_request_id(req);
        atomic_fetch_add(&s->in_flight, 1);
        *con_cls = req;
        return MHD_YES;
    }
    if (req->deferred == 2)
        return send_response(req); /* resumed: the deferred answer is ready */
    if (req->deferred == 1)
        return MHD_YES;
    if (*upload_data_size > 0) {
        if (!req->body_too_large && ab_buf_append(&req->body, upload_data, *upload_data_size))
            req->body_too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->body_too_large)
        ab_http_error(req, 413, "payload_too_large", "the request body exceeds %zu bytes",
                      s->opts.max_body);
    else
        dispatch(s, req);
    if (req->defer_start) {
        req->deferred = 1;
        MHD_suspend_connection(conn);
        req->defer_start(req, req->defer_arg);
        return MHD_YES;
    }
    return send_response(req);
}

void ab_http_defer(struct ab_req *req, void (*start)(struct ab_req *req, void *arg), void *arg)
{
    req->defer_start = start;
    req->defer_arg = arg;
}

void ab_http_resume(struct ab_req *req)
{
    /* MHD_resume_connection takes the daemon's lock, which orders this write before the
     * handler call that reads it. */
    req->deferred = 2;
    MHD_resume_connection(req->conn);
}

static void count(struct ab_http_server *s, const struct ab_req *req, double ms)
{
    size_t si = NSTATUS - 1, bi = NBUCKETS - 1;

    for (size_t i = 0; i + 1 < NSTATUS; i++)
        if (counted_status[i] == req->status)
            si = i;
    atomic_fetch_add(&s->counts[(size_t)(req->route + 1) * NSTATUS + si], 1);
    for (size_t i = 0; i < NBUCKETS - 1; i++)
        if (ms / 1000.0 <= bucket_le[i]) {
            bi = i;
            break;
        }
    atomic_fetch_add(&s->buckets[bi], 1);
    atomic_fetch_add(&s->latency_us_sum, (unsigned long long)(ms * 1000.0));
    atomic_fetch_add(&s->latency_count, 1);
}

/* UTC time with milliseconds, RFC 3339. */
static void now_rfc3339(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* libmicrohttpd's own diagnostics, in the same log format as everything else. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct ab_http_server *s = cls;
    char when[40], message[1024];
    size_t n;

    vsnprintf(message, sizeof(message), fmt, ap);
    n = strlen(message);
    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == ' '))
        message[--n] = '\0';
    now_rfc3339(when, sizeof(when));
    if (s->opts.log_json) {
        json_t *line = json_pack("{s:s,s:s,s:s,s:s}", "time", when, "level", "warning", "source",
                                 "http", "message", message);
        char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;

        if (text)
            fprintf(stderr, "%s\n", text);
        free(text);
        json_decref(line);
    } else {
        fprintf(stderr, "%s http warning: %s\n", when, message);
    }
}

static void log_request(struct ab_http_server *s, const struct ab_req *req, double ms)
{
    const char *route = req->route >= 0 ? s->opts.routes[req->route].pattern : "-";
    char when[40];

    now_rfc3339(when, sizeof(when));
    if (s->opts.log_json) {
        json_t *line =
            json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s,s:s,s:i,s:f}", "time", when, "request_id",
                      req->request_id, "level", req->status >= 500 ? "error" : "info", "tenant",
                      req->tenant_id[0] ? req->tenant_id : NULL, "key_id",
                      req->key_id[0] ? req->key_id : NULL, "method", req->method, "route", route,
                      "status", req->status, "duration_ms", (double)((long)(ms * 1000.0)) / 1000.0);
        char *text = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;

        if (text)
            fprintf(stderr, "%s\n", text);
        free(text);
        json_decref(line);
    } else {
        fprintf(stderr, "%s %s %s %s %d %.3f ms tenant=%s\n", when, req->request_id, req->method,
                route, req->status, ms, req->tenant_id[0] ? req->tenant_id : "-");
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct ab_http_server *s = cls;
    struct ab_req *req = *con_cls;
    double ms;

    (void)conn;
    (void)why;
    if (!req)
        return;
    ms = ab_now_ms() - req->started_ms;
    count(s, req, ms);
    log_request(s, req, ms);
    ab_buf_free(&req->body);
    ab_buf_free(&req->out);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* ======================================================================================
 * Start and stop
 * ====================================================================================== */

static int resolve(const char *listen, struct sockaddr_storage *sa, bool *v6, struct ab_error *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
    int rc;

    if (!colon || colon == listen || !colon[1] || (size_t)(colon - listen) >= sizeof(host))
        return ab_error_set(err, AB_EINVAL, "bad listen address '%s' (want host:port)", listen);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:8080 */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0)
        return ab_error_set(err, AB_EINVAL, "bad listen address '%s': %s", listen,
                            gai_strerror(rc));
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

int ab_http_start(const struct ab_http_opts *o, struct ab_http_server **out, struct ab_error *err)
{
    struct ab_http_server *s;
    struct sockaddr_storage sa;
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    bool v6 = false;
    int rc;

    *out = NULL;
    if ((rc = resolve(o->listen, &sa, &v6, err)))
        return rc;
    s = calloc(1, sizeof(*s));
    if (!s)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    s->opts = *o;
    s->counts = calloc((o->nroutes + 1) * NSTATUS, sizeof(*s->counts));
    if (!s->counts) {
        free(s);
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    }
    if (v6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(o->threads > 0 ? o->threads : 1),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)o->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, s, MHD_OPTION_END);
    if (!s->daemon) {
        free(s->counts);
        free(s);
        return ab_error_set(err, AB_EIO, "cannot listen on %s (in use, or not an address here)",
                            o->listen);
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    *out = s;
    return 0;
}

int ab_http_port(const struct ab_http_server *s)
{
    return s->port;
}

void ab_http_stop(struct ab_http_server *s, int grace_ms)
{
    double until = ab_now_ms() + grace_ms;
    MHD_socket fd;

    if (!s)
        return;
    fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    while (atomic_load(&s->in_flight) > 0 && ab_now_ms() < until)
        usleep(10 * 1000);
    MHD_stop_daemon(s->daemon);
    free(s->counts);
    free(s);
}

/* ======================================================================================
 * Metrics
 * ====================================================================================== */

int ab_http_metrics(struct ab_http_server *s, struct ab_buf *out)
{
    unsigned long cumulative = 0;
    int rc;

    rc = ab_buf_puts(out, "# HELP agentbase_http_requests_total HTTP requests by route and "
                          "status.\n# TYPE agentbase_http_requests_total counter\n");
    for (size_t r = 0; !rc && r <= s->opts.nroutes; r++) {
        const char *method = r ? s->opts.routes[r - 1].method : "";
        const char *route = r ? s->opts.routes[r - 1].pattern : "unmatched";

        for (size_t i = 0; !rc && i < NSTATUS; i++) {
            unsigned long n = atomic_load(&s->counts[r * NSTATUS + i]);
            char status[8];

            if (!n)
                continue;
            if (counted_status[i])
                snprintf(status, sizeof(status), "%d", counted_status[i]);
            else
                snprintf(status, sizeof(status), "other");
            rc = ab_buf_printf(out,
                               "agentbase_http_requests_total{method=\"%s\",route=\"%s\","
                               "status=\"%s\"} %lu\n",
                               method, route, status, n);
        }
    }
    if (!rc)
        rc = ab_buf_puts(out, "# HELP agentbase_http_request_duration_seconds Request latency.\n"
                              "# TYPE agentbase_http_request_duration_seconds histogram\n");
    for (size_t i = 0; !rc && i < NBUCKETS; i++) {
        cumulative += atomic_load(&s->buckets[i]);
        if (i + 1 < NBUCKETS)
            rc = ab_buf_printf(out,
                               "agentbase_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n",
                               bucket_le[i], cumulative);
        else
            rc = ab_buf_printf(out,
                               "agentbase_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n",
                               cumulative);
    }
    if (!rc)
        rc = ab_buf_printf(out,
                           "agentbase_http_request_duration_seconds_sum %.6f\n"
                           "agentbase_http_request_duration_seconds_count %lu\n"
                           "# HELP agentbase_http_requests_in_flight Requests being served.\n"
                           "# TYPE agentbase_http_requests_in_flight gauge\n"
                           "agentbase_http_requests_in_flight %d\n",
                           (double)atomic_load(&s->latency_us_sum) / 1e6,
                           atomic_load(&s->latency_count), atomic_load(&s->in_flight));
    return rc;
}
