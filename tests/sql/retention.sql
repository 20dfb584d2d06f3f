-- Retention by plan (0023): three tenants with data spread over 15 months (a request, an audit
-- row, a resolved hold and a month of ledger entries every 30 days, from 15 to 435 days old),
-- on plans that keep it for different times and one tenant shorter by its own setting.
-- retention_run() removes exactly what expired, drops a partition only when no tenant keeps
-- it, folds old ledger entries so that every wallet still equals its ledger, and a second run
-- removes nothing. Only the owner may run it.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(34);

\set ta '''23000000-0000-7000-8000-00000000000a'''
\set tb '''23000000-0000-7000-8000-00000000000b'''
\set tc '''23000000-0000-7000-8000-00000000000c'''

-- ---- settings ----------------------------------------------------------------------------
SELECT is(retention_problem('{"ai_requests": 30, "audit_logs": 3650}'), NULL, 'a retention setting of known kinds is valid');
SELECT is(retention_problem('{"prompts": 30}'), 'retention prompts: unknown kind (known: ai_requests, audit_logs, '
          'mcp_tool_executions, payloads, performance_metrics, rag_queries, token_holds, '
          'token_ledger, tool_executions, usage_metrics, workflow_executions)', 'an unknown kind is named with the known ones');
SELECT is(retention_problem('{"ai_requests": 0}'), 'retention ai_requests: must be a whole number of days from 1 to 36500',
          'zero days is refused');
SELECT is(retention_problem('{"ai_requests": 1.5}'), 'retention ai_requests: must be a whole number of days from 1 to 36500',
          'a fraction of a day is refused');
SELECT throws_ok($$UPDATE subscription_plans SET retention = '{"audit_logs": "long"}' WHERE level = 'pro'$$,
                 '23514', NULL, 'a plan''s retention is checked');

UPDATE subscription_plans SET retention = '{"ai_requests": 180, "audit_logs": 730}' WHERE level = 'pro';
UPDATE subscription_plans SET retention = '{"ai_requests": 30, "audit_logs": 90, "token_ledger": 60}' WHERE level = 'basic';
INSERT INTO tenants (id, slug, name, plan, settings) VALUES
  (:ta, 'ret-a', 'A', 'pro', '{"store_prompts": true}'),
  (:tb, 'ret-b', 'B', 'basic', '{}'),
  (:tc, 'ret-c', 'C', 'pro', '{"retention": {"ai_requests": 60}}');
SELECT throws_ok(format($$UPDATE tenants SET settings = '{"retention": {"ai_requests": 181}}' WHERE id = %L$$, :tc),
                 '22023', 'field settings: retention ai_requests: 181 days is longer than the plan''s 180 (a tenant may only shorten it)',
                 'a tenant cannot keep longer than its plan');
SELECT throws_ok(format($$UPDATE tenants SET settings = '{"retention": {"ai_requests": "x"}}' WHERE id = %L$$, :tc),
                 '22023', 'field settings: retention ai_requests: must be a whole number of days from 1 to 36500',
                 'and its setting is checked');
SELECT abtest.become(:tc);
SELECT lives_ok(format($$UPDATE tenants SET settings = '{"retention": {"ai_requests": 60}}' WHERE id = %L$$, :tc),
                'the service sets a tenant''s own shorter retention');
SELECT throws_ok(format($$UPDATE tenants SET settings = '{"retention": {"ai_requests": 200}}' WHERE id = %L$$, :tc),
                 '22023', NULL, 'but not a longer one');
SELECT abtest.unbecome();
SELECT is(ARRAY(SELECT kind || '=' || days FROM retention_policy()
                 WHERE tenant_id = :tc AND kind IN ('ai_requests', 'audit_logs', 'token_ledger', 'payloads') ORDER BY kind),
          '{ai_requests=60,audit_logs=730,payloads=30,token_ledger=365}',
          'a tenant keeps the shorter of its own and its plan''s, else the default');

-- ---- fifteen months of data ------------------------------------------------------------------
SET LOCAL ROLE agentbase_owner;  -- as agentbase maintain creates them
CREATE TEMP TABLE made AS SELECT ensure_monthly_partitions(t, 3, (now() - interval '16 months')::date) AS n
  FROM unnest(ARRAY['agentbase.ai_requests', 'agentbase.audit_logs', 'agentbase.token_ledger']::regclass[]) t;
RESET ROLE;
CREATE TEMP TABLE parts_before AS
SELECT p.part::text AS part, t AS parent, p.lower_bound, p.upper_bound
  FROM unnest(ARRAY['agentbase.ai_requests', 'agentbase.audit_logs', 'agentbase.token_ledger']::regclass[]) t,
       retention_partitions(t) p;

CREATE FUNCTION pg_temp.fill(t uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    u uuid := agentbase.uuid_v7();
    w uuid := agentbase.uuid_v7();
    v_at timestamptz;
    v_balance bigint := 0;
BEGIN
    INSERT INTO agentbase.users (tenant_id, id, email, username) VALUES (t, u, 'r@ret.test', 'r');
    INSERT INTO agentbase.token_wallets (tenant_id, id, user_id, balance, held) VALUES (t, w, u, 15 * 90, 10);
    FOR m IN 0 .. 14 LOOP
        v_at := now() - make_interval(days => 15 + 30 * m);
        INSERT INTO agentbase.ai_requests (tenant_id, provider, model, created_at, request_payload, response_payload)
        VALUES (t, 'p', 'm', v_at, '{"prompt": 1}', '{"answer": 1}');
        INSERT INTO agentbase.audit_logs (tenant_id, created_at, action, resource_type) VALUES (t, v_at, 'created', 'retention-test');
        INSERT INTO agentbase.token_holds (tenant_id, wallet_id, user_id, amount, status, created_at, expires_at, settled_at)
        VALUES (t, w, u, 10, 'settled', v_at, v_at + interval '10 minutes', v_at + interval '2 minutes');
    END LOOP;
    -- the ledger, oldest first: each month a credit of 100, then a call reserving 10 and
    -- settling it (release 10, debit 10); 45 days ago a reservation still held
    FOR m IN REVERSE 14 .. 0 LOOP
        v_at := now() - make_interval(days => 15 + 30 * m);
        v_balance := v_balance + 100;
        INSERT INTO agentbase.token_ledger (tenant_id, created_at, wallet_id, user_id, entry_type, amount, balance_after, held_after)
        VALUES (t, v_at, w, u, 'credit', 100, v_balance, 0),
               (t, v_at + interval '1 minute', w, u, 'reserve', 10, v_balance, 10);
        v_balance := v_balance - 10;
        INSERT INTO agentbase.token_ledger (tenant_id, created_at, wallet_id, user_id, entry_type, amount, balance_after, held_after)
        VALUES (t, v_at + interval '2 minutes', w, u, 'release', 10, v_balance + 10, 0),
               (t, v_at + interval '2 minutes', w, u, 'debit', 10, v_balance, 0);
        IF m = 1 THEN
            INSERT INTO agentbase.token_ledger (tenant_id, created_at, wallet_id, user_id, entry_type, amount, balance_after, held_after)
            VALUES (t, v_at + interval '1 hour', w, u, 'reserve', 10, v_balance, 10);
            INSERT INTO agentbase.token_holds (tenant_id, wallet_id, user_id, amount, status, created_at, expires_at)
            VALUES (t, w, u, 10, 'held', v_at + interval '1 hour', v_at + interval '2 hours');
        END IF;
    END LOOP;
END
$$;
SELECT pg_temp.fill(t) FROM unnest(ARRAY[:ta, :tb, :tc]::uuid[]) t;
INSERT INTO idempotency_keys (tenant_id, scope, key, expires_at) VALUES
  (:ta, 'test', 'gone', now() - interval '1 day'), (:ta, 'test', 'kept', now() + interval '1 day');

-- How many days old the rows of a table for tenant t are (15, 45, ... 435).
CREATE FUNCTION pg_temp.ages(p_table regclass, t uuid, p_where text DEFAULT 'true') RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE
    v int[];
BEGIN
    EXECUTE format('SELECT coalesce(array_agg(round(extract(epoch FROM now() - created_at) / 86400)::int ORDER BY created_at DESC), ''{}'')
                      FROM %s WHERE tenant_id = $1 AND (%s)', p_table, p_where) INTO v USING t;
    RETURN v;
END
$$;
-- Wallets of the three tenants whose balance or held amount is not their ledger's.
CREATE VIEW pg_temp.unequal AS
SELECT w.tenant_id FROM token_wallets w,
       LATERAL (SELECT coalesce(sum(CASE entry_type WHEN 'credit' THEN amount WHEN 'debit' THEN -amount
                                                    WHEN 'adjustment' THEN amount END), 0) AS owned,
                       coalesce(sum(CASE entry_type WHEN 'reserve' THEN amount WHEN 'release' THEN -amount END), 0) AS held
                  FROM token_ledger l WHERE l.tenant_id = w.tenant_id AND l.wallet_id = w.id) l
 WHERE w.tenant_id IN ('23000000-0000-7000-8000-00000000000a', '23000000-0000-7000-8000-00000000000b',
                       '23000000-0000-7000-8000-00000000000c')
   AND (w.balance <> l.owned OR w.held <> l.held);
SELECT is((SELECT count(*)::int FROM pg_temp.unequal), 0, 'before: every wallet equals its ledger');

-- ---- only the owner runs it ------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT throws_ok($$SELECT * FROM agentbase.retention_run()$$, '42501', NULL, 'the service cannot run retention');
SELECT abtest.unbecome();
SET LOCAL ROLE agentbase_service;
SELECT throws_ok($$SELECT * FROM agentbase.retention_run()$$, '42501', NULL, 'nor can its login role');
RESET ROLE;

-- ---- the run -----------------------------------------------------------------------------------
CREATE TEMP TABLE removed (kind text, rows_removed bigint, partitions_dropped integer);
CREATE FUNCTION pg_temp.run() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    LOOP  -- as agentbase maintain does, in small batches
        WITH r AS (INSERT INTO removed SELECT * FROM agentbase.retention_run(7) RETURNING rows_removed + partitions_dropped AS x)
        SELECT sum(x) INTO n FROM r;
        EXIT WHEN n = 0;
    END LOOP;
END
$$;
SELECT pg_temp.run();

SELECT is(pg_temp.ages('agentbase.ai_requests', :ta), '{15,45,75,105,135,165}', 'A (pro, 180 days) keeps its requests of 180 days');
SELECT is(pg_temp.ages('agentbase.ai_requests', :tb), '{15}', 'B (basic, 30 days) keeps 30 days');
SELECT is(pg_temp.ages('agentbase.ai_requests', :tc), '{15,45}', 'C (pro, its own 60 days) keeps 60 days');
SELECT is(pg_temp.ages('agentbase.ai_requests', :ta, 'request_payload IS NOT NULL OR response_payload IS NOT NULL'), '{15}',
          'prompts and answers are kept 30 days, their requests longer');
SELECT is(pg_temp.ages('agentbase.audit_logs', :ta, 'resource_type = ''retention-test'''),
          '{15,45,75,105,135,165,195,225,255,285,315,345,375,405,435}', 'A (pro) keeps its audit rows of two years');
SELECT is(pg_temp.ages('agentbase.audit_logs', :tb, 'resource_type = ''retention-test'''), '{15,45,75}', 'B (basic) 90 days');
SELECT is(pg_temp.ages('agentbase.token_holds', :tb), '{15,45}', 'resolved holds go after 30 days; a hold still held stays');
SELECT is((SELECT array_agg(key ORDER BY key) FROM idempotency_keys WHERE tenant_id = :ta), '{kept}',
          'idempotency keys past their window go');

SELECT is(ARRAY(SELECT b.part FROM parts_before b WHERE b.parent = 'agentbase.ai_requests'::regclass
                   AND to_regclass(b.part) IS NULL AND b.upper_bound > now() - interval '180 days'), '{}',
          'no partition of requests that a tenant keeps was dropped');
SELECT is(ARRAY(SELECT b.part FROM parts_before b WHERE b.parent = 'agentbase.ai_requests'::regclass
                   AND to_regclass(b.part) IS NOT NULL AND b.upper_bound <= now() - interval '180 days'), '{}',
          'every partition of requests that no tenant keeps was dropped');
SELECT is(ARRAY(SELECT b.part FROM parts_before b WHERE b.parent = 'agentbase.audit_logs'::regclass
                   AND to_regclass(b.part) IS NULL), '{}', 'no audit partition was dropped: A keeps them all');
SELECT is((SELECT sum(partitions_dropped)::int FROM removed WHERE kind = 'ai_requests'),
          (SELECT count(*)::int FROM parts_before WHERE parent = 'agentbase.ai_requests'::regclass
              AND upper_bound <= now() - interval '180 days'), 'the run counts the partitions it dropped');

SELECT is((SELECT count(*)::int FROM pg_temp.unequal), 0, 'after: every wallet still equals its ledger');
SELECT is(pg_temp.ages('agentbase.token_ledger', :tb, 'source IS DISTINCT FROM ''retention'''),
          '{15,15,15,15,45,45,45,45,45}', 'B (60 days) keeps the entries of its 60 days');
SELECT is((SELECT ARRAY[amount, balance_after, held_after, (metadata #>> '{carried_forward,entries}')::bigint]
             FROM token_ledger WHERE tenant_id = :tb AND source = 'retention'),
          ARRAY[13 * 90, 13 * 90, 0, 13 * 4]::bigint[], 'and carries the 52 entries before forward as one, with their sum');
SELECT is((SELECT count(*)::int FROM token_ledger WHERE tenant_id = :ta AND source = 'retention'), 1,
          'A (365 days) carries forward one entry too');
SELECT is((SELECT sum(rows_removed)::int FROM removed WHERE kind = 'token_ledger'), (52 - 1) + 2 * (12 - 1),
          'the run counts the ledger entries it folded away');
SELECT is(ARRAY(SELECT b.part FROM parts_before b WHERE b.parent = 'agentbase.token_ledger'::regclass
                   AND to_regclass(b.part) IS NOT NULL AND b.upper_bound <= now() - interval '365 days'
                   AND NOT EXISTS (SELECT 1 FROM token_ledger l WHERE l.created_at >= b.lower_bound
                                      AND l.created_at < b.upper_bound)), '{}',
          'the ledger partitions emptied by the fold are dropped');
SELECT is((SELECT sum(partitions_dropped)::int FROM removed WHERE kind = 'token_ledger'),
          (SELECT count(*)::int FROM parts_before b WHERE b.parent = 'agentbase.token_ledger'::regclass
              AND b.upper_bound <= now() - interval '365 days'
              AND NOT (now() - interval '375 days' + interval '2 minutes' >= b.lower_bound
                       AND now() - interval '375 days' + interval '2 minutes' < b.upper_bound)),
          'all of them but the one that holds the entries carried forward');

-- ---- again -----------------------------------------------------------------------------------
DELETE FROM removed;
SELECT pg_temp.run();
SELECT is((SELECT sum(rows_removed + partitions_dropped)::int FROM removed), 0, 'a second run removes nothing');
SELECT is((SELECT count(*)::int FROM token_ledger WHERE tenant_id = :tb AND source = 'retention'), 1,
          'and folds nothing again');

SELECT * FROM finish();
ROLLBACK;
