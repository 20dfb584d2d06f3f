-- pgTAP: 0002_tenancy (tenants, users, api_keys, platform_api_keys, audit_logs and the
-- authentication lookups). Structure, every named CHECK, the hand-written RLS of tenants,
-- the SECURITY DEFINER lookups, and the audit trail with request context and redaction.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(159);

\set ta '''a0000002-0000-7000-8000-00000000000a'''
\set tb '''b0000002-0000-7000-8000-00000000000b'''
SELECT abtest.fixture_0002_tenancy(:ta);
SELECT abtest.fixture_0002_tenancy(:tb);
SELECT id AS ua FROM users WHERE tenant_id = :ta ORDER BY created_at, id LIMIT 1 \gset
SELECT id AS ub FROM users WHERE tenant_id = :tb ORDER BY created_at, id LIMIT 1 \gset
SELECT slug AS sa FROM tenants WHERE id = :ta \gset
SELECT slug AS sb FROM tenants WHERE id = :tb \gset

-- rejects(sql, constraint): the statement fails on exactly that CHECK constraint.
CREATE FUNCTION pg_temp.rejects(p_sql text, p_con text) RETURNS text LANGUAGE sql AS $$
    SELECT throws_like(p_sql, '%violates check constraint "' || p_con || '"%', p_con || ' rejects a bad value')
$$;

-- A key hash as the service computes it: SHA-256 hex of the key text.
CREATE FUNCTION pg_temp.h(p_key text) RETURNS text LANGUAGE sql AS $$
    SELECT encode(sha256(convert_to(p_key, 'UTF8')), 'hex')
$$;

-- ------------------------------------------------------------------------------------
-- Structure
-- ------------------------------------------------------------------------------------
SELECT has_table('agentbase', 'tenants', 'tenants exists');
SELECT has_table('agentbase', 'users', 'users exists');
SELECT has_table('agentbase', 'api_keys', 'api_keys exists');
SELECT has_table('agentbase', 'platform_api_keys', 'platform_api_keys exists');
SELECT has_table('agentbase', 'audit_logs', 'audit_logs exists');

SELECT columns_are('agentbase', 'tenants', ARRAY[
    'id', 'slug', 'name', 'status', 'plan', 'limits', 'contact_email', 'contact_name', 'settings', 'metadata',
    'created_at', 'updated_at', 'deleted_at'], 'tenants columns');
SELECT columns_are('agentbase', 'users', ARRAY[
    'tenant_id', 'id', 'email', 'username', 'password_hash', 'full_name', 'avatar_url', 'profile', 'role',
    'permissions', 'preferences', 'preferred_model', 'preferred_temperature', 'timezone', 'email_verified',
    'email_verified_at', 'email_verification_token_hash', 'must_change_password', 'last_login_at',
    'failed_login_attempts', 'locked_until', 'status', 'level', 'created_at', 'updated_at', 'deleted_at',
    'first_name', 'last_name'], 'users columns');
SELECT columns_are('agentbase', 'api_keys', ARRAY[
    'tenant_id', 'id', 'user_id', 'name', 'kind', 'key_prefix', 'key_hash', 'scopes', 'expires_at', 'revoked_at',
    'last_used_at', 'last_used_ip', 'created_by', 'metadata', 'created_at', 'updated_at', 'issued_by_user_id'],
    'api_keys columns (issued_by_user_id: 0011)');
SELECT columns_are('agentbase', 'platform_api_keys', ARRAY[
    'id', 'name', 'key_prefix', 'key_hash', 'scopes', 'expires_at', 'revoked_at', 'last_used_at', 'created_at',
    'updated_at'], 'platform_api_keys columns');
SELECT columns_are('agentbase', 'audit_logs', ARRAY[
    'tenant_id', 'id', 'created_at', 'action', 'resource_type', 'resource_id', 'old_values', 'new_values',
    'actor_type', 'actor_id', 'ip_address', 'user_agent', 'request_id', 'metadata', 'status', 'error_message'],
    'audit_logs columns');

SELECT col_type_is('agentbase', 'users', 'preferred_temperature', 'numeric(3,2)', 'preferred_temperature is numeric(3,2)');
SELECT col_type_is('agentbase', 'users', 'permissions', 'text[]', 'users.permissions is text[]');
SELECT col_type_is('agentbase', 'api_keys', 'last_used_ip', 'inet', 'api_keys.last_used_ip is inet');
SELECT col_type_is('agentbase', 'audit_logs', 'ip_address', 'inet', 'audit_logs.ip_address is inet');
SELECT col_type_is('agentbase', 'audit_logs', 'old_values', 'jsonb', 'audit_logs.old_values is jsonb');
SELECT col_default_is('agentbase', 'tenants', 'plan', 'free', 'tenants start on the free plan');
SELECT col_default_is('agentbase', 'users', 'timezone', 'UTC', 'users default to UTC');
SELECT col_default_is('agentbase', 'users', 'level', 'free', 'users default to the free level');
SELECT col_is_null('agentbase', 'users', 'password_hash', 'password_hash may be NULL (SSO users)');

SELECT col_is_pk('agentbase', 'tenants', ARRAY['id'], 'tenants PK (id)');
SELECT col_is_pk('agentbase', 'users', ARRAY['tenant_id', 'id'], 'users PK (tenant_id, id)');
SELECT col_is_pk('agentbase', 'api_keys', ARRAY['tenant_id', 'id'], 'api_keys PK (tenant_id, id)');
SELECT col_is_pk('agentbase', 'platform_api_keys', ARRAY['id'], 'platform_api_keys PK (id)');
SELECT col_is_pk('agentbase', 'audit_logs', ARRAY['tenant_id', 'id', 'created_at'], 'audit_logs PK (tenant_id, id, created_at)');
SELECT hasnt_column('agentbase', 'tenants', 'tenant_id', 'tenants has no tenant_id');
SELECT hasnt_column('agentbase', 'platform_api_keys', 'tenant_id', 'platform_api_keys is global');

SELECT fk_ok('agentbase', 'users', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'users -> tenants');
SELECT fk_ok('agentbase', 'api_keys', ARRAY['tenant_id'], 'agentbase', 'tenants', ARRAY['id'], 'api_keys -> tenants');
SELECT fk_ok('agentbase', 'api_keys', ARRAY['tenant_id', 'user_id'], 'agentbase', 'users', ARRAY['tenant_id', 'id'],
             'api_keys -> users (composite)');
SELECT is((SELECT confdeltype::text FROM pg_constraint WHERE conname = 'fk_api_keys_users'), 'c',
          'a user''s keys are deleted with the user');
SELECT is_empty($$SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = 'agentbase.audit_logs'::regclass$$,
                'audit_logs has no foreign key (the trail outlives a deleted tenant)');

SELECT has_index('agentbase', 'tenants', 'uq_tenants_slug', 'tenants has uq_tenants_slug');
SELECT has_index('agentbase', 'users', 'uq_users_email', 'users has uq_users_email');
SELECT has_index('agentbase', 'users', 'uq_users_username', 'users has uq_users_username');
SELECT has_index('agentbase', 'api_keys', 'idx_api_keys_user_id', 'api_keys has idx_api_keys_user_id');
SELECT has_index('agentbase', 'audit_logs', 'idx_audit_logs_created_at', 'audit_logs has idx_audit_logs_created_at');
SELECT has_index('agentbase', 'audit_logs', 'idx_audit_logs_resource', 'audit_logs has idx_audit_logs_resource');
SELECT col_is_unique('agentbase', 'api_keys', ARRAY['key_hash'], 'api_keys.key_hash is unique');
SELECT col_is_unique('agentbase', 'platform_api_keys', ARRAY['key_hash'], 'platform_api_keys.key_hash is unique');
SELECT is((SELECT pg_get_indexdef('agentbase.uq_users_email'::regclass)),
          'CREATE UNIQUE INDEX uq_users_email ON agentbase.users USING btree (tenant_id, lower(email)) WHERE (deleted_at IS NULL)',
          'e-mail is unique per tenant, case-insensitively, among live users');

SELECT is_partitioned('agentbase', 'audit_logs', 'audit_logs is partitioned');
SELECT ok((SELECT count(*) >= 5 FROM pg_inherits WHERE inhparent = 'agentbase.audit_logs'::regclass),
          'audit_logs has its default and monthly partitions');
SELECT ok(to_regclass('agentbase.audit_logs_p' || to_char(now(), 'YYYYMM')) IS NOT NULL,
          'audit_logs has this month''s partition');

SELECT triggers_are('agentbase', 'tenants', ARRAY['trg_audit', 'trg_guard', 'trg_platform_agents', 'trg_retention', 'trg_updated_at'],
                    'tenants triggers (trg_retention: 0023)');
SELECT triggers_are('agentbase', 'users', ARRAY['trg_audit', 'trg_guard', 'trg_password_guard', 'trg_updated_at'],
                    'users triggers (trg_guard: 0011, trg_password_guard: 0012)');
SELECT triggers_are('agentbase', 'api_keys', ARRAY['trg_audit', 'trg_audit_update', 'trg_issue', 'trg_owner_fill', 'trg_updated_at'],
                    'api_keys triggers');
SELECT triggers_are('agentbase', 'platform_api_keys', ARRAY['trg_updated_at'], 'platform_api_keys triggers');

SELECT policies_are('agentbase', 'tenants',
                    ARRAY['tenant_select', 'tenant_update', 'tenant_insert', 'tenant_delete', 'owner_all', 'readonly_all',
                          'member_select', 'member_insert', 'member_update', 'member_delete', 'viewer_insert', 'viewer_update', 'viewer_delete'],
                    'tenants has its hand-written policies and the role access ones (0011)');
SELECT policies_are('agentbase', 'audit_logs',
                    ARRAY['tenant_isolation', 'owner_all', 'readonly_all', 'member_select', 'member_insert', 'member_update', 'member_delete', 'viewer_insert', 'viewer_update', 'viewer_delete'],
                    'audit_logs policies');
SELECT policies_are('agentbase', 'users', ARRAY['tenant_isolation', 'owner_all', 'readonly_all', 'member_select', 'member_insert', 'member_update', 'member_delete', 'viewer_insert', 'viewer_update', 'viewer_delete'], 'users policies');
SELECT policies_are('agentbase', 'api_keys', ARRAY['tenant_isolation', 'owner_all', 'readonly_all', 'member_select', 'member_insert', 'member_update', 'member_delete', 'viewer_insert', 'viewer_update', 'viewer_delete'],
                    'api_keys policies');
SELECT is((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'agentbase.tenants'::regclass), true,
          'tenants has RLS enabled and forced');

SELECT table_privs_are('agentbase', 'platform_api_keys', 'agentbase_app', '{}', 'the service has no privilege on platform_api_keys');
SELECT table_privs_are('agentbase', 'audit_logs', 'agentbase_app', ARRAY['SELECT'],
                       'the service may only read audit_logs (the audit trigger and audit_event write it)');
SELECT table_privs_are('agentbase', 'audit_logs_default', 'agentbase_app', ARRAY['SELECT'],
                       'and so on its partitions');

-- ------------------------------------------------------------------------------------
-- CHECK constraints: each named one rejects a bad value
-- ------------------------------------------------------------------------------------
SELECT is(ARRAY(SELECT conname::text FROM pg_constraint
                 WHERE contype = 'c' AND conrelid IN ('agentbase.tenants'::regclass, 'agentbase.users'::regclass,
                       'agentbase.api_keys'::regclass, 'agentbase.platform_api_keys'::regclass,
                       'agentbase.audit_logs'::regclass)
                 ORDER BY 1),
          ARRAY['chk_api_keys_key_hash', 'chk_api_keys_key_prefix', 'chk_api_keys_kind', 'chk_api_keys_metadata',
                'chk_api_keys_name', 'chk_api_keys_session_user', 'chk_audit_logs_action',
                'chk_audit_logs_error_message', 'chk_audit_logs_metadata', 'chk_audit_logs_resource_type',
                'chk_audit_logs_status', 'chk_platform_api_keys_key_hash', 'chk_platform_api_keys_key_prefix',
                'chk_platform_api_keys_name', 'chk_tenants_contact_email', 'chk_tenants_limits', 'chk_tenants_metadata',
                'chk_tenants_name', 'chk_tenants_plan', 'chk_tenants_settings', 'chk_tenants_slug', 'chk_tenants_status',
                'chk_users_avatar_url', 'chk_users_email', 'chk_users_email_verified_at',
                'chk_users_failed_login_attempts', 'chk_users_first_name', 'chk_users_last_name', 'chk_users_level', 'chk_users_password_hash',
                'chk_users_preferences', 'chk_users_preferred_temperature', 'chk_users_profile', 'chk_users_role',
                'chk_users_status', 'chk_users_timezone', 'chk_users_username'],
          'the module has exactly the CHECK constraints tested below');

SELECT pg_temp.rejects($$INSERT INTO tenants (slug, name) VALUES ('Bad_Slug', 'Bad')$$, 'chk_tenants_slug');
SELECT pg_temp.rejects($$INSERT INTO tenants (slug, name) VALUES ('-dash-first', 'Bad')$$, 'chk_tenants_slug');
SELECT pg_temp.rejects($$INSERT INTO tenants (slug, name) VALUES ('blank-name', '   ')$$, 'chk_tenants_name');
SELECT pg_temp.rejects(format($$UPDATE tenants SET status = 'closed' WHERE id = %L$$, :ta), 'chk_tenants_status');
SELECT pg_temp.rejects(format($$UPDATE tenants SET plan = 'Gold Plan' WHERE id = %L$$, :ta), 'chk_tenants_plan');
SELECT pg_temp.rejects(format($$UPDATE tenants SET limits = '[]' WHERE id = %L$$, :ta), 'chk_tenants_limits');
SELECT pg_temp.rejects(format($$UPDATE tenants SET contact_email = 'ops at example' WHERE id = %L$$, :ta), 'chk_tenants_contact_email');
SELECT pg_temp.rejects(format($$UPDATE tenants SET settings = '1' WHERE id = %L$$, :ta), 'chk_tenants_settings');
SELECT pg_temp.rejects(format($$UPDATE tenants SET metadata = '"x"' WHERE id = %L$$, :ta), 'chk_tenants_metadata');

SELECT pg_temp.rejects(format($$UPDATE users SET email = 'no-at-sign' WHERE id = %L$$, :'ua'), 'chk_users_email');
SELECT pg_temp.rejects(format($$UPDATE users SET email = 'two words@example.test' WHERE id = %L$$, :'ua'), 'chk_users_email');
SELECT pg_temp.rejects(format($$UPDATE users SET username = 'has space' WHERE id = %L$$, :'ua'), 'chk_users_username');
SELECT pg_temp.rejects(format($$UPDATE users SET password_hash = '$2b$12$abcdefghijklmnopqrstuv' WHERE id = %L$$, :'ua'),
                       'chk_users_password_hash');
SELECT pg_temp.rejects(format($$UPDATE users SET avatar_url = 'ftp://example.test/a.png' WHERE id = %L$$, :'ua'), 'chk_users_avatar_url');
SELECT pg_temp.rejects(format($$UPDATE users SET profile = '[]' WHERE id = %L$$, :'ua'), 'chk_users_profile');
SELECT pg_temp.rejects(format($$UPDATE users SET role = 'owner' WHERE id = %L$$, :'ua'), 'chk_users_role');
SELECT pg_temp.rejects(format($$UPDATE users SET preferences = '[]' WHERE id = %L$$, :'ua'), 'chk_users_preferences');
SELECT pg_temp.rejects(format($$UPDATE users SET preferred_temperature = 2.01 WHERE id = %L$$, :'ua'), 'chk_users_preferred_temperature');
SELECT pg_temp.rejects(format($$UPDATE users SET preferred_temperature = -0.1 WHERE id = %L$$, :'ua'), 'chk_users_preferred_temperature');
SELECT pg_temp.rejects(format($$UPDATE users SET timezone = 'UTC; DROP' WHERE id = %L$$, :'ua'), 'chk_users_timezone');
SELECT pg_temp.rejects(format($$UPDATE users SET email_verified = false, email_verified_at = now() WHERE id = %L$$, :'ua'),
                       'chk_users_email_verified_at');
SELECT pg_temp.rejects(format($$UPDATE users SET failed_login_attempts = -1 WHERE id = %L$$, :'ua'), 'chk_users_failed_login_attempts');
SELECT pg_temp.rejects(format($$UPDATE users SET status = 'deleted' WHERE id = %L$$, :'ua'), 'chk_users_status');
SELECT pg_temp.rejects(format($$UPDATE users SET level = 'Gold Level' WHERE id = %L$$, :'ua'), 'chk_users_level');
SELECT pg_temp.rejects(format($$UPDATE users SET first_name = '  ' WHERE id = %L$$, :'ua'), 'chk_users_first_name');
SELECT pg_temp.rejects(format($$UPDATE users SET last_name = repeat('x', 101) WHERE id = %L$$, :'ua'), 'chk_users_last_name');

SELECT pg_temp.rejects(format($$INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash) VALUES (%L, ' ', 'ab_x', %L)$$,
                              :ta, pg_temp.h('k-name')), 'chk_api_keys_name');
SELECT pg_temp.rejects(format($$INSERT INTO api_keys (tenant_id, name, kind, key_prefix, key_hash) VALUES (%L, 'k', 'oauth', 'ab_x', %L)$$,
                              :ta, pg_temp.h('k-kind')), 'chk_api_keys_kind');
SELECT pg_temp.rejects(format($$INSERT INTO api_keys (tenant_id, name, kind, key_prefix, key_hash) VALUES (%L, 'k', 'session', 'ab_x', %L)$$,
                              :ta, pg_temp.h('k-session')), 'chk_api_keys_session_user');
SELECT pg_temp.rejects(format($$INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash) VALUES (%L, 'k', 'ab x', %L)$$,
                              :ta, pg_temp.h('k-prefix')), 'chk_api_keys_key_prefix');
SELECT pg_temp.rejects(format($$INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash) VALUES (%L, 'k', 'ab_x', 'ab_plaintextsecret')$$,
                              :ta), 'chk_api_keys_key_hash');
SELECT pg_temp.rejects(format($$INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash, metadata) VALUES (%L, 'k', 'ab_x', %L, '[]')$$,
                              :ta, pg_temp.h('k-meta')), 'chk_api_keys_metadata');
SELECT pg_temp.rejects(format($$INSERT INTO platform_api_keys (name, key_prefix, key_hash) VALUES ('', 'ab_x', %L)$$,
                              pg_temp.h('p-name')), 'chk_platform_api_keys_name');
SELECT pg_temp.rejects(format($$INSERT INTO platform_api_keys (name, key_prefix, key_hash) VALUES ('p', 'ab x', %L)$$,
                              pg_temp.h('p-prefix')), 'chk_platform_api_keys_key_prefix');
SELECT pg_temp.rejects($$INSERT INTO platform_api_keys (name, key_prefix, key_hash) VALUES ('p', 'ab_x', 'DEADBEEF')$$,
                       'chk_platform_api_keys_key_hash');
SELECT pg_temp.rejects(format($$INSERT INTO audit_logs (tenant_id, action, resource_type) VALUES (%L, '', 'x')$$, :ta),
                       'chk_audit_logs_action');
SELECT pg_temp.rejects(format($$INSERT INTO audit_logs (tenant_id, action, resource_type) VALUES (%L, 'x.y', '')$$, :ta),
                       'chk_audit_logs_resource_type');
SELECT pg_temp.rejects(format($$INSERT INTO audit_logs (tenant_id, action, resource_type, metadata) VALUES (%L, 'x.y', 'x', '[]')$$, :ta),
                       'chk_audit_logs_metadata');
SELECT pg_temp.rejects(format($$INSERT INTO audit_logs (tenant_id, action, resource_type, status) VALUES (%L, 'x.y', 'x', 'partial')$$, :ta),
                       'chk_audit_logs_status');
SELECT pg_temp.rejects(format($$INSERT INTO audit_logs (tenant_id, action, resource_type, error_message) VALUES (%L, 'x.y', 'x', 'boom')$$, :ta),
                       'chk_audit_logs_error_message');

-- Uniqueness
SELECT throws_ok(format($$INSERT INTO users (tenant_id, email) SELECT tenant_id, upper(email) FROM users WHERE id = %L$$, :'ua'),
                 '23505', NULL, 'an e-mail is unique per tenant regardless of case');
SELECT lives_ok(format($$INSERT INTO users (tenant_id, email) SELECT %L, email FROM users WHERE id = %L$$, :tb, :'ua'),
                'the same e-mail may exist in another tenant');
SELECT throws_ok(format($$INSERT INTO users (tenant_id, email, username) SELECT tenant_id, 'other@fixture.test', upper(username) FROM users WHERE id = %L$$, :'ua'),
                 '23505', NULL, 'a username is unique per tenant regardless of case');
SELECT throws_ok(format($$INSERT INTO tenants (slug, name) VALUES (%L, 'Copy')$$, :'sa'), '23505', NULL,
                 'a live tenant''s slug is unique');
SELECT throws_ok(format($$INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash) SELECT %L, 'dup', 'ab_dup', key_hash FROM api_keys WHERE tenant_id = %L$$, :tb, :ta),
                 '23505', NULL, 'a key hash is unique across tenants');

-- ------------------------------------------------------------------------------------
-- Authentication lookups
-- ------------------------------------------------------------------------------------
INSERT INTO users (tenant_id, id, email, password_hash, status)
VALUES (:ta, 'a0000002-0000-7000-8000-0000000000a2', 'Second.User@Fixture.test', '$argon2id$v=19$m=65536,t=2,p=1$c2Vjb25k$c2Vjb25k', 'active');
INSERT INTO api_keys (tenant_id, id, user_id, name, key_prefix, key_hash, scopes)
VALUES (:ta, 'a0000002-0000-7000-8000-0000000000c1', NULL, 'service', 'ab_service', pg_temp.h('ab_service-key'), ARRAY['agents:read']),
       (:ta, 'a0000002-0000-7000-8000-0000000000c2', 'a0000002-0000-7000-8000-0000000000a2', 'personal', 'ab_personal',
        pg_temp.h('ab_personal-key'), ARRAY['conversations:write']);
UPDATE api_keys SET revoked_at = '2026-01-01 00:00+00' WHERE id = 'a0000002-0000-7000-8000-0000000000c1';
INSERT INTO platform_api_keys (id, name, key_prefix, key_hash, scopes)
VALUES ('00000002-0000-7000-8000-0000000000f1', 'ops', 'ab_platform', pg_temp.h('ab_platform-key'), ARRAY['tenants:write']);

SELECT is_definer('agentbase', 'auth_lookup_key', ARRAY['text'], 'auth_lookup_key is SECURITY DEFINER');
SELECT is_definer('agentbase', 'auth_lookup_login', ARRAY['text', 'text'], 'auth_lookup_login is SECURITY DEFINER');
SELECT is_definer('agentbase', 'auth_touch_key', ARRAY['uuid', 'uuid', 'inet'], 'auth_touch_key is SECURITY DEFINER');
SELECT function_owner_is('agentbase', 'auth_lookup_key', ARRAY['text'], 'agentbase_owner', 'auth_lookup_key is owned by the owner');
SELECT is(ARRAY(SELECT p.proname || ':' || array_to_string(p.proconfig, ',') FROM pg_proc p
                 WHERE p.pronamespace = 'agentbase'::regnamespace AND p.proname LIKE 'auth\_%' ORDER BY 1),
          ARRAY['auth_lookup_key:search_path=agentbase, pg_temp', 'auth_lookup_login:search_path=agentbase, pg_temp',
                'auth_touch_key:search_path=agentbase, pg_temp'],
          'the lookups pin search_path');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'agentbase'::regnamespace AND p.proname LIKE 'auth\_%'
                   AND (has_function_privilege('agentbase_readonly', p.oid, 'EXECUTE')
                        OR NOT has_function_privilege('agentbase_app', p.oid, 'EXECUTE'))
                 ORDER BY 1),
          '{}', 'only the service may run the lookups (not PUBLIC)');

SELECT abtest.become(NULL);
SELECT results_eq(format($$SELECT key_id, tenant_id, user_id, scopes, revoked_at IS NULL, is_platform, tenant_status
                             FROM auth_lookup_key(%L)$$, pg_temp.h('ab_personal-key')),
                  format($$VALUES ('a0000002-0000-7000-8000-0000000000c2'::uuid, %L::uuid, 'a0000002-0000-7000-8000-0000000000a2'::uuid,
                                   ARRAY['conversations:write'], true, false, 'active')$$, :ta),
                  'auth_lookup_key finds a personal key without any tenant context');
SELECT results_eq(format($$SELECT key_id, tenant_id, user_id, revoked_at, is_platform FROM auth_lookup_key(%L)$$,
                         pg_temp.h('ab_service-key')),
                  format($$VALUES ('a0000002-0000-7000-8000-0000000000c1'::uuid, %L::uuid, NULL::uuid,
                                   '2026-01-01 00:00+00'::timestamptz, false)$$, :ta),
                  'a service key has no user; a revoked key is returned with revoked_at for the caller to refuse');
SELECT results_eq(format($$SELECT key_id, tenant_id, user_id, scopes, is_platform, tenant_status FROM auth_lookup_key(%L)$$,
                         pg_temp.h('ab_platform-key')),
                  $$VALUES ('00000002-0000-7000-8000-0000000000f1'::uuid, NULL::uuid, NULL::uuid, ARRAY['tenants:write'], true, NULL::text)$$,
                  'auth_lookup_key finds a platform key');
SELECT is_empty(format($$SELECT * FROM auth_lookup_key(%L)$$, pg_temp.h('ab_unknown-key')), 'an unknown key finds nothing');
SELECT is_empty($$SELECT * FROM auth_lookup_key(NULL)$$, 'a NULL hash finds nothing');
SELECT results_eq(format($$SELECT tenant_id, user_id, password_hash, status, failed_login_attempts, tenant_status
                             FROM auth_lookup_login(%L, 'second.user@FIXTURE.test')$$, upper(:'sa')),
                  format($$VALUES (%L::uuid, 'a0000002-0000-7000-8000-0000000000a2'::uuid,
                                   '$argon2id$v=19$m=65536,t=2,p=1$c2Vjb25k$c2Vjb25k', 'active', 0, 'active')$$, :ta),
                  'auth_lookup_login finds a user by tenant slug and e-mail, case-insensitively');
SELECT is_empty(format($$SELECT * FROM auth_lookup_login(%L, 'second.user@fixture.test')$$, :'sb'),
                'the same e-mail in another tenant finds nothing');
SELECT is_empty($$SELECT * FROM auth_lookup_login('no-such-tenant', 'second.user@fixture.test')$$, 'an unknown tenant finds nothing');
SELECT is_empty(format($$SELECT * FROM auth_lookup_login(%L, 'nobody@fixture.test')$$, :'sa'), 'an unknown e-mail finds nothing');
SELECT throws_ok($$SELECT * FROM platform_api_keys$$, '42501', NULL, 'the service cannot read platform_api_keys directly');
SELECT lives_ok(format($$SELECT auth_touch_key('a0000002-0000-7000-8000-0000000000c2', %L, '198.51.100.4')$$, :ta),
                'the service records the use of a tenant key');
SELECT lives_ok($$SELECT auth_touch_key('00000002-0000-7000-8000-0000000000f1')$$, 'and of a platform key');
SELECT abtest.unbecome();

SELECT is((SELECT last_used_ip FROM api_keys WHERE id = 'a0000002-0000-7000-8000-0000000000c2'), '198.51.100.4'::inet,
          'auth_touch_key records the last IP');
SELECT isnt((SELECT last_used_at FROM platform_api_keys WHERE id = '00000002-0000-7000-8000-0000000000f1'), NULL,
            'auth_touch_key records a platform key''s last use');
SELECT is((SELECT count(*)::int FROM audit_logs WHERE tenant_id = :ta AND resource_type = 'api_key' AND action = 'api_key.updated'),
          1, 'key use is not audited (the one update is the revocation)');

-- The state of tenant and user decides.
UPDATE users SET status = 'suspended' WHERE id = 'a0000002-0000-7000-8000-0000000000a2';
SELECT is_empty(format($$SELECT * FROM auth_lookup_key(%L)$$, pg_temp.h('ab_personal-key')),
                'a suspended user''s key finds nothing');
SELECT is((SELECT status FROM auth_lookup_login(:'sa', 'second.user@fixture.test')), 'suspended',
          'auth_lookup_login returns the user status for the caller to refuse');
UPDATE users SET deleted_at = now() WHERE id = 'a0000002-0000-7000-8000-0000000000a2';
SELECT is_empty(format($$SELECT * FROM auth_lookup_login(%L, 'second.user@fixture.test')$$, :'sa'),
                'a soft-deleted user cannot sign in');
UPDATE tenants SET status = 'suspended' WHERE id = :ta;
SELECT is((SELECT tenant_status FROM auth_lookup_key(pg_temp.h('ab_service-key'))), 'suspended',
          'a suspended tenant''s key comes back with its tenant status');
UPDATE tenants SET status = 'deleted', deleted_at = now() WHERE id = :ta;
SELECT is_empty(format($$SELECT * FROM auth_lookup_key(%L)$$, pg_temp.h('ab_service-key')), 'a deleted tenant''s key finds nothing');
SELECT is_empty(format($$SELECT * FROM auth_lookup_login(%L, (SELECT email FROM users WHERE id = %L))$$, :'sa', :'ua'),
                'nobody signs in to a deleted tenant');
UPDATE tenants SET status = 'active', deleted_at = NULL WHERE id = :ta;

-- A user's keys go with the user.
DELETE FROM users WHERE id = 'a0000002-0000-7000-8000-0000000000a2';
SELECT is_empty($$SELECT 1 FROM api_keys WHERE id = 'a0000002-0000-7000-8000-0000000000c2'$$,
                'hard-deleting a user deletes that user''s keys');
SELECT isnt_empty($$SELECT 1 FROM api_keys WHERE id = 'a0000002-0000-7000-8000-0000000000c1'$$,
                  'service keys without a user stay');

-- ------------------------------------------------------------------------------------
-- tenants: Row Level Security and the guard
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT results_eq($$SELECT id FROM tenants$$, ARRAY[:ta::uuid], 'the service sees only its own tenant');
SELECT results_eq($$UPDATE tenants SET name = 'Renamed A', settings = '{"theme": "dark"}' RETURNING id$$,
                  ARRAY[:ta::uuid], 'the service updates its own tenant''s name and settings');
SELECT is_empty(format($$UPDATE tenants SET name = 'Taken' WHERE id = %L RETURNING id$$, :tb),
                'the service cannot update another tenant');
SELECT throws_ok($$UPDATE tenants SET plan = 'enterprise'$$, '42501', NULL, 'the service cannot change its own plan');
SELECT throws_ok($$UPDATE tenants SET limits = '{"max_users": 100000}'$$, '42501', NULL, 'nor its limits');
SELECT throws_ok($$UPDATE tenants SET status = 'active', deleted_at = now()$$, '42501', NULL, 'nor delete itself softly');
SELECT is_empty($$DELETE FROM tenants RETURNING id$$, 'the service cannot delete its tenant');
SELECT throws_ok($$INSERT INTO tenants (slug, name) VALUES ('sneaky', 'Sneaky')$$, '42501', NULL,
                 'the service cannot create tenants');
SELECT abtest.unbecome();

-- A platform admin (no tenant context) manages every tenant; each change is audited.
SELECT abtest.become(NULL);
SELECT agentbase.set_request_context(NULL, 'api_key', 'platform-key-1', '192.0.2.10', 'ops-cli/1.0', 'req-admin', true);
SELECT ok((SELECT count(*) >= 2 FROM tenants WHERE id IN (:ta, :tb)), 'a platform admin sees every tenant');
SELECT lives_ok($$INSERT INTO tenants (id, slug, name, plan) VALUES ('c0000002-0000-7000-8000-00000000000c', 'new-customer', 'New Customer', 'pro')$$,
                'a platform admin creates a tenant');
SELECT lives_ok(format($$UPDATE tenants SET plan = 'enterprise', limits = '{"max_users": 500}' WHERE id = %L$$, :tb),
                'a platform admin changes a tenant''s plan and limits');
SELECT abtest.unbecome();
SELECT abtest.fixture_0002_tenancy('c0000002-0000-7000-8000-00000000000c');
SELECT abtest.fixture_0003_agents('c0000002-0000-7000-8000-00000000000c');
SELECT abtest.become(NULL);
SELECT agentbase.set_request_context(NULL, 'api_key', 'platform-key-1', '192.0.2.10', 'ops-cli/1.0', 'req-admin', true);
SELECT results_eq($$DELETE FROM tenants WHERE id = 'c0000002-0000-7000-8000-00000000000c' RETURNING slug$$,
                  ARRAY['new-customer'], 'a platform admin hard-deletes a tenant with users, keys and agents');
SELECT abtest.unbecome();
SELECT results_eq($$SELECT action, actor_id, ip_address, user_agent, request_id FROM audit_logs
                     WHERE tenant_id = 'c0000002-0000-7000-8000-00000000000c' AND resource_type = 'tenant' ORDER BY action$$,
                  $$VALUES ('tenant.created', 'platform-key-1', '192.0.2.10'::inet, 'ops-cli/1.0', 'req-admin'),
                           ('tenant.deleted', 'platform-key-1', '192.0.2.10'::inet, 'ops-cli/1.0', 'req-admin')$$,
                  'the platform admin''s changes are audited, even for a tenant that is gone');
SELECT is((SELECT count(*)::int FROM audit_logs WHERE tenant_id = 'c0000002-0000-7000-8000-00000000000c'
              AND action IN ('user.deleted', 'api_key.deleted', 'agent.deleted')),
          3 + (SELECT count(*)::int FROM platform_agents),
          'the cascade of a tenant deletion is in its trail too (with the platform agents every tenant has)');
SELECT is((SELECT count(*)::int FROM users WHERE tenant_id = 'c0000002-0000-7000-8000-00000000000c')
          + (SELECT count(*)::int FROM agents WHERE tenant_id = 'c0000002-0000-7000-8000-00000000000c'), 0,
          'the deleted tenant''s rows are gone');
SELECT is((SELECT plan FROM tenants WHERE id = :tb), 'enterprise', 'the plan change took effect');

SELECT abtest.become(NULL, 'agentbase_readonly');
SELECT ok((SELECT count(*) >= 2 FROM tenants WHERE id IN (:ta, :tb)), 'analytics reads every tenant');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Audit trail: request context, actions and redaction
-- ------------------------------------------------------------------------------------
SELECT abtest.become(:ta);
SELECT agentbase.set_request_context(:ta, 'user', :'ua', '203.0.113.7', 'pgtap-agent/2.0', 'req-42');
INSERT INTO users (tenant_id, id, email, password_hash, email_verification_token_hash, role)
VALUES (:ta, 'a0000002-0000-7000-8000-0000000000a3', 'audited@fixture.test',
        '$argon2id$v=19$m=65536,t=2,p=1$YXVkaXQ$c2VjcmV0aGFzaA', 'tokenhash-abc', 'viewer');
UPDATE users SET full_name = 'Audited User', password_hash = '$argon2id$v=19$m=65536,t=2,p=1$YXVkaXQ$bmV3aGFzaA'
 WHERE id = 'a0000002-0000-7000-8000-0000000000a3';
UPDATE users SET deleted_at = now() WHERE id = 'a0000002-0000-7000-8000-0000000000a3';
INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash) VALUES (:ta, 'audited key', 'ab_audited', pg_temp.h('ab_audited-key'));
SELECT results_eq($$SELECT action, actor_type, actor_id, ip_address, user_agent, request_id FROM audit_logs
                     WHERE resource_id = 'a0000002-0000-7000-8000-0000000000a3' ORDER BY action$$,
                  format($$VALUES ('user.created', 'user', %L, '203.0.113.7'::inet, 'pgtap-agent/2.0', 'req-42'),
                                  ('user.deleted', 'user', %1$L, '203.0.113.7'::inet, 'pgtap-agent/2.0', 'req-42'),
                                  ('user.updated', 'user', %1$L, '203.0.113.7'::inet, 'pgtap-agent/2.0', 'req-42')$$, :'ua'),
                  'insert, update and soft delete are audited with actor, IP, user agent and request id');
SELECT is((SELECT new_values ->> 'password_hash' FROM audit_logs
            WHERE resource_id = 'a0000002-0000-7000-8000-0000000000a3' AND action = 'user.created'),
          '[redacted]', 'the password hash is redacted on create');
SELECT is((SELECT (old_values ->> 'password_hash') || ' ' || (new_values ->> 'password_hash') FROM audit_logs
            WHERE resource_id = 'a0000002-0000-7000-8000-0000000000a3' AND action = 'user.updated'),
          '[redacted] [redacted]', 'and in both images of an update');
SELECT is((SELECT new_values ->> 'email_verification_token_hash' FROM audit_logs
            WHERE resource_id = 'a0000002-0000-7000-8000-0000000000a3' AND action = 'user.created'),
          '[redacted]', 'the e-mail verification token hash is redacted');
SELECT is((SELECT new_values ->> 'full_name' FROM audit_logs
            WHERE resource_id = 'a0000002-0000-7000-8000-0000000000a3' AND action = 'user.updated'),
          'Audited User', 'other values are recorded');
SELECT is_empty($$SELECT 1 FROM audit_logs WHERE coalesce(old_values::text, '') || coalesce(new_values::text, '')
                    ~ 'c2VjcmV0aGFzaA|bmV3aGFzaA|tokenhash-abc'$$,
                'no password or token hash appears anywhere in the trail');
SELECT is((SELECT new_values ->> 'key_hash' FROM audit_logs WHERE action = 'api_key.created'
            AND new_values ->> 'name' = 'audited key'), '[redacted]', 'an API key hash is redacted');
SELECT is_empty($$SELECT 1 FROM audit_logs WHERE tenant_id <> agentbase.current_tenant_id()$$,
                'the service reads only its own tenant''s trail');
SELECT throws_ok($$UPDATE audit_logs SET action = 'forged'$$, '42501', NULL, 'the service cannot alter the trail');
SELECT throws_ok($$DELETE FROM audit_logs$$, '42501', NULL, 'nor delete from it');
SELECT throws_ok(format($$INSERT INTO audit_logs (tenant_id, action, resource_type) VALUES (%L, 'forged', 'x')$$, :tb),
                 '42501', NULL, 'nor write into another tenant''s trail');
SELECT lives_ok($$SELECT agentbase.audit_event('auth.login_failed', 'user', NULL, '{"reason": "bad password"}')$$,
                'the service appends application events to its own trail through audit_event()');
SELECT abtest.unbecome();

SELECT * FROM finish();
ROLLBACK;
