-- Back to 0018: the indexes, the audit failures, the progress triggers, the columns and the
-- slugs go; 0016's audit_logs (tenant_id, actor_id) index and the comments come back.
-- Rows whose status only this migration allows (agents archived, conversations cancelled)
-- and the audit trail's failure rows stop the down migration with a check violation on
-- purpose: they would be lost or misread silently.

DROP INDEX agentbase.idx_mcp_servers_category_status;
DROP INDEX agentbase.idx_documents_uploaded_at;
DROP INDEX agentbase.idx_audit_logs_status_created_at;
DROP INDEX agentbase.idx_audit_logs_action_created_at;
DROP INDEX agentbase.idx_audit_logs_actor_id_created_at;
CREATE INDEX idx_audit_logs_tenant_id_actor_id ON agentbase.audit_logs (tenant_id, actor_id);
DROP INDEX agentbase.idx_workflow_executions_started_at;
DROP INDEX agentbase.idx_tool_executions_tool_name_status_started_at;
DROP INDEX agentbase.idx_messages_created_at;

DROP FUNCTION agentbase.audit_refused(text, text, integer, text, text);
DROP FUNCTION agentbase.audit_failure(text, text, text, text, jsonb);

DROP TRIGGER trg_progress ON agentbase.workflow_step_executions;
DROP FUNCTION agentbase.workflow_step_progress();
DROP TRIGGER trg_fill_steps ON agentbase.workflow_executions;
DROP FUNCTION agentbase.workflow_executions_fill_steps();

DROP TRIGGER trg_refs ON agentbase.mcp_tool_executions;
ALTER TABLE agentbase.mcp_tool_executions
    DROP COLUMN message_id,
    DROP COLUMN error_code,
    DROP COLUMN server_instance_id,
    DROP COLUMN metadata,
    DROP COLUMN started_at,
    DROP COLUMN completed_at;

DROP TRIGGER trg_refs ON agentbase.mcp_server_configs;
DROP INDEX agentbase.uq_mcp_server_configs_tenant_id_tenant_server_id;
DROP INDEX agentbase.uq_mcp_server_configs_tenant_id_server_id;
ALTER TABLE agentbase.mcp_server_configs
    DROP COLUMN resource_limits,
    DROP COLUMN allowed_user_ids;
DROP FUNCTION agentbase.mcp_resource_limits_ok(jsonb);
COMMENT ON COLUMN agentbase.mcp_server_configs.secrets_ciphertext IS
    'secret settings encrypted by the service with AGENTBASE_SECRET_KEY (libsodium AEAD); never plaintext';

ALTER TABLE agentbase.mcp_servers
    DROP COLUMN category,
    DROP COLUMN repository_url;

ALTER TABLE agentbase.rag_queries
    DROP COLUMN retrieval_strategy,
    DROP COLUMN filters,
    DROP COLUMN top_score;

ALTER TABLE agentbase.chunks DROP COLUMN embedding_model;

ALTER TABLE agentbase.documents
    DROP COLUMN filename,
    DROP COLUMN uploaded_at;

ALTER TABLE agentbase.audit_logs
    DROP CONSTRAINT chk_audit_logs_error_message,
    ADD CONSTRAINT chk_audit_logs_not_failure CHECK (status = 'success');
ALTER TABLE agentbase.audit_logs
    DROP CONSTRAINT chk_audit_logs_not_failure,
    DROP COLUMN status,
    DROP COLUMN error_message;

ALTER TABLE agentbase.workflow_executions
    DROP COLUMN current_step,
    DROP COLUMN steps_completed,
    DROP COLUMN steps_total,
    DROP COLUMN metadata;

ALTER TABLE agentbase.tool_executions DROP COLUMN metadata;

ALTER TABLE agentbase.conversations
    DROP CONSTRAINT chk_conversations_status,
    ADD CONSTRAINT chk_conversations_status
        CHECK (status IN ('active', 'paused', 'completed', 'archived', 'failed')),
    DROP COLUMN metadata;
COMMENT ON COLUMN agentbase.conversations.status IS 'active, paused, completed, archived or failed';

ALTER TABLE agentbase.agents
    DROP CONSTRAINT chk_agents_status,
    ADD CONSTRAINT chk_agents_status CHECK (status IN ('active', 'inactive', 'busy', 'error', 'maintenance')),
    DROP COLUMN version_label;
COMMENT ON COLUMN agentbase.agents.status IS 'active, inactive, busy, error or maintenance';

ALTER TABLE agentbase.users
    DROP COLUMN first_name,
    DROP COLUMN last_name;

DO $$
DECLARE
    v_table text;
BEGIN
    FOREACH v_table IN ARRAY ARRAY['agents', 'workflows', 'collections'] LOOP
        EXECUTE format('DROP TRIGGER trg_slug ON agentbase.%I', v_table);
        EXECUTE format('ALTER TABLE agentbase.%I DROP COLUMN slug', v_table);
    END LOOP;
END
$$;
DROP FUNCTION agentbase.fill_slug();
DROP FUNCTION agentbase.slugify(text);
