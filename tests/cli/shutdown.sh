# SIGTERM in order: with an accounting batch stuck behind a lock, the server stops
# accepting, gives requests in flight the grace, then the batchers finish the batch they
# hold and answer 503 to what still waits; every client gets an HTTP answer, nothing is
# resumed after it was freed (run it under SAN=1 too), and the server exits 0.
source "$(dirname "$0")/../lib.sh"
plan 9

ab_home
ab_pg_start
"$AB_BIN" migrate up >/dev/null
q >/dev/null <<'SQL'
INSERT INTO agentbase.tenants (slug, name, plan) VALUES ('stop-test', 'Stop test', 'enterprise');
WITH p AS (INSERT INTO agentbase.ai_providers (name, display_name) VALUES ('stopprov', 'stopprov')
           RETURNING id),
     m AS (INSERT INTO agentbase.ai_models (provider_id, name, display_name, context_window)
           SELECT id, 'm', 'm', 100000 FROM p RETURNING id)
INSERT INTO agentbase.ai_model_prices (model_id, effective_from, input_per_1m, output_per_1m,
                                       cached_input_per_1m)
SELECT id, now() - interval '1 day', 10, 20, 5 FROM m;
INSERT INTO agentbase.users (tenant_id, email, username)
SELECT id, 'u@stop.test', 'u' FROM agentbase.tenants WHERE slug = 'stop-test';
SELECT agentbase.adjust_user_tokens(id, 1000000, 'credit') FROM agentbase.users
 WHERE email = 'u@stop.test';
SQL
user=$(q -c "SELECT id FROM agentbase.users WHERE email = 'u@stop.test'")
key=$("$AB_BIN" keys create --tenant stop-test --scopes usage:write 2>/dev/null)
like "$key" '^ab_' "keys create prints a key"

ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=2 AGENTBASE_RATE_LIMIT=0 AGENTBASE_SHUTDOWN_GRACE=1
reserve() { # $1: where the answer goes (status, then the body)
    curl -s -m 60 -o "$1.body" -w '%{http_code}' -X POST -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' \
        -d "{\"user_id\": \"$user\", \"provider\": \"stopprov\", \"model\": \"m\", \"estimated_input_tokens\": 100, \"max_output_tokens\": 200}" \
        "$url/v1/usage/reservations" >"$1"
}
waiting() { q -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%usage_apply%'"; }

# A psql session holds the user's wallet, which every reservation locks.
ab_hold "SELECT 1 FROM agentbase.token_wallets WHERE user_id = '$user' FOR UPDATE;" \
    "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE '%token_wallets%'"
# The first reservation's batch waits for the lock; five more queue behind it (one tenant
# is applied by one batcher at a time).
reserve "$AGENTBASE_HOME/first" &
first=$!
for _ in $(seq 100); do [ "$(waiting)" -ge 1 ] && break; sleep 0.1; done
is "$(waiting)" 1 "the first reservation's batch waits for the wallet's lock"
queued=()
for i in 1 2 3 4 5; do
    reserve "$AGENTBASE_HOME/queued.$i" &
    queued+=($!)
done
sleep 0.5
kill -TERM $server
# The grace (1 s) passes with the lock still held: the queued ones are answered now.
wait "${queued[@]}"
is "$(cat "$AGENTBASE_HOME"/queued.? | tr -d '\n')" 503503503503503 \
    "the reservations still queued when the grace ran out are answered 503"
like "$(cat "$AGENTBASE_HOME/queued.1.body")" '"code":"shutting_down"' "and told why"
kill -0 $server 2>/dev/null
is "$?" 0 "the server waits for the batch it holds"
ab_release
wait $first
is "$(cat "$AGENTBASE_HOME/first")" 201 "the batch held at SIGTERM is finished and answered"
wait $server
is "$?" 0 "then the server exits 0"
is "$(q -c "SELECT count(*) FROM agentbase.token_holds WHERE user_id = '$user'")" 1 \
    "exactly the answered reservation was made"
ok "$(grep -qE 'AddressSanitizer|runtime error' "$AGENTBASE_HOME/serve.log" && echo 1 || echo 0)" \
    "no sanitizer report in the server's log"
ab_done
