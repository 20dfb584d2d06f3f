-- The machinery of tests/db/usage_property.sh (read its header first), in a schema of its
-- own that the script drops at exit. Installed and run as the superuser; the accounting
-- calls themselves run as agentbase_app, like the service's batchers.
--
-- Two worlds, A and B, are built alike: the same tenants, users, wallets, quotas, budgets
-- and agents under different ids (abprop.names maps each id to its logical name: t2, u2.3,
-- a2, b2.3, ...). One plan of steps (abprop.steps) is drawn from a seeded generator, then
-- applied to both worlds: world A gets each batch of operations in one usage_apply call,
-- world B gets the same operations one per call, each in its own transaction, in the order
-- the batch documents it applies them (0010's header: tenant by tenant, user by user, each
-- user's in arrival order). Operations name ids by logical name ("@u2.3", "@h17": the
-- reservation answered to step 17), resolved in each world when the batch is applied.
DROP SCHEMA IF EXISTS abprop CASCADE;
CREATE SCHEMA abprop;

CREATE TABLE abprop.names (world text NOT NULL, name text NOT NULL, id uuid NOT NULL,
                           PRIMARY KEY (world, name), UNIQUE (world, id));
-- kind: op (tmpl is the operation), mark (the reservations of steps holds are made to have
-- expired, as the owner), credit (user who gets amount tokens, as the owner), budget
-- (budget who is made inactive, as the owner: the reservations held against it give it
-- back outside the batch's state).
CREATE TABLE abprop.steps (step integer PRIMARY KEY, batch integer NOT NULL, kind text NOT NULL,
                           tmpl jsonb, holds integer[], who text, amount bigint);
CREATE TABLE abprop.answers (world text NOT NULL, step integer NOT NULL, answer jsonb,
                             PRIMARY KEY (world, step));
-- When each budget was made inactive.
CREATE TABLE abprop.offs (world text NOT NULL, id uuid NOT NULL, at timestamptz NOT NULL);
-- What each world ends with, one row per fact, every id replaced by its logical name.
CREATE TABLE abprop.facts (facet text NOT NULL, world text NOT NULL, item text NOT NULL);

-- The generator: MINSTD (Park and Miller), so that a seed gives the same plan on every
-- PostgreSQL version and whatever else calls random().
CREATE FUNCTION abprop.lcg(x bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT (x * 48271) % 2147483647
$$;

-- An id of world w for a logical name, deterministic for a seed (so the order of user ids,
-- which orders a batch, changes with the seed as well).
CREATE FUNCTION abprop.id(p_world text, p_seed bigint, p_name text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT md5('usage-property:' || p_world || ':' || p_seed || ':' || p_name)::uuid
$$;

-- Builds one world: 4 tenants with different plan limits, 6 users each (u1-u4 with a
-- wallet, u5 without, u6 with a small one; u1-u3 with a quota; u1-u2 with a hard budget,
-- u3 with a soft one), a tenant-wide budget on t1-t3 (soft on t3), one agent per tenant.
-- x is the generator's state for the figures, the same for both worlds.
CREATE FUNCTION abprop.build(p_world text, p_seed bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    x bigint := 1 + p_seed % 2147483646;
    v_t uuid;
    v_u uuid;
    v_id uuid;
BEGIN
    FOR t IN 1 .. 4 LOOP
        v_t := abprop.id(p_world, p_seed, 't' || t);
        INSERT INTO abprop.names VALUES (p_world, 't' || t, v_t);
        INSERT INTO agentbase.tenants (id, slug, name, plan, limits)
        VALUES (v_t, 'usage-prop-' || lower(p_world) || '-' || t, 'Usage property ' || p_world || t,
                CASE t WHEN 2 THEN 'free' WHEN 3 THEN 'basic' ELSE 'enterprise' END,
                CASE t WHEN 2 THEN '{"monthly_token_limit": 400000}'::jsonb ELSE '{}' END);
        IF t = 3 THEN
            INSERT INTO agentbase.tenant_quotas (tenant_id, resource_type, period, limit_value, period_start)
            VALUES (v_t, 'llm_requests', 'daily', 150, date_trunc('day', now()));
        END IF;
        IF t <= 3 THEN
            x := abprop.lcg(x);
            INSERT INTO agentbase.user_budgets (tenant_id, name, amount_usd, hard_limit, alert_thresholds)
            VALUES (v_t, 'everyone', 1 + x % 3, t <> 3, '{50,80,100}') RETURNING id INTO v_id;
            INSERT INTO abprop.names VALUES (p_world, 'b' || t, v_id);
        END IF;
        INSERT INTO agentbase.agents (tenant_id, id, name, slug, model_provider, model_name)
        VALUES (v_t, abprop.id(p_world, p_seed, 'a' || t), 'prop agent', 'prop-agent', 'openai', 'gpt-4o')
        RETURNING id INTO v_id;
        INSERT INTO abprop.names VALUES (p_world, 'a' || t, v_id);
        FOR u IN 1 .. 6 LOOP
            v_u := abprop.id(p_world, p_seed, 'u' || t || '.' || u);
            INSERT INTO abprop.names VALUES (p_world, 'u' || t || '.' || u, v_u);
            INSERT INTO agentbase.users (tenant_id, id, email, username)
            VALUES (v_t, v_u, 'u' || u || '@prop' || t || '.test', 'u' || u);
            x := abprop.lcg(x);
            IF u <= 4 OR u = 6 THEN
                PERFORM agentbase.adjust_user_tokens(v_u, CASE WHEN u = 6 THEN 3000 ELSE 30000 + x % 50000 END,
                                                     'credit', 'usage property test');
                INSERT INTO abprop.names
                SELECT p_world, 'w' || t || '.' || u, id FROM agentbase.token_wallets
                 WHERE tenant_id = v_t AND user_id = v_u;
            END IF;
            x := abprop.lcg(x);
            IF u <= 3 THEN
                INSERT INTO agentbase.quotas (tenant_id, user_id, daily_token_limit, daily_request_limit,
                                              monthly_token_limit)
                VALUES (v_t, v_u, 20000 + x % 40000, CASE WHEN u = 2 THEN 10 END,
                        CASE WHEN u = 3 THEN 60000 END);
            END IF;
            x := abprop.lcg(x);
            IF u <= 3 THEN
                INSERT INTO agentbase.user_budgets (tenant_id, user_id, name, amount_usd, hard_limit,
                                                    alert_thresholds)
                VALUES (v_t, v_u, 'own ' || u, 0.1 + (x % 20) / 40.0, u <> 3, '{25,50,75,100}')
                RETURNING id INTO v_id;
                INSERT INTO abprop.names VALUES (p_world, 'b' || t || '.' || u, v_id);
            END IF;
        END LOOP;
    END LOOP;
END
$$;

-- Draws the plan: p_ops operations in batches of 1 to 64 (of several tenants mixed), with
-- now and then a step outside usage_apply (expiring reservations, crediting a wallet),
-- which ends a batch. A settle, release or expiry names a reservation of an earlier batch
-- (a client knows a reservation's id only once it is answered), mostly a recent one.
CREATE FUNCTION abprop.generate(p_seed bigint, p_ops integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    x bigint := 1 + (p_seed * 7919) % 2147483646;
    v_batch integer := 1;
    v_left integer;
    v_step integer := 0;
    v_ops integer := 0;
    r integer;
    t integer;
    u integer;
    k integer;
    v_n integer;          -- reservations of earlier batches (eligible)
    res_step integer[] := '{}';
    res_batch integer[] := '{}';
    res_t integer[] := '{}';
    res_in integer[] := '{}';
    res_out integer[] := '{}';
    marked integer[] := '{}';
    keyed jsonb[] := '{}'; -- operations sent with a key, to send again
    v_models text[][] := ARRAY[['openai', 'gpt-4o-mini'], ['openai', 'gpt-4o'],
                               ['anthropic', 'claude-3-5-haiku'], ['anthropic', 'claude-3-opus']];
    v_in integer;
    v_out integer;
    v_m integer;
    v_args jsonb;
    v_op jsonb;
    v_hold integer;
    v_off integer := 0;
BEGIN
    x := abprop.lcg(x);
    v_left := 1 + x % 64;
    WHILE v_ops < p_ops LOOP
        IF v_left = 0 THEN
            v_batch := v_batch + 1;
            x := abprop.lcg(x);
            v_left := 1 + x % 64;
        END IF;
        v_n := 0;
        FOR i IN REVERSE cardinality(res_step) .. 1 LOOP
            IF res_batch[i] < v_batch THEN
                v_n := i;
                EXIT;
            END IF;
        END LOOP;
        x := abprop.lcg(x);
        r := x % 1000;
        x := abprop.lcg(x);
        t := 1 + x % 4;
        x := abprop.lcg(x);
        u := 1 + x % 6;
        x := abprop.lcg(x);
        v_step := v_step + 1;
        -- a recent reservation of an earlier batch (k: its index), now and then any
        k := CASE WHEN v_n = 0 THEN 0 WHEN x % 5 = 0 THEN 1 + (x / 5) % v_n
                  ELSE v_n - (x / 5) % least(v_n, 30) END;
        x := abprop.lcg(x);

        IF r < 25 AND v_n > 0 THEN
            -- expire up to three reservations (outside the batch: ends it)
            v_batch := v_batch + 1;
            INSERT INTO abprop.steps (step, batch, kind, holds)
            VALUES (v_step, v_batch, 'mark', ARRAY[res_step[k], res_step[1 + x % v_n], res_step[1 + (x / 7) % v_n]]);
            marked := marked || res_step[k] || res_step[1 + x % v_n];
            v_batch := v_batch + 1;
            v_left := 1 + x % 64;
            CONTINUE;
        ELSIF r >= 40 AND r < 45 AND v_n > 0 AND v_off < 4 THEN
            -- make a budget inactive (outside the batch: ends it)
            v_batch := v_batch + 1;
            INSERT INTO abprop.steps (step, batch, kind, who)
            VALUES (v_step, v_batch, 'budget', 'b' || t || CASE WHEN u <= 3 THEN '.' || u ELSE '' END);
            v_off := v_off + 1;
            v_batch := v_batch + 1;
            v_left := 1 + x % 64;
            CONTINUE;
        ELSIF r < 40 THEN
            -- credit a wallet (outside the batch: ends it)
            v_batch := v_batch + 1;
            INSERT INTO abprop.steps (step, batch, kind, who, amount)
            VALUES (v_step, v_batch, 'credit', 'u' || t || '.' || CASE WHEN u = 5 THEN 1 ELSE u END, 5000 + x % 40000);
            v_batch := v_batch + 1;
            v_left := 1 + x % 64;
            CONTINUE;
        END IF;

        v_m := 1 + x % 4;
        x := abprop.lcg(x);
        v_in := 50 + x % 6000;
        x := abprop.lcg(x);
        v_out := 1 + x % 2500;
        x := abprop.lcg(x);
        v_op := NULL;
        IF r < 420 OR v_n = 0 THEN
            v_args := jsonb_build_object('user_id', '@u' || t || '.' || u,
                                         'provider', v_models[v_m][1], 'model', v_models[v_m][2],
                                         'estimated_input_tokens', v_in, 'max_output_tokens', v_out,
                                         'expires_in_seconds', 600, 'metadata', jsonb_build_object('step', v_step));
            IF x % 4 = 0 THEN
                v_args := v_args || jsonb_build_object('agent_id', '@a' || t);
            ELSIF x % 61 = 1 THEN
                v_args := v_args || jsonb_build_object('agent_id', '@a' || (1 + t % 4));  -- another tenant's
            ELSIF x % 37 = 2 THEN
                v_args := v_args || jsonb_build_object('model', 'gpt-9');                -- no such model
            ELSIF x % 43 = 3 THEN
                v_args := v_args || jsonb_build_object('user_id', '@nobody');            -- no such user
            END IF;
            v_op := jsonb_build_object('op', 'reserve', 'tenant_id', '@t' || t, 'args', v_args);
            res_step := res_step || v_step;
            res_batch := res_batch || v_batch;
            res_t := res_t || t;
            res_in := res_in || v_in;
            res_out := res_out || v_out;
        ELSIF r < 500 THEN
            -- a retry: the same operation with its key (or, now and then, the key with
            -- another request: refused)
            v_op := keyed[1 + x % cardinality(keyed)];
            IF v_op IS NULL THEN
                v_op := jsonb_build_object('op', 'release', 'tenant_id', '@t' || res_t[k], 'args',
                                           jsonb_build_object('id', '@h' || res_step[k]));
            ELSIF x % 6 = 0 THEN
                v_op := jsonb_set(v_op, '{args,max_output_tokens}', to_jsonb(v_out));
            END IF;
            IF v_op ->> 'op' = 'reserve' THEN
                -- its answer names the first one's reservation; settles may name either step
                res_step := res_step || v_step;
                res_batch := res_batch || v_batch;
                res_t := res_t || (substr(v_op ->> 'tenant_id', 3))::integer;
                res_in := res_in || (v_op #>> '{args,estimated_input_tokens}')::integer;
                res_out := res_out || (v_op #>> '{args,max_output_tokens}')::integer;
            END IF;
        ELSIF r < 760 THEN
            -- settle: mostly within what was reserved, sometimes more (overage), now and
            -- then more than a reservation allows or with impossible times (refused)
            v_in := res_in[k] * (50 + x % 110) / 100;
            x := abprop.lcg(x);
            v_out := res_out[k] * (x % 112) / 100;
            v_args := jsonb_build_object('id', '@h' || res_step[k], 'input_tokens', v_in, 'output_tokens', v_out);
            IF x % 3 = 0 THEN
                v_args := v_args || jsonb_build_object('cached_tokens', v_in / 3, 'latency_ms', 100 + x % 3000);
            END IF;
            IF x % 11 = 0 THEN
                v_args := v_args || jsonb_build_object('status', 'error', 'error_code', 'upstream');
            ELSIF x % 37 = 1 THEN
                v_args := v_args || jsonb_build_object('input_tokens', 3 * res_in[k] + 5000);
            ELSIF x % 41 = 2 THEN
                v_args := v_args || jsonb_build_object('started_at', '2026-01-01T00:00:10Z',
                                                       'completed_at', '2026-01-01T00:00:00Z');
            ELSIF x % 43 = 3 THEN
                v_args := v_args || jsonb_build_object('id', '@nohold');
            END IF;
            v_op := jsonb_build_object('op', 'settle', 'tenant_id', '@t' || res_t[k], 'args', v_args);
        ELSIF r < 840 THEN
            v_op := jsonb_build_object('op', 'release', 'tenant_id', '@t' || res_t[k], 'args',
                                       jsonb_build_object('id', '@h' || res_step[k]));
        ELSIF r < 890 THEN
            -- the service's expiry batch names reservations it found past their expiry;
            -- some have been resolved since, some were never expired
            v_hold := CASE WHEN cardinality(marked) > 0 AND x % 4 <> 0 THEN marked[1 + (x / 4) % cardinality(marked)]
                           ELSE res_step[k] END;
            v_op := jsonb_build_object('op', 'expire', 'tenant_id',
                                       '@t' || res_t[array_position(res_step, v_hold)], 'args',
                                       jsonb_build_object('id', '@h' || v_hold));
        ELSE
            v_args := jsonb_build_object('user_id', '@u' || t || '.' || u,
                                         'provider', v_models[v_m][1], 'model', v_models[v_m][2],
                                         'input_tokens', v_in, 'output_tokens', v_out / 2,
                                         'latency_ms', 50 + x % 900);
            IF x % 5 = 0 THEN
                v_args := v_args || jsonb_build_object('agent_id', '@a' || t, 'request_type', 'tool');
            END IF;
            v_op := jsonb_build_object('op', 'event', 'tenant_id', '@t' || t, 'args', v_args);
        END IF;
        IF r < 420 OR v_n = 0 OR r >= 890 THEN
            -- a new reservation or event: a third of them with a key
            IF x % 3 = 0 THEN
                v_op := v_op || jsonb_build_object('idempotency_key', 'key-' || v_step);
                keyed := keyed || v_op;
            END IF;
        END IF;
        -- now and then a request of a user or viewer key, which accounts only for its own user
        -- (0011's check: another's reservation does not exist for it, another user is refused)
        x := abprop.lcg(x);
        IF v_op ->> 'op' IN ('reserve', 'event') AND x % 8 = 0 THEN
            v_op := v_op || jsonb_build_object('acting_user_id', v_op #> '{args,user_id}');
        ELSIF v_op ->> 'op' IN ('reserve', 'event') AND x % 41 = 1 THEN
            v_op := v_op || jsonb_build_object('acting_user_id', '@u' || t || '.' || (1 + u % 6));
        ELSIF v_op ->> 'op' IN ('settle', 'release') AND x % 9 = 2 THEN
            v_op := v_op || jsonb_build_object('acting_user_id', '@u' || substr(v_op ->> 'tenant_id', 3) || '.' || u);
        END IF;
        v_op := v_op || jsonb_build_object('actor_id', '@k' || (v_op ->> 'tenant_id'),
                                           'request_id', 'req-' || v_step, 'ip', '192.0.2.' || (1 + v_step % 250));
        INSERT INTO abprop.steps (step, batch, kind, tmpl) VALUES (v_step, v_batch, 'op', v_op);
        v_ops := v_ops + 1;
        v_left := v_left - 1;
    END LOOP;
END
$$;

-- An operation of the plan with its logical names replaced by world w's ids: "@h17" is
-- the reservation step 17 was answered with; a name without an id (a refused reservation,
-- "@nobody") becomes an id that exists in neither world, the same in both.
CREATE FUNCTION abprop.inst(p_world text, p_tmpl jsonb) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text := p_tmpl::text;
    m text;
    v_id uuid;
BEGIN
    FOR m IN SELECT DISTINCT (regexp_matches(v, '"@([A-Za-z0-9_.@]+)"', 'g'))[1] LOOP
        IF m ~ '^h[0-9]+$' THEN
            SELECT (a.answer #>> '{body,id}')::uuid INTO v_id FROM abprop.answers a
             WHERE a.world = p_world AND a.step = substr(m, 2)::integer AND a.answer ->> 'status' = '201';
        ELSIF m ~ '^k@' THEN
            v_id := md5('actor:' || p_world || m)::uuid;
        ELSE
            SELECT id INTO v_id FROM abprop.names WHERE world = p_world AND name = m;
        END IF;
        v := replace(v, '"@' || m || '"', to_jsonb(coalesce(v_id, md5('nothing:' || m)::uuid)::text)::text);
    END LOOP;
    RETURN v::jsonb;
END
$$;

-- j with the keys that are times or fresh ids of no logical name removed (recursively), and
-- retry_after (seconds to the end of a period, which moves) kept as present.
CREATE FUNCTION abprop.strip(j jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(j) = 'object' THEN
        RETURN coalesce((SELECT jsonb_object_agg(key, CASE WHEN key = 'retry_after' THEN 'true'::jsonb
                                                            ELSE abprop.strip(value) END)
                           FROM jsonb_each(j)
                          WHERE key NOT IN ('created_at', 'expires_at', 'ai_request_id', 'fired_at', 'updated_at')),
                        '{}');
    ELSIF jsonb_typeof(j) = 'array' THEN
        RETURN coalesce((SELECT jsonb_agg(abprop.strip(e) ORDER BY i) FROM jsonb_array_elements(j) WITH ORDINALITY a(e, i)),
                        '[]');
    END IF;
    RETURN j;
END
$$;

-- j as text, stripped, with every id of world w replaced by its logical name (abprop.collect
-- names the reservations) and any other id by "id".
CREATE FUNCTION abprop.norm(p_world text, j jsonb) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text := abprop.strip(j)::text;
    m text;
BEGIN
    FOR m IN SELECT DISTINCT (regexp_matches(v, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', 'g'))[1] LOOP
        v := replace(v, m, coalesce((SELECT name FROM abprop.names WHERE world = p_world AND id = m::uuid), 'id'));
    END LOOP;
    RETURN v;
END
$$;

-- One call of the service: usage_apply as agentbase_app.
CREATE FUNCTION abprop.apply(p_ops jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v jsonb;
BEGIN
    SET LOCAL ROLE agentbase_app;
    IF current_user <> 'agentbase_app' OR has_table_privilege('agentbase.token_wallets', 'UPDATE') THEN
        RAISE EXCEPTION 'not acting as the service: %', current_user;
    END IF;
    v := agentbase.usage_apply(p_ops);
    RESET ROLE;
    RETURN v;
END
$$;

-- Applies the plan to both worlds, batch by batch: world A's batch in one call and one
-- transaction, then world B's operations of that batch one per call and transaction, in
-- the batch's own order (tenant, the operation's user: the reservation's for a settle,
-- release or expiry, none first; arrival). p_skip: a step world B leaves out (0: none),
-- to see the test fail.
CREATE PROCEDURE abprop.run(p_skip integer DEFAULT 0) LANGUAGE plpgsql AS $$
DECLARE
    b integer;
    v_kind text;
    v_ops jsonb;
    v_steps integer[];
    v_order integer[];
    v_res jsonb;
    v_step integer;
BEGIN
    FOR b IN SELECT DISTINCT batch FROM abprop.steps ORDER BY 1 LOOP
        SELECT kind INTO v_kind FROM abprop.steps WHERE batch = b LIMIT 1;
        IF v_kind = 'mark' THEN
            UPDATE agentbase.token_holds h SET expires_at = '2001-01-01 00:00:00+00'
              FROM abprop.steps s, abprop.answers a
             WHERE s.batch = b AND a.step = ANY (s.holds) AND a.answer ->> 'status' = '201'
               AND h.tenant_id IN (SELECT id FROM abprop.names n WHERE n.world = a.world AND n.name ~ '^t[0-9]+$')
               AND h.id = (a.answer #>> '{body,id}')::uuid AND h.status = 'held';
            COMMIT;
            CONTINUE;
        ELSIF v_kind = 'budget' THEN
            UPDATE agentbase.user_budgets ub SET is_active = false
              FROM abprop.steps s, abprop.names n
             WHERE s.batch = b AND n.name = s.who AND ub.id = n.id
               AND ub.tenant_id IN (SELECT id FROM abprop.names t WHERE t.world = n.world AND t.name ~ '^t[0-9]+$');
            INSERT INTO abprop.offs
            SELECT n.world, n.id, now() FROM abprop.steps s JOIN abprop.names n ON n.name = s.who WHERE s.batch = b;
            COMMIT;
            CONTINUE;
        ELSIF v_kind = 'credit' THEN
            PERFORM agentbase.adjust_user_tokens(n.id, s.amount, 'credit', 'usage property test')
               FROM abprop.steps s JOIN abprop.names n ON n.name = s.who
              WHERE s.batch = b ORDER BY n.world;
            COMMIT;
            CONTINUE;
        END IF;
        SELECT jsonb_agg(abprop.inst('A', tmpl) ORDER BY step), array_agg(step ORDER BY step)
          INTO v_ops, v_steps FROM abprop.steps WHERE batch = b;
        v_order := ARRAY(
            SELECT v_steps[o.k]
              FROM jsonb_array_elements(v_ops) WITH ORDINALITY AS o(op, k)
              LEFT JOIN agentbase.token_holds h
                ON o.op ->> 'op' IN ('settle', 'release', 'expire')
               AND h.tenant_id = (o.op ->> 'tenant_id')::uuid AND h.id = (o.op #>> '{args,id}')::uuid
             ORDER BY coalesce(o.op ->> 'tenant_id', ''),
                      CASE WHEN o.op ->> 'op' IN ('settle', 'release', 'expire') THEN h.user_id
                           ELSE (o.op #>> '{args,user_id}')::uuid END NULLS FIRST,
                      o.k);
        v_res := abprop.apply(v_ops);
        INSERT INTO abprop.answers SELECT 'A', v_steps[i], v_res -> (i - 1) FROM generate_subscripts(v_steps, 1) i;
        COMMIT;
        FOREACH v_step IN ARRAY v_order LOOP
            CONTINUE WHEN v_step = p_skip;
            v_res := abprop.apply(jsonb_build_array(
                abprop.inst('B', (SELECT tmpl FROM abprop.steps WHERE step = v_step))));
            INSERT INTO abprop.answers VALUES ('B', v_step, v_res -> 0);
            COMMIT;
        END LOOP;
    END LOOP;
END
$$;

-- What each world ends with (see abprop.facts), as the owner.
CREATE FUNCTION abprop.collect() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM abprop.facts;
    CREATE TEMP TABLE IF NOT EXISTS w (world text, tenant uuid, tname text);
    DELETE FROM w;
    INSERT INTO w SELECT world, id, name FROM abprop.names WHERE name ~ '^t[0-9]+$';
    -- a reservation is named h<the first step answered with it> (a retry gets the same one)
    INSERT INTO abprop.names
    SELECT a.world, 'h' || a.step, (a.answer #>> '{body,id}')::uuid
      FROM abprop.answers a JOIN abprop.steps s USING (step)
     WHERE s.tmpl ->> 'op' = 'reserve' AND a.answer ->> 'status' = '201'
     ORDER BY a.step
    ON CONFLICT DO NOTHING;

    INSERT INTO abprop.facts
    SELECT 'answers', a.world, a.step || ' ' || abprop.norm(a.world, a.answer) FROM abprop.answers a;

    INSERT INTO abprop.facts
    SELECT 'wallets', w.world, abprop.norm(w.world, jsonb_build_array(x.user_id, x.balance, x.held, x.overage,
                                                        x.lifetime_credited, x.lifetime_debited))
      FROM agentbase.token_wallets x JOIN w ON w.tenant = x.tenant_id;

    INSERT INTO abprop.facts
    SELECT 'ledger', w.world, abprop.norm(w.world, jsonb_build_array(x.wallet_id, x.user_id, x.entry_type, x.amount,
                                                        x.balance_after, x.held_after, x.reason, x.source,
                                                        x.reference_type, x.reference_id, x.idempotency_key))
      FROM agentbase.token_ledger x JOIN w ON w.tenant = x.tenant_id;

    INSERT INTO abprop.facts
    SELECT 'holds', w.world, abprop.norm(w.world, jsonb_build_array(x.id, x.wallet_id, x.user_id, x.agent_id,
                                                        x.status, x.amount, x.estimated_cost, x.provider, x.model,
                                                        x.input_tokens, x.max_output_tokens, x.idempotency_key,
                                                        x.metadata, x.outcome, x.ai_request_id IS NULL,
                                                        x.settled_at IS NULL, x.released_at IS NULL,
                                                        ARRAY(SELECT n.name FROM unnest(x.budget_ids) b
                                                                JOIN abprop.names n ON n.world = w.world AND n.id = b
                                                               ORDER BY 1)))
      FROM agentbase.token_holds x JOIN w ON w.tenant = x.tenant_id;

    INSERT INTO abprop.facts
    SELECT 'quotas', w.world, abprop.norm(w.world, jsonb_build_array(x.user_id, x.tokens_used_today, x.requests_today,
                                                        x.tokens_used_month, x.tokens_reserved))
      FROM agentbase.quotas x JOIN w ON w.tenant = x.tenant_id;

    INSERT INTO abprop.facts
    SELECT 'plan counters', w.world, abprop.norm(w.world, jsonb_build_array(x.tenant_id, x.resource_type, x.period,
                                                        x.limit_value, x.used_value, x.reserved_value))
      FROM agentbase.tenant_quotas x JOIN w ON w.tenant = x.tenant_id;

    INSERT INTO abprop.facts
    SELECT 'budgets', w.world, abprop.norm(w.world, jsonb_build_array(x.id, x.user_id, x.spent_usd, x.reserved_usd,
                                                        x.period_start))
      FROM agentbase.user_budgets x JOIN w ON w.tenant = x.tenant_id;

    INSERT INTO abprop.facts
    SELECT 'budget alerts', w.world, abprop.norm(w.world, jsonb_build_array(x.budget_id, x.threshold, x.period_start,
                                                        x.spent_usd))
      FROM agentbase.budget_alert_events x JOIN w ON w.tenant = x.tenant_id;

    INSERT INTO abprop.facts
    SELECT 'system alerts', w.world, abprop.norm(w.world, jsonb_build_array(x.alert_type, x.severity, x.title,
                                                        x.message, x.resource_type, x.resource_id, x.metadata))
      FROM agentbase.system_alerts x JOIN w ON w.tenant = x.tenant_id;

    INSERT INTO abprop.facts
    SELECT 'ai_requests', w.world, abprop.norm(w.world, jsonb_build_array(x.user_id, x.agent_id, x.provider, x.model,
                                                        x.request_type, x.input_tokens, x.output_tokens, x.cached_tokens,
                                                        x.total_tokens, x.input_cost, x.output_cost, x.total_cost,
                                                        x.latency_ms, x.tokens_per_second, x.status, x.error_code,
                                                        x.reservation_id, x.idempotency_key, x.metadata,
                                                        x.started_at, x.input_per_1m, x.output_per_1m,
                                                        x.cached_input_per_1m))
      FROM agentbase.ai_requests x JOIN w ON w.tenant = x.tenant_id;

    -- rollups summed over the hours (a run may cross one, at different calls in A and B)
    INSERT INTO abprop.facts
    SELECT 'cost rollups', w.world, abprop.norm(w.world, jsonb_build_array(x.user_id, x.agent_id, x.project_id,
                                                        x.provider, x.model, sum(x.request_count), sum(x.success_count),
                                                        sum(x.error_count), sum(x.input_tokens), sum(x.output_tokens),
                                                        sum(x.cached_tokens), sum(x.total_tokens), sum(x.total_cost),
                                                        sum(x.latency_sum_ms), sum(x.latency_count)))
      FROM agentbase.cost_tracking x JOIN w ON w.tenant = x.tenant_id
     WHERE x.period_type = 'hourly'
     GROUP BY w.world, x.user_id, x.agent_id, x.project_id, x.provider, x.model;

    INSERT INTO abprop.facts
    SELECT 'usage metrics', w.world, abprop.norm(w.world, jsonb_build_array(x.user_id, x.agent_id, x.metric_type,
                                                        sum(x.value), sum(x.tokens), sum(x.cost)))
      FROM agentbase.usage_metrics x JOIN w ON w.tenant = x.tenant_id
     GROUP BY w.world, x.user_id, x.agent_id, x.metric_type;

    INSERT INTO abprop.facts
    SELECT 'idempotency keys', w.world, abprop.norm(w.world, jsonb_build_array(x.tenant_id, x.scope, x.key,
                                                        x.request_hash IS NOT NULL, x.status, x.response))
      FROM agentbase.idempotency_keys x JOIN w ON w.tenant = x.tenant_id;
END
$$;

-- Rows of facet f that one world has (as many times) and the other not.
CREATE FUNCTION abprop.differences(p_facet text) RETURNS TABLE (only_in text, item text) LANGUAGE sql STABLE AS $$
    (SELECT 'A', item FROM abprop.facts WHERE facet = p_facet AND world = 'A'
     EXCEPT ALL SELECT 'A', item FROM abprop.facts WHERE facet = p_facet AND world = 'B')
    UNION ALL
    (SELECT 'B', item FROM abprop.facts WHERE facet = p_facet AND world = 'B'
     EXCEPT ALL SELECT 'B', item FROM abprop.facts WHERE facet = p_facet AND world = 'A')
$$;
