-- LLM requests, their feedback and what the accounting knows of projects (issue 12): the
-- AI agent system's ai_requests columns (confidence and safety scores, start and end times,
-- payloads kept only where the tenant says so), feedback given after the fact, the project
-- of a call from the reservation through ai_requests into the cost rollups, the requests
-- behind a rollup and a user's month as reports, the performance aggregates `agentbase
-- maintain` builds, and the legacy views served like the tables.
--
-- References of ai_requests. Every other reference in the schema is a composite foreign key;
-- ai_requests keeps its references checked within the tenant instead (0011's trg_refs for
-- every client write, usage_check_refs for the accounting batch), and project_id joins them:
--   * PostgreSQL 15 cannot add a foreign key NOT VALID to a partitioned table, so adding one
--     to a deployed log scans every partition under a SHARE ROW EXCLUSIVE lock on both
--     tables, and fails on any row that names a row deleted since (the batch's rows were
--     never checked by a trigger);
--   * a key needs an index on the log for deletes of the referenced row (tests/sql/catalog.sql
--     requires it): three more indexes (agent, conversation, project) on the table every LLM
--     call inserts into;
--   * each key costs the insert a lookup and a KEY SHARE row lock of the referenced row:
--     20,000 single-row inserts took 1.44 s without and 1.83 s with the three keys (the
--     fastest of six runs each, on this machine), a quarter more per row.
-- What a foreign key would add, a check at delete time, matters little here: users, agents,
-- conversations and projects are deleted softly (deleted_at), and a tenant's purge removes
-- its log through the tenant's key. docs/usage.md says the same for users of the schema.
--
-- Payloads. request_payload and response_payload are kept only when the tenant's settings
-- say {"store_prompts": true} (default: not): a trigger empties them otherwise, for every
-- writer, the owner's accounting batch included. It fires only when a payload is given, so a
-- call without one costs nothing more.
--
-- Feedback. ai_requests and rag_queries are append-only logs, and nothing references a
-- partitioned log by foreign key (0004): a rating given later is a row of request_feedback
-- naming its target, checked by a trigger (the target must be one the writer can see in the
-- tenant), and the targets' representations join it in (src/api/tables.c).
--
-- The hot path. usage_reserve, usage_settle, usage_event, usage_charge and usage_flush are
-- 0010's (usage_settle 0011's) with the project carried from the reservation into the hold,
-- the ai_requests row and the rollup key; the times and payloads are two jsonb lookups each,
-- and a settle or event giving started_at is checked against completed_at before anything
-- moves. The rollup key grows by one column. bench/usage.sh measures it (see docs/usage.md).

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
-- ai_requests: scores, times, payloads, project
-- ------------------------------------------------------------------------------------

ALTER TABLE agentbase.ai_requests
    ADD COLUMN project_id uuid,
    ADD COLUMN confidence_score numeric(5,4),
    ADD COLUMN safety_score numeric(5,4),
    ADD COLUMN started_at timestamptz,
    ADD COLUMN completed_at timestamptz,
    ADD COLUMN request_payload jsonb,
    ADD COLUMN response_payload jsonb,
    ADD CONSTRAINT chk_ai_requests_confidence_score CHECK (confidence_score BETWEEN 0 AND 1),
    ADD CONSTRAINT chk_ai_requests_safety_score CHECK (safety_score BETWEEN 0 AND 1),
    ADD CONSTRAINT chk_ai_requests_completed_at CHECK (completed_at >= started_at);
SELECT pg_temp.comment_columns('agentbase.ai_requests', '{
  "project_id": "project the call was made for (checked within the tenant, no foreign key: see 0018)",
  "confidence_score": "the model''s confidence 0..1", "safety_score": "safety 0..1",
  "started_at": "when the call started", "completed_at": "when it completed (not before started_at)",
  "request_payload": "the prompt sent (kept only when the tenant''s settings say store_prompts)",
  "response_payload": "the answer received (kept only when the tenant''s settings say store_prompts)"}');
-- A project's calls, newest first: the per-project list and the requests behind a rollup.
CREATE INDEX idx_ai_requests_tenant_id_project_id_created_at
    ON agentbase.ai_requests (tenant_id, project_id, created_at DESC) WHERE project_id IS NOT NULL;

DROP TRIGGER trg_refs ON agentbase.ai_requests;
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.ai_requests
    FOR EACH ROW WHEN (current_user <> 'agentbase_owner')
    EXECUTE FUNCTION agentbase.refs_check('user_id:users', 'agent_id:agents', 'conversation_id:conversations',
                                          'message_id:messages', 'project_id:projects');

-- BEFORE INSERT trigger, only for rows that carry a payload: empties both unless the row's
-- tenant keeps prompts (tenants.settings {"store_prompts": true}). A tenant the writer cannot
-- read keeps nothing.
CREATE FUNCTION agentbase.ai_requests_payloads() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM agentbase.tenants
                    WHERE id = NEW.tenant_id AND settings @> '{"store_prompts": true}') THEN
        NEW.request_payload := NULL;
        NEW.response_payload := NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.ai_requests_payloads() IS
    'BEFORE INSERT trigger: request and response payloads are kept only when the tenant''s settings say store_prompts';
CREATE TRIGGER trg_payloads BEFORE INSERT ON agentbase.ai_requests
    FOR EACH ROW WHEN (NEW.request_payload IS NOT NULL OR NEW.response_payload IS NOT NULL)
    EXECUTE FUNCTION agentbase.ai_requests_payloads();

-- ------------------------------------------------------------------------------------
-- The project in the hold and in the rollups
-- ------------------------------------------------------------------------------------

-- As 0010 did for the holds' other references: the index leads with the referencing column.
ALTER TABLE agentbase.token_holds
    ADD COLUMN project_id uuid,
    ADD CONSTRAINT fk_token_holds_projects FOREIGN KEY (tenant_id, project_id)
        REFERENCES agentbase.projects (tenant_id, id) ON DELETE SET NULL (project_id);
COMMENT ON COLUMN agentbase.token_holds.project_id IS 'project the call is for';
CREATE INDEX idx_token_holds_project_id ON agentbase.token_holds (project_id, tenant_id);

ALTER TABLE agentbase.cost_tracking
    ADD COLUMN project_id uuid,
    ADD CONSTRAINT fk_cost_tracking_projects FOREIGN KEY (tenant_id, project_id)
        REFERENCES agentbase.projects (tenant_id, id) ON DELETE SET NULL (project_id),
    DROP CONSTRAINT uq_cost_tracking_rollup,
    ADD CONSTRAINT uq_cost_tracking_rollup UNIQUE NULLS NOT DISTINCT
        (tenant_id, period_type, period_start, user_id, agent_id, project_id, provider, model);
COMMENT ON COLUMN agentbase.cost_tracking.project_id IS 'the project (NULL: none or all)';
CREATE INDEX idx_cost_tracking_tenant_id_project_id ON agentbase.cost_tracking (tenant_id, project_id, period_start);

-- ------------------------------------------------------------------------------------
-- The accounting functions (0010's; usage_settle 0011's) with the project, times and payloads
-- ------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION agentbase.usage_check_refs(s agentbase.usage_state, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    -- Ids are compared as variables, never as expressions of p: under RLS, a condition
    -- with a function that may raise (->>, the cast) cannot be an index condition.
    v_agent uuid := (p ->> 'agent_id')::uuid;
    v_conversation uuid := (p ->> 'conversation_id')::uuid;
    v_project uuid := (p ->> 'project_id')::uuid;
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
    IF v_project IS NOT NULL AND NOT EXISTS (SELECT 1 FROM agentbase.projects
                    WHERE tenant_id = s.tenant_id AND id = v_project) THEN
        RETURN agentbase.usage_error(422, 'invalid_reference', format('project %s not found', v_project));
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
    IF p ? 'started_at' AND (p ->> 'started_at')::timestamptz > coalesce((p ->> 'completed_at')::timestamptz, now()) THEN
        s.result := agentbase.usage_error(400, 'invalid_field', 'field started_at: the call cannot start after it completed');
        RETURN s;
    END IF;
    -- The hold is given back first, so the charge sees what the wallet really has.
    s := agentbase.usage_unhold(s, h, 'settlement');
    s := agentbase.usage_charge(s,
        p || jsonb_strip_nulls(jsonb_build_object('agent_id', h.agent_id, 'conversation_id', h.conversation_id,
                                                  'project_id', h.project_id,
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
    IF p ? 'started_at' AND (p ->> 'started_at')::timestamptz > coalesce((p ->> 'completed_at')::timestamptz, now()) THEN
        s.result := agentbase.usage_error(400, 'invalid_field', 'field started_at: the call cannot start after it completed');
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
        (tenant_id, period_type, period_start, user_id, agent_id, project_id, provider, model, request_count,
         success_count, error_count, input_tokens, output_tokens, cached_tokens, total_tokens,
         total_cost, latency_sum_ms, latency_count, avg_latency_ms)
    SELECT p_tenant, 'hourly', hour, user_id, agent_id, project_id, provider, model, count(*),
           count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok), sum(input), sum(output),
           sum(cached), sum(total), sum(cost), coalesce(sum(latency), 0), count(latency), avg(latency)
      FROM jsonb_to_recordset(p_rows) AS r(hour timestamptz, user_id uuid, agent_id uuid, project_id uuid,
                                           provider text, model text, input bigint, output bigint, cached bigint,
                                           total bigint, cost numeric, latency bigint, ok boolean)
     GROUP BY hour, user_id, agent_id, project_id, provider, model
     ORDER BY hour, user_id, agent_id, project_id, provider, model
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
LANGUAGE plpgsql SECURITY DEFINER SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_step record;
    v_rows integer;
    v_total integer := 0;
BEGIN
    FOR v_step IN SELECT * FROM (VALUES ('daily', 'hourly', 'day'), ('weekly', 'daily', 'week'),
                                        ('monthly', 'daily', 'month'), ('yearly', 'monthly', 'year'))
                                 AS x(target, source, unit) LOOP
        INSERT INTO agentbase.cost_tracking AS c
            (tenant_id, period_type, period_start, user_id, agent_id, project_id, provider, model, request_count,
             success_count, error_count, input_tokens, output_tokens, cached_tokens, total_tokens,
             total_cost, latency_sum_ms, latency_count, avg_latency_ms)
        SELECT tenant_id, v_step.target, date_trunc(v_step.unit, period_start), user_id, agent_id, project_id, provider,
               model, sum(request_count), sum(success_count), sum(error_count), sum(input_tokens),
               sum(output_tokens), sum(cached_tokens), sum(total_tokens), sum(total_cost),
               sum(latency_sum_ms), sum(latency_count),
               round(sum(latency_sum_ms)::numeric / nullif(sum(latency_count), 0), 3)
          FROM agentbase.cost_tracking
         WHERE period_type = v_step.source
           AND period_start >= date_trunc(v_step.unit, now()) - ('1 ' || v_step.unit)::interval
         GROUP BY tenant_id, date_trunc(v_step.unit, period_start), user_id, agent_id, project_id, provider, model
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
             WHEN 'project' THEN 'project_id'
             WHEN 'day' THEN 'date_trunc(''day'', period_start) AS day'
             WHEN 'hour' THEN 'period_start AS hour' END;
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'invalid group_by %: expected model, user, agent, project, day or hour', coalesce(p_group_by, 'NULL')
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
    'usage of the current tenant by model, user, agent, project, day or hour, with totals and budget utilization';

-- ------------------------------------------------------------------------------------
-- Feedback on requests, after the fact
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.request_feedback (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    target_type text        NOT NULL,
    target_id   uuid        NOT NULL,
    user_id     uuid,
    rating      smallint    NOT NULL,
    comment     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT request_feedback_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_request_feedback_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_request_feedback_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (user_id),
    CONSTRAINT chk_request_feedback_target_type CHECK (target_type IN ('ai_request', 'rag_query')),
    CONSTRAINT chk_request_feedback_rating CHECK (rating BETWEEN 1 AND 5),
    CONSTRAINT chk_request_feedback_comment CHECK (char_length(comment) <= 4000)
);
COMMENT ON TABLE agentbase.request_feedback IS
    'ratings and comments given after the fact on ai_requests and rag_queries rows (append-only)';
SELECT pg_temp.comment_columns('agentbase.request_feedback', '{
  "tenant_id": "owning tenant", "id": "feedback id", "target_type": "ai_request or rag_query",
  "target_id": "the ai_requests or rag_queries row rated (checked by trigger: partitioned logs take no foreign key)",
  "user_id": "who gave it", "rating": "1..5", "comment": "free text, at most 4000 characters",
  "created_at": "when it was given"}');
CREATE INDEX idx_request_feedback_tenant_id_target_id ON agentbase.request_feedback (tenant_id, target_id, created_at);
CREATE INDEX idx_request_feedback_user_id_id ON agentbase.request_feedback (tenant_id, user_id, id);
SELECT agentbase.enable_tenant_rls('agentbase.request_feedback');
SELECT agentbase.restrict_app_to_append('agentbase.request_feedback');

-- BEFORE INSERT trigger: the target must be a row of its log in the row's tenant that the
-- writer can see (a user: their own), else "not found" (AB404, as the API answers). A row for
-- another tenant than the request's is left to the policies, which refuse it (42501).
CREATE FUNCTION agentbase.request_feedback_target() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_found boolean := true;  -- another target_type is left to its CHECK
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM coalesce(agentbase.current_tenant_id(), NEW.tenant_id) THEN
        RETURN NEW;
    END IF;
    IF NEW.target_type = 'ai_request' THEN
        v_found := EXISTS (SELECT 1 FROM agentbase.ai_requests WHERE tenant_id = NEW.tenant_id AND id = NEW.target_id);
    ELSIF NEW.target_type = 'rag_query' THEN
        v_found := EXISTS (SELECT 1 FROM agentbase.rag_queries WHERE tenant_id = NEW.tenant_id AND id = NEW.target_id);
    END IF;
    IF NOT v_found THEN
        RAISE EXCEPTION '% % not found', replace(NEW.target_type, '_', ' '), NEW.target_id USING ERRCODE = 'AB404';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION agentbase.request_feedback_target() IS
    'BEFORE INSERT trigger: feedback names an ai_requests or rag_queries row the writer can see in its tenant';
CREATE TRIGGER trg_target BEFORE INSERT ON agentbase.request_feedback
    FOR EACH ROW EXECUTE FUNCTION agentbase.request_feedback_target();

-- The feedback on one row of ai_requests or rag_queries that the caller may see, oldest
-- first: what their representations carry as "feedback" (src/api/tables.c, usage_requests).
CREATE FUNCTION agentbase.request_feedback_of(p_tenant_id uuid, p_target_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', f.id, 'user_id', f.user_id, 'rating', f.rating,
                                                 'comment', f.comment, 'created_at', f.created_at)
                              ORDER BY f.created_at, f.id), '[]')
      FROM agentbase.request_feedback f
     WHERE f.tenant_id = p_tenant_id AND f.target_id = p_target_id
$$;
COMMENT ON FUNCTION agentbase.request_feedback_of(uuid, uuid) IS
    'the feedback on one ai_requests or rag_queries row, oldest first (as a JSON array)';

-- ------------------------------------------------------------------------------------
-- Performance aggregates, built by `agentbase maintain metrics`
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.performance_metric_rollups (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    period_type  text        NOT NULL,
    period_start timestamptz NOT NULL,
    agent_id     uuid,
    metric_name  text        NOT NULL,
    sample_count bigint      NOT NULL,
    min_value    numeric     NOT NULL,
    max_value    numeric     NOT NULL,
    avg_value    numeric     NOT NULL,
    p50_value    numeric     NOT NULL,
    p95_value    numeric     NOT NULL,
    p99_value    numeric     NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT performance_metric_rollups_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_performance_metric_rollups_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_performance_metric_rollups_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_performance_metric_rollups_period UNIQUE NULLS NOT DISTINCT
        (tenant_id, period_type, period_start, agent_id, metric_name),
    CONSTRAINT chk_performance_metric_rollups_period_type CHECK (period_type IN ('hourly', 'daily')),
    CONSTRAINT chk_performance_metric_rollups_sample_count CHECK (sample_count > 0),
    CONSTRAINT chk_performance_metric_rollups_order
        CHECK (min_value <= p50_value AND p50_value <= p95_value AND p95_value <= p99_value
               AND p99_value <= max_value AND avg_value BETWEEN min_value AND max_value)
);
COMMENT ON TABLE agentbase.performance_metric_rollups IS
    'count, min, max, avg, p50, p95, p99 of each performance metric per hour and day, per agent and tenant-wide (built by agentbase maintain)';
SELECT pg_temp.comment_columns('agentbase.performance_metric_rollups', '{
  "tenant_id": "owning tenant", "id": "rollup id", "period_type": "hourly or daily",
  "period_start": "start of the period", "agent_id": "the agent (NULL: every measurement of the tenant, agents or not)",
  "metric_name": "what is measured", "sample_count": "measurements (> 0)", "min_value": "smallest",
  "max_value": "largest", "avg_value": "mean", "p50_value": "median (interpolated)",
  "p95_value": "95th percentile (interpolated)", "p99_value": "99th percentile (interpolated)",
  "created_at": "creation time", "updated_at": "last rebuild (trigger-maintained)"}');
CREATE INDEX idx_performance_metric_rollups_tenant_id_agent_id
    ON agentbase.performance_metric_rollups (tenant_id, agent_id, period_start);
CREATE INDEX idx_performance_metric_rollups_tenant_id_metric_name
    ON agentbase.performance_metric_rollups (tenant_id, metric_name, period_start);
SELECT agentbase.enable_tenant_rls('agentbase.performance_metric_rollups');
SELECT agentbase.attach_updated_at('agentbase.performance_metric_rollups');

-- The rollup reads the raw rows of the periods it rebuilds, of every tenant.
CREATE INDEX idx_performance_metrics_recorded_at ON agentbase.performance_metrics (recorded_at);

-- Rebuilds the hourly and daily aggregates of every tenant's performance_metrics, per agent
-- and tenant-wide (agent_id NULL: all of the tenant's measurements), for the current and the
-- previous period of each kind, or for every period from p_since; returns the rows created
-- or changed (0 when they already agree, so running it twice changes nothing). Percentiles
-- are interpolated (percentile_cont). Runs as the owner (`agentbase maintain metrics`).
CREATE FUNCTION agentbase.performance_rollup(p_since timestamptz DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_step record;
    v_from timestamptz;
    v_rows integer;
    v_total integer := 0;
BEGIN
    FOR v_step IN SELECT * FROM (VALUES ('hourly', 'hour'), ('daily', 'day')) AS x(target, unit) LOOP
        v_from := date_trunc(v_step.unit, coalesce(p_since, now() - ('1 ' || v_step.unit)::interval));
        INSERT INTO agentbase.performance_metric_rollups AS r
            (tenant_id, period_type, period_start, agent_id, metric_name, sample_count, min_value, max_value,
             avg_value, p50_value, p95_value, p99_value)
        SELECT m.tenant_id, v_step.target, date_trunc(v_step.unit, m.recorded_at), g.agent_id, m.metric_name,
               count(*), min(m.value), max(m.value), avg(m.value),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY m.value::float8)::numeric,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY m.value::float8)::numeric,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY m.value::float8)::numeric
          FROM agentbase.performance_metrics m
          CROSS JOIN LATERAL (SELECT m.agent_id WHERE m.agent_id IS NOT NULL UNION ALL SELECT NULL::uuid) g(agent_id)
         WHERE m.recorded_at >= v_from
         GROUP BY m.tenant_id, date_trunc(v_step.unit, m.recorded_at), g.agent_id, m.metric_name
        ON CONFLICT ON CONSTRAINT uq_performance_metric_rollups_period DO UPDATE
           SET sample_count = excluded.sample_count, min_value = excluded.min_value,
               max_value = excluded.max_value, avg_value = excluded.avg_value, p50_value = excluded.p50_value,
               p95_value = excluded.p95_value, p99_value = excluded.p99_value
         WHERE (r.sample_count, r.min_value, r.max_value, r.avg_value, r.p50_value, r.p95_value, r.p99_value)
               IS DISTINCT FROM
               (excluded.sample_count, excluded.min_value, excluded.max_value, excluded.avg_value,
                excluded.p50_value, excluded.p95_value, excluded.p99_value);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_total := v_total + v_rows;
    END LOOP;
    RETURN v_total;
END
$$;
COMMENT ON FUNCTION agentbase.performance_rollup(timestamptz) IS
    'rebuilds the hourly and daily performance_metric_rollups (per agent and tenant-wide); returns rows changed';

-- ------------------------------------------------------------------------------------
-- Reports: the requests behind the rollups, a user's month
-- ------------------------------------------------------------------------------------

-- The current tenant's ai_requests between p_from and p_to, newest first, narrowed by the
-- filters given (NULL: any): a page of at most p_limit after the request p_after (its id),
-- as {data, has_more, next_cursor}. The index range is the user's, the project's or the
-- tenant's by time; model, provider and agent are conditions inside it (a rollup row's hour
-- bounds them). Under RLS: a user sees their own.
CREATE FUNCTION agentbase.usage_requests(p_from timestamptz, p_to timestamptz, p_provider text, p_model text,
                                         p_user_id uuid, p_agent_id uuid, p_project_id uuid,
                                         p_after uuid, p_limit integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_where text := '';
    v_rows jsonb[];
    v_more boolean;
    v_at timestamptz;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RAISE EXCEPTION 'invalid period: from must be before to' USING ERRCODE = '22023';
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'invalid limit: 1 to 500' USING ERRCODE = '22023';
    END IF;
    IF p_after IS NOT NULL THEN
        SELECT created_at INTO v_at FROM agentbase.ai_requests
         WHERE tenant_id = agentbase.current_tenant_id() AND id = p_after;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'invalid cursor: request % not found', p_after USING ERRCODE = '22023';
        END IF;
        v_where := ' AND (r.created_at, r.id) < ($8, $9)';
    END IF;
    v_where := v_where
        || CASE WHEN p_provider IS NOT NULL THEN ' AND r.provider = $3' ELSE '' END
        || CASE WHEN p_model IS NOT NULL THEN ' AND r.model = $4' ELSE '' END
        || CASE WHEN p_user_id IS NOT NULL THEN ' AND r.user_id = $5' ELSE '' END
        || CASE WHEN p_agent_id IS NOT NULL THEN ' AND r.agent_id = $6' ELSE '' END
        || CASE WHEN p_project_id IS NOT NULL THEN ' AND r.project_id = $7' ELSE '' END;
    EXECUTE 'SELECT array_agg(to_jsonb(r) || jsonb_build_object(''feedback'', '
            '                 agentbase.request_feedback_of(r.tenant_id, r.id)) ORDER BY r.created_at DESC, r.id DESC) FROM ('
            '  SELECT * FROM agentbase.ai_requests r'
            '   WHERE r.tenant_id = agentbase.current_tenant_id() AND r.created_at >= $1 AND r.created_at < $2'
            || v_where ||
            '   ORDER BY r.created_at DESC, r.id DESC LIMIT $10) r'
       INTO v_rows
      USING p_from, p_to, p_provider, p_model, p_user_id, p_agent_id, p_project_id, v_at, p_after, p_limit + 1;
    v_rows := coalesce(v_rows, '{}');
    v_more := cardinality(v_rows) > p_limit;
    IF v_more THEN
        v_rows := v_rows[1:p_limit];
    END IF;
    RETURN jsonb_build_object('data', to_jsonb(v_rows), 'has_more', v_more,
                              'next_cursor', CASE WHEN v_more THEN v_rows[p_limit] -> 'id' END);
END
$$;
COMMENT ON FUNCTION agentbase.usage_requests(timestamptz, timestamptz, text, text, uuid, uuid, uuid, uuid, integer) IS
    'the current tenant''s ai_requests in a period, newest first, by provider, model, user, agent and project (a page)';

-- A user's usage in a calendar month (UTC) from the hourly rollups: requests, tokens and
-- cost, in all and by project (project_id null: calls without one). A user or viewer asks
-- only for themselves; a user not of the tenant is not found.
CREATE FUNCTION agentbase.usage_monthly(p_user_id uuid, p_month date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_from timestamptz := date_trunc('month', p_month::timestamp) AT TIME ZONE 'UTC';
    v_to timestamptz := (date_trunc('month', p_month::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
    v_figures jsonb;
    v_projects jsonb;
BEGIN
    IF p_user_id IS NULL THEN
        RAISE EXCEPTION 'parameter user_id is required: the key acts for no user' USING ERRCODE = '22023';
    END IF;
    IF agentbase.current_user_role() IN ('user', 'viewer') AND p_user_id IS DISTINCT FROM agentbase.current_user_id() THEN
        RAISE EXCEPTION 'field user_id must be your own user id: only admins read other users'' usage'
              USING ERRCODE = '42501', COLUMN = 'user_id';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM agentbase.users WHERE tenant_id = agentbase.current_tenant_id() AND id = p_user_id) THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'AB404';
    END IF;
    WITH c AS (
        SELECT project_id, sum(request_count) AS requests, sum(input_tokens) AS input_tokens,
               sum(output_tokens) AS output_tokens, sum(cached_tokens) AS cached_tokens,
               sum(total_tokens) AS total_tokens, sum(total_cost) AS cost_usd
          FROM agentbase.cost_tracking
         WHERE tenant_id = agentbase.current_tenant_id() AND period_type = 'hourly'
           AND period_start >= v_from AND period_start < v_to AND user_id = p_user_id
         GROUP BY project_id)
    SELECT jsonb_build_object(
               'requests', coalesce(sum(requests), 0), 'input_tokens', coalesce(sum(input_tokens), 0),
               'output_tokens', coalesce(sum(output_tokens), 0), 'cached_tokens', coalesce(sum(cached_tokens), 0),
               'total_tokens', coalesce(sum(total_tokens), 0), 'cost_usd', coalesce(sum(cost_usd), 0)),
           coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.cost_usd DESC, c.total_tokens DESC, c.project_id)
                    FILTER (WHERE c.requests IS NOT NULL), '[]')
      INTO v_figures, v_projects FROM c;
    RETURN jsonb_build_object('user_id', p_user_id, 'month', to_char(p_month, 'YYYY-MM'), 'from', v_from, 'to', v_to)
           || v_figures || jsonb_build_object('projects', v_projects);
END
$$;
COMMENT ON FUNCTION agentbase.usage_monthly(uuid, date) IS
    'a user''s requests, tokens and cost in a calendar month (UTC), in all and by project';

GRANT EXECUTE ON FUNCTION
    agentbase.request_feedback_of(uuid, uuid),
    agentbase.usage_requests(timestamptz, timestamptz, text, text, uuid, uuid, uuid, uuid, integer),
    agentbase.usage_monthly(uuid, date)
TO agentbase_app;

-- ------------------------------------------------------------------------------------
-- Who may see and change what; the legacy views served too
-- ------------------------------------------------------------------------------------

INSERT INTO agentbase.role_access
    (resource, table_name, owned_by, user_read, user_write, viewer_read, admin_write, note) VALUES
('request-feedback', 'request_feedback', 'user_id', 'own', 'own', 'own', 'all', 'ratings of LLM calls and RAG queries, by whoever gave them'),
('performance-metric-rollups', 'performance_metric_rollups', NULL, 'none', 'none', 'none', 'none', 'aggregates built by agentbase maintain, for admins'),
('usage-logs', 'usage_logs', 'user_id', 'own', 'none', 'own', 'none', 'legacy view of ai-requests (read-only)'),
('token-transactions', 'token_transactions', 'user_id', 'own', 'none', 'own', 'none', 'legacy view of the token ledger (read-only)'),
('user-quotas', 'user_quotas', 'user_id', 'own', 'none', 'own', 'none', 'legacy view of the quotas (read-only)');
SELECT agentbase.apply_role_access(resource) FROM agentbase.role_access
 WHERE resource IN ('request-feedback', 'performance-metric-rollups', 'usage-logs', 'token-transactions', 'user-quotas');
CREATE TRIGGER trg_owner_fill BEFORE INSERT OR UPDATE ON agentbase.request_feedback
    FOR EACH ROW EXECUTE FUNCTION agentbase.owner_fill('user_id');
