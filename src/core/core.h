/*
 * core: the error convention, bounded buffers, configuration and small helpers that every
 * module shares.
 *
 * Errors: a fallible function returns 0 or a negative AB_E* code and fills the struct
 * ab_error its caller passed (message, and where known detail, hint, SQLSTATE).
 * Buffers: a struct ab_buf owns its bytes, grows up to the maximum given at init and never
 * beyond (AB_ETOOBIG), and is always NUL-terminated. ab_buf_free releases it.
 * Threads: nothing here keeps global state; every function is reentrant.
 */
#ifndef AB_CORE_H
#define AB_CORE_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define AB_MUSTCHECK         __attribute__((warn_unused_result))
#define AB_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define AB_ARRAY_LEN(a)      (sizeof(a) / sizeof((a)[0]))
/* A number macro's value as a string literal: AB_STR(12) is "12". */
#define AB_STR_(x) #x
#define AB_STR(x)  AB_STR_(x)

enum ab_code {
    AB_OK = 0,
    AB_EINVAL = -1,    /* bad input: arguments, files, configuration */
    AB_ENOMEM = -2,    /* allocation failed */
    AB_EIO = -3,       /* file system or process failure */
    AB_EDB = -4,       /* PostgreSQL reported an error */
    AB_ENOTFOUND = -5, /* something named does not exist */
    AB_ECONFLICT = -6, /* the state forbids the operation (drift, out of order, running) */
    AB_ETIMEOUT = -7,  /* gave up waiting */
    AB_ETOOBIG = -8,   /* a bounded buffer or input exceeded its maximum */
};

struct ab_error {
    int code;
    char sqlstate[6];  /* PostgreSQL's code when code == AB_EDB, else "" */
    char message[512]; /* short, lower case, no trailing period */
    char detail[1024];
    char hint[512];
};

/* Clears err to "no error". */
void ab_error_clear(struct ab_error *err);
/* Sets code and message (detail and hint are cleared); returns code for `return ab_error_set()`. */
int ab_error_set(struct ab_error *err, int code, const char *fmt, ...) AB_PRINTF(3, 4);
void ab_error_detail(struct ab_error *err, const char *fmt, ...) AB_PRINTF(2, 3);
void ab_error_hint(struct ab_error *err, const char *fmt, ...) AB_PRINTF(2, 3);
/* Prefixes the message with context ("starting cluster: <message>"). */
void ab_error_prefix(struct ab_error *err, const char *fmt, ...) AB_PRINTF(2, 3);
/* Prints "agentbase: error: message" and the detail and hint lines to out. */
void ab_error_print(const struct ab_error *err, FILE *out);

/* ---- bounded buffers ------------------------------------------------------------------ */

struct ab_buf {
    char *data; /* NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    size_t max; /* appends that would exceed max fail with AB_ETOOBIG */
};

void ab_buf_init(struct ab_buf *b, size_t max);
int ab_buf_append(struct ab_buf *b, const void *p, size_t n) AB_MUSTCHECK;
int ab_buf_puts(struct ab_buf *b, const char *s) AB_MUSTCHECK;
int ab_buf_printf(struct ab_buf *b, const char *fmt, ...) AB_PRINTF(2, 3) AB_MUSTCHECK;
void ab_buf_reset(struct ab_buf *b);
void ab_buf_free(struct ab_buf *b);
/* Returns the string (never NULL: "" when empty). The buffer keeps ownership. */
const char *ab_buf_str(const struct ab_buf *b);

/* ---- files and processes ---------------------------------------------------------------- */

/* Reads a whole file of at most max bytes into out (which it initialises). */
int ab_file_read(const char *path, size_t max, struct ab_buf *out,
                 struct ab_error *err) AB_MUSTCHECK;
/* Writes data to path atomically (temporary file, fsync, rename) with the given mode. */
int ab_file_write(const char *path, const void *data, size_t len, mode_t mode,
                  struct ab_error *err) AB_MUSTCHECK;
/* Creates path and its missing parents with mode. */
int ab_mkdir_p(const char *path, mode_t mode, struct ab_error *err) AB_MUSTCHECK;
/* Joins a directory and a name into out; AB_ETOOBIG when it does not fit. */
int ab_path_join(char *out, size_t n, const char *dir, const char *name) AB_MUSTCHECK;
/* Milliseconds from a monotonic clock. */
double ab_now_ms(void);
/* Formats a duration of ms milliseconds for people ("850 ms", "2.4 s", "3 min 5 s"). */
void ab_format_duration(double ms, char *out, size_t n);

/* ---- hashing -------------------------------------------------------------------------- */

/* Lowercase hex SHA-256 of data into out (65 bytes with the NUL). Needs sodium_init(). */
void ab_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- files compiled into the binary (tools/embed.c writes the tables) ------------------ */

struct ab_embedded_file {
    const char *path; /* relative to the repository root, e.g. db/migrations/0001_x.up.sql */
    const unsigned char *data;
    size_t len;
};
extern const struct ab_embedded_file ab_embedded_files[];
extern const size_t ab_embedded_files_count;

/* ---- configuration ---------------------------------------------------------------------- */

/*
 * What every command reads from the environment (and main's global flags): created once at
 * start-up, read-only afterwards.
 */
struct ab_config {
    char home[PATH_MAX];     /* AGENTBASE_HOME, default ./var, made absolute */
    char database_url[2048]; /* DATABASE_URL; "" means the embedded cluster */
    char listen[256];        /* AGENTBASE_LISTEN, default 127.0.0.1:8080 */
    int workers;             /* AGENTBASE_WORKERS, default: number of CPUs */
    double rate_limit;       /* AGENTBASE_RATE_LIMIT: requests/s per key, 0 none (100) */
    /* Connections (see docs/operations.md). */
    int max_conns;        /* AGENTBASE_MAX_CONNECTIONS: in total (1000) */
    int max_conns_per_ip; /* AGENTBASE_MAX_CONNECTIONS_PER_IP: from one address (100) */
    int header_timeout_s; /* AGENTBASE_HEADER_TIMEOUT: until a request arrives, s (5) */
    int idle_timeout_s;   /* AGENTBASE_IDLE_TIMEOUT: idle keep-alive, s (60) */
    int shutdown_grace_s; /* AGENTBASE_SHUTDOWN_GRACE: for requests in flight, s (30) */
    /* /metrics: a listen address of its own, and/or a token for it on the main address. */
    char metrics_listen[256]; /* AGENTBASE_METRICS_LISTEN; "" none */
    char metrics_token[256];  /* AGENTBASE_METRICS_TOKEN; "" none */
    /* Logins: password hashing threads and queue, attempts a minute per account/address. */
    int hash_threads;       /* AGENTBASE_HASH_THREADS: default half the CPUs, at least 1 */
    int hash_queue;         /* AGENTBASE_HASH_QUEUE: hashes waiting at most (16) */
    int login_rate_account; /* AGENTBASE_LOGIN_RATE_ACCOUNT: a minute, 0 none (10) */
    int login_rate_address; /* AGENTBASE_LOGIN_RATE_ADDRESS: a minute, 0 none (30) */
    bool log_json;          /* AGENTBASE_LOG=json (default) or text */
    /* The key ring of stored secrets (see secret/secret.h); "" when unset. */
    char secret_key[2048];          /* AGENTBASE_SECRET_KEY: the ring itself */
    char secret_key_file[PATH_MAX]; /* AGENTBASE_SECRET_KEY_FILE: a file holding it */
};

/* Fills cfg from the environment; home and database_url may be overridden afterwards. */
int ab_config_load(struct ab_config *cfg, struct ab_error *err) AB_MUSTCHECK;
/* Sets cfg->home from dir, made absolute against the working directory. */
int ab_config_set_home(struct ab_config *cfg, const char *dir, struct ab_error *err) AB_MUSTCHECK;
/* True when commands use the embedded cluster (no DATABASE_URL). */
bool ab_config_embedded(const struct ab_config *cfg);

#endif
