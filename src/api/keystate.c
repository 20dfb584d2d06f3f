/*
 * What the service remembers per API key between requests, in a fixed table of SLOTS
 * entries, so memory stays bounded however many keys exist:
 * - a token bucket for rate limiting (rate tokens a second, up to burst; rate 0: none);
 * - when the key's last use was last written to the database, so that last_used_at costs
 *   one write a minute per key instead of one per request.
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
    double touched_ms; /* when last_used_at was last written; 0 never */
};

struct ab_keystate {
    double rate;  /* tokens a second */
    double burst; /* bucket size */
    pthread_mutex_t locks[STRIPES];
    struct bucket slots[SLOTS];
};

int ab_keystate_create(double rate, struct ab_keystate **out)
{
    struct ab_keystate *rl;

    *out = NULL;
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

void ab_keystate_destroy(struct ab_keystate *rl)
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

/* The key's slot, locked; taken over with a full bucket if another key had it. */
static struct bucket *lock_slot(struct ab_keystate *ks, const char *key, double now)
{
    size_t slot = hash(key) % SLOTS;
    struct bucket *b = &ks->slots[slot];

    pthread_mutex_lock(&ks->locks[slot % STRIPES]);
    if (strcmp(b->key, key) != 0) {
        snprintf(b->key, sizeof(b->key), "%s", key);
        b->tokens = ks->burst;
        b->last_ms = now;
        b->touched_ms = 0;
    }
    return b;
}

static void unlock_slot(struct ab_keystate *ks, const char *key)
{
    pthread_mutex_unlock(&ks->locks[(hash(key) % SLOTS) % STRIPES]);
}

int ab_keystate_take(struct ab_keystate *ks, const char *key)
{
    double now = ab_now_ms(), wait = 0;
    struct bucket *b;

    if (ks->rate <= 0)
        return 0;
    b = lock_slot(ks, key, now);
    b->tokens = fmin(ks->burst, b->tokens + (now - b->last_ms) / 1000.0 * ks->rate);
    b->last_ms = now;
    if (b->tokens >= 1.0)
        b->tokens -= 1.0;
    else
        wait = (1.0 - b->tokens) / ks->rate;
    unlock_slot(ks, key);
    return wait > 0 ? (int)ceil(wait) : 0;
}

bool ab_keystate_touch_due(struct ab_keystate *ks, const char *key)
{
    double now = ab_now_ms();
    struct bucket *b = lock_slot(ks, key, now);
    bool due = b->touched_ms == 0 || now - b->touched_ms >= 60000.0;

    if (due)
        b->touched_ms = now;
    unlock_slot(ks, key);
    return due;
}
