-- The accounting module: structure, every CHECK, prices in time, and the token functions.
BEGIN;
SET search_path TO agentbase, public;
SELECT plan(85);

SELECT has_table('agentbase', t, t || ' exists') FROM unnest(ARRAY[
  'ai_providers', 'ai_models', 'ai_model_prices', 'subscription_plans', 'ai_requests',
  'usage_metrics', 'quotas', 'tenant_quotas', 'token_wallets', 'token_ledger', 'idempotency_keys',
  'token_holds', 'user_budgets', 'budget_alert_events', 'system_alerts', 'cost_tracking',
  'billing_records', 'performance_metrics', 'system_metrics']) t;
SELECT has_view('agentbase', v, v || ' (legacy) exists') FROM unnest(ARRAY['usage_logs', 'token_transactions', 'user_quotas']) v;
SELECT has_function('agentbase', f, f || ' exists') FROM unnest(ARRAY[
  'adjust_user_tokens', 'auto_allocate_tokens_for_level', 'reset_monthly_tokens',
  'reset_daily_quotas', 'model_price_at']) f;
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'agentbase.token_ledger'::regclass), 'p',
          'token_ledger is partitioned');
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'agentbase.ai_requests'::regclass), 'p',
          'ai_requests is partitioned');

-- Fixtures: a tenant, a user, a model with a current and a future price.
INSERT INTO tenants (id, slug, name) VALUES ('00000000-0000-7000-8000-00000000a001', 'acct-a', 'A'),
                                           ('00000000-0000-7000-8000-00000000b001', 'acct-b', 'B');
INSERT INTO users (tenant_id, id, email, username) VALUES
  ('00000000-0000-7000-8000-00000000a001', '00000000-0000-7000-8000-00000000a002', 'u@a.test', 'u'),
  ('00000000-0000-7000-8000-00000000b001', '00000000-0000-7000-8000-00000000b002', 'u@b.test', 'u');
INSERT INTO ai_providers (id, name, display_name) VALUES ('00000000-0000-7000-8000-0000000000f1', 'acct-test', 'T');
INSERT INTO ai_models (id, provider_id, name, display_name, context_window)
VALUES ('00000000-0000-7000-8000-0000000000f2', '00000000-0000-7000-8000-0000000000f1', 'm', 'M', 1000);
INSERT INTO ai_model_prices (model_id, effective_from, input_per_1m, output_per_1m) VALUES
  ('00000000-0000-7000-8000-0000000000f2', now() - interval '30 days', 1, 2),
  ('00000000-0000-7000-8000-0000000000f2', now() + interval '30 days', 5, 10);
INSERT INTO subscription_plans (level, name, monthly_token_allocation, token_policy)
VALUES ('basic', 'Basic', 1000, '{"rollover": false}')
ON CONFLICT (level) DO UPDATE SET monthly_token_allocation = 1000, token_policy = '{"rollover": false}';

-- ---- prices in time ----------------------------------------------------------------
SELECT is((model_price_at('00000000-0000-7000-8000-0000000000f2')).input_per_1m, 1.000000::numeric(14,6),
          'the current price applies now');
SELECT is((model_price_at('00000000-0000-7000-8000-0000000000f2', now() + interval '31 days')).input_per_1m,
          5.000000::numeric(14,6), 'a future price applies only from its date');

-- ---- every named CHECK ------------------------------------------------------------
SELECT throws_like(q, '%' || c || '%', c || ' rejects a bad value') FROM (VALUES
  ($$INSERT INTO ai_models (provider_id, name, display_name, context_window) VALUES ('00000000-0000-7000-8000-0000000000f1', 'x', 'X', 0)$$, 'chk_ai_models_context_window'),
  ($$INSERT INTO ai_model_prices (model_id, effective_from, input_per_1m, output_per_1m) VALUES ('00000000-0000-7000-8000-0000000000f2', now(), -1, 1)$$, 'chk_ai_model_prices_input_per_1m'),
  ($$INSERT INTO subscription_plans (level, name) VALUES ('gold', 'Gold')$$, 'chk_subscription_plans_level'),
  ($$INSERT INTO ai_requests (tenant_id, provider, model, input_tokens) VALUES ('00000000-0000-7000-8000-00000000a001', 'p', 'm', -1)$$, 'chk_ai_requests_input_tokens'),
  ($$INSERT INTO ai_requests (tenant_id, provider, model, total_cost) VALUES ('00000000-0000-7000-8000-00000000a001', 'p', 'm', -0.01)$$, 'chk_ai_requests_total_cost'),
  ($$INSERT INTO ai_requests (tenant_id, provider, model, quality_score) VALUES ('00000000-0000-7000-8000-00000000a001', 'p', 'm', 1.5)$$, 'chk_ai_requests_quality_score'),
  ($$INSERT INTO ai_requests (tenant_id, provider, model, relevance_score) VALUES ('00000000-0000-7000-8000-00000000a001', 'p', 'm', -0.1)$$, 'chk_ai_requests_relevance_score'),
  ($$INSERT INTO ai_requests (tenant_id, provider, model, user_rating) VALUES ('00000000-0000-7000-8000-00000000a001', 'p', 'm', 6)$$, 'chk_ai_requests_user_rating'),
  ($$INSERT INTO ai_requests (tenant_id, provider, model, status) VALUES ('00000000-0000-7000-8000-00000000a001', 'p', 'm', 'ok')$$, 'chk_ai_requests_status'),
  ($$INSERT INTO usage_metrics (tenant_id, metric_type, tokens) VALUES ('00000000-0000-7000-8000-00000000a001', 'tokens', -5)$$, 'chk_usage_metrics_tokens'),
  ($$INSERT INTO quotas (tenant_id, user_id, tokens_used_today) VALUES ('00000000-0000-7000-8000-00000000a001', '00000000-0000-7000-8000-00000000a002', -1)$$, 'chk_quotas_tokens_used_today'),
  ($$INSERT INTO tenant_quotas (tenant_id, resource_type, period, limit_value) VALUES ('00000000-0000-7000-8000-00000000a001', 'tokens', 'hourly', 1)$$, 'chk_tenant_quotas_period'),
  ($$INSERT INTO token_wallets (tenant_id, user_id, balance, held) VALUES ('00000000-0000-7000-8000-00000000b001', '00000000-0000-7000-8000-00000000b002', 5, 10)$$, 'chk_token_wallets_available'),
  ($$INSERT INTO token_wallets (tenant_id, user_id, held) VALUES ('00000000-0000-7000-8000-00000000b001', '00000000-0000-7000-8000-00000000b002', -1)$$, 'chk_token_wallets_held'),
  ($$INSERT INTO user_budgets (tenant_id, name, amount_usd, alert_thresholds) VALUES ('00000000-0000-7000-8000-00000000a001', 'b', 10, '{50,120}')$$, 'chk_user_budgets_alert_thresholds'),
  ($$INSERT INTO user_budgets (tenant_id, name, amount_usd) VALUES ('00000000-0000-7000-8000-00000000a001', 'b', 0)$$, 'chk_user_budgets_amount_usd'),
  ($$INSERT INTO user_budgets (tenant_id, name, amount_usd, period) VALUES ('00000000-0000-7000-8000-00000000a001', 'b', 1, 'hourly')$$, 'chk_user_budgets_period'),
  ($$INSERT INTO system_alerts (tenant_id, alert_type, title, severity) VALUES ('00000000-0000-7000-8000-00000000a001', 'other', 't', 'fatal')$$, 'chk_system_alerts_severity'),
  ($$INSERT INTO cost_tracking (tenant_id, period_type, period_start) VALUES ('00000000-0000-7000-8000-00000000a001', 'minutely', now())$$, 'chk_cost_tracking_period_type'),
  ($$INSERT INTO billing_records (tenant_id, period_start, period_end) VALUES ('00000000-0000-7000-8000-00000000a001', now(), now() - interval '1 day')$$, 'chk_billing_records_period'),
  ($$INSERT INTO billing_records (tenant_id, period_start, period_end, amount_usd) VALUES ('00000000-0000-7000-8000-00000000a001', now(), now() + interval '1 day', -1)$$, 'chk_billing_records_amount_usd')
) AS t(q, c);

-- ---- adjust_user_tokens ---------------------------------------------------------------
SELECT is((adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 100, 'credit') ->> 'balance_after')::bigint,
          100::bigint, 'credit adds to the balance');
SELECT is((adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 30, 'reserve') ->> 'available')::bigint,
          70::bigint, 'reserve holds tokens: available drops');
SELECT throws_ok($$SELECT adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 80, 'debit')$$,
          'AB001', 'insufficient tokens: available 70, requested 80', 'a debit beyond the available tokens is refused');
SELECT throws_ok($$SELECT adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 71, 'reserve')$$,
          'AB001', 'insufficient tokens: available 70, requested 71', 'a reserve beyond the available tokens is refused');
SELECT throws_ok($$SELECT adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 31, 'release')$$,
          'AB002', 'cannot release 31 tokens: only 30 are held', 'releasing more than is held is refused');
SELECT is((adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 30, 'release') ->> 'held_after')::bigint,
          0::bigint, 'release returns held tokens');
SELECT is((adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 40, 'debit') ->> 'balance_after')::bigint,
          60::bigint, 'debit takes from the balance');
SELECT is((adjust_user_tokens('00000000-0000-7000-8000-00000000a002', -10, 'adjustment') ->> 'balance_after')::bigint,
          50::bigint, 'a negative adjustment lowers the balance');
SELECT throws_ok($$SELECT adjust_user_tokens('00000000-0000-7000-8000-00000000a002', -51, 'adjustment')$$,
          'AB001', NULL, 'an adjustment below zero available is refused');
SELECT throws_ok($$SELECT adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 5, 'steal')$$,
          '22023', NULL, 'an unknown direction is refused (22023)');
SELECT throws_ok($$SELECT adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 0, 'credit')$$,
          '22023', NULL, 'a zero amount is refused (22023)');
SELECT throws_ok($$SELECT adjust_user_tokens('00000000-0000-7000-8000-00000000a002', -100000, 'credit')$$,
          'AB001', NULL, 'a negative credit is a debit (0017): never beyond what is available');
SELECT throws_ok($$SELECT adjust_user_tokens('00000000-0000-7000-8000-0000000000ff', 5, 'credit')$$,
          'AB404', NULL, 'an unknown user is refused (AB404)');

-- idempotency: the same key twice gives the same JSON and one ledger row
SELECT is(adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 7, 'credit', p_idempotency_key => 'retry-1'),
          adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 7, 'credit', p_idempotency_key => 'retry-1'),
          'a retried call with the same key returns the first result');
SELECT is((SELECT count(*) FROM token_ledger WHERE idempotency_key = 'retry-1'), 1::bigint,
          'and writes one ledger entry');

-- the ledger sums to the wallet
SELECT is((SELECT sum(CASE entry_type WHEN 'credit' THEN amount WHEN 'debit' THEN -amount
                                       WHEN 'adjustment' THEN amount ELSE 0 END)::bigint
             FROM token_ledger WHERE user_id = '00000000-0000-7000-8000-00000000a002'),
          (SELECT balance FROM token_wallets WHERE user_id = '00000000-0000-7000-8000-00000000a002'),
          'the ledger sums to the wallet balance');
SELECT is((SELECT sum(CASE entry_type WHEN 'reserve' THEN amount WHEN 'release' THEN -amount ELSE 0 END)::bigint
             FROM token_ledger WHERE user_id = '00000000-0000-7000-8000-00000000a002'),
          (SELECT held FROM token_wallets WHERE user_id = '00000000-0000-7000-8000-00000000a002'),
          'reserves minus releases equal the held amount');

-- ---- level allocation and resets ------------------------------------------------------------
SELECT is((auto_allocate_tokens_for_level('00000000-0000-7000-8000-00000000b002', 'basic') ->> 'amount')::bigint,
          1000::bigint, 'a level allocation credits the plan''s monthly tokens');
SELECT is(auto_allocate_tokens_for_level('00000000-0000-7000-8000-00000000b002', 'basic') ->> 'amount',
          '1000', 'allocating again in the same month returns the first result');
SELECT is((SELECT balance FROM token_wallets WHERE user_id = '00000000-0000-7000-8000-00000000b002'),
          1000::bigint, 'and credits only once');
SELECT throws_ok($$SELECT auto_allocate_tokens_for_level('00000000-0000-7000-8000-00000000b002', 'gold')$$,
          '22023', NULL, 'an unknown level is refused');
SELECT adjust_user_tokens('00000000-0000-7000-8000-00000000b002', 400, 'debit');
UPDATE token_wallets SET last_monthly_reset_at = now() - interval '2 months'
 WHERE user_id = '00000000-0000-7000-8000-00000000b002';
UPDATE token_wallets SET last_monthly_reset_at = now() WHERE user_id <> '00000000-0000-7000-8000-00000000b002';
SELECT is(reset_monthly_tokens(), 1, 'the monthly reset resets the wallet not yet reset this month');
SELECT is((SELECT balance - held FROM token_wallets WHERE user_id = '00000000-0000-7000-8000-00000000b002'),
          1000::bigint, 'without rollover, available becomes the allocation');
SELECT is(reset_monthly_tokens(), 0, 'running it again in the same month resets nothing');
INSERT INTO quotas (tenant_id, user_id, tokens_used_today, requests_today, last_reset_date)
VALUES ('00000000-0000-7000-8000-00000000a001', '00000000-0000-7000-8000-00000000a002', 500, 5, current_date - 1);
UPDATE quotas SET last_reset_date = current_date WHERE user_id <> '00000000-0000-7000-8000-00000000a002';
SELECT is(reset_daily_quotas(), 1, 'the daily reset resets yesterday''s quota');
SELECT is((SELECT tokens_used_today FROM quotas WHERE user_id = '00000000-0000-7000-8000-00000000a002'),
          0::bigint, 'to zero');
SELECT is(reset_daily_quotas(), 0, 'and nothing when run again the same day');

-- ---- views ----------------------------------------------------------------------------------
INSERT INTO ai_requests (tenant_id, user_id, provider, model, input_tokens, output_tokens, total_tokens)
VALUES ('00000000-0000-7000-8000-00000000a001', '00000000-0000-7000-8000-00000000a002', 'p', 'm', 3, 4, 7);
SELECT is((SELECT prompt_tokens + completion_tokens FROM usage_logs
            WHERE user_id = '00000000-0000-7000-8000-00000000a002'), 7::bigint, 'usage_logs reads ai_requests');
SELECT ok((SELECT count(*) FROM token_transactions WHERE user_id = '00000000-0000-7000-8000-00000000a002') > 5,
          'token_transactions reads the ledger');
SELECT is((SELECT used_today FROM user_quotas WHERE user_id = '00000000-0000-7000-8000-00000000a002'),
          0::bigint, 'user_quotas reads quotas');

-- ---- as the service, in the other tenant --------------------------------------------------
SELECT abtest.become('00000000-0000-7000-8000-00000000b001');
SELECT throws_ok($$SELECT adjust_user_tokens('00000000-0000-7000-8000-00000000a002', 5, 'credit')$$,
          'AB404', NULL, 'the service in tenant B cannot touch a user of tenant A');
SELECT is((SELECT count(*) FROM token_wallets), 1::bigint, 'and sees only B''s wallet');
-- Every settle looks its hold up by primary key, with a plan PL/pgSQL keeps: planned while
-- the table is small (here: empty, never analyzed), it must still be the primary key, and
-- not an index that only narrows the lookup to the tenant.
PREPARE hold_lookup(uuid, uuid) AS SELECT user_id FROM token_holds WHERE tenant_id = $1 AND id = $2;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT matches(abtest.plan($$EXECUTE hold_lookup('00000000-0000-7000-8000-00000000b001',
                                                 '00000000-0000-7000-8000-00000000b009')$$),
               'Index Cond: \(\(tenant_id = \$1\) AND \(id = \$2\)\)',
               'a hold is looked up by (tenant_id, id) on an index, even with a plan made on an empty table');
RESET plan_cache_mode;
DEALLOCATE hold_lookup;
SELECT abtest.unbecome();

SELECT * FROM finish();
ROLLBACK;
