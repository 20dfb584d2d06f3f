/*
 * auth: passwords (argon2id through libsodium), a bounded pool that runs their
 * verification, and API keys. Needs sodium_init() first; every function is thread-safe,
 * and only the pool (ab_auth_hasher_*) keeps state.
 *
 * An API key reads `ab_` + 8 characters of key id + 22 of secret (131 random bits) + 6 of
 * checksum, all base62: 39 characters, e.g. ab_Xk3f9QaLm0Zp7rT2vW8yB4nC6dE1gH5jKs9uVo.
 * The checksum (CRC-32 of what precedes it) lets the service refuse a mistyped or made-up
 * key without touching the database. Only the SHA-256 of the whole key is stored, with
 * `ab_` + key id as the display prefix; with 131 random bits a fast hash is enough.
 */
#ifndef AB_AUTH_H
#define AB_AUTH_H

#include "core/core.h"

#include <sodium.h>

#define AB_AUTH_HASH_MAX crypto_pwhash_STRBYTES

/*
 * Hashes a password with argon2id at libsodium's interactive limits (64 MiB, 2 passes),
 * above OWASP's minimum (19 MiB, 2 passes), into the encoded form `$argon2id$v=19$...`.
 */
int ab_auth_password_hash(const char *password, char out[AB_AUTH_HASH_MAX],
                          struct ab_error *err) AB_MUSTCHECK;
/* True when password matches the encoded hash (constant time in the password). */
bool ab_auth_password_verify(const char *hash, const char *password);
/*
 * A bounded pool for argon2id work (64 MiB and tens of milliseconds a hash, by design), so
 * that sign-ins and password changes take at most nthreads cores and queue_max waiting
 * jobs however many arrive, and never the threads that serve other requests. A job
 * verifies password against hash (when hash is set), then hashes new_password into
 * new_hash (when new_password is set, and the verification, if any, passed). Its strings
 * belong to its owner until done(job) has run, on a pool thread, with the results set;
 * done runs exactly once for every job the pool accepted.
 */
struct ab_auth_hasher;
struct ab_auth_job {
    const char *hash;         /* the encoded hash to verify against, or NULL */
    const char *password;     /* what the user typed, with hash */
    const char *new_password; /* to hash, or NULL */
    bool ok;                  /* the verification passed (true when there was none) */
    bool hashed;              /* new_hash holds the hash of new_password */
    char new_hash[AB_AUTH_HASH_MAX];
    void (*done)(struct ab_auth_job *job);
    void *arg;                /* for done() */
    struct ab_auth_job *next; /* the pool's queue */
};
int ab_auth_hasher_start(int nthreads, int queue_max, struct ab_auth_hasher **out,
                         struct ab_error *err) AB_MUSTCHECK;
/* Queues job: 0, or AB_ECONFLICT when queue_max jobs wait already or the pool has stopped
 * (then done() never runs). */
int ab_auth_hasher_submit(struct ab_auth_hasher *h, struct ab_auth_job *job) AB_MUSTCHECK;
/* Finishes the jobs queued and stops the threads; later submissions are refused. */
void ab_auth_hasher_stop(struct ab_auth_hasher *h);
/* Frees a stopped pool. */
void ab_auth_hasher_free(struct ab_auth_hasher *h);

/* Fills out with a random password of len - 1 url-safe characters. */
void ab_auth_random_password(char *out, size_t len);

#define AB_PASSWORD_MIN_CHARS 12   /* characters (UTF-8 code points) */
#define AB_PASSWORD_MAX_BYTES 1024 /* argon2id takes any length; a request body should not */

/*
 * The rules a new password must pass for the account with this e-mail and username (either
 * may be NULL). NULL when it passes; else the name of the first rule it breaks, with *why
 * set to a phrase that completes "the password ...":
 *   min_length  fewer than AB_PASSWORD_MIN_CHARS characters
 *   max_length  more than AB_PASSWORD_MAX_BYTES bytes
 *   common      one of the most common passwords (src/auth/common-passwords.txt, compiled
 *               in), also lowercased, with digits and symbols around it, in l33t spelling
 *               or repeated; a run like abcdefghijkl; a repetition of up to four characters
 *   personal    the account's e-mail, its local part or the username, decorated likewise
 * Returned strings are static.
 */
const char *ab_auth_password_rule(const char *password, const char *email, const char *username,
                                  const char **why);

#define AB_KEY_LEN        39 /* characters, without the NUL */
#define AB_KEY_PREFIX_LEN 11 /* "ab_" + key id */

/* Makes a new key: the key itself (shown once), its display prefix and its SHA-256 hex. */
void ab_auth_key_new(char key[AB_KEY_LEN + 1], char prefix[AB_KEY_PREFIX_LEN + 1], char hash[65]);
/* True when s has the shape and checksum of a key (says nothing about whether it exists). */
bool ab_auth_key_wellformed(const char *s, size_t len);
/* SHA-256 hex of a key, as stored. */
void ab_auth_key_hash(const char *key, size_t len, char hash[65]);

#endif
