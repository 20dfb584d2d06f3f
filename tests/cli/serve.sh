# agentbase serve end to end: the per-key rate limit, and PostgreSQL restarted under load
# (requests in the outage fail fast with 503, none hangs, the server recovers by itself).
source "$(dirname "$0")/../lib.sh"
plan 12

ab_home
ab_pg_start
"$AB_BIN" migrate up >/dev/null
q -c "INSERT INTO agentbase.tenants (slug, name) VALUES ('serve-test', 'Serve test')"
key=$("$AB_BIN" keys create --tenant serve-test --scopes agents:write 2>/dev/null)
like "$key" '^ab_' "keys create prints a key"

ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=4 AGENTBASE_RATE_LIMIT=2
get() { curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$url$1"; }

# ---- rate limit: 2/s with a burst of 4 -------------------------------------------------
codes=""
for i in $(seq 8); do codes="$codes $(get /v1/agents)"; done
like "$codes" "429" "a burst beyond the key's limit gets 429"
like "$codes" "^ 200 200 200 200" "the first requests of the burst pass"
retry=$(curl -s -m 10 -D - -o /dev/null -H "Authorization: Bearer $key" "$url/v1/agents" |
    tr -d '\r' | sed -n 's/^Retry-After: //p')
like "$retry" '^[0-9]+$' "a 429 says when to retry (Retry-After)"
sleep 2
is "$(get /v1/agents)" 200 "after waiting, the key is served again"

# ---- PostgreSQL restarted under load ------------------------------------------------------
kill -TERM $server; wait $server
ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=4 AGENTBASE_RATE_LIMIT=0
load() { # 4 clients, 6 s, every answer's code and curl's exit status
    local deadline=$((SECONDS + 6))
    while [ $SECONDS -lt $deadline ]; do
        curl -s -m 5 -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $key" \
            "$url/v1/agents" || echo "curl-exit-$?"
    done
}
for c in 1 2 3 4; do load >"$AGENTBASE_HOME/load.$c" & done
sleep 1
"$AB_BIN" pg stop >/dev/null
sleep 2
"$AB_BIN" pg start >/dev/null
wait $(jobs -p | grep -v "^$server$") 2>/dev/null
all=$(cat "$AGENTBASE_HOME"/load.*)
is "$(echo "$all" | grep -c curl-exit)" 0 "no request hung or lost its connection during the restart"
like "$(echo "$all" | sort -u | tr '\n' ' ')" "503" "requests during the outage got 503"
is "$(echo "$all" | grep -cvE '^(200|503)$')" 0 "every answer was 200 or 503"
# Every slot retries within a second (the pool's longest backoff): give it two.
for _ in $(seq 20); do [ "$(get /v1/agents)" = 200 ] && break; sleep 0.1; done
is "$(get /v1/agents)" 200 "after the restart the server serves again by itself (within 2 s)"
# ---- SIGTERM finishes the requests in flight ------------------------------------------------
agent=$(curl -s -m 10 -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"name": "slow", "model_provider": "x", "model_name": "y"}' "$url/v1/agents" |
    sed -E 's/.*"id": "([^"]+)".*/\1/')
# Hold the agent's row lock from psql so that a PATCH must wait for it.
psql -X -q -c "BEGIN; SELECT 1 FROM agentbase.agents WHERE id = '$agent' FOR UPDATE; SELECT pg_sleep(3); COMMIT" \
    >/dev/null &
locker=$!
sleep 0.5
curl -s -m 20 -o /dev/null -w '%{http_code}' -X PATCH -H "Authorization: Bearer $key" \
    -d '{"description": "patched while stopping"}' "$url/v1/agents/$agent" >"$AGENTBASE_HOME/inflight" &
inflight=$!
sleep 0.5
kill -TERM $server
wait $inflight
is "$(cat "$AGENTBASE_HOME/inflight")" 200 "a request in flight at SIGTERM is finished, not dropped"
wait $server
is "$?" 0 "and then the server stops cleanly"
wait $locker
is "$(q -c "SELECT description FROM agentbase.agents WHERE id = '$agent'")" "patched while stopping" \
    "the finished request was committed"
ab_done
