-- pgTAP: the extension agentbase_vector (ext/agentbase_vector): the type vector(n), its text
-- and binary forms, casts, errors, and the distances against sums computed here, in SQL,
-- by brute force over the same values as arrays.
-- The extension is the one 0021_retrieval installed (the embedded cluster has no pgvector).
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(62);

SELECT is((SELECT extname::text FROM pg_extension WHERE extname IN ('vector', 'agentbase_vector')),
          'agentbase_vector', 'agentbase_vector is the vector extension here');
SELECT is(agentbase.vector_schema()::text, 'public', 'it lives in public, on the database''s search_path');

-- ---- text form -------------------------------------------------------------------------
SELECT is('[1,2,3]'::vector::text, '[1,2,3]', 'text form round trip');
SELECT is(' [ 1.5 ,-2e3,  0.25 ] '::vector::text, '[1.5,-2000,0.25]', 'spaces and exponents are taken');
SELECT is('[0.1]'::vector::text, '[0.1]', 'a float prints in its shortest exact form');
SELECT is('[3.4028235e38]'::vector::text, '[3.4028235e+38]', 'the largest float is a value');
SELECT is(vector_dims('[1,2,3,4]'), 4, 'vector_dims');
SELECT is(format_type(atttypid, atttypmod), 'vector(3)', 'vector(3) is its type name')
  FROM (SELECT 'public.vector'::regtype AS atttypid, 3 AS atttypmod) t;

SELECT throws_ok($$SELECT '[]'::vector$$, '22000', 'vector must have at least 1 dimension', 'an empty vector is refused');
SELECT throws_ok($$SELECT '[1,NaN]'::vector$$, '22000', 'NaN not allowed in vector', 'NaN is refused by name');
SELECT throws_ok($$SELECT '[1,-Infinity]'::vector$$, '22000', 'infinite value not allowed in vector', 'infinity is refused by name');
SELECT throws_ok($$SELECT '[1e39]'::vector$$, '22003', '"1e39" is out of range for type vector', 'a number past the float range is refused');
SELECT throws_ok($$SELECT '[1,a]'::vector$$, '22P02', 'invalid input syntax for type vector: "[1,a]"', 'a non-numeric element is refused');
SELECT throws_ok($$SELECT '[0x10]'::vector$$, '22P02', 'invalid input syntax for type vector: "[0x10]"', 'hexadecimal is refused');
SELECT throws_ok($$SELECT '1,2'::vector$$, '22P02', NULL, 'no bracket is refused');
SELECT throws_ok($$SELECT '[1,2'::vector$$, '22P02', NULL, 'an unclosed bracket is refused');
SELECT throws_ok($$SELECT '[1,,2]'::vector$$, '22P02', NULL, 'an empty element is refused');
SELECT throws_ok($$SELECT '[1,2] x'::vector$$, '22P02', NULL, 'junk after the bracket is refused');
SELECT lives_ok(format($$SELECT '[%s]'::vector$$, array_to_string(array_fill(1, ARRAY[16000]), ',')),
                '16,000 dimensions are a value');
SELECT throws_ok(format($$SELECT '[%s]'::vector$$, array_to_string(array_fill(1, ARRAY[16001]), ',')),
                 '54000', 'vector cannot have more than 16000 dimensions', '16,001 are not');

-- ---- the typmod ----------------------------------------------------------------------------
CREATE TEMP TABLE items (id integer PRIMARY KEY, v vector(3));
SELECT lives_ok($$INSERT INTO items VALUES (1, '[1,2,3]')$$, 'a vector(3) column takes 3 dimensions');
SELECT throws_ok($$INSERT INTO items VALUES (2, '[1,2]')$$, '22000', 'expected 3 dimensions, not 2', 'and refuses 2');
SELECT throws_ok($$INSERT INTO items VALUES (2, '[1,2,3]'::vector(3)::vector(4))$$, '22000',
                 'expected 4 dimensions, not 3', 'a cast to another dimension is refused');
SELECT throws_ok($$SELECT '[1]'::vector(0)$$, '22023', 'dimensions for type vector must be at least 1', 'vector(0) is refused');
SELECT throws_ok($$SELECT '[1]'::vector(16001)$$, '22023', 'dimensions for type vector cannot exceed 16000', 'vector(16001) is refused');
SELECT throws_ok($$SELECT '[1]'::vector(1, 2)$$, '22023', 'invalid type modifier', 'two modifiers are refused');

-- ---- casts from and to arrays ------------------------------------------------------------
SELECT is(ARRAY[1, 2, 3]::vector::text, '[1,2,3]', 'integer[] to vector');
SELECT is(ARRAY[1.5, 2.25]::real[]::vector::text, '[1.5,2.25]', 'real[] to vector');
SELECT is(ARRAY[0.5, 4]::double precision[]::vector::text, '[0.5,4]', 'double precision[] to vector');
SELECT is(ARRAY[0.5, 4]::numeric[]::vector::text, '[0.5,4]', 'numeric[] to vector');
SELECT is('[1,2.5]'::vector::real[], ARRAY[1, 2.5]::real[], 'vector to real[]');
SELECT lives_ok($$INSERT INTO items VALUES (3, ARRAY[4, 5, 6]::real[])$$, 'an array is assigned to a vector column');
SELECT throws_ok($$SELECT ARRAY[1, NULL]::real[]::vector$$, '22004', 'array must not contain nulls', 'nulls are refused');
SELECT throws_ok($$SELECT ARRAY[[1, 2], [3, 4]]::real[]::vector$$, '22000', 'array must be 1-D', 'a 2-D array is refused');
SELECT throws_ok($$SELECT ARRAY['NaN']::real[]::vector$$, '22000', 'NaN not allowed in vector', 'NaN in an array is refused');
SELECT throws_ok($$SELECT ARRAY[1e300]::double precision[]::vector$$, '22003', 'value out of range for type vector',
                 'a double past the float range is refused');
SELECT throws_ok($$SELECT '{}'::real[]::vector$$, '22000', 'vector must have at least 1 dimension', 'an empty array is refused');

-- ---- binary form: int16 dimensions, int16 zero, big-endian floats ---------------------------
SELECT is(vector_send('[1,2]'), '\x000200003f80000040000000'::bytea, 'binary form');

-- ---- distances against brute force ------------------------------------------------------
-- 40 vectors of 37 dimensions (not a multiple of the kernels' 16 lanes), deterministic.
SELECT setseed(0.25);
CREATE TEMP TABLE r AS
SELECT i, a, a::vector AS v
  FROM (SELECT i, array_agg((random() * 2 - 1)::real ORDER BY d) AS a
          FROM generate_series(1, 40) i, generate_series(1, 37) d GROUP BY i) s;
CREATE TEMP TABLE pairs AS
SELECT x.i AS i, y.i AS j, x.v AS u, y.v AS w,
       (SELECT sqrt(sum((p::float8 - q::float8) ^ 2)) FROM unnest(x.a, y.a) t(p, q)) AS l2,
       (SELECT sum(p::float8 * q::float8) FROM unnest(x.a, y.a) t(p, q)) AS ip,
       (SELECT 1 - sum(p::float8 * q::float8) / sqrt(sum(p::float8 ^ 2) * sum(q::float8 ^ 2))
          FROM unnest(x.a, y.a) t(p, q)) AS cos,
       (SELECT sqrt(sum(p::float8 ^ 2)) FROM unnest(x.a) p) AS norm
  FROM r x, r y;
SELECT is((SELECT count(*) FROM pairs WHERE abs(l2_distance(u, w) - l2) > 1e-5), 0::bigint,
          'l2_distance is the Euclidean distance, for 1,600 pairs');
SELECT is((SELECT count(*) FROM pairs WHERE abs(inner_product(u, w) - ip) > 1e-5), 0::bigint, 'inner_product');
SELECT is((SELECT count(*) FROM pairs WHERE abs(cosine_distance(u, w) - cos) > 1e-5), 0::bigint, 'cosine_distance');
SELECT is((SELECT count(*) FROM pairs WHERE abs(vector_norm(u) - norm) > 1e-5), 0::bigint, 'vector_norm');
SELECT is((SELECT count(*) FROM pairs WHERE abs(vector_l2_squared_distance(u, w) - l2 * l2) > 1e-4), 0::bigint,
          'vector_l2_squared_distance');
SELECT is((SELECT count(*) FROM pairs WHERE (u <-> w) <> l2_distance(u, w) OR (u <#> w) <> -inner_product(u, w)
                                          OR (u <=> w) <> cosine_distance(u, w)), 0::bigint,
          '<->, <#> and <=> are the L2 distance, the negative inner product and the cosine distance');
SELECT is((SELECT count(*) FROM r WHERE abs(vector_norm(l2_normalize(v)) - 1) > 1e-6), 0::bigint,
          'l2_normalize gives norm 1');
SELECT is((SELECT count(*) FROM r WHERE abs(cosine_distance(l2_normalize(v), v)) > 1e-6), 0::bigint,
          'in the same direction');
SELECT is(l2_normalize('[0,0]')::text, '[0,0]', 'a zero vector stays zero');
SELECT ok(cosine_distance('[0,0]', '[1,1]') = 'NaN', 'the cosine distance to a zero vector is NaN');
SELECT is(cosine_distance('[1,2]', '[-2,-4]'), 2::float8, 'opposite vectors are 2 apart');
-- the nearest neighbour by each operator is the one the brute-force figures say
SELECT is((SELECT array_agg(j ORDER BY i) FROM (SELECT DISTINCT ON (i) i, j FROM pairs WHERE i <> j ORDER BY i, u <-> w) s),
          (SELECT array_agg(j ORDER BY i) FROM (SELECT DISTINCT ON (i) i, j FROM pairs WHERE i <> j ORDER BY i, l2) s),
          'ORDER BY <-> finds the exact nearest neighbours');
SELECT is((SELECT array_agg(j ORDER BY i) FROM (SELECT DISTINCT ON (i) i, j FROM pairs WHERE i <> j ORDER BY i, u <=> w) s),
          (SELECT array_agg(j ORDER BY i) FROM (SELECT DISTINCT ON (i) i, j FROM pairs WHERE i <> j ORDER BY i, cos) s),
          'ORDER BY <=> too');
SELECT throws_ok($$SELECT '[1,2]'::vector <-> '[1,2,3]'$$, '22000', 'different vector dimensions 2 and 3',
                 'vectors of different dimensions have no distance');
SELECT throws_ok($$SELECT cosine_distance('[1]', '[1,2]')$$, '22000', 'different vector dimensions 1 and 2', 'nor a cosine');

-- ---- arithmetic and order -------------------------------------------------------------------
SELECT is(('[1,2,3]'::vector + '[1,1,1]')::text, '[2,3,4]', '+');
SELECT is(('[1,2,3]'::vector - '[1,1,1]')::text, '[0,1,2]', '-');
SELECT is(('[1,2,3]'::vector * '[2,2,2]')::text, '[2,4,6]', '*');
SELECT throws_ok($$SELECT '[3e38]'::vector + '[3e38]'$$, '22003', NULL, 'an overflow is an error, not infinity');
SELECT ok('[1,2]'::vector = '[1,2]' AND '[1,2]'::vector <> '[1,3]', '= and <>');
SELECT ok('[1,2]'::vector < '[1,3]' AND '[1,2]'::vector < '[1,2,0]' AND '[2]'::vector > '[1,9]', 'the order: by element, then by length');
SELECT is((SELECT count(DISTINCT v) FROM (VALUES ('[1,2]'::vector), ('[1,2]'), ('[2,1]')) t(v)), 2::bigint, 'DISTINCT');
CREATE TEMP TABLE u (v vector UNIQUE);
INSERT INTO u VALUES ('[1,2]');
SELECT throws_ok($$INSERT INTO u VALUES ('[1,2]')$$, '23505', NULL, 'a unique btree index on vectors');
SELECT is((SELECT array_agg(v::text ORDER BY v) FROM (VALUES ('[2]'::vector), ('[1,5]'), ('[1]')) t(v)),
          ARRAY['[1]', '[1,5]', '[2]'], 'ORDER BY a vector');

SELECT * FROM finish();
ROLLBACK;
