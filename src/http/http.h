/*
 * http: the HTTP/1.1 server (libmicrohttpd, keep-alive, a fixed pool of threads), the
 * request record handlers work with, and routing by method and path pattern.
 *
 * Lifetime: the server creates a struct ab_req when a request's headers arrive and frees
 * it, with its buffers, after the response is sent and the request's log line written.
 * Everything a handler allocates for the request goes into req->out or is freed by the
 * handler before it returns.
 *
 * Threads: libmicrohttpd's own threads only read and write sockets and never block. A route
 * whose handler opts.inline_handlers lists (/healthz, /metrics: no database, no lock held
 * for long) is answered on them; every other request's connection is suspended and its handler run
 * by one of a fixed pool of request workers, which may block (on PostgreSQL), one request at a time
 * per worker. So a server whose workers all wait for the database still answers inline routes and
 * still accepts, reads and refuses requests. A handler fills req->status and req->out (JSON) and
 * returns 0; it never writes to the connection itself. ab_http_error() produces the standard error
 * body.
 *
 * Limits (ab_http_opts): connections in total and per client address, a header timeout for
 * connections that have not sent a request yet (raised to the idle timeout once one has
 * arrived), the body size (refused with 413 as soon as Content-Length, or the chunked data
 * read so far, passes it, without reading the rest), and no NUL byte in a header, the path
 * or the query string (400).
 *
 * Metrics (requests by route and status, latency histogram, in-flight count) are kept by
 * the server and rendered in Prometheus text format by ab_http_metrics().
 */
#ifndef AB_HTTP_H
#define AB_HTTP_H

#include "core/core.h"

#include <stdatomic.h>

struct MHD_Connection;
struct ab_http_server;
struct ab_req;

typedef int (*ab_http_handler_fn)(void *app, struct ab_req *req);

#define AB_HTTP_MAX_PARAMS 4

struct ab_req {
    struct MHD_Connection *conn;
    struct ab_http_server *server;
    const char *method;
    const char *path; /* without the query string; owned by the server */
    char request_id[65];
    int route;                              /* index in the route table, -1 when none matched */
    const char *params[AB_HTTP_MAX_PARAMS]; /* {name} segments of the path, in order */
    char param_buf[512];
    struct ab_buf body;
    double started_ms;
    /* the response */
    int status;
    struct ab_buf out;
    const char *content_type; /* static string; default application/json */
    /* static string or NULL: out is already encoded so (gzip); sent with Vary: Accept-Encoding */
    const char *content_encoding;
    char retry_after[16];
    bool replayed; /* adds Idempotent-Replayed: true (a stored first response) */
    /* a deferred answer (ab_http_defer): 0 none, 1 parked, 2 answered */
    atomic_int deferred;
    void (*defer_start)(struct ab_req *req, void *arg);
    void *defer_arg;
    /* kept by the API layer: the request claimed its Idempotency-Key */
    bool idempotency_claimed;
    bool secret_answer; /* the answer shows a secret once: never stored for a replay */
    /* for the log line, set by whoever authenticates the request */
    char tenant_id[40];
    char key_id[40];
    /* the server's own: a NUL seen in the raw path or query, the request workers' queue */
    bool has_nul;
    ab_http_handler_fn next_handler;
    void (*next_fn)(struct ab_req *req, void *arg);
    void *next_arg;
    struct ab_req *next;
};

typedef ab_http_handler_fn ab_http_handler;

struct ab_http_route {
    const char *method;  /* GET, POST, PATCH, DELETE */
    const char *pattern; /* "/v1/agents/{id}": {name} matches one segment */
    ab_http_handler handler;
    const void *data; /* handler's own data for this route (e.g. a resource descriptor) */
};

/* The data of the route that matched req. */
const void *ab_http_route_data(const struct ab_req *req);

struct ab_http_opts {
    char listen[256];     /* host:port; port 0 picks a free one */
    int threads;          /* request workers (handlers that may block) */
    size_t max_body;      /* bytes; larger bodies get 413 */
    size_t max_header;    /* bytes of headers per connection */
    int header_timeout_s; /* a connection that sent no request yet is closed after this */
    int idle_timeout_s;   /* an idle keep-alive connection is closed after this */
    int max_conns;        /* connections at once, in total (0: libmicrohttpd's default) */
    int max_conns_per_ip; /* connections at once from one client address (0: no limit) */
    bool log_json;        /* one JSON object per request on stderr, else text */
    const struct ab_http_route *routes;
    size_t nroutes;
    /* The handlers answered inline, on the server's own threads: they must never block. */
    const ab_http_handler *inline_handlers;
    size_t ninline;
    void *app; /* passed to every handler */
};

/* Starts serving in background threads; *out until ab_http_stop. */
int ab_http_start(const struct ab_http_opts *o, struct ab_http_server **out,
                  struct ab_error *err) AB_MUSTCHECK;
/* The port actually bound (when the listen address asked for port 0). */
int ab_http_port(const struct ab_http_server *s);
/* Stops accepting new connections; connections already open are still served. */
void ab_http_quiesce(struct ab_http_server *s);
/* Waits up to wait_ms for the requests in flight to be answered; returns how many are left. */
int ab_http_wait(struct ab_http_server *s, int wait_ms);
/*
 * Stops accepting connections, lets the request workers finish the handler each is running
 * (requests still queued for them are answered 503), waits up to grace_ms for requests in
 * flight to be answered, then stops and frees the server. Whoever holds deferred requests
 * (ab_http_defer) must have resumed them all before: a request still parked when the grace
 * ends is closed, and its record freed.
 */
void ab_http_stop(struct ab_http_server *s, int grace_ms);

/* A request header's value, or NULL. */
const char *ab_http_header(struct ab_req *req, const char *name);
/* A query parameter's value, or NULL. */
const char *ab_http_query(struct ab_req *req, const char *name);
/*
 * Calls each(ctx, name, value) for every query parameter in the order sent ("" for a name
 * without a value) until it returns nonzero, which is then returned; else 0.
 */
int ab_http_query_each(struct ab_req *req,
                       int (*each)(void *ctx, const char *name, const char *value), void *ctx);
/*
 * Sets status and the body {"error":{"type","code","message","param","request_id"}}: type
 * is the status's class (invalid_request_error, authentication_error, permission_error,
 * not_found_error, conflict_error, rate_limit_error, unavailable_error, api_error), param
 * the field or parameter at fault (null: none). Returns 0 so that a handler can
 * `return ab_http_error(...)`.
 */
int ab_http_error(struct ab_req *req, int status, const char *code, const char *fmt, ...)
    AB_PRINTF(4, 5);
int ab_http_error_at(struct ab_req *req, int status, const char *code, const char *param,
                     const char *fmt, ...) AB_PRINTF(5, 6);
/*
 * Answers later: the handler calls this and returns; the server parks the connection
 * (freeing its worker for other requests) and then calls start(req, arg) on the same
 * thread. Whoever completes the request, on any thread, fills status and out and calls
 * ab_http_resume(req) exactly once; the server then sends the response.
 */
void ab_http_defer(struct ab_req *req, void (*start)(struct ab_req *req, void *arg), void *arg);
void ab_http_resume(struct ab_req *req);
/*
 * Instead of ab_http_resume, for a deferred request whose answer needs more blocking work:
 * queues the request to the request workers, where next(req, arg) runs like a handler (it
 * answers, or defers again). Any thread, exactly once per deferral, before ab_http_stop;
 * a continuation queued then still runs while the server stops.
 */
void ab_http_continue(struct ab_req *req, void (*next)(struct ab_req *req, void *arg), void *arg);
/* The client's address as text ("" when unknown). */
void ab_http_client_ip(struct ab_req *req, char *out, size_t n);
/* Appends the server's metrics in Prometheus text format. */
int ab_http_metrics(struct ab_http_server *s, struct ab_buf *out) AB_MUSTCHECK;

#endif
