/* The distance kernels of agentbase_vector against sums in double precision, by brute force. */
#include "distance.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

/* Deterministic values in [-1, 1). */
static float next(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (float)((double)(*s >> 40) / (double)(1u << 23) - 1.0);
}

static void fill(float *x, int n, uint64_t *s)
{
    for (int i = 0; i < n; i++)
        x[i] = next(s);
}

/* Within what single-precision sums of n terms can be off by, relative to the magnitude. */
static void assert_close(double got, double want, double scale, int n)
{
    double tol = 1e-6 * (n + 4) * (scale > 1 ? scale : 1);

    if (fabs(got - want) > tol)
        fail_msg("got %.9g, want %.9g (n = %d, tolerance %.3g)", got, want, n, tol);
}

static void test_kernels_match_brute_force_at_every_length(void **state)
{
    static const int lengths[] = {1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 100, 384, 385, 1536, 2000};
    float a[2000], b[2000];
    uint64_t seed = 42;

    (void)state;
    for (size_t k = 0; k < sizeof(lengths) / sizeof(lengths[0]); k++) {
        int n = lengths[k];
        double l2 = 0, dot = 0, na = 0, nb = 0, scale = 0;

        fill(a, n, &seed);
        fill(b, n, &seed);
        for (int i = 0; i < n; i++) {
            l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
            scale += fabs((double)a[i] * b[i]);
        }
        assert_close(ab_vec_l2_squared(a, b, n), l2, l2, n);
        assert_close(ab_vec_dot(a, b, n), dot, scale, n);
        assert_close(ab_vec_norm(a, n), sqrt(na), sqrt(na), n);
        assert_close(ab_vec_cosine_distance(a, b, n), 1 - dot / sqrt(na * nb), 1, n);
    }
}

static void test_edge_cases(void **state)
{
    float zero[20] = {0}, x[20], y[20];
    uint64_t seed = 7;

    (void)state;
    fill(x, 20, &seed);
    for (int i = 0; i < 20; i++)
        y[i] = -3 * x[i];
    assert_true(ab_vec_l2_squared(x, x, 20) == 0);
    assert_close(ab_vec_cosine_distance(x, x, 20), 0, 1, 20);
    assert_close(ab_vec_cosine_distance(x, y, 20), 2, 1, 20); /* opposite: 2, never past */
    assert_true(ab_vec_cosine_distance(x, y, 20) <= 2);
    assert_true(isnan(ab_vec_cosine_distance(x, zero, 20))); /* no direction: NaN */
    assert_true(ab_vec_norm(zero, 20) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_match_brute_force_at_every_length),
        cmocka_unit_test(test_edge_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
