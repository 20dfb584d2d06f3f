#include "distance.h"

#include <math.h>
#include <stddef.h>

#define AB_VEC_LANES 16

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif

/* The lanes' sum, in a fixed order (the clones may still differ in the last bits: FMA). */
static float lanes_sum(const float *acc)
{
    float s = 0;

    for (int j = 0; j < AB_VEC_LANES; j++)
        s += acc[j];
    return s;
}

/*
 * The loops step pointers over whole blocks of AB_VEC_LANES floats (size_t counts: an int
 * index under PostgreSQL's -fwrapv keeps the compiler from proving the loads contiguous),
 * then finish the rest one by one.
 */
KERNEL float ab_vec_l2_squared(const float *a, const float *b, int n)
{
    float acc[AB_VEC_LANES] = {0}, s;
    size_t blocks = (size_t)n / AB_VEC_LANES, rest = (size_t)n % AB_VEC_LANES;

    for (; blocks > 0; blocks--, a += AB_VEC_LANES, b += AB_VEC_LANES)
        for (size_t j = 0; j < AB_VEC_LANES; j++) {
            float d = a[j] - b[j];

            acc[j] += d * d;
        }
    s = lanes_sum(acc);
    for (size_t j = 0; j < rest; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

KERNEL float ab_vec_dot(const float *a, const float *b, int n)
{
    float acc[AB_VEC_LANES] = {0}, s;
    size_t blocks = (size_t)n / AB_VEC_LANES, rest = (size_t)n % AB_VEC_LANES;

    for (; blocks > 0; blocks--, a += AB_VEC_LANES, b += AB_VEC_LANES)
        for (size_t j = 0; j < AB_VEC_LANES; j++)
            acc[j] += a[j] * b[j];
    s = lanes_sum(acc);
    for (size_t j = 0; j < rest; j++)
        s += a[j] * b[j];
    return s;
}

KERNEL double ab_vec_cosine_distance(const float *a, const float *b, int n)
{
    float dot[AB_VEC_LANES] = {0}, na[AB_VEC_LANES] = {0}, nb[AB_VEC_LANES] = {0};
    size_t blocks = (size_t)n / AB_VEC_LANES, rest = (size_t)n % AB_VEC_LANES;
    float d, x, y;
    double sim;

    for (; blocks > 0; blocks--, a += AB_VEC_LANES, b += AB_VEC_LANES)
        for (size_t j = 0; j < AB_VEC_LANES; j++) {
            dot[j] += a[j] * b[j];
            na[j] += a[j] * a[j];
            nb[j] += b[j] * b[j];
        }
    d = lanes_sum(dot);
    x = lanes_sum(na);
    y = lanes_sum(nb);
    for (size_t j = 0; j < rest; j++) {
        d += a[j] * b[j];
        x += a[j] * a[j];
        y += b[j] * b[j];
    }
    sim = (double)d / sqrt((double)x * (double)y);
    if (sim > 1) /* rounding */
        sim = 1;
    else if (sim < -1)
        sim = -1;
    return 1 - sim; /* NaN stays NaN: 0/0 */
}

double ab_vec_norm(const float *a, int n)
{
    return sqrt((double)ab_vec_dot(a, a, n));
}
