-- pgTAP: 0007_mcp (mcp_servers, tenant_mcp_servers, mcp_server_catalog, mcp_server_configs,
-- mcp_tool_executions). Structure, every named CHECK, the registry visibility rules, the
-- append-only log and the redaction of secrets in audit_logs.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(143);

-- Two tenants (A, B) built by the tenancy and agents fixtures.
\set ta '''a0000007-0000-7000-8000-00000000000a'''
\set tb '''b0000007-0000-7000-8000-00000000000b'''
DO $$
DECLARE
    f name;
    t uuid;
BEGIN
    FOREACH t IN ARRAY ARRAY['a0000007-0000-7000-8000-00000000000a', 'b0000007-0000-7000-8000-00000000000b']::uuid[] LOOP
        FOR f IN SELECT proname FROM pg_proc
                  WHERE pronamespace = 'abtest'::regnamespace AND proname ~ '^fixture_000[23]_'
                  ORDER BY proname LOOP
            EXECUTE format('SELECT abtest.%I($1)', f) USING t;
        END LOOP;
    END LOOP;
END
$$;
SELECT id AS ua FROM users WHERE tenant_id = :ta ORDER BY created_at LIMIT 1 \gset
SELECT id AS ub FROM users WHERE tenant_id = :tb ORDER BY created_at LIMIT 1 \gset

-- rejects(sql, constraint): the statement fails on exactly that CHECK constraint.
CREATE FUNCTION pg_temp.rejects(p_sql text, p_con text) RETURNS text LANGUAGE sql AS $$
    SELECT throws_like(p_sql, '%violates check constraint "' || p_con || '"%', p_con || ' rejects a bad value')
$$;

-- ------------------------------------------------------------------------------------
-- Structure
-- ------------------------------------------------------------------------------------
SELECT has_table('agentbase', 'mcp_servers', 'mcp_servers exists');
SELECT has_table('agentbase', 'tenant_mcp_servers', 'tenant_mcp_servers exists');
SELECT has_view('agentbase', 'mcp_server_catalog', 'mcp_server_catalog exists');
SELECT has_table('agentbase', 'mcp_server_configs', 'mcp_server_configs exists');
SELECT has_table('agentbase', 'mcp_tool_executions', 'mcp_tool_executions exists');

SELECT columns_are('agentbase', 'mcp_servers', ARRAY[
    'id', 'name', 'display_name', 'description', 'transport', 'command', 'args', 'url', 'env_schema',
    'tools', 'resources', 'prompts', 'version', 'author', 'homepage', 'is_public', 'is_verified',
    'status', 'metadata', 'created_at', 'updated_at', 'category', 'repository_url'], 'mcp_servers columns');
SELECT columns_are('agentbase', 'tenant_mcp_servers', ARRAY[
    'tenant_id', 'id', 'name', 'display_name', 'description', 'transport', 'command', 'args', 'url',
    'env_schema', 'tools', 'resources', 'prompts', 'version', 'author', 'homepage', 'status',
    'metadata', 'created_by', 'created_at', 'updated_at'], 'tenant_mcp_servers columns');
SELECT columns_are('agentbase', 'mcp_server_configs', ARRAY[
    'tenant_id', 'id', 'server_id', 'tenant_server_id', 'name', 'config', 'secrets_ciphertext',
    'secrets_nonce', 'secrets_key_id', 'enabled', 'user_id', 'last_connected_at', 'last_error',
    'created_at', 'updated_at', 'deleted_at', 'secrets_hint', 'resource_limits', 'allowed_user_ids'],
    'mcp_server_configs columns');
SELECT columns_are('agentbase', 'mcp_tool_executions', ARRAY[
    'tenant_id', 'id', 'config_id', 'server_name', 'tool_name', 'user_id', 'agent_id',
    'conversation_id', 'arguments', 'result', 'status', 'error_message', 'duration_ms',
    'created_at', 'message_id', 'error_code', 'server_instance_id', 'metadata', 'started_at', 'completed_at'],
    'mcp_tool_executions columns');

SELECT hasnt_column('agentbase', 'mcp_servers', 'tenant_id', 'the public registry is global (no tenant_id)');
SELECT col_type_is('agentbase', 'mcp_servers', 'args', 'text[]', 'mcp_servers.args is text[]');
SELECT col_type_is('agentbase', 'mcp_servers', 'tools', 'jsonb', 'mcp_servers.tools is jsonb');
SELECT col_type_is('agentbase', 'mcp_servers', 'env_schema', 'jsonb', 'mcp_servers.env_schema is jsonb');
SELECT col_type_is('agentbase', 'mcp_server_configs', 'secrets_ciphertext', 'bytea', 'secrets_ciphertext is bytea');
SELECT col_type_is('agentbase', 'mcp_server_configs', 'secrets_nonce', 'bytea', 'secrets_nonce is bytea');
SELECT col_type_is('agentbase', 'mcp_tool_executions', 'duration_ms', 'integer', 'duration_ms is integer');
SELECT col_not_null('agentbase', 'tenant_mcp_servers', 'tenant_id', 'tenant_mcp_servers.tenant_id is NOT NULL');
SELECT col_not_null('agentbase', 'mcp_server_configs', 'tenant_id', 'mcp_server_configs.tenant_id is NOT NULL');
SELECT col_default_is('agentbase', 'mcp_servers', 'is_public', 'true', 'registry entries are listed by default');

SELECT col_is_pk('agentbase', 'mcp_servers', ARRAY['id'], 'mcp_servers PK (id)');
SELECT col_is_pk('agentbase', 'tenant_mcp_servers', ARRAY['tenant_id', 'id'], 'tenant_mcp_servers PK (tenant_id, id)');
SELECT col_is_pk('agentbase', 'mcp_server_configs', ARRAY['tenant_id', 'id'], 'mcp_server_configs PK (tenant_id, id)');
SELECT col_is_pk('agentbase', 'mcp_tool_executions', ARRAY['tenant_id', 'id', 'created_at'],
                 'mcp_tool_executions PK (tenant_id, id, created_at)');
SELECT col_is_unique('agentbase', 'mcp_servers', ARRAY['name'], 'mcp_servers.name is unique');
SELECT col_is_unique('agentbase', 'tenant_mcp_servers', ARRAY['tenant_id', 'name'], 'private server names unique per tenant');

SELECT fk_ok('agentbase', 'tenant_mcp_servers', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'],
             'tenant_mcp_servers -> tenants');
SELECT fk_ok('agentbase', 'tenant_mcp_servers', ARRAY['tenant_id', 'created_by'], 'agentbase', 'users',
             ARRAY['tenant_id', 'id'], 'tenant_mcp_servers -> users');
SELECT fk_ok('agentbase', 'mcp_server_configs', ARRAY['server_id'], 'agentbase', 'mcp_servers', ARRAY['id'],
             'mcp_server_configs -> mcp_servers');
SELECT fk_ok('agentbase', 'mcp_server_configs', ARRAY['tenant_id', 'tenant_server_id'], 'agentbase',
             'tenant_mcp_servers', ARRAY['tenant_id', 'id'], 'mcp_server_configs -> tenant_mcp_servers');
SELECT fk_ok('agentbase', 'mcp_server_configs', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users',
             ARRAY['tenant_id', 'id'], 'mcp_server_configs -> users');
SELECT fk_ok('agentbase', 'mcp_tool_executions', ARRAY['tenant_id', 'config_id'], 'agentbase',
             'mcp_server_configs', ARRAY['tenant_id', 'id'], 'mcp_tool_executions -> mcp_server_configs');
SELECT fk_ok('agentbase', 'mcp_tool_executions', ARRAY['tenant_id', 'agent_id'], 'agentbase', 'agents',
             ARRAY['tenant_id', 'id'], 'mcp_tool_executions -> agents');
SELECT fk_ok('agentbase', 'mcp_tool_executions', ARRAY['tenant_id', 'conversation_id'], 'agentbase',
             'conversations', ARRAY['tenant_id', 'id'], 'mcp_tool_executions -> conversations');

SELECT has_index('agentbase', 'mcp_server_configs', 'uq_mcp_server_configs_tenant_id_name',
                 ARRAY['tenant_id', 'name'], 'live config names unique per tenant');
SELECT has_index('agentbase', 'mcp_server_configs', 'idx_mcp_server_configs_server_id', ARRAY['server_id'],
                 'index on mcp_server_configs.server_id');
SELECT has_index('agentbase', 'mcp_server_configs', 'idx_mcp_server_configs_tenant_server_id',
                 ARRAY['tenant_id', 'tenant_server_id'], 'index on mcp_server_configs.tenant_server_id');
SELECT has_index('agentbase', 'mcp_server_configs', 'idx_mcp_server_configs_user_id',
                 ARRAY['tenant_id', 'user_id'], 'index on mcp_server_configs.user_id');
SELECT has_index('agentbase', 'tenant_mcp_servers', 'idx_tenant_mcp_servers_created_by',
                 ARRAY['tenant_id', 'created_by'], 'index on tenant_mcp_servers.created_by');
SELECT has_index('agentbase', 'mcp_tool_executions', 'idx_mcp_tool_executions_config_id',
                 ARRAY['tenant_id', 'config_id', 'created_at'], 'index on mcp_tool_executions.config_id');
SELECT has_index('agentbase', 'mcp_tool_executions', 'idx_mcp_tool_executions_agent_id',
                 ARRAY['tenant_id', 'agent_id', 'created_at'], 'index on mcp_tool_executions.agent_id');
SELECT has_index('agentbase', 'mcp_tool_executions', 'idx_mcp_tool_executions_conversation_id',
                 ARRAY['tenant_id', 'conversation_id', 'created_at'], 'index on mcp_tool_executions.conversation_id');
SELECT has_index('agentbase', 'mcp_tool_executions', 'idx_mcp_tool_executions_user_id',
                 ARRAY['tenant_id', 'user_id', 'created_at'], 'index on mcp_tool_executions.user_id');

SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'agentbase.mcp_tool_executions'::regclass), 'p',
          'mcp_tool_executions is partitioned');
SELECT ok((SELECT count(*) FROM pg_inherits WHERE inhparent = 'agentbase.mcp_tool_executions'::regclass) >= 2,
          'mcp_tool_executions has partitions');
SELECT ok((SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class
            WHERE oid IN ('agentbase.mcp_servers'::regclass, 'agentbase.tenant_mcp_servers'::regclass,
                          'agentbase.mcp_server_configs'::regclass, 'agentbase.mcp_tool_executions'::regclass)),
          'RLS enabled and forced on every MCP table');
SELECT table_privs_are('agentbase', 'mcp_servers', 'agentbase_app', ARRAY['SELECT'],
                       'the service may only read the public registry');
SELECT table_privs_are('agentbase', 'mcp_server_catalog', 'agentbase_app', ARRAY['SELECT'],
                       'the service may only read the catalog view');
SELECT table_privs_are('agentbase', 'mcp_tool_executions', 'agentbase_app', ARRAY['SELECT', 'INSERT'],
                       'the service may only append to mcp_tool_executions');
SELECT has_trigger('agentbase', 'tenant_mcp_servers', 'trg_audit', 'tenant_mcp_servers is audited');
SELECT has_trigger('agentbase', 'mcp_server_configs', 'trg_audit', 'mcp_server_configs is audited');
SELECT has_trigger('agentbase', 'mcp_server_configs', 'trg_updated_at', 'mcp_server_configs keeps updated_at');
SELECT hasnt_trigger('agentbase', 'mcp_tool_executions', 'trg_audit', 'the log is not audited');
SELECT is((SELECT reloptions FROM pg_class WHERE oid = 'agentbase.mcp_server_catalog'::regclass),
          ARRAY['security_invoker=true'], 'mcp_server_catalog is security_invoker');
SELECT is_empty($$
    SELECT c.relname || '.' || coalesce(a.attname, '')
      FROM pg_class c
      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                              AND col_description(c.oid, a.attnum) IS NULL
     WHERE c.oid IN ('agentbase.mcp_servers'::regclass, 'agentbase.tenant_mcp_servers'::regclass,
                     'agentbase.mcp_server_catalog'::regclass, 'agentbase.mcp_server_configs'::regclass,
                     'agentbase.mcp_tool_executions'::regclass)
       AND (a.attname IS NOT NULL OR obj_description(c.oid, 'pg_class') IS NULL)
$$, 'every MCP table, view and column has a comment');

-- ------------------------------------------------------------------------------------
-- Every named CHECK rejects a bad value
-- ------------------------------------------------------------------------------------
SELECT set_eq($$
    SELECT conname::text FROM pg_constraint
     WHERE contype = 'c' AND conrelid IN ('agentbase.mcp_servers'::regclass, 'agentbase.tenant_mcp_servers'::regclass,
                                          'agentbase.mcp_server_configs'::regclass, 'agentbase.mcp_tool_executions'::regclass)
$$, ARRAY[
    'chk_mcp_servers_name', 'chk_mcp_servers_display_name', 'chk_mcp_servers_transport', 'chk_mcp_servers_endpoint',
    'chk_mcp_servers_url', 'chk_mcp_servers_homepage', 'chk_mcp_servers_env_schema', 'chk_mcp_servers_tools',
    'chk_mcp_servers_resources', 'chk_mcp_servers_prompts', 'chk_mcp_servers_status',
    'chk_mcp_servers_category', 'chk_mcp_servers_repository_url', -- 0019
    'chk_tenant_mcp_servers_name', 'chk_tenant_mcp_servers_display_name', 'chk_tenant_mcp_servers_transport',
    'chk_tenant_mcp_servers_endpoint', 'chk_tenant_mcp_servers_url', 'chk_tenant_mcp_servers_homepage',
    'chk_tenant_mcp_servers_env_schema', 'chk_tenant_mcp_servers_tools', 'chk_tenant_mcp_servers_resources',
    'chk_tenant_mcp_servers_prompts', 'chk_tenant_mcp_servers_status',
    'chk_mcp_server_configs_server', 'chk_mcp_server_configs_name', 'chk_mcp_server_configs_config',
    'chk_mcp_server_configs_secrets', 'chk_mcp_server_configs_secrets_nonce',
    'chk_mcp_server_configs_secrets_ciphertext', 'chk_mcp_server_configs_secrets_key_id',
    'chk_mcp_server_configs_secrets_hint', -- 0013_secrets
    'chk_mcp_server_configs_resource_limits', 'chk_mcp_server_configs_allowed_user_ids', -- 0019
    'chk_mcp_tool_executions_server_name', 'chk_mcp_tool_executions_tool_name', 'chk_mcp_tool_executions_status',
    'chk_mcp_tool_executions_duration_ms',
    'chk_mcp_tool_executions_error_code', 'chk_mcp_tool_executions_server_instance_id',
    'chk_mcp_tool_executions_metadata', 'chk_mcp_tool_executions_completed_at' -- 0019
    ], 'the CHECK constraints tested below are exactly those of the module');

-- a valid row of each table first, so that each rejection below is due to its one bad value
SELECT lives_ok($$INSERT INTO mcp_servers (name, display_name, transport, command)
                  VALUES ('chk-ok', 'OK', 'stdio', 'npx')$$, 'a valid public server is accepted');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command) VALUES ('Bad Name', 'X', 'stdio', 'npx')$$, 'chk_mcp_servers_name');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command) VALUES ('c1', '  ', 'stdio', 'npx')$$, 'chk_mcp_servers_display_name');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, url) VALUES ('c2', 'X', 'websocket', 'wss://x.test')$$, 'chk_mcp_servers_transport');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, url) VALUES ('c3', 'X', 'stdio', 'https://x.test')$$, 'chk_mcp_servers_endpoint');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, url) VALUES ('c4', 'X', 'sse', 'ftp://x.test')$$, 'chk_mcp_servers_url');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command, homepage) VALUES ('c5', 'X', 'stdio', 'npx', 'example.com')$$, 'chk_mcp_servers_homepage');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command, env_schema) VALUES ('c6', 'X', 'stdio', 'npx', '[]')$$, 'chk_mcp_servers_env_schema');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command, tools) VALUES ('c7', 'X', 'stdio', 'npx', '{}')$$, 'chk_mcp_servers_tools');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command, resources) VALUES ('c8', 'X', 'stdio', 'npx', '"r"')$$, 'chk_mcp_servers_resources');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command, prompts) VALUES ('c9', 'X', 'stdio', 'npx', '{}')$$, 'chk_mcp_servers_prompts');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command, status) VALUES ('c10', 'X', 'stdio', 'npx', 'gone')$$, 'chk_mcp_servers_status');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command, category) VALUES ('c11', 'X', 'stdio', 'npx', 'Dev Tools')$$, 'chk_mcp_servers_category');
SELECT pg_temp.rejects($$INSERT INTO mcp_servers (name, display_name, transport, command, repository_url) VALUES ('c12', 'X', 'stdio', 'npx', 'git@github.com:x/y')$$, 'chk_mcp_servers_repository_url');

SELECT lives_ok(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, url)
                         VALUES (%L, 'chk-ok', 'OK', 'sse', 'https://x.test/sse')$$, :ta), 'a valid private server is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command) VALUES (%L, '-bad', 'X', 'stdio', 'npx')$$, :ta), 'chk_tenant_mcp_servers_name');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command) VALUES (%L, 'c1', '', 'stdio', 'npx')$$, :ta), 'chk_tenant_mcp_servers_display_name');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, url) VALUES (%L, 'c2', 'X', 'http', 'http://x.test')$$, :ta), 'chk_tenant_mcp_servers_transport');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command) VALUES (%L, 'c3', 'X', 'streamable_http', 'npx')$$, :ta), 'chk_tenant_mcp_servers_endpoint');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, url) VALUES (%L, 'c4', 'X', 'sse', 'https://x .test')$$, :ta), 'chk_tenant_mcp_servers_url');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command, homepage) VALUES (%L, 'c5', 'X', 'stdio', 'npx', 'javascript:alert(1)')$$, :ta), 'chk_tenant_mcp_servers_homepage');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command, env_schema) VALUES (%L, 'c6', 'X', 'stdio', 'npx', '1')$$, :ta), 'chk_tenant_mcp_servers_env_schema');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command, tools) VALUES (%L, 'c7', 'X', 'stdio', 'npx', '{}')$$, :ta), 'chk_tenant_mcp_servers_tools');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command, resources) VALUES (%L, 'c8', 'X', 'stdio', 'npx', '{}')$$, :ta), 'chk_tenant_mcp_servers_resources');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command, prompts) VALUES (%L, 'c9', 'X', 'stdio', 'npx', 'null')$$, :ta), 'chk_tenant_mcp_servers_prompts');
SELECT pg_temp.rejects(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command, status) VALUES (%L, 'c10', 'X', 'stdio', 'npx', 'deleted')$$, :ta), 'chk_tenant_mcp_servers_status');

SELECT id AS chk_server FROM mcp_servers WHERE name = 'chk-ok' \gset
SELECT id AS chk_private FROM tenant_mcp_servers WHERE tenant_id = :ta AND name = 'chk-ok' \gset
SELECT lives_ok(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name, secrets_ciphertext, secrets_nonce, secrets_key_id)
                         VALUES (%L, %L, 'chk-ok', '\x%s', '\x%s', 'k1')$$, :ta, :'chk_server', repeat('ab', 17), repeat('cd', 24)),
                'a valid configuration with encrypted secrets is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_server_configs (tenant_id, name) VALUES (%L, 'c1')$$, :ta), 'chk_mcp_server_configs_server');
SELECT throws_like(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, tenant_server_id, name) VALUES (%L, %L, %L, 'c1b')$$, :ta, :'chk_server', :'chk_private'),
                   '%chk_mcp_server_configs_server%', 'a configuration cannot point at both a public and a private server');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name) VALUES (%L, %L, ' ')$$, :ta, :'chk_server'), 'chk_mcp_server_configs_name');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name, config) VALUES (%L, %L, 'c3', '[1]')$$, :ta, :'chk_server'), 'chk_mcp_server_configs_config');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name, secrets_ciphertext) VALUES (%L, %L, 'c4', '\x%s')$$, :ta, :'chk_server', repeat('ab', 32)), 'chk_mcp_server_configs_secrets');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name, secrets_ciphertext, secrets_nonce, secrets_key_id) VALUES (%L, %L, 'c5', '\x%s', '\x0102', 'k1')$$, :ta, :'chk_server', repeat('ab', 32)), 'chk_mcp_server_configs_secrets_nonce');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name, secrets_ciphertext, secrets_nonce, secrets_key_id) VALUES (%L, %L, 'c6', convert_to('hunter2', 'UTF8'), '\x%s', 'k1')$$, :ta, :'chk_server', repeat('cd', 24)), 'chk_mcp_server_configs_secrets_ciphertext');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name, secrets_ciphertext, secrets_nonce, secrets_key_id) VALUES (%L, %L, 'c7', '\x%s', '\x%s', 'key with spaces')$$, :ta, :'chk_server', repeat('ab', 32), repeat('cd', 24)), 'chk_mcp_server_configs_secrets_key_id');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name, secrets_hint) VALUES (%L, %L, 'c8', '[]')$$, :ta, :'chk_server'), 'chk_mcp_server_configs_secrets_hint');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_server_configs (tenant_id, tenant_server_id, name, resource_limits) VALUES (%L, %L, 'c9', %L)$$, :ta, :'chk_private', v.limits), 'chk_mcp_server_configs_resource_limits')
  FROM (VALUES ('[]'), ('{"memory_mb": 0}'), ('{"memory_mb": 1.5}'), ('{"memory_mb": "512"}'), ('{"disk_gb": 10}')) v(limits);
SELECT lives_ok(format($$INSERT INTO mcp_server_configs (tenant_id, tenant_server_id, name, resource_limits) VALUES (%L, %L, 'c9', '{"memory_mb": 512, "cpu_millicores": 500, "timeout_seconds": 30, "max_concurrent_calls": 4}')$$, :ta, :'chk_private'),
                'resource limits of the known kinds, positive integers, are accepted');
ALTER TABLE mcp_server_configs DISABLE TRIGGER trg_refs; -- it would refuse the NULL first
SELECT pg_temp.rejects(format($$UPDATE mcp_server_configs SET allowed_user_ids = '{NULL}' WHERE tenant_id = %L AND name = 'c9'$$, :ta), 'chk_mcp_server_configs_allowed_user_ids');
ALTER TABLE mcp_server_configs ENABLE TRIGGER trg_refs;
SELECT throws_ok(format($$UPDATE mcp_server_configs SET allowed_user_ids = ARRAY[%L::uuid] WHERE tenant_id = %L AND name = 'c9'$$,
                        (SELECT id FROM users WHERE tenant_id = :tb LIMIT 1), :ta),
                 '23503', 'field allowed_user_ids names no users of this tenant', 'allowed users must be users of the configuration''s tenant');
SELECT lives_ok(format($$UPDATE mcp_server_configs SET allowed_user_ids = ARRAY[%L::uuid] WHERE tenant_id = %L AND name = 'c9'$$,
                       (SELECT id FROM users WHERE tenant_id = :ta LIMIT 1), :ta), 'a user of the tenant may be allowed');
SELECT throws_ok(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name) VALUES (%L, %L, 'c10')$$, :ta, :'chk_server'),
                 '23505', NULL, 'a tenant configures a public server once (among live configurations)');
SELECT throws_ok(format($$INSERT INTO mcp_server_configs (tenant_id, tenant_server_id, name) VALUES (%L, %L, 'c11')$$, :ta, :'chk_private'),
                 '23505', NULL, 'and a private server once');

SELECT lives_ok(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status, duration_ms)
                         VALUES (%L, 'chk-ok', 'read_file', 'success', 0)$$, :ta), 'a valid execution is accepted');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status) VALUES (%L, '', 'read_file', 'success')$$, :ta), 'chk_mcp_tool_executions_server_name');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status) VALUES (%L, 's', '', 'success')$$, :ta), 'chk_mcp_tool_executions_tool_name');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status) VALUES (%L, 's', 't', 'ok')$$, :ta), 'chk_mcp_tool_executions_status');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status, duration_ms) VALUES (%L, 's', 't', 'error', -1)$$, :ta), 'chk_mcp_tool_executions_duration_ms');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status, error_code) VALUES (%L, 's', 't', 'error', 'bad code')$$, :ta), 'chk_mcp_tool_executions_error_code');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status, server_instance_id) VALUES (%L, 's', 't', 'error', '')$$, :ta), 'chk_mcp_tool_executions_server_instance_id');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status, metadata) VALUES (%L, 's', 't', 'error', '[]')$$, :ta), 'chk_mcp_tool_executions_metadata');
SELECT pg_temp.rejects(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status, started_at, completed_at) VALUES (%L, 's', 't', 'error', now(), now() - interval '1 ms')$$, :ta), 'chk_mcp_tool_executions_completed_at');
SELECT throws_ok(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status, message_id) VALUES (%L, 's', 't', 'error', %L)$$, :ta,
                        (SELECT id FROM messages WHERE tenant_id = :tb LIMIT 1)),
                 '23503', 'field message_id names no messages of this tenant', 'an execution''s message is one of its tenant''s');
SELECT lives_ok(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status, message_id, error_code, server_instance_id, metadata, started_at, completed_at)
                         VALUES (%L, 's', 't', 'error', %L, '-32602', 'mcp-7f9c', '{"attempt": 2}', now() - interval '2 s', now())$$, :ta,
                        (SELECT id FROM messages WHERE tenant_id = :ta LIMIT 1)),
                'an execution records its message, error code, server instance, metadata and times');

-- ------------------------------------------------------------------------------------
-- Registry visibility: public servers for all, private ones for their tenant only
-- ------------------------------------------------------------------------------------
INSERT INTO mcp_servers (name, display_name, transport, command, is_public)
VALUES ('vis-public', 'Public', 'stdio', 'npx', true),
       ('vis-hidden', 'Hidden', 'stdio', 'npx', false);
INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, url)
VALUES (:ta, 'vis-private-a', 'A private', 'sse', 'https://a.test/sse'),
       (:tb, 'vis-private-b', 'B private', 'sse', 'https://b.test/sse');
SELECT id AS pub FROM mcp_servers WHERE name = 'vis-public' \gset
SELECT id AS hidden FROM mcp_servers WHERE name = 'vis-hidden' \gset
SELECT id AS priv_b FROM tenant_mcp_servers WHERE name = 'vis-private-b' \gset

SELECT abtest.become(:ta);
SELECT set_eq($$SELECT scope || ':' || name FROM mcp_server_catalog WHERE name LIKE 'vis-%'$$,
              ARRAY['public:vis-public', 'private:vis-private-a'],
              'tenant A sees the listed public servers and its own private ones, nothing else');
SELECT is((SELECT count(*) FROM mcp_server_catalog WHERE tenant_id = :tb), 0::bigint,
          'tenant A sees none of tenant B''s private servers in the catalog');
SELECT is_empty($$SELECT 1 FROM tenant_mcp_servers WHERE name = 'vis-private-b'$$,
                'tenant A cannot read tenant B''s private server directly');
SELECT is_empty($$SELECT 1 FROM mcp_servers WHERE name = 'vis-hidden'$$,
                'unlisted registry entries are invisible to the service');
SELECT throws_ok($$INSERT INTO mcp_servers (name, display_name, transport, command) VALUES ('evil', 'E', 'stdio', 'sh')$$,
                 '42501', NULL, 'a tenant cannot add public servers');
SELECT throws_ok($$UPDATE mcp_servers SET command = 'sh' WHERE name = 'vis-public'$$,
                 '42501', NULL, 'a tenant cannot change public servers');
SELECT throws_ok($$DELETE FROM mcp_servers WHERE name = 'vis-public'$$,
                 '42501', NULL, 'a tenant cannot delete public servers');
SELECT throws_ok($$INSERT INTO mcp_server_catalog (scope, name) VALUES ('public', 'evil')$$,
                 '55000', NULL, 'a tenant cannot write through the catalog view');
SELECT throws_ok(format($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command)
                          VALUES (%L, 'planted', 'P', 'stdio', 'sh')$$, :tb),
                 '42501', NULL, 'tenant A cannot register a private server for tenant B');
SELECT lives_ok($$INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command)
                  VALUES (agentbase.current_tenant_id(), 'vis-private-a2', 'A2', 'stdio', 'node')$$,
                'tenant A registers a private server of its own');
UPDATE tenant_mcp_servers SET display_name = 'hijacked' WHERE name = 'vis-private-b';
DELETE FROM tenant_mcp_servers WHERE name = 'vis-private-b';
SELECT lives_ok(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name)
                         VALUES (agentbase.current_tenant_id(), %L, 'vis-cfg-public')$$, :'pub'),
                'tenant A configures a public server');
SELECT throws_ok(format($$INSERT INTO mcp_server_configs (tenant_id, tenant_server_id, name)
                          VALUES (agentbase.current_tenant_id(), %L, 'vis-cfg-b')$$, :'priv_b'),
                 '23503', NULL, 'tenant A cannot configure tenant B''s private server');
SELECT abtest.unbecome();
SELECT is((SELECT display_name FROM tenant_mcp_servers WHERE name = 'vis-private-b'), 'B private',
          'tenant A''s UPDATE left tenant B''s private server unchanged');

SELECT abtest.become(:tb);
SELECT set_eq($$SELECT scope || ':' || name FROM mcp_server_catalog WHERE name LIKE 'vis-%'$$,
              ARRAY['public:vis-public', 'private:vis-private-b'],
              'tenant B sees the public servers and its own private one (its row survived A''s DELETE)');
SELECT set_config('agentbase.platform_admin', 'on', true);
SELECT isnt_empty($$SELECT 1 FROM mcp_servers WHERE name = 'vis-hidden'$$,
                  'a platform admin sees unlisted registry entries');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Configurations: soft-delete uniqueness, referential actions
-- ------------------------------------------------------------------------------------
SELECT throws_ok(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name) VALUES (%L, %L, 'vis-cfg-public')$$, :ta, :'pub'),
                 '23505', NULL, 'two live configurations cannot share a name');
UPDATE mcp_server_configs SET deleted_at = now() WHERE tenant_id = :ta AND name = 'vis-cfg-public';
SELECT lives_ok(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name) VALUES (%L, %L, 'vis-cfg-public')$$, :ta, :'pub'),
                'the name is free again once the configuration is soft-deleted');
SELECT lives_ok(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name) VALUES (%L, %L, 'vis-cfg-public')$$, :tb, :'pub'),
                'another tenant may use the same configuration name');
SELECT throws_ok(format($$DELETE FROM mcp_servers WHERE id = %L$$, :'pub'), '23503', NULL,
                 'a public server in use cannot be deleted (deprecate or disable it instead)');

INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command) VALUES (:ta, 'ra-server', 'R', 'stdio', 'node');
INSERT INTO mcp_server_configs (tenant_id, tenant_server_id, name)
     SELECT :ta, id, 'ra-config' FROM tenant_mcp_servers WHERE tenant_id = :ta AND name = 'ra-server';
INSERT INTO mcp_tool_executions (tenant_id, config_id, server_name, tool_name, status)
     SELECT :ta, id, 'ra-server', 'ping', 'success' FROM mcp_server_configs WHERE tenant_id = :ta AND name = 'ra-config';
DELETE FROM mcp_server_configs WHERE tenant_id = :ta AND name = 'ra-config';
SELECT results_eq($$SELECT config_id IS NULL, server_name FROM mcp_tool_executions WHERE tool_name = 'ping'$$,
                  $$VALUES (true, 'ra-server')$$,
                  'deleting a configuration keeps its executions (config_id set NULL, server_name kept)');
INSERT INTO mcp_server_configs (tenant_id, tenant_server_id, name)
     SELECT :ta, id, 'ra-config2' FROM tenant_mcp_servers WHERE tenant_id = :ta AND name = 'ra-server';
DELETE FROM tenant_mcp_servers WHERE tenant_id = :ta AND name = 'ra-server';
SELECT is_empty(format($$SELECT 1 FROM mcp_server_configs WHERE tenant_id = %L AND name = 'ra-config2'$$, :ta),
                'deleting a private server deletes its configurations');

-- ------------------------------------------------------------------------------------
-- The execution log is append-only for the service and isolated by tenant
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT lives_ok($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, arguments, status, duration_ms)
                  VALUES (agentbase.current_tenant_id(), 'fetch', 'fetch', '{"url": "https://x.test"}', 'timeout', 30000)$$,
                'the service appends executions');
SELECT throws_ok($$UPDATE mcp_tool_executions SET status = 'success'$$, '42501', NULL, 'the service cannot update executions');
SELECT throws_ok($$DELETE FROM mcp_tool_executions$$, '42501', NULL, 'the service cannot delete executions');
SELECT throws_ok(format($$INSERT INTO mcp_tool_executions (tenant_id, server_name, tool_name, status)
                          VALUES (%L, 'x', 'y', 'success')$$, :tb),
                 '42501', NULL, 'tenant A cannot log executions into tenant B');
SELECT is((SELECT count(*) FROM mcp_tool_executions WHERE tenant_id <> agentbase.current_tenant_id()), 0::bigint,
          'tenant A sees only its own executions');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Secrets never reach audit_logs
-- ------------------------------------------------------------------------------------
-- (a server of its own: a tenant configures each server once)
INSERT INTO mcp_servers (name, display_name, transport, command) VALUES ('audit-server', 'Audit', 'stdio', 'npx')
RETURNING id AS audit_server \gset
SELECT abtest.become(:ta);
INSERT INTO mcp_server_configs (tenant_id, server_id, name, config, secrets_ciphertext, secrets_nonce, secrets_key_id)
VALUES (agentbase.current_tenant_id(), :'audit_server', 'audit-cfg', '{"region": "eu"}',
        '\xdeadbeefdeadbeefdeadbeefdeadbeef00', '\x000102030405060708090a0b0c0d0e0f1011121314151617', 'k2025');
UPDATE mcp_server_configs SET secrets_ciphertext = '\xcafebabecafebabecafebabecafebabe11', secrets_key_id = 'k2026'
 WHERE name = 'audit-cfg';
SELECT abtest.unbecome();
SELECT id AS audit_cfg FROM mcp_server_configs WHERE tenant_id = :ta AND name = 'audit-cfg' \gset
UPDATE mcp_server_configs SET last_connected_at = now(), last_error = 'connection refused' WHERE id = :'audit_cfg';
SELECT is((SELECT count(*) FROM audit_logs WHERE tenant_id = :ta AND resource_id = :'audit_cfg'), 2::bigint,
          'connection bookkeeping alone writes no audit row (created + updated only)');

SELECT results_eq(format($$
    SELECT action, new_values ->> 'secrets_ciphertext', new_values ->> 'secrets_nonce', new_values ->> 'secrets_key_id',
           new_values -> 'config' ->> 'region'
      FROM audit_logs WHERE tenant_id = %L AND resource_id = %L AND action LIKE '%%created'$$, :ta, :'audit_cfg'),
    $$VALUES ('mcp_server_config.created', '[redacted]', '[redacted]', 'k2025', 'eu')$$,
    'creation audit: ciphertext and nonce redacted, key id and config kept');
SELECT results_eq(format($$
    SELECT old_values ->> 'secrets_ciphertext', new_values ->> 'secrets_ciphertext', old_values ->> 'secrets_key_id',
           new_values ->> 'secrets_key_id'
      FROM audit_logs WHERE tenant_id = %L AND resource_id = %L AND action LIKE '%%updated'$$, :ta, :'audit_cfg'),
    $$VALUES ('[redacted]', '[redacted]', 'k2025', 'k2026')$$,
    'update audit: old and new ciphertext redacted, key rotation visible');
SELECT is_empty(format($$SELECT 1 FROM audit_logs
                          WHERE tenant_id = %L AND resource_id = %L
                            AND (old_values::text ILIKE '%%deadbeef%%' OR new_values::text ILIKE '%%cafebabe%%'
                                 OR new_values::text ILIKE '%%000102030405%%')$$, :ta, :'audit_cfg'),
                'no byte of the ciphertext or nonce appears anywhere in audit_logs');

SELECT * FROM finish();
ROLLBACK;
