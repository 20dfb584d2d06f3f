# The hnsw index of agentbase_vector as a real index: the update from 0.1.0; built under a 1 MB maintenance_work_mem
# with its progress in pg_stat_progress_create_index; searched through 2 MB of shared
# buffers; 8 sessions inserting while others
# search; DELETE and VACUUM; CREATE INDEX CONCURRENTLY beside inserts; and the postmaster
# killed with SIGKILL during inserts, the index answering for every committed row after the
# restart (crash recovery replays its generic WAL records).
source "$(dirname "$0")/../lib.sh"
plan 30

ab_home
ab_pg_start
# ---- the extension: 0.1.0 updated to 0.2.0, and 0.2.0 installed fresh -------------------------
q -c "CREATE EXTENSION agentbase_vector VERSION '0.1.0'"
is "$(q -c "SELECT count(*) FROM pg_am WHERE amname = 'hnsw'")" 0 "0.1.0 has no hnsw"
q -c "ALTER EXTENSION agentbase_vector UPDATE"
is "$(q -c "SELECT extversion || ' ' || string_agg(opcname, ',' ORDER BY opcname) FROM pg_extension,
             pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE extname = 'agentbase_vector' AND amname = 'hnsw'
             GROUP BY extversion")" "0.2.0 vector_cosine_ops,vector_ip_ops,vector_l2_ops" \
    "ALTER EXTENSION ... UPDATE gives 0.2.0 with hnsw and its operator classes"
q -c "CREATE DATABASE fresh"
q -d fresh -c "CREATE EXTENSION agentbase_vector"
is "$(q -d fresh -c "SELECT extversion FROM pg_extension WHERE extname = 'agentbase_vector'")
$(q -d fresh -c "SELECT count(*) FROM pg_am WHERE amname = 'hnsw'")
$(q -d fresh -c "SELECT count(*) FROM pg_proc WHERE proname = 'hnsw_index_check'")" "0.2.0
1
1" "CREATE EXTENSION installs 0.2.0, with hnsw and hnsw_index_check"
# vec(seed expression): a random vector(16) per row
q <<'SQL'
CREATE FUNCTION rv(seed integer) RETURNS vector LANGUAGE sql AS
  $$SELECT (SELECT array_agg(random() - 0.5) FROM generate_series(1, 16) WHERE seed IS NOT NULL)::real[]::vector(16)$$;
SELECT setseed(0.3);
CREATE TABLE items (id integer PRIMARY KEY, v vector(16) NOT NULL);
INSERT INTO items SELECT i, rv(i) FROM generate_series(1, 15000) i;
CREATE TABLE queries AS SELECT i AS qid, rv(i) AS v FROM generate_series(1, 30) i;
-- recall@10 of the index against the sequential scan, over the 30 queries (vectors are
-- distinct: each session's random() has its own seed)
CREATE FUNCTION knn(idx boolean) RETURNS TABLE (qid integer, id integer) LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM set_config('enable_indexscan', idx::text, true);
    PERFORM set_config('enable_seqscan', (NOT idx)::text, true);
    RETURN QUERY SELECT q.qid, a.id FROM queries q, LATERAL (SELECT i.id FROM items i ORDER BY i.v <-> q.v LIMIT 10) a;
END $f$;
CREATE FUNCTION recall() RETURNS double precision LANGUAGE sql AS $f$
    SELECT count(a.id)::double precision / count(*) FROM knn(false) e LEFT JOIN knn(true) a USING (qid, id)
$f$;
-- how many rows of items with id in [lo, hi] are not their own nearest neighbour by the index
CREATE FUNCTION lost(lo integer, hi integer) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    SET LOCAL enable_seqscan = off;
    SET LOCAL hnsw.ef_search = 100;
    SELECT count(*) INTO n FROM items s WHERE s.id BETWEEN lo AND hi
       AND (SELECT t.id FROM items t ORDER BY t.v <-> s.v LIMIT 1) IS DISTINCT FROM s.id;
    RETURN n;
END $f$;
SQL

# ---- the build: 1 MB of maintenance_work_mem, progress reported ------------------------------
psql -X -q -c "SET maintenance_work_mem = '1MB'" \
    -c "CREATE INDEX items_v ON items USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)" &
build=$!
seen=
for _ in $(seq 200); do
    seen=$(q -c "SELECT phase || ' ' || (tuples_done > 0)::text FROM pg_stat_progress_create_index
                  WHERE phase LIKE 'building index:%' AND tuples_done > 0 LIMIT 1")
    [ -n "$seen" ] && break
    sleep 0.05
done
wait $build
ok $? "CREATE INDEX completes with maintenance_work_mem = 1MB"
is "$seen" "building index: loading tuples true" "pg_stat_progress_create_index shows the build and its tuples"
r=$(q -c "SELECT recall()")
diag "recall@10 after the build: $r (15,000 x 16, m 8, ef_construction 32, ef_search 40)"
is "$(q -c "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries LIMIT 1) LIMIT 10" | grep -c 'Index Scan using items_v')" 1 \
    "the recall is measured through the index"
is "$(q -c "SELECT $r >= 0.9")" t "and answers at recall@10 >= 0.9"

# ---- the index larger than shared buffers ----------------------------------------------------
# A search pins each block in the buffer it was last found in (ReadRecentBuffer), else
# reads it: with 256 buffers for an index and a table of about 600 blocks, most of those
# buffers hold other blocks by the next search, which must answer the same.
q -c "CREATE TABLE answers AS SELECT * FROM knn(true)"
q -c "ALTER SYSTEM SET shared_buffers = '2MB'"
"$AB_BIN" pg stop >/dev/null && "$AB_BIN" pg start >/dev/null
is "$(q -c "SELECT count(*) FROM knn(true)" -c "SELECT count(*) FROM knn(true)" \
        -c "SELECT count(*) FROM (SELECT * FROM knn(true) EXCEPT SELECT * FROM answers) d")
$(q -c "SELECT idx_blks_read > 2 * pg_relation_size('items_v') / 8192 FROM pg_statio_user_indexes
         WHERE indexrelname = 'items_v'")" "300
300
0
t" "with 2 MB of shared buffers, blocks read again and again, searches answer as before"
diag "$(q -c "SELECT 'index blocks: ' || pg_relation_size('items_v') / 8192 || ', read into buffers: ' || idx_blks_read
               FROM pg_statio_user_indexes WHERE indexrelname = 'items_v'")"
q -c "ALTER SYSTEM RESET shared_buffers"
"$AB_BIN" pg stop >/dev/null && "$AB_BIN" pg start >/dev/null

# ---- 8 sessions insert while 2 search --------------------------------------------------------
for s in 0 1 2 3 4 5 6 7; do
    q -c "DO \$\$BEGIN FOR i IN 1..150 LOOP INSERT INTO items VALUES (100000 + $s * 1000 + i, rv(i)); COMMIT; END LOOP; END\$\$" &
done
for s in 1 2; do
    q -c "SET enable_seqscan = off" \
      -c "DO \$\$DECLARE x integer; qv vector; BEGIN FOR i IN 1..150 LOOP qv := rv(i);
            SELECT count(*) INTO x FROM (SELECT id FROM items ORDER BY v <-> qv LIMIT 10) t;
            IF x <> 10 THEN RAISE 'a search found % rows', x; END IF; END LOOP; END\$\$" >/dev/null &
done
wait
is "$(q -c "SELECT count(*) FROM items WHERE id > 100000")" 1200 "8 sessions inserted 1,200 rows"
# (the search is approximate: an element may lose its last incoming link, hence 1%)
is "$(q -c "SELECT lost(100000, 200000) <= 12")" t "each of them is found through the index as its own nearest neighbour"
is "$(q -c "SELECT lost(1, 1000) <= 10")" t "and so are the rows of the build"
# A whole-index scan (a constant query: the planner takes the index only for one) returns
# every row the graph reaches; HNSW's pruning can leave an element no list links to (about
# 1 in 5,000 here, at m = 8), hence 99.9%.
whole="SET enable_seqscan = off; SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items
       ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 100000) t"
is "$(q -c "$whole" | tail -n 1 | awk -F'|' -v n="$(q -c "SELECT count(*) FROM items")" '{print ($1 == $2 && $1 >= n * 0.999) ? "t" : $0 " of " n}')" t \
    "a scan of the whole index returns 99.9% of the rows, each once"

# ---- DELETE half, VACUUM ---------------------------------------------------------------------
q -c "DELETE FROM items WHERE id % 2 = 0"
q -c "VACUUM items"
live=$(q -c "SELECT count(*) FROM items")
is "$(q -c "SELECT reltuples::bigint FROM pg_class WHERE relname = 'items_v'")" "$live" \
    "VACUUM counts the live rows only in the index"
is "$(q -c "SELECT hnsw_index_check('items_v')")" "$live" \
    "hnsw_index_check finds the graph consistent, with as many elements not deleted"
is "$(q -c "$whole" | tail -n 1 | awk -F'|' -v n="$live" '{print ($1 == $2 && $1 >= n * 0.999 && $1 <= n) ? "t" : $0 " of " n}')" t \
    "after VACUUM, a whole-index scan returns 99.9% of the live rows, each once, no deleted one"
# the deleted rows' tids are reused by new rows: the index must not answer them for the old vectors
q -c "INSERT INTO items SELECT 300000 + i, rv(i) FROM generate_series(1, 2000) i"
is "$(q -c "SELECT lost(300001, 302000) <= 20")" t "new rows in the freed space are found"
r=$(q -c "SELECT recall()")
diag "recall@10 after deleting half and VACUUM: $r"
is "$(q -c "SELECT $r >= 0.9")" t "recall@10 >= 0.9 over the rows that are left"

# ---- unreachable elements linked again by VACUUM --------------------------------------------
# At m = 2 (4 links on layer 0), shrinking full lists leaves many elements that no list
# links to: a whole-index scan misses them until VACUUM walks the graph and links them.
q <<'SQL'
CREATE TABLE sparse (id integer PRIMARY KEY, v vector(16) NOT NULL);
INSERT INTO sparse SELECT i, rv(i) FROM generate_series(1, 3000) i;
CREATE INDEX sparse_v ON sparse USING hnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 8);
SQL
sparse="SET enable_seqscan = off; SELECT count(DISTINCT id) FROM (SELECT id FROM sparse
        ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 100000) t"
before=$(q -c "$sparse" | tail -n 1)
diag "m = 2: a whole-index scan reaches $before of the 3,000 rows before VACUUM"
ok "$([ "$before" -lt 3000 ]; echo $?)" "at m = 2 some elements are unreachable after the build"
# (PostgreSQL 15 gives index cleanup's messages the level DEBUG2)
vacuum() { PGOPTIONS="-c client_min_messages=debug2" q -c "VACUUM sparse" 2>&1; }
first=$(vacuum | grep 'linked again')
like "$first" 'index "sparse_v": [0-9]+ elements no search reached were linked again' \
    "VACUUM says it linked elements again"
first=$(echo "$first" | grep -oE '[0-9]+ elements no' | cut -d' ' -f1)
# (the walk starts at the entry point, a scan where the descent ends, and relinking can
# still leave a few for the next VACUUM: in about 1 run in 12 a row or two stay out of a
# scan's reach)
after=$(q -c "$sparse" | tail -n 1)
diag "after VACUUM: $after"
ok "$([ "$after" -ge 2985 ]; echo $?)" "and then a whole-index scan returns at least 99.5% of the rows"
again=$(vacuum | grep -oE '[0-9]+ elements no' | cut -d' ' -f1)
diag "VACUUM linked $first elements again, a second one ${again:-0}"
ok "$([ "${again:-0}" -le $((${first:-0} / 20)) ]; echo $?)" \
    "a second VACUUM finds at most a twentieth as many left"
is "$(q -c "SELECT hnsw_index_check('sparse_v')")" 3000 "hnsw_index_check finds the graph consistent"

# ---- CREATE INDEX CONCURRENTLY beside inserts -------------------------------------------------
q -c "DO \$\$BEGIN FOR i IN 1..300 LOOP INSERT INTO items VALUES (400000 + i, rv(i)); COMMIT; END LOOP; END\$\$" &
ins=$!
q -c "CREATE INDEX CONCURRENTLY items_v2 ON items USING hnsw (v vector_l2_ops)"
ok $? "CREATE INDEX CONCURRENTLY completes beside inserts"
wait $ins
q -c "DROP INDEX items_v"
is "$(q -c "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_v2'::regclass")" t "and the index is valid"
is "$(q -c "SELECT lost(400001, 400300) + lost(1, 2000) <= 13")" t "it finds the rows inserted during the build and before"

# ---- SIGKILL of the postmaster during inserts ---------------------------------------------------
for s in 1 2 3 4; do
    (for b in $(seq 1 1000); do
        id=$((500000 + s * 10000 + b))
        q -c "INSERT INTO items VALUES ($id, rv($id))" 2>/dev/null || exit 0
        echo "$id" >>"$AGENTBASE_HOME/acked.$s"
    done) &
done
sleep 3
pid=$(head -n 1 "$AGENTBASE_HOME/pg/data/postmaster.pid")
kill -KILL "$pid"
wait
for _ in $(seq 50); do
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    [ -z "$st" ] || [ "$st" = Z ] && break
    sleep 0.1
done
"$AB_BIN" pg start >/dev/null
n=$(cat "$AGENTBASE_HOME"/acked.* 2>/dev/null | grep -c .)
diag "$n inserts were acknowledged before the SIGKILL"
[ "$n" -gt 20 ]
ok $? "the sessions inserted rows before the SIGKILL"
ids=$(cat "$AGENTBASE_HOME"/acked.* | paste -sd,)
is "$(q -c "SET enable_seqscan = off; SELECT count(*) >= $n * 0.99 FROM (SELECT id FROM items
             ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 100000) t WHERE id IN ($ids)")" t \
    "after crash recovery a whole-index scan returns the acknowledged rows (99%)"
is "$(q -c "SET enable_seqscan = off; SELECT count(*) >= $n * 99 / 100 FROM items s WHERE s.id IN ($ids) AND
             (SELECT t.id FROM items t ORDER BY t.v <-> s.v LIMIT 1) = s.id")" t \
    "and finds 99% of them as their own nearest neighbour"
is "$(q -c "SELECT hnsw_index_check('items_v2') >= count(*) FROM items")" t \
    "hnsw_index_check finds the graph consistent after the crash (aborted rows' elements beside the rest)"
r=$(q -c "SELECT recall()")
diag "recall@10 after the crash: $r"
is "$(q -c "SELECT $r >= 0.9")" t "and the index answers at recall@10 >= 0.9"

ab_done
