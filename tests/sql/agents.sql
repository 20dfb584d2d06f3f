-- pgTAP: 0003_agents (agents, agent_assignments, conversations, messages,
-- tool_executions, generated_content). Structure, every named CHECK, the gap-free message
-- sequence and conversation counters, message immutability, what is audited, and the
-- delete rules.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(175);

\set ta '''a0000003-0000-7000-8000-00000000000a'''
\set tb '''b0000003-0000-7000-8000-00000000000b'''
SELECT abtest.fixture_0002_tenancy(:ta);
SELECT abtest.fixture_0003_agents(:ta);
SELECT abtest.fixture_0002_tenancy(:tb);
SELECT abtest.fixture_0003_agents(:tb);
SELECT id AS ua FROM users WHERE tenant_id = :ta ORDER BY created_at, id LIMIT 1 \gset
-- the fixture's agent, not one of the platform agents every tenant has (0020)
SELECT id AS aa FROM agents WHERE tenant_id = :ta AND name LIKE 'fixture agent %' ORDER BY created_at, id LIMIT 1 \gset
SELECT id AS ca FROM conversations WHERE tenant_id = :ta ORDER BY created_at, id LIMIT 1 \gset
SELECT id AS cb FROM conversations WHERE tenant_id = :tb ORDER BY created_at, id LIMIT 1 \gset
SELECT id AS ga FROM generated_content WHERE tenant_id = :ta AND parent_id IS NULL LIMIT 1 \gset

-- rejects(sql, constraint): the statement fails on exactly that CHECK constraint.
CREATE FUNCTION pg_temp.rejects(p_sql text, p_con text) RETURNS text LANGUAGE sql AS $$
    SELECT throws_like(p_sql, '%violates check constraint "' || p_con || '"%', p_con || ' rejects a bad value')
$$;

-- ------------------------------------------------------------------------------------
-- Structure
-- ------------------------------------------------------------------------------------
SELECT has_table('agentbase', t, t || ' exists')
  FROM unnest(ARRAY['agents', 'agent_assignments', 'conversations', 'messages', 'tool_executions',
                    'generated_content']) t;

SELECT columns_are('agentbase', 'agents', ARRAY[
    'tenant_id', 'id', 'name', 'description', 'agent_type', 'model_provider', 'model_name', 'temperature',
    'max_tokens', 'system_prompt', 'capabilities', 'tools', 'timeout_seconds', 'max_iterations', 'memory_enabled',
    'status', 'version', 'current_load', 'tags', 'config', 'metadata', 'created_by', 'created_at', 'updated_at',
    'deleted_at', 'slug', 'version_label'], 'agents columns');
SELECT columns_are('agentbase', 'agent_assignments', ARRAY[
    'tenant_id', 'id', 'user_id', 'agent_id', 'allocation_type', 'priority', 'max_concurrent_requests', 'is_active',
    'assigned_at', 'expires_at', 'created_at', 'updated_at'], 'agent_assignments columns');
SELECT columns_are('agentbase', 'conversations', ARRAY[
    'tenant_id', 'id', 'user_id', 'agent_id', 'title', 'status', 'context', 'ai_config', 'message_count',
    'total_tokens', 'total_cost', 'last_sequence_number', 'analytics', 'started_at', 'ended_at', 'last_message_at',
    'created_at', 'updated_at', 'deleted_at', 'metadata', 'project_id'], 'conversations columns');
SELECT columns_are('agentbase', 'messages', ARRAY[
    'tenant_id', 'id', 'conversation_id', 'sequence_number', 'role', 'content', 'content_type', 'token_count',
    'model', 'tool_calls', 'tool_results', 'latency_ms', 'cost', 'metadata', 'created_at'], 'messages columns');
SELECT columns_are('agentbase', 'tool_executions', ARRAY[
    'tenant_id', 'id', 'agent_id', 'conversation_id', 'message_id', 'tool_name', 'input', 'output', 'status',
    'error_message', 'duration_ms', 'started_at', 'completed_at', 'created_at', 'metadata'], 'tool_executions columns');
SELECT columns_are('agentbase', 'generated_content', ARRAY[
    'tenant_id', 'id', 'user_id', 'agent_id', 'conversation_id', 'parent_id', 'content_type', 'title', 'content',
    'language', 'file_name', 'file_path', 'mime_type', 'file_size_bytes', 'checksum', 'version',
    'validation_status', 'validation_errors', 'is_public', 'download_count', 'is_template', 'template_variables',
    'tags', 'metadata', 'created_at', 'updated_at', 'deleted_at', 'ai_request_id', 'binary_content', 'framework',
    'execution_status'], 'generated_content columns');

SELECT col_type_is('agentbase', 'agents', 'temperature', 'numeric(3,2)', 'agents.temperature is numeric(3,2)');
SELECT col_type_is('agentbase', 'agents', 'capabilities', 'text[]', 'agents.capabilities is text[]');
SELECT col_type_is('agentbase', 'conversations', 'total_tokens', 'bigint', 'conversations.total_tokens is bigint');
SELECT col_type_is('agentbase', 'conversations', 'total_cost', 'numeric(20,10)', 'conversations.total_cost is numeric(20,10)');
SELECT col_type_is('agentbase', 'conversations', 'last_sequence_number', 'bigint', 'last_sequence_number is bigint');
SELECT col_type_is('agentbase', 'messages', 'sequence_number', 'bigint', 'messages.sequence_number is bigint');
SELECT col_type_is('agentbase', 'messages', 'token_count', 'bigint', 'messages.token_count is bigint');
SELECT col_type_is('agentbase', 'messages', 'cost', 'numeric(20,10)', 'messages.cost is numeric(20,10)');

SELECT col_is_pk('agentbase', t, ARRAY['tenant_id', 'id'], t || ' PK (tenant_id, id)')
  FROM unnest(ARRAY['agents', 'agent_assignments', 'conversations', 'messages', 'generated_content']) t;
SELECT col_is_pk('agentbase', 'tool_executions', ARRAY['tenant_id', 'id', 'created_at'], 'tool_executions PK (tenant_id, id, created_at)');
SELECT is_partitioned('agentbase', 'tool_executions', 'tool_executions is partitioned');
SELECT ok(to_regclass('agentbase.tool_executions_p' || to_char(now(), 'YYYYMM')) IS NOT NULL,
          'tool_executions has this month''s partition');
SELECT col_is_unique('agentbase', 'messages', ARRAY['tenant_id', 'conversation_id', 'sequence_number'],
                     'a sequence number is unique within its conversation');
SELECT col_is_unique('agentbase', 'agent_assignments', ARRAY['tenant_id', 'user_id', 'agent_id'],
                     'one assignment per user and agent');

SELECT fk_ok('agentbase', t, ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], t || ' -> tenants')
  FROM unnest(ARRAY['agents', 'agent_assignments', 'conversations', 'messages', 'tool_executions',
                    'generated_content']) t;
SELECT fk_ok('agentbase', 'agents', ARRAY['tenant_id', 'created_by'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'agents -> users');
SELECT fk_ok('agentbase', 'agent_assignments', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'agent_assignments -> users');
SELECT fk_ok('agentbase', 'agent_assignments', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'agent_assignments -> agents');
SELECT fk_ok('agentbase', 'conversations', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'conversations -> users');
SELECT fk_ok('agentbase', 'conversations', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'conversations -> agents');
SELECT fk_ok('agentbase', 'messages', ARRAY['tenant_id', 'conversation_id'], 'agentbase', 'conversations', ARRAY['tenant_id', 'id'], 'messages -> conversations');
SELECT fk_ok('agentbase', 'tool_executions', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'tool_executions -> agents');
SELECT fk_ok('agentbase', 'tool_executions', ARRAY['tenant_id', 'conversation_id'], 'agentbase', 'conversations', ARRAY['tenant_id', 'id'], 'tool_executions -> conversations');
SELECT fk_ok('agentbase', 'generated_content', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'], 'generated_content -> users');
SELECT fk_ok('agentbase', 'generated_content', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents', ARRAY['tenant_id', 'id'], 'generated_content -> agents');
SELECT fk_ok('agentbase', 'generated_content', ARRAY['tenant_id', 'conversation_id'], 'agentbase', 'conversations', ARRAY['tenant_id', 'id'], 'generated_content -> conversations');
SELECT fk_ok('agentbase', 'generated_content', ARRAY['tenant_id', 'parent_id'], 'agentbase', 'generated_content', ARRAY['tenant_id', 'id'], 'generated_content -> its previous version');
SELECT results_eq($$SELECT conname::text COLLATE "default", confdeltype::text COLLATE "default",
                           coalesce((SELECT string_agg(attname::text, ',') FROM pg_attribute
                                      WHERE attrelid = conrelid AND attnum = ANY (confdelsetcols)), '') COLLATE "default"
                      FROM pg_constraint
                     WHERE contype = 'f' AND conparentid = 0
                       AND conrelid IN ('agentbase.agents'::regclass, 'agentbase.agent_assignments'::regclass,
                                        'agentbase.conversations'::regclass, 'agentbase.messages'::regclass,
                                        'agentbase.tool_executions'::regclass, 'agentbase.generated_content'::regclass)
                       AND confrelid <> 'agentbase.tenants'::regclass
                     ORDER BY 1$$,
                  $$VALUES ('fk_agent_assignments_agents', 'c', ''), ('fk_agent_assignments_users', 'c', ''),
                           ('fk_agents_users', 'n', 'created_by'),
                           ('fk_conversations_agents', 'c', ''), ('fk_conversations_projects', 'n', 'project_id'),
                           ('fk_conversations_users', 'c', ''),
                           ('fk_generated_content_agents', 'n', 'agent_id'),
                           ('fk_generated_content_conversations', 'n', 'conversation_id'),
                           ('fk_generated_content_parent', 'n', 'parent_id'),
                           ('fk_generated_content_users', 'n', 'user_id'),
                           ('fk_messages_conversations', 'c', ''),
                           ('fk_tool_executions_agents', 'c', ''), ('fk_tool_executions_conversations', 'c', '')$$,
                  'delete rules: cascade or SET NULL of the one column, never of tenant_id');

SELECT has_index('agentbase', tbl, idx, tbl || ' has ' || idx)
  FROM (VALUES ('agents', 'uq_agents_name'), ('agents', 'idx_agents_status'), ('agents', 'idx_agents_created_by'),
               ('agent_assignments', 'uq_agent_assignments_user_id_agent_id'),
               ('agent_assignments', 'idx_agent_assignments_agent_id'),
               ('conversations', 'idx_conversations_started_at'), ('conversations', 'idx_conversations_user_id'),
               ('conversations', 'idx_conversations_agent_id'),
               ('messages', 'uq_messages_conversation_id_sequence_number'),
               ('messages', 'idx_messages_conversation_id_sequence_number'),
               ('tool_executions', 'idx_tool_executions_created_at'), ('tool_executions', 'idx_tool_executions_agent_id'),
               ('tool_executions', 'idx_tool_executions_conversation_id'),
               ('generated_content', 'idx_generated_content_user_id'), ('generated_content', 'idx_generated_content_agent_id'),
               ('generated_content', 'idx_generated_content_conversation_id'),
               ('generated_content', 'idx_generated_content_parent_id')) AS i(tbl, idx);
SELECT is(pg_get_indexdef('agentbase.idx_agents_status'::regclass),
          'CREATE INDEX idx_agents_status ON agentbase.agents USING btree (tenant_id, status) WHERE (deleted_at IS NULL)',
          'idx_agents_status covers live agents by status');
SELECT is(pg_get_indexdef('agentbase.uq_agents_name'::regclass),
          'CREATE UNIQUE INDEX uq_agents_name ON agentbase.agents USING btree (tenant_id, name) WHERE (deleted_at IS NULL)',
          'agent names are unique per tenant among live agents');
SELECT is(pg_get_indexdef('agentbase.idx_conversations_started_at'::regclass),
          'CREATE INDEX idx_conversations_started_at ON agentbase.conversations USING btree (tenant_id, started_at DESC)',
          'conversations are indexed newest first');
SELECT is(pg_get_indexdef('agentbase.idx_messages_conversation_id_sequence_number'::regclass),
          'CREATE INDEX idx_messages_conversation_id_sequence_number ON agentbase.messages USING btree (conversation_id, sequence_number)',
          'messages are indexed by conversation and sequence');

SELECT triggers_are('agentbase', 'agents', ARRAY['trg_audit', 'trg_audit_update', 'trg_load_guard', 'trg_slug', 'trg_updated_at'], 'agents triggers');
SELECT triggers_are('agentbase', 'agent_assignments', ARRAY['trg_audit', 'trg_updated_at'], 'agent_assignments triggers');
SELECT triggers_are('agentbase', 'conversations', ARRAY['trg_audit', 'trg_audit_update', 'trg_guard', 'trg_owner_fill', 'trg_updated_at'], 'conversations triggers');
SELECT triggers_are('agentbase', 'messages', ARRAY['trg_append', 'trg_audit', 'trg_guard'], 'messages triggers');
SELECT triggers_are('agentbase', 'tool_executions', ARRAY['trg_refs'],
                    'tool_executions has only the reference check of 0011 (a log is not audited)');
SELECT triggers_are('agentbase', 'generated_content', ARRAY['trg_audit', 'trg_audit_update', 'trg_binary_size', 'trg_owner_fill', 'trg_refs', 'trg_updated_at'], 'generated_content triggers');

SELECT table_privs_are('agentbase', 'messages', 'agentbase_app', ARRAY['SELECT', 'INSERT', 'UPDATE'],
                       'the service reads, appends and annotates messages, never deletes them');
SELECT table_privs_are('agentbase', 'tool_executions', 'agentbase_app', ARRAY['SELECT', 'INSERT'],
                       'the service may only read and append tool_executions');
SELECT table_privs_are('agentbase', 'agents', 'agentbase_app', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
                       'the service manages agents');

-- ------------------------------------------------------------------------------------
-- CHECK constraints: each named one rejects a bad value
-- ------------------------------------------------------------------------------------
SELECT is(ARRAY(SELECT conname::text FROM pg_constraint
                 WHERE contype = 'c' AND conrelid IN ('agentbase.agents'::regclass, 'agentbase.agent_assignments'::regclass,
                       'agentbase.conversations'::regclass, 'agentbase.messages'::regclass,
                       'agentbase.tool_executions'::regclass, 'agentbase.generated_content'::regclass)
                 ORDER BY 1),
          ARRAY['chk_agent_assignments_allocation_type', 'chk_agent_assignments_expires_at',
                'chk_agent_assignments_max_concurrent_requests',
                'chk_agents_agent_type', 'chk_agents_config', 'chk_agents_current_load', 'chk_agents_max_iterations',
                'chk_agents_max_tokens', 'chk_agents_metadata', 'chk_agents_model_name', 'chk_agents_model_provider',
                'chk_agents_name', 'chk_agents_slug', 'chk_agents_status', 'chk_agents_temperature',
                'chk_agents_timeout_seconds', 'chk_agents_tools', 'chk_agents_version', 'chk_agents_version_label',
                'chk_conversations_ai_config', 'chk_conversations_analytics', 'chk_conversations_context',
                'chk_conversations_ended_at', 'chk_conversations_last_sequence_number', 'chk_conversations_message_count',
                'chk_conversations_metadata', 'chk_conversations_status', 'chk_conversations_total_cost', 'chk_conversations_total_tokens',
                'chk_generated_content_binary_content', 'chk_generated_content_binary_mime_type', -- these five: dev_platform.sql
                'chk_generated_content_content_type', 'chk_generated_content_download_count',
                'chk_generated_content_execution_status',
                'chk_generated_content_file_size_bytes', 'chk_generated_content_framework', 'chk_generated_content_inline',
                'chk_generated_content_metadata',
                'chk_generated_content_parent_id', 'chk_generated_content_template_variables',
                'chk_generated_content_title', 'chk_generated_content_validation_errors',
                'chk_generated_content_validation_status', 'chk_generated_content_version',
                'chk_messages_content_type', 'chk_messages_cost', 'chk_messages_latency_ms', 'chk_messages_metadata',
                'chk_messages_role', 'chk_messages_token_count', 'chk_messages_tool_calls', 'chk_messages_tool_results',
                'chk_tool_executions_completed_at', 'chk_tool_executions_duration_ms', 'chk_tool_executions_metadata',
                'chk_tool_executions_status', 'chk_tool_executions_tool_name'],
          'the module has exactly the CHECK constraints tested below');

-- agents (bad values on the fixture agent)
SELECT pg_temp.rejects(format($$UPDATE agents SET %s WHERE id = %L$$, v.assignment, :'aa'), v.con)
  FROM (VALUES ('name = $n$   $n$', 'chk_agents_name'),
               ('agent_type = $n$wizard$n$', 'chk_agents_agent_type'),
               ('model_provider = $n$Open AI$n$', 'chk_agents_model_provider'),
               ('model_name = $n$$n$', 'chk_agents_model_name'),
               ('temperature = 2.01', 'chk_agents_temperature'),
               ('temperature = -0.01', 'chk_agents_temperature'),
               ('max_tokens = 0', 'chk_agents_max_tokens'),
               ('tools = $n${}$n$', 'chk_agents_tools'),
               ('timeout_seconds = 0', 'chk_agents_timeout_seconds'),
               ('max_iterations = 0', 'chk_agents_max_iterations'),
               ('status = $n$sleeping$n$', 'chk_agents_status'),
               ('version = 0', 'chk_agents_version'),
               ('version_label = $n$ 1.0$n$', 'chk_agents_version_label'),
               ('slug = $n$My-Agent$n$', 'chk_agents_slug'),
               ('slug = $n$a--b$n$', 'chk_agents_slug'),
               ('slug = $n$-a$n$', 'chk_agents_slug'),
               ('slug = repeat($n$a$n$, 65)', 'chk_agents_slug'),
               ('slug = $n$0190a6f2-1c3b-7000-8000-00000000000a$n$', 'chk_agents_slug'),
               ('current_load = -1', 'chk_agents_current_load'),
               ('config = $n$[]$n$', 'chk_agents_config'),
               ('metadata = $n$[]$n$', 'chk_agents_metadata')) AS v(assignment, con);

-- agent_assignments
SELECT pg_temp.rejects(format($$UPDATE agent_assignments SET %s WHERE tenant_id = %L$$, v.assignment, :ta), v.con)
  FROM (VALUES ('allocation_type = $n$exclusive$n$', 'chk_agent_assignments_allocation_type'),
               ('max_concurrent_requests = 0', 'chk_agent_assignments_max_concurrent_requests'),
               ('expires_at = assigned_at', 'chk_agent_assignments_expires_at')) AS v(assignment, con);

-- conversations (the counters are kept by trg_guard; their CHECKs are tested without it)
ALTER TABLE conversations DISABLE TRIGGER trg_guard;
SELECT pg_temp.rejects(format($$UPDATE conversations SET %s WHERE id = %L$$, v.assignment, :'ca'), v.con)
  FROM (VALUES ('status = $n$open$n$', 'chk_conversations_status'),
               ('context = $n$[]$n$', 'chk_conversations_context'),
               ('ai_config = $n$"x"$n$', 'chk_conversations_ai_config'),
               ('message_count = -1', 'chk_conversations_message_count'),
               ('total_tokens = -1', 'chk_conversations_total_tokens'),
               ('total_cost = -0.0000000001', 'chk_conversations_total_cost'),
               ('last_sequence_number = -1', 'chk_conversations_last_sequence_number'),
               ('analytics = $n$[]$n$', 'chk_conversations_analytics'),
               ('ended_at = started_at - interval $n$1 second$n$', 'chk_conversations_ended_at'),
               ('status = $n$aborted$n$', 'chk_conversations_status'),
               ('metadata = $n$[]$n$', 'chk_conversations_metadata')) AS v(assignment, con);
ALTER TABLE conversations ENABLE TRIGGER trg_guard;

-- messages (inserted: rows are immutable)
SELECT pg_temp.rejects(format($$INSERT INTO messages (tenant_id, conversation_id, role, content, %s) VALUES (%L, %L, 'user', 'x', %s)$$,
                              v.col, :ta, :'ca', v.val), v.con)
  FROM (VALUES ('content_type', '$n$pdf$n$', 'chk_messages_content_type'),
               ('token_count', '-1', 'chk_messages_token_count'),
               ('tool_calls', '$n${}$n$', 'chk_messages_tool_calls'),
               ('tool_results', '$n$"x"$n$', 'chk_messages_tool_results'),
               ('latency_ms', '-1', 'chk_messages_latency_ms'),
               ('cost', '-0.01', 'chk_messages_cost'),
               ('metadata', '$n$[]$n$', 'chk_messages_metadata')) AS v(col, val, con);
SELECT pg_temp.rejects(format($$INSERT INTO messages (tenant_id, conversation_id, role, content) VALUES (%L, %L, 'narrator', 'x')$$,
                              :ta, :'ca'), 'chk_messages_role');

-- tool_executions
SELECT pg_temp.rejects(format($$INSERT INTO tool_executions (tenant_id, tool_name, %s) VALUES (%L, 'grep', %s)$$,
                              v.col, :ta, v.val), v.con)
  FROM (VALUES ('status', '$n$done$n$', 'chk_tool_executions_status'),
               ('duration_ms', '-5', 'chk_tool_executions_duration_ms'),
               ('metadata', '$n$[]$n$', 'chk_tool_executions_metadata')) AS v(col, val, con);
SELECT pg_temp.rejects(format($$INSERT INTO tool_executions (tenant_id, tool_name) VALUES (%L, ' ')$$, :ta), 'chk_tool_executions_tool_name');
SELECT pg_temp.rejects(format($$INSERT INTO tool_executions (tenant_id, tool_name, started_at, completed_at) VALUES (%L, 'grep', now(), now() - interval '1 ms')$$, :ta),
                       'chk_tool_executions_completed_at');

-- generated_content
SELECT pg_temp.rejects(format($$UPDATE generated_content SET %s WHERE id = %L$$, v.assignment, :'ga'), v.con)
  FROM (VALUES ('parent_id = id', 'chk_generated_content_parent_id'),
               ('content_type = $n$spreadsheet$n$', 'chk_generated_content_content_type'),
               ('title = $n$ $n$', 'chk_generated_content_title'),
               ('file_size_bytes = -1', 'chk_generated_content_file_size_bytes'),
               ('version = 0', 'chk_generated_content_version'),
               ('validation_status = $n$ok$n$', 'chk_generated_content_validation_status'),
               ('validation_errors = $n${}$n$', 'chk_generated_content_validation_errors'),
               ('download_count = -1', 'chk_generated_content_download_count'),
               ('template_variables = $n$"x"$n$', 'chk_generated_content_template_variables'),
               ('metadata = $n$[]$n$', 'chk_generated_content_metadata')) AS v(assignment, con);

SELECT is((SELECT message_count || '/' || last_sequence_number FROM conversations WHERE id = :'ca'), '2/2',
          'rejected messages left no trace in the conversation counters');

-- ------------------------------------------------------------------------------------
-- Gap-free message sequence and conversation counters (as the service)
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
INSERT INTO conversations (tenant_id, id, user_id, agent_id, title, message_count, total_tokens, total_cost, last_sequence_number)
VALUES (:ta, 'a0000003-0000-7000-8000-0000000000c1', :'ua', :'aa', 'sequence test', 7, 70, 7.5, 7);
SELECT is((SELECT message_count || '/' || total_tokens || '/' || total_cost::float8 || '/' || last_sequence_number
             FROM conversations WHERE id = 'a0000003-0000-7000-8000-0000000000c1'),
          '0/0/0/0', 'a new conversation starts with zero counters whatever the client sends');

INSERT INTO messages (tenant_id, conversation_id, role, content, token_count, cost)
VALUES (:ta, 'a0000003-0000-7000-8000-0000000000c1', 'system', 'You are helpful.', 4, 0);
INSERT INTO messages (tenant_id, conversation_id, role, content, token_count, cost)
VALUES (:ta, 'a0000003-0000-7000-8000-0000000000c1', 'user', 'Hello', 2, 0.0000020000);
INSERT INTO messages (tenant_id, conversation_id, role, content, token_count, cost, model, latency_ms)
VALUES (:ta, 'a0000003-0000-7000-8000-0000000000c1', 'assistant', 'Hi! How can I help?', 7, 0.0001050000, 'claude-sonnet-4', 640);
SELECT results_eq($$SELECT sequence_number FROM messages WHERE conversation_id = 'a0000003-0000-7000-8000-0000000000c1' ORDER BY created_at, sequence_number$$,
                  ARRAY[1, 2, 3]::bigint[], 'sequential inserts are numbered 1, 2, 3');
SELECT results_eq($$INSERT INTO messages (tenant_id, conversation_id, sequence_number, role, content, token_count)
                    VALUES (agentbase.current_tenant_id(), 'a0000003-0000-7000-8000-0000000000c1', 99, 'user', 'Thanks', 1)
                    RETURNING sequence_number$$,
                  ARRAY[4]::bigint[], 'a sequence number sent by the client is replaced by the next one');
SELECT throws_ok($$INSERT INTO messages (tenant_id, conversation_id, role, content, token_count)
                   VALUES (agentbase.current_tenant_id(), 'a0000003-0000-7000-8000-0000000000c1', 'user', 'bad', -3)$$,
                 '23514', NULL, 'a rejected message ...');
SELECT results_eq($$INSERT INTO messages (tenant_id, conversation_id, role, content, token_count)
                    VALUES (agentbase.current_tenant_id(), 'a0000003-0000-7000-8000-0000000000c1', 'user', 'one', 1),
                           (agentbase.current_tenant_id(), 'a0000003-0000-7000-8000-0000000000c1', 'assistant', 'two', 2)
                    RETURNING sequence_number$$,
                  ARRAY[5, 6]::bigint[], '... leaves no gap, and a multi-row insert takes consecutive numbers');
SELECT results_eq($$SELECT message_count, total_tokens, total_cost, last_sequence_number, last_message_at IS NOT NULL
                      FROM conversations WHERE id = 'a0000003-0000-7000-8000-0000000000c1'$$,
                  $$VALUES (6, 17::bigint, 0.0001070000::numeric(20,10), 6::bigint, true)$$,
                  'the conversation counts messages, tokens and cost, and knows its last message time');
UPDATE conversations SET message_count = 0, total_tokens = 0, total_cost = 0, last_sequence_number = 0, title = 'renamed'
 WHERE id = 'a0000003-0000-7000-8000-0000000000c1';
SELECT is((SELECT title || ' ' || message_count || '/' || total_tokens || '/' || last_sequence_number FROM conversations
            WHERE id = 'a0000003-0000-7000-8000-0000000000c1'),
          'renamed 6/17/6', 'a client update changes the title but not the counters');

-- Where messages cannot go.
SELECT throws_ok($$INSERT INTO messages (tenant_id, conversation_id, role, content)
                   VALUES (agentbase.current_tenant_id(), 'a0000003-0000-7000-8000-0000000000ff', 'user', 'x')$$,
                 '23503', NULL, 'a message to an unknown conversation violates the foreign key');
SELECT throws_ok(format($$INSERT INTO messages (tenant_id, conversation_id, role, content)
                          VALUES (agentbase.current_tenant_id(), %L, 'user', 'x')$$, :'cb'),
                 '23503', NULL, 'a message to another tenant''s conversation violates the foreign key');
SELECT throws_ok(format($$INSERT INTO messages (tenant_id, conversation_id, role, content) VALUES (%L, %L, 'user', 'x')$$, :tb, :'cb'),
                 '42501', NULL, 'a message written into another tenant is refused by RLS');
UPDATE conversations SET deleted_at = now() WHERE id = :'ca';
SELECT throws_like(format($$INSERT INTO messages (tenant_id, conversation_id, role, content)
                            VALUES (agentbase.current_tenant_id(), %L, 'user', 'x')$$, :'ca'),
                   '%is deleted%', 'a soft-deleted conversation takes no new messages');
UPDATE conversations SET deleted_at = NULL WHERE id = :'ca';

-- Messages are immutable except metadata, and never deleted by the service.
SELECT throws_ok($$UPDATE messages SET content = 'rewritten' WHERE conversation_id = 'a0000003-0000-7000-8000-0000000000c1' AND sequence_number = 2$$,
                 '22023', NULL, 'message content cannot change');
SELECT throws_ok($$UPDATE messages SET sequence_number = 10 WHERE conversation_id = 'a0000003-0000-7000-8000-0000000000c1' AND sequence_number = 2$$,
                 '22023', NULL, 'nor its sequence number');
SELECT lives_ok($$UPDATE messages SET metadata = '{"feedback": "helpful"}' WHERE conversation_id = 'a0000003-0000-7000-8000-0000000000c1' AND sequence_number = 3$$,
                'metadata can change');
SELECT throws_ok($$DELETE FROM messages WHERE conversation_id = 'a0000003-0000-7000-8000-0000000000c1'$$,
                 '42501', NULL, 'the service cannot delete messages (that would leave a gap)');

-- Agents, assignments, logs.
SELECT throws_ok(format($$INSERT INTO agents (tenant_id, name, model_provider, model_name) SELECT tenant_id, name, 'openai', 'gpt-4o' FROM agents WHERE id = %L$$, :'aa'),
                 '23505', NULL, 'agent names are unique per tenant');
SELECT lives_ok($$INSERT INTO agents (tenant_id, name, model_provider, model_name, temperature, max_tokens)
                  VALUES (agentbase.current_tenant_id(), 'helper', 'openai', 'gpt-4o', 0, 1)$$,
                'an agent with temperature 0 and max_tokens 1 is fine');
UPDATE agents SET deleted_at = now() WHERE name = 'helper';
SELECT lives_ok(format($$INSERT INTO agents (tenant_id, name, model_provider, model_name, temperature, created_by)
                         VALUES (agentbase.current_tenant_id(), 'helper', 'openai', 'gpt-4o', 2, %L)$$, :'ua'),
                'a deleted agent''s name can be reused');
SELECT throws_ok(format($$INSERT INTO agent_assignments (tenant_id, user_id, agent_id) VALUES (agentbase.current_tenant_id(), %L, %L)$$, :'ua', :'aa'),
                 '23505', NULL, 'a user is assigned an agent once');
SELECT lives_ok(format($$INSERT INTO tool_executions (tenant_id, agent_id, conversation_id, tool_name, input, status, error_message)
                         VALUES (agentbase.current_tenant_id(), %L, 'a0000003-0000-7000-8000-0000000000c1', 'web_search', '{"q": "x"}', 'timeout', 'no answer in 30 s')$$, :'aa'),
                'the service logs a tool execution');
SELECT throws_ok($$UPDATE tool_executions SET status = 'success'$$, '42501', NULL, 'the service cannot change the tool log');
SELECT throws_ok($$DELETE FROM tool_executions$$, '42501', NULL, 'nor delete from it');
SELECT results_eq(format($$INSERT INTO generated_content (tenant_id, parent_id, agent_id, content_type, title, content, version)
                           VALUES (agentbase.current_tenant_id(), %L, %L, 'code', 'fixture patch', 'print("v3")', 3)
                           RETURNING parent_id$$, :'ga', :'aa'),
                  ARRAY[:'ga'::uuid], 'a new version points at its parent');
-- the load is the database's (the agent leases, 0017): changed here as the owner would
SELECT abtest.unbecome();
UPDATE agents SET current_load = current_load + 3 WHERE id = :'aa';
SELECT abtest.become(:ta);
UPDATE agents SET status = 'maintenance' WHERE id = :'aa';
UPDATE generated_content SET download_count = download_count + 1 WHERE id = :'ga';
UPDATE generated_content SET is_public = true WHERE id = :'ga';
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- What is audited
-- ------------------------------------------------------------------------------------
SELECT results_eq($$SELECT action FROM audit_logs WHERE resource_id = 'a0000003-0000-7000-8000-0000000000c1' ORDER BY action$$,
                  ARRAY['conversation.created', 'conversation.updated'],
                  'a conversation is audited on create and on the title change, not on each message');
SELECT is((SELECT count(*)::int FROM audit_logs WHERE tenant_id = :ta AND action = 'message.created'), 0,
          'appending a message writes no audit row (messages are a log)');
SELECT results_eq($$SELECT old_values ->> 'content', new_values ->> 'content', new_values -> 'metadata' ->> 'feedback'
                      FROM audit_logs WHERE action = 'message.updated'$$,
                  $$VALUES ('[redacted]', '[redacted]', 'helpful')$$,
                  'a metadata change is audited, with the content redacted');
SELECT results_eq(format($$SELECT new_values ->> 'status' FROM audit_logs WHERE resource_id = %L AND action = 'agent.updated'$$, :'aa'),
                  ARRAY['maintenance'], 'an agent''s status change is audited, its load changes are not');
SELECT results_eq(format($$SELECT (new_values ->> 'is_public') || ' ' || (new_values ->> 'content') FROM audit_logs
                           WHERE resource_id = %L AND action = 'generated_content.updated'$$, :'ga'),
                  ARRAY['true [redacted]'], 'generated content: visibility change audited (content redacted), downloads not');
SELECT is((SELECT count(*)::int FROM audit_logs WHERE action = 'generated_content.created' AND tenant_id = :ta
             AND new_values ->> 'content' <> '[redacted]'), 0, 'generated content never enters the trail');

-- ------------------------------------------------------------------------------------
-- Delete rules (as superuser)
-- ------------------------------------------------------------------------------------
DELETE FROM conversations WHERE id = 'a0000003-0000-7000-8000-0000000000c1';
SELECT is((SELECT count(*)::int FROM messages WHERE conversation_id = 'a0000003-0000-7000-8000-0000000000c1'), 0,
          'deleting a conversation deletes its messages');
SELECT is((SELECT count(*)::int FROM tool_executions WHERE conversation_id = 'a0000003-0000-7000-8000-0000000000c1'), 0,
          'and its tool executions');
DELETE FROM agents WHERE id = :'aa';
SELECT is((SELECT count(*)::int FROM conversations WHERE agent_id = :'aa')
          + (SELECT count(*)::int FROM agent_assignments WHERE agent_id = :'aa'), 0,
          'deleting an agent deletes its conversations and assignments');
SELECT is((SELECT count(*)::int FROM generated_content WHERE tenant_id = :ta AND agent_id IS NULL AND conversation_id IS NULL), 3,
          'generated content outlives its agent and conversation');
DELETE FROM generated_content WHERE id = :'ga';
SELECT is((SELECT count(*)::int FROM generated_content WHERE tenant_id = :ta AND parent_id IS NULL), 2,
          'deleting a version detaches its children');
DELETE FROM users WHERE id = :'ua';
SELECT results_eq($$SELECT created_by FROM agents WHERE name = 'helper' AND deleted_at IS NULL$$, ARRAY[NULL::uuid],
                  'agents outlive the user who created them');
SELECT is((SELECT count(*)::int FROM generated_content WHERE tenant_id = :ta AND user_id IS NOT NULL), 0,
          'generated content outlives its user');

SELECT * FROM finish();
ROLLBACK;
