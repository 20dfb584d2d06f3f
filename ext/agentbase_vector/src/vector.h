/*
 * The in-memory and on-disk form of a vector: a varlena of int16 dimensions, int16 zero
 * (reserved) and the floats, like pgvector's.
 */
#ifndef AB_VECTOR_H
#define AB_VECTOR_H

#include "postgres.h"

#include "fmgr.h"

#define VECTOR_MAX_DIM 16000 /* stored; an index takes at most 2,000 */

typedef struct Vector {
    int32 vl_len_; /* varlena header: never touch directly */
    int16 dim;
    int16 unused;
    float x[FLEXIBLE_ARRAY_MEMBER];
} Vector;

#define VECTOR_SIZE(dim)      (offsetof(Vector, x) + sizeof(float) * (size_t)(dim))
#define DatumGetVector(d)     ((Vector *)PG_DETOAST_DATUM(d))
#define PG_GETARG_VECTOR_P(n) DatumGetVector(PG_GETARG_DATUM(n))

/* The distance functions that hnsw's operator classes use (hnsw.c calls their kernels
 * directly when it meets them). */
extern Datum vector_l2_squared_distance(PG_FUNCTION_ARGS);
extern Datum vector_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum cosine_distance(PG_FUNCTION_ARGS);

/* A zero vector of dim dimensions, in the current memory context. */
Vector *vector_new(int dim);
/* Raises an error unless a and b have the same dimension count. */
void vector_check_same_dims(const Vector *a, const Vector *b);

#endif
