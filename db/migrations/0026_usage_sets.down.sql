-- Back to 0025: the batch loads and saves its users' counters user by user (0010's
-- usage_apply_tenant).

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
