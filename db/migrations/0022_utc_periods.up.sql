-- Periods in UTC (issue 14, part 5). A day, a week, a month and a year of the accounting
-- (quotas and their resets, plan counters, budgets and their alerts, wallet resets, cost and
-- performance rollups, the monthly partitions of the logs) are UTC's, whatever the TimeZone
-- of the session that runs them: before this migration they followed it, so a daily quota
-- reset at the server's local midnight, and a psql session in another zone than the service
-- saw (and wrote) other periods than the service did. Users' timezone preference (users.timezone)
-- is for display; tenants have no time zone of their own, so UTC is the only calendar.
--
-- How. Every function that computes a calendar period runs with TimeZone set to UTC for its
-- own duration (its SET clause, like its search_path): date_trunc, current_date, to_char of
-- now(), a date cast to timestamptz (a partition bound) and adding a day or a month to a
-- timestamptz all follow TimeZone, so setting it where the function is defined covers each of
-- them, the ones in functions it calls, and the JSON it renders. It costs about a microsecond
-- a call. tests/sql/catalog.sql checks that every such function has it, so that a new one
-- cannot forget it. Column defaults are evaluated in the inserting session, so the three that
-- compute a period say UTC explicitly; so does the default of ensure_monthly_partitions'
-- p_from (an argument's default is evaluated by the caller, before the SET applies).
--
-- Rows written before this migration by a session in another zone keep periods that started
-- at that zone's midnight. East of UTC (up to 14 hours), a budget's or a plan counter's period
-- started before UTC's and would be reset at once, and a quota's date may be ahead of UTC's:
-- both are moved to UTC's with their counters kept, so that the change forgives nothing. West
-- of UTC, a period started after UTC's and ends at the next UTC boundary, except a quota's
-- date still behind UTC's, which is reset at its next use (its hours before UTC's midnight
-- are forgiven, once).

ALTER FUNCTION agentbase.auto_allocate_tokens_for_level_unchecked(uuid, text) SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.reset_monthly_tokens() SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.reset_daily_quotas() SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.usage_period_start(text) SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.usage_seconds_left(text) SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.usage_load_user(agentbase.usage_state, uuid) SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.usage_charge(agentbase.usage_state, jsonb, agentbase.ai_model_prices, uuid, text, boolean)
    SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.usage_apply(jsonb) SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.usage_rollup() SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.usage_summary(timestamptz, timestamptz, text) SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.usage_monthly(uuid, date) SET "TimeZone" = 'UTC';
ALTER FUNCTION agentbase.performance_rollup(timestamptz) SET "TimeZone" = 'UTC';

-- ensure_monthly_partitions' default p_from is evaluated by its caller, before the SET
-- applies: 0001's function, kept under another name, is called by one with a UTC default.
ALTER FUNCTION agentbase.ensure_monthly_partitions(regclass, int, date) RENAME TO ensure_monthly_partitions_from;
ALTER FUNCTION agentbase.ensure_monthly_partitions_from(regclass, int, date) SET "TimeZone" = 'UTC';
COMMENT ON FUNCTION agentbase.ensure_monthly_partitions_from(regclass, int, date) IS
    'ensure_monthly_partitions from p_from, which it always needs (its own default follows the session)';
CREATE FUNCTION agentbase.ensure_monthly_partitions(
    p_parent regclass,
    p_months_ahead int DEFAULT 3,
    p_from date DEFAULT (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month')::date
) RETURNS int
LANGUAGE sql SET "TimeZone" = 'UTC' AS $$
    SELECT agentbase.ensure_monthly_partitions_from(p_parent, p_months_ahead, p_from)
$$;
COMMENT ON FUNCTION agentbase.ensure_monthly_partitions(regclass, int, date) IS
    'creates the default partition and one a month (UTC) from p_from through p_months_ahead months after this one; returns how many it created';

ALTER TABLE agentbase.quotas
    ALTER COLUMN last_reset_date SET DEFAULT (now() AT TIME ZONE 'UTC')::date,
    ALTER COLUMN month_start SET DEFAULT date_trunc('month', now() AT TIME ZONE 'UTC')::date;
ALTER TABLE agentbase.user_budgets ALTER COLUMN period_start SET DEFAULT date_trunc('month', now(), 'UTC');

-- Periods a session in another zone started (see above), moved to UTC's.
UPDATE agentbase.user_budgets
   SET period_start = agentbase.usage_period_start(period)
 WHERE period_start < agentbase.usage_period_start(period)
   AND period_start >= agentbase.usage_period_start(period) - interval '14 hours';
UPDATE agentbase.tenant_quotas
   SET period_start = agentbase.usage_period_start(period)
 WHERE period_start < agentbase.usage_period_start(period)
   AND period_start >= agentbase.usage_period_start(period) - interval '14 hours';
UPDATE agentbase.quotas
   SET last_reset_date = least(last_reset_date, (now() AT TIME ZONE 'UTC')::date),
       month_start = least(month_start, date_trunc('month', now() AT TIME ZONE 'UTC')::date)
 WHERE last_reset_date > (now() AT TIME ZONE 'UTC')::date
    OR month_start > date_trunc('month', now() AT TIME ZONE 'UTC')::date;
