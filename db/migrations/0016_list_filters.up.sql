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

CREATE INDEX idx_tenants_status ON agentbase.tenants (status) WHERE deleted_at IS NULL;
CREATE INDEX idx_tenants_plan ON agentbase.tenants (plan) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_tenant_id_email ON agentbase.users (tenant_id, email) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_tenant_id_role ON agentbase.users (tenant_id, role) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_tenant_id_status ON agentbase.users (tenant_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_tenant_id_level ON agentbase.users (tenant_id, level) WHERE deleted_at IS NULL;
CREATE INDEX idx_api_keys_tenant_id_kind ON agentbase.api_keys (tenant_id, kind);
CREATE INDEX idx_agent_assignments_tenant_id_allocation_type ON agentbase.agent_assignments (tenant_id, allocation_type);
CREATE INDEX idx_agent_assignments_tenant_id_is_active ON agentbase.agent_assignments (tenant_id, is_active);
CREATE INDEX idx_conversations_tenant_id_status ON agentbase.conversations (tenant_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_generated_content_tenant_id_content_type ON agentbase.generated_content (tenant_id, content_type) WHERE deleted_at IS NULL;
CREATE INDEX idx_generated_content_tenant_id_validation_status ON agentbase.generated_content (tenant_id, validation_status) WHERE deleted_at IS NULL;
CREATE INDEX idx_ai_provider_keys_tenant_id_name ON agentbase.ai_provider_keys (tenant_id, name);
CREATE INDEX idx_ai_provider_keys_tenant_id_is_active ON agentbase.ai_provider_keys (tenant_id, is_active);
CREATE INDEX idx_tenant_quotas_tenant_id_period ON agentbase.tenant_quotas (tenant_id, period);
CREATE INDEX idx_token_wallets_tenant_id_level ON agentbase.token_wallets (tenant_id, level);
CREATE INDEX idx_user_budgets_tenant_id_period ON agentbase.user_budgets (tenant_id, period);
CREATE INDEX idx_user_budgets_tenant_id_is_active ON agentbase.user_budgets (tenant_id, is_active);
CREATE INDEX idx_system_alerts_tenant_id_alert_type ON agentbase.system_alerts (tenant_id, alert_type);
CREATE INDEX idx_system_alerts_tenant_id_severity ON agentbase.system_alerts (tenant_id, severity);
CREATE INDEX idx_cost_tracking_tenant_id_provider ON agentbase.cost_tracking (tenant_id, provider);
CREATE INDEX idx_cost_tracking_tenant_id_model ON agentbase.cost_tracking (tenant_id, model);
CREATE INDEX idx_billing_records_tenant_id_status ON agentbase.billing_records (tenant_id, status);
CREATE INDEX idx_performance_metrics_tenant_id_metric_name ON agentbase.performance_metrics (tenant_id, metric_name);
CREATE INDEX idx_workflows_tenant_id_status ON agentbase.workflows (tenant_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_workflows_tenant_id_is_template ON agentbase.workflows (tenant_id, is_template) WHERE deleted_at IS NULL;
CREATE INDEX idx_workflow_executions_tenant_id_status ON agentbase.workflow_executions (tenant_id, status);
CREATE INDEX idx_workflow_step_executions_tenant_id_step_id ON agentbase.workflow_step_executions (tenant_id, step_id);
CREATE INDEX idx_workflow_step_executions_tenant_id_status ON agentbase.workflow_step_executions (tenant_id, status);
CREATE INDEX idx_quality_gates_tenant_id_gate_type ON agentbase.quality_gates (tenant_id, gate_type);
CREATE INDEX idx_quality_gates_tenant_id_status ON agentbase.quality_gates (tenant_id, status);
CREATE INDEX idx_quality_gate_results_tenant_id_status ON agentbase.quality_gate_results (tenant_id, status);
CREATE INDEX idx_tasks_tenant_id_priority ON agentbase.tasks (tenant_id, priority);
CREATE INDEX idx_engines_tenant_id_engine_type ON agentbase.engines (tenant_id, engine_type);
CREATE INDEX idx_engines_tenant_id_status ON agentbase.engines (tenant_id, status);
CREATE INDEX idx_engine_assignments_tenant_id_is_active ON agentbase.engine_assignments (tenant_id, is_active);
CREATE INDEX idx_routing_strategies_tenant_id_strategy_type ON agentbase.routing_strategies (tenant_id, strategy_type);
CREATE INDEX idx_routing_strategies_tenant_id_is_default ON agentbase.routing_strategies (tenant_id, is_default);
CREATE INDEX idx_routing_strategies_tenant_id_is_active ON agentbase.routing_strategies (tenant_id, is_active);
CREATE INDEX idx_workers_tenant_id_worker_type ON agentbase.workers (tenant_id, worker_type);
CREATE INDEX idx_workers_tenant_id_status ON agentbase.workers (tenant_id, status);
CREATE INDEX idx_orchestration_runs_tenant_id_status ON agentbase.orchestration_runs (tenant_id, status);
CREATE INDEX idx_collections_tenant_id_status ON agentbase.collections (tenant_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_collections_tenant_id_embedding_model ON agentbase.collections (tenant_id, embedding_model) WHERE deleted_at IS NULL;
CREATE INDEX idx_collections_tenant_id_is_public ON agentbase.collections (tenant_id, is_public) WHERE deleted_at IS NULL;
CREATE INDEX idx_documents_tenant_id_processing_status ON agentbase.documents (tenant_id, processing_status) WHERE deleted_at IS NULL;
CREATE INDEX idx_documents_tenant_id_source_type ON agentbase.documents (tenant_id, source_type) WHERE deleted_at IS NULL;
CREATE INDEX idx_tenant_mcp_servers_tenant_id_transport ON agentbase.tenant_mcp_servers (tenant_id, transport);
CREATE INDEX idx_tenant_mcp_servers_tenant_id_status ON agentbase.tenant_mcp_servers (tenant_id, status);
CREATE INDEX idx_mcp_server_configs_tenant_id_enabled ON agentbase.mcp_server_configs (tenant_id, enabled) WHERE deleted_at IS NULL;
CREATE INDEX idx_projects_tenant_id_status ON agentbase.projects (tenant_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_projects_tenant_id_visibility ON agentbase.projects (tenant_id, visibility) WHERE deleted_at IS NULL;
CREATE INDEX idx_project_collaborators_tenant_id_role ON agentbase.project_collaborators (tenant_id, role);
CREATE INDEX idx_project_files_tenant_id_path ON agentbase.project_files (tenant_id, path);
CREATE INDEX idx_containers_tenant_id_status ON agentbase.containers (tenant_id, status);
CREATE INDEX idx_containers_tenant_id_last_active_at ON agentbase.containers (tenant_id, last_active_at);
CREATE INDEX idx_git_branches_tenant_id_name ON agentbase.git_branches (tenant_id, name);
CREATE INDEX idx_git_branches_tenant_id_is_default ON agentbase.git_branches (tenant_id, is_default);
CREATE INDEX idx_tenant_regions_tenant_id_role ON agentbase.tenant_regions (tenant_id, role);
CREATE INDEX idx_tenant_regions_tenant_id_status ON agentbase.tenant_regions (tenant_id, status);
CREATE INDEX idx_replication_status_tenant_id_status ON agentbase.replication_status (tenant_id, status);
CREATE INDEX idx_audit_logs_tenant_id_actor_id ON agentbase.audit_logs (tenant_id, actor_id);
CREATE INDEX idx_system_alerts_resource ON agentbase.system_alerts (tenant_id, resource_type, resource_id);
