-- pgTAP: allocation (0017). The seeds' own SQL, written as they write it: the trigger
-- function by its seed name, adjust_user_tokens and auto_allocate_tokens_for_level called
-- by name and by position with uuids and signed amounts, the ai_executions cleanup; users'
-- levels as foreign keys; usage_metrics' keys and indexes; agent leases (the strategy, the
-- slot count, release, expiry, the agents' load) and what the service's roles may do with
-- them; the base seed's default tenant and token policies.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(93);

\set ta '''a1700000-0000-7000-8000-00000000000a'''
\set tb '''b1700000-0000-7000-8000-00000000000b'''
\set ua '''a1700000-0000-7000-8000-0000000000e1'''
\set ub '''a1700000-0000-7000-8000-0000000000e2'''
\set uv '''a1700000-0000-7000-8000-0000000000f1'''
\set ux '''b1700000-0000-7000-8000-0000000000e1'''
\set gd '''a1700000-0000-7000-8000-0000000000a1'''
\set gp1 '''a1700000-0000-7000-8000-0000000000a2'''
\set gp2 '''a1700000-0000-7000-8000-0000000000a3'''
\set gs '''a1700000-0000-7000-8000-0000000000a4'''
\set gr '''a1700000-0000-7000-8000-0000000000a5'''

INSERT INTO tenants (id, slug, name) VALUES (:ta, 'alloc-a', 'A'), (:tb, 'alloc-b', 'B');
INSERT INTO users (tenant_id, id, email, role) VALUES
    (:ta, :ua, 'ua@alloc.test', 'user'), (:ta, :ub, 'ub@alloc.test', 'user'),
    (:ta, :uv, 'uv@alloc.test', 'viewer'), (:tb, :ux, 'ux@alloc.test', 'user');
INSERT INTO agents (tenant_id, id, name, model_provider, model_name, agent_type) VALUES
    (:ta, :gd, 'dedicated', 'openai', 'gpt-4o', 'assistant'), (:ta, :gp1, 'pool 1', 'openai', 'gpt-4o', 'assistant'),
    (:ta, :gp2, 'pool 2', 'openai', 'gpt-4o', 'assistant'), (:ta, :gs, 'shared', 'openai', 'gpt-4o', 'assistant'),
    (:ta, :gr, 'researcher', 'openai', 'gpt-4o', 'researcher');

-- Acts in tenant A as a user with a role (NULL: a service key, as admin).
CREATE FUNCTION pg_temp.act(p_user uuid, p_role text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM abtest.become('a1700000-0000-7000-8000-00000000000a');
    PERFORM agentbase.set_request_context('a1700000-0000-7000-8000-00000000000a', 'api_key', 'alloc-test',
                                          NULL, NULL, NULL, false, p_user, p_role, false);
END
$$;

-- ------------------------------------------------------------------------------------
-- update_updated_at_column(): the seed's trigger SQL works as written
-- ------------------------------------------------------------------------------------
SELECT has_function('agentbase', 'update_updated_at_column', ARRAY[]::text[], 'update_updated_at_column() exists');
SELECT is((SELECT prosrc FROM pg_proc WHERE oid = 'agentbase.update_updated_at_column()'::regprocedure),
          (SELECT prosrc FROM pg_proc WHERE oid = 'agentbase.touch_updated_at()'::regprocedure),
          'it has touch_updated_at''s body: one function under two names');
CREATE TABLE pg_temp.seed_things (id int PRIMARY KEY, name text, updated_at timestamptz DEFAULT now());
CREATE TRIGGER update_seed_things_updated_at BEFORE UPDATE ON seed_things
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
INSERT INTO seed_things VALUES (1, 'a', '2001-01-01');
UPDATE seed_things SET name = 'b';
SELECT is((SELECT updated_at FROM seed_things), now(), 'the seed''s CREATE TRIGGER ... update_updated_at_column() keeps updated_at');

-- ------------------------------------------------------------------------------------
-- users.level: a plan level
-- ------------------------------------------------------------------------------------
SELECT fk_ok('agentbase', 'users', ARRAY['level'], 'agentbase', 'subscription_plans', ARRAY['level'], 'users.level -> subscription_plans.level');
SELECT throws_ok(format($$INSERT INTO users (tenant_id, email, level) VALUES (%L, 'gold@alloc.test', 'gold')$$, :ta),
                 '23503', NULL, 'a user cannot be on a level that no plan has (gold)');
SELECT throws_ok(format($$UPDATE users SET level = 'platinum' WHERE id = %L$$, :ua), '23503', NULL,
                 'nor be moved to one');
SELECT is(ARRAY(SELECT level FROM subscription_plans ORDER BY sort_order),
          ARRAY['free', 'basic', 'starter', 'pro', 'premium', 'enterprise'], 'the six levels are rows');
SELECT throws_ok($$DELETE FROM subscription_plans WHERE level = 'free'$$, '23503', NULL,
                 'a level that users are on cannot be deleted');

-- ------------------------------------------------------------------------------------
-- usage_metrics: keys, indexes, period_end
-- ------------------------------------------------------------------------------------
SELECT fk_ok('agentbase', 'usage_metrics', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'usage_metrics -> users');
SELECT fk_ok('agentbase', 'usage_metrics', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'usage_metrics -> agents');
SELECT has_column('agentbase', 'usage_metrics', 'period_end', 'usage_metrics has period_end');
SELECT col_type_is('agentbase', 'usage_metrics', 'period_end', 'timestamp with time zone', 'period_end is a timestamptz');
SELECT has_index('agentbase', 'usage_metrics', 'idx_usage_metrics_tenant_id_user_id_created_at',
                 ARRAY['tenant_id', 'user_id', 'created_at'], 'a user''s usage over time is one index range');
SELECT has_index('agentbase', 'usage_metrics', 'idx_usage_metrics_tenant_id_metric_type_period',
                 ARRAY['tenant_id', 'metric_type', 'period_start', 'period_end'], 'a metric over its periods too');
SELECT throws_like(format($$INSERT INTO usage_metrics (tenant_id, metric_type, period_start, period_end)
                            VALUES (%L, 'tokens', now(), now() - interval '1 hour')$$, :ta),
                   '%chk_usage_metrics_period_end%', 'a period ends after it starts');
SELECT throws_ok(format($$INSERT INTO usage_metrics (tenant_id, user_id, metric_type) VALUES (%L, %L, 'tokens')$$, :ta, :ux),
                 '23503', NULL, 'a metric cannot name another tenant''s user (as the owner too: a foreign key)');
INSERT INTO usage_metrics (tenant_id, user_id, agent_id, metric_type, tokens, period_start, period_end)
VALUES (:ta, :ub, :gr, 'tokens', 7, date_trunc('day', now()), date_trunc('day', now()) + interval '1 day');
SET LOCAL enable_seqscan = off;
SELECT matches(abtest.plan(format($$SELECT * FROM usage_metrics WHERE tenant_id = %L AND user_id = %L
                                      AND created_at >= now() - interval '7 days' ORDER BY created_at DESC$$, :ta, :ub)),
               'Index Scan using usage_metrics_\w+_tenant_id_user_id_created_at_idx', 'the usage query uses the (user, time) index');
SELECT matches(abtest.plan(format($$SELECT * FROM usage_metrics WHERE tenant_id = %L AND metric_type = 'tokens'
                                      AND period_start >= now() - interval '7 days' AND period_end <= now() + interval '7 days'$$, :ta)),
               'Index Scan using usage_metrics_\w+_tenant_id_metric_type_period_start_\w+ on', 'a period range of a metric uses its index');
RESET enable_seqscan;

-- ------------------------------------------------------------------------------------
-- Agent leases: structure and rules
-- ------------------------------------------------------------------------------------
SELECT has_table('agentbase', 'agent_leases', 'agent_leases exists');
SELECT col_is_pk('agentbase', 'agent_leases', ARRAY['tenant_id', 'id'], 'agent_leases PK (tenant_id, id)');
SELECT fk_ok('agentbase', 'agent_leases', ARRAY['tenant_id', 'assignment_id'], 'agentbase', 'agent_assignments', ARRAY['tenant_id', 'id'], 'agent_leases -> agent_assignments');
SELECT fk_ok('agentbase', 'agent_leases', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'agent_leases -> users');
SELECT fk_ok('agentbase', 'agent_leases', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'agent_leases -> agents');
SELECT indexes_are('agentbase', 'agent_leases', ARRAY['agent_leases_pkey', 'idx_agent_leases_assignment_id',
                   'idx_agent_leases_expires_at', 'idx_agent_leases_user_id_id', 'idx_agent_leases_agent_id'], 'agent_leases indexes');
SELECT triggers_are('agentbase', 'agent_leases', ARRAY['trg_load', 'trg_updated_at'], 'agent_leases triggers');
SELECT policies_are('agentbase', 'agent_leases', ARRAY['tenant_isolation', 'owner_all', 'readonly_all', 'member_select',
                    'member_insert', 'member_update', 'member_delete', 'viewer_insert', 'viewer_update', 'viewer_delete'],
                    'agent_leases policies (from role_access)');
SELECT has_function('agentbase', 'agent_lease_acquire', ARRAY['uuid', 'text', 'integer'], 'agent_lease_acquire(uuid, text, integer)');
SELECT has_function('agentbase', 'agent_lease_release', ARRAY['uuid'], 'agent_lease_release(uuid)');
SELECT has_function('agentbase', 'agent_leases_expire', ARRAY['integer'], 'agent_leases_expire(integer)');

-- ua: a dedicated and a shared agent at priority 0, a pool of two at priority 0, the
-- researcher at priority -1 (only asked for by type); ub: the shared agent only.
INSERT INTO agent_assignments (tenant_id, user_id, agent_id, allocation_type, priority, max_concurrent_requests) VALUES
    (:ta, :ua, :gs, 'shared', 0, 5), (:ta, :ua, :gp1, 'pool', 0, 1), (:ta, :ua, :gp2, 'pool', 0, 1),
    (:ta, :ua, :gd, 'dedicated', 0, 2), (:ta, :ua, :gr, 'dedicated', -1, 1),
    (:ta, :ub, :gs, 'shared', 0, 5), (:ta, :uv, :gs, 'shared', 0, 5), (:ta, :uv, :gp1, 'pool', 0, 1);
-- the first pool agent already works for the viewer
INSERT INTO agent_leases (tenant_id, assignment_id, user_id, agent_id, expires_at)
SELECT tenant_id, id, user_id, agent_id, now() + interval '1 hour' FROM agent_assignments WHERE user_id = :uv AND agent_id = :gp1;

SELECT pg_temp.act(:ua, 'user');
SELECT is(ARRAY(SELECT agent_lease_acquire(:ua) ->> 'agent_id' FROM generate_series(1, 5)),
          ARRAY[:gd, :gd, :gp2, :gp1, :gs],
          'the user''s slots: dedicated first, then the pool''s least-loaded agents, then shared');
SELECT is((agent_lease_acquire(:ua, 'researcher') ->> 'agent_id'), :gr, 'an agent_type picks among agents of that type');
SELECT throws_ok(format($$SELECT agent_lease_acquire(%L, 'researcher')$$, :ua), 'AB429', NULL,
                 'a full assignment gives no slot');
SELECT results_eq($$SELECT count(*)::int FROM agent_leases$$, ARRAY[6], 'the user sees their six leases (not the viewer''s)');
SELECT is((SELECT current_load FROM agents WHERE id = :gp1), 2, 'the pool agent busy before carries both');
SELECT is((SELECT current_load FROM agents WHERE id = :gd), 2, 'an agent''s load is its active leases');
SELECT throws_ok(format($$SELECT agent_lease_acquire(%L)$$, :ub), '42501',
                 'field user_id must be your own user id: only admins act for other users',
                 'a user cannot take another user''s slots');
SELECT throws_ok(format($$INSERT INTO agent_leases (tenant_id, assignment_id, user_id, agent_id, expires_at)
                          SELECT tenant_id, id, user_id, agent_id, now() + interval '1 hour' FROM agent_assignments
                           WHERE user_id = %L LIMIT 1$$, :ua), '42501', NULL,
                 'nor write a lease directly');
SELECT is_empty(format($$UPDATE agents SET current_load = 0 WHERE id = %L RETURNING 1$$, :gd),
                'nor set an agent''s load (a user writes no agent)');
SELECT abtest.unbecome();

SELECT pg_temp.act(:uv, 'viewer');
SELECT throws_ok(format($$SELECT agent_lease_acquire(%L)$$, :uv), '42501', NULL, 'a viewer takes no slot');
SELECT abtest.unbecome();

-- as an admin (a service key): for anyone of the tenant, never of another
SELECT pg_temp.act(NULL, NULL);
SELECT is((SELECT count(*)::int FROM (SELECT agent_lease_acquire(:ub) FROM generate_series(1, 5)) x), 5,
          'an admin takes ub''s five shared slots');
SELECT throws_ok(format($$SELECT agent_lease_acquire(%L)$$, :ub), 'AB429', NULL, 'the sixth is refused');
SELECT is((SELECT current_load FROM agents WHERE id = :gs), 6, 'the shared agent carries both users'' leases');
SELECT throws_ok(format($$SELECT agent_lease_acquire(%L)$$, :ux), 'AB404', NULL, 'a user of another tenant does not exist here');
SELECT throws_ok(format($$UPDATE agents SET current_load = 0 WHERE id = %L$$, :gs), '42501',
                 'field current_load is kept by the database from the agent''s leases', 'an admin cannot set a load either');
SELECT throws_ok(format($$SELECT agent_lease_acquire(%L, NULL, 0)$$, :ub), '22023', NULL, 'a lease lasts at least a second');
SELECT abtest.unbecome();

-- release
SELECT id AS lease FROM agent_leases WHERE user_id = :ub ORDER BY id LIMIT 1 \gset
SELECT pg_temp.act(:ua, 'user');
SELECT throws_ok(format($$SELECT agent_lease_release(%L)$$, :'lease'), 'AB404', NULL,
                 'a user cannot release another user''s lease (it does not exist for them)');
SELECT abtest.unbecome();
SELECT pg_temp.act(:ub, 'user');
SELECT is(agent_lease_release(:'lease') ->> 'status', 'released', 'the lease''s user releases it');
SELECT throws_ok(format($$SELECT agent_lease_release(%L)$$, :'lease'), 'AB409', NULL, 'once');
SELECT is((SELECT current_load FROM agents WHERE id = :gs), 5, 'the agent''s load goes down');
SELECT is(agent_lease_acquire(:ub) ->> 'agent_id', :gs, 'and the slot can be taken again');
SELECT abtest.unbecome();

-- expiry: a lease past expires_at frees its slot at once, and is reclaimed later
UPDATE agent_leases SET acquired_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'
 WHERE id = (SELECT id FROM agent_leases WHERE user_id = :ub AND status = 'active' ORDER BY id LIMIT 1);
SELECT pg_temp.act(NULL, NULL);
SELECT is((agent_lease_acquire(:ub) ->> 'active_leases')::int, 5, 'an expired lease frees its slot for the next acquire');
SELECT is((SELECT count(*)::int FROM agent_leases WHERE user_id = :ub AND status = 'expired'), 1, 'which reclaims it');
SELECT is((SELECT current_load FROM agents WHERE id = :gs), 6, 'and gives its load back');
SELECT abtest.unbecome();
UPDATE agent_leases SET acquired_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'
 WHERE user_id = :ua AND agent_id = :gd;
SELECT is(agent_leases_expire(), 2, 'the sweep reclaims the leases past their expiry');
SELECT is(agent_leases_expire(), 0, 'and nothing when run again');
SELECT is((SELECT current_load FROM agents WHERE id = :gd), 0, 'the dedicated agent is idle again');
SELECT pg_temp.act(:ua, 'user');
SELECT id AS gone FROM agent_leases WHERE user_id = :ua AND status = 'expired' LIMIT 1 \gset
SELECT throws_ok(format($$SELECT agent_lease_release(%L)$$, :'gone'), 'AB410', NULL, 'an expired lease cannot be released');
SELECT abtest.unbecome();

-- assignments not in force, and deleted ones
UPDATE agent_assignments SET is_active = false WHERE user_id = :ua AND agent_id = :gr;
SELECT throws_ok(format($$SELECT agent_lease_acquire(%L, 'researcher')$$, :ua), 'AB404', NULL,
                 'an inactive assignment gives no slot');
SELECT is((SELECT current_load FROM agents WHERE id = :gr), 1, 'the researcher still has its lease');
DELETE FROM agent_assignments WHERE user_id = :ua AND agent_id = :gr;
SELECT is((SELECT current_load FROM agents WHERE id = :gr), 0, 'deleting an assignment ends its leases and their load');

-- ------------------------------------------------------------------------------------
-- adjust_user_tokens(), as the SaaS seed writes it
-- ------------------------------------------------------------------------------------
SELECT has_function('agentbase', 'adjust_user_tokens',
                    ARRAY['uuid', 'bigint', 'text', 'text', 'text', 'text', 'uuid', 'uuid', 'jsonb', 'text'],
                    'adjust_user_tokens takes uuid references');
SELECT has_function('agentbase', 'adjust_user_tokens',
                    ARRAY['uuid', 'bigint', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'text'],
                    'and keeps its text form (free-text references, all parameters given)');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'adjust_user_tokens'
             AND pronamespace = 'agentbase'::regnamespace AND pronargdefaults > 0), 1,
          'only the seed''s form has defaults, so that no call is ambiguous');
SELECT is((adjust_user_tokens(
              p_user_id => :ua, p_amount => 1000, p_direction => 'credit', p_reason => 'welcome',
              p_source => 'seed', p_reference_type => 'execution',
              p_reference_id => 'a1700000-0000-7000-8000-0000000000c1'::uuid,
              p_execution_id => 'a1700000-0000-7000-8000-0000000000c2'::uuid,
              p_metadata => '{"by": "seed"}') ->> 'reference_id'),
          'a1700000-0000-7000-8000-0000000000c1', 'a named call with uuid references');
SELECT is((SELECT execution_id FROM token_ledger WHERE user_id = :ua AND reason = 'welcome'),
          'a1700000-0000-7000-8000-0000000000c2', 'records the execution');
SELECT is((adjust_user_tokens(:ua::uuid, 100::bigint, 'debit', 'use', 'api', 'execution',
                              gen_random_uuid(), gen_random_uuid(), '{}'::jsonb) ->> 'balance_after')::bigint,
          900::bigint, 'a positional call with uuid values');
SELECT results_eq(format($$SELECT r ->> 'entry_type', r ->> 'amount', r ->> 'balance_after'
                             FROM adjust_user_tokens(%L, -300, 'credit') r$$, :ua),
                  $$VALUES ('debit', '300', '600')$$, 'credit with a negative amount is a debit');
SELECT results_eq(format($$SELECT r ->> 'entry_type', r ->> 'amount', r ->> 'balance_after'
                             FROM adjust_user_tokens(%L, -50, 'debit') r$$, :ua),
                  $$VALUES ('credit', '50', '650')$$, 'debit with a negative amount is a credit');
SELECT results_eq(format($$SELECT r ->> 'entry_type', r ->> 'held_after' FROM adjust_user_tokens(%L, -50, 'release') r$$, :ua),
                  $$VALUES ('reserve', '50')$$, 'release with a negative amount is a reserve');
SELECT results_eq(format($$SELECT r ->> 'entry_type', r ->> 'held_after' FROM adjust_user_tokens(%L, -20, 'reserve') r$$, :ua),
                  $$VALUES ('release', '30')$$, 'reserve with a negative amount is a release');
SELECT results_eq(format($$SELECT r ->> 'entry_type', r ->> 'amount' FROM adjust_user_tokens(%L, -10, 'adjustment') r$$, :ua),
                  $$VALUES ('adjustment', '-10')$$, 'an adjustment stays signed');
SELECT throws_ok(format($$SELECT adjust_user_tokens(%L, -10000, 'credit')$$, :ua), 'AB001', NULL,
                 'a negative credit cannot take more than is available');
SELECT is(adjust_user_tokens(:ua, 5, 'credit', p_reference_id => 'a1700000-0000-7000-8000-0000000000c3'::uuid,
                             p_idempotency_key => 'seed-retry'),
          adjust_user_tokens(:ua, 5, 'credit', p_reference_id => 'a1700000-0000-7000-8000-0000000000c3'::uuid,
                             p_idempotency_key => 'seed-retry'),
          'the idempotency key is the trailing parameter: a retry returns the first entry');
SELECT is((adjust_user_tokens(:ua, 1, 'credit', 'why', 'api', 'ticket', 'T-42', NULL, '{}', NULL) ->> 'reference_id'),
          'T-42', 'the text form takes a free-text reference');
SELECT pg_temp.act(:ua, 'user');
SELECT throws_ok(format($$SELECT adjust_user_tokens(p_user_id => %L, p_amount => 5, p_direction => 'credit',
                                                    p_reference_id => gen_random_uuid())$$, :ua), '42501', NULL,
                 'the seed''s form is platform-governed too: a user cannot credit themselves');
SELECT throws_ok(format($$SELECT adjust_user_tokens(%L, -5, 'debit')$$, :ua), '42501', NULL,
                 'not even by a negative debit');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- auto_allocate_tokens_for_level(), by a level's id
-- ------------------------------------------------------------------------------------
SELECT has_function('agentbase', 'auto_allocate_tokens_for_level', ARRAY['uuid', 'uuid'], 'auto_allocate_tokens_for_level(uuid, uuid)');
SELECT has_function('agentbase', 'auto_allocate_tokens_for_level', ARRAY['uuid', 'text'], 'and its text form');
SELECT id AS basic FROM subscription_plans WHERE level = 'basic' \gset
SELECT id AS pro FROM subscription_plans WHERE level = 'pro' \gset
SELECT is((auto_allocate_tokens_for_level(p_user_id => :ub, p_level_id => :'basic'::uuid) ->> 'amount')::bigint,
          (SELECT monthly_token_allocation FROM subscription_plans WHERE level = 'basic'),
          'a named call with the level''s id credits its monthly tokens');
SELECT is((SELECT level FROM users WHERE id = :ub), 'basic', 'and puts the user on it');
SELECT is((auto_allocate_tokens_for_level(:ub::uuid, :'pro'::uuid) ->> 'source'), 'level_allocation',
          'a positional call with uuids');
SELECT is((SELECT level FROM token_wallets WHERE user_id = :ub), 'pro', 'the wallet follows the level');
SELECT lives_ok(format($$SELECT auto_allocate_tokens_for_level(%L, 'free')$$, :ub), 'the text form takes a level''s name');
SELECT is((SELECT level FROM users WHERE id = :ub), 'free', 'and sets it');
SELECT is((auto_allocate_tokens_for_level(:ub, :'basic') ->> 'amount')::bigint,
          (SELECT monthly_token_allocation FROM subscription_plans WHERE level = 'basic'),
          'or its id as text (a quoted uuid resolves to the text form)');
SELECT throws_ok(format($$SELECT auto_allocate_tokens_for_level(%L, gen_random_uuid())$$, :ub), '22023', NULL,
                 'an id no plan has is refused');

-- ------------------------------------------------------------------------------------
-- ai_executions: the seed's cleanup runs
-- ------------------------------------------------------------------------------------
SELECT has_view('agentbase', 'ai_executions', 'ai_executions exists');
INSERT INTO tasks (tenant_id, id, title) VALUES (:ta, 'a1700000-0000-7000-8000-0000000000d1', 't');
INSERT INTO orchestration_runs (tenant_id, task_id, agent_id, status, created_at) VALUES
    (:ta, 'a1700000-0000-7000-8000-0000000000d1', :gd, 'completed', now() - interval '120 days'),
    (:ta, 'a1700000-0000-7000-8000-0000000000d1', :gd, 'completed', now() - interval '10 days');
SELECT is((SELECT count(*)::int FROM ai_executions WHERE tenant_id = :ta), 2, 'it reads the engine executions');
-- Clean old execution records (older than 90 days)
DELETE FROM ai_executions
WHERE created_at < now() - interval '90 days';
SELECT is((SELECT count(*)::int FROM orchestration_runs WHERE tenant_id = :ta), 1,
          'the seed''s DELETE FROM ai_executions removes the old ones');
SELECT pg_temp.act(NULL, NULL);
SELECT is((SELECT count(*)::int FROM ai_executions), 1, 'the service reads them in its tenant');
SELECT throws_ok($$DELETE FROM ai_executions$$, '42501', NULL, 'but deletes nothing through the view');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- The base seed: the default tenant, a token policy for each level
-- ------------------------------------------------------------------------------------
SELECT is((SELECT plan || ' ' || status FROM tenants WHERE slug = 'default' AND deleted_at IS NULL), 'free active',
          'the base seed made the default tenant');
SELECT is(ARRAY(SELECT level FROM subscription_plans WHERE NOT (token_policy ? 'monthly_tokens') ORDER BY 1),
          '{}', 'every level has a token policy');

SELECT * FROM finish();
ROLLBACK;
