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

struct ab_app {
    const struct ab_config *cfg;
    struct ab_pg_pool *pool;
    struct ab_http_server *http;
    int schema_head; /* the newest migration this binary knows */
};

extern const struct ab_http_route ab_api_routes[];
extern const size_t ab_api_nroutes;

/*
 * Serves until SIGTERM or SIGINT, then finishes the requests in flight (up to 30 s) and
 * returns. Prints the address it listens on once it is ready.
 */
int ab_api_serve(const struct ab_config *cfg, const char *conninfo,
                 struct ab_error *err) AB_MUSTCHECK;

#endif
