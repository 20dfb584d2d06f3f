# The ledger invariant under concurrency: 8 sessions make thousands of random
# adjust_user_tokens calls (every direction, amounts that are often refused, repeated
# idempotency keys) on three users, as the service role inside one tenant. Afterwards,
# for every wallet: the ledger sums to the balance and the held amount, available is never
# negative, and each idempotency key has exactly one ledger entry.
source "$(dirname "$0")/../lib.sh"
plan 7

t=00000000-0000-7000-8000-0000000c0001
q -c "INSERT INTO agentbase.tenants (id, slug, name) VALUES ('$t', 'ledger-race', 'Ledger race')" >/dev/null
for u in 1 2 3; do
    q -c "INSERT INTO agentbase.users (tenant_id, id, email, username)
          VALUES ('$t', '00000000-0000-7000-8000-0000000c010$u', 'u$u@race.test', 'u$u')" >/dev/null
done
# Refusals are errors; pgbench would end a client at the first one. This wrapper turns the
# two expected refusals into a result and counts them.
q -c "CREATE TABLE IF NOT EXISTS abtest.refusals (code text);
      GRANT INSERT ON abtest.refusals TO agentbase_app;
      CREATE OR REPLACE FUNCTION abtest.try_adjust(p_user uuid, p_amount bigint, p_dir text, p_key text)
      RETURNS void LANGUAGE plpgsql AS \$\$
      BEGIN
          PERFORM agentbase.adjust_user_tokens(p_user, p_amount, p_dir, p_idempotency_key => p_key);
      EXCEPTION WHEN SQLSTATE 'AB001' OR SQLSTATE 'AB002' THEN
          INSERT INTO abtest.refusals VALUES (SQLSTATE);
      END \$\$" >/dev/null
script=$(mktemp)
trap 'rm -f "$script"; q -c "DELETE FROM agentbase.tenants WHERE id = '"'$t'"'; DROP TABLE abtest.refusals" >/dev/null; ab_cleanup' EXIT
cat >"$script" <<SQL
\set u random(1, 3)
\set d random(1, 5)
\set a random(1, 60)
\set k random(1, 300)
BEGIN;
SET LOCAL ROLE agentbase_app;
SELECT agentbase.set_request_context('$t');
SELECT abtest.try_adjust(('00000000-0000-7000-8000-0000000c010' || :u)::uuid, :a,
         (ARRAY['credit', 'debit', 'reserve', 'release', 'adjustment'])[:d],
         CASE WHEN :k <= 100 THEN 'race-' || :k END);
COMMIT;
SQL
out=$(timeout 120 pgbench -n -c 8 -j 2 -t 400 -f "$script" 2>&1)
like "$out" "number of transactions actually processed: 3200/3200" "8 sessions made 3200 calls"
entries=$(q -c "SELECT count(*) FROM agentbase.token_ledger WHERE tenant_id = '$t'")
refused=$(q -c "SELECT count(*) FROM abtest.refusals")
ok "$([ "$entries" -gt 1000 ] && echo 0 || echo 1)" "most calls wrote a ledger entry ($entries)"
ok "$([ "$refused" -gt 10 ] && echo 0 || echo 1)" "and many were refused for lack of tokens ($refused)"
is "$(q -c "SELECT count(*) FROM agentbase.token_wallets w WHERE w.tenant_id = '$t' AND w.balance <>
        coalesce((SELECT sum(CASE entry_type WHEN 'credit' THEN amount WHEN 'debit' THEN -amount
                                 WHEN 'adjustment' THEN amount ELSE 0 END)
                    FROM agentbase.token_ledger l WHERE l.wallet_id = w.id), 0)")" 0 \
    "every wallet's balance equals the sum of its ledger"
is "$(q -c "SELECT count(*) FROM agentbase.token_wallets w WHERE w.tenant_id = '$t' AND w.held <>
        coalesce((SELECT sum(CASE entry_type WHEN 'reserve' THEN amount WHEN 'release' THEN -amount
                                 ELSE 0 END)
                    FROM agentbase.token_ledger l WHERE l.wallet_id = w.id), 0)")" 0 \
    "every wallet's held amount equals its reserves minus releases"
is "$(q -c "SELECT count(*) FROM agentbase.token_ledger WHERE tenant_id = '$t' AND balance_after < held_after")" 0 \
    "available never went below zero at any entry"
is "$(q -c "SELECT count(*) FROM (SELECT idempotency_key FROM agentbase.token_ledger
             WHERE tenant_id = '$t' AND idempotency_key IS NOT NULL
             GROUP BY idempotency_key HAVING count(*) > 1) x")" 0 \
    "each idempotency key has exactly one ledger entry"
diag "$(q -c "SELECT count(*) || ' ledger entries, ' || count(DISTINCT idempotency_key) || ' keyed'
              FROM agentbase.token_ledger WHERE tenant_id = '$t'")"
ab_done
