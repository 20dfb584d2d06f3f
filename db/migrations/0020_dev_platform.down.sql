-- Back to 0019. The platform agents created in the tenants stay (they are the tenants'
-- agents now, an operator may have changed them); their definitions and the trigger go.
-- Containers whose status only this migration allows (sleeping) stop the down migration
-- with a check violation on purpose: they would be misread silently.

DROP FUNCTION agentbase.generated_content_download(uuid);
DROP FUNCTION agentbase.generated_content_count_download(uuid);
DROP TRIGGER trg_audit ON agentbase.generated_content;
DROP TRIGGER trg_audit_update ON agentbase.generated_content;
SELECT agentbase.attach_audit_except('agentbase.generated_content', 'generated_content',
                                     ARRAY['download_count', 'updated_at'], 'tenant_id', ARRAY['content']);
DROP TRIGGER trg_refs ON agentbase.generated_content;
DROP TRIGGER trg_binary_size ON agentbase.generated_content;
DROP FUNCTION agentbase.generated_content_binary_size();
DROP INDEX agentbase.idx_generated_content_ai_request_id;
ALTER TABLE agentbase.generated_content
    DROP COLUMN ai_request_id,
    DROP COLUMN binary_content,
    DROP COLUMN framework,
    DROP COLUMN execution_status;
COMMENT ON COLUMN agentbase.generated_content.file_size_bytes IS 'file size, bytes';
COMMENT ON COLUMN agentbase.generated_content.mime_type IS 'MIME type';

DROP TRIGGER trg_platform_agents ON agentbase.tenants;
DROP FUNCTION agentbase.tenants_platform_agents();
DROP FUNCTION agentbase.seed_platform_agents(uuid);
DROP TABLE agentbase.platform_agents;

DROP FUNCTION agentbase.agent_performance(timestamptz, timestamptz);
DROP FUNCTION agentbase.containers_sleep_idle(integer, integer);
DROP FUNCTION agentbase.containers_idle(integer, integer);

DROP TRIGGER trg_template_sync ON agentbase.projects;
DROP FUNCTION agentbase.projects_template_sync();
DROP INDEX agentbase.idx_projects_template_type;
ALTER TABLE agentbase.projects DROP COLUMN template_type;

DROP INDEX agentbase.uq_containers_tenant_id_project_id_live;
CREATE UNIQUE INDEX uq_containers_tenant_id_project_id_live ON agentbase.containers (tenant_id, project_id)
    WHERE status IN ('creating', 'running');
DROP INDEX agentbase.uq_containers_tenant_id_container_id;
ALTER TABLE agentbase.containers
    DROP COLUMN container_id,
    DROP CONSTRAINT chk_containers_status,
    ADD CONSTRAINT chk_containers_status CHECK (status IN ('creating', 'running', 'stopped', 'error', 'destroyed'));
COMMENT ON COLUMN agentbase.containers.status IS 'creating, running, stopped, error or destroyed';

DROP INDEX agentbase.idx_project_files_created_by_agent;
ALTER TABLE agentbase.project_files DROP COLUMN created_by_agent;
DROP INDEX agentbase.idx_git_branches_created_by_agent;
ALTER TABLE agentbase.git_branches DROP COLUMN is_merged, DROP COLUMN created_by_agent;

DROP INDEX agentbase.idx_conversations_project_id_user_id;
ALTER TABLE agentbase.conversations DROP COLUMN project_id;

DROP TRIGGER trg_no_cycle ON agentbase.tasks;
DROP FUNCTION agentbase.tasks_no_cycle();
DROP INDEX agentbase.idx_tasks_primary_agent;
DROP INDEX agentbase.idx_tasks_project_id_status;
ALTER TABLE agentbase.tasks
    DROP COLUMN project_id,
    DROP COLUMN primary_agent,
    DROP COLUMN execution_time_seconds;
COMMENT ON COLUMN agentbase.tasks.result IS 'result of the task';
COMMENT ON COLUMN agentbase.tasks.parent_task_id IS 'parent task of a subtask (deleting the parent deletes its subtasks)';
