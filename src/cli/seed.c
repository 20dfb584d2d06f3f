/* agentbase seed: reference data, and with --dev a demo tenant to try things with. */
#include "auth/auth.h"
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "migrate/migrate.h"
#include "pg/pg.h"

#include <string.h>

static const char seed_help[] =
    "usage: agentbase seed [--dev]\n"
    "\n"
    "Loads the reference data every installation needs: subscription plans and their token\n"
    "policies, AI providers and model prices, the public MCP server registry, project\n"
    "templates, regions. Idempotent: running it again changes nothing.\n"
    "\n"
    "The first run also creates the platform's own tenant (slug 'platform') with its super\n"
    "admin, admin@platform.local, whose password is written to\n"
    "$AGENTBASE_HOME/superadmin-password (mode 0600) and must be changed at first login,\n"
    "and the default tenant (slug 'default').\n"
    "\n"
    "  --dev   also a demo tenant (slug 'demo') with an admin user, the development\n"
    "          platform's six agents, sample agents and a test API key. The admin's password\n"
    "          is written to $AGENTBASE_HOME/admin-password and the key to\n"
    "          $AGENTBASE_HOME/dev-api-key (both mode 0600, both only when first created);\n"
    "          the password must be changed at first login.\n"
    "\n"
    "The database must be migrated to the newest version first (agentbase migrate up).\n";

/* Runs the embedded seed files under dir (db/seed/base/ or db/seed/dev/) in name order. */
static int run_seed_files(PGconn *conn, const char *dir, struct ab_error *err)
{
    size_t dirlen = strlen(dir);
    int rc = 0;

    for (size_t i = 0; i < ab_embedded_files_count && !rc; i++) {
        const struct ab_embedded_file *f = &ab_embedded_files[i];
        struct ab_migration_script s;

        if (strncmp(f->path, dir, dirlen) != 0)
            continue;
        rc = ab_migrate_script_init(&s, f->path, (const char *)f->data, f->len, err);
        if (!rc)
            rc = ab_migrate_exec_script(conn, &s, err);
        ab_migrate_script_free(&s);
    }
    return rc;
}

/* True when exactly one row matches sql with the single parameter value. */
static int row_exists(PGconn *conn, const char *sql, const char *value, bool *exists,
                      struct ab_error *err)
{
    const char *params[1] = {value};
    PGresult *res;
    int rc = ab_pg_query(conn, sql, 1, params, &res, err);

    *exists = rc == 0 && PQntuples(res) == 1;
    PQclear(res);
    return rc;
}

/*
 * Hands the seed the hashes of its secrets, never the secrets themselves: the super
 * admin's password, and for the dev seed the demo admin's password and API key.
 */
static int set_seed_settings(PGconn *conn, const char *su_hash, const char *pw_hash,
                             const char *key_prefix, const char *key_hash, struct ab_error *err)
{
    const char *params[4] = {su_hash, pw_hash, key_prefix, key_hash};
    PGresult *res;
    int rc = ab_pg_query(conn,
                         "SELECT set_config('agentbase.seed_superadmin_password_hash', $1, true), "
                         "       set_config('agentbase.seed_admin_password_hash', $2, true), "
                         "       set_config('agentbase.seed_api_key_prefix', $3, true), "
                         "       set_config('agentbase.seed_api_key_hash', $4, true)",
                         4, params, &res, err);

    PQclear(res);
    return rc;
}

/* Saves password to $AGENTBASE_HOME/name if this run stored its hash (then only). */
static int save_if_new(PGconn *conn, const struct ab_config *cfg, const char *hash,
                       const char *name, const char *password, const char *what,
                       struct ab_error *err)
{
    bool created;
    int rc = row_exists(conn, "SELECT 1 FROM agentbase.users WHERE password_hash = $1", hash,
                        &created, err);

    if (!rc && created)
        rc = ab_cli_save_secret(cfg, name, password, what, err);
    return rc;
}

int ab_cli_run_seed(const struct ab_config *cfg, const char *conninfo, bool dev,
                    struct ab_error *err)
{
    struct ab_migration_set set;
    char password[25], pw_hash[AB_AUTH_HASH_MAX] = "", su_password[25], su_hash[AB_AUTH_HASH_MAX];
    char key[AB_KEY_LEN + 1], key_prefix[AB_KEY_PREFIX_LEN + 1], key_hash[65];
    PGconn *conn = NULL;
    bool created;
    int rc, current = 0;

    if ((rc = ab_migrate_load(&set, NULL, err)))
        return rc;
    if ((rc = ab_pg_connect(conninfo, "agentbase seed", &conn, err)))
        goto out;
    if ((rc = ab_migrate_current(conn, &current, err)))
        goto out;
    if (current != ab_migrate_head(&set)) {
        rc = ab_error_set(err, AB_ECONFLICT,
                          "the database is at version %04d, this agentbase needs %04d", current,
                          ab_migrate_head(&set));
        ab_error_hint(err, "run `agentbase migrate up` first");
        goto out;
    }
    ab_auth_random_password(password, sizeof(password));
    ab_auth_random_password(su_password, sizeof(su_password));
    ab_auth_key_new(key, key_prefix, key_hash);
    if ((rc = ab_auth_password_hash(su_password, su_hash, err)) ||
        (dev && (rc = ab_auth_password_hash(password, pw_hash, err))))
        goto out;
    if ((rc = ab_pg_exec(conn,
                         "BEGIN; SET LOCAL ROLE agentbase_owner; "
                         "SET LOCAL search_path TO agentbase, public",
                         err)))
        goto out;
    rc = set_seed_settings(conn, su_hash, pw_hash, dev ? key_prefix : "", dev ? key_hash : "", err);
    if (!rc)
        rc = run_seed_files(conn, "db/seed/base/", err);
    if (!rc && dev)
        rc = run_seed_files(conn, "db/seed/dev/", err);
    if (!rc)
        rc = ab_pg_exec(conn, "COMMIT", err);
    /* A secret is new only if this run stored its hash: then, and only then, save it. */
    if (!rc)
        rc = save_if_new(conn, cfg, su_hash, "superadmin-password", su_password,
                         "super admin admin@platform.local (tenant platform) password, to change "
                         "at first login",
                         err);
    if (rc || !dev)
        goto done;
    rc = save_if_new(conn, cfg, pw_hash, "admin-password", password,
                     "demo admin admin@demo.local (tenant demo) password, to change at "
                     "first login",
                     err);
    if (!rc)
        rc = row_exists(conn, "SELECT 1 FROM agentbase.api_keys WHERE key_hash = $1", key_hash,
                        &created, err);
    if (!rc && created)
        rc = ab_cli_save_secret(cfg, "dev-api-key", key, "demo tenant API key (scope admin)", err);
done:
    if (!rc)
        printf("seeded%s\n", dev ? " (with the demo tenant)" : "");
out:
    sodium_memzero(password, sizeof(password));
    sodium_memzero(su_password, sizeof(su_password));
    sodium_memzero(key, sizeof(key));
    if (conn)
        PQfinish(conn);
    ab_migrate_set_free(&set);
    return rc;
}

int ab_cli_seed(const struct ab_config *cfg, int argc, char **argv)
{
    struct ab_error err;
    char conninfo[4096];
    bool dev = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dev") == 0) {
            dev = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(seed_help, stdout);
            return AB_EXIT_OK;
        } else {
            return ab_cli_usage_error("seed", "unknown argument '%s'", argv[i]);
        }
    }
    if (ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), &err) != 0 ||
        ab_cli_run_seed(cfg, conninfo, dev, &err) != 0) {
        ab_cli_connect_hint(cfg, &err);
        return ab_cli_fail(&err);
    }
    return AB_EXIT_OK;
}
