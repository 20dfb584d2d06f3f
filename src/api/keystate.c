/*
 * What the service remembers per key between requests (an API key's id, a login account,
 * a client address), in a table of a fixed capacity, so memory stays bounded however many
 * keys exist:
 * - a token bucket for rate limiting (rate tokens a second, up to burst; rate 0: none);
 * - when the key's last use was last written to the database, so that last_used_at costs
 *   one write a minute per key instead of one per request.
 *
 * Exact per key: an entry is found by comparing the whole key, never by its hash alone, so
 * two keys never share a bucket. The table is split into SHARDS, each with its own lock
 * and open addressing (linear probing over at most PROBE slots from the key's home slot).
 * The hash is SipHash with a key drawn at start-up, so nobody can choose keys that crowd
 * one window. Slots are never emptied, only reused: a new key takes the first empty slot
 * of its window, else an idle one (untouched for longer than its bucket takes to refill
 * and than the touch interval, so forgetting it changes nothing). Only when every slot of
 * the window is in use does it take the one whose bucket is fullest, which forgives the
 * least; that needs about capacity keys active at once, and is counted (forced evictions).
 */
#include "api/api.h"

#include <math.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS   64
#define PROBE    32
#define TOUCH_MS 60000.0
#define KEY_MAX  64

struct entry {
    char key[KEY_MAX + 1]; /* "" when the slot was never used */
    double tokens;
    double last_ms;    /* when tokens was last brought up to date */
    double seen_ms;    /* last use of any kind */
    double touched_ms; /* when last_used_at was last written; 0 never */
};

struct shard {
    pthread_mutex_t lock;
    struct entry *slots;
};

struct ab_keystate {
    double rate;      /* tokens a second */
    double burst;     /* bucket size */
    double idle_ms;   /* an entry unseen this long may be forgotten */
    size_t per_shard; /* a power of two */
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    atomic_ulong forced;
    struct shard shards[SHARDS];
};

int ab_keystate_create(double rate, double burst, size_t capacity, struct ab_keystate **out)
{
    struct ab_keystate *ks;
    size_t per = PROBE;

    *out = NULL;
    ks = calloc(1, sizeof(*ks));
    if (!ks)
        return AB_ENOMEM;
    while (per * SHARDS < capacity)
        per *= 2;
    ks->rate = rate;
    ks->burst = burst < 1.0 ? 1.0 : burst;
    ks->idle_ms = rate > 0 ? fmax(TOUCH_MS, ks->burst / rate * 1000.0) : TOUCH_MS;
    ks->per_shard = per;
    crypto_shorthash_keygen(ks->hash_key);
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&ks->shards[i].lock, NULL);
        ks->shards[i].slots = calloc(per, sizeof(struct entry));
        if (!ks->shards[i].slots) {
            ab_keystate_destroy(ks);
            return AB_ENOMEM;
        }
    }
    *out = ks;
    return 0;
}

void ab_keystate_destroy(struct ab_keystate *ks)
{
    if (!ks)
        return;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_destroy(&ks->shards[i].lock);
        free(ks->shards[i].slots);
    }
    free(ks);
}

unsigned long ab_keystate_forced_evictions(struct ab_keystate *ks)
{
    return atomic_load(&ks->forced);
}

/* The bucket's tokens now (refilled since last_ms), without changing it. */
static double tokens_now(const struct ab_keystate *ks, const struct entry *e, double now)
{
    return fmin(ks->burst, e->tokens + (now - e->last_ms) / 1000.0 * ks->rate);
}

/*
 * The key's entry, with its shard locked (*locked: unlock it with pthread_mutex_unlock);
 * a key not in the table gets a slot and a full bucket. Keys longer than KEY_MAX bytes are
 * kept by their SHA-256.
 */
static struct entry *find(struct ab_keystate *ks, const char *key, double now,
                          pthread_mutex_t **locked)
{
    char digest[65];
    unsigned char h8[crypto_shorthash_BYTES];
    uint64_t h;
    struct shard *sh;
    struct entry *e, *free_slot = NULL, *idle = NULL, *fullest = NULL;
    double most = -1;
    size_t len = strlen(key), home, mask = ks->per_shard - 1;

    if (len > KEY_MAX) {
        ab_sha256_hex(key, len, digest);
        key = digest;
        len = 64;
    }
    crypto_shorthash(h8, (const unsigned char *)key, len, ks->hash_key);
    memcpy(&h, h8, sizeof(h));
    sh = &ks->shards[h % SHARDS];
    home = (size_t)(h / SHARDS) & mask;
    pthread_mutex_lock(&sh->lock);
    *locked = &sh->lock;
    for (size_t i = 0; i < PROBE && i <= mask; i++) {
        e = &sh->slots[(home + i) & mask];
        if (!e->key[0]) {
            free_slot = e; /* never used: nothing was ever placed beyond it */
            break;
        }
        if (strcmp(e->key, key) == 0) {
            e->seen_ms = now;
            return e;
        }
        if (!idle && now - e->seen_ms >= ks->idle_ms)
            idle = e;
        if (tokens_now(ks, e, now) > most) {
            most = tokens_now(ks, e, now);
            fullest = e;
        }
    }
    e = free_slot ? free_slot : idle ? idle : fullest;
    if (e == fullest && !free_slot && !idle)
        atomic_fetch_add(&ks->forced, 1);
    memcpy(e->key, key, len + 1);
    e->tokens = ks->burst;
    e->last_ms = now;
    e->seen_ms = now;
    e->touched_ms = 0;
    return e;
}

int ab_keystate_take(struct ab_keystate *ks, const char *key)
{
    double now = ab_now_ms(), wait = 0;
    pthread_mutex_t *locked;
    struct entry *e;

    if (ks->rate <= 0)
        return 0;
    e = find(ks, key, now, &locked);
    e->tokens = tokens_now(ks, e, now);
    e->last_ms = now;
    if (e->tokens >= 1.0)
        e->tokens -= 1.0;
    else
        wait = (1.0 - e->tokens) / ks->rate;
    pthread_mutex_unlock(locked);
    return wait > 0 ? (int)ceil(wait) : 0;
}

bool ab_keystate_touch_due(struct ab_keystate *ks, const char *key)
{
    double now = ab_now_ms();
    pthread_mutex_t *locked;
    struct entry *e = find(ks, key, now, &locked);
    bool due = e->touched_ms == 0 || now - e->touched_ms >= TOUCH_MS;

    if (due)
        e->touched_ms = now;
    pthread_mutex_unlock(locked);
    return due;
}
