# The server killed with SIGKILL under accounting load: every settle that was answered 200
# is in the database, every wallet agrees with its ledger, the server restarts cleanly, and
# the reservations the crash left open expire. Then `agentbase maintain`.
source "$(dirname "$0")/../lib.sh"
plan 18

ab_home
ab_pg_start
"$AB_BIN" migrate up >/dev/null
"$AB_BIN" seed >/dev/null
ab_usage_setup

ab_serve "$AGENTBASE_HOME" AGENTBASE_RATE_LIMIT=0
for c in 1 2 3 4 5 6; do ab_usage_client $c & done
sleep 4
kill -KILL $server
wait $server 2>/dev/null
wait
ab_usage_acked
diag "$n settles were answered 200 before the SIGKILL"
[ "$n" -gt 20 ]
ok $? "the clients settled reservations before the crash"
is "$(ab_usage_settled)" "$n" \
    "every settle answered 200 is in the database, with its ai_requests row"

is "$(q -c "$AB_LEDGER_INVARIANTS")" 0 "after the crash every wallet agrees with its ledger and its holds"
is "$(q -c "SELECT count(*) FROM agentbase.ai_requests r
             WHERE NOT EXISTS (SELECT 1 FROM agentbase.token_holds h
                                WHERE h.id = r.reservation_id AND h.status = 'settled')")" 0 \
    "no ai_requests row without its settled reservation (nothing half-written)"

ab_serve "$AGENTBASE_HOME" AGENTBASE_RATE_LIMIT=0
out=$(ab_usage_post /v1/usage/reservations "{\"user_id\": \"${users[0]}\", \"provider\": \"openai\",
      \"model\": \"gpt-4o-mini\", \"estimated_input_tokens\": 1, \"max_output_tokens\": 1}")
is "$(echo "$out" | tail -n 1)" 201 "the restarted server takes reservations"
first=$(echo "$acked" | head -n 1)
out=$(ab_usage_post "/v1/usage/reservations/$first/settle" '{"input_tokens": 1, "output_tokens": 1}')
is "$(echo "$out" | tail -n 1)" 200 "a retried settle of an acknowledged one gets 200 again"
is "$(echo "$out" | head -n 1 | grep -o '"id": "[^"]*"' | cut -d'"' -f4)" "$first" \
    "... with the first answer"

# The crash left reservations open; the server releases them when they expire (3 s).
for _ in $(seq 100); do
    left=$(q -c "SELECT count(*) FROM agentbase.token_holds WHERE status = 'held'
                  AND expires_at < now() - interval '1 second'")
    [ "$left" = 0 ] && break
    sleep 0.1
done
is "$left" 0 "the server released every expired reservation"
is "$(q -c "$AB_LEDGER_INVARIANTS")" 0 "and the wallets still agree with their ledgers"
kill -TERM $server
wait $server
is "$?" 0 "the server stops cleanly"

# ---- agentbase maintain ---------------------------------------------------------------------
q -c "UPDATE agentbase.token_holds SET expires_at = now() - interval '1 minute'
       WHERE status = 'held'" >/dev/null
out=$("$AB_BIN" maintain)
like "$out" '^expire +[1-9]' "maintain releases expired reservations (no server running)"
like "$out" $'\nrollups +[1-9]' "maintain rolls the hourly cost rows up"
is "$(q -c "SELECT string_agg(period_type || '=' || t, ' ' ORDER BY period_type)
              FROM (SELECT period_type, sum(total_tokens) = (SELECT sum(total_tokens)
                             FROM agentbase.cost_tracking WHERE period_type = 'hourly') AS t
                      FROM agentbase.cost_tracking GROUP BY period_type) x")" \
    "daily=true hourly=true monthly=true weekly=true yearly=true" "... and every period's rows add up to the hourly ones"
out=$("$AB_BIN" maintain)
like "$out" $'^expire +0\nleases +0\ndaily +0\nmonthly +0\nrollups +0\npartitions +0\nidempotency +0$' \
    "maintain is idempotent: a second run does nothing"
like "$("$AB_BIN" maintain daily expire)" $'^expire +0\ndaily +0$' "maintain runs only the tasks named"
# Agent leases past their expiry: reclaimed, and their agent's load given back.
q -c "WITH a AS (INSERT INTO agentbase.agents (tenant_id, name, model_provider, model_name)
                 SELECT tenant_id, 'crash agent', 'openai', 'gpt-4o' FROM agentbase.users
                  WHERE email = 'u1@crash.test' RETURNING tenant_id, id),
           s AS (INSERT INTO agentbase.agent_assignments (tenant_id, user_id, agent_id)
                 SELECT a.tenant_id, u.id, a.id FROM a, agentbase.users u WHERE u.email = 'u1@crash.test'
                 RETURNING tenant_id, id, user_id, agent_id)
      INSERT INTO agentbase.agent_leases (tenant_id, assignment_id, user_id, agent_id, acquired_at, expires_at)
      SELECT tenant_id, id, user_id, agent_id, now() - interval '2 hours', now() - interval '1 hour'
        FROM s, generate_series(1, 3)" >/dev/null
is "$("$AB_BIN" maintain leases):$(q -c "SELECT current_load FROM agentbase.agents WHERE name = 'crash agent'")" \
    "leases       3:0" "maintain reclaims expired agent leases and gives their agent's load back"
# A backlog larger than one batch of expiry (1,000) is released in several transactions.
q -c "INSERT INTO agentbase.token_holds (tenant_id, user_id, amount, expires_at)
      SELECT u.tenant_id, u.id, 1, now() - interval '1 hour'
        FROM agentbase.users u, generate_series(1, 2500) WHERE u.email = 'u1@crash.test'" >/dev/null
is "$("$AB_BIN" maintain expire):$(q -c "SELECT count(*) FROM agentbase.token_holds WHERE status = 'held'")" \
    "expire       2500:0" "maintain releases a backlog of 2,500 expired holds in batches"
"$AB_BIN" maintain hourly 2>"$AGENTBASE_HOME/err"
is "$?:$(cat "$AGENTBASE_HOME/err")" \
    "2:agentbase maintain: unknown task 'hourly' (see agentbase maintain --help)" \
    "maintain refuses an unknown task"
ab_done
