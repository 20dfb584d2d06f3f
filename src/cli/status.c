/*
 * agentbase status: what an operator checks on the database before it matters, in one
 * command: sizes, bloat, dead tuples, unused indexes, the oldest transactions and the
 * wraparound horizon, connections, the hot tables' autovacuum, replication, WAL archiving
 * and the newest backup. Read only: it changes nothing and takes no lock beyond what a
 * catalog read takes.
 *
 * Each section but the last is one query whose single value is JSON that PostgreSQL built;
 * --json prints them as one object, otherwise a generic renderer prints an object as
 * "key: value" lines and an array of objects as a table (values whose key ends in _bytes
 * shown as sizes). The backup section asks the backup module what the repository holds
 * (the embedded cluster's; "unknown: ..." with the reason for a server agentbase does not
 * manage): it never fails the command.
 */
#include "backup/backup.h"
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "pg/pg.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char status_help[] =
    "usage: agentbase status [--json] [--limit N]\n"
    "\n"
    "Reports on the database (DATABASE_URL, or the embedded cluster), read only:\n"
    "  server          version, size, uptime, schema version\n"
    "  connections     by state\n"
    "  transactions    the oldest running transaction, prepared transactions, and the age\n"
    "                  of datfrozenxid (wraparound: autovacuum must freeze before\n"
    "                  autovacuum_freeze_max_age)\n"
    "  tables          the largest tables with their indexes, live and dead rows\n"
    "  dead_tuples     the tables with the most dead rows, and when autovacuum will run\n"
    "  autovacuum      the hot tables (holds, wallets, quotas, budgets, leases, keys)\n"
    "  indexes         the largest indexes and their scans\n"
    "  unused_indexes  indexes never scanned since the statistics were reset (not\n"
    "                  unique ones: those enforce constraints)\n"
    "  bloat           estimated free space in tables and btree indexes (from planner\n"
    "                  statistics: ANALYZE first for fresh figures)\n"
    "  replication     standbys (pg_stat_replication) and replication slots\n"
    "  archiving       WAL archiving (pg_stat_archiver)\n"
    "  backup          the newest pgBackRest backup of the embedded cluster, or none\n"
    "\n"
    "  --json      one JSON object with those keys\n"
    "  --limit N   rows per list (default 10, at most 1000)\n";

/* ======================================================================================
 * The sections
 * ====================================================================================== */

/* The relations of agentbase's schemas, for the per-table sections. */
#define OUR_SCHEMAS "('agentbase', 'agentbase_migrate')"

/* SCHEMA_VERSION: the expression of the schema version (NULL before any migration). */
#define SERVER_SQL(SCHEMA_VERSION)                                                                 \
    "SELECT json_build_object("                                                                    \
    " 'version', current_setting('server_version'),"                                               \
    " 'database', current_database(),"                                                             \
    " 'database_bytes', pg_database_size(current_database()),"                                     \
    " 'in_recovery', pg_is_in_recovery(),"                                                         \
    " 'started_at', pg_postmaster_start_time(),"                                                   \
    " 'uptime_s', floor(extract(epoch FROM now() - pg_postmaster_start_time()))::bigint,"          \
    " 'schema_version', " SCHEMA_VERSION ","                                                       \
    " 'max_connections', current_setting('max_connections')::int)"

static const char server_sql[] =
    SERVER_SQL("(SELECT max(version) FROM agentbase_migrate.versions)");
/* Without the schema agentbase_migrate the server section still answers. */
static const char server_unmigrated_sql[] = SERVER_SQL("NULL");

static const char connections_sql[] =
    "SELECT coalesce(json_agg(json_build_object('state', state, 'this_database', here, "
    "  'other_databases', other, 'longest_in_state_s', longest) ORDER BY state), '[]') FROM ("
    " SELECT coalesce(state, backend_type) AS state, "
    "   count(*) FILTER (WHERE datname = current_database()) AS here, "
    "   count(*) FILTER (WHERE datname IS DISTINCT FROM current_database()) AS other, "
    "   greatest(floor(max(extract(epoch FROM now() - state_change))), 0)::bigint AS longest "
    "  FROM pg_stat_activity WHERE backend_type IN ('client backend', 'walsender', 'autovacuum "
    "worker') "
    "  GROUP BY 1) s";

static const char transactions_sql[] =
    "SELECT json_build_object("
    " 'database_frozenxid_age', (SELECT age(datfrozenxid) FROM pg_database "
    "                             WHERE datname = current_database()),"
    " 'oldest_frozenxid_age', (SELECT max(age(datfrozenxid)) FROM pg_database),"
    " 'autovacuum_freeze_max_age', current_setting('autovacuum_freeze_max_age')::bigint,"
    " 'oldest_xact_s', floor(extract(epoch FROM now() - o.xact_start))::bigint,"
    " 'oldest_xact_pid', o.pid,"
    " 'oldest_xact_state', o.state,"
    " 'oldest_xact_application', o.application_name,"
    " 'oldest_xact_query', left(o.query, 200),"
    " 'oldest_backend_xmin_age', (SELECT max(age(backend_xmin)) FROM pg_stat_activity),"
    " 'prepared_xacts', (SELECT count(*) FROM pg_prepared_xacts),"
    " 'oldest_prepared_s', (SELECT floor(extract(epoch FROM now() - min(prepared)))::bigint "
    "                         FROM pg_prepared_xacts)) "
    "FROM (SELECT 1) one LEFT JOIN LATERAL ("
    " SELECT pid, state, application_name, query, xact_start FROM pg_stat_activity "
    "  WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() "
    "  ORDER BY xact_start LIMIT 1) o ON true";

static const char tables_sql[] =
    "SELECT coalesce(json_agg(t ORDER BY total_bytes DESC), '[]') FROM ("
    " SELECT c.oid::regclass::text AS \"table\", s.n_live_tup AS live_rows, "
    "   s.n_dead_tup AS dead_rows, pg_table_size(c.oid) AS table_bytes, "
    "   pg_indexes_size(c.oid) AS index_bytes, pg_total_relation_size(c.oid) AS total_bytes, "
    "   greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum, "
    "   greatest(s.last_analyze, s.last_autoanalyze) AS last_analyze "
    "  FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "  WHERE c.relnamespace::regnamespace::text IN " OUR_SCHEMAS " "
    "  ORDER BY pg_total_relation_size(c.oid) DESC LIMIT $1) t";

/* When autovacuum comes: threshold + scale factor x rows, per table where it is set. */
#define VACUUM_AT(c, s)                                                                            \
    "(coalesce((SELECT split_part(o, '=', 2)::bigint FROM unnest(" c ".reloptions) o "             \
    "           WHERE o LIKE 'autovacuum_vacuum_threshold=%'), "                                   \
    "          current_setting('autovacuum_vacuum_threshold')::bigint) + "                         \
    " coalesce((SELECT split_part(o, '=', 2)::float8 FROM unnest(" c ".reloptions) o "             \
    "           WHERE o LIKE 'autovacuum_vacuum_scale_factor=%'), "                                \
    "          current_setting('autovacuum_vacuum_scale_factor')::float8) "                        \
    "   * greatest(" c ".reltuples, 0))::bigint"

static const char dead_tuples_sql[] =
    "SELECT coalesce(json_agg(t ORDER BY dead_rows DESC), '[]') FROM ("
    " SELECT c.oid::regclass::text AS \"table\", s.n_dead_tup AS dead_rows, "
    "   s.n_live_tup AS live_rows, "
    "   round(100.0 * s.n_dead_tup / greatest(s.n_live_tup + s.n_dead_tup, 1), 1) AS dead_pct, "
    "   " VACUUM_AT("c", "s") " AS autovacuum_at, "
                              "   greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum "
                              "  FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
                              "  WHERE c.relnamespace::regnamespace::text IN " OUR_SCHEMAS
                              " AND s.n_dead_tup > 0 "
                              "  ORDER BY s.n_dead_tup DESC LIMIT $1) t";

/* The tables every accounting request updates (docs/operations.md explains the settings). */
static const char autovacuum_sql[] =
    "SELECT coalesce(json_agg(t ORDER BY \"table\"), '[]') FROM ("
    " SELECT c.oid::regclass::text AS \"table\", "
    "   coalesce(array_to_string(c.reloptions, ', '), 'server defaults') AS settings, "
    "   s.n_dead_tup AS dead_rows, " VACUUM_AT(
        "c", "s") " AS autovacuum_at, "
                  "   s.autovacuum_count AS autovacuums, s.last_autovacuum AS last_autovacuum "
                  "  FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
                  "  WHERE c.relnamespace = 'agentbase'::regnamespace::oid AND c.relname IN ("
                  "   'token_holds', 'token_wallets', 'quotas', 'tenant_quotas', 'user_budgets', "
                  "   'agent_leases', 'idempotency_keys')) t";

static const char indexes_sql[] =
    "SELECT coalesce(json_agg(t ORDER BY size_bytes DESC), '[]') FROM ("
    " SELECT s.indexrelid::regclass::text AS index, s.relid::regclass::text AS \"table\", "
    "   pg_relation_size(s.indexrelid) AS size_bytes, s.idx_scan AS scans "
    "  FROM pg_stat_user_indexes s "
    "  WHERE s.schemaname IN " OUR_SCHEMAS " "
    "  ORDER BY pg_relation_size(s.indexrelid) DESC LIMIT $1) t";

static const char unused_indexes_sql[] =
    "SELECT coalesce(json_agg(t ORDER BY size_bytes DESC), '[]') FROM ("
    " SELECT s.indexrelid::regclass::text AS index, s.relid::regclass::text AS \"table\", "
    "   pg_relation_size(s.indexrelid) AS size_bytes, s.idx_scan AS scans "
    "  FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid "
    "  WHERE s.schemaname IN " OUR_SCHEMAS " AND s.idx_scan = 0 "
    "    AND NOT i.indisunique AND NOT i.indisprimary "
    "  ORDER BY pg_relation_size(s.indexrelid) DESC LIMIT $1) t";

/*
 * Estimated bloat: the pages a relation has beyond what its rows need at their average
 * width (pg_stats) and the fill factor. Tables: a row costs its width plus a 24-byte header
 * and a 4-byte line pointer, a page 24 bytes of header. Btree indexes: an entry costs the
 * indexed columns' width plus 8 bytes of header and 4 of line pointer, a page 40 bytes (with
 * the btree special space), filled to 90% by default. Relations without statistics (never
 * analyzed, or an expression index) are left out.
 */
static const char bloat_sql[] =
    "WITH bs AS (SELECT current_setting('block_size')::numeric AS bs), "
    "rel AS ("
    " SELECT c.oid::regclass::text AS relation, 'table' AS kind, c.relpages, c.reltuples, "
    "   coalesce((SELECT split_part(o, '=', 2)::numeric FROM unnest(c.reloptions) o "
    "              WHERE o LIKE 'fillfactor=%'), 100) AS ff, "
    "   (SELECT sum(st.avg_width) FROM pg_stats st "
    "     WHERE st.schemaname = c.relnamespace::regnamespace::text AND st.tablename = c.relname "
    "       AND NOT st.inherited) + 28 AS entry, 24 AS page_overhead "
    "  FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace::regnamespace::text IN " OUR_SCHEMAS
    " "
    " UNION ALL "
    " SELECT c.oid::regclass::text, 'index', c.relpages, c.reltuples, "
    "   coalesce((SELECT split_part(o, '=', 2)::numeric FROM unnest(c.reloptions) o "
    "              WHERE o LIKE 'fillfactor=%'), 90), "
    "   (SELECT CASE WHEN count(*) = i.indnkeyatts THEN sum(st.avg_width) END "
    "      FROM unnest(i.indkey[0:i.indnkeyatts - 1]) k(attnum) "
    "      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
    "      JOIN pg_stats st ON st.schemaname = t.relnamespace::regnamespace::text "
    "       AND st.tablename = t.relname AND st.attname = a.attname AND NOT st.inherited) + 12, "
    "   40 "
    "  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = "
    "i.indrelid "
    "  JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree' "
    "  WHERE t.relkind = 'r' AND c.relnamespace::regnamespace::text IN " OUR_SCHEMAS "), "
    "est AS ("
    " SELECT relation, kind, relpages * bs AS bytes, "
    "   greatest(relpages - ceil(reltuples * entry / ((bs - page_overhead) * ff / 100)) "
    "            - CASE kind WHEN 'index' THEN 1 ELSE 0 END, 0) * bs AS bloat_bytes "
    "  FROM rel, bs WHERE entry IS NOT NULL AND relpages > 0 AND reltuples >= 0) "
    "SELECT coalesce(json_agg(json_build_object('relation', relation, 'kind', kind, "
    "  'size_bytes', bytes::bigint, 'estimated_bloat_bytes', bloat_bytes::bigint, "
    "  'estimated_bloat_pct', round((100 * bloat_bytes / bytes)::numeric, 1)) "
    "  ORDER BY bloat_bytes DESC, relation), '[]') "
    "FROM (SELECT * FROM est WHERE bloat_bytes > 0 ORDER BY bloat_bytes DESC LIMIT $1) e";

static const char replication_sql[] =
    "SELECT json_build_object("
    " 'role', CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END,"
    " 'replay_lag_s', CASE WHEN pg_is_in_recovery() THEN "
    "   floor(extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::bigint END,"
    " 'standbys', (SELECT coalesce(json_agg(json_build_object("
    "   'application', application_name, 'client', client_addr, 'state', state, "
    "   'sync', sync_state, "
    "   'replay_lag_bytes', CASE WHEN NOT pg_is_in_recovery() "
    "     THEN pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint END, "
    "   'replay_lag_s', extract(epoch FROM replay_lag)) ORDER BY application_name), '[]') "
    "   FROM pg_stat_replication),"
    " 'slots', (SELECT coalesce(json_agg(json_build_object("
    "   'slot', slot_name, 'type', slot_type, 'active', active, "
    "   'retained_wal_bytes', CASE WHEN NOT pg_is_in_recovery() AND restart_lsn IS NOT NULL "
    "     THEN pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END, "
    "   'wal_status', wal_status) ORDER BY slot_name), '[]') FROM pg_replication_slots))";

static const char archiving_sql[] =
    "SELECT json_build_object("
    " 'archive_mode', current_setting('archive_mode'),"
    " 'archive_command', nullif(current_setting('archive_command'), ''),"
    " 'archived_count', archived_count, 'last_archived_wal', last_archived_wal, "
    " 'last_archived_at', last_archived_time, 'failed_count', failed_count, "
    " 'last_failed_wal', last_failed_wal, 'last_failed_at', last_failed_time, "
    " 'failing', failed_count > 0 AND last_failed_time IS NOT NULL "
    "   AND (last_archived_time IS NULL OR last_failed_time > last_archived_time)) "
    "FROM pg_stat_archiver";

static const struct section {
    const char *name;
    const char *sql;
    bool limited; /* takes $1, the --limit */
} sections[] = {
    {"server", server_sql, false},
    {"connections", connections_sql, false},
    {"transactions", transactions_sql, false},
    {"tables", tables_sql, true},
    {"dead_tuples", dead_tuples_sql, true},
    {"autovacuum", autovacuum_sql, false},
    {"indexes", indexes_sql, true},
    {"unused_indexes", unused_indexes_sql, true},
    {"bloat", bloat_sql, true},
    {"replication", replication_sql, false},
    {"archiving", archiving_sql, false},
};

/* One section's JSON into out[name]. */
static int run_section(PGconn *conn, const struct section *s, const char *limit, json_t *out,
                       struct ab_error *err)
{
    const char *params[] = {limit};
    json_error_t jerr;
    PGresult *res;
    json_t *v;
    int rc = ab_pg_query(conn, s->sql, s->limited ? 1 : 0, s->limited ? params : NULL, &res, err);

    if (rc) {
        ab_error_prefix(err, "status %s", s->name);
        return rc;
    }
    v = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
    PQclear(res);
    if (!v)
        return ab_error_set(err, AB_EDB, "status %s: the server's JSON does not parse: %s", s->name,
                            jerr.text);
    json_object_set_new(out, s->name, v);
    return 0;
}

/* ======================================================================================
 * The newest backup (the backup module's reading of pgBackRest's report)
 * ====================================================================================== */

/* The backup section: never an error, only what could be learnt. */
static json_t *backup_section(const struct ab_config *cfg)
{
    struct ab_backup b;
    struct ab_backup_info info;
    struct ab_error err = {0};
    const struct ab_backup_set *set;
    json_t *v;

    if (ab_backup_init(&b, cfg, &err) || ab_backup_info(&b, &info, &err))
        return json_pack("{s:n, s:n, s:s+}", "repository", "newest", "status",
                         "unknown: ", err.message);
    if (info.n == 0) {
        v = json_pack("{s:s, s:n, s:s}", "repository", b.object_store ? "(object store)" : b.repo,
                      "newest", "status", "none (no backup in the repository)");
    } else {
        char at[32];
        struct tm tm;

        set = &info.sets[info.n - 1];
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&set->stop, &tm));
        v = json_pack("{s:s, s:{s:s, s:s, s:s, s:I, s:I}, s:s}", "repository",
                      b.object_store ? "(object store)" : b.repo, "newest", "label", set->label,
                      "type", set->type, "stopped_at", at, "age_s",
                      (json_int_t)(time(NULL) - set->stop), "size_bytes", (json_int_t)set->size,
                      "status", "ok");
    }
    ab_backup_info_free(&info);
    return v;
}

/* ======================================================================================
 * Text output
 * ====================================================================================== */

/* A value as text; sizes for keys ending in _bytes. Writes into buf (n bytes). */
static const char *cell(const char *key, json_t *v, char *buf, size_t n)
{
    size_t klen = strlen(key);

    if (!v || json_is_null(v))
        return "-";
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_true(v))
        return "yes";
    if (json_is_false(v))
        return "no";
    if (json_is_integer(v) && klen > 6 && strcmp(key + klen - 6, "_bytes") == 0) {
        static const char *units[] = {"B", "kB", "MB", "GB", "TB"};
        double x = (double)json_integer_value(v);
        int u = 0;

        while (x >= 1024 && u < 4) {
            x /= 1024;
            u++;
        }
        snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", x, units[u]);
        return buf;
    }
    if (json_is_integer(v)) {
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, n, "%g", json_real_value(v));
        return buf;
    }
    {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

        snprintf(buf, n, "%s", s ? s : "?");
        free(s);
        return buf;
    }
}

/* A header from a key: its _bytes suffix dropped (the cells say the unit). */
static void header(const char *key, char *buf, size_t n)
{
    size_t len = strlen(key);

    if (len > 6 && strcmp(key + len - 6, "_bytes") == 0)
        len -= 6;
    snprintf(buf, n, "%.*s", (int)len, key);
}

/* An array of objects as a table with the first object's keys as columns. */
static void print_table(const char *indent, json_t *rows)
{
    json_t *first = json_array_get(rows, 0), *row, *v;
    size_t widths[32] = {0}, ncol = 0, i;
    const char *key;
    char buf[256], head[64];

    if (!first) {
        printf("%s(none)\n", indent);
        return;
    }
    json_object_foreach(first, key, v)
    {
        if (ncol == AB_ARRAY_LEN(widths))
            break;
        header(key, head, sizeof(head));
        widths[ncol++] = strlen(head);
    }
    json_array_foreach(rows, i, row)
    {
        size_t c = 0;

        json_object_foreach(first, key, v)
        {
            size_t w;

            if (c == ncol)
                break;
            w = strlen(cell(key, json_object_get(row, key), buf, sizeof(buf)));
            if (w > widths[c])
                widths[c] = w > 60 ? 60 : w;
            c++;
        }
    }
    for (int pass = 0; pass < 1 + (int)json_array_size(rows); pass++) {
        size_t c = 0;

        fputs(indent, stdout);
        row = pass ? json_array_get(rows, (size_t)pass - 1) : NULL;
        json_object_foreach(first, key, v)
        {
            const char *text;

            if (c == ncol)
                break;
            if (pass) {
                text = cell(key, json_object_get(row, key), buf, sizeof(buf));
            } else {
                header(key, head, sizeof(head));
                text = head;
            }
            printf("%s%-*.*s", c ? "  " : "", c + 1 < ncol ? (int)widths[c] : 0, 60, text);
            c++;
        }
        fputc('\n', stdout);
    }
}

static void print_section(const char *name, json_t *v)
{
    const char *key;
    json_t *x;
    char buf[256];

    printf("%s\n", name);
    if (json_is_array(v)) {
        print_table("  ", v);
    } else {
        json_object_foreach(v, key, x)
        {
            if (json_is_array(x)) {
                printf("  %s:\n", key);
                print_table("    ", x);
            } else if (json_is_object(x)) {
                const char *k2;
                json_t *y;

                printf("  %s:\n", key);
                json_object_foreach(x, k2, y)
                    printf("    %-24s %s\n", k2, cell(k2, y, buf, sizeof(buf)));
            } else {
                printf("  %-26s %s\n", key, cell(key, x, buf, sizeof(buf)));
            }
        }
    }
    fputc('\n', stdout);
}

/* ======================================================================================
 * The command
 * ====================================================================================== */

static int collect(const struct ab_config *cfg, long limit, json_t *out, struct ab_error *err)
{
    char conninfo[4096], lim[24];
    PGconn *conn = NULL;
    PGresult *res = NULL;
    bool migrated;
    int rc;

    snprintf(lim, sizeof(lim), "%ld", limit);
    if ((rc = ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), err)) ||
        (rc = ab_pg_connect(conninfo, "agentbase status", &conn, err))) {
        ab_cli_connect_hint(cfg, err);
        goto out;
    }
    if ((rc = ab_pg_query(conn, "SELECT to_regclass('agentbase_migrate.versions') IS NOT NULL", 0,
                          NULL, &res, err)))
        goto out;
    migrated = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    for (size_t i = 0; i < AB_ARRAY_LEN(sections) && !rc; i++) {
        struct section s = sections[i];

        if (s.sql == server_sql && !migrated)
            s.sql = server_unmigrated_sql;
        rc = run_section(conn, &s, lim, out, err);
    }
    if (!rc)
        json_object_set_new(out, "backup", backup_section(cfg));
out:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int ab_cli_status(const struct ab_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                         {"limit", required_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct ab_error err;
    bool as_json = false;
    long limit = 10;
    json_t *out;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(status_help, stdout);
            return AB_EXIT_OK;
        }
        if (c == 'j')
            as_json = true;
        else if (c == 'l') {
            if (!ab_cli_parse_int(optarg, 1000, &limit) || limit < 1)
                return ab_cli_usage_error("status", "--limit takes a number from 1 to 1000");
        } else
            return ab_cli_usage_error("status", "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
    }
    if (optind < argc)
        return ab_cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
    out = json_object();
    if (!out)
        return AB_EXIT_FAIL;
    if (collect(cfg, limit, out, &err) != 0) {
        json_decref(out);
        return ab_cli_fail(&err);
    }
    if (as_json) {
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        const char *key;
        json_t *v;

        json_object_foreach(out, key, v) print_section(key, v);
    }
    json_decref(out);
    return AB_EXIT_OK;
}
