#!/usr/bin/env bash
# The accounting hot path beside PostgreSQL doing the same work, in one run on one machine:
#   reserve -> settle cycles over HTTP (bench/usage_load.c, many keep-alive clients)
#   vs pgbench running the same SQL as one transaction per reserve and one per settle
#   (the key lookup the server makes, then agentbase.usage_apply with that one operation)
#   vs the write floor: pgbench doing, per transaction of K cycles, only the writes those
#   cycles must make, as one statement per kind of row and no checks (K holds inserted,
#   then in a second statement: resolved, their ai_requests rows, three ledger entries
#   each, every counter row once: wallet, quota and own budget of each user, the tenant's
#   budget and two plan counters, the hourly rollup and the usage metric). It runs as the
#   owner (row security applies, the tables' triggers and constraints fire), under the
#   tenant's lock as usage_apply takes it, with synchronous_commit on: the physical limit
#   of this design on this machine.
# Twice: spread over 1,000 users of one tenant, and all on one user. Every user has a
# wallet, a quota and a budget of their own, and the tenant has a budget over everyone, so
# every call checks and moves every kind of counter.
#
# For each: the most cycles per second agentbase sustains (closed loop), pgbench's rate,
# their ratio, and the latency (ms, p50/p99) of each HTTP request and of a whole cycle when
# agentbase is driven at twice pgbench's rate (open loop, latency counted from each
# cycle's scheduled start), beside pgbench's own cycle latency. Then the service beside
# the write floor (and the previous version, with BENCH_BASE), with the operations per
# batch the service reached and the resident memory of the service and of its busiest
# backend in the middle of its closed-loop run. Timing is noisy on a shared machine: read
# the ratios.
#   BENCH_SECONDS (10), BENCH_CLIENTS (64), BENCH_WORKERS (server threads, 4)
#   BENCH_FLOOR_BATCH  cycles per write-floor transaction (32: a batch of the service holds
#                      at most one operation per client, half of them reserves)
#   BENCH_BASE=REV     also build REV (git archive into a temporary directory, make
#                      build/agentbase there) and run it beside, on a cluster of its own
#                      migrated by its own binary, with the same data; unset: skipped
#   BENCH_PROFILE=1    then one more closed-loop run over 1,000 users, with track_functions
#                      = 'all' and pg_stat_statements tracking nested statements (the
#                      cluster is restarted for it): the functions with the most self time
#                      and the statements with the most time, per call and per cycle
#   BENCH_PROFILE_ROWS how many of each (10)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${AB_BIN:?run through make bench}"
: "${AB_LOAD:?run through make bench}"
source tests/lib.sh
secs=${BENCH_SECONDS:-10}
clients=${BENCH_CLIENTS:-64}
workers=${BENCH_WORKERS:-4}
profile_rows=${BENCH_PROFILE_ROWS:-10}
floor_k=${BENCH_FLOOR_BATCH:-32}
profile=${BENCH_PROFILE:-0}
base=${BENCH_BASE:-}
users=1000
base_dir=""

cleanup() {
    set +e
    ab_cleanup # (the servers too)
    [ -z "$base_dir" ] || rm -rf "$base_dir"
}
trap cleanup EXIT

# A fresh cluster migrated by AB_BIN, the bench's data in it, and AB_BIN serving it: sets
# tenant, key, key_id, hash, server, port, and AGENTBASE_HOME/users.all and users.one.
start() {
    ab_home
    ab_pg_start
    "$AB_BIN" migrate up >/dev/null
    "$AB_BIN" seed >/dev/null
    q -c "INSERT INTO agentbase.tenants (slug, name, plan) VALUES ('bench', 'Bench', 'enterprise')"
    tenant=$(q -c "SELECT id FROM agentbase.tenants WHERE slug = 'bench'")
    q >/dev/null <<SQL
INSERT INTO agentbase.users (tenant_id, email, username)
SELECT '$tenant', 'u' || n || '@bench.test', 'u' || n FROM generate_series(1, $users) n;
SELECT count(agentbase.adjust_user_tokens(id, 1000000000000, 'credit')) AS credited
  FROM agentbase.users WHERE tenant_id = '$tenant';
INSERT INTO agentbase.quotas (tenant_id, user_id, daily_token_limit, monthly_token_limit)
SELECT '$tenant', id, 1000000000000, 1000000000000 FROM agentbase.users WHERE tenant_id = '$tenant';
INSERT INTO agentbase.user_budgets (tenant_id, user_id, name, amount_usd)
SELECT '$tenant', id, 'own', 1000000 FROM agentbase.users WHERE tenant_id = '$tenant';
INSERT INTO agentbase.user_budgets (tenant_id, name, amount_usd) VALUES ('$tenant', 'everyone', 1000000000);
-- What the write floor needs to know of each user, as a batch has it once it loaded them.
CREATE TABLE public.bench_users (n int PRIMARY KEY, id uuid NOT NULL, wallet_id uuid NOT NULL,
                                 budget_id uuid NOT NULL);
GRANT SELECT ON public.bench_users TO agentbase_app, agentbase_owner;
INSERT INTO public.bench_users
SELECT row_number() OVER (ORDER BY u.id), u.id, w.id, b.id
  FROM agentbase.users u
  JOIN agentbase.token_wallets w ON w.tenant_id = u.tenant_id AND w.user_id = u.id
  JOIN agentbase.user_budgets b ON b.tenant_id = u.tenant_id AND b.user_id = u.id
 WHERE u.tenant_id = '$tenant';
SQL
    q -c "SELECT id FROM public.bench_users ORDER BY n" >"$AGENTBASE_HOME/users.all"
    head -n 1 "$AGENTBASE_HOME/users.all" >"$AGENTBASE_HOME/users.one"
    key=$("$AB_BIN" keys create --tenant bench --scopes usage:write 2>/dev/null)
    key_id=$(q -c "SELECT id FROM agentbase.api_keys WHERE tenant_id = '$tenant'")
    hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
    ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=$workers AGENTBASE_RATE_LIMIT=0 AGENTBASE_LOG=text \
        AGENTBASE_METRICS_TOKEN=bench-metrics
    [ -n "$port" ] || { echo "bench/usage.sh: $AB_BIN serve did not start" >&2; exit 1; }
}

# The previous version first, so that its build is over before anything is measured; its
# server then waits, idle, on its own cluster.
if [ -n "$base" ]; then
    base_rev=$(git rev-parse --short --verify "$base^{commit}")
    base_dir=$(mktemp -d /tmp/abbench-base.XXXXXX)
    git archive "$base_rev" | tar -x -C "$base_dir"
    make -C "$base_dir" -j2 build/agentbase >"$base_dir/build.log" 2>&1 ||
        { tail -n 20 "$base_dir/build.log" >&2; echo "bench/usage.sh: cannot build $base_rev" >&2; exit 1; }
    current_bin=$AB_BIN
    AB_BIN=$base_dir/build/agentbase
    start
    AB_BIN=$current_bin
    base_home=$AGENTBASE_HOME base_server=$server base_port=$port base_key=$key
fi
start

# What the server runs per request: the key lookup, then the batch statement of
# src/usage/batch.c with a batch of one (one statement, so one transaction).
lookup="SELECT key_id, tenant_id, user_id, scopes FROM agentbase.auth_lookup_key('$hash');"
apply() { # the operation's JSON (SQL) -> the batch statement
    echo "SELECT (r ->> 'status')::int AS status, (r -> 'body' ->> 'id') AS rid FROM jsonb_array_elements(agentbase.usage_apply(jsonb_build_array($1))) WITH ORDINALITY AS t(r, i) ORDER BY i"
}
op() { # op, args (SQL jsonb) -> the operation as the service builds it
    echo "jsonb_build_object('op', '$1', 'tenant_id', '$tenant', 'actor_id', '$key_id', 'request_id', gen_random_uuid()::text, 'ip', '127.0.0.1', 'args', $2)"
}
pgbench_script() { # users -> a cycle
    cat <<SQL
\\set u random(1, $1)
\\set i random(0, 199)
$lookup
$(apply "$(op reserve "jsonb_build_object('user_id', (SELECT id FROM public.bench_users WHERE n = :u), 'provider', 'openai', 'model', 'gpt-4o-mini', 'estimated_input_tokens', 1000, 'max_output_tokens', 500)")") \\gset
$lookup
$(apply "$(op settle "jsonb_build_object('id', :rid::text, 'input_tokens', 900 + :i, 'output_tokens', 100 + :i * 2, 'latency_ms', 850, 'time_to_first_token_ms', 120)")");
SQL
}
pgbench_run() { # users -> "tps p50 p99"
    pgbench_script "$1" >"$AGENTBASE_HOME/cycle.sql"
    rm -f "$AGENTBASE_HOME"/pgbench_log.*
    (cd "$AGENTBASE_HOME" && PGOPTIONS="-c role=agentbase_app" pgbench -n -M prepared \
        -c "$clients" -j 2 -T "$secs" -l --log-prefix=pgbench_log -f cycle.sql) \
        >"$AGENTBASE_HOME/pgbench.out" 2>&1
    # Per-transaction log: the third field is the cycle's latency in microseconds.
    awk '{ print $3 }' "$AGENTBASE_HOME"/pgbench_log.* | sort -n >"$AGENTBASE_HOME/lat"
    awk -v tps="$(awk '/^tps/ { print $3; exit }' "$AGENTBASE_HOME/pgbench.out")" \
        '{ v[NR] = $1 } END { printf "%s %.2f %.2f", tps, v[int(NR * 0.5) + 1] / 1000,
                              v[int(NR * 0.99) + 1] / 1000 }' "$AGENTBASE_HOME/lat"
}

# One transaction of the write floor: K cycles of users s+1 .. s+K (of $1, in turn), what
# they hold, cost and charge as in the other runs (1,000 + 500 tokens held, 900 + 200
# used). The hold is resolved in a statement of its own, as a settle comes after its
# reserve; a wallet's reserve and release cancel out, so each counter row is written once,
# with the sums. Ledger entries carry the wallet's balance after the transaction (values
# do not change what is written).
floor_script() { # users, cycles per transaction -> the pgbench script
    local t="'$tenant'::uuid" everyone price cost in_cost out_cost outcome
    everyone=$(q -c "SELECT id FROM agentbase.user_budgets WHERE tenant_id = '$tenant' AND user_id IS NULL")
    # model_id, input, output and cached input per 1M, effective_from
    IFS='|' read -r -a price <<<"$(q -c "SELECT model_id, input_per_1m, output_per_1m,
        cached_input_per_1m, effective_from FROM agentbase.usage_price(agentbase.usage_model('openai', 'gpt-4o-mini'))")"
    cost="round((1000 * ${price[1]} + 500 * ${price[2]}) / 1000000, 10)"
    in_cost="round(900 * ${price[1]} / 1000000, 10)"
    out_cost="round(200 * ${price[2]} / 1000000, 10)"
    # the settle's answer, which a retry gets (usage_settle stores the same keys)
    outcome=$(q -c "SELECT jsonb_build_object('status', 'settled', 'held_tokens', 1500, 'released_tokens', 1500,
        'input_tokens', 900, 'output_tokens', 200, 'cached_tokens', 0, 'total_tokens', 1100,
        'cost_usd', $in_cost + $out_cost, 'debited_tokens', 1100, 'overage_tokens', 0, 'alerts', '[]'::jsonb,
        'limits_exceeded', '[]'::jsonb, 'price', jsonb_build_object('input_per_1m', ${price[1]},
        'output_per_1m', ${price[2]}, 'cached_input_per_1m', ${price[3]}, 'effective_from', '${price[4]}'::timestamptz))")
    cat <<SQL
\\set s random(0, $(($1 - 1)))
BEGIN;
SELECT pg_advisory_xact_lock(1633777011, hashtext('$tenant')), set_config('agentbase.tenant_id', '$tenant', true),
       set_config('agentbase.actor_id', '$key_id', true);
WITH h AS (
    INSERT INTO agentbase.token_holds (tenant_id, id, wallet_id, user_id, amount, estimated_cost, expires_at,
                                       provider, model, model_id, input_tokens, max_output_tokens, budget_ids)
    SELECT $t, agentbase.uuid_v7(), b.wallet_id, b.id, 1500, $cost, now() + interval '600 s',
           'openai', 'gpt-4o-mini', '${price[0]}', 1000, 500, ARRAY['$everyone', b.budget_id]::uuid[]
      FROM generate_series(0, $(($2 - 1))) g JOIN public.bench_users b ON b.n = (:s + g) % $1 + 1
    RETURNING id)
SELECT array_agg(id)::text AS holds FROM h \\gset
WITH x AS (SELECT id, agentbase.uuid_v7() AS rid FROM unnest(:holds::uuid[]) id),
h AS (
    UPDATE agentbase.token_holds h
       SET status = 'settled', settled_at = now(), ai_request_id = x.rid,
           outcome = jsonb_build_object('status', 200, 'body', '$outcome'::jsonb
                     || jsonb_build_object('id', h.id, 'user_id', h.user_id, 'ai_request_id', x.rid))
      FROM x WHERE h.tenant_id = $t AND h.id = x.id
    RETURNING h.id, h.user_id, h.wallet_id, h.budget_ids, x.rid),
r AS (
    INSERT INTO agentbase.ai_requests
        (tenant_id, id, user_id, provider, model, model_id, request_type, input_tokens, output_tokens,
         cached_tokens, total_tokens, input_per_1m, output_per_1m, cached_input_per_1m, price_effective_from,
         input_cost, output_cost, total_cost, latency_ms, time_to_first_token_ms, tokens_per_second, status,
         reservation_id, metadata, completed_at)
    SELECT $t, rid, user_id, 'openai', 'gpt-4o-mini', '${price[0]}', 'chat', 900, 200, 0, 1100,
           ${price[1]}, ${price[2]}, ${price[3]}, '${price[4]}', $in_cost, $out_cost, $in_cost + $out_cost,
           850, 120, 235.294, 'success', id, '{}', now()
      FROM h),
u AS (SELECT user_id, wallet_id, count(*) AS n, 1100 * count(*) AS total FROM h GROUP BY 1, 2),
w AS (
    UPDATE agentbase.token_wallets w
       SET balance = w.balance - u.total, lifetime_debited = w.lifetime_debited + u.total
      FROM u WHERE w.tenant_id = $t AND w.id = u.wallet_id
    RETURNING w.id, w.user_id, w.balance, w.held),
l AS (
    INSERT INTO agentbase.token_ledger (tenant_id, wallet_id, user_id, entry_type, amount, balance_after,
                                        held_after, reason, source, reference_type, reference_id, created_by)
    SELECT $t, w.id, w.user_id, e.type, e.amount, w.balance, w.held, e.reason, 'usage', 'token_hold',
           h.id::text, '$key_id'
      FROM h JOIN w ON w.id = h.wallet_id,
           (VALUES ('reserve', 1500, 'reservation'), ('release', 1500, 'settlement'),
                   ('debit', 1100, 'llm usage')) e(type, amount, reason)),
qu AS (
    UPDATE agentbase.quotas q
       SET requests_today = q.requests_today + u.n, tokens_used_today = q.tokens_used_today + u.total,
           tokens_used_month = q.tokens_used_month + u.total
      FROM u WHERE q.tenant_id = $t AND q.user_id = u.user_id),
bu AS (
    UPDATE agentbase.user_budgets b SET spent_usd = b.spent_usd + x.n * ($in_cost + $out_cost)
      FROM (SELECT bid, count(*) AS n FROM h, unnest(h.budget_ids) bid GROUP BY bid) x
     WHERE b.tenant_id = $t AND b.id = x.bid),
tq AS (
    UPDATE agentbase.tenant_quotas q
       SET used_value = q.used_value + CASE q.resource_type WHEN 'llm_requests' THEN x.n ELSE x.total END
      FROM (SELECT sum(n) AS n, sum(total) AS total FROM u) x
     WHERE q.tenant_id = $t
       AND (q.resource_type, q.period) IN (('llm_requests', 'daily'), ('llm_tokens', 'monthly'))),
ct AS (
    INSERT INTO agentbase.cost_tracking AS c
        (tenant_id, period_type, period_start, user_id, provider, model, request_count, success_count,
         input_tokens, output_tokens, total_tokens, total_cost, latency_sum_ms, latency_count, avg_latency_ms)
    SELECT $t, 'hourly', date_trunc('hour', now()), user_id, 'openai', 'gpt-4o-mini', n, n, 900 * n, 200 * n,
           total, n * ($in_cost + $out_cost), 850 * n, n, 850
      FROM u ORDER BY user_id
    ON CONFLICT ON CONSTRAINT uq_cost_tracking_rollup DO UPDATE
       SET request_count = c.request_count + excluded.request_count,
           success_count = c.success_count + excluded.success_count,
           input_tokens = c.input_tokens + excluded.input_tokens,
           output_tokens = c.output_tokens + excluded.output_tokens,
           total_tokens = c.total_tokens + excluded.total_tokens, total_cost = c.total_cost + excluded.total_cost,
           latency_sum_ms = c.latency_sum_ms + excluded.latency_sum_ms,
           latency_count = c.latency_count + excluded.latency_count, avg_latency_ms = excluded.avg_latency_ms),
um AS (
    INSERT INTO agentbase.usage_metrics (tenant_id, user_id, metric_type, value, tokens, cost, period_start)
    SELECT $t, user_id, 'llm_requests', n, total, n * ($in_cost + $out_cost), date_trunc('hour', now()) FROM u)
SELECT count(*) FROM h;
COMMIT;
SQL
}
floor_run() { # users, cycles per transaction -> cycles/s (two clients, as the service has two batchers)
    floor_script "$1" "$2" >"$AGENTBASE_HOME/floor.sql"
    (cd "$AGENTBASE_HOME" && PGOPTIONS="-c role=agentbase_owner -c synchronous_commit=on" \
        pgbench -n -M prepared -c 2 -j 2 -T "$secs" -f floor.sql) >"$AGENTBASE_HOME/floor.out" 2>&1 ||
        { tail -n 20 "$AGENTBASE_HOME/floor.out" >&2; exit 1; }
    awk -v k="$2" '/^tps/ { printf "%.0f", $3 * k; exit }' "$AGENTBASE_HOME/floor.out"
}

load_run() { # port, key, users file [rate] -> the load generator's key=value line
    "$AB_LOAD" --port "$1" --key "$2" --users "$3" --clients "$clients" --seconds "$secs" ${4:+--rate "$4"}
}
value() { sed -nE "s/.*\\<$1=([0-9.]+).*/\\1/p" <<<"$2"; }
metric() { # name (batches, ops) -> the server's counter
    curl -s -H "Authorization: Bearer bench-metrics" "http://127.0.0.1:$port/metrics" |
        awk -v m="agentbase_usage_$1_total" '$1 == m { print $2 }'
}
memory() { # server pid, its cluster's home -> "service busiest-backend backend-private" (kB)
    local pm pid
    pm=$(head -n 1 "$2/pg/data/postmaster.pid")
    # the backend (a child of the postmaster connected to the database) with the most CPU time
    pid=$(ps --ppid "$pm" -o pid=,times=,args= | awk '/ agentbase / { print $2, $1 }' | sort -n | tail -n 1 |
        cut -d' ' -f2)
    echo "$(ps -o rss= -p "$1") $(ps -o rss= -p "$pid") $(awk '/^RssAnon/ { print $2 }' "/proc/$pid/status")"
}
max_run() { # port, key, users file, server pid, home -> the load line in $max, memory in $mem
    "$AB_LOAD" --port "$1" --key "$2" --users "$3" --clients "$clients" --seconds "$secs" \
        >"$AGENTBASE_HOME/max.out" &
    local l=$!
    sleep "$(awk -v s="$secs" 'BEGIN { print s / 2 + 0.5 }')"
    mem=$(memory "$4" "$5")
    wait "$l"
    max=$(cat "$AGENTBASE_HOME/max.out")
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else printf "-" }'; }

printf '%-16s %9s %9s %6s | %-22s %-17s %-17s | %-17s %6s\n' "($clients clients)" \
    "max/s" "pgbench/s" "ratio" "at 2x pgbench: rate" "request p50/p99" "cycle p50/p99" \
    "pgbench p50/p99" "errors"
declare -A svc floor floor_at pgb prev batch mems prev_mems
for scenario in all one; do
    n=$users
    label="over $users users"
    if [ $scenario = one ]; then n=1; label="all on one user"; fi
    b0=$(metric batches) o0=$(metric ops)
    max_run "$port" "$key" "$AGENTBASE_HOME/users.$scenario" "$server" "$AGENTBASE_HOME"
    batch[$scenario]=$(awk -v b="$(($(metric batches) - b0))" -v o="$(($(metric ops) - o0))" \
        'BEGIN { printf "%.1f", (b > 0 ? o / b : 0) }')
    mems[$scenario]=$mem
    if [ -n "$base" ]; then
        current_max=$max current_mem=$mem
        max_run "$base_port" "$base_key" "$base_home/users.$scenario" "$base_server" "$base_home"
        prev[$scenario]=$(value rate "$max") prev_mems[$scenario]=$mem
        max=$current_max mem=$current_mem
    fi
    read -r tps pp50 pp99 <<<"$(pgbench_run $n)"
    floor[$scenario]=$(floor_run $n "$floor_k")
    # and at the batch size the service reached (its cycles per batch: half its operations)
    k=$(awk -v b="${batch[$scenario]}" 'BEGIN { k = int(b / 2 + 0.5); print (k < 1 ? 1 : k) }')
    floor_at[$scenario]="$(floor_run $n "$k") $k"
    target=$(awk -v t="$tps" 'BEGIN { printf "%d", 2 * t }')
    at=$(load_run "$port" "$key" "$AGENTBASE_HOME/users.$scenario" "$target")
    rate=$(value rate "$max")
    svc[$scenario]=$rate pgb[$scenario]=$tps
    printf '%-16s %9.0f %9.0f %6s | %22s %8s/%-8s %8s/%-8s | %8s/%-8s %6s\n' "$label" \
        "$rate" "$tps" "$(ratio "$rate" "$tps")" \
        "$(value rate "$at")/s" "$(value req_p50 "$at")" "$(value req_p99 "$at")" \
        "$(value cycle_p50 "$at")" "$(value cycle_p99 "$at")" "$pp50" "$pp99" \
        "$(($(value errors "$max") + $(value errors "$at")))"
done
metrics=$(curl -s -H "Authorization: Bearer bench-metrics" "http://127.0.0.1:$port/metrics" | grep -E '^agentbase_usage_(batches|ops)' || true)
echo "server batches: $(echo "$metrics" | tr '\n' ' ')"

echo
printf '%-16s %8s %8s %8s %8s %8s | %9s %9s %8s %11s\n' "cycles/s" "service" \
    "${base_rev:-previous}" "floor" "floor@B" "pgbench" "svc/floor" "svc/prev" "ops/batch" \
    "svc/pgbench"
for scenario in all one; do
    label="over $users users"
    [ $scenario = all ] || label="all on one user"
    read -r fa fk <<<"${floor_at[$scenario]}"
    printf '%-16s %8.0f %8s %8s %8s %8.0f | %9s %9s %8s %11s\n' "$label" "${svc[$scenario]}" \
        "${prev[$scenario]:--}" "${floor[$scenario]}" "$fa" "${pgb[$scenario]}" \
        "$(ratio "${svc[$scenario]}" "${floor[$scenario]}")" "$(ratio "${svc[$scenario]}" "${prev[$scenario]:-}")" \
        "${batch[$scenario]}" "$(ratio "${svc[$scenario]}" "${pgb[$scenario]}")"
    fks+="${fks:+, }$fk ($scenario)"
done
echo "(floor: $floor_k cycles per transaction; floor@B: as many as the service's batches held, ${fks}; 2 clients)"
for scenario in all one; do
    read -r s_rss b_rss b_anon <<<"${mems[$scenario]}"
    line="resident memory, $scenario: service $((s_rss / 1024)) MB, busiest backend $((b_rss / 1024)) MB ($((b_anon / 1024)) MB private)"
    if [ -n "$base" ]; then
        read -r s_rss b_rss b_anon <<<"${prev_mems[$scenario]}"
        line+="; $base_rev: service $((s_rss / 1024)) MB, backend $((b_rss / 1024)) MB ($((b_anon / 1024)) MB private)"
    fi
    echo "$line"
done

# The books balance after all of it: every wallet equals its ledger, nothing is left held.
sleep 1
echo "wallets that disagree with their ledger: $(q -c "SELECT count(*) FROM agentbase.token_wallets w
  WHERE w.balance <> (SELECT coalesce(sum(CASE entry_type WHEN 'credit' THEN amount
                        WHEN 'debit' THEN -amount WHEN 'adjustment' THEN amount END), 0)
                        FROM agentbase.token_ledger l WHERE l.wallet_id = w.id)")"

[ "$profile" = 1 ] || exit 0
# Where the time goes: one more closed-loop run over 1,000 users with every function's
# time counted and every statement's, nested ones too (pg_stat_statements needs a restart).
kill -TERM "$server"
wait "$server" || true
q -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" -c "ALTER SYSTEM SET track_functions = 'all'"
"$AB_BIN" pg stop >/dev/null
"$AB_BIN" pg start >/dev/null
# (a module's settings exist once it is loaded)
q -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" -c "SELECT pg_reload_conf()" \
    -c "CREATE EXTENSION pg_stat_statements" -c "SELECT pg_stat_reset(), pg_stat_statements_reset()" >/dev/null
ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=$workers AGENTBASE_RATE_LIMIT=0 AGENTBASE_LOG=text \
    AGENTBASE_METRICS_TOKEN=bench-metrics
o0=$(metric ops)
prof=$(load_run "$port" "$key" "$AGENTBASE_HOME/users.all")
cycles=$((($(metric ops) - o0) / 2))
# A backend publishes its function statistics when it ends at the latest: stop the server.
kill -TERM "$server"
wait "$server" || true
sleep 1
echo
echo "where the time goes over $users users ($(value rate "$prof") cycles/s with the counting on, $cycles cycles):"
q -F '|' <<SQL | awk -F'|' 'NR == 1 { printf "%-32s %10s %10s %10s %7s\n", "function (self time)", "calls/cyc", "us/call", "us/cycle", "share" }
                         { printf "%-32s %10.2f %10.1f %10.1f %6.0f%%\n", $1, $2, $3, $4, $5 }'
WITH f AS (SELECT funcname, calls, self_time FROM pg_stat_user_functions WHERE calls > 0),
     t AS (SELECT sum(self_time) AS total FROM f)
SELECT funcname, calls::numeric / $cycles, 1000 * self_time / calls, 1000 * self_time / $cycles,
       100 * self_time / total
  FROM f, t ORDER BY self_time DESC LIMIT $profile_rows
SQL
echo "all functions' self time: $(q -c "SELECT round(1000 * sum(self_time) / $cycles)
                                        FROM pg_stat_user_functions") us per cycle"
q -F '|' <<SQL | awk -F'|' 'NR == 1 { printf "%-72s %9s %8s %8s\n", "statement (with what it calls)", "calls/cyc", "us/call", "us/cycle" }
                         { printf "%-72s %9.2f %8.1f %8.1f\n", $1, $2, $3, $4 }'
SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 72), calls::numeric / $cycles,
       1000 * total_exec_time / calls, 1000 * total_exec_time / $cycles
  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY total_exec_time DESC LIMIT $profile_rows
SQL
