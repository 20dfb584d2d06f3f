/*
 * auth: passwords (argon2id through libsodium). API keys and sessions join this module
 * with the REST service. Needs sodium_init() first; every function is thread-safe.
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
/* Fills out with a random password of len - 1 url-safe characters. */
void ab_auth_random_password(char *out, size_t len);

#endif
