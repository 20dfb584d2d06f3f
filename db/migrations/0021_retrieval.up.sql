-- Retrieval (issue 13): chunks.embedding becomes a vector, chunks get a full-text column,
-- and search_chunks() answers a collection's search (vector, text, or both fused) while
-- recording its rag_queries row; add_chunks() takes a batch of up to 1,000 chunks.
--
-- The vector type. pgvector where the server offers it (`vector` in
-- pg_available_extensions: every managed PostgreSQL), else agentbase's own extension with
-- the same SQL surface (ext/agentbase_vector: the embedded cluster, CI). An extension
-- already installed is used where it is. Either way it lives in one schema (public when
-- this migration installs it), and the functions below that use its operators name that
-- schema in their search_path, set at the end of this file from pg_extension. Installing
-- an extension is the connecting user's to do (a superuser on the embedded cluster, the
-- provider's admin on a managed server), not agentbase_owner's: the migration steps out of
-- the owner role for it and back.
--
-- Scores. Every answer carries the distance in the collection's metric and a score in
-- 0..1, higher is better, so that min_score and rag_queries.results (0..1, 0006) mean one
-- thing for every metric: cosine 1 - distance / 2; l2 1 / (1 + distance); inner product
-- (1 + inner product) / 2, clamped to 0..1 (for normalized embeddings it is cosine's).
-- Text: ts_rank_cd normalized to rank / (rank + 1). Hybrid: reciprocal rank fusion, the sum
-- of 1 / (60 + rank) over the two rankings, divided by its best value 2 / 61, so that a
-- chunk first in both has score 1.
--
-- Full text. collections.text_search_config names the PostgreSQL text search
-- configuration (default english, checked against pg_ts_config); each chunk carries it as
-- a regconfig (copied by its trigger, and again when the collection's changes), so that
-- content_tsv can be a stored generated column with a GIN index.
--
-- A soft-deleted document keeps its chunks (0006: restoring it brings them back, counts
-- and all) but a search never returns them; deleting a document for good deletes them
-- (the foreign key's cascade).

RESET ROLE;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname IN ('vector', 'agentbase_vector')) THEN
        RETURN;
    ELSIF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION vector SCHEMA public;
    ELSE
        CREATE EXTENSION agentbase_vector SCHEMA public;
    END IF;
END
$$;
SET LOCAL ROLE agentbase_owner;

-- The schema of the vector type, whichever extension provides it.
CREATE FUNCTION agentbase.vector_schema() RETURNS name
LANGUAGE sql STABLE AS $$
    SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname IN ('vector', 'agentbase_vector')
$$;
COMMENT ON FUNCTION agentbase.vector_schema() IS
    'schema of the vector type (pgvector''s or agentbase_vector''s extension)';

-- ------------------------------------------------------------------------------------
-- Chunks: embedding as vector, the text search column
-- ------------------------------------------------------------------------------------

ALTER TABLE agentbase.collections
    ADD COLUMN text_search_config text NOT NULL DEFAULT 'english';
COMMENT ON COLUMN agentbase.collections.text_search_config IS
    'text search configuration of its chunks'' content (a pg_ts_config name: english, simple, german, ...)';

DROP TRIGGER trg_check ON agentbase.chunks;
ALTER TABLE agentbase.chunks DROP CONSTRAINT chk_chunks_embedding;
DO $$
BEGIN
    EXECUTE format('ALTER TABLE agentbase.chunks ALTER COLUMN embedding TYPE %I.vector '
                   'USING embedding::%I.vector', agentbase.vector_schema(), agentbase.vector_schema());
END
$$;
ALTER TABLE agentbase.chunks
    ADD COLUMN text_config regconfig NOT NULL DEFAULT 'english',
    ADD COLUMN content_tsv tsvector GENERATED ALWAYS AS (to_tsvector(text_config, content)) STORED;
UPDATE agentbase.chunks k SET text_config = c.text_search_config::regconfig
  FROM agentbase.collections c
 WHERE c.tenant_id = k.tenant_id AND c.id = k.collection_id AND c.text_search_config <> 'english';
COMMENT ON COLUMN agentbase.chunks.embedding IS
    'embedding vector (type vector), exactly the collection''s embedding_dimensions long; NULL until embedded';
COMMENT ON COLUMN agentbase.chunks.text_config IS
    'the collection''s text search configuration (copied by trigger)';
COMMENT ON COLUMN agentbase.chunks.content_tsv IS 'content as a tsvector in text_config (generated)';
CREATE INDEX idx_chunks_content_tsv ON agentbase.chunks USING gin (content_tsv);

-- A chunk stays in its document, its embedding has the collection's dimension, and its
-- text configuration is the collection's.
CREATE OR REPLACE FUNCTION agentbase.chunks_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_expected integer;
    v_config text;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.tenant_id, NEW.collection_id, NEW.document_id)
                            IS DISTINCT FROM (OLD.tenant_id, OLD.collection_id, OLD.document_id) THEN
        RAISE EXCEPTION 'a chunk cannot move to another document or collection'
              USING ERRCODE = '22023';
    END IF;
    SELECT c.embedding_dimensions, c.text_search_config INTO v_expected, v_config
      FROM agentbase.collections c
     WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.collection_id;
    -- No collection visible: the foreign key (or RLS) rejects the row.
    IF FOUND THEN
        NEW.text_config := v_config::regconfig;
        IF NEW.embedding IS NOT NULL AND vector_dims(NEW.embedding) <> v_expected THEN
            RAISE EXCEPTION 'field embedding has % dimensions, the collection expects %',
                            vector_dims(NEW.embedding), v_expected
                  USING ERRCODE = '22023';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.chunks_check() IS
    'BEFORE trigger: embedding length equals the collection''s embedding_dimensions, text_config is the collection''s; chunks do not move';
CREATE TRIGGER trg_check BEFORE INSERT OR UPDATE OF tenant_id, collection_id, document_id, embedding, text_config
    ON agentbase.chunks
    FOR EACH ROW EXECUTE FUNCTION agentbase.chunks_check();

-- A collection's text search configuration exists; a change re-tokenizes its chunks.
CREATE FUNCTION agentbase.collections_text_config() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_WHEN = 'AFTER' THEN
        -- after the row changed, so that the chunks' trigger reads the new configuration
        UPDATE agentbase.chunks SET text_config = NEW.text_search_config::regconfig
         WHERE tenant_id = NEW.tenant_id AND collection_id = NEW.id;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.text_search_config IS DISTINCT FROM OLD.text_search_config THEN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_ts_config WHERE cfgname = NEW.text_search_config) THEN
            RAISE EXCEPTION 'field text_search_config: % is not a text search configuration (see pg_ts_config: english, simple, ...)',
                            NEW.text_search_config
                  USING ERRCODE = '22023';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.collections_text_config() IS
    'BEFORE trigger: text_search_config names a configuration; AFTER: a change is carried to the chunks';
CREATE TRIGGER trg_text_config BEFORE INSERT OR UPDATE OF text_search_config ON agentbase.collections
    FOR EACH ROW EXECUTE FUNCTION agentbase.collections_text_config();
CREATE TRIGGER trg_text_config_chunks AFTER UPDATE OF text_search_config ON agentbase.collections
    FOR EACH ROW WHEN (NEW.text_search_config IS DISTINCT FROM OLD.text_search_config)
    EXECUTE FUNCTION agentbase.collections_text_config();

-- ------------------------------------------------------------------------------------
-- add_chunks(): a batch of chunks in one statement
-- ------------------------------------------------------------------------------------

-- The first problem of a batch of chunks for a collection of p_dims dimensions, or NULL:
-- "field chunks[i] ..." (i from 0), so that a bad element is named before anything is
-- written.
CREATE FUNCTION agentbase.chunk_batch_problem(p_chunks jsonb, p_dims integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(p_chunks) IS DISTINCT FROM 'array' THEN 'field chunks must be an array'
        WHEN jsonb_array_length(p_chunks) NOT BETWEEN 1 AND 1000 THEN
            format('field chunks must hold 1 to 1000 chunks (%s given)', jsonb_array_length(p_chunks))
        ELSE (
            SELECT format('field chunks[%s] %s', i - 1, problem)
              FROM jsonb_array_elements(p_chunks) WITH ORDINALITY AS e(c, i),
                   LATERAL (SELECT CASE WHEN jsonb_typeof(c) = 'object' THEN (
                                SELECT min(k) FROM jsonb_object_keys(c) k
                                 WHERE k NOT IN ('chunk_index', 'content', 'token_count', 'start_char',
                                                 'end_char', 'embedding', 'embedding_model', 'metadata'))
                            END AS unknown) u,
                   LATERAL (SELECT CASE
                       WHEN jsonb_typeof(c) <> 'object' THEN 'must be an object'
                       WHEN u.unknown IS NOT NULL THEN format('has an unknown member %s', u.unknown)
                       WHEN jsonb_typeof(c -> 'chunk_index') IS DISTINCT FROM 'number' THEN
                           'needs chunk_index, an integer from 0'
                       WHEN jsonb_typeof(c -> 'content') IS DISTINCT FROM 'string' THEN
                           'needs content, a string'
                       WHEN c ? 'embedding' AND jsonb_typeof(c -> 'embedding') <> 'null' AND (
                                jsonb_typeof(c -> 'embedding') <> 'array'
                                OR EXISTS (SELECT 1 FROM jsonb_array_elements(c -> 'embedding') x
                                            WHERE jsonb_typeof(x) <> 'number')) THEN
                           'has an embedding that is not an array of numbers'
                       WHEN jsonb_typeof(c -> 'embedding') = 'array'
                            AND jsonb_array_length(c -> 'embedding') <> p_dims THEN
                           format('has an embedding of %s dimensions; the collection expects %s',
                                  jsonb_array_length(c -> 'embedding'), p_dims)
                       WHEN c ? 'metadata' AND jsonb_typeof(c -> 'metadata') <> 'object' THEN
                           'has metadata that is not an object'
                       END AS problem) p
             WHERE problem IS NOT NULL
             ORDER BY i LIMIT 1)
        END
$$;
COMMENT ON FUNCTION agentbase.chunk_batch_problem(jsonb, integer) IS
    'the first problem of a batch of chunks (field chunks[i] ...), or NULL';

-- Adds a batch of chunks to a document in one statement; the counters follow (0006's
-- statement triggers) and the document is marked completed (indexed). Answers the count
-- added and the document's and the collection's counts after it.
CREATE FUNCTION agentbase.add_chunks(p_document_id uuid, p_chunks jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_doc agentbase.documents;
    v_dims integer;
    v_problem text;
    v_added bigint;
    v_collection_chunks bigint;
BEGIN
    SELECT * INTO v_doc FROM agentbase.documents
     WHERE id = p_document_id AND deleted_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % not found', p_document_id USING ERRCODE = 'AB404';
    END IF;
    SELECT embedding_dimensions INTO v_dims FROM agentbase.collections
     WHERE tenant_id = v_doc.tenant_id AND id = v_doc.collection_id;
    v_problem := agentbase.chunk_batch_problem(p_chunks, v_dims);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION '%', v_problem USING ERRCODE = '22023';
    END IF;
    INSERT INTO agentbase.chunks (tenant_id, collection_id, document_id, chunk_index, content,
                                  token_count, start_char, end_char, embedding, embedding_model, metadata)
    SELECT v_doc.tenant_id, v_doc.collection_id, v_doc.id, r.chunk_index, r.content,
           coalesce(r.token_count, 0), r.start_char, r.end_char,
           CASE WHEN jsonb_typeof(e.c -> 'embedding') = 'array'
                THEN ARRAY(SELECT x::real FROM jsonb_array_elements_text(e.c -> 'embedding') x) END,
           r.embedding_model, coalesce(r.metadata, '{}')
      FROM jsonb_array_elements(p_chunks) AS e(c),
           LATERAL jsonb_to_record(e.c) AS r(chunk_index integer, content text, token_count bigint,
                                             start_char integer, end_char integer,
                                             embedding_model text, metadata jsonb);
    GET DIAGNOSTICS v_added = ROW_COUNT;
    UPDATE agentbase.documents SET processing_status = 'completed', processed_at = now()
     WHERE tenant_id = v_doc.tenant_id AND id = v_doc.id
    RETURNING chunk_count INTO v_doc.chunk_count;
    SELECT chunk_count INTO v_collection_chunks FROM agentbase.collections
     WHERE tenant_id = v_doc.tenant_id AND id = v_doc.collection_id;
    RETURN jsonb_build_object('document_id', v_doc.id, 'collection_id', v_doc.collection_id,
                              'added', v_added, 'document_chunk_count', v_doc.chunk_count,
                              'collection_chunk_count', v_collection_chunks,
                              'processing_status', 'completed');
END
$$;
COMMENT ON FUNCTION agentbase.add_chunks(uuid, jsonb) IS
    'adds up to 1000 chunks to a document in one statement and marks it completed';

-- ------------------------------------------------------------------------------------
-- search_chunks()
-- ------------------------------------------------------------------------------------

-- Searches one collection the caller can see and records the rag_queries row, in the
-- caller's transaction and under its row-level security (SECURITY INVOKER).
--   p_strategy: vector, text or hybrid; NULL: hybrid when both a query embedding and a
--     query text are given, else the one given.
--   p_filter: {"document_ids": [uuid, ...], "metadata": {...}} (containment), both optional.
--   p_min_score: drop results scored below it (0..1, see the top of this file).
-- Answers {query_id, strategy, results: [{chunk_id, document_id, chunk_index, content,
-- metadata, score, distance, vector_rank, text_rank, rank}], top_score, latency_ms}.
CREATE FUNCTION agentbase.search_chunks(
    p_collection_id uuid, p_query_embedding real[] DEFAULT NULL, p_query_text text DEFAULT NULL,
    p_top_k integer DEFAULT 10, p_strategy text DEFAULT NULL, p_filter jsonb DEFAULT '{}',
    p_min_score double precision DEFAULT NULL, p_agent_id uuid DEFAULT NULL,
    p_conversation_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_start timestamptz := clock_timestamp();
    v_coll agentbase.collections;
    v_strategy text;
    v_filter jsonb := coalesce(p_filter, '{}');
    v_docs uuid[];
    v_op text;
    v_score text;
    v_depth integer;
    v_results jsonb;
    v_top double precision;
    v_id uuid;
    v_latency integer;
BEGIN
    SELECT * INTO v_coll FROM agentbase.collections WHERE id = p_collection_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'collection % not found', p_collection_id USING ERRCODE = 'AB404';
    END IF;
    v_strategy := coalesce(p_strategy, CASE WHEN p_query_embedding IS NOT NULL AND p_query_text IS NOT NULL THEN 'hybrid'
                                            WHEN p_query_text IS NOT NULL THEN 'text' ELSE 'vector' END);
    IF v_strategy NOT IN ('vector', 'text', 'hybrid') THEN
        RAISE EXCEPTION 'field strategy must be vector, text or hybrid' USING ERRCODE = '22023';
    END IF;
    IF v_strategy IN ('vector', 'hybrid') AND p_query_embedding IS NULL THEN
        RAISE EXCEPTION 'field query_embedding is required for the % strategy', v_strategy USING ERRCODE = '22023';
    END IF;
    IF v_strategy IN ('text', 'hybrid') AND coalesce(btrim(p_query_text), '') = '' THEN
        RAISE EXCEPTION 'field query_text is required for the % strategy', v_strategy USING ERRCODE = '22023';
    END IF;
    IF p_query_embedding IS NOT NULL AND coalesce(cardinality(p_query_embedding), 0) <> v_coll.embedding_dimensions THEN
        RAISE EXCEPTION 'field query_embedding has % dimensions, the collection expects %',
                        coalesce(cardinality(p_query_embedding), 0), v_coll.embedding_dimensions
              USING ERRCODE = '22023';
    END IF;
    IF p_top_k IS NULL OR p_top_k NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'field top_k must be from 1 to 100' USING ERRCODE = '22023';
    END IF;
    IF p_min_score IS NOT NULL AND p_min_score NOT BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'field min_score must be from 0 to 1' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(v_filter) <> 'object'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(v_filter) k WHERE k NOT IN ('document_ids', 'metadata')) THEN
        RAISE EXCEPTION 'field filter must be an object with document_ids and/or metadata' USING ERRCODE = '22023';
    END IF;
    IF v_filter ? 'metadata' AND jsonb_typeof(v_filter -> 'metadata') <> 'object' THEN
        RAISE EXCEPTION 'field filter: metadata must be an object' USING ERRCODE = '22023';
    END IF;
    IF v_filter ? 'document_ids' THEN
        IF jsonb_typeof(v_filter -> 'document_ids') <> 'array' OR EXISTS (
               SELECT 1 FROM jsonb_array_elements(v_filter -> 'document_ids') x
                WHERE jsonb_typeof(x) <> 'string'
                   OR x #>> '{}' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') THEN
            RAISE EXCEPTION 'field filter: document_ids must be an array of document ids' USING ERRCODE = '22023';
        END IF;
        v_docs := ARRAY(SELECT (x #>> '{}')::uuid FROM jsonb_array_elements(v_filter -> 'document_ids') x);
        SELECT u INTO v_id FROM unnest(v_docs) u
         WHERE NOT EXISTS (SELECT 1 FROM agentbase.documents d
                            WHERE d.tenant_id = v_coll.tenant_id AND d.collection_id = v_coll.id
                              AND d.id = u AND d.deleted_at IS NULL)
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'document % not found in collection %', v_id, v_coll.id USING ERRCODE = 'AB404';
        END IF;
    END IF;

    v_op := CASE v_coll.distance_metric WHEN 'l2' THEN '<->' WHEN 'inner_product' THEN '<#>' ELSE '<=>' END;
    v_score := CASE v_coll.distance_metric
        WHEN 'l2' THEN '1 / (1 + d)'
        WHEN 'inner_product' THEN 'greatest(0, least(1, (1 - d) / 2))'
        ELSE 'greatest(0, least(1, 1 - d / 2))' END;
    -- Each ranking hands hybrid fusion more than top_k candidates.
    v_depth := CASE WHEN v_strategy = 'hybrid' THEN greatest(4 * p_top_k, 40) ELSE p_top_k END;

    EXECUTE format($q$
        WITH vec AS (
            SELECT k.id, d, row_number() OVER (ORDER BY d, k.id) AS r
              FROM (SELECT k.id, k.embedding %1$s $1::vector AS d
                      FROM agentbase.chunks k
                     WHERE $7 AND k.tenant_id = $2 AND k.collection_id = $3 AND k.embedding IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM agentbase.documents d WHERE d.tenant_id = $2
                                          AND d.id = k.document_id AND d.deleted_at IS NOT NULL)
                       AND ($4::uuid[] IS NULL OR k.document_id = ANY ($4))
                       AND ($5::jsonb IS NULL OR k.metadata @> $5)
                     ORDER BY k.embedding %1$s $1::vector LIMIT $6) k
        ), txt AS (
            SELECT k.id, s, row_number() OVER (ORDER BY s DESC, k.id) AS r
              FROM (SELECT k.id, ts_rank_cd(k.content_tsv, q, 32) AS s
                      FROM agentbase.chunks k, websearch_to_tsquery($10::regconfig, $9) q
                     WHERE $8 AND k.tenant_id = $2 AND k.collection_id = $3 AND k.content_tsv @@ q
                       AND NOT EXISTS (SELECT 1 FROM agentbase.documents d WHERE d.tenant_id = $2
                                          AND d.id = k.document_id AND d.deleted_at IS NOT NULL)
                       AND ($4::uuid[] IS NULL OR k.document_id = ANY ($4))
                       AND ($5::jsonb IS NULL OR k.metadata @> $5)
                     ORDER BY s DESC LIMIT $6) k
        ), fused AS (
            SELECT coalesce(v.id, t.id) AS id, v.d AS distance, v.r AS vector_rank, t.r AS text_rank,
                   CASE WHEN NOT $7 THEN t.s
                        WHEN NOT $8 THEN (SELECT %2$s FROM (SELECT v.d AS d) x)
                        ELSE (coalesce(1.0 / (60 + v.r), 0) + coalesce(1.0 / (60 + t.r), 0)) / (2.0 / 61)
                   END::double precision AS score
              FROM vec v FULL JOIN txt t ON t.id = v.id
        ), ranked AS (
            SELECT f.*, row_number() OVER (ORDER BY f.score DESC, f.id) AS rank FROM fused f
             WHERE $11::double precision IS NULL OR f.score >= $11
             ORDER BY f.score DESC, f.id LIMIT $12
        )
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'chunk_id', k.id, 'document_id', k.document_id, 'chunk_index', k.chunk_index,
                   'content', k.content, 'metadata', k.metadata, 'score', r.score,
                   'distance', r.distance, 'vector_rank', r.vector_rank, 'text_rank', r.text_rank,
                   'rank', r.rank) ORDER BY r.rank), '[]'),
               max(r.score)
          FROM ranked r JOIN agentbase.chunks k ON k.tenant_id = $2 AND k.id = r.id
    $q$, v_op, v_score)
    INTO v_results, v_top
    USING CASE WHEN v_strategy IN ('vector', 'hybrid') THEN p_query_embedding END,
          v_coll.tenant_id, v_coll.id, v_docs, v_filter -> 'metadata', v_depth,
          v_strategy IN ('vector', 'hybrid'), v_strategy IN ('text', 'hybrid'), p_query_text,
          v_coll.text_search_config, p_min_score, p_top_k;

    v_latency := greatest(0, (extract(epoch FROM clock_timestamp() - v_start) * 1000)::integer);
    INSERT INTO agentbase.rag_queries (tenant_id, collection_id, user_id, agent_id, conversation_id,
                                       query_text, query_embedding, top_k, similarity_threshold,
                                       retrieval_strategy, filters, result_count, results, top_score,
                                       latency_ms)
    VALUES (v_coll.tenant_id, v_coll.id, agentbase.current_user_id(), p_agent_id, p_conversation_id,
            coalesce(p_query_text, ''), p_query_embedding, p_top_k, p_min_score,
            CASE v_strategy WHEN 'vector' THEN 'similarity' WHEN 'text' THEN 'keyword' ELSE 'hybrid' END,
            v_filter, jsonb_array_length(v_results),
            (SELECT coalesce(jsonb_agg(jsonb_build_object('chunk_id', x -> 'chunk_id', 'score', x -> 'score')
                                       ORDER BY (x ->> 'rank')::integer), '[]')
               FROM jsonb_array_elements(v_results) x),
            v_top, v_latency)
    RETURNING id INTO v_id;
    RETURN jsonb_build_object('query_id', v_id, 'collection_id', v_coll.id, 'strategy', v_strategy,
                              'results', v_results, 'top_score', v_top, 'latency_ms', v_latency);
END
$$;
COMMENT ON FUNCTION agentbase.search_chunks(uuid, real[], text, integer, text, jsonb, double precision, uuid, uuid) IS
    'searches a collection (vector, text or hybrid by reciprocal rank fusion) and records the rag_queries row';

-- The functions that use the vector operators find them in the extension's schema.
DO $$
DECLARE
    v_path text := format('agentbase, %I, pg_temp', agentbase.vector_schema());
BEGIN
    EXECUTE format('ALTER FUNCTION agentbase.chunks_check() SET search_path = %s', v_path);
    EXECUTE format('ALTER FUNCTION agentbase.add_chunks(uuid, jsonb) SET search_path = %s', v_path);
    EXECUTE format('ALTER FUNCTION agentbase.search_chunks(uuid, real[], text, integer, text, jsonb, '
                   'double precision, uuid, uuid) SET search_path = %s', v_path);
END
$$;

REVOKE ALL ON FUNCTION agentbase.vector_schema(), agentbase.collections_text_config(),
                       agentbase.chunk_batch_problem(jsonb, integer),
                       agentbase.add_chunks(uuid, jsonb),
                       agentbase.search_chunks(uuid, real[], text, integer, text, jsonb, double precision, uuid, uuid)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.chunk_batch_problem(jsonb, integer) TO agentbase_app;

GRANT EXECUTE ON FUNCTION agentbase.add_chunks(uuid, jsonb) TO agentbase_app;
GRANT EXECUTE ON FUNCTION agentbase.search_chunks(uuid, real[], text, integer, text, jsonb,
                                                  double precision, uuid, uuid) TO agentbase_app;
