/*
 * The type vector(n) of agentbase_vector: n single-precision floats, with pgvector's text
 * form ([1,2,3]), binary form (int16 dimensions, int16 zero, the floats), casts, operators
 * and function names, so that SQL written for pgvector runs unchanged.
 *
 * A value never holds NaN or an infinity, and has 1 to VECTOR_MAX_DIM dimensions; the
 * typmod, when given, is its exact dimension count. The distances are computed by the
 * kernels of distance.c.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include <math.h>

#include "distance.h"
#include "vector.h"

PG_MODULE_MAGIC;

Vector *vector_new(int dim)
{
    Vector *v = palloc0(VECTOR_SIZE(dim));

    SET_VARSIZE(v, VECTOR_SIZE(dim));
    v->dim = (int16)dim;
    return v;
}

static void check_dims_count(int dim)
{
    if (dim < 1)
        ereport(ERROR,
                (errcode(ERRCODE_DATA_EXCEPTION), errmsg("vector must have at least 1 dimension")));
    if (dim > VECTOR_MAX_DIM)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("vector cannot have more than %d dimensions", VECTOR_MAX_DIM)));
}

/* A typmod of -1 takes any dimension count. */
static void check_typmod(int dim, int32 typmod)
{
    if (typmod != -1 && dim != typmod)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("expected %d dimensions, not %d", typmod, dim)));
}

static void check_element(float x)
{
    if (isnan(x))
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("NaN not allowed in vector")));
    if (isinf(x))
        ereport(ERROR,
                (errcode(ERRCODE_DATA_EXCEPTION), errmsg("infinite value not allowed in vector")));
}

void vector_check_same_dims(const Vector *a, const Vector *b)
{
    if (a->dim != b->dim)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("different vector dimensions %d and %d", a->dim, b->dim)));
}

/* ---- text and binary forms ----------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

PG_FUNCTION_INFO_V1(vector_in);
Datum vector_in(PG_FUNCTION_ARGS)
{
    char *lit = PG_GETARG_CSTRING(0);
    int32 typmod = PG_GETARG_INT32(2);
    float *x = palloc(sizeof(float) * VECTOR_MAX_DIM);
    const char *p = lit;
    int dim = 0;
    Vector *v;

    while (is_space(*p))
        p++;
    if (*p != '[')
        ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                        errmsg("invalid input syntax for type vector: \"%s\"", lit),
                        errdetail("Vector contents must start with \"[\".")));
    p++;
    while (is_space(*p))
        p++;
    if (*p == ']')
        check_dims_count(0);
    for (;;) {
        char *end;
        float f;

        if (dim == VECTOR_MAX_DIM)
            check_dims_count(dim + 1);
        while (is_space(*p))
            p++;
        errno = 0;
        f = strtof(p, &end);
        /* strtof takes hexadecimal too: a vector's numbers are decimal (NaN and infinity
         * pass here to be refused by name below) */
        if (end == p || memchr(p, 'x', (size_t)(end - p)) || memchr(p, 'X', (size_t)(end - p)))
            ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                            errmsg("invalid input syntax for type vector: \"%s\"", lit)));
        if (errno == ERANGE && isinf(f))
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                            errmsg("\"%.*s\" is out of range for type vector", (int)(end - p), p)));
        check_element(f);
        x[dim++] = f;
        p = end;
        while (is_space(*p))
            p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']')
            break;
        ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                        errmsg("invalid input syntax for type vector: \"%s\"", lit)));
    }
    p++;
    while (is_space(*p))
        p++;
    if (*p != '\0')
        ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                        errmsg("invalid input syntax for type vector: \"%s\"", lit),
                        errdetail("Junk after closing right bracket.")));
    check_typmod(dim, typmod);
    v = vector_new(dim);
    memcpy(v->x, x, sizeof(float) * (size_t)dim);
    pfree(x);
    PG_RETURN_POINTER(v);
}

PG_FUNCTION_INFO_V1(vector_out);
Datum vector_out(PG_FUNCTION_ARGS)
{
    Vector *v = PG_GETARG_VECTOR_P(0);
    /* "[", each float in at most FLOAT_SHORTEST_DECIMAL_LEN - 1 characters and a comma, "]" */
    char *out = palloc((size_t)v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 2), *p = out;

    *p++ = '[';
    for (int i = 0; i < v->dim; i++) {
        if (i > 0)
            *p++ = ',';
        p += float_to_shortest_decimal_bufn(v->x[i], p);
    }
    *p++ = ']';
    *p = '\0';
    PG_FREE_IF_COPY(v, 0);
    PG_RETURN_CSTRING(out);
}

PG_FUNCTION_INFO_V1(vector_typmod_in);
Datum vector_typmod_in(PG_FUNCTION_ARGS)
{
    ArrayType *ta = PG_GETARG_ARRAYTYPE_P(0);
    int32 *tl;
    int n;

    tl = ArrayGetIntegerTypmods(ta, &n);
    if (n != 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid type modifier")));
    if (tl[0] < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("dimensions for type vector must be at least 1")));
    if (tl[0] > VECTOR_MAX_DIM)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("dimensions for type vector cannot exceed %d", VECTOR_MAX_DIM)));
    PG_RETURN_INT32(tl[0]);
}

PG_FUNCTION_INFO_V1(vector_recv);
Datum vector_recv(PG_FUNCTION_ARGS)
{
    StringInfo buf = (StringInfo)PG_GETARG_POINTER(0);
    int32 typmod = PG_GETARG_INT32(2);
    int dim = pq_getmsgint(buf, 2), unused = pq_getmsgint(buf, 2);
    Vector *v;

    dim = (int16)dim; /* the wire carries a signed int16 */
    check_dims_count(dim);
    check_typmod(dim, typmod);
    if (unused != 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
                        errmsg("expected unused to be 0, not %d", unused)));
    v = vector_new(dim);
    for (int i = 0; i < dim; i++) {
        v->x[i] = pq_getmsgfloat4(buf);
        check_element(v->x[i]);
    }
    PG_RETURN_POINTER(v);
}

PG_FUNCTION_INFO_V1(vector_send);
Datum vector_send(PG_FUNCTION_ARGS)
{
    Vector *v = PG_GETARG_VECTOR_P(0);
    StringInfoData buf;

    pq_begintypsend(&buf);
    pq_sendint16(&buf, (uint16)v->dim);
    pq_sendint16(&buf, 0);
    for (int i = 0; i < v->dim; i++)
        pq_sendfloat4(&buf, v->x[i]);
    PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---- casts ---------------------------------------------------------------------------- */

/* vector(n): the value as it is, when it has n dimensions. */
PG_FUNCTION_INFO_V1(vector_coerce);
Datum vector_coerce(PG_FUNCTION_ARGS)
{
    Vector *v = PG_GETARG_VECTOR_P(0);

    check_typmod(v->dim, PG_GETARG_INT32(1));
    PG_RETURN_POINTER(v);
}

/* integer[], real[], double precision[] or numeric[] to vector. */
PG_FUNCTION_INFO_V1(array_to_vector);
Datum array_to_vector(PG_FUNCTION_ARGS)
{
    ArrayType *a = PG_GETARG_ARRAYTYPE_P(0);
    int32 typmod = PG_GETARG_INT32(1);
    Oid elem = ARR_ELEMTYPE(a);
    int16 typlen;
    bool typbyval, *nulls;
    char typalign;
    Datum *elems;
    int n;
    Vector *v;

    if (ARR_NDIM(a) > 1)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("array must be 1-D")));
    get_typlenbyvalalign(elem, &typlen, &typbyval, &typalign);
    deconstruct_array(a, elem, typlen, typbyval, typalign, &elems, &nulls, &n);
    check_dims_count(n);
    check_typmod(n, typmod);
    v = vector_new(n);
    for (int i = 0; i < n; i++) {
        if (nulls[i])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("array must not contain nulls")));
        switch (elem) {
        case INT4OID:
            v->x[i] = (float)DatumGetInt32(elems[i]);
            break;
        case FLOAT4OID:
            v->x[i] = DatumGetFloat4(elems[i]);
            break;
        case FLOAT8OID:
            v->x[i] = (float)DatumGetFloat8(elems[i]);
            break;
        case NUMERICOID:
            v->x[i] = DatumGetFloat4(DirectFunctionCall1(numeric_float4, elems[i]));
            break;
        default:
            ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                            errmsg("unsupported array type %s", format_type_be(elem))));
        }
        if (isinf(v->x[i]) && elem == FLOAT8OID && !isinf(DatumGetFloat8(elems[i])))
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                            errmsg("value out of range for type vector")));
        check_element(v->x[i]);
    }
    PG_RETURN_POINTER(v);
}

/* vector to real[]. */
PG_FUNCTION_INFO_V1(vector_to_float4);
Datum vector_to_float4(PG_FUNCTION_ARGS)
{
    Vector *v = PG_GETARG_VECTOR_P(0);
    Datum *d = palloc(sizeof(Datum) * (size_t)v->dim);

    for (int i = 0; i < v->dim; i++)
        d[i] = Float4GetDatum(v->x[i]);
    PG_RETURN_POINTER(construct_array(d, v->dim, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}

/* ---- distances and functions ----------------------------------------------------------- */

PG_FUNCTION_INFO_V1(l2_distance);
Datum l2_distance(PG_FUNCTION_ARGS)
{
    Vector *a = PG_GETARG_VECTOR_P(0), *b = PG_GETARG_VECTOR_P(1);

    vector_check_same_dims(a, b);
    PG_RETURN_FLOAT8(sqrt((double)ab_vec_l2_squared(a->x, b->x, a->dim)));
}

PG_FUNCTION_INFO_V1(vector_l2_squared_distance);
Datum vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
    Vector *a = PG_GETARG_VECTOR_P(0), *b = PG_GETARG_VECTOR_P(1);

    vector_check_same_dims(a, b);
    PG_RETURN_FLOAT8((double)ab_vec_l2_squared(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(inner_product);
Datum inner_product(PG_FUNCTION_ARGS)
{
    Vector *a = PG_GETARG_VECTOR_P(0), *b = PG_GETARG_VECTOR_P(1);

    vector_check_same_dims(a, b);
    PG_RETURN_FLOAT8((double)ab_vec_dot(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(vector_negative_inner_product);
Datum vector_negative_inner_product(PG_FUNCTION_ARGS)
{
    Vector *a = PG_GETARG_VECTOR_P(0), *b = PG_GETARG_VECTOR_P(1);

    vector_check_same_dims(a, b);
    PG_RETURN_FLOAT8(-(double)ab_vec_dot(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(cosine_distance);
Datum cosine_distance(PG_FUNCTION_ARGS)
{
    Vector *a = PG_GETARG_VECTOR_P(0), *b = PG_GETARG_VECTOR_P(1);

    vector_check_same_dims(a, b);
    PG_RETURN_FLOAT8(ab_vec_cosine_distance(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(vector_dims);
Datum vector_dims(PG_FUNCTION_ARGS)
{
    Vector *v = PG_GETARG_VECTOR_P(0);

    PG_RETURN_INT32(v->dim);
}

PG_FUNCTION_INFO_V1(vector_norm);
Datum vector_norm(PG_FUNCTION_ARGS)
{
    Vector *v = PG_GETARG_VECTOR_P(0);

    PG_RETURN_FLOAT8(ab_vec_norm(v->x, v->dim));
}

/* The vector scaled to norm 1; a zero vector stays zero. */
PG_FUNCTION_INFO_V1(l2_normalize);
Datum l2_normalize(PG_FUNCTION_ARGS)
{
    Vector *v = PG_GETARG_VECTOR_P(0), *r = vector_new(v->dim);
    double norm = ab_vec_norm(v->x, v->dim);

    if (norm > 0)
        for (int i = 0; i < v->dim; i++)
            r->x[i] = (float)(v->x[i] / norm);
    PG_RETURN_POINTER(r);
}

/* ---- arithmetic ---------------------------------------------------------------------- */

/* Element by element; a result that overflows to infinity is an error. */
static Datum elementwise(FunctionCallInfo fcinfo, char op)
{
    Vector *a = PG_GETARG_VECTOR_P(0), *b = PG_GETARG_VECTOR_P(1), *r;

    vector_check_same_dims(a, b);
    r = vector_new(a->dim);
    for (int i = 0; i < a->dim; i++) {
        r->x[i] = op == '+' ? a->x[i] + b->x[i] : op == '-' ? a->x[i] - b->x[i] : a->x[i] * b->x[i];
        if (isinf(r->x[i]))
            float_overflow_error();
    }
    PG_RETURN_POINTER(r);
}

PG_FUNCTION_INFO_V1(vector_add);
Datum vector_add(PG_FUNCTION_ARGS)
{
    return elementwise(fcinfo, '+');
}

PG_FUNCTION_INFO_V1(vector_sub);
Datum vector_sub(PG_FUNCTION_ARGS)
{
    return elementwise(fcinfo, '-');
}

PG_FUNCTION_INFO_V1(vector_mul);
Datum vector_mul(PG_FUNCTION_ARGS)
{
    return elementwise(fcinfo, '*');
}

/* ---- comparison (a btree order: by element, then by dimension count) ----------------- */

static int compare(const Vector *a, const Vector *b)
{
    int n = Min(a->dim, b->dim);

    for (int i = 0; i < n; i++)
        if (a->x[i] != b->x[i])
            return a->x[i] < b->x[i] ? -1 : 1;
    return a->dim == b->dim ? 0 : a->dim < b->dim ? -1 : 1;
}

PG_FUNCTION_INFO_V1(vector_cmp);
Datum vector_cmp(PG_FUNCTION_ARGS)
{
    PG_RETURN_INT32(compare(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1)));
}

#define COMPARISON(name, test)                                                                     \
    PG_FUNCTION_INFO_V1(name);                                                                     \
    Datum name(PG_FUNCTION_ARGS)                                                                   \
    {                                                                                              \
        int c = compare(PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1));                             \
        PG_RETURN_BOOL(test);                                                                      \
    }

COMPARISON(vector_lt, c < 0)
COMPARISON(vector_le, c <= 0)
COMPARISON(vector_eq, c == 0)
COMPARISON(vector_ne, c != 0)
COMPARISON(vector_ge, c >= 0)
COMPARISON(vector_gt, c > 0)
