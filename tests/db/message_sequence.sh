#!/usr/bin/env bash
# Gap-free message sequence under concurrency: 8 sessions append to ONE conversation at
# the same time, as the service (SET ROLE agentbase_app + set_request_context inside each
# transaction), some transactions rolled back. Afterwards the sequence numbers must be
# exactly 1..N, without gaps or duplicates, and the conversation's counters must match.
# Needs PGHOST, PGUSER (a superuser) and PGDATABASE of a migrated database; prints TAP.
set -u

WORKERS=8
COMMITS=30   # committed appends per session
ROLLBACKS=5  # rolled-back appends per session
N=$((WORKERS * COMMITS))

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

tmp=$(mktemp -d /tmp/abtest-msgseq.XXXXXX)
tenant=$(q -c "SELECT gen_random_uuid()") || { echo "Bail out! cannot connect"; exit 1; }
conv=$(q -c "SELECT gen_random_uuid()")

cleanup() {
    local p
    for p in $(jobs -p); do kill "$p" 2>/dev/null; done
    q -c "DELETE FROM agentbase.tenants WHERE id = '$tenant';
          DELETE FROM agentbase.audit_logs WHERE tenant_id = '$tenant';" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

_n=0
_failed=0
ok() {
    _n=$((_n + 1))
    if [ "$1" = 0 ]; then echo "ok $_n - $2"; else echo "not ok $_n - $2"; _failed=$((_failed + 1)); fi
}
is() {
    if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "# got:  '$1'"; echo "# want: '$2'"; fi
}

echo "1..8"

q -c "INSERT INTO agentbase.tenants (id, slug, name) VALUES ('$tenant', 'seqtest-' || left(replace('$tenant', '-', ''), 16), 'Sequence test');
      INSERT INTO agentbase.conversations (tenant_id, id, title) VALUES ('$tenant', '$conv', 'concurrent appends');" \
    || { echo "Bail out! cannot create the test tenant"; exit 1; }

# One script per session: COMMITS committed and ROLLBACKS rolled-back transactions,
# interleaved; each holds the conversation's row lock a little while before ending.
for w in $(seq 1 $WORKERS); do
    {
        for i in $(seq 1 $((COMMITS + ROLLBACKS))); do
            end=COMMIT
            [ $((i % 7)) -eq 0 ] && end=ROLLBACK
            cat <<EOF
BEGIN;
SET LOCAL ROLE agentbase_app;
SELECT agentbase.set_request_context('$tenant', 'system', 'seqtest-$w', '127.0.0.1', 'message_sequence.sh', 'w$w-$i');
INSERT INTO agentbase.messages (tenant_id, conversation_id, role, content, token_count, cost)
VALUES ('$tenant', '$conv', 'user', 'w$w $i $end', 3, 0.0000010000);
SELECT pg_sleep(0.001);
$end;
EOF
        done
    } >"$tmp/worker$w.sql"
done

# Start all sessions at once (a file acts as the starting gate).
pids=()
for w in $(seq 1 $WORKERS); do
    (
        while [ ! -f "$tmp/go" ]; do sleep 0.01; done
        exec timeout 120 psql -X -q -At -v ON_ERROR_STOP=1 -f "$tmp/worker$w.sql" >"$tmp/worker$w.log" 2>&1
    ) &
    pids+=($!)
done
touch "$tmp/go"
codes=""
for p in "${pids[@]}"; do wait "$p"; codes="$codes$?"; done
is "$codes" "$(printf '0%.0s' $(seq 1 $WORKERS))" "$WORKERS concurrent sessions finished without error"
[ "$codes" = "$(printf '0%.0s' $(seq 1 $WORKERS))" ] || sed 's/^/# /' "$tmp"/worker*.log | head -n 20

is "$(q -c "SELECT count(*) FROM agentbase.messages WHERE tenant_id = '$tenant' AND conversation_id = '$conv'")" \
    "$N" "every committed append is there ($N)"
is "$(q -c "SELECT count(*) FROM agentbase.messages WHERE tenant_id = '$tenant' AND content LIKE '%ROLLBACK'")" \
    0 "no rolled-back append is there"
is "$(q -c "SELECT min(sequence_number) || '/' || max(sequence_number) || '/' || count(DISTINCT sequence_number)
              FROM agentbase.messages WHERE tenant_id = '$tenant' AND conversation_id = '$conv'")" \
    "1/$N/$N" "sequence numbers run from 1 to $N without duplicates"
is "$(q -c "SELECT count(*) FROM generate_series(1, $N) s
             WHERE NOT EXISTS (SELECT 1 FROM agentbase.messages m
                                WHERE m.tenant_id = '$tenant' AND m.conversation_id = '$conv' AND m.sequence_number = s)")" \
    0 "no gap in 1..$N"
is "$(q -c "SELECT message_count || '/' || last_sequence_number || '/' || total_tokens || '/' || total_cost
              FROM agentbase.conversations WHERE tenant_id = '$tenant' AND id = '$conv'")" \
    "$N/$N/$((N * 3))/$(awk -v n=$N 'BEGIN { printf "%.10f", n * 0.000001 }')" \
    "the conversation counts $N messages, their tokens and cost"
# Each session's own appends are numbered in the order it made them.
is "$(q -c "SELECT count(*) FROM (
              SELECT split_part(content, ' ', 1) w, split_part(content, ' ', 2)::int i,
                     lag(split_part(content, ' ', 2)::int) OVER (PARTITION BY split_part(content, ' ', 1) ORDER BY sequence_number) prev
                FROM agentbase.messages WHERE tenant_id = '$tenant' AND conversation_id = '$conv') s
             WHERE prev >= i")" 0 "each session's messages keep its order"
# The property was exercised under contention: the sessions' appends interleave.
switches=$(q -c "SELECT count(*) FROM (
                   SELECT split_part(content, ' ', 1) w,
                          lag(split_part(content, ' ', 1)) OVER (ORDER BY sequence_number) prev
                     FROM agentbase.messages WHERE tenant_id = '$tenant' AND conversation_id = '$conv') s
                  WHERE w <> prev")
ok "$([ "${switches:-0}" -ge $WORKERS ] && echo 0 || echo 1)" "the sessions ran concurrently ($switches switches between sessions)"

[ "$_failed" -eq 0 ]
