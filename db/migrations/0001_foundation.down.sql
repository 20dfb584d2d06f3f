-- Removes the foundation. Every later module must already be reverted, so the schema is
-- empty but for what 0001 created. The roles are dropped unless another database on the
-- same server still uses them.

-- The migrator runs every migration as agentbase_owner where that role exists; this one
-- creates (or drops) the roles, the schema and database settings, so it runs as the
-- connecting user.
RESET ROLE;

DROP FUNCTION agentbase.attach_audit(regclass, text, text, text[]);
DROP FUNCTION agentbase.audit_trigger();
DROP FUNCTION agentbase.ensure_monthly_partitions(regclass, int, date);
DROP FUNCTION agentbase.secure_partition(regclass, regclass, boolean);
DROP FUNCTION agentbase.restrict_app_to_append(regclass);
DROP FUNCTION agentbase.restrict_app_to_read(regclass);
DROP FUNCTION agentbase.enable_tenant_rls(regclass, name);
DROP FUNCTION agentbase.attach_updated_at(regclass);
DROP FUNCTION agentbase.touch_updated_at();
DROP FUNCTION agentbase.set_request_context(uuid, text, text, text, text, text, boolean);
DROP FUNCTION agentbase.current_actor_type();
DROP FUNCTION agentbase.current_actor_id();
DROP FUNCTION agentbase.is_platform_admin();
DROP FUNCTION agentbase.current_tenant_id();
DROP FUNCTION agentbase.uuid_v7();

ALTER DEFAULT PRIVILEGES FOR ROLE agentbase_owner IN SCHEMA agentbase
    REVOKE USAGE, SELECT ON SEQUENCES FROM agentbase_app;
ALTER DEFAULT PRIVILEGES FOR ROLE agentbase_owner IN SCHEMA agentbase
    REVOKE SELECT ON TABLES FROM agentbase_readonly;
ALTER DEFAULT PRIVILEGES FOR ROLE agentbase_owner IN SCHEMA agentbase
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM agentbase_app;

DROP SCHEMA agentbase;

DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET search_path', current_database());
END
$$;

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['agentbase_readonly', 'agentbase_app', 'agentbase_owner'] LOOP
        BEGIN
            EXECUTE format('DROP ROLE IF EXISTS %I', r);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role % is still used elsewhere on this server; kept', r;
        END;
    END LOOP;
END
$$;
