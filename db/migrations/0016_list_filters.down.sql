DROP INDEX agentbase.idx_system_alerts_resource;

DO $$
DECLARE
    n text;
BEGIN
    FOREACH n IN ARRAY ARRAY[
    'idx_tenants_status', 'idx_tenants_plan', 'idx_users_tenant_id_email',
    'idx_users_tenant_id_role', 'idx_users_tenant_id_status', 'idx_users_tenant_id_level',
    'idx_api_keys_tenant_id_kind', 'idx_agent_assignments_tenant_id_allocation_type',
    'idx_agent_assignments_tenant_id_is_active', 'idx_conversations_tenant_id_status',
    'idx_generated_content_tenant_id_content_type',
    'idx_generated_content_tenant_id_validation_status', 'idx_ai_provider_keys_tenant_id_name',
    'idx_ai_provider_keys_tenant_id_is_active', 'idx_tenant_quotas_tenant_id_period',
    'idx_token_wallets_tenant_id_level', 'idx_user_budgets_tenant_id_period',
    'idx_user_budgets_tenant_id_is_active', 'idx_system_alerts_tenant_id_alert_type',
    'idx_system_alerts_tenant_id_severity', 'idx_cost_tracking_tenant_id_provider',
    'idx_cost_tracking_tenant_id_model', 'idx_billing_records_tenant_id_status',
    'idx_performance_metrics_tenant_id_metric_name', 'idx_workflows_tenant_id_status',
    'idx_workflows_tenant_id_is_template', 'idx_workflow_executions_tenant_id_status',
    'idx_workflow_step_executions_tenant_id_step_id',
    'idx_workflow_step_executions_tenant_id_status', 'idx_quality_gates_tenant_id_gate_type',
    'idx_quality_gates_tenant_id_status', 'idx_quality_gate_results_tenant_id_status',
    'idx_tasks_tenant_id_priority', 'idx_engines_tenant_id_engine_type',
    'idx_engines_tenant_id_status', 'idx_engine_assignments_tenant_id_is_active',
    'idx_routing_strategies_tenant_id_strategy_type',
    'idx_routing_strategies_tenant_id_is_default', 'idx_routing_strategies_tenant_id_is_active',
    'idx_workers_tenant_id_worker_type', 'idx_workers_tenant_id_status',
    'idx_orchestration_runs_tenant_id_status', 'idx_collections_tenant_id_status',
    'idx_collections_tenant_id_embedding_model', 'idx_collections_tenant_id_is_public',
    'idx_documents_tenant_id_processing_status', 'idx_documents_tenant_id_source_type',
    'idx_tenant_mcp_servers_tenant_id_transport', 'idx_tenant_mcp_servers_tenant_id_status',
    'idx_mcp_server_configs_tenant_id_enabled', 'idx_projects_tenant_id_status',
    'idx_projects_tenant_id_visibility', 'idx_project_collaborators_tenant_id_role',
    'idx_project_files_tenant_id_path', 'idx_containers_tenant_id_status',
    'idx_containers_tenant_id_last_active_at', 'idx_git_branches_tenant_id_name',
    'idx_git_branches_tenant_id_is_default', 'idx_tenant_regions_tenant_id_role',
    'idx_tenant_regions_tenant_id_status', 'idx_replication_status_tenant_id_status',
    'idx_audit_logs_tenant_id_actor_id'
    ] LOOP
        EXECUTE format('DROP INDEX agentbase.%I', n);
    END LOOP;
END
$$;
