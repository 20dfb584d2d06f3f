-- pgTAP: 0008_workspaces (project_templates, containers, projects, project_collaborators,
-- project_files, git_branches). Structure, every named CHECK, the triggers (soft-delete
-- sync, file hash/size/version), the projects <-> containers cycle, uniqueness rules,
-- referential actions, privileges and audit.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(143);

\set ta '''a0000008-0000-7000-8000-00000000000a'''
\set tb '''b0000008-0000-7000-8000-00000000000b'''
\set tc '''c0000008-0000-7000-8000-00000000000c'''
-- A and B through the tenancy and agents fixtures; C (for user deletion) through tenancy only.
DO $$
DECLARE
    f name;
    t uuid;
BEGIN
    FOREACH t IN ARRAY ARRAY['a0000008-0000-7000-8000-00000000000a', 'b0000008-0000-7000-8000-00000000000b',
                             'c0000008-0000-7000-8000-00000000000c']::uuid[] LOOP
        FOR f IN SELECT proname FROM pg_proc
                  WHERE pronamespace = 'abtest'::regnamespace
                    AND proname ~ CASE WHEN t::text LIKE 'c%' THEN '^fixture_0002_' ELSE '^fixture_000[23]_' END
                  ORDER BY proname LOOP
            EXECUTE format('SELECT abtest.%I($1)', f) USING t;
        END LOOP;
    END LOOP;
END
$$;
SELECT id AS ua FROM users WHERE tenant_id = :ta ORDER BY created_at LIMIT 1 \gset
SELECT id AS ub FROM users WHERE tenant_id = :tb ORDER BY created_at LIMIT 1 \gset
SELECT id AS uc FROM users WHERE tenant_id = :tc ORDER BY created_at LIMIT 1 \gset

CREATE FUNCTION pg_temp.rejects(p_sql text, p_con text) RETURNS text LANGUAGE sql AS $$
    SELECT throws_like(p_sql, '%violates check constraint "' || p_con || '"%', p_con || ' rejects a bad value')
$$;

-- ------------------------------------------------------------------------------------
-- Structure
-- ------------------------------------------------------------------------------------
SELECT has_table('agentbase', t, t || ' exists')
  FROM unnest(ARRAY['project_templates', 'containers', 'projects', 'project_collaborators', 'project_files',
                    'git_branches']) AS t;

SELECT columns_are('agentbase', 'project_templates', ARRAY[
    'id', 'slug', 'name', 'description', 'language', 'framework', 'files', 'setup_commands', 'default_config',
    'is_active', 'sort_order', 'created_at', 'updated_at'], 'project_templates columns');
SELECT columns_are('agentbase', 'projects', ARRAY[
    'tenant_id', 'id', 'owner_id', 'name', 'description', 'template_id', 'status', 'visibility', 'container_id',
    'git_repo_url', 'default_branch', 'settings', 'tags', 'metadata', 'last_opened_at', 'created_at',
    'updated_at', 'deleted_at', 'template_type'], 'projects columns');
SELECT columns_are('agentbase', 'project_collaborators', ARRAY[
    'tenant_id', 'id', 'project_id', 'user_id', 'role', 'invited_by', 'accepted_at', 'created_at',
    'updated_at'], 'project_collaborators columns');
SELECT columns_are('agentbase', 'project_files', ARRAY[
    'tenant_id', 'id', 'project_id', 'path', 'content', 'content_hash', 'size_bytes', 'mime_type',
    'is_directory', 'version', 'updated_by', 'created_at', 'updated_at', 'created_by_agent'], 'project_files columns');
SELECT columns_are('agentbase', 'containers', ARRAY[
    'tenant_id', 'id', 'project_id', 'status', 'image', 'cpu_limit', 'memory_limit_mb', 'disk_limit_mb',
    'ports', 'preview_url', 'internal_host', 'last_active_at', 'started_at', 'stopped_at', 'metadata',
    'created_at', 'updated_at', 'container_id'], 'containers columns');
SELECT columns_are('agentbase', 'git_branches', ARRAY[
    'tenant_id', 'id', 'project_id', 'name', 'base_branch', 'head_commit_sha', 'is_default', 'ahead_count',
    'behind_count', 'last_commit_at', 'created_by', 'created_at', 'updated_at', 'is_merged', 'created_by_agent'],
    'git_branches columns');

SELECT hasnt_column('agentbase', 'project_templates', 'tenant_id', 'project_templates is global');
SELECT col_type_is('agentbase', 'project_templates', 'setup_commands', 'text[]', 'setup_commands is text[]');
SELECT col_type_is('agentbase', 'project_templates', 'files', 'jsonb', 'files is jsonb');
SELECT col_type_is('agentbase', 'containers', 'cpu_limit', 'numeric(6,3)', 'cpu_limit is numeric');
SELECT col_type_is('agentbase', 'project_files', 'size_bytes', 'bigint', 'size_bytes is bigint');
SELECT col_type_is('agentbase', 'projects', 'tags', 'text[]', 'projects.tags is text[]');
SELECT col_is_null('agentbase', 'projects', 'owner_id', 'projects.owner_id is nullable (ON DELETE SET NULL)');

SELECT col_is_pk('agentbase', 'project_templates', ARRAY['id'], 'project_templates PK (id)');
SELECT col_is_pk('agentbase', t, ARRAY['tenant_id', 'id'], t || ' PK (tenant_id, id)')
  FROM unnest(ARRAY['containers', 'projects', 'project_collaborators', 'project_files', 'git_branches']) AS t;
SELECT col_is_unique('agentbase', 'project_templates', ARRAY['slug'], 'template slug unique');
SELECT col_is_unique('agentbase', 'project_collaborators', ARRAY['tenant_id', 'project_id', 'user_id'],
                     'one collaborator row per user and project');
SELECT col_is_unique('agentbase', 'project_files', ARRAY['tenant_id', 'project_id', 'path'], 'path unique per project');
SELECT col_is_unique('agentbase', 'git_branches', ARRAY['tenant_id', 'project_id', 'name'], 'branch name unique per project');

SELECT fk_ok('agentbase', t, ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], t || ' -> tenants')
  FROM unnest(ARRAY['containers', 'projects', 'project_collaborators', 'project_files', 'git_branches']) AS t;
SELECT fk_ok('agentbase', 'projects', ARRAY['tenant_id', 'owner_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'],
             'projects -> users');
SELECT fk_ok('agentbase', 'projects', ARRAY['template_id'], 'agentbase', 'project_templates', ARRAY['id'],
             'projects -> project_templates');
SELECT fk_ok('agentbase', 'projects', ARRAY['tenant_id', 'container_id', 'id'], 'agentbase', 'containers',
             ARRAY['tenant_id', 'id', 'project_id'], 'projects -> containers (the project''s own)');
SELECT fk_ok('agentbase', 'containers', ARRAY['tenant_id', 'project_id'], 'agentbase', 'projects',
             ARRAY['tenant_id', 'id'], 'containers -> projects');
SELECT fk_ok('agentbase', 'project_collaborators', ARRAY['tenant_id', 'project_id'], 'agentbase', 'projects',
             ARRAY['tenant_id', 'id'], 'project_collaborators -> projects');
SELECT fk_ok('agentbase', 'project_collaborators', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users',
             ARRAY['tenant_id', 'id'], 'project_collaborators -> users (user_id)');
SELECT fk_ok('agentbase', 'project_collaborators', ARRAY['tenant_id', 'invited_by'], 'agentbase', 'users',
             ARRAY['tenant_id', 'id'], 'project_collaborators -> users (invited_by)');
SELECT fk_ok('agentbase', 'project_files', ARRAY['tenant_id', 'project_id'], 'agentbase', 'projects',
             ARRAY['tenant_id', 'id'], 'project_files -> projects');
SELECT fk_ok('agentbase', 'project_files', ARRAY['tenant_id', 'updated_by'], 'agentbase', 'users',
             ARRAY['tenant_id', 'id'], 'project_files -> users');
SELECT fk_ok('agentbase', 'git_branches', ARRAY['tenant_id', 'project_id'], 'agentbase', 'projects',
             ARRAY['tenant_id', 'id'], 'git_branches -> projects');
SELECT fk_ok('agentbase', 'git_branches', ARRAY['tenant_id', 'created_by'], 'agentbase', 'users',
             ARRAY['tenant_id', 'id'], 'git_branches -> users');

SELECT has_index('agentbase', 'projects', 'uq_projects_tenant_id_owner_id_name', ARRAY['tenant_id', 'owner_id', 'name'],
                 'live project names unique per owner');
SELECT has_index('agentbase', 'projects', 'idx_projects_owner_id', ARRAY['tenant_id', 'owner_id'], 'index on projects.owner_id');
SELECT has_index('agentbase', 'projects', 'idx_projects_template_id', ARRAY['template_id'], 'index on projects.template_id');
SELECT has_index('agentbase', 'projects', 'idx_projects_container_id', ARRAY['tenant_id', 'container_id', 'id'],
                 'index on projects.container_id');
SELECT has_index('agentbase', 'containers', 'idx_containers_project_id', ARRAY['tenant_id', 'project_id'],
                 'index on containers.project_id');
SELECT has_index('agentbase', 'containers', 'uq_containers_tenant_id_project_id_live', ARRAY['tenant_id', 'project_id'],
                 'one live container per project');
SELECT has_index('agentbase', 'project_collaborators', 'idx_project_collaborators_user_id', ARRAY['tenant_id', 'user_id'],
                 'index on project_collaborators.user_id');
SELECT has_index('agentbase', 'project_collaborators', 'idx_project_collaborators_invited_by',
                 ARRAY['tenant_id', 'invited_by'], 'index on project_collaborators.invited_by');
SELECT has_index('agentbase', 'project_files', 'idx_project_files_updated_by', ARRAY['tenant_id', 'updated_by'],
                 'index on project_files.updated_by');
SELECT has_index('agentbase', 'git_branches', 'uq_git_branches_tenant_id_project_id_default', ARRAY['tenant_id', 'project_id'],
                 'one default branch per project');
SELECT has_index('agentbase', 'git_branches', 'idx_git_branches_created_by', ARRAY['tenant_id', 'created_by'],
                 'index on git_branches.created_by');

SELECT ok((SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class
            WHERE oid IN ('agentbase.containers'::regclass, 'agentbase.projects'::regclass,
                          'agentbase.project_collaborators'::regclass, 'agentbase.project_files'::regclass,
                          'agentbase.git_branches'::regclass)),
          'RLS enabled and forced on every workspace tenant table');
SELECT table_privs_are('agentbase', 'project_templates', 'agentbase_app', ARRAY['SELECT'],
                       'the service may only read project_templates');
SELECT has_trigger('agentbase', t, 'trg_audit', t || ' is audited')
  FROM unnest(ARRAY['containers', 'projects', 'project_collaborators', 'project_files', 'git_branches']) AS t;
SELECT has_trigger('agentbase', 'projects', 'trg_projects_sync_deleted', 'projects has the soft-delete sync trigger');
SELECT has_trigger('agentbase', 'project_files', 'trg_project_files_maintain', 'project_files has the maintenance trigger');
SELECT is_empty($$
    SELECT c.relname || '.' || coalesce(a.attname, '')
      FROM pg_class c
      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                              AND col_description(c.oid, a.attnum) IS NULL
     WHERE c.oid IN ('agentbase.project_templates'::regclass, 'agentbase.containers'::regclass,
                     'agentbase.projects'::regclass, 'agentbase.project_collaborators'::regclass,
                     'agentbase.project_files'::regclass, 'agentbase.git_branches'::regclass)
       AND (a.attname IS NOT NULL OR obj_description(c.oid, 'pg_class') IS NULL)
$$, 'every workspace table and column has a comment');

-- ------------------------------------------------------------------------------------
-- Every named CHECK rejects a bad value
-- ------------------------------------------------------------------------------------
SELECT set_eq($$
    SELECT conname::text FROM pg_constraint
     WHERE contype = 'c' AND conrelid IN ('agentbase.project_templates'::regclass, 'agentbase.containers'::regclass,
                                          'agentbase.projects'::regclass, 'agentbase.project_collaborators'::regclass,
                                          'agentbase.project_files'::regclass, 'agentbase.git_branches'::regclass)
$$, ARRAY[
    'chk_project_templates_slug', 'chk_project_templates_name', 'chk_project_templates_language',
    'chk_project_templates_files', 'chk_project_templates_default_config',
    'chk_containers_status', 'chk_containers_image', 'chk_containers_cpu_limit', 'chk_containers_memory_limit_mb',
    'chk_containers_disk_limit_mb', 'chk_containers_ports', 'chk_containers_preview_url', 'chk_containers_container_id',
    'chk_projects_name', 'chk_projects_status', 'chk_projects_visibility', 'chk_projects_git_repo_url',
    'chk_projects_default_branch', 'chk_projects_settings', 'chk_projects_deleted_at',
    'chk_project_collaborators_role',
    'chk_project_files_path', 'chk_project_files_content_hash', 'chk_project_files_size_bytes',
    'chk_project_files_mime_type', 'chk_project_files_is_directory', 'chk_project_files_version',
    'chk_git_branches_name', 'chk_git_branches_base_branch', 'chk_git_branches_head_commit_sha',
    'chk_git_branches_ahead_count', 'chk_git_branches_behind_count'],
  'the CHECK constraints tested below are exactly those of the module');

SELECT lives_ok($$INSERT INTO project_templates (slug, name, language) VALUES ('chk-ok', 'OK', 'go')$$,
                'a valid template is accepted');
SELECT pg_temp.rejects($$INSERT INTO project_templates (slug, name, language) VALUES ('Chk Bad', 'X', 'go')$$, 'chk_project_templates_slug');
SELECT pg_temp.rejects($$INSERT INTO project_templates (slug, name, language) VALUES ('c1', ' ', 'go')$$, 'chk_project_templates_name');
SELECT pg_temp.rejects($$INSERT INTO project_templates (slug, name, language) VALUES ('c2', 'X', 'Go Lang')$$, 'chk_project_templates_language');
SELECT pg_temp.rejects($$INSERT INTO project_templates (slug, name, language, files) VALUES ('c3', 'X', 'go', '["main.go"]')$$, 'chk_project_templates_files');
SELECT pg_temp.rejects($$INSERT INTO project_templates (slug, name, language, default_config) VALUES ('c4', 'X', 'go', '"x"')$$, 'chk_project_templates_default_config');

INSERT INTO projects (tenant_id, owner_id, name) VALUES (:ta, :'ua', 'chk-project');
SELECT id AS chk_project FROM projects WHERE tenant_id = :ta AND name = 'chk-project' \gset
SELECT lives_ok(format($$INSERT INTO projects (tenant_id, owner_id, name, git_repo_url)
                         VALUES (%L, %L, 'chk-ok', 'git@github.com:acme/app.git')$$, :ta, :'ua'), 'a valid project is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO projects (tenant_id, name) VALUES (%L, '')$$, :ta), 'chk_projects_name');
SELECT pg_temp.rejects(format($$INSERT INTO projects (tenant_id, name, status) VALUES (%L, 'c1', 'paused')$$, :ta), 'chk_projects_status');
SELECT pg_temp.rejects(format($$INSERT INTO projects (tenant_id, name, visibility) VALUES (%L, 'c2', 'secret')$$, :ta), 'chk_projects_visibility');
SELECT pg_temp.rejects(format($$INSERT INTO projects (tenant_id, name, git_repo_url) VALUES (%L, 'c3', 'not a url')$$, :ta), 'chk_projects_git_repo_url');
SELECT pg_temp.rejects(format($$INSERT INTO projects (tenant_id, name, default_branch) VALUES (%L, 'c4', '-main')$$, :ta), 'chk_projects_default_branch');
SELECT pg_temp.rejects(format($$INSERT INTO projects (tenant_id, name, settings) VALUES (%L, 'c5', '[]')$$, :ta), 'chk_projects_settings');
-- the trigger keeps status and deleted_at in step; without it the CHECK still holds the line
ALTER TABLE projects DISABLE TRIGGER trg_projects_sync_deleted;
SELECT pg_temp.rejects(format($$INSERT INTO projects (tenant_id, name, deleted_at) VALUES (%L, 'c6', now())$$, :ta), 'chk_projects_deleted_at');
ALTER TABLE projects ENABLE TRIGGER trg_projects_sync_deleted;

SELECT lives_ok(format($$INSERT INTO containers (tenant_id, project_id, image) VALUES (%L, %L, 'node:20')$$, :ta, :'chk_project'),
                'a valid container is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO containers (tenant_id, project_id, image, status) VALUES (%L, %L, 'node:20', 'paused')$$, :ta, :'chk_project'), 'chk_containers_status');
SELECT pg_temp.rejects(format($$INSERT INTO containers (tenant_id, project_id, image, status) VALUES (%L, %L, 'node 20', 'stopped')$$, :ta, :'chk_project'), 'chk_containers_image');
SELECT pg_temp.rejects(format($$INSERT INTO containers (tenant_id, project_id, image, status, container_id) VALUES (%L, %L, 'node:20', 'stopped', 'a b')$$, :ta, :'chk_project'), 'chk_containers_container_id');
SELECT pg_temp.rejects(format($$INSERT INTO containers (tenant_id, project_id, image, status, cpu_limit) VALUES (%L, %L, 'node:20', 'stopped', 0)$$, :ta, :'chk_project'), 'chk_containers_cpu_limit');
SELECT pg_temp.rejects(format($$INSERT INTO containers (tenant_id, project_id, image, status, memory_limit_mb) VALUES (%L, %L, 'node:20', 'stopped', 0)$$, :ta, :'chk_project'), 'chk_containers_memory_limit_mb');
SELECT pg_temp.rejects(format($$INSERT INTO containers (tenant_id, project_id, image, status, disk_limit_mb) VALUES (%L, %L, 'node:20', 'stopped', -1)$$, :ta, :'chk_project'), 'chk_containers_disk_limit_mb');
SELECT pg_temp.rejects(format($$INSERT INTO containers (tenant_id, project_id, image, status, ports) VALUES (%L, %L, 'node:20', 'stopped', '{"http": 80}')$$, :ta, :'chk_project'), 'chk_containers_ports');
SELECT pg_temp.rejects(format($$INSERT INTO containers (tenant_id, project_id, image, status, preview_url) VALUES (%L, %L, 'node:20', 'stopped', 'preview.test')$$, :ta, :'chk_project'), 'chk_containers_preview_url');

SELECT lives_ok(format($$INSERT INTO project_collaborators (tenant_id, project_id, user_id, role) VALUES (%L, %L, %L, 'editor')$$, :ta, :'chk_project', :'ua'),
                'a valid collaborator is accepted');
SELECT pg_temp.rejects(format($$UPDATE project_collaborators SET role = 'admin' WHERE tenant_id = %L AND project_id = %L$$, :ta, :'chk_project'), 'chk_project_collaborators_role');

SELECT lives_ok(format($$INSERT INTO project_files (tenant_id, project_id, path, content) VALUES (%L, %L, 'src/a.py', 'x = 1')$$, :ta, :'chk_project'),
                'a valid file is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO project_files (tenant_id, project_id, path) VALUES (%L, %L, '/etc/passwd')$$, :ta, :'chk_project'), 'chk_project_files_path');
SELECT throws_like(format($$INSERT INTO project_files (tenant_id, project_id, path) VALUES (%L, %L, 'src/../../x')$$, :ta, :'chk_project'),
                   '%"chk_project_files_path"%', 'chk_project_files_path rejects a .. segment');
SELECT throws_like(format($$INSERT INTO project_files (tenant_id, project_id, path) VALUES (%L, %L, 'src//x')$$, :ta, :'chk_project'),
                   '%"chk_project_files_path"%', 'chk_project_files_path rejects an empty segment');
SELECT pg_temp.rejects(format($$INSERT INTO project_files (tenant_id, project_id, path, content_hash) VALUES (%L, %L, 'c1', 'md5:abc')$$, :ta, :'chk_project'), 'chk_project_files_content_hash');
SELECT pg_temp.rejects(format($$INSERT INTO project_files (tenant_id, project_id, path, size_bytes) VALUES (%L, %L, 'c2', -1)$$, :ta, :'chk_project'), 'chk_project_files_size_bytes');
SELECT pg_temp.rejects(format($$INSERT INTO project_files (tenant_id, project_id, path, mime_type) VALUES (%L, %L, 'c3', 'text')$$, :ta, :'chk_project'), 'chk_project_files_mime_type');
SELECT pg_temp.rejects(format($$INSERT INTO project_files (tenant_id, project_id, path, is_directory, content) VALUES (%L, %L, 'c4', true, 'x')$$, :ta, :'chk_project'), 'chk_project_files_is_directory');
SELECT pg_temp.rejects(format($$INSERT INTO project_files (tenant_id, project_id, path, version) VALUES (%L, %L, 'c5', 0)$$, :ta, :'chk_project'), 'chk_project_files_version');

SELECT lives_ok(format($$INSERT INTO git_branches (tenant_id, project_id, name, base_branch, head_commit_sha)
                         VALUES (%L, %L, 'feature/login', 'main', 'abc1234')$$, :ta, :'chk_project'), 'a valid branch is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO git_branches (tenant_id, project_id, name) VALUES (%L, %L, 'topic..x')$$, :ta, :'chk_project'), 'chk_git_branches_name');
SELECT throws_like(format($$INSERT INTO git_branches (tenant_id, project_id, name) VALUES (%L, %L, 'wip.lock')$$, :ta, :'chk_project'),
                   '%"chk_git_branches_name"%', 'chk_git_branches_name rejects a .lock suffix');
SELECT pg_temp.rejects(format($$INSERT INTO git_branches (tenant_id, project_id, name, base_branch) VALUES (%L, %L, 'c1', 'c1')$$, :ta, :'chk_project'), 'chk_git_branches_base_branch');
SELECT pg_temp.rejects(format($$INSERT INTO git_branches (tenant_id, project_id, name, head_commit_sha) VALUES (%L, %L, 'c2', 'ABC1234')$$, :ta, :'chk_project'), 'chk_git_branches_head_commit_sha');
SELECT throws_like(format($$INSERT INTO git_branches (tenant_id, project_id, name, head_commit_sha) VALUES (%L, %L, 'c2b', 'abc12')$$, :ta, :'chk_project'),
                   '%"chk_git_branches_head_commit_sha"%', 'chk_git_branches_head_commit_sha rejects fewer than 7 digits');
SELECT pg_temp.rejects(format($$INSERT INTO git_branches (tenant_id, project_id, name, ahead_count) VALUES (%L, %L, 'c3', -1)$$, :ta, :'chk_project'), 'chk_git_branches_ahead_count');
SELECT pg_temp.rejects(format($$INSERT INTO git_branches (tenant_id, project_id, name, behind_count) VALUES (%L, %L, 'c4', -2)$$, :ta, :'chk_project'), 'chk_git_branches_behind_count');

-- ------------------------------------------------------------------------------------
-- project_files: hash, size and version are maintained by the database
-- ------------------------------------------------------------------------------------
INSERT INTO project_files (tenant_id, project_id, path, content, mime_type, version, size_bytes, content_hash)
VALUES (:ta, :'chk_project', 'README.md', E'hello\n', 'text/markdown', 1, 999, repeat('0', 64));
SELECT results_eq(format($$SELECT content_hash, size_bytes, version FROM project_files
                            WHERE tenant_id = %L AND project_id = %L AND path = 'README.md'$$, :ta, :'chk_project'),
    $$VALUES ('5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03'::text, 6::bigint, 1)$$,
    'content_hash is the SHA-256 of the content and size_bytes its length (client values ignored)');
INSERT INTO project_files (tenant_id, project_id, path, content) VALUES (:ta, :'chk_project', 'café.txt', E'caf\u00e9');
SELECT is((SELECT size_bytes FROM project_files WHERE tenant_id = :ta AND path = 'café.txt'), 5::bigint,
          'size_bytes counts UTF-8 bytes, not characters');
UPDATE project_files SET content = E'hello, world\n' WHERE tenant_id = :ta AND path = 'README.md';
SELECT results_eq(format($$SELECT version, size_bytes FROM project_files WHERE tenant_id = %L AND path = 'README.md'$$, :ta),
                  $$VALUES (2, 13::bigint)$$, 'changing the content bumps version and recomputes size');
UPDATE project_files SET mime_type = 'text/plain', version = 99 WHERE tenant_id = :ta AND path = 'README.md';
SELECT is((SELECT version FROM project_files WHERE tenant_id = :ta AND path = 'README.md'), 2,
          'other changes keep the version (clients cannot set it)');
UPDATE project_files SET content = E'hello, world\n' WHERE tenant_id = :ta AND path = 'README.md';
SELECT is((SELECT version FROM project_files WHERE tenant_id = :ta AND path = 'README.md'), 2,
          'rewriting identical content keeps the version');
INSERT INTO project_files (tenant_id, project_id, path, is_directory, content_hash, size_bytes)
VALUES (:ta, :'chk_project', 'src', true, repeat('a', 64), 10);
SELECT results_eq(format($$SELECT content_hash, size_bytes FROM project_files WHERE tenant_id = %L AND path = 'src'$$, :ta),
                  $$VALUES (NULL::text, 0::bigint)$$, 'a directory has no hash and size 0');
SELECT throws_ok(format($$INSERT INTO project_files (tenant_id, project_id, path) VALUES (%L, %L, 'README.md')$$, :ta, :'chk_project'),
                 '23505', NULL, 'a path exists once per project');

-- ------------------------------------------------------------------------------------
-- projects: soft delete in either spelling, unique live names per owner
-- ------------------------------------------------------------------------------------
INSERT INTO projects (tenant_id, owner_id, name) VALUES (:ta, :'ua', 'sd-1'), (:ta, :'ua', 'sd-2');
UPDATE projects SET deleted_at = now() WHERE tenant_id = :ta AND name = 'sd-1';
SELECT is((SELECT status FROM projects WHERE tenant_id = :ta AND name = 'sd-1'), 'deleted',
          'setting deleted_at sets status deleted');
UPDATE projects SET status = 'deleted' WHERE tenant_id = :ta AND name = 'sd-2';
SELECT isnt((SELECT deleted_at FROM projects WHERE tenant_id = :ta AND name = 'sd-2'), NULL,
            'setting status deleted sets deleted_at');
UPDATE projects SET status = 'archived' WHERE tenant_id = :ta AND name = 'sd-1';
SELECT results_eq(format($$SELECT status, deleted_at IS NULL FROM projects WHERE tenant_id = %L AND name = 'sd-1'$$, :ta),
                  $$VALUES ('archived'::text, true)$$, 'restoring by status clears deleted_at');
UPDATE projects SET deleted_at = NULL WHERE tenant_id = :ta AND name = 'sd-2';
SELECT results_eq(format($$SELECT status, deleted_at IS NULL FROM projects WHERE tenant_id = %L AND name = 'sd-2'$$, :ta),
                  $$VALUES ('active'::text, true)$$, 'restoring by clearing deleted_at makes the project active');
SELECT throws_ok(format($$INSERT INTO projects (tenant_id, owner_id, name) VALUES (%L, %L, 'sd-1')$$, :ta, :'ua'),
                 '23505', NULL, 'an owner cannot have two live projects with one name');
UPDATE projects SET deleted_at = now() WHERE tenant_id = :ta AND name = 'sd-1';
SELECT lives_ok(format($$INSERT INTO projects (tenant_id, owner_id, name) VALUES (%L, %L, 'sd-1')$$, :ta, :'ua'),
                'the name is free again once the project is soft-deleted');

-- ------------------------------------------------------------------------------------
-- projects <-> containers
-- ------------------------------------------------------------------------------------
INSERT INTO projects (tenant_id, owner_id, name) VALUES (:ta, :'ua', 'box-1'), (:ta, :'ua', 'box-2');
SELECT id AS p1 FROM projects WHERE tenant_id = :ta AND name = 'box-1' \gset
SELECT id AS p2 FROM projects WHERE tenant_id = :ta AND name = 'box-2' \gset
INSERT INTO containers (tenant_id, project_id, image, status) VALUES (:ta, :'p1', 'node:20', 'running');
INSERT INTO containers (tenant_id, project_id, image, status) VALUES (:ta, :'p2', 'node:20', 'running');
SELECT id AS c1 FROM containers WHERE tenant_id = :ta AND project_id = :'p1' \gset
SELECT id AS c2 FROM containers WHERE tenant_id = :ta AND project_id = :'p2' \gset
SELECT lives_ok(format($$UPDATE projects SET container_id = %L WHERE tenant_id = %L AND id = %L$$, :'c1', :ta, :'p1'),
                'a project points at its own container');
SELECT throws_ok(format($$UPDATE projects SET container_id = %L WHERE tenant_id = %L AND id = %L$$, :'c1', :ta, :'p2'),
                 '23503', NULL, 'a project cannot point at another project''s container');
SELECT throws_ok(format($$INSERT INTO containers (tenant_id, project_id, image, status) VALUES (%L, %L, 'node:20', 'creating')$$, :ta, :'p1'),
                 '23505', NULL, 'a project has at most one live (creating or running) container');
SELECT lives_ok(format($$INSERT INTO containers (tenant_id, project_id, image, status) VALUES (%L, %L, 'node:18', 'destroyed')$$, :ta, :'p1'),
                'past containers of the project are kept');
DELETE FROM containers WHERE tenant_id = :ta AND id = :'c1';
SELECT is((SELECT container_id FROM projects WHERE tenant_id = :ta AND id = :'p1'), NULL,
          'deleting the current container clears projects.container_id');
UPDATE projects SET container_id = :'c2' WHERE tenant_id = :ta AND id = :'p2';
SELECT count(*) AS n_c2 FROM audit_logs WHERE tenant_id = :ta AND resource_id = :'c2' \gset
UPDATE containers SET last_active_at = now() + interval '1 minute' WHERE tenant_id = :ta AND id = :'c2';
SELECT is((SELECT count(*) FROM audit_logs WHERE tenant_id = :ta AND resource_id = :'c2'), :n_c2::bigint,
          'a container activity heartbeat alone writes no audit row');
UPDATE containers SET status = 'stopped', stopped_at = now() WHERE tenant_id = :ta AND id = :'c2';
SELECT is((SELECT count(*) FROM audit_logs WHERE tenant_id = :ta AND resource_id = :'c2'), :n_c2::bigint + 1,
          'a container status change is audited');
SELECT count(*) AS n_p2 FROM audit_logs WHERE tenant_id = :ta AND resource_id = :'p2' \gset
UPDATE projects SET last_opened_at = now() WHERE tenant_id = :ta AND id = :'p2';
SELECT is((SELECT count(*) FROM audit_logs WHERE tenant_id = :ta AND resource_id = :'p2'), :n_p2::bigint,
          'opening a project alone writes no audit row');
INSERT INTO project_files (tenant_id, project_id, path, content) VALUES (:ta, :'p2', 'main.py', 'print(1)');
INSERT INTO git_branches (tenant_id, project_id, name, is_default) VALUES (:ta, :'p2', 'main', true);
INSERT INTO project_collaborators (tenant_id, project_id, user_id, role) VALUES (:ta, :'p2', :'ua', 'owner');
SELECT throws_ok(format($$INSERT INTO git_branches (tenant_id, project_id, name, is_default) VALUES (%L, %L, 'trunk', true)$$, :ta, :'p2'),
                 '23505', NULL, 'a project has at most one default branch');
DELETE FROM projects WHERE tenant_id = :ta AND id = :'p2';
SELECT is((SELECT count(*) FROM containers WHERE tenant_id = :ta AND project_id = :'p2')
        + (SELECT count(*) FROM project_files WHERE tenant_id = :ta AND project_id = :'p2')
        + (SELECT count(*) FROM git_branches WHERE tenant_id = :ta AND project_id = :'p2')
        + (SELECT count(*) FROM project_collaborators WHERE tenant_id = :ta AND project_id = :'p2'), 0::bigint,
          'deleting a project deletes its containers, files, branches and collaborators');

-- ------------------------------------------------------------------------------------
-- Deleting a user or a template
-- ------------------------------------------------------------------------------------
INSERT INTO projects (tenant_id, owner_id, name) VALUES (:tc, :'uc', 'orphan');
SELECT id AS pc FROM projects WHERE tenant_id = :tc AND name = 'orphan' \gset
INSERT INTO project_collaborators (tenant_id, project_id, user_id, role, invited_by) VALUES (:tc, :'pc', :'uc', 'owner', :'uc');
INSERT INTO project_files (tenant_id, project_id, path, content, updated_by) VALUES (:tc, :'pc', 'a.txt', 'a', :'uc');
INSERT INTO git_branches (tenant_id, project_id, name, created_by) VALUES (:tc, :'pc', 'main', :'uc');
DELETE FROM users WHERE tenant_id = :tc AND id = :'uc';
SELECT results_eq(format($$SELECT owner_id IS NULL, status FROM projects WHERE tenant_id = %L AND id = %L$$, :tc, :'pc'),
                  $$VALUES (true, 'active'::text)$$, 'deleting the owner keeps the project (owner_id set NULL)');
SELECT is((SELECT count(*) FROM project_collaborators WHERE tenant_id = :tc AND project_id = :'pc'), 0::bigint,
          'deleting a user removes their collaborator rows');
SELECT results_eq(format($$SELECT (SELECT updated_by FROM project_files WHERE tenant_id = %1$L AND project_id = %2$L),
                                   (SELECT created_by FROM git_branches WHERE tenant_id = %1$L AND project_id = %2$L)$$, :tc, :'pc'),
                  $$VALUES (NULL::uuid, NULL::uuid)$$, 'file and branch authorship is set NULL');

INSERT INTO project_templates (slug, name, language) VALUES ('gone-soon', 'Gone', 'go');
INSERT INTO projects (tenant_id, owner_id, name, template_id)
     SELECT :ta, :'ua', 'from-template', id FROM project_templates WHERE slug = 'gone-soon';
DELETE FROM project_templates WHERE slug = 'gone-soon';
SELECT is((SELECT template_id FROM projects WHERE tenant_id = :ta AND name = 'from-template'), NULL,
          'deleting a template keeps its projects (template_id set NULL)');

-- ------------------------------------------------------------------------------------
-- As the service
-- ------------------------------------------------------------------------------------
INSERT INTO projects (tenant_id, owner_id, name) VALUES (:tb, :'ub', 'b-secret');
SELECT abtest.become(:ta);
SELECT is_empty($$SELECT 1 FROM projects WHERE name = 'b-secret'$$, 'tenant A cannot see tenant B''s projects');
SELECT isnt_empty($$SELECT 1 FROM project_templates$$, 'the service reads project templates');
SELECT throws_ok($$INSERT INTO project_templates (slug, name, language) VALUES ('evil', 'E', 'sh')$$,
                 '42501', NULL, 'the service cannot add templates');
SELECT throws_ok($$UPDATE project_templates SET is_active = false$$, '42501', NULL, 'the service cannot change templates');
SELECT throws_ok(format($$INSERT INTO project_collaborators (tenant_id, project_id, user_id, role)
                          VALUES (agentbase.current_tenant_id(), %L, %L, 'viewer')$$, :'chk_project', :'ub'),
                 '23503', NULL, 'a user of tenant B cannot be added to a project of tenant A');
SELECT lives_ok(format($$INSERT INTO project_files (tenant_id, project_id, path, content)
                         VALUES (agentbase.current_tenant_id(), %L, 'app/secret.py', 'TOKEN = "abc"')$$, :'chk_project'),
                'the service writes project files');
SELECT abtest.unbecome();
SELECT results_eq(format($$SELECT new_values ->> 'content', new_values ->> 'content_hash' IS NOT NULL, new_values ->> 'path'
                            FROM audit_logs WHERE tenant_id = %L AND action = 'project_file.created'
                             AND new_values ->> 'path' = 'app/secret.py'$$, :ta),
                  $$VALUES ('[redacted]', true, 'app/secret.py')$$,
                  'file content stays out of audit_logs; hash and path are recorded');

SELECT * FROM finish();
ROLLBACK;
