-- pgTAP: access inside a tenant (0011), as the service's own roles. Roles and their
-- memberships; the complete list of privileges each role holds (any other grant fails);
-- the role x table matrix over the whole of role_access (a user and a viewer who own
-- nothing see and change exactly what role_access says, in every table); a user's own
-- rows; owner columns; escalation attempts; money and limits only through the entry
-- points; projects shared with collaborators; the per-user policy as an index condition.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(93);

\set ta '''a1100000-0000-7000-8000-00000000000a'''
\set tb '''b1100000-0000-7000-8000-00000000000b'''
\set u1 '''a1100000-0000-7000-8000-0000000000e1'''
\set u2 '''a1100000-0000-7000-8000-0000000000e2'''
\set v1 '''a1100000-0000-7000-8000-0000000000f1'''
\set ad '''a1100000-0000-7000-8000-0000000000ad'''

-- Every fixture for A and B (rows owned by each tenant's fixture admin).
SELECT abtest.fill(:ta), abtest.fill(:tb);
INSERT INTO users (tenant_id, id, email, role) VALUES
    (:ta, :u1, 'u1@access.test', 'user'), (:ta, :u2, 'u2@access.test', 'user'),
    (:ta, :v1, 'v1@access.test', 'viewer'), (:ta, :ad, 'ad@access.test', 'admin');

-- Acts in tenant A as a user (u1, u2, v1 or ad) with the role given.
CREATE FUNCTION pg_temp.act(p_user uuid, p_role text, p_billing boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM abtest.become('a1100000-0000-7000-8000-00000000000a');
    PERFORM agentbase.set_request_context('a1100000-0000-7000-8000-00000000000a', 'api_key', 'access-test',
                                          NULL, NULL, NULL, false, p_user, p_role, p_billing);
END
$$;

-- ------------------------------------------------------------------------------------
-- Roles
-- ------------------------------------------------------------------------------------
SELECT ok(pg_has_role('agentbase_member', 'agentbase_app', 'USAGE'), 'a member has the service''s privileges');
SELECT ok(pg_has_role('agentbase_viewer', 'agentbase_member', 'USAGE'), 'a viewer has a member''s');
SELECT ok(NOT pg_has_role('agentbase_app', 'agentbase_member', 'USAGE'),
          'the service is not a member: the per-user policies do not apply to admins');
SELECT is((SELECT ARRAY[rolcanlogin, rolinherit, rolsuper, rolbypassrls] FROM pg_roles WHERE rolname = 'agentbase_service'),
          ARRAY[true, false, false, false], 'agentbase_service logs in, inherits nothing, is no superuser, bypasses no RLS');
SELECT is((SELECT array_agg(b.rolname::text ORDER BY 1) FROM pg_auth_members m
             JOIN pg_roles r ON r.oid = m.member JOIN pg_roles b ON b.oid = m.roleid
            WHERE r.rolname = 'agentbase_service'),
          ARRAY['agentbase_app', 'agentbase_member', 'agentbase_viewer'], 'agentbase_service may become exactly these');
SELECT is((SELECT array_agg(rolname::text ORDER BY 1) FROM pg_roles
            WHERE rolname IN ('agentbase_member', 'agentbase_viewer') AND (rolcanlogin OR rolsuper OR rolbypassrls)),
          NULL, 'the member and viewer roles cannot log in and bypass nothing');

-- ------------------------------------------------------------------------------------
-- Privileges: the complete list. A grant not listed here fails a test.
-- ------------------------------------------------------------------------------------
CREATE TEMP TABLE want_privs (rel text, privs text);
INSERT INTO want_privs VALUES
('agent_assignments', 'DELETE,INSERT,SELECT,UPDATE'), ('agent_leases', 'SELECT'), ('agents', 'DELETE,INSERT,SELECT,UPDATE'),
('ai_executions', 'SELECT'),
('ai_provider_keys', 'DELETE,INSERT,SELECT'),
('ai_model_prices', 'SELECT'), ('ai_models', 'SELECT'), ('ai_providers', 'SELECT'),
('ai_requests', 'INSERT,SELECT'), ('api_keys', 'DELETE,INSERT,SELECT,UPDATE'), ('audit_logs', 'SELECT'),
('billing_records', 'DELETE,INSERT,SELECT,UPDATE'), ('budget_alert_events', 'SELECT'),
('chunks', 'DELETE,INSERT,SELECT,UPDATE'), ('collections', 'DELETE,INSERT,SELECT,UPDATE'),
('containers', 'DELETE,INSERT,SELECT,UPDATE'), ('conversations', 'DELETE,INSERT,SELECT,UPDATE'),
('cost_tracking', 'SELECT'), ('cross_region_sync_logs', 'INSERT,SELECT'), ('documents', 'DELETE,INSERT,SELECT,UPDATE'),
('engine_assignments', 'DELETE,INSERT,SELECT,UPDATE'), ('engines', 'DELETE,INSERT,SELECT,UPDATE'),
('generated_content', 'DELETE,INSERT,SELECT,UPDATE'), ('git_branches', 'DELETE,INSERT,SELECT,UPDATE'),
('idempotency_keys', ''), ('mcp_server_catalog', 'SELECT'), ('mcp_server_configs', 'DELETE,INSERT,SELECT,UPDATE'),
('mcp_servers', 'SELECT'), ('mcp_tool_executions', 'INSERT,SELECT'), ('messages', 'INSERT,SELECT,UPDATE'),
('orchestration_runs', 'DELETE,INSERT,SELECT,UPDATE'), ('performance_metric_rollups', 'SELECT'),
('performance_metrics', 'INSERT,SELECT'), ('platform_agents', 'SELECT'),
('platform_api_keys', ''), ('project_collaborators', 'DELETE,INSERT,SELECT,UPDATE'),
('project_files', 'DELETE,INSERT,SELECT,UPDATE'), ('project_templates', 'SELECT'),
('projects', 'DELETE,INSERT,SELECT,UPDATE'), ('quality_gate_results', 'DELETE,INSERT,SELECT,UPDATE'),
('quality_gates', 'DELETE,INSERT,SELECT,UPDATE'), ('quotas', 'DELETE,SELECT'), ('rag_queries', 'INSERT,SELECT'),
('regions', 'SELECT'), ('replication_status', 'SELECT'), ('request_feedback', 'INSERT,SELECT'), ('role_access', 'SELECT'),
('routing_strategies', 'DELETE,INSERT,SELECT,UPDATE'), ('subscription_plans', 'SELECT'),
('system_alerts', 'DELETE,INSERT,SELECT,UPDATE'), ('system_metrics', 'SELECT'), ('tasks', 'DELETE,INSERT,SELECT,UPDATE'),
('tenant_mcp_servers', 'DELETE,INSERT,SELECT,UPDATE'), ('tenant_quotas', 'DELETE,SELECT'),
('tenant_regions', 'DELETE,INSERT,SELECT,UPDATE'), ('tenants', 'DELETE,INSERT,SELECT,UPDATE'),
('token_holds', 'SELECT'), ('token_ledger', 'SELECT'), ('token_transactions', 'SELECT'), ('token_wallets', 'SELECT'),
('tool_executions', 'INSERT,SELECT'), ('usage_logs', 'SELECT'), ('usage_metrics', 'INSERT,SELECT'),
('user_budgets', 'DELETE,SELECT'), ('user_quotas', 'SELECT'), ('users', 'DELETE,INSERT,SELECT,UPDATE'),
('workers', 'DELETE,INSERT,SELECT,UPDATE'), ('workflow_executions', 'DELETE,INSERT,SELECT,UPDATE'),
('workflow_step_executions', 'DELETE,INSERT,SELECT,UPDATE'), ('workflows', 'DELETE,INSERT,SELECT,UPDATE');

-- What a role holds on a relation by its own grants (not through membership).
CREATE FUNCTION pg_temp.granted(p_rel oid, p_role text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(DISTINCT a.privilege_type, ',' ORDER BY a.privilege_type), '')
      FROM pg_class c, aclexplode(c.relacl) a
     WHERE c.oid = p_rel AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = p_role)
$$;

SELECT is(ARRAY(SELECT c.relname || ': ' || pg_temp.granted(c.oid, 'agentbase_app')
                  FROM pg_class c LEFT JOIN want_privs w ON w.rel = c.relname
                 WHERE c.relnamespace = 'agentbase'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
                   AND pg_temp.granted(c.oid, 'agentbase_app') IS DISTINCT FROM w.privs
                 ORDER BY 1),
          '{}', 'agentbase_app holds exactly the listed privileges on every table and view');
SELECT is(ARRAY(SELECT rel FROM want_privs w
                 WHERE to_regclass('agentbase.' || w.rel) IS NULL ORDER BY 1),
          '{}', 'every listed relation exists');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE c.relnamespace = 'agentbase'::regnamespace
                   AND pg_temp.granted(c.oid, 'agentbase_app') <> pg_temp.granted(i.inhparent, 'agentbase_app')
                 ORDER BY 1),
          '{}', 'every partition grants the service what its parent does');
SELECT is(ARRAY(SELECT format('%s.%s %s', c.relname, a.attname, x.privilege_type)
                  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid, aclexplode(a.attacl) x
                 WHERE c.relnamespace = 'agentbase'::regnamespace AND NOT c.relispartition
                   AND x.grantee = 'agentbase_app'::regrole
                 ORDER BY 1),
          ARRAY['ai_provider_keys.api_key_ciphertext UPDATE', 'ai_provider_keys.api_key_hint UPDATE',
                'ai_provider_keys.api_key_key_id UPDATE', 'ai_provider_keys.api_key_nonce UPDATE',
                'ai_provider_keys.is_active UPDATE', 'ai_provider_keys.metadata UPDATE', 'ai_provider_keys.name UPDATE',
                'quotas.daily_request_limit INSERT', 'quotas.daily_request_limit UPDATE',
                'quotas.daily_token_limit INSERT', 'quotas.daily_token_limit UPDATE', 'quotas.id INSERT',
                'quotas.monthly_token_limit INSERT', 'quotas.monthly_token_limit UPDATE', 'quotas.tenant_id INSERT',
                'quotas.user_id INSERT', 'tenant_quotas.id INSERT', 'tenant_quotas.limit_value INSERT',
                'tenant_quotas.limit_value UPDATE', 'tenant_quotas.period INSERT', 'tenant_quotas.resource_type INSERT',
                'tenant_quotas.tenant_id INSERT', 'user_budgets.alert_thresholds INSERT',
                'user_budgets.alert_thresholds UPDATE', 'user_budgets.amount_usd INSERT', 'user_budgets.amount_usd UPDATE',
                'user_budgets.hard_limit INSERT', 'user_budgets.hard_limit UPDATE', 'user_budgets.id INSERT',
                'user_budgets.is_active INSERT', 'user_budgets.is_active UPDATE', 'user_budgets.name INSERT',
                'user_budgets.name UPDATE', 'user_budgets.period INSERT', 'user_budgets.tenant_id INSERT',
                'user_budgets.user_id INSERT'],
          'column grants: quotas and budgets their limits, never their counters; provider keys their sealed key and labels');
SELECT is(ARRAY(SELECT c.relname || ': ' || r.rolname FROM pg_class c, aclexplode(c.relacl) a, pg_roles r
                 WHERE c.relnamespace = 'agentbase'::regnamespace AND r.oid = a.grantee
                   AND r.rolname IN ('agentbase_member', 'agentbase_viewer', 'agentbase_service')
                 ORDER BY 1),
          '{}', 'the member, viewer and service roles hold no privilege of their own on any relation');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'agentbase'::regnamespace AND c.relkind IN ('r', 'p', 'v')
                   AND pg_temp.granted(c.oid, 'agentbase_readonly') <> 'SELECT'
                 ORDER BY 1),
          ARRAY['platform_api_keys'], 'analytics reads every relation but the platform keys, and writes none');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'agentbase'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')
                 ORDER BY 1),
          '{}', 'PUBLIC executes no function of agentbase');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'agentbase'::regnamespace AND has_function_privilege('agentbase_app', p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['add_chunks(uuid,jsonb)',
                'adjust_user_tokens(uuid,bigint,text,text,text,text,text,text,jsonb,text)',
                'adjust_user_tokens(uuid,bigint,text,text,text,text,uuid,uuid,jsonb,text)',
                'agent_lease_acquire(uuid,text,integer)', 'agent_lease_release(uuid)', 'agent_leases_expire(integer)',
                'agent_performance(timestamp with time zone,timestamp with time zone)',
                'audit_event(text,text,text,jsonb)',
                'audit_failure(text,text,text,text,jsonb)', 'audit_refused(text,text,integer,text,text)',
                'audit_secret_read(text,uuid,text,text[])',
                'auth_lookup_key(text)', 'auth_lookup_login(text,text)', 'auth_touch_key(uuid,uuid,inet)',
                'auto_allocate_tokens_for_level(uuid,text)', 'auto_allocate_tokens_for_level(uuid,uuid)',
                'chunk_batch_problem(jsonb,integer)', 'containers_idle(integer,integer)',
                'current_actor_id()', 'current_actor_type()',
                'current_may_bill()', 'current_tenant_id()', 'current_user_id()', 'current_user_role()',
                'explicit_scopes()', 'generated_content_count_download(uuid)', 'generated_content_download(uuid)',
                'idempotency_claim(text,text)', 'idempotency_complete(text,integer,text)',
                'is_platform_admin()', 'mcp_resource_limits_ok(jsonb)',
                'mcp_server_configs_check_config(uuid,uuid,uuid,text[])',
                'model_price_at(uuid,timestamp with time zone)', 'my_projects(text)',
                'request_feedback_of(uuid,uuid)',
                'role_cap(text)', 'role_scopes(text)',
                'search_chunks(uuid,real[],text,integer,text,jsonb,double precision,uuid,uuid)',
                'search_chunks_sql(text,integer)',
                'set_request_context(uuid,text,text,text,text,text,boolean,uuid,text,boolean)', 'slugify(text)',
                'usage_apply(jsonb)', 'usage_expire_holds(integer)', 'usage_expired_ops(integer)',
                'usage_monthly(uuid,date)', 'usage_period_start(text)',
                'usage_requests(timestamp with time zone,timestamp with time zone,text,text,uuid,uuid,uuid,uuid,integer)',
                'usage_rollup()',
                'usage_summary(timestamp with time zone,timestamp with time zone,text)',
                'user_set_password(uuid,text,boolean)', 'uuid_v7()',
                'workflow_definition_problem(jsonb)'],
          'the service executes exactly the entry points and the helpers its policies, defaults and checks call');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'agentbase'::regnamespace AND p.proname ~ '^(usage_|adjust_|auto_allocate|reset_)'
                   AND has_function_privilege('agentbase_app', p.oid, 'EXECUTE') AND NOT p.prosecdef
                   -- the reports read under the caller's RLS
                   AND p.proname NOT IN ('usage_period_start', 'usage_summary', 'usage_requests', 'usage_monthly')
                 ORDER BY 1),
          '{}', 'every money function the service may call runs as the owner (SECURITY DEFINER)');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'agentbase'::regnamespace AND p.prosecdef
                   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
                 ORDER BY 1),
          '{}', 'every SECURITY DEFINER function pins its search_path');

-- ------------------------------------------------------------------------------------
-- The matrix: for every table of role_access, a user (u1) and a viewer (v1) who own
-- nothing read exactly what it says, and change nothing they may not
-- ------------------------------------------------------------------------------------
CREATE TEMP TABLE acc (rel regclass, name text, user_read text, user_write text, viewer_read text, total bigint);
INSERT INTO acc
SELECT format('agentbase.%I', a.table_name)::regclass, a.table_name, a.user_read, a.user_write, a.viewer_read, 0
  FROM role_access a
 WHERE a.table_name IS NOT NULL AND EXISTS (SELECT 1 FROM pg_attribute
                WHERE attrelid = format('agentbase.%I', a.table_name)::regclass AND attname = 'tenant_id');
DO $$
DECLARE
    r record;
    n bigint;
BEGIN
    FOR r IN SELECT * FROM acc LOOP
        EXECUTE format('SELECT count(*) FROM %s WHERE tenant_id = %L', r.rel, 'a1100000-0000-7000-8000-00000000000a') INTO n;
        UPDATE acc SET total = n WHERE rel = r.rel;
    END LOOP;
END
$$;
CREATE TEMP TABLE acc_offences (role text, property text, name text, detail text);
GRANT SELECT, INSERT ON acc, acc_offences TO agentbase_app;

-- Runs the matrix as p_user with role p_role; offences go into acc_offences. Every write
-- runs in a subtransaction that is rolled back, so no check changes what the next sees. A
-- write is an offence when it changed a row it should not have; how it was refused (RLS, a
-- grant, a guard trigger) is for the tests below.
CREATE FUNCTION pg_temp.matrix(p_user uuid, p_role text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n bigint;
    v_read text;
    v_want bigint;
    v_stmt text;
    v_kind text;
BEGIN
    PERFORM pg_temp.act(p_user, p_role);
    FOR r IN SELECT * FROM acc ORDER BY name LOOP
        v_read := CASE p_role WHEN 'viewer' THEN r.viewer_read ELSE r.user_read END;
        EXECUTE format('SELECT count(*) FROM %s', r.rel) INTO n;
        -- someone who owns nothing sees the tenant's rows, none, or (users) themselves
        v_want := CASE v_read WHEN 'all' THEN r.total WHEN 'none' THEN 0
                              ELSE CASE r.name WHEN 'users' THEN 1 ELSE 0 END END;
        IF n <> v_want THEN
            INSERT INTO acc_offences VALUES (p_role, 'read', r.name, format('sees %s rows, wants %s (%s)', n, v_want, v_read));
        END IF;
        FOR v_kind, v_stmt IN SELECT * FROM (VALUES
                ('update', format('UPDATE %s SET tenant_id = tenant_id WHERE %s', r.rel,
                                  CASE r.name WHEN 'users' THEN 'id <> agentbase.current_user_id()' ELSE 'true' END)),
                ('delete', format('DELETE FROM %s WHERE %s', r.rel,
                                  CASE r.name WHEN 'users' THEN 'id <> agentbase.current_user_id()' ELSE 'true' END)),
                ('insert', format('INSERT INTO %s (tenant_id) VALUES (%L)', r.rel, 'a1100000-0000-7000-8000-00000000000a')))
              AS s(k, q) LOOP
            BEGIN
                EXECUTE v_stmt;
                GET DIAGNOSTICS n = ROW_COUNT;
                IF n <> 0 AND (v_kind <> 'insert' OR p_role = 'viewer' OR r.user_write <> 'own') THEN
                    INSERT INTO acc_offences VALUES (p_role, v_kind, r.name, n || ' rows');
                END IF;
                RAISE EXCEPTION 'roll back' USING ERRCODE = 'AB999';
            EXCEPTION
                WHEN SQLSTATE 'AB999' THEN NULL;
                WHEN insufficient_privilege THEN NULL;  -- refused by a policy, a grant or a guard
                WHEN OTHERS THEN NULL;  -- refused before RLS (a trigger, a constraint): nothing written
            END;
        END LOOP;
    END LOOP;
    PERFORM abtest.unbecome();
END
$$;
SELECT pg_temp.matrix(:u1, 'user');
SELECT pg_temp.matrix(:v1, 'viewer');

CREATE FUNCTION pg_temp.offenders(p_role text, p_property text) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(name || ': ' || detail ORDER BY name), '{}') FROM acc_offences
     WHERE role = p_role AND property = p_property
$$;
SELECT cmp_ok((SELECT count(*)::int FROM acc), '>=', 45, 'the matrix covers every tenant table of role_access');
SELECT is(ARRAY(SELECT name FROM acc WHERE total = 0 ORDER BY 1), '{}', 'the fixtures give tenant A rows in every one');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'agentbase'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                   AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = c.oid AND attname = 'tenant_id')
                   AND NOT EXISTS (SELECT 1 FROM role_access a WHERE a.table_name = c.relname)
                 ORDER BY 1),
          ARRAY['idempotency_keys'], 'role_access governs every tenant table (idempotency keys: the database''s own)');
SELECT is(pg_temp.offenders('user', 'read'), '{}', 'a user reads exactly what role_access says in every table');
SELECT is(pg_temp.offenders('user', 'update'), '{}', 'a user updates no row that is not theirs, in any table');
SELECT is(pg_temp.offenders('user', 'delete'), '{}', 'a user deletes no row that is not theirs, in any table');
SELECT is(pg_temp.offenders('user', 'insert'), '{}', 'a user inserts only where role_access lets them write their own');
SELECT is(pg_temp.offenders('viewer', 'read'), '{}', 'a viewer reads exactly what role_access says in every table');
SELECT is(pg_temp.offenders('viewer', 'update'), '{}', 'a viewer updates nothing');
SELECT is(pg_temp.offenders('viewer', 'delete'), '{}', 'a viewer deletes nothing');
SELECT is(pg_temp.offenders('viewer', 'insert'), '{}', 'a viewer inserts nothing, in any table');

-- ------------------------------------------------------------------------------------
-- A user's own rows
-- ------------------------------------------------------------------------------------
SELECT id AS agent FROM agents WHERE tenant_id = :ta LIMIT 1 \gset
INSERT INTO conversations (tenant_id, id, user_id, agent_id, title) VALUES
    (:ta, 'a1100000-0000-7000-8000-00000000c0e1', :u1, :'agent', 'mine'),
    (:ta, 'a1100000-0000-7000-8000-00000000c0e2', :u2, :'agent', 'theirs');
INSERT INTO messages (tenant_id, conversation_id, role, content) VALUES
    (:ta, 'a1100000-0000-7000-8000-00000000c0e1', 'user', 'hello from u1'),
    (:ta, 'a1100000-0000-7000-8000-00000000c0e2', 'user', 'hello from u2');
SELECT 1 FROM (SELECT adjust_user_tokens(:u1, 100, 'credit') a, adjust_user_tokens(:u2, 200, 'credit') b OFFSET 0) x
 WHERE x.a IS NULL OR x.b IS NULL;

SELECT pg_temp.act(:u1, 'user');
SELECT results_eq($$SELECT title FROM conversations$$, ARRAY['mine'], 'u1 sees only their conversation');
SELECT results_eq($$SELECT content FROM messages$$, ARRAY['hello from u1'], 'and only its messages');
SELECT results_eq($$SELECT balance FROM token_wallets$$, ARRAY[100::bigint], 'only their wallet');
SELECT results_eq($$SELECT amount FROM token_ledger$$, ARRAY[100::bigint], 'only their ledger');
SELECT results_eq($$SELECT email FROM users$$, ARRAY['u1@access.test'], 'among users, only themselves');
SELECT lives_ok($$INSERT INTO messages (tenant_id, conversation_id, role, content)
                  VALUES (agentbase.current_tenant_id(), 'a1100000-0000-7000-8000-00000000c0e1', 'user', 'more')$$,
                'u1 appends to their own conversation');
SELECT throws_ok($$INSERT INTO messages (tenant_id, conversation_id, role, content)
                   VALUES (agentbase.current_tenant_id(), 'a1100000-0000-7000-8000-00000000c0e2', 'user', 'intrusion')$$,
                 '42501', NULL, 'u1 cannot append to u2''s conversation');
SELECT is_empty($$UPDATE conversations SET title = 'renamed' WHERE id = 'a1100000-0000-7000-8000-00000000c0e2' RETURNING 1$$,
                'u1 cannot rename u2''s conversation');
SELECT is_empty($$DELETE FROM conversations WHERE id = 'a1100000-0000-7000-8000-00000000c0e2' RETURNING 1$$,
                'u1 cannot delete u2''s conversation');
INSERT INTO conversations (tenant_id, agent_id, title)
VALUES (agentbase.current_tenant_id(), (SELECT id FROM agents LIMIT 1), 'filled');
SELECT is((SELECT user_id FROM conversations WHERE title = 'filled'), :u1::uuid,
          'an owner column left empty is filled with the acting user');
SELECT throws_ok(format($$INSERT INTO conversations (tenant_id, user_id, agent_id, title)
                          VALUES (agentbase.current_tenant_id(), %L, (SELECT id FROM agents LIMIT 1), 'forged')$$, :u2),
                 '42501', 'field user_id must be your own user id: only admins act for other users',
                 'a conversation in another user''s name is refused, naming the field');
SELECT throws_ok($$UPDATE conversations SET user_id = 'a1100000-0000-7000-8000-0000000000e2' WHERE title = 'mine'$$,
                 '42501', 'field user_id must be your own user id: only admins act for other users',
                 'nor can a user give their conversation away');
SELECT throws_ok(format($$INSERT INTO api_keys (tenant_id, user_id, name, key_prefix, key_hash)
                          VALUES (agentbase.current_tenant_id(), %L, 'k', 'ab_x', repeat('a', 64))$$, :u2),
                 '42501', NULL, 'a user cannot issue a key for another user');
INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash)
VALUES (agentbase.current_tenant_id(), 'own', 'ab_y', repeat('b', 64));
SELECT is((SELECT user_id FROM api_keys WHERE name = 'own'), :u1::uuid, 'a key a user issues without a user is theirs');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Escalation: each attempt changes nothing
-- ------------------------------------------------------------------------------------
CREATE TEMP TABLE before AS SELECT to_jsonb(u) AS row FROM users u WHERE tenant_id = :ta;
GRANT SELECT ON before TO agentbase_app;
SELECT pg_temp.act(:u1, 'user');
SELECT throws_ok($$UPDATE users SET role = 'admin' WHERE id = agentbase.current_user_id()$$, '42501',
                 'field role can be changed only by an admin', 'a user cannot make themselves an admin');
SELECT throws_ok($$UPDATE users SET status = 'active', permissions = '{admin}' WHERE id = agentbase.current_user_id()$$,
                 '42501', 'field permissions can be changed only by an admin', 'nor grant themselves permissions');
SELECT throws_ok($$UPDATE users SET level = 'enterprise' WHERE id = agentbase.current_user_id()$$, '42501',
                 'field level is platform-governed: it needs the billing:admin scope', 'nor raise their level');
SELECT is_empty($$UPDATE users SET status = 'suspended' WHERE role = 'admin' RETURNING 1$$, 'nor suspend an admin');
SELECT lives_ok($$UPDATE users SET full_name = 'Me' WHERE id = agentbase.current_user_id()$$,
                'a user edits their own profile');
SELECT throws_ok($$SELECT adjust_user_tokens(agentbase.current_user_id(), 1000000, 'credit')$$, '42501', NULL,
                 'a user cannot credit their own wallet');
SELECT throws_ok($$SELECT auto_allocate_tokens_for_level(agentbase.current_user_id(), 'enterprise')$$, '42501', NULL,
                 'nor allocate themselves a level');
SELECT abtest.unbecome();
SELECT pg_temp.act(:v1, 'viewer');
SELECT is_empty($$UPDATE users SET full_name = 'Viewer' WHERE id = agentbase.current_user_id() RETURNING 1$$,
                'a viewer writes nothing, not even their profile');
SELECT abtest.unbecome();
SELECT pg_temp.act(:ad, 'admin');
SELECT throws_ok(format($$UPDATE users SET level = 'enterprise' WHERE id = %L$$, :u1), '42501',
                 'field level is platform-governed: it needs the billing:admin scope',
                 'a tenant admin cannot raise a user''s level');
SELECT throws_ok(format($$SELECT adjust_user_tokens(%L, 250000000, 'credit')$$, :u1), '42501', NULL,
                 'nor credit a wallet');
SELECT throws_ok(format($$SELECT auto_allocate_tokens_for_level(%L, 'enterprise')$$, :u1), '42501', NULL,
                 'nor allocate a level''s tokens');
SELECT throws_ok($$INSERT INTO tenant_quotas (tenant_id, resource_type, period, limit_value)
                   VALUES (agentbase.current_tenant_id(), 'llm_tokens', 'monthly', 999999999)$$, '42501', NULL,
                 'nor lift the plan''s limits with a tenant quota');
SELECT is_empty($$UPDATE tenant_quotas SET limit_value = 999999999 RETURNING 1$$, 'nor raise an existing one');
SELECT throws_ok($$UPDATE tenants SET plan = 'enterprise'$$, '42501', NULL, 'nor change the tenant''s plan');
SELECT throws_ok($$UPDATE token_wallets SET balance = balance + 1000$$, '42501', NULL,
                 'no role writes a wallet directly');
SELECT throws_ok($$INSERT INTO token_ledger (tenant_id, wallet_id, user_id, entry_type, amount, balance_after)
                   SELECT tenant_id, id, user_id, 'credit', 1000, balance + 1000 FROM token_wallets LIMIT 1$$, '42501', NULL,
                 'nor the ledger');
SELECT throws_ok($$UPDATE token_holds SET status = 'released'$$, '42501', NULL, 'nor the holds');
SELECT throws_ok($$UPDATE quotas SET tokens_used_today = 0$$, '42501', NULL, 'nor a quota''s counters');
SELECT throws_ok($$UPDATE user_budgets SET spent_usd = 0$$, '42501', NULL, 'nor a budget''s spending');
SELECT throws_ok($$UPDATE cost_tracking SET total_cost = 0$$, '42501', NULL, 'nor the cost rollups');
SELECT throws_ok($$INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash, scopes)
                   VALUES (agentbase.current_tenant_id(), 'billing', 'ab_b', repeat('9', 64), '{admin,billing:admin}')$$,
                 '42501', 'field scopes: billing:admin and secrets:read are granted only by the platform admin',
                 'nor issue a key with billing:admin (only the platform grants the explicit scopes)');
SELECT lives_ok(format($$UPDATE users SET role = 'viewer' WHERE id = %L$$, :u2), 'an admin changes a user''s role');
SELECT lives_ok(format($$INSERT INTO quotas (tenant_id, user_id, daily_token_limit) VALUES (agentbase.current_tenant_id(), %L, 10)$$, :u1),
                'an admin sets a quota (a limit below the plan)');
SELECT abtest.unbecome();
SELECT is((SELECT array_agg(row ->> 'email' ORDER BY row ->> 'email') FROM before
            WHERE row <> (SELECT to_jsonb(u) FROM users u WHERE u.id = (row ->> 'id')::uuid)),
          ARRAY['u1@access.test', 'u2@access.test'],
          'of all users only u1''s profile (and u2''s role, by the admin) changed');
SELECT is((SELECT role || ' ' || level FROM users WHERE id = :u1), 'user free', 'u1 is still a user on free');

-- The platform (or a key it granted billing:admin) may.
SELECT pg_temp.act(:ad, 'admin', true);
SELECT is((adjust_user_tokens(:u1, 50, 'credit') ->> 'balance_after')::bigint, 150::bigint,
          'with billing:admin a wallet is credited');
SELECT lives_ok($$INSERT INTO tenant_quotas (tenant_id, resource_type, period, limit_value)
                  VALUES (agentbase.current_tenant_id(), 'llm_tokens', 'monthly', 1000)$$,
                'with billing:admin a tenant quota is set');
SELECT throws_ok(format($$SELECT adjust_user_tokens(%L, 50, 'credit')$$,
                        (SELECT id FROM users WHERE tenant_id = :tb LIMIT 1)), 'AB404', NULL,
                 'but never for a user of another tenant');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- References without a foreign key stay inside the tenant (arrays too)
-- ------------------------------------------------------------------------------------
SELECT id AS agent_b FROM agents WHERE tenant_id = :tb LIMIT 1 \gset
SELECT id AS user_b FROM users WHERE tenant_id = :tb LIMIT 1 \gset
SELECT pg_temp.act(:ad, 'admin');
SELECT throws_ok(format($$INSERT INTO tasks (tenant_id, title, assigned_agent_ids)
                          VALUES (agentbase.current_tenant_id(), 'x', ARRAY[%L, %L]::uuid[])$$, :'agent', :'agent_b'),
                 '23503', 'field assigned_agent_ids names no agents of this tenant',
                 'a task cannot be assigned another tenant''s agent, even inside an array');
SELECT lives_ok(format($$INSERT INTO tasks (tenant_id, title, assigned_agent_ids)
                         VALUES (agentbase.current_tenant_id(), 'x', ARRAY[%L]::uuid[])$$, :'agent'),
                'but its own agents');
SELECT throws_ok(format($$INSERT INTO ai_requests (tenant_id, user_id, provider, model)
                          VALUES (agentbase.current_tenant_id(), %L, 'openai', 'gpt-4o')$$, :'user_b'),
                 '23503', 'field user_id names no users of this tenant', 'an LLM request cannot name another tenant''s user');
SELECT throws_ok(format($$INSERT INTO usage_metrics (tenant_id, agent_id, metric_type, value)
                          VALUES (agentbase.current_tenant_id(), %L, 'tokens', 1)$$, :'agent_b'),
                 '23503', 'field agent_id names no agents of this tenant', 'nor a usage metric another tenant''s agent');
SELECT throws_ok(format($$UPDATE workflows SET agent_ids = ARRAY[%L]::uuid[]$$, :'agent_b'),
                 '23503', 'field agent_ids names no agents of this tenant', 'nor a workflow');
SELECT abtest.unbecome();
-- the owner (the accounting batch) skips usage_metrics' trigger, not its foreign keys (0025)
SET LOCAL ROLE agentbase_owner;
SELECT throws_ok(format($$INSERT INTO agentbase.usage_metrics (tenant_id, agent_id, metric_type, value)
                          VALUES (%s, %L, 'tokens', 1)$$, :'ta', :'agent_b'),
                 '23503', NULL, 'nor does the owner: the foreign key holds where the trigger is skipped');
RESET ROLE;

-- ------------------------------------------------------------------------------------
-- Accounting for oneself: a user's batch operations for another user are refused
-- ------------------------------------------------------------------------------------
SELECT is(usage_apply(jsonb_build_array(
            jsonb_build_object('op', 'reserve', 'tenant_id', :ta, 'acting_user_id', :u1, 'request_id', 'r1',
                               'args', jsonb_build_object('user_id', :u2, 'provider', 'openai', 'model', 'gpt-4o-mini',
                                                          'estimated_input_tokens', 10, 'max_output_tokens', 10)))) #>> '{0,status}',
          '403', 'a user cannot reserve against another user''s wallet');
SELECT is(usage_apply(jsonb_build_array(
            jsonb_build_object('op', 'reserve', 'tenant_id', :ta, 'acting_user_id', :u1, 'request_id', 'r2',
                               'args', jsonb_build_object('user_id', :u1, 'provider', 'openai', 'model', 'gpt-4o-mini',
                                                          'estimated_input_tokens', 2, 'max_output_tokens', 2)))) #>> '{0,status}',
          '201', 'but reserves against their own (within the quota of 10 the admin set)');
SELECT id AS hold FROM token_holds WHERE user_id = :u1 ORDER BY created_at DESC LIMIT 1 \gset
SELECT is(usage_apply(jsonb_build_array(
            jsonb_build_object('op', 'release', 'tenant_id', :ta, 'acting_user_id', :u2, 'request_id', 'r3',
                               'args', jsonb_build_object('id', :'hold')))) #>> '{0,status}',
          '404', 'another user cannot release it (it does not exist for them)');
SELECT is((SELECT status FROM token_holds WHERE id = :'hold'), 'held', 'and it is still held');

-- ------------------------------------------------------------------------------------
-- Keys act with their user's role now, not at issue
-- ------------------------------------------------------------------------------------
INSERT INTO api_keys (tenant_id, user_id, name, kind, key_prefix, key_hash, scopes)
VALUES (:ta, :ad, 'admin session', 'session', 'ab_s', repeat('c', 64), '{admin}');
INSERT INTO api_keys (tenant_id, issued_by_user_id, name, key_prefix, key_hash, scopes)
VALUES (:ta, NULL, 'platform service key', 'ab_p', repeat('d', 64), '{admin}');
SELECT is((SELECT role FROM auth_lookup_key(repeat('c', 64))), 'admin', 'an admin''s session acts as admin');
UPDATE users SET role = 'user' WHERE id = :ad;
SELECT is((SELECT role FROM auth_lookup_key(repeat('c', 64))), 'user', 'downgraded, the same session acts as a user at once');
SELECT ok((SELECT NOT ('agents:write' = ANY (role_scopes)) FROM auth_lookup_key(repeat('c', 64))),
          'and its scopes are capped by the role');
UPDATE api_keys SET issued_by_user_id = :ad WHERE key_hash = repeat('d', 64);
SELECT is((SELECT role FROM auth_lookup_key(repeat('d', 64))), 'user', 'a key without a user acts with its issuer''s role');
UPDATE users SET status = 'suspended' WHERE id = :ad;
SELECT is_empty($$SELECT 1 FROM auth_lookup_key(repeat('d', 64))$$, 'and stops when its issuer is suspended');
INSERT INTO api_keys (tenant_id, user_id, name, kind, key_prefix, key_hash, scopes) VALUES
    (:ta, :u2, 'u2 session', 'session', 'ab_t', repeat('e', 64), '{admin}'),
    (:ta, :u2, 'u2 key', 'api', 'ab_u', repeat('f', 64), '{admin}');
UPDATE users SET must_change_password = true WHERE id = :u2;
SELECT is((SELECT must_change_password FROM auth_lookup_key(repeat('e', 64))), true,
          'a session of a user who must change the password is held to changing it');
SELECT is((SELECT must_change_password FROM auth_lookup_key(repeat('f', 64))), false,
          'the user''s API keys (a platform''s integration) are not');

-- ------------------------------------------------------------------------------------
-- Projects: owner and collaborators
-- ------------------------------------------------------------------------------------
INSERT INTO projects (tenant_id, id, owner_id, name) VALUES (:ta, 'a1100000-0000-7000-8000-0000000000b1', :u2, 'shared');
INSERT INTO project_collaborators (tenant_id, project_id, user_id, role)
VALUES (:ta, 'a1100000-0000-7000-8000-0000000000b1', :u1, 'viewer');
SELECT pg_temp.act(:u1, 'user');
SELECT results_eq($$SELECT name FROM projects$$, ARRAY['shared'], 'a collaborator sees the project');
SELECT throws_ok($$INSERT INTO project_files (tenant_id, project_id, path) VALUES
                   (agentbase.current_tenant_id(), 'a1100000-0000-7000-8000-0000000000b1', 'a.txt')$$, '42501', NULL,
                 'a viewer collaborator cannot add a file');
SELECT abtest.unbecome();
UPDATE project_collaborators SET role = 'editor' WHERE project_id = 'a1100000-0000-7000-8000-0000000000b1';
SELECT pg_temp.act(:u1, 'user');
SELECT lives_ok($$INSERT INTO project_files (tenant_id, project_id, path) VALUES
                  (agentbase.current_tenant_id(), 'a1100000-0000-7000-8000-0000000000b1', 'a.txt')$$,
                'an editor collaborator adds one');
SELECT is_empty($$DELETE FROM project_collaborators RETURNING 1$$, 'but only the owner manages the collaborators');
SELECT abtest.unbecome();

-- ------------------------------------------------------------------------------------
-- Speed: the per-user policy is an index condition on a 50,000-row table
-- ------------------------------------------------------------------------------------
INSERT INTO conversations (tenant_id, user_id, agent_id, title)
SELECT :ta, CASE WHEN g % 50 = 0 THEN :u1::uuid ELSE :u2::uuid END, :'agent', 'c' || g FROM generate_series(1, 50000) g;
ANALYZE conversations;
SELECT pg_temp.act(:u1, 'user');
SELECT matches(abtest.plan($$SELECT id FROM conversations ORDER BY id LIMIT 50$$),
               'Index Cond: .*user_id = ', 'a user''s page of conversations is an index condition on user_id');
SELECT doesnt_match(abtest.plan($$SELECT id FROM conversations ORDER BY id LIMIT 50$$) ||
                    abtest.plan($$SELECT count(*) FROM conversations$$), 'Filter: .*user_id|Sort',
                    'not a filter over the tenant''s rows, and no sort');
SELECT is((SELECT count(*)::int FROM conversations), 1002, 'and they are all the user sees');
SELECT abtest.unbecome();

SELECT * FROM finish();
ROLLBACK;
