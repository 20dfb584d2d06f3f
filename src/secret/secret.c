#include "secret/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
#define B64_LEN     sodium_base64_ENCODED_LEN(AB_SECRET_KEY_BYTES, B64_VARIANT) /* with NUL */
#define FILE_MAX    (64 * 1024)
#define AD_MAX      256

struct key {
    char id[AB_SECRET_ID_MAX + 1];
    unsigned char bytes[AB_SECRET_KEY_BYTES];
};

struct ab_secret_ring {
    pthread_mutex_t mu;
    struct key *keys; /* sodium_malloc'd: AB_SECRET_MAX_KEYS entries, n in use */
    size_t n;
    char source[PATH_MAX];
    bool from_file;
    /* the key file as last read: a change of any of these means read it again */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

static const char file_header[] =
    "# agentbase secret keys (the format of AGENTBASE_SECRET_KEY): the first key encrypts,\n"
    "# every key decrypts. Without this file the secrets stored in the database cannot be\n"
    "# decrypted: back it up, apart from the database. `agentbase secrets rotate` rewrites it.\n";

/* ======================================================================================
 * Rings
 * ====================================================================================== */

static struct ab_secret_ring *ring_new(const char *source, bool from_file)
{
    struct ab_secret_ring *ring = calloc(1, sizeof(*ring));

    if (!ring)
        return NULL;
    ring->keys = sodium_malloc(AB_SECRET_MAX_KEYS * sizeof(*ring->keys));
    if (!ring->keys) {
        free(ring);
        return NULL;
    }
    pthread_mutex_init(&ring->mu, NULL);
    snprintf(ring->source, sizeof(ring->source), "%s", source);
    ring->from_file = from_file;
    return ring;
}

void ab_secret_ring_free(struct ab_secret_ring *ring)
{
    if (!ring)
        return;
    sodium_free(ring->keys); /* wipes them */
    pthread_mutex_destroy(&ring->mu);
    free(ring);
}

static bool id_ok(const char *s, size_t len)
{
    static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789._-";

    if (len < 1 || len > AB_SECRET_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!s[i] || !strchr(allowed, s[i]))
            return false;
    return true;
}

static struct key *find(const struct ab_secret_ring *ring, const char *id)
{
    for (size_t i = 0; i < ring->n; i++)
        if (strcmp(ring->keys[i].id, id) == 0)
            return &ring->keys[i];
    return NULL;
}

/* One entry "<id>:<base64>" (trimmed, not empty) appended to ring; number counts from 1. */
static int parse_entry(struct ab_secret_ring *ring, const char *p, size_t len, size_t number,
                       struct ab_error *err)
{
    const char *colon = memchr(p, ':', len), *end = NULL;
    size_t idlen, keylen = 0;
    struct key *k;

    if (!colon)
        return ab_error_set(err, AB_EINVAL, "%s: entry %zu is not <key id>:<base64 key>",
                            ring->source, number);
    idlen = (size_t)(colon - p);
    if (!id_ok(p, idlen))
        return ab_error_set(err, AB_EINVAL,
                            "%s: entry %zu: a key id is 1 to %d letters, digits, '.', '_' or '-'",
                            ring->source, number, AB_SECRET_ID_MAX);
    if (ring->n == AB_SECRET_MAX_KEYS)
        return ab_error_set(err, AB_ETOOBIG, "%s: more than %d keys", ring->source,
                            AB_SECRET_MAX_KEYS);
    k = &ring->keys[ring->n];
    memcpy(k->id, p, idlen);
    k->id[idlen] = '\0';
    if (find(ring, k->id))
        return ab_error_set(err, AB_EINVAL, "%s: entry %zu: key id %s appears twice", ring->source,
                            number, k->id);
    if (sodium_base642bin(k->bytes, sizeof(k->bytes), colon + 1, len - idlen - 1, NULL, &keylen,
                          &end, B64_VARIANT) != 0 ||
        end != p + len || keylen != AB_SECRET_KEY_BYTES)
        return ab_error_set(err, AB_EINVAL, "%s: entry %zu (key %s): a key is %d bytes in base64",
                            ring->source, number, k->id, AB_SECRET_KEY_BYTES);
    ring->n++;
    return 0;
}

/* Fills ring from text: lines, each of entries separated by commas; '#' lines skipped. */
static int parse_into(struct ab_secret_ring *ring, const char *text, struct ab_error *err)
{
    size_t number = 0;
    int rc;

    for (const char *line = text; *line;) {
        size_t linelen = strcspn(line, "\n");

        for (size_t i = 0; i < linelen && line[strspn(line, " \t\r")] != '#';) {
            const char *p = line + i;
            size_t len = strcspn(p, ",\n");

            i += len + 1;
            while (len && strchr(" \t\r", *p))
                p++, len--;
            while (len && strchr(" \t\r", p[len - 1]))
                len--;
            if (len && (rc = parse_entry(ring, p, len, ++number, err)))
                return rc;
        }
        line += linelen + (line[linelen] == '\n');
    }
    if (ring->n == 0)
        return ab_error_set(err, AB_EINVAL, "%s holds no key", ring->source);
    return 0;
}

/* Hands ring out when rc is 0, else frees it; returns rc. */
static int hand_out(struct ab_secret_ring *ring, int rc, struct ab_secret_ring **out)
{
    if (rc)
        ab_secret_ring_free(ring);
    else
        *out = ring;
    return rc;
}

static int parse_new(const char *text, const char *source, bool from_file,
                     struct ab_secret_ring **out, struct ab_error *err)
{
    struct ab_secret_ring *ring = ring_new(source, from_file);

    *out = NULL;
    if (!ring)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    return hand_out(ring, parse_into(ring, text, err), out);
}

int ab_secret_ring_parse(const char *text, const char *source, struct ab_secret_ring **out,
                         struct ab_error *err)
{
    return parse_new(text, source, false, out, err);
}

/* ======================================================================================
 * Key files
 * ====================================================================================== */

static bool same_file(const struct ab_secret_ring *ring, const struct stat *st)
{
    return ring->dev == st->st_dev && ring->ino == st->st_ino && ring->size == st->st_size &&
           ring->mtime.tv_sec == st->st_mtim.tv_sec && ring->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void remember_file(struct ab_secret_ring *ring, const struct stat *st)
{
    ring->dev = st->st_dev;
    ring->ino = st->st_ino;
    ring->size = st->st_size;
    ring->mtime = st->st_mtim;
}

/*
 * Reads the ring's file again when it changed since it was last read (caller holds the
 * lock). On any failure the ring keeps the keys it had.
 */
static int reread(struct ab_secret_ring *ring, struct ab_error *err);

/* As reread, for seal and open: any failure there is AB_EIO, the key file's fault. */
static int follow(struct ab_secret_ring *ring, struct ab_error *err)
{
    int rc = reread(ring, err);

    if (rc)
        err->code = rc = AB_EIO;
    return rc;
}

static int reread(struct ab_secret_ring *ring, struct ab_error *err)
{
    struct ab_secret_ring *fresh = NULL;
    struct ab_buf text;
    struct stat st;
    struct key *swap;
    int rc;

    if (!ring->from_file)
        return 0;
    if (stat(ring->source, &st) != 0)
        return ab_error_set(err, AB_EIO, "cannot read the key file %s: %s", ring->source,
                            strerror(errno));
    if (ring->n && same_file(ring, &st))
        return 0;
    if ((rc = ab_file_read(ring->source, FILE_MAX, &text, err)))
        return rc;
    rc = parse_new(text.data, ring->source, true, &fresh, err);
    ab_secret_wipe(&text);
    if (rc)
        return rc;
    swap = ring->keys;
    ring->keys = fresh->keys;
    ring->n = fresh->n;
    fresh->keys = swap;
    remember_file(ring, &st);
    ab_secret_ring_free(fresh);
    return 0;
}

static int ring_from_file(const char *path, struct ab_secret_ring **out, struct ab_error *err)
{
    struct ab_secret_ring *ring = ring_new(path, true);

    *out = NULL;
    if (!ring)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    return hand_out(ring, reread(ring, err), out);
}

/* A dated key id such as k20250314-5f3a9c. */
static void new_id(char out[AB_SECRET_ID_MAX + 1])
{
    unsigned char r[3];
    char hex[7];
    time_t now = time(NULL);
    struct tm tm;

    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    gmtime_r(&now, &tm);
    snprintf(out, AB_SECRET_ID_MAX + 1, "k%04d%02d%02d-%s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, hex);
}

int ab_secret_ring_generate(const char *id, struct ab_secret_ring **out, struct ab_error *err)
{
    struct ab_secret_ring *ring = ring_new("a new key", false);

    *out = NULL;
    if (!ring)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    return hand_out(ring, ab_secret_ring_add(ring, id, err), out);
}

static int home_keyfile(const struct ab_config *cfg, char *path, size_t n, struct ab_error *err)
{
    if (ab_path_join(path, n, cfg->home, AB_SECRET_HOME_FILE))
        return ab_error_set(err, AB_ETOOBIG, "AGENTBASE_HOME is too long");
    return 0;
}

int ab_secret_home_keyfile_ensure(const struct ab_config *cfg, bool *created, struct ab_error *err)
{
    struct ab_secret_ring *ring = NULL;
    struct ab_buf text;
    char path[PATH_MAX];
    int fd = -1, rc;

    *created = false;
    ab_buf_init(&text, FILE_MAX);
    if (cfg->secret_key[0] || cfg->secret_key_file[0] || !ab_config_embedded(cfg))
        return 0;
    if ((rc = home_keyfile(cfg, path, sizeof(path), err)) ||
        (rc = ab_mkdir_p(cfg->home, 0755, err)))
        return rc;
    if (access(path, F_OK) == 0)
        return 0;
    if ((rc = ab_secret_ring_generate(NULL, &ring, err)))
        return rc;
    if ((rc = ab_secret_ring_format(ring, true, &text))) {
        ab_error_set(err, rc, "out of memory");
        goto out;
    }
    /* O_EXCL: of two first runs at once, one writes the key and both then use it. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        goto out;
    if (fd < 0 || write(fd, text.data, text.len) != (ssize_t)text.len || fsync(fd) != 0) {
        rc = ab_error_set(err, AB_EIO, "cannot write the key file %s: %s", path, strerror(errno));
        if (fd >= 0)
            unlink(path);
        goto out;
    }
    *created = true;
out:
    if (fd >= 0)
        close(fd);
    ab_secret_wipe(&text);
    ab_secret_ring_free(ring);
    return rc;
}

int ab_secret_ring_open(const struct ab_config *cfg, struct ab_secret_ring **out,
                        struct ab_error *err)
{
    char path[PATH_MAX];
    int rc;

    *out = NULL;
    if (cfg->secret_key[0])
        return ab_secret_ring_parse(cfg->secret_key, "AGENTBASE_SECRET_KEY", out, err);
    if (cfg->secret_key_file[0])
        return ring_from_file(cfg->secret_key_file, out, err);
    if (!ab_config_embedded(cfg)) {
        ab_error_set(err, AB_EINVAL,
                     "no secret key: DATABASE_URL is set, and neither AGENTBASE_SECRET_KEY nor "
                     "AGENTBASE_SECRET_KEY_FILE names the key ring that encrypts stored secrets");
        ab_error_hint(err, "make a key with `agentbase secrets new-key`, keep a copy somewhere "
                           "safe, and give the same key to every server of this database");
        return AB_EINVAL;
    }
    if ((rc = home_keyfile(cfg, path, sizeof(path), err)))
        return rc;
    return ring_from_file(path, out, err);
}

/* ======================================================================================
 * Changing a ring
 * ====================================================================================== */

const char *ab_secret_ring_file(const struct ab_secret_ring *ring)
{
    return ring->from_file ? ring->source : NULL;
}

const char *ab_secret_ring_source(const struct ab_secret_ring *ring)
{
    return ring->source;
}

size_t ab_secret_ring_count(const struct ab_secret_ring *ring)
{
    return ring->n;
}

void ab_secret_ring_id(const struct ab_secret_ring *ring, size_t i, char out[AB_SECRET_ID_MAX + 1])
{
    snprintf(out, AB_SECRET_ID_MAX + 1, "%s", i < ring->n ? ring->keys[i].id : "");
}

bool ab_secret_ring_has(const struct ab_secret_ring *ring, const char *id)
{
    return find(ring, id) != NULL;
}

int ab_secret_ring_add(struct ab_secret_ring *ring, const char *id, struct ab_error *err)
{
    char fresh[AB_SECRET_ID_MAX + 1];

    if (id && !id_ok(id, strlen(id)))
        return ab_error_set(err, AB_EINVAL,
                            "a key id is 1 to %d letters, digits, '.', '_' or '-', not '%s'",
                            AB_SECRET_ID_MAX, id);
    if (!id) {
        new_id(fresh);
        id = fresh;
    }
    if (find(ring, id))
        return ab_error_set(err, AB_ECONFLICT, "the key ring already holds a key %s", id);
    if (ring->n == AB_SECRET_MAX_KEYS)
        return ab_error_set(err, AB_ETOOBIG, "the key ring holds %d keys already",
                            AB_SECRET_MAX_KEYS);
    pthread_mutex_lock(&ring->mu);
    memmove(&ring->keys[1], &ring->keys[0], ring->n * sizeof(*ring->keys));
    snprintf(ring->keys[0].id, sizeof(ring->keys[0].id), "%s", id);
    crypto_aead_xchacha20poly1305_ietf_keygen(ring->keys[0].bytes);
    ring->n++;
    pthread_mutex_unlock(&ring->mu);
    return 0;
}

void ab_secret_ring_retire(struct ab_secret_ring *ring)
{
    pthread_mutex_lock(&ring->mu);
    if (ring->n > 1) {
        sodium_memzero(&ring->keys[1], (ring->n - 1) * sizeof(*ring->keys));
        ring->n = 1;
    }
    pthread_mutex_unlock(&ring->mu);
}

int ab_secret_ring_format(struct ab_secret_ring *ring, bool for_file, struct ab_buf *out)
{
    char b64[B64_LEN];
    int rc = for_file ? ab_buf_puts(out, file_header) : 0;

    pthread_mutex_lock(&ring->mu);
    for (size_t i = 0; !rc && i < ring->n; i++) {
        sodium_bin2base64(b64, sizeof(b64), ring->keys[i].bytes, AB_SECRET_KEY_BYTES, B64_VARIANT);
        rc = ab_buf_printf(out, "%s%s:%s%s", !for_file && i ? "," : "", ring->keys[i].id, b64,
                           for_file ? "\n" : "");
    }
    pthread_mutex_unlock(&ring->mu);
    sodium_memzero(b64, sizeof(b64));
    return rc;
}

int ab_secret_ring_save(struct ab_secret_ring *ring, struct ab_error *err)
{
    struct ab_buf text;
    struct stat st;
    int rc;

    if (!ring->from_file)
        return ab_error_set(err, AB_EINVAL, "the key ring comes from %s, not from a file",
                            ring->source);
    ab_buf_init(&text, FILE_MAX);
    if ((rc = ab_secret_ring_format(ring, true, &text)))
        rc = ab_error_set(err, rc, "out of memory");
    else
        rc = ab_file_write(ring->source, text.data, text.len, 0600, err);
    ab_secret_wipe(&text);
    if (!rc && stat(ring->source, &st) == 0) {
        pthread_mutex_lock(&ring->mu);
        remember_file(ring, &st);
        pthread_mutex_unlock(&ring->mu);
    }
    return rc;
}

/* ======================================================================================
 * Sealing and opening
 * ====================================================================================== */

static int additional_data(const struct ab_secret_place *at, char ad[AD_MAX], size_t *len,
                           struct ab_error *err)
{
    int n;

    if (!at->tenant_id[0] || !at->row_id[0] || !at->purpose[0])
        return ab_error_set(err, AB_EINVAL, "a secret's place needs a tenant, a row and a purpose");
    n = snprintf(ad, AD_MAX, "%s/%s/%s", at->tenant_id, at->row_id, at->purpose);
    if (n < 0 || n >= AD_MAX)
        return ab_error_set(err, AB_ETOOBIG, "a secret's place is too long");
    *len = (size_t)n;
    return 0;
}

int ab_secret_seal(struct ab_secret_ring *ring, const struct ab_secret_place *at, const void *plain,
                   size_t len, struct ab_secret_box *out, struct ab_error *err)
{
    char ad[AD_MAX];
    size_t adlen;
    int rc;

    memset(out, 0, sizeof(*out));
    if (len > AB_SECRET_MAX_PLAIN)
        return ab_error_set(err, AB_ETOOBIG, "a secret is %d bytes at most", AB_SECRET_MAX_PLAIN);
    if ((rc = additional_data(at, ad, &adlen, err)))
        return rc;
    out->ciphertext = malloc(len + AB_SECRET_TAG_BYTES);
    if (!out->ciphertext)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    pthread_mutex_lock(&ring->mu);
    rc = follow(ring, err);
    if (!rc) {
        unsigned long long n = 0;

        randombytes_buf(out->nonce, sizeof(out->nonce));
        crypto_aead_xchacha20poly1305_ietf_encrypt(out->ciphertext, &n, plain, len,
                                                   (const unsigned char *)ad, adlen, NULL,
                                                   out->nonce, ring->keys[0].bytes);
        out->len = (size_t)n;
        snprintf(out->key_id, sizeof(out->key_id), "%s", ring->keys[0].id);
    }
    pthread_mutex_unlock(&ring->mu);
    if (rc)
        ab_secret_box_free(out);
    return rc;
}

int ab_secret_open(struct ab_secret_ring *ring, const struct ab_secret_place *at,
                   const struct ab_secret_box *box, struct ab_buf *plain, struct ab_error *err)
{
    unsigned char *m = NULL;
    unsigned long long mlen = 0;
    const struct key *k;
    char ad[AD_MAX];
    size_t adlen;
    int rc;

    ab_buf_init(plain, AB_SECRET_MAX_PLAIN);
    if ((rc = additional_data(at, ad, &adlen, err)))
        return rc;
    if (box->len < AB_SECRET_TAG_BYTES || box->len - AB_SECRET_TAG_BYTES > AB_SECRET_MAX_PLAIN)
        return ab_error_set(err, AB_EINVAL, "a stored secret of %zu bytes cannot be a ciphertext",
                            box->len);
    m = malloc(box->len - AB_SECRET_TAG_BYTES + 1);
    if (!m)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    pthread_mutex_lock(&ring->mu);
    rc = follow(ring, err);
    k = rc ? NULL : find(ring, box->key_id);
    if (!rc && !k)
        rc = ab_error_set(err, AB_ENOTFOUND,
                          "the secret was sealed with key %s, which the key ring (%s) does not "
                          "hold",
                          box->key_id, ring->source);
    if (!rc && crypto_aead_xchacha20poly1305_ietf_decrypt(m, &mlen, NULL, box->ciphertext, box->len,
                                                          (const unsigned char *)ad, adlen,
                                                          box->nonce, k->bytes) != 0)
        rc = ab_error_set(err, AB_EINVAL,
                          "the secret does not open with key %s: the key differs from the one "
                          "that sealed it, or the ciphertext was changed or moved",
                          box->key_id);
    pthread_mutex_unlock(&ring->mu);
    if (!rc && ab_buf_append(plain, m, (size_t)mlen) != 0)
        rc = ab_error_set(err, AB_ENOMEM, "out of memory");
    sodium_memzero(m, box->len - AB_SECRET_TAG_BYTES);
    free(m);
    if (rc)
        ab_secret_wipe(plain);
    return rc;
}

void ab_secret_box_free(struct ab_secret_box *box)
{
    free(box->ciphertext);
    memset(box, 0, sizeof(*box));
}

bool ab_secret_box_from_hex(struct ab_secret_box *box, const char *ciphertext, const char *nonce,
                            const char *key_id)
{
    size_t len = strlen(ciphertext), n = 0;

    memset(box, 0, sizeof(*box));
    box->ciphertext = malloc(len / 2 + 1);
    if (!box->ciphertext ||
        sodium_hex2bin(box->ciphertext, len / 2 + 1, ciphertext, len, NULL, &box->len, NULL) != 0 ||
        sodium_hex2bin(box->nonce, sizeof(box->nonce), nonce, strlen(nonce), NULL, &n, NULL) != 0 ||
        n != sizeof(box->nonce) || !id_ok(key_id, strlen(key_id))) {
        ab_secret_box_free(box);
        return false;
    }
    snprintf(box->key_id, sizeof(box->key_id), "%s", key_id);
    return true;
}

char *ab_secret_hex(const unsigned char *p, size_t n)
{
    char *hex = malloc(2 * n + 1);

    if (hex)
        sodium_bin2hex(hex, 2 * n + 1, p, n);
    return hex;
}

void ab_secret_wipe(struct ab_buf *b)
{
    if (b->data)
        sodium_memzero(b->data, b->cap);
    ab_buf_free(b);
}

void ab_secret_last4(const char *s, size_t len, char out[17])
{
    size_t chars = 0, start = len, found = 0;

    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    out[0] = '\0';
    if (chars < AB_SECRET_HINT_MIN)
        return;
    /* back to the lead byte of the fourth character from the end */
    while (start > 0 && found < 4)
        found += ((unsigned char)s[--start] & 0xC0) != 0x80;
    snprintf(out, 17, "%.*s", (int)(len - start), s + start);
}
