-- Back to 0025: the batch loads and saves its users' counters user by user (0010's
-- usage_apply_tenant).

-- 0010's per-user functions of the batch (usage_load_user with 0022's TimeZone) and its
-- one-by-one ledger insert.
CREATE FUNCTION agentbase.usage_load_user(s agentbase.usage_state, p_user uuid) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    v_q agentbase.quotas;
    v_w agentbase.token_wallets;
BEGIN
    s.user_id := p_user;
    s.user_found := EXISTS (SELECT 1 FROM agentbase.users
                             WHERE tenant_id = s.tenant_id AND id = p_user AND deleted_at IS NULL);
    s.budgets := s.budgets[1:s.tenant_budgets] || agentbase.usage_roll_budgets(ARRAY(
        SELECT b FROM agentbase.user_budgets b
         WHERE tenant_id = s.tenant_id AND user_id = p_user AND is_active ORDER BY id FOR UPDATE));
    SELECT * INTO v_q FROM agentbase.quotas WHERE tenant_id = s.tenant_id AND user_id = p_user FOR UPDATE;
    IF FOUND AND v_q.last_reset_date < current_date THEN
        v_q.tokens_used_today := 0;
        v_q.requests_today := 0;
        v_q.last_reset_date := current_date;
        v_q.reset_at := now();
    END IF;
    IF FOUND AND v_q.month_start < date_trunc('month', now())::date THEN
        v_q.tokens_used_month := 0;
        v_q.month_start := date_trunc('month', now())::date;
    END IF;
    s.quota := v_q;
    SELECT * INTO v_w FROM agentbase.token_wallets WHERE tenant_id = s.tenant_id AND user_id = p_user FOR UPDATE;
    s.wallet := v_w;
    RETURN s;
END
$$;
COMMENT ON FUNCTION agentbase.usage_load_user(agentbase.usage_state, uuid) IS
    'loads a user''s quota, wallet and budgets into the batch state, locked';
ALTER FUNCTION agentbase.usage_load_user(agentbase.usage_state, uuid) SET "TimeZone" = 'UTC';

CREATE FUNCTION agentbase.usage_save_user(s agentbase.usage_state) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF s.user_id IS NULL THEN
        RETURN;
    END IF;
    IF (s.quota).id IS NOT NULL THEN
        UPDATE agentbase.quotas
           SET tokens_used_today = (s.quota).tokens_used_today, requests_today = (s.quota).requests_today,
               tokens_used_month = (s.quota).tokens_used_month, tokens_reserved = (s.quota).tokens_reserved,
               last_reset_date = (s.quota).last_reset_date, month_start = (s.quota).month_start,
               reset_at = (s.quota).reset_at
         WHERE tenant_id = s.tenant_id AND id = (s.quota).id;
    END IF;
    IF (s.wallet).id IS NOT NULL THEN
        UPDATE agentbase.token_wallets
           SET balance = (s.wallet).balance, held = (s.wallet).held, overage = (s.wallet).overage,
               lifetime_debited = (s.wallet).lifetime_debited
         WHERE tenant_id = s.tenant_id AND id = (s.wallet).id;
    END IF;
    PERFORM agentbase.usage_save_budgets(s.budgets[s.tenant_budgets + 1:]);
END
$$;
COMMENT ON FUNCTION agentbase.usage_save_user(agentbase.usage_state) IS
    'writes the batch state''s user counters back';

CREATE FUNCTION agentbase.usage_ledger(v agentbase.token_wallets, p_type text, p_amount bigint,
                                       p_reason text, p_reference_id uuid, p_key text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO agentbase.token_ledger
        (tenant_id, wallet_id, user_id, entry_type, amount, balance_after, held_after, reason,
         source, reference_type, reference_id, idempotency_key, created_by)
    VALUES (v.tenant_id, v.id, v.user_id, p_type, p_amount, v.balance, v.held, p_reason,
            'usage', 'token_hold', p_reference_id::text, p_key, agentbase.current_actor_id());
END
$$;
COMMENT ON FUNCTION agentbase.usage_ledger(agentbase.token_wallets, text, bigint, text, uuid, text) IS
    'appends the ledger entry of a wallet change';

-- Applies the operations of one tenant (at positions p_idx of p_ops, ascending) under its
-- lock, grouped by user, each user's in arrival order; returns their results, aligned with
-- p_idx. A settle, release or expiry belongs to the user of its reservation, looked up one
-- by one by primary key (whatever the planner thinks of the table's size).
CREATE OR REPLACE FUNCTION agentbase.usage_apply_tenant(p_tenant uuid, p_ops jsonb, p_idx integer[]) RETURNS jsonb[]
LANGUAGE plpgsql AS $$
DECLARE
    v_results jsonb[] := array_fill(NULL::jsonb, ARRAY[cardinality(p_idx)]);
    v_rollups jsonb[] := '{}';
    v_users uuid[] := '{}';
    v_user uuid;
    v_hold uuid;
    v_op jsonb;
    v_kind text;
    r record;
    s agentbase.usage_state;
BEGIN
    PERFORM set_config('agentbase.tenant_id', p_tenant::text, true);
    s := agentbase.usage_load_tenant(p_tenant);
    FOR k IN 1 .. cardinality(p_idx) LOOP
        v_op := p_ops -> (p_idx[k] - 1);
        v_user := (v_op #>> '{args,user_id}')::uuid;
        IF v_op ->> 'op' IN ('settle', 'release', 'expire') THEN
            v_hold := (v_op #>> '{args,id}')::uuid;
            SELECT user_id INTO v_user FROM agentbase.token_holds WHERE tenant_id = p_tenant AND id = v_hold;
        END IF;
        v_users := v_users || v_user;
    END LOOP;
    FOR r IN SELECT u.k, u.user_id FROM unnest(v_users) WITH ORDINALITY AS u(user_id, k)
              ORDER BY u.user_id NULLS FIRST, u.k LOOP
        IF r.user_id IS DISTINCT FROM s.user_id THEN
            PERFORM agentbase.usage_save_user(s);
            s := agentbase.usage_load_user(s, r.user_id);
        END IF;
        v_op := p_ops -> (p_idx[r.k] - 1);
        v_kind := v_op ->> 'op';
        PERFORM set_config('agentbase.actor_type', CASE WHEN v_kind = 'expire' THEN 'system' ELSE 'api_key' END, true),
                set_config('agentbase.actor_id', coalesce(v_op ->> 'actor_id', ''), true),
                set_config('agentbase.ip', coalesce(v_op ->> 'ip', ''), true),
                set_config('agentbase.request_id', coalesce(v_op ->> 'request_id', ''), true);
        IF v_kind = 'reserve' THEN
            s := agentbase.usage_reserve(s, v_op -> 'args', v_op ->> 'idempotency_key');
        ELSIF v_kind = 'settle' THEN
            s := agentbase.usage_settle(s, v_op -> 'args');
        ELSIF v_kind = 'release' THEN
            s := agentbase.usage_release(s, v_op -> 'args');
        ELSIF v_kind = 'event' THEN
            s := agentbase.usage_event(s, v_op -> 'args', v_op ->> 'idempotency_key');
        ELSIF v_kind = 'expire' THEN
            s := agentbase.usage_expire(s, v_op -> 'args');
        ELSE
            s.result := agentbase.usage_error(400, 'invalid_request', 'unknown usage operation');
        END IF;
        IF s.result ? '_rollup' THEN
            v_rollups := v_rollups || (s.result -> '_rollup');
            s.result := s.result - '_rollup';
        END IF;
        v_results[r.k] := s.result;
    END LOOP;
    PERFORM agentbase.usage_save_user(s);
    PERFORM agentbase.usage_save_tenant(s);
    PERFORM agentbase.usage_flush(p_tenant, to_jsonb(v_rollups));
    RETURN v_results;
END
$$;
COMMENT ON FUNCTION agentbase.usage_apply_tenant(uuid, jsonb, integer[]) IS
    'applies one tenant''s operations of a batch, grouped by user; their results in order';

-- 0010's usage_cover_overage and usage_unhold, 0018's usage_reserve and usage_charge (with
-- 0022's TimeZone): their ledger entries inserted one by one again.
CREATE OR REPLACE FUNCTION agentbase.usage_cover_overage(s agentbase.usage_state) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    v_cover bigint := least((s.wallet).overage, (s.wallet).balance - (s.wallet).held);
BEGIN
    IF (s.wallet).id IS NULL OR v_cover <= 0 THEN
        RETURN s;
    END IF;
    s.wallet.balance := (s.wallet).balance - v_cover;
    s.wallet.overage := (s.wallet).overage - v_cover;
    s.wallet.lifetime_debited := (s.wallet).lifetime_debited + v_cover;
    PERFORM agentbase.usage_ledger(s.wallet, 'debit', v_cover, 'overage paid back', NULL, NULL);
    RETURN s;
END
$$;

CREATE OR REPLACE FUNCTION agentbase.usage_unhold(s agentbase.usage_state, h agentbase.token_holds, p_reason text)
RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    v_found integer := 0;
    v_back bigint;
BEGIN
    s.tok.reserved_value := greatest(0, (s.tok).reserved_value - h.amount);
    FOR i IN 1 .. cardinality(s.budgets) LOOP
        IF (s.budgets[i]).id = ANY (h.budget_ids) THEN
            s.budgets[i].reserved_usd := greatest(0, (s.budgets[i]).reserved_usd - h.estimated_cost);
            v_found := v_found + 1;
        END IF;
    END LOOP;
    IF v_found < cardinality(h.budget_ids) THEN
        -- Budgets made inactive since the reservation are not in the state.
        UPDATE agentbase.user_budgets SET reserved_usd = greatest(0, reserved_usd - h.estimated_cost)
         WHERE tenant_id = h.tenant_id AND id = ANY (h.budget_ids) AND NOT is_active;
    END IF;
    IF (s.quota).id IS NOT NULL THEN
        s.quota.tokens_reserved := greatest(0, (s.quota).tokens_reserved - h.amount);
    END IF;
    -- A hold's wallet is its user's (wallets are unique per user; holds go with them). A
    -- release through the wallet API may have given part of it back already.
    v_back := least(h.amount, (s.wallet).held);
    IF h.wallet_id IS NOT NULL AND h.wallet_id = (s.wallet).id AND v_back > 0 THEN
        s.wallet.held := (s.wallet).held - v_back;
        PERFORM agentbase.usage_ledger(s.wallet, 'release', v_back, p_reason, h.id, NULL);
    END IF;
    RETURN s;
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
        'conversation_id', p -> 'conversation_id', 'project_id', p -> 'project_id',
        'provider', p ->> 'provider', 'model', p ->> 'model',
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
         idempotency_key, metadata, provider, model, model_id, input_tokens, max_output_tokens, budget_ids,
         project_id)
    VALUES (s.tenant_id, v_id, v_w.id, s.user_id, (p ->> 'agent_id')::uuid, (p ->> 'conversation_id')::uuid,
            v_amount, v_cost, v_expires, p_key, coalesce(p -> 'metadata', '{}'), p ->> 'provider', p ->> 'model',
            v_price.model_id, v_in, v_out, ARRAY(SELECT (b).id FROM unnest(s.budgets) b),
            (p ->> 'project_id')::uuid);
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
         idempotency_key, metadata, project_id, started_at, completed_at, request_payload, response_payload)
    VALUES (s.tenant_id, v_request_id, s.user_id, (p ->> 'agent_id')::uuid, (p ->> 'conversation_id')::uuid,
            (p ->> 'message_id')::uuid, p ->> 'provider', p ->> 'model', p_price.model_id,
            coalesce(p ->> 'request_type', 'chat'), v_input, v_output, v_cached, v_total,
            p_price.input_per_1m, p_price.output_per_1m, p_price.cached_input_per_1m, p_price.effective_from,
            v_in_cost, v_out_cost, v_cost, v_latency, (p ->> 'time_to_first_token_ms')::integer,
            CASE WHEN v_latency > 0 THEN round(v_output * 1000.0 / v_latency, 3) END,
            v_status, p ->> 'error_code', p ->> 'error_message', p_reservation, p_key,
            coalesce(p -> 'metadata', '{}') || jsonb_strip_nulls(jsonb_build_object('tool_call_ids', p -> 'tool_call_ids')),
            (p ->> 'project_id')::uuid, (p ->> 'started_at')::timestamptz,
            coalesce((p ->> 'completed_at')::timestamptz, now()), p -> 'request_payload', p -> 'response_payload');

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
            'agent_id', p -> 'agent_id', 'project_id', p -> 'project_id', 'provider', p ->> 'provider', 'model', p ->> 'model',
            'input', v_input, 'output', v_output, 'cached', v_cached, 'total', v_total, 'cost', v_cost,
            'latency', v_latency, 'ok', v_status = 'success'));
    RETURN s;
END
$$;
ALTER FUNCTION agentbase.usage_charge(agentbase.usage_state, jsonb, agentbase.ai_model_prices, uuid, text, boolean)
    SET "TimeZone" = 'UTC';
DROP FUNCTION agentbase.usage_ledger_entry(agentbase.token_wallets, text, bigint, text, uuid, text);
ALTER TYPE agentbase.usage_state DROP ATTRIBUTE ledger;
