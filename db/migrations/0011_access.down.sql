-- Reverts 0011_access: the privileges, policies, triggers and functions of 0010 as they
-- were. The roles agentbase_member, agentbase_viewer and agentbase_service are dropped
-- unless another database on the same server still uses them.

RESET ROLE;
ALTER DEFAULT PRIVILEGES FOR ROLE agentbase_owner GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
SET LOCAL ROLE agentbase_owner;
SET LOCAL search_path TO agentbase, public;

-- Functions: executable by PUBLIC again, except the four that 0002 and 0010 kept for the app.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'agentbase'::regnamespace LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM agentbase_app, agentbase_readonly', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION agentbase.auth_lookup_login(text, text), agentbase.auth_touch_key(uuid, uuid, inet),
    agentbase.usage_expired_ops(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.auth_lookup_login(text, text), agentbase.auth_touch_key(uuid, uuid, inet),
    agentbase.usage_expired_ops(integer) TO agentbase_app;

-- Audit: written by the service's role again.
DROP FUNCTION agentbase.audit_event(text, text, text, jsonb);
ALTER FUNCTION agentbase.audit_trigger() SECURITY INVOKER RESET search_path;
DO $$
DECLARE
    v_rel regclass;
BEGIN
    GRANT INSERT ON agentbase.audit_logs TO agentbase_app;
    FOR v_rel IN SELECT i.inhrelid::regclass FROM pg_inherits i
                  WHERE i.inhparent = 'agentbase.audit_logs'::regclass LOOP
        EXECUTE format('GRANT INSERT ON %s TO agentbase_app', v_rel);
    END LOOP;
END
$$;
CREATE POLICY platform_admin_insert ON agentbase.audit_logs FOR INSERT TO agentbase_app
    WITH CHECK (agentbase.is_platform_admin());

-- Table privileges of 0010.
REVOKE INSERT (tenant_id, id, user_id, daily_token_limit, daily_request_limit, monthly_token_limit),
       UPDATE (daily_token_limit, daily_request_limit, monthly_token_limit)
    ON agentbase.quotas FROM agentbase_app;
REVOKE INSERT (tenant_id, id, user_id, name, period, amount_usd, alert_thresholds, hard_limit, is_active),
       UPDATE (name, amount_usd, alert_thresholds, hard_limit, is_active)
    ON agentbase.user_budgets FROM agentbase_app;
REVOKE INSERT (tenant_id, id, resource_type, period, limit_value), UPDATE (limit_value)
    ON agentbase.tenant_quotas FROM agentbase_app;
GRANT INSERT, UPDATE ON agentbase.quotas, agentbase.user_budgets, agentbase.tenant_quotas TO agentbase_app;
GRANT INSERT, UPDATE, DELETE ON agentbase.token_wallets, agentbase.token_holds, agentbase.cost_tracking,
    agentbase.replication_status, agentbase.usage_logs, agentbase.token_transactions, agentbase.user_quotas
    TO agentbase_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON agentbase.idempotency_keys TO agentbase_app;
GRANT SELECT ON agentbase.platform_api_keys TO agentbase_readonly;
GRANT INSERT ON agentbase.budget_alert_events TO agentbase_app;
DO $$
DECLARE
    v_rel regclass;
BEGIN
    GRANT INSERT ON agentbase.token_ledger TO agentbase_app;
    FOR v_rel IN SELECT i.inhrelid::regclass FROM pg_inherits i
                  WHERE i.inhparent = 'agentbase.token_ledger'::regclass LOOP
        EXECUTE format('GRANT INSERT ON %s TO agentbase_app', v_rel);
    END LOOP;
END
$$;

-- The token functions and the batch without their checks in front.
DROP FUNCTION agentbase.usage_apply(jsonb);
ALTER FUNCTION agentbase.usage_apply_unchecked(jsonb) RENAME TO usage_apply;
-- usage_settle of 0010, without the bound
CREATE OR REPLACE FUNCTION agentbase.usage_settle(s agentbase.usage_state, p jsonb) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    h agentbase.token_holds;
    v_charge jsonb;
BEGIN
    s := agentbase.usage_take_hold(s, (p ->> 'id')::uuid, 'settled');
    IF s.result IS NOT NULL THEN
        RETURN s;
    END IF;
    h := s.hold;
    -- The hold is given back first, so the charge sees what the wallet really has.
    s := agentbase.usage_unhold(s, h, 'settlement');
    s := agentbase.usage_charge(s,
        p || jsonb_strip_nulls(jsonb_build_object('agent_id', h.agent_id, 'conversation_id', h.conversation_id,
                                                  'provider', h.provider, 'model', h.model)),
        agentbase.usage_price(h.model_id), h.id, h.idempotency_key, false);
    v_charge := s.result;
    s.result := jsonb_build_object('status', 200, 'body',
        jsonb_build_object('id', h.id, 'status', 'settled', 'user_id', h.user_id,
                           'held_tokens', h.amount, 'released_tokens', h.amount)
        || (v_charge -> 'body'));
    PERFORM agentbase.usage_close_hold(h, 'settled', s.result, (v_charge #>> '{body,ai_request_id}')::uuid);
    s.result := s.result || jsonb_build_object('_rollup', v_charge -> '_rollup');
    RETURN s;
END
$$;
DROP FUNCTION agentbase.auto_allocate_tokens_for_level(uuid, text);
ALTER FUNCTION agentbase.auto_allocate_tokens_for_level_unchecked(uuid, text) RENAME TO auto_allocate_tokens_for_level;
DROP FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text);
ALTER FUNCTION agentbase.adjust_user_tokens_unchecked(uuid, bigint, text, text, text, text, text, text, jsonb, text)
    RENAME TO adjust_user_tokens;
DROP FUNCTION agentbase.billing_check(uuid);
ALTER FUNCTION agentbase.usage_rollup() SECURITY INVOKER RESET search_path;
ALTER FUNCTION agentbase.usage_expire_holds(integer) SECURITY INVOKER RESET search_path;

-- The key lookup of 0010.
DROP FUNCTION agentbase.auth_lookup_key(text);
CREATE FUNCTION agentbase.auth_lookup_key(p_key_hash text)
RETURNS TABLE (key_id uuid, tenant_id uuid, user_id uuid, scopes text[], expires_at timestamptz,
               revoked_at timestamptz, is_platform boolean, tenant_status text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT k.id, k.tenant_id, k.user_id, k.scopes, k.expires_at, k.revoked_at, false, t.status
      FROM agentbase.api_keys k
      JOIN agentbase.tenants t ON t.id = k.tenant_id
      LEFT JOIN agentbase.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
     WHERE k.key_hash = p_key_hash
       AND t.deleted_at IS NULL AND t.status <> 'deleted'
       AND (k.user_id IS NULL OR (u.deleted_at IS NULL AND u.status = 'active'))
    UNION ALL
    SELECT p.id, NULL, NULL, p.scopes, p.expires_at, p.revoked_at, true, NULL
      FROM agentbase.platform_api_keys p
     WHERE p.key_hash = p_key_hash
    LIMIT 1;
END
$$;
COMMENT ON FUNCTION agentbase.auth_lookup_key(text) IS
    'authentication: the tenant or platform key with this SHA-256 hash (nothing if unknown, or its tenant or user is gone)';
REVOKE ALL ON FUNCTION agentbase.auth_lookup_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.auth_lookup_key(text) TO agentbase_app;

DROP TRIGGER trg_issue ON agentbase.api_keys;
DROP FUNCTION agentbase.api_keys_issue();
ALTER TABLE agentbase.api_keys DROP COLUMN issued_by_user_id;

DROP TRIGGER trg_refs ON agentbase.ai_requests;
DROP TRIGGER trg_refs ON agentbase.usage_metrics;
DROP TRIGGER trg_refs ON agentbase.tool_executions;
DROP TRIGGER trg_refs ON agentbase.tasks;
DROP TRIGGER trg_refs ON agentbase.workflows;
DROP FUNCTION agentbase.refs_check();

DROP TRIGGER trg_guard ON agentbase.users;
DROP FUNCTION agentbase.users_guard();

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              WHERE t.tgname = 'trg_owner_fill' AND t.tgparentid = 0 AND c.relnamespace = 'agentbase'::regnamespace LOOP
        EXECUTE format('DROP TRIGGER trg_owner_fill ON %s', r.rel);
    END LOOP;
    FOR r IN SELECT format('%I.%I', schemaname, tablename) AS rel, policyname FROM pg_policies
              WHERE schemaname = 'agentbase'
                AND policyname IN ('member_select', 'member_insert', 'member_update', 'member_delete',
                                   'viewer_select', 'viewer_insert', 'viewer_update', 'viewer_delete',
                                   'platform_insert', 'platform_update', 'platform_delete') LOOP
        EXECUTE format('DROP POLICY %I ON %s', r.policyname, r.rel);
    END LOOP;
END
$$;
DROP FUNCTION agentbase.owner_fill();
DROP INDEX agentbase.idx_conversations_user_id_id, agentbase.idx_generated_content_user_id_id,
    agentbase.idx_api_keys_user_id_id, agentbase.idx_user_budgets_user_id_id, agentbase.idx_usage_metrics_user_id_id,
    agentbase.idx_rag_queries_user_id_id, agentbase.idx_mcp_tool_executions_user_id_id;

-- secure_partition of 0001.
CREATE OR REPLACE FUNCTION agentbase.secure_partition(p_part regclass, p_parent regclass, p_has_tenant boolean)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_has_tenant THEN
        PERFORM agentbase.enable_tenant_rls(p_part);
    END IF;
    IF NOT has_table_privilege('agentbase_app', p_parent, 'UPDATE') THEN
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM agentbase_app', p_part);
    END IF;
    IF NOT has_table_privilege('agentbase_app', p_parent, 'INSERT') THEN
        EXECUTE format('REVOKE INSERT ON %s FROM agentbase_app', p_part);
    END IF;
END
$$;

DROP FUNCTION agentbase.apply_role_access(text);
DROP FUNCTION agentbase.apply_role_access(regclass, agentbase.role_access);
DROP FUNCTION agentbase.role_condition(text, text, boolean, regclass);
DROP FUNCTION agentbase.role_own_condition(text, boolean);
DROP FUNCTION agentbase.my_projects(text);
DROP FUNCTION agentbase.role_cap(text);
DROP FUNCTION agentbase.explicit_scopes();
DROP FUNCTION agentbase.role_scopes(text);
DROP TABLE agentbase.role_access;

-- set_request_context of 0001.
DROP FUNCTION agentbase.set_request_context(uuid, text, text, text, text, text, boolean, uuid, text, boolean);
CREATE FUNCTION agentbase.set_request_context(
    p_tenant_id uuid,
    p_actor_type text DEFAULT NULL,
    p_actor_id text DEFAULT NULL,
    p_ip text DEFAULT NULL,
    p_user_agent text DEFAULT NULL,
    p_request_id text DEFAULT NULL,
    p_platform_admin boolean DEFAULT false
) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT set_config('agentbase.tenant_id', coalesce(p_tenant_id::text, ''), true),
           set_config('agentbase.actor_type', coalesce(p_actor_type, ''), true),
           set_config('agentbase.actor_id', coalesce(p_actor_id, ''), true),
           set_config('agentbase.ip', coalesce(p_ip, ''), true),
           set_config('agentbase.user_agent', coalesce(p_user_agent, ''), true),
           set_config('agentbase.request_id', coalesce(p_request_id, ''), true),
           set_config('agentbase.platform_admin', CASE WHEN p_platform_admin THEN 'on' ELSE '' END, true);
$$;
COMMENT ON FUNCTION agentbase.set_request_context(uuid, text, text, text, text, text, boolean) IS
    'sets tenant, actor, IP, user agent and request id for the current transaction';
GRANT EXECUTE ON FUNCTION agentbase.set_request_context(uuid, text, text, text, text, text, boolean) TO PUBLIC;

DROP FUNCTION agentbase.current_may_bill();
DROP FUNCTION agentbase.current_user_role();
DROP FUNCTION agentbase.current_user_id();

RESET ROLE;
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['agentbase_service', 'agentbase_viewer', 'agentbase_member'] LOOP
        BEGIN
            EXECUTE format('DROP ROLE IF EXISTS %I', r);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role % is still used elsewhere on this server; kept', r;
        END;
    END LOOP;
END
$$;
