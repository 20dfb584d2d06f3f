-- Foundation: roles, the agentbase schema, and the plumbing every module uses.
--
-- Roles
--   agentbase_owner     owns every object; migrations run as it (the migrator does
--                       SET LOCAL ROLE agentbase_owner for every migration after this one).
--   agentbase_app       the service: NOSUPERUSER, NOBYPASSRLS, owns nothing; sees one
--                       tenant at a time through Row Level Security.
--   agentbase_readonly  analytics: SELECT on everything, across tenants.
--
-- Request context (per transaction, set with set_config(..., true)):
--   agentbase.tenant_id, agentbase.actor_type, agentbase.actor_id, agentbase.ip,
--   agentbase.user_agent, agentbase.request_id, agentbase.platform_admin
-- RLS policies and audit triggers read them through the functions below.

-- The migrator runs every migration as agentbase_owner where that role exists; this one
-- creates (or drops) the roles, the schema and database settings, so it runs as the
-- connecting user.
RESET ROLE;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentbase_owner') THEN
        CREATE ROLE agentbase_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentbase_app') THEN
        CREATE ROLE agentbase_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentbase_readonly') THEN
        CREATE ROLE agentbase_readonly LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    -- The migrating user must be able to become the owner, and the service (which may
    -- connect with the same URL) the app role; a superuser always can.
    IF NOT pg_has_role(current_user, 'agentbase_owner', 'MEMBER') THEN
        EXECUTE format('GRANT agentbase_owner TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'agentbase_app', 'MEMBER') THEN
        EXECUTE format('GRANT agentbase_app TO %I', current_user);
    END IF;
END
$$;

CREATE SCHEMA agentbase AUTHORIZATION agentbase_owner;
COMMENT ON SCHEMA agentbase IS 'agentbase: multi-tenant data backend for AI agent platforms';
GRANT USAGE ON SCHEMA agentbase TO agentbase_app, agentbase_readonly;

-- New connections find our objects without qualification.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET search_path TO agentbase, public', current_database());
END
$$;

-- Whatever the owner creates is usable by the service and readable by analytics. Modules
-- narrow this for global and append-only tables (see restrict_app_to_read / _append).
ALTER DEFAULT PRIVILEGES FOR ROLE agentbase_owner IN SCHEMA agentbase
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO agentbase_app;
ALTER DEFAULT PRIVILEGES FOR ROLE agentbase_owner IN SCHEMA agentbase
    GRANT SELECT ON TABLES TO agentbase_readonly;
ALTER DEFAULT PRIVILEGES FOR ROLE agentbase_owner IN SCHEMA agentbase
    GRANT USAGE, SELECT ON SEQUENCES TO agentbase_app;

SET LOCAL ROLE agentbase_owner;
SET LOCAL search_path TO agentbase, public;

-- ------------------------------------------------------------------------------------
-- Identifiers
-- ------------------------------------------------------------------------------------

-- A version 7 UUID: 48 bits of Unix milliseconds, then random bits, so that ids of
-- insert-heavy tables arrive in index order.
CREATE FUNCTION agentbase.uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
COMMENT ON FUNCTION agentbase.uuid_v7() IS 'time-ordered UUID (version 7 layout)';

-- ------------------------------------------------------------------------------------
-- Request context
-- ------------------------------------------------------------------------------------

CREATE FUNCTION agentbase.current_tenant_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('agentbase.tenant_id', true), '')::uuid
$$;
COMMENT ON FUNCTION agentbase.current_tenant_id() IS
    'tenant of the current transaction (NULL when unset: RLS then shows no rows)';

CREATE FUNCTION agentbase.is_platform_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(current_setting('agentbase.platform_admin', true), '') = 'on'
$$;
COMMENT ON FUNCTION agentbase.is_platform_admin() IS
    'true when the request acts with a platform-admin key (tenant management only)';

CREATE FUNCTION agentbase.current_actor_id() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('agentbase.actor_id', true), '')
$$;
COMMENT ON FUNCTION agentbase.current_actor_id() IS 'id of the user or key acting in this transaction';

CREATE FUNCTION agentbase.current_actor_type() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('agentbase.actor_type', true), '')
$$;
COMMENT ON FUNCTION agentbase.current_actor_type() IS 'user, api_key or system';

-- Sets the whole request context for the current transaction.
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

-- ------------------------------------------------------------------------------------
-- Table plumbing: one call per table instead of the same statements in every module
-- ------------------------------------------------------------------------------------

CREATE FUNCTION agentbase.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.touch_updated_at() IS 'BEFORE UPDATE trigger: keeps updated_at current';

CREATE FUNCTION agentbase.attach_updated_at(p_table regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER trg_updated_at BEFORE UPDATE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION agentbase.touch_updated_at()', p_table);
END
$$;
COMMENT ON FUNCTION agentbase.attach_updated_at(regclass) IS 'adds the updated_at trigger to a table';

-- Row Level Security for a tenant-scoped table (the column is tenant_id unless named):
-- the service sees only the current tenant's rows and can write only into it; the owner
-- (migrations, SECURITY DEFINER functions) sees all; analytics reads all.
CREATE FUNCTION agentbase.enable_tenant_rls(p_table regclass, p_column name DEFAULT 'tenant_id')
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s TO agentbase_app '
                   'USING (%2$I = agentbase.current_tenant_id()) '
                   'WITH CHECK (%2$I = agentbase.current_tenant_id())', p_table, p_column);
    EXECUTE format('CREATE POLICY owner_all ON %s TO agentbase_owner USING (true) WITH CHECK (true)',
                   p_table);
    EXECUTE format('CREATE POLICY readonly_all ON %s FOR SELECT TO agentbase_readonly USING (true)',
                   p_table);
END
$$;
COMMENT ON FUNCTION agentbase.enable_tenant_rls(regclass, name) IS
    'enables and forces RLS on a tenant table with the standard policies';

-- A global reference table: the service may read it, only the owner writes it.
CREATE FUNCTION agentbase.restrict_app_to_read(p_table regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %s FROM agentbase_app', p_table);
END
$$;
COMMENT ON FUNCTION agentbase.restrict_app_to_read(regclass) IS 'global table: read-only for the service';

-- An append-only log: the service may insert and read, never change or delete.
CREATE FUNCTION agentbase.restrict_app_to_append(p_table regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM agentbase_app', p_table);
END
$$;
COMMENT ON FUNCTION agentbase.restrict_app_to_append(regclass) IS 'append-only log: insert and read only';

-- ------------------------------------------------------------------------------------
-- Monthly partitions of append-only logs
-- ------------------------------------------------------------------------------------

-- Creates the default partition and one partition a month from p_from through
-- p_months_ahead months after the current one, each with the parent's RLS and grants.
-- Returns how many partitions it created; safe to run any number of times.
CREATE FUNCTION agentbase.ensure_monthly_partitions(
    p_parent regclass,
    p_months_ahead int DEFAULT 3,
    p_from date DEFAULT (date_trunc('month', now()) - interval '1 month')::date
) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_schema name;
    v_name name;
    v_part text;
    v_start date := date_trunc('month', p_from)::date;
    v_stop date := (date_trunc('month', now()) + make_interval(months => p_months_ahead))::date;
    v_created int := 0;
    v_has_tenant boolean;
BEGIN
    SELECT n.nspname, c.relname INTO v_schema, v_name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = p_parent;
    SELECT EXISTS (SELECT 1 FROM pg_attribute
                    WHERE attrelid = p_parent AND attname = 'tenant_id' AND NOT attisdropped)
      INTO v_has_tenant;

    v_part := v_name || '_default';
    IF to_regclass(format('%I.%I', v_schema, v_part)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT', v_schema, v_part, p_parent);
        PERFORM agentbase.secure_partition(format('%I.%I', v_schema, v_part)::regclass, p_parent, v_has_tenant);
        v_created := v_created + 1;
    END IF;

    WHILE v_start <= v_stop LOOP
        v_part := v_name || '_p' || to_char(v_start, 'YYYYMM');
        IF to_regclass(format('%I.%I', v_schema, v_part)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           v_schema, v_part, p_parent, v_start, (v_start + interval '1 month')::date);
            PERFORM agentbase.secure_partition(format('%I.%I', v_schema, v_part)::regclass, p_parent, v_has_tenant);
            v_created := v_created + 1;
        END IF;
        v_start := (v_start + interval '1 month')::date;
    END LOOP;
    RETURN v_created;
END
$$;
COMMENT ON FUNCTION agentbase.ensure_monthly_partitions(regclass, int, date) IS
    'creates missing monthly partitions (and the default one) of a log table';

-- A partition reached directly would bypass its parent's policies: give it its own, and
-- the same privileges as the parent.
CREATE FUNCTION agentbase.secure_partition(p_part regclass, p_parent regclass, p_has_tenant boolean)
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
COMMENT ON FUNCTION agentbase.secure_partition(regclass, regclass, boolean) IS
    'gives a new partition its parent''s RLS and privileges';

-- ------------------------------------------------------------------------------------
-- Audit
-- ------------------------------------------------------------------------------------

-- AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW trigger writing one audit_logs row
-- (the table itself comes with the tenancy module) in the same transaction.
-- TG_ARGV[0]: resource type, singular (e.g. 'agent'), giving actions like 'agent.updated';
-- an update that sets deleted_at is recorded as '<type>.deleted'.
-- TG_ARGV[1], optional: the tenant column ('id' for the tenants table); default tenant_id.
-- TG_ARGV[2..]: columns to redact in old and new values (secrets, hashes).
CREATE FUNCTION agentbase.audit_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_type text := TG_ARGV[0];
    v_tenant_col text := coalesce(NULLIF(TG_ARGV[1], ''), 'tenant_id');
    v_old jsonb;
    v_new jsonb;
    v_row jsonb;
    v_action text;
    v_i int;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        v_old := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        v_new := to_jsonb(NEW);
    END IF;
    v_row := coalesce(v_new, v_old);

    v_action := CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'DELETE' THEN 'deleted' ELSE 'updated' END;
    IF TG_OP = 'UPDATE' AND v_new ? 'deleted_at'
       AND v_old ->> 'deleted_at' IS NULL AND v_new ->> 'deleted_at' IS NOT NULL THEN
        v_action := 'deleted';
    END IF;
    IF TG_OP = 'UPDATE' AND v_old = v_new THEN
        RETURN NULL;  -- nothing changed: nothing to audit
    END IF;

    FOR v_i IN 2 .. coalesce(TG_NARGS, 0) - 1 LOOP
        IF v_old ? TG_ARGV[v_i] AND v_old ->> TG_ARGV[v_i] IS NOT NULL THEN
            v_old := jsonb_set(v_old, ARRAY[TG_ARGV[v_i]], '"[redacted]"');
        END IF;
        IF v_new ? TG_ARGV[v_i] AND v_new ->> TG_ARGV[v_i] IS NOT NULL THEN
            v_new := jsonb_set(v_new, ARRAY[TG_ARGV[v_i]], '"[redacted]"');
        END IF;
    END LOOP;

    INSERT INTO agentbase.audit_logs
        (tenant_id, action, resource_type, resource_id, old_values, new_values,
         actor_type, actor_id, ip_address, user_agent, request_id)
    VALUES
        ((v_row ->> v_tenant_col)::uuid, v_type || '.' || v_action, v_type,
         v_row ->> 'id', v_old, v_new,
         agentbase.current_actor_type(), agentbase.current_actor_id(),
         NULLIF(current_setting('agentbase.ip', true), '')::inet,
         NULLIF(current_setting('agentbase.user_agent', true), ''),
         NULLIF(current_setting('agentbase.request_id', true), ''));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.audit_trigger() IS
    'AFTER row trigger: writes audit_logs (args: resource type, tenant column, redacted columns...)';

-- Attaches the audit trigger: attach_audit('agentbase.agents', 'agent') or, with secrets,
-- attach_audit('agentbase.users', 'user', 'tenant_id', ARRAY['password_hash']).
CREATE FUNCTION agentbase.attach_audit(
    p_table regclass, p_type text, p_tenant_column text DEFAULT 'tenant_id',
    p_redact text[] DEFAULT '{}'
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_args text := format('%L, %L', p_type, p_tenant_column);
    v_col text;
BEGIN
    FOREACH v_col IN ARRAY p_redact LOOP
        v_args := v_args || format(', %L', v_col);
    END LOOP;
    EXECUTE format('CREATE TRIGGER trg_audit AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION agentbase.audit_trigger(%s)', p_table, v_args);
END
$$;
COMMENT ON FUNCTION agentbase.attach_audit(regclass, text, text, text[]) IS
    'adds the audit trigger to a mutable tenant table';
