#!/usr/bin/env bash
# Task trees under concurrency: two sessions each close half of a cycle at the same time,
# as the service (A under B in one transaction, B under A in the other). Each alone sees a
# tree without the other's change, so a check without a lock would let both commit and
# leave A and B each other's parent. tasks_no_cycle() (0020) serializes parent changes per
# tenant: the second waits for the first, sees its commit, and is refused. Then the same
# race on a longer loop (A under C while C goes under B under A).
# Needs PGHOST, PGUSER (a superuser) and PGDATABASE of a migrated database; prints TAP.
set -u
source "$(dirname "$0")/../lib.sh"

tenant=$(q -c "SELECT gen_random_uuid()") || { echo "Bail out! cannot connect"; exit 1; }
tmp=$(mktemp -d /tmp/abtest-taskrace.XXXXXX)
cleanup() {
    q -c "DELETE FROM agentbase.tenants WHERE id = '$tenant';
          DELETE FROM agentbase.audit_logs WHERE tenant_id = '$tenant';" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

plan 6

q -c "INSERT INTO agentbase.tenants (id, slug, name)
      VALUES ('$tenant', 'taskrace-' || left(replace('$tenant', '-', ''), 16), 'Task race')" \
    || { echo "Bail out! cannot create the test tenant"; exit 1; }
id() { printf '%s' "${tenant:0:24}00000000000$1"; }
q -c "INSERT INTO agentbase.tasks (tenant_id, id, title)
      VALUES ('$tenant', '$(id 1)', 'A'), ('$tenant', '$(id 2)', 'B'), ('$tenant', '$(id 3)', 'C')"

# move CHILD PARENT: one session that holds its transaction open a while after the update
move() {
    cat >"$tmp/$1-$2.sql" <<SQL
BEGIN;
SET LOCAL ROLE agentbase_app;
SELECT agentbase.set_request_context('$tenant', 'system', 'taskrace');
UPDATE agentbase.tasks SET parent_task_id = '$(id "$2")' WHERE tenant_id = '$tenant' AND id = '$(id "$1")';
SELECT pg_sleep(0.5);
COMMIT;
SQL
    q -f "$tmp/$1-$2.sql" >"$tmp/$1-$2.out" 2>&1
}
# the cycles left in the tenant's tasks: rows whose ancestors include themselves
cycles() {
    q -c "WITH RECURSIVE up(start, id, depth) AS (
              SELECT id, parent_task_id, 1 FROM agentbase.tasks WHERE tenant_id = '$tenant'
              UNION ALL
              SELECT up.start, t.parent_task_id, up.depth + 1 FROM agentbase.tasks t
                JOIN up ON t.tenant_id = '$tenant' AND t.id = up.id WHERE up.depth < 10)
          SELECT count(DISTINCT start) FROM up WHERE id = start"
}

move 1 2 & p1=$!
move 2 1 & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
is "$(( (r1 != 0) + (r2 != 0) ))" 1 "of two sessions closing a two-task cycle at once, exactly one fails"
like "$(cat "$tmp"/1-2.out "$tmp"/2-1.out)" "would make task .* its own ancestor" "with the cycle error"
is "$(cycles)" 0 "and no cycle is left"

q -c "UPDATE agentbase.tasks SET parent_task_id = NULL WHERE tenant_id = '$tenant'"
q -c "UPDATE agentbase.tasks SET parent_task_id = '$(id 1)' WHERE tenant_id = '$tenant' AND id = '$(id 2)'"
move 1 3 & p1=$!
move 3 2 & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
is "$(( (r1 != 0) + (r2 != 0) ))" 1 "of A under C and C under B (B under A) at once, exactly one fails"
is "$(cycles)" 0 "and no cycle is left"
is "$(q -c "SELECT count(*) FROM agentbase.tasks WHERE tenant_id = '$tenant' AND parent_task_id IS NOT NULL")" 2 \
    "the other move took effect"
ab_done
