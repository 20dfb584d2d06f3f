-- The accounting batch inserts its new holds and ai_requests rows as sets (issue 15).
--
-- After 0026, the costliest statements of a reserve -> settle cycle were two one-row
-- inserts: the hold (token_holds, seven indexes and six foreign keys) and the ai_requests
-- row (a partitioned table: each INSERT routes its row and opens the partition and its
-- indexes again), about 330 us a cycle for ai_requests alone (bench/usage.sh,
-- BENCH_PROFILE=1). As 0026 did for the ledger, an operation now makes these rows into its
-- state (usage_state.holds and .requests), the batch moves them after each operation into
-- its own lists, and inserts each table's with one statement at the end of the tenant's
-- batch: the same rows, in the same order, in the same transaction, with the same
-- triggers, constraints and row security (row by row, as before).
--
-- Nothing in a batch reads these rows back: a settle, release or expiry names a hold its
-- client (or the expiry sweep) found committed before the batch began, and a retried
-- reserve or event is answered from its idempotency record, not from these rows. A row
-- that fails a check fails the batch, as it did, and the service applies the batch again
-- one operation at a time.

ALTER TYPE agentbase.usage_state ADD ATTRIBUTE holds agentbase.token_holds[];
ALTER TYPE agentbase.usage_state ADD ATTRIBUTE requests agentbase.ai_requests[];

CREATE OR REPLACE FUNCTION agentbase.usage_apply_tenant(p_tenant uuid, p_ops jsonb, p_idx integer[]) RETURNS jsonb[]
LANGUAGE plpgsql SET "TimeZone" = 'UTC' AS $$
DECLARE
    v_results jsonb[] := array_fill(NULL::jsonb, ARRAY[cardinality(p_idx)]);
    v_rollups jsonb[] := '{}';
    v_users uuid[] := '{}';               -- the user of each operation, aligned with p_idx
    v_user uuid;
    v_hold uuid;
    v_ids uuid[];                         -- the batch's users, ascending, once each
    v_found uuid[];                       -- those of them that exist
    v_budgets agentbase.user_budgets[];   -- their active budgets (by user, then id), rolled over
    v_quotas agentbase.quotas[];          -- their quotas (by user), rolled over
    v_wallets agentbase.token_wallets[];  -- their wallets (by user)
    v_ledger agentbase.token_ledger[] := '{}';  -- the batch's ledger entries, in order
    v_holds agentbase.token_holds[] := '{}';    -- its new holds
    v_requests agentbase.ai_requests[] := '{}'; -- its ai_requests rows
    v_nb integer := 1;                    -- the next unread element of each
    v_nq integer := 1;
    v_nw integer := 1;
    v_first integer;
    v_save_budgets agentbase.user_budgets[] := '{}';  -- moved in memory, written back at the end
    v_save_quotas agentbase.quotas[] := '{}';
    v_save_wallets agentbase.token_wallets[] := '{}';
    v_op jsonb;
    v_kind text;
    v_k integer;
    g record;
    s agentbase.usage_state;
BEGIN
    PERFORM set_config('agentbase.tenant_id', p_tenant::text, true);
    s := agentbase.usage_load_tenant(p_tenant);
    -- A settle, release or expiry belongs to the user of its reservation, looked up one by
    -- one by primary key, as before: as one join, its plan, cached while the table was
    -- small, scanned every hold (bench/usage.sh, all on one user, halved the rate).
    FOR k IN 1 .. cardinality(p_idx) LOOP
        v_op := p_ops -> (p_idx[k] - 1);
        v_user := (v_op #>> '{args,user_id}')::uuid;
        IF v_op ->> 'op' IN ('settle', 'release', 'expire') THEN
            v_hold := (v_op #>> '{args,id}')::uuid;
            SELECT user_id INTO v_user FROM agentbase.token_holds WHERE tenant_id = p_tenant AND id = v_hold;
        END IF;
        v_users := v_users || v_user;
    END LOOP;
    v_ids := ARRAY(SELECT DISTINCT u FROM unnest(v_users) u WHERE u IS NOT NULL ORDER BY 1);
    v_found := ARRAY(SELECT u.id FROM agentbase.users u
                      WHERE u.tenant_id = p_tenant AND u.id = ANY (v_ids) AND u.deleted_at IS NULL);
    v_budgets := agentbase.usage_roll_budgets(ARRAY(
        SELECT b FROM agentbase.user_budgets b
         WHERE b.tenant_id = p_tenant AND b.user_id = ANY (v_ids) AND b.is_active
         ORDER BY b.user_id, b.id FOR UPDATE));
    v_quotas := ARRAY(SELECT q FROM agentbase.quotas q
                       WHERE q.tenant_id = p_tenant AND q.user_id = ANY (v_ids) ORDER BY q.user_id FOR UPDATE);
    v_wallets := ARRAY(SELECT w FROM agentbase.token_wallets w
                        WHERE w.tenant_id = p_tenant AND w.user_id = ANY (v_ids) ORDER BY w.user_id FOR UPDATE);
    FOR i IN 1 .. cardinality(v_quotas) LOOP
        IF (v_quotas[i]).last_reset_date < current_date THEN
            v_quotas[i].tokens_used_today := 0;
            v_quotas[i].requests_today := 0;
            v_quotas[i].last_reset_date := current_date;
            v_quotas[i].reset_at := now();
        END IF;
        IF (v_quotas[i]).month_start < date_trunc('month', now())::date THEN
            v_quotas[i].tokens_used_month := 0;
            v_quotas[i].month_start := date_trunc('month', now())::date;
        END IF;
    END LOOP;

    -- User by user (users ascending, each one's operations in arrival order): the user's
    -- counters are the next of each array, moved by the operations, kept for the write at
    -- the end. Operations without a user come first, with the tenant's counters only.
    FOR g IN SELECT u.user_id, array_agg(u.k ORDER BY u.k) AS ks
               FROM unnest(v_users) WITH ORDINALITY AS u(user_id, k)
              GROUP BY u.user_id ORDER BY u.user_id NULLS FIRST LOOP
        IF g.user_id IS NOT NULL THEN
            s.user_id := g.user_id;
            s.user_found := g.user_id = ANY (v_found);
            v_first := v_nb;
            WHILE v_nb <= cardinality(v_budgets) AND (v_budgets[v_nb]).user_id = g.user_id LOOP
                v_nb := v_nb + 1;
            END LOOP;
            s.budgets := s.budgets[1:s.tenant_budgets] || v_budgets[v_first:v_nb - 1];
            s.quota := NULL;
            IF v_nq <= cardinality(v_quotas) AND (v_quotas[v_nq]).user_id = g.user_id THEN
                s.quota := v_quotas[v_nq];
                v_nq := v_nq + 1;
            END IF;
            s.wallet := NULL;
            IF v_nw <= cardinality(v_wallets) AND (v_wallets[v_nw]).user_id = g.user_id THEN
                s.wallet := v_wallets[v_nw];
                v_nw := v_nw + 1;
            END IF;
        END IF;
        FOREACH v_k IN ARRAY g.ks LOOP
            v_op := p_ops -> (p_idx[v_k] - 1);
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
            -- the operation's new rows, out of the state (copied into and out of every call,
            -- it must not grow with the batch)
            IF cardinality(s.ledger) > 0 THEN
                v_ledger := v_ledger || s.ledger;
                s.ledger := '{}';
            END IF;
            IF cardinality(s.holds) > 0 THEN
                v_holds := v_holds || s.holds;
                s.holds := '{}';
            END IF;
            IF cardinality(s.requests) > 0 THEN
                v_requests := v_requests || s.requests;
                s.requests := '{}';
            END IF;
            v_results[v_k] := s.result;
        END LOOP;
        IF g.user_id IS NOT NULL THEN
            v_save_budgets := v_save_budgets || s.budgets[s.tenant_budgets + 1:];
            IF (s.quota).id IS NOT NULL THEN
                v_save_quotas := v_save_quotas || s.quota;
            END IF;
            IF (s.wallet).id IS NOT NULL THEN
                v_save_wallets := v_save_wallets || s.wallet;
            END IF;
        END IF;
    END LOOP;

    -- The new rows, each table's with one statement, in the order the operations made them.
    IF cardinality(v_holds) > 0 THEN
        INSERT INTO agentbase.token_holds
            (tenant_id, id, wallet_id, user_id, agent_id, conversation_id, amount, estimated_cost, expires_at,
             idempotency_key, metadata, provider, model, model_id, input_tokens, max_output_tokens, budget_ids,
             project_id)
        SELECT h.tenant_id, h.id, h.wallet_id, h.user_id, h.agent_id, h.conversation_id, h.amount, h.estimated_cost,
               h.expires_at, h.idempotency_key, h.metadata, h.provider, h.model, h.model_id, h.input_tokens,
               h.max_output_tokens, h.budget_ids, h.project_id
          FROM unnest(v_holds) WITH ORDINALITY AS h
         ORDER BY h.ordinality;
    END IF;
    IF cardinality(v_requests) > 0 THEN
        INSERT INTO agentbase.ai_requests
            (tenant_id, id, user_id, agent_id, conversation_id, message_id, provider, model, model_id, request_type,
             input_tokens, output_tokens, cached_tokens, total_tokens, input_per_1m, output_per_1m,
             cached_input_per_1m, price_effective_from, input_cost, output_cost, total_cost, latency_ms,
             time_to_first_token_ms, tokens_per_second, status, error_code, error_message, reservation_id,
             idempotency_key, metadata, project_id, started_at, completed_at, request_payload, response_payload)
        SELECT r.tenant_id, r.id, r.user_id, r.agent_id, r.conversation_id, r.message_id, r.provider, r.model,
               r.model_id, r.request_type, r.input_tokens, r.output_tokens, r.cached_tokens, r.total_tokens,
               r.input_per_1m, r.output_per_1m, r.cached_input_per_1m, r.price_effective_from, r.input_cost,
               r.output_cost, r.total_cost, r.latency_ms, r.time_to_first_token_ms, r.tokens_per_second, r.status,
               r.error_code, r.error_message, r.reservation_id, r.idempotency_key, r.metadata, r.project_id,
               r.started_at, r.completed_at, r.request_payload, r.response_payload
          FROM unnest(v_requests) WITH ORDINALITY AS r
         ORDER BY r.ordinality;
    END IF;
    -- The counters and the ledger entries explaining them, each table's rows with one
    -- statement, the counters in the order they were locked.
    IF cardinality(v_ledger) > 0 THEN
        INSERT INTO agentbase.token_ledger
            (tenant_id, wallet_id, user_id, entry_type, amount, balance_after, held_after, reason,
             source, reference_type, reference_id, idempotency_key, created_by)
        SELECT e.tenant_id, e.wallet_id, e.user_id, e.entry_type, e.amount, e.balance_after, e.held_after, e.reason,
               e.source, e.reference_type, e.reference_id, e.idempotency_key, e.created_by
          FROM unnest(v_ledger) WITH ORDINALITY AS e
         ORDER BY e.ordinality;
    END IF;
    PERFORM agentbase.usage_save_budgets(v_save_budgets);
    IF cardinality(v_save_quotas) > 0 THEN
        UPDATE agentbase.quotas q
           SET tokens_used_today = x.tokens_used_today, requests_today = x.requests_today,
               tokens_used_month = x.tokens_used_month, tokens_reserved = x.tokens_reserved,
               last_reset_date = x.last_reset_date, month_start = x.month_start, reset_at = x.reset_at
          FROM unnest(v_save_quotas) x
         WHERE q.tenant_id = p_tenant AND q.id = x.id;
    END IF;
    IF cardinality(v_save_wallets) > 0 THEN
        UPDATE agentbase.token_wallets w
           SET balance = x.balance, held = x.held, overage = x.overage, lifetime_debited = x.lifetime_debited
          FROM unnest(v_save_wallets) x
         WHERE w.tenant_id = p_tenant AND w.id = x.id;
    END IF;
    PERFORM agentbase.usage_save_tenant(s);
    PERFORM agentbase.usage_flush(p_tenant, to_jsonb(v_rollups));
    RETURN v_results;
END
$$;
COMMENT ON FUNCTION agentbase.usage_apply_tenant(uuid, jsonb, integer[]) IS
    'applies one tenant''s operations of a batch, grouped by user, their counters loaded and saved as sets and their new rows inserted as sets; their results in order';

-- 0026's usage_reserve and usage_charge, their new rows kept in the state.

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
    h agentbase.token_holds;
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
        s.ledger := s.ledger || agentbase.usage_ledger_entry(s.wallet, 'reserve', v_amount, 'reservation', v_id, p_key);
    END IF;
    -- The hold, inserted with the batch's others at its end (nothing in the batch reads it:
    -- a settle or release names a hold its client got from an earlier, committed batch).
    h.tenant_id := s.tenant_id;
    h.id := v_id;
    h.wallet_id := v_w.id;
    h.user_id := s.user_id;
    h.agent_id := (p ->> 'agent_id')::uuid;
    h.conversation_id := (p ->> 'conversation_id')::uuid;
    h.amount := v_amount;
    h.estimated_cost := v_cost;
    h.expires_at := v_expires;
    h.idempotency_key := p_key;
    h.metadata := coalesce(p -> 'metadata', '{}');
    h.provider := p ->> 'provider';
    h.model := p ->> 'model';
    h.model_id := v_price.model_id;
    h.input_tokens := v_in;
    h.max_output_tokens := v_out;
    h.budget_ids := ARRAY(SELECT (b).id FROM unnest(s.budgets) b);
    h.project_id := (p ->> 'project_id')::uuid;
    s.holds := s.holds || h;
    RETURN s;
END
$$;

CREATE OR REPLACE FUNCTION agentbase.usage_charge(s agentbase.usage_state, p jsonb, p_price agentbase.ai_model_prices,
                                       p_reservation uuid, p_key text, p_count_request boolean)
RETURNS agentbase.usage_state
LANGUAGE plpgsql SET "TimeZone" = 'UTC' AS $$
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
    r agentbase.ai_requests;
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
            s.ledger := s.ledger || agentbase.usage_ledger_entry(s.wallet, 'debit', v_debit, 'llm usage', p_reservation, p_key);
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

    -- The ai_requests row, inserted with the batch's others at its end (nothing in the batch
    -- reads it back).
    r.tenant_id := s.tenant_id;
    r.id := v_request_id;
    r.user_id := s.user_id;
    r.agent_id := (p ->> 'agent_id')::uuid;
    r.conversation_id := (p ->> 'conversation_id')::uuid;
    r.message_id := (p ->> 'message_id')::uuid;
    r.provider := p ->> 'provider';
    r.model := p ->> 'model';
    r.model_id := p_price.model_id;
    r.request_type := coalesce(p ->> 'request_type', 'chat');
    r.input_tokens := v_input;
    r.output_tokens := v_output;
    r.cached_tokens := v_cached;
    r.total_tokens := v_total;
    r.input_per_1m := p_price.input_per_1m;
    r.output_per_1m := p_price.output_per_1m;
    r.cached_input_per_1m := p_price.cached_input_per_1m;
    r.price_effective_from := p_price.effective_from;
    r.input_cost := v_in_cost;
    r.output_cost := v_out_cost;
    r.total_cost := v_cost;
    r.latency_ms := v_latency;
    r.time_to_first_token_ms := (p ->> 'time_to_first_token_ms')::integer;
    r.tokens_per_second := CASE WHEN v_latency > 0 THEN round(v_output * 1000.0 / v_latency, 3) END;
    r.status := v_status;
    r.error_code := p ->> 'error_code';
    r.error_message := p ->> 'error_message';
    r.reservation_id := p_reservation;
    r.idempotency_key := p_key;
    r.metadata := coalesce(p -> 'metadata', '{}') || jsonb_strip_nulls(jsonb_build_object('tool_call_ids', p -> 'tool_call_ids'));
    r.project_id := (p ->> 'project_id')::uuid;
    r.started_at := (p ->> 'started_at')::timestamptz;
    r.completed_at := coalesce((p ->> 'completed_at')::timestamptz, now());
    r.request_payload := p -> 'request_payload';
    r.response_payload := p -> 'response_payload';
    s.requests := s.requests || r;

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
