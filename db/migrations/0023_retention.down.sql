-- Back to 0022: no retention. What it removed stays removed; carried-forward ledger entries
-- stay (they are adjustments like any other, and keep the wallets equal to their ledgers).

DROP FUNCTION agentbase.retention_run(integer);
DROP FUNCTION agentbase.retention_fold_wallet(uuid, uuid, timestamptz, integer);
DROP FUNCTION agentbase.retention_delete(regclass, text, name, text, integer);
DROP FUNCTION agentbase.retention_drop_partitions(regclass, timestamptz, boolean);
DROP FUNCTION agentbase.retention_partitions(regclass);
DROP FUNCTION agentbase.retention_policy();
DROP TRIGGER trg_retention ON agentbase.tenants;
DROP FUNCTION agentbase.tenants_retention_check();
ALTER TABLE agentbase.subscription_plans DROP COLUMN retention;
DROP FUNCTION agentbase.retention_problem(jsonb);
DROP FUNCTION agentbase.retention_defaults();

-- 0001's audit trigger, with 0011's attributes: every delete audited.
CREATE OR REPLACE FUNCTION agentbase.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = agentbase, pg_temp AS $$
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
