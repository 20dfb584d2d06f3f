-- Usage accounting on the hot path: reserve, settle, release, events; quotas, plan limits,
-- budgets and their alerts; hourly rollups. The service calls one function,
-- usage_apply(ops), with a batch of operations from many requests (group commit); the
-- batch commits as one transaction and every operation gets its own result.
--
-- Exactness. A reservation holds its estimate against every limit it is checked against
-- (wallet held, quota and plan tokens reserved, budgets reserved_usd), so concurrent
-- reservations can never together overshoot a limit. Settle, release and expiry first
-- undo the hold (usage_unhold), and settle and events then charge what was used
-- (usage_charge). Usage that happened is always recorded: what a wallet cannot cover
-- becomes overage, which blocks new reservations until credits pay it back.
--
-- Order. Every operation first takes its tenant's transaction-level advisory lock; a batch
-- works through its tenants in ascending order, and inside a tenant rows are locked in
-- one order (tenant counters, budgets, quota, wallet, hold), so batches never deadlock,
-- even between service instances.
--
-- Results. An operation never raises for a client mistake or a refusal: it returns
-- {"status": <http status>, "body": {...}} (plus "retry_after" for refusals), so one bad
-- request cannot abort the batch of others. A retry with the same Idempotency-Key returns
-- the stored first response; a settle or release of a resolved reservation returns its
-- stored outcome.

CREATE OR REPLACE FUNCTION pg_temp.comment_columns(p_table regclass, p_comments jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_col text;
    v_text text;
BEGIN
    FOR v_col, v_text IN SELECT key, value FROM jsonb_each_text(p_comments) LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', p_table, v_col, v_text);
    END LOOP;
END
$$;

-- ------------------------------------------------------------------------------------
-- What the hot path needs from the accounting tables
-- ------------------------------------------------------------------------------------

-- A user without a wallet is not limited by tokens (only by quotas and budgets), so a hold
-- may have no wallet. The ledger records every hold; an audit row per hold change would
-- double the hot path's writes for nothing.
ALTER TABLE agentbase.token_holds
    ALTER COLUMN wallet_id DROP NOT NULL,
    ADD COLUMN provider text,
    ADD COLUMN model text,
    ADD COLUMN model_id uuid,
    ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN max_output_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN budget_ids uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN outcome jsonb,
    ADD CONSTRAINT chk_token_holds_input_tokens CHECK (input_tokens >= 0),
    ADD CONSTRAINT chk_token_holds_max_output_tokens CHECK (max_output_tokens >= 0);
SELECT pg_temp.comment_columns('agentbase.token_holds', '{
  "wallet_id": "the wallet holding (NULL: the user has no wallet)",
  "provider": "provider of the call", "model": "model of the call", "model_id": "the model priced",
  "input_tokens": "estimated input tokens", "max_output_tokens": "most output tokens the call may produce",
  "budget_ids": "budgets the estimate was reserved against",
  "outcome": "the response of its settle, release or expiry, returned again to a retry"}');
DROP TRIGGER trg_audit ON agentbase.token_holds;
DROP TRIGGER trg_audit_update ON agentbase.token_holds;

ALTER TABLE agentbase.quotas
    ADD COLUMN tokens_reserved bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT chk_quotas_tokens_reserved CHECK (tokens_reserved >= 0);
COMMENT ON COLUMN agentbase.quotas.tokens_reserved IS 'tokens held by open reservations, counted against the limits';

ALTER TABLE agentbase.user_budgets
    ADD COLUMN reserved_usd numeric(20,10) NOT NULL DEFAULT 0,
    ADD CONSTRAINT chk_user_budgets_reserved_usd CHECK (reserved_usd >= 0);
COMMENT ON COLUMN agentbase.user_budgets.reserved_usd IS 'USD estimated by open reservations, counted against a hard limit';

-- The plan's limits are counted in tenant_quotas rows llm_requests/daily and
-- llm_tokens/monthly; a NULL limit_value follows the plan (or tenants.limits).
ALTER TABLE agentbase.tenant_quotas
    ALTER COLUMN limit_value DROP NOT NULL,
    ADD COLUMN reserved_value bigint NOT NULL DEFAULT 0,
    ADD COLUMN period_start timestamptz,
    ADD CONSTRAINT chk_tenant_quotas_reserved_value CHECK (reserved_value >= 0);
COMMENT ON COLUMN agentbase.tenant_quotas.limit_value IS 'the limit (>= 0; NULL: the plan''s limit, or none)';
COMMENT ON COLUMN agentbase.tenant_quotas.reserved_value IS 'held by open reservations, counted against the limit';
COMMENT ON COLUMN agentbase.tenant_quotas.period_start IS 'start of the period used_value counts';

-- Rollups gain the agent (summaries by agent) and exact latency sums.
ALTER TABLE agentbase.cost_tracking
    ADD COLUMN agent_id uuid,
    ADD COLUMN latency_sum_ms bigint NOT NULL DEFAULT 0,
    ADD COLUMN latency_count bigint NOT NULL DEFAULT 0,
    DROP CONSTRAINT uq_cost_tracking_rollup,
    ADD CONSTRAINT uq_cost_tracking_rollup UNIQUE NULLS NOT DISTINCT
        (tenant_id, period_type, period_start, user_id, agent_id, provider, model),
    ADD CONSTRAINT chk_cost_tracking_latency_sum_ms CHECK (latency_sum_ms >= 0),
    ADD CONSTRAINT chk_cost_tracking_latency_count CHECK (latency_count >= 0);
SELECT pg_temp.comment_columns('agentbase.cost_tracking', '{
  "agent_id": "the agent (NULL: none or all)", "latency_sum_ms": "sum of the latencies reported",
  "latency_count": "requests that reported a latency"}');

-- ------------------------------------------------------------------------------------
-- Small helpers
-- ------------------------------------------------------------------------------------

-- Start of the period containing now (NULL for 'total', which never resets).
CREATE FUNCTION agentbase.usage_period_start(p_period text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE p_period WHEN 'daily' THEN date_trunc('day', now())
                         WHEN 'weekly' THEN date_trunc('week', now())
                         WHEN 'monthly' THEN date_trunc('month', now())
                         WHEN 'yearly' THEN date_trunc('year', now()) END
$$;
COMMENT ON FUNCTION agentbase.usage_period_start(text) IS
    'start of the current daily, weekly, monthly or yearly period (NULL: total)';

-- Whole seconds until the current period ends (NULL: never), for Retry-After.
CREATE FUNCTION agentbase.usage_seconds_left(p_period text) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT ceil(extract(epoch FROM agentbase.usage_period_start(p_period)
                + CASE p_period WHEN 'daily' THEN interval '1 day' WHEN 'weekly' THEN interval '1 week'
                                WHEN 'monthly' THEN interval '1 month' ELSE interval '1 year' END
                - now()))::integer
$$;
COMMENT ON FUNCTION agentbase.usage_seconds_left(text) IS 'seconds until the current period ends (NULL: total)';

CREATE FUNCTION agentbase.usage_error(p_status integer, p_code text, p_message text,
                                      p_details jsonb DEFAULT NULL, p_retry_after integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'status', p_status, 'retry_after', p_retry_after,
        'body', jsonb_build_object('error', jsonb_strip_nulls(jsonb_build_object(
            'code', p_code, 'message', p_message, 'limit', p_details)))))
$$;
COMMENT ON FUNCTION agentbase.usage_error(integer, text, text, jsonb, integer) IS
    'an operation''s error result: HTTP status, {"error": {code, message, limit}}, Retry-After';

-- The tenant's transaction lock: every usage operation of a tenant takes it first.
CREATE FUNCTION agentbase.usage_lock_tenant(p_tenant uuid) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(1633777011, hashtext(p_tenant::text))  -- 1633777011 is "abus"
$$;
COMMENT ON FUNCTION agentbase.usage_lock_tenant(uuid) IS
    'serializes the usage operations of one tenant until the transaction ends';

-- A tenant's plan counter (llm_requests/daily, llm_tokens/monthly), created on first use,
-- locked, with a new period already rolled over (the caller writes it back).
CREATE FUNCTION agentbase.usage_counter(p_tenant uuid, p_resource text, p_period text)
RETURNS agentbase.tenant_quotas
LANGUAGE plpgsql AS $$
DECLARE
    v agentbase.tenant_quotas;
    v_start timestamptz := agentbase.usage_period_start(p_period);
BEGIN
    SELECT * INTO v FROM agentbase.tenant_quotas
     WHERE tenant_id = p_tenant AND resource_type = p_resource AND period = p_period FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO agentbase.tenant_quotas (tenant_id, resource_type, period, limit_value, period_start)
        VALUES (p_tenant, p_resource, p_period, NULL, v_start)
        ON CONFLICT (tenant_id, resource_type, period) DO NOTHING;
        SELECT * INTO v FROM agentbase.tenant_quotas
         WHERE tenant_id = p_tenant AND resource_type = p_resource AND period = p_period FOR UPDATE;
    END IF;
    IF v.period_start IS NULL OR v.period_start < v_start THEN
        v.used_value := 0;
        v.period_start := v_start;
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION agentbase.usage_counter(uuid, text, text) IS
    'a tenant plan counter, created if missing, locked, rolled over to the current period';

CREATE FUNCTION agentbase.usage_save_counter(v agentbase.tenant_quotas) RETURNS void
LANGUAGE sql AS $$
    UPDATE agentbase.tenant_quotas
       SET used_value = v.used_value, reserved_value = v.reserved_value, period_start = v.period_start,
           reset_at = CASE WHEN period_start IS DISTINCT FROM v.period_start THEN now() ELSE reset_at END
     WHERE tenant_id = v.tenant_id AND id = v.id
$$;
COMMENT ON FUNCTION agentbase.usage_save_counter(agentbase.tenant_quotas) IS 'writes a plan counter back';

-- A user's quota row, locked and rolled over to today (and this month); NULL when none.
CREATE FUNCTION agentbase.usage_quota(p_tenant uuid, p_user uuid) RETURNS agentbase.quotas
LANGUAGE plpgsql AS $$
DECLARE
    v agentbase.quotas;
BEGIN
    SELECT * INTO v FROM agentbase.quotas WHERE tenant_id = p_tenant AND user_id = p_user FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v.last_reset_date < current_date THEN
        v.tokens_used_today := 0;
        v.requests_today := 0;
        v.last_reset_date := current_date;
        v.reset_at := now();
    END IF;
    IF v.month_start < date_trunc('month', now())::date THEN
        v.tokens_used_month := 0;
        v.month_start := date_trunc('month', now())::date;
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION agentbase.usage_quota(uuid, uuid) IS 'a user''s quota, locked and rolled over (NULL: none)';

CREATE FUNCTION agentbase.usage_save_quota(v agentbase.quotas) RETURNS void
LANGUAGE sql AS $$
    UPDATE agentbase.quotas
       SET tokens_used_today = v.tokens_used_today, requests_today = v.requests_today,
           tokens_used_month = v.tokens_used_month, tokens_reserved = v.tokens_reserved,
           last_reset_date = v.last_reset_date, month_start = v.month_start, reset_at = v.reset_at
     WHERE tenant_id = v.tenant_id AND id = v.id
$$;
COMMENT ON FUNCTION agentbase.usage_save_quota(agentbase.quotas) IS 'writes a quota back';

-- A user's wallet, locked (NULL when the user has none).
CREATE FUNCTION agentbase.usage_wallet(p_tenant uuid, p_user uuid) RETURNS agentbase.token_wallets
LANGUAGE sql AS $$
    SELECT * FROM agentbase.token_wallets WHERE tenant_id = p_tenant AND user_id = p_user FOR UPDATE
$$;
COMMENT ON FUNCTION agentbase.usage_wallet(uuid, uuid) IS 'a user''s wallet, locked (NULL: none)';

-- Writes a changed wallet back with the ledger entry that explains the change.
CREATE FUNCTION agentbase.usage_ledger(v agentbase.token_wallets, p_type text, p_amount bigint,
                                       p_reason text, p_reference_id uuid, p_key text)
RETURNS void
LANGUAGE sql AS $$
    UPDATE agentbase.token_wallets
       SET balance = v.balance, held = v.held, overage = v.overage,
           lifetime_debited = v.lifetime_debited
     WHERE tenant_id = v.tenant_id AND id = v.id;
    INSERT INTO agentbase.token_ledger
        (tenant_id, wallet_id, user_id, entry_type, amount, balance_after, held_after, reason,
         source, reference_type, reference_id, idempotency_key, created_by)
    VALUES (v.tenant_id, v.id, v.user_id, p_type, p_amount, v.balance, v.held, p_reason,
            'usage', 'token_hold', p_reference_id::text, p_key, agentbase.current_actor_id());
$$;
COMMENT ON FUNCTION agentbase.usage_ledger(agentbase.token_wallets, text, bigint, text, uuid, text) IS
    'writes a wallet back with its ledger entry';

-- Pays overage back from available tokens (a debit entry); returns the wallet after it.
CREATE FUNCTION agentbase.usage_cover_overage(v agentbase.token_wallets) RETURNS agentbase.token_wallets
LANGUAGE plpgsql AS $$
DECLARE
    v_cover bigint := least(v.overage, v.balance - v.held);
BEGIN
    IF v.id IS NULL OR v_cover <= 0 THEN
        RETURN v;
    END IF;
    v.balance := v.balance - v_cover;
    v.overage := v.overage - v_cover;
    v.lifetime_debited := v.lifetime_debited + v_cover;
    PERFORM agentbase.usage_ledger(v, 'debit', v_cover, 'overage paid back', NULL, NULL);
    RETURN v;
END
$$;
COMMENT ON FUNCTION agentbase.usage_cover_overage(agentbase.token_wallets) IS
    'pays a wallet''s overage back from its available tokens';

-- The model a provider and model name stand for, and its price now.
CREATE FUNCTION agentbase.usage_price(p_provider text, p_model text) RETURNS agentbase.ai_model_prices
LANGUAGE sql STABLE AS $$
    SELECT (agentbase.model_price_at(m.id)).*
      FROM agentbase.ai_models m JOIN agentbase.ai_providers p ON p.id = m.provider_id
     WHERE p.name = p_provider AND m.name = p_model
$$;
COMMENT ON FUNCTION agentbase.usage_price(text, text) IS
    'the price in effect now of a provider''s model (NULL: unknown or unpriced)';

-- Checks the references a request makes inside the tenant; NULL when all exist, else the
-- error result.
CREATE FUNCTION agentbase.usage_check_refs(p_tenant uuid, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM agentbase.users
                    WHERE tenant_id = p_tenant AND id = (p ->> 'user_id')::uuid AND deleted_at IS NULL) THEN
        RETURN agentbase.usage_error(404, 'not_found', format('user %s not found', p ->> 'user_id'));
    END IF;
    IF p ? 'agent_id' AND NOT EXISTS (SELECT 1 FROM agentbase.agents
                    WHERE tenant_id = p_tenant AND id = (p ->> 'agent_id')::uuid) THEN
        RETURN agentbase.usage_error(422, 'invalid_reference', format('agent %s not found', p ->> 'agent_id'));
    END IF;
    IF p ? 'conversation_id' AND NOT EXISTS (SELECT 1 FROM agentbase.conversations
                    WHERE tenant_id = p_tenant AND id = (p ->> 'conversation_id')::uuid) THEN
        RETURN agentbase.usage_error(422, 'invalid_reference',
                                     format('conversation %s not found', p ->> 'conversation_id'));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.usage_check_refs(uuid, jsonb) IS
    'checks user_id, agent_id and conversation_id of a usage request (NULL: all exist)';

-- The stored first response for an idempotency key (NULL when the key is new); a key
-- reused with a different request is refused.
CREATE FUNCTION agentbase.usage_replay(p_tenant uuid, p_scope text, p_key text, p_hash text)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v agentbase.idempotency_keys;
BEGIN
    IF p_key IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v FROM agentbase.idempotency_keys WHERE tenant_id = p_tenant AND scope = p_scope AND key = p_key;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v.request_hash IS DISTINCT FROM p_hash THEN
        RETURN agentbase.usage_error(422, 'idempotency_key_reused',
                                     'this Idempotency-Key was used with a different request');
    END IF;
    RETURN v.response || '{"replayed": true}';
END
$$;
COMMENT ON FUNCTION agentbase.usage_replay(uuid, text, text, text) IS
    'the first response stored for an idempotency key, or NULL';

-- Stores the response for a new key; false when another transaction stored one first
-- (the caller then returns that one and writes nothing).
CREATE FUNCTION agentbase.usage_remember(p_tenant uuid, p_scope text, p_key text, p_hash text, p_response jsonb)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_key IS NULL THEN
        RETURN true;
    END IF;
    INSERT INTO agentbase.idempotency_keys (tenant_id, scope, key, request_hash, response, status)
    VALUES (p_tenant, p_scope, p_key, p_hash, p_response, 'completed')
    ON CONFLICT (tenant_id, scope, key) DO NOTHING;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION agentbase.usage_remember(uuid, text, text, text, jsonb) IS
    'stores the first response of an idempotency key; false when one was stored already';

-- ------------------------------------------------------------------------------------
-- Reserve
-- ------------------------------------------------------------------------------------

-- p: user_id, agent_id?, conversation_id?, provider, model, estimated_input_tokens,
-- max_output_tokens, expires_in_seconds?, metadata? (checked by the service). Checks the
-- tenant, the plan's daily requests and monthly tokens, the user's quota, every active
-- budget of the user and the tenant, and the wallet; then holds the estimate against all
-- of them. 201 with the reservation and what remains of each limit, or a refusal.
CREATE FUNCTION agentbase.usage_reserve(p jsonb, p_key text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant uuid := agentbase.current_tenant_id();
    v_user uuid := (p ->> 'user_id')::uuid;
    v_hash text := md5(p::text);
    v_result jsonb;
    v_t agentbase.tenants;
    v_plan agentbase.subscription_plans;
    v_price agentbase.ai_model_prices;
    v_in bigint := (p ->> 'estimated_input_tokens')::bigint;
    v_out bigint := (p ->> 'max_output_tokens')::bigint;
    v_amount bigint := v_in + v_out;
    v_cost numeric(20,10);
    v_req agentbase.tenant_quotas;
    v_tok agentbase.tenant_quotas;
    v_req_limit bigint;
    v_tok_limit bigint;
    v_b agentbase.user_budgets;
    v_budget_ids uuid[] := '{}';
    v_budgets jsonb := '[]';
    v_q agentbase.quotas;
    v_w agentbase.token_wallets;
    v_id uuid := agentbase.uuid_v7();
    v_expires timestamptz := now() + make_interval(secs => coalesce((p ->> 'expires_in_seconds')::int, 600));
BEGIN
    v_result := agentbase.usage_replay(v_tenant, 'usage.reserve', p_key, v_hash);
    IF v_result IS NOT NULL THEN
        RETURN v_result;
    END IF;
    SELECT * INTO v_t FROM agentbase.tenants WHERE id = v_tenant;
    IF NOT FOUND OR v_t.status <> 'active' OR v_t.deleted_at IS NOT NULL THEN
        RETURN agentbase.usage_error(429, 'tenant_suspended', 'this tenant is not active');
    END IF;
    v_result := agentbase.usage_check_refs(v_tenant, p);
    IF v_result IS NOT NULL THEN
        RETURN v_result;
    END IF;
    v_price := agentbase.usage_price(p ->> 'provider', p ->> 'model');
    IF v_price.id IS NULL THEN
        RETURN agentbase.usage_error(422, 'unknown_model',
                                     format('no price in effect for model %s of provider %s', p ->> 'model', p ->> 'provider'));
    END IF;
    v_cost := round((v_in * v_price.input_per_1m + v_out * v_price.output_per_1m) / 1000000, 10);
    SELECT * INTO v_plan FROM agentbase.subscription_plans WHERE level = v_t.plan;

    -- The plan's limits (a tenant_quotas limit, then tenants.limits, override the plan).
    v_req := agentbase.usage_counter(v_tenant, 'llm_requests', 'daily');
    v_req_limit := coalesce(v_req.limit_value, (v_t.limits ->> 'daily_request_limit')::bigint, v_plan.daily_request_limit);
    IF v_req_limit IS NOT NULL AND v_req.used_value + 1 > v_req_limit THEN
        RETURN agentbase.usage_error(429, 'quota_exceeded', 'the plan''s daily request limit is reached',
            jsonb_build_object('scope', 'plan', 'limit', 'daily_requests', 'value', v_req_limit, 'used', v_req.used_value),
            agentbase.usage_seconds_left('daily'));
    END IF;
    v_tok := agentbase.usage_counter(v_tenant, 'llm_tokens', 'monthly');
    v_tok_limit := coalesce(v_tok.limit_value, (v_t.limits ->> 'monthly_token_limit')::bigint, v_plan.monthly_token_limit);
    IF v_tok_limit IS NOT NULL AND v_tok.used_value + v_tok.reserved_value + v_amount > v_tok_limit THEN
        RETURN agentbase.usage_error(429, 'quota_exceeded', 'the plan''s monthly token limit would be exceeded',
            jsonb_build_object('scope', 'plan', 'limit', 'monthly_tokens', 'value', v_tok_limit,
                               'used', v_tok.used_value, 'reserved', v_tok.reserved_value, 'requested', v_amount),
            agentbase.usage_seconds_left('monthly'));
    END IF;

    -- Budgets of the user and of the whole tenant, in USD at today's price.
    FOR v_b IN SELECT * FROM agentbase.user_budgets
                WHERE tenant_id = v_tenant AND is_active AND (user_id = v_user OR user_id IS NULL)
                ORDER BY id FOR UPDATE LOOP
        IF agentbase.usage_period_start(v_b.period) > v_b.period_start THEN
            v_b.spent_usd := 0;
        END IF;
        IF v_b.hard_limit AND v_b.spent_usd + v_b.reserved_usd + v_cost > v_b.amount_usd THEN
            RETURN agentbase.usage_error(429, 'budget_exceeded',
                format('budget %s (%s USD %s) would be exceeded', v_b.name, v_b.amount_usd::numeric(20,2), v_b.period),
                jsonb_build_object('scope', CASE WHEN v_b.user_id IS NULL THEN 'tenant' ELSE 'user' END,
                                   'budget_id', v_b.id, 'amount_usd', v_b.amount_usd, 'spent_usd', v_b.spent_usd,
                                   'reserved_usd', v_b.reserved_usd, 'requested_usd', v_cost),
                agentbase.usage_seconds_left(v_b.period));
        END IF;
        v_budget_ids := v_budget_ids || v_b.id;
        v_budgets := v_budgets || jsonb_build_object('id', v_b.id, 'name', v_b.name, 'period', v_b.period,
                         'remaining_usd', v_b.amount_usd - v_b.spent_usd - v_b.reserved_usd - v_cost);
    END LOOP;

    -- The user's quota.
    v_q := agentbase.usage_quota(v_tenant, v_user);
    IF v_q.id IS NOT NULL THEN
        IF v_q.daily_request_limit IS NOT NULL AND v_q.requests_today + 1 > v_q.daily_request_limit THEN
            RETURN agentbase.usage_error(429, 'quota_exceeded', 'the user''s daily request quota is reached',
                jsonb_build_object('scope', 'user', 'limit', 'daily_requests', 'value', v_q.daily_request_limit,
                                   'used', v_q.requests_today),
                agentbase.usage_seconds_left('daily'));
        END IF;
        IF v_q.daily_token_limit IS NOT NULL
           AND v_q.tokens_used_today + v_q.tokens_reserved + v_amount > v_q.daily_token_limit THEN
            RETURN agentbase.usage_error(429, 'quota_exceeded', 'the user''s daily token quota would be exceeded',
                jsonb_build_object('scope', 'user', 'limit', 'daily_tokens', 'value', v_q.daily_token_limit,
                                   'used', v_q.tokens_used_today, 'reserved', v_q.tokens_reserved, 'requested', v_amount),
                agentbase.usage_seconds_left('daily'));
        END IF;
        IF v_q.monthly_token_limit IS NOT NULL
           AND v_q.tokens_used_month + v_q.tokens_reserved + v_amount > v_q.monthly_token_limit THEN
            RETURN agentbase.usage_error(429, 'quota_exceeded', 'the user''s monthly token quota would be exceeded',
                jsonb_build_object('scope', 'user', 'limit', 'monthly_tokens', 'value', v_q.monthly_token_limit,
                                   'used', v_q.tokens_used_month, 'reserved', v_q.tokens_reserved, 'requested', v_amount),
                agentbase.usage_seconds_left('monthly'));
        END IF;
    END IF;

    -- The wallet: overage is paid back first, and blocks reservations until it is.
    v_w := agentbase.usage_cover_overage(agentbase.usage_wallet(v_tenant, v_user));
    IF v_w.id IS NOT NULL AND v_w.overage > 0 THEN
        RETURN agentbase.usage_error(429, 'insufficient_tokens',
            format('the wallet owes %s tokens of overage; credit it first', v_w.overage),
            jsonb_build_object('scope', 'wallet', 'overage', v_w.overage, 'available', v_w.balance - v_w.held));
    END IF;
    IF v_w.id IS NOT NULL AND v_w.balance - v_w.held < v_amount THEN
        RETURN agentbase.usage_error(429, 'insufficient_tokens',
            format('the wallet has %s tokens available, the reservation needs %s', v_w.balance - v_w.held, v_amount),
            jsonb_build_object('scope', 'wallet', 'available', v_w.balance - v_w.held, 'requested', v_amount));
    END IF;

    -- Everything passed: the response first (it is what a retry gets), then the writes.
    v_result := jsonb_build_object('status', 201, 'body', jsonb_strip_nulls(jsonb_build_object(
        'id', v_id, 'status', 'held', 'user_id', v_user, 'agent_id', p -> 'agent_id',
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
            'plan_daily_requests', v_req_limit - v_req.used_value - 1,
            'plan_monthly_tokens', v_tok_limit - v_tok.used_value - v_tok.reserved_value - v_amount,
            'budgets', v_budgets))));
    IF NOT agentbase.usage_remember(v_tenant, 'usage.reserve', p_key, v_hash, v_result) THEN
        RETURN agentbase.usage_replay(v_tenant, 'usage.reserve', p_key, v_hash);
    END IF;

    v_req.used_value := v_req.used_value + 1;
    PERFORM agentbase.usage_save_counter(v_req);
    v_tok.reserved_value := v_tok.reserved_value + v_amount;
    PERFORM agentbase.usage_save_counter(v_tok);
    UPDATE agentbase.user_budgets
       SET spent_usd = CASE WHEN agentbase.usage_period_start(period) > period_start THEN 0 ELSE spent_usd END,
           period_start = greatest(period_start, coalesce(agentbase.usage_period_start(period), period_start)),
           reserved_usd = reserved_usd + v_cost
     WHERE tenant_id = v_tenant AND id = ANY (v_budget_ids);
    IF v_q.id IS NOT NULL THEN
        v_q.requests_today := v_q.requests_today + 1;
        v_q.tokens_reserved := v_q.tokens_reserved + v_amount;
        PERFORM agentbase.usage_save_quota(v_q);
    END IF;
    IF v_w.id IS NOT NULL THEN
        v_w.held := v_w.held + v_amount;
        PERFORM agentbase.usage_ledger(v_w, 'reserve', v_amount, 'reservation', v_id, p_key);
    END IF;
    INSERT INTO agentbase.token_holds
        (tenant_id, id, wallet_id, user_id, agent_id, conversation_id, amount, estimated_cost, expires_at,
         idempotency_key, metadata, provider, model, model_id, input_tokens, max_output_tokens, budget_ids)
    VALUES (v_tenant, v_id, v_w.id, v_user, (p ->> 'agent_id')::uuid, (p ->> 'conversation_id')::uuid, v_amount,
            v_cost, v_expires, p_key, coalesce(p -> 'metadata', '{}'), p ->> 'provider', p ->> 'model',
            v_price.model_id, v_in, v_out, v_budget_ids);
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION agentbase.usage_reserve(jsonb, text) IS
    'checks every limit and holds a call''s estimate against all of them (one reservation)';

-- ------------------------------------------------------------------------------------
-- Undoing a hold, charging usage
-- ------------------------------------------------------------------------------------

-- Gives back everything a hold reserved (plan tokens, budgets, quota, wallet) and marks it
-- settled, released or expired with its outcome.
CREATE FUNCTION agentbase.usage_unhold(h agentbase.token_holds, p_status text, p_outcome jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_tok agentbase.tenant_quotas := agentbase.usage_counter(h.tenant_id, 'llm_tokens', 'monthly');
    v_q agentbase.quotas;
    v_w agentbase.token_wallets;
BEGIN
    v_tok.reserved_value := greatest(0, v_tok.reserved_value - h.amount);
    PERFORM agentbase.usage_save_counter(v_tok);
    UPDATE agentbase.user_budgets SET reserved_usd = greatest(0, reserved_usd - h.estimated_cost)
     WHERE tenant_id = h.tenant_id AND id = ANY (h.budget_ids);
    v_q := agentbase.usage_quota(h.tenant_id, h.user_id);
    IF v_q.id IS NOT NULL THEN
        v_q.tokens_reserved := greatest(0, v_q.tokens_reserved - h.amount);
        PERFORM agentbase.usage_save_quota(v_q);
    END IF;
    IF h.wallet_id IS NOT NULL THEN
        SELECT * INTO v_w FROM agentbase.token_wallets WHERE tenant_id = h.tenant_id AND id = h.wallet_id FOR UPDATE;
        IF FOUND THEN
            v_w.held := v_w.held - h.amount;
            PERFORM agentbase.usage_ledger(v_w, 'release', h.amount,
                                           CASE p_status WHEN 'settled' THEN 'settlement' ELSE p_status END,
                                           h.id, NULL);
        END IF;
    END IF;
    UPDATE agentbase.token_holds
       SET status = p_status, outcome = p_outcome,
           settled_at = CASE WHEN p_status = 'settled' THEN now() END,
           released_at = CASE WHEN p_status <> 'settled' THEN now() END
     WHERE tenant_id = h.tenant_id AND id = h.id;
END
$$;
COMMENT ON FUNCTION agentbase.usage_unhold(agentbase.token_holds, text, jsonb) IS
    'gives back what a reservation held and marks it settled, released or expired';

-- Charges one finished call: the ai_requests row with its price snapshot, the plan and
-- user counters, every active budget (firing each crossed alert threshold once per
-- period), and the wallet (what it cannot cover becomes overage, with an alert). The
-- result's body describes the charge; its "_rollup" feeds the batch's rollups.
-- p: user_id, agent_id?, conversation_id?, message_id?, provider, model, input_tokens,
-- output_tokens, cached_tokens?, latency_ms?, time_to_first_token_ms?, status?,
-- error_code?, error_message?, request_type?, tool_call_ids?, metadata?
CREATE FUNCTION agentbase.usage_charge(p jsonb, p_price agentbase.ai_model_prices, p_reservation uuid,
                                       p_key text, p_count_request boolean)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant uuid := agentbase.current_tenant_id();
    v_user uuid := (p ->> 'user_id')::uuid;
    v_t agentbase.tenants;
    v_plan agentbase.subscription_plans;
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
    v_req agentbase.tenant_quotas;
    v_tok agentbase.tenant_quotas;
    v_b agentbase.user_budgets;
    v_old numeric;
    v_threshold integer;
    v_q agentbase.quotas;
    v_w agentbase.token_wallets;
    v_debit bigint := 0;
    v_overage bigint := 0;
    v_alerts jsonb := '[]';
    v_exceeded jsonb := '[]';
    v_request_id uuid := agentbase.uuid_v7();
BEGIN
    SELECT * INTO v_t FROM agentbase.tenants WHERE id = v_tenant;
    SELECT * INTO v_plan FROM agentbase.subscription_plans WHERE level = v_t.plan;
    v_req := agentbase.usage_counter(v_tenant, 'llm_requests', 'daily');
    IF p_count_request THEN
        v_req.used_value := v_req.used_value + 1;
        PERFORM agentbase.usage_save_counter(v_req);
        IF v_req.used_value > coalesce(v_req.limit_value, (v_t.limits ->> 'daily_request_limit')::bigint,
                                       v_plan.daily_request_limit) THEN
            v_exceeded := v_exceeded || '"plan_daily_requests"';
        END IF;
    END IF;
    v_tok := agentbase.usage_counter(v_tenant, 'llm_tokens', 'monthly');
    v_tok.used_value := v_tok.used_value + v_total;
    PERFORM agentbase.usage_save_counter(v_tok);
    IF v_tok.used_value + v_tok.reserved_value > coalesce(v_tok.limit_value, (v_t.limits ->> 'monthly_token_limit')::bigint,
                                                          v_plan.monthly_token_limit) THEN
        v_exceeded := v_exceeded || '"plan_monthly_tokens"';
    END IF;

    FOR v_b IN SELECT * FROM agentbase.user_budgets
                WHERE tenant_id = v_tenant AND is_active AND (user_id = v_user OR user_id IS NULL)
                ORDER BY id FOR UPDATE LOOP
        IF agentbase.usage_period_start(v_b.period) > v_b.period_start THEN
            v_b.spent_usd := 0;
            v_b.period_start := agentbase.usage_period_start(v_b.period);
        END IF;
        v_old := v_b.spent_usd;
        v_b.spent_usd := v_b.spent_usd + v_cost;
        UPDATE agentbase.user_budgets SET spent_usd = v_b.spent_usd, period_start = v_b.period_start
         WHERE tenant_id = v_tenant AND id = v_b.id;
        IF v_b.spent_usd + v_b.reserved_usd > v_b.amount_usd THEN
            v_exceeded := v_exceeded || to_jsonb('budget:' || v_b.id);
        END IF;
        -- Each threshold crossed by this charge fires once per period (the unique key of
        -- budget_alert_events makes sure, even across service instances).
        FOREACH v_threshold IN ARRAY v_b.alert_thresholds LOOP
            CONTINUE WHEN v_b.spent_usd * 100 < v_b.amount_usd * v_threshold
                       OR (v_old > 0 AND v_old * 100 >= v_b.amount_usd * v_threshold);
            INSERT INTO agentbase.budget_alert_events (tenant_id, budget_id, threshold, period_start, spent_usd)
            VALUES (v_tenant, v_b.id, v_threshold, v_b.period_start, v_b.spent_usd)
            ON CONFLICT (tenant_id, budget_id, threshold, period_start) DO NOTHING;
            CONTINUE WHEN NOT FOUND;
            INSERT INTO agentbase.system_alerts (tenant_id, alert_type, severity, title, message,
                                                 resource_type, resource_id, metadata)
            VALUES (v_tenant, 'budget_threshold', CASE WHEN v_threshold >= 100 THEN 'critical' ELSE 'warning' END,
                    format('budget %s reached %s%%', v_b.name, v_threshold),
                    format('%s of %s USD spent this period', v_b.spent_usd::numeric(20,4), v_b.amount_usd::numeric(20,2)),
                    'user_budget', v_b.id::text,
                    jsonb_build_object('budget_id', v_b.id, 'threshold', v_threshold, 'period_start', v_b.period_start,
                                       'spent_usd', v_b.spent_usd, 'amount_usd', v_b.amount_usd));
            v_alerts := v_alerts || jsonb_build_object('budget_id', v_b.id, 'threshold', v_threshold);
        END LOOP;
    END LOOP;

    v_q := agentbase.usage_quota(v_tenant, v_user);
    IF v_q.id IS NOT NULL THEN
        v_q.tokens_used_today := v_q.tokens_used_today + v_total;
        v_q.tokens_used_month := v_q.tokens_used_month + v_total;
        IF p_count_request THEN
            v_q.requests_today := v_q.requests_today + 1;
        END IF;
        PERFORM agentbase.usage_save_quota(v_q);
        IF v_q.tokens_used_today + v_q.tokens_reserved > v_q.daily_token_limit THEN
            v_exceeded := v_exceeded || '"daily_tokens"';
        END IF;
    END IF;

    -- The usage happened: debit what the wallet can cover, record the rest as overage.
    v_w := agentbase.usage_wallet(v_tenant, v_user);
    IF v_w.id IS NOT NULL AND v_total > 0 THEN
        v_debit := least(v_total, v_w.balance - v_w.held);
        v_overage := v_total - v_debit;
        v_w.balance := v_w.balance - v_debit;
        v_w.lifetime_debited := v_w.lifetime_debited + v_debit;
        v_w.overage := v_w.overage + v_overage;
        IF v_debit > 0 THEN
            PERFORM agentbase.usage_ledger(v_w, 'debit', v_debit, 'llm usage', p_reservation, p_key);
        ELSE
            UPDATE agentbase.token_wallets SET overage = v_w.overage WHERE tenant_id = v_tenant AND id = v_w.id;
        END IF;
        IF v_overage > 0 THEN
            INSERT INTO agentbase.system_alerts (tenant_id, alert_type, severity, title, message,
                                                 resource_type, resource_id, metadata)
            VALUES (v_tenant, 'overage', 'critical', 'usage exceeded the wallet',
                    format('%s tokens could not be covered; new reservations are refused until they are', v_overage),
                    'token_wallet', v_w.id::text,
                    jsonb_build_object('user_id', v_user, 'overage', v_overage, 'wallet_overage', v_w.overage));
            v_exceeded := v_exceeded || '"wallet"';
        END IF;
    END IF;

    INSERT INTO agentbase.ai_requests
        (tenant_id, id, user_id, agent_id, conversation_id, message_id, provider, model, model_id, request_type,
         input_tokens, output_tokens, cached_tokens, total_tokens, input_per_1m, output_per_1m,
         cached_input_per_1m, price_effective_from, input_cost, output_cost, total_cost, latency_ms,
         time_to_first_token_ms, tokens_per_second, status, error_code, error_message, reservation_id,
         idempotency_key, metadata)
    VALUES (v_tenant, v_request_id, v_user, (p ->> 'agent_id')::uuid, (p ->> 'conversation_id')::uuid,
            (p ->> 'message_id')::uuid, p ->> 'provider', p ->> 'model', p_price.model_id,
            coalesce(p ->> 'request_type', 'chat'), v_input, v_output, v_cached, v_total,
            p_price.input_per_1m, p_price.output_per_1m, p_price.cached_input_per_1m, p_price.effective_from,
            v_in_cost, v_out_cost, v_cost, v_latency, (p ->> 'time_to_first_token_ms')::integer,
            CASE WHEN v_latency > 0 THEN round(v_output * 1000.0 / v_latency, 3) END,
            v_status, p ->> 'error_code', p ->> 'error_message', p_reservation, p_key,
            coalesce(p -> 'metadata', '{}') || jsonb_strip_nulls(jsonb_build_object('tool_call_ids', p -> 'tool_call_ids')));

    RETURN jsonb_build_object(
        'body', jsonb_build_object(
            'ai_request_id', v_request_id, 'input_tokens', v_input, 'output_tokens', v_output,
            'cached_tokens', v_cached, 'total_tokens', v_total, 'cost_usd', v_cost,
            'price', CASE WHEN p_price.id IS NOT NULL THEN jsonb_build_object(
                'input_per_1m', p_price.input_per_1m, 'output_per_1m', p_price.output_per_1m,
                'cached_input_per_1m', p_price.cached_input_per_1m, 'effective_from', p_price.effective_from) END,
            'debited_tokens', v_debit, 'overage_tokens', v_overage, 'alerts', v_alerts,
            'limits_exceeded', v_exceeded),
        '_rollup', jsonb_build_object(
            'tenant_id', v_tenant, 'hour', date_trunc('hour', now()), 'user_id', v_user,
            'agent_id', p -> 'agent_id', 'provider', p ->> 'provider', 'model', p ->> 'model',
            'input', v_input, 'output', v_output, 'cached', v_cached, 'total', v_total, 'cost', v_cost,
            'latency', v_latency, 'ok', v_status = 'success'));
END
$$;
COMMENT ON FUNCTION agentbase.usage_charge(jsonb, agentbase.ai_model_prices, uuid, text, boolean) IS
    'records one finished call and charges it to every counter, budget and the wallet';

-- ------------------------------------------------------------------------------------
-- Settle, release, events, expiry
-- ------------------------------------------------------------------------------------

-- Locks the hold a settle or release names and says what to answer instead of going on:
-- 404, the stored outcome when it was already resolved the same way, 409 when another way,
-- and 409 (after releasing it) when it expired. NULL: it is held and may be resolved.
CREATE FUNCTION agentbase.usage_resolve(p_id uuid, p_as text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h agentbase.token_holds;
    v_answer jsonb;
BEGIN
    SELECT * INTO h FROM agentbase.token_holds
     WHERE tenant_id = agentbase.current_tenant_id() AND id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN agentbase.usage_error(404, 'not_found', format('reservation %s not found', p_id));
    ELSIF h.status = p_as THEN
        RETURN h.outcome || '{"replayed": true}';
    ELSIF h.status = 'held' AND h.expires_at <= now() THEN
        v_answer := agentbase.usage_error(409, 'reservation_expired',
                                          format('reservation %s expired at %s', p_id, h.expires_at));
        PERFORM agentbase.usage_unhold(h, 'expired', v_answer);
        RETURN v_answer;
    ELSIF h.status <> 'held' THEN
        RETURN agentbase.usage_error(409, 'reservation_' || h.status,
                                     format('reservation %s was already %s', p_id, h.status));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.usage_resolve(uuid, text) IS
    'locks the hold a settle or release names; NULL when it may be resolved, else what to answer';

-- p: id (the reservation) and the call's actual figures (see usage_charge; user, agent,
-- conversation, provider and model come from the reservation). Priced at today's price.
CREATE FUNCTION agentbase.usage_settle(p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h agentbase.token_holds;
    v_answer jsonb;
    v_charge jsonb;
    v_outcome jsonb;
BEGIN
    v_answer := agentbase.usage_resolve((p ->> 'id')::uuid, 'settled');
    IF v_answer IS NOT NULL THEN
        RETURN v_answer;
    END IF;
    SELECT * INTO h FROM agentbase.token_holds
     WHERE tenant_id = agentbase.current_tenant_id() AND id = (p ->> 'id')::uuid;
    -- The hold is given back first, so the charge sees what the wallet really has.
    PERFORM agentbase.usage_unhold(h, 'settled', NULL);
    v_charge := agentbase.usage_charge(
        p || jsonb_strip_nulls(jsonb_build_object(
            'user_id', h.user_id, 'agent_id', h.agent_id, 'conversation_id', h.conversation_id,
            'provider', h.provider, 'model', h.model)),
        agentbase.model_price_at(h.model_id), h.id, h.idempotency_key, false);
    v_outcome := jsonb_build_object('status', 200, 'body',
        jsonb_build_object('id', h.id, 'status', 'settled', 'user_id', h.user_id,
                           'held_tokens', h.amount, 'released_tokens', h.amount)
        || (v_charge -> 'body'));
    UPDATE agentbase.token_holds
       SET outcome = v_outcome, ai_request_id = (v_charge #>> '{body,ai_request_id}')::uuid
     WHERE tenant_id = h.tenant_id AND id = h.id;
    RETURN v_outcome || jsonb_build_object('_rollup', v_charge -> '_rollup');
END
$$;
COMMENT ON FUNCTION agentbase.usage_settle(jsonb) IS
    'settles a reservation: charges the actual usage and gives back the hold (once)';

CREATE FUNCTION agentbase.usage_release(p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h agentbase.token_holds;
    v_answer jsonb;
    v_outcome jsonb;
BEGIN
    v_answer := agentbase.usage_resolve((p ->> 'id')::uuid, 'released');
    IF v_answer IS NOT NULL THEN
        RETURN v_answer;
    END IF;
    SELECT * INTO h FROM agentbase.token_holds
     WHERE tenant_id = agentbase.current_tenant_id() AND id = (p ->> 'id')::uuid;
    v_outcome := jsonb_build_object('status', 200, 'body', jsonb_build_object(
        'id', h.id, 'status', 'released', 'user_id', h.user_id, 'released_tokens', h.amount));
    PERFORM agentbase.usage_unhold(h, 'released', v_outcome);
    RETURN v_outcome;
END
$$;
COMMENT ON FUNCTION agentbase.usage_release(jsonb) IS 'gives a reservation back unused (once)';

-- A finished call that had no reservation: the same accounting as a settle; the limits
-- are checked after the fact and reported in limits_exceeded.
CREATE FUNCTION agentbase.usage_event(p jsonb, p_key text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant uuid := agentbase.current_tenant_id();
    v_hash text := md5(p::text);
    v_result jsonb;
    v_price agentbase.ai_model_prices;
    v_charge jsonb;
BEGIN
    v_result := agentbase.usage_replay(v_tenant, 'usage.event', p_key, v_hash);
    IF v_result IS NOT NULL THEN
        RETURN v_result;
    END IF;
    v_result := agentbase.usage_check_refs(v_tenant, p);
    IF v_result IS NOT NULL THEN
        RETURN v_result;
    END IF;
    v_price := agentbase.usage_price(p ->> 'provider', p ->> 'model');
    IF v_price.id IS NULL THEN
        RETURN agentbase.usage_error(422, 'unknown_model',
                                     format('no price in effect for model %s of provider %s', p ->> 'model', p ->> 'provider'));
    END IF;
    -- The key is taken before the writes, so a concurrent duplicate elsewhere waits for
    -- this transaction and then returns its response.
    IF NOT agentbase.usage_remember(v_tenant, 'usage.event', p_key, v_hash, '{}') THEN
        RETURN agentbase.usage_replay(v_tenant, 'usage.event', p_key, v_hash);
    END IF;
    v_charge := agentbase.usage_charge(p, v_price, NULL, p_key, true);
    v_result := jsonb_build_object('status', 201, 'body', v_charge -> 'body');
    IF p_key IS NOT NULL THEN
        UPDATE agentbase.idempotency_keys SET response = v_result
         WHERE tenant_id = v_tenant AND scope = 'usage.event' AND key = p_key;
    END IF;
    RETURN v_result || jsonb_build_object('_rollup', v_charge -> '_rollup');
END
$$;
COMMENT ON FUNCTION agentbase.usage_event(jsonb, text) IS
    'records a finished call without a reservation (limits checked after the fact); idempotent by key';

-- Releases holds past their expiry, tenant by tenant in the order batches lock them; at
-- most p_limit per call. Runs as the owner: it crosses tenants, and takes no input.
CREATE FUNCTION agentbase.usage_expire_holds(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_tenant uuid;
    v_last uuid;
    v_id uuid;
    h agentbase.token_holds;
    v_count integer := 0;
BEGIN
    FOR v_tenant, v_id IN SELECT tenant_id, id FROM agentbase.token_holds
                           WHERE status = 'held' AND expires_at <= now()
                           ORDER BY tenant_id::text, id LIMIT p_limit LOOP
        IF v_last IS DISTINCT FROM v_tenant THEN
            PERFORM agentbase.usage_lock_tenant(v_tenant);
            v_last := v_tenant;
        END IF;
        SELECT * INTO h FROM agentbase.token_holds WHERE tenant_id = v_tenant AND id = v_id FOR UPDATE;
        CONTINUE WHEN h.status <> 'held' OR h.expires_at > now();
        PERFORM agentbase.usage_unhold(h, 'expired',
            agentbase.usage_error(409, 'reservation_expired', format('reservation %s expired at %s', h.id, h.expires_at)));
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION agentbase.usage_expire_holds(integer) IS
    'releases reservations past their expiry (all tenants); returns how many';
REVOKE ALL ON FUNCTION agentbase.usage_expire_holds(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.usage_expire_holds(integer) TO agentbase_app;

-- ------------------------------------------------------------------------------------
-- The batch
-- ------------------------------------------------------------------------------------

-- Adds a batch's charges to the hourly rollups and usage metrics: one upserted row per
-- (hour, user, agent, provider, model) and one metric row per (user, agent), whatever
-- the number of calls, so hot aggregates are written once per batch.
CREATE FUNCTION agentbase.usage_flush(p_rows jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant uuid;
BEGIN
    FOR v_tenant IN SELECT DISTINCT (r ->> 'tenant_id')::uuid FROM jsonb_array_elements(p_rows) r LOOP
        PERFORM set_config('agentbase.tenant_id', v_tenant::text, true);
        INSERT INTO agentbase.cost_tracking AS c
            (tenant_id, period_type, period_start, user_id, agent_id, provider, model, request_count,
             success_count, error_count, input_tokens, output_tokens, cached_tokens, total_tokens,
             total_cost, latency_sum_ms, latency_count, avg_latency_ms)
        SELECT v_tenant, 'hourly', hour, user_id, agent_id, provider, model, count(*),
               count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok), sum(input), sum(output),
               sum(cached), sum(total), sum(cost), coalesce(sum(latency), 0), count(latency), avg(latency)
          FROM jsonb_to_recordset(p_rows) AS r(tenant_id uuid, hour timestamptz, user_id uuid, agent_id uuid,
                                               provider text, model text, input bigint, output bigint,
                                               cached bigint, total bigint, cost numeric, latency bigint, ok boolean)
         WHERE r.tenant_id = v_tenant
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
        SELECT v_tenant, user_id, agent_id, 'llm_requests', count(*), sum(total), sum(cost), min(hour)
          FROM jsonb_to_recordset(p_rows) AS r(tenant_id uuid, hour timestamptz, user_id uuid, agent_id uuid,
                                               total bigint, cost numeric)
         WHERE r.tenant_id = v_tenant
         GROUP BY user_id, agent_id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION agentbase.usage_flush(jsonb) IS
    'adds a batch''s charges to the hourly cost_tracking rollups and usage_metrics, one row per group';

-- Applies a batch of usage operations in one transaction and returns one result per
-- operation, in order. Each op: {op: reserve|settle|release|event, tenant_id, actor_id,
-- request_id, ip, idempotency_key, args}. The service has authenticated every op and
-- checked its args; tenants are worked through in ascending order (see the header).
CREATE FUNCTION agentbase.usage_apply(p_ops jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_results jsonb[] := array_fill(NULL::jsonb, ARRAY[jsonb_array_length(p_ops)]);
    v_rollups jsonb := '[]';
    v_res jsonb;
    v_tenant uuid;
    v_last uuid;
BEGIN
    FOR r IN SELECT value AS op, ordinality AS i FROM jsonb_array_elements(p_ops) WITH ORDINALITY
              ORDER BY value ->> 'tenant_id', ordinality LOOP
        v_tenant := (r.op ->> 'tenant_id')::uuid;
        PERFORM agentbase.set_request_context(v_tenant, 'api_key', r.op ->> 'actor_id', r.op ->> 'ip', NULL,
                                              r.op ->> 'request_id');
        IF v_last IS DISTINCT FROM v_tenant THEN
            PERFORM agentbase.usage_lock_tenant(v_tenant);
            v_last := v_tenant;
        END IF;
        v_res := CASE r.op ->> 'op'
                 WHEN 'reserve' THEN agentbase.usage_reserve(r.op -> 'args', r.op ->> 'idempotency_key')
                 WHEN 'settle' THEN agentbase.usage_settle(r.op -> 'args')
                 WHEN 'release' THEN agentbase.usage_release(r.op -> 'args')
                 WHEN 'event' THEN agentbase.usage_event(r.op -> 'args', r.op ->> 'idempotency_key')
                 ELSE agentbase.usage_error(400, 'invalid_request', 'unknown usage operation') END;
        IF v_res ? '_rollup' THEN
            v_rollups := v_rollups || jsonb_build_array(v_res -> '_rollup');
            v_res := v_res - '_rollup';
        END IF;
        v_results[r.i] := v_res;
    END LOOP;
    PERFORM agentbase.usage_flush(v_rollups);
    PERFORM agentbase.set_request_context(NULL);
    RETURN to_jsonb(v_results);
END
$$;
COMMENT ON FUNCTION agentbase.usage_apply(jsonb) IS
    'applies a batch of reserve, settle, release and event operations; one result per operation';

-- ------------------------------------------------------------------------------------
-- Reports
-- ------------------------------------------------------------------------------------

-- Usage of the current tenant from the hourly rollups between two times (whole hours),
-- grouped by model, user, agent, day or hour, with totals and each budget's utilization.
CREATE FUNCTION agentbase.usage_summary(p_from timestamptz, p_to timestamptz, p_group_by text)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_key text;
    v_groups jsonb;
    v_totals jsonb;
    v_budgets jsonb;
    v_figures CONSTANT text :=
        'sum(request_count) AS requests, sum(success_count) AS successes, sum(error_count) AS errors, '
        'round(sum(success_count)::numeric / nullif(sum(request_count), 0), 4) AS success_rate, '
        'sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, '
        'sum(cached_tokens) AS cached_tokens, sum(total_tokens) AS total_tokens, sum(total_cost) AS cost_usd, '
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
COMMENT ON FUNCTION agentbase.usage_summary(timestamptz, timestamptz, text) IS
    'usage of the current tenant by model, user, agent, day or hour, with totals and budget utilization';
