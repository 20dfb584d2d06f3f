#include "pg/pg.h"

#include <string.h>

static void copy_field(char *dst, size_t n, const PGresult *res, int field)
{
    const char *v = res ? PQresultErrorField(res, field) : NULL;

    snprintf(dst, n, "%s", v ? v : "");
}

int ab_pg_error(PGconn *conn, const PGresult *res, struct ab_error *err)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char *p;

    if (!msg)
        msg = conn ? PQerrorMessage(conn) : "no connection";
    ab_error_set(err, AB_EDB, "%s", msg);
    /* libpq's connection messages end in a newline; ours do not. */
    for (p = err->message + strlen(err->message); p > err->message && p[-1] == '\n';)
        *--p = '\0';
    /* ... and their second lines are indented with a tab: keep one line. */
    for (p = err->message; (p = strstr(p, "\n\t"));)
        memcpy(p, "; ", 2);
    copy_field(err->sqlstate, sizeof(err->sqlstate), res, PG_DIAG_SQLSTATE);
    copy_field(err->detail, sizeof(err->detail), res, PG_DIAG_MESSAGE_DETAIL);
    copy_field(err->hint, sizeof(err->hint), res, PG_DIAG_MESSAGE_HINT);
    return AB_EDB;
}

int ab_pg_connect(const char *conninfo, const char *application_name, PGconn **out,
                  struct ab_error *err)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo, application_name, "10", NULL};
    PGconn *conn;

    *out = NULL;
    /* expand_dbname lets dbname carry a whole URL or key=value string. */
    conn = PQconnectdbParams(keys, vals, 1);
    if (!conn)
        return ab_error_set(err, AB_ENOMEM, "out of memory connecting to PostgreSQL");
    if (PQstatus(conn) != CONNECTION_OK) {
        ab_pg_error(conn, NULL, err);
        ab_error_prefix(err, "cannot connect to PostgreSQL");
        PQfinish(conn);
        return AB_EDB;
    }
    *out = conn;
    return 0;
}

int ab_pg_exec(PGconn *conn, const char *sql, struct ab_error *err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
        rc = ab_pg_error(conn, res, err);
    PQclear(res);
    return rc;
}

int ab_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                PGresult **out, struct ab_error *err)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    *out = NULL;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = ab_pg_error(conn, res, err);
        PQclear(res);
        return rc;
    }
    *out = res;
    return 0;
}
