#!/usr/bin/env bash
# The accounting hot path beside PostgreSQL doing the same work, in one run on one machine:
#   reserve -> settle cycles over HTTP (bench/usage_load.c, many keep-alive clients)
#   vs pgbench running the same SQL as one transaction per reserve and one per settle
#   (the key lookup the server makes, then agentbase.usage_apply with that one operation).
# Twice: spread over 1,000 users of one tenant, and all on one user. Every user has a
# wallet, a quota and a budget of their own, and the tenant has a budget over everyone, so
# every call checks and moves every kind of counter.
#
# For each: the most cycles per second agentbase sustains (closed loop), pgbench's rate,
# their ratio, and the latency (ms, p50/p99) of each HTTP request and of a whole cycle when
# agentbase is driven at twice pgbench's rate (open loop, latency counted from each
# cycle's scheduled start), beside pgbench's own cycle latency. Timing is noisy on a shared
# machine: read the ratio.
#   BENCH_SECONDS (10), BENCH_CLIENTS (64), BENCH_WORKERS (server threads, 4)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${AB_BIN:?run through make bench}"
: "${AB_LOAD:?run through make bench}"
source tests/lib.sh
secs=${BENCH_SECONDS:-10}
clients=${BENCH_CLIENTS:-64}
workers=${BENCH_WORKERS:-4}
users=1000

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
CREATE TABLE public.bench_users (n int PRIMARY KEY, id uuid NOT NULL);
GRANT SELECT ON public.bench_users TO agentbase_app;
INSERT INTO public.bench_users
SELECT row_number() OVER (ORDER BY id), id FROM agentbase.users WHERE tenant_id = '$tenant';
SQL
q -c "SELECT id FROM public.bench_users ORDER BY n" >"$AGENTBASE_HOME/users.all"
head -n 1 "$AGENTBASE_HOME/users.all" >"$AGENTBASE_HOME/users.one"
key=$("$AB_BIN" keys create --tenant bench --scopes usage:write 2>/dev/null)
key_id=$(q -c "SELECT id FROM agentbase.api_keys WHERE tenant_id = '$tenant'")
hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)

ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=$workers AGENTBASE_RATE_LIMIT=0 AGENTBASE_LOG=text \
    AGENTBASE_METRICS_TOKEN=bench-metrics
trap 'set +e; kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; ab_cleanup' EXIT

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
load_run() { # users file [rate] -> the load generator's key=value line
    "$AB_LOAD" --port "$port" --key "$key" --users "$1" --clients "$clients" --seconds "$secs" \
        ${2:+--rate "$2"}
}
value() { sed -nE "s/.*\\<$1=([0-9.]+).*/\\1/p" <<<"$2"; }

printf '%-16s %9s %9s %6s | %-22s %-17s %-17s | %-17s %6s\n' "($clients clients)" \
    "max/s" "pgbench/s" "ratio" "at 2x pgbench: rate" "request p50/p99" "cycle p50/p99" \
    "pgbench p50/p99" "errors"
for scenario in all one; do
    n=$users
    label="over $users users"
    if [ $scenario = one ]; then n=1; label="all on one user"; fi
    max=$(load_run "$AGENTBASE_HOME/users.$scenario")
    read -r tps pp50 pp99 <<<"$(pgbench_run $n)"
    target=$(awk -v t="$tps" 'BEGIN { printf "%d", 2 * t }')
    at=$(load_run "$AGENTBASE_HOME/users.$scenario" "$target")
    rate=$(value rate "$max")
    printf '%-16s %9.0f %9.0f %6.2f | %22s %8s/%-8s %8s/%-8s | %8s/%-8s %6s\n' "$label" \
        "$rate" "$tps" "$(awk -v a="$rate" -v b="$tps" 'BEGIN { print (b > 0 ? a / b : 0) }')" \
        "$(value rate "$at")/s" "$(value req_p50 "$at")" "$(value req_p99 "$at")" \
        "$(value cycle_p50 "$at")" "$(value cycle_p99 "$at")" "$pp50" "$pp99" \
        "$(($(value errors "$max") + $(value errors "$at")))"
done
metrics=$(curl -s -H "Authorization: Bearer bench-metrics" "http://127.0.0.1:$port/metrics" | grep -E '^agentbase_usage_(batches|ops)' || true)
echo "server batches: $(echo "$metrics" | tr '\n' ' ')"

# The books balance after all of it: every wallet equals its ledger, nothing is left held.
sleep 1
echo "wallets that disagree with their ledger: $(q -c "SELECT count(*) FROM agentbase.token_wallets w
  WHERE w.balance <> (SELECT coalesce(sum(CASE entry_type WHEN 'credit' THEN amount
                        WHEN 'debit' THEN -amount WHEN 'adjustment' THEN amount END), 0)
                        FROM agentbase.token_ledger l WHERE l.wallet_id = w.id)")"
