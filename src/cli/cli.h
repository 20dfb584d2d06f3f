/*
 * cli: one function per command of the `agentbase` binary. Each receives the command's own
 * arguments (argv[0] is the command name), parses them with getopt_long, prints results to
 * stdout and errors to stderr, and returns the process exit status: 0 success, 1 failure,
 * 2 bad usage. Only main() exits.
 */
#ifndef AB_CLI_H
#define AB_CLI_H

#include "core/core.h"

int ab_cli_up(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_pg(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_migrate(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_seed(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_version(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_docs(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_serve(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_keys(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_maintain(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_secrets(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_users(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_db(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_backup(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_restore(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_dump(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_load(const struct ab_config *cfg, int argc, char **argv);
int ab_cli_status(const struct ab_config *cfg, int argc, char **argv);

/* ---- shared by the commands ----------------------------------------------------------- */

#define AB_EXIT_OK    0
#define AB_EXIT_FAIL  1
#define AB_EXIT_USAGE 2

/* Prints err and returns AB_EXIT_FAIL. */
int ab_cli_fail(const struct ab_error *err);
/* Prints "agentbase <cmd>: <message>" and a pointer to --help; returns AB_EXIT_USAGE. */
int ab_cli_usage_error(const char *cmd, const char *fmt, ...) AB_PRINTF(2, 3);
/* The database to use; for the embedded cluster, hints at `agentbase pg start` on failure. */
int ab_cli_connect_hint(const struct ab_config *cfg, struct ab_error *err);
/* The exit status for rc: AB_EXIT_OK, or err printed (with that hint) and AB_EXIT_FAIL. */
int ab_cli_exit(const struct ab_config *cfg, int rc, struct ab_error *err);
/* Parses a whole non-negative number; false when s is not one or exceeds max. */
bool ab_cli_parse_int(const char *s, long max, long *out);
/* Writes secret to $AGENTBASE_HOME/name (mode 0600) and prints "<what>: in <path>". */
int ab_cli_save_secret(const struct ab_config *cfg, const char *name, const char *secret,
                       const char *what, struct ab_error *err) AB_MUSTCHECK;
/* Creates a platform-admin key and saves it to $AGENTBASE_HOME/admin-key (first run of up). */
int ab_cli_bootstrap_admin_key(const struct ab_config *cfg, const char *conninfo,
                               struct ab_error *err) AB_MUSTCHECK;
/*
 * The key ring of stored secrets (secret/secret.h), for the commands that seal or open
 * them; on the embedded cluster's first run it creates $AGENTBASE_HOME/secret-keys and says
 * so. The caller frees the ring.
 */
struct ab_secret_ring;
int ab_cli_secret_ring(const struct ab_config *cfg, struct ab_secret_ring **out,
                       struct ab_error *err) AB_MUSTCHECK;
/* On the embedded cluster's first run, creates $AGENTBASE_HOME/secret-keys and says so. */
int ab_cli_secret_keyfile(const struct ab_config *cfg, struct ab_error *err) AB_MUSTCHECK;
/*
 * migrate status and verify: the same comparison, shown in full or (verify) as problems
 * only; an exit status, AB_EXIT_FAIL when verify finds drift or unknown versions.
 */
struct ab_migration_set;
int ab_cli_migrate_report(const char *conninfo, const struct ab_migration_set *set, bool verify);
/* maintain's backup task: the backup the schedule says is due (*n 1), if any (*n 0). */
int ab_cli_backup_scheduled(const struct ab_config *cfg, long *n,
                            struct ab_error *err) AB_MUSTCHECK;
/* Seeds the database: base data, and the demo tenant when dev. */
int ab_cli_run_seed(const struct ab_config *cfg, const char *conninfo, bool dev,
                    struct ab_error *err) AB_MUSTCHECK;

#endif
