/*
 * agentbase users set-password: a user's password from the command line, as the database
 * owner, for when no one can sign in to set it over the API (a tenant's first admin, a
 * locked-out or forgotten super admin). The same rules as the API (ab_auth_password_rule)
 * and the same entry point (agentbase.user_set_password), so only the argon2id hash
 * reaches the database; the password is read from standard input, never an argument
 * (arguments are visible to every user of the machine in ps).
 */
#include "auth/auth.h"
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "pg/pg.h"

#include <getopt.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char users_help[] =
    "usage: agentbase users set-password --tenant SLUG --email EMAIL [--must-change]\n"
    "\n"
    "Sets the password of the user EMAIL of the tenant SLUG, connecting as the database\n"
    "owner (no API key needed). The password is the first line of standard input; on a\n"
    "terminal it is asked for twice, without echo. It must have at least 12 characters\n"
    "and be neither a common password nor the e-mail or username. Only its argon2id hash\n"
    "is stored. Every session of the user ends and the sign-in lock is lifted.\n"
    "\n"
    "  --tenant SLUG   the user's tenant\n"
    "  --email EMAIL   the user's e-mail (in any case)\n"
    "  --must-change   the user must change it at the next sign-in\n"
    "\n"
    "  agentbase users set-password --tenant platform --email admin@platform.local\n"
    "  agentbase users set-password --tenant demo --email ann@demo.local --must-change \\\n"
    "      <file-with-the-password\n";

struct user_args {
    const char *tenant, *email;
    bool must_change;
};

static int parse(int argc, char **argv, struct user_args *a)
{
    static const struct option opts[] = {{"tenant", required_argument, 0, 't'},
                                         {"email", required_argument, 0, 'e'},
                                         {"must-change", no_argument, 0, 'm'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 't')
            a->tenant = optarg;
        else if (o == 'e')
            a->email = optarg;
        else if (o == 'm')
            a->must_change = true;
        else if (o == 'h') {
            fputs(users_help, stdout);
            return -1;
        } else
            return ab_cli_usage_error("users", "bad option");
    }
    if (optind >= argc || strcmp(argv[optind], "set-password") != 0)
        return ab_cli_usage_error("users", "the only subcommand is set-password");
    if (optind + 1 < argc)
        return ab_cli_usage_error("users", "unexpected argument '%s'", argv[optind + 1]);
    if (!a->tenant || !a->email)
        return ab_cli_usage_error("users", "set-password needs --tenant SLUG and --email EMAIL");
    return 0;
}

/* One line of in, without its line end, into out (n bytes); 0, or an error. */
static int read_line(FILE *in, char *out, size_t n, struct ab_error *err)
{
    size_t len;

    if (!fgets(out, (int)n, in))
        return ab_error_set(err, AB_EINVAL, "no password on standard input");
    len = strcspn(out, "\r\n");
    if (out[len] == '\0' && len == n - 1)
        return ab_error_set(err, AB_EINVAL, "the password is longer than %d bytes",
                            AB_PASSWORD_MAX_BYTES);
    out[len] = '\0';
    return 0;
}

/* Asks on the terminal (stdin) with echo off; the prompt goes to stderr. */
static int prompt(const char *what, char *out, size_t n, struct ab_error *err)
{
    struct termios saved, quiet;
    int rc;

    if (tcgetattr(STDIN_FILENO, &saved) != 0)
        return ab_error_set(err, AB_EIO, "cannot read the terminal's settings");
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    /* Echo off before the prompt shows: what is typed after it is never on the screen. */
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    fputs(what, stderr);
    fflush(stderr);
    rc = read_line(stdin, out, n, err);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    fputc('\n', stderr);
    return rc;
}

static int read_password(char *out, size_t n, struct ab_error *err)
{
    char again[AB_PASSWORD_MAX_BYTES + 2];
    int rc;

    if (!isatty(STDIN_FILENO))
        return read_line(stdin, out, n, err);
    rc = prompt("New password: ", out, n, err);
    if (!rc)
        rc = prompt("Again: ", again, sizeof(again), err);
    if (!rc && strcmp(out, again) != 0)
        rc = ab_error_set(err, AB_EINVAL, "the two passwords differ");
    sodium_memzero(again, sizeof(again));
    return rc;
}

/* The tenant and the user, as the owner sees them: NULLs say which is missing. */
static const char lookup_sql[] =
    "SELECT t.id, u.id, u.email, coalesce(u.username, '') "
    "  FROM (SELECT lower($1) AS slug) s "
    "  LEFT JOIN agentbase.tenants t ON t.slug = s.slug AND t.deleted_at IS NULL "
    "  LEFT JOIN agentbase.users u ON u.tenant_id = t.id AND lower(u.email) = lower($2) "
    "       AND u.deleted_at IS NULL";

static int set_password(PGconn *conn, const struct user_args *a, const char *password,
                        struct ab_error *err)
{
    const char *params[4] = {a->tenant, a->email, NULL, NULL};
    char hash[AB_AUTH_HASH_MAX] = "", tenant[40], user[40];
    const char *rule, *why;
    PGresult *res = NULL;
    int rc;

    if ((rc = ab_pg_query(conn, lookup_sql, 2, params, &res, err)))
        goto out;
    if (PQgetisnull(res, 0, 0)) {
        rc = ab_error_set(err, AB_ENOTFOUND, "no tenant with slug %s", a->tenant);
        goto out;
    }
    if (PQgetisnull(res, 0, 1)) {
        rc = ab_error_set(err, AB_ENOTFOUND, "no user %s in tenant %s", a->email, a->tenant);
        goto out;
    }
    snprintf(tenant, sizeof(tenant), "%s", PQgetvalue(res, 0, 0));
    snprintf(user, sizeof(user), "%s", PQgetvalue(res, 0, 1));
    if ((rule =
             ab_auth_password_rule(password, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), &why))) {
        rc = ab_error_set(err, AB_EINVAL, "the password %s (rule %s)", why, rule);
        goto out;
    }
    if ((rc = ab_auth_password_hash(password, hash, err)))
        goto out;
    PQclear(res);
    res = NULL;
    params[0] = tenant;
    params[1] = user;
    params[2] = hash;
    params[3] = a->must_change ? "t" : "f";
    if ((rc = ab_pg_exec(conn, "BEGIN", err)) ||
        (rc = ab_pg_query(conn,
                          "SELECT agentbase.set_request_context($1::uuid, 'system', "
                          "'agentbase users set-password')",
                          1, params, &res, err)))
        goto out;
    PQclear(res);
    res = NULL;
    if ((rc = ab_pg_query(conn,
                          "SELECT (agentbase.user_set_password($1::uuid, $2, $3::boolean) "
                          "        ->> 'sessions_ended')",
                          3, params + 1, &res, err)) ||
        (rc = ab_pg_exec(conn, "COMMIT", err)))
        goto out;
    printf("password of %s (tenant %s) set; %s session%s ended%s\n", a->email, a->tenant,
           PQgetvalue(res, 0, 0), strcmp(PQgetvalue(res, 0, 0), "1") == 0 ? "" : "s",
           a->must_change ? "; it must be changed at the next sign-in" : "");
out:
    sodium_memzero(hash, sizeof(hash));
    PQclear(res);
    return rc;
}

int ab_cli_users(const struct ab_config *cfg, int argc, char **argv)
{
    struct user_args a = {0};
    char password[AB_PASSWORD_MAX_BYTES + 2], conninfo[4096];
    struct ab_error err;
    PGconn *conn = NULL;
    int rc;

    rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? AB_EXIT_OK : rc;
    if ((rc = read_password(password, sizeof(password), &err)) == 0 &&
        (rc = ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), &err)) == 0 &&
        (rc = ab_pg_connect(conninfo, "agentbase users", &conn, &err)) == 0)
        rc = set_password(conn, &a, password, &err);
    sodium_memzero(password, sizeof(password));
    if (conn)
        PQfinish(conn);
    return ab_cli_exit(cfg, rc, &err);
}
