-- Back to 0020: search, its HNSW indexes and batch ingestion go, chunks.embedding is real[] again (its
-- values kept), the text search columns and the collections' configuration go. The vector
-- extension stays installed when it was pgvector (other databases' objects may use it);
-- agentbase's own goes with the column that needed it.

DROP FUNCTION agentbase.search_chunks(uuid, real[], text, integer, text, jsonb, double precision, uuid, uuid);
DROP FUNCTION agentbase.search_chunks_sql(text, integer);
DROP FUNCTION agentbase.add_chunks(uuid, jsonb);
-- the HNSW indexes, whichever dimensions and metrics they were made for
DO $$
DECLARE
    v_index regclass;
BEGIN
    FOR v_index IN SELECT indexrelid::regclass FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                    WHERE i.indrelid = 'agentbase.chunks'::regclass AND c.relname LIKE 'idx\_chunks\_embedding\_%' LOOP
        EXECUTE format('DROP INDEX %s', v_index);
    END LOOP;
END
$$;
DROP FUNCTION agentbase.chunk_index_statements(boolean);
DROP FUNCTION agentbase.chunk_batch_problem(jsonb, integer);

DROP TRIGGER trg_text_config_chunks ON agentbase.collections;
DROP TRIGGER trg_text_config ON agentbase.collections;
DROP FUNCTION agentbase.collections_text_config();

CREATE OR REPLACE FUNCTION agentbase.chunks_check() RETURNS trigger
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
ALTER FUNCTION agentbase.chunks_check() RESET search_path;
COMMENT ON FUNCTION agentbase.chunks_check() IS
    'BEFORE trigger: embedding length equals the collection''s embedding_dimensions; chunks do not move';

DROP TRIGGER trg_check ON agentbase.chunks;
DROP INDEX agentbase.idx_chunks_content_tsv;
ALTER TABLE agentbase.chunks DROP COLUMN content_tsv, DROP COLUMN text_config;
ALTER TABLE agentbase.chunks ALTER COLUMN embedding TYPE real[] USING embedding::real[];
ALTER TABLE agentbase.chunks ADD CONSTRAINT chk_chunks_embedding CHECK (
        CASE WHEN embedding IS NULL THEN true
             WHEN array_ndims(embedding) = 1 THEN array_position(embedding, NULL) IS NULL
             ELSE false END);
COMMENT ON COLUMN agentbase.chunks.embedding IS 'embedding vector, exactly the collection''s embedding_dimensions long; NULL until embedded';
CREATE TRIGGER trg_check BEFORE INSERT OR UPDATE OF tenant_id, collection_id, document_id, embedding
    ON agentbase.chunks
    FOR EACH ROW EXECUTE FUNCTION agentbase.chunks_check();

ALTER TABLE agentbase.collections DROP COLUMN text_search_config;
DROP FUNCTION agentbase.vector_schema();

RESET ROLE;
DROP EXTENSION IF EXISTS agentbase_vector;
SET LOCAL ROLE agentbase_owner;
