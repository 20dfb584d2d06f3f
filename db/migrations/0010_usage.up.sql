-- Usage accounting on the hot path: reserve, settle, release, events, expiry; quotas, plan
-- limits, budgets and their alerts; hourly rollups. The service calls one function,
-- usage_apply(ops), with a batch of operations from many requests (group commit); the
-- batch commits as one transaction and every operation gets its own result.
--
-- Exactness. A reservation holds its estimate against every limit it is checked against
-- (wallet held, quota and plan tokens reserved, budgets reserved_usd), so concurrent
-- reservations can never together overshoot a limit. Settle, release and expiry first
-- give the hold back (usage_unhold), and settle and events then charge what was used
-- (usage_charge). Usage that happened is always recorded: what a wallet cannot cover
-- becomes overage, which blocks new reservations until credits pay it back.
--
-- Hot counters. A batch works tenant by tenant, and inside a tenant user by user. It
-- locks and reads a tenant's counters (plan counters, tenant-wide budgets) once, and a
-- user's (quota, wallet, own budgets) once, into a usage_state; every operation of the
-- batch moves the counters in that state, and each counter row is written back once at
-- the end of its group. So a hot user or a busy tenant costs one row update per batch,
-- not one per call; what grows with the calls is inserts (ledger entries, holds,
-- ai_requests) and the holds' status changes.
--
-- Order. A batch takes each tenant's transaction-level advisory lock before touching it,
-- tenants in ascending order; inside a tenant it locks the tenant's rows, then each user's
-- (users in ascending order, each: budgets, quota, wallet), then holds. Batches therefore
-- never deadlock, even between service instances. Inside a batch, no operation has been
-- answered yet, so applying them grouped by user (each user's in arrival order) is a
-- valid order.
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

-- Holds are looked up by primary key on every settle and release, and the table grows at
-- the rate of calls. Its foreign-key indexes lead with the referencing column, so that no
-- other index ties with the primary key for a lookup by (tenant_id, id): with (tenant_id,
-- x) indexes, a plan cached while the table was empty can pick any of them and then scan
-- every hold of the tenant.
DROP INDEX agentbase.idx_token_holds_tenant_id_wallet_id;
DROP INDEX agentbase.idx_token_holds_tenant_id_user_id;
DROP INDEX agentbase.idx_token_holds_tenant_id_agent_id;
DROP INDEX agentbase.idx_token_holds_tenant_id_conversation_id;
CREATE INDEX idx_token_holds_wallet_id ON agentbase.token_holds (wallet_id, tenant_id);
CREATE INDEX idx_token_holds_user_id ON agentbase.token_holds (user_id, tenant_id);
CREATE INDEX idx_token_holds_agent_id ON agentbase.token_holds (agent_id, tenant_id);
CREATE INDEX idx_token_holds_conversation_id ON agentbase.token_holds (conversation_id, tenant_id);

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


-- Counter movements are not audited: the ledger, the holds and ai_requests record every
-- one of them, and an audit row per counter change would double the hot path's writes.
-- Changes of configuration (limits, thresholds, amounts) still are.
DROP TRIGGER trg_audit ON agentbase.quotas;
DROP TRIGGER trg_audit_update ON agentbase.quotas;
SELECT agentbase.attach_audit_except('agentbase.quotas', 'quota',
    ARRAY['tokens_used_today', 'requests_today', 'tokens_used_month', 'tokens_reserved', 'last_reset_date',
          'month_start', 'reset_at', 'updated_at']);
DROP TRIGGER trg_audit ON agentbase.tenant_quotas;
DROP TRIGGER trg_audit_update ON agentbase.tenant_quotas;
SELECT agentbase.attach_audit_except('agentbase.tenant_quotas', 'tenant_quota',
    ARRAY['used_value', 'reserved_value', 'period_start', 'reset_at', 'updated_at']);
DROP TRIGGER trg_audit ON agentbase.user_budgets;
DROP TRIGGER trg_audit_update ON agentbase.user_budgets;
SELECT agentbase.attach_audit_except('agentbase.user_budgets', 'user_budget',
    ARRAY['spent_usd', 'reserved_usd', 'period_start', 'updated_at']);

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

-- The functions below are PL/pgSQL, not SQL, on purpose: PL/pgSQL keeps the plans of its
-- statements for the connection's life, while a SQL function that cannot be inlined is
-- planned again at every call.

-- The id of a provider's model (NULL: unknown).
CREATE FUNCTION agentbase.usage_model(p_provider text, p_model text) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT m.id FROM agentbase.ai_models m JOIN agentbase.ai_providers p ON p.id = m.provider_id
             WHERE p.name = p_provider AND m.name = p_model);
END
$$;
COMMENT ON FUNCTION agentbase.usage_model(text, text) IS 'the id of a provider''s model (NULL: unknown)';

-- The price of a model in effect now (NULL: unknown model or none in effect yet).
CREATE FUNCTION agentbase.usage_price(p_model_id uuid) RETURNS agentbase.ai_model_prices
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v agentbase.ai_model_prices;
BEGIN
    SELECT * INTO v FROM agentbase.ai_model_prices
     WHERE model_id = p_model_id AND effective_from <= now() ORDER BY effective_from DESC LIMIT 1;
    RETURN v;
END
$$;
COMMENT ON FUNCTION agentbase.usage_price(uuid) IS 'the price of a model in effect now (NULL: none)';

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

-- Stores the response of a new key. The tenant's lock is held, so nobody else can have
-- stored it meanwhile; if that were ever untrue, the batch fails and is applied again one
-- operation at a time, and the retry finds the stored response.
CREATE FUNCTION agentbase.usage_remember(p_tenant uuid, p_scope text, p_key text, p_hash text, p_response jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_key IS NOT NULL THEN
        INSERT INTO agentbase.idempotency_keys (tenant_id, scope, key, request_hash, response, status)
        VALUES (p_tenant, p_scope, p_key, p_hash, p_response, 'completed');
    END IF;
END
$$;
COMMENT ON FUNCTION agentbase.usage_remember(uuid, text, text, text, jsonb) IS
    'stores the first response of an idempotency key';

-- Every API request looks its key up. As a SQL function with SECURITY DEFINER it could
-- never be inlined and was planned again at every call (a quarter of the database's time
-- on the accounting hot path); the same query in PL/pgSQL keeps its plan.
CREATE OR REPLACE FUNCTION agentbase.auth_lookup_key(p_key_hash text)
RETURNS TABLE (key_id uuid, tenant_id uuid, user_id uuid, scopes text[], expires_at timestamptz,
               revoked_at timestamptz, is_platform boolean, tenant_status text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    RETURN QUERY
    SELECT k.id, k.tenant_id, k.user_id, k.scopes, k.expires_at, k.revoked_at, false, t.status
      FROM agentbase.api_keys k
      JOIN agentbase.tenants t ON t.id = k.tenant_id
      LEFT JOIN agentbase.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
     WHERE k.key_hash = p_key_hash
       AND t.deleted_at IS NULL AND t.status <> 'deleted'
       AND (k.user_id IS NULL OR (u.deleted_at IS NULL AND u.status = 'active'))
    UNION ALL
    SELECT p.id, NULL, NULL, p.scopes, p.expires_at, p.revoked_at, true, NULL
      FROM agentbase.platform_api_keys p
     WHERE p.key_hash = p_key_hash
    LIMIT 1;
END
$$;

-- ------------------------------------------------------------------------------------
-- The batch's state: the counters of one tenant and one user of it
-- ------------------------------------------------------------------------------------

CREATE TYPE agentbase.usage_state AS (
    tenant_id      uuid,
    tenant_found   boolean,
    tenant_active  boolean,
    req            agentbase.tenant_quotas,   -- llm_requests/daily, rolled over to today
    req_limit      bigint,                    -- NULL: none
    tok            agentbase.tenant_quotas,   -- llm_tokens/monthly, rolled over to this month
    tok_limit      bigint,
    budgets        agentbase.user_budgets[],  -- the tenant's active budgets, then the user's
    tenant_budgets integer,                   -- how many of budgets are the tenant's
    user_id        uuid,                      -- the user loaded (NULL: none yet)
    user_found     boolean,
    quota          agentbase.quotas,          -- NULL: the user has none
    wallet         agentbase.token_wallets,   -- NULL: the user has none
    hold           agentbase.token_holds,     -- the reservation being resolved
    result         jsonb                      -- the answer of the operation just applied
);
COMMENT ON TYPE agentbase.usage_state IS
    'the counters of one tenant and one of its users, locked and moved in memory by a batch';

-- A tenant's plan counter (llm_requests/daily, llm_tokens/monthly), created on first use,
-- locked, with a new period already rolled over.
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
        v.reset_at := now();
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION agentbase.usage_counter(uuid, text, text) IS
    'a tenant plan counter, created if missing, locked, rolled over to the current period';

-- Budgets rolled over to their current period (what they spent before does not count).
CREATE FUNCTION agentbase.usage_roll_budgets(p agentbase.user_budgets[]) RETURNS agentbase.user_budgets[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    FOR i IN 1 .. cardinality(p) LOOP
        IF agentbase.usage_period_start((p[i]).period) > (p[i]).period_start THEN
            p[i].spent_usd := 0;
            p[i].period_start := agentbase.usage_period_start((p[i]).period);
        END IF;
    END LOOP;
    RETURN p;
END
$$;
COMMENT ON FUNCTION agentbase.usage_roll_budgets(agentbase.user_budgets[]) IS
    'budgets rolled over to their current period';

-- Takes the tenant's lock and loads its counters and budgets, locked.
CREATE FUNCTION agentbase.usage_load_tenant(p_tenant uuid) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    s agentbase.usage_state;
    v_t agentbase.tenants;
    v_plan agentbase.subscription_plans;
BEGIN
    PERFORM pg_advisory_xact_lock(1633777011, hashtext(p_tenant::text));  -- 1633777011 is "abus"
    SELECT * INTO v_t FROM agentbase.tenants WHERE id = p_tenant;
    SELECT * INTO v_plan FROM agentbase.subscription_plans WHERE level = v_t.plan;
    s.tenant_id := p_tenant;
    s.tenant_found := v_t.id IS NOT NULL AND v_t.deleted_at IS NULL;
    s.tenant_active := s.tenant_found AND v_t.status = 'active';
    s.budgets := '{}';
    s.tenant_budgets := 0;
    IF NOT s.tenant_found THEN
        RETURN s;  -- a platform key naming no tenant: nothing to count
    END IF;
    -- A tenant_quotas limit, then tenants.limits, override the plan.
    s.req := agentbase.usage_counter(p_tenant, 'llm_requests', 'daily');
    s.req_limit := coalesce((s.req).limit_value, (v_t.limits ->> 'daily_request_limit')::bigint,
                            v_plan.daily_request_limit);
    s.tok := agentbase.usage_counter(p_tenant, 'llm_tokens', 'monthly');
    s.tok_limit := coalesce((s.tok).limit_value, (v_t.limits ->> 'monthly_token_limit')::bigint,
                            v_plan.monthly_token_limit);
    s.budgets := agentbase.usage_roll_budgets(ARRAY(
        SELECT b FROM agentbase.user_budgets b
         WHERE tenant_id = p_tenant AND user_id IS NULL AND is_active ORDER BY id FOR UPDATE));
    s.tenant_budgets := cardinality(s.budgets);
    RETURN s;
END
$$;
COMMENT ON FUNCTION agentbase.usage_load_tenant(uuid) IS
    'locks a tenant for the batch and loads its plan counters and tenant-wide budgets';

-- Loads a user's quota, wallet and own budgets, locked, in place of the previous user's
-- (which usage_save_user must have written).
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

-- Writes budgets back (spent, reserved and period; nothing else moves on the hot path).
CREATE FUNCTION agentbase.usage_save_budgets(p agentbase.user_budgets[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(p) > 0 THEN
        UPDATE agentbase.user_budgets b
           SET spent_usd = x.spent_usd, reserved_usd = x.reserved_usd, period_start = x.period_start
          FROM unnest(p) x
         WHERE b.tenant_id = x.tenant_id AND b.id = x.id;
    END IF;
END
$$;
COMMENT ON FUNCTION agentbase.usage_save_budgets(agentbase.user_budgets[]) IS 'writes budgets back';

-- Writes the loaded user's counters back (once per user and batch).
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

-- Writes the tenant's counters back (once per tenant and batch).
CREATE FUNCTION agentbase.usage_save_tenant(s agentbase.usage_state) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agentbase.tenant_quotas q
       SET used_value = (v.x).used_value, reserved_value = (v.x).reserved_value,
           period_start = (v.x).period_start, reset_at = (v.x).reset_at
      FROM (VALUES (s.req), (s.tok)) v(x)
     WHERE q.tenant_id = s.tenant_id AND q.id = (v.x).id;
    PERFORM agentbase.usage_save_budgets(s.budgets[1:s.tenant_budgets]);
END
$$;
COMMENT ON FUNCTION agentbase.usage_save_tenant(agentbase.usage_state) IS
    'writes the batch state''s tenant counters back';

-- Appends the ledger entry explaining a change of the state's wallet (the wallet row
-- itself is written with the user's counters).
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

-- Checks the references a request makes inside the tenant; NULL when all exist, else the
-- error result.
CREATE FUNCTION agentbase.usage_check_refs(s agentbase.usage_state, p jsonb) RETURNS jsonb
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
COMMENT ON FUNCTION agentbase.usage_check_refs(agentbase.usage_state, jsonb) IS
    'checks user_id, agent_id and conversation_id of a usage request (NULL: all exist)';

-- ------------------------------------------------------------------------------------
-- Reserve
-- ------------------------------------------------------------------------------------

-- Pays the state wallet's overage back from its available tokens (a debit entry).
CREATE FUNCTION agentbase.usage_cover_overage(s agentbase.usage_state) RETURNS agentbase.usage_state
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
COMMENT ON FUNCTION agentbase.usage_cover_overage(agentbase.usage_state) IS
    'pays the wallet''s overage back from its available tokens';

-- p: user_id, agent_id?, conversation_id?, provider, model, estimated_input_tokens,
-- max_output_tokens, expires_in_seconds?, metadata? (checked by the service). Checks the
-- tenant, the plan's daily requests and monthly tokens, every active budget of the user
-- and of the tenant, the user's quota, and the wallet; then holds the estimate against all
-- of them. s.result: 201 with the reservation and what remains of each limit, or a refusal.
CREATE FUNCTION agentbase.usage_reserve(s agentbase.usage_state, p jsonb, p_key text)
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
COMMENT ON FUNCTION agentbase.usage_reserve(agentbase.usage_state, jsonb, text) IS
    'checks every limit and holds a call''s estimate against all of them (one reservation)';

-- ------------------------------------------------------------------------------------
-- Giving a hold back, charging usage
-- ------------------------------------------------------------------------------------

-- Gives back everything hold h reserved: plan tokens, budgets, quota, wallet. h belongs to
-- the state's user. The caller then closes the hold (usage_close_hold).
CREATE FUNCTION agentbase.usage_unhold(s agentbase.usage_state, h agentbase.token_holds, p_reason text)
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
COMMENT ON FUNCTION agentbase.usage_unhold(agentbase.usage_state, agentbase.token_holds, text) IS
    'gives back what a reservation held';

-- Marks a hold settled, released or expired, with the outcome a retry gets.
CREATE FUNCTION agentbase.usage_close_hold(h agentbase.token_holds, p_status text, p_outcome jsonb,
                                           p_ai_request uuid)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agentbase.token_holds
       SET status = p_status, outcome = p_outcome, ai_request_id = p_ai_request,
           settled_at = CASE WHEN p_status = 'settled' THEN now() END,
           released_at = CASE WHEN p_status <> 'settled' THEN now() END
     WHERE tenant_id = h.tenant_id AND id = h.id;
END
$$;
COMMENT ON FUNCTION agentbase.usage_close_hold(agentbase.token_holds, text, jsonb, uuid) IS
    'marks a reservation settled, released or expired';

-- Charges one finished call of the state's user: the ai_requests row with its price
-- snapshot, the plan and user counters, every budget (firing each crossed alert threshold
-- once per period), and the wallet (what it cannot cover becomes overage, with an alert).
-- s.result: {"body": the charge, "_rollup": the row usage_flush adds to the rollups}.
-- p: agent_id?, conversation_id?, message_id?, provider, model, input_tokens,
-- output_tokens, cached_tokens?, latency_ms?, time_to_first_token_ms?, status?,
-- error_code?, error_message?, request_type?, tool_call_ids?, metadata?
CREATE FUNCTION agentbase.usage_charge(s agentbase.usage_state, p jsonb, p_price agentbase.ai_model_prices,
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
COMMENT ON FUNCTION agentbase.usage_charge(agentbase.usage_state, jsonb, agentbase.ai_model_prices, uuid, text, boolean) IS
    'records one finished call and charges it to every counter, budget and the wallet';

-- ------------------------------------------------------------------------------------
-- Settle, release, events, expiry
-- ------------------------------------------------------------------------------------

-- Locks the hold a settle or release names into s.hold, and sets s.result when there is
-- nothing to do but answer: 404; the stored outcome when it was already resolved the same
-- way; 409 when another way; 409 (after releasing it) when it expired. s.result NULL: it
-- is held and may be resolved.
CREATE FUNCTION agentbase.usage_take_hold(s agentbase.usage_state, p_id uuid, p_as text)
RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    h agentbase.token_holds;
BEGIN
    SELECT * INTO h FROM agentbase.token_holds WHERE tenant_id = s.tenant_id AND id = p_id FOR UPDATE;
    s.hold := h;
    s.result := NULL;
    IF h.id IS NULL THEN
        s.result := agentbase.usage_error(404, 'not_found', format('reservation %s not found', p_id));
    ELSIF h.status = p_as THEN
        s.result := h.outcome || '{"replayed": true}';
    ELSIF h.status = 'held' AND h.expires_at <= now() THEN
        s.result := agentbase.usage_error(409, 'reservation_expired',
                                          format('reservation %s expired at %s', p_id, h.expires_at));
        s := agentbase.usage_unhold(s, h, 'expired');
        PERFORM agentbase.usage_close_hold(h, 'expired', s.result, NULL);
    ELSIF h.status <> 'held' THEN
        s.result := agentbase.usage_error(409, 'reservation_' || h.status,
                                          format('reservation %s was already %s', p_id, h.status));
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION agentbase.usage_take_hold(agentbase.usage_state, uuid, text) IS
    'locks the hold a settle or release names; s.result NULL when it may be resolved';

-- p: id (the reservation) and the call's actual figures (see usage_charge; user, agent,
-- conversation, provider and model come from the reservation). Priced at today's price.
CREATE FUNCTION agentbase.usage_settle(s agentbase.usage_state, p jsonb) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
DECLARE
    h agentbase.token_holds;
    v_charge jsonb;
BEGIN
    s := agentbase.usage_take_hold(s, (p ->> 'id')::uuid, 'settled');
    IF s.result IS NOT NULL THEN
        RETURN s;
    END IF;
    h := s.hold;
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
COMMENT ON FUNCTION agentbase.usage_settle(agentbase.usage_state, jsonb) IS
    'settles a reservation: charges the actual usage and gives back the hold (once)';

CREATE FUNCTION agentbase.usage_release(s agentbase.usage_state, p jsonb) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
BEGIN
    s := agentbase.usage_take_hold(s, (p ->> 'id')::uuid, 'released');
    IF s.result IS NOT NULL THEN
        RETURN s;
    END IF;
    s := agentbase.usage_unhold(s, s.hold, 'released');
    s.result := jsonb_build_object('status', 200, 'body', jsonb_build_object(
        'id', (s.hold).id, 'status', 'released', 'user_id', (s.hold).user_id, 'released_tokens', (s.hold).amount));
    PERFORM agentbase.usage_close_hold(s.hold, 'released', s.result, NULL);
    RETURN s;
END
$$;
COMMENT ON FUNCTION agentbase.usage_release(agentbase.usage_state, jsonb) IS
    'gives a reservation back unused (once)';

-- Releases the reservation p.id if it is still held past its expiry (200), else 409: the
-- same release as a settle or release meeting an expired hold (usage_take_hold).
CREATE FUNCTION agentbase.usage_expire(s agentbase.usage_state, p jsonb) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
BEGIN
    s := agentbase.usage_take_hold(s, (p ->> 'id')::uuid, 'expired');
    IF (s.hold).status = 'held' AND (s.hold).expires_at <= now() THEN
        s.result := jsonb_build_object('status', 200, 'body',
                                       jsonb_build_object('id', (s.hold).id, 'status', 'expired'));
    ELSE
        s.result := agentbase.usage_error(409, 'not_expired', 'the reservation is not held past its expiry');
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION agentbase.usage_expire(agentbase.usage_state, jsonb) IS
    'releases a reservation held past its expiry';

-- A finished call that had no reservation: the same accounting as a settle; the limits
-- are checked after the fact and reported in limits_exceeded.
CREATE FUNCTION agentbase.usage_event(s agentbase.usage_state, p jsonb, p_key text) RETURNS agentbase.usage_state
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
COMMENT ON FUNCTION agentbase.usage_event(agentbase.usage_state, jsonb, text) IS
    'records a finished call without a reservation (limits checked after the fact); idempotent by key';

-- The expire operations for at most p_limit holds past their expiry, of every tenant, for
-- usage_apply. Runs as the owner: it reads across tenants, and takes no input.
CREATE FUNCTION agentbase.usage_expired_ops(p_limit integer DEFAULT 1000) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = agentbase, pg_temp AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('op', 'expire', 'tenant_id', tenant_id,
                                                         'args', jsonb_build_object('id', id))), '[]')
              FROM (SELECT tenant_id, id FROM agentbase.token_holds
                     WHERE status = 'held' AND expires_at <= now() ORDER BY expires_at LIMIT p_limit) x);
END
$$;
COMMENT ON FUNCTION agentbase.usage_expired_ops(integer) IS
    'expire operations for reservations held past their expiry (all tenants), for usage_apply';
REVOKE ALL ON FUNCTION agentbase.usage_expired_ops(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.usage_expired_ops(integer) TO agentbase_app;

-- ------------------------------------------------------------------------------------
-- The batch
-- ------------------------------------------------------------------------------------

-- Adds a tenant's charges of a batch to the hourly rollups and usage metrics: one upserted
-- row per (hour, user, agent, provider, model) and one metric row per (user, agent),
-- whatever the number of calls, so hot aggregates are written once per batch.
CREATE FUNCTION agentbase.usage_flush(p_tenant uuid, p_rows jsonb) RETURNS void
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
COMMENT ON FUNCTION agentbase.usage_flush(uuid, jsonb) IS
    'adds a tenant''s charges of a batch to the hourly cost_tracking rollups and usage_metrics';

-- Applies the operations of one tenant (at positions p_idx of p_ops, ascending) under its
-- lock, grouped by user, each user's in arrival order; returns their results, aligned with
-- p_idx. A settle, release or expiry belongs to the user of its reservation, looked up one
-- by one by primary key (whatever the planner thinks of the table's size).
CREATE FUNCTION agentbase.usage_apply_tenant(p_tenant uuid, p_ops jsonb, p_idx integer[]) RETURNS jsonb[]
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

-- Applies a batch of usage operations in one transaction and returns one result per
-- operation, in order. Each op: {op: reserve|settle|release|event|expire, tenant_id,
-- actor_id, request_id, ip, idempotency_key, args}. The service has authenticated every
-- op and checked its args. The batch is split by tenant in one pass, and the tenants are
-- applied in ascending order, the order of their locks (see the header).
CREATE FUNCTION agentbase.usage_apply(p_ops jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_results jsonb[] := array_fill(NULL::jsonb, ARRAY[jsonb_array_length(p_ops)]);
    v_part jsonb[];
    r record;
BEGIN
    FOR r IN SELECT coalesce(x.op ->> 'tenant_id', '') AS tenant, array_agg(x.i::integer ORDER BY x.i) AS idx
               FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS x(op, i)
              GROUP BY 1 ORDER BY 1 LOOP
        v_part := agentbase.usage_apply_tenant(r.tenant::uuid, p_ops, r.idx);
        FOR k IN 1 .. cardinality(r.idx) LOOP
            v_results[r.idx[k]] := v_part[k];
        END LOOP;
    END LOOP;
    PERFORM set_config('agentbase.tenant_id', '', true), set_config('agentbase.actor_id', '', true),
            set_config('agentbase.request_id', '', true);
    RETURN to_jsonb(v_results);
END
$$;
COMMENT ON FUNCTION agentbase.usage_apply(jsonb) IS
    'applies a batch of reserve, settle, release, event and expire operations; one result per operation';

-- Releases at most p_limit reservations held past their expiry, of every tenant, as one
-- batch; returns how many. For the service's batchers and `agentbase maintain`.
CREATE FUNCTION agentbase.usage_expire_holds(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT count(*) FROM jsonb_array_elements(agentbase.usage_apply(agentbase.usage_expired_ops(p_limit))) r
             WHERE (r ->> 'status')::int = 200);
END
$$;
COMMENT ON FUNCTION agentbase.usage_expire_holds(integer) IS
    'releases reservations held past their expiry (all tenants); returns how many';

-- Rolls the hourly rows up into the daily, weekly, monthly and yearly ones, each from the
-- next finer period (daily from hourly, weekly and monthly from daily, yearly from
-- monthly), for the current and the previous period of each kind; returns the rows it
-- created or changed (0 when they already agree, so running it twice changes nothing).
-- Runs as the owner, for every tenant (`agentbase maintain rollups`).
CREATE FUNCTION agentbase.usage_rollup() RETURNS integer
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
COMMENT ON FUNCTION agentbase.usage_rollup() IS
    'rolls hourly cost_tracking rows up into daily, weekly, monthly and yearly ones; returns rows changed';

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
COMMENT ON FUNCTION agentbase.usage_summary(timestamptz, timestamptz, text) IS
    'usage of the current tenant by model, user, agent, day or hour, with totals and budget utilization';
