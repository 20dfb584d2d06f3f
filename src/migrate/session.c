/*
 * A migrator's session with the database: a connection for the work and one of its own
 * for the migration lock, and the state the engine keeps there (the schema
 * agentbase_migrate), with what reads it.
 *
 * The lock is session-level on the lock connection, which never runs a migration: it dies
 * with the process (no stale lock), and the connection stays idle outside a transaction,
 * so CREATE INDEX CONCURRENTLY on the work connection does not wait for it. Waiting
 * migrators poll pg_try_advisory_lock in short transactions and say who holds the lock.
 * Both connections set client_connection_check_interval, so that the server notices a
 * killed migrator during a long statement.
 */
#include "migrate/session.h"
#include "pg/pg.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char ab_migrate_state_ddl[] =
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

/* ======================================================================================
 * Connections and the lock
 * ====================================================================================== */

void ab_migrate_session_close(struct ab_migrate_session *s)
{
    if (s->lock && s->locked) {
        PGresult *r = PQexec(s->lock, "SELECT pg_advisory_unlock(" AB_MIGRATE_LOCK_K1
                                      ", " AB_MIGRATE_LOCK_K2 ")");
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

int ab_migrate_session_open(struct ab_migrate_session *s, const char *conninfo, bool with_lock,
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
            ab_migrate_session_close(s);
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
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = " AB_MIGRATE_LOCK_K1
        "   AND l.objid = " AB_MIGRATE_LOCK_K2 " AND l.objsubid = 2";
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

int ab_migrate_lock(struct ab_migrate_session *s, const struct ab_migrate_opts *o,
                    struct ab_error *err)
{
    double start = ab_now_ms(), last_said = -1e9;
    int rc;

    for (;;) {
        PGresult *r;

        rc = ab_pg_query(
            s->lock, "SELECT pg_try_advisory_lock(" AB_MIGRATE_LOCK_K1 ", " AB_MIGRATE_LOCK_K2 ")",
            0, NULL, &r, err);
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

int ab_migrate_read_applied(PGconn *conn, const char *since, struct ab_migrate_applied **out,
                            size_t *count, struct ab_error *err)
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
        struct ab_migrate_applied *a = &(*out)[i];

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

const struct ab_migrate_applied *ab_migrate_find_applied(const struct ab_migrate_applied *a,
                                                         size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].version == version)
            return &a[i];
    return NULL;
}

int ab_migrate_current(PGconn *conn, int *version, struct ab_error *err)
{
    struct ab_migrate_applied *a;
    size_t n;
    int rc = ab_migrate_read_applied(conn, NULL, &a, &n, err);

    *version = (rc == 0 && n > 0) ? a[n - 1].version : 0;
    free(a);
    return rc;
}
