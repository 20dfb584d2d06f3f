/* See hnswselect.h. No PostgreSQL header: the unit tests link this file as it is. */
#include "hnswselect.h"

#include <math.h>

int ab_hnsw_level(double u, double ml, int maxlevel)
{
    double level;

    if (u <= 0.0 || u > 1.0)
        u = 1.0;
    level = floor(-log(u) * ml);
    if (level > maxlevel)
        return maxlevel;
    return (int)level;
}

int ab_hnsw_select(int n, const double *dist, int m, ab_hnsw_pair_distance pair, void *ctx,
                   int fill, int *out)
{
    int taken = 0;

    for (int i = 0; i < n && taken < m; i++) {
        int keep = 1;

        for (int j = 0; j < taken; j++) {
            if (pair(ctx, i, out[j]) < dist[i]) {
                keep = 0;
                break;
            }
        }
        if (keep)
            out[taken++] = i;
    }
    /* keepPrunedConnections: fill the rest with the nearest of those left out */
    for (int i = 0; fill && i < n && taken < m; i++) {
        int in = 0;

        for (int j = 0; j < taken && !in; j++)
            in = out[j] == i;
        if (!in)
            out[taken++] = i;
    }
    return taken;
}
