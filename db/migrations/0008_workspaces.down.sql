-- Reverts 0008_workspaces: drops what the up migration created, in reverse order. Dropping
-- a table drops its indexes, triggers, policies and grants with it.

DROP TABLE agentbase.git_branches;
DROP TABLE agentbase.project_files;
DROP FUNCTION agentbase.project_files_maintain();
DROP TABLE agentbase.project_collaborators;
-- break the projects <-> containers cycle
ALTER TABLE agentbase.containers DROP CONSTRAINT fk_containers_projects;
DROP TABLE agentbase.projects;
DROP FUNCTION agentbase.projects_sync_deleted();
DROP TABLE agentbase.containers;
DROP TABLE agentbase.project_templates;
