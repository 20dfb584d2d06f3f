-- Retention of workflow executions (0023): retention_run() deletes the finished executions
-- past the tenant's days (90 by default) with what cascades from them, keeps running and
-- recent ones, and writes no audit row for what it deletes; a client that sets
-- agentbase.retention itself is still audited.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(7);

\set td '''23000000-0000-7000-8000-00000000000d'''
\set wf '''23000000-0000-7000-8000-0000000000f1'''
INSERT INTO tenants (id, slug, name, plan) VALUES (:td, 'ret-d', 'D', 'pro');
INSERT INTO workflows (tenant_id, id, name) VALUES (:td, :wf, 'nightly');
INSERT INTO workflow_executions (tenant_id, id, workflow_id, status, created_at) VALUES
  (:td, '23000000-0000-7000-8000-0000000000e1', :wf, 'completed', now() - interval '100 days'),
  (:td, '23000000-0000-7000-8000-0000000000e2', :wf, 'failed', now() - interval '95 days'),
  (:td, '23000000-0000-7000-8000-0000000000e3', :wf, 'running', now() - interval '100 days'),
  (:td, '23000000-0000-7000-8000-0000000000e4', :wf, 'completed', now() - interval '10 days');
INSERT INTO workflow_step_executions (tenant_id, execution_id, step_id, status) VALUES
  (:td, '23000000-0000-7000-8000-0000000000e1', 'fetch', 'completed'),
  (:td, '23000000-0000-7000-8000-0000000000e4', 'fetch', 'completed');

SELECT is(ARRAY(SELECT kind || '=' || days FROM retention_policy()
                 WHERE tenant_id = :td AND kind = 'workflow_executions'),
          '{workflow_executions=90}', 'workflow executions are kept 90 days by default');
CREATE TEMP TABLE run AS SELECT * FROM retention_run(5000);
SELECT cmp_ok((SELECT rows_removed FROM run WHERE kind = 'workflow_executions'), '>=', 2::bigint,
              'retention_run reports the executions it deleted');
SELECT is(ARRAY(SELECT status FROM workflow_executions WHERE tenant_id = :td ORDER BY created_at, status),
          '{running,completed}', 'the finished ones past 90 days are gone; a running one and a recent one stay');
SELECT is((SELECT count(*)::int FROM workflow_step_executions WHERE tenant_id = :td), 1,
          'their step executions went with them');
SELECT is((SELECT count(*)::int FROM audit_logs WHERE tenant_id = :td AND action LIKE '%.deleted'), 0,
          'and no audit row keeps what retention deleted');
SELECT is(current_setting('agentbase.retention', true), '', 'retention_run leaves the setting off');

-- the service's login setting agentbase.retention is audited all the same
SET LOCAL SESSION AUTHORIZATION agentbase_service;
SET LOCAL ROLE agentbase_app;
SELECT agentbase.set_request_context(:td, 'system', 'abtest') \g /dev/null
SELECT set_config('agentbase.retention', 'on', true) \g /dev/null
DELETE FROM workflow_executions WHERE tenant_id = :td AND status = 'completed';
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM audit_logs WHERE tenant_id = :td AND action = 'workflow_execution.deleted'), 1,
          'a client that sets agentbase.retention is still audited');

SELECT * FROM finish();
ROLLBACK;
