/*
 * Backups of the embedded cluster with pgBackRest (see backup.h).
 *
 * pgBackRest does the work: archive-push for every WAL segment, backup (full, diff, incr),
 * info, check, verify, and restore --delta with a recovery target. agentbase owns its
 * configuration, so that nobody edits it by hand and every command agrees on it: the file
 * is rewritten from the environment before each use, and pgBackRest is always run with
 * --config-path=$AGENTBASE_HOME (the file, and conf.d beside it) and --stanza=agentbase.
 * It runs as the cluster's user, who owns the repository (the server's monitor only reads
 * it, as the server's own user).
 *
 * What we add is what makes a restore safe to run: the target checked against the backups
 * before anything is touched; the WAL that the cluster has not archived yet pushed first
 * (so that --to-latest loses nothing the cluster still holds); the wait until recovery has
 * reached the target and promoted, with PostgreSQL's own message when it cannot.
 */
#include "backup/backup.h"
#include "pg/pg.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_RETAIN_FULL  5
#define DEFAULT_SCHEDULE     "full=7d,incr=1d"
#define INFO_MAX_BYTES       (8u << 20)
#define OUTPUT_MAX_BYTES     (1u << 20)
#define ARCHIVE_WAIT_S       60
#define RECOVERY_WAIT_S      3600
#define PGBACKREST_NOT_FOUND "pgBackRest is not installed"

/* ======================================================================================
 * Configuration
 * ====================================================================================== */

/* "7d", "6h", "30m", "1w" into seconds; false when s is not one. */
static bool parse_interval(const char *s, size_t len, long *out)
{
    static const struct {
        char unit;
        long seconds;
    } units[] = {{'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
    long v = 0;
    size_t i;

    for (i = 0; i + 1 < len && s[i] >= '0' && s[i] <= '9' && v < 100000; i++)
        v = v * 10 + (s[i] - '0');
    if (i == 0 || i + 1 != len || v <= 0)
        return false;
    for (size_t u = 0; u < AB_ARRAY_LEN(units); u++)
        if (s[i] == units[u].unit) {
            *out = v * units[u].seconds;
            return true;
        }
    return false;
}

/* "off", or comma-separated full=I, diff=I, incr=I (full required). */
static int parse_schedule(const char *s, struct ab_backup_schedule *out, struct ab_error *err)
{
    memset(out, 0, sizeof(*out));
    if (strcmp(s, "off") == 0)
        return 0;
    while (*s) {
        size_t len = strcspn(s, ","), name = strcspn(s, "=");
        long *slot = NULL, v;

        if (name < len && name == 4 && strncmp(s, "full", 4) == 0)
            slot = &out->full;
        else if (name < len && name == 4 && strncmp(s, "diff", 4) == 0)
            slot = &out->diff;
        else if (name < len && name == 4 && strncmp(s, "incr", 4) == 0)
            slot = &out->incr;
        if (!slot || !parse_interval(s + name + 1, len - name - 1, &v))
            goto bad;
        *slot = v;
        s += len + (s[len] == ',');
    }
    if (out->full)
        return 0;
bad:
    ab_error_set(err, AB_EINVAL, "AGENTBASE_BACKUP_SCHEDULE is not a schedule");
    ab_error_hint(err, "give \"off\", or intervals such as full=7d,incr=1d or full=1d,diff=12h,"
                       "incr=6h (units m, h, d, w; full is required)");
    return AB_EINVAL;
}

/* AGENTBASE_BACKUP_OPTIONS: name=value words into one line each; names as pgBackRest's. */
static int parse_options(struct ab_backup *b, const char *s, struct ab_error *err)
{
    struct ab_buf out;
    int rc = 0;

    ab_buf_init(&out, sizeof(b->options) - 1);
    while (*s && !rc) {
        size_t len, name;

        s += strspn(s, " \t\r\n");
        len = strcspn(s, " \t\r\n");
        if (!len)
            break;
        name = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-");
        if (name == 0 || name >= len || s[name] != '=') {
            rc = ab_error_set(err, AB_EINVAL, "AGENTBASE_BACKUP_OPTIONS: '%.*s' is not name=value",
                              (int)len, s);
            ab_error_hint(err, "pgBackRest's option names, e.g. repo1-type=s3 repo1-s3-bucket=b");
            break;
        }
        if (name == 10 && strncmp(s, "repo1-type", 10) == 0 &&
            !(len - name - 1 == 5 && strncmp(s + name + 1, "posix", 5) == 0))
            b->object_store = true;
        if (ab_buf_printf(&out, "%.*s\n", (int)len, s) != 0)
            rc = ab_error_set(err, AB_ETOOBIG, "AGENTBASE_BACKUP_OPTIONS is too long");
        s += len;
    }
    if (!rc)
        snprintf(b->options, sizeof(b->options), "%s", ab_buf_str(&out));
    ab_buf_free(&out);
    return rc;
}

static void find_program(struct ab_backup *b)
{
    const char *path = getenv("PATH");
    char dir[PATH_MAX];

    b->program[0] = '\0';
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");

        if (len > 0 && len < sizeof(dir)) {
            memcpy(dir, path, len);
            dir[len] = '\0';
            if (ab_path_join(b->program, sizeof(b->program), dir, "pgbackrest") == 0 &&
                access(b->program, X_OK) == 0)
                return;
        }
        path += len + (path[len] == ':');
    }
    b->program[0] = '\0';
}

/* DATABASE_URL unset, or naming the embedded cluster's socket directory. */
static bool url_is_embedded(const struct ab_config *cfg, const struct ab_cluster *c)
{
    PQconninfoOption *opts;
    bool same = false;

    if (ab_config_embedded(cfg))
        return true;
    opts = PQconninfoParse(cfg->database_url, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "host") == 0 && o->val)
            same = strcmp(o->val, c->run) == 0;
    PQconninfoFree(opts);
    return same;
}

/* A whole number from 1 to max in the environment variable name, or def when unset. */
static int env_number(const char *name, long def, long max, long *out, struct ab_error *err)
{
    const char *v = getenv(name);
    char *end;

    *out = def;
    if (!v || !*v)
        return 0;
    errno = 0;
    *out = strtol(v, &end, 10);
    if (errno || *end || *out < 1 || *out > max)
        return ab_error_set(err, AB_EINVAL, "%s takes a number from 1 to %ld, not '%s'", name, max,
                            v);
    return 0;
}

int ab_backup_init(struct ab_backup *b, const struct ab_config *cfg, struct ab_error *err)
{
    const char *v;
    char path[PATH_MAX];
    int rc;

    memset(b, 0, sizeof(*b));
    if ((rc = ab_cluster_init(&b->cluster, cfg->home, err)))
        return rc;
    snprintf(b->home, sizeof(b->home), "%s", cfg->home);
    if (ab_path_join(b->conf, sizeof(b->conf), cfg->home, "pgbackrest.conf") ||
        ab_path_join(b->workdir, sizeof(b->workdir), b->cluster.dir, "pgbackrest") ||
        ab_path_join(b->repo, sizeof(b->repo), cfg->home, "backup") ||
        ab_path_join(path, sizeof(path), b->cluster.data, "PG_VERSION"))
        return ab_error_set(err, AB_ETOOBIG, "AGENTBASE_HOME is too long: %s", cfg->home);
    v = getenv("AGENTBASE_BACKUP_REPO");
    if (v && *v) {
        if (v[0] != '/' || strlen(v) >= sizeof(b->repo) || strchr(v, '\n'))
            return ab_error_set(err, AB_EINVAL,
                                "AGENTBASE_BACKUP_REPO must be an absolute path, not '%s'", v);
        snprintf(b->repo, sizeof(b->repo), "%s", v);
    }
    if ((rc = env_number("AGENTBASE_BACKUP_RETAIN_FULL", DEFAULT_RETAIN_FULL, 9999, &b->retain_full,
                         err)) ||
        (rc = env_number("AGENTBASE_BACKUP_CHECK_INTERVAL", 60, 86400, &b->check_interval_s, err)))
        return rc;
    v = getenv("AGENTBASE_BACKUP_SCHEDULE");
    if ((rc = parse_schedule(v && *v ? v : DEFAULT_SCHEDULE, &b->schedule, err)))
        return rc;
    v = getenv("AGENTBASE_BACKUP_OPTIONS");
    if (v && (rc = parse_options(b, v, err)))
        return rc;
    find_program(b);
    b->embedded = url_is_embedded(cfg, &b->cluster);
    b->managed = b->embedded && access(path, F_OK) == 0;
    return 0;
}

int ab_backup_require(const struct ab_backup *b, struct ab_error *err)
{
    if (!b->program[0]) {
        ab_error_set(err, AB_ENOTFOUND, PGBACKREST_NOT_FOUND);
        ab_error_hint(err, "install it: apt-get install pgbackrest (scripts/install-deps does)");
        return AB_ENOTFOUND;
    }
    if (!b->managed) {
        ab_error_set(err, AB_ECONFLICT, "no embedded cluster to back up under %s", b->home);
        ab_error_hint(err, "agentbase backs up the cluster it manages (agentbase pg start); a "
                           "server named by DATABASE_URL is backed up by its own tools, or "
                           "exported with agentbase dump (see docs/operations.md)");
        return AB_ECONFLICT;
    }
    return 0;
}

/* s into b between single quotes, for sh. */
static int shell_quote(struct ab_buf *b, const char *s)
{
    int rc = ab_buf_puts(b, "'");

    for (; *s && !rc; s++)
        rc = *s == '\'' ? ab_buf_puts(b, "'\\''") : ab_buf_append(b, s, 1);
    return rc ? rc : ab_buf_puts(b, "'");
}

static int chown_cluster(const struct ab_backup *b, const char *path, struct ab_error *err)
{
    if (b->cluster.drop_root && chown(path, b->cluster.uid, b->cluster.gid) != 0)
        return ab_error_set(err, AB_EIO, "cannot chown %s to postgres: %s", path, strerror(errno));
    return 0;
}

/*
 * Writes pgbackrest.conf for a cluster whose socket is named after port, creates the
 * repository and the working directory, and sets the archive_command of the next start.
 */
static int configure(struct ab_backup *b, int port, struct ab_error *err)
{
    struct ab_buf conf, cmd;
    int rc;

    ab_buf_init(&conf, 64 * 1024);
    ab_buf_init(&cmd, sizeof(b->cluster.archive_command) - 1);
    rc = ab_buf_printf(&conf,
                       "# Written by agentbase before every use: do not edit. Set\n"
                       "# AGENTBASE_BACKUP_REPO, AGENTBASE_BACKUP_RETAIN_FULL and\n"
                       "# AGENTBASE_BACKUP_OPTIONS instead (see docs/operations.md).\n"
                       "[global]\n"
                       "repo1-path=%s\n"
                       "repo1-retention-full=%ld\n"
                       "start-fast=y\n"
                       "compress-type=lz4\n"
                       "log-path=%s\n"
                       "lock-path=%s\n"
                       "spool-path=%s\n"
                       "log-level-console=warn\n"
                       "log-level-file=info\n"
                       "archive-timeout=%d\n"
                       "%s"
                       "\n[" AB_BACKUP_STANZA "]\n"
                       "pg1-path=%s\n"
                       "pg1-socket-path=%s\n"
                       "pg1-port=%d\n"
                       "pg1-user=" AB_CLUSTER_SUPERUSER "\n",
                       b->repo, b->retain_full, b->workdir, b->workdir, b->workdir, ARCHIVE_WAIT_S,
                       b->options, b->cluster.data, b->cluster.run,
                       port > 0 ? port : AB_CLUSTER_DEFAULT_PORT);
    if (rc) {
        rc = ab_error_set(err, AB_ETOOBIG, "pgbackrest.conf too large");
        goto out;
    }
    if ((rc = ab_mkdir_p(b->cluster.dir, 0700, err)) ||
        (rc = chown_cluster(b, b->cluster.dir, err)) || (rc = ab_mkdir_p(b->workdir, 0700, err)) ||
        (rc = chown_cluster(b, b->workdir, err)) ||
        (rc = ab_file_write(b->conf, conf.data, conf.len, 0600, err)) ||
        (rc = chown_cluster(b, b->conf, err)))
        goto out;
    if (!b->object_store && access(b->repo, F_OK) != 0 &&
        ((rc = ab_mkdir_p(b->repo, 0750, err)) || (rc = chown_cluster(b, b->repo, err))))
        goto out;
    b->cluster.archive_command[0] = '\0';
    if (b->program[0]) {
        if (shell_quote(&cmd, b->program) || ab_buf_puts(&cmd, " --config-path=") ||
            shell_quote(&cmd, b->home) ||
            ab_buf_puts(&cmd, " --stanza=" AB_BACKUP_STANZA " archive-push %p")) {
            rc = ab_error_set(err, AB_ETOOBIG, "archive_command too long");
            goto out;
        }
        snprintf(b->cluster.archive_command, sizeof(b->cluster.archive_command), "%s",
                 ab_buf_str(&cmd));
    }
out:
    ab_buf_free(&conf);
    ab_buf_free(&cmd);
    return rc;
}

/* The port of the running cluster's socket (the default when it does not run). */
static int cluster_port(struct ab_backup *b, bool *running, struct ab_error *err)
{
    struct ab_cluster_status st;
    int rc = ab_cluster_status(&b->cluster, &st, err);

    if (running)
        *running = rc == 0 && st.running;
    return rc ? rc : st.running ? st.port : AB_CLUSTER_DEFAULT_PORT;
}

/* ======================================================================================
 * Running pgBackRest
 * ====================================================================================== */

/*
 * Runs pgbackrest COMMAND with args (NULL-terminated, at most 12) as the cluster's user.
 * Its output goes to *out when given (initialised here; the caller frees it), else to
 * stderr when it fails; a failure is AB_EIO with the output's last lines as the detail.
 */
static int run(struct ab_backup *b, const char *command, const char *const *args,
               struct ab_buf *out, struct ab_error *err)
{
    char config[PATH_MAX + 16];
    const char *argv[20] = {b->program, config, "--stanza=" AB_BACKUP_STANZA};
    struct ab_buf mine, *buf = out ? out : &mine;
    int n = 3, rc;

    snprintf(config, sizeof(config), "--config-path=%s", b->home);
    for (; args && *args && n < 17; args++)
        argv[n++] = *args;
    argv[n++] = command;
    argv[n] = NULL;
    ab_buf_init(buf, command[0] == 'i' ? INFO_MAX_BYTES : OUTPUT_MAX_BYTES);
    rc = ab_cluster_run(&b->cluster, argv, buf, err);
    if (rc > 0) {
        const char *text = ab_buf_str(buf);
        size_t len = strlen(text);

        /* The last 900 bytes hold pgBackRest's error line. */
        ab_error_set(err, AB_EIO, "pgbackrest %s failed (exit %d)", command, rc);
        ab_error_detail(err, "%s", len > 900 ? text + len - 900 : text);
        rc = AB_EIO;
    }
    if (buf == &mine) {
        if (rc == 0 && mine.len)
            fputs(ab_buf_str(&mine), stderr); /* warnings */
        ab_buf_free(&mine);
    }
    return rc;
}

/* stanza-create: idempotent; the hint names the usual cause of its one common failure. */
static int stanza_create(struct ab_backup *b, struct ab_error *err)
{
    int rc = run(b, "stanza-create", NULL, NULL, err);

    if (rc == AB_EIO && strstr(err->detail, "do not match"))
        ab_error_hint(err,
                      "the repository %s holds backups of another cluster (was the data "
                      "directory deleted and created again?): restore from it with "
                      "agentbase restore, or set AGENTBASE_BACKUP_REPO to a new one",
                      b->repo);
    return rc;
}

/* For a local repository, whether the stanza exists already (saves a run at every start). */
static bool stanza_exists(const struct ab_backup *b)
{
    char path[PATH_MAX];

    return !b->object_store &&
           snprintf(path, sizeof(path), "%s/archive/" AB_BACKUP_STANZA "/archive.info", b->repo) <
               (int)sizeof(path) &&
           access(path, F_OK) == 0;
}

int ab_backup_cluster_start(struct ab_backup *b, int port, struct ab_error *err)
{
    int rc;

    if ((rc = configure(b, port, err)) || (rc = ab_cluster_start(&b->cluster, port, err)))
        return rc;
    if (!b->program[0]) {
        fprintf(stderr, "agentbase: warning: " PGBACKREST_NOT_FOUND ": WAL archiving is off and "
                        "agentbase backup cannot run (apt-get install pgbackrest)\n");
        return 0;
    }
    if (!stanza_exists(b) && stanza_create(b, err) != 0) {
        ab_error_prefix(err, "warning: WAL archiving fails until this is fixed: ");
        ab_error_print(err, stderr);
        ab_error_clear(err);
    }
    return 0;
}

int ab_backup_take(struct ab_backup *b, const char *type, struct ab_error *err)
{
    char arg[32];
    const char *args[] = {arg, NULL};
    bool running;
    int port, rc;

    if ((rc = ab_backup_require(b, err)))
        return rc;
    if ((port = cluster_port(b, &running, err)) < 0)
        return port;
    if (!running) {
        ab_error_set(err, AB_ECONFLICT, "the embedded cluster is not running");
        ab_error_hint(err, "start it with agentbase pg start: a backup is taken online");
        return AB_ECONFLICT;
    }
    snprintf(arg, sizeof(arg), "--type=%s", type);
    if ((rc = configure(b, port, err)) || (rc = stanza_create(b, err)))
        return rc;
    return run(b, "backup", args, NULL, err);
}

/* ======================================================================================
 * What the repository holds
 * ====================================================================================== */

static void copy_str(char *out, size_t n, json_t *v)
{
    snprintf(out, n, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* pgbackrest info --output=json: an array with one object per stanza. */
static int parse_info(const char *text, struct ab_backup_info *info, struct ab_error *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr), *st, *sets, *archive;
    size_t i;
    int rc = 0;

    memset(info, 0, sizeof(*info));
    if (!json_is_array(root) || !json_is_object(st = json_array_get(root, 0))) {
        rc = ab_error_set(err, AB_EIO, "cannot read pgbackrest info's answer");
        ab_error_detail(err, "%.300s", text);
        goto out;
    }
    copy_str(info->status, sizeof(info->status),
             json_object_get(json_object_get(st, "status"), "message"));
    /* status code 1: the stanza does not exist (yet) */
    info->stanza = json_integer_value(json_object_get(json_object_get(st, "status"), "code")) != 1;
    archive = json_array_get(json_object_get(st, "archive"), 0);
    copy_str(info->wal_min, sizeof(info->wal_min), json_object_get(archive, "min"));
    copy_str(info->wal_max, sizeof(info->wal_max), json_object_get(archive, "max"));
    sets = json_object_get(st, "backup");
    if (json_array_size(sets) == 0)
        goto out;
    info->sets = calloc(json_array_size(sets), sizeof(*info->sets));
    if (!info->sets) {
        rc = ab_error_set(err, AB_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < json_array_size(sets); i++) {
        json_t *s = json_array_get(sets, i), *ts = json_object_get(s, "timestamp"),
               *in = json_object_get(s, "info");
        struct ab_backup_set *o = &info->sets[info->n++];

        copy_str(o->label, sizeof(o->label), json_object_get(s, "label"));
        copy_str(o->type, sizeof(o->type), json_object_get(s, "type"));
        o->start = (time_t)json_integer_value(json_object_get(ts, "start"));
        o->stop = (time_t)json_integer_value(json_object_get(ts, "stop"));
        o->size = json_integer_value(json_object_get(in, "size"));
        o->repo_size =
            json_integer_value(json_object_get(json_object_get(in, "repository"), "delta"));
    }
out:
    json_decref(root);
    return rc;
}

/* pgbackrest info, with the configuration written already. */
static int read_info(struct ab_backup *b, struct ab_backup_info *info, struct ab_error *err)
{
    static const char *const args[] = {"--output=json", "--log-level-console=off",
                                       "--log-level-stderr=error", NULL};
    struct ab_buf out;
    int rc = run(b, "info", args, &out, err);

    if (!rc)
        rc = parse_info(ab_buf_str(&out), info, err);
    ab_buf_free(&out);
    return rc;
}

int ab_backup_info(struct ab_backup *b, struct ab_backup_info *info, struct ab_error *err)
{
    int rc, port;

    memset(info, 0, sizeof(*info));
    if ((rc = ab_backup_require(b, err)) || (port = cluster_port(b, NULL, err)) < 0)
        return rc ? rc : port;
    if ((rc = configure(b, port, err)))
        return rc;
    return read_info(b, info, err);
}

void ab_backup_info_free(struct ab_backup_info *info)
{
    free(info->sets);
    memset(info, 0, sizeof(*info));
}

int ab_backup_verify(struct ab_backup *b, FILE *out, struct ab_error *err)
{
    static const char *const verify_args[] = {"--output=text", NULL};
    struct ab_buf report = {0};
    bool running;
    int port, rc;

    if ((rc = ab_backup_require(b, err)) || (port = cluster_port(b, &running, err)) < 0)
        return rc ? rc : port;
    if ((rc = configure(b, port, err)))
        return rc;
    if (running) {
        if ((rc = run(b, "check", NULL, NULL, err)))
            return rc;
        fprintf(out, "check:  ok: the cluster's WAL reaches the repository %s\n",
                b->object_store ? "(object store)" : b->repo);
        fflush(out);
    } else {
        fprintf(out, "check:  skipped: the cluster is not running\n");
    }
    /* verify exits 0 whatever it finds: its report says "status: error" when it found any */
    if ((rc = run(b, "verify", verify_args, &report, err)))
        goto out;
    if (strstr(ab_buf_str(&report), "status: error")) {
        rc = ab_error_set(err, AB_EIO, "the repository holds damaged or missing files");
        ab_error_detail(err, "%s", ab_buf_str(&report));
        ab_error_hint(err, "take a new full backup (agentbase backup --type full), and find "
                           "out what damaged the repository");
        goto out;
    }
    fprintf(out, "verify: ok: every backup and WAL file in the repository is whole\n");
out:
    ab_buf_free(&report);
    return rc;
}

void ab_backup_due(const struct ab_backup *b, const struct ab_backup_info *info, time_t now,
                   char type[8])
{
    time_t full = 0, diff = 0, any = 0;

    type[0] = '\0';
    if (!b->schedule.full)
        return;
    for (size_t i = 0; i < info->n; i++) {
        const struct ab_backup_set *s = &info->sets[i];

        if (strcmp(s->type, "full") == 0 && s->stop > full)
            full = s->stop;
        if (strcmp(s->type, "incr") != 0 && s->stop > diff)
            diff = s->stop;
        if (s->stop > any)
            any = s->stop;
    }
    if (!full || now - full >= b->schedule.full)
        snprintf(type, 8, "full");
    else if (b->schedule.diff && now - diff >= b->schedule.diff)
        snprintf(type, 8, "diff");
    else if (b->schedule.incr && now - any >= b->schedule.incr)
        snprintf(type, 8, "incr");
}

/* ======================================================================================
 * Restore
 * ====================================================================================== */

static bool digits(const char **p, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        *out = *out * 10 + (**p - '0');
    }
    return true;
}

int ab_backup_parse_time(const char *s, time_t *t, long *usec, struct ab_error *err)
{
    const char *p = s;
    struct tm tm = {0}, back;
    int y, mo, d, h, mi, sec = 0, zh = 0, zm = 0, sign = 0;
    long frac = 0, scale = 100000;

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d) || (*p != 'T' && *p != ' ') || !(++p, digits(&p, 2, &h)) ||
        *p++ != ':' || !digits(&p, 2, &mi))
        goto bad;
    if (*p == ':' && !(++p, digits(&p, 2, &sec)))
        goto bad;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9')
            goto bad;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += scale > 0 ? (*p - '0') * scale : 0;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (!digits(&p, 2, &zh) || (*p == ':' && !(++p, digits(&p, 2, &zm))) ||
            (*p >= '0' && *p <= '9' && !digits(&p, 2, &zm)) || zh > 14 || zm > 59)
            goto bad;
    }
    if (*p)
        goto bad;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *t = timegm(&tm);
    /* timegm normalises 2026-02-30 into March: a date that does not come back is wrong */
    if (!gmtime_r(t, &back) || back.tm_mday != d || back.tm_mon != mo - 1 || back.tm_hour != h ||
        back.tm_min != mi || back.tm_sec != sec || y < 1970)
        goto bad;
    *t -= sign * (zh * 3600 + zm * 60);
    *usec = frac;
    return 0;
bad:
    ab_error_set(err, AB_EINVAL, "'%s' is not a point in time", s);
    ab_error_hint(err, "give YYYY-MM-DD HH:MM[:SS[.ffffff]] in UTC, or with a zone as "
                       "2026-03-14T15:09:26Z or 2026-03-14 16:09:26+01:00");
    return AB_EINVAL;
}

static void format_time(time_t t, long usec, char *out, size_t n)
{
    struct tm tm;
    char base[32];

    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
    if (usec)
        snprintf(out, n, "%s.%06ld+00", base, usec);
    else
        snprintf(out, n, "%s+00", base);
}

/* The backup set to restore from: named, or the newest that finished before the target. */
static int choose_set(const struct ab_backup_info *info, const struct ab_backup_restore_opts *o,
                      const struct ab_backup_set **out, struct ab_error *err)
{
    char when[48];

    *out = NULL;
    for (size_t i = 0; i < info->n; i++) {
        const struct ab_backup_set *s = &info->sets[i];

        if (o->set ? strcmp(s->label, o->set) == 0 : o->latest || s->stop < o->to)
            *out = s;
    }
    if (!info->n)
        return ab_error_set(err, AB_ENOTFOUND, "the repository holds no backup to restore");
    if (o->set && !*out) {
        ab_error_set(err, AB_ENOTFOUND, "no backup set '%s' in the repository", o->set);
        ab_error_hint(err, "agentbase backup list names them");
        return AB_ENOTFOUND;
    }
    format_time(info->sets[0].stop, 0, when, sizeof(when));
    if (!*out || (!o->latest && (*out)->stop >= o->to)) {
        ab_error_set(err, AB_EINVAL, "no backup%s%s finished before the target time",
                     o->set ? " " : "", o->set ? o->set : "");
        ab_error_hint(err,
                      "the oldest backup finished at %s; a restore can reach only times after "
                      "the backup it starts from",
                      when);
        return AB_EINVAL;
    }
    return 0;
}

/*
 * Makes the running cluster archive everything it has committed: a transaction (so that
 * the archive holds a commit after any earlier target time), a switch to a new WAL segment,
 * and a wait until the archiver has pushed the old one.
 */
static int archive_rest(struct ab_backup *b, struct ab_error *err)
{
    char url[PATH_MAX + 256];
    const char *params[1];
    PGconn *conn = NULL;
    PGresult *res = NULL;
    char wal[64] = "";
    int rc;

    if ((rc = ab_cluster_url(&b->cluster, AB_CLUSTER_DBNAME, false, url, sizeof(url), err)) ||
        (rc = ab_pg_connect(url, "agentbase restore", &conn, err)))
        goto out;
    if ((rc = ab_pg_query(conn,
                          "SELECT pg_walfile_name(pg_switch_wal()) "
                          "  FROM (SELECT txid_current()) x",
                          0, NULL, &res, err)))
        goto out;
    snprintf(wal, sizeof(wal), "%s", PQgetvalue(res, 0, 0));
    params[0] = wal;
    for (int i = 0; i < ARCHIVE_WAIT_S * 5; i++) {
        PQclear(res);
        if ((rc = ab_pg_query(
                 conn, "SELECT coalesce(last_archived_wal >= $1, false) FROM pg_stat_archiver", 1,
                 params, &res, err)))
            goto out;
        if (PQgetvalue(res, 0, 0)[0] == 't')
            goto out;
        usleep(200 * 1000);
    }
    rc = ab_error_set(err, AB_ETIMEOUT, "WAL segment %s was not archived within %d s", wal,
                      ARCHIVE_WAIT_S);
out:
    PQclear(res);
    if (conn)
        PQfinish(conn);
    return rc;
}

/* Whether the data directory waits for a recovery (an earlier restore that did not end). */
static bool recovering(const struct ab_backup *b)
{
    char path[PATH_MAX];

    return ab_path_join(path, sizeof(path), b->cluster.data, "recovery.signal") == 0 &&
           access(path, F_OK) == 0;
}

/* After the start: waits until recovery has ended (the target reached, and promoted). */
static int wait_promoted(struct ab_backup *b, struct ab_error *err)
{
    char url[PATH_MAX + 256], tail[1024];
    int rc;

    if ((rc = ab_cluster_url(&b->cluster, AB_CLUSTER_DBNAME, false, url, sizeof(url), err)))
        return rc;
    for (int i = 0; i < RECOVERY_WAIT_S * 5; i++) {
        PGconn *conn = NULL;
        PGresult *res = NULL;
        bool done;

        if ((rc = ab_pg_connect(url, "agentbase restore", &conn, err)) ||
            (rc = ab_pg_query(conn, "SELECT pg_is_in_recovery()", 0, NULL, &res, err))) {
            if (conn)
                PQfinish(conn);
            ab_cluster_log_tail(&b->cluster, tail, sizeof(tail));
            ab_error_set(err, AB_EIO, "PostgreSQL stopped during recovery");
            ab_error_detail(err, "%s", tail);
            if (strstr(tail, "before configured recovery target"))
                ab_error_hint(err, "the archive holds no commit after the target time; restore "
                                   "with --to-latest, or to an earlier time");
            return AB_EIO;
        }
        done = PQgetvalue(res, 0, 0)[0] == 'f';
        PQclear(res);
        PQfinish(conn);
        if (done)
            return 0;
        usleep(200 * 1000);
    }
    return ab_error_set(err, AB_ETIMEOUT, "recovery did not end within %d s", RECOVERY_WAIT_S);
}

int ab_backup_restore(struct ab_backup *b, const struct ab_backup_restore_opts *o,
                      struct ab_error *err)
{
    struct ab_backup_info info = {0};
    const struct ab_backup_set *set;
    struct ab_cluster_status st;
    char setarg[96], target[96], when[48], stop[48];
    const char *args[8] = {setarg};
    int rc, n = 1, port;

    /* A lost data directory is what a restore is for: it needs no cluster, only agentbase's. */
    if ((rc = ab_backup_require(b, err)) && !(b->embedded && b->program[0]))
        return rc;
    if ((rc = ab_cluster_status(&b->cluster, &st, err)))
        return rc;
    port = st.running && st.tcp ? st.port : 0;
    if (!o->latest && o->to > time(NULL))
        return ab_error_set(err, AB_EINVAL, "the target time is in the future");
    if ((rc = configure(b, st.running ? st.port : 0, err)) || (rc = read_info(b, &info, err)) ||
        (rc = choose_set(&info, o, &set, err)))
        goto out;
    if (st.running && !o->force) {
        rc = ab_error_set(err, AB_ECONFLICT, "the embedded cluster is running (pid %ld)", st.pid);
        ab_error_hint(err, "a restore replaces its data: stop it (agentbase pg stop, and stop the "
                           "servers that use it), or pass --force to have restore stop it");
        goto out;
    }
    format_time(set->stop, 0, stop, sizeof(stop));
    format_time(o->to, o->to_usec, when, sizeof(when));
    fprintf(o->out,
            "restore: the embedded cluster in %s%s\n"
            "  from backup %s (%s, finished %s) in %s\n"
            "  replaying WAL %s%s%s\n"
            "  files that differ from the backup are replaced, the others removed (--delta)\n",
            b->cluster.data, st.running ? " (running: it is stopped first)" : "", set->label,
            set->type, stop, b->object_store ? "the object store" : b->repo,
            o->latest ? "to the end of the archive" : "up to ", o->latest ? "" : when,
            o->latest ? "" : ", then promoting");
    fflush(o->out);

    /*
     * What the cluster committed but has not archived yet, first; a stopped cluster is
     * started for it, unless it is half-way through an earlier restore.
     */
    if (st.initialized && !st.running && !recovering(b)) {
        struct ab_error ignored;

        if (ab_backup_cluster_start(b, 0, &ignored) == 0)
            st.running = true;
    }
    if (st.running) {
        struct ab_error warn;

        if (archive_rest(b, &warn) != 0) {
            fprintf(o->out,
                    "  warning: the newest WAL could not be archived (%s): commits after "
                    "the archive's end (%s) are lost\n",
                    warn.message, info.wal_max);
        }
        if ((rc = ab_cluster_stop(&b->cluster, err)))
            goto out;
    }
    if ((rc = ab_cluster_prepare_dirs(&b->cluster, err)))
        goto out;
    snprintf(setarg, sizeof(setarg), "--set=%s", set->label);
    /* --delta over a data directory; into a new one (a lost directory), a plain restore */
    if (st.initialized)
        args[n++] = "--delta";
    if (o->latest) {
        args[n++] = "--type=default";
    } else {
        snprintf(target, sizeof(target), "--target=%s", when);
        args[n++] = "--type=time";
        args[n++] = target;
        args[n++] = "--target-action=promote";
    }
    args[n] = NULL;
    fprintf(o->out, "  restoring the files\n");
    fflush(o->out);
    if ((rc = run(b, "restore", args, NULL, err)))
        goto out;
    fprintf(o->out, "  starting PostgreSQL and replaying WAL\n");
    fflush(o->out);
    if ((rc = ab_backup_cluster_start(b, port, err)) || (rc = wait_promoted(b, err)))
        goto out;
    fprintf(o->out, "  recovery done: the cluster is running and takes writes\n");
out:
    ab_backup_info_free(&info);
    return rc;
}

/* ======================================================================================
 * The server's monitor
 * ====================================================================================== */

struct ab_backup_monitor {
    struct ab_backup b;
    char conninfo[4096];
    int interval_s;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    struct ab_backup_status st; /* under lock */
};

/*
 * pgbackrest info as the server's own user (posix_spawn: no user switch, which is not safe
 * in a process with threads); *newest 0 when there is no backup. False on any failure.
 */
static bool monitor_info(struct ab_backup_monitor *m, time_t *newest, char *label, size_t n)
{
    char config[PATH_MAX + 16];
    char *const argv[] = {m->b.program,
                          config,
                          "--stanza=" AB_BACKUP_STANZA,
                          "--output=json",
                          "--log-level-console=off",
                          "--log-level-stderr=off",
                          "--log-level-file=off",
                          "info",
                          NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    struct ab_backup_info info;
    struct ab_error err;
    struct ab_buf out;
    int pipefd[2], status, rc;
    char chunk[4096];
    ssize_t got;
    pid_t pid;
    bool ok = false;

    snprintf(config, sizeof(config), "--config-path=%s", m->b.home);
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return false;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    /* The server blocks SIGTERM and SIGINT and ignores SIGPIPE: pgBackRest gets neither. */
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&pid, m->b.program, &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return false;
    }
    close(pipefd[1]);
    ab_buf_init(&out, INFO_MAX_BYTES);
    while ((got = read(pipefd[0], chunk, sizeof(chunk))) > 0)
        if (ab_buf_append(&out, chunk, (size_t)got) != 0)
            break;
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
        parse_info(ab_buf_str(&out), &info, &err) == 0) {
        ok = true;
        *newest = 0;
        label[0] = '\0';
        for (size_t i = 0; i < info.n; i++)
            if (info.sets[i].stop >= *newest) {
                *newest = info.sets[i].stop;
                snprintf(label, n, "%s", info.sets[i].label);
            }
        ab_backup_info_free(&info);
    }
    ab_buf_free(&out);
    return ok;
}

/* pg_stat_archiver into st; false when it cannot be read. Reconnects as needed. */
static bool monitor_archiver(struct ab_backup_monitor *m, PGconn **conn,
                             struct ab_backup_status *st)
{
    static const char sql[] =
        "SELECT archived_count, failed_count, coalesce(last_failed_wal, ''), "
        "       coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) "
        "  FROM pg_stat_archiver";
    struct ab_error err;
    PGresult *res = NULL;

    if (*conn && PQstatus(*conn) != CONNECTION_OK) {
        PQfinish(*conn);
        *conn = NULL;
    }
    if (!*conn && ab_pg_connect(m->conninfo, "agentbase backup monitor", conn, &err) != 0) {
        *conn = NULL;
        return false;
    }
    if (ab_pg_query(*conn, sql, 0, NULL, &res, &err) != 0) {
        PQfinish(*conn);
        *conn = NULL;
        return false;
    }
    st->archived = atoll(PQgetvalue(res, 0, 0));
    st->failed = atoll(PQgetvalue(res, 0, 1));
    snprintf(st->last_failed_wal, sizeof(st->last_failed_wal), "%s", PQgetvalue(res, 0, 2));
    st->failing = PQgetvalue(res, 0, 3)[0] == 't';
    PQclear(res);
    return true;
}

static void *monitor_main(void *arg)
{
    struct ab_backup_monitor *m = arg;
    PGconn *conn = NULL;

    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        struct ab_backup_status st = m->st;
        struct timespec until;

        pthread_mutex_unlock(&m->lock);
        st.info_ok = monitor_info(m, &st.newest, st.newest_label, sizeof(st.newest_label));
        st.archiving_ok = monitor_archiver(m, &conn, &st);
        st.checked = true;
        pthread_mutex_lock(&m->lock);
        m->st = st;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += m->interval_s;
        while (!m->stopping && pthread_cond_timedwait(&m->wake, &m->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&m->lock);
    if (conn)
        PQfinish(conn);
    return NULL;
}

int ab_backup_monitor_start(const struct ab_config *cfg, const char *conninfo,
                            struct ab_backup_monitor **out, struct ab_error *err)
{
    struct ab_backup_monitor *m = calloc(1, sizeof(*m));
    int rc;

    *out = NULL;
    if (!m)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    if ((rc = ab_backup_init(&m->b, cfg, err))) {
        ab_backup_monitor_stop(m);
        return rc;
    }
    snprintf(m->conninfo, sizeof(m->conninfo), "%s", conninfo);
    m->interval_s = (int)m->b.check_interval_s;
    m->st.managed = m->b.managed && m->b.program[0];
    if (m->st.managed) {
        if (pthread_create(&m->thread, NULL, monitor_main, m) != 0) {
            ab_backup_monitor_stop(m);
            return ab_error_set(err, AB_EIO, "cannot start the backup monitor thread");
        }
        m->started = true;
    }
    *out = m;
    return 0;
}

void ab_backup_monitor_status(struct ab_backup_monitor *m, struct ab_backup_status *st)
{
    memset(st, 0, sizeof(*st));
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    *st = m->st;
    pthread_mutex_unlock(&m->lock);
}

void ab_backup_monitor_stop(struct ab_backup_monitor *m)
{
    if (!m)
        return;
    if (m->started) {
        pthread_mutex_lock(&m->lock);
        m->stopping = true;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    free(m);
}
