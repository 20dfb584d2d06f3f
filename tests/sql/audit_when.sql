-- Audit triggers that skip counter updates (0028): each compares every column of its table
-- but the ignored ones (kept in its comment), none makes jsonb documents of the rows, a
-- column added without the trigger made again is found; an update of counters only writes
-- no audit row, an update of anything else writes one, on each kind of counter row the
-- accounting batch writes back (wallets, quotas, budgets, plan counters) and on an agent.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(14);

\set ta '''a0000028-0000-7000-8000-00000000000a'''
SELECT abtest.fixture_0002_tenancy(:ta);
SELECT abtest.fixture_0003_agents(:ta);
SELECT abtest.fixture_0004_accounting(:ta);

-- The tables whose trg_audit_update leaves columns out, with the columns it compares, the
-- columns it ignores (from its comment) and the columns of the table that are neither.
CREATE FUNCTION pg_temp.audit_columns()
RETURNS TABLE (tbl regclass, compared text[], ignored text[], missing text[])
LANGUAGE sql AS $$
    SELECT t.tgrelid::regclass, x.compared, x.ignored,
           ARRAY(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = t.tgrelid AND a.attnum > 0 AND NOT a.attisdropped
                    AND a.attname <> ALL (x.compared) AND a.attname <> ALL (x.ignored)
                  ORDER BY a.attnum)
      FROM pg_trigger t
     CROSS JOIN LATERAL (SELECT
         ARRAY(SELECT trim(both '"' from m[1])
                 FROM regexp_matches(pg_get_triggerdef(t.oid), 'old\.("[^"]+"|[a-z_0-9]+) IS DISTINCT FROM', 'g') m) AS compared,
         (regexp_match(obj_description(t.oid, 'pg_trigger'), 'only (\{[^}]*\})'))[1]::text[] AS ignored) x
     WHERE t.tgname = 'trg_audit_update' AND obj_description(t.oid, 'pg_trigger') LIKE 'audits an update unless%'
$$;

SELECT is((SELECT count(*)::int FROM pg_trigger
            WHERE tgname = 'trg_audit_update' AND pg_get_triggerdef(oid) LIKE '%to_jsonb%'), 0,
          'no audit trigger makes jsonb documents of the rows to decide');
SELECT bag_eq($$SELECT tbl::text FROM pg_temp.audit_columns()$$,
              $$VALUES ('agents'), ('api_keys'), ('containers'),
                       ('conversations'), ('generated_content'),
                       ('mcp_server_configs'), ('projects'), ('quotas'),
                       ('replication_status'), ('tenant_quotas'),
                       ('token_wallets'), ('user_budgets')$$,
              'the twelve tables that leave counters out of the audit say which');
SELECT is(ARRAY(SELECT tbl::text || ': ' || missing::text FROM pg_temp.audit_columns()
                 WHERE cardinality(missing) > 0 ORDER BY 1), '{}',
          'every column of those tables is compared or ignored');
SELECT is((SELECT ignored FROM pg_temp.audit_columns() WHERE tbl = 'agentbase.token_wallets'::regclass),
          '{balance,held,overage,lifetime_credited,lifetime_debited,last_monthly_reset_at,updated_at}',
          'the wallets ignore their balances, as before');

-- The check can fail: a column added without attach_audit_update is found.
SAVEPOINT added;
ALTER TABLE quotas ADD COLUMN audit_probe integer;
SELECT is(ARRAY(SELECT tbl::text || ': ' || missing::text FROM pg_temp.audit_columns()
                 WHERE cardinality(missing) > 0), '{"quotas: {audit_probe}"}',
          'a column added to such a table and not to its trigger is reported');
ROLLBACK TO SAVEPOINT added;

-- Counters only: no audit row; anything else: one.
CREATE FUNCTION pg_temp.audited(p_type text, p_id uuid) RETURNS integer LANGUAGE sql AS $$
    SELECT count(*)::int FROM audit_logs WHERE action = p_type || '.updated' AND resource_id = p_id::text
$$;
SELECT id AS wa FROM token_wallets WHERE tenant_id = :ta \gset
SELECT id AS qa FROM quotas WHERE tenant_id = :ta \gset
SELECT id AS ba FROM user_budgets WHERE tenant_id = :ta \gset
SELECT id AS pa FROM tenant_quotas WHERE tenant_id = :ta \gset
SELECT id AS aa FROM agents WHERE tenant_id = :ta AND name LIKE 'fixture agent %' LIMIT 1 \gset

UPDATE token_wallets SET balance = balance + 5, held = held + 1, lifetime_credited = lifetime_credited + 5
 WHERE id = :'wa';
UPDATE quotas SET tokens_used_today = tokens_used_today + 7, requests_today = requests_today + 1,
                  tokens_reserved = 3 WHERE id = :'qa';
UPDATE user_budgets SET spent_usd = spent_usd + 0.5, reserved_usd = 0.25 WHERE id = :'ba';
UPDATE tenant_quotas SET used_value = used_value + 9, reserved_value = 2 WHERE id = :'pa';
UPDATE agents SET current_load = current_load + 1 WHERE id = :'aa';
SELECT is(pg_temp.audited('token_wallet', :'wa') + pg_temp.audited('quota', :'qa')
          + pg_temp.audited('user_budget', :'ba') + pg_temp.audited('tenant_quota', :'pa')
          + pg_temp.audited('agent', :'aa'), 0,
          'updates of counters only write no audit row');

UPDATE token_wallets SET monthly_allocation = 1234, balance = balance + 1 WHERE id = :'wa';
SELECT is(pg_temp.audited('token_wallet', :'wa'), 1, 'a wallet''s allocation changed: audited');
UPDATE quotas SET daily_token_limit = 4321 WHERE id = :'qa';
SELECT is(pg_temp.audited('quota', :'qa'), 1, 'a quota''s limit changed: audited');
UPDATE user_budgets SET amount_usd = 99 WHERE id = :'ba';
SELECT is(pg_temp.audited('user_budget', :'ba'), 1, 'a budget''s amount changed: audited');
UPDATE tenant_quotas SET limit_value = 77 WHERE id = :'pa';
SELECT is(pg_temp.audited('tenant_quota', :'pa'), 1, 'a plan counter''s limit changed: audited');
UPDATE agents SET description = 'audited' WHERE id = :'aa';
SELECT is(pg_temp.audited('agent', :'aa'), 1, 'an agent''s description changed: audited');
-- A change to NULL and from NULL is a change.
UPDATE quotas SET daily_token_limit = NULL WHERE id = :'qa';
UPDATE quotas SET daily_token_limit = 10 WHERE id = :'qa';
SELECT is(pg_temp.audited('quota', :'qa'), 3, 'a limit set to NULL and back: two more rows');
-- An update that changes nothing is not audited, as before.
UPDATE quotas SET daily_token_limit = 10 WHERE id = :'qa';
SELECT is(pg_temp.audited('quota', :'qa'), 3, 'an update that changes nothing writes no row');
SELECT bag_eq(format($$SELECT new_values ->> 'daily_token_limit' FROM audit_logs
                        WHERE action = 'quota.updated' AND resource_id = %L$$, :'qa'),
              $$VALUES ('4321'), (NULL), ('10')$$, 'the audit rows hold the new values');

SELECT * FROM finish();
ROLLBACK;
