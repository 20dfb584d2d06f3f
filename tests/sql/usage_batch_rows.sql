-- The accounting batch's rows written as sets (0027, 0030): new holds and ai_requests rows
-- inserted at the end of the tenant's batch, resolved holds written at its end, and a hold
-- resolved earlier in the same batch read as resolved: a settle retried within one batch is
-- replayed (charged once), a release after it and a settle after a release are refused,
-- exactly as when each operation comes in a batch of its own.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(17);

\set ta '''a0000030-0000-7000-8000-00000000000a'''
SELECT abtest.fixture_0002_tenancy(:ta);
SELECT id AS ua FROM users WHERE tenant_id = :ta ORDER BY created_at, id LIMIT 1 \gset
SELECT adjust_user_tokens(:'ua', 100000, 'credit');
SELECT abtest.usage_provider('rows-test');
CREATE FUNCTION pg_temp.op(p_op text, p_args jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT abtest.usage_op('a0000030-0000-7000-8000-00000000000a', p_op, p_args)
$$;
CREATE FUNCTION pg_temp.reserve() RETURNS jsonb LANGUAGE sql AS $$
    SELECT abtest.usage_reserve('a0000030-0000-7000-8000-00000000000a', current_setting('abtest.user')::uuid,
                                'rows-test')
$$;
SELECT set_config('abtest.user', :'ua', true);

-- One batch, two reservations: both holds are there afterwards, as their answers say.
CREATE TEMP TABLE r AS SELECT usage_apply(jsonb_build_array(pg_temp.reserve(), pg_temp.reserve())) AS res;
SELECT id AS hx FROM token_holds WHERE id = (SELECT (res #>> '{0,body,id}')::uuid FROM r) \gset
SELECT id AS hy FROM token_holds WHERE id = (SELECT (res #>> '{1,body,id}')::uuid FROM r) \gset
SELECT is((SELECT count(*)::int FROM token_holds WHERE tenant_id = :ta AND status = 'held' AND amount = 150
              AND expires_at = (SELECT (res #>> '{0,body,expires_at}')::timestamptz FROM r)), 2,
          'a batch''s two reservations are held, as answered');
SELECT is((SELECT held FROM token_wallets WHERE user_id = :'ua'), 300::bigint, 'the wallet holds both');
SELECT is((SELECT count(*)::int FROM token_ledger WHERE user_id = :'ua' AND entry_type = 'reserve'), 2,
          'and its ledger says so');

-- One batch: settle x, settle x again, release x; release y, settle y.
CREATE TEMP TABLE s AS
SELECT usage_apply(jsonb_build_array(
    pg_temp.op('settle', jsonb_build_object('id', :'hx', 'input_tokens', 80, 'output_tokens', 20)),
    pg_temp.op('settle', jsonb_build_object('id', :'hx', 'input_tokens', 80, 'output_tokens', 20)),
    pg_temp.op('release', jsonb_build_object('id', :'hx')),
    pg_temp.op('release', jsonb_build_object('id', :'hy')),
    pg_temp.op('settle', jsonb_build_object('id', :'hy', 'input_tokens', 1, 'output_tokens', 1)))) AS res;
SELECT is((SELECT ARRAY[res #>> '{0,status}', res #>> '{1,status}', res #>> '{2,status}',
                        res #>> '{3,status}', res #>> '{4,status}'] FROM s),
          ARRAY['200', '200', '409', '200', '409'], 'settled, replayed, refused; released, refused');
SELECT is((SELECT res #>> '{1,replayed}' FROM s), 'true', 'the second settle is a replay');
SELECT is((SELECT (res -> 1 -> 'body') - 'replayed' FROM s), (SELECT res -> 0 -> 'body' FROM s),
          'with the first one''s answer');
SELECT is((SELECT res #>> '{2,body,error,code}' FROM s), 'reservation_settled', 'a release after the settle: 409');
SELECT is((SELECT res #>> '{4,body,error,code}' FROM s), 'reservation_released', 'a settle after the release: 409');
SELECT is((SELECT count(*)::int FROM ai_requests WHERE reservation_id = :'hx'), 1, 'one ai_requests row for x');
SELECT is((SELECT ai_request_id FROM token_holds WHERE id = :'hx'),
          (SELECT (res #>> '{0,body,ai_request_id}')::uuid FROM s), 'the hold names it');
SELECT is((SELECT count(*)::int FROM ai_requests WHERE reservation_id = :'hy'), 0, 'none for y');
SELECT is((SELECT ARRAY[status, (settled_at IS NOT NULL)::text, (released_at IS NULL)::text]
             FROM token_holds WHERE id = :'hx'), ARRAY['settled', 'true', 'true'], 'x is settled');
SELECT is((SELECT ARRAY[status, (settled_at IS NULL)::text, (released_at IS NOT NULL)::text, outcome #>> '{body,status}']
             FROM token_holds WHERE id = :'hy'), ARRAY['released', 'true', 'true', 'released'],
          'y is released, with its answer');
SELECT is((SELECT ARRAY[balance, held] FROM token_wallets WHERE user_id = :'ua'), ARRAY[99900, 0]::bigint[],
          'the wallet paid x''s 100 tokens once and holds nothing');
SELECT is((SELECT count(*)::int FROM token_ledger WHERE user_id = :'ua' AND entry_type = 'debit'), 1,
          'one debit in the ledger');
SELECT is((SELECT count(*)::int FROM token_ledger WHERE user_id = :'ua' AND entry_type = 'release'), 2,
          'two releases of holds');
SELECT is((SELECT sum(total_tokens)::int FROM cost_tracking WHERE tenant_id = :ta AND period_type = 'hourly'), 100,
          'the rollup counts x once');

SELECT * FROM finish();
ROLLBACK;
