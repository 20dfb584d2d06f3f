#!/usr/bin/env bash
# Sign-ins beside other requests, in one run on one machine: the p50 latency of an
# authenticated GET /v1/agents (one client, sequential) while nothing else runs, then while
# BENCH_LOGINS clients sign in in a loop (argon2id on the hashing pool, no rate limit), and
# once more with as many hashing threads as workers (as when every request thread hashed).
# Prints each p50 and its ratio to the quiet one: read the ratio (the goal: within 2x).
#   BENCH_REQUESTS (300), BENCH_LOGINS (4), BENCH_WORKERS (server threads, 4)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${AB_BIN:?run through make bench}"
source tests/lib.sh
requests=${BENCH_REQUESTS:-300}
logins=${BENCH_LOGINS:-4}
workers=${BENCH_WORKERS:-4}

ab_home
ab_pg_start
"$AB_BIN" migrate up >/dev/null
q -c "INSERT INTO agentbase.tenants (slug, name) VALUES ('bench', 'Bench')"
q -c "INSERT INTO agentbase.users (tenant_id, email, username) SELECT id, 'ann@bench.test', 'ann' FROM agentbase.tenants WHERE slug = 'bench'"
echo 'a-long-enough-passphrase-9' | "$AB_BIN" users set-password --tenant bench \
    --email ann@bench.test >/dev/null 2>&1
key=$("$AB_BIN" keys create --tenant bench --scopes agents:read 2>/dev/null)

p50() { # the median of time_total over $requests sequential GETs, in ms
    for _ in $(seq "$requests"); do
        curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $key" "$url/v1/agents"
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] * 1000 }'
}
login_loop() {
    while :; do
        curl -s -o /dev/null -H 'Content-Type: application/json' \
            -d '{"tenant": "bench", "email": "ann@bench.test", "password": "a-long-enough-passphrase-9"}' \
            "$url/v1/auth/login" || true
    done
}
# $1: hashing threads; prints the p50 with the login loops running, and how many signed in.
with_logins() {
    ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=$workers AGENTBASE_RATE_LIMIT=0 \
        AGENTBASE_LOGIN_RATE_ACCOUNT=0 AGENTBASE_LOGIN_RATE_ADDRESS=0 AGENTBASE_HASH_THREADS=$1 \
        AGENTBASE_LOG=text
    local loops=() v
    p50 >/dev/null # warm up
    for _ in $(seq "$logins"); do login_loop & loops+=($!); done
    sleep 1
    v=$(p50)
    kill "${loops[@]}" 2>/dev/null; wait "${loops[@]}" 2>/dev/null || true
    kill -TERM $server; wait $server
    echo "$v"
}

ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=$workers AGENTBASE_RATE_LIMIT=0 AGENTBASE_LOG=text
p50 >/dev/null
quiet=$(p50)
kill -TERM $server; wait $server
pool=$(with_logins 1)
wide=$(with_logins "$workers")
echo "authenticated GET p50: quiet $quiet ms"
echo "  with $logins login loops, hashing on 1 thread:        $pool ms  ratio $(awk -v a="$pool" -v b="$quiet" 'BEGIN { printf "%.2f", a / b }')"
echo "  with $logins login loops, hashing on $workers threads (as before): $wide ms  ratio $(awk -v a="$wide" -v b="$quiet" 'BEGIN { printf "%.2f", a / b }')"
