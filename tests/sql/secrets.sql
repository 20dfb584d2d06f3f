-- pgTAP: 0013_secrets. The privileges of the service on ai_provider_keys and on the new
-- functions, the redaction of sealed keys in audit_logs, the refusal of secrets put in an
-- MCP config, and the audit row of a secret read.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(25);

\set ta '''a0000013-0000-7000-8000-00000000000a'''
\set tb '''b0000013-0000-7000-8000-00000000000b'''
SELECT abtest.fixture_0002_tenancy(:ta);
SELECT abtest.fixture_0002_tenancy(:tb);
INSERT INTO ai_providers (name, display_name) VALUES ('secrets-test', 'Secrets test') RETURNING id AS provider \gset
INSERT INTO mcp_servers (name, display_name, transport, command, env_schema)
VALUES ('secrets-test', 'Secrets test', 'stdio', 'npx',
        '{"type": "object", "properties": {"API_TOKEN": {"type": "string", "secret": true}, "REGION": {"type": "string"}}}')
RETURNING id AS server \gset

-- ------------------------------------------------------------------------------------
-- ai_provider_keys: structure and privileges
-- ------------------------------------------------------------------------------------
SELECT columns_are('agentbase', 'ai_provider_keys', ARRAY[
    'tenant_id', 'id', 'provider_id', 'name', 'api_key_ciphertext', 'api_key_nonce', 'api_key_key_id',
    'api_key_hint', 'is_active', 'metadata', 'created_at', 'updated_at'], 'ai_provider_keys columns');
SELECT col_is_pk('agentbase', 'ai_provider_keys', ARRAY['tenant_id', 'id'], 'ai_provider_keys PK (tenant_id, id)');
SELECT table_privs_are('agentbase', 'ai_provider_keys', 'agentbase_app', ARRAY['SELECT', 'INSERT', 'DELETE'],
                       'the service selects, inserts and deletes provider keys, and no more on the whole table');
SELECT is(ARRAY(SELECT a.attname::text FROM pg_attribute a
                 WHERE a.attrelid = 'agentbase.ai_provider_keys'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                   AND has_column_privilege('agentbase_app', a.attrelid, a.attnum, 'UPDATE')
                 ORDER BY a.attnum),
          ARRAY['name', 'api_key_ciphertext', 'api_key_nonce', 'api_key_key_id', 'api_key_hint', 'is_active', 'metadata'],
          'the service updates only the label, the sealed key, the flag and the metadata');
SELECT triggers_are('agentbase', 'ai_provider_keys', ARRAY['trg_audit', 'trg_updated_at'], 'ai_provider_keys triggers');

-- ------------------------------------------------------------------------------------
-- Functions: PUBLIC executes none; the service the audit entry point and the config check
-- ------------------------------------------------------------------------------------
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.oid IN ('agentbase.audit_secret_read(text, uuid, text, text[])'::regprocedure,
                                 'agentbase.mcp_server_configs_check_config(uuid, uuid, uuid, text[])'::regprocedure,
                                 'agentbase.mcp_server_configs_refuse_secret_config()'::regprocedure)
                   AND (p.proacl IS NULL
                        OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
                 ORDER BY 1),
          '{}', 'PUBLIC executes no function of 0013');
SELECT ok(has_function_privilege('agentbase_app', 'agentbase.audit_secret_read(text, uuid, text, text[])', 'EXECUTE'),
          'the service may write the audit row of a secret read');
SELECT ok(has_function_privilege('agentbase_app', 'agentbase.mcp_server_configs_check_config(uuid, uuid, uuid, text[])', 'EXECUTE'),
          'the service may check config names before it writes a config');
SELECT ok(NOT has_function_privilege('agentbase_app', 'agentbase.mcp_server_configs_refuse_secret_config()', 'EXECUTE'),
          'the service cannot call the trigger function (the trigger fires all the same)');

-- ------------------------------------------------------------------------------------
-- The service writes provider keys of its own tenant only, and only where it may
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT lives_ok(format($$INSERT INTO ai_provider_keys (tenant_id, provider_id, api_key_ciphertext, api_key_nonce,
                                                        api_key_key_id, api_key_hint)
                         VALUES (%L, %L, '\xfeedfacefeedfacefeedfacefeedface77', '\x%s', 'k1',
                                 '{"set": true, "last4": "wxyz"}')$$, :ta, :'provider', repeat('0f', 24)),
                'the service stores a sealed provider key in its tenant');
SELECT lives_ok($$UPDATE ai_provider_keys SET name = 'production', api_key_key_id = 'k2'$$,
                'the service renames a key and replaces its sealed value');
SELECT throws_ok(format($$UPDATE ai_provider_keys SET provider_id = %L$$, :'provider'), '42501', NULL,
                 'the service cannot move a key to another provider');
SELECT throws_ok(format($$INSERT INTO ai_provider_keys (tenant_id, provider_id, api_key_ciphertext, api_key_nonce,
                                                         api_key_key_id, api_key_hint)
                          VALUES (%L, %L, '\x%s', '\x%s', 'k1', '{}')$$, :tb, :'provider', repeat('ab', 17), repeat('cd', 24)),
                 '42501', NULL, 'the service in A cannot store a key for tenant B');
SELECT throws_like(format($$INSERT INTO ai_provider_keys (tenant_id, provider_id, api_key_ciphertext, api_key_nonce,
                                                           api_key_key_id, api_key_hint)
                            VALUES (%L, %L, '\x%s', '\x0102', 'k1', '{}')$$, :ta, :'provider', repeat('ab', 17)),
                   '%chk_ai_provider_keys_api_key_nonce%', 'a nonce of the wrong size is refused');
SELECT throws_like(format($$INSERT INTO ai_provider_keys (tenant_id, provider_id, api_key_ciphertext, api_key_nonce,
                                                           api_key_key_id, api_key_hint)
                            VALUES (%L, %L, convert_to('sk-plain', 'UTF8'), '\x%s', 'k1', '{}')$$, :ta, :'provider', repeat('cd', 24)),
                   '%chk_ai_provider_keys_api_key_ciphertext%', 'a value too short to carry a tag is refused');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Sealed keys never reach audit_logs
-- ------------------------------------------------------------------------------------
SELECT id AS pkey FROM ai_provider_keys WHERE tenant_id = :ta AND name = 'production' \gset
SELECT results_eq(format($$
    SELECT action, new_values ->> 'api_key_ciphertext', new_values ->> 'api_key_nonce', new_values ->> 'api_key_key_id',
           new_values -> 'api_key_hint' ->> 'last4'
      FROM audit_logs WHERE tenant_id = %L AND resource_id = %L ORDER BY action$$, :ta, :'pkey'),
    $$VALUES ('ai_provider_key.created', '[redacted]', '[redacted]', 'k1', 'wxyz'),
             ('ai_provider_key.updated', '[redacted]', '[redacted]', 'k2', 'wxyz')$$,
    'audit rows: ciphertext and nonce redacted, key id and hint kept');
SELECT is_empty(format($$SELECT 1 FROM audit_logs WHERE tenant_id = %L
                          AND (coalesce(old_values::text, '') || new_values::text) ~* 'feedface|0f0f0f0f'$$, :ta),
                'no byte of the sealed key or its nonce appears in audit_logs');

-- ------------------------------------------------------------------------------------
-- A secret in an MCP config is refused, naming the field
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT throws_ok(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name, config)
                          VALUES (%L, %L, 'leaky', '{"REGION": "eu", "API_TOKEN": "tok-123"}')$$, :ta, :'server'),
                 '22023', 'field ''config.API_TOKEN'' is a secret of this MCP server: send it in ''secrets'', which is stored encrypted',
                 'a config value under a name env_schema marks secret is refused');
SELECT lives_ok(format($$INSERT INTO mcp_server_configs (tenant_id, server_id, name, config)
                         VALUES (%L, %L, 'clean', '{"REGION": "eu"}')$$, :ta, :'server'),
                'the other config values are accepted');
SELECT throws_ok($$UPDATE mcp_server_configs SET config = config || '{"API_TOKEN": "tok-123"}' WHERE name = 'clean'$$,
                 '22023', NULL, 'and a secret cannot be added to the config later');
SELECT lives_ok($$UPDATE mcp_server_configs SET enabled = false WHERE name = 'clean'$$,
                'updates that leave config alone are not judged');
INSERT INTO tenant_mcp_servers (tenant_id, name, display_name, transport, command, env_schema)
VALUES (:ta, 'private-secrets', 'Private', 'stdio', 'node', '{"properties": {"db_password": {"secret": true}}}')
RETURNING id AS private \gset
SELECT throws_ok(format($$INSERT INTO mcp_server_configs (tenant_id, tenant_server_id, name, config)
                          VALUES (%L, %L, 'private-leaky', '{"db_password": "hunter2"}')$$, :ta, :'private'),
                 '22023', NULL, 'the env_schema of a tenant''s private server counts the same');
SELECT abtest.unbecome();
SELECT is_empty($$SELECT 1 FROM mcp_server_configs WHERE config::text LIKE '%tok-123%' OR config::text LIKE '%hunter2%'$$,
                'no refused secret was stored');

-- ------------------------------------------------------------------------------------
-- A secret read is audited in the reader's tenant
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT lives_ok(format($$SELECT agentbase.audit_secret_read('ai_provider_key', %L, 'api_key')$$, :'pkey'),
                'the service records a read of a provider key');
SELECT abtest.unbecome();
SELECT results_eq(format($$SELECT action, resource_id, actor_type, actor_id, metadata FROM audit_logs
                            WHERE tenant_id = %L AND action LIKE '%%_read'$$, :ta),
                  format($$VALUES ('ai_provider_key.api_key_read', %L, 'system', 'abtest', '{"secret": "api_key"}'::jsonb)$$, :'pkey'),
                  'the audit row names the action, the row and the actor, and no value');

SELECT * FROM finish();
ROLLBACK;
