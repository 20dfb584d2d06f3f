#!/usr/bin/env bash
# Slugs under concurrency: 8 sessions create, at the same time and as the service, agents
# whose names all give the slug race-agent ("Race Agent", "race agent", "Race-Agent" ...:
# the names differ, so their own unique key is no help), each holding its transaction open
# a while after the insert. Every create must succeed, with the slugs race-agent, race-agent-2 ... race-agent-8:
# fill_slug() serializes the check and the insert per tenant and slug (0019), so no two
# sessions pick the same one and none fails on the unique index.
# Needs PGHOST, PGUSER (a superuser) and PGDATABASE of a migrated database; prints TAP.
set -u
# the TAP helpers (plan, is, ab_done); this script starts no cluster of its own
source "$(dirname "$0")/../lib.sh"

WORKERS=8

tenant=$(q -c "SELECT gen_random_uuid()") || { echo "Bail out! cannot connect"; exit 1; }
tmp=$(mktemp -d /tmp/abtest-slugrace.XXXXXX)

cleanup() {
    q -c "DELETE FROM agentbase.tenants WHERE id = '$tenant';
          DELETE FROM agentbase.audit_logs WHERE tenant_id = '$tenant';" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

plan 3

q -c "INSERT INTO agentbase.tenants (id, slug, name) VALUES ('$tenant', 'slugrace-' || left(replace('$tenant', '-', ''), 16), 'Slug race')" \
    || { echo "Bail out! cannot create the test tenant"; exit 1; }

names=("Race Agent" "race agent" "RACE AGENT" "Race-Agent" "race_agent" "Race  Agent" "race.agent"
       "Race Agent!")
for w in $(seq 1 $WORKERS); do
    cat >"$tmp/w$w.sql" <<SQL
BEGIN;
SET LOCAL ROLE agentbase_app;
SELECT agentbase.set_request_context('$tenant', 'system', 'slugrace-$w');
INSERT INTO agentbase.agents (tenant_id, name, model_provider, model_name)
VALUES ('$tenant', '${names[$((w - 1))]}', 'openai', 'gpt-4o');
SELECT pg_sleep(0.2);
COMMIT;
SQL
done
pids=()
for w in $(seq 1 $WORKERS); do
    q -f "$tmp/w$w.sql" >"$tmp/w$w.out" 2>&1 &
    pids+=($!)
done
failures=0
for p in "${pids[@]}"; do wait "$p" || failures=$((failures + 1)); done
is "$failures" 0 "all $WORKERS concurrent creates succeed"
[ "$failures" = 0 ] || cat "$tmp"/w*.out | sed 's/^/# /'

want="race-agent"
for i in $(seq 2 $WORKERS); do want="$want race-agent-$i"; done
# the race's agents: not the platform agents the tenant starts with (0020)
mine="tenant_id = '$tenant' AND slug LIKE 'race-agent%'"
is "$(q -c "SELECT string_agg(slug, ' ' ORDER BY length(slug), slug) FROM agentbase.agents
            WHERE $mine")" "$want" "they get race-agent, then -2 ... -$WORKERS, each once"

is "$(q -c "SELECT count(DISTINCT slug) FROM agentbase.agents WHERE $mine")" \
    "$WORKERS" "no slug is given twice"

ab_done
