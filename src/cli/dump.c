/*
 * agentbase dump / agentbase load: a logical export of agentbase's database that restores
 * into any PostgreSQL server, for servers whose backups agentbase does not manage.
 *
 * A plain pg_dump is not enough: agentbase's objects belong to roles (agentbase_owner, the
 * roles its policies and grants name), which are cluster-wide and so absent from pg_dump's
 * output, and the database's own settings (ALTER DATABASE ... SET search_path) come with
 * pg_dump only when it also creates the database. Restored into a fresh cluster, such a
 * dump fails on every owner, grant and policy. So a dump here is one plain SQL file:
 *
 *   1. a header: a check that the target server has the extensions the database uses, the
 *      roles (created only where missing, with their attributes, never a superuser, never
 *      a password unless --role-passwords), their memberships and settings, and the
 *      loading user made a member of the roles that own objects;
 *   2. pg_dump's plain output of the whole database (schemas, extensions, data, policies,
 *      grants, default privileges), from the pg_dump of the server's major version;
 *   3. a footer: the database's settings and privileges, applied to whatever the target
 *      database is called.
 * The header and footer are read from the same snapshot as pg_dump's (pg_export_snapshot),
 * so the three agree. The file loads with agentbase load, or with plain psql
 * (`psql -v ON_ERROR_STOP=1 --single-transaction -f FILE`).
 *
 * load refuses a database that holds anything beyond an empty public schema, unless
 * --force, which drops that content first. It runs psql with ON_ERROR_STOP in a single
 * transaction, so a load that fails leaves the target as it was (--force's drops included).
 *
 * The programs are PostgreSQL's own (cluster/cluster.h finds them); the connection reaches
 * them through libpq's environment variables, so a password in DATABASE_URL never shows in
 * a process list.
 */
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "migrate/migrate.h"
#include "pg/pg.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The first line of every dump; load checks it. */
#define DUMP_MAGIC "-- agentbase dump, format 1"
/* Its last line: a dump without it was cut short, and load commits nothing of it. */
#define DUMP_END "\n-- end of agentbase dump\n"

static const char dump_help[] =
    "usage: agentbase dump [--output FILE|-] [--role-passwords]\n"
    "\n"
    "Writes a logical export of agentbase's database (DATABASE_URL, or the embedded\n"
    "cluster) as one SQL file that `agentbase load` restores into any PostgreSQL server:\n"
    "the roles agentbase's objects need (created only where missing; attributes and\n"
    "memberships, never SUPERUSER), then pg_dump's output of the whole database (schemas,\n"
    "extensions, rows, policies, grants), then the database's settings (search_path).\n"
    "\n"
    "  --output FILE|-    where to write it (default -: standard output, not a terminal);\n"
    "                     a FILE is written beside itself and renamed when complete (0600)\n"
    "  --role-passwords   also carry the roles' password hashes (needs a superuser)\n"
    "\n"
    "The user of DATABASE_URL must read every row: a superuser or a role with BYPASSRLS.\n"
    "pg_dump comes from AGENTBASE_PG_BINDIR, else /usr/lib/postgresql/<server major>/bin.\n"
    "The dump holds sealed secrets but never their key: back up AGENTBASE_SECRET_KEY apart.\n";

static const char load_help[] =
    "usage: agentbase load [--input FILE|-] [--force]\n"
    "\n"
    "Restores a file written by `agentbase dump` into the database of DATABASE_URL (or the\n"
    "embedded cluster's): creates the missing roles, then loads everything with psql in one\n"
    "transaction, stopping at the first error (which leaves the database as it was), then\n"
    "checks the migrations as `agentbase migrate verify` does.\n"
    "\n"
    "  --input FILE|-   the dump (default -: standard input, not a terminal)\n"
    "  --force          load into a database that is not empty: first drop, in the same\n"
    "                   transaction, every schema but public, every extension but plpgsql,\n"
    "                   and every table, view, sequence, function and type in public.\n"
    "                   Roles are never dropped; existing roles are left as they are.\n"
    "\n"
    "The user of DATABASE_URL needs to create roles and extensions: a superuser, or a role\n"
    "with CREATEROLE that may create the extensions the dump names.\n";

/* ======================================================================================
 * Running pg_dump and psql
 * ====================================================================================== */

/*
 * In a child: libpq's environment variables from conninfo (PGHOST, PGUSER, PGPASSWORD,
 * ...), so that neither the URL nor its password appears in argv. Options not named there
 * keep whatever the environment says, exactly as for agentbase's own connections.
 */
static int export_conninfo(const char *conninfo, const char *appname)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    int rc = 0;

    if (!opts) {
        fprintf(stderr, "agentbase: error: bad connection string: %s", msg ? msg : "\n");
        PQfreemem(msg);
        return -1;
    }
    setenv("PGAPPNAME", appname, 1);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (!o->envvar) {
            fprintf(stderr, "agentbase: error: connection option %s has no environment variable\n",
                    o->keyword);
            rc = -1;
            break;
        }
        setenv(o->envvar, o->val, 1);
    }
    PQconninfoFree(opts);
    return rc;
}

/*
 * Starts program (a full path) with args, its stdin and stdout the given descriptors (-1:
 * inherited), connected through conninfo. *pid: the child's.
 */
static int spawn(const char *program, char *const *args, int in, int out, const char *conninfo,
                 pid_t *pid, struct ab_error *err)
{
    *pid = fork();
    if (*pid < 0)
        return ab_error_set(err, AB_EIO, "fork: %s", strerror(errno));
    if (*pid == 0) {
        if (export_conninfo(conninfo, args[0]) != 0)
            _exit(127);
        if ((in >= 0 && dup2(in, 0) < 0) || (out >= 0 && dup2(out, 1) < 0))
            _exit(127);
        execv(program, args);
        fprintf(stderr, "agentbase: error: cannot run %s: %s\n", program, strerror(errno));
        _exit(127);
    }
    return 0;
}

/* Waits for the child; a non-zero exit is AB_EIO naming what. */
static int wait_child(pid_t pid, const char *what, struct ab_error *err)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return ab_error_set(err, AB_EIO, "waitpid: %s", strerror(errno));
    if (WIFSIGNALED(status))
        return ab_error_set(err, AB_EIO, "%s was killed by signal %d", what, WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        return ab_error_set(err, AB_EIO, "%s failed (exit status %d; its messages are above)", what,
                            WEXITSTATUS(status));
    return 0;
}

/* Connects; a failure names DATABASE_URL or the embedded cluster that is not running. */
static int db_connect(const struct ab_config *cfg, const char *conninfo, const char *appname,
                      PGconn **conn, struct ab_error *err)
{
    int rc = ab_pg_connect(conninfo, appname, conn, err);

    if (rc) {
        ab_cli_connect_hint(cfg, err);
        if (!ab_config_embedded(cfg))
            ab_error_prefix(err, "cannot reach the server of DATABASE_URL");
    }
    return rc;
}

/* The server's major version, for picking the programs. */
static int server_major(PGconn *conn)
{
    return PQserverVersion(conn) / 10000;
}

/* One text value from a query without parameters. */
static int query_text(PGconn *conn, const char *sql, struct ab_buf *out, struct ab_error *err)
{
    PGresult *res;
    int rc = ab_pg_query(conn, sql, 0, NULL, &res, err);

    if (!rc && PQntuples(res) > 0 && (rc = ab_buf_puts(out, PQgetvalue(res, 0, 0))))
        rc = ab_error_set(err, rc, "the dump's header is too large");
    PQclear(res);
    return rc;
}

static int write_all(int fd, const char *p, size_t n, struct ab_error *err)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return ab_error_set(err, AB_EIO, "write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ======================================================================================
 * The two commands' arguments: `<name> [--FILE FILE|-] [--FLAG]`
 * ====================================================================================== */

struct file_cmd {
    const char *name, *help;
    const char *file_opt; /* output or input */
    const char *flag_opt; /* the command's one flag */
    const char *std_name; /* what "-" means */
    int std_fd;
};

/* Fills *file and *flag; returns -1 when the command is to run, else its exit status. */
static int parse_file_cmd(const struct file_cmd *fc, int argc, char **argv, const char **file,
                          bool *flag)
{
    const struct option opts[] = {{fc->file_opt, required_argument, 0, 'f'},
                                  {fc->flag_opt, no_argument, 0, 'F'},
                                  {"help", no_argument, 0, 'h'},
                                  {0, 0, 0, 0}};
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(fc->help, stdout);
            return AB_EXIT_OK;
        }
        if (c == 'f')
            *file = optarg;
        else if (c == 'F')
            *flag = true;
        else
            return ab_cli_usage_error(fc->name, "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
    }
    if (optind < argc)
        return ab_cli_usage_error(fc->name, "unexpected argument '%s'", argv[optind]);
    if (!**file)
        return ab_cli_usage_error(fc->name, "--%s needs a file name, or - for %s", fc->file_opt,
                                  fc->std_name);
    if (strcmp(*file, "-") == 0 && isatty(fc->std_fd))
        return ab_cli_usage_error(fc->name, "%s is a terminal: give --%s FILE, or redirect it",
                                  fc->std_name, fc->file_opt);
    return -1;
}

/* ======================================================================================
 * dump
 * ====================================================================================== */

/*
 * Whether the connecting user can dump: every row (RLS is forced on the tenant tables, and
 * pg_dump refuses rather than dump what a policy filters), the password hashes when asked.
 */
static const char dump_check_sql[] =
    "SELECT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user), "
    "       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
    "       to_regnamespace('agentbase') IS NOT NULL, current_user, current_database()";

/*
 * A setting "name=value" of pg_db_role_setting (the SQL expression cfg) as the SET clause
 * of ALTER ... SET: list settings whose elements are identifiers (search_path and the others
 * pg_dump knows) go as they are stored, already quoted; the others as one literal.
 */
#define SET_CLAUSE                                                                                 \
    "(quote_ident(split_part(cfg, '=', 1)) || ' = ' || "                                           \
    " CASE WHEN split_part(cfg, '=', 1) IN ('search_path', 'temp_tablespaces', "                   \
    "        'session_preload_libraries', 'shared_preload_libraries', "                            \
    "        'local_preload_libraries') "                                                          \
    "      THEN substr(cfg, strpos(cfg, '=') + 1) "                                                \
    "      ELSE quote_literal(substr(cfg, strpos(cfg, '=') + 1)) END)"

/*
 * The roles a dump carries: agentbase's own (agentbase_*), every role that owns an object of
 * this database or is named by one of its grants or policies (pg_shdepend; and the owners of
 * its schemas, which pg_shdepend omits for the bootstrap superuser), and the other logins
 * granted agentbase's roles (not the dumping user). Never the predefined pg_* roles. A
 * superuser among them (the migrator that owns agentbase_migrate, typically) is carried as a
 * stand-in without login, for a target where no role has its name. A CTE shared by the
 * header's queries; owners: the roles that own objects.
 */
#define CARRIED_ROLES                                                                              \
    "WITH db AS (SELECT oid FROM pg_database WHERE datname = current_database()), "                \
    "owners AS ("                                                                                  \
    "  SELECT d.refobjid AS oid FROM pg_shdepend d, db "                                           \
    "   WHERE d.dbid = db.oid AND d.deptype = 'o' AND d.refclassid = 'pg_authid'::regclass "       \
    "  UNION SELECT nspowner FROM pg_namespace "                                                   \
    "   WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'), "                            \
    "carried AS ("                                                                                 \
    "  SELECT r.oid, r.rolname FROM pg_roles r "                                                   \
    "   WHERE r.rolname !~ '^pg_' AND ("                                                           \
    "         (NOT r.rolsuper AND r.rolname LIKE 'agentbase\\_%') "                                \
    "      OR r.oid IN (SELECT oid FROM owners) "                                                  \
    "      OR r.oid IN (SELECT d.refobjid FROM pg_shdepend d, db "                                 \
    "                    WHERE d.dbid = db.oid AND d.refclassid = 'pg_authid'::regclass) "         \
    "      OR (NOT r.rolsuper AND r.rolname <> current_user AND r.oid IN ("                        \
    "          SELECT m.member FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "        \
    "           WHERE g.rolname LIKE 'agentbase\\_%')))) "

/*
 * One DO block per role (created where missing), then memberships, then role settings, then
 * the loading user's memberships. PASSWORD: the SQL of the role's PASSWORD clause (NULL for
 * none: pg_authid, which holds the hashes, is readable by superusers only).
 */
#define ROLES_SQL(PASSWORD)                                                                        \
    CARRIED_ROLES                                                                                  \
    "SELECT coalesce(string_agg(stmt, E'\\n' ORDER BY ord, key), '') FROM (" /* the roles */       \
    " SELECT 1 AS ord, c.rolname::text AS key, format("                                            \
    "   E'DO $ab$\\nBEGIN\\n    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %L) "        \
    "THEN\\n' || "                                                                                 \
    "   E'        CREATE ROLE %I %s;\\n    END IF;\\nEND\\n$ab$;', c.rolname, c.rolname, "         \
    "   CASE WHEN r.rolsuper THEN 'NOLOGIN NOSUPERUSER' ELSE concat_ws(' ', "                      \
    "     CASE WHEN r.rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END, "                               \
    "     CASE WHEN r.rolinherit THEN 'INHERIT' ELSE 'NOINHERIT' END, 'NOSUPERUSER', "             \
    "     CASE WHEN r.rolcreatedb THEN 'CREATEDB' ELSE 'NOCREATEDB' END, "                         \
    "     CASE WHEN r.rolcreaterole THEN 'CREATEROLE' ELSE 'NOCREATEROLE' END, "                   \
    "     CASE WHEN r.rolreplication THEN 'REPLICATION' END, "                                     \
    "     CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END, "                      \
    "     CASE WHEN r.rolconnlimit <> -1 THEN 'CONNECTION LIMIT ' || r.rolconnlimit END, "         \
    "     CASE WHEN r.rolvaliduntil IS NOT NULL "                                                  \
    "          THEN 'VALID UNTIL ' || quote_literal(r.rolvaliduntil::text) END, "                  \
    "     " PASSWORD ") END) AS stmt "                                                             \
    "   FROM carried c JOIN pg_roles r ON r.oid = c.oid " /* memberships among them */             \
    " UNION ALL "                                                                                  \
    " SELECT 2, g.rolname || ' ' || m.rolname, format("                                            \
    "   E'DO $ab$\\nBEGIN\\n    IF NOT EXISTS (SELECT 1 FROM pg_auth_members ' || "                \
    "   E'WHERE roleid = %L::regrole AND member = %L::regrole) THEN\\n' || "                       \
    "   E'        GRANT %I TO %I%s;\\n    END IF;\\nEND\\n$ab$;', g.rolname, m.rolname, "          \
    "   g.rolname, m.rolname, CASE WHEN am.admin_option THEN ' WITH ADMIN OPTION' ELSE '' END) "   \
    "   FROM pg_auth_members am JOIN carried g ON g.oid = am.roleid "                              \
    "   JOIN carried m ON m.oid = am.member " /* settings of the role (everywhere, and in this     \
                                                 database) */                                      \
    " UNION ALL "                                                                                  \
    " SELECT 3, c.rolname || ' ' || cfg, format("                                                  \
    "   E'DO $ab$\\nBEGIN\\n    EXECUTE format(%L, current_database());\\nEND\\n$ab$;', "          \
    "   replace(format('ALTER ROLE %I', c.rolname), '%', '%%') "                                   \
    "     || CASE WHEN s.setdatabase <> 0 THEN ' IN DATABASE %I' ELSE '' END "                     \
    "     || ' SET ' || replace(" SET_CLAUSE ", '%', '%%')) "                                      \
    "   FROM carried c JOIN pg_db_role_setting s ON s.setrole = c.oid "                            \
    "    AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = "                   \
    "current_database())) "                                                                        \
    "   CROSS JOIN LATERAL unnest(s.setconfig) cfg " /* the loading user may give objects to the   \
                                                        owners (a superuser always can) */         \
    " UNION ALL "                                                                                  \
    " SELECT 4, '', format("                                                                       \
    "   E'DO $ab$\\nDECLARE\\n    r name;\\nBEGIN\\n' || "                                         \
    "   E'    FOR r IN SELECT rolname FROM pg_roles\\n' || "                                       \
    "   E'              WHERE rolname = ANY (%L::name[]) AND NOT rolsuper LOOP\\n' || "            \
    "   E'        IF NOT pg_has_role(current_user, r, ''MEMBER'') THEN\\n' || "                    \
    "   E'            EXECUTE format(''GRANT %%I TO %%I'', r, current_user);\\n' || "              \
    "   E'        END IF;\\n    END LOOP;\\nEND\\n$ab$;', "                                        \
    "   (SELECT array_agg(c.rolname ORDER BY c.rolname) FROM carried c "                           \
    "     WHERE c.oid IN (SELECT oid FROM owners))) "                                              \
    ") s"

static const char dump_roles_sql[] = ROLES_SQL("NULL");
static const char dump_roles_passwords_sql[] =
    ROLES_SQL("(SELECT 'PASSWORD ' || quote_literal(a.rolpassword) FROM pg_authid a "
              "WHERE a.oid = c.oid)");

/* The check that the target has every extension this database uses. */
static const char dump_extensions_sql[] =
    "SELECT format(E'DO $ab$\\nDECLARE\\n    missing text;\\nBEGIN\\n' || "
    "  E'    SELECT string_agg(e, '', '') INTO missing FROM unnest(%L::text[]) e\\n' || "
    "  E'     WHERE NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = e);\\n' || "
    "  E'    IF missing IS NOT NULL THEN\\n' || "
    "  E'        RAISE EXCEPTION ''this server lacks extensions the dump needs: %%'', missing\\n' "
    "|| "
    "  E'            USING HINT = ''install them on the server first (agentbase_vector: make ext ' "
    "|| "
    "  E'in agentbase''''s sources; vector: the pgvector package)'';\\n' || "
    "  E'    END IF;\\nEND\\n$ab$;', array_agg(extname ORDER BY extname)), "
    "  string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) "
    "  FROM pg_extension";

/* The database's settings and privileges, for whichever database the dump is loaded into. */
static const char dump_footer_sql[] =
    "SELECT coalesce(string_agg(stmt, E'\\n' ORDER BY ord, key), '') FROM ("
    " SELECT 1 AS ord, cfg AS key, format("
    "   E'DO $ab$\\nBEGIN\\n    EXECUTE format(%L, current_database());\\nEND\\n$ab$;', "
    "   'ALTER DATABASE %I SET ' || replace(" SET_CLAUSE ", '%', '%%')) AS stmt "
    "   FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) cfg "
    "  WHERE s.setrole = 0 "
    "    AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    " UNION ALL "
    " SELECT 2, '', E'DO $ab$\\nBEGIN\\n    EXECUTE format(''REVOKE ALL ON DATABASE %I FROM "
    "PUBLIC'', current_database());\\nEND\\n$ab$;' "
    "   FROM pg_database WHERE datname = current_database() AND datacl IS NOT NULL "
    " UNION ALL "
    " SELECT 3, a.privilege_type || ' ' || a.grantee::text, format("
    "   E'DO $ab$\\nBEGIN\\n    EXECUTE format(%L, current_database());\\nEND\\n$ab$;', "
    "   'GRANT ' || a.privilege_type || ' ON DATABASE %I TO ' || "
    "   CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE replace(quote_ident(a.grantee::regrole::text), "
    "   '%', '%%') END) "
    "   FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a "
    "  WHERE d.datname = current_database() AND a.grantee <> d.datdba "
    ") s";

/* The schema version and what the header says about the source. */
static const char dump_about_sql[] =
    "SELECT format(E'-- database: %s on PostgreSQL %s\\n-- schema version: %s\\n-- made: %s\\n', "
    "  current_database(), current_setting('server_version'), "
    "  coalesce((SELECT max(version)::text FROM agentbase_migrate.versions), 'none'), "
    "  to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))";

struct dump_opts {
    const char *output; /* "-" or a path */
    bool passwords;
};

/*
 * Builds the header and footer from the snapshot the connection holds (a repeatable-read
 * transaction whose snapshot pg_dump shares).
 */
static int dump_header(PGconn *conn, const struct dump_opts *o, struct ab_buf *head,
                       struct ab_buf *foot, struct ab_error *err)
{
    PGresult *res = NULL;
    int rc;

    if ((rc = ab_buf_puts(head, DUMP_MAGIC "\n")) ||
        (rc = ab_buf_puts(head, "-- Written by `agentbase dump`; load it with `agentbase load "
                                "--input FILE`, or with\n-- psql -v ON_ERROR_STOP=1 "
                                "--single-transaction -f FILE\n")))
        return ab_error_set(err, rc, "the dump's header is too large");
    if ((rc = query_text(conn, dump_about_sql, head, err)))
        return rc;
    if ((rc = ab_pg_query(conn, dump_extensions_sql, 0, NULL, &res, err)))
        return rc;
    rc = ab_buf_printf(head,
                       "-- extensions: %s\n\nSET client_min_messages = warning;\n\n"
                       "-- The extensions this database uses must be installable here.\n%s\n\n"
                       "-- The roles (created where missing), their memberships and settings.\n",
                       PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0));
    PQclear(res);
    if (rc)
        return ab_error_set(err, rc, "the dump's header is too large");
    if ((rc = ab_pg_query(conn, o->passwords ? dump_roles_passwords_sql : dump_roles_sql, 0, NULL,
                          &res, err)))
        return rc;
    rc = ab_buf_printf(head, "%s\n\n-- pg_dump's output of the database.\n", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (rc)
        return ab_error_set(err, rc, "the dump's header is too large");
    if (ab_buf_puts(foot, "\n-- The database's settings and privileges.\n"))
        return ab_error_set(err, AB_ETOOBIG, "the dump's footer is too large");
    if ((rc = query_text(conn, dump_footer_sql, foot, err)))
        return rc;
    if (ab_buf_puts(foot, "\n" DUMP_END))
        return ab_error_set(err, AB_ETOOBIG, "the dump's footer is too large");
    return 0;
}

/* Checks the user, opens the snapshot, and fills head and foot. *snapshot: its id. */
static int dump_prepare(PGconn *conn, const struct dump_opts *o, char *snapshot, size_t n,
                        struct ab_buf *head, struct ab_buf *foot, struct ab_error *err)
{
    PGresult *res;
    int rc = ab_pg_query(conn, dump_check_sql, 0, NULL, &res, err);

    if (rc)
        return rc;
    if (strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        ab_error_set(err, AB_ENOTFOUND, "database %s has no agentbase schema: nothing to dump",
                     PQgetvalue(res, 0, 4));
        ab_error_hint(err, "is DATABASE_URL the database that `agentbase migrate up` built?");
        rc = AB_ENOTFOUND;
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        ab_error_set(err, AB_EINVAL,
                     "%s cannot read every row: it is neither a superuser nor "
                     "BYPASSRLS",
                     PQgetvalue(res, 0, 3));
        ab_error_hint(err,
                      "dump as a superuser, or ALTER ROLE %s BYPASSRLS (the tenant tables "
                      "force row level security)",
                      PQgetvalue(res, 0, 3));
        rc = AB_EINVAL;
    } else if (o->passwords && strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        ab_error_set(err, AB_EINVAL,
                     "--role-passwords needs a superuser (password hashes are "
                     "in pg_authid)");
        rc = AB_EINVAL;
    }
    PQclear(res);
    if (rc)
        return rc;
    if ((rc = ab_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err)) ||
        (rc = ab_pg_query(conn, "SELECT pg_export_snapshot()", 0, NULL, &res, err)))
        return rc;
    snprintf(snapshot, n, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return dump_header(conn, o, head, foot, err);
}

static int dump_run(const struct ab_config *cfg, const struct dump_opts *o, struct ab_error *err)
{
    char conninfo[4096], pg_dump[PATH_MAX], snaparg[128], snapshot[96], tmp[PATH_MAX + 32] = "";
    struct ab_buf head, foot;
    PGconn *conn = NULL;
    int fd = 1, rc;
    pid_t pid;
    double t0 = ab_now_ms();
    char took[64];
    struct stat st;

    ab_buf_init(&head, 16u << 20);
    ab_buf_init(&foot, 1u << 20);
    if ((rc = ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), err)) ||
        (rc = db_connect(cfg, conninfo, "agentbase dump", &conn, err)) ||
        (rc = ab_cluster_find_program("pg_dump", server_major(conn), pg_dump, sizeof(pg_dump),
                                      err)) ||
        (rc = dump_prepare(conn, o, snapshot, sizeof(snapshot), &head, &foot, err)))
        goto out;
    if (strcmp(o->output, "-") != 0) {
        snprintf(tmp, sizeof(tmp), "%s.part-%ld", o->output, (long)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = ab_error_set(err, AB_EIO, "cannot create %s: %s", tmp, strerror(errno));
            tmp[0] = '\0';
            goto out;
        }
    }
    snprintf(snaparg, sizeof(snaparg), "--snapshot=%s", snapshot);
    {
        char *args[] = {"pg_dump", "--format=plain", "--no-password", snaparg, NULL};

        if ((rc = write_all(fd, head.data, head.len, err)) ||
            (rc = spawn(pg_dump, args, -1, fd, conninfo, &pid, err)) ||
            (rc = wait_child(pid, pg_dump, err)) || (rc = write_all(fd, foot.data, foot.len, err)))
            goto out;
    }
    if (fd != 1) {
        if (fsync(fd) != 0 || close(fd) != 0) {
            fd = -1;
            rc = ab_error_set(err, AB_EIO, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        fd = 1;
        if (rename(tmp, o->output) != 0) {
            rc = ab_error_set(err, AB_EIO, "cannot rename %s to %s: %s", tmp, o->output,
                              strerror(errno));
            goto out;
        }
        tmp[0] = '\0';
    }
    ab_format_duration(ab_now_ms() - t0, took, sizeof(took));
    if (strcmp(o->output, "-") != 0 && stat(o->output, &st) == 0)
        fprintf(stderr, "dumped %s to %s (%lld bytes) in %s\n", PQdb(conn), o->output,
                (long long)st.st_size, took);
    else
        fprintf(stderr, "dumped %s in %s\n", PQdb(conn), took);
out:
    if (fd > 1)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    PQfinish(conn);
    ab_buf_free(&head);
    ab_buf_free(&foot);
    return rc;
}

int ab_cli_dump(const struct ab_config *cfg, int argc, char **argv)
{
    static const struct file_cmd fc = {"dump",           dump_help,         "output",
                                       "role-passwords", "standard output", 1};
    struct dump_opts o = {.output = "-"};
    struct ab_error err;
    int code = parse_file_cmd(&fc, argc, argv, &o.output, &o.passwords);

    if (code >= 0)
        return code;
    return dump_run(cfg, &o, &err) ? ab_cli_fail(&err) : AB_EXIT_OK;
}

/* ======================================================================================
 * load
 * ====================================================================================== */

/* What the target database holds beyond an empty public schema, one line per kind. */
static const char load_content_sql[] =
    "SELECT 'schema ' || n.nspname || ' (' || (SELECT count(*) FROM pg_class c "
    "        WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p')) || ' tables)' "
    "  FROM pg_namespace n "
    " WHERE n.nspname NOT IN ('public', 'information_schema') AND n.nspname !~ '^pg_' "
    "UNION ALL "
    "SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql' "
    "UNION ALL "
    "SELECT count(*) || ' relations, functions or types in schema public' FROM ("
    "  SELECT 'pg_class'::regclass AS cls, oid FROM pg_class "
    "   WHERE relnamespace = 'public'::regnamespace "
    "  UNION ALL SELECT 'pg_proc'::regclass, oid FROM pg_proc "
    "   WHERE pronamespace = 'public'::regnamespace "
    "  UNION ALL SELECT 'pg_type'::regclass, oid FROM pg_type "
    "   WHERE typnamespace = 'public'::regnamespace AND typrelid = 0 AND typelem = 0) o "
    /* what an extension owns goes with the extension */
    " WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.cls AND d.objid = o.oid "
    "                      AND d.deptype = 'e') "
    "HAVING count(*) > 0";

/*
 * --force: what load_content_sql lists, dropped (inside the load's transaction). Extensions
 * first, so that the objects they own go with them.
 */
static const char load_force_sql[] =
    "SET client_min_messages = warning;\n"
    "DO $ab$\n"
    "DECLARE\n"
    "    r record;\n"
    "BEGIN\n"
    "    FOR r IN SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' LOOP\n"
    "        EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);\n"
    "    END LOOP;\n"
    "    FOR r IN SELECT nspname FROM pg_namespace\n"
    "              WHERE nspname NOT IN ('public', 'information_schema') AND nspname !~ '^pg_' "
    "LOOP\n"
    "        EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);\n"
    "    END LOOP;\n"
    "    FOR r IN SELECT c.oid::regclass AS rel, CASE c.relkind WHEN 'v' THEN 'VIEW'\n"
    "                    WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'\n"
    "                    WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind\n"
    "               FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace\n"
    "                AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') LOOP\n"
    "        EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.rel);\n"
    "    END LOOP;\n"
    "    FOR r IN SELECT p.oid::regprocedure AS fn, CASE p.prokind WHEN 'p' THEN 'PROCEDURE'\n"
    "                    WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END AS kind\n"
    "               FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace LOOP\n"
    "        EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.fn);\n"
    "    END LOOP;\n"
    "    FOR r IN SELECT t.oid::regtype AS typ FROM pg_type t\n"
    "              WHERE t.typnamespace = 'public'::regnamespace AND t.typrelid = 0\n"
    "                AND t.typelem = 0 LOOP\n"
    "        EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', r.typ);\n"
    "    END LOOP;\n"
    "END\n"
    "$ab$;\n"
    "RESET client_min_messages;\n";

/* What the loaded database holds, for the closing line. */
static const char load_summary_sql[] =
    "SELECT coalesce((SELECT max(version)::text FROM agentbase_migrate.versions), 'none'), "
    "       (SELECT count(*) FROM pg_policy), "
    "       (SELECT count(*) FROM pg_class WHERE relnamespace = 'agentbase'::regnamespace "
    "           AND relkind IN ('r', 'p')), "
    "       current_setting('search_path')";

struct load_opts {
    const char *input; /* "-" or a path */
    bool force;
};

/*
 * Refuses a database with content unless force; says what it holds (and, with force, that
 * it drops it). Also checks that the user can create roles.
 */
static int load_check(PGconn *conn, bool force, struct ab_error *err)
{
    PGresult *res;
    struct ab_buf what;
    int rc = ab_pg_query(conn,
                         "SELECT rolsuper OR rolcreaterole, current_user FROM pg_roles "
                         "WHERE rolname = current_user",
                         0, NULL, &res, err);

    if (rc)
        return rc;
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        ab_error_set(err, AB_EINVAL, "%s cannot create roles (neither a superuser nor CREATEROLE)",
                     PQgetvalue(res, 0, 1));
        ab_error_hint(err, "load as a user that may create roles and extensions");
        PQclear(res);
        return AB_EINVAL;
    }
    PQclear(res);
    if ((rc = ab_pg_query(conn, load_content_sql, 0, NULL, &res, err)))
        return rc;
    ab_buf_init(&what, 64 * 1024);
    for (int i = 0; i < PQntuples(res) && !rc; i++)
        rc = ab_buf_printf(&what, "%s%s", i ? ", " : "", PQgetvalue(res, i, 0));
    if (PQntuples(res) > 0 && !force) {
        ab_error_set(err, AB_ECONFLICT, "database %s is not empty: it holds %s", PQdb(conn),
                     ab_buf_str(&what));
        ab_error_hint(err, "load into a new database (createdb), or give --force to drop all of "
                           "that first (in the load's own transaction)");
        rc = AB_ECONFLICT;
    } else if (PQntuples(res) > 0) {
        fprintf(stderr, "load --force: dropping %s from database %s, in the load's transaction\n",
                ab_buf_str(&what), PQdb(conn));
    }
    ab_buf_free(&what);
    PQclear(res);
    return rc;
}

/*
 * Feeds psql the dump (first the bytes already read, then the rest of the input), and COMMIT
 * only when the dump ended with its last line. A psql that stopped
 * at an error closes its end: the copy stops, and psql's status says why. *complete: whether
 * the end was seen (and COMMIT sent).
 */
static void feed(int to, int from, const char *first, size_t nfirst, bool *complete)
{
    char chunk[65536], tail[sizeof(DUMP_END)] = "";
    size_t ntail = 0, want = sizeof(DUMP_END) - 1;
    ssize_t n = (ssize_t)nfirst;
    struct ab_error ignored;

    *complete = false;
    memcpy(chunk, first, nfirst);
    for (;;) {
        if (n < 0 && errno == EINTR) {
            n = read(from, chunk, sizeof(chunk));
            continue;
        }
        if (n <= 0)
            break;
        if (write_all(to, chunk, (size_t)n, &ignored) != 0)
            return;
        /* the last want bytes seen */
        if ((size_t)n >= want) {
            memcpy(tail, chunk + n - want, want);
            ntail = want;
        } else {
            size_t keep = ntail < want - (size_t)n ? ntail : want - (size_t)n;

            memmove(tail, tail + ntail - keep, keep);
            memcpy(tail + keep, chunk, (size_t)n);
            ntail = keep + (size_t)n;
        }
        n = read(from, chunk, sizeof(chunk));
    }
    if (n == 0 && ntail == want && memcmp(tail, DUMP_END, want) == 0)
        *complete = write_all(to, "COMMIT;\n", 8, &ignored) == 0;
}

/* Migrations as `migrate verify` sees them: 0, or AB_ECONFLICT naming the drift. */
static int load_verify(const char *conninfo, struct ab_error *err)
{
    struct ab_migration_set set;
    struct ab_migration_status *st = NULL;
    size_t n = 0, bad = 0;
    int rc;

    if ((rc = ab_migrate_load(&set, NULL, err)))
        return rc;
    rc = ab_migrate_status(conninfo, &set, &st, &n, err);
    for (size_t i = 0; !rc && i < n; i++)
        if (st[i].state == AB_MS_DRIFTED || st[i].state == AB_MS_UNKNOWN)
            bad++;
    if (!rc && bad)
        rc = ab_error_set(err, AB_ECONFLICT,
                          "loaded, but %zu migrations differ from this agentbase's "
                          "(see agentbase migrate status)",
                          bad);
    free(st);
    ab_migrate_set_free(&set);
    return rc;
}

static int load_run(const struct ab_config *cfg, const struct load_opts *o, struct ab_error *err)
{
    char conninfo[4096], psql[PATH_MAX], took[64], first[4096];
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int in = 0, pipefd[2] = {-1, -1}, rc;
    size_t nfirst = 0;
    double t0 = ab_now_ms();
    bool complete;
    pid_t pid;

    if (strcmp(o->input, "-") != 0 && (in = open(o->input, O_RDONLY | O_CLOEXEC)) < 0)
        return ab_error_set(err, errno == ENOENT ? AB_ENOTFOUND : AB_EIO, "cannot open %s: %s",
                            o->input, strerror(errno));
    /* The first line says whether this is a dump at all, before anything touches the server. */
    while (nfirst < sizeof(first) && !memchr(first, '\n', nfirst)) {
        ssize_t n = read(in, first + nfirst, sizeof(first) - nfirst);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        nfirst += (size_t)n;
    }
    if (nfirst < strlen(DUMP_MAGIC) || memcmp(first, DUMP_MAGIC, strlen(DUMP_MAGIC)) != 0) {
        rc = ab_error_set(err, AB_EINVAL, "%s is not a dump of agentbase dump (format 1)",
                          strcmp(o->input, "-") ? o->input : "standard input");
        ab_error_hint(err, "its first line must be '%s'", DUMP_MAGIC);
        goto out;
    }
    if ((rc = ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), err)) ||
        (rc = db_connect(cfg, conninfo, "agentbase load", &conn, err)) ||
        (rc = ab_cluster_find_program("psql", server_major(conn), psql, sizeof(psql), err)) ||
        (rc = load_check(conn, o->force, err)))
        goto out;
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        rc = ab_error_set(err, AB_EIO, "pipe: %s", strerror(errno));
        goto out;
    }
    {
        /*
         * One transaction, opened here (with --force's drops) and committed by feed() only
         * when the dump is complete; -c keeps psql's line numbers those of the file.
         */
        char *args[] = {"psql", "-X",        "-q", "--no-password", "-v", "ON_ERROR_STOP=1",
                        "-o",   "/dev/null", "-c", "BEGIN",         "-f", "-",
                        NULL,   NULL,        NULL};

        if (o->force) {
            args[10] = "-c";
            args[11] = (char *)load_force_sql;
            args[12] = "-f";
            args[13] = "-";
        }
        if ((rc = spawn(psql, args, pipefd[0], -1, conninfo, &pid, err)))
            goto out;
    }
    close(pipefd[0]);
    pipefd[0] = -1;
    signal(SIGPIPE, SIG_IGN);
    feed(pipefd[1], in, first, nfirst, &complete);
    close(pipefd[1]);
    pipefd[1] = -1;
    if ((rc = wait_child(pid, "psql (nothing was loaded)", err)))
        goto out;
    if (!complete) {
        rc = ab_error_set(err, AB_EINVAL, "%s ends before the dump's last line: nothing was loaded",
                          strcmp(o->input, "-") ? o->input : "standard input");
        ab_error_hint(
            err, "was the dump cut short? agentbase dump writes '-- end of agentbase dump' last");
        goto out;
    }
    /* Settings of the database reach new sessions only: the summary opens one. */
    PQfinish(conn);
    conn = NULL;
    if ((rc = ab_pg_connect(conninfo, "agentbase load", &conn, err)) ||
        (rc = ab_pg_query(conn, load_summary_sql, 0, NULL, &res, err)) ||
        (rc = load_verify(conninfo, err)))
        goto out;
    ab_format_duration(ab_now_ms() - t0, took, sizeof(took));
    printf("loaded %s into database %s in %s: schema version %s, %s tables, %s policies, "
           "search_path %s; migrations verified\n",
           strcmp(o->input, "-") ? o->input : "standard input", PQdb(conn), took,
           PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1),
           PQgetvalue(res, 0, 3));
out:
    for (int i = 0; i < 2; i++)
        if (pipefd[i] >= 0)
            close(pipefd[i]);
    if (in > 0)
        close(in);
    PQclear(res);
    PQfinish(conn);
    return rc;
}

int ab_cli_load(const struct ab_config *cfg, int argc, char **argv)
{
    static const struct file_cmd fc = {"load", load_help, "input", "force", "standard input", 0};
    struct load_opts o = {.input = "-"};
    struct ab_error err;
    int code = parse_file_cmd(&fc, argc, argv, &o.input, &o.force);

    if (code >= 0)
        return code;
    return load_run(cfg, &o, &err) ? ab_cli_fail(&err) : AB_EXIT_OK;
}
