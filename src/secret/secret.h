/*
 * secret: the encryption of the secrets agentbase stores (MCP configuration secrets, AI
 * provider API keys), with libsodium's XChaCha20-Poly1305 (IETF AEAD), under the key ring
 * of AGENTBASE_SECRET_KEY.
 *
 * The ring. Up to AB_SECRET_MAX_KEYS keys, each an id and 32 random bytes. The first key
 * is current: it seals; every key opens what it sealed. Its text form, the same in the
 * variable and in a key file:
 *
 *     <key id>:<the 32 bytes in standard base64>[,<key id>:<base64>...]
 *
 * entries separated by commas or newlines; in a file, blank lines and lines starting with
 * '#' are skipped. A key id is 1 to 64 letters, digits, '.', '_' or '-'.
 *
 * Where the ring comes from (ab_secret_ring_open), first match wins:
 *   1. AGENTBASE_SECRET_KEY, the ring itself;
 *   2. AGENTBASE_SECRET_KEY_FILE, a file holding it;
 *   3. on the embedded cluster (no DATABASE_URL), $AGENTBASE_HOME/secret-keys, created with
 *      one new key (mode 0600) the first time it is needed.
 * With DATABASE_URL and neither variable, there is no ring: a server must not invent a key
 * for a database that other servers share, or nothing it seals could be read elsewhere.
 *
 * A sealed secret is three values, stored side by side: the ciphertext (the plaintext and
 * a 16-byte tag), a random 24-byte nonce, and the id of the key that sealed it. The
 * additional data binds it to its place, "<tenant id>/<row id>/<purpose>" (purpose: the
 * table and column, e.g. mcp_server_configs.secrets), so a ciphertext copied into another
 * row, tenant or column does not open.
 *
 * A ring read from a file follows the file: seal and open first look whether it changed
 * (size, time, inode) and read it again if so. That is how `agentbase secrets rotate`
 * reaches running servers: it writes the new key into the file, and each server seals
 * with it from its next secret on, while still opening what the old key sealed.
 *
 * Ownership and threads: the ring owns its keys (in sodium_malloc'd memory, wiped by
 * ab_secret_ring_free). Seal and open take the ring's lock, so one ring may serve every
 * thread; the functions that change a ring (add, retire, save) are for one thread (the
 * CLI). A struct ab_secret_box owns its ciphertext (ab_secret_box_free). Plaintext comes
 * back in a struct ab_buf the caller releases with ab_secret_wipe.
 */
#ifndef AB_SECRET_H
#define AB_SECRET_H

#include "core/core.h"

#include <sodium.h>

#define AB_SECRET_KEY_BYTES   crypto_aead_xchacha20poly1305_ietf_KEYBYTES  /* 32 */
#define AB_SECRET_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES /* 24 */
#define AB_SECRET_TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES    /* 16 */
#define AB_SECRET_ID_MAX      64
#define AB_SECRET_MAX_KEYS    16
#define AB_SECRET_MAX_PLAIN   (64 * 1024) /* the largest secret sealed */
/* The name of the key file under AGENTBASE_HOME (embedded cluster). */
#define AB_SECRET_HOME_FILE "secret-keys"
/*
 * The advisory lock (two int4 keys, as SQL arguments) that a writer of secrets holds shared
 * for its transaction, and that a rotation takes exclusively for its final check: once the
 * rotation holds it, no transaction that sealed with an older key is still to commit.
 */
#define AB_SECRET_LOCK "1633825637, 1" /* 0x61627365: "abse" */

struct ab_secret_ring;

/* Where a secret is stored; the strings are the database's text forms (lowercase UUIDs). */
struct ab_secret_place {
    const char *tenant_id;
    const char *row_id;
    const char *purpose; /* table.column */
};

struct ab_secret_box {
    unsigned char *ciphertext; /* malloc'd, len bytes; NULL when empty */
    size_t len;
    unsigned char nonce[AB_SECRET_NONCE_BYTES];
    char key_id[AB_SECRET_ID_MAX + 1];
};

/*
 * Parses the text form of a ring; source names it in messages ("AGENTBASE_SECRET_KEY", a
 * path). Every message names the entry at fault and never shows key material.
 */
int ab_secret_ring_parse(const char *text, const char *source, struct ab_secret_ring **out,
                         struct ab_error *err) AB_MUSTCHECK;
/* The configured ring (see the top of this file); on the embedded cluster it may create
 * the key file, and then prints where to stdout. */
int ab_secret_ring_open(const struct ab_config *cfg, struct ab_secret_ring **out,
                        struct ab_error *err) AB_MUSTCHECK;
/*
 * Creates $AGENTBASE_HOME/secret-keys with one new key on the embedded cluster's first run:
 * when there is no DATABASE_URL, no variable names the ring and the file does not exist
 * yet. *created says whether it did.
 */
int ab_secret_home_keyfile_ensure(const struct ab_config *cfg, bool *created,
                                  struct ab_error *err) AB_MUSTCHECK;
/* A ring of one new key with id (NULL: a dated id such as k20250314-5f3a9c). */
int ab_secret_ring_generate(const char *id, struct ab_secret_ring **out,
                            struct ab_error *err) AB_MUSTCHECK;
void ab_secret_ring_free(struct ab_secret_ring *ring);

/* The file the ring follows, or NULL when it came from AGENTBASE_SECRET_KEY. */
const char *ab_secret_ring_file(const struct ab_secret_ring *ring);
/* Where the ring came from: the variable's name or the file's path. */
const char *ab_secret_ring_source(const struct ab_secret_ring *ring);
size_t ab_secret_ring_count(const struct ab_secret_ring *ring);
/* The id of key i (0 is current) copied into out; "" past the end. */
void ab_secret_ring_id(const struct ab_secret_ring *ring, size_t i, char out[AB_SECRET_ID_MAX + 1]);
bool ab_secret_ring_has(const struct ab_secret_ring *ring, const char *id);

/*
 * Adds a new random key with id (NULL: a dated one) in front: it becomes current, the
 * others still open. AB_ECONFLICT when the id is taken; AB_ETOOBIG when the ring is full.
 */
int ab_secret_ring_add(struct ab_secret_ring *ring, const char *id,
                       struct ab_error *err) AB_MUSTCHECK;
/* Drops every key but the current one. */
void ab_secret_ring_retire(struct ab_secret_ring *ring);
/* The text form of the ring (with a comment header when for_file) appended to out. */
int ab_secret_ring_format(struct ab_secret_ring *ring, bool for_file,
                          struct ab_buf *out) AB_MUSTCHECK;
/* Writes the ring to its file (atomically, mode 0600); AB_EINVAL for a ring from the variable. */
int ab_secret_ring_save(struct ab_secret_ring *ring, struct ab_error *err) AB_MUSTCHECK;

/*
 * Seals len bytes of plain for place with the current key; out is filled (and owned).
 * Seal and open fail with AB_EIO when the ring's file cannot be read or no longer parses
 * (the ring then keeps the keys it had).
 */
int ab_secret_seal(struct ab_secret_ring *ring, const struct ab_secret_place *at, const void *plain,
                   size_t len, struct ab_secret_box *out, struct ab_error *err) AB_MUSTCHECK;
/*
 * Opens box for place into plain (initialised here; NUL-terminated). AB_ENOTFOUND when the
 * ring lacks the box's key, AB_EINVAL when it does not open (another key under the same
 * id, a changed ciphertext or nonce, or a box from another place).
 */
int ab_secret_open(struct ab_secret_ring *ring, const struct ab_secret_place *at,
                   const struct ab_secret_box *box, struct ab_buf *plain,
                   struct ab_error *err) AB_MUSTCHECK;
void ab_secret_box_free(struct ab_secret_box *box);
/*
 * Fills box from the database's hex texts of ciphertext and nonce (encode(..., 'hex')) and
 * the key id; false when they are not hex of the right sizes (or no memory).
 */
bool ab_secret_box_from_hex(struct ab_secret_box *box, const char *ciphertext, const char *nonce,
                            const char *key_id);
/* Hex of n bytes (malloc'd; NULL without memory), for a bytea parameter decode($n, 'hex'). */
char *ab_secret_hex(const unsigned char *p, size_t n);
/* Overwrites and frees a buffer that held plaintext. */
void ab_secret_wipe(struct ab_buf *b);

/*
 * The last four characters of a secret of len bytes (UTF-8), for showing which one is set,
 * or "" when it has fewer than AB_SECRET_HINT_MIN characters: for a short secret, four
 * characters would be too much of it.
 */
#define AB_SECRET_HINT_MIN 12
void ab_secret_last4(const char *s, size_t len, char out[17]);

#endif
