-- The accounting batch writes the holds it resolves as a set (issue 15).
--
-- After 0027, closing a hold (usage_close_hold: an UPDATE of one token_holds row, which
-- also renews its entries in the hold's seven indexes, since its status is in the
-- predicate of one) was the costliest statement a cycle still ran by itself: about 140 us
-- a cycle (bench/usage.sh, BENCH_PROFILE=1). Now a settle, release or expiry makes the
-- closed hold into its state (usage_close: status, outcome, the ai_requests row, the time),
-- the batch moves it after the operation into its own list, and writes the list with one
-- UPDATE ... FROM unnest(...) at the end of the tenant's batch (usage_save_closes), before
-- the counters, in the same transaction. The hold's row is locked from the moment the
-- operation took it (usage_take_hold's FOR UPDATE), as before.
--
-- Unlike a new hold, a resolved one can be read again within its batch: a retried settle,
-- or a settle and a release of the same hold, may come in one batch. Before an operation
-- that names a hold the batch resolved already, the batch writes its resolved holds, so
-- that the operation reads the hold as it is (settled: the retry gets the same answer,
-- replayed; released: a 409), exactly as when each was written at once.

ALTER TYPE agentbase.usage_state ADD ATTRIBUTE closes agentbase.token_holds[];

-- The hold h resolved as p_status with the answer p_outcome, kept in the state for the
-- batch to write.
CREATE FUNCTION agentbase.usage_close(s agentbase.usage_state, h agentbase.token_holds, p_status text,
                                      p_outcome jsonb, p_ai_request uuid)
RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
BEGIN
    h.status := p_status;
    h.outcome := p_outcome;
    h.ai_request_id := p_ai_request;
    h.settled_at := CASE WHEN p_status = 'settled' THEN now() END;
    h.released_at := CASE WHEN p_status <> 'settled' THEN now() END;
    s.closes := s.closes || h;
    RETURN s;
END
$$;
COMMENT ON FUNCTION agentbase.usage_close(agentbase.usage_state, agentbase.token_holds, text, jsonb, uuid) IS
    'marks a reservation settled, released or expired in the batch state (written by usage_save_closes)';

-- Writes the resolved holds p_closes of tenant p_tenant's batch. The statement is planned
-- at each call (EXECUTE), for the table as it is: a plan cached while the table was small
-- (the first batches on a new database) hashed the unnest and read every hold of the
-- tenant, and was never replanned before autovacuum analyzed the table: 4 ms a batch
-- after 20,000 cycles of bench/usage.sh, which starts from an empty table.
CREATE FUNCTION agentbase.usage_save_closes(p_tenant uuid, p_closes agentbase.token_holds[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(p_closes) > 0 THEN
        EXECUTE 'UPDATE agentbase.token_holds t
                    SET status = x.status, outcome = x.outcome, ai_request_id = x.ai_request_id,
                        settled_at = x.settled_at, released_at = x.released_at
                   FROM unnest($2) x
                  WHERE t.tenant_id = $1 AND t.id = x.id'
          USING p_tenant, p_closes;
    END IF;
END
$$;
COMMENT ON FUNCTION agentbase.usage_save_closes(uuid, agentbase.token_holds[]) IS
    'writes the reservations a batch resolved, with one statement';

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
    v_closes agentbase.token_holds[] := '{}';   -- the holds it resolved, not yet written
    v_hold_ids uuid[] := '{}';            -- the hold each operation names, aligned with p_idx
    v_again boolean[] := '{}';            -- whether an earlier operation named the same hold
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
        ELSE
            v_hold := NULL;
        END IF;
        v_users := v_users || v_user;
        v_again := v_again || coalesce(v_hold = ANY (v_hold_ids), false);
        v_hold_ids := v_hold_ids || v_hold;
    END LOOP;
    v_ids := ARRAY(SELECT DISTINCT u FROM unnest(v_users) u WHERE u IS NOT NULL ORDER BY 1);
    -- Each user by primary key (a subquery per id, which the planner keeps as one): as
    -- u.id = ANY (v_ids), the cached plan read every user of the tenant (bench/usage.sh).
    v_found := ARRAY(SELECT x.id FROM unnest(v_ids) x(id)
                      WHERE (SELECT u.deleted_at IS NULL FROM agentbase.users u
                              WHERE u.tenant_id = p_tenant AND u.id = x.id));
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
            -- A hold an earlier operation named (a retried settle, a settle and a release of
            -- one hold; both belong to the hold's user, so the earlier one has run): the holds
            -- resolved so far are written first, so that this operation reads it as it is.
            IF v_again[v_k] AND cardinality(v_closes) > 0 THEN
                PERFORM agentbase.usage_save_closes(p_tenant, v_closes);
                v_closes := '{}';
            END IF;
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
            IF cardinality(s.closes) > 0 THEN
                v_closes := v_closes || s.closes;
                s.closes := '{}';
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
    PERFORM agentbase.usage_save_closes(p_tenant, v_closes);
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

-- 0010's usage_take_hold and usage_release and 0018's usage_settle, their holds closed in
-- the state.

CREATE OR REPLACE FUNCTION agentbase.usage_take_hold(s agentbase.usage_state, p_id uuid, p_as text)
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
        s := agentbase.usage_close(s, h, 'expired', s.result, NULL);
    ELSIF h.status <> 'held' THEN
        s.result := agentbase.usage_error(409, 'reservation_' || h.status,
                                          format('reservation %s was already %s', p_id, h.status));
    END IF;
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
    s := agentbase.usage_close(s, h, 'settled', s.result, (v_charge #>> '{body,ai_request_id}')::uuid);
    s.result := s.result || jsonb_build_object('_rollup', v_charge -> '_rollup');
    RETURN s;
END
$$;

CREATE OR REPLACE FUNCTION agentbase.usage_release(s agentbase.usage_state, p jsonb) RETURNS agentbase.usage_state
LANGUAGE plpgsql AS $$
BEGIN
    s := agentbase.usage_take_hold(s, (p ->> 'id')::uuid, 'released');
    IF s.result IS NOT NULL THEN
        RETURN s;
    END IF;
    s := agentbase.usage_unhold(s, s.hold, 'released');
    s.result := jsonb_build_object('status', 200, 'body', jsonb_build_object(
        'id', (s.hold).id, 'status', 'released', 'user_id', (s.hold).user_id, 'released_tokens', (s.hold).amount));
    s := agentbase.usage_close(s, s.hold, 'released', s.result, NULL);
    RETURN s;
END
$$;

-- What the batch no longer calls.
DROP FUNCTION agentbase.usage_close_hold(agentbase.token_holds, text, jsonb, uuid);
