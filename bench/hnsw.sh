#!/usr/bin/env bash
# The hnsw index of agentbase_vector against the exact answer (a sequential scan), in one
# scratch cluster: N vectors of D dimensions in 100 Gaussian-like clusters, generated
# deterministically (setseed), and 200 queries from the same clusters. Prints the build
# time, then for each ef_search: recall@10 and queries per second of
#   (a) ORDER BY v <=> $q LIMIT 10 on the index,
#   (b) the same with a WHERE that keeps 1% of the rows (the iterative scan), rows drawn
#       from every cluster (f = (i / 100) % 100; the cluster is i * 7 % 100),
# beside the exact scan's queries per second. Not run by the tests (by name only:
# BENCH=hnsw make bench); hnswlib and the HTTP search endpoint are not in it yet.
#   bench/hnsw.sh [N] [D]   (default 100,000 x 128); BENCH_M (16), BENCH_EFC (64)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${AB_BIN:?run through make bench, or set AB_BIN to the agentbase binary}"
source tests/lib.sh
n=${1:-100000}
d=${2:-128}
m=${BENCH_M:-16}
efc=${BENCH_EFC:-64}
nq=200

ab_home
ab_pg_start
q -c "CREATE EXTENSION agentbase_vector"
q <<SQL
SET maintenance_work_mem = '256MB';
SELECT setseed(0.2026);
CREATE TABLE centers AS SELECT c, (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, $d) WHERE c >= 0) AS x
  FROM generate_series(0, 99) c;
-- a point: its cluster's centre plus noise (the sum of three uniforms, close to a Gaussian)
CREATE TABLE items (id integer PRIMARY KEY, f integer NOT NULL, v vector($d));
INSERT INTO items SELECT i, (i / 100) % 100, (SELECT array_agg(x[j] + (random() + random() + random() - 1.5) * 0.4 ORDER BY j)::real[]
                                       FROM centers, generate_series(1, $d) j WHERE c = (i * 7) % 100)
  FROM generate_series(1, $n) i;
CREATE TABLE queries AS SELECT i AS qid, (SELECT array_agg(x[j] + (random() + random() + random() - 1.5) * 0.4 ORDER BY j)::real[]
                                            FROM centers, generate_series(1, $d) j WHERE c = (i * 13) % 100)::vector($d) AS v
  FROM generate_series(1, $nq) i;
ANALYZE items;
SQL
start=$(date +%s.%N)
q -c "SET maintenance_work_mem = '256MB'" \
  -c "CREATE INDEX items_v ON items USING hnsw (v vector_cosine_ops) WITH (m = $m, ef_construction = $efc)"
build=$(echo "$(date +%s.%N) - $start" | bc)
printf 'hnsw build: %d x %d, m %d, ef_construction %d: %.1f s, %s\n' "$n" "$d" "$m" "$efc" "$build" \
    "$(q -c "SELECT pg_size_pretty(pg_relation_size('items_v'))")"

# knn FILTERED: every query's 10 nearest, into a table; prints the seconds it took
knn() {
    local table=$1 where=$2 idx=$3 ef=$4
    q -c "SET enable_indexscan = $idx" -c "SET enable_seqscan = $([ "$idx" = on ] && echo off || echo on)" \
      -c "SET hnsw.ef_search = $ef" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS $table" -c "\\timing on" \
      -c "CREATE TABLE $table AS SELECT q.qid, a.id FROM queries q, LATERAL (SELECT i.id FROM items i
            WHERE $where ORDER BY i.v <=> q.v LIMIT 10) a" | awk '/^Time:/ {print $2 / 1000}'
}
recall() { q -c "SELECT round(count(a.id)::numeric / count(*), 4) FROM $1 e LEFT JOIN $2 a USING (qid, id)"; }

t=$(knn exact true off 40)
tf=$(knn exactf "i.f = 7" off 40)
printf 'exact scan: %.1f queries/s; with the 1%% filter: %.1f queries/s\n' \
    "$(echo "$nq / $t" | bc -l)" "$(echo "$nq / $tf" | bc -l)"
printf '%9s  %10s  %9s  %13s  %12s\n' ef_search recall@10 queries/s "filtered rec." "filtered q/s"
for ef in 10 20 40 80 160 320; do
    t=$(knn approx true on "$ef")
    tf=$(knn approxf "i.f = 7" on "$ef")
    printf '%9d  %10s  %9.1f  %13s  %12.1f\n' "$ef" "$(recall exact approx)" "$(echo "$nq / $t" | bc -l)" \
        "$(recall exactf approxf)" "$(echo "$nq / $tf" | bc -l)"
done
