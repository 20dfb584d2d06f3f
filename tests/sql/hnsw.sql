-- pgTAP: the hnsw index access method of agentbase_vector: its operator classes, options and limits, exact results where ef_search covers the whole
-- graph, recall@10 against the exact answer (a sequential scan) on 20,000 random vectors,
-- the iterative scan under a WHERE that keeps 1% of the rows, aminsert, the planner's choice.
-- VACUUM, crashes, concurrency and CREATE INDEX CONCURRENTLY: tests/cli/hnsw.sh.
BEGIN;
CREATE SCHEMA abhnsw;
SET search_path TO abhnsw, public;
SELECT plan(40);

-- ---- the extension (the one 0021_retrieval installs, else installed here; the upgrade from
-- 0.1.0 and a fresh install are in tests/cli/hnsw.sh, which has a database of its own) -------
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'agentbase_vector') THEN
        CREATE EXTENSION agentbase_vector SCHEMA public;
    ELSIF (SELECT extversion FROM pg_extension WHERE extname = 'agentbase_vector') <> '0.2.0' THEN
        ALTER EXTENSION agentbase_vector UPDATE TO '0.2.0';
    END IF;
END
$$;
SELECT is((SELECT array_agg(opcname::text ORDER BY opcname) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
            WHERE amname = 'hnsw'), ARRAY['vector_cosine_ops', 'vector_ip_ops', 'vector_l2_ops'],
          'hnsw has its three operator classes');
SELECT ok((SELECT bool_and(amvalidate(c.oid)) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
            WHERE amname = 'hnsw'), 'amvalidate accepts the three operator classes');
SELECT is(current_setting('hnsw.ef_search'), '40', 'hnsw.ef_search is 40 by default');
SELECT throws_ok($$SET hnsw.ef_search = 0$$, '22023', NULL, 'hnsw.ef_search 0 is refused');
SELECT throws_ok($$SET hnsw.ef_search = 1001$$, '22023', NULL, 'hnsw.ef_search 1001 is refused');

-- ---- limits and options -----------------------------------------------------------------------
CREATE TABLE nodim (v vector);
SELECT throws_ok($$CREATE INDEX ON nodim USING hnsw (v vector_l2_ops)$$, '22023',
                 'column does not have dimensions', 'a column without a dimension is refused');
CREATE TABLE wide (v vector(2001));
SELECT throws_ok($$CREATE INDEX ON wide USING hnsw (v vector_l2_ops)$$, '54000',
                 'column cannot have more than 2000 dimensions for hnsw index', '2,001 dimensions are refused');
CREATE TABLE widest (v vector(2000));
INSERT INTO widest SELECT array_fill(i::real, ARRAY[2000]) FROM generate_series(1, 5) i;
SELECT lives_ok($$CREATE INDEX ON widest USING hnsw (v vector_l2_ops)$$, '2,000 dimensions are indexed');
SET LOCAL enable_seqscan = off;
SELECT is((SELECT v[1] FROM (SELECT v::real[] AS v FROM widest ORDER BY v <-> array_fill(4.2::real, ARRAY[2000])::vector LIMIT 1) t),
          4::real, 'and found');
RESET enable_seqscan;
CREATE TABLE opts (v vector(3));
SELECT throws_ok($$CREATE INDEX ON opts USING hnsw (v vector_l2_ops) WITH (m = 1)$$, '22023',
                 'value 1 out of bounds for option "m"', 'm 1 is refused');
SELECT throws_ok($$CREATE INDEX ON opts USING hnsw (v vector_l2_ops) WITH (m = 101)$$, '22023',
                 'value 101 out of bounds for option "m"', 'm 101 is refused');
SELECT throws_ok($$CREATE INDEX ON opts USING hnsw (v vector_l2_ops) WITH (ef_construction = 3)$$, '22023',
                 'value 3 out of bounds for option "ef_construction"', 'ef_construction 3 is refused');
SELECT throws_ok($$CREATE INDEX ON opts USING hnsw (v vector_l2_ops) WITH (ef_construction = 1001)$$, '22023',
                 'value 1001 out of bounds for option "ef_construction"', 'ef_construction 1001 is refused');
SELECT throws_ok($$CREATE INDEX ON opts USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 31)$$, '22023',
                 'ef_construction must be greater than or equal to 2 * m', 'ef_construction under 2 m is refused');
SELECT throws_ok($$CREATE INDEX ON opts USING hnsw (v vector_l2_ops) WITH (nope = 1)$$, '22023',
                 'unrecognized parameter "nope"', 'an unknown option is refused');
SELECT lives_ok($$CREATE INDEX ON opts USING hnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 4)$$,
                'm 2 and ef_construction 4 are taken');
SELECT throws_ok($$CREATE INDEX ON opts USING hnsw (v)$$, '42704', NULL,
                 'there is no default operator class: the metric is chosen');

-- ---- exact where ef_search covers everything: 300 vectors, 3 metrics, 20 queries --------------
SELECT setseed(0.13);
CREATE TABLE small (id integer PRIMARY KEY, v vector(8));
INSERT INTO small SELECT i, (SELECT array_agg(random() - 0.3)::real[] FROM generate_series(1, 8) WHERE i > 0)
  FROM generate_series(1, 300) i;
INSERT INTO small VALUES (301, NULL), (302, '[0,0,0,0,0,0,0,0]');
CREATE TABLE smallq AS SELECT i AS qid, (SELECT array_agg(random() - 0.3)::real[] FROM generate_series(1, 8) WHERE i > 0)::vector(8) AS v
  FROM generate_series(1, 20) i;
CREATE INDEX small_l2 ON small USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16);
CREATE INDEX small_ip ON small USING hnsw (v vector_ip_ops) WITH (m = 4, ef_construction = 16);
CREATE INDEX small_cos ON small USING hnsw (v vector_cosine_ops) WITH (m = 4, ef_construction = 16);
-- top10(opclass operator, use the index): every query's 10 nearest ids, in order
CREATE FUNCTION top10(op text, idx boolean) RETURNS SETOF text LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM set_config('enable_indexscan', idx::text, true);
    PERFORM set_config('enable_seqscan', (NOT idx)::text, true);
    RETURN QUERY EXECUTE format(
        'SELECT array_agg(id ORDER BY rn)::text FROM smallq q, LATERAL (SELECT id, row_number() OVER () rn FROM
           (SELECT id FROM abhnsw.small s ORDER BY s.v %s q.v LIMIT 10) x) y GROUP BY qid ORDER BY qid', op);
    PERFORM set_config('enable_indexscan', 'on', true);
    PERFORM set_config('enable_seqscan', 'on', true);
END $f$;
SET LOCAL hnsw.ef_search = 1000;
SELECT results_eq($$SELECT top10('<->', true)$$, $$SELECT top10('<->', false)$$, 'l2: the exact 10 nearest, in order');
-- the inner product is no metric: the graph can leave an element that no list links to,
-- so it is held to recall here, not to the exact answer
SELECT cmp_ok((SELECT count(*) FROM (SELECT unnest(a::int[]) FROM top10('<#>', true) a
                 INTERSECT ALL SELECT unnest(a::int[]) FROM top10('<#>', false) a) t) / 200.0,
              '>=', 0.9, 'inner product: recall@10 >= 0.9');
-- the cosine distance of the zero vector is NaN: it is not indexed, the sequential scan puts it last
SELECT results_eq($$SELECT top10('<=>', true)$$, $$SELECT top10('<=>', false)$$, 'cosine: the exact 10 nearest');
-- the cosine index keeps its vectors divided by their norm (hnsw_index_check checks each is
-- of norm 1), and divides each query by its own: the same rows, whatever their lengths
SELECT is(hnsw_index_check('small_cos'), 300::bigint, 'cosine: the stored vectors are of norm 1');
UPDATE smallq SET v = (SELECT array_agg(x * 1000 ORDER BY k)::real[] FROM unnest(v::real[]) WITH ORDINALITY u(x, k))::vector(8);
SELECT results_eq($$SELECT top10('<=>', true)$$, $$SELECT top10('<=>', false)$$,
                  'cosine: queries 1,000 times longer find the same exact 10 nearest');
UPDATE smallq SET v = (SELECT array_agg(x / 1000 ORDER BY k)::real[] FROM unnest(v::real[]) WITH ORDINALITY u(x, k))::vector(8);
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*) FROM (SELECT id FROM small ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 1000) t), 301::bigint,
          'l2: every row but the NULL one comes from the index');
SELECT is((SELECT count(*) FROM (SELECT id FROM small ORDER BY v <=> '[1,0,0,0,0,0,0,0]' LIMIT 1000) t), 300::bigint,
          'cosine: the NULL row and the zero vector are not indexed');
SELECT is((SELECT count(*) FROM (SELECT id FROM small ORDER BY v <=> '[0,0,0,0,0,0,0,0]' LIMIT 1000) t), 0::bigint,
          'cosine: a zero query finds nothing (every distance to it is NaN)');
RESET enable_seqscan;
SELECT throws_ok($$SELECT id FROM small ORDER BY v <-> '[1,2]' LIMIT 1$$, '22000', NULL,
                 'a query of another dimension is refused');

-- ---- aminsert: rows added after the build are found ---------------------------------------------
INSERT INTO small SELECT i, (SELECT array_agg(random() - 0.3)::real[] FROM generate_series(1, 8) WHERE i > 0)
  FROM generate_series(1001, 1200) i;
SET LOCAL hnsw.ef_search = 100;
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*) FROM small s WHERE id > 1000 AND
            (SELECT id FROM small t ORDER BY t.v <-> s.v LIMIT 1) = s.id), 200::bigint,
          'each inserted row is its own nearest neighbour through the index');
SET LOCAL hnsw.ef_search = 1000;
SELECT results_eq($$SELECT top10('<->', true)$$, $$SELECT top10('<->', false)$$,
                  'and queries stay exact after the inserts');
RESET enable_seqscan;
RESET hnsw.ef_search;

-- ---- 20,000 vectors of 32 dimensions in 50 clusters: recall@10, the planner, a 1% filter -------
-- (uniform random vectors, the hardest case, measured 0.90 at ef_search 40, 0.98 at 100)
SELECT setseed(0.77);
CREATE TABLE centers AS SELECT c, (SELECT array_agg(random() - 0.5) FROM generate_series(1, 32) WHERE c >= 0) AS x
  FROM generate_series(0, 49) c;
CREATE TABLE big (id integer PRIMARY KEY, f integer NOT NULL, v vector(32));
INSERT INTO big SELECT i, i % 100, (SELECT array_agg(x[j] + (random() - 0.5) * 0.6 ORDER BY j)::real[]
                                      FROM centers, generate_series(1, 32) j WHERE c = i % 49)
  FROM generate_series(1, 20000) i;
CREATE TABLE bigq AS SELECT i AS qid, (SELECT array_agg(x[j] + (random() - 0.5) * 0.6 ORDER BY j)::real[]
                                         FROM centers, generate_series(1, 32) j WHERE c = i % 50)::vector(32) AS v
  FROM generate_series(1, 50) i;
CREATE INDEX big_cos ON big USING hnsw (v vector_cosine_ops);
ANALYZE big;
CREATE FUNCTION plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $f$
BEGIN RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q; END $f$;
SELECT ok((SELECT bool_or(p LIKE '%Index Scan using big_cos%') FROM
             plan_of('SELECT id FROM abhnsw.big ORDER BY v <=> ''' || (SELECT v FROM bigq LIMIT 1) || ''' LIMIT 10') p),
          'the planner takes the index for ORDER BY v <=> $q LIMIT 10 with default costs');
SELECT ok((SELECT bool_or(p LIKE '%Index Scan using big_cos%') FROM
             plan_of('SELECT id FROM abhnsw.big WHERE f = 7 ORDER BY v <=> ''' || (SELECT v FROM bigq LIMIT 1) || ''' LIMIT 10') p),
          'and with a WHERE beside it');
CREATE FUNCTION knn(filtered boolean, idx boolean) RETURNS TABLE (qid integer, id integer) LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM set_config('enable_indexscan', idx::text, true);
    PERFORM set_config('enable_seqscan', (NOT idx)::text, true);
    RETURN QUERY SELECT q.qid, a.id FROM abhnsw.bigq q, LATERAL (SELECT b.id FROM abhnsw.big b
        WHERE NOT filtered OR b.f = 7 ORDER BY b.v <=> q.v LIMIT 10) a;
    PERFORM set_config('enable_indexscan', 'on', true);
    PERFORM set_config('enable_seqscan', 'on', true);
END $f$;
CREATE FUNCTION recall(filtered boolean) RETURNS double precision LANGUAGE sql AS $f$
    SELECT count(a.id)::double precision / count(*) FROM abhnsw.knn(filtered, false) e
      LEFT JOIN abhnsw.knn(filtered, true) a USING (qid, id)
$f$;
CREATE TEMP TABLE recalls AS SELECT 40 AS ef, recall(false) AS r, recall(true) AS rf;
SET LOCAL hnsw.ef_search = 100;
INSERT INTO recalls SELECT 100, recall(false), recall(true);
RESET hnsw.ef_search;
SELECT diag(format('recall@10, 20,000 x 32 clustered, ef_search %s: %s; with 1%% of the rows kept by a WHERE: %s', ef, r, rf))
  FROM recalls ORDER BY ef;
SELECT is(hnsw_index_check('big_cos'), 20000::bigint, 'hnsw_index_check: consistent, one element per row');
SELECT throws_ok($$SELECT hnsw_index_check('big_pkey')$$, '42809', '"big_pkey" is not an hnsw index',
                 'hnsw_index_check refuses another index');
SELECT cmp_ok((SELECT r FROM recalls WHERE ef = 40), '>=', 0.9::double precision, 'recall@10 >= 0.9 at ef_search 40');
SELECT cmp_ok((SELECT r FROM recalls WHERE ef = 100), '>=', 0.95::double precision, 'recall@10 >= 0.95 at ef_search 100');
SELECT is((SELECT count(*) FROM knn(true, true)), 500::bigint,
          'a WHERE that keeps 1% of the rows: every query still gets its 10 rows (the scan goes on past ef_search)');
SELECT is((SELECT count(*) FROM knn(true, true) k JOIN big b USING (id) WHERE b.f <> 7), 0::bigint,
          'and all of them pass the WHERE');
SELECT cmp_ok((SELECT rf FROM recalls WHERE ef = 40), '>=', 0.9::double precision, 'filtered recall@10 >= 0.9');
SELECT is((SELECT count(*) FROM (SELECT id FROM big WHERE id = 5 ORDER BY v <=> (SELECT v FROM bigq LIMIT 1) LIMIT 10) t),
          1::bigint, 'a WHERE that keeps one row: the scan walks the whole graph and finds it');

-- ---- an unlogged table: the init fork holds an empty index (ambuildempty) ------------------------
CREATE UNLOGGED TABLE ul (v vector(2));
SELECT lives_ok($$CREATE INDEX ON ul USING hnsw (v vector_l2_ops)$$, 'an index on an unlogged table');
INSERT INTO ul VALUES ('[1,1]'), ('[5,5]');
SET LOCAL enable_seqscan = off;
SELECT is((SELECT v::text FROM ul ORDER BY v <-> '[4,4]' LIMIT 1), '[5,5]', 'answers');

SELECT * FROM finish();
ROLLBACK;
