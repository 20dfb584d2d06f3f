#include "distance.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define AB_VEC_LANES 16

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif

/*
 * The loops are written with the compiler's vector type (GCC and clang: 8 floats, one AVX
 * register or two SSE ones), two of them per sum, 16 floats a step, then the rest one by
 * one. Written as lanes of plain arrays, GCC vectorized the three-sum loop of the cosine
 * into 2,500 instructions of permutations (a third of a search's time); this way each is
 * a multiply-add per 8 floats. Pointers step over whole blocks (size_t counts: an int index
 * under PostgreSQL's -fwrapv keeps the compiler from proving the loads contiguous).
 */
typedef float v8 __attribute__((vector_size(32)));

/* 8 floats from p, which need not be aligned. */
static inline void v8_load(v8 *v, const float *p)
{
    memcpy(v, p, sizeof(v8));
}

/* Taken by address: a vector passed by value would have two ABIs (with and without AVX).
 * The lanes are summed in a fixed order (the clones may still differ in the last bits). */
static inline float v8_sum(const v8 *v)
{
    float s = 0;

    for (int j = 0; j < 8; j++)
        s += (*v)[j];
    return s;
}

KERNEL float ab_vec_l2_squared(const float *a, const float *b, int n)
{
    v8 acc0 = {0}, acc1 = {0};
    size_t blocks = (size_t)n / AB_VEC_LANES, rest = (size_t)n % AB_VEC_LANES;
    float s;

    for (; blocks > 0; blocks--, a += AB_VEC_LANES, b += AB_VEC_LANES) {
        v8 a0, a1, b0, b1, d0, d1;

        v8_load(&a0, a);
        v8_load(&a1, a + 8);
        v8_load(&b0, b);
        v8_load(&b1, b + 8);
        d0 = a0 - b0;
        d1 = a1 - b1;
        acc0 += d0 * d0;
        acc1 += d1 * d1;
    }
    s = v8_sum(&acc0) + v8_sum(&acc1);
    for (size_t j = 0; j < rest; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

KERNEL float ab_vec_dot(const float *a, const float *b, int n)
{
    v8 acc0 = {0}, acc1 = {0};
    size_t blocks = (size_t)n / AB_VEC_LANES, rest = (size_t)n % AB_VEC_LANES;
    float s;

    for (; blocks > 0; blocks--, a += AB_VEC_LANES, b += AB_VEC_LANES) {
        v8 a0, a1, b0, b1;

        v8_load(&a0, a);
        v8_load(&a1, a + 8);
        v8_load(&b0, b);
        v8_load(&b1, b + 8);
        acc0 += a0 * b0;
        acc1 += a1 * b1;
    }
    s = v8_sum(&acc0) + v8_sum(&acc1);
    for (size_t j = 0; j < rest; j++)
        s += a[j] * b[j];
    return s;
}

KERNEL double ab_vec_cosine_distance(const float *a, const float *b, int n)
{
    v8 dot0 = {0}, dot1 = {0}, na0 = {0}, na1 = {0}, nb0 = {0}, nb1 = {0};
    size_t blocks = (size_t)n / AB_VEC_LANES, rest = (size_t)n % AB_VEC_LANES;
    float d, x, y;
    double sim;

    for (; blocks > 0; blocks--, a += AB_VEC_LANES, b += AB_VEC_LANES) {
        v8 a0, a1, b0, b1;

        v8_load(&a0, a);
        v8_load(&a1, a + 8);
        v8_load(&b0, b);
        v8_load(&b1, b + 8);
        dot0 += a0 * b0;
        dot1 += a1 * b1;
        na0 += a0 * a0;
        na1 += a1 * a1;
        nb0 += b0 * b0;
        nb1 += b1 * b1;
    }
    d = v8_sum(&dot0) + v8_sum(&dot1);
    x = v8_sum(&na0) + v8_sum(&na1);
    y = v8_sum(&nb0) + v8_sum(&nb1);
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
