# agentbase maintain retention end to end, on a server whose TimeZone is Pacific/Kiritimati
# (UTC+14): two tenants with a request every 30 days for 15 months, on plans keeping 30 and
# 180 days; the run prints per kind what it removed (rows deleted inside partitions still
# kept, partitions dropped whole), leaves exactly each tenant's days, and a second run removes
# nothing. The service's login cannot run it. Partitions `maintain partitions` creates on that
# server hold UTC months.
source "$(dirname "$0")/../lib.sh"
plan 14

ab_home
ab_pg_start
"$AB_BIN" migrate up >/dev/null && "$AB_BIN" seed >/dev/null
q -c "ALTER SYSTEM SET timezone = 'Pacific/Kiritimati'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 50); do [ "$(q -c "SHOW TimeZone")" = Pacific/Kiritimati ] && break; sleep 0.2; done
is "$(q -c "SHOW TimeZone")" "Pacific/Kiritimati" "the server's TimeZone is UTC+14"

like "$("$AB_BIN" maintain --help)" "retention    remove what each tenant's plan" "maintain --help lists retention"

# ---- fifteen months of requests ----------------------------------------------------------------
q >/dev/null <<'SQL'
UPDATE agentbase.subscription_plans SET retention = '{"ai_requests": 30}' WHERE level = 'basic';
UPDATE agentbase.subscription_plans SET retention = '{"ai_requests": 180}' WHERE level = 'pro';
INSERT INTO agentbase.tenants (slug, name, plan) VALUES ('ret-basic', 'Basic', 'basic'), ('ret-pro', 'Pro', 'pro');
SET ROLE agentbase_owner;
SELECT agentbase.ensure_monthly_partitions('agentbase.ai_requests', 3, (now() - interval '16 months')::date);
RESET ROLE;
INSERT INTO agentbase.ai_requests (tenant_id, provider, model, created_at)
SELECT t.id, 'p', 'm', now() - make_interval(days => 15 + 30 * m)
  FROM agentbase.tenants t, generate_series(0, 14) m WHERE t.slug IN ('ret-basic', 'ret-pro');
SQL
# what should go: the rows past their tenant's days, of which those in partitions no tenant
# keeps (wholly older than 180 days) go with their partition
expired=$(q -c "SELECT count(*) FROM agentbase.ai_requests r JOIN agentbase.tenants t ON t.id = r.tenant_id
                 WHERE r.created_at < now() - make_interval(days => CASE t.slug WHEN 'ret-basic' THEN 30 ELSE 180 END)")
parts=$(q -c "SELECT count(*) FROM agentbase.retention_partitions('agentbase.ai_requests') WHERE upper_bound <= now() - interval '180 days'")
in_parts=$(q -c "SELECT count(*) FROM agentbase.retention_partitions('agentbase.ai_requests') p, agentbase.ai_requests r
                  WHERE p.upper_bound <= now() - interval '180 days' AND r.tableoid = p.part")
is "$expired/$parts" "23/$parts" "23 requests (14 and 9) are past their tenant's days ($parts partitions wholly past everyone's)"

# ---- the run --------------------------------------------------------------------------------
out=$("$AB_BIN" maintain retention 2>&1); rc=$?
is "$rc" 0 "maintain retention succeeds"
like "$out" "retention    ai_requests          $((expired - in_parts)) rows, $parts partitions" \
    "and says what went: the rows inside kept partitions, and the partitions dropped"
like "$out" "retention    token_ledger         0 rows, 0 partitions" "and every other kind, with nothing to remove"
is "$(echo "$out" | tail -n 1)" "retention    $((expired - in_parts + parts))" "and the total"
is "$(q -c "SELECT string_agg(t.slug || '=' || n, ',' ORDER BY t.slug) FROM (SELECT tenant_id, count(*) n FROM agentbase.ai_requests
             WHERE provider = 'p' GROUP BY 1) r JOIN agentbase.tenants t ON t.id = r.tenant_id")" \
    "ret-basic=1,ret-pro=6" "each tenant keeps exactly its days: 30 (one request) and 180 (six)"

out=$("$AB_BIN" maintain retention 2>&1)
is "$(echo "$out" | grep -vc ' 0 rows, 0 partitions$')" 1 "a second run removes nothing"
is "$(echo "$out" | tail -n 1)" "retention    0" "in all"

# ---- only the owner ---------------------------------------------------------------------------
out=$(psql -X -At -U agentbase_service -c "SET ROLE agentbase_app" -c "SELECT * FROM agentbase.retention_run()" 2>&1)
like "$out" "permission denied for function retention_run" "the service (its login, as agentbase_app) cannot run retention"

# ---- partitions on a server at UTC+14 --------------------------------------------------------------
last=$(q -c "SELECT part FROM agentbase.retention_partitions('agentbase.audit_logs') ORDER BY upper_bound DESC LIMIT 1")
q -c "DROP TABLE $last"
"$AB_BIN" maintain partitions >/dev/null
is "$(q -c "SELECT lower_bound = date_trunc('month', now(), 'UTC') + interval '3 months'
                    AND upper_bound = date_trunc('month', now(), 'UTC') + interval '4 months'
               FROM agentbase.retention_partitions('agentbase.audit_logs') WHERE part = to_regclass('$last')")" t \
   "maintain partitions there makes the month again from UTC's midnight to UTC's midnight"
# ---- the service on that server answers in UTC ---------------------------------------------------------
key=$("$AB_BIN" keys create --tenant ret-pro --scopes admin 2>/dev/null)
ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=2 AGENTBASE_RATE_LIMIT=0
out=$(curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
           -d '{"name": "tz", "model_provider": "openai", "model_name": "gpt-4o-mini"}' "$url/v1/agents")
like "$out" '"created_at": ?"[0-9-]+T[0-9:.]+\+00:00"' "the service renders times in UTC on a server at UTC+14"
is "$(echo "$out" | grep -c '+14:00')" 0 "and none in the server's zone"
kill "$server"; wait "$server" 2>/dev/null
ab_done
