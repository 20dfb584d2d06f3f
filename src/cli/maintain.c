/*
 * agentbase maintain: the periodic jobs, safe to run at any time and as often as wanted
 * (from cron, a systemd timer, or by hand). Each job is idempotent: running maintain twice
 * in a row does nothing the second time.
 */
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "pg/pg.h"

#include <stdlib.h>
#include <string.h>

static const char maintain_help[] =
    "usage: agentbase maintain [TASK...]\n"
    "\n"
    "Runs the periodic jobs (all of them, or the TASKs named) and prints what each did:\n"
    "  expire       release reservations past their expiry (the server does this too,\n"
    "               every second, while it runs)\n"
    "  leases       reclaim agent leases past their expiry: their agents' load goes down\n"
    "               (their slots are free at expiry already; the server does it too)\n"
    "  containers   mark running containers without activity for more than 30 minutes\n"
    "               sleeping (GET /v1/containers/idle lists them)\n"
    "  daily        reset the daily quotas (and the monthly token counts) that are due\n"
    "  monthly      reset the token wallets per their plan's policy, once a month\n"
    "  rollups      roll the hourly cost rollups up into daily, weekly, monthly, yearly\n"
    "  metrics      aggregate the performance metrics per hour and day (count, min, max,\n"
    "               avg, p50, p95, p99), per agent and tenant-wide\n"
    "  partitions   create the monthly partitions of the append-only logs 3 months ahead\n"
    "  idempotency  delete idempotency keys past their expiry (7 days)\n"
    "  indexes      create the HNSW indexes that new collections' dimensions and metrics\n"
    "               need, CONCURRENTLY (writes go on); until then they are searched exactly\n"
    "  retention    remove what each tenant's plan (or its own shorter setting) no longer\n"
    "               keeps: whole monthly partitions once no tenant keeps them, else rows in\n"
    "               batches; prompts emptied, resolved holds, the ledger folded into one\n"
    "               carried-forward entry per wallet; prints what went, per kind\n"
    "  backup       on the embedded cluster, the backup AGENTBASE_BACKUP_SCHEDULE says is\n"
    "               due (default: full weekly, incr daily; see agentbase backup --help)\n"
    "\n"
    "Every job is idempotent; run it every few minutes, or at least once a day.\n";

/*
 * The HNSW indexes that live collections need (0021): each CREATE INDEX CONCURRENTLY that
 * agentbase.chunk_index_statements() lists, one at a time, outside any transaction as
 * CONCURRENTLY must be. *n: how many were created.
 */
static int create_indexes(PGconn *conn, long *n, struct ab_error *err)
{
    PGresult *res;
    int rc = ab_pg_query(conn, "SELECT agentbase.chunk_index_statements(true)", 0, NULL, &res, err);

    *n = 0;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        if ((rc = ab_pg_exec(conn, PQgetvalue(res, i, 0), err)) == 0)
            (*n)++;
    PQclear(res);
    return rc;
}

/*
 * Retention (0023): agentbase.retention_run() removes at most a batch of rows per kind and
 * call, each call its own transaction under a statement timeout, until a call removes
 * nothing; then one line per kind with what went. *n: rows and partitions in all.
 */
static int run_retention(PGconn *conn, long *n, struct ab_error *err)
{
    enum { MAX_KINDS = 32 };
    char kinds[MAX_KINDS][64] = {{0}};
    long rows[MAX_KINDS] = {0}, parts[MAX_KINDS] = {0}, step;
    int nkinds = 0, rc = ab_pg_exec(conn, "SET statement_timeout = '120s'", err);

    *n = 0;
    do {
        PGresult *res;

        step = 0;
        if (rc == 0)
            rc = ab_pg_query(conn,
                             "SELECT kind, rows_removed, partitions_dropped "
                             "  FROM agentbase.retention_run(5000)",
                             0, NULL, &res, err);
        if (rc != 0)
            break;
        nkinds = PQntuples(res) < MAX_KINDS ? PQntuples(res) : MAX_KINDS;
        for (int i = 0; i < nkinds; i++) {
            long r = atol(PQgetvalue(res, i, 1)), p = atol(PQgetvalue(res, i, 2));

            snprintf(kinds[i], sizeof(kinds[i]), "%s", PQgetvalue(res, i, 0));
            rows[i] += r;
            parts[i] += p;
            step += r + p;
        }
        PQclear(res);
        *n += step;
    } while (step > 0);
    for (int i = 0; rc == 0 && i < nkinds; i++)
        printf("%-12s %-20s %ld rows, %ld partitions\n", "retention", kinds[i], rows[i], parts[i]);
    if (rc == 0)
        rc = ab_pg_exec(conn, "RESET statement_timeout", err);
    return rc;
}

/*
 * Each job: a name and one statement returning one count, each in its own transaction, or
 * a function of its own (run). A job in chunks runs again while its last run did something
 * (expiry: 1,000 holds a batch, so that no transaction grows with the backlog).
 */
static const struct {
    const char *name;
    const char *sql;
    bool chunks;
    int (*run)(PGconn *conn, long *n, struct ab_error *err);
} jobs[] = {
    {"expire", "SELECT agentbase.usage_expire_holds(1000)", true, NULL},
    {"leases", "SELECT agentbase.agent_leases_expire(1000)", true, NULL},
    {"containers", "SELECT agentbase.containers_sleep_idle(30, 1000)", true, NULL},
    {"daily", "SELECT agentbase.reset_daily_quotas()", false, NULL},
    {"monthly", "SELECT agentbase.reset_monthly_tokens()", false, NULL},
    {"rollups", "SELECT agentbase.usage_rollup()", false, NULL},
    {"metrics", "SELECT agentbase.performance_rollup()", false, NULL},
    {"partitions",
     "SELECT coalesce(sum(agentbase.ensure_monthly_partitions(c.oid::regclass)), 0) "
     "  FROM pg_class c WHERE c.relkind = 'p' AND c.relispartition = false "
     "   AND c.relnamespace = 'agentbase'::regnamespace",
     false, NULL},
    {"idempotency",
     "WITH d AS (DELETE FROM agentbase.idempotency_keys WHERE expires_at < now() "
     "RETURNING 1) SELECT count(*) FROM d",
     false, NULL},
    {"indexes", NULL, false, create_indexes},
    {"retention", NULL, false, run_retention},
    {"backup", NULL, false, NULL}, /* pgBackRest's job, not the connection's: see below */
};

int ab_cli_maintain(const struct ab_config *cfg, int argc, char **argv)
{
    bool chosen[AB_ARRAY_LEN(jobs)] = {false};
    bool any = false;
    struct ab_error err;
    char conninfo[4096];
    PGconn *conn = NULL;
    PGresult *res;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        size_t j = 0;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(maintain_help, stdout);
            return AB_EXIT_OK;
        }
        while (j < AB_ARRAY_LEN(jobs) && strcmp(argv[i], jobs[j].name) != 0)
            j++;
        if (j == AB_ARRAY_LEN(jobs))
            return ab_cli_usage_error("maintain", "unknown task '%s'", argv[i]);
        chosen[j] = any = true;
    }
    if (ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), &err) != 0 ||
        ab_pg_connect(conninfo, "agentbase maintain", &conn, &err) != 0 ||
        ab_pg_exec(conn, "SET ROLE agentbase_owner", &err) != 0) {
        if (conn)
            PQfinish(conn);
        ab_cli_connect_hint(cfg, &err);
        return ab_cli_fail(&err);
    }
    for (size_t i = 0; i < AB_ARRAY_LEN(jobs) && rc == 0; i++) {
        long total = 0, n;

        if (any && !chosen[i])
            continue;
        do {
            if (strcmp(jobs[i].name, "backup") == 0) {
                rc = ab_cli_backup_scheduled(cfg, &n, &err);
            } else if (jobs[i].run) {
                rc = jobs[i].run(conn, &n, &err);
            } else {
                rc = ab_pg_query(conn, jobs[i].sql, 0, NULL, &res, &err);
                n = rc == 0 ? atol(PQgetvalue(res, 0, 0)) : 0;
                PQclear(res);
            }
            total += n;
        } while (rc == 0 && jobs[i].chunks && n > 0);
        if (rc == 0)
            printf("%-12s %ld\n", jobs[i].name, total);
    }
    PQfinish(conn);
    return rc ? ab_cli_fail(&err) : AB_EXIT_OK;
}
