# The server under adversarial load: /healthz and /metrics answer while every worker and
# every pooled connection waits for a lock; /metrics needs no key on its own address and
# is not served on the main one without a token; connections are bounded per client
# address, and silent ones are closed after the header timeout.
source "$(dirname "$0")/../lib.sh"
plan 17

ab_home
ab_pg_start
unset AGENTBASE_METRICS_TOKEN AGENTBASE_METRICS_LISTEN # the defaults are under test
"$AB_BIN" migrate up >/dev/null
q -c "INSERT INTO agentbase.tenants (slug, name) VALUES ('limits-test', 'Limits test')"
key=$("$AB_BIN" keys create --tenant limits-test --scopes agents:write 2>/dev/null)
like "$key" '^ab_' "keys create prints a key"
code() { curl -s -m 5 -o /dev/null -w '%{http_code}' "$@"; }

# ---- every worker blocked on the database -------------------------------------------------
# Two workers, two pooled connections; port 0 for the metrics address too.
ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=2 AGENTBASE_RATE_LIMIT=0 \
    AGENTBASE_METRICS_LISTEN=127.0.0.1:0
mport=$(sed -nE 's/.*serves \/metrics on port ([0-9]+).*/\1/p' "$AGENTBASE_HOME/serve.out")
like "$mport" '^[0-9]+$' "the server says where it serves /metrics"
is "$(code -H "Authorization: Bearer $key" "$url/v1/agents")" 200 "GET /v1/agents is served"

# A psql session holds the agents table until told to commit.
ab_hold "LOCK TABLE agentbase.agents IN ACCESS EXCLUSIVE MODE;" \
    "SELECT count(*) FROM pg_locks WHERE relation = 'agentbase.agents'::regclass AND mode = 'AccessExclusiveLock' AND granted"
# Six listings: two wait for the lock on the two connections, four wait for a worker.
for i in 1 2 3 4 5 6; do
    curl -s -m 60 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
        "$url/v1/agents" >"$AGENTBASE_HOME/blocked.$i" &
done
for _ in $(seq 100); do
    [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%agents%'")" -ge 2 ] && break
    sleep 0.1
done
is "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%agents%'")" 2 \
    "both pooled connections wait for the lock"
health=$(curl -s -m 3 "$url/healthz")
is "$health" '{"status":"ok"}' "/healthz answers while every worker waits for the database"
metrics=$(curl -s -m 3 "http://127.0.0.1:$mport/metrics")
inflight=$(echo "$metrics" | sed -n 's/^agentbase_http_requests_in_flight //p')
ok "$([ "${inflight:-0}" -ge 6 ] && echo 0 || echo 1)" \
    "/metrics on its own address answers without a key meanwhile, with the 6 requests in flight (got ${inflight:-none})"
is "$(echo "$metrics" | sed -n 's/^agentbase_db_pool_connections{state="busy"} //p')" 2 \
    "and shows both pooled connections busy"
main=$(curl -s -m 3 -w ' %{http_code}' "$url/metrics")
like "$main" '^\{"error":\{"type":"[a-z_]+","code":"not_found","message":"/metrics is not served on this address: set AGENTBASE_METRICS_TOKEN.*"param":null,"request_id":"[0-9a-f]+"\}\} 404$' \
    "/metrics on the main address without a token configured is 404 and says why"
ab_release
wait $(jobs -p | grep -v "^$server$") 2>/dev/null
is "$(cat "$AGENTBASE_HOME"/blocked.* | tr -d '\n')" 200200200200200200 \
    "once the lock is gone every waiting request is answered 200"
kill -TERM $server; wait $server
is "$?" 0 "the server stops cleanly"

# ---- connections per client address --------------------------------------------------------
ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=2 AGENTBASE_RATE_LIMIT=0 \
    AGENTBASE_MAX_CONNECTIONS_PER_IP=4 AGENTBASE_MAX_CONNECTIONS=20 AGENTBASE_HEADER_TIMEOUT=2
# Four silent connections from 127.0.0.1: they send nothing at all.
exec 10<>"/dev/tcp/127.0.0.1/$port"
exec 11<>"/dev/tcp/127.0.0.1/$port"
exec 12<>"/dev/tcp/127.0.0.1/$port"
exec 13<>"/dev/tcp/127.0.0.1/$port"
is "$(code "$url/healthz")" 000 "a fifth connection from the same address is refused"
is "$(code --interface 127.0.0.2 "$url/healthz")" 200 "a client from another address still gets in"
is "$(code --interface 127.0.0.2 -H "Authorization: Bearer $key" "$url/v1/agents")" 200 \
    "and is served"
# The header timeout closes the silent ones: a read sees the end of the stream (status 1),
# not its own 10 s timeout (status > 128).
read -r -t 10 -u 10 _; eof=$?
is "$eof" 1 "a silent connection is closed by the server after the header timeout"
for fd in 11 12 13; do read -r -t 10 -u $fd _; done
exec 10>&- 11>&- 12>&- 13>&-
is "$(code "$url/healthz")" 200 "then the address is served again"
# Once a request has arrived the connection may idle for the keep-alive timeout, longer
# than the header timeout: a second request after 3 s on the same connection is served.
exec 14<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n' >&14
read -r -t 5 -u 14 first
while read -r -t 1 -u 14 line && [ "$line" != $'\r' ]; do :; done
read -r -t 1 -N 15 -u 14 _ # the body, {"status":"ok"}
sleep 3
printf 'GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' >&14
read -r -t 5 -u 14 second
exec 14>&-
is "$(echo "$first|$second" | tr -d '\r')" "HTTP/1.1 200 OK|HTTP/1.1 200 OK" \
    "a connection that sent a request idles past the header timeout and is served again"
kill -TERM $server; wait $server
is "$?" 0 "the server stops cleanly"
ab_done
