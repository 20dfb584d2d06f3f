-- Knowledge (RAG): collections of documents, their chunks with embeddings, and the
-- append-only log of retrieval queries.
--
-- Counters. documents.chunk_count counts the document's chunks; collections.document_count,
-- chunk_count and total_tokens sum over the collection's documents that are not
-- soft-deleted (document_count, their chunk_count, their token_count). Statement-level
-- triggers keep them exact: chunks -> documents.chunk_count, documents -> collections.
-- A client cannot write the counters: on INSERT they start at 0, and a client UPDATE
-- keeps the old values (only the counter triggers, running nested, may change them).
--
-- Embeddings are real[] for now (a vector type comes with ext/ later); a trigger checks
-- that each has exactly the collection's embedding_dimensions.

-- ------------------------------------------------------------------------------------
-- Collections
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.collections (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    name text NOT NULL,
    description text,
    embedding_model text NOT NULL,
    embedding_dimensions integer NOT NULL,
    distance_metric text NOT NULL DEFAULT 'cosine',
    chunk_size integer NOT NULL DEFAULT 1000,
    chunk_overlap integer NOT NULL DEFAULT 200,
    chunking_config jsonb NOT NULL DEFAULT '{}',
    document_count bigint NOT NULL DEFAULT 0,
    chunk_count bigint NOT NULL DEFAULT 0,
    total_tokens bigint NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'active',
    is_public boolean NOT NULL DEFAULT false,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT collections_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_collections_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_collections_users FOREIGN KEY (tenant_id, created_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (created_by),
    CONSTRAINT chk_collections_name CHECK (btrim(name) <> ''),
    CONSTRAINT chk_collections_embedding_model CHECK (embedding_model <> ''),
    CONSTRAINT chk_collections_embedding_dimensions CHECK (embedding_dimensions > 0),
    CONSTRAINT chk_collections_distance_metric CHECK (distance_metric IN ('cosine', 'l2', 'inner_product')),
    CONSTRAINT chk_collections_chunk_size CHECK (chunk_size > 0),
    -- (An invalid chunk_size is left to chk_collections_chunk_size to report.)
    CONSTRAINT chk_collections_chunk_overlap CHECK (
        chunk_overlap >= 0 AND (chunk_overlap < chunk_size OR chunk_size <= 0)),
    -- chunk_size and chunk_overlap are columns: the JSON holds only the other settings.
    CONSTRAINT chk_collections_chunking_config CHECK (
        jsonb_typeof(chunking_config) = 'object'
        AND NOT chunking_config ?| ARRAY['chunk_size', 'chunk_overlap']),
    CONSTRAINT chk_collections_document_count CHECK (document_count >= 0),
    CONSTRAINT chk_collections_chunk_count CHECK (chunk_count >= 0),
    CONSTRAINT chk_collections_total_tokens CHECK (total_tokens >= 0),
    CONSTRAINT chk_collections_status CHECK (status IN ('active', 'indexing', 'archived', 'error'))
);
CREATE UNIQUE INDEX uq_collections_name ON agentbase.collections (tenant_id, name) WHERE deleted_at IS NULL;
CREATE INDEX idx_collections_created_by ON agentbase.collections (tenant_id, created_by);

COMMENT ON TABLE agentbase.collections IS 'knowledge bases: documents embedded with one model and dimension';
COMMENT ON COLUMN agentbase.collections.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.collections.id IS 'collection id (UUID v7)';
COMMENT ON COLUMN agentbase.collections.name IS 'name, unique in the tenant among collections not deleted';
COMMENT ON COLUMN agentbase.collections.description IS 'free-text description';
COMMENT ON COLUMN agentbase.collections.embedding_model IS 'embedding model used for chunks and queries';
COMMENT ON COLUMN agentbase.collections.embedding_dimensions IS 'length of every embedding (> 0; fixed once chunks are embedded)';
COMMENT ON COLUMN agentbase.collections.distance_metric IS 'cosine, l2 or inner_product';
COMMENT ON COLUMN agentbase.collections.chunk_size IS 'target chunk size (> 0)';
COMMENT ON COLUMN agentbase.collections.chunk_overlap IS 'overlap between consecutive chunks (>= 0 and < chunk_size)';
COMMENT ON COLUMN agentbase.collections.chunking_config IS 'other chunking settings (strategy, separators); not chunk_size/chunk_overlap';
COMMENT ON COLUMN agentbase.collections.document_count IS 'documents not deleted (trigger-maintained)';
COMMENT ON COLUMN agentbase.collections.chunk_count IS 'chunks of documents not deleted (trigger-maintained)';
COMMENT ON COLUMN agentbase.collections.total_tokens IS 'token_count summed over documents not deleted (trigger-maintained)';
COMMENT ON COLUMN agentbase.collections.status IS 'active, indexing, archived or error';
COMMENT ON COLUMN agentbase.collections.is_public IS 'true when every user of the tenant may query it, not only its creator';
COMMENT ON COLUMN agentbase.collections.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.collections.created_by IS 'user who created the collection (NULL when deleted)';
COMMENT ON COLUMN agentbase.collections.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.collections.updated_at IS 'last update time (trigger-maintained)';
COMMENT ON COLUMN agentbase.collections.deleted_at IS 'soft-delete time; NULL while live';

-- Counters start at 0 and only the counter triggers change them; the dimension of a
-- collection whose chunks carry embeddings cannot change.
CREATE FUNCTION agentbase.collections_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.document_count := 0;
        NEW.chunk_count := 0;
        NEW.total_tokens := 0;
        RETURN NEW;
    END IF;
    IF pg_trigger_depth() < 2 THEN
        NEW.document_count := OLD.document_count;
        NEW.chunk_count := OLD.chunk_count;
        NEW.total_tokens := OLD.total_tokens;
    END IF;
    IF NEW.embedding_dimensions <> OLD.embedding_dimensions
       AND EXISTS (SELECT 1 FROM agentbase.chunks c
                    WHERE c.tenant_id = NEW.tenant_id AND c.collection_id = NEW.id
                      AND c.embedding IS NOT NULL) THEN
        RAISE EXCEPTION 'collection has embedded chunks: embedding_dimensions cannot change from % to %',
                        OLD.embedding_dimensions, NEW.embedding_dimensions
              USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.collections_guard() IS
    'BEFORE trigger: protects the counters and the dimension of embedded collections';
CREATE TRIGGER trg_guard BEFORE INSERT OR UPDATE ON agentbase.collections
    FOR EACH ROW EXECUTE FUNCTION agentbase.collections_guard();

SELECT agentbase.enable_tenant_rls('agentbase.collections');
SELECT agentbase.attach_updated_at('agentbase.collections');
SELECT agentbase.attach_audit('agentbase.collections', 'collection');

-- ------------------------------------------------------------------------------------
-- Documents
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.documents (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    collection_id uuid NOT NULL,
    title text NOT NULL,
    source_type text NOT NULL DEFAULT 'upload',
    source_uri text,
    mime_type text,
    content_hash text,
    size_bytes bigint NOT NULL DEFAULT 0,
    processing_status text NOT NULL DEFAULT 'pending',
    processing_error text,
    chunk_count bigint NOT NULL DEFAULT 0,
    token_count bigint NOT NULL DEFAULT 0,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_by uuid,
    processed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT documents_pkey PRIMARY KEY (tenant_id, id),
    -- Lets chunks reference (collection, document) together, so that a chunk's
    -- collection is always its document's; also indexes the collection foreign key.
    CONSTRAINT uq_documents_collection_id_id UNIQUE (tenant_id, collection_id, id),
    CONSTRAINT fk_documents_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_documents_collections FOREIGN KEY (tenant_id, collection_id)
        REFERENCES agentbase.collections (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_documents_users FOREIGN KEY (tenant_id, created_by)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (created_by),
    CONSTRAINT chk_documents_title CHECK (btrim(title) <> ''),
    CONSTRAINT chk_documents_source_type CHECK (
        source_type IN ('upload', 'url', 'text', 'api', 'crawl', 'integration')),
    CONSTRAINT chk_documents_size_bytes CHECK (size_bytes >= 0),
    CONSTRAINT chk_documents_processing_status CHECK (
        processing_status IN ('pending', 'processing', 'completed', 'failed')),
    CONSTRAINT chk_documents_chunk_count CHECK (chunk_count >= 0),
    CONSTRAINT chk_documents_token_count CHECK (token_count >= 0)
);
CREATE INDEX idx_documents_created_by ON agentbase.documents (tenant_id, created_by);
CREATE INDEX idx_documents_content_hash ON agentbase.documents (tenant_id, collection_id, content_hash);
CREATE INDEX idx_documents_processing_status ON agentbase.documents (tenant_id, processing_status, created_at)
    WHERE processing_status IN ('pending', 'processing');

COMMENT ON TABLE agentbase.documents IS 'documents of a collection and their processing (chunking, embedding) state';
COMMENT ON COLUMN agentbase.documents.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.documents.id IS 'document id (UUID v7)';
COMMENT ON COLUMN agentbase.documents.collection_id IS 'collection the document belongs to';
COMMENT ON COLUMN agentbase.documents.title IS 'title or file name';
COMMENT ON COLUMN agentbase.documents.source_type IS 'upload, url, text, api, crawl or integration';
COMMENT ON COLUMN agentbase.documents.source_uri IS 'where the content came from (URL, path)';
COMMENT ON COLUMN agentbase.documents.mime_type IS 'MIME type of the content';
COMMENT ON COLUMN agentbase.documents.content_hash IS 'hash of the content (duplicate detection)';
COMMENT ON COLUMN agentbase.documents.size_bytes IS 'content size, bytes (>= 0)';
COMMENT ON COLUMN agentbase.documents.processing_status IS 'pending, processing, completed or failed';
COMMENT ON COLUMN agentbase.documents.processing_error IS 'error message when processing failed';
COMMENT ON COLUMN agentbase.documents.chunk_count IS 'chunks of the document (trigger-maintained)';
COMMENT ON COLUMN agentbase.documents.token_count IS 'tokens in the document (>= 0), set by processing';
COMMENT ON COLUMN agentbase.documents.metadata IS 'free-form metadata';
COMMENT ON COLUMN agentbase.documents.created_by IS 'user who added the document (NULL when deleted)';
COMMENT ON COLUMN agentbase.documents.processed_at IS 'when processing completed';
COMMENT ON COLUMN agentbase.documents.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.documents.updated_at IS 'last update time (trigger-maintained)';
COMMENT ON COLUMN agentbase.documents.deleted_at IS 'soft-delete time; NULL while live (not counted in its collection)';

CREATE FUNCTION agentbase.documents_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.chunk_count := 0;
    ELSIF pg_trigger_depth() < 2 THEN
        NEW.chunk_count := OLD.chunk_count;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.documents_guard() IS
    'BEFORE trigger: chunk_count starts at 0 and only the chunk triggers change it';
CREATE TRIGGER trg_guard BEFORE INSERT OR UPDATE ON agentbase.documents
    FOR EACH ROW EXECUTE FUNCTION agentbase.documents_guard();

-- Adds what the statement changed to each collection's counters: +1 document (and its
-- chunks and tokens) for every live row that appeared, -1 for every one that went
-- (deleted, soft-deleted, or moved to another collection). Collections are updated in
-- key order so that concurrent statements lock them in the same order.
CREATE FUNCTION agentbase.documents_maintain_counts() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_appeared constant text :=
        'SELECT tenant_id, collection_id, 1 AS docs, chunk_count AS chunks, token_count AS tokens '
        'FROM new_documents WHERE deleted_at IS NULL';
    v_went constant text :=
        'SELECT tenant_id, collection_id, -1 AS docs, -chunk_count AS chunks, -token_count AS tokens '
        'FROM old_documents WHERE deleted_at IS NULL';
    v_rows text;
    r record;
BEGIN
    v_rows := CASE TG_OP WHEN 'INSERT' THEN v_appeared
                         WHEN 'DELETE' THEN v_went
                         ELSE v_appeared || ' UNION ALL ' || v_went END;
    FOR r IN EXECUTE
        'SELECT tenant_id, collection_id, sum(docs) AS docs, sum(chunks) AS chunks, sum(tokens) AS tokens '
        'FROM (' || v_rows || ') d GROUP BY tenant_id, collection_id '
        'HAVING sum(docs) <> 0 OR sum(chunks) <> 0 OR sum(tokens) <> 0 '
        'ORDER BY tenant_id, collection_id'
    LOOP
        UPDATE agentbase.collections c
           SET document_count = c.document_count + r.docs,
               chunk_count = c.chunk_count + r.chunks,
               total_tokens = c.total_tokens + r.tokens
         WHERE c.tenant_id = r.tenant_id AND c.id = r.collection_id;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.documents_maintain_counts() IS
    'AFTER statement trigger: keeps collections.document_count, chunk_count and total_tokens exact';
CREATE TRIGGER trg_counts_insert AFTER INSERT ON agentbase.documents
    REFERENCING NEW TABLE AS new_documents
    FOR EACH STATEMENT EXECUTE FUNCTION agentbase.documents_maintain_counts();
CREATE TRIGGER trg_counts_update AFTER UPDATE ON agentbase.documents
    REFERENCING OLD TABLE AS old_documents NEW TABLE AS new_documents
    FOR EACH STATEMENT EXECUTE FUNCTION agentbase.documents_maintain_counts();
CREATE TRIGGER trg_counts_delete AFTER DELETE ON agentbase.documents
    REFERENCING OLD TABLE AS old_documents
    FOR EACH STATEMENT EXECUTE FUNCTION agentbase.documents_maintain_counts();

SELECT agentbase.enable_tenant_rls('agentbase.documents');
SELECT agentbase.attach_updated_at('agentbase.documents');
SELECT agentbase.attach_audit('agentbase.documents', 'document');

-- ------------------------------------------------------------------------------------
-- Chunks
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.chunks (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    collection_id uuid NOT NULL,
    document_id uuid NOT NULL,
    chunk_index integer NOT NULL,
    content text NOT NULL,
    token_count bigint NOT NULL DEFAULT 0,
    start_char integer,
    end_char integer,
    embedding real[],
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chunks_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_chunks_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_chunks_collections FOREIGN KEY (tenant_id, collection_id)
        REFERENCES agentbase.collections (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_chunks_documents FOREIGN KEY (tenant_id, collection_id, document_id)
        REFERENCES agentbase.documents (tenant_id, collection_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_chunks_document_id_chunk_index UNIQUE (tenant_id, document_id, chunk_index),
    CONSTRAINT chk_chunks_chunk_index CHECK (chunk_index >= 0),
    CONSTRAINT chk_chunks_token_count CHECK (token_count >= 0),
    CONSTRAINT chk_chunks_start_char CHECK (start_char >= 0),
    CONSTRAINT chk_chunks_end_char CHECK (end_char >= start_char),
    -- NULL (not embedded yet) or a one-dimensional array without NULL elements.
    CONSTRAINT chk_chunks_embedding CHECK (
        CASE WHEN embedding IS NULL THEN true
             WHEN array_ndims(embedding) = 1 THEN array_position(embedding, NULL) IS NULL
             ELSE false END)
);
CREATE INDEX idx_chunks_collection_id_document_id ON agentbase.chunks (tenant_id, collection_id, document_id);

COMMENT ON TABLE agentbase.chunks IS 'pieces of a document with their embedding, the unit of retrieval';
COMMENT ON COLUMN agentbase.chunks.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.chunks.id IS 'chunk id (UUID v7)';
COMMENT ON COLUMN agentbase.chunks.collection_id IS 'collection of the chunk (always its document''s collection)';
COMMENT ON COLUMN agentbase.chunks.document_id IS 'document the chunk was cut from';
COMMENT ON COLUMN agentbase.chunks.chunk_index IS 'position of the chunk in its document, from 0, unique per document';
COMMENT ON COLUMN agentbase.chunks.content IS 'text of the chunk';
COMMENT ON COLUMN agentbase.chunks.token_count IS 'tokens in the chunk (>= 0)';
COMMENT ON COLUMN agentbase.chunks.start_char IS 'offset of the first character in the document (>= 0)';
COMMENT ON COLUMN agentbase.chunks.end_char IS 'offset just past the last character (>= start_char)';
COMMENT ON COLUMN agentbase.chunks.embedding IS 'embedding vector, exactly the collection''s embedding_dimensions long; NULL until embedded';
COMMENT ON COLUMN agentbase.chunks.metadata IS 'free-form metadata (page, heading, ...)';
COMMENT ON COLUMN agentbase.chunks.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.chunks.updated_at IS 'last update time (trigger-maintained)';

-- A chunk stays in its document, and its embedding has the collection's dimension.
CREATE FUNCTION agentbase.chunks_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_expected integer;
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.tenant_id, NEW.collection_id, NEW.document_id)
                            IS DISTINCT FROM (OLD.tenant_id, OLD.collection_id, OLD.document_id) THEN
        RAISE EXCEPTION 'a chunk cannot move to another document or collection'
              USING ERRCODE = '22023';
    END IF;
    IF NEW.embedding IS NOT NULL THEN
        SELECT c.embedding_dimensions INTO v_expected
          FROM agentbase.collections c
         WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.collection_id;
        -- No collection visible: the foreign key (or RLS) rejects the row.
        IF FOUND AND cardinality(NEW.embedding) <> v_expected THEN
            RAISE EXCEPTION 'embedding has % dimensions, collection expects %',
                            cardinality(NEW.embedding), v_expected
                  USING ERRCODE = '22023';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.chunks_check() IS
    'BEFORE trigger: embedding length equals the collection''s embedding_dimensions; chunks do not move';
CREATE TRIGGER trg_check BEFORE INSERT OR UPDATE OF tenant_id, collection_id, document_id, embedding
    ON agentbase.chunks
    FOR EACH ROW EXECUTE FUNCTION agentbase.chunks_check();

-- Adds the statement's inserted (or subtracts its deleted) chunks to documents.chunk_count;
-- the documents triggers carry the change on to the collection. Documents are locked in
-- key order first so that concurrent statements cannot deadlock on them (FOR NO KEY
-- UPDATE, the lock the UPDATE takes anyway: it does not conflict with the KEY SHARE
-- locks that other inserts' foreign key checks hold on the same documents).
CREATE FUNCTION agentbase.chunks_maintain_counts() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_table constant text := CASE TG_OP WHEN 'INSERT' THEN 'new_chunks' ELSE 'old_chunks' END;
    v_sign constant integer := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    EXECUTE format(
        'SELECT 1 FROM agentbase.documents d '
        'WHERE (d.tenant_id, d.id) IN (SELECT tenant_id, document_id FROM %I) '
        'ORDER BY d.tenant_id, d.id FOR NO KEY UPDATE OF d', v_table);
    EXECUTE format(
        'UPDATE agentbase.documents d SET chunk_count = d.chunk_count + $1 * c.n '
        'FROM (SELECT tenant_id, document_id, count(*) AS n FROM %I GROUP BY tenant_id, document_id) c '
        'WHERE d.tenant_id = c.tenant_id AND d.id = c.document_id', v_table)
        USING v_sign;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.chunks_maintain_counts() IS
    'AFTER statement trigger: keeps documents.chunk_count exact';
CREATE TRIGGER trg_counts_insert AFTER INSERT ON agentbase.chunks
    REFERENCING NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION agentbase.chunks_maintain_counts();
CREATE TRIGGER trg_counts_delete AFTER DELETE ON agentbase.chunks
    REFERENCING OLD TABLE AS old_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION agentbase.chunks_maintain_counts();

SELECT agentbase.enable_tenant_rls('agentbase.chunks');
SELECT agentbase.attach_updated_at('agentbase.chunks');
-- The embedding is not secret, but it is large and derived: the audit keeps a marker.
SELECT agentbase.attach_audit('agentbase.chunks', 'chunk', 'tenant_id', ARRAY['embedding']);

-- ------------------------------------------------------------------------------------
-- Retrieval log
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.rag_queries (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT agentbase.uuid_v7(),
    collection_id uuid,
    user_id uuid,
    agent_id uuid,
    conversation_id uuid,
    query_text text NOT NULL,
    query_embedding real[],
    top_k integer NOT NULL DEFAULT 5,
    similarity_threshold numeric(5,4),
    result_count integer NOT NULL DEFAULT 0,
    results jsonb NOT NULL DEFAULT '[]',
    latency_ms integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rag_queries_pkey PRIMARY KEY (tenant_id, id, created_at),
    CONSTRAINT fk_rag_queries_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_rag_queries_collections FOREIGN KEY (tenant_id, collection_id)
        REFERENCES agentbase.collections (tenant_id, id) ON DELETE SET NULL (collection_id),
    CONSTRAINT fk_rag_queries_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (user_id),
    CONSTRAINT fk_rag_queries_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE SET NULL (agent_id),
    CONSTRAINT fk_rag_queries_conversations FOREIGN KEY (tenant_id, conversation_id)
        REFERENCES agentbase.conversations (tenant_id, id) ON DELETE SET NULL (conversation_id),
    CONSTRAINT chk_rag_queries_query_embedding CHECK (
        CASE WHEN query_embedding IS NULL THEN true
             WHEN array_ndims(query_embedding) = 1 THEN array_position(query_embedding, NULL) IS NULL
             ELSE false END),
    CONSTRAINT chk_rag_queries_top_k CHECK (top_k > 0),
    CONSTRAINT chk_rag_queries_similarity_threshold CHECK (similarity_threshold BETWEEN 0 AND 1),
    CONSTRAINT chk_rag_queries_result_count CHECK (result_count >= 0),
    -- [{"chunk_id": "...", "score": 0.87}, ...] with every score in 0..1
    CONSTRAINT chk_rag_queries_results CHECK (
        jsonb_typeof(results) = 'array'
        AND NOT jsonb_path_exists(results,
            '$[*] ? (!exists(@.chunk_id) || !exists(@.score) || @.score.type() != "number" || @.score < 0 || @.score > 1)')),
    CONSTRAINT chk_rag_queries_latency_ms CHECK (latency_ms >= 0)
) PARTITION BY RANGE (created_at);
CREATE INDEX idx_rag_queries_collection_id_created_at
    ON agentbase.rag_queries (tenant_id, collection_id, created_at DESC);
CREATE INDEX idx_rag_queries_user_id ON agentbase.rag_queries (tenant_id, user_id);
CREATE INDEX idx_rag_queries_agent_id ON agentbase.rag_queries (tenant_id, agent_id);
CREATE INDEX idx_rag_queries_conversation_id ON agentbase.rag_queries (tenant_id, conversation_id);

COMMENT ON TABLE agentbase.rag_queries IS 'append-only log of retrieval queries, partitioned by month';
COMMENT ON COLUMN agentbase.rag_queries.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.rag_queries.id IS 'query id (UUID v7)';
COMMENT ON COLUMN agentbase.rag_queries.collection_id IS 'collection searched (NULL when deleted)';
COMMENT ON COLUMN agentbase.rag_queries.user_id IS 'user who asked, if any (NULL when deleted)';
COMMENT ON COLUMN agentbase.rag_queries.agent_id IS 'agent that asked, if any (NULL when deleted)';
COMMENT ON COLUMN agentbase.rag_queries.conversation_id IS 'conversation the query served, if any (NULL when deleted)';
COMMENT ON COLUMN agentbase.rag_queries.query_text IS 'query as asked';
COMMENT ON COLUMN agentbase.rag_queries.query_embedding IS 'embedding of the query';
COMMENT ON COLUMN agentbase.rag_queries.top_k IS 'how many chunks were asked for (> 0)';
COMMENT ON COLUMN agentbase.rag_queries.similarity_threshold IS 'minimum similarity of a result, 0..1';
COMMENT ON COLUMN agentbase.rag_queries.result_count IS 'how many chunks were returned (>= 0)';
COMMENT ON COLUMN agentbase.rag_queries.results IS 'chunks returned: [{"chunk_id": ..., "score": 0..1}, ...]';
COMMENT ON COLUMN agentbase.rag_queries.latency_ms IS 'time to answer, milliseconds (>= 0)';
COMMENT ON COLUMN agentbase.rag_queries.created_at IS 'when the query ran (partition key)';

SELECT agentbase.enable_tenant_rls('agentbase.rag_queries');
SELECT agentbase.restrict_app_to_append('agentbase.rag_queries');
SELECT agentbase.ensure_monthly_partitions('agentbase.rag_queries');
