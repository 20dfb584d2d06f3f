-- pgTAP tests of 0006_knowledge: structure, every named CHECK, the embedding dimension
-- trigger, the document and chunk counters, uniqueness, delete actions, the append-only
-- partitioned query log, RLS and the fixture. Needs tests/sql/setup.sql and
-- tests/sql/fixtures/*.sql.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(145);

-- Tenants A and B, built by the modules' fixtures (0002, 0003, then ours).
SELECT abtest.fixture_0002_tenancy('a0060000-0000-4000-8000-00000000000a');
SELECT abtest.fixture_0003_agents('a0060000-0000-4000-8000-00000000000a');
SELECT abtest.fixture_0002_tenancy('b0060000-0000-4000-8000-00000000000b');
SELECT abtest.fixture_0003_agents('b0060000-0000-4000-8000-00000000000b');
SELECT abtest.fixture_0006_knowledge('a0060000-0000-4000-8000-00000000000a');
SELECT abtest.fixture_0006_knowledge('b0060000-0000-4000-8000-00000000000b');

CREATE TEMP TABLE module_tables (rel regclass PRIMARY KEY);
INSERT INTO module_tables VALUES
    ('agentbase.collections'), ('agentbase.documents'), ('agentbase.chunks'), ('agentbase.rag_queries');

-- rejects(sql, constraint): the statement fails with check_violation on that constraint.
-- Records the constraint so that a later test can tell whether every CHECK was tried.
CREATE TEMP TABLE covered_checks (conname text);
CREATE FUNCTION pg_temp.rejects(p_sql text, p_constraint text, p_what text DEFAULT 'a bad value')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_ran boolean := false;
    v_state text;
    v_constraint text;
BEGIN
    INSERT INTO covered_checks VALUES (p_constraint);
    BEGIN
        EXECUTE p_sql;
        v_ran := true;
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN OTHERS THEN
        IF NOT v_ran THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_constraint = CONSTRAINT_NAME;
        END IF;
    END;
    RETURN is(coalesce(v_state, 'no error') || ' ' || coalesce(v_constraint, ''), '23514 ' || p_constraint,
              p_constraint || ' rejects ' || p_what);
END
$$;

-- Counters recomputed from the rows, for every collection and document of the database;
-- returns those whose stored counters differ.
CREATE FUNCTION pg_temp.counter_drift() RETURNS text[] LANGUAGE sql AS $$
    SELECT ARRAY(
        SELECT 'collection ' || c.name
          FROM agentbase.collections c,
               LATERAL (SELECT count(*) AS docs, coalesce(sum(d.chunk_count), 0) AS chunks,
                               coalesce(sum(d.token_count), 0) AS tokens
                          FROM agentbase.documents d
                         WHERE d.tenant_id = c.tenant_id AND d.collection_id = c.id
                           AND d.deleted_at IS NULL) t
         WHERE c.document_count <> t.docs OR c.chunk_count <> t.chunks OR c.total_tokens <> t.tokens
        UNION ALL
        SELECT 'document ' || d.title
          FROM agentbase.documents d
         WHERE d.chunk_count <> (SELECT count(*) FROM agentbase.chunks k
                                  WHERE k.tenant_id = d.tenant_id AND k.document_id = d.id)
        ORDER BY 1)
$$;

-- ------------------------------------------------------------------------------------
-- Structure
-- ------------------------------------------------------------------------------------

-- collections
SELECT has_table('agentbase', 'collections', 'collections exists');
SELECT columns_are('agentbase', 'collections', ARRAY['tenant_id', 'id', 'name', 'description', 'embedding_model', 'embedding_dimensions', 'distance_metric', 'chunk_size', 'chunk_overlap', 'chunking_config', 'document_count', 'chunk_count', 'total_tokens', 'status', 'is_public', 'metadata', 'created_by', 'created_at', 'updated_at', 'deleted_at', 'slug', 'text_search_config'], 'collections has exactly its columns');
SELECT col_is_pk('agentbase', 'collections', ARRAY['tenant_id', 'id'], 'collections primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'collections', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_collections_tenants');
SELECT fk_ok('agentbase', 'collections', ARRAY['tenant_id', 'created_by'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'fk_collections_users');
SELECT has_index('agentbase', 'collections', 'idx_collections_created_by', 'collections has index idx_collections_created_by');
SELECT has_index('agentbase', 'collections', 'uq_collections_name', 'collections has index uq_collections_name');
SELECT triggers_are('agentbase', 'collections', ARRAY['trg_audit', 'trg_guard', 'trg_slug', 'trg_text_config', 'trg_text_config_chunks', 'trg_updated_at'], 'collections has its triggers');

-- documents
SELECT has_table('agentbase', 'documents', 'documents exists');
SELECT columns_are('agentbase', 'documents', ARRAY['tenant_id', 'id', 'collection_id', 'title', 'source_type', 'source_uri', 'mime_type', 'content_hash', 'size_bytes', 'processing_status', 'processing_error', 'chunk_count', 'token_count', 'metadata', 'created_by', 'processed_at', 'created_at', 'updated_at', 'deleted_at', 'filename', 'uploaded_at'], 'documents has exactly its columns');
SELECT col_is_pk('agentbase', 'documents', ARRAY['tenant_id', 'id'], 'documents primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'documents', ARRAY['tenant_id', 'collection_id'], 'agentbase', 'collections', ARRAY['tenant_id', 'id'], 'fk_documents_collections');
SELECT fk_ok('agentbase', 'documents', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_documents_tenants');
SELECT fk_ok('agentbase', 'documents', ARRAY['tenant_id', 'created_by'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'fk_documents_users');
SELECT has_index('agentbase', 'documents', 'idx_documents_content_hash', 'documents has index idx_documents_content_hash');
SELECT has_index('agentbase', 'documents', 'idx_documents_created_by', 'documents has index idx_documents_created_by');
SELECT has_index('agentbase', 'documents', 'idx_documents_processing_status', 'documents has index idx_documents_processing_status');
SELECT has_index('agentbase', 'documents', 'uq_documents_collection_id_id', 'documents has index uq_documents_collection_id_id');
SELECT triggers_are('agentbase', 'documents', ARRAY['trg_audit', 'trg_counts_delete', 'trg_counts_insert', 'trg_counts_update', 'trg_guard', 'trg_updated_at'], 'documents has its triggers');

-- chunks
SELECT has_table('agentbase', 'chunks', 'chunks exists');
SELECT columns_are('agentbase', 'chunks', ARRAY['tenant_id', 'id', 'collection_id', 'document_id', 'chunk_index', 'content', 'token_count', 'start_char', 'end_char', 'embedding', 'metadata', 'created_at', 'updated_at', 'embedding_model', 'text_config', 'content_tsv'], 'chunks has exactly its columns');
SELECT col_is_pk('agentbase', 'chunks', ARRAY['tenant_id', 'id'], 'chunks primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'chunks', ARRAY['tenant_id', 'collection_id'], 'agentbase', 'collections', ARRAY['tenant_id', 'id'], 'fk_chunks_collections');
SELECT fk_ok('agentbase', 'chunks', ARRAY['tenant_id', 'collection_id', 'document_id'], 'agentbase', 'documents', ARRAY['tenant_id', 'collection_id', 'id'], 'fk_chunks_documents');
SELECT fk_ok('agentbase', 'chunks', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_chunks_tenants');
SELECT has_index('agentbase', 'chunks', 'idx_chunks_collection_id_document_id', 'chunks has index idx_chunks_collection_id_document_id');
SELECT has_index('agentbase', 'chunks', 'uq_chunks_document_id_chunk_index', 'chunks has index uq_chunks_document_id_chunk_index');
SELECT triggers_are('agentbase', 'chunks', ARRAY['trg_audit', 'trg_check', 'trg_counts_delete', 'trg_counts_insert', 'trg_updated_at'], 'chunks has its triggers');

-- rag_queries
SELECT has_table('agentbase', 'rag_queries', 'rag_queries exists');
SELECT columns_are('agentbase', 'rag_queries', ARRAY['tenant_id', 'id', 'collection_id', 'user_id', 'agent_id', 'conversation_id', 'query_text', 'query_embedding', 'top_k', 'similarity_threshold', 'result_count', 'results', 'latency_ms', 'created_at', 'retrieval_strategy', 'filters', 'top_score'], 'rag_queries has exactly its columns');
SELECT col_is_pk('agentbase', 'rag_queries', ARRAY['tenant_id', 'id', 'created_at'], 'rag_queries primary key is (tenant_id, id, created_at)');
SELECT fk_ok('agentbase', 'rag_queries', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'fk_rag_queries_agents');
SELECT fk_ok('agentbase', 'rag_queries', ARRAY['tenant_id', 'collection_id'], 'agentbase', 'collections', ARRAY['tenant_id', 'id'], 'fk_rag_queries_collections');
SELECT fk_ok('agentbase', 'rag_queries', ARRAY['tenant_id', 'conversation_id'], 'agentbase', 'conversations', ARRAY['tenant_id', 'id'], 'fk_rag_queries_conversations');
SELECT fk_ok('agentbase', 'rag_queries', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_rag_queries_tenants');
SELECT fk_ok('agentbase', 'rag_queries', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'fk_rag_queries_users');
SELECT has_index('agentbase', 'rag_queries', 'idx_rag_queries_agent_id', 'rag_queries has index idx_rag_queries_agent_id');
SELECT has_index('agentbase', 'rag_queries', 'idx_rag_queries_collection_id_created_at', 'rag_queries has index idx_rag_queries_collection_id_created_at');
SELECT has_index('agentbase', 'rag_queries', 'idx_rag_queries_conversation_id', 'rag_queries has index idx_rag_queries_conversation_id');
SELECT has_index('agentbase', 'rag_queries', 'idx_rag_queries_user_id', 'rag_queries has index idx_rag_queries_user_id');

-- ------------------------------------------------------------------------------------
-- Conventions, over every table of the module
-- ------------------------------------------------------------------------------------

SELECT is(ARRAY(SELECT rel::text FROM module_tables m
                 WHERE obj_description(m.rel, 'pg_class') IS NULL ORDER BY 1),
          '{}', 'every table has a comment');
SELECT is(ARRAY(SELECT m.rel::text || '.' || a.attname FROM module_tables m
                  JOIN pg_attribute a ON a.attrelid = m.rel AND a.attnum > 0 AND NOT a.attisdropped
                 WHERE col_description(m.rel, a.attnum) IS NULL ORDER BY 1),
          '{}', 'every column has a comment');
SELECT is(ARRAY(SELECT m.rel::text FROM module_tables m
                  JOIN pg_attribute a ON a.attrelid = m.rel AND a.attnum = 1
                 WHERE a.attname <> 'tenant_id' ORDER BY 1),
          '{}', 'tenant_id is the first column of every table');
SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'c'
                   AND c.conname NOT LIKE 'chk\_' || replace((SELECT relname FROM pg_class WHERE oid = c.conrelid), '_', '\_') || '\_%'
                 ORDER BY 1),
          '{}', 'every CHECK is named chk_<table>_...');
SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'f' AND c.conname NOT LIKE 'fk\_%' ORDER BY 1),
          '{}', 'every foreign key is named fk_...');
SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'f'
                   AND NOT EXISTS (SELECT 1 FROM pg_index i
                                    WHERE i.indrelid = c.conrelid
                                      AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey)
                 ORDER BY 1),
          '{}', 'every foreign key is indexed (an index leads with its columns in order)');
SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'f' AND c.confdeltype = 'n'
                   AND (c.confdelsetcols IS NULL OR c.confdelsetcols && c.conkey[1:1])
                 ORDER BY 1),
          '{}', 'no ON DELETE SET NULL foreign key nulls tenant_id');
SELECT is(ARRAY(SELECT m.rel::text FROM module_tables m
                 WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c
                                    WHERE c.conrelid = m.rel AND c.contype = 'f'
                                      AND c.confrelid = 'agentbase.tenants'::regclass
                                      AND c.confdeltype = 'c'
                                      AND c.conname = 'fk_' || (SELECT relname FROM pg_class WHERE oid = m.rel) || '_tenants')
                 ORDER BY 1),
          '{}', 'every table has fk_<table>_tenants ON DELETE CASCADE');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'agentbase'::regnamespace AND c.relkind IN ('r', 'p')
                   AND (c.oid IN (SELECT rel FROM module_tables)
                        OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent IN (SELECT rel FROM module_tables)))
                   AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
                 ORDER BY 1),
          '{}', 'RLS is enabled and forced on every table (and partition)');
SELECT is(ARRAY(SELECT m.rel::text FROM module_tables m
                 WHERE NOT EXISTS (SELECT 1 FROM pg_policy p
                                    WHERE p.polrelid = m.rel AND p.polname = 'tenant_isolation')
                 ORDER BY 1),
          '{}', 'every table has the tenant_isolation policy');

SELECT is(pg_get_indexdef('agentbase.uq_collections_name'::regclass),
          'CREATE UNIQUE INDEX uq_collections_name ON agentbase.collections USING btree (tenant_id, name) WHERE (deleted_at IS NULL)',
          'collection names are unique per tenant among live collections');
SELECT is(pg_get_indexdef('agentbase.uq_chunks_document_id_chunk_index'::regclass),
          'CREATE UNIQUE INDEX uq_chunks_document_id_chunk_index ON agentbase.chunks USING btree (tenant_id, document_id, chunk_index)',
          'chunk_index is unique per document');
SELECT is((SELECT pg_get_partkeydef('agentbase.rag_queries'::regclass)), 'RANGE (created_at)',
          'rag_queries is partitioned by range of created_at');
SELECT ok(to_regclass('agentbase.rag_queries_p' || to_char(now(), 'YYYYMM')) IS NOT NULL
          AND to_regclass('agentbase.rag_queries_default') IS NOT NULL,
          'rag_queries has this month''s partition and a default one');
SELECT is(ARRAY(SELECT privilege_type::text FROM information_schema.role_table_grants
                 WHERE grantee = 'agentbase_app' AND table_schema = 'agentbase' AND table_name = 'rag_queries'
                 ORDER BY 1),
          ARRAY['INSERT', 'SELECT'], 'the service may only insert into and read rag_queries');
SELECT is(ARRAY(SELECT privilege_type::text FROM information_schema.role_table_grants
                 WHERE grantee = 'agentbase_app' AND table_schema = 'agentbase'
                   AND table_name = 'rag_queries_p' || to_char(now(), 'YYYYMM')
                 ORDER BY 1),
          ARRAY['INSERT', 'SELECT'], 'and the same on its partitions');
SELECT is(ARRAY(SELECT t.tgname::text FROM pg_trigger t
                 WHERE t.tgrelid = 'agentbase.rag_queries'::regclass AND NOT t.tgisinternal),
          ARRAY['trg_owner_fill'], 'the query log has no audit trigger (only the owner fill of 0011)');

SELECT results_eq(
    $$SELECT c.conname::text COLLATE "default", c.confdeltype::text,
             coalesce((SELECT string_agg(a.attname::text, ',') FROM unnest(c.confdelsetcols) k(n)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n), '') COLLATE "default"
        FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
       WHERE c.contype = 'f' AND c.confrelid <> 'agentbase.tenants'::regclass ORDER BY 1$$,
    $$VALUES ('fk_chunks_collections', 'c', ''),
             ('fk_chunks_documents', 'c', ''),
             ('fk_collections_users', 'n', 'created_by'),
             ('fk_documents_collections', 'c', ''),
             ('fk_documents_users', 'n', 'created_by'),
             ('fk_rag_queries_agents', 'n', 'agent_id'),
             ('fk_rag_queries_collections', 'n', 'collection_id'),
             ('fk_rag_queries_conversations', 'n', 'conversation_id'),
             ('fk_rag_queries_users', 'n', 'user_id')$$,
    'foreign keys cascade or set only their own column to NULL, as specified');

-- ------------------------------------------------------------------------------------
-- The fixture: a row of A and of B in every table
-- ------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.tables_without_rows(p_tenant uuid) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_missing text[] := '{}';
    v_found boolean;
BEGIN
    FOR r IN SELECT rel FROM module_tables ORDER BY rel::text LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE tenant_id = $1)', r.rel) INTO v_found USING p_tenant;
        IF NOT v_found THEN
            v_missing := v_missing || r.rel::text;
        END IF;
    END LOOP;
    RETURN v_missing;
END
$$;
SELECT is(pg_temp.tables_without_rows('a0060000-0000-4000-8000-00000000000a'), '{}',
          'the fixture puts a row of tenant A in every table');
SELECT is(pg_temp.tables_without_rows('b0060000-0000-4000-8000-00000000000b'), '{}',
          'the fixture puts a row of tenant B in every table');
SELECT is((SELECT (document_count, chunk_count, total_tokens)::text FROM collections
            WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'),
          '(1,1,9)', 'the fixture''s collection counts its document, chunk and tokens');

-- ------------------------------------------------------------------------------------
-- Every CHECK constraint rejects a bad value (on tenant A's fixture rows)
-- ------------------------------------------------------------------------------------

-- collections
SELECT pg_temp.rejects($$UPDATE collections SET name = ' ' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_name', 'a blank name');
SELECT pg_temp.rejects($$UPDATE collections SET slug = 'Docs' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_slug', 'an uppercase slug');
SELECT pg_temp.rejects($$UPDATE collections SET embedding_model = '' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_embedding_model');
SELECT pg_temp.rejects($$INSERT INTO collections (tenant_id, name, embedding_model, embedding_dimensions) VALUES ('a0060000-0000-4000-8000-00000000000a', 'zero', 'm', 0)$$, 'chk_collections_embedding_dimensions', 'zero dimensions');
SELECT pg_temp.rejects($$UPDATE collections SET distance_metric = 'manhattan' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_distance_metric');
SELECT pg_temp.rejects($$UPDATE collections SET chunk_size = 0, chunk_overlap = 0 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_chunk_size', 'a zero chunk size');
SELECT pg_temp.rejects($$UPDATE collections SET chunk_size = -10, chunk_overlap = 0 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_chunk_size', 'a negative chunk size');
SELECT pg_temp.rejects($$UPDATE collections SET chunk_overlap = chunk_size WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_chunk_overlap', 'an overlap equal to the chunk size');
SELECT pg_temp.rejects($$UPDATE collections SET chunk_overlap = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_chunk_overlap', 'a negative overlap');
SELECT lives_ok($$UPDATE collections SET chunk_overlap = chunk_size - 1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$,
                'an overlap just below the chunk size is accepted');
SELECT pg_temp.rejects($$UPDATE collections SET chunking_config = '{"chunk_size": 100}' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_chunking_config', 'chunk_size inside the JSON');
SELECT pg_temp.rejects($$UPDATE collections SET chunking_config = '[]' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_chunking_config', 'a JSON array');
SELECT pg_temp.rejects($$UPDATE collections SET status = 'live' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_status');
-- documents
SELECT pg_temp.rejects($$UPDATE documents SET title = '' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_documents_title');
SELECT pg_temp.rejects($$UPDATE documents SET filename = 'docs/readme.md' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_documents_filename', 'a path');
SELECT pg_temp.rejects($$UPDATE documents SET filename = '' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_documents_filename', 'an empty name');
SELECT pg_temp.rejects($$UPDATE documents SET source_type = 'fax' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_documents_source_type');
SELECT pg_temp.rejects($$UPDATE documents SET size_bytes = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_documents_size_bytes');
SELECT pg_temp.rejects($$UPDATE documents SET processing_status = 'done' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_documents_processing_status');
SELECT pg_temp.rejects($$UPDATE documents SET token_count = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_documents_token_count');
-- The counters are out of the clients' reach (see below); with triggers off, the CHECKs still hold.
SET session_replication_role = replica;
SELECT pg_temp.rejects($$UPDATE collections SET document_count = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_document_count');
SELECT pg_temp.rejects($$UPDATE collections SET chunk_count = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_chunk_count');
SELECT pg_temp.rejects($$UPDATE collections SET total_tokens = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_collections_total_tokens');
SELECT pg_temp.rejects($$UPDATE documents SET chunk_count = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_documents_chunk_count');
RESET session_replication_role;
-- chunks
SELECT pg_temp.rejects($$UPDATE chunks SET chunk_index = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_chunks_chunk_index');
SELECT pg_temp.rejects($$UPDATE chunks SET embedding_model = ' ' WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_chunks_embedding_model');
SELECT pg_temp.rejects($$UPDATE chunks SET token_count = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_chunks_token_count');
SELECT pg_temp.rejects($$UPDATE chunks SET start_char = -1 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_chunks_start_char');
SELECT pg_temp.rejects($$UPDATE chunks SET start_char = 10, end_char = 9 WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'chk_chunks_end_char', 'an end before the start');
-- (0021: the embedding is a vector, whose type refuses what chk_chunks_embedding did.)
SELECT throws_ok($$UPDATE chunks SET embedding = '{{0.1, 0.2}, {0.3, 0.4}}'::real[] WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'array must be 1-D', 'a two-dimensional array is no vector');
SELECT throws_ok($$UPDATE chunks SET embedding = '{0.1, NULL, 0.3, 0.4}'::real[] WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'$$, 'array must not contain nulls', 'an array with a NULL element is no vector');
-- rag_queries
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, query_embedding) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', '{{1}}')$$, 'chk_rag_queries_query_embedding', 'a two-dimensional array');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, query_embedding) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', '{}')$$, 'chk_rag_queries_query_embedding', 'an empty array');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, query_embedding) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', '{0.5, NULL}')$$, 'chk_rag_queries_query_embedding', 'a NULL element');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, top_k) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', 0)$$, 'chk_rag_queries_top_k');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, similarity_threshold) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', 1.01)$$, 'chk_rag_queries_similarity_threshold');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, result_count) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', -1)$$, 'chk_rag_queries_result_count');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, results) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', '[{"chunk_id": "c1", "score": 1.2}]')$$, 'chk_rag_queries_results', 'a score above 1');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, results) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', '[{"score": 0.5}]')$$, 'chk_rag_queries_results', 'a result without chunk_id');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, results) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', '{"chunk_id": "c1"}')$$, 'chk_rag_queries_results', 'an object instead of an array');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, latency_ms) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', -3)$$, 'chk_rag_queries_latency_ms');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, retrieval_strategy) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', 'bm25x')$$, 'chk_rag_queries_retrieval_strategy');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, filters) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', '[]')$$, 'chk_rag_queries_filters');
SELECT pg_temp.rejects($$INSERT INTO rag_queries (tenant_id, query_text, top_score) VALUES ('a0060000-0000-4000-8000-00000000000a', 'q', 'NaN')$$, 'chk_rag_queries_top_score', 'NaN');

SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'c'
                EXCEPT SELECT conname FROM covered_checks ORDER BY 1),
          '{}', 'every CHECK constraint of the module was tried above');

-- ------------------------------------------------------------------------------------
-- Embedding dimensions (tenant A, as the service)
-- ------------------------------------------------------------------------------------

SELECT abtest.become('a0060000-0000-4000-8000-00000000000a');
INSERT INTO collections (tenant_id, id, name, embedding_model, embedding_dimensions, chunk_size, chunk_overlap,
                         document_count, chunk_count, total_tokens)
VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000c0001', 'kb', 'tiny-embed', 4,
        200, 20, 7, 7, 7);
SELECT is((SELECT (document_count, chunk_count, total_tokens)::text FROM collections
            WHERE id = 'a0060000-0000-4000-8000-0000000c0001'),
          '(0,0,0)', 'a new collection''s counters start at 0 whatever the client sends');
INSERT INTO documents (tenant_id, id, collection_id, title, token_count, chunk_count)
VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000d0001',
        'a0060000-0000-4000-8000-0000000c0001', 'one', 100, 9),
       ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000d0002',
        'a0060000-0000-4000-8000-0000000c0001', 'two', 50, 9);

SELECT lives_ok($$INSERT INTO chunks (tenant_id, collection_id, document_id, chunk_index, content, embedding)
                  VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000c0001',
                          'a0060000-0000-4000-8000-0000000d0001', 0, 'alpha', '{1, 0, 0, 0}'::real[])$$,
                'an embedding of the collection''s dimension is accepted');
SELECT lives_ok($$INSERT INTO chunks (tenant_id, collection_id, document_id, chunk_index, content)
                  VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000c0001',
                          'a0060000-0000-4000-8000-0000000d0001', 1, 'beta')$$,
                'a chunk may wait for its embedding (NULL)');
SELECT throws_ok($$INSERT INTO chunks (tenant_id, collection_id, document_id, chunk_index, content, embedding)
                   VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000c0001',
                           'a0060000-0000-4000-8000-0000000d0001', 2, 'gamma', '[1, 0, 0]')$$,
                 '22023', 'field embedding has 3 dimensions, the collection expects 4',
                 'a shorter embedding is refused, naming both numbers');
SELECT throws_ok($$UPDATE chunks SET embedding = '{1, 2, 3, 4, 5}'::real[] WHERE chunk_index = 1
                     AND document_id = 'a0060000-0000-4000-8000-0000000d0001'$$,
                 '22023', 'field embedding has 5 dimensions, the collection expects 4',
                 'a longer embedding is refused on update');
SELECT throws_ok($$UPDATE chunks SET embedding = '{}'::real[] WHERE chunk_index = 1
                     AND document_id = 'a0060000-0000-4000-8000-0000000d0001'$$,
                 '22000', 'vector must have at least 1 dimension',
                 'an empty embedding is refused');
SELECT lives_ok($$UPDATE chunks SET embedding = '[0, 1, 0, 0]' WHERE chunk_index = 1
                    AND document_id = 'a0060000-0000-4000-8000-0000000d0001'$$,
                'a chunk is embedded later with the right dimension');
SELECT throws_ok($$UPDATE collections SET embedding_dimensions = 8 WHERE id = 'a0060000-0000-4000-8000-0000000c0001'$$,
                 '22023', 'collection has embedded chunks: embedding_dimensions cannot change from 4 to 8',
                 'the dimension of a collection with embedded chunks is fixed');
SELECT throws_ok($$UPDATE chunks SET document_id = 'a0060000-0000-4000-8000-0000000d0002'
                    WHERE document_id = 'a0060000-0000-4000-8000-0000000d0001' AND chunk_index = 0$$,
                 '22023', 'a chunk cannot move to another document or collection',
                 'a chunk stays in its document');
SELECT throws_ok($$INSERT INTO chunks (tenant_id, collection_id, document_id, chunk_index, content)
                   SELECT 'a0060000-0000-4000-8000-00000000000a', id, 'a0060000-0000-4000-8000-0000000d0001', 7, 'x'
                     FROM collections WHERE id <> 'a0060000-0000-4000-8000-0000000c0001' LIMIT 1$$,
                 '23503', NULL, 'a chunk''s collection is its document''s collection');
SELECT throws_ok($$INSERT INTO chunks (tenant_id, collection_id, document_id, chunk_index, content)
                   VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000c0001',
                           'a0060000-0000-4000-8000-0000000d0001', 0, 'again')$$,
                 '23505', NULL, 'a chunk_index is used once per document');

-- ------------------------------------------------------------------------------------
-- Counters (still as the service)
-- ------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.kb() RETURNS text LANGUAGE sql AS $$
    SELECT (document_count, chunk_count, total_tokens)::text FROM agentbase.collections
     WHERE id = 'a0060000-0000-4000-8000-0000000c0001'
$$;
CREATE FUNCTION pg_temp.doc_chunks(p_title text) RETURNS bigint LANGUAGE sql AS $$
    SELECT chunk_count FROM agentbase.documents
     WHERE collection_id = 'a0060000-0000-4000-8000-0000000c0001' AND title = p_title
$$;

SELECT is(pg_temp.kb(), '(2,2,150)', 'two documents, their two chunks and their tokens are counted');
SELECT is(pg_temp.doc_chunks('two'), 0::bigint, 'a new document has no chunks whatever the client sends');

INSERT INTO chunks (tenant_id, collection_id, document_id, chunk_index, content)
SELECT 'a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000c0001', d, i, 'bulk'
  FROM unnest(ARRAY['a0060000-0000-4000-8000-0000000d0001', 'a0060000-0000-4000-8000-0000000d0002']::uuid[]) d,
       generate_series(10, 12) i;
SELECT is(pg_temp.doc_chunks('one') || '/' || pg_temp.doc_chunks('two'), '5/3',
          'one statement inserting chunks into two documents counts each');
SELECT is(pg_temp.kb(), '(2,8,150)', 'and the collection counts them all');

DELETE FROM chunks WHERE document_id = 'a0060000-0000-4000-8000-0000000d0001' AND chunk_index IN (10, 11);
SELECT is(pg_temp.doc_chunks('one'), 3::bigint, 'deleting chunks lowers the document''s count');
SELECT is(pg_temp.kb(), '(2,6,150)', 'and the collection''s');

UPDATE documents SET deleted_at = now() WHERE id = 'a0060000-0000-4000-8000-0000000d0002';
SELECT is(pg_temp.kb(), '(1,3,100)', 'a soft-deleted document leaves the collection''s counts');
SELECT is(pg_temp.doc_chunks('two'), 3::bigint, 'but keeps its own chunk count');
INSERT INTO chunks (tenant_id, collection_id, document_id, chunk_index, content)
VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000c0001',
        'a0060000-0000-4000-8000-0000000d0002', 20, 'late');
SELECT is(pg_temp.doc_chunks('two') || ' ' || pg_temp.kb(), '4 (1,3,100)',
          'a chunk added to a soft-deleted document counts there only');
UPDATE documents SET deleted_at = NULL WHERE id = 'a0060000-0000-4000-8000-0000000d0002';
SELECT is(pg_temp.kb(), '(2,7,150)', 'restoring the document brings its counts back');

UPDATE documents SET token_count = 120 WHERE id = 'a0060000-0000-4000-8000-0000000d0001';
SELECT is(pg_temp.kb(), '(2,7,170)', 'a document''s token_count flows into total_tokens');

UPDATE collections SET document_count = 42, chunk_count = 42, total_tokens = 42
 WHERE id = 'a0060000-0000-4000-8000-0000000c0001';
UPDATE documents SET chunk_count = 42 WHERE id = 'a0060000-0000-4000-8000-0000000d0001';
SELECT is(pg_temp.kb() || ' ' || pg_temp.doc_chunks('one'), '(2,7,170) 3',
          'clients cannot overwrite the counters');

DELETE FROM documents WHERE id = 'a0060000-0000-4000-8000-0000000d0001';
SELECT is(pg_temp.kb(), '(1,4,50)', 'deleting a document removes it, its chunks and tokens from the counts');
SELECT is((SELECT count(*)::int FROM chunks WHERE document_id = 'a0060000-0000-4000-8000-0000000d0001'), 0,
          'deleting a document deletes its chunks');

-- An empty document may move to another collection; its counts move with it.
INSERT INTO collections (tenant_id, id, name, embedding_model, embedding_dimensions)
VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000c0002', 'kb2', 'tiny-embed', 4);
INSERT INTO documents (tenant_id, id, collection_id, title, token_count)
VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000d0003',
        'a0060000-0000-4000-8000-0000000c0001', 'three', 5);
UPDATE documents SET collection_id = 'a0060000-0000-4000-8000-0000000c0002'
 WHERE id = 'a0060000-0000-4000-8000-0000000d0003';
SELECT is(pg_temp.kb() || ' ' || (SELECT (document_count, chunk_count, total_tokens)::text FROM collections
                                   WHERE id = 'a0060000-0000-4000-8000-0000000c0002'),
          '(1,4,50) (1,0,5)', 'moving an empty document moves its counts');
SELECT throws_ok($$UPDATE documents SET collection_id = 'a0060000-0000-4000-8000-0000000c0002'
                    WHERE id = 'a0060000-0000-4000-8000-0000000d0002'$$,
                 '23503', NULL, 'a document with chunks cannot move to another collection');
SELECT lives_ok($$UPDATE collections SET embedding_dimensions = 8 WHERE id = 'a0060000-0000-4000-8000-0000000c0002'$$,
                'a collection without embedded chunks may change its dimension');

SELECT throws_ok($$INSERT INTO collections (tenant_id, name, embedding_model, embedding_dimensions)
                   VALUES ('a0060000-0000-4000-8000-00000000000a', 'kb', 'm', 4)$$,
                 '23505', NULL, 'two live collections of a tenant cannot share a name');

-- The service logs queries, and cannot change the log.
SELECT lives_ok($$INSERT INTO rag_queries (tenant_id, id, collection_id, query_text, top_k, result_count, results)
                  VALUES ('a0060000-0000-4000-8000-00000000000a', 'a0060000-0000-4000-8000-0000000e0001',
                          'a0060000-0000-4000-8000-0000000c0001', 'what is beta?', 2, 1,
                          '[{"chunk_id": "a0060000-0000-4000-8000-0000000d0001", "score": 0.5}]')$$,
                'the service logs a query');
SELECT throws_ok($$UPDATE rag_queries SET top_k = 3$$, '42501', NULL, 'the service cannot update the query log');
SELECT throws_ok($$DELETE FROM rag_queries$$, '42501', NULL, 'the service cannot delete from the query log');
SELECT is((SELECT tableoid::regclass::text FROM rag_queries WHERE id = 'a0060000-0000-4000-8000-0000000e0001'),
          'rag_queries_p' || to_char(now(), 'YYYYMM'), 'a query lands in its month''s partition');
SELECT is((SELECT count(*)::int FROM collections WHERE tenant_id <> 'a0060000-0000-4000-8000-00000000000a'), 0,
          'the service sees no collection of another tenant');
SELECT throws_ok($$INSERT INTO collections (tenant_id, name, embedding_model, embedding_dimensions)
                   VALUES ('b0060000-0000-4000-8000-00000000000b', 'intruder', 'm', 4)$$,
                 '42501', NULL, 'the service cannot create a collection in another tenant');
SELECT abtest.unbecome();

SELECT is(pg_temp.counter_drift(), '{}', 'every counter of the database equals a recount');

-- Deleting a collection deletes its documents and chunks and keeps its query log.
DELETE FROM collections WHERE id = 'a0060000-0000-4000-8000-0000000c0001';
SELECT is((SELECT count(*)::int FROM documents WHERE collection_id = 'a0060000-0000-4000-8000-0000000c0001')
          + (SELECT count(*)::int FROM chunks WHERE collection_id = 'a0060000-0000-4000-8000-0000000c0001'),
          0, 'deleting a collection deletes its documents and chunks');
SELECT is((SELECT collection_id FROM rag_queries WHERE id = 'a0060000-0000-4000-8000-0000000e0001'), NULL,
          'its queries stay in the log with collection_id NULL');
SELECT is((SELECT count(*)::int FROM audit_logs WHERE tenant_id = 'a0060000-0000-4000-8000-00000000000a'
              AND action = 'chunk.created' AND new_values ->> 'embedding' = '[redacted]'),
          2, 'chunk audit records keep a marker instead of the embedding');

SELECT * FROM finish();
ROLLBACK;
