/*
 * The two pieces of HNSW that need no server (Malkov & Yashunin, algorithms 1 and 4), in
 * plain C with no PostgreSQL header, so that tests/unit/test_hnsw.c runs them as the index
 * does: the level of a new element, and the heuristic that picks its neighbours.
 */
#ifndef AB_HNSW_SELECT_H
#define AB_HNSW_SELECT_H

/*
 * The level of a new element: floor(-ln(u) * ml) for u uniform in (0, 1], capped at
 * maxlevel. With ml = 1 / ln(m), level L or above has probability m^-L.
 */
int ab_hnsw_level(double u, double ml, int maxlevel);

/* Distance between candidates i and j (indexes into the caller's candidate array). */
typedef double (*ab_hnsw_pair_distance)(void *ctx, int i, int j);

/*
 * The neighbour-selection heuristic: n candidates, sorted by their distance to the new
 * element (dist[i], ascending). Takes a candidate only if it is nearer to the new element
 * than to every candidate already taken, so that the chosen neighbours point in different
 * directions; stops at m. Writes the chosen indexes to out (room for m), in order, and
 * returns how many. Pairwise distances come from pair(ctx, i, j), each asked at most once.
 * With fill (the paper's keepPrunedConnections), the candidates left out then fill the
 * remaining places, nearest first, so that out has min(n, m) entries; their order in out
 * is then the heuristic's picks first.
 */
int ab_hnsw_select(int n, const double *dist, int m, ab_hnsw_pair_distance pair, void *ctx,
                   int fill, int *out);

#endif
