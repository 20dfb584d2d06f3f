/*
 * The server-free parts of the hnsw index (ext/agentbase_vector/src/hnswselect.c): the level
 * of a new element and the neighbour-selection heuristic (Malkov & Yashunin, algorithm 4).
 */
#include "hnswselect.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

/* Points on a line or a plane; the distance between candidates i and j. */
struct points {
    const double (*xy)[2];
    int asked;
};

static double pair(void *ctx, int i, int j)
{
    struct points *p = ctx;

    p->asked++;
    return hypot(p->xy[i][0] - p->xy[j][0], p->xy[i][1] - p->xy[j][1]);
}

static void test_level_is_floor_of_minus_log_u_times_ml(void **state)
{
    (void)state;
    double ml = 1 / log(16);

    assert_int_equal(ab_hnsw_level(1.0, ml, 16), 0);
    assert_int_equal(ab_hnsw_level(1.0 / 16 + 1e-9, ml, 16), 0);
    assert_int_equal(ab_hnsw_level(1.0 / 16 - 1e-9, ml, 16), 1);
    assert_int_equal(ab_hnsw_level(1.0 / 256 - 1e-12, ml, 16), 2);
    assert_int_equal(ab_hnsw_level(1e-300, ml, 5), 5); /* capped */
    assert_int_equal(ab_hnsw_level(0.0, ml, 16), 0);   /* out of (0, 1]: level 0 */
}

static void test_levels_follow_the_geometric_law(void **state)
{
    (void)state;
    uint64_t s = 42;
    int n = 200000, at_least[4] = {0};
    double ml = 1 / log(4);

    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        double u = ((double)(s >> 11) + 1) / 9007199254740992.0; /* (0, 1] */
        int level = ab_hnsw_level(u, ml, 16);

        for (int l = 0; l < 4 && l <= level; l++)
            at_least[l]++;
    }
    /* P(level >= l) = 4^-l */
    assert_int_equal(at_least[0], n);
    assert_true(fabs(at_least[1] / (double)n - 0.25) < 0.01);
    assert_true(fabs(at_least[2] / (double)n - 0.0625) < 0.005);
    assert_true(fabs(at_least[3] / (double)n - 0.015625) < 0.002);
}

/* The new element at the origin; a cluster to the east and one point to the west. */
static const double cluster[][2] = {{1, 0}, {1.1, 0.1}, {1.2, -0.1}, {-1.5, 0}, {0, 2}};

/* ab_hnsw_select on the cluster (m, fill) into out; the distances are in ascending order. */
static int select_cluster(int m, int fill, int *out)
{
    double dist[5];
    struct points p = {cluster, 0};

    for (int i = 0; i < 5; i++)
        dist[i] = hypot(cluster[i][0], cluster[i][1]);
    return ab_hnsw_select(5, dist, m, pair, &p, fill, out);
}

static void test_heuristic_takes_one_per_direction(void **state)
{
    (void)state;
    int out[5], n = select_cluster(4, 0, out);

    /* (1.1, 0.1) and (1.2, -0.1) are nearer to (1, 0) than to the origin: left out */
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 4);
}

static void test_heuristic_stops_at_m(void **state)
{
    (void)state;
    int out[5];

    assert_int_equal(select_cluster(2, 0, out), 2);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 3);
    assert_int_equal(select_cluster(1, 0, out), 1);
    assert_int_equal(out[0], 0);
}

static void test_fill_keeps_the_pruned_nearest_first(void **state)
{
    (void)state;
    double dist[2] = {1, 1.1};
    int out[5];
    struct points p = {cluster, 0};

    assert_int_equal(select_cluster(4, 1, out), 4);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 4);
    assert_int_equal(out[3], 1); /* the nearest of those the heuristic left out */
    assert_int_equal(ab_hnsw_select(2, dist, 4, pair, &p, 1, out), 2); /* never more than n */
}

static void test_heuristic_on_nothing_and_one(void **state)
{
    (void)state;
    double dist[1] = {3};
    int out[2];
    struct points p = {cluster, 0};

    assert_int_equal(ab_hnsw_select(0, dist, 2, pair, &p, 0, out), 0);
    assert_int_equal(ab_hnsw_select(1, dist, 2, pair, &p, 0, out), 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(p.asked, 0); /* one candidate needs no pairwise distance */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_is_floor_of_minus_log_u_times_ml),
        cmocka_unit_test(test_levels_follow_the_geometric_law),
        cmocka_unit_test(test_heuristic_takes_one_per_direction),
        cmocka_unit_test(test_heuristic_stops_at_m),
        cmocka_unit_test(test_fill_keeps_the_pruned_nearest_first),
        cmocka_unit_test(test_heuristic_on_nothing_and_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
