-- Access inside a tenant: who may see and change what, enforced by PostgreSQL.
--
-- Three layers (DESIGN.md, "Access model"):
--   1. tenant: RLS on agentbase.tenant_id (0001: tenant_isolation on every tenant table);
--   2. the user inside the tenant: this migration;
--   3. money and limits: platform-governed, changed only through SECURITY DEFINER entry
--      points (this migration).
--
-- Roles. A request acts with one of these, carried in the request context:
--   viewer    reads what is theirs and what the tenant shares; writes nothing
--   user      the same, and writes their own rows
--   admin     everything in the tenant that is not platform-governed
--   platform  the platform admin (the seeds' super admin): every tenant, and billing
-- set_request_context() switches the transaction to a database role for the first two:
--   agentbase_member   (user)   member of agentbase_app: its privileges and tenant policy,
--                              narrowed by restrictive policies to the user's own rows
--   agentbase_viewer   (viewer) member of agentbase_member, narrowed further: no writes
-- so that a per-user policy is a plain index condition (user_id = the acting user), not an
-- OR with "is an admin" that no index can serve. An admin request stays agentbase_app.
--
-- What each role may read and write on every table is one table, role_access, from which
-- the policies below, the scopes of sessions and keys (role_scopes; role_cap caps keys at
-- every use), docs/api.md's access table and the HTTP access matrix test are all derived.
-- A later migration that adds a table adds its row and calls apply_role_access().
--
-- Also here: owner columns filled from the context (owner_fill), references without a
-- foreign key checked within the tenant (refs_check), the guard on users' role, status and
-- level, who issued a key (a key acts with its user's or issuer's role at every use), and
-- the bound on what a settle may record against its reservation (usage_settle).
--
-- Logging in. The service logs in as agentbase_service (LOGIN, NOINHERIT: on its own it
-- has no privileges), becomes agentbase_app for its connections and one of the two roles
-- above per request. The migrating user gets the same memberships where it lacks them, so
-- a service started with the migrator's DATABASE_URL works too.
--
-- Privileges of agentbase_app, narrowed here: no direct writes on wallets, ledger, holds,
-- rollups or alert events (only the usage and token functions write them, as the owner);
-- quotas and budgets: their limits, never their counters; audit_logs: read only (the
-- audit trigger writes as the owner). PUBLIC executes nothing of agentbase's; the app
-- executes only the entry points and the helpers its policies, defaults and triggers
-- call. tests/sql/access.sql states the complete list.

RESET ROLE;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentbase_member') THEN
        CREATE ROLE agentbase_member NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentbase_viewer') THEN
        CREATE ROLE agentbase_viewer NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentbase_service') THEN
        CREATE ROLE agentbase_service LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT pg_has_role(current_user, 'agentbase_member', 'MEMBER') THEN
        EXECUTE format('GRANT agentbase_member TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'agentbase_viewer', 'MEMBER') THEN
        EXECUTE format('GRANT agentbase_viewer TO %I', current_user);
    END IF;
END
$$;
GRANT agentbase_app TO agentbase_member;
GRANT agentbase_member TO agentbase_viewer;
GRANT agentbase_app, agentbase_member, agentbase_viewer TO agentbase_service;

-- Functions created from now on are not executable by PUBLIC; each gets its own grant.
ALTER DEFAULT PRIVILEGES FOR ROLE agentbase_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

SET LOCAL ROLE agentbase_owner;
SET LOCAL search_path TO agentbase, public;

-- ------------------------------------------------------------------------------------
-- The request context: the acting user and role
-- ------------------------------------------------------------------------------------

CREATE FUNCTION agentbase.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('agentbase.user_id', true), '')::uuid
$$;
COMMENT ON FUNCTION agentbase.current_user_id() IS
    'the user the current request acts as (NULL: a service key, the platform or the system)';

CREATE FUNCTION agentbase.current_user_role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('agentbase.role', true), '')
$$;
COMMENT ON FUNCTION agentbase.current_user_role() IS
    'role of the current request: viewer, user, admin or platform (NULL: the system)';

-- May the current request change what is platform-governed (plans, tenant quotas, levels
-- that grant tokens, wallet credits)? The platform admin, or a tenant key to which the
-- platform granted billing:admin.
CREATE FUNCTION agentbase.current_may_bill() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT agentbase.is_platform_admin()
        OR coalesce(current_setting('agentbase.billing', true), '') = 'on'
$$;
COMMENT ON FUNCTION agentbase.current_may_bill() IS
    'true when the request may change platform-governed limits and credits (platform admin or billing:admin)';

DROP FUNCTION agentbase.set_request_context(uuid, text, text, text, text, text, boolean);
-- Sets the whole request context for the current transaction and, for the roles user and
-- viewer, becomes the database role that confines the transaction to the user's rows.
-- Call it first in a transaction; COMMIT or ROLLBACK ends all of it.
CREATE FUNCTION agentbase.set_request_context(
    p_tenant_id uuid,
    p_actor_type text DEFAULT NULL,
    p_actor_id text DEFAULT NULL,
    p_ip text DEFAULT NULL,
    p_user_agent text DEFAULT NULL,
    p_request_id text DEFAULT NULL,
    p_platform_admin boolean DEFAULT false,
    p_user_id uuid DEFAULT NULL,
    p_role text DEFAULT NULL,
    p_billing boolean DEFAULT false
) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_role IS NOT NULL AND p_role NOT IN ('viewer', 'user', 'admin', 'platform') THEN
        RAISE EXCEPTION 'unknown role %', p_role USING ERRCODE = '22023';
    END IF;
    IF p_role IN ('viewer', 'user') AND p_user_id IS NULL THEN
        RAISE EXCEPTION 'the role % needs a user', p_role USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('agentbase.tenant_id', coalesce(p_tenant_id::text, ''), true),
            set_config('agentbase.actor_type', coalesce(p_actor_type, ''), true),
            set_config('agentbase.actor_id', coalesce(p_actor_id, ''), true),
            set_config('agentbase.ip', coalesce(p_ip, ''), true),
            set_config('agentbase.user_agent', coalesce(p_user_agent, ''), true),
            set_config('agentbase.request_id', coalesce(p_request_id, ''), true),
            set_config('agentbase.platform_admin', CASE WHEN p_platform_admin THEN 'on' ELSE '' END, true),
            set_config('agentbase.user_id', coalesce(p_user_id::text, ''), true),
            set_config('agentbase.role', coalesce(p_role, ''), true),
            set_config('agentbase.billing', CASE WHEN p_billing THEN 'on' ELSE '' END, true);
    IF p_role = 'user' THEN
        PERFORM set_config('role', 'agentbase_member', true);
    ELSIF p_role = 'viewer' THEN
        PERFORM set_config('role', 'agentbase_viewer', true);
    END IF;
END
$$;
COMMENT ON FUNCTION agentbase.set_request_context(uuid, text, text, text, text, text, boolean, uuid, text, boolean) IS
    'sets tenant, actor, user, role, IP, user agent and request id for the transaction; user and viewer become agentbase_member / agentbase_viewer';

-- ------------------------------------------------------------------------------------
-- role_access: what each role may read and write, table by table and operation by operation
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.role_access (
    resource    text NOT NULL,
    table_name  text,
    owned_by    text,
    user_read   text NOT NULL,
    user_write  text NOT NULL,
    viewer_read text NOT NULL,
    admin_write text NOT NULL,
    note        text NOT NULL,
    CONSTRAINT role_access_pkey PRIMARY KEY (resource),
    CONSTRAINT uq_role_access_table_name UNIQUE (table_name),
    CONSTRAINT chk_role_access_resource CHECK (resource ~ '^[a-z][a-z0-9-]{0,62}$'),
    CONSTRAINT chk_role_access_owned_by CHECK (owned_by IN
        ('self', 'user_id', 'owner_id', 'conversation', 'budget', 'project', 'project_owner')),
    CONSTRAINT chk_role_access_user_read CHECK (user_read IN ('all', 'own', 'none')),
    CONSTRAINT chk_role_access_user_write CHECK (user_write IN ('all', 'own', 'none')),
    CONSTRAINT chk_role_access_viewer_read CHECK (viewer_read IN ('all', 'own', 'none')),
    CONSTRAINT chk_role_access_admin_write CHECK (admin_write IN ('all', 'platform', 'none')),
    -- "own" needs to know whose a row is; a viewer never sees more than a user
    CONSTRAINT chk_role_access_own CHECK (
        owned_by IS NOT NULL OR 'own' NOT IN (user_read, user_write, viewer_read)),
    CONSTRAINT chk_role_access_viewer CHECK (
        viewer_read = 'none' OR user_read = 'all' OR (user_read = 'own' AND viewer_read = 'own')),
    CONSTRAINT chk_role_access_note CHECK (length(btrim(note)) BETWEEN 1 AND 300)
);
COMMENT ON TABLE agentbase.role_access IS
    'what the roles viewer, user and admin may read and write on each resource; policies, scopes, docs and tests derive from it';
COMMENT ON COLUMN agentbase.role_access.resource IS 'API resource (path segment and scope prefix), e.g. conversations, usage';
COMMENT ON COLUMN agentbase.role_access.table_name IS 'table in schema agentbase it governs (NULL: an operation, no table)';
COMMENT ON COLUMN agentbase.role_access.owned_by IS
    'how a row belongs to a user: self (users.id), user_id, owner_id, conversation, budget, project (owner or collaborator), project_owner';
COMMENT ON COLUMN agentbase.role_access.user_read IS 'what a user reads: all (the tenant''s), own, none';
COMMENT ON COLUMN agentbase.role_access.user_write IS 'what a user writes: all, own, none';
COMMENT ON COLUMN agentbase.role_access.viewer_read IS 'what a viewer reads: all, own, none (viewers write nothing)';
COMMENT ON COLUMN agentbase.role_access.admin_write IS
    'what a tenant admin writes: all, platform (only with billing:admin or as the platform), none (only the database writes)';
COMMENT ON COLUMN agentbase.role_access.note IS 'why, in a few words (shown in docs/api.md)';
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON agentbase.role_access FROM agentbase_app;

INSERT INTO agentbase.role_access
    (resource, table_name, owned_by, user_read, user_write, viewer_read, admin_write, note) VALUES
-- tenancy
('tenants', 'tenants', NULL, 'all', 'none', 'all', 'all', 'the own tenant; its plan, limits, status and slug only the platform changes (tenants_guard)'),
('users', 'users', 'self', 'own', 'own', 'own', 'all', 'a user sees and edits only their own profile; role, status and level are not theirs to change'),
('api-keys', 'api_keys', 'user_id', 'own', 'own', 'own', 'all', 'own keys and sessions; keys for others or without a user are issued by admins'),
('audit-logs', 'audit_logs', NULL, 'none', 'none', 'none', 'none', 'the tenant''s trail, for admins; written by the audit trigger'),
-- agents
('agents', 'agents', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant, configured by admins'),
('agent-assignments', 'agent_assignments', 'user_id', 'own', 'none', 'own', 'all', 'who may use which agent: set by admins'),
('conversations', 'conversations', 'user_id', 'own', 'own', 'own', 'all', 'private to their user'),
('messages', 'messages', 'conversation', 'own', 'own', 'own', 'all', 'belong to their conversation'),
('tool-executions', 'tool_executions', 'conversation', 'own', 'own', 'own', 'all', 'belong to their conversation'),
('generated-content', 'generated_content', 'user_id', 'own', 'own', 'own', 'all', 'private to their user'),
-- accounting
('ai-providers', 'ai_providers', NULL, 'all', 'none', 'all', 'none', 'reference data'),
('ai-models', 'ai_models', NULL, 'all', 'none', 'all', 'none', 'reference data'),
('ai-model-prices', 'ai_model_prices', NULL, 'all', 'none', 'all', 'none', 'reference data'),
('subscription-plans', 'subscription_plans', NULL, 'all', 'none', 'all', 'none', 'reference data'),
('ai-requests', 'ai_requests', 'user_id', 'own', 'own', 'own', 'all', 'one row per LLM call, of its user'),
('usage-metrics', 'usage_metrics', 'user_id', 'own', 'own', 'own', 'all', 'of their user'),
('quotas', 'quotas', 'user_id', 'own', 'none', 'own', 'all', 'limits set by admins (below the plan); counters only by the database'),
('tenant-quotas', 'tenant_quotas', NULL, 'none', 'none', 'none', 'platform', 'the plan''s limits: platform-governed'),
('token-wallets', 'token_wallets', 'user_id', 'own', 'none', 'own', 'none', 'balances change only with their ledger entry'),
('token-ledger', 'token_ledger', 'user_id', 'own', 'none', 'own', 'none', 'append-only, written by the token functions'),
('token-holds', 'token_holds', 'user_id', 'own', 'none', 'own', 'none', 'reservations, written by the usage functions'),
('user-budgets', 'user_budgets', 'user_id', 'own', 'none', 'own', 'all', 'set by admins; spending counted by the database'),
('budget-alert-events', 'budget_alert_events', 'budget', 'own', 'none', 'own', 'none', 'fired by the database, once per threshold and period'),
('system-alerts', 'system_alerts', NULL, 'none', 'none', 'none', 'all', 'operations, for admins'),
('cost-tracking', 'cost_tracking', 'user_id', 'own', 'none', 'own', 'none', 'rollups written by the database'),
('billing-records', 'billing_records', NULL, 'none', 'none', 'none', 'all', 'the tenant''s invoices, for admins'),
('performance-metrics', 'performance_metrics', NULL, 'none', 'none', 'none', 'all', 'operations, for admins'),
('system-metrics', 'system_metrics', NULL, 'none', 'none', 'none', 'none', 'platform metrics (global)'),
-- workflows
('workflows', 'workflows', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant, defined by admins'),
('workflow-executions', 'workflow_executions', NULL, 'all', 'none', 'all', 'all', 'runs of shared workflows'),
('workflow-step-executions', 'workflow_step_executions', NULL, 'all', 'none', 'all', 'all', 'steps of those runs'),
('quality-gates', 'quality_gates', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
('quality-gate-results', 'quality_gate_results', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
('tasks', 'tasks', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
('engines', 'engines', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
('engine-assignments', 'engine_assignments', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
('routing-strategies', 'routing_strategies', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
('workers', 'workers', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
('orchestration-runs', 'orchestration_runs', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
-- knowledge
('collections', 'collections', NULL, 'all', 'none', 'all', 'all', 'knowledge bases shared by the tenant'),
('documents', 'documents', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
('chunks', 'chunks', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant'),
('rag-queries', 'rag_queries', 'user_id', 'own', 'own', 'own', 'all', 'of their user'),
-- mcp
('mcp-servers', 'mcp_servers', NULL, 'all', 'none', 'all', 'none', 'the public registry'),
('tenant-mcp-servers', 'tenant_mcp_servers', NULL, 'all', 'none', 'all', 'all', 'the tenant''s private servers'),
('mcp-server-configs', 'mcp_server_configs', NULL, 'all', 'none', 'all', 'all', 'shared by the tenant, configured by admins'),
('mcp-tool-executions', 'mcp_tool_executions', 'user_id', 'own', 'own', 'own', 'all', 'of their user'),
-- workspaces
('project-templates', 'project_templates', NULL, 'all', 'none', 'all', 'none', 'reference data'),
('projects', 'projects', 'owner_id', 'own', 'own', 'own', 'all', 'the owner''s and the collaborators''; editors write'),
('project-collaborators', 'project_collaborators', 'project_owner', 'own', 'own', 'own', 'all', 'seen by the project''s members, managed by its owner'),
('project-files', 'project_files', 'project', 'own', 'own', 'own', 'all', 'the project''s members see them, editors write'),
('containers', 'containers', 'project', 'own', 'own', 'own', 'all', 'the project''s members see them, editors write'),
('git-branches', 'git_branches', 'project', 'own', 'own', 'own', 'all', 'the project''s members see them, editors write'),
-- regions
('regions', 'regions', NULL, 'all', 'none', 'all', 'none', 'reference data'),
('tenant-regions', 'tenant_regions', NULL, 'none', 'none', 'none', 'all', 'operations, for admins'),
('replication-status', 'replication_status', NULL, 'none', 'none', 'none', 'none', 'written by the platform'),
('cross-region-sync-logs', 'cross_region_sync_logs', NULL, 'none', 'none', 'none', 'all', 'appended by the replication jobs, read by admins'),
-- operations without a table of their own
('usage', NULL, NULL, 'all', 'all', 'all', 'all', 'reserve, settle and release for oneself; the summary shows what RLS lets one see'),
('auth', NULL, NULL, 'all', 'all', 'all', 'all', 'signing in and one''s own password'),
('billing', NULL, NULL, 'none', 'none', 'none', 'platform', 'wallet credits and levels: platform-governed (billing:admin)'),
('secrets', NULL, NULL, 'none', 'none', 'none', 'platform', 'decrypting stored secrets: only with an explicit secrets:read');

-- The scopes of a role: what a session of that role carries, and (see role_cap) what caps
-- every key acting for a user of that role. For an admin, `admin`: every scope except those
-- that must be granted explicitly (billing:admin, secrets:read; see src/api/auth.c).
CREATE FUNCTION agentbase.role_scopes(p_role text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_role IN ('admin', 'platform') THEN ARRAY['admin']
        WHEN p_role = 'user' THEN ARRAY(
            SELECT s FROM agentbase.role_access a,
                   LATERAL (VALUES (a.resource || ':read', a.user_read),
                                   (a.resource || ':write', a.user_write)) v(s, access)
             WHERE v.access <> 'none' ORDER BY s)
        -- a viewer writes nothing but their own password (auth:write)
        WHEN p_role = 'viewer' THEN ARRAY(
            SELECT s FROM (SELECT a.resource || ':read' FROM agentbase.role_access a WHERE a.viewer_read <> 'none'
                           UNION ALL SELECT 'auth:write') v(s) ORDER BY s)
        ELSE '{}'::text[]
    END
$$;
COMMENT ON FUNCTION agentbase.role_scopes(text) IS
    'the scopes of a role: what its sessions carry';

-- The scopes that `admin` does not grant: only a grant by name gives them, and only the
-- platform admin grants them (api_keys_issue). src/api/auth.c's explicit_scopes is the
-- same list (tests/api/test_roles.c checks that the service treats each of these as explicit).
CREATE FUNCTION agentbase.explicit_scopes() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['billing:admin', 'secrets:read']
$$;
COMMENT ON FUNCTION agentbase.explicit_scopes() IS
    'scopes that admin does not grant and only the platform admin hands out';

-- What a key acting with a role may at most do: the role's scopes, and for an admin also the
-- explicit scopes, which a key has only when the platform granted them by name.
CREATE FUNCTION agentbase.role_cap(p_role text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_role IN ('admin', 'platform') THEN 'admin'::text || agentbase.explicit_scopes()
                ELSE agentbase.role_scopes(p_role) END
$$;
COMMENT ON FUNCTION agentbase.role_cap(text) IS
    'the most a key acting with a role may do (its scopes are intersected with this at every use)';

-- ------------------------------------------------------------------------------------
-- Projects: what the acting user may see (owner or collaborator) and write (owner or editor)
-- ------------------------------------------------------------------------------------

-- As the owner, so that the policies of projects and project_collaborators can use it
-- without reading each other through RLS (which would recurse).
CREATE FUNCTION agentbase.my_projects(p_at_least text) RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
    SELECT coalesce(array_agg(id), '{}') FROM (
        SELECT p.id FROM agentbase.projects p
         WHERE p.tenant_id = agentbase.current_tenant_id() AND p.owner_id = agentbase.current_user_id()
        UNION
        SELECT c.project_id FROM agentbase.project_collaborators c
         WHERE c.tenant_id = agentbase.current_tenant_id() AND c.user_id = agentbase.current_user_id()
           AND p_at_least <> 'owner'
           AND (p_at_least = 'viewer' OR c.role IN ('owner', 'editor'))
    ) x
$$;
COMMENT ON FUNCTION agentbase.my_projects(text) IS
    'projects the acting user owns or collaborates on with at least the given role (viewer, editor, owner)';

-- ------------------------------------------------------------------------------------
-- Policies from role_access
-- ------------------------------------------------------------------------------------

-- The condition "this row is the acting user's" for a way of belonging. These three
-- functions are the owner's (later migrations call apply_role_access for their tables);
-- nobody else executes them.
CREATE FUNCTION agentbase.role_own_condition(p_owned_by text, p_write boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_owned_by
        WHEN 'self' THEN 'id = agentbase.current_user_id()'
        WHEN 'user_id' THEN 'user_id = agentbase.current_user_id()'
        WHEN 'owner_id' THEN CASE WHEN p_write
            THEN 'id = ANY ((SELECT agentbase.my_projects(''editor''))::uuid[]) OR owner_id = agentbase.current_user_id()'
            ELSE 'id = ANY ((SELECT agentbase.my_projects(''viewer''))::uuid[])' END
        -- through the parent row, which its own policy decides on
        WHEN 'conversation' THEN 'EXISTS (SELECT 1 FROM agentbase.conversations c '
                                 'WHERE c.tenant_id = ' || '%1$s.tenant_id AND c.id = %1$s.conversation_id)'
        WHEN 'budget' THEN 'EXISTS (SELECT 1 FROM agentbase.user_budgets b '
                           'WHERE b.tenant_id = %1$s.tenant_id AND b.id = %1$s.budget_id)'
        WHEN 'project' THEN CASE WHEN p_write
            THEN 'project_id = ANY ((SELECT agentbase.my_projects(''editor''))::uuid[])'
            ELSE 'project_id = ANY ((SELECT agentbase.my_projects(''viewer''))::uuid[])' END
        WHEN 'project_owner' THEN CASE WHEN p_write
            THEN 'project_id = ANY ((SELECT agentbase.my_projects(''owner''))::uuid[])'
            ELSE 'project_id = ANY ((SELECT agentbase.my_projects(''viewer''))::uuid[])' END
    END
$$;

COMMENT ON FUNCTION agentbase.role_own_condition(text, boolean) IS
    'policy condition: the row belongs to the acting user (by role_access.owned_by), to read or to write';

CREATE FUNCTION agentbase.role_condition(p_access text, p_owned_by text, p_write boolean, p_table regclass)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_access
        WHEN 'all' THEN 'true'
        WHEN 'none' THEN 'false'
        ELSE format(agentbase.role_own_condition(p_owned_by, p_write), p_table)
    END
$$;
COMMENT ON FUNCTION agentbase.role_condition(text, text, boolean, regclass) IS
    'policy condition for an access of role_access (all, own, none) on a table';

-- Restrictive policies narrow the permissive tenant policy: for agentbase_member (and so
-- for agentbase_viewer, its member) the user's rows; for agentbase_viewer, no writes. A
-- platform admin's policies (tenants) and the owner's are untouched.
CREATE FUNCTION agentbase.apply_role_access(p_table regclass, a agentbase.role_access) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_read text := agentbase.role_condition(a.user_read, a.owned_by, false, p_table);
    v_write text := agentbase.role_condition(a.user_write, a.owned_by, true, p_table);
    v_viewer text := agentbase.role_condition(a.viewer_read, a.owned_by, false, p_table);
BEGIN
    EXECUTE format('CREATE POLICY member_select ON %s AS RESTRICTIVE FOR SELECT TO agentbase_member USING (%s)',
                   p_table, v_read);
    EXECUTE format('CREATE POLICY member_insert ON %s AS RESTRICTIVE FOR INSERT TO agentbase_member WITH CHECK (%s)',
                   p_table, v_write);
    EXECUTE format('CREATE POLICY member_update ON %s AS RESTRICTIVE FOR UPDATE TO agentbase_member '
                   'USING (%s) WITH CHECK (%s)', p_table, v_write, v_write);
    EXECUTE format('CREATE POLICY member_delete ON %s AS RESTRICTIVE FOR DELETE TO agentbase_member USING (%s)',
                   p_table, v_write);
    IF v_viewer <> v_read THEN
        EXECUTE format('CREATE POLICY viewer_select ON %s AS RESTRICTIVE FOR SELECT TO agentbase_viewer USING (%s)',
                       p_table, v_viewer);
    END IF;
    EXECUTE format('CREATE POLICY viewer_insert ON %s AS RESTRICTIVE FOR INSERT TO agentbase_viewer WITH CHECK (false)',
                   p_table);
    EXECUTE format('CREATE POLICY viewer_update ON %s AS RESTRICTIVE FOR UPDATE TO agentbase_viewer USING (false)',
                   p_table);
    EXECUTE format('CREATE POLICY viewer_delete ON %s AS RESTRICTIVE FOR DELETE TO agentbase_viewer USING (false)',
                   p_table);
    IF a.admin_write = 'platform' THEN
        EXECUTE format('CREATE POLICY platform_insert ON %s AS RESTRICTIVE FOR INSERT TO agentbase_app '
                       'WITH CHECK (agentbase.current_may_bill())', p_table);
        EXECUTE format('CREATE POLICY platform_update ON %s AS RESTRICTIVE FOR UPDATE TO agentbase_app '
                       'USING (agentbase.current_may_bill())', p_table);
        EXECUTE format('CREATE POLICY platform_delete ON %s AS RESTRICTIVE FOR DELETE TO agentbase_app '
                       'USING (agentbase.current_may_bill())', p_table);
    END IF;
END
$$;

COMMENT ON FUNCTION agentbase.apply_role_access(regclass, agentbase.role_access) IS
    'creates the restrictive role policies of one role_access row on one table';

-- The policies of one resource of role_access on its table and on every partition (which
-- is reachable by name), and the revocation of the service's writes where only the
-- database writes. A migration that adds a table adds its role_access row and calls this.
CREATE FUNCTION agentbase.apply_role_access(p_resource text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a agentbase.role_access;
    v_rel regclass;
BEGIN
    SELECT * INTO STRICT a FROM agentbase.role_access WHERE resource = p_resource;
    FOR v_rel IN SELECT c.oid::regclass FROM pg_class c
                  WHERE c.oid = format('agentbase.%I', a.table_name)::regclass
                 UNION ALL
                 SELECT i.inhrelid::regclass FROM pg_inherits i
                  WHERE i.inhparent = format('agentbase.%I', a.table_name)::regclass LOOP
        IF (SELECT relrowsecurity FROM pg_class WHERE oid = v_rel) THEN
            PERFORM agentbase.apply_role_access(v_rel, a);
        END IF;
        IF a.admin_write = 'none' THEN
            EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %s FROM agentbase_app', v_rel);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION agentbase.apply_role_access(text) IS
    'applies a resource''s role_access row to its table and partitions (policies, revoked writes)';

SELECT agentbase.apply_role_access(resource) FROM agentbase.role_access WHERE table_name IS NOT NULL;

-- New monthly partitions get their parent's role policies too.
CREATE OR REPLACE FUNCTION agentbase.secure_partition(p_part regclass, p_parent regclass, p_has_tenant boolean)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_pol record;
BEGIN
    IF p_has_tenant THEN
        PERFORM agentbase.enable_tenant_rls(p_part);
        -- the parent's other policies (role access), condition for condition
        FOR v_pol IN SELECT p.* FROM pg_policies p JOIN pg_class c ON c.relname = p.tablename
                       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = p.schemaname
                      WHERE c.oid = p_parent
                        AND p.policyname NOT IN ('tenant_isolation', 'owner_all', 'readonly_all') LOOP
            EXECUTE format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', v_pol.policyname, p_part,
                           v_pol.permissive, v_pol.cmd, array_to_string(v_pol.roles, ', '),
                           CASE WHEN v_pol.qual IS NOT NULL THEN format(' USING (%s)', v_pol.qual) ELSE '' END,
                           CASE WHEN v_pol.with_check IS NOT NULL THEN format(' WITH CHECK (%s)', v_pol.with_check)
                                ELSE '' END);
        END LOOP;
    END IF;
    IF NOT has_table_privilege('agentbase_app', p_parent, 'UPDATE') THEN
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM agentbase_app', p_part);
    END IF;
    IF NOT has_table_privilege('agentbase_app', p_parent, 'INSERT') THEN
        EXECUTE format('REVOKE INSERT ON %s FROM agentbase_app', p_part);
    END IF;
END
$$;

-- A user's list (keyset by id) is then one index range: (tenant_id, user_id, id), so the
-- policy is an index condition and the order needs no sort, however many rows the tenant
-- has. (token_holds, token_ledger and ai_requests are written on the accounting hot path
-- and keep their indexes; a user lists them by time through (tenant_id, user_id, ...).)
CREATE INDEX idx_conversations_user_id_id ON agentbase.conversations (tenant_id, user_id, id);
CREATE INDEX idx_generated_content_user_id_id ON agentbase.generated_content (tenant_id, user_id, id);
CREATE INDEX idx_api_keys_user_id_id ON agentbase.api_keys (tenant_id, user_id, id);
CREATE INDEX idx_user_budgets_user_id_id ON agentbase.user_budgets (tenant_id, user_id, id);
CREATE INDEX idx_usage_metrics_user_id_id ON agentbase.usage_metrics (tenant_id, user_id, id);
CREATE INDEX idx_rag_queries_user_id_id ON agentbase.rag_queries (tenant_id, user_id, id);
CREATE INDEX idx_mcp_tool_executions_user_id_id ON agentbase.mcp_tool_executions (tenant_id, user_id, id);

-- ------------------------------------------------------------------------------------
-- Owner columns: filled from the context, never another user's for a non-admin
-- ------------------------------------------------------------------------------------

-- BEFORE INSERT OR UPDATE trigger; TG_ARGV[0] is the owner column. A request acting as a
-- user who leaves it empty owns the row; a user or viewer naming someone else is refused
-- with the field's name (the policy would refuse too, without saying why).
CREATE FUNCTION agentbase.owner_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_col text := TG_ARGV[0];
    v_me uuid := agentbase.current_user_id();
    v_new text := to_jsonb(NEW) ->> v_col;
BEGIN
    IF v_me IS NULL THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' AND v_new IS NULL THEN
        RETURN jsonb_populate_record(NEW, jsonb_build_object(v_col, v_me));
    END IF;
    IF agentbase.current_user_role() IN ('user', 'viewer')
       AND v_new IS DISTINCT FROM v_me::text
       AND (TG_OP = 'INSERT' OR v_new IS DISTINCT FROM to_jsonb(OLD) ->> v_col) THEN
        RAISE EXCEPTION 'field % must be your own user id: only admins act for other users', v_col
              USING ERRCODE = '42501', COLUMN = v_col;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.owner_fill() IS
    'BEFORE trigger: an owner column defaults to the acting user and cannot name another user unless an admin acts';

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT table_name, CASE owned_by WHEN 'owner_id' THEN 'owner_id' ELSE 'user_id' END AS col
               FROM agentbase.role_access
              WHERE owned_by IN ('user_id', 'owner_id') AND (user_write = 'own' OR table_name = 'api_keys') LOOP
        EXECUTE format('CREATE TRIGGER trg_owner_fill BEFORE INSERT OR UPDATE ON agentbase.%I '
                       'FOR EACH ROW EXECUTE FUNCTION agentbase.owner_fill(%L)', r.table_name, r.col);
    END LOOP;
END
$$;

-- ------------------------------------------------------------------------------------
-- References without a foreign key: checked within the tenant
-- ------------------------------------------------------------------------------------

-- BEFORE INSERT OR UPDATE trigger for the references a client writes that no foreign key
-- covers (ids in arrays, and the logs' references): TG_ARGV are column:table pairs; every
-- id (each element of an array) must name a row of that table in the row's tenant that the
-- writer can see. Rows the database itself writes as the owner (the usage functions'
-- ai_requests, on the hot path) skip the trigger: they check their references themselves.
CREATE FUNCTION agentbase.refs_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_row jsonb := to_jsonb(NEW);
    v_old jsonb := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END;
    v_arg text;
    v_col text;
    v_table text;
    v_ids uuid[];
    v_found int;
BEGIN
    FOREACH v_arg IN ARRAY TG_ARGV LOOP
        v_col := split_part(v_arg, ':', 1);
        v_table := split_part(v_arg, ':', 2);
        CONTINUE WHEN v_row -> v_col IS NULL OR jsonb_typeof(v_row -> v_col) = 'null'
                   OR (v_old IS NOT NULL AND v_old -> v_col = v_row -> v_col);
        IF jsonb_typeof(v_row -> v_col) = 'array' THEN
            v_ids := ARRAY(SELECT DISTINCT jsonb_array_elements_text(v_row -> v_col)::uuid);
        ELSE
            v_ids := ARRAY[(v_row ->> v_col)::uuid];
        END IF;
        EXECUTE format('SELECT count(*) FROM agentbase.%I WHERE tenant_id = $1 AND id = ANY ($2)', v_table)
           INTO v_found USING NEW.tenant_id, v_ids;
        IF v_found <> cardinality(v_ids) THEN
            RAISE EXCEPTION 'field % names no % of this tenant', v_col, v_table
                  USING ERRCODE = '23503', COLUMN = v_col;
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.refs_check() IS
    'BEFORE trigger: ids without a foreign key (arrays, log references) must name rows of the same tenant';

CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.ai_requests
    FOR EACH ROW WHEN (current_user <> 'agentbase_owner')
    EXECUTE FUNCTION agentbase.refs_check('user_id:users', 'agent_id:agents', 'conversation_id:conversations',
                                          'message_id:messages');
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.usage_metrics
    FOR EACH ROW EXECUTE FUNCTION agentbase.refs_check('user_id:users', 'agent_id:agents');
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.tool_executions
    FOR EACH ROW EXECUTE FUNCTION agentbase.refs_check('message_id:messages');
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.tasks
    FOR EACH ROW EXECUTE FUNCTION agentbase.refs_check('assigned_agent_ids:agents');
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.workflows
    FOR EACH ROW EXECUTE FUNCTION agentbase.refs_check('agent_ids:agents');

-- ------------------------------------------------------------------------------------
-- Users: role, status and level
-- ------------------------------------------------------------------------------------

-- A user may change their profile; an admin also role and status (of anyone in the
-- tenant); the level, which grants tokens, only the platform (or billing:admin).
CREATE FUNCTION agentbase.users_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_role text := agentbase.current_user_role();
BEGIN
    IF v_role IS NULL THEN
        RETURN NEW;  -- the system: migrations, seeds, maintenance
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.level <> 'free' AND NOT agentbase.current_may_bill() THEN
            RAISE EXCEPTION 'field level is platform-governed: a new user starts on free'
                  USING ERRCODE = '42501', COLUMN = 'level';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.level IS DISTINCT FROM OLD.level AND NOT agentbase.current_may_bill() THEN
        RAISE EXCEPTION 'field level is platform-governed: it needs the billing:admin scope'
              USING ERRCODE = '42501', COLUMN = 'level';
    END IF;
    IF v_role IN ('user', 'viewer') THEN
        IF NEW.role IS DISTINCT FROM OLD.role THEN
            RAISE EXCEPTION 'field role can be changed only by an admin' USING ERRCODE = '42501', COLUMN = 'role';
        ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
            RAISE EXCEPTION 'field status can be changed only by an admin' USING ERRCODE = '42501', COLUMN = 'status';
        ELSIF NEW.permissions IS DISTINCT FROM OLD.permissions THEN
            RAISE EXCEPTION 'field permissions can be changed only by an admin'
                  USING ERRCODE = '42501', COLUMN = 'permissions';
        ELSIF NEW.deleted_at IS DISTINCT FROM OLD.deleted_at THEN
            RAISE EXCEPTION 'a user can be deleted only by an admin' USING ERRCODE = '42501';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.users_guard() IS
    'BEFORE trigger: role, status, permissions and deletion are for admins; level for the platform (billing:admin)';
CREATE TRIGGER trg_guard BEFORE INSERT OR UPDATE ON agentbase.users
    FOR EACH ROW EXECUTE FUNCTION agentbase.users_guard();

-- ------------------------------------------------------------------------------------
-- API keys: who issued them, and what they may do at every use
-- ------------------------------------------------------------------------------------

ALTER TABLE agentbase.api_keys
    ADD COLUMN issued_by_user_id uuid,
    ADD CONSTRAINT fk_api_keys_issued_by_users FOREIGN KEY (tenant_id, issued_by_user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE;
CREATE INDEX idx_api_keys_issued_by_user_id ON agentbase.api_keys (tenant_id, issued_by_user_id);
COMMENT ON COLUMN agentbase.api_keys.issued_by_user_id IS
    'user whose request issued the key (NULL: the platform or the CLI); a key without a user acts with this user''s current role';

-- Records the issuing user, and refuses the explicit scopes to any request but the platform
-- admin's (the CLI and migrations, with no request, may grant them).
CREATE FUNCTION agentbase.api_keys_issue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF agentbase.current_actor_type() IS NOT NULL AND NOT agentbase.is_platform_admin()
       AND NEW.scopes && agentbase.explicit_scopes() THEN
        RAISE EXCEPTION 'field scopes: % are granted only by the platform admin',
              array_to_string(agentbase.explicit_scopes(), ' and ') USING ERRCODE = '42501', COLUMN = 'scopes';
    END IF;
    NEW.issued_by_user_id := agentbase.current_user_id();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.api_keys_issue() IS
    'BEFORE INSERT trigger: records the issuing user; only the platform grants the explicit scopes';
CREATE TRIGGER trg_issue BEFORE INSERT ON agentbase.api_keys
    FOR EACH ROW EXECUTE FUNCTION agentbase.api_keys_issue();

-- The key with this hash, with the role it acts with now: a user's key, its user's role; a
-- key without a user issued by a user, that user's role (and only while they are active);
-- one issued by the platform or the CLI, admin; a platform key, platform. The admins of
-- the tenant whose slug is 'platform' (the seeds' super admin; only a platform admin can
-- create or rename a tenant) are platform admins too: is_platform, role platform. The caller
-- checks expiry and revocation (to say why a key is refused), and caps the key's scopes
-- with role_cap. A session of a user who must change their password gets
-- must_change_password (it may do nothing else); the user's API keys are not held back.
DROP FUNCTION agentbase.auth_lookup_key(text);
CREATE FUNCTION agentbase.auth_lookup_key(p_key_hash text)
RETURNS TABLE (key_id uuid, tenant_id uuid, user_id uuid, scopes text[], expires_at timestamptz,
               revoked_at timestamptz, is_platform boolean, tenant_status text, role text,
               role_scopes text[], must_change_password boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT k.id, k.tenant_id, k.user_id, k.scopes, k.expires_at, k.revoked_at, s.super, t.status,
           CASE WHEN s.super THEN 'platform' ELSE coalesce(u.role, i.role, 'admin') END,
           agentbase.role_cap(CASE WHEN s.super THEN 'platform' ELSE coalesce(u.role, i.role, 'admin') END),
           coalesce(u.must_change_password AND k.kind = 'session', false)
      FROM agentbase.api_keys k
      JOIN agentbase.tenants t ON t.id = k.tenant_id
      LEFT JOIN agentbase.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
      LEFT JOIN agentbase.users i ON i.tenant_id = k.tenant_id AND i.id = k.issued_by_user_id
      CROSS JOIN LATERAL (SELECT coalesce(t.slug = 'platform' AND u.role = 'admin', false)) s(super)
     WHERE k.key_hash = p_key_hash
       AND t.deleted_at IS NULL AND t.status <> 'deleted'
       AND (k.user_id IS NULL OR (u.deleted_at IS NULL AND u.status = 'active'))
       AND (k.user_id IS NOT NULL OR k.issued_by_user_id IS NULL
            OR (i.deleted_at IS NULL AND i.status = 'active'))
    UNION ALL
    SELECT p.id, NULL, NULL, p.scopes, p.expires_at, p.revoked_at, true, NULL, 'platform',
           agentbase.role_cap('platform'), false
      FROM agentbase.platform_api_keys p
     WHERE p.key_hash = p_key_hash
    LIMIT 1;
END
$$;
COMMENT ON FUNCTION agentbase.auth_lookup_key(text) IS
    'authentication: the key with this SHA-256 hash and the role it acts with now (nothing if unknown, or its tenant, user or issuer is gone)';
REVOKE ALL ON FUNCTION agentbase.auth_lookup_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.auth_lookup_key(text) TO agentbase_app;

-- ------------------------------------------------------------------------------------
-- Money and limits: only through SECURITY DEFINER entry points
-- ------------------------------------------------------------------------------------

-- The usage batch and the token functions write wallets, ledger, holds and counters as the
-- owner, with a pinned search_path; the app role writes none of them directly.
ALTER FUNCTION agentbase.usage_expire_holds(integer) SECURITY DEFINER SET search_path = agentbase, pg_temp;
ALTER FUNCTION agentbase.usage_rollup() SECURITY DEFINER SET search_path = agentbase, pg_temp;

-- One check for both token entry points: a request (an actor in the context) needs
-- billing:admin or the platform; the user must be of the request's tenant; without a
-- tenant context only the owner's side (migrations, seeds, maintenance) may call.
CREATE FUNCTION agentbase.billing_check(p_user_id uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF agentbase.current_actor_type() IS NOT NULL AND agentbase.current_actor_type() <> 'system'
       AND NOT agentbase.current_may_bill() THEN
        RAISE EXCEPTION 'token credits and levels are platform-governed: this needs the billing:admin scope'
              USING ERRCODE = '42501';
    END IF;
    IF agentbase.current_tenant_id() IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM agentbase.users
                        WHERE tenant_id = agentbase.current_tenant_id() AND id = p_user_id AND deleted_at IS NULL) THEN
            RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'AB404';
        END IF;
    ELSIF NOT pg_has_role(session_user, 'agentbase_owner', 'MEMBER') THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'AB404';
    END IF;
END
$$;
COMMENT ON FUNCTION agentbase.billing_check(uuid) IS
    'refuses a token credit or level change the request may not make (billing:admin, same tenant)';

ALTER FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text)
    RENAME TO adjust_user_tokens_unchecked;
ALTER FUNCTION agentbase.auto_allocate_tokens_for_level(uuid, text) RENAME TO auto_allocate_tokens_for_level_unchecked;

CREATE FUNCTION agentbase.adjust_user_tokens(
    p_user_id uuid, p_amount bigint, p_direction text, p_reason text DEFAULT NULL,
    p_source text DEFAULT NULL, p_reference_type text DEFAULT NULL,
    p_reference_id text DEFAULT NULL, p_execution_id text DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}', p_idempotency_key text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    PERFORM agentbase.billing_check(p_user_id);
    RETURN agentbase.adjust_user_tokens_unchecked(p_user_id, p_amount, p_direction, p_reason, p_source,
                                                  p_reference_type, p_reference_id, p_execution_id,
                                                  p_metadata, p_idempotency_key);
END
$$;
COMMENT ON FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text) IS
    'credits, debits, reserves, releases or adjusts a user''s wallet with its ledger entry (platform-governed; see adjust_user_tokens_unchecked)';

CREATE FUNCTION agentbase.auto_allocate_tokens_for_level(p_user_id uuid, p_level text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    PERFORM agentbase.billing_check(p_user_id);
    RETURN agentbase.auto_allocate_tokens_for_level_unchecked(p_user_id, p_level);
END
$$;
COMMENT ON FUNCTION agentbase.auto_allocate_tokens_for_level(uuid, text) IS
    'sets a user''s level and grants its monthly tokens once a month (platform-governed)';

-- A settle records at most what its reservation allows: input tokens up to twice the
-- estimate (or 4,096 more, whichever is larger) and output tokens up to max_output_tokens
-- plus a tenth (at least 64), so that no settle can book an overage that exhausts the
-- tenant's plan for the month. (0010's usage_settle with the check after usage_take_hold.)
CREATE OR REPLACE FUNCTION agentbase.usage_settle(s agentbase.usage_state, p jsonb) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    h agentbase.token_holds;
    v_charge jsonb;
    v_most bigint;
BEGIN
    s := agentbase.usage_take_hold(s, (p ->> 'id')::uuid, 'settled');
    IF s.result IS NOT NULL THEN
        RETURN s;
    END IF;
    h := s.hold;
    v_most := greatest(2 * h.input_tokens, h.input_tokens + 4096);
    IF (p ->> 'input_tokens')::bigint > v_most THEN
        s.result := agentbase.usage_error(422, 'invalid_field', format(
            'field input_tokens: %s is more than reservation %s allows (at most %s: twice its estimate, or 4096 more)',
            p ->> 'input_tokens', h.id, v_most));
        RETURN s;
    END IF;
    v_most := h.max_output_tokens + greatest(h.max_output_tokens / 10, 64);
    IF (p ->> 'output_tokens')::bigint > v_most THEN
        s.result := agentbase.usage_error(422, 'invalid_field', format(
            'field output_tokens: %s is more than reservation %s allows (at most %s: its max_output_tokens and a tenth)',
            p ->> 'output_tokens', h.id, v_most));
        RETURN s;
    END IF;
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

-- The batch entry point, as the owner. A request acting as a user or viewer
-- (acting_user_id in the op) accounts only for that user: its reservations and events name
-- them, its settles and releases their own reservations. A batch without such operations
-- (service keys and admins) goes straight through.
ALTER FUNCTION agentbase.usage_apply(jsonb) RENAME TO usage_apply_unchecked;
CREATE FUNCTION agentbase.usage_apply(p_ops jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_ops jsonb;
    v_op jsonb;
    v_k bigint;
    v_me uuid;
    v_owner uuid;
    v_refused jsonb := '{}';
    v_results jsonb;
BEGIN
    IF NOT p_ops @? '$[*].acting_user_id' THEN
        RETURN agentbase.usage_apply_unchecked(p_ops);
    END IF;
    FOR v_op, v_k IN SELECT x.op, x.i - 1 FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS x(op, i) LOOP
        v_me := (v_op ->> 'acting_user_id')::uuid;
        CONTINUE WHEN v_me IS NULL;
        IF v_op ->> 'op' IN ('settle', 'release') THEN
            SELECT h.user_id INTO v_owner FROM agentbase.token_holds h
             WHERE h.tenant_id = (v_op ->> 'tenant_id')::uuid AND h.id = (v_op #>> '{args,id}')::uuid;
            IF v_owner IS DISTINCT FROM v_me THEN
                v_refused := v_refused || jsonb_build_object(v_k::text, agentbase.usage_error(404, 'not_found',
                    format('reservation %s not found', v_op #>> '{args,id}')));
            END IF;
        ELSIF (v_op #>> '{args,user_id}')::uuid IS DISTINCT FROM v_me OR v_op ->> 'op' = 'expire' THEN
            v_refused := v_refused || jsonb_build_object(v_k::text, agentbase.usage_error(403, 'forbidden',
                'field user_id must be your own user id: only admins account for other users'));
        END IF;
    END LOOP;
    IF v_refused = '{}' THEN
        RETURN agentbase.usage_apply_unchecked(p_ops);
    END IF;
    -- a refused operation is applied as a no-op, and answered with its refusal
    SELECT jsonb_agg(CASE WHEN v_refused ? (x.i - 1)::text
                          THEN jsonb_build_object('op', 'refused', 'tenant_id', x.op -> 'tenant_id') ELSE x.op END
                     ORDER BY x.i)
      INTO v_ops FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS x(op, i);
    v_results := agentbase.usage_apply_unchecked(v_ops);
    RETURN (SELECT jsonb_agg(coalesce(v_refused -> (x.i - 1)::text, x.r) ORDER BY x.i)
              FROM jsonb_array_elements(v_results) WITH ORDINALITY AS x(r, i));
END
$$;
COMMENT ON FUNCTION agentbase.usage_apply(jsonb) IS
    'applies a batch of reserve, settle, release, event and expire operations; one result per operation (a user''s own only)';

-- Direct writes: none for the service where role_access says only the database (or the
-- platform, outside the API) writes (apply_role_access revoked them: wallets, ledger,
-- holds, rollups, alert events, the platform's replication records); nor on the
-- idempotency keys of the token functions, or through the legacy views (compatibility
-- for reading).
REVOKE ALL ON agentbase.idempotency_keys FROM agentbase_app;
-- Analytics reads everything but the platform's own keys.
REVOKE ALL ON agentbase.platform_api_keys FROM agentbase_readonly;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON agentbase.usage_logs, agentbase.token_transactions,
    agentbase.user_quotas FROM agentbase_app;
-- Limits yes, counters no.
REVOKE INSERT, UPDATE ON agentbase.quotas, agentbase.user_budgets, agentbase.tenant_quotas FROM agentbase_app;
GRANT INSERT (tenant_id, id, user_id, daily_token_limit, daily_request_limit, monthly_token_limit),
      UPDATE (daily_token_limit, daily_request_limit, monthly_token_limit)
   ON agentbase.quotas TO agentbase_app;
GRANT INSERT (tenant_id, id, user_id, name, period, amount_usd, alert_thresholds, hard_limit, is_active),
      UPDATE (name, amount_usd, alert_thresholds, hard_limit, is_active)
   ON agentbase.user_budgets TO agentbase_app;
GRANT INSERT (tenant_id, id, resource_type, period, limit_value), UPDATE (limit_value)
   ON agentbase.tenant_quotas TO agentbase_app;

-- The audit trail is written by its trigger as the owner; the service only reads it.
ALTER FUNCTION agentbase.audit_trigger() SECURITY DEFINER SET search_path = agentbase, pg_temp;
DROP POLICY platform_admin_insert ON agentbase.audit_logs;
DO $$
DECLARE
    v_rel regclass;
BEGIN
    REVOKE INSERT ON agentbase.audit_logs FROM agentbase_app;
    FOR v_rel IN SELECT i.inhrelid::regclass FROM pg_inherits i
                  WHERE i.inhparent = 'agentbase.audit_logs'::regclass LOOP
        EXECUTE format('REVOKE INSERT ON %s FROM agentbase_app', v_rel);
    END LOOP;
END
$$;

-- Application events (a secret read, a failed sign-in ...) go into the current tenant's
-- trail with the request's actor, IP and request id: the one way the service writes it.
CREATE FUNCTION agentbase.audit_event(p_action text, p_resource_type text, p_resource_id text DEFAULT NULL,
                                      p_metadata jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    IF agentbase.current_tenant_id() IS NULL THEN
        RAISE EXCEPTION 'an audit event needs a tenant context' USING ERRCODE = '22023';
    END IF;
    INSERT INTO agentbase.audit_logs
        (tenant_id, action, resource_type, resource_id, actor_type, actor_id, ip_address, user_agent,
         request_id, metadata)
    VALUES
        (agentbase.current_tenant_id(), p_action, p_resource_type, p_resource_id,
         agentbase.current_actor_type(), agentbase.current_actor_id(),
         NULLIF(current_setting('agentbase.ip', true), '')::inet,
         NULLIF(current_setting('agentbase.user_agent', true), ''),
         NULLIF(current_setting('agentbase.request_id', true), ''), coalesce(p_metadata, '{}'));
END
$$;
COMMENT ON FUNCTION agentbase.audit_event(text, text, text, jsonb) IS
    'appends an application event to the current tenant''s audit trail, with the request context';

-- ------------------------------------------------------------------------------------
-- Functions: PUBLIC executes none; the service what it calls, and what its policies,
-- defaults, checks and triggers call as it
-- ------------------------------------------------------------------------------------

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'agentbase'::regnamespace LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION
    agentbase.uuid_v7(), agentbase.current_tenant_id(), agentbase.is_platform_admin(),
    agentbase.current_actor_id(), agentbase.current_actor_type(), agentbase.current_user_id(),
    agentbase.current_user_role(), agentbase.current_may_bill(),
    agentbase.set_request_context(uuid, text, text, text, text, text, boolean, uuid, text, boolean),
    agentbase.role_scopes(text), agentbase.role_cap(text), agentbase.explicit_scopes(), agentbase.my_projects(text), agentbase.audit_event(text, text, text, jsonb),
    agentbase.auth_lookup_key(text), agentbase.auth_lookup_login(text, text),
    agentbase.auth_touch_key(uuid, uuid, inet),
    agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text),
    agentbase.auto_allocate_tokens_for_level(uuid, text),
    agentbase.usage_apply(jsonb), agentbase.usage_expired_ops(integer), agentbase.usage_expire_holds(integer),
    agentbase.usage_rollup(), agentbase.usage_summary(timestamptz, timestamptz, text),
    agentbase.usage_period_start(text), agentbase.model_price_at(uuid, timestamptz),
    agentbase.workflow_definition_problem(jsonb)
TO agentbase_app;
GRANT EXECUTE ON FUNCTION agentbase.current_tenant_id() TO agentbase_readonly;
