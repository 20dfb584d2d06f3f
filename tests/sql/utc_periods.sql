-- Periods in UTC (0022): the accounting run with the session's TimeZone at UTC, Pacific/Kiritimati
-- (UTC+14), America/Adak (UTC-10, -9 in summer) and Etc/GMT+12 (UTC-12) gives the same periods:
-- the plan counters, the quotas and the budgets they count in (and which of them reset), the
-- budget alerts, the Retry-After of a refusal, the hourly rollups and what they roll up into,
-- the summary by day, the performance aggregates, the wallets' monthly reset and allocation
-- keys, and the bounds of new monthly partitions. Each zone accounts for a tenant of its own,
-- set up alike, at the same instant (now() is the transaction's). At any instant one of these
-- zones' dates differs from UTC's (Kiritimati's from 10:00 UTC, Etc/GMT+12's until 12:00),
-- which the first test shows.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(16);

CREATE TEMP TABLE zones (k int PRIMARY KEY, zone text NOT NULL);
INSERT INTO zones VALUES (1, 'UTC'), (2, 'Pacific/Kiritimati'), (3, 'America/Adak'), (4, 'Etc/GMT+12');
CREATE TEMP TABLE seen (k int, what text, got jsonb, PRIMARY KEY (k, what));

CREATE FUNCTION pg_temp.id(k int, n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT ('22000000-0000-7000-8000-0000000' || k || lpad(n::text, 4, '0'))::uuid $$;

SELECT ok(bool_or((now() AT TIME ZONE zone)::date <> (now() AT TIME ZONE 'UTC')::date),
          'at this instant some zone''s date is not UTC''s')
  FROM zones;

INSERT INTO ai_providers (id, name, display_name) VALUES (pg_temp.id(0, 1), 'utc-test', 'T');
INSERT INTO ai_models (id, provider_id, name, display_name, context_window)
VALUES (pg_temp.id(0, 2), pg_temp.id(0, 1), 'm', 'M', 1000);
INSERT INTO ai_model_prices (model_id, effective_from, input_per_1m, output_per_1m)
VALUES (pg_temp.id(0, 2), now() - interval '30 days', 10000, 10000);  -- 0.01 USD a token
INSERT INTO subscription_plans (level, name, monthly_token_allocation)
VALUES ('starter', 'Starter', 500) ON CONFLICT (level) DO UPDATE SET monthly_token_allocation = 500;

-- One tenant per zone, as of the current UTC day and month: plan counters, user 1's quota of
-- today and user 2's of yesterday, a tenant budget of today near its 50% alert, user 1's
-- monthly budget and a daily one of yesterday, user 1's wallet reset this month.
CREATE FUNCTION pg_temp.setup(k int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t uuid := pg_temp.id(k, 0);
    d timestamptz := date_trunc('day', now(), 'UTC');
    m timestamptz := date_trunc('month', now(), 'UTC');
    today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
    INSERT INTO tenants (id, slug, name, limits)
    VALUES (t, 'utc-' || k, 'UTC ' || k, '{"daily_request_limit": 1000, "monthly_token_limit": 1000000}');
    INSERT INTO users (tenant_id, id, email, username)
    VALUES (t, pg_temp.id(k, 1), 'u1@utc.test', 'u1'), (t, pg_temp.id(k, 2), 'u2@utc.test', 'u2');
    INSERT INTO tenant_quotas (tenant_id, resource_type, period, limit_value, used_value, period_start)
    VALUES (t, 'llm_requests', 'daily', NULL, 5, d), (t, 'llm_tokens', 'monthly', NULL, 50, m);
    INSERT INTO quotas (tenant_id, user_id, daily_token_limit, tokens_used_today, requests_today,
                        monthly_token_limit, tokens_used_month, last_reset_date, month_start)
    VALUES (t, pg_temp.id(k, 1), 10000, 100, 3, 100000, 200, today, m::date),
           (t, pg_temp.id(k, 2), 100, 100, 3, 100000, 200, today - 1, m::date);
    INSERT INTO user_budgets (tenant_id, id, user_id, name, period, amount_usd, spent_usd, period_start, alert_thresholds)
    VALUES (t, pg_temp.id(k, 11), NULL, 'tenant-daily', 'daily', 10, 4.9, d, '{50}'),
           (t, pg_temp.id(k, 12), pg_temp.id(k, 1), 'user-monthly', 'monthly', 100, 1, m, '{90}'),
           (t, pg_temp.id(k, 13), pg_temp.id(k, 1), 'user-daily', 'daily', 10, 9, d - interval '1 day', '{95}');
    PERFORM adjust_user_tokens(pg_temp.id(k, 1), 1000, 'credit');
    UPDATE token_wallets SET monthly_allocation = 1000, last_monthly_reset_at = m + interval '1 second'
     WHERE tenant_id = t;
END
$$;
SELECT pg_temp.setup(k) FROM zones ORDER BY k;

-- Tenant k's accounting, in its zone: a reservation and its settle, an event, a refused
-- reservation, the periodic jobs, and what they left.
CREATE FUNCTION pg_temp.account(k int, p_zone text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t uuid := pg_temp.id(k, 0);
    r jsonb;
    o jsonb := jsonb_build_object('provider', 'utc-test', 'model', 'm');
BEGIN
    PERFORM set_config('TimeZone', p_zone, true);
    r := usage_apply(jsonb_build_array(jsonb_build_object('op', 'reserve', 'tenant_id', t, 'args',
             o || jsonb_build_object('user_id', pg_temp.id(k, 1), 'estimated_input_tokens', 10, 'max_output_tokens', 10))));
    r := usage_apply(jsonb_build_array(jsonb_build_object('op', 'settle', 'tenant_id', t, 'args',
             jsonb_build_object('id', r #> '{0,body,id}', 'input_tokens', 10, 'output_tokens', 5))));
    PERFORM usage_apply(jsonb_build_array(jsonb_build_object('op', 'event', 'tenant_id', t, 'args',
             o || jsonb_build_object('user_id', pg_temp.id(k, 2), 'input_tokens', 1, 'output_tokens', 1))));
    r := usage_apply(jsonb_build_array(jsonb_build_object('op', 'reserve', 'tenant_id', t, 'args',
             o || jsonb_build_object('user_id', pg_temp.id(k, 2), 'estimated_input_tokens', 500, 'max_output_tokens', 1))));
    INSERT INTO seen VALUES (k, 'refusal', (r -> 0) - 'body');
    PERFORM set_request_context(NULL);
    PERFORM reset_daily_quotas(), reset_monthly_tokens(), usage_rollup();
    INSERT INTO performance_metrics (tenant_id, metric_name, value, recorded_at) VALUES (t, 'latency_ms', 7, now());
    PERFORM performance_rollup();
    PERFORM ensure_monthly_partitions('agentbase.audit_logs', 5 + k);
    PERFORM set_request_context(t, 'system', 'utc-test');
    PERFORM auto_allocate_tokens_for_level(pg_temp.id(k, 2), 'starter');
    INSERT INTO seen VALUES (k, 'summary by day',
        (SELECT jsonb_agg(g -> 'day') FROM jsonb_array_elements(usage_summary(now() - interval '2 days', now() + interval '1 hour', 'day') -> 'groups') g));
    PERFORM set_request_context(NULL);
    -- the rows left, rendered in UTC, whatever zone wrote them
    PERFORM set_config('TimeZone', 'UTC', true);

    INSERT INTO seen SELECT k, 'plan counters', jsonb_agg(jsonb_build_array(resource_type, period_start, used_value, reserved_value) ORDER BY resource_type)
      FROM tenant_quotas WHERE tenant_id = t;
    INSERT INTO seen SELECT k, 'quotas', jsonb_agg(jsonb_build_array(last_reset_date, month_start, tokens_used_today, requests_today, tokens_used_month) ORDER BY user_id)
      FROM quotas WHERE tenant_id = t;
    INSERT INTO seen SELECT k, 'budgets', jsonb_agg(jsonb_build_array(name, period_start, spent_usd, reserved_usd) ORDER BY name)
      FROM user_budgets WHERE tenant_id = t;
    INSERT INTO seen SELECT k, 'budget alerts', jsonb_agg(jsonb_build_array(threshold, period_start) ORDER BY threshold)
      FROM budget_alert_events WHERE tenant_id = t;
    INSERT INTO seen SELECT k, 'cost rollups', jsonb_agg(jsonb_build_array(period_type, period_start, tokens) ORDER BY period_type)
      FROM (SELECT period_type, period_start, sum(total_tokens) AS tokens FROM cost_tracking
             WHERE tenant_id = t AND user_id IS NOT NULL GROUP BY 1, 2) c;
    INSERT INTO seen SELECT k, 'performance aggregates', jsonb_agg(jsonb_build_array(period_type, period_start, sample_count) ORDER BY period_type)
      FROM performance_metric_rollups WHERE tenant_id = t AND agent_id IS NULL;
    INSERT INTO seen SELECT k, 'wallets', jsonb_agg(jsonb_build_array(last_monthly_reset_at, balance) ORDER BY user_id)
      FROM token_wallets WHERE tenant_id = t;
    INSERT INTO seen SELECT k, 'allocation month', to_jsonb(split_part(idempotency_key, ':', 4))
      FROM token_ledger WHERE tenant_id = t AND source = 'level_allocation';
    INSERT INTO seen SELECT k, 'audit_logs partitions on UTC months',
        to_jsonb(bool_and(lo = date_trunc('month', lo, 'UTC') AND hi = date_trunc('month', lo, 'UTC') + interval '1 month')
                 AND count(*) >= 7 + k)
      FROM (SELECT substring(b FROM 'FROM \(''([^'']+)''\)')::timestamptz AS lo,
                   substring(b FROM 'TO \(''([^'']+)''\)')::timestamptz AS hi
              FROM (SELECT pg_get_expr(c.relpartbound, c.oid) b FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = 'agentbase.audit_logs'::regclass) x
             WHERE b <> 'DEFAULT') p;
END
$$;
SELECT pg_temp.account(k, zone) FROM zones ORDER BY k;

-- In UTC, the periods are UTC's (what the migration promises) ...
\set d 'date_trunc(''day'', now(), ''UTC'')'
\set m 'date_trunc(''month'', now(), ''UTC'')'
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'plan counters'),
          jsonb_build_array(jsonb_build_array('llm_requests', :d, 7, 0), jsonb_build_array('llm_tokens', :m, 50 + 15 + 2, 0)),
          'UTC: the plan counters count in today''s and this month''s periods, from where they were');
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'quotas'),
          jsonb_build_array(jsonb_build_array((now() AT TIME ZONE 'UTC')::date, :m::date, 115, 4, 215),
                            jsonb_build_array((now() AT TIME ZONE 'UTC')::date, :m::date, 2, 1, 202)),
          'UTC: user 1''s quota of today goes on, user 2''s of yesterday was reset');
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'budgets'),
          jsonb_build_array(jsonb_build_array('tenant-daily', :d, 5.07, 0), jsonb_build_array('user-daily', :d, 0.15, 0),
                            jsonb_build_array('user-monthly', :m, 1.15, 0)),
          'UTC: budgets of today go on, yesterday''s starts again today');
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'budget alerts'), jsonb_build_array(jsonb_build_array(50, :d)),
          'UTC: the alert belongs to today');
SELECT is((SELECT got -> 'retry_after' FROM seen WHERE k = 1 AND what = 'refusal'),
          to_jsonb(ceil(extract(epoch FROM :d + interval '1 day' - now()))::int),
          'UTC: a refused daily quota is retried after UTC''s midnight');
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'cost rollups'),
          jsonb_build_array(jsonb_build_array('daily', :d, 17), jsonb_build_array('hourly', date_trunc('hour', now(), 'UTC'), 17),
                            jsonb_build_array('monthly', :m, 17), jsonb_build_array('weekly', date_trunc('week', now(), 'UTC'), 17),
                            jsonb_build_array('yearly', date_trunc('year', now(), 'UTC'), 17)),
          'UTC: the hourly rollup and its day, month, week and year');
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'performance aggregates'),
          jsonb_build_array(jsonb_build_array('daily', :d, 1), jsonb_build_array('hourly', date_trunc('hour', now(), 'UTC'), 1)),
          'UTC: the performance aggregates of this hour and day');
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'summary by day'), jsonb_build_array(:d),
          'UTC: the summary''s day');
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'wallets'),
          jsonb_build_array(jsonb_build_array(:m + interval '1 second', 985), jsonb_build_array(NULL, 500)),
          'UTC: a wallet reset this month is not reset again');
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'allocation month'), to_jsonb(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')),
          'UTC: the allocation is this month''s');
SELECT is((SELECT got FROM seen WHERE k = 1 AND what = 'audit_logs partitions on UTC months'), 'true',
          'UTC: the new partitions hold UTC months');

-- ... and every other zone gives exactly the same.
SELECT is(ARRAY(SELECT z.zone || ' ' || s.what || ': ' || s.got || ' instead of ' || u.got
                  FROM seen s JOIN zones z USING (k) JOIN seen u ON u.k = 1 AND u.what = s.what
                 WHERE z.zone = zz AND s.got IS DISTINCT FROM u.got ORDER BY 1),
          '{}', zz || ': the same periods, counters, resets and partitions as UTC')
  FROM unnest(ARRAY['Pacific/Kiritimati', 'America/Adak', 'Etc/GMT+12']) zz;
SELECT is((SELECT count(*)::int FROM seen), 4 * 11, 'every zone recorded all 11 figures');

SELECT * FROM finish();
ROLLBACK;
