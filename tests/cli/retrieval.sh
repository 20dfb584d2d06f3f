# Retrieval through the HNSW indexes (0021): `agentbase maintain indexes` creates one per
# dimension and metric in use (CONCURRENTLY, once; none past 2,000 dimensions), the search
# statement uses it, and POST /v1/collections/{id}/search answers through it at recall@10
# of at least 0.9 against the exact ranking, also when a metadata filter keeps 1% of the
# collection's chunks (the iterative scan), while a collection of another tenant shares the
# index and never shows.
source "$(dirname "$0")/../lib.sh"
plan 9

ab_home
ab_pg_start
"$AB_BIN" migrate up >/dev/null
q <<'SQL'
SELECT setseed(0.21);
INSERT INTO agentbase.tenants (slug, name) VALUES ('ta', 'A'), ('tb', 'B');
INSERT INTO agentbase.collections (tenant_id, name, embedding_model, embedding_dimensions)
SELECT id, 'kb', 'm', 16 FROM agentbase.tenants;
INSERT INTO agentbase.collections (tenant_id, name, embedding_model, embedding_dimensions, distance_metric)
SELECT id, 'near', 'm', 16, 'l2' FROM agentbase.tenants WHERE slug = 'ta';
INSERT INTO agentbase.collections (tenant_id, name, embedding_model, embedding_dimensions)
SELECT id, 'wide', 'm', 3072 FROM agentbase.tenants WHERE slug = 'ta';
INSERT INTO agentbase.documents (tenant_id, collection_id, title)
SELECT tenant_id, id, 'doc' FROM agentbase.collections WHERE name = 'kb';
-- 6,000 chunks per tenant in 20 clusters; every 100th is tagged rare
INSERT INTO agentbase.chunks (tenant_id, collection_id, document_id, chunk_index, content, embedding, metadata)
SELECT d.tenant_id, d.collection_id, d.id, n, 'chunk ' || n,
       ARRAY(SELECT (n % 20) * 0.1 + random() - 0.5 FROM generate_series(1, 16))::real[],
       CASE WHEN n % 100 = 7 THEN '{"tag": "rare"}' ELSE '{}' END::jsonb
  FROM agentbase.documents d, generate_series(0, 5999) n;
CREATE TABLE public.queries AS
SELECT i AS qid, ARRAY(SELECT (i % 20) * 0.1 + random() - 0.5 FROM generate_series(1, 16) WHERE i > 0)::real[] AS v
  FROM generate_series(1, 20) i;
GRANT SELECT ON public.queries TO PUBLIC;
ANALYZE;
SQL

is "$("$AB_BIN" maintain indexes)" "indexes      2" "maintain indexes creates the two that 16 dimensions (cosine, l2) need"
is "$("$AB_BIN" maintain indexes)" "indexes      0" "and none the second time"
is "$(q -c "SELECT string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname)
              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = 'agentbase.chunks'::regclass AND c.relname LIKE 'idx_chunks_embedding%'")" \
    "idx_chunks_embedding_cosine_16:true,idx_chunks_embedding_l2_16:true" \
    "both valid; 3,072 dimensions (past the index's 2,000) get none and are searched exactly"

tenant_a=$(q -c "SELECT id FROM agentbase.tenants WHERE slug = 'ta'")
coll=$(q -c "SELECT id FROM agentbase.collections WHERE name = 'kb' AND tenant_id = '$tenant_a'")
plan_text=$(q <<SQL
SET search_path = agentbase, public;
DO \$\$ BEGIN
    EXECUTE format('PREPARE s(real[], uuid, uuid, uuid[], jsonb, integer, boolean, boolean, text, text, '
                   'double precision, integer) AS %s', agentbase.search_chunks_sql('cosine', 16));
END \$\$;
EXPLAIN (COSTS OFF) EXECUTE s('{1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}', '$tenant_a', '$coll', NULL, NULL, 10,
                              true, false, NULL, 'english', NULL, 10);
SQL
)
like "$plan_text" 'Index Scan using idx_chunks_embedding_cosine_16' "the search statement scans the HNSW index"

key=$("$AB_BIN" keys create --tenant ta --scopes rag-queries:write 2>/dev/null)
ab_serve "$AGENTBASE_HOME" AGENTBASE_RATE_LIMIT=0
trap 'set +e; kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; ab_cleanup' EXIT

search() { # body -> the answer
    curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$1" \
        "$url/v1/collections/$coll/search"
}
# recall@10 over the 20 queries, "hits total rows": the API's chunks against the exact
# ranking (no index), and how many rows the API gave
recall() { # filter JSON, SQL condition
    local hits=0 total=0 rows=0 qid v answer
    for qid in $(seq 1 20); do
        v=$(q -c "SELECT array_to_json(v) FROM public.queries WHERE qid = $qid")
        answer=$(search "{\"query_embedding\": $v, \"top_k\": 10, \"filter\": $1}")
        read -r h t r < <(q -c "SET enable_indexscan = off;
            WITH got AS (SELECT (x ->> 'chunk_id')::uuid AS id
                           FROM jsonb_array_elements(\$j\$$answer\$j\$::jsonb -> 'results') x),
                 want AS (SELECT k.id FROM agentbase.chunks k WHERE k.collection_id = '$coll' $2
                           ORDER BY k.embedding <=> (SELECT v FROM public.queries WHERE qid = $qid)::vector
                           LIMIT 10)
            SELECT (SELECT count(*) FROM got JOIN want USING (id)) || ' ' || (SELECT count(*) FROM want)
                   || ' ' || (SELECT count(*) FROM got)" | tail -1)
        hits=$((hits + h)) total=$((total + t)) rows=$((rows + r))
    done
    echo "$hits $total $rows"
}
read -r hits total rows < <(recall '{}' '')
is "$(q -c "SELECT $total = 200 AND $rows = 200 AND $hits >= 180")" t \
    "recall@10 through the API and the index: $hits of $total"
read -r hits total rows < <(recall '{"metadata": {"tag": "rare"}}' "AND k.metadata @> '{\"tag\": \"rare\"}'")
is "$(q -c "SELECT $total = 200 AND $rows = 200 AND $hits >= 180")" t \
    "with a filter keeping 1% of the chunks, still 10 rows each, recall@10 $hits of $total"
is "$(q -c "SELECT count(DISTINCT x ->> 'document_id') FROM jsonb_array_elements(
              \$j\$$(search '{"query_embedding": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "top_k": 100}')\$j\$::jsonb
              -> 'results') x")" 1 "tenant B's chunks in the same index never show"
is "$(q -c "SELECT count(*) FROM agentbase.rag_queries WHERE collection_id = '$coll'")" 41 \
    "every search is a rag query"
is "$(q -c "SELECT count(DISTINCT tenant_id) FROM agentbase.chunks")" 2 "(both tenants have chunks in the index)"

ab_done
