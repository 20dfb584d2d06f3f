#include "auth/auth.h"

#include <string.h>

int ab_auth_password_hash(const char *password, char out[AB_AUTH_HASH_MAX], struct ab_error *err)
{
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return ab_error_set(err, AB_ENOMEM, "out of memory hashing a password");
    return 0;
}

bool ab_auth_password_verify(const char *hash, const char *password)
{
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void ab_auth_random_password(char *out, size_t len)
{
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    for (size_t i = 0; i + 1 < len; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    if (len)
        out[len - 1] = '\0';
}
