/*
 * The distance kernels of agentbase_vector, in plain C with no PostgreSQL header, so that
 * the unit tests (tests/unit/test_vector.c) run them as the extension does.
 *
 * Each loop keeps its sums in vectors of 8 floats (the compiler's vector type, two per
 * sum), so that it is packed SIMD arithmetic without the compiler being allowed to reorder
 * a floating-point sum (no -ffast-math): SSE2 (mulps, addps on xmm registers) on any
 * x86-64, and AVX2 with FMA (vfmadd231ps on ymm registers) where the CPU has it, chosen at
 * load time (target_clones); the two may differ in the last bits of a result.
 */
#ifndef AB_VECTOR_DISTANCE_H
#define AB_VECTOR_DISTANCE_H

/* Squared Euclidean distance between a and b, n floats each. */
float ab_vec_l2_squared(const float *a, const float *b, int n);
/* Inner product of a and b. */
float ab_vec_dot(const float *a, const float *b, int n);
/* Cosine distance, 1 - a.b / (|a| |b|), clamped to [0, 2]; NaN when either is zero. */
double ab_vec_cosine_distance(const float *a, const float *b, int n);
/* Euclidean norm of a. */
double ab_vec_norm(const float *a, int n);

#endif
