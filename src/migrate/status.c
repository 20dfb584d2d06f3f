/*
 * Inspecting the state without running a migration: status (which verify reads), history,
 * and stamp, which records versions as applied (or forgets them) under the migration lock.
 */
#include "migrate/migrate.h"
#include "migrate/session.h"
#include "pg/pg.h"

#include <stdlib.h>
#include <string.h>

int ab_migrate_status(const char *conninfo, const struct ab_migration_set *set,
                      struct ab_migration_status **out, size_t *count, struct ab_error *err)
{
    struct ab_migrate_session s;
    struct ab_migrate_applied *a = NULL;
    struct ab_migration_status *v;
    size_t n = 0, k = 0;
    int rc;

    *out = NULL;
    *count = 0;
    if ((rc = ab_migrate_session_open(&s, conninfo, false, err)))
        return rc;
    rc = ab_migrate_read_applied(s.work, NULL, &a, &n, err);
    ab_migrate_session_close(&s);
    if (rc)
        return rc;
    v = calloc(set->count + n + 1, sizeof(*v));
    if (!v) {
        free(a);
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < set->count; i++) {
        const struct ab_migration *m = &set->items[i];
        const struct ab_migrate_applied *ap = ab_migrate_find_applied(a, n, m->version);
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

        if (ab_migrate_find(set, a[i].version))
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
    struct ab_migrate_session s;
    PGresult *r = NULL;
    int rc;

    if ((rc = ab_migrate_session_open(&s, conninfo, false, err)))
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
    ab_migrate_session_close(&s);
    return rc;
}

int ab_migrate_stamp(const char *conninfo, const struct ab_migration_set *set, int version,
                     FILE *out, struct ab_error *err)
{
    struct ab_migrate_opts o;
    struct ab_migrate_session s;
    struct ab_migrate_applied *a = NULL;
    size_t n = 0, changes = 0;
    int rc;

    ab_migrate_opts_init(&o);
    o.out = out;
    if (version != 0 && !ab_migrate_find(set, version))
        return ab_error_set(err, AB_ENOTFOUND, "there is no migration %04d", version);
    if ((rc = ab_migrate_session_open(&s, conninfo, true, err)))
        return rc;
    if ((rc = ab_migrate_lock(&s, &o, err)) ||
        (rc = ab_pg_exec(s.work, ab_migrate_state_ddl, err)) ||
        (rc = ab_migrate_read_applied(s.work, NULL, &a, &n, err)) ||
        (rc = ab_pg_exec(s.work, "BEGIN", err)))
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
        const struct ab_migrate_applied *ap = ab_migrate_find_applied(a, n, m->version);
        char v[16];
        const char *params[3] = {v, m->name, m->up.checksum};
        PGresult *r = NULL;

        if (m->version > version || (ap && strcmp(ap->checksum, m->up.checksum) == 0))
            continue;
        snprintf(v, sizeof(v), "%d", m->version);
        rc = ab_pg_query(
            s.work,
            "WITH v AS (INSERT INTO agentbase_migrate.versions "
            "(version, name, checksum, applied_by) VALUES ($1, $2, $3, " AB_MIGRATE_APPLIED_BY
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
    ab_migrate_session_close(&s);
    return rc;
}
