/*
 * Running migrations: up, down, and plan (what up or down would run, as a psql script).
 *
 * Design: every step (applying or reverting one migration) is a list of SQL statements
 * built in one place: step_before() and step_after() around the script's own. `migrate
 * up/down` executes that list and `migrate plan` prints it, so the plan is by construction
 * what would run. The statements that record state use literals, not parameters, for that
 * reason; the only values in them are versions, names and checksums that ab_migrate_load
 * has already checked to be digits, [a-z0-9_] and hex.
 *
 * Safety properties and where they come from:
 * - all or nothing: a step's statements and its state rows are one transaction;
 * - no stale lock: the advisory lock is session-level on a connection of its own, so it
 *   dies with the process; client_connection_check_interval makes the server notice a
 *   killed migrator during a long statement (both in session.c);
 * - no hang behind the application: lock_timeout is set for every step;
 * - CREATE INDEX CONCURRENTLY works: the lock connection is idle outside a transaction,
 *   and waiting migrators only poll pg_try_advisory_lock in short transactions; an index
 *   an interrupted build left invalid is dropped before the retry.
 */
#include "migrate/migrate.h"
#include "migrate/session.h"
#include "pg/pg.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long the step took, from the start its `before` statements record. */
#define DURATION                                                                                   \
    "round(extract(epoch FROM clock_timestamp() - "                                                \
    "current_setting('agentbase_migrate.started')::timestamptz) * 1000, 1)"

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

    ab_buf_init(&sql, AB_MIGRATE_MAX_FILE_BYTES);
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
                           "VALUES (%d, '%s', '%s', " DURATION ", " AB_MIGRATE_APPLIED_BY ");\n",
                           m->version, m->name, m->up.checksum);
    else
        rc = ab_buf_printf(b, "DELETE FROM agentbase_migrate.versions WHERE version = %d;\n",
                           m->version);
    if (rc)
        return rc;
    return ab_buf_printf(b,
                         "INSERT INTO agentbase_migrate.events "
                         "(event, version, name, checksum, duration_ms, applied_by) "
                         "VALUES ('%s', %d, '%s', '%s', " DURATION ", " AB_MIGRATE_APPLIED_BY ");\n"
                         "COMMIT;\n",
                         st->up ? "deploy" : "revert", m->version, m->name, st->script->checksum);
}
/* ======================================================================================
 * Choosing the steps
 * ====================================================================================== */

/* Refuses to go up when the database and the binary disagree about the past. */
static int check_history(const struct ab_migration_set *set, const struct ab_migrate_applied *a,
                         size_t n, struct ab_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct ab_migration *m = ab_migrate_find(set, a[i].version);

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
    struct ab_migrate_applied *a = NULL;
    size_t n = 0;
    int rc, newest;

    *nsteps = 0;
    if ((rc = ab_migrate_read_applied(conn, NULL, &a, &n, err)))
        return rc;
    newest = n ? a[n - 1].version : 0;
    if (o->direction == AB_MIGRATE_UP) {
        int to = o->to_version ? o->to_version : ab_migrate_head(set);

        if (o->to_version && !ab_migrate_find(set, o->to_version)) {
            rc = ab_error_set(err, AB_ENOTFOUND, "there is no migration %04d", o->to_version);
            goto out;
        }
        if ((rc = check_history(set, a, n, err)))
            goto out;
        for (size_t i = 0; i < set->count; i++) {
            const struct ab_migration *m = &set->items[i];

            if (m->version > to || ab_migrate_find_applied(a, n, m->version))
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
        struct ab_migrate_applied *since = NULL;
        size_t nsince = 0;

        if (o->to_date[0] && (rc = ab_migrate_read_applied(conn, o->to_date, &since, &nsince, err)))
            goto out;
        for (size_t i = n; i-- > 0;) {
            const struct ab_migration *m = ab_migrate_find(set, a[i].version);
            bool take;

            if (o->to_date[0])
                take = ab_migrate_find_applied(since, nsince, a[i].version) != NULL;
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
    struct ab_migrate_session s;
    struct step *steps = calloc(set->count ? set->count : 1, sizeof(*steps));
    size_t nsteps = 0;
    bool tty = isatty(fileno(o->out));
    double total = ab_now_ms();
    char took[32];
    int rc;

    if (!steps)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    if ((rc = ab_migrate_session_open(&s, conninfo, true, err)))
        goto out_free;
    if ((rc = ab_migrate_lock(&s, o, err)) ||
        (rc = ab_pg_exec(s.work, ab_migrate_state_ddl, err)) ||
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
    ab_migrate_session_close(&s);
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
    struct ab_migrate_session s;
    struct step *steps = calloc(set->count ? set->count : 1, sizeof(*steps));
    struct ab_buf b;
    size_t nsteps = 0;
    int rc;

    ab_buf_init(&b, 64 * 1024);
    if (!steps)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    if ((rc = ab_migrate_session_open(&s, conninfo, false, err)))
        goto out_free;
    if ((rc = choose_steps(s.work, set, o, steps, &nsteps, err)))
        goto out;
    fprintf(o->out,
            "-- agentbase migrate plan: %zu migration%s to %s. Run with:\n"
            "--   psql -X -v ON_ERROR_STOP=1 -f THIS_FILE \"$DATABASE_URL\"\n"
            "\\set ON_ERROR_STOP on\n"
            "SELECT pg_advisory_lock(" AB_MIGRATE_LOCK_K1 ", " AB_MIGRATE_LOCK_K2 ");\n%s",
            nsteps, nsteps == 1 ? "" : "s", o->direction == AB_MIGRATE_UP ? "apply" : "revert",
            ab_migrate_state_ddl);
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
        fprintf(o->out,
                "\nSELECT pg_advisory_unlock(" AB_MIGRATE_LOCK_K1 ", " AB_MIGRATE_LOCK_K2 ");\n");
out:
    ab_migrate_session_close(&s);
out_free:
    free(steps);
    ab_buf_free(&b);
    return rc;
}
