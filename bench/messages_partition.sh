#!/usr/bin/env bash
# Should messages be partitioned by month? Both layouts side by side, in one scratch cluster,
# with the same rows and the same statements:
#   flat         messages as 0003 has it: PRIMARY KEY (tenant_id, id) and
#                UNIQUE (tenant_id, conversation_id, sequence_number)
#   partitioned  RANGE (created_at) by month: the primary key must take created_at, and the
#                (conversation, sequence) index can no longer be UNIQUE (a unique index of a
#                partitioned table must contain the partition key)
# and pgbench timing, in each layout, the two statements the service runs on its hot path:
#   append       INSERT of one message into a random conversation
#   newest 50    the newest 50 messages of a random conversation (the conversation view)
# Prints load time, size, transactions per second and partitioned/flat ratios.
#   bench/messages_partition.sh [ROWS]   (default 1,000,000; docs/schema/strategy.md has 10M)
#   BENCH_SECONDS (10 per run), BENCH_CLIENTS (4), BENCH_ROUNDS (3: the layouts take turns,
#   flat then partitioned, round after round, and each figure is the median of its rounds,
#   so that a burst of other work on a shared machine does not decide the ratio)
# Conversations hold 100 messages each, written within a few hours of each other, spread over
# the 12 months before now, as a year of traffic would leave them.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${AB_BIN:?run through make bench, or set AB_BIN to the agentbase binary}"
source tests/lib.sh
rows=${1:-1000000}
secs=${BENCH_SECONDS:-10}
clients=${BENCH_CLIENTS:-4}
rounds=${BENCH_ROUNDS:-3}
convs=$((rows / 100))
[ "$convs" -ge 1 ] || { echo "messages_partition.sh: ROWS must be at least 100" >&2; exit 2; }

ab_home
ab_pg_start
tenant=00000000-0000-4000-8000-000000000001

# One table definition for both layouts; the partitioned one gets 13 monthly partitions
# (the year of data and the current month, which the appends go to).
columns="tenant_id uuid NOT NULL, id uuid NOT NULL, conversation_id uuid NOT NULL,
         sequence_number bigint NOT NULL, role text NOT NULL, content text NOT NULL,
         token_count bigint NOT NULL DEFAULT 0, metadata jsonb NOT NULL DEFAULT '{}',
         created_at timestamptz NOT NULL DEFAULT now()"
q <<SQL
CREATE TABLE flat ($columns);
CREATE TABLE part ($columns) PARTITION BY RANGE (created_at);
DO \$\$
DECLARE m date := date_trunc('month', now() - interval '12 months');
BEGIN
    FOR i IN 0..13 LOOP
        EXECUTE format('CREATE TABLE part_%s PARTITION OF part FOR VALUES FROM (%L) TO (%L)',
                       to_char(m + make_interval(months => i), 'YYYYMM'),
                       m + make_interval(months => i), m + make_interval(months => i + 1));
    END LOOP;
END \$\$;
CREATE SEQUENCE next_sequence START 1000000;
SQL

# The rows: message g is number g / convs + 1 of conversation g % convs; a conversation
# starts at its place in the year and takes a message a minute. Ids are time-ordered like
# uuid_v7 (48 bits of milliseconds, then 80 bits of hash).
load() { # table -> seconds
    local t0 t1
    t0=$(date +%s.%N)
    q <<SQL
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
INSERT INTO $1
SELECT '$tenant', (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0')
                   || substr(md5(g::text), 1, 20))::uuid,
       ('00000000-0000-4000-8000-' || lpad(to_hex(g % $convs), 12, '0'))::uuid,
       g / $convs + 1, CASE WHEN g % 2 = 0 THEN 'user' ELSE 'assistant' END,
       'message ' || g || ' of a conversation about something', 20, '{}', ts
FROM (SELECT g, now() - interval '365 days'
                + (g % $convs) * (interval '360 days' / $convs)
                + (g / $convs) * interval '1 minute' AS ts
      FROM generate_series(0, $rows - 1) g) s;
SQL
    if [ "$1" = flat ]; then
        q -c "ALTER TABLE flat ADD PRIMARY KEY (tenant_id, id);
              ALTER TABLE flat ADD UNIQUE (tenant_id, conversation_id, sequence_number)"
    else
        q -c "ALTER TABLE part ADD PRIMARY KEY (tenant_id, id, created_at);
              CREATE INDEX ON part (tenant_id, conversation_id, sequence_number)"
    fi
    q -c "VACUUM ANALYZE $1"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}
load_flat=$(load flat)
load_part=$(load part)

for t in flat part; do
    cat >"$AGENTBASE_HOME/append_$t.sql" <<SQL
\\set c random(0, $((convs - 1)))
INSERT INTO $t (tenant_id, id, conversation_id, sequence_number, role, content, token_count)
VALUES ('$tenant', gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(to_hex(:c::bigint), 12, '0'))::uuid,
        nextval('next_sequence'), 'user', 'a new message in the benchmark', 7);
SQL
    cat >"$AGENTBASE_HOME/newest_$t.sql" <<SQL
\\set c random(0, $((convs - 1)))
SELECT jsonb_agg(to_jsonb(m) ORDER BY m.sequence_number DESC) FROM (
  SELECT * FROM $t WHERE tenant_id = '$tenant'
     AND conversation_id = ('00000000-0000-4000-8000-' || lpad(to_hex(:c::bigint), 12, '0'))::uuid
   ORDER BY sequence_number DESC LIMIT 50) m;
SQL
done
pgbench_run() { # script -> tps
    pgbench -n -M prepared -c "$clients" -j 2 -T "$secs" -f "$AGENTBASE_HOME/$1.sql" \
        >"$AGENTBASE_HOME/pgbench.$1" 2>&1 || { cat "$AGENTBASE_HOME/pgbench.$1" >&2; exit 1; }
    awk '/^tps/ { print $3; exit }' "$AGENTBASE_HOME/pgbench.$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { tr ' ' '\n' <<<"$*" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
size() { q -c "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c
               WHERE c.relkind = 'r' AND (c.relname = '$1' OR c.relname LIKE '$1\\_%')"; }

printf '%-40s %14s %14s %7s\n' "messages: $rows rows, $clients clients, ${rounds}x${secs}s" flat \
    partitioned "ratio"
printf '%-40s %14s %14s %7s\n' "load + index, seconds" "$load_flat" "$load_part" \
    "$(ratio "$load_part" "$load_flat")"
printf '%-40s %14s %14s\n' "size with indexes" "$(size flat)" "$(size part)"
for s in newest append; do
    fl="" pa=""
    for _ in $(seq "$rounds"); do
        fl="$fl $(pgbench_run "${s}_flat")"
        pa="$pa $(pgbench_run "${s}_part")"
    done
    a=$(median $fl)
    b=$(median $pa)
    label="append one message, tps"
    [ "$s" = newest ] && label="newest 50 of a conversation, tps"
    printf '%-40s %14.0f %14.0f %7s\n' "$label" "$a" "$b" "$(ratio "$b" "$a")"
done
plan=$(q -c "EXPLAIN (COSTS OFF) SELECT * FROM part WHERE tenant_id = '$tenant'
               AND conversation_id = '00000000-0000-4000-8000-000000000001'
             ORDER BY sequence_number DESC LIMIT 50" | grep -c 'Index Scan' || true)
echo "partitions the newest-50 read probes (no created_at in the query): $plan"
