/*
 * The HTTP server on libmicrohttpd.
 *
 * on_uri() creates the struct ab_req as soon as the request line is in (and notes a %00 in
 * the raw path or query). libmicrohttpd then calls on_request() several times per request:
 * once when the headers are in (we refuse a Content-Length over max_body at once), once per
 * chunk of body (we keep at most max_body bytes and answer 413 as soon as there is more),
 * and once more when the body is complete: we route, and either answer an inline route
 * right there, or suspend the connection and queue the request to the request workers
 * (worker_main), which run the handler and resume the connection; libmicrohttpd then calls
 * on_request() once more and we queue the response. on_completed() runs after the response
 * went out: it writes the log line, counts the request in the metrics and frees the
 * record. So a request's memory has exactly one owner and one place where it is released,
 * and libmicrohttpd's threads never wait for a handler.
 *
 * req->deferred says who has the request: 0 the server thread, 1 someone else (a worker, a
 * batcher: the connection is suspended), 2 answered and resumed, to be sent.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
    bool quiesced;
    /* the request workers and their queue (guarded by lock) */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct ab_req *head, *tail;
    bool stopping; /* workers answer what is still queued with 503, then exit */
    pthread_t *workers;
    int nworkers;
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

void ab_http_client_ip(struct ab_req *req, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    out[0] = '\0';
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
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

/* Sets req->route to the route that serves the request; else answers 404 / 405. */
static void route(struct ab_http_server *s, struct ab_req *req)
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
        return;
    }
    if (path_known)
        ab_http_error(req, 405, "method_not_allowed", "%s is not allowed on %s", req->method,
                      req->path);
    else
        ab_http_error(req, 404, "not_found", "no such endpoint: %s", req->path);
}

static void run_handler(struct ab_http_server *s, struct ab_req *req, ab_http_handler fn)
{
    if (fn(s->opts.app, req) != 0 && req->status < 500)
        ab_http_error(req, 500, "internal", "internal error");
}

/*
 * ---- NUL bytes ------------------------------------------------------------------------
 *
 * libmicrohttpd hands out C strings, so `Authorization: Bearer <key>\0junk` reads as the
 * key alone. It reports a value's size as its strlen (0.9.75), so the sizes do not show
 * the NUL; what does is the header block itself, which it parses in place: each line's
 * CR LF becomes two NULs and the key and value stay where they arrived. So between the end
 * of one value and the start of the next key there are at most two bytes, both NUL, and
 * after the last value at most four (its CR LF, then the empty line's) up to the end of
 * the block; anything more is what a NUL hid. Where the pointers do not lie in that order
 * (another libmicrohttpd), only the sizes are compared.
 */
struct nul_scan {
    const char *block, *block_end; /* the request's header block */
    const char *prev_end;          /* the end of the previous value, NULL before the first */
    bool in_order;
    bool found;
};

/* True when [from, to) holds more than max bytes or any byte but NUL. */
static bool hides_bytes(const char *from, const char *to, size_t max)
{
    if ((size_t)(to - from) > max)
        return true;
    for (; from < to; from++)
        if (*from)
            return true;
    return false;
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    struct nul_scan *sc = cls;

    (void)kind;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        sc->found = true;
        return MHD_NO;
    }
    if (!value || key < sc->block || value + value_size > sc->block_end ||
        (sc->prev_end && key < sc->prev_end)) {
        sc->in_order = false;
        return MHD_YES;
    }
    if (sc->prev_end && sc->in_order && hides_bytes(sc->prev_end, key, 2)) {
        sc->found = true;
        return MHD_NO;
    }
    sc->prev_end = value + value_size;
    return MHD_YES;
}

/* True when a request header holds a NUL byte (see above); method starts the block. */
static bool header_has_nul(struct MHD_Connection *conn, const char *method)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    struct nul_scan sc = {.block = method, .in_order = ci != NULL};

    sc.block_end = ci ? method + ci->header_size : method;
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, scan_header, &sc);
    if (!sc.found && sc.in_order && sc.prev_end)
        sc.found = hides_bytes(sc.prev_end, sc.block_end, 4);
    return sc.found;
}

/* ---- the request workers ------------------------------------------------------------- */

/* Queues a request whose connection is suspended for fn to run on a worker. */
static void enqueue(struct ab_http_server *s, struct ab_req *req, ab_http_handler fn)
{
    req->next_handler = fn;
    req->next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->next = req;
    else
        s->head = req;
    s->tail = req;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

/* The answer of a parked request is ready: hand it back to libmicrohttpd to send. */
static void resume(struct ab_req *req)
{
    /* MHD_resume_connection takes the daemon's lock, which orders this write before the
     * handler call that reads it. */
    atomic_store(&req->deferred, 2);
    MHD_resume_connection(req->conn);
}

/* Runs fn for a parked request; afterwards the request belongs to whoever it deferred to. */
static void work(struct ab_http_server *s, struct ab_req *req, ab_http_handler fn, bool stopping)
{
    void (*start)(struct ab_req *, void *);

    if (req->next_fn) { /* a continuation finishes what was started, stopping or not */
        void (*next)(struct ab_req *, void *) = req->next_fn;

        req->next_fn = NULL;
        next(req, req->next_arg);
    } else if (stopping) {
        snprintf(req->retry_after, sizeof(req->retry_after), "1");
        ab_http_error(req, 503, "shutting_down", "the server is shutting down; retry");
    } else {
        run_handler(s, req, fn);
    }
    start = req->defer_start;
    if (!start) {
        resume(req);
        return;
    }
    /* Still parked: start may complete it at once, on any thread; req is not ours after. */
    req->defer_start = NULL;
    start(req, req->defer_arg);
}

static void *worker_main(void *arg)
{
    struct ab_http_server *s = arg;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        struct ab_req *req = s->head;
        bool stopping = s->stopping;

        if (!req) {
            if (stopping)
                break;
            pthread_cond_wait(&s->wake, &s->lock);
            continue;
        }
        s->head = req->next;
        if (!s->head)
            s->tail = NULL;
        pthread_mutex_unlock(&s->lock);
        work(s, req, req->next_handler, stopping);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
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

/*
 * The request record, made as soon as the request line is in: the raw URI is the only
 * place where a %00 in the path is still visible (the path handed to on_request is decoded).
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct ab_http_server *s = cls;
    struct ab_req *req = calloc(1, sizeof(*req));

    (void)conn;
    if (!req)
        return NULL;
    req->server = s;
    req->route = -1;
    req->status = 200;
    req->started_ms = ab_now_ms();
    req->has_nul = strstr(uri, "%00") != NULL;
    ab_buf_init(&req->body, s->opts.max_body);
    ab_buf_init(&req->out, 64u << 20);
    atomic_fetch_add(&s->in_flight, 1);
    return req;
}

/* The headers are in: 0 to go on, or 1 with the request answered already (400, 413). */
static int on_headers(struct ab_http_server *s, struct MHD_Connection *conn, struct ab_req *req,
                      const char *url, const char *method)
{
    const char *length;
    unsigned long long n;
    char *end;

    req->conn = conn;
    req->method = method;
    req->path = url;
    set_request_id(req);
    /* A request has arrived: from now on the connection may idle as long as keep-alive. */
    if (s->opts.idle_timeout_s > 0)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned int)s->opts.idle_timeout_s);
    if (header_has_nul(conn, method)) {
        ab_http_error(req, 400, "invalid_request", "a request header holds a NUL byte");
        return 1;
    }
    if (req->has_nul) {
        ab_http_error(req, 400, "invalid_request", "the path or query string holds a NUL byte");
        return 1;
    }
    length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length) {
        errno = 0;
        n = strtoull(length, &end, 10);
        if (errno == ERANGE || (*end == '\0' && end != length && n > s->opts.max_body)) {
            ab_http_error(req, 413, "payload_too_large", "the request body exceeds %zu bytes",
                          s->opts.max_body);
            return 1;
        }
    }
    return 0;
}

static bool is_inline(const struct ab_http_server *s, ab_http_handler fn)
{
    for (size_t i = 0; i < s->opts.ninline; i++)
        if (s->opts.inline_handlers[i] == fn)
            return true;
    return false;
}

/*
 * A chunked body passed max_body. libmicrohttpd (0.9.75) takes no response while it is
 * reading a body, so we write the 413 to the socket ourselves, stop our side, and have it
 * close the connection: the rest of the body is never read.
 */
static enum MHD_Result refuse_mid_body(struct ab_http_server *s, struct ab_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct ab_buf msg;

    ab_http_error(req, 413, "payload_too_large", "the request body exceeds %zu bytes",
                  s->opts.max_body);
    ab_buf_init(&msg, 4096);
    if (ci && ab_buf_printf(&msg,
                            "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nX-Request-Id: %s\r\n"
                            "Content-Length: %zu\r\n\r\n%s",
                            req->request_id, req->out.len, ab_buf_str(&req->out)) == 0) {
        /* A few hundred bytes into an empty send buffer: one call takes them. */
        if (send(ci->connect_fd, msg.data, msg.len, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
            shutdown(ci->connect_fd, SHUT_WR);
    }
    ab_buf_free(&msg);
    return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct ab_http_server *s = cls;
    struct ab_req *req = *con_cls;
    const struct ab_http_route *r;

    (void)version;
    if (!req)
        return MHD_NO; /* on_uri ran out of memory */
    if (!req->conn)
        return on_headers(s, conn, req, url, method) ? send_response(req) : MHD_YES;
    if (atomic_load(&req->deferred) == 2)
        return send_response(req); /* resumed: the answer is ready */
    if (atomic_load(&req->deferred) == 1)
        return MHD_YES;
    if (*upload_data_size > 0) {
        /* More body than allowed: answer now; libmicrohttpd closes without reading on. */
        if (ab_buf_append(&req->body, upload_data, *upload_data_size) != 0) {
            *upload_data_size = 0;
            return refuse_mid_body(s, req);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    route(s, req);
    r = req->route >= 0 ? &s->opts.routes[req->route] : NULL;
    if (r && !is_inline(s, r->handler)) {
        atomic_store(&req->deferred, 1);
        MHD_suspend_connection(conn);
        enqueue(s, req, r->handler);
        return MHD_YES;
    }
    if (r)
        run_handler(s, req, r->handler);
    assert(!req->defer_start); /* inline handlers answer at once */
    return send_response(req);
}

void ab_http_defer(struct ab_req *req, void (*start)(struct ab_req *req, void *arg), void *arg)
{
    req->defer_start = start;
    req->defer_arg = arg;
}

void ab_http_resume(struct ab_req *req)
{
    resume(req);
}

void ab_http_continue(struct ab_req *req, void (*next)(struct ab_req *req, void *arg), void *arg)
{
    req->next_fn = next;
    req->next_arg = arg;
    enqueue(req->server, req, NULL);
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
    if (req->conn) { /* else its headers never came: nothing to log */
        count(s, req, ms);
        log_request(s, req, ms);
    }
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

/* Stops the request workers: each finishes its handler, what is still queued gets 503. */
static void stop_workers(struct ab_http_server *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    s->nworkers = 0;
}

static void server_free(struct ab_http_server *s)
{
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s->workers);
    free(s->counts);
    free(s);
}

int ab_http_start(const struct ab_http_opts *o, struct ab_http_server **out, struct ab_error *err)
{
    struct ab_http_server *s;
    struct sockaddr_storage sa;
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    int nworkers = o->threads > 0 ? o->threads : 1;
    /* Socket threads never block: two keep up with far more workers than a machine has. */
    unsigned int io_threads = nworkers > 1 ? 2 : 1;
    bool v6 = false;
    int rc;

    *out = NULL;
    if ((rc = resolve(o->listen, &sa, &v6, err)))
        return rc;
    s = calloc(1, sizeof(*s));
    if (!s)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    s->opts = *o;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    s->counts = calloc((o->nroutes + 1) * NSTATUS, sizeof(*s->counts));
    s->workers = calloc((size_t)nworkers, sizeof(*s->workers));
    if (!s->counts || !s->workers) {
        server_free(s);
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    }
    for (; s->nworkers < nworkers; s->nworkers++)
        if (pthread_create(&s->workers[s->nworkers], NULL, worker_main, s) != 0) {
            stop_workers(s);
            server_free(s);
            return ab_error_set(err, AB_ENOMEM, "cannot start a request worker thread");
        }
    if (v6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, io_threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)(o->header_timeout_s > 0 ? o->header_timeout_s : o->idle_timeout_s),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(o->max_conns > 0 ? o->max_conns : 1024),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)(o->max_conns_per_ip),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
    if (!s->daemon) {
        stop_workers(s);
        server_free(s);
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

void ab_http_quiesce(struct ab_http_server *s)
{
    MHD_socket fd;

    if (!s || s->quiesced)
        return;
    s->quiesced = true;
    fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

int ab_http_wait(struct ab_http_server *s, int wait_ms)
{
    double until = ab_now_ms() + wait_ms;

    while (atomic_load(&s->in_flight) > 0 && ab_now_ms() < until)
        usleep(10 * 1000);
    return atomic_load(&s->in_flight);
}

void ab_http_stop(struct ab_http_server *s, int grace_ms)
{
    if (!s)
        return;
    ab_http_quiesce(s);
    stop_workers(s);
    ab_http_wait(s, grace_ms);
    MHD_stop_daemon(s->daemon);
    server_free(s);
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
