/* agentbase keys: bootstrap API keys from the command line (the first key has no API). */
#include "auth/auth.h"
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "pg/pg.h"

#include <getopt.h>
#include <string.h>

static const char keys_help[] =
    "usage: agentbase keys create (--platform-admin | --tenant SLUG [--user EMAIL])\n"
    "                             [--scopes a,b,...] [--name NAME] [--expires-in DAYS]\n"
    "\n"
    "Creates an API key and prints it once; only its SHA-256 is stored.\n"
    "\n"
    "  --platform-admin   a platform key: manages tenants, and acts in one tenant with the\n"
    "                     header Agentbase-Tenant: <tenant id>\n"
    "  --tenant SLUG      a key of that tenant, optionally on behalf of the user EMAIL\n"
    "  --scopes a,b       e.g. agents:read,agents:write,usage:write or admin (default admin)\n"
    "  --name NAME        a label (default: created by agentbase keys)\n"
    "  --expires-in DAYS  refused after that many days (default: never)\n";

struct key_args {
    bool platform;
    const char *tenant, *user, *scopes, *name;
    long days;
};

static int parse(int argc, char **argv, struct key_args *a)
{
    static const struct option opts[] = {
        {"platform-admin", no_argument, 0, 'P'}, {"tenant", required_argument, 0, 't'},
        {"user", required_argument, 0, 'u'},     {"scopes", required_argument, 0, 's'},
        {"name", required_argument, 0, 'n'},     {"expires-in", required_argument, 0, 'e'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    int o;

    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'P':
            a->platform = true;
            break;
        case 't':
            a->tenant = optarg;
            break;
        case 'u':
            a->user = optarg;
            break;
        case 's':
            a->scopes = optarg;
            break;
        case 'n':
            a->name = optarg;
            break;
        case 'e':
            if (!ab_cli_parse_int(optarg, 36500, &a->days) || a->days < 1)
                return ab_cli_usage_error("keys", "--expires-in takes a number of days");
            break;
        case 'h':
            fputs(keys_help, stdout);
            return -1;
        default:
            return ab_cli_usage_error("keys", "bad option");
        }
    }
    if (optind >= argc || strcmp(argv[optind], "create") != 0)
        return ab_cli_usage_error("keys", "the only subcommand is create");
    if (optind + 1 < argc)
        return ab_cli_usage_error("keys", "unexpected argument '%s'", argv[optind + 1]);
    if (a->platform == (a->tenant != NULL))
        return ab_cli_usage_error("keys", "give either --platform-admin or --tenant SLUG");
    if (a->user && !a->tenant)
        return ab_cli_usage_error("keys", "--user goes with --tenant");
    return 0;
}

/*
 * Tenant keys are inserted as the owner (the key belongs to no request's tenant context);
 * the statement resolves the slug and e-mail itself and returns nothing when either is
 * unknown, so the message can say which.
 */
static const char insert_tenant_key[] =
    "INSERT INTO agentbase.api_keys (tenant_id, user_id, name, key_prefix, key_hash, scopes, "
    "                                expires_at, created_by) "
    "SELECT t.id, u.id, $3, $4, $5, string_to_array($6, ','), "
    "       CASE WHEN $7::int > 0 THEN now() + make_interval(days => $7::int) END, "
    "       'agentbase keys create' "
    "  FROM agentbase.tenants t "
    "  LEFT JOIN agentbase.users u ON u.tenant_id = t.id AND lower(u.email) = lower($2) "
    "       AND u.deleted_at IS NULL "
    " WHERE t.slug = lower($1) AND t.deleted_at IS NULL AND ($2 = '' OR u.id IS NOT NULL) "
    "RETURNING id, tenant_id";

static const char insert_platform_key[] =
    "INSERT INTO agentbase.platform_api_keys (name, key_prefix, key_hash, scopes, expires_at) "
    "VALUES ($1, $2, $3, string_to_array($4, ','), "
    "        CASE WHEN $5::int > 0 THEN now() + make_interval(days => $5::int) END) "
    "RETURNING id, NULL";

int ab_cli_keys(const struct ab_config *cfg, int argc, char **argv)
{
    struct key_args a = {.scopes = "admin", .name = "created by agentbase keys"};
    char key[AB_KEY_LEN + 1], prefix[AB_KEY_PREFIX_LEN + 1], hash[65], days[16];
    char conninfo[4096];
    struct ab_error err;
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int rc;

    rc = parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? AB_EXIT_OK : rc;
    if (strspn(a.scopes, "abcdefghijklmnopqrstuvwxyz0123456789_-:*,") != strlen(a.scopes) ||
        !a.scopes[0])
        return ab_cli_usage_error("keys", "--scopes is a comma-separated list like agents:read");
    snprintf(days, sizeof(days), "%ld", a.days);
    ab_auth_key_new(key, prefix, hash);
    if ((rc = ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), &err)) ||
        (rc = ab_pg_connect(conninfo, "agentbase keys", &conn, &err)))
        goto out;
    if (a.platform) {
        const char *params[5] = {a.name, prefix, hash, a.scopes, days};

        rc = ab_pg_query(conn, insert_platform_key, 5, params, &res, &err);
    } else {
        const char *params[7] = {a.tenant, a.user ? a.user : "", a.name, prefix, hash, a.scopes,
                                 days};

        rc = ab_pg_query(conn, insert_tenant_key, 7, params, &res, &err);
        if (!rc && PQntuples(res) == 0)
            rc = ab_error_set(&err, AB_ENOTFOUND,
                              a.user ? "no user %s in tenant %s" : "no tenant with slug %s%s",
                              a.user ? a.user : a.tenant, a.user ? a.tenant : "");
    }
    if (rc)
        goto out;
    printf("%s\n", key);
    fprintf(stderr, "created %s key %s (id %s, scopes %s); it is shown only this once\n",
            a.platform ? "platform-admin" : "tenant", prefix, PQgetvalue(res, 0, 0), a.scopes);
out:
    sodium_memzero(key, sizeof(key));
    PQclear(res);
    if (conn)
        PQfinish(conn);
    return ab_cli_exit(cfg, rc, &err);
}

int ab_cli_bootstrap_admin_key(const struct ab_config *cfg, const char *conninfo,
                               struct ab_error *err)
{
    char key[AB_KEY_LEN + 1], prefix[AB_KEY_PREFIX_LEN + 1], hash[65];
    const char *params[5] = {"bootstrap (agentbase up)", prefix, hash, "admin", "0"};
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int rc;

    ab_auth_key_new(key, prefix, hash);
    if ((rc = ab_pg_connect(conninfo, "agentbase up", &conn, err)) == 0 &&
        (rc = ab_pg_query(conn, insert_platform_key, 5, params, &res, err)) == 0)
        rc = ab_cli_save_secret(cfg, "admin-key", key,
                                "platform-admin API key (create tenants with it)", err);
    sodium_memzero(key, sizeof(key));
    PQclear(res);
    if (conn)
        PQfinish(conn);
    return rc;
}
