-- Back to 0017: the accounting functions as 0010 (usage_settle as 0011) left them, and
-- without 0018's tables, columns, indexes, triggers and role_access rows.

DELETE FROM agentbase.role_access
 WHERE resource IN ('request-feedback', 'performance-metric-rollups', 'usage-logs', 'token-transactions', 'user-quotas');

DROP FUNCTION agentbase.usage_monthly(uuid, date);
DROP FUNCTION agentbase.usage_requests(timestamptz, timestamptz, text, text, uuid, uuid, uuid, uuid, integer);
DROP FUNCTION agentbase.performance_rollup(timestamptz);
DROP INDEX agentbase.idx_performance_metrics_recorded_at;
DROP TABLE agentbase.performance_metric_rollups;
DROP FUNCTION agentbase.request_feedback_of(uuid, uuid);
DROP TABLE agentbase.request_feedback;
DROP FUNCTION agentbase.request_feedback_target();

CREATE OR REPLACE FUNCTION agentbase.usage_check_refs(s agentbase.usage_state, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    -- Ids are compared as variables, never as expressions of p: under RLS, a condition
    -- with a function that may raise (->>, the cast) cannot be an index condition.
    v_agent uuid := (p ->> 'agent_id')::uuid;
    v_conversation uuid := (p ->> 'conversation_id')::uuid;
BEGIN
    IF NOT s.tenant_found THEN
        RETURN agentbase.usage_error(404, 'not_found', format('tenant %s not found', s.tenant_id));
    END IF;
    IF NOT s.user_found THEN
        RETURN agentbase.usage_error(404, 'not_found', format('user %s not found', p ->> 'user_id'));
    END IF;
    IF v_agent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM agentbase.agents
                    WHERE tenant_id = s.tenant_id AND id = v_agent) THEN
        RETURN agentbase.usage_error(422, 'invalid_reference', format('agent %s not found', v_agent));
    END IF;
    IF v_conversation IS NOT NULL AND NOT EXISTS (SELECT 1 FROM agentbase.conversations
                    WHERE tenant_id = s.tenant_id AND id = v_conversation) THEN
        RETURN agentbase.usage_error(422, 'invalid_reference', format('conversation %s not found', v_conversation));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION agentbase.usage_reserve(s agentbase.usage_state, p jsonb, p_key text)
RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    v_hash text := md5(p::text);
    v_in bigint := (p ->> 'estimated_input_tokens')::bigint;
    v_out bigint := (p ->> 'max_output_tokens')::bigint;
    v_amount bigint := v_in + v_out;
    v_price agentbase.ai_model_prices;
    v_cost numeric(20,10);
    v_b agentbase.user_budgets;
    v_budgets jsonb := '[]';
    v_q agentbase.quotas := s.quota;
    v_w agentbase.token_wallets;
    v_id uuid := agentbase.uuid_v7();
    v_expires timestamptz := now() + make_interval(secs => coalesce((p ->> 'expires_in_seconds')::int, 600));
BEGIN
    s.result := agentbase.usage_replay(s.tenant_id, 'usage.reserve', p_key, v_hash);
    IF s.result IS NOT NULL THEN
        RETURN s;
    END IF;
    s.result := agentbase.usage_check_refs(s, p);
    IF s.result IS NOT NULL THEN
        RETURN s;
    END IF;
    IF NOT s.tenant_active THEN
        s.result := agentbase.usage_error(429, 'tenant_suspended', 'this tenant is not active');
        RETURN s;
    END IF;
    v_price := agentbase.usage_price(agentbase.usage_model(p ->> 'provider', p ->> 'model'));
    IF v_price.id IS NULL THEN
        s.result := agentbase.usage_error(422, 'unknown_model',
            format('no price in effect for model %s of provider %s', p ->> 'model', p ->> 'provider'));
        RETURN s;
    END IF;
    v_cost := round((v_in * v_price.input_per_1m + v_out * v_price.output_per_1m) / 1000000, 10);

    IF s.req_limit IS NOT NULL AND (s.req).used_value + 1 > s.req_limit THEN
        s.result := agentbase.usage_error(429, 'quota_exceeded', 'the plan''s daily request limit is reached',
            jsonb_build_object('scope', 'plan', 'limit', 'daily_requests', 'value', s.req_limit,
                               'used', (s.req).used_value),
            agentbase.usage_seconds_left('daily'));
        RETURN s;
    END IF;
    IF s.tok_limit IS NOT NULL AND (s.tok).used_value + (s.tok).reserved_value + v_amount > s.tok_limit THEN
        s.result := agentbase.usage_error(429, 'quota_exceeded', 'the plan''s monthly token limit would be exceeded',
            jsonb_build_object('scope', 'plan', 'limit', 'monthly_tokens', 'value', s.tok_limit,
                               'used', (s.tok).used_value, 'reserved', (s.tok).reserved_value, 'requested', v_amount),
            agentbase.usage_seconds_left('monthly'));
        RETURN s;
    END IF;

    -- Budgets of the tenant and of the user, in USD at today's price.
    FOREACH v_b IN ARRAY s.budgets LOOP
        IF v_b.hard_limit AND v_b.spent_usd + v_b.reserved_usd + v_cost > v_b.amount_usd THEN
            s.result := agentbase.usage_error(429, 'budget_exceeded',
                format('budget %s (%s USD %s) would be exceeded', v_b.name, v_b.amount_usd::numeric(20,2), v_b.period),
                jsonb_build_object('scope', CASE WHEN v_b.user_id IS NULL THEN 'tenant' ELSE 'user' END,
                                   'budget_id', v_b.id, 'amount_usd', v_b.amount_usd, 'spent_usd', v_b.spent_usd,
                                   'reserved_usd', v_b.reserved_usd, 'requested_usd', v_cost),
                agentbase.usage_seconds_left(v_b.period));
            RETURN s;
        END IF;
        v_budgets := v_budgets || jsonb_build_object('id', v_b.id, 'name', v_b.name, 'period', v_b.period,
                         'remaining_usd', v_b.amount_usd - v_b.spent_usd - v_b.reserved_usd - v_cost);
    END LOOP;

    IF v_q.id IS NOT NULL THEN
        IF v_q.daily_request_limit IS NOT NULL AND v_q.requests_today + 1 > v_q.daily_request_limit THEN
            s.result := agentbase.usage_error(429, 'quota_exceeded', 'the user''s daily request quota is reached',
                jsonb_build_object('scope', 'user', 'limit', 'daily_requests', 'value', v_q.daily_request_limit,
                                   'used', v_q.requests_today),
                agentbase.usage_seconds_left('daily'));
            RETURN s;
        END IF;
        IF v_q.daily_token_limit IS NOT NULL
           AND v_q.tokens_used_today + v_q.tokens_reserved + v_amount > v_q.daily_token_limit THEN
            s.result := agentbase.usage_error(429, 'quota_exceeded', 'the user''s daily token quota would be exceeded',
                jsonb_build_object('scope', 'user', 'limit', 'daily_tokens', 'value', v_q.daily_token_limit,
                                   'used', v_q.tokens_used_today, 'reserved', v_q.tokens_reserved, 'requested', v_amount),
                agentbase.usage_seconds_left('daily'));
            RETURN s;
        END IF;
        IF v_q.monthly_token_limit IS NOT NULL
           AND v_q.tokens_used_month + v_q.tokens_reserved + v_amount > v_q.monthly_token_limit THEN
            s.result := agentbase.usage_error(429, 'quota_exceeded', 'the user''s monthly token quota would be exceeded',
                jsonb_build_object('scope', 'user', 'limit', 'monthly_tokens', 'value', v_q.monthly_token_limit,
                                   'used', v_q.tokens_used_month, 'reserved', v_q.tokens_reserved, 'requested', v_amount),
                agentbase.usage_seconds_left('monthly'));
            RETURN s;
        END IF;
    END IF;

    -- The wallet: overage is paid back first, and blocks reservations until it is.
    s := agentbase.usage_cover_overage(s);
    v_w := s.wallet;
    IF v_w.id IS NOT NULL AND v_w.overage > 0 THEN
        s.result := agentbase.usage_error(429, 'insufficient_tokens',
            format('the wallet owes %s tokens of overage; credit it first', v_w.overage),
            jsonb_build_object('scope', 'wallet', 'overage', v_w.overage, 'available', v_w.balance - v_w.held));
        RETURN s;
    END IF;
    IF v_w.id IS NOT NULL AND v_w.balance - v_w.held < v_amount THEN
        s.result := agentbase.usage_error(429, 'insufficient_tokens',
            format('the wallet has %s tokens available, the reservation needs %s', v_w.balance - v_w.held, v_amount),
            jsonb_build_object('scope', 'wallet', 'available', v_w.balance - v_w.held, 'requested', v_amount));
        RETURN s;
    END IF;

    -- Everything passed: the response first (it is what a retry gets), then the holds.
    s.result := jsonb_build_object('status', 201, 'body', jsonb_strip_nulls(jsonb_build_object(
        'id', v_id, 'status', 'held', 'user_id', s.user_id, 'agent_id', p -> 'agent_id',
        'conversation_id', p -> 'conversation_id', 'provider', p ->> 'provider', 'model', p ->> 'model',
        'held_tokens', v_amount, 'estimated_cost_usd', v_cost,
        'price', jsonb_build_object('input_per_1m', v_price.input_per_1m, 'output_per_1m', v_price.output_per_1m,
                                    'cached_input_per_1m', v_price.cached_input_per_1m,
                                    'effective_from', v_price.effective_from),
        'expires_at', v_expires, 'created_at', now(),
        'remaining', jsonb_build_object(
            'wallet_tokens', CASE WHEN v_w.id IS NOT NULL THEN v_w.balance - v_w.held - v_amount END,
            'daily_tokens', v_q.daily_token_limit - v_q.tokens_used_today - v_q.tokens_reserved - v_amount,
            'monthly_tokens', v_q.monthly_token_limit - v_q.tokens_used_month - v_q.tokens_reserved - v_amount,
            'daily_requests', v_q.daily_request_limit - v_q.requests_today - 1,
            'plan_daily_requests', s.req_limit - (s.req).used_value - 1,
            'plan_monthly_tokens', s.tok_limit - (s.tok).used_value - (s.tok).reserved_value - v_amount,
            'budgets', v_budgets))));
    PERFORM agentbase.usage_remember(s.tenant_id, 'usage.reserve', p_key, v_hash, s.result);

    s.req.used_value := (s.req).used_value + 1;
    s.tok.reserved_value := (s.tok).reserved_value + v_amount;
    FOR i IN 1 .. cardinality(s.budgets) LOOP
        s.budgets[i].reserved_usd := (s.budgets[i]).reserved_usd + v_cost;
    END LOOP;
    IF v_q.id IS NOT NULL THEN
        s.quota.requests_today := v_q.requests_today + 1;
        s.quota.tokens_reserved := v_q.tokens_reserved + v_amount;
    END IF;
    IF v_w.id IS NOT NULL THEN
        s.wallet.held := v_w.held + v_amount;
        PERFORM agentbase.usage_ledger(s.wallet, 'reserve', v_amount, 'reservation', v_id, p_key);
    END IF;
    INSERT INTO agentbase.token_holds
        (tenant_id, id, wallet_id, user_id, agent_id, conversation_id, amount, estimated_cost, expires_at,
         idempotency_key, metadata, provider, model, model_id, input_tokens, max_output_tokens, budget_ids)
    VALUES (s.tenant_id, v_id, v_w.id, s.user_id, (p ->> 'agent_id')::uuid, (p ->> 'conversation_id')::uuid,
            v_amount, v_cost, v_expires, p_key, coalesce(p -> 'metadata', '{}'), p ->> 'provider', p ->> 'model',
            v_price.model_id, v_in, v_out, ARRAY(SELECT (b).id FROM unnest(s.budgets) b));
    RETURN s;
END
$$;

CREATE OR REPLACE FUNCTION agentbase.usage_charge(s agentbase.usage_state, p jsonb, p_price agentbase.ai_model_prices,
                                       p_reservation uuid, p_key text, p_count_request boolean)
RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    v_input bigint := (p ->> 'input_tokens')::bigint;
    v_output bigint := (p ->> 'output_tokens')::bigint;
    v_cached bigint := coalesce((p ->> 'cached_tokens')::bigint, 0);
    v_total bigint := v_input + v_output;
    v_latency integer := (p ->> 'latency_ms')::integer;
    v_status text := coalesce(p ->> 'status', 'success');
    v_in_cost numeric(20,10) := coalesce(((v_input - v_cached) * p_price.input_per_1m
                                          + v_cached * p_price.cached_input_per_1m) / 1000000, 0);
    v_out_cost numeric(20,10) := coalesce(v_output * p_price.output_per_1m / 1000000, 0);
    v_cost numeric(20,10) := v_in_cost + v_out_cost;
    v_b agentbase.user_budgets;
    v_old numeric;
    v_threshold integer;
    v_debit bigint := 0;
    v_overage bigint := 0;
    v_alerts jsonb := '[]';
    v_exceeded jsonb := '[]';
    v_request_id uuid := agentbase.uuid_v7();
BEGIN
    IF p_count_request THEN
        s.req.used_value := (s.req).used_value + 1;
        IF (s.req).used_value > s.req_limit THEN
            v_exceeded := v_exceeded || '"plan_daily_requests"';
        END IF;
    END IF;
    s.tok.used_value := (s.tok).used_value + v_total;
    IF (s.tok).used_value + (s.tok).reserved_value > s.tok_limit THEN
        v_exceeded := v_exceeded || '"plan_monthly_tokens"';
    END IF;

    FOR i IN 1 .. cardinality(s.budgets) LOOP
        v_old := (s.budgets[i]).spent_usd;
        s.budgets[i].spent_usd := v_old + v_cost;
        v_b := s.budgets[i];
        IF v_b.spent_usd + v_b.reserved_usd > v_b.amount_usd THEN
            v_exceeded := v_exceeded || to_jsonb('budget:' || v_b.id);
        END IF;
        -- Each threshold crossed by this charge fires once per period (the unique key of
        -- budget_alert_events makes sure, even across service instances).
        FOREACH v_threshold IN ARRAY v_b.alert_thresholds LOOP
            CONTINUE WHEN v_b.spent_usd * 100 < v_b.amount_usd * v_threshold
                       OR (v_old > 0 AND v_old * 100 >= v_b.amount_usd * v_threshold);
            INSERT INTO agentbase.budget_alert_events (tenant_id, budget_id, threshold, period_start, spent_usd)
            VALUES (s.tenant_id, v_b.id, v_threshold, v_b.period_start, v_b.spent_usd)
            ON CONFLICT (tenant_id, budget_id, threshold, period_start) DO NOTHING;
            CONTINUE WHEN NOT FOUND;
            INSERT INTO agentbase.system_alerts (tenant_id, alert_type, severity, title, message,
                                                 resource_type, resource_id, metadata)
            VALUES (s.tenant_id, 'budget_threshold', CASE WHEN v_threshold >= 100 THEN 'critical' ELSE 'warning' END,
                    format('budget %s reached %s%%', v_b.name, v_threshold),
                    format('%s of %s USD spent this period', v_b.spent_usd::numeric(20,4), v_b.amount_usd::numeric(20,2)),
                    'user_budget', v_b.id::text,
                    jsonb_build_object('budget_id', v_b.id, 'threshold', v_threshold, 'period_start', v_b.period_start,
                                       'spent_usd', v_b.spent_usd, 'amount_usd', v_b.amount_usd));
            v_alerts := v_alerts || jsonb_build_object('budget_id', v_b.id, 'threshold', v_threshold);
        END LOOP;
    END LOOP;

    IF (s.quota).id IS NOT NULL THEN
        s.quota.tokens_used_today := (s.quota).tokens_used_today + v_total;
        s.quota.tokens_used_month := (s.quota).tokens_used_month + v_total;
        IF p_count_request THEN
            s.quota.requests_today := (s.quota).requests_today + 1;
        END IF;
        IF (s.quota).tokens_used_today + (s.quota).tokens_reserved > (s.quota).daily_token_limit THEN
            v_exceeded := v_exceeded || '"daily_tokens"';
        END IF;
    END IF;

    -- The usage happened: debit what the wallet can cover, record the rest as overage.
    IF (s.wallet).id IS NOT NULL AND v_total > 0 THEN
        v_debit := least(v_total, (s.wallet).balance - (s.wallet).held);
        v_overage := v_total - v_debit;
        s.wallet.balance := (s.wallet).balance - v_debit;
        s.wallet.lifetime_debited := (s.wallet).lifetime_debited + v_debit;
        s.wallet.overage := (s.wallet).overage + v_overage;
        IF v_debit > 0 THEN
            PERFORM agentbase.usage_ledger(s.wallet, 'debit', v_debit, 'llm usage', p_reservation, p_key);
        END IF;
        IF v_overage > 0 THEN
            INSERT INTO agentbase.system_alerts (tenant_id, alert_type, severity, title, message,
                                                 resource_type, resource_id, metadata)
            VALUES (s.tenant_id, 'overage', 'critical', 'usage exceeded the wallet',
                    format('%s tokens could not be covered; new reservations are refused until they are', v_overage),
                    'token_wallet', (s.wallet).id::text,
                    jsonb_build_object('user_id', s.user_id, 'overage', v_overage, 'wallet_overage', (s.wallet).overage));
            v_exceeded := v_exceeded || '"wallet"';
        END IF;
    END IF;

    INSERT INTO agentbase.ai_requests
        (tenant_id, id, user_id, agent_id, conversation_id, message_id, provider, model, model_id, request_type,
         input_tokens, output_tokens, cached_tokens, total_tokens, input_per_1m, output_per_1m,
         cached_input_per_1m, price_effective_from, input_cost, output_cost, total_cost, latency_ms,
         time_to_first_token_ms, tokens_per_second, status, error_code, error_message, reservation_id,
         idempotency_key, metadata)
    VALUES (s.tenant_id, v_request_id, s.user_id, (p ->> 'agent_id')::uuid, (p ->> 'conversation_id')::uuid,
            (p ->> 'message_id')::uuid, p ->> 'provider', p ->> 'model', p_price.model_id,
            coalesce(p ->> 'request_type', 'chat'), v_input, v_output, v_cached, v_total,
            p_price.input_per_1m, p_price.output_per_1m, p_price.cached_input_per_1m, p_price.effective_from,
            v_in_cost, v_out_cost, v_cost, v_latency, (p ->> 'time_to_first_token_ms')::integer,
            CASE WHEN v_latency > 0 THEN round(v_output * 1000.0 / v_latency, 3) END,
            v_status, p ->> 'error_code', p ->> 'error_message', p_reservation, p_key,
            coalesce(p -> 'metadata', '{}') || jsonb_strip_nulls(jsonb_build_object('tool_call_ids', p -> 'tool_call_ids')));

    s.result := jsonb_build_object(
        'body', jsonb_build_object(
            'ai_request_id', v_request_id, 'input_tokens', v_input, 'output_tokens', v_output,
            'cached_tokens', v_cached, 'total_tokens', v_total, 'cost_usd', v_cost,
            'price', CASE WHEN p_price.id IS NOT NULL THEN jsonb_build_object(
                'input_per_1m', p_price.input_per_1m, 'output_per_1m', p_price.output_per_1m,
                'cached_input_per_1m', p_price.cached_input_per_1m, 'effective_from', p_price.effective_from) END,
            'debited_tokens', v_debit, 'overage_tokens', v_overage, 'alerts', v_alerts,
            'limits_exceeded', v_exceeded),
        '_rollup', jsonb_build_object(
            'hour', date_trunc('hour', now()), 'user_id', s.user_id,
            'agent_id', p -> 'agent_id', 'provider', p ->> 'provider', 'model', p ->> 'model',
            'input', v_input, 'output', v_output, 'cached', v_cached, 'total', v_total, 'cost', v_cost,
            'latency', v_latency, 'ok', v_status = 'success'));
    RETURN s;
END
$$;

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

CREATE OR REPLACE FUNCTION agentbase.usage_event(s agentbase.usage_state, p jsonb, p_key text) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    v_hash text := md5(p::text);
    v_price agentbase.ai_model_prices;
    v_rollup jsonb;
BEGIN
    s.result := agentbase.usage_replay(s.tenant_id, 'usage.event', p_key, v_hash);
    IF s.result IS NOT NULL THEN
        RETURN s;
    END IF;
    s.result := agentbase.usage_check_refs(s, p);
    IF s.result IS NOT NULL THEN
        RETURN s;
    END IF;
    v_price := agentbase.usage_price(agentbase.usage_model(p ->> 'provider', p ->> 'model'));
    IF v_price.id IS NULL THEN
        s.result := agentbase.usage_error(422, 'unknown_model',
            format('no price in effect for model %s of provider %s', p ->> 'model', p ->> 'provider'));
        RETURN s;
    END IF;
    s := agentbase.usage_charge(s, p, v_price, NULL, p_key, true);
    v_rollup := s.result -> '_rollup';
    s.result := jsonb_build_object('status', 201, 'body', s.result -> 'body');
    PERFORM agentbase.usage_remember(s.tenant_id, 'usage.event', p_key, v_hash, s.result);
    s.result := s.result || jsonb_build_object('_rollup', v_rollup);
    RETURN s;
END
$$;

CREATE OR REPLACE FUNCTION agentbase.usage_flush(p_tenant uuid, p_rows jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_array_length(p_rows) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO agentbase.cost_tracking AS c
        (tenant_id, period_type, period_start, user_id, agent_id, provider, model, request_count,
         success_count, error_count, input_tokens, output_tokens, cached_tokens, total_tokens,
         total_cost, latency_sum_ms, latency_count, avg_latency_ms)
    SELECT p_tenant, 'hourly', hour, user_id, agent_id, provider, model, count(*),
           count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok), sum(input), sum(output),
           sum(cached), sum(total), sum(cost), coalesce(sum(latency), 0), count(latency), avg(latency)
      FROM jsonb_to_recordset(p_rows) AS r(hour timestamptz, user_id uuid, agent_id uuid, provider text,
                                           model text, input bigint, output bigint, cached bigint,
                                           total bigint, cost numeric, latency bigint, ok boolean)
     GROUP BY hour, user_id, agent_id, provider, model
     ORDER BY hour, user_id, agent_id, provider, model
    ON CONFLICT ON CONSTRAINT uq_cost_tracking_rollup DO UPDATE
       SET request_count = c.request_count + excluded.request_count,
           success_count = c.success_count + excluded.success_count,
           error_count = c.error_count + excluded.error_count,
           input_tokens = c.input_tokens + excluded.input_tokens,
           output_tokens = c.output_tokens + excluded.output_tokens,
           cached_tokens = c.cached_tokens + excluded.cached_tokens,
           total_tokens = c.total_tokens + excluded.total_tokens,
           total_cost = c.total_cost + excluded.total_cost,
           latency_sum_ms = c.latency_sum_ms + excluded.latency_sum_ms,
           latency_count = c.latency_count + excluded.latency_count,
           avg_latency_ms = (c.latency_sum_ms + excluded.latency_sum_ms)
                            / nullif(c.latency_count + excluded.latency_count, 0);
    INSERT INTO agentbase.usage_metrics (tenant_id, user_id, agent_id, metric_type, value, tokens, cost,
                                         period_start)
    SELECT p_tenant, user_id, agent_id, 'llm_requests', count(*), sum(total), sum(cost), min(hour)
      FROM jsonb_to_recordset(p_rows) AS r(hour timestamptz, user_id uuid, agent_id uuid, total bigint,
                                           cost numeric)
     GROUP BY user_id, agent_id;
END
$$;

CREATE OR REPLACE FUNCTION agentbase.usage_rollup() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_step record;
    v_rows integer;
    v_total integer := 0;
BEGIN
    FOR v_step IN SELECT * FROM (VALUES ('daily', 'hourly', 'day'), ('weekly', 'daily', 'week'),
                                        ('monthly', 'daily', 'month'), ('yearly', 'monthly', 'year'))
                                 AS x(target, source, unit) LOOP
        INSERT INTO agentbase.cost_tracking AS c
            (tenant_id, period_type, period_start, user_id, agent_id, provider, model, request_count,
             success_count, error_count, input_tokens, output_tokens, cached_tokens, total_tokens,
             total_cost, latency_sum_ms, latency_count, avg_latency_ms)
        SELECT tenant_id, v_step.target, date_trunc(v_step.unit, period_start), user_id, agent_id, provider,
               model, sum(request_count), sum(success_count), sum(error_count), sum(input_tokens),
               sum(output_tokens), sum(cached_tokens), sum(total_tokens), sum(total_cost),
               sum(latency_sum_ms), sum(latency_count),
               round(sum(latency_sum_ms)::numeric / nullif(sum(latency_count), 0), 3)
          FROM agentbase.cost_tracking
         WHERE period_type = v_step.source
           AND period_start >= date_trunc(v_step.unit, now()) - ('1 ' || v_step.unit)::interval
         GROUP BY tenant_id, date_trunc(v_step.unit, period_start), user_id, agent_id, provider, model
        ON CONFLICT ON CONSTRAINT uq_cost_tracking_rollup DO UPDATE
           SET request_count = excluded.request_count, success_count = excluded.success_count,
               error_count = excluded.error_count, input_tokens = excluded.input_tokens,
               output_tokens = excluded.output_tokens, cached_tokens = excluded.cached_tokens,
               total_tokens = excluded.total_tokens, total_cost = excluded.total_cost,
               latency_sum_ms = excluded.latency_sum_ms, latency_count = excluded.latency_count,
               avg_latency_ms = excluded.avg_latency_ms
         WHERE (c.request_count, c.success_count, c.error_count, c.input_tokens, c.output_tokens,
                c.cached_tokens, c.total_tokens, c.total_cost, c.latency_sum_ms, c.latency_count)
               IS DISTINCT FROM
               (excluded.request_count, excluded.success_count, excluded.error_count, excluded.input_tokens,
                excluded.output_tokens, excluded.cached_tokens, excluded.total_tokens, excluded.total_cost,
                excluded.latency_sum_ms, excluded.latency_count);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_total := v_total + v_rows;
    END LOOP;
    RETURN v_total;
END
$$;

CREATE OR REPLACE FUNCTION agentbase.usage_summary(p_from timestamptz, p_to timestamptz, p_group_by text)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_key text;
    v_groups jsonb;
    v_totals jsonb;
    v_budgets jsonb;
    v_figures CONSTANT text :=
        'coalesce(sum(request_count), 0) AS requests, coalesce(sum(success_count), 0) AS successes, '
        'coalesce(sum(error_count), 0) AS errors, '
        'round(sum(success_count)::numeric / nullif(sum(request_count), 0), 4) AS success_rate, '
        'coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens, '
        'coalesce(sum(cached_tokens), 0) AS cached_tokens, coalesce(sum(total_tokens), 0) AS total_tokens, '
        'coalesce(sum(total_cost), 0) AS cost_usd, '
        'round(sum(latency_sum_ms)::numeric / nullif(sum(latency_count), 0), 3) AS avg_latency_ms';
BEGIN
    v_key := CASE p_group_by
             WHEN 'model' THEN 'provider, model'
             WHEN 'user' THEN 'user_id'
             WHEN 'agent' THEN 'agent_id'
             WHEN 'day' THEN 'date_trunc(''day'', period_start) AS day'
             WHEN 'hour' THEN 'period_start AS hour' END;
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'invalid group_by %: expected model, user, agent, day or hour', coalesce(p_group_by, 'NULL')
              USING ERRCODE = '22023';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RAISE EXCEPTION 'invalid period: from must be before to' USING ERRCODE = '22023';
    END IF;
    EXECUTE format(
        'SELECT coalesce(jsonb_agg(to_jsonb(g) ORDER BY g.cost_usd DESC, g.requests DESC), ''[]'') FROM ('
        '  SELECT %s, %s FROM agentbase.cost_tracking'
        '   WHERE tenant_id = agentbase.current_tenant_id() AND period_type = ''hourly'''
        '     AND period_start >= date_trunc(''hour'', $1) AND period_start < $2'
        '   GROUP BY %s) g',
        v_key, v_figures, regexp_replace(v_key, ' AS [a-z]+', '', 'g'))
    INTO v_groups USING p_from, p_to;
    EXECUTE format(
        'SELECT to_jsonb(g) FROM (SELECT %s FROM agentbase.cost_tracking'
        '   WHERE tenant_id = agentbase.current_tenant_id() AND period_type = ''hourly'''
        '     AND period_start >= date_trunc(''hour'', $1) AND period_start < $2) g', v_figures)
    INTO v_totals USING p_from, p_to;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', id, 'name', name, 'user_id', user_id, 'period', period, 'period_start', period_start,
               'amount_usd', amount_usd, 'spent_usd', spent_usd, 'reserved_usd', reserved_usd,
               'utilization_pct', round(spent_usd * 100 / amount_usd, 2), 'hard_limit', hard_limit)
               ORDER BY id), '[]')
      INTO v_budgets
      FROM (SELECT b.id, b.name, b.user_id, b.period, b.amount_usd, b.reserved_usd, b.hard_limit,
                   greatest(b.period_start, coalesce(agentbase.usage_period_start(b.period), b.period_start)) AS period_start,
                   CASE WHEN agentbase.usage_period_start(b.period) > b.period_start THEN 0 ELSE b.spent_usd END AS spent_usd
              FROM agentbase.user_budgets b
             WHERE b.tenant_id = agentbase.current_tenant_id() AND b.is_active) b;
    RETURN jsonb_build_object('from', p_from, 'to', p_to, 'group_by', p_group_by, 'groups', v_groups,
                              'totals', v_totals, 'budgets', v_budgets);
END
$$;

ALTER FUNCTION agentbase.usage_rollup() SECURITY DEFINER SET search_path = agentbase, pg_temp;
COMMENT ON FUNCTION agentbase.usage_summary(timestamptz, timestamptz, text) IS
    'usage of the current tenant by model, user, agent, day or hour, with totals and budget utilization';

DROP INDEX agentbase.idx_cost_tracking_tenant_id_project_id;
ALTER TABLE agentbase.cost_tracking
    DROP CONSTRAINT uq_cost_tracking_rollup,
    ADD CONSTRAINT uq_cost_tracking_rollup UNIQUE NULLS NOT DISTINCT
        (tenant_id, period_type, period_start, user_id, agent_id, provider, model),
    DROP CONSTRAINT fk_cost_tracking_projects,
    DROP COLUMN project_id;

DROP INDEX agentbase.idx_token_holds_project_id;
ALTER TABLE agentbase.token_holds
    DROP CONSTRAINT fk_token_holds_projects,
    DROP COLUMN project_id;

DROP TRIGGER trg_payloads ON agentbase.ai_requests;
DROP FUNCTION agentbase.ai_requests_payloads();
DROP TRIGGER trg_refs ON agentbase.ai_requests;
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.ai_requests
    FOR EACH ROW WHEN (current_user <> 'agentbase_owner')
    EXECUTE FUNCTION agentbase.refs_check('user_id:users', 'agent_id:agents', 'conversation_id:conversations',
                                          'message_id:messages');
DROP INDEX agentbase.idx_ai_requests_tenant_id_project_id_created_at;
ALTER TABLE agentbase.ai_requests
    DROP CONSTRAINT chk_ai_requests_confidence_score,
    DROP CONSTRAINT chk_ai_requests_safety_score,
    DROP CONSTRAINT chk_ai_requests_completed_at,
    DROP COLUMN project_id,
    DROP COLUMN confidence_score,
    DROP COLUMN safety_score,
    DROP COLUMN started_at,
    DROP COLUMN completed_at,
    DROP COLUMN request_payload,
    DROP COLUMN response_payload;
