-- pgTAP for 0018_requests: every new column, constraint, index, trigger, policy and
-- function; the payloads kept only where the tenant keeps prompts (as the service, and as the
-- owner's accounting batch); feedback recorded beside its target and refused across tenants
-- and users; the project carried from a reservation through ai_requests into the rollups,
-- the summary and a user's month; the requests behind a rollup; the performance aggregates.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(112);

\set ta '''18000000-0000-7000-8000-00000000000a'''
\set tb '''18000000-0000-7000-8000-00000000000b'''
\set ua '''18000000-0000-7000-8000-0000000000a1'''
\set ua2 '''18000000-0000-7000-8000-0000000000a2'''
\set ub '''18000000-0000-7000-8000-0000000000b1'''
\set pa '''18000000-0000-7000-8000-0000000000c1'''
\set pb '''18000000-0000-7000-8000-0000000000c2'''
\set ag '''18000000-0000-7000-8000-0000000000d1'''

-- Acts in tenant A as the user p_user (role user), as the service would.
CREATE FUNCTION pg_temp.act(p_user uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM abtest.become('18000000-0000-7000-8000-00000000000a');
    PERFORM agentbase.set_request_context('18000000-0000-7000-8000-00000000000a', 'api_key', 'requests-test',
                                          NULL, NULL, NULL, false, p_user, 'user', false);
END
$$;

-- ---- structure ------------------------------------------------------------------------------
SELECT has_column('agentbase', 'ai_requests', c, 'ai_requests.' || c) FROM unnest(ARRAY[
  'project_id', 'confidence_score', 'safety_score', 'started_at', 'completed_at', 'request_payload',
  'response_payload']) c;
SELECT col_type_is('agentbase', 'ai_requests', c, t, 'ai_requests.' || c || ' is ' || t) FROM (VALUES
  ('project_id', 'uuid'), ('confidence_score', 'numeric(5,4)'), ('safety_score', 'numeric(5,4)'),
  ('started_at', 'timestamp with time zone'), ('completed_at', 'timestamp with time zone'),
  ('request_payload', 'jsonb'), ('response_payload', 'jsonb')) x(c, t);
SELECT col_is_null('agentbase', t, 'project_id', t || '.project_id is optional')
  FROM unnest(ARRAY['ai_requests', 'token_holds', 'cost_tracking']) t;
SELECT has_table('agentbase', t, t || ' exists') FROM unnest(ARRAY['request_feedback', 'performance_metric_rollups']) t;
SELECT columns_are('agentbase', 'request_feedback', ARRAY['tenant_id', 'id', 'target_type', 'target_id', 'user_id',
  'rating', 'comment', 'created_at'], 'request_feedback has exactly its columns');
SELECT columns_are('agentbase', 'performance_metric_rollups', ARRAY['tenant_id', 'id', 'period_type', 'period_start',
  'agent_id', 'metric_name', 'sample_count', 'min_value', 'max_value', 'avg_value', 'p50_value', 'p95_value',
  'p99_value', 'created_at', 'updated_at'], 'performance_metric_rollups has exactly its columns');
SELECT col_is_pk('agentbase', t, ARRAY['tenant_id', 'id'], t || ': primary key (tenant_id, id)')
  FROM unnest(ARRAY['request_feedback', 'performance_metric_rollups']) t;
SELECT fk_ok('agentbase', 'cost_tracking', ARRAY['tenant_id', 'project_id'], 'agentbase', 'projects', ARRAY['tenant_id', 'id'],
             'cost_tracking.project_id references projects within the tenant');
SELECT fk_ok('agentbase', 'token_holds', ARRAY['tenant_id', 'project_id'], 'agentbase', 'projects', ARRAY['tenant_id', 'id'],
             'token_holds.project_id references projects within the tenant');
SELECT fk_ok('agentbase', 'request_feedback', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'],
             'request_feedback.user_id references users within the tenant');
SELECT fk_ok('agentbase', 'performance_metric_rollups', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents',
             ARRAY['tenant_id', 'id'], 'performance_metric_rollups.agent_id references agents within the tenant');
SELECT is((SELECT array_agg(a.attname::text ORDER BY k.n) FROM pg_constraint c,
                  unnest(c.conkey) WITH ORDINALITY k(attnum, n), pg_attribute a
            WHERE c.conname = 'uq_cost_tracking_rollup' AND a.attrelid = c.conrelid AND a.attnum = k.attnum),
          ARRAY['tenant_id', 'period_type', 'period_start', 'user_id', 'agent_id', 'project_id', 'provider', 'model'],
          'the rollup key has the project');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'agentbase.ai_requests'::regclass AND contype = 'f'),
          1, 'ai_requests has only its tenant key: references are checked by trigger (see 0018)');

-- the indexes, exactly
SELECT indexes_are('agentbase', 'request_feedback', ARRAY['request_feedback_pkey',
  'idx_request_feedback_tenant_id_target_id', 'idx_request_feedback_user_id_id'], 'request_feedback: its indexes');
SELECT indexes_are('agentbase', 'performance_metric_rollups', ARRAY['performance_metric_rollups_pkey',
  'uq_performance_metric_rollups_period', 'idx_performance_metric_rollups_tenant_id_agent_id',
  'idx_performance_metric_rollups_tenant_id_metric_name'], 'performance_metric_rollups: its indexes');
SELECT has_index('agentbase', 'ai_requests', 'idx_ai_requests_tenant_id_project_id_created_at',
                 ARRAY['tenant_id', 'project_id', 'created_at'], 'ai_requests: a project''s calls by time');
SELECT has_index('agentbase', 'cost_tracking', 'idx_cost_tracking_tenant_id_project_id',
                 ARRAY['tenant_id', 'project_id', 'period_start'], 'cost_tracking (project_id)');
SELECT has_index('agentbase', 'token_holds', 'idx_token_holds_project_id', ARRAY['project_id', 'tenant_id'],
                 'token_holds: the project key''s index');
SELECT has_index('agentbase', 'performance_metrics', 'idx_performance_metrics_recorded_at', ARRAY['recorded_at'],
                 'performance_metrics by time, for the rollup');
SELECT is((SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i
            WHERE i.indexrelid = 'agentbase.idx_ai_requests_tenant_id_project_id_created_at'::regclass),
          '(project_id IS NOT NULL)', 'calls without a project cost that index nothing');

-- triggers and policies, exactly
SELECT triggers_are('agentbase', 'request_feedback', ARRAY['trg_owner_fill', 'trg_target'], 'request_feedback: its triggers');
SELECT triggers_are('agentbase', 'performance_metric_rollups', ARRAY['trg_updated_at'], 'performance_metric_rollups: its triggers');
SELECT ok('trg_payloads' = ANY (ARRAY(SELECT tgname::text FROM pg_trigger WHERE tgrelid = 'agentbase.ai_requests'::regclass)),
          'ai_requests has the payload trigger');
SELECT is((SELECT count(*)::int FROM pg_inherits i JOIN pg_trigger t ON t.tgrelid = i.inhrelid AND t.tgname = 'trg_payloads'
            WHERE i.inhparent = 'agentbase.ai_requests'::regclass),
          (SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'agentbase.ai_requests'::regclass),
          'and so has every partition');
SELECT policies_are('agentbase', 'request_feedback', ARRAY['tenant_isolation', 'owner_all', 'readonly_all',
  'member_select', 'member_insert', 'member_update', 'member_delete', 'viewer_insert', 'viewer_update',
  'viewer_delete'], 'request_feedback: its policies');
SELECT policies_are('agentbase', 'performance_metric_rollups', ARRAY['tenant_isolation', 'owner_all', 'readonly_all',
  'member_select', 'member_insert', 'member_update', 'member_delete', 'viewer_insert', 'viewer_update',
  'viewer_delete'], 'performance_metric_rollups: its policies');

-- functions
SELECT has_function('agentbase', f, a, f || ' exists') FROM (VALUES
  ('usage_requests', ARRAY['timestamp with time zone', 'timestamp with time zone', 'text', 'text', 'uuid', 'uuid',
                           'uuid', 'uuid', 'integer']),
  ('usage_monthly', ARRAY['uuid', 'date']), ('performance_rollup', ARRAY['timestamp with time zone']),
  ('ai_requests_payloads', '{}'::text[]), ('request_feedback_target', '{}'::text[]),
  ('request_feedback_of', ARRAY['uuid', 'uuid'])) x(f, a);
SELECT ok((SELECT prosecdef FROM pg_proc WHERE oid = 'agentbase.usage_rollup()'::regprocedure),
          'usage_rollup still runs as the owner');
SELECT ok((SELECT prosecdef FROM pg_proc WHERE oid = 'agentbase.performance_rollup(timestamptz)'::regprocedure),
          'performance_rollup runs as the owner');
SELECT ok(NOT has_function_privilege('agentbase_app', 'agentbase.performance_rollup(timestamptz)', 'EXECUTE'),
          'the service cannot run the performance rollup');
SELECT is((SELECT array_agg(resource ORDER BY resource) FROM role_access
            WHERE resource IN ('request-feedback', 'performance-metric-rollups', 'usage-logs', 'token-transactions', 'user-quotas')),
          ARRAY['performance-metric-rollups', 'request-feedback', 'token-transactions', 'usage-logs', 'user-quotas'],
          'the new resources and the legacy views are in role_access');

-- ---- every CHECK ------------------------------------------------------------------------------
INSERT INTO tenants (id, slug, name) VALUES (:ta, 'req-a', 'A'), (:tb, 'req-b', 'B');
INSERT INTO users (tenant_id, id, email, username, role) VALUES
  (:ta, :ua, 'ua@req.test', 'ua', 'user'), (:ta, :ua2, 'ua2@req.test', 'ua2', 'user'),
  (:tb, :ub, 'ub@req.test', 'ub', 'user');
INSERT INTO projects (tenant_id, id, name) VALUES (:ta, :pa, 'pa'), (:tb, :pb, 'pb');
INSERT INTO agents (tenant_id, id, name, model_provider, model_name) VALUES (:ta, :ag, 'ag', 'openai', 'gpt-4o');
SELECT throws_like(q, '%' || c || '%', c || ' rejects a bad value') FROM (VALUES
  ($$INSERT INTO ai_requests (tenant_id, provider, model, confidence_score) VALUES ('18000000-0000-7000-8000-00000000000a', 'p', 'm', 1.01)$$, 'chk_ai_requests_confidence_score'),
  ($$INSERT INTO ai_requests (tenant_id, provider, model, safety_score) VALUES ('18000000-0000-7000-8000-00000000000a', 'p', 'm', -0.5)$$, 'chk_ai_requests_safety_score'),
  ($$INSERT INTO ai_requests (tenant_id, provider, model, started_at, completed_at) VALUES ('18000000-0000-7000-8000-00000000000a', 'p', 'm', now(), now() - interval '1 second')$$, 'chk_ai_requests_completed_at'),
  ($$INSERT INTO request_feedback (tenant_id, target_type, target_id, rating) VALUES ('18000000-0000-7000-8000-00000000000a', 'message', gen_random_uuid(), 3)$$, 'chk_request_feedback_target_type'),
  ($$INSERT INTO performance_metric_rollups (tenant_id, period_type, period_start, metric_name, sample_count, min_value, max_value, avg_value, p50_value, p95_value, p99_value) VALUES ('18000000-0000-7000-8000-00000000000a', 'weekly', now(), 'x', 1, 1, 1, 1, 1, 1, 1)$$, 'chk_performance_metric_rollups_period_type'),
  ($$INSERT INTO performance_metric_rollups (tenant_id, period_type, period_start, metric_name, sample_count, min_value, max_value, avg_value, p50_value, p95_value, p99_value) VALUES ('18000000-0000-7000-8000-00000000000a', 'hourly', now(), 'x', 0, 1, 1, 1, 1, 1, 1)$$, 'chk_performance_metric_rollups_sample_count'),
  ($$INSERT INTO performance_metric_rollups (tenant_id, period_type, period_start, metric_name, sample_count, min_value, max_value, avg_value, p50_value, p95_value, p99_value) VALUES ('18000000-0000-7000-8000-00000000000a', 'hourly', now(), 'x', 2, 1, 2, 1.5, 1.9, 1.5, 2)$$, 'chk_performance_metric_rollups_order')
) AS t(q, c);
SELECT throws_ok($$INSERT INTO request_feedback (tenant_id, target_type, target_id, rating)
                   VALUES ('18000000-0000-7000-8000-00000000000a', 'ai_request', '18000000-0000-7000-8000-0000000000ff', 3)$$,
          'AB404', 'ai request 18000000-0000-7000-8000-0000000000ff not found', 'feedback names an existing request');

-- ---- payloads: only where the tenant keeps prompts ---------------------------------------------
INSERT INTO ai_requests (tenant_id, id, provider, model, request_payload, response_payload)
VALUES (:ta, '18000000-0000-7000-8000-0000000000e1', 'p', 'm', '{"prompt": "hi"}', '"hello"');
SELECT is((SELECT ARRAY[request_payload, response_payload] FROM ai_requests WHERE id = '18000000-0000-7000-8000-0000000000e1'),
          ARRAY[NULL, NULL]::jsonb[], 'by default no payload is kept (even the owner''s)');
SELECT throws_like(q, '%' || c || '%', c || ' rejects a bad value') FROM (VALUES
  ($$INSERT INTO request_feedback (tenant_id, target_type, target_id, rating) VALUES ('18000000-0000-7000-8000-00000000000a', 'ai_request', '18000000-0000-7000-8000-0000000000e1', 0)$$, 'chk_request_feedback_rating'),
  ($$INSERT INTO request_feedback (tenant_id, target_type, target_id, rating, comment) VALUES ('18000000-0000-7000-8000-00000000000a', 'ai_request', '18000000-0000-7000-8000-0000000000e1', 3, repeat('x', 4001))$$, 'chk_request_feedback_comment')
) AS t(q, c);
UPDATE tenants SET settings = '{"store_prompts": true}' WHERE id = :ta;
SELECT abtest.become(:ta);
INSERT INTO ai_requests (tenant_id, id, user_id, provider, model, request_payload, response_payload, project_id)
VALUES (:ta, '18000000-0000-7000-8000-0000000000e2', :ua, 'p', 'm', '{"prompt": "hi"}', '"hello"', :pa);
SELECT is((SELECT ARRAY[request_payload, response_payload] FROM ai_requests WHERE id = '18000000-0000-7000-8000-0000000000e2'),
          ARRAY['{"prompt": "hi"}', '"hello"']::jsonb[], 'a tenant keeping prompts keeps them (as the service)');
SELECT throws_ok($$INSERT INTO ai_requests (tenant_id, provider, model, project_id)
                   VALUES ('18000000-0000-7000-8000-00000000000a', 'p', 'm', '18000000-0000-7000-8000-0000000000c2')$$,
          '23503', 'field project_id names no projects of this tenant', 'the service cannot name another tenant''s project');
SELECT abtest.unbecome();
UPDATE tenants SET settings = '{"store_prompts": "yes"}' WHERE id = :ta;
SELECT abtest.become(:ta);
INSERT INTO ai_requests (tenant_id, id, provider, model, request_payload)
VALUES (:ta, '18000000-0000-7000-8000-0000000000e3', 'p', 'm', '{"prompt": "hi"}');
SELECT is((SELECT request_payload FROM ai_requests WHERE id = '18000000-0000-7000-8000-0000000000e3'), NULL,
          'only a true store_prompts keeps them');
SELECT abtest.unbecome();
UPDATE tenants SET settings = '{}' WHERE id = :ta;

-- ---- feedback: beside the request, never across tenants or users --------------------------------
INSERT INTO ai_requests (tenant_id, id, user_id, provider, model) VALUES
  (:tb, '18000000-0000-7000-8000-0000000000e9', :ub, 'p', 'm');
INSERT INTO rag_queries (tenant_id, id, user_id, query_text) VALUES (:ta, '18000000-0000-7000-8000-0000000000f1', :ua, 'q');
SELECT pg_temp.act(:ua);
INSERT INTO request_feedback (tenant_id, target_type, target_id, rating, comment)
VALUES (:ta, 'ai_request', '18000000-0000-7000-8000-0000000000e2', 5, 'great');
SELECT is((SELECT user_id FROM request_feedback WHERE target_id = '18000000-0000-7000-8000-0000000000e2'), :ua::uuid,
          'feedback is the acting user''s');
INSERT INTO request_feedback (tenant_id, target_type, target_id, rating)
VALUES (:ta, 'rag_query', '18000000-0000-7000-8000-0000000000f1', 2);
SELECT is((SELECT count(*)::int FROM request_feedback), 2, 'on requests and RAG queries');
SELECT throws_ok($$INSERT INTO request_feedback (tenant_id, target_type, target_id, rating)
                   VALUES ('18000000-0000-7000-8000-00000000000a', 'ai_request', '18000000-0000-7000-8000-0000000000e9', 1)$$,
          'AB404', NULL, 'a request of another tenant does not exist');
SELECT throws_ok($$INSERT INTO request_feedback (tenant_id, target_type, target_id, rating)
                   VALUES ('18000000-0000-7000-8000-00000000000b', 'ai_request', '18000000-0000-7000-8000-0000000000e9', 1)$$,
          '42501', NULL, 'feedback cannot be written into another tenant');
SELECT throws_ok($$INSERT INTO request_feedback (tenant_id, target_type, target_id, rating, user_id)
                   VALUES ('18000000-0000-7000-8000-00000000000a', 'ai_request', '18000000-0000-7000-8000-0000000000e2', 1,
                           '18000000-0000-7000-8000-0000000000a2')$$,
          '42501', NULL, 'nor in another user''s name');
SELECT throws_ok($$UPDATE request_feedback SET rating = 1$$, '42501', NULL, 'feedback is append-only');
SELECT throws_ok($$INSERT INTO request_feedback (tenant_id, target_type, target_id, rating)
                   VALUES ('18000000-0000-7000-8000-00000000000a', 'rag_query', '18000000-0000-7000-8000-0000000000e2', 1)$$,
          'AB404', 'rag query 18000000-0000-7000-8000-0000000000e2 not found', 'a request is no RAG query');
SELECT abtest.unbecome();
SELECT pg_temp.act(:ua2);
SELECT throws_ok($$INSERT INTO request_feedback (tenant_id, target_type, target_id, rating)
                   VALUES ('18000000-0000-7000-8000-00000000000a', 'ai_request', '18000000-0000-7000-8000-0000000000e2', 1)$$,
          'AB404', NULL, 'a user cannot rate another user''s request');
SELECT is((SELECT count(*)::int FROM request_feedback), 0, 'nor sees their feedback');
SELECT abtest.unbecome();
SELECT is((SELECT user_rating FROM ai_requests WHERE id = '18000000-0000-7000-8000-0000000000e2'), NULL,
          'the request itself is unchanged');

-- ---- the project from the reservation into the rollups ----------------------------------------
INSERT INTO ai_providers (id, name, display_name) VALUES ('18000000-0000-7000-8000-0000000000f8', 'req-test', 'T');
INSERT INTO ai_models (id, provider_id, name, display_name, context_window)
VALUES ('18000000-0000-7000-8000-0000000000f9', '18000000-0000-7000-8000-0000000000f8', 'm', 'M', 1000);
INSERT INTO ai_model_prices (model_id, effective_from, input_per_1m, output_per_1m)
VALUES ('18000000-0000-7000-8000-0000000000f9', now() - interval '1 day', 1000000, 1000000);
CREATE TEMP TABLE r AS
SELECT usage_apply(jsonb_build_array(jsonb_build_object('op', 'reserve', 'tenant_id', :ta, 'args', jsonb_build_object(
    'user_id', :ua, 'project_id', :pa, 'provider', 'req-test', 'model', 'm', 'estimated_input_tokens', 10,
    'max_output_tokens', 10)))) -> 0 AS res;
SELECT is((SELECT res #>> '{body,project_id}' FROM r), :pa, 'a reservation names its project');
SELECT is((SELECT project_id FROM token_holds WHERE id = (SELECT (res #>> '{body,id}')::uuid FROM r)), :pa::uuid,
          'its hold keeps it');
SELECT is(usage_apply(jsonb_build_array(jsonb_build_object('op', 'settle', 'tenant_id', :ta, 'args', jsonb_build_object(
    'id', (SELECT res #>> '{body,id}' FROM r), 'input_tokens', 10, 'output_tokens', 5,
    'started_at', '2026-11-01T10:00:05Z', 'completed_at', '2026-11-01T10:00:00Z')))) #>> '{0,body,error,code}',
          'invalid_field', 'a settle starting after it completed is refused');
SELECT is((SELECT status FROM token_holds WHERE id = (SELECT (res #>> '{body,id}')::uuid FROM r)), 'held',
          'and leaves the reservation held');
CREATE TEMP TABLE s AS
SELECT usage_apply(jsonb_build_array(jsonb_build_object('op', 'settle', 'tenant_id', :ta, 'args', jsonb_build_object(
    'id', (SELECT res #>> '{body,id}' FROM r), 'input_tokens', 10, 'output_tokens', 5,
    'started_at', '2026-11-01T10:00:00Z', 'request_payload', '{"p": 1}')))) -> 0 AS res;
SELECT is((SELECT ARRAY[project_id::text, started_at::text, (completed_at > started_at)::text, (request_payload IS NULL)::text]
             FROM ai_requests WHERE id = (SELECT (res #>> '{body,ai_request_id}')::uuid FROM s)),
          ARRAY[:pa, '2026-11-01 10:00:00+00', 'true', 'true'],
          'the settled call has the project, its times, and no payload (the tenant keeps none)');
SELECT is((SELECT sum(total_tokens)::int FROM cost_tracking WHERE tenant_id = :ta AND period_type = 'hourly' AND project_id = :pa),
          15, 'the hourly rollup counts it under the project');
SELECT is(usage_apply(jsonb_build_array(jsonb_build_object('op', 'event', 'tenant_id', :ta, 'args', jsonb_build_object(
    'user_id', :ua, 'project_id', :pb, 'provider', 'req-test', 'model', 'm', 'input_tokens', 1, 'output_tokens', 1))))
          #>> '{0,body,error,message}',
          'project 18000000-0000-7000-8000-0000000000c2 not found', 'an event naming another tenant''s project is refused');
SELECT is(usage_apply(jsonb_build_array(jsonb_build_object('op', 'event', 'tenant_id', :ta, 'args', jsonb_build_object(
    'user_id', :ua, 'provider', 'req-test', 'model', 'm', 'input_tokens', 20, 'output_tokens', 0))))
          #>> '{0,status}', '201', 'an event without a project is counted');
SELECT is((SELECT count(*)::int FROM cost_tracking WHERE tenant_id = :ta AND period_type = 'hourly'), 2,
          'in a rollup row of its own');
SELECT cmp_ok(usage_rollup(), '>', 0, 'the rollups roll the project up');
SELECT is((SELECT sum(total_tokens)::int FROM cost_tracking WHERE tenant_id = :ta AND period_type = 'monthly' AND project_id = :pa),
          15, 'into the monthly rows, by project');
SELECT is(usage_rollup(), 0, 'running it again changes nothing');

-- ---- reports -----------------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT is((SELECT jsonb_agg(g ->> 'project_id' ORDER BY g ->> 'project_id' NULLS FIRST)
             FROM jsonb_array_elements(usage_summary(now() - interval '1 day', now() + interval '1 hour', 'project') -> 'groups') g),
          jsonb_build_array(NULL, :pa), 'the summary groups by project');
SELECT throws_ok($$SELECT usage_summary(now() - interval '1 day', now(), 'planet')$$, '22023',
          'invalid group_by planet: expected model, user, agent, project, day or hour', 'and names what it takes');
SELECT is(usage_monthly(:ua, current_date) - 'from' - 'to',
          jsonb_build_object('user_id', :ua, 'month', to_char(current_date, 'YYYY-MM'), 'requests', 2,
                             'input_tokens', 30, 'output_tokens', 5, 'cached_tokens', 0, 'total_tokens', 35,
                             'cost_usd', 35.0000000000,
                             'projects', jsonb_build_array(
                                 jsonb_build_object('project_id', NULL, 'requests', 1, 'input_tokens', 20,
                                                    'output_tokens', 0, 'cached_tokens', 0, 'total_tokens', 20,
                                                    'cost_usd', 20.0000000000),
                                 jsonb_build_object('project_id', :pa, 'requests', 1, 'input_tokens', 10,
                                                    'output_tokens', 5, 'cached_tokens', 0, 'total_tokens', 15,
                                                    'cost_usd', 15.0000000000))),
          'a user''s month, in all and by project (by cost)');
SELECT is(usage_monthly(:ua, '2020-01-15') ->> 'total_tokens', '0', 'another month is zero');
SELECT is(usage_monthly(:ua, '2020-01-15') ->> 'from', '2020-01-01T00:00:00+00:00', 'a month starts on its first, UTC');
SELECT throws_ok($$SELECT usage_monthly('18000000-0000-7000-8000-0000000000b1', current_date)$$, 'AB404', NULL,
          'a user of another tenant is not found');
SELECT throws_ok($$SELECT usage_monthly(NULL, current_date)$$, '22023', NULL, 'a month needs a user');
SELECT is(jsonb_array_length(usage_requests(now() - interval '1 day', now() + interval '1 hour', NULL, 'm', NULL, NULL,
                                            NULL, NULL, 50) -> 'data'), 5,
          'the requests behind the rollups, by model');
SELECT is(jsonb_array_length(usage_requests(now() - interval '1 day', now() + interval '1 hour', 'req-test', 'm', NULL,
                                            NULL, NULL, NULL, 50) -> 'data'), 2,
          'by provider and model');
SELECT is(usage_requests(now() - interval '1 day', now() + interval '1 hour', 'req-test', NULL, :ua, NULL, :pa, NULL, 50)
            #>> '{data,0,id}',
          (SELECT res #>> '{body,ai_request_id}' FROM s), 'by provider, user and project');
SELECT is(usage_requests(now() - interval '1 day', now() + interval '1 hour', NULL, NULL, NULL, NULL, NULL, NULL, 1)
            -> 'has_more', 'true', 'a page at a time');
SELECT throws_ok($$SELECT usage_requests(now(), now() - interval '1 day', NULL, NULL, NULL, NULL, NULL, NULL, 50)$$,
          '22023', 'invalid period: from must be before to', 'a period ends after it starts');
SELECT matches(abtest.plan(format($$SELECT * FROM agentbase.ai_requests r WHERE r.tenant_id = %L AND r.project_id = %L
                                     AND r.created_at >= now() - interval '1 day' ORDER BY r.created_at DESC LIMIT 10$$,
                                  :ta, :pa)),
               'idx_ai_requests_tenant_id_project_id_created_at|ai_requests_p[0-9]+_tenant_id_project_id_created_at',
               'a project''s requests are an index range');
SELECT abtest.unbecome();
SELECT pg_temp.act(:ua2);
SELECT throws_ok(format($$SELECT usage_monthly(%L, current_date)$$, :ua), '42501', NULL,
                 'a user reads only their own month');
SELECT is(usage_monthly(:ua2, current_date) ->> 'requests', '0', 'their own is theirs');
SELECT is(jsonb_array_length(usage_requests(now() - interval '1 day', now() + interval '1 hour', NULL, NULL, NULL, NULL,
                                            NULL, NULL, 50) -> 'data'), 0, 'and they list only their own requests');
SELECT abtest.unbecome();

-- ---- performance aggregates ---------------------------------------------------------------
INSERT INTO performance_metrics (tenant_id, agent_id, metric_name, value, recorded_at)
SELECT :ta, CASE WHEN v <= 50 THEN :ag::uuid END, 'latency_ms', v, date_trunc('hour', now()) + interval '1 second'
  FROM generate_series(1, 100) v;
INSERT INTO performance_metrics (tenant_id, agent_id, metric_name, value, recorded_at)
VALUES (:tb, NULL, 'latency_ms', 1000, date_trunc('hour', now()) + interval '1 second');
SELECT is(performance_rollup(), 6, 'the rollup makes hourly and daily rows: per agent, and tenant-wide for each tenant');
SELECT is((SELECT ARRAY[sample_count, min_value, max_value, avg_value, p50_value, p95_value, p99_value]
             FROM performance_metric_rollups WHERE tenant_id = :ta AND period_type = 'hourly' AND agent_id IS NULL),
          ARRAY[100, 1, 100, 50.5, 50.5, 95.05, 99.01]::numeric[], 'tenant-wide: count, min, max, avg, p50, p95, p99');
SELECT is((SELECT ARRAY[sample_count, min_value, max_value, p50_value]
             FROM performance_metric_rollups WHERE tenant_id = :ta AND period_type = 'daily' AND agent_id = :ag),
          ARRAY[50, 1, 50, 25.5]::numeric[], 'per agent');
SELECT is(performance_rollup(), 0, 'running it again changes nothing');
INSERT INTO performance_metrics (tenant_id, agent_id, metric_name, value, recorded_at)
VALUES (:ta, :ag, 'latency_ms', 500, date_trunc('hour', now()) + interval '2 seconds');
SELECT is(performance_rollup(), 4, 'a new measurement changes the agent''s and the tenant''s rows of both periods');
SELECT is(performance_rollup(now() - interval '30 days'), 0, 'a rebuild from a date agrees');
SELECT abtest.become(:tb);
SELECT is((SELECT count(*)::int FROM performance_metric_rollups), 2, 'the service in B sees only B''s aggregates');
SELECT throws_ok($$INSERT INTO performance_metric_rollups (tenant_id, period_type, period_start, metric_name,
                   sample_count, min_value, max_value, avg_value, p50_value, p95_value, p99_value)
                   VALUES ('18000000-0000-7000-8000-00000000000b', 'hourly', now(), 'x', 1, 1, 1, 1, 1, 1, 1)$$,
          '42501', NULL, 'and writes none: only the rollup does');
SELECT abtest.unbecome();

SELECT * FROM finish();
ROLLBACK;
