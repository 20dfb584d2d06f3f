-- The accounting batch loads and saves its users' counters as sets (issue 15).
--
-- Until this migration, usage_apply_tenant loaded each user of a batch with four
-- statements (the user, their budgets, quota and wallet, each locked) and wrote them back
-- with up to three more, when it moved to the next user: over 1,000 users, a batch of 64
-- operations touches about 64 users, so that was some 450 statements, most of the batch's
-- own work (bench/usage.sh, BENCH_PROFILE=1: usage_save_budgets, usage_save_user and
-- usage_load_user took 38% of the self time of a cycle). Now the batch finds the users of
-- its operations (settles, releases and expiries through their holds, one by one as before),
-- locks and reads the existing users, their active budgets, quotas and wallets with one
-- statement each, moves them in memory as before (the operations see exactly the state
-- they saw before: each user's counters as the previous operations of the batch left them),
-- and writes each table's changed rows back with one UPDATE ... FROM unnest(...) at the end.
--
-- Order. A batch still takes its tenant's advisory lock first (tenants ascending), then the
-- tenant's counters; then its users' rows, now table by table, each table's rows in
-- ascending user order: budgets (then id), quotas, wallets; then holds. Two batches of one
-- tenant never run at once (the advisory lock), so between batches the order of row locks
-- cannot matter. The other writers of these rows (the wallet, quota and budget APIs, the
-- token functions) lock one counter row per transaction, so they cannot hold one row while
-- they wait for another that a batch holds; reset_monthly_tokens locks only wallets, many,
-- in their id order, as it could meet a batch before (PostgreSQL's deadlock check then
-- aborts one of them, and the service applies a failed batch again one operation at a
-- time). usage_unhold's update of budgets deactivated since a reservation still comes
-- after them, as before.
--
-- The per-user functions (usage_load_user, usage_save_user) stay, unused by the batch; the
-- down migration restores 0010's usage_apply_tenant.

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
    v_nb integer := 1;                    -- the next unread element of each
    v_nq integer := 1;
    v_nw integer := 1;
    v_first integer;
    v_save_budgets agentbase.user_budgets[] := '{}';  -- moved in memory, written back at the end
    v_save_quotas agentbase.quotas[] := '{}';
    v_save_wallets agentbase.token_wallets[] := '{}';
    v_op jsonb;
    v_kind text;
    r record;
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

    FOR r IN SELECT u.k, u.user_id FROM unnest(v_users) WITH ORDINALITY AS u(user_id, k)
              ORDER BY u.user_id NULLS FIRST, u.k LOOP
        IF r.user_id IS DISTINCT FROM s.user_id THEN
            -- The previous user's counters are kept for the write at the end; the next
            -- user's are the next of each array (users come in ascending order).
            IF s.user_id IS NOT NULL THEN
                v_save_budgets := v_save_budgets || s.budgets[s.tenant_budgets + 1:];
                IF (s.quota).id IS NOT NULL THEN
                    v_save_quotas := v_save_quotas || s.quota;
                END IF;
                IF (s.wallet).id IS NOT NULL THEN
                    v_save_wallets := v_save_wallets || s.wallet;
                END IF;
            END IF;
            s.user_id := r.user_id;
            s.user_found := r.user_id = ANY (v_found);
            v_first := v_nb;
            WHILE v_nb <= cardinality(v_budgets) AND (v_budgets[v_nb]).user_id = r.user_id LOOP
                v_nb := v_nb + 1;
            END LOOP;
            s.budgets := s.budgets[1:s.tenant_budgets] || v_budgets[v_first:v_nb - 1];
            s.quota := NULL;
            IF v_nq <= cardinality(v_quotas) AND (v_quotas[v_nq]).user_id = r.user_id THEN
                s.quota := v_quotas[v_nq];
                v_nq := v_nq + 1;
            END IF;
            s.wallet := NULL;
            IF v_nw <= cardinality(v_wallets) AND (v_wallets[v_nw]).user_id = r.user_id THEN
                s.wallet := v_wallets[v_nw];
                v_nw := v_nw + 1;
            END IF;
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
    IF s.user_id IS NOT NULL THEN
        v_save_budgets := v_save_budgets || s.budgets[s.tenant_budgets + 1:];
        IF (s.quota).id IS NOT NULL THEN
            v_save_quotas := v_save_quotas || s.quota;
        END IF;
        IF (s.wallet).id IS NOT NULL THEN
            v_save_wallets := v_save_wallets || s.wallet;
        END IF;
    END IF;

    -- Each table's rows written back with one statement, in the order they were locked.
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
    'applies one tenant''s operations of a batch, grouped by user, their counters loaded and saved as sets; their results in order';
