/*
 * The embedded PostgreSQL cluster: create, start, stop, status, and where to connect.
 *
 * agentbase drives PostgreSQL's own programs (initdb, pg_ctl, postgres) instead of
 * reimplementing any of them: initdb once, then pg_ctl start/stop with a settings file
 * (data/agentbase.conf, rewritten at every start and included last by postgresql.conf, so
 * that ALTER SYSTEM still overrides it). What we add is what users trip over: finding the
 * programs, running them as `postgres` when we are root, refusing a data directory of
 * another major version, clearing a postmaster.pid whose process is gone, and naming a
 * busy port instead of leaving the user to read the server log.
 *
 * The connection strings of the commands are chosen here as well (DATABASE_URL, or this
 * cluster's socket as the superuser or as the service's login role), because only this
 * module knows where the cluster listens. Talking over those connections is pg/'s job.
 */
#include "cluster/cluster.h"
#include "pg/pg.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_LIB_ROOT    "/usr/lib/postgresql"
#define EXIT_NO_ACCESS 126

/* ======================================================================================
 * Running PostgreSQL's programs
 * ====================================================================================== */

/*
 * Runs argv[0] from the cluster's bindir as the cluster's user, with stdout and stderr
 * appended to logpath (or captured into `capture` when given, or discarded). Returns the
 * program's exit status, or a negative AB_E* code when it could not run.
 */
static int run_program(const struct ab_cluster *c, const char *const *argv, const char *logpath,
                       struct ab_buf *capture, struct ab_error *err)
{
    char prog[PATH_MAX];
    int pipefd[2] = {-1, -1};
    int status;
    pid_t pid;

    if (argv[0][0] == '/')
        snprintf(prog, sizeof(prog), "%s", argv[0]);
    else if (ab_path_join(prog, sizeof(prog), c->bindir, argv[0]))
        return ab_error_set(err, AB_ETOOBIG, "path too long: %s", c->bindir);
    if (capture && pipe(pipefd) != 0)
        return ab_error_set(err, AB_EIO, "pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0) {
        if (capture) {
            close(pipefd[0]);
            close(pipefd[1]);
        }
        return ab_error_set(err, AB_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int out = -1, in = open("/dev/null", O_RDONLY);

        if (capture)
            out = pipefd[1];
        else if (logpath)
            out = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        else
            out = open("/dev/null", O_WRONLY);
        if (in < 0 || out < 0)
            _exit(127);
        if (logpath && !capture && c->drop_root && fchown(out, c->uid, c->gid) != 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        if (c->drop_root) {
            if (setgid(c->gid) != 0 || initgroups(AB_CLUSTER_SUPERUSER, c->gid) != 0 ||
                setuid(c->uid) != 0)
                _exit(127);
        }
        /* pg_ctl and initdb need a working directory their user can read. */
        if (access(c->dir, F_OK) != 0 && errno == ENOENT) {
            if (chdir("/") != 0)
                _exit(127);
        } else if (access(c->dir, R_OK | W_OK | X_OK) != 0 || chdir(c->dir) != 0) {
            _exit(EXIT_NO_ACCESS);
        }
        {
            /* argv[0] the full path: pg_ctl finds postgres beside itself through it */
            const char *args[32] = {prog};
            int n;

            for (n = 1; n < 31 && argv[n]; n++)
                args[n] = argv[n];
            args[n] = NULL;
            execv(prog, (char *const *)args);
        }
        _exit(127);
    }
    if (capture) {
        char chunk[4096];
        ssize_t n;

        close(pipefd[1]);
        while ((n = read(pipefd[0], chunk, sizeof(chunk))) > 0)
            if (ab_buf_append(capture, chunk, (size_t)n) != 0)
                break; /* keep what fits; the program's output is for messages only */
        close(pipefd[0]);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return ab_error_set(err, AB_EIO, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(status))
        return ab_error_set(err, AB_EIO, "%s was killed by signal %d", argv[0], WTERMSIG(status));
    if (WEXITSTATUS(status) == EXIT_NO_ACCESS) {
        ab_error_set(err, AB_EIO, "the %s user cannot use %s",
                     c->drop_root ? "postgres" : "current", c->dir);
        ab_error_hint(err, "every parent directory must be searchable by that user (chmod o+x), "
                           "or set AGENTBASE_HOME to a directory it can reach");
        return AB_EIO;
    }
    if (WEXITSTATUS(status) == 127)
        return ab_error_set(err, AB_EIO, "cannot run %s", prog);
    return WEXITSTATUS(status);
}

int ab_cluster_run(const struct ab_cluster *c, const char *const *argv, struct ab_buf *capture,
                   struct ab_error *err)
{
    return run_program(c, argv, NULL, capture, err);
}

/* The last lines of a log file, for error details. */
static void log_tail(const char *path, char *out, size_t n)
{
    struct ab_error ignored;
    struct ab_buf buf;
    const char *p;
    int lines = 0;

    out[0] = '\0';
    if (ab_file_read(path, 16u << 20, &buf, &ignored) != 0)
        return;
    p = buf.data + buf.len;
    while (p > buf.data && lines < 6)
        if (*--p == '\n' && p + 1 < buf.data + buf.len)
            lines++;
    snprintf(out, n, "%s (from %s)", p == buf.data ? p : p + 1, path);
    ab_buf_free(&buf);
}

void ab_cluster_log_tail(const struct ab_cluster *c, char *out, size_t n)
{
    log_tail(c->log, out, n);
}

/* ======================================================================================
 * Finding the programs and the user
 * ====================================================================================== */

static bool is_program(const char *dir, const char *name)
{
    char path[PATH_MAX];

    return ab_path_join(path, sizeof(path), dir, name) == 0 && access(path, X_OK) == 0;
}

static int read_data_major(const struct ab_cluster *c)
{
    char path[PATH_MAX];
    FILE *f;
    int major = 0;

    if (ab_path_join(path, sizeof(path), c->data, "PG_VERSION"))
        return 0;
    f = fopen(path, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%d", &major) != 1)
        major = 0;
    fclose(f);
    return major;
}

/*
 * The PostgreSQL under /usr/lib/postgresql whose bin directory has both programs: version
 * want when it has them, else the newest at least min. 0 when there is none.
 */
static int scan_bindirs(const char *prog1, const char *prog2, int want, int min)
{
    struct dirent *de;
    char dir[PATH_MAX];
    int best = 0;
    DIR *d = opendir(PG_LIB_ROOT);

    while (d && (de = readdir(d))) {
        int v = atoi(de->d_name);

        if (v <= 0 || v < min ||
            snprintf(dir, sizeof(dir), PG_LIB_ROOT "/%d/bin", v) >= (int)sizeof(dir))
            continue;
        if (!is_program(dir, prog1) || !is_program(dir, prog2))
            continue;
        if (v == want) {
            best = v;
            break;
        }
        if (v > best)
            best = v;
    }
    if (d)
        closedir(d);
    return best;
}

/*
 * AGENTBASE_PG_BINDIR when set; else the version that made the data directory; else the
 * newest PostgreSQL under /usr/lib/postgresql.
 */
static int find_bindir(struct ab_cluster *c, struct ab_error *err)
{
    const char *env = getenv("AGENTBASE_PG_BINDIR");
    int best;

    if (env && *env) {
        if (!is_program(env, "initdb") || !is_program(env, "pg_ctl"))
            return ab_error_set(err, AB_ENOTFOUND,
                                "AGENTBASE_PG_BINDIR=%s has no initdb and pg_ctl programs", env);
        snprintf(c->bindir, sizeof(c->bindir), "%s", env);
        return 0;
    }
    best = scan_bindirs("initdb", "pg_ctl", read_data_major(c), 0);
    if (!best) {
        ab_error_set(err, AB_ENOTFOUND,
                     "PostgreSQL server programs not found (looked in " PG_LIB_ROOT "/*/bin)");
        ab_error_hint(err, "install them with: apt-get install postgresql-15 (scripts/install-deps "
                           "does this), or set AGENTBASE_PG_BINDIR, or set DATABASE_URL to use "
                           "an existing server");
        return AB_ENOTFOUND;
    }
    snprintf(c->bindir, sizeof(c->bindir), PG_LIB_ROOT "/%d/bin", best);
    return 0;
}

int ab_cluster_find_program(const char *name, int server_major, char *out, size_t n,
                            struct ab_error *err)
{
    const char *env = getenv("AGENTBASE_PG_BINDIR");
    char dir[PATH_MAX];
    int v;

    if (env && *env) {
        if (!is_program(env, name))
            return ab_error_set(err, AB_ENOTFOUND, "AGENTBASE_PG_BINDIR=%s has no %s program", env,
                                name);
        if (ab_path_join(out, n, env, name))
            return ab_error_set(err, AB_ETOOBIG, "path too long: %s", env);
        return 0;
    }
    v = scan_bindirs(name, name, server_major, server_major);
    if (!v) {
        ab_error_set(err, AB_ENOTFOUND,
                     "no %s of PostgreSQL %d or newer (looked in " PG_LIB_ROOT "/*/bin)", name,
                     server_major);
        ab_error_hint(err,
                      "install postgresql-client-%d (the server is PostgreSQL %d), or set "
                      "AGENTBASE_PG_BINDIR to the bin directory that holds %s",
                      server_major, server_major, name);
        return AB_ENOTFOUND;
    }
    snprintf(dir, sizeof(dir), PG_LIB_ROOT "/%d/bin", v);
    if (ab_path_join(out, n, dir, name))
        return ab_error_set(err, AB_ETOOBIG, "path too long: %s", dir);
    return 0;
}

static int read_bin_major(struct ab_cluster *c, char *version, size_t n, struct ab_error *err)
{
    const char *argv[] = {"postgres", "--version", NULL};
    struct ab_buf out;
    const char *p;
    int rc;

    ab_buf_init(&out, 4096);
    rc = run_program(c, argv, NULL, &out, err);
    if (rc > 0)
        rc = ab_error_set(err, AB_EIO, "%s/postgres --version failed", c->bindir);
    if (rc)
        goto out;
    /* "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" */
    p = strstr(ab_buf_str(&out), ") ");
    c->bin_major = p ? atoi(p + 2) : 0;
    if (c->bin_major <= 0) {
        rc = ab_error_set(err, AB_EIO, "cannot read the version of %s/postgres", c->bindir);
        goto out;
    }
    if (version) {
        snprintf(version, n, "%s", ab_buf_str(&out));
        version[strcspn(version, "\n")] = '\0';
    }
out:
    ab_buf_free(&out);
    return rc;
}

int ab_cluster_init(struct ab_cluster *c, const char *home, struct ab_error *err)
{
    memset(c, 0, sizeof(*c));
    if (ab_path_join(c->dir, sizeof(c->dir), home, "pg") ||
        ab_path_join(c->data, sizeof(c->data), c->dir, "data") ||
        ab_path_join(c->run, sizeof(c->run), c->dir, "run") ||
        ab_path_join(c->log, sizeof(c->log), c->dir, "log"))
        return ab_error_set(err, AB_ETOOBIG, "AGENTBASE_HOME is too long: %s", home);
    c->uid = getuid();
    c->gid = getgid();
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam(AB_CLUSTER_SUPERUSER);

        if (!pw) {
            ab_error_set(err, AB_ENOTFOUND, "running as root, but there is no 'postgres' user");
            ab_error_hint(err, "PostgreSQL refuses to run as root; installing postgresql-15 "
                               "creates the postgres user");
            return AB_ENOTFOUND;
        }
        c->drop_root = true;
        c->uid = pw->pw_uid;
        c->gid = pw->pw_gid;
    }
    return find_bindir(c, err);
}

/* ======================================================================================
 * Status
 * ====================================================================================== */

/*
 * True when pid is a live process named postgres. A reused pid belongs to someone else, and
 * a killed postmaster may linger as a zombie until something reaps it: neither is running.
 */
static bool is_postgres_process(long pid)
{
    char path[64], stat[512] = "";
    const char *state;
    FILE *f;

    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        return false;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return true; /* no /proc: trust kill() */
    if (!fgets(stat, sizeof(stat), f))
        stat[0] = '\0';
    fclose(f);
    /* "pid (comm) state ...": comm may hold spaces, so find the last ')'. */
    state = strrchr(stat, ')');
    if (!state || strncmp(stat + strcspn(stat, "(") + 1, "postgres", 8) != 0)
        return false;
    return state[1] == ' ' && state[2] != 'Z' && state[2] != 'X';
}

/* Reads postmaster.pid: line 1 pid, line 4 port, line 6 listen address. */
static bool read_pidfile(const struct ab_cluster *c, long *pid, int *port, bool *tcp)
{
    char path[PATH_MAX], line[PATH_MAX];
    FILE *f;
    int n = 0;

    *pid = 0;
    if (ab_path_join(path, sizeof(path), c->data, "postmaster.pid"))
        return false;
    f = fopen(path, "r");
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        n++;
        if (n == 1)
            *pid = atol(line);
        else if (n == 4)
            *port = atoi(line);
        else if (n == 6)
            *tcp = line[0] != '\0';
    }
    fclose(f);
    return true;
}

int ab_cluster_status(struct ab_cluster *c, struct ab_cluster_status *st, struct ab_error *err)
{
    memset(st, 0, sizeof(*st));
    st->port = AB_CLUSTER_DEFAULT_PORT;
    st->data_major = read_data_major(c);
    st->initialized = st->data_major > 0;
    if (read_pidfile(c, &st->pid, &st->port, &st->tcp))
        st->running = is_postgres_process(st->pid);
    if (!st->running) {
        st->pid = 0;
        st->tcp = false;
    }
    return read_bin_major(c, st->version, sizeof(st->version), err);
}

/* ======================================================================================
 * Start and stop
 * ====================================================================================== */

static void clear_stale_pidfile(const struct ab_cluster *c);

static int chown_to_cluster_user(const struct ab_cluster *c, const char *path, struct ab_error *err)
{
    if (c->drop_root && chown(path, c->uid, c->gid) != 0)
        return ab_error_set(err, AB_EIO, "cannot chown %s to postgres: %s", path, strerror(errno));
    return 0;
}

static int make_dirs(const struct ab_cluster *c, struct ab_error *err)
{
    int rc;

    if ((rc = ab_mkdir_p(c->dir, 0700, err)) || (rc = chown_to_cluster_user(c, c->dir, err)) ||
        (rc = ab_mkdir_p(c->run, 0700, err)) || (rc = chown_to_cluster_user(c, c->run, err)))
        return rc;
    return 0;
}

int ab_cluster_prepare_dirs(struct ab_cluster *c, struct ab_error *err)
{
    int rc;

    if ((rc = make_dirs(c, err)) || (rc = ab_mkdir_p(c->data, 0700, err)) ||
        (rc = chown_to_cluster_user(c, c->data, err)))
        return rc;
    clear_stale_pidfile(c);
    return 0;
}

static int init_data_dir(struct ab_cluster *c, struct ab_error *err)
{
    char pwfile[PATH_MAX], conf[PATH_MAX], initlog[PATH_MAX], tail[1024];
    unsigned char raw[24];
    char password[2 * sizeof(raw) + 1];
    const char *argv[] = {"initdb",
                          "-D",
                          c->data,
                          "-U",
                          AB_CLUSTER_SUPERUSER,
                          "-E",
                          "UTF8",
                          "--locale=C",
                          "--data-checksums",
                          "--auth-local=trust",
                          "--auth-host=scram-sha-256",
                          "--pwfile",
                          pwfile,
                          "--no-instructions",
                          NULL};
    static const char include_line[] = "\n# agentbase's settings, rewritten at every start\n"
                                       "include_if_exists = 'agentbase.conf'\n";
    FILE *f;
    int rc;

    if (ab_path_join(pwfile, sizeof(pwfile), c->dir, "password") ||
        ab_path_join(conf, sizeof(conf), c->data, "postgresql.conf") ||
        ab_path_join(initlog, sizeof(initlog), c->dir, "initdb.log"))
        return ab_error_set(err, AB_ETOOBIG, "path too long under %s", c->dir);
    /* The superuser's password is needed only over TCP; the socket is private (0700). */
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(password, sizeof(password), raw, sizeof(raw));
    if ((rc = ab_file_write(pwfile, password, strlen(password), 0600, err)) ||
        (rc = chown_to_cluster_user(c, pwfile, err)))
        return rc;
    rc = run_program(c, argv, initlog, NULL, err);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        log_tail(initlog, tail, sizeof(tail));
        ab_error_set(err, AB_EIO, "initdb failed for %s", c->data);
        ab_error_detail(err, "%s", tail);
        return AB_EIO;
    }
    f = fopen(conf, "a");
    if (!f || fputs(include_line, f) < 0 || fclose(f) != 0)
        return ab_error_set(err, AB_EIO, "cannot append to %s: %s", conf, strerror(errno));
    return 0;
}

/* Settings fitted to a small machine; every acknowledged commit stays durable. */
static int write_settings(const struct ab_cluster *c, int port, struct ab_error *err)
{
    char path[PATH_MAX];
    struct ab_buf b;
    int rc;

    if (ab_path_join(path, sizeof(path), c->data, "agentbase.conf"))
        return ab_error_set(err, AB_ETOOBIG, "path too long under %s", c->data);
    ab_buf_init(&b, 64 * 1024);
    rc = ab_buf_printf(&b,
                       "# Written by agentbase at every start: do not edit. Override with\n"
                       "# ALTER SYSTEM (postgresql.auto.conf is read after this file).\n"
                       "listen_addresses = '%s'\n"
                       "port = %d\n"
                       "unix_socket_directories = '%s'\n"
                       "unix_socket_permissions = 0700\n"
                       "max_connections = 100\n"
                       "shared_buffers = 256MB\n"
                       "effective_cache_size = 2GB\n"
                       "work_mem = 8MB\n"
                       "maintenance_work_mem = 128MB\n"
                       "max_wal_size = 2GB\n"
                       "checkpoint_timeout = 15min\n"
                       "fsync = on\n"
                       "synchronous_commit = on\n"
                       "full_page_writes = on\n"
                       "timezone = 'UTC'\n"
                       "log_timezone = 'UTC'\n"
                       "log_line_prefix = '%%m [%%p] %%q%%u@%%d '\n"
                       "log_min_duration_statement = 2000\n"
                       /* a slow statement is logged without its parameters: the service
                        * never sends a secret as one, and nobody else should either */
                       "log_parameter_max_length = 0\n"
                       "log_parameter_max_length_on_error = 0\n"
                       "log_lock_waits = on\n",
                       port > 0 ? "127.0.0.1" : "", port > 0 ? port : AB_CLUSTER_DEFAULT_PORT,
                       c->run);
    /*
     * WAL archiving (backup/): a segment is archived when full or after archive_timeout,
     * so that a lost data directory loses at most a minute of commits.
     */
    if (!rc && c->archive_command[0]) {
        rc = ab_buf_puts(&b, "archive_mode = on\narchive_timeout = 60\narchive_command = '");
        /* a quote inside a setting's string is written twice */
        for (const char *p = c->archive_command; *p && !rc; p++)
            rc = ab_buf_puts(&b, *p == '\'' ? "''" : (char[2]){*p, '\0'});
        if (!rc)
            rc = ab_buf_puts(&b, "'\n");
    } else if (!rc) {
        rc = ab_buf_puts(&b, "archive_mode = off\n");
    }
    if (rc) {
        ab_buf_free(&b);
        return ab_error_set(err, rc, "settings too large");
    }
    rc = ab_file_write(path, b.data, b.len, 0600, err);
    ab_buf_free(&b);
    return rc ? rc : chown_to_cluster_user(c, path, err);
}

static int check_port_free(int port, struct ab_error *err)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0, one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return ab_error_set(err, AB_EIO, "socket: %s", strerror(errno));
    /* As PostgreSQL binds it: connections of the past on the port (TIME_WAIT) do not count. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        rc = ab_error_set(err, AB_ECONFLICT, "port %d on 127.0.0.1 is in use: %s", port,
                          strerror(errno));
        ab_error_hint(err, "stop what uses it, or choose another with --port");
    }
    close(fd);
    return rc;
}

/* A postmaster.pid whose process is gone (a crash, a reboot, a reused pid) is stale. */
static void clear_stale_pidfile(const struct ab_cluster *c)
{
    char path[PATH_MAX];
    long pid;
    int port;
    bool tcp;

    if (!read_pidfile(c, &pid, &port, &tcp) || is_postgres_process(pid))
        return;
    if (ab_path_join(path, sizeof(path), c->data, "postmaster.pid") == 0 && unlink(path) == 0)
        fprintf(stderr, "agentbase: removed stale %s (process %ld is gone)\n", path, pid);
}

static int create_database(struct ab_cluster *c, struct ab_error *err)
{
    char url[PATH_MAX + 256];
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int rc;

    if ((rc = ab_cluster_url(c, "postgres", false, url, sizeof(url), err)) ||
        (rc = ab_pg_connect(url, "agentbase pg start", &conn, err)))
        return rc;
    rc = ab_pg_query(conn, "SELECT 1 FROM pg_database WHERE datname = '" AB_CLUSTER_DBNAME "'", 0,
                     NULL, &res, err);
    if (rc == 0 && PQntuples(res) == 0)
        rc = ab_pg_exec(conn, "CREATE DATABASE " AB_CLUSTER_DBNAME, err);
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int ab_cluster_start(struct ab_cluster *c, int port, struct ab_error *err)
{
    const char *argv[] = {"pg_ctl", "start", "-D",  c->data, "-l", c->log,
                          "-w",     "-t",    "120", "-s",    NULL};
    struct ab_cluster_status st;
    char tail[1024];
    size_t socklen;
    int rc, attempt;

    if ((rc = ab_cluster_status(c, &st, err)))
        return rc;
    if (st.running) {
        if (port > 0 && (!st.tcp || st.port != port))
            return ab_error_set(err, AB_ECONFLICT,
                                "the cluster is already running on %s port %d; stop it to change "
                                "the port",
                                st.tcp ? "TCP" : "socket", st.port);
        return 0;
    }
    if (st.initialized && st.data_major != c->bin_major) {
        ab_error_set(err, AB_ECONFLICT,
                     "the data directory %s was created by PostgreSQL %d, but the programs in %s "
                     "are PostgreSQL %d",
                     c->data, st.data_major, c->bindir, c->bin_major);
        ab_error_hint(err,
                      "install PostgreSQL %d (or set AGENTBASE_PG_BINDIR to its bin "
                      "directory), or upgrade the data with pg_upgrade",
                      st.data_major);
        return AB_ECONFLICT;
    }
    socklen = strlen(c->run) + sizeof("/.s.PGSQL.65535");
    if (socklen > 107) {
        ab_error_set(err, AB_EINVAL, "the socket path under %s is too long for unix sockets",
                     c->run);
        ab_error_hint(err, "use a shorter AGENTBASE_HOME (at most about 80 characters)");
        return AB_EINVAL;
    }
    if (port > 0 && (rc = check_port_free(port, err)))
        return rc;
    if ((rc = make_dirs(c, err)))
        return rc;
    if (!st.initialized && (rc = init_data_dir(c, err)))
        return rc;
    if ((rc = write_settings(c, port, err)))
        return rc;
    /*
     * After an unclean kill, backends of the dead postmaster may hold its shared memory for
     * a moment, and PostgreSQL refuses to start until they are gone: retry for a while.
     */
    for (attempt = 0; attempt < 20; attempt++) {
        clear_stale_pidfile(c);
        rc = run_program(c, argv, NULL, NULL, err);
        if (rc <= 0)
            break;
        usleep(500 * 1000);
    }
    if (rc < 0)
        return rc;
    if (rc > 0) {
        log_tail(c->log, tail, sizeof(tail));
        ab_error_set(err, AB_EIO, "PostgreSQL did not start");
        ab_error_detail(err, "%s", tail);
        return AB_EIO;
    }
    return create_database(c, err);
}

int ab_cluster_stop(struct ab_cluster *c, struct ab_error *err)
{
    const char *argv[] = {"pg_ctl", "stop", "-D",  c->data, "-m", "fast",
                          "-w",     "-t",   "120", "-s",    NULL};
    struct ab_cluster_status st;
    char tail[1024];
    int rc;

    if ((rc = ab_cluster_status(c, &st, err)))
        return rc;
    if (!st.running)
        return 0;
    rc = run_program(c, argv, NULL, NULL, err);
    if (rc > 0) {
        log_tail(c->log, tail, sizeof(tail));
        ab_error_set(err, AB_EIO, "PostgreSQL did not stop");
        ab_error_detail(err, "%s", tail);
        return AB_EIO;
    }
    return rc;
}

/* ======================================================================================
 * Connection strings
 * ====================================================================================== */

/* Percent-encodes s into b (for a socket path inside a URL). */
static int url_encode(struct ab_buf *b, const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-~";
    int rc = 0;

    for (; *s && !rc; s++)
        rc =
            strchr(ok, *s) ? ab_buf_append(b, s, 1) : ab_buf_printf(b, "%%%02X", (unsigned char)*s);
    return rc;
}

int ab_cluster_url(struct ab_cluster *c, const char *dbname, bool tcp, char *out, size_t n,
                   struct ab_error *err)
{
    return ab_cluster_url_as(c, AB_CLUSTER_SUPERUSER, dbname, tcp, out, n, err);
}

int ab_cluster_url_as(struct ab_cluster *c, const char *user, const char *dbname, bool tcp,
                      char *out, size_t n, struct ab_error *err)
{
    char pwpath[PATH_MAX];
    struct ab_buf b, pw = {0};
    long pid;
    int port = AB_CLUSTER_DEFAULT_PORT, rc;
    bool listening = false;

    read_pidfile(c, &pid, &port, &listening);
    ab_buf_init(&b, n > 0 ? n - 1 : 0);
    if (tcp) {
        if (!listening)
            return ab_error_set(err, AB_ECONFLICT,
                                "the cluster is not listening on TCP; start it with --port");
        if (ab_path_join(pwpath, sizeof(pwpath), c->dir, "password"))
            return ab_error_set(err, AB_ETOOBIG, "path too long under %s", c->dir);
        if ((rc = ab_file_read(pwpath, 4096, &pw, err)))
            return rc;
        pw.data[strcspn(pw.data, "\n")] = '\0';
        rc = ab_buf_printf(&b, "postgresql://%s:%s@127.0.0.1:%d/%s", user, pw.data, port, dbname);
        ab_buf_free(&pw);
    } else {
        rc = ab_buf_printf(&b, "postgresql://%s@/%s?host=", user, dbname);
        if (!rc)
            rc = url_encode(&b, c->run);
        if (!rc)
            rc = ab_buf_printf(&b, "&port=%d", port);
    }
    if (!rc)
        snprintf(out, n, "%s", ab_buf_str(&b));
    ab_buf_free(&b);
    return rc ? ab_error_set(err, rc, "connection string too long") : 0;
}

/* DATABASE_URL, or the embedded cluster's socket URL for user. */
static int conninfo_as(const struct ab_config *cfg, const char *user, char *out, size_t n,
                       struct ab_error *err)
{
    struct ab_cluster c;
    int rc;

    if (!ab_config_embedded(cfg)) {
        if (strlen(cfg->database_url) >= n)
            return ab_error_set(err, AB_ETOOBIG, "DATABASE_URL is too long");
        snprintf(out, n, "%s", cfg->database_url);
        return 0;
    }
    if ((rc = ab_cluster_init(&c, cfg->home, err)))
        return rc;
    return ab_cluster_url_as(&c, user, AB_CLUSTER_DBNAME, false, out, n, err);
}

int ab_cluster_conninfo(const struct ab_config *cfg, char *out, size_t n, struct ab_error *err)
{
    return conninfo_as(cfg, AB_CLUSTER_SUPERUSER, out, n, err);
}

int ab_cluster_service_conninfo(const struct ab_config *cfg, char *out, size_t n,
                                struct ab_error *err)
{
    return conninfo_as(cfg, AB_CLUSTER_SERVICE_USER, out, n, err);
}
