# agentbase status: every section on a running cluster, as text and as JSON; dead tuples
# after deletes, their space in the bloat estimate, an unused index, the oldest open
# transaction, the newest pgBackRest backup once there is one; clear errors.
source "$(dirname "$0")/../lib.sh"
plan 33

sections="server connections transactions tables dead_tuples autovacuum indexes unused_indexes bloat replication archiving backup"
ab_home
ab_pg_start
{ "$AB_BIN" migrate up && "$AB_BIN" seed --dev; } >/dev/null || { echo "Bail out! cannot migrate"; exit 1; }

out=$("$AB_BIN" status 2>&1); rc=$?
is "$rc" 0 "status on a running cluster exits 0"
for s in $sections; do
    ok "$(echo "$out" | grep -qx "$s" && echo 0)" "the text output has the section $s"
done

json=$("$AB_BIN" status --json); rc=$?
is "$rc" 0 "status --json exits 0"
is "$(echo "$json" | jq -r 'keys_unsorted | join(" ")')" "$sections" "its JSON parses and has every section"
head=$(ls "$AB_REPO"/db/migrations/*.up.sql | wc -l)
is "$(echo "$json" | jq -r '.server.schema_version')" "$((10#$(basename "$(ls "$AB_REPO"/db/migrations/*.up.sql | tail -n 1)" | cut -c1-4)))" \
    "server: the schema version is the newest migration's ($head files)"
is "$(echo "$json" | jq -r '.archiving.archive_mode')" "$(q -c 'SHOW archive_mode')" "archiving: the server's archive_mode"
is "$(echo "$json" | jq -r '[.autovacuum[].table] | map(select(. == "token_holds" or . == "token_wallets" or . == "quotas")) | length')" 3 \
    "autovacuum: lists the hot tables (holds, wallets, quotas)"

# Dead tuples: 300 agents inserted and deleted, autovacuum kept away from the table.
tenant=$(q -c "SELECT id FROM agentbase.tenants WHERE slug <> 'platform' ORDER BY created_at LIMIT 1")
q -c "ALTER TABLE agentbase.agents SET (autovacuum_enabled = false)" \
  -c "INSERT INTO agentbase.agents (tenant_id, name, model_provider, model_name)
      SELECT '$tenant', 'status test ' || i, 'openai', 'gpt-4o-mini' FROM generate_series(1, 300) i" \
  -c "DELETE FROM agentbase.agents WHERE name LIKE 'status test %'" -c "ANALYZE agentbase.agents" >/dev/null
json=$("$AB_BIN" status --json --limit 1000)
dead=$(echo "$json" | jq -r '.dead_tuples[] | select(.table == "agents") | .dead_rows')
ok "$([ "${dead:-0}" -ge 300 ] && echo 0)" "dead_tuples: the 300 deleted agents show as dead rows ($dead)"
is "$(echo "$json" | jq -r '.dead_tuples[] | select(.table == "agents") | (.autovacuum_at > 0)')" true \
    "dead_tuples: with the row count at which autovacuum comes"
ok "$(echo "$json" | jq -e '.bloat[] | select(.relation == "agents" and .kind == "table" and .estimated_bloat_bytes > 0)' >/dev/null && echo 0)" \
    "bloat: the deleted rows' space is estimated as bloat of agents"
out=$("$AB_BIN" status)
like "$(echo "$out" | sed -n '/^dead_tuples$/,/^$/p')" "agents +[0-9]+ " "the text's dead_tuples section lists agents"

q -c "CREATE INDEX idx_status_test_unused ON agentbase.agents (name)" >/dev/null
json=$("$AB_BIN" status --json --limit 1000)
is "$(echo "$json" | jq -r '.unused_indexes[] | select(.index == "idx_status_test_unused") | .scans')" 0 \
    "unused_indexes: a new index never scanned is listed"
is "$(echo "$json" | jq -r '[.unused_indexes[] | select(.index == "agents_pkey" or .index == "users_pkey")] | length')" 0 \
    "unused_indexes: unique indexes are not (they enforce constraints)"
is "$("$AB_BIN" status --json --limit 2 | jq -r '.tables | length')" 2 "--limit N bounds the lists"

# The oldest transaction: one held open.
ab_hold "SELECT 1;" "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
holder=$(q -c "SELECT pid FROM pg_stat_activity WHERE state = 'idle in transaction' LIMIT 1")
json=$("$AB_BIN" status --json)
is "$(echo "$json" | jq -r '.transactions.oldest_xact_pid')" "$holder" "transactions: the oldest open transaction's pid"
is "$(echo "$json" | jq -r '.connections[] | select(.state == "idle in transaction") | .this_database')" 1 \
    "connections: counted by state"
ab_release

# The embedded cluster's pgBackRest repository (made at its first start), then one backup.
is "$("$AB_BIN" status --json | jq -r '.backup.status')" "none (no backup in the repository)" \
    "backup: an empty repository has none"
"$AB_BIN" backup --type full >/dev/null 2>&1 || diag "agentbase backup failed"
json=$("$AB_BIN" status --json)
is "$(echo "$json" | jq -r '.backup.newest.type + " " + .backup.status')" "full ok" "backup: the newest backup, full"
like "$("$AB_BIN" backup list 2>&1)" "$(echo "$json" | jq -r '.backup.newest.label')" \
    "backup: its label is the one backup list shows"

# Errors.
out=$("$AB_BIN" status --jsn 2>&1); rc=$?
ok "$([ "$rc" = 2 ] && echo "$out" | grep -q "unknown or incomplete option '--jsn'" && echo 0)" "a bad flag exits 2 and names it"
out=$("$AB_BIN" status --limit 0 2>&1); rc=$?
ok "$([ "$rc" = 2 ] && echo "$out" | grep -q -- "--limit takes a number from 1 to 1000" && echo 0)" "a bad --limit exits 2"
"$AB_BIN" pg stop >/dev/null
out=$(env -u DATABASE_URL "$AB_BIN" status 2>&1); rc=$?
ok "$([ "$rc" = 1 ] && echo "$out" | grep -q 'is the embedded cluster running' && echo 0)" \
    "status with the cluster stopped exits 1 and says to start it"
ab_done
