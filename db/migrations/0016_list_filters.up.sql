-- The list filters' indexes: every column a resource's list filters by (src/api/tables.c)
-- leads an index of its table, after tenant_id, so that `?column=`, `[in]` and the ranges
-- are index conditions (tests/api/test_plans.c checks every declared filter against the
-- catalog, and explains the agents list on 50,000 rows).
--
-- Indexes cost every write. The append-only logs and the accounting hot path's tables
-- (ai_requests, token_ledger, token_holds, usage_metrics, tool_executions,
-- mcp_tool_executions, cross_region_sync_logs, budget_alert_events) therefore got no new
-- index: their lists filter only by what their indexes already serve (the owner, the
-- wallet, the parent objects, created_at ranges), and the filters they had on other
-- columns are gone from the descriptors. audit_logs gains (tenant_id, actor_id): "what did
-- this actor do" is the audit trail's first question. Nested lists (messages) are bounded
-- by their parent's index; global reference data is small.
--
-- Soft-deleting tables get partial indexes (WHERE deleted_at IS NULL), which is what their
-- lists ask. Names: idx_<table>_tenant_id_<column> (tenants, which has no tenant_id:
-- idx_tenants_<column>).

CREATE OR REPLACE FUNCTION pg_temp.filter_indexes()
RETURNS TABLE (table_name text, column_name text, index_name text, definition text)
LANGUAGE sql AS $$
    SELECT v.t, v.c,
           CASE WHEN v.t = 'tenants' THEN format('idx_tenants_%s', v.c)
                ELSE format('idx_%s_tenant_id_%s', v.t, v.c) END,
           format('(%s%I)%s', CASE WHEN v.t = 'tenants' THEN '' ELSE 'tenant_id, ' END, v.c,
                  CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a
                                     WHERE a.attrelid = ('agentbase.' || v.t)::regclass
                                       AND a.attname = 'deleted_at' AND NOT a.attisdropped)
                       THEN ' WHERE deleted_at IS NULL' ELSE '' END)
      FROM (VALUES
        ('tenants', 'status'), ('tenants', 'plan'), ('users', 'email'), ('users', 'role'),
        ('users', 'status'), ('users', 'level'), ('api_keys', 'kind'),
        ('agent_assignments', 'allocation_type'), ('agent_assignments', 'is_active'),
        ('conversations', 'status'), ('generated_content', 'content_type'),
        ('generated_content', 'validation_status'), ('ai_provider_keys', 'name'),
        ('ai_provider_keys', 'is_active'), ('tenant_quotas', 'period'), ('token_wallets', 'level'),
        ('user_budgets', 'period'), ('user_budgets', 'is_active'), ('system_alerts', 'alert_type'),
        ('system_alerts', 'severity'), ('cost_tracking', 'provider'), ('cost_tracking', 'model'),
        ('billing_records', 'status'), ('performance_metrics', 'metric_name'),
        ('workflows', 'status'), ('workflows', 'is_template'), ('workflow_executions', 'status'),
        ('workflow_step_executions', 'step_id'), ('workflow_step_executions', 'status'),
        ('quality_gates', 'gate_type'), ('quality_gates', 'status'),
        ('quality_gate_results', 'status'), ('tasks', 'priority'), ('engines', 'engine_type'),
        ('engines', 'status'), ('engine_assignments', 'is_active'),
        ('routing_strategies', 'strategy_type'), ('routing_strategies', 'is_default'),
        ('routing_strategies', 'is_active'), ('workers', 'worker_type'), ('workers', 'status'),
        ('orchestration_runs', 'status'), ('collections', 'status'),
        ('collections', 'embedding_model'), ('collections', 'is_public'),
        ('documents', 'processing_status'), ('documents', 'source_type'),
        ('tenant_mcp_servers', 'transport'), ('tenant_mcp_servers', 'status'),
        ('mcp_server_configs', 'enabled'), ('projects', 'status'), ('projects', 'visibility'),
        ('project_collaborators', 'role'), ('project_files', 'path'), ('containers', 'status'),
        ('containers', 'last_active_at'), ('git_branches', 'name'), ('git_branches', 'is_default'),
        ('tenant_regions', 'role'), ('tenant_regions', 'status'), ('replication_status', 'status'),
        ('audit_logs', 'actor_id')
           ) v(t, c)
$$;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM pg_temp.filter_indexes() LOOP
        EXECUTE format('CREATE INDEX %I ON agentbase.%I %s', r.index_name, r.table_name, r.definition);
    END LOOP;
END
$$;

DROP FUNCTION pg_temp.filter_indexes();

CREATE INDEX idx_system_alerts_resource ON agentbase.system_alerts (tenant_id, resource_type, resource_id);
