-- The request path: idempotency for every POST, and the indexes of new list filters.
--
-- Idempotency: a client that retries a request with the same Idempotency-Key gets the
-- first answer again, and nothing is written twice.
--
-- The service calls idempotency_claim() in the request's own transaction, right after the
-- request context is set and before the request writes anything:
--   * a new key inserts a pending row (idempotency_keys, scope 'http:<actor>') and the
--     request goes on; idempotency_complete() stores its answer in the same transaction,
--     so the answer is stored exactly when the request's writes commit, and a request that
--     fails leaves no key behind (its retry runs again);
--   * a concurrent request with the same key waits on the row's unique key until the first
--     commits, then finds its answer: two retries racing cannot both write;
--   * a key already used with another request (method, path or body: the service hashes
--     them) is refused with 422; a stored answer is replayed with its status and body.
-- The actor (the request context's user, or its API key without one: never a parameter, so
-- no caller can name another's) is part of the scope, so two users of a tenant choosing the
-- same key never see each other's answers. A request without a tenant
-- (a platform key creating a tenant) keeps its key under the platform tenant. Keys expire
-- after 24 hours: a key reused after that is a new request.
--
-- Answers that carry a secret shown once (a new API key) are stored without their body:
-- a replay of such a request is refused with 409 instead of showing the secret again.
--
-- Indexes for the agents list's filters created_at (ranges), agent_type, model_provider
-- and model_name, so that each is an index condition (tests/api/test_plans.c explains the
-- engine's statements on 50,000 agents).
--
-- Privileges: agentbase_app executes idempotency_claim(text, text) and
-- idempotency_complete(text, integer, text) (SECURITY DEFINER: the service has no
-- privilege on idempotency_keys itself); PUBLIC nothing.

-- The tenant a request's keys belong to: its own, or the platform's.
CREATE FUNCTION agentbase.idempotency_tenant()
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
    SELECT coalesce(agentbase.current_tenant_id(),
                    (SELECT t.id FROM agentbase.tenants t
                      WHERE t.slug = 'platform' AND t.deleted_at IS NULL
                        AND t.metadata @> '{"platform": true}'));
$$;
COMMENT ON FUNCTION agentbase.idempotency_tenant() IS
    'the tenant under which a request''s idempotency keys are kept: its own, else the platform''s';

-- The scope of a request's keys: its user, or its API key when it acts for no user.
CREATE FUNCTION agentbase.idempotency_scope()
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT 'http:' || coalesce(agentbase.current_user_id()::text, agentbase.current_actor_id());
$$;
COMMENT ON FUNCTION agentbase.idempotency_scope() IS
    'the scope of a request''s idempotency keys: http:<user id>, or http:<key id> for a key without a user';

CREATE FUNCTION agentbase.idempotency_claim(p_key text, p_hash text)
RETURNS TABLE (status integer, body text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_tenant uuid := agentbase.idempotency_tenant();
    v_scope text := agentbase.idempotency_scope();
    v agentbase.idempotency_keys;
BEGIN
    IF v_tenant IS NULL THEN
        RAISE EXCEPTION 'Idempotency-Key needs a tenant: this installation has no platform tenant (run agentbase seed)'
              USING ERRCODE = '22023';
    END IF;
    IF v_scope IS NULL OR p_key IS NULL OR p_hash IS NULL THEN
        RAISE EXCEPTION 'an idempotency claim needs a request context, a key and a hash' USING ERRCODE = '22023';
    END IF;
    DELETE FROM agentbase.idempotency_keys k
     WHERE k.tenant_id = v_tenant AND k.scope = v_scope AND k.key = p_key AND k.expires_at <= now();
    INSERT INTO agentbase.idempotency_keys (tenant_id, scope, key, request_hash, status, expires_at)
    VALUES (v_tenant, v_scope, p_key, p_hash, 'pending', now() + interval '24 hours')
    ON CONFLICT ON CONSTRAINT uq_idempotency_keys_tenant_id_scope_key DO NOTHING;
    IF FOUND THEN
        RETURN; -- a new key: the request goes on
    END IF;
    SELECT * INTO v FROM agentbase.idempotency_keys k
     WHERE k.tenant_id = v_tenant AND k.scope = v_scope AND k.key = p_key;
    IF v.request_hash IS DISTINCT FROM p_hash THEN
        RETURN QUERY SELECT 422, NULL::text;
    ELSIF v.status = 'completed' AND v.response ? 'body' AND v.response->>'body' IS NOT NULL THEN
        RETURN QUERY SELECT (v.response->>'status')::integer, v.response->>'body';
    ELSE
        RETURN QUERY SELECT 409, NULL::text; -- an answer with a secret, shown once
    END IF;
END
$$;
COMMENT ON FUNCTION agentbase.idempotency_claim(text, text) IS
    'claims an Idempotency-Key for this request (no row: new), or returns the first answer (status, body), 422 for another request, 409 for a secret answer';

CREATE FUNCTION agentbase.idempotency_complete(p_key text, p_status integer, p_body text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    UPDATE agentbase.idempotency_keys k
       SET status = 'completed', response = jsonb_build_object('status', p_status, 'body', p_body)
     WHERE k.tenant_id = agentbase.idempotency_tenant() AND k.scope = agentbase.idempotency_scope()
       AND k.key = p_key AND k.status = 'pending';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no pending claim for this Idempotency-Key' USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION agentbase.idempotency_complete(text, integer, text) IS
    'stores the answer of a claimed Idempotency-Key (body NULL: a secret answer, never replayed)';

REVOKE ALL ON FUNCTION agentbase.idempotency_tenant() FROM PUBLIC;
REVOKE ALL ON FUNCTION agentbase.idempotency_scope() FROM PUBLIC;
REVOKE ALL ON FUNCTION agentbase.idempotency_claim(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION agentbase.idempotency_complete(text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agentbase.idempotency_claim(text, text) TO agentbase_app;
GRANT EXECUTE ON FUNCTION agentbase.idempotency_complete(text, integer, text) TO agentbase_app;

CREATE INDEX idx_agents_created_at ON agentbase.agents (tenant_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX idx_agents_agent_type ON agentbase.agents (tenant_id, agent_type) WHERE deleted_at IS NULL;
CREATE INDEX idx_agents_model ON agentbase.agents (tenant_id, model_provider, model_name) WHERE deleted_at IS NULL;
CREATE INDEX idx_agents_model_name ON agentbase.agents (tenant_id, model_name) WHERE deleted_at IS NULL;
