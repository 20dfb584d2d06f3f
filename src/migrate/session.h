/*
 * What the files of the migration engine share (session.c): not part of its contract, and
 * included only by the .c files of src/migrate. Callers use migrate/migrate.h.
 *
 * A session is a migrator's two connections: `work` runs everything, `lock` (opened only
 * when asked) holds the migration lock and nothing else. The caller owns the session and
 * closes it, which releases the lock. The applied rows read from agentbase_migrate.versions
 * come back malloc'd, ascending by version (free them).
 */
#ifndef AB_MIGRATE_SESSION_H
#define AB_MIGRATE_SESSION_H

#include "migrate/migrate.h"

#include <libpq-fe.h>

/* The migration lock: pg_advisory_lock(K1, K2); 0x61626d67 is "abmg". */
#define AB_MIGRATE_LOCK_K1 "1633840487"
#define AB_MIGRATE_LOCK_K2 "1"

/* Who applied a migration, computed by the server so that plan output needs no values. */
#define AB_MIGRATE_APPLIED_BY "session_user || coalesce(' from ' || host(inet_client_addr()), '')"

/* Creates the schema agentbase_migrate and its tables where missing (several statements). */
extern const char ab_migrate_state_ddl[];

struct ab_migrate_session {
    PGconn *lock;
    PGconn *work;
    bool locked;
};

/* Opens the work connection, and the lock connection when with_lock. */
int ab_migrate_session_open(struct ab_migrate_session *s, const char *conninfo, bool with_lock,
                            struct ab_error *err) AB_MUSTCHECK;
/* Releases the lock if held and closes both connections. */
void ab_migrate_session_close(struct ab_migrate_session *s);
/*
 * Takes the migration lock on s->lock, waiting up to o->lock_timeout_s (AB_ETIMEOUT after)
 * and saying every ten seconds on o->out who holds it.
 */
int ab_migrate_lock(struct ab_migrate_session *s, const struct ab_migrate_opts *o,
                    struct ab_error *err) AB_MUSTCHECK;

/* A row of agentbase_migrate.versions. */
struct ab_migrate_applied {
    int version;
    char name[200];
    char checksum[65];
    char applied_at[64];
    char applied_by[128];
    double duration_ms;
};

/*
 * The applied migrations (those applied after since, when not NULL), ascending; none when
 * the database was never migrated.
 */
int ab_migrate_read_applied(PGconn *conn, const char *since, struct ab_migrate_applied **out,
                            size_t *count, struct ab_error *err) AB_MUSTCHECK;
/* The row of that version among a, or NULL. */
const struct ab_migrate_applied *ab_migrate_find_applied(const struct ab_migrate_applied *a,
                                                         size_t n, int version);

#endif
