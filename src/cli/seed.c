/* agentbase seed: reference data, and with --dev a demo tenant to try things with. */
#include "auth/auth.h"
#include "cli/cli.h"
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
    "  --dev   also a demo tenant (slug 'demo') with an admin user, the development\n"
    "          platform's six agents and sample agents. The admin's password is written\n"
    "          to $AGENTBASE_HOME/admin-password (mode 0600) and must be changed at first login.\n"
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

/* Writes the demo admin's password where only the operator can read it. */
static int save_admin_password(const struct ab_config *cfg, const char *password,
                               struct ab_error *err)
{
    char path[PATH_MAX + 32], line[128];
    int rc;

    if ((rc = ab_mkdir_p(cfg->home, 0755, err)))
        return rc;
    if (ab_path_join(path, sizeof(path), cfg->home, "admin-password"))
        return ab_error_set(err, AB_ETOOBIG, "AGENTBASE_HOME is too long");
    snprintf(line, sizeof(line), "%s\n", password);
    if ((rc = ab_file_write(path, line, strlen(line), 0600, err)))
        return rc;
    printf("demo admin: admin@demo.local in tenant 'demo'; password in %s (change it at first "
           "login)\n",
           path);
    return 0;
}

int ab_cli_run_seed(const struct ab_config *cfg, const char *conninfo, bool dev,
                    struct ab_error *err)
{
    struct ab_migration_set set;
    char password[25], hash[AB_AUTH_HASH_MAX];
    const char *params[1] = {hash};
    PGconn *conn = NULL;
    PGresult *res = NULL;
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
    if (dev && (rc = ab_auth_password_hash(password, hash, err)))
        goto out;
    if ((rc = ab_pg_exec(conn,
                         "BEGIN; SET LOCAL ROLE agentbase_owner; "
                         "SET LOCAL search_path TO agentbase, public",
                         err)))
        goto out;
    if (dev) {
        rc = ab_pg_query(conn, "SELECT set_config('agentbase.seed_admin_password_hash', $1, true)",
                         1, params, &res, err);
        PQclear(res);
        res = NULL;
    }
    if (!rc)
        rc = run_seed_files(conn, "db/seed/base/", err);
    if (!rc && dev)
        rc = run_seed_files(conn, "db/seed/dev/", err);
    if (!rc)
        rc = ab_pg_exec(conn, "COMMIT", err);
    if (rc)
        goto out;
    /* The admin exists with our hash only if this run created it. */
    if (dev) {
        rc = ab_pg_query(conn, "SELECT 1 FROM agentbase.users WHERE password_hash = $1", 1, params,
                         &res, err);
        if (!rc && PQntuples(res) > 0)
            rc = save_admin_password(cfg, password, err);
    }
    if (!rc)
        printf("seeded%s\n", dev ? " (with the demo tenant)" : "");
out:
    sodium_memzero(password, sizeof(password));
    PQclear(res);
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
    if (ab_pg_conninfo(cfg, conninfo, sizeof(conninfo), &err) != 0 ||
        ab_cli_run_seed(cfg, conninfo, dev, &err) != 0) {
        ab_cli_connect_hint(cfg, &err);
        return ab_cli_fail(&err);
    }
    return AB_EXIT_OK;
}
