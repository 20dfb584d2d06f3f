/*
 * agentbase secrets: the key ring of stored secrets, and the secrets sealed with it.
 *
 * Rotation without downtime. Servers open a secret with whichever key of their ring sealed
 * it, and a ring read from a key file follows the file. So `rotate`, with a key file:
 *   1. puts a new key first in the file: every server seals with it from its next secret
 *      on, and still opens what the old keys sealed;
 *   2. re-seals every stored secret not sealed with the new key, in batches of one
 *      transaction each (rows a request holds are skipped and taken in the next pass);
 *   3. takes AB_SECRET_LOCK exclusively, which waits for every request that sealed or
 *      opened a secret to commit, and counts what is still sealed with another key; when
 *      nothing is, it writes the file with the new key alone (retiring the others) before
 *      letting go of the lock; else it goes back to 2.
 * With AGENTBASE_SECRET_KEY there is no file to write: the operator puts the new key first
 * in every server's variable, and rotate re-seals everything under that first key and says
 * which keys no secret uses any more, for the operator to remove.
 *
 * Rotation runs as agentbase_owner, and its changes are audited (actor: system, agentbase
 * secrets rotate) like any other.
 */
#include "api/api.h"
#include "cli/cli.h"
#include "cluster/cluster.h"
#include "pg/pg.h"
#include "secret/secret.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH 500
#define MAX_PASSES    5

static const char secrets_help[] =
    "usage: agentbase secrets <status|verify|rotate|new-key> [options]\n"
    "\n"
    "Stored secrets (MCP configuration secrets, AI provider API keys) are sealed with the key\n"
    "ring of AGENTBASE_SECRET_KEY, or of the file AGENTBASE_SECRET_KEY_FILE, or on the\n"
    "embedded cluster of $AGENTBASE_HOME/secret-keys: entries <key id>:<32 bytes in base64>\n"
    "separated by commas or lines; the first key seals, every key opens.\n"
    "\n"
    "  status               how many secrets each key id sealed, and the keys of the ring\n"
    "  verify               open every stored secret with the ring; exit 1 if any fails\n"
    "  rotate [--key-id ID] [--batch N]\n"
    "                       with a key file: put a new key (id ID, default dated) first in\n"
    "                       it, re-seal every secret with it in batches of N (default 500)\n"
    "                       while servers keep serving, then retire the other keys.\n"
    "                       With AGENTBASE_SECRET_KEY: re-seal every secret with its first\n"
    "                       key and name the keys no secret uses any more\n"
    "  new-key [--key-id ID]\n"
    "                       print a new entry for AGENTBASE_SECRET_KEY (keep a copy safe)\n";

/* ======================================================================================
 * The stored secrets, column by column
 * ====================================================================================== */

struct conn {
    PGconn *pg;
    struct ab_secret_ring *ring;
};

/* Runs a statement built from a descriptor's identifiers (fmt: %1$s columns, %2$s table). */
static int query(PGconn *pg, const struct ab_resource *r, const char *fmt, int n,
                 const char *const *params, PGresult **res, struct ab_error *err)
{
    char sql[2048];

    snprintf(sql, sizeof(sql), fmt, r->secret->columns, r->table);
    return ab_pg_query(pg, sql, n, params, res, err);
}

/* Prints (unless quiet) one line per key id of r's secrets; adds to *foreign those of ids
 * not in the ring. */
static int count_keys(struct conn *c, const struct ab_resource *r, bool quiet, long *foreign,
                      struct ab_error *err)
{
    char purpose[128];
    PGresult *res;
    int rc;

    ab_api_secret_purpose(r, purpose, sizeof(purpose));
    rc = query(c->pg, r,
               "SELECT %1$s_key_id, count(*) FROM agentbase.%2$s WHERE %1$s_key_id IS NOT NULL "
               "GROUP BY 1 ORDER BY 1",
               0, NULL, &res, err);
    if (rc)
        return rc;
    if (PQntuples(res) == 0 && !quiet)
        printf("%s none\n", purpose);
    for (int i = 0; i < PQntuples(res); i++) {
        bool known = ab_secret_ring_has(c->ring, PQgetvalue(res, i, 0));

        if (!quiet)
            printf("%s %s %s%s\n", purpose, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                   known ? "" : " (not in the key ring: these cannot be decrypted)");
        if (!known)
            *foreign += atol(PQgetvalue(res, i, 1));
    }
    PQclear(res);
    return 0;
}

static void print_ring(struct ab_secret_ring *ring)
{
    char id[AB_SECRET_ID_MAX + 1];

    printf("key ring: %s:", ab_secret_ring_source(ring));
    for (size_t i = 0; i < ab_secret_ring_count(ring); i++) {
        ab_secret_ring_id(ring, i, id);
        printf("%s %s%s", i ? "," : "", id, i ? "" : " (current)");
    }
    printf("\n");
}

/* Every secret resource's counts; *foreign: secrets whose key the ring lacks. */
static int all_counts(struct conn *c, bool quiet, long *foreign, struct ab_error *err)
{
    int rc = 0;

    *foreign = 0;
    for (size_t i = 0; !rc && i < ab_nresources; i++)
        if (ab_resources[i].secret)
            rc = count_keys(c, &ab_resources[i], quiet, foreign, err);
    return rc;
}

/*
 * Opens the secret of one row (the columns tenant, id, ciphertext hex, nonce hex, key id
 * of res's row i) into plain. Names the row in err when it does not open.
 */
static int open_row(struct conn *c, const struct ab_resource *r, PGresult *res, int i,
                    struct ab_buf *plain, struct ab_error *err)
{
    char purpose[128];
    struct ab_secret_place at = {PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), purpose};
    struct ab_secret_box box;
    int rc;

    ab_api_secret_purpose(r, purpose, sizeof(purpose));
    ab_buf_init(plain, 1);
    if (!ab_secret_box_from_hex(&box, PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                                PQgetvalue(res, i, 4)))
        rc = ab_error_set(err, AB_EINVAL, "the stored secret is malformed");
    else
        rc = ab_secret_open(c->ring, &at, &box, plain, err);
    ab_secret_box_free(&box);
    if (rc)
        ab_error_prefix(err, "%s of row %s (tenant %s)", purpose, at.row_id, at.tenant_id);
    return rc;
}

/* ======================================================================================
 * verify
 * ====================================================================================== */

/* Opens every secret of r, in pages; counts what opens and what does not. */
static int verify_resource(struct conn *c, const struct ab_resource *r, long *ok, long *failed,
                           struct ab_error *err)
{
    char after_t[40] = "00000000-0000-0000-0000-000000000000", after_id[40];
    const char *params[2] = {after_t, after_id};
    struct ab_error why;
    struct ab_buf plain;
    PGresult *res;
    int rc, n;

    snprintf(after_id, sizeof(after_id), "%s", after_t);
    do {
        rc = query(c->pg, r,
                   "SELECT tenant_id::text, id::text, encode(%1$s_ciphertext, 'hex'), "
                   "encode(%1$s_nonce, 'hex'), %1$s_key_id FROM agentbase.%2$s "
                   "WHERE %1$s_key_id IS NOT NULL AND (tenant_id, id) > ($1::uuid, $2::uuid) "
                   "ORDER BY tenant_id, id LIMIT 1000",
                   2, params, &res, err);
        if (rc)
            return rc;
        n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            if (open_row(c, r, res, i, &plain, &why) == 0) {
                (*ok)++;
            } else {
                if (++*failed <= 20)
                    printf("  %s\n", why.message);
                else if (*failed == 21)
                    printf("  ... (more)\n");
            }
            ab_secret_wipe(&plain);
        }
        if (n) {
            snprintf(after_t, sizeof(after_t), "%s", PQgetvalue(res, n - 1, 0));
            snprintf(after_id, sizeof(after_id), "%s", PQgetvalue(res, n - 1, 1));
        }
        PQclear(res);
    } while (n == 1000);
    return 0;
}

static int cmd_verify(struct conn *c, struct ab_error *err)
{
    long ok = 0, failed = 0;
    int rc = 0;

    print_ring(c->ring);
    for (size_t i = 0; !rc && i < ab_nresources; i++)
        if (ab_resources[i].secret)
            rc = verify_resource(c, &ab_resources[i], &ok, &failed, err);
    if (rc)
        return rc;
    printf("%ld secrets open with the key ring, %ld do not\n", ok, failed);
    if (failed)
        return ab_error_set(err, AB_ECONFLICT, "%ld stored secrets do not open with the key ring",
                            failed);
    return 0;
}

/* ======================================================================================
 * rotate
 * ====================================================================================== */

/* One batch of r: re-seals with the current key what another key sealed; *n rows done. */
static int reseal_batch(struct conn *c, const struct ab_resource *r, const char *target,
                        const char *batch, int *n, struct ab_error *err)
{
    const char *params[6] = {target, batch};
    struct ab_secret_box box = {0};
    struct ab_buf plain;
    PGresult *res = NULL, *upd = NULL;
    char *hex = NULL, nonce[2 * AB_SECRET_NONCE_BYTES + 1], purpose[128];
    int rc;

    *n = 0;
    ab_api_secret_purpose(r, purpose, sizeof(purpose));
    if ((rc = ab_pg_exec(c->pg,
                         "BEGIN; SELECT agentbase.set_request_context(NULL, 'system', "
                         "'agentbase secrets rotate')",
                         err)) ||
        (rc = query(c->pg, r,
                    "SELECT tenant_id::text, id::text, encode(%1$s_ciphertext, 'hex'), "
                    "encode(%1$s_nonce, 'hex'), %1$s_key_id FROM agentbase.%2$s "
                    "WHERE %1$s_key_id IS NOT NULL AND %1$s_key_id <> $1 "
                    "ORDER BY tenant_id, id LIMIT $2::int FOR UPDATE SKIP LOCKED",
                    2, params, &res, err)))
        goto out;
    for (int i = 0; !rc && i < PQntuples(res); i++) {
        struct ab_secret_place at = {PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), purpose};

        if ((rc = open_row(c, r, res, i, &plain, err)))
            break;
        rc = ab_secret_seal(c->ring, &at, plain.data, plain.len, &box, err);
        ab_secret_wipe(&plain);
        if (!rc && strcmp(box.key_id, target) != 0)
            rc = ab_error_set(err, AB_ECONFLICT, "the key ring changed during the rotation");
        if (!rc && !(hex = ab_secret_hex(box.ciphertext, box.len)))
            rc = ab_error_set(err, AB_ENOMEM, "out of memory");
        if (rc)
            break;
        sodium_bin2hex(nonce, sizeof(nonce), box.nonce, sizeof(box.nonce));
        params[0] = at.tenant_id;
        params[1] = at.row_id;
        params[2] = hex;
        params[3] = nonce;
        params[4] = box.key_id;
        params[5] = PQgetvalue(res, i, 4);
        rc = query(c->pg, r,
                   "UPDATE agentbase.%2$s SET (%1$s_ciphertext, %1$s_nonce, %1$s_key_id) = "
                   "(decode($3, 'hex'), decode($4, 'hex'), $5) "
                   "WHERE tenant_id = $1::uuid AND id = $2::uuid AND %1$s_key_id = $6",
                   6, params, &upd, err);
        PQclear(upd);
        upd = NULL;
        free(hex);
        hex = NULL;
        ab_secret_box_free(&box);
        *n += !rc;
    }
    if (!rc)
        rc = ab_pg_exec(c->pg, "COMMIT", err);
out:
    if (rc) {
        PQclear(PQexec(c->pg, "ROLLBACK"));
        *n = 0;
    }
    ab_secret_box_free(&box);
    PQclear(res);
    return rc;
}

/* Re-seals every secret of r that another key sealed, batch by batch; prints the count. */
static int reseal_resource(struct conn *c, const struct ab_resource *r, const char *target,
                           long batch, struct ab_error *err)
{
    char limit[24], purpose[128];
    long total = 0;
    int n, rc;

    snprintf(limit, sizeof(limit), "%ld", batch);
    ab_api_secret_purpose(r, purpose, sizeof(purpose));
    do {
        rc = reseal_batch(c, r, target, limit, &n, err);
        total += n;
    } while (!rc && n > 0);
    if (rc)
        ab_error_hint(err, "nothing was retired: every key of the ring still opens what it "
                           "sealed; fix the row and run rotate again");
    else if (total)
        printf("%s: %ld re-sealed with %s\n", purpose, total, target);
    return rc;
}

/* Secrets that a key other than target sealed, now. */
static int remaining(struct conn *c, const char *target, long *left, struct ab_error *err)
{
    const char *params[1] = {target};
    PGresult *res;
    int rc = 0;

    *left = 0;
    for (size_t i = 0; !rc && i < ab_nresources; i++) {
        if (!ab_resources[i].secret)
            continue;
        rc = query(c->pg, &ab_resources[i],
                   "SELECT count(*) FROM agentbase.%2$s "
                   "WHERE %1$s_key_id IS NOT NULL AND %1$s_key_id <> $1",
                   1, params, &res, err);
        if (!rc) {
            *left += atol(PQgetvalue(res, 0, 0));
            PQclear(res);
        }
    }
    return rc;
}

/* With the lock held and nothing left under other keys: retire them. */
static int retire(struct conn *c, const char *target, struct ab_error *err)
{
    char id[AB_SECRET_ID_MAX + 1];
    size_t n = ab_secret_ring_count(c->ring);
    int rc = 0;

    if (n == 1) {
        printf("every secret is sealed with %s, the only key of the ring\n", target);
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        ab_secret_ring_id(c->ring, i, id);
        printf("no secret is sealed with %s any more%s\n", id,
               ab_secret_ring_file(c->ring) ? ": retired" : "");
    }
    if (!ab_secret_ring_file(c->ring)) {
        printf("every secret is sealed with %s: remove the other keys from AGENTBASE_SECRET_KEY "
               "(on every server)\n",
               target);
        return 0;
    }
    ab_secret_ring_retire(c->ring);
    if ((rc = ab_secret_ring_save(c->ring, err)) == 0)
        printf("every secret is sealed with %s, the only key in %s now\n", target,
               ab_secret_ring_file(c->ring));
    return rc;
}

static int cmd_rotate(struct conn *c, const char *key_id, long batch, struct ab_error *err)
{
    char target[AB_SECRET_ID_MAX + 1];
    long foreign = 0, left = 0;
    int rc;

    if (key_id && !ab_secret_ring_file(c->ring))
        return ab_error_set(err, AB_EINVAL,
                            "--key-id names the new key of a key file; with %s, put the new key "
                            "first in it (agentbase secrets new-key makes one)",
                            ab_secret_ring_source(c->ring));
    /* Nothing is changed while a secret is sealed with a key the ring lacks. */
    if ((rc = all_counts(c, true, &foreign, err)))
        return rc;
    if (foreign)
        return ab_error_set(err, AB_ECONFLICT,
                            "%ld stored secrets are sealed with keys the ring (%s) lacks; "
                            "nothing was changed",
                            foreign, ab_secret_ring_source(c->ring));
    if (ab_secret_ring_file(c->ring)) {
        if ((rc = ab_secret_ring_add(c->ring, key_id, err)) ||
            (rc = ab_secret_ring_save(c->ring, err)))
            return rc;
        ab_secret_ring_id(c->ring, 0, target);
        printf("new key %s is current in %s: servers reading it seal with it from now on\n", target,
               ab_secret_ring_file(c->ring));
    }
    ab_secret_ring_id(c->ring, 0, target);
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        for (size_t i = 0; !rc && i < ab_nresources; i++)
            if (ab_resources[i].secret)
                rc = reseal_resource(c, &ab_resources[i], target, batch, err);
        if (rc)
            return rc;
        /* The final check waits for every request that holds AB_SECRET_LOCK shared. */
        if ((rc = ab_pg_exec(c->pg, "SELECT pg_advisory_lock(" AB_SECRET_LOCK ")", err)))
            return rc;
        rc = remaining(c, target, &left, err);
        if (!rc && left == 0)
            rc = retire(c, target, err);
        /* best effort: the lock also ends with the connection */
        PQclear(PQexec(c->pg, "SELECT pg_advisory_unlock(" AB_SECRET_LOCK ")"));
        if (rc || left == 0)
            return rc;
    }
    return ab_error_set(err, AB_ECONFLICT,
                        "%ld secrets are still sealed with other keys after %d passes: does "
                        "every server read the same key ring, with %s first?",
                        left, MAX_PASSES, target);
}

/* ======================================================================================
 * The command
 * ====================================================================================== */

static int cmd_new_key(const char *key_id)
{
    struct ab_secret_ring *ring = NULL;
    struct ab_error err;
    struct ab_buf text;
    int rc;

    ab_buf_init(&text, 4096);
    if ((rc = ab_secret_ring_generate(key_id, &ring, &err)))
        return ab_cli_fail(&err);
    if (ab_secret_ring_format(ring, false, &text) == 0)
        printf("%s\n", text.data);
    ab_secret_wipe(&text);
    ab_secret_ring_free(ring);
    fprintf(stderr, "a new key: put it first in AGENTBASE_SECRET_KEY (entries separated by "
                    "commas) to make it current, and keep a copy safe\n");
    return AB_EXIT_OK;
}

int ab_cli_secrets(const struct ab_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"key-id", required_argument, 0, 'k'},
                                         {"batch", required_argument, 0, 'b'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *sub = argc > 1 ? argv[1] : NULL, *key_id = NULL;
    struct conn c = {0};
    struct ab_error err;
    char conninfo[4096];
    long batch = DEFAULT_BATCH, foreign = 0;
    int o, rc;

    if (!sub || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(secrets_help, sub ? stdout : stderr);
        return sub ? AB_EXIT_OK : AB_EXIT_USAGE;
    }
    optind = 1;
    while ((o = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        if (o == 'h') {
            fputs(secrets_help, stdout);
            return AB_EXIT_OK;
        } else if (o == 'k') {
            key_id = optarg;
        } else if (o != 'b' || !ab_cli_parse_int(optarg, 100000, &batch) || batch < 1) {
            return ab_cli_usage_error("secrets", "--batch takes a number from 1 to 100000");
        }
    }
    if (optind < argc - 1)
        return ab_cli_usage_error("secrets", "unexpected argument '%s'", argv[optind + 1]);
    if (strcmp(sub, "new-key") == 0)
        return cmd_new_key(key_id);
    if (strcmp(sub, "status") != 0 && strcmp(sub, "verify") != 0 && strcmp(sub, "rotate") != 0)
        return ab_cli_usage_error("secrets", "unknown subcommand '%s'", sub);
    if ((key_id || batch != DEFAULT_BATCH) && strcmp(sub, "rotate") != 0)
        return ab_cli_usage_error("secrets", "--key-id and --batch go with rotate");
    if ((rc = ab_cli_secret_ring(cfg, &c.ring, &err)) ||
        (rc = ab_cluster_conninfo(cfg, conninfo, sizeof(conninfo), &err)) ||
        (rc = ab_pg_connect(conninfo, "agentbase secrets", &c.pg, &err)) ||
        (rc = ab_pg_exec(c.pg, "SET ROLE agentbase_owner", &err)))
        goto out;
    if (strcmp(sub, "status") == 0) {
        print_ring(c.ring);
        rc = all_counts(&c, false, &foreign, &err);
    } else if (strcmp(sub, "verify") == 0) {
        rc = cmd_verify(&c, &err);
    } else {
        rc = cmd_rotate(&c, key_id, batch, &err);
    }
out:
    if (c.pg)
        PQfinish(c.pg);
    ab_secret_ring_free(c.ring);
    if (rc) {
        ab_cli_connect_hint(cfg, &err);
        return ab_cli_fail(&err);
    }
    return AB_EXIT_OK;
}
