/*
 * The migration engine.
 *
 * Design: every step (applying or reverting one migration) is a list of SQL statements
 * built in one place, step_program(). `migrate up/down` executes that list and `migrate
 * plan` prints it, so the plan is by construction what would run. The statements that
 * record state use literals, not parameters, for that reason; the only values in them are
 * versions, names and checksums that ab_migrate_load has already checked to be digits,
 * [a-z0-9_] and hex.
 *
 * Safety properties and where they come from:
 * - all or nothing: a step's statements and its state rows are one transaction;
 * - no stale lock: the advisory lock is session-level on a connection of its own, so it
 *   dies with the process; client_connection_check_interval makes the server notice a
 *   killed migrator during a long statement;
 * - no hang behind the application: lock_timeout is set for every step;
 * - CREATE INDEX CONCURRENTLY works: the lock connection is idle outside a transaction,
 *   and waiting migrators only poll pg_try_advisory_lock in short transactions.
 */
#include "migrate/migrate.h"
#include "pg/pg.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The advisory lock: pg_try_advisory_lock(LOCK_K1, LOCK_K2); 0x61626d67 is "abmg". */
#define LOCK_K1        "1633840487"
#define LOCK_K2        "1"
#define MAX_FILE_BYTES (16u << 20)

static const char state_ddl[] =
    "SET client_min_messages = warning;\n" /* no "already exists, skipping" notices */
    "CREATE SCHEMA IF NOT EXISTS agentbase_migrate;\n"
    "CREATE TABLE IF NOT EXISTS agentbase_migrate.versions (\n"
    "    version int PRIMARY KEY,\n"
    "    name text NOT NULL,\n"
    "    checksum text NOT NULL,\n"
    "    applied_at timestamptz NOT NULL DEFAULT now(),\n"
    "    duration_ms numeric,\n"
    "    applied_by text NOT NULL DEFAULT session_user\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS agentbase_migrate.events (\n"
    "    id bigserial PRIMARY KEY,\n"
    "    at timestamptz NOT NULL DEFAULT clock_timestamp(),\n"
    "    event text NOT NULL CHECK (event IN ('deploy', 'revert', 'fail', 'stamp')),\n"
    "    version int NOT NULL,\n"
    "    name text NOT NULL,\n"
    "    checksum text,\n"
    "    duration_ms numeric,\n"
    "    applied_by text NOT NULL DEFAULT session_user,\n"
    "    error text\n"
    ");\n"
    "COMMENT ON TABLE agentbase_migrate.versions IS "
    "'applied migrations: the current schema version';\n"
    "COMMENT ON TABLE agentbase_migrate.events IS "
    "'append-only history of deploys, reverts, failures and stamps';\n"
    /* The schema version is no secret: the service's readiness check reads it. */
    "GRANT USAGE ON SCHEMA agentbase_migrate TO PUBLIC;\n"
    "GRANT SELECT ON agentbase_migrate.versions TO PUBLIC;\n"
    "RESET client_min_messages;\n";

/* Who applied a migration, computed by the server so that plan output needs no values. */
#define APPLIED_BY "session_user || coalesce(' from ' || host(inet_client_addr()), '')"
#define DURATION                                                                                   \
    "round(extract(epoch FROM clock_timestamp() - "                                                \
    "current_setting('agentbase_migrate.started')::timestamptz) * 1000, 1)"

/* ======================================================================================
 * Loading
 * ====================================================================================== */

void ab_migrate_script_free(struct ab_migration_script *s)
{
    free(s->stmts);
    s->stmts = NULL;
    s->nstmts = 0;
}

int ab_migrate_script_init(struct ab_migration_script *s, const char *file, const char *sql,
                           size_t len, struct ab_error *err)
{
    size_t marklen = strlen(AB_MIGRATE_NO_TX_MARK);
    int rc;

    memset(s, 0, sizeof(*s));
    snprintf(s->file, sizeof(s->file), "%s", file);
    s->sql = sql;
    s->len = len;
    if (memchr(sql, '\0', len))
        return ab_error_set(err, AB_EINVAL, "%s contains a NUL byte", file);
    ab_sha256_hex(sql, len, s->checksum);
    s->no_transaction = len >= marklen && memcmp(sql, AB_MIGRATE_NO_TX_MARK, marklen) == 0 &&
                        (len == marklen || sql[marklen] == '\n' || sql[marklen] == '\r');
    rc = ab_sql_split(sql, len, &s->stmts, &s->nstmts, err);
    if (rc) {
        ab_error_prefix(err, "%s", file);
        return rc;
    }
    if (s->no_transaction && s->nstmts != 1) {
        ab_error_set(err, AB_EINVAL,
                     "%s is marked no-transaction but holds %zu statements (it must hold exactly "
                     "one)",
                     file, s->nstmts);
        ab_migrate_script_free(s);
        return AB_EINVAL;
    }
    return 0;
}

/* Parses "NNNN_name.up.sql"; returns the version, or 0 when the name is not a migration. */
static int parse_file_name(const char *file, char *name, size_t n, bool *up)
{
    const char *p = file, *dot;
    int version = 0, digits = 0;

    for (; isdigit((unsigned char)*p); p++, digits++)
        if (digits < 9)
            version = version * 10 + (*p - '0');
    if (digits < 4 || digits > 9 || *p != '_' || version <= 0)
        return 0;
    dot = strchr(p, '.');
    if (!dot || dot == p + 1)
        return 0;
    for (const char *q = p + 1; q < dot; q++)
        if (!islower((unsigned char)*q) && !isdigit((unsigned char)*q) && *q != '_')
            return 0;
    if (strcmp(dot, ".up.sql") == 0)
        *up = true;
    else if (strcmp(dot, ".down.sql") == 0)
        *up = false;
    else
        return 0;
    if ((size_t)(dot - file) >= n)
        return 0;
    snprintf(name, n, "%.*s", (int)(dot - file), file);
    return version;
}

static int cmp_migration(const void *a, const void *b)
{
    const struct ab_migration *x = a, *y = b;

    return (x->version > y->version) - (x->version < y->version);
}

/* Adds one file to the set, pairing it with its twin by version. */
static int add_file(struct ab_migration_set *set, size_t *cap, const char *file, const char *sql,
                    size_t len, struct ab_error *err)
{
    struct ab_migration *m = NULL;
    struct ab_migration_script *s;
    char name[200];
    bool up = false;
    int version = parse_file_name(file, name, sizeof(name), &up);

    if (!version)
        return ab_error_set(err, AB_EINVAL,
                            "%s is not a migration file name (NNNN_name.up.sql or "
                            "NNNN_name.down.sql, name in [a-z0-9_])",
                            file);
    for (size_t i = 0; i < set->count; i++)
        if (set->items[i].version == version)
            m = &set->items[i];
    if (m && strcmp(m->name, name) != 0)
        return ab_error_set(err, AB_EINVAL, "two migrations have version %d: %s and %s", version,
                            m->name, name);
    if (!m) {
        if (set->count == *cap) {
            size_t ncap = *cap ? *cap * 2 : 32;
            struct ab_migration *p = realloc(set->items, ncap * sizeof(*p));

            if (!p)
                return ab_error_set(err, AB_ENOMEM, "out of memory");
            set->items = p;
            *cap = ncap;
        }
        m = &set->items[set->count++];
        memset(m, 0, sizeof(*m));
        m->version = version;
        snprintf(m->name, sizeof(m->name), "%s", name);
    }
    s = up ? &m->up : &m->down;
    if (s->sql)
        return ab_error_set(err, AB_EINVAL, "%s appears twice", file);
    return ab_migrate_script_init(s, file, sql, len, err);
}

static int load_dir(struct ab_migration_set *set, size_t *cap, const char *dir,
                    struct ab_error *err)
{
    struct {
        char name[256];
        size_t off, len;
    } *files = NULL;
    size_t nfiles = 0, fcap = 0;
    struct dirent *de;
    DIR *d = opendir(dir);
    int rc = 0;

    if (!d)
        return ab_error_set(err, AB_ENOTFOUND, "cannot open migrations directory %s: %s", dir,
                            strerror(errno));
    /* Read every file first: storage may move while it grows. */
    while ((de = readdir(d))) {
        char path[PATH_MAX];
        struct ab_buf content;
        size_t nl = strlen(de->d_name);

        if (nl < 5 || strcmp(de->d_name + nl - 4, ".sql") != 0)
            continue;
        if (nl >= sizeof(files[0].name) || ab_path_join(path, sizeof(path), dir, de->d_name)) {
            rc = ab_error_set(err, AB_ETOOBIG, "file name too long: %s", de->d_name);
            goto out;
        }
        if ((rc = ab_file_read(path, MAX_FILE_BYTES, &content, err)))
            goto out;
        if (nfiles == fcap) {
            void *p;
            fcap = fcap ? fcap * 2 : 32;
            p = realloc(files, fcap * sizeof(*files));
            if (!p) {
                ab_buf_free(&content);
                rc = ab_error_set(err, AB_ENOMEM, "out of memory");
                goto out;
            }
            files = p;
        }
        snprintf(files[nfiles].name, sizeof(files[nfiles].name), "%s", de->d_name);
        files[nfiles].off = set->storage.len;
        files[nfiles].len = content.len;
        rc = ab_buf_append(&set->storage, content.data, content.len);
        if (!rc)
            rc = ab_buf_append(&set->storage, "", 1);
        ab_buf_free(&content);
        if (rc) {
            rc = ab_error_set(err, rc, "migrations in %s are too large", dir);
            goto out;
        }
        nfiles++;
    }
    for (size_t i = 0; i < nfiles && !rc; i++)
        rc = add_file(set, cap, files[i].name, set->storage.data + files[i].off, files[i].len, err);
out:
    closedir(d);
    free(files);
    return rc;
}

int ab_migrate_load(struct ab_migration_set *set, const char *dir, struct ab_error *err)
{
    static const char prefix[] = "db/migrations/";
    size_t cap = 0;
    int rc = 0;

    memset(set, 0, sizeof(*set));
    ab_buf_init(&set->storage, 256u << 20);
    snprintf(set->source, sizeof(set->source), "%s", dir ? dir : "embedded");
    if (dir) {
        rc = load_dir(set, &cap, dir, err);
    } else {
        for (size_t i = 0; i < ab_embedded_files_count && !rc; i++) {
            const struct ab_embedded_file *f = &ab_embedded_files[i];

            if (strncmp(f->path, prefix, sizeof(prefix) - 1) == 0)
                rc = add_file(set, &cap, f->path + sizeof(prefix) - 1, (const char *)f->data,
                              f->len, err);
        }
    }
    for (size_t i = 0; i < set->count && !rc; i++) {
        const struct ab_migration *m = &set->items[i];

        if (!m->up.sql || !m->down.sql)
            rc = ab_error_set(err, AB_EINVAL, "migration %s has no %s file", m->name,
                              m->up.sql ? "down" : "up");
    }
    if (rc) {
        ab_migrate_set_free(set);
        return rc;
    }
    qsort(set->items, set->count, sizeof(*set->items), cmp_migration);
    return 0;
}

void ab_migrate_set_free(struct ab_migration_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        ab_migrate_script_free(&set->items[i].up);
        ab_migrate_script_free(&set->items[i].down);
    }
    free(set->items);
    ab_buf_free(&set->storage);
    memset(set, 0, sizeof(*set));
}

int ab_migrate_head(const struct ab_migration_set *set)
{
    return set->count ? set->items[set->count - 1].version : 0;
}

static const struct ab_migration *find_migration(const struct ab_migration_set *set, int version)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->items[i].version == version)
            return &set->items[i];
    return NULL;
}

void ab_migrate_opts_init(struct ab_migrate_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->direction = AB_MIGRATE_UP;
    o->lock_timeout_s = 60.0;
    snprintf(o->statement_lock_timeout, sizeof(o->statement_lock_timeout), "10s");
    o->out = stdout;
}

/* ======================================================================================
 * Executing scripts
 * ====================================================================================== */

/* Line of the character at 1-based position pos within a statement starting at line. */
static int line_at(const char *text, size_t len, int line, long pos)
{
    for (long i = 0; i < pos - 1 && (size_t)i < len; i++)
        if (text[i] == '\n')
            line++;
    return line;
}

int ab_migrate_exec_script(PGconn *conn, const struct ab_migration_script *s, struct ab_error *err)
{
    struct ab_buf sql;
    int rc = 0;

    ab_buf_init(&sql, MAX_FILE_BYTES);
    for (size_t i = 0; i < s->nstmts && !rc; i++) {
        const struct ab_sql_stmt *st = &s->stmts[i];
        const char *text = s->sql + st->offset;
        PGresult *res;
        ExecStatusType status;

        ab_buf_reset(&sql);
        if (ab_buf_append(&sql, text, st->len)) {
            rc = ab_error_set(err, AB_ENOMEM, "out of memory");
            break;
        }
        res = PQexec(conn, sql.data);
        status = PQresultStatus(res);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
            const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
            char pgmsg[sizeof(err->message)], detail[sizeof(err->detail)];
            int line = line_at(text, st->len, st->line, pos ? atol(pos) : 0);
            int shown = (int)(st->len < 300 ? st->len : 300);

            rc = ab_pg_error(conn, res, err);
            snprintf(pgmsg, sizeof(pgmsg), "%s", err->message);
            snprintf(detail, sizeof(detail), "%s", err->detail);
            snprintf(err->message, sizeof(err->message), "%s failed at line %d: %s", s->file, line,
                     pgmsg);
            snprintf(err->detail, sizeof(err->detail),
                     "statement %zu of %zu (line %d): %.*s%s%s%s%s%s", i + 1, s->nstmts, st->line,
                     shown, text, (size_t)shown < st->len ? " ..." : "", detail[0] ? "\n" : "",
                     detail, ctx ? "\ncontext: " : "", ctx ? ctx : "");
        }
        PQclear(res);
    }
    ab_buf_free(&sql);
    return rc;
}

/* ======================================================================================
 * Steps: the statements that apply or revert one migration
 * ====================================================================================== */

enum part { PART_SQL, PART_SCRIPT };

struct step {
    const struct ab_migration *m;
    const struct ab_migration_script *script;
    bool up;
};

/*
 * The statements around a script. For a transactional step:
 *   BEGIN; <before>; <script>; <after>; COMMIT
 * For a no-transaction step the script runs alone, and the state rows follow in their own
 * transaction. `before` marks the start time and becomes the owner role where it exists.
 */
static int step_before(struct ab_buf *b, const struct step *st, const struct ab_migrate_opts *o)
{
    const char *local = st->script->no_transaction ? "" : "LOCAL ";

    return ab_buf_printf(
        b,
        "%s"
        "SELECT set_config('agentbase_migrate.started', clock_timestamp()::text, %s);\n"
        "SET %slock_timeout = '%s';\n"
        "SET %ssearch_path TO agentbase, public;\n"
        "DO $ab$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentbase_owner') "
        "AND pg_has_role('agentbase_owner', 'MEMBER') THEN SET %sROLE agentbase_owner; "
        "END IF; END $ab$;\n",
        st->script->no_transaction ? "" : "BEGIN;\n", st->script->no_transaction ? "false" : "true",
        local, o->statement_lock_timeout, local, local);
}

static int step_after(struct ab_buf *b, const struct step *st)
{
    const struct ab_migration *m = st->m;
    int rc;

    rc = ab_buf_printf(b, "RESET ROLE;\n%s",
                       st->script->no_transaction ? "RESET lock_timeout;\nRESET search_path;\n"
                                                    "BEGIN;\n"
                                                  : "");
    if (rc)
        return rc;
    if (st->up)
        rc = ab_buf_printf(b,
                           "INSERT INTO agentbase_migrate.versions "
                           "(version, name, checksum, duration_ms, applied_by) "
                           "VALUES (%d, '%s', '%s', " DURATION ", " APPLIED_BY ");\n",
                           m->version, m->name, m->up.checksum);
    else
        rc = ab_buf_printf(b, "DELETE FROM agentbase_migrate.versions WHERE version = %d;\n",
                           m->version);
    if (rc)
        return rc;
    return ab_buf_printf(b,
                         "INSERT INTO agentbase_migrate.events "
                         "(event, version, name, checksum, duration_ms, applied_by) "
                         "VALUES ('%s', %d, '%s', '%s', " DURATION ", " APPLIED_BY ");\n"
                         "COMMIT;\n",
                         st->up ? "deploy" : "revert", m->version, m->name, st->script->checksum);
}

/* ======================================================================================
 * Connections and the lock
 * ====================================================================================== */

struct session {
    PGconn *lock;
    PGconn *work;
    bool locked;
};

static void session_close(struct session *s)
{
    if (s->lock && s->locked) {
        PGresult *r = PQexec(s->lock, "SELECT pg_advisory_unlock(" LOCK_K1 ", " LOCK_K2 ")");
        PQclear(r);
    }
    if (s->lock)
        PQfinish(s->lock);
    if (s->work)
        PQfinish(s->work);
    memset(s, 0, sizeof(*s));
}

/* Makes the server notice within a second when the migrator is gone (PostgreSQL >= 14). */
static void watch_client(PGconn *conn)
{
    if (PQserverVersion(conn) >= 140000) {
        PGresult *r = PQexec(conn, "SET client_connection_check_interval = '1s'");
        PQclear(r);
    }
}

static int session_open(struct session *s, const char *conninfo, bool with_lock,
                        struct ab_error *err)
{
    char appname[128], host[64] = "?";
    int rc;

    memset(s, 0, sizeof(*s));
    gethostname(host, sizeof(host) - 1);
    snprintf(appname, sizeof(appname), "agentbase migrate (%s pid %ld)", host, (long)getpid());
    if ((rc = ab_pg_connect(conninfo, appname, &s->work, err)))
        return rc;
    watch_client(s->work);
    if (with_lock) {
        if ((rc = ab_pg_connect(conninfo, appname, &s->lock, err))) {
            session_close(s);
            return rc;
        }
        watch_client(s->lock);
    }
    return 0;
}

static void describe_holder(PGconn *conn, FILE *out)
{
    static const char sql[] =
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'), "
        "       to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') "
        "  FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = " LOCK_K1
        "   AND l.objid = " LOCK_K2 " AND l.objsubid = 2";
    PGresult *r = PQexec(conn, sql);

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
        fprintf(out,
                "waiting for the migration lock, held by server pid %s (%s, from %s, connected "
                "%s)\n",
                PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
    else
        fprintf(out, "waiting for the migration lock\n");
    fflush(out);
    PQclear(r);
}

static int acquire_lock(struct session *s, const struct ab_migrate_opts *o, struct ab_error *err)
{
    double start = ab_now_ms(), last_said = -1e9;
    int rc;

    for (;;) {
        PGresult *r;

        rc = ab_pg_query(s->lock, "SELECT pg_try_advisory_lock(" LOCK_K1 ", " LOCK_K2 ")", 0, NULL,
                         &r, err);
        if (rc)
            return rc;
        s->locked = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (s->locked)
            return 0;
        if (ab_now_ms() - start >= o->lock_timeout_s * 1000.0) {
            ab_error_set(err, AB_ETIMEOUT, "gave up waiting %.0f s for the migration lock",
                         o->lock_timeout_s);
            ab_error_hint(err, "another migrator is running; wait for it, or raise "
                               "--lock-timeout");
            return AB_ETIMEOUT;
        }
        if (ab_now_ms() - last_said >= 10000.0) {
            describe_holder(s->lock, o->out);
            last_said = ab_now_ms();
        }
        usleep(200 * 1000);
    }
}

/* ======================================================================================
 * Reading the state
 * ====================================================================================== */

struct applied {
    int version;
    char name[200];
    char checksum[65];
    char applied_at[64];
    char applied_by[128];
    double duration_ms;
};

static int read_applied(PGconn *conn, const char *since, struct applied **out, size_t *count,
                        struct ab_error *err)
{
    const char *params[1] = {since};
    PGresult *r;
    int rc;

    *out = NULL;
    *count = 0;
    rc = ab_pg_query(conn, "SELECT to_regclass('agentbase_migrate.versions') IS NOT NULL", 0, NULL,
                     &r, err);
    if (rc)
        return rc;
    if (PQgetvalue(r, 0, 0)[0] != 't') {
        PQclear(r);
        return 0;
    }
    PQclear(r);
    rc = ab_pg_query(conn,
                     "SELECT version, name, checksum, "
                     "       to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS TZ'), applied_by, "
                     "       coalesce(duration_ms, 0) "
                     "  FROM agentbase_migrate.versions "
                     " WHERE $1::timestamptz IS NULL OR applied_at > $1::timestamptz "
                     " ORDER BY version",
                     1, params, &r, err);
    if (rc)
        return rc;
    *count = (size_t)PQntuples(r);
    *out = calloc(*count ? *count : 1, sizeof(**out));
    if (!*out) {
        PQclear(r);
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < *count; i++) {
        struct applied *a = &(*out)[i];

        a->version = atoi(PQgetvalue(r, (int)i, 0));
        snprintf(a->name, sizeof(a->name), "%s", PQgetvalue(r, (int)i, 1));
        snprintf(a->checksum, sizeof(a->checksum), "%s", PQgetvalue(r, (int)i, 2));
        snprintf(a->applied_at, sizeof(a->applied_at), "%s", PQgetvalue(r, (int)i, 3));
        snprintf(a->applied_by, sizeof(a->applied_by), "%s", PQgetvalue(r, (int)i, 4));
        a->duration_ms = atof(PQgetvalue(r, (int)i, 5));
    }
    PQclear(r);
    return 0;
}

static const struct applied *find_applied(const struct applied *a, size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].version == version)
            return &a[i];
    return NULL;
}

int ab_migrate_current(PGconn *conn, int *version, struct ab_error *err)
{
    struct applied *a;
    size_t n;
    int rc = read_applied(conn, NULL, &a, &n, err);

    *version = (rc == 0 && n > 0) ? a[n - 1].version : 0;
    free(a);
    return rc;
}

/* ======================================================================================
 * Choosing the steps
 * ====================================================================================== */

/* Refuses to go up when the database and the binary disagree about the past. */
static int check_history(const struct ab_migration_set *set, const struct applied *a, size_t n,
                         struct ab_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct ab_migration *m = find_migration(set, a[i].version);

        if (!m) {
            ab_error_set(err, AB_ECONFLICT,
                         "the database has migration %s, which this agentbase does not know",
                         a[i].name);
            ab_error_hint(err, "run the agentbase version that applied it, or upgrade");
            return AB_ECONFLICT;
        }
        if (strcmp(m->up.checksum, a[i].checksum) != 0) {
            ab_error_set(err, AB_ECONFLICT, "migration %s has changed since it was applied",
                         m->name);
            ab_error_detail(err, "recorded checksum %s\nfile checksum     %s", a[i].checksum,
                            m->up.checksum);
            ab_error_hint(err,
                          "restore the original file; if the change is deliberate and "
                          "already reflected in the database, record it with "
                          "`agentbase migrate stamp %d`",
                          a[n - 1].version);
            return AB_ECONFLICT;
        }
    }
    return 0;
}

/* Fills steps (capacity set->count) with what to run, in order. */
static int choose_steps(PGconn *conn, const struct ab_migration_set *set,
                        const struct ab_migrate_opts *o, struct step *steps, size_t *nsteps,
                        struct ab_error *err)
{
    struct applied *a = NULL;
    size_t n = 0;
    int rc, newest;

    *nsteps = 0;
    if ((rc = read_applied(conn, NULL, &a, &n, err)))
        return rc;
    newest = n ? a[n - 1].version : 0;
    if (o->direction == AB_MIGRATE_UP) {
        int to = o->to_version ? o->to_version : ab_migrate_head(set);

        if (o->to_version && !find_migration(set, o->to_version)) {
            rc = ab_error_set(err, AB_ENOTFOUND, "there is no migration %04d", o->to_version);
            goto out;
        }
        if ((rc = check_history(set, a, n, err)))
            goto out;
        for (size_t i = 0; i < set->count; i++) {
            const struct ab_migration *m = &set->items[i];

            if (m->version > to || find_applied(a, n, m->version))
                continue;
            if (m->version < newest && !o->allow_out_of_order) {
                ab_error_set(err, AB_ECONFLICT,
                             "migration %s is pending but older than the newest applied "
                             "migration (%04d)",
                             m->name, newest);
                ab_error_hint(err, "apply it anyway with --allow-out-of-order, or renumber it");
                rc = AB_ECONFLICT;
                goto out;
            }
            steps[(*nsteps)++] = (struct step){m, &m->up, true};
        }
    } else {
        struct applied *since = NULL;
        size_t nsince = 0;

        if (o->to_date[0] && (rc = read_applied(conn, o->to_date, &since, &nsince, err)))
            goto out;
        for (size_t i = n; i-- > 0;) {
            const struct ab_migration *m = find_migration(set, a[i].version);
            bool take;

            if (o->to_date[0])
                take = find_applied(since, nsince, a[i].version) != NULL;
            else if (o->to_set)
                take = a[i].version > o->to_version;
            else
                take = (int)*nsteps < (o->count > 0 ? o->count : 1);
            if (!take)
                continue;
            if (!m) {
                rc = ab_error_set(err, AB_ECONFLICT,
                                  "cannot revert %s: this agentbase does not have its down file",
                                  a[i].name);
                break;
            }
            steps[(*nsteps)++] = (struct step){m, &m->down, false};
        }
        free(since);
    }
out:
    free(a);
    return rc;
}

/* ======================================================================================
 * Running
 * ====================================================================================== */

/* Name of the index a CREATE INDEX CONCURRENTLY statement makes, or "" if none is named. */
static void concurrent_index_name(const char *sql, size_t len, char *out, size_t n)
{
    static const char *const words[] = {"create", "unique", "index", "concurrently",
                                        "if",     "not",    "exists"};
    char tok[128];
    size_t i = 0, w = 0;

    out[0] = '\0';
    while (i < len) {
        size_t t = 0;

        while (i < len && isspace((unsigned char)sql[i]))
            i++;
        while (i < len && !isspace((unsigned char)sql[i]) && sql[i] != '(' && t < sizeof(tok) - 1)
            tok[t++] = (char)tolower((unsigned char)sql[i++]);
        tok[t] = '\0';
        if (t == 0)
            return;
        while (w < AB_ARRAY_LEN(words) && strcmp(tok, words[w]) != 0 &&
               (w == 1 || w >= 4)) /* "unique" and "if not exists" are optional */
            w++;
        if (w < AB_ARRAY_LEN(words) && strcmp(tok, words[w]) == 0) {
            w++;
            continue;
        }
        if (w >= 4 && strcmp(tok, "on") != 0) {
            snprintf(out, n, "%s", tok);
            return;
        }
        return;
    }
}

/* An invalid index of that name (from an interrupted CREATE INDEX CONCURRENTLY), or "". */
static int invalid_index(PGconn *conn, const char *name, char *out, size_t n, struct ab_error *err)
{
    const char *params[1] = {name};
    PGresult *r;
    int rc = ab_pg_query(conn,
                         "SELECT c.oid::regclass::text FROM pg_index i "
                         "  JOIN pg_class c ON c.oid = i.indexrelid "
                         "  JOIN pg_namespace s ON s.oid = c.relnamespace "
                         " WHERE NOT i.indisvalid AND ($1 = '' OR c.relname = $1) "
                         "   AND s.nspname = ANY (current_schemas(false)) LIMIT 1",
                         1, params, &r, err);

    out[0] = '\0';
    if (rc == 0 && PQntuples(r) > 0)
        snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

static void record_failure(PGconn *conn, const struct step *st, const struct ab_error *e)
{
    char version[16];
    const char *params[4] = {version, st->m->name, st->script->checksum, e->message};
    PGresult *r;

    snprintf(version, sizeof(version), "%d", st->m->version);
    r = PQexec(conn, "ROLLBACK");
    PQclear(r);
    r = PQexec(conn, "RESET ROLE");
    PQclear(r);
    r = PQexecParams(conn,
                     "INSERT INTO agentbase_migrate.events (event, version, name, checksum, error) "
                     "VALUES ('fail', $1, $2, $3, $4)",
                     4, NULL, params, NULL, NULL, 0);
    PQclear(r);
}

static int run_step(PGconn *conn, const struct step *st, const struct ab_migrate_opts *o,
                    struct ab_error *err)
{
    struct ab_buf before, after;
    char idx[128] = "", bad[256] = "";
    int rc = 0;

    ab_buf_init(&before, 64 * 1024);
    ab_buf_init(&after, 64 * 1024);
    if (step_before(&before, st, o) || step_after(&after, st)) {
        rc = ab_error_set(err, AB_ENOMEM, "out of memory");
        goto out;
    }
    if (st->script->no_transaction) {
        const struct ab_sql_stmt *s0 = &st->script->stmts[0];

        concurrent_index_name(st->script->sql + s0->offset, s0->len, idx, sizeof(idx));
        if (idx[0] && (rc = invalid_index(conn, idx, bad, sizeof(bad), err)) == 0 && bad[0]) {
            char drop[400];

            fprintf(o->out, "dropping invalid index %s left by an interrupted run\n", bad);
            snprintf(drop, sizeof(drop), "DROP INDEX CONCURRENTLY %s", bad);
            rc = ab_pg_exec(conn, drop, err);
        }
        if (rc)
            goto fail;
    }
    if ((rc = ab_pg_exec(conn, before.data, err)) ||
        (rc = ab_migrate_exec_script(conn, st->script, err)))
        goto fail;
    if (st->script->no_transaction) {
        if ((rc = invalid_index(conn, idx, bad, sizeof(bad), err)))
            goto fail;
        if (bad[0]) {
            rc = ab_error_set(err, AB_EDB, "%s left the index %s invalid", st->script->file, bad);
            ab_error_hint(err, "see the server log for why the build failed; the next run drops "
                               "it and tries again");
            goto fail;
        }
    }
    if ((rc = ab_pg_exec(conn, after.data, err)))
        goto fail;
    goto out;
fail:
    record_failure(conn, st, err);
out:
    ab_buf_free(&before);
    ab_buf_free(&after);
    return rc;
}

int ab_migrate_run(const char *conninfo, const struct ab_migration_set *set,
                   const struct ab_migrate_opts *o, struct ab_error *err)
{
    struct session s;
    struct step *steps = calloc(set->count ? set->count : 1, sizeof(*steps));
    size_t nsteps = 0;
    bool tty = isatty(fileno(o->out));
    double total = ab_now_ms();
    char took[32];
    int rc;

    if (!steps)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    if ((rc = session_open(&s, conninfo, true, err)))
        goto out_free;
    if ((rc = acquire_lock(&s, o, err)) || (rc = ab_pg_exec(s.work, state_ddl, err)) ||
        (rc = choose_steps(s.work, set, o, steps, &nsteps, err)))
        goto out;
    if (nsteps == 0) {
        int current = 0;

        rc = ab_migrate_current(s.work, &current, err);
        if (!rc)
            fprintf(o->out, "nothing to %s: the database is at version %04d\n",
                    o->direction == AB_MIGRATE_UP ? "apply" : "revert", current);
        goto out;
    }
    for (size_t i = 0; i < nsteps; i++) {
        double t0 = ab_now_ms();

        if (tty)
            fprintf(o->out, "[%zu/%zu] %s %s ...", i + 1, nsteps,
                    steps[i].up ? "applying" : "reverting", steps[i].m->name);
        fflush(o->out);
        rc = run_step(s.work, &steps[i], o, err);
        if (tty)
            fputs("\r\033[K", o->out);
        if (rc)
            goto out;
        ab_format_duration(ab_now_ms() - t0, took, sizeof(took));
        fprintf(o->out, "%-8s %s (%s)\n", steps[i].up ? "applied" : "reverted", steps[i].m->name,
                took);
        fflush(o->out);
    }
    ab_format_duration(ab_now_ms() - total, took, sizeof(took));
    fprintf(o->out, "%s %zu migration%s in %s\n",
            o->direction == AB_MIGRATE_UP ? "applied" : "reverted", nsteps, nsteps == 1 ? "" : "s",
            took);
out:
    session_close(&s);
out_free:
    free(steps);
    return rc;
}

/* ======================================================================================
 * Plan
 * ====================================================================================== */

static int print_script(FILE *out, const struct ab_migration_script *s)
{
    for (size_t i = 0; i < s->nstmts; i++)
        if (fprintf(out, "%.*s;\n", (int)s->stmts[i].len, s->sql + s->stmts[i].offset) < 0)
            return AB_EIO;
    return 0;
}

int ab_migrate_plan(const char *conninfo, const struct ab_migration_set *set,
                    const struct ab_migrate_opts *o, struct ab_error *err)
{
    struct session s;
    struct step *steps = calloc(set->count ? set->count : 1, sizeof(*steps));
    struct ab_buf b;
    size_t nsteps = 0;
    int rc;

    ab_buf_init(&b, 64 * 1024);
    if (!steps)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    if ((rc = session_open(&s, conninfo, false, err)))
        goto out_free;
    if ((rc = choose_steps(s.work, set, o, steps, &nsteps, err)))
        goto out;
    fprintf(o->out,
            "-- agentbase migrate plan: %zu migration%s to %s. Run with:\n"
            "--   psql -X -v ON_ERROR_STOP=1 -f THIS_FILE \"$DATABASE_URL\"\n"
            "\\set ON_ERROR_STOP on\n"
            "SELECT pg_advisory_lock(" LOCK_K1 ", " LOCK_K2 ");\n%s",
            nsteps, nsteps == 1 ? "" : "s", o->direction == AB_MIGRATE_UP ? "apply" : "revert",
            state_ddl);
    for (size_t i = 0; i < nsteps && !rc; i++) {
        ab_buf_reset(&b);
        fprintf(o->out, "\n-- %s %s (%s, sha256 %s)\n", steps[i].up ? "apply" : "revert",
                steps[i].m->name, steps[i].script->file, steps[i].script->checksum);
        if (step_before(&b, &steps[i], o)) {
            rc = ab_error_set(err, AB_ENOMEM, "out of memory");
            break;
        }
        fputs(b.data, o->out);
        if (print_script(o->out, steps[i].script)) {
            rc = ab_error_set(err, AB_EIO, "cannot write the plan: %s", strerror(errno));
            break;
        }
        ab_buf_reset(&b);
        if (step_after(&b, &steps[i])) {
            rc = ab_error_set(err, AB_ENOMEM, "out of memory");
            break;
        }
        fputs(b.data, o->out);
    }
    if (!rc)
        fprintf(o->out, "\nSELECT pg_advisory_unlock(" LOCK_K1 ", " LOCK_K2 ");\n");
out:
    session_close(&s);
out_free:
    free(steps);
    ab_buf_free(&b);
    return rc;
}

/* ======================================================================================
 * Status, history, stamp
 * ====================================================================================== */

int ab_migrate_status(const char *conninfo, const struct ab_migration_set *set,
                      struct ab_migration_status **out, size_t *count, struct ab_error *err)
{
    struct session s;
    struct applied *a = NULL;
    struct ab_migration_status *v;
    size_t n = 0, k = 0;
    int rc;

    *out = NULL;
    *count = 0;
    if ((rc = session_open(&s, conninfo, false, err)))
        return rc;
    rc = read_applied(s.work, NULL, &a, &n, err);
    session_close(&s);
    if (rc)
        return rc;
    v = calloc(set->count + n + 1, sizeof(*v));
    if (!v) {
        free(a);
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < set->count; i++) {
        const struct ab_migration *m = &set->items[i];
        const struct applied *ap = find_applied(a, n, m->version);
        struct ab_migration_status *st = &v[k++];

        st->version = m->version;
        snprintf(st->name, sizeof(st->name), "%s", m->name);
        snprintf(st->file_checksum, sizeof(st->file_checksum), "%s", m->up.checksum);
        st->state = AB_MS_PENDING;
        if (ap) {
            st->state = strcmp(ap->checksum, m->up.checksum) ? AB_MS_DRIFTED : AB_MS_APPLIED;
            snprintf(st->applied_at, sizeof(st->applied_at), "%s", ap->applied_at);
            snprintf(st->applied_by, sizeof(st->applied_by), "%s", ap->applied_by);
            snprintf(st->recorded_checksum, sizeof(st->recorded_checksum), "%s", ap->checksum);
            st->duration_ms = ap->duration_ms;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct ab_migration_status *st;

        if (find_migration(set, a[i].version))
            continue;
        st = &v[k++];
        st->version = a[i].version;
        st->state = AB_MS_UNKNOWN;
        snprintf(st->name, sizeof(st->name), "%s", a[i].name);
        snprintf(st->applied_at, sizeof(st->applied_at), "%s", a[i].applied_at);
        snprintf(st->applied_by, sizeof(st->applied_by), "%s", a[i].applied_by);
        snprintf(st->recorded_checksum, sizeof(st->recorded_checksum), "%s", a[i].checksum);
    }
    free(a);
    /* Unknown versions were appended; keep the whole list in version order. */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && v[j - 1].version > v[j].version; j--) {
            struct ab_migration_status t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *count = k;
    return 0;
}

int ab_migrate_history(const char *conninfo, FILE *out, struct ab_error *err)
{
    struct session s;
    PGresult *r = NULL;
    int rc;

    if ((rc = session_open(&s, conninfo, false, err)))
        return rc;
    rc = ab_pg_query(s.work, "SELECT to_regclass('agentbase_migrate.events') IS NOT NULL", 0, NULL,
                     &r, err);
    if (rc || PQgetvalue(r, 0, 0)[0] != 't') {
        if (!rc)
            fprintf(out, "no history: this database was never migrated\n");
        goto out;
    }
    PQclear(r);
    rc = ab_pg_query(s.work,
                     "SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS TZ'), event, name, "
                     "       coalesce(round(duration_ms)::text || ' ms', ''), applied_by, "
                     "       coalesce(error, '') "
                     "  FROM agentbase_migrate.events ORDER BY id",
                     0, NULL, &r, err);
    if (rc)
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        fprintf(out, "%s  %-6s  %-32s %8s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
        if (PQgetvalue(r, i, 5)[0])
            fprintf(out, "    error: %s\n", PQgetvalue(r, i, 5));
    }
    if (PQntuples(r) == 0)
        fprintf(out, "no events yet\n");
out:
    PQclear(r);
    session_close(&s);
    return rc;
}

int ab_migrate_stamp(const char *conninfo, const struct ab_migration_set *set, int version,
                     FILE *out, struct ab_error *err)
{
    struct ab_migrate_opts o;
    struct session s;
    struct applied *a = NULL;
    size_t n = 0, changes = 0;
    int rc;

    ab_migrate_opts_init(&o);
    o.out = out;
    if (version != 0 && !find_migration(set, version))
        return ab_error_set(err, AB_ENOTFOUND, "there is no migration %04d", version);
    if ((rc = session_open(&s, conninfo, true, err)))
        return rc;
    if ((rc = acquire_lock(&s, &o, err)) || (rc = ab_pg_exec(s.work, state_ddl, err)) ||
        (rc = read_applied(s.work, NULL, &a, &n, err)) || (rc = ab_pg_exec(s.work, "BEGIN", err)))
        goto out;
    for (size_t i = 0; i < n && !rc; i++) {
        char v[16];
        const char *params[1] = {v};
        PGresult *r = NULL;

        if (a[i].version <= version)
            continue;
        snprintf(v, sizeof(v), "%d", a[i].version);
        rc = ab_pg_query(s.work,
                         "WITH d AS (DELETE FROM agentbase_migrate.versions WHERE version = $1 "
                         "RETURNING version, name) "
                         "INSERT INTO agentbase_migrate.events (event, version, name, error) "
                         "SELECT 'stamp', version, name, 'forgotten by stamp' FROM d",
                         1, params, &r, err);
        PQclear(r);
        fprintf(out, "forgot    %s\n", a[i].name);
        changes++;
    }
    for (size_t i = 0; i < set->count && !rc; i++) {
        const struct ab_migration *m = &set->items[i];
        const struct applied *ap = find_applied(a, n, m->version);
        char v[16];
        const char *params[3] = {v, m->name, m->up.checksum};
        PGresult *r = NULL;

        if (m->version > version || (ap && strcmp(ap->checksum, m->up.checksum) == 0))
            continue;
        snprintf(v, sizeof(v), "%d", m->version);
        rc = ab_pg_query(s.work,
                         "WITH v AS (INSERT INTO agentbase_migrate.versions "
                         "(version, name, checksum, applied_by) VALUES ($1, $2, $3, " APPLIED_BY
                         ") ON CONFLICT (version) DO UPDATE SET checksum = EXCLUDED.checksum, "
                         "name = EXCLUDED.name RETURNING version) "
                         "INSERT INTO agentbase_migrate.events (event, version, name, checksum) "
                         "SELECT 'stamp', $1, $2, $3 FROM v",
                         3, params, &r, err);
        PQclear(r);
        fprintf(out, "%s %s\n", ap ? "restamped" : "stamped  ", m->name);
        changes++;
    }
    if (!rc)
        rc = ab_pg_exec(s.work, "COMMIT", err);
    if (!rc)
        fprintf(out, "stamped the database at version %04d (%zu change%s)\n", version, changes,
                changes == 1 ? "" : "s");
out:
    free(a);
    session_close(&s);
    return rc;
}
