#!/usr/bin/env bash
# The message hot path beside PostgreSQL doing the same work, in one run on one machine:
#   POST /v1/conversations/{id}/messages   vs   pgbench running the statements the server
#   GET  .../messages?order=desc&limit=50        runs for that request (auth lookup, request
#                                                context, the INSERT or the page query)
# Prints requests per second for both, their ratio, and wrk's p50/p99. Timing is noisy on
# a shared machine: read the ratio, not the absolute numbers.
#   BENCH_SECONDS (10), BENCH_CLIENTS (16), BENCH_WORKERS (server threads, 4)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${AB_BIN:?run through make bench}"
source tests/lib.sh
secs=${BENCH_SECONDS:-10}
clients=${BENCH_CLIENTS:-16}
workers=${BENCH_WORKERS:-4}
conversations=64

ab_home
ab_pg_start
"$AB_BIN" migrate up >/dev/null
q -c "INSERT INTO agentbase.tenants (slug, name) VALUES ('bench', 'Bench')"
tenant=$(q -c "SELECT id FROM agentbase.tenants WHERE slug = 'bench'")
key=$("$AB_BIN" keys create --tenant bench --scopes admin 2>/dev/null)
key_id=$(q -c "SELECT id FROM agentbase.api_keys WHERE tenant_id = '$tenant'")
hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
q -c "CREATE TABLE public.bench_ids (n int PRIMARY KEY, id uuid NOT NULL);
      GRANT SELECT ON public.bench_ids TO agentbase_app;
      WITH c AS (INSERT INTO agentbase.conversations (tenant_id, title)
                 SELECT '$tenant', 'bench ' || g FROM generate_series(1, $conversations) g
                 RETURNING id)
      INSERT INTO public.bench_ids SELECT row_number() OVER (ORDER BY id), id FROM c"
q -c "SELECT id FROM public.bench_ids ORDER BY n" >"$AGENTBASE_HOME/ids"

ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=$workers AGENTBASE_RATE_LIMIT=0 AGENTBASE_LOG=text
trap 'set +e; kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; ab_cleanup' EXIT

# The statements the server runs per request, as the same role (pgbench connects as the
# superuser and becomes agentbase_app at connection start, like the server's pool).
context="SELECT * FROM agentbase.auth_lookup_key('$hash');
BEGIN;
SET LOCAL statement_timeout = '30s';
SELECT agentbase.set_request_context('$tenant'::uuid, 'api_key', '$key_id', '127.0.0.1', 'bench', 'bench', false);
\\set i random(1, $conversations)"
cat >"$AGENTBASE_HOME/post.sql" <<SQL
$context
INSERT INTO agentbase.messages AS t (tenant_id, conversation_id, role, content, token_count) SELECT agentbase.current_tenant_id(), (SELECT id FROM public.bench_ids WHERE n = :i), r.role, r.content, r.token_count FROM jsonb_populate_record(NULL::agentbase.messages, '{"role": "user", "content": "hello from the benchmark", "token_count": 5}'::jsonb) r WHERE EXISTS (SELECT 1 FROM agentbase.conversations p WHERE p.id = (SELECT id FROM public.bench_ids WHERE n = :i) AND p.deleted_at IS NULL) RETURNING (to_jsonb(t) - '{}'::text[])::text;
COMMIT;
SQL
cat >"$AGENTBASE_HOME/get.sql" <<SQL
$context
WITH page AS (SELECT t.sequence_number AS k, to_jsonb(t) - '{}'::text[] AS doc FROM agentbase.messages t WHERE (NULL::bigint IS NULL OR t.sequence_number < NULL::bigint) AND t.conversation_id = (SELECT id FROM public.bench_ids WHERE n = :i) ORDER BY t.sequence_number DESC LIMIT 50 + 1), numbered AS (SELECT k, doc, row_number() OVER (ORDER BY k DESC) AS n FROM page) SELECT CASE WHEN EXISTS (SELECT 1 FROM agentbase.conversations p WHERE p.id = (SELECT id FROM public.bench_ids WHERE n = :i) AND p.deleted_at IS NULL) THEN jsonb_build_object('data', coalesce((SELECT jsonb_agg(doc ORDER BY n) FROM numbered WHERE n <= 50), '[]'), 'has_more', (SELECT count(*) FROM numbered) > 50, 'next_cursor', (SELECT k::text FROM numbered WHERE n = 50 AND (SELECT count(*) FROM numbered) > 50))::text END;
COMMIT;
SQL

wrk_run() { # mode -> "rps p50 p99 errors"
    BENCH_IDS="$AGENTBASE_HOME/ids" BENCH_KEY="$key" BENCH_MODE=$1 \
        wrk -t 2 -c "$clients" -d "${secs}s" --latency -s bench/wrk_messages.lua \
        "http://127.0.0.1:$port" >"$AGENTBASE_HOME/wrk.$1" 2>&1
    awk '/Requests\/sec/ { rps = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
         /Non-2xx/ { err = $NF } END { printf "%s %s %s %s", rps, p50, p99, err + 0 }' \
        "$AGENTBASE_HOME/wrk.$1"
}
pgbench_run() { # mode -> tps
    PGOPTIONS="-c role=agentbase_app" pgbench -n -M prepared -c "$clients" -j 2 -T "$secs" \
        -f "$AGENTBASE_HOME/$1.sql" >"$AGENTBASE_HOME/pgbench.$1" 2>&1
    awk '/^tps/ { print $3; exit }' "$AGENTBASE_HOME/pgbench.$1"
}

printf '%-34s %12s %12s %7s %9s %9s %7s\n' "benchmark ($clients clients, ${secs}s)" \
    "agentbase/s" "pgbench/s" "ratio" "p50" "p99" "errors"
for mode in post get; do
    read -r rps p50 p99 errors <<<"$(wrk_run $mode)"
    tps=$(pgbench_run $mode)
    label="POST message"
    [ $mode = get ] && label="GET newest 50 messages"
    printf '%-34s %12.0f %12.0f %7.2f %9s %9s %7s\n' "$label" "$rps" "$tps" \
        "$(awk -v a="$rps" -v b="$tps" 'BEGIN { print (b > 0 ? a / b : 0) }')" "$p50" "$p99" "$errors"
done
echo "messages written: $(q -c 'SELECT count(*) FROM agentbase.messages'), sequences gap-free:" \
    "$(q -c "SELECT bool_and(c = m) FROM (SELECT count(*) c, max(sequence_number) m
             FROM agentbase.messages GROUP BY conversation_id) x")"
