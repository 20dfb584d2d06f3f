#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ======================================================================================
 * Errors
 * ====================================================================================== */

void ab_error_clear(struct ab_error *err)
{
    memset(err, 0, sizeof(*err));
}

int ab_error_set(struct ab_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    ab_error_clear(err);
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

void ab_error_detail(struct ab_error *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
}

void ab_error_hint(struct ab_error *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
    va_end(ap);
}

void ab_error_prefix(struct ab_error *err, const char *fmt, ...)
{
    char prefix[256];
    char old[sizeof(err->message)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    snprintf(err->message, sizeof(err->message), "%s: %s", prefix, old);
}

/* Prints text with every line after the first indented, so multi-line detail reads well. */
static void print_indented(FILE *out, const char *label, const char *text)
{
    const char *p = text;

    fprintf(out, "  %s: ", label);
    for (; *p; p++) {
        fputc(*p, out);
        if (*p == '\n' && p[1])
            fputs("    ", out);
    }
    if (p > text && p[-1] != '\n')
        fputc('\n', out);
}

void ab_error_print(const struct ab_error *err, FILE *out)
{
    fprintf(out, "agentbase: error: %s", err->message[0] ? err->message : "unknown error");
    if (err->sqlstate[0])
        fprintf(out, " (SQLSTATE %s)", err->sqlstate);
    fputc('\n', out);
    if (err->detail[0])
        print_indented(out, "detail", err->detail);
    if (err->hint[0])
        print_indented(out, "hint", err->hint);
}

/* ======================================================================================
 * Bounded buffers
 * ====================================================================================== */

void ab_buf_init(struct ab_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int buf_reserve(struct ab_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > b->max || b->len > b->max - extra)
        return AB_ETOOBIG;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p)
        return AB_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ab_buf_append(struct ab_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);

    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int ab_buf_puts(struct ab_buf *b, const char *s)
{
    return ab_buf_append(b, s, strlen(s));
}

int ab_buf_printf(struct ab_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AB_EINVAL;
    rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void ab_buf_reset(struct ab_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ab_buf_free(struct ab_buf *b)
{
    free(b->data);
    ab_buf_init(b, b->max);
}

const char *ab_buf_str(const struct ab_buf *b)
{
    return b->data ? b->data : "";
}

/* ======================================================================================
 * Files
 * ====================================================================================== */

int ab_file_read(const char *path, size_t max, struct ab_buf *out, struct ab_error *err)
{
    char chunk[8192];
    FILE *f;
    size_t n;
    int rc = 0;

    ab_buf_init(out, max);
    f = fopen(path, "rb");
    if (!f)
        return ab_error_set(err, errno == ENOENT ? AB_ENOTFOUND : AB_EIO, "cannot read %s: %s",
                            path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = ab_buf_append(out, chunk, n);
        if (rc) {
            ab_error_set(err, rc, "%s is larger than %zu bytes", path, max);
            goto out;
        }
    }
    if (ferror(f))
        rc = ab_error_set(err, AB_EIO, "cannot read %s: %s", path, strerror(errno));
    else if (!out->data)
        rc = ab_buf_append(out, "", 0);
out:
    fclose(f);
    if (rc)
        ab_buf_free(out);
    return rc;
}

int ab_file_write(const char *path, const void *data, size_t len, mode_t mode, struct ab_error *err)
{
    char tmp[PATH_MAX];
    int fd = -1, rc = 0;
    const char *p = data;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return ab_error_set(err, AB_ETOOBIG, "path too long: %s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return ab_error_set(err, AB_EIO, "cannot create %s: %s", tmp, strerror(errno));
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = ab_error_set(err, AB_EIO, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        p += w;
        len -= (size_t)w;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        rc = ab_error_set(err, AB_EIO, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = ab_error_set(err, AB_EIO, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        rc = ab_error_set(err, AB_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    return rc;
}

int ab_mkdir_p(const char *path, mode_t mode, struct ab_error *err)
{
    char tmp[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(tmp))
        return ab_error_set(err, AB_EINVAL, "bad directory path '%s'", path);
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return ab_error_set(err, AB_EIO, "cannot create directory %s: %s", tmp,
                                strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return ab_error_set(err, AB_EIO, "cannot create directory %s: %s", tmp, strerror(errno));
    return 0;
}

int ab_path_join(char *out, size_t n, const char *dir, const char *name)
{
    int w = snprintf(out, n, "%s/%s", dir, name);

    return (w < 0 || (size_t)w >= n) ? AB_ETOOBIG : 0;
}

double ab_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void ab_format_duration(double ms, char *out, size_t n)
{
    if (ms < 1000.0)
        snprintf(out, n, "%.0f ms", ms);
    else if (ms < 60000.0)
        snprintf(out, n, "%.1f s", ms / 1000.0);
    else
        snprintf(out, n, "%d min %d s", (int)(ms / 60000.0), (int)(ms / 1000.0) % 60);
}

/* ======================================================================================
 * Hashing
 * ====================================================================================== */

void ab_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(digest, data, len);
    sodium_bin2hex(out, 65, digest, sizeof(digest));
}

/* ======================================================================================
 * Configuration
 * ====================================================================================== */

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    return (v && *v) ? v : fallback;
}

int ab_config_set_home(struct ab_config *cfg, const char *dir, struct ab_error *err)
{
    char cwd[PATH_MAX];
    int w;

    if (dir[0] == '/') {
        w = snprintf(cfg->home, sizeof(cfg->home), "%s", dir);
    } else {
        if (!getcwd(cwd, sizeof(cwd)))
            return ab_error_set(err, AB_EIO, "cannot read the working directory: %s",
                                strerror(errno));
        w = snprintf(cfg->home, sizeof(cfg->home), "%s/%s", cwd, dir);
    }
    if (w < 0 || (size_t)w >= sizeof(cfg->home))
        return ab_error_set(err, AB_ETOOBIG, "AGENTBASE_HOME is too long");
    /* "./var" made absolute reads better as ".../var". */
    for (char *p; (p = strstr(cfg->home, "/./"));)
        memmove(p, p + 2, strlen(p + 2) + 1);
    while (strlen(cfg->home) > 1 && cfg->home[strlen(cfg->home) - 1] == '/')
        cfg->home[strlen(cfg->home) - 1] = '\0';
    return 0;
}

/* Reads the integer variable name into *out when it is set; it must lie in [min, max]. */
static int env_int(const char *name, long min, long max, const char *what, int *out,
                   struct ab_error *err)
{
    const char *v = getenv(name);
    char *end;
    long n;

    if (!v || !*v)
        return 0;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max)
        return ab_error_set(err, AB_EINVAL, "%s must be %s from %ld to %ld, not '%s'", name, what,
                            min, max, v);
    *out = (int)n;
    return 0;
}

/* Copies the string variable name (or fallback) into out, which must hold it. */
static int env_str(const char *name, const char *fallback, char *out, size_t n,
                   struct ab_error *err)
{
    const char *v = env_or(name, fallback);

    if (strlen(v) >= n)
        return ab_error_set(err, AB_ETOOBIG, "%s is too long (%zu bytes at most)", name, n - 1);
    snprintf(out, n, "%s", v);
    return 0;
}

/* The service's connection, /metrics and login settings. */
static int load_serving(struct ab_config *cfg, long cpus, struct ab_error *err)
{
    int rc;

    cfg->max_conns = 1000;
    cfg->max_conns_per_ip = 100;
    cfg->header_timeout_s = 5;
    cfg->idle_timeout_s = 60;
    cfg->shutdown_grace_s = 30;
    cfg->hash_threads = cpus > 1 ? (int)(cpus / 2) : 1;
    cfg->hash_queue = 16;
    cfg->login_rate_account = 10;
    cfg->login_rate_address = 30;
    if ((rc = env_int("AGENTBASE_MAX_CONNECTIONS", 1, 1000000, "a number", &cfg->max_conns, err)) ||
        (rc = env_int("AGENTBASE_MAX_CONNECTIONS_PER_IP", 1, 1000000, "a number",
                      &cfg->max_conns_per_ip, err)) ||
        (rc = env_int("AGENTBASE_HEADER_TIMEOUT", 1, 3600, "seconds", &cfg->header_timeout_s,
                      err)) ||
        (rc = env_int("AGENTBASE_IDLE_TIMEOUT", 1, 86400, "seconds", &cfg->idle_timeout_s, err)) ||
        (rc = env_int("AGENTBASE_SHUTDOWN_GRACE", 0, 3600, "seconds", &cfg->shutdown_grace_s,
                      err)) ||
        (rc = env_int("AGENTBASE_HASH_THREADS", 1, 256, "a number", &cfg->hash_threads, err)) ||
        (rc = env_int("AGENTBASE_HASH_QUEUE", 1, 100000, "a number", &cfg->hash_queue, err)) ||
        (rc = env_int("AGENTBASE_LOGIN_RATE_ACCOUNT", 0, 1000000, "logins a minute (0 for none)",
                      &cfg->login_rate_account, err)) ||
        (rc = env_int("AGENTBASE_LOGIN_RATE_ADDRESS", 0, 1000000, "logins a minute (0 for none)",
                      &cfg->login_rate_address, err)) ||
        (rc = env_str("AGENTBASE_METRICS_LISTEN", "", cfg->metrics_listen,
                      sizeof(cfg->metrics_listen), err)) ||
        (rc = env_str("AGENTBASE_METRICS_TOKEN", "", cfg->metrics_token, sizeof(cfg->metrics_token),
                      err)))
        return rc;
    if (cfg->max_conns_per_ip > cfg->max_conns)
        return ab_error_set(err, AB_EINVAL,
                            "AGENTBASE_MAX_CONNECTIONS_PER_IP (%d) must not exceed "
                            "AGENTBASE_MAX_CONNECTIONS (%d)",
                            cfg->max_conns_per_ip, cfg->max_conns);
    return 0;
}

int ab_config_load(struct ab_config *cfg, struct ab_error *err)
{
    const char *v;
    long n;
    char *end;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    rc = ab_config_set_home(cfg, env_or("AGENTBASE_HOME", "./var"), err);
    if (rc)
        return rc;
    v = env_or("DATABASE_URL", "");
    if (strlen(v) >= sizeof(cfg->database_url))
        return ab_error_set(err, AB_ETOOBIG, "DATABASE_URL is too long");
    snprintf(cfg->database_url, sizeof(cfg->database_url), "%s", v);
    v = env_or("AGENTBASE_LISTEN", "127.0.0.1:8080");
    if (strlen(v) >= sizeof(cfg->listen))
        return ab_error_set(err, AB_ETOOBIG, "AGENTBASE_LISTEN is too long");
    snprintf(cfg->listen, sizeof(cfg->listen), "%s", v);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->workers = n > 0 ? (int)n : 2;
    if ((rc = env_int("AGENTBASE_WORKERS", 1, 1024, "a number", &cfg->workers, err)) ||
        (rc = load_serving(cfg, n, err)))
        return rc;
    cfg->rate_limit = 100;
    v = getenv("AGENTBASE_RATE_LIMIT");
    if (v && *v) {
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || *end || n < 0 || n > 1000000)
            return ab_error_set(err, AB_EINVAL,
                                "AGENTBASE_RATE_LIMIT must be requests per second per key (0 "
                                "for none), not '%s'",
                                v);
        cfg->rate_limit = (double)n;
    }
    v = env_or("AGENTBASE_LOG", "json");
    if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
        return ab_error_set(err, AB_EINVAL, "AGENTBASE_LOG must be json or text, not '%s'", v);
    cfg->log_json = strcmp(v, "json") == 0;
    v = env_or("AGENTBASE_SECRET_KEY", "");
    if (strlen(v) >= sizeof(cfg->secret_key))
        return ab_error_set(err, AB_ETOOBIG, "AGENTBASE_SECRET_KEY is too long (%zu bytes at most)",
                            sizeof(cfg->secret_key) - 1);
    snprintf(cfg->secret_key, sizeof(cfg->secret_key), "%s", v);
    v = env_or("AGENTBASE_SECRET_KEY_FILE", "");
    if (strlen(v) >= sizeof(cfg->secret_key_file))
        return ab_error_set(err, AB_ETOOBIG, "AGENTBASE_SECRET_KEY_FILE is too long");
    snprintf(cfg->secret_key_file, sizeof(cfg->secret_key_file), "%s", v);
    return 0;
}

bool ab_config_embedded(const struct ab_config *cfg)
{
    return cfg->database_url[0] == '\0';
}
