-- Allocation: what the management service and the SaaS seeds expect of agents, levels and
-- tokens, field for field (issue 12).
--
-- Agent leases. An agent assignment says that a user may use an agent, how (dedicated,
-- pool, shared), with what priority and how many requests at once
-- (max_concurrent_requests). agent_lease_acquire() turns that into slots: it picks the
-- user's active assignment by priority, then strategy (dedicated before pool before
-- shared), then, among equals, the least-loaded agent; takes one slot and returns a lease
-- with an expiry; agent_lease_release() gives it back; agent_leases_expire() reclaims the
-- leases nobody released. The count is enforced here, not by the service:
--   * acquire locks all of the user's candidate assignments (FOR UPDATE, in id order, so
--     two acquires of one user never deadlock), and only then counts the live leases of
--     each (status active, not past expires_at): every insert of a lease for an assignment
--     happens under that assignment's row lock, after a fresh count, so the live leases of
--     an assignment never exceed its max_concurrent_requests;
--   * a lease past its expiry no longer counts, whether or not it was reclaimed yet;
--     reclaiming (status expired) only gives its agent's load back;
--   * agents.current_load is the number of active leases on the agent, kept by a trigger
--     on agent_leases (+1 when one is taken, -1 when it ends or is deleted with its
--     assignment); the service can no longer write it (agents_load_guard).
-- Lock order, everywhere: assignments (by id), then lease rows, then one agent (acquire,
-- release) or agents in id order (the sweep, which skips leases others hold), so the three
-- cannot deadlock each other.
--
-- Also here: users.level refers to a plan level (the six levels exist as rows from now on,
-- the seed fills in their policies); usage_metrics' references are foreign keys, with the
-- management seed's (user, time) index, period_end and a (metric_type, period) index;
-- update_updated_at_column(), the seeds' name for touch_updated_at(); adjust_user_tokens()
-- with uuid references and signed amounts, as the SaaS seed documents it; the level
-- allocation by a plan's id; ai_executions, the SaaS seed's name for the engine executions
-- (orchestration_runs), so that its cleanup query runs.

-- ------------------------------------------------------------------------------------
-- update_updated_at_column(): the seeds' name for touch_updated_at()
-- ------------------------------------------------------------------------------------

-- A trigger function cannot call another, so the alias is made from touch_updated_at's own
-- body as the catalog holds it: one definition (0001), two names.
DO $$
BEGIN
    EXECUTE format('CREATE FUNCTION agentbase.update_updated_at_column() RETURNS trigger '
                   'LANGUAGE plpgsql AS %L',
                   (SELECT prosrc FROM pg_proc WHERE oid = 'agentbase.touch_updated_at()'::regprocedure));
END
$$;
COMMENT ON FUNCTION agentbase.update_updated_at_column() IS
    'alias of touch_updated_at() (same body), the name the seeds'' trigger SQL uses';

-- ------------------------------------------------------------------------------------
-- users.level: one of the plan levels
-- ------------------------------------------------------------------------------------

-- The six levels the plans' CHECK allows exist as rows, so that a user can always be on
-- one; `agentbase seed` gives them their names, prices and token policies.
INSERT INTO agentbase.subscription_plans (level, name, sort_order) VALUES
    ('free', 'Free', 10), ('basic', 'Basic', 20), ('starter', 'Starter', 30), ('pro', 'Pro', 40),
    ('premium', 'Premium', 50), ('enterprise', 'Enterprise', 60)
ON CONFLICT (level) DO NOTHING;

DO $$
DECLARE
    v_levels text;
BEGIN
    SELECT string_agg(DISTINCT u.level, ', ') INTO v_levels FROM agentbase.users u
     WHERE NOT EXISTS (SELECT 1 FROM agentbase.subscription_plans p WHERE p.level = u.level);
    IF v_levels IS NOT NULL THEN
        RAISE EXCEPTION 'users are on levels that no plan has: %', v_levels
              USING HINT = 'move them to a plan level (UPDATE agentbase.users SET level = ...) and migrate again';
    END IF;
END
$$;
ALTER TABLE agentbase.users
    ADD CONSTRAINT fk_users_subscription_plans FOREIGN KEY (level)
        REFERENCES agentbase.subscription_plans (level);
-- A level's users (the foreign key's check when a plan goes), across tenants.
CREATE INDEX idx_users_level ON agentbase.users (level);
COMMENT ON COLUMN agentbase.users.level IS 'subscription level: a level of subscription_plans, default free';

-- ------------------------------------------------------------------------------------
-- usage_metrics: foreign keys, the usage index, period_end
-- ------------------------------------------------------------------------------------

ALTER TABLE agentbase.usage_metrics
    ADD COLUMN period_end timestamptz,
    ADD CONSTRAINT chk_usage_metrics_period_end
        CHECK (period_end IS NULL OR period_start IS NULL OR period_end > period_start),
    ADD CONSTRAINT fk_usage_metrics_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (user_id),
    ADD CONSTRAINT fk_usage_metrics_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE SET NULL (agent_id);
COMMENT ON COLUMN agentbase.usage_metrics.period_end IS 'end of the period the value belongs to (exclusive; after period_start)';
COMMENT ON COLUMN agentbase.usage_metrics.user_id IS 'user measured (NULL once the user is deleted)';
COMMENT ON COLUMN agentbase.usage_metrics.agent_id IS 'agent measured (NULL once the agent is deleted)';
-- A user's usage over time (the management seed's "composite index (user_id, timestamp)";
-- created_at is when the metric was recorded), an agent's (its foreign key's index too),
-- and a metric over its periods.
CREATE INDEX idx_usage_metrics_tenant_id_user_id_created_at
    ON agentbase.usage_metrics (tenant_id, user_id, created_at DESC);
CREATE INDEX idx_usage_metrics_tenant_id_agent_id_created_at
    ON agentbase.usage_metrics (tenant_id, agent_id, created_at DESC);
CREATE INDEX idx_usage_metrics_tenant_id_metric_type_period
    ON agentbase.usage_metrics (tenant_id, metric_type, period_start, period_end);

-- ------------------------------------------------------------------------------------
-- Agent leases
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.agent_leases (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    assignment_id uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    agent_id      uuid        NOT NULL,
    status        text        NOT NULL DEFAULT 'active',
    acquired_at   timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_leases_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_agent_leases_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_agent_leases_agent_assignments FOREIGN KEY (tenant_id, assignment_id)
        REFERENCES agentbase.agent_assignments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_agent_leases_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_agent_leases_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT chk_agent_leases_status CHECK (status IN ('active', 'released', 'expired')),
    CONSTRAINT chk_agent_leases_expires_at CHECK (expires_at > acquired_at),
    CONSTRAINT chk_agent_leases_ended_at CHECK ((status = 'active') = (ended_at IS NULL))
);
COMMENT ON TABLE agentbase.agent_leases IS
    'concurrency slots of agent assignments: taken by agent_lease_acquire, given back by release or expiry';
COMMENT ON COLUMN agentbase.agent_leases.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.agent_leases.id IS 'lease id (UUID v7)';
COMMENT ON COLUMN agentbase.agent_leases.assignment_id IS 'the assignment whose slot it holds';
COMMENT ON COLUMN agentbase.agent_leases.user_id IS 'the assignment''s user';
COMMENT ON COLUMN agentbase.agent_leases.agent_id IS 'the assignment''s agent';
COMMENT ON COLUMN agentbase.agent_leases.status IS 'active, released or expired (reclaimed after expires_at)';
COMMENT ON COLUMN agentbase.agent_leases.acquired_at IS 'when the slot was taken';
COMMENT ON COLUMN agentbase.agent_leases.expires_at IS 'the slot is free again after this time, released or not';
COMMENT ON COLUMN agentbase.agent_leases.ended_at IS 'when it was released or reclaimed; NULL while active';
COMMENT ON COLUMN agentbase.agent_leases.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.agent_leases.updated_at IS 'last update time (trigger-maintained)';
-- The live leases of an assignment (the count under its lock), the sweep across tenants,
-- a user's list under the per-user policy, and the agent's foreign key.
CREATE INDEX idx_agent_leases_assignment_id ON agentbase.agent_leases (tenant_id, assignment_id, status, expires_at);
CREATE INDEX idx_agent_leases_expires_at ON agentbase.agent_leases (expires_at) WHERE status = 'active';
CREATE INDEX idx_agent_leases_user_id_id ON agentbase.agent_leases (tenant_id, user_id, id);
CREATE INDEX idx_agent_leases_agent_id ON agentbase.agent_leases (tenant_id, agent_id);

SELECT agentbase.enable_tenant_rls('agentbase.agent_leases');
SELECT agentbase.attach_updated_at('agentbase.agent_leases');

INSERT INTO agentbase.role_access
    (resource, table_name, owned_by, user_read, user_write, viewer_read, admin_write, note) VALUES
('agent-leases', 'agent_leases', 'user_id', 'own', 'own', 'own', 'none',
 'slots of agent assignments: taken and given back through acquire and release, for oneself');
SELECT agentbase.apply_role_access('agent-leases');

-- agents.current_load follows the active leases: +1 for a lease taken, -1 for one that
-- ends or is deleted (with its assignment, user or agent) while active.
CREATE FUNCTION agentbase.agent_leases_load() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_row agentbase.agent_leases := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    v_delta integer := CASE WHEN TG_OP <> 'DELETE' AND NEW.status = 'active' THEN 1 ELSE 0 END
                     - CASE WHEN TG_OP <> 'INSERT' AND OLD.status = 'active' THEN 1 ELSE 0 END;
BEGIN
    IF v_delta <> 0 THEN
        UPDATE agentbase.agents SET current_load = greatest(current_load + v_delta, 0)
         WHERE tenant_id = v_row.tenant_id AND id = v_row.agent_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION agentbase.agent_leases_load() IS
    'AFTER trigger: keeps agents.current_load equal to the agent''s active leases';
CREATE TRIGGER trg_load AFTER INSERT OR UPDATE OF status OR DELETE ON agentbase.agent_leases
    FOR EACH ROW EXECUTE FUNCTION agentbase.agent_leases_load();

-- The service's roles do not write current_load: the lease functions (as the owner) do.
CREATE FUNCTION agentbase.agents_load_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'field current_load is kept by the database from the agent''s leases'
          USING ERRCODE = '42501', COLUMN = 'current_load';
END
$$;
COMMENT ON FUNCTION agentbase.agents_load_guard() IS
    'BEFORE trigger: the service cannot change agents.current_load (the agent leases keep it)';
CREATE TRIGGER trg_load_guard BEFORE UPDATE OF current_load ON agentbase.agents
    FOR EACH ROW WHEN (OLD.current_load IS DISTINCT FROM NEW.current_load
                       AND current_user IN ('agentbase_app', 'agentbase_member', 'agentbase_viewer'))
    EXECUTE FUNCTION agentbase.agents_load_guard();

-- The tenant a lease function acts in, and the check that the request may act for the
-- user: a user only for themselves, a viewer not at all, an admin or a service key for
-- anyone of the tenant. Without a request (psql as the owner) the user's own tenant.
CREATE FUNCTION agentbase.agent_lease_tenant(p_user_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_tenant uuid := agentbase.current_tenant_id();
BEGIN
    IF agentbase.current_user_role() = 'viewer' THEN
        RAISE EXCEPTION 'a viewer cannot take or give back agent slots' USING ERRCODE = '42501';
    END IF;
    IF agentbase.current_user_role() = 'user' AND p_user_id IS DISTINCT FROM agentbase.current_user_id() THEN
        RAISE EXCEPTION 'field user_id must be your own user id: only admins act for other users'
              USING ERRCODE = '42501', COLUMN = 'user_id';
    END IF;
    IF v_tenant IS NULL AND pg_has_role(session_user, 'agentbase_owner', 'MEMBER') THEN
        SELECT tenant_id INTO v_tenant FROM agentbase.users WHERE id = p_user_id;
    END IF;
    IF v_tenant IS NULL OR NOT EXISTS (SELECT 1 FROM agentbase.users
                                        WHERE tenant_id = v_tenant AND id = p_user_id
                                          AND deleted_at IS NULL AND status = 'active') THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'AB404', COLUMN = 'user_id';
    END IF;
    RETURN v_tenant;
END
$$;
COMMENT ON FUNCTION agentbase.agent_lease_tenant(uuid) IS
    'the tenant of a lease operation for a user, refusing viewers and users acting for others';

-- A lease as the API answers it: its row, with its assignment's strategy and limits.
CREATE FUNCTION agentbase.agent_lease_json(l agentbase.agent_leases) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT to_jsonb(l) || jsonb_build_object(
               'allocation_type', a.allocation_type, 'priority', a.priority,
               'max_concurrent_requests', a.max_concurrent_requests,
               'active_leases', (SELECT count(*) FROM agentbase.agent_leases x
                                  WHERE x.tenant_id = l.tenant_id AND x.assignment_id = l.assignment_id
                                    AND x.status = 'active' AND x.expires_at > now()))
      FROM agentbase.agent_assignments a
     WHERE a.tenant_id = l.tenant_id AND a.id = l.assignment_id
$$;
COMMENT ON FUNCTION agentbase.agent_lease_json(agentbase.agent_leases) IS
    'a lease with its assignment''s allocation_type, priority, max_concurrent_requests and live lease count';

-- Takes one slot of the user's best assignment with a free slot (see the header): by
-- priority (higher first), then dedicated, pool, shared, then the agent's current load,
-- then the assignment id. Only assignments in force (is_active, assigned_at past, not
-- expired) of live agents that take work (status active or busy) and, when given, of
-- agent_type p_agent_type count. Refuses with AB404 when there is none, AB429 when each
-- is at its max_concurrent_requests.
CREATE FUNCTION agentbase.agent_lease_acquire(p_user_id uuid, p_agent_type text DEFAULT NULL,
                                              p_ttl_seconds integer DEFAULT 300)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_tenant uuid;
    v_c record;
    v_used bigint;
    v_full integer := 0;
    v_lease agentbase.agent_leases;
BEGIN
    IF p_ttl_seconds IS NULL OR p_ttl_seconds NOT BETWEEN 1 AND 86400 THEN
        RAISE EXCEPTION 'field ttl_seconds must be 1 to 86400 seconds' USING ERRCODE = '22023',
              COLUMN = 'ttl_seconds';
    END IF;
    v_tenant := agentbase.agent_lease_tenant(p_user_id);
    -- All candidates locked first, in one order: then counted one by one.
    PERFORM 1 FROM agentbase.agent_assignments a
     WHERE a.tenant_id = v_tenant AND a.user_id = p_user_id
     ORDER BY a.id FOR UPDATE;
    FOR v_c IN SELECT a.id, a.agent_id, a.max_concurrent_requests
                 FROM agentbase.agent_assignments a
                 JOIN agentbase.agents g ON g.tenant_id = a.tenant_id AND g.id = a.agent_id
                WHERE a.tenant_id = v_tenant AND a.user_id = p_user_id AND a.is_active
                  AND a.assigned_at <= now() AND (a.expires_at IS NULL OR a.expires_at > now())
                  AND g.deleted_at IS NULL AND g.status IN ('active', 'busy')
                  AND (p_agent_type IS NULL OR g.agent_type = p_agent_type)
                ORDER BY a.priority DESC,
                         CASE a.allocation_type WHEN 'dedicated' THEN 0 WHEN 'pool' THEN 1 ELSE 2 END,
                         g.current_load, a.id LOOP
        SELECT count(*) INTO v_used FROM agentbase.agent_leases l
         WHERE l.tenant_id = v_tenant AND l.assignment_id = v_c.id AND l.status = 'active'
           AND l.expires_at > now();
        IF v_used >= v_c.max_concurrent_requests THEN
            v_full := v_full + 1;
            CONTINUE;
        END IF;
        -- this assignment's leases past their expiry give their agent's load back
        UPDATE agentbase.agent_leases SET status = 'expired', ended_at = now()
         WHERE tenant_id = v_tenant AND assignment_id = v_c.id AND status = 'active' AND expires_at <= now();
        INSERT INTO agentbase.agent_leases (tenant_id, assignment_id, user_id, agent_id, expires_at)
        VALUES (v_tenant, v_c.id, p_user_id, v_c.agent_id, now() + make_interval(secs => p_ttl_seconds))
        RETURNING * INTO v_lease;
        RETURN agentbase.agent_lease_json(v_lease);
    END LOOP;
    IF v_full > 0 THEN
        RAISE EXCEPTION 'every agent assignment of user % that fits is at its max_concurrent_requests (% of them)',
              p_user_id, v_full USING ERRCODE = 'AB429';
    END IF;
    RAISE EXCEPTION 'user % has no agent assignment in force%', p_user_id,
          CASE WHEN p_agent_type IS NULL THEN '' ELSE format(' for agent_type %s', p_agent_type) END
          USING ERRCODE = 'AB404';
END
$$;
COMMENT ON FUNCTION agentbase.agent_lease_acquire(uuid, text, integer) IS
    'takes a concurrency slot of the user''s best agent assignment with one free; returns the lease';

-- Gives a lease's slot back. AB404 when the request cannot see it (another tenant, or a
-- user's who is not the caller), AB409 when it was released already, AB410 when it
-- expired (its slot was free again at expires_at).
CREATE FUNCTION agentbase.agent_lease_release(p_lease_id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_lease agentbase.agent_leases;
BEGIN
    IF agentbase.current_user_role() = 'viewer' THEN
        RAISE EXCEPTION 'a viewer cannot take or give back agent slots' USING ERRCODE = '42501';
    END IF;
    SELECT * INTO v_lease FROM agentbase.agent_leases
     WHERE id = p_lease_id
       AND (tenant_id = agentbase.current_tenant_id()
            OR (agentbase.current_tenant_id() IS NULL AND pg_has_role(session_user, 'agentbase_owner', 'MEMBER')))
       AND (agentbase.current_user_role() IS DISTINCT FROM 'user' OR user_id = agentbase.current_user_id())
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'lease % not found', p_lease_id USING ERRCODE = 'AB404';
    END IF;
    IF v_lease.status = 'released' THEN
        RAISE EXCEPTION 'lease % was released already', p_lease_id USING ERRCODE = 'AB409';
    ELSIF v_lease.status = 'expired' OR v_lease.expires_at <= now() THEN
        RAISE EXCEPTION 'lease % expired at %', p_lease_id, v_lease.expires_at USING ERRCODE = 'AB410';
    END IF;
    UPDATE agentbase.agent_leases SET status = 'released', ended_at = now()
     WHERE tenant_id = v_lease.tenant_id AND id = v_lease.id
    RETURNING * INTO v_lease;
    RETURN agentbase.agent_lease_json(v_lease);
END
$$;
COMMENT ON FUNCTION agentbase.agent_lease_release(uuid) IS
    'gives an active lease''s slot back; returns the lease (released)';

-- Reclaims up to p_limit leases past their expiry, of every tenant: their status becomes
-- expired and their agents' load goes down. Leases another transaction holds are left for
-- the next run; agents are updated in (tenant, agent) order. Returns how many it reclaimed.
CREATE FUNCTION agentbase.agent_leases_expire(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_l record;
    v_count integer := 0;
BEGIN
    FOR v_l IN SELECT x.tenant_id, x.id FROM (
                   SELECT l.tenant_id, l.id, l.agent_id FROM agentbase.agent_leases l
                    WHERE l.status = 'active' AND l.expires_at <= now()
                    ORDER BY l.expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED) x
                ORDER BY x.tenant_id, x.agent_id, x.id LOOP
        UPDATE agentbase.agent_leases SET status = 'expired', ended_at = now()
         WHERE tenant_id = v_l.tenant_id AND id = v_l.id;
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION agentbase.agent_leases_expire(integer) IS
    'reclaims up to p_limit agent leases past their expiry (all tenants); returns how many';

-- ------------------------------------------------------------------------------------
-- adjust_user_tokens() as the SaaS seed documents it
-- ------------------------------------------------------------------------------------

-- The seed: p_reference_id and p_execution_id are uuids, p_amount is "positive or
-- negative". A negative amount turns the direction around, and the ledger records what
-- happened, with a positive amount: credit -n is a debit of n, debit -n a credit, reserve
-- -n a release, release -n a reserve; an adjustment is signed as before (never 0).
--
-- Two forms, one body (this text form's):
--   adjust_user_tokens(uuid, bigint, text, text, text, text, uuid, uuid, jsonb, text)
--       the seed's, every parameter after p_direction defaulted (the idempotency key last);
--   adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text)
--       the earlier text form, kept for references that are no uuid (the wallet API's
--       free-text reference_id, the level allocation and the monthly reset), with no
--       defaults: a call that leaves parameters out can only mean the seed's form, so no
--       call is ambiguous.
DROP FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text);
CREATE FUNCTION agentbase.adjust_user_tokens(
    p_user_id uuid, p_amount bigint, p_direction text, p_reason text,
    p_source text, p_reference_type text, p_reference_id text, p_execution_id text,
    p_metadata jsonb, p_idempotency_key text
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_direction text := p_direction;
    v_amount bigint := p_amount;
BEGIN
    PERFORM agentbase.billing_check(p_user_id);
    IF v_amount < 0 AND v_direction IN ('credit', 'debit', 'reserve', 'release') THEN
        v_direction := CASE v_direction WHEN 'credit' THEN 'debit' WHEN 'debit' THEN 'credit'
                                        WHEN 'reserve' THEN 'release' ELSE 'reserve' END;
        v_amount := -v_amount;
    END IF;
    RETURN agentbase.adjust_user_tokens_unchecked(p_user_id, v_amount, v_direction, p_reason, p_source,
                                                  p_reference_type, p_reference_id, p_execution_id,
                                                  coalesce(p_metadata, '{}'), p_idempotency_key);
END
$$;
COMMENT ON FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text) IS
    'adjust_user_tokens with text references (all parameters given): a negative amount reverses credit/debit and reserve/release (platform-governed)';

CREATE FUNCTION agentbase.adjust_user_tokens(
    p_user_id uuid, p_amount bigint, p_direction text, p_reason text DEFAULT NULL,
    p_source text DEFAULT NULL, p_reference_type text DEFAULT NULL,
    p_reference_id uuid DEFAULT NULL, p_execution_id uuid DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}', p_idempotency_key text DEFAULT NULL
) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
    SELECT agentbase.adjust_user_tokens(p_user_id, p_amount, p_direction, p_reason, p_source,
                                        p_reference_type, p_reference_id::text, p_execution_id::text,
                                        p_metadata, p_idempotency_key)
$$;
COMMENT ON FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, uuid, uuid, jsonb, text) IS
    'credits, debits, reserves, releases or adjusts a user''s wallet with its ledger entry, as the SaaS seed calls it: uuid references, a negative amount reverses the direction (platform-governed)';

-- ------------------------------------------------------------------------------------
-- auto_allocate_tokens_for_level(): by a plan's id
-- ------------------------------------------------------------------------------------

CREATE FUNCTION agentbase.auto_allocate_tokens_for_level(p_user_id uuid, p_level_id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
DECLARE
    v_level text;
BEGIN
    PERFORM agentbase.billing_check(p_user_id);
    SELECT level INTO v_level FROM agentbase.subscription_plans WHERE id = p_level_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invalid p_level_id %: no plan has it', coalesce(p_level_id::text, 'NULL')
              USING ERRCODE = '22023';
    END IF;
    RETURN agentbase.auto_allocate_tokens_for_level_unchecked(p_user_id, v_level);
END
$$;
COMMENT ON FUNCTION agentbase.auto_allocate_tokens_for_level(uuid, uuid) IS
    'sets a user''s level to the plan with this id and grants its monthly tokens once a month (platform-governed)';

-- The text form takes a level's name, or its id written as text (a quoted uuid literal
-- resolves to this form, and no level name has a uuid's shape).
CREATE OR REPLACE FUNCTION agentbase.auto_allocate_tokens_for_level(p_user_id uuid, p_level text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    PERFORM agentbase.billing_check(p_user_id);
    IF p_level ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN agentbase.auto_allocate_tokens_for_level(p_user_id, p_level::uuid);
    END IF;
    RETURN agentbase.auto_allocate_tokens_for_level_unchecked(p_user_id, p_level);
END
$$;
COMMENT ON FUNCTION agentbase.auto_allocate_tokens_for_level(uuid, text) IS
    'sets a user''s level (by name, or a plan id as text) and grants its monthly tokens once a month (platform-governed)';

-- ------------------------------------------------------------------------------------
-- ai_executions: the SaaS seed's engine executions
-- ------------------------------------------------------------------------------------

-- Its cleanup deletes old rows ("DELETE FROM ai_executions WHERE created_at < ..."): a
-- plain view over orchestration_runs, so that the delete goes through (as the owner, who
-- runs maintenance); the service only reads it, like the other compatibility views.
CREATE VIEW agentbase.ai_executions WITH (security_invoker = true) AS
    SELECT tenant_id, id, engine_id, agent_id, worker_id, workflow_execution_id, step_execution_id,
           task_id, routing_strategy_id, status, attempt, decision, error AS error_message,
           queued_at, started_at, completed_at, duration_ms, created_at, updated_at
      FROM agentbase.orchestration_runs;
COMMENT ON VIEW agentbase.ai_executions IS
    'the SaaS seed''s ai_executions: engine executions, over orchestration_runs (its cleanup may delete through it)';
COMMENT ON COLUMN agentbase.ai_executions.tenant_id IS 'owning tenant';
COMMENT ON COLUMN agentbase.ai_executions.id IS 'execution (orchestration run) id';
COMMENT ON COLUMN agentbase.ai_executions.engine_id IS 'engine that ran it';
COMMENT ON COLUMN agentbase.ai_executions.agent_id IS 'agent that ran it';
COMMENT ON COLUMN agentbase.ai_executions.worker_id IS 'worker that ran it';
COMMENT ON COLUMN agentbase.ai_executions.workflow_execution_id IS 'workflow execution it belongs to';
COMMENT ON COLUMN agentbase.ai_executions.step_execution_id IS 'workflow step it ran';
COMMENT ON COLUMN agentbase.ai_executions.task_id IS 'task it ran';
COMMENT ON COLUMN agentbase.ai_executions.routing_strategy_id IS 'strategy that routed it';
COMMENT ON COLUMN agentbase.ai_executions.status IS 'pending, routed, running, completed, failed, cancelled or timed_out';
COMMENT ON COLUMN agentbase.ai_executions.attempt IS 'attempt number';
COMMENT ON COLUMN agentbase.ai_executions.decision IS 'the routing decision';
COMMENT ON COLUMN agentbase.ai_executions.error_message IS 'error text when it failed';
COMMENT ON COLUMN agentbase.ai_executions.queued_at IS 'when it was queued';
COMMENT ON COLUMN agentbase.ai_executions.started_at IS 'when it started';
COMMENT ON COLUMN agentbase.ai_executions.completed_at IS 'when it ended';
COMMENT ON COLUMN agentbase.ai_executions.duration_ms IS 'how long it ran';
COMMENT ON COLUMN agentbase.ai_executions.created_at IS 'creation time';
COMMENT ON COLUMN agentbase.ai_executions.updated_at IS 'last update time';
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON agentbase.ai_executions FROM agentbase_app;

-- ------------------------------------------------------------------------------------
-- What the service executes
-- ------------------------------------------------------------------------------------

GRANT EXECUTE ON FUNCTION
    agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text),
    agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, uuid, uuid, jsonb, text),
    agentbase.auto_allocate_tokens_for_level(uuid, uuid),
    agentbase.agent_lease_acquire(uuid, text, integer), agentbase.agent_lease_release(uuid),
    agentbase.agent_leases_expire(integer)
TO agentbase_app;
