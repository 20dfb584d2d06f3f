-- Back to 0021: the accounting's periods follow the session's TimeZone again.

ALTER FUNCTION agentbase.auto_allocate_tokens_for_level_unchecked(uuid, text) RESET "TimeZone";
ALTER FUNCTION agentbase.reset_monthly_tokens() RESET "TimeZone";
ALTER FUNCTION agentbase.reset_daily_quotas() RESET "TimeZone";
ALTER FUNCTION agentbase.usage_period_start(text) RESET "TimeZone";
ALTER FUNCTION agentbase.usage_seconds_left(text) RESET "TimeZone";
ALTER FUNCTION agentbase.usage_load_user(agentbase.usage_state, uuid) RESET "TimeZone";
ALTER FUNCTION agentbase.usage_charge(agentbase.usage_state, jsonb, agentbase.ai_model_prices, uuid, text, boolean)
    RESET "TimeZone";
ALTER FUNCTION agentbase.usage_apply(jsonb) RESET "TimeZone";
ALTER FUNCTION agentbase.usage_rollup() RESET "TimeZone";
ALTER FUNCTION agentbase.usage_summary(timestamptz, timestamptz, text) RESET "TimeZone";
ALTER FUNCTION agentbase.usage_monthly(uuid, date) RESET "TimeZone";
ALTER FUNCTION agentbase.performance_rollup(timestamptz) RESET "TimeZone";

-- as 0001 made it
CREATE OR REPLACE FUNCTION agentbase.ensure_monthly_partitions(
    p_parent regclass,
    p_months_ahead int DEFAULT 3,
    p_from date DEFAULT (date_trunc('month', now()) - interval '1 month')::date
) RETURNS int
LANGUAGE plpgsql AS $function$
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
$function$;

ALTER TABLE agentbase.quotas
    ALTER COLUMN last_reset_date SET DEFAULT current_date,
    ALTER COLUMN month_start SET DEFAULT date_trunc('month', now())::date;
ALTER TABLE agentbase.user_budgets ALTER COLUMN period_start SET DEFAULT date_trunc('month', now());
