/*
 * usage_load: drives reserve -> settle cycles against a running agentbase over loopback.
 *
 * Each client is one keep-alive HTTP/1.1 connection that loops: POST a reservation for a
 * user taken in turn from the users file, then POST its settle. All clients run on one
 * thread with epoll and plain sockets, so that the load generator costs the machine as
 * little as possible (it shares the cores with the server and PostgreSQL). Latencies go
 * into a histogram of 10 us buckets; the first second is a warm-up and is not counted.
 *
 * With --rate R, the clients start R cycles a second between them (an open loop, as wrk2
 * does): a free client waits for the next slot of the schedule, and a cycle's latency
 * counts from its slot, so a server that falls behind shows it in the latency instead of
 * silently receiving less load. Without it, every client starts its next cycle at once.
 *
 * Prints one line of key=value pairs for bench/run:
 *   cycles= rate= errors= req_p50= req_p99= cycle_p50= cycle_p99=   (times in ms)
 *
 * This is a benchmark tool, not part of the service: it exits on the first setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKET_US  10
#define BUCKETS    200000 /* 2 s; slower requests land in the last bucket */
#define IN_MAX     65536
#define OUT_MAX    4096
#define WARMUP_SEC 1.0

enum phase { RESERVE, SETTLE };

struct client {
    int fd;
    enum phase phase;
    char out[OUT_MAX];
    size_t out_len, out_sent;
    char in[IN_MAX];
    size_t in_len;
    double sent_at, cycle_at;
    double wake_at; /* --rate: waiting to start a cycle at this time (0: not waiting) */
    char reservation[40];
    unsigned long n;
};

struct histogram {
    unsigned long count[BUCKETS];
    unsigned long total;
};

static struct {
    struct sockaddr_in addr;
    const char *key;
    const char *provider, *model;
    char **users;
    size_t nusers;
    unsigned long next_user;
    double start, warm, stop;
    double rate, next_slot; /* --rate: cycles per second, and the next cycle's start */
    unsigned long cycles, errors;
    struct histogram req, cycle;
} g;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "usage_load: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void record(struct histogram *h, double seconds)
{
    long b = (long)(seconds * 1e6 / BUCKET_US);

    h->count[b < 0 ? 0 : b >= BUCKETS ? BUCKETS - 1 : b]++;
    h->total++;
}

/* The latency (ms) below which a share q of the recorded requests fell. */
static double percentile(const struct histogram *h, double q)
{
    unsigned long want = (unsigned long)(q * (double)h->total), seen = 0;

    for (long b = 0; b < BUCKETS; b++) {
        seen += h->count[b];
        if (seen > want)
            return (double)(b + 1) * BUCKET_US / 1000.0;
    }
    return 0;
}

static void load_users(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[128];
    size_t cap = 0;

    if (!f)
        die(path);
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (g.nusers == cap) {
            cap = cap ? cap * 2 : 1024;
            if (!(g.users = realloc(g.users, cap * sizeof(*g.users))))
                die("realloc");
        }
        if (!(g.users[g.nusers++] = strdup(line)))
            die("strdup");
    }
    fclose(f);
    if (!g.nusers) {
        fprintf(stderr, "usage_load: %s names no user\n", path);
        exit(1);
    }
}

static void set_request(struct client *c, const char *path, const char *body)
{
    int n = snprintf(c->out, sizeof(c->out),
                     "POST %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     path, g.key, strlen(body), body);

    if (n < 0 || (size_t)n >= sizeof(c->out)) {
        fprintf(stderr, "usage_load: request too long\n");
        exit(1);
    }
    c->out_len = (size_t)n;
    c->out_sent = 0;
    c->in_len = 0;
    c->sent_at = now();
}

static void send_reserve(struct client *c, double slot)
{
    char body[512];

    snprintf(body, sizeof(body),
             "{\"user_id\": \"%s\", \"provider\": \"%s\", \"model\": \"%s\", "
             "\"estimated_input_tokens\": 1000, \"max_output_tokens\": 500}",
             g.users[g.next_user++ % g.nusers], g.provider, g.model);
    c->phase = RESERVE;
    c->wake_at = 0;
    set_request(c, "/v1/usage/reservations", body);
    c->cycle_at = slot ? slot : c->sent_at;
}

/* The next cycle: now, or (--rate) at the next slot of the schedule. */
static void start_reserve(struct client *c)
{
    double t = now();

    if (!g.rate) {
        send_reserve(c, 0);
        return;
    }
    c->wake_at = g.next_slot;
    g.next_slot += 1.0 / g.rate;
    if (c->wake_at <= t)
        send_reserve(c, c->wake_at);
}

static void start_settle(struct client *c)
{
    char path[128], body[256];

    snprintf(path, sizeof(path), "/v1/usage/reservations/%s/settle", c->reservation);
    snprintf(body, sizeof(body),
             "{\"input_tokens\": %lu, \"output_tokens\": %lu, \"latency_ms\": 850, "
             "\"time_to_first_token_ms\": 120}",
             900 + c->n % 200, 100 + c->n % 400);
    c->phase = SETTLE;
    set_request(c, path, body);
}

static int connect_client(struct client *c, int ep)
{
    /* Edge-triggered: every read and write below goes on until EAGAIN. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        die("socket");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&g.addr, sizeof(g.addr)) != 0 && errno != EINPROGRESS)
        die("connect");
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl");
    return 0;
}

/* The connection broke: count an error and start over on a new one. */
static void reconnect(struct client *c, int ep)
{
    g.errors++;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    connect_client(c, ep);
    start_reserve(c);
}

/* A whole response is in c->in: how long it is (0: not yet), and its status. */
static size_t response_length(const struct client *c, int *status)
{
    const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    size_t head, body = 0;

    if (!end)
        return 0;
    head = (size_t)(end - c->in) + 4;
    *status = atoi(c->in + 9);
    for (const char *p = c->in; p < end; p = memchr(p, '\n', (size_t)(end - p)) + 1) {
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            body = strtoul(p + 15, NULL, 10);
        if (!memchr(p, '\n', (size_t)(end - p)))
            break;
    }
    return c->in_len >= head + body ? head + body : 0;
}

static void on_response(struct client *c, int status, const char *body, size_t len)
{
    double t = now();
    bool counted = c->sent_at >= g.warm && t < g.stop;

    if (counted)
        record(&g.req, t - c->sent_at);
    if (c->phase == RESERVE) {
        const char *id = status == 201 ? memmem(body, len, "\"id\": \"", 7) : NULL;

        if (!id || (size_t)(id - body) + 7 + 36 > len) {
            if (counted)
                g.errors++;
            start_reserve(c);
            return;
        }
        memcpy(c->reservation, id + 7, 36);
        c->reservation[36] = '\0';
        start_settle(c);
        return;
    }
    if (counted && status == 200) {
        g.cycles++;
        record(&g.cycle, t - c->cycle_at);
    } else if (counted) {
        g.errors++;
    }
    c->n++;
    start_reserve(c);
}

static void on_event(struct client *c, uint32_t events, int ep)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        reconnect(c, ep);
        return;
    }
    while ((events & EPOLLOUT) && c->out_sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);

        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            reconnect(c, ep);
            return;
        }
        c->out_sent += (size_t)n;
    }
    for (;;) {
        ssize_t n;
        size_t whole;
        int status = 0;

        if (c->in_len == sizeof(c->in)) {
            reconnect(c, ep); /* a response larger than any this tool expects */
            return;
        }
        n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            reconnect(c, ep);
            return;
        }
        c->in_len += (size_t)n;
        whole = response_length(c, &status);
        if (whole) {
            const char *body = memmem(c->in, c->in_len, "\r\n\r\n", 4) + 4;

            on_response(c, status, body, whole - (size_t)(body - c->in));
            /* The next request is ready: try to send it now. */
            on_event(c, EPOLLOUT, ep);
            return;
        }
    }
}

int main(int argc, char **argv)
{
    const char *users = NULL;
    int clients = 64, port = 0, ep;
    bool bad = argc % 2 == 0;
    double seconds = 10;
    struct client *cs;
    struct epoll_event evs[256];

    g.provider = "openai";
    g.model = "gpt-4o-mini";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--key") == 0)
            g.key = argv[i + 1];
        else if (strcmp(argv[i], "--users") == 0)
            users = argv[i + 1];
        else if (strcmp(argv[i], "--clients") == 0)
            clients = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--provider") == 0)
            g.provider = argv[i + 1];
        else if (strcmp(argv[i], "--model") == 0)
            g.model = argv[i + 1];
        else if (strcmp(argv[i], "--rate") == 0)
            g.rate = atof(argv[i + 1]);
        else
            bad = true;
    }
    if (bad || !port || !g.key || !users || clients < 1 || seconds <= 0) {
        fprintf(stderr, "usage: usage_load --port N --key KEY --users FILE [--clients N] "
                        "[--seconds S] [--rate CYCLES_PER_S] [--provider P] [--model M]\n");
        return 2;
    }
    load_users(users);
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((uint16_t)port);
    g.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((ep = epoll_create1(0)) < 0 || !(cs = calloc((size_t)clients, sizeof(*cs))))
        die("setup");
    g.start = now();
    g.warm = g.start + WARMUP_SEC;
    g.stop = g.warm + seconds;
    g.next_slot = g.start;
    for (int i = 0; i < clients; i++) {
        connect_client(&cs[i], ep);
        start_reserve(&cs[i]);
    }
    while (now() < g.stop) {
        double t = now(), first = g.stop;
        int n;

        /* Clients whose slot has come start their cycle; the earliest other one bounds
         * the wait. */
        for (int i = 0; i < clients; i++) {
            if (cs[i].wake_at && cs[i].wake_at <= t) {
                send_reserve(&cs[i], cs[i].wake_at);
                on_event(&cs[i], EPOLLOUT, ep);
            }
            if (cs[i].wake_at && cs[i].wake_at < first)
                first = cs[i].wake_at;
        }
        n = epoll_wait(ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), (int)((first - t) * 1000) + 1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events, ep);
    }
    printf("cycles=%lu rate=%.1f errors=%lu req_p50=%.2f req_p99=%.2f cycle_p50=%.2f "
           "cycle_p99=%.2f\n",
           g.cycles, (double)g.cycles / seconds, g.errors, percentile(&g.req, 0.50),
           percentile(&g.req, 0.99), percentile(&g.cycle, 0.50), percentile(&g.cycle, 0.99));
    return 0;
}
