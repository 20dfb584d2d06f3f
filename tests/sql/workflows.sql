-- pgTAP tests of 0005_workflows: structure, every named CHECK, the DAG check (0014's), the
-- triggers (execution version, quality gate last result), uniqueness rules, delete
-- actions, RLS and the fixture. Needs tests/sql/setup.sql and tests/sql/fixtures/*.sql.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(271);

-- Tenants A and B, built by the modules' fixtures (0002, 0003, then ours).
SELECT abtest.fixture_0002_tenancy('a0050000-0000-4000-8000-00000000000a');
SELECT abtest.fixture_0003_agents('a0050000-0000-4000-8000-00000000000a');
SELECT abtest.fixture_0002_tenancy('b0050000-0000-4000-8000-00000000000b');
SELECT abtest.fixture_0003_agents('b0050000-0000-4000-8000-00000000000b');
SELECT abtest.fixture_0005_workflows('a0050000-0000-4000-8000-00000000000a');
SELECT abtest.fixture_0005_workflows('b0050000-0000-4000-8000-00000000000b');

CREATE TEMP TABLE module_tables (rel regclass PRIMARY KEY);
INSERT INTO module_tables VALUES
    ('agentbase.workflows'), ('agentbase.workflow_executions'), ('agentbase.workflow_step_executions'),
    ('agentbase.quality_gates'), ('agentbase.quality_gate_results'), ('agentbase.tasks'),
    ('agentbase.engines'), ('agentbase.engine_assignments'), ('agentbase.routing_strategies'),
    ('agentbase.workers'), ('agentbase.orchestration_runs');

-- rejects(sql, constraint): the statement fails with check_violation on that constraint.
-- Records the constraint so that the last test can tell whether every CHECK was tried.
CREATE TEMP TABLE covered_checks (conname text);
CREATE FUNCTION pg_temp.rejects(p_sql text, p_constraint text, p_what text DEFAULT 'a bad value')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_ran boolean := false;
    v_state text;
    v_constraint text;
BEGIN
    INSERT INTO covered_checks VALUES (p_constraint);
    BEGIN
        EXECUTE p_sql;
        v_ran := true;
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN OTHERS THEN
        IF NOT v_ran THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_constraint = CONSTRAINT_NAME;
        END IF;
    END;
    RETURN is(coalesce(v_state, 'no error') || ' ' || coalesce(v_constraint, ''), '23514 ' || p_constraint,
              p_constraint || ' rejects ' || p_what);
END
$$;

-- ------------------------------------------------------------------------------------
-- Structure
-- ------------------------------------------------------------------------------------

-- workflows
SELECT has_table('agentbase', 'workflows', 'workflows exists');
SELECT columns_are('agentbase', 'workflows', ARRAY['tenant_id', 'id', 'name', 'description', 'definition', 'agent_ids', 'timeout_seconds', 'max_retries', 'retry_delay_seconds', 'status', 'version', 'is_template', 'template_id', 'tags', 'metadata', 'created_by', 'created_at', 'updated_at', 'deleted_at', 'slug'], 'workflows has exactly its columns');
SELECT col_is_pk('agentbase', 'workflows', ARRAY['tenant_id', 'id'], 'workflows primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'workflows', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_workflows_tenants');
SELECT fk_ok('agentbase', 'workflows', ARRAY['tenant_id', 'created_by'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'fk_workflows_users');
SELECT fk_ok('agentbase', 'workflows', ARRAY['tenant_id', 'template_id'], 'agentbase', 'workflows', ARRAY['tenant_id', 'id'], 'fk_workflows_workflows');
SELECT has_index('agentbase', 'workflows', 'idx_workflows_agent_ids', 'workflows has index idx_workflows_agent_ids');
SELECT has_index('agentbase', 'workflows', 'idx_workflows_created_by', 'workflows has index idx_workflows_created_by');
SELECT has_index('agentbase', 'workflows', 'idx_workflows_template_id', 'workflows has index idx_workflows_template_id');
SELECT has_index('agentbase', 'workflows', 'uq_workflows_name', 'workflows has index uq_workflows_name');
SELECT triggers_are('agentbase', 'workflows', ARRAY['trg_audit', 'trg_refs', 'trg_slug', 'trg_updated_at'], 'workflows has its triggers');

-- workflow_executions
SELECT has_table('agentbase', 'workflow_executions', 'workflow_executions exists');
SELECT columns_are('agentbase', 'workflow_executions', ARRAY['tenant_id', 'id', 'workflow_id', 'workflow_version', 'status', 'input', 'output', 'error', 'triggered_by', 'triggered_by_user_id', 'started_at', 'completed_at', 'duration_ms', 'retry_count', 'context', 'created_at', 'updated_at', 'current_step', 'steps_completed', 'steps_total', 'metadata'], 'workflow_executions has exactly its columns');
SELECT col_is_pk('agentbase', 'workflow_executions', ARRAY['tenant_id', 'id'], 'workflow_executions primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'workflow_executions', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_workflow_executions_tenants');
SELECT fk_ok('agentbase', 'workflow_executions', ARRAY['tenant_id', 'triggered_by_user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'fk_workflow_executions_users');
SELECT fk_ok('agentbase', 'workflow_executions', ARRAY['tenant_id', 'workflow_id'], 'agentbase', 'workflows', ARRAY['tenant_id', 'id'], 'fk_workflow_executions_workflows');
SELECT has_index('agentbase', 'workflow_executions', 'idx_workflow_executions_status', 'workflow_executions has index idx_workflow_executions_status');
SELECT has_index('agentbase', 'workflow_executions', 'idx_workflow_executions_triggered_by_user_id', 'workflow_executions has index idx_workflow_executions_triggered_by_user_id');
SELECT has_index('agentbase', 'workflow_executions', 'idx_workflow_executions_workflow_id_created_at', 'workflow_executions has index idx_workflow_executions_workflow_id_created_at');
SELECT triggers_are('agentbase', 'workflow_executions', ARRAY['trg_audit', 'trg_fill_steps', 'trg_fill_version', 'trg_updated_at'], 'workflow_executions has its triggers');

-- workflow_step_executions
SELECT has_table('agentbase', 'workflow_step_executions', 'workflow_step_executions exists');
SELECT columns_are('agentbase', 'workflow_step_executions', ARRAY['tenant_id', 'id', 'execution_id', 'step_id', 'step_name', 'agent_id', 'status', 'input', 'output', 'error', 'attempt', 'started_at', 'completed_at', 'duration_ms', 'created_at', 'updated_at'], 'workflow_step_executions has exactly its columns');
SELECT col_is_pk('agentbase', 'workflow_step_executions', ARRAY['tenant_id', 'id'], 'workflow_step_executions primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'workflow_step_executions', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'fk_workflow_step_executions_agents');
SELECT fk_ok('agentbase', 'workflow_step_executions', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_workflow_step_executions_tenants');
SELECT fk_ok('agentbase', 'workflow_step_executions', ARRAY['tenant_id', 'execution_id'], 'agentbase', 'workflow_executions', ARRAY['tenant_id', 'id'], 'fk_workflow_step_executions_workflow_executions');
SELECT has_index('agentbase', 'workflow_step_executions', 'idx_workflow_step_executions_agent_id', 'workflow_step_executions has index idx_workflow_step_executions_agent_id');
SELECT has_index('agentbase', 'workflow_step_executions', 'uq_workflow_step_executions_execution_id_step_id_attempt', 'workflow_step_executions has index uq_workflow_step_executions_execution_id_step_id_attempt');
SELECT triggers_are('agentbase', 'workflow_step_executions', ARRAY['trg_audit', 'trg_progress', 'trg_updated_at'], 'workflow_step_executions has its triggers');

-- quality_gates
SELECT has_table('agentbase', 'quality_gates', 'quality_gates exists');
SELECT columns_are('agentbase', 'quality_gates', ARRAY['tenant_id', 'id', 'workflow_id', 'name', 'description', 'gate_type', 'criteria', 'threshold', 'is_blocking', 'status', 'last_status', 'last_score', 'last_evaluated_at', 'metadata', 'created_at', 'updated_at'], 'quality_gates has exactly its columns');
SELECT col_is_pk('agentbase', 'quality_gates', ARRAY['tenant_id', 'id'], 'quality_gates primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'quality_gates', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_quality_gates_tenants');
SELECT fk_ok('agentbase', 'quality_gates', ARRAY['tenant_id', 'workflow_id'], 'agentbase', 'workflows', ARRAY['tenant_id', 'id'], 'fk_quality_gates_workflows');
SELECT has_index('agentbase', 'quality_gates', 'uq_quality_gates_workflow_id_name', 'quality_gates has index uq_quality_gates_workflow_id_name');
SELECT triggers_are('agentbase', 'quality_gates', ARRAY['trg_audit', 'trg_updated_at'], 'quality_gates has its triggers');

-- tasks
SELECT has_table('agentbase', 'tasks', 'tasks exists');
SELECT columns_are('agentbase', 'tasks', ARRAY['tenant_id', 'id', 'title', 'description', 'task_type', 'status', 'priority', 'parent_task_id', 'workflow_execution_id', 'assigned_agent_ids', 'assigned_user_id', 'created_by', 'result', 'error', 'scheduled_at', 'due_at', 'started_at', 'completed_at', 'estimated_hours', 'actual_hours', 'dependencies', 'tags', 'metadata', 'created_at', 'updated_at', 'project_id', 'primary_agent', 'execution_time_seconds'], 'tasks has exactly its columns');
SELECT col_is_pk('agentbase', 'tasks', ARRAY['tenant_id', 'id'], 'tasks primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'tasks', ARRAY['tenant_id', 'parent_task_id'], 'agentbase', 'tasks', ARRAY['tenant_id', 'id'], 'fk_tasks_tasks');
SELECT fk_ok('agentbase', 'tasks', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_tasks_tenants');
SELECT fk_ok('agentbase', 'tasks', ARRAY['tenant_id', 'assigned_user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'fk_tasks_users_assigned_user');
SELECT fk_ok('agentbase', 'tasks', ARRAY['tenant_id', 'created_by'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'fk_tasks_users_created_by');
SELECT fk_ok('agentbase', 'tasks', ARRAY['tenant_id', 'workflow_execution_id'], 'agentbase', 'workflow_executions', ARRAY['tenant_id', 'id'], 'fk_tasks_workflow_executions');
SELECT has_index('agentbase', 'tasks', 'idx_tasks_assigned_agent_ids', 'tasks has index idx_tasks_assigned_agent_ids');
SELECT has_index('agentbase', 'tasks', 'idx_tasks_assigned_user_id', 'tasks has index idx_tasks_assigned_user_id');
SELECT has_index('agentbase', 'tasks', 'idx_tasks_created_by', 'tasks has index idx_tasks_created_by');
SELECT has_index('agentbase', 'tasks', 'idx_tasks_dependencies', 'tasks has index idx_tasks_dependencies');
SELECT has_index('agentbase', 'tasks', 'idx_tasks_parent_task_id', 'tasks has index idx_tasks_parent_task_id');
SELECT has_index('agentbase', 'tasks', 'idx_tasks_status_due_at', 'tasks has index idx_tasks_status_due_at');
SELECT has_index('agentbase', 'tasks', 'idx_tasks_workflow_execution_id', 'tasks has index idx_tasks_workflow_execution_id');
SELECT triggers_are('agentbase', 'tasks', ARRAY['trg_audit', 'trg_no_cycle', 'trg_refs', 'trg_updated_at'], 'tasks has its triggers');

-- quality_gate_results
SELECT has_table('agentbase', 'quality_gate_results', 'quality_gate_results exists');
SELECT columns_are('agentbase', 'quality_gate_results', ARRAY['tenant_id', 'id', 'quality_gate_id', 'workflow_execution_id', 'task_id', 'status', 'score', 'details', 'evaluated_by', 'evaluated_at', 'created_at', 'updated_at'], 'quality_gate_results has exactly its columns');
SELECT col_is_pk('agentbase', 'quality_gate_results', ARRAY['tenant_id', 'id'], 'quality_gate_results primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'quality_gate_results', ARRAY['tenant_id', 'quality_gate_id'], 'agentbase', 'quality_gates', ARRAY['tenant_id', 'id'], 'fk_quality_gate_results_quality_gates');
SELECT fk_ok('agentbase', 'quality_gate_results', ARRAY['tenant_id', 'task_id'], 'agentbase', 'tasks', ARRAY['tenant_id', 'id'], 'fk_quality_gate_results_tasks');
SELECT fk_ok('agentbase', 'quality_gate_results', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_quality_gate_results_tenants');
SELECT fk_ok('agentbase', 'quality_gate_results', ARRAY['tenant_id', 'evaluated_by'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'fk_quality_gate_results_users');
SELECT fk_ok('agentbase', 'quality_gate_results', ARRAY['tenant_id', 'workflow_execution_id'], 'agentbase', 'workflow_executions', ARRAY['tenant_id', 'id'], 'fk_quality_gate_results_workflow_executions');
SELECT has_index('agentbase', 'quality_gate_results', 'idx_quality_gate_results_evaluated_by', 'quality_gate_results has index idx_quality_gate_results_evaluated_by');
SELECT has_index('agentbase', 'quality_gate_results', 'idx_quality_gate_results_quality_gate_id_evaluated_at', 'quality_gate_results has index idx_quality_gate_results_quality_gate_id_evaluated_at');
SELECT has_index('agentbase', 'quality_gate_results', 'idx_quality_gate_results_task_id', 'quality_gate_results has index idx_quality_gate_results_task_id');
SELECT has_index('agentbase', 'quality_gate_results', 'idx_quality_gate_results_workflow_execution_id', 'quality_gate_results has index idx_quality_gate_results_workflow_execution_id');
SELECT triggers_are('agentbase', 'quality_gate_results', ARRAY['trg_audit', 'trg_update_gate', 'trg_updated_at'], 'quality_gate_results has its triggers');

-- engines
SELECT has_table('agentbase', 'engines', 'engines exists');
SELECT columns_are('agentbase', 'engines', ARRAY['tenant_id', 'id', 'name', 'description', 'engine_type', 'status', 'capabilities', 'config', 'capacity', 'current_load', 'endpoint', 'last_heartbeat_at', 'metadata', 'created_at', 'updated_at'], 'engines has exactly its columns');
SELECT col_is_pk('agentbase', 'engines', ARRAY['tenant_id', 'id'], 'engines primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'engines', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_engines_tenants');
SELECT has_index('agentbase', 'engines', 'uq_engines_name', 'engines has index uq_engines_name');
SELECT triggers_are('agentbase', 'engines', ARRAY['trg_audit', 'trg_updated_at'], 'engines has its triggers');

-- engine_assignments
SELECT has_table('agentbase', 'engine_assignments', 'engine_assignments exists');
SELECT columns_are('agentbase', 'engine_assignments', ARRAY['tenant_id', 'id', 'engine_id', 'agent_id', 'workflow_id', 'priority', 'is_active', 'config', 'created_at', 'updated_at'], 'engine_assignments has exactly its columns');
SELECT col_is_pk('agentbase', 'engine_assignments', ARRAY['tenant_id', 'id'], 'engine_assignments primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'engine_assignments', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'fk_engine_assignments_agents');
SELECT fk_ok('agentbase', 'engine_assignments', ARRAY['tenant_id', 'engine_id'], 'agentbase', 'engines', ARRAY['tenant_id', 'id'], 'fk_engine_assignments_engines');
SELECT fk_ok('agentbase', 'engine_assignments', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_engine_assignments_tenants');
SELECT fk_ok('agentbase', 'engine_assignments', ARRAY['tenant_id', 'workflow_id'], 'agentbase', 'workflows', ARRAY['tenant_id', 'id'], 'fk_engine_assignments_workflows');
SELECT has_index('agentbase', 'engine_assignments', 'idx_engine_assignments_agent_id', 'engine_assignments has index idx_engine_assignments_agent_id');
SELECT has_index('agentbase', 'engine_assignments', 'idx_engine_assignments_workflow_id', 'engine_assignments has index idx_engine_assignments_workflow_id');
SELECT has_index('agentbase', 'engine_assignments', 'uq_engine_assignments_engine_id_agent_id', 'engine_assignments has index uq_engine_assignments_engine_id_agent_id');
SELECT has_index('agentbase', 'engine_assignments', 'uq_engine_assignments_engine_id_workflow_id', 'engine_assignments has index uq_engine_assignments_engine_id_workflow_id');
SELECT triggers_are('agentbase', 'engine_assignments', ARRAY['trg_audit', 'trg_updated_at'], 'engine_assignments has its triggers');

-- routing_strategies
SELECT has_table('agentbase', 'routing_strategies', 'routing_strategies exists');
SELECT columns_are('agentbase', 'routing_strategies', ARRAY['tenant_id', 'id', 'name', 'description', 'strategy_type', 'rules', 'weights', 'is_default', 'is_active', 'created_at', 'updated_at'], 'routing_strategies has exactly its columns');
SELECT col_is_pk('agentbase', 'routing_strategies', ARRAY['tenant_id', 'id'], 'routing_strategies primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'routing_strategies', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_routing_strategies_tenants');
SELECT has_index('agentbase', 'routing_strategies', 'uq_routing_strategies_is_default', 'routing_strategies has index uq_routing_strategies_is_default');
SELECT has_index('agentbase', 'routing_strategies', 'uq_routing_strategies_name', 'routing_strategies has index uq_routing_strategies_name');
SELECT triggers_are('agentbase', 'routing_strategies', ARRAY['trg_audit', 'trg_updated_at'], 'routing_strategies has its triggers');

-- workers
SELECT has_table('agentbase', 'workers', 'workers exists');
SELECT columns_are('agentbase', 'workers', ARRAY['tenant_id', 'id', 'engine_id', 'name', 'worker_type', 'status', 'capacity', 'current_load', 'capabilities', 'host', 'last_heartbeat_at', 'metadata', 'created_at', 'updated_at'], 'workers has exactly its columns');
SELECT col_is_pk('agentbase', 'workers', ARRAY['tenant_id', 'id'], 'workers primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'workers', ARRAY['tenant_id', 'engine_id'], 'agentbase', 'engines', ARRAY['tenant_id', 'id'], 'fk_workers_engines');
SELECT fk_ok('agentbase', 'workers', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_workers_tenants');
SELECT has_index('agentbase', 'workers', 'idx_workers_engine_id', 'workers has index idx_workers_engine_id');
SELECT has_index('agentbase', 'workers', 'idx_workers_last_heartbeat_at', 'workers has index idx_workers_last_heartbeat_at');
SELECT has_index('agentbase', 'workers', 'uq_workers_name', 'workers has index uq_workers_name');
SELECT triggers_are('agentbase', 'workers', ARRAY['trg_audit', 'trg_updated_at'], 'workers has its triggers');

-- orchestration_runs
SELECT has_table('agentbase', 'orchestration_runs', 'orchestration_runs exists');
SELECT columns_are('agentbase', 'orchestration_runs', ARRAY['tenant_id', 'id', 'workflow_execution_id', 'step_execution_id', 'task_id', 'routing_strategy_id', 'engine_id', 'worker_id', 'agent_id', 'status', 'attempt', 'decision', 'error', 'queued_at', 'started_at', 'completed_at', 'duration_ms', 'created_at', 'updated_at'], 'orchestration_runs has exactly its columns');
SELECT col_is_pk('agentbase', 'orchestration_runs', ARRAY['tenant_id', 'id'], 'orchestration_runs primary key is (tenant_id, id)');
SELECT fk_ok('agentbase', 'orchestration_runs', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'fk_orchestration_runs_agents');
SELECT fk_ok('agentbase', 'orchestration_runs', ARRAY['tenant_id', 'engine_id'], 'agentbase', 'engines', ARRAY['tenant_id', 'id'], 'fk_orchestration_runs_engines');
SELECT fk_ok('agentbase', 'orchestration_runs', ARRAY['tenant_id', 'routing_strategy_id'], 'agentbase', 'routing_strategies', ARRAY['tenant_id', 'id'], 'fk_orchestration_runs_routing_strategies');
SELECT fk_ok('agentbase', 'orchestration_runs', ARRAY['tenant_id', 'task_id'], 'agentbase', 'tasks', ARRAY['tenant_id', 'id'], 'fk_orchestration_runs_tasks');
SELECT fk_ok('agentbase', 'orchestration_runs', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'fk_orchestration_runs_tenants');
SELECT fk_ok('agentbase', 'orchestration_runs', ARRAY['tenant_id', 'worker_id'], 'agentbase', 'workers', ARRAY['tenant_id', 'id'], 'fk_orchestration_runs_workers');
SELECT fk_ok('agentbase', 'orchestration_runs', ARRAY['tenant_id', 'workflow_execution_id'], 'agentbase', 'workflow_executions', ARRAY['tenant_id', 'id'], 'fk_orchestration_runs_workflow_executions');
SELECT fk_ok('agentbase', 'orchestration_runs', ARRAY['tenant_id', 'step_execution_id'], 'agentbase', 'workflow_step_executions', ARRAY['tenant_id', 'id'], 'fk_orchestration_runs_workflow_step_executions');
SELECT has_index('agentbase', 'orchestration_runs', 'idx_orchestration_runs_agent_id', 'orchestration_runs has index idx_orchestration_runs_agent_id');
SELECT has_index('agentbase', 'orchestration_runs', 'idx_orchestration_runs_engine_id', 'orchestration_runs has index idx_orchestration_runs_engine_id');
SELECT has_index('agentbase', 'orchestration_runs', 'idx_orchestration_runs_routing_strategy_id', 'orchestration_runs has index idx_orchestration_runs_routing_strategy_id');
SELECT has_index('agentbase', 'orchestration_runs', 'idx_orchestration_runs_status', 'orchestration_runs has index idx_orchestration_runs_status');
SELECT has_index('agentbase', 'orchestration_runs', 'idx_orchestration_runs_step_execution_id', 'orchestration_runs has index idx_orchestration_runs_step_execution_id');
SELECT has_index('agentbase', 'orchestration_runs', 'idx_orchestration_runs_task_id', 'orchestration_runs has index idx_orchestration_runs_task_id');
SELECT has_index('agentbase', 'orchestration_runs', 'idx_orchestration_runs_worker_id', 'orchestration_runs has index idx_orchestration_runs_worker_id');
SELECT has_index('agentbase', 'orchestration_runs', 'idx_orchestration_runs_workflow_execution_id', 'orchestration_runs has index idx_orchestration_runs_workflow_execution_id');
SELECT triggers_are('agentbase', 'orchestration_runs', ARRAY['trg_audit', 'trg_updated_at'], 'orchestration_runs has its triggers');

-- ------------------------------------------------------------------------------------
-- Conventions, over every table of the module
-- ------------------------------------------------------------------------------------

SELECT is(ARRAY(SELECT rel::text FROM module_tables m
                 WHERE obj_description(m.rel, 'pg_class') IS NULL ORDER BY 1),
          '{}', 'every table has a comment');
SELECT is(ARRAY(SELECT m.rel::text || '.' || a.attname FROM module_tables m
                  JOIN pg_attribute a ON a.attrelid = m.rel AND a.attnum > 0 AND NOT a.attisdropped
                 WHERE col_description(m.rel, a.attnum) IS NULL ORDER BY 1),
          '{}', 'every column has a comment');
SELECT is(ARRAY(SELECT m.rel::text FROM module_tables m
                  JOIN pg_attribute a ON a.attrelid = m.rel AND a.attnum = 1
                 WHERE a.attname <> 'tenant_id' ORDER BY 1),
          '{}', 'tenant_id is the first column of every table');
SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'c'
                   AND c.conname NOT LIKE 'chk\_' || replace((SELECT relname FROM pg_class WHERE oid = c.conrelid), '_', '\_') || '\_%'
                 ORDER BY 1),
          '{}', 'every CHECK is named chk_<table>_...');
SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'f' AND c.conname NOT LIKE 'fk\_%' ORDER BY 1),
          '{}', 'every foreign key is named fk_...');
SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'f'
                   AND NOT EXISTS (SELECT 1 FROM pg_index i
                                    WHERE i.indrelid = c.conrelid
                                      AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey)
                 ORDER BY 1),
          '{}', 'every foreign key is indexed (an index leads with its columns in order)');
SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'f' AND c.confdeltype = 'n'
                   AND (c.confdelsetcols IS NULL OR c.confdelsetcols && c.conkey[1:1])
                 ORDER BY 1),
          '{}', 'no ON DELETE SET NULL foreign key nulls tenant_id');
SELECT is(ARRAY(SELECT m.rel::text FROM module_tables m
                 WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c
                                    WHERE c.conrelid = m.rel AND c.contype = 'f'
                                      AND c.confrelid = 'agentbase.tenants'::regclass
                                      AND c.confdeltype = 'c'
                                      AND c.conname = 'fk_' || (SELECT relname FROM pg_class WHERE oid = m.rel) || '_tenants')
                 ORDER BY 1),
          '{}', 'every table has fk_<table>_tenants ON DELETE CASCADE');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'agentbase'::regnamespace AND c.relkind IN ('r', 'p')
                   AND (c.oid IN (SELECT rel FROM module_tables)
                        OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent IN (SELECT rel FROM module_tables)))
                   AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
                 ORDER BY 1),
          '{}', 'RLS is enabled and forced on every table (and partition)');
SELECT is(ARRAY(SELECT m.rel::text FROM module_tables m
                 WHERE NOT EXISTS (SELECT 1 FROM pg_policy p
                                    WHERE p.polrelid = m.rel AND p.polname = 'tenant_isolation')
                 ORDER BY 1),
          '{}', 'every table has the tenant_isolation policy');

-- Indexes whose exact shape the spec names.
SELECT is(pg_get_indexdef('agentbase.idx_workflow_executions_workflow_id_created_at'::regclass),
          'CREATE INDEX idx_workflow_executions_workflow_id_created_at ON agentbase.workflow_executions USING btree (tenant_id, workflow_id, created_at DESC)',
          'executions are listed per workflow, newest first, from an index');
SELECT is(pg_get_indexdef('agentbase.idx_tasks_assigned_agent_ids'::regclass),
          'CREATE INDEX idx_tasks_assigned_agent_ids ON agentbase.tasks USING gin (assigned_agent_ids)',
          'tasks.assigned_agent_ids has a GIN index');
SELECT is(pg_get_indexdef('agentbase.uq_workflows_name'::regclass),
          'CREATE UNIQUE INDEX uq_workflows_name ON agentbase.workflows USING btree (tenant_id, name) WHERE (deleted_at IS NULL)',
          'workflow names are unique per tenant among live workflows');
SELECT is(pg_get_indexdef('agentbase.uq_routing_strategies_is_default'::regclass),
          'CREATE UNIQUE INDEX uq_routing_strategies_is_default ON agentbase.routing_strategies USING btree (tenant_id) WHERE is_default',
          'at most one default routing strategy per tenant');
SELECT is(pg_get_indexdef('agentbase.uq_workflow_step_executions_execution_id_step_id_attempt'::regclass),
          'CREATE UNIQUE INDEX uq_workflow_step_executions_execution_id_step_id_attempt ON agentbase.workflow_step_executions USING btree (tenant_id, execution_id, step_id, attempt)',
          'one step row per execution, step and attempt');
SELECT is(pg_get_indexdef('agentbase.idx_workers_last_heartbeat_at'::regclass),
          'CREATE INDEX idx_workers_last_heartbeat_at ON agentbase.workers USING btree (last_heartbeat_at) WHERE (status <> ''offline''::text)',
          'stale workers are found from an index on last_heartbeat_at');

-- Delete actions of every foreign key (c = CASCADE, n = SET NULL of the named column).
SELECT results_eq(
    $$SELECT c.conname::text COLLATE "default", c.confdeltype::text,
             coalesce((SELECT string_agg(a.attname::text, ',') FROM unnest(c.confdelsetcols) k(n)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n), '') COLLATE "default"
        FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
       WHERE c.contype = 'f' AND c.confrelid <> 'agentbase.tenants'::regclass ORDER BY 1$$,
    $$VALUES ('fk_engine_assignments_agents', 'c', ''),
             ('fk_engine_assignments_engines', 'c', ''),
             ('fk_engine_assignments_workflows', 'c', ''),
             ('fk_orchestration_runs_agents', 'n', 'agent_id'),
             ('fk_orchestration_runs_engines', 'n', 'engine_id'),
             ('fk_orchestration_runs_routing_strategies', 'n', 'routing_strategy_id'),
             ('fk_orchestration_runs_tasks', 'c', ''),
             ('fk_orchestration_runs_workers', 'n', 'worker_id'),
             ('fk_orchestration_runs_workflow_executions', 'c', ''),
             ('fk_orchestration_runs_workflow_step_executions', 'c', ''),
             ('fk_quality_gate_results_quality_gates', 'c', ''),
             ('fk_quality_gate_results_tasks', 'c', ''),
             ('fk_quality_gate_results_users', 'n', 'evaluated_by'),
             ('fk_quality_gate_results_workflow_executions', 'c', ''),
             ('fk_quality_gates_workflows', 'c', ''),
             ('fk_tasks_agents_primary_agent', 'n', 'primary_agent'),
             ('fk_tasks_projects', 'n', 'project_id'),
             ('fk_tasks_tasks', 'c', ''),
             ('fk_tasks_users_assigned_user', 'n', 'assigned_user_id'),
             ('fk_tasks_users_created_by', 'n', 'created_by'),
             ('fk_tasks_workflow_executions', 'n', 'workflow_execution_id'),
             ('fk_workers_engines', 'n', 'engine_id'),
             ('fk_workflow_executions_users', 'n', 'triggered_by_user_id'),
             ('fk_workflow_executions_workflows', 'c', ''),
             ('fk_workflow_step_executions_agents', 'n', 'agent_id'),
             ('fk_workflow_step_executions_workflow_executions', 'c', ''),
             ('fk_workflows_users', 'n', 'created_by'),
             ('fk_workflows_workflows', 'n', 'template_id')$$,
    'foreign keys cascade or set only their own column to NULL, as specified');

-- ------------------------------------------------------------------------------------
-- The fixture: a row of A and of B in every table
-- ------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.tables_without_rows(p_tenant uuid) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_missing text[] := '{}';
    v_found boolean;
BEGIN
    FOR r IN SELECT rel FROM module_tables ORDER BY rel::text LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE tenant_id = $1)', r.rel) INTO v_found USING p_tenant;
        IF NOT v_found THEN
            v_missing := v_missing || r.rel::text;
        END IF;
    END LOOP;
    RETURN v_missing;
END
$$;
SELECT is(pg_temp.tables_without_rows('a0050000-0000-4000-8000-00000000000a'), '{}',
          'the fixture puts a row of tenant A in every table');
SELECT is(pg_temp.tables_without_rows('b0050000-0000-4000-8000-00000000000b'), '{}',
          'the fixture puts a row of tenant B in every table');

-- ------------------------------------------------------------------------------------
-- The DAG check
-- ------------------------------------------------------------------------------------

SELECT is(workflow_definition_problem('{"nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}],
    "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "c"}, {"source": "b", "target": "d"}, {"from": "c", "to": "d"}]}'),
          NULL, 'a diamond is a DAG (from/to and source/target edges)');
SELECT is(workflow_definition_problem('{"nodes": [], "edges": []}'), NULL, 'an empty definition is a DAG');
SELECT is(workflow_definition_problem('{"nodes": [{"id": 1}, {"id": 2}], "edges": [{"from": 1, "to": 2}]}'),
          NULL, 'numeric node ids are accepted');
SELECT is(workflow_definition_problem('{"nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}],
    "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "b"}, {"from": "c", "to": "d"}]}'),
          'edges form a cycle', 'a cycle is found');
SELECT is(workflow_definition_problem('{"nodes": [{"id": "a"}], "edges": [{"from": "a", "to": "a"}]}'),
          'edge a -> a is a self-loop', 'a self-loop is refused');
SELECT is(workflow_definition_problem('{"nodes": [{"id": "a"}, {"id": "a"}], "edges": []}'),
          'duplicate node id "a"', 'duplicate node ids are refused');
SELECT is(workflow_definition_problem('{"nodes": [{"id": "a"}], "edges": [{"from": "a", "to": "z"}]}'),
          'edge a -> z names an unknown node', 'an edge to an unknown node is refused');
SELECT is(workflow_definition_problem('{"nodes": [{"name": "a"}], "edges": []}'),
          'every node must be an object with a non-empty "id"', 'a node without id is refused');
SELECT is(workflow_definition_problem('{"nodes": [{"id": "a"}], "edges": [{"to": "a"}]}'),
          'every edge must be an object with "from" and "to" (or "source" and "target")',
          'an edge without its source is refused');
SELECT is(workflow_definition_problem('{"nodes": []}'),
          'definition must have "nodes" and "edges" arrays', 'a definition without edges is refused');
SELECT is(workflow_definition_problem('[]'), 'definition must be a JSON object', 'a JSON array is refused');
SELECT is(workflow_definition_problem(jsonb_build_object(
              'nodes', (SELECT jsonb_agg(jsonb_build_object('id', 'n' || i)) FROM generate_series(1, 3000) i),
              'edges', (SELECT jsonb_agg(jsonb_build_object('from', 'n' || i, 'to', 'n' || (i + 1)))
                          FROM generate_series(1, 2999) i))),
          NULL, 'a chain of 3000 steps is a DAG');
SELECT is(workflow_definition_problem(jsonb_build_object(
              'nodes', (SELECT jsonb_agg(jsonb_build_object('id', 'n' || i)) FROM generate_series(1, 3000) i),
              'edges', (SELECT jsonb_agg(jsonb_build_object('from', 'n' || i, 'to', 'n' || (i % 3000 + 1)))
                          FROM generate_series(1, 3000) i))),
          'edges form a cycle', 'a ring of 3000 steps is a cycle');
SELECT is(workflow_definition_problem('{"nodes": [{"id": 5}, {"id": "5"}], "edges": []}'),
          'duplicate node id "5"', 'ids compare as text: 5 and "5" are the same id');

-- Generated definitions (tests/sql/fixtures/0014_dag_check.sql), checked in n log n since 0014.
SELECT is(jsonb_array_length(abtest.dag_wide(14000) -> 'edges'), 27996, 'the wide DAG has two edges per middle node');
SELECT is(workflow_definition_problem(abtest.dag_chain(14000)), NULL, 'a chain of 14,000 steps is a DAG');
SELECT is(workflow_definition_problem(abtest.dag_wide(14000)), NULL,
          'a wide DAG of 14,000 steps (13,998 side by side) is a DAG');
SELECT is(workflow_definition_problem(jsonb_build_object(
              'nodes', (SELECT jsonb_agg(jsonb_build_object('id', i)) FROM generate_series(1, 14000) i),
              'edges', (SELECT jsonb_agg(jsonb_build_object('source', i, 'target', i + 1))
                          FROM generate_series(1, 13999) i))),
          NULL, 'a chain of 14,000 numbered steps with source/target edges is a DAG');
SELECT is(workflow_definition_problem(abtest.dag_with_edges(abtest.dag_chain(14000), '[{"from": "n14000", "to": "n7000"}]')),
          'edges form a cycle', 'a chain of 14,000 with one edge back to its middle is a cycle');
SELECT is(workflow_definition_problem(abtest.dag_with_edges(abtest.dag_wide(14000), '[{"from": "n14000", "to": "n1"}]')),
          'edges form a cycle', 'a wide DAG of 14,000 with its sink joined to its source is a cycle');
SELECT is(workflow_definition_problem(abtest.dag_with_edges(abtest.dag_wide(14000),
              '[{"from": "n5", "to": "n6"}, {"from": "n6", "to": "n5"}]')),
          'edges form a cycle', 'two of 13,998 side-by-side steps pointing at each other are a cycle');
SELECT is(workflow_definition_problem(abtest.dag_with_edges(abtest.dag_wide(14000),
              '[{"from": "n5", "to": "n6"}, {"from": "n6", "to": "n7"}, {"from": "n5", "to": "n7"}]')),
          NULL, 'edges between side-by-side steps that close no cycle keep it a DAG');
SELECT is(workflow_definition_problem(abtest.dag_with_edges(abtest.dag_chain(14000),
              '[{"from": "n7000", "to": "zz"}, {"from": "a", "to": "n9001"}]')),
          'edge n7000 -> zz names an unknown node', 'among 14,000 steps, the first edge with an unknown end is named');
SELECT is(workflow_definition_problem(abtest.dag_with_edges(abtest.dag_chain(14000),
              '[{"from": "n1", "to": "n1"}, {"from": "n2", "to": "n14001"}]')),
          'edge n2 -> n14001 names an unknown node', 'an unknown node is found before a self-loop');
SELECT is(workflow_definition_problem(abtest.dag_with_edges(abtest.dag_chain(14000),
              '[{"from": "n9000", "to": "n9000"}, {"from": "n5000", "to": "n5000"}]')),
          'edge n9000 -> n9000 is a self-loop', 'among 14,000 steps, the first self-loop is named');
SELECT is(workflow_definition_problem(abtest.dag_with_nodes(abtest.dag_chain(14000), '[{"id": "n9000"}, {"id": "n12000"}]')),
          'duplicate node id "n12000"', 'among 14,000 steps, the first duplicate id in sort order is named');
SELECT is(workflow_definition_problem(abtest.dag_with_nodes(abtest.dag_chain(14000), '[{"id": ""}]')),
          'every node must be an object with a non-empty "id"', 'among 14,000 steps, one with an empty id is refused');
SELECT is(workflow_definition_problem(abtest.dag_with_edges(abtest.dag_wide(14000), '[{"from": "n3"}]')),
          'every edge must be an object with "from" and "to" (or "source" and "target")',
          'among 27,996 edges, one without its target is refused');

SELECT lives_ok($$INSERT INTO workflows (tenant_id, name, definition)
                  VALUES ('a0050000-0000-4000-8000-00000000000a', 'dag-ok',
                          '{"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"from": "a", "to": "b"}]}')$$,
                'a workflow with a valid DAG is stored');
SELECT lives_ok($$INSERT INTO workflows (tenant_id, name, definition)
                  VALUES ('a0050000-0000-4000-8000-00000000000a', 'dag-wide', abtest.dag_wide(14000))$$,
                'a workflow of 14,000 steps is stored');
SELECT throws_ok($$INSERT INTO workflows (tenant_id, name, definition)
                   VALUES ('a0050000-0000-4000-8000-00000000000a', 'dag-ring',
                           abtest.dag_with_edges(abtest.dag_chain(14000), '[{"from": "n14000", "to": "n1"}]'))$$,
                 '23514', NULL, 'a workflow of 14,000 steps on a cycle is not stored');

-- ------------------------------------------------------------------------------------
-- Every CHECK constraint rejects a bad value (on tenant A's fixture rows)
-- ------------------------------------------------------------------------------------

-- workflows
SELECT pg_temp.rejects($$UPDATE workflows SET name = '  ' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_name', 'a blank name');
SELECT pg_temp.rejects($$UPDATE workflows SET slug = 'review_flow' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_slug', 'an underscore');
SELECT pg_temp.rejects($$UPDATE workflows SET definition = '[]' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_definition', 'a JSON array');
SELECT pg_temp.rejects($$UPDATE workflows SET definition = '{"nodes": []}' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_definition', 'a definition without edges');
SELECT pg_temp.rejects($$UPDATE workflows SET definition = '{"nodes": {}, "edges": []}' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_definition', 'nodes that are not an array');
SELECT pg_temp.rejects($$UPDATE workflows SET definition = '{"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]}' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_definition_dag', 'a cycle');
SELECT pg_temp.rejects($$UPDATE workflows SET definition = '{"nodes": [{"id": "a"}], "edges": [{"from": "a", "to": "x"}]}' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_definition_dag', 'an edge to an unknown node');
SELECT pg_temp.rejects($$UPDATE workflows SET timeout_seconds = 0 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_timeout_seconds', 'a zero timeout');
SELECT pg_temp.rejects($$UPDATE workflows SET max_retries = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_max_retries');
SELECT pg_temp.rejects($$UPDATE workflows SET retry_delay_seconds = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_retry_delay_seconds');
SELECT pg_temp.rejects($$UPDATE workflows SET status = 'running' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_status', 'an unknown status');
SELECT pg_temp.rejects($$UPDATE workflows SET version = 0 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_version');
SELECT pg_temp.rejects($$UPDATE workflows SET template_id = id WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflows_template_id', 'a workflow as its own template');

-- workflow_executions
SELECT pg_temp.rejects($$UPDATE workflow_executions SET workflow_version = 0 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_executions_workflow_version');
SELECT pg_temp.rejects($$UPDATE workflow_executions SET status = 'done' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_executions_status');
SELECT pg_temp.rejects($$UPDATE workflow_executions SET triggered_by = 'magic' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_executions_triggered_by');
SELECT pg_temp.rejects($$UPDATE workflow_executions SET started_at = now(), completed_at = now() - interval '1 second' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_executions_completed_at', 'an end before the start');
SELECT pg_temp.rejects($$UPDATE workflow_executions SET duration_ms = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_executions_duration_ms');
SELECT pg_temp.rejects($$UPDATE workflow_executions SET retry_count = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_executions_retry_count');
SELECT pg_temp.rejects($$UPDATE workflow_executions SET steps_completed = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_executions_steps_completed');
SELECT pg_temp.rejects($$UPDATE workflow_executions SET steps_total = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_executions_steps_total');
SELECT pg_temp.rejects($$UPDATE workflow_executions SET metadata = '[]' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_executions_metadata');

-- workflow_step_executions
SELECT pg_temp.rejects($$UPDATE workflow_step_executions SET step_id = '' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_step_executions_step_id', 'an empty step id');
SELECT pg_temp.rejects($$UPDATE workflow_step_executions SET status = 'done' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_step_executions_status');
SELECT pg_temp.rejects($$UPDATE workflow_step_executions SET attempt = 0 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_step_executions_attempt');
SELECT pg_temp.rejects($$UPDATE workflow_step_executions SET started_at = now(), completed_at = now() - interval '1 second' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_step_executions_completed_at', 'an end before the start');
SELECT pg_temp.rejects($$UPDATE workflow_step_executions SET duration_ms = -5 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workflow_step_executions_duration_ms');

-- quality_gates
SELECT pg_temp.rejects($$UPDATE quality_gates SET name = '' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_quality_gates_name');
SELECT pg_temp.rejects($$UPDATE quality_gates SET gate_type = 'vibes' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_quality_gates_gate_type');
SELECT pg_temp.rejects($$UPDATE quality_gates SET threshold = 1.5 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_quality_gates_threshold', 'a threshold above 1');
SELECT pg_temp.rejects($$UPDATE quality_gates SET threshold = -0.1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_quality_gates_threshold', 'a negative threshold');
SELECT pg_temp.rejects($$UPDATE quality_gates SET status = 'on' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_quality_gates_status');
SELECT pg_temp.rejects($$UPDATE quality_gates SET last_status = 'great' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_quality_gates_last_status');
SELECT pg_temp.rejects($$UPDATE quality_gates SET last_score = 1.0001 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_quality_gates_last_score');

-- quality_gate_results
SELECT pg_temp.rejects($$UPDATE quality_gate_results SET status = 'ok' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_quality_gate_results_status');
SELECT pg_temp.rejects($$UPDATE quality_gate_results SET score = 2 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_quality_gate_results_score');

-- tasks
SELECT pg_temp.rejects($$UPDATE tasks SET title = ' ' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_title');
SELECT pg_temp.rejects($$UPDATE tasks SET task_type = '' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_task_type');
SELECT pg_temp.rejects($$UPDATE tasks SET status = 'todo' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_status');
SELECT pg_temp.rejects($$UPDATE tasks SET priority = 'urgent' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_priority');
SELECT pg_temp.rejects($$UPDATE tasks SET parent_task_id = id WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_parent_task_id', 'a task as its own parent');
SELECT pg_temp.rejects($$UPDATE tasks SET execution_time_seconds = -0.5 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_execution_time_seconds');
SELECT pg_temp.rejects($$UPDATE tasks SET scheduled_at = now(), due_at = now() - interval '1 day' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_due_at', 'a deadline before the start');
SELECT pg_temp.rejects($$UPDATE tasks SET started_at = now(), completed_at = now() - interval '1 second' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_completed_at', 'an end before the start');
SELECT pg_temp.rejects($$UPDATE tasks SET estimated_hours = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_estimated_hours');
SELECT pg_temp.rejects($$UPDATE tasks SET actual_hours = -0.5 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_actual_hours');
SELECT pg_temp.rejects($$UPDATE tasks SET dependencies = ARRAY[id] WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_tasks_dependencies', 'a task depending on itself');

-- engines
SELECT pg_temp.rejects($$UPDATE engines SET name = '' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_engines_name');
SELECT pg_temp.rejects($$UPDATE engines SET engine_type = 'steam' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_engines_engine_type');
SELECT pg_temp.rejects($$UPDATE engines SET status = 'up' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_engines_status');
SELECT pg_temp.rejects($$UPDATE engines SET capacity = 0 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_engines_capacity');
SELECT pg_temp.rejects($$UPDATE engines SET current_load = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_engines_current_load');

-- engine_assignments
SELECT pg_temp.rejects($$UPDATE engine_assignments SET workflow_id = NULL WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_engine_assignments_target', 'neither agent nor workflow');
SELECT pg_temp.rejects($$UPDATE engine_assignments SET agent_id = (SELECT id FROM agents WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' LIMIT 1) WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_engine_assignments_target', 'both agent and workflow');
SELECT pg_temp.rejects($$UPDATE engine_assignments SET priority = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_engine_assignments_priority');

-- routing_strategies
SELECT pg_temp.rejects($$UPDATE routing_strategies SET name = '' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_routing_strategies_name');
SELECT pg_temp.rejects($$UPDATE routing_strategies SET strategy_type = 'random' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_routing_strategies_strategy_type');
SELECT pg_temp.rejects($$UPDATE routing_strategies SET is_default = true, is_active = false WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_routing_strategies_is_default', 'an inactive default');

-- workers
SELECT pg_temp.rejects($$UPDATE workers SET name = '' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workers_name');
SELECT pg_temp.rejects($$UPDATE workers SET worker_type = '' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workers_worker_type');
SELECT pg_temp.rejects($$UPDATE workers SET status = 'sleeping' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workers_status');
SELECT pg_temp.rejects($$UPDATE workers SET capacity = 0, current_load = 0 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workers_capacity');
SELECT pg_temp.rejects($$UPDATE workers SET current_load = capacity + 1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workers_current_load', 'a load above capacity');
SELECT pg_temp.rejects($$UPDATE workers SET current_load = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_workers_current_load', 'a negative load');
SELECT lives_ok($$UPDATE workers SET current_load = capacity WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$,
                'a worker may run at full capacity');

-- orchestration_runs
SELECT pg_temp.rejects($$UPDATE orchestration_runs SET workflow_execution_id = NULL, step_execution_id = NULL, task_id = NULL WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_orchestration_runs_target', 'a run of nothing');
SELECT pg_temp.rejects($$UPDATE orchestration_runs SET status = 'done' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_orchestration_runs_status');
SELECT pg_temp.rejects($$UPDATE orchestration_runs SET attempt = 0 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_orchestration_runs_attempt');
SELECT pg_temp.rejects($$UPDATE orchestration_runs SET started_at = queued_at - interval '1 second' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_orchestration_runs_started_at', 'a start before queueing');
SELECT pg_temp.rejects($$UPDATE orchestration_runs SET completed_at = started_at - interval '1 second' WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_orchestration_runs_completed_at', 'an end before the start');
SELECT pg_temp.rejects($$UPDATE orchestration_runs SET duration_ms = -1 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$, 'chk_orchestration_runs_duration_ms');

SELECT is(ARRAY(SELECT c.conname::text FROM pg_constraint c JOIN module_tables m ON m.rel = c.conrelid
                 WHERE c.contype = 'c'
                EXCEPT SELECT conname FROM covered_checks ORDER BY 1),
          '{}', 'every CHECK constraint of the module was tried above');

-- ------------------------------------------------------------------------------------
-- Triggers and uniqueness
-- ------------------------------------------------------------------------------------

UPDATE workflows SET version = 3 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND name LIKE 'fixture-%';
INSERT INTO workflow_executions (tenant_id, id, workflow_id)
SELECT tenant_id, 'a0050000-0000-4000-8000-0000000e0001', id FROM workflows
 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND name LIKE 'fixture-%';
INSERT INTO workflow_executions (tenant_id, id, workflow_id, workflow_version)
SELECT tenant_id, 'a0050000-0000-4000-8000-0000000e0002', id, 2 FROM workflows
 WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND name LIKE 'fixture-%';
SELECT is((SELECT workflow_version FROM workflow_executions WHERE id = 'a0050000-0000-4000-8000-0000000e0001'),
          3, 'an execution runs the workflow''s current version by default');
SELECT is((SELECT workflow_version FROM workflow_executions WHERE id = 'a0050000-0000-4000-8000-0000000e0002'),
          2, 'an execution keeps an explicit version');

-- Quality gate: last_* follow the latest result by evaluation time.
CREATE TEMP TABLE gate AS
SELECT tenant_id, id FROM quality_gates WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a';
SELECT is((SELECT (last_status, last_score)::text FROM quality_gates g NATURAL JOIN gate),
          '(passed,0.9000)', 'the fixture''s result is the gate''s last result');
INSERT INTO quality_gate_results (tenant_id, quality_gate_id, status, score, evaluated_at)
SELECT tenant_id, id, 'failed', 0.2, now() - interval '1 day' FROM gate;
SELECT is((SELECT (last_status, last_score)::text FROM quality_gates g NATURAL JOIN gate),
          '(passed,0.9000)', 'an older result does not replace the last one');
INSERT INTO quality_gate_results (tenant_id, id, quality_gate_id, status, score, evaluated_at)
SELECT tenant_id, 'a0050000-0000-4000-8000-0000000e0003', id, 'failed', 0.4, now() + interval '1 minute' FROM gate;
SELECT is((SELECT (last_status, last_score)::text FROM quality_gates g NATURAL JOIN gate),
          '(failed,0.4000)', 'a newer result becomes the last one');
UPDATE quality_gate_results SET status = 'passed', score = 0.95 WHERE id = 'a0050000-0000-4000-8000-0000000e0003';
SELECT is((SELECT (last_status, last_score)::text FROM quality_gates g NATURAL JOIN gate),
          '(passed,0.9500)', 'a re-evaluated latest result updates the gate');

SELECT throws_ok($$INSERT INTO workflows (tenant_id, name) SELECT tenant_id, name FROM workflows
                    WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND name LIKE 'fixture-%'$$,
                 '23505', NULL, 'two live workflows of a tenant cannot share a name');
SELECT lives_ok($$INSERT INTO workflows (tenant_id, name) SELECT 'b0050000-0000-4000-8000-00000000000b', name FROM workflows
                   WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND name LIKE 'fixture-%'$$,
                'another tenant may use the same workflow name');
UPDATE workflows SET deleted_at = now() WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND name = 'dag-ok';
SELECT lives_ok($$INSERT INTO workflows (tenant_id, name) VALUES ('a0050000-0000-4000-8000-00000000000a', 'dag-ok')$$,
                'the name of a soft-deleted workflow can be reused');

INSERT INTO routing_strategies (tenant_id, name, strategy_type, is_default)
VALUES ('a0050000-0000-4000-8000-00000000000a', 'rr-default', 'round_robin', true);
SELECT throws_ok($$INSERT INTO routing_strategies (tenant_id, name, strategy_type, is_default)
                   VALUES ('a0050000-0000-4000-8000-00000000000a', 'cheap-default', 'cost_optimized', true)$$,
                 '23505', NULL, 'a tenant has at most one default routing strategy');
SELECT lives_ok($$INSERT INTO routing_strategies (tenant_id, name, strategy_type, is_default)
                  VALUES ('b0050000-0000-4000-8000-00000000000b', 'rr-default', 'round_robin', true)$$,
                'each tenant has its own default');

SELECT throws_ok($$INSERT INTO engine_assignments (tenant_id, engine_id, workflow_id)
                   SELECT tenant_id, engine_id, workflow_id FROM engine_assignments
                    WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$,
                 '23505', NULL, 'an engine is assigned a workflow once');
SELECT throws_ok($$INSERT INTO workflow_step_executions (tenant_id, execution_id, step_id, attempt)
                   SELECT tenant_id, execution_id, step_id, attempt FROM workflow_step_executions
                    WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$,
                 '23505', NULL, 'a step attempt is recorded once');
SELECT lives_ok($$INSERT INTO workflow_step_executions (tenant_id, execution_id, step_id, attempt)
                  SELECT tenant_id, execution_id, step_id, attempt + 1 FROM workflow_step_executions
                   WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'$$,
                'a retry is a new attempt of the same step');
SELECT throws_ok($$INSERT INTO workflow_executions (tenant_id, workflow_id)
                   SELECT 'b0050000-0000-4000-8000-00000000000b', id FROM workflows
                    WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' LIMIT 1$$,
                 '23503', NULL, 'an execution cannot point at another tenant''s workflow');

SELECT is((SELECT count(*)::int FROM tasks
            WHERE assigned_agent_ids @> ARRAY[(SELECT id FROM agents WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' ORDER BY created_at LIMIT 1)]
              AND tenant_id = 'a0050000-0000-4000-8000-00000000000a'),
          1, 'tasks are found by assigned agent');

-- ------------------------------------------------------------------------------------
-- Delete actions
-- ------------------------------------------------------------------------------------

INSERT INTO tasks (tenant_id, id, title) VALUES ('a0050000-0000-4000-8000-00000000000a', 'a0050000-0000-4000-8000-0000000e0010', 'parent');
INSERT INTO tasks (tenant_id, id, title, parent_task_id)
VALUES ('a0050000-0000-4000-8000-00000000000a', 'a0050000-0000-4000-8000-0000000e0011', 'child', 'a0050000-0000-4000-8000-0000000e0010');
DELETE FROM tasks WHERE id = 'a0050000-0000-4000-8000-0000000e0010';
SELECT is((SELECT count(*)::int FROM tasks WHERE id = 'a0050000-0000-4000-8000-0000000e0011'), 0,
          'deleting a task deletes its subtasks');

DELETE FROM engines WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a';
SELECT is((SELECT count(*)::int FROM workers WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND engine_id IS NULL),
          1, 'deleting an engine keeps its worker, with engine_id NULL and tenant_id intact');
SELECT is((SELECT count(*)::int FROM orchestration_runs WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND engine_id IS NULL),
          1, 'deleting an engine keeps its runs');
SELECT is((SELECT count(*)::int FROM engine_assignments WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'),
          0, 'deleting an engine deletes its assignments');

DELETE FROM workflows WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND name LIKE 'fixture-%';
SELECT is((SELECT count(*)::int FROM workflow_executions WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a')
          + (SELECT count(*)::int FROM workflow_step_executions WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a')
          + (SELECT count(*)::int FROM quality_gates WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a')
          + (SELECT count(*)::int FROM orchestration_runs WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a'),
          0, 'deleting a workflow deletes its executions, steps, gates and runs');
SELECT is((SELECT count(*)::int FROM tasks WHERE tenant_id = 'a0050000-0000-4000-8000-00000000000a' AND title LIKE 'fixture task %'
              AND workflow_execution_id IS NULL),
          1, 'a task outlives its workflow execution');
SELECT is((SELECT count(*)::int FROM workflows WHERE tenant_id = 'b0050000-0000-4000-8000-00000000000b' AND name LIKE 'fixture-%'),
          2, 'tenant B''s workflows are untouched');

-- ------------------------------------------------------------------------------------
-- Row Level Security, as the service
-- ------------------------------------------------------------------------------------

SELECT abtest.become('b0050000-0000-4000-8000-00000000000b');
SELECT is((SELECT count(*)::int FROM workflows WHERE tenant_id <> 'b0050000-0000-4000-8000-00000000000b'), 0,
          'the service sees no workflow of another tenant');
SELECT is((SELECT count(DISTINCT tenant_id)::int FROM tasks), 1, 'the service sees only its tenant''s tasks');
SELECT throws_ok($$INSERT INTO workflows (tenant_id, name) VALUES ('a0050000-0000-4000-8000-00000000000a', 'intruder')$$,
                 '42501', NULL, 'the service cannot create a workflow in another tenant');
SELECT lives_ok($$INSERT INTO tasks (tenant_id, title, parent_task_id)
                  SELECT tenant_id, 'sub', id FROM tasks WHERE title LIKE 'fixture task %'$$,
                'the service creates subtasks in its tenant');
SELECT lives_ok($$UPDATE workers SET last_heartbeat_at = now(), current_load = 2$$,
                'the service records a heartbeat');
SELECT abtest.unbecome();
SELECT is((SELECT count(*)::int FROM audit_logs WHERE tenant_id = 'b0050000-0000-4000-8000-00000000000b'
              AND action = 'worker.updated'),
          1, 'the heartbeat is audited');

SELECT * FROM finish();
ROLLBACK;
