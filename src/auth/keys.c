#include "auth/auth.h"

#include <string.h>

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#define ID_LEN     8
#define SECRET_LEN 22
#define CHECK_LEN  6
#define BODY_LEN   (3 + ID_LEN + SECRET_LEN) /* what the checksum covers */

static uint32_t crc32(const char *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;

    for (size_t i = 0; i < n; i++) {
        crc ^= (unsigned char)p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* The checksum as 6 base62 digits (62^6 > 2^32), most significant first. */
static void encode_check(uint32_t v, char out[CHECK_LEN])
{
    for (int i = CHECK_LEN - 1; i >= 0; i--) {
        out[i] = base62[v % 62];
        v /= 62;
    }
}

void ab_auth_key_hash(const char *key, size_t len, char hash[65])
{
    ab_sha256_hex(key, len, hash);
}

void ab_auth_key_new(char key[AB_KEY_LEN + 1], char prefix[AB_KEY_PREFIX_LEN + 1], char hash[65])
{
    memcpy(key, "ab_", 3);
    /* randombytes_uniform avoids modulo bias: every character carries log2(62) bits. */
    for (size_t i = 3; i < BODY_LEN; i++)
        key[i] = base62[randombytes_uniform(62)];
    encode_check(crc32(key, BODY_LEN), key + BODY_LEN);
    key[AB_KEY_LEN] = '\0';
    memcpy(prefix, key, AB_KEY_PREFIX_LEN);
    prefix[AB_KEY_PREFIX_LEN] = '\0';
    ab_auth_key_hash(key, AB_KEY_LEN, hash);
}

bool ab_auth_key_wellformed(const char *s, size_t len)
{
    char check[CHECK_LEN];

    if (len != AB_KEY_LEN || memcmp(s, "ab_", 3) != 0)
        return false;
    for (size_t i = 3; i < AB_KEY_LEN; i++)
        if (!memchr(base62, s[i], sizeof(base62) - 1) || s[i] == '\0')
            return false;
    encode_check(crc32(s, BODY_LEN), check);
    return memcmp(check, s + BODY_LEN, CHECK_LEN) == 0;
}
