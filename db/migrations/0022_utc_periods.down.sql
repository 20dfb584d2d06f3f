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

DROP FUNCTION agentbase.ensure_monthly_partitions(regclass, int, date);
ALTER FUNCTION agentbase.ensure_monthly_partitions_from(regclass, int, date) RESET "TimeZone";
ALTER FUNCTION agentbase.ensure_monthly_partitions_from(regclass, int, date) RENAME TO ensure_monthly_partitions;
COMMENT ON FUNCTION agentbase.ensure_monthly_partitions(regclass, int, date) IS
    'creates missing monthly partitions (and the default one) of a log table';

ALTER TABLE agentbase.quotas
    ALTER COLUMN last_reset_date SET DEFAULT current_date,
    ALTER COLUMN month_start SET DEFAULT date_trunc('month', now())::date;
ALTER TABLE agentbase.user_budgets ALTER COLUMN period_start SET DEFAULT date_trunc('month', now());
