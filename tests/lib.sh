# Shared by the test scripts (bash): throwaway PostgreSQL clusters that are always removed,
# and a few TAP helpers. Source it; it needs AB_BIN (the agentbase binary under test).
#
#   ab_home            make a fresh AGENTBASE_HOME (exported), removed at exit, with no
#                      DATABASE_URL and no key ring named (the embedded cluster's own)
#   ab_pg_start        start the embedded cluster there; exports DATABASE_URL, PG* for psql,
#                      and AGENTBASE_SECRET_KEY_FILE (the key ring its first start wrote)
#   ab_serve DIR [VAR=value ...]   start `agentbase serve` on a free port; sets server, port, url
#   ab_hold SQL CHECK  open a psql transaction, run SQL (which takes locks) in it, and keep
#                      it open until ab_release; returns once the query CHECK prints 1
#   plan N; ok COND DESC; is GOT WANT DESC; like TEXT PATTERN DESC; diag MSG
#   ab_usage_setup, ab_usage_client ...: an accounting load (see its section below)
#
# Cleanup runs on exit, on failure and on SIGINT/SIGTERM: every server started by ab_serve
# that still runs gets SIGTERM, and every cluster started here is stopped (immediately, it
# holds nothing of value) and its directory deleted.

: "${AB_BIN:?AB_BIN must name the agentbase binary}"
AB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AB_HOMES=()
AB_SERVERS=()
_ab_test_no=0
_ab_failed=0

# Sends signal $1 to process $2 if it runs, and SIGKILL if it still runs 5 s later. "|| true":
# under set -e a process already gone must not end the cleanup early.
_ab_stop() {
    kill "-$1" "$2" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$2" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$2" 2>/dev/null || true
}

ab_cleanup() {
    local h pid
    # A script that did not stop its server (or failed before it could) leaves none behind,
    # and it stops before its cluster: the process would serve on, alone. (The check of its
    # command line: a pid that ended long ago may be another process's now.)
    for pid in "${AB_SERVERS[@]}"; do
        case $(ps -o args= -p "$pid" 2>/dev/null) in
        *" serve") _ab_stop TERM "$pid" ;;
        esac
    done
    for h in "${AB_HOMES[@]}"; do
        if [ -f "$h/pg/data/postmaster.pid" ]; then
            _ab_stop QUIT "$(head -n 1 "$h/pg/data/postmaster.pid")"
        fi
        rm -rf "$h"
    done
}
trap ab_cleanup EXIT
trap 'exit 130' INT TERM

ab_home() {
    local h
    h=$(mktemp -d /tmp/abtest.XXXXXX)
    chmod 755 "$h" # the cluster may run as the postgres user, which must reach it
    AB_HOMES+=("$h")
    export AGENTBASE_HOME="$h"
    unset DATABASE_URL AGENTBASE_SECRET_KEY AGENTBASE_SECRET_KEY_FILE
}

ab_pg_start() {
    "$AB_BIN" pg start >/dev/null || { echo "Bail out! cannot start PostgreSQL"; exit 1; }
    export DATABASE_URL; DATABASE_URL=$("$AB_BIN" pg url)
    export PGHOST="$AGENTBASE_HOME/pg/run" PGPORT=5432 PGUSER=postgres PGDATABASE=agentbase
    # With DATABASE_URL a server needs a key ring named: the one the first start generated.
    export AGENTBASE_SECRET_KEY_FILE="$AGENTBASE_HOME/secret-keys"
}

# Starts `agentbase serve` in the background on a free port, with the environment given
# (VAR=value ...); its stdout goes to DIR/serve.out, its stderr is appended to
# DIR/serve.log. Sets server (the pid), port and url once it listens (port is empty if it
# did not within 10 s).
ab_serve() {
    local dir=$1
    shift
    env AGENTBASE_LISTEN=127.0.0.1:0 "$@" "$AB_BIN" serve >"$dir/serve.out" 2>>"$dir/serve.log" &
    server=$!
    AB_SERVERS+=("$server")
    port=""
    for _ in $(seq 100); do
        port=$(sed -nE 's/.*serving on port ([0-9]+).*/\1/p' "$dir/serve.out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    url="http://127.0.0.1:$port"
}

# Runs psql quietly, unaligned, stopping at the first error.
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# A psql session fed through a fifo (fd 9), so that a test decides when it commits.
ab_hold() {
    rm -f "$AGENTBASE_HOME/holder"
    mkfifo "$AGENTBASE_HOME/holder"
    psql -X -q -v ON_ERROR_STOP=1 <"$AGENTBASE_HOME/holder" >/dev/null &
    _ab_holder=$!
    exec 9>"$AGENTBASE_HOME/holder"
    echo "BEGIN; $1" >&9
    for _ in $(seq 100); do [ "$(q -c "$2")" = 1 ] && break; sleep 0.1; done
}
ab_release() {
    echo "COMMIT;" >&9
    exec 9>&-
    wait "$_ab_holder"
}

plan() { echo "1..$1"; }
diag() { printf '# %s\n' "$@"; }
ok() {
    _ab_test_no=$((_ab_test_no + 1))
    if [ "$1" = 0 ] || [ "$1" = true ]; then
        echo "ok $_ab_test_no - $2"
    else
        echo "not ok $_ab_test_no - $2"
        _ab_failed=$((_ab_failed + 1))
    fi
}
is() {
    if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; diag "got:  '$1'" "want: '$2'"; fi
}
like() {
    if printf '%s' "$1" | grep -Eq -- "$2"; then ok 0 "$3"; else
        ok 1 "$3"; diag "no match for /$2/ in:" "$(printf '%s' "$1" | head -n 20)"; fi
}
# Exit status for the end of a script.
ab_done() { [ "$_ab_failed" -eq 0 ]; }

# ---- accounting load (usage_crash.sh, backup.sh) --------------------------------------------
# ab_usage_setup     tenant 'crash' (enterprise) with 20 users of 1,000,000 tokens each; sets
#                    users (their ids) and key (a usage:write key of the tenant)
# ab_usage_post PATH BODY [IDEMPOTENCY-KEY]   POST to $url with that key: prints the body,
#                    then the status on a line of its own
# ab_usage_client N  reserve -> settle cycles until the server is gone; every reservation id
#                    whose settle was answered 200 goes to $AGENTBASE_HOME/acked.N
# ab_usage_acked     once the clients are done: sets acked (the reservation ids whose settle
#                    was answered 200, a line each), n (how many) and ids (quoted, with commas)
# ab_usage_settled   prints how many of those are settled, each with its ai_requests row
# AB_LEDGER_INVARIANTS  a query: how many wallets disagree with their ledger or open holds
ab_usage_setup() {
    q -c "INSERT INTO agentbase.tenants (slug, name, plan) VALUES ('crash', 'Crash', 'enterprise')"
    q -c "INSERT INTO agentbase.users (tenant_id, email, username)
          SELECT t.id, 'u' || n || '@crash.test', 'u' || n
            FROM agentbase.tenants t, generate_series(1, 20) n WHERE t.slug = 'crash'" \
      -c "SELECT count(agentbase.adjust_user_tokens(id, 1000000, 'credit')) FROM agentbase.users
           WHERE email LIKE '%@crash.test'" >/dev/null
    users=($(q -c "SELECT id FROM agentbase.users WHERE email LIKE '%@crash.test'"))
    key=$("$AB_BIN" keys create --tenant crash --scopes usage:write 2>/dev/null)
}
ab_usage_post() {
    curl -s -m 10 -w '\n%{http_code}\n' -H "Authorization: Bearer $key" \
        ${3:+-H "Idempotency-Key: $3"} -d "$2" "$url$1"
}
ab_usage_client() {
    local c=$1 i=0 out code id
    while :; do
        i=$((i + 1))
        out=$(ab_usage_post /v1/usage/reservations "{\"user_id\": \"${users[$(((c * 7 + i) % 20))]}\",
              \"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"estimated_input_tokens\": 500,
              \"max_output_tokens\": 500, \"expires_in_seconds\": 3}" "crash-$c-$i") || return 0
        code=$(echo "$out" | tail -n 1)
        [ "$code" = 000 ] && return 0
        [ "$code" = 201 ] || continue
        id=$(echo "$out" | grep -o '"id": "[^"]*"' | head -n 1 | cut -d'"' -f4)
        out=$(ab_usage_post "/v1/usage/reservations/$id/settle" \
            "{\"input_tokens\": $((100 + i % 300)), \"output_tokens\": $((i % 700))}") || return 0
        [ "$(echo "$out" | tail -n 1)" = 200 ] && echo "$id" >>"$AGENTBASE_HOME/acked.$c"
    done
}
ab_usage_acked() {
    acked=$(cat "$AGENTBASE_HOME"/acked.* 2>/dev/null | sort -u)
    n=$(echo "$acked" | grep -c .)
    ids=$(echo "$acked" | sed "s/.*/'&'/" | paste -sd,)
}
ab_usage_settled() {
    q -c "SELECT count(*) FROM agentbase.token_holds h JOIN agentbase.ai_requests r
           ON r.tenant_id = h.tenant_id AND r.id = h.ai_request_id
          WHERE h.id IN ($ids) AND h.status = 'settled' AND r.reservation_id = h.id"
}
# Wallets against their ledgers, and against their open holds.
AB_LEDGER_INVARIANTS="SELECT count(*) FILTER (WHERE NOT (w.balance = l.owned AND w.held = l.held
                    AND w.held = h.open AND w.balance >= w.held AND w.overage >= 0))
              FROM agentbase.token_wallets w,
                   LATERAL (SELECT sum(CASE entry_type WHEN 'credit' THEN amount
                              WHEN 'debit' THEN -amount WHEN 'adjustment' THEN amount END) AS owned,
                                   coalesce(sum(CASE entry_type WHEN 'reserve' THEN amount
                              WHEN 'release' THEN -amount END), 0) AS held
                              FROM agentbase.token_ledger WHERE wallet_id = w.id) l,
                   LATERAL (SELECT coalesce(sum(amount), 0) AS open FROM agentbase.token_holds
                             WHERE wallet_id = w.id AND status = 'held') h"
