-- pgTAP tests of 0021_retrieval: the vector column, the text search column and its index,
-- the collection's text search configuration, add_chunks() and search_chunks() called
-- exactly as the service calls them (as agentbase_app under row-level security), their
-- refusals, the recorded rag query, and a soft-deleted document's chunks.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(39);

SELECT abtest.fixture_0002_tenancy('a0210000-0000-4000-8000-00000000000a');
SELECT abtest.fixture_0002_tenancy('b0210000-0000-4000-8000-00000000000b');

-- ---- structure ---------------------------------------------------------------------------
SELECT col_type_is('agentbase', 'chunks', 'embedding', 'public', 'vector', 'chunks.embedding is a vector');
SELECT col_type_is('agentbase', 'chunks', 'content_tsv', 'tsvector', 'chunks.content_tsv is a tsvector');
SELECT is((SELECT attgenerated::text FROM pg_attribute
            WHERE attrelid = 'agentbase.chunks'::regclass AND attname = 'content_tsv'),
          's', 'content_tsv is a stored generated column');
SELECT col_type_is('agentbase', 'chunks', 'text_config', 'regconfig', 'chunks.text_config is a regconfig');
SELECT col_default_is('agentbase', 'collections', 'text_search_config', 'english', 'collections default to english');
SELECT is((SELECT am.amname::text FROM pg_class i JOIN pg_am am ON am.oid = i.relam
            WHERE i.oid = 'agentbase.idx_chunks_content_tsv'::regclass),
          'gin', 'the text search column has a GIN index');
SELECT has_function('agentbase', 'search_chunks',
                    ARRAY['uuid', 'real[]', 'text', 'integer', 'text', 'jsonb', 'double precision', 'uuid', 'uuid'],
                    'search_chunks(collection, embedding, text, top_k, strategy, filter, min_score, agent, conversation)');
SELECT has_function('agentbase', 'add_chunks', ARRAY['uuid', 'jsonb'], 'add_chunks(document, chunks)');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'agentbase.search_chunks(uuid,real[],text,integer,text,jsonb,double precision,uuid,uuid)'::regprocedure),
          false, 'search_chunks runs as its caller, under row-level security');
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'agentbase.add_chunks(uuid,jsonb)'::regprocedure),
          false, 'add_chunks runs as its caller, under row-level security');

-- ---- as the service, tenant A -----------------------------------------------------------
SELECT abtest.become('a0210000-0000-4000-8000-00000000000a');
INSERT INTO collections (tenant_id, id, name, embedding_model, embedding_dimensions, distance_metric)
VALUES ('a0210000-0000-4000-8000-00000000000a', 'a0210000-0000-4000-8000-0000000c0001', 'kb', 'm', 3, 'l2');
INSERT INTO documents (tenant_id, id, collection_id, title)
VALUES ('a0210000-0000-4000-8000-00000000000a', 'a0210000-0000-4000-8000-0000000d0001',
        'a0210000-0000-4000-8000-0000000c0001', 'one'),
       ('a0210000-0000-4000-8000-00000000000a', 'a0210000-0000-4000-8000-0000000d0002',
        'a0210000-0000-4000-8000-0000000c0001', 'two');

SELECT throws_ok($$INSERT INTO collections (tenant_id, name, embedding_model, embedding_dimensions, text_search_config)
                   VALUES ('a0210000-0000-4000-8000-00000000000a', 'bad', 'm', 3, 'klingon')$$,
                 '22023', NULL, 'an unknown text search configuration is refused');

SELECT is(agentbase.add_chunks('a0210000-0000-4000-8000-0000000d0001',
          '[{"chunk_index": 0, "content": "The cats are sleeping", "embedding": [0, 0, 0]},
            {"chunk_index": 1, "content": "A dog barks", "embedding": [3, 4, 0], "metadata": {"k": "v"}},
            {"chunk_index": 2, "content": "not embedded yet"}]') ->> 'added', '3', 'add_chunks adds a batch');
SELECT is((SELECT processing_status FROM documents WHERE id = 'a0210000-0000-4000-8000-0000000d0001'),
          'completed', 'the document is marked completed');
SELECT is((SELECT chunk_count FROM collections WHERE id = 'a0210000-0000-4000-8000-0000000c0001'),
          3::bigint, 'the collection counts them');
SELECT is((SELECT text_config::text FROM chunks WHERE chunk_index = 0
             AND document_id = 'a0210000-0000-4000-8000-0000000d0001'),
          'english', 'a chunk takes its collection''s text search configuration');
SELECT ok((SELECT content_tsv @@ to_tsquery('english', 'cat & sleep') FROM chunks
            WHERE chunk_index = 0 AND document_id = 'a0210000-0000-4000-8000-0000000d0001'),
          'the content is stemmed in english (cats sleeping matches cat & sleep)');
SELECT throws_ok($$SELECT agentbase.add_chunks('a0210000-0000-4000-8000-0000000d0002',
                   '[{"chunk_index": 0, "content": "x", "embedding": [1, 2]}]')$$,
                 '22023', 'field chunks[0] has an embedding of 2 dimensions; the collection expects 3',
                 'a wrong dimension is named by its element');
SELECT throws_ok($$SELECT agentbase.add_chunks('a0210000-0000-4000-8000-0000000d0002',
                   (SELECT jsonb_agg(jsonb_build_object('chunk_index', n, 'content', 'x')) FROM generate_series(0, 1000) n))$$,
                 '22023', 'field chunks must hold 1 to 1000 chunks (1001 given)', 'more than 1000 chunks are refused');
SELECT throws_ok($$SELECT agentbase.add_chunks('a0210000-0000-4000-8000-0000000d0001',
                   '[{"chunk_index": 5, "content": "x"}, {"chunk_index": 1, "content": "taken"}]')$$,
                 '23505', NULL, 'a chunk_index the document has refuses the whole batch');
SELECT is((SELECT chunk_count FROM documents WHERE id = 'a0210000-0000-4000-8000-0000000d0001'),
          3::bigint, 'and nothing of it was written');

-- l2: distance 0 and 5 from the origin; score 1 / (1 + distance).
SELECT is((SELECT jsonb_agg(r -> 'score') FROM jsonb_array_elements(
              agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', '{0,0,0}', NULL, 5) -> 'results') r),
          '[1, 0.16666666666666666]'::jsonb, 'l2 scores are 1 / (1 + distance), nearest first, unembedded chunks left out');
SELECT is((SELECT count(*) FROM rag_queries WHERE collection_id = 'a0210000-0000-4000-8000-0000000c0001'
              AND retrieval_strategy = 'similarity' AND result_count = 2 AND top_score = 1),
          1::bigint, 'the search is recorded as a rag query');
SELECT is(jsonb_array_length(agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', '{0,0,0}', NULL, 5,
                                                     NULL, '{"metadata": {"k": "v"}}') -> 'results'),
          1, 'a metadata filter keeps the chunks that contain it');
SELECT is(agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', NULL, 'dogs', 5) #>> '{results,0,chunk_index}',
          '1', 'text search stems the query (dogs finds dog)');
SELECT throws_ok($$SELECT agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', '{0,0}', NULL, 5)$$,
                 '22023', 'field query_embedding has 2 dimensions, the collection expects 3', 'a wrong query dimension');
SELECT throws_ok($$SELECT agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', '{0,0,0}', NULL, 101)$$,
                 '22023', 'field top_k must be from 1 to 100', 'top_k above 100');
SELECT throws_ok($$SELECT agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', NULL, 'x', 5, 'bm25')$$,
                 '22023', 'field strategy must be vector, text or hybrid', 'an unknown strategy');
SELECT throws_ok($$SELECT agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', NULL, 'x', 5, NULL,
                   '{"document_ids": ["b0210000-0000-4000-8000-0000000d0009"]}')$$,
                 'AB404', NULL, 'a filter on a document not in the collection is not found');
SELECT throws_ok($$SELECT agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', NULL, 'x', 5, NULL,
                   '{"document_ids": "all"}')$$,
                 '22023', 'field filter: document_ids must be an array of document ids', 'document_ids of the wrong type');

-- A configuration change re-tokenizes the collection's chunks.
UPDATE collections SET text_search_config = 'simple' WHERE id = 'a0210000-0000-4000-8000-0000000c0001';
SELECT is((SELECT count(*) FROM chunks WHERE collection_id = 'a0210000-0000-4000-8000-0000000c0001'
              AND text_config = 'simple'::regconfig),
          3::bigint, 'a new text search configuration reaches every chunk');
SELECT is(jsonb_array_length(agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', NULL, 'dogs', 5) -> 'results'),
          0, 'and the simple configuration no longer stems dogs to dog');

-- A soft-deleted document's chunks are never found; restored, they are again.
SELECT is(jsonb_array_length(agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', '{0,0,0}', NULL, 5) -> 'results'),
          2, 'before: both embedded chunks are found');
UPDATE documents SET deleted_at = now() WHERE id = 'a0210000-0000-4000-8000-0000000d0001';
SELECT is(jsonb_array_length(agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', '{0,0,0}', NULL, 5) -> 'results'),
          0, 'a soft-deleted document''s chunks are not found by vector');
SELECT is(jsonb_array_length(agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', NULL, 'cats', 5) -> 'results'),
          0, 'nor by text');
UPDATE documents SET deleted_at = NULL WHERE id = 'a0210000-0000-4000-8000-0000000d0001';
SELECT is(jsonb_array_length(agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', '{0,0,0}', NULL, 5) -> 'results'),
          2, 'restored, they are found again');
SELECT abtest.unbecome();

-- ---- tenant B sees none of it -------------------------------------------------------------
SELECT abtest.become('b0210000-0000-4000-8000-00000000000b');
SELECT throws_ok($$SELECT agentbase.search_chunks('a0210000-0000-4000-8000-0000000c0001', NULL, 'x', 5)$$,
                 'AB404', NULL, 'another tenant''s collection is not found');
SELECT throws_ok($$SELECT agentbase.add_chunks('a0210000-0000-4000-8000-0000000d0002', '[{"chunk_index": 0, "content": "x"}]')$$,
                 'AB404', NULL, 'another tenant''s document is not found');
SELECT is((SELECT count(*) FROM rag_queries), 0::bigint, 'and none of its rag queries are visible');
SELECT abtest.unbecome();

-- agentbase_readonly reads, never searches (a search writes its rag query).
SELECT is(has_function_privilege('agentbase_readonly', 'agentbase.search_chunks(uuid,real[],text,integer,text,jsonb,double precision,uuid,uuid)', 'EXECUTE'),
          false, 'the analytics role cannot run a search');

SELECT * FROM finish();
ROLLBACK;
