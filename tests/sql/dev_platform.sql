-- pgTAP: 0020_dev_platform, the AI development platform field for field: every new column,
-- constraint, index, trigger and function signature, and their behaviour (task trees
-- without cycles, template_type by slug, idle containers put to sleep, agent performance,
-- the platform agents in every tenant, generated content's binary content and downloads),
-- written as the service's own role where the service writes.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(94);

\set ta '''a0200000-0000-4000-8000-00000000000a'''
\set tb '''b0200000-0000-4000-8000-00000000000b'''
SELECT abtest.fixture_0002_tenancy(:ta);
SELECT abtest.fixture_0003_agents(:ta);
SELECT abtest.fixture_0008_workspaces(:ta);
SELECT abtest.fixture_0002_tenancy(:tb);

-- ------------------------------------------------------------------------------------
-- Columns, constraints, indexes, triggers, functions
-- ------------------------------------------------------------------------------------
SELECT col_type_is('tasks', v.col, v.type, format('tasks.%s is %s', v.col, v.type))
  FROM (VALUES ('project_id', 'uuid'), ('primary_agent', 'uuid'),
               ('execution_time_seconds', 'numeric(12,3)'), ('result', 'jsonb'), ('parent_task_id', 'uuid')) v(col, type);
SELECT col_type_is('conversations', 'project_id', 'uuid', 'conversations.project_id is uuid');
SELECT col_type_is('git_branches', 'is_merged', 'boolean', 'git_branches.is_merged is boolean');
SELECT col_not_null('git_branches', 'is_merged', 'git_branches.is_merged is NOT NULL');
SELECT col_default_is('git_branches', 'is_merged', 'false', 'git_branches.is_merged defaults to false');
SELECT col_type_is('git_branches', 'created_by_agent', 'uuid', 'git_branches.created_by_agent is uuid');
SELECT col_type_is('project_files', 'created_by_agent', 'uuid', 'project_files.created_by_agent is uuid');
SELECT col_type_is('containers', 'container_id', 'text', 'containers.container_id is text');
SELECT col_type_is('projects', 'template_type', 'text', 'projects.template_type is text');
SELECT col_type_is('generated_content', v.col, v.type, format('generated_content.%s is %s', v.col, v.type))
  FROM (VALUES ('ai_request_id', 'uuid'), ('binary_content', 'bytea'), ('framework', 'text'),
               ('execution_status', 'text')) v(col, type);
SELECT col_default_is('generated_content', 'execution_status', 'not_run', 'execution_status defaults to not_run');

SELECT fk_ok('agentbase', 'tasks', ARRAY['tenant_id', 'project_id'], 'agentbase', 'projects', ARRAY['tenant_id', 'id'],
             'tasks.project_id references projects within the tenant');
SELECT fk_ok('agentbase', 'tasks', ARRAY['tenant_id', 'primary_agent'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'],
             'tasks.primary_agent references agents within the tenant');
SELECT fk_ok('agentbase', 'conversations', ARRAY['tenant_id', 'project_id'], 'agentbase', 'projects',
             ARRAY['tenant_id', 'id'], 'conversations.project_id references projects within the tenant');
SELECT fk_ok('agentbase', 'git_branches', ARRAY['tenant_id', 'created_by_agent'], 'agentbase', 'agents',
             ARRAY['tenant_id', 'id'], 'git_branches.created_by_agent references agents within the tenant');
SELECT fk_ok('agentbase', 'project_files', ARRAY['tenant_id', 'created_by_agent'], 'agentbase', 'agents',
             ARRAY['tenant_id', 'id'], 'project_files.created_by_agent references agents within the tenant');
SELECT fk_ok('agentbase', 'projects', ARRAY['template_type'], 'agentbase', 'project_templates', ARRAY['slug'],
             'projects.template_type references a template''s slug');
SELECT is((SELECT array_agg(conname::text ORDER BY conname) FROM pg_constraint
            WHERE conrelid = 'agentbase.generated_content'::regclass AND conname IN (
                'chk_generated_content_binary_content', 'chk_generated_content_binary_mime_type',
                'chk_generated_content_inline', 'chk_generated_content_framework',
                'chk_generated_content_execution_status')),
          ARRAY['chk_generated_content_binary_content', 'chk_generated_content_binary_mime_type',
                'chk_generated_content_execution_status', 'chk_generated_content_framework',
                'chk_generated_content_inline'],
          'generated_content has the checks of its binary content, framework and execution status');

SELECT is(pg_get_indexdef(v.idx::regclass), v.def, format('%s', v.idx))
  FROM (VALUES
    ('agentbase.idx_tasks_project_id_status',
     'CREATE INDEX idx_tasks_project_id_status ON agentbase.tasks USING btree (tenant_id, project_id, status)'),
    ('agentbase.idx_tasks_primary_agent',
     'CREATE INDEX idx_tasks_primary_agent ON agentbase.tasks USING btree (tenant_id, primary_agent)'),
    ('agentbase.idx_conversations_project_id_user_id',
     'CREATE INDEX idx_conversations_project_id_user_id ON agentbase.conversations USING btree (tenant_id, project_id, user_id)'),
    ('agentbase.idx_cost_tracking_tenant_id_project_id',
     'CREATE INDEX idx_cost_tracking_tenant_id_project_id ON agentbase.cost_tracking USING btree (tenant_id, project_id, period_start)'),
    ('agentbase.uq_containers_tenant_id_container_id',
     'CREATE UNIQUE INDEX uq_containers_tenant_id_container_id ON agentbase.containers USING btree (tenant_id, container_id)'),
    ('agentbase.uq_containers_tenant_id_project_id_live',
     'CREATE UNIQUE INDEX uq_containers_tenant_id_project_id_live ON agentbase.containers USING btree (tenant_id, project_id) WHERE (status = ANY (ARRAY[''creating''::text, ''running''::text, ''sleeping''::text]))'),
    ('agentbase.idx_generated_content_ai_request_id',
     'CREATE INDEX idx_generated_content_ai_request_id ON agentbase.generated_content USING btree (tenant_id, ai_request_id)')
  ) v(idx, def);

SELECT has_trigger('tasks', 'trg_no_cycle', 'tasks have trg_no_cycle');
SELECT has_trigger('projects', 'trg_template_sync', 'projects have trg_template_sync');
SELECT has_trigger('tenants', 'trg_platform_agents', 'tenants have trg_platform_agents');
SELECT has_trigger('generated_content', 'trg_binary_size', 'generated_content has trg_binary_size');
SELECT has_trigger('generated_content', 'trg_refs', 'generated_content has trg_refs');

SELECT has_function('agentbase', v.name, v.args, format('%s(%s)', v.name, array_to_string(v.args, ', ')))
  FROM (VALUES ('containers_idle', ARRAY['integer', 'integer']),
               ('containers_sleep_idle', ARRAY['integer', 'integer']),
               ('agent_performance', ARRAY['timestamp with time zone', 'timestamp with time zone']),
               ('seed_platform_agents', ARRAY['uuid']),
               ('generated_content_download', ARRAY['uuid']),
               ('generated_content_count_download', ARRAY['uuid'])) v(name, args);

-- ------------------------------------------------------------------------------------
-- Task trees: no cycles
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
INSERT INTO tasks (tenant_id, id, title) VALUES
    (:ta, 'a0200000-0000-4000-8000-0000000000a1', 'root'),
    (:ta, 'a0200000-0000-4000-8000-0000000000a2', 'child'),
    (:ta, 'a0200000-0000-4000-8000-0000000000a3', 'grandchild');
SELECT lives_ok($$UPDATE tasks SET parent_task_id = 'a0200000-0000-4000-8000-0000000000a1'
                   WHERE id = 'a0200000-0000-4000-8000-0000000000a2'$$, 'a task becomes a subtask');
SELECT lives_ok($$UPDATE tasks SET parent_task_id = 'a0200000-0000-4000-8000-0000000000a2'
                   WHERE id = 'a0200000-0000-4000-8000-0000000000a3'$$, 'and a subtask has its own subtask');
SELECT throws_ok($$UPDATE tasks SET parent_task_id = 'a0200000-0000-4000-8000-0000000000a3'
                    WHERE id = 'a0200000-0000-4000-8000-0000000000a1'$$, '23514',
                 'field parent_task_id would make task a0200000-0000-4000-8000-0000000000a1 its own ancestor',
                 'a task cannot move under its own grandchild');
SELECT throws_ok($$UPDATE tasks SET parent_task_id = 'a0200000-0000-4000-8000-0000000000a2'
                    WHERE id = 'a0200000-0000-4000-8000-0000000000a1'$$, '23514', NULL,
                 'nor under its own child');
SELECT throws_ok($$UPDATE tasks SET parent_task_id = id WHERE id = 'a0200000-0000-4000-8000-0000000000a1'$$,
                 '23514', NULL, 'nor under itself');
SELECT lives_ok($$UPDATE tasks SET parent_task_id = 'a0200000-0000-4000-8000-0000000000a1'
                   WHERE id = 'a0200000-0000-4000-8000-0000000000a3'$$, 'a subtask moves up the tree');
SELECT is((SELECT count(*) FROM tasks WHERE parent_task_id = 'a0200000-0000-4000-8000-0000000000a1'), 2::bigint,
          'the root now has two subtasks');
SELECT throws_ok(format($$INSERT INTO tasks (tenant_id, title, execution_time_seconds) VALUES (%L, 'x', -1)$$, :ta),
                 '23514', NULL, 'execution time is never negative');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Performance per primary agent
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
INSERT INTO tasks (tenant_id, title, status, primary_agent, execution_time_seconds, project_id)
SELECT :ta, 'perf ' || v.n, v.status, (SELECT id FROM agents WHERE agent_type = 'architect'), v.secs,
       (SELECT id FROM projects LIMIT 1)
  FROM (VALUES (1, 'completed', 10.0), (2, 'completed', 20.0), (3, 'failed', 30.0), (4, 'in_progress', NULL))
       v(n, status, secs);
SELECT is((SELECT e - 'agent_id' FROM jsonb_array_elements(agentbase.agent_performance(now() - interval '1 hour',
                                                                                         now() + interval '1 hour') -> 'data') e
            WHERE e ->> 'agent_type' = 'architect'),
          '{"agent_name": "Architect", "agent_type": "architect", "tasks": 4, "completed": 2, "failed": 1,
            "avg_execution_time_seconds": 20.000, "success_rate": 0.6667}'::jsonb,
          'agent_performance counts an agent''s tasks, its successes and failures and its average execution time');
SELECT is(jsonb_array_length(agentbase.agent_performance(now() + interval '1 hour', now() + interval '2 hours') -> 'data'),
          0, 'and only the tasks created in the period');
SELECT is((SELECT count(*) FROM tasks WHERE project_id IS NOT NULL AND status = 'completed'), 2::bigint,
          'tasks are found by project and status');
SELECT abtest.unbecome();
SELECT abtest.become(:tb);
SELECT is(jsonb_array_length(agentbase.agent_performance(now() - interval '1 hour', now() + interval '1 hour') -> 'data'),
          0, 'another tenant sees none of them');
SELECT abtest.unbecome();
SELECT id AS arch_a FROM agents WHERE tenant_id = :ta AND agent_type = 'architect' \gset
SELECT abtest.become(:tb);
SELECT throws_ok(format($$INSERT INTO tasks (tenant_id, title, primary_agent) VALUES (%L, 'x', %L)$$, :tb, :'arch_a'),
                 '23503', NULL, 'a task cannot name another tenant''s agent as its primary agent');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Projects: template by slug or id
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
CREATE TEMP TABLE tpl AS SELECT id, slug FROM project_templates ORDER BY sort_order, slug LIMIT 2;
SELECT lives_ok(format($$INSERT INTO projects (tenant_id, name, template_type) VALUES (%L, 'by-slug', %L)$$,
                       :ta, (SELECT slug FROM tpl ORDER BY slug LIMIT 1)), 'a project is created with a template slug');
SELECT is((SELECT template_id FROM projects WHERE name = 'by-slug'), (SELECT id FROM tpl ORDER BY slug LIMIT 1),
          'and gets the template''s id');
SELECT lives_ok(format($$INSERT INTO projects (tenant_id, name, template_id) VALUES (%L, 'by-id', %L)$$,
                       :ta, (SELECT id FROM tpl ORDER BY slug LIMIT 1)), 'a project is created with a template id');
SELECT is((SELECT template_type FROM projects WHERE name = 'by-id'), (SELECT slug FROM tpl ORDER BY slug LIMIT 1),
          'and gets the template''s slug');
UPDATE projects SET template_type = (SELECT slug FROM tpl ORDER BY slug DESC LIMIT 1) WHERE name = 'by-id';
SELECT is((SELECT template_id FROM projects WHERE name = 'by-id'), (SELECT id FROM tpl ORDER BY slug DESC LIMIT 1),
          'changing the slug changes the id');
UPDATE projects SET template_id = NULL WHERE name = 'by-id';
SELECT is((SELECT template_type FROM projects WHERE name = 'by-id'), NULL, 'clearing the id clears the slug');
SELECT throws_ok(format($$INSERT INTO projects (tenant_id, name, template_type) VALUES (%L, 'bad', 'no-such-template')$$, :ta),
                 '23503', 'field template_type names no project template', 'an unknown slug is refused');
SELECT throws_ok(format($$INSERT INTO projects (tenant_id, name, template_id, template_type) VALUES (%L, 'bad', %L, %L)$$,
                        :ta, (SELECT id FROM tpl ORDER BY slug LIMIT 1), (SELECT slug FROM tpl ORDER BY slug DESC LIMIT 1)),
                 '22023', 'fields template_id and template_type name different templates',
                 'an id and a slug of different templates are refused');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Containers: the runtime's id, idle ones put to sleep
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
UPDATE containers SET status = 'running', container_id = 'docker-abc123', last_active_at = now() - interval '2 hours';
INSERT INTO projects (tenant_id, id, name) VALUES (:ta, 'a0200000-0000-4000-8000-0000000000b1', 'busy');
INSERT INTO containers (tenant_id, project_id, status, image, container_id, last_active_at)
VALUES (:ta, 'a0200000-0000-4000-8000-0000000000b1', 'running', 'node:20', 'docker-def456', now() - interval '5 minutes');
SELECT throws_ok(format($$INSERT INTO containers (tenant_id, project_id, status, image, container_id)
                          VALUES (%L, (SELECT id FROM projects WHERE name = 'by-slug'), 'stopped', 'node:20', 'docker-abc123')$$, :ta),
                 '23505', NULL, 'a runtime id names one container of the tenant');
SELECT throws_ok(format($$INSERT INTO containers (tenant_id, project_id, image, container_id)
                          VALUES (%L, (SELECT id FROM projects WHERE name = 'by-slug'), 'node:20', 'bad id')$$, :ta),
                 '23514', NULL, 'a runtime id has no spaces');
SELECT is((SELECT array_agg(e ->> 'container_id') FROM jsonb_array_elements(agentbase.containers_idle(30) -> 'data') e),
          ARRAY['docker-abc123'], 'containers_idle(30) lists the container idle for two hours, not the busy one');
SELECT is(jsonb_array_length(agentbase.containers_idle(1) -> 'data'), 2, 'containers_idle(1) lists both');
SELECT throws_ok('SELECT agentbase.containers_idle(0)', '22023', 'parameter minutes must be 1 to 525600',
                 'the idle time is at least a minute');
SELECT abtest.unbecome();
SELECT ok(agentbase.containers_sleep_idle(30) >= 1, 'containers_sleep_idle(30) puts idle containers to sleep');
SELECT is((SELECT array_agg(container_id || ':' || status ORDER BY container_id) FROM containers WHERE tenant_id = :ta),
          ARRAY['docker-abc123:sleeping', 'docker-def456:running'], 'the idle one sleeps, the busy one runs');
SELECT throws_ok(format($$INSERT INTO containers (tenant_id, project_id, status, image)
                          VALUES (%L, (SELECT project_id FROM containers WHERE container_id = 'docker-abc123'), 'running', 'node:20')$$, :ta),
                 '23505', NULL, 'a sleeping container is still its project''s live one');
SELECT is(agentbase.containers_sleep_idle(30), 0, 'a second sweep finds nothing to do');

-- ------------------------------------------------------------------------------------
-- Branches and files by agents
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
UPDATE git_branches SET is_merged = true, created_by_agent = (SELECT id FROM agents WHERE agent_type = 'senior_engineer' LIMIT 1);
SELECT is((SELECT count(*) FROM git_branches WHERE is_merged AND created_by_agent IS NOT NULL), 1::bigint,
          'a branch records that it is merged and the agent that created it');
UPDATE project_files SET created_by_agent = (SELECT id FROM agents WHERE agent_type = 'senior_engineer' LIMIT 1);
SELECT is((SELECT count(*) FROM project_files WHERE created_by_agent IS NOT NULL), 1::bigint,
          'a file records the agent that created it');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- The platform agents, in every tenant
-- ------------------------------------------------------------------------------------
SELECT is((SELECT array_agg(agent_type ORDER BY agent_type) FROM platform_agents),
          ARRAY['architect', 'data_analyst', 'development_manager', 'platform_engineer', 'product_manager',
                'senior_engineer'], 'platform_agents defines the six agents of the development platform');
INSERT INTO tenants (id, slug, name) VALUES ('c0200000-0000-4000-8000-00000000000c', 't-c020-new', 'New tenant');
SELECT is((SELECT array_agg(a.agent_type || ':' || a.name ORDER BY a.agent_type) FROM agents a
            WHERE a.tenant_id = 'c0200000-0000-4000-8000-00000000000c'),
          (SELECT array_agg(d.agent_type || ':' || d.name ORDER BY d.agent_type) FROM platform_agents d),
          'a new tenant has the six platform agents');
SELECT is((SELECT count(*) FROM agents a JOIN platform_agents d ON d.name = a.name AND d.system_prompt = a.system_prompt
                                    AND d.model_name = a.model_name AND d.tools = a.tools
            WHERE a.tenant_id = 'c0200000-0000-4000-8000-00000000000c'), 6::bigint,
          'each as the definition says');
SELECT is(agentbase.seed_platform_agents('c0200000-0000-4000-8000-00000000000c'), 0,
          'seeding again creates none');
UPDATE agents SET deleted_at = now() WHERE tenant_id = 'c0200000-0000-4000-8000-00000000000c' AND agent_type = 'architect';
SELECT is(agentbase.seed_platform_agents('c0200000-0000-4000-8000-00000000000c'), 1,
          'seeding again brings back a deleted one');
SELECT is((SELECT count(*) FROM tenants t WHERE t.deleted_at IS NULL
            AND (SELECT count(*) FROM agents a JOIN platform_agents d ON d.name = a.name
                  WHERE a.tenant_id = t.id AND a.deleted_at IS NULL) <> 6), 0::bigint,
          'every live tenant has the six (the migration backfilled the tenants before it)');
SELECT abtest.become(:ta);
SELECT throws_ok($$INSERT INTO platform_agents (agent_type, name, description, model_provider, model_name, temperature,
                        max_tokens, system_prompt, timeout_seconds, max_iterations, memory_enabled)
                   VALUES ('custom', 'x', 'x', 'x', 'x', 0, 1, 'x', 1, 1, false)$$,
                 '42501', NULL, 'the service cannot change the definitions');
SELECT throws_ok($$SELECT agentbase.seed_platform_agents(agentbase.current_tenant_id())$$, '42501', NULL,
                 'nor call the seeding');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Generated content
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
INSERT INTO generated_content (tenant_id, id, content_type, title, binary_content, mime_type, framework,
                               execution_status)
VALUES (:ta, 'a0200000-0000-4000-8000-0000000000c1', 'image', 'logo', '\x89504e470d0a1a0a', 'image/png', 'react',
        'succeeded');
SELECT is((SELECT file_size_bytes FROM generated_content WHERE id = 'a0200000-0000-4000-8000-0000000000c1'),
          8::bigint, 'binary content sets its size');
SELECT throws_ok(format($$INSERT INTO generated_content (tenant_id, content_type, title, binary_content)
                          VALUES (%L, 'image', 'x', '\x00')$$, :ta),
                 '23514', NULL, 'binary content needs a media type');
SELECT throws_ok(format($$INSERT INTO generated_content (tenant_id, content_type, title, binary_content, mime_type)
                          VALUES (%L, 'image', 'x', decode(repeat('00', 10485761), 'hex'), 'image/png')$$, :ta),
                 '23514', NULL, 'binary content is at most 10 MiB');
SELECT throws_ok(format($$INSERT INTO generated_content (tenant_id, content_type, title, execution_status)
                          VALUES (%L, 'code', 'x', 'exploded')$$, :ta),
                 '23514', NULL, 'execution status is one of its values');
SELECT throws_ok(format($$INSERT INTO generated_content (tenant_id, content_type, title, ai_request_id)
                          VALUES (%L, 'code', 'x', %L)$$, :ta, agentbase.uuid_v7()),
                 '23503', NULL, 'the ai request must be one of the tenant''s');
SELECT is(agentbase.generated_content_download('a0200000-0000-4000-8000-0000000000c1') - 'id',
          jsonb_build_object('title', 'logo', 'file_name', NULL, 'mime_type', 'image/png', 'file_size_bytes', 8,
                             'file_path', NULL, 'checksum', NULL, 'content', NULL,
                             'binary_content', encode('\x89504e470d0a1a0a'::bytea, 'base64'), 'download_count', 1),
          'a download returns the content and counts itself');
SELECT is((agentbase.generated_content_download('a0200000-0000-4000-8000-0000000000c1') ->> 'download_count')::int, 2,
          'the next one counts two');
SELECT throws_ok($$SELECT agentbase.generated_content_download(agentbase.uuid_v7())$$, 'AB404', NULL,
                 'an unknown id is not found');
SELECT is((SELECT array_agg(DISTINCT new_values ->> 'binary_content') FROM audit_logs
            WHERE resource_id = 'a0200000-0000-4000-8000-0000000000c1'),
          ARRAY['[redacted]'], 'the binary content stays out of the audit trail (redacted)');
SELECT abtest.unbecome();
SELECT abtest.become(:tb);
SELECT throws_ok($$SELECT agentbase.generated_content_download('a0200000-0000-4000-8000-0000000000c1')$$, 'AB404', NULL,
                 'another tenant''s content is not found');
SELECT is(agentbase.generated_content_count_download('a0200000-0000-4000-8000-0000000000c1'), NULL,
          'nor counted');
SELECT abtest.unbecome();

SELECT * FROM finish();
ROLLBACK;
