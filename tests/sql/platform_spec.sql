-- pgTAP: 0019_platform_spec's behaviour (its columns, checks and indexes are in the modules'
-- files and in catalog.sql): slugs derived from names and unique among a tenant's live rows,
-- execution progress kept by the step executions, and failed attempts in the audit trail,
-- written as the service's own role.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(36);

\set ta '''a0190000-0000-4000-8000-00000000000a'''
\set tb '''b0190000-0000-4000-8000-00000000000b'''
SELECT abtest.fixture_0002_tenancy(:ta);
SELECT abtest.fixture_0003_agents(:ta);
SELECT abtest.fixture_0002_tenancy(:tb);
SELECT abtest.fixture_0003_agents(:tb);
SELECT abtest.fixture_0005_workflows(:ta);

-- new_agent(name[, slug]): an agent of tenant A (as the service), its slug back.
CREATE FUNCTION pg_temp.new_agent(p_name text, p_slug text DEFAULT NULL) RETURNS text
LANGUAGE sql AS $$
    INSERT INTO agentbase.agents (tenant_id, name, slug, model_provider, model_name)
    VALUES (agentbase.current_tenant_id(), p_name, p_slug, 'openai', 'gpt-4o') RETURNING slug
$$;

-- ------------------------------------------------------------------------------------
-- Slugs
-- ------------------------------------------------------------------------------------
SELECT is(agentbase.slugify(v.name), v.slug, format('slugify(%L) is %L', v.name, v.slug))
  FROM (VALUES ('Code Reviewer', 'code-reviewer'), ('  --Ünïcode & Co.--  ', 'n-code-co'),
               ('!!!', 'item'), (repeat('long ', 20), rtrim(left(repeat('long-', 20), 56), '-'))) v(name, slug);

SELECT abtest.become(:ta);
SELECT is(pg_temp.new_agent('Code Reviewer'), 'code-reviewer', 'a slug left out comes from the name');
SELECT is(pg_temp.new_agent('code reviewer'), 'code-reviewer-2', 'a taken slug gets a suffix');
SELECT is(pg_temp.new_agent('CODE-REVIEWER'), 'code-reviewer-3', 'and the next one the next suffix');
SELECT is(pg_temp.new_agent('Planner', 'the-planner'), 'the-planner', 'a slug given is kept');
SELECT throws_ok($$SELECT pg_temp.new_agent('Planner 2', 'the-planner')$$, '23505', NULL,
                 'two live agents of a tenant cannot share a slug');
SELECT is(pg_temp.new_agent('0190a6f2-1c3b-7000-8000-00000000000a'), 'x-0190a6f2-1c3b-7000-8000-00000000000a',
          'a name shaped like a UUID gives a slug that is not one');
UPDATE agents SET name = 'Senior Code Reviewer' WHERE slug = 'code-reviewer';
SELECT is((SELECT slug FROM agents WHERE name = 'Senior Code Reviewer'), 'code-reviewer',
          'a rename keeps the slug (it is an address)');
UPDATE agents SET slug = NULL WHERE name = 'Senior Code Reviewer';
SELECT is((SELECT slug FROM agents WHERE name = 'Senior Code Reviewer'), 'senior-code-reviewer',
          'setting the slug to null derives it again from the name');
UPDATE agents SET deleted_at = now() WHERE slug = 'code-reviewer-2';
SELECT is(pg_temp.new_agent('Code Reviewer!'), 'code-reviewer', 'a soft-deleted agent''s slug is free again');
SELECT is(pg_temp.new_agent('Code reviewer?'), 'code-reviewer-2', 'so is its suffix');
SELECT is((SELECT slug FROM workflows WHERE tenant_id = :ta AND name LIKE 'fixture-review-%'),
          (SELECT agentbase.slugify(name) FROM workflows WHERE tenant_id = :ta AND name LIKE 'fixture-review-%'),
          'workflows get slugs from their names too');
SELECT lives_ok($$INSERT INTO collections (tenant_id, name, embedding_model, embedding_dimensions)
                  VALUES (agentbase.current_tenant_id(), 'Product Docs', 'text-embedding-3-small', 3)$$,
                'a collection is created without a slug');
SELECT is((SELECT slug FROM collections WHERE name = 'Product Docs'), 'product-docs', 'and gets one from its name');
SELECT abtest.unbecome();

SELECT abtest.become(:tb);
SELECT is(pg_temp.new_agent('Code Reviewer'), 'code-reviewer', 'another tenant''s slugs are its own');
SELECT abtest.unbecome();

SELECT is((SELECT count(*)::int FROM agents WHERE slug IS NULL), 0, 'every agent has a slug');
SELECT is((SELECT count(*)::int FROM audit_logs WHERE tenant_id = :ta AND action = 'agent.created'
              AND new_values ->> 'slug' = 'the-planner'), 1, 'the slug is in the audit trail of the create');

-- ------------------------------------------------------------------------------------
-- Execution progress, kept by the step executions
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT id AS wf FROM workflows WHERE name LIKE 'fixture-review-%' \gset
INSERT INTO workflow_executions (tenant_id, workflow_id) VALUES (agentbase.current_tenant_id(), :'wf')
RETURNING id AS ex \gset
SELECT is((SELECT (steps_total, steps_completed, current_step)::text FROM workflow_executions WHERE id = :'ex'),
          '(3,0,)', 'a new execution has as many steps as its workflow''s definition has nodes, none done');
INSERT INTO workflow_step_executions (tenant_id, execution_id, step_id, status)
VALUES (agentbase.current_tenant_id(), :'ex', 'draft', 'running');
SELECT is((SELECT current_step FROM workflow_executions WHERE id = :'ex'), 'draft',
          'a step that starts running is the current step');
UPDATE workflow_step_executions SET status = 'completed' WHERE execution_id = :'ex' AND step_id = 'draft';
SELECT is((SELECT (steps_completed, current_step)::text FROM workflow_executions WHERE id = :'ex'), '(1,draft)',
          'a completed step counts');
INSERT INTO workflow_step_executions (tenant_id, execution_id, step_id, status)
VALUES (agentbase.current_tenant_id(), :'ex', 'review', 'running');
UPDATE workflow_step_executions SET status = 'failed' WHERE execution_id = :'ex' AND step_id = 'review';
INSERT INTO workflow_step_executions (tenant_id, execution_id, step_id, status, attempt)
VALUES (agentbase.current_tenant_id(), :'ex', 'review', 'running', 2);
SELECT is((SELECT (steps_completed, current_step)::text FROM workflow_executions WHERE id = :'ex'), '(1,review)',
          'a failed attempt does not count; its retry is the current step');
UPDATE workflow_step_executions SET status = 'completed' WHERE execution_id = :'ex' AND step_id = 'review' AND attempt = 2;
INSERT INTO workflow_step_executions (tenant_id, execution_id, step_id, status)
VALUES (agentbase.current_tenant_id(), :'ex', 'publish', 'skipped');
SELECT is((SELECT (steps_completed, steps_total, current_step)::text FROM workflow_executions WHERE id = :'ex'),
          '(3,3,review)', 'completed and skipped steps count once each, retries included');
INSERT INTO workflow_executions (tenant_id, workflow_id, steps_total) VALUES (agentbase.current_tenant_id(), :'wf', 7)
RETURNING id AS ex2 \gset
SELECT is((SELECT steps_total FROM workflow_executions WHERE id = :'ex2'), 7, 'a steps_total given is kept');
SELECT is((SELECT steps_completed FROM workflow_executions WHERE id = :'ex2'), 0,
          'another execution''s steps are not counted');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Failed attempts in the audit trail
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT agentbase.set_request_context(:ta, 'api_key', 'key-7', '192.0.2.7', 'curl/8', 'req-refused');
SELECT lives_ok($$SELECT agentbase.audit_refused('POST', '/v1/agents', 409, 'conflict', 'name is taken')$$,
                'the service records a refused create');
SELECT lives_ok($$SELECT agentbase.audit_refused('DELETE', '/v1/agents/code-reviewer', 403, 'forbidden', 'no')$$,
                'and a refused delete');
SELECT lives_ok($$SELECT agentbase.audit_refused('POST', '/v1/usage/reservations/0190a6f2-1c3b-7000-8000-00000000000a/settle', 409, 'conflict', 'settled')$$,
                'and a refused operation');
SELECT throws_ok($$INSERT INTO audit_logs (tenant_id, action, resource_type, status) VALUES (agentbase.current_tenant_id(), 'x.y', 'x', 'failure')$$,
                 '42501', NULL, 'the service still cannot write the trail itself');
SELECT abtest.unbecome();
SELECT results_eq($$SELECT action, resource_type, coalesce(resource_id, ''), status, error_message, actor_type, actor_id,
                           host(ip_address), request_id, metadata ->> 'http_status'
                      FROM audit_logs WHERE tenant_id = 'a0190000-0000-4000-8000-00000000000a' AND request_id = 'req-refused'
                     ORDER BY action$$,
                  $$VALUES ('agents.create', 'agents', '', 'failure', 'name is taken', 'api_key', 'key-7', '192.0.2.7', 'req-refused', '409'),
                           ('agents.delete', 'agents', 'code-reviewer', 'failure', 'no', 'api_key', 'key-7', '192.0.2.7', 'req-refused', '403'),
                           ('usage.settle', 'usage', '0190a6f2-1c3b-7000-8000-00000000000a', 'failure', 'settled', 'api_key', 'key-7', '192.0.2.7', 'req-refused', '409')$$,
                  'a refusal is recorded as a failure, with the refused request''s context');

SELECT abtest.become(:ta);
SELECT lives_ok($$SELECT agentbase.audit_failure('auth.login', 'user', 'u-1', 'sign-in refused', '{"locked": false}')$$,
                'a failed sign-in is recorded');
SELECT abtest.unbecome();
SELECT is((SELECT (status, error_message, metadata)::text FROM audit_logs WHERE tenant_id = :ta AND action = 'auth.login'),
          '(failure,"sign-in refused","{""locked"": false}")', 'with its status, error and details');
SELECT is((SELECT count(*)::int FROM audit_logs WHERE tenant_id = :ta AND status = 'success' AND error_message IS NOT NULL), 0,
          'the changes the triggers record are successes without an error');

SELECT abtest.become(NULL);
SELECT throws_ok($$SELECT agentbase.audit_failure('auth.login', 'user', NULL, 'x')$$, '22023', NULL,
                 'a failure without a tenant context is refused');
SELECT abtest.unbecome();

SELECT * FROM finish();
ROLLBACK;
