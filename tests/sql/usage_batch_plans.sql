-- The accounting batch reads the rows it needs by their keys, however the tables have grown
-- since its plans were cached (0030). The first batches of a session cache their plans
-- while the tables are small (as on a new database); then the tenant gets thousands of
-- holds and users, unseen by those plans (no ANALYZE runs inside this transaction); then
-- one more batch settles a hold: it must read a handful of holds and users, not every one
-- of the tenant's. Before 0030, the UPDATE of the resolved holds hashed the batch and read
-- every hold, and the users' lookup every user (bench/usage.sh saw 4 ms a batch).
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(4);

\set ta '''a0000031-0000-7000-8000-00000000000a'''
SELECT abtest.fixture_0002_tenancy(:ta);
SELECT id AS ua FROM users WHERE tenant_id = :ta ORDER BY created_at, id LIMIT 1 \gset
SELECT adjust_user_tokens(:'ua', 100000000, 'credit');
SELECT set_config('abtest.user', :'ua', true);
SELECT id AS wa FROM token_wallets WHERE tenant_id = :ta AND user_id = :'ua' \gset
SELECT abtest.usage_provider('plans-test');
CREATE FUNCTION pg_temp.op(p_op text, p_args jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT abtest.usage_op('a0000031-0000-7000-8000-00000000000a', p_op, p_args)
$$;
CREATE FUNCTION pg_temp.reserve() RETURNS jsonb LANGUAGE sql AS $$
    SELECT abtest.usage_reserve('a0000031-0000-7000-8000-00000000000a', current_setting('abtest.user')::uuid,
                                'plans-test')
$$;
-- A batch that reserves once and settles the hold the previous call reserved.
CREATE FUNCTION pg_temp.cycle(p_hold uuid) RETURNS jsonb LANGUAGE sql AS $$
    SELECT agentbase.usage_apply(jsonb_build_array(pg_temp.reserve()) || CASE WHEN p_hold IS NULL THEN '[]'::jsonb
        ELSE jsonb_build_array(pg_temp.op('settle', jsonb_build_object('id', p_hold, 'input_tokens', 80,
                                                                         'output_tokens', 20))) END)
$$;
CREATE TEMP TABLE answers (n int PRIMARY KEY, res jsonb);
CREATE FUNCTION pg_temp.cycles(p_n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_hold uuid := (SELECT (res #>> '{0,body,id}')::uuid FROM answers ORDER BY n DESC LIMIT 1);
    v_next int := (SELECT coalesce(max(n), 0) + 1 FROM answers);
    v_res jsonb;
BEGIN
    FOR i IN v_next .. v_next + p_n - 1 LOOP
        v_res := pg_temp.cycle(v_hold);
        INSERT INTO answers VALUES (i, v_res);
        v_hold := (v_res #>> '{0,body,id}')::uuid;
    END LOOP;
END
$$;
-- What this transaction has read of a table so far, by any scan.
CREATE FUNCTION pg_temp.read(p_table regclass) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables WHERE relid = p_table
$$;

-- Enough calls for every statement of the batch to have its plan cached.
SELECT pg_temp.cycles(12);

-- 3,000 settled holds and 2,000 users more for the tenant.
INSERT INTO token_holds (tenant_id, wallet_id, user_id, amount, estimated_cost, expires_at, status, settled_at)
SELECT :ta, :'wa', :'ua', 10, 0, now() + interval '1 hour', 'settled', now() FROM generate_series(1, 3000);
INSERT INTO users (tenant_id, email, username)
SELECT :ta, 'p' || n || '@plans.test', 'p' || n FROM generate_series(1, 2000) n;

SELECT pg_temp.read('token_holds') AS holds0, pg_temp.read('users') AS users0 \gset
SELECT pg_temp.cycles(1);
SELECT pg_temp.read('token_holds') AS holds1, pg_temp.read('users') AS users1 \gset

SELECT is((SELECT ARRAY[res #>> '{0,status}', res #>> '{1,status}'] FROM answers ORDER BY n DESC LIMIT 1),
          ARRAY['201', '200'], 'the last batch reserved and settled');
SELECT is((SELECT status FROM token_holds
            WHERE id = (SELECT (res #>> '{0,body,id}')::uuid FROM answers WHERE n = 12)),
          'settled', 'the hold it settled is settled');
SELECT cmp_ok((:holds1 - :holds0)::bigint, '<', 100::bigint,
              format('the batch read %s holds of the tenant''s %s', :holds1 - :holds0,
                     (SELECT count(*) FROM token_holds WHERE tenant_id = :ta)));
SELECT cmp_ok((:users1 - :users0)::bigint, '<', 100::bigint,
              format('and %s users of its %s', :users1 - :users0,
                     (SELECT count(*) FROM users WHERE tenant_id = :ta)));

SELECT * FROM finish();
ROLLBACK;
