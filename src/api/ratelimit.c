/*
 * Per-key rate limiting: a token bucket per API key (rate tokens a second, up to burst),
 * in a fixed table of SLOTS entries, so memory stays bounded however many keys exist.
 * Keys hash to a slot; a different key arriving in a taken slot takes it over with a full
 * bucket. That forgives a little under extreme key counts, and never refuses a request
 * that should pass. Locks are striped so that keys rarely wait for each other.
 */
#include "api/api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS   8192
#define STRIPES 64

struct bucket {
    char key[40];
    double tokens;
    double last_ms;
};

struct ab_ratelimit {
    double rate;  /* tokens a second */
    double burst; /* bucket size */
    pthread_mutex_t locks[STRIPES];
    struct bucket slots[SLOTS];
};

int ab_ratelimit_create(double rate, struct ab_ratelimit **out)
{
    struct ab_ratelimit *rl;

    *out = NULL;
    if (rate <= 0)
        return 0; /* disabled */
    rl = calloc(1, sizeof(*rl));
    if (!rl)
        return AB_ENOMEM;
    rl->rate = rate;
    rl->burst = 2 * rate;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&rl->locks[i], NULL);
    *out = rl;
    return 0;
}

void ab_ratelimit_destroy(struct ab_ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&rl->locks[i]);
    free(rl);
}

static size_t hash(const char *s)
{
    size_t h = 5381;

    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

int ab_ratelimit_take(struct ab_ratelimit *rl, const char *key)
{
    size_t slot;
    struct bucket *b;
    double now, wait = 0;

    if (!rl)
        return 0;
    slot = hash(key) % SLOTS;
    b = &rl->slots[slot];
    now = ab_now_ms();
    pthread_mutex_lock(&rl->locks[slot % STRIPES]);
    if (strcmp(b->key, key) != 0) {
        snprintf(b->key, sizeof(b->key), "%s", key);
        b->tokens = rl->burst;
        b->last_ms = now;
    }
    b->tokens = fmin(rl->burst, b->tokens + (now - b->last_ms) / 1000.0 * rl->rate);
    b->last_ms = now;
    if (b->tokens >= 1.0)
        b->tokens -= 1.0;
    else
        wait = (1.0 - b->tokens) / rl->rate;
    pthread_mutex_unlock(&rl->locks[slot % STRIPES]);
    return wait > 0 ? (int)ceil(wait) : 0;
}
