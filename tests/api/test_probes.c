/*
 * Adversarial requests over a raw socket (libcurl would not send them): bodies over the
 * limit refused before they are read, and NUL bytes in a header, the path or the query.
 */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

static PGconn *db;
static char key[64];

static int connect_server(void)
{
    const char *url = getenv("AGENTBASE_URL"), *colon;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 10};
    int fd;

    assert_non_null(url);
    colon = strrchr(url, ':');
    assert_non_null(colon);
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends the n bytes of p; false if the peer closed the connection first (a server that
 * refuses a body answers and closes while the client may still be sending it). */
static bool send_until_closed(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            return false;
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void send_all(int fd, const char *p, size_t n)
{
    assert_true(send_until_closed(fd, p, n));
}

/* Reads until the peer closes (or 10 s pass) into out; returns the status code, or 0. */
static int read_answer(int fd, char *out, size_t n)
{
    size_t len = 0;
    ssize_t r;
    int status = 0;

    while (len + 1 < n && (r = recv(fd, out + len, n - 1 - len, 0)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    sscanf(out, "HTTP/1.1 %d", &status);
    return status;
}

/* Sends the n bytes of req on a new connection and returns the answer's status. */
static int exchange(const char *req, size_t n, char *out, size_t outlen)
{
    int fd = connect_server(), status;

    send_all(fd, req, n);
    status = read_answer(fd, out, outlen);
    close(fd);
    return status;
}

static void test_a_content_length_over_the_limit_is_413_before_the_body(void **state)
{
    char req[256], out[4096];
    int fd, n;

    (void)state;
    /* 100 MB announced, 10 bytes sent, the rest never: the answer comes anyway. */
    n = snprintf(req, sizeof(req),
                 "POST /v1/agents HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                 "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{\"name\":1",
                 key);
    fd = connect_server();
    send_all(fd, req, (size_t)n);
    assert_int_equal(read_answer(fd, out, sizeof(out)), 413);
    assert_non_null(strstr(out, "\"code\":\"payload_too_large\""));
    assert_non_null(strstr(out, "Connection: close"));
    close(fd);
}

static void test_a_chunked_body_over_the_limit_is_413_once_it_passes(void **state)
{
    size_t chunk = 256u << 10, n;
    char head[256], size_line[32], out[4096];
    char *data = malloc(chunk);
    int fd;

    (void)state;
    assert_non_null(data);
    memset(data, 'a', chunk);
    n = (size_t)snprintf(head, sizeof(head),
                         "POST /v1/agents HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n",
                         key);
    fd = connect_server();
    send_all(fd, head, n);
    snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk);
    /* Five chunks of 256 KiB (1.25 MiB, past the 1 MiB limit), no last chunk: the body
     * never ends, and the answer comes anyway. */
    for (int i = 0; i < 5; i++)
        if (!send_until_closed(fd, size_line, strlen(size_line)) ||
            !send_until_closed(fd, data, chunk) || !send_until_closed(fd, "\r\n", 2))
            break;
    assert_int_equal(read_answer(fd, out, sizeof(out)), 413);
    assert_non_null(strstr(out, "\"code\":\"payload_too_large\""));
    close(fd);
    free(data);
}

static void test_a_nul_in_a_header_is_400(void **state)
{
    char req[512], out[4096];
    int n;

    (void)state;
    /* The key is valid: without the check, the NUL would cut the junk off and it would pass. */
    n = snprintf(req, sizeof(req),
                 "GET /v1/agents HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Authorization: Bearer %s%cjunk\r\n\r\n",
                 key, '\0');
    assert_int_equal(exchange(req, (size_t)n, out, sizeof(out)), 400);
    assert_non_null(strstr(out, "\"code\":\"invalid_request\""));
    assert_non_null(strstr(out, "\"message\":\"a request header holds a NUL byte\""));
    /* A NUL at the very end of a value, and in the last header of the block. */
    n = snprintf(req, sizeof(req),
                 "GET /v1/agents HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Authorization: Bearer %s%c\r\n\r\n",
                 key, '\0');
    assert_int_equal(exchange(req, (size_t)n, out, sizeof(out)), 400);
    /* The same request without the NUL is served. */
    n = snprintf(req, sizeof(req),
                 "GET /v1/agents HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Authorization: Bearer %s\r\n\r\n",
                 key);
    assert_int_equal(exchange(req, (size_t)n, out, sizeof(out)), 200);
}

static void test_a_nul_in_the_path_or_the_query_is_400(void **state)
{
    const char *targets[] = {"/v1/agents%00junk", "/v1/agents?model_name=a%00b", "/healthz%00"};
    char req[512], out[4096];
    int n;

    (void)state;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Authorization: Bearer %s\r\n\r\n",
                     targets[i], key);
        assert_int_equal(exchange(req, (size_t)n, out, sizeof(out)), 400);
        assert_non_null(strstr(out, "\"message\":\"the path or query string holds a NUL byte\""));
    }
    n = snprintf(req, sizeof(req),
                 "GET /v1/agents?model_name=a%%20b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Authorization: Bearer %s\r\n\r\n",
                 key);
    assert_int_equal(exchange(req, (size_t)n, out, sizeof(out)), 200);
}

static int setup(void **state)
{
    char tenant[40];

    (void)state;
    db = PQconnectdb(getenv("DATABASE_URL"));
    if (PQstatus(db) != CONNECTION_OK)
        return -1;
    api_sql(db,
            "INSERT INTO agentbase.tenants (slug, name) VALUES ('probes-' || gen_random_uuid(), "
            "'Probes') RETURNING id",
            0, NULL, tenant, sizeof(tenant));
    api_make_key(db, tenant, "agents:write", "probes", key);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_content_length_over_the_limit_is_413_before_the_body),
        cmocka_unit_test(test_a_chunked_body_over_the_limit_is_413_once_it_passes),
        cmocka_unit_test(test_a_nul_in_a_header_is_400),
        cmocka_unit_test(test_a_nul_in_the_path_or_the_query_is_400),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
