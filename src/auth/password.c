#include "auth/auth.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

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

/* ======================================================================================
 * The hashing pool: one queue under one lock, nthreads threads taking from it
 * ====================================================================================== */

struct ab_auth_hasher {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct ab_auth_job *head, *tail;
    int queued, queue_max;
    bool stopping;
    pthread_t *threads;
    int nthreads;
};

static void run_job(struct ab_auth_job *job)
{
    struct ab_error err;

    job->ok = !job->hash || ab_auth_password_verify(job->hash, job->password);
    job->hashed = job->ok && job->new_password &&
                  ab_auth_password_hash(job->new_password, job->new_hash, &err) == 0;
}

static void *hasher_main(void *arg)
{
    struct ab_auth_hasher *h = arg;

    /* Below the request threads: when the cores are busy, other requests go first and
     * sign-ins wait (Linux: a thread's nice value is its own). Failing changes nothing. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_mutex_lock(&h->lock);
    for (;;) {
        struct ab_auth_job *job = h->head;

        if (!job) {
            if (h->stopping)
                break;
            pthread_cond_wait(&h->wake, &h->lock);
            continue;
        }
        h->head = job->next;
        if (!h->head)
            h->tail = NULL;
        h->queued--;
        pthread_mutex_unlock(&h->lock);
        job->next = NULL;
        run_job(job);
        job->done(job);
        pthread_mutex_lock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

int ab_auth_hasher_start(int nthreads, int queue_max, struct ab_auth_hasher **out,
                         struct ab_error *err)
{
    struct ab_auth_hasher *h = calloc(1, sizeof(*h));

    *out = NULL;
    if (!h || !(h->threads = calloc((size_t)nthreads, sizeof(*h->threads)))) {
        free(h);
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    h->queue_max = queue_max;
    for (; h->nthreads < nthreads; h->nthreads++)
        if (pthread_create(&h->threads[h->nthreads], NULL, hasher_main, h) != 0) {
            ab_auth_hasher_stop(h);
            ab_auth_hasher_free(h);
            return ab_error_set(err, AB_ENOMEM, "cannot start a password hashing thread");
        }
    *out = h;
    return 0;
}

int ab_auth_hasher_submit(struct ab_auth_hasher *h, struct ab_auth_job *job)
{
    int rc = 0;

    job->next = NULL;
    pthread_mutex_lock(&h->lock);
    if (h->stopping || h->queued >= h->queue_max) {
        rc = AB_ECONFLICT;
    } else {
        if (h->tail)
            h->tail->next = job;
        else
            h->head = job;
        h->tail = job;
        h->queued++;
        pthread_cond_signal(&h->wake);
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

void ab_auth_hasher_stop(struct ab_auth_hasher *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < h->nthreads; i++)
        pthread_join(h->threads[i], NULL);
    h->nthreads = 0;
}

void ab_auth_hasher_free(struct ab_auth_hasher *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->wake);
    free(h->threads);
    free(h);
}

void ab_auth_random_password(char *out, size_t len)
{
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    for (size_t i = 0; i + 1 < len; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    if (len)
        out[len - 1] = '\0';
}

/* ======================================================================================
 * The rules a new password must pass
 * ====================================================================================== */

#define COMMON_LIST "src/auth/common-passwords.txt"
#define FORMS       8

/*
 * A password in the shapes it is compared in, all lowercase and without duplicates: as
 * typed, its core (digits and symbols around it stripped), the core in plain letters (l33t
 * undone), and the same for the unit it repeats, if it is a repetition.
 */
struct forms {
    char text[FORMS][AB_PASSWORD_MAX_BYTES + 1];
    size_t len[FORMS];
    int n;
};

static bool is_letter(char c)
{
    return c >= 'a' && c <= 'z';
}

static void add_form(struct forms *f, const char *s, size_t n)
{
    if (n == 0 || f->n == FORMS)
        return;
    for (int i = 0; i < f->n; i++)
        if (f->len[i] == n && memcmp(f->text[i], s, n) == 0)
            return;
    memcpy(f->text[f->n], s, n);
    f->text[f->n][n] = '\0';
    f->len[f->n++] = n;
}

/* The length of the shortest unit that s repeats at least twice, or n when it repeats none. */
static size_t unit_of(const char *s, size_t n)
{
    for (size_t u = 1; u <= n / 2; u++)
        if (n % u == 0 && memcmp(s, s + u, n - u) == 0)
            return u;
    return n;
}

/* Adds the core of s, the core with l33t spelling undone, and the unit that one repeats. */
static void add_core(struct forms *f, const char *s, size_t n)
{
    static const char leet[] = "0134578@$!+|", plain[] = "oieastbasitl";
    char core[AB_PASSWORD_MAX_BYTES + 1];
    size_t b = 0, e = n;

    while (b < e && !is_letter(s[b]))
        b++;
    while (e > b && !is_letter(s[e - 1]))
        e--;
    add_form(f, s + b, e - b);
    for (size_t i = b; i < e; i++) {
        const char *m = strchr(leet, s[i]);

        core[i - b] = m ? plain[m - leet] : s[i];
    }
    add_form(f, core, e - b);
    if (unit_of(core, e - b) < e - b)
        add_form(f, core, unit_of(core, e - b));
    sodium_memzero(core, sizeof(core));
}

static void forms_of(const char *password, size_t n, struct forms *f)
{
    char low[AB_PASSWORD_MAX_BYTES + 1] = "";
    size_t unit;

    for (size_t i = 0; i < n; i++)
        low[i] = password[i] >= 'A' && password[i] <= 'Z' ? (char)(password[i] - 'A' + 'a')
                                                          : password[i];
    f->n = 0;
    add_form(f, low, n);
    add_core(f, low, n);
    unit = unit_of(low, n);
    if (unit < n) {
        add_form(f, low, unit);
        add_core(f, low, unit);
    }
    sodium_memzero(low, sizeof(low));
}

/* True when word is a line of the compiled-in list. */
static bool listed(const char *word, size_t n)
{
    for (size_t i = 0; i < ab_embedded_files_count; i++) {
        const struct ab_embedded_file *file = &ab_embedded_files[i];
        const char *p = (const char *)file->data, *end = p + file->len;

        if (strcmp(file->path, COMMON_LIST) != 0)
            continue;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

            if (len == n && memcmp(p, word, n) == 0)
                return true;
            p += len + 1;
        }
    }
    return false;
}

/* The step from a to b within a run: 1 up, -1 down (digits wrap: 9 0 up, 0 9 down), 0 none. */
static int run_step(char a, char b)
{
    bool digits = a >= '0' && a <= '9' && b >= '0' && b <= '9';

    if (!digits && !(is_letter(a) && is_letter(b)))
        return 0;
    if (b == a + 1 || (digits && a == '9' && b == '0'))
        return 1;
    if (b == a - 1 || (digits && a == '0' && b == '9'))
        return -1;
    return 0;
}

/* abcdefgh, 987654321, 7890123: each character one after (or each one before) the last. */
static bool is_run(const char *s, size_t n)
{
    int step = n > 1 ? run_step(s[0], s[1]) : 0;

    for (size_t i = 2; step && i < n; i++)
        if (run_step(s[i - 1], s[i]) != step)
            return false;
    return step != 0;
}

static bool is_common(const struct forms *f)
{
    for (int i = 0; i < f->n; i++) {
        if (listed(f->text[i], f->len[i]))
            return true;
        if (f->len[i] >= 6 &&
            (is_run(f->text[i], f->len[i]) || unit_of(f->text[i], f->len[i]) <= 4))
            return true;
    }
    return false;
}

/* Is one of the forms the n bytes at s, in any case? */
static bool is_form(const struct forms *f, const char *s, size_t n)
{
    for (int i = 0; n && i < f->n; i++)
        if (f->len[i] == n && strncasecmp(f->text[i], s, n) == 0)
            return true;
    return false;
}

/* Is one of the forms the account name s (an e-mail, its local part, a username), as it is
 * or without the digits and symbols around its letters (bob.1 as bob)? */
static bool is_name(const struct forms *f, const char *s, bool email)
{
    size_t n = s ? strlen(s) : 0, b = 0;

    if (email && n && is_form(f, s, n))
        return true;
    if (email && s && strchr(s, '@'))
        n = (size_t)(strchr(s, '@') - s);
    if (is_form(f, s, n))
        return true;
    while (b < n && !is_letter((char)(s[b] | 0x20)))
        b++;
    while (n > b && !is_letter((char)(s[n - 1] | 0x20)))
        n--;
    return is_form(f, s + b, n - b);
}

const char *ab_auth_password_rule(const char *password, const char *email, const char *username,
                                  const char **why)
{
    size_t n = strlen(password), chars = 0;
    struct forms f;
    const char *rule = NULL;

    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)password[i] & 0xC0) != 0x80;
    if (chars < AB_PASSWORD_MIN_CHARS) {
        *why = "is too short: use at least " AB_STR(AB_PASSWORD_MIN_CHARS) " characters";
        return "min_length";
    }
    if (n > AB_PASSWORD_MAX_BYTES) {
        *why = "is too long: use at most " AB_STR(AB_PASSWORD_MAX_BYTES) " bytes";
        return "max_length";
    }
    forms_of(password, n, &f);
    if (is_name(&f, email, true) || is_name(&f, username, false)) {
        *why = "is the account's e-mail address or username, or built on it";
        rule = "personal";
    } else if (is_common(&f)) {
        *why = "is one of the most common passwords, or built on one";
        rule = "common";
    }
    sodium_memzero(&f, sizeof(f));
    return rule;
}
